//! The supervisor's shared state, its public handle, and shutdown.

use std::fmt;
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use crate::error::{Error, ServiceFailure};
use crate::jobs::{self, BlockingHandle, MAX_BLOCKING};
use crate::service::{Instance, Work};
use crate::signal::Signals;
use crate::table::{lock, AbortOutcome, Row, RowRef, Table};
use crate::{Builder, Factory, RestartPolicy, ServiceSnapshot, Status};

/// State shared by the handle, every instance task and the shutdown watcher.
pub(crate) struct Inner {
    /// The supervisor's token: cancelling it starts the shutdown, and every
    /// `Context` watches it.
    pub(crate) root: CancellationToken,
    /// Cancelled when the shutdown timeout elapses or a second signal arrives:
    /// whatever is still running ends `Aborted`.
    pub(crate) kill: CancellationToken,
    forced: AtomicBool,
    /// Set once shutdown has begun (see [`Inner::is_stopping`]).
    stopping: AtomicBool,
    /// Instances that are Queued, Running or Restarting.
    active: AtomicUsize,
    idle: Notify,
    table: Mutex<Table>,
    next_id: AtomicU64,
    pub(crate) runtime: Handle,
    shutdown_timeout: Duration,
    pub(crate) handle_signals: bool,
    /// A timeout asked for by an explicit `shutdown(timeout)` call.
    requested_timeout: Mutex<Option<Duration>>,
    /// Wall-clock moment the shutdown began (first observer wins).
    shutdown_began: OnceLock<Instant>,
    result: OnceLock<Result<(), Error>>,
    finished: Notify,
    /// Names aborted at the shutdown deadline.
    killed: Mutex<Vec<Arc<str>>>,
    active_gauge: metrics::Gauge,
    /// Slots for `spawn_blocking` closures.
    pub(crate) slots: Arc<Semaphore>,
}

impl Inner {
    pub(crate) fn new(
        root: CancellationToken,
        runtime: Handle,
        shutdown_timeout: Duration,
        handle_signals: bool,
    ) -> Arc<Self> {
        Arc::new(Inner {
            root,
            kill: CancellationToken::new(),
            forced: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            active: AtomicUsize::new(0),
            idle: Notify::new(),
            table: Mutex::new(Table::default()),
            next_id: AtomicU64::new(1),
            runtime,
            shutdown_timeout,
            handle_signals,
            requested_timeout: Mutex::new(None),
            shutdown_began: OnceLock::new(),
            result: OnceLock::new(),
            finished: Notify::new(),
            killed: Mutex::new(Vec::new()),
            active_gauge: metrics::gauge!("supervisor.active"),
            slots: Arc::new(Semaphore::new(MAX_BLOCKING)),
        })
    }

