//! The task table: one row per name, written by the instance that owns it.
//!
//! Each row belongs to the latest instance started under its name, identified
//! by a unique instance id. Every write names the instance it comes from and
//! is dropped when the row has moved on to a later instance, or when the row
//! already holds a final status: a replaced or aborted instance can never
//! relabel, restart or remove its successor.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::{Arc, Mutex, MutexGuard, OnceLock};
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
///
/// Rows are allocated in blocks of [`BLOCK`] rather than one by one: a
/// service then costs one allocation less, and a snapshot walks dense memory
/// instead of jumping from one scattered allocation to the next (which at
/// 100,000 rows is a cache miss per row).
///
/// The index maps the *hash* of a name to its row, and rows with equal
/// hashes are chained: growing the index then moves plain integers, instead
/// of reading every name again (a cache miss per name at 100,000 names).
#[derive(Default)]
pub(crate) struct Table {
    blocks: Vec<Arc<Block>>,
    len: usize,
    /// Hash of a name → the latest row with that hash.
    index: HashMap<u64, u32, BuildHasherDefault<PassThrough>>,
    /// For each row, the previous row with the same hash (`NONE` ends it).
    same_hash: Vec<u32>,
    hasher: RandomState,
}

/// Rows per block.
const BLOCK: usize = 64;

const NONE: u32 = u32::MAX;

/// A block of rows; a slot is set once, when its row is created.
struct Block {
    rows: [OnceLock<Row>; BLOCK],
}

/// A shared reference to one row: its block and its slot.
#[derive(Clone)]
pub(crate) struct RowRef {
    block: Arc<Block>,
    slot: usize,
}

impl std::ops::Deref for RowRef {
    type Target = Row;

    fn deref(&self) -> &Row {
        match self.block.rows[self.slot].get() {
            Some(row) => row,
            None => unreachable!("a RowRef is made only for a slot already set"),
        }
    }
}

impl Table {
    /// The row for `name`, created at the end when the name is new.
    pub(crate) fn row_for(&mut self, name: &Arc<str>, make: impl FnOnce() -> Row) -> RowRef {
        let hash = self.hasher.hash_one(&**name);
        if let Some(row) = self.find(hash, name) {
            return row;
        }
        let at = self.push(make());
        // Past 4 billion names the chain links saturate; lookups stay
        // correct for the names indexed before.
        let previous = self
            .index
            .insert(hash, u32::try_from(at).unwrap_or(NONE))
            .unwrap_or(NONE);
        self.same_hash.push(previous);
        self.row_ref(at)
    }

    /// Appends a row (not indexed); returns its position.
    fn push(&mut self, row: Row) -> usize {
        let at = self.len;
        if at % BLOCK == 0 {
            self.blocks.push(Arc::new(Block {
                rows: std::array::from_fn(|_| OnceLock::new()),
            }));
        }
        let block = &self.blocks[at / BLOCK];
        // The slot is fresh: `set` cannot find it taken.
        let _ = block.rows[at % BLOCK].set(row);
        self.len += 1;
        at
    }

    fn row_ref(&self, at: usize) -> RowRef {
        RowRef {
            block: Arc::clone(&self.blocks[at / BLOCK]),
            slot: at % BLOCK,
        }
    }

    pub(crate) fn get(&self, name: &str) -> Option<RowRef> {
        self.find(self.hasher.hash_one(name), name)
    }

    fn find(&self, hash: u64, name: &str) -> Option<RowRef> {
        let mut at = *self.index.get(&hash)?;
        while at != NONE {
            let row = self.row_ref(at as usize);
            if *row.name == *name {
                return Some(row);
            }
            at = self.same_hash[at as usize];
        }
        None
    }

    /// Every row, in order of first start.
    pub(crate) fn rows(&self) -> impl Iterator<Item = &Row> {
        self.blocks
            .iter()
            .flat_map(|block| block.rows.iter())
            .map_while(OnceLock::get)
    }

