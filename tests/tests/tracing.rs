//! Tracing: every run inside a `service` span with `name` and `attempt`, and
//! the life events (failure, restart, completion, abort) at their levels.
//!
//! A small `Layer` records every span's fields and every event (level, fields,
//! message, and the spans it happened in). It is the process-wide default
//! subscriber, so it sees the supervisor's tasks and its OS threads alike;
//! tests tell their events apart by service name.

use std::collections::BTreeMap;
use std::fmt;
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::{Mutex, OnceLock};
use std::time::Duration;

use supervisor::{supervised, Context, RestartPolicy, Status, Supervisor, TaskDescriptor};
use tests::{assert_status, backoff, spawn_failing, start_empty, start_only, wait_idle};
use tokio::sync::mpsc;
use tracing::field::{Field, Visit};
use tracing::span::{Attributes, Id, Record};
use tracing::{Event, Level, Subscriber};
use tracing_subscriber::layer::{Context as LayerContext, Layer, SubscriberExt};
use tracing_subscriber::registry::LookupSpan;

/// Field name -> value as text (`%x` and `?x` values as they would print).
#[derive(Clone, Debug, Default)]
struct Fields(BTreeMap<String, String>);

impl Visit for Fields {
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.0
            .insert(field.name().to_string(), format!("{value:?}"));
    }

    fn record_str(&mut self, field: &Field, value: &str) {
        self.0.insert(field.name().to_string(), value.to_string());
    }
}

impl Fields {
    fn get(&self, name: &str) -> Option<&str> {
        self.0.get(name).map(String::as_str)
    }
}

#[derive(Clone, Debug)]
struct SpanInfo {
    name: &'static str,
    fields: Fields,
}

#[derive(Clone, Debug)]
struct Captured {
    level: Level,
    /// Includes `message`.
    fields: Fields,
    /// The spans the event happened in, outermost first.
    spans: Vec<SpanInfo>,
}

impl Captured {
    fn message(&self) -> &str {
        self.fields.get("message").unwrap_or("")
    }

    /// The innermost `service` span around the event.
    fn service_span(&self) -> Option<&SpanInfo> {
        self.spans.iter().rev().find(|s| s.name == "service")
    }

    /// The service the event is about: its `service` field, or its span.
    fn service(&self) -> Option<&str> {
        self.fields
            .get("service")
            .or_else(|| self.service_span().and_then(|s| s.fields.get("name")))
    }

    /// Whether the message or any field mentions `text`.
    fn mentions(&self, text: &str) -> bool {
        self.fields.0.values().any(|v| v.contains(text))
    }
}

fn events() -> &'static Mutex<Vec<Captured>> {
    static EVENTS: OnceLock<Mutex<Vec<Captured>>> = OnceLock::new();
    EVENTS.get_or_init(|| Mutex::new(Vec::new()))
}

struct Capture;

impl<S> Layer<S> for Capture
where
    S: Subscriber + for<'a> LookupSpan<'a>,
{
    fn on_new_span(&self, attrs: &Attributes<'_>, id: &Id, ctx: LayerContext<'_, S>) {
        let mut fields = Fields::default();
        attrs.record(&mut fields);
        if let Some(span) = ctx.span(id) {
            span.extensions_mut().insert(fields);
        }
    }

    fn on_record(&self, id: &Id, values: &Record<'_>, ctx: LayerContext<'_, S>) {
        if let Some(span) = ctx.span(id) {
            if let Some(fields) = span.extensions_mut().get_mut::<Fields>() {
                values.record(fields);
            }
        }
    }

    fn on_event(&self, event: &Event<'_>, ctx: LayerContext<'_, S>) {
        let mut fields = Fields::default();
        event.record(&mut fields);
        let spans = ctx
            .event_scope(event)
            .map(|scope| {
                scope
                    .from_root()
                    .map(|span| SpanInfo {
                        name: span.name(),
                        fields: span
                            .extensions()
                            .get::<Fields>()
                            .cloned()
                            .unwrap_or_default(),
                    })
                    .collect()
            })
            .unwrap_or_default();
        events()
            .lock()
            .unwrap_or_else(|poisoned| poisoned.into_inner())
            .push(Captured {
                level: *event.metadata().level(),
                fields,
                spans,
            });
    }
}

fn install() {
    static INSTALLED: OnceLock<()> = OnceLock::new();
    INSTALLED.get_or_init(|| {
        tracing::subscriber::set_global_default(tracing_subscriber::registry().with(Capture))
            .expect("this test binary sets the only global subscriber");
    });
}

/// Every event about `service` so far.
fn events_of(service: &str) -> Vec<Captured> {
    events()
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
        .iter()
        .filter(|e| e.service() == Some(service))
        .cloned()
        .collect()
}

fn describe(events: &[Captured]) -> String {
    events
        .iter()
        .map(|e| {
            let spans: Vec<String> = e
                .spans
                .iter()
                .map(|s| format!("{}{:?}", s.name, s.fields.0))
                .collect();
            format!("  {} {:?} in {spans:?}", e.level, e.fields.0)
        })
        .collect::<Vec<_>>()
        .join("\n")
}

