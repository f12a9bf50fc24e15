//! Graceful shutdown: who is told, who is dropped, who is aborted, what
//! `shutdown` returns and how long it takes, and what starts it.
//!
//! Tests in this file run in parallel in one process, so each one starts only
//! its own services (`Builder::only`). Timing is measured on tokio's paused
//! clock, except for blocking services (OS threads do not hold the paused
//! clock back), which use the real clock with generous bounds.

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::time::Duration;

use supervisor::{supervised, Builder, CancellationToken, Context, Error, Status, Supervisor};
use tests::{
    assert_status, failures, idle_task, on_drop, row, shutdown_in_background, start_only, status,
    tick_until_cancelled, Poll,
};
use tokio::time::Instant;

// ---------------------------------------------------------------- helpers

const POLL: Poll = Poll {
    every: Duration::from_millis(5),
    within: Duration::from_secs(10),
};

/// Starts `names` with the builder's shutdown `timeout` and a parent token
/// of the test's own, and lets them start. Returns that token too.
async fn start_with_token(names: &[&str], timeout: Duration) -> (Supervisor, CancellationToken) {
    let token = CancellationToken::new();
    let sup = Builder::new()
        .only(names)
        .shutdown_timeout(timeout)
        .cancellation_token(token.clone())
        .start()
        .unwrap();
    tokio::task::yield_now().await;
    (sup, token)
}

/// Asserts that a shutdown begun at `began` waited out its `timeout` (and
/// less than 100 ms more), as it does when a service ignores it.
#[track_caller]
fn assert_took_the_timeout(began: Instant, timeout: Duration, sup: &Supervisor) {
    let took = began.elapsed();
    assert!(
        took >= timeout && took < timeout + Duration::from_millis(100),
        "shutdown took {took:?} with a {timeout:?} timeout\n{sup}"
    );
}

/// Asserts that `result` names one service, `name`, aborted.
#[track_caller]
fn assert_aborted_alone(result: &Result<(), Error>, name: &str, sup: &Supervisor) {
    assert_eq!(
        failures(result),
        [(name.to_string(), Status::Aborted)],
        "{sup}"
    );
}

// ---------------------------------------------------------------- services

/// An odd length, so that an end noticed by a polling loop would show.
const CLEANUP: Duration = Duration::from_millis(2_003);

static CLEANUP_STARTED: AtomicBool = AtomicBool::new(false);
static CLEANUP_DONE: AtomicBool = AtomicBool::new(false);

#[supervised(name = "sd-cleanup")]
async fn sd_cleanup(ctx: Context) {
    ctx.cancelled().await;
    CLEANUP_STARTED.store(true, Ordering::SeqCst);
    tokio::time::sleep(CLEANUP).await;
    CLEANUP_DONE.store(true, Ordering::SeqCst);
}

static NO_CTX_STARTED: AtomicBool = AtomicBool::new(false);
static NO_CTX_DROPPED: AtomicBool = AtomicBool::new(false);

#[supervised(name = "sd-no-context")]
async fn sd_no_context() {
    let _guard = on_drop(|| NO_CTX_DROPPED.store(true, Ordering::SeqCst));
    NO_CTX_STARTED.store(true, Ordering::SeqCst);
    std::future::pending::<()>().await;
}

tests::stubborn_services!("sd-stubborn", "sd-stubborn-twice");
tests::idle_services!("sd-polite");

/// Set by a blocking service once it runs; the test sets `release` when done.
struct Stuck {
    started: AtomicBool,
    release: AtomicBool,
}

impl Stuck {
    const fn new() -> Self {
        Stuck {
            started: AtomicBool::new(false),
            release: AtomicBool::new(false),
        }
    }

    /// Spins until the test lets it go, never looking at any context.
    fn spin(&self) {
        self.started.store(true, Ordering::SeqCst);
        while !self.release.load(Ordering::SeqCst) {
            std::thread::sleep(Duration::from_millis(10));
        }
    }
}

static DEAF: Stuck = Stuck::new();
static NO_CTX_BLOCKING: Stuck = Stuck::new();

#[supervised(name = "sd-blocking-deaf", blocking)]
fn sd_blocking_deaf(_ctx: Context) {
    DEAF.spin();
}

#[supervised(name = "sd-blocking-no-ctx", blocking)]
fn sd_blocking_no_ctx() {
    NO_CTX_BLOCKING.spin();
}

static ERR_AFTER_CANCEL_RUNS: AtomicUsize = AtomicUsize::new(0);

