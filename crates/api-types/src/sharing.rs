//! Federation and sharing bodies: node id, partners, policies, partner shares, inside shares,
//! the access list and received shares.

use casemesh_model::ids::{BlobHash, CaseId, EvidenceId, OrgId, ShareId};
use casemesh_model::policy::SharingPolicy;
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// This node's identity on the network.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct IdView {
    /// Org id (libp2p PeerId).
    #[schema(value_type = String, pattern = "^[1-9A-HJ-NP-Za-km-z]+$")]
    pub peer_id: OrgId,
    /// Bound listen addresses (multiaddrs).
    pub addrs: Vec<String>,
}

/// A partner organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PartnerView {
    /// Display name.
    pub name: String,
    /// Org id (PeerId).
    #[schema(value_type = String, pattern = "^[1-9A-HJ-NP-Za-km-z]+$")]
    pub peer_id: OrgId,
    /// Addresses.
    pub addrs: Vec<String>,
    /// Assigned sharing policy's name.
    pub policy: String,
    /// Registered at (RFC 3339).
    pub added_at: String,
}

/// Body of `POST /v1/partners`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddPartner {
    /// Display name.
    pub name: String,
    /// PeerId.
    #[schema(value_type = String, pattern = "^[1-9A-HJ-NP-Za-km-z]+$")]
    pub peer_id: OrgId,
    /// Multiaddrs, e.g. `/ip4/10.0.0.5/tcp/4001`.
    #[serde(default)]
    pub addrs: Vec<String>,
    /// Sharing policy name (default `partner-copy`).
    pub policy: Option<String>,
}

/// Body of `PATCH /v1/partners/{partner}`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditPartner {
    /// New display name.
    pub name: Option<String>,
    /// Replace the addresses.
    pub addrs: Option<Vec<String>>,
    /// Assign another policy.
    pub policy: Option<String>,
}

/// A sharing policy: what the partner may do (`allow`) and what data may leave (`data`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PolicyView {
    /// Name.
    pub name: String,
    /// Allowed actions: view, download, import, receive_updates, apply_case_updates,
    /// apply_evidence_updates, share_onward, share_onward_external, edit_metadata.
    pub allow: Vec<String>,
    /// The same list under its earlier name.
    pub allowed: Vec<String>,
    /// Data kinds that may leave: case_number, case_title, case_description, evidence_name,
    /// evidence_display_id, evidence_description, transcripts.
    pub data: Vec<String>,
    /// Whether a partner share under this policy waits for a second person's approval.
    pub two_person_approval: bool,
}

/// Body of `POST /v1/policies`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct PutPolicy {
    /// Name.
    pub name: String,
    /// Allowed actions (names as in [`PolicyView::allow`]; the retired `apply_updates` means
    /// both `apply_*_updates`).
    #[serde(alias = "allowed")]
    pub allow: Vec<String>,
    /// Data kinds that may leave, or the groups `case_fields`, `evidence_metadata`, `all`;
    /// absent = all.
    #[serde(default)]
    pub data: Option<Vec<String>>,
    /// A partner share under this policy waits as `PendingApproval` until a second user with
    /// the `share_approve` permission approves it. Default false.
    #[serde(default)]
    pub two_person_approval: bool,
}

/// Body of `POST /v1/cases/{case}/shares`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateShare {
    /// Partner name or id.
    pub partner: String,
    /// Recipients: `user:NAME`, `group:NAME`, `email:ADDR`, `badge:ID`, or bare (email if it has `@`).
    pub to: Vec<String>,
    /// Folder paths to share (default: the entire case).
    #[serde(default)]
    pub folders: Vec<String>,
    /// Evidence ids or display ids to share.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// Optional message.
    pub message: Option<String>,
    /// `copy` (default: the partner gets its own copy) or `access` (advanced sharing: the
    /// partner's users list and fetch the case through their node; no copy is made). Access
    /// needs the Advanced Sharing feature.
    #[serde(default)]
    pub mode: Option<String>,
}

/// Body of `POST /v1/shares/{share}/recipients`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRecipients {
    /// Recipients to add.
    pub to: Vec<String>,
    /// Another partner to share with (default: the share's partner).
    pub partner: Option<String>,
}

/// A recipient of a share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RecipientView {
    /// `user:…`, `group:…`, `email:…` or `badge:…`.
    pub recipient: String,
    /// When it was added (RFC 3339).
    pub added_at: String,
}

