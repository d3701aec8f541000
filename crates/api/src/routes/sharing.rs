//! Federation and sharing routes: this node's id, partners, sharing policies, the peers view,
//! partner shares (create, status, add recipients, stop) and shares received from partners
//! (list, import details, import).
//!
//! Adapters only: extract the request, call the use case of `node.partners()`, `node.shares()`,
//! `node.received()` or `node.access()` (which checks the caller), map the answer to its view
//! and the error to HTTP (`crate::error`). No handler reaches the sharing engine.

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::Json;
use crate::extract::{Path, Query};
use crate::state::AppState;
use axum::extract::State;
use axum::http::StatusCode;
pub use casemesh_api_types::sharing::{
    AccessEntry, AddPartner, AddRecipients, CreateShare, DirectoryEntryView, DirectoryParams,
    EditPartner, HopView, IdView, InsideShareView, InsideStopView, OnwardShare, PartnerView,
    PolicyView, PutPolicy, ReceiptView, ReceivedContentsView, ReceivedItemView, ReceivedQuery,
    ReceivedView, RecipientView, RefusedRecipientView, ShareInside, ShareView, SkippedView,
    StopAckView,
};
use casemesh_model::access::Principal;
use casemesh_service::shares::parse_share_id;
use casemesh_service::{Holder, ReceivedShare, ShareDetail};
use casemesh_service::{NewPartner, NewPolicy, OnwardShare as NewOnwardShare, PartnerEdit};

/// How the handlers build a [`ReceivedView`] (a trait because the view's type lives in
/// `casemesh-api-types`, which does not know the service).
trait ReceivedViewOf: Sized {
    /// The view of a received share, with the items it skipped.
    fn of(s: ReceivedShare) -> Self;
}

impl ReceivedViewOf for ReceivedView {
    /// The view of a received share, with the items it skipped as the caller may see them.
    fn of(ReceivedShare { share: s, skipped }: ReceivedShare) -> Self {
        let skipped = skipped
            .into_iter()
            .map(|(id, item)| SkippedView {
                evidence: id,
                name: item.name,
                reason: item.reason,
            })
            .collect();
        let grant = s.signed_grant();
        ReceivedView {
            id: s.id,
            status: s.status_text().to_owned(),
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
                .map(|g| g.grant.mode.as_str().to_owned())
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
            local_case: s.local_case,
            last_error: s.last_error.clone(),
            skipped,
        }
    }
}

