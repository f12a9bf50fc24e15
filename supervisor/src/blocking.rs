//! Blocking work on the supervisor's own OS threads.
//!
//! No OS thread can be killed, and tokio's blocking pool is waited for when a
//! runtime is dropped; so blocking work runs on threads of our own, detached,
//! and the async side only awaits a oneshot channel. "Aborting" such work
//! means we stop waiting, mark it, and discard whatever it returns later.

use std::time::Instant;

use tokio::sync::oneshot;

use crate::panic::catch;
use crate::service::{error_text, Outcome};
use crate::spec::BoxError;
use crate::Context;

/// A name the OS accepts for a thread: no NUL bytes (Linux keeps the first
/// 15 bytes; the standard library truncates for us).
pub(crate) fn thread_name(name: &str) -> String {
    name.replace('\0', " ")
}

/// Wall and CPU time of one run of blocking work, in the histograms of the
/// `metrics` facade.
pub(crate) fn record_times(name: &str, wall: Instant, cpu: Option<cpu_time::ThreadTime>) {
    let wall_ms = wall.elapsed().as_secs_f64() * 1000.0;
    metrics::histogram!("supervisor.task.wall_time_ms", "service" => name.to_string())
        .record(wall_ms);
    if let Some(cpu) = cpu {
        let cpu_ms = cpu.elapsed().as_secs_f64() * 1000.0;
        metrics::histogram!("supervisor.task.cpu_time_ms", "service" => name.to_string())
            .record(cpu_ms);
    }
}

/// Runs `f` on a new named, detached thread; the receiver gets its result,
/// or the panic message.
pub(crate) fn spawn_thread<R: Send + 'static>(
    name: &str,
    f: impl FnOnce() -> R + Send + 'static,
) -> std::io::Result<oneshot::Receiver<Result<R, String>>> {
    let (tx, rx) = oneshot::channel();
    let metric_name = name.to_string();
    // The thread's events belong to the run's `service` span too.
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name(thread_name(name))
        .spawn(move || {
            let wall = Instant::now();
            let cpu = cpu_time::ThreadTime::try_now().ok();
            let result = span.in_scope(|| catch(f));
            record_times(&metric_name, wall, cpu);
            // The receiver is gone when the run was aborted: nobody waits.
            let _ = tx.send(result);
        })?;
    Ok(rx)
}

/// One run of a `blocking` service: on its own thread, awaited until it
/// returns. A thread cannot be told to stop except through its `Context`: at
/// the shutdown deadline the kill scan aborts this task, which detaches the
/// thread and discards whatever it returns later.
pub(crate) async fn run_service(
    name: &str,
    ctx: Context,
    run: fn(Context) -> Result<(), BoxError>,
) -> Outcome {
    let rx = match spawn_thread(name, move || run(ctx)) {
        Ok(rx) => rx,
        Err(err) => return Outcome::Failed(format!("could not start its thread: {err}")),
    };
    tracing::info!("started on its own thread");
    match rx.await {
        Ok(Ok(Ok(()))) => Outcome::Returned,
        Ok(Ok(Err(error))) => Outcome::Failed(error_text(&*error)),
        Ok(Err(panic)) => Outcome::Failed(panic),
        Err(_) => Outcome::Failed("its thread ended without reporting".to_string()),
    }
}
