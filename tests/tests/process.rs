//! Process tests: a real binary (`procsvc`) under real signals, checked for
//! its exit code and for exiting within the shutdown bound.

#![cfg(unix)]

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, ExitStatus, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Generous slack on top of the shutdown timeout: process start-up, a loaded
/// CI machine. Real regressions (a hang) blow far past it.
const SLACK: Duration = Duration::from_secs(5);

struct Proc {
    child: Child,
    /// The lines of the program's stdout, read to its end on a thread of
    /// their own: a wait for a line can be bounded, and the program never
    /// writes to a closed pipe.
    lines: mpsc::Receiver<String>,
}

impl Proc {
    /// Starts `procsvc` with the given services and timeout, and waits for
    /// its `ready` line (signal handlers installed).
    fn start(only: &str, timeout_ms: u64) -> Proc {
        Proc::start_with_env(only, timeout_ms, &[], true)
    }

    /// Waits, at most `within`, for the program's next line on stdout, which
    /// must be `expected`.
    fn expect_line(&mut self, expected: &str, within: Duration) {
        match self.lines.recv_timeout(within) {
            Ok(line) => assert_eq!(
                line.trim(),
                expected,
                "procsvc's next line is not `{expected}`"
            ),
            Err(err) => {
                // Do not leave a hung process behind.
                let _ = self.child.kill();
                let _ = self.child.wait();
                panic!("procsvc printed no `{expected}` line within {within:?}: {err}");
            }
        }
    }

    fn signal(&self, signal: libc::c_int) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        // SAFETY-free: `kill` is a plain FFI call on a pid we own.
        let rc = unsafe { libc::kill(pid, signal) };
        assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
    }

    /// Waits for the exit, at most `bound`; returns the status, the time it
    /// took and what the program printed on stderr (its final table).
    fn wait(self, bound: Duration) -> (ExitStatus, Duration, String) {
        let started = Instant::now();
        let pid = self.child.id();
        let (tx, rx) = mpsc::channel();
        std::thread::spawn(move || {
            let output = self.child.wait_with_output();
            let _ = tx.send(output);
        });
        match rx.recv_timeout(bound) {
            Ok(output) => {
                let output = output.expect("waiting for procsvc");
                let stderr = String::from_utf8_lossy(&output.stderr).into_owned();
                (output.status, started.elapsed(), stderr)
            }
            Err(_) => {
                // Do not leave a hung process behind.
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                panic!("procsvc did not exit within {bound:?}");
            }
        }
    }
}

/// Sends `signal` (called `name`) to a `procsvc` running a cooperative
/// service, and checks that it exits 0; returns how long that took and its
/// stderr.
fn cooperative_exit_after(signal: libc::c_int, name: &str) -> (Duration, String) {
    let proc = Proc::start("cooperative", 10_000);
    proc.signal(signal);
    let (status, took, stderr) = proc.wait(SLACK);
    assert_eq!(
        status.code(),
        Some(0),
        "exit code after {name}; stderr:\n{stderr}"
    );
    (took, stderr)
}

#[test]
fn sigterm_stops_cleanly_and_exits_zero() {
    let (took, stderr) = cooperative_exit_after(libc::SIGTERM, "SIGTERM");
    assert!(
        stderr.contains("stopped"),
        "final table shows `stopped`:\n{stderr}"
    );
    assert!(took < SLACK, "took {took:?}");
}

#[test]
fn sigint_stops_cleanly_and_exits_zero() {
    cooperative_exit_after(libc::SIGINT, "SIGINT");
}

#[test]
fn stubborn_service_is_aborted_after_the_timeout_and_exits_one() {
    let timeout = Duration::from_millis(1_000);
    let proc = Proc::start("cooperative,stubborn", 1_000);
    let sent = Instant::now();
    proc.signal(libc::SIGTERM);
    let (status, _, stderr) = proc.wait(timeout + SLACK);
    let took = sent.elapsed();
    assert_eq!(status.code(), Some(1), "exit code; stderr:\n{stderr}");
    assert!(
        took >= timeout,
        "it waited out the timeout first ({took:?})"
    );
    assert!(
        stderr.contains("`stubborn` was aborted"),
        "the error names the service:\n{stderr}"
    );
}

#[test]
fn second_signal_aborts_at_once() {
    // A 60 s timeout: only the second signal can end this quickly.
    let mut proc = Proc::start("stubborn,announcer", 60_000);
    proc.signal(libc::SIGTERM);
    // `announcer` prints it once the shutdown has begun: the first signal
    // has been taken, so the next one is the second.
    proc.expect_line("shutting down", SLACK);
    proc.signal(libc::SIGINT);
    let (status, took, stderr) = proc.wait(SLACK);
    assert_eq!(status.code(), Some(1), "exit code; stderr:\n{stderr}");
    assert!(took < SLACK, "took {took:?}");
    assert!(
        stderr.contains("second signal"),
        "the error says a second signal aborted it:\n{stderr}"
    );
}

