//! The supervisor's metrics, served to Prometheus.
//!
//! ```text
//! cargo run -p examples --bin metrics -- --for 30s
//! curl -s http://127.0.0.1:9000/metrics     # in another terminal
//! ```
//!
//! The supervisor records through the `metrics` facade; whichever recorder
//! the program installs receives them. Here it is the Prometheus exporter,
//! with its own small HTTP server. Two services fail a few times and are
//! restarted, so `supervisor_failures` and `supervisor_restarts` move, and a
//! blocking job every second fills the `supervisor_task_*_ms` summaries.

use std::time::Duration;

use anyhow::Context as _;
use metrics_exporter_prometheus::PrometheusBuilder;
use supervisor::{supervised, Context};

const USAGE: &str = "\
usage: metrics [--port PORT] [--for DURATION]

  --port PORT      serve http://127.0.0.1:PORT/metrics (default 9000)
  --for DURATION   stop after this long (e.g. 10s); without it, run until
                   Ctrl-C or SIGTERM";

/// A healthy service that also records a metric of its own, through the same
/// facade and so the same exporter.
#[supervised(name = "api")]
async fn api(ctx: Context) {
    loop {
        tokio::select! {
            () = ctx.cancelled() => return,
            () = tokio::time::sleep(Duration::from_millis(250)) => {
                metrics::counter!("example_requests_handled").increment(1);
            }
        }
    }
}

/// Fails (returns `Err`) on its first three runs, then stays up. Each failure
/// adds 1 to `supervisor_failures{service="cache"}`, each restart 1 to
/// `supervisor_restarts{service="cache"}`.
#[supervised(name = "cache", restart = backoff(5, "200ms"))]
async fn cache(ctx: Context) -> Result<(), String> {
    tokio::time::sleep(Duration::from_millis(300)).await;
    if ctx.attempt() < 3 {
        return Err(format!("cache node unreachable (run {})", ctx.attempt()));
    }
    ctx.cancelled().await;
    Ok(())
}

/// Panics on its first run: a panic counts as a failure too, and is restarted
/// the same way.
#[supervised(name = "indexer", restart = backoff(2, "1s"))]
async fn indexer(ctx: Context) {
    tokio::time::sleep(Duration::from_millis(500)).await;
    assert!(ctx.attempt() > 0, "index file is corrupt (simulated panic)");
    ctx.cancelled().await;
}

/// CPU-bound work for `spawn_blocking`: one sample of wall and CPU time each.
fn checksum(seed: u64) -> u64 {
    (0..2_000_000u64).fold(seed, |acc, x| {
        acc.rotate_left(5) ^ x.wrapping_mul(0x9E37_79B9)
    })
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    examples::init_logging();

    let mut port: u16 = 9000;
    let mut run_for = None;
    let mut cli = examples::Cli::new(USAGE);
    while let Some(flag) = cli.next_flag() {
        match flag.as_str() {
            "--port" => port = cli.value(&flag),
            "--for" => run_for = Some(cli.duration(&flag)),
            _ => cli.unknown(&flag),
        }
    }

    // Install the recorder before starting the supervisor, so that nothing
    // it records is lost. `install` also spawns the HTTP listener on this
    // runtime.
    PrometheusBuilder::new()
        .with_http_listener(([127, 0, 0, 1], port))
        .install()
        .with_context(|| format!("cannot serve metrics on 127.0.0.1:{port} (try --port)"))?;
    println!("metrics at http://127.0.0.1:{port}/metrics");

    let sup = supervisor::Builder::new().start()?;
    let stop = sup.cancellation_token();

    // A blocking job every second, until shutdown begins. The supervisor
    // runs it on its own worker threads and times it.
    examples::every_second(&sup, |sup, seed| async move {
        let job = sup.spawn_blocking("checksum", move || checksum(seed));
        match job.join().await {
            Ok(sum) => tracing::info!(seed, sum, "checksum computed"),
            Err(err) => tracing::warn!(seed, "checksum: {err}"),
        }
    });

    if let Some(duration) = run_for {
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            stop.cancel();
        });
    }

    let result = sup.run().await;
    println!("final status:\n{sup}");
    Ok(result?)
}
