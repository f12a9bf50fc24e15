//! `Supervisor::spawn_fn`: a task started from a function, whose run futures
//! live inside its tokio task, must behave exactly like
//! `Supervisor::spawn(TaskDescriptor::new(..))`: the same restart policy, the
//! same row, the same replacement of a running name, the same shutdown and the
//! same errors.
//!
//! Most tests run their scenario twice, once through each API ([`Via`]), and
//! hold both to the same expected values: a difference between the two shows
//! as a failure that names the API.
//!
//! Time-driven tests run on tokio's paused clock: a `sleep` in the test only
//! returns once every task has done all the work it can do before that
//! instant. Events are awaited (a channel, a drop guard, the supervisor's
//! `wait`, a polling loop on the snapshot); a `sleep` only lets time pass to
//! show that nothing more happens.

use std::alloc::{GlobalAlloc, Layout, System};
use std::cell::Cell;
use std::fmt;
use std::future::Future;
use std::sync::atomic::{AtomicBool, AtomicU32, AtomicU64, Ordering};
use std::sync::Arc;
use std::time::Duration;

use supervisor::{
    BoxError, Context, Error, Event, RestartPolicy, ServiceSnapshot, Status, Supervisor,
    TaskDescriptor, TaskHandle, HEALTHY_AFTER,
};
use tests::{
    assert_status, backoff, counted, failures, next, row, rows_named, send_on_drop,
    shutdown_in_background, start_empty, status, Poll,
};
use tokio::sync::{mpsc, oneshot};
use tokio::time::Instant;

/// Longest wait for a message; on the paused clock, an hour costs nothing.
const EVENTUALLY: Duration = Duration::from_secs(3600);

/// Looks at the snapshot every millisecond of (paused) tokio time.
const POLL: Poll = Poll {
    every: Duration::from_millis(1),
    within: EVENTUALLY,
};

// ---------------------------------------------------------------- helpers

/// Which API starts a test's task.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Via {
    /// `Supervisor::spawn_fn(name, policy, f)`: what this file tests.
    Fn,
    /// `Supervisor::spawn(TaskDescriptor::new(name, policy, f))`: the
    /// reference it must match.
    Descriptor,
}

/// Both APIs, `spawn_fn` first.
const BOTH: [Via; 2] = [Via::Fn, Via::Descriptor];

impl fmt::Display for Via {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Via::Fn => "spawn_fn",
            Via::Descriptor => "spawn(TaskDescriptor)",
        })
    }
}

/// Starts `f` under `name` and `policy` through `via`.
fn spawn_via<F, Fut, E>(
    sup: &Supervisor,
    via: Via,
    name: &str,
    policy: RestartPolicy,
    f: F,
) -> Result<TaskHandle, Error>
where
    F: Fn(Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
    match via {
        Via::Fn => sup.spawn_fn(name, policy, f),
        Via::Descriptor => sup.spawn(TaskDescriptor::new(name, policy, f)),
    }
}

/// [`spawn_via`], which must be accepted.
fn start<F, Fut, E>(
    sup: &Supervisor,
    via: Via,
    name: &str,
    policy: RestartPolicy,
    f: F,
) -> TaskHandle
where
    F: Fn(Context) -> Fut + Send + Sync + 'static,
    Fut: Future<Output = Result<(), E>> + Send + 'static,
    E: Into<BoxError> + 'static,
{
    spawn_via(sup, via, name, policy, f)
        .unwrap_or_else(|err| panic!("{via}: spawning `{name}` failed: {err}\n{sup}"))
}

/// What a row shows, without its instants: comparable across two runs.
#[derive(Clone, Debug, PartialEq, Eq)]
struct Seen {
    status: Status,
    restarts: u32,
    last_failure: Option<String>,
    ready: bool,
}

impl From<ServiceSnapshot> for Seen {
    fn from(r: ServiceSnapshot) -> Self {
        Seen {
            status: r.status,
            restarts: r.restarts,
            last_failure: r.last_failure,
            ready: r.ready,
        }
    }
}

/// The row of `name`, as [`Seen`].
fn seen(sup: &Supervisor, name: &str) -> Seen {
    row(sup, name).into()
}

/// The rows the tests expect, one constructor a status; each states the
/// readiness that status shows here.
impl Seen {
    /// `Running` and ready, after `restarts` restarts.
    fn running(restarts: u32, last_failure: Option<&str>) -> Self {
        Seen {
            status: Status::Running,
            restarts,
            last_failure: last_failure.map(String::from),
            ready: true,
        }
    }

    /// Waiting out the delay before restart `attempt` of `max`, not ready.
    fn restarting(attempt: u32, max: u32, restarts: u32, last_failure: &str) -> Self {
        Seen {
            status: Status::Restarting { attempt, max },
            restarts,
            last_failure: Some(last_failure.to_string()),
            ready: false,
        }
    }

    /// `Failed` for good with `reason`, which is the last failure too; not
    /// ready.
    fn failed(reason: &str, restarts: u32) -> Self {
        Seen {
            status: failed(reason),
            restarts,
            last_failure: Some(reason.to_string()),
            ready: false,
        }
    }

    /// `Completed`, which leaves the row ready.
    fn completed(restarts: u32, last_failure: Option<&str>) -> Self {
        Seen {
            status: Status::Completed,
            restarts,
            last_failure: last_failure.map(String::from),
            ready: true,
        }
    }

    /// `Stopped` by the shutdown, not ready.
    fn stopped(restarts: u32, last_failure: Option<&str>) -> Self {
        Seen {
            status: Status::Stopped,
            restarts,
            last_failure: last_failure.map(String::from),
            ready: false,
        }
    }
}

/// A task's function that calls `f` with its `Context` and a sender: what
/// the runs send arrives on the returned receiver.
fn reporting<T, F, Fut>(
    f: F,
) -> (
    mpsc::UnboundedReceiver<T>,
    impl Fn(Context) -> Fut + Send + Sync + 'static,
)
where
    T: Send + 'static,
    F: Fn(Context, mpsc::UnboundedSender<T>) -> Fut + Send + Sync + 'static,
{
    let (tx, rx) = mpsc::unbounded_channel();
    (rx, move |ctx| f(ctx, tx.clone()))
}

/// Asserts that the row of `name` reads `expected`, and returns it; a failure
/// says `context` (which names the API) and shows the table.
#[track_caller]
fn assert_seen(sup: &Supervisor, name: &str, expected: Seen, context: impl fmt::Display) -> Seen {
    let r = seen(sup, name);
    assert_eq!(r, expected, "{context}: the row of `{name}`\n{sup}");
    r
}