#[test]
fn a_stuck_blocking_thread_does_not_hold_the_exit() {
    let timeout = Duration::from_millis(500);
    let proc = Proc::start("stuck-thread", 500);
    proc.signal(libc::SIGTERM);
    let (status, took, stderr) = proc.wait(timeout + SLACK);
    assert_eq!(status.code(), Some(1), "exit code; stderr:\n{stderr}");
    assert!(stderr.contains("stuck-thread"), "named:\n{stderr}");
    assert!(took < timeout + SLACK, "took {took:?}");
}

#[test]
fn program_ends_by_itself_when_every_service_completed() {
    let proc = Proc::start("quick", 10_000);
    let (status, _, stderr) = proc.wait(SLACK);
    assert_eq!(status.code(), Some(0), "stderr:\n{stderr}");
    assert!(stderr.contains("completed"), "{stderr}");
}

#[test]
fn a_failed_service_makes_the_exit_code_one() {
    let proc = Proc::start("broken", 10_000);
    let (status, _, stderr) = proc.wait(SLACK);
    assert_eq!(status.code(), Some(1), "stderr:\n{stderr}");
    assert!(
        stderr.contains("`broken` failed: the configuration file is missing"),
        "{stderr}"
    );
}

impl Proc {
    /// [`Proc::start`] with extra environment variables; waits for `ready`
    /// only when `ready` is set (a program that ends by itself may exit
    /// before printing it).
    fn start_with_env(only: &str, timeout_ms: u64, env: &[(&str, &str)], ready: bool) -> Proc {
        let mut child = Command::new(env!("CARGO_BIN_EXE_procsvc"))
            .env("PROCSVC_ONLY", only)
            .env("PROCSVC_TIMEOUT_MS", timeout_ms.to_string())
            .env("RUST_BACKTRACE", "0")
            .envs(env.iter().copied())
            .stdout(Stdio::piped())
            .stderr(Stdio::piped())
            .spawn()
            .expect("procsvc starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        let mut proc = Proc { child, lines };
        if ready {
            proc.expect_line("ready", SLACK);
        }
        proc
    }
}

/// Checks what `procsvc` printed about its two panicking jobs: each handled
/// through its handle, each `failed` in the final table.
fn assert_jobs_handled(stderr: &str) {
    for text in [
        "handled: the job panicked: the job's input was malformed",
        "handled: the job panicked: the reply was malformed",
    ] {
        assert!(stderr.contains(text), "`{text}` in stderr:\n{stderr}");
    }
    for name in ["panicking-job", "panicking-oneshot"] {
        assert!(
            stderr
                .lines()
                .any(|line| line.contains(name) && line.contains("failed")),
            "`{name}` failed in the final table:\n{stderr}"
        );
    }
}

#[test]
fn a_panicking_job_handled_through_its_handle_exits_zero_after_sigterm() {
    let proc = Proc::start_with_env("cooperative", 10_000, &[("PROCSVC_JOB_PANIC", "1")], true);
    proc.signal(libc::SIGTERM);
    let (status, _, stderr) = proc.wait(SLACK);
    assert_eq!(status.code(), Some(0), "exit code; stderr:\n{stderr}");
    assert_jobs_handled(&stderr);
}

#[test]
fn a_panicking_job_handled_through_its_handle_exits_zero_when_services_complete() {
    let proc = Proc::start_with_env("quick", 10_000, &[("PROCSVC_JOB_PANIC", "1")], false);
    let (status, _, stderr) = proc.wait(SLACK);
    assert_eq!(status.code(), Some(0), "exit code; stderr:\n{stderr}");
    assert_jobs_handled(&stderr);
}

// ------------------------------------------------- signals during start-up

/// How `procsvc` starts: which entry point, which runtime flavour.
#[derive(Clone, Copy, Debug)]
struct Setup {
    /// `Builder::run()`, as a user's `main` does; otherwise `start()` then
    /// `Supervisor::run()`.
    builder_run: bool,
    multi_thread: bool,
}

impl Setup {
    /// A `procsvc` running 34 services that stop when told to: first a
    /// blocking one and an async one that say `started` on stdout (the
    /// async one cleans up in 1 ms), then 32 more, so that starting them all
    /// takes a while after the first runs.
    fn command(self) -> Command {
        let mut services = String::from("attentive,cooperative");
        for i in 0..32 {
            services.push_str(&format!(",idle_{i:02}"));
        }
        let mut command = Command::new(env!("CARGO_BIN_EXE_procsvc"));
        command
            .env("PROCSVC_ONLY", services)
            .env("PROCSVC_STARTED", "1")
            .env("PROCSVC_CLEANUP_MS", "1")
            .env(
                "PROCSVC_MODE",
                if self.builder_run { "run" } else { "start" },
            )
            .env(
                "PROCSVC_FLAVOR",
                if self.multi_thread {
                    "multi_thread"
                } else {
                    "current_thread"
                },
            )
            .env("RUST_BACKTRACE", "0")
            .stdout(Stdio::piped())
            .stderr(Stdio::piped());
        command
    }
}

/// Longest a launch may run after its signal before it counts as hung:
/// generous, since two cores run several debug builds at once; a lost
/// signal blows past it.
const HUNG_AFTER: Duration = Duration::from_secs(10);

/// Launches run at once: more than the cores, so that start-ups overlap.
const WORKERS: usize = 4;

/// Sends `signal` to `child`, which has not been reaped yet.
fn send(child: &Child, signal: libc::c_int) {
    let pid = libc::pid_t::try_from(child.id()).expect("pid fits");
    // SAFETY-free: `kill` is a plain FFI call on a pid we own.
    let rc = unsafe { libc::kill(pid, signal) };
    assert_eq!(rc, 0, "kill({pid}, {signal}) failed");
}

/// Whether `pipe` has something to read (or is closed) within `bound`.
fn readable(pipe: &impl std::os::fd::AsRawFd, bound: Duration) -> bool {
    let mut poll = libc::pollfd {
        fd: pipe.as_raw_fd(),
        events: libc::POLLIN,
        revents: 0,
    };
    let timeout = libc::c_int::try_from(bound.as_millis()).unwrap_or(libc::c_int::MAX);
    // SAFETY: `poll` reads and writes the one `pollfd` it is given.
    unsafe { libc::poll(&mut poll, 1, timeout) > 0 }
}

/// How a launch that was sent SIGTERM ended.
enum Ending {
    /// Exit 0 after the services cleaned up.
    Graceful,
    /// Killed by SIGTERM's default action: no handler was installed yet.
    Killed,
    /// Still running `HUNG_AFTER` after the signal (then killed).
    Hung,
    /// Anything else.
    Other(ExitStatus),
}

/// One launch that was sent SIGTERM: how it ended, and what it printed.
struct Outcome {
    setup: Setup,
    /// When the signal was sent: the delay after exec, or `None` for "as
    /// soon as a service said `started`".
    delay: Option<Duration>,
    ending: Ending,
    stdout: String,
    stderr: String,
}

impl std::fmt::Display for Outcome {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let ending = match &self.ending {
            Ending::Graceful => "stopped gracefully".to_string(),
            Ending::Killed => "killed by SIGTERM".to_string(),
            Ending::Hung => format!("still running after {HUNG_AFTER:?}"),
            Ending::Other(status) => format!("ended otherwise: {status}"),
        };
        let when = match self.delay {
            Some(delay) => format!("{delay:?} after exec"),
            None => "once a service said `started`".to_string(),
        };
        write!(
            f,
            "{:?}, SIGTERM {when}: {ending}; stdout {:?}; stderr:\n{}",
            self.setup, self.stdout, self.stderr
        )
    }
}

