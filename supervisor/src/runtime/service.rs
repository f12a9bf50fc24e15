//! A service instance: one tokio task that runs attempt after attempt,
//! driving its [`Lease`] through the lifecycle drawn in
//! [`lease`](super::lease): Running, Restarting after a failure the policy
//! allows, and one final status.
//!
//! The task is generic over what it runs ([`Body`]): the future of a
//! function given to `spawn_fn` ([`FnBody`]) is polled in place inside the
//! task, each run where the last one was; a declared service's or a
//! `TaskDescriptor`'s factory boxes each run ([`Work`]). The decisions
//! between runs (restart or not, the delay, the final status) are the
//! non-generic [`Core`]'s, so that each body type adds only its own loop.

use std::future::Future;
use std::pin::Pin;
use std::sync::Arc;
use std::task::Poll;
use std::time::Duration;

use tokio::runtime::Handle;
use tracing::{Instrument, Span};

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
use crate::panic::{catch, poll_guarded, CatchUnwind};
use crate::spec::{BoxError, Entry, Factory, RestartPolicy, HEALTHY_AFTER};
use crate::status::Status;

/// What an instance runs, run after run: how one run is built.
///
/// The instance's task is generic over it, so that a run's future lives
/// inside the task (a restart writes the next run where the last one was)
/// rather than in a box of its own.
pub(crate) trait Body: Send + 'static {
    /// What a run may fail with.
    type Error: Into<BoxError>;
    /// One run, awaited inside the instance's task.
    type Run: Future<Output = Result<(), Self::Error>> + Send;

    /// Builds run `attempt`: calls the user's function inside the run's
    /// span and under the panic guard (a panic there is the run's failure).
    fn start(&self, core: &Core, ctx: Context, span: Span, attempt: u32) -> Running<Self::Run>;

    /// Its place among the declared services, for a declared one.
    fn place(&self) -> Option<Place>;
}

/// A function the imperative API runs: called once per (re)start, its
/// future awaited inside the task.
pub(crate) struct FnBody<F>(pub(crate) F);

impl<F, Fut, E> Body for FnBody<F>
where
    F: Fn(Context) -> Fut + Send + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
    type Error = E;
    type Run = Fut;

    fn start(&self, core: &Core, ctx: Context, span: Span, attempt: u32) -> Running<Fut> {
        match span.in_scope(|| catch(|| (self.0)(ctx))) {
            Ok(run) => {
                core.log_start(&span, attempt, None);
                Running::inline(run, span)
            }
            Err(panic) => Running::Failed { panic: Some(panic) },
        }
    }

    fn place(&self) -> Option<Place> {
        None
    }
}

/// What a declared service or a [`TaskDescriptor`](crate::TaskDescriptor)
/// runs: a function that boxes each run's future (one allocation per run,
/// where [`FnBody`] has none).
#[derive(Clone)]
pub(crate) enum Work {
    /// A declared service, and its place among the declared services.
    Declared {
        entry: Entry,
        place: Place,
    },
    Task(Factory),
}

impl Body for Work {
    type Error = BoxError;
    type Run = Pin<Box<dyn Future<Output = Result<(), BoxError>> + Send>>;

    fn start(&self, core: &Core, ctx: Context, span: Span, attempt: u32) -> Running<Self::Run> {
        let (made, cooperative) = match self {
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
                let row = core.lease.row();
                let runtime = core.lease.shared().runtime().cloned();
                let repeat = core.is_repeat(attempt, self.place());
                let run =
                    blocking::run_service(row.clone(), runtime, ctx.detachable(), *run, repeat);
                return Running::Boxed {
                    run: Box::pin(run.instrument(span)),
                };
            }
        };
        let future = match made {
            Ok(future) => future,
            Err(panic) => return Running::Failed { panic: Some(panic) },
        };
        core.log_start(&span, attempt, self.place());
        if cooperative {
            // Told through its Context; ended by the kill scan if it does not
            // return in time. Nothing else to watch here.
            return Running::inline(future, span);
        }
        // No Context to be told through: dropped as soon as shutdown
        // begins. Dropping runs the user's destructors, which may panic too:
        // that is the run's failure.
        let shared = Arc::clone(core.lease.shared());
        let run = Box::pin(
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
        );
        Running::Boxed { run }
    }

    fn place(&self) -> Option<Place> {
        match self {
            Work::Declared { place, .. } => Some(*place),
            Work::Task(_) => None,
        }
    }
}