/// Asserts that the function counted by `calls` (see [`counted`]) was
/// called `expected` times.
#[track_caller]
fn assert_calls(calls: &AtomicU32, expected: u32, sup: &Supervisor, context: impl fmt::Display) {
    assert_eq!(
        calls.load(Ordering::SeqCst),
        expected,
        "{context}: calls of the function\n{sup}"
    );
}

/// The next message on `rx` (see [`next`]), which must be `expected`.
async fn next_is<T: PartialEq + fmt::Debug>(
    rx: &mut mpsc::UnboundedReceiver<T>,
    what: &str,
    expected: T,
    sup: &Supervisor,
    context: impl fmt::Display,
) {
    let got = next(rx, EVENTUALLY, what, sup).await;
    assert_eq!(got, expected, "{context}: {what}\n{sup}");
}

/// Shuts `sup` down, giving its tasks a second, which must be clean.
async fn shut_down_cleanly(sup: &Supervisor, context: impl fmt::Display) {
    sup.shutdown(Duration::from_secs(1))
        .await
        .unwrap_or_else(|err| panic!("{context}: {err}\n{sup}"));
}

/// Shuts `sup` down, giving its tasks `timeout`; the error must name
/// exactly `expected` (name, final status), in order. Returns the error.
async fn shut_down_failing(
    sup: &Supervisor,
    timeout: Duration,
    expected: &[(&str, Status)],
    context: impl fmt::Display,
) -> Error {
    let result = sup.shutdown(timeout).await;
    let expected: Vec<(String, Status)> = expected
        .iter()
        .map(|(name, status)| (name.to_string(), status.clone()))
        .collect();
    assert_eq!(failures(&result), expected, "{context}\n{sup}");
    result.expect_err("a shutdown that names failures is an error")
}

/// The events received so far on `events` for `name`: status and readiness.
fn drain_events(
    events: &mut tokio::sync::broadcast::Receiver<Event>,
    name: &str,
) -> Vec<(Status, bool)> {
    let mut seen = Vec::new();
    while let Ok(event) = events.try_recv() {
        if &*event.name == name {
            seen.push((event.status, event.ready));
        }
    }
    seen
}

/// Panics with `message`: a run's body that never returns.
fn explode(message: &'static str) -> Result<(), std::io::Error> {
    panic!("{message}")
}

/// A failed status, in short.
fn failed(reason: &str) -> Status {
    Status::Failed {
        reason: reason.to_string(),
    }
}

// ---------------------------------------------------------------- 1. Err and backoff

/// What one API did in [`err_restarts_with_backoff_then_fails_after_max`].
#[derive(Debug, PartialEq)]
struct BackoffRun {
    /// The row half-way through each delay, then at the end.
    rows: Vec<Seen>,
    /// Every status change of the row, with its readiness.
    events: Vec<(Status, bool)>,
    /// What `shutdown` named.
    failures: Vec<(String, Status)>,
}

async fn fail_with_backoff(via: Via) -> BackoffRun {
    let sup = start_empty();
    let mut events = sup.subscribe();
    let name = "fn-backoff-fails";
    let (mut runs, f) = reporting(|ctx: Context, runs| async move {
        assert_eq!(ctx.name(), "fn-backoff-fails");
        let _ = runs.send((ctx.attempt(), Instant::now()));
        tokio::task::yield_now().await;
        Err::<(), _>(format!("boom {}", ctx.attempt()))
    });
    let (calls, f) = counted(f);
    start(&sup, via, name, backoff(2, Duration::from_secs(1)), f);
    let mut rows = Vec::new();

    let (attempt, t0) = next(&mut runs, EVENTUALLY, "run 0", &sup).await;
    assert_eq!(attempt, 0, "{via}");
    // Half-way through the first delay (1 s): waiting for restart 1 of 2.
    tokio::time::sleep(Duration::from_millis(500)).await;
    rows.push(assert_seen(
        &sup,
        name,
        Seen::restarting(1, 2, 0, "boom 0"),
        via,
    ));
    assert_eq!(sup.active_count(), 1, "{via}: Restarting is active\n{sup}");

    let (attempt, t1) = next(&mut runs, EVENTUALLY, "run 1", &sup).await;
    assert_eq!(attempt, 1, "{via}");
    let first_delay = t1 - t0;
    assert!(
        first_delay >= Duration::from_secs(1) && first_delay < Duration::from_millis(1010),
        "{via}: the first delay is the base delay: {first_delay:?}\n{sup}"
    );
    tokio::time::sleep(Duration::from_millis(500)).await;
    rows.push(assert_seen(
        &sup,
        name,
        Seen::restarting(2, 2, 1, "boom 1"),
        via,
    ));

    let (attempt, t2) = next(&mut runs, EVENTUALLY, "run 2", &sup).await;
    assert_eq!(attempt, 2, "{via}");
    let second_delay = t2 - t1;
    assert!(
        second_delay >= Duration::from_secs(2) && second_delay < Duration::from_millis(2010),
        "{via}: the second delay is twice the base: {second_delay:?}\n{sup}"
    );

    sup.wait().await;
    rows.push(assert_seen(
        &sup,
        name,
        Seen::failed("boom 2", 2),
        format_args!("{via}: a third failure in a row is final with backoff(2, ..)"),
    ));
    assert_eq!(sup.active_count(), 0, "{via}\n{sup}");

    // Nothing starts again, however long we wait.
    tokio::time::sleep(Duration::from_secs(600)).await;
    assert!(
        runs.try_recv().is_err(),
        "{via}: no run after Failed\n{sup}"
    );
    assert_calls(&calls, 3, &sup, format_args!("{via}: max + 1 runs"));

    let err = shut_down_failing(
        &sup,
        Duration::from_secs(1),
        &[(name, failed("boom 2"))],
        format_args!("{via}: a Failed task is an error of shutdown"),
    )
    .await;
    let named = failures(&Err(err.clone()));
    let text = err.to_string();
    assert!(
        text.contains(name) && text.contains("boom 2"),
        "{via}: {text}"
    );

    let events = drain_events(&mut events, name);
    assert_eq!(
        events.iter().map(|(s, _)| s.clone()).collect::<Vec<_>>(),
        [
            Status::Running,
            Status::Restarting { attempt: 1, max: 2 },
            Status::Running,
            Status::Restarting { attempt: 2, max: 2 },
            Status::Running,
            failed("boom 2"),
        ],
        "{via}: the row's changes\n{sup}"
    );
    BackoffRun {
        rows,
        events,
        failures: named,
    }
}

