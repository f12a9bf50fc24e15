//! Every form of declaration the attribute accepts runs under the supervisor;
//! the function stays an ordinary function; the registry describes each
//! declaration; blocking services run on a thread named after them.
//!
//! Tests in this file run in parallel in one process, so each one starts only
//! its own services (`Builder::only`).

use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Mutex;
use std::time::Duration;

use anyhow::Context as _;
use supervisor::{
    supervised, CancellationToken, Context, RestartPolicy, ServiceSpec, Status, Supervisor,
};
use tests::{assert_status, failure_reason, names, row, start_only, wait_idle, Poll};

// ---------------------------------------------------------------- helpers

fn spec(name: &str) -> &'static ServiceSpec {
    supervisor::registry()
        .find(|s| s.name() == name)
        .unwrap_or_else(|| {
            let all: Vec<_> = supervisor::registry().collect();
            panic!("`{name}` is not in the registry: {all:#?}")
        })
}

/// Longest wait for something that must happen.
const EVENTUALLY: Duration = Duration::from_secs(10);
const POLL: Poll = Poll {
    every: Duration::from_millis(2),
    within: EVENTUALLY,
};

/// Starts `name` alone, waits until it has ended, and checks it ended
/// `expected`.
async fn run_alone(name: &str, expected: Status) -> Supervisor {
    let sup = start_only(&[name]);
    wait_idle(&sup, EVENTUALLY).await;
    assert_status(&sup, name, expected);
    sup
}

/// [`run_alone`] for a service expected to complete after one run, which it
/// counts in `runs`.
async fn completes_after_one_run(name: &str, runs: &AtomicUsize) -> Supervisor {
    let sup = run_alone(name, Status::Completed).await;
    assert_eq!(runs.load(Ordering::SeqCst), 1, "{sup}");
    sup
}