/// A share this organization issued.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ShareView {
    /// Share id.
    #[schema(value_type = String, format = "uuid")]
    pub id: ShareId,
    /// The shared case's record id.
    #[schema(value_type = String, format = "uuid")]
    pub case: CaseId,
    /// `Processing`, `Complete`, `Stopped` or `Failed` (a message could never be delivered;
    /// see `failure`).
    pub status: String,
    /// Why the share failed, with `Failed`.
    pub failure: Option<String>,
    /// Partner org id.
    #[schema(value_type = String, pattern = "^[1-9A-HJ-NP-Za-km-z]+$")]
    pub partner: OrgId,
    /// Partner name.
    pub partner_name: String,
    /// `copy` (partner share) or `access`.
    pub mode: String,
    /// `entire_case`, `folders` or `evidence`.
    pub scope: String,
    /// Recipients.
    pub recipients: Vec<RecipientView>,
    /// Recipients the partner's directory does not know, with its reason (issue #15 item 1):
    /// added after the offer, they get nothing while the share goes on. Empty when all are
    /// known (or the partner has not checked yet).
    pub refused_recipients: Vec<RefusedRecipientView>,
    /// The policy the partner received.
    pub policy: PolicyView,
    /// Message.
    pub message: Option<String>,
    /// Who shared.
    pub created_by: String,
    /// When (RFC 3339).
    pub created_at: String,
    /// Evidence items sent.
    pub items_sent: usize,
    /// Evidence items the partner confirmed.
    pub items_delivered: usize,
    /// Whether the partner has confirmed every message of the share so far: its offer and each
    /// update (evidence added, recipients added). `false` while one is on its way, so a
    /// `Complete` share whose recipients were just extended is not yet up to date at the
    /// partner (`share create --wait` waits for it).
    #[serde(default)]
    pub in_sync: bool,
    /// When it last became Complete.
    pub completed_at: Option<String>,
    /// When it was stopped.
    pub stopped_at: Option<String>,
    /// How many items the partner could not fetch (deleted here, or no longer served).
    pub skipped: usize,
    /// Those items, with the partner's reason.
    pub skipped_items: Vec<SkippedView>,
    /// The partner's latest signed holding receipt, if it sent one (issue #13).
    pub receipt: Option<ReceiptView>,
    /// The partner's signed acknowledgement of the stop, once it arrived.
    pub stop_ack: Option<StopAckView>,
    /// For an onward share: the received share it continues.
    #[schema(value_type = Option<String>, format = "uuid")]
    pub onward_of: Option<ShareId>,
    /// Onward hops partners reported below this share (who shared with whom, when).
    pub hops: Vec<HopView>,
}

/// An onward hop below a share: proof is the child grant, signed by `from`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct HopView {
    /// The onward share (child grant id).
    #[schema(value_type = String, format = "uuid")]
    pub share: ShareId,
    /// The organization that shared onward (org id).
    #[schema(value_type = String, pattern = "^[1-9A-HJ-NP-Za-km-z]+$")]
    pub from: OrgId,
    /// Its name here.
    pub from_name: String,
    /// The organization it was shared with (org id); the same as `from` for a share inside
    /// that organization.
    #[schema(value_type = String, pattern = "^[1-9A-HJ-NP-Za-km-z]+$")]
    pub to: OrgId,
    /// That organization's name, as `from` knows it.
    pub to_name: String,
    /// Recipients.
    pub recipients: Vec<String>,
    /// `entire_case`, `folders (n)` or `evidence (n)`.
    pub scope: String,
    /// When (RFC 3339, UTC).
    pub at: String,
    /// The child grant, wire form, hex.
    pub grant: String,
}