    pub(crate) fn len(&self) -> usize {
        self.len
    }
}

/// A hasher for keys that already are hashes.
#[derive(Default)]
struct PassThrough(u64);

impl Hasher for PassThrough {
    fn finish(&self) -> u64 {
        self.0
    }

    fn write_u64(&mut self, hash: u64) {
        self.0 = hash;
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used for `u64` keys; folds anything else in so it still works.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
}

/// One name's row.
///
/// # Active accounting
///
/// An instance counts as active exactly while it is in its row's *active
/// set*: the row's current instance while its status is active, plus
/// `others` (still-running instances the row no longer shows: an earlier job
/// under a shared name, or a service a job under its name overshadowed).
/// Every transition out of the set happens under the row lock and is reported
/// to the caller (`true` / [`AbortOutcome::Aborted`]), which then leaves the
/// supervisor's active count: exactly once per instance, whoever gets there
/// first (the instance ending, an abort on request, a replacement).
pub(crate) struct Row {
    pub(crate) name: Arc<str>,
    state: Mutex<RowState>,
    /// The name's metric handles, made on first use.
    metrics: OnceLock<Box<RowMetrics>>,
}

/// The metrics of one name (label `service`), built once: building a
/// handle through the `metrics` macros allocates its key every time.
pub(crate) struct RowMetrics {
    pub(crate) failures: metrics::Counter,
    pub(crate) restarts: metrics::Counter,
    pub(crate) wall_time: metrics::Histogram,
    pub(crate) cpu_time: metrics::Histogram,
}

struct RowState {
    /// The instance this row describes; writes from any other are ignored.
    instance: u64,
    status: Status,
    restarts: u32,
    started_at: Instant,
    ended_at: Option<Instant>,
    last_failure: Option<Box<str>>,
    /// How to abort the current instance's task, while it is active.
    abort: Option<Aborter>,
    /// Active instances under this name that the row no longer shows.
    /// Boxed: almost every row has none, and rows are what 100,000
    /// services multiply.
    #[allow(clippy::box_collection)] // deliberate: 8 bytes in every row, not 24
    others: Option<Box<Vec<Hidden>>>,
    /// The cancellation of each active instance whose run asked for one
    /// (`Context::token`, or a shared `Context` waiting to be cancelled):
    /// cancelled when that instance leaves the active set. Made on demand,
    /// so a service that never asks pays nothing.
    #[allow(clippy::box_collection)] // as above
    run_tokens: Option<Box<Vec<(u64, CancellationToken)>>>,
}

/// An active instance the row no longer shows: its id and abort handle.
type Hidden = (u64, Option<Aborter>);

impl RowState {
    /// Whether `instance` is in the row's active set.
    fn holds(&self, instance: u64) -> bool {
        (self.instance == instance && self.status.is_active())
            || self
                .others
                .iter()
                .flat_map(|others| others.iter())
                .any(|(id, _)| *id == instance)
    }

    /// Removes the run token of `instance`, for the caller to cancel once
    /// the row lock is released.
    fn take_run_token(&mut self, instance: u64) -> Option<CancellationToken> {
        let tokens = self.run_tokens.as_mut()?;
        let at = tokens.iter().position(|(id, _)| *id == instance)?;
        let (_, token) = tokens.swap_remove(at);
        if tokens.is_empty() {
            self.run_tokens = None;
        }
        Some(token)
    }

