//! Jobs with a typed result: `spawn_blocking`, `spawn_oneshot`,
//! `BlockingHandle::{join, try_join, abort}` and `BlockingSpawner`.
//!
//! These run on the real clock: tokio's paused clock jumps ahead whenever the
//! runtime is idle, which it is while a closure works on an OS thread. Every
//! wait is for an event (a channel message, the supervisor's token, `wait`);
//! the only fixed windows are the ones that prove something does *not* happen.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{mpsc as std_mpsc, Arc};
use std::time::{Duration, Instant};

use supervisor::{
    BlockingError, BlockingHandle, BlockingSpawner, Error, Status, Supervisor, MAX_BLOCKING,
};
use tests::{
    assert_status, held_job, names, next, row, rows_named, shutdown_in_background, start_empty,
    wait_idle,
};
use tokio::sync::mpsc;

/// Longest wait for something that must happen.
const EVENTUALLY: Duration = Duration::from_secs(10);
/// How long something that must not happen is given to happen anyway.
const QUIET: Duration = Duration::from_millis(300);

async fn join_within<R>(handle: BlockingHandle<R>, sup: &Supervisor) -> Result<R, BlockingError> {
    tokio::time::timeout(EVENTUALLY, handle.join())
        .await
        .unwrap_or_else(|_| panic!("join did not return\n{sup}"))
}

/// Checks that a job ended `Aborted`, as its `join` and its row tell.
async fn assert_aborted<R>(handle: BlockingHandle<R>, sup: &Supervisor)
where
    R: std::fmt::Debug + PartialEq,
{
    let name = handle.name().to_string();
    assert_eq!(
        join_within(handle, sup).await,
        Err(BlockingError::Aborted),
        "{sup}"
    );
    assert_status(sup, &name, Status::Aborted);
}

/// A [`held_job`] with its gate.
type Held = (BlockingHandle<usize>, std_mpsc::Sender<()>);

/// A [`held_job`] named `name`, returned once its closure runs.
async fn running_held_job(sup: &Supervisor, name: &str, tag: usize) -> Held {
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let held = held_job(sup, name, tag, &started_tx);
    next(&mut started, EVENTUALLY, "the closure to start", sup).await;
    held
}

/// Takes every blocking slot: `MAX_BLOCKING` held jobs named `{prefix}-{i}`
/// with tag `i`. Returns them once each has started, with the tags in the
/// order they started.
async fn hold_every_slot(
    sup: &Supervisor,
    prefix: &str,
    started_tx: &mpsc::UnboundedSender<usize>,
    started: &mut mpsc::UnboundedReceiver<usize>,
) -> (Vec<Held>, Vec<usize>) {
    let held = (0..MAX_BLOCKING)
        .map(|i| held_job(sup, &format!("{prefix}-{i}"), i, started_tx))
        .collect();
    let mut tags = Vec::new();
    for _ in 0..MAX_BLOCKING {
        tags.push(next(started, EVENTUALLY, "every slot's job to start", sup).await);
    }
    (held, tags)
}

/// Opens the gate of each held job and joins it.
async fn release(held: Vec<Held>, sup: &Supervisor) {
    for (handle, gate) in held {
        gate.send(()).expect("gate");
        join_within(handle, sup).await.expect("value");
    }
}

#[tokio::test]
async fn spawn_blocking_returns_values_through_join() {
    let sup = start_empty();
    let jobs: Vec<_> = (0..20u64)
        .map(|i| sup.spawn_blocking(format!("bj-value-{i}"), move || i * i))
        .collect();
    let mut total = 0;
    for job in jobs {
        assert!(job.name().starts_with("bj-value-"));
        total += join_within(job, &sup).await.expect("no panic");
    }
    assert_eq!(total, (0..20u64).map(|i| i * i).sum::<u64>());
    wait_idle(&sup, EVENTUALLY).await;
    for r in sup.snapshot() {
        assert_eq!(r.status, Status::Completed, "{sup}");
    }
    let owned = sup.spawn_blocking("bj-value-string", || String::from("owned value"));
    assert_eq!(join_within(owned, &sup).await.as_deref(), Ok("owned value"));
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}

