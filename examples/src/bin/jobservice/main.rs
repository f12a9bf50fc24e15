//! A small job service: an application built from supervised services.
//!
//! ```text
//! cargo run -p examples --bin jobservice
//! cargo run -p examples --bin jobservice -- --listen 127.0.0.1:9090 --catalogue items.txt
//! ```
//!
//! - `loader` fills the catalogue once (`ready = completed`);
//! - `worker` makes the queued jobs, after the loader;
//! - `api` takes jobs over HTTP and queues them, after both: so it is the
//!   first to stop, and the worker finishes the queue once no job can come
//!   in any more. It is `critical`: if it cannot serve, the program ends;
//! - `stats` sums up the jobs done, every 5 s, on its own thread.
//!
//! They share the state in [`state`] through `State<T>` parameters. See
//! README.md, "The example application", for what to try.

mod api;
mod loader;
mod state;
mod stats;
mod worker;

use std::time::Duration;

use supervisor::Builder;

use crate::state::{Catalogue, Config, Jobs, Queue, Stats};

const USAGE: &str = "\
usage: jobservice [--listen ADDR] [--catalogue PATH]

  --listen ADDR     where the HTTP API listens (default: $JOBSERVICE_LISTEN,
                    else 127.0.0.1:8080)
  --catalogue PATH  the items that can be ordered, one `NAME DURATION` a line
                    (default: a built-in list)";

/// Jobs that may wait for the worker before `POST /jobs` answers 503.
const QUEUE_CAPACITY: usize = 1000;

#[tokio::main]
async fn main() -> Result<(), supervisor::Error> {
    examples::init_logging();
    Builder::new()
        .state(config())
        .state(Catalogue::default())
        .state(Jobs::default())
        .state(Queue::new(QUEUE_CAPACITY))
        .state(Stats::default())
        .shutdown_timeout(Duration::from_secs(30))
        .run()
        .await
}

/// The command line, with `$JOBSERVICE_LISTEN` as the default of `--listen`.
fn config() -> Config {
    let listen = std::env::var("JOBSERVICE_LISTEN");
    let listen = listen.as_deref().unwrap_or("127.0.0.1:8080");
    let mut config = Config {
        listen: listen.parse().unwrap_or_else(|err| {
            eprintln!("error: JOBSERVICE_LISTEN {listen:?}: {err}\n{USAGE}");
            std::process::exit(2)
        }),
        catalogue: None,
    };
    let mut cli = examples::Cli::new(USAGE);
    while let Some(flag) = cli.next_flag() {
        match flag.as_str() {
            "--listen" => config.listen = cli.value(&flag),
            "--catalogue" => config.catalogue = Some(cli.value(&flag)),
            _ => cli.unknown(&flag),
        }
    }
    config
}

#[cfg(test)]
mod tests {
    use supervisor::Status;

    use super::*;
    use crate::api::tests::{free_port, http};
    use crate::state::Progress;

    /// The whole program under a supervisor, as `main` builds it: the API is
    /// ready once the others are and it listens; it stops first, and the
    /// worker after it, once it has made what was queued.
    #[tokio::test]
    async fn the_api_comes_last_and_goes_first() {
        let listen = free_port();
        let jobs = Jobs::default();
        let sup = Builder::new()
            .state(Config {
                listen,
                catalogue: None,
            })
            .state(Catalogue::default())
            .state(jobs.clone())
            .state(Queue::new(QUEUE_CAPACITY))
            .state(Stats::default())
            .start()
            .expect("every state type given");
        let mut events = sup.subscribe();

        let health = "GET /healthz HTTP/1.1\r\nHost: test\r\nConnection: close\r\n\r\n";
        let reply = http(listen, health).await;
        assert!(reply.starts_with("HTTP/1.1 200 OK\r\n"), "{reply}\n{sup}");
        assert!(reply.ends_with("ready\n"), "{reply}");
        assert_eq!(
            sup.snapshot()
                .iter()
                .find(|row| &*row.name == "loader")
                .map(|row| row.status.clone()),
            Some(Status::Completed)
        );

        let order = "POST /jobs HTTP/1.1\r\nHost: test\r\nContent-Length: 6\r\nConnection: close\r\n\r\nresize";
        let reply = http(listen, order).await;
        assert!(reply.starts_with("HTTP/1.1 202 Accepted\r\n"), "{reply}");

        sup.shutdown(Duration::from_secs(5))
            .await
            .expect("a clean stop");
        let mut stopped = Vec::new();
        while let Ok(event) = events.try_recv() {
            if event.status == Status::Stopped {
                stopped.push(event.name.to_string());
            }
        }
        let position = |name: &str| stopped.iter().position(|n| n == name);
        assert!(position("api") < position("worker"), "{stopped:?}");
        assert!(position("api").is_some(), "{stopped:?}");
        assert!(
            matches!(
                jobs.get(1).map(|job| job.progress),
                Some(Progress::Done { .. })
            ),
            "the queued job was made before the worker stopped"
        );
    }
}
