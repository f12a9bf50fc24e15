//! The life of an instance, in one place.
//!
//! An *instance* is one service started under a name (a declared service, an
//! imperative task) or one job. Its life is a [`Lease`]: taken when the
//! instance is registered, it counts the instance active from that moment,
//! it is the only way to change the instance's row, and it is consumed when
//! the instance ends: the final status is written and the active count given
//! back exactly once, whatever path the instance took. Dropped without an
//! end (the task was aborted, or its runtime went away), it records
//! `Aborted`. Service instances ([`service`](super::service)) and jobs
//! ([`jobs`](super::jobs)) are two drivers of the same lease.
//!
//! ```text
//!                 ┌──────── restarted (after the backoff delay) ────────┐
//!                 v                                                      │
//! registered ─> Running ──returned Ok──────> Completed (Stopped if shutting down)
//!   │  (Queued    │  └──panic / Err──> policy allows? ──yes──> Restarting ┘
//!   │  until a    │                          └──no──────> Failed { reason }
//!   │  job slot)  ├──shutdown, no Context (dropped)─────> Stopped
//!   │             ├──shutdown deadline / second signal──> Aborted  (killed)
//!   │             └──abort on request / replaced────────> Aborted
//!   └──shutdown while Queued or Restarting──────────────> Stopped
//! ```
//!
//! # The active set
//!
//! A row shows the latest instance under its name. Instances that still run
//! but that the row no longer shows (an earlier job under a shared name, a
//! service a job overshadowed) stay in the row's *active set*, as hidden
//! entries. Every move out of the active set happens under the row's lock,
//! and whoever makes it gives the active count back: the instance ending
//! ([`Lease::end`]), an abort on request ([`abort`]), or a replacement
//! ([`Lease::take`] with [`OnName::Replace`]). So the count is exact, and a
//! stale instance can never write over a newer one: every write names its
//! instance id and is dropped when the row has moved on.
//!
//! Whoever makes a task's or job's row *finished* (its instance ended and
//! nothing else runs under its name) hands it to the table's retention,
//! which may evict the oldest finished row (see [`table`](super::table)). A
//! handle to an evicted row stays harmless by the same rule: its instance
//! has ended, and instance ids are never reused.

use std::sync::Arc;
use std::time::Instant;

use tokio_util::sync::CancellationToken;

use super::row::{Aborter, InstanceId, Kind, Phase, Row, RowState, Start};
use super::shared::Shared;
use super::table::RowRef;
use crate::error::Error;
use crate::panic::lock;
use crate::spec::Readiness;
use crate::status::Status;

/// What registering a name that is already active does to the instance
/// that runs under it.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum OnName {
    /// Abort it: the new instance takes its place (`spawn`).
    Replace,
    /// Leave it running, out of sight; both count as active (jobs).
    Share,
}

/// One instance's life; see the module documentation.
pub(crate) struct Lease {
    shared: Arc<Shared>,
    row: RowRef,
    id: InstanceId,
    /// When a run counts as ready.
    readiness: Readiness,
    /// Whether the instance is a declared service: its readiness and status
    /// changes wake whoever waits on declared services.
    declared: bool,
    /// Set by [`Lease::end`]; otherwise `Drop` records `Aborted`.
    ended: bool,
}

/// Who an instance is: a declared service (with its `ready = ...`), an
/// imperative task, or a job (both ready while running, never waited for).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Role {
    Declared(Readiness),
    Task,
    Job,
}

impl Role {
    /// What its row records of it.
    fn kind(self) -> Kind {
        match self {
            Role::Declared(_) => Kind::Declared,
            Role::Task => Kind::Task,
            Role::Job => Kind::Job,
        }
    }
}

