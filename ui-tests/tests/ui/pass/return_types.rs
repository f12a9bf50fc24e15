// Every accepted return type, async and blocking, including aliases.
use supervisor::{supervised, Context};

#[supervised]
async fn unit() {}

#[supervised]
async fn explicit_unit() -> () {}

#[supervised]
async fn io_result() -> std::io::Result<()> {
    Ok(())
}

#[supervised]
async fn anyhow_result(_ctx: Context) -> anyhow::Result<()> {
    anyhow::bail!("failed on purpose")
}

#[supervised]
async fn string_error() -> Result<(), String> {
    Err("failed on purpose".to_owned())
}

#[supervised]
async fn io_error() -> Result<(), std::io::Error> {
    Ok(())
}

#[supervised]
async fn static_str_error() -> Result<(), &'static str> {
    Ok(())
}

#[supervised]
async fn boxed_error() -> Result<(), supervisor::BoxError> {
    Ok(())
}

#[supervised(blocking)]
fn blocking_unit() {}

#[supervised(blocking)]
fn blocking_anyhow() -> anyhow::Result<()> {
    Ok(())
}

#[supervised(blocking)]
fn blocking_string(_ctx: Context) -> Result<(), String> {
    Ok(())
}

#[tokio::main(flavor = "current_thread")]
async fn main() {
    let names: Vec<&str> = supervisor::registry().map(|s| s.name()).collect();
    for name in [
        "unit",
        "explicit_unit",
        "io_result",
        "anyhow_result",
        "string_error",
        "io_error",
        "static_str_error",
        "boxed_error",
        "blocking_unit",
        "blocking_anyhow",
        "blocking_string",
    ] {
        assert!(names.contains(&name), "{name} missing from {names:?}");
    }

    unit().await;
    explicit_unit().await;
    io_result().await.unwrap();
    let ctx = Context::detached("anyhow_result", supervisor::CancellationToken::new());
    assert!(anyhow_result(ctx).await.is_err());
    assert_eq!(string_error().await.unwrap_err(), "failed on purpose");
    io_error().await.unwrap();
    static_str_error().await.unwrap();
    boxed_error().await.unwrap();
    blocking_unit();
    blocking_anyhow().unwrap();
}
