//! The sharing engine's error type: expected refusals (not found, invalid, forbidden, conflict)
//! kept apart from store and network failures, and the one place that decides what a partner is
//! told about one ([`SharingError::wire_status`]).

use casemesh_net::{ControlStatus, NetError};
use casemesh_store::StoreError;

/// What can go wrong in the sharing engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SharingError {
    /// No such partner, share, case or evidence.
    #[error("{0} not found")]
    NotFound(String),
    /// Bad input.
    #[error("{0}")]
    Invalid(String),
    /// Not allowed by the grant, the policy or the share's state.
    #[error("{0}")]
    Forbidden(String),
    /// Clashes with existing state (a partner name taken, a share already stopped).
    #[error("{0}")]
    Conflict(String),
    /// This node failed internally (a task panicked, no randomness). Never reported to a partner
    /// as a refusal: the partner retries.
    #[error("internal error: {0}")]
    Internal(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The network failed (boxed: network errors are large and rare).
    #[error("network: {0}")]
    Net(Box<NetError>),
}

impl From<NetError> for SharingError {
    fn from(e: NetError) -> Self {
        SharingError::Net(Box::new(e))
    }
}

impl SharingError {
    /// Whether this is a refusal that will not change on retry (bad input, not allowed, no such
    /// thing, a clash): the partner is told `Rejected`, a caller gets a 4xx. Everything else
    /// (store, network, internal) is worth retrying.
    pub fn is_refusal(&self) -> bool {
        match self {
            SharingError::NotFound(_)
            | SharingError::Invalid(_)
            | SharingError::Forbidden(_)
            | SharingError::Conflict(_) => true,
            // No such record, a taken name or case number: the data's answer, the same on
            // every retry ([`StoreError::is_refusal`]).
            SharingError::Store(e) => e.is_refusal(),
            _ => false,
        }
    }

    /// What a partner is told when this node could not apply its control message: the one
    /// place the wire refusal decision is made (every answer to a partner's control message
    /// goes through it). A refusal ([`SharingError::is_refusal`]) is `Rejected` with the
    /// message: the partner's outbox drops the message for good. Anything else is `Failed`:
    /// the partner keeps the message and sends it again, so an internal fault here never
    /// becomes a permanent rejection there (docs/protocol.md, "Control statuses").
    pub fn wire_status(&self) -> ControlStatus {
        if self.is_refusal() {
            ControlStatus::Rejected(self.to_string())
        } else {
            ControlStatus::Failed(self.to_string())
        }
    }
}

/// Result of the engine's operations.
pub type Result<T, E = SharingError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #9 point 4: only a refusal is `Rejected` (the partner drops the message); a fault
    /// of this node is `Failed` (the partner sends it again).
    #[test]
    fn only_refusals_are_rejected_on_the_wire() {
        let rejected = [
            SharingError::NotFound("share x".into()),
            SharingError::Invalid("bad".into()),
            SharingError::Forbidden("policy".into()),
            SharingError::Conflict("stopped".into()),
            SharingError::Store(StoreError::NotFound("case y".into())),
        ];
        for e in rejected {
            assert_eq!(e.wire_status(), ControlStatus::Rejected(e.to_string()));
        }
        let failed = [
            SharingError::Internal("task died".into()),
            SharingError::Store(StoreError::Db("io".into())),
            SharingError::Store(StoreError::NoSpace {
                needed: 2,
                available: 1,
            }),
            SharingError::Net(Box::new(NetError::Interrupted("reset".into()))),
        ];
        for e in failed {
            assert_eq!(e.wire_status(), ControlStatus::Failed(e.to_string()));
        }
    }
}
