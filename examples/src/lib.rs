//! Small helpers shared by the example binaries in `src/bin/`: logging setup,
//! a tiny command-line parser, and a loop that runs once a second until the
//! shutdown. The binaries are where to look for what `supervisor` offers.
//!
//! Run an example with `cargo run -p examples --bin demo`; add `-- --help`
//! to see its options.

use std::future::Future;
use std::str::FromStr;
use std::time::Duration;

use supervisor::Supervisor;

/// The settings of the `production` example that its deployment files in
/// `examples/deploy/` are written for: the tests read them from here and
/// check the files against them, so a change on one side fails until the
/// other follows.
pub mod production {
    use std::time::Duration;

    /// How long the services get to stop; the unit's `TimeoutStopSec=` and
    /// the manifest's `terminationGracePeriodSeconds` must be longer.
    pub const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(20);

    /// The port of `/livez`, `/readyz` and `/status` (on every interface);
    /// the manifest's probes ask it.
    pub const HEALTH_PORT: u16 = 8081;

    /// The port of the example's own API.
    pub const API_PORT: u16 = 8080;
}

/// Sends `tracing` logs to stderr, so the status tables printed on stdout
/// stay readable. The level comes from `RUST_LOG` (default `info`), e.g.
/// `RUST_LOG=debug` or `RUST_LOG=warn,supervisor=info`. Colours only when
/// stderr is a terminal.
pub fn init_logging() {
    use std::io::IsTerminal;

    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new("info"));
    tracing_subscriber::fmt()
        .with_env_filter(filter)
        .with_writer(std::io::stderr)
        .with_ansi(std::io::stderr().is_terminal())
        .init();
}

/// Reads a command line whose only option is `--for DURATION` (see
/// [`Cli::duration`]): the duration, if given. `--help` prints `usage`.
pub fn run_for_option(usage: &'static str) -> Option<Duration> {
    let mut run_for = None;
    let mut cli = Cli::new(usage);
    while let Some(flag) = cli.next_flag() {
        match flag.as_str() {
            "--for" => run_for = Some(cli.duration(&flag)),
            _ => cli.unknown(&flag),
        }
    }
    run_for
}

/// Spawns a task that calls `each` once a second, the first time at once,
/// until the shutdown of `sup` begins. `each` gets a handle on the supervisor
/// and the tick's number (0, 1, 2 ...); the next tick waits for its future.
pub fn every_second<F, Fut>(sup: &Supervisor, mut each: F)
where
    F: FnMut(Supervisor, u64) -> Fut + Send + 'static,
    Fut: Future<Output = ()> + Send + 'static,
{
    let sup = sup.clone();
    tokio::spawn(async move {
        let stop = sup.cancellation_token();
        let mut every_second = tokio::time::interval(Duration::from_secs(1));
        for tick in 0u64.. {
            tokio::select! {
                () = stop.cancelled() => break,
                _ = every_second.tick() => {}
            }
            each(sup.clone(), tick).await;
        }
    });
}

/// A minimal reader of `--flag value` pairs from the command line.
///
/// ```no_run
/// let mut run_for = None;
/// let mut cli = examples::Cli::new("usage: demo [--for DURATION]");
/// while let Some(flag) = cli.next_flag() {
///     match flag.as_str() {
///         "--for" => run_for = Some(cli.duration(&flag)),
///         _ => cli.unknown(&flag),
///     }
/// }
/// # let _: Option<std::time::Duration> = run_for;
/// ```
#[derive(Debug)]
pub struct Cli {
    args: std::iter::Skip<std::env::Args>,
    usage: &'static str,
}

impl Cli {
    /// Reads the program's arguments; `usage` is printed for `--help` and
    /// on any mistake.
    pub fn new(usage: &'static str) -> Self {
        Cli {
            args: std::env::args().skip(1),
            usage,
        }
    }

    /// The next flag, or `None` at the end. `--help` prints the usage and
    /// exits 0.
    pub fn next_flag(&mut self) -> Option<String> {
        let flag = self.args.next()?;
        if flag == "-h" || flag == "--help" {
            println!("{}", self.usage);
            std::process::exit(0);
        }
        Some(flag)
    }

    /// The value after `flag` as a duration: `500ms`, `5s`, `2m`, `1m 30s`.
    pub fn duration(&mut self, flag: &str) -> Duration {
        let value = self.raw_value(flag);
        humantime::parse_duration(&value)
            .unwrap_or_else(|err| self.fail(&format!("{flag} {value:?}: {err}")))
    }

    /// The value after `flag`, parsed as any `T: FromStr` (a port, a count).
    pub fn value<T: FromStr>(&mut self, flag: &str) -> T
    where
        T::Err: std::fmt::Display,
    {
        let value = self.raw_value(flag);
        value
            .parse()
            .unwrap_or_else(|err| self.fail(&format!("{flag} {value:?}: {err}")))
    }

    /// Reports a flag the program does not know, and exits 2.
    pub fn unknown(&self, flag: &str) -> ! {
        self.fail(&format!("unknown argument {flag:?}"))
    }

    fn raw_value(&mut self, flag: &str) -> String {
        match self.args.next() {
            Some(value) => value,
            None => self.fail(&format!("{flag} needs a value")),
        }
    }

    fn fail(&self, message: &str) -> ! {
        eprintln!("error: {message}\n{}", self.usage);
        std::process::exit(2);
    }
}
