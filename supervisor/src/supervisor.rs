//! The public handle of a running supervisor.

use std::fmt;
use std::future::Future;
use std::pin::pin;
use std::sync::Arc;
use std::time::Duration;

use tokio_util::sync::CancellationToken;

use crate::builder::{Builder, DEFAULT_SHUTDOWN_TIMEOUT};
use crate::error::Error;
use crate::name::check_name;
use crate::runtime::context::Context;
use crate::runtime::deps;
use crate::runtime::jobs::{self, BlockingHandle};
use crate::runtime::lease::{self, OnName};
use crate::runtime::service::{self, Body, FnBody, Work};
use crate::runtime::shared::{Config, Shared};
use crate::runtime::stop;
use crate::signal::Signals;
use crate::spec::{BoxError, RestartPolicy};
use crate::status::{Event, ServiceSnapshot};
use crate::systemd;
use crate::task::{BlockingSpawner, TaskDescriptor, TaskHandle};

/// A running supervisor: the handle to its services' status and to its
/// shutdown.
///
/// Cheap to clone (an `Arc`), `Send` and `Sync`. Dropping every handle does
/// not stop the services: they run until shutdown or until the runtime ends.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use supervisor::{supervised, Builder, Context, Status};
///
/// #[supervised(name = "echo")]
/// async fn echo(ctx: Context) {
///     ctx.cancelled().await;
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), supervisor::Error> {
/// let sup = Builder::new().only(["echo"]).start()?;
/// assert_eq!(sup.active_count(), 1);
/// println!("{sup}"); // the status table
///
/// sup.shutdown(Duration::from_secs(5)).await?;
/// assert_eq!(sup.snapshot()[0].status, Status::Stopped);
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct Supervisor {
    pub(crate) shared: Arc<Shared>,
}

impl Supervisor {
    /// A [`Builder`], to configure and start a supervisor.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// An empty supervisor: no declared services, no signal handling, no
    /// systemd notifications (a library's supervisor does not speak for the
    /// process), the default shutdown timeout; for tasks and jobs spawned by
    /// the program.
    ///
    /// It may be made outside a tokio runtime (in a synchronous
    /// constructor, say); it adopts the runtime its first task is spawned
    /// in, and a spawn outside any runtime before that is an
    /// [`Error::NoRuntime`].
    ///
    /// # Examples
    ///
    /// ```
    /// use supervisor::{RestartPolicy, Supervisor, TaskDescriptor};
    ///
    /// // No runtime yet: a library's constructor, for instance.
    /// let sup = Supervisor::new();
    /// assert!(sup.spawn(TaskDescriptor::new("early", RestartPolicy::Never, |_ctx| async {
    ///     Ok::<(), std::io::Error>(())
    /// })).is_err());
    ///
    /// let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    /// runtime.block_on(async {
    ///     let job = sup.spawn_blocking("sum", || (1..=10u32).sum::<u32>());
    ///     assert_eq!(job.join().await.unwrap(), 55);
    ///     sup.shutdown(std::time::Duration::from_secs(1)).await.unwrap();
    /// });
    /// ```
    pub fn new() -> Supervisor {
        let config = Config::standalone();
        Supervisor {
            shared: Shared::new(config, CancellationToken::new(), DEFAULT_SHUTDOWN_TIMEOUT),
        }
    }

    /// Every change from now on: one [`Event`] per status or readiness
    /// change of any row (a new row's first status included), in order per
    /// service. A receiver that falls more than 1,024 events behind gets
    /// tokio's `Lagged`. With no subscriber this costs nothing measurable.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use supervisor::{Builder, RestartPolicy, Status, TaskDescriptor};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sup = Builder::new().only(Vec::<String>::new()).start()?;
    /// let mut events = sup.subscribe();
    /// let policy = RestartPolicy::Backoff { max: 1, base_delay: Duration::from_secs(1) };
    /// sup.spawn(TaskDescriptor::new("flaky", policy, |ctx| async move {
    ///     if ctx.attempt() == 0 {
    ///         return Err("first run fails");
    ///     }
    ///     ctx.cancelled().await;
    ///     Ok(())
    /// }))?;
    /// let mut seen = Vec::new();
    /// for _ in 0..3 {
    ///     seen.push(events.recv().await?.status);
    /// }
    /// assert_eq!(seen, [Status::Running, Status::Restarting { attempt: 1, max: 1 }, Status::Running]);
    /// # Ok(()) }
    /// ```
    pub fn subscribe(&self) -> tokio::sync::broadcast::Receiver<Event> {
        self.shared.subscribe()
    }

    /// Whether the program is ready: every declared service is ready (as
    /// its `ready = ...` says; imperative tasks and jobs do not count) and
    /// shutdown has not begun. What a readiness probe should answer.
    ///
    /// # Examples
    ///
    /// ```
    /// use supervisor::{supervised, Builder, Context};
    ///
    /// #[supervised(name = "server", ready = manual)]
    /// async fn server(ctx: Context) {
    ///     // bind the listener, then:
    ///     ctx.ready();
    ///     ctx.cancelled().await;
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::Error> {
    /// let sup = Builder::new().only(["server"]).start()?;
    /// assert!(!sup.is_ready(), "not before the server says so");
    /// tokio::task::yield_now().await;
    /// assert!(sup.is_ready());
    /// sup.shutdown(std::time::Duration::from_secs(1)).await?;
    /// assert!(!sup.is_ready());
    /// # Ok(()) }
    /// ```
    pub fn is_ready(&self) -> bool {
        !self.shared.is_stopping() && deps::all_ready(&self.shared)
    }

    /// One row per name, finished ones too (for tasks and jobs, the latest
    /// [`Builder::retain_finished`] of them), in order of first start.
    ///
    /// Linear in the number of names; holds no lock across user code.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use supervisor::{supervised, Builder, Context, Status};
    ///
    /// #[supervised(name = "api")]
    /// async fn api(ctx: Context) {
    ///     ctx.cancelled().await;
    /// }
    ///
    /// #[supervised(name = "migrate")]
    /// async fn migrate() {}
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::Error> {
    /// let sup = Builder::new().only(["api", "migrate"]).start()?;
    /// tokio::time::sleep(Duration::from_millis(10)).await;
    ///
    /// // Declared services start in order of name.
    /// let rows = sup.snapshot();
    /// assert_eq!((&*rows[0].name, &rows[0].status), ("api", &Status::Running));
    /// assert_eq!((&*rows[1].name, &rows[1].status), ("migrate", &Status::Completed));
    /// for row in &rows {
    ///     println!("{row}"); // one line of the status table
    /// }
    /// sup.shutdown(Duration::from_secs(1)).await
    /// # }
    /// ```
    pub fn snapshot(&self) -> Vec<ServiceSnapshot> {
        self.shared.snapshot()
    }

    /// How many services are `Queued`, `Running` or `Restarting`.
    ///
    /// Tasks and jobs count too, each job on its own even when jobs share
    /// a name.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use supervisor::{supervised, Builder, Context};
    ///
    /// #[supervised(name = "listener")]
    /// async fn listener(ctx: Context) {
    ///     ctx.cancelled().await;
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sup = Builder::new().only(["listener"]).start()?;
    /// assert_eq!(sup.active_count(), 1);
    ///
    /// let job = sup.spawn_oneshot("warm-up", |_ctx| async { 42 });
    /// assert_eq!(sup.active_count(), 2); // counted from the moment it is spawned
    /// assert_eq!(job.join().await?, 42);
    /// assert_eq!(sup.active_count(), 1); // and no longer once its value is out
    ///
    /// sup.shutdown(Duration::from_secs(1)).await?;
    /// assert_eq!(sup.active_count(), 0);
    /// # Ok(()) }
    /// ```
    pub fn active_count(&self) -> usize {
        self.shared.active.get()
    }

    /// Completes when no service is active any more.
    ///
    /// It waits and nothing more: unlike [`run`](Supervisor::run), it starts
    /// no shutdown. Useful for a program whose services all end by themselves
    /// (a batch of jobs), and in tests.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    ///
    /// # Examples
    ///
    /// ```
    /// use supervisor::{supervised, Builder, Status};
    ///
    /// #[supervised(name = "import-orders")]
    /// async fn import_orders() {}
    ///
    /// #[supervised(name = "import-invoices")]
    /// async fn import_invoices() -> Result<(), String> {
    ///     Err("invoices.csv: line 3 has 5 fields, expected 6".into())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::Error> {
    /// let sup = Builder::new().only(["import-orders", "import-invoices"]).start()?;
    /// sup.wait().await;
    /// assert_eq!(sup.active_count(), 0);
    /// for row in sup.snapshot() {
    ///     match row.status {
    ///         Status::Completed => assert_eq!(&*row.name, "import-orders"),
    ///         Status::Failed { reason } => assert!(reason.starts_with("invoices.csv")),
    ///         other => panic!("{}: {other}", row.name),
    ///     }
    /// }
    /// # Ok(()) }
    /// ```
    pub async fn wait(&self) {
        self.shared.active.idle().await;
    }

    /// Shuts down: every `Context` is cancelled at once, services without one
    /// are dropped, and what is still running after `timeout` is aborted.
    ///
    /// Returns `Err` naming each service that failed, or was aborted by the
    /// timeout or a second signal. A second call waits for the first and
    /// returns the same result; the first call's timeout applies (or the
    /// builder's, when the shutdown was started by a token).
    ///
    /// It returns within the timeout plus a small constant whatever became
    /// of the runtime the supervisor was started in: when that runtime has
    /// shut down (its services ended `Aborted` with it), a call from another
    /// runtime finishes the shutdown there.
    ///
    /// A service must not await its own supervisor's `shutdown()`: the
    /// shutdown waits for that service, which waits for the shutdown, so it
    /// holds everything until the timeout and ends `Aborted`. From inside a
    /// service, cancel [`cancellation_token`](Supervisor::cancellation_token)
    /// and return: that starts the same shutdown.
    ///
    /// # Examples
    ///
    /// ```
    /// # use std::time::Duration;
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sup = supervisor::Builder::new().only(Vec::<String>::new()).start().unwrap();
    /// assert!(sup.shutdown(Duration::from_secs(1)).await.is_ok());
    /// # }
    /// ```
    pub async fn shutdown(&self, timeout: Duration) -> Result<(), Error> {
        stop::shutdown(&self.shared, Some(timeout)).await
    }

    /// Waits for SIGINT/SIGTERM (when the builder handles signals), the
    /// cancellation token, or no service being active; then shuts down with
    /// the builder's timeout. A second signal during the shutdown aborts
    /// every service at once.
    ///
    /// Under systemd (feature `systemd`, `NOTIFY_SOCKET` set, and not
    /// [`Builder::systemd(false)`](Builder::systemd)), this loop also sends
    /// `READY=1`, `STATUS=`, `STOPPING=1` and the watchdog's pings: see
    /// [`Builder::systemd`].
    ///
    /// The signal handlers are installed when this is called: on a
    /// supervisor from [`Builder::start`], a signal that arrives before that
    /// has its default effect (usually ending the process). [`Builder::run`]
    /// installs them before starting any service instead. Between the
    /// installation and the shutdown, no signal is lost.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::Error> {
    /// #[supervisor::supervised]
    /// async fn job() {}
    ///
    /// // Returns once `job` has completed: nothing is active any more.
    /// supervisor::Builder::new().only(["job"]).start()?.run().await
    /// # }
    /// ```
    pub async fn run(&self) -> Result<(), Error> {
        let signals = if self.shared.config.handle_signals {
            Signals::install()
        } else {
            None
        };
        self.run_with(signals).await
    }

    /// [`run`](Supervisor::run) with the handlers its caller installed
    /// (`None`: signals are not handled).
    pub(crate) async fn run_with(&self, mut signals: Option<Signals>) -> Result<(), Error> {
        // Readiness, status, stopping and the watchdog for systemd: polled by
        // this loop, so the pings stop when the loop does. Never completes.
        let mut notifier = pin!(systemd::notifier(&self.shared));
        tokio::select! {
            () = Signals::recv(&mut signals) => {
                tracing::info!("signal received: shutting down");
            }
            () = self.shared.root().cancelled() => {}
            () = self.wait() => {
                tracing::info!("no service is active any more: shutting down");
            }
            never = &mut notifier => match never {},
        }
        let mut shutdown = pin!(stop::shutdown(&self.shared, None));
        tokio::select! {
            // The notifier first: every poll after the shutdown began (so
            // the one that returns its result too) tells systemd first.
            biased;
            never = &mut notifier => match never {},
            result = &mut shutdown => result,
            () = Signals::recv(&mut signals) => {
                tracing::warn!("second signal: aborting every service now");
                stop::force(&self.shared);
                shutdown.await
            }
        }
    }

    /// The address the health endpoints listen on, when the builder was
    /// given [`serve_health`](Builder::serve_health): the port the system
    /// picked when it was asked for port 0.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// use supervisor::Builder;
    ///
    /// let sup = Builder::new().only(Vec::<String>::new()).serve_health("127.0.0.1:0".parse()?).start()?;
    /// let addr = sup.health_addr().unwrap();
    /// assert!(addr.ip().is_loopback());
    /// assert_ne!(addr.port(), 0, "the port that was picked");
    ///
    /// let plain = Builder::new().only(Vec::<String>::new()).start()?;
    /// assert_eq!(plain.health_addr(), None);
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "http")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub fn health_addr(&self) -> Option<std::net::SocketAddr> {
        self.shared.config.health
    }

    /// The supervisor's token: cancelling it starts the shutdown (with the
    /// builder's timeout). Every `Context` watches it.
    ///
    /// Hand it to whatever may decide that the program should stop, a task
    /// of the supervisor's own included: unlike awaiting
    /// [`shutdown`](Supervisor::shutdown) from inside a service, cancelling
    /// the token lets that service return. [`shutdown`](Supervisor::shutdown)
    /// and [`run`](Supervisor::run) then report the same result.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use supervisor::{Builder, RestartPolicy, TaskDescriptor};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::Error> {
    /// let sup = Builder::new().start()?;
    /// let stop = sup.cancellation_token();
    /// sup.spawn(TaskDescriptor::new("admin", RestartPolicy::Never, move |_ctx| {
    ///     let stop = stop.clone();
    ///     async move {
    ///         // ... an operator asked for a stop ...
    ///         stop.cancel();
    ///         Ok::<(), std::io::Error>(())
    ///     }
    /// }))?;
    ///
    /// sup.wait().await;
    /// assert!(sup.cancellation_token().is_cancelled());
    /// sup.shutdown(Duration::from_secs(1)).await // the same, clean, shutdown
    /// # }
    /// ```
    pub fn cancellation_token(&self) -> CancellationToken {
        self.shared.root().clone()
    }

    /// Aborts what runs under `name` (the latest instance or job): it ends
    /// `Aborted` (not an error) and is not restarted. `false` when nothing is
    /// running under that name.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::Error> {
    /// use supervisor::{RestartPolicy, Status, TaskDescriptor};
    ///
    /// let sup = supervisor::Builder::new().only(Vec::<String>::new()).start()?;
    /// sup.spawn(TaskDescriptor::new("idle", RestartPolicy::Never, |ctx| async move {
    ///     ctx.cancelled().await;
    ///     Ok::<(), std::io::Error>(())
    /// }))?;
    /// assert!(sup.abort("idle"));
    /// assert!(!sup.abort("idle"), "nothing runs under that name any more");
    /// assert_eq!(sup.snapshot()[0].status, Status::Aborted);
    /// # Ok(()) }
    /// ```
    pub fn abort(&self, name: &str) -> bool {
        match self.shared.row(name) {
            Some(row) => lease::abort(&self.shared, &row, None),
            None => false,
        }
    }

    /// Starts an imperative task under the same supervision as declared
    /// services: same restart policy semantics, same snapshot, same shutdown.
    ///
    /// Spawning a name that is running replaces it: the old instance is
    /// aborted, and its end never touches the new one.
    ///
    /// Each run's future is boxed; when the function's type is known,
    /// [`Supervisor::spawn_fn`] starts it without a descriptor or a box.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a name the attribute would reject,
    /// [`Error::ShuttingDown`] once shutdown has begun, and
    /// [`Error::RuntimeGone`] when the runtime the supervisor was started in
    /// has shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::Error> {
    /// use std::time::Duration;
    /// use supervisor::{RestartPolicy, TaskDescriptor};
    ///
    /// let sup = supervisor::Builder::new().only(Vec::<String>::new()).start()?;
    /// let policy = RestartPolicy::Backoff { max: 3, base_delay: Duration::from_millis(100) };
    /// let handle = sup.spawn(TaskDescriptor::new("gateway", policy, |ctx| async move {
    ///     ctx.cancelled().await;
    ///     Ok::<(), std::io::Error>(())
    /// }))?;
    /// assert_eq!(handle.name(), "gateway");
    /// sup.shutdown(Duration::from_secs(1)).await?;
    /// # Ok(()) }
    /// ```
    pub fn spawn(&self, task: TaskDescriptor) -> Result<TaskHandle, Error> {
        let TaskDescriptor {
            name,
            restart,
            factory,
        } = task;
        self.start_task(name, Work::Task(factory), restart)
    }

    /// Starts an imperative task from a function, like
    /// [`spawn`](Supervisor::spawn) with a [`TaskDescriptor`], but without a
    /// box: `f` is called once per (re)start, and the future it returns runs
    /// inside the task itself, where the previous run's future was. The
    /// cheapest way to start a task: one allocation (the tokio task) per
    /// service, none per restart.
    ///
    /// Same semantics as `spawn`: the restart policy, the snapshot row, the
    /// shutdown, and a name that is running is replaced.
    ///
    /// # Errors
    ///
    /// [`Error::InvalidName`] for a name the attribute would reject,
    /// [`Error::ShuttingDown`] once shutdown has begun, and
    /// [`Error::RuntimeGone`] when the supervisor's runtime has shut down.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::Error> {
    /// use std::time::Duration;
    /// use supervisor::{Context, RestartPolicy};
    ///
    /// let sup = supervisor::Builder::new().only(Vec::<String>::new()).start()?;
    /// for shard in 0..4 {
    ///     let policy = RestartPolicy::Backoff { max: 3, base_delay: Duration::from_millis(100) };
    ///     sup.spawn_fn(format!("shard-{shard}"), policy, move |ctx: Context| async move {
    ///         // ... serve shard `shard` until told to stop ...
    ///         let _ = shard;
    ///         ctx.cancelled().await;
    ///         Ok::<(), std::io::Error>(())
    ///     })?;
    /// }
    /// assert_eq!(sup.active_count(), 4);
    /// sup.shutdown(Duration::from_secs(1)).await?;
    /// # Ok(()) }
    /// ```
    pub fn spawn_fn<F, Fut, E>(
        &self,
        name: impl Into<Arc<str>>,
        restart: RestartPolicy,
        f: F,
    ) -> Result<TaskHandle, Error>
    where
        F: Fn(Context) -> Fut + Send + 'static,
        Fut: Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
    {
        self.start_task(name.into(), FnBody(f), restart)
    }

    /// Checks the name and starts a task that runs `body`.
    fn start_task<B: Body>(
        &self,
        name: Arc<str>,
        body: B,
        restart: RestartPolicy,
    ) -> Result<TaskHandle, Error> {
        check_name(&name).map_err(|reason| Error::InvalidName {
            name: Arc::clone(&name),
            reason,
        })?;
        let started = service::start(&self.shared, name, body, restart, OnName::Replace)?;
        Ok(TaskHandle::new(started.row, started.id))
    }

    /// Runs a CPU-bound closure on the supervisor's own worker threads, at
    /// most 8 at once (the others wait, `Queued`). Its wall and CPU time are
    /// recorded; a panic becomes [`BlockingError::Panicked`](crate::BlockingError::Panicked)
    /// and a `Failed` row. That failure is the handle's to report: it does
    /// not make [`shutdown`](Supervisor::shutdown) or [`run`](Supervisor::run)
    /// return `Err` (a job still running at the shutdown deadline does).
    ///
    /// Jobs may share a name: each counts as active, and the row shows the
    /// latest. A job spawned after shutdown began gets no row, and its
    /// `join` returns [`BlockingError::Aborted`](crate::BlockingError::Aborted).
    ///
    /// The closure runs inside the supervisor's tokio runtime context, as it
    /// would on tokio's own blocking pool: `tokio::runtime::Handle::current()`
    /// works there, to spawn a task or `block_on` an async call.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sup = supervisor::Builder::new().only(Vec::<String>::new()).start()?;
    /// let fetched = sup.spawn_blocking("sync-client", || {
    ///     // Blocking code that calls into async code through the runtime.
    ///     tokio::runtime::Handle::current().block_on(async { "fetched" })
    /// });
    /// assert_eq!(fetched.join().await?, "fetched");
    ///
    /// let jobs: Vec<_> = (0..4u64)
    ///     .map(|i| sup.spawn_blocking("square", move || i * i))
    ///     .collect();
    /// let mut total = 0;
    /// for job in jobs {
    ///     total += job.join().await?;
    /// }
    /// assert_eq!(total, 14);
    /// # Ok(()) }
    /// ```
    pub fn spawn_blocking<R, F>(&self, name: impl Into<Arc<str>>, f: F) -> BlockingHandle<R>
    where
        R: Send + 'static,
        F: FnOnce() -> R + Send + 'static,
    {
        jobs::spawn_blocking(&self.shared, name.into(), f)
    }

    /// Runs an async job with a typed result, under the same snapshot and
    /// shutdown: it receives a [`Context`](crate::Context), is left to finish
    /// until the shutdown timeout, and a panic becomes
    /// [`BlockingError::Panicked`](crate::BlockingError::Panicked) (and a
    /// `Failed` row, which, as for `spawn_blocking`, the shutdown's result
    /// does not count).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sup = supervisor::Builder::new().only(Vec::<String>::new()).start()?;
    /// let job = sup.spawn_oneshot("fetch", |ctx| async move { format!("hello from {}", ctx.name()) });
    /// assert_eq!(job.join().await?, "hello from fetch");
    /// # Ok(()) }
    /// ```
    pub fn spawn_oneshot<R, F, Fut>(&self, name: impl Into<Arc<str>>, f: F) -> BlockingHandle<R>
    where
        R: Send + 'static,
        F: FnOnce(crate::Context) -> Fut + Send + 'static,
        Fut: std::future::Future<Output = R> + Send + 'static,
    {
        jobs::spawn_oneshot(&self.shared, name.into(), f)
    }
}

impl BlockingSpawner for Supervisor {
    fn spawn_blocking_named(
        &self,
        name: Arc<str>,
        f: Box<dyn FnOnce() + Send>,
    ) -> BlockingHandle<()> {
        self.spawn_blocking(name, f)
    }
}

impl Default for Supervisor {
    fn default() -> Self {
        Supervisor::new()
    }
}

impl Context {
    /// The supervisor running this service, so that it can spawn tasks and
    /// jobs, read the snapshot or serve health; `None` for a detached
    /// context.
    ///
    /// # Examples
    ///
    /// ```
    /// use supervisor::{supervised, Builder, Context};
    ///
    /// #[supervised(name = "scheduler")]
    /// async fn scheduler(ctx: Context) {
    ///     let sup = ctx.supervisor().expect("run by a supervisor");
    ///     let job = sup.spawn_blocking("nightly-report", || 6 * 7);
    ///     assert_eq!(job.join().await.unwrap(), 42);
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::Error> {
    /// let sup = Builder::new().only(["scheduler"]).start()?;
    /// sup.wait().await;
    /// assert!(Context::detached("test", Default::default()).supervisor().is_none());
    /// # sup.shutdown(std::time::Duration::from_secs(1)).await }
    /// ```
    pub fn supervisor(&self) -> Option<Supervisor> {
        self.shared().map(|shared| Supervisor {
            shared: Arc::clone(shared),
        })
    }
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("active", &self.active_count())
            .field("stopping", &self.shared.is_stopping())
            .finish_non_exhaustive()
    }
}

/// The status table: a header and one row per service.
impl fmt::Display for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::status::write_table(f, &self.snapshot())
    }
}
