//! One-off jobs with a typed result: `spawn_blocking` and `spawn_oneshot`.
//!
//! A job has a row like any service (jobs may share a name; the row shows the
//! latest), counts as active until it ends, and obeys shutdown. It is never
//! restarted. Its result travels to its [`BlockingHandle`].

use std::fmt;
use std::future::Future;
use std::sync::Arc;

use tokio::sync::oneshot;
use tracing::Instrument;

use super::blocking::{run_timed, ClockHold};
use super::context::Context;
use super::lease::{self, Lease, OnName, Role};
use super::pool;
use super::row::{Aborter, InstanceId};
use super::shared::{spawn_named, Shared};
use super::stop;
use super::table::RowRef;
use crate::error::{BlockingError, Error};
use crate::name::check_name;
use crate::panic::{catch, CatchUnwind};
use crate::status::Status;
use tokio::task::AbortHandle;

type JobResult<R> = Result<R, BlockingError>;

/// The handle of a job started by [`Supervisor::spawn_blocking`](crate::Supervisor::spawn_blocking)
/// or [`Supervisor::spawn_oneshot`](crate::Supervisor::spawn_oneshot): its
/// result, or a way to abort it.
///
/// Dropping the handle does not stop the job.
///
/// A job's failure belongs to its handle: a panic shows as `Failed` in the
/// job's row and comes out of [`join`](BlockingHandle::join), but it does
/// not make the supervisor's `shutdown` or `run` return `Err`. A job still
/// running at the shutdown deadline does, as any service would.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sup = supervisor::Builder::new().only(Vec::<String>::new()).start()?;
/// let sum = sup.spawn_blocking("sum", || (1..=100u64).sum::<u64>());
/// assert_eq!(sum.join().await?, 5050);
/// # Ok(()) }
/// ```
pub struct BlockingHandle<R> {
    name: Arc<str>,
    /// The job's result; `Err` with what `join` says when it never started.
    result: Result<oneshot::Receiver<JobResult<R>>, BlockingError>,
    job: Option<JobRef>,
}

/// Where a started job lives, to abort it.
#[derive(Clone)]
struct JobRef {
    shared: Arc<Shared>,
    row: RowRef,
    id: InstanceId,
    aborter: AbortHandle,
}

impl<R> BlockingHandle<R> {
    /// A handle for a job that was never started: `join` returns `error`.
    fn refused(name: Arc<str>, error: BlockingError) -> Self {
        BlockingHandle {
            name,
            result: Err(error),
            job: None,
        }
    }

    /// The job's name.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sup = supervisor::Builder::new().start().unwrap();
    /// let jobs = vec![
    ///     sup.spawn_blocking("parse-a", || "17".parse::<u32>().unwrap()),
    ///     sup.spawn_blocking("parse-b", || "x7".parse::<u32>().unwrap()), // panics
    /// ];
    /// let mut failed = Vec::new();
    /// for job in jobs {
    ///     let name = job.name().to_string(); // `join` consumes the handle
    ///     if job.join().await.is_err() {
    ///         failed.push(name);
    ///     }
    /// }
    /// assert_eq!(failed, ["parse-b"]);
    /// # }
    /// ```
    pub fn name(&self) -> &str {
        &self.name
    }

    /// Waits for the job's value.
    ///
    /// # Errors
    ///
    /// [`BlockingError::Panicked`] with the panic message,
    /// [`BlockingError::Aborted`] when it was aborted (on request, by the
    /// shutdown deadline, or never started because shutdown had begun), and
    /// [`BlockingError::SupervisorDropped`] when its runtime went away first.
    ///
    /// # Cancel safety
    ///
    /// Not cancel safe: the handle is consumed, and dropping the future loses
    /// the result (not the job, which runs on).
    ///
    /// # Examples
    ///
    /// ```
    /// use supervisor::BlockingError;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sup = supervisor::Builder::new().start().unwrap();
    ///
    /// let lookup = sup.spawn_oneshot("lookup", |_ctx| async { 7 });
    /// assert_eq!(lookup.join().await, Ok(7));
    ///
    /// let write = sup.spawn_blocking("write", || -> u64 { panic!("disk full") });
    /// assert_eq!(
    ///     write.join().await,
    ///     Err(BlockingError::Panicked { message: "disk full".into() }),
    /// );
    /// # }
    /// ```
    pub async fn join(self) -> Result<R, BlockingError> {
        match self.result {
            Err(refused) => Err(refused),
            Ok(rx) => rx.await.unwrap_or(Err(BlockingError::SupervisorDropped)),
        }
    }

