//! SIGINT and SIGTERM (Ctrl-C elsewhere), installed only by `run()`.

/// The signals that ask for a shutdown.
pub(crate) struct Signals {
    #[cfg(unix)]
    interrupt: tokio::signal::unix::Signal,
    #[cfg(unix)]
    terminate: tokio::signal::unix::Signal,
}

impl Signals {
    /// Installs the handlers; `None` (with a warning) when the OS refuses.
    pub(crate) fn install() -> Option<Signals> {
        #[cfg(unix)]
        {
            use tokio::signal::unix::{signal, SignalKind};
            match (
                signal(SignalKind::interrupt()),
                signal(SignalKind::terminate()),
            ) {
                (Ok(interrupt), Ok(terminate)) => Some(Signals {
                    interrupt,
                    terminate,
                }),
                (Err(err), _) | (_, Err(err)) => {
                    tracing::warn!("cannot handle SIGINT/SIGTERM, running without: {err}");
                    None
                }
            }
        }
        #[cfg(not(unix))]
        {
            Some(Signals {})
        }
    }

    /// Completes at the next signal; never, without handlers.
    pub(crate) async fn recv(signals: &mut Option<Signals>) {
        let Some(signals) = signals else {
            return std::future::pending().await;
        };
        #[cfg(unix)]
        {
            let got = tokio::select! {
                got = signals.interrupt.recv() => got,
                got = signals.terminate.recv() => got,
            };
            if got.is_none() {
                // The runtime's signal driver is gone: no signal can come.
                std::future::pending::<()>().await;
            }
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
