//! Benchmarks of the `supervisor` crate against hand-written tokio, and a
//! soak test.
//!
//! ```text
//! cargo run --release -p bench -- [--services 100000] [--reps 7] [--json PATH]
//! cargo run --release -p bench -- --smoke              # CI: small and quick
//! cargo run --release -p bench -- soak --services 10000 --for 30s
//! cargo run --release -p bench -- soak --jobs-unique     # a million jobs, flat memory
//! ```
//!
//! Every measurement runs in a child process of its own (this binary again,
//! with the hidden `child` subcommand), so that one scenario's memory never
//! shows in another's figures. The arms alternate (ours, raw, bare,
//! bare-sized, ours, raw ...) and the median of the repetitions is reported. `bare` is
//! the floor, `tokio::spawn` on one shared token, and runs only in the
//! scenarios that scale with N (start, memory, shutdown). `bare-sized` runs
//! where bare does: bare's task with its future padded to the size of ours',
//! so that its tokio task cell is as large as ours'; it has a small table of
//! its own at the largest N, and the allocation probe checks the two cells.

mod scenarios;
mod soak;
mod soak_jobs;
mod stats;

use std::collections::BTreeMap;
use std::path::PathBuf;
use std::process::{Command, ExitCode, Stdio};
use std::time::Instant;

use serde::Serialize;

use crate::scenarios::{Arm, Measurement, Scenario, Sizes};
use crate::stats::{bytes, median, nanos, thousands};

#[global_allocator]
static ALLOC: stats::CountingAlloc = stats::CountingAlloc;

const USAGE: &str = "\
usage:
  bench [--services MAX] [--reps R] [--json PATH] [--only a,b,...]
        [--restarts K] [--jobs K] [--smoke]
      Runs every scenario for the supervisor (ours) and for raw tokio (raw) at
      1,000, 10,000 and MAX services (default 100000), R repetitions each
      (default 7), and prints the medians and the ratios ours/raw. start,
      memory and shutdown also run bare (tokio::spawn on one shared token,
      no restarts), with the ratio ours/bare: their targets are against
      bare at MAX; the restarts' against raw's respawn loop (p50). They
      also run bare-sized (bare, its task future padded to the size of
      ours'), reported in a table of its own at MAX.
      --smoke is `--services 2000 --reps 1`. --restarts (restart latency)
      defaults to MAX clamped to 1,000..=10,000; --jobs (blocking) to 10,000.
      Scenarios: start, memory, shutdown, snapshot, restart-panic,
      restart-err, blocking, allocs.
  bench soak [--services N] [--for DURATION] [--seed S]
      N imperative services (default 10000) that panic, fail, return or hang
      at random for DURATION (default 30s) while tasks are replaced and
      aborted; checks the bookkeeping and the memory, exits 1 on a violation.
  (dependencies: `cargo run --release -p bench --bin layers`)
  bench soak --jobs-unique [--jobs N]
      N jobs (default 1000000), each under a name of its own, a few hundred
      in flight; a tenth are blocking closures, some panic. Prints RSS after
      the warm-up (a tenth), half-way and at the end, and exits 1 when memory
      grew beyond a small bound, rows exceed the retention bound, a value is
      wrong, or the shutdown returns Err.";

fn main() -> ExitCode {
    let args: Vec<String> = std::env::args().skip(1).collect();
    let result = match args.first().map(String::as_str) {
        Some("child") => child(&args[1..]),
        Some("soak") if args[1..].iter().any(|a| a == "-h" || a == "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        Some("soak") => soak::Options::parse(&args[1..]).map(soak::run),
        Some("-h" | "--help") => {
            println!("{USAGE}");
            return ExitCode::SUCCESS;
        }
        _ => Options::parse(&args).map(bench),
    };
    match result {
        Ok(code) => code,
        Err(message) => {
            eprintln!("bench: {message}\n\n{USAGE}");
            ExitCode::from(2)
        }
    }
}

/// Reads `--flag VALUE` pairs; every flag must be known.
pub(crate) struct Flags<'a> {
    args: &'a [String],
    pos: usize,
}

impl<'a> Flags<'a> {
    pub(crate) fn new(args: &'a [String]) -> Self {
        Flags { args, pos: 0 }
    }

    /// The next flag, or `None` at the end.
    pub(crate) fn next_flag(&mut self) -> Option<&'a str> {
        let flag = self.args.get(self.pos)?;
        self.pos += 1;
        Some(flag)
    }

    /// The value after the flag just read.
    pub(crate) fn value<T: std::str::FromStr>(&mut self, flag: &str) -> Result<T, String> {
        let raw = self
            .args
            .get(self.pos)
            .ok_or_else(|| format!("{flag} needs a value"))?;
        self.pos += 1;
        raw.replace('_', "")
            .parse()
            .map_err(|_| format!("{flag}: cannot read `{raw}`"))
    }
}

