//! One name's row: what the snapshot shows of the latest instance under it.
//!
//! Plain data. Every change of a row's state goes through
//! [`lease`](super::lease), which owns the lifecycle; this file only says
//! what a row holds and how it reads.

use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::panic::lock;
use crate::status::{ServiceSnapshot, Status};

/// The id of one instance: unique within a supervisor, never reused.
pub(crate) type InstanceId = u64;

/// What kind of instance a row shows.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Kind {
    /// A service declared with `#[supervised]`.
    Declared,
    /// A task started by `Supervisor::spawn`.
    Task,
    /// A job (`spawn_blocking`, `spawn_oneshot`): its failure is its
    /// handle's to report, not the shutdown's.
    Job,
}

/// One name's row.
pub(crate) struct Row {
    pub(crate) name: Arc<str>,
    pub(crate) state: Mutex<RowState>,
}

/// The metrics of one name (label `service`), built once: building a
/// handle through the `metrics` macros allocates its key every time.
pub(crate) struct RowMetrics {
    pub(crate) failures: metrics::Counter,
    pub(crate) restarts: metrics::Counter,
    pub(crate) wall_time: metrics::Histogram,
    pub(crate) cpu_time: metrics::Histogram,
}

/// What a row says, behind its lock.
///
/// The row's *active set* is the instance it shows while its status is
/// active, plus the hidden ones (`Extra::others`): still-running instances the row no longer shows
/// (an earlier job under a shared name, or a service a job under its name
/// overshadowed).
pub(crate) struct RowState {
    /// The instance this row describes; writes from any other are ignored.
    pub(crate) instance: InstanceId,
    /// Its status, without a failure's text (in the rare part): see
    /// [`RowState::status`] and [`RowState::set_status`].
    pub(crate) phase: Phase,
    /// Whether the instance is ready (see [`Readiness`](crate::Readiness)):
    /// only `lease` decides.
    pub(crate) ready: bool,
    /// When the run started and when it ended (`RUNNING` while it runs),
    /// as nanoseconds after [`origin`]: 8 bytes each where an `Instant`
    /// takes 16 (and an `Option<Instant>` 16), one subtraction to write.
    /// Read and written through the methods of the same names.
    started: u64,
    ended: u64,
    /// How to abort the current instance's task, while it is active.
    pub(crate) abort: Option<Aborter>,
    /// The rarely used part: boxed, since almost every row has none of it,
    /// and rows are what 100,000 services multiply.
    pub(crate) extra: Option<Box<Extra>>,
    /// The kind of the instance this row describes (fits in padding: the
    /// row does not grow).
    pub(crate) kind: Kind,
    /// Whether a declared service ever ran under this name: such a row is
    /// never evicted, whatever runs under it later (padding too).
    pub(crate) declared: bool,
}

/// What few rows need.
#[derive(Default)]
pub(crate) struct Extra {
    /// The text of the latest failure (shown until the name starts afresh).
    pub(crate) last_failure: Option<Box<str>>,
    /// How many times the instance the row shows was restarted (a restart
    /// follows a failure, so the rare part is there already).
    pub(crate) restarts: u32,
    /// The name's metric handles, made on first use (a failure, a restart,
    /// a blocking run): building one through the `metrics` macros allocates
    /// its key every time.
    pub(crate) metrics: Option<Arc<RowMetrics>>,
    /// Active instances under this name that the row no longer shows.
    pub(crate) others: Vec<Hidden>,
    /// The cancellation of each active instance whose run asked for one
    /// (`Context::token`, or a detachable `Context` waiting to be
    /// cancelled). Made on demand, so a service that never asks pays nothing.
    pub(crate) run_tokens: Vec<(InstanceId, CancellationToken)>,
    /// For a declared service others start after: what its `Context`
    /// watches instead of the supervisor's token, cancelled at shutdown only
    /// once every service that depends on it has ended.
    pub(crate) stop: Option<CancellationToken>,
}

/// A row's [`Status`] in 12 bytes, where `Status` takes 24: a failure's
/// text is the row's latest failure, kept in its rare part.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Phase {
    Queued,
    Running,
    Restarting { attempt: u32, max: u32 },
    Completed,
    Stopped,
    Aborted,
    Failed,
}

impl Phase {
    /// The phase of `status`.
    pub(crate) fn of(status: &Status) -> Phase {
        match status {
            Status::Queued => Phase::Queued,
            Status::Running => Phase::Running,
            Status::Restarting { attempt, max } => Phase::Restarting {
                attempt: *attempt,
                max: *max,
            },
            Status::Completed => Phase::Completed,
            Status::Stopped => Phase::Stopped,
            Status::Aborted => Phase::Aborted,
            Status::Failed { .. } => Phase::Failed,
        }
    }

    /// Whether it is `Queued`, `Running` or `Restarting`.
    pub(crate) fn is_active(self) -> bool {
        matches!(
            self,
            Phase::Queued | Phase::Running | Phase::Restarting { .. }
        )
    }

