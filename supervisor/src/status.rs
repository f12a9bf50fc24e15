//! What the snapshot says about each service.

use std::borrow::Cow;
use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

use unicode_width::UnicodeWidthStr;

/// Where a service is in its life.
///
/// `Queued`, `Running` and `Restarting` are *active*: they count in
/// [`Supervisor::active_count`](crate::Supervisor::active_count). The others
/// are final.
///
/// # Examples
///
/// ```
/// use supervisor::Status;
///
/// let status = Status::Restarting { attempt: 2, max: 3 };
/// assert!(status.is_active());
/// assert_eq!(status.to_string(), "restarting (2/3)");
/// assert_eq!(Status::Failed { reason: "boom".into() }.to_string(), "failed: boom");
/// ```
///
/// # Serialization
///
/// With the `serde` feature, a status serializes as its lowercase word, and
/// the two that carry data as a map from that word to their fields:
///
/// ```
/// # #[cfg(feature = "serde")] {
/// use supervisor::Status;
///
/// assert_eq!(serde_json::to_string(&Status::Running).unwrap(), r#""running""#);
/// assert_eq!(
///     serde_json::to_string(&Status::Restarting { attempt: 2, max: 3 }).unwrap(),
///     r#"{"restarting":{"attempt":2,"max":3}}"#,
/// );
/// assert_eq!(
///     serde_json::to_string(&Status::Failed { reason: "boom".into() }).unwrap(),
///     r#"{"failed":{"reason":"boom"}}"#,
/// );
/// # }
/// ```
#[derive(Clone, Debug, PartialEq, Eq)]
#[cfg_attr(
    feature = "serde",
    derive(serde::Serialize),
    serde(rename_all = "lowercase")
)]
#[non_exhaustive]
pub enum Status {
    /// Waiting for a slot (blocking jobs: at most 8 run at once).
    Queued,
    /// Running now.
    Running,
    /// Waiting out the backoff delay before restart number `attempt` (1-based)
    /// of the current streak of consecutive failures; `max` is the policy's MAX.
    Restarting {
        /// The 1-based number of the restart being waited for.
        attempt: u32,
        /// The most restarts the policy allows in a row.
        max: u32,
    },
    /// Returned on its own before shutdown.
    Completed,
    /// Returned (or was dropped, or left its backoff delay) after shutdown was requested.
    Stopped,
    /// Forced to end: still running after the shutdown timeout or a second
    /// signal, or aborted on request.
    Aborted,
    /// Failed (panic or `Err`) with no restart left, or `restart = never`.
    Failed {
        /// The panic message or the error's text.
        reason: String,
    },
}

impl Status {
    /// Whether the service is `Queued`, `Running` or `Restarting`.
    pub fn is_active(&self) -> bool {
        matches!(
            self,
            Status::Queued | Status::Running | Status::Restarting { .. }
        )
    }

    /// The status as one lowercase word, without its data: `running`,
    /// `restarting`, `failed` ...
    #[cfg_attr(not(feature = "http"), allow(dead_code))]
    pub(crate) fn word(&self) -> &'static str {
        match self {
            Status::Queued => "queued",
            Status::Running => "running",
            Status::Restarting { .. } => "restarting",
            Status::Completed => "completed",
            Status::Stopped => "stopped",
            Status::Aborted => "aborted",
            Status::Failed { .. } => "failed",
        }
    }
}

/// How many rows are in each status: what systemd's `STATUS=` line says.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
#[cfg_attr(not(all(unix, feature = "systemd")), allow(dead_code))]
pub(crate) struct Tally {
    pub(crate) queued: usize,
    pub(crate) running: usize,
    pub(crate) restarting: usize,
    pub(crate) failed: usize,
    /// Completed, stopped or aborted.
    pub(crate) ended: usize,
}

