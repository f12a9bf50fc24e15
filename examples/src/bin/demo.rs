//! The tour: five services declared with `#[supervised]`, started together,
//! with the status table printed every second.
//!
//! ```text
//! cargo run -p examples --bin demo              # until Ctrl-C (or SIGTERM)
//! cargo run -p examples --bin demo -- --for 5s  # stop by itself after 5 s
//! ```
//!
//! Watch `flaky` fail twice and come back, `migrate` complete, and everything
//! stop cleanly at the end: the program then exits with code 0.

use std::time::Duration;

use supervisor::{supervised, Context};

const USAGE: &str = "\
usage: demo [--for DURATION]

  --for DURATION   stop after this long (e.g. 5s, 500ms, 2m); without it,
                   run until Ctrl-C or SIGTERM";

/// A cooperative service: it takes a `Context`, so at shutdown it is told to
/// stop and given time to clean up. It ticks until then.
#[supervised(name = "ticker")]
async fn ticker(ctx: Context) {
    let mut ticks = 0u64;
    loop {
        tokio::select! {
            // `cancelled()` is the first branch: when shutdown begins, we
            // leave the loop and return normally, which counts as `stopped`.
            () = ctx.cancelled() => {
                tracing::info!(ticks, "asked to stop, returning");
                return;
            }
            () = tokio::time::sleep(Duration::from_secs(1)) => {
                ticks += 1;
                tracing::info!(ticks, "tick");
            }
        }
    }
}

/// A service that fails on its first two runs. `backoff(3, "500ms")` restarts
/// it after 500 ms, then 1 s (at most 3 restarts in a row), so the third run
/// (`attempt() == 2`) is the one that stays up.
#[supervised(name = "flaky", restart = backoff(3, "500ms"))]
async fn flaky(ctx: Context) -> anyhow::Result<()> {
    tracing::info!("connecting");
    tokio::time::sleep(Duration::from_millis(300)).await;
    if ctx.attempt() < 2 {
        // Returning `Err` (or panicking) is a failure: the supervisor logs the
        // reason, shows it in the table and schedules the restart.
        anyhow::bail!("connection refused (simulated, run {})", ctx.attempt());
    }
    tracing::info!("connected, serving");
    ctx.cancelled().await;
    Ok(())
}

/// A one-shot job: no `Context`, the default `restart = never`. It returns
/// after a moment and shows as `completed`; nothing restarts it.
#[supervised]
async fn migrate() {
    tracing::info!("applying schema changes");
    tokio::time::sleep(Duration::from_millis(1500)).await;
    tracing::info!("done");
}

/// A service without a `Context` that never returns. It cannot be told to
/// stop, so at shutdown the supervisor simply drops it (at its next `.await`):
/// it ends `stopped`, which is clean.
#[supervised]
async fn heartbeat() {
    loop {
        tokio::time::sleep(Duration::from_secs(2)).await;
        tracing::debug!("heartbeat");
    }
}

/// Synchronous, CPU-ish work on its own OS thread (`blocking`). It cannot
/// `.await`, so it polls `is_cancelled()` between small steps of work.
#[supervised(name = "crunch", blocking)]
fn crunch(ctx: Context) {
    let mut checksum = 0u64;
    let mut rounds = 0u64;
    while !ctx.is_cancelled() {
        // A small piece of work, then a short pause.
        checksum = (0..10_000u64).fold(checksum, |acc, x| acc.wrapping_mul(31).wrapping_add(x));
        rounds += 1;
        std::thread::sleep(Duration::from_millis(50));
    }
    tracing::info!(rounds, checksum, "crunch: asked to stop, returning");
}

#[tokio::main]
async fn main() -> Result<(), supervisor::Error> {
    examples::init_logging();

    let run_for = examples::run_for_option(USAGE);

    // Start every `#[supervised]` service of this binary. `start` returns a
    // handle at once; `supervisor::run_all().await` would do all of what
    // follows, minus the printing and `--for`.
    let sup = supervisor::Builder::new().start()?;
    let stop = sup.cancellation_token();

    // Print the status table every second until shutdown begins.
    examples::every_second(&sup, |sup, _| async move { println!("{sup}") });

    // `--for`: cancelling the supervisor's token starts the same graceful
    // shutdown as Ctrl-C.
    if let Some(duration) = run_for {
        tokio::spawn(async move {
            tokio::time::sleep(duration).await;
            tracing::info!(?duration, "--for elapsed: shutting down");
            stop.cancel();
        });
    }

    // Wait for Ctrl-C/SIGTERM, the token, or no service active any more; then
    // shut down (10 s timeout by default) and report how it went.
    let result = sup.run().await;

    println!("final status:\n{sup}");
    // `Ok(())` exits 0; an `Err` names what failed or was aborted, exits 1.
    result
}
