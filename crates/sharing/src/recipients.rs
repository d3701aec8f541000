//! Who a partner's share is for, as the receiving organization reads it: the recipients a partner
//! wrote, resolved against this organization's own directory (pure; the caller loads users and
//! groups).
//!
//! Rules (issue #12 item 6, issue #15 item 1):
//! - `user:NAME` names a local user by username (or badge id), `badge:ID` by badge id,
//!   `group:NAME` a local group (its members now), `email:ADDR` a local user with that address.
//! - Mail goes only to addresses of this organization's own users. An `email:` recipient that no
//!   local user has is **not** mailed: the notice goes to the organization's configured intake
//!   address instead, so a partner can never make this node mail an arbitrary mailbox.
//! - A `user:`, `group:` or `badge:` recipient this organization does not know, or an unknown
//!   `email:` with no intake address configured, is [`Resolution::unknown`]: the receiving node
//!   refuses the share and says which recipient and why, instead of handing the case to nobody.
//! - A recipient added later (a new grant version in an update) cannot be refused that way
//!   without stopping the case's synchronization: the update is taken in, and every receipt
//!   names the grant's unknown recipients ([`Resolution::refused`]). The sharer keeps them on the
//!   share ([`reported_refusals`]) and shows them in `share status` and `share access`.

use casemesh_model::access::Principal;
use casemesh_model::grant::Recipient;
use casemesh_model::org::{Group, User};
use casemesh_model::time::Timestamp;
use std::collections::BTreeSet;

use crate::records::{MAX_REFUSAL_REASON, RefusedRecipient};
use crate::wire;

/// The recipients of a share, resolved.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Resolution {
    /// Local users named directly or through a group, each once, in the order first named.
    pub users: Vec<User>,
    /// Local groups named.
    pub groups: Vec<Group>,
    /// Where notices go: the named users' own addresses, plus the intake address when an `email:`
    /// recipient is not in the directory. Sorted, no duplicates.
    pub addresses: BTreeSet<String>,
    /// Email recipients that went to the intake address instead.
    pub to_intake: Vec<String>,
    /// Recipients this organization does not know, each with the reason (for the refusal).
    pub unknown: Vec<(Recipient, &'static str)>,
}

impl Resolution {
    /// The refusal naming every unknown recipient with why
    /// ([`Bad::UnknownRecipients`](crate::error::Bad::UnknownRecipients)), or `None` when all are
    /// known.
    pub fn refusal(&self) -> Option<crate::error::Bad> {
        if self.unknown.is_empty() {
            return None;
        }
        Some(crate::error::Bad::UnknownRecipients(self.unknown.clone()))
    }

    /// The unknown recipients as a receipt reports them (`share.receipt/2`
    /// `refused_recipients`): each with its reason, at most [`wire::MAX_REFUSED_PER_RECEIPT`].
    pub fn refused(&self) -> Vec<(Recipient, String)> {
        self.unknown
            .iter()
            .take(wire::MAX_REFUSED_PER_RECEIPT)
            .map(|(r, why)| (r.clone(), (*why).to_owned()))
            .collect()
    }
}

/// What the sharer keeps of the refused recipients a partner `reported` in a receipt: only
/// recipients the share names (`named`; a partner cannot plant others), each once, the reason
/// cut to [`MAX_REFUSAL_REASON`] bytes. A recipient refused `before` keeps its first `since`;
/// one no longer reported (the partner now knows it) is dropped.
pub fn reported_refusals(
    named: &[Recipient],
    before: &[RefusedRecipient],
    reported: &[(Recipient, String)],
    now: Timestamp,
) -> Vec<RefusedRecipient> {
    let mut out: Vec<RefusedRecipient> = Vec::new();
    for (r, why) in reported.iter().take(wire::MAX_REFUSED_PER_RECEIPT) {
        if !named.contains(r) || out.iter().any(|x| &x.recipient == r) {
            continue;
        }
        let mut reason = why.trim().to_owned();
        if reason.len() > MAX_REFUSAL_REASON {
            let mut end = MAX_REFUSAL_REASON;
            while !reason.is_char_boundary(end) {
                end -= 1;
            }
            reason.truncate(end);
        }
        let since = before
            .iter()
            .find(|x| &x.recipient == r)
            .map_or(now, |x| x.since);
        out.push(RefusedRecipient {
            recipient: r.clone(),
            reason,
            since,
        });
    }
    out
}