/// A supervisor for spawned tasks only, started once the subscriber is in.
fn start() -> Supervisor {
    install();
    start_empty()
}

/// The name of the span the calling code runs in.
fn current_span_name() -> Option<&'static str> {
    tracing::Span::current().metadata().map(|m| m.name())
}

#[tokio::test(start_paused = true)]
async fn every_run_is_inside_a_service_span_with_name_and_attempt() {
    let sup = start();
    let name = "tr-attempts";
    let (seen_tx, mut seen) = mpsc::unbounded_channel();
    sup.spawn(TaskDescriptor::new(
        name,
        backoff(2, Duration::from_secs(1)),
        move |ctx: Context| {
            // The factory itself is called inside the run's span.
            tracing::info!(probe = ctx.attempt(), "in the factory");
            let in_factory = current_span_name();
            let seen_tx = seen_tx.clone();
            async move {
                tracing::info!(probe = ctx.attempt(), "run begins");
                let at_start = current_span_name();
                tokio::time::sleep(Duration::from_millis(10)).await;
                tracing::info!(probe = ctx.attempt(), "after an await");
                let _ = seen_tx.send((in_factory, at_start, current_span_name()));
                Err::<(), _>(format!("run {} failed", ctx.attempt()))
            }
        },
    ))
    .expect("spawn");
    sup.wait().await;
    for _ in 0..3 {
        let spans = seen.try_recv().expect("three runs");
        assert_eq!(
            spans,
            (Some("service"), Some("service"), Some("service")),
            "Span::current() inside the factory and the run\n{sup}"
        );
    }

    let events = events_of(name);
    for message in ["in the factory", "run begins", "after an await"] {
        let mut attempts = Vec::new();
        for event in events.iter().filter(|e| e.message() == message) {
            let span = event.service_span().unwrap_or_else(|| {
                panic!("`{message}` outside a service span:\n{}", describe(&events))
            });
            assert_eq!(span.fields.get("name"), Some(name), "{}", describe(&events));
            let attempt = span.fields.get("attempt").expect("an attempt field");
            assert_eq!(
                Some(attempt),
                event.fields.get("probe"),
                "span attempt == ctx.attempt()\n{}",
                describe(&events)
            );
            attempts.push(attempt.to_string());
        }
        assert_eq!(
            attempts,
            ["0", "1", "2"],
            "`{message}` once per run\n{}",
            describe(&events)
        );
    }
}

