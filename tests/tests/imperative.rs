//! The imperative API of one supervisor: `Supervisor::spawn` with the same
//! restart semantics as the attribute, replacement of a running name,
//! `TaskHandle::abort`, `Supervisor::abort`, a factory that panics, and task
//! completions that race with `shutdown`.
//!
//! Time-driven tests run on tokio's paused clock: a `sleep` in the test only
//! returns once every task has done all the work it can do before that
//! instant, so "sleep 500 ms, then look" is an exact, event-ordered check.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;

use supervisor::{CancellationToken, Error, RestartPolicy, Status, Supervisor, TaskDescriptor};
use tests::{
    assert_status, backoff, completing_task, counted, next, row, rows_named, send_on_drop,
    spawn_completing, spawn_failing, spawn_idle, start_empty, until_cancelled,
};
use tokio::sync::mpsc;
use tokio::time::Instant;

/// Longest wait for a message; on the paused clock, an hour costs nothing.
const EVENTUALLY: Duration = Duration::from_secs(3600);

/// Spawns `name`, failing on every run under `backoff(5, base_delay)`, and
/// checks it is waiting for its first restart once `first` has passed (less
/// than `base_delay`). Returns the count of its runs.
async fn spawn_waiting_to_restart(
    sup: &Supervisor,
    name: &str,
    base_delay: Duration,
    first: Duration,
) -> Arc<AtomicU32> {
    let (calls, factory) = counted(|_ctx| async { Err::<(), _>("always fails") });
    sup.spawn(TaskDescriptor::new(name, backoff(5, base_delay), factory))
        .expect("spawn");
    tokio::time::sleep(first).await;
    assert_status(sup, name, Status::Restarting { attempt: 1, max: 5 });
    calls
}

#[tokio::test(start_paused = true)]
async fn spawned_task_restarts_with_backoff_then_fails_after_max() {
    let sup = start_empty();
    let name = "imp-backoff-fails";
    let (runs_tx, mut runs) = mpsc::unbounded_channel();
    let (calls, factory) = counted(move |ctx| {
        let runs_tx = runs_tx.clone();
        async move {
            assert_eq!(ctx.name(), "imp-backoff-fails");
            let _ = runs_tx.send((ctx.attempt(), Instant::now()));
            Err::<(), _>(format!("boom {}", ctx.attempt()))
        }
    });
    sup.spawn(TaskDescriptor::new(
        name,
        backoff(2, Duration::from_secs(1)),
        factory,
    ))
    .expect("spawn before shutdown succeeds");

    let (attempt, t0) = next(&mut runs, EVENTUALLY, "run 0", &sup).await;
    assert_eq!(attempt, 0);
    // Half-way through the first delay (1 s): waiting for restart 1 of 2.
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = row(&sup, name);
    assert_eq!(r.status, Status::Restarting { attempt: 1, max: 2 }, "{sup}");
    assert_eq!(r.restarts, 0, "{sup}");
    assert_eq!(r.last_failure.as_deref(), Some("boom 0"), "{sup}");
    assert_eq!(sup.active_count(), 1, "Restarting is active\n{sup}");

    let (attempt, t1) = next(&mut runs, EVENTUALLY, "run 1", &sup).await;
    assert_eq!(attempt, 1);
    let first_delay = t1 - t0;
    assert!(
        first_delay >= Duration::from_secs(1) && first_delay < Duration::from_millis(1010),
        "first delay is BASE: {first_delay:?}\n{sup}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    let r = row(&sup, name);
    assert_eq!(r.status, Status::Restarting { attempt: 2, max: 2 }, "{sup}");
    assert_eq!(r.restarts, 1, "{sup}");

    let (attempt, t2) = next(&mut runs, EVENTUALLY, "run 2", &sup).await;
    assert_eq!(attempt, 2);
    let second_delay = t2 - t1;
    assert!(
        second_delay >= Duration::from_secs(2) && second_delay < Duration::from_millis(2010),
        "second delay is 2·BASE: {second_delay:?}\n{sup}"
    );

    sup.wait().await;
    let r = row(&sup, name);
    assert_eq!(
        r.status,
        Status::Failed {
            reason: "boom 2".into()
        },
        "a third failure in a row is final with backoff(2, ..)\n{sup}"
    );
    assert_eq!(r.restarts, 2, "{sup}");
    assert_eq!(sup.active_count(), 0, "{sup}");

    // Nothing starts again, however long we wait.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(runs.try_recv().is_err(), "no run after Failed\n{sup}");
    assert_eq!(calls.load(Ordering::SeqCst), 3, "MAX + 1 runs\n{sup}");

    let err = sup
        .shutdown(Duration::from_secs(1))
        .await
        .expect_err("a Failed task is an error of shutdown");
    assert!(err.to_string().contains(name), "{err}");
}

#[tokio::test(start_paused = true)]
async fn panic_and_err_are_both_restarted_and_ok_completes() {
    let sup = start_empty();
    let name = "imp-panic-err-ok";
    let (calls, factory) = counted(|ctx| async move {
        tokio::task::yield_now().await;
        match ctx.attempt() {
            0 => panic!("first run panics"),
            1 => Err(std::io::Error::other("second run errs")),
            _ => Ok(()),
        }
    });
    sup.spawn(TaskDescriptor::new(
        name,
        backoff(5, Duration::from_millis(10)),
        factory,
    ))
    .expect("spawn");

    sup.wait().await;
    let r = row(&sup, name);
    assert_eq!(r.status, Status::Completed, "Ok is not a failure\n{sup}");
    assert_eq!(r.restarts, 2, "{sup}");
    assert_eq!(r.last_failure.as_deref(), Some("second run errs"), "{sup}");

    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(
        calls.load(Ordering::SeqCst),
        3,
        "a completed task is never restarted\n{sup}"
    );
    sup.shutdown(Duration::from_secs(1))
        .await
        .expect("a Completed task is clean");
}

#[tokio::test(start_paused = true)]
async fn backoff_task_returning_ok_completes_without_restart() {
    let sup = start_empty();
    let (calls, factory) = counted(|_ctx| async { Ok::<(), std::io::Error>(()) });
    sup.spawn(TaskDescriptor::new(
        "imp-ok-once",
        backoff(3, Duration::from_millis(1)),
        factory,
    ))
    .expect("spawn");
    sup.wait().await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    let r = row(&sup, "imp-ok-once");
    assert_eq!(r.status, Status::Completed, "{sup}");
    assert_eq!(r.restarts, 0, "{sup}");
    assert_eq!(r.last_failure, None, "{sup}");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "{sup}");
}