#[cfg_attr(not(all(unix, feature = "systemd")), allow(dead_code))]
impl Tally {
    /// Counts one row.
    pub(crate) fn add(&mut self, status: &Status) {
        let count = match status {
            Status::Queued => &mut self.queued,
            Status::Running => &mut self.running,
            Status::Restarting { .. } => &mut self.restarting,
            Status::Failed { .. } => &mut self.failed,
            Status::Completed | Status::Stopped | Status::Aborted => &mut self.ended,
        };
        *count += 1;
    }
}

/// `12 running, 1 restarting, 0 failed`, then `, 3 queued` when some are.
impl fmt::Display for Tally {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(
            f,
            "{} running, {} restarting, {} failed",
            self.running, self.restarting, self.failed
        )?;
        if self.queued > 0 {
            write!(f, ", {} queued", self.queued)?;
        }
        Ok(())
    }
}

impl fmt::Display for Status {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Status::Queued => f.write_str("queued"),
            Status::Running => f.write_str("running"),
            Status::Restarting { attempt, max } => write!(f, "restarting ({attempt}/{max})"),
            Status::Completed => f.write_str("completed"),
            Status::Stopped => f.write_str("stopped"),
            Status::Aborted => f.write_str("aborted"),
            Status::Failed { reason } => write!(f, "failed: {reason}"),
        }
    }
}

/// One row of [`Supervisor::snapshot`](crate::Supervisor::snapshot): the
/// latest instance under a name.
///
/// Its `Display` is one aligned row: name, status, restarts, uptime and the
/// last failure, as in the table the supervisor prints. Control characters in
/// the name and the failure text are shown as escapes (`\n`, `\u{1b}`), so a
/// row is always one line, and columns are padded to terminal columns, so
/// wide characters (CJK, emoji) keep them aligned.
///
/// # Examples
///
/// ```
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), supervisor::Error> {
/// use supervisor::{Builder, Status};
///
/// #[supervisor::supervised]
/// async fn once() {}
///
/// let sup = Builder::new().only(["once"]).start()?;
/// sup.wait().await;
/// let row = &sup.snapshot()[0];
/// assert_eq!(&*row.name, "once");
/// assert_eq!(row.status, Status::Completed);
/// println!("{row}");
/// # Ok(()) }
/// ```
///
/// # Serialization
///
/// With the `serde` feature, a row serializes as a map of its fields, except
/// `started_at`: an [`Instant`] means nothing outside the process, so it is
/// left out. `uptime` becomes `uptime_ms`, whole milliseconds.
///
/// ```
/// # #[cfg(feature = "serde")]
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), supervisor::Error> {
/// #[supervisor::supervised(name = "serialized")]
/// async fn serialized() {}
///
/// let sup = supervisor::Builder::new().only(["serialized"]).start()?;
/// sup.wait().await;
/// let row = serde_json::to_value(&sup.snapshot()[0]).unwrap();
/// assert_eq!(row["name"], "serialized");
/// assert_eq!(row["status"], "completed");
/// assert_eq!(row["restarts"], 0);
/// assert!(row["uptime_ms"].is_u64());
/// assert!(row["last_failure"].is_null());
/// assert_eq!(row["ready"], true);
/// assert!(row.get("started_at").is_none());
/// # Ok(()) }
/// # #[cfg(not(feature = "serde"))]
/// # fn main() {}
/// ```
#[derive(Clone, Debug)]
#[cfg_attr(feature = "serde", derive(serde::Serialize))]
#[non_exhaustive]
pub struct ServiceSnapshot {
    /// The service's name.
    pub name: Arc<str>,
    /// Where it is in its life.
    pub status: Status,
    /// How many times it was restarted (over its lifetime).
    pub restarts: u32,
    /// When the current (or last) run started.
    #[cfg_attr(feature = "serde", serde(skip))]
    pub started_at: Instant,
    /// How long the current run has been up, or how long the last run lasted
    /// (up to the moment shutdown began, for one stopped by shutdown).
    #[cfg_attr(
        feature = "serde",
        serde(rename = "uptime_ms", serialize_with = "as_millis")
    )]
    pub uptime: Duration,
    /// The reason of the most recent failure, even if it was restarted since.
    pub last_failure: Option<String>,
    /// Whether it is ready as its `ready = ...` says: never while `Queued`
    /// or `Restarting`, nor once `Failed`, `Stopped` or `Aborted`; always
    /// once `Completed`.
    pub ready: bool,
}

