//! The state of the shutdown: whether it has begun, its one deadline, who is
//! driving it, and its result.
//!
//! The sequence itself (cancel, wait, abort what is left, collect the
//! result) is [`stop`](super::stop)'s; this file holds what the rest of the
//! runtime asks about the shutdown.
//!
//! # How the values travel
//!
//! - The timeout is written once (`OnceLock`) by whoever begins the
//!   shutdown: a `shutdown(timeout)` call sets it *before* cancelling the
//!   token, so the driver reads that call's timeout; a cancellation from
//!   outside leaves it to the driver, which takes the builder's.
//! - The result is written once by the driver and read by every caller
//!   through [`Shutdown::result`]; `finished` wakes them.
//! - The driver's seat is one flag: a driver dropped half-way (its runtime
//!   went away) frees it and wakes the waiters, one of which takes over.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex, OnceLock};
use std::time::{Duration, Instant};

use tokio::sync::futures::Notified;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

use super::row::since_origin;
use crate::error::Error;
use crate::panic::lock;

/// See the module documentation.
pub(crate) struct Shutdown {
    /// The supervisor's token: cancelling it starts the shutdown, and every
    /// `Context` watches it.
    pub(crate) root: CancellationToken,
    /// Cancelled when the deadline passes or a second signal arrives:
    /// whatever is still running ends `Aborted`.
    pub(crate) kill: CancellationToken,
    /// Set right before `kill` is cancelled: what the hot paths read (the
    /// token's state sits behind its mutex).
    killing: AtomicBool,
    /// Set once the shutdown has begun (see [`Shutdown::is_stopping`]).
    stopping: AtomicBool,
    /// Whether a second signal (rather than the deadline) forced the aborts.
    forced: AtomicBool,
    /// The builder's timeout, used when a token started the shutdown.
    default_timeout: Duration,
    /// This shutdown's timeout (first writer wins).
    timeout: OnceLock<Duration>,
    /// Wall-clock moment the shutdown began (first observer wins), as a
    /// row time: nanoseconds after the rows' origin.
    began: OnceLock<u64>,
    /// Whether some future is driving the shutdown now.
    driving: AtomicBool,
    /// Set when the supervisor's runtime shut down before the shutdown
    /// finished (see [`Shutdown::runtime_gone`]).
    runtime_gone: AtomicBool,
    result: OnceLock<Result<(), Error>>,
    /// Notified when the result is published, and when a driver gives up.
    finished: Notify,
    /// Why the supervisor shut itself down, when it did (first cause wins).
    cause: OnceLock<Cause>,
    /// Names aborted at the deadline. Kept as events, not read off the rows:
    /// a row shows only the latest job under a name, and an earlier one that
    /// was stuck must still be reported.
    killed: Mutex<Vec<Arc<str>>>,
}

impl Shutdown {
    pub(crate) fn new(root: CancellationToken, default_timeout: Duration) -> Self {
        Shutdown {
            root,
            kill: CancellationToken::new(),
            killing: AtomicBool::new(false),
            stopping: AtomicBool::new(false),
            forced: AtomicBool::new(false),
            default_timeout,
            timeout: OnceLock::new(),
            began: OnceLock::new(),
            driving: AtomicBool::new(false),
            runtime_gone: AtomicBool::new(false),
            result: OnceLock::new(),
            finished: Notify::new(),
            cause: OnceLock::new(),
            killed: Mutex::new(Vec::new()),
        }
    }

    /// Whether the shutdown has been requested (through any token).
    ///
    /// The flag is set before our own cancellations, so during a shutdown we
    /// started, the many completions that ask this never touch the token's
    /// mutex; a cancellation from outside is still seen through the token.
    pub(crate) fn is_stopping(&self) -> bool {
        self.stopping.load(Ordering::Acquire) || self.root.is_cancelled()
    }

    /// The flag alone, without the token's mutex: what a registration checks
    /// (see `Shared::mark_stopping` for why that is enough).
    pub(crate) fn flagged(&self) -> bool {
        self.stopping.load(Ordering::Acquire)
    }

    /// Sets the flag; the caller holds the table lock.
    pub(crate) fn flag(&self) {
        self.stopping.store(true, Ordering::Release);
    }

    /// Whether a second signal (rather than the deadline) forced the aborts.
    pub(crate) fn forced(&self) -> bool {
        self.forced.load(Ordering::Acquire)
    }

    /// A second signal: whatever runs is aborted now.
    pub(crate) fn force(&self) {
        self.forced.store(true, Ordering::Release);
        self.start_kill();
    }

    /// The deadline passed or a second signal arrived: whatever still runs
    /// is to be aborted.
    pub(crate) fn start_kill(&self) {
        self.killing.store(true, Ordering::Release);
        self.kill.cancel();
    }

    /// Whether the aborts of the shutdown have begun (see
    /// [`Shutdown::start_kill`], the only way `kill` is cancelled).
    pub(crate) fn killing(&self) -> bool {
        self.killing.load(Ordering::Acquire)
    }

