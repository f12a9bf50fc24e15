//! SIGINT and SIGTERM (Ctrl-C elsewhere), installed only by `run()`.
//!
//! On Unix, installing tokio's handler for a signal has two moments where a
//! signal that arrives is dropped without a trace:
//!
//! - the first time a signal is registered, signal-hook-registry (under
//!   tokio) puts its OS handler in place before it publishes the table that
//!   handler reads; a delivery in between finds no entry and is ignored,
//!   unless a handler was in place before, which it then calls instead;
//! - tokio turns the OS handler on, then subscribes the new stream; a
//!   delivery that its driver (on another worker thread) passes on in
//!   between has no listener.
//!
//! Either way the process neither dies nor stops: it runs on as if nothing
//! had been sent. So before asking tokio, we put a handler of our own in
//! place that only counts deliveries ([`unix::count`]). signal-hook-registry
//! keeps it as the previous handler and calls it on every delivery, first,
//! and in its own window too. The counters say which signals arrived;
//! tokio's streams only wake the task that waits.

/// The signals that ask for a shutdown.
pub(crate) struct Signals {
    /// One per signal whose handler is installed. A handler stays installed
    /// for the life of the process once it is in place, so every one that
    /// was installed is listened to, even when the other could not be.
    #[cfg(unix)]
    sources: Vec<unix::Source>,
}

impl Signals {
    /// Installs the handlers; `None` (with a warning) when the OS refuses
    /// both. From the moment this returns, no signal is lost: one that
    /// arrived while it ran is reported by the first [`Signals::recv`].
    pub(crate) fn install() -> Option<Signals> {
        Signals::install_with(|| {})
    }

    /// [`install`](Signals::install), calling `between` once our counting
    /// handler is in place and before tokio's is (for the tests).
    fn install_with(between: impl FnOnce()) -> Option<Signals> {
        #[cfg(unix)]
        {
            let sources = unix::install(between);
            (!sources.is_empty()).then_some(Signals { sources })
        }
        #[cfg(not(unix))]
        {
            between();
            Some(Signals {})
        }
    }

    /// Completes at the next signal; never, without handlers.
    ///
    /// Cancel safe: a signal that arrives while no `recv` is waiting is kept
    /// for the next one.
    pub(crate) async fn recv(signals: &mut Option<Signals>) {
        let Some(signals) = signals else {
            return std::future::pending().await;
        };
        #[cfg(unix)]
        {
            use std::task::Poll;
            std::future::poll_fn(|cx| {
                for source in &mut signals.sources {
                    if source.poll_arrival(cx).is_ready() {
                        return Poll::Ready(());
                    }
                }
                Poll::Pending
            })
            .await;
        }
        #[cfg(not(unix))]
        {
            let _ = signals;
            if tokio::signal::ctrl_c().await.is_err() {
                std::future::pending::<()>().await;
            }
        }
    }
}

#[cfg(unix)]
mod unix {
    use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
    use std::sync::{Mutex, PoisonError};
    use std::task::{Context, Poll};

    use tokio::signal::unix::{signal, Signal, SignalKind};

    /// The signals handled, and their names.
    const HANDLED: [(libc::c_int, &str); 2] =
        [(libc::SIGINT, "SIGINT"), (libc::SIGTERM, "SIGTERM")];

    /// Deliveries of each of [`HANDLED`] seen by [`count`].
    static DELIVERED: [AtomicU64; 2] = [AtomicU64::new(0), AtomicU64::new(0)];

    /// Whether [`count`] sees every delivery of each of [`HANDLED`]: set once
    /// it is in place, and then true for the life of the process (tokio never
    /// removes its handler, which calls ours).
    static COUNTING: [AtomicBool; 2] = [AtomicBool::new(false), AtomicBool::new(false)];

    /// Held while dispositions are looked at and changed, so that two
    /// supervisors installing at once do not step on each other.
    static INSTALLING: Mutex<()> = Mutex::new(());

    /// Our handler: counts the delivery, nothing else (an atomic add is
    /// async-signal-safe and leaves `errno` alone).
    pub(super) extern "C" fn count(signal: libc::c_int) {
        if let Some(i) = HANDLED.iter().position(|&(handled, _)| handled == signal) {
            DELIVERED[i].fetch_add(1, Ordering::SeqCst);
        }
    }

    /// One signal: its tokio stream, and, when [`count`] sees every delivery
    /// of it, the counter and how many deliveries were already reported (or
    /// came before this source).
    pub(super) struct Source {
        stream: Signal,
        counted: Option<(&'static AtomicU64, u64)>,
    }

    impl Source {
        /// Ready once per delivery that has not been reported yet.
        pub(super) fn poll_arrival(&mut self, cx: &mut Context<'_>) -> Poll<()> {
            loop {
                if let Some((delivered, reported)) = &mut self.counted {
                    if delivered.load(Ordering::SeqCst) > *reported {
                        *reported += 1;
                        return Poll::Ready(());
                    }
                }
                match self.stream.poll_recv(cx) {
                    Poll::Ready(Some(())) if self.counted.is_none() => return Poll::Ready(()),
                    // Only a wake-up: the counter says whether it is news (a
                    // delivery counted during the installation comes through
                    // here after it has been reported).
                    Poll::Ready(Some(())) => {}
                    // `None`: the runtime's signal driver is gone, and
                    // nothing more comes from this stream.
                    Poll::Ready(None) | Poll::Pending => return Poll::Pending,
                }
            }
        }
    }