/// `kind:text`, as people type it.
pub fn label(r: &Recipient) -> String {
    match r {
        Recipient::User(n) => format!("user:{n}"),
        Recipient::Group(n) => format!("group:{n}"),
        Recipient::Email(n) => format!("email:{n}"),
        Recipient::Badge(n) => format!("badge:{n}"),
    }
}

/// Who on this organization's access list `recipients` name: a group as the group (so access
/// follows its membership), a user by username, badge id or email as that user. Returns the
/// principals (each once, in order) and the labels of the recipients that name nobody here.
pub fn principals(
    recipients: &[Recipient],
    users: &[User],
    groups: &[Group],
) -> (Vec<Principal>, Vec<String>) {
    let mut out = Vec::new();
    let mut unknown = Vec::new();
    for r in recipients {
        let found = match r {
            Recipient::Group(g) => groups
                .iter()
                .find(|x| x.name == *g)
                .map(|x| Principal::Group(x.id)),
            Recipient::User(n) => users
                .iter()
                .find(|u| u.username == *n || u.badge_id.as_deref() == Some(n))
                .map(|u| Principal::User(u.id)),
            Recipient::Badge(b) => users
                .iter()
                .find(|u| u.badge_id.as_deref() == Some(b))
                .map(|u| Principal::User(u.id)),
            Recipient::Email(e) => users
                .iter()
                .find(|u| {
                    u.email
                        .as_deref()
                        .is_some_and(|m| m.eq_ignore_ascii_case(e))
                })
                .map(|u| Principal::User(u.id)),
        };
        match found {
            Some(p) if !out.contains(&p) => out.push(p),
            Some(_) => {}
            None => unknown.push(label(r)),
        }
    }
    (out, unknown)
}

/// From which update on `user` may see the items of a received share (issue #12 item 5): `None`
/// when any recipient naming them (directly, by badge or address, or through a group they belong
/// to now) came with the offer, or when none names them (an administrator or an `all_cases`
/// holder, whom the caller let in); else the earliest sequence number among the later recipients
/// `since` that name them.
pub fn visible_since(
    user: &User,
    recipients: &[Recipient],
    since: &[(Recipient, u64)],
    users: &[User],
    groups: &[Group],
) -> Option<u64> {
    let mut earliest: Option<u64> = None;
    for r in recipients {
        let (found, _) = principals(std::slice::from_ref(r), users, groups);
        if !found
            .iter()
            .any(|p| casemesh_model::access::names(user, *p))
        {
            continue;
        }
        match since.iter().find(|(x, _)| x == r) {
            None => return None,
            Some((_, seq)) => earliest = Some(earliest.map_or(*seq, |e| e.min(*seq))),
        }
    }
    earliest
}

