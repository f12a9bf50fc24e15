//! Two services declared under one name: found before anything starts, and
//! reported with both source locations, whatever `only` selects.

use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use supervisor::{supervised, Builder, Error};

static ANY_RAN: AtomicBool = AtomicBool::new(false);

mod first {
    use super::*;

    pub(crate) const LINE: u32 = line!() + 1;
    #[supervised(name = "dup-twin")]
    async fn twin() {
        ANY_RAN.store(true, Ordering::SeqCst);
    }
}

mod second {
    use super::*;

    pub(crate) const LINE: u32 = line!() + 1;
    #[supervised(name = "dup-twin")]
    async fn twin() {
        ANY_RAN.store(true, Ordering::SeqCst);
    }
}

#[supervised(name = "dup-single")]
async fn single() {
    ANY_RAN.store(true, Ordering::SeqCst);
}

fn assert_duplicate_error(result: Result<(), Error>) {
    let err = result.expect_err("duplicate names are refused");
    match &err {
        Error::DuplicateNames { duplicates } => {
            assert_eq!(duplicates.len(), 1, "{err}");
            assert_eq!(duplicates[0].name, "dup-twin", "{err}");
            assert_eq!(duplicates[0].locations.len(), 2, "{err}");
        }
        other => panic!("expected DuplicateNames, got {other}"),
    }
    for text in [err.to_string(), format!("{err:?}")] {
        assert!(text.contains("dup-twin"), "{text}");
        for line in [first::LINE, second::LINE] {
            assert!(
                text.contains(&format!("duplicates.rs:{line}")),
                "both locations (line {line}) are named: {text}"
            );
        }
    }
}

#[tokio::test]
async fn duplicate_names_refuse_to_start_with_both_locations() {
    assert_duplicate_error(Builder::new().start().map(drop));
    assert_duplicate_error(Builder::new().handle_signals(false).run().await);
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!ANY_RAN.load(Ordering::SeqCst), "nothing may have started");
}

#[tokio::test]
async fn duplicate_names_are_found_even_when_only_names_another_service() {
    assert_duplicate_error(Builder::new().only(["dup-single"]).start().map(drop));
    assert_duplicate_error(Builder::new().only(Vec::<&str>::new()).start().map(drop));
    tokio::time::sleep(Duration::from_millis(50)).await;
    assert!(!ANY_RAN.load(Ordering::SeqCst), "nothing may have started");
}