#[tokio::test(start_paused = true)]
async fn err_restarts_with_backoff_then_fails_after_max() {
    let by_fn = fail_with_backoff(Via::Fn).await;
    let by_descriptor = fail_with_backoff(Via::Descriptor).await;
    assert_eq!(
        by_fn, by_descriptor,
        "spawn_fn (left) and spawn(TaskDescriptor) (right) differ"
    );
}

/// `Never` and `backoff(0, ..)` allow no restart: the first failure is final.
#[tokio::test(start_paused = true)]
async fn never_and_backoff_zero_fail_without_restart() {
    for via in BOTH {
        let sup = start_empty();
        for (name, policy) in [
            ("fn-never", RestartPolicy::Never),
            ("fn-backoff-zero", backoff(0, Duration::from_millis(1))),
        ] {
            start(&sup, via, name, policy, |ctx: Context| async move {
                Err::<(), _>(format!("{} gave up", ctx.name()))
            });
        }
        sup.wait().await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        for name in ["fn-never", "fn-backoff-zero"] {
            let reason = format!("{name} gave up");
            assert_seen(&sup, name, Seen::failed(&reason, 0), via);
        }
        shut_down_failing(
            &sup,
            Duration::from_secs(1),
            &[
                ("fn-never", failed("fn-never gave up")),
                ("fn-backoff-zero", failed("fn-backoff-zero gave up")),
            ],
            format_args!("{via}: in order of first start"),
        )
        .await;
    }
}

/// `Ok` is not a failure: a task under a backoff policy that returns `Ok`
/// completes, and is not run again.
#[tokio::test(start_paused = true)]
async fn ok_completes_without_restart() {
    for via in BOTH {
        let sup = start_empty();
        let (calls, f) = counted(|_ctx: Context| async { Ok::<(), std::io::Error>(()) });
        start(
            &sup,
            via,
            "fn-ok-once",
            backoff(3, Duration::from_millis(1)),
            f,
        );
        sup.wait().await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_seen(&sup, "fn-ok-once", Seen::completed(0, None), via);
        assert_calls(&calls, 1, &sup, via);
        shut_down_cleanly(&sup, format_args!("{via}: a Completed task is clean")).await;
    }
}

// ---------------------------------------------------------------- 2. panics

/// A panic inside the run's future, after it has been suspended once, is the
/// run's failure: recorded with its message and restarted per policy.
#[tokio::test(start_paused = true)]
async fn a_panic_after_an_await_is_contained_and_restarted() {
    for via in BOTH {
        let sup = start_empty();
        let name = "fn-panics-in-future";
        let (mut up, f) = reporting(|ctx: Context, up| async move {
            tokio::task::yield_now().await;
            if ctx.attempt() < 2 {
                panic!("run {} panicked after an await", ctx.attempt());
            }
            let _ = up.send(ctx.attempt());
            ctx.cancelled().await;
            Ok::<(), std::io::Error>(())
        });
        let (calls, f) = counted(f);
        start(&sup, via, name, backoff(3, Duration::from_millis(10)), f);
        next_is(&mut up, "run 2 to be up", 2, &sup, via).await;
        assert_seen(
            &sup,
            name,
            Seen::running(2, Some("run 1 panicked after an await")),
            format_args!("{via}: both panics were failures, each restarted"),
        );
        assert_calls(&calls, 3, &sup, via);

        // Under `Never`, the same panic is final, and shutdown names it.
        let once = "fn-panics-in-future-once";
        start(
            &sup,
            via,
            once,
            RestartPolicy::Never,
            |_ctx: Context| async {
                tokio::task::yield_now().await;
                explode("the only run panicked")
            },
        );
        POLL.until_status(&sup, once, failed("the only run panicked"))
            .await;

        shut_down_failing(
            &sup,
            Duration::from_secs(1),
            &[(once, failed("the only run panicked"))],
            format_args!("{via}: the running one stopped cleanly"),
        )
        .await;
        assert_status(&sup, name, Status::Stopped);
    }
}

/// A panic in the function itself, before it returns a future, is contained
/// the same way: `spawn_fn` accepts the task, the run fails with the panic's
/// message, and the policy decides.
#[tokio::test(start_paused = true)]
async fn a_panic_in_the_function_before_its_future_is_contained() {
    for via in BOTH {
        let sup = start_empty();
        let name = "fn-panics-in-closure";
        let (mut up, f) = reporting(|ctx: Context, up| {
            if ctx.attempt() == 1 {
                panic!("the function panicked on run 1");
            }
            async move {
                if ctx.attempt() == 0 {
                    return Err::<(), _>("run 0 failed".to_string());
                }
                let _ = up.send(ctx.attempt());
                ctx.cancelled().await;
                Ok(())
            }
        });
        let (calls, f) = counted(f);
        start(&sup, via, name, backoff(5, Duration::from_secs(1)), f);
        // Run 0 fails; the function panics for run 1 (after 1 s); run 2
        // (after 2 s more) keeps running.
        next_is(&mut up, "run 2 to be up", 2, &sup, via).await;
        assert_seen(
            &sup,
            name,
            Seen::running(2, Some("the function panicked on run 1")),
            via,
        );
        assert_calls(&calls, 3, &sup, via);

        // A function that never returns a future, under `Never`.
        let once = "fn-panics-in-closure-once";
        let spawned = spawn_via(
            &sup,
            via,
            once,
            RestartPolicy::Never,
            |_ctx: Context| -> std::future::Ready<Result<(), std::io::Error>> {
                panic!("no future for you");
            },
        );
        assert!(
            spawned.is_ok(),
            "{via}: the panic is the task's failure, not the spawn's: {spawned:?}\n{sup}"
        );
        POLL.until_status(&sup, once, failed("no future for you"))
            .await;
        assert_eq!(row(&sup, once).restarts, 0, "{via}\n{sup}");

        // The supervisor keeps working.
        start(
            &sup,
            via,
            "fn-after-the-panics",
            RestartPolicy::Never,
            |_ctx: Context| async { Ok::<(), std::io::Error>(()) },
        );
        POLL.until_status(&sup, "fn-after-the-panics", Status::Completed)
            .await;

        let err = shut_down_failing(
            &sup,
            Duration::from_secs(1),
            &[(once, failed("no future for you"))],
            via,
        )
        .await;
        assert!(err.to_string().contains("no future for you"), "{via}");
        assert_status(&sup, name, Status::Stopped);
    }
}

