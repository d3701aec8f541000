//! Payloads of the control messages the sharing engine exchanges, inside the net crate's opaque
//! envelope (`kind` + bytes). Every payload is JSON, at most [`MAX_PAYLOAD`] bytes, and carries
//! the share id it belongs to; grants and revocations travel in their signed wire form (hex).
//!
//! | kind | from → to | payload |
//! |---|---|---|
//! | `grant.offer/1` | sharer → partner | [`Offer`] |
//! | `evidence.added/1` | sharer → partner | [`ManifestUpdate`] (the whole current manifest) |
//! | `grant.revoke/1` | sharer → partner | [`RevocationNotice`] |
//! | `share.receipt/1` | partner → sharer | [`Receipt`] |
//! | `case.update/1` | sharer → partner | [`MetaChanges`] (Automerge changes of case metadata) |
//!
//! The kind strings come from the one registry, `casemesh_net::MessageKind`.

use casemesh_model::case::Folder;
use casemesh_model::ids::{BlobHash, CaseId, EvidenceId, FolderId, ShareId};
use casemesh_model::time::Timestamp;
use casemesh_net::MessageKind;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Largest payload accepted (the control protocol caps the whole envelope too).
pub const MAX_PAYLOAD: usize = 3 * 1024 * 1024;

/// Kind of [`Offer`].
pub const KIND_OFFER: MessageKind = MessageKind::GrantOffer;
/// Kind of [`ManifestUpdate`].
pub const KIND_UPDATE: MessageKind = MessageKind::EvidenceAdded;
/// Kind of [`RevocationNotice`].
pub const KIND_REVOCATION: MessageKind = MessageKind::GrantRevocation;
/// Kind of [`MetaChanges`].
pub const KIND_META: MessageKind = MessageKind::CaseUpdate;
/// Kind of [`Receipt`].
pub const KIND_RECEIPT: MessageKind = MessageKind::ShareReceipt;

/// A transcript in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestTranscript {
    /// File name.
    pub name: String,
    /// BLAKE3.
    pub hash: BlobHash,
    /// Bytes.
    pub size: u64,
}

/// An evidence item in a manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestEvidence {
    /// The sharer's evidence id.
    pub id: EvidenceId,
    /// Display id.
    pub display_id: String,
    /// Name.
    pub name: String,
    /// Description.
    pub description: String,
    /// The sharer's folder (`None` = root).
    pub folder: Option<FolderId>,
    /// BLAKE3 of the bytes.
    pub hash: BlobHash,
    /// Bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
    /// Transcripts.
    pub transcripts: Vec<ManifestTranscript>,
}

/// What a share holds: case fields, the sharer's folder tree, the evidence in scope.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Manifest {
    /// The share.
    pub share: ShareId,
    /// The case at the sharer.
    pub source_case: CaseId,
    /// Case ID.
    pub case_number: String,
    /// Title.
    pub title: String,
    /// Description.
    pub description: String,
    /// The sharer's whole folder tree (ids, names, parents).
    pub folders: Vec<Folder>,
    /// Evidence in scope that was sent.
    pub evidence: Vec<ManifestEvidence>,
    /// When this manifest was made.
    pub made_at: Timestamp,
}

/// `grant-offer`: a new share.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Offer {
    /// The signed grant, wire form, hex.
    pub grant: String,
    /// What it holds.
    pub manifest: Manifest,
    /// The sharer's organization name.
    pub sharer_name: String,
    /// The share's metadata document (Automerge, saved, hex): the base later `case.update/1`
    /// changes apply to.
    #[serde(default)]
    pub meta_doc: Option<String>,
}

/// `case.update/1`: Automerge changes to the share's metadata document (case fields, evidence
/// name / display id / description), for the receiver to review and apply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetaChanges {
    /// The share.
    pub share: ShareId,
    /// Encoded changes since the last ones sent (hex).
    pub changes: String,
}

/// `evidence-added`: the share's current manifest after new evidence (or new recipients).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestUpdate {
    /// The current signed grant (a new version when recipients were added), hex.
    pub grant: String,
    /// The whole current manifest.
    pub manifest: Manifest,
}

/// `grant-revocation`: stop sharing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevocationNotice {
    /// The signed revocation, wire form, hex.
    pub revocation: String,
}

/// `share-receipt`: what the partner holds of a share now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Receipt {
    /// The share.
    pub share: ShareId,
    /// Sharer evidence ids the partner holds (verified, stored).
    pub have: Vec<EvidenceId>,
    /// Whether the partner imported a copy (false while waiting for a manual import).
    pub imported: bool,
    /// Sharer evidence ids the partner gave up on, with the reason (the sharer deleted the item
    /// or no longer serves it). Added in 0.1 without a version bump: absent = none.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<(EvidenceId, String)>,
}

/// Why a payload was refused.
#[derive(Debug, thiserror::Error)]
#[error("malformed {kind} payload: {reason}")]
pub struct PayloadError {
    /// The message kind.
    pub kind: String,
    /// What was wrong.
    pub reason: String,
}

/// Decode a payload, refusing oversize or malformed input.
pub fn decode<T: DeserializeOwned>(kind: &str, bytes: &[u8]) -> Result<T, PayloadError> {
    if bytes.len() > MAX_PAYLOAD {
        return Err(PayloadError {
            kind: kind.into(),
            reason: format!("{} bytes is over the {MAX_PAYLOAD} limit", bytes.len()),
        });
    }
    serde_json::from_slice(bytes).map_err(|e| PayloadError {
        kind: kind.into(),
        reason: e.to_string(),
    })
}

/// Encode a payload.
pub fn encode<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}
