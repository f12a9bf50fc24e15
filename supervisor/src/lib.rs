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

mod builder;
mod error;
mod name;
mod panic;
mod runtime;
mod signal;
mod spec;
mod status;
mod supervisor;
mod task;

pub use crate::builder::{Builder, DEFAULT_SHUTDOWN_TIMEOUT};
pub use crate::error::{BlockingError, Duplicate, Error, ServiceFailure};
pub use crate::runtime::{BlockingHandle, Context, MAX_BLOCKING};
pub use crate::spec::{
    registry, BoxError, BoxFuture, Factory, RestartPolicy, ServiceSpec, HEALTHY_AFTER,
    MAX_BACKOFF_DELAY,
};
pub use crate::status::{ServiceSnapshot, Status};
pub use crate::supervisor::Supervisor;
pub use crate::task::{BlockingSpawner, TaskDescriptor, TaskHandle};
/// Declares a supervised service.
///
/// Put `#[supervised]` on a function anywhere in a binary, or in a library the
/// binary links, and the function is registered at link time as one of that
/// binary's services: [`run_all`] and [`Builder`] start it, restart it when
/// it fails as its `restart` argument says, list it in
/// [`Supervisor::snapshot`], and stop it at shutdown. The function itself is
/// left as written, so other code (a unit test, say) can still call it.
///
/// # Examples
///
/// Three services, started together, given a moment to work, then stopped:
///
/// ```
/// use std::time::Duration;
/// use supervisor::{supervised, Builder, Context, Status};
///
/// // Cooperative: returns as soon as it is told to stop.
/// #[supervised(name = "ticker", restart = backoff(3, "1s"))]
/// async fn ticker(ctx: Context) -> std::io::Result<()> {
///     loop {
///         tokio::select! {
///             () = ctx.cancelled() => return Ok(()),
///             () = tokio::time::sleep(Duration::from_millis(10)) => tracing::debug!("tick"),
///         }
///     }
/// }
///
/// // name = "migrate", restart = never: runs once, then counts as completed.
/// #[supervised]
/// async fn migrate() {}
///
/// // A plain `fn` on an OS thread of its own, checking its `Context` between
/// // slices of work.
/// #[supervised(name = "crunch", blocking)]
/// fn crunch(ctx: Context) {
///     while !ctx.is_cancelled() {
///         std::thread::sleep(Duration::from_millis(5));
///     }
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), supervisor::Error> {
/// let sup = Builder::new().only(["ticker", "migrate", "crunch"]).start()?;
/// tokio::time::sleep(Duration::from_millis(50)).await;
/// println!("{sup}"); // the status table
///
/// // `Ok`: every service returned once told to stop, or had completed.
/// sup.shutdown(Duration::from_secs(5)).await?;
/// let status = |name: &str| {
///     sup.snapshot().into_iter().find(|row| &*row.name == name).map(|row| row.status)
/// };
/// assert_eq!(status("migrate"), Some(Status::Completed));
/// assert_eq!(status("ticker"), Some(Status::Stopped));
/// assert_eq!(status("crunch"), Some(Status::Stopped));
/// # Ok(()) }
/// ```
///
/// # Arguments
///
/// All optional, in any order, each at most once:
///
/// | argument | what it does | when left out |
/// | --- | --- | --- |
/// | `name = "..."` | the service's name, unique in the binary: not empty, no whitespace, no control characters | the function's name |
/// | `restart = never` | one run; a failure is final (`Failed`) | this is the default |
/// | `restart = backoff(MAX, "BASE")` | after a failure, run again after BASE, then 2·BASE, 4·BASE … (each delay at most 60 s), at most MAX times in a row; a run that stayed up for 60 s starts a fresh count | |
/// | `blocking` | the function is a plain `fn`, run on an OS thread of its own named after the service | the function is an `async fn` |
///
/// MAX is an integer literal from `0` to `u32::MAX` (`0` never restarts).
/// BASE is a duration string: `"0s"`, `"250ms"`, `"2s"`, `"1m 30s"`. A
/// failure is a panic or an `Err`; returning `Ok` (or `()`) is never
/// restarted. [`RestartPolicy`] is the same choice for tasks spawned at run
/// time.
///
/// # Function forms
///
/// | form | at shutdown |
/// | --- | --- |
/// | `async fn NAME(ctx: Context)` | told through [`Context`], then given until the timeout to return |
/// | `async fn NAME()` | dropped at once |
/// | `#[supervised(blocking)] fn NAME(ctx: Context)` | told through [`Context::is_cancelled`], then given until the timeout |
/// | `#[supervised(blocking)] fn NAME()` | cannot be told: runs on until the timeout, then reported `Aborted` |
///
/// The parameter may use any pattern (`_ctx: Context`,
/// `ctx: supervisor::Context`). The future of an `async fn` must be `Send`
/// and `'static`, since it runs as a tokio task. Generic functions, methods
/// (`self`), `const`, `unsafe` and `extern` functions are refused.
///
/// # Return types
///
/// Either nothing (`()`) or `Result<(), E>` where `E` converts into
/// [`BoxError`], so `std::io::Result<()>`, `anyhow::Result<()>`,
/// `Result<(), String>` and `Result<(), &'static str>` all work. The type is
/// checked through a trait, so aliases are fine. The text of an `Err` (with
/// its chain of sources) becomes the reason in `Status::Failed`.
///
/// ```
/// use supervisor::supervised;
///
/// #[supervised(name = "load-config")]
/// async fn load_config() -> Result<(), String> {
///     Err("config.toml: no such file".to_string())
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let sup = supervisor::Builder::new().only(["load-config"]).start().unwrap();
/// sup.wait().await; // restart = never: the first failure is final
/// assert_eq!(
///     sup.snapshot()[0].status,
///     supervisor::Status::Failed { reason: "config.toml: no such file".into() },
/// );
/// // The shutdown reports it, so a `main` returning this exits with 1.
/// let err = sup.shutdown(std::time::Duration::from_secs(1)).await.unwrap_err();
/// assert!(err.to_string().contains("`load-config` failed"), "{err}");
/// # }
/// ```
///
/// # Compile errors
///
/// Every mistake is reported at the token that causes it, and all the
/// mistakes of one attribute in the same compile. Each message says what is
/// wrong and what would be accepted:
///
/// ```text
/// error: unknown argument `nmae`; `#[supervised]` accepts `name = "..."`, `restart = never`, `restart = backoff(MAX, "BASE")` and `blocking`
///  --> src/main.rs:3:14
///   |
/// 3 | #[supervised(nmae = "ticker")]
///   |              ^^^^
/// ```
///
/// A wrong return type gives one line, not a page of trait bounds:
///
/// ```text
/// error[E0277]: `#[supervised]` functions must return `()` or `Result<(), E>`, not `i32`
///  --> src/main.rs:4:22
///   |
/// 4 | async fn ticker() -> i32 {
///   |                      ^^^ this return type is not accepted
/// ```
///
/// Each of these fails to compile:
///
/// ```compile_fail
/// #[supervisor::supervised] // a plain `fn` needs `blocking`
/// fn migrate() {}
/// ```
///
/// ```compile_fail
/// #[supervisor::supervised(name = "my ticker")] // whitespace in the name
/// async fn ticker() {}
/// ```
///
/// ```compile_fail,E0277
/// #[supervisor::supervised] // neither `()` nor `Result<(), E>`
/// async fn ticker() -> i32 {
///     0
/// }
/// ```
///
/// # Registration
///
/// Services are collected when the binary is linked, and two services under
/// one name are an [`Error::DuplicateNames`] from [`Builder::start`] (with
/// both source locations), before anything starts. A library crate that
/// nothing in the binary refers to is not linked at all, so its services are
/// missing: refer to it with `use my_services as _;`.
pub use supervisor_macros::supervised;
pub use tokio_util::sync::CancellationToken;

/// Starts every service declared with `#[supervised]` in this binary (in
/// order of name), waits until Ctrl-C/SIGINT or SIGTERM arrives or no service
/// is active any more, then shuts down gracefully with the default timeout
/// (10 s). A second signal during the shutdown aborts at once.
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

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The README's Rust blocks, compiled and run as doctests so that they cannot
/// drift from the API. Exists only while doctests are collected.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
