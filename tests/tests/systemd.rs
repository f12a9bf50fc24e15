//! systemd's notification protocol, end to end: the test plays systemd with
//! a real Unix datagram socket (what `NOTIFY_SOCKET` names), runs the
//! `notifysvc` binary under it, and reads what the program sends:
//! `READY=1` only once its `ready = manual` service says so, `STATUS=` with
//! the counts, `WATCHDOG=1` at half the watchdog interval, `STOPPING=1` with
//! `EXTEND_TIMEOUT_USEC` after SIGTERM, and exit code 0.

#![cfg(unix)]

use std::io::{BufRead, BufReader, Write};
use std::os::unix::net::UnixDatagram;
use std::path::PathBuf;
use std::process::{Child, ChildStdin, Command, Stdio};
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Bound on every wait for the program: start-up, a loaded CI machine. A
/// hang fails the test instead of blocking the suite.
const SLACK: Duration = Duration::from_secs(10);

/// The watchdog interval the test announces: 200 ms, so pings every 100 ms.
const WATCHDOG_USEC: &str = "200000";

/// `notifysvc`'s shutdown timeout (its `SHUTDOWN_TIMEOUT`).
const SHUTDOWN_TIMEOUT: Duration = Duration::from_secs(2);

/// The service manager's end: a datagram socket bound in a directory of
/// its own, read on a thread that stamps each message with when it came.
struct FakeSystemd {
    dir: PathBuf,
    path: PathBuf,
    messages: mpsc::Receiver<(Instant, String)>,
}

impl FakeSystemd {
    fn new() -> FakeSystemd {
        static NEXT: AtomicU32 = AtomicU32::new(0);
        let dir = std::env::temp_dir().join(format!(
            "supervisor-notify-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("a temporary directory");
        let path = dir.join("notify.sock");
        let socket = UnixDatagram::bind(&path).expect("binding the notify socket");
        socket
            .set_read_timeout(Some(Duration::from_millis(50)))
            .expect("a read timeout");
        let (tx, messages) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = vec![0u8; 4096];
            loop {
                match socket.recv(&mut buf) {
                    Ok(n) => {
                        let text = String::from_utf8_lossy(&buf[..n]).into_owned();
                        if tx.send((Instant::now(), text)).is_err() {
                            return;
                        }
                    }
                    // Timed out: look whether the test still listens.
                    Err(_) => {
                        if tx.send((Instant::now(), String::new())).is_err() {
                            return;
                        }
                    }
                }
            }
        });
        FakeSystemd {
            dir,
            path,
            messages,
        }
    }

    /// The next datagram that came within `within` (each is one or more
    /// `KEY=VALUE` lines), or `None`.
    fn next_within(&self, within: Duration) -> Option<(Instant, String)> {
        let deadline = Instant::now() + within;
        loop {
            let left = deadline.checked_duration_since(Instant::now())?;
            match self.messages.recv_timeout(left) {
                Ok((_, text)) if text.is_empty() => continue, // the reader's heartbeat
                Ok(message) => return Some(message),
                Err(_) => return None,
            }
        }
    }

    /// Every datagram up to the first that holds `line`, which must come
    /// within `within`; the last one returned holds it.
    fn until(&self, line: &str, within: Duration) -> Vec<(Instant, String)> {
        let deadline = Instant::now() + within;
        let mut seen = Vec::new();
        loop {
            let left = deadline.saturating_duration_since(Instant::now());
            match self.next_within(left) {
                Some(message) => {
                    let found = has_line(&message.1, line);
                    seen.push(message);
                    if found {
                        return seen;
                    }
                }
                None => panic!("no `{line}` within {within:?}; received {seen:?}"),
            }
        }
    }

    /// Every datagram that comes within `window`.
    fn during(&self, window: Duration) -> Vec<(Instant, String)> {
        let end = Instant::now() + window;
        let mut seen = Vec::new();
        while let Some(message) = self.next_within(end.saturating_duration_since(Instant::now())) {
            seen.push(message);
        }
        seen
    }
}

impl Drop for FakeSystemd {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.dir);
    }
}

