//! Regressions found by probing the crate as a hostile user would: a
//! supervisor whose runtime is gone, errors whose `Display` panics, a panic
//! while a service is dropped at shutdown, aborts that must reach the run's
//! `Context`, and blocking work on tokio's paused clock.

use std::fmt;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::Duration;

use supervisor::{
    supervised, BlockingError, Context, Error, RestartPolicy, Status, TaskDescriptor,
};
use tests::{
    assert_status, backoff, counted, failure_reason, failures, idle_task, next, spawn_idle,
    start_empty, start_only, status, wait_idle, Poll,
};
use tokio::sync::mpsc;

/// Longest wait for something that must happen.
const EVENTUALLY: Duration = Duration::from_secs(10);

fn current_thread_runtime() -> tokio::runtime::Runtime {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime")
}

// ------------------------------------------------- the runtime went away

/// A supervisor kept beyond its runtime (a `static` shared by two
/// `#[tokio::test]`s does this): `shutdown` from another runtime returns,
/// and `spawn` says the task cannot run rather than accepting it.
#[test]
fn shutdown_returns_and_spawn_refuses_once_the_runtime_is_gone() {
    let first = current_thread_runtime();
    let sup = first.block_on(async {
        let sup = start_empty();
        spawn_idle(&sup, "rg-idle");
        tokio::task::yield_now().await;
        sup
    });
    drop(first);

    let second = current_thread_runtime();
    second.block_on(async {
        match sup.spawn(idle_task("rg-late")) {
            Err(Error::RuntimeGone { name }) => assert_eq!(&*name, "rg-late"),
            other => panic!("expected RuntimeGone naming the task, got {other:?}\n{sup}"),
        }
        let err = sup.spawn(idle_task("rg-late")).unwrap_err();
        assert!(
            err.to_string().contains("rg-late") && err.to_string().contains("runtime"),
            "the error names the task and says why: {err}"
        );
        let job = sup.spawn_blocking("rg-job", || 1);
        assert_eq!(job.join().await, Err(BlockingError::SupervisorDropped));

        let result =
            tokio::time::timeout(Duration::from_secs(5), sup.shutdown(Duration::from_secs(1)))
                .await
                .unwrap_or_else(|_| panic!("shutdown hung after the runtime went away\n{sup}"));
        assert!(result.is_ok(), "{result:?}");
        assert_eq!(sup.active_count(), 0, "{sup}");
        assert_eq!(status(&sup, "rg-idle"), Status::Aborted);
    });
}

/// The runtime goes away in the middle of a shutdown that waits for a
/// service's cleanup: a later `shutdown` from elsewhere still returns.
#[test]
fn a_shutdown_interrupted_by_the_runtimes_end_can_be_finished_elsewhere() {
    let first = current_thread_runtime();
    let sup = first.block_on(async {
        let sup = start_empty();
        sup.spawn(TaskDescriptor::new(
            "rg-slow-cleanup",
            RestartPolicy::Never,
            |ctx| async move {
                ctx.cancelled().await;
                std::future::pending::<()>().await;
                Ok::<(), std::io::Error>(())
            },
        ))
        .expect("spawn");
        tokio::task::yield_now().await;
        // Begin a shutdown, give it a moment, then drop the runtime under it.
        let pending = tokio::time::timeout(
            Duration::from_millis(20),
            sup.shutdown(Duration::from_secs(3600)),
        )
        .await;
        assert!(pending.is_err(), "the cleanup never ends on its own");
        sup
    });
    drop(first);

    let second = current_thread_runtime();
    let result = second.block_on(async {
        tokio::time::timeout(Duration::from_secs(5), sup.shutdown(Duration::from_secs(1))).await
    });
    assert!(
        result.is_ok(),
        "shutdown hung after the runtime went away\n{sup}"
    );
    assert_eq!(sup.active_count(), 0, "{sup}");
}

// ------------------------------------------- an error that cannot display

#[derive(Debug)]
struct Unprintable;

impl fmt::Display for Unprintable {
    fn fmt(&self, _: &mut fmt::Formatter<'_>) -> fmt::Result {
        panic!("this error refuses to be displayed")
    }
}

impl std::error::Error for Unprintable {}

#[tokio::test(start_paused = true)]
async fn an_error_whose_display_panics_is_a_failure_like_any_other() {
    let sup = start_empty();
    let (runs, factory) = counted(|_ctx| async { Err::<(), _>(Unprintable) });
    sup.spawn(TaskDescriptor::new(
        "bad-display",
        backoff(3, Duration::from_millis(10)),
        factory,
    ))
    .expect("spawn");
    wait_idle(&sup, EVENTUALLY).await;
    assert_eq!(runs.load(Ordering::SeqCst), 4, "restarted 3 times\n{sup}");
    let reason = failure_reason(&sup, "bad-display");
    assert!(
        reason.contains("could not be displayed")
            && reason.contains("this error refuses to be displayed"),
        "the reason says what happened: {reason}"
    );
    let result = sup.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        failures(&result).first().map(|(name, _)| name.as_str()),
        Some("bad-display"),
        "{result:?}"
    );
}

