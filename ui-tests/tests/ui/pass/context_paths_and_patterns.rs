// The parameter may be any pattern, and `Context` any path ending in `Context`.
use supervisor::{supervised, CancellationToken};

#[supervised]
async fn full_path(_ctx: supervisor::Context) {}

#[supervised]
async fn absolute_path(_: ::supervisor::Context) {}

#[supervised]
async fn mutable_binding(mut ctx: supervisor::Context) {
    ctx = ctx.clone();
    let _ = ctx.name();
}

mod renamed {
    pub(crate) use supervisor::Context;
}

#[supervised]
async fn reexported(ctx: renamed::Context) {
    ctx.cancelled().await;
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    for name in [
        "full_path",
        "absolute_path",
        "mutable_binding",
        "reexported",
    ] {
        let spec = supervisor::registry().find(|s| s.name() == name).unwrap();
        assert!(spec.takes_context(), "{name}");
        assert!(!spec.is_blocking(), "{name}");
    }
    let stop = CancellationToken::new();
    stop.cancel();
    let ctx = || supervisor::Context::detached("direct", stop.clone());
    full_path(ctx()).await;
    absolute_path(ctx()).await;
    mutable_binding(ctx()).await;
    reexported(ctx()).await;
}
