//! Payloads of the control messages the sharing engine exchanges, inside the net crate's opaque
//! envelope (`kind` + bytes). Every payload is JSON, at most [`MAX_PAYLOAD`] bytes, and carries
//! the share id it belongs to; grants and revocations travel in their signed wire form (hex).
//!
//! | kind | from → to | payload |
//! |---|---|---|
//! | `grant.offer/2` | sharer → partner | [`Offer`]: case fields, folder tree, the first [`ItemList`] |
//! | `evidence.added/2` | sharer → partner | [`ManifestUpdate`]: the items added since the last one |
//! | `grant.revoke/1` | sharer → partner | [`RevocationNotice`] |
//! | `share.receipt/2` | partner → sharer | [`Receipt`] |
//! | `share.onward/1` | partner → sharer | [`OnwardNotice`] (a hop of onward sharing) |
//! | `case.update/2` | sharer → partner | [`MetaChanges`] (Automerge changes of case metadata) |
//! | `access.event/1` | partner → sharer | [`AccessEvent`] (a user viewed or downloaded an access-mode share) |
//! | `case.edit/1` | partner → sharer | [`MetaChanges`] (a partner's edits of an access-mode share) |
//! | `directory.query/1` | either way | [`DirectoryQuery`]; answered at once, with the matches as the response payload |
//!
//! ## Shares of any size (version 2)
//! No payload grows with the number of items in a share. The evidence items travel as
//! [`ItemList`]s: a short list inline, a long one (over [`INLINE_MAX`] bytes encoded) as a blob
//! the partner fetches over the verified blob protocol under the share's grant, in
//! [`ITEM_LIST_FORMAT`] (one [`ManifestEvidence`] JSON per line). The offer carries the first list,
//! each `evidence.added/2` only the items added since the one before, numbered by `seq` (the
//! offer is 0; the outbox delivers a partner's messages in order, exactly once). The metadata
//! document and its changes are [`Carried`] the same way. The receipt names the last `seq` whose
//! items the partner holds, instead of listing them.
//!
//! The kind strings come from the one registry, `casemesh_net::MessageKind`.

use casemesh_model::case::Folder;
use casemesh_model::grant::Recipient;
use casemesh_model::ids::{BlobHash, CaseId, EvidenceId, FolderId, ShareId};
use casemesh_model::time::Timestamp;
use casemesh_net::MessageKind;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};

/// Largest payload accepted (the control protocol caps the whole envelope too).
pub const MAX_PAYLOAD: usize = 3 * 1024 * 1024;

/// Largest item list or document carried inline in a message (bytes, encoded); a larger one
/// travels as a blob.
pub const INLINE_MAX: usize = 256 * 1024;

/// Largest line of an item-list blob (bytes): one item's entry, far above any real one.
pub const MAX_LIST_LINE: usize = 256 * 1024;

/// The format of an item-list blob: UTF-8, one [`ManifestEvidence`] as JSON per line, each line
/// ending in `\n`, at most [`MAX_LIST_LINE`] bytes; the count is in the [`ItemList::Blob`] that
/// names it.
pub const ITEM_LIST_FORMAT: &str = "casemesh-items/1 (JSON lines of ManifestEvidence)";

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
/// Kind of [`OnwardNotice`].
pub const KIND_ONWARD: MessageKind = MessageKind::ShareOnward;
/// Kind of [`AccessEvent`].
pub const KIND_ACCESS: MessageKind = MessageKind::AccessEvent;
/// A partner's edits to an access-mode share's metadata (`case.edit/1`, payload [`MetaChanges`],
/// changes always inline), partner → sharer (issue #14).
pub const KIND_EDIT: MessageKind = MessageKind::CaseEdit;
/// A question for a partner's directory (recipient type-ahead): answered at once with the
/// matches as the response payload, never queued in the outbox nor recorded as applied.
pub const KIND_DIRECTORY: MessageKind = MessageKind::DirectoryQuery;

/// Bytes held by the sharer, named by hash, fetched over the blob protocol under the grant.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct BlobRef {
    /// BLAKE3 of the bytes.
    pub hash: BlobHash,
    /// Bytes.
    pub size: u64,
}

