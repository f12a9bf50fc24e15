//! Restart with exponential backoff, on tokio's paused clock: a minute of
//! delay costs microseconds, and the instants the services record are exact.
//!
//! Tests in this file run in parallel in one process, so each one starts only
//! its own services (`Builder::only`).

use std::sync::Mutex;
use std::time::Duration;

use supervisor::{supervised, Context, Status, Supervisor};
use tests::{assert_status, row, start_only, wait_idle, Poll};
use tokio::time::Instant;

// ---------------------------------------------------------------- helpers

/// Records the instant of a run; returns the run's index (0-based).
fn record(log: &Mutex<Vec<Instant>>) -> usize {
    let mut runs = log.lock().unwrap();
    runs.push(Instant::now());
    runs.len() - 1
}

fn runs(log: &Mutex<Vec<Instant>>) -> usize {
    log.lock().unwrap().len()
}

/// Gaps between consecutive runs.
fn gaps(log: &Mutex<Vec<Instant>>) -> Vec<Duration> {
    log.lock()
        .unwrap()
        .windows(2)
        .map(|w| w[1] - w[0])
        .collect()
}

/// Each gap is the expected one, give or take the timer's millisecond.
fn assert_gaps(actual: &[Duration], expected: &[Duration], sup: &Supervisor) {
    assert_eq!(
        actual.len(),
        expected.len(),
        "gaps {actual:?}, expected {expected:?}: {:#?}",
        sup.snapshot()
    );
    for (a, e) in actual.iter().zip(expected) {
        assert!(
            *a >= *e && *a <= *e + Duration::from_millis(5),
            "gaps {actual:?}, expected {expected:?}: {:#?}",
            sup.snapshot()
        );
    }
}

fn secs(list: &[u64]) -> Vec<Duration> {
    list.iter().map(|s| Duration::from_secs(*s)).collect()
}

/// Asserts that `name` has failed for good after `restarts` restarts in a
/// row, and, given a `reason`, that it failed with that reason.
#[track_caller]
fn assert_failed(sup: &Supervisor, name: &str, restarts: u32, reason: Option<&str>) {
    let r = row(sup, name);
    match reason {
        Some(reason) => assert_eq!(
            r.status,
            Status::Failed {
                reason: reason.into()
            },
            "{sup}"
        ),
        None => assert!(matches!(r.status, Status::Failed { .. }), "{sup}"),
    }
    assert_eq!(r.restarts, restarts, "{sup}");
}

/// Declares a service (`$attr` are the attribute's arguments) that records
/// the instant of each run in a new `static $log` and fails at once with
/// `$reason`.
macro_rules! failing_service {
    ($log:ident, $reason:literal, $($attr:tt)+) => {
        static $log: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

        const _: () = {
            #[supervised($($attr)+)]
            async fn service() -> Result<(), String> {
                record(&$log);
                Err($reason.into())
            }
        };
    };
}

/// Fails its first two runs at once; the third runs until told to stop.
async fn fails_twice_then_runs(log: &Mutex<Vec<Instant>>, ctx: Context) -> Result<(), String> {
    if record(log) < 2 {
        return Err("fails twice".into());
    }
    ctx.cancelled().await;
    Ok(())
}

// ---------------------------------------------------------------- services

static DOUBLING: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

#[supervised(name = "bo-doubling", restart = backoff(3, "1s"))]
async fn bo_doubling() -> Result<(), String> {
    let run = record(&DOUBLING);
    Err(format!("run {run} failed"))
}

failing_service! {
    CAPPED, "always fails", name = "bo-capped", restart = backoff(10, "20s")
}

failing_service! {
    OBSERVED, "always fails", name = "bo-observed", restart = backoff(3, "10s")
}

failing_service! {
    ZERO_MAX, "fails once, for good", name = "bo-zero-max", restart = backoff(0, "1s")
}

static HEALTHY: Mutex<Vec<Instant>> = Mutex::new(Vec::new());
/// Runs of `bo-healthy` that fail (each after more than a minute up).
const HEALTHY_FAILURES: usize = 5;