#[supervised(name = "sd-err-after-cancel", restart = backoff(5, "0s"))]
async fn sd_err_after_cancel(ctx: Context) -> Result<(), String> {
    ERR_AFTER_CANCEL_RUNS.fetch_add(1, Ordering::SeqCst);
    ctx.cancelled().await;
    Err("could not flush the buffer".into())
}

static PANIC_AFTER_CANCEL_RUNS: AtomicUsize = AtomicUsize::new(0);

#[supervised(name = "sd-panic-after-cancel", restart = backoff(5, "0s"))]
async fn sd_panic_after_cancel(ctx: Context) {
    PANIC_AFTER_CANCEL_RUNS.fetch_add(1, Ordering::SeqCst);
    ctx.cancelled().await;
    panic!("panicked during cleanup");
}

tests::stubborn_services!("sd-token-stubborn", "sd-external-stubborn");
tests::idle_services!("sd-token-polite", "sd-external-polite");

static BACKING_OFF_RUNS: AtomicUsize = AtomicUsize::new(0);

#[supervised(name = "sd-backing-off", restart = backoff(3, "30s"))]
async fn sd_backing_off() -> Result<(), String> {
    BACKING_OFF_RUNS.fetch_add(1, Ordering::SeqCst);
    Err("down".into())
}

