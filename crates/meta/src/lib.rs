//! Case-metadata documents: the "Check for and apply updates" path between a sharer and a
//! receiver, sans-IO (bytes in, bytes out; no clock, no network, no storage).
//!
//! Case-level fields (case number, title, description) and evidence metadata (name, display id,
//! description) live in an Automerge document, [`CaseDoc`], on the sharer's node. The receiver keeps
//! the **upstream** copy of that document, fed with the sharer's changes
//! ([`CaseDoc::changes_since`] → [`CaseDoc::apply_changes`]), and its own values separately
//! ([`CaseMeta`]) — those are its work product and are never overwritten automatically. The review
//! dialog lists [`updates_available`]; the receiver applies some or all with [`apply`], which the
//! share's policy must allow for the field's tab
//! ([`PolicyAction::ApplyCaseUpdates`](casemesh_model::policy::PolicyAction) or `ApplyEvidenceUpdates`).
//! New evidence files never travel this way (they follow case synchronization,
//! `casemesh_model::folder_sync`).
//!
//! Layout:
//! - [`fields`]: [`Target`], [`Field`], [`FieldRef`], and the plain snapshots [`CaseMeta`] /
//!   [`EvidenceMeta`].
//! - [`doc`]: [`CaseDoc`], the Automerge document (edit, save/load, heads, incremental changes,
//!   field-level diff).
//! - [`updates`]: [`AppliedState`], [`updates_available`], [`apply`], [`dismiss`].
//!
//! ```
//! use casemesh_meta::{CaseDoc, CaseMeta, AppliedState, Field, FieldRef, updates_available, apply};
//! use casemesh_model::policy::SharingPolicy;
//!
//! // The sharer's document, and the receiver's copy of it at first import.
//! let meta = CaseMeta { case_number: "2026-CR-7".into(), title: "Old".into(), ..Default::default() };
//! let mut sharer = CaseDoc::new(&meta).unwrap();
//! let mut upstream = CaseDoc::load(&sharer.save()).unwrap();
//! let mut applied = AppliedState::at_import(&upstream);
//! let mut local = upstream.meta();
//!
//! // The sharer retitles the case; only the change travels.
//! let seen = upstream.heads();
//! sharer.set_case_field(Field::Title, "New").unwrap();
//! upstream.apply_changes(&sharer.changes_since(&seen)).unwrap();
//!
//! let available = updates_available(&upstream, &applied, &local);
//! assert_eq!(available[0].proposed, "New");
//! let policy = SharingPolicy::partner_copy_default();
//! apply(&upstream, &[FieldRef::case(Field::Title)], &policy, &mut applied, &mut local).unwrap();
//! assert_eq!(local.title, "New");
//! ```

pub mod doc;
pub mod fields;
pub mod updates;

pub use automerge::ChangeHash;
pub use doc::{CaseDoc, MetaError, Refusal, Stamp, decode_heads, encode_heads, is_text};
pub use fields::{CaseMeta, EvidenceMeta, Field, FieldRef, Target};
pub use updates::{
    AppliedState, ApplyError, Choice, FieldUpdate, ReviewRow, Tab, action_for, apply, check_value,
    dismiss, review, select, updates_available,
};

#[cfg(test)]
mod tests {
    use super::*;
    use casemesh_model::ids::EvidenceId;
    use casemesh_model::policy::{PolicyAction, SharingPolicy};
    use std::collections::BTreeSet;

    fn meta(n: usize) -> (CaseMeta, Vec<EvidenceId>) {
        let ids: Vec<EvidenceId> = (0..n).map(|_| EvidenceId::random()).collect();
        let meta = CaseMeta {
            case_number: "2026-CR-0042".into(),
            title: "State v. Example".into(),
            description: "Burglary, 3 counts".into(),
            evidence: ids
                .iter()
                .enumerate()
                .map(|(i, id)| {
                    (
                        *id,
                        EvidenceMeta {
                            name: format!("clip-{i}.mp4"),
                            display_id: format!("EV-{i:04}"),
                            description: format!("Body camera {i}"),
                        },
                    )
                })
                .collect(),
        };
        (meta, ids)
    }

    /// Sharer doc, and the receiver's upstream doc, applied state and local values at import.
    struct Pair {
        sharer: CaseDoc,
        upstream: CaseDoc,
        applied: AppliedState,
        local: CaseMeta,
    }