/// Evidence items of a share: inline when short, else an item-list blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ItemList {
    /// The items themselves.
    Inline(Vec<ManifestEvidence>),
    /// A blob in [`ITEM_LIST_FORMAT`] holding `count` items.
    Blob {
        /// The list's bytes.
        list: BlobRef,
        /// Items in it.
        count: u64,
    },
}

impl ItemList {
    /// How many items the list holds.
    pub fn count(&self) -> u64 {
        match self {
            ItemList::Inline(v) => v.len() as u64,
            ItemList::Blob { count, .. } => *count,
        }
    }
}

/// Bytes carried by a message: inline (hex) when short, else a blob.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Carried {
    /// The bytes, hex.
    Inline(String),
    /// A blob holding the bytes.
    Blob(BlobRef),
}

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

/// What a share is about: the case fields and the sharer's folder tree (bounded by the folder
/// limits), with the share's size so far. The items travel apart, as [`ItemList`]s.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct ManifestHead {
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
    /// Items sent under the share so far, this message's included.
    pub items: u64,
    /// When this head was made.
    pub made_at: Timestamp,
}

/// `grant.offer/2`: a new share.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Offer {
    /// The signed grant, wire form, hex.
    pub grant: String,
    /// The case fields and folder tree.
    pub head: ManifestHead,
    /// The items in scope (sequence number 0).
    pub items: ItemList,
    /// The sharer's organization name.
    pub sharer_name: String,
    /// The share's metadata document (Automerge, saved): the base later `case.update/2`
    /// changes apply to.
    #[serde(default)]
    pub meta_doc: Option<Carried>,
}

/// `case.update/2`: Automerge changes to the share's metadata document (case fields, evidence
/// name / display id / description), for the receiver to review and apply.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MetaChanges {
    /// The share.
    pub share: ShareId,
    /// Encoded changes since the last ones sent.
    pub changes: Carried,
}

/// `evidence.added/2`: items added to the share since the previous message (none when only the
/// grant changed, e.g. recipients were added), with the case fields as they are now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ManifestUpdate {
    /// The current signed grant (a new version when recipients were added), hex.
    pub grant: String,
    /// The case fields and folder tree now.
    pub head: ManifestHead,
    /// 1 for the first update after the offer, then +1 each.
    pub seq: u64,
    /// The items added since `seq - 1`.
    pub items: ItemList,
}

/// `grant-revocation`: stop sharing.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct RevocationNotice {
    /// The signed revocation, wire form, hex.
    pub revocation: String,
}

/// `share.receipt/2`: what the partner holds of a share now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Receipt {
    /// The share.
    pub share: ShareId,
    /// Every item of the lists up to this sequence number is held (verified, stored) or was
    /// skipped; `None` while the partner has not finished the offer's list.
    pub seq: Option<u64>,
    /// How many of the share's items the partner holds.
    pub have: u64,
    /// Whether the partner imported a copy (false while waiting for a manual import).
    pub imported: bool,
    /// How many of the share's items the partner gave up on, in all.
    #[serde(default)]
    pub skipped_total: u64,
    /// Items the partner gave up on since its previous receipt, with the reason (the sharer
    /// deleted the item or no longer serves it); at most [`MAX_SKIPPED_PER_RECEIPT`].
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub skipped: Vec<(EvidenceId, String)>,
    /// The partner's signed holding receipt for `seq` (`Signed<HoldingReceipt>` wire form,
    /// hex), sent when an import pass completes and after a stop. Older nodes omit it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub signed: Option<String>,
    /// The partner's signed stop acknowledgement (`Signed<StopAck>` wire form, hex), with the
    /// receipt that answers a stop.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub stop_ack: Option<String>,
    /// Recipients of the share's current grant that the partner's directory does not know, each
    /// with the reason (issue #15 item 1): for recipients added after the offer, which the
    /// partner cannot refuse without stopping the case's synchronization. The whole list as of
    /// this receipt (empty: every recipient is known), at most [`MAX_REFUSED_PER_RECEIPT`].
    /// `None` from older nodes, which do not check: the sharer keeps what it knew.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub refused_recipients: Option<Vec<(Recipient, String)>>,
}