/// Where a blocking service found itself: (service, std thread name, OS thread name).
type ThreadNote = (&'static str, Option<String>, Option<String>);
static THREADS: Mutex<Vec<ThreadNote>> = Mutex::new(Vec::new());

fn note_thread(service: &'static str) {
    let current = std::thread::current();
    let std_name = current.name().map(str::to_string);
    let os_name = std::fs::read_to_string("/proc/thread-self/comm")
        .ok()
        .map(|s| s.trim_end_matches('\n').to_string());
    THREADS.lock().unwrap().push((service, std_name, os_name));
}

fn thread_of(service: &str) -> Option<ThreadNote> {
    THREADS
        .lock()
        .unwrap()
        .iter()
        .find(|(s, _, _)| *s == service)
        .cloned()
}

// ---------------------------------------------------------------- services

static PLAIN_RUNS: AtomicUsize = AtomicUsize::new(0);

const PLAIN_LINE: u32 = line!() + 1;
#[supervised]
async fn decl_plain() {
    PLAIN_RUNS.fetch_add(1, Ordering::SeqCst);
}

static WITH_CONTEXT_SAW_CANCEL: AtomicBool = AtomicBool::new(false);
static WITH_CONTEXT_NAME: Mutex<Option<String>> = Mutex::new(None);

#[supervised(name = "decl-with-context")]
async fn with_context(ctx: Context) {
    *WITH_CONTEXT_NAME.lock().unwrap() = Some(ctx.name().to_string());
    ctx.cancelled().await;
    WITH_CONTEXT_SAW_CANCEL.store(true, Ordering::SeqCst);
}

static UNDERSCORE_RUNS: AtomicUsize = AtomicUsize::new(0);

#[supervised(name = "decl-underscore")]
async fn underscore_context(_ctx: Context) {
    UNDERSCORE_RUNS.fetch_add(1, Ordering::SeqCst);
}

static UNIT_RUNS: AtomicUsize = AtomicUsize::new(0);

#[supervised(name = "decl-explicit-unit")]
#[allow(clippy::unused_unit)] // the explicit `-> ()` is the form under test
async fn explicit_unit() -> () {
    UNIT_RUNS.fetch_add(1, Ordering::SeqCst);
}

static IO_RUNS: AtomicUsize = AtomicUsize::new(0);

#[supervised(name = "decl-io-result")]
async fn io_result(ctx: Context) -> std::io::Result<()> {
    assert_eq!(ctx.attempt(), 0);
    IO_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[supervised(name = "decl-string-error")]
async fn string_error() -> Result<(), String> {
    Err("the string error text".to_string())
}

#[supervised(name = "decl-anyhow-error")]
async fn anyhow_error() -> anyhow::Result<()> {
    Err(anyhow::anyhow!("root cause")).context("outer layer")
}

static ANYHOW_OK_RUNS: AtomicUsize = AtomicUsize::new(0);

#[supervised(name = "decl-anyhow-ok")]
async fn anyhow_ok(_ctx: Context) -> anyhow::Result<()> {
    ANYHOW_OK_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

static BACKOFF_FORM_RUNS: AtomicUsize = AtomicUsize::new(0);

#[supervised(restart = backoff(4, "1m 30s"), name = "decl-backoff")]
async fn backoff_form(_ctx: Context) -> std::io::Result<()> {
    BACKOFF_FORM_RUNS.fetch_add(1, Ordering::SeqCst);
    Ok(())
}

#[supervised(name = "blk-ctx", blocking)]
fn blocking_with_context(ctx: Context) {
    note_thread("blk-ctx");
    while !ctx.is_cancelled() {
        std::thread::sleep(Duration::from_millis(2));
    }
}

#[supervised(name = "blk-plain", blocking)]
fn blocking_plain() -> std::io::Result<()> {
    note_thread("blk-plain");
    Ok(())
}

#[supervised(blocking)]
fn decl_blocking_default() -> Result<(), String> {
    note_thread("decl_blocking_default");
    Err("blocking error text".to_string())
}

const LONG_NAME: &str = "blocking-service-with-a-long-name";

#[supervised(name = "blocking-service-with-a-long-name", blocking)]
fn blocking_long_name(_ctx: Context) {
    note_thread(LONG_NAME);
}

static DETACHABLE_SAW: Mutex<Option<(String, u32)>> = Mutex::new(None);

#[supervised(name = "decl-detachable")]
async fn detachable(ctx: Context) -> Result<(), String> {
    ctx.cancelled().await;
    *DETACHABLE_SAW.lock().unwrap() = Some((ctx.name().to_string(), ctx.attempt()));
    Ok(())
}

// ---------------------------------------------------------------- tests

#[tokio::test]
async fn async_fn_without_context_runs_under_its_function_name() {
    let sup = completes_after_one_run("decl_plain", &PLAIN_RUNS).await;
    assert_eq!(names(&sup), ["decl_plain"], "{sup}");
}

#[tokio::test(start_paused = true)]
async fn async_fn_with_context_runs_under_its_explicit_name_and_is_told_to_stop() {
    assert!(
        supervisor::registry().all(|s| s.name() != "with_context"),
        "an explicit name replaces the function's name"
    );
    let sup = start_only(&["decl-with-context"]);
    POLL.until(&sup, "the service to start", || {
        WITH_CONTEXT_NAME.lock().unwrap().is_some()
    })
    .await;
    assert_eq!(
        WITH_CONTEXT_NAME.lock().unwrap().as_deref(),
        Some("decl-with-context"),
        "ctx.name() is the service's name"
    );
    assert_status(&sup, "decl-with-context", Status::Running);
    let result = sup.shutdown(Duration::from_secs(5)).await;
    assert!(result.is_ok(), "{result:?} {:#?}", sup.snapshot());
    assert!(
        WITH_CONTEXT_SAW_CANCEL.load(Ordering::SeqCst),
        "{:#?}",
        sup.snapshot()
    );
    assert_status(&sup, "decl-with-context", Status::Stopped);
}

#[tokio::test]
async fn underscore_context_pattern_is_accepted() {
    assert!(spec("decl-underscore").takes_context());
    completes_after_one_run("decl-underscore", &UNDERSCORE_RUNS).await;
}

#[tokio::test]
async fn explicit_unit_return_type_completes() {
    completes_after_one_run("decl-explicit-unit", &UNIT_RUNS).await;
}

#[tokio::test]
async fn io_result_ok_completes() {
    completes_after_one_run("decl-io-result", &IO_RUNS).await;
}

#[tokio::test]
async fn string_error_fails_with_its_text() {
    run_alone(
        "decl-string-error",
        Status::Failed {
            reason: "the string error text".into(),
        },
    )
    .await;
}

#[tokio::test]
async fn anyhow_result_ok_completes_and_err_fails_with_its_text() {
    let sup = start_only(&["decl-anyhow-ok", "decl-anyhow-error"]);
    wait_idle(&sup, EVENTUALLY).await;
    assert_status(&sup, "decl-anyhow-ok", Status::Completed);
    assert_eq!(ANYHOW_OK_RUNS.load(Ordering::SeqCst), 1);
    // The context, then the error it was added to.
    assert_eq!(
        failure_reason(&sup, "decl-anyhow-error"),
        "outer layer: root cause",
        "{sup}"
    );
}

#[tokio::test]
async fn backoff_form_with_compound_duration_runs() {
    let sup = completes_after_one_run("decl-backoff", &BACKOFF_FORM_RUNS).await;
    assert_eq!(row(&sup, "decl-backoff").restarts, 0, "{sup}");
}

#[tokio::test]
async fn blocking_with_context_runs_on_a_thread_named_after_it_and_stops_when_told() {
    let sup = start_only(&["blk-ctx"]);
    POLL.until(&sup, "the blocking service to start", || {
        thread_of("blk-ctx").is_some()
    })
    .await;
    let (_, std_name, _) = thread_of("blk-ctx").unwrap();
    assert_eq!(
        std_name.as_deref(),
        Some("blk-ctx"),
        "{:#?}",
        sup.snapshot()
    );
    assert_ne!(
        std::thread::current().name(),
        Some("blk-ctx"),
        "the test itself is not on the service's thread"
    );
    assert_status(&sup, "blk-ctx", Status::Running);
    let result = sup.shutdown(Duration::from_secs(5)).await;
    assert!(result.is_ok(), "{result:?} {:#?}", sup.snapshot());
    assert_status(&sup, "blk-ctx", Status::Stopped);
}

#[tokio::test]
async fn blocking_without_context_runs_on_a_thread_named_after_it() {
    run_alone("blk-plain", Status::Completed).await;
    let (_, std_name, os_name) = thread_of("blk-plain").expect("the service ran");
    assert_eq!(std_name.as_deref(), Some("blk-plain"));
    if cfg!(target_os = "linux") {
        assert_eq!(os_name.as_deref(), Some("blk-plain"));
    }
}

#[tokio::test]
async fn blocking_default_name_is_the_function_name_and_err_is_failed() {
    run_alone(
        "decl_blocking_default",
        Status::Failed {
            reason: "blocking error text".into(),
        },
    )
    .await;
    let (_, std_name, _) = thread_of("decl_blocking_default").expect("the service ran");
    assert_eq!(std_name.as_deref(), Some("decl_blocking_default"));
}

#[tokio::test]
async fn blocking_thread_of_a_long_name_is_named_after_it_truncated_to_15_bytes_by_the_os() {
    run_alone(LONG_NAME, Status::Completed).await;
    let (_, std_name, os_name) = thread_of(LONG_NAME).expect("the service ran");
    // The standard library keeps the whole name; the kernel keeps 15 bytes.
    assert_eq!(std_name.as_deref(), Some(LONG_NAME));
    if cfg!(target_os = "linux") {
        assert_eq!(os_name.as_deref(), Some(&LONG_NAME[..15]));
    }
}

#[tokio::test(start_paused = true)]
async fn service_functions_stay_directly_callable() {
    // With a detached context: runs until its token is cancelled.
    let token = CancellationToken::new();
    let run = tokio::spawn(detachable(Context::detached("direct", token.clone())));
    tokio::time::sleep(Duration::from_secs(1)).await;
    assert!(!run.is_finished(), "the function waits for its context");
    token.cancel();
    let value = tokio::time::timeout(Duration::from_secs(1), run)
        .await
        .expect("returns once cancelled")
        .expect("does not panic");
    assert_eq!(value, Ok(()));
    assert_eq!(
        DETACHABLE_SAW.lock().unwrap().clone(),
        Some(("direct".to_string(), 0)),
        "the detached context carries the given name and attempt 0"
    );

    // Without a context, async and blocking.
    assert_eq!(
        string_error().await,
        Err("the string error text".to_string())
    );
    let err = anyhow_error().await.unwrap_err();
    assert_eq!(err.to_string(), "outer layer");
    assert!(blocking_plain().is_ok());
}

const NEVER: RestartPolicy = RestartPolicy::Never;

/// Every declaration of this file, as the registry must describe it:
/// (name, restart policy, blocking, takes a context).
const DECLARED: &[(&str, RestartPolicy, bool, bool)] = &[
    ("decl_plain", NEVER, false, false),
    ("decl-with-context", NEVER, false, true),
    ("decl-underscore", NEVER, false, true),
    ("decl-explicit-unit", NEVER, false, false),
    ("decl-io-result", NEVER, false, true),
    ("decl-string-error", NEVER, false, false),
    ("decl-anyhow-error", NEVER, false, false),
    ("decl-anyhow-ok", NEVER, false, true),
    (
        "decl-backoff",
        RestartPolicy::Backoff {
            max: 4,
            base_delay: Duration::from_secs(90),
        },
        false,
        true,
    ),
    ("blk-ctx", NEVER, true, true),
    ("blk-plain", NEVER, true, false),
    ("decl_blocking_default", NEVER, true, false),
    (LONG_NAME, NEVER, true, true),
    ("decl-detachable", NEVER, false, true),
];

#[test]
fn registry_describes_every_declaration() {
    for &(name, restart, blocking, context) in DECLARED {
        let s = spec(name);
        assert_eq!(s.restart(), restart, "{s:?}");
        assert_eq!(s.is_blocking(), blocking, "{s:?}");
        assert_eq!(s.takes_context(), context, "{s:?}");
        assert!(s.file().ends_with("declaration.rs"), "{s:?}");
        assert!(s.line() > 0, "{s:?}");
    }

    let plain = spec("decl_plain");
    assert_eq!(
        plain.line(),
        PLAIN_LINE,
        "the line of the attribute: {plain:?}"
    );
    assert!(
        plain
            .location()
            .contains(&format!("declaration.rs:{PLAIN_LINE}")),
        "{plain:?}"
    );

    let mut registered: Vec<&str> = supervisor::registry().map(|s| s.name()).collect();
    registered.sort_unstable();
    let mut declared: Vec<&str> = DECLARED.iter().map(|&(name, ..)| name).collect();
    declared.sort_unstable();
    assert_eq!(
        registered, declared,
        "every declaration of this file, once, and nothing else"
    );
}
