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
    /// A case number given to a new or renamed local case is already used by another case
    /// (see [`crate::case_numbers`]); nothing was written.
    #[error(
        "case number {number:?} is already used by case {existing}{}; choose another case number",
        received_from.as_ref().map(|o| format!(" (a copy received from {o})")).unwrap_or_default()
    )]
    CaseNumberTaken {
        /// The number asked for.
        number: String,
        /// The record id of the case that has it (a local one when there is one).
        existing: casemesh_model::ids::CaseId,
        /// The sharer's name when that case is a received copy.
        received_from: Option<String>,
    },
    /// A blob's bytes on disk no longer match its hash.
    #[error("blob {hash} is corrupted: its stored bytes do not match its BLAKE3 hash")]
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
    /// Not enough free disk space for what was asked; nothing was written. `needed` is 0 when a
    /// write hit a full disk rather than a check before it.
    #[error("not enough disk space{}", space_detail(*needed, *available))]
    NoSpace {
        /// Bytes the operation needs (including the reserve kept free for the database).
        needed: u64,
        /// Bytes free on the data directory's file system.
        available: u64,
    },
    /// A caller's edit refused the change; the caller gets its own error back instead.
    #[error("change refused")]
    Aborted,
    /// File-system failure. The underlying error is in the text, not returned as `source()`:
    /// an error printer that walks the chain (anyhow's `{:#}`) would print it twice.
    #[error("{context}: {error}")]
    Io {
        /// What was being done.
        context: String,
        /// The underlying error.
        error: std::io::Error,
    },
}

fn space_detail(needed: u64, available: u64) -> String {
    if needed == 0 {
        " (the disk filled up during the write; nothing was kept)".into()
    } else {
        format!(": {needed} bytes needed, {available} bytes available")
    }
}

impl StoreError {
    /// Whether this is an outcome of the data as it stands, not a failure: no such record, a
    /// name or case number taken. Asking again gives the same answer, so a partner's message
    /// that meets one is refused (`Rejected`), never retried for ever.
    pub fn is_refusal(&self) -> bool {
        matches!(
            self,
            StoreError::NotFound(_) | StoreError::Conflict(_) | StoreError::CaseNumberTaken { .. }
        )
    }

    /// Wrap an I/O error with what was being done.
    pub fn io(context: impl Into<String>) -> impl FnOnce(std::io::Error) -> StoreError {
        let context = context.into();
        move |source| {
            if source.kind() == std::io::ErrorKind::StorageFull {
                return StoreError::NoSpace {
                    needed: 0,
                    available: 0,
                };
            }
            StoreError::Io {
                context,
                error: source,
            }
        }
    }
}
