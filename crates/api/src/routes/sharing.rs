//! Federation and sharing routes: this node's id, partners, sharing policies, the peers view,
//! partner shares (create, status, add recipients, stop) and shares received from partners
//! (list, import details, import).

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Json;
use crate::extract::{Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
use casemesh_model::custody::{HoldingReceipt, Signed, StopAck};
use casemesh_model::grant::{Recipient, Scope, ShareMode};
use casemesh_model::org::Action;
use casemesh_model::policy::{PolicyAction, SharedData, SharingPolicy};
use casemesh_sharing::SharingError;
use casemesh_sharing::records::{IncomingShare, OutgoingShare, Partner};
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

impl From<SharingError> for ApiError {
    fn from(e: SharingError) -> ApiError {
        match e {
            SharingError::NotFound(_) => ApiError::not_found(e.to_string()),
            SharingError::Invalid(_) => ApiError::bad_request(e.to_string()),
            SharingError::Forbidden(_) => ApiError::forbidden(e.to_string()),
            SharingError::Conflict(_) => ApiError::conflict(e.to_string()),
            SharingError::Store(s) => s.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}

/// This node's identity on the network.
#[derive(Debug, Serialize, ToSchema)]
pub struct IdView {
    /// Org id (libp2p PeerId).
    pub peer_id: String,
    /// Bound listen addresses (multiaddrs).
    pub addrs: Vec<String>,
}

/// A partner organization.
#[derive(Debug, Serialize, ToSchema)]
pub struct PartnerView {
    /// Display name.
    pub name: String,
    /// Org id (PeerId).
    pub peer_id: String,
    /// Addresses.
    pub addrs: Vec<String>,
    /// Assigned sharing policy's name.
    pub policy: String,
    /// Registered at (RFC 3339).
    pub added_at: String,
}

impl From<Partner> for PartnerView {
    fn from(p: Partner) -> Self {
        PartnerView {
            name: p.name,
            peer_id: p.peer_id,
            addrs: p.addrs,
            policy: p.policy,
            added_at: p.added_at.to_string(),
        }
    }
}

/// Body of `POST /v1/partners`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddPartner {
    /// Display name.
    pub name: String,
    /// PeerId.
    pub peer_id: String,
    /// Multiaddrs, e.g. `/ip4/10.0.0.5/tcp/4001`.
    #[serde(default)]
    pub addrs: Vec<String>,
    /// Sharing policy name (default `partner-copy`).
    pub policy: Option<String>,
}

/// Body of `PATCH /v1/partners/{partner}`.
#[derive(Debug, Deserialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
pub struct PolicyView {
    /// Name.
    pub name: String,
    /// Allowed actions: view, download, import, receive_updates, apply_case_updates,
    /// apply_evidence_updates, share_onward, share_onward_external.
    pub allow: Vec<String>,
    /// The same list under its earlier name.
    pub allowed: Vec<String>,
    /// Data kinds that may leave: case_number, case_title, case_description, evidence_name,
    /// evidence_display_id, evidence_description, transcripts.
    pub data: Vec<String>,
    /// Whether a partner share under this policy waits for a second person's approval.
    pub two_person_approval: bool,
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

/// Body of `POST /v1/policies`.
#[derive(Debug, Deserialize, ToSchema)]
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
#[derive(Debug, Deserialize, ToSchema)]
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
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct AddRecipients {
    /// Recipients to add.
    pub to: Vec<String>,
    /// Another partner to share with (default: the share's partner).
    pub partner: Option<String>,
}

/// A recipient of a share.
#[derive(Debug, Serialize, ToSchema)]
pub struct RecipientView {
    /// `user:…`, `group:…`, `email:…` or `badge:…`.
    pub recipient: String,
    /// When it was added (RFC 3339).
    pub added_at: String,
}

/// A share this organization issued.
#[derive(Debug, Serialize, ToSchema)]
pub struct ShareView {
    /// Share id.
    pub id: String,
    /// The shared case's record id.
    pub case: String,
    /// `Processing`, `Complete`, `Stopped` or `Failed` (a message could never be delivered;
    /// see `failure`).
    pub status: String,
    /// Why the share failed, with `Failed`.
    pub failure: Option<String>,
    /// Partner org id.
    pub partner: String,
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
    pub onward_of: Option<String>,
    /// Onward hops partners reported below this share (who shared with whom, when).
    pub hops: Vec<HopView>,
}

/// An onward hop below a share: proof is the child grant, signed by `from`.
#[derive(Debug, Serialize, ToSchema)]
pub struct HopView {
    /// The onward share (child grant id).
    pub share: String,
    /// The organization that shared onward (org id).
    pub from: String,
    /// Its name here.
    pub from_name: String,
    /// The organization it was shared with (org id); the same as `from` for a share inside
    /// that organization.
    pub to: String,
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
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceiptView {
    /// The signing organization's id (derived from its ed25519 key).
    pub signed_by: String,
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
    pub roots: Option<Vec<String>>,
    /// The sharer's evidence id of each root, same order.
    pub evidence: Option<Vec<String>>,
    /// The ed25519 signature, hex.
    pub signature: String,
    /// The whole signed statement, wire form, hex.
    pub wire: String,
}

/// A partner's signed acknowledgement that it took in the stop of a share.
#[derive(Debug, Serialize, ToSchema)]
pub struct StopAckView {
    /// The signing organization's id.
    pub signed_by: String,
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

fn receipt_view(s: &OutgoingShare) -> Option<ReceiptView> {
    let record = s.receipt.as_ref()?;
    let bytes = hex::decode(&record.signed).ok()?;
    let signed = Signed::<HoldingReceipt>::from_bytes(&bytes).ok()?;
    let st = &signed.statement;
    Some(ReceiptView {
        signed_by: st.holder.0.clone(),
        signed_by_name: s.partner_name.clone(),
        seq: st.seq,
        items: st.items,
        digest: hex::encode(st.roots),
        grant_hash: hex::encode(st.grant_hash),
        at: st.at.to_string(),
        received_at: record.received_at.to_string(),
        matches_sent: record.matches_sent,
        roots: None,
        evidence: None,
        signature: hex::encode(signed.signature),
        wire: record.signed.clone(),
    })
}

fn stop_ack_view(s: &OutgoingShare) -> Option<StopAckView> {
    let record = s.stop_ack.as_ref()?;
    let bytes = hex::decode(&record.signed).ok()?;
    let signed = Signed::<StopAck>::from_bytes(&bytes).ok()?;
    let st = &signed.statement;
    Some(StopAckView {
        signed_by: st.holder.0.clone(),
        signed_by_name: s.partner_name.clone(),
        revocation_hash: hex::encode(st.revocation_hash),
        at: st.at.to_string(),
        received_at: record.received_at.to_string(),
        signature: hex::encode(signed.signature),
        wire: record.signed.clone(),
    })
}

/// A recipient the partner refused.
#[derive(Debug, Serialize, ToSchema)]
pub struct RefusedRecipientView {
    /// `user:NAME`, `group:NAME`, `email:ADDR` or `badge:ID`.
    pub recipient: String,
    /// The partner's reason, e.g. `no such user`.
    pub reason: String,
    /// When the partner first reported it (RFC 3339).
    pub since: String,
}

/// An item an import went around.
#[derive(Debug, Serialize, ToSchema)]
pub struct SkippedView {
    /// The sharer's evidence id.
    pub evidence: String,
    /// Its name (empty when the sharer no longer has it).
    pub name: String,
    /// Why it was skipped.
    pub reason: String,
}

fn scope_text(s: &Scope) -> String {
    match s {
        Scope::EntireCase => "entire_case".into(),
        Scope::Folders(f) => format!("folders ({})", f.len()),
        Scope::Evidence(e) => format!("evidence ({})", e.len()),
    }
}

impl From<OutgoingShare> for ShareView {
    fn from(s: OutgoingShare) -> Self {
        ShareView {
            id: s.id.to_string(),
            case: s.case.to_string(),
            status: format!("{:?}", s.status),
            partner: s.partner.clone(),
            partner_name: s.partner_name.clone(),
            mode: format!("{:?}", s.mode).to_lowercase(),
            scope: scope_text(&s.scope),
            recipients: s
                .recipients
                .iter()
                .map(|r| RecipientView {
                    recipient: casemesh_sharing::recipient_label(&r.recipient),
                    added_at: r.added_at.to_string(),
                })
                .collect(),
            refused_recipients: s
                .refused_recipients
                .iter()
                .map(|r| RefusedRecipientView {
                    recipient: casemesh_sharing::recipient_label(&r.recipient),
                    reason: r.reason.clone(),
                    since: r.since.to_string(),
                })
                .collect(),
            policy: PolicyView::from(&s.policy),
            message: s.message.clone(),
            created_by: s.created_by.clone(),
            created_at: s.created_at.to_string(),
            items_sent: s.items_sent as usize,
            items_delivered: s.items_delivered as usize,
            completed_at: s.completed_at.map(|t| t.to_string()),
            stopped_at: s.stopped_at.map(|t| t.to_string()),
            failure: s.failure.clone(),
            skipped: s.skipped_total.max(s.skipped.len() as u64) as usize,
            skipped_items: s
                .skipped
                .iter()
                .map(|(id, reason)| SkippedView {
                    evidence: id.to_string(),
                    name: String::new(),
                    reason: reason.clone(),
                })
                .collect(),
            receipt: receipt_view(&s),
            stop_ack: stop_ack_view(&s),
            onward_of: s.onward.map(|o| o.parent.to_string()),
            hops: s
                .hops
                .iter()
                .map(|h| HopView {
                    share: h.share.to_string(),
                    from: h.from.clone(),
                    from_name: h.from_name.clone(),
                    to: h.to.clone(),
                    to_name: h.to_name.clone(),
                    recipients: h
                        .recipients
                        .iter()
                        .map(casemesh_sharing::recipient_label)
                        .collect(),
                    scope: scope_text(&h.scope),
                    at: h.at.to_string(),
                    grant: h.grant.clone(),
                })
                .collect(),
        }
    }
}

/// A share received from a partner: the seeds' "Import details".
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceivedView {
    /// Share id.
    pub id: String,
    /// `Pending` (waiting for Import), `Access` (access mode: opened in place with `received
    /// view` / `received get`, nothing imported), `Importing`, `Imported` or `Stopped`.
    pub status: String,
    /// Sender: the sharing organization's id.
    pub sender: String,
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
    pub local_case: Option<String>,
    /// The last import error, if any.
    pub last_error: Option<String>,
    /// Items not copied because the sharer refused them for good (deleted, no longer in scope);
    /// the rest of the import went on without them.
    pub skipped: Vec<SkippedView>,
}

impl ReceivedView {
    /// The view of a received share, with the items it skipped (read from its item rows only
    /// when it skipped any).
    fn of(e: &casemesh_sharing::Engine, s: IncomingShare) -> Result<Self, SharingError> {
        let skipped = e
            .skipped_items(&s)?
            .into_iter()
            .map(|(id, item)| SkippedView {
                evidence: id.to_string(),
                name: item.name,
                reason: item.reason,
            })
            .collect();
        let grant = hex::decode(&s.grant)
            .ok()
            .and_then(|b| casemesh_model::grant::SignedGrant::from_bytes(&b).ok());
        Ok(ReceivedView {
            id: s.id.to_string(),
            status: if s.mode == ShareMode::Access
                && s.status == casemesh_sharing::records::ReceivedStatus::Pending
            {
                "Access".to_owned()
            } else {
                format!("{:?}", s.status)
            },
            sender: s.sharer.clone(),
            partner_organization: s.sharer_name.clone(),
            recipients: s
                .recipients
                .iter()
                .map(casemesh_sharing::recipient_label)
                .collect(),
            resolved_users: s.resolved_users.clone(),
            received_on: s.received_at.to_string(),
            access_level: grant
                .as_ref()
                .map(|g| format!("{:?}", g.grant.mode).to_lowercase())
                .unwrap_or_default(),
            sharing_policy: grant
                .as_ref()
                .map(|g| PolicyView::from(&g.grant.policy))
                .unwrap_or(PolicyView {
                    name: String::new(),
                    allow: vec![],
                    allowed: vec![],
                    data: vec![],
                    two_person_approval: false,
                }),
            message: grant.as_ref().and_then(|g| g.grant.message.clone()),
            case_id: s.head.case_number.clone(),
            title: s.head.title.clone(),
            items: s.head.items as usize,
            items_imported: s.items_imported as usize,
            grant: s.grant.clone(),
            local_case: s.local_case.map(|c| c.to_string()),
            last_error: s.last_error.clone(),
            skipped,
        })
    }
}

/// This node's PeerId and listen addresses.
#[utoipa::path(get, path = "/v1/id", operation_id = "get_node_id", tag = "federation", responses((status = 200, body = IdView), (status = 503, body = ErrorBody)))]
pub async fn id(State(state): State<AppState>, _caller: Caller) -> ApiResult<Json<IdView>> {
    let e = &state.sharing;
    Ok(Json(IdView {
        peer_id: e.org_id().to_owned(),
        addrs: e.listen_addrs().await?,
    }))
}

/// List partners.
#[utoipa::path(get, path = "/v1/partners", operation_id = "list_partners", tag = "federation", responses((status = 200, body = [PartnerView])))]
pub async fn partners(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<Vec<PartnerView>>> {
    Ok(Json(
        state
            .sharing
            .partners()?
            .into_iter()
            .map(PartnerView::from)
            .collect(),
    ))
}

/// Register a partner organization (administrators).
#[utoipa::path(post, path = "/v1/partners", operation_id = "add_partner", request_body = AddPartner, tag = "federation",
    responses((status = 201, body = PartnerView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_partner(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<AddPartner>,
) -> ApiResult<(StatusCode, Json<PartnerView>)> {
    caller.require(&state, Action::Administer)?;
    let p = state
        .sharing
        .add_partner(&req.name, &req.peer_id, req.addrs, req.policy.as_deref())
        .await?;
    Ok((StatusCode::CREATED, Json(p.into())))
}

/// Change a partner (administrators).
#[utoipa::path(patch, path = "/v1/partners/{partner}", operation_id = "edit_partner", request_body = EditPartner, tag = "federation",
    params(("partner" = String, Path, description = "partner name or PeerId")),
    responses((status = 200, body = PartnerView), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn edit_partner(
    State(state): State<AppState>,
    caller: Caller,
    Path(partner): Path<String>,
    Json(req): Json<EditPartner>,
) -> ApiResult<Json<PartnerView>> {
    caller.require(&state, Action::Administer)?;
    let p = state
        .sharing
        .update_partner(
            &partner,
            req.name.as_deref(),
            req.addrs,
            req.policy.as_deref(),
        )
        .await?;
    Ok(Json(p.into()))
}

/// Remove a partner (administrators): its connections close and it is refused from then on.
#[utoipa::path(delete, path = "/v1/partners/{partner}", operation_id = "remove_partner", tag = "federation",
    params(("partner" = String, Path, description = "partner name or PeerId")),
    responses((status = 200, body = PartnerView), (status = 404, body = ErrorBody)))]
pub async fn remove_partner(
    State(state): State<AppState>,
    caller: Caller,
    Path(partner): Path<String>,
) -> ApiResult<Json<PartnerView>> {
    caller.require(&state, Action::Administer)?;
    Ok(Json(state.sharing.remove_partner(&partner).await?.into()))
}

/// Query of the directory route.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct DirectoryParams {
    /// What was typed (prefix of a username, full name, email, badge id or group name).
    #[serde(default)]
    pub q: String,
}

/// Look up users and groups in a partner's directory (type-ahead for recipients); the partner
/// answers only if it shares its directory.
#[utoipa::path(get, path = "/v1/partners/{partner}/directory", operation_id = "get_partner_directory", tag = "federation",
    params(("partner" = String, Path, description = "partner name or PeerId"), DirectoryParams),
    responses((status = 200, body = [Object]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn directory(
    State(state): State<AppState>,
    _caller: Caller,
    Path(partner): Path<String>,
    crate::extract::Query(q): crate::extract::Query<DirectoryParams>,
) -> ApiResult<Json<Vec<casemesh_sharing::directory::DirectoryEntry>>> {
    Ok(Json(state.sharing.lookup_directory(&partner, &q.q).await?))
}

/// List sharing policies.
#[utoipa::path(get, path = "/v1/policies", operation_id = "list_policies", tag = "federation", responses((status = 200, body = [PolicyView])))]
pub async fn policies(
    State(state): State<AppState>,
    _caller: Caller,
) -> ApiResult<Json<Vec<PolicyView>>> {
    Ok(Json(
        state
            .sharing
            .policies()?
            .iter()
            .map(PolicyView::from)
            .collect(),
    ))
}

/// Create or replace a sharing policy (administrators).
#[utoipa::path(post, path = "/v1/policies", operation_id = "put_policy", request_body = PutPolicy, tag = "federation",
    responses((status = 201, body = PolicyView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody)))]
pub async fn put_policy(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<PutPolicy>,
) -> ApiResult<(StatusCode, Json<PolicyView>)> {
    caller.require(&state, Action::Administer)?;
    let mut actions = Vec::new();
    for a in &req.allow {
        let found = PolicyAction::expand_name(a);
        if found.is_empty() {
            return Err(ApiError::bad_request(format!(
                "unknown policy action {a:?}; known: {}",
                PolicyAction::ALL.map(|x| x.name()).join(", ")
            )));
        }
        actions.extend(found);
    }
    // Onward sharing to another organization is onward sharing: a child grant needs the
    // parent to allow share_onward (the chain check), so the external one alone would do nothing.
    if actions.contains(&PolicyAction::ShareOnwardExternal)
        && !actions.contains(&PolicyAction::ShareOnward)
    {
        return Err(ApiError::bad_request(
            "share_onward_external needs share_onward too (an onward share to another organization is an onward share); nothing was changed",
        ));
    }
    let mut p =
        SharingPolicy::new(&req.name, actions).with_two_person_approval(req.two_person_approval);
    if let Some(data) = &req.data {
        let mut kinds = Vec::new();
        for d in data {
            let found = SharedData::expand_name(d);
            if found.is_empty() {
                return Err(ApiError::bad_request(format!(
                    "unknown data kind {d:?}; known: {}, or case_fields, evidence_metadata, all",
                    SharedData::ALL.map(|x| x.name()).join(", ")
                )));
            }
            kinds.extend(found);
        }
        p = p.with_data(kinds);
    }
    state.sharing.put_policy(&p)?;
    Ok((StatusCode::CREATED, Json(PolicyView::from(&p))))
}

/// One sharing policy, read only (what a sharer reviews before sharing with a partner that has
/// it: seed 002, "select View next to their name to review their sharing policy").
#[utoipa::path(get, path = "/v1/policies/{name}", operation_id = "get_policy", tag = "federation",
    params(("name" = String, Path, description = "Policy name")),
    responses((status = 200, body = PolicyView), (status = 404, body = ErrorBody)))]
pub async fn policy(
    State(state): State<AppState>,
    _caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<PolicyView>> {
    Ok(Json(PolicyView::from(&state.sharing.policy(&name)?)))
}

/// The operator view of every partner: connection, addresses, last seen, round-trip time,
/// protocol versions, traffic, transfers in flight, queued outbox messages.
#[utoipa::path(get, path = "/v1/peers", operation_id = "list_peers", tag = "federation", responses((status = 200, body = [Object])))]
pub async fn peers(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<casemesh_sharing::PeerView>>> {
    // The operator view: traffic, dead letters and share ids of every partner.
    caller.require(&state, Action::Administer)?;
    Ok(Json(state.sharing.peers().await?))
}

fn parse_recipients(to: &[String]) -> ApiResult<Vec<Recipient>> {
    to.iter()
        .map(|t| casemesh_sharing::parse_recipient(t).map_err(ApiError::from))
        .collect()
}

/// Share a case by copy with a partner organization (partner share).
#[utoipa::path(post, path = "/v1/cases/{case}/shares", operation_id = "create_share", request_body = CreateShare, tag = "sharing",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 201, body = ShareView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn create_share(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
    Json(req): Json<CreateShare>,
) -> ApiResult<(StatusCode, Json<ShareView>)> {
    caller.require(&state, Action::ShareByCopy)?;
    let mode = match req.mode.as_deref() {
        None | Some("copy") => ShareMode::Copy,
        Some("access") => {
            if !state
                .settings()
                .features
                .is_enabled(casemesh_model::org::Feature::AdvancedSharing)
            {
                return Err(ApiError::forbidden(
                    "access-mode shares need the Advanced Sharing feature, which is off",
                ));
            }
            ShareMode::Access
        }
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "mode {other:?}: expected copy or access"
            )));
        }
    };
    let case = caller.whole_case(&state, &case)?;
    let request = casemesh_sharing::ShareRequest {
        case: case.id,
        partner: req.partner.clone(),
        recipients: parse_recipients(&req.to)?,
        folders: req.folders.clone(),
        evidence: req.evidence.clone(),
        message: req.message.clone(),
    };
    let share = state
        .sharing
        .create_share_in(&caller.actor(&state), &request, mode)?;
    Ok((StatusCode::CREATED, Json(share.into())))
}

/// Body of `POST /v1/cases/{case}/access`: share inside the organization.
#[derive(Debug, Deserialize, ToSchema)]
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
#[derive(Debug, Serialize, ToSchema)]
pub struct InsideShareView {
    /// The inside share's id (in the audit trail).
    pub id: String,
    /// The case's record id.
    pub case: String,
    /// `entire_case`, `folders` or `evidence`.
    pub scope: String,
    /// Who was given access: `user:NAME` / `group:NAME`.
    pub to: Vec<String>,
    /// Notification emails queued.
    pub notified: usize,
}

/// Share a case (whole, selected folders or selected evidence) with users and groups of this
/// organization (seed 002: People tab → Inside my agency). A group share follows the group's
/// membership. Needs the case and evidence share permissions and features.
#[utoipa::path(post, path = "/v1/cases/{case}/access", operation_id = "create_inside_share", request_body = ShareInside, tag = "sharing",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 201, body = InsideShareView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn share_inside(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
    Json(req): Json<ShareInside>,
) -> ApiResult<(StatusCode, Json<InsideShareView>)> {
    caller.require(&state, Action::ShareAccess)?;
    let case = caller.whole_case(&state, &case)?;
    // A received copy is shared inside only as its sharing policy allows (share_onward).
    let received = state.sharing.onward_inside(case.id)?;
    let to = req
        .to
        .iter()
        .map(|t| {
            if t.contains(':') {
                casemesh_sharing::parse_recipient(t).map_err(ApiError::from)
            } else {
                Ok(Recipient::User(t.clone()))
            }
        })
        .collect::<ApiResult<Vec<_>>>()?;
    let message = req.message.clone();
    let done = state.node.access().share_inside(
        &casemesh_service::InsideShare {
            case: case.id,
            to: to.clone(),
            folders: req.folders,
            evidence: req.evidence,
            message: req.message,
        },
        &caller.user,
        &caller.actor(&state),
    )?;
    // The organization the copy came from hears of the hop (issue #13).
    if let Some(received) = &received {
        state
            .sharing
            .report_inside_onward(received, done.id, &to, message)?;
    }
    let scope = match done.entries.first().map(|e| &e.scope) {
        Some(casemesh_model::grant::Scope::Folders(_)) => "folders",
        Some(casemesh_model::grant::Scope::Evidence(_)) => "evidence",
        _ => "entire_case",
    };
    Ok((
        StatusCode::CREATED,
        Json(InsideShareView {
            id: done.id.to_string(),
            case: case.id.to_string(),
            scope: scope.into(),
            to: to.iter().map(casemesh_sharing::recipients::label).collect(),
            notified: done.notified,
        }),
    ))
}

