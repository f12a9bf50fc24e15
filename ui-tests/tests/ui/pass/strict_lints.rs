// The generated code is clean under strict lints in the user's crate.
#![deny(
    warnings,
    missing_docs,
    unreachable_pub,
    unused_qualifications,
    unused_results,
    unsafe_code,
    rust_2018_idioms,
    non_snake_case
)]
//! A crate that denies every warning still accepts `#[supervised]`.

use supervisor::{supervised, Context};

/// An async service.
#[supervised(restart = backoff(1, "1s"))]
pub async fn public_async(ctx: Context) -> anyhow::Result<()> {
    ctx.cancelled().await;
    Ok(())
}

/// A blocking service without a context.
#[supervised(blocking)]
pub fn public_blocking() {}

#[supervised]
async fn private_async() {}

fn main() {
    let _ = (public_async, public_blocking, private_async);
    assert_eq!(supervisor::registry().count(), 3);
}
