//! The job soak (`soak --jobs-unique`): a program that runs jobs under ever
//! new names, as a server that names each request's job after the request
//! would, a million of them by default. Rows of finished jobs must not pile
//! up: the table stays at the retention bound and resident memory stays flat.
//!
//! Jobs run a window at a time: a few hundred in flight, each joined in the
//! order it was spawned and its value checked. A mix of kinds: mostly
//! `spawn_oneshot`, every tenth a `spawn_blocking` closure on the
//! supervisor's threads, and now and then one that panics (its failure is its
//! handle's: the shutdown at the end must still return `Ok`).

use std::collections::VecDeque;
use std::process::ExitCode;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};

use supervisor::{BlockingError, BlockingHandle, Supervisor};

use crate::stats::{bytes, rss_bytes, thousands};

/// Finished rows the supervisor keeps (its default).
const RETAIN: usize = 1_000;
/// Jobs in flight at once.
const WINDOW: usize = 256;
/// Every how many jobs one panics.
const PANIC_EVERY: u64 = 997;
/// Every how many jobs one is a blocking closure.
const BLOCKING_EVERY: u64 = 10;
/// Resident memory may grow this much from the end of the warm-up to the
/// end (allocator noise), plus a twentieth of where it stood.
const MEMORY_SLACK: u64 = 4 << 20;
/// How long the final shutdown may take.
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(5);

/// Panics the jobs threw on purpose, as the panic hook saw them.
static INTENDED_PANICS: AtomicU64 = AtomicU64::new(0);
/// Panics the hook saw that no job threw on purpose.
static OTHER_PANICS: AtomicU64 = AtomicU64::new(0);

/// What one job is meant to return, or the panic it is meant to throw.
fn expected(i: u64) -> Result<u64, String> {
    if i % PANIC_EVERY == PANIC_EVERY - 1 {
        Err(format!("job soak panic {i}"))
    } else {
        Ok(i.wrapping_mul(3))
    }
}

fn spawn(sup: &Supervisor, i: u64) -> BlockingHandle<u64> {
    let name = format!("job-{i}");
    let body = move || match expected(i) {
        Ok(value) => value,
        Err(message) => std::panic::panic_any(message),
    };
    if i % BLOCKING_EVERY == 0 {
        sup.spawn_blocking(name, body)
    } else {
        sup.spawn_oneshot(name, move |_ctx| async move {
            tokio::task::yield_now().await;
            body()
        })
    }
}

/// A memory reading, with how many jobs had finished then.
struct Reading {
    jobs: u64,
    rss: u64,
}

pub(crate) fn run(jobs: u64) -> ExitCode {
    std::panic::set_hook(Box::new(|info| {
        if crate::stats::panic_text(info).starts_with("job soak panic ") {
            INTENDED_PANICS.fetch_add(1, Ordering::Relaxed);
        } else {
            OTHER_PANICS.fetch_add(1, Ordering::Relaxed);
            eprintln!("unexpected panic: {info}");
        }
    }));
    let rt = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a tokio runtime can be built");
    if rt.block_on(soak(jobs)) {
        ExitCode::SUCCESS
    } else {
        ExitCode::FAILURE
    }
}

