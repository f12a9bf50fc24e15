//! The row arena and the name index: the rows in the table, in order of
//! first start, and the retention of finished ones.
//!
//! A data structure only: rows are created here and found here; what a row
//! says is [`row`](super::row)'s, and how it changes is
//! [`lease`](super::lease)'s. The lease tells the table when a row has
//! finished ([`Table::retire`]); the table decides which finished rows to
//! let go.
//!
//! # Retention
//!
//! A program that spawns jobs or tasks under ever new names would otherwise
//! grow the table for ever. A row is *finished* when it is not a declared
//! service's, the instance it shows has ended, and no hidden instance runs
//! under its name. Finished rows enter a ring in the order they finished;
//! once more than the limit are in it, the oldest is *evicted*: unlinked
//! from the name index (by walking its hash chain: no scan) and marked in
//! its block's bitmap, so that lookups and walks skip it. A name used again
//! after its row was evicted gets a new row, at the end.
//!
//! A row that is registered again leaves the ring; its entry stays behind,
//! stale (it names an instance the row no longer shows), and is skipped when
//! it comes up, or dropped when stale entries outnumber live ones.
//!
//! # Memory
//!
//! Rows live in blocks of [`BLOCK`]. Once every row of a block has been
//! evicted, the table lets go of the block: it is freed as soon as no
//! [`RowRef`] points into it any more (a handle, a `Context` clone, a lease
//! still unwinding), and its id is reused for a new block, placed at the
//! end of the order so that walks keep the order of first start. Until then
//! a stale `RowRef` still reads the evicted row, which is safe: every
//! operation on a row names an instance id, ids are never reused, and an
//! evicted row's instance has ended, so nothing it asks for happens.
//!
//! One live handle keeps its whole block (64 rows) in memory, and a block
//! with one row that never finishes (a declared service, a task that runs
//! for ever) is never freed: its evicted neighbours stay allocated with it.
//!
//! A failed task's row that is evicted leaves its name and failure behind
//! (the latest [`LOST_KEPT`]), for the shutdown's result; a later row
//! evicted under the same name replaces it.
//!
//! # Invariants
//!
//! Under the table lock: a slot's `ringed` bit is set exactly when the ring
//! holds a live entry for it (its position and the instance the row showed
//! when it finished, which the row still shows), and `retired` counts those
//! bits. An evicted slot is in no chain of the index, and is never ringed.

use std::any::Any;
use std::collections::hash_map::Entry;
use std::collections::{HashMap, VecDeque};
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock, Weak};

use super::row::{InstanceId, Row};
use crate::status::Status;

/// How many finished rows of tasks and jobs a table keeps unless told
/// otherwise.
pub(crate) const DEFAULT_RETAIN_FINISHED: usize = 1_000;

/// All rows, in order of first start, the name index, and the finished rows
/// waiting to be evicted.
///
/// Rows are allocated in blocks of [`BLOCK`] rather than one by one: a
/// service then costs one allocation less, and a snapshot walks dense memory
/// instead of jumping from one scattered allocation to the next (which at
/// 100,000 rows is a cache miss per row).
///
/// The index maps the *hash* of a name to its row, and rows with equal
/// hashes are chained: growing the index then moves plain integers, instead
/// of reading every name again (a cache miss per name at 100,000 names).
/// A row's *position* is its block's id times [`BLOCK`] plus its slot.
pub(crate) struct Table {
    /// Blocks by id.
    blocks: Vec<Slab>,
    /// The ids of the blocks in use, in the order they got their first row.
    order: Vec<u32>,
    /// Ids whose block was let go, for new blocks to take.
    free: Vec<u32>,
    /// Rows not evicted.
    live: usize,
    /// Hash of a name → the latest row with that hash.
    index: HashMap<NameHash, u32, BuildHasherDefault<PassThrough>>,
    /// For each position, the previous row with the same hash (`NONE` ends it).
    same_hash: Vec<u32>,
    hasher: foldhash::fast::RandomState,
    retention: Retention,
    /// Who owns the table (the supervisor's shared state), for every block
    /// to point back to: see [`RowRef::owner`].
    owner: Owner,
    /// The id the next instance gets (under the table lock, which every
    /// registration takes anyway: no atomic operation).
    next_id: InstanceId,
}

