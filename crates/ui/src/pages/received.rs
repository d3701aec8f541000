//! The receiving side (issue #17; seed 002 "Onward sharing of a received case", "Check for and
//! apply updates"): the received shares listed under "Shared with me" (imported or waiting for
//! Import), the **Import Details** page (sender, partner organization, recipients with "Edit" to
//! add recipients onward when the policy allows, received on, access level, sharing policy,
//! "Updates available" → Review, "Import", "View" of the sharer's version) and the **Review
//! updates** page ("Case" and "Evidence" tabs, a checkbox per update and a select-all, "Apply
//! Changes", "Dismiss", updates the policy forbids shown disabled with the reason).
//!
//! Every handler calls a use case of `node.received()` (`list`, `show`, `import`, `contents`,
//! `content`, `share_onward`, `updates`, `apply_updates`, `dismiss_updates`, `meta`) or, to add
//! recipients inside the agency, `node.access().share` — the same calls as the JSON API's
//! `/v1/received/*` and `/v1/cases/{case}/access`, so who sees what, the permissions and the
//! sharer's policy are checked there and only there. A share the user may not see answers 404,
//! exactly like a missing one.
//!
//! Forms are POST-redirect-GET: the outcome (done, or the refusal's message) is kept in the
//! session for the next page ([`FLASH_KEY`]), never put in the URL, so no page reflects URL text.

use super::{Layout, human_size, render, when};
use crate::UiState;
use crate::error::UiError;
use crate::session::SignedIn;
use askama::Template;
use axum::Form;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::header;
use axum::response::{IntoResponse, Redirect, Response};
use casemesh_model::grant::ShareMode;
use casemesh_model::policy::{PolicyAction, SharedData, SharingPolicy};
use casemesh_service::{AccessError, ApplyChoice, OnwardShare, ReceivedError, ReceivedShare};
use casemesh_sharing::records::{IncomingShare, ReceivedStatus};
use tower_sessions::Session;

/// The session key of the one-time outcome of the last form (`(is_error, message)`).
pub const FLASH_KEY: &str = "received.flash";
/// Longest flash message kept in the session, in characters (a refusal's message is short; this
/// bounds the session's size whatever an error says).
pub const FLASH_MAX_CHARS: usize = 500;

// ---------------------------------------------------------------------------------------------
// Errors and the flash message.

/// A refused or failed received-share use case as a UI error: the status follows the error's
/// [`Disposition`] as in [`crate::error`] (a missing permission, part-only access or the
/// sharer's policy → 403).
fn ui_error(e: ReceivedError) -> UiError {
    UiError::of(&e)
}

/// An inside share's refusal as a UI error.
fn access_error(e: AccessError) -> UiError {
    UiError::of(&e)
}

/// The outcome of a form, shown once on the next page.
#[derive(Debug, Clone, Default, serde::Serialize, serde::Deserialize)]
pub struct Flash {
    /// A refusal (shown as an alert) rather than a success notice.
    pub error: bool,
    /// The text (escaped when shown).
    pub message: String,
}

/// Keep `message` for the next page of this session.
async fn flash(session: &Session, error: bool, message: &str) {
    let message: String = message.chars().take(FLASH_MAX_CHARS).collect();
    if let Err(e) = session.insert(FLASH_KEY, Flash { error, message }).await {
        tracing::warn!(error = %e, "could not keep a form's outcome in the session");
    }
}

/// The message kept for this page, taken (shown once).
async fn take_flash(session: &Session) -> Option<Flash> {
    session.remove::<Flash>(FLASH_KEY).await.ok().flatten()
}