async fn soak(jobs: u64) -> bool {
    let sup = supervisor::Builder::new()
        .only(Vec::<String>::new())
        .handle_signals(false)
        .retain_finished(RETAIN)
        .start()
        .expect("a supervisor starts inside a runtime");
    let mut violations: Vec<String> = Vec::new();
    let mut violation = |text: String| {
        if violations.len() < 100 {
            violations.push(text);
        }
    };
    let warmup = (jobs / 10).max(1);
    let checkpoints = [warmup, jobs / 2, jobs];
    let mut readings: Vec<Reading> = Vec::new();
    let mut max_rows = 0usize;
    let mut panicked = 0u64;
    let began = Instant::now();
    let mut in_flight: VecDeque<(u64, BlockingHandle<u64>)> = VecDeque::with_capacity(WINDOW);
    let mut next = 0u64;
    let mut done = 0u64;
    while done < jobs {
        while next < jobs && in_flight.len() < WINDOW {
            in_flight.push_back((next, spawn(&sup, next)));
            next += 1;
        }
        let Some((i, handle)) = in_flight.pop_front() else {
            break;
        };
        let got = handle.join().await;
        let want = expected(i).map_err(|message| BlockingError::Panicked { message });
        if got.is_err() {
            panicked += 1;
        }
        if got != want {
            violation(format!("job-{i} returned {got:?}, expected {want:?}"));
        }
        done += 1;
        if done % 10_000 == 0 || checkpoints.contains(&done) {
            let rows = sup.snapshot().len();
            max_rows = max_rows.max(rows);
            // The finished rows kept, plus the jobs still running.
            if rows > RETAIN + WINDOW {
                violation(format!(
                    "{rows} rows after {done} jobs, above {RETAIN} finished + {WINDOW} in flight"
                ));
            }
        }
        if checkpoints.contains(&done) {
            let rss = rss_bytes().unwrap_or(0);
            eprintln!(
                "  {:>5.1} s: {} jobs done, {} rows, RSS {}",
                began.elapsed().as_secs_f64(),
                thousands(done),
                thousands(sup.snapshot().len() as u64),
                bytes(rss as f64)
            );
            readings.push(Reading { jobs: done, rss });
        }
    }
    let ran_for = began.elapsed();

    let stop_began = Instant::now();
    let result = sup.shutdown(SHUTDOWN_TIMEOUT).await;
    let stop_took = stop_began.elapsed();
    if let Err(err) = &result {
        violation(format!(
            "shutdown returned Err although every failure was a job's: {err}"
        ));
    }
    let final_rows = sup.snapshot().len();
    if final_rows > RETAIN {
        violation(format!("{final_rows} rows at the end, above {RETAIN}"));
    }
    if sup.active_count() != 0 {
        violation(format!(
            "{} still active after shutdown",
            sup.active_count()
        ));
    }
    let intended = INTENDED_PANICS.load(Ordering::Relaxed);
    if intended != panicked {
        violation(format!(
            "{panicked} jobs reported a panic, the hook saw {intended}"
        ));
    }
    let other = OTHER_PANICS.load(Ordering::Relaxed);
    if other > 0 {
        violation(format!("{other} unexpected panic(s)"));
    }
    let (start, end) = match (readings.first(), readings.last()) {
        (Some(start), Some(end)) => (start.rss, end.rss),
        _ => (0, 0),
    };
    let allowed = start / 20 + MEMORY_SLACK;
    if end > start + allowed {
        violation(format!(
            "resident memory grew from {} to {} (more than {} allowed)",
            bytes(start as f64),
            bytes(end as f64),
            bytes(allowed as f64)
        ));
    }

    println!(
        "job soak: {} jobs under unique names in {:.1} s ({} per second), 2 worker threads, {} in flight, retain_finished({})",
        thousands(jobs),
        ran_for.as_secs_f64(),
        thousands((jobs as f64 / ran_for.as_secs_f64()) as u64),
        WINDOW,
        thousands(RETAIN as u64)
    );
    println!(
        "  kinds: {} blocking closures, {} async jobs; {} panicked (each reported by its handle)",
        thousands(jobs.div_ceil(BLOCKING_EVERY)),
        thousands(jobs - jobs.div_ceil(BLOCKING_EVERY)),
        thousands(panicked)
    );
    let memory: Vec<String> = readings
        .iter()
        .map(|r| format!("{} after {} jobs", bytes(r.rss as f64), thousands(r.jobs)))
        .collect();
    println!("  memory: {}", memory.join(", "));
    println!(
        "  rows: at most {} while running, {} at the end",
        thousands(max_rows as u64),
        thousands(final_rows as u64)
    );
    println!(
        "  shutdown: {} ms: {}",
        stop_took.as_millis(),
        if result.is_ok() { "Ok" } else { "Err" }
    );
    if violations.is_empty() {
        println!("  checks: every value and panic as expected; rows within the bound; shutdown Ok; memory flat: OK");
        true
    } else {
        for v in violations.iter().take(20) {
            println!("  VIOLATION: {v}");
        }
        if violations.len() > 20 {
            println!("  ... and {} more", violations.len() - 20);
        }
        false
    }
}
