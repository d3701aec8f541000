//! Case use cases, reached as `node.cases()`: create, list, show (audited), edit (then partners
//! holding a share get the change), set retention, the folder tree — and the rule every case,
//! evidence, audit, link and received-share use case starts with: **which case a reference names
//! for this caller, and how much of it they see** ([`CaseService::resolve`]). A case the caller may
//! not see answers exactly like a missing one, so nothing tells them it exists (issue #12; the
//! rule itself is the pure `casemesh_model::access::visibility`).
//!
//! Errors are [`CaseError`]; each says what to do next ([`CaseError::disposition`]).

use crate::caller::Caller;
use crate::error::{Disposition, of_sharing, of_store};
use casemesh_model::access::{AccessEntry, Principal, Visibility, visibility};
use casemesh_model::audit::actions;
use casemesh_model::case::{Case, Evidence, FolderError};
use casemesh_model::ids::UserId;
use casemesh_model::ids::{CaseId, EvidenceId};
use casemesh_model::names::{NameError, TextError, check_line, check_text, limits};
use casemesh_model::org::{Action, Denied, Group, Settings, User};
use casemesh_model::retention::RetentionPolicy;
use casemesh_sharing::records::{IncomingShare, OutgoingShare, ShareStatus};
use casemesh_sharing::{Engine, Missing, SharingError};
use casemesh_store::{Clock, Store, StoreError};
use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

