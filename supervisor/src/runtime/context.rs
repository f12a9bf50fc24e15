//! The handle a service receives: its name, its run number, and the signal to stop.

use std::fmt;
use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;

use tokio_util::sync::CancellationToken;

use super::lease;
use super::row::InstanceId;
use super::shared::Shared;
use super::table::RowRef;

/// What a running service knows about itself: its name, which run this is,
/// and whether the supervisor has asked it to stop.
///
/// A service that takes a `Context` is *cooperative*: at shutdown it is told
/// (through [`cancelled`](Context::cancelled) / [`is_cancelled`](Context::is_cancelled))
/// and left to clean up until the shutdown timeout. A service without one is
/// dropped at once (async) or left running until the timeout (blocking).
///
/// `Context` is cheap to clone, `Send` and `Sync`.
///
/// # Examples
///
/// ```
/// use std::time::Duration;
/// use supervisor::{supervised, Context};
///
/// #[supervised(name = "poller", restart = backoff(5, "100ms"))]
/// async fn poller(ctx: Context) -> std::io::Result<()> {
///     loop {
///         tokio::select! {
///             () = ctx.cancelled() => return Ok(()), // clean up, then return
///             () = tokio::time::sleep(Duration::from_secs(1)) => {
///                 tracing::info!(service = ctx.name(), run = ctx.attempt(), "poll");
///             }
///         }
///     }
/// }
/// ```
///
/// In a unit test, call the function directly with a detached context:
///
/// ```
/// # use supervisor::Context;
/// # async fn poller(ctx: Context) -> std::io::Result<()> { ctx.cancelled().await; Ok(()) }
/// use supervisor::CancellationToken;
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() {
/// let stop = CancellationToken::new();
/// let ctx = Context::detached("poller", stop.clone());
/// let run = tokio::spawn(poller(ctx));
/// stop.cancel();
/// assert!(run.await.unwrap().is_ok());
/// # }
/// ```
pub struct Context {
    attempt: u32,
    /// Whether this context may outlive the run's own future (a clone, or a
    /// blocking run's thread): then it must look at the row, since an abort
    /// does not drop it.
    detachable: bool,
    /// Whether this run's service is one others depend on: it then watches
    /// its own stop token, cancelled at shutdown after them.
    ordered: bool,
    source: Source,
}

/// What a context watches.
///
/// A supervised context shares the supervisor's state rather than holding a
/// token of its own: cloning or polling a `CancellationToken` takes its
/// mutex, and 100,000 services would all take the same one. It also knows
/// its instance's row (which holds the name), so that an abort or a
/// replacement reaches the run: a per-run token is made only when asked for
/// ([`Context::token`]) or when a detachable context waits to be cancelled.
///
/// Every run's future holds one, so it is kept at 32 bytes.
enum Source {
    Supervisor {
        shared: Arc<Shared>,
        row: RowRef,
        instance: InstanceId,
    },
    Detached {
        name: Arc<str>,
        token: CancellationToken,
    },
}

impl Clone for Context {
    fn clone(&self) -> Self {
        let source = match &self.source {
            Source::Supervisor {
                shared,
                row,
                instance,
            } => Source::Supervisor {
                shared: Arc::clone(shared),
                row: row.clone(),
                instance: *instance,
            },
            Source::Detached { name, token } => Source::Detached {
                name: Arc::clone(name),
                token: token.clone(),
            },
        };
        Context {
            attempt: self.attempt,
            // A clone can be moved into a task that outlives the run.
            detachable: true,
            ordered: self.ordered,
            source,
        }
    }
}

impl Context {
    /// The context of one run of `instance`, whose row is `row`.
    pub(crate) fn new(
        attempt: u32,
        shared: Arc<Shared>,
        row: RowRef,
        instance: InstanceId,
        ordered: bool,
    ) -> Self {
        Context {
            attempt,
            detachable: false,
            ordered,
            source: Source::Supervisor {
                shared,
                row,
                instance,
            },
        }
    }

    /// Marks a context that outlives its run's future (a blocking run's
    /// thread is not stopped by an abort).
    pub(crate) fn detachable(mut self) -> Self {
        self.detachable = true;
        self
    }

    /// A context tied to no supervisor, cancelled when `token` is: for calling
    /// a service function directly, e.g. from a unit test.
    ///
    /// # Examples
    ///
    /// ```
    /// use supervisor::Context;
    /// use supervisor::CancellationToken;
    ///
    /// let token = CancellationToken::new();
    /// let ctx = Context::detached("worker", token.clone());
    /// assert_eq!(ctx.name(), "worker");
    /// assert_eq!(ctx.attempt(), 0);
    /// assert!(!ctx.is_cancelled());
    /// token.cancel();
    /// assert!(ctx.is_cancelled());
    /// ```
    pub fn detached(name: impl Into<Arc<str>>, token: CancellationToken) -> Self {
        Context {
            attempt: 0,
            detachable: false,
            ordered: false,
            source: Source::Detached {
                name: name.into(),
                token,
            },
        }
    }

    /// A clone of the value of type `T` given to
    /// [`Builder::state`](crate::Builder::state): the same value a
    /// `State<T>` parameter receives. `None` for a detached context, or when
    /// no value of that type was given.
    ///
    /// # Examples
    ///
    /// ```
    /// use supervisor::{Builder, Context, RestartPolicy, TaskDescriptor};
    ///
    /// #[derive(Clone)]
    /// struct Config { greeting: &'static str }
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::Error> {
    /// let sup = Builder::new()
    ///     .only(Vec::<String>::new())
    ///     .state(Config { greeting: "hello" })
    ///     .start()?;
    /// let job = sup.spawn_oneshot("greeter", |ctx: Context| async move {
    ///     ctx.state::<Config>().map(|config| config.greeting)
    /// });
    /// assert_eq!(job.join().await.unwrap(), Some("hello"));
    /// assert!(Context::detached("test", Default::default()).state::<Config>().is_none());
    /// # Ok(()) }
    /// ```
    pub fn state<T: Clone + Send + Sync + 'static>(&self) -> Option<T> {
        match &self.source {
            Source::Supervisor { shared, .. } => shared.config.states.get::<T>(),
            Source::Detached { .. } => None,
        }
    }

    /// Marks this run ready (for `ready = manual` services): services that
    /// start `after` this one may start now, and
    /// [`Supervisor::is_ready`](crate::Supervisor::is_ready) counts it.
    /// Idempotent; a restart starts not ready again. Does nothing on a
    /// detached context.
    ///
    /// # Examples
    ///
    /// ```
    /// use supervisor::{Builder, Context, RestartPolicy, TaskDescriptor};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::Error> {
    /// let sup = Builder::new().only(Vec::<String>::new()).start()?;
    /// sup.spawn(TaskDescriptor::new("listener", RestartPolicy::Never, |ctx: Context| async move {
    ///     // bind a socket, load a cache, ... then:
    ///     ctx.ready();
    ///     ctx.cancelled().await;
    ///     Ok::<(), std::io::Error>(())
    /// }))?;
    /// tokio::task::yield_now().await;
    /// assert!(sup.snapshot()[0].ready);
    /// # sup.shutdown(std::time::Duration::from_secs(1)).await }
    /// ```
    pub fn ready(&self) {
        if let Source::Supervisor {
            shared,
            row,
            instance,
        } = &self.source
        {
            lease::mark_ready(shared, row, *instance);
        }
    }

    /// The supervisor's shared state, for a supervised context.
    pub(crate) fn shared(&self) -> Option<&Arc<Shared>> {
        match &self.source {
            Source::Supervisor { shared, .. } => Some(shared),
            Source::Detached { .. } => None,
        }
    }

    /// The service's name.
    pub fn name(&self) -> &str {
        match &self.source {
            Source::Supervisor { row, .. } => &row.name,
            Source::Detached { name, .. } => name,
        }
    }

    /// Which run of the service this is, counted over its lifetime from 0.
    pub fn attempt(&self) -> u32 {
        self.attempt
    }

    /// Completes when the service is asked to stop: shutdown has begun, or
    /// this run was aborted or replaced.
    ///
    /// # Cancel safety
    ///
    /// Cancel safe: dropping the future and calling again loses nothing,
    /// which makes it the natural first branch of a `tokio::select!`.
    pub async fn cancelled(&self) {
        match self.watched() {
            Some(token) => token.cancelled().await,
            None => self.run_cancelled().await,
        }
    }

    /// The token a `cancelled()` can wait on directly: the detached one, or
    /// the supervisor's for a run's own context (its future is dropped when
    /// the run is aborted, so only the shutdown needs watching).
    fn watched(&self) -> Option<&CancellationToken> {
        match &self.source {
            Source::Detached { token, .. } => Some(token),
            Source::Supervisor { shared, .. } if !self.detachable && !self.ordered => {
                Some(shared.root())
            }
            Source::Supervisor { .. } => None,
        }
    }

    /// A detachable context waits for its run's own token, made on demand.
    /// Boxed, so that this rare path does not grow every run's future.
    fn run_cancelled(&self) -> Pin<Box<dyn Future<Output = ()> + Send + '_>> {
        let token = match &self.source {
            Source::Supervisor {
                shared,
                row,
                instance,
            } => lease::run_token(shared, row, *instance),
            Source::Detached { token, .. } => Some(token.clone()),
        };
        Box::pin(async move {
            // `None`: the run has ended already.
            if let Some(token) = token {
                token.cancelled().await;
            }
        })
    }

    /// Whether the service has been asked to stop (see
    /// [`cancelled`](Context::cancelled)); for loops that cannot await, such
    /// as a `blocking` service.
    pub fn is_cancelled(&self) -> bool {
        match &self.source {
            Source::Detached { token, .. } => token.is_cancelled(),
            Source::Supervisor {
                shared,
                row,
                instance,
            } => {
                let told = if self.ordered {
                    lease::ordered_stop(row).is_none_or(|stop| stop.is_cancelled())
                } else {
                    shared.is_stopping()
                };
                told || (self.detachable && !lease::is_active(row, *instance))
            }
        }
    }

    /// A child of the token this context watches, cancelled together with it
    /// (at shutdown, or when this run is aborted or replaced), for libraries
    /// that take a [`CancellationToken`]. Cancelling the child yourself
    /// affects only its holders, not the service.
    ///
    /// # Examples
    ///
    /// ```
    /// use supervisor::Context;
    /// use supervisor::CancellationToken;
    ///
    /// let parent = CancellationToken::new();
    /// let ctx = Context::detached("svc", parent.clone());
    /// let child = ctx.token();
    /// child.cancel();
    /// assert!(!ctx.is_cancelled(), "cancelling the child does not stop the service");
    /// let child = ctx.token();
    /// parent.cancel();
    /// assert!(child.is_cancelled());
    /// ```
    pub fn token(&self) -> CancellationToken {
        match &self.source {
            Source::Detached { token, .. } => token.child_token(),
            Source::Supervisor {
                shared,
                row,
                instance,
            } => match lease::run_token(shared, row, *instance) {
                Some(token) => token.child_token(),
                // The run has ended: what it hands out is cancelled already.
                None => {
                    let token = CancellationToken::new();
                    token.cancel();
                    token
                }
            },
        }
    }
}