// ---------------------------------------------------------------------------
// The child: one scenario, one arm, one JSON line.

fn child(args: &[String]) -> Result<ExitCode, String> {
    let mut scenario = None;
    let mut arm = None;
    let mut n = 1000usize;
    let mut sizes = Sizes {
        restarts: scenarios::DEFAULT_RESTARTS,
        jobs: scenarios::DEFAULT_JOBS,
    };
    let mut flags = Flags::new(args);
    while let Some(flag) = flags.next_flag() {
        match flag {
            "--scenario" => {
                let name: String = flags.value(flag)?;
                scenario =
                    Some(Scenario::parse(&name).ok_or(format!("unknown scenario `{name}`"))?);
            }
            "--arm" => {
                let name: String = flags.value(flag)?;
                arm = Some(Arm::parse(&name).ok_or(format!("unknown arm `{name}`"))?);
            }
            "--n" => n = flags.value(flag)?,
            "--restarts" => sizes.restarts = flags.value(flag)?,
            "--jobs" => sizes.jobs = flags.value(flag)?,
            other => return Err(format!("child: unknown flag `{other}`")),
        }
    }
    let scenario = scenario.ok_or("child needs --scenario")?;
    let arm = arm.ok_or("child needs --arm")?;
    if !scenario.has_arm(arm) {
        return Err(format!("{} has no {arm} arm", scenario.name()));
    }
    let measurement = scenarios::run(scenario, arm, n, sizes);
    let line = serde_json::to_string(&measurement).map_err(|e| e.to_string())?;
    println!("{line}");
    // Leave at once: tearing down 100,000 tasks is not part of any figure.
    use std::io::Write as _;
    let _ = std::io::stdout().flush();
    std::process::exit(0);
}

/// Runs one child process and reads its measurement.
fn run_child(scenario: Scenario, arm: Arm, n: usize, sizes: Sizes) -> Result<Measurement, String> {
    let exe = std::env::current_exe().map_err(|e| format!("cannot find this binary: {e}"))?;
    let output = Command::new(exe)
        .args([
            "child",
            "--scenario",
            scenario.name(),
            "--arm",
            &arm.to_string(),
        ])
        .args(["--n", &n.to_string()])
        .args(["--restarts", &sizes.restarts.to_string()])
        .args(["--jobs", &sizes.jobs.to_string()])
        .env("RUST_BACKTRACE", "0")
        .stdin(Stdio::null())
        .output()
        .map_err(|e| format!("cannot start a child: {e}"))?;
    let stdout = String::from_utf8_lossy(&output.stdout);
    let line = stdout.lines().rev().find(|l| !l.trim().is_empty());
    match (output.status.success(), line) {
        (true, Some(line)) => serde_json::from_str(line).map_err(|e| {
            format!(
                "{} {arm} n={n}: unreadable result `{line}`: {e}",
                scenario.name()
            )
        }),
        _ => Err(format!(
            "{} {arm} n={n} failed ({}):\n{}",
            scenario.name(),
            output.status,
            String::from_utf8_lossy(&output.stderr)
        )),
    }
}

// ---------------------------------------------------------------------------
// The benchmark run.

