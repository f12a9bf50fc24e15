//! A declared `async fn` that takes a `Context` runs like `Supervisor::spawn_fn`:
//! each run's future lives inside the service's task, so a restart boxes no
//! future. A declared `async fn` without `Context` keeps its boxed runs (it
//! is dropped at shutdown through them).
//!
//! The allocations are counted per thread: each test runs its supervisor on
//! the current-thread runtime (the default of `#[tokio::test]`), so it sees
//! its own services' work and not that of the tests beside it.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::sync::atomic::{AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use supervisor::{supervised, Builder, Context, RestartPolicy, State, Status, Supervisor};
use tests::{backoff, row};

// ---------------------------------------------------------------- counting

/// Counts the allocations of each thread.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers every call to the system allocator; counting touches a
// `const`-initialized thread-local `Cell`, which allocates nothing.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

// ---------------------------------------------------------------- the window

/// Runs before the window: the first restarts warm up what grows once.
const FIRST: u32 = 10;
/// The restarts counted.
const WINDOW: u32 = 100;

/// The allocation count at the start of the window and at its end.
struct Marks([AtomicU64; 2]);

impl Marks {
    const fn new() -> Self {
        Marks([AtomicU64::new(0), AtomicU64::new(0)])
    }

    /// Notes the count when run `attempt` is the window's first or last.
    fn note(&self, attempt: u32) {
        match attempt {
            FIRST => self.0[0].store(allocations(), Ordering::SeqCst),
            n if n == FIRST + WINDOW => self.0[1].store(allocations(), Ordering::SeqCst),
            _ => {}
        }
    }

    /// The allocations over the window.
    fn counted(&self, what: &str) -> u64 {
        let [from, to] = [0, 1].map(|i| self.0[i].load(Ordering::SeqCst));
        assert!(to > from, "{what}: the marks were taken: {from}, {to}");
        to - from
    }
}

/// Run `attempt`'s result: a failure until the window's end, then `Ok`.
fn fails_until_the_end(attempt: u32) -> Result<(), &'static str> {
    if attempt < FIRST + WINDOW {
        Err("fails at once")
    } else {
        Ok(())
    }
}

/// Restarts at once, more often than the window needs.
const POLICY: RestartPolicy = RestartPolicy::Backoff {
    max: FIRST + WINDOW + 10,
    base_delay: Duration::ZERO,
};

/// Waits for `name` to complete after `FIRST + WINDOW` restarts.
async fn completes(sup: &Supervisor, name: &str) {
    sup.wait().await;
    let r = row(sup, name);
    assert_eq!(
        (r.status, r.restarts, r.last_failure.as_deref()),
        (Status::Completed, FIRST + WINDOW, Some("fails at once")),
        "{sup}"
    );
}

// ---------------------------------------------------------------- services

static COOPERATIVE: Marks = Marks::new();

#[supervised(name = "declared-cooperative")]
async fn cooperative(ctx: Context) -> Result<(), &'static str> {
    COOPERATIVE.note(ctx.attempt());
    fails_until_the_end(ctx.attempt())
}

static WITHOUT_CONTEXT: Marks = Marks::new();
static WITHOUT_CONTEXT_RUNS: AtomicU32 = AtomicU32::new(0);

#[supervised(name = "declared-without-context")]
async fn without_context() -> Result<(), &'static str> {
    let attempt = WITHOUT_CONTEXT_RUNS.fetch_add(1, Ordering::SeqCst);
    WITHOUT_CONTEXT.note(attempt);
    fails_until_the_end(attempt)
}

/// The allocations of the declared service `name` over the window.
async fn declared(name: &str, marks: &Marks) -> u64 {
    let sup = Builder::new()
        .only([name])
        .restart(name, POLICY)
        .start()
        .expect("starts");
    completes(&sup, name).await;
    sup.shutdown(Duration::from_secs(1))
        .await
        .expect("a completed service is clean");
    marks.counted(name)
}

/// The allocations of the same run started through `spawn_fn`.
async fn through_spawn_fn() -> u64 {
    let sup = tests::start_empty();
    let name = "spawned-cooperative";
    let marks = Arc::new(Marks::new());
    let seen = Arc::clone(&marks);
    sup.spawn_fn(name, POLICY, move |ctx: Context| {
        let seen = Arc::clone(&seen);
        async move {
            seen.note(ctx.attempt());
            fails_until_the_end(ctx.attempt())
        }
    })
    .expect("spawn_fn");
    completes(&sup, name).await;
    sup.shutdown(Duration::from_secs(1))
        .await
        .expect("a completed task is clean");
    marks.counted(name)
}

