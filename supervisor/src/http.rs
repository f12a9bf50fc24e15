//! Health and status over HTTP (feature `http`): the endpoints a load
//! balancer, Kubernetes or an operator's `curl` asks.
//!
//! | request | answer |
//! | --- | --- |
//! | `GET /livez` | `200 ok` until the shutdown begins, then `503`: the process is alive and not on its way out |
//! | `GET /readyz` | `200 ok` while [`Supervisor::is_ready`] holds, else `503` |
//! | `GET /readyz?verbose` | the same codes, and one line per declared service: `[+]name ok` or `[-]name <status>` |
//! | `GET /status` | `application/json`: one object per row of [`Supervisor::snapshot`] |
//!
//! Each object of `/status` has `name`, `status` (the lowercase word:
//! `"queued"`, `"running"`, `"restarting"`, `"completed"`, `"stopped"`,
//! `"aborted"`, `"failed"`), `ready`, `restarts`, `uptime_ms` and
//! `last_failure` (the most recent failure's text, or `null`).
//!
//! [`router`] gives the endpoints as an [`axum::Router`] to mount in a
//! server of your own; [`Builder::serve_health`](crate::Builder::serve_health)
//! has the supervisor serve them itself, bound by `start()` and stopped only
//! after every service has ended.
//!
//! # Examples
//!
//! The endpoints merged into an application's own router:
//!
//! ```
//! use tokio::io::{AsyncReadExt, AsyncWriteExt};
//!
//! # #[tokio::main(flavor = "current_thread")]
//! # async fn main() -> Result<(), Box<dyn std::error::Error>> {
//! let sup = supervisor::Builder::new().only(Vec::<String>::new()).start()?;
//! let app = axum::Router::new()
//!     .route("/", axum::routing::get(|| async { "hello" }))
//!     .merge(supervisor::http::router(sup.clone()));
//!
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! let addr = listener.local_addr()?;
//! tokio::spawn(async move { axum::serve(listener, app).await });
//!
//! let mut stream = tokio::net::TcpStream::connect(addr).await?;
//! stream.write_all(b"GET /status HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n").await?;
//! let mut response = String::new();
//! stream.read_to_string(&mut response).await?;
//! assert!(response.starts_with("HTTP/1.1 200"), "{response}");
//! assert!(response.contains("application/json"), "{response}");
//! assert!(response.ends_with("[]"), "no service, no row: {response}");
//! # Ok(()) }
//! ```

use std::future::IntoFuture;
use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use axum::extract::State as Handle;
use axum::http::{header, StatusCode, Uri};
use axum::response::{IntoResponse, Response};
use axum::routing::get;
use axum::Router;
use serde::Serialize;
use tokio::net::TcpListener;

use crate::error::Error;
use crate::status::{millis, ServiceSnapshot, Status};
use crate::supervisor::Supervisor;

/// How long connections still open when the supervisor's shutdown has
/// finished get to complete before the server is dropped.
const CLOSE_GRACE: Duration = Duration::from_secs(1);

/// The health and status endpoints of `sup`, as a router to serve or to
/// merge into an application's own (see the [module documentation](self)).
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sup = supervisor::Builder::new().only(Vec::<String>::new()).start()?;
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// let app = supervisor::http::router(sup.clone());
/// let server = tokio::spawn(async move { axum::serve(listener, app).await });
/// // ... the program runs; `sup.run().await` at the end ...
/// # server.abort();
/// # Ok(()) }
/// ```
pub fn router(sup: Supervisor) -> Router {
    Router::new()
        .route("/livez", get(livez))
        .route("/readyz", get(readyz))
        .route("/status", get(status))
        .with_state(sup)
}

/// `200 ok` until the shutdown begins, then `503`.
async fn livez(Handle(sup): Handle<Supervisor>) -> (StatusCode, &'static str) {
    if sup.shared.is_stopping() {
        (StatusCode::SERVICE_UNAVAILABLE, "shutting down")
    } else {
        (StatusCode::OK, "ok")
    }
}

