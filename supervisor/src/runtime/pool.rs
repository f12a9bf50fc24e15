//! A small pool of our own worker threads for `spawn_blocking` closures.
//!
//! Threads are created on demand, reused while work keeps coming, and leave
//! after a while idle. They are never joined: a closure that never returns
//! keeps its thread, and nothing else (not the runtime's drop, not the
//! process exit) waits for it. How many closures run at once is limited by
//! each supervisor's semaphore, not here.

use std::collections::VecDeque;
use std::sync::{Condvar, Mutex, OnceLock};
use std::time::Duration;

use crate::panic::lock;

type Work = Box<dyn FnOnce() + Send>;

/// How long a worker waits for new work before it leaves.
const IDLE_TIMEOUT: Duration = Duration::from_secs(10);

struct Pool {
    state: Mutex<State>,
    ready: Condvar,
}

#[derive(Default)]
struct State {
    queue: VecDeque<Work>,
    idle: usize,
}

fn pool() -> &'static Pool {
    static POOL: OnceLock<Pool> = OnceLock::new();
    POOL.get_or_init(|| Pool {
        state: Mutex::new(State::default()),
        ready: Condvar::new(),
    })
}

/// Runs `work` on an idle worker, or on a new one.
///
/// When no thread can be created, `work` is dropped unrun, which its caller
/// sees as a closed channel.
pub(crate) fn execute(work: Work) {
    let pool = pool();
    let mut state = lock(&pool.state);
    state.queue.push_back(work);
    // Each idle worker takes one item; only start a thread when the queue
    // holds more than the idle workers will take.
    if state.idle >= state.queue.len() {
        drop(state);
        pool.ready.notify_one();
        return;
    }
    drop(state);
    let spawned = std::thread::Builder::new()
        .name("supervisor-blocking".to_string())
        .spawn(worker);
    if let Err(err) = spawned {
        tracing::error!("cannot start a blocking worker thread: {err}");
        // Drop the newest item so its job sees a closed channel and fails,
        // rather than waiting for a worker that will not come.
        let _ = lock(&pool.state).queue.pop_back();
    }
}

fn worker() {
    let pool = pool();
    loop {
        let mut state = lock(&pool.state);
        let work = loop {
            if let Some(work) = state.queue.pop_front() {
                break work;
            }
            state.idle += 1;
            let (next, timeout) = pool
                .ready
                .wait_timeout(state, IDLE_TIMEOUT)
                .unwrap_or_else(|poisoned| poisoned.into_inner());
            state = next;
            state.idle -= 1;
            if timeout.timed_out() && state.queue.is_empty() {
                return;
            }
        };
        drop(state);
        // Each item catches its own panics and reports through its channel.
        work();
    }
}
