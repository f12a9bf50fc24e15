//! Configuring and starting a supervisor.

use std::sync::{Arc, OnceLock};
use std::time::Duration;

use tokio::runtime::Handle;
use tokio_util::sync::CancellationToken;

use crate::error::Error;
use crate::plan::{plan, Plan};
use crate::runtime::lease::{self, Lease, OnName, Role};
use crate::runtime::service::{Instance, Place, Work};
use crate::runtime::shared::{Config, Declared, Node, Shared};
use crate::runtime::stop;
use crate::spec::registry;
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
            states: States::default(),
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
        let plan = plan(registry().collect(), self.only.as_deref(), &self.states)?;
        let root = self
            .token
            .as_ref()
            .map_or_else(CancellationToken::new, CancellationToken::child_token);
        let config = Config {
            runtime: OnceLock::new(),
            handle_signals: self.handle_signals,
            states: Arc::new(self.states),
        };
        let shared = Shared::new(config, root, self.shutdown_timeout);
        stop::adopt(&shared, runtime.clone());
        start_declared(&shared, &runtime, plan);
        Ok(Supervisor { shared })
    }
}

/// Registers every planned service (so that each can find the rows of its
/// dependencies), records who waits for whom, then spawns them.
fn start_declared(shared: &Arc<Shared>, runtime: &Handle, plan: Plan) {
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
            }
        })
        .collect();
    let _ = shared.declared.set(Declared { nodes });
    for (at, (lease, planned)) in leases.into_iter().zip(plan.services).enumerate() {
        let place = Place {
            node: u32::try_from(at).unwrap_or(u32::MAX),
            waits: !planned.after.is_empty(),
            ordered: !planned.dependants.is_empty(),
        };
        let spec = planned.spec;
        let work = Work::Declared {
            entry: spec.entry(),
            place,
        };
        Instance::launch(runtime, lease, work, spec.restart());
    }
}
