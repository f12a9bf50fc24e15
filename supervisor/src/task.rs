//! The public types of the imperative API: what `spawn` takes and returns,
//! and the trait that hands blocking work to a supervisor.

use std::fmt;
use std::sync::Arc;

use crate::runtime::context::Context;
use crate::runtime::jobs::BlockingHandle;
use crate::runtime::lease;
use crate::runtime::row::InstanceId;
use crate::runtime::shared::Shared;
use crate::runtime::table::RowRef;
use crate::spec::{BoxError, Factory, RestartPolicy};

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
    /// Runs `f` like [`Supervisor::spawn_blocking`](crate::Supervisor::spawn_blocking).
    fn spawn_blocking_named(
        &self,
        name: Arc<str>,
        f: Box<dyn FnOnce() + Send>,
    ) -> BlockingHandle<()>;
}

/// An imperative task for [`Supervisor::spawn`](crate::Supervisor::spawn): a name, a restart policy,
/// and a factory called once per (re)start.
///
/// A descriptor is a value, to store, clone or build where the function's
/// type is not known; to start a known function, without a descriptor and
/// without a box per run, use [`Supervisor::spawn_fn`](crate::Supervisor::spawn_fn).
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
    ///
    /// Each run's future is boxed into the [`Factory`]'s return type;
    /// [`Supervisor::spawn_fn`](crate::Supervisor::spawn_fn) takes the same
    /// three arguments and runs the future unboxed.
    pub fn new<F, Fut, E>(name: impl Into<Arc<str>>, restart: RestartPolicy, f: F) -> Self
    where
        F: Fn(Context) -> Fut + Send + Sync + 'static,
        Fut: std::future::Future<Output = Result<(), E>> + Send + 'static,
        E: Into<BoxError> + 'static,
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

/// The handle of one instance started by [`Supervisor::spawn`](crate::Supervisor::spawn).
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
    row: RowRef,
    id: InstanceId,
}

impl TaskHandle {
    pub(crate) fn new(row: RowRef, id: InstanceId) -> Self {
        TaskHandle { row, id }
    }

    /// The task's name.
    pub fn name(&self) -> &str {
        &self.row.name
    }

    /// Aborts this instance (never a later one under the same name): it ends
    /// `Aborted` and is not restarted; its run's `Context` is cancelled at
    /// once. `false` when it had already ended.
    pub fn abort(&self) -> bool {
        // Reaches the supervisor through the row (the handle does not keep
        // it alive): gone with it, its tasks are gone too.
        match Shared::of(&self.row) {
            Some(shared) => lease::abort(&shared, &self.row, Some(self.id)),
            None => false,
        }
    }
}

impl fmt::Debug for TaskHandle {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("TaskHandle")
            .field("name", &self.row.name)
            .field("instance", &self.id)
            .finish()
    }
}