#[tokio::test(start_paused = true)]
async fn never_policy_and_backoff_zero_fail_without_restart() {
    let sup = start_empty();
    for (name, policy) in [
        ("imp-never", RestartPolicy::Never),
        ("imp-backoff-zero", backoff(0, Duration::from_millis(1))),
    ] {
        sup.spawn(TaskDescriptor::new(name, policy, |ctx| async move {
            Err::<(), _>(format!("{} gave up", ctx.name()))
        }))
        .expect("spawn");
    }
    sup.wait().await;
    tokio::time::sleep(Duration::from_secs(60)).await;
    for name in ["imp-never", "imp-backoff-zero"] {
        let r = row(&sup, name);
        assert_eq!(
            r.status,
            Status::Failed {
                reason: format!("{name} gave up")
            },
            "{sup}"
        );
        assert_eq!(r.restarts, 0, "{sup}");
    }
    assert_eq!(sup.active_count(), 0, "{sup}");
}

#[tokio::test(start_paused = true)]
async fn spawning_a_running_name_replaces_the_old_instance() {
    let sup = start_empty();
    let name = "imp-replaced";
    let (dropped_tx, mut dropped) = mpsc::unbounded_channel();
    let (started_tx, mut started) = mpsc::unbounded_channel();
    let instance = |tag: u32| {
        let dropped_tx = dropped_tx.clone();
        let started_tx = started_tx.clone();
        TaskDescriptor::new(name, backoff(3, Duration::from_secs(1)), move |ctx| {
            let guard = send_on_drop(&dropped_tx, tag);
            let started_tx = started_tx.clone();
            async move {
                let _guard = guard;
                let _ = started_tx.send(tag);
                ctx.cancelled().await;
                Ok::<(), std::io::Error>(())
            }
        })
    };

    let first = sup.spawn(instance(1)).expect("spawn A1");
    assert_eq!(next(&mut started, EVENTUALLY, "A1 to start", &sup).await, 1);
    let second = sup.spawn(instance(2)).expect("spawn A2");
    assert_eq!(first.name(), name);
    assert_eq!(second.name(), name);

    assert_eq!(
        next(&mut dropped, EVENTUALLY, "A1's future to be dropped", &sup).await,
        1,
        "the old instance's future is dropped\n{sup}"
    );
    assert_eq!(next(&mut started, EVENTUALLY, "A2 to start", &sup).await, 2);

    // The old handle no longer controls anything: it must not touch A2.
    assert!(!first.abort(), "A1 was already replaced\n{sup}");

    // Let everything settle: the old instance's end has long been processed.
    tokio::time::sleep(Duration::from_secs(120)).await;
    let r = row(&sup, name);
    assert_eq!(r.status, Status::Running, "A2 is still running\n{sup}");
    assert_eq!(r.restarts, 0, "{sup}");
    assert_eq!(rows_named(&sup, name), 1, "one row per name\n{sup}");
    assert_eq!(
        sup.active_count(),
        1,
        "the replaced instance no longer counts\n{sup}"
    );
    assert!(
        dropped.try_recv().is_err(),
        "A2's future is alive, and A1 was dropped only once\n{sup}"
    );
    assert!(started.try_recv().is_err(), "nothing else started\n{sup}");

    sup.shutdown(Duration::from_secs(5))
        .await
        .expect("the replacement is not an error");
    assert_status(&sup, name, Status::Stopped);
    assert_eq!(
        next(&mut dropped, EVENTUALLY, "A2's future to be dropped", &sup).await,
        2
    );
}

