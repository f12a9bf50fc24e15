//! Metrics through the `metrics` facade, read back with `metrics-util`'s
//! `DebuggingRecorder`: counter values, histogram samples, and the
//! `supervisor.active` gauge.
//!
//! The recorder is global to this test binary and must be installed before a
//! supervisor starts (it takes its gauge handle in `start`). Counters and
//! histograms carry the `service` label, and every test uses its own names.
//! The gauge has no label: every supervisor in the process moves it, so the
//! gauge test takes `GAUGE` for writing while every other test holds it for
//! reading (and ends with nothing active).

use std::collections::HashMap;
use std::hint::black_box;
use std::sync::atomic::Ordering;
use std::sync::{mpsc as std_mpsc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use metrics_util::debugging::{DebugValue, DebuggingRecorder, Snapshotter};
use supervisor::{RestartPolicy, Status, Supervisor, TaskDescriptor};
use tests::{
    assert_status, backoff, counted, held_job, next, spawn_completing, spawn_failing, spawn_idle,
    start_empty, status, wait_idle,
};
use tokio::sync::{mpsc, RwLock};

static GAUGE: RwLock<()> = RwLock::const_new(());

const EVENTUALLY: Duration = Duration::from_secs(10);

struct Recorded {
    snapshotter: Snapshotter,
    /// Histogram samples seen so far: a snapshot drains them from the
    /// recorder, and tests running in parallel take snapshots too.
    histograms: Mutex<HashMap<(String, String), Vec<f64>>>,
}

fn recorded() -> &'static Recorded {
    static RECORDED: OnceLock<Recorded> = OnceLock::new();
    RECORDED.get_or_init(|| {
        let recorder = DebuggingRecorder::new();
        let snapshotter = recorder.snapshotter();
        recorder
            .install()
            .expect("this test binary installs the only global recorder");
        Recorded {
            snapshotter,
            histograms: Mutex::new(HashMap::new()),
        }
    })
}

/// Every metric's current value.
#[derive(Debug, Default)]
struct Metrics {
    /// (name, `service` label) -> value
    counters: HashMap<(String, String), u64>,
    gauges: HashMap<String, f64>,
    /// (name, `service` label) -> every sample recorded so far
    histograms: HashMap<(String, String), Vec<f64>>,
}

impl Metrics {
    fn counter(&self, name: &str, service: &str) -> u64 {
        self.counters
            .get(&(name.to_string(), service.to_string()))
            .copied()
            .unwrap_or(0)
    }

    fn samples(&self, name: &str, service: &str) -> Vec<f64> {
        self.histograms
            .get(&(name.to_string(), service.to_string()))
            .cloned()
            .unwrap_or_default()
    }

    fn active(&self) -> f64 {
        self.gauges.get("supervisor.active").copied().unwrap_or(0.0)
    }
}

fn metrics() -> Metrics {
    let recorded = recorded();
    let mut histograms = recorded
        .histograms
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner());
    let mut out = Metrics::default();
    for (key, _unit, _description, value) in recorded.snapshotter.snapshot().into_vec() {
        let name = key.key().name().to_string();
        let service = key
            .key()
            .labels()
            .find(|label| label.key() == "service")
            .map(|label| label.value().to_string())
            .unwrap_or_default();
        match value {
            DebugValue::Counter(n) => {
                out.counters.insert((name, service), n);
            }
            DebugValue::Gauge(v) => {
                out.gauges.insert(name, v.into_inner());
            }
            DebugValue::Histogram(samples) => histograms
                .entry((name, service))
                .or_default()
                .extend(samples.into_iter().map(|v| v.into_inner())),
        }
    }
    out.histograms = histograms.clone();
    out
}

/// A supervisor for spawned tasks only, started once the recorder is in.
fn start() -> Supervisor {
    recorded();
    start_empty()
}

/// A fixed amount of CPU work: some 20-60 ms in a debug build. Fixed work
/// rather than a wall-clock spin, so that the CPU time it costs does not
/// shrink when the machine is busy and the thread gets less of a core.
fn burn_cpu() -> u64 {
    let mut x = 0u64;
    for i in 0..10_000_000u64 {
        x = black_box(x.wrapping_mul(31).wrapping_add(i));
    }
    x
}