/// After a form: `303` to `to` with the outcome in the session. A refusal or a retry (4xx, 503)
/// becomes the message on the next page; a share the user may not see answers its 404 page
/// here, and an internal fault stays an error page (its detail goes to the log).
async fn after(session: &Session, to: &str, outcome: Result<String, UiError>) -> Response {
    match outcome {
        Ok(done) => flash(session, false, &done).await,
        Err(e)
            if matches!(
                e.disposition(),
                casemesh_service::Disposition::NotFound | casemesh_service::Disposition::Internal
            ) =>
        {
            return e.into_response();
        }
        Err(e) => flash(session, true, &e.to_string()).await,
    }
    Redirect::to(to).into_response()
}

/// A received-share page's start: the message kept for it (taken first: a message is shown
/// once, or dropped with a page the user may not see) and share `reference` as
/// `node.received().show` lets the user see it.
async fn flash_and_share(
    state: &UiState,
    who: &SignedIn,
    session: &Session,
    reference: &str,
) -> Result<(Option<Flash>, ReceivedShare), UiError> {
    let flash = take_flash(session).await;
    let shown = state
        .node
        .received()
        .show(&who.caller, reference)
        .map_err(ui_error)?;
    Ok((flash, shown))
}

/// `/ui/received/{id}`: a received share's Import Details page.
fn details_url(id: &str) -> String {
    format!("/ui/received/{id}")
}

// ---------------------------------------------------------------------------------------------
// Shared with me: the received shares.

/// One received share in the "Shared with me" list.
pub struct InboxRow {
    /// The share id (the Import Details page).
    pub id: String,
    /// Case ID at the sharer.
    pub case_number: String,
    /// Title at the sharer.
    pub title: String,
    /// The sharing organization's name.
    pub from: String,
    /// When it arrived (`YYYY-MM-DD HH:MM UTC`).
    pub received: String,
    /// `Copy` or `Access`.
    pub access_level: &'static str,
    /// What the user reads as the share's state ([`status_label`]).
    pub status: &'static str,
    /// A CSS class for the state.
    pub status_class: &'static str,
    /// The local copy's record id, once imported.
    pub local_case: Option<String>,
}

/// The received shares `who` may see (`node.received().list`), newest first, those whose Case
/// ID or title matches `query` (case-insensitive substring; empty matches all).
pub fn inbox(state: &UiState, who: &SignedIn, query: &str) -> Result<Vec<InboxRow>, UiError> {
    let q = query.trim().to_lowercase();
    let mut rows: Vec<InboxRow> = state
        .node
        .received()
        .list(&who.caller, None)
        .map_err(ui_error)?
        .into_iter()
        .map(|r| r.share)
        .filter(|s| {
            q.is_empty()
                || s.head.case_number.to_lowercase().contains(&q)
                || s.head.title.to_lowercase().contains(&q)
        })
        .map(|s| {
            let (status, status_class) = status_label(&s);
            InboxRow {
                id: s.id.to_string(),
                case_number: s.head.case_number.clone(),
                title: s.head.title.clone(),
                from: s.sharer_name.clone(),
                received: when(s.received_at),
                access_level: mode_label(s.mode),
                status,
                status_class,
                local_case: s.local_case.map(|c| c.to_string()),
            }
        })
        .collect();
    rows.reverse();
    Ok(rows)
}

/// The state of a received share as the user reads it, with a CSS class.
pub fn status_label(s: &IncomingShare) -> (&'static str, &'static str) {
    match (s.status, s.mode) {
        (ReceivedStatus::Pending, ShareMode::Access) => ("Open in the sharer's system", "complete"),
        (ReceivedStatus::Pending, ShareMode::Copy) => ("Waiting for import", "processing"),
        (ReceivedStatus::Importing, _) => ("Importing", "processing"),
        (ReceivedStatus::Imported, _) => ("Imported", "complete"),
        (ReceivedStatus::Stopped, _) => ("Stopped by the sharer", "stopped"),
    }
}

fn mode_label(mode: ShareMode) -> &'static str {
    match mode {
        ShareMode::Copy => "Copy",
        ShareMode::Access => "Access",
    }
}

// ---------------------------------------------------------------------------------------------
// Import Details.

