//! The organization inside one node: users, groups, permissions, feature flags, and the rule that
//! decides whether a user may perform an action.
//!
//! Two gates apply to every sharing action, as the seeds describe: the **organization** must have
//! the feature enabled ("contact your representative to enable"), and the **user** must hold the
//! permission, directly or through a group. [`authorize`] checks both and names what is missing.

use crate::ids::{GroupId, UserId};
use crate::retention::RetentionPolicy;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// A permission a user holds, directly or through a group.
///
/// The first six are the seeds' sharing permissions, for evidence and for cases; the rest cover
/// the node's own administration.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Permission {
    /// Evidence: Share.
    EvidenceShare,
    /// Evidence: Share Externally to Authenticated Users.
    EvidenceShareExternal,
    /// Evidence: Share External Download Links.
    EvidenceShareLinks,
    /// Cases: Share.
    CaseShare,
    /// Cases: Share by Copy with Partner Agencies.
    CaseShareByCopy,
    /// Cases: Share External Download Links.
    CaseShareLinks,
    /// Edit Case Retention.
    EditCaseRetention,
    /// Create and edit cases, folders and evidence.
    CaseEdit,
    /// Administer the node: users, groups, partners, policies, settings.
    Administer,
    /// See and open every case of the organization, whatever its access list (records clerks,
    /// supervisors; issue #12). Administrators have it implicitly.
    AllCases,
    /// Approve a partner share that waits for a second person (two-person approval, issue #13).
    ShareApprove,
}

impl Permission {
    /// Every permission, in declaration order.
    pub const ALL: [Permission; 11] = [
        Permission::EvidenceShare,
        Permission::EvidenceShareExternal,
        Permission::EvidenceShareLinks,
        Permission::CaseShare,
        Permission::CaseShareByCopy,
        Permission::CaseShareLinks,
        Permission::EditCaseRetention,
        Permission::CaseEdit,
        Permission::Administer,
        Permission::AllCases,
        Permission::ShareApprove,
    ];

    /// The snake_case name used in the API and CLI.
    pub fn name(self) -> &'static str {
        match self {
            Permission::EvidenceShare => "evidence_share",
            Permission::EvidenceShareExternal => "evidence_share_external",
            Permission::EvidenceShareLinks => "evidence_share_links",
            Permission::CaseShare => "case_share",
            Permission::CaseShareByCopy => "case_share_by_copy",
            Permission::CaseShareLinks => "case_share_links",
            Permission::EditCaseRetention => "edit_case_retention",
            Permission::CaseEdit => "case_edit",
            Permission::Administer => "administer",
            Permission::AllCases => "all_cases",
            Permission::ShareApprove => "share_approve",
        }
    }

    /// Parse the snake_case name.
    pub fn from_name(name: &str) -> Option<Permission> {
        Permission::ALL.into_iter().find(|p| p.name() == name)
    }
}

impl fmt::Display for Permission {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// An organization-wide feature switch: what the seeds' "contact your representative to enable"
/// turns on. A feature that is off is off for every user, whatever their permissions.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Feature {
    /// Evidence Management: Share.
    EvidenceShare,
    /// Evidence Management: Share Externally to Authenticated Users.
    EvidenceShareExternal,
    /// Evidence Management: Share External Download Links.
    EvidenceShareLinks,
    /// Cases: Share.
    CaseShare,
    /// Cases: Share by Copy with Partner Agencies.
    CaseShareByCopy,
    /// Cases: Share External Download Links.
    CaseShareLinks,
    /// Configurable Case Retention Policies; off ⇒ everything is kept until manually deleted.
    ConfigurableRetention,
    /// Advanced sharing (access mode, policies).
    AdvancedSharing,
}

/// The organization's feature flags. The safe default turns every feature on except none: a new
/// node is usable out of the box, and an operator switches features off in the config.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct FeatureFlags {
    /// Evidence Management: Share.
    pub evidence_share: bool,
    /// Evidence Management: Share Externally to Authenticated Users.
    pub evidence_share_external: bool,
    /// Evidence Management: Share External Download Links.
    pub evidence_share_links: bool,
    /// Cases: Share.
    pub case_share: bool,
    /// Cases: Share by Copy with Partner Agencies.
    pub case_share_by_copy: bool,
    /// Cases: Share External Download Links.
    pub case_share_links: bool,
    /// Configurable Case Retention Policies.
    pub configurable_retention: bool,
    /// Advanced sharing.
    pub advanced_sharing: bool,
}

impl Default for FeatureFlags {
    fn default() -> Self {
        Self {
            evidence_share: true,
            evidence_share_external: true,
            evidence_share_links: true,
            case_share: true,
            case_share_by_copy: true,
            case_share_links: true,
            configurable_retention: true,
            advanced_sharing: true,
        }
    }
}

