//! What the snapshot says about each service.

use std::fmt;
use std::sync::Arc;
use std::time::{Duration, Instant};

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
#[derive(Clone, Debug, PartialEq, Eq)]
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
/// last failure, as in the table the supervisor prints.
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
#[derive(Clone, Debug)]
#[non_exhaustive]
pub struct ServiceSnapshot {
    /// The service's name.
    pub name: Arc<str>,
    /// Where it is in its life.
    pub status: Status,
    /// How many times it was restarted (over its lifetime).
    pub restarts: u32,
    /// When the current (or last) run started.
    pub started_at: Instant,
    /// How long the current run has been up, or how long the last run lasted
    /// (up to the moment shutdown began, for one stopped by shutdown).
    pub uptime: Duration,
    /// The reason of the most recent failure, even if it was restarted since.
    pub last_failure: Option<String>,
}

/// The narrowest name and status columns; wider content widens them.
const NAME_WIDTH: usize = 20;
const STATUS_WIDTH: usize = 18;

impl ServiceSnapshot {
    /// The status column's text: a failure's reason goes to the last column.
    fn status_words(&self) -> String {
        match &self.status {
            Status::Failed { .. } => "failed".to_string(),
            other => other.to_string(),
        }
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
                &self.name,
                &self.status_words(),
                &self.restarts.to_string(),
                &format_uptime(self.uptime),
                &one_line(failure),
            ],
        )
    }
}

impl fmt::Display for ServiceSnapshot {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let widths = (
            NAME_WIDTH.max(self.name.chars().count()),
            STATUS_WIDTH.max(self.status_words().chars().count()),
        );
        self.write_row(f, widths)
    }
}

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

/// Writes `cell`, then spaces up to `width` columns.
///
/// The padding is written out rather than asked of the formatter with
/// `{:<width$}`: a runtime width above `u16::MAX` makes `fmt` panic, and a
/// name may be longer than that.
fn write_padded(f: &mut fmt::Formatter<'_>, cell: &str, width: usize) -> fmt::Result {
    const SPACES: &str = "                                                                ";
    f.write_str(cell)?;
    let mut missing = width.saturating_sub(cell.chars().count());
    while missing > 0 {
        let n = missing.min(SPACES.len());
        f.write_str(&SPACES[..n])?;
        missing -= n;
    }
    Ok(())
}

/// Renders rows as a table: a header, then one line per row, the name and
/// status columns as wide as their widest cell.
pub(crate) fn write_table(f: &mut fmt::Formatter<'_>, rows: &[ServiceSnapshot]) -> fmt::Result {
    let widths = rows.iter().fold((NAME_WIDTH, STATUS_WIDTH), |(n, s), row| {
        (
            n.max(row.name.chars().count()),
            s.max(row.status_words().chars().count()),
        )
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

/// Keeps a multi-line reason on one row, and a long one short.
fn one_line(text: &str) -> String {
    const MAX: usize = 60;
    let line = text.lines().next().unwrap_or("");
    let mut out: String = line.chars().take(MAX).collect();
    if line.chars().count() > MAX || text.lines().nth(1).is_some() {
        out.push('…');
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

    #[test]
    fn long_reasons_are_cut_to_one_line() {
        assert_eq!(one_line("a\nb"), "a…");
        assert_eq!(one_line(&"x".repeat(61)).chars().count(), 61);
    }
}
