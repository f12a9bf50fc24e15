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