    /// The status, a failure's text made by `reason` (called for `Failed`
    /// only).
    pub(crate) fn status(self, reason: impl FnOnce() -> String) -> Status {
        match self {
            Phase::Queued => Status::Queued,
            Phase::Running => Status::Running,
            Phase::Restarting { attempt, max } => Status::Restarting { attempt, max },
            Phase::Completed => Status::Completed,
            Phase::Stopped => Status::Stopped,
            Phase::Aborted => Status::Aborted,
            Phase::Failed => Status::Failed { reason: reason() },
        }
    }
}

/// `ended` of a run that has not ended.
const RUNNING: u64 = u64::MAX;

/// The moment row times count from: the first table's creation (every row
/// time is taken later).
pub(crate) fn origin() -> Instant {
    static ORIGIN: OnceLock<Instant> = OnceLock::new();
    *ORIGIN.get_or_init(Instant::now)
}

/// Nanoseconds from the origin to `at` (none when `at` is earlier), below
/// `RUNNING`: 584 years.
pub(crate) fn since_origin(at: Instant) -> u64 {
    let nanos = at.saturating_duration_since(origin()).as_nanos();
    u64::try_from(nanos).unwrap_or(RUNNING - 1).min(RUNNING - 1)
}

impl RowState {
    /// The status the row shows.
    pub(crate) fn status(&self) -> Status {
        self.phase
            .status(|| self.last_failure().unwrap_or_default().to_owned())
    }

    /// Sets the status; a failure's text becomes the latest failure.
    pub(crate) fn set_status(&mut self, status: Status) {
        self.phase = Phase::of(&status);
        if let Status::Failed { reason } = status {
            self.set_last_failure(Some(reason.into_boxed_str()));
        }
    }

    /// Whether the instance the row shows is active.
    pub(crate) fn is_active(&self) -> bool {
        self.phase.is_active()
    }

    /// When the run the row shows started.
    pub(crate) fn started_at(&self) -> Instant {
        origin() + Duration::from_nanos(self.started)
    }

    /// Records when the run started; the caller sets when it ended too.
    pub(crate) fn set_started_at(&mut self, at: Instant) {
        self.started = since_origin(at);
    }

    /// The next run starts when the last one ended (a restart in the same
    /// poll as the failure).
    pub(crate) fn start_when_ended(&mut self) {
        if self.ended != RUNNING {
            self.started = self.ended;
        }
    }

    /// When the run the row shows ended; `None` while it runs.
    pub(crate) fn ended_at(&self) -> Option<Instant> {
        (self.ended != RUNNING).then(|| origin() + Duration::from_nanos(self.ended))
    }

    /// Records when the run ended (`None`: it runs), never before it started.
    pub(crate) fn set_ended_at(&mut self, at: Option<Instant>) {
        self.ended = match at {
            None => RUNNING,
            Some(at) => since_origin(at).max(self.started),
        };
    }

    /// Records when the run ended, a row time, unless it has already.
    pub(crate) fn end_if_running(&mut self, at: u64) {
        if self.ended == RUNNING {
            self.ended = at.max(self.started).min(RUNNING - 1);
        }
    }

    /// How long the run has been up at `now`, or was up when it ended.
    fn uptime(&self, now: Instant) -> Duration {
        let end = match self.ended {
            RUNNING => since_origin(now),
            ended => ended,
        };
        Duration::from_nanos(end.saturating_sub(self.started))
    }

    /// The name's metric handles, when made already.
    pub(crate) fn metrics(&self) -> Option<Arc<RowMetrics>> {
        self.extra.as_ref()?.metrics.clone()
    }

    /// How many times the instance the row shows was restarted.
    pub(crate) fn restarts(&self) -> u32 {
        self.extra.as_ref().map_or(0, |extra| extra.restarts)
    }

    /// Counts one more restart.
    pub(crate) fn count_restart(&mut self) {
        let restarts = &mut self.extra_mut().restarts;
        *restarts = restarts.saturating_add(1);
    }

    /// Forgets the restarts (a new instance starts afresh).
    pub(crate) fn clear_restarts(&mut self) {
        if let Some(extra) = self.extra.as_mut() {
            extra.restarts = 0;
            self.tidy();
        }
    }

    /// The text of the latest failure.
    pub(crate) fn last_failure(&self) -> Option<&str> {
        self.extra.as_ref()?.last_failure.as_deref()
    }

    /// Sets (or clears) the text of the latest failure.
    pub(crate) fn set_last_failure(&mut self, failure: Option<Box<str>>) {
        match failure {
            Some(failure) => self.extra_mut().last_failure = Some(failure),
            None => {
                if let Some(extra) = self.extra.as_mut() {
                    extra.last_failure = None;
                    self.tidy();
                }
            }
        }
    }

    /// The hidden part of the active set.
    pub(crate) fn others(&self) -> &[Hidden] {
        self.extra.as_deref().map_or(&[], |extra| &extra.others)
    }

