//! Measuring and summarising: medians and percentiles, resident memory, and
//! an allocation counter for the `allocs` probe.

use std::alloc::{GlobalAlloc, Layout, System};
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

/// The median of `values` (the mean of the two middle ones for an even
/// count); `NaN` for none.
pub(crate) fn median(values: &[f64]) -> f64 {
    if values.is_empty() {
        return f64::NAN;
    }
    let mut sorted = values.to_vec();
    sorted.sort_by(f64::total_cmp);
    let mid = sorted.len() / 2;
    if sorted.len() % 2 == 0 {
        (sorted[mid - 1] + sorted[mid]) / 2.0
    } else {
        sorted[mid]
    }
}

/// The `p`-th percentile (0..=100) of already sorted values, nearest rank.
pub(crate) fn percentile_sorted(sorted: &[u64], p: f64) -> u64 {
    if sorted.is_empty() {
        return 0;
    }
    let rank = ((p / 100.0) * sorted.len() as f64).ceil() as usize;
    sorted[rank.clamp(1, sorted.len()) - 1]
}

/// Resident memory of this process in bytes, from `/proc/self/statm` (its
/// second field, in pages). `None` where there is no procfs.
pub(crate) fn rss_bytes() -> Option<u64> {
    let statm = std::fs::read_to_string("/proc/self/statm").ok()?;
    let pages: u64 = statm.split_whitespace().nth(1)?.parse().ok()?;
    Some(pages * page_size())
}

/// The page size, from the auxiliary vector the kernel hands every process
/// (`AT_PAGESZ`); 4 KiB where it cannot be read.
fn page_size() -> u64 {
    const AT_PAGESZ: u64 = 6;
    let Ok(auxv) = std::fs::read("/proc/self/auxv") else {
        return 4096;
    };
    auxv.chunks_exact(16)
        .map(|pair| {
            let word = |b: &[u8]| u64::from_ne_bytes(b.try_into().unwrap_or([0; 8]));
            (word(&pair[..8]), word(&pair[8..]))
        })
        .find(|&(key, _)| key == AT_PAGESZ)
        .map_or(4096, |(_, value)| value)
}

/// `1,234,567`: thousands separated, for the table.
pub(crate) fn thousands(n: u64) -> String {
    let digits = n.to_string();
    let mut out = String::with_capacity(digits.len() + digits.len() / 3);
    for (i, c) in digits.chars().enumerate() {
        if i > 0 && (digits.len() - i) % 3 == 0 {
            out.push(',');
        }
        out.push(c);
    }
    out
}

/// A duration in nanoseconds, in the unit that reads best.
pub(crate) fn nanos(ns: f64) -> String {
    if ns >= 1e9 {
        format!("{:.2} s", ns / 1e9)
    } else if ns >= 1e6 {
        format!("{:.2} ms", ns / 1e6)
    } else if ns >= 1e4 {
        format!("{:.1} µs", ns / 1e3)
    } else {
        format!("{ns:.0} ns")
    }
}

/// A byte count in the unit that reads best.
pub(crate) fn bytes(b: f64) -> String {
    if b.abs() >= 1024.0 * 1024.0 {
        format!("{:.1} MiB", b / (1024.0 * 1024.0))
    } else {
        format!("{b:.0} B")
    }
}

// ---------------------------------------------------------------------------
// Allocation counting.
//
// The global allocator of this binary is the system one plus a switch: while
// counting is off (every timed scenario) each allocation costs one relaxed
// load more; the `allocs` probe turns it on to count allocations and their
// sizes per service and per restart, for both arms.

/// Size classes tracked one by one (in steps of 8 bytes); larger ones share the last.
const SIZE_SLOTS: usize = 257;

static COUNTING: AtomicBool = AtomicBool::new(false);
static ALLOCS: AtomicU64 = AtomicU64::new(0);
static ALLOC_BYTES: AtomicU64 = AtomicU64::new(0);
static BY_SIZE: [AtomicU64; SIZE_SLOTS] = [const { AtomicU64::new(0) }; SIZE_SLOTS];