/// Resolve `recipients` against this organization's `users` and `groups`; `intake` is the
/// configured intake address for email recipients not in the directory.
pub fn resolve(
    recipients: &[Recipient],
    users: &[User],
    groups: &[Group],
    intake: Option<&str>,
) -> Resolution {
    let mut out = Resolution::default();
    let add = |out: &mut Resolution, u: &User| {
        if let Some(e) = &u.email {
            out.addresses.insert(e.clone());
        }
        if !out.users.iter().any(|f| f.id == u.id) {
            out.users.push(u.clone());
        }
    };
    for r in recipients {
        match r {
            Recipient::User(n) => {
                match users
                    .iter()
                    .find(|u| u.username == *n || u.badge_id.as_deref() == Some(n))
                {
                    Some(u) => add(&mut out, u),
                    None => out.unknown.push((r.clone(), "no such user")),
                }
            }
            Recipient::Badge(b) => match users.iter().find(|u| u.badge_id.as_deref() == Some(b)) {
                Some(u) => add(&mut out, u),
                None => out.unknown.push((r.clone(), "no user has this badge id")),
            },
            Recipient::Group(g) => match groups.iter().find(|x| x.name == *g) {
                Some(group) => {
                    for u in users.iter().filter(|u| u.groups.contains(&group.id)) {
                        add(&mut out, u);
                    }
                    if !out.groups.iter().any(|x| x.id == group.id) {
                        out.groups.push(group.clone());
                    }
                }
                None => out.unknown.push((r.clone(), "no such group")),
            },
            Recipient::Email(e) => {
                match users.iter().find(|u| {
                    u.email
                        .as_deref()
                        .is_some_and(|m| m.eq_ignore_ascii_case(e))
                }) {
                    Some(u) => add(&mut out, u),
                    None => match intake {
                        Some(i) => {
                            out.addresses.insert(i.to_owned());
                            out.to_intake.push(e.clone());
                        }
                        None => out.unknown.push((
                            r.clone(),
                            "no user has this address and no intake address is configured",
                        )),
                    },
                }
            }
        }
    }
    out
}

#[cfg(test)]
mod tests {
    #[test]
    fn later_recipients_see_from_the_update_that_named_them() {
        use super::visible_since;
        let ada = User::new("ada", "Ada");
        let mut bob = User::new("bob", "Bob");
        let team = Group {
            id: casemesh_model::ids::GroupId::random(),
            name: "team".into(),
            permissions: Default::default(),
        };
        bob.groups.insert(team.id);
        let users = [ada.clone(), bob.clone()];
        let groups = [team.clone()];
        let r_ada = Recipient::User("ada".into());
        let r_team = Recipient::Group("team".into());
        let recipients = [r_ada.clone(), r_team.clone()];
        // Both named at the offer: everything.
        assert_eq!(visible_since(&ada, &recipients, &[], &users, &groups), None);
        // The group added by update 3: bob (a member) from 3 on; ada unaffected.
        let since = [(r_team.clone(), 3)];
        assert_eq!(
            visible_since(&bob, &recipients, &since, &users, &groups),
            Some(3)
        );
        assert_eq!(
            visible_since(&ada, &recipients, &since, &users, &groups),
            None
        );
        // Named twice, later both times: the earlier of the two.
        let both = [r_team.clone(), Recipient::User("bob".into())];
        let since = [(r_team, 5), (Recipient::User("bob".into()), 2)];
        assert_eq!(visible_since(&bob, &both, &since, &users, &groups), Some(2));
        // Not named at all (an administrator let in by the caller): everything.
        assert_eq!(visible_since(&ada, &both, &since, &users, &groups), None);
    }

    use super::*;
    use casemesh_model::ids::GroupId;

    fn directory() -> (Vec<User>, Vec<Group>) {
        let trial = Group {
            id: GroupId::random(),
            name: "Trial team".into(),
            permissions: Default::default(),
        };
        let mut ada = User::new("ada", "Ada Lovelace");
        ada.email = Some("ada@da.example".into());
        ada.badge_id = Some("B-1".into());
        let mut ben = User::new("ben", "Ben");
        ben.email = Some("ben@da.example".into());
        ben.groups.insert(trial.id);
        let quiet = User::new("quiet", "No Mail");
        (vec![ada, ben, quiet], vec![trial])
    }

    #[test]
    fn known_recipients_resolve_to_their_own_addresses() {
        let (users, groups) = directory();
        let r = resolve(
            &[
                Recipient::User("ada".into()),
                Recipient::Group("Trial team".into()),
                Recipient::Email("ADA@da.example".into()),
                Recipient::Badge("B-1".into()),
                Recipient::User("quiet".into()),
            ],
            &users,
            &groups,
            None,
        );
        assert!(r.refusal().is_none());
        let names: Vec<&str> = r.users.iter().map(|u| u.username.as_str()).collect();
        assert_eq!(names, ["ada", "ben", "quiet"]);
        assert_eq!(
            r.addresses.iter().map(String::as_str).collect::<Vec<_>>(),
            ["ada@da.example", "ben@da.example"]
        );
        assert_eq!(r.groups.len(), 1);
    }

