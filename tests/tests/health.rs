//! The health and status endpoints (feature `http`), asked over real TCP on
//! 127.0.0.1 by a plain HTTP/1.1 client: `/livez`, `/readyz` (and its
//! `?verbose` lines), `/status` against the snapshot, and
//! `Builder::serve_health`'s binding, address and life span.

use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use supervisor::{supervised, Builder, Context, Error, Status, Supervisor};
use tests::{http_get, row, shutdown_in_background, try_http_get, HttpResponse, Poll};
use tokio::sync::Semaphore;

/// Real time: the server and the client talk over real sockets.
const POLL: Poll = Poll {
    every: Duration::from_millis(5),
    within: Duration::from_secs(10),
};

/// A supervisor running the declared services `names`, serving the
/// endpoints on a port the system picks; and that address.
fn start_serving(names: &[&str]) -> (Supervisor, SocketAddr) {
    let any_port: SocketAddr = "127.0.0.1:0".parse().expect("an address");
    let sup = Builder::new()
        .only(names)
        .serve_health(any_port)
        .start()
        .unwrap_or_else(|err| panic!("starting {names:?}: {err}"));
    let addr = sup.health_addr().expect("serve_health gives an address");
    (sup, addr)
}

#[track_caller]
fn assert_answer(response: &HttpResponse, status: u16, body: &str, sup: &Supervisor) {
    assert_eq!(
        (response.status, response.body.as_str()),
        (status, body),
        "the answer, with the supervisor at\n{sup}"
    );
}

// ---------------------------------------------------------------- readiness

/// Each permit lets `health-gated`'s current run say it is ready.
static READY_GATE: Semaphore = Semaphore::const_new(0);
/// Each permit makes `health-gated`'s current run fail.
static FAIL_GATE: Semaphore = Semaphore::const_new(0);

/// Ready when the test says so; fails when the test says so; restarted at
/// once.
#[supervised(name = "health-gated", ready = manual, restart = backoff(3, "0s"))]
async fn gated(ctx: Context) -> Result<(), String> {
    tokio::select! {
        () = ctx.cancelled() => return Ok(()),
        permit = READY_GATE.acquire() => permit.map_err(|e| e.to_string())?.forget(),
    }
    ctx.ready();
    tokio::select! {
        () = ctx.cancelled() => Ok(()),
        permit = FAIL_GATE.acquire() => {
            permit.map_err(|e| e.to_string())?.forget();
            Err("lost the database connection".to_string())
        }
    }
}

/// `health-gated` runs but has not said ready: `/readyz?verbose` says so,
/// and `/livez` is not concerned.
async fn assert_not_ready_yet(addr: SocketAddr, sup: &Supervisor) {
    assert_answer(
        &http_get(addr, "/readyz?verbose").await,
        503,
        "[-]health-gated running, not ready yet\nreadyz check failed",
        sup,
    );
    assert_answer(&http_get(addr, "/livez").await, 200, "ok", sup);
}

#[tokio::test]
async fn readyz_follows_a_manual_service_through_a_restart() {
    let (sup, addr) = start_serving(&["health-gated"]);

    // Running, not ready yet: 503, and the verbose answer says why.
    assert_answer(&http_get(addr, "/readyz").await, 503, "not ready", &sup);
    assert_not_ready_yet(addr, &sup).await;

    READY_GATE.add_permits(1);
    POLL.until(&sup, "the supervisor to be ready", || sup.is_ready())
        .await;
    assert_answer(&http_get(addr, "/readyz").await, 200, "ok", &sup);
    assert_answer(
        &http_get(addr, "/readyz?verbose=1").await,
        200,
        "[+]health-gated ok\nreadyz check passed",
        &sup,
    );

    // It fails and is restarted; the new run is not ready yet.
    FAIL_GATE.add_permits(1);
    POLL.until(&sup, "the restart of `health-gated`", || {
        row(&sup, "health-gated").restarts == 1
    })
    .await;
    assert_not_ready_yet(addr, &sup).await;

    READY_GATE.add_permits(1);
    POLL.until(&sup, "the supervisor to be ready again", || sup.is_ready())
        .await;
    assert_answer(&http_get(addr, "/readyz").await, 200, "ok", &sup);

    sup.shutdown(Duration::from_secs(5))
        .await
        .expect("a clean stop");
}