    /// Whether shutdown has been requested (through any token).
    ///
    /// The flag is set before our own cancellations, so during a shutdown we
    /// started, the many completions that ask this never touch the token's
    /// mutex; a cancellation from outside is still seen through the token.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire) || self.root.is_cancelled()
    }

    /// Marks the shutdown as begun, under the table lock: a registration
    /// either sees the flag or is counted active before the shutdown looks.
    fn mark_stopping(&self) {
        let _table = lock(&self.table);
        self.stopping.store(true, Ordering::Release);
    }

    /// Marks the shutdown as begun, then cancels the supervisor's token.
    fn stop(&self) {
        self.mark_stopping();
        self.root.cancel();
    }

    /// Whether a second signal (rather than the timeout) forced the aborts.
    pub(crate) fn forced(&self) -> bool {
        self.forced.load(Ordering::Acquire)
    }

    /// Claims a row for a new instance and counts it active.
    ///
    /// With `replace`, an active instance under the same name is aborted;
    /// otherwise the new instance simply becomes the row's latest.
    pub(crate) fn register(
        &self,
        name: &Arc<str>,
        status: Status,
        replace: bool,
    ) -> Result<(RowRef, u64), Error> {
        let now = Instant::now();
        let mut table = lock(&self.table);
        // The flag only, not the token (whose mutex every registration would
        // take): a cancellation from outside sets the flag as soon as the
        // watcher sees it, and the watcher counts what registered before.
        if self.stopping.load(Ordering::Acquire) {
            return Err(Error::ShuttingDown {
                name: Arc::clone(name),
            });
        }
        let id = self.next_id.fetch_add(1, Ordering::Relaxed);
        let mut fresh = false;
        let row = table.row_for(name, || {
            fresh = true;
            Row::new(Arc::clone(name), id, status.clone(), now)
        });
        let reset = (!fresh).then(|| row.reset(id, status, now, replace));
        self.active.fetch_add(1, Ordering::AcqRel);
        drop(table);
        self.active_gauge.increment(1.0);
        if let Some(reset) = reset {
            if reset.replaced {
                tracing::info!(service = %name, "replaced: aborting the previous instance");
                self.instance_ended();
            }
            if let Some(aborter) = reset.aborter {
                aborter.fire();
            }
        }
        Ok((row, id))
    }

    /// One instance reached its end (whatever the row says).
    pub(crate) fn instance_ended(&self) {
        self.active_gauge.decrement(1.0);
        if self.active.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }

    pub(crate) fn active_count(&self) -> usize {
        self.active.load(Ordering::Acquire)
    }

    pub(crate) async fn wait_idle(&self) {
        loop {
            let mut notified = pin!(self.idle.notified());
            notified.as_mut().enable();
            if self.active_count() == 0 {
                return;
            }
            notified.await;
        }
    }

    /// The moment a run that ends now should be said to have ended: for a run
    /// stopped by shutdown, the moment shutdown began.
    pub(crate) fn end_time(&self) -> Instant {
        let now = Instant::now();
        if self.is_stopping() {
            (*self.shutdown_began.get_or_init(|| now)).min(now)
        } else {
            now
        }
    }

    pub(crate) fn row(&self, name: &str) -> Option<RowRef> {
        lock(&self.table).get(name)
    }

    /// Aborts the current instance under `name` on request.
    pub(crate) fn abort(&self, name: &str) -> bool {
        match self.row(name) {
            Some(row) => self.abort_row(&row, None),
            None => false,
        }
    }

    /// Aborts an instance of `row` on request (see [`Row::abort`]) and leaves
    /// the active count for it at once.
    pub(crate) fn abort_row(&self, row: &Row, instance: Option<u64>) -> bool {
        let aborted = row.abort(instance, Instant::now()) == AbortOutcome::Aborted;
        if aborted {
            tracing::info!(service = %row.name, "aborted on request");
            self.instance_ended();
        }
        aborted
    }

    pub(crate) fn snapshot(&self) -> Vec<ServiceSnapshot> {
        let now = Instant::now();
        let table = lock(&self.table);
        let mut rows = Vec::with_capacity(table.len());
        rows.extend(table.rows().map(|row| row.snapshot(now)));
        rows
    }

    /// Second signal: abort everything now.
    pub(crate) fn force(&self) {
        self.forced.store(true, Ordering::Release);
        self.stop();
        self.kill.cancel();
    }

    /// The kill scan, once, after `kill` is cancelled: aborts the task of every
    /// row still active. Instances registered after the scan see `kill` in
    /// [`Row::attach`]; jobs sharing a name watch `kill` themselves.
    fn abort_remaining(&self) {
        let mut aborters = Vec::new();
        {
            let table = lock(&self.table);
            for row in table.rows() {
                row.take_active_aborters(&mut aborters);
            }
        }
        for aborter in aborters {
            aborter.fire();
        }
    }

    /// Notes an instance or job aborted at the shutdown deadline. Kept as an
    /// event, not read off the rows: a row shows only the latest job under a
    /// name, and an earlier one that was stuck must still be reported.
    pub(crate) fn record_kill(&self, name: &Arc<str>) {
        lock(&self.killed).push(Arc::clone(name));
    }

    /// What `shutdown` returns: every row whose service failed, then every
    /// name aborted at the deadline (each name once).
    fn outcome(&self) -> Result<(), Error> {
        let forced = self.forced();
        let mut failures: Vec<ServiceFailure> = {
            let table = lock(&self.table);
            table
                .rows()
                .filter_map(|row| {
                    row.failed().map(|status| ServiceFailure {
                        name: Arc::clone(&row.name),
                        status,
                        forced: false,
                    })
                })
                .collect()
        };
        let mut killed = std::mem::take(&mut *lock(&self.killed));
        killed.sort_unstable();
        killed.dedup();
        failures.extend(killed.into_iter().map(|name| ServiceFailure {
            name,
            status: Status::Aborted,
            forced,
        }));
        if failures.is_empty() {
            Ok(())
        } else {
            Err(Error::Services { failures })
        }
    }

    /// Runs for the supervisor's whole life: waits for its token, then drives
    /// the shutdown: wait for every instance to end, up to the timeout; then
    /// abort what is left and publish the result.
    pub(crate) async fn watch(self: Arc<Self>) {
        self.root.cancelled().await;
        self.mark_stopping();
        let timeout = lock(&self.requested_timeout).unwrap_or(self.shutdown_timeout);
        self.shutdown_began.get_or_init(Instant::now);
        tracing::info!(
            active = self.active_count(),
            timeout = ?timeout,
            "shutdown: cancelling every service"
        );
        tokio::select! {
            () = self.wait_idle() => {}
            () = tokio::time::sleep(timeout) => {
                tracing::warn!(
                    still_running = self.active_count(),
                    "shutdown timeout elapsed: aborting what is still running"
                );
                self.kill.cancel();
            }
            () = self.kill.cancelled() => {}
        }
        if self.kill.is_cancelled() {
            self.abort_remaining();
        }
        // Every instance still active has been aborted; its task ends (and
        // reports) as soon as the runtime drops it.
        self.wait_idle().await;
        let result = self.outcome();
        match &result {
            Ok(()) => tracing::info!("shutdown complete"),
            Err(err) => tracing::error!("shutdown complete: {err}"),
        }
        let _ = self.result.set(result);
        self.finished.notify_waiters();
    }

    async fn shutdown(&self, timeout: Duration) -> Result<(), Error> {
        {
            let mut requested = lock(&self.requested_timeout);
            if requested.is_none() && !self.is_stopping() {
                *requested = Some(timeout);
            }
        }
        self.stop();
        loop {
            let mut notified = pin!(self.finished.notified());
            notified.as_mut().enable();
            if let Some(result) = self.result.get() {
                return result.clone();
            }
            notified.await;
        }
    }
}

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
    pub(crate) inner: Arc<Inner>,
}

