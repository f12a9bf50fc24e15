//! The state one supervisor's handle, instances, jobs and shutdown share,
//! split by concern: configuration, the shutdown's state, the table, the
//! active count, and the slots of blocking jobs.
//!
//! # Lock order
//!
//! The table lock, then a row's lock; never the other way round. No lock is
//! held across an `.await` or while user code runs.

use std::collections::{BTreeMap, VecDeque};
use std::pin::pin;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, OnceLock, Weak};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::{broadcast, Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use super::shutdown::{Cause, Shutdown};
use super::table::{RowRef, Table};
use crate::panic::lock;
use crate::state::States;
use crate::status::{Event, ServiceSnapshot, Status, Tally};

/// How many `spawn_blocking` closures one supervisor runs at once.
pub const MAX_BLOCKING: usize = 8;

/// What the builder decided; fixed for the supervisor's life.
pub(crate) struct Config {
    /// The runtime every task of this supervisor is spawned on: the one
    /// `start()` ran in, or for `Supervisor::new()`, the one its first
    /// spawn runs in.
    pub(crate) runtime: OnceLock<Handle>,
    /// Whether `run()` handles SIGINT/SIGTERM.
    pub(crate) handle_signals: bool,
    /// The values of `State<T>` parameters, by type.
    pub(crate) states: Arc<States>,
    /// `Builder::restart_intensity`: at most this many restarts within
    /// this window.
    pub(crate) intensity: Option<(u32, Duration)>,
    /// Whether `run()` talks to systemd (when `NOTIFY_SOCKET` is set).
    #[cfg_attr(not(all(unix, feature = "systemd")), allow(dead_code))]
    pub(crate) systemd: bool,
    /// The address the health endpoints were bound to by `start()`.
    #[cfg(feature = "http")]
    pub(crate) health: Option<std::net::SocketAddr>,
}

impl Config {
    /// A supervisor on its own, not the program's: no runtime yet, no
    /// state, no signals, no restart limit, nothing sent to systemd (a
    /// library's supervisor does not speak for the process), no health
    /// endpoints.
    pub(crate) fn standalone() -> Config {
        Config {
            runtime: OnceLock::new(),
            handle_signals: false,
            states: Arc::default(),
            intensity: None,
            systemd: false,
            #[cfg(feature = "http")]
            health: None,
        }
    }
}

/// Spawns a task on `runtime`, named after its service for tokio-console
/// when built with `--cfg tokio_unstable`.
pub(crate) fn spawn_named<F>(
    runtime: &Handle,
    name: &str,
    future: F,
) -> tokio::task::JoinHandle<F::Output>
where
    F: std::future::Future + Send + 'static,
    F::Output: Send + 'static,
{
    #[cfg(tokio_unstable)]
    {
        tokio::task::Builder::new()
            .name(name)
            .spawn_on(future, runtime)
            .expect("spawning a task on a live runtime does not fail")
    }
    #[cfg(not(tokio_unstable))]
    {
        let _ = name;
        runtime.spawn(future)
    }
}

/// How many events a subscriber may fall behind before it gets `Lagged`.
const EVENT_BUFFER: usize = 1024;

/// See the module documentation.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) shutdown: Shutdown,
    pub(crate) table: Mutex<Table>,
    pub(crate) active: Active,
    /// The declared services and their dependencies, set once by `start()`.
    pub(crate) declared: OnceLock<Declared>,
    /// Notified when a declared service's readiness or status changes.
    pub(crate) readiness: Notify,
    /// Every status or readiness change, for `Supervisor::subscribe`:
    /// made by the first subscriber (its buffer is some 90 KB), so that a
    /// supervisor nobody subscribes to pays one atomic load per change.
    events: OnceLock<broadcast::Sender<Event>>,
    /// The restarts within the intensity window (only with a limit).
    restarts: Mutex<VecDeque<(tokio::time::Instant, Arc<str>)>>,
    /// Slots for `spawn_blocking` closures.
    pub(crate) slots: Arc<Semaphore>,
    /// Set when some instance ends `Failed`: until then the shutdown's
    /// result has no failed row to look for, and does not walk the rows.
    failed: AtomicBool,
}