// ---------------------------------------------------------------- tests

/// A restart of a declared service that takes a `Context` allocates no more
/// than one of `spawn_fn` (whose run's future lives inside its task), and at
/// least two times fewer than one without `Context` (its run's future boxed,
/// then boxed again with the shutdown select that drops it).
#[tokio::test]
async fn a_restart_of_a_declared_cooperative_service_boxes_no_future() {
    let by_declared = declared("declared-cooperative", &COOPERATIVE).await;
    let by_spawn_fn = through_spawn_fn().await;
    let without_context = declared("declared-without-context", &WITHOUT_CONTEXT).await;
    println!(
        "allocations over {WINDOW} restarts: declared with Context {by_declared}, \
         spawn_fn {by_spawn_fn}, declared without Context {without_context}"
    );
    assert!(
        by_declared <= by_spawn_fn + WINDOW as u64 / 2,
        "over {WINDOW} restarts: the declared service allocated {by_declared} times, \
         spawn_fn {by_spawn_fn} times"
    );
    assert!(
        by_declared + 2 * WINDOW as u64 <= without_context,
        "over {WINDOW} restarts: the declared service allocated {by_declared} times, \
         one without Context {without_context} times"
    );
}

/// A declared service's policy from the builder applies to the inline runs
/// too: the backoff delays are those of the policy.
#[tokio::test(start_paused = true)]
async fn a_declared_cooperative_service_restarts_per_its_policy() {
    let name = "declared-cooperative-backoff";
    let sup = Builder::new()
        .only([name])
        .restart(name, backoff(2, Duration::from_secs(1)))
        .start()
        .expect("starts");
    sup.wait().await;
    let r = row(&sup, name);
    assert_eq!(
        (r.status, r.restarts, r.last_failure.as_deref()),
        (
            Status::Failed {
                reason: "run 2 failed".into()
            },
            2,
            Some("run 2 failed")
        ),
        "{sup}"
    );
    let runs = BACKOFF_RUNS.lock().unwrap().clone();
    let delays: Vec<Duration> = runs.windows(2).map(|w| w[1] - w[0]).collect();
    let expected = [Duration::from_secs(1), Duration::from_secs(2)];
    assert_eq!(delays.len(), expected.len(), "{delays:?}\n{sup}");
    for (delay, base) in delays.iter().zip(expected) {
        assert!(
            *delay >= base && *delay < base + Duration::from_millis(10),
            "the delays are the policy's: {delays:?}\n{sup}"
        );
    }
    let _ = sup.shutdown(Duration::from_secs(1)).await;
}

static BACKOFF_RUNS: std::sync::Mutex<Vec<tokio::time::Instant>> =
    std::sync::Mutex::new(Vec::new());

#[supervised(name = "declared-cooperative-backoff")]
async fn cooperative_backoff(ctx: Context) -> Result<(), String> {
    BACKOFF_RUNS
        .lock()
        .unwrap()
        .push(tokio::time::Instant::now());
    Err(format!("run {} failed", ctx.attempt()))
}

// ---------------------------------------------------------------- user code before the run

/// A state whose `Clone` panics: taking it for a run is user code that runs
/// before the user's function is called.
struct Fragile;

impl Clone for Fragile {
    fn clone(&self) -> Self {
        panic!("cloning the state panicked")
    }
}

#[supervised(name = "declared-fragile-cooperative")]
async fn fragile_cooperative(ctx: Context, State(_state): State<Fragile>) {
    ctx.cancelled().await;
}

#[supervised(name = "declared-fragile-without-context")]
async fn fragile_without_context(State(_state): State<Fragile>) {}

/// A panic while a run's `State<T>` is taken is that run's failure,
/// restarted per policy, whether the run is inline (with `Context`) or boxed
/// (without).
#[tokio::test(start_paused = true)]
async fn a_state_whose_clone_panics_fails_the_run_inline_or_boxed() {
    let names = [
        "declared-fragile-cooperative",
        "declared-fragile-without-context",
    ];
    let mut builder = Builder::new().only(names).state(Fragile);
    for name in names {
        builder = builder.restart(name, backoff(2, Duration::from_millis(10)));
    }
    let sup = builder.start().expect("starts");
    sup.wait().await;
    for name in names {
        let r = row(&sup, name);
        assert_eq!(
            (r.status, r.restarts, r.last_failure.as_deref()),
            (
                Status::Failed {
                    reason: "cloning the state panicked".into()
                },
                2,
                Some("cloning the state panicked")
            ),
            "{name}\n{sup}"
        );
    }
    let _ = sup.shutdown(Duration::from_secs(1)).await;
}
