//! The store's error type.

use casemesh_model::ids::BlobHash;
use std::path::PathBuf;

/// What can go wrong in the store. Expected outcomes (not found, conflict) are kept apart from
/// failures of the disk or database.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum StoreError {
    /// The data directory's database is held by another process.
    #[error("data directory {0} is in use by another casemesh process")]
    InUse(PathBuf),
    /// The database engine failed.
    #[error("database error: {0}")]
    Db(String),
    /// A stored record could not be decoded.
    #[error("corrupt record: {0}")]
    Corrupt(String),
    /// No such record.
    #[error("{0} not found")]
    NotFound(String),
    /// A unique name is taken, or a reference is ambiguous.
    #[error("{0}")]
    Conflict(String),
    /// A blob's bytes on disk no longer match its hash.
    #[error("blob {hash} is corrupted on disk: its bytes do not match its BLAKE3 hash")]
    BlobCorrupt {
        /// The blob's address.
        hash: BlobHash,
    },
    /// A blob is referenced but its file is gone.
    #[error("blob {hash} is missing from the blob store")]
    BlobMissing {
        /// The blob's address.
        hash: BlobHash,
    },
    /// A caller's edit refused the change; the caller gets its own error back instead.
    #[error("change refused")]
    Aborted,
    /// File-system failure.
    #[error("{context}: {source}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        source: std::io::Error,
    },
}

impl StoreError {
    /// Wrap an I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
        let context = context.into();
        move |source| StoreError::Io { context, source }
    }
}
