//! How the status reads: a `ServiceSnapshot` is one aligned row, the
//! `Supervisor` a table with a header and one row per service.
//!
//! Most names here are ASCII, so byte offsets are column offsets; the test
//! of wide characters measures terminal columns with `unicode-width`.

use std::time::Duration;

use supervisor::{RestartPolicy, Status, Supervisor, TaskDescriptor};
use tests::{backoff, names, row, spawn_completing, spawn_failing, spawn_idle, start_empty};

/// A supervisor whose rows show every kind of status, on the paused clock.
async fn varied(prefix: &str) -> Supervisor {
    let sup = start_empty();
    spawn_idle(&sup, &format!("{prefix}-running"));
    // Failed twice, restarted twice, now running: restarts 2, a last failure.
    sup.spawn(TaskDescriptor::new(
        format!("{prefix}-restarted"),
        backoff(5, Duration::ZERO),
        |ctx| async move {
            if ctx.attempt() < 2 {
                return Err(format!("flaky run {}", ctx.attempt()));
            }
            ctx.cancelled().await;
            Ok(())
        },
    ))
    .expect("spawn");
    spawn_failing(
        &sup,
        &format!("{prefix}-restarting"),
        backoff(3, Duration::from_secs(3600)),
        "upstream refused",
    );
    spawn_failing(
        &sup,
        &format!("{prefix}-failed"),
        RestartPolicy::Never,
        "disk full",
    );
    spawn_completing(&sup, &format!("{prefix}-completed"));
    spawn_idle(&sup, &format!("{prefix}-aborted"));
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert!(sup.abort(&format!("{prefix}-aborted")), "{sup}");
    tokio::time::sleep(Duration::from_millis(10)).await;
    sup
}

/// Whether some whitespace-separated word of `line` reads as an uptime:
/// `12.4s`, `3m07s`, `1h02m`.
fn has_uptime(line: &str) -> bool {
    line.split_whitespace().any(|word| {
        let digits_and = |unit: char| {
            word.strip_suffix(unit).is_some_and(|rest| {
                !rest.is_empty()
                    && rest
                        .chars()
                        .all(|c| c.is_ascii_digit() || "hms.".contains(c))
            })
        };
        word.starts_with(|c: char| c.is_ascii_digit()) && (digits_and('s') || digits_and('m'))
    })
}

fn words(line: &str) -> Vec<&str> {
    line.split_whitespace().collect()
}

#[tokio::test(start_paused = true)]
async fn a_snapshot_renders_as_one_readable_row() {
    let sup = varied("dsp").await;
    // (name, status in words, restarts, failure text shown)
    let expected = [
        ("dsp-running", "running", 0, None),
        ("dsp-restarted", "running", 2, Some("flaky run 1")),
        ("dsp-restarting", "restarting", 0, Some("upstream refused")),
        ("dsp-failed", "failed", 0, Some("disk full")),
        ("dsp-completed", "completed", 0, None),
        ("dsp-aborted", "aborted", 0, None),
    ];
    for (name, status, restarts, failure) in expected {
        let snapshot = row(&sup, name);
        let text = snapshot.to_string();
        assert!(!text.contains('\n'), "one line: {text:?}");
        assert!(text.starts_with(name), "the name comes first: {text:?}");
        let w = words(&text);
        assert_eq!(w[0], name, "{text:?}");
        assert!(
            w[1].starts_with(status),
            "the status in words after the name: {text:?}"
        );
        assert!(
            w.contains(&restarts.to_string().as_str()),
            "the restart count {restarts}: {text:?}"
        );
        assert!(has_uptime(&text), "an uptime: {text:?}");
        match failure {
            Some(reason) => assert!(text.contains(reason), "the last failure: {text:?}"),
            None => assert!(
                !text.contains("flaky") && !text.contains("refused") && !text.contains("disk"),
                "no failure to show: {text:?}"
            ),
        }
    }
    let restarting = row(&sup, "dsp-restarting");
    assert_eq!(
        restarting.status,
        Status::Restarting { attempt: 1, max: 3 },
        "{sup}"
    );
    assert!(
        restarting.to_string().contains("1/3"),
        "which restart it waits for: {restarting}"
    );
    assert_eq!(
        Status::Failed {
            reason: "disk full".into()
        }
        .to_string(),
        "failed: disk full"
    );
    let _ = sup.shutdown(Duration::from_secs(1)).await;
}