/// A weak reference to whoever owns a table, its type left to the owner (so
/// that this data structure does not depend on it).
pub(crate) type Owner = Weak<dyn Any + Send + Sync>;

impl Default for Table {
    /// A table without an owner (for tests).
    fn default() -> Self {
        Table::new(Weak::<()>::new())
    }
}

impl Table {
    /// An empty table whose blocks point back to `owner`.
    pub(crate) fn new(owner: Owner) -> Self {
        // Row times count from the origin: fix it before the first row.
        super::row::origin();
        Table {
            owner,
            next_id: 1,
            blocks: Vec::new(),
            order: Vec::new(),
            free: Vec::new(),
            live: 0,
            index: HashMap::default(),
            same_hash: Vec::new(),
            hasher: foldhash::fast::RandomState::default(),
            retention: Retention {
                limit: DEFAULT_RETAIN_FINISHED,
                ring: VecDeque::new(),
                retired: 0,
                lost: VecDeque::new(),
                lost_hashes: HashMap::default(),
            },
        }
    }
}

/// Rows per block.
const BLOCK: usize = 64;

/// A name's hash as the index keys it: 32 bits (a map entry of 8 bytes, not
/// 16). Names that share one are chained (see `same_hash`) and told apart
/// by comparing the names.
type NameHash = u32;

const NONE: u32 = u32::MAX;

/// A block of rows; a slot is set once, when its row is created.
struct Block {
    id: u32,
    /// The table's owner: what a handle holding only a [`RowRef`] reaches
    /// the supervisor through (a `TaskHandle` that held the supervisor too
    /// cost every start two more atomic operations on its shared counter).
    owner: Owner,
    /// `BLOCK` slots, boxed: built in place on the heap (an array built on
    /// the stack and moved into the `Arc` was a 10 KiB copy per block).
    rows: Box<[OnceLock<Row>]>,
}

/// The table's side of one block: the block while it is in use, and which
/// of its slots are filled, finished (in the ring) and evicted.
struct Slab {
    block: Option<Arc<Block>>,
    /// Slots filled so far, from the first.
    used: usize,
    /// Bit `i`: slot `i` has a live entry in the ring.
    ringed: u64,
    /// Bit `i`: slot `i` was evicted.
    evicted: u64,
}

/// The finished rows, oldest first, and what eviction must not forget.
struct Retention {
    /// How many finished rows to keep.
    limit: usize,
    /// Finished rows, oldest first, as (position, instance); stale entries
    /// included (see the module documentation).
    ring: VecDeque<(u32, InstanceId)>,
    /// Live entries in the ring.
    retired: usize,
    /// The names whose latest instance, a task, failed and whose row was
    /// evicted (the latest [`LOST_KEPT`]), with that failure and the name's
    /// hash: so the shutdown's result still names them.
    lost: VecDeque<(NameHash, Arc<str>, Status)>,
    /// How many entries of `lost` each hash has: a name evicted again
    /// replaces its entry, found without a scan when it has none.
    lost_hashes: HashMap<NameHash, u32, BuildHasherDefault<PassThrough>>,
}

/// How many failures of evicted tasks the table remembers.
const LOST_KEPT: usize = 1_000;

/// Blocks the table let go of, to be dropped once the table lock is
/// released (dropping a block drops its rows).
#[must_use = "drop it after releasing the table lock"]
pub(crate) struct Released {
    _blocks: Vec<Arc<Block>>,
}

impl Released {
    fn none() -> Self {
        Released {
            _blocks: Vec::new(),
        }
    }
}

/// A shared reference to one row: its block and its slot.
#[derive(Clone)]
pub(crate) struct RowRef {
    block: Arc<Block>,
    slot: usize,
}

