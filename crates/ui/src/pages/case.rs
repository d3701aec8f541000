//! Case details: the folders and evidence the user sees (name, size, category, display ID, the
//! BLAKE3 hash on demand), upload of several files with a progress bar, download, the profile
//! icons of everyone with access (owner in green, full name on hover; a click opens the Share
//! dialog's access list), the partner shares with their status, and the "External case" marker
//! with the sharing organization's name.
//!
//! Use cases: `node.cases().show` (what the user sees; audited `case.view`), `.access` (who has
//! access, needs the whole case), `node.shares().of_case` / `node.partners().list` (the
//! use cases of the JSON API's `GET /v1/cases/{case}/shares` and `GET /v1/partners`), `node.evidence().add` and
//! `.content` — the very calls of the API's upload and download, so the rules are the same.
//!
//! Upload: the browser sends each file as the raw request body (`XMLHttpRequest`, whose upload
//! progress events drive the progress bar), with the CSRF token in `X-CSRF-Token`; the body is
//! handed to `node.evidence().add` as a stream, so memory stays flat whatever the file size.

use super::{Layout, human_size, initials, render, when};
use crate::UiState;
use crate::error::UiError;
use crate::session::SignedIn;
use askama::Template;
use axum::body::Body;
use axum::extract::{Path, Query, State};
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use casemesh_model::case::Origin;
use casemesh_model::org::Action;
use casemesh_sharing::records::ShareStatus;

/// A profile icon.
pub(crate) struct Person {
    pub(crate) initials: String,
    pub(crate) full_name: String,
    pub(crate) role: String,
    pub(crate) owner: bool,
    /// A partner agency rather than a person.
    pub(crate) org: bool,
}

/// One evidence row.
struct Item {
    id: String,
    display_id: String,
    name: String,
    category: String,
    size: String,
    added: String,
    hash: String,
}

/// A folder and the items directly in it.
struct Group {
    path: String,
    items: Vec<Item>,
}

/// One partner share of the case.
struct ShareRow {
    partner: String,
    recipients: String,
    scope: String,
    status: &'static str,
    status_class: &'static str,
    by: String,
}

/// A partner agency the case may be shared with.
struct PartnerOption {
    id: String,
    name: String,
    policy: String,
}

#[derive(Template)]
#[template(path = "case.html")]
struct CasePage {
    layout: Layout,
    id: String,
    case_number: String,
    title: String,
    description: String,
    external_from: Option<String>,
    people: Vec<Person>,
    may_share: bool,
    may_upload: bool,
    shares: Vec<ShareRow>,
    /// `"1"` while a share is Processing: the page's script refreshes the share list.
    poll: &'static str,
    partners: Vec<PartnerOption>,
    folder_paths: Vec<String>,
    groups: Vec<Group>,
}

/// `?shared=SHARE`: show a notice after share `SHARE` (its id) was created. The partner's name
/// is looked up from the case's shares, never taken from the URL (a link could otherwise put
/// any text in the notice).
#[derive(Debug, Default, serde::Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    shared: Option<String>,
}

fn status_label(s: ShareStatus) -> (&'static str, &'static str) {
    match s {
        ShareStatus::Processing => ("Processing", "processing"),
        ShareStatus::Complete => ("Complete", "complete"),
        ShareStatus::Stopped => ("Stopped", "stopped"),
        ShareStatus::Failed => ("Failed", "failed"),
        ShareStatus::PendingApproval => ("Waiting for approval", "processing"),
    }
}

fn recipient_text(r: &casemesh_model::grant::Recipient) -> String {
    use casemesh_model::grant::Recipient;
    match r {
        Recipient::User(u) => u.clone(),
        Recipient::Group(g) => format!("group {g}"),
        Recipient::Email(e) => e.clone(),
        Recipient::Badge(b) => format!("badge {b}"),
    }
}

