//! The task table: one row per name, written by the instance that owns it.
//!
//! Each row belongs to the latest instance started under its name, identified
//! by a unique instance id. Every write names the instance it comes from and
//! is dropped when the row has moved on to a later instance, or when the row
//! already holds a final status: a replaced or aborted instance can never
//! relabel, restart or remove its successor.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Instant;

use std::sync::atomic::{AtomicBool, Ordering};

use tokio::task::AbortHandle;
use tokio_util::sync::CancellationToken;

use crate::{ServiceSnapshot, Status};

/// Locks a mutex whose data stays consistent even if a holder panicked (no
/// user code ever runs under our locks, and every critical section is a few
/// field writes).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// All rows, in order of first start, and the name index.
#[derive(Default)]
pub(crate) struct Table {
    pub(crate) rows: Vec<Arc<Row>>,
    index: HashMap<Arc<str>, usize>,
}

impl Table {
    /// The row for `name`, created at the end when the name is new.
    pub(crate) fn row_for(&mut self, name: &Arc<str>, make: impl FnOnce() -> Row) -> Arc<Row> {
        if let Some(&i) = self.index.get(name) {
            return Arc::clone(&self.rows[i]);
        }
        let row = Arc::new(make());
        self.index.insert(Arc::clone(name), self.rows.len());
        self.rows.push(Arc::clone(&row));
        row
    }

    pub(crate) fn get(&self, name: &str) -> Option<&Arc<Row>> {
        self.index.get(name).map(|&i| &self.rows[i])
    }
}

/// One name's row.
pub(crate) struct Row {
    pub(crate) name: Arc<str>,
    state: Mutex<RowState>,
}

struct RowState {
    /// The instance this row describes; writes from any other are ignored.
    instance: u64,
    status: Status,
    restarts: u32,
    started_at: Instant,
    ended_at: Option<Instant>,
    last_failure: Option<String>,
    /// How to abort the instance's task, while it is active.
    abort: Option<Aborter>,
}

/// Aborts one instance's task; for a job, first flags the abort as requested
/// so its handle reports `Aborted` rather than `SupervisorDropped`.
#[derive(Clone, Debug)]
pub(crate) struct Aborter {
    pub(crate) task: AbortHandle,
    pub(crate) requested: Option<Arc<AtomicBool>>,
}

impl Aborter {
    pub(crate) fn fire(&self) {
        if let Some(flag) = &self.requested {
            flag.store(true, Ordering::Release);
        }
        self.task.abort();
    }
}

/// What [`Row::abort`] found.
pub(crate) enum AbortOutcome {
    /// The instance was active; it is now marked `Aborted` and its task was aborted.
    Aborted,
    /// Nothing to abort: the instance had ended or been replaced.
    NotRunning,
}

impl Row {
    pub(crate) fn new(name: Arc<str>, instance: u64, status: Status, now: Instant) -> Self {
        Row {
            name,
            state: Mutex::new(RowState {
                instance,
                status,
                restarts: 0,
                started_at: now,
                ended_at: None,
                last_failure: None,
                abort: None,
            }),
        }
    }

    /// Hands the row to a new instance; returns the abort handle of the
    /// previous one if it is still active (when `replace` is set).
    pub(crate) fn reset(
        &self,
        instance: u64,
        status: Status,
        now: Instant,
        replace: bool,
    ) -> Option<Aborter> {
        let mut s = lock(&self.state);
        let previous = if replace && s.status.is_active() {
            s.abort.take()
        } else {
            None
        };
        *s = RowState {
            instance,
            status,
            restarts: 0,
            started_at: now,
            ended_at: None,
            last_failure: None,
            abort: None,
        };
        previous
    }

    /// Stores the instance's abort handle; aborts it at once when the row was
    /// handed to a later instance in the meantime (so a replacement that raced
    /// with our spawn still stops us).
    ///
    /// Likewise when the kill scan has already passed (`kill` is cancelled):
    /// the check runs under the row lock the scan takes, so no instance
    /// escapes it.
    pub(crate) fn attach(&self, instance: u64, handle: Aborter, kill: &CancellationToken) {
        let mut s = lock(&self.state);
        if s.instance != instance || (s.status.is_active() && kill.is_cancelled()) {
            drop(s);
            handle.fire();
        } else if s.status.is_active() {
            s.abort = Some(handle);
        }
    }

    /// The kill scan: the abort handle of the row's instance, if still active.
    pub(crate) fn take_active_aborter(&self) -> Option<Aborter> {
        let mut s = lock(&self.state);
        if s.status.is_active() {
            s.abort.take()
        } else {
            None
        }
    }

    /// Applies `f` when the row still belongs to `instance` and is active.
    fn update(&self, instance: u64, f: impl FnOnce(&mut RowState)) -> bool {
        let mut s = lock(&self.state);
        if s.instance == instance && s.status.is_active() {
            f(&mut s);
            true
        } else {
            false
        }
    }