/// A partner's signed holding receipt: "we hold these evidence items, these exact bytes".
/// Verify it offline: decode `wire` as `Signed<HoldingReceipt>` (docs/protocol.md, "Custody
/// statements") and check the ed25519 signature against the partner's key.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReceiptView {
    /// The signing organization's id (derived from its ed25519 key).
    #[schema(value_type = String, pattern = "^[1-9A-HJ-NP-Za-km-z]+$")]
    pub signed_by: OrgId,
    /// Its name here.
    pub signed_by_name: String,
    /// The last item list it holds completely.
    pub seq: u64,
    /// How many items it signed for.
    pub items: u64,
    /// The signed roots digest (BLAKE3 of the roots list), hex.
    pub digest: String,
    /// BLAKE3 of the grant it holds them under, hex.
    pub grant_hash: String,
    /// When it signed (RFC 3339, UTC).
    pub at: String,
    /// When it arrived here (RFC 3339, UTC).
    pub received_at: String,
    /// Whether the digest equals that of the items sent up to `seq` less those it skipped.
    pub matches_sent: bool,
    /// The BLAKE3 roots it signed for, hex, in ascending evidence-id order (with
    /// `matches_sent`; only in the status of one share, not in lists).
    #[schema(value_type = Option<Vec<String>>, pattern = "^[0-9a-f]{64}$")]
    pub roots: Option<Vec<BlobHash>>,
    /// The sharer's evidence id of each root, same order.
    #[schema(value_type = Option<Vec<String>>, format = "uuid")]
    pub evidence: Option<Vec<EvidenceId>>,
    /// The ed25519 signature, hex.
    pub signature: String,
    /// The whole signed statement, wire form, hex.
    pub wire: String,
}

/// A partner's signed acknowledgement that it took in the stop of a share.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct StopAckView {
    /// The signing organization's id.
    #[schema(value_type = String, pattern = "^[1-9A-HJ-NP-Za-km-z]+$")]
    pub signed_by: OrgId,
    /// Its name here.
    pub signed_by_name: String,
    /// BLAKE3 of the revocation it acknowledges, hex.
    pub revocation_hash: String,
    /// When it signed (RFC 3339, UTC).
    pub at: String,
    /// When it arrived here (RFC 3339, UTC).
    pub received_at: String,
    /// The ed25519 signature, hex.
    pub signature: String,
    /// The whole signed statement, wire form, hex.
    pub wire: String,
}

/// A recipient the partner refused.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct RefusedRecipientView {
    /// `user:NAME`, `group:NAME`, `email:ADDR` or `badge:ID`.
    pub recipient: String,
    /// The partner's reason, e.g. `no such user`.
    pub reason: String,
    /// When the partner first reported it (RFC 3339).
    pub since: String,
}

/// An item an import went around.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct SkippedView {
    /// The sharer's evidence id.
    #[schema(value_type = String, format = "uuid")]
    pub evidence: EvidenceId,
    /// Its name (empty when the sharer no longer has it).
    pub name: String,
    /// Why it was skipped.
    pub reason: String,
}

/// A share received from a partner: the seeds' "Import details".
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReceivedView {
    /// Share id.
    #[schema(value_type = String, format = "uuid")]
    pub id: ShareId,
    /// `Pending` (waiting for Import), `Access` (access mode: opened in place with `received
    /// view` / `received get`, nothing imported), `Importing`, `Imported` or `Stopped`.
    pub status: String,
    /// Sender: the sharing organization's id.
    #[schema(value_type = String, pattern = "^[1-9A-HJ-NP-Za-km-z]+$")]
    pub sender: OrgId,
    /// Partner organization (name).
    pub partner_organization: String,
    /// Recipients as the sharer named them.
    pub recipients: Vec<String>,
    /// Local users they resolved to.
    pub resolved_users: Vec<String>,
    /// Received on (RFC 3339).
    pub received_on: String,
    /// Access level: `copy` (partner share) or `access`.
    pub access_level: String,
    /// Sharing policy.
    pub sharing_policy: PolicyView,
    /// The sharer's message.
    pub message: Option<String>,
    /// Case ID at the sharer.
    pub case_id: String,
    /// Title at the sharer.
    pub title: String,
    /// Items in the sharer's manifest.
    pub items: usize,
    /// Items in the local copy.
    pub items_imported: usize,
    /// The grant this organization holds the case under, wire form, hex: a signed chain anyone
    /// can verify offline (for an onward share, its parents are inside).
    pub grant: String,
    /// The local copy's record id, once imported.
    #[schema(value_type = Option<String>, format = "uuid")]
    pub local_case: Option<CaseId>,
    /// The last import error, if any.
    pub last_error: Option<String>,
    /// Items not copied because the sharer refused them for good (deleted, no longer in scope);
    /// the rest of the import went on without them.
    pub skipped: Vec<SkippedView>,
}

/// Query of the directory route.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IntoParams)]
pub struct DirectoryParams {
    /// What was typed (prefix of a username, full name, email, badge id or group name).
    #[serde(default)]
    pub q: String,
}