// ---------------------------------------------------------------- 3. attempts

/// `ctx.attempt()` numbers the runs 0, 1, 2, ...
#[tokio::test(start_paused = true)]
async fn ctx_attempt_counts_the_runs_from_zero() {
    for via in BOTH {
        let sup = start_empty();
        let name = "fn-attempts";
        let (mut runs, f) = reporting(|ctx: Context, runs| async move {
            let _ = runs.send((ctx.attempt(), ctx.name().to_string()));
            if ctx.attempt() < 4 {
                Err(format!("run {} failed", ctx.attempt()))
            } else {
                Ok(())
            }
        });
        start(&sup, via, name, backoff(5, Duration::from_millis(10)), f);
        sup.wait().await;
        let mut seen_runs = Vec::new();
        while let Ok(run) = runs.try_recv() {
            seen_runs.push(run);
        }
        let expected: Vec<(u32, String)> = (0..5).map(|n| (n, name.to_string())).collect();
        assert_eq!(seen_runs, expected, "{via}\n{sup}");
        assert_seen(&sup, name, Seen::completed(4, Some("run 3 failed")), via);
        shut_down_cleanly(&sup, via).await;
    }
}

/// `ctx.attempt()` counts over the task's lifetime, while the policy counts
/// failures in a row: a run that stayed up `HEALTHY_AFTER` starts a fresh
/// streak, not a fresh count of attempts.
#[tokio::test(start_paused = true)]
async fn ctx_attempt_keeps_counting_when_a_healthy_run_resets_the_streak() {
    for via in BOTH {
        let sup = start_empty();
        let name = "fn-attempts-healthy";
        let (mut runs, f) = reporting(|ctx: Context, runs| async move {
            let _ = runs.send(ctx.attempt());
            if ctx.attempt() == 1 {
                // Up long enough to count as healthy.
                tokio::time::sleep(HEALTHY_AFTER).await;
            }
            Err::<(), _>(format!("run {} failed", ctx.attempt()))
        });
        start(&sup, via, name, backoff(1, Duration::from_secs(1)), f);
        next_is(&mut runs, "run 0", 0, &sup, via).await;
        next_is(&mut runs, "run 1", 1, &sup, via).await;
        // Run 1 has been up HEALTHY_AFTER when it fails: the first restart of
        // a new streak, which `backoff(1, ..)` allows.
        POLL.until(&sup, "run 1 to fail", || {
            row(&sup, name).last_failure.as_deref() == Some("run 1 failed")
        })
        .await;
        assert_eq!(
            status(&sup, name),
            Status::Restarting { attempt: 1, max: 1 },
            "{via}\n{sup}"
        );
        next_is(&mut runs, "run 2", 2, &sup, via).await;
        sup.wait().await;
        assert_seen(
            &sup,
            name,
            Seen::failed("run 2 failed", 2),
            format_args!("{via}: two failures in a row exceed backoff(1, ..)"),
        );
        assert!(runs.try_recv().is_err(), "{via}: no run 3\n{sup}");
        let _ = sup.shutdown(Duration::from_secs(1)).await;
    }
}

// ---------------------------------------------------------------- 4. replacement

/// What an instance of [`instance`] reports.
struct Probes {
    /// `(tag, a clone of its Context)` once it runs.
    started: mpsc::UnboundedReceiver<(u32, Context)>,
    started_tx: mpsc::UnboundedSender<(u32, Context)>,
    /// `tag` once its run's future is dropped.
    dropped: mpsc::UnboundedReceiver<u32>,
    dropped_tx: mpsc::UnboundedSender<u32>,
}

impl Probes {
    fn new() -> Self {
        let (started_tx, started) = mpsc::unbounded_channel();
        let (dropped_tx, dropped) = mpsc::unbounded_channel();
        Probes {
            started,
            started_tx,
            dropped,
            dropped_tx,
        }
    }
}

/// Spawns, through `via`, an instance tagged `tag` that reports to `probes`
/// and runs until told to stop.
fn instance(sup: &Supervisor, via: Via, name: &str, tag: u32, probes: &Probes) -> TaskHandle {
    let started_tx = probes.started_tx.clone();
    let dropped_tx = probes.dropped_tx.clone();
    start(
        sup,
        via,
        name,
        backoff(3, Duration::from_secs(1)),
        move |ctx: Context| {
            let guard = send_on_drop(&dropped_tx, tag);
            let started_tx = started_tx.clone();
            async move {
                let _guard = guard;
                let _ = started_tx.send((tag, ctx.clone()));
                ctx.cancelled().await;
                Ok::<(), std::io::Error>(())
            }
        },
    )
}

