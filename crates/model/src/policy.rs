//! Sharing policies and their attenuation.
//!
//! An administrator creates named [`SharingPolicy`]s and assigns one to each partner organization
//! (that storage lives elsewhere; this module holds the types and the rules). A policy has two
//! dimensions (issue #12, seed 002 "Before you start"): the [`SharedData`] kinds that may leave
//! the organization, and the [`PolicyAction`]s the receiving organization may take on the shared
//! case. Every grant carries the policy it was issued under, and an onward share (a child grant)
//! may only carry a policy that is a subset of its parent's in both dimensions: the policy can be
//! *attenuated*, never widened.
//!
//! Laws (checked by the property tests at the bottom of this file), where `⊆` is
//! [`SharingPolicy::is_subset_of`] and `∩` is [`SharingPolicy::intersect`], both over the
//! `allowed` and `data` sets (the `name` is a label for people and takes no part in the rules):
//! - `⊆` is reflexive and transitive (a partial order);
//! - `attenuate(p, r)` is `Ok` exactly when `r ⊆ p`, and then its result is `⊆ p`;
//! - `a ∩ b ⊆ a`, `a ∩ b ⊆ b`, and every `c` with `c ⊆ a` and `c ⊆ b` has `c ⊆ a ∩ b`
//!   (the intersection is the greatest lower bound).

use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use std::fmt;

/// Something a receiving organization may do with a shared case.
///
/// The list follows the seeds ("a shared case can be viewed, downloaded, imported, updated, and
/// shared onward (if allowed)"; "Only updates permitted by the sharing policy can be applied", per
/// tab) with the names issue #12 fixes: `view`, `download`, `import`, `receive_updates`,
/// `apply_case_updates`, `apply_evidence_updates`, `share_onward`, `share_onward_external`. Each
/// action has a fixed one-byte [code](PolicyAction::code) used in the canonical grant encoding;
/// codes are never reused (code 5, `apply_updates` for both tabs, is retired: a stored policy
/// that names it reads as both `apply_*_updates` actions).
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
    /// Review and apply the sharer's case-level updates (the review's Case tab).
    ApplyCaseUpdates,
    /// Review and apply the sharer's evidence-metadata updates (the review's Evidence tab).
    ApplyEvidenceUpdates,
    /// Share the received case onward inside the receiving organization (issue child grants to its
    /// own users and groups).
    ShareOnward,
    /// Share the received case onward to another partner organization.
    ShareOnwardExternal,
    /// Edit the case-level fields and evidence metadata of an access-mode share in the sharer's
    /// system (issue #14 item 4): both organizations write the case's metadata document and
    /// concurrent edits merge by Automerge's rules.
    EditMetadata,
}

impl PolicyAction {
    /// Every action, in the order people read them.
    pub const ALL: [PolicyAction; 9] = [
        PolicyAction::View,
        PolicyAction::Download,
        PolicyAction::Import,
        PolicyAction::ReceiveUpdates,
        PolicyAction::ApplyCaseUpdates,
        PolicyAction::ApplyEvidenceUpdates,
        PolicyAction::ShareOnward,
        PolicyAction::ShareOnwardExternal,
        PolicyAction::EditMetadata,
    ];

    /// The stable one-byte code used in canonical encodings (5 is retired, never reused).
    pub fn code(self) -> u8 {
        match self {
            PolicyAction::View => 1,
            PolicyAction::Download => 2,
            PolicyAction::Import => 3,
            PolicyAction::ReceiveUpdates => 4,
            PolicyAction::ShareOnward => 6,
            PolicyAction::ApplyCaseUpdates => 7,
            PolicyAction::ApplyEvidenceUpdates => 8,
            PolicyAction::ShareOnwardExternal => 9,
            PolicyAction::EditMetadata => 10,
        }
    }

    /// The action with this code.
    pub fn from_code(code: u8) -> Option<PolicyAction> {
        PolicyAction::ALL.into_iter().find(|a| a.code() == code)
    }

    /// The snake_case name, as in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            PolicyAction::View => "view",
            PolicyAction::Download => "download",
            PolicyAction::Import => "import",
            PolicyAction::ReceiveUpdates => "receive_updates",
            PolicyAction::ApplyCaseUpdates => "apply_case_updates",
            PolicyAction::ApplyEvidenceUpdates => "apply_evidence_updates",
            PolicyAction::ShareOnward => "share_onward",
            PolicyAction::ShareOnwardExternal => "share_onward_external",
            PolicyAction::EditMetadata => "edit_metadata",
        }
    }

    /// The action with this snake_case name.
    pub fn from_name(name: &str) -> Option<PolicyAction> {
        PolicyAction::ALL.into_iter().find(|a| a.name() == name)
    }

    /// The actions a name stands for: the action of that name, or, for the retired
    /// `apply_updates`, both `apply_*_updates` actions. Empty for an unknown name.
    pub fn expand_name(name: &str) -> Vec<PolicyAction> {
        match name {
            RETIRED_APPLY_UPDATES => vec![
                PolicyAction::ApplyCaseUpdates,
                PolicyAction::ApplyEvidenceUpdates,
            ],
            _ => PolicyAction::from_name(name).into_iter().collect(),
        }
    }
}

