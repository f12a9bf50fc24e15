//! `api`: the HTTP interface.
//!
//! - `POST /jobs` with an item's name as the body: `202` and the job's id,
//!   `404` for an item not in the catalogue, `503` when the queue is full;
//! - `GET /jobs/{id}`: where the job is;
//! - `GET /stats`: the latest statistics;
//! - `GET /healthz`: `200` when every service is ready, else `503`.
//!
//! It is `critical`: without its port the program has no purpose, so once
//! its restarts are spent, the program stops and says why.

use anyhow::Context as _;
use axum::extract::{self, Path};
use axum::http::{header, StatusCode};
use axum::response::{IntoResponse, Response};
use axum::routing::{get, post};
use axum::Router;
use supervisor::{supervised, Context, State, Supervisor};
use tokio::net::TcpListener;

use crate::state::{submit, Catalogue, Config, JobId, Jobs, Progress, Queue, Refused, Stats};

#[supervised(
    name = "api",
    after = ["loader", "worker"],
    ready = manual,
    critical,
    restart = backoff(3, "1s")
)]
pub(crate) async fn api(
    ctx: Context,
    State(config): State<Config>,
    State(catalogue): State<Catalogue>,
    State(jobs): State<Jobs>,
    State(queue): State<Queue>,
    State(stats): State<Stats>,
) -> anyhow::Result<()> {
    let listener = TcpListener::bind(config.listen)
        .await
        .with_context(|| format!("cannot listen on {}", config.listen))?;
    tracing::info!("listening on http://{}", listener.local_addr()?);
    ctx.ready();

    let app = App {
        catalogue,
        jobs,
        queue,
        stats,
        supervisor: ctx.supervisor(),
    };
    axum::serve(listener, router(app))
        .with_graceful_shutdown(ctx.token().cancelled_owned())
        .await?;
    tracing::info!("no longer accepting jobs");
    Ok(())
}

/// What the request handlers see.
#[derive(Clone)]
pub(crate) struct App {
    catalogue: Catalogue,
    jobs: Jobs,
    queue: Queue,
    stats: Stats,
    /// The supervisor running the API, for `/healthz`; none in a unit test.
    supervisor: Option<Supervisor>,
}

pub(crate) fn router(app: App) -> Router {
    Router::new()
        .route("/jobs", post(submit_job))
        .route("/jobs/{id}", get(job))
        .route("/stats", get(latest_stats))
        .route("/healthz", get(health))
        .with_state(app)
}

async fn submit_job(extract::State(app): extract::State<App>, item: String) -> Response {
    let item = item.trim();
    match submit(&app.catalogue, &app.jobs, &app.queue, item) {
        Ok(id) => (
            StatusCode::ACCEPTED,
            [(header::LOCATION, format!("/jobs/{id}"))],
            format!("{id}\n"),
        )
            .into_response(),
        Err(Refused::UnknownItem) => {
            let offered = app.catalogue.names().join(", ");
            let text = format!("no item {item:?} in the catalogue; it offers: {offered}\n");
            (StatusCode::NOT_FOUND, text).into_response()
        }
        Err(Refused::QueueFull) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "too many jobs waiting, try again later\n",
        )
            .into_response(),
        Err(Refused::Closed) => (
            StatusCode::SERVICE_UNAVAILABLE,
            "shutting down, not taking jobs\n",
        )
            .into_response(),
    }
}

async fn job(extract::State(app): extract::State<App>, Path(id): Path<JobId>) -> Response {
    let Some(job) = app.jobs.get(id) else {
        return (StatusCode::NOT_FOUND, format!("no job {id}\n")).into_response();
    };
    let progress = match job.progress {
        Progress::Queued => "queued".to_owned(),
        Progress::Running => "running".to_owned(),
        Progress::Done { took } => format!("done in {took:.0?}"),
    };
    format!("job {id}: {}, {progress}\n", job.item).into_response()
}

async fn latest_stats(extract::State(app): extract::State<App>) -> Response {
    match app.stats.latest() {
        Some(summary) => summary.to_string().into_response(),
        None => (StatusCode::SERVICE_UNAVAILABLE, "no statistics yet\n").into_response(),
    }
}

/// Ready when every service is; otherwise lists those that are not.
async fn health(extract::State(app): extract::State<App>) -> Response {
    let Some(supervisor) = app.supervisor else {
        return (StatusCode::SERVICE_UNAVAILABLE, "not supervised\n").into_response();
    };
    if supervisor.is_ready() {
        return "ready\n".into_response();
    }
    let waiting: Vec<String> = supervisor
        .snapshot()
        .into_iter()
        .filter(|row| !row.ready)
        .map(|row| format!("{} ({})", row.name, row.status))
        .collect();
    let text = format!("not ready: {}\n", waiting.join(", "));
    (StatusCode::SERVICE_UNAVAILABLE, text).into_response()
}

#[cfg(test)]
pub(crate) mod tests {
    use std::time::Duration;

    use axum::body::Body;
    use axum::http::Request;
    use supervisor::CancellationToken;
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    use tower::ServiceExt;

    use super::*;
    use crate::state;

    fn app(queue: Queue) -> App {
        App {
            catalogue: state::tests::catalogue(),
            jobs: Jobs::default(),
            queue,
            stats: Stats::default(),
            supervisor: None,
        }
    }

    /// One request through the router: the status and the body.
    async fn call(app: &App, method: &str, uri: &str, body: &str) -> (StatusCode, String) {
        let request = Request::builder()
            .method(method)
            .uri(uri)
            .body(Body::from(body.to_owned()))
            .unwrap();
        let response = router(app.clone()).oneshot(request).await.unwrap();
        let status = response.status();
        let body = axum::body::to_bytes(response.into_body(), 64 * 1024)
            .await
            .unwrap();
        (status, String::from_utf8(body.to_vec()).unwrap())
    }

