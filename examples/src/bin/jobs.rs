//! The imperative API: tasks and jobs started at run time, without
//! `#[supervised]`, under the same supervision (status table, restarts,
//! shutdown).
//!
//! ```text
//! cargo run -p examples --bin jobs
//! cargo run --release -p examples --bin jobs -- --for 3s
//! ```
//!
//! 1. `spawn_fn` a long-running task from a closure; `spawn` another from a
//!    `TaskDescriptor`, then replace it by spawning the same name;
//! 2. `spawn_oneshot` an async job with a typed result;
//! 3. `spawn_blocking` 20 CPU-bound jobs: at most 8 run at once, the others
//!    wait `queued`; their results are joined;
//! 4. shut down and print the final table.

use std::time::Duration;

use supervisor::{Context, RestartPolicy, Status, TaskDescriptor};

const USAGE: &str = "\
usage: jobs [--for DURATION]

  --for DURATION   how long the long-running tasks keep going once the jobs
                   are done, before the shutdown (default 1s)";

/// A long-running task named `worker`, as a value a function can return.
/// `TaskDescriptor::new` takes a closure that the supervisor calls once per
/// (re)start, with that run's `Context`.
fn worker(version: &'static str) -> TaskDescriptor {
    TaskDescriptor::new(
        "worker",
        RestartPolicy::Never,
        move |ctx: Context| async move {
            tracing::info!(version, "worker up");
            ctx.cancelled().await;
            tracing::info!(version, "worker stopping");
            Ok::<(), std::convert::Infallible>(())
        },
    )
}

/// Counts the primes in `range` by trial division: slow on purpose.
fn count_primes(range: std::ops::Range<u64>) -> usize {
    let is_prime = |n: u64| n >= 2 && (2..).take_while(|d| d * d <= n).all(|d| n % d != 0);
    range.filter(|&n| is_prime(n)).count()
}

/// What the `spawn_oneshot` job returns: any `Send + 'static` type works.
struct Config {
    region: String,
    replicas: u32,
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    examples::init_logging();

    let run_for = examples::run_for_option(USAGE).unwrap_or(Duration::from_secs(1));

    // This binary declares no `#[supervised]` service, so this starts an
    // empty supervisor; everything below is added at run time.
    let sup = supervisor::Builder::new().start()?;

    // 1. Long-running tasks. Restart policies mean what they mean for
    //    declared services: `poller` fails on its first run and comes back.
    //    `spawn_fn` calls the closure once per run and keeps the future it
    //    returns inside the task (no box per run).
    let policy = RestartPolicy::Backoff {
        max: 3,
        base_delay: Duration::from_millis(300),
    };
    sup.spawn_fn("poller", policy, |ctx: Context| async move {
        if ctx.attempt() == 0 {
            anyhow::bail!("upstream not ready yet");
        }
        ctx.cancelled().await;
        Ok(())
    })?;
    let first = sup.spawn(worker("v1"))?;
    tokio::time::sleep(Duration::from_secs(1)).await;
    println!("before replacing `worker`:\n{sup}");

    // Spawning a name that is running replaces it: v1 is aborted (which is
    // not an error) and v2 takes over the row, with a fresh uptime.
    sup.spawn(worker("v2"))?;
    println!("after replacing `worker`:\n{sup}");
    // A handle only ever aborts its own instance, never a successor.
    assert!(!first.abort(), "v1 has already been replaced");

    // 2. An async job with a typed result.
    let config = sup.spawn_oneshot("load-config", |ctx| async move {
        tracing::info!(job = ctx.name(), "fetching the configuration");
        tokio::time::sleep(Duration::from_millis(300)).await;
        Config {
            region: "eu-west".to_string(),
            replicas: 3,
        }
    });
    let config = config.join().await?;
    println!(
        "load-config returned: region {}, {} replicas\n",
        config.region, config.replicas
    );

    // 3. A pool of CPU-bound jobs: primes below 1,000,000, in 20 chunks. Each
    //    gets its own name, hence its own row in the table.
    const CHUNK: u64 = 50_000;
    let jobs: Vec<_> = (0..20u64)
        .map(|i| {
            sup.spawn_blocking(format!("primes-{i:02}"), move || {
                count_primes(i * CHUNK..(i + 1) * CHUNK)
            })
        })
        .collect();

    // A moment later, 8 jobs run and the rest wait for a slot.
    tokio::time::sleep(Duration::from_millis(20)).await;
    let snapshot = sup.snapshot();
    let pool: Vec<_> = snapshot
        .iter()
        .filter(|row| row.name.starts_with("primes-"))
        .collect();
    let count = |wanted: Status| pool.iter().filter(|row| row.status == wanted).count();
    println!(
        "while the pool works ({} running, {} queued, at most {} at once):\n{sup}",
        count(Status::Running),
        count(Status::Queued),
        supervisor::MAX_BLOCKING,
    );

    let mut primes = 0;
    for job in jobs {
        // `join` gives the closure's value, or why there is none (a panic,
        // an abort).
        primes += job.join().await?;
    }
    println!("primes below {}: {primes}\n", 20 * CHUNK);

    // 4. Let the long-running tasks run a little more, then shut down: every
    //    `Context` is cancelled and each task returns.
    tokio::time::sleep(run_for).await;
    let result = sup.shutdown(Duration::from_secs(5)).await;
    println!("final status:\n{sup}");
    Ok(result?)
}
