//! `scripts/bench-updates`: what one metadata edit costs on the wire and to apply, for a case of
//! N evidence items (default 10,000), through the same calls the sharing engine makes.
//!
//! Sharer side per edit (as `Engine::metadata_changed`): set one field, take the changes since
//! the heads last sent minus the partner's own (`changes_since_excluding`) — those bytes, hex in a
//! `case.update/2` JSON payload, are what goes on the wire. Receiver side per edit (as
//! `Engine::on_meta_changes` + the review), two ways: as the engine does now (issue #14 gap 3:
//! the document stays loaded, the changes are applied and only `save_after` of them is stored,
//! an increment), measured on every edit; and as it did before (load the whole saved document,
//! apply, save it whole), on a sample. Then: list the review rows; apply one row; and reading the
//! document back from its base plus every increment (a restart, or a cache miss). Edits cycle through evidence renames, evidence
//! descriptions and a case-description append, so text (character-wise) fields are covered.
//!
//! Usage: `cargo run --release -p casemesh-meta --example bench_updates -- [ITEMS] [EDITS]`

use casemesh_meta::{
    AppliedState, CaseDoc, CaseMeta, EvidenceMeta, Field, FieldRef, Stamp, apply, review,
};
use casemesh_model::ids::EvidenceId;
use casemesh_model::policy::SharingPolicy;
use casemesh_model::time::Timestamp;
use std::time::{Duration, Instant};

fn pct(sorted: &[Duration], p: f64) -> f64 {
    let i = ((sorted.len() as f64 - 1.0) * p).round() as usize;
    sorted[i].as_secs_f64() * 1e3
}