impl Shared {
    pub(crate) fn new(
        config: Config,
        root: CancellationToken,
        shutdown_timeout: Duration,
    ) -> Arc<Self> {
        Arc::new_cyclic(|this: &Weak<Shared>| Shared {
            config,
            shutdown: Shutdown::new(root, shutdown_timeout),
            table: Mutex::new(Table::new(this.clone())),
            active: Active::new(),
            declared: OnceLock::new(),
            readiness: Notify::new(),
            events: OnceLock::new(),
            restarts: Mutex::new(VecDeque::new()),
            slots: Arc::new(Semaphore::new(MAX_BLOCKING)),
            failed: AtomicBool::new(false),
        })
    }

    /// Some instance ended `Failed` (before its row shows it).
    pub(crate) fn note_failed(&self) {
        self.failed.store(true, Ordering::Release);
    }

    /// Whether some row may show a failure: `false` until an instance has
    /// ended `Failed`.
    pub(crate) fn may_show_failures(&self) -> bool {
        self.failed.load(Ordering::Acquire)
    }

    /// The supervisor `row` belongs to, while it lives.
    pub(crate) fn of(row: &RowRef) -> Option<Arc<Shared>> {
        row.owner()?.downcast::<Shared>().ok()
    }

    /// A supervisor's state for the unit tests of the runtime: the current
    /// runtime, a 1 s timeout, no state, no signals.
    #[cfg(test)]
    pub(crate) fn for_tests() -> Arc<Self> {
        let config = Config::standalone();
        let _ = config.runtime.set(Handle::current());
        Shared::new(config, CancellationToken::new(), Duration::from_secs(1))
    }

    /// The supervisor's token.
    pub(crate) fn root(&self) -> &CancellationToken {
        &self.shutdown.root
    }

    /// Whether shutdown has been requested (through any token).
    pub(crate) fn is_stopping(&self) -> bool {
        self.shutdown.is_stopping()
    }

    /// Marks the shutdown as begun, under the table lock: a registration
    /// (which checks the flag under the same lock) either sees the flag or is
    /// counted active before the shutdown looks.
    pub(crate) fn mark_stopping(&self) {
        let _table = lock(&self.table);
        self.shutdown.flag();
    }

    /// Marks the shutdown as begun, then cancels the supervisor's token.
    pub(crate) fn stop(&self) {
        self.mark_stopping();
        self.shutdown.root.cancel();
    }

    /// The runtime, once known.
    pub(crate) fn runtime(&self) -> Option<&Handle> {
        self.config.runtime.get()
    }

    /// Tells the waiters on declared services' readiness to look again.
    pub(crate) fn readiness_changed(&self) {
        if self.declared.get().is_some() {
            self.readiness.notify_waiters();
        }
    }

    /// A receiver of every change from now on.
    pub(crate) fn subscribe(&self) -> broadcast::Receiver<Event> {
        self.events
            .get_or_init(|| broadcast::channel(EVENT_BUFFER).0)
            .subscribe()
    }

    /// Whether anyone ever subscribed (one atomic load).
    pub(crate) fn has_events(&self) -> bool {
        self.events.get().is_some()
    }

    /// Reports a row's new state to the subscribers; the caller holds the
    /// row's lock, so the events of one row go out in order. Costs one
    /// atomic load when nobody ever subscribed.
    pub(crate) fn emit(&self, name: &Arc<str>, status: &Status, ready: bool) {
        let Some(events) = self.events.get() else {
            return;
        };
        // The receiver count takes the channel's lock: only once someone
        // subscribed.
        if events.receiver_count() == 0 {
            return;
        }
        let _ = events.send(Event {
            name: Arc::clone(name),
            status: status.clone(),
            ready,
            at: Instant::now(),
        });
    }

    /// A restart of `name` starts. With a restart intensity set, one too
    /// many within the window begins the shutdown.
    pub(crate) fn count_restart(&self, name: &Arc<str>) {
        let Some((max, within)) = self.config.intensity else {
            return;
        };
        let now = tokio::time::Instant::now();
        let exceeded = {
            let mut window = lock(&self.restarts);
            window.push_back((now, Arc::clone(name)));
            while window
                .front()
                .is_some_and(|(at, _)| now.duration_since(*at) >= within)
            {
                window.pop_front();
            }
            (window.len() > max as usize).then(|| tally(window.iter().map(|(_, name)| name)))
        };
        if let Some(restarted) = exceeded {
            tracing::error!(
                max,
                ?within,
                "too many restarts within the window: shutting down"
            );
            self.shutdown.set_cause(Cause::Intensity {
                max,
                within,
                restarted,
            });
            self.stop();
        }
    }

