//! The scenarios, each in two arms: `ours` (the supervisor) and `raw` (plain
//! tokio, written the way a careful user would supervise tasks by hand). The
//! scenarios that scale with N (start, memory, shutdown) have a third arm,
//! `bare`: the cheapest thing a user can write, `tokio::spawn` of a future
//! waiting on one shared token, no supervision at all. It is the floor.
//! A fourth arm, `bare-sized`, runs where bare does: bare's task with its
//! future padded to the size of ours' task future, so that its tokio task
//! cell is as large as ours'. It is the floor for a task of that size.
//!
//! Each call here runs inside a child process of its own (see `main.rs`), on a
//! fresh multi-threaded runtime with two workers, and returns one
//! [`Measurement`].

use std::any::Any;
use std::collections::BTreeMap;
use std::fmt;
use std::future::Future;
use std::hint::black_box;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::{pin, Pin};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::task::Poll;
use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};
use supervisor::{BoxError, Builder, Context, RestartPolicy, Supervisor, TaskDescriptor};
use tokio::sync::{Notify, Semaphore};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::stats::{self, AllocCounter, AllocReport};

/// How many restarts the restart-latency scenarios time.
pub(crate) const DEFAULT_RESTARTS: usize = 10_000;
/// How many closures the blocking scenario runs.
pub(crate) const DEFAULT_JOBS: usize = 10_000;
/// How many snapshots one child takes (the median is reported).
const SNAPSHOTS_PER_CHILD: usize = 5;

/// Which implementation a child runs.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub(crate) enum Arm {
    Ours,
    Raw,
    /// `tokio::spawn` and one shared `CancellationToken`, no restarts.
    Bare,
    /// Bare, its task future padded to the size of ours' (see [`PAD`]).
    #[serde(rename = "bare-sized")]
    BareSized,
}

impl Arm {
    pub(crate) const ALL: [Arm; 4] = [Arm::Ours, Arm::Raw, Arm::Bare, Arm::BareSized];

    pub(crate) fn parse(s: &str) -> Option<Self> {
        match s {
            "ours" => Some(Arm::Ours),
            "raw" => Some(Arm::Raw),
            "bare" => Some(Arm::Bare),
            "bare-sized" => Some(Arm::BareSized),
            _ => None,
        }
    }

    /// Bare or bare-sized: a plain `tokio::spawn`, no supervision.
    pub(crate) fn is_bare(self) -> bool {
        matches!(self, Arm::Bare | Arm::BareSized)
    }
}

impl fmt::Display for Arm {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.pad(match self {
            Arm::Ours => "ours",
            Arm::Raw => "raw",
            Arm::Bare => "bare",
            Arm::BareSized => "bare-sized",
        })
    }
}

/// What a child measures.
#[derive(Clone, Copy, Debug, PartialEq, Eq, PartialOrd, Ord, Serialize, Deserialize)]
#[serde(rename_all = "kebab-case")]
pub(crate) enum Scenario {
    /// Spawn N idle services; time until every one has been polled once.
    Start,
    /// Resident memory per idle service.
    Memory,
    /// Cooperative shutdown of N idle services.
    Shutdown,
    /// `snapshot()` of N running services (ours only).
    Snapshot,
    /// Failure-to-next-attempt latency, the failure being a panic.
    RestartPanic,
    /// Failure-to-next-attempt latency, the failure being an `Err`.
    RestartErr,
    /// Throughput of tiny blocking closures, at most 8 at once.
    Blocking,
    /// Allocations per started service and per restart (a probe, not timed).
    Allocs,
}

impl Scenario {
    pub(crate) const ALL: [Scenario; 8] = [
        Scenario::Start,
        Scenario::Memory,
        Scenario::Shutdown,
        Scenario::Snapshot,
        Scenario::RestartPanic,
        Scenario::RestartErr,
        Scenario::Blocking,
        Scenario::Allocs,
    ];

