//! What the sharing engine keeps in the store (typed tables, JSON): partners, policies,
//! outgoing shares at the sharer, incoming shares at the receiver, outbox and mail queue items.
//!
//! Tables ([`casemesh_store::Table`]; the names are the store's record kinds of layout 2, so the
//! data is where it was): [`PARTNERS`], [`POLICIES`], [`SHARES`] (indexed by case), [`RECEIVED`]
//! (indexed by local copy), [`SHARE_DOCS`], [`INBOX`], [`MAIL_FAILED`] (notifications the mail
//! server refused or that were given up on, by time). Queues: `outbox.<peer id>` (control
//! messages waiting for a partner) and `mail` (notifications waiting for the SMTP server, with
//! their retry state).
//!
//! A share's items are never fields of its record: they are rows of their own, keyed
//! `<share>/<evidence>` ([`SHARE_ITEMS`] at the sharer; [`RECEIVED_ITEMS`] and [`RECEIVED_TODO`] at
//! the receiver), so adding, fetching or recording one item touches O(1) rows whatever the size
//! of the share, and listings page through them. The receiver's metadata document and applied
//! state live apart too ([`RECEIVED_DOCS`], [`RECEIVED_APPLIED`]).

use crate::wire::{ItemList, ManifestEvidence, ManifestHead};
use casemesh_model::folder_sync::ImportMap;
use casemesh_model::grant::{Recipient, Scope, ShareMode};
use casemesh_model::ids::{BlobHash, CaseId, EvidenceId, OrgId, ShareId, UserId};
use casemesh_model::policy::SharingPolicy;
use casemesh_model::time::Timestamp;
use casemesh_store::{Index, Table};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Partners, by org id (PeerId text).
pub const PARTNERS: Table<OrgId, Partner> = Table::new("partner");
/// Sharing policies, by name.
pub const POLICIES: Table<str, SharingPolicy> = Table::new("policy");
/// Outgoing shares' case, for [`SHARES`] by case.
pub const SHARES_BY_CASE: Index<OutgoingShare> =
    Index::new("share.case", |s| Some(s.case.to_string()));
/// Outgoing shares (sharer side), by share id; indexed by case.
pub const SHARES: Table<ShareId, OutgoingShare> =
    Table::new("share").with_indexes(&[SHARES_BY_CASE]);
/// Incoming shares' local copy, for [`RECEIVED`] by the copy's case id.
pub const RECEIVED_BY_LOCAL_CASE: Index<IncomingShare> = Index::new("received.local_case", |s| {
    s.local_case.map(|c| c.to_string())
});
/// Incoming shares (receiver side), by share id; indexed by the local copy's case.
pub const RECEIVED: Table<ShareId, IncomingShare> =
    Table::new("received").with_indexes(&[RECEIVED_BY_LOCAL_CASE]);
/// The items sent under each outgoing share, by (share, the sharer's evidence id): what the
/// share's grant lets the partner fetch, beyond its scope.
pub const SHARE_ITEMS: Table<(ShareId, EvidenceId), SentItem> = Table::new("share.item");
/// The items of each received share, by (share, the sharer's evidence id).
pub const RECEIVED_ITEMS: Table<(ShareId, EvidenceId), ReceivedItem> = Table::new("received.item");
/// The received items not yet in the copy nor skipped, by (share, the sharer's evidence id):
/// what an import pass still has to fetch, found without reading the rest.
pub const RECEIVED_TODO: Table<(ShareId, EvidenceId), u8> = Table::new("received.todo");
/// The sharer's metadata document of each received share (Automerge, saved, hex), with every
/// change received.
pub const RECEIVED_DOCS: Table<ShareId, String> = Table::new("received.doc");
/// Which upstream values this organization has taken in, per received share (case fields, and
/// evidence fields applied since import; an item's import values are in [`RECEIVED_ITEMS`]).
pub const RECEIVED_APPLIED: Table<ShareId, casemesh_meta::AppliedState> =
    Table::new("received.applied");
/// The sharer's per-share metadata documents, by share id.
pub const SHARE_DOCS: Table<ShareId, ShareDoc> = Table::new("sharedoc");
/// Applied message ids, for idempotent receiving.
pub const INBOX: Table<InboxKey, u8> = Table::new("inbox");

