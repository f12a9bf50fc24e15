//! The errors of the supervisor and of blocking jobs.

use std::fmt;
use std::net::SocketAddr;
use std::sync::Arc;

/// What went wrong, naming the services concerned.
///
/// `Debug` prints the same text as `Display`, because that is what a `main`
/// returning `Result<(), supervisor::Error>` shows when it exits with 1.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let err = supervisor::Builder::new().only(["no-such-service"]).start().unwrap_err();
/// assert!(matches!(err, supervisor::Error::UnknownServices { .. }));
/// assert!(err.to_string().contains("no-such-service"));
/// # }
/// ```
#[derive(Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Error {
    /// Two or more services were declared under the same name; nothing was started.
    DuplicateNames {
        /// Each name declared more than once.
        duplicates: Vec<Duplicate>,
    },
    /// [`Builder::only`](crate::Builder::only) named services that do not exist;
    /// nothing was started.
    UnknownServices {
        /// The names no service has.
        unknown: Vec<String>,
        /// The names that do exist, sorted.
        known: Vec<String>,
    },
    /// A service's `after = [...]` names a service that does not exist;
    /// nothing was started.
    UnknownDependency {
        /// The service whose `after` names it.
        service: String,
        /// The name no service has.
        dependency: String,
        /// The names that do exist, sorted.
        known: Vec<String>,
    },
    /// Services wait for each other in a circle; nothing was started.
    DependencyCycle {
        /// The cycle as a path that ends where it began: `["a", "b", "a"]`.
        path: Vec<String>,
    },
    /// A service takes a `State<T>` whose type was not given to
    /// [`Builder::state`](crate::Builder::state); nothing was started.
    MissingState {
        /// The service.
        service: String,
        /// The missing type (`std::any::type_name`).
        type_name: &'static str,
        /// The types that were given, sorted.
        given: Vec<&'static str>,
    },
    /// A `critical` service failed before shutdown began, so the supervisor
    /// shut down.
    CriticalFailed {
        /// The critical service.
        service: Arc<str>,
        /// Its failure.
        reason: String,
        /// Every service that did not stop cleanly, the critical one
        /// included.
        failures: Vec<ServiceFailure>,
    },
    /// More restarts than [`Builder::restart_intensity`](crate::Builder::restart_intensity)
    /// allows happened within its window, so the supervisor shut down.
    RestartIntensity {
        /// The most restarts allowed within `within`.
        max: u32,
        /// The window.
        within: std::time::Duration,
        /// The services that restarted in the window, most first, with how
        /// many times.
        restarted: Vec<(String, u32)>,
        /// Every service that did not stop cleanly.
        failures: Vec<ServiceFailure>,
    },
    /// Services failed, or were aborted by the shutdown timeout or a second signal.
    Services {
        /// One entry per service concerned, in order of first start.
        failures: Vec<ServiceFailure>,
    },
    /// A task could not be spawned because shutdown has begun.
    ShuttingDown {
        /// The task's name.
        name: Arc<str>,
    },
    /// The supervisor was started outside a tokio runtime.
    NoRuntime,
    /// A task's name is not one the attribute would accept: empty, or with
    /// whitespace or control characters. Nothing was started.
    InvalidName {
        /// The name as given.
        name: Arc<str>,
        /// What is wrong with it, e.g. "contains whitespace".
        reason: &'static str,
    },
    /// A task could not be spawned because the tokio runtime the supervisor
    /// was started in has shut down.
    RuntimeGone {
        /// The task's name.
        name: Arc<str>,
    },
    /// The address given to `Builder::serve_health` (feature `http`) could
    /// not be bound; nothing was started.
    HealthBind {
        /// The address as given.
        addr: SocketAddr,
        /// The operating system's reason, e.g. "Address already in use (os error 98)".
        reason: String,
    },
}

/// A name declared twice, with both source locations.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct Duplicate {
    /// The name.
    pub name: String,
    /// `file:line:column` of every declaration, in registry order.
    pub locations: Vec<String>,
}

/// How one service ended badly.
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub struct ServiceFailure {
    /// The service.
    pub name: Arc<str>,
    /// `Failed { reason }` or `Aborted`.
    pub status: crate::Status,
    /// For `Aborted`: whether a second signal forced it rather than the timeout.
    pub forced: bool,
}