pin_project_lite::pin_project! {
    /// One run, awaited inside the instance's task; its output says how the
    /// run ended.
    #[project = RunningProj]
    pub(crate) enum Running<R> {
        /// A run told through its `Context` (the common case): polled inline,
        /// inside its span (kept only when a subscriber wants it, and boxed:
        /// a disabled span costs the task 8 bytes, not 40), a panic in any
        /// poll its failure. Not polled again after that.
        Inline {
            #[pin]
            run: R,
            span: Option<Box<Span>>,
        },
        /// The rarer kinds, boxed: a run without `Context` (dropped at
        /// shutdown) and a blocking run (awaiting its thread).
        Boxed { run: Pin<Box<dyn Future<Output = Outcome> + Send>> },
        /// The user's function panicked before returning a future.
        Failed { panic: Option<String> },
    }
}

impl<R> Running<R> {
    fn inline(run: R, span: Span) -> Self {
        let span = (!span.is_disabled()).then(|| Box::new(span));
        Running::Inline { run, span }
    }
}

impl<R, E> Future for Running<R>
where
    R: Future<Output = Result<(), E>>,
    E: Into<BoxError>,
{
    type Output = Outcome;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Outcome> {
        let outcome = match self.as_mut().project() {
            RunningProj::Inline { run, span } => {
                let _entered = span.as_deref().map(Span::enter);
                // The error's conversion and text are user code too.
                match poll_guarded(run, cx, |result| Outcome::from_run(Ok(result))) {
                    Poll::Pending => return Poll::Pending,
                    Poll::Ready(Ok(outcome)) => outcome,
                    Poll::Ready(Err(panic)) => Outcome::Failed(panic),
                }
            }
            RunningProj::Boxed { run } => return run.as_mut().poll(cx),
            RunningProj::Failed { panic } => {
                let panic = panic.take();
                return Poll::Ready(Outcome::Failed(
                    panic.unwrap_or_else(|| "polled after it ended".to_owned()),
                ));
            }
        };
        // The run's future is dropped here, under the guard, as a boxed run
        // drops its own at its end: a destructor that panics fails the run.
        let span = match self.as_mut().project() {
            RunningProj::Inline { span, .. } => span.take(),
            _ => None,
        };
        let _entered = span.as_deref().map(Span::enter);
        match catch(|| self.set(Running::Failed { panic: None })) {
            Ok(()) => Poll::Ready(outcome),
            Err(panic) => Poll::Ready(Outcome::Failed(panic)),
        }
    }
}

/// What follows a run.
enum Next {
    /// Restart after the delay; the run failed at that moment (tokio's
    /// clock).
    Restart(Duration, tokio::time::Instant),
    /// A periodic call returned `Ok`: call again after the delay.
    Again(Duration),
    /// The instance ends with this final status.
    End(Status),
}

/// How a pause between two runs went.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Paused {
    /// A zero delay within the task's budget: the next run starts in the
    /// same poll.
    AtOnce,
    /// The task went back to the scheduler (a delay, or its budget was
    /// spent).
    Waited,
    /// Shutdown began meanwhile: the service does not start again.
    Stopping,
}

/// What every instance has, whatever it runs: its lease and its restart
/// policy. The run loop's decisions live here, outside the generic task, so
/// that each body type adds only its own loop.
pub(crate) struct Core {
    lease: Lease,
    policy: RestartPolicy,
}