    pub(crate) fn name(self) -> &'static str {
        match self {
            Scenario::Start => "start",
            Scenario::Memory => "memory",
            Scenario::Shutdown => "shutdown",
            Scenario::Snapshot => "snapshot",
            Scenario::RestartPanic => "restart-panic",
            Scenario::RestartErr => "restart-err",
            Scenario::Blocking => "blocking",
            Scenario::Allocs => "allocs",
        }
    }

    pub(crate) fn parse(s: &str) -> Option<Self> {
        Scenario::ALL.into_iter().find(|sc| sc.name() == s)
    }

    /// Whether the scenario is run at every service count (the others use a
    /// fixed amount of work).
    pub(crate) fn scales_with_n(self) -> bool {
        matches!(
            self,
            Scenario::Start | Scenario::Memory | Scenario::Shutdown | Scenario::Snapshot
        )
    }

    /// Whether the raw arm has an equivalent.
    pub(crate) fn has_raw(self) -> bool {
        self != Scenario::Snapshot
    }

    /// Whether the bare arm has an equivalent: the scenarios where the cost
    /// grows with N (for restarts the reference stays raw's respawn loop,
    /// and bare has nothing to snapshot), and the allocation probe's start.
    pub(crate) fn has_bare(self) -> bool {
        matches!(
            self,
            Scenario::Start | Scenario::Memory | Scenario::Shutdown | Scenario::Allocs
        )
    }

    /// Whether `arm` runs in this scenario: ours everywhere, raw where
    /// [`Scenario::has_raw`], bare and bare-sized where [`Scenario::has_bare`].
    pub(crate) fn has_arm(self, arm: Arm) -> bool {
        match arm {
            Arm::Ours => true,
            Arm::Raw => self.has_raw(),
            Arm::Bare | Arm::BareSized => self.has_bare(),
        }
    }
}

/// One child's result: the headline `value` in `unit`, and supporting figures.
#[derive(Clone, Debug, Serialize, Deserialize)]
pub(crate) struct Measurement {
    pub(crate) scenario: Scenario,
    pub(crate) arm: Arm,
    pub(crate) n: usize,
    pub(crate) value: f64,
    pub(crate) unit: String,
    #[serde(default)]
    pub(crate) extra: BTreeMap<String, f64>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) start_allocs: Option<AllocReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) restart_allocs: Option<AllocReport>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub(crate) blocking_allocs: Option<AllocReport>,
}

impl Measurement {
    fn new(scenario: Scenario, arm: Arm, n: usize, value: f64, unit: &str) -> Self {
        Measurement {
            scenario,
            arm,
            n,
            value,
            unit: unit.to_string(),
            extra: BTreeMap::new(),
            start_allocs: None,
            restart_allocs: None,
            blocking_allocs: None,
        }
    }

    fn with(mut self, key: &str, value: f64) -> Self {
        self.extra.insert(key.to_string(), value);
        self
    }
}

/// Work sizes a child is told about besides N.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Sizes {
    pub(crate) restarts: usize,
    pub(crate) jobs: usize,
}

/// The runtime every arm runs on: multi-threaded, two workers.
fn runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime can be built")
}

/// Runs one scenario in one arm, where [`Scenario::has_arm`] says it exists.
pub(crate) fn run(scenario: Scenario, arm: Arm, n: usize, sizes: Sizes) -> Measurement {
    assert!(
        scenario.has_arm(arm),
        "{} has no {arm} arm",
        scenario.name()
    );
    // Every arm sees the same panic handling: no backtrace capture, no output.
    std::panic::set_hook(Box::new(|_| {}));
    let rt = runtime();
    let measurement = rt.block_on(async move {
        match (scenario, arm) {
            (Scenario::Start, Arm::Ours) => ours_start(n).await,
            (Scenario::Start, Arm::Raw) => raw_start(n).await,
            (Scenario::Memory, Arm::Ours) => ours_memory(n).await,
            (Scenario::Memory, Arm::Raw) => raw_memory(n).await,
            (Scenario::Shutdown, Arm::Ours) => ours_shutdown(n).await,
            (Scenario::Shutdown, Arm::Raw) => raw_shutdown(n).await,
            (Scenario::Start, Arm::Bare | Arm::BareSized) => bare_start(arm, n).await,
            (Scenario::Memory, Arm::Bare | Arm::BareSized) => bare_memory(arm, n).await,
            (Scenario::Shutdown, Arm::Bare | Arm::BareSized) => bare_shutdown(arm, n).await,
            (Scenario::Snapshot, _) => ours_snapshot(n).await,
            (Scenario::RestartPanic, _) => restart(arm, Failure::Panic, sizes.restarts).await,
            (Scenario::RestartErr, _) => restart(arm, Failure::Err, sizes.restarts).await,
            (Scenario::Blocking, Arm::Ours) => ours_blocking(sizes.jobs).await,
            (Scenario::Blocking, Arm::Raw) => raw_blocking(sizes.jobs).await,
            (Scenario::Blocking, Arm::Bare | Arm::BareSized) => unreachable!("checked above"),
            (Scenario::Allocs, _) => allocs(arm, n, sizes.restarts.min(1000)).await,
        }
    });
    // The runtime is leaked on purpose: the caller exits the process next,
    // and dropping 100,000 tasks would only add to the child's run time.
    std::mem::forget(rt);
    measurement
}