/// What stopping an inside share did.
#[derive(Debug, Serialize, ToSchema)]
pub struct InsideStopView {
    /// The inside share.
    pub id: String,
    /// The case's record id.
    pub case: String,
    /// `Stopped`.
    pub status: String,
    /// Access entries taken back.
    pub removed: usize,
}

/// Stop an inside share: the access it gave is taken back at once (access other shares gave the
/// same people stays). Needs the case whole, like sharing it.
#[utoipa::path(delete, path = "/v1/access/{share}", operation_id = "stop_inside_share", tag = "sharing",
    params(("share" = String, Path, description = "inside share id")),
    responses((status = 200, body = InsideStopView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn stop_inside(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
) -> ApiResult<Json<InsideStopView>> {
    caller.require(&state, Action::ShareAccess)?;
    let not_found = || ApiError::not_found(format!("share {share:?} not found"));
    let id: casemesh_model::ids::ShareId = share.parse().map_err(|_| not_found())?;
    let access = state.node.access();
    let case = access.inside_share_case(id)?.ok_or_else(not_found)?;
    caller.whole_case(&state, &case.to_string()).map_err(|e| {
        if e.status == StatusCode::FORBIDDEN {
            e
        } else {
            not_found()
        }
    })?;
    let done = access.stop_inside(id, &caller.actor(&state))?;
    Ok(Json(InsideStopView {
        id: id.to_string(),
        case: done.case.to_string(),
        status: "Stopped".into(),
        removed: done.removed,
    }))
}

/// The shares of a case, with everyone who has access.
#[utoipa::path(get, path = "/v1/cases/{case}/shares", operation_id = "list_case_shares", tag = "sharing",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 200, body = [ShareView]), (status = 404, body = ErrorBody)))]
pub async fn case_shares(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
) -> ApiResult<Json<Vec<ShareView>>> {
    let case = caller.whole_case(&state, &case)?;
    Ok(Json(
        state
            .sharing
            .shares(Some(case.id))?
            .into_iter()
            .map(ShareView::from)
            .collect(),
    ))
}

/// One entry of a case's access list.
#[derive(Debug, Serialize, ToSchema)]
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
    pub share: Option<String>,
    /// The share's status (`Processing`, `Complete`), `Owner`, or `Access` (inside the
    /// organization).
    pub status: String,
    /// Set when the partner refused this recipient (not in its directory): its reason. The
    /// recipient has no access there although the share goes on.
    pub refused: Option<String>,
}

/// Everyone with access to a case: the owner, then every recipient of every active share.
#[utoipa::path(get, path = "/v1/cases/{case}/access", operation_id = "list_case_access", tag = "sharing",
    params(("case" = String, Path, description = "record id or Case ID")),
    responses((status = 200, body = [AccessEntry]), (status = 404, body = ErrorBody)))]