    /// Removes `instance` from the hidden part of the active set.
    fn take_other(&mut self, instance: u64) -> Option<Hidden> {
        let others = self.others.as_mut()?;
        let at = others.iter().position(|(id, _)| *id == instance)?;
        let taken = others.swap_remove(at);
        if others.is_empty() {
            self.others = None;
        }
        Some(taken)
    }
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
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum AbortOutcome {
    /// The instance was active; it is now out of the active set (the caller
    /// leaves the active count) and its task was aborted.
    Aborted,
    /// Nothing to abort: the instance had ended or been replaced.
    NotRunning,
}

/// What [`Row::reset`] did to the instance the row showed before.
#[must_use]
pub(crate) struct Reset {
    /// A replaced active instance left the active set: the caller leaves the
    /// active count for it.
    pub(crate) replaced: bool,
    /// Its abort handle, to fire once the row lock is released.
    pub(crate) aborter: Option<Aborter>,
    /// Its run's cancellation, to cancel once the row lock is released.
    pub(crate) run_token: Option<CancellationToken>,
}

impl Row {
    pub(crate) fn new(name: Arc<str>, instance: u64, status: Status, now: Instant) -> Self {
        Row {
            name,
            metrics: OnceLock::new(),
            state: Mutex::new(RowState {
                instance,
                status,
                restarts: 0,
                started_at: now,
                ended_at: None,
                last_failure: None,
                abort: None,
                others: None,
                run_tokens: None,
            }),
        }
    }

    /// The name's metric handles.
    pub(crate) fn metrics(&self) -> &RowMetrics {
        self.metrics.get_or_init(|| {
            let label = || ("service", self.name.to_string());
            Box::new(RowMetrics {
                failures: metrics::counter!("supervisor.failures", &[label()]),
                restarts: metrics::counter!("supervisor.restarts", &[label()]),
                wall_time: metrics::histogram!("supervisor.task.wall_time_ms", &[label()]),
                cpu_time: metrics::histogram!("supervisor.task.cpu_time_ms", &[label()]),
            })
        })
    }

    /// Hands the row to a new instance. With `replace`, an active previous
    /// instance leaves the active set and is to be aborted; without, it keeps
    /// running, out of sight, in `others`.
    pub(crate) fn reset(
        &self,
        instance: u64,
        status: Status,
        now: Instant,
        replace: bool,
    ) -> Reset {
        let mut s = lock(&self.state);
        let mut reset = Reset {
            replaced: false,
            aborter: None,
            run_token: None,
        };
        if s.status.is_active() {
            let previous = (s.instance, s.abort.take());
            if replace {
                reset.replaced = true;
                reset.aborter = previous.1;
                reset.run_token = s.take_run_token(previous.0);
            } else {
                s.others.get_or_insert_with(Box::default).push(previous);
            }
        }
        s.instance = instance;
        s.status = status;
        s.restarts = 0;
        s.started_at = now;
        s.ended_at = None;
        s.last_failure = None;
        reset
    }

    /// Stores the instance's abort handle. Aborts at once an instance that is
    /// no longer in the active set (a replacement raced with our spawn), and
    /// one that the kill scan has already passed (`kill` is cancelled): the
    /// check runs under the row lock the scan takes, so no instance escapes.
    pub(crate) fn attach(&self, instance: u64, handle: Aborter, kill: &CancellationToken) {
        let mut s = lock(&self.state);
        let slot = if s.instance == instance {
            s.status.is_active().then_some(&mut s.abort)
        } else {
            s.others
                .iter_mut()
                .flat_map(|others| others.iter_mut())
                .find(|(id, _)| *id == instance)
                .map(|(_, slot)| slot)
        };
        match slot {
            Some(slot) if !kill.is_cancelled() => *slot = Some(handle),
            Some(_) => {
                drop(s);
                handle.fire();
            }
            // Ended already (nothing to do) or replaced (must not run on).
            None => {
                drop(s);
                handle.fire();
            }
        }
    }

    /// The kill scan: the abort handles of every active instance of the row.
    pub(crate) fn take_active_aborters(&self, into: &mut Vec<Aborter>) {
        let mut s = lock(&self.state);
        if s.status.is_active() {
            into.extend(s.abort.take());
        }
        into.extend(
            s.others
                .iter_mut()
                .flat_map(|others| others.iter_mut())
                .filter_map(|(_, slot)| slot.take()),
        );
    }