#[tokio::test(start_paused = true)]
async fn replacing_during_a_backoff_delay_cancels_the_pending_restart() {
    let sup = start_empty();
    let name = "imp-replaced-while-restarting";
    let old_calls =
        spawn_waiting_to_restart(&sup, name, Duration::from_secs(10), Duration::from_secs(1)).await;
    spawn_idle(&sup, name);

    // Well past every delay A1 would have waited out.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_eq!(
        old_calls.load(Ordering::SeqCst),
        1,
        "the replaced instance never restarts\n{sup}"
    );
    let r = row(&sup, name);
    assert_eq!(r.status, Status::Running, "{sup}");
    assert_eq!(r.restarts, 0, "the row describes A2 only\n{sup}");
    assert_eq!(r.last_failure, None, "the row describes A2 only\n{sup}");
    assert_eq!(sup.active_count(), 1, "{sup}");
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}

#[tokio::test(start_paused = true)]
async fn spawning_a_finished_name_starts_a_fresh_instance() {
    let sup = start_empty();
    let name = "imp-respawned";
    let first = spawn_failing(&sup, name, RestartPolicy::Never, "first instance failed");
    sup.wait().await;
    assert!(
        matches!(row(&sup, name).status, Status::Failed { .. }),
        "{sup}"
    );
    assert!(!first.abort(), "an ended instance cannot be aborted\n{sup}");

    spawn_idle(&sup, name);
    tokio::time::sleep(Duration::from_millis(10)).await;
    let r = row(&sup, name);
    assert_eq!(r.status, Status::Running, "{sup}");
    assert_eq!(r.last_failure, None, "{sup}");
    assert_eq!(rows_named(&sup, name), 1, "{sup}");
    assert_eq!(sup.active_count(), 1, "{sup}");
    sup.shutdown(Duration::from_secs(1))
        .await
        .expect("the latest instance stopped cleanly; the old failure was replaced");
}

#[tokio::test(start_paused = true)]
async fn task_handle_abort_is_true_once_then_false() {
    let sup = start_empty();
    let name = "imp-handle-abort";
    let (dropped_tx, mut dropped) = mpsc::unbounded_channel();
    let (calls, factory) = counted(move |ctx| {
        let guard = send_on_drop(&dropped_tx, 7);
        async move {
            let _guard = guard;
            ctx.cancelled().await;
            Ok::<(), std::io::Error>(())
        }
    });
    let handle = sup
        .spawn(TaskDescriptor::new(
            name,
            backoff(3, Duration::from_millis(100)),
            factory,
        ))
        .expect("spawn");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_status(&sup, name, Status::Running);

    let clone = handle.clone();
    assert!(format!("{handle:?}").contains(name), "{handle:?}");
    assert!(handle.abort(), "the running instance is aborted\n{sup}");
    assert!(!clone.abort(), "a second abort finds nothing\n{sup}");
    assert_eq!(
        next(
            &mut dropped,
            EVENTUALLY,
            "the aborted future to be dropped",
            &sup
        )
        .await,
        7
    );

    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_status(&sup, name, Status::Aborted);
    assert_eq!(sup.active_count(), 0, "{sup}");
    assert_eq!(
        calls.load(Ordering::SeqCst),
        1,
        "an abort is not a failure: no restart\n{sup}"
    );
    assert!(!sup.abort(name), "nothing runs under the name\n{sup}");
    sup.shutdown(Duration::from_secs(1))
        .await
        .expect("an abort on request is not an error");
}

