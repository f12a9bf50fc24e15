//! Process-test helper binaries.