    /// Applies `f` when the row still shows `instance` and it is active.
    fn update(&self, instance: u64, f: impl FnOnce(&mut RowState)) {
        let mut s = lock(&self.state);
        if s.instance == instance && s.status.is_active() {
            f(&mut s);
        }
    }

    pub(crate) fn set_running(&self, instance: u64, now: Instant) {
        self.update(instance, |s| {
            s.status = Status::Running;
            s.started_at = now;
            s.ended_at = None;
        });
    }

    /// A run failed and a restart is scheduled.
    pub(crate) fn set_restarting(
        &self,
        instance: u64,
        attempt: u32,
        max: u32,
        reason: &str,
        now: Instant,
    ) {
        self.update(instance, |s| {
            s.last_failure = Some(reason.into());
            s.status = Status::Restarting { attempt, max };
            s.ended_at = Some(now);
        });
    }

    /// The backoff delay is over and the next run starts.
    pub(crate) fn set_restarted(&self, instance: u64, now: Instant) {
        self.update(instance, |s| {
            s.status = Status::Running;
            s.restarts = s.restarts.saturating_add(1);
            s.started_at = now;
            s.ended_at = None;
        });
    }

    /// The instance ended with `status`. Returns whether it was still in the
    /// active set (then the caller leaves the active count); the status is
    /// written only when the row still shows it.
    pub(crate) fn finish(&self, instance: u64, status: Status, ended_at: Instant) -> bool {
        let mut s = lock(&self.state);
        let accounted = if s.instance == instance && s.status.is_active() {
            if let Status::Failed { reason } = &status {
                s.last_failure = Some(reason.as_str().into());
            }
            s.status = status;
            s.ended_at = Some(s.ended_at.unwrap_or(ended_at).max(s.started_at));
            s.abort = None;
            true
        } else {
            s.take_other(instance).is_some()
        };
        let token = s.take_run_token(instance);
        drop(s);
        if let Some(token) = token {
            token.cancel();
        }
        accounted
    }

    /// The cancellation of `instance`'s runs, made on first request: a child
    /// of `root`, cancelled as well when the instance leaves the active set
    /// (aborted, replaced, or ended). `None` once it has left.
    pub(crate) fn run_token(
        &self,
        instance: u64,
        root: &CancellationToken,
    ) -> Option<CancellationToken> {
        let mut s = lock(&self.state);
        if !s.holds(instance) {
            return None;
        }
        let tokens = s.run_tokens.get_or_insert_with(Box::default);
        if let Some((_, token)) = tokens.iter().find(|(id, _)| *id == instance) {
            return Some(token.clone());
        }
        let token = root.child_token();
        tokens.push((instance, token.clone()));
        Some(token)
    }

    /// Whether `instance` is still active under this row (not aborted,
    /// replaced or ended).
    pub(crate) fn holds(&self, instance: u64) -> bool {
        lock(&self.state).holds(instance)
    }

