// `restart = never`, the default, and the extremes of `backoff`.
use std::time::Duration;
use supervisor::{supervised, RestartPolicy};

#[supervised]
async fn by_default() {}

#[supervised(restart = never)]
async fn never() {}

#[supervised(restart = backoff(0, "0s"))]
async fn smallest() {}

#[supervised(restart = backoff(4294967295, "1m 30s"))]
async fn largest() {}

#[supervised(restart = backoff(2, "500ms"), blocking)]
fn half_second() {}

fn restart_of(name: &str) -> RestartPolicy {
    supervisor::registry()
        .find(|s| s.name() == name)
        .unwrap()
        .restart()
}

fn main() {
    assert_eq!(restart_of("by_default"), RestartPolicy::Never);
    assert_eq!(restart_of("never"), RestartPolicy::Never);
    assert_eq!(
        restart_of("smallest"),
        RestartPolicy::Backoff {
            max: 0,
            base_delay: Duration::ZERO
        }
    );
    assert_eq!(
        restart_of("largest"),
        RestartPolicy::Backoff {
            max: u32::MAX,
            base_delay: Duration::from_secs(90)
        }
    );
    assert_eq!(
        restart_of("half_second"),
        RestartPolicy::Backoff {
            max: 2,
            base_delay: Duration::from_millis(500)
        }
    );
    let _ = (by_default, never, smallest, largest, half_second);
}