// ---------------------------------------------------------------------------
// What every idle service does: say "I have been polled", then wait to be told
// to stop.

/// Counts first polls; wakes the measuring task when the last one arrives.
struct Arrivals {
    count: AtomicUsize,
    target: usize,
    all_in: Notify,
}

impl Arrivals {
    /// A counter for `target` services, leaked so that every arm's services
    /// capture a plain `&'static` (no reference counting in the measured code).
    fn leak(target: usize) -> &'static Arrivals {
        Box::leak(Box::new(Arrivals {
            count: AtomicUsize::new(0),
            target,
            all_in: Notify::new(),
        }))
    }

    fn arrive(&self) {
        if self.count.fetch_add(1, Ordering::Relaxed) + 1 == self.target {
            // Stores a permit if the waiter is not there yet.
            self.all_in.notify_one();
        }
    }

    async fn all_arrived(&self) {
        if self.target > 0 {
            self.all_in.notified().await;
        }
    }
}

// ---------------------------------------------------------------------------
// Our arm: the supervisor's imperative API.

fn supervisor() -> Supervisor {
    Builder::new()
        .only(Vec::<String>::new())
        .handle_signals(false)
        .start()
        .expect("a supervisor starts inside a runtime")
}

fn names(n: usize) -> Vec<Arc<str>> {
    (0..n).map(|i| Arc::from(format!("svc-{i}"))).collect()
}

/// What an idle service runs, ours: a closure returning an `async move`
/// block, as the crate's examples write it. (A macro, since a function cannot
/// name the closure's future type in its return type.)
macro_rules! ours_idle {
    ($arrivals:expr) => {{
        let arrivals: &'static Arrivals = $arrivals;
        move |ctx: Context| async move {
            arrivals.arrive();
            ctx.cancelled().await;
            Ok::<(), BoxError>(())
        }
    }};
}

/// What an idle service runs, raw: the same body as `ours_idle!`, told
/// through its token.
macro_rules! raw_idle {
    ($arrivals:expr) => {{
        let arrivals: &'static Arrivals = $arrivals;
        move |token: CancellationToken| async move {
            arrivals.arrive();
            token.cancelled().await;
            Ok::<(), BoxError>(())
        }
    }};
}

/// The size of the future `make` returns for `arg`.
fn future_size<A, F: Future>(make: impl Fn(A) -> F, arg: A) -> usize {
    size_of_val(&make(arg))
}

/// The descriptor every idle service shares (one factory, cloned per name).
fn idle_descriptor(arrivals: &'static Arrivals) -> TaskDescriptor {
    TaskDescriptor::new("idle", RestartPolicy::Never, ours_idle!(arrivals))
}

/// Starts one idle service per name through `spawn_fn`, the imperative API's
/// unboxed path (a `TaskDescriptor` boxes each run's future: see the
/// allocation probe's sizes).
fn spawn_ours(
    sup: &Supervisor,
    arrivals: &'static Arrivals,
    names: impl Iterator<Item = Arc<str>>,
) {
    for name in names {
        sup.spawn_fn(name, RestartPolicy::Never, ours_idle!(arrivals))
            .expect("spawn before shutdown succeeds");
    }
}

/// Starts N idle services and waits until each has been polled once.
/// The names are made beforehand: what is timed is the supervisor's work.
async fn ours_started(n: usize) -> (Supervisor, Duration) {
    let arrivals = Arrivals::leak(n);
    let names = names(n);
    let began = Instant::now();
    let sup = supervisor();
    spawn_ours(&sup, arrivals, names.into_iter());
    arrivals.all_arrived().await;
    (sup, began.elapsed())
}

async fn ours_start(n: usize) -> Measurement {
    let (_sup, took) = ours_started(n).await;
    per_service(Scenario::Start, Arm::Ours, n, took)
}

async fn ours_memory(n: usize) -> Measurement {
    let arrivals = Arrivals::leak(n);
    let sup = supervisor();
    let before = stats::rss_bytes().unwrap_or(0);
    // The names are counted here: the supervisor keeps each one.
    spawn_ours(
        &sup,
        arrivals,
        (0..n).map(|i| Arc::from(format!("svc-{i}"))),
    );
    arrivals.all_arrived().await;
    let after = stats::rss_bytes().unwrap_or(0);
    memory(Arm::Ours, n, before, after)
}

