//! Blocking work on the supervisor's own OS threads.
//!
//! No OS thread can be killed, and tokio's blocking pool is waited for when a
//! runtime is dropped; so blocking work runs on threads of our own, detached,
//! and the async side only awaits a oneshot channel. "Aborting" such work
//! means we stop waiting, mark it, and discard whatever it returns later.
//!
//! The work runs inside the supervisor's runtime context (as it would on
//! tokio's blocking pool), so it can reach that runtime through
//! `Handle::current()`.

use std::time::Instant;

use tokio::runtime::Handle;
use tokio::sync::oneshot;

use super::context::Context;
use super::outcome::{error_text, Outcome};
use super::row::Row;
use super::table::RowRef;
use crate::panic::catch;
use crate::spec::BoxError;

/// A name the OS accepts for a thread: no NUL bytes (Linux keeps the first
/// 15 bytes; the standard library truncates for us).
pub(crate) fn thread_name(name: &str) -> String {
    name.replace('\0', " ")
}

/// Runs one piece of blocking work on the current thread, inside `span` and
/// inside the supervisor's tokio runtime (so `Handle::current()` works
/// there, as on tokio's own blocking pool), turning a panic into
/// `Err(message)`; records its wall and CPU time in the row's histograms.
pub(crate) fn run_timed<R>(
    row: &Row,
    span: &tracing::Span,
    runtime: Option<&Handle>,
    f: impl FnOnce() -> R,
) -> Result<R, String> {
    let wall = Instant::now();
    let cpu = cpu_time::ThreadTime::try_now().ok();
    let result = {
        let _entered = runtime.map(Handle::enter);
        span.in_scope(|| catch(f))
    };
    let metrics = row.metrics();
    metrics
        .wall_time
        .record(wall.elapsed().as_secs_f64() * 1000.0);
    if let Some(cpu) = cpu {
        metrics
            .cpu_time
            .record(cpu.elapsed().as_secs_f64() * 1000.0);
    }
    result
}

/// Runs `f` on a new detached thread named after the row; the receiver
/// gets its result, or the panic message.
pub(crate) fn spawn_thread<R: Send + 'static>(
    row: &RowRef,
    runtime: Option<Handle>,
    f: impl FnOnce() -> R + Send + 'static,
) -> std::io::Result<oneshot::Receiver<Result<R, String>>> {
    let (tx, rx) = oneshot::channel();
    let row_for_thread = row.clone();
    // The thread's events belong to the run's `service` span too.
    let span = tracing::Span::current();
    std::thread::Builder::new()
        .name(thread_name(&row.name))
        .spawn(move || {
            let result = run_timed(&row_for_thread, &span, runtime.as_ref(), f);
            // The receiver is gone when the run was aborted: nobody waits.
            let _ = tx.send(result);
        })?;
    Ok(rx)
}

/// Holds tokio's paused clock while one of our threads works; released on drop.
///
/// A paused clock (tokio's `test-util`) jumps to the next timer whenever the
/// runtime has nothing to do, which it does not while work runs on tokio's
/// own blocking pool: it waits for that work. Our threads are invisible to
/// it, so a shutdown deadline would pass at once while a blocking service
/// still cleans up. Holding a parked task on tokio's blocking pool for as
/// long as our thread works makes the clock wait in the same way.
///
/// The hold belongs to the future that awaits the thread: when that future
/// ends or is dropped (the work was abandoned, or the runtime is going away:
/// a runtime drops its tasks before it waits for its blocking pool), the
/// parked task returns, so it never holds up a runtime's drop.
pub(crate) struct ClockHold {
    _release: std::sync::mpsc::Sender<()>,
}

impl ClockHold {
    /// A hold when the current runtime's clock is paused; `None` otherwise
    /// (a running clock needs none, and it costs a pool thread).
    pub(crate) fn when_paused() -> Option<ClockHold> {
        // A paused clock stands still: two readings in a row are equal. A
        // running clock moves between them (at worst a needless hold).
        let now = tokio::time::Instant::now();
        if tokio::time::Instant::now() != now {
            return None;
        }
        let runtime = tokio::runtime::Handle::try_current().ok()?;
        let (release, parked) = std::sync::mpsc::channel::<()>();
        drop(runtime.spawn_blocking(move || {
            // Returns when the hold is dropped (the sender goes away).
            let _ = parked.recv();
        }));
        Some(ClockHold { _release: release })
    }
}

/// One run of a `blocking` service: on its own thread, awaited until it
/// returns. A thread cannot be told to stop except through its `Context`: at
/// the shutdown deadline the kill scan aborts this task, which detaches the
/// thread and discards whatever it returns later.
pub(crate) async fn run_service(
    row: RowRef,
    runtime: Option<Handle>,
    ctx: Context,
    run: fn(Context) -> Result<(), BoxError>,
    repeat: bool,
) -> Outcome {
    let rx = match spawn_thread(&row, runtime, move || run(ctx)) {
        Ok(rx) => rx,
        Err(err) => return Outcome::Failed(format!("could not start its thread: {err}")),
    };
    if repeat {
        tracing::debug!("called again on its own thread");
    } else {
        tracing::info!("started on its own thread");
    }
    let _hold = ClockHold::when_paused();
    match rx.await {
        Ok(Ok(Ok(()))) => Outcome::Returned,
        Ok(Ok(Err(error))) => Outcome::Failed(error_text(&*error)),
        Ok(Err(panic)) => Outcome::Failed(panic),
        Err(_) => Outcome::Failed("its thread ended without reporting".to_string()),
    }
}
