//! Retention of finished rows: tasks and jobs that ended leave the table
//! oldest first beyond `Builder::retain_finished`, declared services stay,
//! and handles to rows that left are harmless.

use std::time::Duration;

use supervisor::{supervised, Builder, Context, RestartPolicy, Status, Supervisor, TaskDescriptor};
use tests::{failed_names, idle_task, names, spawn_failing, wait_idle, Poll};

const POLL: Poll = Poll {
    every: Duration::from_millis(1),
    within: Duration::from_secs(10),
};

/// A supervisor of the declared services `only` (none by default) keeping
/// `n` finished rows.
fn keeping(n: usize, only: &[&str]) -> Supervisor {
    Builder::new()
        .only(only)
        .retain_finished(n)
        .start()
        .expect("starts")
}

/// Runs a job named `name` to its end.
async fn run_job(sup: &Supervisor, name: &str) {
    let job = sup.spawn_oneshot(name, |_ctx| async {});
    assert_eq!(job.join().await, Ok(()), "{sup}");
}

/// Spawns a task named `name` that returns at once, and waits for its end.
async fn run_task(sup: &Supervisor, name: &str) {
    sup.spawn(TaskDescriptor::new(
        name,
        RestartPolicy::Never,
        |_ctx| async { Ok::<(), std::io::Error>(()) },
    ))
    .expect("spawn");
    POLL.until(sup, &format!("`{name}` to complete"), || {
        sup.snapshot()
            .iter()
            .all(|row| &*row.name != name || row.status == Status::Completed)
    })
    .await;
}

#[tokio::test(start_paused = true)]
async fn finished_tasks_and_jobs_beyond_the_bound_leave_oldest_first() {
    let sup = keeping(3, &[]);
    sup.spawn(idle_task("rt-running")).expect("spawn");
    run_task(&sup, "rt-task-0").await;
    run_job(&sup, "rt-job-1").await;
    run_task(&sup, "rt-task-2").await;
    assert_eq!(
        names(&sup),
        ["rt-running", "rt-task-0", "rt-job-1", "rt-task-2"]
    );
    run_job(&sup, "rt-job-3").await;
    run_job(&sup, "rt-job-4").await;
    assert_eq!(
        names(&sup),
        ["rt-running", "rt-task-2", "rt-job-3", "rt-job-4"],
        "three finished rows, the newest; the running task stays"
    );
    assert!(!sup.abort("rt-task-0"), "an evicted name runs nothing");

    run_job(&sup, "rt-task-0").await;
    assert_eq!(
        names(&sup),
        ["rt-running", "rt-job-3", "rt-job-4", "rt-task-0"],
        "a name used again gets a new row at the end"
    );
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}

#[tokio::test(start_paused = true)]
async fn a_row_finished_again_counts_as_just_finished() {
    let sup = keeping(2, &[]);
    run_job(&sup, "rt-again-a").await;
    run_job(&sup, "rt-again-b").await;
    run_job(&sup, "rt-again-a").await; // a finishes again: now the newest
    run_job(&sup, "rt-again-c").await;
    assert_eq!(names(&sup), ["rt-again-a", "rt-again-c"], "b went first");
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}

#[supervised(name = "rt-declared-done")]
async fn rt_declared_done() {}

#[supervised(name = "rt-declared-failed")]
async fn rt_declared_failed() -> Result<(), String> {
    Err("declared and broken".to_string())
}

#[tokio::test(start_paused = true)]
async fn declared_service_rows_always_stay() {
    let sup = keeping(0, &["rt-declared-done", "rt-declared-failed"]);
    wait_idle(&sup, Duration::from_secs(10)).await;
    // A job under a declared service's name does not make its row a job's.
    run_job(&sup, "rt-declared-done").await;
    for i in 0..100 {
        run_job(&sup, &format!("rt-declared-job-{i}")).await;
    }
    assert_eq!(names(&sup), ["rt-declared-done", "rt-declared-failed"]);
    let result = sup.shutdown(Duration::from_secs(1)).await;
    assert_eq!(failed_names(&result), ["rt-declared-failed"], "{sup}");
}

#[tokio::test(start_paused = true)]
async fn rows_that_end_in_the_shutdown_all_stay_for_the_final_table() {
    let sup = keeping(2, &[]);
    let spawned: Vec<String> = (0..10).map(|i| format!("rt-final-{i}")).collect();
    for name in &spawned {
        sup.spawn(idle_task(name)).expect("spawn");
    }
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
    let rows = sup.snapshot();
    assert_eq!(rows.len(), 10, "{sup}");
    assert!(rows.iter().all(|r| r.status == Status::Stopped), "{sup}");
}

