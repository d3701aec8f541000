//! Building a share's manifest from the store: the case's fields, its folder tree, and the
//! evidence the grant's scope covers.

use crate::error::Result;
use crate::wire::{Manifest, ManifestEvidence, ManifestTranscript};
use casemesh_model::case::{Case, Evidence};
use casemesh_model::grant::Scope;
use casemesh_model::ids::ShareId;
use casemesh_model::time::Timestamp;
use casemesh_store::Store;

/// The manifest entry of one evidence item.
pub fn entry(ev: &Evidence) -> ManifestEvidence {
    ManifestEvidence {
        id: ev.id,
        display_id: ev.display_id.clone(),
        name: ev.name.clone(),
        description: ev.description.clone(),
        folder: ev.folder,
        hash: ev.hash,
        size: ev.size,
        media_type: ev.media_type.clone(),
        transcripts: ev
            .transcripts
            .iter()
            .map(|t| ManifestTranscript {
                name: t.name.clone(),
                hash: t.hash,
                size: t.size,
            })
            .collect(),
    }
}

/// Every evidence item of `case` that `scope` covers.
pub fn in_scope(store: &Store, case: &Case, scope: &Scope) -> Result<Vec<Evidence>> {
    Ok(store
        .case_evidence(case.id)?
        .into_iter()
        .filter(|e| scope.covers(e.id, e.folder, case))
        .collect())
}

/// A manifest of `case` listing exactly `evidence`.
pub fn build(share: ShareId, case: &Case, evidence: &[Evidence], now: Timestamp) -> Manifest {
    Manifest {
        share,
        source_case: case.id,
        case_number: case.case_number.clone(),
        title: case.title.clone(),
        description: case.description.clone(),
        folders: case.folders.clone(),
        evidence: evidence.iter().map(entry).collect(),
        made_at: now,
    }
}

/// The sharer's case as the receiver reconstructs it from a manifest (for the folder rules).
pub fn sharer_case(m: &Manifest) -> Case {
    let mut c = Case::new(
        &m.case_number,
        &m.title,
        &m.description,
        casemesh_model::ids::UserId::random(),
        m.made_at,
    );
    c.id = m.source_case;
    c.folders = m.folders.clone();
    c
}