/// One answer of `GET /v1/partners/{partner}/directory`: a user or a group of the partner
/// organization, as the partner's node answered the look-up (at most 20 per answer). Absent
/// fields are `null`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DirectoryEntryView {
    /// `user` or `group`.
    pub kind: String,
    /// Username or group name: what to name as a recipient (`user:NAME` / `group:NAME`).
    pub name: String,
    /// Full name (users).
    pub full_name: Option<String>,
    /// Email (users).
    pub email: Option<String>,
    /// Badge id (users).
    pub badge_id: Option<String>,
}

/// Body of `POST /v1/cases/{case}/access`: share inside the organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ShareInside {
    /// `user:NAME` or `group:NAME` (a bare name is a user; a badge id or email names a user).
    pub to: Vec<String>,
    /// Folder paths to share (default: the entire case).
    #[serde(default)]
    pub folders: Vec<String>,
    /// Evidence ids or display ids to share.
    #[serde(default)]
    pub evidence: Vec<String>,
    /// Optional message for the notification.
    pub message: Option<String>,
}

/// What an inside share did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InsideShareView {
    /// The inside share's id (in the audit trail).
    #[schema(value_type = String, format = "uuid")]
    pub id: ShareId,
    /// The case's record id.
    #[schema(value_type = String, format = "uuid")]
    pub case: CaseId,
    /// `entire_case`, `folders` or `evidence`.
    pub scope: String,
    /// Who was given access: `user:NAME` / `group:NAME`.
    pub to: Vec<String>,
    /// Notification emails queued.
    pub notified: usize,
}

/// What stopping an inside share did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct InsideStopView {
    /// The inside share.
    #[schema(value_type = String, format = "uuid")]
    pub id: ShareId,
    /// The case's record id.
    #[schema(value_type = String, format = "uuid")]
    pub case: CaseId,
    /// `Stopped`.
    pub status: String,
    /// Access entries taken back.
    pub removed: usize,
}

/// One entry of a case's access list.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AccessEntry {
    /// `owner`, `user`, `group`, `email` or `badge`.
    pub kind: String,
    /// Username, group name, address or badge id.
    pub who: String,
    /// Full name (users of this organization; a group's name).
    pub full_name: Option<String>,
    /// The organization the person belongs to.
    pub organization: String,
    /// The share that gives access (none for the owner).
    #[schema(value_type = Option<String>, format = "uuid")]
    pub share: Option<ShareId>,
    /// The share's status (`Processing`, `Complete`), `Owner`, or `Access` (inside the
    /// organization).
    pub status: String,
    /// Set when the partner refused this recipient (not in its directory): its reason. The
    /// recipient has no access there although the share goes on.
    pub refused: Option<String>,
}

/// Share a received case onward to another partner organization.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct OnwardShare {
    /// Partner name or org id.
    pub partner: String,
    /// Recipients in that organization (`user:…`, `group:…`, `email:…`, `badge:…`).
    pub to: Vec<String>,
    /// Optional message.
    pub message: Option<String>,
}

/// Query of `GET /v1/received`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReceivedQuery {
    /// Only shares of this mode: `copy` or `access`.
    pub mode: Option<String>,
}

/// An item of a received share as the sharer last sent it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReceivedItemView {
    /// The sharer's evidence id (name it to `received get`).
    #[schema(value_type = String, format = "uuid")]
    pub id: EvidenceId,
    /// Name.
    pub name: String,
    /// Display id.
    pub display_id: String,
    /// Description.
    pub description: String,
    /// Folder path at the sharer; `null` = the root.
    pub folder: Option<String>,
    /// BLAKE3 of the bytes (hex).
    #[schema(value_type = String, pattern = "^[0-9a-f]{64}$")]
    pub hash: BlobHash,
    /// Bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
}

/// What a received share holds: the sharer's current version as last sent (`received view`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ReceivedContentsView {
    /// Share id.
    #[schema(value_type = String, format = "uuid")]
    pub share: ShareId,
    /// `copy` or `access`.
    pub mode: String,
    /// The shared folders' paths (only the folders the share covers and their ancestors).
    pub folders: Vec<String>,
    /// The items.
    pub evidence: Vec<ReceivedItemView>,
}

