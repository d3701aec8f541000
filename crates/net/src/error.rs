//! Errors of the net layer: [`NetError`] for operations of a [`crate::NetHandle`], and
//! [`Refusal`], the expected "no" a serving node sends back for a blob request.

use std::{fmt, io};

use casemesh_model::ids::BlobHash;
use libp2p::PeerId;

/// Why a serving node declined a blob request. Sent on the wire (see `docs/protocol.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
#[non_exhaustive]
pub enum RefusalCode {
    /// The node has no blob with that hash (or will not admit to having it).
    NotFound,
    /// The grant does not allow this peer to read this blob (missing, invalid, revoked, expired).
    Forbidden,
    /// The node is too busy right now; try again later.
    Busy,
    /// The request was malformed (bad header, offset beyond the end, oversize grant).
    BadRequest,
    /// The serving node failed internally (I/O error reading its own store).
    Internal,
    /// A code this version does not know; kept so newer peers' codes survive a roundtrip.
    Unknown(u8),
}

impl RefusalCode {
    /// The wire byte of this code.
    pub fn to_u8(self) -> u8 {
        match self {
            RefusalCode::NotFound => 1,
            RefusalCode::Forbidden => 2,
            RefusalCode::Busy => 3,
            RefusalCode::BadRequest => 4,
            RefusalCode::Internal => 5,
            RefusalCode::Unknown(b) => b,
        }
    }

    /// The code for a wire byte.
    pub fn from_u8(b: u8) -> Self {
        match b {
            1 => RefusalCode::NotFound,
            2 => RefusalCode::Forbidden,
            3 => RefusalCode::Busy,
            4 => RefusalCode::BadRequest,
            5 => RefusalCode::Internal,
            other => RefusalCode::Unknown(other),
        }
    }
}

/// A serving node's refusal of a blob request: a code the requester can act on plus a
/// human-readable reason (at most [`crate::wire::MAX_REASON_LEN`] bytes on the wire).
#[derive(Debug, Clone, PartialEq, Eq, Hash)]
pub struct Refusal {
    /// Machine-readable category.
    pub code: RefusalCode,
    /// Short explanation for logs and operators. Never contains evidence content.
    pub reason: String,
}

impl Refusal {
    /// A refusal with the given code and reason.
    pub fn new(code: RefusalCode, reason: impl Into<String>) -> Self {
        Self {
            code,
            reason: reason.into(),
        }
    }

    /// Shorthand for [`RefusalCode::NotFound`].
    pub fn not_found(reason: impl Into<String>) -> Self {
        Self::new(RefusalCode::NotFound, reason)
    }

    /// Shorthand for [`RefusalCode::Forbidden`].
    pub fn forbidden(reason: impl Into<String>) -> Self {
        Self::new(RefusalCode::Forbidden, reason)
    }
}

impl fmt::Display for Refusal {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "{:?}: {}", self.code, self.reason)
    }
}

impl std::error::Error for Refusal {}

/// What can go wrong in an operation of a [`crate::NetHandle`].
///
/// What stays uncertain after a failure:
/// - [`NetError::Control`] with an outbound failure other than "dial failure" or
///   "unsupported protocols": the request may or may not have reached the peer and may or may
///   not have been acted upon (the response was lost). Control requests carry a `msg_id` so the
///   receiver can deduplicate a retry.
/// - [`NetError::Io`] / [`NetError::Interrupted`] during a fetch: the partial file keeps every
///   byte verified so far; calling `fetch_blob` again resumes from there.
/// - [`NetError::Verification`]: the peer sent bytes that do not hash to what was asked; the
///   verified prefix is kept, nothing unverified was written, no complete file exists.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum NetError {
    /// The configuration is unusable (bad key, bad listen address, ...).
    #[error("invalid configuration: {0}")]
    Config(String),
    /// Listening or building the transport failed.
    #[error("transport error: {0}")]
    Transport(String),
    /// The peer is not a registered partner; nothing was sent.
    #[error("peer {0} is not a registered partner")]
    NotPartner(PeerId),
    /// A message is larger than the protocol allows; nothing was sent.
    #[error("message too large: {size} bytes, limit {limit}")]
    TooLarge {
        /// Encoded size of the message.
        size: usize,
        /// The protocol's limit.
        limit: usize,
    },
    /// The control request failed; see the type-level docs for what is uncertain.
    #[error("control request to {peer} failed: {reason}")]
    Control {
        /// The peer the request was for.
        peer: PeerId,
        /// The underlying request-response failure, rendered.
        reason: String,
    },
    /// The peer answered with something that breaks the protocol.
    #[error("protocol violation by {peer}: {reason}")]
    Protocol {
        /// The misbehaving peer.
        peer: PeerId,
        /// What was wrong.
        reason: String,
    },
    /// The serving node refused the blob request.
    #[error("refused by {peer}: {refusal}")]
    Refused {
        /// The refusing peer.
        peer: PeerId,
        /// Its reason.
        refusal: Refusal,
    },
    /// Data from the peer failed BLAKE3 verification at `offset`; the fetch was stopped there.
    #[error("blob {hash} from {peer} failed verification at byte {offset}")]
    Verification {
        /// The peer that sent the bad data.
        peer: PeerId,
        /// The blob being fetched.
        hash: BlobHash,
        /// Start of the chunk group (or the tree node's first byte) that failed.
        offset: u64,
    },
    /// The blob size announced by the peer differs from the caller's expectation.
    #[error("blob {hash}: expected {expected} bytes, peer announced {announced}")]
    SizeMismatch {
        /// The blob being fetched.
        hash: BlobHash,
        /// What the caller expected.
        expected: u64,
        /// What the peer announced.
        announced: u64,
    },
    /// The stream ended or the fetch was cancelled before the blob was complete; resumable.
    #[error("transfer interrupted: {0}")]
    Interrupted(String),
    /// Opening a stream to the peer failed (not connected, dial failed, protocol unsupported).
    #[error("could not open stream to {peer}: {reason}")]
    Stream {
        /// The peer.
        peer: PeerId,
        /// Why.
        reason: String,
    },
    /// Local or network I/O failed.
    #[error("i/o error: {0}")]
    Io(#[from] io::Error),
    /// The net actor has stopped (node shutting down).
    #[error("the network service has shut down")]
    Shutdown,
}