    impl Pair {
        fn new(n: usize) -> (Pair, Vec<EvidenceId>) {
            let (m, ids) = meta(n);
            let mut sharer = CaseDoc::new(&m).unwrap();
            let upstream = CaseDoc::load(&sharer.save()).unwrap();
            let applied = AppliedState::at_import(&upstream);
            let local = upstream.meta();
            (
                Pair {
                    sharer,
                    upstream,
                    applied,
                    local,
                },
                ids,
            )
        }

        fn sync(&mut self) -> BTreeSet<FieldRef> {
            let heads = self.upstream.heads();
            let bytes = self.sharer.changes_since(&heads);
            self.upstream.apply_changes(&bytes).unwrap()
        }

        fn available(&self) -> Vec<FieldUpdate> {
            updates_available(&self.upstream, &self.applied, &self.local)
        }
    }

    #[test]
    fn sharer_edits_show_as_exactly_those_updates() {
        let (mut p, ids) = Pair::new(3);
        assert!(p.available().is_empty());
        p.sharer
            .set_case_field(Field::Title, "State v. Sample")
            .unwrap();
        p.sharer
            .set_evidence_field(ids[1], Field::Name, "front-door.mp4")
            .unwrap();
        let changed = p.sync();
        let title = FieldRef::case(Field::Title);
        let name = FieldRef::evidence(ids[1], Field::Name);
        assert_eq!(changed, BTreeSet::from([title, name]));
        let available = p.available();
        assert_eq!(
            available,
            vec![
                FieldUpdate {
                    target: Target::Case,
                    field: Field::Title,
                    current: "State v. Example".into(),
                    proposed: "State v. Sample".into(),
                },
                FieldUpdate {
                    target: Target::Evidence(ids[1]),
                    field: Field::Name,
                    current: "clip-1.mp4".into(),
                    proposed: "front-door.mp4".into(),
                },
            ]
        );

        // Apply the title only: the name stays available.
        let policy = SharingPolicy::partner_copy_default();
        let done = apply(&p.upstream, &[title], &policy, &mut p.applied, &mut p.local).unwrap();
        assert_eq!(done, vec![available[0].clone()]);
        assert_eq!(p.local.title, "State v. Sample");
        assert_eq!(p.available(), vec![available[1].clone()]);
        // Applying it again is refused: nothing is available for it.
        assert_eq!(
            apply(&p.upstream, &[title], &policy, &mut p.applied, &mut p.local),
            Err(ApplyError::NotAvailable(title))
        );
        apply(&p.upstream, &[name], &policy, &mut p.applied, &mut p.local).unwrap();
        assert!(p.available().is_empty());
        assert_eq!(p.local, p.upstream.meta());
    }

    #[test]
    fn local_edits_are_kept_unless_chosen() {
        let (mut p, ids) = Pair::new(2);
        let desc = FieldRef::case(Field::Description);
        // The receiver edits its copy; nothing is offered while the sharer leaves the field alone.
        p.local.set(desc, "Our notes");
        p.local
            .set(FieldRef::evidence(ids[0], Field::Name), "renamed by us");
        p.sharer.set_case_field(Field::Title, "T2").unwrap();
        p.sync();
        assert_eq!(p.available().len(), 1);
        // The sharer edits the same field: offered, but not applied by itself.
        p.sharer
            .set_case_field(Field::Description, "Sharer's new text")
            .unwrap();
        p.sync();
        let available = p.available();
        assert_eq!(available.len(), 2);
        assert_eq!(available[1].current, "Our notes");
        let policy = SharingPolicy::partner_copy_default();
        apply(
            &p.upstream,
            &[FieldRef::case(Field::Title)],
            &policy,
            &mut p.applied,
            &mut p.local,
        )
        .unwrap();
        assert_eq!(p.local.description, "Our notes");
        assert_eq!(p.local.evidence[&ids[0]].name, "renamed by us");
        // Dismissing hides it until the sharer changes the field again.
        dismiss(&p.upstream, &[desc], &mut p.applied, &p.local).unwrap();
        assert!(p.available().is_empty());
        assert_eq!(p.local.description, "Our notes");
        p.sharer
            .set_case_field(Field::Description, "Third text")
            .unwrap();
        p.sync();
        assert_eq!(p.available()[0].proposed, "Third text");
        // Chosen: now it is overwritten.
        apply(&p.upstream, &[desc], &policy, &mut p.applied, &mut p.local).unwrap();
        assert_eq!(p.local.description, "Third text");
    }

