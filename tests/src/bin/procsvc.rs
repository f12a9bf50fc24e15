//! A real program for the process tests. Environment variables:
//!
//! - `PROCSVC_ONLY`: the services to run, comma separated (default
//!   `cooperative`);
//! - `PROCSVC_TIMEOUT_MS`: the shutdown timeout (default 10 s);
//! - `PROCSVC_MODE`: `start` (default) calls `Builder::start()`, prints
//!   `ready`, then `Supervisor::run()` and prints the final table on stderr;
//!   `run` calls `Builder::run()` and nothing else, exactly like a user's
//!   `main`;
//! - `PROCSVC_FLAVOR`: `current_thread` (default) or `multi_thread`, the
//!   runtime flavour;
//! - `PROCSVC_STARTED`: when set, `attentive` and `cooperative` print
//!   `started` on stdout as soon as they run;
//! - `PROCSVC_CLEANUP_MS`: how long `cooperative` takes to clean up once
//!   told to stop (default 50 ms).
//!
//! `attentive` and `cooperative` print `NAME: cleaned up` on stderr when they
//! stop after being told to.
//!
//! With `PROCSVC_JOB_PANIC` set (mode `start`), it first runs two jobs that
//! panic and handles both through their handles (printing `handled: ...` on
//! stderr).

use std::io::Write;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::time::Duration;

use supervisor::{supervised, Builder, Context};

static SAY_STARTED: AtomicBool = AtomicBool::new(false);
static CLEANUP_MS: AtomicU64 = AtomicU64::new(50);

/// Prints `started` when asked to; a closed pipe is not an error (the tests
/// read one line).
fn say_started() {
    if SAY_STARTED.load(Ordering::Relaxed) {
        let mut stdout = std::io::stdout().lock();
        let _ = writeln!(stdout, "started");
        let _ = stdout.flush();
    }
}

/// Waits for shutdown, then takes a short moment to clean up.
#[supervised(name = "cooperative")]
async fn cooperative(ctx: Context) {
    say_started();
    ctx.cancelled().await;
    tokio::time::sleep(Duration::from_millis(CLEANUP_MS.load(Ordering::Relaxed))).await;
    eprintln!("cooperative: cleaned up");
}

/// A blocking service that stops when told to: polls its context. Its name
/// sorts first, so it starts first, on its own thread, while the others are
/// still being started.
#[supervised(name = "attentive", blocking)]
fn attentive(ctx: Context) {
    say_started();
    while !ctx.is_cancelled() {
        std::thread::sleep(Duration::from_millis(1));
    }
    eprintln!("attentive: cleaned up");
}

/// Services that only wait for shutdown (each named after its function):
/// the rest of a larger program, started after `cooperative`.
macro_rules! idle {
    ($($name:ident),*) => {$(
        #[supervised]
        async fn $name(ctx: Context) {
            ctx.cancelled().await;
        }
    )*};
}
idle!(
    idle_00, idle_01, idle_02, idle_03, idle_04, idle_05, idle_06, idle_07, idle_08, idle_09,
    idle_10, idle_11, idle_12, idle_13, idle_14, idle_15, idle_16, idle_17, idle_18, idle_19,
    idle_20, idle_21, idle_22, idle_23, idle_24, idle_25, idle_26, idle_27, idle_28, idle_29,
    idle_30, idle_31
);

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

fn env_ms(name: &str, default: u64) -> u64 {
    std::env::var(name)
        .ok()
        .and_then(|ms| ms.parse().ok())
        .unwrap_or(default)
}

fn main() -> Result<(), supervisor::Error> {
    SAY_STARTED.store(
        std::env::var_os("PROCSVC_STARTED").is_some(),
        Ordering::Relaxed,
    );
    CLEANUP_MS.store(env_ms("PROCSVC_CLEANUP_MS", 50), Ordering::Relaxed);
    let runtime = match std::env::var("PROCSVC_FLAVOR").as_deref() {
        Ok("multi_thread") => tokio::runtime::Builder::new_multi_thread(),
        _ => tokio::runtime::Builder::new_current_thread(),
    }
    .enable_all()
    .build()
    .expect("the runtime builds");
    runtime.block_on(run())
}

async fn run() -> Result<(), supervisor::Error> {
    let only = std::env::var("PROCSVC_ONLY").unwrap_or_else(|_| "cooperative".to_string());
    let builder = Builder::new()
        .only(only.split(',').filter(|name| !name.is_empty()))
        .shutdown_timeout(Duration::from_millis(env_ms("PROCSVC_TIMEOUT_MS", 10_000)));
    if std::env::var("PROCSVC_MODE").as_deref() == Ok("run") {
        return builder.run().await;
    }
    let sup = builder.start()?;
    if std::env::var_os("PROCSVC_JOB_PANIC").is_some() {
        handle_panicking_jobs(&sup).await;
    }
    // `ready` is printed from a task, so only once `run()` below has been
    // polled and has installed its handlers: with one thread, a test that
    // waits for `ready` never signals a process without handlers.
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