impl Lease {
    /// Registers a new instance under `name`, counted active from now on.
    ///
    /// # Errors
    ///
    /// [`Error::ShuttingDown`] once the shutdown has begun (checked under
    /// the table lock, so the shutdown never misses an instance), and
    /// [`Error::RuntimeGone`] when the supervisor's runtime has shut down.
    pub(crate) fn take(
        shared: &Arc<Shared>,
        name: &Arc<str>,
        status: Status,
        on_name: OnName,
        role: Role,
    ) -> Result<Lease, Error> {
        let (readiness, declared) = match role {
            Role::Declared(readiness) => (readiness, true),
            Role::Task | Role::Job => (Readiness::Started, false),
        };
        let ready = status == Status::Running && readiness == Readiness::Started;
        let now = Instant::now();
        let mut table = lock(&shared.table);
        // The flag only, not the token (whose mutex every registration would
        // take): a cancellation from outside sets the flag as soon as the
        // watcher sees it, and the watcher counts what registered before.
        if shared.shutdown.flagged() {
            return Err(Error::ShuttingDown {
                name: Arc::clone(name),
            });
        }
        if shared.shutdown.runtime_gone() {
            return Err(Error::RuntimeGone {
                name: Arc::clone(name),
            });
        }
        let id = table.next_id();
        let start = Start {
            instance: id,
            kind: role.kind(),
            status,
            ready,
            at: now,
        };
        // A new name gets a row made from `start`; a known one is handed
        // over to it.
        let mut fresh = false;
        let row = table.row_for(name, || {
            fresh = true;
            shared.emit(name, &start.status, start.ready);
            Row::new(Arc::clone(name), start.clone())
        });
        let replaced = if fresh {
            None
        } else {
            hand_over(shared, &row, start, on_name)
        };
        shared.active.acquire();
        drop(table);
        if let Some(replaced) = replaced {
            tracing::info!(service = %name, "replaced: aborting the previous instance");
            shared.active.release();
            replaced.stop();
        }
        Ok(Lease {
            shared: Arc::clone(shared),
            row,
            id,
            readiness,
            declared,
            ended: false,
        })
    }

    pub(crate) fn row(&self) -> &RowRef {
        &self.row
    }

    pub(crate) fn id(&self) -> InstanceId {
        self.id
    }

    pub(crate) fn shared(&self) -> &Arc<Shared> {
        &self.shared
    }

    /// Applies `f` when the row still shows this instance as active; then
    /// wakes the waiters on declared services.
    fn write<R>(&self, f: impl FnOnce(&mut RowState) -> R) -> Option<R> {
        let written = {
            let mut s = lock(&self.row.state);
            if s.instance != self.id || !s.is_active() {
                return None;
            }
            // What the row said, only when someone may want to hear of
            // the change: the hot path clones nothing.
            let before = self.shared.has_events().then_some((s.phase, s.ready));
            let written = f(&mut s);
            if let Some(before) = before {
                if (s.phase, s.ready) != before {
                    self.shared.emit(&self.row.name, &s.status(), s.ready);
                }
            }
            written
        };
        if self.declared {
            self.shared.readiness_changed();
        }
        Some(written)
    }

    /// A periodic service's call returned `Ok`: `ready = completed` is
    /// ready from now on (the row stays `Running` between calls).
    pub(crate) fn called(&self) {
        if self.readiness == Readiness::Completed {
            self.write(|s| s.ready = true);
        }
    }

    /// Whether a run is ready as soon as it starts.
    fn ready_at_start(&self) -> bool {
        self.readiness == Readiness::Started
    }

    /// Queued → Running: a job got its slot, or a service's dependencies
    /// are ready.
    pub(crate) fn running(&self) {
        let now = Instant::now();
        let ready = self.ready_at_start();
        self.write(|s| {
            s.phase = Phase::Running;
            s.ready = ready;
            s.set_started_at(now);
            s.set_ended_at(None);
        });
    }

    /// Restarting → Queued: the delay is over, the dependencies are not
    /// ready yet.
    pub(crate) fn queued(&self) {
        self.write(|s| {
            s.phase = Phase::Queued;
            s.ready = false;
        });
    }

