//! A service instance: one tokio task that runs attempt after attempt,
//! driving its [`Lease`] through the lifecycle drawn in
//! [`lease`](super::lease): Running, Restarting after a failure the policy
//! allows, and one final status.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;
use tracing::instrument::Instrumented;
use tracing::Instrument;

use super::blocking;
use super::context::Context;
use super::deps::{self, Waited};
use super::lease::{self, Lease, OnName, Role};
use super::outcome::Outcome;
use super::row::Aborter;
use super::shared::{spawn_named, Shared};
use super::shutdown::Cause;
use super::stop;
use super::table::RowRef;
use crate::error::Error;
use crate::panic::{catch, CatchUnwind};
use crate::spec::{BoxError, Entry, Factory, RestartPolicy, HEALTHY_AFTER};
use crate::status::Status;

/// What an instance runs: a declared service's entry, or an imperative
/// task's factory (which always receives a `Context`).
#[derive(Clone)]
pub(crate) enum Work {
    /// A declared service, and its place among the declared services
    /// (kept here: it fits beside the entry at no cost).
    Declared {
        entry: Entry,
        place: Place,
    },
    Task(Factory),
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

/// What follows a run.
enum Next {
    /// Restart after the delay.
    Restart(Duration),
    /// A periodic call returned `Ok`: call again after the delay.
    Again(Duration),
    /// The instance ends with this final status.
    End(Status),
}

/// One instance: its lease and the work it runs.
pub(crate) struct Instance {
    lease: Lease,
    work: Work,
    policy: RestartPolicy,
}

/// Where a declared service stands among the declared services.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Place {
    /// Its position among them.
    pub(crate) node: u32,
    /// Whether each start waits for dependencies (`after = [...]`).
    pub(crate) waits: bool,
    /// Whether others depend on it: its `Context` then watches its own stop
    /// token, cancelled at shutdown after them.
    pub(crate) ordered: bool,
    /// Whether its end before shutdown ends the program (`critical`).
    pub(crate) critical: bool,
    /// Whether it is called again after each `Ok` (`every = "..."`).
    pub(crate) periodic: bool,
}

/// Where a started instance is, to abort it.
pub(crate) struct Started {
    pub(crate) row: RowRef,
    pub(crate) id: u64,
}

impl Instance {
    /// Registers an instance under `name` and spawns its task.
    pub(crate) fn start(
        shared: &Arc<Shared>,
        name: Arc<str>,
        work: Work,
        policy: RestartPolicy,
        on_name: OnName,
    ) -> Result<Started, Error> {
        let runtime = stop::runtime(shared, &name)?;
        let lease = Lease::take(shared, &name, Status::Running, on_name, Role::Task)?;
        Ok(Instance::launch(&runtime, lease, work, policy))
    }

    /// Spawns the task of a registered instance.
    pub(crate) fn launch(
        runtime: &Handle,
        lease: Lease,
        work: Work,
        policy: RestartPolicy,
    ) -> Started {
        let started = Started {
            row: lease.row().clone(),
            id: lease.id(),
        };
        let shared = Arc::clone(lease.shared());
        let instance = Instance {
            lease,
            work,
            policy,
        };
        let task = spawn_named(runtime, &started.row.name, instance.run());
        let aborter = Aborter {
            task: task.abort_handle(),
            requested: None,
        };
        lease::attach(&shared, &started.row, started.id, aborter);
        started
    }