/// `GET /ui/cases/{case}`: the case details page.
pub async fn show(
    State(state): State<UiState>,
    who: SignedIn,
    Path(reference): Path<String>,
    Query(q): Query<ShowQuery>,
) -> Result<Response, UiError> {
    let node = &state.node;
    let detail = node.cases().show(&who.caller, &reference)?;
    let case = &detail.case;
    let external_from = match &case.origin {
        Origin::Received { sharer_name, .. } => Some(sharer_name.clone()),
        Origin::Local => None,
    };
    let Access {
        whole,
        people,
        shares,
        partners,
        poll,
    } = access(
        &state,
        &who,
        &reference,
        case,
        &detail.owner,
        external_from.is_none(),
    )?;
    let may_share = whole && external_from.is_none();
    let may_upload = whole && node.cases().require(&who.caller, Action::EditCase).is_ok();
    // Folders in path order, each with the items directly in it; the root first.
    let mut groups = vec![Group {
        path: "(case root)".into(),
        items: Vec::new(),
    }];
    let mut folder_paths = case.folder_paths();
    folder_paths.sort();
    for p in &folder_paths {
        groups.push(Group {
            path: p.clone(),
            items: Vec::new(),
        });
    }
    for e in &detail.evidence {
        let path = case.path_of(e.folder);
        let at = if path.is_empty() {
            0
        } else {
            folder_paths
                .iter()
                .position(|p| *p == path)
                .map_or(0, |i| i + 1)
        };
        groups[at].items.push(Item {
            id: e.id.to_string(),
            display_id: e.display_id.clone(),
            name: e.name.clone(),
            category: e.category.clone().unwrap_or_default(),
            size: human_size(e.size),
            added: when(e.added_at),
            hash: e.hash.to_string(),
        });
    }
    if groups[0].items.is_empty() {
        groups.remove(0);
    }
    if detail.evidence.is_empty() && folder_paths.is_empty() {
        groups.clear();
    }
    let mut layout = Layout::new(
        &state,
        &who,
        if external_from.is_some() {
            "shared"
        } else {
            "mine"
        },
    );
    if let Some(id) = q.shared.filter(|p| !p.is_empty())
        && may_share
        && let Some(share) = node
            .shares()
            .of_case(&who.caller, &case.id.to_string())?
            .into_iter()
            .find(|s| s.id.to_string() == id)
    {
        layout.notice = Some(format!(
            "Shared with {}. The share shows Processing until the partner agency has every item, then Complete.",
            share.partner_name
        ));
    }
    render(&CasePage {
        layout,
        id: case.id.to_string(),
        case_number: case.case_number.clone(),
        title: case.title.clone(),
        description: case.description.clone(),
        external_from,
        people,
        may_share,
        may_upload,
        shares,
        poll,
        partners,
        folder_paths,
        groups,
    })
}

/// Who has access to a case and its partner shares, as the case page and its refresh show them.
struct Access {
    /// Whether the user sees the whole case (else no access list, no sharing).
    whole: bool,
    people: Vec<Person>,
    shares: Vec<ShareRow>,
    partners: Vec<PartnerOption>,
    poll: &'static str,
}

/// [`Access`] of `case` (named `reference`) for `who`: the owner, the access list
/// (`node.cases().access`, which needs the whole case), and for a `local` case its partner
/// shares and the partners it may be shared with.
fn access(
    state: &UiState,
    who: &SignedIn,
    reference: &str,
    case: &casemesh_model::case::Case,
    owner: &str,
    local: bool,
) -> Result<Access, UiError> {
    // Who has access: only for a user who sees the whole case (the rule of `cases().access`).
    let access = state.node.cases().access(&who.caller, reference).ok();
    let whole = access.is_some();
    let mut people = Vec::new();
    if let Some(a) = &access {
        let owner_name = a
            .owner
            .as_ref()
            .map(|u| u.full_name.clone())
            .unwrap_or_else(|| owner.to_owned());
        people.push(Person {
            initials: initials(&owner_name),
            full_name: owner_name,
            role: "Owner".into(),
            owner: true,
            org: false,
        });
        for (entry, user) in &a.entries {
            // The owner is shown once, as the owner (a received case lists its owner on the
            // access list too).
            if entry.principal == casemesh_model::access::Principal::User(case.owner) {
                continue;
            }
            let name = match (&entry.principal, user) {
                (_, Some(u)) => u.full_name.clone(),
                (casemesh_model::access::Principal::Group(g), None) => who
                    .caller
                    .groups
                    .iter()
                    .find(|x| x.id == *g)
                    .map(|x| format!("{} (group)", x.name))
                    .unwrap_or_else(|| g.to_string()),
                (casemesh_model::access::Principal::User(u), None) => u.to_string(),
            };
            people.push(Person {
                initials: initials(&name),
                full_name: name,
                role: "Inside my agency".into(),
                owner: false,
                org: false,
            });
        }
    }
    let may_share = whole && local;
    let mut shares = Vec::new();
    let mut partners = Vec::new();
    if may_share {
        for s in state
            .node
            .shares()
            .of_case(&who.caller, &case.id.to_string())?
        {
            let (status, status_class) = status_label(s.status);
            let recipients: Vec<String> = s
                .recipients
                .iter()
                .map(|r| recipient_text(&r.recipient))
                .collect();
            if s.status != ShareStatus::Stopped {
                let full_name = if recipients.is_empty() {
                    format!("{} (partner agency)", s.partner_name)
                } else {
                    format!(
                        "{} (partner agency): {}",
                        s.partner_name,
                        recipients.join(", ")
                    )
                };
                people.push(Person {
                    initials: initials(&s.partner_name),
                    full_name,
                    role: status.to_owned(),
                    owner: false,
                    org: true,
                });
            }
            shares.push(ShareRow {
                partner: s.partner_name.clone(),
                recipients: if recipients.is_empty() {
                    "(the agency decides)".into()
                } else {
                    recipients.join(", ")
                },
                scope: match s.scope {
                    casemesh_model::grant::Scope::EntireCase => "Whole case".into(),
                    casemesh_model::grant::Scope::Folders(f) => format!("{} folders", f.len()),
                    casemesh_model::grant::Scope::Evidence(e) => format!("{} items", e.len()),
                },
                status,
                status_class,
                by: s.created_by.clone(),
            });
        }
        partners = state
            .node
            .partners()
            .list(&who.caller)?
            .into_iter()
            .map(|p| PartnerOption {
                id: p.peer_id,
                name: p.name,
                policy: p.policy,
            })
            .collect();
    }
    let poll = if shares.iter().any(|s| s.status_class == "processing") {
        "1"
    } else {
        ""
    };
    Ok(Access {
        whole,
        people,
        shares,
        partners,
        poll,
    })
}

