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
//!
//! [`review`] lists the same updates as review rows: each with whether the sharer's policy lets
//! this node apply it (and why not), whether it is a **conflict** (the receiver changed the field
//! itself since it last took the sharer's value in: local differs from the baseline; both values
//! are shown), and who changed it at the sharer and when. [`select`] turns "all" or "this tab"
//! into fields: it takes the allowed, non-conflicting rows only, so overwriting the receiver's
//! own edit is always an explicit choice — naming the field ([`apply`] with that field).

use crate::doc::{CaseDoc, Stamp};
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

/// A review tab: the seed's Case tab (case-level fields) or Evidence tab (evidence metadata).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Tab {
    /// Case ID, title, description.
    Case,
    /// Evidence name, display id, description.
    Evidence,
}

impl Tab {
    /// The tab a target's updates are listed in.
    pub fn of(target: Target) -> Tab {
        match target {
            Target::Case => Tab::Case,
            Target::Evidence(_) => Tab::Evidence,
        }
    }

    /// `case` or `evidence`.
    pub fn name(self) -> &'static str {
        match self {
            Tab::Case => "case",
            Tab::Evidence => "evidence",
        }
    }

    /// The policy action applying this tab's updates needs ([`action_for`]).
    pub fn action(self) -> PolicyAction {
        match self {
            Tab::Case => PolicyAction::ApplyCaseUpdates,
            Tab::Evidence => PolicyAction::ApplyEvidenceUpdates,
        }
    }
}

impl std::str::FromStr for Tab {
    type Err = String;
    fn from_str(s: &str) -> Result<Tab, String> {
        match s {
            "case" => Ok(Tab::Case),
            "evidence" => Ok(Tab::Evidence),
            other => Err(format!("no tab {other:?}: case or evidence")),
        }
    }
}

/// One row of the review: an available update with what the receiver needs to decide on it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ReviewRow {
    /// The update (field, the copy's current value, the sharer's proposed value).
    pub update: FieldUpdate,
    /// The sharer's value the receiver last took in (at import, apply or dismiss), if known.
    pub base: Option<String>,
    /// The receiver changed this field itself since it last took the sharer's value in
    /// (`current` ≠ `base`): applying overwrites its own edit, so only naming the field does.
    pub conflict: bool,
    /// The sharer's policy lets this node apply the row's tab.
    pub allowed: bool,
    /// Why it cannot be applied, when not `allowed`.
    pub reason: Option<String>,
    /// Who changed the field at the sharer, and when (absent in documents written before
    /// issue #14).
    pub changed: Option<Stamp>,
}

/// What to apply: named fields, every row, or one tab.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Choice {
    /// Exactly these fields (conflicts included: naming a field is the explicit choice).
    Fields(Vec<FieldRef>),
    /// Every allowed, non-conflicting row.
    All,
    /// Every allowed, non-conflicting row of one tab.
    Tab(Tab),
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
    /// "All" or a tab selected nothing: no rows, or only conflicts (which must be named).
    #[error("nothing to apply{}", if *.conflicts > 0 {
        format!(": {} conflicting update(s) change fields you edited yourself; apply each by naming it (--field)", .conflicts)
    } else {
        String::new()
    })]
    NothingSelected {
        /// How many rows were left out as conflicts.
        conflicts: usize,
    },
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

/// The review rows: [`updates_available`] with, per row, the baseline, the conflict flag,
/// whether `policy` (the sharer's grant policy) allows its tab and why not, and the sharer's
/// stamp. Same order as [`updates_available`].
pub fn review(
    upstream: &CaseDoc,
    applied: &AppliedState,
    local: &CaseMeta,
    policy: &SharingPolicy,
) -> Vec<ReviewRow> {
    updates_available(upstream, applied, local)
        .into_iter()
        .map(|u| {
            let r = u.field_ref();
            let base = applied.baseline(r).map(str::to_owned);
            let conflict = base.as_deref().is_some_and(|b| b != u.current);
            let action = action_for(u.target);
            let allowed = policy.allows(action);
            ReviewRow {
                base,
                conflict,
                allowed,
                reason: (!allowed).then(|| ApplyError::NotPermitted { action }.to_string()),
                changed: upstream.stamp(r),
                update: u,
            }
        })
        .collect()
}

