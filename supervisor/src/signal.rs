//! SIGINT and SIGTERM (Ctrl-C elsewhere), installed only by `run()`.

/// The signals that ask for a shutdown.
pub(crate) struct Signals {
    /// One stream per signal whose handler is installed. A handler stays
    /// installed for the life of the process once tokio has put it in place,
    /// so every one that was installed is listened to, even when the other
    /// could not be.
    #[cfg(unix)]
    streams: Vec<tokio::signal::unix::Signal>,
}

impl Signals {
    /// Installs the handlers; `None` (with a warning) when the OS refuses
    /// both.
    pub(crate) fn install() -> Option<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            let mut streams = Vec::with_capacity(2);
            for (kind, name) in [
                (SignalKind::interrupt(), "SIGINT"),
                (SignalKind::terminate(), "SIGTERM"),
            ] {
                match signal(kind) {
                    Ok(stream) => streams.push(stream),
                    Err(err) => tracing::warn!("cannot handle {name}, running without: {err}"),
                }
            }
            (!streams.is_empty()).then_some(Signals { streams })
        }
        #[cfg(not(unix))]
        {
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
                for stream in &mut signals.streams {
                    // `None` would mean the runtime's signal driver is gone:
                    // nothing more comes from that stream, but the other one
                    // is still waited on.
                    if let Poll::Ready(Some(())) = stream.poll_recv(cx) {
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