struct Options {
    max: usize,
    reps: usize,
    json: Option<PathBuf>,
    only: Option<Vec<Scenario>>,
    sizes: Sizes,
    command: String,
}

impl Options {
    fn parse(args: &[String]) -> Result<Self, String> {
        let mut options = Options {
            max: 100_000,
            reps: 7,
            json: None,
            only: None,
            sizes: Sizes {
                restarts: scenarios::DEFAULT_RESTARTS,
                jobs: scenarios::DEFAULT_JOBS,
            },
            command: std::iter::once("cargo run --release -p bench --".to_string())
                .chain(args.iter().cloned())
                .collect::<Vec<_>>()
                .join(" "),
        };
        let mut restarts_given = false;
        let mut flags = Flags::new(args);
        while let Some(flag) = flags.next_flag() {
            match flag {
                "--services" => options.max = flags.value(flag)?,
                "--reps" => options.reps = flags.value(flag)?,
                "--json" => options.json = Some(flags.value::<String>(flag)?.into()),
                "--restarts" => {
                    options.sizes.restarts = flags.value(flag)?;
                    restarts_given = true;
                }
                "--jobs" => options.sizes.jobs = flags.value(flag)?,
                "--only" => {
                    let list: String = flags.value(flag)?;
                    let picked = list
                        .split(',')
                        .map(|name| {
                            Scenario::parse(name.trim()).ok_or(format!("unknown scenario `{name}`"))
                        })
                        .collect::<Result<Vec<_>, _>>()?;
                    options.only = Some(picked);
                }
                "--smoke" => {
                    options.max = 2000;
                    options.reps = 1;
                }
                other => return Err(format!("unknown flag `{other}`")),
            }
        }
        if options.max == 0 || options.reps == 0 {
            return Err("--services and --reps must be at least 1".to_string());
        }
        if !restarts_given {
            // Each of our restarts can cost a timer tick (1 ms): a small run
            // times fewer of them.
            options.sizes.restarts = options.max.clamp(1_000, scenarios::DEFAULT_RESTARTS);
        }
        Ok(options)
    }

    /// 1,000, 10,000 and the maximum, the ones not above it.
    fn counts(&self) -> Vec<usize> {
        let mut counts: Vec<usize> = [1_000, 10_000, self.max]
            .into_iter()
            .filter(|&n| n <= self.max)
            .collect();
        counts.dedup();
        counts
    }

    fn scenarios(&self) -> Vec<Scenario> {
        match &self.only {
            Some(list) => list.clone(),
            None => Scenario::ALL.to_vec(),
        }
    }
}

/// The medians of one scenario at one N.
#[derive(Serialize)]
struct Summary {
    scenario: Scenario,
    n: usize,
    unit: String,
    ours: ArmSummary,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw: Option<ArmSummary>,
    /// `tokio::spawn` on one shared token: the floor (start, memory and
    /// shutdown only).
    #[serde(skip_serializing_if = "Option::is_none")]
    bare: Option<ArmSummary>,
    /// Bare with its task future padded to the size of ours': the floor for
    /// a task cell as large as ours' (start, memory and shutdown only).
    #[serde(skip_serializing_if = "Option::is_none")]
    sized: Option<ArmSummary>,
    /// ours / raw.
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio: Option<f64>,
    /// ours / bare.
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio_bare: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    ratio_p99: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    target: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    met: Option<bool>,
}

#[derive(Serialize)]
struct ArmSummary {
    median: f64,
    samples: Vec<f64>,
    /// Medians over the repetitions of each supporting figure.
    extra: BTreeMap<String, f64>,
}

impl ArmSummary {
    fn of(measurements: &[Measurement]) -> Self {
        let samples: Vec<f64> = measurements.iter().map(|m| m.value).collect();
        let mut keys: Vec<&String> = measurements.iter().flat_map(|m| m.extra.keys()).collect();
        keys.sort();
        keys.dedup();
        let extra = keys
            .into_iter()
            .map(|key| {
                let values: Vec<f64> = measurements
                    .iter()
                    .filter_map(|m| m.extra.get(key).copied())
                    .collect();
                (key.clone(), median(&values))
            })
            .collect();
        ArmSummary {
            median: median(&samples),
            samples,
            extra,
        }
    }