/// `200 ok` while the supervisor is ready, else `503`; with `?verbose`, a
/// line per declared service.
async fn readyz(Handle(sup): Handle<Supervisor>, uri: Uri) -> (StatusCode, String) {
    // The code is decided here; the verbose lines read the rows just after,
    // and may show a change that happened in between.
    let ready = sup.is_ready();
    let code = if ready {
        StatusCode::OK
    } else {
        StatusCode::SERVICE_UNAVAILABLE
    };
    if !asks_verbose(uri.query()) {
        return (code, if ready { "ok" } else { "not ready" }.to_string());
    }
    let mut body = String::new();
    for row in sup.shared.declared_snapshot() {
        body.push_str(&check_line(&row));
        body.push('\n');
    }
    if sup.shared.is_stopping() {
        body.push_str("[-]shutdown in progress\n");
    }
    body.push_str(if ready {
        "readyz check passed"
    } else {
        "readyz check failed"
    });
    (code, body)
}

/// Whether a query string has a `verbose` parameter (with or without a value).
fn asks_verbose(query: Option<&str>) -> bool {
    query.is_some_and(|query| {
        query
            .split('&')
            .any(|pair| pair.split('=').next() == Some("verbose"))
    })
}

/// `[+]name ok`, or `[-]name` and what keeps the service from being ready.
fn check_line(row: &ServiceSnapshot) -> String {
    if row.ready {
        return format!("[+]{} ok", row.name);
    }
    let words = match &row.status {
        Status::Running => "running, not ready yet".to_string(),
        _ => row.status_words(),
    };
    format!("[-]{} {words}", row.name)
}

/// One row of `/status`.
#[derive(Serialize)]
struct StatusRow<'a> {
    name: &'a str,
    status: &'static str,
    ready: bool,
    restarts: u32,
    uptime_ms: u64,
    last_failure: Option<&'a str>,
}

/// The snapshot as JSON.
async fn status(Handle(sup): Handle<Supervisor>) -> Response {
    let snapshot = sup.snapshot();
    let rows: Vec<StatusRow<'_>> = snapshot
        .iter()
        .map(|row| StatusRow {
            name: &row.name,
            status: row.status.word(),
            ready: row.ready,
            restarts: row.restarts,
            uptime_ms: millis(row.uptime),
            last_failure: match &row.status {
                Status::Failed { reason } => Some(reason),
                _ => row.last_failure.as_deref(),
            },
        })
        .collect();
    match serde_json::to_vec(&rows) {
        Ok(body) => ([(header::CONTENT_TYPE, "application/json")], body).into_response(),
        Err(err) => {
            tracing::error!("cannot write /status: {err}");
            StatusCode::INTERNAL_SERVER_ERROR.into_response()
        }
    }
}

/// Binds the health address for `start()`: the listener and the address it
/// got (the port the system picked, for port 0).
pub(crate) fn bind(addr: SocketAddr) -> Result<(TcpListener, SocketAddr), Error> {
    let fail = |err: io::Error| Error::HealthBind {
        addr,
        reason: err.to_string(),
    };
    let listener = std::net::TcpListener::bind(addr).map_err(fail)?;
    listener.set_nonblocking(true).map_err(fail)?;
    let bound = listener.local_addr().map_err(fail)?;
    // `start()` runs inside the runtime, whose reactor takes the listener.
    let listener = TcpListener::from_std(listener).map_err(fail)?;
    Ok((listener, bound))
}

/// Serves [`router`] on `listener` from a task on the supervisor's runtime,
/// until the shutdown has finished (every service has ended); then the
/// connections still open get [`CLOSE_GRACE`] before the server goes.
pub(crate) fn serve(runtime: &tokio::runtime::Handle, listener: TcpListener, sup: Supervisor) {
    let shared = Arc::clone(&sup.shared);
    let finished = {
        let shared = Arc::clone(&shared);
        async move { shared.shutdown.published().await }
    };
    let server = axum::serve(listener, router(sup)).with_graceful_shutdown(finished);
    runtime.spawn(async move {
        tokio::select! {
            result = server.into_future() => {
                if let Err(err) = result {
                    tracing::error!("the health endpoints stopped: {err}");
                }
            }
            () = async {
                shared.shutdown.published().await;
                tokio::time::sleep(CLOSE_GRACE).await;
            } => {}
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn verbose_is_a_parameter_with_or_without_a_value() {
        assert!(asks_verbose(Some("verbose")));
        assert!(asks_verbose(Some("verbose=1")));
        assert!(asks_verbose(Some("exclude=x&verbose")));
        assert!(!asks_verbose(Some("verbosely")));
        assert!(!asks_verbose(Some("")));
        assert!(!asks_verbose(None));
    }
}
