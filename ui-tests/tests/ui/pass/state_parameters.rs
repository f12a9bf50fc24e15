// `State<T>` parameters: in any order, with or without a `Context`, async and
// blocking, any pattern, any path ending in `State`; each run gets the
// builder's values, and the function can still be called directly.
use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;
use std::time::Duration;
use supervisor::{supervised, Builder, Context, State, Status};

#[derive(Clone, Debug, PartialEq)]
struct Db(&'static str);

#[derive(Clone, Default)]
struct Calls(Arc<AtomicU32>);

impl Calls {
    fn bump(&self) {
        self.0.fetch_add(1, Ordering::SeqCst);
    }

    fn count(&self) -> u32 {
        self.0.load(Ordering::SeqCst)
    }
}

#[supervised]
async fn state_only(State(db): State<Db>, calls: State<Calls>) {
    assert_eq!(db, Db("main"));
    calls.bump(); // through `Deref`
}

#[supervised]
async fn state_before_context(
    State(db): State<Db>,
    ctx: Context,
    State(Calls(calls)): supervisor::State<Calls>,
) {
    assert_eq!(db.0, "main");
    assert_eq!(ctx.name(), "state_before_context");
    calls.fetch_add(1, Ordering::SeqCst);
}

#[supervised]
async fn context_first(_ctx: Context, mut calls: ::supervisor::State<Calls>, _db: State<Db>) {
    calls = calls.clone();
    calls.bump();
}

#[supervised(blocking)]
fn blocking_state(State(calls): State<Calls>, State(db): State<Db>) -> Result<(), String> {
    calls.bump();
    if db.0 == "main" {
        Ok(())
    } else {
        Err(format!("unexpected {db:?}"))
    }
}

#[supervised(blocking)]
fn blocking_with_context(ctx: Context, _: State<Db>, State(calls): State<Calls>) {
    assert!(!ctx.is_cancelled());
    calls.bump();
}

#[supervised]
async fn same_type_twice(State(a): State<Db>, State(b): State<Db>) {
    assert_eq!(a, b);
}

// From a macro: the whole parameter type, or only `T`, as a fragment.
macro_rules! services {
    ($async_name:ident, $param:ty, $blocking_name:ident, $t:ty) => {
        #[supervised]
        async fn $async_name(_db: $param, ctx: Context) -> Result<(), String> {
            let _ = ctx;
            Ok(())
        }

        #[supervised(blocking)]
        fn $blocking_name(calls: State<$t>) -> std::io::Result<()> {
            calls.bump();
            Ok(())
        }
    };
}

services!(macro_param, State<Db>, macro_inner, Calls);

const NAMES: [&str; 8] = [
    "state_only",
    "state_before_context",
    "context_first",
    "blocking_state",
    "blocking_with_context",
    "same_type_twice",
    "macro_param",
    "macro_inner",
];

#[tokio::main(flavor = "current_thread")]
async fn main() {
    for name in NAMES {
        let spec = supervisor::registry().find(|s| s.name() == name).unwrap();
        let types: Vec<&str> = spec.state_types().collect();
        assert!(types.iter().all(|t| t.ends_with("Db") || t.ends_with("Calls")), "{name}: {types:?}");
        assert!(!types.is_empty(), "{name}");
    }
    let spec = supervisor::registry().find(|s| s.name() == "state_only").unwrap();
    assert!(!spec.takes_context());
    let spec = supervisor::registry().find(|s| s.name() == "state_before_context").unwrap();
    assert!(spec.takes_context());

    let calls = Calls::default();
    let sup = Builder::new()
        .only(NAMES)
        .handle_signals(false)
        .state(Db("main"))
        .state(calls.clone())
        .start()
        .unwrap();
    sup.wait().await;
    for row in sup.snapshot() {
        assert_eq!(row.status, Status::Completed, "{row}");
    }
    assert_eq!(calls.count(), 6);
    sup.shutdown(Duration::from_secs(1)).await.unwrap();

    // Still ordinary functions.
    state_only(State(Db("main")), State(calls.clone())).await;
    blocking_state(State(calls.clone()), State(Db("main"))).unwrap();
    assert_eq!(calls.count(), 8);
}