impl Supervisor {
    /// A [`Builder`], to configure and start a supervisor.
    pub fn builder() -> Builder {
        Builder::new()
    }

    /// One row per name, finished ones too, in order of first start.
    ///
    /// Linear in the number of names; holds no lock across user code.
    pub fn snapshot(&self) -> Vec<ServiceSnapshot> {
        self.inner.snapshot()
    }

    /// How many services are `Queued`, `Running` or `Restarting`.
    pub fn active_count(&self) -> usize {
        self.inner.active_count()
    }

    /// Completes when no service is active any more.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe.
    pub async fn wait(&self) {
        self.inner.wait_idle().await;
    }

    /// Shuts down: every `Context` is cancelled at once, services without one
    /// are dropped, and what is still running after `timeout` is aborted.
    ///
    /// Returns `Err` naming each service that failed, or was aborted by the
    /// timeout or a second signal. A second call waits for the first and
    /// returns the same result; the first call's timeout applies (or the
    /// builder's, when the shutdown was started by a token).
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
        self.inner.shutdown(timeout).await
    }

    /// Waits for SIGINT/SIGTERM (when the builder handles signals), the
    /// cancellation token, or no service being active; then shuts down with
    /// the builder's timeout. A second signal during the shutdown aborts
    /// every service at once.
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
        let signals = if self.inner.handle_signals {
            Signals::install()
        } else {
            None
        };
        self.run_with(signals).await
    }

    /// [`run`](Supervisor::run) with the handlers its caller installed
    /// (`None`: signals are not handled).
    pub(crate) async fn run_with(&self, mut signals: Option<Signals>) -> Result<(), Error> {
        tokio::select! {
            () = Signals::recv(&mut signals) => {
                tracing::info!("signal received: shutting down");
            }
            () = self.inner.root.cancelled() => {}
            () = self.wait() => {
                tracing::info!("no service is active any more: shutting down");
            }
        }
        let mut shutdown = pin!(self.shutdown(self.inner.shutdown_timeout));
        tokio::select! {
            result = &mut shutdown => result,
            () = Signals::recv(&mut signals) => {
                tracing::warn!("second signal: aborting every service now");
                self.inner.force();
                shutdown.await
            }
        }
    }

    /// The supervisor's token: cancelling it starts the shutdown (with the
    /// builder's timeout). Every `Context` watches it.
    pub fn cancellation_token(&self) -> CancellationToken {
        self.inner.root.clone()
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
        self.inner.abort(name)
    }

    /// Starts an imperative task under the same supervision as declared
    /// services: same restart policy semantics, same snapshot, same shutdown.
    ///
    /// Spawning a name that is running replaces it: the old instance is
    /// aborted, and its end never touches the new one.
    ///
    /// # Errors
    ///
    /// [`Error::ShuttingDown`] once shutdown has begun.
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
        let started = Instance::start(
            &self.inner,
            Arc::clone(&name),
            Work::Factory(factory),
            restart,
            true,
        )?;
        Ok(TaskHandle {
            name,
            inner: Arc::clone(&self.inner),
            row: started.row,
            id: started.id,
        })
    }

    /// Runs a CPU-bound closure on the supervisor's own worker threads, at
    /// most 8 at once (the others wait, `Queued`). Its wall and CPU time are
    /// recorded; a panic becomes [`BlockingError::Panicked`](crate::BlockingError::Panicked)
    /// and a `Failed` row.
    ///
    /// Jobs may share a name: each counts as active, and the row shows the
    /// latest. A job spawned after shutdown began gets no row, and its
    /// `join` returns [`BlockingError::Aborted`](crate::BlockingError::Aborted).
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sup = supervisor::Builder::new().only(Vec::<String>::new()).start()?;
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
        jobs::spawn_blocking(&self.inner, &self.inner.slots, name.into(), f)
    }

    /// Runs an async job with a typed result, under the same snapshot and
    /// shutdown: it receives a [`Context`](crate::Context), is left to finish
    /// until the shutdown timeout, and a panic becomes
    /// [`BlockingError::Panicked`](crate::BlockingError::Panicked).
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
        jobs::spawn_oneshot(&self.inner, name.into(), f)
    }
}

