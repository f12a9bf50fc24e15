//! Services in an application: state, the handle inside a service,
//! readiness, dependencies (`after`), and the empty supervisor.

use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

use supervisor::{
    supervised, Builder, CancellationToken, Context, Error, RestartPolicy, State, Status,
    Supervisor, TaskDescriptor,
};
use tests::{assert_status, start_only, status, wait_idle, Poll};
use tokio::sync::Notify;

/// Longest wait for something that must happen.
const EVENTUALLY: Duration = Duration::from_secs(10);
/// Looks often, on the paused clock.
const POLL: Poll = Poll {
    every: Duration::from_millis(1),
    within: EVENTUALLY,
};

// ------------------------------------------------------------------ state

#[derive(Clone, Debug, Default)]
struct Greetings(Arc<Mutex<Vec<String>>>);

#[derive(Clone, Debug)]
struct Punctuation(&'static str);

/// Takes two values of state (in any order with its Context).
#[supervised(name = "app-greeter")]
async fn greeter(State(log): State<Greetings>, ctx: Context, State(mark): State<Punctuation>) {
    let line = format!("hello from {}{}", ctx.name(), mark.0);
    log.0.lock().unwrap().push(line);
    // Under a supervisor, the same values through the context too.
    if ctx.supervisor().is_some() {
        assert_eq!(ctx.state::<Punctuation>().map(|p| p.0), Some(mark.0));
    } else {
        assert!(
            ctx.state::<Punctuation>().is_none(),
            "a detached context has none"
        );
    }
}

#[tokio::test]
async fn state_reaches_every_parameter_and_the_context() {
    let log = Greetings::default();
    let sup = Builder::new()
        .only(["app-greeter"])
        .state(log.clone())
        .state(Punctuation("?"))
        .state(Punctuation("!")) // a second value of a type replaces the first
        .start()
        .expect("every type given");
    wait_idle(&sup, EVENTUALLY).await;
    assert_status(&sup, "app-greeter", Status::Completed);
    assert_eq!(*log.0.lock().unwrap(), ["hello from app-greeter!"]);
}

#[tokio::test]
async fn a_missing_state_type_is_refused_before_anything_starts() {
    let err = Builder::new()
        .only(["app-greeter"])
        .state(Greetings::default())
        .start()
        .map(|_| ())
        .expect_err("Punctuation is missing");
    match &err {
        Error::MissingState {
            service, type_name, ..
        } => {
            assert_eq!(service, "app-greeter");
            assert!(type_name.ends_with("Punctuation"), "{type_name}");
        }
        other => panic!("expected MissingState, got {other}"),
    }
    let text = err.to_string();
    assert!(
        text.contains("app-greeter") && text.contains("Punctuation") && text.contains("state("),
        "the error names the service, the type and the fix: {text}"
    );
}

#[tokio::test]
async fn state_of_an_unselected_service_is_not_checked() {
    let sup = Builder::new()
        .only(["app-plain"])
        .start()
        .expect("app-greeter is not selected, its state is not needed");
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
}

#[supervised(name = "app-plain")]
async fn plain() {}

#[tokio::test]
async fn a_service_fn_is_callable_directly_with_its_state() {
    let log = Greetings::default();
    let stop = CancellationToken::new();
    greeter(
        State(log.clone()),
        Context::detached("direct", stop),
        State(Punctuation(".")),
    )
    .await;
    assert_eq!(*log.0.lock().unwrap(), ["hello from direct."]);
}

// -------------------------------------------------------------- readiness

static GATE: Notify = Notify::const_new();

/// Ready only when the test opens the gate.
#[supervised(name = "app-manual", ready = manual)]
async fn manual(ctx: Context) {
    GATE.notified().await;
    ctx.ready();
    ctx.cancelled().await;
}

/// Starts after `app-manual` is ready.
#[supervised(name = "app-after-manual", after = ["app-manual"])]
async fn after_manual(ctx: Context) {
    ctx.cancelled().await;
}

#[tokio::test(start_paused = true)]
async fn a_dependant_waits_queued_for_a_manual_dependency() {
    let sup = start_only(&["app-after-manual"]); // pulls in app-manual
    tokio::time::sleep(Duration::from_secs(60)).await;
    assert_status(&sup, "app-manual", Status::Running);
    assert_status(&sup, "app-after-manual", Status::Queued);
    assert!(!tests::row(&sup, "app-manual").ready);
    assert!(!sup.is_ready());
    assert_eq!(sup.active_count(), 2, "a queued service counts as active");

    GATE.notify_one();
    POLL.until_status(&sup, "app-after-manual", Status::Running)
        .await;
    assert!(tests::row(&sup, "app-manual").ready);
    assert!(sup.is_ready());
    sup.shutdown(Duration::from_secs(5)).await.expect("clean");
    assert!(!sup.is_ready(), "not ready once shutdown began");
}

static LOADED: AtomicU32 = AtomicU32::new(0);

/// A one-shot that others need: ready once it returned `Ok`.
#[supervised(name = "app-loader", ready = completed)]
async fn loader() {
    tokio::time::sleep(Duration::from_secs(3)).await;
    LOADED.fetch_add(1, Ordering::SeqCst);
}

/// Needs the loader's result.
#[supervised(name = "app-uses-loader", after = ["app-loader"])]
async fn uses_loader(ctx: Context) {
    assert_eq!(
        LOADED.load(Ordering::SeqCst),
        1,
        "started before the loader completed"
    );
    ctx.cancelled().await;
}

#[tokio::test(start_paused = true)]
async fn a_dependant_waits_for_a_completed_one_shot() {
    let sup = start_only(&["app-uses-loader"]);
    tokio::task::yield_now().await;
    assert_status(&sup, "app-uses-loader", Status::Queued);
    assert!(
        !tests::row(&sup, "app-loader").ready,
        "running is not completed"
    );
    POLL.until_status(&sup, "app-uses-loader", Status::Running)
        .await;
    assert_status(&sup, "app-loader", Status::Completed);
    assert!(
        tests::row(&sup, "app-loader").ready,
        "completed counts as ready"
    );
    assert!(sup.is_ready());
    sup.shutdown(Duration::from_secs(5)).await.expect("clean");
}

static FLAKY_RUNS: AtomicU32 = AtomicU32::new(0);
static FLAKY_FAIL: AtomicBool = AtomicBool::new(false);
static FLAKY_READY: Notify = Notify::const_new();

/// Becomes ready on every run, then fails when told to.
#[supervised(name = "app-flaky", ready = manual, restart = backoff(5, "10s"))]
async fn flaky(ctx: Context) -> Result<(), String> {
    FLAKY_RUNS.fetch_add(1, Ordering::SeqCst);
    ctx.ready();
    loop {
        tokio::select! {
            () = ctx.cancelled() => return Ok(()),
            () = FLAKY_READY.notified() => {
                if FLAKY_FAIL.swap(false, Ordering::SeqCst) {
                    return Err("lost the connection".into());
                }
            }
        }
    }
}

static WORKER_RUNS: AtomicU32 = AtomicU32::new(0);
static WORKER_FAIL: AtomicBool = AtomicBool::new(false);
static WORKER_POKE: Notify = Notify::const_new();

/// Depends on `app-flaky`; fails when told to.
#[supervised(name = "app-worker", after = ["app-flaky"], restart = backoff(5, "1s"))]
async fn worker(ctx: Context) -> Result<(), String> {
    WORKER_RUNS.fetch_add(1, Ordering::SeqCst);
    loop {
        tokio::select! {
            () = ctx.cancelled() => return Ok(()),
            () = WORKER_POKE.notified() => {
                if WORKER_FAIL.swap(false, Ordering::SeqCst) {
                    return Err("bad input".into());
                }
            }
        }
    }
}

#[tokio::test(start_paused = true)]
async fn a_restarting_dependency_holds_back_restarts_not_running_dependants() {
    let sup = start_only(&["app-worker"]);
    POLL.until_status(&sup, "app-worker", Status::Running).await;
    assert_eq!(WORKER_RUNS.load(Ordering::SeqCst), 1);

    // The dependency fails: the running dependant is left alone.
    FLAKY_FAIL.store(true, Ordering::SeqCst);
    FLAKY_READY.notify_one();
    POLL.until(&sup, "app-flaky to restart", || {
        matches!(status(&sup, "app-flaky"), Status::Restarting { .. })
    })
    .await;
    assert!(
        !tests::row(&sup, "app-flaky").ready,
        "a restart is not ready"
    );
    assert_status(&sup, "app-worker", Status::Running);

    // Now the dependant fails: its restart waits (Queued) for the dependency.
    WORKER_FAIL.store(true, Ordering::SeqCst);
    WORKER_POKE.notify_one();
    tokio::time::sleep(Duration::from_secs(2)).await; // its 1 s backoff is over
    assert_status(&sup, "app-worker", Status::Queued);
    assert_eq!(WORKER_RUNS.load(Ordering::SeqCst), 1);

    // The dependency's 10 s delay ends, it runs and says ready: the
    // dependant restarts.
    POLL.until_status(&sup, "app-worker", Status::Running).await;
    assert_eq!(FLAKY_RUNS.load(Ordering::SeqCst), 2);
    assert_eq!(WORKER_RUNS.load(Ordering::SeqCst), 2);
    assert_eq!(tests::row(&sup, "app-worker").restarts, 1);
    sup.shutdown(Duration::from_secs(5)).await.expect("clean");
}

/// Fails at once, never ready.
#[supervised(name = "app-broken-db")]
async fn broken_db() -> Result<(), String> {
    Err("connection refused".into())
}

#[supervised(name = "app-needs-db", after = ["app-broken-db"])]
async fn needs_db(ctx: Context) {
    ctx.cancelled().await;
}

#[tokio::test(start_paused = true)]
async fn a_failed_dependency_fails_its_dependants_naming_it() {
    let sup = start_only(&["app-needs-db"]);
    wait_idle(&sup, EVENTUALLY).await;
    match status(&sup, "app-needs-db") {
        Status::Failed { reason } => assert!(
            reason.contains("app-broken-db") && reason.contains("connection refused"),
            "{reason}"
        ),
        other => panic!("expected Failed, got {other}\n{sup}"),
    }
    let result = sup.shutdown(Duration::from_secs(1)).await;
    assert_eq!(
        tests::failed_names(&result),
        ["app-broken-db", "app-needs-db"],
        "{result:?}"
    );
}

// ---------------------------------------------------------- shutdown order

/// What happened at shutdown, in order.
static ORDER: Mutex<Vec<&'static str>> = Mutex::new(Vec::new());

fn note(event: &'static str) {
    ORDER.lock().unwrap().push(event);
}

#[supervised(name = "app-store")]
async fn store(ctx: Context) {
    ctx.cancelled().await;
    note("store told");
    tokio::time::sleep(Duration::from_millis(10)).await;
    note("store done");
}

#[supervised(name = "app-api", after = ["app-store"])]
async fn api(ctx: Context) {
    ctx.cancelled().await;
    note("api told");
    // A long cleanup that still needs the store.
    tokio::time::sleep(Duration::from_secs(2)).await;
    note("api done");
}

#[supervised(name = "app-frontend", after = ["app-api"])]
async fn frontend(ctx: Context) {
    ctx.cancelled().await;
    note("frontend told");
    tokio::time::sleep(Duration::from_secs(1)).await;
    note("frontend done");
}

#[tokio::test(start_paused = true)]
async fn shutdown_stops_dependants_before_their_dependencies() {
    let sup = start_only(&["app-frontend"]);
    POLL.until_status(&sup, "app-frontend", Status::Running)
        .await;
    let started = tokio::time::Instant::now();
    sup.shutdown(Duration::from_secs(10)).await.expect("clean");
    assert_eq!(
        *ORDER.lock().unwrap(),
        [
            "frontend told",
            "frontend done",
            "api told",
            "api done",
            "store told",
            "store done"
        ]
    );
    let took = started.elapsed();
    assert!(took >= Duration::from_secs(3), "{took:?}");
    for name in ["app-store", "app-api", "app-frontend"] {
        assert_status(&sup, name, Status::Stopped);
    }
}

/// Holds its dependant's cleanup past the deadline.
#[supervised(name = "app-slow-base")]
async fn slow_base(ctx: Context) {
    ctx.cancelled().await;
}

#[supervised(name = "app-stuck-top", after = ["app-slow-base"])]
async fn stuck_top(_ctx: Context) {
    std::future::pending::<()>().await;
}

#[tokio::test(start_paused = true)]
async fn the_whole_ordered_shutdown_keeps_one_deadline() {
    let sup = start_only(&["app-stuck-top"]);
    POLL.until_status(&sup, "app-stuck-top", Status::Running)
        .await;
    let started = tokio::time::Instant::now();
    let result = sup.shutdown(Duration::from_secs(5)).await;
    let took = started.elapsed();
    assert!(took < Duration::from_secs(6), "one deadline: {took:?}");
    // The base waited for its dependant until the deadline: whatever runs
    // then is aborted, the base included.
    assert_eq!(
        tests::failed_names(&result),
        ["app-slow-base", "app-stuck-top"],
        "{result:?}"
    );
}

// ------------------------------------------------- graph checked at start

#[supervised(name = "app-cycle-a", after = ["app-cycle-b"])]
async fn cycle_a() {}

#[supervised(name = "app-cycle-b", after = ["app-cycle-c"])]
async fn cycle_b() {}

#[supervised(name = "app-cycle-c", after = ["app-cycle-a"])]
async fn cycle_c() {}

#[tokio::test]
async fn a_cycle_of_three_is_refused_and_shown_as_its_path() {
    for start in ["app-cycle-a", "app-cycle-b", "app-cycle-c"] {
        let err = Builder::new()
            .only([start])
            .start()
            .map(|_| ())
            .expect_err("a cycle");
        match &err {
            Error::DependencyCycle { path } => {
                assert_eq!(path.len(), 4, "{path:?}");
                assert_eq!(path.first(), path.last(), "a closed path: {path:?}");
            }
            other => panic!("expected DependencyCycle, got {other}"),
        }
        assert!(
            err.to_string()
                .contains("app-cycle-a -> app-cycle-b -> app-cycle-c -> app-cycle-a"),
            "{err}"
        );
    }
}

#[supervised(name = "app-orphan", after = ["app-no-such-service"])]
async fn orphan() {}

#[tokio::test]
async fn an_unknown_dependency_is_refused_naming_both() {
    let err = Builder::new()
        .only(["app-orphan"])
        .start()
        .map(|_| ())
        .expect_err("unknown dependency");
    match &err {
        Error::UnknownDependency {
            service,
            dependency,
            ..
        } => {
            assert_eq!(service, "app-orphan");
            assert_eq!(dependency, "app-no-such-service");
        }
        other => panic!("expected UnknownDependency, got {other}"),
    }
}

#[supervised(name = "app-pull-base")]
async fn pull_base(ctx: Context) {
    ctx.cancelled().await;
}

#[supervised(name = "app-pull-mid", after = ["app-pull-base"])]
async fn pull_mid(ctx: Context) {
    ctx.cancelled().await;
}

#[supervised(name = "app-pull-top", after = ["app-pull-mid"])]
async fn pull_top(ctx: Context) {
    ctx.cancelled().await;
}

#[tokio::test(start_paused = true)]
async fn only_pulls_in_what_the_selection_needs() {
    let sup = start_only(&["app-pull-top"]);
    let mut names = tests::names(&sup);
    names.sort();
    assert_eq!(names, ["app-pull-base", "app-pull-mid", "app-pull-top"]);
    POLL.until_status(&sup, "app-pull-top", Status::Running)
        .await;
    sup.shutdown(Duration::from_secs(10)).await.expect("clean");
}

// --------------------------------------------------------- empty supervisor

#[test]
fn an_empty_supervisor_is_made_outside_a_runtime_and_adopts_the_first() {
    let sup = Supervisor::new();
    let early = sup.spawn(TaskDescriptor::new(
        "early",
        RestartPolicy::Never,
        |_ctx| async { Ok::<(), std::io::Error>(()) },
    ));
    assert!(matches!(early, Err(Error::NoRuntime)), "{early:?}");
    assert!(sup.is_ready(), "nothing declared: ready");

    let runtime = tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .expect("a runtime");
    runtime.block_on(async {
        tests::spawn_idle(&sup, "late");
        let job = sup.spawn_oneshot("answer", |ctx| async move {
            ctx.supervisor().map(|s| s.active_count())
        });
        assert_eq!(job.join().await, Ok(Some(2)));
        // The token starts the shutdown, watched on the adopted runtime.
        sup.cancellation_token().cancel();
        wait_idle(&sup, EVENTUALLY).await;
        assert_eq!(status(&sup, "late"), Status::Stopped);
        sup.shutdown(Duration::from_secs(1)).await.expect("clean");
    });
}
