// `blocking` plain fns, with and without a context.
use supervisor::{supervised, CancellationToken, Context, RestartPolicy};

#[supervised(name = "crunch", blocking)]
fn crunch(ctx: Context) {
    while !ctx.is_cancelled() {
        std::thread::yield_now();
    }
}

#[supervised(blocking)]
fn oneshot() -> std::io::Result<()> {
    Ok(())
}

fn main() {
    let spec = supervisor::registry()
        .find(|s| s.name() == "crunch")
        .unwrap();
    assert!(spec.is_blocking());
    assert!(spec.takes_context());
    assert_eq!(spec.restart(), RestartPolicy::Never);

    let spec = supervisor::registry()
        .find(|s| s.name() == "oneshot")
        .unwrap();
    assert!(spec.is_blocking());
    assert!(!spec.takes_context());

    let stop = CancellationToken::new();
    stop.cancel();
    crunch(Context::detached("crunch", stop));
    oneshot().unwrap();
}
