//! Case details: the folders and evidence the user sees (name, size, category, display ID, the
//! BLAKE3 hash on demand), upload of several files with a progress bar, download, the profile
//! icons of everyone with access (owner in green, full name on hover; a click opens the Share
//! dialog's access list), the partner shares with their status (and a failed one's reason, a
//! Stop button on each active one), the download links with theirs, the Share dialog (People and
//! Link tabs, what to share with a checkbox per folder and item; its forms are [`super::share`]
//! and [`super::link`]), and the "External case" marker with the sharing organization's name.
//!
//! Use cases: `node.cases().show` (what the user sees; audited `case.view`), `.access` (who has
//! access, needs the whole case), `node.shares().of_case` / `node.partners().list` /
//! `.policy` / `node.links().list` (the use cases of the JSON API's
//! `GET /v1/cases/{case}/shares`, `GET /v1/partners`, `GET /v1/policies/{name}` and
//! `GET /v1/cases/{case}/links`), `node.access().directory` (the Recipients type-ahead),
//! `node.evidence().add` and `.content` — the very calls of the API's upload and download, so
//! the rules are the same.
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
use casemesh_model::org::{Action, ShareTarget};
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
    /// The share's id (for Stop sharing).
    id: String,
    /// Whether it can still be stopped (not Stopped).
    active: bool,
    /// Why it failed (with Failed).
    reason: Option<String>,
    partner: String,
    recipients: String,
    scope: String,
    status: &'static str,
    status_class: &'static str,
    by: String,
}

/// A partner agency the case may be shared with, with its sharing policy (read only: what the
/// Share dialog's "View" shows, seed 002).
struct PartnerOption {
    id: String,
    name: String,
    policy: String,
    /// What the policy allows the partner to do (action names).
    allowed: Vec<&'static str>,
    /// What data the policy lets leave (data kind names).
    data: Vec<&'static str>,
    /// Whether a share under it waits for a second person's approval.
    two_person: bool,
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
    /// The case's download links (Share dialog, Link tab).
    links: Vec<super::link::LinkRow>,
    /// Whether the user may create download links (`case_share_links` or
    /// `evidence_share_links`, with its feature).
    may_link: bool,
    /// Users and groups of this agency, for the Recipients field's type-ahead:
    /// (what to type, what it names).
    directory: Vec<(String, String)>,
}

/// Most entries of the Recipients type-ahead.
const DIRECTORY_LIMIT: usize = 500;

/// `?shared=SHARE`: show a notice after share `SHARE` (its id) was created. The partner's name
/// is looked up from the case's shares, never taken from the URL (a link could otherwise put
/// any text in the notice).
#[derive(Debug, Default, serde::Deserialize)]
pub struct ShowQuery {
    #[serde(default)]
    shared: Option<String>,
    /// `?inside=1`: after an inside share.
    #[serde(default)]
    inside: Option<String>,
    /// `?stopped=SHARE`: after share `SHARE` was stopped.
    #[serde(default)]
    stopped: Option<String>,
    /// `?link=LINK`: after download link `LINK` was created.
    #[serde(default)]
    link: Option<String>,
}

/// What a share hands over, as the lists say it: "Whole case", "2 folders", "1 items".
pub(crate) fn scope_text(scope: &casemesh_model::grant::Scope) -> String {
    match scope {
        casemesh_model::grant::Scope::EntireCase => "Whole case".into(),
        casemesh_model::grant::Scope::Folders(f) => format!("{} folders", f.len()),
        casemesh_model::grant::Scope::Evidence(e) => format!("{} items", e.len()),
    }
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
    session: tower_sessions::Session,
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
        links,
    } = access(
        &state,
        &who,
        &reference,
        case,
        &detail.owner,
        external_from.is_none(),
        super::link::kept_url(&session).await,
    )?;
    let may_share = whole && external_from.is_none();
    let may_upload = whole && node.cases().require(&who.caller, Action::EditCase).is_ok();
    let may_link = may_share
        && [ShareTarget::Case, ShareTarget::Evidence]
            .into_iter()
            .any(|t| {
                node.cases()
                    .require(&who.caller, Action::ShareLink(t))
                    .is_ok()
            });
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
    // Type-ahead: only for those who may share inside (`node.access().directory`).
    let directory = if may_share {
        node.access()
            .directory(&who.caller, DIRECTORY_LIMIT)
            .map(|entries| {
                entries
                    .into_iter()
                    .map(|e| match e.kind.as_str() {
                        "group" => (format!("group:{}", e.name), format!("group {}", e.name)),
                        _ => {
                            let label = e.full_name.unwrap_or_default();
                            (e.name, label)
                        }
                    })
                    .collect()
            })
            .unwrap_or_default()
    } else {
        Vec::new()
    };
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
    if q.inside.is_some() && may_share {
        layout.notice =
            Some("Shared inside the agency: the people named are on the access list.".into());
    }
    if let Some(id) = q.stopped.filter(|p| !p.is_empty())
        && may_share
        && let Some(share) = node
            .shares()
            .of_case(&who.caller, &case.id.to_string())?
            .into_iter()
            .find(|s| s.id.to_string() == id && s.status == ShareStatus::Stopped)
    {
        layout.notice = Some(format!(
            "Stopped sharing with {}. Updates stop at once; the partner agency keeps the copy it imported.",
            share.partner_name
        ));
    }
    if let Some(id) = q.link.filter(|p| !p.is_empty())
        && links.iter().any(|l| l.id == id)
    {
        layout.notice = Some(
            "Download link created. It shows Processing while its package is built, then Ready with its address.".into(),
        );
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
        links,
        may_link,
        directory,
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
    links: Vec<super::link::LinkRow>,
}