impl FeatureFlags {
    /// Whether `feature` is on.
    pub fn is_enabled(&self, feature: Feature) -> bool {
        match feature {
            Feature::EvidenceShare => self.evidence_share,
            Feature::EvidenceShareExternal => self.evidence_share_external,
            Feature::EvidenceShareLinks => self.evidence_share_links,
            Feature::CaseShare => self.case_share,
            Feature::CaseShareByCopy => self.case_share_by_copy,
            Feature::CaseShareLinks => self.case_share_links,
            Feature::ConfigurableRetention => self.configurable_retention,
            Feature::AdvancedSharing => self.advanced_sharing,
        }
    }
}

/// Organization settings an administrator changes at run time (the node persists them in its config file).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(default, deny_unknown_fields)]
pub struct Settings {
    /// Feature flags.
    pub features: FeatureFlags,
    /// The default retention policy of new and received cases; none ⇒ "Until Manually Deleted".
    pub default_retention: Option<RetentionPolicy>,
    /// Import received partner shares automatically (the seeds' default), else wait for Import.
    pub auto_import: bool,
    /// Let partner organizations look up this organization's users and groups (names, emails,
    /// badge IDs) to pick recipients. Off by default.
    pub share_directory: bool,
    /// Where notices of received shares go for `email:` recipients a partner named that no local
    /// user has (issue #12: a partner can never make this node mail an arbitrary address). `None`:
    /// such a share is refused, naming the address.
    pub intake_address: Option<String>,
}

impl Default for Settings {
    /// Every feature on, no default retention, auto-import on (the seeds' default).
    fn default() -> Self {
        Settings {
            features: FeatureFlags::default(),
            default_retention: None,
            auto_import: true,
            share_directory: false,
            intake_address: None,
        }
    }
}

/// A local user of the organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct User {
    /// Stable id.
    pub id: UserId,
    /// Login name, unique in the organization.
    pub username: String,
    /// Full name, shown on profile icons.
    pub full_name: String,
    /// Email address for notifications.
    pub email: Option<String>,
    /// Badge ID, one of the ways a sharer names a recipient.
    pub badge_id: Option<String>,
    /// Permissions held directly (groups add more).
    pub permissions: BTreeSet<Permission>,
    /// Groups this user belongs to.
    pub groups: BTreeSet<GroupId>,
    /// A disabled user's tokens open nothing; the user and its audit entries stay.
    #[serde(default)]
    pub disabled: bool,
    /// The web UI password as an Argon2id PHC string (`$argon2id$v=19$…`), set by `casemesh user
    /// passwd`; `None`: the user cannot sign in to the web UI (API tokens still work). Never
    /// leaves the node (API views and partner directories copy named fields only).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub password_hash: Option<String>,
}

impl User {
    /// A user with no permissions and no groups.
    pub fn new(username: &str, full_name: &str) -> Self {
        Self {
            id: UserId::random(),
            username: username.to_owned(),
            full_name: full_name.to_owned(),
            email: None,
            badge_id: None,
            permissions: BTreeSet::new(),
            groups: BTreeSet::new(),
            disabled: false,
            password_hash: None,
        }
    }

    /// Whether `query` names this user: username, email (case-insensitive) or badge id.
    pub fn matches(&self, query: &str) -> bool {
        self.username == query
            || self
                .email
                .as_deref()
                .is_some_and(|e| e.eq_ignore_ascii_case(query))
            || self.badge_id.as_deref() == Some(query)
    }
}

/// A group of users; its permissions apply to every member.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Group {
    /// Stable id.
    pub id: GroupId,
    /// Name, unique in the organization.
    pub name: String,
    /// Permissions every member holds.
    pub permissions: BTreeSet<Permission>,
}

/// Something a user asks to do that needs permissions and features.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Action {
    /// Create or edit cases, folders, evidence metadata; add evidence.
    EditCase,
    /// Change a case's retention policy.
    EditRetention,
    /// Administer the node.
    Administer,
    /// Approve a partner share waiting for a second person.
    ApproveShare,
    /// Share a case (whole or folders) or selected evidence inside the organization.
    ShareInside(ShareTarget),
    /// Share a case or selected evidence with a partner organization (copy or access mode).
    SharePartner(ShareTarget),
    /// Create an external download link for a case or selected evidence.
    ShareLink(ShareTarget),
}

/// What a share hands over. Seed 000 ("Prerequisites") lists the sharing permissions twice, once
/// under Evidence Management and once under Cases: a share of selected evidence is gated by the
/// evidence ones, a share of the case (whole, or folders of it) by the case ones (issue #12,
/// item 5).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum ShareTarget {
    /// The whole case or folders of it.
    Case,
    /// Selected evidence items.
    Evidence,
}