    #[test]
    fn each_review_tab_needs_its_own_policy_action() {
        let (mut p, ids) = Pair::new(1);
        p.sharer.set_case_field(Field::Title, "T2").unwrap();
        p.sharer
            .set_evidence_field(ids[0], Field::Name, "renamed.mp4")
            .unwrap();
        p.sync();
        let title = FieldRef::case(Field::Title);
        let name = FieldRef::evidence(ids[0], Field::Name);
        let mut policy = SharingPolicy::partner_copy_default();
        policy.allowed.remove(&PolicyAction::ApplyCaseUpdates);
        let before = p.local.clone();
        // The Case tab is refused, naming the action; a mixed selection changes nothing.
        for selection in [vec![title], vec![name, title]] {
            let err = apply(
                &p.upstream,
                &selection,
                &policy,
                &mut p.applied,
                &mut p.local,
            )
            .unwrap_err();
            assert_eq!(
                err,
                ApplyError::NotPermitted {
                    action: PolicyAction::ApplyCaseUpdates
                }
            );
            assert!(err.to_string().contains("apply_case_updates"), "{err}");
            assert!(err.to_string().contains("Case tab"), "{err}");
            assert_eq!(p.local, before);
            assert_eq!(p.available().len(), 2);
        }
        // The Evidence tab is still allowed.
        apply(&p.upstream, &[name], &policy, &mut p.applied, &mut p.local).unwrap();
        assert_eq!(p.available().len(), 1);
        // And the other way round.
        let mut policy = SharingPolicy::partner_copy_default();
        policy.allowed.remove(&PolicyAction::ApplyEvidenceUpdates);
        p.sharer
            .set_evidence_field(ids[0], Field::Description, "new")
            .unwrap();
        p.sync();
        let desc = FieldRef::evidence(ids[0], Field::Description);
        assert_eq!(
            apply(&p.upstream, &[desc], &policy, &mut p.applied, &mut p.local),
            Err(ApplyError::NotPermitted {
                action: PolicyAction::ApplyEvidenceUpdates
            })
        );
        apply(&p.upstream, &[title], &policy, &mut p.applied, &mut p.local).unwrap();
        assert_eq!(p.local.title, "T2");
    }

    #[test]
    fn selection_is_all_or_nothing() {
        let (mut p, _) = Pair::new(1);
        p.sharer.set_case_field(Field::Title, "T2").unwrap();
        p.sync();
        let policy = SharingPolicy::partner_copy_default();
        let before = p.local.clone();
        let number = FieldRef::case(Field::CaseNumber);
        assert_eq!(
            apply(
                &p.upstream,
                &[FieldRef::case(Field::Title), number],
                &policy,
                &mut p.applied,
                &mut p.local
            ),
            Err(ApplyError::NotAvailable(number))
        );
        assert_eq!(p.local, before);
    }

    #[test]
    fn new_evidence_metadata_is_not_an_update_until_imported() {
        let (mut p, _) = Pair::new(1);
        let id = EvidenceId::random();
        let m = EvidenceMeta {
            name: "new.pdf".into(),
            display_id: "EV-9".into(),
            description: String::new(),
        };
        p.sharer.add_evidence_meta(id, &m).unwrap();
        let changed = p.sync();
        assert!(changed.contains(&FieldRef::evidence(id, Field::Name)));
        assert!(p.available().is_empty(), "the file arrives by case sync");
        // Case sync imports it with the upstream metadata.
        p.local.evidence.insert(id, m.clone());
        p.applied.track_evidence(id, &m);
        assert!(p.available().is_empty());
        p.sharer
            .set_evidence_field(id, Field::Description, "Lab report")
            .unwrap();
        p.sync();
        assert_eq!(p.available().len(), 1);
    }

