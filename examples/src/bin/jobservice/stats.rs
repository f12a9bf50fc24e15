//! `stats`: every 5 s, on its own thread, sums up the jobs done so far for
//! `GET /stats`.

use std::collections::BTreeMap;
use std::fmt;
use std::time::Duration;

use supervisor::{supervised, State};

use crate::state::{Jobs, Stats, Tally};

#[supervised(name = "stats", every = "5s", blocking)]
pub(crate) fn stats(State(jobs): State<Jobs>, State(stats): State<Stats>) {
    let summary = Summary::of(jobs.tally());
    tracing::info!(
        done = summary.done,
        waiting = summary.waiting,
        median_ms = summary.median.as_millis(),
        "statistics"
    );
    stats.publish(summary);
}

/// The jobs at one moment.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub(crate) struct Summary {
    pub(crate) accepted: usize,
    pub(crate) done: usize,
    /// Queued or running.
    pub(crate) waiting: usize,
    /// Requests for an item not in the catalogue.
    pub(crate) unknown_items: u64,
    /// How long the jobs done took: half took at most `median`, 95 % at
    /// most `p95`.
    pub(crate) median: Duration,
    pub(crate) p95: Duration,
    pub(crate) slowest: Duration,
    /// Jobs done, by item.
    pub(crate) by_item: BTreeMap<String, usize>,
}

impl Summary {
    pub(crate) fn of(tally: Tally) -> Self {
        let mut took: Vec<Duration> = tally.done.iter().map(|(_, took)| *took).collect();
        took.sort_unstable();
        let mut by_item = BTreeMap::new();
        for (item, _) in tally.done {
            *by_item.entry(item).or_default() += 1;
        }
        Summary {
            accepted: tally.accepted,
            done: took.len(),
            waiting: tally.accepted - took.len(),
            unknown_items: tally.unknown_items,
            median: percentile(&took, 50),
            p95: percentile(&took, 95),
            slowest: took.last().copied().unwrap_or_default(),
            by_item,
        }
    }
}

/// The nearest-rank percentile of sorted durations; zero for none.
fn percentile(sorted: &[Duration], percent: usize) -> Duration {
    let rank = (sorted.len() * percent).div_ceil(100);
    sorted
        .get(rank.saturating_sub(1))
        .copied()
        .unwrap_or_default()
}

/// One `name value` pair a line, for people and `grep` alike.
impl fmt::Display for Summary {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        writeln!(f, "accepted {}", self.accepted)?;
        writeln!(f, "done {}", self.done)?;
        writeln!(f, "waiting {}", self.waiting)?;
        writeln!(f, "unknown_items {}", self.unknown_items)?;
        writeln!(f, "median {:.0?}", self.median)?;
        writeln!(f, "p95 {:.0?}", self.p95)?;
        writeln!(f, "slowest {:.0?}", self.slowest)?;
        for (item, done) in &self.by_item {
            writeln!(f, "done.{item} {done}")?;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::state::{self, submit, Queue};

    #[test]
    fn sums_up_the_jobs_done() {
        let (catalogue, jobs, queue) = (state::tests::catalogue(), Jobs::default(), Queue::new(32));
        // Twenty jobs done, taking 1 ms, 2 ms ... 20 ms; two more waiting.
        for n in 1..=22 {
            let item = if n % 2 == 0 { "resize" } else { "thumbnail" };
            let id = submit(&catalogue, &jobs, &queue, item).unwrap();
            if n <= 20 {
                jobs.start(id);
                jobs.finish(id, Duration::from_millis(n));
            }
        }
        assert!(submit(&catalogue, &jobs, &queue, "poster").is_err());

        let latest = Stats::default();
        stats(State(jobs), State(latest.clone()));
        let summary = latest.latest().expect("published");
        assert_eq!(
            summary,
            Summary {
                accepted: 22,
                done: 20,
                waiting: 2,
                unknown_items: 1,
                median: Duration::from_millis(10),
                p95: Duration::from_millis(19),
                slowest: Duration::from_millis(20),
                by_item: BTreeMap::from([("resize".into(), 10), ("thumbnail".into(), 10)]),
            }
        );
        let text = summary.to_string();
        assert!(text.starts_with("accepted 22\ndone 20\n"), "{text}");
        assert!(text.contains("median 10ms\n"), "{text}");
        assert!(text.contains("done.resize 10\n"), "{text}");
    }

    #[test]
    fn nothing_done_is_all_zeros() {
        let latest = Stats::default();
        stats(State(Jobs::default()), State(latest.clone()));
        assert_eq!(latest.latest(), Some(Summary::default()));
    }
}