#[tokio::test(start_paused = true)]
async fn failure_restart_completion_and_abort_are_logged_at_their_levels() {
    let sup = start();
    let name = "tr-life";
    sup.spawn(TaskDescriptor::new(
        name,
        backoff(3, Duration::from_secs(2)),
        |ctx: Context| async move {
            match ctx.attempt() {
                0 => Err("disk on fire".to_string()),
                1 => panic!("panicked badly"),
                _ => Ok(()),
            }
        },
    ))
    .expect("spawn");
    spawn_failing(&sup, "tr-gives-up", RestartPolicy::Never, "no way out");
    sup.wait().await;
    assert_status(&sup, name, Status::Completed);

    let events = events_of(name);
    let shown = describe(&events);
    // Failure with its reason, and the restart with its delay: 2 s, then 4 s.
    for (reason, delay) in [("disk on fire", "2s"), ("panicked badly", "4s")] {
        assert!(
            events
                .iter()
                .any(|e| e.level <= Level::WARN && e.mentions(reason)),
            "failure `{reason}` at WARN or ERROR:\n{shown}"
        );
        assert!(
            events.iter().any(|e| e.level == Level::WARN
                && e.fields.0.iter().any(|(k, v)| k != "message" && v == delay)),
            "restart after {delay} at WARN, with the delay:\n{shown}"
        );
    }
    assert!(
        events
            .iter()
            .any(|e| e.level == Level::INFO && e.message().contains("complet")),
        "completion at INFO:\n{shown}"
    );
    let started: Vec<&str> = events
        .iter()
        .filter(|e| e.level == Level::INFO && e.message().contains("start"))
        .filter_map(|e| e.service_span().and_then(|s| s.fields.get("attempt")))
        .collect();
    assert_eq!(
        started,
        ["0", "1", "2"],
        "each start at INFO, inside its span:\n{shown}"
    );
    assert!(
        !events.iter().any(|e| e.level == Level::ERROR),
        "nothing went finally wrong:\n{shown}"
    );

    let gave_up = events_of("tr-gives-up");
    assert!(
        gave_up
            .iter()
            .any(|e| e.level == Level::ERROR && e.mentions("no way out")),
        "a final failure at ERROR with its reason:\n{}",
        describe(&gave_up)
    );

    // Abort on request, and abort at the shutdown deadline.
    for name in ["tr-aborted", "tr-stuck"] {
        sup.spawn(TaskDescriptor::new(name, RestartPolicy::Never, |_ctx| {
            std::future::pending::<Result<(), std::io::Error>>()
        }))
        .expect("spawn");
    }
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(sup.abort("tr-aborted"), "{sup}");
    let result = sup.shutdown(Duration::from_secs(1)).await;
    assert!(
        result.is_err(),
        "tr-stuck was aborted by the timeout\n{sup}"
    );
    for (name, level, what) in [
        ("tr-aborted", Level::INFO, "an abort on request"),
        ("tr-stuck", Level::WARN, "an abort at the shutdown deadline"),
    ] {
        let events = events_of(name);
        assert!(
            events
                .iter()
                .any(|e| e.level == level && e.message().contains("abort")),
            "{what} at {level}:\n{}",
            describe(&events)
        );
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_run_inside_their_service_span_even_on_worker_threads() {
    let sup = start();
    let blocking = sup.spawn_blocking("tr-job-blocking", || {
        tracing::info!("inside the blocking closure");
        current_span_name()
    });
    assert_eq!(blocking.join().await, Ok(Some("service")), "{sup}");
    let oneshot = sup.spawn_oneshot("tr-job-oneshot", |_ctx| async {
        tracing::info!("inside the oneshot");
        tokio::task::yield_now().await;
        current_span_name()
    });
    assert_eq!(oneshot.join().await, Ok(Some("service")), "{sup}");

    for (name, message) in [
        ("tr-job-blocking", "inside the blocking closure"),
        ("tr-job-oneshot", "inside the oneshot"),
    ] {
        let events = events_of(name);
        let event = events
            .iter()
            .find(|e| e.message() == message)
            .unwrap_or_else(|| panic!("no `{message}` event:\n{}", describe(&events)));
        let span = event.service_span().expect("inside a service span");
        assert_eq!(span.fields.get("name"), Some(name), "{}", describe(&events));
        assert_eq!(
            span.fields.get("attempt"),
            Some("0"),
            "{}",
            describe(&events)
        );
    }
}

static BLOCKING_RUNS: AtomicU32 = AtomicU32::new(0);

/// Fails on its first run, then returns: runs 0 and 1, each on its own thread.
#[supervised(name = "tr-blocking-service", blocking, restart = backoff(1, "0s"))]
fn tr_blocking_service(ctx: Context) -> Result<(), String> {
    BLOCKING_RUNS.fetch_add(1, Ordering::SeqCst);
    tracing::info!(probe = ctx.attempt(), "on the service's thread");
    if ctx.attempt() == 0 {
        return Err("first blocking run fails".into());
    }
    Ok(())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocking_service_runs_inside_its_span_on_its_own_thread() {
    install();
    let sup = start_only(&["tr-blocking-service"]);
    wait_idle(&sup, Duration::from_secs(10)).await;
    assert_status(&sup, "tr-blocking-service", Status::Completed);
    assert_eq!(BLOCKING_RUNS.load(Ordering::SeqCst), 2, "{sup}");

    let events = events_of("tr-blocking-service");
    let mut attempts: Vec<String> = events
        .iter()
        .filter(|e| e.message() == "on the service's thread")
        .map(|e| {
            let span = e
                .service_span()
                .unwrap_or_else(|| panic!("outside the service span:\n{}", describe(&events)));
            assert_eq!(span.fields.get("name"), Some("tr-blocking-service"));
            assert_eq!(span.fields.get("attempt"), e.fields.get("probe"));
            span.fields.get("attempt").unwrap_or("?").to_string()
        })
        .collect();
    attempts.sort();
    assert_eq!(attempts, ["0", "1"], "{}", describe(&events));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn jobs_log_start_and_success_at_debug_and_failures_louder() {
    let sup = start();
    let blocking = sup.spawn_blocking("tr-quiet-blocking", || 1);
    assert_eq!(blocking.join().await, Ok(1), "{sup}");
    let oneshot = sup.spawn_oneshot("tr-quiet-oneshot", |_ctx| async { 2 });
    assert_eq!(oneshot.join().await, Ok(2), "{sup}");
    for name in ["tr-quiet-blocking", "tr-quiet-oneshot"] {
        let events = events_of(name);
        let shown = describe(&events);
        assert!(
            events
                .iter()
                .any(|e| e.level == Level::DEBUG && e.message().contains("start")),
            "the start at DEBUG:\n{shown}"
        );
        assert!(
            events
                .iter()
                .any(|e| e.level == Level::DEBUG && e.message().contains("ended")),
            "the success at DEBUG:\n{shown}"
        );
        assert!(
            !events.iter().any(|e| e.level <= Level::INFO),
            "nothing at INFO or above for a job that went well:\n{shown}"
        );
    }

    let loud = sup.spawn_blocking("tr-loud-blocking", || -> u8 { panic!("job went wrong") });
    assert!(loud.join().await.is_err(), "{sup}");
    let events = events_of("tr-loud-blocking");
    assert!(
        events
            .iter()
            .any(|e| e.level == Level::ERROR && e.mentions("job went wrong")),
        "a job's failure at ERROR, with its reason:\n{}",
        describe(&events)
    );
}