/// The name of the retired action that covered both review tabs (code 5).
const RETIRED_APPLY_UPDATES: &str = "apply_updates";

impl fmt::Display for PolicyAction {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A kind of case or evidence data a sharing policy lets leave the organization: the policy's
/// "what data" dimension (seed 002: "These policies control what case and evidence data can be
/// shared and what actions partner organizations can take").
///
/// Data a policy does not list is withheld by the sharer's node before anything is sent: a case or
/// evidence field travels empty (an evidence name falls back to the item's display id, or to its
/// hash when that is withheld too), a category is not sent, transcripts are not offered. The
/// evidence bytes and their BLAKE3 hash always travel: they are what is shared. Evidence marked
/// "do not disclose" never leaves, whatever the policy. Each kind has a stable one-byte
/// [code](SharedData::code) in the canonical grant encoding.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum SharedData {
    /// The case's "Case ID" (case number).
    CaseNumber,
    /// The case's title.
    CaseTitle,
    /// The case's description.
    CaseDescription,
    /// Each evidence item's name.
    EvidenceName,
    /// Each evidence item's display id (`EV-0001`).
    EvidenceDisplayId,
    /// Each evidence item's description.
    EvidenceDescription,
    /// Transcripts attached to evidence.
    Transcripts,
}

impl SharedData {
    /// Every kind, in the order people read them.
    pub const ALL: [SharedData; 7] = [
        SharedData::CaseNumber,
        SharedData::CaseTitle,
        SharedData::CaseDescription,
        SharedData::EvidenceName,
        SharedData::EvidenceDisplayId,
        SharedData::EvidenceDescription,
        SharedData::Transcripts,
    ];

    /// The case-level fields (the group name `case_fields`).
    pub const CASE_FIELDS: [SharedData; 3] = [
        SharedData::CaseNumber,
        SharedData::CaseTitle,
        SharedData::CaseDescription,
    ];

    /// The evidence-metadata fields (the group name `evidence_metadata`).
    pub const EVIDENCE_METADATA: [SharedData; 3] = [
        SharedData::EvidenceName,
        SharedData::EvidenceDisplayId,
        SharedData::EvidenceDescription,
    ];

    /// The stable one-byte code used in canonical encodings; never reused (13 is reserved:
    /// categories never leave, a received copy's category is always None, seed 000).
    pub fn code(self) -> u8 {
        match self {
            SharedData::CaseNumber => 1,
            SharedData::CaseTitle => 2,
            SharedData::CaseDescription => 3,
            SharedData::EvidenceName => 10,
            SharedData::EvidenceDisplayId => 11,
            SharedData::EvidenceDescription => 12,
            SharedData::Transcripts => 20,
        }
    }

    /// The kind with this code.
    pub fn from_code(code: u8) -> Option<SharedData> {
        SharedData::ALL.into_iter().find(|d| d.code() == code)
    }

    /// The snake_case name, as in JSON and on the command line.
    pub fn name(self) -> &'static str {
        match self {
            SharedData::CaseNumber => "case_number",
            SharedData::CaseTitle => "case_title",
            SharedData::CaseDescription => "case_description",
            SharedData::EvidenceName => "evidence_name",
            SharedData::EvidenceDisplayId => "evidence_display_id",
            SharedData::EvidenceDescription => "evidence_description",
            SharedData::Transcripts => "transcripts",
        }
    }

    /// The kinds a name stands for: one kind, or a group (`case_fields`, `evidence_metadata`,
    /// `all`). Empty for an unknown name.
    pub fn expand_name(name: &str) -> Vec<SharedData> {
        match name {
            "case_fields" => SharedData::CASE_FIELDS.to_vec(),
            "evidence_metadata" => SharedData::EVIDENCE_METADATA.to_vec(),
            "all" => SharedData::ALL.to_vec(),
            _ => SharedData::ALL
                .into_iter()
                .filter(|d| d.name() == name)
                .collect(),
        }
    }
}

impl fmt::Display for SharedData {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(self.name())
    }
}