/// Hands blocking work to a supervisor without naming its type: library code
/// takes `&dyn BlockingSpawner`.
///
/// # Examples
///
/// ```
/// use supervisor::BlockingSpawner;
///
/// fn checksum(spawner: &dyn BlockingSpawner, data: Vec<u8>) -> supervisor::BlockingHandle<()> {
///     spawner.spawn_blocking_named(
///         "checksum".into(),
///         Box::new(move || {
///             let _sum: u64 = data.iter().map(|&b| u64::from(b)).sum();
///         }),
///     )
/// }
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sup = supervisor::Builder::new().only(Vec::<String>::new()).start()?;
/// checksum(&sup, vec![1, 2, 3]).join().await?;
/// # Ok(()) }
/// ```
pub trait BlockingSpawner: Send + Sync {
    /// Runs `f` like [`Supervisor::spawn_blocking`].
    fn spawn_blocking_named(
        &self,
        name: Arc<str>,
        f: Box<dyn FnOnce() + Send>,
    ) -> BlockingHandle<()>;
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

/// An imperative task for [`Supervisor::spawn`]: a name, a restart policy,
/// and a factory called once per (re)start.
///
/// # Examples
///
/// ```
/// use std::sync::Arc;
/// use supervisor::{BoxError, Context, RestartPolicy, TaskDescriptor};
///
/// // With the convenience constructor:
/// let task = TaskDescriptor::new("watcher", RestartPolicy::Never, |ctx: Context| async move {
///     ctx.cancelled().await;
///     Ok::<(), std::io::Error>(())
/// });
///
/// // Or field by field:
/// let task = TaskDescriptor {
///     name: "watcher".into(),
///     restart: RestartPolicy::Never,
///     factory: Arc::new(|ctx: Context| Box::pin(async move {
///         ctx.cancelled().await;
///         Ok::<(), BoxError>(())
///     })),
/// };
/// # let _ = task;
/// ```
#[derive(Clone)]
pub struct TaskDescriptor {
    /// The task's name (a running task with the same name is replaced).
    pub name: Arc<str>,
    /// What happens when it fails.
    pub restart: RestartPolicy,
    /// Builds one run's future.
    pub factory: Factory,
}

impl TaskDescriptor {
    /// A descriptor from any `Fn(Context) -> impl Future<Output = Result<(), E>>`.
    pub fn new<F, Fut, E>(name: impl Into<Arc<str>>, restart: RestartPolicy, f: F) -> Self
    where
        F: Fn(crate::Context) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), E>> + Send + 'static,
        E: Into<crate::BoxError> + 'static,
    {
        // The user's future is created inside the boxed block rather than
        // captured into it: an awaited upvar would be stored twice.
        let f = Arc::new(f);
        TaskDescriptor {
            name: name.into(),
            restart,
            factory: Arc::new(move |ctx| {
                let f = Arc::clone(&f);
                Box::pin(async move { f(ctx).await.map_err(Into::into) })
            }),
        }
    }
}