#[tokio::test]
async fn try_join_gives_the_handle_back_until_the_value_is_there() {
    let sup = start_empty();
    let (handle, gate) = running_held_job(&sup, "bj-try-join", 17).await;

    let handle = handle
        .try_join()
        .expect_err("the closure is still blocked: the handle comes back");
    assert_eq!(handle.name(), "bj-try-join");
    assert_status(&sup, "bj-try-join", Status::Running);

    gate.send(()).expect("the closure waits on its gate");
    wait_idle(&sup, EVENTUALLY).await;
    match handle.try_join() {
        Ok(result) => assert_eq!(result, Ok(17), "{sup}"),
        Err(_) => panic!("the job has ended: try_join must give its value\n{sup}"),
    }
    assert_status(&sup, "bj-try-join", Status::Completed);
}

/// Regression: only `MAX_BLOCKING` (8) closures run at once; the 9th waits,
/// `Queued` and active, and starts as soon as one of the 8 returns.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ninth_blocking_job_waits_for_a_free_slot() {
    assert_eq!(MAX_BLOCKING, 8);
    let sup = start_empty();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (mut held, mut running) = hold_every_slot(&sup, "bj-slot", &started_tx, &mut started).await;
    running.sort_unstable();
    assert_eq!(running, (0..MAX_BLOCKING).collect::<Vec<_>>());

    let (ninth, ninth_gate) = held_job(&sup, "bj-slot-ninth", 99, &started_tx);
    assert_eq!(
        sup.active_count(),
        MAX_BLOCKING + 1,
        "a queued job is active\n{sup}"
    );
    assert!(
        tokio::time::timeout(QUIET, started.recv()).await.is_err(),
        "the 9th closure must not start while 8 run\n{sup}"
    );
    assert_status(&sup, "bj-slot-ninth", Status::Queued);
    assert_eq!(sup.active_count(), MAX_BLOCKING + 1, "{sup}");

    // Free one slot: the 9th starts.
    let (third, third_gate) = held.remove(3);
    third_gate.send(()).expect("gate");
    assert_eq!(join_within(third, &sup).await, Ok(3), "{sup}");
    assert_eq!(
        next(
            &mut started,
            EVENTUALLY,
            "the 9th to start once a slot is free",
            &sup
        )
        .await,
        99
    );
    assert_status(&sup, "bj-slot-ninth", Status::Running);
    assert_status(&sup, "bj-slot-3", Status::Completed);
    assert_eq!(sup.active_count(), MAX_BLOCKING, "{sup}");

    ninth_gate.send(()).expect("gate");
    assert_eq!(join_within(ninth, &sup).await, Ok(99));
    release(held, &sup).await;
    wait_idle(&sup, EVENTUALLY).await;
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}

/// A slot is freed when its closure really returns, not when its job is
/// aborted (the thread cannot be stopped).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_aborted_running_closure_keeps_its_slot_until_it_returns() {
    let sup = start_empty();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (mut held, _) = hold_every_slot(&sup, "bj-keep-slot", &started_tx, &mut started).await;
    let (aborted, aborted_gate) = held.remove(0);
    aborted.abort();
    assert_aborted(aborted, &sup).await;
    assert_eq!(
        sup.active_count(),
        MAX_BLOCKING - 1,
        "the aborted job is no longer active\n{sup}"
    );

    let (ninth, ninth_gate) = held_job(&sup, "bj-keep-slot-ninth", 99, &started_tx);
    assert!(
        tokio::time::timeout(QUIET, started.recv()).await.is_err(),
        "the aborted closure still occupies its slot\n{sup}"
    );
    assert_status(&sup, "bj-keep-slot-ninth", Status::Queued);

    aborted_gate
        .send(())
        .expect("the aborted closure still runs");
    assert_eq!(
        next(
            &mut started,
            EVENTUALLY,
            "the 9th once the aborted closure returned",
            &sup
        )
        .await,
        99
    );
    assert_eq!(
        row(&sup, "bj-keep-slot-0").status,
        Status::Aborted,
        "its late return does not relabel the row\n{sup}"
    );
    ninth_gate.send(()).expect("gate");
    assert_eq!(join_within(ninth, &sup).await, Ok(99));
    release(held, &sup).await;
    sup.shutdown(Duration::from_secs(1))
        .await
        .expect("an abort on request is not an error");
}