#[supervised(name = "bo-healthy", restart = backoff(2, "1s"))]
async fn bo_healthy(ctx: Context) -> Result<(), String> {
    if record(&HEALTHY) < HEALTHY_FAILURES {
        tokio::time::sleep(Duration::from_secs(61)).await;
        return Err("failed after a healthy minute".into());
    }
    ctx.cancelled().await;
    Ok(())
}

static SHORT_LIVED: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

#[supervised(name = "bo-short-lived", restart = backoff(2, "1s"))]
async fn bo_short_lived() -> Result<(), String> {
    record(&SHORT_LIVED);
    tokio::time::sleep(Duration::from_secs(59)).await;
    Err("failed before a minute was up".into())
}

failing_service! {
    SLOW, "slow to come back", name = "bo-slow", restart = backoff(5, "10s")
}

static QUICK_ZERO: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

#[supervised(name = "bo-quick-zero", restart = backoff(3, "0s"))]
async fn bo_quick_zero(ctx: Context) -> Result<(), String> {
    fails_twice_then_runs(&QUICK_ZERO, ctx).await
}

static QUICK_MS: Mutex<Vec<Instant>> = Mutex::new(Vec::new());

#[supervised(name = "bo-quick-ms", restart = backoff(3, "10ms"))]
async fn bo_quick_ms(ctx: Context) -> Result<(), String> {
    fails_twice_then_runs(&QUICK_MS, ctx).await
}

// ---------------------------------------------------------------- tests

#[tokio::test(start_paused = true)]
async fn delays_double_from_base_then_max_plus_one_runs_end_failed() {
    let sup = start_only(&["bo-doubling"]);
    wait_idle(&sup, Duration::from_secs(60)).await;
    assert_gaps(&gaps(&DOUBLING), &secs(&[1, 2, 4]), &sup);
    assert_failed(&sup, "bo-doubling", 3, Some("run 3 failed"));

    // Failed is final: no further run, however long we wait.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(runs(&DOUBLING), 4, "MAX + 1 runs: {:#?}", sup.snapshot());
}

#[tokio::test(start_paused = true)]
async fn each_delay_is_capped_at_sixty_seconds() {
    let sup = start_only(&["bo-capped"]);
    wait_idle(&sup, Duration::from_secs(3600)).await;
    // 20, 40, then 80 and more are capped at 60.
    assert_gaps(
        &gaps(&CAPPED),
        &secs(&[20, 40, 60, 60, 60, 60, 60, 60, 60, 60]),
        &sup,
    );
    assert_failed(&sup, "bo-capped", 10, None);
}

#[tokio::test(start_paused = true)]
async fn restarting_status_counts_the_streak_while_waiting() {
    let sup = start_only(&["bo-observed"]);
    // Every state seen while waiting: (status, restarts, active_count).
    let mut seen: Vec<(Status, u32, usize)> = Vec::new();
    Poll {
        every: Duration::from_millis(100),
        within: Duration::from_secs(200),
    }
    .until(&sup, "bo-observed to fail for good", || {
        let r = row(&sup, "bo-observed");
        let state = (r.status.clone(), r.restarts, sup.active_count());
        if matches!(r.status, Status::Restarting { .. }) && seen.last() != Some(&state) {
            seen.push(state);
        }
        matches!(r.status, Status::Failed { .. })
    })
    .await;
    let expected: Vec<(Status, u32, usize)> = (1..=3)
        .map(|attempt| (Status::Restarting { attempt, max: 3 }, attempt - 1, 1))
        .collect();
    assert_eq!(seen, expected, "{:#?}", sup.snapshot());
    assert_eq!(
        row(&sup, "bo-observed").restarts,
        3,
        "{:#?}",
        sup.snapshot()
    );
    assert_eq!(sup.active_count(), 0, "{:#?}", sup.snapshot());
    assert_gaps(&gaps(&OBSERVED), &secs(&[10, 20, 40]), &sup);
}

#[tokio::test(start_paused = true)]
async fn backoff_zero_never_restarts() {
    let sup = start_only(&["bo-zero-max"]);
    wait_idle(&sup, Duration::from_secs(10)).await;
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_failed(&sup, "bo-zero-max", 0, Some("fails once, for good"));
    assert_eq!(runs(&ZERO_MAX), 1, "{:#?}", sup.snapshot());
}

