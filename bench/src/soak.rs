//! The soak test: many imperative services that panic, fail, return or hang at
//! random, under a controller that keeps replacing, aborting and re-spawning
//! them and taking snapshots; then a shutdown, and a check of every row.
//!
//! Each instance keeps its own record (how many runs it started, what its
//! last run did, whether it was aborted); at the end the supervisor's
//! snapshot must tell the same story, row by row. A panic hook counts every
//! panic: each must be one a service threw on purpose.

use std::collections::{HashMap, VecDeque};
use std::process::ExitCode;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, AtomicU8, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use rand::rngs::SmallRng;
use rand::{Rng, SeedableRng};
use supervisor::{
    Context, RestartPolicy, ServiceSnapshot, Status, Supervisor, TaskDescriptor, TaskHandle,
};

use crate::stats::{bytes, rss_bytes, thousands};
use crate::Flags;

/// How long services get to stop once shutdown begins.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);
/// What `shutdown` may take beyond its timeout.
const SHUTDOWN_SLACK: Duration = Duration::from_millis(500);
/// The controller's period.
const TICK: Duration = Duration::from_millis(10);
/// How long an aborted task stays aborted before it is spawned again.
const RESPAWN_AFTER: Duration = Duration::from_millis(50);
/// Resident memory may grow this much over the steady state (allocator and
/// timer-wheel noise), plus a tenth of where it started.
const MEMORY_SLACK: u64 = 8 << 20;

pub(crate) struct Options {
    services: usize,
    duration: Duration,
    seed: u64,
    /// `Some(n)`: the job soak instead, `n` jobs under unique names.
    jobs_unique: Option<u64>,
}

/// How many jobs `--jobs-unique` runs unless `--jobs` says otherwise.
const DEFAULT_UNIQUE_JOBS: u64 = 1_000_000;

impl Options {
    pub(crate) fn parse(args: &[String]) -> Result<Self, String> {
        let mut options = Options {
            services: 10_000,
            duration: Duration::from_secs(30),
            seed: 1,
            jobs_unique: None,
        };
        let mut jobs = DEFAULT_UNIQUE_JOBS;
        let mut flags = Flags::new(args);
        while let Some(flag) = flags.next_flag() {
            match flag {
                "--services" => options.services = flags.value(flag)?,
                "--for" => {
                    let text: String = flags.value(flag)?;
                    options.duration = humantime::parse_duration(&text)
                        .map_err(|e| format!("--for: cannot read `{text}`: {e}"))?;
                }
                "--seed" => options.seed = flags.value(flag)?,
                "--jobs-unique" => options.jobs_unique = Some(jobs),
                "--jobs" => jobs = flags.value(flag)?,
                other => return Err(format!("soak: unknown flag `{other}`")),
            }
        }
        if options.jobs_unique.is_some() {
            if jobs == 0 {
                return Err("soak: --jobs must be at least 1".to_string());
            }
            options.jobs_unique = Some(jobs);
        }
        if options.services == 0 {
            return Err("soak: --services must be at least 1".to_string());
        }
        Ok(options)
    }
}

// ---------------------------------------------------------------------------
// What the services record about themselves.

/// What one run did (or is doing).
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
#[repr(u8)]
enum Action {
    None = 0,
    Panic = 1,
    Err = 2,
    Ok = 3,
    Hang = 4,
    /// Saw the shutdown before acting and returned `Ok`.
    StoppedEarly = 5,
}

impl Action {
    fn from_u8(v: u8) -> Self {
        match v {
            1 => Action::Panic,
            2 => Action::Err,
            3 => Action::Ok,
            4 => Action::Hang,
            5 => Action::StoppedEarly,
            _ => Action::None,
        }
    }
}

/// One instance's own account of its life.
struct Record {
    name: Arc<str>,
    slot: usize,
    generation: u32,
    runs: AtomicU32,
    last: AtomicU8,
    aborted: AtomicBool,
}

impl Record {
    fn new(name: Arc<str>, slot: usize, generation: u32) -> Arc<Self> {
        Arc::new(Record {
            name,
            slot,
            generation,
            runs: AtomicU32::new(0),
            last: AtomicU8::new(Action::None as u8),
            aborted: AtomicBool::new(false),
        })
    }

    fn last(&self) -> Action {
        Action::from_u8(self.last.load(Ordering::SeqCst))
    }

    /// The failure text of run `run` (0-based), as the service produces it.
    fn reason(&self, action: Action, run: u32) -> String {
        match action {
            Action::Panic => format!("soak panic {} run {run}", self.name),
            _ => format!("soak error {} run {run}", self.name),
        }
    }
}

