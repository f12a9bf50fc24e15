//! The row arena and the name index: all rows, in order of first start.
//!
//! A data structure only: rows are created here and found here; what a row
//! says is [`row`](super::row)'s, and how it changes is
//! [`lease`](super::lease)'s.

use std::collections::hash_map::RandomState;
use std::collections::HashMap;
use std::hash::{BuildHasher, BuildHasherDefault, Hasher};
use std::sync::{Arc, OnceLock};

use super::row::Row;

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

#[cfg(test)]
mod tests {
    use std::time::Instant;

    use super::*;
    use crate::runtime::row::Kind;
    use crate::status::Status;

    #[test]
    fn the_index_finds_every_name_and_only_those() {
        let now = Instant::now();
        let mut table = Table::default();
        let names: Vec<Arc<str>> = (0..1000).map(|i| Arc::from(format!("svc-{i}"))).collect();
        for (i, name) in names.iter().enumerate() {
            let row = table.row_for(name, || {
                Row::new(Arc::clone(name), i as u64, Kind::Task, Status::Running, now)
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
        let a = table.push(Row::new("a".into(), 1, Kind::Task, Status::Running, now));
        table.same_hash.push(NONE);
        let b = table.push(Row::new("b".into(), 2, Kind::Task, Status::Running, now));
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
}
