//! systemd's notification protocol (`sd_notify(3)`), spoken from
//! [`Supervisor::run`](crate::Supervisor::run)'s own loop.
//!
//! | message | sent |
//! | --- | --- |
//! | `READY=1` | once, the first time `is_ready()` holds: looked at when `run` starts and at every readiness or status change of a declared service ([`Shared::readiness`]), not on a timer |
//! | `STATUS=…` | the counts (`12 running, 1 restarting, 0 failed`), looked at once a second and sent when they changed |
//! | `STOPPING=1` and `EXTEND_TIMEOUT_USEC=…` | once, when the shutdown begins: the shutdown timeout plus [`STOP_MARGIN`] (at the latest when `run` returns, for a shutdown that had nothing to wait for) |
//! | `WATCHDOG=1` | every half of `WATCHDOG_USEC`, when that is set for this process (`WATCHDOG_PID` unset or ours) |
//!
//! [`notifier`] is a future that `run` polls in its `select!`, not a task of
//! its own: a ping then proves that `run`'s loop still turns, and a
//! supervisor wedged there (its runtime's threads blocked, say) stops
//! pinging, so systemd restarts it. Where `NOTIFY_SOCKET` is unset, or the
//! builder said `systemd(false)`, it is a plain pending future: no timer, no
//! socket, nothing sent.
//!
//! Each message is one datagram through `sd_notify::notify`; a failure to
//! send is logged (once at `warn`, then at `debug`) and otherwise ignored.

use std::convert::Infallible;
use std::pin::pin;
use std::time::Duration;

use sd_notify::NotifyState;
use tokio::time::{Interval, MissedTickBehavior};

use crate::runtime::deps;
use crate::runtime::shared::Shared;
use crate::status::Tally;

/// How often the counts are looked at for `STATUS=`.
const STATUS_EVERY: Duration = Duration::from_secs(1);

/// What `EXTEND_TIMEOUT_USEC` adds to the shutdown timeout: the shutdown
/// returns within its timeout plus a small constant, and the process still
/// has to print its last words and exit.
const STOP_MARGIN: Duration = Duration::from_secs(5);

/// Talks to systemd for one call of `run()`; never completes (`run` drops it
/// when it returns).
pub(crate) async fn notifier(shared: &Shared) -> Infallible {
    match Link::open(shared) {
        Some(link) => link.attend().await,
        None => std::future::pending().await,
    }
}

/// Where the program is, as systemd is told.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Phase {
    /// Not ready yet: `READY=1` not sent.
    Starting,
    /// `READY=1` sent.
    Ready,
    /// `STOPPING=1` sent.
    Stopping,
}

/// The conversation with systemd.
struct Link<'a> {
    shared: &'a Shared,
    /// The interval between two `WATCHDOG=1`, when systemd watches us.
    ping_every: Option<Duration>,
    phase: Phase,
    /// The last `STATUS=` text sent.
    status: String,
    /// Whether a failed send was logged at `warn` already.
    warned: bool,
}