/// Most refused recipients one receipt names.
pub const MAX_REFUSED_PER_RECEIPT: usize = 100;

/// `share.onward/1`: a partner shared onward a case this node shared with it (or one shared
/// onward to it): the child grant, which names its whole chain.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OnwardNotice {
    /// The share of this node the hop descends from (the root of the chain).
    pub share: ShareId,
    /// The child grant, wire form, hex.
    pub grant: String,
    /// The audience's name as the reporting partner knows it.
    pub to_name: String,
}

/// What a partner's user did with a share in access mode.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum AccessAction {
    /// Listed the shared folders and items (`received view`).
    View,
    /// Downloaded one item's bytes (`received get`).
    Download,
}

/// `access.event/1`: a user of the partner organization viewed or downloaded a share made in
/// access mode, through the partner's node. Queued in the partner's outbox before the fetch it
/// reports, so the sharer's audit trail names the partner's user, not only its organization.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct AccessEvent {
    /// The share (issued by the receiving sharer).
    pub share: ShareId,
    /// The partner's user (its username at the partner; at most [`MAX_ACCESS_USER`] bytes).
    pub user: String,
    /// The sharer's evidence id, for a download.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub evidence: Option<EvidenceId>,
    /// What the user did.
    pub action: AccessAction,
    /// When, at the partner (ms UTC; the sharer's audit entry has its own time).
    pub at: Timestamp,
}

/// Longest user name an [`AccessEvent`] may carry (bytes).
pub const MAX_ACCESS_USER: usize = 200;

/// Most skipped items one receipt reports (the rest follow in later receipts).
pub const MAX_SKIPPED_PER_RECEIPT: usize = 1_000;

/// `directory.query/1` payload: a question for a partner's directory (recipient type-ahead,
/// `crate::directory`). The answer is the response payload, a JSON array of at most
/// `crate::directory::MAX_RESULTS` `DirectoryEntry`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DirectoryQuery {
    /// What was typed; matched case-insensitively as a prefix of username, full name, email,
    /// badge id or group name (empty = the first entries). At most
    /// `crate::directory::MAX_QUERY` bytes.
    pub query: String,
}

/// Every message of the sharing protocol, typed: the one place a kind is paired with its payload
/// (issue #9 item 5). [`Message::decode`] refuses a kind this node does not know, and a payload
/// that is oversize or malformed for its kind; [`Message::encode`] gives the kind and the payload
/// bytes for the outbox. The byte form of each variant is pinned by golden tests below.
#[derive(Debug, Clone)]
pub enum Message {
    /// `grant.offer/2`, sharer → partner.
    Offer(Offer),
    /// `evidence.added/2`, sharer → partner.
    Update(ManifestUpdate),
    /// `grant.revoke/1`, sharer → partner.
    Revocation(RevocationNotice),
    /// `case.update/2`, sharer → partner.
    Meta(MetaChanges),
    /// `share.receipt/2`, partner → sharer.
    Receipt(Receipt),
    /// `share.onward/1`, partner → sharer (forwarded up the chain).
    Onward(OnwardNotice),
    /// `access.event/1`, partner → sharer.
    Access(AccessEvent),
    /// `case.edit/1`, partner → sharer.
    Edit(MetaChanges),
    /// `directory.query/1`, either way: a question answered with the matching entries.
    Directory(DirectoryQuery),
    /// `ping/1`: no payload, answered `Ok`.
    Ping,
}

impl Message {
    /// The registry kind of this message.
    pub fn kind(&self) -> MessageKind {
        match self {
            Message::Offer(_) => KIND_OFFER,
            Message::Update(_) => KIND_UPDATE,
            Message::Revocation(_) => KIND_REVOCATION,
            Message::Meta(_) => KIND_META,
            Message::Receipt(_) => KIND_RECEIPT,
            Message::Onward(_) => KIND_ONWARD,
            Message::Access(_) => KIND_ACCESS,
            Message::Edit(_) => KIND_EDIT,
            Message::Directory(_) => KIND_DIRECTORY,
            Message::Ping => MessageKind::Ping,
        }
    }

