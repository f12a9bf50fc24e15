//! A real program for the process tests of critical services: its `server`
//! is `critical` and ends on its own after a moment, failing or not as the
//! `CRITICAL_MODE` environment variable says (`fail` or `ok`), while a
//! cooperative `worker` runs until it is told to stop. No signal is sent:
//! the critical service's end alone must end the program.

use std::time::Duration;

use supervisor::{supervised, Builder, Context};

#[supervised(name = "server", critical)]
async fn server() -> Result<(), String> {
    tokio::time::sleep(Duration::from_millis(50)).await;
    match std::env::var("CRITICAL_MODE").as_deref() {
        Ok("fail") => Err("could not bind 0.0.0.0:8080: address in use".into()),
        _ => Ok(()),
    }
}

#[supervised(name = "worker")]
async fn worker(ctx: Context) {
    ctx.cancelled().await;
}

#[tokio::main]
async fn main() -> Result<(), supervisor::Error> {
    Builder::new()
        .shutdown_timeout(Duration::from_secs(5))
        .run()
        .await
}