/// The error's source chain is displayed too: one link that panics is noted
/// and the rest still shows.
#[tokio::test(start_paused = true)]
async fn an_error_chain_with_a_panicking_source_keeps_its_outer_text() {
    #[derive(Debug)]
    struct Outer(Unprintable);
    impl fmt::Display for Outer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str("loading the catalogue")
        }
    }
    impl std::error::Error for Outer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            Some(&self.0)
        }
    }
    let sup = start_empty();
    sup.spawn(TaskDescriptor::new(
        "bad-source",
        RestartPolicy::Never,
        |_ctx| async { Err::<(), _>(Outer(Unprintable)) },
    ))
    .expect("spawn");
    wait_idle(&sup, EVENTUALLY).await;
    let reason = failure_reason(&sup, "bad-source");
    assert!(
        reason.starts_with("loading the catalogue: ") && reason.contains("could not be displayed"),
        "{reason}"
    );
}

// ----------------------------------------------- a panic while dropped

struct PanicsOnDrop;

impl Drop for PanicsOnDrop {
    fn drop(&mut self) {
        panic!("the connection pool panicked while closing");
    }
}

/// Holds state that panics when dropped, and has no `Context`: shutdown
/// drops it.
#[supervised(name = "hd-drop-bomb")]
async fn drop_bomb() {
    let _pool = PanicsOnDrop;
    std::future::pending::<()>().await;
}

#[tokio::test(start_paused = true)]
async fn a_panic_while_dropped_at_shutdown_is_a_failure() {
    let sup = start_only(&["hd-drop-bomb"]);
    tokio::task::yield_now().await;
    let result = sup.shutdown(Duration::from_secs(5)).await;
    let reason = failure_reason(&sup, "hd-drop-bomb");
    assert!(reason.contains("panicked while closing"), "{reason}");
    assert_eq!(
        failures(&result).first().map(|(name, _)| name.as_str()),
        Some("hd-drop-bomb"),
        "{result:?}"
    );
}

// ------------------------------------- abort and replacement stop the run

static CRUNCH_STARTED: AtomicU32 = AtomicU32::new(0);
static CRUNCH_SAW_CANCEL: AtomicBool = AtomicBool::new(false);

/// Works until its `Context` says stop, then records that it saw it.
#[supervised(name = "hd-crunch", blocking)]
fn crunch(ctx: Context) {
    CRUNCH_STARTED.fetch_add(1, Ordering::SeqCst);
    while !ctx.is_cancelled() {
        std::thread::sleep(Duration::from_millis(1));
    }
    CRUNCH_SAW_CANCEL.store(true, Ordering::SeqCst);
}

/// Real time: the service's thread works while the test waits.
#[tokio::test]
async fn abort_reaches_the_context_of_a_blocking_run() {
    let sup = start_only(&["hd-crunch"]);
    let poll = Poll {
        every: Duration::from_millis(2),
        within: EVENTUALLY,
    };
    poll.until(&sup, "the thread to start", || {
        CRUNCH_STARTED.load(Ordering::SeqCst) == 1
    })
    .await;
    assert!(sup.abort("hd-crunch"));
    assert_status(&sup, "hd-crunch", Status::Aborted);
    poll.until(
        &sup,
        "the aborted thread to see its Context cancelled",
        || CRUNCH_SAW_CANCEL.load(Ordering::SeqCst),
    )
    .await;
    assert!(
        !sup.cancellation_token().is_cancelled(),
        "only that run was told"
    );
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}

/// A task that hands `ctx.token()` and a clone of its `Context` to
/// sub-tasks, which report on `told` when they see cancellation.
fn with_subtasks(name: &str, told: &mpsc::UnboundedSender<String>) -> TaskDescriptor {
    let told = told.clone();
    TaskDescriptor::new(name, RestartPolicy::Never, move |ctx| {
        let told = told.clone();
        async move {
            let token = ctx.token();
            let tx = told.clone();
            let tag = format!("{}#{}", ctx.name(), "token");
            tokio::spawn(async move {
                token.cancelled().await;
                let _ = tx.send(tag);
            });
            let clone = ctx.clone();
            let tag = format!("{}#{}", ctx.name(), "clone");
            tokio::spawn(async move {
                clone.cancelled().await;
                assert!(clone.is_cancelled());
                let _ = told.send(tag);
            });
            ctx.cancelled().await;
            Ok::<(), std::io::Error>(())
        }
    })
}