    /// Running → Restarting: a run failed and restart `attempt` of `max` is
    /// scheduled.
    pub(crate) fn restarting(&self, attempt: u32, max: u32, reason: String) {
        let now = Instant::now();
        let known = self.write(|s| {
            s.set_last_failure(Some(reason.into_boxed_str()));
            s.phase = Phase::Restarting { attempt, max };
            s.ready = false;
            s.set_ended_at(Some(now));
            s.metrics()
        });
        // Read under the lock the write took; made now when still missing.
        let metrics = known.flatten().unwrap_or_else(|| self.row.metrics());
        metrics.failures.increment(1);
    }

    /// Restarting → Running: the delay is over and the next run starts;
    /// `at_once`: in the same poll as the failure, which the row's end time
    /// then dates (the clock is not read again).
    pub(crate) fn restarted(&self, at_once: bool) {
        let now = (!at_once).then(Instant::now);
        let ready = self.ready_at_start();
        let known = self.write(|s| {
            s.phase = Phase::Running;
            s.ready = ready;
            s.count_restart();
            match now {
                Some(now) => s.set_started_at(now),
                None => s.start_when_ended(),
            }
            s.set_ended_at(None);
            s.metrics()
        });
        let metrics = known.flatten().unwrap_or_else(|| self.row.metrics());
        metrics.restarts.increment(1);
        self.shared.count_restart(&self.row.name);
    }

    /// The instance ended with `status` (a final one). Writes it when the
    /// row still shows this instance, and gives the active count back
    /// unless an abort or a replacement already did. An `Aborted` end while
    /// the kill is on is a kill, reported by `shutdown`.
    ///
    /// Returns whether this end was the one that left the active set.
    pub(crate) fn end(mut self, status: Status) -> bool {
        self.ended = true;
        self.finish(status)
    }

    fn finish(&mut self, status: Status) -> bool {
        if matches!(status, Status::Failed { .. }) {
            self.shared.note_failed();
            self.row.metrics().failures.increment(1);
        }
        let killed = status == Status::Aborted && self.shared.shutdown.killing();
        let ended_at = self.shared.shutdown.end_time();
        let mut s = lock(&self.row.state);
        let left = if s.instance == self.id && s.is_active() {
            // A Completed service counts as ready whatever its kind.
            s.ready = status == Status::Completed;
            self.shared.emit(&self.row.name, &status, s.ready);
            s.set_status(status);
            s.end_if_running(ended_at);
            s.abort = None;
            true
        } else {
            take_hidden(&mut s, self.id).is_some()
        };
        let token = take_run_token(&mut s, self.id);
        let finished = left && s.finished();
        drop(s);
        if let Some(token) = token {
            token.cancel();
        }
        if finished {
            retire(&self.shared, &self.row);
        }
        if left {
            if killed {
                self.shared.shutdown.record_kill(&self.row.name);
            }
            self.shared.active.release();
        }
        if self.declared {
            self.shared.readiness_changed();
        }
        left
    }
}

impl Drop for Lease {
    fn drop(&mut self) {
        if self.ended {
            return;
        }
        // The task was aborted: by the kill scan, on request or by a
        // replacement (both already left the active set, so `finish` says
        // `false`), or because the runtime is going away.
        if !self.finish(Status::Aborted) {
            return;
        }
        let name = &self.row.name;
        if !self.shared.shutdown.killing() {
            tracing::info!(service = %name, "aborted");
        } else if self.shared.shutdown.forced() {
            tracing::warn!(service = %name, "aborted by a second signal");
        } else {
            tracing::warn!(service = %name, "aborted: still running at the shutdown deadline");
        }
    }
}

/// What a new instance took over from the one the row showed before, to be
/// stopped once the row lock is released.
struct Replaced {
    aborter: Option<Aborter>,
    run_token: Option<CancellationToken>,
}

impl Replaced {
    fn stop(self) {
        if let Some(token) = self.run_token {
            token.cancel();
        }
        if let Some(aborter) = self.aborter {
            aborter.fire();
        }
    }
}

