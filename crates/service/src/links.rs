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
use crate::tasks::RequestTasks;
use casemesh_links::client::ClientKey;
use casemesh_links::{Created, LinkError, LinkRecord, LinkStatus, Links, NewLink, Progress};
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
            DownloadLinkError::Link(e) => crate::error::of_link(e),
        }
    }
}

/// Link id `text` as a caller typed it (a path segment, a CLI argument). Text that is not a
/// link id answers `Link(NotFound)`, the answer for a link that does not exist, with the same
/// message.
pub fn parse_link_id(text: &str) -> Result<LinkId, DownloadLinkError> {
    text.parse()
        .map_err(|_| LinkError::NotFound(format!("no link {text:?}")).into())
}

/// The download-link use cases: cheap to clone.
#[derive(Clone)]
pub struct LinkService {
    links: Links,
    sharing: Engine,
    cases: CaseService,
    clock: Clock,
    tasks: RequestTasks,
}

impl LinkService {
    /// Link use cases over the links service `links`; received copies' policies read through
    /// `sharing`, who sees which case through `cases`.
    /// Blocking reads of the public side run on `tasks` (the node's, joined at shutdown).
    pub fn new(
        links: Links,
        sharing: Engine,
        cases: CaseService,
        clock: Clock,
        tasks: RequestTasks,
    ) -> LinkService {
        LinkService {
            links,
            sharing,
            cases,
            clock,
            tasks,
        }
    }

    /// The public side of download links, for the public link server: admitting a token,
    /// recording a download. No [`Caller`] there: the token is the authority.
    pub fn public(&self) -> PublicLinks {
        PublicLinks {
            links: self.links.clone(),
            tasks: self.tasks.clone(),
        }
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
        let case = self.cases.resolve_whole(caller, case)?;
        let links = self.links.list(case.id)?;
        Ok((case, links))
    }

    /// Link `id` and its case (`None` once the case is gone), if the caller sees the case whole;
    /// else `Link(NotFound)` as for a missing link.
    pub fn get(
        &self,
        caller: &Caller,
        id: LinkId,
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
        id: LinkId,
    ) -> Result<(LinkRecord, Option<Case>), DownloadLinkError> {
        self.may_revoke(caller)?;
        let link = self.visible(caller, id)?.id;
        let updated = self.links.revoke(link, &caller.actor(self.clock.now()))?;
        let case = self.links.case_of(&updated)?;
        Ok((updated, case))
    }

    /// Link id `text` to [`LinkService::revoke`], as a caller typed it: the permission is
    /// checked before the id, as `revoke` does, so text that is not a link id answers what an
    /// unknown link id answers (`Case(Denied)` without a link permission or `administer`,
    /// else `Link(NotFound)` as [`parse_link_id`]).
    pub fn revoke_id(&self, caller: &Caller, text: &str) -> Result<LinkId, DownloadLinkError> {
        parse_link_id(text).or_else(|e| {
            self.may_revoke(caller)?;
            Err(e)
        })
    }

    /// Whether the caller may revoke links: either family of link permissions, or
    /// `administer`; the error is the case-link permission's.
    fn may_revoke(&self, caller: &Caller) -> Result<(), DownloadLinkError> {
        if let Err(e) = self
            .cases
            .require(caller, Action::ShareLink(ShareTarget::Case))
        {
            self.cases
                .require(caller, Action::ShareLink(ShareTarget::Evidence))
                .or_else(|_| self.cases.require(caller, Action::Administer))
                .map_err(|_| e)?;
        }
        Ok(())
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
    fn visible(&self, caller: &Caller, id: LinkId) -> Result<LinkRecord, DownloadLinkError> {
        let link = self.links.get(id)?;
        if self.cases.sees_whole(caller, link.case)? {
            Ok(link)
        } else {
            Err(LinkError::NotFound(format!("link \"{id}\" not found")).into())
        }
    }
}

/// Why the public link server does not serve a token now; nothing was recorded (except a wrong
/// guess, counted against its client). The adapter turns each into a fixed page that says
/// nothing about the case.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum PublicLinkError {
    /// No link has this token (a wrong guess within the client's allowance): 404.
    #[error("no download link has this token")]
    NotFound,
    /// A wrong guess over the client's allowance ([`casemesh_links::limiter`]): 429, try again
    /// after `wait`.
    #[error("too many wrong tokens from this client; try again in {wait:?}")]
    TooManyGuesses {
        /// How long the client must wait.
        wait: std::time::Duration,
    },
    /// Expired or revoked: 410.
    #[error("the download link expired or was revoked")]
    Gone,
    /// The package is still being built: 503, try again shortly.
    #[error("the package is still being built")]
    Processing,
    /// The build failed, or the store could not be read or written: 503. The cause is logged
    /// here, never shown to the recipient.
    #[error("the download cannot be served: {0}")]
    Unavailable(String),
}