async fn ours_shutdown(n: usize) -> Measurement {
    let (sup, _) = ours_started(n).await;
    let began = Instant::now();
    let result = sup.shutdown(Duration::from_secs(120)).await;
    let took = began.elapsed();
    assert!(result.is_ok(), "idle services stop cleanly: {result:?}");
    assert_eq!(sup.active_count(), 0);
    per_service(Scenario::Shutdown, Arm::Ours, n, took)
}

async fn ours_snapshot(n: usize) -> Measurement {
    let (sup, _) = ours_started(n).await;
    let mut times = Vec::with_capacity(SNAPSHOTS_PER_CHILD);
    for _ in 0..SNAPSHOTS_PER_CHILD {
        let began = Instant::now();
        let rows = black_box(sup.snapshot());
        times.push(began.elapsed().as_nanos() as f64);
        assert_eq!(rows.len(), n);
        drop(rows);
    }
    let total = stats::median(&times);
    Measurement::new(
        Scenario::Snapshot,
        Arm::Ours,
        n,
        total / n.max(1) as f64,
        "ns/svc",
    )
    .with("total_ns", total)
}

async fn ours_blocking(jobs: usize) -> Measurement {
    let sup = supervisor();
    let name: Arc<str> = Arc::from("job");
    let began = Instant::now();
    let handles: Vec<_> = (0..jobs as u64)
        .map(|i| sup.spawn_blocking(Arc::clone(&name), move || black_box(i).wrapping_mul(3)))
        .collect();
    let mut sum = 0u64;
    for handle in handles {
        sum = sum.wrapping_add(handle.join().await.expect("a tiny closure returns"));
    }
    black_box(sum);
    blocking(Arm::Ours, jobs, began.elapsed())
}

// ---------------------------------------------------------------------------
// The raw arm: `tokio::spawn`, a child token per task, and a restart loop
// around a future whose panics are caught by a small poll wrapper.

/// Polls a future, turning a panic in any poll into `Err(payload)`.
struct CatchUnwind<'a, F> {
    future: Pin<&'a mut F>,
}

impl<F: Future> Future for CatchUnwind<'_, F> {
    type Output = Result<F::Output, Box<dyn Any + Send>>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut std::task::Context<'_>) -> Poll<Self::Output> {
        let future = self.future.as_mut();
        match catch_unwind(AssertUnwindSafe(|| future.poll(cx))) {
            Ok(Poll::Pending) => Poll::Pending,
            Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
            Err(payload) => Poll::Ready(Err(payload)),
        }
    }
}

/// The text of a panic payload, kept as the failure reason (as ours does).
fn panic_text(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panic".to_string()
    }
}

/// The same policy as `backoff(max, base)`: `base · 2^(n-1)`, capped at 60 s.
#[derive(Clone, Copy)]
enum RawPolicy {
    Never,
    Backoff { max: u32, base: Duration },
}

impl RawPolicy {
    fn delay(self, streak: u32) -> Option<Duration> {
        match self {
            RawPolicy::Never => None,
            RawPolicy::Backoff { max, base } => (streak <= max).then(|| {
                base.saturating_mul(1 << (streak - 1).min(30))
                    .min(Duration::from_secs(60))
            }),
        }
    }
}

/// How a hand-supervised task ended.
#[derive(Debug)]
enum RawOutcome {
    Completed,
    Stopped,
    Failed(String),
}

impl RawOutcome {
    fn failure(&self) -> Option<&str> {
        match self {
            RawOutcome::Failed(reason) => Some(reason),
            _ => None,
        }
    }
}

/// A careful hand-written supervisor loop: run, catch the panic or the
/// error, keep its text, back off (or stop when told), run again.
async fn supervise<F, Fut>(token: CancellationToken, policy: RawPolicy, make: F) -> RawOutcome
where
    F: Fn(CancellationToken) -> Fut,
    Fut: Future<Output = Result<(), BoxError>>,
{
    let mut streak = 0u32;
    loop {
        let future = pin!(make(token.clone()));
        let reason = match (CatchUnwind { future }).await {
            Ok(Ok(())) if token.is_cancelled() => return RawOutcome::Stopped,
            Ok(Ok(())) => return RawOutcome::Completed,
            Ok(Err(error)) => error.to_string(),
            Err(payload) => panic_text(payload.as_ref()),
        };
        if token.is_cancelled() {
            return RawOutcome::Failed(reason);
        }
        streak = streak.saturating_add(1);
        let Some(delay) = policy.delay(streak) else {
            return RawOutcome::Failed(reason);
        };
        if delay.is_zero() {
            // `sleep(ZERO)` would wait for the timer's next 1 ms tick; a zero
            // delay only gives the other tasks their turn.
            tokio::task::yield_now().await;
            if token.is_cancelled() {
                return RawOutcome::Stopped;
            }
        } else {
            tokio::select! {
                biased;
                () = token.cancelled() => return RawOutcome::Stopped,
                () = tokio::time::sleep(delay) => {}
            }
        }
    }
}