#[tokio::test(start_paused = true)]
async fn abort_by_name_ends_aborted_and_is_not_restarted() {
    let sup = start_empty();
    assert!(!sup.abort("imp-no-such-task"), "unknown name\n{sup}");

    let name = "imp-abort-by-name";
    let (calls, factory) = counted(until_cancelled);
    sup.spawn(TaskDescriptor::new(
        name,
        backoff(5, Duration::from_millis(100)),
        factory,
    ))
    .expect("spawn");
    // A neighbour that must not be affected.
    spawn_idle(&sup, "imp-abort-neighbour");
    tokio::time::sleep(Duration::from_millis(10)).await;

    assert!(sup.abort(name), "{sup}");
    assert!(!sup.abort(name), "already aborted\n{sup}");
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert_status(&sup, name, Status::Aborted);
    assert_eq!(calls.load(Ordering::SeqCst), 1, "not restarted\n{sup}");
    assert_status(&sup, "imp-abort-neighbour", Status::Running);
    assert_eq!(sup.active_count(), 1, "{sup}");

    let result = sup.shutdown(Duration::from_secs(1)).await;
    assert!(
        result.is_ok(),
        "aborted on request is not an error: {result:?}\n{sup}"
    );
    assert_status(&sup, name, Status::Aborted);
    assert_status(&sup, "imp-abort-neighbour", Status::Stopped);
}

#[tokio::test(start_paused = true)]
async fn abort_by_name_during_a_backoff_delay_prevents_the_restart() {
    let sup = start_empty();
    let name = "imp-abort-restarting";
    let calls = spawn_waiting_to_restart(
        &sup,
        name,
        Duration::from_secs(1),
        Duration::from_millis(500),
    )
    .await;
    assert!(sup.abort(name), "a Restarting task can be aborted\n{sup}");
    tokio::time::sleep(Duration::from_secs(600)).await;
    let r = row(&sup, name);
    assert_eq!(r.status, Status::Aborted, "{sup}");
    assert_eq!(r.restarts, 0, "{sup}");
    assert_eq!(calls.load(Ordering::SeqCst), 1, "{sup}");
    assert_eq!(sup.active_count(), 0, "{sup}");
    sup.shutdown(Duration::from_secs(1))
        .await
        .expect("aborted on request is not an error");
}

#[tokio::test(start_paused = true)]
async fn a_panicking_restart_factory_is_contained() {
    let sup = start_empty();
    let name = "imp-factory-panics";
    let calls = Arc::new(AtomicU32::new(0));
    let factory_calls = Arc::clone(&calls);
    sup.spawn(TaskDescriptor::new(
        name,
        backoff(5, Duration::from_secs(1)),
        move |ctx| {
            let call = factory_calls.fetch_add(1, Ordering::SeqCst) + 1;
            if call == 2 {
                panic!("factory exploded on call 2");
            }
            async move {
                if call == 1 {
                    return Err::<(), _>("first run failed".to_string());
                }
                ctx.cancelled().await;
                Ok(())
            }
        },
    ))
    .expect("spawn");

    // Run 1 fails; the 1 s restart calls the factory, which panics; the 2 s
    // restart gets a good future that keeps running.
    tokio::time::sleep(Duration::from_secs(60)).await;
    let r = row(&sup, name);
    assert_eq!(
        r.status,
        Status::Running,
        "the factory panic was a failure, restarted per policy\n{sup}"
    );
    assert_eq!(r.restarts, 2, "{sup}");
    assert_eq!(
        r.last_failure.as_deref(),
        Some("factory exploded on call 2"),
        "{sup}"
    );
    assert_eq!(calls.load(Ordering::SeqCst), 3, "{sup}");

    // The supervisor keeps working.
    spawn_completing(&sup, "imp-after-factory-panic");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_status(&sup, "imp-after-factory-panic", Status::Completed);
    sup.shutdown(Duration::from_secs(1))
        .await
        .expect("everything stopped cleanly");
    assert_status(&sup, name, Status::Stopped);
}

