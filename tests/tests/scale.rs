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

/// Wall time to start `n` tasks and shut them down.
async fn start_and_shutdown(n: usize) -> Duration {
    let began = Instant::now();
    let sup = start_many(n).await;
    let result = sup.shutdown(Duration::from_secs(10)).await;
    let took = began.elapsed();
    assert!(result.is_ok(), "{result:?}");
    assert_eq!(sup.active_count(), 0, "{sup:?}");
    took
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn start_and_shutdown_cost_grows_linearly() {
    let _turn = SERIAL.lock().await;
    // Warm up allocator and runtime before measuring.
    start_and_shutdown(1_000).await;
    // The best of three for each size, interleaved so that a burst of load
    // from elsewhere on the machine weighs on both sizes alike.
    let (mut small, mut large) = (Duration::MAX, Duration::MAX);
    for _ in 0..3 {
        small = small.min(start_and_shutdown(1_000).await);
        large = large.min(start_and_shutdown(10_000).await);
    }
    let ratio = large.as_secs_f64() / small.as_secs_f64();
    println!("start + shutdown: 1,000 in {small:?}, 10,000 in {large:?}, ratio {ratio:.1}");
    // Linear is 10; quadratic would be about 100.
    assert!(
        ratio < 30.0,
        "1,000 tasks: {small:?}, 10,000 tasks: {large:?}, ratio {ratio:.1}"
    );
}
