//! Supervised services from plain async functions.
//!
//! Put [`#[supervised]`](supervised) on a long-running function anywhere in
//! a program and call [`run_all`] in `main`: every declared service starts
//! under one supervisor, is restarted with exponential backoff when it panics
//! or returns `Err`, shows in a live status table, and is shut down
//! gracefully on Ctrl-C/SIGTERM: told through its [`Context`], given time to
//! clean up, then aborted if stuck. `main` returning [`run_all`]'s result
//! exits 0 after a clean stop and 1 otherwise, which is what systemd and
//! Kubernetes expect. Tasks that are not known in advance join the same
//! supervision at run time (see [the imperative API](#the-imperative-api)).
//!
//! A complete program, which runs until Ctrl-C or SIGTERM (so this example is
//! compiled but not run; [the attribute's documentation](supervised) starts
//! and stops services in one that runs):
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
//! For more control than [`run_all`] gives (a timeout, a subset of the
//! services, a trigger of your own, the handle), use a [`Builder`]; the
//! [`Supervisor`] it starts reads the [snapshot](Supervisor::snapshot) and
//! displays as the status table.
//!
//! # Building an application
//!
//! Services share the program's state through [`State<T>`] parameters filled
//! from [`Builder::state`], wait for each other with `after = [...]`, and say
//! when they are ready with `ready = started | manual | completed`
//! ([`Context::ready`], [`ServiceSnapshot::ready`], [`Supervisor::is_ready`]).
//! All of it is checked before anything starts: a missing state type, an
//! unknown name in `after` or a cycle is an [`Error`] and nothing runs. At
//! shutdown, a service others depend on is told to stop only once they have
//! ended, all within the one timeout.
//!
//! ```
//! use std::sync::Arc;
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use supervisor::{supervised, Builder, Context, State, Status};
//!
//! #[derive(Clone, Default)]
//! struct Db(Arc<AtomicU32>); // a connection pool, say
//!
//! /// A one-shot the others need: ready once it returned `Ok`.
//! #[supervised(name = "migrate", ready = completed)]
//! async fn migrate(State(db): State<Db>) {
//!     db.0.store(1, Ordering::SeqCst); // schema version 1
//! }
//!
//! /// Starts after `migrate`; ready once it says so.
//! #[supervised(name = "api", after = ["migrate"], ready = manual)]
//! async fn api(ctx: Context, State(db): State<Db>) {
//!     assert_eq!(db.0.load(Ordering::SeqCst), 1, "the migration ran first");
//!     ctx.ready();
//!     ctx.cancelled().await;
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), supervisor::Error> {
//! let sup = Builder::new().only(["api"]).state(Db::default()).start()?; // pulls in `migrate`
//! while !sup.is_ready() {
//!     tokio::task::yield_now().await;
//! }
//! assert_eq!(sup.snapshot().len(), 2);
//! sup.shutdown(std::time::Duration::from_secs(1)).await?;
//! assert!(sup.snapshot().iter().all(|row| row.status != Status::Running));
//! # Ok(()) }
//! ```
//!
//! A service reaches its supervisor through [`Context::supervisor`], and a
//! library makes an empty one with [`Supervisor::new`].
//!
//! # Shutdown
//!
//! A shutdown begins with a signal (SIGINT/Ctrl-C or SIGTERM, under
//! [`run_all`], [`Builder::run`] and [`Supervisor::run`]), when the
//! supervisor's [token](Supervisor::cancellation_token) or the one given to
//! [`Builder::cancellation_token`] is cancelled, or with a call to
//! [`Supervisor::shutdown`]. `run` also shuts down once no service is active
//! any more. Then:
//!
//! 1. Every [`Context`] is cancelled at the same moment. A service that takes
//!    one is left to clean up and return; an async service without one is
//!    dropped at once; a service waiting out a backoff delay does not start
//!    again. Nothing is restarted from then on. All of these end
//!    [`Status::Stopped`], which counts as clean; a service that fails now
//!    (`Err` or a panic) ends `Failed`.
//! 2. The timeout ([`Builder::shutdown_timeout`], by default
//!    [`DEFAULT_SHUTDOWN_TIMEOUT`], 10 s; or the argument of
//!    [`Supervisor::shutdown`]) bounds that cleanup. What still runs when it
//!    elapses is aborted and reported [`Status::Aborted`]. An OS thread
//!    cannot be killed: a blocking service still working is detached, its
//!    result discarded, and neither the shutdown nor the process exit waits
//!    for it. The shutdown returns within the timeout plus a small constant.
//! 3. A second signal during the shutdown aborts everything at once;
//!    [`ServiceFailure::forced`] tells such an abort from one by the
//!    timeout.
//!
//! The result is `Ok(())` when every service completed or stopped cleanly,
//! and [`Error::Services`] naming each one that failed or was aborted by the
//! timeout or a second signal (an abort the program asked for, through
//! [`Supervisor::abort`] or a replacement, is not an error). Returned from
//! `main`, that is exit code 0 or 1.
//!
//! ```
//! use std::time::Duration;
//! use supervisor::{supervised, Builder, Context, Error, Status};
//!
//! #[supervised(name = "polite")]
//! async fn polite(ctx: Context) {
//!     ctx.cancelled().await;
//!     tokio::time::sleep(Duration::from_secs(1)).await; // flush, close, say goodbye
//! }
//!
//! #[supervised(name = "stubborn")]
//! async fn stubborn(_ctx: Context) {
//!     std::future::pending::<()>().await // never looks at its Context
//! }
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let sup = Builder::new().only(["polite", "stubborn"]).start().unwrap();
//! tokio::time::sleep(Duration::from_millis(100)).await;
//!
//! let began = tokio::time::Instant::now();
//! let result = sup.shutdown(Duration::from_secs(5)).await;
//! assert!(began.elapsed() >= Duration::from_secs(5), "the timeout ran out");
//!
//! let Err(Error::Services { failures }) = result else { panic!("{result:?}") };
//! assert_eq!(failures.len(), 1, "only `stubborn` is an error");
//! assert_eq!(&*failures[0].name, "stubborn");
//! assert_eq!(failures[0].status, Status::Aborted);
//! assert!(!failures[0].forced, "aborted by the timeout, not a second signal");
//! # }
//! ```
//!
//! # The imperative API
//!
//! Work that is not known when the program is written runs under the same
//! supervisor, in the same snapshot, metrics and shutdown:
//!
//! - [`Supervisor::spawn_fn`] starts a task from a name, a [`RestartPolicy`]
//!   (the attribute's `never` and `backoff`), and a function called for every
//!   run with that run's [`Context`]. Spawning a name that is running
//!   replaces it. The [`TaskHandle`] it returns aborts that instance only.
//! - [`Supervisor::spawn`] does the same from a [`TaskDescriptor`], a value
//!   holding those three.
//! - [`Supervisor::spawn_blocking`] runs a CPU-bound closure on the
//!   supervisor's own worker threads, at most [`MAX_BLOCKING`] at once (the
//!   others wait, `Queued`), with its wall and CPU time recorded.
//! - [`Supervisor::spawn_oneshot`] runs an async job that receives a
//!   [`Context`] and returns a value.
//! - Both jobs give a [`BlockingHandle`], to [`join`](BlockingHandle::join)
//!   for the value or [`abort`](BlockingHandle::abort); a panic becomes
//!   [`BlockingError::Panicked`]. Library code can hand blocking work to the
//!   application's supervisor through `&dyn` [`BlockingSpawner`].
//! - [`Supervisor::abort`] stops whatever runs under a name: it ends
//!   `Aborted` and is not restarted.
//!
//! Use `spawn_fn` when the function's type is known: each run's future lives
//! inside the task itself, with no box of its own (none per restart).
//!
//! ```
//! use std::time::Duration;
//! use supervisor::{Builder, RestartPolicy};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), supervisor::Error> {
//! let sup = Builder::new().only(Vec::<String>::new()).start()?;
//! for port in [8080, 8081] {
//!     sup.spawn_fn(format!("listener-{port}"), RestartPolicy::Never, move |ctx| async move {
//!         // ... accept on `port` until told to stop ...
//!         let _ = port;
//!         ctx.cancelled().await;
//!         Ok::<(), std::io::Error>(())
//!     })?;
//! }
//! assert_eq!(sup.active_count(), 2);
//! sup.shutdown(Duration::from_secs(1)).await?;
//! # Ok(()) }
//! ```
//!
//! A [`TaskDescriptor`] is for a task that must be stored, cloned or built
//! where the function's type is not known (a `Vec<TaskDescriptor>` of
//! different closures, say), at the price of one boxed future per run. The
//! example below spawns one, next to the other calls of the list:
//!
//! ```
//! use std::sync::atomic::{AtomicU32, Ordering};
//! use std::sync::Arc;
//! use std::time::Duration;
//! use supervisor::{Builder, RestartPolicy, Status, TaskDescriptor};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sup = Builder::new().start()?;
//!
//! // Fails twice, then holds: the factory is called once per run.
//! let runs = Arc::new(AtomicU32::new(0));
//! let counter = Arc::clone(&runs);
//! let policy = RestartPolicy::Backoff { max: 3, base_delay: Duration::from_millis(100) };
//! sup.spawn(TaskDescriptor::new("connect", policy, move |ctx| {
//!     let run = counter.fetch_add(1, Ordering::SeqCst);
//!     async move {
//!         if run < 2 {
//!             return Err(format!("connection refused (run {run})"));
//!         }
//!         ctx.cancelled().await;
//!         Ok(())
//!     }
//! }))?;
//!
//! // CPU-bound work on the supervisor's threads, with a typed result.
//! let factorial = sup.spawn_blocking("factorial", || (1..=10u64).product::<u64>());
//! assert_eq!(factorial.join().await?, 3_628_800);
//!
//! // An async job with a Context and a result.
//! let greeting = sup.spawn_oneshot("greet", |ctx| async move { format!("hello from {}", ctx.name()) });
//! assert_eq!(greeting.join().await?, "hello from greet");
//!
//! tokio::time::sleep(Duration::from_secs(1)).await; // past both backoff delays
//! assert_eq!(runs.load(Ordering::SeqCst), 3);
//! assert!(sup.abort("connect")); // Aborted, not restarted, not an error
//!
//! let row = sup.snapshot().into_iter().find(|row| &*row.name == "connect").unwrap();
//! assert_eq!((row.status, row.restarts), (Status::Aborted, 2));
//! assert_eq!(row.last_failure.as_deref(), Some("connection refused (run 1)"));
//! sup.shutdown(Duration::from_secs(1)).await?;
//! # Ok(()) }
//! ```
//!
//! # Testing
//!
//! A service function stays an ordinary function, so a unit test can call
//! it directly. [`Context::detached`] gives it a context tied to no
//! supervisor, cancelled when the token is:
//!
//! ```
//! use supervisor::{supervised, CancellationToken, Context};
//!
//! #[supervised(name = "drain")]
//! async fn drain(ctx: Context) -> std::io::Result<()> {
//!     ctx.cancelled().await;
//!     Ok(()) // flushed and closed
//! }
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> std::io::Result<()> {
//! let stop = CancellationToken::new();
//! let run = tokio::spawn(drain(Context::detached("drain", stop.clone())));
//! stop.cancel();
//! run.await.unwrap()?;
//! # Ok(()) }
//! ```
//!
//! Every delay and timeout of the supervisor (backoff, shutdown) runs on
//! tokio's clock, so a test on the paused clock (`#[tokio::test(start_paused
//! = true)]`, tokio's `test-util` feature) goes through minutes of backoff
//! in no real time. [`Builder::only`] starts just the services a test is
//! about: all tests of one test binary share its registry.
//!
//! ```
//! use std::time::Duration;
//! use supervisor::{supervised, Builder, Status};
//!
//! #[supervised(name = "flaky", restart = backoff(3, "10s"))]
//! async fn flaky() -> Result<(), &'static str> {
//!     Err("no database")
//! }
//!
//! #[supervised(name = "unrelated")]
//! async fn unrelated() {}
//!
//! // In a test: #[tokio::test(start_paused = true)]
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let began = tokio::time::Instant::now();
//! let sup = Builder::new().only(["flaky"]).start().unwrap();
//! sup.wait().await; // 10 s + 20 s + 40 s of backoff, at once
//! assert!(began.elapsed() >= Duration::from_secs(70));
//!
//! let rows = sup.snapshot();
//! assert_eq!(rows.len(), 1, "`unrelated` was not started");
//! assert_eq!(rows[0].restarts, 3);
//! assert_eq!(rows[0].status, Status::Failed { reason: "no database".into() });
//! # }
//! ```
//!
//! A paused clock jumps to the next timer whenever the runtime is idle, but
//! not while work runs on tokio's blocking pool. Blocking work runs on the
//! supervisor's own threads instead, so the supervisor holds the clock for
//! it: while one of its threads works, it keeps a parked task on tokio's
//! blocking pool. A shutdown timeout, or a test's own `sleep`, therefore
//! waits for running blocking work as it would on the real clock. The flip
//! side: blocking work that never returns holds the paused clock for good,
//! so test such a service on the real clock.
//!
//! ```
//! use std::time::Duration;
//! use supervisor::{Builder, Status};
//!
//! # #[tokio::main(flavor = "current_thread", start_paused = true)]
//! # async fn main() {
//! let sup = Builder::new().start().unwrap();
//! let job = sup.spawn_blocking("compact", || {
//!     std::thread::sleep(Duration::from_millis(50)); // real time, on its thread
//!     7
//! });
//! while sup.snapshot()[0].status != Status::Running {
//!     tokio::task::yield_now().await; // until it has a thread
//! }
//!
//! // The 1 s timeout does not run out while the job works.
//! sup.shutdown(Duration::from_secs(1)).await.unwrap();
//! assert_eq!(job.join().await, Ok(7));
//! assert_eq!(sup.snapshot()[0].status, Status::Stopped, "finished during the shutdown");
//! # }
//! ```
//!
//! # Traces and metrics
//!
//! Every run of a service is inside a `tracing` span `service` with the fields
//! `name` and `attempt`; start, completion, failure (with the reason), restart
//! (with the attempt and the delay) and abort are logged at info, warn or
//! error; a job's start and success (`spawn_blocking`, `spawn_oneshot`) at
//! debug, since jobs can run by the million. Metrics go through the [`metrics`](https://docs.rs/metrics) facade,
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
//! # Production
//!
//! Three Cargo features connect a program to what runs it:
//!
//! - `systemd` (on by default): [`Supervisor::run`] tells systemd when the
//!   program is ready, how its services are doing, that it is stopping, and
//!   feeds the watchdog from its own loop; nothing is sent outside systemd
//!   (no `NOTIFY_SOCKET`). See [`Builder::systemd`].
//! - `http`: `/livez`, `/readyz` and `/status` for load balancers,
//!   Kubernetes and operators, as a router of your own (`http::router`)
//!   or served by the supervisor (`Builder::serve_health`).
//! - `serde`: `Serialize` for [`ServiceSnapshot`] and [`Status`].
//!
//! The README's "Deploying" section explains a systemd unit and a Kubernetes
//! manifest (`examples/deploy/`) for the `production` example, and what each
//! does with exit codes 0 and 1.
//!
//! # Limits
//!
//! - `panic = "abort"` turns panic capture off: a panic ends the process.
//! - An async service that blocks its worker thread (a long computation,
//!   `std::thread::sleep`, blocking I/O) delays everything on that thread,
//!   the shutdown's own timer included, so the shutdown can overrun its
//!   timeout. Put such work in a `blocking` service or
//!   [`Supervisor::spawn_blocking`].
//! - A service that awaits its own supervisor's [`Supervisor::shutdown`]
//!   waits for itself, until the timeout aborts it. Cancel
//!   [`Supervisor::cancellation_token`] and return instead.
//! - A library crate that nothing references is not linked, so its services
//!   are not registered: add `use my_crate as _;` to the binary.
//! - Naming tasks for tokio-console needs `RUSTFLAGS="--cfg tokio_unstable"`.
//! - A blocking thread cannot be killed: an aborted one is detached, and
//!   runs until its function returns or the process exits.
//!
//! # Example programs
//!
//! Runnable programs in the repository's `examples/src/bin/`; start one with
//! `cargo run -p examples --bin NAME` (add `-- --help` for its options):
//!
//! | `NAME` | shows |
//! | --- | --- |
//! | `demo` | a ticker, a flaky service recovering under backoff, a one-shot migration and a blocking worker, with the status table every second (`-- --for 5s` stops it by itself) |
//! | `stubborn` | services that ignore the request to stop: the timeout, the abort, exit code 1 |
//! | `metrics` | the metrics served to Prometheus at `http://127.0.0.1:9000/metrics` |
//! | `jobs` | tasks spawned at run time, a replacement by name, CPU-bound jobs joined |
//! | `production` | health endpoints, systemd notifications and the settings `examples/deploy/` is written for |
#![deny(missing_docs)]
#![cfg_attr(docsrs, feature(doc_cfg))]

mod builder;
mod error;
mod name;
mod panic;
mod plan;
mod runtime;
mod signal;
mod spec;
mod state;
mod status;
mod supervisor;
#[cfg(all(unix, feature = "systemd"))]
mod systemd;
mod task;

#[cfg(feature = "http")]
#[cfg_attr(docsrs, doc(cfg(feature = "http")))]
pub mod http;

/// Without the `systemd` feature (or off unix): nothing to tell, nobody to
/// tell it to.
#[cfg(not(all(unix, feature = "systemd")))]
mod systemd {
    /// A future that never completes, for `run()` to poll.
    pub(crate) async fn notifier(
        _shared: &crate::runtime::shared::Shared,
    ) -> std::convert::Infallible {
        std::future::pending().await
    }
}

pub use crate::builder::{Builder, DEFAULT_SHUTDOWN_TIMEOUT};
pub use crate::error::{BlockingError, Duplicate, Error, ServiceFailure};
pub use crate::runtime::{BlockingHandle, Context, MAX_BLOCKING};
pub use crate::spec::{
    registry, BoxError, BoxFuture, Factory, Readiness, RestartPolicy, ServiceSpec, HEALTHY_AFTER,
    MAX_BACKOFF_DELAY,
};
pub use crate::state::State;
pub use crate::status::{Event, ServiceSnapshot, Status};
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
/// | `after = ["a", "b"]` | each start and restart waits (`Queued`) until every named service is ready; at shutdown this one is stopped before them | starts at once |
/// | `ready = started` / `manual` / `completed` | ready as soon as a run starts; when the run calls [`Context::ready`]; once it returned `Ok` | `started` |
/// | `critical` | when it ends before shutdown (a final failure, or `Ok`), the whole supervisor shuts down | off |
/// | `every = "DUR"` | periodic: called again DUR after each `Ok` (a failure follows `restart`); not with `ready = manual` | called once |
///
/// MAX is an integer literal from `0` to `u32::MAX` (`0` never restarts).
/// BASE is a duration string: `"0s"`, `"250ms"`, `"2s"`, `"1m 30s"` (with
/// `"0s"` a failed run starts again at once: see
/// [`RestartPolicy::Backoff`]). A failure is a panic or an `Err`; returning
/// `Ok` (or `()`) is never restarted. [`RestartPolicy`] is the same choice
/// for tasks spawned at run time.
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
/// Besides at most one [`Context`], a function takes any number of
/// [`State<T>`] parameters, in any order, filled from
/// [`Builder::state`] (`fn stats(ctx: Context, State(db): State<Db>)`).
/// Parameters may use any pattern (`_ctx: Context`,
/// `ctx: supervisor::Context`, `State(db): State<Db>`). The future of an `async fn` must be `Send`
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
/// error: unknown argument `nmae`; `#[supervised]` accepts `name = "..."`, `restart = never`, `restart = backoff(MAX, "BASE")`, `blocking`, `after = ["..."]`, `ready = started`, `ready = manual`, `ready = completed`, `critical` and `every = "DUR"`
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

#[doc(hidden)]
#[path = "private.rs"]
pub mod __private;

/// The README's Rust blocks, compiled and run as doctests so that they cannot
/// drift from the API. Exists only while doctests are collected.
#[doc = include_str!("../../README.md")]
#[cfg(doctest)]
pub struct ReadmeDoctests;