impl<'a> Link<'a> {
    /// `None` when there is nobody to talk to, or we were told not to.
    fn open(shared: &'a Shared) -> Option<Link<'a>> {
        if !shared.config.systemd || std::env::var_os("NOTIFY_SOCKET").is_none() {
            return None;
        }
        Some(Link {
            shared,
            ping_every: sd_notify::watchdog_enabled().and_then(ping_interval),
            phase: Phase::Starting,
            status: String::new(),
            warned: false,
        })
    }

    async fn attend(mut self) -> Infallible {
        let shared = self.shared;
        let mut status_tick = every(STATUS_EVERY);
        let mut ping_tick = self.ping_every.map(every);
        if let Some(every) = self.ping_every {
            tracing::debug!(?every, "systemd watchdog: pinging");
        }
        loop {
            // Enabled before the look, so no change between the two is missed.
            let mut changed = pin!(shared.readiness.notified());
            changed.as_mut().enable();
            if self.phase != Phase::Stopping && shared.is_stopping() {
                self.stopping();
            } else if self.phase == Phase::Starting && deps::all_ready(shared) {
                self.send(&[NotifyState::Ready]);
                self.phase = Phase::Ready;
            }
            tokio::select! {
                () = changed, if self.phase == Phase::Starting => {}
                () = shared.root().cancelled(), if self.phase != Phase::Stopping => {}
                _ = status_tick.tick() => {
                    let text = status_line(self.phase, shared.tally());
                    if text != self.status {
                        self.send(&[NotifyState::Status(&text)]);
                        self.status = text;
                    }
                }
                () = tick(&mut ping_tick) => self.send(&[NotifyState::Watchdog]),
            }
        }
    }

    /// The shutdown has begun: say so, and ask for the time it may take.
    fn stopping(&mut self) {
        // The timeout this shutdown uses: the one a `shutdown(timeout)` call
        // fixed before it cancelled the token, or else the builder's, which
        // the shutdown's driver would fix the same way.
        let timeout = self.shared.shutdown.set_timeout(None);
        self.send(&[
            NotifyState::Stopping,
            NotifyState::ExtendTimeoutUsec(extend_usec(timeout)),
        ]);
        self.phase = Phase::Stopping;
    }

    fn send(&mut self, states: &[NotifyState<'_>]) {
        if let Err(err) = sd_notify::notify(states) {
            if self.warned {
                tracing::debug!("cannot notify systemd: {err}");
            } else {
                self.warned = true;
                tracing::warn!(
                    "cannot notify systemd (further failures are logged at debug): {err}"
                );
            }
        }
    }
}

/// `run` returns, and drops the link, once the shutdown has finished. A
/// shutdown with nothing left to stop finishes within the poll that began
/// it, before the loop could look again: `STOPPING=1` then goes out here.
impl Drop for Link<'_> {
    fn drop(&mut self) {
        if self.phase != Phase::Stopping && self.shared.is_stopping() {
            self.stopping();
        }
    }
}

/// An interval whose first tick is now, and which does not catch up on
/// ticks it missed (a burst of pings would hide the stall that caused it).
fn every(period: Duration) -> Interval {
    let mut interval = tokio::time::interval(period);
    interval.set_missed_tick_behavior(MissedTickBehavior::Delay);
    interval
}

/// The next tick, or never without an interval.
async fn tick(interval: &mut Option<Interval>) {
    match interval {
        Some(interval) => {
            interval.tick().await;
        }
        None => std::future::pending().await,
    }
}

/// Half of systemd's watchdog interval, as `sd_watchdog_enabled(3)`
/// recommends; `None` for zero, which is no watchdog.
fn ping_interval(watchdog: Duration) -> Option<Duration> {
    (!watchdog.is_zero()).then(|| (watchdog / 2).max(Duration::from_millis(1)))
}

/// The `STATUS=` text.
fn status_line(phase: Phase, tally: Tally) -> String {
    match phase {
        Phase::Starting => format!("starting: {tally}"),
        Phase::Ready => tally.to_string(),
        Phase::Stopping => format!("stopping: {tally}"),
    }
}

/// `EXTEND_TIMEOUT_USEC`'s value for a shutdown `timeout`: the timeout and
/// the margin, in microseconds (at most `u32::MAX`, about 71 minutes, what
/// the message can carry).
fn extend_usec(timeout: Duration) -> u32 {
    let usec = timeout.saturating_add(STOP_MARGIN).as_micros();
    u32::try_from(usec).unwrap_or(u32::MAX)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_watchdog_is_pinged_twice_per_interval() {
        assert_eq!(
            ping_interval(Duration::from_millis(200)),
            Some(Duration::from_millis(100))
        );
        assert_eq!(
            ping_interval(Duration::from_secs(30)),
            Some(Duration::from_secs(15))
        );
        assert_eq!(
            ping_interval(Duration::from_micros(1)),
            Some(Duration::from_millis(1))
        );
        assert_eq!(ping_interval(Duration::ZERO), None);
    }

    #[test]
    fn the_stop_extension_covers_the_timeout() {
        assert_eq!(extend_usec(Duration::from_secs(10)), 15_000_000);
        assert_eq!(extend_usec(Duration::ZERO), 5_000_000);
        assert_eq!(extend_usec(Duration::from_secs(24 * 3600)), u32::MAX);
        assert_eq!(extend_usec(Duration::MAX), u32::MAX);
    }

    #[test]
    fn the_status_line_counts_and_says_the_phase() {
        let tally = Tally {
            running: 12,
            restarting: 1,
            ..Tally::default()
        };
        assert_eq!(
            status_line(Phase::Ready, tally),
            "12 running, 1 restarting, 0 failed"
        );
        assert_eq!(
            status_line(Phase::Starting, tally),
            "starting: 12 running, 1 restarting, 0 failed"
        );
        let queued = Tally {
            queued: 3,
            failed: 2,
            ended: 4,
            ..tally
        };
        assert_eq!(
            status_line(Phase::Stopping, queued),
            "stopping: 12 running, 1 restarting, 2 failed, 3 queued"
        );
    }
}