pub async fn access(
    State(state): State<AppState>,
    caller: Caller,
    Path(case): Path<String>,
) -> ApiResult<Json<Vec<AccessEntry>>> {
    let case = caller.whole_case(&state, &case)?;
    let owner = state.store.user(case.owner)?;
    let mut out = vec![AccessEntry {
        kind: "owner".into(),
        who: owner
            .as_ref()
            .map(|u| u.username.clone())
            .unwrap_or_else(|| case.owner.to_string()),
        full_name: owner.map(|u| u.full_name),
        organization: state.org.name.clone(),
        share: None,
        status: "Owner".into(),
        refused: None,
    }];
    // Inside the organization: users and groups on the case's access list.
    for entry in state.store.case_access(case.id)? {
        let (kind, who, full_name) = match entry.principal {
            casemesh_model::access::Principal::User(u) => {
                let user = state.store.user(u)?;
                (
                    "user",
                    user.as_ref()
                        .map(|u| u.username.clone())
                        .unwrap_or_else(|| u.to_string()),
                    user.map(|u| u.full_name),
                )
            }
            casemesh_model::access::Principal::Group(g) => {
                let name = caller
                    .groups
                    .iter()
                    .find(|x| x.id == g)
                    .map(|x| x.name.clone())
                    .unwrap_or_else(|| g.to_string());
                ("group", name.clone(), Some(name))
            }
        };
        out.push(AccessEntry {
            kind: kind.into(),
            who,
            full_name,
            organization: state.org.name.clone(),
            share: entry.share.map(|s| s.to_string()),
            status: "Access".into(),
            refused: None,
        });
    }
    {
        let e = &state.sharing;
        for s in e
            .shares(Some(case.id))?
            .into_iter()
            .filter(|s| s.status != casemesh_sharing::records::ShareStatus::Stopped)
        {
            for r in &s.recipients {
                let text = casemesh_sharing::recipient_label(&r.recipient);
                let (kind, who) = text.split_once(':').unwrap_or(("user", &text));
                out.push(AccessEntry {
                    kind: kind.into(),
                    who: who.into(),
                    full_name: None,
                    organization: s.partner_name.clone(),
                    share: Some(s.id.to_string()),
                    status: format!("{:?}", s.status),
                    refused: s
                        .refused_recipients
                        .iter()
                        .find(|x| x.recipient == r.recipient)
                        .map(|x| x.reason.clone()),
                });
            }
        }
    }
    Ok(Json(out))
}