impl ShareTarget {
    /// The target of a share selected by folder paths and evidence references as a user typed
    /// them: selected evidence only is [`ShareTarget::Evidence`]; the whole case (neither) or
    /// any folder is [`ShareTarget::Case`].
    pub fn of_selection(folders: &[String], evidence: &[String]) -> ShareTarget {
        if folders.is_empty() && !evidence.is_empty() {
            ShareTarget::Evidence
        } else {
            ShareTarget::Case
        }
    }

    /// The target of a share of `scope`: [`ShareTarget::Evidence`] for selected evidence, else
    /// [`ShareTarget::Case`].
    pub fn of(scope: &crate::grant::Scope) -> ShareTarget {
        match scope {
            crate::grant::Scope::Evidence(_) => ShareTarget::Evidence,
            _ => ShareTarget::Case,
        }
    }
}

impl Action {
    /// The permissions a user needs for this action (all of them).
    pub fn required_permissions(self) -> &'static [Permission] {
        use Permission as P;
        match self {
            Action::EditCase => &[P::CaseEdit],
            Action::EditRetention => &[P::EditCaseRetention],
            Action::Administer => &[P::Administer],
            Action::ApproveShare => &[P::ShareApprove],
            Action::ShareInside(ShareTarget::Case) => &[P::CaseShare],
            Action::ShareInside(ShareTarget::Evidence) => &[P::EvidenceShare],
            Action::SharePartner(ShareTarget::Case) => &[P::CaseShare, P::CaseShareByCopy],
            Action::SharePartner(ShareTarget::Evidence) => {
                &[P::EvidenceShare, P::EvidenceShareExternal]
            }
            Action::ShareLink(ShareTarget::Case) => &[P::CaseShareLinks],
            Action::ShareLink(ShareTarget::Evidence) => &[P::EvidenceShareLinks],
        }
    }

    /// The organization features this action needs (all of them).
    pub fn required_features(self) -> &'static [Feature] {
        use Feature as F;
        match self {
            Action::EditCase | Action::Administer => &[],
            // The share itself passed its own family's gates when it was made.
            Action::ApproveShare => &[],
            Action::EditRetention => &[F::ConfigurableRetention],
            Action::ShareInside(ShareTarget::Case) => &[F::CaseShare],
            Action::ShareInside(ShareTarget::Evidence) => &[F::EvidenceShare],
            Action::SharePartner(ShareTarget::Case) => &[F::CaseShare, F::CaseShareByCopy],
            Action::SharePartner(ShareTarget::Evidence) => {
                &[F::EvidenceShare, F::EvidenceShareExternal]
            }
            Action::ShareLink(ShareTarget::Case) => &[F::CaseShareLinks],
            Action::ShareLink(ShareTarget::Evidence) => &[F::EvidenceShareLinks],
        }
    }
}

/// Why an action was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum Denied {
    /// The organization has not enabled a feature the action needs.
    #[error("the organization has not enabled the feature {0:?}; contact your administrator")]
    FeatureDisabled(Feature),
    /// The user lacks a permission the action needs.
    #[error("missing permission {0}")]
    MissingPermission(Permission),
}

/// The permissions a user holds: their own plus those of every group they belong to.
pub fn effective_permissions(user: &User, groups: &[Group]) -> BTreeSet<Permission> {
    let mut all = user.permissions.clone();
    for g in groups.iter().filter(|g| user.groups.contains(&g.id)) {
        all.extend(g.permissions.iter().copied());
    }
    all
}

