// The arguments may come in any order.
use std::time::Duration;
use supervisor::{supervised, Context, RestartPolicy};

#[supervised(name = "a", restart = backoff(1, "1s"), blocking)]
fn a(_ctx: Context) {}

#[supervised(blocking, name = "b", restart = backoff(1, "1s"))]
fn b(_ctx: Context) {}

#[supervised(restart = backoff(1, "1s"), blocking, name = "c",)]
fn c(_ctx: Context) {}

#[supervised(restart = backoff(1, "1s"), name = "d")]
async fn d(_ctx: Context) {}

fn main() {
    for name in ["a", "b", "c", "d"] {
        let spec = supervisor::registry().find(|s| s.name() == name).unwrap();
        assert_eq!(
            spec.restart(),
            RestartPolicy::Backoff {
                max: 1,
                base_delay: Duration::from_secs(1)
            },
            "{name}"
        );
        assert_eq!(spec.is_blocking(), name != "d", "{name}");
        assert!(spec.takes_context(), "{name}");
    }
    let _ = (a, b, c, d);
}
