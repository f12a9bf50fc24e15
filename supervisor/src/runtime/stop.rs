//! The shutdown sequence: cancel every `Context` at once, wait for every
//! instance to end up to the one deadline, abort what is left, and collect
//! the result.
//!
//! Whoever asks first drives it: the watcher task (when a token started the
//! shutdown) or a `shutdown()` call. The others wait for the published
//! result. A driver dropped half-way hands over (see
//! [`Shutdown`](super::shutdown::Shutdown)), so `shutdown` returns within
//! its timeout whatever became of the runtime the supervisor was started in.

use std::sync::Arc;
use std::time::Duration;

use tokio::runtime::Handle;

use super::deps;
use super::lease;
use super::shared::Shared;
use super::shutdown::Cause;
use super::table::Table;
use crate::error::{Error, ServiceFailure};
use crate::panic::lock;
use crate::status::Status;

/// Runs for the supervisor's whole life, on its runtime: waits for its token,
/// then sees the shutdown through.
///
/// If the runtime drops this task before the shutdown finished, the
/// supervisor is marked as having lost its runtime: `spawn` then refuses,
/// and a `shutdown` called from another runtime drives the rest itself.
pub(crate) async fn watch(shared: Arc<Shared>) {
    let _guard = WatcherGuard(Arc::clone(&shared));
    shared.root().cancelled().await;
    // The result is for the callers of `shutdown`; `settle` publishes it.
    let _ = settle(&shared).await;
}

/// Begins the shutdown with `timeout`, or the builder's with `None` (unless
/// one has begun already), and returns its result.
pub(crate) async fn shutdown(shared: &Shared, timeout: Option<Duration>) -> Result<(), Error> {
    // Fixed before the token is cancelled: the driver, whoever it is, then
    // uses this call's timeout, not the builder's.
    shared.shutdown.set_timeout(timeout);
    shared.stop();
    settle(shared).await
}

/// Waits for the shutdown's result, driving the shutdown when nobody else
/// is.
async fn settle(shared: &Shared) -> Result<(), Error> {
    loop {
        let finished = shared.shutdown.finished();
        if let Some(result) = shared.shutdown.result() {
            return result;
        }
        if let Some(seat) = shared.shutdown.claim() {
            let result = drive(shared).await;
            return seat.publish(result);
        }
        finished.await;
    }
}

/// The shutdown itself.
async fn drive(shared: &Shared) -> Result<(), Error> {
    shared.mark_stopping();
    let timeout = shared.shutdown.set_timeout(None);
    shared.shutdown.note_began();
    tracing::info!(
        active = shared.active.get(),
        timeout = ?timeout,
        "shutdown: telling every service to stop (those others depend on, once these have ended)"
    );
    let kill = &shared.shutdown.kill;
    // Services others depend on are told once those others have ended.
    let ended = async {
        deps::stop_in_order(shared).await;
        shared.active.idle().await;
    };
    tokio::select! {
        () = ended => {}
        () = tokio::time::sleep(timeout) => {
            tracing::warn!(
                still_running = shared.active.get(),
                "shutdown timeout elapsed: aborting what is still running"
            );
            shared.shutdown.start_kill();
        }
        () = kill.cancelled() => {}
    }
    if shared.shutdown.killing() {
        deps::stop_all(shared);
        lease::abort_remaining(shared);
    }
    // Every instance still active has been aborted; its task ends (and its
    // lease reports) as soon as the runtime drops it.
    shared.active.idle().await;
    let result = outcome(shared);
    match &result {
        Ok(()) => tracing::info!("shutdown complete"),
        Err(err) => tracing::error!("shutdown complete: {err}"),
    }
    result
}

/// The supervisor's runtime, for spawning `name`. A supervisor made by
/// `Supervisor::new()` adopts the current runtime at its first spawn (and
/// starts watching its token there).
///
/// # Errors
///
/// [`Error::NoRuntime`] when neither exists, [`Error::RuntimeGone`] when the
/// supervisor's runtime has shut down.
pub(crate) fn runtime<'a>(shared: &'a Arc<Shared>, name: &Arc<str>) -> Result<&'a Handle, Error> {
    if let Some(runtime) = shared.runtime() {
        return Ok(runtime);
    }
    let current = Handle::try_current().map_err(|_| Error::NoRuntime)?;
    adopt(shared, current);
    shared.runtime().ok_or_else(|| Error::RuntimeGone {
        name: Arc::clone(name),
    })
}

/// Makes `runtime` the supervisor's (unless it has one already) and starts
/// the watcher there.
pub(crate) fn adopt(shared: &Arc<Shared>, runtime: Handle) {
    if shared.config.runtime.set(runtime.clone()).is_ok() {
        runtime.spawn(watch(Arc::clone(shared)));
    }
}

/// A second signal: abort everything now.
pub(crate) fn force(shared: &Shared) {
    shared.stop();
    shared.shutdown.force();
}

/// What `shutdown` returns: every row whose service failed (a job's failure
/// is its handle's, see [`Row::failed`](super::row::Row::failed)), then every
/// name aborted at the deadline, jobs included (each name once).
fn outcome(shared: &Shared) -> Result<(), Error> {
    let forced = shared.shutdown.forced();
    let mut failures: Vec<ServiceFailure> = {
        let table = lock(&shared.table);
        let mut failures = lost_failures(&table);
        // A walk of every row (a lock each) only when some instance failed.
        if shared.may_show_failures() {
            failures.extend(table.rows().filter_map(|row| {
                row.failed().map(|status| ServiceFailure {
                    name: Arc::clone(&row.name),
                    status,
                    forced: false,
                })
            }));
        }
        failures
    };
    failures.extend(
        shared
            .shutdown
            .take_killed()
            .into_iter()
            .map(|name| ServiceFailure {
                name,
                status: Status::Aborted,
                forced,
            }),
    );
    match shared.shutdown.cause().cloned() {
        Some(Cause::Critical {
            service,
            failure: Some(reason),
        }) => Err(Error::CriticalFailed {
            service,
            reason,
            failures,
        }),
        Some(Cause::Intensity {
            max,
            within,
            restarted,
        }) => Err(Error::RestartIntensity {
            max,
            within,
            restarted,
            failures,
        }),
        _ if failures.is_empty() => Ok(()),
        _ => Err(Error::Services { failures }),
    }
}

/// Failed tasks whose rows were evicted, as their rows would have reported
/// them: not when the name has a row again (that row, showing a later
/// instance, speaks for the name).
fn lost_failures(table: &Table) -> Vec<ServiceFailure> {
    table
        .lost_failures()
        .filter(|(name, _)| table.get(name).is_none())
        .map(|(name, status)| ServiceFailure {
            name: Arc::clone(name),
            status: status.clone(),
            forced: false,
        })
        .collect()
}

/// Owned by the watcher task: dropped before the shutdown finished, the
/// runtime is gone.
struct WatcherGuard(Arc<Shared>);

impl Drop for WatcherGuard {
    fn drop(&mut self) {
        self.0.shutdown.watcher_dropped();
    }
}
