//! The sharing engine's error type: expected refusals (not found, invalid, forbidden, conflict)
//! kept apart from store and network failures.

use casemesh_net::NetError;
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
}

/// Result of the engine's operations.
pub type Result<T, E = SharingError> = std::result::Result<T, E>;
