//! What happens to a service that ignores the request to stop.
//!
//! ```text
//! cargo run -p examples --bin stubborn               # stops after 3 s
//! cargo run -p examples --bin stubborn -- --for 10s
//! ```
//!
//! At shutdown, `polite` cleans up and returns, while `stubborn` (async) and
//! `stuck` (a blocking thread) carry on. After the 2 s shutdown timeout the
//! supervisor aborts them, marks them `aborted`, and `main` returns the
//! error: the program says which services misbehaved and exits with code 1.

use std::time::Duration;

use supervisor::{supervised, Context};

const USAGE: &str = "\
usage: stubborn [--for DURATION]

  --for DURATION   start the shutdown after this long (default 3s)";

/// Well-behaved: stops when asked, after a short cleanup.
#[supervised(name = "polite")]
async fn polite(ctx: Context) {
    ctx.cancelled().await;
    tracing::info!("flushing buffers before returning");
    tokio::time::sleep(Duration::from_millis(300)).await;
}

/// Takes a `Context`, which promises cooperation, but never looks at it.
/// The supervisor waits for it until the shutdown timeout, then aborts the
/// task at its next `.await`.
#[supervised(name = "stubborn")]
async fn stubborn(_ctx: Context) {
    loop {
        tokio::time::sleep(Duration::from_millis(500)).await;
        tracing::info!("still busy, not listening");
    }
}

/// The same on an OS thread. No thread can be killed: after the timeout the
/// supervisor stops waiting and marks it `aborted`, and the thread does not
/// keep the process alive once `main` returns.
#[supervised(name = "stuck", blocking)]
fn stuck() {
    loop {
        std::thread::sleep(Duration::from_millis(500));
    }
}

#[tokio::main]
async fn main() -> Result<(), supervisor::Error> {
    examples::init_logging();

    let run_for = examples::run_for_option(USAGE).unwrap_or(Duration::from_secs(3));

    let sup = supervisor::Builder::new()
        // How long services get to clean up before being aborted (default 10 s).
        .shutdown_timeout(Duration::from_secs(2))
        .start()?;
    println!("{sup}");

    let stop = sup.cancellation_token();
    tokio::spawn(async move {
        tokio::time::sleep(run_for).await;
        tracing::info!("shutting down; the timeout is 2 s");
        stop.cancel();
    });

    // Ctrl-C works too. Whatever the trigger, this returns once the shutdown
    // is over: here, about 2 s after it began.
    let result = sup.run().await;

    println!("final status:\n{sup}");
    // Returning the `Err` from `main` prints it and exits with code 1.
    result
}