/// The key of an [`INBOX`] record: a partner's control message, by its sender and the message id
/// the sender chose (`<peer>.<msg id hex>` in the store, the layout of before the typed tables).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct InboxKey {
    /// The sending partner.
    pub peer: OrgId,
    /// The message id of its control request (16 bytes).
    pub msg_id: [u8; 16],
}

impl casemesh_store::TableKey for InboxKey {
    fn to_key(&self) -> String {
        format!("{}.{}", self.peer, hex::encode(self.msg_id))
    }
}
/// Queue of notification emails.
pub const MAIL_QUEUE: &str = "mail";
/// Notifications that were not delivered and were dropped from the mail queue, by
/// `<failed_at ms, 20 digits>.<queue seq>.<why>` (so they list oldest first).
pub const MAIL_FAILED: Table<str, MailFailure> = Table::new("mail_failed");

/// The outbox queue of one partner.
pub fn outbox_queue(peer: &OrgId) -> String {
    format!("outbox.{peer}")
}

/// A registered partner organization.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Partner {
    /// Its org id (PeerId text).
    pub peer_id: OrgId,
    /// Display name, unique here.
    pub name: String,
    /// Multiaddrs to reach it.
    pub addrs: Vec<String>,
    /// The sharing policy assigned to it (by name); shares to it carry this policy.
    pub policy: String,
    /// When it was registered.
    pub added_at: Timestamp,
}

/// Where an outgoing share stands.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ShareStatus {
    /// The partner does not have the manifest and every blob yet.
    Processing,
    /// The partner has everything sent so far.
    Complete,
    /// Stopped (revoked): nothing more is sent or served.
    Stopped,
    /// A message of this share could never be delivered (too large, or refused for good by the
    /// partner); see [`OutgoingShare::failure`] and the partner's dead letters.
    Failed,
    /// Created under a policy with two-person approval: nothing has left yet; the offer waits
    /// in [`HELD_OFFERS`] until a second user with `share_approve` approves it (issue #13).
    PendingApproval,
}

impl ShareStatus {
    /// The status's stable text form, as the API and the CLI show it (`Processing`,
    /// `Complete`, `Stopped`, `Failed`, `PendingApproval`: the variant names, as serde writes
    /// them in the record).
    pub fn as_str(self) -> &'static str {
        match self {
            ShareStatus::Processing => "Processing",
            ShareStatus::Complete => "Complete",
            ShareStatus::Stopped => "Stopped",
            ShareStatus::Failed => "Failed",
            ShareStatus::PendingApproval => "PendingApproval",
        }
    }

    /// Whether messages of the share go to the partner now (not ended, not waiting for
    /// approval).
    pub fn sends(self) -> bool {
        matches!(self, ShareStatus::Processing | ShareStatus::Complete)
    }
}

/// The offer of each share waiting for approval, as it will be queued on approval.
pub const HELD_OFFERS: Table<ShareId, OutboxMessage> = Table::new("share.held_offer");

/// A recipient and when it was added to the share.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecipientEntry {
    /// As the sharer typed it.
    pub recipient: Recipient,
    /// When it was added.
    pub added_at: Timestamp,
}

