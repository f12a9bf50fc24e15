//! The life of a service as the snapshot shows it: final states, attempt
//! numbering, ordering, counting, uptime, and panics that must stay contained.
//!
//! Tests in this file run in parallel in one process, so each one starts only
//! its own services (`Builder::only`).

use std::fmt;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use supervisor::{supervised, BoxFuture, Builder, Context, RestartPolicy, Status, TaskDescriptor};
use tests::{
    assert_status, backoff, failed_names, failure_reason, failures, names, row, spawn_completing,
    spawn_idle, start_only, status, tick_until_cancelled, wait_idle, Poll,
};

// ---------------------------------------------------------------- helpers

/// Longest wait for something that must happen.
const EVENTUALLY: Duration = Duration::from_secs(30);
const POLL: Poll = Poll {
    every: Duration::from_millis(5),
    within: EVENTUALLY,
};

// ---------------------------------------------------------------- services

tests::completing_services!("lc-complete");
tests::idle_services!("lc-stop");

const LC_ERR_TEXT: &str = "disk quota exceeded on /var/lib/app (27 GiB used)\nsecond line";

#[supervised(name = "lc-err")]
async fn lc_err() -> Result<(), String> {
    Err(LC_ERR_TEXT.to_string())
}

tests::stubborn_services!("lc-stubborn");

/// An error with its source: one link of a chain.
#[derive(Debug)]
struct Link(&'static str, Option<Box<Link>>);

impl Link {
    /// An error reading `text`, whose source reads `sources[0]`, whose
    /// source reads `sources[1]`, and so on to the root cause.
    fn chain(text: &'static str, sources: &[&'static str]) -> Link {
        let source = sources
            .split_first()
            .map(|(next, rest)| Box::new(Link::chain(next, rest)));
        Link(text, source)
    }
}

impl fmt::Display for Link {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.0)
    }
}

impl std::error::Error for Link {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        self.1.as_deref().map(|link| link as _)
    }
}

#[supervised(name = "lc-chain")]
async fn lc_chain() -> Result<(), Link> {
    Err(Link::chain("outer", &["inner", "root cause"]))
}

/// Its own text already ends with its source's.
#[supervised(name = "lc-chain-repeated")]
async fn lc_chain_repeated() -> Result<(), Link> {
    Err(Link::chain(
        "connect failed: connection refused",
        &["connection refused"],
    ))
}

#[supervised(name = "lc-panic-late", restart = backoff(1, "1s"))]
async fn lc_panic_late(ctx: Context) {
    tokio::task::yield_now().await;
    let host = "db-7";
    panic!("lost the connection to {host} on run {}", ctx.attempt());
}

#[supervised(name = "lc-panic-early")]
async fn lc_panic_early() {
    panic!("boom before any await");
}

static BYSTANDER_TICKS: AtomicUsize = AtomicUsize::new(0);

#[supervised(name = "lc-bystander")]
async fn lc_bystander(ctx: Context) {
    tick_until_cancelled(&ctx, &BYSTANDER_TICKS).await;
}

static ATTEMPTS: Mutex<Vec<u32>> = Mutex::new(Vec::new());

#[supervised(name = "lc-attempts", restart = backoff(3, "0s"))]
async fn lc_attempts(ctx: Context) -> Result<(), String> {
    ATTEMPTS.lock().unwrap().push(ctx.attempt());
    Err(format!("run {} failed", ctx.attempt()))
}

tests::idle_services!("lc-order-b", "lc-order-c", "lc-order-a");

tests::idle_services!("lc-count-1", "lc-count-2");
tests::completing_services!("lc-count-done");

#[supervised(name = "lc-wait-short")]
async fn lc_wait_short() {
    tokio::time::sleep(Duration::from_secs(2)).await;
}

/// An odd length, so that an end noticed by a polling loop would show.
const WAIT_LONG: Duration = Duration::from_millis(5_003);

#[supervised(name = "lc-wait-long")]
async fn lc_wait_long() {
    tokio::time::sleep(WAIT_LONG).await;
}

static BACKOFF_OK_RUNS: AtomicUsize = AtomicUsize::new(0);