impl From<&SharingPolicy> for PolicyView {
    fn from(p: &SharingPolicy) -> Self {
        let allow: Vec<String> = p.allowed.iter().map(|a| a.name().to_owned()).collect();
        PolicyView {
            name: p.name.clone(),
            allowed: allow.clone(),
            allow,
            data: p.data.iter().map(|d| d.name().to_owned()).collect(),
            two_person_approval: p.two_person_approval,
        }
    }
}

/// The operator view of one partner (`GET /v1/peers`, `casemesh peers`): registration,
/// connection, traffic and queued messages. Source: issue #4 (the operators' peers view) and
/// issue #15 item 5 (a partner that has not registered this node).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct PeerView {
    /// Display name.
    pub name: String,
    /// Org id (PeerId).
    #[schema(value_type = String, pattern = "^[1-9A-HJ-NP-Za-km-z]+$")]
    pub peer_id: OrgId,
    /// Whether a connection is open (and the partner ran a protocol on it).
    pub connected: bool,
    /// The connection state in words: `connected`, `offline` (not reached), or `not registered
    /// by the partner (its gate refuses this node)` (reached, but its gate closes the
    /// connection).
    pub state: String,
    /// Registered addresses (multiaddrs).
    pub addrs: Vec<String>,
    /// Last activity, RFC 3339 UTC.
    pub last_seen: Option<String>,
    /// Last ping round-trip, milliseconds.
    pub rtt_ms: Option<f64>,
    /// The partner's agent version (identify).
    pub agent_version: Option<String>,
    /// The partner's protocol version string (identify).
    pub protocol_version: Option<String>,
    /// casemesh protocols the partner speaks.
    pub protocols: Vec<String>,
    /// Control messages sent.
    pub messages_sent: u64,
    /// Control messages received.
    pub messages_received: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Blob transfers in flight.
    pub transfers_in_flight: u64,
    /// Messages waiting in the outbox for this partner.
    pub outbox_queued: u64,
    /// Messages that can never be delivered to this partner (refused for good, too large),
    /// oldest first; they no longer block the outbox.
    pub dead_letters: Vec<DeadLetterView>,
}

/// A control message given up on (a dead letter), as operators see it.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, ToSchema)]
pub struct DeadLetterView {
    /// Message kind (e.g. `grant.offer/1`).
    pub kind: String,
    /// The share it belonged to.
    #[schema(value_type = Option<String>, format = "uuid")]
    pub share: Option<ShareId>,
    /// Why it cannot be delivered.
    pub reason: String,
    /// When it was given up on, RFC 3339 UTC.
    pub at: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    const SHARE: &str = "0b9e6d8c-3f1a-4e2b-8c7d-5a6f4e3d2c1b";
    const CASE: &str = "6f2c1a9e-0b7d-4c1e-9a55-3d2f8e7b1c40";
    const PARENT: &str = "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d";
    const HOP: &str = "1f2e3d4c-5b6a-4978-8a6b-5c4d3e2f1a0b";
    const EVIDENCE: &str = "3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f";
    const ROOT: &str = "af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262";
    const PARTNER: &str = "12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN";
    const ORIGIN: &str = "12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8";

    /// `GET /v1/shares/{share}` exactly as the node wrote it when these fields were `String`s:
    /// typing the ids must not change a byte of it.
    const GOLDEN: &str = concat!(
        r#"{"id":"0b9e6d8c-3f1a-4e2b-8c7d-5a6f4e3d2c1b","#,
        r#""case":"6f2c1a9e-0b7d-4c1e-9a55-3d2f8e7b1c40","status":"Complete","failure":null,"#,
        r#""partner":"12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN","#,
        r#""partner_name":"Metro PD","mode":"copy","scope":"entire_case","#,
        r#""recipients":[{"recipient":"user:ada","added_at":"2026-01-02T03:04:05Z"}],"#,
        r#""refused_recipients":[],"#,
        r#""policy":{"name":"partner-copy","allow":["view"],"allowed":["view"],"data":[],"#,
        r#""two_person_approval":false},"message":null,"created_by":"ada","#,
        r#""created_at":"2026-01-02T03:04:05Z","items_sent":1,"items_delivered":1,"in_sync":true,"#,
        r#""completed_at":null,"stopped_at":null,"skipped":1,"#,
        r#""skipped_items":[{"evidence":"3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f","name":"","#,
        r#""reason":"gone"}],"#,
        r#""receipt":{"signed_by":"12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN","#,
        r#""signed_by_name":"Metro PD","seq":1,"items":1,"digest":"00","grant_hash":"11","#,
        r#""at":"2026-01-02T03:04:05Z","received_at":"2026-01-02T03:04:06Z","#,
        r#""matches_sent":true,"#,
        r#""roots":["af1349b9f5f9a1a6a0404dea36dcc9499bcb25c9adc112b7cc9a93cae41f3262"],"#,
        r#""evidence":["3c4d5e6f-7a8b-4c9d-8e0f-1a2b3c4d5e6f"],"signature":"22","wire":"33"},"#,
        r#""stop_ack":null,"onward_of":"9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6d","#,
        r#""hops":[{"share":"1f2e3d4c-5b6a-4978-8a6b-5c4d3e2f1a0b","#,
        r#""from":"12D3KooWDpJ7As7BWAwRMfu1VU2WCqNjvq387JEYKDBj4kx6nXTN","from_name":"Metro PD","#,
        r#""to":"12D3KooWKnDdG3iXw9eTFijk3EWSunZcFi54Zka4wmtqtt6rPxc8","to_name":"County","#,
        r#""recipients":["user:bo"],"scope":"entire_case","at":"2026-01-03T00:00:00Z","#,
        r#""grant":"44"}]}"#,
    );

