// `async fn NAME()`: default name and restart, no context, still callable.
use supervisor::{supervised, RestartPolicy};

#[supervised]
async fn migrate() {}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let spec = supervisor::registry()
        .find(|s| s.name() == "migrate")
        .unwrap();
    assert_eq!(spec.restart(), RestartPolicy::Never);
    assert!(!spec.is_blocking());
    assert!(!spec.takes_context());
    migrate().await;
}