/// A named pair of sets: what data may leave, and what the receiver may do with it.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
pub struct SharingPolicy {
    /// The administrator's name for it, e.g. `Defense counsel – view only`.
    pub name: String,
    /// What the receiver may do; everything else is refused at both ends.
    #[serde(deserialize_with = "actions_with_retired")]
    pub allowed: BTreeSet<PolicyAction>,
    /// What data may leave; everything else is withheld before sending. A policy stored before
    /// this dimension existed reads as every kind (what was shared then).
    #[serde(default = "all_data")]
    pub data: BTreeSet<SharedData>,
    /// Two-person approval (issue #13): a partner share under this policy waits as
    /// `PendingApproval` until a second user with the `share_approve` permission approves it.
    /// A rule of the sharing organization only: it is not part of a grant's canonical bytes (a
    /// decoded grant reads `false`), and attenuation ignores it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub two_person_approval: bool,
}

fn all_data() -> BTreeSet<SharedData> {
    SharedData::ALL.into_iter().collect()
}

/// Reads an action set, the retired `apply_updates` as both `apply_*_updates` actions.
fn actions_with_retired<'de, D: serde::Deserializer<'de>>(
    de: D,
) -> Result<BTreeSet<PolicyAction>, D::Error> {
    let names = Vec::<String>::deserialize(de)?;
    let mut out = BTreeSet::new();
    for n in names {
        let actions = PolicyAction::expand_name(&n);
        if actions.is_empty() {
            return Err(serde::de::Error::custom(format!(
                "unknown policy action {n:?}"
            )));
        }
        out.extend(actions);
    }
    Ok(out)
}

/// Why an attenuation was refused.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum PolicyError {
    /// The requested policy allows actions or data its parent does not.
    #[error("policy would widen its parent: {} not allowed by the parent", widened(.extra, .extra_data))]
    Widens {
        /// The actions requested beyond the parent's, sorted.
        extra: Vec<PolicyAction>,
        /// The data kinds requested beyond the parent's, sorted.
        extra_data: Vec<SharedData>,
    },
}

fn widened(actions: &[PolicyAction], data: &[SharedData]) -> String {
    actions
        .iter()
        .map(|a| a.name())
        .chain(data.iter().map(|d| d.name()))
        .collect::<Vec<_>>()
        .join(", ")
}

impl SharingPolicy {
    /// A policy with this name and these actions, letting every kind of data leave.
    pub fn new(name: &str, allowed: impl IntoIterator<Item = PolicyAction>) -> SharingPolicy {
        SharingPolicy {
            name: name.to_owned(),
            allowed: allowed.into_iter().collect(),
            data: all_data(),
            two_person_approval: false,
        }
    }

    /// This policy with two-person approval on or off.
    pub fn with_two_person_approval(mut self, on: bool) -> SharingPolicy {
        self.two_person_approval = on;
        self
    }

    /// This policy with its data dimension set to `data`.
    pub fn with_data(mut self, data: impl IntoIterator<Item = SharedData>) -> SharingPolicy {
        self.data = data.into_iter().collect();
        self
    }