    fn sample() -> ShareView {
        let org = |s: &str| OrgId(s.to_owned());
        ShareView {
            id: SHARE.parse().unwrap(),
            case: CASE.parse().unwrap(),
            status: "Complete".into(),
            failure: None,
            partner: org(PARTNER),
            partner_name: "Metro PD".into(),
            mode: "copy".into(),
            scope: "entire_case".into(),
            recipients: vec![RecipientView {
                recipient: "user:ada".into(),
                added_at: "2026-01-02T03:04:05Z".into(),
            }],
            refused_recipients: vec![],
            policy: PolicyView {
                name: "partner-copy".into(),
                allow: vec!["view".into()],
                allowed: vec!["view".into()],
                data: vec![],
                two_person_approval: false,
            },
            message: None,
            created_by: "ada".into(),
            created_at: "2026-01-02T03:04:05Z".into(),
            items_sent: 1,
            items_delivered: 1,
            in_sync: true,
            completed_at: None,
            stopped_at: None,
            skipped: 1,
            skipped_items: vec![SkippedView {
                evidence: EVIDENCE.parse().unwrap(),
                name: String::new(),
                reason: "gone".into(),
            }],
            receipt: Some(ReceiptView {
                signed_by: org(PARTNER),
                signed_by_name: "Metro PD".into(),
                seq: 1,
                items: 1,
                digest: "00".into(),
                grant_hash: "11".into(),
                at: "2026-01-02T03:04:05Z".into(),
                received_at: "2026-01-02T03:04:06Z".into(),
                matches_sent: true,
                roots: Some(vec![ROOT.parse().unwrap()]),
                evidence: Some(vec![EVIDENCE.parse().unwrap()]),
                signature: "22".into(),
                wire: "33".into(),
            }),
            stop_ack: None,
            onward_of: Some(PARENT.parse().unwrap()),
            hops: vec![HopView {
                share: HOP.parse().unwrap(),
                from: org(PARTNER),
                from_name: "Metro PD".into(),
                to: org(ORIGIN),
                to_name: "County".into(),
                recipients: vec!["user:bo".into()],
                scope: "entire_case".into(),
                at: "2026-01-03T00:00:00Z".into(),
                grant: "44".into(),
            }],
        }
    }

    #[test]
    fn typed_ids_serialize_as_the_same_text() {
        assert_eq!(serde_json::to_string(&sample()).unwrap(), GOLDEN);
        let back: ShareView = serde_json::from_str(GOLDEN).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn a_malformed_id_in_an_answer_is_refused() {
        let upper = ROOT.to_uppercase();
        for (good, bad) in [
            (CASE, "6f2c1a9e-0b7d-4c1e-9a55"),
            (SHARE, "not-a-share"),
            (PARENT, "9a8b7c6d-5e4f-4a3b-9c2d-1e0f9a8b7c6z"),
            (EVIDENCE, ""),
            (ROOT, upper.as_str()),
            (ROOT, &ROOT[1..]),
        ] {
            let json = GOLDEN.replacen(good, bad, 1);
            assert!(
                serde_json::from_str::<ShareView>(&json).is_err(),
                "{bad:?} in place of {good}"
            );
        }
    }
}
