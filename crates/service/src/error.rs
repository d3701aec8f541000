//! What a caller of a use case should do about its error: the [`Disposition`] every domain error
//! of this crate answers (`CaseError::disposition`, `UserError::disposition`, …). The HTTP
//! adapters map errors to statuses in one place (`casemesh-api`'s `error.rs`); a caller that is not
//! HTTP (a periodic job, a test, a future CLI in-process) decides from this alone whether to try
//! again. The rule follows `casemesh_links::Disposition` and `SharingError::is_refusal`: an
//! internal fault is never reported as a refusal.

use casemesh_store::StoreError;

/// What a caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Refuse with the reason (bad input, not allowed, a clash): the same request unchanged gets
    /// the same answer.
    Refuse,
    /// Something named does not exist, or does not exist for this caller.
    NotFound,
    /// A temporary condition (disk full, upload broken off): the same request may succeed later.
    Retry,
    /// A fault of this node (database failure, corrupt record or blob, a task died).
    Internal,
}

/// The disposition of a store error.
pub fn of_store(e: &StoreError) -> Disposition {
    match e {
        StoreError::NotFound(_) => Disposition::NotFound,
        StoreError::Conflict(_) | StoreError::CaseNumberTaken { .. } => Disposition::Refuse,
        StoreError::NoSpace { .. } => Disposition::Retry,
        _ => Disposition::Internal,
    }
}

/// The disposition of a sharing-engine error.
pub fn of_sharing(e: &casemesh_sharing::SharingError) -> Disposition {
    use casemesh_sharing::SharingError;
    match e {
        SharingError::NotFound(_) => Disposition::NotFound,
        SharingError::Store(s) => of_store(s),
        e if e.is_refusal() => Disposition::Refuse,
        SharingError::Internal(_) => Disposition::Internal,
        _ => Disposition::Retry,
    }
}