#[tokio::test(start_paused = true)]
async fn a_factory_panic_under_never_fails_with_its_message() {
    let sup = start_empty();
    let name = "imp-factory-panics-once";
    let spawned = sup.spawn(TaskDescriptor::new(
        name,
        RestartPolicy::Never,
        |_ctx| -> std::future::Ready<Result<(), std::io::Error>> {
            panic!("no future for you");
        },
    ));
    assert!(
        spawned.is_ok(),
        "the panic is the task's failure, not spawn's\n{sup}"
    );
    sup.wait().await;
    assert_status(
        &sup,
        name,
        Status::Failed {
            reason: "no future for you".into(),
        },
    );
    let job = sup.spawn_oneshot("imp-still-works", |_ctx| async { 41 + 1 });
    assert_eq!(job.join().await, Ok(42), "{sup}");
    let err = sup
        .shutdown(Duration::from_secs(1))
        .await
        .expect_err("a Failed task is an error");
    assert!(err.to_string().contains(name), "{err}");
    assert!(err.to_string().contains("no future for you"), "{err}");
}

#[tokio::test(start_paused = true)]
async fn spawn_after_shutdown_began_is_refused() {
    let sup = start_empty();
    sup.shutdown(Duration::from_secs(1)).await.expect("empty");
    let refused = sup.spawn(completing_task("imp-too-late"));
    match refused {
        Err(Error::ShuttingDown { name }) => assert_eq!(&*name, "imp-too-late"),
        other => panic!("expected ShuttingDown, got {other:?}\n{sup}"),
    }
    assert!(sup.snapshot().is_empty(), "no row\n{sup}");
    assert_eq!(sup.active_count(), 0);
}

/// Regression: a task that returns `Ok` exactly when cancellation reaches it
/// (or just before shutdown starts) must be recorded as it ended, never left
/// `Running` nor reported `Aborted`.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn completions_racing_with_shutdown_are_recorded() {
    const TASKS: usize = 200;
    for round in 0..5 {
        let sup = start_empty();
        let go = CancellationToken::new();
        let (ready_tx, mut ready) = mpsc::unbounded_channel();
        for i in 0..TASKS {
            let go = go.clone();
            let ready_tx = ready_tx.clone();
            let policy = if i % 2 == 0 {
                RestartPolicy::Never
            } else {
                backoff(3, Duration::from_millis(1))
            };
            sup.spawn(TaskDescriptor::new(
                format!("imp-race-{round}-{i}"),
                policy,
                move |ctx| {
                    let go = go.clone();
                    let ready_tx = ready_tx.clone();
                    async move {
                        let _ = ready_tx.send(());
                        match i % 3 {
                            // Returns the moment cancellation arrives.
                            0 => ctx.cancelled().await,
                            // Returns just before shutdown is requested.
                            1 => go.cancelled().await,
                            // Whichever comes first.
                            _ => tokio::select! {
                                () = ctx.cancelled() => {}
                                () = go.cancelled() => {}
                            },
                        }
                        Ok::<(), std::io::Error>(())
                    }
                },
            ))
            .expect("spawn");
        }
        for _ in 0..TASKS {
            next(
                &mut ready,
                Duration::from_secs(30),
                "every task to start",
                &sup,
            )
            .await;
        }

        go.cancel();
        let result = sup.shutdown(Duration::from_secs(10)).await;
        assert!(
            result.is_ok(),
            "round {round}: every task returned Ok: {result:?}\n{sup}"
        );
        assert_eq!(sup.active_count(), 0, "round {round}\n{sup}");
        let rows = sup.snapshot();
        assert_eq!(rows.len(), TASKS, "round {round}\n{sup}");
        for (i, r) in rows.iter().enumerate() {
            assert_eq!(&*r.name, format!("imp-race-{round}-{i}"), "{sup}");
            if i % 3 == 0 {
                assert_eq!(
                    r.status,
                    Status::Stopped,
                    "round {round}: `{}` returned after cancellation\n{sup}",
                    r.name
                );
            } else {
                assert!(
                    matches!(r.status, Status::Stopped | Status::Completed),
                    "round {round}: `{}` ended {:?}\n{sup}",
                    r.name,
                    r.status
                );
            }
            assert_eq!(r.restarts, 0, "{sup}");
        }
    }
}