fn spawn_raw(
    parent: &CancellationToken,
    arrivals: &'static Arrivals,
    n: usize,
) -> Vec<JoinHandle<RawOutcome>> {
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        let token = parent.child_token();
        handles.push(tokio::spawn(supervise(
            token,
            RawPolicy::Never,
            raw_idle!(arrivals),
        )));
    }
    handles
}

/// How the tokio arms spawn `n` idle tasks on one parent token.
type SpawnArm<T> = fn(&CancellationToken, &'static Arrivals, usize) -> Vec<JoinHandle<T>>;

/// Starts `n` idle tasks the way `spawn` does and waits until each has been
/// polled once; returns the token, the handles and the time taken.
async fn tokio_started<T>(
    n: usize,
    spawn: SpawnArm<T>,
) -> (CancellationToken, Vec<JoinHandle<T>>, Duration) {
    let arrivals = Arrivals::leak(n);
    let began = Instant::now();
    let token = CancellationToken::new();
    let handles = spawn(&token, arrivals, n);
    arrivals.all_arrived().await;
    (token, handles, began.elapsed())
}

/// The RSS that `n` idle tasks spawned the way `spawn` does add.
async fn tokio_memory<T>(arm: Arm, n: usize, spawn: SpawnArm<T>) -> Measurement {
    let arrivals = Arrivals::leak(n);
    let token = CancellationToken::new();
    let before = stats::rss_bytes().unwrap_or(0);
    let handles = spawn(&token, arrivals, n);
    arrivals.all_arrived().await;
    let after = stats::rss_bytes().unwrap_or(0);
    black_box(&handles);
    memory(arm, n, before, after)
}

async fn raw_start(n: usize) -> Measurement {
    let (_parent, _handles, took) = tokio_started(n, spawn_raw).await;
    per_service(Scenario::Start, Arm::Raw, n, took)
}

async fn raw_memory(n: usize) -> Measurement {
    tokio_memory(Arm::Raw, n, spawn_raw).await
}

async fn raw_shutdown(n: usize) -> Measurement {
    let (parent, handles, _) = tokio_started(n, spawn_raw).await;
    let began = Instant::now();
    parent.cancel();
    for handle in handles {
        let outcome = handle.await.expect("an idle task ends cleanly");
        assert!(outcome.failure().is_none(), "{outcome:?}");
    }
    per_service(Scenario::Shutdown, Arm::Raw, n, began.elapsed())
}

async fn raw_blocking(jobs: usize) -> Measurement {
    let slots = Arc::new(Semaphore::new(8));
    let began = Instant::now();
    let handles: Vec<JoinHandle<u64>> = (0..jobs as u64)
        .map(|i| {
            let slots = Arc::clone(&slots);
            tokio::spawn(async move {
                let permit = slots
                    .acquire_owned()
                    .await
                    .expect("the semaphore stays open");
                tokio::task::spawn_blocking(move || {
                    let value = black_box(i).wrapping_mul(3);
                    drop(permit);
                    value
                })
                .await
                .expect("a tiny closure returns")
            })
        })
        .collect();
    let mut sum = 0u64;
    for handle in handles {
        sum = sum.wrapping_add(handle.await.expect("the job task ends"));
    }
    black_box(sum);
    blocking(Arm::Raw, jobs, began.elapsed())
}

// ---------------------------------------------------------------------------
// The bare arm: the floor. `tokio::spawn` of a future that waits on one shared
// token, its `JoinHandle` kept in a `Vec`; no child token, no restart loop, no
// panic catching, no name, no row.

/// What a bare task runs: the same first poll as the other arms, then the
/// shared token's `cancelled()`.
async fn bare_idle(token: CancellationToken, arrivals: &'static Arrivals) {
    arrivals.arrive();
    token.cancelled().await;
}

/// Bytes of padding in a bare-sized task's future. Chosen so that the tokio
/// task cell (128-byte aligned, about 104 bytes plus the future) is as large
/// as ours' — 384 B for a future of 153 to 280 B — with the future itself
/// close to ours' per-service task future (272 B). The allocation probe
/// reports both cells and the report warns when they differ.
const PAD: usize = 144;

/// What a bare-sized task runs: bare's task, with [`PAD`] bytes kept alive
/// beside it for as long as it waits.
async fn bare_sized_idle(token: CancellationToken, arrivals: &'static Arrivals) {
    let pad = [0u8; PAD];
    bare_idle(token, arrivals).await;
    black_box(&pad);
}

/// Spawns `n` tasks running `idle` on the shared token; keeps their handles.
fn spawn_on_token<F>(
    token: &CancellationToken,
    arrivals: &'static Arrivals,
    n: usize,
    idle: impl Fn(CancellationToken, &'static Arrivals) -> F,
) -> Vec<JoinHandle<()>>
where
    F: Future<Output = ()> + Send + 'static,
{
    let mut handles = Vec::with_capacity(n);
    for _ in 0..n {
        handles.push(tokio::spawn(idle(token.clone(), arrivals)));
    }
    handles
}

fn spawn_bare(
    token: &CancellationToken,
    arrivals: &'static Arrivals,
    n: usize,
) -> Vec<JoinHandle<()>> {
    spawn_on_token(token, arrivals, n, bare_idle)
}

fn spawn_bare_sized(
    token: &CancellationToken,
    arrivals: &'static Arrivals,
    n: usize,
) -> Vec<JoinHandle<()>> {
    spawn_on_token(token, arrivals, n, bare_sized_idle)
}

/// How `arm`, bare or bare-sized, spawns its tasks.
fn bare_spawn(arm: Arm) -> SpawnArm<()> {
    match arm {
        Arm::Bare => spawn_bare,
        Arm::BareSized => spawn_bare_sized,
        Arm::Ours | Arm::Raw => unreachable!("{arm} is not a bare arm"),
    }
}

async fn bare_start(arm: Arm, n: usize) -> Measurement {
    let (_token, _handles, took) = tokio_started(n, bare_spawn(arm)).await;
    per_service(Scenario::Start, arm, n, took)
}

async fn bare_memory(arm: Arm, n: usize) -> Measurement {
    tokio_memory(arm, n, bare_spawn(arm)).await
}

/// Shutdown, bare or bare-sized: cancel the token, then await every handle.
async fn bare_shutdown(arm: Arm, n: usize) -> Measurement {
    let (token, handles, _) = tokio_started(n, bare_spawn(arm)).await;
    let began = Instant::now();
    token.cancel();
    for handle in handles {
        handle.await.expect("an idle task ends cleanly");
    }
    per_service(Scenario::Shutdown, arm, n, began.elapsed())
}

// ---------------------------------------------------------------------------
// Restart latency: one service that fails at once, `k` times; each attempt
// records how long ago the previous one failed.

#[derive(Clone, Copy, PartialEq, Eq)]
enum Failure {
    Panic,
    Err,
}

/// A zero-sized error, so that both arms pay only for what they do with it.
#[derive(Debug)]
struct ProbeError;

impl fmt::Display for ProbeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("restart probe")
    }
}