#[tokio::test(start_paused = true)]
async fn a_failed_task_evicted_from_the_table_still_fails_the_shutdown() {
    let sup = keeping(1, &[]);
    spawn_failing(&sup, "rt-lost-failure", RestartPolicy::Never, "went wrong");
    spawn_failing(
        &sup,
        "rt-failed-then-fine",
        RestartPolicy::Never,
        "went wrong",
    );
    wait_idle(&sup, Duration::from_secs(10)).await;
    run_job(&sup, "rt-pushes-them-out").await;
    assert_eq!(names(&sup), ["rt-pushes-them-out"]);
    // Used again, the name's new row speaks for it: this one completes.
    run_task(&sup, "rt-failed-then-fine").await;
    let result = sup.shutdown(Duration::from_secs(1)).await;
    assert_eq!(failed_names(&result), ["rt-lost-failure"], "{sup}");
}

#[tokio::test(start_paused = true)]
async fn a_row_stays_while_an_earlier_job_under_its_name_runs() {
    let sup = keeping(0, &[]);
    let (release, released) = tokio::sync::oneshot::channel::<()>();
    let earlier = sup.spawn_oneshot("rt-shared", |_ctx| async move {
        let _ = released.await;
    });
    run_job(&sup, "rt-shared").await;
    assert_eq!(
        names(&sup),
        ["rt-shared"],
        "the earlier job still runs under the name"
    );
    release.send(()).expect("the earlier job waits");
    assert_eq!(earlier.join().await, Ok(()));
    assert!(names(&sup).is_empty(), "then the row goes\n{sup}");
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}

#[tokio::test(start_paused = true)]
async fn handles_to_evicted_rows_are_harmless() {
    let sup = keeping(0, &[]);
    let (ctx_tx, mut ctx_rx) = tokio::sync::mpsc::unbounded_channel::<Context>();
    let task = sup
        .spawn(TaskDescriptor::new(
            "rt-stale-task",
            RestartPolicy::Never,
            move |ctx: Context| {
                // A clone that outlives the run.
                let _ = ctx_tx.send(ctx.clone());
                async { Ok::<(), std::io::Error>(()) }
            },
        ))
        .expect("spawn");
    let ctx = ctx_rx.recv().await.expect("the factory ran");
    wait_idle(&sup, Duration::from_secs(10)).await;
    let job = sup.spawn_oneshot("rt-stale-job", |_ctx| async { 9 });
    POLL.until(&sup, "the job to finish", || job.is_finished())
        .await;
    assert!(names(&sup).is_empty(), "both rows evicted\n{sup}");

    // A later instance under the task's name is out of the stale handle's reach.
    let later = sup.spawn(idle_task("rt-stale-task")).expect("spawn");
    assert!(!task.abort(), "the evicted instance had ended");
    assert_eq!(names(&sup), ["rt-stale-task"]);
    assert!(
        sup.snapshot()[0].status == Status::Running,
        "the later instance runs on\n{sup}"
    );
    job.abort(); // ended already: nothing happens
    assert_eq!(job.join().await, Ok(9), "its value is still there");
    assert_eq!(ctx.name(), "rt-stale-task");
    assert!(ctx.is_cancelled(), "its run has ended");
    assert!(ctx.token().is_cancelled());
    assert_eq!(
        ctx.run_until_cancelled(std::future::pending::<()>()).await,
        None
    );
    assert!(later.abort(), "the later instance is still reachable");
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unique_job_names_keep_the_table_at_the_bound() {
    let sup = keeping(100, &[]);
    for i in 0..5_000 {
        let job = sup.spawn_blocking(format!("rt-unique-{i}"), move || i);
        assert_eq!(job.join().await, Ok(i));
    }
    let rows = sup.snapshot();
    assert_eq!(rows.len(), 100, "{sup}");
    assert_eq!(&*rows[0].name, "rt-unique-4900");
    assert_eq!(&*rows[99].name, "rt-unique-4999");
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn rows_that_end_on_an_outside_cancellation_stay_too() {
    let token = supervisor::CancellationToken::new();
    let sup = Builder::new()
        .only(Vec::<String>::new())
        .retain_finished(0)
        .cancellation_token(token.clone())
        .start()
        .expect("starts");
    for i in 0..1000 {
        sup.spawn(idle_task(&format!("rt-outside-{i}")))
            .expect("spawn");
    }
    tokio::task::yield_now().await;
    // The tasks see the token at once, perhaps before the shutdown's driver
    // does: they end in the shutdown all the same.
    token.cancel();
    wait_idle(&sup, Duration::from_secs(10)).await;
    assert_eq!(sup.snapshot().len(), 1000, "{sup}");
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}
