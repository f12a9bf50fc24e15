//! Periodic services (`every = "..."`), async and blocking.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use supervisor::{supervised, Context, Status};
use tests::{assert_status, start_only, status, Poll};

/// Looks every half second of tokio's (paused) clock, for up to ten
/// minutes of it.
const POLL: Poll = Poll {
    every: Duration::from_millis(500),
    within: Duration::from_secs(600),
};

/// When each call started, on tokio's clock, and with which attempt.
static CALLS: Mutex<Vec<(tokio::time::Instant, u32)>> = Mutex::new(Vec::new());

#[supervised(name = "per-tick", every = "10s")]
async fn tick(ctx: Context) {
    CALLS
        .lock()
        .unwrap()
        .push((tokio::time::Instant::now(), ctx.attempt()));
    // A call that takes time: the delay is counted from its end.
    tokio::time::sleep(Duration::from_secs(2)).await;
}

#[tokio::test(start_paused = true)]
async fn every_keeps_a_fixed_delay_between_calls() {
    let sup = start_only(&["per-tick"]);
    POLL.until(&sup, "four calls", || CALLS.lock().unwrap().len() >= 4)
        .await;
    let calls = CALLS.lock().unwrap().clone();
    for pair in calls.windows(2) {
        assert_eq!(
            pair[1].0 - pair[0].0,
            Duration::from_secs(12),
            "2 s call + 10 s delay"
        );
    }
    let attempts: Vec<u32> = calls.iter().map(|(_, a)| *a).collect();
    assert_eq!(attempts[..4], [0, 1, 2, 3], "attempt counts calls");
    let row = tests::row(&sup, "per-tick");
    assert_eq!(row.status, Status::Running, "stays Running between calls");
    assert_eq!(row.restarts, 0, "calls are not restarts");
    sup.shutdown(Duration::from_secs(5)).await.expect("clean");
    assert_status(&sup, "per-tick", Status::Stopped);
}

static FLAKY_CALLS: AtomicU32 = AtomicU32::new(0);

/// Fails on its second call: the restart policy takes over.
#[supervised(name = "per-flaky", every = "1m", restart = backoff(3, "5s"))]
async fn flaky() -> Result<(), String> {
    match FLAKY_CALLS.fetch_add(1, Ordering::SeqCst) {
        1 => Err("disk full".into()),
        _ => Ok(()),
    }
}

#[tokio::test(start_paused = true)]
async fn a_failed_call_follows_the_restart_policy() {
    let sup = start_only(&["per-flaky"]);
    POLL.until(&sup, "the restart", || {
        matches!(
            status(&sup, "per-flaky"),
            Status::Restarting { attempt: 1, max: 3 }
        )
    })
    .await;
    POLL.until(&sup, "the third call", || {
        FLAKY_CALLS.load(Ordering::SeqCst) >= 3
    })
    .await;
    let row = tests::row(&sup, "per-flaky");
    assert_eq!(row.restarts, 1);
    assert_eq!(row.last_failure.as_deref(), Some("disk full"));
    assert_eq!(row.status, Status::Running);
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}

static BLOCKING_CALLS: AtomicU32 = AtomicU32::new(0);

#[supervised(name = "per-blocking", every = "100ms", blocking)]
fn crunch() {
    BLOCKING_CALLS.fetch_add(1, Ordering::SeqCst);
}

/// Real time: the calls run on a thread.
#[tokio::test]
async fn a_blocking_service_is_called_periodically_too() {
    let sup = start_only(&["per-blocking"]);
    Poll {
        every: Duration::from_millis(10),
        within: Duration::from_secs(10),
    }
    .until(&sup, "three calls", || {
        BLOCKING_CALLS.load(Ordering::SeqCst) >= 3
    })
    .await;
    sup.shutdown(Duration::from_secs(5)).await.expect("clean");
    assert_status(&sup, "per-blocking", Status::Stopped);
}

#[supervised(name = "per-ready", every = "1h", ready = completed)]
async fn ready_after_first_call() {}

#[tokio::test(start_paused = true)]
async fn ready_completed_holds_after_the_first_call() {
    let sup = start_only(&["per-ready"]);
    POLL.until(&sup, "ready", || tests::row(&sup, "per-ready").ready)
        .await;
    assert_status(&sup, "per-ready", Status::Running);
    assert!(sup.is_ready());
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}
