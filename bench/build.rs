//! Generates the declared services of the `deps` benchmark: 1,000 services
//! in 10 layers of 100, each after the service in the same column of the
//! layer below (100 chains of 10), and 1,000 flat services without `after`
//! to compare with. Declared services are fixed at compile time, so they
//! are written out here rather than by hand.

use std::fmt::Write as _;
use std::path::PathBuf;

/// Layers of the chains, and services per layer.
const LAYERS: usize = 10;
const WIDTH: usize = 100;

fn main() {
    let mut code = String::new();
    let _ = writeln!(
        code,
        "/// Layers of the chains, and services per layer.\n\
         pub(crate) const LAYERS: usize = {LAYERS};\n\
         pub(crate) const WIDTH: usize = {WIDTH};"
    );
    for layer in 0..LAYERS {
        for column in 0..WIDTH {
            let after = if layer == 0 {
                String::new()
            } else {
                format!(", after = [\"chain-{}-{column}\"]", layer - 1)
            };
            let _ = writeln!(
                code,
                "#[supervisor::supervised(name = \"chain-{layer}-{column}\"{after})]\n\
                 async fn chain_{layer}_{column}(ctx: supervisor::Context) {{ arrived({layer}); ctx.cancelled().await; }}"
            );
        }
    }
    for index in 0..LAYERS * WIDTH {
        let _ = writeln!(
            code,
            "#[supervisor::supervised(name = \"flat-{index}\")]\n\
             async fn flat_{index}(ctx: supervisor::Context) {{ arrived(0); ctx.cancelled().await; }}"
        );
    }
    let out = PathBuf::from(std::env::var_os("OUT_DIR").expect("cargo sets OUT_DIR"));
    std::fs::write(out.join("layered.rs"), code).expect("OUT_DIR is writable");
    println!("cargo:rerun-if-changed=build.rs");
}