/// Fails at once; its one restart waits an hour.
#[supervised(name = "health-backoff", restart = backoff(1, "1h"))]
async fn backoff_service() -> Result<(), &'static str> {
    Err("disk full")
}

#[tokio::test]
async fn readyz_is_503_while_a_service_waits_out_its_backoff() {
    let (sup, addr) = start_serving(&["health-backoff"]);
    POLL.until_status(
        &sup,
        "health-backoff",
        Status::Restarting { attempt: 1, max: 1 },
    )
    .await;

    assert_answer(
        &http_get(addr, "/readyz?verbose").await,
        503,
        "[-]health-backoff restarting (1/1)\nreadyz check failed",
        &sup,
    );
    // Alive all the same: a restart is the supervisor doing its job.
    assert_answer(&http_get(addr, "/livez").await, 200, "ok", &sup);
    let status = status_json(addr).await;
    assert_eq!(status[0]["status"], "restarting", "{status}");
    assert_eq!(status[0]["last_failure"], "disk full", "{status}");

    // Cancelled during its delay: stopped, clean.
    sup.shutdown(Duration::from_secs(5))
        .await
        .expect("a clean stop");
}

// ---------------------------------------------------------------- shutdown

/// Each permit lets `health-slow-stop` finish its cleanup.
static STOP_GATE: Semaphore = Semaphore::const_new(0);

/// Once told to stop, cleans up until the test lets it return.
#[supervised(name = "health-slow-stop")]
async fn slow_stop(ctx: Context) {
    ctx.cancelled().await;
    if let Ok(permit) = STOP_GATE.acquire().await {
        permit.forget();
    }
}

#[tokio::test]
async fn livez_turns_503_when_shutdown_begins_and_the_server_stops_last() {
    let (sup, addr) = start_serving(&["health-slow-stop"]);
    assert_answer(&http_get(addr, "/livez").await, 200, "ok", &sup);
    assert_answer(&http_get(addr, "/readyz").await, 200, "ok", &sup);

    let shutdown =
        shutdown_in_background(&sup, Duration::from_secs(10), Duration::from_secs(5)).await;
    // The service is still cleaning up, and the endpoints still answer.
    assert_answer(&http_get(addr, "/livez").await, 503, "shutting down", &sup);
    assert_answer(
        &http_get(addr, "/readyz?verbose").await,
        503,
        "[+]health-slow-stop ok\n[-]shutdown in progress\nreadyz check failed",
        &sup,
    );
    let status = status_json(addr).await;
    assert_eq!(status[0]["status"], "running", "{status}");

    STOP_GATE.add_permits(1);
    shutdown
        .await
        .expect("the shutdown task")
        .expect("a clean stop");
    // Every service has ended: the server goes too.
    POLL.until_with(
        "the health server to stop",
        || format!("{sup}"),
        || std::net::TcpStream::connect_timeout(&addr, Duration::from_secs(1)).is_err(),
    )
    .await;
    assert!(try_http_get(addr, "/livez").await.is_err());
}

// ---------------------------------------------------------------- status

tests::idle_services!("health-idle");
tests::completing_services!("health-done");

#[supervised(name = "health-broken")]
async fn broken() -> Result<(), String> {
    Err("broken on purpose".to_string())
}

/// `GET /status`, which must be `200 application/json`, parsed.
async fn status_json(addr: SocketAddr) -> serde_json::Value {
    let response = http_get(addr, "/status").await;
    assert_eq!(response.status, 200, "{response:?}");
    assert_eq!(
        response.content_type.as_deref(),
        Some("application/json"),
        "{response:?}"
    );
    serde_json::from_str(&response.body)
        .unwrap_or_else(|err| panic!("/status is not JSON ({err}): {}", response.body))
}

