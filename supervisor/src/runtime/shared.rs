//! The state one supervisor's handle, instances, jobs and shutdown share,
//! split by concern: configuration, the shutdown's state, the table, the
//! active count, and the slots of blocking jobs.
//!
//! # Lock order
//!
//! The table lock, then a row's lock; never the other way round. No lock is
//! held across an `.await` or while user code runs.

use std::pin::pin;
use std::sync::atomic::{AtomicU64, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use tokio::runtime::Handle;
use tokio::sync::{Notify, Semaphore};
use tokio_util::sync::CancellationToken;

use super::row::InstanceId;
use super::shutdown::Shutdown;
use super::table::{RowRef, Table};
use crate::panic::lock;
use crate::status::ServiceSnapshot;

/// How many `spawn_blocking` closures one supervisor runs at once.
pub const MAX_BLOCKING: usize = 8;

/// What the builder decided; fixed for the supervisor's life.
pub(crate) struct Config {
    /// The runtime every task of this supervisor is spawned on.
    pub(crate) runtime: Handle,
    /// Whether `run()` handles SIGINT/SIGTERM.
    pub(crate) handle_signals: bool,
}

impl Config {
    /// Spawns a task of this supervisor on its runtime, named after its
    /// service for tokio-console when built with `--cfg tokio_unstable`.
    pub(crate) fn spawn<F>(&self, name: &str, future: F) -> tokio::task::JoinHandle<F::Output>
    where
        F: std::future::Future + Send + 'static,
        F::Output: Send + 'static,
    {
        #[cfg(tokio_unstable)]
        {
            tokio::task::Builder::new()
                .name(name)
                .spawn_on(future, &self.runtime)
                .expect("spawning a task on a live runtime does not fail")
        }
        #[cfg(not(tokio_unstable))]
        {
            let _ = name;
            self.runtime.spawn(future)
        }
    }
}

/// See the module documentation.
pub(crate) struct Shared {
    pub(crate) config: Config,
    pub(crate) shutdown: Shutdown,
    pub(crate) table: Mutex<Table>,
    pub(crate) active: Active,
    next_id: AtomicU64,
    /// Slots for `spawn_blocking` closures.
    pub(crate) slots: Arc<Semaphore>,
}

impl Shared {
    pub(crate) fn new(
        root: CancellationToken,
        runtime: Handle,
        shutdown_timeout: Duration,
        handle_signals: bool,
    ) -> Arc<Self> {
        Arc::new(Shared {
            config: Config {
                runtime,
                handle_signals,
            },
            shutdown: Shutdown::new(root, shutdown_timeout),
            table: Mutex::new(Table::default()),
            active: Active::new(),
            next_id: AtomicU64::new(1),
            slots: Arc::new(Semaphore::new(MAX_BLOCKING)),
        })
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

    /// A fresh instance id.
    pub(crate) fn next_id(&self) -> InstanceId {
        self.next_id.fetch_add(1, Ordering::Relaxed)
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
