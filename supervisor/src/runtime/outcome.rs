//! How one run ended, and the text of a failure.

use crate::panic::catch;
use crate::spec::BoxError;

/// How one run ended.
pub(crate) enum Outcome {
    /// Returned `Ok(())` (or `()`).
    Returned,
    /// Panicked or returned `Err`: the reason.
    Failed(String),
    /// Dropped at shutdown: it had no `Context` to be told through.
    Dropped,
}

impl Outcome {
    /// From what a run's future returned under the panic guard.
    pub(crate) fn from_run<E: Into<BoxError>>(result: Result<Result<(), E>, String>) -> Outcome {
        match result {
            Ok(Ok(())) => Outcome::Returned,
            Ok(Err(error)) => Outcome::Failed(error_text(&*error.into())),
            Err(panic) => Outcome::Failed(panic),
        }
    }
}

/// An error's text with its chain of sources: `outer: inner: root cause`.
///
/// The error's `Display` is user code: one that panics is noted in the text
/// instead (the failure must still be recorded, restarted and reported).
pub(crate) fn error_text(error: &(dyn std::error::Error + 'static)) -> String {
    let mut text = display(error);
    let mut source = catch(|| error.source()).ok().flatten();
    while let Some(cause) = source {
        let cause_text = display(cause);
        // Some errors already include their source in their own text.
        if !text.contains(&cause_text) {
            text.push_str(": ");
            text.push_str(&cause_text);
        }
        source = catch(|| cause.source()).ok().flatten();
    }
    text
}

/// `error.to_string()`, or a note saying why it could not be had.
fn display(error: &dyn std::error::Error) -> String {
    catch(|| error.to_string()).unwrap_or_else(|panic| {
        format!("(the error could not be displayed: its `Display` panicked: {panic})")
    })
}

#[cfg(test)]
mod tests {
    use std::fmt;

    use super::*;

    #[derive(Debug)]
    struct Layer(&'static str, Option<Box<Layer>>);

    impl fmt::Display for Layer {
        fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
            f.write_str(self.0)
        }
    }

    impl std::error::Error for Layer {
        fn source(&self) -> Option<&(dyn std::error::Error + 'static)> {
            self.1.as_deref().map(|e| e as _)
        }
    }

    #[test]
    fn a_chain_reads_outer_to_root_cause() {
        let error = Layer(
            "loading the catalogue",
            Some(Box::new(Layer(
                "reading catalogue.json",
                Some(Box::new(Layer("permission denied", None))),
            ))),
        );
        assert_eq!(
            error_text(&error),
            "loading the catalogue: reading catalogue.json: permission denied"
        );
    }

    #[test]
    fn a_source_already_in_the_text_is_not_repeated() {
        let error = Layer(
            "connect failed: connection refused",
            Some(Box::new(Layer("connection refused", None))),
        );
        assert_eq!(error_text(&error), "connect failed: connection refused");
    }
}