/// [`Access`] of `case` (named `reference`) for `who`: who has access (`node.cases().access`,
/// which needs the whole case: the owner, the access list, the partner agencies), and for a
/// `local` case its partner shares and the partners it may be shared with.
fn access(
    state: &UiState,
    who: &SignedIn,
    reference: &str,
    case: &casemesh_model::case::Case,
    owner: &str,
    local: bool,
    kept_url: Option<(String, String)>,
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
        for inside in &a.entries {
            // The owner is shown once, as the owner (a received case lists its owner on the
            // access list too).
            if inside.names_user(case.owner) {
                continue;
            }
            let name = match inside.entry.principal {
                casemesh_model::access::Principal::Group(_) => {
                    format!("{} (group)", inside.display_name())
                }
                casemesh_model::access::Principal::User(_) => inside.display_name(),
            };
            people.push(Person {
                initials: initials(&name),
                full_name: name,
                role: "Inside my agency".into(),
                owner: false,
                org: false,
            });
        }
        // Partner agencies: every share that is not stopped, with its recipients.
        for s in &a.partner_shares {
            let recipients: Vec<String> = s
                .recipients
                .iter()
                .map(|r| recipient_text(&r.recipient))
                .collect();
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
                role: status_label(s.status).0.to_owned(),
                owner: false,
                org: true,
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
            shares.push(ShareRow {
                id: s.id.to_string(),
                active: s.status != ShareStatus::Stopped,
                reason: s
                    .failure
                    .clone()
                    .filter(|_| s.status == ShareStatus::Failed),
                partner: s.partner_name.clone(),
                recipients: if recipients.is_empty() {
                    "(the agency decides)".into()
                } else {
                    recipients.join(", ")
                },
                scope: scope_text(&s.scope),
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
            .map(|p| {
                let policy = state.node.partners().policy(&who.caller, &p.policy).ok();
                PartnerOption {
                    id: p.peer_id.to_string(),
                    name: p.name,
                    allowed: policy
                        .as_ref()
                        .map(|x| x.allowed.iter().map(|a| a.name()).collect())
                        .unwrap_or_default(),
                    data: policy
                        .as_ref()
                        .map(|x| x.data.iter().map(|d| d.name()).collect())
                        .unwrap_or_default(),
                    two_person: policy.as_ref().is_some_and(|x| x.two_person_approval),
                    policy: p.policy,
                }
            })
            .collect();
    }
    let links = if may_share {
        super::link::rows(state, who, &case.id.to_string(), kept_url.as_ref())?
    } else {
        Vec::new()
    };
    let poll = if shares.iter().any(|s| s.status_class == "processing")
        || links.iter().any(|l| l.status_class == "processing")
    {
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
        links,
    })
}

#[derive(Template)]
#[template(path = "shares_fragment.html")]
struct SharesFragment {
    people: Vec<Person>,
    shares: Vec<ShareRow>,
    poll: &'static str,
    id: String,
    links: Vec<super::link::LinkRow>,
}

/// `GET /ui/cases/{case}/shares`: the partner shares and the profile icons alone, which the case
/// page refreshes while a share is Processing (not audited as a case view: it shows no case
/// content).
pub async fn shares(
    State(state): State<UiState>,
    who: SignedIn,
    session: tower_sessions::Session,
    Path(reference): Path<String>,
) -> Result<Response, UiError> {
    let case = state.node.cases().resolve_whole(&who.caller, &reference)?;
    let owner = case.owner.to_string();
    let a = access(
        &state,
        &who,
        &reference,
        &case,
        &owner,
        !case.is_external(),
        super::link::kept_url(&session).await,
    )?;
    render(&SharesFragment {
        people: a.people,
        shares: a.shares,
        poll: a.poll,
        id: case.id.to_string(),
        links: a.links,
    })
}

/// `POST /ui/cases/{case}/evidence?name=…&folder=…` query.
#[derive(Debug, serde::Deserialize)]
pub struct UploadQuery {
    name: String,
    #[serde(default)]
    folder: Option<String>,
    /// Create `folder` (and missing parents) first when it does not exist: a folder upload
    /// keeps the chosen directory's tree (`1` or `true`).
    #[serde(default)]
    create_folder: bool,
}

/// `POST /ui/cases/{case}/evidence?name=N[&folder=P][&create_folder=1]`: one file, the raw
/// body, streamed into `node.evidence().add` (as `POST /v1/cases/{case}/evidence`); with
/// `create_folder`, folder `P` is created when missing, after the item was checked (a folder
/// upload; a refused name creates nothing). `201` with the new item's display ID as text.
pub async fn upload(
    State(state): State<UiState>,
    who: SignedIn,
    Path(reference): Path<String>,
    Query(q): Query<UploadQuery>,
    body: Body,
) -> Result<Response, UiError> {
    let exact = axum::body::HttpBody::size_hint(&body).exact();
    let folder = q.folder.filter(|f| !f.is_empty());
    let new = casemesh_service::NewEvidence {
        case: reference,
        name: q.name,
        folder,
        create_folder: q.create_folder,
        ..Default::default()
    };
    let (ev, _case) = state
        .node
        .evidence()
        .add(&who.caller, new, body.into_data_stream(), exact)
        .await?;
    Ok((StatusCode::CREATED, ev.display_id).into_response())
}

/// The case page's "Edit case" form.
#[derive(serde::Deserialize)]
pub struct EditForm {
    title: String,
    #[serde(default)]
    description: String,
}

/// `POST /ui/cases/{case}/edit`: change the case's title and description (`node.cases().edit`:
/// Cases: edit permission and the whole case, checked, audited; partners holding the case get
/// it as an update to review, issue #14); `303` back to the case page. Bad input (an empty or
/// over-long title, control characters) is answered 400 with the reason and changes nothing.
pub async fn edit(
    State(state): State<UiState>,
    who: SignedIn,
    Path(reference): Path<String>,
    axum::Form(f): axum::Form<EditForm>,
) -> Result<Response, UiError> {
    let title = f.title.trim().to_owned();
    if title.is_empty() {
        return Err(casemesh_service::CaseError::Invalid("a case needs a title".into()).into());
    }
    let edit = casemesh_service::CaseEdit {
        case_number: None,
        title: Some(title),
        description: Some(f.description),
    };
    let detail = state.node.cases().edit(&who.caller, &reference, &edit)?;
    Ok(axum::response::Redirect::to(&format!("/ui/cases/{}", detail.case.id)).into_response())
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
    let stream = c.file.into_stream();
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
    use askama::Template as _;

    /// A failed share shows its reason, a failed link its reason, a stopped share no Stop
    /// button; the texts are escaped.
    #[test]
    fn failed_shares_and_links_show_their_reason() {
        let row = |id: &str, status, class, reason: Option<&str>, active| super::ShareRow {
            id: id.into(),
            active,
            reason: reason.map(str::to_owned),
            partner: "county-da".into(),
            recipients: "admin".into(),
            scope: "Whole case".into(),
            status,
            status_class: class,
            by: "admin".into(),
        };
        let page = super::SharesFragment {
            people: Vec::new(),
            shares: vec![
                row(
                    "s-1",
                    "Failed",
                    "failed",
                    Some("the offer could not be delivered <b>in 7 days</b>"),
                    true,
                ),
                row("s-2", "Stopped", "stopped", None, false),
            ],
            poll: "",
            id: "c-1".into(),
            links: vec![crate::pages::link::LinkRow {
                id: "l-1".into(),
                format: "ZIP",
                what: "Whole case".into(),
                recipient: String::new(),
                status: "Failed",
                status_class: "failed",
                reason: Some("EV-0002: blob missing".into()),
                expires: String::new(),
                url: None,
            }],
        };
        let html = page.render().unwrap();
        assert!(
            html.contains("the offer could not be delivered &#60;b&#62;in 7 days&#60;/b&#62;"),
            "{html}"
        );
        assert!(html.contains("data-testid=\"link-reason\">EV-0002: blob missing"));
        assert!(html.contains("href=\"/ui/cases/c-1/shares/s-1/stop\""));
        assert!(
            !html.contains("/shares/s-2/stop"),
            "a stopped share has no Stop"
        );
    }

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