    #[test]
    fn save_load_roundtrip_and_bad_input() {
        let (mut p, ids) = Pair::new(5);
        p.sharer
            .set_evidence_field(ids[2], Field::DisplayId, "EV-X")
            .unwrap();
        let bytes = p.sharer.save();
        let mut loaded = CaseDoc::load(&bytes).unwrap();
        assert_eq!(loaded.meta(), p.sharer.meta());
        assert_eq!(loaded.heads(), p.sharer.heads());
        assert!(CaseDoc::load(b"not automerge").is_err());
        // An Automerge document without our layout.
        let mut other = automerge::AutoCommit::new();
        use automerge::transaction::Transactable;
        other.put(automerge::ROOT, "x", 1i64).unwrap();
        assert!(matches!(
            CaseDoc::load(&other.save()),
            Err(MetaError::Schema)
        ));
        assert!(matches!(
            p.sharer.set_case_field(Field::Name, "x"),
            Err(MetaError::NoSuchField { .. })
        ));
        assert!(matches!(
            p.sharer
                .set_evidence_field(EvidenceId::random(), Field::Name, "x"),
            Err(MetaError::UnknownEvidence(_))
        ));
        assert!(p.upstream.apply_changes(b"garbage").is_err());
        let heads = p.sharer.heads();
        assert_eq!(decode_heads(&encode_heads(&heads)).unwrap(), heads);
        assert!(decode_heads(&[0; 31]).is_err());
    }

    #[test]
    fn changes_are_incremental() {
        let one_edit = |n: usize| {
            let (mut p, ids) = Pair::new(n);
            let heads = p.upstream.heads();
            p.sharer
                .set_evidence_field(ids[n / 2], Field::Name, "renamed.mp4")
                .unwrap();
            let bytes = p.sharer.changes_since(&heads);
            let changed = p.upstream.apply_changes(&bytes).unwrap();
            assert_eq!(changed.len(), 1);
            assert!(p.upstream.missing_deps().is_empty());
            (bytes.len(), p.sharer.save().len())
        };
        let (small, small_doc) = one_edit(10);
        let (large, large_doc) = one_edit(2000);
        assert!(large_doc > 20 * small_doc, "{small_doc} vs {large_doc}");
        assert!(small < 256, "one edit took {small} bytes");
        assert!(large < 256, "one edit in a large case took {large} bytes");
        // Nothing new: nothing to send beyond an empty change set.
        let (mut p, _) = Pair::new(3);
        let heads = p.sharer.heads();
        assert!(p.sharer.changes_since(&heads).is_empty());
        // Writing an unchanged value records no change.
        p.sharer
            .set_case_field(Field::Title, "State v. Example")
            .unwrap();
        assert_eq!(p.sharer.heads(), heads);
    }

    #[test]
    fn out_of_order_changes_wait_for_their_dependencies() {
        let (mut p, _) = Pair::new(1);
        let h0 = p.upstream.heads();
        p.sharer.set_case_field(Field::Title, "A").unwrap();
        let h1 = p.sharer.heads();
        let first = p.sharer.changes_since(&h0);
        p.sharer.set_case_field(Field::Title, "B").unwrap();
        let second = p.sharer.changes_since(&h1);
        p.upstream.apply_changes(&second).unwrap();
        assert!(!p.upstream.missing_deps().is_empty());
        assert_eq!(p.upstream.meta().title, "State v. Example");
        p.upstream.apply_changes(&first).unwrap();
        assert!(p.upstream.missing_deps().is_empty());
        assert_eq!(p.upstream.meta().title, "B");
    }

    #[test]
    fn changes_waiting_for_dependencies_are_named() {
        let (mut p, _) = Pair::new(1);
        let h0 = p.upstream.heads();
        p.sharer.set_case_field(Field::Title, "A").unwrap();
        let h1 = p.sharer.heads();
        p.sharer.set_case_field(Field::Title, "B").unwrap();
        let second = p.sharer.changes_since(&h1);
        let (changed, waiting) = p.upstream.apply_changes_waiting(&second).unwrap();
        assert!(changed.is_empty());
        assert_eq!(waiting, p.sharer.heads());
        let all = p.sharer.changes_since(&h0);
        let (changed, waiting) = p.upstream.apply_changes_waiting(&all).unwrap();
        assert!(waiting.is_empty());
        assert_eq!(changed, BTreeSet::from([FieldRef::case(Field::Title)]));
    }

