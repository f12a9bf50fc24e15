//! What the services share. Each type is a cheap handle: `main` gives one
//! of each to `Builder::state`, and every run of a service gets a clone
//! pointing at the same data.

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::{Arc, Mutex, RwLock};
use std::time::Duration;

use tokio::sync::mpsc::{self, error::TrySendError};
use tokio::sync::OwnedMutexGuard;

use crate::stats::Summary;

/// Jobs are numbered from 1 in the order they were accepted.
pub(crate) type JobId = u64;

/// What the command line asked for.
#[derive(Clone, Debug)]
pub(crate) struct Config {
    /// Where the API listens.
    pub(crate) listen: SocketAddr,
    /// A catalogue file to load instead of the built-in one.
    pub(crate) catalogue: Option<PathBuf>,
}

/// The items a job can be for, each with how long making one takes. Empty
/// until the loader has filled it.
#[derive(Clone, Debug, Default)]
pub(crate) struct Catalogue(Arc<RwLock<BTreeMap<String, Duration>>>);

impl Catalogue {
    pub(crate) fn replace(&self, items: BTreeMap<String, Duration>) {
        *self.0.write().unwrap() = items;
    }

    /// How long making one `item` takes; `None` if it is not offered.
    pub(crate) fn cost(&self, item: &str) -> Option<Duration> {
        self.0.read().unwrap().get(item).copied()
    }

    pub(crate) fn names(&self) -> Vec<String> {
        self.0.read().unwrap().keys().cloned().collect()
    }
}

/// Where a job is.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Progress {
    Queued,
    Running,
    Done { took: Duration },
}

#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct Job {
    pub(crate) item: String,
    pub(crate) progress: Progress,
}

/// Every job accepted so far, and how many requests named no catalogue item.
/// (Finished jobs are kept for good: a real service would expire them.)
#[derive(Clone, Debug, Default)]
pub(crate) struct Jobs(Arc<Mutex<Book>>);

#[derive(Debug, Default)]
struct Book {
    jobs: BTreeMap<JobId, Job>,
    last_id: JobId,
    unknown_items: u64,
}

/// A copy of the counts, taken in one go for the statistics.
#[derive(Clone, Debug, Default)]
pub(crate) struct Tally {
    pub(crate) accepted: usize,
    pub(crate) unknown_items: u64,
    /// Item and time taken of each job done.
    pub(crate) done: Vec<(String, Duration)>,
}

impl Jobs {
    pub(crate) fn get(&self, id: JobId) -> Option<Job> {
        self.0.lock().unwrap().jobs.get(&id).cloned()
    }

    fn open(&self, item: &str) -> JobId {
        let mut book = self.0.lock().unwrap();
        book.last_id += 1;
        let id = book.last_id;
        let job = Job {
            item: item.to_owned(),
            progress: Progress::Queued,
        };
        book.jobs.insert(id, job);
        id
    }

    fn count_unknown_item(&self) {
        self.0.lock().unwrap().unknown_items += 1;
    }

    /// Marks a queued job running; its item, or `None` for an unknown id.
    pub(crate) fn start(&self, id: JobId) -> Option<String> {
        let mut book = self.0.lock().unwrap();
        let job = book.jobs.get_mut(&id)?;
        job.progress = Progress::Running;
        Some(job.item.clone())
    }

    pub(crate) fn finish(&self, id: JobId, took: Duration) {
        if let Some(job) = self.0.lock().unwrap().jobs.get_mut(&id) {
            job.progress = Progress::Done { took };
        }
    }

    pub(crate) fn tally(&self) -> Tally {
        let book = self.0.lock().unwrap();
        let done = book.jobs.values().filter_map(|job| match job.progress {
            Progress::Done { took } => Some((job.item.clone(), took)),
            _ => None,
        });
        Tally {
            accepted: book.jobs.len(),
            unknown_items: book.unknown_items,
            done: done.collect(),
        }
    }
}

/// The queue from the API to the worker. The worker's end outlives any one
/// run of the worker: a restarted worker takes it back and goes on with
/// what is queued.
#[derive(Clone, Debug)]
pub(crate) struct Queue {
    sender: mpsc::Sender<JobId>,
    receiver: Arc<tokio::sync::Mutex<mpsc::Receiver<JobId>>>,
}

impl Queue {
    /// A queue that holds at most `capacity` jobs waiting for the worker.
    pub(crate) fn new(capacity: usize) -> Self {
        let (sender, receiver) = mpsc::channel(capacity);
        Queue {
            sender,
            receiver: Arc::new(tokio::sync::Mutex::new(receiver)),
        }
    }

    /// The receiving end, held by one worker at a time.
    pub(crate) async fn receiver(&self) -> OwnedMutexGuard<mpsc::Receiver<JobId>> {
        Arc::clone(&self.receiver).lock_owned().await
    }
}

/// Why a job was not accepted.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Refused {
    /// The item is not in the catalogue.
    UnknownItem,
    /// The worker is that far behind.
    QueueFull,
    /// The worker has stopped taking jobs.
    Closed,
}

/// Accepts a job for `item` and queues it for the worker.
pub(crate) fn submit(
    catalogue: &Catalogue,
    jobs: &Jobs,
    queue: &Queue,
    item: &str,
) -> Result<JobId, Refused> {
    if catalogue.cost(item).is_none() {
        jobs.count_unknown_item();
        return Err(Refused::UnknownItem);
    }
    // A place in the queue first, so that a refused job leaves no trace.
    let place = queue.sender.try_reserve().map_err(|err| match err {
        TrySendError::Full(()) => Refused::QueueFull,
        TrySendError::Closed(()) => Refused::Closed,
    })?;
    let id = jobs.open(item);
    place.send(id);
    Ok(id)
}

/// The latest statistics, as the `stats` service last computed them.
#[derive(Clone, Debug, Default)]
pub(crate) struct Stats(Arc<Mutex<Option<Summary>>>);

impl Stats {
    pub(crate) fn publish(&self, summary: Summary) {
        *self.0.lock().unwrap() = Some(summary);
    }

    pub(crate) fn latest(&self) -> Option<Summary> {
        self.0.lock().unwrap().clone()
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;

    /// A catalogue of two items, without going through the loader.
    pub(crate) fn catalogue() -> Catalogue {
        let catalogue = Catalogue::default();
        catalogue.replace(BTreeMap::from([
            ("resize".to_owned(), Duration::from_millis(300)),
            ("thumbnail".to_owned(), Duration::from_millis(100)),
        ]));
        catalogue
    }

    #[test]
    fn a_job_is_accepted_only_for_a_catalogue_item_and_while_there_is_room() {
        let (catalogue, jobs, queue) = (catalogue(), Jobs::default(), Queue::new(2));
        assert_eq!(submit(&catalogue, &jobs, &queue, "resize"), Ok(1));
        assert_eq!(
            submit(&catalogue, &jobs, &queue, "sculpture"),
            Err(Refused::UnknownItem)
        );
        assert_eq!(submit(&catalogue, &jobs, &queue, "thumbnail"), Ok(2));
        assert_eq!(
            submit(&catalogue, &jobs, &queue, "resize"),
            Err(Refused::QueueFull)
        );

        let tally = jobs.tally();
        assert_eq!((tally.accepted, tally.unknown_items), (2, 1));
        let second = jobs.get(2).expect("job 2");
        assert_eq!(
            (&*second.item, second.progress),
            ("thumbnail", Progress::Queued)
        );
    }
}