    /// The result if the job has ended, or the handle back if it has not.
    ///
    /// For a caller that has other work to do meanwhile and must not wait.
    ///
    /// # Examples
    ///
    /// ```
    /// use std::time::Duration;
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), supervisor::BlockingError> {
    /// let sup = supervisor::Builder::new().start().unwrap();
    /// let mut job = sup.spawn_blocking("checksum", || (1..=1000u64).sum::<u64>());
    /// let sum = loop {
    ///     match job.try_join() {
    ///         Ok(result) => break result?,
    ///         Err(pending) => {
    ///             job = pending;
    ///             // ... something else useful, such as drawing a progress bar ...
    ///             tokio::time::sleep(Duration::from_millis(1)).await;
    ///         }
    ///     }
    /// };
    /// assert_eq!(sum, 500_500);
    /// # Ok(()) }
    /// ```
    pub fn try_join(mut self) -> Result<Result<R, BlockingError>, Self> {
        let rx = match &mut self.result {
            Ok(rx) => rx,
            Err(refused) => return Ok(Err(refused.clone())),
        };
        match rx.try_recv() {
            Ok(result) => Ok(result),
            Err(oneshot::error::TryRecvError::Empty) => Err(self),
            Err(oneshot::error::TryRecvError::Closed) => Ok(Err(BlockingError::SupervisorDropped)),
        }
    }

    /// Whether [`join`](BlockingHandle::join) would return at once: the job
    /// has ended and its result is waiting to be taken, or it was never
    /// started (refused: shutdown had begun, or its name was invalid).
    ///
    /// For callers that poll, e.g. once per frame or per tick, instead of
    /// awaiting `join`.
    ///
    /// # Examples
    ///
    /// ```
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
    /// let sup = supervisor::Builder::new().only(Vec::<String>::new()).start()?;
    /// let job = sup.spawn_blocking("render", || "frame");
    /// while !job.is_finished() {
    ///     tokio::task::yield_now().await; // other work here
    /// }
    /// assert_eq!(job.join().await?, "frame");
    /// # Ok(()) }
    /// ```
    pub fn is_finished(&self) -> bool {
        match &self.result {
            // The job's side always sends before it goes (its `Drop` too),
            // so an empty channel means the job has not ended yet.
            Ok(rx) => !rx.is_empty(),
            Err(_) => true,
        }
    }

    /// Aborts this job (not a later one under the same name): it ends
    /// `Aborted`, which is not an error, and `join` returns
    /// [`BlockingError::Aborted`]. A running blocking closure cannot be
    /// stopped: it is detached and its value discarded; its slot is freed when
    /// it really returns. An async job from `spawn_oneshot` is dropped.
    ///
    /// # Examples
    ///
    /// ```
    /// use supervisor::{BlockingError, Status};
    ///
    /// # #[tokio::main(flavor = "current_thread")]
    /// # async fn main() {
    /// let sup = supervisor::Builder::new().start().unwrap();
    /// let (release, held) = std::sync::mpsc::channel::<()>();
    /// let job = sup.spawn_blocking("export", move || {
    ///     let _ = held.recv(); // stands for work that takes too long
    ///     "done"
    /// });
    /// while sup.snapshot()[0].status != Status::Running {
    ///     tokio::task::yield_now().await; // until it has a thread
    /// }
    ///
    /// job.abort();
    /// assert_eq!(sup.snapshot()[0].status, Status::Aborted);
    /// assert_eq!(job.join().await, Err(BlockingError::Aborted));
    /// assert!(sup.shutdown(std::time::Duration::from_secs(1)).await.is_ok(), "not an error");
    ///
    /// drop(release); // lets the detached thread return; its value is discarded
    /// # }
    /// ```
    pub fn abort(&self) {
        if let Some(job) = &self.job {
            lease::abort(&job.shared, &job.row, Some(job.id));
            // Also when the row had already let it go (its instance is out
            // of the active set, so its `join` says `Aborted`); aborting an
            // ended task is harmless.
            job.aborter.abort();
        }
    }
}

