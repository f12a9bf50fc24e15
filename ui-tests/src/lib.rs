//! Compile tests of the `#[supervised]` attribute; nothing to link against.
//!
//! `tests/ui.rs` compiles every file under `tests/ui/fail` (each must fail
//! with the message in its `.stderr`) and `tests/ui/pass` (each must build
//! and run). Regenerate the `.stderr` files with `TRYBUILD=overwrite cargo
//! test -p ui-tests` and review the diff like code.
