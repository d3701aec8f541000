//! Errors of the S3 blob store, each saying what the caller should do: [`Action::Retry`] (the
//! store did not answer; nothing half-stored is visible, call again later) or [`Action::Refuse`]
//! (the same call will fail again; the message says what to fix).

use casemesh_model::ids::BlobHash;

/// What a caller should do about an [`S3Error`].
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Transient: connection refused or reset, timeout, 5xx or throttling after the client's own
    /// retries (object_store retries with backoff first). Nothing is visible at a blob's address
    /// that was not confirmed; call again later.
    Retry,
    /// Permanent for this request: missing or corrupt blob, bytes that do not match the expected
    /// hash, access denied, a request out of range. Do not repeat it unchanged.
    Refuse,
}

/// An error of [`crate::S3Blobs`].
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum S3Error {
    /// The object store could not be reached or failed (after the client's retries). Retry.
    #[error("object store unavailable ({op} {key}): {source}")]
    Unavailable {
        /// The operation (`put`, `get`, `copy`, …).
        op: &'static str,
        /// The object key.
        key: String,
        /// What object_store reported.
        #[source]
        source: object_store::Error,
    },
    /// The store refused the credentials or the bucket's permissions (401/403). Refuse; check
    /// `[storage]` and the key's permissions on the bucket.
    #[error(
        "object store denied access ({op} {key}); check the credentials and the key's permissions \
         on the bucket: {source}"
    )]
    Denied {
        /// The operation.
        op: &'static str,
        /// The object key.
        key: String,
        /// What object_store reported.
        #[source]
        source: object_store::Error,
    },
    /// No blob with this hash is stored. Refuse.
    #[error("blob {hash} is not in the object store")]
    Missing {
        /// The blob.
        hash: BlobHash,
    },
    /// The stored bytes (or the outboard beside them) do not match the hash: never served.
    /// Refuse; restore the blob from a partner or a backup (`delete` it, then store it again).
    #[error("blob {hash} is corrupt in the object store: {detail}")]
    Corrupt {
        /// The blob.
        hash: BlobHash,
        /// What did not verify.
        detail: String,
    },
    /// The blob is stored but its outboard is not, so ranges cannot be verified. Refuse the read;
    /// [`crate::S3Blobs::rebuild_outboard`] repairs it.
    #[error("blob {hash} has no outboard in the object store (rebuild_outboard repairs it)")]
    OutboardMissing {
        /// The blob.
        hash: BlobHash,
    },
    /// A writer told the expected hash and size got other bytes: nothing was stored. Refuse.
    #[error("expected blob {expected} of {expected_size} bytes, got {actual} of {actual_size}")]
    Mismatch {
        /// What the caller announced.
        expected: BlobHash,
        /// Its announced size.
        expected_size: u64,
        /// What the bytes hash to.
        actual: BlobHash,
        /// How many bytes came.
        actual_size: u64,
    },
    /// The request itself is wrong (range outside the blob, too large for memory). Refuse.
    #[error("invalid request: {0}")]
    Invalid(String),
    /// The bucket belongs to another node (its [`crate::OWNER_KEY`] names another
    /// organization). Refuse: two nodes on one bucket would garbage-collect each other's
    /// evidence. Give each node its own bucket.
    #[error(
        "the bucket belongs to another node (organization {owner}; this node is {me}): two nodes \
         on one bucket would delete each other's evidence in `blobs gc`. Give each node its own \
         bucket"
    )]
    OwnedByAnother {
        /// The organization the bucket's owner marker names.
        owner: String,
        /// This node's organization.
        me: String,
    },
    /// Any other answer of the object store (e.g. an unsupported operation). Refuse.
    #[error("object store error ({op} {key}): {source}")]
    Store {
        /// The operation.
        op: &'static str,
        /// The object key.
        key: String,
        /// What object_store reported.
        #[source]
        source: object_store::Error,
    },
}

impl S3Error {
    /// Whether to retry later or refuse.
    pub fn action(&self) -> Action {
        match self {
            S3Error::Unavailable { .. } => Action::Retry,
            _ => Action::Refuse,
        }
    }

    /// Classify an object_store error of `op` on `key`. `NotFound` is the caller's business (it
    /// knows which blob was meant) and lands in `Store` here.
    pub(crate) fn store(op: &'static str, key: &str, source: object_store::Error) -> S3Error {
        use object_store::Error as E;
        let key = key.to_string();
        match source {
            // object_store's retry layer reports exhausted retries, timeouts and connection
            // failures as Generic; a spawned upload task that died is a JoinError.
            E::Generic { .. } | E::JoinError { .. } => S3Error::Unavailable { op, key, source },
            E::PermissionDenied { .. } | E::Unauthenticated { .. } => {
                S3Error::Denied { op, key, source }
            }
            _ => S3Error::Store { op, key, source },
        }
    }
}