    /// Attempt after attempt until a final status.
    ///
    /// A plain `fn` returning an `async move` block rather than an `async fn`
    /// (which would keep `self` twice in the future), and only the common
    /// path is awaited inline: the backoff sleep, the shutdown select of a
    /// service without `Context` and blocking runs are boxed when used. This
    /// keeps the per-service task small.
    #[allow(clippy::manual_async_fn)] // deliberate: see above
    fn run(self) -> impl Future<Output = ()> + Send + 'static {
        async move {
            // Runs over the instance's lifetime, and failures in a row.
            let mut attempt: u32 = 0;
            let mut streak: u32 = 0;
            if self.place().is_some_and(|place| place.waits) {
                if let Err(status) = self.dependencies().await {
                    return self.end(status);
                }
                self.lease.running();
            }
            loop {
                let began = tokio::time::Instant::now();
                let outcome = match self.prepare(attempt) {
                    Run::Failed(panic) => Outcome::Failed(panic),
                    Run::Inline(run) => Outcome::from_run(run.await),
                    Run::Boxed(run) => run.await,
                };
                let (delay, restart) = match self.after_run(outcome, began, &mut streak) {
                    Next::Restart(delay) => (delay, true),
                    Next::Again(every) => (every, false),
                    Next::End(status) => return self.end(status),
                };
                let resumed = if delay.is_zero() {
                    // Restart at once, yet let the other tasks run first.
                    tokio::task::yield_now().await;
                    !self.lease.shared().is_stopping()
                } else {
                    Box::pin(wait_backoff(self.lease.shared(), delay)).await
                };
                if !resumed {
                    return self.end(Status::Stopped);
                }
                attempt = attempt.saturating_add(1);
                if restart {
                    if self.place().is_some_and(|place| place.waits) {
                        self.lease.queued();
                        if let Err(status) = self.dependencies().await {
                            return self.end(status);
                        }
                    }
                    self.lease.restarted();
                    tracing::info!(service = %self.lease.row().name, attempt, "restarting");
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
        let row = self.lease.row();
        let shared = self.lease.shared();
        let span = tracing::info_span!("service", name = %row.name, attempt);
        let ctx = Context::new(
            attempt,
            Arc::clone(shared),
            row.clone(),
            self.lease.id(),
            self.place().is_some_and(|place| place.ordered),
        );
        let (factory_result, cooperative) = match &self.work {
            Work::Declared {
                entry:
                    Entry::Async {
                        factory,
                        takes_context,
                    },
                ..
            } => (span.in_scope(|| catch(|| factory(ctx))), *takes_context),
            Work::Task(factory) => (span.in_scope(|| catch(|| factory(ctx))), true),
            // A blocking fn is never dropped at shutdown (a thread cannot
            // be): with or without a Context, it is awaited until the
            // deadline. Its thread may outlive an abort: its Context must
            // look at the row.
            Work::Declared {
                entry: Entry::Blocking { run, .. },
                ..
            } => {
                let runtime = shared.runtime().cloned();
                let repeat = self.is_repeat(attempt);
                let run =
                    blocking::run_service(row.clone(), runtime, ctx.detachable(), *run, repeat);
                return Run::Boxed(Box::pin(run.instrument(span)));
            }
        };
        let future = match factory_result {
            Ok(future) => future,
            Err(panic) => return Run::Failed(panic),
        };
        if self.is_repeat(attempt) {
            span.in_scope(|| tracing::debug!("called again"));
        } else {
            span.in_scope(|| tracing::info!("started"));
        }
        if cooperative {
            // Told through its Context; ended by the kill scan if it does not
            // return in time. Nothing else to watch here.
            Run::Inline(CatchUnwind::new(future).instrument(span))
        } else {
            // No Context to be told through: dropped as soon as shutdown
            // begins. Dropping runs the user's destructors, which may panic
            // too: that is the run's failure.
            let shared = Arc::clone(shared);
            Run::Boxed(Box::pin(
                async move {
                    let mut run = CatchUnwind::new(future);
                    let ended = tokio::select! {
                        biased;
                        result = &mut run => Some(result),
                        () = shared.root().cancelled() => None,
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

    /// Decides what follows a run, and records a restart in the row.
    fn after_run(&self, outcome: Outcome, began: tokio::time::Instant, streak: &mut u32) -> Next {
        let stopping = self.lease.shared().is_stopping();
        let reason = match outcome {
            Outcome::Returned if stopping => return Next::End(Status::Stopped),
            Outcome::Returned => {
                return match self.every() {
                    Some(every) => {
                        // A call that returned breaks a streak of failures.
                        *streak = 0;
                        self.lease.called();
                        Next::Again(every)
                    }
                    None => Next::End(Status::Completed),
                };
            }
            Outcome::Dropped => return Next::End(Status::Stopped),
            Outcome::Failed(reason) => reason,
        };
        let name = &self.lease.row().name;
        if stopping {
            tracing::error!(service = %name, %reason, "failed during shutdown");
            return Next::End(Status::Failed { reason });
        }
        // A run that stayed up long enough starts a fresh streak.
        if began.elapsed() >= HEALTHY_AFTER {
            *streak = 0;
        }
        *streak = streak.saturating_add(1);
        let max = self.policy.max_restarts();
        let Some(delay) = self.policy.delay(*streak) else {
            tracing::error!(service = %name, %reason, restarts_in_a_row = *streak - 1, "failed; no restart left");
            return Next::End(Status::Failed { reason });
        };
        tracing::warn!(service = %name, %reason, attempt = *streak, max, ?delay, "failed; restarting after the delay");
        self.lease.restarting(*streak, max, &reason);
        Next::Restart(delay)
    }

    /// Waits until the dependencies are ready (the row shows `Queued`);
    /// `Err` with the final status when the instance must not start.
    /// Boxed, and only for services with `after`, so that others pay
    /// nothing.
    async fn dependencies(&self) -> Result<(), Status> {
        let Some(place) = self.place().filter(|place| place.waits) else {
            return Ok(());
        };
        match Box::pin(deps::wait_for(self.lease.shared(), place.node as usize)).await {
            Waited::Ready => Ok(()),
            Waited::Stopped => Err(Status::Stopped),
            Waited::Failed(reason) => {
                tracing::error!(service = %self.lease.row().name, %reason, "cannot start");
                Err(Status::Failed { reason })
            }
        }
    }

    /// Its place among the declared services, for a declared one.
    fn place(&self) -> Option<Place> {
        match &self.work {
            Work::Declared { place, .. } => Some(*place),
            Work::Task(_) => None,
        }
    }

    /// Ends the instance with its final status.
    fn end(self, status: Status) {
        let name = Arc::clone(&self.lease.row().name);
        match &status {
            Status::Completed => tracing::info!(service = %name, "completed"),
            Status::Stopped => tracing::info!(service = %name, "stopped"),
            _ => {}
        }
        // A critical service that ends before shutdown ends the program.
        let critical_end =
            self.place().is_some_and(|place| place.critical) && !self.lease.shared().is_stopping();
        let failure = match &status {
            Status::Failed { reason } if critical_end => Some(reason.clone()),
            _ => None,
        };
        let shared = Arc::clone(self.lease.shared());
        self.lease.end(status);
        if critical_end {
            match &failure {
                Some(reason) => {
                    tracing::error!(service = %name, %reason, "a critical service failed: shutting down")
                }
                None => {
                    tracing::info!(service = %name, "a critical service completed: shutting down")
                }
            }
            shared.shutdown.set_cause(Cause::Critical {
                service: name,
                failure,
            });
            shared.stop();
        }
    }

    /// Whether this run is a periodic service's call after its first one:
    /// logged at `debug`, so that a service called every few seconds does
    /// not fill the logs.
    fn is_repeat(&self, attempt: u32) -> bool {
        attempt > 0 && self.place().is_some_and(|place| place.periodic)
    }

    /// The delay between two calls of a periodic service.
    fn every(&self) -> Option<Duration> {
        let place = self.place().filter(|place| place.periodic)?;
        let declared = self.lease.shared().declared.get()?;
        declared.nodes.get(place.node as usize)?.every
    }
}

/// Waits out the backoff delay; `false` when shutdown began meanwhile
/// (then the service does not start again).
async fn wait_backoff(shared: &Shared, delay: Duration) -> bool {
    tokio::select! {
        biased;
        () = shared.root().cancelled() => false,
        () = tokio::time::sleep(delay) => !shared.is_stopping(),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The per-service task is what 100,000 services multiply: keep it small
    /// (the rare paths are boxed; see `Instance::run` and `Instance::prepare`).
    #[tokio::test]
    async fn the_spawned_future_stays_small() {
        let shared = Shared::for_tests();
        let lease = Lease::take(
            &shared,
            &Arc::from("probe"),
            Status::Running,
            OnName::Share,
            Role::Task,
        )
        .expect("registered");
        let factory: Factory = Arc::new(|_ctx| Box::pin(async { Ok(()) }));
        let instance = Instance {
            lease,
            work: Work::Task(factory),
            policy: RestartPolicy::Never,
        };
        let future = instance.run();
        let size = std::mem::size_of_val(&future);
        // 248 bytes before: with tokio's task header that is a 384-byte task.
        // A few bytes more and every service costs a 512-byte task instead.
        assert!(size <= 256, "the per-service future grew to {size} bytes");
    }
}