/// Spawning a running name replaces the instance: the old one's `Context` is
/// cancelled and its future dropped; its handle no longer aborts anything,
/// and in particular not the new instance. Checked for `spawn_fn` replacing
/// `spawn_fn`, and across the two APIs in both directions.
#[tokio::test(start_paused = true)]
async fn spawning_a_running_name_replaces_the_old_instance() {
    for (old_via, new_via) in [
        (Via::Fn, Via::Fn),
        (Via::Descriptor, Via::Fn),
        (Via::Fn, Via::Descriptor),
    ] {
        let case = format!("{old_via} replaced by {new_via}");
        let sup = start_empty();
        let name = "fn-replaced";
        let mut probes = Probes::new();

        let first = instance(&sup, old_via, name, 1, &probes);
        let (tag, old_ctx) = next(&mut probes.started, EVENTUALLY, "A1 to start", &sup).await;
        assert_eq!(tag, 1, "{case}");
        let old_token = old_ctx.token();
        assert!(!old_ctx.is_cancelled(), "{case}: A1 runs\n{sup}");
        assert!(!old_token.is_cancelled(), "{case}: A1 runs\n{sup}");

        let second = instance(&sup, new_via, name, 2, &probes);
        assert_eq!(first.name(), name);
        assert_eq!(second.name(), name);
        next_is(
            &mut probes.dropped,
            "A1's future to be dropped",
            1,
            &sup,
            format_args!("{case}: the old instance's future is dropped"),
        )
        .await;
        let (tag, new_ctx) = next(&mut probes.started, EVENTUALLY, "A2 to start", &sup).await;
        assert_eq!(tag, 2, "{case}");

        // The old run was told: its Context and the token it handed out.
        assert!(old_ctx.is_cancelled(), "{case}: A1's Context\n{sup}");
        assert!(old_token.is_cancelled(), "{case}: A1's token\n{sup}");
        tokio::time::timeout(EVENTUALLY, old_ctx.cancelled())
            .await
            .unwrap_or_else(|_| panic!("{case}: A1's `cancelled()` never completed\n{sup}"));
        assert!(!new_ctx.is_cancelled(), "{case}: A2 is not told\n{sup}");

        // The old handle no longer controls anything: it must not touch A2.
        assert!(!first.abort(), "{case}: A1 was already replaced\n{sup}");
        assert!(!first.abort(), "{case}: still nothing\n{sup}");
        assert!(!new_ctx.is_cancelled(), "{case}: A2 untouched\n{sup}");

        // Let time pass: the old instance's end has long been processed.
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_seen(
            &sup,
            name,
            Seen::running(0, None),
            format_args!("{case}: the row describes A2"),
        );
        assert_eq!(rows_named(&sup, name), 1, "{case}: one row per name\n{sup}");
        assert_eq!(
            sup.active_count(),
            1,
            "{case}: the replaced instance no longer counts\n{sup}"
        );
        assert!(
            probes.dropped.try_recv().is_err(),
            "{case}: A2's future is alive, A1's was dropped once\n{sup}"
        );
        assert!(
            probes.started.try_recv().is_err(),
            "{case}: nothing else started\n{sup}"
        );

        // The new handle does control A2.
        assert!(second.abort(), "{case}: A2 is aborted by its handle\n{sup}");
        next_is(
            &mut probes.dropped,
            "A2's future to be dropped",
            2,
            &sup,
            &case,
        )
        .await;
        assert!(new_ctx.is_cancelled(), "{case}: A2's Context\n{sup}");
        assert_status(&sup, name, Status::Aborted);
        assert_eq!(sup.active_count(), 0, "{case}\n{sup}");
        shut_down_cleanly(
            &sup,
            format_args!("{case}: replacements and aborts are clean"),
        )
        .await;
    }
}

/// Replacing a task that waits out a backoff delay cancels its restart: the
/// row then describes the new instance only.
#[tokio::test(start_paused = true)]
async fn replacing_during_a_backoff_delay_cancels_the_pending_restart() {
    for via in BOTH {
        let sup = start_empty();
        let name = "fn-replaced-while-restarting";
        let (calls, f) = counted(|_ctx: Context| async { Err::<(), _>("always fails") });
        let old = start(&sup, via, name, backoff(5, Duration::from_secs(10)), f);
        POLL.until_status(&sup, name, Status::Restarting { attempt: 1, max: 5 })
            .await;
        let probes = Probes::new();
        let _new = instance(&sup, via, name, 2, &probes);
        assert!(!old.abort(), "{via}: the old instance was replaced\n{sup}");

        // Well past every delay the old instance would have waited out.
        tokio::time::sleep(Duration::from_secs(600)).await;
        assert_calls(
            &calls,
            1,
            &sup,
            format_args!("{via}: the replaced instance never restarts"),
        );
        assert_seen(
            &sup,
            name,
            Seen::running(0, None),
            format_args!("{via}: the row describes the new instance only"),
        );
        assert_eq!(sup.active_count(), 1, "{via}\n{sup}");
        shut_down_cleanly(&sup, via).await;
        assert_status(&sup, name, Status::Stopped);
    }
}

// ---------------------------------------------------------------- 5. shutdown

/// An odd length, so that an end noticed by a polling loop would show.
const CLEANUP: Duration = Duration::from_millis(2_003);

/// A task that watches its `Context` is told at shutdown, left to clean up,
/// and ends `Stopped`; `shutdown` waits for it and returns `Ok`.
#[tokio::test(start_paused = true)]
async fn a_cooperative_task_is_told_and_left_to_finish_its_cleanup() {
    for via in BOTH {
        let sup = start_empty();
        let name = "fn-cooperative";
        let (up_tx, up) = oneshot::channel::<()>();
        let up_tx = std::sync::Mutex::new(Some(up_tx));
        let cleaned = Arc::new(AtomicBool::new(false));
        let done = Arc::clone(&cleaned);
        start(
            &sup,
            via,
            name,
            backoff(3, Duration::from_secs(1)),
            move |ctx: Context| {
                let up_tx = up_tx.lock().unwrap().take();
                let done = Arc::clone(&done);
                async move {
                    if let Some(up_tx) = up_tx {
                        let _ = up_tx.send(());
                    }
                    ctx.cancelled().await;
                    tokio::time::sleep(CLEANUP).await;
                    done.store(true, Ordering::SeqCst);
                    Ok::<(), std::io::Error>(())
                }
            },
        );
        tokio::time::timeout(EVENTUALLY, up)
            .await
            .expect("the task to start")
            .expect("the task to start");
        assert_status(&sup, name, Status::Running);

        let began = Instant::now();
        let result = sup.shutdown(Duration::from_secs(5)).await;
        let took = began.elapsed();
        assert!(result.is_ok(), "{via}: {result:?}\n{sup}");
        assert!(cleaned.load(Ordering::SeqCst), "{via}: the cleanup ran");
        assert!(
            took >= CLEANUP && took <= CLEANUP + Duration::from_millis(2),
            "{via}: shutdown waited {took:?} for a {CLEANUP:?} cleanup\n{sup}"
        );
        assert_seen(
            &sup,
            name,
            Seen::stopped(0, None),
            format_args!("{via}: returning Ok after being told is Stopped, not Completed"),
        );
        assert_eq!(sup.active_count(), 0, "{via}\n{sup}");
    }
}