impl std::error::Error for ProbeError {}

struct RestartProbe {
    state: Mutex<ProbeState>,
    done: Notify,
    restarts: usize,
    failure: Failure,
}

struct ProbeState {
    failed_at: Option<Instant>,
    latencies: Vec<u64>,
}

impl RestartProbe {
    fn leak(restarts: usize, failure: Failure) -> &'static RestartProbe {
        Box::leak(Box::new(RestartProbe {
            state: Mutex::new(ProbeState {
                failed_at: None,
                latencies: Vec::with_capacity(restarts),
            }),
            done: Notify::new(),
            restarts,
            failure,
        }))
    }

    /// The start of an attempt. `Ok(())` when enough restarts were timed
    /// (the attempt then idles); otherwise the failure to produce, the clock
    /// having been read right before.
    fn attempt(&self) -> Result<(), BoxError> {
        let now = Instant::now();
        let mut state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        if let Some(failed_at) = state.failed_at.take() {
            state
                .latencies
                .push(now.duration_since(failed_at).as_nanos() as u64);
        }
        if state.latencies.len() >= self.restarts {
            drop(state);
            self.done.notify_one();
            return Ok(());
        }
        let error: BoxError = Box::new(ProbeError);
        state.failed_at = Some(Instant::now());
        drop(state);
        match self.failure {
            Failure::Panic => panic!("restart probe"),
            Failure::Err => Err(error),
        }
    }

    fn latencies(&self) -> Vec<u64> {
        let state = self.state.lock().unwrap_or_else(|e| e.into_inner());
        state.latencies.clone()
    }
}