impl fmt::Display for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Error::DuplicateNames { duplicates } => {
                f.write_str("service names must be unique, nothing was started:")?;
                for d in duplicates {
                    write!(
                        f,
                        "\n  `{}` is declared at {}",
                        d.name,
                        d.locations.join(" and at ")
                    )?;
                }
                Ok(())
            }
            Error::UnknownServices { unknown, known } => {
                write!(
                    f,
                    "no service is named {}; nothing was started (known services: {})",
                    quoted(unknown),
                    if known.is_empty() {
                        "none".to_string()
                    } else {
                        quoted(known)
                    }
                )
            }
            Error::UnknownDependency {
                service,
                dependency,
                known,
            } => write!(
                f,
                "`{service}` starts after `{dependency}`, but no service is named `{dependency}`; \
                 nothing was started (known services: {})",
                if known.is_empty() {
                    "none".to_string()
                } else {
                    quoted(known)
                }
            ),
            Error::DependencyCycle { path } => write!(
                f,
                "services wait for each other in a circle: {}; nothing was started \
                 (remove one name from an `after = [...]`)",
                path.join(" -> ")
            ),
            Error::MissingState {
                service,
                type_name,
                given,
            } => write!(
                f,
                "`{service}` takes `State<{type_name}>`, but no value of type `{type_name}` \
                 was given; nothing was started (call `Builder::new().state(value)` before \
                 `start()`/`run()`; `run_all()` gives no state; types given: {})",
                if given.is_empty() {
                    "none".to_string()
                } else {
                    given
                        .iter()
                        .map(|t| format!("`{t}`"))
                        .collect::<Vec<_>>()
                        .join(", ")
                }
            ),
            Error::Services { failures } => {
                let n = failures.len();
                write!(
                    f,
                    "{n} service{} did not stop cleanly:",
                    if n == 1 { "" } else { "s" }
                )?;
                write_failures(f, failures)
            }
            Error::CriticalFailed {
                service,
                reason,
                failures,
            } => {
                write!(
                    f,
                    "the critical service `{service}` failed, so everything was shut down: \
                     {reason}"
                )?;
                write_failures(f, failures)
            }
            Error::RestartIntensity {
                max,
                within,
                restarted,
                failures,
            } => {
                let most: Vec<String> = restarted
                    .iter()
                    .map(|(name, n)| format!("`{name}` {n}×"))
                    .collect();
                write!(
                    f,
                    "more than {max} restarts within {within:?}, so everything was shut down \
                     (restarted most: {})",
                    most.join(", ")
                )?;
                write_failures(f, failures)
            }
            Error::ShuttingDown { name } => {
                write!(f, "cannot start `{name}`: the supervisor is shutting down")
            }
            Error::InvalidName { name, reason } => write!(
                f,
                "cannot start a task named {name:?}: the name {reason} (a name is non-empty, \
                 without whitespace or control characters, as for `#[supervised(name = ...)]`)"
            ),
            Error::RuntimeGone { name } => write!(
                f,
                "cannot start `{name}`: the tokio runtime this supervisor was started in \
                 has shut down (start a new supervisor inside the current runtime)"
            ),
            Error::HealthBind { addr, reason } => write!(
                f,
                "cannot serve the health endpoints on {addr}: {reason}; nothing was started"
            ),
            Error::NoRuntime => f.write_str(
                "the supervisor must be started inside a tokio runtime \
                 (call it from `#[tokio::main]` or `Runtime::block_on`)",
            ),
        }
    }
}

/// One line per failure, each on a new line.
fn write_failures(f: &mut fmt::Formatter<'_>, failures: &[ServiceFailure]) -> fmt::Result {
    for failure in failures {
        write!(f, "\n  {failure}")?;
    }
    Ok(())
}

/// `` `a`, `b` `` for a list of names.
fn quoted(names: &[String]) -> String {
    names
        .iter()
        .map(|n| format!("`{n}`"))
        .collect::<Vec<_>>()
        .join(", ")
}

impl fmt::Display for ServiceFailure {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.status {
            crate::Status::Failed { reason } => write!(f, "`{}` failed: {reason}", self.name),
            crate::Status::Aborted if self.forced => write!(
                f,
                "`{}` was aborted by a second signal before it finished its cleanup",
                self.name
            ),
            crate::Status::Aborted => write!(
                f,
                "`{}` was aborted: still running when the shutdown timeout elapsed \
                 (make it return soon after `ctx.cancelled()`, or raise the timeout)",
                self.name
            ),
            other => write!(f, "`{}` ended {other}", self.name),
        }
    }
}

impl fmt::Debug for Error {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        fmt::Display::fmt(self, f)
    }
}

impl std::error::Error for Error {}

/// Why a [`BlockingHandle`](crate::BlockingHandle) has no value.
///
/// # Examples
///
/// ```
/// use supervisor::BlockingError;
///
/// let err = BlockingError::Panicked { message: "index out of bounds".into() };
/// assert_eq!(err.to_string(), "the job panicked: index out of bounds");
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[non_exhaustive]
pub enum BlockingError {
    /// The job panicked; `message` is the panic message.
    Panicked {
        /// The panic message.
        message: String,
    },
    /// The job was aborted (on request, by shutdown, or spawned after shutdown began).
    Aborted,
    /// The supervisor's runtime went away before the job reported.
    SupervisorDropped,
    /// The job was not started: its supervisor (made by `Supervisor::new()`)
    /// has no runtime yet, and it was spawned outside any.
    NoRuntime,
    /// The job's name is not one the attribute would accept (empty, or with
    /// whitespace or control characters): it was never started.
    InvalidName {
        /// The name as given.
        name: String,
        /// What is wrong with it, e.g. "contains whitespace".
        reason: &'static str,
    },
}

impl fmt::Display for BlockingError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            BlockingError::Panicked { message } => write!(f, "the job panicked: {message}"),
            BlockingError::Aborted => f.write_str("the job was aborted before it finished"),
            BlockingError::SupervisorDropped => {
                f.write_str("the supervisor went away before the job reported its result")
            }
            BlockingError::NoRuntime => f.write_str(
                "the job was not started: it was spawned outside a tokio runtime, \
                 and its supervisor has none yet",
            ),
            BlockingError::InvalidName { name, reason } => write!(
                f,
                "the job was not started: its name {name:?} {reason} (a name is non-empty, \
                 without whitespace or control characters)"
            ),
        }
    }
}

impl std::error::Error for BlockingError {}