/// A partner agency the case may be shared onward to.
struct PartnerOption {
    id: String,
    name: String,
}

#[derive(Template)]
#[template(path = "received.html")]
struct DetailsPage {
    layout: Layout,
    flash: Option<Flash>,
    id: String,
    case_number: String,
    title: String,
    description: String,
    sender: String,
    sender_id: String,
    /// For an onward share: the organization the case originally came from (its org id).
    origin: Option<String>,
    partner_org: String,
    recipients: Vec<String>,
    /// Recipients this organization added onward (inside, or at another partner agency).
    added: Vec<String>,
    received_on: String,
    access_level: &'static str,
    access_hint: &'static str,
    status: &'static str,
    status_class: &'static str,
    policy_name: String,
    policy_allows: Vec<&'static str>,
    policy_data: Vec<&'static str>,
    message: Option<String>,
    items: u64,
    items_imported: u64,
    last_error: Option<String>,
    skipped: Vec<(String, String)>,
    local_case: Option<String>,
    may_import: bool,
    /// The policy allows onward sharing (inside or to another partner) and the case is here.
    may_edit: bool,
    /// Why "Edit" is not offered, when the policy allows it but the case is not imported.
    edit_hint: Option<&'static str>,
    inside_allowed: bool,
    partners: Vec<PartnerOption>,
    may_view: bool,
    /// `Some(n)`: n updates available (the caller sees the whole share); `None`: no review.
    updates: Option<usize>,
}

/// What the user reads for each policy action.
fn action_label(a: PolicyAction) -> &'static str {
    match a {
        PolicyAction::View => "View",
        PolicyAction::Download => "Download",
        PolicyAction::Import => "Import (copy)",
        PolicyAction::ReceiveUpdates => "Receive new evidence",
        PolicyAction::ApplyCaseUpdates => "Apply case updates",
        PolicyAction::ApplyEvidenceUpdates => "Apply evidence updates",
        PolicyAction::ShareOnward => "Share onward inside the agency",
        PolicyAction::ShareOnwardExternal => "Share onward to partner agencies",
        PolicyAction::EditMetadata => "Edit case information",
    }
}

fn data_label(d: SharedData) -> &'static str {
    match d {
        SharedData::CaseNumber => "Case ID",
        SharedData::CaseTitle => "Case title",
        SharedData::CaseDescription => "Case description",
        SharedData::EvidenceName => "Evidence names",
        SharedData::EvidenceDisplayId => "Evidence IDs",
        SharedData::EvidenceDescription => "Evidence descriptions",
        SharedData::Transcripts => "Transcripts",
    }
}