/// A task that ignores its `Context` holds the shutdown until its deadline,
/// is then aborted (its future dropped), and the result names it alone.
#[tokio::test(start_paused = true)]
async fn a_task_ignoring_its_context_is_aborted_at_the_deadline() {
    for via in BOTH {
        let sup = start_empty();
        let (dropped_tx, mut dropped) = mpsc::unbounded_channel();
        let (mut up, f) = reporting(move |_ctx: Context, up| {
            let guard = send_on_drop(&dropped_tx, "fn-stubborn");
            async move {
                let _guard = guard;
                let _ = up.send(());
                // Never looks at its Context.
                std::future::pending::<()>().await;
                Ok::<(), std::io::Error>(())
            }
        });
        start(
            &sup,
            via,
            "fn-stubborn",
            backoff(3, Duration::from_secs(1)),
            f,
        );
        start(
            &sup,
            via,
            "fn-polite",
            RestartPolicy::Never,
            |ctx: Context| async move {
                ctx.cancelled().await;
                Ok::<(), std::io::Error>(())
            },
        );
        next(&mut up, EVENTUALLY, "the stubborn task to start", &sup).await;

        let timeout = Duration::from_secs(3);
        let began = Instant::now();
        let err = shut_down_failing(&sup, timeout, &[("fn-stubborn", Status::Aborted)], via).await;
        let took = began.elapsed();
        assert!(
            took >= timeout && took < timeout + Duration::from_millis(100),
            "{via}: shutdown took {took:?} with a {timeout:?} timeout\n{sup}"
        );
        let text = err.to_string();
        assert!(
            text.contains("fn-stubborn") && !text.contains("fn-polite"),
            "{via}: {text}"
        );
        next_is(
            &mut dropped,
            "the stubborn future to be dropped",
            "fn-stubborn",
            &sup,
            via,
        )
        .await;
        assert_status(&sup, "fn-stubborn", Status::Aborted);
        assert_status(&sup, "fn-polite", Status::Stopped);
        assert_eq!(sup.active_count(), 0, "{via}\n{sup}");
    }
}

/// An `Err` returned once told to stop is a failure of the shutdown, and is
/// not restarted however generous the policy.
#[tokio::test(start_paused = true)]
async fn an_err_after_being_told_fails_the_shutdown_without_restart() {
    for via in BOTH {
        let sup = start_empty();
        let name = "fn-err-after-cancel";
        let (mut up, f) = reporting(|ctx: Context, up| async move {
            let _ = up.send(());
            ctx.cancelled().await;
            Err::<(), _>("could not flush the buffer")
        });
        let (calls, f) = counted(f);
        start(&sup, via, name, backoff(5, Duration::ZERO), f);
        next(&mut up, EVENTUALLY, "the task to start", &sup).await;
        shut_down_failing(
            &sup,
            Duration::from_secs(5),
            &[(name, failed("could not flush the buffer"))],
            via,
        )
        .await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        assert_calls(&calls, 1, &sup, format_args!("{via}: no restart"));
        assert_eq!(row(&sup, name).restarts, 0, "{via}\n{sup}");
    }
}

/// A task waiting out its backoff delay when shutdown begins is not started
/// again: it ends `Stopped` at once, and the shutdown is clean.
#[tokio::test(start_paused = true)]
async fn a_task_waiting_out_its_backoff_ends_stopped() {
    for via in BOTH {
        let sup = start_empty();
        let name = "fn-backing-off";
        let (calls, f) = counted(|_ctx: Context| async { Err::<(), _>("down") });
        start(&sup, via, name, backoff(3, Duration::from_secs(30)), f);
        POLL.until_status(&sup, name, Status::Restarting { attempt: 1, max: 3 })
            .await;
        let began = Instant::now();
        let result = sup.shutdown(Duration::from_secs(10)).await;
        assert!(
            began.elapsed() < Duration::from_millis(50),
            "{via}: {:?}",
            began.elapsed()
        );
        assert!(
            result.is_ok(),
            "{via}: a task stopped in its delay is clean: {result:?}\n{sup}"
        );
        assert_seen(&sup, name, Seen::stopped(0, Some("down")), via);
        tokio::time::sleep(Duration::from_secs(120)).await;
        assert_calls(&calls, 1, &sup, via);
    }
}

// ---------------------------------------------------------------- 6. refusals

/// `spawn_fn` refuses the names the attribute refuses, with the same error
/// as `spawn`, and never calls the function.
#[tokio::test]
async fn bad_names_are_refused_with_invalid_name() {
    let sup = start_empty();
    let called = Arc::new(AtomicU32::new(0));
    for (name, reason) in [
        ("", "is empty"),
        ("a b", "contains whitespace"),
        ("line\nbreak", "contains whitespace"),
        ("nul\0byte", "contains a control character"),
    ] {
        let counter = Arc::clone(&called);
        let refused = sup.spawn_fn(name, RestartPolicy::Never, move |_ctx: Context| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Ok::<(), std::io::Error>(()) }
        });
        let err = match refused {
            Err(err @ Error::InvalidName { .. }) => err,
            other => panic!("{name:?}: expected InvalidName, got {other:?}\n{sup}"),
        };
        assert_eq!(
            err,
            Error::InvalidName {
                name: name.into(),
                reason,
            },
            "{name:?}"
        );
        let text = err.to_string();
        assert!(
            text.contains(reason) && text.contains(&format!("{name:?}")),
            "{name:?}: {text}"
        );
        let by_spawn = sup
            .spawn(TaskDescriptor::new(
                name,
                RestartPolicy::Never,
                |_ctx: Context| async { Ok::<(), std::io::Error>(()) },
            ))
            .expect_err("spawn refuses it too");
        assert_eq!(err, by_spawn, "{name:?}: spawn_fn and spawn differ");
    }
    assert_eq!(called.load(Ordering::SeqCst), 0, "never called\n{sup}");
    assert!(sup.snapshot().is_empty(), "no row\n{sup}");
    assert_eq!(sup.active_count(), 0, "{sup}");

    // A name the attribute accepts is accepted.
    sup.spawn_fn(
        "数据库-primary",
        RestartPolicy::Never,
        |ctx: Context| async move {
            ctx.cancelled().await;
            Ok::<(), std::io::Error>(())
        },
    )
    .expect("a non-ASCII name without whitespace is valid");
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
    assert_status(&sup, "数据库-primary", Status::Stopped);
}