/// Runs the probe to the end in one arm; returns the wall time of the whole run.
async fn run_probe(arm: Arm, probe: &'static RestartProbe) -> Duration {
    let began = Instant::now();
    match arm {
        Arm::Ours => {
            let sup = supervisor();
            let policy = RestartPolicy::Backoff {
                max: u32::MAX,
                base_delay: Duration::ZERO,
            };
            sup.spawn_fn("flaky", policy, move |ctx: Context| async move {
                probe.attempt()?;
                ctx.cancelled().await;
                Ok::<(), BoxError>(())
            })
            .expect("spawn before shutdown succeeds");
            probe.done.notified().await;
            let took = began.elapsed();
            sup.shutdown(Duration::from_secs(10))
                .await
                .expect("the probe stops cleanly");
            took
        }
        Arm::Raw => {
            let parent = CancellationToken::new();
            let policy = RawPolicy::Backoff {
                max: u32::MAX,
                base: Duration::ZERO,
            };
            let handle = tokio::spawn(supervise(
                parent.child_token(),
                policy,
                move |token: CancellationToken| async move {
                    probe.attempt()?;
                    token.cancelled().await;
                    Ok::<(), BoxError>(())
                },
            ));
            probe.done.notified().await;
            let took = began.elapsed();
            parent.cancel();
            handle.await.expect("the probe task ends");
            took
        }
        Arm::Bare | Arm::BareSized => unreachable!("bare has no restart loop to time"),
    }
}

async fn restart(arm: Arm, failure: Failure, restarts: usize) -> Measurement {
    let probe = RestartProbe::leak(restarts, failure);
    let took = run_probe(arm, probe).await;
    let mut latencies = probe.latencies();
    latencies.sort_unstable();
    let scenario = match failure {
        Failure::Panic => Scenario::RestartPanic,
        Failure::Err => Scenario::RestartErr,
    };
    let p50 = stats::percentile_sorted(&latencies, 50.0) as f64;
    let p99 = stats::percentile_sorted(&latencies, 99.0) as f64;
    Measurement::new(scenario, arm, restarts, p50, "ns")
        .with("p99_ns", p99)
        .with(
            "per_restart_ns",
            took.as_nanos() as f64 / restarts.max(1) as f64,
        )
}

// ---------------------------------------------------------------------------
// The allocation probe: what starting one idle service allocates, and what one
// `Err` restart allocates. The bare arms have only the start (and their
// task's future size).

async fn allocs(arm: Arm, n: usize, restarts: usize) -> Measurement {
    let arrivals = Arrivals::leak(n);
    if arm.is_bare() {
        return bare_allocs(arm, arrivals, n).await;
    }
    let start_report = match arm {
        Arm::Ours => {
            let names = names(n);
            let sup = supervisor();
            let counter = AllocCounter::start();
            spawn_ours(&sup, arrivals, names.into_iter());
            arrivals.all_arrived().await;
            let report = counter.stop();
            sup.shutdown(Duration::from_secs(60))
                .await
                .expect("idle services stop cleanly");
            report
        }
        Arm::Raw => {
            let parent = CancellationToken::new();
            let counter = AllocCounter::start();
            let handles = spawn_raw(&parent, arrivals, n);
            arrivals.all_arrived().await;
            let report = counter.stop();
            parent.cancel();
            for handle in handles {
                handle.await.expect("an idle task ends cleanly");
            }
            report
        }
        Arm::Bare | Arm::BareSized => unreachable!("handled above"),
    };
    let probe = RestartProbe::leak(restarts, Failure::Err);
    let counter = AllocCounter::start();
    run_probe(arm, probe).await;
    let restart_report = counter.stop();
    // Blocking jobs, once the worker threads exist.
    const JOBS: usize = 1000;
    let blocking_jobs = |jobs| async move {
        match arm {
            Arm::Ours => ours_blocking(jobs).await,
            Arm::Raw => raw_blocking(jobs).await,
            Arm::Bare | Arm::BareSized => unreachable!("handled above"),
        }
    };
    blocking_jobs(100).await;
    let counter = AllocCounter::start();
    blocking_jobs(JOBS).await;
    let blocking_report = counter.stop();
    let per = |count: u64, of: usize| count as f64 / of.max(1) as f64;
    // Sizes of what each arm keeps per service (in bytes).
    let sizes = match arm {
        Arm::Ours => {
            let run = (idle_descriptor(arrivals).factory)(Context::detached(
                "probe",
                CancellationToken::new(),
            ));
            [
                (
                    "user_future_bytes",
                    future_size(
                        ours_idle!(arrivals),
                        Context::detached("probe", CancellationToken::new()),
                    ),
                ),
                ("boxed_run_future_bytes", size_of_val(&*run)),
            ]
        }
        Arm::Raw => {
            let token = CancellationToken::new();
            [
                (
                    "user_future_bytes",
                    future_size(raw_idle!(arrivals), token.clone()),
                ),
                (
                    "task_future_bytes",
                    size_of_val(&supervise(token, RawPolicy::Never, raw_idle!(arrivals))),
                ),
            ]
        }
        Arm::Bare | Arm::BareSized => unreachable!("handled above"),
    };
    let mut m = Measurement::new(
        Scenario::Allocs,
        arm,
        n,
        per(start_report.allocs, n),
        "allocs/svc",
    )
    .with("bytes_per_service", per(start_report.bytes, n))
    .with("allocs_per_restart", per(restart_report.allocs, restarts))
    .with("bytes_per_restart", per(restart_report.bytes, restarts))
    .with("allocs_per_job", per(blocking_report.allocs, JOBS))
    .with("bytes_per_job", per(blocking_report.bytes, JOBS));
    for (key, size) in sizes {
        m = m.with(key, size as f64);
    }
    m.start_allocs = Some(start_report);
    m.restart_allocs = Some(restart_report);
    m.blocking_allocs = Some(blocking_report);
    m
}

