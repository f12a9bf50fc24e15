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

use std::sync::Arc;
use std::time::Instant;

use tracing::Instrument;

use crate::blocking;
use crate::panic::{catch, CatchUnwind};
use crate::spec::{BoxError, BoxFuture, Entry, HEALTHY_AFTER};
use crate::supervisor::Inner;
use crate::table::{Aborter, Row};
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
    Blocking { run: fn(Context) -> Result<(), BoxError> },
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
    /// Still running when the shutdown timeout elapsed or a second signal came.
    Killed,
}

/// One instance: a row to write and the work to run.
pub(crate) struct Instance {
    inner: Arc<Inner>,
    row: Arc<Row>,
    id: u64,
    work: Work,
    policy: RestartPolicy,
    /// Set once the final status is written; otherwise `Drop` records `Aborted`.
    finished: bool,
}

/// A started instance: where to find it and how to stop it.
pub(crate) struct Started {
    pub(crate) row: Arc<Row>,
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
            row: Arc::clone(&row),
            id,
            work,
            policy,
            finished: false,
        };
        let task = crate::spawn_named(&inner.runtime, &name, instance.run());
        row.attach(
            id,
            Aborter {
                task: task.abort_handle(),
                requested: None,
            },
        );
        Ok(Started { row, id })
    }

    /// Attempt after attempt until a final status.
    async fn run(mut self) {
        let max = self.policy.max_restarts();
        // Runs over the instance's lifetime, and failures in a row.
        let mut attempt: u32 = 0;
        let mut streak: u32 = 0;
        loop {
            let began = tokio::time::Instant::now();
            let outcome = self.run_once(attempt).await;
            let stopping = self.inner.is_stopping();
            let reason = match outcome {
                Outcome::Returned if stopping => return self.finish(Status::Stopped, None),
                Outcome::Returned => return self.finish(Status::Completed, None),
                Outcome::Dropped => return self.finish(Status::Stopped, None),
                Outcome::Killed => return self.finish(Status::Aborted, Some(true)),
                Outcome::Failed(reason) => reason,
            };
            metrics::counter!("supervisor.failures", "service" => self.row.name.to_string())
                .increment(1);
            if stopping {
                tracing::error!(service = %self.row.name, %reason, "failed during shutdown");
                return self.finish(Status::Failed { reason }, None);
            }
            // A run that stayed up long enough starts a fresh streak.
            if began.elapsed() >= HEALTHY_AFTER {
                streak = 0;
            }
            streak = streak.saturating_add(1);
            let Some(delay) = self.policy.delay(streak) else {
                tracing::error!(service = %self.row.name, %reason, restarts_in_a_row = streak - 1, "failed; no restart left");
                return self.finish(Status::Failed { reason }, None);
            };
            tracing::warn!(service = %self.row.name, %reason, attempt = streak, max, ?delay, "failed; restarting after the delay");
            self.row
                .set_restarting(self.id, streak, max, &reason, Instant::now());
            let cancelled = tokio::select! {
                biased;
                () = self.inner.root.cancelled() => true,
                () = tokio::time::sleep(delay) => false,
            };
            if cancelled {
                return self.finish(Status::Stopped, None);
            }
            attempt = attempt.saturating_add(1);
            self.row.set_restarted(self.id, Instant::now());
            metrics::counter!("supervisor.restarts", "service" => self.row.name.to_string())
                .increment(1);
        }
    }

    /// One run, inside the `service` span.
    async fn run_once(&self, attempt: u32) -> Outcome {
        let name = &self.row.name;
        let span = tracing::info_span!("service", name = %name, attempt);
        let ctx = Context::new(Arc::clone(name), attempt, self.inner.root.clone());
        match &self.work {
            Work::Async {
                factory,
                takes_context,
            } => {
                let future = span.in_scope(|| catch(|| factory(ctx)));
                self.drive(future, *takes_context).instrument(span).await
            }
            Work::Factory(factory) => {
                let future = span.in_scope(|| catch(|| factory(ctx)));
                self.drive(future, true).instrument(span).await
            }
            Work::Blocking { run } => {
                let run = *run;
                blocking::run_service(&self.inner, name, ctx, run)
                    .instrument(span)
                    .await
            }
        }
    }

    /// Polls one run's future until it ends, or until shutdown ends it: at
    /// once for a service without a `Context`, at the kill for one with.
    async fn drive(&self, future: Result<BoxFuture, String>, cooperative: bool) -> Outcome {
        let future = match future {
            Ok(future) => future,
            Err(panic) => return Outcome::Failed(panic),
        };
        tracing::info!("started");
        let mut run = CatchUnwind::new(future);
        let stop = if cooperative {
            &self.inner.kill
        } else {
            &self.inner.root
        };
        tokio::select! {
            biased;
            result = &mut run => match result {
                Ok(Ok(())) => Outcome::Returned,
                Ok(Err(error)) => Outcome::Failed(error_text(&*error)),
                Err(panic) => Outcome::Failed(panic),
            },
            () = stop.cancelled() => if cooperative { Outcome::Killed } else { Outcome::Dropped },
        }
    }

    fn finish(&mut self, status: Status, shutdown_abort: Option<bool>) {
        match &status {
            Status::Completed => tracing::info!(service = %self.row.name, "completed"),
            Status::Stopped => tracing::info!(service = %self.row.name, "stopped"),
            Status::Aborted => {
                tracing::warn!(service = %self.row.name, "aborted: still running at the shutdown deadline")
            }
            _ => {}
        }
        self.finished = true;
        self.row
            .finish(self.id, status, self.inner.end_time(), shutdown_abort);
        self.inner.instance_ended();
    }
}

impl Drop for Instance {
    fn drop(&mut self) {
        if !self.finished {
            // The task was aborted (on request, by replacement, or because the
            // runtime is going away). A request already marked the row; this
            // covers the rest.
            if self.row.is_current(self.id) {
                tracing::info!(service = %self.row.name, "aborted");
            }
            self.row
                .finish(self.id, Status::Aborted, self.inner.end_time(), Some(false));
            self.inner.instance_ended();
        }
    }
}

/// An error's text with its chain of sources: `outer: inner: root cause`.
pub(crate) fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = error.to_string();
    let mut source = error.source();
    while let Some(cause) = source {
        let cause_text = cause.to_string();
        // Some errors already include their source in their own text.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = cause.source();
    }
    text
}