impl RowRef {
    /// The owner of the table the row is in, while it lives.
    pub(crate) fn owner(&self) -> Option<Arc<dyn Any + Send + Sync>> {
        self.block.owner.upgrade()
    }

    /// The row's position in the table.
    fn position(&self) -> usize {
        self.block.id as usize * BLOCK + self.slot
    }
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
    /// The row for `name`, created at the end when the name is new. How a
    /// registration finds its row: a finished row found again is running
    /// again, and leaves the ring.
    ///
    /// The index is probed once: a new name's entry is written where the
    /// lookup ended, for the position the row is about to take.
    pub(crate) fn row_for(&mut self, name: &Arc<str>, make: impl FnOnce() -> Row) -> RowRef {
        let hash = self.hash(name);
        let at = self.next_position();
        // Past 4 billion positions the chain links saturate; lookups stay
        // correct for the names indexed before.
        let link = u32::try_from(at).unwrap_or(NONE);
        let previous = match self.index.entry(hash) {
            Entry::Occupied(mut entry) => {
                let head = *entry.get();
                if let Some(found) = chain_find(&self.blocks, &self.same_hash, head, name) {
                    self.unring(found);
                    return self.row_ref(found);
                }
                entry.insert(link);
                head
            }
            Entry::Vacant(entry) => {
                entry.insert(link);
                NONE
            }
        };
        let pushed = self.push(make());
        debug_assert_eq!(pushed, at, "next_position foretells push");
        self.same_hash[at] = previous;
        self.row_ref(at)
    }

    /// The position the next [`Table::push`] takes.
    fn next_position(&self) -> usize {
        let id = match self.order.last() {
            Some(&id) if self.blocks[id as usize].used < BLOCK => {
                return id as usize * BLOCK + self.blocks[id as usize].used;
            }
            _ => self
                .free
                .last()
                .copied()
                .unwrap_or_else(|| u32::try_from(self.blocks.len()).unwrap_or(NONE)),
        };
        id as usize * BLOCK
    }

    /// Appends a row (not indexed); returns its position.
    fn push(&mut self, row: Row) -> usize {
        let id = match self.order.last() {
            Some(&id) if self.blocks[id as usize].used < BLOCK => id,
            _ => self.new_block(),
        };
        let slab = &mut self.blocks[id as usize];
        let slot = slab.used;
        slab.used += 1;
        if let Some(block) = &slab.block {
            // The slot is fresh: `set` cannot find it taken.
            let _ = block.rows[slot].set(row);
        }
        self.live += 1;
        id as usize * BLOCK + slot
    }

    /// A new empty block at the end of the order, under a free id if any.
    fn new_block(&mut self) -> u32 {
        let id = self.free.pop().unwrap_or_else(|| {
            let id = u32::try_from(self.blocks.len()).unwrap_or(NONE);
            self.blocks.push(Slab {
                block: None,
                used: 0,
                ringed: 0,
                evicted: 0,
            });
            self.same_hash.resize(self.blocks.len() * BLOCK, NONE);
            id
        });
        self.blocks[id as usize] = Slab {
            block: Some(Arc::new(Block {
                id,
                owner: Weak::clone(&self.owner),
                rows: (0..BLOCK).map(|_| OnceLock::new()).collect(),
            })),
            used: 0,
            ringed: 0,
            evicted: 0,
        };
        self.order.push(id);
        id
    }

    fn row_ref(&self, at: usize) -> RowRef {
        match &self.blocks[at / BLOCK].block {
            Some(block) => RowRef {
                block: Arc::clone(block),
                slot: at % BLOCK,
            },
            None => unreachable!("positions in the index are in blocks in use"),
        }
    }

    /// A fresh instance id: unique within the table, never reused.
    pub(crate) fn next_id(&mut self) -> InstanceId {
        let id = self.next_id;
        self.next_id += 1;
        id
    }

    /// The hash of `name` (the top half of a seeded 64-bit hash).
    fn hash(&self, name: &str) -> NameHash {
        (self.hasher.hash_one(name) >> 32) as NameHash
    }

