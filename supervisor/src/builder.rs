//! Configuring and starting a supervisor.

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use crate::error::{Duplicate, Error};
use crate::service::{Instance, Work};
use crate::signal::Signals;
use crate::supervisor::{Inner, Supervisor};
use crate::{registry, ServiceSpec};

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
    /// never installs handlers; [`Builder::run`] installs them before the
    /// first service starts, [`Supervisor::run`] when it is called.
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
    pub async fn run(self) -> Result<(), Error> {
        let plan = self.plan()?;
        let signals = if plan.builder.handle_signals {
            Signals::install()
        } else {
            None
        };
        plan.launch().run_with(signals).await
    }

    /// Starts the selected services (in order of name) and returns the handle.
    /// Installs no signal handler ([`Supervisor::run`] does).
    ///
    /// # Errors
    ///
    /// Two services declared under one name ([`Error::DuplicateNames`], with
    /// both source locations), a name in [`only`](Builder::only) that no
    /// service has ([`Error::UnknownServices`]), or no tokio runtime
    /// ([`Error::NoRuntime`]). Nothing is started then.
    pub fn start(self) -> Result<Supervisor, Error> {
        Ok(self.plan()?.launch())
    }

    /// Every check `start` makes, with nothing started yet.
    fn plan(self) -> Result<Plan, Error> {
        let runtime = Handle::try_current().map_err(|_| Error::NoRuntime)?;
        let specs = select(registry().collect(), self.only.as_deref())?;
        Ok(Plan {
            builder: self,
            runtime,
            specs,
        })
    }
}

/// A checked builder: what to start, and on which runtime.
struct Plan {
    builder: Builder,
    runtime: Handle,
    specs: Vec<&'static ServiceSpec>,
}

impl Plan {
    /// Creates the supervisor and starts the services; cannot fail.
    fn launch(self) -> Supervisor {
        let Plan {
            builder,
            runtime,
            specs,
        } = self;
        let root = builder
            .token
            .as_ref()
            .map_or_else(CancellationToken::new, CancellationToken::child_token);
        let inner = Inner::new(
            root,
            runtime,
            builder.shutdown_timeout,
            builder.handle_signals,
        );
        inner.runtime.spawn(Arc::clone(&inner).watch());
        for spec in specs {
            let started = Instance::start(
                &inner,
                Arc::from(spec.name()),
                Work::from(spec.entry()),
                spec.restart(),
                false,
            );
            if started.is_err() {
                // The token was cancelled before we got here: start no more.
                break;
            }
        }
        Supervisor { inner }
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
