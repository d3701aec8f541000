//! What a caller of a use case should do about its error, and the one place that becomes an HTTP
//! status.
//!
//! Every domain error of this crate answers a [`Disposition`] (refuse / not found / retry /
//! internal: `CaseError::disposition`, `UserError::disposition`, …), and [`Classify`] adds the
//! one typed [`Fact`] an HTTP answer needs beyond it (a refusal that is a missing permission, a
//! clash, a full disk, …). [`http_answer`] turns the two into a status and the admin API's stable
//! `code`; both HTTP adapters (the JSON API in `casemesh-api`'s `error.rs` and the web UI in
//! `casemesh-ui`'s `error.rs`) call it, so a use case's error gets the same status on both.
//!
//! A caller that is not HTTP (a periodic job, a test, a future CLI in-process) decides from the
//! disposition alone whether to try again. The rule follows `SharingError::is_refusal`: an
//! internal fault is never reported as a refusal, and a fact never turns one disposition into
//! another (an internal fault that is also "denied" is still a 500).

use axum::http::StatusCode;
use casemesh_links::LinkError;
use casemesh_model::case::FolderError;
use casemesh_model::names::{NameError, TextError};
use casemesh_model::org::Denied;
use casemesh_sharing::SharingError;
use casemesh_store::StoreError;

use crate::{
    AccessError, AdminError, CaseError, DownloadLinkError, EvidenceError, PartnerError,
    ReceivedError, ShareError, SweepError, UserError,
};

/// What a caller should do about an error.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Disposition {
    /// Refuse with the reason (bad input, not allowed, a clash): the same request unchanged gets
    /// the same answer.
    Refuse,
    /// Something named does not exist, or does not exist for this caller.
    NotFound,
    /// A temporary condition (disk full, upload broken off, a partner unreachable): the same
    /// request may succeed later.
    Retry,
    /// A fault of this node (database failure, corrupt record or blob, a task died).
    Internal,
}

/// The typed fact beyond the [`Disposition`] that picks an HTTP status; each refines one
/// disposition only (named on the variant) and is ignored under any other.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum Fact {
    /// Nothing more: the disposition's own status.
    #[default]
    None,
    /// Refuse: the caller is not signed in (no, an unknown or a revoked token). 401.
    Unauthenticated,
    /// Refuse: a permission, an organization feature, a sharing policy or part-only access says
    /// no. 403.
    Denied,
    /// Refuse: the request clashes with existing state (a taken name or case number, a folder
    /// that exists or is not empty, a share already stopped). 409.
    Conflict,
    /// Refuse: the thing existed and is over (a link expired or revoked). 410.
    Gone,
    /// Refuse or retry: too many requests from this caller; wait. 429.
    TooMany,
    /// Retry: the disk is full; nothing was stored. 507.
    NoSpace,
    /// Internal: a blob's bytes no longer match their hash, or its file is gone. 500 with the
    /// code `blob_corrupt`.
    BlobCorrupt,
}

/// A status and the admin API's stable error `code` (`ErrorDetail::code` in
/// `casemesh-api-types`; the codes are listed in `docs/api.md`).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct HttpAnswer {
    /// The HTTP status.
    pub status: StatusCode,
    /// The stable machine-readable code, e.g. `not_found`.
    pub code: &'static str,
}

/// The HTTP status and API code for an error of `disposition` with `fact`: the one place a
/// domain error becomes HTTP (the JSON API and the web UI both call it).
///
/// | disposition | fact | status | code |
/// |---|---|---|---|
/// | Refuse | — | 400 | `bad_request` |
/// | Refuse | Unauthenticated | 401 | `unauthorized` |
/// | Refuse | Denied | 403 | `forbidden` |
/// | Refuse | Conflict | 409 | `conflict` |
/// | Refuse | Gone | 410 | `gone` |
/// | Refuse, Retry | TooMany | 429 | `too_many_requests` |
/// | NotFound | any | 404 | `not_found` |
/// | Retry | — | 503 | `unavailable` |
/// | Retry | NoSpace | 507 | `insufficient_storage` |
/// | Internal | — | 500 | `internal` |
/// | Internal | BlobCorrupt | 500 | `blob_corrupt` |
///
/// A fact under another disposition than its own is ignored.
pub fn http_answer(disposition: Disposition, fact: Fact) -> HttpAnswer {
    let (status, code) = match (disposition, fact) {
        (Disposition::Refuse, Fact::Unauthenticated) => (StatusCode::UNAUTHORIZED, "unauthorized"),
        (Disposition::Refuse, Fact::Denied) => (StatusCode::FORBIDDEN, "forbidden"),
        (Disposition::Refuse, Fact::Conflict) => (StatusCode::CONFLICT, "conflict"),
        (Disposition::Refuse, Fact::Gone) => (StatusCode::GONE, "gone"),
        (Disposition::Refuse | Disposition::Retry, Fact::TooMany) => {
            (StatusCode::TOO_MANY_REQUESTS, "too_many_requests")
        }
        (Disposition::Refuse, _) => (StatusCode::BAD_REQUEST, "bad_request"),
        (Disposition::NotFound, _) => (StatusCode::NOT_FOUND, "not_found"),
        (Disposition::Retry, Fact::NoSpace) => {
            (StatusCode::INSUFFICIENT_STORAGE, "insufficient_storage")
        }
        (Disposition::Retry, _) => (StatusCode::SERVICE_UNAVAILABLE, "unavailable"),
        (Disposition::Internal, Fact::BlobCorrupt) => {
            (StatusCode::INTERNAL_SERVER_ERROR, "blob_corrupt")
        }
        (Disposition::Internal, _) => (StatusCode::INTERNAL_SERVER_ERROR, "internal"),
    };
    HttpAnswer { status, code }
}