/// Why a case use case refused or failed; nothing changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum CaseError {
    /// The caller lacks a permission, or the organization a feature, the action needs.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// No such case, item or received share — or not one this caller may see.
    #[error("{0} not found")]
    NotFound(String),
    /// The caller sees part of the case only, and the action needs all of it.
    #[error("you have access to part of this case only; ask its owner")]
    PartOnly,
    /// The request is refused as given (a bad case number, a missing field).
    #[error("{0}")]
    Invalid(String),
    /// A name is not a valid name.
    #[error("invalid name: {0}")]
    Name(#[from] NameError),
    /// A text field is too long or holds control characters.
    #[error(transparent)]
    Text(#[from] TextError),
    /// A folder operation is refused (no such folder, one exists, not empty, bad name).
    #[error(transparent)]
    Folder(#[from] FolderError),
    /// The store refused (a taken case number, no space) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The sharing engine refused or failed (received-share lookups).
    #[error(transparent)]
    Sharing(#[from] SharingError),
}

impl CaseError {
    /// What the caller should do.
    pub fn disposition(&self) -> Disposition {
        match self {
            CaseError::NotFound(_) | CaseError::Folder(FolderError::NotFound(_)) => {
                Disposition::NotFound
            }
            CaseError::Denied(_)
            | CaseError::PartOnly
            | CaseError::Invalid(_)
            | CaseError::Name(_)
            | CaseError::Text(_)
            | CaseError::Folder(_) => Disposition::Refuse,
            CaseError::Store(e) => of_store(e),
            CaseError::Sharing(e) => of_sharing(e),
        }
    }
}

/// A new case as the user asked for it.
#[derive(Debug, Clone, Default)]
pub struct NewCase {
    /// The Case ID people use, e.g. `2026-CR-0042` ([`check_case_number`]).
    pub case_number: String,
    /// Title (one line, [`limits::TITLE`]).
    pub title: String,
    /// Description ([`limits::CASE_DESCRIPTION`]).
    pub description: String,
}

/// Changes to a case's fields; `None` keeps a field.
#[derive(Debug, Clone, Default)]
pub struct CaseEdit {
    /// New Case ID.
    pub case_number: Option<String>,
    /// New title.
    pub title: Option<String>,
    /// New description.
    pub description: Option<String>,
}

/// A change to a case's folder tree; paths like `Interviews/Day 1`, `""` = root.
#[derive(Debug, Clone)]
pub enum FolderChange {
    /// Create a folder and missing parents.
    Create {
        /// The folder's path.
        path: String,
    },
    /// Rename a folder; `new_name` is one segment (`None`: refused, "new_name is required").
    Rename {
        /// The folder's path.
        path: String,
        /// Its new name.
        new_name: Option<String>,
    },
    /// Move a folder under `new_parent` (`None`: refused, "new_parent is required").
    Move {
        /// The folder's path.
        path: String,
        /// The new parent's path.
        new_parent: Option<String>,
    },
    /// Delete an empty folder and its empty subfolders.
    Delete {
        /// The folder's path.
        path: String,
    },
}

/// A case as one caller sees it: a part shows only the evidence it covers and the folders on
/// the way to it.
#[derive(Debug, Clone)]
pub struct CaseDetail {
    /// The case (folders filtered to what the caller sees).
    pub case: Case,
    /// The owner's username (its id when the user is gone).
    pub owner: String,
    /// The evidence the caller sees, in the store's order.
    pub evidence: Vec<Evidence>,
}

/// A case and the order of the evidence the caller sees, without the evidence itself: what
/// [`CaseService::show_listing`] returns so that a view of a case of any size is written item
/// by item ([`CaseListing::items`]) instead of built whole in memory (issue #11: a 100,000-item
/// case view held about 150 MiB at once). Memory: the ids and sort keys, about 60 bytes per item.
#[derive(Clone)]
pub struct CaseListing {
    /// The case (folders filtered to what the caller sees).
    pub case: Case,
    /// The owner's username (its id when the user is gone).
    pub owner: String,
    /// The evidence the caller sees, in display order (added at, then display id) — the order
    /// [`CaseService::detail`] gives.
    pub order: Vec<EvidenceId>,
    store: Store,
}

impl std::fmt::Debug for CaseListing {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CaseListing")
            .field("case", &self.case.id)
            .field("items", &self.order.len())
            .finish()
    }
}

impl CaseListing {
    /// The evidence items in [`CaseListing::order`], read from the store one at a time. An item
    /// deleted since the listing was made is left out. Errors: the store failed (a read error
    /// mid-way; the caller ends its output there).
    pub fn items(&self) -> impl Iterator<Item = Result<Evidence, CaseError>> + '_ {
        self.order.iter().filter_map(|id| {
            self.store
                .evidence(*id)
                .map_err(CaseError::from)
                .transpose()
        })
    }
}

/// One row of a case list.
#[derive(Debug, Clone)]
pub struct CaseSummary {
    /// The case.
    pub case: Case,
    /// Evidence items the caller sees in it.
    pub evidence_count: usize,
}

/// Everyone with access to a case, the one answer the API (`GET /v1/cases/{case}/access`), the
/// case page and a received copy's page show: the owner, the access list inside this
/// organization, and the partner agencies it is shared with (seed "Sharing inside the agency",
/// "Who has access").
#[derive(Debug, Clone)]
pub struct CaseAccess {
    /// The case.
    pub case: Case,
    /// Its owner, if the user still exists.
    pub owner: Option<User>,
    /// The case's access list in its stored order, each entry with the user or group it names
    /// when that still exists. The owner may be on it too (a received copy's owner is); a view
    /// that shows the owner once skips that entry.
    pub entries: Vec<InsideAccess>,
    /// This node's partner shares of the case that are not stopped (a received copy's are its
    /// onward shares), oldest first, each with its recipients and their refusals.
    pub partner_shares: Vec<OutgoingShare>,
}

/// One entry of a case's access list and whom it names.
#[derive(Debug, Clone)]
pub struct InsideAccess {
    /// The entry (principal, and the inside share that gave it, if any).
    pub entry: AccessEntry,
    /// The user or group it names, if that still exists.
    pub holder: Option<Holder>,
}

/// The user or group an access-list entry names.
#[derive(Debug, Clone)]
pub enum Holder {
    /// A user of this organization.
    User(User),
    /// A group of this organization.
    Group(Group),
}

impl InsideAccess {
    /// Whether the entry names user `id`.
    pub fn names_user(&self, id: UserId) -> bool {
        self.entry.principal == Principal::User(id)
    }

    /// The name people read: a user's full name (the username when it is blank), a group's
    /// name, else the id the entry holds.
    pub fn display_name(&self) -> String {
        match (&self.holder, &self.entry.principal) {
            (Some(Holder::User(u)), _) if !u.full_name.trim().is_empty() => u.full_name.clone(),
            (Some(Holder::User(u)), _) => u.username.clone(),
            (Some(Holder::Group(g)), _) => g.name.clone(),
            (None, Principal::User(u)) => u.to_string(),
            (None, Principal::Group(g)) => g.to_string(),
        }
    }
}

/// The case use cases: cheap to clone.
#[derive(Clone)]
pub struct CaseService {
    store: Store,
    sharing: Engine,
    settings: Arc<RwLock<Settings>>,
    clock: Clock,
}

impl CaseService {
    /// Case use cases over `store`; changes are sent to partners through `sharing`, feature flags
    /// and the default retention read from `settings`.
    pub fn new(
        store: Store,
        sharing: Engine,
        settings: Arc<RwLock<Settings>>,
        clock: Clock,
    ) -> CaseService {
        CaseService {
            store,
            sharing,
            settings,
            clock,
        }
    }

    /// A snapshot of the run-time settings.
    fn settings(&self) -> Settings {
        self.settings.read().map(|s| s.clone()).unwrap_or_default()
    }

    /// `Err(Denied)` unless `caller` may perform `action` under the current feature flags.
    pub fn require(&self, caller: &Caller, action: Action) -> Result<(), CaseError> {
        Ok(caller.require(&self.settings().features, action)?)
    }

    /// How much of `case` the caller sees: owner, administrators and `all_cases` see it whole;
    /// others what the case's access list gives them or their groups.
    pub fn visibility(&self, caller: &Caller, case: &Case) -> Result<Visibility, CaseError> {
        let entries = self.store.case_access(case.id)?;
        Ok(visibility(
            &caller.user,
            &caller.groups,
            case.owner,
            &entries,
        ))
    }

    /// The case `reference` names (record id or Case ID) among the cases the caller may see, with
    /// how much of it. A case the caller may not see is `NotFound` exactly like a missing one,
    /// and a Case ID is matched only among visible cases (the local one first, else the only
    /// copy: `casemesh_store::case_numbers::pick`).
    pub fn resolve(
        &self,
        caller: &Caller,
        reference: &str,
    ) -> Result<(Case, Visibility), CaseError> {
        let not_found = || CaseError::NotFound(format!("case {reference:?}"));
        if let Ok(id) = reference.parse::<CaseId>()
            && let Some(c) = self.store.case(id)?
        {
            let vis = self.visibility(caller, &c)?;
            return if vis.any() {
                Ok((c, vis))
            } else {
                Err(not_found())
            };
        }
        let mut visible = Vec::new();
        for c in self.store.cases_numbered(reference)? {
            if self.visibility(caller, &c)?.any() {
                visible.push(c);
            }
        }
        let case = casemesh_store::case_numbers::pick(reference, visible).map_err(|e| match e {
            StoreError::NotFound(_) => not_found(),
            e => CaseError::Store(e),
        })?;
        let vis = self.visibility(caller, &case)?;
        Ok((case, vis))
    }

    /// The case `reference` names, for a change or an action on the whole case (editing,
    /// sharing, links, its audit trail): the caller must see it whole, else [`CaseError::PartOnly`].
    pub fn resolve_whole(&self, caller: &Caller, reference: &str) -> Result<Case, CaseError> {
        match self.resolve(caller, reference)? {
            (case, Visibility::Whole) => Ok(case),
            _ => Err(CaseError::PartOnly),
        }
    }

    /// The evidence item `reference` names (id or display id) in `case`, if `vis` covers it;
    /// else `NotFound` as if it did not exist.
    pub fn evidence(
        &self,
        case: &Case,
        vis: &Visibility,
        reference: &str,
    ) -> Result<Evidence, CaseError> {
        let not_found = || CaseError::NotFound(format!("evidence {reference:?}"));
        let ev = match self.store.resolve_evidence(case.id, reference) {
            Ok(ev) => ev,
            // A display id several items share: decided among the items this caller sees, so
            // the answer never reveals an item hidden from them (issue #12).
            Err(StoreError::Conflict(_)) => {
                let mut seen = Vec::new();
                for e in self.store.case_evidence_iter(case.id)? {
                    let e = e?;
                    if e.display_id == reference && vis.covers_evidence(&e, case) {
                        seen.push(e);
                    }
                }
                return match seen.len() {
                    0 => Err(not_found()),
                    1 => Ok(seen.remove(0)),
                    n => Err(CaseError::Store(StoreError::Conflict(format!(
                        "{n} evidence items have display id {reference:?}; use the id"
                    )))),
                };
            }
            Err(e) => return Err(e.into()),
        };
        if vis.covers_evidence(&ev, case) {
            Ok(ev)
        } else {
            Err(not_found())
        }
    }

    /// The case with record id `id`, whatever the caller sees (for records that name a case:
    /// a link, a share).
    pub fn get(&self, id: CaseId) -> Result<Option<Case>, CaseError> {
        Ok(self.store.case(id)?)
    }

    /// Whether the caller sees the whole of case `id`; a case that no longer exists is visible
    /// to those who see every case. The rule for links and shares of a case.
    pub fn sees_whole(&self, caller: &Caller, id: CaseId) -> Result<bool, CaseError> {
        Ok(match self.store.case(id)? {
            Some(c) => self.visibility(caller, &c)? == Visibility::Whole,
            None => caller.sees_all(),
        })
    }

    /// Whether the caller may see the received share `s`: administrators and `all_cases`, a user
    /// the sharer named (as this organization resolved them), or whoever sees its local copy.
    pub fn may_see_received(&self, caller: &Caller, s: &IncomingShare) -> Result<bool, CaseError> {
        if caller.sees_all() || s.resolved_users.contains(&caller.user.username) {
            return Ok(true);
        }
        match s
            .local_case
            .map(|c| self.store.case(c))
            .transpose()?
            .flatten()
        {
            Some(copy) => Ok(self.visibility(caller, &copy)?.any()),
            None => Ok(false),
        }
    }

    /// The received share `reference` names (share id, or the local copy's record id or Case ID)
    /// if the caller may see it; else `Sharing(NotFound)` exactly as for a missing one.
    pub fn received(&self, caller: &Caller, reference: &str) -> Result<IncomingShare, CaseError> {
        let not_found = || {
            CaseError::Sharing(SharingError::NotFound(Missing::ReceivedShareText(
                reference.to_owned(),
            )))
        };
        let share = match self.sharing.find_received(reference) {
            Ok(s) => s,
            Err(SharingError::NotFound(_)) => {
                let (case, _) = self.resolve(caller, reference).map_err(|_| not_found())?;
                self.sharing
                    .received_of_copy(case.id)
                    .ok()
                    .flatten()
                    .ok_or_else(not_found)?
            }
            Err(other) => return Err(other.into()),
        };
        if self.may_see_received(caller, &share)? {
            Ok(share)
        } else {
            Err(not_found())
        }
    }

    /// The received share `reference` names if the caller sees **all** of it: its local copy
    /// whole, or, with no copy yet, every item the sharer sent (not a recipient added later,
    /// issue #12 item 5). What acts on the whole share goes through here: sharing it onward,
    /// reviewing, applying and dismissing updates, reading and editing its metadata. A caller
    /// who sees part of it gets `PartOnly` (403); one who sees none of it `NotFound`.
    pub fn received_whole(
        &self,
        caller: &Caller,
        reference: &str,
    ) -> Result<IncomingShare, CaseError> {
        let share = self.received(caller, reference)?;
        let whole = match share.local_case {
            Some(copy) => self.sees_whole(caller, copy)?,
            None => self
                .sharing
                .sees_every_item(&share, &caller.user.username)?,
        };
        if whole {
            Ok(share)
        } else {
            Err(CaseError::PartOnly)
        }
    }

    /// `case` as a caller who sees `vis` of it sees it.
    pub fn detail(&self, case: &Case, vis: &Visibility) -> Result<CaseDetail, CaseError> {
        let owner = self.owner_name(case)?;
        let mut evidence = self.store.case_evidence(case.id)?;
        if *vis == Visibility::Whole {
            return Ok(CaseDetail {
                case: case.clone(),
                owner,
                evidence,
            });
        }
        evidence.retain(|e| vis.covers_evidence(e, case));
        let mut shown = case.clone();
        shown.folders.retain(|f| {
            vis.shows_folder(f.id, case) || evidence.iter().any(|e| case.is_within(e.folder, f.id))
        });
        Ok(CaseDetail {
            case: shown,
            owner,
            evidence,
        })
    }

    /// Create a case owned by the caller (needs Edit Case), with the organization's default
    /// retention when one is set; audited (`case.create`) in the same transaction.
    pub fn create(&self, caller: &Caller, new: &NewCase) -> Result<CaseDetail, CaseError> {
        self.require(caller, Action::EditCase)?;
        check_case_number(&new.case_number)?;
        check_line("title", &new.title, limits::TITLE)?;
        check_text("description", &new.description, limits::CASE_DESCRIPTION)?;
        let now = self.clock.now();
        let mut case = Case::new(
            &new.case_number,
            &new.title,
            &new.description,
            caller.user.id,
            now,
        );
        if let Some(p) = self.settings().default_retention {
            case.retention = p;
        }
        self.store.create_case(&case, &caller.actor(now))?;
        self.detail(&case, &Visibility::Whole)
    }

    /// The cases the caller may see (only received ones with `external = Some(true)`, only local
    /// ones with `Some(false)`), oldest first then by Case ID; each counts the evidence the caller
    /// sees.
    pub fn list(
        &self,
        caller: &Caller,
        external: Option<bool>,
    ) -> Result<Vec<CaseSummary>, CaseError> {
        let mut out = Vec::new();
        for c in self.store.cases()? {
            if external.is_some_and(|x| x != c.is_external()) {
                continue;
            }
            let vis = self.visibility(caller, &c)?;
            if !vis.any() {
                continue;
            }
            // Counted one item at a time: memory does not grow with the case (issue #11; a
            // 100,000-item case held every record at once here).
            let mut evidence_count = 0;
            for e in self.store.case_evidence_iter(c.id)? {
                if vis.covers_evidence(&e?, &c) {
                    evidence_count += 1;
                }
            }
            out.push(CaseSummary {
                case: c,
                evidence_count,
            });
        }
        out.sort_by(|a, b| {
            a.case
                .created_at
                .cmp(&b.case.created_at)
                .then(a.case.case_number.cmp(&b.case.case_number))
        });
        Ok(out)
    }

    /// Show a case as the caller sees it; the view is audited (`case.view`).
    pub fn show(&self, caller: &Caller, reference: &str) -> Result<CaseDetail, CaseError> {
        let (case, vis) = self.viewed(caller, reference)?;
        self.detail(&case, &vis)
    }

    /// The case `reference` names for `caller` and how much of it they see, the view audited
    /// (`case.view`): the start of [`CaseService::show`] and [`CaseService::show_listing`].
    fn viewed(&self, caller: &Caller, reference: &str) -> Result<(Case, Visibility), CaseError> {
        let (case, vis) = self.resolve(caller, reference)?;
        self.store.audit(
            case.id,
            &caller.actor(self.clock.now()),
            actions::CASE_VIEW,
            None,
            "",
        )?;
        Ok((case, vis))
    }

    /// The owner's username (its id when the user is gone).
    fn owner_name(&self, case: &Case) -> Result<String, CaseError> {
        Ok(self
            .store
            .user(case.owner)?
            .map(|u| u.username)
            .unwrap_or_else(|| case.owner.to_string()))
    }

    /// [`CaseService::show`] for a case of any size: the same check and audit entry, and the
    /// same evidence in the same order, as a [`CaseListing`] whose items are read one at a time.
    /// Errors: as [`CaseService::show`].
    pub fn show_listing(&self, caller: &Caller, reference: &str) -> Result<CaseListing, CaseError> {
        let (case, vis) = self.viewed(caller, reference)?;
        let owner = self.owner_name(&case)?;
        // One pass for the sort keys (and, for a partial view, the folders its items lie in).
        let mut keys = Vec::new();
        let mut item_folders = BTreeSet::new();
        for ev in self.store.case_evidence_iter(case.id)? {
            let ev = ev?;
            if vis != Visibility::Whole && !vis.covers_evidence(&ev, &case) {
                continue;
            }
            item_folders.insert(ev.folder);
            keys.push((ev.added_at, ev.display_id, ev.id));
        }
        keys.sort();
        let mut shown = case.clone();
        if vis != Visibility::Whole {
            shown.folders.retain(|f| {
                vis.shows_folder(f.id, &case)
                    || item_folders
                        .iter()
                        .any(|within| case.is_within(*within, f.id))
            });
        }
        Ok(CaseListing {
            case: shown,
            owner,
            order: keys.into_iter().map(|(_, _, id)| id).collect(),
            store: self.store.clone(),
        })
    }

    /// Edit a case's fields (needs Edit Case and the whole case); audited (`case.edit`), then
    /// partners holding a share of the case get the change ("updates available" there).
    pub fn edit(
        &self,
        caller: &Caller,
        reference: &str,
        edit: &CaseEdit,
    ) -> Result<CaseDetail, CaseError> {
        self.require(caller, Action::EditCase)?;
        if let Some(n) = &edit.case_number {
            check_case_number(n)?;
        }
        check_line("title", edit.title.as_deref().unwrap_or(""), limits::TITLE)?;
        check_text(
            "description",
            edit.description.as_deref().unwrap_or(""),
            limits::CASE_DESCRIPTION,
        )?;
        let id = self.resolve_whole(caller, reference)?.id;
        let actor = caller.actor(self.clock.now());
        let case = self
            .store
            .update_case(id, &actor, actions::CASE_EDIT, |c| {
                let mut changed = Vec::new();
                if let Some(v) = &edit.case_number {
                    c.case_number = v.clone();
                    changed.push("case_id");
                }
                if let Some(v) = &edit.title {
                    c.title = v.clone();
                    changed.push("title");
                }
                if let Some(v) = &edit.description {
                    c.description = v.clone();
                    changed.push("description");
                }
                Ok::<_, CaseError>(format!("changed {}", changed.join(",")))
            })?;
        self.sharing.case_changed(case.id);
        self.detail(&case, &Visibility::Whole)
    }

    /// Set a case's retention policy (needs Edit Case Retention, which needs Configurable Case
    /// Retention, and the whole case); audited (`retention.set`, "before -> after").
    pub fn set_retention(
        &self,
        caller: &Caller,
        reference: &str,
        policy: RetentionPolicy,
    ) -> Result<CaseDetail, CaseError> {
        self.require(caller, Action::EditRetention)?;
        let id = self.resolve_whole(caller, reference)?.id;
        let actor = caller.actor(self.clock.now());
        let case = self
            .store
            .update_case(id, &actor, actions::RETENTION_SET, |c| {
                let before = c.retention;
                c.retention = policy;
                Ok::<_, CaseError>(format!("{before} -> {policy}"))
            })?;
        self.detail(&case, &Visibility::Whole)
    }

    /// Change the folder tree (needs Edit Case and the whole case); audited (`folder.change`).
    /// A folder holding evidence (or below which some is) is not deleted.
    pub fn change_folders(
        &self,
        caller: &Caller,
        reference: &str,
        change: &FolderChange,
    ) -> Result<CaseDetail, CaseError> {
        self.require(caller, Action::EditCase)?;
        let current = self.resolve_whole(caller, reference)?;
        let mut occupied = BTreeSet::new();
        for e in self.store.case_evidence_iter(current.id)? {
            occupied.extend(e?.folder);
        }
        let actor = caller.actor(self.clock.now());
        let case = self
            .store
            .update_case(current.id, &actor, actions::FOLDER_CHANGE, |c| {
                Ok::<_, CaseError>(match change {
                    FolderChange::Create { path: p } => {
                        format!("create {p:?} ({})", c.create_folder(p)?)
                    }
                    FolderChange::Rename { path: p, new_name } => {
                        let new = new_name
                            .as_deref()
                            .ok_or_else(|| CaseError::Invalid("new_name is required".into()))?;
                        format!("rename {p:?} to {new:?} ({})", c.rename_folder(p, new)?)
                    }
                    FolderChange::Move {
                        path: p,
                        new_parent,
                    } => {
                        let to = new_parent
                            .as_deref()
                            .ok_or_else(|| CaseError::Invalid("new_parent is required".into()))?;
                        format!("move {p:?} into {to:?} ({})", c.move_folder(p, to)?)
                    }
                    FolderChange::Delete { path: p } => format!(
                        "delete {p:?} ({} folders)",
                        c.delete_folder(p, &occupied)?.len()
                    ),
                })
            })?;
        self.detail(&case, &Visibility::Whole)
    }

    /// Who has access to the case (the caller must see it whole): its owner, the entries of its
    /// access list with their users and groups, and its partner shares that are not stopped.
    pub fn access(&self, caller: &Caller, reference: &str) -> Result<CaseAccess, CaseError> {
        let case = self.resolve_whole(caller, reference)?;
        let owner = self.store.user(case.owner)?;
        let mut entries = Vec::new();
        for entry in self.store.case_access(case.id)? {
            let holder = match entry.principal {
                Principal::User(u) => self.store.user(u)?.map(Holder::User),
                Principal::Group(g) => self.store.group(g)?.map(Holder::Group),
            };
            entries.push(InsideAccess { entry, holder });
        }
        let partner_shares = self
            .sharing
            .shares(Some(case.id))?
            .into_iter()
            .filter(|s| s.status != ShareStatus::Stopped)
            .collect();
        Ok(CaseAccess {
            case,
            owner,
            entries,
            partner_shares,
        })
    }
}

/// A case number people can read, type and tell apart: one line, not empty, no spaces at
/// either end, no invisible characters (zero-width, bidirectional controls, BOM, soft hyphen)
/// that would make two numbers look alike, and not shaped like a record id (a uuid), which every
/// command accepts in its place. Uniqueness ignores letter case (`casemesh_store::case_numbers`).
pub fn check_case_number(value: &str) -> Result<(), CaseError> {
    check_line("case_id", value, limits::CASE_NUMBER)?;
    match casemesh_model::names::case_number_problem(value) {
        Some(why) => Err(CaseError::Invalid(why)),
        None => Ok(()),
    }
}