/// Once shutdown has begun (while it waits for a cleanup, and after it), a
/// `spawn_fn` is refused with `ShuttingDown`, like a `spawn`, without calling
/// the function or making a row. A bad name is still `InvalidName` then.
#[tokio::test(start_paused = true)]
async fn spawn_fn_after_shutdown_began_is_refused() {
    let sup = start_empty();
    let called = Arc::new(AtomicU32::new(0));
    let late = |sup: &Supervisor, name: &str| {
        let counter = Arc::clone(&called);
        sup.spawn_fn(name, backoff(3, Duration::from_secs(1)), move |_ctx| {
            counter.fetch_add(1, Ordering::SeqCst);
            async { Ok::<(), std::io::Error>(()) }
        })
    };
    let by_spawn = |sup: &Supervisor, name: &str| {
        sup.spawn(TaskDescriptor::new(
            name,
            backoff(3, Duration::from_secs(1)),
            |_ctx: Context| async { Ok::<(), std::io::Error>(()) },
        ))
    };

    // Something that holds the shutdown for a second.
    let (mut up, f) = reporting(|ctx: Context, up| async move {
        let _ = up.send(());
        ctx.cancelled().await;
        tokio::time::sleep(Duration::from_secs(1)).await;
        Ok::<(), std::io::Error>(())
    });
    sup.spawn_fn("fn-slow-cleanup", RestartPolicy::Never, f)
        .expect("spawn before shutdown");
    next(&mut up, EVENTUALLY, "the slow task to start", &sup).await;
    let shutdown =
        shutdown_in_background(&sup, Duration::from_secs(5), Duration::from_secs(10)).await;

    // During the cleanup...
    assert_status(&sup, "fn-slow-cleanup", Status::Running);
    let refused = late(&sup, "fn-too-late").expect_err("refused during the shutdown");
    assert_eq!(
        refused,
        Error::ShuttingDown {
            name: "fn-too-late".into()
        },
        "{sup}"
    );
    assert_eq!(
        by_spawn(&sup, "fn-too-late").expect_err("spawn refuses too"),
        refused
    );
    let result = tokio::time::timeout(EVENTUALLY, shutdown)
        .await
        .expect("the shutdown to end")
        .expect("the shutdown task");
    assert!(result.is_ok(), "{result:?}\n{sup}");

    // ...and after it.
    let refused = late(&sup, "fn-too-late").expect_err("refused after the shutdown");
    assert_eq!(
        refused,
        Error::ShuttingDown {
            name: "fn-too-late".into()
        },
        "{sup}"
    );
    assert!(refused.to_string().contains("fn-too-late"), "{refused}");
    let bad = late(&sup, "a b").expect_err("a bad name");
    assert!(matches!(bad, Error::InvalidName { .. }), "{bad:?}");
    assert_eq!(by_spawn(&sup, "a b").expect_err("spawn"), bad);

    assert_eq!(called.load(Ordering::SeqCst), 0, "never called\n{sup}");
    assert_eq!(rows_named(&sup, "fn-too-late"), 0, "no row\n{sup}");
    assert_eq!(sup.snapshot().len(), 1, "{sup}");
    assert_status(&sup, "fn-slow-cleanup", Status::Stopped);
    assert_eq!(sup.active_count(), 0, "{sup}");
}

// ---------------------------------------------------------------- 7. error types

/// An error with a cause, to check the text of the chain.
#[derive(Debug)]
struct Loading(std::io::Error);

impl fmt::Display for Loading {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("loading the catalogue")
    }
}

impl std::error::Error for Loading {
    fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
        Some(&self.0)
    }
}

/// Any `E: Into<BoxError>` is accepted, not only `BoxError`, and the failure
/// reads as its text (with its causes).
#[tokio::test(start_paused = true)]
async fn error_types_other_than_box_error_are_accepted() {
    let expected = [
        ("fn-err-io", "disk full"),
        ("fn-err-string", "a String error"),
        ("fn-err-str", "a &str error"),
        ("fn-err-anyhow", "an anyhow error"),
        ("fn-err-chain", "loading the catalogue: permission denied"),
        ("fn-err-box", "already a BoxError"),
    ];
    let mut texts = Vec::new();
    for via in BOTH {
        let sup = start_empty();
        let never = RestartPolicy::Never;
        start(&sup, via, "fn-err-io", never, |_ctx: Context| async {
            Err::<(), std::io::Error>(std::io::Error::other("disk full"))
        });
        start(&sup, via, "fn-err-string", never, |_ctx: Context| async {
            Err::<(), String>("a String error".to_string())
        });
        start(&sup, via, "fn-err-str", never, |_ctx: Context| async {
            Err::<(), &'static str>("a &str error")
        });
        start(&sup, via, "fn-err-anyhow", never, |_ctx: Context| async {
            Err::<(), anyhow::Error>(anyhow::anyhow!("an anyhow error"))
        });
        start(&sup, via, "fn-err-chain", never, |_ctx: Context| async {
            Err::<(), Loading>(Loading(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                "permission denied",
            )))
        });
        start(&sup, via, "fn-err-box", never, |_ctx: Context| async {
            Err::<(), BoxError>("already a BoxError".into())
        });
        sup.wait().await;
        for (name, text) in expected {
            assert_seen(&sup, name, Seen::failed(text, 0), via);
        }
        let named = expected.map(|(name, text)| (name, failed(text)));
        let whole = shut_down_failing(&sup, Duration::from_secs(1), &named, via)
            .await
            .to_string();
        for (name, text) in expected {
            assert!(
                whole.contains(name) && whole.contains(text),
                "{via}: {whole}"
            );
        }
        texts.push(whole);
    }
    assert_eq!(texts[0], texts[1], "spawn_fn and spawn report alike");
}

// ---------------------------------------------------------------- user code at a run's end