/// Hands the row to instance `id`. An active previous instance either
/// leaves the active set (`Replace`: returned, for the caller to give its
/// count back and stop it) or stays in it, hidden (`Share`).
fn hand_over(shared: &Shared, row: &Row, start: Start, on_name: OnName) -> Option<Replaced> {
    let mut s = lock(&row.state);
    let mut replaced = None;
    if s.is_active() {
        let previous = s.instance;
        let aborter = s.abort.take();
        match on_name {
            OnName::Replace => {
                replaced = Some(Replaced {
                    aborter,
                    run_token: take_run_token(&mut s, previous),
                });
            }
            OnName::Share => s.extra_mut().others.push((previous, aborter)),
        }
    }
    s.instance = start.instance;
    s.kind = start.kind;
    s.declared |= start.kind == Kind::Declared;
    shared.emit(&row.name, &start.status, start.ready);
    s.set_status(start.status);
    s.ready = start.ready;
    s.clear_restarts();
    s.set_started_at(start.at);
    s.set_ended_at(None);
    s.set_last_failure(None);
    replaced
}

/// Stores how to abort `instance`'s task. Aborts it at once when it is no
/// longer in the active set (a replacement raced with its spawn), and when
/// the kill scan has already passed: the check runs under the row lock the
/// scan takes, so no instance escapes the scan.
pub(crate) fn attach(shared: &Shared, row: &Row, instance: InstanceId, aborter: Aborter) {
    let mut s = lock(&row.state);
    let slot = if s.instance == instance {
        s.is_active().then_some(&mut s.abort)
    } else {
        s.others_mut()
            .iter_mut()
            .find(|(id, _)| *id == instance)
            .map(|(_, slot)| slot)
    };
    match slot {
        Some(slot) if !shared.shutdown.killing() => *slot = Some(aborter),
        // Killed already, ended already, or replaced: must not run on.
        _ => {
            drop(s);
            aborter.fire();
        }
    }
}

/// Aborts `instance` (or, with `None`, the instance the row shows) on the
/// program's request: the row shows it `Aborted` at once, its run's
/// `Context` is cancelled, its task aborted, and the active count given
/// back. `false` when it was not active.
pub(crate) fn abort(shared: &Shared, row: &RowRef, instance: Option<InstanceId>) -> bool {
    let mut s = lock(&row.state);
    let current = s.instance;
    let target = instance.unwrap_or(current);
    let aborter = if target == current {
        if !s.is_active() {
            return false;
        }
        s.phase = Phase::Aborted;
        s.ready = false;
        shared.emit(&row.name, &Status::Aborted, false);
        if s.ended_at().is_none() {
            s.set_ended_at(Some(Instant::now()));
        }
        s.abort.take()
    } else {
        match take_hidden(&mut s, target) {
            Some((_, aborter)) => aborter,
            None => return false,
        }
    };
    let token = take_run_token(&mut s, target);
    let finished = s.finished();
    drop(s);
    tracing::info!(service = %row.name, "aborted on request");
    if finished {
        retire(shared, row);
    }
    shared.active.release();
    if let Some(token) = token {
        token.cancel();
    }
    if let Some(aborter) = aborter {
        aborter.fire();
    }
    true
}

/// Hands a row that has just finished (see
/// [`RowState::finished`](super::row::RowState::finished)) to the table's
/// retention, before the active count is given back (so whoever sees the
/// count drop sees the table already trimmed). Not once the shutdown has
/// begun: nothing new can start then, and the final table shows every row
/// that ended in it. (The token too, not only the flag: a task told by a
/// cancellation from outside may end before the driver sets the flag.)
fn retire(shared: &Shared, row: &RowRef) {
    if shared.is_stopping() {
        return;
    }
    let released = lock(&shared.table).retire(row);
    // The table lock is released: dropping let-go blocks drops their rows.
    drop(released);
}