    /// Puts [`count`] in place for every signal whose disposition is still
    /// the default (or ignore), calls `between`, then installs tokio's
    /// handlers. A signal that arrives after the first step is counted.
    pub(super) fn install(between: impl FnOnce()) -> Vec<Source> {
        let _installing = INSTALLING.lock().unwrap_or_else(PoisonError::into_inner);
        let hooks: Vec<Option<Hook>> = (0..HANDLED.len()).map(hook).collect();
        between();
        let mut sources = Vec::with_capacity(HANDLED.len());
        for ((signum, name), hook) in HANDLED.into_iter().zip(hooks) {
            match signal(SignalKind::from_raw(signum)) {
                Ok(stream) => sources.push(Source {
                    stream,
                    counted: hook.map(Hook::keep),
                }),
                // `hook` is dropped here: our handler is taken out again,
                // since tokio's, which would call it, is not there.
                Err(err) => tracing::warn!("cannot handle {name}, running without: {err}"),
            }
        }
        sources
    }

    /// [`count`] in place for `HANDLED[index]`, and the deliveries it had
    /// counted before.
    struct Hook {
        index: usize,
        base: u64,
        /// The disposition we replaced, when we put [`count`] in place just
        /// now: restored on drop (a failed or panicking tokio installation),
        /// unless [`Hook::keep`] is called.
        replaced: Option<libc::sigaction>,
    }

    impl Hook {
        /// Tokio's handler is in place: ours stays, called by it.
        fn keep(mut self) -> (&'static AtomicU64, u64) {
            self.replaced = None;
            (&DELIVERED[self.index], self.base)
        }
    }

    impl Drop for Hook {
        fn drop(&mut self) {
            if let Some(previous) = self.replaced.take() {
                let (signum, _) = HANDLED[self.index];
                // SAFETY: puts back the disposition `sigaction` gave us for
                // this signal; nothing refers to our handler (tokio's
                // installation did not happen).
                unsafe { libc::sigaction(signum, &previous, std::ptr::null_mut()) };
                COUNTING[self.index].store(false, Ordering::SeqCst);
            }
        }
    }

    /// Makes [`count`] see every later delivery of `HANDLED[index]`: `None`
    /// when another handler is already in place (one that is not ours: a
    /// registration from outside the supervisor; tokio's own, if it came
    /// first, has no window left to close).
    fn hook(index: usize) -> Option<Hook> {
        let (signum, _) = HANDLED[index];
        let base = DELIVERED[index].load(Ordering::SeqCst);
        if COUNTING[index].load(Ordering::SeqCst) {
            return Some(Hook {
                index,
                base,
                replaced: None,
            });
        }
        // SAFETY: a zeroed `sigaction` is a valid value (no handler, no
        // flags, empty mask); `sigaction` only reads and writes the
        // structures passed; `count` is async-signal-safe.
        let current = unsafe {
            let mut current: libc::sigaction = std::mem::zeroed();
            if libc::sigaction(signum, std::ptr::null(), &mut current) != 0 {
                return None;
            }
            if current.sa_sigaction != libc::SIG_DFL && current.sa_sigaction != libc::SIG_IGN {
                return None;
            }
            let mut ours: libc::sigaction = std::mem::zeroed();
            ours.sa_sigaction = count as extern "C" fn(libc::c_int) as libc::sighandler_t;
            ours.sa_flags = libc::SA_RESTART;
            libc::sigemptyset(&mut ours.sa_mask);
            if libc::sigaction(signum, &ours, std::ptr::null_mut()) != 0 {
                return None;
            }
            current
        };
        COUNTING[index].store(true, Ordering::SeqCst);
        Some(Hook {
            index,
            base,
            replaced: Some(current),
        })
    }
}

#[cfg(all(test, unix))]
mod tests {
    use std::time::Duration;

    use super::Signals;

    fn raise(signum: libc::c_int) {
        // SAFETY: sends a signal to this thread; its handler runs before
        // `raise` returns (the tests below install handlers first).
        assert_eq!(unsafe { libc::raise(signum) }, 0);
    }

    async fn arrives(signals: &mut Option<Signals>) -> bool {
        tokio::time::timeout(Duration::from_millis(100), Signals::recv(signals))
            .await
            .is_ok()
    }

    /// One test, since handlers and deliveries are process-wide.
    #[test]
    fn every_signal_is_reported_once_even_during_the_installation() {
        let runtime = tokio::runtime::Builder::new_current_thread()
            .enable_all()
            .build()
            .unwrap();
        runtime.block_on(async {
            // After our handler is in place, before tokio's: tokio never
            // sees this one.
            let mut signals = Signals::install_with(|| raise(libc::SIGTERM));
            assert!(signals.is_some());
            assert!(arrives(&mut signals).await, "sent during the installation");
            assert!(!arrives(&mut signals).await, "reported once");

            // Both handlers see this one: still reported once.
            raise(libc::SIGTERM);
            assert!(arrives(&mut signals).await, "sent after the installation");
            assert!(!arrives(&mut signals).await, "reported once");

            // Two deliveries are two arrivals (the second aborts a
            // shutdown), though tokio wakes the task once.
            raise(libc::SIGTERM);
            raise(libc::SIGTERM);
            assert!(arrives(&mut signals).await);
            assert!(arrives(&mut signals).await);
            assert!(!arrives(&mut signals).await);

            // A later installation (a second `run()`) does not report what
            // came before it, though tokio passes that on after it.
            drop(signals);
            raise(libc::SIGTERM);
            let mut again = Signals::install();
            assert!(!arrives(&mut again).await, "sent before this installation");
            raise(libc::SIGINT);
            assert!(arrives(&mut again).await);
        });
    }
}
