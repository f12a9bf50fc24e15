//! `worker`: makes the queued jobs, one at a time. The API starts after it
//! and so stops before it: when the worker is told to stop, nothing can be
//! added to the queue any more, and it finishes what is there first.

use supervisor::{supervised, Context, State};
use tokio::time::Instant;

use crate::state::{Catalogue, JobId, Jobs, Queue};

#[supervised(name = "worker", after = ["loader"], restart = backoff(5, "1s"))]
pub(crate) async fn worker(
    ctx: Context,
    State(catalogue): State<Catalogue>,
    State(jobs): State<Jobs>,
    State(queue): State<Queue>,
) {
    let mut queue = queue.receiver().await;
    let mut made = 0;
    loop {
        let id = tokio::select! {
            biased;
            () = ctx.cancelled() => break,
            Some(id) = queue.recv() => id,
        };
        make(&catalogue, &jobs, id).await;
        made += 1;
    }
    // The API has stopped already (it starts after us, so it stops before
    // us): take nothing more, and make what is still queued.
    queue.close();
    let mut drained = 0;
    while let Ok(id) = queue.try_recv() {
        make(&catalogue, &jobs, id).await;
        drained += 1;
    }
    tracing::info!(made, drained, "queue drained, worker stopping");
}

async fn make(catalogue: &Catalogue, jobs: &Jobs, id: JobId) {
    let Some(item) = jobs.start(id) else { return };
    let began = Instant::now();
    // The work itself, simulated: as long as the catalogue says.
    tokio::time::sleep(catalogue.cost(&item).unwrap_or_default()).await;
    jobs.finish(id, began.elapsed());
    tracing::info!(id, item, "job done");
}

#[cfg(test)]
mod tests {
    use std::time::Duration;

    use supervisor::CancellationToken;

    use super::*;
    use crate::state::{self, submit, Progress, Refused};

    fn progress(jobs: &Jobs, id: JobId) -> Progress {
        jobs.get(id).expect("a job").progress
    }

    #[tokio::test(start_paused = true)]
    async fn makes_queued_jobs_in_order_and_drains_the_queue_when_told_to_stop() {
        let (catalogue, jobs, queue) = (state::tests::catalogue(), Jobs::default(), Queue::new(8));
        let stop = CancellationToken::new();
        let running = tokio::spawn(worker(
            Context::detached("worker", stop.clone()),
            State(catalogue.clone()),
            State(jobs.clone()),
            State(queue.clone()),
        ));

        let first = submit(&catalogue, &jobs, &queue, "resize").unwrap();
        tokio::time::sleep(Duration::from_millis(100)).await;
        assert_eq!(progress(&jobs, first), Progress::Running);
        tokio::time::sleep(Duration::from_millis(250)).await;
        let done = Progress::Done {
            took: Duration::from_millis(300),
        };
        assert_eq!(progress(&jobs, first), done);

        // Two more, and the order to stop at once: both are still made.
        let later: Vec<_> = ["thumbnail", "resize"]
            .into_iter()
            .map(|item| submit(&catalogue, &jobs, &queue, item).unwrap())
            .collect();
        stop.cancel();
        running.await.expect("the worker returns");
        for id in later {
            assert!(
                matches!(progress(&jobs, id), Progress::Done { .. }),
                "job {id}: {:?}",
                jobs.get(id)
            );
        }
        assert_eq!(
            submit(&catalogue, &jobs, &queue, "resize"),
            Err(Refused::Closed),
            "a stopped worker takes nothing more"
        );
    }

    #[tokio::test(start_paused = true)]
    async fn a_worker_told_to_stop_before_it_starts_still_makes_what_is_queued() {
        let (catalogue, jobs, queue) = (state::tests::catalogue(), Jobs::default(), Queue::new(8));
        for _ in 0..3 {
            submit(&catalogue, &jobs, &queue, "thumbnail").unwrap();
        }
        let stop = CancellationToken::new();
        stop.cancel();
        worker(
            Context::detached("worker", stop),
            State(catalogue),
            State(jobs.clone()),
            State(queue),
        )
        .await;
        assert_eq!(jobs.tally().done.len(), 3);
    }
}
