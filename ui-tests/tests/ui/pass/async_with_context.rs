// `async fn NAME(ctx: Context)` with the contract's own example.
use std::time::Duration;
use supervisor::{supervised, CancellationToken, Context, RestartPolicy};

#[supervised(name = "ticker", restart = backoff(3, "1s"))]
async fn ticker(ctx: Context) -> Result<(), std::io::Error> {
    loop {
        tokio::select! {
            () = ctx.cancelled() => return Ok(()),
            () = tokio::time::sleep(Duration::from_millis(1)) => {}
        }
    }
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let spec = supervisor::registry()
        .find(|s| s.name() == "ticker")
        .unwrap();
    assert_eq!(
        spec.restart(),
        RestartPolicy::Backoff {
            max: 3,
            base_delay: Duration::from_secs(1)
        }
    );
    assert!(!spec.is_blocking());
    assert!(spec.takes_context());

    let stop = CancellationToken::new();
    stop.cancel();
    ticker(Context::detached("ticker", stop)).await.unwrap();
}
