//! The life of one service instance, top to bottom.
//!
//! One tokio task per instance runs attempt after attempt:
//!
//! ```text
//!            ┌──────────── restart (after the backoff delay) ───────────┐
//!            v                                                          │
//! start ─> Running ──Ok──────────────> Completed (Stopped if shutting down)
//!            │  └──panic / Err──> policy allows? ──yes──> Restarting ────┘
//!            │                          └──no──> Failed { reason }
//!            ├──shutdown, no Context──────────────> Stopped (dropped at once)
//!            ├──shutdown timeout / second signal──> Aborted
//!            └──abort on request or replacement───> Aborted
//! Restarting ──shutdown──> Stopped (never starts again)
//! ```
//!
//! The task owns its row's updates; a drop guard records `Aborted` when the
//! task itself is aborted, and keeps the active count exact in every case.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::{Duration, Instant};

use tracing::instrument::Instrumented;
use tracing::Instrument;

use crate::blocking;
use crate::panic::{catch, CatchUnwind};
use crate::spec::{BoxError, BoxFuture, Entry, HEALTHY_AFTER};
use crate::supervisor::Inner;
use crate::table::{Aborter, RowRef};
use crate::{Context, Error, Factory, RestartPolicy, Status};

/// What an instance runs.
#[derive(Clone)]
pub(crate) enum Work {
    /// An `async fn` declared with the attribute.
    Async {
        factory: fn(Context) -> BoxFuture,
        takes_context: bool,
    },
    /// A `blocking` fn declared with the attribute.
    Blocking {
        run: fn(Context) -> Result<(), BoxError>,
    },
    /// An imperative task: always receives a `Context`.
    Factory(Factory),
}

impl From<Entry> for Work {
    fn from(entry: Entry) -> Self {
        match entry {
            Entry::Async {
                factory,
                takes_context,
            } => Work::Async {
                factory,
                takes_context,
            },
            // A blocking fn is never dropped at shutdown (a thread cannot be):
            // with or without a Context, it is awaited until the deadline.
            Entry::Blocking { run, .. } => Work::Blocking { run },
        }
    }
}

/// How one run ended.
pub(crate) enum Outcome {
    /// Returned `Ok(())` (or `()`).
    Returned,
    /// Panicked or returned `Err`: the reason.
    Failed(String),
    /// Dropped at shutdown: it had no `Context` to be told through.
    Dropped,
}

/// One run, built and ready to be awaited.
enum Run {
    /// The factory panicked: the run failed before it began.
    Failed(String),
    /// A run with a `Context`, the common case: awaited inline.
    Inline(Instrumented<CatchUnwind<dyn Future<Output = Result<(), BoxError>> + Send>>),
    /// The rarer kinds, boxed: a run without `Context` (watched for the
    /// shutdown) and a blocking run (awaiting its thread).
    Boxed(Pin<Box<dyn Future<Output = Outcome> + Send>>),
}

/// One instance: a row to write and the work to run.
pub(crate) struct Instance {
    inner: Arc<Inner>,
    row: RowRef,
    id: u64,
    work: Work,
    policy: RestartPolicy,
    /// Set once the final status is written; otherwise `Drop` records `Aborted`.
    finished: bool,
}

/// A started instance: where to find it and how to stop it.
pub(crate) struct Started {
    pub(crate) row: RowRef,
    pub(crate) id: u64,
}

impl Instance {
    /// Registers an instance under `name` and spawns its task.
    pub(crate) fn start(
        inner: &Arc<Inner>,
        name: Arc<str>,
        work: Work,
        policy: RestartPolicy,
        replace: bool,
    ) -> Result<Started, Error> {
        let (row, id) = inner.register(&name, Status::Running, replace)?;
        let instance = Instance {
            inner: Arc::clone(inner),
            row: row.clone(),
            id,
            work,
            policy,
            finished: false,
        };
        let task = crate::spawn_named(&inner.runtime, &name, instance.run());
        let aborter = Aborter {
            task: task.abort_handle(),
            requested: None,
        };
        row.attach(id, aborter, &inner.kill);
        Ok(Started { row, id })
    }

