//! "Updates available": review the sharer's metadata edits and apply the chosen ones.
//!
//! The receiver holds three things per field:
//! - **upstream**: the sharer's latest value, in the upstream [`CaseDoc`] (the sharer's changes
//!   merged in, never edited here);
//! - **local**: the value in the receiver's own copy ([`CaseMeta`]), which is its work product;
//! - **baseline** ([`AppliedState`]): the upstream value the receiver last took in — at import, by
//!   applying it, or by dismissing it.
//!
//! An update is available for a field when upstream differs from both the baseline (the sharer
//! changed it since the receiver last took it in) and the local value (there is something to
//! apply). So a receiver's own edit never shows up as an update by itself and is never overwritten
//! unless the receiver selects the sharer's value; a field with no baseline (say, evidence imported
//! later by case synchronization) shows an update whenever upstream and local differ.

use crate::doc::CaseDoc;
use crate::fields::{CaseMeta, EvidenceMeta, Field, FieldRef, Target};
use casemesh_model::ids::EvidenceId;
use casemesh_model::policy::{PolicyAction, SharingPolicy};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// One reviewable update: a row in the Case or Evidence tab.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FieldUpdate {
    /// Case or evidence item.
    pub target: Target,
    /// Which field.
    pub field: Field,
    /// The receiver's current value.
    pub current: String,
    /// The sharer's value.
    pub proposed: String,
}

impl FieldUpdate {
    /// The field it updates.
    pub fn field_ref(&self) -> FieldRef {
        FieldRef {
            target: self.target,
            field: self.field,
        }
    }
}

/// The upstream value the receiver last took in, per field (keys are [`FieldRef`] paths such as
/// `case/title`, so the state serializes as a plain JSON object).
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct AppliedState {
    baseline: BTreeMap<String, String>,
}

/// Why applying updates was refused; nothing was applied.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum ApplyError {
    /// The share's policy does not allow applying updates of this tab: `action` is
    /// [`PolicyAction::ApplyCaseUpdates`] for the Case tab, [`PolicyAction::ApplyEvidenceUpdates`]
    /// for the Evidence tab.
    #[error("the sharing policy does not allow {action} (the review's {} tab)", tab_of(*.action))]
    NotPermitted {
        /// The policy action the selection needs.
        action: PolicyAction,
    },
    /// A selected field has no update available (already applied, never changed, or unknown).
    #[error("no update available for {0}")]
    NotAvailable(FieldRef),
}

impl AppliedState {
    /// The state right after the first import: every upstream value taken in.
    pub fn at_import(upstream: &CaseDoc) -> AppliedState {
        let mut s = AppliedState::default();
        for (r, v) in upstream.meta().fields() {
            s.record(r, v);
        }
        s
    }

    /// The upstream value last taken in for a field.
    pub fn baseline(&self, r: FieldRef) -> Option<&str> {
        self.baseline.get(&r.to_string()).map(String::as_str)
    }

    /// Record that the receiver took in `value` for a field.
    pub fn record(&mut self, r: FieldRef, value: &str) {
        self.baseline.insert(r.to_string(), value.to_owned());
    }

    /// Take in every value `later` records, over the ones recorded here.
    pub fn overlay(&mut self, later: &AppliedState) {
        for (k, v) in &later.baseline {
            self.baseline.insert(k.clone(), v.clone());
        }
    }

    /// Record an evidence item imported by case synchronization with this metadata.
    pub fn track_evidence(&mut self, id: EvidenceId, meta: &EvidenceMeta) {
        self.record(FieldRef::evidence(id, Field::Name), &meta.name);
        self.record(FieldRef::evidence(id, Field::DisplayId), &meta.display_id);
        self.record(
            FieldRef::evidence(id, Field::Description),
            &meta.description,
        );
    }
}

/// The updates available, case fields first, then evidence by id, each in review order.
/// Evidence the receiver's copy does not hold (not in `local`) has none: new evidence arrives by
/// case synchronization, not here.
pub fn updates_available(
    upstream: &CaseDoc,
    applied: &AppliedState,
    local: &CaseMeta,
) -> Vec<FieldUpdate> {
    upstream
        .meta()
        .fields()
        .into_iter()
        .filter_map(|(r, proposed)| {
            let current = local.get(r)?;
            let fresh = applied.baseline(r) != Some(proposed);
            (fresh && current != proposed).then(|| FieldUpdate {
                target: r.target,
                field: r.field,
                current: current.to_owned(),
                proposed: proposed.to_owned(),
            })
        })
        .collect()
}

fn tab_of(action: PolicyAction) -> &'static str {
    match action {
        PolicyAction::ApplyCaseUpdates => "Case",
        _ => "Evidence",
    }
}

/// The policy action that applying an update to `target` needs (seed 002, "Check for and apply
/// updates": "Only updates permitted by the sharing policy can be applied", per tab).
pub fn action_for(target: Target) -> PolicyAction {
    match target {
        Target::Case => PolicyAction::ApplyCaseUpdates,
        Target::Evidence(_) => PolicyAction::ApplyEvidenceUpdates,
    }
}

/// Apply the selected updates to the receiver's copy, if `policy` allows the tab of each one
/// ([`action_for`]). Either every selected field has an update available and its tab is allowed,
/// and all are applied (local value and baseline set to upstream's), or nothing changes. Returns
/// what was applied, with `current` the value it replaced.
pub fn apply(
    upstream: &CaseDoc,
    selection: &[FieldRef],
    policy: &SharingPolicy,
    applied: &mut AppliedState,
    local: &mut CaseMeta,
) -> Result<Vec<FieldUpdate>, ApplyError> {
    if let Some(action) = selection
        .iter()
        .map(|r| action_for(r.target))
        .find(|a| !policy.allows(*a))
    {
        return Err(ApplyError::NotPermitted { action });
    }
    let available: BTreeMap<FieldRef, FieldUpdate> = updates_available(upstream, applied, local)
        .into_iter()
        .map(|u| (u.field_ref(), u))
        .collect();
    let mut chosen = Vec::with_capacity(selection.len());
    for r in selection {
        let u = available.get(r).ok_or(ApplyError::NotAvailable(*r))?;
        if !chosen.iter().any(|c: &FieldUpdate| c.field_ref() == *r) {
            chosen.push(u.clone());
        }
    }
    for u in &chosen {
        local.set(u.field_ref(), &u.proposed);
        applied.record(u.field_ref(), &u.proposed);
    }
    Ok(chosen)
}

/// Dismiss the selected updates: take the sharer's values in as seen without changing the copy,
/// so they stop showing until the sharer changes those fields again. Fields with no update
/// available are ignored.
pub fn dismiss(
    upstream: &CaseDoc,
    selection: &[FieldRef],
    applied: &mut AppliedState,
    local: &CaseMeta,
) -> Vec<FieldUpdate> {
    let mut out = Vec::new();
    for u in updates_available(upstream, applied, local) {
        if selection.contains(&u.field_ref()) {
            applied.record(u.field_ref(), &u.proposed);
            out.push(u);
        }
    }
    out
}
