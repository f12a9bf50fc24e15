//! When the program ends on its own: critical services, restart intensity,
//! and restart policies replaced at run time.

use std::process::Command;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::{Duration, Instant};

use supervisor::{supervised, Builder, Context, Error, RestartPolicy, Status, TaskDescriptor};
use tests::{assert_status, backoff, start_only, status, Poll};

const EVENTUALLY: Duration = Duration::from_secs(10);
const POLL: Poll = Poll {
    every: Duration::from_millis(1),
    within: EVENTUALLY,
};

// ------------------------------------------------------- critical services

#[supervised(name = "crit-fails", critical, restart = backoff(2, "1s"))]
async fn crit_fails() -> Result<(), String> {
    Err("port 8080 is taken".into())
}

#[supervised(name = "crit-bystander")]
async fn crit_bystander(ctx: Context) {
    ctx.cancelled().await;
}

#[tokio::test(start_paused = true)]
async fn a_critical_failure_ends_run_with_an_error_naming_it() {
    let sup = start_only(&["crit-fails", "crit-bystander"]);
    let started = tokio::time::Instant::now();
    let result = sup.run().await;
    // Two restarts (1 s, 2 s) first: the policy still applies.
    assert!(started.elapsed() >= Duration::from_secs(3));
    match &result {
        Err(Error::CriticalFailed {
            service, reason, ..
        }) => {
            assert_eq!(&**service, "crit-fails");
            assert_eq!(reason, "port 8080 is taken");
        }
        other => panic!("expected CriticalFailed, got {other:?}\n{sup}"),
    }
    let text = result.unwrap_err().to_string();
    assert!(
        text.contains("crit-fails") && text.contains("critical"),
        "{text}"
    );
    assert_status(&sup, "crit-bystander", Status::Stopped);
}

#[supervised(name = "crit-done", critical)]
async fn crit_done() {
    tokio::time::sleep(Duration::from_secs(1)).await;
}

#[tokio::test(start_paused = true)]
async fn a_critical_service_that_returns_ok_ends_run_cleanly() {
    let sup = start_only(&["crit-done", "crit-bystander"]);
    let result = sup.run().await;
    assert!(result.is_ok(), "{result:?}\n{sup}");
    assert_status(&sup, "crit-done", Status::Completed);
    assert_status(&sup, "crit-bystander", Status::Stopped);
}

/// The critical service's end is the program's: exit code 1 when it failed,
/// 0 when it returned `Ok`, with no signal sent.
#[test]
fn a_critical_service_decides_the_exit_code() {
    for (mode, code) in [("fail", 1), ("ok", 0)] {
        let started = Instant::now();
        let output = Command::new(env!("CARGO_BIN_EXE_critical"))
            .env("CRITICAL_MODE", mode)
            .output()
            .expect("the critical binary runs");
        assert_eq!(
            output.status.code(),
            Some(code),
            "{mode}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        assert!(
            started.elapsed() < EVENTUALLY,
            "{mode}: took {:?}",
            started.elapsed()
        );
        if mode == "fail" {
            let stderr = String::from_utf8_lossy(&output.stderr);
            assert!(
                stderr.contains("`server`") && stderr.contains("address in use"),
                "{stderr}"
            );
        }
    }
}

// ---------------------------------------------------------- intensity

#[tokio::test(start_paused = true)]
async fn exceeding_the_restart_intensity_ends_the_program() {
    let sup = Builder::new()
        .only(Vec::<String>::new())
        .restart_intensity(4, Duration::from_secs(60))
        .start()
        .expect("start");
    for name in ["int-a", "int-b"] {
        sup.spawn(TaskDescriptor::new(
            name,
            backoff(100, Duration::from_secs(1)),
            |_ctx| async { Err::<(), _>("refused") },
        ))
        .expect("spawn");
    }
    let started = tokio::time::Instant::now();
    let result = sup.run().await;
    // a and b restart together at 1 s, 3 s, then 7 s: the fifth restart
    // (more than 4) happens at 7 s.
    let took = started.elapsed();
    assert!(
        took >= Duration::from_secs(7) && took < Duration::from_secs(8),
        "{took:?}"
    );
    match &result {
        Err(Error::RestartIntensity { max, restarted, .. }) => {
            assert_eq!(*max, 4);
            let total: u32 = restarted.iter().map(|(_, n)| n).sum();
            assert_eq!(total, 5, "{restarted:?}");
            assert_eq!(restarted[0].1, 3, "most first: {restarted:?}");
        }
        other => panic!("expected RestartIntensity, got {other:?}\n{sup}"),
    }
    let text = result.unwrap_err().to_string();
    assert!(text.contains("int-a") && text.contains("int-b"), "{text}");
}

#[tokio::test(start_paused = true)]
async fn restarts_spread_over_more_than_the_window_are_fine() {
    let sup = Builder::new()
        .only(Vec::<String>::new())
        .restart_intensity(2, Duration::from_secs(10))
        .start()
        .expect("start");
    // A restart every 30 s or so (the delay doubles from 30 s, capped at 60 s).
    sup.spawn(TaskDescriptor::new(
        "int-slow",
        backoff(5, Duration::from_secs(30)),
        |_ctx| async { Err::<(), _>("refused") },
    ))
    .expect("spawn");
    tests::wait_idle(&sup, Duration::from_secs(600)).await;
    assert!(
        matches!(status(&sup, "int-slow"), Status::Failed { .. }),
        "{sup}"
    );
    assert_eq!(tests::row(&sup, "int-slow").restarts, 5);
    assert!(!sup.cancellation_token().is_cancelled(), "no shutdown");
}

// ------------------------------------------------- policies at run time

static STRICT_RUNS: AtomicU32 = AtomicU32::new(0);

#[supervised(name = "pol-strict", restart = never)]
async fn strict() -> Result<(), String> {
    STRICT_RUNS.fetch_add(1, Ordering::SeqCst);
    Err("flaky upstream".into())
}

#[tokio::test(start_paused = true)]
async fn an_overridden_policy_shows_in_restarting() {
    let sup = Builder::new()
        .only(["pol-strict"])
        .restart(
            "pol-strict",
            RestartPolicy::Backoff {
                max: 7,
                base_delay: Duration::from_secs(5),
            },
        )
        .start()
        .expect("start");
    POLL.until(&sup, "a restart", || {
        status(&sup, "pol-strict") == Status::Restarting { attempt: 1, max: 7 }
    })
    .await;
    sup.shutdown(Duration::from_secs(1)).await.ok();
    assert_eq!(STRICT_RUNS.load(Ordering::SeqCst), 1);
}

#[tokio::test]
async fn a_policy_for_an_unknown_name_is_refused() {
    let err = Builder::new()
        .only(Vec::<String>::new())
        .restart("no-such-service", RestartPolicy::Never)
        .start()
        .map(|_| ())
        .expect_err("unknown name");
    assert!(matches!(err, Error::UnknownServices { .. }), "{err}");
    assert!(err.to_string().contains("no-such-service"), "{err}");
}
