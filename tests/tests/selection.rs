//! Choosing which declared services run: `Builder::only`, and where `start`
//! may be called.
//!
//! Tests in this file run in parallel in one process; none of them may start
//! the services whose flags another one checks.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use supervisor::{supervised, Builder, Error};

static REAL_RAN: AtomicBool = AtomicBool::new(false);
static OTHER_RAN: AtomicBool = AtomicBool::new(false);

#[supervised(name = "sel-real")]
async fn sel_real() {
    REAL_RAN.store(true, Ordering::SeqCst);
}

#[supervised(name = "sel-other")]
async fn sel_other() {
    OTHER_RAN.store(true, Ordering::SeqCst);
}

fn nothing_ran() -> bool {
    !REAL_RAN.load(Ordering::SeqCst) && !OTHER_RAN.load(Ordering::SeqCst)
}

#[tokio::test]
async fn only_with_an_unknown_name_is_an_error_and_starts_nothing() {
    let result = Builder::new().only(["sel-real", "sel-nope"]).start();
    match &result {
        Err(Error::UnknownServices { unknown, .. }) => {
            assert_eq!(unknown, &["sel-nope".to_string()], "{result:?}")
        }
        other => panic!("expected UnknownServices, got {other:?}"),
    }
    let text = result.unwrap_err().to_string();
    assert!(text.contains("sel-nope"), "{text}");

    // `run` refuses the same way.
    let result = Builder::new()
        .only(["sel-nope-either"])
        .handle_signals(false)
        .run()
        .await;
    assert!(
        matches!(&result, Err(Error::UnknownServices { unknown, .. }) if unknown == &["sel-nope-either".to_string()]),
        "{result:?}"
    );

    // Give anything that was spawned a chance to run.
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(
        !REAL_RAN.load(Ordering::SeqCst),
        "sel-real must not have started"
    );
}

#[tokio::test]
async fn only_with_an_empty_list_starts_nothing() {
    let sup = Builder::new().only(Vec::<&str>::new()).start().unwrap();
    assert!(sup.snapshot().is_empty(), "{:#?}", sup.snapshot());
    assert_eq!(sup.active_count(), 0, "{:#?}", sup.snapshot());
    assert!(sup.shutdown(Duration::from_secs(1)).await.is_ok());

    // `run` with nothing to run returns Ok at once.
    let result = tokio::time::timeout(
        Duration::from_secs(5),
        Builder::new()
            .only(Vec::<String>::new())
            .handle_signals(false)
            .run(),
    )
    .await
    .expect("run() with no service returns at once");
    assert!(result.is_ok(), "{result:?}");

    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(nothing_ran(), "no declared service may have started");
}

#[test]
fn start_outside_a_runtime_is_an_error() {
    let result = Builder::new().only(["sel-other"]).start();
    assert!(matches!(result, Err(Error::NoRuntime)), "{result:?}");
    assert!(result.unwrap_err().to_string().contains("runtime"));
    assert!(!OTHER_RAN.load(Ordering::SeqCst));
}