#[tokio::test(start_paused = true)]
async fn failure_after_a_minute_up_starts_a_fresh_count() {
    let sup = start_only(&["bo-healthy"]);
    let mut attempts_seen = Vec::new();
    Poll {
        every: Duration::from_millis(500),
        within: Duration::from_secs(600),
    }
    .until(&sup, "every failing run of bo-healthy", || {
        let r = row(&sup, "bo-healthy");
        assert!(
            !matches!(r.status, Status::Failed { .. }),
            "a service failing after a minute up never exhausts its restarts: {r:#?}"
        );
        if let Status::Restarting { attempt, .. } = r.status {
            attempts_seen.push(attempt);
        }
        runs(&HEALTHY) > HEALTHY_FAILURES
    })
    .await;
    assert!(
        attempts_seen.iter().all(|&a| a == 1) && !attempts_seen.is_empty(),
        "each streak is one failure long: {attempts_seen:?}"
    );
    // Up 61 s, then the base delay every time: the count never grows.
    assert_gaps(&gaps(&HEALTHY), &secs(&[62; HEALTHY_FAILURES]), &sup);
    let r = row(&sup, "bo-healthy");
    assert_eq!(r.status, Status::Running, "{:#?}", sup.snapshot());
    assert_eq!(r.restarts, HEALTHY_FAILURES as u32, "{:#?}", sup.snapshot());

    let result = sup.shutdown(Duration::from_secs(5)).await;
    assert!(result.is_ok(), "{result:?} {:#?}", sup.snapshot());
    assert_status(&sup, "bo-healthy", Status::Stopped);
}

#[tokio::test(start_paused = true)]
async fn failure_before_a_minute_up_continues_the_count() {
    let sup = start_only(&["bo-short-lived"]);
    wait_idle(&sup, Duration::from_secs(600)).await;
    // Up 59 s each time: the delays keep doubling and MAX = 2 is reached.
    assert_gaps(&gaps(&SHORT_LIVED), &secs(&[60, 61]), &sup);
    assert_failed(&sup, "bo-short-lived", 2, None);
}

#[tokio::test(start_paused = true)]
async fn a_long_backoff_delays_neither_other_restarts_nor_the_shutdown() {
    let began = Instant::now();
    let sup = start_only(&["bo-slow", "bo-quick-zero", "bo-quick-ms"]);
    Poll {
        every: Duration::from_millis(1),
        within: Duration::from_secs(60),
    }
    .until(&sup, "the quick services' third runs", || {
        runs(&QUICK_ZERO) == 3 && runs(&QUICK_MS) == 3
    })
    .await;
    assert!(
        began.elapsed() < Duration::from_secs(1),
        "the quick restarts took {:?} of tokio time: {:#?}",
        began.elapsed(),
        sup.snapshot()
    );
    assert_gaps(
        &gaps(&QUICK_MS),
        &[Duration::from_millis(10), Duration::from_millis(20)],
        &sup,
    );
    let slow = row(&sup, "bo-slow");
    assert_eq!(
        slow.status,
        Status::Restarting { attempt: 1, max: 5 },
        "{:#?}",
        sup.snapshot()
    );
    assert_eq!(slow.restarts, 0, "{:#?}", sup.snapshot());

    let shutdown_began = Instant::now();
    let result = sup.shutdown(Duration::from_secs(30)).await;
    let took = shutdown_began.elapsed();
    assert!(
        took < Duration::from_millis(100),
        "shutdown took {took:?} of tokio time: {:#?}",
        sup.snapshot()
    );
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?}",
        began.elapsed()
    );
    assert!(result.is_ok(), "{result:?} {:#?}", sup.snapshot());
    for name in ["bo-slow", "bo-quick-zero", "bo-quick-ms"] {
        assert_status(&sup, name, Status::Stopped);
    }
    // The one waiting out its delay never started again.
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_eq!(runs(&SLOW), 1, "{:#?}", sup.snapshot());
}