/// The kill scan, once, after the kill token is cancelled: aborts the task
/// of every instance still active. Instances registered after the scan see
/// the kill in [`attach`]; they end `Aborted` through their lease.
pub(crate) fn abort_remaining(shared: &Shared) {
    let mut aborters = Vec::new();
    {
        let table = lock(&shared.table);
        for row in table.rows() {
            let mut s = lock(&row.state);
            if s.is_active() {
                aborters.extend(s.abort.take());
            }
            aborters.extend(
                s.others_mut()
                    .iter_mut()
                    .filter_map(|(_, slot)| slot.take()),
            );
        }
    }
    for aborter in aborters {
        aborter.fire();
    }
}

/// The cancellation of `instance`'s runs, made on first request: a child of
/// the supervisor's token, cancelled as well when the instance leaves the
/// active set (aborted, replaced, or ended). `None` once it has left.
pub(crate) fn run_token(
    shared: &Shared,
    row: &Row,
    instance: InstanceId,
) -> Option<CancellationToken> {
    let mut s = lock(&row.state);
    if !holds(&s, instance) {
        return None;
    }
    let tokens = &mut s.extra_mut().run_tokens;
    if let Some((_, token)) = tokens.iter().find(|(id, _)| *id == instance) {
        return Some(token.clone());
    }
    let parent = s
        .extra
        .as_ref()
        .and_then(|extra| extra.stop.as_ref())
        .unwrap_or(shared.root());
    let token = parent.child_token();
    let tokens = &mut s.extra_mut().run_tokens;
    tokens.push((instance, token.clone()));
    Some(token)
}

/// `Context::ready()`: the run of `instance` is ready, if the row still shows
/// it running. Wakes the waiters on declared services when that changed.
pub(crate) fn mark_ready(shared: &Shared, row: &Row, instance: InstanceId) {
    let changed = {
        let mut s = lock(&row.state);
        let running = s.instance == instance && s.phase == Phase::Running;
        let changed = running && !s.ready;
        if changed {
            s.ready = true;
            shared.emit(&row.name, &Status::Running, true);
        }
        changed
    };
    if changed {
        shared.readiness_changed();
    }
}

/// The token a service others depend on watches instead of the
/// supervisor's; `None` for a row without one.
pub(crate) fn ordered_stop(row: &Row) -> Option<CancellationToken> {
    lock(&row.state)
        .extra
        .as_ref()
        .and_then(|extra| extra.stop.clone())
}

/// Gives a declared service others depend on its own stop token (see
/// `Node::stop`).
pub(crate) fn set_ordered_stop(row: &Row, stop: CancellationToken) {
    lock(&row.state).extra_mut().stop = Some(stop);
}

/// Whether `instance` is still in the row's active set (not aborted,
/// replaced or ended).
pub(crate) fn is_active(row: &Row, instance: InstanceId) -> bool {
    holds(&lock(&row.state), instance)
}

fn holds(s: &RowState, instance: InstanceId) -> bool {
    (s.instance == instance && s.is_active()) || s.others().iter().any(|(id, _)| *id == instance)
}

/// Removes `instance` from the hidden part of the active set.
fn take_hidden(s: &mut RowState, instance: InstanceId) -> Option<(InstanceId, Option<Aborter>)> {
    let others = &mut s.extra.as_mut()?.others;
    let at = others.iter().position(|(id, _)| *id == instance)?;
    let taken = others.swap_remove(at);
    s.tidy();
    Some(taken)
}