    /// Aborts `instance` (or, with `None`, the instance the row shows) on the
    /// program's request. The row shows it `Aborted` at once.
    pub(crate) fn abort(&self, instance: Option<u64>, now: Instant) -> AbortOutcome {
        let mut s = lock(&self.state);
        let handle = if instance.is_none_or(|id| id == s.instance) {
            if !s.status.is_active() {
                return AbortOutcome::NotRunning;
            }
            s.status = Status::Aborted;
            if s.ended_at.is_none() {
                s.ended_at = Some(now);
            }
            s.abort.take()
        } else {
            let Some((_, handle)) = instance.and_then(|id| s.take_other(id)) else {
                return AbortOutcome::NotRunning;
            };
            handle
        };
        let current = s.instance;
        let token = s.take_run_token(instance.unwrap_or(current));
        drop(s);
        if let Some(token) = token {
            token.cancel();
        }
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
            last_failure: s.last_failure.as_deref().map(str::to_owned),
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
    fn the_index_finds_every_name_and_only_those() {
        let now = Instant::now();
        let mut table = Table::default();
        let names: Vec<Arc<str>> = (0..1000).map(|i| Arc::from(format!("svc-{i}"))).collect();
        for (i, name) in names.iter().enumerate() {
            let row = table.row_for(name, || {
                Row::new(Arc::clone(name), i as u64, Status::Running, now)
            });
            assert_eq!(row.name, *name);
        }
        for name in &names {
            assert_eq!(table.get(name).map(|r| r.name.clone()), Some(name.clone()));
            let again = table.row_for(name, || unreachable!("the name exists"));
            assert_eq!(again.name, *name);
        }
        assert!(table.get("svc-1000").is_none());
        assert_eq!(table.len(), 1000);
        let in_order: Vec<&str> = table.rows().map(|r| &*r.name).collect();
        let expected: Vec<&str> = names.iter().map(|n| &**n).collect();
        assert_eq!(in_order, expected, "rows keep the order of first start");
    }

    #[test]
    fn names_with_equal_hashes_are_told_apart() {
        let now = Instant::now();
        let mut table = Table::default();
        // Force a collision: two names filed under one hash by hand.
        let hash = table.hasher.hash_one("a");
        let a = table.push(Row::new("a".into(), 1, Status::Running, now));
        table.same_hash.push(NONE);
        let b = table.push(Row::new("b".into(), 2, Status::Running, now));
        table.same_hash.push(a as u32);
        table.index.insert(hash, b as u32);
        assert_eq!(
            table.find(hash, "a").map(|r| r.name.clone()),
            Some("a".into())
        );
        assert_eq!(
            table.find(hash, "b").map(|r| r.name.clone()),
            Some("b".into())
        );
        assert!(table.find(hash, "c").is_none());
    }

    #[test]
    fn writes_of_a_replaced_instance_are_ignored() {
        let now = Instant::now();
        let row = Row::new("svc".into(), 1, Status::Running, now);
        let reset = row.reset(2, Status::Running, now, true);
        assert!(reset.replaced, "the active instance 1 left the active set");
        assert!(!row.finish(
            1,
            Status::Failed {
                reason: "old".into()
            },
            now
        ));
        row.set_restarting(1, 1, 3, "old", now);
        assert_eq!(row.status(), Status::Running);
        assert!(row.finish(2, Status::Completed, now));
        assert_eq!(row.status(), Status::Completed);
    }

    #[test]
    fn a_final_status_is_never_overwritten() {
        let now = Instant::now();
        let row = Row::new("svc".into(), 1, Status::Running, now);
        assert_eq!(row.abort(Some(1), now), AbortOutcome::Aborted);
        assert!(!row.finish(1, Status::Completed, now), "already accounted");
        assert_eq!(row.status(), Status::Aborted);
        assert_eq!(row.abort(Some(1), now), AbortOutcome::NotRunning);
        assert!(
            row.failed().is_none(),
            "an abort on request is not an error"
        );
    }

    #[test]
    fn an_overshadowed_instance_stays_active_until_it_ends() {
        let now = Instant::now();
        let row = Row::new("job".into(), 1, Status::Running, now);
        let reset = row.reset(2, Status::Running, now, false);
        assert!(!reset.replaced);
        assert!(row.finish(2, Status::Completed, now), "the shown one ends");
        assert!(row.finish(1, Status::Completed, now), "the hidden one too");
        assert!(!row.finish(1, Status::Completed, now), "but only once");
        assert_eq!(row.status(), Status::Completed);
    }

    #[test]
    fn an_overshadowed_instance_can_be_aborted_by_id() {
        let now = Instant::now();
        let row = Row::new("job".into(), 1, Status::Running, now);
        let _ = row.reset(2, Status::Running, now, false);
        assert_eq!(row.abort(Some(1), now), AbortOutcome::Aborted);
        assert_eq!(row.status(), Status::Running, "the shown job is untouched");
        assert!(!row.finish(1, Status::Aborted, now));
    }
}