    fn p99(&self) -> Option<f64> {
        self.extra.get("p99_ns").copied()
    }

    fn total_ns(&self) -> Option<f64> {
        self.extra.get("total_ns").copied()
    }
}

/// How a total time grows from the second-largest N to the largest.
#[derive(Serialize)]
struct Growth {
    scenario: Scenario,
    from_n: usize,
    to_n: usize,
    /// What linear growth would be: `to_n / from_n`.
    linear: f64,
    ours: f64,
    #[serde(skip_serializing_if = "Option::is_none")]
    raw: Option<f64>,
    #[serde(skip_serializing_if = "Option::is_none")]
    bare: Option<f64>,
}

#[derive(Serialize)]
struct Report {
    command: String,
    machine: Machine,
    reps: usize,
    counts: Vec<usize>,
    restarts: usize,
    jobs: usize,
    results: Vec<Summary>,
    growth: Vec<Growth>,
    allocs: Vec<Measurement>,
    wall_seconds: f64,
}

#[derive(Serialize)]
struct Machine {
    nproc: usize,
    cpu: String,
}

fn machine() -> Machine {
    let cpu = std::fs::read_to_string("/proc/cpuinfo")
        .ok()
        .and_then(|info| {
            info.lines()
                .find(|l| l.starts_with("model name"))
                .and_then(|l| l.split_once(':'))
                .map(|(_, model)| model.trim().to_string())
        })
        .unwrap_or_else(|| "unknown".to_string());
    Machine {
        nproc: std::thread::available_parallelism().map_or(1, |n| n.get()),
        cpu,
    }
}

/// What a scenario's ratio is held to: start, memory and shutdown against
/// bare (the floor: `tokio::spawn` on one shared token) at the largest N,
/// the restarts' p50 against raw's respawn loop, blocking against raw.
#[derive(Clone, Copy)]
enum Target {
    /// ours / bare at most this, at the run's largest N.
    Bare(f64),
    /// ours / raw at p50 at most this.
    RawP50(f64),
    /// ours / raw at most this.
    Raw(f64),
}

fn target(scenario: Scenario) -> Option<Target> {
    match scenario {
        Scenario::Start | Scenario::Shutdown => Some(Target::Bare(1.3)),
        Scenario::Memory => Some(Target::Bare(1.5)),
        Scenario::RestartPanic | Scenario::RestartErr => Some(Target::RawP50(1.0)),
        Scenario::Blocking => Some(Target::Raw(1.3)),
        Scenario::Snapshot | Scenario::Allocs => None,
    }
}

