// Services in modules, with visibility and attributes, and from a macro.
use supervisor::supervised;

mod services {
    use supervisor::{supervised, Context};

    /// Documented, public, and still a normal function.
    #[supervised(name = "nested")]
    #[allow(clippy::unused_async)]
    pub async fn nested(ctx: Context) -> std::io::Result<()> {
        ctx.cancelled().await;
        Ok(())
    }
}

macro_rules! service {
    ($name:ident, $max:literal, $base:literal) => {
        #[supervised(restart = backoff($max, $base))]
        async fn $name() {}
    };
}

service!(from_macro, 7, "2s");

// The name comes from the caller, the return type from the macro's body.
macro_rules! fallible_service {
    ($name:ident, $blocking_name:ident) => {
        #[supervised]
        async fn $name(_ctx: supervisor::Context) -> std::io::Result<()> {
            Ok(())
        }

        #[supervised(blocking)]
        fn $blocking_name() -> Result<(), String> {
            Ok(())
        }
    };
}

fallible_service!(fallible_from_macro, blocking_from_macro);

fn main() {
    let spec = supervisor::registry()
        .find(|s| s.name() == "nested")
        .unwrap();
    assert!(
        spec.module_path().ends_with("services"),
        "{}",
        spec.module_path()
    );
    assert!(spec.file().ends_with("placement.rs"), "{}", spec.file());
    assert!(spec.line() > 0 && spec.column() > 0);

    let spec = supervisor::registry()
        .find(|s| s.name() == "from_macro")
        .unwrap();
    assert_eq!(spec.restart().max_restarts(), 7);
    let names: Vec<&str> = supervisor::registry().map(|s| s.name()).collect();
    for name in ["fallible_from_macro", "blocking_from_macro"] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }
    let _ = (
        services::nested,
        from_macro,
        fallible_from_macro,
        blocking_from_macro,
    );
}