/// A share this node issued (sharer side).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutgoingShare {
    /// Share id = grant id.
    pub id: ShareId,
    /// The shared case.
    pub case: CaseId,
    /// The partner (audience) org id.
    pub partner: OrgId,
    /// The partner's display name.
    pub partner_name: String,
    /// Recipients, with when they were added.
    pub recipients: Vec<RecipientEntry>,
    /// What part of the case.
    pub scope: Scope,
    /// Copy or access.
    pub mode: ShareMode,
    /// The policy the grant carries.
    pub policy: SharingPolicy,
    /// Optional message.
    pub message: Option<String>,
    /// Who shared it (username).
    pub created_by: String,
    /// When.
    pub created_at: Timestamp,
    /// The current signed grant, wire form, hex.
    pub grant: String,
    /// Status.
    pub status: ShareStatus,
    /// Sequence number of the last item list sent (the offer's is 0); see `wire`.
    #[serde(default)]
    pub seq: u64,
    /// Items sent to the partner so far (each is in [`SHARE_ITEMS`]).
    #[serde(default)]
    pub items_sent: u64,
    /// Items the partner reported it holds (its last receipt).
    #[serde(default)]
    pub items_delivered: u64,
    /// The last sequence number the partner holds everything of (its last receipt).
    #[serde(default)]
    pub delivered_seq: Option<u64>,
    /// Item-list blobs sent and not yet confirmed by the partner, by sequence number (each
    /// held in the blob store as `share/<id>/list/<seq>` until then).
    #[serde(default)]
    pub lists: BTreeMap<u64, BlobHash>,
    /// Metadata documents or changes sent as blobs (held as `share/<id>/doc/<hash>` until the
    /// share is stopped).
    #[serde(default)]
    pub docs: Vec<BlobHash>,
    /// When the partner confirmed the manifest and every blob (last time it became complete).
    pub completed_at: Option<Timestamp>,
    /// When it was stopped.
    pub stopped_at: Option<Timestamp>,
    /// The signed revocation, wire form, hex.
    pub revocation: Option<String>,
    /// The user ids of the case's local owner, for the access list.
    pub owner: Option<UserId>,
    /// Why the share failed (with [`ShareStatus::Failed`]).
    #[serde(default)]
    pub failure: Option<String>,
    /// Items the partner reported it could not fetch, with the reason (the first
    /// [`MAX_SKIPPED_KEPT`]; `skipped_total` counts them all).
    #[serde(default)]
    pub skipped: BTreeMap<EvidenceId, String>,
    /// How many items the partner reported it could not fetch.
    #[serde(default)]
    pub skipped_total: u64,
    /// The partner's latest signed holding receipt (issue #13).
    #[serde(default)]
    pub receipt: Option<ReceiptRecord>,
    /// The partner's signed acknowledgement of the stop.
    #[serde(default)]
    pub stop_ack: Option<StopAckRecord>,
    /// Set when this is an onward share of a case received from a partner (issue #13): the
    /// received share it continues. `case` is then the local copy, and the grant is a child of
    /// the received grant.
    #[serde(default)]
    pub onward: Option<OnwardOf>,
    /// The onward hops partners reported of this share (origin side, issue #13), oldest first.
    #[serde(default)]
    pub hops: Vec<OnwardHop>,
    /// Recipients the partner's directory does not know, as its latest receipt reported them
    /// (issue #15 item 1): recipients added after the offer, which the partner takes in without
    /// giving them anything. Only recipients this share names; empty when all are known (or
    /// the partner's node is too old to say).
    #[serde(default)]
    pub refused_recipients: Vec<RefusedRecipient>,
}

/// A recipient of a share the partner reported it does not know.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RefusedRecipient {
    /// The recipient, as this share names it.
    pub recipient: Recipient,
    /// The partner's reason (e.g. `no such user`), shortened to [`MAX_REFUSAL_REASON`] bytes.
    pub reason: String,
    /// When the partner first reported it (UTC).
    pub since: Timestamp,
}

/// Longest refusal reason kept from a partner (bytes): it is the partner's text, shown here.
pub const MAX_REFUSAL_REASON: usize = 200;

/// What an onward share continues.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub struct OnwardOf {
    /// The received share whose grant is the parent of this share's grant.
    pub parent: ShareId,
    /// The origin's case id (the source case of the whole grant chain).
    pub source_case: CaseId,
}

/// An onward share a partner reported of a share this node issued (or of one below it): who
/// shared, with whom, when, what. `grant` is the child grant, signed by its issuer, whose chain
/// leads to this node's grant: the proof of the hop.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OnwardHop {
    /// The onward share (= child grant id).
    pub share: ShareId,
    /// The organization that shared onward (the child grant's issuer).
    pub from: OrgId,
    /// Its name here (the partner that reported it, for a direct hop).
    pub from_name: String,
    /// The organization it was shared with (the child grant's audience).
    pub to: OrgId,
    /// That organization's name as the sharing partner knows it (a label, not verified here).
    pub to_name: String,
    /// Recipients named in the child grant.
    pub recipients: Vec<Recipient>,
    /// The child grant's scope.
    pub scope: Scope,
    /// When the child grant was issued (UTC).
    pub at: Timestamp,
    /// The child grant, wire form, hex.
    pub grant: String,
}

/// Most onward hops one share record keeps (later ones are still audited).
pub const MAX_HOPS_KEPT: usize = 1_000;