#[tokio::test(start_paused = true)]
async fn failures_and_restarts_are_counted_per_service() {
    let _shared = GAUGE.read().await;
    let sup = start();

    // backoff(2, "0s"), always failing: 3 runs, 3 failures, 2 restarts.
    let (calls, factory) = counted(|ctx| async move {
        if ctx.attempt() % 2 == 0 {
            panic!("panics on even runs");
        }
        Err::<(), _>("errs on odd runs")
    });
    sup.spawn(TaskDescriptor::new(
        "met-always-fails",
        backoff(2, Duration::ZERO),
        factory,
    ))
    .expect("spawn");
    // One failure, then Ok: 1 failure, 1 restart.
    sup.spawn(TaskDescriptor::new(
        "met-fails-once",
        backoff(5, Duration::from_millis(10)),
        |ctx| async move {
            if ctx.attempt() == 0 {
                Err::<(), _>("first run fails")
            } else {
                Ok(())
            }
        },
    ))
    .expect("spawn");
    // Never: 1 failure, no restart.
    spawn_failing(&sup, "met-never", RestartPolicy::Never, "fails for good");
    // A clean task: no failure at all.
    spawn_completing(&sup, "met-clean");
    sup.wait().await;

    let m = metrics();
    let expected = [
        ("met-always-fails", 3, 2),
        ("met-fails-once", 1, 1),
        ("met-never", 1, 0),
        ("met-clean", 0, 0),
    ];
    for (name, failures, restarts) in expected {
        assert_eq!(
            m.counter("supervisor.failures", name),
            failures,
            "failures of {name}: {m:?}\n{sup}"
        );
        assert_eq!(
            m.counter("supervisor.restarts", name),
            restarts,
            "restarts of {name}: {m:?}\n{sup}"
        );
    }
    assert_eq!(calls.load(Ordering::SeqCst), 3, "{sup}");
    let _ = sup.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_restart_cancelled_by_shutdown_is_not_counted() {
    let _shared = GAUGE.read().await;
    let sup = start();
    let name = "met-restart-never-started";
    spawn_failing(
        &sup,
        name,
        backoff(3, Duration::from_secs(3600)),
        "fails, then waits an hour",
    );
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert_status(&sup, name, Status::Restarting { attempt: 1, max: 3 });
    sup.shutdown(Duration::from_secs(1))
        .await
        .expect("cancelled during the delay: Stopped, clean");
    assert_status(&sup, name, Status::Stopped);
    let m = metrics();
    assert_eq!(m.counter("supervisor.failures", name), 1, "{m:?}");
    assert_eq!(
        m.counter("supervisor.restarts", name),
        0,
        "a restart that never started is not counted: {m:?}"
    );
}

#[tokio::test]
async fn job_panics_are_counted_as_failures() {
    let _shared = GAUGE.read().await;
    let sup = start();
    for _ in 0..2 {
        let job = sup.spawn_blocking("met-job-panics", || -> u8 { panic!("job panic") });
        assert!(job.join().await.is_err(), "{sup}");
    }
    let oneshot = sup.spawn_oneshot("met-oneshot-panics", |_ctx| async {
        tokio::task::yield_now().await;
        if true {
            panic!("oneshot panic");
        }
    });
    assert!(oneshot.join().await.is_err(), "{sup}");
    let fine = sup.spawn_blocking("met-job-fine", || 1);
    assert_eq!(fine.join().await, Ok(1));

    let m = metrics();
    assert_eq!(
        m.counter("supervisor.failures", "met-job-panics"),
        2,
        "{m:?}"
    );
    assert_eq!(
        m.counter("supervisor.failures", "met-oneshot-panics"),
        1,
        "{m:?}"
    );
    assert_eq!(m.counter("supervisor.failures", "met-job-fine"), 0, "{m:?}");
    assert_eq!(
        m.counter("supervisor.restarts", "met-job-panics"),
        0,
        "jobs are never restarted: {m:?}"
    );
    let _ = sup.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_runs_record_one_wall_and_one_cpu_sample_each() {
    let _shared = GAUGE.read().await;
    let sup = start();
    for _ in 0..2 {
        let job = sup.spawn_blocking("met-spin", burn_cpu);
        job.join().await.expect("no panic");
    }
    for i in 0..3u64 {
        let job = sup.spawn_blocking("met-quick", move || i + 1);
        job.join().await.expect("no panic");
    }
    let panics = sup.spawn_blocking("met-quick-panics", || -> u8 { panic!("timed anyway") });
    assert!(panics.join().await.is_err());
    let oneshot = sup.spawn_oneshot("met-not-blocking", |_ctx| async { 1 });
    oneshot.join().await.expect("no panic");

    let m = metrics();
    let wall = m.samples("supervisor.task.wall_time_ms", "met-spin");
    let cpu = m.samples("supervisor.task.cpu_time_ms", "met-spin");
    assert_eq!(wall.len(), 2, "one wall sample per run: {m:?}");
    assert_eq!(cpu.len(), 2, "one cpu sample per run: {m:?}");
    for (wall, cpu) in wall.iter().zip(&cpu) {
        assert!(*cpu > 5.0, "the spin costs CPU time: cpu {cpu} ms");
        assert!(
            *wall + 2.0 >= *cpu,
            "one thread cannot use more CPU than wall time: wall {wall} ms, cpu {cpu} ms"
        );
    }
    for histogram in [
        "supervisor.task.wall_time_ms",
        "supervisor.task.cpu_time_ms",
    ] {
        assert_eq!(
            m.samples(histogram, "met-quick").len(),
            3,
            "{histogram}: one sample per run: {m:?}"
        );
    }
    assert_eq!(
        m.samples("supervisor.task.wall_time_ms", "met-quick-panics")
            .len(),
        1,
        "a panicking run is timed too: {m:?}"
    );
    assert!(
        m.samples("supervisor.task.wall_time_ms", "met-not-blocking")
            .is_empty(),
        "an async oneshot is not blocking work: {m:?}"
    );
    let _ = sup.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wall_time_excludes_the_time_spent_queued() {
    let _shared = GAUGE.read().await;
    let sup = start();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (holders, gates): (Vec<_>, Vec<_>) = (0..supervisor::MAX_BLOCKING)
        .map(|i| held_job(&sup, &format!("met-holder-{i}"), i, &started_tx))
        .unzip();
    for _ in 0..supervisor::MAX_BLOCKING {
        next(&mut started, EVENTUALLY, "the holders to start", &sup).await;
    }
    let queued_at = Instant::now();
    let queued = sup.spawn_blocking("met-queued", || 1u8);
    // Keep it queued for a while: at least 300 ms.
    tokio::time::sleep(Duration::from_millis(300)).await;
    assert_status(&sup, "met-queued", Status::Queued);
    drop(gates);
    assert_eq!(queued.join().await, Ok(1));
    for holder in holders {
        holder.join().await.expect("no panic");
    }
    let waited = queued_at.elapsed();

    let m = metrics();
    let wall = m.samples("supervisor.task.wall_time_ms", "met-queued");
    assert_eq!(wall.len(), 1, "{m:?}");
    assert!(
        wall[0] < 250.0,
        "queue time ({waited:?}) is excluded: wall {} ms",
        wall[0]
    );
    let _ = sup.shutdown(Duration::from_secs(1)).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn active_gauge_follows_every_supervisor_up_and_down() {
    let _exclusive = GAUGE.write().await;
    recorded();
    let base = metrics().active();
    assert_eq!(base, 0.0, "no other test leaves anything active");

    // A: three tasks, a oneshot, and a task waiting out a long backoff delay.
    let a = start();
    let (failed_tx, mut failed) = mpsc::unbounded_channel();
    for i in 0..3 {
        spawn_idle(&a, &format!("met-gauge-a-{i}"));
    }
    let oneshot = a.spawn_oneshot("met-gauge-a-oneshot", |ctx| async move {
        ctx.cancelled().await;
        "done"
    });
    a.spawn(TaskDescriptor::new(
        "met-gauge-a-restarting",
        backoff(3, Duration::from_secs(3600)),
        move |_ctx| {
            let failed_tx = failed_tx.clone();
            async move {
                let _ = failed_tx.send(());
                Err::<(), _>("fails, then waits an hour")
            }
        },
    ))
    .expect("spawn");
    assert_eq!(metrics().active(), 5.0, "{a}");

    // B: two tasks; supervisors add up.
    let b = start();
    for i in 0..2 {
        spawn_idle(&b, &format!("met-gauge-b-{i}"));
    }
    assert_eq!(metrics().active(), 7.0, "{a}\n{b}");

    // C: one task aborted on request and one blocking job that completes.
    let c = start();
    let aborted = spawn_idle(&c, "met-gauge-c-aborted");
    let (gate, gate_rx) = std_mpsc::channel::<()>();
    let job = c.spawn_blocking("met-gauge-c-job", move || gate_rx.recv().is_ok());
    assert_eq!(metrics().active(), 9.0, "{a}\n{b}\n{c}");

    // D: a task that fails through all its restarts: no double counting.
    let d = start();
    spawn_failing(
        &d,
        "met-gauge-d-fails",
        backoff(3, Duration::ZERO),
        "always",
    );
    wait_idle(&d, EVENTUALLY).await;
    assert!(
        matches!(status(&d, "met-gauge-d-fails"), Status::Failed { .. }),
        "{d}"
    );
    assert_eq!(metrics().active(), 9.0, "{a}\n{b}\n{c}\n{d}");

    next(&mut failed, EVENTUALLY, "the restarting task to run", &a).await;
    assert_eq!(
        metrics().active(),
        9.0,
        "Restarting still counts, once\n{a}"
    );

    assert!(aborted.abort(), "{c}");
    gate.send(()).expect("gate");
    assert_eq!(job.join().await, Ok(true));
    wait_idle(&c, EVENTUALLY).await;
    assert_eq!(metrics().active(), 7.0, "{a}\n{b}\n{c}");

    b.shutdown(Duration::from_secs(5)).await.expect("clean");
    assert_eq!(metrics().active(), 5.0, "{a}\n{b}");

    a.shutdown(Duration::from_secs(5)).await.expect("clean");
    assert_eq!(oneshot.join().await, Ok("done"));
    assert_eq!(metrics().active(), 0.0, "after every shutdown\n{a}");
    let _ = c.shutdown(Duration::from_secs(1)).await;
    let _ = d.shutdown(Duration::from_secs(1)).await;
    assert_eq!(metrics().active(), 0.0);
}
