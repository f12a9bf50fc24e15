//! `Supervisor::subscribe`: every status and readiness change, in order.

use std::time::Duration;

use supervisor::{Event, RestartPolicy, Status, TaskDescriptor};
use tests::{backoff, start_empty};
use tokio::sync::broadcast;

async fn next(events: &mut broadcast::Receiver<Event>) -> Event {
    tokio::time::timeout(Duration::from_secs(60), events.recv())
        .await
        .expect("an event in time")
        .expect("no lag")
}

#[tokio::test(start_paused = true)]
async fn a_subscriber_sees_running_restarting_running_in_order() {
    let sup = start_empty();
    let mut events = sup.subscribe();
    sup.spawn(TaskDescriptor::new(
        "ev-flaky",
        backoff(3, Duration::from_secs(1)),
        |ctx| async move {
            if ctx.attempt() == 0 {
                return Err("first run fails");
            }
            ctx.ready();
            ctx.cancelled().await;
            Ok(())
        },
    ))
    .expect("spawn");
    let mut seen = Vec::new();
    for _ in 0..3 {
        let event = next(&mut events).await;
        assert_eq!(&*event.name, "ev-flaky");
        seen.push((event.status, event.ready));
    }
    assert_eq!(
        seen,
        [
            (Status::Running, true),
            (Status::Restarting { attempt: 1, max: 3 }, false),
            (Status::Running, true),
        ]
    );
    sup.shutdown(Duration::from_secs(1)).await.expect("clean");
    let last = next(&mut events).await;
    assert_eq!((last.status, last.ready), (Status::Stopped, false));
}

#[tokio::test(start_paused = true)]
async fn events_of_each_service_keep_their_order_among_many() {
    let sup = start_empty();
    let mut events = sup.subscribe();
    for i in 0..50 {
        sup.spawn(TaskDescriptor::new(
            format!("ev-{i}"),
            RestartPolicy::Never,
            |_ctx| async { Ok::<(), std::io::Error>(()) },
        ))
        .expect("spawn");
    }
    tests::wait_idle(&sup, Duration::from_secs(10)).await;
    let mut last = std::collections::HashMap::new();
    for _ in 0..100 {
        let event = next(&mut events).await;
        let previous = last.insert(event.name.to_string(), event.status.clone());
        match event.status {
            Status::Running => assert_eq!(previous, None, "{}", event.name),
            Status::Completed => assert_eq!(previous, Some(Status::Running), "{}", event.name),
            other => panic!("unexpected {other}"),
        }
    }
    assert_eq!(last.len(), 50);
    assert!(last.values().all(|s| *s == Status::Completed));
}

#[tokio::test]
async fn no_subscriber_no_events_and_a_late_one_sees_only_what_follows() {
    let sup = start_empty();
    tests::spawn_idle(&sup, "ev-before");
    tokio::task::yield_now().await;
    let mut events = sup.subscribe();
    assert!(events.try_recv().is_err(), "nothing from before");
    assert!(sup.abort("ev-before"));
    let event = next(&mut events).await;
    assert_eq!((&*event.name, event.status), ("ev-before", Status::Aborted));
}
