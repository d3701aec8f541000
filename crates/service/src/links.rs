//! Download-link use cases for users of this organization, reached as `node.links()`: create a
//! link (a ZIP or ISO package of a case or a selection, built in the background), list a case's
//! links, read one, revoke one. The package builds, tokens and the public side (whoever holds a
//! link's token downloads it, no user involved) are the links service
//! ([`casemesh_links::Links`], reached for the public server as [`LinkService::public`]).
//!
//! The rules, in one place (seed 000, "Prerequisites"; seed 001, "Share external download
//! links"; issue #12; issue #13):
//! - creating a link of selected evidence needs `evidence_share_links`, of the case or of
//!   folders `case_share_links` (each with its feature), and the caller must see the case whole;
//! - a link of a received copy hands the case outside the organization: allowed only when its
//!   sharing policy allows onward sharing to others (`share_onward` and `share_onward_external`);
//! - a link is visible only to those who see its case whole (else `NotFound` as for a missing
//!   link);
//! - revoking needs either family of link permissions, or `administer` (so links can be revoked
//!   after the feature is switched off).

use crate::caller::Caller;
use crate::cases::{CaseError, CaseService};
use crate::error::{Disposition, of_sharing};
use casemesh_links::{Created, LinkError, LinkRecord, Links, NewLink, Progress};
use casemesh_model::case::Case;
use casemesh_model::ids::LinkId;
use casemesh_model::org::{Action, Denied, ShareTarget};
use casemesh_sharing::{Engine, SharingError};
use casemesh_store::Clock;

/// Why a download-link use case refused or failed; nothing changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum DownloadLinkError {
    /// The caller lacks the link permission (or the organization its feature) the selection
    /// needs; `needs` names it (`case_share_links` or `evidence_share_links`).
    #[error("creating this download link needs the {needs} permission and feature: {source}")]
    LinkDenied {
        /// The permission the selection needs.
        needs: &'static str,
        /// What the permission check said.
        source: Denied,
    },
    /// The caller may not do this, or the case does not resolve for them.
    #[error(transparent)]
    Case(#[from] CaseError),
    /// The case is a received copy whose sharing policy does not allow handing it outside this
    /// organization (`Forbidden`), or the engine failed reading it.
    #[error(transparent)]
    Sharing(#[from] SharingError),
    /// The links service refused (bad days, message, recipient, an empty selection, no such
    /// link) or failed.
    #[error(transparent)]
    Link(#[from] LinkError),
}

impl DownloadLinkError {
    /// What the caller should do.
    pub fn disposition(&self) -> Disposition {
        match self {
            DownloadLinkError::LinkDenied { .. } => Disposition::Refuse,
            DownloadLinkError::Case(e) => e.disposition(),
            DownloadLinkError::Sharing(e) => of_sharing(e),
            DownloadLinkError::Link(e) => match e.disposition() {
                casemesh_links::Disposition::Refuse => Disposition::Refuse,
                casemesh_links::Disposition::NotFound => Disposition::NotFound,
                casemesh_links::Disposition::Retry => Disposition::Retry,
                casemesh_links::Disposition::Internal => Disposition::Internal,
            },
        }
    }
}

/// The download-link use cases: cheap to clone.
#[derive(Clone)]
pub struct LinkService {
    links: Links,
    sharing: Engine,
    cases: CaseService,
    clock: Clock,
}

impl LinkService {
    /// Link use cases over the links service `links`; received copies' policies read through
    /// `sharing`, who sees which case through `cases`.
    pub fn new(links: Links, sharing: Engine, cases: CaseService, clock: Clock) -> LinkService {
        LinkService {
            links,
            sharing,
            cases,
            clock,
        }
    }

    /// The links service itself, for the public link server: tokens, the failed-guess limiter,
    /// packages on disk, download records. No [`Caller`] there: the token is the authority.
    pub fn public(&self) -> &Links {
        &self.links
    }

    /// Create a download link of `new.case` (record id or Case ID) and start building its
    /// package; the creation answer is the only place its URL (with the token) appears.
    pub fn create(&self, caller: &Caller, mut new: NewLink) -> Result<Created, DownloadLinkError> {
        let target = ShareTarget::of_selection(&new.folders, &new.evidence);
        self.cases
            .require(caller, Action::ShareLink(target))
            .map_err(|e| match e {
                CaseError::Denied(source) => DownloadLinkError::LinkDenied {
                    needs: match target {
                        ShareTarget::Case => "case_share_links",
                        ShareTarget::Evidence => "evidence_share_links",
                    },
                    source,
                },
                other => other.into(),
            })?;
        let case = self.cases.resolve_whole(caller, &new.case)?.id;
        self.sharing.onward_external_allowed(case)?;
        new.case = case.to_string();
        Ok(self.links.create(new, &caller.actor(self.clock.now()))?)
    }

    /// Case `case` (record id or Case ID) and its download links, newest last; the caller must
    /// see the case whole.
    pub fn list(
        &self,
        caller: &Caller,
        case: &str,
    ) -> Result<(Case, Vec<LinkRecord>), DownloadLinkError> {
        let case = self.cases.resolve_whole(caller, case)?.id.to_string();
        Ok(self.links.list(&case)?)
    }

    /// Link `id` and its case (`None` once the case is gone), if the caller sees the case whole;
    /// else `Link(NotFound)` as for a missing link.
    pub fn get(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(LinkRecord, Option<Case>), DownloadLinkError> {
        let link = self.visible(caller, id)?;
        let case = self.links.case_of(&link)?;
        Ok((link, case))
    }

    /// Revoke link `id`: it answers 410 from now on and its package is deleted. Needs either
    /// family of link permissions, or `administer`. Returns the link and its case.
    pub fn revoke(
        &self,
        caller: &Caller,
        id: &str,
    ) -> Result<(LinkRecord, Option<Case>), DownloadLinkError> {
        if let Err(e) = self
            .cases
            .require(caller, Action::ShareLink(ShareTarget::Case))
        {
            self.cases
                .require(caller, Action::ShareLink(ShareTarget::Evidence))
                .or_else(|_| self.cases.require(caller, Action::Administer))
                .map_err(|_| e)?;
        }
        let link = self.visible(caller, id)?.id.to_string();
        let updated = self.links.revoke(&link, &caller.actor(self.clock.now()))?;
        let case = self.links.case_of(&updated)?;
        Ok((updated, case))
    }

    /// Build progress of link `id` while its package is being built.
    pub fn progress(&self, id: LinkId) -> Option<Progress> {
        self.links.progress(id)
    }

    /// Package builds running or waiting now (a gauge of `/metrics`).
    pub fn builds_in_flight(&self) -> usize {
        self.links.builds_in_flight()
    }

    /// Link `id` if the caller sees its case whole; else `Link(NotFound)` as for a missing one.
    fn visible(&self, caller: &Caller, id: &str) -> Result<LinkRecord, DownloadLinkError> {
        let link = self.links.get(id)?;
        if self.cases.sees_whole(caller, link.case)? {
            Ok(link)
        } else {
            Err(LinkError::NotFound(format!("link {id:?} not found")).into())
        }
    }
}