/// A hand-written run future that is ready at once, and panics when it is
/// dropped (a "drop bomb": say, a guard future that insists on being driven
/// further).
struct DropBomb(&'static str);

impl Future for DropBomb {
    type Output = Result<(), std::io::Error>;

    fn poll(
        self: std::pin::Pin<&mut Self>,
        _cx: &mut std::task::Context<'_>,
    ) -> std::task::Poll<Self::Output> {
        std::task::Poll::Ready(Ok(()))
    }
}

impl Drop for DropBomb {
    fn drop(&mut self) {
        if !std::thread::panicking() {
            panic!("{}", self.0);
        }
    }
}

/// Dropping a run's future after it returned runs user code: a panic there
/// is that run's failure, restarted per policy, as with `spawn`.
#[tokio::test(start_paused = true)]
async fn a_run_future_that_panics_when_dropped_is_a_failure() {
    for via in BOTH {
        let sup = start_empty();
        let name = "fn-drop-bomb";
        let (calls, f) =
            counted(|_ctx: Context| DropBomb("the run's future panicked when dropped"));
        start(&sup, via, name, backoff(2, Duration::from_secs(1)), f);
        sup.wait().await;
        tokio::time::sleep(Duration::from_secs(60)).await;
        let reason = "the run's future panicked when dropped";
        assert_seen(
            &sup,
            name,
            Seen::failed(reason, 2),
            format_args!("{via}: each drop's panic is a failure, restarted twice, then final"),
        );
        assert_calls(&calls, 3, &sup, via);
        shut_down_failing(&sup, Duration::from_secs(1), &[(name, failed(reason))], via).await;
    }
}

/// An error type whose conversion into `BoxError` is the user's own code.
struct Unconvertible;

impl From<Unconvertible> for BoxError {
    fn from(_: Unconvertible) -> BoxError {
        panic!("converting the error panicked")
    }
}

/// Converting a run's error into `BoxError` runs user code (`E: Into<BoxError>`):
/// a panic there is that run's failure, restarted per policy, as with `spawn`.
#[tokio::test(start_paused = true)]
async fn an_error_whose_conversion_panics_is_a_failure() {
    for via in BOTH {
        let sup = start_empty();
        let name = "fn-unconvertible";
        let (mut up, f) = reporting(|ctx: Context, up| async move {
            if ctx.attempt() == 0 {
                return Err(Unconvertible);
            }
            let _ = up.send(ctx.attempt());
            ctx.cancelled().await;
            Ok(())
        });
        start(&sup, via, name, backoff(2, Duration::from_secs(1)), f);
        POLL.until(&sup, "run 0 to end", || {
            let r = row(&sup, name);
            r.last_failure.is_some() || !r.status.is_active()
        })
        .await;
        assert_seen(
            &sup,
            name,
            Seen::restarting(1, 2, 0, "converting the error panicked"),
            format_args!("{via}: the panic is run 0's failure"),
        );
        next_is(&mut up, "run 1", 1, &sup, via).await;
        assert_status(&sup, name, Status::Running);
        shut_down_cleanly(&sup, via).await;
        assert_status(&sup, name, Status::Stopped);
    }
}

// ---------------------------------------------------------------- spawn_fn's own

/// `spawn_fn` needs a function that is `Send`, not `Sync` (a
/// `TaskDescriptor`'s must be both): one that keeps its own count in a
/// `Cell` is called once per run, in order.
#[tokio::test(start_paused = true)]
async fn spawn_fn_takes_a_function_that_is_not_sync() {
    let sup = start_empty();
    let name = "fn-not-sync";
    let (calls_tx, mut calls) = mpsc::unbounded_channel();
    let count = Cell::new(0u32);
    sup.spawn_fn(name, backoff(3, Duration::from_millis(10)), move |ctx| {
        count.set(count.get() + 1);
        let _ = calls_tx.send((count.get(), ctx.attempt()));
        async move {
            if ctx.attempt() < 2 {
                return Err::<(), _>(format!("run {} failed", ctx.attempt()));
            }
            ctx.cancelled().await;
            Ok(())
        }
    })
    .expect("spawn_fn");
    for expected in [(1, 0), (2, 1), (3, 2)] {
        assert_eq!(next(&mut calls, EVENTUALLY, "a call", &sup).await, expected);
    }
    POLL.until(&sup, "the third run to be up", || {
        row(&sup, name).restarts == 2
    })
    .await;
    assert_status(&sup, name, Status::Running);
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
    assert!(calls.try_recv().is_err(), "no fourth call\n{sup}");
    assert_status(&sup, name, Status::Stopped);
}

// ---------------------------------------------------------------- no box per run

/// Counts the allocations of each thread: a test on the current-thread
/// runtime (the default of `#[tokio::test]`) sees its supervisor's work, and
/// not that of the tests running beside it on other threads.
struct CountingAllocator;

thread_local! {
    static ALLOCATIONS: Cell<u64> = const { Cell::new(0) };
}

// SAFETY: defers every call to the system allocator; counting touches a
// `const`-initialized thread-local `Cell`, which allocates nothing.
unsafe impl GlobalAlloc for CountingAllocator {
    unsafe fn alloc(&self, layout: Layout) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.alloc(layout) }
    }

    unsafe fn dealloc(&self, ptr: *mut u8, layout: Layout) {
        // SAFETY: the caller's contract, passed on.
        unsafe { System.dealloc(ptr, layout) }
    }

    unsafe fn realloc(&self, ptr: *mut u8, layout: Layout, new_size: usize) -> *mut u8 {
        let _ = ALLOCATIONS.try_with(|n| n.set(n.get() + 1));
        // SAFETY: the caller's contract, passed on.
        unsafe { System.realloc(ptr, layout, new_size) }
    }
}

#[global_allocator]
static ALLOCATOR: CountingAllocator = CountingAllocator;

fn allocations() -> u64 {
    ALLOCATIONS.with(Cell::get)
}

/// The allocations of this thread over `WINDOW` restarts of a task that
/// fails at once with a zero delay, started through `via`.
async fn allocations_over_restarts(via: Via) -> u64 {
    const FIRST: u32 = 10;
    const WINDOW: u32 = 100;
    let sup = start_empty();
    let name = "fn-allocations";
    let marks = Arc::new([AtomicU64::new(0), AtomicU64::new(0)]);
    let seen_marks = Arc::clone(&marks);
    start(
        &sup,
        via,
        name,
        backoff(FIRST + WINDOW + 10, Duration::ZERO),
        move |ctx: Context| {
            match ctx.attempt() {
                FIRST => seen_marks[0].store(allocations(), Ordering::SeqCst),
                n if n == FIRST + WINDOW => seen_marks[1].store(allocations(), Ordering::SeqCst),
                _ => {}
            }
            async move {
                if ctx.attempt() < FIRST + WINDOW {
                    Err::<(), &'static str>("fails at once")
                } else {
                    Ok(())
                }
            }
        },
    );
    sup.wait().await;
    assert_seen(
        &sup,
        name,
        Seen::completed(FIRST + WINDOW, Some("fails at once")),
        via,
    );
    let [from, to] = [0, 1].map(|i| marks[i].load(Ordering::SeqCst));
    assert!(to > from, "{via}: the marks were taken: {from}, {to}");
    to - from
}

/// The point of `spawn_fn`: a restart does not box its run's future, so it
/// allocates at least one time less than a `TaskDescriptor`'s restart.
#[tokio::test]
async fn a_restart_through_spawn_fn_boxes_no_future() {
    let by_fn = allocations_over_restarts(Via::Fn).await;
    let by_descriptor = allocations_over_restarts(Via::Descriptor).await;
    assert!(
        by_fn + 100 <= by_descriptor,
        "over 100 restarts: spawn_fn allocated {by_fn} times, \
         spawn(TaskDescriptor) {by_descriptor} times"
    );
}