    pub(crate) fn get(&self, name: &str) -> Option<RowRef> {
        self.find(self.hash(name), name)
    }

    fn find(&self, hash: NameHash, name: &str) -> Option<RowRef> {
        let head = *self.index.get(&hash)?;
        chain_find(&self.blocks, &self.same_hash, head, name).map(|at| self.row_ref(at))
    }

    /// Every row not evicted, in order of first start.
    pub(crate) fn rows(&self) -> impl Iterator<Item = &Row> {
        self.order.iter().flat_map(move |&id| {
            let slab = &self.blocks[id as usize];
            let block = slab.block.as_deref();
            (0..slab.used)
                .filter(move |slot| slab.evicted & (1 << slot) == 0)
                .filter_map(move |slot| block?.rows[slot].get())
        })
    }

    /// How many rows there are (evicted ones not counted).
    pub(crate) fn len(&self) -> usize {
        self.live
    }

    /// Sets how many finished rows of tasks and jobs to keep, evicting the
    /// oldest beyond it.
    pub(crate) fn set_limit(&mut self, limit: usize) -> Released {
        self.retention.limit = limit;
        self.trim()
    }

    /// Notes that `row` has finished (see the module documentation), unless
    /// it is running again or already noted, and evicts the oldest finished
    /// row beyond the limit.
    pub(crate) fn retire(&mut self, row: &RowRef) -> Released {
        let at = row.position();
        let bit = 1u64 << (at % BLOCK);
        // A position past `u32` (4 billion rows at once) is never retired.
        let (Ok(entry), Some(slab)) = (u32::try_from(at), self.blocks.get_mut(at / BLOCK)) else {
            return Released::none();
        };
        let here = slab
            .block
            .as_ref()
            .is_some_and(|block| Arc::ptr_eq(block, &row.block));
        if !here || slab.ringed & bit != 0 || slab.evicted & bit != 0 {
            return Released::none();
        }
        let Some(instance) = row.finished_instance() else {
            return Released::none();
        };
        slab.ringed |= bit;
        self.retention.ring.push_back((entry, instance));
        self.retention.retired += 1;
        self.trim()
    }

    /// Failed tasks whose rows were evicted, oldest first: one per name,
    /// the latest [`LOST_KEPT`].
    pub(crate) fn lost_failures(&self) -> impl Iterator<Item = (&Arc<str>, &Status)> {
        self.retention
            .lost
            .iter()
            .map(|(_, name, status)| (name, status))
    }

    /// Takes a row that runs again off the ring (its entry goes stale).
    fn unring(&mut self, at: usize) {
        let slab = &mut self.blocks[at / BLOCK];
        let bit = 1u64 << (at % BLOCK);
        if slab.ringed & bit != 0 {
            slab.ringed &= !bit;
            self.retention.retired -= 1;
        }
    }

    /// Evicts the oldest finished rows while there are more than the limit;
    /// drops stale entries when they outnumber the live ones.
    fn trim(&mut self) -> Released {
        let mut released = Vec::new();
        while self.retention.retired > self.retention.limit {
            let Some((at, instance)) = self.retention.ring.pop_front() else {
                break;
            };
            if let Some(block) = self.evict(at as usize, instance) {
                released.push(block);
            }
        }
        let ring = &self.retention.ring;
        if ring.len() > 2 * self.retention.retired + BLOCK {
            let blocks = &self.blocks;
            self.retention
                .ring
                .retain(|&(at, instance)| is_live(blocks, at as usize, instance));
        }
        Released { _blocks: released }
    }