    #[tokio::test]
    async fn a_job_for_a_catalogue_item_is_accepted_and_can_be_looked_up() {
        let app = app(Queue::new(1));
        assert_eq!(
            call(&app, "POST", "/jobs", "resize\n").await,
            (StatusCode::ACCEPTED, "1\n".into())
        );
        assert_eq!(
            call(&app, "GET", "/jobs/1", "").await,
            (StatusCode::OK, "job 1: resize, queued\n".into())
        );
        app.jobs.start(1);
        app.jobs.finish(1, Duration::from_millis(301));
        assert_eq!(
            call(&app, "GET", "/jobs/1", "").await.1,
            "job 1: resize, done in 301ms\n"
        );
    }

    #[tokio::test]
    async fn refusals_say_why() {
        let app = app(Queue::new(1));
        let (status, text) = call(&app, "POST", "/jobs", "sculpture").await;
        assert_eq!(status, StatusCode::NOT_FOUND);
        assert_eq!(
            text,
            "no item \"sculpture\" in the catalogue; it offers: resize, thumbnail\n"
        );
        assert_eq!(
            call(&app, "POST", "/jobs", "resize").await.0,
            StatusCode::ACCEPTED
        );
        assert_eq!(
            call(&app, "POST", "/jobs", "resize").await.0,
            StatusCode::SERVICE_UNAVAILABLE,
            "the queue holds one job"
        );
        assert_eq!(
            call(&app, "GET", "/jobs/7", "").await,
            (StatusCode::NOT_FOUND, "no job 7\n".into())
        );
        assert_eq!(
            call(&app, "GET", "/jobs/seven", "").await.0,
            StatusCode::BAD_REQUEST
        );
    }

    #[tokio::test]
    async fn stats_and_health() {
        let app = app(Queue::new(1));
        assert_eq!(
            call(&app, "GET", "/stats", "").await.0,
            StatusCode::SERVICE_UNAVAILABLE,
            "before the first summary"
        );
        crate::stats::stats(
            supervisor::State(app.jobs.clone()),
            supervisor::State(app.stats.clone()),
        );
        let (status, text) = call(&app, "GET", "/stats", "").await;
        assert_eq!(status, StatusCode::OK);
        assert!(text.starts_with("accepted 0\ndone 0\n"), "{text}");

        assert_eq!(
            call(&app, "GET", "/healthz", "").await,
            (StatusCode::SERVICE_UNAVAILABLE, "not supervised\n".into())
        );
    }

    /// The service itself: it listens where the configuration says, serves,
    /// and returns `Ok` once told to stop.
    #[tokio::test]
    async fn serves_on_its_port_until_told_to_stop() {
        let listen = free_port();
        let config = Config {
            listen,
            catalogue: None,
        };
        let stop = CancellationToken::new();
        let running = tokio::spawn(api(
            Context::detached("api", stop.clone()),
            State(config),
            State(state::tests::catalogue()),
            State(Jobs::default()),
            State(Queue::new(4)),
            State(Stats::default()),
        ));

        let reply = http(listen, "POST /jobs HTTP/1.1\r\nHost: test\r\nContent-Length: 9\r\nConnection: close\r\n\r\nthumbnail").await;
        assert!(reply.starts_with("HTTP/1.1 202 Accepted\r\n"), "{reply}");
        assert!(reply.contains("location: /jobs/1\r\n"), "{reply}");
        assert!(reply.ends_with("\r\n\r\n1\n"), "{reply}");

        stop.cancel();
        let result = tokio::time::timeout(Duration::from_secs(5), running)
            .await
            .expect("stops at once")
            .expect("no panic");
        assert!(result.is_ok(), "{result:?}");
        assert!(
            tokio::net::TcpStream::connect(listen).await.is_err(),
            "port released"
        );
    }

    #[tokio::test]
    async fn a_port_already_taken_is_an_error_naming_it() {
        let taken = TcpListener::bind("127.0.0.1:0").await.unwrap();
        let listen = taken.local_addr().unwrap();
        let config = Config {
            listen,
            catalogue: None,
        };
        let err = api(
            Context::detached("api", CancellationToken::new()),
            State(config),
            State(Catalogue::default()),
            State(Jobs::default()),
            State(Queue::new(1)),
            State(Stats::default()),
        )
        .await
        .expect_err("the port is taken");
        let text = format!("{err:#}");
        assert!(
            text.contains(&format!("cannot listen on {listen}")),
            "{text}"
        );
    }

    /// A free port: taken, noted and given back at once.
    pub(crate) fn free_port() -> std::net::SocketAddr {
        let probe = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        probe.local_addr().unwrap()
    }

    /// Sends one raw HTTP/1.1 request, retrying the connection while the
    /// service is still starting, and reads the whole reply.
    pub(crate) async fn http(to: std::net::SocketAddr, request: &str) -> String {
        let mut tries = 0;
        let mut stream = loop {
            match tokio::net::TcpStream::connect(to).await {
                Ok(stream) => break stream,
                Err(err) if tries < 100 => {
                    tries += 1;
                    tracing::debug!("not listening yet: {err}");
                    tokio::time::sleep(Duration::from_millis(20)).await;
                }
                Err(err) => panic!("nothing listens on {to}: {err}"),
            }
        };
        stream.write_all(request.as_bytes()).await.unwrap();
        let mut reply = String::new();
        stream.read_to_string(&mut reply).await.unwrap();
        reply
    }
}
