//! Restarts with a zero delay (`backoff(n, "0s")`): a run that fails at once
//! is started again in the same poll of its task, and the task goes back to
//! the scheduler only when tokio's cooperative budget is spent. These tests
//! hold that to what a user relies on: a service failing in a tight loop
//! still leaves its worker to the other tasks, and an abort or a shutdown
//! still ends it.
//!
//! Each test runs on a current-thread runtime (one worker: a loop that never
//! gave it back would starve everything else) inside a thread of its own,
//! so that a regression fails the test after a minute instead of hanging it.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::mpsc;
use std::sync::Arc;
use std::time::Duration;

use supervisor::{Context, Status, Supervisor, TaskHandle};
use tests::{backoff, row, start_empty, status};

/// How long a test may take before it counts as hung.
const HUNG_AFTER: Duration = Duration::from_secs(60);

/// Runs `test` on a fresh current-thread runtime in its own thread; panics
/// (failing the test) when it has not finished within [`HUNG_AFTER`].
fn on_one_worker<F, Fut>(test: F)
where
    F: FnOnce() -> Fut + Send + 'static,
    Fut: std::future::Future<Output = ()>,
{
    let (done, finished) = mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .expect("a current-thread runtime builds");
        rt.block_on(test());
        let _ = done.send(());
    });
    match finished.recv_timeout(HUNG_AFTER) {
        Ok(()) => thread.join().expect("the test thread ends"),
        // The thread panicked (its assertion is in the output): join to
        // report it as this test's failure.
        Err(mpsc::RecvTimeoutError::Disconnected) => {
            if let Err(panic) = thread.join() {
                std::panic::resume_unwind(panic);
            }
        }
        Err(mpsc::RecvTimeoutError::Timeout) => {
            panic!("hung: the runtime's only worker never came back within {HUNG_AFTER:?}")
        }
    }
}

/// Starts `name`, failing at once on every run with a zero delay and
/// (practically) no limit; returns its handle and its run counter.
fn spawn_tight_loop(sup: &Supervisor, name: &str) -> (TaskHandle, Arc<AtomicU64>) {
    let runs = Arc::new(AtomicU64::new(0));
    let counted = Arc::clone(&runs);
    let handle = sup
        .spawn_fn(
            name,
            backoff(u32::MAX, Duration::ZERO),
            move |_ctx: Context| {
                counted.fetch_add(1, Ordering::SeqCst);
                async { Err::<(), &'static str>("fails at once") }
            },
        )
        .expect("spawn before shutdown succeeds");
    (handle, runs)
}

/// A supervisor with `name` failing in a tight loop, which has run at least
/// once.
async fn running_tight_loop(name: &str) -> (Supervisor, TaskHandle, Arc<AtomicU64>) {
    let sup = start_empty();
    let (handle, runs) = spawn_tight_loop(&sup, name);
    let_others_run(2).await;
    assert!(runs.load(Ordering::SeqCst) >= 1, "the loop has run");
    (sup, handle, runs)
}

/// Asserts that the loop counted by `runs` makes no run any more, after
/// `why`.
async fn assert_no_more_runs(runs: &AtomicU64, why: &str) {
    let before = runs.load(Ordering::SeqCst);
    let_others_run(10).await;
    assert_eq!(runs.load(Ordering::SeqCst), before, "no run after {why}");
}

/// Lets the other tasks of this runtime run `times` times.
async fn let_others_run(times: usize) {
    for _ in 0..times {
        tokio::task::yield_now().await;
    }
}

#[test]
fn a_tight_failing_loop_leaves_its_worker_to_the_others() {
    on_one_worker(|| async {
        let sup = start_empty();
        let (_handle, runs) = spawn_tight_loop(&sup, "zd-tight");
        // Another task on the only worker: it runs only if the loop yields.
        let seen = Arc::clone(&runs);
        let other = tokio::spawn(async move { seen.load(Ordering::SeqCst) });
        let runs_when_the_other_ran = other.await.expect("the other task ends");
        assert!(
            runs_when_the_other_ran >= 1,
            "the failing service ran before the other task ({runs_when_the_other_ran} runs)"
        );
        // And it keeps restarting between the other task's turns.
        let before = runs.load(Ordering::SeqCst);
        let_others_run(3).await;
        let after = runs.load(Ordering::SeqCst);
        assert!(after > before, "restarts go on: {before} then {after} runs");
        assert!(
            matches!(
                status(&sup, "zd-tight"),
                Status::Running | Status::Restarting { .. }
            ),
            "{sup}"
        );
        let _ = sup.shutdown(Duration::from_secs(5)).await;
    });
}

#[test]
fn an_abort_ends_a_tight_failing_loop() {
    on_one_worker(|| async {
        let (sup, handle, runs) = running_tight_loop("zd-abort").await;
        assert!(handle.abort(), "the loop was still active");
        assert_eq!(status(&sup, "zd-abort"), Status::Aborted, "{sup}");
        // The aborted task makes no run any more (once the abort landed).
        let_others_run(2).await;
        assert_no_more_runs(&runs, "the abort").await;
        assert_eq!(sup.active_count(), 0);
        assert!(sup.shutdown(Duration::from_secs(5)).await.is_ok());
    });
}

#[test]
fn a_shutdown_ends_a_tight_failing_loop() {
    on_one_worker(|| async {
        let (sup, _handle, runs) = running_tight_loop("zd-shutdown").await;
        // Within the grace period: the loop ends by itself, nothing is aborted.
        let result = sup.shutdown(Duration::from_secs(3600)).await;
        assert_eq!(sup.active_count(), 0, "{sup}");
        assert_no_more_runs(&runs, "the shutdown").await;
        // A run that failed once shutdown had begun ends `Failed` (and is
        // reported); one stopped between two runs ends `Stopped`.
        match status(&sup, "zd-shutdown") {
            Status::Stopped => assert!(result.is_ok(), "{result:?}"),
            Status::Failed { reason } => {
                assert_eq!(reason, "fails at once");
                let error = result.expect_err("a failure during shutdown is reported");
                assert!(error.to_string().contains("zd-shutdown"), "{error}");
            }
            other => panic!("expected Stopped or Failed, got {other}\n{sup}"),
        }
    });
}

#[test]
fn a_restart_at_once_is_dated_within_the_runs() {
    on_one_worker(|| async {
        let before = std::time::Instant::now();
        let sup = start_empty();
        sup.spawn_fn(
            "zd-dated",
            backoff(5, Duration::ZERO),
            |ctx: Context| async move {
                if ctx.attempt() < 2 {
                    return Err("fails at once");
                }
                ctx.cancelled().await;
                Ok(())
            },
        )
        .expect("spawn before shutdown succeeds");
        while row(&sup, "zd-dated").restarts < 2 {
            tokio::task::yield_now().await;
        }
        let r = row(&sup, "zd-dated");
        let after = std::time::Instant::now();
        assert_eq!(r.status, Status::Running, "{r:#?}");
        assert!(
            before <= r.started_at && r.started_at <= after,
            "the third run started between the spawn and now: {r:#?}"
        );
        assert!(r.uptime <= after.duration_since(before), "{r:#?}");
        assert_eq!(r.last_failure.as_deref(), Some("fails at once"));
        assert!(sup.shutdown(Duration::from_secs(5)).await.is_ok());
    });
}
