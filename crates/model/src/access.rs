//! Per-case access inside the organization: who may see and open a case, and how much of it.
//!
//! Issue #12, item 1, and seed 002 ("Share case access": "People you share with can open the case
//! and work with the evidence based on the access you allow"; the profile icons show "who has
//! access", "the case owner is shown in green"). Every case has an owner, the user who created it
//! (or, for a received copy, the node's intake owner), and an access list of [`AccessEntry`]s:
//! users and groups of the organization it was shared with inside the agency, each for the whole
//! case, selected folders or selected evidence. A group entry follows the group's membership at
//! the time of each check, not at the time of the share.
//!
//! [`visibility`] is the one rule every read of a case goes through. A user who may not see a case
//! gets [`Visibility::None`], which the API answers with 404, as if the case did not exist.
//! Administrators and holders of [`Permission::AllCases`] see every case whole.
//!
//! This module is pure: the store holds the entries, the API asks here.

use crate::case::{Case, Evidence};
use crate::grant::Scope;
use crate::ids::{EvidenceId, FolderId, GroupId, ShareId, UserId};
use crate::org::{Group, Permission, User, effective_permissions};
use crate::time::Timestamp;
use serde::{Deserialize, Serialize};

/// Someone of the own organization a case can be shared with.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(tag = "kind", content = "id", rename_all = "snake_case")]
pub enum Principal {
    /// One user.
    User(UserId),
    /// Every current member of a group.
    Group(GroupId),
}

/// One line of a case's access list: `principal` may open `scope` of the case.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AccessEntry {
    /// Who.
    pub principal: Principal,
    /// How much of the case: the whole case, folders (and everything below them, including what is
    /// added there later) or exactly these items.
    pub scope: Scope,
    /// The user who shared it.
    pub granted_by: UserId,
    /// When (UTC).
    pub granted_at: Timestamp,
    /// The share it came from: an inside share, or a received partner share whose recipients
    /// named this principal. `None` for an entry made directly.
    pub share: Option<ShareId>,
    /// For a recipient the sharer added to a partner share after it was first received: the
    /// sequence number of the update that named them. Of the items the sharer sent, they see only
    /// those that arrived in that update or later ([`Evidence::received_seq`] ≥ this); seed 000,
    /// "Recipients of shared cases will not receive updates from previous shares, but they will
    /// have access to all future updates you include" (issue #12, item 5). Items the receiving
    /// organization added itself are not updates and stay visible. `None`: every item.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since_seq: Option<u64>,
}

impl AccessEntry {
    /// `principal` may open `scope`, given by `granted_by` at `granted_at` (from `share`, if any).
    pub fn new(
        principal: Principal,
        scope: Scope,
        granted_by: UserId,
        granted_at: Timestamp,
        share: Option<ShareId>,
    ) -> AccessEntry {
        AccessEntry {
            principal,
            scope,
            granted_by,
            granted_at,
            share,
            since_seq: None,
        }
    }

    /// The same entry, limited to the sharer's updates from sequence number `seq` on (see
    /// [`AccessEntry::since_seq`]).
    pub fn since(mut self, seq: u64) -> AccessEntry {
        self.since_seq = Some(seq);
        self
    }
}

/// How much of a case a user may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Visibility {
    /// Nothing: the case does not exist for this user (404).
    None,
    /// The whole case: owner, administrator, [`Permission::AllCases`], or a whole-case entry.
    Whole,
    /// Parts of it: the union of these parts.
    Part(Vec<Part>),
}

/// One part of a case a user may see.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Part {
    /// Folders or evidence (never [`Scope::EntireCase`]).
    Scope(Scope),
    /// The whole case, except the items a partner sent before the update with this sequence
    /// number (see [`AccessEntry::since_seq`]).
    Since(u64),
}

impl Part {
    /// Whether this part holds the item `ev` of `case`.
    fn covers(&self, ev: &Evidence, case: &Case) -> bool {
        match self {
            Part::Scope(s) => s.covers(ev.id, ev.folder, case),
            Part::Since(seq) => ev.received_seq.is_none_or(|r| r >= *seq),
        }
    }
}

impl Visibility {
    /// Whether the case shows in the user's lists at all.
    pub fn any(&self) -> bool {
        !matches!(self, Visibility::None)
    }