/// The column where each line's status starts (after the name and its padding).
fn status_column(line: &str) -> usize {
    let name_end = line.find(' ').expect("a column separator");
    name_end
        + line[name_end..]
            .find(|c| c != ' ')
            .expect("a status column")
}

fn assert_table_aligned(sup: &Supervisor) {
    let table = sup.to_string();
    let lines: Vec<&str> = table.lines().collect();
    let snapshot = sup.snapshot();
    assert_eq!(
        lines.len(),
        snapshot.len() + 1,
        "a header and one line per service:\n{table}"
    );
    let header = lines[0];
    let upper = header.to_uppercase();
    for column in ["NAME", "STATUS", "RESTARTS", "UPTIME"] {
        assert!(upper.contains(column), "header names {column}:\n{table}");
    }
    let status_at = upper.find("STATUS").expect("STATUS column");
    let restarts_end = upper.find("RESTARTS").expect("RESTARTS column") + "RESTARTS".len();
    for (line, r) in lines[1..].iter().zip(&snapshot) {
        // The same cells as the row's own Display, in snapshot order; only
        // the padding differs (the table widens columns to its widest cell).
        let cells = |text: &str| {
            text.split_whitespace()
                .map(str::to_owned)
                .collect::<Vec<_>>()
        };
        assert_eq!(
            cells(line),
            cells(&r.to_string()),
            "a table line shows the row's cells, in snapshot order:\n{table}"
        );
        assert_eq!(
            status_column(line),
            status_at,
            "the status of `{}` starts under STATUS:\n{table}",
            r.name
        );
        // Restarts: right-aligned, ending under the end of RESTARTS.
        let count = r.restarts.to_string();
        assert!(
            line.len() > restarts_end && line[..restarts_end].ends_with(&count),
            "the restart count of `{}` ends under RESTARTS:\n{table}",
            r.name
        );
        assert_eq!(
            &line[restarts_end..=restarts_end],
            " ",
            "a space after the restart count of `{}`:\n{table}",
            r.name
        );
    }
}

#[tokio::test(start_paused = true)]
async fn the_supervisor_renders_an_aligned_table() {
    let sup = varied("tbl").await;
    spawn_idle(&sup, "x");
    assert_table_aligned(&sup);
    let _ = sup.shutdown(Duration::from_secs(1)).await;
    assert_table_aligned(&sup);

    let empty = start_empty();
    let table = empty.to_string();
    assert_eq!(table.lines().count(), 1, "only the header:\n{table}");
}

/// Names may be long (any non-empty text without whitespace), and a status
/// such as `restarting (12/100)` is long too: the table still lines up.
#[tokio::test(start_paused = true)]
async fn the_table_stays_aligned_with_long_names_and_statuses() {
    let sup = start_empty();
    spawn_idle(&sup, "a");
    spawn_idle(&sup, "payments-reconciliation-worker-eu-west");
    // Delays of 1, 2, 4 … ms: 11 restarts take 2047 ms, and the 12th
    // failure in a row is followed by a 2048 ms wait.
    spawn_failing(
        &sup,
        "tbl-long-status",
        backoff(100, Duration::from_millis(1)),
        "flaky",
    );
    tokio::time::sleep(Duration::from_secs(3)).await;
    assert_eq!(
        row(&sup, "tbl-long-status").status,
        Status::Restarting {
            attempt: 12,
            max: 100
        },
        "{sup}"
    );
    assert_table_aligned(&sup);
    let _ = sup.shutdown(Duration::from_secs(1)).await;
}

/// A name is any non-empty text without whitespace, however long. Padding a
/// cell through a runtime format width (`{:<width$}`) panics once the width
/// passes `u16::MAX`, so a 70,000-byte name must render as a row and as a
/// table, whole.
#[tokio::test(start_paused = true)]
async fn a_name_longer_than_u16_max_renders_whole() {
    let long = "n".repeat(70_000);
    let sup = start_empty();
    let tasks = [long.as_str(), "short"];
    for name in tasks {
        spawn_idle(&sup, name);
    }

    let text = row(&sup, &long).to_string();
    assert!(!text.contains('\n'), "one line");
    assert_eq!(words(&text)[0], long, "the name, whole, comes first");
    assert!(words(&text)[1].starts_with("running"), "then the status");

    let table = sup.to_string();
    let lines: Vec<&str> = table.lines().collect();
    assert_eq!(names(&sup), tasks, "a row per task");
    assert_eq!(lines.len(), 1 + tasks.len(), "a header and a line per row");
    assert!(lines.iter().any(|line| words(line)[0] == long));
    // The short name's row is padded to the long name's width.
    let short = lines
        .iter()
        .find(|line| line.starts_with("short "))
        .expect("the short row");
    assert_eq!(status_column(short), long.len() + 1);
    assert_eq!(status_column(lines[0]), long.len() + 1);
    let _ = sup.shutdown(Duration::from_secs(1)).await;
}