    /// The hidden part of the active set, to take abort handles from.
    pub(crate) fn others_mut(&mut self) -> &mut [Hidden] {
        match self.extra.as_deref_mut() {
            Some(extra) => &mut extra.others,
            None => &mut [],
        }
    }

    /// The rare part, made when first needed.
    pub(crate) fn extra_mut(&mut self) -> &mut Extra {
        self.extra.get_or_insert_with(Box::default)
    }

    /// Whether the row may leave the table (see [`table`](super::table)):
    /// not a declared service's, its instance has ended, and no hidden
    /// instance still runs under its name.
    pub(crate) fn finished(&self) -> bool {
        !self.declared && !self.is_active() && self.others().is_empty()
    }

    /// Frees the rare part once it holds nothing.
    pub(crate) fn tidy(&mut self) {
        if self.extra.as_ref().is_some_and(|extra| {
            extra.others.is_empty()
                && extra.run_tokens.is_empty()
                && extra.stop.is_none()
                && extra.last_failure.is_none()
                && extra.restarts == 0
                && extra.metrics.is_none()
        }) {
            self.extra = None;
        }
    }
}

/// An active instance the row no longer shows: its id and abort handle.
pub(crate) type Hidden = (InstanceId, Option<Aborter>);

/// Aborts one instance's task: the task's `JoinHandle`, kept by the row
/// while the instance is active (cheaper to keep than to trade for an
/// `AbortHandle`: both are atomic operations on the task's header, which the
/// worker that runs the task is touching at that moment). The row lets go of
/// it when the instance ends, so a finished task is freed at once.
///
/// A job's handle tells an abort from a runtime that went away by whether
/// its instance had left the active set: every abort takes it out before it
/// fires.
#[derive(Debug)]
pub(crate) struct Aborter {
    pub(crate) task: JoinHandle<()>,
}

impl Aborter {
    pub(crate) fn fire(&self) {
        self.task.abort();
    }
}

/// How a row starts out for a new instance.
#[derive(Clone)]
pub(crate) struct Start {
    pub(crate) instance: InstanceId,
    pub(crate) kind: Kind,
    pub(crate) status: Status,
    pub(crate) ready: bool,
    pub(crate) at: Instant,
}

impl Row {
    pub(crate) fn new(name: Arc<str>, start: Start) -> Self {
        let mut state = RowState {
            instance: start.instance,
            phase: Phase::Running,
            ready: start.ready,
            started: since_origin(start.at),
            ended: RUNNING,
            abort: None,
            extra: None,
            kind: start.kind,
            declared: start.kind == Kind::Declared,
        };
        state.set_status(start.status);
        Row {
            name,
            state: Mutex::new(state),
        }
    }

    /// The name's metric handles, made on first use. Made outside the row
    /// lock: the recorder is the application's code.
    pub(crate) fn metrics(&self) -> Arc<RowMetrics> {
        if let Some(metrics) = lock(&self.state)
            .extra
            .as_ref()
            .and_then(|extra| extra.metrics.clone())
        {
            return metrics;
        }
        let label = || ("service", self.name.to_string());
        let made = Arc::new(RowMetrics {
            failures: metrics::counter!("supervisor.failures", &[label()]),
            restarts: metrics::counter!("supervisor.restarts", &[label()]),
            wall_time: metrics::histogram!("supervisor.task.wall_time_ms", &[label()]),
            cpu_time: metrics::histogram!("supervisor.task.cpu_time_ms", &[label()]),
        });
        // Another thread may have made them meanwhile: the first one stays.
        let mut s = lock(&self.state);
        Arc::clone(s.extra_mut().metrics.get_or_insert(made))
    }

    /// The row as the public snapshot shows it.
    pub(crate) fn snapshot(&self, now: Instant) -> ServiceSnapshot {
        let s = lock(&self.state);

        ServiceSnapshot {
            name: Arc::clone(&self.name),
            status: s.status(),
            ready: s.ready,
            restarts: s.restarts(),
            started_at: s.started_at(),
            uptime: s.uptime(now),
            last_failure: s.last_failure().map(str::to_owned),
        }
    }

    /// `Some(Failed { .. })` when the row's service failed; never for a
    /// job, whose failure its handle reports.
    pub(crate) fn failed(&self) -> Option<Status> {
        let s = lock(&self.state);
        (s.kind != Kind::Job && s.phase == Phase::Failed).then(|| s.status())
    }

    /// The instance the row shows, when the row is
    /// [`finished`](RowState::finished).
    pub(crate) fn finished_instance(&self) -> Option<InstanceId> {
        let s = lock(&self.state);
        s.finished().then_some(s.instance)
    }

    /// The status the row shows.
    #[cfg(test)]
    pub(crate) fn status(&self) -> Status {
        lock(&self.state).status()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A row per service: 100,000 services multiply every byte.
    #[test]
    fn a_row_stays_small() {
        let size = std::mem::size_of::<Row>();
        assert!(size <= 80, "a row grew to {size} bytes");
    }
}