    /// A stored base plus `save_after` increments loads as the same document, and an increment
    /// grows with the edit, not with the document.
    #[test]
    fn incremental_saves_rebuild_the_document() {
        let (m, ids) = meta(2_000);
        let mut doc = CaseDoc::new_shared(&m).unwrap();
        let base = doc.save();
        let mut stored = doc.heads();
        let mut increments = Vec::new();
        for i in 0..20 {
            doc.set(
                FieldRef::evidence(ids[i * 7], Field::Name),
                &format!("n-{i}.mp4"),
            )
            .unwrap();
            let inc = doc.save_after(&stored);
            assert!(
                inc.len() < 400,
                "increment of one edit: {} bytes",
                inc.len()
            );
            stored = doc.heads();
            increments.push(inc);
        }
        assert!(doc.save_after(&stored).is_empty());
        let mut loaded = CaseDoc::load(&base).unwrap();
        for inc in &increments {
            loaded.load_incremental(inc).unwrap();
        }
        assert_eq!(loaded.heads(), doc.heads());
        assert_eq!(loaded.meta(), doc.meta());
        // Loading an increment twice changes nothing.
        loaded.load_incremental(&increments[3]).unwrap();
        assert_eq!(loaded.heads(), doc.heads());
    }

    /// The sharer's counter-change takes a partner's refused edit back: both sides converge on
    /// the sharer's value, with the refusal recorded; an earlier value reads back with `get_at`.
    #[test]
    fn a_refused_edit_is_taken_back_on_both_sides() {
        let (m, ids) = meta(2);
        let mut a = CaseDoc::new_shared(&m).unwrap();
        a.set_actor(b"sharer");
        let mut b = CaseDoc::load(&a.save()).unwrap();
        b.set_actor(b"partner");
        let name = FieldRef::evidence(ids[0], Field::Name);
        let title = FieldRef::case(Field::Title);
        let h = b.heads();
        b.set(name, "bad/name").unwrap();
        let h1 = b.heads();
        b.set(title, "Later title").unwrap();
        // The sharer merges both, takes the name back.
        let before = a.heads();
        a.apply_changes(&b.changes_since(&h)).unwrap();
        let after = a.heads();
        assert_eq!(
            a.changed_fields(&before, &after),
            BTreeSet::from([title, name])
        );
        assert_eq!(a.get_at(name, &before).as_deref(), Some("clip-0.mp4"));
        assert_eq!(a.get_at(name, &h1).as_deref(), Some("bad/name"));
        assert_eq!(
            a.get_at(title, &before).as_deref(),
            Some("State v. Example")
        );
        let sent = a.heads();
        a.set(name, "clip-0.mp4").unwrap();
        let refusal = Refusal {
            field: name,
            value: "bad/name".into(),
            reason: "not a valid name".into(),
            by: "County DA".into(),
            at: casemesh_model::time::Timestamp(5),
        };
        a.record_refusal(&refusal).unwrap();
        b.apply_changes(&a.changes_since_excluding(&sent, b"partner"))
            .unwrap();
        assert_eq!(a.meta(), b.meta());
        assert_eq!(b.meta().title, "Later title");
        assert_eq!(b.get(name).as_deref(), Some("clip-0.mp4"));
        assert_eq!(b.refusals(), vec![refusal]);
        // A later accepted edit clears it.
        assert!(a.clear_refusal(name).unwrap());
        assert!(!a.clear_refusal(name).unwrap());
        assert!(a.refusals().is_empty());
        // An item the partner added is removed again.
        let extra = EvidenceId::random();
        a.add_evidence_meta(extra, &EvidenceMeta::default())
            .unwrap();
        assert!(a.remove_evidence(extra).unwrap());
        assert!(!a.has_evidence(extra));
        assert!(!a.remove_evidence(extra).unwrap());
    }