#[derive(Template)]
#[template(path = "shares_fragment.html")]
struct SharesFragment {
    people: Vec<Person>,
    shares: Vec<ShareRow>,
    poll: &'static str,
}

/// `GET /ui/cases/{case}/shares`: the partner shares and the profile icons alone, which the case
/// page refreshes while a share is Processing (not audited as a case view: it shows no case
/// content).
pub async fn shares(
    State(state): State<UiState>,
    who: SignedIn,
    Path(reference): Path<String>,
) -> Result<Response, UiError> {
    let case = state.node.cases().resolve_whole(&who.caller, &reference)?;
    let owner = case.owner.to_string();
    let a = access(&state, &who, &reference, &case, &owner, !case.is_external())?;
    render(&SharesFragment {
        people: a.people,
        shares: a.shares,
        poll: a.poll,
    })
}

/// `POST /ui/cases/{case}/evidence?name=…&folder=…` query.
#[derive(Debug, serde::Deserialize)]
pub struct UploadQuery {
    name: String,
    #[serde(default)]
    folder: Option<String>,
}

/// `POST /ui/cases/{case}/evidence`: one file, the raw body, streamed into
/// `node.evidence().add` (as `POST /v1/cases/{case}/evidence`). `201` with the new item's
/// display ID as text.
pub async fn upload(
    State(state): State<UiState>,
    who: SignedIn,
    Path(reference): Path<String>,
    Query(q): Query<UploadQuery>,
    body: Body,
) -> Result<Response, UiError> {
    let exact = axum::body::HttpBody::size_hint(&body).exact();
    let new = casemesh_service::NewEvidence {
        case: reference,
        name: q.name,
        folder: q.folder.filter(|f| !f.is_empty()),
        ..Default::default()
    };
    let (ev, _case) = state
        .node
        .evidence()
        .add(&who.caller, new, body.into_data_stream(), exact)
        .await?;
    Ok((StatusCode::CREATED, ev.display_id).into_response())
}

/// `GET /ui/cases/{case}/evidence/{evidence}/content`: the item's bytes, verified against the
/// hash before the first byte (`node.evidence().content`, audited), streamed from disk.
pub async fn download(
    State(state): State<UiState>,
    who: SignedIn,
    Path((reference, evidence)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let c = state
        .node
        .evidence()
        .content(&who.caller, &reference, &evidence)
        .await?;
    let stream =
        tokio_util::io::ReaderStream::with_capacity(tokio::fs::File::from_std(c.file), 1 << 20);
    Ok((
        [
            (header::CONTENT_TYPE, c.media_type),
            (header::CONTENT_LENGTH, c.size.to_string()),
            (header::CONTENT_DISPOSITION, attachment(&c.name)),
        ],
        Body::from_stream(stream),
    )
        .into_response())
}

/// `attachment; filename="…"; filename*=UTF-8''…` (RFC 6266): an ASCII fallback and the exact
/// name percent-encoded.
fn attachment(name: &str) -> String {
    let ascii: String = name
        .chars()
        .map(|c| {
            if c.is_ascii_graphic() && c != '"' && c != '\\' || c == ' ' {
                c
            } else {
                '_'
            }
        })
        .collect();
    let mut encoded = String::new();
    for b in name.bytes() {
        if b.is_ascii_alphanumeric() || b"!#$&+-.^_`|~".contains(&b) {
            encoded.push(char::from(b));
        } else {
            encoded.push_str(&format!("%{b:02X}"));
        }
    }
    format!("attachment; filename=\"{ascii}\"; filename*=UTF-8''{encoded}")
}

#[cfg(test)]
mod tests {
    #[test]
    fn attachment_names_are_quoted_and_encoded() {
        assert_eq!(
            super::attachment("a \"b\".txt"),
            "attachment; filename=\"a _b_.txt\"; filename*=UTF-8''a%20%22b%22.txt"
        );
        assert_eq!(
            super::attachment("é.pdf"),
            "attachment; filename=\"_.pdf\"; filename*=UTF-8''%C3%A9.pdf"
        );
    }
}