/// The public side of download links: whoever holds a link's token may download its package
/// until it expires or is revoked (seed 001, "Share external download links"). Cheap to clone.
///
/// The use cases of the public link server: [`PublicLinks::admit`] (a token → the link, or why
/// not) and [`PublicLinks::record_download`] (the `link.download` audit entry and count, once
/// per download). The rules they apply live in the links crate, unit-tested there
/// ([`casemesh_links::client`], [`casemesh_links::limiter`], [`casemesh_links::downloads`]).
#[derive(Clone)]
pub struct PublicLinks {
    links: Links,
    tasks: RequestTasks,
}

impl PublicLinks {
    /// The key the client of a request from `peer` is counted under, trusting the
    /// `X-Forwarded-For` values only behind a configured proxy ([`casemesh_links::client`]).
    pub fn client_key<'a>(
        &self,
        peer: std::net::SocketAddr,
        forwarded_for: impl IntoIterator<Item = &'a str>,
    ) -> ClientKey {
        self.links.client_key(peer, forwarded_for)
    }

    /// The link behind `token` if it may be served now. A valid token is never refused for
    /// wrong guesses made before it; a wrong one counts against `client`.
    ///
    /// Errors: [`PublicLinkError`] (unknown, over the allowance, gone, building, unavailable).
    pub async fn admit(
        &self,
        client: ClientKey,
        token: &str,
    ) -> Result<LinkRecord, PublicLinkError> {
        let found = {
            let (links, token) = (self.links.clone(), token.to_owned());
            // A read only, but on the node's tracker all the same: shutdown closes the store
            // only after it.
            self.tasks
                .blocking(move || links.find_by_token(&token))
                .await
        };
        let link = match found {
            Ok(Ok(Some(link))) => link,
            Ok(Ok(None)) => {
                if let Some(wait) = self.links.limiter().fail(client) {
                    return Err(PublicLinkError::TooManyGuesses { wait });
                }
                tracing::info!(client = %client, "unknown download link token");
                return Err(PublicLinkError::NotFound);
            }
            Ok(Err(e)) => {
                tracing::error!(error = %e, "looking up a download link");
                return Err(PublicLinkError::Unavailable(e.to_string()));
            }
            Err(e) => {
                tracing::error!(error = %e, "looking up a download link");
                return Err(PublicLinkError::Unavailable(e.to_string()));
            }
        };
        match link.status(self.links.now()) {
            LinkStatus::Ready => Ok(link),
            LinkStatus::Processing => Err(PublicLinkError::Processing),
            LinkStatus::Expired | LinkStatus::Revoked => Err(PublicLinkError::Gone),
            LinkStatus::Failed => Err(PublicLinkError::Unavailable("the build failed".into())),
        }
    }

    /// Where `link`'s package file is.
    pub fn package_path(&self, link: &LinkRecord) -> std::path::PathBuf {
        self.links.package_path(link)
    }

    /// The case of `link` (`None` once it is gone, or when it cannot be read: the landing
    /// page and the file name then go without it).
    pub fn case_of(&self, link: &LinkRecord) -> Option<Case> {
        self.links.case_of(link).ok().flatten()
    }

    /// A `GET` of `link`'s package (version `etag`) by `client` is about to be answered with
    /// bytes (`status` 200 or 206, `range` as asked): when it starts a download
    /// ([`casemesh_links::downloads`]: a client's run of requests for one package version),
    /// record `link.download` in the case's audit trail and count it, once. Returns whether it
    /// did.
    ///
    /// Errors: the audit entry could not be written: the caller must refuse the download
    /// (every download is audited), and its next request tries again.
    pub fn record_download(
        &self,
        link: &LinkRecord,
        client: ClientKey,
        etag: &str,
        range: Option<&str>,
        status: u16,
    ) -> Result<bool, PublicLinkError> {
        match self
            .links
            .record_download(link, client, etag, range, status)
        {
            Ok(true) => {
                tracing::info!(link = %link.id, client = %client, status, "package download");
                Ok(true)
            }
            Ok(false) => Ok(false),
            Err(e) => {
                tracing::error!(link = %link.id, error = %e, "cannot record a download; refusing it");
                Err(PublicLinkError::Unavailable(e.to_string()))
            }
        }
    }
}