/// The system allocator, counting while [`AllocCounter::start`] is in force.
pub(crate) struct CountingAlloc;

// SAFETY: every call is forwarded unchanged to `System`; the counting only
// touches atomics and never allocates.
unsafe impl GlobalAlloc for CountingAlloc {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc(layout) }
    }

    unsafe fn alloc_zeroed(&self, layout: Layout) -> *mut u8 {
        count(layout.size());
        // SAFETY: same contract as ours.
        unsafe { System.alloc_zeroed(layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        count(new_size);
        // SAFETY: same contract as ours.
        unsafe { System.realloc(ptr, layout, new_size) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: same contract as ours.
        unsafe { System.dealloc(ptr, layout) }
    }
}

#[inline]
fn count(size: usize) {
    if COUNTING.load(Ordering::Relaxed) {
        ALLOCS.fetch_add(1, Ordering::Relaxed);
        ALLOC_BYTES.fetch_add(size as u64, Ordering::Relaxed);
        let slot = size.div_ceil(8).min(SIZE_SLOTS - 1);
        BY_SIZE[slot].fetch_add(1, Ordering::Relaxed);
    }
}

/// What was allocated between [`AllocCounter::start`] and [`AllocCounter::stop`].
#[derive(Debug, Clone, serde::Serialize, serde::Deserialize)]
pub(crate) struct AllocReport {
    pub(crate) allocs: u64,
    pub(crate) bytes: u64,
    /// `(size rounded up to 8, count)`, most frequent first, the top few.
    pub(crate) by_size: Vec<(u64, u64)>,
}

/// Counts allocations process-wide (every thread) while alive.
pub(crate) struct AllocCounter(());

impl AllocCounter {
    pub(crate) fn start() -> Self {
        ALLOCS.store(0, Ordering::Relaxed);
        ALLOC_BYTES.store(0, Ordering::Relaxed);
        for slot in &BY_SIZE {
            slot.store(0, Ordering::Relaxed);
        }
        COUNTING.store(true, Ordering::SeqCst);
        AllocCounter(())
    }

    pub(crate) fn stop(self) -> AllocReport {
        COUNTING.store(false, Ordering::SeqCst);
        let mut by_size: Vec<(u64, u64)> = BY_SIZE
            .iter()
            .enumerate()
            .map(|(slot, n)| (slot as u64 * 8, n.load(Ordering::Relaxed)))
            .filter(|&(_, n)| n > 0)
            .collect();
        by_size.sort_by(|a, b| b.1.cmp(&a.1).then(b.0.cmp(&a.0)));
        by_size.truncate(6);
        AllocReport {
            allocs: ALLOCS.load(Ordering::Relaxed),
            bytes: ALLOC_BYTES.load(Ordering::Relaxed),
            by_size,
        }
    }
}

/// The text a panic was raised with (`""` for other payloads), for the
/// panic hooks that tell intended panics from the rest.
pub(crate) fn panic_text<'a>(info: &'a std::panic::PanicHookInfo<'_>) -> &'a str {
    let payload = info.payload();
    payload
        .downcast_ref::<String>()
        .map(String::as_str)
        .or_else(|| payload.downcast_ref::<&str>().copied())
        .unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn medians_and_percentiles() {
        assert_eq!(median(&[3.0, 1.0, 2.0]), 2.0);
        assert_eq!(median(&[4.0, 1.0, 2.0, 3.0]), 2.5);
        assert!(median(&[]).is_nan());
        let sorted: Vec<u64> = (1..=100).collect();
        assert_eq!(percentile_sorted(&sorted, 50.0), 50);
        assert_eq!(percentile_sorted(&sorted, 99.0), 99);
        assert_eq!(percentile_sorted(&sorted, 100.0), 100);
    }

    #[test]
    fn formatting() {
        assert_eq!(thousands(100_000), "100,000");
        assert_eq!(thousands(999), "999");
        assert_eq!(nanos(1500.0), "1500 ns");
        assert_eq!(nanos(25_000.0), "25.0 µs");
    }
}