/// A change of one row, as [`Supervisor::subscribe`](crate::Supervisor::subscribe)
/// reports it: a new status, or a change of readiness.
///
/// # Examples
///
/// ```
/// use supervisor::{Builder, Event, RestartPolicy, Status, TaskDescriptor};
///
/// # #[tokio::main(flavor = "current_thread")]
/// # async fn main() -> Result<(), Box<dyn std::error::Error>> {
/// let sup = Builder::new().only(Vec::<String>::new()).start()?;
/// let mut events = sup.subscribe();
/// sup.spawn(TaskDescriptor::new("once", RestartPolicy::Never, |_ctx| async {
///     Ok::<(), std::io::Error>(())
/// }))?;
/// let Event { name, status, .. } = events.recv().await?;
/// assert_eq!((&*name, status), ("once", Status::Running));
/// assert_eq!(events.recv().await?.status, Status::Completed);
/// # Ok(()) }
/// ```
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct Event {
    /// The row's name.
    pub name: Arc<str>,
    /// Its status after the change.
    pub status: Status,
    /// Its readiness after the change.
    pub ready: bool,
    /// When the change happened.
    pub at: Instant,
}

/// A duration as whole milliseconds (`u64::MAX` past half a billion years).
#[cfg(feature = "serde")]
fn as_millis<S: serde::Serializer>(duration: &Duration, serializer: S) -> Result<S::Ok, S::Error> {
    serializer.serialize_u64(millis(*duration))
}

/// A duration as whole milliseconds, saturating.
#[cfg_attr(not(any(feature = "serde", feature = "http")), allow(dead_code))]
pub(crate) fn millis(duration: Duration) -> u64 {
    u64::try_from(duration.as_millis()).unwrap_or(u64::MAX)
}

/// The narrowest name and status columns, in terminal columns; wider content
/// widens them.
const NAME_WIDTH: usize = 20;
const STATUS_WIDTH: usize = 18;

impl ServiceSnapshot {
    /// The name as the table shows it: control characters escaped.
    fn name_cell(&self) -> Cow<'_, str> {
        escape_controls(&self.name)
    }

    /// The status column's text: a failure's reason goes to the last column.
    pub(crate) fn status_words(&self) -> String {
        match &self.status {
            Status::Failed { .. } => "failed".to_string(),
            other => other.to_string(),
        }
    }

    /// The terminal columns the name and status cells take in this row.
    fn widths(&self) -> (usize, usize) {
        (self.name_cell().width(), self.status_words().width())
    }

    fn write_row(&self, f: &mut fmt::Formatter<'_>, widths: (usize, usize)) -> fmt::Result {
        let failure = match (&self.status, &self.last_failure) {
            (Status::Failed { reason }, _) => reason.as_str(),
            (_, Some(reason)) => reason.as_str(),
            (_, None) => "-",
        };
        write_columns(
            f,
            widths,
            [
                &self.name_cell(),
                &self.status_words(),
                &self.restarts.to_string(),
                &format_uptime(self.uptime),
                &failure_cell(failure),
            ],
        )
    }
}

impl fmt::Display for ServiceSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let (name, status) = self.widths();
        self.write_row(f, (NAME_WIDTH.max(name), STATUS_WIDTH.max(status)))
    }
}

/// Writes one line of the table. The name and status cells are padded to
/// the given widths (terminal columns); every cell is already free of
/// control characters.
fn write_columns(
    f: &mut fmt::Formatter<'_>,
    (name_width, status_width): (usize, usize),
    [name, status, restarts, uptime, failure]: [&str; 5],
) -> fmt::Result {
    write_padded(f, name, name_width)?;
    f.write_str(" ")?;
    write_padded(f, status, status_width)?;
    write!(f, " {restarts:>8} {uptime:>10}  {failure}")
}