/// Whether a datagram has the line `line` (`KEY=VALUE`, or a prefix of one
/// ending in `=`).
fn has_line(datagram: &str, line: &str) -> bool {
    datagram.lines().any(|l| {
        if line.ends_with('=') {
            l.starts_with(line)
        } else {
            l == line
        }
    })
}

/// The value of `KEY=` in a datagram.
fn value<'a>(datagram: &'a str, key: &str) -> Option<&'a str> {
    datagram
        .lines()
        .find_map(|l| l.strip_prefix(key)?.strip_prefix('='))
}

/// A running `notifysvc`.
struct Program {
    child: Child,
    stdin: Option<ChildStdin>,
    lines: mpsc::Receiver<String>,
}

/// How the test starts `notifysvc`.
enum Watchdog {
    /// No `WATCHDOG_USEC`.
    Off,
    /// `WATCHDOG_USEC`, and `WATCHDOG_PID` set to the program's own pid, as
    /// systemd does: a shell exports its pid, then `exec`s the program,
    /// which keeps that pid.
    ForProgram,
    /// `WATCHDOG_USEC`, and `WATCHDOG_PID` naming another process (this
    /// test): the watchdog is not the program's.
    ForOther,
}

impl Program {
    fn start(notify_socket: Option<&FakeSystemd>, watchdog: Watchdog, systemd: bool) -> Program {
        Program::start_only("gate,worker", notify_socket, watchdog, systemd)
    }

    fn start_only(
        only: &str,
        notify_socket: Option<&FakeSystemd>,
        watchdog: Watchdog,
        systemd: bool,
    ) -> Program {
        let binary = env!("CARGO_BIN_EXE_notifysvc");
        let mut command = match watchdog {
            Watchdog::ForProgram => {
                let mut shell = Command::new("/bin/sh");
                shell
                    .arg("-c")
                    .arg(r#"export WATCHDOG_PID=$$; exec "$0""#)
                    .arg(binary);
                shell
            }
            Watchdog::Off | Watchdog::ForOther => Command::new(binary),
        };
        command
            .env_remove("NOTIFY_SOCKET")
            .env_remove("WATCHDOG_USEC")
            .env_remove("WATCHDOG_PID")
            .env("RUST_BACKTRACE", "0")
            .env("NOTIFYSVC_ONLY", only)
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit());
        if let Some(systemd) = notify_socket {
            command.env("NOTIFY_SOCKET", &systemd.path);
        }
        match watchdog {
            Watchdog::Off => {}
            Watchdog::ForProgram => {
                command.env("WATCHDOG_USEC", WATCHDOG_USEC);
            }
            Watchdog::ForOther => {
                command
                    .env("WATCHDOG_USEC", WATCHDOG_USEC)
                    .env("WATCHDOG_PID", std::process::id().to_string());
            }
        }
        if !systemd {
            command.env("NOTIFYSVC_SYSTEMD", "off");
        }
        let mut child = command.spawn().expect("notifysvc starts");
        let stdin = child.stdin.take();
        let stdout = child.stdout.take().expect("stdout is piped");
        let (tx, lines) = mpsc::channel();
        std::thread::spawn(move || {
            for line in BufReader::new(stdout).lines().map_while(Result::ok) {
                let _ = tx.send(line);
            }
        });
        Program {
            child,
            stdin,
            lines,
        }
    }

    /// Waits for the program's next line on stdout, which must be `expected`.
    fn expect_line(&mut self, expected: &str) {
        match self.lines.recv_timeout(SLACK) {
            Ok(line) => assert_eq!(line, expected, "notifysvc's next line"),
            Err(err) => {
                self.kill();
                panic!("notifysvc printed no `{expected}` line within {SLACK:?}: {err}");
            }
        }
    }

    /// Lets the `gate` service become ready.
    fn open_gate(&mut self) {
        let stdin = self.stdin.as_mut().expect("stdin is piped");
        stdin.write_all(b"go\n").expect("writing to notifysvc");
        stdin.flush().expect("flushing notifysvc's stdin");
    }

    fn sigterm(&self) {
        let pid = libc::pid_t::try_from(self.child.id()).expect("pid fits");
        // A plain FFI call on a child we own.
        let rc = unsafe { libc::kill(pid, libc::SIGTERM) };
        assert_eq!(rc, 0, "kill({pid}, SIGTERM) failed");
    }