    /// Whether the user may open the evidence item `id` lying in `folder` of `case`, judged by
    /// scopes alone: a [`Part::Since`] part does not count here (it needs the item's
    /// [`Evidence::received_seq`]; use [`Visibility::covers_evidence`] where the item is at hand).
    pub fn covers(&self, id: EvidenceId, folder: Option<FolderId>, case: &Case) -> bool {
        match self {
            Visibility::None => false,
            Visibility::Whole => true,
            Visibility::Part(parts) => parts.iter().any(|p| match p {
                Part::Scope(s) => s.covers(id, folder, case),
                Part::Since(_) => false,
            }),
        }
    }

    /// Whether the user may open the evidence item `ev` of `case`.
    pub fn covers_evidence(&self, ev: &Evidence, case: &Case) -> bool {
        match self {
            Visibility::None => false,
            Visibility::Whole => true,
            Visibility::Part(parts) => parts.iter().any(|p| p.covers(ev, case)),
        }
    }

    /// Whether the user may see the folder `id` of `case`: a folder inside a shared folder, or
    /// one on the way to a shared folder (its name is part of the shared folder's path). With an
    /// evidence-only part, no folder is visible by this rule (the items' own folders are, through
    /// [`Visibility::covers`]' callers).
    pub fn shows_folder(&self, id: FolderId, case: &Case) -> bool {
        match self {
            Visibility::None => false,
            Visibility::Whole => true,
            Visibility::Part(parts) => parts.iter().any(|p| match p {
                Part::Scope(Scope::Folders(roots)) => roots
                    .iter()
                    .any(|r| case.is_within(Some(id), *r) || case.is_within(Some(*r), id)),
                Part::Since(_) => true,
                Part::Scope(_) => false,
            }),
        }
    }
}

/// How much of a case owned by `owner`, with access list `entries`, `user` may see.
///
/// `groups` are the organization's groups (for group permissions and membership). A user sees the
/// whole case when they own it, administer the node or hold [`Permission::AllCases`] (directly or
/// through a group), or when an entry for them or for a group they belong to covers the whole case;
/// else the union of the partial entries that name them or their groups; else nothing.
pub fn visibility(
    user: &User,
    groups: &[Group],
    owner: UserId,
    entries: &[AccessEntry],
) -> Visibility {
    let perms = effective_permissions(user, groups);
    if user.id == owner
        || perms.contains(&Permission::Administer)
        || perms.contains(&Permission::AllCases)
    {
        return Visibility::Whole;
    }
    let mut parts = Vec::new();
    for e in entries.iter().filter(|e| names(user, e.principal)) {
        match (&e.scope, e.since_seq) {
            (Scope::EntireCase, None) => return Visibility::Whole,
            (Scope::EntireCase, Some(seq)) => parts.push(Part::Since(seq)),
            (s, _) => parts.push(Part::Scope(s.clone())),
        }
    }
    if parts.is_empty() {
        Visibility::None
    } else {
        Visibility::Part(parts)
    }
}