/// One instance: its core and what it runs.
pub(crate) struct Instance<B> {
    core: Core,
    body: B,
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

/// Registers an instance under `name` and spawns its task.
pub(crate) fn start<B: Body>(
    shared: &Arc<Shared>,
    name: Arc<str>,
    body: B,
    policy: RestartPolicy,
    on_name: OnName,
) -> Result<Started, Error> {
    let runtime = stop::runtime(shared, &name)?;
    let lease = Lease::take(shared, &name, Status::Running, on_name, Role::Task)?;
    Ok(launch(runtime, shared, lease, body, policy))
}

/// Spawns the task of a registered instance.
pub(crate) fn launch<B: Body>(
    runtime: &Handle,
    shared: &Shared,
    lease: Lease,
    body: B,
    policy: RestartPolicy,
) -> Started {
    let started = Started {
        row: lease.row().clone(),
        id: lease.id(),
    };
    let instance = Instance {
        core: Core { lease, policy },
        body,
    };
    let task = spawn_named(runtime, &started.row.name, instance.run());
    let aborter = Aborter { task };
    lease::attach(shared, &started.row, started.id, aborter);
    started
}

impl<B: Body> Instance<B> {
    /// Attempt after attempt until a final status.
    ///
    /// A plain `fn` returning an `async move` block rather than an `async fn`
    /// (which would keep `self` twice in the future), and only the common
    /// path is awaited inline: the backoff sleep, the dependency wait, a
    /// service without `Context` and blocking runs are boxed when used. This
    /// keeps the per-service task small.
    #[allow(clippy::manual_async_fn)] // deliberate: see above
    fn run(self) -> impl Future<Output = ()> + Send + 'static {
        let Instance { core, body } = self;
        async move {
            let place = body.place();
            // Runs over the instance's lifetime, and failures in a row.
            let mut attempt: u32 = 0;
            let mut streak: u32 = 0;
            if place.is_some_and(|place| place.waits) {
                if let Err(status) = core.dependencies(place).await {
                    return core.end(status, place);
                }
                core.lease.running();
            }
            // When the current run began, on tokio's clock, for the reset
            // of a streak of failures after a healthy run: only a restarted
            // run has a streak to reset (a first run, or a periodic call
            // after an `Ok`, starts with none), so only its start is read.
            let mut began: Option<tokio::time::Instant> = None;
            loop {
                let (ctx, span) = core.begin(attempt, place);
                let outcome = body.start(&core, ctx, span, attempt).await;
                let (delay, restart) = match core.after_run(outcome, began, &mut streak, place) {
                    Next::Restart(delay, failed_at) => {
                        began = Some(failed_at);
                        (delay, true)
                    }
                    Next::Again(every) => (every, false),
                    Next::End(status) => return core.end(status, place),
                };
                let mut at_once = match core.pause(delay).await {
                    Paused::Stopping => return core.end(Status::Stopped, place),
                    paused => paused == Paused::AtOnce,
                };
                attempt = attempt.saturating_add(1);
                if !restart {
                    // A periodic service's next call, with no streak.
                    began = None;
                    continue;
                }
                if place.is_some_and(|place| place.waits) {
                    core.lease.queued();
                    if let Err(status) = core.dependencies(place).await {
                        return core.end(status, place);
                    }
                    at_once = false;
                }
                // A restart in the same poll starts when the run failed: no
                // clock is read again.
                if !at_once {
                    began = Some(tokio::time::Instant::now());
                }
                core.restarted(attempt, at_once);
            }
        }
    }
}

impl Core {
    /// What run `attempt` gets: its `Context`, and its `service` span.
    fn begin(&self, attempt: u32, place: Option<Place>) -> (Context, Span) {
        let row = self.lease.row();
        let span = tracing::info_span!("service", name = %row.name, attempt);
        let ctx = Context::new(
            attempt,
            Arc::clone(self.lease.shared()),
            row.clone(),
            self.lease.id(),
            place.is_some_and(|place| place.ordered),
        );
        (ctx, span)
    }

    /// Waits `delay` before the next run.
    async fn pause(&self, delay: Duration) -> Paused {
        let shared = self.lease.shared();
        if !delay.is_zero() {
            return if Box::pin(wait_backoff(shared, delay)).await {
                Paused::Waited
            } else {
                Paused::Stopping
            };
        }
        // Restart at once. The task goes back to the scheduler only when its
        // cooperative budget is spent (tokio's 128 units per poll), so a
        // service failing in a tight loop still lets the others on its
        // worker run and sees an abort, without a trip through the
        // scheduler on every restart.
        let mut budget = std::pin::pin!(tokio::task::consume_budget());
        let mut paused = Paused::AtOnce;
        std::future::poll_fn(|cx| {
            let poll = budget.as_mut().poll(cx);
            if poll.is_pending() {
                paused = Paused::Waited;
            }
            poll
        })
        .await;
        if shared.is_stopping() {
            Paused::Stopping
        } else {
            paused
        }
    }

    /// The row shows the restart that begins: at the failure's time when
    /// it follows at once, else now.
    fn restarted(&self, attempt: u32, at_once: bool) {
        self.lease.restarted(at_once);
        tracing::info!(service = %self.lease.row().name, attempt, "restarting");
    }