impl fmt::Debug for TaskDescriptor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskDescriptor")
            .field("name", &self.name)
            .field("restart", &self.restart)
            .finish_non_exhaustive()
    }
}

/// The handle of one instance started by [`Supervisor::spawn`].
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), supervisor::Error> {
/// use supervisor::{RestartPolicy, TaskDescriptor};
///
/// let sup = supervisor::Builder::new().only(Vec::<String>::new()).start()?;
/// let task = || TaskDescriptor::new("worker", RestartPolicy::Never, |ctx| async move {
///     ctx.cancelled().await;
///     Ok::<(), std::io::Error>(())
/// });
/// let first = sup.spawn(task())?;
/// let second = sup.spawn(task())?; // replaces the first
/// assert!(!first.abort(), "the first instance has already been replaced");
/// assert!(second.abort());
/// # Ok(()) }
/// ```
#[derive(Clone)]
pub struct TaskHandle {
    name: Arc<str>,
    inner: Arc<Inner>,
    row: RowRef,
    id: u64,
}

impl TaskHandle {
    /// The task's name.
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Aborts this instance (never a later one under the same name): it ends
    /// `Aborted` and is not restarted. `false` when it had already ended.
    pub fn abort(&self) -> bool {
        self.inner.abort_row(&self.row, Some(self.id))
    }
}

impl fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("name", &self.name)
            .field("instance", &self.id)
            .finish()
    }
}

impl fmt::Debug for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Supervisor")
            .field("active", &self.active_count())
            .field("stopping", &self.inner.is_stopping())
            .finish_non_exhaustive()
    }
}

/// The status table: a header and one row per service.
impl fmt::Display for Supervisor {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        crate::status::write_table(f, &self.snapshot())
    }
}