/// Process-wide counters, written by the services and the panic hook.
#[derive(Default)]
struct Totals {
    runs: AtomicU64,
    first_runs: AtomicU64,
    panics: AtomicU64,
    errors: AtomicU64,
    oks: AtomicU64,
    hangs: AtomicU64,
    hook_intended: AtomicU64,
    hook_other: AtomicU64,
    other_panic: Mutex<Option<String>>,
}

static TOTALS: std::sync::LazyLock<Totals> = std::sync::LazyLock::new(Totals::default);

fn add(counter: &AtomicU64) {
    counter.fetch_add(1, Ordering::Relaxed);
}

fn load(counter: &AtomicU64) -> u64 {
    counter.load(Ordering::Relaxed)
}

/// One run of a soak service: pick what to do, note it, do it.
async fn one_run(record: Arc<Record>, seed: u64, ctx: Context) -> Result<(), std::io::Error> {
    let run = record.runs.fetch_add(1, Ordering::SeqCst);
    add(&TOTALS.runs);
    if run == 0 {
        add(&TOTALS.first_runs);
    }
    let mut rng = SmallRng::seed_from_u64(
        seed.wrapping_mul(0x9E37_79B9_7F4A_7C15)
            ^ (record.slot as u64).wrapping_mul(0xBF58_476D_1CE4_E5B9)
            ^ ((u64::from(record.generation) << 32) | u64::from(run))
                .wrapping_mul(0x94D0_49BB_1331_11EB),
    );
    let action = match rng.random_range(0..100) {
        0..40 => Action::Panic,
        40..80 => Action::Err,
        80..85 => Action::Ok,
        _ => Action::Hang,
    };
    // Half of the failures happen after some work rather than at once.
    if matches!(action, Action::Panic | Action::Err) && rng.random_bool(0.5) {
        let pause = Duration::from_micros(rng.random_range(0..5_000));
        tokio::select! {
            () = ctx.cancelled() => {}
            () = tokio::time::sleep(pause) => {}
        }
    }
    if ctx.is_cancelled() {
        record
            .last
            .store(Action::StoppedEarly as u8, Ordering::SeqCst);
        add(&TOTALS.oks);
        return Ok(());
    }
    record.last.store(action as u8, Ordering::SeqCst);
    match action {
        Action::Panic => {
            add(&TOTALS.panics);
            panic!("{}", record.reason(action, run));
        }
        Action::Err => {
            add(&TOTALS.errors);
            Err(std::io::Error::other(record.reason(action, run)))
        }
        Action::Hang => {
            add(&TOTALS.hangs);
            ctx.cancelled().await;
            Ok(())
        }
        _ => {
            add(&TOTALS.oks);
            Ok(())
        }
    }
}

fn descriptor(record: &Arc<Record>, seed: u64) -> TaskDescriptor {
    let policy = RestartPolicy::Backoff {
        max: u32::MAX,
        base_delay: Duration::from_millis(1),
    };
    let mine = Arc::clone(record);
    TaskDescriptor::new(Arc::clone(&record.name), policy, move |ctx: Context| {
        one_run(Arc::clone(&mine), seed, ctx)
    })
}

/// Counts every panic; any that a service did not throw on purpose is kept.
fn install_panic_hook() {
    std::panic::set_hook(Box::new(|info| {
        if crate::stats::panic_text(info).starts_with("soak panic ") {
            add(&TOTALS.hook_intended);
        } else {
            add(&TOTALS.hook_other);
            let mut other = TOTALS.other_panic.lock().unwrap_or_else(|e| e.into_inner());
            other.get_or_insert_with(|| format!("{info}"));
        }
    }));
}

// ---------------------------------------------------------------------------
// The controller.

struct Slot {
    record: Arc<Record>,
    handle: TaskHandle,
}

#[derive(Default)]
struct Churn {
    replaced: u64,
    aborted: u64,
    respawned: u64,
    extras: u64,
    snapshots: u64,
}

struct Soak {
    sup: Supervisor,
    seed: u64,
    slots: Vec<Slot>,
    churn: Churn,
    violations: Vec<String>,
}

impl Soak {
    fn spawn(&mut self, name: Arc<str>, slot: usize, generation: u32) -> Slot {
        let record = Record::new(name, slot, generation);
        let handle = self
            .sup
            .spawn(descriptor(&record, self.seed))
            .expect("spawn before shutdown succeeds");
        Slot { record, handle }
    }