    /// Decides what follows a run, and records a restart in the row.
    fn after_run(
        &self,
        outcome: Outcome,
        began: Option<tokio::time::Instant>,
        streak: &mut u32,
        place: Option<Place>,
    ) -> Next {
        let stopping = self.lease.shared().is_stopping();
        let reason = match outcome {
            Outcome::Returned if stopping => return Next::End(Status::Stopped),
            Outcome::Returned => {
                return match self.every(place) {
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
        let failed_at = tokio::time::Instant::now();
        if began.is_some_and(|began| failed_at.duration_since(began) >= HEALTHY_AFTER) {
            *streak = 0;
        }
        *streak = streak.saturating_add(1);
        let max = self.policy.max_restarts();
        let Some(delay) = self.policy.delay(*streak) else {
            tracing::error!(service = %name, %reason, restarts_in_a_row = *streak - 1, "failed; no restart left");
            return Next::End(Status::Failed { reason });
        };
        tracing::warn!(service = %name, %reason, attempt = *streak, max, ?delay, "failed; restarting after the delay");
        self.lease.restarting(*streak, max, reason);
        Next::Restart(delay, failed_at)
    }

    /// Waits until the dependencies are ready (the row shows `Queued`);
    /// `Err` with the final status when the instance must not start.
    /// Boxed, and only for services with `after`, so that others pay
    /// nothing.
    async fn dependencies(&self, place: Option<Place>) -> Result<(), Status> {
        let Some(place) = place.filter(|place| place.waits) else {
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

    /// Ends the instance with its final status.
    fn end(self, status: Status, place: Option<Place>) {
        let name = &self.lease.row().name;
        match &status {
            Status::Completed => tracing::info!(service = %name, "completed"),
            Status::Stopped => tracing::info!(service = %name, "stopped"),
            _ => {}
        }
        // A critical service that ends before shutdown ends the program.
        let critical_end =
            place.is_some_and(|place| place.critical) && !self.lease.shared().is_stopping();
        if !critical_end {
            self.lease.end(status);
            return;
        }
        let failure = match &status {
            Status::Failed { reason } => Some(reason.clone()),
            _ => None,
        };
        let name = Arc::clone(name);
        let shared = Arc::clone(self.lease.shared());
        self.lease.end(status);
        match &failure {
            Some(reason) => {
                tracing::error!(service = %name, %reason, "a critical service failed: shutting down")
            }
            None => tracing::info!(service = %name, "a critical service completed: shutting down"),
        }
        shared.shutdown.set_cause(Cause::Critical {
            service: name,
            failure,
        });
        shared.stop();
    }

    /// Logs the start of run `attempt` in its span: `info`, or `debug` for a
    /// periodic service's calls after its first.
    fn log_start(&self, span: &Span, attempt: u32, place: Option<Place>) {
        if self.is_repeat(attempt, place) {
            span.in_scope(|| tracing::debug!("called again"));
        } else {
            span.in_scope(|| tracing::info!("started"));
        }
    }

    /// Whether this run is a periodic service's call after its first one:
    /// logged at `debug`, so that a service called every few seconds does
    /// not fill the logs.
    fn is_repeat(&self, attempt: u32, place: Option<Place>) -> bool {
        attempt > 0 && place.is_some_and(|place| place.periodic)
    }

    /// The delay between two calls of a periodic service.
    fn every(&self, place: Option<Place>) -> Option<Duration> {
        let place = place.filter(|place| place.periodic)?;
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
    /// (the rare paths are boxed; see `Instance::run`).
    #[tokio::test]
    async fn the_spawned_future_stays_small() {
        let shared = Shared::for_tests();
        let factory: Factory = Arc::new(|_ctx| Box::pin(async { Ok(()) }));
        let future = Instance {
            core: Core {
                lease: lease(&shared, "boxed"),
                policy: RestartPolicy::Never,
            },
            body: Work::Task(factory),
        }
        .run();
        let size = std::mem::size_of_val(&future);
        // 200 bytes now; with tokio's 96 bytes of task header and trailer,
        // up to 288 is a 384-byte task, and a byte more a 512-byte one.
        assert!(size <= 256, "the per-service future grew to {size} bytes");
    }

    /// `spawn_fn` keeps the user's future inside the task: what the task
    /// adds around it must stay small, or every service's task grows a size
    /// class (tokio rounds tasks up to multiples of 128 bytes).
    #[tokio::test]
    async fn a_spawn_fn_task_adds_little_to_the_users_future() {
        let shared = Shared::for_tests();
        let user = |ctx: Context| async move {
            ctx.cancelled().await;
            Ok::<(), BoxError>(())
        };
        let users = std::mem::size_of_val(&user(Context::detached(
            "probe",
            tokio_util::sync::CancellationToken::new(),
        )));
        let future = Instance {
            core: Core {
                lease: lease(&shared, "inline"),
                policy: RestartPolicy::Never,
            },
            body: FnBody(user),
        }
        .run();
        let added = std::mem::size_of_val(&future) - users;
        // 128 bytes: the lease, the policy, the loop's counters and start
        // time, the run's span and state.
        assert!(
            added <= 136,
            "the task adds {added} bytes to the user's future"
        );
    }

    fn lease(shared: &Arc<Shared>, name: &str) -> Lease {
        Lease::take(
            shared,
            &Arc::from(name),
            Status::Running,
            OnName::Share,
            Role::Task,
        )
        .expect("registered")
    }
}