/// The fields a [`Choice`] selects from `rows`. `Fields` is returned as named (checked by
/// [`apply`]); `All` and `Tab` take the allowed rows that are not conflicts. Errors:
/// [`ApplyError::NotPermitted`] when a chosen tab (or, for `All`, every row) is forbidden,
/// [`ApplyError::NothingSelected`] when nothing is left.
pub fn select(rows: &[ReviewRow], choice: &Choice) -> Result<Vec<FieldRef>, ApplyError> {
    let in_tab = |row: &ReviewRow| match choice {
        Choice::Tab(t) => Tab::of(row.update.target) == *t,
        _ => true,
    };
    match choice {
        Choice::Fields(fields) => Ok(fields.clone()),
        Choice::All | Choice::Tab(_) => {
            if let Choice::Tab(t) = choice
                && rows.iter().any(|r| in_tab(r) && !r.allowed)
            {
                return Err(ApplyError::NotPermitted { action: t.action() });
            }
            let candidates: Vec<&ReviewRow> = rows.iter().filter(|r| in_tab(r)).collect();
            let chosen: Vec<FieldRef> = candidates
                .iter()
                .filter(|r| r.allowed && !r.conflict)
                .map(|r| r.update.field_ref())
                .collect();
            if chosen.is_empty() {
                if let Some(r) = candidates.iter().find(|r| !r.allowed) {
                    return Err(ApplyError::NotPermitted {
                        action: action_for(r.update.target),
                    });
                }
                return Err(ApplyError::NothingSelected {
                    conflicts: candidates.iter().filter(|r| r.conflict).count(),
                });
            }
            Ok(chosen)
        }
    }
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
/// so they stop showing until the sharer changes those fields again. Needs no policy action
/// (nothing changes in the copy). Either every selected field has an update available and all
/// are dismissed, or [`ApplyError::NotAvailable`] names the first that has none and nothing
/// changes.
pub fn dismiss(
    upstream: &CaseDoc,
    selection: &[FieldRef],
    applied: &mut AppliedState,
    local: &CaseMeta,
) -> Result<Vec<FieldUpdate>, ApplyError> {
    let available: BTreeMap<FieldRef, FieldUpdate> = updates_available(upstream, applied, local)
        .into_iter()
        .map(|u| (u.field_ref(), u))
        .collect();
    let mut out: Vec<FieldUpdate> = Vec::new();
    for r in selection {
        let u = available.get(r).ok_or(ApplyError::NotAvailable(*r))?;
        if !out.iter().any(|o| o.field_ref() == *r) {
            out.push(u.clone());
        }
    }
    for u in &out {
        applied.record(u.field_ref(), &u.proposed);
    }
    Ok(out)
}

/// Check a value a partner or the receiver writes into a field against the same limits local
/// edits obey (`casemesh_model::names`): case number and title one line (200 / 1,000 bytes), case
/// description text (100,000 bytes), evidence name and display id valid names, evidence
/// description text (16,384 bytes). Returns the reason when refused.
pub fn check_value(r: FieldRef, value: &str) -> Result<(), String> {
    use casemesh_model::names::{check_line, check_text, limits, validate_name};
    match (r.target, r.field) {
        (Target::Case, Field::CaseNumber) => {
            check_line("case_number", value, limits::CASE_NUMBER).map_err(|e| e.to_string())?;
            casemesh_model::names::case_number_problem(value).map_or(Ok(()), Err)
        }
        (Target::Case, Field::Title) => {
            check_line("title", value, limits::TITLE).map_err(|e| e.to_string())
        }
        (Target::Case, _) => {
            check_text("description", value, limits::CASE_DESCRIPTION).map_err(|e| e.to_string())
        }
        (Target::Evidence(_), Field::Name | Field::DisplayId) => {
            validate_name(value).map_err(|e| e.to_string())
        }
        (Target::Evidence(_), _) => check_text("description", value, limits::EVIDENCE_DESCRIPTION)
            .map_err(|e| e.to_string()),
    }
}