#[tokio::test]
async fn a_panicking_closure_fails_with_its_message_and_the_supervisor_goes_on() {
    let sup = start_empty();
    let name = "bj-panics";
    let code = 7;
    let job = sup.spawn_blocking(name, move || -> u32 {
        panic!("blocking closure blew up with code {code}");
    });
    assert_eq!(
        join_within(job, &sup).await,
        Err(BlockingError::Panicked {
            message: "blocking closure blew up with code 7".into()
        }),
        "{sup}"
    );
    assert_eq!(
        row(&sup, name).status,
        Status::Failed {
            reason: "blocking closure blew up with code 7".into()
        },
        "{sup}"
    );
    assert_eq!(sup.active_count(), 0, "{sup}");

    let again = sup.spawn_blocking(name, || 5u32);
    assert_eq!(join_within(again, &sup).await, Ok(5), "{sup}");
    assert_status(&sup, name, Status::Completed);
    let other = sup.spawn_blocking("bj-after-panic", || "fine");
    assert_eq!(join_within(other, &sup).await, Ok("fine"), "{sup}");
    sup.shutdown(Duration::from_secs(1))
        .await
        .expect("the failed job was replaced in its row by a completed one");
}

#[tokio::test]
async fn blocking_handle_abort_ends_the_job_aborted() {
    let sup = start_empty();
    let (handle, gate) = running_held_job(&sup, "bj-abort-running", 1).await;
    handle.abort();
    handle.abort(); // a second abort is harmless
    assert_aborted(handle, &sup).await;
    assert_eq!(sup.active_count(), 0, "{sup}");
    drop(gate); // let the detached closure return

    let oneshot = sup.spawn_oneshot("bj-abort-oneshot", |ctx| async move {
        ctx.cancelled().await;
        "never seen"
    });
    oneshot.abort();
    assert_aborted(oneshot, &sup).await;
    assert!(
        !sup.abort("bj-abort-oneshot"),
        "nothing left to abort\n{sup}"
    );

    sup.shutdown(Duration::from_secs(1))
        .await
        .expect("aborts on request are not errors");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn aborting_a_queued_job_means_it_never_runs() {
    let sup = start_empty();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (held, _) = hold_every_slot(&sup, "bj-abort-queued", &started_tx, &mut started).await;
    let (queued, _queued_gate) = held_job(&sup, "bj-abort-queued-ninth", 99, &started_tx);
    assert_status(&sup, "bj-abort-queued-ninth", Status::Queued);
    queued.abort();
    assert_aborted(queued, &sup).await;
    assert_eq!(sup.active_count(), MAX_BLOCKING, "{sup}");

    release(held, &sup).await;
    assert!(
        tokio::time::timeout(QUIET, started.recv()).await.is_err(),
        "the aborted queued closure never runs, even once slots are free\n{sup}"
    );
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}

#[tokio::test]
async fn jobs_may_share_a_name_and_each_counts_as_active() {
    let sup = start_empty();
    let name = "bj-shared";
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let held: Vec<_> = (0..3)
        .map(|i| held_job(&sup, name, i, &started_tx))
        .collect();
    let jobs = held.len() + 1; // and the oneshot below
    let oneshot = sup.spawn_oneshot(name, |ctx| async move {
        ctx.cancelled().await;
        100
    });
    for _ in &held {
        next(
            &mut started,
            EVENTUALLY,
            "the shared-name jobs to start",
            &sup,
        )
        .await;
    }
    assert_eq!(sup.active_count(), jobs, "each job counts\n{sup}");
    assert_eq!(rows_named(&sup, name), 1, "one row per name\n{sup}");
    assert_status(&sup, name, Status::Running);

    for (i, (handle, gate)) in held.into_iter().enumerate() {
        gate.send(()).expect("gate");
        assert_eq!(join_within(handle, &sup).await, Ok(i), "{sup}");
    }
    assert_eq!(sup.active_count(), 1, "the oneshot still runs\n{sup}");
    sup.shutdown(Duration::from_secs(5)).await.expect("clean");
    assert_eq!(join_within(oneshot, &sup).await, Ok(100), "{sup}");
    assert_status(&sup, name, Status::Stopped);
    assert_eq!(sup.active_count(), 0, "{sup}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_stops_queued_jobs_and_lets_running_ones_finish() {
    let sup = start_empty();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let (held, _) = hold_every_slot(&sup, "bj-grace", &started_tx, &mut started).await;
    let (queued, _queued_gate) = held_job(&sup, "bj-grace-queued", 99, &started_tx);
    let cooperative = sup.spawn_oneshot("bj-grace-oneshot", |ctx| async move {
        ctx.cancelled().await;
        "said goodbye"
    });
    assert_status(&sup, "bj-grace-queued", Status::Queued);

    let began = Instant::now();
    let shutdown = shutdown_in_background(&sup, Duration::from_secs(10), EVENTUALLY).await;

    assert_eq!(
        join_within(queued, &sup).await,
        Err(BlockingError::Aborted),
        "a queued job never runs once shutdown began\n{sup}"
    );
    assert_status(&sup, "bj-grace-queued", Status::Stopped);
    assert_eq!(
        join_within(cooperative, &sup).await,
        Ok("said goodbye"),
        "{sup}"
    );
    assert_status(&sup, "bj-grace-oneshot", Status::Stopped);

    for (i, (handle, gate)) in held.into_iter().enumerate() {
        gate.send(()).expect("gate");
        assert_eq!(
            join_within(handle, &sup).await,
            Ok(i),
            "a closure finishing within the grace period keeps its value\n{sup}"
        );
        assert_eq!(
            row(&sup, &format!("bj-grace-{i}")).status,
            Status::Stopped,
            "{sup}"
        );
    }
    let result = tokio::time::timeout(EVENTUALLY, shutdown)
        .await
        .expect("shutdown returns")
        .expect("no panic");
    assert!(
        result.is_ok(),
        "everything stopped in time: {result:?}\n{sup}"
    );
    assert!(
        began.elapsed() < Duration::from_secs(10),
        "shutdown did not wait for the timeout\n{sup}"
    );
    assert!(
        tokio::time::timeout(QUIET, started.recv()).await.is_err(),
        "the queued closure never ran\n{sup}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closure_stuck_past_the_timeout_is_aborted_and_reported() {
    let sup = start_empty();
    let (stuck, gate) = running_held_job(&sup, "bj-stuck", 1).await;

    let timeout = Duration::from_millis(200);
    let began = Instant::now();
    let result = sup.shutdown(timeout).await;
    let took = began.elapsed();
    assert!(
        took >= timeout - Duration::from_millis(20) && took < Duration::from_secs(2),
        "shutdown returns right after its timeout: {took:?}\n{sup}"
    );
    match &result {
        Err(Error::Services { failures }) => {
            assert_eq!(failures.len(), 1, "{result:?}");
            assert_eq!(&*failures[0].name, "bj-stuck");
            assert_eq!(failures[0].status, Status::Aborted);
            assert!(!failures[0].forced, "the timeout, not a second signal");
        }
        other => panic!("expected an Err naming bj-stuck, got {other:?}\n{sup}"),
    }
    assert!(result.unwrap_err().to_string().contains("bj-stuck"));
    assert_status(&sup, "bj-stuck", Status::Aborted);
    assert_eq!(sup.active_count(), 0, "{sup}");
    assert_eq!(
        join_within(stuck, &sup).await,
        Err(BlockingError::Aborted),
        "{sup}"
    );
    drop(gate); // let the detached thread go
}

/// A job aborted by the shutdown deadline is an error of `shutdown`, even when
/// a later job under the same name (the one the row shows) has completed.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]

async fn a_stuck_job_is_reported_even_when_a_later_job_shares_its_name() {
    let sup = start_empty();
    let name = "bj-stuck-shared";
    let (stuck, gate) = running_held_job(&sup, name, 1).await;
    let quick = sup.spawn_blocking(name, || 2usize);
    assert_eq!(join_within(quick, &sup).await, Ok(2), "{sup}");
    assert_eq!(
        sup.active_count(),
        1,
        "the stuck job is still active, settled once `join` returned\n{sup}"
    );

    let result = sup.shutdown(Duration::from_millis(200)).await;
    assert_eq!(
        join_within(stuck, &sup).await,
        Err(BlockingError::Aborted),
        "{sup}"
    );
    drop(gate);
    let err = result.expect_err("a job was aborted by the shutdown timeout");
    assert!(err.to_string().contains(name), "{err}\n{sup}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_spawned_once_shutdown_began_get_no_row_and_report_aborted() {
    let sup = start_empty();
    let (holder, gate) = running_held_job(&sup, "bj-late-holder", 1).await;

    let shutdown = shutdown_in_background(&sup, Duration::from_secs(10), EVENTUALLY).await;

    // During the grace period.
    let ran = Arc::new(AtomicBool::new(false));
    let flag = Arc::clone(&ran);
    let late = sup.spawn_blocking("bj-late-during", move || flag.store(true, Ordering::SeqCst));
    let late_oneshot = sup.spawn_oneshot("bj-late-oneshot", |_ctx| async { 1 });
    assert_eq!(
        join_within(late, &sup).await,
        Err(BlockingError::Aborted),
        "{sup}"
    );
    assert_eq!(
        join_within(late_oneshot, &sup).await,
        Err(BlockingError::Aborted),
        "{sup}"
    );

    gate.send(()).expect("gate");
    assert_eq!(join_within(holder, &sup).await, Ok(1), "{sup}");
    tokio::time::timeout(EVENTUALLY, shutdown)
        .await
        .expect("shutdown returns")
        .expect("no panic")
        .expect("clean");

    // After it has finished.
    let flag = Arc::clone(&ran);
    let after = sup.spawn_blocking("bj-late-after", move || flag.store(true, Ordering::SeqCst));
    match after.try_join() {
        Ok(result) => assert_eq!(result, Err(BlockingError::Aborted), "{sup}"),
        Err(_) => panic!("a refused job has its answer at once\n{sup}"),
    }

    assert_eq!(
        names(&sup),
        ["bj-late-holder"],
        "late jobs get no row\n{sup}"
    );
    assert_eq!(sup.active_count(), 0, "{sup}");
    assert!(!ran.load(Ordering::SeqCst), "a refused closure never runs");
}

/// Once the runtime that ran the supervisor is gone, `join` returns
/// `SupervisorDropped` rather than hanging.
#[test]
fn join_after_the_runtime_is_dropped_reports_supervisor_dropped() {
    let current = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    let multi = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("runtime");
    let mut gates = Vec::new();
    let mut handles = Vec::new();
    for (flavor, runtime) in [("current_thread", current), ("multi_thread", multi)] {
        let (started_tx, mut started) = mpsc::unbounded_channel();
        let (oneshot, blocking, gate) = runtime.block_on(async {
            let sup = start_empty();
            let oneshot = sup.spawn_oneshot(format!("bj-orphan-{flavor}"), |_ctx| {
                std::future::pending::<usize>()
            });
            let name = format!("bj-orphan-blocking-{flavor}");
            let (blocking, gate) = held_job(&sup, &name, 7, &started_tx);
            next(
                &mut started,
                EVENTUALLY,
                "the blocking closure to start",
                &sup,
            )
            .await;
            (oneshot, blocking, gate)
        });
        drop(runtime);
        handles.push((flavor, oneshot, blocking));
        gates.push(gate);
    }

    let other = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("runtime");
    other.block_on(async {
        for (flavor, oneshot, blocking) in handles {
            for (kind, handle) in [("oneshot", oneshot), ("blocking", blocking)] {
                let result = tokio::time::timeout(EVENTUALLY, handle.join())
                    .await
                    .unwrap_or_else(|_| panic!("{flavor} {kind}: join hangs"));
                assert_eq!(
                    result,
                    Err(BlockingError::SupervisorDropped),
                    "{flavor} {kind}"
                );
            }
        }
    });
    drop(gates);
}

#[derive(Debug, PartialEq)]
struct Report {
    name: String,
    attempt: u32,
    lines: Vec<&'static str>,
}

#[tokio::test]
async fn spawn_oneshot_returns_typed_values_and_reports_panics() {
    let sup = start_empty();
    let report = sup.spawn_oneshot("bj-oneshot-report", |ctx| async move {
        tokio::task::yield_now().await;
        Report {
            name: ctx.name().to_string(),
            attempt: ctx.attempt(),
            lines: vec!["a", "b"],
        }
    });
    let result: Result<Result<u8, String>, BlockingError> = join_within(
        sup.spawn_oneshot("bj-oneshot-result", |_ctx| async { Ok(3u8) }),
        &sup,
    )
    .await;
    assert_eq!(result, Ok(Ok(3)));
    assert_eq!(
        join_within(report, &sup).await,
        Ok(Report {
            name: "bj-oneshot-report".into(),
            attempt: 0,
            lines: vec!["a", "b"],
        }),
        "{sup}"
    );
    assert_status(&sup, "bj-oneshot-report", Status::Completed);

    let after_await = sup.spawn_oneshot("bj-oneshot-panics", |_ctx| async {
        tokio::task::yield_now().await;
        if true {
            panic!("oneshot went wrong");
        }
        0u8
    });
    assert_eq!(
        join_within(after_await, &sup).await,
        Err(BlockingError::Panicked {
            message: "oneshot went wrong".into()
        }),
        "{sup}"
    );
    assert_eq!(
        row(&sup, "bj-oneshot-panics").status,
        Status::Failed {
            reason: "oneshot went wrong".into()
        },
        "{sup}"
    );

    let in_closure = sup.spawn_oneshot(
        "bj-oneshot-panics-early",
        |_ctx| -> std::future::Ready<u8> { panic!("no future at all") },
    );
    assert_eq!(
        join_within(in_closure, &sup).await,
        Err(BlockingError::Panicked {
            message: "no future at all".into()
        }),
        "{sup}"
    );
    assert_eq!(sup.active_count(), 0, "{sup}");

    let ok = sup.spawn_oneshot("bj-oneshot-after", |_ctx| async { "still works" });
    assert_eq!(join_within(ok, &sup).await, Ok("still works"), "{sup}");
}

/// Library code that only knows `&dyn BlockingSpawner`.
fn checksum_in_background(
    spawner: &dyn BlockingSpawner,
    data: Vec<u8>,
    out: std_mpsc::Sender<u64>,
) -> BlockingHandle<()> {
    spawner.spawn_blocking_named(
        "bj-spawner-checksum".into(),
        Box::new(move || {
            let sum = data.iter().map(|&b| u64::from(b)).sum();
            let _ = out.send(sum);
        }),
    )
}

#[tokio::test]
async fn blocking_spawner_works_through_a_trait_object() {
    let sup = start_empty();
    let (out, sums) = std_mpsc::channel();
    let handle = checksum_in_background(&sup, vec![1, 2, 3, 250], out.clone());
    assert_eq!(handle.name(), "bj-spawner-checksum");
    assert_eq!(join_within(handle, &sup).await, Ok(()), "{sup}");
    assert_eq!(sums.try_recv(), Ok(256));

    let shared: Arc<dyn BlockingSpawner> = Arc::new(sup.clone());
    let panics = shared.spawn_blocking_named(
        "bj-spawner-panics".into(),
        Box::new(|| panic!("boxed closure panicked")),
    );
    assert_eq!(
        join_within(panics, &sup).await,
        Err(BlockingError::Panicked {
            message: "boxed closure panicked".into()
        }),
        "{sup}"
    );
    assert_status(&sup, "bj-spawner-checksum", Status::Completed);
    assert!(
        matches!(row(&sup, "bj-spawner-panics").status, Status::Failed { .. }),
        "{sup}"
    );
}

/// Once `join` (or `try_join`) has the value, the job no longer counts as
/// active: a caller never sees its finished job in `active_count`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn active_count_is_settled_when_the_result_is_observed() {
    let sup = start_empty();
    for i in 0..500u32 {
        let mut job = sup.spawn_blocking("bj-settled", move || i);
        // Spin on try_join to look as early as possible.
        let value = loop {
            match job.try_join() {
                Ok(result) => break result,
                Err(pending) => {
                    job = pending;
                    std::hint::spin_loop();
                }
            }
        };
        assert_eq!(value, Ok(i));
        assert_eq!(sup.active_count(), 0, "run {i}\n{sup}");
        let oneshot = sup.spawn_oneshot("bj-settled-oneshot", move |_ctx| async move { i });
        assert_eq!(join_within(oneshot, &sup).await, Ok(i));
        assert_eq!(sup.active_count(), 0, "run {i}\n{sup}");
    }
}
