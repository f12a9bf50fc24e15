//! Containing panics: a poll wrapper, the payload's message, and locks that
//! outlive a panicking holder.

use std::any::Any;
use std::future::Future;
use std::panic::{catch_unwind, AssertUnwindSafe};
use std::pin::Pin;
use std::sync::{Mutex, MutexGuard};
use std::task::{Context, Poll};

/// Locks a mutex whose data stays consistent even if a holder panicked (no
/// user code ever runs under the supervisor's locks, and every critical
/// section is a few field writes).
pub(crate) fn lock<T>(mutex: &Mutex<T>) -> MutexGuard<'_, T> {
    mutex
        .lock()
        .unwrap_or_else(|poisoned| poisoned.into_inner())
}

/// Polls a boxed future, turning a panic during any poll into `Err(message)`.
///
/// The future is not polled again after it panicked; it is dropped with the
/// wrapper.
pub(crate) struct CatchUnwind<F: ?Sized> {
    inner: Pin<Box<F>>,
}

impl<F: Future + ?Sized> CatchUnwind<F> {
    pub(crate) fn new(inner: Pin<Box<F>>) -> Self {
        CatchUnwind { inner }
    }
}

impl<F: Future + ?Sized> Future for CatchUnwind<F> {
    type Output = Result<F::Output, String>;

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Self::Output> {
        poll_guarded(self.inner.as_mut(), cx, |value| value)
    }
}

/// Polls `future` once under the panic guard, and maps its output with
/// `then`, also under the guard (it may run user code: an error's
/// conversion, say). A panic in either is `Err(message)`.
pub(crate) fn poll_guarded<F: Future + ?Sized, T>(
    future: Pin<&mut F>,
    cx: &mut Context<'_>,
    then: impl FnOnce(F::Output) -> T,
) -> Poll<Result<T, String>> {
    match catch_unwind(AssertUnwindSafe(|| future.poll(cx).map(then))) {
        Ok(Poll::Pending) => Poll::Pending,
        Ok(Poll::Ready(value)) => Poll::Ready(Ok(value)),
        Err(payload) => Poll::Ready(Err(panic_message(payload.as_ref()))),
    }
}

/// Calls `f`, turning a panic into `Err(message)`.
pub(crate) fn catch<R>(f: impl FnOnce() -> R) -> Result<R, String> {
    catch_unwind(AssertUnwindSafe(f)).map_err(|payload| panic_message(payload.as_ref()))
}

/// The text of a panic: `panic!("...")` carries a `&str` or a `String`.
pub(crate) fn panic_message(payload: &(dyn Any + Send)) -> String {
    if let Some(s) = payload.downcast_ref::<&'static str>() {
        (*s).to_string()
    } else if let Some(s) = payload.downcast_ref::<String>() {
        s.clone()
    } else {
        "panicked with a payload that is not a string".to_string()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn message_of_str_and_string_payloads() {
        assert_eq!(catch(|| panic!("plain")).unwrap_err(), "plain");
        let n = 7;
        assert_eq!(
            catch(|| panic!("formatted {n}")).unwrap_err(),
            "formatted 7"
        );
        assert_eq!(
            catch(|| std::panic::panic_any(42u8)).unwrap_err(),
            "panicked with a payload that is not a string"
        );
    }

    #[tokio::test]
    async fn panic_inside_poll_is_an_error() {
        let fut: Pin<Box<dyn Future<Output = ()> + Send>> = Box::pin(async {
            tokio::task::yield_now().await;
            panic!("late");
        });
        assert_eq!(CatchUnwind::new(fut).await, Err("late".to_string()));
    }
}
