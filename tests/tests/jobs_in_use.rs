//! Jobs and tasks as real callers use them: code that never watches its
//! `Context`, a job's failure that belongs to its handle, polling a job, and
//! blocking work that reaches the supervisor's tokio runtime.

use std::time::Duration;

use supervisor::{supervised, BlockingError, RestartPolicy, Status, TaskDescriptor};
use tests::{assert_status, failed_names, failures, start_empty, start_only, wait_idle, Poll};
use tokio::time::Instant;

const POLL: Poll = Poll {
    every: Duration::from_millis(1),
    within: Duration::from_secs(10),
};

#[tokio::test(start_paused = true)]
async fn run_until_cancelled_stops_a_task_that_never_watches_its_context() {
    let sup = start_empty();
    let name = "ju-oblivious";
    sup.spawn(TaskDescriptor::new(
        name,
        RestartPolicy::Never,
        |ctx| async move {
            // A loop that knows nothing of cancellation.
            let oblivious = async {
                loop {
                    tokio::time::sleep(Duration::from_secs(3600)).await;
                }
            };
            let ended = ctx.run_until_cancelled(oblivious).await;
            assert!(ended.is_none(), "the loop never ends on its own");
            Ok::<(), std::io::Error>(())
        },
    ))
    .expect("spawn");
    POLL.until_status(&sup, name, Status::Running).await;

    let began = Instant::now();
    let result = sup.shutdown(Duration::from_secs(30)).await;
    assert!(result.is_ok(), "a clean stop: {result:?}\n{sup}");
    assert_eq!(
        began.elapsed(),
        Duration::ZERO,
        "returned at once, not at the deadline\n{sup}"
    );
    assert_status(&sup, name, Status::Stopped);
}

#[tokio::test(start_paused = true)]
async fn run_until_cancelled_returns_the_output_when_the_future_ends_first() {
    let sup = start_empty();
    let job = sup.spawn_oneshot("ju-finishes", |ctx| async move {
        let work = async {
            tokio::time::sleep(Duration::from_millis(10)).await;
            42
        };
        ctx.run_until_cancelled(work).await
    });
    assert_eq!(job.join().await, Ok(Some(42)), "{sup}");
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn is_finished_turns_true_once_the_result_can_be_taken() {
    let sup = start_empty();
    let (gate, gate_rx) = std::sync::mpsc::channel::<()>();
    let job = sup.spawn_blocking("ju-polled", move || {
        let _ = gate_rx.recv();
        7
    });
    assert!(!job.is_finished(), "held at its gate\n{sup}");
    gate.send(()).expect("the job waits at its gate");
    POLL.until(&sup, "the job to finish", || job.is_finished())
        .await;
    assert!(job.is_finished(), "stays finished until taken");
    assert_eq!(job.try_join().ok(), Some(Ok(7)), "{sup}");

    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
    let refused = sup.spawn_blocking("ju-refused", || 0);
    assert!(refused.is_finished(), "a refused job is finished at once");
    assert_eq!(refused.join().await, Err(BlockingError::Aborted));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_closure_reaches_the_supervisors_runtime() {
    let sup = start_empty();
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let job = sup.spawn_blocking("ju-handle-current", move || {
        let runtime = tokio::runtime::Handle::current();
        // An async call from blocking code, and a task spawned from it.
        let value = runtime.block_on(async {
            tokio::task::yield_now().await;
            20
        });
        runtime.spawn(async move {
            let _ = tx.send("from a task the closure spawned");
        });
        value + 1
    });
    assert_eq!(job.join().await, Ok(21), "{sup}");
    assert_eq!(
        tokio::time::timeout(Duration::from_secs(10), rx.recv()).await,
        Ok(Some("from a task the closure spawned")),
        "{sup}"
    );
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}

/// What the blocking service below found: `Some(value)` once it ran.
static FROM_BLOCKING_SERVICE: std::sync::Mutex<Option<Result<u32, String>>> =
    std::sync::Mutex::new(None);

/// A blocking service that calls into async code through the runtime.
#[supervised(name = "ju-blocking-handle", blocking)]
fn ju_blocking_handle() {
    let found = tokio::runtime::Handle::try_current()
        .map(|runtime| runtime.block_on(async { 5 }))
        .map_err(|err| err.to_string());
    *FROM_BLOCKING_SERVICE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner()) = Some(found);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_service_reaches_the_supervisors_runtime() {
    let sup = start_only(&["ju-blocking-handle"]);
    wait_idle(&sup, Duration::from_secs(10)).await;
    assert_status(&sup, "ju-blocking-handle", Status::Completed);
    let found = FROM_BLOCKING_SERVICE
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .clone();
    assert_eq!(
        found,
        Some(Ok(5)),
        "Handle::current() on the service's thread"
    );
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_jobs_panic_is_its_handles_not_the_shutdowns() {
    let sup = start_empty();
    let blocking = sup.spawn_blocking("ju-job-panics", || -> u8 { panic!("bad input") });
    let oneshot = sup.spawn_oneshot("ju-oneshot-panics", |_ctx| async {
        tokio::task::yield_now().await;
        if true {
            panic!("bad reply");
        }
        0u8
    });
    for (handle, message) in [(blocking, "bad input"), (oneshot, "bad reply")] {
        let name = handle.name().to_string();
        assert_eq!(
            handle.join().await,
            Err(BlockingError::Panicked {
                message: message.into()
            }),
            "{sup}"
        );
        assert_status(
            &sup,
            &name,
            Status::Failed {
                reason: message.into(),
            },
        );
    }
    let result = sup.shutdown(Duration::from_secs(1)).await;
    assert!(
        result.is_ok(),
        "the handles reported the panics; the shutdown is clean: {result:?}\n{sup}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_failed_task_still_fails_the_shutdown_next_to_a_failed_job() {
    let sup = start_empty();
    sup.spawn(TaskDescriptor::new(
        "ju-task-fails",
        RestartPolicy::Never,
        |_ctx| async { Err::<(), _>("task broke") },
    ))
    .expect("spawn");
    let job = sup.spawn_blocking("ju-job-fails", || -> u8 { panic!("job broke") });
    assert!(job.join().await.is_err(), "{sup}");
    wait_idle(&sup, Duration::from_secs(10)).await;
    let result = sup.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        failed_names(&result),
        ["ju-task-fails"],
        "only the task is the shutdown's\n{sup}"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_job_stuck_at_the_deadline_still_fails_the_shutdown() {
    let sup = start_empty();
    let (gate, gate_rx) = std::sync::mpsc::channel::<()>();
    let (started_tx, mut started) = tokio::sync::mpsc::unbounded_channel();
    let stuck = sup.spawn_blocking("ju-job-stuck", move || {
        let _ = started_tx.send(());
        let _ = gate_rx.recv();
    });
    tokio::time::timeout(Duration::from_secs(10), started.recv())
        .await
        .expect("the job starts");
    let result = sup.shutdown(Duration::from_millis(50)).await;
    assert_eq!(
        failures(&result),
        [("ju-job-stuck".to_string(), Status::Aborted)],
        "{sup}"
    );
    assert_eq!(stuck.join().await, Err(BlockingError::Aborted));
    drop(gate);
}