impl<R> fmt::Debug for BlockingHandle<R> {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.debug_struct("BlockingHandle")
            .field("name", &self.name)
            .field("started", &self.job.is_some())
            .finish_non_exhaustive()
    }
}

/// The job's side: its lease, and the sender of its result. Dropping it
/// unfinished (the task was aborted, or the runtime went away) still reports.
struct Job<R> {
    shared: Arc<Shared>,
    row: RowRef,
    id: InstanceId,
    /// `Some` until the job ends.
    lease: Option<Lease>,
    tx: Option<oneshot::Sender<JobResult<R>>>,
}

impl<R> Job<R> {
    /// Ends the job's lease with `status` (giving the active count back
    /// before the result can be observed, so a caller of `join` never sees
    /// its job still counted), then sends `result` to the handle.
    fn end(&mut self, status: Status, result: JobResult<R>) {
        let Some(lease) = self.lease.take() else {
            return;
        };
        let name = &self.row.name;
        match &status {
            Status::Failed { reason } => tracing::error!(service = %name, %reason, "job failed"),
            Status::Aborted if self.shared.shutdown.killing() => {
                tracing::warn!(service = %name, "job aborted at the shutdown deadline")
            }
            // An abort on request was logged where it was asked for.
            Status::Aborted => tracing::debug!(service = %name, "job aborted"),
            // Success is routine for jobs, which may run by the million:
            // debug, where a service's completion is info.
            _ => tracing::debug!(service = %name, "job ended: {status}"),
        }
        lease.end(status);
        if let Some(tx) = self.tx.take() {
            let _ = tx.send(result);
        }
    }

    /// The job returned `value`: `Completed`, or `Stopped` during shutdown.
    fn returned(&mut self, value: R) {
        let status = if self.shared.is_stopping() {
            Status::Stopped
        } else {
            Status::Completed
        };
        self.end(status, Ok(value));
    }

    fn panicked(&mut self, message: String) {
        self.end(
            Status::Failed {
                reason: message.clone(),
            },
            Err(BlockingError::Panicked { message }),
        );
    }

    /// Waits for the job's value (or panic message) and reports it; or, at
    /// the shutdown deadline, reports the job aborted.
    async fn settle(mut self, run: impl Future<Output = Result<R, String>>) {
        let shared = Arc::clone(&self.shared);
        tokio::select! {
            biased;
            result = run => match result {
                Ok(value) => self.returned(value),
                Err(message) => self.panicked(message),
            },
            () = shared.shutdown.kill.cancelled() => {
                self.end(Status::Aborted, Err(BlockingError::Aborted));
            }
        }
    }
}

impl<R> Drop for Job<R> {
    fn drop(&mut self) {
        if self.lease.is_some() {
            // Aborted by the kill scan (the shutdown deadline), on request, or
            // dropped with the runtime.
            // An abort on request or a replacement takes the instance out of
            // the active set before it fires; a runtime that goes away
            // drops the task with its instance still in it.
            let killed = self.shared.shutdown.killing();
            let requested = !lease::is_active(&self.row, self.id);
            let error = if killed || requested {
                BlockingError::Aborted
            } else {
                BlockingError::SupervisorDropped
            };
            self.end(Status::Aborted, Err(error));
        }
    }
}

