//! Ten thousand services under one supervisor, and shutdown cost that grows
//! linearly with their number.

use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::{Duration, Instant};

use supervisor::{Context, RestartPolicy, Status, Supervisor, TaskDescriptor};
use tests::start_empty;
use tokio::sync::Notify;

/// The two tests measure time: they take turns rather than share the CPU.
static SERIAL: tokio::sync::Mutex<()> = tokio::sync::Mutex::const_new(());

/// Starts `n` tasks that wait for their context, and waits until each has
/// been polled once.
async fn start_many(n: usize) -> Supervisor {
    let sup = start_empty();
    let started = Arc::new(AtomicUsize::new(0));
    let all_started = Arc::new(Notify::new());
    for i in 0..n {
        let started = Arc::clone(&started);
        let all_started = Arc::clone(&all_started);
        let task = TaskDescriptor::new(
            format!("scale-{i}"),
            RestartPolicy::Never,
            move |ctx: Context| {
                let started = Arc::clone(&started);
                let all_started = Arc::clone(&all_started);
                async move {
                    if started.fetch_add(1, Ordering::SeqCst) + 1 == n {
                        all_started.notify_one();
                    }
                    ctx.cancelled().await;
                    Ok::<(), std::io::Error>(())
                }
            },
        );
        sup.spawn(task).unwrap();
    }
    tokio::time::timeout(Duration::from_secs(30), async {
        while started.load(Ordering::SeqCst) < n {
            all_started.notified().await;
        }
    })
    .await
    .unwrap_or_else(|_| panic!("{} of {n} tasks started", started.load(Ordering::SeqCst)));
    sup
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ten_thousand_spawned_services_run_and_stop() {
    let _turn = SERIAL.lock().await;
    const N: usize = 10_000;
    let sup = start_many(N).await;
    let snapshot = sup.snapshot();
    assert_eq!(snapshot.len(), N, "{sup:?}");
    assert_eq!(sup.active_count(), N, "{sup:?}");
    let not_running: Vec<_> = snapshot
        .iter()
        .filter(|r| r.status != Status::Running)
        .collect();
    assert!(not_running.is_empty(), "{not_running:#?}");

    let result = tokio::time::timeout(
        Duration::from_secs(30),
        sup.shutdown(Duration::from_secs(10)),
    )
    .await
    .expect("shutdown ends");
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(sup.active_count(), 0, "{sup:?}");
    let snapshot = sup.snapshot();
    assert_eq!(snapshot.len(), N);
    let not_stopped: Vec<_> = snapshot
        .iter()
        .filter(|r| r.status != Status::Stopped)
        .collect();
    assert!(not_stopped.is_empty(), "{not_stopped:#?}");
}

/// Wall time of each phase for `n` tasks: start (until every task has been
/// polled), one snapshot, and the shutdown.
#[derive(Clone, Copy)]
struct Phases {
    start: Duration,
    snapshot: Duration,
    shutdown: Duration,
}

impl Phases {
    const WORST: Phases = Phases {
        start: Duration::MAX,
        snapshot: Duration::MAX,
        shutdown: Duration::MAX,
    };

    /// The best (shortest) of two measurements, phase by phase.
    fn best(self, other: Phases) -> Phases {
        Phases {
            start: self.start.min(other.start),
            snapshot: self.snapshot.min(other.snapshot),
            shutdown: self.shutdown.min(other.shutdown),
        }
    }
}

async fn measure(n: usize) -> Phases {
    let began = Instant::now();
    let sup = start_many(n).await;
    let start = began.elapsed();

    let began = Instant::now();
    let rows = sup.snapshot();
    let snapshot = began.elapsed();
    assert_eq!(rows.len(), n);

    let began = Instant::now();
    let result = sup.shutdown(Duration::from_secs(10)).await;
    let shutdown = began.elapsed();
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(sup.active_count(), 0, "{sup:?}");
    Phases {
        start,
        snapshot,
        shutdown,
    }
}

/// Regression (e): starting, snapshotting and shutting down are linear in
/// the number of services. Compares 1,000 and 10,000 in one run: linear is a
/// ratio of 10, quadratic about 100 (a rescan of all tasks per completion,
/// say).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_snapshot_and_shutdown_grow_linearly() {
    let _turn = SERIAL.lock().await;
    // Warm up allocator and runtime before measuring.
    measure(1_000).await;
    // The best of three for each size, interleaved so that a burst of load
    // from elsewhere on the machine weighs on both sizes alike.
    let (mut small, mut large) = (Phases::WORST, Phases::WORST);
    for _ in 0..3 {
        small = small.best(measure(1_000).await);
        large = large.best(measure(10_000).await);
    }
    for (phase, small, large) in [
        ("start", small.start, large.start),
        ("snapshot", small.snapshot, large.snapshot),
        ("shutdown", small.shutdown, large.shutdown),
    ] {
        let ratio = large.as_secs_f64() / small.as_secs_f64();
        println!("{phase}: 1,000 in {small:?}, 10,000 in {large:?}, ratio {ratio:.1}");
        assert!(
            ratio < 30.0,
            "{phase}: 1,000 tasks in {small:?}, 10,000 tasks in {large:?}, ratio {ratio:.1}"
        );
    }
}