/// A signed holding receipt as the sharer keeps it: the partner's statement "we hold these
/// items, these exact bytes", checked on arrival (signature, signer = the share's partner, this
/// share; see `custody::check_receipt`).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReceiptRecord {
    /// `Signed<HoldingReceipt>` wire form, hex: what a court can verify against the partner's
    /// key, offline.
    pub signed: String,
    /// Whether the signed roots digest equals the digest of the items this node sent up to the
    /// receipt's sequence number, less the items the partner reported skipped. When it does,
    /// the roots this node sent are exactly the roots the partner signed for.
    pub matches_sent: bool,
    /// When it arrived (UTC).
    pub received_at: Timestamp,
}

/// A signed stop acknowledgement as the sharer keeps it (checked on arrival: signed by the
/// partner, naming this share's revocation).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct StopAckRecord {
    /// `Signed<StopAck>` wire form, hex.
    pub signed: String,
    /// When it arrived (UTC).
    pub received_at: Timestamp,
}

/// Most skipped items a share record lists by name (the count is exact beyond it).
pub const MAX_SKIPPED_KEPT: usize = 10_000;

/// An item sent under an outgoing share.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct SentItem {
    /// When it was sent.
    pub sent_at: Timestamp,
    /// In the item list of this sequence number.
    pub seq: u64,
    /// The item's BLAKE3 root as sent (what a signed receipt must name); `None` in rows
    /// written before receipts were signed.
    #[serde(default)]
    pub root: Option<BlobHash>,
    /// How many of the item's transcripts went with it (0 when the policy withholds them);
    /// `None` in rows written before this was recorded (taken as all). An item that gained
    /// transcripts since is sent again (issue #15 item 9).
    #[serde(default)]
    pub transcripts: Option<u32>,
}

/// An item of a received share.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ReceivedItem {
    /// The item as the sharer listed it (its import values).
    pub entry: ManifestEvidence,
    /// In the item list of this sequence number.
    pub seq: u64,
    /// The evidence item in the copy, once copied.
    pub local: Option<EvidenceId>,
    /// Why it was not copied: the sharer refused it for good.
    pub skipped: Option<SkippedItem>,
}

/// Where an incoming share stands at the receiver.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
pub enum ReceivedStatus {
    /// Received; waiting for someone to import it (auto-import off).
    Pending,
    /// The copy is being created / evidence is arriving.
    Importing,
    /// The copy exists and holds everything received so far.
    Imported,
    /// The sharer stopped sharing; the copy (if any) stays.
    Stopped,
}

impl ReceivedStatus {
    /// The status's stable text form (`Pending`, `Importing`, `Imported`, `Stopped`: the
    /// variant names, as serde writes them in the record).
    pub fn as_str(self) -> &'static str {
        match self {
            ReceivedStatus::Pending => "Pending",
            ReceivedStatus::Importing => "Importing",
            ReceivedStatus::Imported => "Imported",
            ReceivedStatus::Stopped => "Stopped",
        }
    }
}

impl std::fmt::Display for ShareStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

impl std::fmt::Display for ReceivedStatus {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// A share received from a partner (receiver side).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct IncomingShare {
    /// Share id = grant id.
    pub id: ShareId,
    /// The sharing org id.
    pub sharer: OrgId,
    /// Its display name here.
    pub sharer_name: String,
    /// The grant, wire form, hex; checked again on every use.
    pub grant: String,
    /// The case fields and folder tree, as of the latest message from the sharer.
    pub head: ManifestHead,
    /// Sequence number of the latest item list received.
    pub seq: u64,
    /// Item lists received as blobs and not yet read into [`RECEIVED_ITEMS`], by sequence
    /// number (an import pass fetches and reads them first).
    #[serde(default)]
    pub lists: BTreeMap<u64, ItemList>,
    /// Every item of the lists up to this sequence number is in the copy or skipped.
    pub done_seq: Option<u64>,
    /// Items in the copy.
    pub items_imported: u64,
    /// Items skipped (see [`ReceivedItem::skipped`]).
    pub items_skipped: u64,
    /// Recipients as the sharer named them.
    pub recipients: Vec<Recipient>,
    /// The local users those resolved to.
    pub resolved_users: Vec<String>,
    /// Recipients the sharer added after the offer, each with the sequence number of the update
    /// that first named it: they see only the items of that update and later ones (seed 000,
    /// "Recipients of shared cases will not receive updates from previous shares"; issue #12
    /// item 5). Recipients of the offer are not listed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub recipients_since: Vec<(Recipient, u64)>,
    /// When it first arrived.
    pub received_at: Timestamp,
    /// The local copy, once imported.
    pub local_case: Option<CaseId>,
    /// Sharer folder id → copy folder id, recorded at first import.
    pub import_map: ImportMap,
    /// Status.
    pub status: ReceivedStatus,
    /// Last import/sync error, if any.
    pub last_error: Option<String>,
    /// Copy or access, as the grant says. An access-mode share stays `Pending` (nothing is
    /// imported by itself): users list its items and fetch them on demand from the sharer
    /// (`received view` / `received get`) until the sharer stops it, or someone imports it when
    /// the policy allows `import`. Records written before access mode read as copy.
    #[serde(default = "copy_mode")]
    pub mode: ShareMode,
}