#[tokio::test(start_paused = true)]
async fn abort_cancels_the_tokens_and_contexts_a_run_handed_out() {
    let sup = start_empty();
    let (told_tx, mut told) = mpsc::unbounded_channel();
    let handle = sup.spawn(with_subtasks("hd-sub", &told_tx)).expect("spawn");
    tokio::task::yield_now().await;
    assert!(handle.abort());
    let mut seen = vec![
        next(&mut told, EVENTUALLY, "a sub-task to be told", &sup).await,
        next(&mut told, EVENTUALLY, "a sub-task to be told", &sup).await,
    ];
    seen.sort();
    assert_eq!(seen, ["hd-sub#clone", "hd-sub#token"]);
    assert!(!sup.cancellation_token().is_cancelled());
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}

#[tokio::test(start_paused = true)]
async fn replacement_cancels_the_old_runs_tokens_and_not_the_new_ones() {
    let sup = start_empty();
    let (old_tx, mut old) = mpsc::unbounded_channel();
    let (new_tx, mut new) = mpsc::unbounded_channel();
    sup.spawn(with_subtasks("hd-replaced", &old_tx))
        .expect("spawn");
    tokio::task::yield_now().await;
    sup.spawn(with_subtasks("hd-replaced", &new_tx))
        .expect("spawn");
    tokio::task::yield_now().await;
    for _ in 0..2 {
        next(
            &mut old,
            EVENTUALLY,
            "the old run's sub-tasks to be told",
            &sup,
        )
        .await;
    }
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert!(
        new.try_recv().is_err(),
        "the new run's sub-tasks were cancelled too\n{sup}"
    );
    assert_status(&sup, "hd-replaced", Status::Running);
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
    for _ in 0..2 {
        next(&mut new, EVENTUALLY, "shutdown to reach the new run", &sup).await;
    }
}

// ----------------------------------------- blocking work on a paused clock

static CLEANUP_STARTED: AtomicBool = AtomicBool::new(false);

/// Takes 20 ms (of real time, on its thread) to clean up.
#[supervised(name = "hd-slow-cleanup", blocking)]
fn slow_cleanup(ctx: Context) {
    CLEANUP_STARTED.store(true, Ordering::SeqCst);
    while !ctx.is_cancelled() {
        std::thread::sleep(Duration::from_millis(1));
    }
    std::thread::sleep(Duration::from_millis(20));
}

/// The paused clock must not run past the deadline while our threads work
/// (tokio's own blocking pool behaves the same).
#[tokio::test(start_paused = true)]
async fn on_a_paused_clock_shutdown_waits_for_running_blocking_work() {
    let sup = start_only(&["hd-slow-cleanup"]);
    let job = sup.spawn_blocking("hd-50ms-job", || {
        std::thread::sleep(Duration::from_millis(50));
        7
    });
    while !CLEANUP_STARTED.load(Ordering::SeqCst) {
        tokio::task::yield_now().await;
    }
    let real = std::time::Instant::now();
    let result = sup.shutdown(Duration::from_secs(10)).await;
    assert!(result.is_ok(), "{result:?}\n{sup}");
    assert!(
        real.elapsed() >= Duration::from_millis(20),
        "{:?}",
        real.elapsed()
    );
    assert_eq!(status(&sup, "hd-slow-cleanup"), Status::Stopped, "{sup}");
    assert_eq!(job.join().await, Ok(7), "{sup}");
}

// ---------------------------------------------------- names the table cannot show

/// `spawn` and the jobs refuse what the attribute refuses, saying why.
#[tokio::test]
async fn run_time_names_follow_the_attributes_rule() {
    let sup = start_empty();
    for (name, why) in [
        ("", "is empty"),
        ("two words", "contains whitespace"),
        ("line\nbreak", "contains whitespace"),
        ("nul\0byte", "a control character"),
        ("red\u{1b}[31m", "a control character"),
    ] {
        match sup.spawn(idle_task(name)) {
            Err(err @ Error::InvalidName { .. }) => {
                let text = err.to_string();
                assert!(text.contains(why), "{name:?}: {text}");
                assert!(text.contains(&format!("{name:?}")), "names it: {text}");
            }
            other => panic!("{name:?} was accepted: {other:?}"),
        }
        let job = sup.spawn_blocking(name, || ());
        match job.join().await {
            Err(err @ BlockingError::InvalidName { .. }) => {
                assert!(err.to_string().contains(why), "{name:?}: {err}")
            }
            other => panic!("the job {name:?} was accepted: {other:?}"),
        }
        let job = sup.spawn_oneshot(name, |_ctx| async {});
        assert!(
            matches!(job.join().await, Err(BlockingError::InvalidName { .. })),
            "{name:?}"
        );
    }
    assert!(sup.snapshot().is_empty(), "nothing got a row\n{sup}");
    spawn_idle(&sup, "数据库-primary");
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}