fn bench(options: Options) -> ExitCode {
    let began = Instant::now();
    let counts = options.counts();
    let mut results = Vec::new();
    let mut allocs = Vec::new();
    for scenario in options.scenarios() {
        if scenario == Scenario::Allocs {
            // Counting is deterministic: one run per arm, at 10,000 (or less).
            let n = options.max.min(10_000);
            for arm in Arm::ALL {
                match run_child(scenario, arm, n, options.sizes) {
                    Ok(m) => allocs.push(m),
                    Err(e) => return fail(&e),
                }
            }
            continue;
        }
        let ns = if scenario.scales_with_n() {
            counts.clone()
        } else if scenario == Scenario::Blocking {
            vec![options.sizes.jobs]
        } else {
            vec![options.sizes.restarts]
        };
        let arms: Vec<Arm> = Arm::ALL
            .into_iter()
            .filter(|&arm| scenario.has_arm(arm))
            .collect();
        for n in ns {
            let mut got: BTreeMap<Arm, Vec<Measurement>> = BTreeMap::new();
            for rep in 1..=options.reps {
                for &arm in &arms {
                    match run_child(scenario, arm, n, options.sizes) {
                        Ok(m) => {
                            eprintln!(
                                "  {:<14} n={:<8} rep {rep}/{} {arm:<10} {}",
                                scenario.name(),
                                n,
                                options.reps,
                                show(scenario, m.value)
                            );
                            got.entry(arm).or_default().push(m);
                        }
                        Err(e) => return fail(&e),
                    }
                }
            }
            let largest = n == counts.last().copied().unwrap_or(n);
            results.push(summarise(scenario, n, largest, &got));
        }
    }
    let growth = growth(&results, &counts);
    let report = Report {
        command: options.command.clone(),
        machine: machine(),
        reps: options.reps,
        counts,
        restarts: options.sizes.restarts,
        jobs: options.sizes.jobs,
        results,
        growth,
        allocs,
        wall_seconds: began.elapsed().as_secs_f64(),
    };
    print!("{}", render(&report));
    if let Some(path) = &options.json {
        let json = serde_json::to_string_pretty(&report).expect("the report serialises");
        if let Err(e) = std::fs::write(path, json + "\n") {
            return fail(&format!("cannot write {}: {e}", path.display()));
        }
        eprintln!("wrote {}", path.display());
    }
    ExitCode::SUCCESS
}

fn fail(message: &str) -> ExitCode {
    eprintln!("bench: {message}");
    ExitCode::FAILURE
}

/// One scenario at one N; `largest`: the run's largest N, where the
/// targets against bare apply.
fn summarise(
    scenario: Scenario,
    n: usize,
    largest: bool,
    got: &BTreeMap<Arm, Vec<Measurement>>,
) -> Summary {
    let ours = ArmSummary::of(got.get(&Arm::Ours).map_or(&[][..], Vec::as_slice));
    let raw = got.get(&Arm::Raw).map(|m| ArmSummary::of(m));
    let bare = got.get(&Arm::Bare).map(|m| ArmSummary::of(m));
    let sized = got.get(&Arm::BareSized).map(|m| ArmSummary::of(m));
    let unit = got
        .values()
        .flatten()
        .next()
        .map_or_else(String::new, |m| m.unit.clone());
    let ratio = raw.as_ref().map(|raw| ours.median / raw.median);
    let ratio_bare = bare.as_ref().map(|bare| ours.median / bare.median);
    let ratio_p99 = match (ours.p99(), raw.as_ref().and_then(ArmSummary::p99)) {
        (Some(a), Some(b)) => Some(a / b),
        _ => None,
    };
    let (met, target) = match target(scenario) {
        Some(Target::Bare(limit)) if largest => (
            ratio_bare.map(|r| r <= limit),
            Some(format!("ours/bare ≤ {limit}")),
        ),
        Some(Target::Bare(_)) | None => (None, None),
        Some(Target::RawP50(limit)) => (
            ratio.map(|r| r <= limit),
            Some(format!("ours/raw ≤ {limit} (p50)")),
        ),
        Some(Target::Raw(limit)) => (
            ratio.map(|r| r <= limit),
            Some(format!("ours/raw ≤ {limit}")),
        ),
    };
    Summary {
        scenario,
        n,
        unit,
        ours,
        raw,
        bare,
        sized,
        ratio,
        ratio_bare,
        ratio_p99,
        target,
        met,
    }
}

fn growth(results: &[Summary], counts: &[usize]) -> Vec<Growth> {
    let [.., from_n, to_n] = counts else {
        return Vec::new();
    };
    let find = |scenario, n| results.iter().find(|s| s.scenario == scenario && s.n == n);
    [Scenario::Start, Scenario::Snapshot, Scenario::Shutdown]
        .into_iter()
        .filter_map(|scenario| {
            let (small, big) = (find(scenario, *from_n)?, find(scenario, *to_n)?);
            let of = |a: &ArmSummary, b: &ArmSummary| Some(b.total_ns()? / a.total_ns()?);
            Some(Growth {
                scenario,
                from_n: *from_n,
                to_n: *to_n,
                linear: *to_n as f64 / *from_n as f64,
                ours: of(&small.ours, &big.ours)?,
                raw: small
                    .raw
                    .as_ref()
                    .zip(big.raw.as_ref())
                    .and_then(|(a, b)| of(a, b)),
                bare: small
                    .bare
                    .as_ref()
                    .zip(big.bare.as_ref())
                    .and_then(|(a, b)| of(a, b)),
            })
        })
        .collect()
}

