//! Configuring and starting a supervisor.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::plan::{plan, Plan};
use crate::runtime::lease::{self, Lease, OnName, Role};
use crate::runtime::service::{self, Place, Work};
use crate::runtime::shared::{Config, Declared, Node, Shared};
use crate::runtime::stop;
use crate::runtime::table::DEFAULT_RETAIN_FINISHED;
use crate::signal::Signals;
use crate::spec::{registry, RestartPolicy};
use crate::state::States;
use crate::status::Status;
use crate::supervisor::Supervisor;

/// The shutdown timeout used unless [`Builder::shutdown_timeout`] says otherwise.
pub const DEFAULT_SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(10);

/// Configures which declared services to run and how to stop them.
///
/// [`run_all`](crate::run_all) is `Builder::new().run()`.
///
/// # Examples
///
/// ```no_run
/// use std::time::Duration;
/// use supervisor::Builder;
///
/// #[tokio::main]
/// async fn main() -> Result<(), supervisor::Error> {
///     Builder::new()
///         .shutdown_timeout(Duration::from_secs(30))
///         .only(["gateway", "scheduler"])
///         .run()
///         .await
/// }
/// ```
#[derive(Clone, Debug)]
pub struct Builder {
    shutdown_timeout: Duration,
    only: Option<Vec<String>>,
    handle_signals: bool,
    token: Option<CancellationToken>,
    states: States,
    intensity: Option<(u32, Duration)>,
    /// `restart(name, policy)`: policies that replace the declared ones.
    policies: BTreeMap<String, RestartPolicy>,
    systemd: bool,
    #[cfg(feature = "http")]
    health: Option<std::net::SocketAddr>,
    retain_finished: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// Every declared service, a 10 s shutdown timeout, SIGINT/SIGTERM handled by `run`.
    ///
    /// Also `Builder::default()` and [`Supervisor::builder()`].
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use supervisor::{supervised, Builder, Context};
    ///
    /// #[supervised(name = "heartbeat")]
    /// async fn heartbeat(ctx: Context) {
    ///     ctx.cancelled().await;
    /// }
    ///
    /// #[supervised(name = "cleanup")]
    /// async fn cleanup(ctx: Context) {
    ///     ctx.cancelled().await;
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::Error> {
    /// // Without `only`, every service declared in the binary starts.
    /// let sup = Builder::new().start()?;
    /// assert_eq!(sup.active_count(), 2);
    /// sup.shutdown(Duration::from_secs(1)).await
    /// # }
    /// ```
    pub fn new() -> Self {
        Builder {
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            only: None,
            handle_signals: true,
            token: None,
            states: States::default(),
            intensity: None,
            policies: BTreeMap::new(),
            systemd: true,
            #[cfg(feature = "http")]
            health: None,
            retain_finished: DEFAULT_RETAIN_FINISHED,
        }
    }

    /// How long services get to finish their cleanup once shutdown begins,
    /// before what is still running is aborted (default
    /// [`DEFAULT_SHUTDOWN_TIMEOUT`], 10 s).
    ///
    /// It applies to a shutdown started by a signal or a token, and to
    /// [`Supervisor::run`]; [`Supervisor::shutdown`] takes its own.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use supervisor::{supervised, Builder, Context, Status};
    ///
    /// #[supervised(name = "stubborn")]
    /// async fn stubborn(_ctx: Context) {
    ///     std::future::pending::<()>().await // ignores the request to stop
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let sup = Builder::new()
    ///     .only(["stubborn"])
    ///     .shutdown_timeout(Duration::from_secs(2))
    ///     .start()
    ///     .unwrap();
    /// let began = tokio::time::Instant::now();
    /// sup.cancellation_token().cancel(); // starts the shutdown, with this timeout
    /// sup.wait().await;
    ///
    /// assert!(began.elapsed() >= Duration::from_secs(2));
    /// assert_eq!(sup.snapshot()[0].status, Status::Aborted);
    /// # }
    /// ```
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Starts only the services with these names (an empty list starts none).
    /// A name that no service has makes `start`/`run` fail before anything starts.
    ///
    /// Handy in tests, where every test of one binary shares its registry,
    /// and for a program that runs some of its services per process.
    /// Duplicate names are still checked over the whole registry.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use supervisor::{supervised, Builder, Context, Error};
    ///
    /// #[supervised(name = "api")]
    /// async fn api(ctx: Context) {
    ///     ctx.cancelled().await;
    /// }
    ///
    /// #[supervised(name = "indexer")]
    /// async fn indexer(ctx: Context) {
    ///     ctx.cancelled().await;
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Error> {
    /// let sup = Builder::new().only(["api"]).start()?;
    /// let names: Vec<String> = sup.snapshot().iter().map(|row| row.name.to_string()).collect();
    /// assert_eq!(names, ["api"]);
    /// sup.shutdown(Duration::from_secs(1)).await?;
    ///
    /// // A misspelt name starts nothing, and the error lists the known ones.
    /// let err = Builder::new().only(["apj"]).start().unwrap_err();
    /// assert!(matches!(err, Error::UnknownServices { .. }));
    /// assert!(err.to_string().contains("`api`, `indexer`"), "{err}");
    /// # Ok(()) }
    /// ```
    pub fn only<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.only = Some(names.into_iter().map(|n| n.as_ref().to_string()).collect());
        self
    }

    /// Whether `run` shuts down on SIGINT/SIGTERM (default `true`). `start`
    /// never installs handlers; [`Builder::run`] installs them before the
    /// first service starts, [`Supervisor::run`] when it is called.
    ///
    /// Turn it off when the program handles signals itself, or embeds the
    /// supervisor in something larger, and stops it through a token.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use supervisor::{supervised, Builder, CancellationToken, Context, Status};
    ///
    /// #[supervised(name = "worker")]
    /// async fn worker(ctx: Context) {
    ///     ctx.cancelled().await;
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::Error> {
    /// let stop = CancellationToken::new();
    /// let sup = Builder::new()
    ///     .only(["worker"])
    ///     .handle_signals(false) // the application owns SIGINT/SIGTERM
    ///     .cancellation_token(stop.clone())
    ///     .start()?;
    ///
    /// // Wherever the application decides to stop (its own signal handler,
    /// // an admin endpoint ...), it cancels the token.
    /// tokio::spawn(async move {
    ///     tokio::time::sleep(Duration::from_millis(10)).await;
    ///     stop.cancel();
    /// });
    /// sup.run().await?; // installed no handler; returned once the token was cancelled
    /// assert_eq!(sup.snapshot()[0].status, Status::Stopped);
    /// # Ok(()) }
    /// ```
    pub fn handle_signals(mut self, yes: bool) -> Self {
        self.handle_signals = yes;
        self
    }

    /// An external trigger: cancelling `token` starts the shutdown. The
    /// supervisor's own token is a child of it.
    ///
    /// One token can so stop several supervisors, or a supervisor together
    /// with the rest of the application. Cancelling the supervisor's own
    /// token ([`Supervisor::cancellation_token`]) does not reach back to
    /// `token`.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use supervisor::{supervised, Builder, CancellationToken, Context, Status};
    ///
    /// #[supervised(name = "worker")]
    /// async fn worker(ctx: Context) {
    ///     ctx.cancelled().await;
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::Error> {
    /// let app = CancellationToken::new();
    /// let first = Builder::new().only(["worker"]).cancellation_token(app.clone()).start()?;
    /// let second = Builder::new().only(["worker"]).cancellation_token(app.clone()).start()?;
    ///
    /// app.cancel(); // both shut down
    /// for sup in [&first, &second] {
    ///     sup.wait().await;
    ///     assert!(sup.cancellation_token().is_cancelled());
    ///     assert_eq!(sup.snapshot()[0].status, Status::Stopped);
    /// }
    ///
    /// // The other way round: a supervisor's own token leaves `app` alone.
    /// let app = CancellationToken::new();
    /// let third = Builder::new().only(["worker"]).cancellation_token(app.clone()).start()?;
    /// third.cancellation_token().cancel();
    /// third.wait().await;
    /// assert!(!app.is_cancelled());
    /// # Ok(()) }
    /// ```
    pub fn cancellation_token(mut self, token: CancellationToken) -> Self {
        self.token = Some(token);
        self
    }

    /// Keeps the rows of at most `n` finished tasks and jobs (default
    /// 1,000), so that a program that spawns under ever new names runs in
    /// flat memory; the oldest finished go first.
    ///
    /// A row is finished when it shows a task ([`Supervisor::spawn`]) or job
    /// ([`Supervisor::spawn_blocking`], [`Supervisor::spawn_oneshot`]) that
    /// has ended, and nothing else runs under its name. Rows of declared
    /// services always stay, whatever runs under their names later. A name
    /// used again after its row went gets a new row, at the end of the
    /// snapshot.
    ///
    /// The table thus holds the declared services, what is active, and at
    /// most `n` finished rows. Rows that finish once shutdown has begun are
    /// all kept, so the final table shows everything that was running when
    /// it began. A failed task whose row went is still named by the
    /// shutdown's result (up to 1,000 such), unless a later instance under
    /// its name ended otherwise; a job's failure never is (it belongs to its
    /// handle). `0` keeps no finished row; `usize::MAX` keeps them all.
    ///
    /// # Memory
    ///
    /// Rows are stored in blocks of 64, and a block's memory is freed once
    /// all its rows have gone and nothing points into it any more. A
    /// [`TaskHandle`](crate::TaskHandle), a
    /// [`BlockingHandle`](crate::BlockingHandle) or a clone of a run's
    /// [`Context`](crate::Context) kept alive keeps its row's whole block
    /// (a few kilobytes), as does a row in it that never finishes (a declared
    /// service, a task that runs for ever). An evicted row's metric handles
    /// are dropped with it; a metrics recorder may still keep the series of
    /// its label.
    ///
    /// [`Supervisor::spawn`]: crate::Supervisor::spawn
    /// [`Supervisor::spawn_blocking`]: crate::Supervisor::spawn_blocking
    /// [`Supervisor::spawn_oneshot`]: crate::Supervisor::spawn_oneshot
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sup = supervisor::Builder::new()
    ///     .only(Vec::<String>::new())
    ///     .retain_finished(2)
    ///     .start()?;
    /// for i in 0..5 {
    ///     let job = sup.spawn_oneshot(format!("report-{i}"), move |_ctx| async move { i });
    ///     assert_eq!(job.join().await?, i);
    /// }
    /// let names: Vec<String> = sup.snapshot().iter().map(|row| row.name.to_string()).collect();
    /// assert_eq!(names, ["report-3", "report-4"]);
    /// # Ok(()) }
    /// ```
    pub fn retain_finished(mut self, n: usize) -> Self {
        self.retain_finished = n;
        self
    }

    /// Shuts the supervisor down when more than `max` restarts (all
    /// services together, counted as each restart starts, as the
    /// `supervisor.restarts` metric counts them) happen within any window of
    /// length `within`. `run()` and `shutdown()` then return
    /// [`Error::RestartIntensity`], naming the services that restarted most.
    /// Default: no limit.
    ///
    /// A crash loop that backoff alone would stretch over minutes ends the
    /// program at once, so that systemd or Kubernetes restart it whole.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use supervisor::{Builder, Error, RestartPolicy, TaskDescriptor};
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// let sup = Builder::new()
    ///     .only(Vec::<String>::new())
    ///     .restart_intensity(3, Duration::from_secs(60))
    ///     .start()
    ///     .unwrap();
    /// let policy = RestartPolicy::Backoff { max: 100, base_delay: Duration::from_secs(1) };
    /// sup.spawn(TaskDescriptor::new("flapping", policy, |_ctx| async {
    ///     Err::<(), _>("refused")
    /// }))
    /// .unwrap();
    /// let result = sup.run().await; // ends on the fourth restart
    /// assert!(matches!(result, Err(Error::RestartIntensity { max: 3, .. })));
    /// # }
    /// ```
    pub fn restart_intensity(mut self, max: u32, within: Duration) -> Self {
        self.intensity = Some((max, within));
        self
    }

    /// Replaces the declared restart policy of the service `name`, e.g. from
    /// configuration. An unknown name is an [`Error::UnknownServices`] from
    /// `start`/`run`, before anything starts.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use supervisor::{supervised, Builder, RestartPolicy};
    ///
    /// #[supervised(name = "fetcher", restart = backoff(5, "1s"))]
    /// async fn fetcher() -> Result<(), String> {
    ///     Err("upstream is down".into())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread", start_paused = true)]
    /// # async fn main() {
    /// // In tests, fail fast instead:
    /// let sup = Builder::new()
    ///     .only(["fetcher"])
    ///     .restart("fetcher", RestartPolicy::Never)
    ///     .start()
    ///     .unwrap();
    /// sup.wait().await;
    /// assert_eq!(sup.snapshot()[0].restarts, 0);
    /// # }
    /// ```
    pub fn restart(mut self, name: impl AsRef<str>, policy: RestartPolicy) -> Self {
        self.policies.insert(name.as_ref().to_string(), policy);
        self
    }

    /// Gives services a value of type `T`: each `State<T>` parameter of a
    /// `#[supervised]` function receives a clone of it on every run, and
    /// [`Context::state`](crate::Context::state) returns one. A second value
    /// of the same type replaces the first.
    ///
    /// `start` and `run` check, before anything starts, that every selected
    /// service's `State<T>` types were given.
    ///
    /// # Examples
    ///
    /// ```
    /// use supervisor::{supervised, Builder, State};
    ///
    /// #[derive(Clone)]
    /// struct Greeting(&'static str);
    ///
    /// #[supervised(name = "greeter")]
    /// async fn greeter(State(greeting): State<Greeting>) {
    ///     assert_eq!(greeting.0, "hello");
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::Error> {
    /// let sup = Builder::new().only(["greeter"]).state(Greeting("hello")).start()?;
    /// sup.wait().await;
    /// sup.shutdown(std::time::Duration::from_secs(1)).await
    /// # }
    /// ```
    pub fn state<T: Clone + Send + Sync + 'static>(mut self, value: T) -> Self {
        self.states.insert(value);
        self
    }

    /// Whether [`Supervisor::run`] tells systemd how the program is doing
    /// (default `true`; it does so only where systemd set `NOTIFY_SOCKET`).
    ///
    /// Under a unit with `Type=notify`, `run` sends `READY=1` the first time
    /// [`Supervisor::is_ready`] holds, a `STATUS=` line with the counts
    /// (`12 running, 1 restarting, 0 failed`) when they change, at most once
    /// a second, `STOPPING=1` with `EXTEND_TIMEOUT_USEC` (the shutdown
    /// timeout and a margin) when the shutdown begins, and, when the unit
    /// has `WatchdogSec=` (`WATCHDOG_USEC` set for this process), `WATCHDOG=1`
    /// every half of that interval. The pings come from `run`'s own loop, so
    /// a supervisor that stops turning stops pinging and systemd restarts it.
    ///
    /// `false` sends nothing, e.g. for a program that speaks to systemd
    /// itself. Without the crate's `systemd` feature (or off unix) nothing is
    /// ever sent and this setting changes nothing. See the README's
    /// "Deploying" section for a unit file.
    ///
    /// # Examples
    ///
    /// ```
    /// use supervisor::{supervised, Builder};
    ///
    /// #[supervised(name = "once")]
    /// async fn once() {}
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::Error> {
    /// // This program reports to systemd on its own.
    /// Builder::new().only(["once"]).systemd(false).run().await
    /// # }
    /// ```
    pub fn systemd(mut self, yes: bool) -> Self {
        self.systemd = yes;
        self
    }

    /// Serves the health and status endpoints of [`http::router`](crate::http::router)
    /// (`/livez`, `/readyz`, `/status`) on `addr`, from the supervisor itself.
    ///
    /// [`start`](Builder::start) binds the address before any service
    /// starts (port 0 picks a free port; [`Supervisor::health_addr`] tells
    /// which), and serves on the supervisor's runtime: the endpoints keep
    /// answering while services restart, say `503` from the moment the
    /// shutdown begins, and go away last, once every service has ended.
    ///
    /// # Errors
    ///
    /// `start` (and `run`) return [`Error::HealthBind`] naming the address
    /// when it cannot be bound (in use, not an address of this machine, a
    /// privileged port); nothing is started then.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::net::SocketAddr;
    /// use tokio::io::{AsyncReadExt, AsyncWriteExt};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let any_port: SocketAddr = "127.0.0.1:0".parse()?;
    /// let sup = supervisor::Builder::new()
    ///     .only(Vec::<String>::new())
    ///     .serve_health(any_port)
    ///     .start()?;
    /// let addr = sup.health_addr().expect("bound by start()");
    ///
    /// let mut stream = tokio::net::TcpStream::connect(addr).await?;
    /// stream.write_all(b"GET /livez HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
    /// let mut response = String::new();
    /// stream.read_to_string(&mut response).await?;
    /// assert!(response.starts_with("HTTP/1.1 200"), "{response}");
    /// assert!(response.ends_with("ok"), "{response}");
    ///
    /// // The address is taken now: a second supervisor cannot have it.
    /// let err = supervisor::Builder::new().serve_health(addr).start().unwrap_err();
    /// assert!(err.to_string().contains(&addr.to_string()), "{err}");
    /// sup.shutdown(std::time::Duration::from_secs(1)).await?;
    /// # Ok(()) }
    /// ```
    #[cfg(feature = "http")]
    #[cfg_attr(docsrs, doc(cfg(feature = "http")))]
    pub fn serve_health(mut self, addr: std::net::SocketAddr) -> Self {
        self.health = Some(addr);
        self
    }

    /// Starts the services and runs until a signal, the token, or no service
    /// is active; then shuts down. What [`run_all`](crate::run_all) does.
    ///
    /// Unless [`handle_signals(false)`](Builder::handle_signals), the
    /// SIGINT/SIGTERM handlers are installed after the checks and before the
    /// first service starts: a signal that arrives once any service runs
    /// always gives the graceful shutdown, and one that arrives between the
    /// installation and the wait is not lost. (A signal that comes before the
    /// handlers, while nothing has started yet, still has its default effect.)
    ///
    /// # Errors
    ///
    /// What [`start`](Builder::start) returns, before anything starts and
    /// before any handler is installed; otherwise what
    /// [`Supervisor::run`] returns.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::sync::atomic::{AtomicBool, Ordering};
    /// use supervisor::{supervised, Builder};
    ///
    /// static MIGRATED: AtomicBool = AtomicBool::new(false);
    ///
    /// #[supervised(name = "migrate")]
    /// async fn migrate() -> std::io::Result<()> {
    ///     MIGRATED.store(true, Ordering::SeqCst);
    ///     Ok(())
    /// }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::Error> {
    /// // Returns once nothing is active any more: here, when `migrate` is
    /// // done. A long-running program returns after SIGINT/SIGTERM instead.
    /// Builder::new().only(["migrate"]).run().await?;
    /// assert!(MIGRATED.load(Ordering::SeqCst));
    /// # Ok(()) }
    /// ```
    pub async fn run(self) -> Result<(), Error> {
        let checked = self.check()?;
        let signals = if checked.config.handle_signals {
            Signals::install()
        } else {
            None
        };
        checked.launch().run_with(signals).await
    }

    /// Starts the selected services (in order of name) and returns the handle.
    /// Installs no signal handler ([`Supervisor::run`] does).
    ///
    /// # Errors
    ///
    /// Two services declared under one name ([`Error::DuplicateNames`], with
    /// both source locations), a name in [`only`](Builder::only) that no
    /// service has ([`Error::UnknownServices`]), no tokio runtime
    /// ([`Error::NoRuntime`]), or a health address that cannot be bound
    /// ([`Error::HealthBind`]). Nothing is started then.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use supervisor::{supervised, Builder, Context, Error};
    ///
    /// #[supervised(name = "cache")]
    /// async fn cache(ctx: Context) {
    ///     ctx.cancelled().await;
    /// }
    ///
    /// fn main() -> Result<(), Error> {
    ///     // Outside a tokio runtime there is nothing to run services on.
    ///     assert!(matches!(Builder::new().start(), Err(Error::NoRuntime)));
    ///
    ///     let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    ///     runtime.block_on(async {
    ///         let sup = Builder::new().start()?;
    ///         assert_eq!(sup.active_count(), 1);
    ///         // ... the program's work, reading `sup.snapshot()` as it likes ...
    ///         sup.shutdown(Duration::from_secs(1)).await
    ///     })
    /// }
    /// ```
    ///
    /// Two services under one name stop everything before it starts:
    ///
    /// ```
    /// use supervisor::{supervised, Builder, Error};
    ///
    /// #[supervised(name = "sync")]
    /// async fn sync_orders() {}
    ///
    /// #[supervised(name = "sync")]
    /// async fn sync_invoices() {}
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let err = Builder::new().start().unwrap_err();
    /// let Error::DuplicateNames { duplicates } = &err else { panic!("{err}") };
    /// assert_eq!(duplicates[0].name, "sync");
    /// assert_eq!(duplicates[0].locations.len(), 2, "both declarations: {err}");
    /// # }
    /// ```
    pub fn start(self) -> Result<Supervisor, Error> {
        Ok(self.check()?.launch())
    }

    /// Every check `start` makes (and the health address bound), with
    /// nothing started yet.
    fn check(self) -> Result<Checked, Error> {
        let runtime = Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let plan = plan(registry().collect(), self.only.as_deref(), &self.states)?;
        check_policies(&self.policies)?;
        #[cfg(feature = "http")]
        let health = self.health.map(crate::http::bind).transpose()?;
        let root = self
            .token
            .as_ref()
            .map_or_else(CancellationToken::new, CancellationToken::child_token);
        let config = Config {
            runtime: OnceLock::new(),
            handle_signals: self.handle_signals,
            states: Arc::new(self.states),
            intensity: self.intensity,
            systemd: self.systemd,
            #[cfg(feature = "http")]
            health: health.as_ref().map(|(_, addr)| *addr),
        };
        Ok(Checked {
            runtime,
            plan,
            config,
            root,
            shutdown_timeout: self.shutdown_timeout,
            retain_finished: self.retain_finished,
            policies: self.policies,
            #[cfg(feature = "http")]
            health: health.map(|(listener, _)| listener),
        })
    }
}

/// A builder whose checks passed: what to start, on which runtime, and how.
struct Checked {
    runtime: Handle,
    plan: Plan,
    config: Config,
    root: CancellationToken,
    shutdown_timeout: Duration,
    retain_finished: usize,
    policies: BTreeMap<String, RestartPolicy>,
    #[cfg(feature = "http")]
    health: Option<tokio::net::TcpListener>,
}

impl Checked {
    /// Creates the supervisor and starts the services; cannot fail.
    fn launch(self) -> Supervisor {
        let shared = Shared::new(self.config, self.root, self.shutdown_timeout);
        shared.retain_finished(self.retain_finished);
        stop::adopt(&shared, self.runtime.clone());
        start_declared(&shared, &self.runtime, self.plan, &self.policies);
        let sup = Supervisor { shared };
        #[cfg(feature = "http")]
        if let Some(listener) = self.health {
            crate::http::serve(&self.runtime, listener, sup.clone());
        }
        sup
    }
}

/// Registers every planned service (so that each can find the rows of its
/// dependencies), records who waits for whom, then spawns them.
fn start_declared(
    shared: &Arc<Shared>,
    runtime: &Handle,
    plan: Plan,
    policies: &BTreeMap<String, RestartPolicy>,
) {
    let mut leases = Vec::with_capacity(plan.services.len());
    for planned in &plan.services {
        let spec = planned.spec;
        // A service that waits for others shows `Queued` meanwhile.
        let status = if planned.after.is_empty() {
            Status::Running
        } else {
            Status::Queued
        };
        let role = Role::Declared(spec.readiness());
        match Lease::take(shared, &Arc::from(spec.name()), status, OnName::Share, role) {
            Ok(lease) => leases.push(lease),
            // The token was cancelled before we got here: start no more.
            Err(_) => break,
        }
    }
    let nodes = leases
        .iter()
        .zip(&plan.services)
        .map(|(lease, planned)| {
            let stop = (!planned.dependants.is_empty()).then(CancellationToken::new);
            if let Some(stop) = &stop {
                lease::set_ordered_stop(lease.row(), stop.clone());
            }
            Node {
                row: lease.row().clone(),
                after: planned.after.clone(),
                dependants: planned.dependants.clone(),
                stop,
                every: planned.spec.every(),
            }
        })
        .collect();
    let _ = shared.declared.set(Declared { nodes });
    for (at, (lease, planned)) in leases.into_iter().zip(plan.services).enumerate() {
        let spec = planned.spec;
        let place = Place {
            node: u32::try_from(at).unwrap_or(u32::MAX),
            waits: !planned.after.is_empty(),
            ordered: !planned.dependants.is_empty(),
            critical: spec.is_critical(),
            periodic: spec.every().is_some(),
        };
        let work = Work::Declared {
            entry: spec.entry(),
            place,
        };
        let policy = policies
            .get(spec.name())
            .copied()
            .unwrap_or_else(|| spec.restart());
        service::launch(runtime, shared, lease, work, policy);
    }
}

/// Every name given to [`Builder::restart`] is a declared service's.
fn check_policies(policies: &BTreeMap<String, RestartPolicy>) -> Result<(), Error> {
    let known: BTreeSet<&str> = registry().map(|spec| spec.name()).collect();
    let unknown: Vec<String> = policies
        .keys()
        .filter(|name| !known.contains(name.as_str()))
        .cloned()
        .collect();
    if unknown.is_empty() {
        Ok(())
    } else {
        Err(Error::UnknownServices {
            unknown,
            known: known.into_iter().map(str::to_string).collect(),
        })
    }
}
