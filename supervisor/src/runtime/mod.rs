//! The machinery under the public handle.
//!
//! Layers, each importing only from the ones listed before it:
//!
//! | module | owns |
//! | --- | --- |
//! | `row` | one name's row: plain data, and how it reads |
//! | `table` | the row arena, the name index, and which finished rows to keep |
//! | `shutdown` | the shutdown's state: begun, deadline, driver, result |
//! | `shared` | what one supervisor's parts share: configuration, shutdown state, table, active count, job slots |
//! | `lease` | **the life of an instance**: registration, every row change, the active count, aborts |
//! | `deps` | readiness and dependencies among declared services: waiting to start, stopping in order |
//! | `stop` | the shutdown sequence, and the runtime a supervisor spawns on |
//! | `context` | [`Context`], what a run sees of its supervisor |
//! | `outcome` | how a run ended, and the text of a failure |
//! | `pool`, `blocking` | blocking work on the supervisor's own threads |
//! | `service` | a service instance: a driver of its lease, run after run |
//! | `jobs` | one-off jobs and [`BlockingHandle`]: the other driver |
//!
//! The public handle ([`Supervisor`](crate::Supervisor)), the task types and
//! the builder sit above all of this.

pub(crate) mod blocking;
pub(crate) mod context;
pub(crate) mod deps;
pub(crate) mod jobs;
pub(crate) mod lease;
pub(crate) mod outcome;
pub(crate) mod pool;
pub(crate) mod row;
pub(crate) mod service;
pub(crate) mod shared;
pub(crate) mod shutdown;
pub(crate) mod stop;
pub(crate) mod table;

pub use self::context::Context;
pub use self::jobs::BlockingHandle;
pub use self::shared::MAX_BLOCKING;