impl Context {
    /// Runs `fut` until it completes (`Some` with its output) or this
    /// context is cancelled (`None`: `fut` is dropped where it stands).
    ///
    /// This is the one line that makes code which never looks at its
    /// `Context` (a library call, a loop over a stream) stop as soon as the
    /// shutdown begins or the run is aborted, rather than at the shutdown
    /// deadline. Since `fut` is dropped mid-way, use it only where that is
    /// safe; code that must clean up should watch
    /// [`cancelled`](Context::cancelled) itself.
    ///
    /// Cancellation is checked first: on an already cancelled context `fut`
    /// is never polled.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    /// use supervisor::{RestartPolicy, Status, TaskDescriptor};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::Error> {
    /// let sup = supervisor::Builder::new().only(Vec::<String>::new()).start()?;
    /// sup.spawn(TaskDescriptor::new("forever", RestartPolicy::Never, |ctx| async move {
    ///     // Knows nothing of cancellation; stopped at once all the same.
    ///     let work = std::future::pending::<()>();
    ///     assert!(ctx.run_until_cancelled(work).await.is_none());
    ///     Ok::<(), std::io::Error>(())
    /// }))?;
    /// tokio::task::yield_now().await;
    /// sup.shutdown(Duration::from_secs(30)).await?; // returns at once
    /// assert_eq!(sup.snapshot()[0].status, Status::Stopped);
    /// # Ok(()) }
    /// ```
    ///
    /// # Cancel safety
    ///
    /// As cancel safe as `fut`: dropping the returned future drops `fut`.
    pub async fn run_until_cancelled<F>(&self, fut: F) -> Option<F::Output>
    where
        F: Future,
    {
        tokio::select! {
            biased;
            () = self.cancelled() => None,
            output = fut => Some(output),
        }
    }
}

impl fmt::Debug for Context {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("Context")
            .field("name", &self.name())
            .field("attempt", &self.attempt)
            .field("cancelled", &self.is_cancelled())
            .finish()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Every run's future holds a `Context`: at 100,000 services each byte
    /// counts a hundred thousand times.
    #[test]
    fn a_context_stays_small() {
        let size = std::mem::size_of::<Context>();
        assert!(size <= 40, "Context grew to {size} bytes");
    }
}