#[supervised(name = "sd-slow-cleanup")]
async fn sd_slow_cleanup(ctx: Context) {
    ctx.cancelled().await;
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[supervised(name = "sd-report-failed")]
async fn sd_report_failed() -> Result<(), String> {
    Err("the failure text".into())
}

tests::stubborn_services!("sd-report-aborted");

static ORPHAN_TICKS: AtomicUsize = AtomicUsize::new(0);
static ORPHAN_STOPPED: AtomicBool = AtomicBool::new(false);

#[supervised(name = "sd-orphan")]
async fn sd_orphan(ctx: Context) {
    tick_until_cancelled(&ctx, &ORPHAN_TICKS).await;
    ORPHAN_STOPPED.store(true, Ordering::SeqCst);
}

// ---------------------------------------------------------------- tests

#[tokio::test(start_paused = true)]
async fn context_service_is_told_and_left_to_finish_its_cleanup() {
    let sup = start_only(&["sd-cleanup"]);
    tokio::task::yield_now().await;
    let began = Instant::now();
    let result = sup.shutdown(Duration::from_secs(5)).await;
    let took = began.elapsed();
    assert!(result.is_ok(), "{result:?} {:#?}", sup.snapshot());
    assert!(CLEANUP_STARTED.load(Ordering::SeqCst) && CLEANUP_DONE.load(Ordering::SeqCst));
    assert!(
        took >= CLEANUP && took <= CLEANUP + Duration::from_millis(2),
        "shutdown waited {took:?} for a {CLEANUP:?} cleanup: {:#?}",
        sup.snapshot()
    );
    assert_status(&sup, "sd-cleanup", Status::Stopped);
}

#[tokio::test(start_paused = true)]
async fn service_without_context_is_dropped_at_once() {
    let sup = start_only(&["sd-no-context"]);
    POLL.until(&sup, "sd-no-context to start", || {
        NO_CTX_STARTED.load(Ordering::SeqCst)
    })
    .await;
    assert!(!NO_CTX_DROPPED.load(Ordering::SeqCst));
    let began = Instant::now();
    let result = sup.shutdown(Duration::from_secs(5)).await;
    assert!(result.is_ok(), "{result:?} {:#?}", sup.snapshot());
    assert!(
        began.elapsed() < Duration::from_millis(50),
        "dropped at once, not at the timeout: {:?}",
        began.elapsed()
    );
    assert!(NO_CTX_DROPPED.load(Ordering::SeqCst), "its drop guard ran");
    assert_status(&sup, "sd-no-context", Status::Stopped);
}

#[tokio::test(start_paused = true)]
async fn service_ignoring_cancellation_is_aborted_after_the_timeout() {
    let sup = start_only(&["sd-stubborn", "sd-polite"]);
    tokio::task::yield_now().await;
    let began = Instant::now();
    let result = sup.shutdown(Duration::from_secs(3)).await;
    assert_took_the_timeout(began, Duration::from_secs(3), &sup);
    assert_aborted_alone(&result, "sd-stubborn", &sup);
    let text = result.unwrap_err().to_string();
    assert!(
        text.contains("sd-stubborn") && !text.contains("sd-polite"),
        "{text}"
    );
    assert_status(&sup, "sd-stubborn", Status::Aborted);
    assert_status(&sup, "sd-polite", Status::Stopped);
}

/// Real clock: the blocking service runs on an OS thread.
async fn blocking_service_is_aborted_at_the_timeout(name: &'static str, stuck: &Stuck) {
    let sup = start_only(&[name]);
    POLL.until(&sup, "the blocking service to start", || {
        stuck.started.load(Ordering::SeqCst)
    })
    .await;
    let began = std::time::Instant::now();
    let result = sup.shutdown(Duration::from_millis(200)).await;
    let took = began.elapsed();
    assert!(
        took >= Duration::from_millis(200) && took < Duration::from_secs(2),
        "shutdown took {took:?} with a 200 ms timeout: {:#?}",
        sup.snapshot()
    );
    assert_aborted_alone(&result, name, &sup);
    assert_status(&sup, name, Status::Aborted);
    // Its late end changes nothing.
    stuck.release.store(true, Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert_status(&sup, name, Status::Aborted);
}

#[tokio::test]
async fn blocking_service_that_never_checks_its_context_does_not_hold_shutdown() {
    blocking_service_is_aborted_at_the_timeout("sd-blocking-deaf", &DEAF).await;
}

#[tokio::test]
async fn blocking_service_without_context_is_aborted_at_the_timeout() {
    blocking_service_is_aborted_at_the_timeout("sd-blocking-no-ctx", &NO_CTX_BLOCKING).await;
}

#[tokio::test(start_paused = true)]
async fn failure_after_shutdown_began_is_failed_and_not_restarted() {
    let sup = start_only(&["sd-err-after-cancel", "sd-panic-after-cancel"]);
    tokio::task::yield_now().await;
    let result = sup.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        failures(&result),
        [
            (
                "sd-err-after-cancel".to_string(),
                Status::Failed {
                    reason: "could not flush the buffer".into()
                }
            ),
            (
                "sd-panic-after-cancel".to_string(),
                Status::Failed {
                    reason: "panicked during cleanup".into()
                }
            ),
        ],
        "{:#?}",
        sup.snapshot()
    );
    tokio::time::sleep(Duration::from_secs(10)).await;
    for name in ["sd-err-after-cancel", "sd-panic-after-cancel"] {
        assert_eq!(row(&sup, name).restarts, 0, "{:#?}", sup.snapshot());
    }
    assert_eq!(ERR_AFTER_CANCEL_RUNS.load(Ordering::SeqCst), 1);
    assert_eq!(PANIC_AFTER_CANCEL_RUNS.load(Ordering::SeqCst), 1);
}

#[tokio::test(start_paused = true)]
async fn second_shutdown_returns_the_same_result() {
    let sup = start_only(&["sd-stubborn-twice"]);
    tokio::task::yield_now().await;
    let began = Instant::now();
    // The first call's timeout applies to both.
    let (first, second) = tokio::join!(
        sup.shutdown(Duration::from_secs(1)),
        sup.shutdown(Duration::from_secs(100)),
    );
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?} {:#?}",
        began.elapsed(),
        sup.snapshot()
    );
    assert!(first.is_err(), "{first:?}");
    assert_eq!(first, second);
    let third = sup.shutdown(Duration::from_secs(100)).await;
    assert_eq!(first, third);
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_supervisor_token_shuts_down_with_the_builder_timeout() {
    let timeout = Duration::from_secs(4);
    let (sup, external) =
        start_with_token(&["sd-token-stubborn", "sd-token-polite"], timeout).await;
    let began = Instant::now();
    sup.cancellation_token().cancel();
    assert!(
        !external.is_cancelled(),
        "the supervisor's token is a child of the builder's"
    );
    tokio::time::timeout(Duration::from_secs(60), sup.wait())
        .await
        .expect("the shutdown ends");
    assert_took_the_timeout(began, timeout, &sup);
    assert_status(&sup, "sd-token-polite", Status::Stopped);
    assert_status(&sup, "sd-token-stubborn", Status::Aborted);
    // `shutdown` now reports that same shutdown, whatever timeout it is given.
    let result = sup.shutdown(Duration::from_secs(100)).await;
    assert_aborted_alone(&result, "sd-token-stubborn", &sup);
}

#[tokio::test(start_paused = true)]
async fn cancelling_the_builder_token_shuts_down_with_the_builder_timeout() {
    let timeout = Duration::from_secs(7);
    let (sup, external) =
        start_with_token(&["sd-external-stubborn", "sd-external-polite"], timeout).await;
    let began = Instant::now();
    external.cancel();
    assert!(sup.cancellation_token().is_cancelled());
    // `run` returns what the shutdown started by the token returns.
    let result = tokio::time::timeout(Duration::from_secs(60), sup.run())
        .await
        .expect("the shutdown ends");
    assert_took_the_timeout(began, timeout, &sup);
    assert_aborted_alone(&result, "sd-external-stubborn", &sup);
    assert_status(&sup, "sd-external-polite", Status::Stopped);
}

#[tokio::test(start_paused = true)]
async fn service_waiting_out_its_backoff_ends_stopped() {
    let sup = start_only(&["sd-backing-off"]);
    POLL.until(&sup, "sd-backing-off to wait for its restart", || {
        matches!(status(&sup, "sd-backing-off"), Status::Restarting { .. })
    })
    .await;
    let began = Instant::now();
    let result = sup.shutdown(Duration::from_secs(10)).await;
    assert!(
        began.elapsed() < Duration::from_millis(50),
        "{:?}",
        began.elapsed()
    );
    assert!(
        result.is_ok(),
        "a service stopped in its delay is clean: {result:?}"
    );
    assert_status(&sup, "sd-backing-off", Status::Stopped);
    tokio::time::sleep(Duration::from_secs(120)).await;
    assert_eq!(
        BACKING_OFF_RUNS.load(Ordering::SeqCst),
        1,
        "{:#?}",
        sup.snapshot()
    );
}

#[tokio::test(start_paused = true)]
async fn spawn_after_shutdown_began_is_refused() {
    let sup = start_only(&["sd-slow-cleanup"]);
    tokio::task::yield_now().await;
    let task = || idle_task("sd-late-task");
    let shutdown =
        shutdown_in_background(&sup, Duration::from_secs(5), Duration::from_secs(10)).await;
    // During the cleanup period...
    assert_status(&sup, "sd-slow-cleanup", Status::Running);
    match sup.spawn(task()) {
        Err(Error::ShuttingDown { name }) => assert_eq!(&*name, "sd-late-task"),
        other => panic!("expected ShuttingDown, got {other:?}"),
    }
    assert!(shutdown.await.unwrap().is_ok());
    // ...and after it.
    let err = sup.spawn(task()).unwrap_err();
    assert!(matches!(err, Error::ShuttingDown { .. }), "{err}");
    assert!(err.to_string().contains("sd-late-task"), "{err}");
    assert!(
        sup.snapshot().iter().all(|r| &*r.name != "sd-late-task"),
        "a refused task gets no row: {:#?}",
        sup.snapshot()
    );
}

#[tokio::test(start_paused = true)]
async fn error_display_and_debug_name_the_services() {
    let sup = start_only(&["sd-report-failed", "sd-report-aborted"]);
    POLL.until(&sup, "sd-report-failed to fail", || {
        matches!(status(&sup, "sd-report-failed"), Status::Failed { .. })
    })
    .await;
    let err = sup.shutdown(Duration::from_secs(1)).await.unwrap_err();
    let display = err.to_string();
    let debug = format!("{err:?}");
    for text in [&display, &debug] {
        assert!(text.contains("sd-report-failed"), "{text}");
        assert!(text.contains("the failure text"), "{text}");
        assert!(text.contains("sd-report-aborted"), "{text}");
    }
    let err: Box<dyn std::error::Error + Send + Sync + 'static> = Box::new(err);
    assert_eq!(err.to_string(), display);
}

#[tokio::test(start_paused = true)]
async fn dropping_every_handle_does_not_stop_the_services() {
    let sup = start_only(&["sd-orphan"]);
    let token = sup.cancellation_token();
    drop(sup);
    tokio::time::sleep(Duration::from_millis(10_500)).await;
    assert!(
        ORPHAN_TICKS.load(Ordering::SeqCst) >= 10,
        "ticks: {}",
        ORPHAN_TICKS.load(Ordering::SeqCst)
    );
    assert!(!ORPHAN_STOPPED.load(Ordering::SeqCst));
    // The token still reaches it.
    token.cancel();
    Poll {
        within: Duration::from_secs(5),
        ..POLL
    }
    .until_with(
        "the orphan to see the cancellation",
        || "(no handle left to show its row)".to_string(),
        || ORPHAN_STOPPED.load(Ordering::SeqCst),
    )
    .await;
}