    /// The default policy of a partner share (copy): the partner owns its copy, so it may view,
    /// download and import it, keep receiving new evidence, and apply the sharer's case and
    /// evidence-metadata updates; every kind of data leaves. Onward sharing is off until an
    /// administrator assigns a policy that allows it.
    pub fn partner_copy_default() -> SharingPolicy {
        SharingPolicy::new(
            "Partner copy (default)",
            [
                PolicyAction::View,
                PolicyAction::Download,
                PolicyAction::Import,
                PolicyAction::ReceiveUpdates,
                PolicyAction::ApplyCaseUpdates,
                PolicyAction::ApplyEvidenceUpdates,
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

    /// Whether data of `kind` may leave.
    pub fn discloses(&self, kind: SharedData) -> bool {
        self.data.contains(&kind)
    }

    /// Whether everything this policy allows (actions and data) is also allowed by `other`.
    pub fn is_subset_of(&self, other: &SharingPolicy) -> bool {
        self.allowed.is_subset(&other.allowed) && self.data.is_subset(&other.data)
    }

    /// The actions this policy allows beyond `other`'s, sorted.
    pub fn extra_over(&self, other: &SharingPolicy) -> Vec<PolicyAction> {
        self.allowed.difference(&other.allowed).copied().collect()
    }

    /// The data kinds this policy lets leave beyond `other`'s, sorted.
    pub fn extra_data_over(&self, other: &SharingPolicy) -> Vec<SharedData> {
        self.data.difference(&other.data).copied().collect()
    }

    /// What both allow, in both dimensions; keeps `self`'s name.
    pub fn intersect(&self, other: &SharingPolicy) -> SharingPolicy {
        SharingPolicy {
            name: self.name.clone(),
            allowed: self.allowed.intersection(&other.allowed).copied().collect(),
            data: self.data.intersection(&other.data).copied().collect(),
            two_person_approval: self.two_person_approval || other.two_person_approval,
        }
    }
}

/// Attenuate `parent` to `requested`: `requested` itself when it allows no action and no data
/// `parent` does not, else [`PolicyError::Widens`] naming the extra actions and data.
pub fn attenuate(
    parent: &SharingPolicy,
    requested: &SharingPolicy,
) -> Result<SharingPolicy, PolicyError> {
    let extra = requested.extra_over(parent);
    let extra_data = requested.extra_data_over(parent);
    if extra.is_empty() && extra_data.is_empty() {
        Ok(requested.clone())
    } else {
        Err(PolicyError::Widens { extra, extra_data })
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    fn policy() -> impl Strategy<Value = SharingPolicy> {
        (
            proptest::collection::btree_set(
                proptest::sample::select(PolicyAction::ALL.to_vec()),
                0..=8,
            ),
            proptest::collection::btree_set(
                proptest::sample::select(SharedData::ALL.to_vec()),
                0..=8,
            ),
        )
            .prop_map(|(allowed, data)| SharingPolicy {
                two_person_approval: false,
                name: "p".into(),
                allowed,
                data,
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
    fn data_codes_and_names_roundtrip_and_groups_expand() {
        let codes: BTreeSet<u8> = SharedData::ALL.iter().map(|d| d.code()).collect();
        assert_eq!(codes.len(), SharedData::ALL.len());
        for d in SharedData::ALL {
            assert_eq!(SharedData::from_code(d.code()), Some(d));
            assert_eq!(SharedData::expand_name(d.name()), vec![d]);
            assert_eq!(
                serde_json::to_string(&d).unwrap(),
                format!("\"{}\"", d.name())
            );
        }
        assert_eq!(SharedData::expand_name("case_fields").len(), 3);
        assert_eq!(SharedData::expand_name("evidence_metadata").len(), 3);
        assert_eq!(SharedData::expand_name("all").len(), SharedData::ALL.len());
        assert!(SharedData::expand_name("notes").is_empty());
    }

    #[test]
    fn a_policy_stored_before_the_split_reads_with_both_tabs_and_all_data() {
        let old = r#"{"name":"Old","allowed":["view","apply_updates"]}"#;
        let p: SharingPolicy = serde_json::from_str(old).unwrap();
        assert_eq!(
            p.allowed,
            [
                PolicyAction::View,
                PolicyAction::ApplyCaseUpdates,
                PolicyAction::ApplyEvidenceUpdates
            ]
            .into_iter()
            .collect()
        );
        assert_eq!(p.data.len(), SharedData::ALL.len());
        let bad = r#"{"name":"Bad","allowed":["fly"]}"#;
        let err = serde_json::from_str::<SharingPolicy>(bad).unwrap_err();
        assert!(err.to_string().contains("unknown policy action"), "{err}");
        // What is written reads back the same.
        let q = SharingPolicy::view_only().with_data([SharedData::CaseTitle]);
        let back: SharingPolicy =
            serde_json::from_str(&serde_json::to_string(&q).unwrap()).unwrap();
        assert_eq!(back, q);
        // Code 5 stays retired.
        assert_eq!(PolicyAction::from_code(5), None);
    }

    #[test]
    fn attenuating_data_names_the_extra_kinds() {
        let parent = SharingPolicy::view_only().with_data([SharedData::CaseTitle]);
        let wider =
            SharingPolicy::view_only().with_data([SharedData::CaseTitle, SharedData::Transcripts]);
        let err = attenuate(&parent, &wider).unwrap_err();
        assert_eq!(
            err,
            PolicyError::Widens {
                extra: vec![],
                extra_data: vec![SharedData::Transcripts],
            }
        );
        assert!(err.to_string().contains("transcripts"), "{err}");
    }

    #[test]
    fn attenuate_names_the_extra_actions() {
        let parent = SharingPolicy::view_only();
        let wide = SharingPolicy::new("w", [PolicyAction::View, PolicyAction::ShareOnward]);
        let err = attenuate(&parent, &wide).unwrap_err();
        assert_eq!(
            err,
            PolicyError::Widens {
                extra: vec![PolicyAction::ShareOnward],
                extra_data: vec![],
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
        assert!(p.allows(PolicyAction::ApplyCaseUpdates));
        assert!(p.allows(PolicyAction::ApplyEvidenceUpdates));
        assert!(!p.allows(PolicyAction::ShareOnwardExternal));
        assert_eq!(p.data.len(), SharedData::ALL.len());
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
                Err(PolicyError::Widens { extra, extra_data }) => {
                    prop_assert!(!extra.is_empty() || !extra_data.is_empty());
                    prop_assert!(!r.is_subset_of(&p));
                    for e in extra {
                        prop_assert!(r.allows(e) && !p.allows(e));
                    }
                    for d in extra_data {
                        prop_assert!(r.discloses(d) && !p.discloses(d));
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
            let j = b.intersect(&a);
            prop_assert_eq!(i.allowed, j.allowed);
            prop_assert_eq!(i.data, j.data);
        }
    }
}