    /// Keeps at most `limit` finished rows of tasks and jobs (see
    /// [`table`](super::table)).
    pub(crate) fn retain_finished(&self, limit: usize) {
        let released = lock(&self.table).set_limit(limit);
        drop(released);
    }

    /// The row of `name`, if it has one.
    pub(crate) fn row(&self, name: &str) -> Option<RowRef> {
        lock(&self.table).get(name)
    }

    pub(crate) fn snapshot(&self) -> Vec<ServiceSnapshot> {
        let now = Instant::now();
        let table = lock(&self.table);
        let mut rows = Vec::with_capacity(table.len());
        rows.extend(table.rows().map(|row| row.snapshot(now)));
        rows
    }

    /// The rows of the declared services, in order of name (none for a
    /// supervisor made by `Supervisor::new()`).
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn declared_snapshot(&self) -> Vec<ServiceSnapshot> {
        let now = Instant::now();
        self.declared.get().map_or_else(Vec::new, |declared| {
            declared
                .nodes
                .iter()
                .map(|node| node.row.snapshot(now))
                .collect()
        })
    }

    /// How many rows are in each status; copies nothing out of the rows.
    #[cfg_attr(not(all(unix, feature = "systemd")), allow(dead_code))]
    pub(crate) fn tally(&self) -> Tally {
        let table = lock(&self.table);
        let mut tally = Tally::default();
        for row in table.rows() {
            // The phase's status without a failure's text: only counted.
            tally.add(&lock(&row.state).phase.status(String::new));
        }
        tally
    }
}

/// The declared services of one supervisor, in order of name.
#[derive(Default)]
pub(crate) struct Declared {
    pub(crate) nodes: Vec<Node>,
}

/// One declared service.
pub(crate) struct Node {
    pub(crate) row: RowRef,
    /// The services it starts after (positions in [`Declared::nodes`]).
    pub(crate) after: Vec<usize>,
    /// Every service that depends on it, directly or not.
    pub(crate) dependants: Vec<usize>,
    /// For a service others depend on: cancelled at shutdown once all of
    /// them have ended (its `Context` watches this, not the supervisor's
    /// token).
    pub(crate) stop: Option<CancellationToken>,
    /// `every = "..."`: the delay between two calls.
    pub(crate) every: Option<Duration>,
}

/// How many times each name occurs, most first (then by name).
fn tally<'a>(names: impl Iterator<Item = &'a Arc<str>>) -> Vec<(String, u32)> {
    let mut counts: BTreeMap<&str, u32> = BTreeMap::new();
    for name in names {
        *counts.entry(name).or_default() += 1;
    }
    let mut counts: Vec<(String, u32)> = counts
        .into_iter()
        .map(|(name, n)| (name.to_string(), n))
        .collect();
    counts.sort_by(|a, b| b.1.cmp(&a.1).then_with(|| a.0.cmp(&b.0)));
    counts
}

/// How many instances are Queued, Running or Restarting: an atomic count
/// plus a `Notify` for those who wait for it to reach zero, mirrored in the
/// `supervisor.active` gauge.
///
/// Only [`lease`](super::lease) moves it, once up and once down per instance.
pub(crate) struct Active {
    count: AtomicUsize,
    idle: Notify,
    gauge: metrics::Gauge,
}

impl Active {
    fn new() -> Self {
        Active {
            count: AtomicUsize::new(0),
            idle: Notify::new(),
            gauge: metrics::gauge!("supervisor.active"),
        }
    }

    pub(crate) fn get(&self) -> usize {
        self.count.load(Ordering::Acquire)
    }

    pub(crate) fn acquire(&self) {
        self.count.fetch_add(1, Ordering::AcqRel);
        self.gauge.increment(1.0);
    }

    pub(crate) fn release(&self) {
        self.gauge.decrement(1.0);
        if self.count.fetch_sub(1, Ordering::AcqRel) == 1 {
            self.idle.notify_waiters();
        }
    }

    /// Completes when the count is zero.
    pub(crate) async fn idle(&self) {
        loop {
            let mut notified = pin!(self.idle.notified());
            notified.as_mut().enable();
            if self.get() == 0 {
                return;
            }
            notified.await;
        }
    }
}
