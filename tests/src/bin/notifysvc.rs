//! A real program for the systemd tests (`tests/systemd.rs`): runs
//! `Builder::run()` as a user's `main` would, with two services:
//!
//! - `gate`, ready only when it says so (`ready = manual`): it prints
//!   `gate waiting` once it runs, waits for a line on stdin, prints
//!   `gate ready`, then calls `ctx.ready()`;
//! - `worker`, ready once it runs, until told to stop.
//!
//! The shutdown timeout is 2 s. `NOTIFYSVC_SYSTEMD=off` starts it with
//! `Builder::systemd(false)`; `NOTIFYSVC_ONLY=quick` runs only `quick`,
//! which returns at once, so the program ends by itself; `hog` blocks the
//! runtime's thread for a while.

use std::io::Write;
use std::time::Duration;

use supervisor::{supervised, Builder, Context};
use tokio::io::AsyncBufReadExt;

/// The shutdown timeout, which `STOPPING=1`'s `EXTEND_TIMEOUT_USEC` covers.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// Ready once it has read a line from stdin.
#[supervised(name = "gate", ready = manual)]
async fn gate(ctx: Context) {
    say("gate waiting");
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    tokio::select! {
        () = ctx.cancelled() => return,
        _ = stdin.next_line() => {}
    }
    // Printed before the service is ready, so before any READY=1 can be sent.
    say("gate ready");
    ctx.ready();
    ctx.cancelled().await;
}

/// Ready as soon as it runs.
#[supervised(name = "worker")]
async fn worker(ctx: Context) {
    ctx.cancelled().await;
}

/// Blocks the program's one runtime thread for 700 ms, 300 ms after it
/// starts (what a service must never do): the supervisor's loop cannot
/// turn meanwhile, so neither can its watchdog pings.
#[supervised(name = "hog")]
async fn hog(ctx: Context) {
    tokio::time::sleep(Duration::from_millis(300)).await;
    say("hog blocking");
    std::thread::sleep(Duration::from_millis(700));
    say("hog done");
    ctx.cancelled().await;
}

/// Returns at once: with only this one, the program ends by itself.
#[supervised(name = "quick")]
async fn quick() {}

/// Prints `line` on stdout at once.
fn say(line: &str) {
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "{line}");
    let _ = stdout.flush();
}

#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), supervisor::Error> {
    let systemd = std::env::var("NOTIFYSVC_SYSTEMD").map_or(true, |v| v != "off");
    let only = std::env::var("NOTIFYSVC_ONLY").unwrap_or_else(|_| "gate,worker".to_string());
    Builder::new()
        .only(only.split(','))
        .shutdown_timeout(SHUTDOWN_TIMEOUT)
        .systemd(systemd)
        .run()
        .await
}