    /// Fixes this shutdown's timeout unless it is fixed already; returns the
    /// one that applies.
    pub(crate) fn set_timeout(&self, timeout: Option<Duration>) -> Duration {
        *self
            .timeout
            .get_or_init(|| timeout.unwrap_or(self.default_timeout))
    }

    /// Notes the moment the shutdown began (the first call wins).
    pub(crate) fn note_began(&self) {
        self.began.get_or_init(|| since_origin(Instant::now()));
    }

    /// The moment a run that ends now should be said to have ended, as a row
    /// time (see [`since_origin`]): for a run stopped by shutdown, the moment
    /// shutdown began.
    pub(crate) fn end_time(&self) -> u64 {
        // Once the moment is noted (before the shutdown tells anyone), no
        // clock read: it is earlier than now.
        if let Some(began) = self.began.get() {
            return *began;
        }
        let now = since_origin(Instant::now());
        if self.is_stopping() {
            (*self.began.get_or_init(|| now)).min(now)
        } else {
            now
        }
    }

    /// Records why the supervisor shuts itself down (the first cause stays).
    pub(crate) fn set_cause(&self, cause: Cause) {
        let _ = self.cause.set(cause);
    }

    /// Why the supervisor shut itself down, if it did.
    pub(crate) fn cause(&self) -> Option<&Cause> {
        self.cause.get()
    }

    /// Notes an instance or job aborted at the deadline.
    pub(crate) fn record_kill(&self, name: &Arc<str>) {
        lock(&self.killed).push(Arc::clone(name));
    }

    /// The names aborted at the deadline, each once, sorted.
    pub(crate) fn take_killed(&self) -> Vec<Arc<str>> {
        let mut killed = std::mem::take(&mut *lock(&self.killed));
        killed.sort_unstable();
        killed.dedup();
        killed
    }

    /// Whether the runtime the supervisor was started in has shut down.
    pub(crate) fn runtime_gone(&self) -> bool {
        self.runtime_gone.load(Ordering::Acquire)
    }

    /// The watcher task was dropped: unless the shutdown had finished, its
    /// runtime is gone.
    pub(crate) fn watcher_dropped(&self) {
        if self.result.get().is_none() {
            self.runtime_gone.store(true, Ordering::Release);
        }
    }

    /// A future that completes at the next publication or hand-over; enabled
    /// at once, so nothing between this call and its await is missed.
    pub(crate) fn finished(&self) -> std::pin::Pin<Box<Notified<'_>>> {
        let mut notified = Box::pin(self.finished.notified());
        notified.as_mut().enable();
        notified
    }

    /// The result, once published.
    pub(crate) fn result(&self) -> Option<Result<(), Error>> {
        self.result.get().cloned()
    }

    /// Completes once the result is published: every instance has ended.
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) async fn published(&self) {
        loop {
            let finished = self.finished();
            if self.result.get().is_some() {
                return;
            }
            finished.await;
        }
    }

    /// Takes the driver's seat when it is free.
    pub(crate) fn claim(&self) -> Option<Seat<'_>> {
        // A seat is made only when won: a `Seat` made and dropped by a
        // losing claim would free the winner's seat on its way out.
        (!self.driving.swap(true, Ordering::AcqRel)).then(|| Seat {
            shutdown: self,
            done: false,
        })
    }
}

/// Why a supervisor shut itself down.
#[derive(Clone, Debug)]
pub(crate) enum Cause {
    /// A `critical` service ended: `Some(reason)` when it failed, `None`
    /// when it returned `Ok`.
    Critical {
        service: Arc<str>,
        failure: Option<String>,
    },
    /// Too many restarts within the window.
    Intensity {
        max: u32,
        within: Duration,
        restarted: Vec<(String, u32)>,
    },
}

/// The driver's seat. [`Seat::publish`] ends the shutdown; dropped before
/// that, the seat is freed and the waiters are woken so that one takes over.
pub(crate) struct Seat<'a> {
    shutdown: &'a Shutdown,
    done: bool,
}

impl Seat<'_> {
    /// Publishes the result (the first one stays) and wakes every waiter.
    pub(crate) fn publish(mut self, result: Result<(), Error>) -> Result<(), Error> {
        self.done = true;
        let result = self.shutdown.result.get_or_init(|| result).clone();
        self.shutdown.finished.notify_waiters();
        result
    }
}

impl Drop for Seat<'_> {
    fn drop(&mut self) {
        if !self.done {
            self.shutdown.driving.store(false, Ordering::Release);
            self.shutdown.finished.notify_waiters();
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lost_claim_leaves_the_seat_to_its_holder() {
        let shutdown = Shutdown::new(CancellationToken::new(), Duration::from_secs(1));
        let seat = shutdown.claim().expect("the seat is free");
        assert!(shutdown.claim().is_none(), "taken");
        assert!(shutdown.claim().is_none(), "still taken after a lost claim");
        drop(seat); // a driver dropped half-way frees it
        assert!(shutdown.claim().is_some());
    }
}
