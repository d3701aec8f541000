//! Sharing policies and their attenuation.
//!
//! An administrator creates named [`SharingPolicy`]s and assigns one to each partner organization
//! (that storage lives elsewhere; this module holds the types and the rules). A policy is a set of
//! [`PolicyAction`]s the receiving organization may take on a shared case. Every grant carries the
//! policy it was issued under, and an onward share (a child grant) may only carry a policy whose
//! actions are a subset of its parent's: the policy can be *attenuated*, never widened.
//!
//! Laws (checked by the property tests at the bottom of this file), where `⊆` is
//! [`SharingPolicy::is_subset_of`] and `∩` is [`SharingPolicy::intersect`], both over the `allowed`
//! sets only (the `name` is a label for people and takes no part in the rules):
//! - `⊆` is reflexive and transitive (a partial order on action sets);
//! - `attenuate(p, r)` is `Ok` exactly when `r ⊆ p`, and then its result is `⊆ p`;
//! - `a ∩ b ⊆ a`, `a ∩ b ⊆ b`, and every `c` with `c ⊆ a` and `c ⊆ b` has `c ⊆ a ∩ b`
//!   (the intersection is the greatest lower bound).

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// Something a receiving organization may do with a shared case.
///
/// The list follows the seeds ("a shared case can be viewed, downloaded, imported, updated, and
/// shared onward (if allowed)") plus [`PolicyAction::ReceiveUpdates`], which separates "new evidence
/// keeps flowing into my copy" from "I may apply the sharer's metadata edits". Each action has a
/// fixed one-byte [code](PolicyAction::code) used in the canonical grant encoding; codes are never
/// reused.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum PolicyAction {
    /// Open the case and its evidence (in the sharer's system for access shares, or the copy).
    View,
    /// Download evidence files.
    Download,
    /// Import (copy) the case into the receiver's own system.
    Import,
    /// Receive new evidence the sharer adds after the first import (case synchronization).
    ReceiveUpdates,
    /// Review and apply the sharer's case-level and evidence-metadata updates.
    ApplyUpdates,
    /// Share the received case onward (issue child grants).
    ShareOnward,
}

impl PolicyAction {
    /// Every action, in code order.
    pub const ALL: [PolicyAction; 6] = [
        PolicyAction::View,
        PolicyAction::Download,
        PolicyAction::Import,
        PolicyAction::ReceiveUpdates,
        PolicyAction::ApplyUpdates,
        PolicyAction::ShareOnward,
    ];

    /// The stable one-byte code used in canonical encodings.
    pub fn code(self) -> u8 {
        match self {
            PolicyAction::View => 1,
            PolicyAction::Download => 2,
            PolicyAction::Import => 3,
            PolicyAction::ReceiveUpdates => 4,
            PolicyAction::ApplyUpdates => 5,
            PolicyAction::ShareOnward => 6,
        }
    }

    /// The action with this code.
    pub fn from_code(code: u8) -> Option<PolicyAction> {
        PolicyAction::ALL.into_iter().find(|a| a.code() == code)
    }

    /// The snake_case name, as in JSON.
    pub fn name(self) -> &'static str {
        match self {
            PolicyAction::View => "view",
            PolicyAction::Download => "download",
            PolicyAction::Import => "import",
            PolicyAction::ReceiveUpdates => "receive_updates",
            PolicyAction::ApplyUpdates => "apply_updates",
            PolicyAction::ShareOnward => "share_onward",
        }
    }

    /// The action with this snake_case name.
    pub fn from_name(name: &str) -> Option<PolicyAction> {
        PolicyAction::ALL.into_iter().find(|a| a.name() == name)
    }
}

impl fmt::Display for PolicyAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A named set of allowed actions.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SharingPolicy {
    /// The administrator's name for it, e.g. `Defense counsel – view only`.
    pub name: String,
    /// What the receiver may do; everything else is refused.
    pub allowed: BTreeSet<PolicyAction>,
}

/// Why an attenuation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The requested policy allows actions its parent does not.
    #[error("policy would widen its parent: {} not allowed by the parent", list(.extra))]
    Widens {
        /// The actions requested beyond the parent's, sorted.
        extra: Vec<PolicyAction>,
    },
}

fn list(actions: &[PolicyAction]) -> String {
    actions
        .iter()
        .map(|a| a.name())
        .collect::<Vec<_>>()
        .join(", ")
}

impl SharingPolicy {
    /// A policy with this name and these actions.
    pub fn new(name: &str, allowed: impl IntoIterator<Item = PolicyAction>) -> SharingPolicy {
        SharingPolicy {
            name: name.to_owned(),
            allowed: allowed.into_iter().collect(),
        }
    }

    /// The default policy of a partner share (copy): the partner owns its copy, so it may view,
    /// download and import it, keep receiving new evidence, and apply the sharer's metadata updates.
    /// Onward sharing is off until an administrator assigns a policy that allows it.
    pub fn partner_copy_default() -> SharingPolicy {
        SharingPolicy::new(
            "Partner copy (default)",
            [
                PolicyAction::View,
                PolicyAction::Download,
                PolicyAction::Import,
                PolicyAction::ReceiveUpdates,
                PolicyAction::ApplyUpdates,
            ],
        )
    }

