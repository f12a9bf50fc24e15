//! Configuring and starting a supervisor.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use crate::error::{Duplicate, Error};
use crate::runtime::lease::OnName;
use crate::runtime::service::{Instance, Work};
use crate::runtime::shared::Shared;
use crate::runtime::stop;
use crate::runtime::table::DEFAULT_RETAIN_FINISHED;
use crate::spec::{registry, ServiceSpec};
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
    retain_finished: usize,
}

impl Default for Builder {
    fn default() -> Self {
        Builder::new()
    }
}

impl Builder {
    /// Every declared service, a 10 s shutdown timeout, SIGINT/SIGTERM handled by `run`.
    pub fn new() -> Self {
        Builder {
            shutdown_timeout: DEFAULT_SHUTDOWN_TIMEOUT,
            only: None,
            handle_signals: true,
            token: None,
            retain_finished: DEFAULT_RETAIN_FINISHED,
        }
    }

    /// How long services get to finish their cleanup once shutdown begins,
    /// before what is still running is aborted.
    pub fn shutdown_timeout(mut self, timeout: Duration) -> Self {
        self.shutdown_timeout = timeout;
        self
    }

    /// Starts only the services with these names (an empty list starts none).
    /// A name that no service has makes `start`/`run` fail before anything starts.
    pub fn only<I, S>(mut self, names: I) -> Self
    where
        I: IntoIterator<Item = S>,
        S: AsRef<str>,
    {
        self.only = Some(names.into_iter().map(|n| n.as_ref().to_string()).collect());
        self
    }

    /// Whether `run` shuts down on SIGINT/SIGTERM (default `true`). `start`
    /// never installs handlers.
    pub fn handle_signals(mut self, yes: bool) -> Self {
        self.handle_signals = yes;
        self
    }

    /// An external trigger: cancelling `token` starts the shutdown. The
    /// supervisor's own token is a child of it.
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

    /// Starts the services and runs until a signal, the token, or no service
    /// is active; then shuts down. What [`run_all`](crate::run_all) does.
    pub async fn run(self) -> Result<(), Error> {
        self.start()?.run().await
    }

    /// Starts the selected services (in order of name) and returns the handle.
    /// Installs no signal handler.
    ///
    /// # Errors
    ///
    /// Two services declared under one name ([`Error::DuplicateNames`], with
    /// both source locations), a name in [`only`](Builder::only) that no
    /// service has ([`Error::UnknownServices`]), or no tokio runtime
    /// ([`Error::NoRuntime`]). Nothing is started then.
    pub fn start(self) -> Result<Supervisor, Error> {
        let runtime = Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let specs = select(registry().collect(), self.only.as_deref())?;
        let root = self
            .token
            .as_ref()
            .map_or_else(CancellationToken::new, CancellationToken::child_token);
        let shared = Shared::new(root, runtime, self.shutdown_timeout, self.handle_signals);
        shared.retain_finished(self.retain_finished);
        shared
            .config
            .runtime
            .spawn(stop::watch(Arc::clone(&shared)));
        for spec in specs {
            let started = Instance::start(
                &shared,
                Arc::from(spec.name()),
                Work::Declared(spec.entry()),
                spec.restart(),
                OnName::Share,
            );
            if started.is_err() {
                // The token was cancelled before we got here: start no more.
                break;
            }
        }
        Ok(Supervisor { shared })
    }
}

/// Checks the whole registry for duplicate names, then picks the services
/// named by `only` (all without it), sorted by name.
fn select(
    mut specs: Vec<&'static ServiceSpec>,
    only: Option<&[String]>,
) -> Result<Vec<&'static ServiceSpec>, Error> {
    specs.sort_by(|a, b| {
        (a.name(), a.file(), a.line(), a.column()).cmp(&(b.name(), b.file(), b.line(), b.column()))
    });
    let mut by_name: BTreeMap<&str, Vec<&ServiceSpec>> = BTreeMap::new();
    for spec in &specs {
        by_name.entry(spec.name()).or_default().push(spec);
    }
    let duplicates: Vec<Duplicate> = by_name
        .iter()
        .filter(|(_, specs)| specs.len() > 1)
        .map(|(name, specs)| Duplicate {
            name: (*name).to_string(),
            locations: specs.iter().map(|s| s.location()).collect(),
        })
        .collect();
    if !duplicates.is_empty() {
        return Err(Error::DuplicateNames { duplicates });
    }
    let Some(only) = only else {
        return Ok(specs);
    };
    let wanted: BTreeSet<&str> = only.iter().map(String::as_str).collect();
    let unknown: Vec<String> = wanted
        .iter()
        .filter(|name| !by_name.contains_key(*name))
        .map(|name| (*name).to_string())
        .collect();
    if !unknown.is_empty() {
        return Err(Error::UnknownServices {
            unknown,
            known: by_name.keys().map(|name| (*name).to_string()).collect(),
        });
    }
    specs.retain(|spec| wanted.contains(spec.name()));
    Ok(specs)
}