    #[test]
    fn an_unknown_address_goes_to_intake_never_to_the_address() {
        let (users, groups) = directory();
        let many: Vec<Recipient> = (0..100)
            .map(|i| Recipient::Email(format!("victim{i}@made-up{i}.example")))
            .collect();
        let r = resolve(&many, &users, &groups, Some("intake@da.example"));
        assert!(r.refusal().is_none());
        assert_eq!(
            r.addresses.into_iter().collect::<Vec<_>>(),
            ["intake@da.example"]
        );
        assert_eq!(r.to_intake.len(), 100);
        // Without an intake address the share is refused, naming the address.
        let r = resolve(&many[..1], &users, &groups, None);
        assert!(r.addresses.is_empty());
        let why = r.refusal().unwrap().to_string();
        assert!(why.contains("email:victim0@made-up0.example"), "{why}");
        assert!(why.contains("no intake address"), "{why}");
    }

    #[test]
    fn unknown_users_groups_and_badges_are_named_in_the_refusal() {
        let (users, groups) = directory();
        let r = resolve(
            &[
                Recipient::User("bob".into()),
                Recipient::Group("Nobody".into()),
                Recipient::Badge("B-404".into()),
                Recipient::User("ada".into()),
            ],
            &users,
            &groups,
            Some("intake@da.example"),
        );
        let why = r.refusal().unwrap().to_string();
        assert!(
            why.starts_with("unknown recipients at the receiving organization"),
            "{why}"
        );
        for part in [
            "user:bob (no such user)",
            "group:Nobody (no such group)",
            "badge:B-404 (no user has this badge id)",
        ] {
            assert!(why.contains(part), "{part} missing: {why}");
        }
        assert!(!why.contains("ada"));
        // An intake address does not swallow unknown users: they are mistakes to report.
        assert!(!r.addresses.contains("intake@da.example"));
    }

    #[test]
    fn a_receipt_reports_each_unknown_recipient_with_its_reason() {
        let (users, groups) = directory();
        let r = resolve(
            &[Recipient::User("ada".into()), Recipient::User("bob".into())],
            &users,
            &groups,
            None,
        );
        assert_eq!(
            r.refused(),
            [(Recipient::User("bob".into()), "no such user".to_owned())]
        );
        let all = resolve(&[Recipient::User("ada".into())], &users, &groups, None);
        assert!(all.refused().is_empty());
    }

    #[test]
    fn the_sharer_keeps_only_refusals_of_recipients_it_named() {
        let bob = Recipient::User("bob".into());
        let ada = Recipient::User("ada".into());
        let named = [ada.clone(), bob.clone()];
        let reported = vec![
            (bob.clone(), "no such user".to_owned()),
            (bob.clone(), "twice".to_owned()),
            (
                Recipient::Email("planted@evil.example".into()),
                "x".to_owned(),
            ),
            (ada.clone(), "é".repeat(MAX_REFUSAL_REASON)),
        ];
        let kept = reported_refusals(&named, &[], &reported, Timestamp(7));
        assert_eq!(kept.len(), 2, "{kept:?}");
        assert_eq!(kept[0].recipient, bob);
        assert_eq!(kept[0].reason, "no such user");
        assert_eq!(kept[0].since, Timestamp(7));
        assert!(kept[1].reason.len() <= MAX_REFUSAL_REASON);
        // A refusal reported again keeps its first time; one no longer reported is dropped.
        let again = reported_refusals(&named, &kept, &reported[..1], Timestamp(9));
        assert_eq!(again.len(), 1);
        assert_eq!(again[0].since, Timestamp(7));
        assert!(reported_refusals(&named, &again, &[], Timestamp(10)).is_empty());
    }
}