    /// Evicts the row at `at` if its ring entry (for `instance`) is live;
    /// returns its block when that was the block's last row.
    fn evict(&mut self, at: usize, instance: InstanceId) -> Option<Arc<Block>> {
        if !is_live(&self.blocks, at, instance) {
            return None;
        }
        let (id, slot) = (at / BLOCK, at % BLOCK);
        let bit = 1u64 << slot;
        let block = self.blocks[id].block.as_ref().map(Arc::clone)?;
        let row = block.rows[slot].get()?;
        let hash = self.hash(&row.name);
        self.retention.remember(hash, row);
        self.unlink(at, hash);
        let slab = &mut self.blocks[id];
        slab.ringed &= !bit;
        slab.evicted |= bit;
        self.retention.retired -= 1;
        self.live -= 1;
        if slab.used < BLOCK || slab.evicted != u64::MAX {
            return None;
        }
        // Every row of the block is gone: let go of it, and of its id.
        let released = slab.block.take();
        let id = block.id;
        if let Some(i) = self.order.iter().position(|&o| o == id) {
            self.order.remove(i);
        }
        self.free.push(id);
        released
    }

    /// Removes position `at` from the chain of `hash`.
    fn unlink(&mut self, at: usize, hash: NameHash) {
        let at = u32::try_from(at).unwrap_or(NONE);
        let Some(&head) = self.index.get(&hash) else {
            return;
        };
        let after = self.same_hash.get(at as usize).copied().unwrap_or(NONE);
        if head == at {
            if after == NONE {
                self.index.remove(&hash);
            } else {
                self.index.insert(hash, after);
            }
            return;
        }
        let mut link = head;
        while link != NONE {
            let next = self.same_hash[link as usize];
            if next == at {
                self.same_hash[link as usize] = after;
                return;
            }
            link = next;
        }
    }
}

impl Retention {
    /// Notes how the evicted `row` ended, in place of what an earlier row
    /// under its name said: a failed task is remembered, anything else
    /// forgets the name.
    fn remember(&mut self, hash: NameHash, row: &Row) {
        if self.lost_hashes.contains_key(&hash) {
            let mut forgotten = 0;
            self.lost.retain(|(h, name, _)| {
                let same = *h == hash && *name == row.name;
                forgotten += u32::from(same);
                !same
            });
            self.forget_hash(hash, forgotten);
        }
        let Some(status) = row.failed() else {
            return;
        };
        self.lost.push_back((hash, Arc::clone(&row.name), status));
        *self.lost_hashes.entry(hash).or_insert(0) += 1;
        if self.lost.len() > LOST_KEPT {
            if let Some((oldest, _, _)) = self.lost.pop_front() {
                self.forget_hash(oldest, 1);
            }
        }
    }

    fn forget_hash(&mut self, hash: NameHash, entries: u32) {
        if let Some(count) = self.lost_hashes.get_mut(&hash) {
            *count = count.saturating_sub(entries);
            if *count == 0 {
                self.lost_hashes.remove(&hash);
            }
        }
    }
}

/// Whether the ring entry (`at`, `instance`) is live: the slot is ringed
/// and its row still shows that instance, finished.
fn is_live(blocks: &[Slab], at: usize, instance: InstanceId) -> bool {
    let Some(slab) = blocks.get(at / BLOCK) else {
        return false;
    };
    if slab.ringed & (1u64 << (at % BLOCK)) == 0 {
        return false;
    }
    slab.block
        .as_ref()
        .and_then(|block| block.rows[at % BLOCK].get())
        .is_some_and(|row| row.finished_instance() == Some(instance))
}