fn main() {
    let mut args = std::env::args().skip(1);
    let items: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(10_000);
    let edits: usize = args.next().and_then(|a| a.parse().ok()).unwrap_or(300);
    let ids: Vec<EvidenceId> = (0..items).map(|_| EvidenceId::random()).collect();
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
                        name: format!("clip-{i:05}.mp4"),
                        display_id: format!("EV-{i:05}"),
                        description: format!("Body camera {i}, front door"),
                    },
                )
            })
            .collect(),
    };
    for shared in [false, true] {
        let t = Instant::now();
        let mut sharer = if shared {
            CaseDoc::new_shared(&meta)
        } else {
            CaseDoc::new(&meta)
        }
        .expect("new document");
        sharer.set_actor(b"sharer");
        let saved = sharer.save();
        let created = t.elapsed();
        let doc_bytes = saved.len();
        let mut upstream = CaseDoc::load(&saved).expect("load");
        let mut applied = AppliedState::at_import(&upstream);
        let mut local = upstream.meta();
        let sample = (edits / 20).max(1);
        let policy = SharingPolicy::partner_copy_default();
        let mut sent = sharer.heads();
        let mut wire = Vec::with_capacity(edits);
        let mut payload = Vec::with_capacity(edits);
        let mut receive = Vec::with_capacity(edits);
        let mut review_t = Vec::with_capacity(edits);
        let mut apply_t = Vec::with_capacity(edits);
        // The engine's path: the document kept loaded, each edit stored as an increment.
        let mut cached = CaseDoc::load(&saved).expect("load");
        let mut stored = cached.heads();
        let mut incremental = Vec::with_capacity(edits);
        let mut increments: Vec<Vec<u8>> = Vec::with_capacity(edits);
        for n in 0..edits {
            let id = ids[(n * 7919) % items];
            let stamp = Stamp {
                by: "alice (Metro PD)".into(),
                at: Timestamp(n as u64),
            };
            let r = match n % 3 {
                0 => FieldRef::evidence(id, Field::Name),
                1 => FieldRef::evidence(id, Field::Description),
                _ => FieldRef::case(Field::Description),
            };
            let value = match n % 3 {
                0 => format!("renamed-{n}.mp4"),
                1 => format!("Body camera, rear door ({n})"),
                _ => format!("{}; note {n}", sharer.get(r).unwrap_or_default()),
            };
            sharer.set_stamped(r, &value, &stamp).expect("edit");
            let changes = sharer.changes_since_excluding(&sent, b"partner");
            sent = sharer.heads();
            wire.push(changes.len());
            // `{"share":"<uuid>","changes":{"inline":"<hex>"}}`
            payload.push(2 * changes.len() + 70);

            let t = Instant::now();
            let (_, waiting) = cached
                .apply_changes_waiting(&changes)
                .expect("apply changes");
            assert!(waiting.is_empty());
            let inc = cached.save_after(&stored);
            stored = cached.heads();
            incremental.push(t.elapsed());
            increments.push(inc);

            // Wire bytes for every edit; the old whole-document path on a sample of them (each
            // pass reads the whole 10,000-item document, so every edit would take minutes).
            if n % sample != 0 {
                upstream.apply_changes(&changes).expect("apply changes");
                continue;
            }
            let saved_up = upstream.save();
            let t = Instant::now();
            let mut up = CaseDoc::load(&saved_up).expect("load upstream");
            up.apply_changes(&changes).expect("apply changes");
            let _stored = up.save();
            receive.push(t.elapsed());
            upstream = up.clone();

            let t = Instant::now();
            let rows = review(&up, &applied, &local, &policy);
            review_t.push(t.elapsed());
            let t = Instant::now();
            let chosen = [rows.last().expect("one row").update.field_ref()];
            apply(&up, &chosen, &policy, &mut applied, &mut local).expect("apply");
            apply_t.push(t.elapsed());
        }
        let t = Instant::now();
        let mut reloaded = CaseDoc::load(&saved).expect("load base");
        for inc in &increments {
            reloaded.load_incremental(inc).expect("load increment");
        }
        let reload = t.elapsed();
        assert_eq!(reloaded.heads(), cached.heads());
        let t = Instant::now();
        let whole = cached.save();
        let save_whole = t.elapsed();
        let inc_total: usize = increments.iter().map(Vec::len).sum();
        let inc_max = increments.iter().map(Vec::len).max().unwrap_or(0);
        for v in [&mut receive, &mut review_t, &mut apply_t, &mut incremental] {
            v.sort();
        }
        let total: usize = wire.iter().sum();
        let max = wire.iter().max().copied().unwrap_or(0);
        println!(
            "{} document, {items} items: created in {:.0} ms, saved {doc_bytes} bytes",
            if shared {
                "shared (text evidence fields, access mode + edit_metadata)"
            } else {
                "copy-mode (register evidence fields)"
            },
            created.as_secs_f64() * 1e3
        );
        println!(
            "  {edits} edits: changes on the wire {:.1} bytes/edit mean, {max} max \
             ({total} total; payload with hex + JSON {:.1} bytes/edit); whole document {:.1}x one edit",
            total as f64 / edits as f64,
            payload.iter().sum::<usize>() as f64 / edits as f64,
            doc_bytes as f64 / (total as f64 / edits as f64)
        );
        println!(
            "  receiver now, all {edits} edits: receive (loaded document: apply changes + save_after) \
             median {:.2} ms p99 {:.2} ms; stored increment {:.1} bytes/edit mean, {inc_max} max",
            pct(&incremental, 0.5),
            pct(&incremental, 0.99),
            inc_total as f64 / edits as f64,
        );
        println!(
            "  read back (base {doc_bytes} bytes + {edits} increments {inc_total} bytes): {:.0} ms; \
             one whole save ({} bytes, as when increments are folded into a new base): {:.0} ms",
            reload.as_secs_f64() * 1e3,
            whole.len(),
            save_whole.as_secs_f64() * 1e3,
        );
        println!(
            "  receiver before, {} sampled edits: receive (load + apply changes + save) median {:.1} ms p99 {:.1} ms; \
             review median {:.1} ms; apply one median {:.2} ms p99 {:.2} ms",
            receive.len(),
            pct(&receive, 0.5),
            pct(&receive, 0.99),
            pct(&review_t, 0.5),
            pct(&apply_t, 0.5),
            pct(&apply_t, 0.99),
        );
    }
}