/// Registers a job and spawns its task; a handle that reports why when the
/// job cannot start.
fn start_job<R, F, Fut>(
    shared: &Arc<Shared>,
    name: Arc<str>,
    initial: Status,
    body: F,
) -> BlockingHandle<R>
where
    R: Send + 'static,
    F: FnOnce(Job<R>) -> Fut,
    Fut: Future<Output = ()> + Send + 'static,
{
    if let Err(reason) = check_name(&name) {
        tracing::warn!(service = ?name, "job refused: its name {reason}");
        let error = BlockingError::InvalidName {
            name: name.to_string(),
            reason,
        };
        return BlockingHandle::refused(name, error);
    }
    let taken = stop::runtime(shared, &name).and_then(|runtime| {
        Lease::take(shared, &name, initial, OnName::Share, Role::Job).map(|lease| (runtime, lease))
    });
    let (runtime, lease) = match taken {
        Ok(taken) => taken,
        Err(err) => {
            tracing::warn!(service = %name, "job refused: {err}");
            let error = match err {
                Error::RuntimeGone { .. } => BlockingError::SupervisorDropped,
                Error::NoRuntime => BlockingError::NoRuntime,
                _ => BlockingError::Aborted,
            };
            return BlockingHandle::refused(name, error);
        }
    };
    let (tx, rx) = oneshot::channel();
    let row = lease.row().clone();
    let id = lease.id();
    let job = Job {
        shared: Arc::clone(shared),
        row: row.clone(),
        id,
        lease: Some(lease),
        tx: Some(tx),
    };
    let span = tracing::info_span!("service", name = %name, attempt = 0u32);
    let task = spawn_named(runtime, &name, body(job).instrument(span));
    let aborter = task.abort_handle();
    lease::attach(shared, &row, id, Aborter { task });
    BlockingHandle {
        name,
        result: Ok(rx),
        job: Some(JobRef {
            shared: Arc::clone(shared),
            row,
            id,
            aborter,
        }),
    }
}

/// `spawn_blocking`: wait for a slot (`Queued`), run on a pool thread, report.
pub(crate) fn spawn_blocking<R, F>(shared: &Arc<Shared>, name: Arc<str>, f: F) -> BlockingHandle<R>
where
    R: Send + 'static,
    F: FnOnce() -> R + Send + 'static,
{
    let slots = Arc::clone(&shared.slots);
    start_job(
        shared,
        name,
        Status::Queued,
        move |mut job: Job<R>| async move {
            let shared = Arc::clone(&job.shared);
            let permit = tokio::select! {
                biased;
                () = shared.root().cancelled() => {
                    return job.end(Status::Stopped, Err(BlockingError::Aborted));
                }
                permit = slots.acquire_owned() => match permit {
                    Ok(permit) => permit,
                    Err(_) => return job.end(Status::Stopped, Err(BlockingError::Aborted)),
                },
            };
            if let Some(lease) = &job.lease {
                lease.running();
            }
            tracing::debug!(service = %job.row.name, "job started");
            let (tx, rx) = oneshot::channel();
            let row = job.row.clone();
            let span = tracing::Span::current();
            let runtime = shared.runtime().cloned();
            pool::execute(Box::new(move || {
                let result = run_timed(&row, &span, runtime.as_ref(), f);
                // The slot is free once the closure has really returned.
                drop(permit);
                let _ = tx.send(result);
            }));
            let _hold = ClockHold::when_paused();
            job.settle(async move {
                rx.await
                    .unwrap_or_else(|_| Err("no worker thread could be started".to_string()))
            })
            .await;
        },
    )
}

/// `spawn_oneshot`: an async job with a typed result and a `Context`.
pub(crate) fn spawn_oneshot<R, F, Fut>(
    shared: &Arc<Shared>,
    name: Arc<str>,
    f: F,
) -> BlockingHandle<R>
where
    R: Send + 'static,
    F: FnOnce(Context) -> Fut + Send + 'static,
    Fut: Future<Output = R> + Send + 'static,
{
    start_job(
        shared,
        name,
        Status::Running,
        move |mut job: Job<R>| async move {
            let ctx = Context::new(0, Arc::clone(&job.shared), job.row.clone(), job.id, false);
            let future = match catch(|| f(ctx)) {
                Ok(future) => future,
                Err(message) => return job.panicked(message),
            };
            tracing::debug!(service = %job.row.name, "job started");
            job.settle(CatchUnwind::new(Box::pin(future))).await;
        },
    )
}