/// `GET /ui/received/{share}`: Import Details of a received share (by share id, or the local
/// copy's record id or Case ID), as `node.received().show` lets the user see it.
pub async fn details(
    State(state): State<UiState>,
    who: SignedIn,
    session: Session,
    Path(reference): Path<String>,
) -> Result<Response, UiError> {
    let (flash, shown) = flash_and_share(&state, &who, &session, &reference).await?;
    let node = &state.node;
    let s = &shown.share;
    let id = s.id.to_string();
    // The grant the share is held under, read only to show its mode, policy and message (the
    // engine checks it again on every use).
    let grant = s.signed_grant();
    let policy = grant
        .as_ref()
        .map(|g| g.grant.policy.clone())
        .unwrap_or_else(|| SharingPolicy::new("", []));
    let allows = |a: PolicyAction| policy.allowed.contains(&a);
    let (status, status_class) = status_label(s);
    let stopped = s.status == ReceivedStatus::Stopped;
    let local_case = s.local_case.map(|c| c.to_string());
    // The review needs the whole share (a recipient added later sees only part of it).
    let updates = match node.received().updates(&who.caller, &id) {
        Ok(rows) => Some(rows.len()),
        Err(e) => {
            tracing::debug!(share = %id, error = %e, "no updates review for this user");
            None
        }
    };
    let onward_allowed =
        allows(PolicyAction::ShareOnward) || allows(PolicyAction::ShareOnwardExternal);
    let may_add = onward_allowed && !stopped && local_case.is_some() && updates.is_some();
    let edit_hint = (onward_allowed && !stopped && local_case.is_none())
        .then_some("Import the case first to add recipients.");
    // Partner agencies to share onward to: every partner but the one the case came from.
    let partners: Vec<PartnerOption> = if may_add && allows(PolicyAction::ShareOnwardExternal) {
        node.partners()
            .list(&who.caller)
            .map(|ps| {
                ps.into_iter()
                    .filter(|p| p.peer_id != s.sharer)
                    .map(|p| PartnerOption {
                        id: p.peer_id.to_string(),
                        name: p.name,
                    })
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
    let may_edit = may_add && (allows(PolicyAction::ShareOnward) || !partners.is_empty());
    let added = match &local_case {
        Some(copy) if updates.is_some() => added_recipients(&state, &who, copy),
        _ => Vec::new(),
    };
    let mut layout = Layout::new(&state, &who, "shared");
    if let Some(f) = &flash
        && !f.error
    {
        layout.notice = Some(f.message.clone());
    }
    render(&DetailsPage {
        layout,
        flash: flash.filter(|f| f.error),
        case_number: s.head.case_number.clone(),
        title: s.head.title.clone(),
        description: s.head.description.clone(),
        sender: s.sharer_name.clone(),
        sender_id: s.sharer.to_string(),
        origin: grant
            .as_ref()
            .map(|g| &g.root().grant.issuer)
            .filter(|root| **root != s.sharer)
            .map(ToString::to_string),
        partner_org: s.sharer_name.clone(),
        recipients: s
            .recipients
            .iter()
            .map(casemesh_sharing::recipient_label)
            .collect(),
        added,
        received_on: when(s.received_at),
        access_level: mode_label(s.mode),
        access_hint: match s.mode {
            ShareMode::Copy => "a copy of the case for this agency (partner share)",
            ShareMode::Access => "work with the case in the sharer's system (advanced sharing)",
        },
        status,
        status_class,
        policy_name: policy.name.clone(),
        policy_allows: PolicyAction::ALL
            .into_iter()
            .filter(|a| allows(*a))
            .map(action_label)
            .collect(),
        policy_data: policy.data.iter().map(|d| data_label(*d)).collect(),
        message: grant.as_ref().and_then(|g| g.grant.message.clone()),
        items: s.head.items,
        items_imported: s.items_imported,
        last_error: s.last_error.clone(),
        skipped: shown
            .skipped
            .iter()
            .map(|(_, item)| (item.name.clone(), item.reason.clone()))
            .collect(),
        may_import: local_case.is_none()
            && !stopped
            && (s.mode == ShareMode::Copy || allows(PolicyAction::Import)),
        local_case,
        may_edit,
        edit_hint,
        inside_allowed: allows(PolicyAction::ShareOnward),
        partners,
        may_view: !stopped && allows(PolicyAction::View),
        updates,
        id,
    })
}

/// The recipients this organization added to its copy `copy`, from `node.cases().access`: users
/// and groups inside the agency (its access list, the owner left out) and onward shares to other
/// partner agencies. Empty when the user may not see them.
fn added_recipients(state: &UiState, who: &SignedIn, copy: &str) -> Vec<String> {
    let Ok(access) = state.node.cases().access(&who.caller, copy) else {
        return Vec::new();
    };
    let mut out = Vec::new();
    for inside in &access.entries {
        if inside.names_user(access.case.owner) {
            continue;
        }
        let name = match inside.entry.principal {
            casemesh_model::access::Principal::Group(_) => {
                format!("group {}", inside.display_name())
            }
            casemesh_model::access::Principal::User(_) => inside.display_name(),
        };
        out.push(format!("{name} (inside this agency)"));
    }
    for s in &access.partner_shares {
        let names: Vec<String> = s
            .recipients
            .iter()
            .map(|r| casemesh_sharing::recipient_label(&r.recipient))
            .collect();
        out.push(if names.is_empty() {
            format!("{} (partner agency)", s.partner_name)
        } else {
            format!(
                "{} at {} (partner agency)",
                names.join(", "),
                s.partner_name
            )
        });
    }
    out
}

/// `POST /ui/received/{share}/import`: import the share (`node.received().import`: needs Edit
/// Case; refused when the sharer stopped it); `303` back to Import Details.
pub async fn import(
    State(state): State<UiState>,
    who: SignedIn,
    session: Session,
    Path(reference): Path<String>,
) -> Response {
    let outcome = state
        .node
        .received()
        .import(&who.caller, &reference)
        .map(|r| {
            format!(
                "Imported {}: the copy is in Shared with me; its evidence arrives in the background.",
                r.share.head.case_number
            )
        })
        .map_err(ui_error);
    after(&session, &details_url(&reference), outcome).await
}

/// The "Edit" recipients form: who to add, and where.
#[derive(serde::Deserialize)]
pub struct RecipientsForm {
    /// `inside` (users and groups of this agency) or a partner's org id.
    #[serde(default)]
    audience: String,
    /// Recipients separated by commas (user names, `group:NAME`, `email:ADDR`, `badge:ID`).
    #[serde(default)]
    to: String,
    #[serde(default)]
    message: String,
}

/// Recipients typed in one field, separated by commas (or new lines); blanks dropped.
fn split_recipients(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `POST /ui/received/{share}/recipients`: add recipients onward — inside the agency
/// (`node.access().share` on the copy, allowed by the policy's `share_onward`) or at another
/// partner agency (`node.received().share_onward`, a child grant within the received one);
/// `303` back to Import Details with the outcome.
pub async fn add_recipients(
    State(state): State<UiState>,
    who: SignedIn,
    session: Session,
    Path(reference): Path<String>,
    Form(f): Form<RecipientsForm>,
) -> Response {
    let to = split_recipients(&f.to);
    let message = Some(f.message.trim().to_owned()).filter(|m| !m.is_empty());
    let outcome = if to.is_empty() {
        Err(UiError::bad_request(
            "Name at least one recipient (the Recipients field).".into(),
        ))
    } else if f.audience == "inside" {
        add_inside(&state, &who, &reference, &to, message)
    } else {
        state
            .node
            .received()
            .share_onward(
                &who.caller,
                &reference,
                &OnwardShare {
                    partner: f.audience.clone(),
                    to: to.clone(),
                    message,
                },
            )
            .map(|s| format!("Shared with {} at {}.", to.join(", "), s.partner_name))
            .map_err(ui_error)
    };
    after(&session, &details_url(&reference), outcome).await
}

/// Share the copy of received share `reference` with users and groups of this agency.
fn add_inside(
    state: &UiState,
    who: &SignedIn,
    reference: &str,
    to: &[String],
    message: Option<String>,
) -> Result<String, UiError> {
    let shown = state
        .node
        .received()
        .show(&who.caller, reference)
        .map_err(ui_error)?;
    let Some(copy) = shown.share.local_case else {
        return Err(UiError::bad_request(
            "Import the case first to add recipients.".into(),
        ));
    };
    let (_, named) = state
        .node
        .access()
        .share(
            &who.caller,
            &copy.to_string(),
            to,
            Vec::new(),
            Vec::new(),
            message,
        )
        .map_err(access_error)?;
    let names: Vec<String> = named
        .iter()
        .map(casemesh_sharing::recipient_label)
        .collect();
    Ok(format!("Added {}.", names.join(", ")))
}

// ---------------------------------------------------------------------------------------------
// View: the sharer's version.

/// One item of the sharer's version.
struct ExternalItem {
    id: String,
    display_id: String,
    name: String,
    folder: String,
    size: String,
    media_type: String,
    hash: String,
}

#[derive(Template)]
#[template(path = "received_view.html")]
struct ViewPage {
    layout: Layout,
    id: String,
    case_number: String,
    title: String,
    partner_org: String,
    folders: Vec<String>,
    items: Vec<ExternalItem>,
    may_download: bool,
}

/// `GET /ui/received/{share}/view`: the case as the sharer last sent it
/// (`node.received().contents`: refused when the share was stopped or the policy lacks `view`;
/// the sharer's audit trail records the view with the user's name).
pub async fn view(
    State(state): State<UiState>,
    who: SignedIn,
    Path(reference): Path<String>,
) -> Result<Response, UiError> {
    let node = &state.node;
    let shown = node
        .received()
        .show(&who.caller, &reference)
        .map_err(ui_error)?;
    let contents = node
        .received()
        .contents(&who.caller, &reference)
        .await
        .map_err(ui_error)?;
    let s = &shown.share;
    let may_download = s
        .signed_grant()
        .is_some_and(|g| g.grant.policy.allowed.contains(&PolicyAction::Download));
    render(&ViewPage {
        layout: Layout::new(&state, &who, "shared"),
        id: s.id.to_string(),
        case_number: s.head.case_number.clone(),
        title: s.head.title.clone(),
        partner_org: s.sharer_name.clone(),
        folders: contents.folders.into_iter().map(|(_, p)| p).collect(),
        items: contents
            .evidence
            .into_iter()
            .map(|e| ExternalItem {
                id: e.id.to_string(),
                display_id: e.display_id,
                name: e.name,
                folder: e.folder.unwrap_or_else(|| "(case root)".into()),
                size: human_size(e.size),
                media_type: e.media_type,
                hash: e.hash.to_string(),
            })
            .collect(),
        may_download,
    })
}

/// `GET /ui/received/{share}/view/{evidence}`: an item of the sharer's version, fetched from
/// the sharer under the grant and verified against its hash (`node.received().content`:
/// refused when the policy lacks `download`; audited at the sharer), streamed to the browser.
pub async fn view_item(
    State(state): State<UiState>,
    who: SignedIn,
    Path((reference, evidence)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let fetched = state
        .node
        .received()
        .content(&who.caller, &reference, &evidence)
        .await
        .map_err(ui_error)?;
    let stream = tokio_util::io::ReaderStream::with_capacity(
        tokio::fs::File::from_std(fetched.file),
        1 << 20,
    );
    let safe: String = fetched
        .entry
        .name
        .chars()
        .map(|c| {
            if c.is_ascii_alphanumeric() || "._- ".contains(c) {
                c
            } else {
                '_'
            }
        })
        .collect();
    Ok((
        [
            (header::CONTENT_TYPE, fetched.entry.media_type.clone()),
            (header::CONTENT_LENGTH, fetched.entry.size.to_string()),
            (
                header::CONTENT_DISPOSITION,
                format!("attachment; filename=\"{safe}\""),
            ),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

// ---------------------------------------------------------------------------------------------
// Review updates.

/// One update in the review.
struct UpdateRow {
    /// Field path (`case/title`, `evidence/<id>/name`): the checkbox's value.
    field: String,
    /// A DOM id derived from the row's index.
    dom_id: String,
    /// "Title", "Case ID", "Name", …
    label: &'static str,
    /// The evidence item it belongs to (Evidence tab), by its name here.
    item: Option<String>,
    current: String,
    proposed: String,
    allowed: bool,
    reason: Option<String>,
    conflict: bool,
    changed: Option<String>,
}

#[derive(Template)]
#[template(path = "review_updates.html")]
struct ReviewPage {
    layout: Layout,
    flash: Option<Flash>,
    id: String,
    case_number: String,
    partner_org: String,
    /// `case` or `evidence`.
    tab: &'static str,
    case_count: usize,
    evidence_count: usize,
    rows: Vec<UpdateRow>,
    /// Rows that can be ticked (allowed by the policy).
    selectable: usize,
}

/// `?tab=case|evidence` of the review.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ReviewQuery {
    #[serde(default)]
    tab: Option<String>,
}

fn tab_of_path(path: &str) -> &'static str {
    if path.starts_with("evidence/") {
        "evidence"
    } else {
        "case"
    }
}

fn tab_param(tab: Option<&str>) -> &'static str {
    match tab {
        Some("evidence") => "evidence",
        _ => "case",
    }
}

fn field_label(path: &str) -> &'static str {
    match path.rsplit('/').next().unwrap_or_default() {
        "case_number" => "Case ID",
        "title" => "Title",
        "description" => "Description",
        "name" => "Name",
        "display_id" => "Evidence ID",
        _ => "Field",
    }
}

fn review_url(id: &str, tab: &str) -> String {
    format!("/ui/received/{id}/updates?tab={tab}")
}

/// `GET /ui/received/{share}/updates?tab=case|evidence`: the review of updates available
/// (`node.received().updates`: needs the whole share), one tab at a time (without `tab`, the
/// Case tab unless only evidence updates are available).
pub async fn review(
    State(state): State<UiState>,
    who: SignedIn,
    session: Session,
    Path(reference): Path<String>,
    Query(q): Query<ReviewQuery>,
) -> Result<Response, UiError> {
    let (flash, shown) = flash_and_share(&state, &who, &session, &reference).await?;
    let node = &state.node;
    let id = shown.share.id.to_string();
    let all = node
        .received()
        .updates(&who.caller, &id)
        .map_err(ui_error)?;
    // Without a tab: the Case tab, or the Evidence tab when only it has updates.
    let only_evidence = !all.is_empty()
        && all
            .iter()
            .all(|r| tab_of_path(&r.update.field_ref().to_string()) == "evidence");
    let tab = match q.tab.as_deref() {
        None if only_evidence => "evidence",
        given => tab_param(given),
    };
    // Which item an Evidence row is about: its name here when the review holds the item's
    // name update (`current` is the copy's value), else its display id and name as last sent
    // (the sharer's ids key the metadata).
    let meta = node.received().meta(&who.caller, &id).ok().flatten();
    let names_here: std::collections::BTreeMap<String, String> = all
        .iter()
        .filter_map(|r| {
            let path = r.update.field_ref().to_string();
            let item = path.strip_suffix("/name")?.strip_prefix("evidence/")?;
            Some((item.to_owned(), r.update.current.clone()))
        })
        .collect();
    let item_name = |path: &str| -> Option<String> {
        let item = path.split('/').nth(1)?;
        if let Some(here) = names_here.get(item) {
            return Some(here.clone());
        }
        let ev: casemesh_model::ids::EvidenceId = item.parse().ok()?;
        meta.as_ref()?
            .evidence
            .get(&ev)
            .map(|m| format!("{} {}", m.display_id, m.name))
    };
    let case_count = all
        .iter()
        .filter(|r| tab_of_path(&r.update.field_ref().to_string()) == "case")
        .count();
    let evidence_count = all.len() - case_count;
    let rows: Vec<UpdateRow> = all
        .into_iter()
        .map(|r| (r.update.field_ref().to_string(), r))
        .filter(|(path, _)| tab_of_path(path) == tab)
        .enumerate()
        .map(|(i, (path, r))| UpdateRow {
            dom_id: format!("update-{i}"),
            label: field_label(&path),
            item: (tab == "evidence").then(|| item_name(&path)).flatten(),
            current: r.update.current,
            proposed: r.update.proposed,
            allowed: r.allowed,
            reason: r.reason,
            conflict: r.conflict,
            changed: r.changed.map(|s| format!("{}, {}", s.by, when(s.at))),
            field: path,
        })
        .collect();
    let mut layout = Layout::new(&state, &who, "shared");
    if let Some(f) = &flash
        && !f.error
    {
        layout.notice = Some(f.message.clone());
    }
    render(&ReviewPage {
        layout,
        flash: flash.filter(|f| f.error),
        id,
        case_number: shown.share.head.case_number.clone(),
        partner_org: shown.share.sharer_name.clone(),
        tab,
        case_count,
        evidence_count,
        selectable: rows.iter().filter(|r| r.allowed).count(),
        rows,
    })
}

/// `POST /ui/received/{share}/updates`: `action=apply` ("Apply Changes",
/// `node.received().apply_updates`) or `action=dismiss` (`dismiss_updates`) for the ticked
/// `field`s; with none ticked and `select_all`, every update of the `tab` (apply: those the
/// policy allows that are not conflicts, the service's "tab" choice). `303` back to the review.
pub async fn review_submit(
    State(state): State<UiState>,
    who: SignedIn,
    session: Session,
    Path(reference): Path<String>,
    Form(pairs): Form<Vec<(String, String)>>,
) -> Response {
    let value = |k: &str| {
        pairs
            .iter()
            .find(|(key, _)| key == k)
            .map(|(_, v)| v.as_str())
    };
    let tab = tab_param(value("tab"));
    let fields: Vec<String> = pairs
        .iter()
        .filter(|(k, _)| k == "field")
        .map(|(_, v)| v.clone())
        .collect();
    let select_all = value("select_all").is_some();
    let received = state.node.received();
    let outcome = match value("action") {
        Some("apply") => {
            let choice = if !fields.is_empty() {
                Some(ApplyChoice {
                    fields,
                    ..Default::default()
                })
            } else if select_all {
                Some(ApplyChoice {
                    tab: Some(tab.to_owned()),
                    ..Default::default()
                })
            } else {
                None
            };
            match choice {
                None => Err(UiError::bad_request(
                    "Select at least one update to apply.".into(),
                )),
                Some(choice) => received
                    .apply_updates(&who.caller, &reference, &choice)
                    .map(|done| format!("Applied {} update(s).", done.len()))
                    .map_err(ui_error),
            }
        }
        Some("dismiss") => {
            let fields = if fields.is_empty() && select_all {
                received
                    .updates(&who.caller, &reference)
                    .map(|rows| {
                        rows.into_iter()
                            .map(|r| r.update.field_ref().to_string())
                            .filter(|p| tab_of_path(p) == tab)
                            .collect()
                    })
                    .unwrap_or_default()
            } else {
                fields
            };
            if fields.is_empty() {
                Err(UiError::bad_request(
                    "Select at least one update to dismiss.".into(),
                ))
            } else {
                received
                    .dismiss_updates(&who.caller, &reference, &fields)
                    .map(|done| {
                        format!(
                            "Dismissed {} update(s); they show again if the sharer changes them.",
                            done.len()
                        )
                    })
                    .map_err(ui_error)
            }
        }
        _ => Err(UiError::bad_request(
            "Choose Apply Changes or Dismiss.".into(),
        )),
    };
    after(&session, &review_url(&reference, tab), outcome).await
}

#[cfg(test)]
mod tests {
    #[test]
    fn tabs_and_labels_follow_the_field_path() {
        assert_eq!(super::tab_of_path("case/title"), "case");
        assert_eq!(super::tab_of_path("evidence/abc/name"), "evidence");
        assert_eq!(super::field_label("case/case_number"), "Case ID");
        assert_eq!(super::field_label("evidence/abc/display_id"), "Evidence ID");
        assert_eq!(super::tab_param(Some("evidence")), "evidence");
        assert_eq!(super::tab_param(Some("<x>")), "case");
        assert_eq!(super::tab_param(None), "case");
    }

    #[test]
    fn recipients_split_on_commas() {
        assert_eq!(
            super::split_recipients(" bob, group:detectives ,,\nemail:a@b.org "),
            ["bob", "group:detectives", "email:a@b.org"]
        );
    }
}
