//! A real program for the process tests: starts the services named by the
//! `PROCSVC_ONLY` environment variable (comma separated), prints `ready`,
//! and runs until a signal or until no service is active, exactly as a user's
//! `main` would. The shutdown timeout is `PROCSVC_TIMEOUT_MS` (default 10 s).
//!
//! With `PROCSVC_JOB_PANIC` set, it first runs two jobs that panic and
//! handles both through their handles (printing `handled: ...` on stderr).

use std::io::Write;
use std::time::Duration;

use supervisor::{supervised, Builder, Context};

/// Waits for shutdown, then takes a short moment to clean up.
#[supervised(name = "cooperative")]
async fn cooperative(ctx: Context) {
    ctx.cancelled().await;
    tokio::time::sleep(Duration::from_millis(50)).await;
}

/// Never looks at its context: only the timeout (or a second signal) ends it.
#[supervised(name = "stubborn")]
async fn stubborn(_ctx: Context) {
    loop {
        tokio::time::sleep(Duration::from_secs(3600)).await;
    }
}

/// Prints `shutting down` on stdout once told to stop, then returns: the
/// line a test waits for to know that the shutdown has begun (the first
/// signal has been handled).
#[supervised(name = "announcer")]
async fn announcer(ctx: Context) {
    ctx.cancelled().await;
    let mut stdout = std::io::stdout().lock();
    let _ = writeln!(stdout, "shutting down");
    let _ = stdout.flush();
}

/// A blocking service that never checks for cancellation.
#[supervised(name = "stuck-thread", blocking)]
fn stuck_thread() {
    loop {
        std::thread::sleep(Duration::from_secs(3600));
    }
}

/// Returns at once: the program ends when it is the only service.
#[supervised(name = "quick")]
async fn quick() {}

/// Fails at once, with no restart.
#[supervised(name = "broken")]
async fn broken() -> Result<(), String> {
    Err("the configuration file is missing".to_string())
}

// One thread: the `ready` line below is printed only once `run()` has been
// polled, and `run()` installs its signal handlers at its first poll, so a
// test that waits for `ready` never signals a process without handlers.
#[tokio::main(flavor = "current_thread")]
async fn main() -> Result<(), supervisor::Error> {
    let only = std::env::var("PROCSVC_ONLY").unwrap_or_else(|_| "cooperative".to_string());
    let timeout_ms = std::env::var("PROCSVC_TIMEOUT_MS")
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(10_000);
    let sup = Builder::new()
        .only(only.split(',').filter(|name| !name.is_empty()))
        .shutdown_timeout(Duration::from_millis(timeout_ms))
        .start()?;
    if std::env::var_os("PROCSVC_JOB_PANIC").is_some() {
        handle_panicking_jobs(&sup).await;
    }
    tokio::spawn(async {
        println!("ready");
        let _ = std::io::stdout().flush();
    });
    let result = sup.run().await;
    eprintln!("{sup}");
    result
}

/// Runs a blocking job and an async job that both panic, and handles their
/// failures the way a program would: through `join`. Nothing else is done
/// about them, so they must not change the exit code.
async fn handle_panicking_jobs(sup: &supervisor::Supervisor) {
    let blocking = sup.spawn_blocking("panicking-job", || -> u32 {
        panic!("the job's input was malformed")
    });
    let oneshot = sup.spawn_oneshot("panicking-oneshot", |_ctx| async {
        tokio::task::yield_now().await;
        if true {
            panic!("the reply was malformed");
        }
        0u32
    });
    for job in [blocking, oneshot] {
        match job.join().await {
            Ok(value) => eprintln!("unexpected: the job returned {value}"),
            Err(err) => eprintln!("handled: {err}"),
        }
    }
}