/// The position of the row named `name` in the chain of equal hashes that
/// starts at `head`. (A function of the fields it reads, so that the index
/// can stay borrowed meanwhile.)
fn chain_find(blocks: &[Slab], same_hash: &[u32], head: u32, name: &str) -> Option<usize> {
    let mut at = head;
    while at != NONE {
        let at_usize = at as usize;
        let row = blocks[at_usize / BLOCK]
            .block
            .as_deref()
            .and_then(|block| block.rows[at_usize % BLOCK].get());
        if row.is_some_and(|row| *row.name == *name) {
            return Some(at_usize);
        }
        at = same_hash[at_usize];
    }
    None
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

    fn write_u32(&mut self, hash: u32) {
        // Both halves: the map takes its bucket from the low bits and its
        // tag from the top ones.
        self.0 = u64::from(hash) << 32 | u64::from(hash);
    }

    fn write(&mut self, bytes: &[u8]) {
        // Not used for `u32` or `u64` keys; folds anything else in so it still works.
        for &byte in bytes {
            self.0 = self.0.rotate_left(8) ^ u64::from(byte);
        }
    }
}

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::runtime::row::{Kind, Start};
    use crate::status::Status;

    fn row(name: &str, id: InstanceId, kind: Kind, status: Status) -> Row {
        let start = Start {
            instance: id,
            kind,
            status,
            ready: false,
            at: Instant::now(),
        };
        Row::new(name.into(), start)
    }

    /// Registers a task that has already completed under `name`.
    fn finished(table: &mut Table, name: &str, id: InstanceId) -> RowRef {
        let name: Arc<str> = name.into();
        table.row_for(&name, || row(&name, id, Kind::Task, Status::Completed))
    }

    /// What the lease does to a row found again: it now shows instance
    /// `id`, which (here) has already completed.
    fn show_completed(row: &RowRef, id: InstanceId) {
        let mut s = crate::panic::lock(&row.state);
        s.instance = id;
        s.set_status(Status::Completed);
    }

    fn names(table: &Table) -> Vec<String> {
        table.rows().map(|r| r.name.to_string()).collect()
    }

    #[test]
    fn the_index_finds_every_name_and_only_those() {
        let mut table = Table::default();
        let names: Vec<Arc<str>> = (0..1000).map(|i| Arc::from(format!("svc-{i}"))).collect();
        for (i, name) in names.iter().enumerate() {
            let row = table.row_for(name, || row(name, i as u64, Kind::Task, Status::Running));
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

    /// Files `names` (pushed in this order) under one hash by hand, as a
    /// collision would; returns the hash.
    fn collide(table: &mut Table, names: &[&str]) -> NameHash {
        let hash = table.hash(names[0]);
        let mut previous = NONE;
        for (i, name) in names.iter().enumerate() {
            let at = table.push(row(name, i as u64 + 1, Kind::Task, Status::Completed));
            table.same_hash[at] = previous;
            previous = at as u32;
        }
        table.index.insert(hash, previous);
        hash
    }

    #[test]
    fn names_with_equal_hashes_are_told_apart() {
        let mut table = Table::default();
        let hash = collide(&mut table, &["a", "b"]);
        for name in ["a", "b"] {
            assert_eq!(
                table.find(hash, name).map(|r| r.name.clone()),
                Some(name.into())
            );
        }
        assert!(table.find(hash, "c").is_none());
    }

    #[test]
    fn unlinking_from_a_chain_keeps_the_other_names() {
        for gone in 0..3 {
            let mut table = Table::default();
            let all = ["a", "b", "c"];
            let hash = collide(&mut table, &all);
            table.unlink(gone, hash);
            for (at, name) in all.iter().enumerate() {
                let found = table.find(hash, name).is_some();
                assert_eq!(found, at != gone, "{name} after unlinking {}", all[gone]);
            }
        }
    }

    #[test]
    fn the_oldest_finished_rows_are_evicted_beyond_the_limit() {
        let mut table = Table::default();
        drop(table.set_limit(2));
        let running: Arc<str> = "running".into();
        table.row_for(&running, || row("running", 1, Kind::Task, Status::Running));
        for i in 0..5 {
            let r = finished(&mut table, &format!("done-{i}"), 10 + i);
            drop(table.retire(&r));
        }
        assert_eq!(names(&table), ["running", "done-3", "done-4"]);
        assert_eq!(table.len(), 3);
        assert!(table.get("done-0").is_none(), "evicted names are unindexed");
        let again = finished(&mut table, "done-0", 20);
        drop(table.retire(&again));
        assert_eq!(
            names(&table),
            ["running", "done-4", "done-0"],
            "a name used again gets a new row at the end"
        );
    }

    #[test]
    fn rows_that_cannot_finish_are_never_retired() {
        let mut table = Table::default();
        drop(table.set_limit(0));
        let declared: Arc<str> = "declared".into();
        let d = table.row_for(&declared, || {
            row("declared", 1, Kind::Declared, Status::Completed)
        });
        let running: Arc<str> = "running".into();
        let r = table.row_for(&running, || row("running", 2, Kind::Job, Status::Running));
        drop(table.retire(&d));
        drop(table.retire(&r));
        assert_eq!(names(&table), ["declared", "running"]);
    }

    #[test]
    fn a_row_registered_again_leaves_the_ring() {
        let mut table = Table::default();
        drop(table.set_limit(1));
        let a = finished(&mut table, "a", 1);
        drop(table.retire(&a));
        // Registered again: found, and (by the lease) handed to instance 2.
        let again = finished(&mut table, "a", 2);
        assert_eq!(table.retention.retired, 0, "running again: not finished");
        show_completed(&again, 2);
        let b = finished(&mut table, "b", 3);
        drop(table.retire(&b));
        assert_eq!(names(&table), ["a", "b"], "a is not finished: it stays");
        drop(table.retire(&again));
        assert_eq!(names(&table), ["a"], "b finished first and went first");
        assert_eq!(table.retention.ring.len(), 1, "the stale entry is gone");
    }

    #[test]
    fn stale_entries_do_not_pile_up() {
        let mut table = Table::default();
        drop(table.set_limit(10));
        for id in 0..10_000 {
            let r = finished(&mut table, "reused", id);
            show_completed(&r, id);
            drop(table.retire(&r));
        }
        assert!(
            table.retention.ring.len() <= 2 * 10 + BLOCK + 1,
            "ring of {}",
            table.retention.ring.len()
        );
        assert_eq!(table.retention.retired, 1);
        assert_eq!(names(&table), ["reused"]);
    }

    #[test]
    fn blocks_whose_rows_are_all_evicted_are_let_go_and_their_ids_reused() {
        let mut table = Table::default();
        drop(table.set_limit(BLOCK));
        let held = finished(&mut table, "held", 0);
        drop(table.retire(&held));
        for i in 1..(100 * BLOCK as u64) {
            let r = finished(&mut table, &format!("job-{i}"), i);
            drop(table.retire(&r));
        }
        assert!(
            table.blocks.len() <= 3,
            "{} blocks for 64 rows kept",
            table.blocks.len()
        );
        assert_eq!(table.len(), BLOCK);
        let expected: Vec<String> = (99 * BLOCK as u64..100 * BLOCK as u64)
            .map(|i| format!("job-{i}"))
            .collect();
        assert_eq!(names(&table), expected, "still in order of first start");
        assert_eq!(&*held.name, "held", "a stale reference still reads its row");
        assert!(held.finished_instance().is_some());
        assert_eq!(
            Arc::strong_count(&held.block),
            1,
            "the table let go of the first block; only the handle keeps it"
        );
    }

    #[test]
    fn failures_of_evicted_task_rows_are_kept_but_not_those_of_jobs() {
        let mut table = Table::default();
        drop(table.set_limit(1));
        let failed = || Status::Failed {
            reason: "broke".into(),
        };
        for (name, kind) in [("task", Kind::Task), ("job", Kind::Job)] {
            let n: Arc<str> = name.into();
            let r = table.row_for(&n, || row(name, 1, kind, failed()));
            drop(table.retire(&r));
        }
        let last = finished(&mut table, "last", 3);
        drop(table.retire(&last));
        let lost: Vec<&str> = table.lost_failures().map(|(name, _)| &**name).collect();
        assert_eq!(lost, ["task"]);
        // The name used again, and this time ended well: forgotten.
        let again = finished(&mut table, "task", 4);
        show_completed(&again, 4);
        drop(table.retire(&again));
        let other = finished(&mut table, "other", 5);
        drop(table.retire(&other));
        assert_eq!(table.lost_failures().count(), 0);
    }
}