    /// The kind and the payload (JSON text; empty for [`Message::Ping`]).
    pub fn encode(&self) -> (MessageKind, String) {
        let payload = match self {
            Message::Offer(m) => encode(m),
            Message::Update(m) => encode(m),
            Message::Revocation(m) => encode(m),
            Message::Meta(m) | Message::Edit(m) => encode(m),
            Message::Receipt(m) => encode(m),
            Message::Onward(m) => encode(m),
            Message::Access(m) => encode(m),
            Message::Directory(m) => encode(m),
            Message::Ping => String::new(),
        };
        (self.kind(), payload)
    }

    /// Decode a message of `kind` (as it came in the envelope). Errors: [`PayloadError`] for an
    /// unknown or unsupported kind (the sender must not retry), an oversize payload (over
    /// [`MAX_PAYLOAD`]) or one malformed for its kind.
    pub fn decode(kind: &str, payload: &[u8]) -> Result<Message, PayloadError> {
        use MessageKind as K;
        Ok(match K::parse(kind) {
            Some(K::GrantOffer) => Message::Offer(decode(kind, payload)?),
            Some(K::EvidenceAdded) => Message::Update(decode(kind, payload)?),
            Some(K::GrantRevocation) => Message::Revocation(decode(kind, payload)?),
            Some(K::CaseUpdate) => Message::Meta(decode(kind, payload)?),
            Some(K::ShareReceipt) => Message::Receipt(decode(kind, payload)?),
            Some(K::ShareOnward) => Message::Onward(decode(kind, payload)?),
            Some(K::AccessEvent) => Message::Access(decode(kind, payload)?),
            Some(K::CaseEdit) => Message::Edit(decode(kind, payload)?),
            Some(K::DirectoryQuery) => Message::Directory(decode(kind, payload)?),
            Some(K::Ping) => Message::Ping,
            _ => {
                return Err(PayloadError {
                    kind: kind.into(),
                    reason: "unsupported message kind".into(),
                    unknown_kind: true,
                });
            }
        })
    }
}

/// Why a payload was refused.
#[derive(Debug, thiserror::Error)]
#[error("malformed {kind} payload: {reason}")]
pub struct PayloadError {
    /// The message kind.
    pub kind: String,
    /// What was wrong.
    pub reason: String,
    /// The kind is not one this node handles (a newer partner's, or a retired one): the sender
    /// is answered `UnknownKind` (docs/protocol.md), not `Rejected`.
    pub unknown_kind: bool,
}

/// Decode a payload, refusing oversize or malformed input.
pub fn decode<T: DeserializeOwned>(kind: &str, bytes: &[u8]) -> Result<T, PayloadError> {
    if bytes.len() > MAX_PAYLOAD {
        return Err(PayloadError {
            kind: kind.into(),
            reason: format!("{} bytes is over the {MAX_PAYLOAD} limit", bytes.len()),
            unknown_kind: false,
        });
    }
    serde_json::from_slice(bytes).map_err(|e| PayloadError {
        kind: kind.into(),
        reason: e.to_string(),
        unknown_kind: false,
    })
}

/// Encode a payload.
pub fn encode<T: Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_else(|_| "null".into())
}

#[cfg(test)]
mod tests {
    use super::*;

    fn share() -> ShareId {
        "0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0"
            .parse()
            .unwrap_or_else(|_| ShareId::nil())
    }

