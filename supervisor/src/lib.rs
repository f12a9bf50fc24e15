//! Supervised services from plain async functions.
//!
//! Put `#[supervised]` on a long-running function anywhere in a program and
//! call [`run_all`] in `main`: every declared service starts under one
//! supervisor, is restarted with exponential backoff when it panics or returns
//! `Err`, shows in a live status table, and is shut down gracefully on
//! Ctrl-C/SIGTERM: told through its [`Context`], given time to clean up, then
//! aborted if stuck. `main` returning [`run_all`]'s result exits 0 after a
//! clean stop and 1 otherwise.
//!
//! ```no_run
//! use std::time::Duration;
//! use supervisor::{supervised, Context};
//!
//! #[supervised(name = "ticker", restart = backoff(3, "1s"))]
//! async fn ticker(ctx: Context) -> Result<(), std::io::Error> {
//!     loop {
//!         tokio::select! {
//!             () = ctx.cancelled() => return Ok(()),
//!             () = tokio::time::sleep(Duration::from_secs(1)) => tracing::info!("tick"),
//!         }
//!     }
//! }
//!
//! #[supervised] // name = "migrate", restart = never
//! async fn migrate() { /* runs once */ }
//!
//! #[supervised(name = "crunch", blocking)] // a plain fn on its own OS thread
//! fn crunch(ctx: Context) {
//!     while !ctx.is_cancelled() { /* work */ }
//! }
//!
//! #[tokio::main]
//! async fn main() -> Result<(), supervisor::Error> {
//!     supervisor::run_all().await
//! }
//! ```
//!
//! # Traces and metrics
//!
//! Every run of a service is inside a `tracing` span `service` with the fields
//! `name` and `attempt`; start, completion, failure (with the reason), restart
//! (with the attempt and the delay) and abort are logged at info, warn or
//! error. Metrics go through the [`metrics`](https://docs.rs/metrics) facade,
//! to whatever recorder the program installs:
//!
//! | metric | kind | label | meaning |
//! | --- | --- | --- | --- |
//! | `supervisor.failures` | counter | `service` | +1 per panic or `Err` |
//! | `supervisor.restarts` | counter | `service` | +1 per restart actually started |
//! | `supervisor.active` | gauge | | services Queued, Running or Restarting |
//! | `supervisor.task.wall_time_ms` | histogram | `service` | one sample per run of blocking work |
//! | `supervisor.task.cpu_time_ms` | histogram | `service` | its CPU time |
//!
//! ```
//! use std::time::Duration;
//! use metrics_util::debugging::{DebugValue, DebuggingRecorder};
//! use supervisor::{RestartPolicy, TaskDescriptor};
//!
//! let recorder = DebuggingRecorder::new();
//! let snapshotter = recorder.snapshotter();
//! // A recorder for this thread only; the runtime below runs on it too.
//! metrics::with_local_recorder(&recorder, || {
//!     let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
//!     runtime.block_on(async {
//!         let sup = supervisor::Builder::new().only(Vec::<String>::new()).start().unwrap();
//!         let policy = RestartPolicy::Backoff { max: 1, base_delay: Duration::ZERO };
//!         sup.spawn(TaskDescriptor::new("flaky", policy, |_ctx| async {
//!             Err::<(), _>("refused")
//!         }))
//!         .unwrap();
//!         sup.wait().await; // fails, restarts once, fails again: Failed
//!     });
//! });
//!
//! let counter = |name: &str| {
//!     snapshotter.snapshot().into_vec().into_iter().find_map(|(key, _, _, value)| {
//!         match value {
//!             DebugValue::Counter(n) if key.key().name() == name => Some(n),
//!             _ => None,
//!         }
//!     })
//! };
//! assert_eq!(counter("supervisor.failures"), Some(2));
//! assert_eq!(counter("supervisor.restarts"), Some(1));
//! ```
//!
//! # Limits
//!
//! - `panic = "abort"` turns panic capture off.
//! - An async service that blocks its worker thread delays everything on that
//!   thread, shutdown included: use `blocking` for such work.
//! - A library crate that nothing references is not linked, so its services
//!   are not registered: add `use my_crate as _;` to the binary.
#![deny(missing_docs)]

mod blocking;
mod builder;
mod context;
mod error;
mod jobs;
mod panic;
mod pool;
mod service;
mod signal;
mod spec;
mod status;
mod supervisor;
mod table;

pub use crate::builder::{Builder, DEFAULT_SHUTDOWN_TIMEOUT};
pub use crate::context::Context;
pub use crate::error::{BlockingError, Duplicate, Error, ServiceFailure};
pub use crate::jobs::{BlockingHandle, MAX_BLOCKING};
pub use crate::spec::{
    registry, BoxError, BoxFuture, Factory, RestartPolicy, ServiceSpec, HEALTHY_AFTER,
    MAX_BACKOFF_DELAY,
};
pub use crate::status::{ServiceSnapshot, Status};
pub use crate::supervisor::{BlockingSpawner, Supervisor, TaskDescriptor, TaskHandle};
pub use supervisor_macros::supervised;
pub use tokio_util::sync::CancellationToken;

/// Starts every service declared with `#[supervised]` in this binary (in
/// order of name), waits until Ctrl-C/SIGINT or SIGTERM arrives or no service
/// is active any more, then shuts down gracefully with the default timeout
/// (10 s). A second signal during the shutdown aborts at once.
///
/// The SIGINT/SIGTERM handlers are installed before the first service starts
/// (see [`Builder::run`]): a SIGTERM that arrives once any service runs always
/// gives the graceful shutdown, and none is lost while waiting.
///
/// Returns `Ok(())` when every service completed or stopped cleanly, and an
/// [`Error`] naming each service that failed, was aborted, or was declared
/// twice. Returned from `main`, that is exit code 0 or 1.
///
/// # Examples
///
/// ```no_run
/// #[tokio::main]
/// async fn main() -> Result<(), supervisor::Error> {
///     supervisor::run_all().await
/// }
/// ```
pub async fn run_all() -> Result<(), Error> {
    Builder::new().run().await
}

/// Spawns a supervisor task, named after its service for tokio-console when
/// built with `--cfg tokio_unstable`.
pub(crate) fn spawn_named<F>(
    runtime: &tokio::runtime::Handle,
    name: &str,
    future: F,
) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[cfg(tokio_unstable)]
    {
        tokio::task::Builder::new()
            .name(name)
            .spawn_on(future, runtime)
            .expect("spawning a task on a live runtime does not fail")
    }
    #[cfg(not(tokio_unstable))]
    {
        let _ = name;
        runtime.spawn(future)
    }
}

/// What the code generated by `#[supervised]` names. Not a public API.
#[doc(hidden)]
pub mod __private {
    pub use crate::spec::{box_future, Entry, IntoServiceResult, ServiceSpec};
    pub use crate::{BoxError, BoxFuture, Context};
    pub use inventory;
}
