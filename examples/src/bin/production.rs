//! A program deployed as the files in `examples/deploy/` expect: under
//! systemd (`production.service`) or Kubernetes (`production.yaml`).
//!
//! ```text
//! cargo run -p examples --bin production
//! curl -s localhost:8081/readyz?verbose     # in another terminal
//! curl -s localhost:8081/status
//! curl -s localhost:8080                    # the API itself
//! ```
//!
//! - `api` serves a one-line HTTP answer on port 8080, and says it is ready
//!   once it listens;
//! - `cache-warmer` refreshes something every second, and fails now and
//!   then: `/readyz` says 503 while it waits out its backoff delay;
//! - the supervisor serves `/livez`, `/readyz` and `/status` on port 8081,
//!   tells systemd when it is ready, how it is doing and that it is alive
//!   (where systemd started it with `NOTIFY_SOCKET`), and stops within 20 s
//!   of SIGTERM: exit code 0 for a clean stop, 1 otherwise.
//!
//! The settings the deployment files depend on (the shutdown timeout, the
//! health port) are constants in `examples::production`; the tests check
//! the files against them.

use std::net::SocketAddr;
use std::time::Duration;

use examples::production::{API_PORT, HEALTH_PORT, SHUTDOWN_TIMEOUT};
use supervisor::{supervised, Builder, Context};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

const USAGE: &str = "\
usage: production [--health ADDR] [--api ADDR] [--print-settings]

  --health ADDR      serve /livez, /readyz and /status on ADDR
                     (default 0.0.0.0:8081)
  --api ADDR         serve the API on ADDR (default 0.0.0.0:8080)
  --print-settings   print the settings the deployment files depend on,
                     then exit";

/// The API: listens, says it is ready, answers every connection with one
/// line until told to stop. A port it cannot bind is a failure, retried.
#[supervised(name = "api", ready = manual, critical, restart = backoff(5, "1s"))]
async fn api(ctx: Context) -> std::io::Result<()> {
    let addr = ctx
        .state::<ApiAddr>()
        .map_or_else(|| SocketAddr::from(([0, 0, 0, 0], API_PORT)), |a| a.0);
    let listener = tokio::net::TcpListener::bind(addr).await?;
    tracing::info!("api listening on http://{}", listener.local_addr()?);
    // Ready from here on: the readiness probe and `READY=1` wait for this.
    ctx.ready();
    loop {
        let (mut stream, _) = tokio::select! {
            () = ctx.cancelled() => return Ok(()),
            accepted = listener.accept() => accepted?,
        };
        tokio::spawn(async move {
            let mut request = [0u8; 1024];
            let _ = stream.read(&mut request).await;
            let body = "hello from the supervised api\n";
            let response = format!(
                "HTTP/1.1 200 OK\r\ncontent-length: {}\r\nconnection: close\r\n\r\n{body}",
                body.len()
            );
            let _ = stream.write_all(response.as_bytes()).await;
        });
    }
}

/// Refreshes a cache every second; one refresh in ten fails, and the
/// service is restarted after a short backoff.
#[supervised(name = "cache-warmer", restart = backoff(10, "2s"))]
async fn cache_warmer(ctx: Context) -> Result<(), String> {
    let mut refreshes = 0u32;
    loop {
        tokio::select! {
            () = ctx.cancelled() => return Ok(()),
            () = tokio::time::sleep(Duration::from_secs(1)) => {}
        }
        refreshes += 1;
        if (refreshes + ctx.attempt()) % 10 == 0 {
            return Err(format!("refresh {refreshes}: upstream timed out"));
        }
    }
}

/// The API's address, handed to the service as state.
#[derive(Clone, Copy, Debug)]
struct ApiAddr(SocketAddr);

#[tokio::main]
async fn main() -> Result<(), supervisor::Error> {
    let mut health = SocketAddr::from(([0, 0, 0, 0], HEALTH_PORT));
    let mut api = SocketAddr::from(([0, 0, 0, 0], API_PORT));
    let mut cli = examples::Cli::new(USAGE);
    while let Some(flag) = cli.next_flag() {
        match flag.as_str() {
            "--health" => health = cli.value(&flag),
            "--api" => api = cli.value(&flag),
            "--print-settings" => {
                println!("shutdown_timeout_secs={}", SHUTDOWN_TIMEOUT.as_secs());
                println!("health_port={HEALTH_PORT}");
                println!("api_port={API_PORT}");
                return Ok(());
            }
            _ => cli.unknown(&flag),
        }
    }
    examples::init_logging();

    tracing::info!("health endpoints on http://{health}/readyz?verbose");
    // Runs until SIGTERM (systemd's KillSignal, Kubernetes' way to stop a
    // pod) or Ctrl-C; `Err` (exit code 1) names what did not stop cleanly.
    Builder::new()
        .shutdown_timeout(SHUTDOWN_TIMEOUT)
        .serve_health(health)
        .state(ApiAddr(api))
        .run()
        .await
}