#[supervised(name = "lc-backoff-ok", restart = backoff(5, "1s"))]
async fn lc_backoff_ok() -> Result<(), String> {
    BACKOFF_OK_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

const UPTIME_RUN: Duration = Duration::from_millis(300);

#[supervised(name = "lc-uptime", restart = backoff(2, "100ms"))]
async fn lc_uptime(ctx: Context) -> Result<(), String> {
    if ctx.attempt() == 0 {
        return Err("first run fails at once".into());
    }
    tokio::time::sleep(UPTIME_RUN).await;
    Ok(())
}

const CLEANUP: Duration = Duration::from_secs(1);

#[supervised(name = "lc-uptime-stopped")]
async fn lc_uptime_stopped(ctx: Context) {
    ctx.cancelled().await;
    tokio::time::sleep(CLEANUP).await;
}

tests::idle_services!("lc-abort-now-1", "lc-abort-now-2");

#[supervised(name = "lc-run-ok")]
async fn lc_run_ok() {
    tokio::time::sleep(Duration::from_secs(3)).await;
}

#[supervised(name = "lc-run-failing")]
async fn lc_run_failing() -> Result<(), String> {
    tokio::time::sleep(Duration::from_secs(1)).await;
    Err("gave up".into())
}

tests::completing_services!("lc-table-ok");

#[supervised(name = "lc-table-failing")]
async fn lc_table_failing() -> std::io::Result<()> {
    Err(std::io::Error::other("table reason"))
}

tests::idle_services!("lc-factory-bystander");

// ---------------------------------------------------------------- tests

#[tokio::test(start_paused = true)]
async fn final_states_completed_stopped_failed_and_aborted() {
    let sup = start_only(&["lc-complete", "lc-stop", "lc-err", "lc-stubborn"]);
    POLL.until(&sup, "lc-complete and lc-err to end", || {
        status(&sup, "lc-complete") == Status::Completed && !status(&sup, "lc-err").is_active()
    })
    .await;
    assert_eq!(
        row(&sup, "lc-err").status,
        Status::Failed {
            reason: LC_ERR_TEXT.into()
        },
        "the error text is kept verbatim: {:#?}",
        sup.snapshot()
    );
    assert_status(&sup, "lc-stop", Status::Running);

    let began = tokio::time::Instant::now();
    let result = sup.shutdown(Duration::from_secs(1)).await;
    assert!(
        began.elapsed() < Duration::from_secs(2),
        "{:?} {:#?}",
        began.elapsed(),
        sup.snapshot()
    );
    assert_status(&sup, "lc-complete", Status::Completed);
    assert_status(&sup, "lc-stop", Status::Stopped);
    assert_status(&sup, "lc-stubborn", Status::Aborted);
    assert_eq!(
        failed_names(&result),
        ["lc-err", "lc-stubborn"],
        "{result:?} {:#?}",
        sup.snapshot()
    );
    assert_eq!(sup.active_count(), 0, "{:#?}", sup.snapshot());
}

#[tokio::test(start_paused = true)]
async fn panic_message_is_the_failed_reason() {
    let sup = start_only(&["lc-panic-late"]);
    wait_idle(&sup, EVENTUALLY).await;
    let r = row(&sup, "lc-panic-late");
    assert_eq!(
        r.status,
        Status::Failed {
            reason: "lost the connection to db-7 on run 1".into()
        },
        "the last run's panic message, verbatim: {:#?}",
        sup.snapshot()
    );
    assert_eq!(r.restarts, 1, "{:#?}", sup.snapshot());
}

#[tokio::test(start_paused = true)]
async fn an_error_chain_reads_from_outer_to_root_cause_in_the_row_and_the_shutdown_error() {
    // (service, its failure reason)
    let expected = [
        ("lc-chain", "outer: inner: root cause"),
        // The source is not repeated when the outer text already holds it.
        ("lc-chain-repeated", "connect failed: connection refused"),
    ];
    let sup = start_only(&expected.map(|(name, _)| name));
    wait_idle(&sup, EVENTUALLY).await;
    let failed = expected.map(|(name, reason)| {
        let status = Status::Failed {
            reason: reason.into(),
        };
        assert_status(&sup, name, status.clone());
        (name.to_string(), status)
    });

    let result = sup.shutdown(Duration::from_secs(1)).await;
    assert_eq!(failures(&result), failed, "{sup}");
    let text = result.unwrap_err().to_string();
    let lines: Vec<&str> = text.lines().skip(1).map(str::trim).collect();
    assert_eq!(
        lines,
        expected.map(|(name, reason)| format!("`{name}` failed: {reason}")),
        "one line per failure, after the heading:\n{text}"
    );
    assert!(
        !text.contains("connection refused: connection refused"),
        "{text}"
    );
}

#[tokio::test(start_paused = true)]
async fn panic_in_body_before_first_await_is_failed_not_fatal() {
    let sup = start_only(&["lc-panic-early", "lc-bystander"]);
    POLL.until(&sup, "lc-panic-early to fail", || {
        !status(&sup, "lc-panic-early").is_active()
    })
    .await;
    assert_status(
        &sup,
        "lc-panic-early",
        Status::Failed {
            reason: "boom before any await".into(),
        },
    );

    // The other service keeps running, and the supervisor keeps working.
    let ticks = BYSTANDER_TICKS.load(Ordering::SeqCst);
    tokio::time::sleep(Duration::from_millis(5500)).await;
    assert!(
        BYSTANDER_TICKS.load(Ordering::SeqCst) >= ticks + 5,
        "the bystander kept ticking: {:#?}",
        sup.snapshot()
    );
    assert_status(&sup, "lc-bystander", Status::Running);
    assert_eq!(sup.active_count(), 1, "{:#?}", sup.snapshot());
    // The supervisor still takes new tasks.
    spawn_completing(&sup, "lc-late-spawn");
    POLL.until_status(&sup, "lc-late-spawn", Status::Completed)
        .await;

    let result = sup.shutdown(Duration::from_secs(5)).await;
    assert_eq!(
        failed_names(&result),
        ["lc-panic-early"],
        "{result:?} {:#?}",
        sup.snapshot()
    );
    assert_status(&sup, "lc-bystander", Status::Stopped);
}

#[tokio::test(start_paused = true)]
async fn panic_in_the_factory_of_a_spawned_task_is_failed_not_fatal() {
    let sup = start_only(&["lc-factory-bystander"]);
    let calls = Arc::new(AtomicUsize::new(0));
    let counted = Arc::clone(&calls);
    let exploding: supervisor::Factory = Arc::new(move |_ctx: Context| -> BoxFuture {
        let n = counted.fetch_add(1, Ordering::SeqCst);
        panic!("factory blew up on call {n}");
    });
    sup.spawn(TaskDescriptor {
        name: "lc-factory-never".into(),
        restart: RestartPolicy::Never,
        factory: Arc::clone(&exploding),
    })
    .expect("spawn accepts the task");
    sup.spawn(TaskDescriptor {
        name: "lc-factory-backoff".into(),
        restart: backoff(2, Duration::from_millis(10)),
        factory: exploding,
    })
    .expect("spawn accepts the task");
    POLL.until(&sup, "both factory tasks to fail", || {
        ["lc-factory-never", "lc-factory-backoff"]
            .iter()
            .all(|name| matches!(status(&sup, name), Status::Failed { .. }))
    })
    .await;
    let reason = failure_reason(&sup, "lc-factory-never");
    assert!(reason.starts_with("factory blew up on call"), "{reason:?}");
    let backoff = row(&sup, "lc-factory-backoff");
    assert_eq!(backoff.restarts, 2, "{:#?}", sup.snapshot());
    assert_eq!(calls.load(Ordering::SeqCst), 1 + 3, "{:#?}", sup.snapshot());
    assert_status(&sup, "lc-factory-bystander", Status::Running);

    let result = sup.shutdown(Duration::from_secs(5)).await;
    let mut failed = failed_names(&result);
    failed.sort();
    assert_eq!(
        failed,
        ["lc-factory-backoff", "lc-factory-never"],
        "{result:?}"
    );
    assert_status(&sup, "lc-factory-bystander", Status::Stopped);
}

#[tokio::test(start_paused = true)]
async fn attempt_numbers_runs_from_zero_over_the_lifetime() {
    let sup = start_only(&["lc-attempts"]);
    wait_idle(&sup, EVENTUALLY).await;
    assert_eq!(
        *ATTEMPTS.lock().unwrap(),
        [0, 1, 2, 3],
        "{:#?}",
        sup.snapshot()
    );
    let r = row(&sup, "lc-attempts");
    assert_eq!(r.restarts, 3, "{:#?}", sup.snapshot());
    assert_eq!(
        r.status,
        Status::Failed {
            reason: "run 3 failed".into()
        },
        "{:#?}",
        sup.snapshot()
    );
}

#[tokio::test(start_paused = true)]
async fn snapshot_is_in_order_of_first_start() {
    // Declared services start in order of name, whatever the order of `only`.
    let sup = start_only(&["lc-order-c", "lc-order-a", "lc-order-b"]);
    assert_eq!(
        names(&sup),
        ["lc-order-a", "lc-order-b", "lc-order-c"],
        "{sup}"
    );

    // A later task comes after them, although its name sorts first...
    spawn_idle(&sup, "lc-order-0");
    // ...and replacing a running service keeps its row where it was.
    spawn_idle(&sup, "lc-order-a");
    let expected = ["lc-order-a", "lc-order-b", "lc-order-c", "lc-order-0"];
    assert_eq!(names(&sup), expected, "{sup}");

    let result = sup.shutdown(Duration::from_secs(5)).await;
    assert!(result.is_ok(), "{result:?} {:#?}", sup.snapshot());
    assert_eq!(names(&sup), expected, "{sup}");
}

#[tokio::test(start_paused = true)]
async fn active_count_counts_running_services_only() {
    let sup = start_only(&["lc-count-1", "lc-count-2", "lc-count-done"]);
    POLL.until_status(&sup, "lc-count-done", Status::Completed)
        .await;
    assert_eq!(sup.active_count(), 2, "{:#?}", sup.snapshot());

    assert!(sup.abort("lc-count-1"), "{:#?}", sup.snapshot());
    assert_status(&sup, "lc-count-1", Status::Aborted);
    POLL.until(&sup, "the aborted service to leave the count", || {
        sup.active_count() == 1
    })
    .await;

    let result = sup.shutdown(Duration::from_secs(5)).await;
    assert!(
        result.is_ok(),
        "an abort on request is no error: {result:?}"
    );
    assert_eq!(sup.active_count(), 0, "{:#?}", sup.snapshot());
}

#[tokio::test(start_paused = true)]
async fn abort_on_request_leaves_the_active_count_at_once() {
    let services = ["lc-abort-now-1", "lc-abort-now-2"];
    let sup = start_only(&services);
    tokio::task::yield_now().await;
    assert_eq!(sup.active_count(), services.len(), "{:#?}", sup.snapshot());
    assert!(sup.abort("lc-abort-now-1"));
    let active_rows = sup
        .snapshot()
        .iter()
        .filter(|r| r.status.is_active())
        .count();
    assert_eq!(
        sup.active_count(),
        active_rows,
        "right after abort() returns, the count agrees with the snapshot: {:#?}",
        sup.snapshot()
    );
    assert!(sup.shutdown(Duration::from_secs(1)).await.is_ok());
}

#[tokio::test(start_paused = true)]
async fn run_returns_once_no_service_is_active_naming_the_failed_ones() {
    let began = tokio::time::Instant::now();
    let sup = Builder::new()
        .only(["lc-run-ok", "lc-run-failing"])
        .handle_signals(false)
        .start()
        .unwrap();
    let result = tokio::time::timeout(Duration::from_secs(60), sup.run())
        .await
        .expect("run() returns once nothing is active");
    assert!(
        began.elapsed() >= Duration::from_secs(3) && began.elapsed() < Duration::from_secs(4),
        "{:?}",
        began.elapsed()
    );
    assert_eq!(
        failed_names(&result),
        ["lc-run-failing"],
        "{result:?} {:#?}",
        sup.snapshot()
    );
    assert_status(&sup, "lc-run-ok", Status::Completed);
}

#[tokio::test(start_paused = true)]
async fn wait_returns_once_every_service_has_ended() {
    let began = tokio::time::Instant::now();
    let services = ["lc-wait-short", "lc-wait-long"];
    let sup = start_only(&services);
    assert_eq!(sup.active_count(), services.len(), "{:#?}", sup.snapshot());
    wait_idle(&sup, EVENTUALLY).await;
    let elapsed = began.elapsed();
    // Event driven: it returns as the last service ends (give or take the
    // timer's millisecond), not at the next tick of some polling interval.
    assert!(
        elapsed >= WAIT_LONG && elapsed <= WAIT_LONG + Duration::from_millis(2),
        "wait() returned after {elapsed:?}: {:#?}",
        sup.snapshot()
    );
    assert_eq!(sup.active_count(), 0);
    for name in services {
        assert_status(&sup, name, Status::Completed);
    }
    // Waiting again on an idle supervisor returns at once.
    tokio::time::timeout(Duration::from_millis(1), sup.wait())
        .await
        .expect("an idle supervisor's wait() is immediate");
}

#[tokio::test(start_paused = true)]
async fn ok_returning_backoff_service_is_completed_not_restarted() {
    let sup = start_only(&["lc-backoff-ok"]);
    wait_idle(&sup, EVENTUALLY).await;
    tokio::time::sleep(Duration::from_secs(120)).await;
    let r = row(&sup, "lc-backoff-ok");
    assert_eq!(r.status, Status::Completed, "{:#?}", sup.snapshot());
    assert_eq!(r.restarts, 0, "{:#?}", sup.snapshot());
    assert_eq!(
        BACKOFF_OK_RUNS.load(Ordering::SeqCst),
        1,
        "{:#?}",
        sup.snapshot()
    );
}

// Uptime and `started_at` are wall-clock (`std::time::Instant`), so these two
// tests run on the real clock.

#[tokio::test]
async fn uptime_of_a_finished_service_is_its_last_run() {
    let before = Instant::now();
    let sup = start_only(&["lc-uptime"]);
    wait_idle(&sup, EVENTUALLY).await;
    let r = row(&sup, "lc-uptime");
    assert_eq!(r.status, Status::Completed, "{:#?}", sup.snapshot());
    assert_eq!(r.restarts, 1, "{:#?}", sup.snapshot());
    assert!(
        r.started_at >= before + Duration::from_millis(100),
        "started_at is the start of the last run (after the 100 ms backoff): {r:#?}"
    );
    assert!(
        r.uptime >= UPTIME_RUN && r.uptime < UPTIME_RUN + Duration::from_secs(2),
        "{r:#?}"
    );
    tokio::time::sleep(Duration::from_millis(200)).await;
    assert_eq!(
        row(&sup, "lc-uptime").uptime,
        r.uptime,
        "a finished service's uptime no longer grows: {:#?}",
        sup.snapshot()
    );
}

#[tokio::test]
async fn started_at_is_set_and_uptime_of_a_stopped_service_ends_when_shutdown_began() {
    let before = Instant::now();
    let sup = start_only(&["lc-uptime-stopped"]);
    let after = Instant::now();
    let r = row(&sup, "lc-uptime-stopped");
    assert!(
        r.started_at >= before && r.started_at <= after,
        "started_at is the moment it started: {r:#?}"
    );

    tokio::time::sleep(Duration::from_millis(100)).await;
    let shutdown_called = Instant::now();
    let result = sup.shutdown(Duration::from_secs(5)).await;
    assert!(result.is_ok(), "{result:?} {:#?}", sup.snapshot());
    let r = row(&sup, "lc-uptime-stopped");
    assert_eq!(r.status, Status::Stopped, "{:#?}", sup.snapshot());
    let up_to_shutdown = shutdown_called.duration_since(r.started_at);
    // The 500 ms cleanup after cancellation is not counted.
    assert!(
        r.uptime >= Duration::from_millis(100) && r.uptime < up_to_shutdown + CLEANUP / 2,
        "uptime {:?}, shutdown called {up_to_shutdown:?} after the start: {r:#?}",
        r.uptime
    );
}

#[test]
fn status_displays_in_words() {
    let cases = [
        (Status::Queued, vec!["queued"]),
        (Status::Running, vec!["running"]),
        (
            Status::Restarting { attempt: 2, max: 5 },
            vec!["restarting", "2", "5"],
        ),
        (Status::Completed, vec!["completed"]),
        (Status::Stopped, vec!["stopped"]),
        (Status::Aborted, vec!["aborted"]),
        (
            Status::Failed {
                reason: "out of cheese".into(),
            },
            vec!["failed", "out of cheese"],
        ),
    ];
    for (status, words) in cases {
        let text = status.to_string().to_lowercase();
        for word in words {
            assert!(text.contains(word), "`{status:?}` displays as {text:?}");
        }
    }
}

#[tokio::test(start_paused = true)]
async fn rows_and_table_display_every_service() {
    let sup = start_only(&["lc-table-ok", "lc-table-failing"]);
    wait_idle(&sup, EVENTUALLY).await;
    for r in sup.snapshot() {
        let line = r.to_string();
        assert!(!line.contains('\n'), "one row is one line: {line:?}");
        assert!(line.contains(&*r.name), "{line:?}");
    }
    let failing = row(&sup, "lc-table-failing").to_string();
    assert!(failing.contains("failed"), "{failing:?}");
    assert!(failing.contains("table reason"), "{failing:?}");
    assert!(row(&sup, "lc-table-ok").to_string().contains("completed"));

    let table = sup.to_string();
    assert!(table.lines().count() >= 2, "{table}");
    for name in ["lc-table-ok", "lc-table-failing"] {
        assert!(table.contains(name), "{table}");
    }
}