    /// Two writers (sharer and partner of an access-mode share): concurrent edits, delivered in
    /// either order and with one side's changes held back (offline), converge to the same
    /// document; text fields merge character-wise, identifiers by Automerge's register rule.
    #[test]
    fn two_writers_converge_in_any_delivery_order() {
        let (m, ids) = meta(2);
        let mut a = CaseDoc::new_shared(&m).unwrap();
        a.set_actor(b"sharer");
        let mut b = CaseDoc::load(&a.save()).unwrap();
        b.set_actor(b"partner");
        let base = a.heads();
        let desc = FieldRef::case(Field::Description);
        let name = FieldRef::evidence(ids[0], Field::Name);
        let stamp = |by: &str| Stamp {
            by: by.into(),
            at: casemesh_model::time::Timestamp(1),
        };
        // A appends, B prepends (while apart).
        a.set_stamped(desc, "Burglary, 3 counts, at night", &stamp("a"))
            .unwrap();
        a.set(name, "clip-0-front.mp4").unwrap();
        b.set_stamped(desc, "Armed burglary, 3 counts", &stamp("b"))
            .unwrap();
        b.set(FieldRef::case(Field::CaseNumber), "2026-CR-9")
            .unwrap();
        let from_a = a.changes_since_excluding(&base, b"partner");
        let from_b = b.changes_since_excluding(&base, b"sharer");
        // Each side sends only its own changes.
        assert!(b.changes_since_excluding(&base, b"partner").is_empty());
        // Delivery in both orders, and twice.
        let mut a2 = a.clone();
        a2.apply_changes(&from_b).unwrap();
        a2.apply_changes(&from_b).unwrap();
        let mut b2 = b.clone();
        b2.apply_changes(&from_a).unwrap();
        assert_eq!(a2.meta(), b2.meta());
        assert_eq!(a2.heads().len(), 2);
        let merged = a2.meta();
        assert_eq!(merged.description, "Armed burglary, 3 counts, at night");
        assert_eq!(merged.case_number, "2026-CR-9");
        assert_eq!(merged.evidence[&ids[0]].name, "clip-0-front.mp4");
        assert!(a2.layout_ok());
        // The changed fields are reported, text splices included.
        let mut b3 = b.clone();
        let changed = b3.apply_changes(&from_a).unwrap();
        assert!(
            changed.contains(&desc) && changed.contains(&name),
            "{changed:?}"
        );
        // Who wrote last is known on both sides (concurrent stamps: the same winner on both).
        assert_eq!(a2.stamp(desc), b2.stamp(desc));
    }

    #[test]
    fn review_flags_conflicts_and_forbidden_tabs_and_select_skips_them() {
        let (mut p, ids) = Pair::new(1);
        let desc = FieldRef::case(Field::Description);
        let name = FieldRef::evidence(ids[0], Field::Name);
        p.local.set(desc, "Our notes");
        p.sharer.set_case_field(Field::Description, "New").unwrap();
        p.sharer
            .set_evidence_field(ids[0], Field::Name, "x.mp4")
            .unwrap();
        p.sync();
        let mut policy = SharingPolicy::partner_copy_default();
        let rows = review(&p.upstream, &p.applied, &p.local, &policy);
        assert_eq!(rows.len(), 2);
        assert!(rows[0].conflict && rows[0].allowed);
        assert_eq!(rows[0].base.as_deref(), Some("Burglary, 3 counts"));
        assert!(!rows[1].conflict);
        // All and the Case tab skip the conflict; naming it selects it.
        assert_eq!(select(&rows, &Choice::All), Ok(vec![name]));
        assert_eq!(
            select(&rows, &Choice::Tab(Tab::Case)),
            Err(ApplyError::NothingSelected { conflicts: 1 })
        );
        assert_eq!(select(&rows, &Choice::Fields(vec![desc])), Ok(vec![desc]));
        policy.allowed.remove(&PolicyAction::ApplyEvidenceUpdates);
        let rows = review(&p.upstream, &p.applied, &p.local, &policy);
        assert!(!rows[1].allowed);
        assert!(
            rows[1]
                .reason
                .as_deref()
                .unwrap()
                .contains("apply_evidence_updates")
        );
        assert_eq!(
            select(&rows, &Choice::Tab(Tab::Evidence)),
            Err(ApplyError::NotPermitted {
                action: PolicyAction::ApplyEvidenceUpdates
            })
        );
        assert!(check_value(name, "a/b").is_err());
        assert!(check_value(desc, "line\nbreak ok").is_ok());
    }

    #[test]
    fn version_1_documents_still_load_and_edit() {
        // A `/1` document: every value a plain string.
        let mut old = automerge::AutoCommit::new();
        use automerge::transaction::Transactable;
        old.put(automerge::ROOT, "schema", doc::SCHEMA_V1).unwrap();
        let case = old
            .put_object(automerge::ROOT, "case", automerge::ObjType::Map)
            .unwrap();
        old.put(&case, "title", "Old").unwrap();
        old.put_object(automerge::ROOT, "evidence", automerge::ObjType::Map)
            .unwrap();
        let mut d = CaseDoc::load(&old.save()).unwrap();
        assert_eq!(d.meta().title, "Old");
        d.set(FieldRef::case(Field::Title), "New").unwrap();
        assert_eq!(d.meta().title, "New");
    }
}