/// Whether `text` holds a character that a terminal could act on (a line
/// break, ESC, NUL, a C1 control such as CSI).
fn has_control(text: &str) -> bool {
    text.chars().any(char::is_control)
}

/// A failure reason is any text: its control characters are shown escaped
/// (`\n`, `\u{1b}`), so a row stays one line and no escape sequence reaches
/// the terminal.
#[tokio::test(start_paused = true)]
async fn control_characters_in_a_reason_are_shown_escaped() {
    const REASON: &str = "line one\nline two \u{1b}[31mred\0";
    const SHOWN: &str = r"line one\nline two \u{1b}[31mred\u{0}";
    let sup = start_empty();
    spawn_failing(&sup, "ctl-failed", RestartPolicy::Never, REASON);
    spawn_failing(
        &sup,
        "ctl-restarting",
        backoff(3, Duration::from_secs(3600)),
        REASON,
    );
    spawn_idle(&sup, "ctl-running");
    tokio::time::sleep(Duration::from_millis(10)).await;
    assert_eq!(
        row(&sup, "ctl-failed").status,
        Status::Failed {
            reason: REASON.into()
        },
        "the status keeps the reason as it was"
    );

    for name in ["ctl-failed", "ctl-restarting"] {
        let text = row(&sup, name).to_string();
        assert!(!has_control(&text), "nothing raw: {text:?}");
        assert!(text.contains(SHOWN), "the reason, escaped: {text:?}");
        assert!(text.starts_with(name), "{text:?}");
    }
    let table = sup.to_string();
    assert!(
        !has_control(&table.replace('\n', "")),
        "nothing raw:\n{table}"
    );
    let rows = names(&sup);
    assert_eq!(
        rows,
        ["ctl-failed", "ctl-restarting", "ctl-running"],
        "{table}"
    );
    assert_eq!(
        table.lines().count(),
        1 + rows.len(),
        "a header and one line per row:\n{table}"
    );
    assert_eq!(table.matches(SHOWN).count(), 2, "{table}");
    assert_table_aligned(&sup);
    let _ = sup.shutdown(Duration::from_secs(1)).await;
}

/// Where each line's status cell starts, in terminal columns: after the
/// name (which has no spaces) and its padding.
fn status_display_column(line: &str) -> usize {
    use unicode_width::UnicodeWidthStr;
    let name_end = line.find(' ').expect("a column separator");
    let status_at = name_end
        + line[name_end..]
            .find(|c| c != ' ')
            .expect("a status column");
    line[..status_at].width()
}

/// Names are measured in terminal columns: a CJK character or an emoji
/// takes two, so counting chars would push their rows' later columns right.
#[tokio::test(start_paused = true)]
async fn wide_characters_in_names_keep_the_table_aligned() {
    let sup = start_empty();
    spawn_idle(&sup, "数据库");
    spawn_idle(&sup, "ascii-name");
    spawn_idle(&sup, "🚀-launcher");
    spawn_failing(&sup, "缓存", RestartPolicy::Never, "连接被拒绝");
    tokio::time::sleep(Duration::from_millis(10)).await;
    check_columns(&sup);
    // Twelve CJK characters are 24 columns: wider than the narrowest name
    // column (20) in columns, though not in chars.
    spawn_idle(&sup, "数据库连接池监控服务进程");
    check_columns(&sup);
    let _ = sup.shutdown(Duration::from_secs(1)).await;
    check_columns(&sup);

    fn check_columns(sup: &Supervisor) {
        let table = sup.to_string();
        let lines: Vec<&str> = table.lines().collect();
        assert_eq!(lines.len(), sup.snapshot().len() + 1, "{table}");
        let header = status_display_column(lines[0]);
        for line in &lines {
            assert_eq!(
                status_display_column(line),
                header,
                "every status starts under STATUS:\n{table}"
            );
        }
        for r in sup.snapshot() {
            let text = r.to_string();
            assert_eq!(words(&text)[0], &*r.name, "the name, as it is: {text:?}");
            assert_eq!(
                status_display_column(&text),
                20.max(unicode_width::UnicodeWidthStr::width(&*r.name)) + 1,
                "a row pads its name to 20 columns: {text:?}"
            );
        }
    }
}