/// Writes `cell`, then spaces up to `width` terminal columns.
///
/// The padding is written out rather than asked of the formatter with
/// `{:<width$}`: a runtime width above `u16::MAX` makes `fmt` panic, and a
/// name may be longer than that. The formatter would also count chars, not
/// columns.
fn write_padded(f: &mut fmt::Formatter<'_>, cell: &str, width: usize) -> fmt::Result {
    const SPACES: &str = "                                                                ";
    f.write_str(cell)?;
    let mut missing = width.saturating_sub(cell.width());
    while missing > 0 {
        let n = missing.min(SPACES.len());
        f.write_str(&SPACES[..n])?;
        missing -= n;
    }
    Ok(())
}

/// Renders rows as a table: a header, then one line per row, the name and
/// status columns as wide as their widest cell (in terminal columns).
pub(crate) fn write_table(f: &mut fmt::Formatter<'_>, rows: &[ServiceSnapshot]) -> fmt::Result {
    let widths = rows.iter().fold((NAME_WIDTH, STATUS_WIDTH), |(n, s), row| {
        let (name, status) = row.widths();
        (n.max(name), s.max(status))
    });
    write_columns(
        f,
        widths,
        ["NAME", "STATUS", "RESTARTS", "UPTIME", "LAST FAILURE"],
    )?;
    for row in rows {
        f.write_str("\n")?;
        row.write_row(f, widths)?;
    }
    f.write_str("\n")
}

/// `1h02m`, `3m07s`, `12.4s`: short and readable.
fn format_uptime(d: Duration) -> String {
    let secs = d.as_secs();
    if secs >= 3600 {
        format!("{}h{:02}m", secs / 3600, (secs % 3600) / 60)
    } else if secs >= 60 {
        format!("{}m{:02}s", secs / 60, secs % 60)
    } else {
        format!("{:.1}s", d.as_secs_f64())
    }
}

/// Shows the control characters of `text` as Rust escapes (`\n`, `\t`,
/// `\u{1b}`), so that a cell is one line and no terminal sequence (colours,
/// cursor moves, clearing the screen) gets through; all other characters,
/// Unicode included, stay as they are. Borrows when there is nothing to escape.
fn escape_controls(text: &str) -> Cow<'_, str> {
    if !text.chars().any(char::is_control) {
        return Cow::Borrowed(text);
    }
    let mut out = String::with_capacity(text.len() + 8);
    for c in text.chars() {
        push_shown(&mut out, c);
    }
    Cow::Owned(out)
}

/// Appends `c`, escaped if it is a control character.
fn push_shown(out: &mut String, c: char) {
    if c.is_control() {
        out.extend(c.escape_default());
    } else {
        out.push(c);
    }
}