/// Decide whether `user` may perform `action`: features first (an org-wide "no" says so plainly),
/// then permissions. `Administer` does not imply the sharing permissions.
pub fn authorize(
    user: &User,
    groups: &[Group],
    flags: &FeatureFlags,
    action: Action,
) -> Result<(), Denied> {
    if let Some(f) = action
        .required_features()
        .iter()
        .find(|f| !flags.is_enabled(**f))
    {
        return Err(Denied::FeatureDisabled(*f));
    }
    let held = effective_permissions(user, groups);
    match action
        .required_permissions()
        .iter()
        .find(|p| !held.contains(p))
    {
        Some(p) => Err(Denied::MissingPermission(*p)),
        None => Ok(()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn user_with(perms: &[Permission]) -> User {
        let mut u = User::new("u", "U");
        u.permissions.extend(perms.iter().copied());
        u
    }

    #[test]
    fn a_partner_share_of_the_case_needs_share_and_share_by_copy() {
        let flags = FeatureFlags::default();
        let u = user_with(&[Permission::CaseShare]);
        assert_eq!(
            authorize(&u, &[], &flags, Action::SharePartner(ShareTarget::Case)),
            Err(Denied::MissingPermission(Permission::CaseShareByCopy))
        );
        let u = user_with(&[Permission::CaseShare, Permission::CaseShareByCopy]);
        assert_eq!(
            authorize(&u, &[], &flags, Action::SharePartner(ShareTarget::Case)),
            Ok(())
        );
    }

    /// Issue #12 item 5: evidence shares need the Evidence Management permissions and features,
    /// case shares the Cases ones; neither family stands in for the other.
    #[test]
    fn each_share_target_is_gated_by_its_own_family() {
        use ShareTarget::{Case, Evidence};
        let flags = FeatureFlags::default();
        let evidence_only = user_with(&[
            Permission::EvidenceShare,
            Permission::EvidenceShareExternal,
            Permission::EvidenceShareLinks,
        ]);
        let case_only = user_with(&[
            Permission::CaseShare,
            Permission::CaseShareByCopy,
            Permission::CaseShareLinks,
        ]);
        for make in [Action::ShareInside, Action::SharePartner, Action::ShareLink] {
            assert_eq!(
                authorize(&evidence_only, &[], &flags, make(Evidence)),
                Ok(())
            );
            assert!(matches!(
                authorize(&evidence_only, &[], &flags, make(Case)),
                Err(Denied::MissingPermission(_))
            ));
            assert_eq!(authorize(&case_only, &[], &flags, make(Case)), Ok(()));
            assert!(matches!(
                authorize(&case_only, &[], &flags, make(Evidence)),
                Err(Denied::MissingPermission(_))
            ));
        }
        // Partner shares: "by copy" for cases, "externally" for evidence.
        let u = user_with(&[Permission::CaseShare]);
        assert_eq!(
            authorize(&u, &[], &flags, Action::SharePartner(Case)),
            Err(Denied::MissingPermission(Permission::CaseShareByCopy))
        );
        let u = user_with(&[Permission::EvidenceShare]);
        assert_eq!(
            authorize(&u, &[], &flags, Action::SharePartner(Evidence)),
            Err(Denied::MissingPermission(Permission::EvidenceShareExternal))
        );
        // The features follow the same split.
        let off = FeatureFlags {
            evidence_share_external: false,
            ..FeatureFlags::default()
        };
        let all = user_with(&Permission::ALL);
        assert_eq!(
            authorize(&all, &[], &off, Action::SharePartner(Case)),
            Ok(())
        );
        assert_eq!(
            authorize(&all, &[], &off, Action::SharePartner(Evidence)),
            Err(Denied::FeatureDisabled(Feature::EvidenceShareExternal))
        );
        assert_eq!(
            ShareTarget::of(&crate::grant::Scope::Evidence(vec![].into())),
            ShareTarget::Evidence
        );
        assert_eq!(
            ShareTarget::of(&crate::grant::Scope::EntireCase),
            ShareTarget::Case
        );
    }

    #[test]
    fn disabled_feature_wins_over_permissions() {
        let flags = FeatureFlags {
            case_share_links: false,
            ..FeatureFlags::default()
        };
        let u = user_with(&Permission::ALL);
        assert_eq!(
            authorize(&u, &[], &flags, Action::ShareLink(ShareTarget::Case)),
            Err(Denied::FeatureDisabled(Feature::CaseShareLinks))
        );
        assert_eq!(
            authorize(&u, &[], &flags, Action::SharePartner(ShareTarget::Case)),
            Ok(())
        );
    }

    #[test]
    fn group_permissions_count() {
        let g = Group {
            id: GroupId::random(),
            name: "records".into(),
            permissions: [Permission::EditCaseRetention].into(),
        };
        let mut u = user_with(&[]);
        assert!(
            authorize(
                &u,
                std::slice::from_ref(&g),
                &FeatureFlags::default(),
                Action::EditRetention
            )
            .is_err()
        );
        u.groups.insert(g.id);
        assert_eq!(
            authorize(&u, &[g], &FeatureFlags::default(), Action::EditRetention),
            Ok(())
        );
    }

    #[test]
    fn administer_does_not_imply_sharing() {
        let u = user_with(&[Permission::Administer]);
        assert!(authorize(&u, &[], &FeatureFlags::default(), Action::Administer).is_ok());
        assert!(
            authorize(
                &u,
                &[],
                &FeatureFlags::default(),
                Action::ShareLink(ShareTarget::Case)
            )
            .is_err()
        );
    }

    #[test]
    fn permission_names_roundtrip() {
        for p in Permission::ALL {
            assert_eq!(Permission::from_name(p.name()), Some(p));
            assert_eq!(
                serde_json::to_string(&p).unwrap(),
                format!("\"{}\"", p.name())
            );
        }
    }

    #[test]
    fn user_matches_username_email_badge() {
        let mut u = User::new("jdoe", "Jane Doe");
        u.email = Some("Jane@Example.org".into());
        u.badge_id = Some("B-17".into());
        assert!(u.matches("jdoe") && u.matches("jane@example.org") && u.matches("B-17"));
        assert!(!u.matches("B-18"));
    }
}