    /// Attempt after attempt until a final status.
    ///
    /// A plain `fn` returning an `async move` block rather than an `async fn`
    /// (which would keep `self` twice in the future), and only the common
    /// path is awaited inline: the backoff sleep, the shutdown select of a
    /// service without `Context` and blocking runs are boxed when used. This
    /// keeps the per-service task small.
    #[allow(clippy::manual_async_fn)] // deliberate: see above
    fn run(mut self) -> impl Future<Output = ()> + Send + 'static {
        async move {
            // Runs over the instance's lifetime, and failures in a row.
            let mut attempt: u32 = 0;
            let mut streak: u32 = 0;
            loop {
                let began = tokio::time::Instant::now();
                let outcome = match self.prepare(attempt) {
                    Run::Failed(panic) => Outcome::Failed(panic),
                    Run::Inline(run) => Outcome::from_run(run.await),
                    Run::Boxed(run) => run.await,
                };
                let Some(delay) = self.after_run(outcome, began, &mut streak) else {
                    return;
                };
                let resumed = if delay.is_zero() {
                    // Restart at once, yet let the other tasks run first.
                    tokio::task::yield_now().await;
                    !self.inner.is_stopping()
                } else {
                    Box::pin(self.wait_backoff(delay)).await
                };
                if resumed {
                    self.row.set_restarted(self.id, Instant::now());
                    attempt = attempt.saturating_add(1);
                    tracing::info!(service = %self.row.name, attempt, "restarting");
                    self.row.metrics().restarts.increment(1);
                } else {
                    self.finish(Status::Stopped);
                    return;
                }
            }
        }
    }

    /// Builds one run, inside the `service` span: calls the factory (a
    /// panic there is the run's failure) and picks how to await it.
    ///
    /// A plain `fn`, so that the task's future keeps only what is awaited
    /// (an `async fn` here kept its locals too, and the task grew a size
    /// class).
    fn prepare(&self, attempt: u32) -> Run {
        let name = &self.row.name;
        let span = tracing::info_span!("service", name = %name, attempt);
        let ctx = Context::new(attempt, Arc::clone(&self.inner), self.row.clone(), self.id);
        let (factory_result, cooperative) = match &self.work {
            Work::Async {
                factory,
                takes_context,
            } => (span.in_scope(|| catch(|| factory(ctx))), *takes_context),
            Work::Factory(factory) => (span.in_scope(|| catch(|| factory(ctx))), true),
            Work::Blocking { run } => {
                let run = blocking::run_service(self.row.clone(), ctx.shared(), *run);
                return Run::Boxed(Box::pin(run.instrument(span)));
            }
        };
        let future = match factory_result {
            Ok(future) => future,
            Err(panic) => return Run::Failed(panic),
        };
        span.in_scope(|| tracing::info!("started"));
        if cooperative {
            // Told through its Context; ended by the kill scan if it does not
            // return in time. Nothing else to watch here.
            Run::Inline(CatchUnwind::new(future).instrument(span))
        } else {
            // No Context to be told through: dropped as soon as shutdown
            // begins. Dropping runs the user's destructors, which may panic
            // too: that is the run's failure.
            let inner = Arc::clone(&self.inner);
            Run::Boxed(Box::pin(
                async move {
                    let mut run = CatchUnwind::new(future);
                    let ended = tokio::select! {
                        biased;
                        result = &mut run => Some(result),
                        () = inner.root.cancelled() => None,
                    };
                    match ended {
                        Some(result) => Outcome::from_run(result),
                        None => match catch(move || drop(run)) {
                            Ok(()) => Outcome::Dropped,
                            Err(panic) => Outcome::Failed(panic),
                        },
                    }
                }
                .instrument(span),
            ))
        }
    }

    /// Records how a run ended. Returns the backoff delay when the policy
    /// restarts it; otherwise writes the final status and returns `None`.
    fn after_run(
        &mut self,
        outcome: Outcome,
        began: tokio::time::Instant,
        streak: &mut u32,
    ) -> Option<Duration> {
        let stopping = self.inner.is_stopping();
        let reason = match outcome {
            Outcome::Returned if stopping => return self.finish(Status::Stopped),
            Outcome::Returned => return self.finish(Status::Completed),
            Outcome::Dropped => return self.finish(Status::Stopped),
            Outcome::Failed(reason) => reason,
        };
        self.row.metrics().failures.increment(1);
        if stopping {
            tracing::error!(service = %self.row.name, %reason, "failed during shutdown");
            return self.finish(Status::Failed { reason });
        }
        // A run that stayed up long enough starts a fresh streak.
        if began.elapsed() >= HEALTHY_AFTER {
            *streak = 0;
        }
        *streak = streak.saturating_add(1);
        let max = self.policy.max_restarts();
        let Some(delay) = self.policy.delay(*streak) else {
            tracing::error!(service = %self.row.name, %reason, restarts_in_a_row = *streak - 1, "failed; no restart left");
            return self.finish(Status::Failed { reason });
        };
        tracing::warn!(service = %self.row.name, %reason, attempt = *streak, max, ?delay, "failed; restarting after the delay");
        self.row
            .set_restarting(self.id, *streak, max, &reason, Instant::now());
        Some(delay)
    }

    /// Waits out the backoff delay; `false` when shutdown began meanwhile
    /// (then the service does not start again).
    async fn wait_backoff(&self, delay: Duration) -> bool {
        tokio::select! {
            biased;
            () = self.inner.root.cancelled() => false,
            () = tokio::time::sleep(delay) => !self.inner.is_stopping(),
        }
    }

    /// Writes the final status and leaves the active count. Returns `None`
    /// for the convenience of [`after_run`](Self::after_run).
    fn finish(&mut self, status: Status) -> Option<Duration> {
        match &status {
            Status::Completed => tracing::info!(service = %self.row.name, "completed"),
            Status::Stopped => tracing::info!(service = %self.row.name, "stopped"),
            _ => {}
        }
        self.finished = true;
        if self.row.finish(self.id, status, self.inner.end_time()) {
            self.inner.instance_ended();
        }
        None
    }
}