    /// Starts a new instance in slot `i` (replacing whatever runs there).
    fn renew(&mut self, i: usize) {
        let old = &self.slots[i].record;
        let (name, generation) = (Arc::clone(&old.name), old.generation + 1);
        self.slots[i] = self.spawn(name, i, generation);
    }

    fn add_slot(&mut self, name: String) {
        let i = self.slots.len();
        let slot = self.spawn(Arc::from(name), i, 0);
        self.slots.push(slot);
    }

    fn violation(&mut self, text: String) {
        if self.violations.len() < 1000 {
            self.violations.push(text);
        }
    }

    /// A live snapshot: one row per name, and nothing `Failed` before the
    /// shutdown (every policy restarts for ever).
    fn live_check(&mut self) -> Vec<ServiceSnapshot> {
        let rows = self.sup.snapshot();
        self.churn.snapshots += 1;
        if rows.len() != self.slots.len() {
            self.violation(format!(
                "live snapshot has {} rows for {} names",
                rows.len(),
                self.slots.len()
            ));
        }
        for row in &rows {
            if let Status::Failed { reason } = &row.status {
                self.violation(format!("{} is Failed before shutdown: {reason}", row.name));
            }
        }
        rows
    }
}

pub(crate) fn run(options: Options) -> ExitCode {
    if let Some(jobs) = options.jobs_unique {
        return crate::soak_jobs::run(jobs);
    }
    install_panic_hook();
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime can be built");
    let ok = rt.block_on(soak(options));
    if ok {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn soak(options: Options) -> bool {
    let Options {
        services,
        duration,
        seed,
        ..
    } = options;
    let sup = supervisor::Builder::new()
        .only(Vec::<String>::new())
        .handle_signals(false)
        .shutdown_timeout(SHUTDOWN_TIMEOUT)
        // Every row is checked against its service's record, so every row
        // stays: this workload's names are few and reused.
        .retain_finished(usize::MAX)
        .start()
        .expect("a supervisor starts inside a runtime");
    let mut soak = Soak {
        sup,
        seed,
        slots: Vec::with_capacity(services + services / 10),
        churn: Churn::default(),
        violations: Vec::new(),
    };
    let mut rng = SmallRng::seed_from_u64(seed);
    let began = Instant::now();
    for i in 0..services {
        soak.add_slot(format!("svc-{i}"));
    }

    // Steady state begins once every extra name exists and the first wave of
    // failures has settled; memory is compared from there to the end.
    let warmup = (duration / 5).max(Duration::from_secs(1)).min(duration);
    let extras = services / 10;
    let extra_ticks = (warmup.as_millis() / 2 / TICK.as_millis()).max(1) as usize;
    let extras_per_tick = extras.div_ceil(extra_ticks).max(1);
    let replace_per_tick = (services / 100).max(1);
    let abort_per_tick = (services / 1000).max(1);
    let mut aborted: VecDeque<(usize, Instant)> = VecDeque::new();
    let mut rss_start: Option<u64> = None;
    let mut restarts_at_start = 0;
    let mut rss_peak = 0u64;
    let mut ticker = tokio::time::interval(TICK);
    ticker.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    let mut tick = 0u64;
    let mut last_report = Instant::now();
    let deadline = began + duration;

    while Instant::now() < deadline {
        ticker.tick().await;
        tick += 1;
        // New names, during the first half of the warm-up only.
        for _ in 0..extras_per_tick {
            if (soak.churn.extras as usize) < extras {
                soak.add_slot(format!("extra-{}", soak.churn.extras));
                soak.churn.extras += 1;
            }
        }
        // Replace running (or ended) instances under their own name.
        for _ in 0..replace_per_tick {
            let i = rng.random_range(0..soak.slots.len());
            soak.renew(i);
            soak.churn.replaced += 1;
        }
        // Abort a few; they are spawned again a little later.
        for _ in 0..abort_per_tick {
            let i = rng.random_range(0..soak.slots.len());
            let slot = &soak.slots[i];
            if slot.handle.abort() {
                slot.record.aborted.store(true, Ordering::SeqCst);
                aborted.push_back((i, Instant::now()));
                soak.churn.aborted += 1;
            }
        }
        while let Some(&(i, at)) = aborted.front() {
            if at.elapsed() < RESPAWN_AFTER {
                break;
            }
            aborted.pop_front();
            // Only if it was not replaced in the meantime.
            if soak.slots[i].record.aborted.load(Ordering::SeqCst) {
                soak.renew(i);
                soak.churn.respawned += 1;
            }
        }
        if tick % 10 == 0 {
            let rows = soak.live_check();
            if last_report.elapsed() >= Duration::from_secs(5) {
                last_report = Instant::now();
                eprintln!(
                    "  {:>5.1} s: {} rows, {} runs so far, {}",
                    began.elapsed().as_secs_f64(),
                    thousands(rows.len() as u64),
                    thousands(load(&TOTALS.runs)),
                    status_counts(&rows)
                );
            }
        }
        if rss_start.is_none() && began.elapsed() >= warmup {
            rss_start = rss_bytes();
            restarts_at_start = load(&TOTALS.runs) - load(&TOTALS.first_runs);
        }
        if tick % 100 == 0 {
            rss_peak = rss_peak.max(rss_bytes().unwrap_or(0));
        }
    }
    let rss_end = rss_bytes().unwrap_or(0);
    let rss_start = rss_start.unwrap_or(rss_end);
    let ran_for = began.elapsed();
    let steady_restarts = load(&TOTALS.runs) - load(&TOTALS.first_runs) - restarts_at_start;

    // Shutdown, within the timeout and a small constant.
    let stop_began = Instant::now();
    let result = soak.sup.shutdown(SHUTDOWN_TIMEOUT).await;
    let stop_took = stop_began.elapsed();
    if stop_took > SHUTDOWN_TIMEOUT + SHUTDOWN_SLACK {
        soak.violation(format!(
            "shutdown took {stop_took:?}, more than {SHUTDOWN_TIMEOUT:?} + {SHUTDOWN_SLACK:?}"
        ));
    }
    if soak.sup.active_count() != 0 {
        soak.violation(format!(
            "{} still active after shutdown",
            soak.sup.active_count()
        ));
    }

    let rows = soak.sup.snapshot();
    soak.churn.snapshots += 1;
    let failed_rows = check_rows(&mut soak, &rows);
    match (&result, failed_rows) {
        (Ok(()), 0) => {}
        (Err(supervisor::Error::Services { failures }), n) if failures.len() == n => {}
        (other, n) => soak.violation(format!(
            "shutdown returned {other:?} while {n} row(s) are Failed"
        )),
    }

    // No panic escaped: every panic seen was one a service threw on purpose,
    // and each was recorded by the service that threw it.
    let other = load(&TOTALS.hook_other);
    if other > 0 {
        let first = TOTALS
            .other_panic
            .lock()
            .unwrap_or_else(|e| e.into_inner())
            .clone()
            .unwrap_or_default();
        soak.violation(format!("{other} unexpected panic(s), the first: {first}"));
    }
    if load(&TOTALS.hook_intended) != load(&TOTALS.panics) {
        soak.violation(format!(
            "{} panics thrown but {} seen by the hook",
            load(&TOTALS.panics),
            load(&TOTALS.hook_intended)
        ));
    }

    // Flat memory over the steady state.
    let allowed = rss_start / 10 + MEMORY_SLACK;
    if rss_end > rss_start + allowed {
        soak.violation(format!(
            "resident memory grew from {} to {} (more than {} allowed)",
            bytes(rss_start as f64),
            bytes(rss_end as f64),
            bytes(allowed as f64)
        ));
    }

    let runs = load(&TOTALS.runs);
    let restarts = runs - load(&TOTALS.first_runs);
    let ended = load(&TOTALS.panics) + load(&TOTALS.errors) + load(&TOTALS.oks);
    let churn = &soak.churn;
    let operations =
        churn.replaced + churn.aborted + churn.respawned + churn.extras + churn.snapshots;
    let events = runs + ended + operations;
    println!(
        "soak: {} services + {} extra names for {:.1} s (seed {seed}), 2 worker threads",
        thousands(services as u64),
        thousands(churn.extras),
        ran_for.as_secs_f64()
    );
    println!(
        "  runs {} · restarts {} · panics {} · errors {} · returned Ok {} · hung {}",
        thousands(runs),
        thousands(restarts),
        thousands(load(&TOTALS.panics)),
        thousands(load(&TOTALS.errors)),
        thousands(load(&TOTALS.oks)),
        thousands(load(&TOTALS.hangs)),
    );
    println!(
        "  controller: replaced {} · aborted {} · re-spawned {} · snapshots {}",
        thousands(churn.replaced),
        thousands(churn.aborted),
        thousands(churn.respawned),
        thousands(churn.snapshots)
    );
    println!(
        "  events {} ({} per second)",
        thousands(events),
        thousands((events as f64 / ran_for.as_secs_f64()) as u64)
    );
    println!(
        "  memory: {} at the start of the steady state, {} at the end ({:+.1} B per restart over {} restarts in between), peak {}",
        bytes(rss_start as f64),
        bytes(rss_end as f64),
        (rss_end as f64 - rss_start as f64) / steady_restarts.max(1) as f64,
        thousands(steady_restarts),
        bytes(rss_peak.max(rss_end) as f64)
    );
    println!(
        "  shutdown: {} ms (timeout {} s): {}",
        stop_took.as_millis(),
        SHUTDOWN_TIMEOUT.as_secs(),
        match &result {
            Ok(()) => "Ok".to_string(),
            Err(_) => format!(
                "Err ({} failed during shutdown, as their records say)",
                failed_rows.max(1)
            ),
        }
    );
    println!("  final rows: {}", status_counts(&rows));
    if soak.violations.is_empty() {
        println!("  checks: every row agrees with its service's own record; no panic escaped; memory flat: OK");
        true
    } else {
        for v in soak.violations.iter().take(20) {
            println!("  VIOLATION: {v}");
        }
        if soak.violations.len() > 20 {
            println!("  ... and {} more", soak.violations.len() - 20);
        }
        false
    }
}

/// Checks every final row against the record of the instance it describes;
/// returns how many rows are `Failed`.
fn check_rows(soak: &mut Soak, rows: &[ServiceSnapshot]) -> usize {
    if rows.len() != soak.slots.len() {
        soak.violation(format!(
            "final snapshot has {} rows for {} names",
            rows.len(),
            soak.slots.len()
        ));
    }
    let index: HashMap<&str, usize> = soak
        .slots
        .iter()
        .enumerate()
        .map(|(i, slot)| (&*slot.record.name, i))
        .collect();
    let mut failed = 0;
    let mut problems = Vec::new();
    for row in rows {
        let Some(&i) = index.get(&*row.name) else {
            problems.push(format!("row {} names no service", row.name));
            continue;
        };
        let record = &soak.slots[i].record;
        let runs = record.runs.load(Ordering::SeqCst);
        if matches!(row.status, Status::Failed { .. }) {
            failed += 1;
        }
        if record.aborted.load(Ordering::SeqCst) {
            // Aborted on request: the run in progress may have been cut short
            // either side of its restart being counted.
            if row.status != Status::Aborted {
                problems.push(format!(
                    "{}: aborted on request but {:?}",
                    row.name, row.status
                ));
            }
            if u64::from(row.restarts) + 2 < u64::from(runs) || row.restarts > runs {
                problems.push(format!(
                    "{}: aborted with {} restarts after {runs} runs",
                    row.name, row.restarts
                ));
            }
            continue;
        }
        if runs == 0 || row.restarts != runs - 1 {
            problems.push(format!(
                "{}: {} restarts in the snapshot, but the service ran {runs} times",
                row.name, row.restarts
            ));
        }
        let last = record.last();
        let expected_reason = runs.checked_sub(1).map(|run| record.reason(last, run));
        let consistent = match (last, &row.status) {
            (Action::Ok, Status::Completed | Status::Stopped) => true,
            (Action::Hang | Action::StoppedEarly, Status::Stopped) => true,
            (Action::Panic | Action::Err, Status::Stopped) => row.last_failure == expected_reason,
            (Action::Panic | Action::Err, Status::Failed { reason }) => {
                Some(reason) == expected_reason.as_ref()
            }
            _ => false,
        };
        if !consistent {
            problems.push(format!(
                "{}: the last run did {last:?} (run {runs}) but the row says {:?} (last failure {:?})",
                row.name, row.status, row.last_failure
            ));
        }
    }
    for p in problems {
        soak.violation(p);
    }
    failed
}

fn status_counts(rows: &[ServiceSnapshot]) -> String {
    const ORDER: [&str; 8] = [
        "queued",
        "running",
        "restarting",
        "completed",
        "stopped",
        "aborted",
        "failed",
        "other",
    ];
    let mut counts = [0u64; ORDER.len()];
    for row in rows {
        let slot = match row.status {
            Status::Queued => 0,
            Status::Running => 1,
            Status::Restarting { .. } => 2,
            Status::Completed => 3,
            Status::Stopped => 4,
            Status::Aborted => 5,
            Status::Failed { .. } => 6,
            _ => 7,
        };
        counts[slot] += 1;
    }
    ORDER
        .iter()
        .zip(counts)
        .filter(|&(_, n)| n > 0)
        .map(|(name, n)| format!("{} {name}", thousands(n)))
        .collect::<Vec<_>>()
        .join(" · ")
}