/// A headline value in its scenario's unit.
fn show(scenario: Scenario, value: f64) -> String {
    match scenario {
        Scenario::Memory => format!("{}/svc", bytes(value)),
        Scenario::Start | Scenario::Shutdown | Scenario::Snapshot => {
            format!("{}/svc", nanos(value))
        }
        Scenario::Blocking => format!("{}/job", nanos(value)),
        Scenario::RestartPanic | Scenario::RestartErr => nanos(value),
        Scenario::Allocs => format!("{value:.1} allocs/svc"),
    }
}

/// The report as Markdown: the table of medians and ratios, growth, and the
/// allocation probe.
fn render(report: &Report) -> String {
    use std::fmt::Write as _;
    let mut out = String::new();
    let _ = writeln!(
        out,
        "\n{} · {} cores · {} · median of {} rep(s), arms interleaved\n",
        report.command, report.machine.nproc, report.machine.cpu, report.reps
    );
    if !report.results.is_empty() {
        let _ = writeln!(
            out,
            "| scenario | N | ours | raw | bare | ours/raw | ours/bare | target | |"
        );
        let _ = writeln!(
            out,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- | --- |"
        );
    }
    for s in &report.results {
        let (ours, raw, ratio) = match s.scenario {
            Scenario::RestartPanic | Scenario::RestartErr => (
                format!(
                    "{} / {}",
                    nanos(s.ours.median),
                    nanos(s.ours.p99().unwrap_or(f64::NAN))
                ),
                s.raw.as_ref().map_or("-".to_string(), |r| {
                    format!(
                        "{} / {}",
                        nanos(r.median),
                        nanos(r.p99().unwrap_or(f64::NAN))
                    )
                }),
                match (s.ratio, s.ratio_p99) {
                    (Some(a), Some(b)) => format!("{a:.2} / {b:.2}"),
                    _ => "-".to_string(),
                },
            ),
            _ => (
                show(s.scenario, s.ours.median),
                s.raw
                    .as_ref()
                    .map_or("-".to_string(), |r| show(s.scenario, r.median)),
                s.ratio.map_or("-".to_string(), |r| format!("{r:.2}")),
            ),
        };
        let bare = s
            .bare
            .as_ref()
            .map_or("-".to_string(), |b| show(s.scenario, b.median));
        let ratio_bare = s.ratio_bare.map_or("-".to_string(), |r| format!("{r:.2}"));
        let name = match s.scenario {
            Scenario::RestartPanic => "restart, panic (p50 / p99)",
            Scenario::RestartErr => "restart, Err (p50 / p99)",
            other => other.name(),
        };
        let verdict = match s.met {
            Some(true) => "ok",
            Some(false) => "**missed**",
            None => "report only",
        };
        let _ = writeln!(
            out,
            "| {name} | {} | {ours} | {raw} | {bare} | {ratio} | {ratio_bare} | {} | {verdict} |",
            thousands(s.n as u64),
            s.target.as_deref().unwrap_or("-"),
        );
    }
    render_sized(report, &mut out);
    if !report.growth.is_empty() {
        let _ = writeln!(
            out,
            "\n| growth of the total time | from N | to N | ours | raw | bare | linear |"
        );
        let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: | ---: |");
        for g in &report.growth {
            let _ = writeln!(
                out,
                "| {} | {} | {} | {:.1} | {} | {} | {:.0} |",
                g.scenario.name(),
                thousands(g.from_n as u64),
                thousands(g.to_n as u64),
                g.ours,
                g.raw.map_or("-".to_string(), |r| format!("{r:.1}")),
                g.bare.map_or("-".to_string(), |r| format!("{r:.1}")),
                g.linear
            );
        }
    }
    if !report.allocs.is_empty() {
        let _ = writeln!(
            out,
            "\n| allocations (probe, N = {}) | per started service | bytes per service | per Err restart | bytes per restart | per blocking job | bytes per job | most frequent sizes at start (size × count/N) |",
            report.allocs.first().map_or(0, |m| m.n)
        );
        let _ = writeln!(
            out,
            "| --- | ---: | ---: | ---: | ---: | ---: | ---: | --- |"
        );
        for m in &report.allocs {
            let sizes = m.start_allocs.as_ref().map_or(String::new(), |r| {
                r.by_size
                    .iter()
                    .filter(|(_, count)| *count as usize * 100 >= m.n)
                    .map(|(size, count)| {
                        format!("{size} B × {:.2}", *count as f64 / m.n.max(1) as f64)
                    })
                    .collect::<Vec<_>>()
                    .join(", ")
            });
            // A figure to the given decimals, `-` where the arm has none
            // (bare neither restarts nor runs blocking jobs).
            let get = |key: &str, decimals: usize| {
                m.extra
                    .get(key)
                    .map_or("-".to_string(), |v| format!("{v:.decimals$}"))
            };
            let _ = writeln!(
                out,
                "| {} | {:.2} | {} | {} | {} | {} | {} | {sizes} |",
                m.arm,
                m.value,
                get("bytes_per_service", 0),
                get("allocs_per_restart", 2),
                get("bytes_per_restart", 0),
                get("allocs_per_job", 2),
                get("bytes_per_job", 0),
            );
        }
    }
    let size = |arm: Arm, key: &str| {
        report
            .allocs
            .iter()
            .find(|m| m.arm == arm)
            .and_then(|m| m.extra.get(key))
            .map_or("?".to_string(), |b| format!("{b:.0} B"))
    };
    if !report.allocs.is_empty() {
        let _ = writeln!(
            out,
            "\nfuture sizes (size_of_val): the idle body {} (ours) / {} (raw); ours (spawn_fn) keeps it inside its task \
             (a TaskDescriptor would box it per run as {}); raw's whole per-task future (restart loop, body, sleep inline) is {}; bare's whole task future is {}, \
             bare-sized's (padded) {}",
            size(Arm::Ours, "user_future_bytes"),
            size(Arm::Raw, "user_future_bytes"),
            size(Arm::Ours, "boxed_run_future_bytes"),
            size(Arm::Raw, "task_future_bytes"),
            size(Arm::Bare, "task_future_bytes"),
            size(Arm::BareSized, "task_future_bytes"),
        );
    }
    let _ = writeln!(
        out,
        "\nrestart latency over {} restarts of one service; blocking: {} closures; whole run {:.0} s\n",
        thousands(report.restarts as u64),
        thousands(report.jobs as u64),
        report.wall_seconds
    );
    out
}