    /// Whether the row still describes `instance` and it is active.
    pub(crate) fn is_current(&self, instance: u64) -> bool {
        let s = lock(&self.state);
        s.instance == instance && s.status.is_active()
    }

    pub(crate) fn set_running(&self, instance: u64, now: Instant) {
        self.update(instance, |s| {
            s.status = Status::Running;
            s.started_at = now;
            s.ended_at = None;
        });
    }

    /// A run failed and a restart is scheduled; `false` (and no change) when
    /// shutdown has begun (`root` is cancelled) or the row moved on. The check
    /// runs under the row lock, so it is atomic with the transition.
    pub(crate) fn set_restarting(
        &self,
        instance: u64,
        attempt: u32,
        max: u32,
        reason: &str,
        now: Instant,
        root: &CancellationToken,
    ) -> bool {
        let mut s = lock(&self.state);
        if s.instance != instance || !s.status.is_active() {
            return false;
        }
        s.last_failure = Some(reason.to_string());
        if root.is_cancelled() {
            return false;
        }
        s.status = Status::Restarting { attempt, max };
        s.ended_at = Some(now);
        true
    }

    /// The backoff delay is over and the next run starts; `false` (and no
    /// change) when shutdown has begun or the row moved on.
    pub(crate) fn set_restarted(
        &self,
        instance: u64,
        now: Instant,
        root: &CancellationToken,
    ) -> bool {
        let mut s = lock(&self.state);
        if s.instance != instance || !s.status.is_active() || root.is_cancelled() {
            return false;
        }
        s.status = Status::Running;
        s.restarts = s.restarts.saturating_add(1);
        s.started_at = now;
        s.ended_at = None;
        true
    }

    /// Records the final status; ignored when the row moved on.
    pub(crate) fn finish(&self, instance: u64, status: Status, ended_at: Instant) {
        self.update(instance, |s| {
            if let Status::Failed { reason } = &status {
                s.last_failure = Some(reason.clone());
            }
            s.status = status;
            s.ended_at = Some(s.ended_at.unwrap_or(ended_at).max(s.started_at));
            s.abort = None;
        });
    }

    /// Aborts `instance` (or, with `None`, whatever instance is current) on
    /// the program's request: marks it `Aborted` at once and aborts its task.
    pub(crate) fn abort(&self, instance: Option<u64>, now: Instant) -> AbortOutcome {
        let mut s = lock(&self.state);
        let current = instance.is_none_or(|id| id == s.instance);
        if !current || !s.status.is_active() {
            return AbortOutcome::NotRunning;
        }
        s.status = Status::Aborted;
        if s.ended_at.is_none() {
            s.ended_at = Some(now);
        }
        let handle = s.abort.take();
        drop(s);
        if let Some(handle) = handle {
            handle.fire();
        }
        AbortOutcome::Aborted
    }

    /// The row as the public snapshot shows it.
    pub(crate) fn snapshot(&self, now: Instant) -> ServiceSnapshot {
        let s = lock(&self.state);
        let end = s.ended_at.unwrap_or(now);
        ServiceSnapshot {
            name: Arc::clone(&self.name),
            status: s.status.clone(),
            restarts: s.restarts,
            started_at: s.started_at,
            uptime: end.saturating_duration_since(s.started_at),
            last_failure: s.last_failure.clone(),
        }
    }

    /// `Some(Failed { .. })` when the row's service failed.
    pub(crate) fn failed(&self) -> Option<Status> {
        let s = lock(&self.state);
        matches!(s.status, Status::Failed { .. }).then(|| s.status.clone())
    }

    #[cfg(test)]
    pub(crate) fn status(&self) -> Status {
        lock(&self.state).status.clone()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn writes_of_a_replaced_instance_are_ignored() {
        let now = Instant::now();
        let row = Row::new("svc".into(), 1, Status::Running, now);
        assert!(row.reset(2, Status::Running, now, true).is_none());
        row.finish(
            1,
            Status::Failed {
                reason: "old".into(),
            },
            now,
        );
        assert!(!row.set_restarting(1, 1, 3, "old", now, &CancellationToken::new()));
        assert_eq!(row.status(), Status::Running);
        row.finish(2, Status::Completed, now);
        assert_eq!(row.status(), Status::Completed);
    }

    #[test]
    fn a_final_status_is_never_overwritten() {
        let now = Instant::now();
        let row = Row::new("svc".into(), 1, Status::Running, now);
        assert!(matches!(row.abort(Some(1), now), AbortOutcome::Aborted));
        row.finish(1, Status::Completed, now);
        assert_eq!(row.status(), Status::Aborted);
        assert!(matches!(row.abort(Some(1), now), AbortOutcome::NotRunning));
        assert!(
            row.failed().is_none(),
            "an abort on request is not an error"
        );
    }
}