impl Outcome {
    /// Whether a service had said `started` before the process ended.
    fn service_started(&self) -> bool {
        self.stdout.lines().any(|line| line == "started")
    }
}

/// Waits (polling) for `child` to exit, at most `HUNG_AFTER`; kills it when
/// it is still running then, so that nothing is left behind. Then collects
/// what it printed (a few lines: the pipes never fill up).
fn finish(mut child: Child, setup: Setup, delay: Option<Duration>, stdout: String) -> Outcome {
    use std::os::unix::process::ExitStatusExt;

    let deadline = Instant::now() + HUNG_AFTER;
    let status = loop {
        if let Some(status) = child.try_wait().expect("waiting for procsvc") {
            break Some(status);
        }
        if Instant::now() >= deadline {
            let _ = child.kill();
            let _ = child.wait();
            break None;
        }
        std::thread::sleep(Duration::from_millis(1));
    };
    let stdout = stdout + &read_all(child.stdout.take());
    let stderr = read_all(child.stderr.take());
    let ending = match status {
        None => Ending::Hung,
        Some(status) if status.code() == Some(0) && stderr.contains("cleaned up") => {
            Ending::Graceful
        }
        Some(status) if status.signal() == Some(libc::SIGTERM) => Ending::Killed,
        Some(status) => Ending::Other(status),
    };
    Outcome {
        setup,
        delay,
        ending,
        stdout,
        stderr,
    }
}

/// What is left to read from `pipe`.
fn read_all(pipe: Option<impl std::io::Read>) -> String {
    let mut text = String::new();
    if let Some(mut pipe) = pipe {
        let _ = pipe.read_to_string(&mut text);
    }
    text
}