/// This node's PeerId and listen addresses.
#[utoipa::path(get, path = "/v1/id", operation_id = "get_node_id", tag = "federation", responses((status = 200, body = IdView), (status = 503, body = ErrorBody)))]
pub async fn id(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<IdView>> {
    let me = state.node.partners().identity(&caller).await?;
    Ok(Json(IdView {
        peer_id: me.peer_id,
        addrs: me.addrs,
    }))
}

/// List partners.
#[utoipa::path(get, path = "/v1/partners", operation_id = "list_partners", tag = "federation", responses((status = 200, body = [PartnerView])))]
pub async fn partners(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<PartnerView>>> {
    Ok(Json(
        state
            .node
            .partners()
            .list(&caller)?
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
    let new = NewPartner {
        name: req.name,
        peer_id: casemesh_sharing::parse_org(req.peer_id.as_str())?,
        addrs: req.addrs,
        policy: req.policy,
    };
    let p = state.node.partners().add(&caller, &new).await?;
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
    let edit = PartnerEdit {
        name: req.name,
        addrs: req.addrs,
        policy: req.policy,
    };
    let p = state.node.partners().edit(&caller, &partner, &edit).await?;
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
    Ok(Json(
        state
            .node
            .partners()
            .remove(&caller, &partner)
            .await?
            .into(),
    ))
}

/// Look up users and groups in a partner's directory (type-ahead for recipients); the partner
/// answers only if it shares its directory.
#[utoipa::path(get, path = "/v1/partners/{partner}/directory", operation_id = "get_partner_directory", tag = "federation",
    params(("partner" = String, Path, description = "partner name or PeerId"), DirectoryParams),
    responses((status = 200, body = [DirectoryEntryView]), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn directory(
    State(state): State<AppState>,
    caller: Caller,
    Path(partner): Path<String>,
    Query(q): Query<DirectoryParams>,
) -> ApiResult<Json<Vec<DirectoryEntryView>>> {
    Ok(Json(
        state
            .node
            .partners()
            .directory(&caller, &partner, &q.q)
            .await?
            .into_iter()
            .map(DirectoryEntryView::from)
            .collect(),
    ))
}

/// List sharing policies.
#[utoipa::path(get, path = "/v1/policies", operation_id = "list_policies", tag = "federation", responses((status = 200, body = [PolicyView])))]
pub async fn policies(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<PolicyView>>> {
    Ok(Json(
        state
            .node
            .partners()
            .policies(&caller)?
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
    let new = NewPolicy {
        name: req.name,
        allow: req.allow,
        data: req.data,
        two_person_approval: req.two_person_approval,
    };
    let p = state.node.partners().put_policy(&caller, &new)?;
    Ok((StatusCode::CREATED, Json(PolicyView::from(&p))))
}

/// One sharing policy, read only (what a sharer reviews before sharing with a partner that has
/// it: seed 002, "select View next to their name to review their sharing policy").
#[utoipa::path(get, path = "/v1/policies/{name}", operation_id = "get_policy", tag = "federation",
    params(("name" = String, Path, description = "Policy name")),
    responses((status = 200, body = PolicyView), (status = 404, body = ErrorBody)))]
pub async fn policy(
    State(state): State<AppState>,
    caller: Caller,
    Path(name): Path<String>,
) -> ApiResult<Json<PolicyView>> {
    Ok(Json(PolicyView::from(
        &state.node.partners().policy(&caller, &name)?,
    )))
}

/// The operator view of every partner: connection, addresses, last seen, round-trip time,
/// protocol versions, traffic, transfers in flight, queued outbox messages.
#[utoipa::path(get, path = "/v1/peers", operation_id = "list_peers", tag = "federation", responses((status = 200, body = Vec<casemesh_api_types::PeerView>), (status = 403, body = ErrorBody)))]
pub async fn peers(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<casemesh_api_types::PeerView>>> {
    let peers = state.node.partners().peers(&caller).await?;
    Ok(Json(peers.into_iter().map(Into::into).collect()))
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
    let new = casemesh_service::NewShare {
        partner: req.partner,
        to: req.to,
        folders: req.folders,
        evidence: req.evidence,
        message: req.message,
        mode: req.mode,
    };
    let share = state.node.shares().create(&caller, &case, &new)?;
    Ok((StatusCode::CREATED, Json(share.into())))
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
    let (done, to) = state.node.access().share(
        &caller,
        &case,
        &req.to,
        req.folders,
        req.evidence,
        req.message,
    )?;
    let scope = match done.entries.first().map(|e| &e.scope) {
        Some(casemesh_model::grant::Scope::Folders(_)) => "folders",
        Some(casemesh_model::grant::Scope::Evidence(_)) => "evidence",
        _ => "entire_case",
    };
    Ok((
        StatusCode::CREATED,
        Json(InsideShareView {
            id: done.id,
            case: done.case,
            scope: scope.into(),
            to: to.iter().map(casemesh_sharing::recipients::label).collect(),
            notified: done.notified,
        }),
    ))
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
    let id = casemesh_service::access::parse_share_id(&share)?;
    let (id, done) = state.node.access().stop(&caller, id)?;
    Ok(Json(InsideStopView {
        id,
        case: done.case,
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
    Ok(Json(
        state
            .node
            .shares()
            .of_case(&caller, &case)?
            .into_iter()
            .map(ShareView::from)
            .collect(),
    ))
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
    let casemesh_service::CaseAccess {
        case,
        owner,
        entries,
        partner_shares,
    } = state.node.cases().access(&caller, &case)?;
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
    for inside in entries {
        let (kind, who, full_name) = match (&inside.holder, inside.entry.principal) {
            (Some(Holder::User(u)), _) => ("user", u.username.clone(), Some(u.full_name.clone())),
            (Some(Holder::Group(g)), _) => ("group", g.name.clone(), Some(g.name.clone())),
            (None, Principal::User(u)) => ("user", u.to_string(), None),
            (None, Principal::Group(g)) => ("group", g.to_string(), None),
        };
        out.push(AccessEntry {
            kind: kind.into(),
            who,
            full_name,
            organization: state.org.name.clone(),
            share: inside.entry.share,
            status: "Access".into(),
            refused: None,
        });
    }
    // Partner agencies: every recipient of every share that is not stopped.
    for s in partner_shares {
        for r in &s.recipients {
            let text = casemesh_sharing::recipient_label(&r.recipient);
            let (kind, who) = text.split_once(':').unwrap_or(("user", &text));
            out.push(AccessEntry {
                kind: kind.into(),
                who: who.into(),
                full_name: None,
                organization: s.partner_name.clone(),
                share: Some(s.id),
                status: s.status.as_str().to_owned(),
                refused: s
                    .refused_recipients
                    .iter()
                    .find(|x| x.recipient == r.recipient)
                    .map(|x| x.reason.clone()),
            });
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
    let ShareDetail {
        share,
        receipt_roots: roots,
    } = state.node.shares().get(&caller, parse_share_id(&share)?)?;
    let mut view = ShareView::from(share);
    if let (Some(receipt), Some(roots)) = (view.receipt.as_mut(), roots) {
        receipt.evidence = Some(roots.iter().map(|(id, _)| *id).collect());
        receipt.roots = Some(roots.iter().map(|(_, root)| *root).collect());
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
    let s = state.node.shares().add_recipients(
        &caller,
        parse_share_id(&share)?,
        &req.to,
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
    let shares = state.node.shares();
    let id = shares.approve_id(&caller, &share)?;
    Ok(Json(shares.approve(&caller, id)?.into()))
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
    let id = parse_share_id(&share)?;
    Ok(Json(state.node.shares().stop(&caller, id)?.into()))
}

/// Shares received from partners ("shared with me").
#[utoipa::path(get, path = "/v1/received", operation_id = "list_received_shares", tag = "sharing", params(ReceivedQuery), responses((status = 200, body = [ReceivedView]), (status = 400, body = ErrorBody)))]
pub async fn received(
    State(state): State<AppState>,
    caller: Caller,
    Query(q): Query<ReceivedQuery>,
) -> ApiResult<Json<Vec<ReceivedView>>> {
    let mode = q
        .mode
        .as_deref()
        .map(casemesh_service::parse_mode)
        .transpose()?;
    Ok(Json(
        state
            .node
            .received()
            .list(&caller, mode)?
            .into_iter()
            .map(ReceivedView::of)
            .collect(),
    ))
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
    Ok(Json(ReceivedView::of(
        state.node.received().show(&caller, &share)?,
    )))
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
    let onward = NewOnwardShare {
        partner: req.partner,
        to: req.to,
        message: req.message,
    };
    let share = state
        .node
        .received()
        .share_onward(&caller, &share, &onward)?;
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
    Ok(Json(ReceivedView::of(
        state.node.received().import(&caller, &share)?,
    )))
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
    let c = state.node.received().contents(&caller, &share).await?;
    Ok(Json(ReceivedContentsView {
        share: c.share,
        mode: c.mode.as_str().to_owned(),
        folders: c.folders.into_iter().map(|(_, p)| p).collect(),
        evidence: c
            .evidence
            .into_iter()
            .map(|e| ReceivedItemView {
                id: e.id,
                name: e.name,
                display_id: e.display_id,
                description: e.description,
                folder: e.folder,
                hash: e.hash,
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
    let fetched = state
        .node
        .received()
        .content(&caller, &share, &evidence)
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

#[cfg(test)]
mod tests {
    use super::DirectoryEntryView;
    use casemesh_sharing::directory::DirectoryEntry;

    /// The directory answer is the partner's entries, field for field: the API's JSON did not
    /// change when the answer got its own type.
    #[test]
    fn a_directory_entry_keeps_its_json() {
        let user = DirectoryEntry {
            kind: "user".into(),
            name: "ada".into(),
            full_name: Some("Ada Lovelace".into()),
            email: Some("ada@prosecutor.example".into()),
            badge_id: None,
        };
        let group = DirectoryEntry {
            kind: "group".into(),
            name: "Detectives".into(),
            full_name: None,
            email: None,
            badge_id: None,
        };
        for e in [user, group] {
            let wire = serde_json::to_string(&e).unwrap();
            let view = serde_json::to_string(&DirectoryEntryView::from(e)).unwrap();
            assert_eq!(view, wire);
        }
        assert_eq!(
            serde_json::to_string(&DirectoryEntryView::from(DirectoryEntry {
                kind: "user".into(),
                name: "bob".into(),
                full_name: None,
                email: None,
                badge_id: Some("B-1".into()),
            }))
            .unwrap(),
            r#"{"kind":"user","name":"bob","full_name":null,"email":null,"badge_id":"B-1"}"#
        );
    }
}