/// One share's status.
#[utoipa::path(get, path = "/v1/shares/{share}", operation_id = "get_share", tag = "sharing",
    params(("share" = String, Path, description = "share id")),
    responses((status = 200, body = ShareView), (status = 404, body = ErrorBody)))]
pub async fn share(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
) -> ApiResult<Json<ShareView>> {
    let share = shared_case_share(&state, &caller, &share)?;
    let roots = state.sharing.receipt_roots(&share)?;
    let mut view = ShareView::from(share);
    if let (Some(receipt), Some(roots)) = (view.receipt.as_mut(), roots) {
        receipt.evidence = Some(roots.iter().map(|(id, _)| id.to_string()).collect());
        receipt.roots = Some(roots.iter().map(|(_, root)| root.to_string()).collect());
    }
    Ok(Json(view))
}

/// Add recipients to a share (reshare), in the same or another partner organization.
#[utoipa::path(post, path = "/v1/shares/{share}/recipients", operation_id = "add_share_recipients", request_body = AddRecipients, tag = "sharing",
    params(("share" = String, Path, description = "share id")),
    responses((status = 200, body = ShareView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn add_recipients(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
    Json(req): Json<AddRecipients>,
) -> ApiResult<Json<ShareView>> {
    caller.require(&state, Action::ShareByCopy)?;
    shared_case_share(&state, &caller, &share)?;
    let s = state.sharing.add_recipients(
        &caller.actor(&state),
        &share,
        parse_recipients(&req.to)?,
        req.partner.as_deref(),
    )?;
    Ok(Json(s.into()))
}

/// Approve a partner share that waits for a second person (two-person approval): its offer
/// leaves now. Needs the `share_approve` permission; the user who created the share cannot
/// approve it (403); a share that does not wait for approval answers 409.
#[utoipa::path(post, path = "/v1/shares/{share}/approve", operation_id = "approve_share", tag = "sharing",
    params(("share" = String, Path, description = "share id")),
    responses((status = 200, body = ShareView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn approve_share(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
) -> ApiResult<Json<ShareView>> {
    caller.require(&state, Action::ApproveShare)?;
    shared_case_share(&state, &caller, &share)?;
    Ok(Json(
        state
            .sharing
            .approve_share(&caller.actor(&state), &share)?
            .into(),
    ))
}

/// Stop sharing: updates stop at once; the partner keeps its imported copy.
#[utoipa::path(post, path = "/v1/shares/{share}/stop", operation_id = "stop_share", tag = "sharing",
    params(("share" = String, Path, description = "share id")),
    responses((status = 200, body = ShareView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn stop_share(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
) -> ApiResult<Json<ShareView>> {
    caller.require(&state, Action::ShareByCopy)?;
    shared_case_share(&state, &caller, &share)?;
    Ok(Json(
        state
            .sharing
            .stop_share(&caller.actor(&state), &share)?
            .into(),
    ))
}

/// The outgoing share `id` if the caller sees its case whole; otherwise 404 as for a share that
/// does not exist (issue #12: per-case access covers the shares of a case too).
fn shared_case_share(
    state: &AppState,
    caller: &Caller,
    id: &str,
) -> ApiResult<casemesh_sharing::records::OutgoingShare> {
    let share = state.sharing.share(id)?;
    caller
        .whole_case(state, &share.case.to_string())
        .map_err(|_| ApiError::from(SharingError::NotFound(format!("share {id:?}"))))?;
    Ok(share)
}

/// Shares received from partners ("shared with me").
#[utoipa::path(get, path = "/v1/received", operation_id = "list_received_shares", tag = "sharing", params(ReceivedQuery), responses((status = 200, body = [ReceivedView]), (status = 400, body = ErrorBody)))]
pub async fn received(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ReceivedQuery>,
) -> ApiResult<Json<Vec<ReceivedView>>> {
    let mode = match q.mode.as_deref() {
        None => None,
        Some("copy") => Some(ShareMode::Copy),
        Some("access") => Some(ShareMode::Access),
        Some(other) => {
            return Err(ApiError::bad_request(format!(
                "mode {other:?}: expected copy or access"
            )));
        }
    };
    let e = &state.sharing;
    let mut out = Vec::new();
    for s in e.received()? {
        if mode.is_some_and(|m| m != s.mode) {
            continue;
        }
        // Only what the caller may see (issue #12): named recipients, whoever sees the copy,
        // administrators.
        if caller.may_see_received(&state, &s)? {
            out.push(ReceivedView::of(e, s)?);
        }
    }
    Ok(Json(out))
}

/// Import details of a received share (by share id or by the local copy's case id).
#[utoipa::path(get, path = "/v1/received/{share}", operation_id = "get_received_share", tag = "sharing",
    params(("share" = String, Path, description = "share id or local case id")),
    responses((status = 200, body = ReceivedView), (status = 404, body = ErrorBody)))]
pub async fn received_one(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
) -> ApiResult<Json<ReceivedView>> {
    let share = caller.received(&state, &share)?;
    Ok(Json(ReceivedView::of(&state.sharing, share)?))
}

/// One update available for a received case: a field whose value at the sharer changed.
#[derive(Debug, Serialize, ToSchema)]
pub struct UpdateView {
    /// Field path, e.g. `case/title` or `evidence/<sharer evidence id>/name` (use it to select).
    pub field: String,
    /// `case` or `evidence` (the Case tab or the Evidence tab).
    pub tab: String,
    /// The copy's current value.
    pub current: String,
    /// The sharer's value.
    pub proposed: String,
}

impl From<casemesh_meta::FieldUpdate> for UpdateView {
    fn from(u: casemesh_meta::FieldUpdate) -> Self {
        UpdateView {
            field: u.field_ref().to_string(),
            tab: match u.target {
                casemesh_meta::Target::Case => "case".into(),
                casemesh_meta::Target::Evidence(_) => "evidence".into(),
            },
            current: u.current,
            proposed: u.proposed,
        }
    }
}

/// Body of `POST /v1/received/{share}/updates/apply`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct ApplyUpdates {
    /// Field paths to apply (from the updates list).
    #[serde(default)]
    pub fields: Vec<String>,
    /// Apply every available update.
    #[serde(default)]
    pub all: bool,
}

/// Updates available for a received case (case-level fields and evidence metadata).
#[utoipa::path(get, path = "/v1/received/{share}/updates", operation_id = "list_received_updates", tag = "sharing",
    params(("share" = String, Path, description = "share id or local case id")),
    responses((status = 200, body = [UpdateView]), (status = 404, body = ErrorBody)))]
pub async fn updates(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
) -> ApiResult<Json<Vec<UpdateView>>> {
    let share = caller.received(&state, &share)?.id.to_string();
    Ok(Json(
        state
            .sharing
            .updates(&share)?
            .into_iter()
            .map(UpdateView::from)
            .collect(),
    ))
}

/// Apply selected (or all) updates to the copy, where the sharing policy allows it.
#[utoipa::path(post, path = "/v1/received/{share}/updates/apply", operation_id = "apply_received_updates", request_body = ApplyUpdates, tag = "sharing",
    params(("share" = String, Path, description = "share id or local case id")),
    responses((status = 200, body = [UpdateView]), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn apply_updates(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
    Json(req): Json<ApplyUpdates>,
) -> ApiResult<Json<Vec<UpdateView>>> {
    caller.require(&state, Action::EditCase)?;
    let share = caller.received(&state, &share)?.id.to_string();
    let done = state
        .sharing
        .apply_updates(&caller.actor(&state), &share, &req.fields, req.all)?;
    Ok(Json(done.into_iter().map(UpdateView::from).collect()))
}

/// Share a received case onward to another partner organization.
#[derive(Debug, Deserialize, ToSchema)]
pub struct OnwardShare {
    /// Partner name or org id.
    pub partner: String,
    /// Recipients in that organization (`user:…`, `group:…`, `email:…`, `badge:…`).
    pub to: Vec<String>,
    /// Optional message.
    pub message: Option<String>,
}

/// Share a received case onward to another partner (seed: "Onward sharing of a received
/// case"): the grant is a child of the received grant, within its scope, policy and expiry; the
/// organization the case came from is told. Refused (403) when the sharing policy does not
/// allow `share_onward` and `share_onward_external`, the share was stopped, or the chain would
/// be too long. To share inside this organization, use `POST /v1/cases/{copy}/access`.
#[utoipa::path(post, path = "/v1/received/{share}/share", operation_id = "share_received_onward", request_body = OnwardShare, tag = "sharing",
    params(("share" = String, Path, description = "received share id, or the local copy's case id")),
    responses((status = 201, body = ShareView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn share_onward(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
    Json(req): Json<OnwardShare>,
) -> ApiResult<(StatusCode, Json<ShareView>)> {
    caller.require(&state, Action::ShareByCopy)?;
    let received = caller.received(&state, &share)?;
    let share = state.sharing.share_onward(
        &caller.actor(&state),
        &casemesh_sharing::OnwardRequest {
            received: received.id.to_string(),
            partner: req.partner,
            recipients: parse_recipients(&req.to)?,
            message: req.message,
        },
    )?;
    Ok((StatusCode::CREATED, Json(share.into())))
}

/// Import a received share (creates the local copy; needed when auto-import is off).
#[utoipa::path(post, path = "/v1/received/{share}/import", operation_id = "import_received_share", tag = "sharing",
    params(("share" = String, Path, description = "share id")),
    responses((status = 200, body = ReceivedView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn import(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
) -> ApiResult<Json<ReceivedView>> {
    caller.require(&state, Action::EditCase)?;
    let share = caller.received(&state, &share)?.id.to_string();
    let e = &state.sharing;
    Ok(Json(ReceivedView::of(e, e.import(&share)?)?))
}

/// Query of `GET /v1/received`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
#[into_params(parameter_in = Query)]
pub struct ReceivedQuery {
    /// Only shares of this mode: `copy` or `access`.
    pub mode: Option<String>,
}

/// An item of a received share as the sharer last sent it.
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceivedItemView {
    /// The sharer's evidence id (name it to `received get`).
    pub id: String,
    /// Name.
    pub name: String,
    /// Display id.
    pub display_id: String,
    /// Description.
    pub description: String,
    /// Folder path at the sharer; `null` = the root.
    pub folder: Option<String>,
    /// BLAKE3 of the bytes (hex).
    pub hash: String,
    /// Bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
}

/// What a received share holds: the sharer's current version as last sent (`received view`).
#[derive(Debug, Serialize, ToSchema)]
pub struct ReceivedContentsView {
    /// Share id.
    pub share: String,
    /// `copy` or `access`.
    pub mode: String,
    /// The shared folders' paths (only the folders the share covers and their ancestors).
    pub folders: Vec<String>,
    /// The items.
    pub evidence: Vec<ReceivedItemView>,
}

/// The folders and items of a received share (refused when the share was stopped or its policy
/// lacks `view`). The sharer's audit trail records the view with this user's name.
#[utoipa::path(get, path = "/v1/received/{share}/contents", operation_id = "view_received_share", tag = "sharing",
    params(("share" = String, Path, description = "share id or local case id")),
    responses((status = 200, body = ReceivedContentsView), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn received_contents(
    State(state): State<AppState>,
    caller: Caller,
    Path(share): Path<String>,
) -> ApiResult<Json<ReceivedContentsView>> {
    let share = caller.received(&state, &share)?;
    let c = state
        .sharing
        .received_view(share.id, &caller.actor(&state).name)
        .await?;
    Ok(Json(ReceivedContentsView {
        share: c.share.to_string(),
        mode: format!("{:?}", c.mode).to_lowercase(),
        folders: c.folders.into_iter().map(|(_, p)| p).collect(),
        evidence: c
            .evidence
            .into_iter()
            .map(|e| ReceivedItemView {
                id: e.id.to_string(),
                name: e.name,
                display_id: e.display_id,
                description: e.description,
                folder: e.folder,
                hash: e.hash.to_string(),
                size: e.size,
                media_type: e.media_type,
            })
            .collect(),
    }))
}

/// Download an item of a received share, fetched on demand from the sharer under the grant and
/// verified against its hash; nothing is kept here. Refused when the share was stopped or its
/// policy lacks `download` (here, and again by the sharer). The sharer's audit trail records
/// the download with this user's name.
#[utoipa::path(get, path = "/v1/received/{share}/evidence/{evidence}/content", operation_id = "get_received_evidence_content", tag = "sharing",
    params(("share" = String, Path, description = "share id or local case id"), ("evidence" = String, Path, description = "the sharer's evidence id, display id or name")),
    responses((status = 200, content_type = "application/octet-stream", body = Vec<u8>), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn received_content(
    State(state): State<AppState>,
    caller: Caller,
    Path((share, evidence)): Path<(String, String)>,
) -> ApiResult<axum::response::Response> {
    use axum::http::header;
    use axum::response::IntoResponse;
    let share = caller.received(&state, &share)?;
    let fetched = state
        .sharing
        .received_get(share.id, &evidence, &caller.actor(&state).name)
        .await?;
    let stream = tokio_util::io::ReaderStream::with_capacity(
        tokio::fs::File::from_std(fetched.file),
        1 << 20,
    );
    let disposition = format!(
        "attachment; filename=\"{}\"",
        fetched.entry.name.replace(['"', '\\'], "_")
    );
    Ok((
        [
            (header::CONTENT_TYPE, fetched.entry.media_type.clone()),
            (header::CONTENT_LENGTH, fetched.entry.size.to_string()),
            (header::CONTENT_DISPOSITION, disposition),
            (
                header::HeaderName::from_static("x-blake3"),
                fetched.entry.hash.to_string(),
            ),
        ],
        axum::body::Body::from_stream(stream),
    )
        .into_response())
}