#[tokio::test]
async fn status_is_the_snapshot_as_json() {
    let (sup, addr) = start_serving(&["health-idle", "health-done", "health-broken"]);
    POLL.until(&sup, "the one-shots to end", || sup.active_count() == 1)
        .await;

    let before = sup.snapshot();
    let json = status_json(addr).await;
    let after = sup.snapshot();

    let rows = json.as_array().expect("an array");
    assert_eq!(rows.len(), after.len(), "{json}");
    for ((row, early), late) in rows.iter().zip(&before).zip(&after) {
        assert_eq!(row["name"], &*late.name, "{json}");
        let word = match &late.status {
            Status::Running => "running",
            Status::Completed => "completed",
            Status::Failed { .. } => "failed",
            other => panic!("unexpected status {other} in\n{sup}"),
        };
        assert_eq!(row["status"], word, "{json}");
        assert_eq!(row["ready"], late.ready, "{json}");
        assert_eq!(row["restarts"], late.restarts, "{json}");
        assert_eq!(
            row["last_failure"].as_str(),
            late.last_failure.as_deref(),
            "{json}"
        );
        let uptime = row["uptime_ms"].as_u64().expect("uptime_ms is a number");
        let floor = u64::try_from(early.uptime.as_millis()).expect("fits");
        let ceiling = u64::try_from(late.uptime.as_millis()).expect("fits");
        assert!(
            (floor..=ceiling).contains(&uptime),
            "{}: uptime_ms {uptime} outside {floor}..={ceiling}",
            late.name
        );
        assert_eq!(row.as_object().map(|o| o.len()), Some(6), "{json}");

        // The snapshot's own serialization (feature `serde`) agrees.
        let own = serde_json::to_value(late).expect("a snapshot serializes");
        for field in ["name", "ready", "restarts", "last_failure"] {
            assert_eq!(own[field], row[field], "{field}: {own} vs {row}");
        }
    }
    let names: Vec<&str> = rows.iter().filter_map(|r| r["name"].as_str()).collect();
    assert_eq!(names, ["health-broken", "health-done", "health-idle"]);
    assert_eq!(rows[0]["last_failure"], "broken on purpose");
    assert_eq!(rows[0]["ready"], false);
    assert_eq!(
        rows[1]["ready"], true,
        "a completed service counts as ready"
    );

    // Verbose readiness lists the declared services, in order of name.
    assert_answer(
        &http_get(addr, "/readyz?verbose").await,
        503,
        "[-]health-broken failed\n[+]health-done ok\n[+]health-idle ok\nreadyz check failed",
        &sup,
    );
    assert!(sup.shutdown(Duration::from_secs(5)).await.is_err());
}

// ---------------------------------------------------------------- binding

#[tokio::test]
async fn serve_health_on_port_zero_tells_the_bound_address() {
    let (sup, addr) = start_serving(&[]);
    assert!(addr.ip().is_loopback());
    assert_ne!(addr.port(), 0, "the port the system picked");
    assert_answer(&http_get(addr, "/livez").await, 200, "ok", &sup);
    // Nothing declared, nothing to wait for: ready, and no lines to show.
    assert_answer(
        &http_get(addr, "/readyz?verbose").await,
        200,
        "readyz check passed",
        &sup,
    );
    assert_eq!(http_get(addr, "/no-such-page").await.status, 404);

    let plain = Builder::new().only(Vec::<String>::new()).start().unwrap();
    assert_eq!(plain.health_addr(), None, "serve_health was not asked for");
    sup.shutdown(Duration::from_secs(1)).await.unwrap();
    plain.shutdown(Duration::from_secs(1)).await.unwrap();
}

static MUST_NOT_START_RAN: AtomicBool = AtomicBool::new(false);

#[supervised(name = "health-must-not-start")]
async fn must_not_start() {
    MUST_NOT_START_RAN.store(true, Ordering::SeqCst);
}

#[tokio::test]
async fn an_address_in_use_is_an_error_naming_it_and_nothing_starts() {
    let taken = std::net::TcpListener::bind("127.0.0.1:0").expect("a port");
    let addr = taken.local_addr().expect("its address");

    let err = Builder::new()
        .only(["health-must-not-start"])
        .serve_health(addr)
        .start()
        .expect_err("the address is in use");
    let Error::HealthBind {
        addr: named,
        reason,
    } = &err
    else {
        panic!("not a HealthBind error: {err}");
    };
    assert_eq!(*named, addr);
    assert!(!reason.is_empty());
    assert!(err.to_string().contains(&addr.to_string()), "{err}");
    assert!(err.to_string().contains("nothing was started"), "{err}");

    // Had the service been spawned, it would run at this yield.
    tokio::task::yield_now().await;
    assert!(!MUST_NOT_START_RAN.load(Ordering::SeqCst), "a service ran");
}