/// The last column: the failure's text escaped (see [`escape_controls`]),
/// cut to at most 60 terminal columns, with `…` when something was left out.
fn failure_cell(text: &str) -> String {
    const MAX: usize = 60;
    let mut out = String::new();
    let mut width = 0;
    let mut piece = String::new();
    for c in text.chars() {
        piece.clear();
        push_shown(&mut piece, c);
        let piece_width = piece.width();
        if width + piece_width > MAX {
            out.push('…');
            break;
        }
        width += piece_width;
        out.push_str(&piece);
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn uptime_formats() {
        assert_eq!(format_uptime(Duration::from_millis(12_400)), "12.4s");
        assert_eq!(format_uptime(Duration::from_secs(187)), "3m07s");
        assert_eq!(format_uptime(Duration::from_secs(3720)), "1h02m");
    }

    /// A row as the supervisor would make it; tests outside the crate cannot
    /// build one (`#[non_exhaustive]`), nor a supervisor with such names.
    fn snapshot(name: &str, status: Status, last_failure: Option<&str>) -> ServiceSnapshot {
        ServiceSnapshot {
            name: name.into(),
            status,
            restarts: 0,
            started_at: Instant::now(),
            uptime: Duration::from_millis(1_500),
            last_failure: last_failure.map(str::to_owned),
            ready: false,
        }
    }

    /// `write_table` as a `Display`.
    struct Table<'a>(&'a [ServiceSnapshot]);

    impl fmt::Display for Table<'_> {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            write_table(f, self.0)
        }
    }

    /// The terminal column where `line`'s status cell starts. `name` is how
    /// the name cell reads; it may hold spaces.
    fn status_column(line: &str, name: &str) -> usize {
        assert!(line.starts_with(name), "{line:?} starts with {name:?}");
        let after = &line[name.len()..];
        let padding = after.len() - after.trim_start_matches(' ').len();
        line[..name.len() + padding].width()
    }

    #[test]
    fn long_reasons_are_cut_to_one_line() {
        assert_eq!(failure_cell(&"x".repeat(60)), "x".repeat(60));
        assert_eq!(
            failure_cell(&"x".repeat(61)),
            format!("{}…", "x".repeat(60))
        );
        // Cut by columns, and never inside an escape.
        assert_eq!(
            failure_cell(&"数".repeat(31)),
            format!("{}…", "数".repeat(30))
        );
        let cut = failure_cell(&format!("{}\n", "x".repeat(59)));
        assert_eq!(cut, format!("{}…", "x".repeat(59)));
    }

    #[test]
    fn control_characters_are_escaped_and_nothing_else() {
        assert_eq!(
            escape_controls("a\nb\r\t\0\u{1b}[31mc\u{7f}\u{9b}"),
            r"a\nb\r\t\u{0}\u{1b}[31mc\u{7f}\u{9b}"
        );
        assert!(matches!(
            escape_controls("数据库-🚀-é"),
            Cow::Borrowed("数据库-🚀-é")
        ));
        assert_eq!(failure_cell("one\ntwo"), r"one\ntwo");
    }

    #[test]
    fn a_row_escapes_its_name_and_reason() {
        let row = snapshot(
            "evil\n\u{1b}[2Jname",
            Status::Failed {
                reason: "bad\r\n\u{1b}[31mred".into(),
            },
            Some("bad\r\n\u{1b}[31mred"),
        );
        let text = row.to_string();
        assert!(!text.chars().any(char::is_control), "{text:?}");
        assert!(text.starts_with(r"evil\n\u{1b}[2Jname "), "{text:?}");
        assert!(text.ends_with(r"bad\r\n\u{1b}[31mred"), "{text:?}");
        assert_eq!(status_column(&text, r"evil\n\u{1b}[2Jname"), 21, "{text:?}");
    }

    #[test]
    fn the_table_escapes_names_and_aligns_by_terminal_columns() {
        let names = [
            "plain",
            "数据库",
            "🚀launch",
            "e\u{301}te\u{301}",
            "nl\nname",
            "\u{1b}[31mred-alert\u{1b}[0m",
            "nul\0",
            "a-name-of-twenty-six-chars",
        ];
        let rows: Vec<_> = names
            .iter()
            .map(|name| snapshot(name, Status::Running, Some("x\ny")))
            .collect();
        let table = Table(&rows).to_string();
        assert!(
            !table.replace('\n', "").chars().any(char::is_control),
            "{table:?}"
        );
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), names.len() + 1, "{table}");
        // The widest name is the escaped `\u{1b}[31mred-alert\u{1b}[0m`: 28
        // columns (its raw text has 20 chars, fewer than the ASCII name's 26).
        assert_eq!(status_column(lines[0], "NAME"), 29, "{table}");
        for (line, name) in lines[1..].iter().zip(names) {
            let shown = escape_controls(name);
            assert_eq!(status_column(line, &shown), 29, "{name:?}:\n{table}");
            assert!(line.ends_with(r"x\ny"), "{line:?}");
            // Its own row pads to 20 columns or the name's width.
            let own = rows[names.iter().position(|n| *n == name).unwrap()].to_string();
            assert_eq!(status_column(&own, &shown), 21.max(shown.width() + 1));
        }
    }
}
