//! Case access use cases: **sharing inside the agency** (seed 002, "Share internally with users in
//! your organization: Select Inside my agency"). [`AccessService::share_inside`] puts users and
//! groups of the own organization on a case's access list for the whole case, selected folders or
//! selected evidence, writes the audit entry in the same transaction, and notifies the people it
//! names by email. Who then sees how much is the pure rule of [`casemesh_model::access`].

use crate::caller::Caller;
use crate::cases::{CaseError, CaseService};
use crate::error::{Disposition, of_sharing, of_store};
use casemesh_model::access::{AccessEntry, Principal};
use casemesh_model::audit::actions;
use casemesh_model::grant::{Recipient, Scope};
use casemesh_model::ids::ShareId;
use casemesh_model::names::{TextError, check_text, limits};
use casemesh_model::org::{Action, ShareTarget};
use casemesh_model::org::{Group, User};
use casemesh_sharing::{Engine, SharingError};
use casemesh_store::{Actor, Clock, Store, StoreError};

/// Why an inside share was refused; nothing changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum AccessError {
    /// A recipient is not a user or group of this organization: refuse, naming them all.
    #[error("not in this organization: {}", .0.join(", "))]
    UnknownRecipients(Vec<String>),
    /// No recipient given.
    #[error("name at least one user or group (--to user:NAME or group:NAME)")]
    NoRecipient,
    /// A folder path or evidence reference does not resolve in the case.
    #[error("{0}")]
    Scope(String),
    /// The message is too long or holds control characters.
    #[error(transparent)]
    Text(#[from] TextError),
    /// The store refused (no such case) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The caller may not share inside, or the case does not resolve for them.
    #[error(transparent)]
    Case(#[from] CaseError),
    /// The sharing engine refused (a bad recipient, a received copy whose policy does not allow
    /// sharing onward) or failed (reporting the hop to the origin).
    #[error(transparent)]
    Sharing(#[from] SharingError),
}

impl AccessError {
    /// What the caller should do.
    pub fn disposition(&self) -> Disposition {
        match self {
            AccessError::UnknownRecipients(_)
            | AccessError::NoRecipient
            | AccessError::Scope(_)
            | AccessError::Text(_) => Disposition::Refuse,
            AccessError::Store(e) => of_store(e),
            AccessError::Case(e) => e.disposition(),
            AccessError::Sharing(e) => of_sharing(e),
        }
    }
}

/// An inside share as the user asked for it.
#[derive(Debug, Clone)]
pub struct InsideShare {
    /// The case: record id.
    pub case: casemesh_model::ids::CaseId,
    /// `user:NAME` (or a badge id or email of a user) and `group:NAME` recipients.
    pub to: Vec<Recipient>,
    /// Folder paths; with none and no evidence, the whole case.
    pub folders: Vec<String>,
    /// Evidence ids or display ids.
    pub evidence: Vec<String>,
    /// Optional message for the notification.
    pub message: Option<String>,
}

/// What an inside share did.
#[derive(Debug, Clone)]
pub struct InsideShared {
    /// Its id (in the audit trail and on each access entry).
    pub id: ShareId,
    /// The access entries written, one per principal.
    pub entries: Vec<AccessEntry>,
    /// Notification emails queued.
    pub notified: usize,
    /// The case it gives access to.
    pub case: casemesh_model::ids::CaseId,
}

/// What stopping an inside share did.
#[derive(Debug, Clone)]
pub struct InsideStopped {
    /// The case it gave access to.
    pub case: casemesh_model::ids::CaseId,
    /// Access entries taken back.
    pub removed: usize,
}

/// Case access use cases.
#[derive(Clone)]
pub struct AccessService {
    store: Store,
    sharing: Engine,
    cases: CaseService,
    clock: Clock,
}

impl AccessService {
    /// Access use cases over `store`, resolving cases through `cases`; notifications go through
    /// `sharing`'s mail queue.
    pub fn new(store: Store, sharing: Engine, cases: CaseService, clock: Clock) -> AccessService {
        AccessService {
            store,
            sharing,
            cases,
            clock,
        }
    }

    /// **Share a case inside the organization**, as the caller (needs Share Access and the whole
    /// case): `to` as the user typed it (`user:NAME`, `group:NAME`, … or a bare username). A
    /// received copy is shared only as its sharing policy allows (share onward); the access
    /// entries and the audit entry are written together, the people named are emailed, and —
    /// for a received copy — the organization the copy came from hears of the hop (issue #13).
    /// Returns what was done and the recipients as parsed.
    pub fn share(
        &self,
        caller: &Caller,
        case: &str,
        to: &[String],
        folders: Vec<String>,
        evidence: Vec<String>,
        message: Option<String>,
    ) -> Result<(InsideShared, Vec<Recipient>), AccessError> {
        let target = ShareTarget::of_selection(&folders, &evidence);
        self.cases.require(caller, Action::ShareInside(target))?;
        let case = self.cases.resolve_whole(caller, case)?;
        let received = self.sharing.onward_inside(case.id)?;
        let to = to
            .iter()
            .map(|t| {
                if t.contains(':') {
                    casemesh_sharing::parse_recipient(t)
                } else {
                    Ok(Recipient::User(t.clone()))
                }
            })
            .collect::<Result<Vec<_>, _>>()?;
        let done = self.share_inside(
            &InsideShare {
                case: case.id,
                to: to.clone(),
                folders,
                evidence,
                message: message.clone(),
            },
            &caller.user,
            &caller.actor(self.clock.now()),
        )?;
        if let Some(received) = &received {
            self.sharing
                .report_inside_onward(received, done.id, &to, message)?;
        }
        Ok((done, to))
    }

    /// Share `req.case` inside the organization, by `by` (who must see the case whole; the
    /// caller checks that). Every recipient must be a user (by username, badge id or email) or
    /// a group of this organization; a group share follows the group's membership.
    pub fn share_inside(
        &self,
        req: &InsideShare,
        by: &User,
        actor: &Actor,
    ) -> Result<InsideShared, AccessError> {
        if req.to.is_empty() {
            return Err(AccessError::NoRecipient);
        }
        if let Some(m) = &req.message {
            check_text("message", m, limits::MESSAGE)?;
        }
        let case = self
            .store
            .case(req.case)?
            .ok_or_else(|| StoreError::NotFound(format!("case {}", req.case)))?;
        let users = self.store.users()?;
        let groups = self.store.groups()?;
        let principals = principals(&req.to, &users, &groups)?;
        let scope = if !req.evidence.is_empty() {
            let mut ids = Vec::new();
            for e in &req.evidence {
                ids.push(
                    self.store
                        .resolve_evidence(case.id, e)
                        .map_err(|_| AccessError::Scope(format!("no evidence {e:?} in the case")))?
                        .id,
                );
            }
            Scope::Evidence(ids.into())
        } else if !req.folders.is_empty() {
            let mut ids = Vec::new();
            for f in &req.folders {
                match case.resolve(f) {
                    Ok(Some(id)) => ids.push(id),
                    _ => return Err(AccessError::Scope(format!("no folder {f:?} in the case"))),
                }
            }
            Scope::Folders(ids)
        } else {
            Scope::EntireCase
        };
        let id = ShareId::random();
        let now = self.clock.now();
        let entries: Vec<AccessEntry> = principals
            .iter()
            .map(|p| AccessEntry::new(*p, scope.clone(), by.id, now, Some(id)))
            .collect();
        let names: Vec<String> = req
            .to
            .iter()
            .map(casemesh_sharing::recipients::label)
            .collect();
        let details = format!(
            "inside share {id} to {}: {}",
            names.join(", "),
            match &scope {
                Scope::EntireCase => "the whole case".to_owned(),
                Scope::Folders(f) => format!("{} folders", f.len()),
                Scope::Evidence(e) => format!("{} evidence items", e.len()),
            }
        );
        // The people named are told through the durable mail queue, in the transaction that
        // grants them access: both commit or neither does.
        let mails = self.sharing.notification(
            &req.to,
            format!(
                "Case {} shared with you by {}",
                case.case_number, by.full_name
            ),
            format!(
                "{} shared the case {} \"{}\" with you.\n{}Open it with: casemesh case show {}\n",
                by.full_name,
                case.case_number,
                case.title,
                req.message
                    .as_deref()
                    .map(|m| format!("Message: {m}\n"))
                    .unwrap_or_default(),
                case.id
            ),
        )?;
        self.store.atomically(|txn| {
            for e in &entries {
                txn.grant_case_access(case.id, e)?;
            }
            txn.audit(case.id, actor, actions::CASE_SHARE_INSIDE, None, &details)?;
            casemesh_sharing::queue_mails(txn, &mails)
        })?;
        let notified = mails.len();
        self.sharing.mail_queued(notified);
        tracing::info!(share = %id, case = %case.id, principals = entries.len(), "case shared inside the organization");
        Ok(InsideShared {
            id,
            entries,
            notified,
            case: case.id,
        })
    }
}

impl AccessService {
    /// The users and groups of this organization a sharer may name "Inside my agency" (seed
    /// 002), for recipient type-ahead: users by username (full name, email, badge ID; disabled
    /// users left out) sorted by username, then groups by name, at most `limit` entries in all.
    /// Needs the inside-share permission of a case or of evidence (`Case(Denied)` otherwise):
    /// whoever may name people inside may see who there is to name.
    pub fn directory(
        &self,
        caller: &Caller,
        limit: usize,
    ) -> Result<Vec<casemesh_sharing::directory::DirectoryEntry>, AccessError> {
        if self
            .cases
            .require(caller, Action::ShareInside(ShareTarget::Case))
            .is_err()
        {
            self.cases
                .require(caller, Action::ShareInside(ShareTarget::Evidence))?;
        }
        let mut users = self.store.users()?;
        users.retain(|u| !u.disabled);
        users.sort_by(|a, b| a.username.cmp(&b.username));
        let mut groups = self.store.groups()?;
        groups.sort_by(|a, b| a.name.cmp(&b.name));
        let users = users
            .into_iter()
            .map(|u| casemesh_sharing::directory::DirectoryEntry {
                kind: "user".into(),
                name: u.username,
                full_name: Some(u.full_name),
                email: u.email,
                badge_id: u.badge_id,
            });
        let groups = groups
            .into_iter()
            .map(|g| casemesh_sharing::directory::DirectoryEntry {
                kind: "group".into(),
                name: g.name,
                full_name: None,
                email: None,
                badge_id: None,
            });
        Ok(users.chain(groups).take(limit).collect())
    }

    /// The case an inside share gave access to, if `share` is one.
    pub fn inside_share_case(
        &self,
        share: ShareId,
    ) -> Result<Option<casemesh_model::ids::CaseId>, StoreError> {
        Ok(self.store.access_of_share(share)?.first().map(|r| r.case))
    }

    /// What inside share `share` handed over (the case or selected evidence), if it exists: the
    /// permissions that gate stopping it follow from it.
    pub fn inside_share_target(&self, share: ShareId) -> Result<Option<ShareTarget>, StoreError> {
        Ok(self
            .store
            .access_of_share(share)?
            .first()
            .map(|r| ShareTarget::of(&r.entry.scope)))
    }

    /// Stop an inside share: take back exactly the access it gave (what other shares gave the
    /// same people stays), with an audit entry, atomically. The caller checks that the user may
    /// stop it (sees the case whole).
    pub fn stop_inside(&self, share: ShareId, actor: &Actor) -> Result<InsideStopped, AccessError> {
        let rows = self.store.access_of_share(share)?;
        let Some(case) = rows.first().map(|r| r.case) else {
            return Err(AccessError::Store(StoreError::NotFound(format!(
                "share {share}"
            ))));
        };
        let removed = self.store.atomically(|txn| {
            let mut n = 0;
            for r in &rows {
                if txn.revoke_case_access(r)? {
                    n += 1;
                }
            }
            txn.audit(
                case,
                actor,
                actions::CASE_SHARE_INSIDE_STOP,
                None,
                &format!("inside share {share} stopped: {n} access entries taken back"),
            )?;
            Ok::<_, StoreError>(n)
        })?;
        tracing::info!(share = %share, case = %case, removed, "inside share stopped");
        Ok(InsideStopped { case, removed })
    }

    /// Stop inside share `id` for `caller`: needs the inside-share permission of what it
    /// handed over (the case or selected evidence) and the case seen whole, like sharing it
    /// (seed 002, "Inside my agency"). A share that does not exist, or whose case the caller
    /// does not see at all, is `Case(NotFound)`; seeing part of the case is `Case(PartOnly)`.
    /// Then [`AccessService::stop_inside`]; returns the share's id and what was taken back.
    pub fn stop(
        &self,
        caller: &Caller,
        id: ShareId,
    ) -> Result<(ShareId, InsideStopped), AccessError> {
        let not_found = || AccessError::Case(CaseError::NotFound(format!("share \"{id}\"")));
        let target = self.inside_share_target(id)?.ok_or_else(not_found)?;
        self.cases.require(caller, Action::ShareInside(target))?;
        let case = self.inside_share_case(id)?.ok_or_else(not_found)?;
        match self.cases.resolve_whole(caller, &case.to_string()) {
            Ok(_) => {}
            Err(e @ (CaseError::Denied(_) | CaseError::PartOnly)) => return Err(e.into()),
            Err(_) => return Err(not_found()),
        }
        let done = self.stop_inside(id, &caller.actor(self.clock.now()))?;
        Ok((id, done))
    }
}

/// Inside-share id `text` as a caller typed it (a path segment). Text that is not a share id
/// answers `Case(NotFound)`, as [`AccessService::stop`] answers a share that does not exist,
/// with the same message.
pub fn parse_share_id(text: &str) -> Result<ShareId, AccessError> {
    text.parse()
        .map_err(|_| AccessError::Case(CaseError::NotFound(format!("share {text:?}"))))
}

/// The principals `to` names in this organization's directory
/// ([`casemesh_sharing::recipients::principals`]); unknown ones refused together.
fn principals(
    to: &[Recipient],
    users: &[User],
    groups: &[Group],
) -> Result<Vec<Principal>, AccessError> {
    let (found, unknown) = casemesh_sharing::recipients::principals(to, users, groups);
    if unknown.is_empty() {
        Ok(found)
    } else {
        Err(AccessError::UnknownRecipients(unknown))
    }
}