/// Whether `principal` names `user`: the user, or a group the user belongs to now.
pub fn names(user: &User, principal: Principal) -> bool {
    match principal {
        Principal::User(u) => u == user.id,
        Principal::Group(g) => user.groups.contains(&g),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::case::Case;
    use proptest::prelude::*;

    fn entry(principal: Principal, scope: Scope) -> AccessEntry {
        AccessEntry::new(principal, scope, UserId::random(), Timestamp(0), None)
    }

    fn case() -> (Case, FolderId, FolderId, FolderId) {
        let mut c = Case::new("1", "t", "", UserId::random(), Timestamp(0));
        let witnesses = c.create_folder("Interviews/Witnesses").unwrap();
        let interviews = c.resolve("Interviews").unwrap().unwrap();
        let scene = c.create_folder("Scene").unwrap();
        (c, interviews, witnesses, scene)
    }

    #[test]
    fn a_stranger_sees_nothing_and_the_owner_everything() {
        let alice = User::new("alice", "Alice");
        let bob = User::new("bob", "Bob");
        assert_eq!(visibility(&bob, &[], alice.id, &[]), Visibility::None);
        assert!(!visibility(&bob, &[], alice.id, &[]).any());
        assert_eq!(visibility(&alice, &[], alice.id, &[]), Visibility::Whole);
    }

    #[test]
    fn administrators_and_all_cases_see_every_case() {
        let owner = UserId::random();
        let mut admin = User::new("root", "Root");
        admin.permissions.insert(Permission::Administer);
        assert_eq!(visibility(&admin, &[], owner, &[]), Visibility::Whole);
        // Through a group too.
        let auditors = Group {
            id: GroupId::random(),
            name: "Auditors".into(),
            permissions: [Permission::AllCases].into_iter().collect(),
        };
        let mut carol = User::new("carol", "Carol");
        assert_eq!(
            visibility(&carol, std::slice::from_ref(&auditors), owner, &[]),
            Visibility::None
        );
        carol.groups.insert(auditors.id);
        assert_eq!(
            visibility(&carol, &[auditors], owner, &[]),
            Visibility::Whole
        );
    }

    #[test]
    fn a_group_share_follows_the_membership() {
        let owner = UserId::random();
        let team = GroupId::random();
        let entries = [entry(Principal::Group(team), Scope::EntireCase)];
        let mut dana = User::new("dana", "Dana");
        assert_eq!(visibility(&dana, &[], owner, &entries), Visibility::None);
        dana.groups.insert(team);
        assert_eq!(visibility(&dana, &[], owner, &entries), Visibility::Whole);
        dana.groups.remove(&team);
        assert_eq!(visibility(&dana, &[], owner, &entries), Visibility::None);
    }

    #[test]
    fn a_folder_share_shows_that_folder_its_path_and_its_items_only() {
        let (c, interviews, witnesses, scene) = case();
        let eve = User::new("eve", "Eve");
        let entries = [entry(
            Principal::User(eve.id),
            Scope::Folders(vec![witnesses]),
        )];
        let v = visibility(&eve, &[], UserId::random(), &entries);
        assert!(v.any());
        assert!(v.shows_folder(witnesses, &c));
        assert!(v.shows_folder(interviews, &c)); // on the path
        assert!(!v.shows_folder(scene, &c));
        let item = EvidenceId::random();
        assert!(v.covers(item, Some(witnesses), &c));
        assert!(!v.covers(item, Some(interviews), &c));
        assert!(!v.covers(item, Some(scene), &c));
        assert!(!v.covers(item, None, &c));
    }

    #[test]
    fn an_evidence_share_covers_exactly_its_items() {
        let (c, _, witnesses, _) = case();
        let frank = User::new("frank", "Frank");
        let shared = EvidenceId::random();
        let entries = [entry(
            Principal::User(frank.id),
            Scope::Evidence(vec![shared].into()),
        )];
        let v = visibility(&frank, &[], UserId::random(), &entries);
        assert!(v.covers(shared, Some(witnesses), &c));
        assert!(!v.covers(EvidenceId::random(), Some(witnesses), &c));
        assert!(!v.shows_folder(witnesses, &c));
    }

    proptest! {
        /// Adding entries never takes access away, and an entry naming nobody the user is changes
        /// nothing.
        #[test]
        fn more_entries_never_see_less(whole in any::<bool>(), member in any::<bool>()) {
            let (c, _, witnesses, _) = case();
            let team = GroupId::random();
            let mut u = User::new("u", "U");
            if member {
                u.groups.insert(team);
            }
            let owner = UserId::random();
            let base = [entry(Principal::User(u.id), Scope::Folders(vec![witnesses]))];
            let extra = entry(
                Principal::Group(team),
                if whole { Scope::EntireCase } else { Scope::Evidence(vec![EvidenceId::random()].into()) },
            );
            let before = visibility(&u, &[], owner, &base);
            let after = visibility(&u, &[], owner, &[base[0].clone(), extra.clone()]);
            let item = EvidenceId::random();
            prop_assert!(!before.covers(item, Some(witnesses), &c) || after.covers(item, Some(witnesses), &c));
            let stranger = entry(Principal::User(UserId::random()), Scope::EntireCase);
            prop_assert_eq!(visibility(&u, &[], owner, &[base[0].clone(), stranger]), before.clone());
            if member && whole {
                prop_assert_eq!(after, Visibility::Whole);
            }
        }
    }
}