impl Outcome {
    fn from_run(result: Result<Result<(), BoxError>, String>) -> Outcome {
        match result {
            Ok(Ok(())) => Outcome::Returned,
            Ok(Err(error)) => Outcome::Failed(error_text(&*error)),
            Err(panic) => Outcome::Failed(panic),
        }
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if self.finished {
            return;
        }
        // The task was aborted: by the kill scan at the shutdown deadline, on
        // request or by a replacement (both already accounted for it, so
        // `finish` says `false`), or because the runtime is going away.
        if !self
            .row
            .finish(self.id, Status::Aborted, self.inner.end_time())
        {
            return;
        }
        if self.inner.kill.is_cancelled() {
            self.inner.record_kill(&self.row.name);
            if self.inner.forced() {
                tracing::warn!(service = %self.row.name, "aborted by a second signal");
            } else {
                tracing::warn!(service = %self.row.name, "aborted: still running at the shutdown deadline");
            }
        } else {
            tracing::info!(service = %self.row.name, "aborted");
        }
        self.inner.instance_ended();
    }
}

/// An error's text with its chain of sources: `outer: inner: root cause`.
///
/// The error's `Display` is user code: one that panics is noted in the text
/// instead (the failure must still be recorded, restarted and reported).
pub(crate) fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = display(error);
    let mut source = catch(|| error.source()).ok().flatten();
    while let Some(cause) = source {
        let cause_text = display(cause);
        // Some errors already include their source in their own text.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = catch(|| cause.source()).ok().flatten();
    }
    text
}

/// `error.to_string()`, or a note saying why it could not be had.
fn display(error: &dyn std::error::Error) -> String {
    catch(|| error.to_string()).unwrap_or_else(|panic| {
        format!("(the error could not be displayed: its `Display` panicked: {panic})")
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-service task is what 100,000 services multiply: keep it small
    /// (the rare paths are boxed; see `Instance::run` and `Instance::prepare`).
    #[tokio::test]
    async fn the_spawned_future_stays_small() {
        let inner = Inner::new(
            tokio_util::sync::CancellationToken::new(),
            tokio::runtime::Handle::current(),
            Duration::from_secs(1),
            false,
        );
        let (row, id) = inner
            .register(&Arc::from("probe"), Status::Running, false)
            .unwrap();
        let factory: Factory = Arc::new(|_ctx| Box::pin(async { Ok(()) }));
        let instance = Instance {
            inner: Arc::clone(&inner),
            row,
            id,
            work: Work::Factory(factory),
            policy: RestartPolicy::Never,
            finished: true,
        };
        inner.instance_ended();
        let future = instance.run();
        let size = std::mem::size_of_val(&future);
        // 248 bytes today: with tokio's task header that is a 384-byte task.
        // A few bytes more and every service costs a 512-byte task instead.
        assert!(size <= 256, "the per-service future grew to {size} bytes");
    }
}
