//! Readiness and dependencies among declared services: who waits for whom
//! before a start, and who is stopped after whom at shutdown.
//!
//! Built once by the builder from its plan; a supervisor whose services name
//! no `after` has no dependencies to wait for and no order to keep, and pays
//! nothing for this beyond an empty list. Waiting is event driven: every
//! change of a declared service's readiness or status notifies
//! [`Shared::readiness`], and whoever waits looks again.

use std::pin::pin;

use super::shared::{Node, Shared};
use crate::panic::lock;
use crate::status::Status;

/// How waiting for the dependencies ended.
pub(crate) enum Waited {
    /// Every dependency is ready: start.
    Ready,
    /// Shutdown began meanwhile: do not start.
    Stopped,
    /// A dependency ended without being ready: the reason names it.
    Failed(String),
}

/// Waits until every dependency of `node` is ready.
pub(crate) async fn wait_for(shared: &Shared, node: usize) -> Waited {
    let Some(declared) = shared.declared.get() else {
        return Waited::Ready;
    };
    let Some(node) = declared.nodes.get(node) else {
        return Waited::Ready;
    };
    loop {
        let mut changed = pin!(shared.readiness.notified());
        changed.as_mut().enable();
        if shared.is_stopping() {
            return Waited::Stopped;
        }
        let mut all_ready = true;
        for &dependency in &node.after {
            let row = &declared.nodes[dependency].row;
            let (ready, status) = {
                let s = lock(&row.state);
                (s.ready, s.status())
            };
            match status {
                _ if ready => {}
                Status::Failed { reason } => {
                    return Waited::Failed(format!(
                        "its dependency `{}` failed: {reason}",
                        row.name
                    ))
                }
                Status::Aborted => {
                    return Waited::Failed(format!("its dependency `{}` was aborted", row.name))
                }
                _ => all_ready = false,
            }
        }
        if all_ready {
            return Waited::Ready;
        }
        tokio::select! {
            () = changed => {}
            () = shared.root().cancelled() => return Waited::Stopped,
        }
    }
}

/// At shutdown: cancels each service others depend on once every service
/// that depends on it has ended; returns when all are cancelled.
pub(crate) async fn stop_in_order(shared: &Shared) {
    let Some(declared) = shared.declared.get() else {
        return;
    };
    let mut pending: Vec<&Node> = declared
        .nodes
        .iter()
        .filter(|node| node.stop.is_some())
        .collect();
    while !pending.is_empty() {
        let mut changed = pin!(shared.readiness.notified());
        changed.as_mut().enable();
        pending.retain(|node| {
            let ended = node
                .dependants
                .iter()
                .all(|&d| !lock(&declared.nodes[d].row.state).is_active());
            if ended {
                if let Some(stop) = &node.stop {
                    stop.cancel();
                }
            }
            !ended
        });
        if !pending.is_empty() {
            changed.await;
        }
    }
}

/// At the deadline: whatever still waits for its turn is told now.
pub(crate) fn stop_all(shared: &Shared) {
    if let Some(declared) = shared.declared.get() {
        for stop in declared.nodes.iter().filter_map(|node| node.stop.as_ref()) {
            stop.cancel();
        }
    }
}

/// Whether every declared service is ready.
pub(crate) fn all_ready(shared: &Shared) -> bool {
    shared.declared.get().is_none_or(|declared| {
        declared
            .nodes
            .iter()
            .all(|node| lock(&node.row.state).ready)
    })
}