/// Removes the run token of `instance`, for the caller to cancel once the
/// row lock is released.
fn take_run_token(s: &mut RowState, instance: InstanceId) -> Option<CancellationToken> {
    let tokens = &mut s.extra.as_mut()?.run_tokens;
    let at = tokens.iter().position(|(id, _)| *id == instance)?;
    let (_, token) = tokens.swap_remove(at);
    s.tidy();
    Some(token)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn shared() -> Arc<Shared> {
        Shared::for_tests()
    }

    fn take(shared: &Arc<Shared>, name: &str, on_name: OnName) -> Lease {
        Lease::take(
            shared,
            &Arc::from(name),
            Status::Running,
            on_name,
            Role::Task,
        )
        .expect("registered")
    }

    #[tokio::test]
    async fn writes_of_a_replaced_instance_are_ignored() {
        let shared = shared();
        let old = take(&shared, "svc", OnName::Share);
        let new = take(&shared, "svc", OnName::Replace);
        assert_eq!(shared.active.get(), 1, "the replaced one left at once");
        old.restarting(1, 3, "old".to_owned());
        assert_eq!(new.row().status(), Status::Running);
        assert!(!old.end(Status::Failed {
            reason: "old".into()
        }));
        assert_eq!(new.row().status(), Status::Running);
        assert!(new.end(Status::Completed));
        assert_eq!(shared.active.get(), 0);
    }

    #[tokio::test]
    async fn a_final_status_is_never_overwritten() {
        let shared = shared();
        let lease = take(&shared, "svc", OnName::Share);
        let row = lease.row().clone();
        assert!(abort(&shared, &row, Some(lease.id())));
        assert_eq!(shared.active.get(), 0, "the abort gave the count back");
        assert!(!abort(&shared, &row, Some(lease.id())), "only once");
        assert!(!lease.end(Status::Completed), "already accounted for");
        assert_eq!(row.status(), Status::Aborted);
        assert!(row.failed().is_none(), "an abort on request is no error");
        assert_eq!(shared.active.get(), 0);
    }

    #[tokio::test]
    async fn an_overshadowed_instance_stays_active_until_it_ends() {
        let shared = shared();
        let first = take(&shared, "job", OnName::Share);
        let second = take(&shared, "job", OnName::Share);
        assert_eq!(shared.active.get(), 2);
        assert!(second.end(Status::Completed), "the shown one ends");
        assert!(is_active(first.row(), first.id()), "the hidden one runs on");
        assert!(first.end(Status::Completed), "then it ends too");
        assert_eq!(shared.active.get(), 0);
    }

    #[tokio::test]
    async fn a_row_a_declared_service_ran_under_is_never_evicted() {
        let shared = shared();
        shared.retain_finished(0);
        let name: Arc<str> = Arc::from("svc");
        let task = take(&shared, "svc", OnName::Share);
        let declared = Lease::take(
            &shared,
            &name,
            Status::Running,
            OnName::Replace,
            Role::Declared(Readiness::Started),
        )
        .expect("registered");
        assert!(!task.end(Status::Completed), "replaced");
        assert!(declared.end(Status::Completed));
        let job = Lease::take(&shared, &name, Status::Running, OnName::Share, Role::Job)
            .expect("registered");
        assert!(job.end(Status::Completed));
        assert!(
            shared.row("svc").is_some(),
            "a declared service's row stays"
        );

        let other = take(&shared, "other", OnName::Share);
        assert!(other.end(Status::Completed));
        assert!(shared.row("other").is_none(), "a task's row goes");
    }

    #[tokio::test]
    async fn an_overshadowed_instance_can_be_aborted_by_id() {
        let shared = shared();
        let first = take(&shared, "job", OnName::Share);
        let second = take(&shared, "job", OnName::Share);
        assert!(abort(&shared, first.row(), Some(first.id())));
        assert_eq!(
            second.row().status(),
            Status::Running,
            "the shown job is untouched"
        );
        assert!(!first.end(Status::Aborted));
        assert_eq!(shared.active.get(), 1);
        drop(second);
        assert_eq!(shared.active.get(), 0, "a dropped lease ends Aborted");
    }

    #[tokio::test]
    async fn a_run_token_is_cancelled_when_its_instance_leaves() {
        let shared = shared();
        let lease = take(&shared, "svc", OnName::Share);
        let token = run_token(&shared, lease.row(), lease.id()).expect("active");
        assert!(!token.is_cancelled());
        let row = lease.row().clone();
        assert!(lease.end(Status::Completed));
        assert!(token.is_cancelled());
        assert!(run_token(&shared, &row, 1).is_none(), "none once it left");
    }
}