/// An error an adapter can answer: what to do about it and the fact that picks its status. Every
/// use-case error family of this crate, and the errors of the crates below that reach the
/// adapters (`StoreError`, `SharingError`, `LinkError`, `FolderError`, `NameError`,
/// `TextError`, `Denied`), implements it.
pub trait Classify: std::fmt::Display {
    /// What a caller should do.
    fn disposition(&self) -> Disposition;
    /// The fact beyond the disposition; [`Fact::None`] unless the error says more.
    fn fact(&self) -> Fact {
        Fact::None
    }
    /// [`http_answer`] for this error.
    fn http(&self) -> HttpAnswer {
        http_answer(self.disposition(), self.fact())
    }
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

/// The disposition of a sharing-engine error: its refusals ([`SharingError::is_refusal`]) are
/// refusals here, a network failure is worth retrying, anything else is internal.
pub fn of_sharing(e: &SharingError) -> Disposition {
    match e {
        SharingError::NotFound(_) => Disposition::NotFound,
        SharingError::Store(s) => of_store(s),
        e if e.is_refusal() => Disposition::Refuse,
        SharingError::Internal(_) => Disposition::Internal,
        _ => Disposition::Retry,
    }
}

/// The disposition of a links-service error, its store and engine errors judged as everywhere
/// else ([`of_store`], [`of_sharing`]).
pub fn of_link(e: &LinkError) -> Disposition {
    match e {
        LinkError::Refused(_) => Disposition::Refuse,
        LinkError::NotFound(_) => Disposition::NotFound,
        LinkError::Folder(f) => f.disposition(),
        LinkError::Store(s) => of_store(s),
        LinkError::Sharing(s) => of_sharing(s),
        _ => Disposition::Internal,
    }
}

impl Classify for StoreError {
    fn disposition(&self) -> Disposition {
        of_store(self)
    }
    fn fact(&self) -> Fact {
        match self {
            StoreError::Conflict(_) | StoreError::CaseNumberTaken { .. } => Fact::Conflict,
            StoreError::NoSpace { .. } => Fact::NoSpace,
            StoreError::BlobCorrupt { .. } | StoreError::BlobMissing { .. } => Fact::BlobCorrupt,
            _ => Fact::None,
        }
    }
}

impl Classify for SharingError {
    fn disposition(&self) -> Disposition {
        of_sharing(self)
    }
    fn fact(&self) -> Fact {
        match self {
            SharingError::Forbidden(_) => Fact::Denied,
            SharingError::Conflict(_) => Fact::Conflict,
            SharingError::Store(s) => s.fact(),
            _ => Fact::None,
        }
    }
}

impl Classify for LinkError {
    fn disposition(&self) -> Disposition {
        of_link(self)
    }
    fn fact(&self) -> Fact {
        match self {
            LinkError::Folder(f) => f.fact(),
            LinkError::Store(s) => s.fact(),
            LinkError::Sharing(s) => s.fact(),
            _ => Fact::None,
        }
    }
}

impl Classify for FolderError {
    fn disposition(&self) -> Disposition {
        match self {
            FolderError::NotFound(_) => Disposition::NotFound,
            _ => Disposition::Refuse,
        }
    }
    fn fact(&self) -> Fact {
        match self {
            FolderError::Exists(_) | FolderError::NotEmpty(_) => Fact::Conflict,
            _ => Fact::None,
        }
    }
}

impl Classify for NameError {
    fn disposition(&self) -> Disposition {
        Disposition::Refuse
    }
}

impl Classify for TextError {
    fn disposition(&self) -> Disposition {
        Disposition::Refuse
    }
}

impl Classify for Denied {
    fn disposition(&self) -> Disposition {
        Disposition::Refuse
    }
    fn fact(&self) -> Fact {
        Fact::Denied
    }
}

impl Classify for CaseError {
    fn disposition(&self) -> Disposition {
        CaseError::disposition(self)
    }
    fn fact(&self) -> Fact {
        match self {
            CaseError::Denied(_) | CaseError::PartOnly => Fact::Denied,
            CaseError::Folder(e) => e.fact(),
            CaseError::Store(e) => e.fact(),
            CaseError::Sharing(e) => e.fact(),
            _ => Fact::None,
        }
    }
}

impl Classify for EvidenceError {
    fn disposition(&self) -> Disposition {
        EvidenceError::disposition(self)
    }
    fn fact(&self) -> Fact {
        match self {
            EvidenceError::Folder(e) => e.fact(),
            EvidenceError::Store(e) => e.fact(),
            EvidenceError::Case(e) => Classify::fact(e),
            _ => Fact::None,
        }
    }
}

impl Classify for UserError {
    fn disposition(&self) -> Disposition {
        UserError::disposition(self)
    }
    fn fact(&self) -> Fact {
        match self {
            UserError::Unauthenticated => Fact::Unauthenticated,
            UserError::Denied(_) => Fact::Denied,
            UserError::Store(e) => e.fact(),
            _ => Fact::None,
        }
    }
}

impl Classify for AdminError {
    fn disposition(&self) -> Disposition {
        AdminError::disposition(self)
    }
    fn fact(&self) -> Fact {
        match self {
            AdminError::Denied(_) => Fact::Denied,
            AdminError::Store(e) => e.fact(),
            _ => Fact::None,
        }
    }
}

impl Classify for ShareError {
    fn disposition(&self) -> Disposition {
        ShareError::disposition(self)
    }
    fn fact(&self) -> Fact {
        match self {
            ShareError::Case(e) => Classify::fact(e),
            ShareError::FeatureOff(_) => Fact::Denied,
            ShareError::Sharing(e) => e.fact(),
            _ => Fact::None,
        }
    }
}

impl Classify for ReceivedError {
    fn disposition(&self) -> Disposition {
        ReceivedError::disposition(self)
    }
    fn fact(&self) -> Fact {
        match self {
            ReceivedError::Case(e) => Classify::fact(e),
            ReceivedError::Sharing(e) => e.fact(),
            _ => Fact::None,
        }
    }
}

impl Classify for PartnerError {
    fn disposition(&self) -> Disposition {
        PartnerError::disposition(self)
    }
    fn fact(&self) -> Fact {
        match self {
            PartnerError::Denied(_) => Fact::Denied,
            PartnerError::Sharing(e) => e.fact(),
            _ => Fact::None,
        }
    }
}

impl Classify for AccessError {
    fn disposition(&self) -> Disposition {
        AccessError::disposition(self)
    }
    fn fact(&self) -> Fact {
        match self {
            AccessError::Store(e) => e.fact(),
            AccessError::Case(e) => Classify::fact(e),
            AccessError::Sharing(e) => e.fact(),
            _ => Fact::None,
        }
    }
}

impl Classify for DownloadLinkError {
    fn disposition(&self) -> Disposition {
        DownloadLinkError::disposition(self)
    }
    fn fact(&self) -> Fact {
        match self {
            DownloadLinkError::LinkDenied { .. } => Fact::Denied,
            DownloadLinkError::Case(e) => Classify::fact(e),
            DownloadLinkError::Sharing(e) => e.fact(),
            DownloadLinkError::Link(e) => e.fact(),
        }
    }
}

impl Classify for SweepError {
    fn disposition(&self) -> Disposition {
        match self {
            SweepError::Denied(_) => Disposition::Refuse,
            SweepError::Store(e) => of_store(e),
        }
    }
    fn fact(&self) -> Fact {
        match self {
            SweepError::Denied(_) => Fact::Denied,
            SweepError::Store(e) => e.fact(),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casemesh_sharing::{Clash, NotAllowed};

    const ALL_FACTS: [Fact; 8] = [
        Fact::None,
        Fact::Unauthenticated,
        Fact::Denied,
        Fact::Conflict,
        Fact::Gone,
        Fact::TooMany,
        Fact::NoSpace,
        Fact::BlobCorrupt,
    ];

    fn answer(d: Disposition, f: Fact) -> (u16, &'static str) {
        let a = http_answer(d, f);
        (a.status.as_u16(), a.code)
    }

    #[test]
    fn every_disposition_has_its_status() {
        assert_eq!(
            answer(Disposition::Refuse, Fact::None),
            (400, "bad_request")
        );
        assert_eq!(
            answer(Disposition::NotFound, Fact::None),
            (404, "not_found")
        );
        assert_eq!(answer(Disposition::Retry, Fact::None), (503, "unavailable"));
        assert_eq!(answer(Disposition::Internal, Fact::None), (500, "internal"));
    }

    #[test]
    fn facts_refine_their_own_disposition() {
        let r = Disposition::Refuse;
        assert_eq!(answer(r, Fact::Unauthenticated), (401, "unauthorized"));
        assert_eq!(answer(r, Fact::Denied), (403, "forbidden"));
        assert_eq!(answer(r, Fact::Conflict), (409, "conflict"));
        assert_eq!(answer(r, Fact::Gone), (410, "gone"));
        assert_eq!(answer(r, Fact::TooMany), (429, "too_many_requests"));
        assert_eq!(
            answer(Disposition::Retry, Fact::TooMany),
            (429, "too_many_requests")
        );
        assert_eq!(
            answer(Disposition::Retry, Fact::NoSpace),
            (507, "insufficient_storage")
        );
        assert_eq!(
            answer(Disposition::Internal, Fact::BlobCorrupt),
            (500, "blob_corrupt")
        );
    }

    /// A fact never moves an error out of its disposition's class: an internal fault is never a
    /// 4xx, a refusal never a 5xx, not found always 404.
    #[test]
    fn facts_never_change_the_class() {
        for f in ALL_FACTS {
            assert!(http_answer(Disposition::Refuse, f).status.is_client_error());
            assert_eq!(answer(Disposition::NotFound, f), (404, "not_found"));
            let retry = http_answer(Disposition::Retry, f).status;
            assert!(retry.is_server_error() || retry == StatusCode::TOO_MANY_REQUESTS);
            assert_eq!(
                http_answer(Disposition::Internal, f).status,
                StatusCode::INTERNAL_SERVER_ERROR
            );
        }
    }

    /// The disagreement of issue #9 point 4: an upload broken off is "try again", 503, not a
    /// refusal (the API answered 400, the UI 503).
    #[test]
    fn interrupted_upload_is_503() {
        let e = EvidenceError::Interrupted("connection reset".into());
        assert_eq!(e.http().status, StatusCode::SERVICE_UNAVAILABLE);
        assert_eq!(e.http().code, "unavailable");
    }

    #[test]
    fn nested_facts_reach_the_answer() {
        let taken = CaseError::Store(StoreError::Conflict("name taken".into()));
        assert_eq!(taken.http().status, StatusCode::CONFLICT);
        let full = EvidenceError::Store(StoreError::NoSpace {
            needed: 10,
            available: 1,
        });
        assert_eq!(full.http().status, StatusCode::INSUFFICIENT_STORAGE);
        let policy = ShareError::Sharing(SharingError::Forbidden(NotAllowed::DirectoryNotShared));
        assert_eq!(policy.http().status, StatusCode::FORBIDDEN);
        let stopped = ShareError::Sharing(
            Clash::ShareStopped {
                share: "11111111-1111-4111-8111-111111111111".parse().expect("id"),
            }
            .into(),
        );
        assert_eq!(stopped.http().status, StatusCode::CONFLICT);
        let off = ShareError::FeatureOff("advanced sharing".into());
        assert_eq!(off.http().status, StatusCode::FORBIDDEN);
        assert_eq!(
            UserError::Unauthenticated.http().status,
            StatusCode::UNAUTHORIZED
        );
        let exists = CaseError::Folder(FolderError::Exists("A".into()));
        assert_eq!(exists.http().status, StatusCode::CONFLICT);
        let gone_case = DownloadLinkError::Link(LinkError::Sharing(SharingError::Store(
            StoreError::NotFound("case z".into()),
        )));
        assert_eq!(gone_case.http().status, StatusCode::NOT_FOUND);
        let unreachable = SharingError::Net(Box::new(casemesh_net::NetError::Interrupted(
            "reset".into(),
        )));
        assert_eq!(unreachable.http().status, StatusCode::SERVICE_UNAVAILABLE);
        let busy = SharingError::Unavailable(casemesh_sharing::Unavailable::Directory {
            partner: "County DA".into(),
            status: casemesh_net::ControlStatus::Busy,
        });
        assert_eq!(busy.http().status, StatusCode::SERVICE_UNAVAILABLE);
        let internal = SharingError::Internal("task died".into());
        assert_eq!(internal.http().status, StatusCode::INTERNAL_SERVER_ERROR);
    }
}