/// The size of `arm`'s tokio task cell, read from the allocation probe: the
/// most frequent size at start that is a multiple of 128 (the cell's
/// alignment) and was allocated at least once per task. `None` when the
/// probe did not run or shows no such size.
fn cell_bytes(allocs: &[Measurement], arm: Arm) -> Option<u64> {
    let m = allocs.iter().find(|m| m.arm == arm)?;
    let report = m.start_allocs.as_ref()?;
    report
        .by_size
        .iter()
        .find(|&&(size, count)| size > 0 && size % 128 == 0 && count as usize >= m.n)
        .map(|&(size, _)| size)
}

/// The table of bare-sized against bare and ours at the largest N, with the
/// task cells the allocation probe found for ours and bare-sized.
fn render_sized(report: &Report, out: &mut String) {
    use std::fmt::Write as _;
    let Some(&largest) = report.counts.last() else {
        return;
    };
    let rows: Vec<&Summary> = report
        .results
        .iter()
        .filter(|s| s.n == largest && s.sized.is_some())
        .collect();
    if rows.is_empty() {
        return;
    }
    let future = report
        .allocs
        .iter()
        .find(|m| m.arm == Arm::BareSized)
        .and_then(|m| m.extra.get("task_future_bytes"))
        .map_or(String::new(), |b| format!(" ({b:.0} B)"));
    let _ = writeln!(
        out,
        "\nbare-sized is bare's task with its future padded to the size of ours' task future{future}, \
         so that its tokio task cell is as large as ours': the floor for a task of that size."
    );
    let ours_cell = cell_bytes(&report.allocs, Arm::Ours);
    let sized_cell = cell_bytes(&report.allocs, Arm::BareSized);
    let cell = |c: Option<u64>| c.map_or("?".to_string(), |b| format!("{b} B"));
    match (ours_cell, sized_cell) {
        (Some(a), Some(b)) if a == b => {
            let _ = writeln!(
                out,
                "Task cells (allocation probe): ours {a} B, bare-sized {b} B."
            );
        }
        (None, None) if report.allocs.is_empty() => {
            let _ = writeln!(
                out,
                "Task cells not checked: the allocation probe (allocs) did not run."
            );
        }
        _ => {
            let _ = writeln!(
                out,
                "\n**warning: the task cells differ (allocation probe): ours {}, bare-sized {}; \
                 bare-sized no longer matches ours, change PAD in bench/src/scenarios.rs.**",
                cell(ours_cell),
                cell(sized_cell)
            );
        }
    }
    let _ = writeln!(
        out,
        "\n| at N = {} | bare | bare-sized | ours | bare-sized/bare | ours/bare-sized |",
        thousands(largest as u64)
    );
    let _ = writeln!(out, "| --- | ---: | ---: | ---: | ---: | ---: |");
    for s in rows {
        let Some(sized) = &s.sized else { continue };
        let ratio = |a: f64, b: Option<f64>| b.map_or("-".to_string(), |b| format!("{:.2}", a / b));
        let _ = writeln!(
            out,
            "| {} | {} | {} | {} | {} | {} |",
            s.scenario.name(),
            s.bare
                .as_ref()
                .map_or("-".to_string(), |b| show(s.scenario, b.median)),
            show(s.scenario, sized.median),
            show(s.scenario, s.ours.median),
            ratio(sized.median, s.bare.as_ref().map(|b| b.median)),
            ratio(s.ours.median, Some(sized.median)),
        );
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::stats::AllocReport;

    #[test]
    fn arm_names_round_trip() {
        for arm in Arm::ALL {
            assert_eq!(Arm::parse(&arm.to_string()), Some(arm));
            let json = serde_json::to_string(&arm).expect("an arm serialises");
            assert_eq!(json, format!("\"{arm}\""));
        }
        assert!(Scenario::Start.has_arm(Arm::BareSized));
        assert!(Scenario::Allocs.has_arm(Arm::BareSized));
        assert!(!Scenario::Snapshot.has_arm(Arm::BareSized));
        assert!(!Scenario::RestartErr.has_arm(Arm::BareSized));
    }

    #[test]
    fn cell_is_the_per_task_multiple_of_128() {
        let probe = |arm, by_size: Vec<(u64, u64)>| {
            let json = serde_json::json!({
                "scenario": "allocs", "arm": arm, "n": 1000, "value": 1.0, "unit": "allocs/svc",
            });
            let mut m: Measurement = serde_json::from_value(json).expect("a measurement");
            m.start_allocs = Some(AllocReport {
                allocs: 0,
                bytes: 0,
                by_size,
            });
            m
        };
        let allocs = [
            probe("ours", vec![(56, 2000), (384, 1000), (2048, 10)]),
            probe("bare-sized", vec![(2048, 999), (256, 1000)]),
        ];
        assert_eq!(cell_bytes(&allocs, Arm::Ours), Some(384));
        assert_eq!(cell_bytes(&allocs, Arm::BareSized), Some(256));
        assert_eq!(cell_bytes(&allocs, Arm::Bare), None);
    }
}
