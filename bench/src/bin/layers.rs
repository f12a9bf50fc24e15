//! `cargo run --release -p bench --bin layers`: what dependencies cost. 1,000 declared services in 10
//! layers (100 chains of 10, each service `after` the one below it) against
//! 1,000 declared services without `after`, started and shut down by the
//! same supervisor code; per service, medians of the repetitions.
//!
//! A binary of its own: its 2,000 declared services are in this binary's
//! registry only, so the main benchmark's supervisors (which check the whole
//! registry for duplicate names at start) do not carry them.

use std::process::ExitCode;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, Instant};

use supervisor::Builder;
use tokio::sync::Notify;

include!(concat!(env!("OUT_DIR"), "/layered.rs"));

/// Services of the top layer (or any flat service) that have started.
static ARRIVED: AtomicUsize = AtomicUsize::new(0);
/// Notified when the last expected service has started.
static ALL_THERE: Notify = Notify::const_new();
/// How many arrivals complete a start.
static EXPECTED: AtomicUsize = AtomicUsize::new(usize::MAX);
/// Which layer counts as arriving (the top of the chains, or 0 when flat).
static COUNTED_LAYER: AtomicUsize = AtomicUsize::new(0);

fn arrived(layer: usize) {
    if layer == COUNTED_LAYER.load(Ordering::Acquire)
        && ARRIVED.fetch_add(1, Ordering::AcqRel) + 1 == EXPECTED.load(Ordering::Acquire)
    {
        ALL_THERE.notify_one();
    }
}

const USAGE: &str = "usage: layers [--reps R]   (R repetitions, default 7)";

/// Options: how many repetitions.
struct Options {
    reps: usize,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut options = Options { reps: 7 };
        let mut args = args.iter();
        while let Some(flag) = args.next() {
            match flag.as_str() {
                "--reps" => {
                    options.reps = args
                        .next()
                        .and_then(|value| value.parse().ok())
                        .ok_or("`--reps` takes a number")?;
                }
                "-h" | "--help" => return Err(USAGE.to_string()),
                other => return Err(format!("unknown flag `{other}`\n{USAGE}")),
            }
        }
        Ok(options)
    }
}

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    match Options::parse(&args) {
        Ok(options) => run(options),
        Err(message) => {
            eprintln!("{message}");
            ExitCode::from(2)
        }
    }
}

/// One start and shutdown: nanoseconds per service for each.
async fn once(layered: bool) -> (f64, f64) {
    let n = LAYERS * WIDTH;
    let names: Vec<String> = if layered {
        (0..LAYERS)
            .flat_map(|layer| (0..WIDTH).map(move |column| format!("chain-{layer}-{column}")))
            .collect()
    } else {
        (0..n).map(|index| format!("flat-{index}")).collect()
    };
    ARRIVED.store(0, Ordering::Release);
    COUNTED_LAYER.store(if layered { LAYERS - 1 } else { 0 }, Ordering::Release);
    EXPECTED.store(if layered { WIDTH } else { n }, Ordering::Release);
    let started = Instant::now();
    let sup = Builder::new()
        .only(&names)
        .handle_signals(false)
        .start()
        .expect("the layered services start");
    ALL_THERE.notified().await;
    let start = started.elapsed();
    let stopping = Instant::now();
    sup.shutdown(Duration::from_secs(30))
        .await
        .expect("a clean shutdown");
    let shutdown = stopping.elapsed();
    (
        start.as_nanos() as f64 / n as f64,
        shutdown.as_nanos() as f64 / n as f64,
    )
}

fn median(mut values: Vec<f64>) -> f64 {
    values.sort_by(f64::total_cmp);
    values[values.len() / 2]
}

fn run(options: Options) -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread()
        .worker_threads(2)
        .enable_all()
        .build()
        .expect("a runtime");
    let mut flat = (Vec::new(), Vec::new());
    let mut layered = (Vec::new(), Vec::new());
    runtime.block_on(async {
        for _ in 0..options.reps.max(1) {
            let (start, stop) = once(false).await;
            flat.0.push(start);
            flat.1.push(stop);
            let (start, stop) = once(true).await;
            layered.0.push(start);
            layered.1.push(stop);
        }
    });
    let n = LAYERS * WIDTH;
    println!(
        "cargo run --release -p bench --bin layers · {n} declared services · median of {} rep(s), arms interleaved\n",
        options.reps.max(1)
    );
    println!("| services | start | shutdown |");
    println!("| --- | ---: | ---: |");
    println!(
        "| {n} without `after` | {:.0} ns/svc | {:.0} ns/svc |",
        median(flat.0),
        median(flat.1)
    );
    println!(
        "| {n} in {LAYERS} layers ({WIDTH} chains of {LAYERS}) | {:.0} ns/svc | {:.0} ns/svc |",
        median(layered.0),
        median(layered.1)
    );
    ExitCode::SUCCESS
}