    /// A view-only policy (a sensible starting point for advanced sharing).
    pub fn view_only() -> SharingPolicy {
        SharingPolicy::new("View only", [PolicyAction::View])
    }

    /// Whether `action` is allowed.
    pub fn allows(&self, action: PolicyAction) -> bool {
        self.allowed.contains(&action)
    }

    /// Whether every action this policy allows is also allowed by `other`.
    pub fn is_subset_of(&self, other: &SharingPolicy) -> bool {
        self.allowed.is_subset(&other.allowed)
    }

    /// The actions this policy allows beyond `other`'s, sorted.
    pub fn extra_over(&self, other: &SharingPolicy) -> Vec<PolicyAction> {
        self.allowed.difference(&other.allowed).copied().collect()
    }

    /// The actions both allow; keeps `self`'s name.
    pub fn intersect(&self, other: &SharingPolicy) -> SharingPolicy {
        SharingPolicy {
            name: self.name.clone(),
            allowed: self.allowed.intersection(&other.allowed).copied().collect(),
        }
    }
}

/// Attenuate `parent` to `requested`: `requested` itself when it allows nothing `parent` does not,
/// else [`PolicyError::Widens`] naming the extra actions.
pub fn attenuate(
    parent: &SharingPolicy,
    requested: &SharingPolicy,
) -> Result<SharingPolicy, PolicyError> {
    let extra = requested.extra_over(parent);
    if extra.is_empty() {
        Ok(requested.clone())
    } else {
        Err(PolicyError::Widens { extra })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> impl Strategy<Value = SharingPolicy> {
        proptest::collection::btree_set(proptest::sample::select(PolicyAction::ALL.to_vec()), 0..=6)
            .prop_map(|allowed| SharingPolicy {
                name: "p".into(),
                allowed,
            })
    }

    #[test]
    fn codes_and_names_roundtrip_and_are_unique() {
        let codes: BTreeSet<u8> = PolicyAction::ALL.iter().map(|a| a.code()).collect();
        assert_eq!(codes.len(), PolicyAction::ALL.len());
        for a in PolicyAction::ALL {
            assert_eq!(PolicyAction::from_code(a.code()), Some(a));
            assert_eq!(PolicyAction::from_name(a.name()), Some(a));
            assert_eq!(
                serde_json::to_string(&a).unwrap(),
                format!("\"{}\"", a.name())
            );
        }
        assert_eq!(PolicyAction::from_code(0), None);
    }

    #[test]
    fn attenuate_names_the_extra_actions() {
        let parent = SharingPolicy::view_only();
        let wide = SharingPolicy::new("w", [PolicyAction::View, PolicyAction::ShareOnward]);
        let err = attenuate(&parent, &wide).unwrap_err();
        assert_eq!(
            err,
            PolicyError::Widens {
                extra: vec![PolicyAction::ShareOnward]
            }
        );
        assert!(err.to_string().contains("share_onward"));
        assert_eq!(
            attenuate(&SharingPolicy::partner_copy_default(), &parent),
            Ok(parent)
        );
    }

    #[test]
    fn default_copy_policy_does_not_share_onward() {
        let p = SharingPolicy::partner_copy_default();
        assert!(p.allows(PolicyAction::Import));
        assert!(p.allows(PolicyAction::ApplyUpdates));
        assert!(!p.allows(PolicyAction::ShareOnward));
    }

    proptest! {
        #[test]
        fn attenuation_never_widens(p in policy(), r in policy()) {
            match attenuate(&p, &r) {
                Ok(a) => {
                    prop_assert!(a.is_subset_of(&p));
                    prop_assert_eq!(a, r);
                }
                Err(PolicyError::Widens { extra }) => {
                    prop_assert!(!extra.is_empty());
                    prop_assert!(!r.is_subset_of(&p));
                    for e in extra {
                        prop_assert!(r.allows(e) && !p.allows(e));
                    }
                }
            }
        }

        #[test]
        fn subset_is_reflexive_and_transitive(a in policy(), b in policy(), c in policy()) {
            prop_assert!(a.is_subset_of(&a));
            if a.is_subset_of(&b) && b.is_subset_of(&c) {
                prop_assert!(a.is_subset_of(&c));
            }
            // Attenuating twice is attenuating once.
            if let Ok(ab) = attenuate(&c, &b)
                && let Ok(abc) = attenuate(&ab, &a)
            {
                prop_assert!(abc.is_subset_of(&c));
            }
        }

        #[test]
        fn intersect_is_greatest_lower_bound(a in policy(), b in policy(), c in policy()) {
            let i = a.intersect(&b);
            prop_assert!(i.is_subset_of(&a));
            prop_assert!(i.is_subset_of(&b));
            if c.is_subset_of(&a) && c.is_subset_of(&b) {
                prop_assert!(c.is_subset_of(&i));
            }
            prop_assert_eq!(i.allowed, b.intersect(&a).allowed);
        }
    }
}