    /// Golden bytes: the payload of each kind is pinned as it travels; a change here is a
    /// protocol change (a new version id in `casemesh_net::MessageKind`, docs/protocol.md).
    #[test]
    fn payload_golden_bytes() {
        let s = share();
        let cases: Vec<(Message, &str, &str)> = vec![
            (
                Message::Revocation(RevocationNotice {
                    revocation: "ab01".into(),
                }),
                "grant.revoke/1",
                r#"{"revocation":"ab01"}"#,
            ),
            (
                Message::Meta(MetaChanges {
                    share: s,
                    changes: Carried::Inline("00ff".into()),
                }),
                "case.update/2",
                r#"{"share":"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0","changes":{"inline":"00ff"}}"#,
            ),
            (
                Message::Edit(MetaChanges {
                    share: s,
                    changes: Carried::Inline("01".into()),
                }),
                "case.edit/1",
                r#"{"share":"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0","changes":{"inline":"01"}}"#,
            ),
            (
                Message::Directory(DirectoryQuery {
                    query: "ada".into(),
                }),
                "directory.query/1",
                r#"{"query":"ada"}"#,
            ),
            (
                Message::Receipt(Receipt {
                    share: s,
                    seq: Some(3),
                    have: 7,
                    imported: true,
                    skipped_total: 0,
                    skipped: Vec::new(),
                    signed: None,
                    stop_ack: None,
                    refused_recipients: None,
                }),
                "share.receipt/2",
                r#"{"share":"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0","seq":3,"have":7,"imported":true,"skipped_total":0}"#,
            ),
            (
                Message::Onward(OnwardNotice {
                    share: s,
                    grant: "cd".into(),
                    to_name: "court".into(),
                }),
                "share.onward/1",
                r#"{"share":"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0","grant":"cd","to_name":"court"}"#,
            ),
            (
                Message::Access(AccessEvent {
                    share: s,
                    user: "dana".into(),
                    evidence: None,
                    action: AccessAction::View,
                    at: Timestamp(1_700_000_000_000),
                }),
                "access.event/1",
                r#"{"share":"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0","user":"dana","action":"view","at":1700000000000}"#,
            ),
            (Message::Ping, "ping/1", ""),
        ];
        for (message, kind, golden) in cases {
            let (k, payload) = message.encode();
            assert_eq!(k.as_str(), kind);
            assert_eq!(payload, golden, "{kind}");
            if !matches!(message, Message::Ping) {
                // … and it decodes back to the same kind and bytes.
                let back = Message::decode(kind, golden.as_bytes()).map(|m| m.encode());
                assert!(
                    back.as_ref()
                        .is_ok_and(|(k2, p2)| k2.as_str() == kind && p2 == golden),
                    "{kind}: {back:?}"
                );
            }
        }
    }

    fn head() -> ManifestHead {
        let folder: FolderId = "5a5a5a5a-5a5a-4a5a-8a5a-5a5a5a5a5a5a"
            .parse()
            .unwrap_or_else(|_| FolderId::nil());
        ManifestHead {
            share: share(),
            source_case: "1c1c1c1c-1c1c-4c1c-8c1c-1c1c1c1c1c1c"
                .parse()
                .unwrap_or_else(|_| CaseId::nil()),
            case_number: "2026-CR-0042".into(),
            title: "State v. Doe".into(),
            description: String::new(),
            folders: vec![Folder {
                id: folder,
                name: "Bodycam".into(),
                parent: None,
            }],
            items: 1,
            made_at: Timestamp(1_700_000_000_000),
        }
    }

    fn item() -> ManifestEvidence {
        ManifestEvidence {
            id: "e0e0e0e0-e0e0-40e0-80e0-e0e0e0e0e0e0"
                .parse()
                .unwrap_or_else(|_| EvidenceId::nil()),
            display_id: "EV-0001".into(),
            name: "door.jpg".into(),
            description: "front door".into(),
            folder: head().folders.first().map(|f| f.id),
            hash: BlobHash([0xab; 32]),
            size: 5,
            media_type: "image/jpeg".into(),
            transcripts: vec![ManifestTranscript {
                name: "door.txt".into(),
                hash: BlobHash([0x01; 32]),
                size: 2,
            }],
        }
    }

    const HEAD: &str = r#"{"share":"0f1e2d3c-4b5a-4978-8695-a4b3c2d1e0f0","source_case":"1c1c1c1c-1c1c-4c1c-8c1c-1c1c1c1c1c1c","case_number":"2026-CR-0042","title":"State v. Doe","description":"","folders":[{"id":"5a5a5a5a-5a5a-4a5a-8a5a-5a5a5a5a5a5a","name":"Bodycam","parent":null}],"items":1,"made_at":1700000000000}"#;