    /// Waits for the exit (stdin closed first); returns the exit code.
    fn exit_code(mut self) -> Option<i32> {
        drop(self.stdin.take());
        let deadline = Instant::now() + SLACK;
        loop {
            if let Some(status) = self.child.try_wait().expect("waiting for notifysvc") {
                return status.code();
            }
            if Instant::now() > deadline {
                self.kill();
                panic!("notifysvc did not exit within {SLACK:?}");
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

#[test]
fn ready_status_watchdog_and_stopping_reach_systemd() {
    let systemd = FakeSystemd::new();
    let mut program = Program::start(Some(&systemd), Watchdog::ForProgram, true);
    program.expect_line("gate waiting");

    // The supervisor's loop turns (each ping is one turn, and each turn
    // looks at readiness), but `gate` is not ready: no READY=1.
    let mut before_gate = Vec::new();
    for _ in 0..3 {
        before_gate.extend(systemd.until("WATCHDOG=1", SLACK));
    }
    assert!(
        !before_gate.iter().any(|(_, m)| has_line(m, "READY=1")),
        "READY=1 came before the manual service was ready: {before_gate:?}"
    );
    let status = before_gate
        .iter()
        .find_map(|(_, m)| value(m, "STATUS"))
        .unwrap_or_else(|| panic!("no STATUS= before READY=1: {before_gate:?}"));
    assert_eq!(status, "starting: 2 running, 0 restarting, 0 failed");

    program.open_gate();
    program.expect_line("gate ready");
    let until_ready = systemd.until("READY=1", SLACK);

    // The watchdog: pinged at about half of 200 ms, by the program's own loop.
    let window = Duration::from_secs(1);
    let during = systemd.during(window);
    let pings: Vec<Instant> = during
        .iter()
        .filter(|(_, m)| has_line(m, "WATCHDOG=1"))
        .map(|(at, _)| *at)
        .collect();
    assert!(
        pings.len() >= 3,
        "{} pings in {window:?}: {during:?}",
        pings.len()
    );
    let gaps: Vec<Duration> = pings.windows(2).map(|w| w[1] - w[0]).collect();
    assert!(
        gaps.iter().all(|gap| *gap <= Duration::from_millis(400)),
        "a gap between pings longer than 400 ms: {gaps:?}"
    );
    let mean = gaps.iter().sum::<Duration>() / u32::try_from(gaps.len()).expect("a few gaps");
    assert!(
        (Duration::from_millis(50)..=Duration::from_millis(200)).contains(&mean),
        "pings every {mean:?} on average, for a 100 ms interval: {gaps:?}"
    );
    let mut all: Vec<String> = [before_gate, until_ready, during]
        .into_iter()
        .flatten()
        .map(|(_, m)| m)
        .collect();
    // The counts without "starting: ", at the first look (once a second)
    // after READY=1.
    let ready_status = "STATUS=2 running, 0 restarting, 0 failed";
    if !all.iter().any(|m| has_line(m, ready_status)) {
        all.extend(
            systemd
                .until(ready_status, SLACK)
                .into_iter()
                .map(|(_, m)| m),
        );
    }

    program.sigterm();
    let until_stopping = systemd.until("STOPPING=1", SLACK);
    let stopping = &until_stopping.last().expect("the STOPPING=1 datagram").1;
    let extend: u64 = value(stopping, "EXTEND_TIMEOUT_USEC")
        .unwrap_or_else(|| panic!("STOPPING=1 without EXTEND_TIMEOUT_USEC: {stopping:?}"))
        .parse()
        .expect("EXTEND_TIMEOUT_USEC is a number");
    assert!(
        extend > u64::try_from(SHUTDOWN_TIMEOUT.as_micros()).expect("fits"),
        "EXTEND_TIMEOUT_USEC={extend} does not cover the {SHUTDOWN_TIMEOUT:?} shutdown timeout"
    );
    assert_eq!(program.exit_code(), Some(0), "a clean stop exits 0");

    // Everything the program sent, in order: one READY=1, then STOPPING=1.
    let mut everything = all;
    everything.extend(until_stopping.into_iter().map(|(_, m)| m));
    everything.extend(systemd.during(Duration::ZERO).into_iter().map(|(_, m)| m));
    let ready_at = everything.iter().position(|m| has_line(m, "READY=1"));
    let stopping_at = everything.iter().position(|m| has_line(m, "STOPPING=1"));
    assert!(ready_at < stopping_at, "{everything:?}");
    assert_eq!(
        everything.iter().filter(|m| has_line(m, "READY=1")).count(),
        1,
        "READY=1 once: {everything:?}"
    );
}

#[test]
fn a_watchdog_meant_for_another_process_is_not_pinged() {
    let systemd = FakeSystemd::new();
    let mut program = Program::start(Some(&systemd), Watchdog::ForOther, true);
    program.expect_line("gate waiting");
    program.open_gate();
    program.expect_line("gate ready");
    let mut seen = systemd.until("READY=1", SLACK);
    program.sigterm();
    seen.extend(systemd.until("STOPPING=1", SLACK));
    assert_eq!(program.exit_code(), Some(0));
    // A watchdog would have been pinged at once, when `run` began.
    seen.extend(systemd.during(Duration::ZERO));
    assert!(
        !seen.iter().any(|(_, m)| has_line(m, "WATCHDOG=1")),
        "WATCHDOG_PID names another process, yet: {seen:?}"
    );
}

#[test]
fn systemd_false_sends_nothing() {
    let systemd = FakeSystemd::new();
    let mut program = Program::start(Some(&systemd), Watchdog::ForProgram, false);
    program.expect_line("gate waiting");
    program.open_gate();
    program.expect_line("gate ready");
    program.sigterm();
    assert_eq!(program.exit_code(), Some(0));
    // The program has exited, so whatever it sent waits in the socket's
    // queue already; the reader needs a moment to take it out.
    let sent = systemd.during(Duration::from_millis(100));
    assert!(sent.is_empty(), "Builder::systemd(false), yet: {sent:?}");
}

#[test]
fn without_notify_socket_the_program_runs_and_exits_zero() {
    let mut program = Program::start(None, Watchdog::Off, true);
    program.expect_line("gate waiting");
    program.open_gate();
    program.expect_line("gate ready");
    program.sigterm();
    assert_eq!(program.exit_code(), Some(0));
}

#[test]
fn a_program_that_ends_by_itself_says_stopping_too() {
    let systemd = FakeSystemd::new();
    let program = Program::start_only("quick", Some(&systemd), Watchdog::Off, true);
    // `quick` returns at once: ready (completed), then nothing is active, so
    // `run` shuts down, in the same turn of its loop.
    let mut seen = systemd.until("READY=1", SLACK);
    seen.extend(systemd.until("STOPPING=1", SLACK));
    assert_eq!(program.exit_code(), Some(0), "{seen:?}");
}

#[test]
fn a_stalled_supervisor_stops_pinging() {
    let systemd = FakeSystemd::new();
    let mut program = Program::start_only("hog", Some(&systemd), Watchdog::ForProgram, true);
    program.expect_line("hog blocking");
    program.expect_line("hog done");
    // Every datagram until a ping well after the stall (pings resume every
    // 100 ms once the thread is free).
    let after = Instant::now() + Duration::from_millis(150);
    let mut seen = Vec::new();
    while !seen
        .iter()
        .any(|(at, m): &(Instant, String)| *at > after && has_line(m, "WATCHDOG=1"))
    {
        seen.extend(systemd.until("WATCHDOG=1", SLACK));
    }
    program.sigterm();
    assert_eq!(program.exit_code(), Some(0));
    let pings: Vec<Instant> = seen
        .iter()
        .filter(|(_, m)| has_line(m, "WATCHDOG=1"))
        .map(|(at, _)| *at)
        .collect();
    let longest = pings
        .windows(2)
        .map(|w| w[1] - w[0])
        .max()
        .expect("two pings at least");
    // The runtime's thread was blocked for 700 ms: a ping from a timer
    // thread of its own would have gone on every 100 ms.
    assert!(
        longest >= Duration::from_millis(500),
        "pings went on while the supervisor's thread was blocked (longest gap {longest:?}): {seen:?}"
    );
}