impl IncomingShare {
    /// The stored grant ([`IncomingShare::grant`], hex of its wire form), decoded; `None` when
    /// it does not decode (a record damaged on disk: the engine refuses the share's use then).
    /// Not a verification: the engine checks the grant again on every use.
    pub fn signed_grant(&self) -> Option<casemesh_model::grant::SignedGrant> {
        hex::decode(&self.grant)
            .ok()
            .and_then(|b| casemesh_model::grant::SignedGrant::from_bytes(&b).ok())
    }

    /// The status as the receiver's users see it: an access-mode share waiting (`Pending`:
    /// nothing is imported by itself; it is worked with in the sharer's system) reads
    /// `Access`; any other is [`ReceivedStatus::as_str`].
    pub fn status_text(&self) -> &'static str {
        if self.mode == ShareMode::Access && self.status == ReceivedStatus::Pending {
            "Access"
        } else {
            self.status.as_str()
        }
    }
}

fn copy_mode() -> ShareMode {
    ShareMode::Copy
}

/// An item an import went around; see [`IncomingShare::skipped`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SkippedItem {
    /// The item's name in the manifest.
    pub name: String,
    /// Why (the sharer's refusal).
    pub reason: String,
    /// When it was given up on.
    pub at: Timestamp,
}

/// The sharer's metadata document of one share and the heads last sent to the partner.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct ShareDoc {
    /// Saved Automerge document, hex.
    pub doc: String,
    /// Heads the partner has (encoded, hex).
    pub sent_heads: String,
}

/// A control message waiting in a partner's outbox.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct OutboxMessage {
    /// Unique id (hex of 16 bytes); the receiver deduplicates on it.
    pub msg_id: String,
    /// Message kind (see `casemesh_net::MessageKind`).
    pub kind: String,
    /// JSON payload.
    pub payload: String,
    /// When it was queued.
    pub queued_at: Timestamp,
    /// Delivery attempts so far.
    #[serde(default)]
    pub attempts: u32,
    /// The share it belongs to, if any (marked Failed when the message is dead-lettered).
    #[serde(default)]
    pub share: Option<ShareId>,
}

/// A control message that can never be delivered, moved out of the outbox so it does not block
/// the messages behind it. Kept in the `deadletter.<peer id>` queue; shown by `casemesh peers`.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetter {
    /// The message's id.
    pub msg_id: String,
    /// Message kind.
    pub kind: String,
    /// The share it belonged to.
    pub share: Option<ShareId>,
    /// Why it cannot be delivered (the partner's refusal, or the size limit).
    pub reason: String,
    /// When it was queued.
    pub queued_at: Timestamp,
    /// When it was given up on.
    pub at: Timestamp,
}

/// The dead-letter queue of one partner.
pub fn dead_letter_queue(peer: &OrgId) -> String {
    format!("deadletter.{peer}")
}

/// A notification email waiting for the SMTP server.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MailMessage {
    /// Recipient addresses.
    pub to: Vec<String>,
    /// Subject.
    pub subject: String,
    /// Plain-text body.
    pub body: String,
}