    /// Golden bytes of the two messages that carry a share's items (`grant.offer/2` with its
    /// first list inline, `evidence.added/2` with a list carried as a blob) and of one line of
    /// an item-list blob ([`ITEM_LIST_FORMAT`]): what a version-2 partner parses. A change here
    /// is a protocol change (docs/protocol.md).
    #[test]
    fn offer_update_and_item_list_golden_bytes() {
        let ab = "ab".repeat(32);
        let one = "01".repeat(32);
        let line = format!(
            r#"{{"id":"e0e0e0e0-e0e0-40e0-80e0-e0e0e0e0e0e0","display_id":"EV-0001","name":"door.jpg","description":"front door","folder":"5a5a5a5a-5a5a-4a5a-8a5a-5a5a5a5a5a5a","hash":"{ab}","size":5,"media_type":"image/jpeg","transcripts":[{{"name":"door.txt","hash":"{one}","size":2}}]}}"#
        );
        // One item-list line is the item's JSON, as the writer and reader agree.
        assert_eq!(encode(&item()), line);
        let offer = Message::Offer(Offer {
            grant: "c0ffee".into(),
            head: head(),
            items: ItemList::Inline(vec![item()]),
            sharer_name: "Metro Police".into(),
            meta_doc: Some(Carried::Blob(BlobRef {
                hash: BlobHash([0x01; 32]),
                size: 9,
            })),
        });
        let update = Message::Update(ManifestUpdate {
            grant: "c0ffee02".into(),
            head: head(),
            seq: 4,
            items: ItemList::Blob {
                list: BlobRef {
                    hash: BlobHash([0xab; 32]),
                    size: 300_000,
                },
                count: 1_000,
            },
        });
        let cases = [
            (
                offer,
                "grant.offer/2",
                format!(
                    r#"{{"grant":"c0ffee","head":{HEAD},"items":{{"inline":[{line}]}},"sharer_name":"Metro Police","meta_doc":{{"blob":{{"hash":"{one}","size":9}}}}}}"#
                ),
            ),
            (
                update,
                "evidence.added/2",
                format!(
                    r#"{{"grant":"c0ffee02","head":{HEAD},"seq":4,"items":{{"blob":{{"list":{{"hash":"{ab}","size":300000}},"count":1000}}}}}}"#
                ),
            ),
        ];
        for (message, kind, golden) in cases {
            let (k, payload) = message.encode();
            assert_eq!((k.as_str(), payload.as_str()), (kind, golden.as_str()));
            let back = Message::decode(kind, golden.as_bytes()).map(|m| m.encode().1);
            assert!(
                back.as_ref().is_ok_and(|p| *p == golden),
                "{kind}: {back:?}"
            );
        }
    }

    /// The registry and the typed messages agree (issue #9 item 5): every live kind of
    /// `casemesh_net::MessageKind` decodes to a [`Message`] of that kind; a reserved one is
    /// answered `UnknownKind`.
    #[test]
    fn every_live_kind_is_a_message_and_reserved_kinds_are_unknown() {
        for kind in MessageKind::ALL {
            let got = Message::decode(kind.as_str(), b"{}");
            if kind.is_reserved() {
                assert!(got.is_err_and(|e| e.unknown_kind), "{kind}");
            } else {
                // `{}` lacks fields most kinds need: refused as malformed, never as unknown.
                assert!(!got.is_err_and(|e| e.unknown_kind), "{kind}");
            }
        }
    }

    #[test]
    fn unknown_kinds_and_bad_payloads_are_refused() {
        let unknown = Message::decode("grant.offer/9", b"{}").unwrap_err();
        assert!(unknown.unknown_kind, "{unknown}");
        // Retired kinds are unknown too (docs/protocol.md: answered UnknownKind).
        assert!(
            Message::decode("grant.offer/1", b"{}")
                .unwrap_err()
                .unknown_kind
        );
        let malformed = Message::decode("grant.revoke/1", b"{").unwrap_err();
        assert!(!malformed.unknown_kind, "{malformed}");
        assert!(Message::decode("share.receipt/2", b"{\"share\":1}").is_err());
        let huge = vec![b' '; MAX_PAYLOAD + 1];
        assert!(Message::decode("grant.revoke/1", &huge).is_err());
    }
}