/// Runs `launch(0..count)` on `WORKERS` threads; returns the outcomes and
/// prints a summary (seen with `--nocapture`).
fn launch_many(what: &str, count: usize, launch: impl Fn(usize) -> Outcome + Sync) -> Vec<Outcome> {
    let began = Instant::now();
    let next = std::sync::atomic::AtomicUsize::new(0);
    let outcomes = std::sync::Mutex::new(Vec::with_capacity(count));
    std::thread::scope(|scope| {
        for _ in 0..WORKERS {
            scope.spawn(|| loop {
                let i = next.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
                if i >= count {
                    return;
                }
                let outcome = launch(i);
                outcomes.lock().unwrap().push(outcome);
            });
        }
    });
    let outcomes = outcomes.into_inner().unwrap();
    let count_of = |f: fn(&Ending) -> bool| outcomes.iter().filter(|o| f(&o.ending)).count();
    eprintln!(
        "{what}: {count} launches in {:.1?}: {} graceful, {} killed by SIGTERM ({} of them after \
         a service said `started`), {} hung, {} other",
        began.elapsed(),
        count_of(|e| matches!(e, Ending::Graceful)),
        count_of(|e| matches!(e, Ending::Killed)),
        outcomes
            .iter()
            .filter(|o| matches!(o.ending, Ending::Killed) && o.service_started())
            .count(),
        count_of(|e| matches!(e, Ending::Hung)),
        count_of(|e| matches!(e, Ending::Other(_))),
    );
    outcomes
}

/// Asserts that no outcome is `bad`, naming how many were and the first.
fn assert_none(outcomes: &[Outcome], what: &str, bad: impl Fn(&Outcome) -> bool) {
    let failed: Vec<&Outcome> = outcomes.iter().filter(|o| bad(o)).collect();
    assert!(
        failed.is_empty(),
        "{} of {} launches {what}; the first: {}",
        failed.len(),
        outcomes.len(),
        failed[0]
    );
}

/// `Builder::run()` installs the handlers before the first service starts,
/// so a SIGTERM sent as soon as a service says `started` always gives the
/// graceful stop and exit 0: hundreds of launches, both runtime flavours.
#[test]
fn sigterm_as_soon_as_a_service_runs_always_stops_gracefully() {
    let outcomes = launch_many("SIGTERM at `started`", 400, |i| {
        let setup = Setup {
            builder_run: true,
            multi_thread: i % 2 == 0,
        };
        let mut child = setup.command().spawn().expect("procsvc starts");
        let stdout = child.stdout.take().expect("stdout is piped");
        // The first line, or nothing if the process dies (closing the pipe)
        // or prints nothing for `HUNG_AFTER`: then no signal is sent, and
        // it ends up counted as hung.
        let mut line = String::new();
        if readable(&stdout, HUNG_AFTER) {
            let _ = BufReader::new(stdout).read_line(&mut line);
        }
        if line == "started\n" {
            send(&child, libc::SIGTERM);
        }
        finish(child, setup, None, line)
    });
    assert_none(&outcomes, "did not stop gracefully", |outcome| {
        !matches!(outcome.ending, Ending::Graceful)
    });
}

/// A SIGTERM sent 0-3 ms after exec, before, during or after the handlers'
/// installation: the process may die by the default action (then no
/// service may have said `started` under `Builder::run()`) or stop
/// gracefully, but it must never be left running with the signal lost.
/// Thousands of launches, both entry points, both flavours.
#[test]
fn sigterm_right_after_exec_never_leaves_the_process_running() {
    let outcomes = launch_many("SIGTERM 0-3 ms after exec", 2_000, |i| {
        let setup = Setup {
            builder_run: i % 2 == 0,
            multi_thread: i / 2 % 2 == 0,
        };
        // Spread over 0-3 ms in steps of a few microseconds.
        let delay = Duration::from_micros((i as u64 * 7_919) % 3_000);
        let child = setup.command().spawn().expect("procsvc starts");
        std::thread::sleep(delay);
        send(&child, libc::SIGTERM);
        finish(child, setup, Some(delay), String::new())
    });
    assert_none(
        &outcomes,
        &format!("were still running {HUNG_AFTER:?} after SIGTERM"),
        |outcome| matches!(outcome.ending, Ending::Hung),
    );
    assert_none(
        &outcomes,
        "ended neither gracefully nor by SIGTERM",
        |outcome| matches!(outcome.ending, Ending::Other(_)),
    );
    assert_none(
        &outcomes,
        "died by SIGTERM after a service started under `Builder::run()`",
        |outcome| {
            outcome.setup.builder_run
                && matches!(outcome.ending, Ending::Killed)
                && outcome.service_started()
        },
    );
}