/// A `mail` queue item as the mail loop sees it: the message and its delivery state. `notify`
/// queues a bare [`MailMessage`]; it (and any item queued before retries existed) loads with no
/// attempts and no `next_attempt_at`, that is: due now.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct QueuedMail {
    /// What to send.
    #[serde(flatten)]
    pub message: MailMessage,
    /// Temporary failures so far; the next pause grows with it.
    #[serde(default)]
    pub attempts: u32,
    /// When the first temporary failure happened; retrying stops a bounded time after it.
    #[serde(default)]
    pub first_failed_at: Option<Timestamp>,
    /// Not to be tried before this (UTC ms); `None` = due now.
    #[serde(default)]
    pub next_attempt_at: Option<Timestamp>,
    /// What the mail server said last time, for the operator.
    #[serde(default)]
    pub last_error: Option<String>,
}

/// A notification that was not delivered and left the mail queue (in [`MAIL_FAILED`]).
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct MailFailure {
    /// The addresses it was for.
    pub to: Vec<String>,
    /// Its subject.
    pub subject: String,
    /// Why it was dropped: the server's permanent refusal, why the address cannot be sent to, or
    /// the last temporary failure before retrying was given up.
    pub reason: String,
    /// Temporary failures before it was dropped.
    pub attempts: u32,
    /// When it was dropped.
    pub failed_at: Timestamp,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// The typed keys write the store keys of the layout before them: a partner by its PeerId
    /// text, an applied message as `<peer>.<msg id hex>`, so existing data directories keep
    /// their partners and their record of applied messages (a message is never applied twice).
    #[test]
    fn partner_and_inbox_keys_keep_the_old_layout() {
        use casemesh_store::TableKey;
        let peer = OrgId("12D3KooWA".into());
        assert_eq!(peer.to_key(), "12D3KooWA");
        let key = InboxKey {
            peer,
            msg_id: [0xab; 16],
        };
        assert_eq!(key.to_key(), format!("12D3KooWA.{}", "ab".repeat(16)));
    }

    /// A partner, an outgoing share with an onward hop and a received share, as the layout that
    /// kept org ids as `String` wrote them (`serde_json::to_vec`, as the store does).
    const OLD_PARTNER: &str = r#"{"peer_id":"12D3KooWAvXJwWbCVVmgq9mUXLBVuTNMzNW6ZW6A8LdeUxc9DPEY","name":"County Prosecutor","addrs":["/ip4/10.0.0.5/tcp/4001"],"policy":"partner-copy","added_at":1700000000000}"#;
    const OLD_SHARE: &str = r#"{"id":"0b7a3c5e-8a51-4d2b-9a51-2f1e6c4d8b10","case":"5f0c2f8e-6d3b-4c1a-8e2f-0a9b8c7d6e5f","partner":"12D3KooWAvXJwWbCVVmgq9mUXLBVuTNMzNW6ZW6A8LdeUxc9DPEY","partner_name":"Partner","recipients":[],"scope":{"kind":"entire_case"},"mode":"copy","policy":{"name":"Partner copy (default)","allowed":["view","download","import","receive_updates","apply_case_updates","apply_evidence_updates"],"data":["case_number","case_title","case_description","evidence_name","evidence_display_id","evidence_description","transcripts"]},"message":null,"created_by":"alice","created_at":0,"grant":"","status":"Processing","seq":0,"items_sent":10,"items_delivered":0,"delivered_seq":null,"lists":{"0":"044e89c6788922c0177049ebe2c9ffdb849011200c0a333658a3680d1aeb23ff"},"docs":["2f51eab70c364451857e15a448cc0af5103de3a41790dd4e42feaed317606b63"],"completed_at":null,"stopped_at":null,"revocation":null,"owner":null,"failure":null,"skipped":{},"skipped_total":0,"receipt":null,"stop_ack":null,"onward":null,"hops":[{"share":"9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a","from":"12D3KooWAvXJwWbCVVmgq9mUXLBVuTNMzNW6ZW6A8LdeUxc9DPEY","from_name":"County Prosecutor","to":"12D3KooWRKaDmmQyaz8q1Fdfj5V2FZPEa8cQAvo2jwdzQyQJDGbu","to_name":"Public Defender","recipients":[{"kind":"user","value":"dana"}],"scope":{"kind":"entire_case"},"at":1700000100000,"grant":"00ff"}],"refused_recipients":[]}"#;
    const OLD_RECEIVED: &str = r#"{"id":"0b7a3c5e-8a51-4d2b-9a51-2f1e6c4d8b10","sharer":"12D3KooWQfSqLqhdyBgXvoTkcRC8F2nbqeYnbGjcoRrNn1a3B6ya","sharer_name":"City Police","grant":"00ff","head":{"share":"0b7a3c5e-8a51-4d2b-9a51-2f1e6c4d8b10","source_case":"5f0c2f8e-6d3b-4c1a-8e2f-0a9b8c7d6e5f","case_number":"C-1","title":"Burglary","description":"","folders":[],"items":2,"made_at":1700000000000},"seq":1,"lists":{},"done_seq":1,"items_imported":2,"items_skipped":0,"recipients":[{"kind":"user","value":"bob"}],"resolved_users":["bob"],"received_at":1700000000500,"local_case":"7e6d5c4b-3a29-4817-8f6e-5d4c3b2a1908","import_map":{"map":{}},"status":"Imported","last_error":null,"mode":"copy"}"#;

    fn org(text: &str) -> OrgId {
        OrgId(text.to_owned())
    }

    /// Load `old` as `T` and write it back: the bytes must not change.
    fn reload<T: Serialize + serde::de::DeserializeOwned>(old: &str) -> T {
        let record: T = serde_json::from_str(old).unwrap();
        let again = serde_json::to_vec(&record).unwrap();
        assert_eq!(String::from_utf8(again).unwrap(), old);
        record
    }

    #[test]
    fn records_written_with_string_org_ids_load_and_write_back_byte_identical() {
        let p: Partner = reload(OLD_PARTNER);
        assert_eq!(
            p.peer_id,
            org("12D3KooWAvXJwWbCVVmgq9mUXLBVuTNMzNW6ZW6A8LdeUxc9DPEY")
        );
        let s: OutgoingShare = reload(OLD_SHARE);
        assert_eq!(s.partner, p.peer_id);
        assert_eq!(s.hops[0].from, p.peer_id);
        assert_eq!(
            s.hops[0].to,
            org("12D3KooWRKaDmmQyaz8q1Fdfj5V2FZPEa8cQAvo2jwdzQyQJDGbu")
        );
        let r: IncomingShare = reload(OLD_RECEIVED);
        assert_eq!(
            r.sharer,
            org("12D3KooWQfSqLqhdyBgXvoTkcRC8F2nbqeYnbGjcoRrNn1a3B6ya")
        );
    }

    /// Share ids cross the engine's and the service's functions as [`ShareId`] (issue #9 item
    /// 5); the records kept them as their hyphenated text all along, and still load and write
    /// back byte-identical, with the ids the text names.
    #[test]
    fn share_ids_in_old_records_load_as_the_ids_they_name_byte_identical() {
        let id: ShareId = "0b7a3c5e-8a51-4d2b-9a51-2f1e6c4d8b10".parse().unwrap();
        let s: OutgoingShare = reload(OLD_SHARE);
        assert_eq!(s.id, id);
        assert_eq!(
            s.hops[0].share,
            "9d8c7b6a-5f4e-4d3c-8b2a-1f0e9d8c7b6a"
                .parse::<ShareId>()
                .unwrap()
        );
        let r: IncomingShare = reload(OLD_RECEIVED);
        assert_eq!(r.id, id);
        assert_eq!(r.head.share, id);
        assert_eq!(
            serde_json::to_string(&id).unwrap(),
            "\"0b7a3c5e-8a51-4d2b-9a51-2f1e6c4d8b10\""
        );
        assert_eq!(id.to_string(), "0b7a3c5e-8a51-4d2b-9a51-2f1e6c4d8b10");
    }

    #[test]
    fn queue_names_keep_the_org_id_text() {
        let o = org("12D3KooWAvXJwWbCVVmgq9mUXLBVuTNMzNW6ZW6A8LdeUxc9DPEY");
        assert_eq!(
            outbox_queue(&o),
            "outbox.12D3KooWAvXJwWbCVVmgq9mUXLBVuTNMzNW6ZW6A8LdeUxc9DPEY"
        );
        assert_eq!(
            dead_letter_queue(&o),
            "deadletter.12D3KooWAvXJwWbCVVmgq9mUXLBVuTNMzNW6ZW6A8LdeUxc9DPEY"
        );
    }
}