/// The allocation probe of bare or bare-sized: what `tokio::spawn` of one
/// idle task allocates, and the size of that task's whole future.
async fn bare_allocs(arm: Arm, arrivals: &'static Arrivals, n: usize) -> Measurement {
    let token = CancellationToken::new();
    let counter = AllocCounter::start();
    let handles = bare_spawn(arm)(&token, arrivals, n);
    arrivals.all_arrived().await;
    let report = counter.stop();
    token.cancel();
    for handle in handles {
        handle.await.expect("an idle task ends cleanly");
    }
    let task_future = match arm {
        Arm::BareSized => size_of_val(&bare_sized_idle(token, arrivals)),
        _ => size_of_val(&bare_idle(token, arrivals)),
    };
    let per = report.allocs as f64 / n.max(1) as f64;
    let bytes = report.bytes as f64 / n.max(1) as f64;
    let mut m = Measurement::new(Scenario::Allocs, arm, n, per, "allocs/svc")
        .with("bytes_per_service", bytes)
        .with("task_future_bytes", task_future as f64);
    m.start_allocs = Some(report);
    m
}

// ---------------------------------------------------------------------------

fn per_service(scenario: Scenario, arm: Arm, n: usize, took: Duration) -> Measurement {
    let total = took.as_nanos() as f64;
    Measurement::new(scenario, arm, n, total / n.max(1) as f64, "ns/svc").with("total_ns", total)
}

fn memory(arm: Arm, n: usize, before: u64, after: u64) -> Measurement {
    let delta = after as f64 - before as f64;
    Measurement::new(Scenario::Memory, arm, n, delta / n.max(1) as f64, "B/svc")
        .with("rss_before", before as f64)
        .with("rss_after", after as f64)
}

fn blocking(arm: Arm, jobs: usize, took: Duration) -> Measurement {
    let total = took.as_nanos() as f64;
    Measurement::new(
        Scenario::Blocking,
        arm,
        jobs,
        total / jobs.max(1) as f64,
        "ns/job",
    )
    .with("total_ns", total)
    .with("jobs_per_sec", jobs as f64 / took.as_secs_f64())
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A tokio task cell is 128-byte aligned and holds about 104 bytes
    /// besides the future: a future of 153 to 280 bytes gets ours' 384-byte
    /// cell. (The allocation probe checks the cells themselves.)
    #[test]
    fn padded_future_is_in_ours_cell_size() {
        let arrivals = Arrivals::leak(0);
        let bare = size_of_val(&bare_idle(CancellationToken::new(), arrivals));
        let sized = size_of_val(&bare_sized_idle(CancellationToken::new(), arrivals));
        assert!(sized >= bare + PAD, "{sized} < {bare} + {PAD}");
        assert!((153..=280).contains(&sized), "{sized}");
    }
}
