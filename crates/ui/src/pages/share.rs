//! The Share dialog's "People" tab and the stopping of shares (seed 002, "Share a case"):
//!
//! - **What to share** ([`selection`]): the whole case, selected folders or selected evidence —
//!   the dialog's radio `scope` with one checkbox `folder` per folder path and `evidence` per
//!   item id; a folder or evidence choice with nothing ticked is refused (400) before any use
//!   case runs.
//! - **A partner agency** ([`create`], `audience=partner`): a copy through
//!   `node.shares().create` (the use case of `POST /v1/cases/{case}/shares`: who may share, the
//!   partner's policy, recipients — every rule is there); the case page then shows the share as
//!   Processing until the partner holds every item, then Complete (or Failed with its reason).
//! - **Inside my agency** ([`create`], `audience=inside`): users and groups of this node through
//!   `node.access().share` (the use case of `casemesh case share-inside`).
//! - **Type-ahead** ([`directory`]): the partner's users and groups matching what was typed in
//!   Recipients, asked of the partner through `node.partners().directory` (it answers only when
//!   its administrator shares its directory); the agency's own users come with the page.
//! - **Stop sharing** ([`confirm_stop`], [`stop`]): a confirmation page, then
//!   `node.shares().stop` (a signed revocation: updates stop at once, the partner keeps its
//!   imported copy).
//!
//! Every form carries the session's CSRF token (checked by [`crate::session::csrf_guard`]) and
//! answers `303 See Other` back to the case page; a refusal is an error page with the use case's
//! message, and nothing was changed.

use super::{Layout, render};
use crate::UiState;
use crate::error::UiError;
use crate::session::SignedIn;
use askama::Template;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use casemesh_service::AccessError;
use casemesh_sharing::records::ShareStatus;

/// A form's fields as sent, in order, repeated keys kept (`folder`, `evidence`).
pub(crate) type Fields = Vec<(String, String)>;

/// The first value of `name` in `fields`, trimmed; `""` when absent.
pub(crate) fn field<'a>(fields: &'a Fields, name: &str) -> &'a str {
    fields
        .iter()
        .find(|(k, _)| k == name)
        .map_or("", |(_, v)| v.trim())
}

/// Every non-blank value of `name` in `fields`, trimmed, in order.
fn all(fields: &Fields, name: &str) -> Vec<String> {
    fields
        .iter()
        .filter(|(k, v)| k == name && !v.trim().is_empty())
        .map(|(_, v)| v.trim().to_owned())
        .collect()
}

/// What to share, from the dialog's `scope` radio and its checkboxes: `(folders, evidence)`,
/// both empty for the whole case (the rule of `ShareTarget::of_selection`).
///
/// Errors: `BadRequest` for `scope=folders` without a ticked folder, `scope=evidence` without a
/// ticked item, or an unknown scope; nothing is shared then.
pub(crate) fn selection(fields: &Fields) -> Result<(Vec<String>, Vec<String>), UiError> {
    match field(fields, "scope") {
        "" | "case" => Ok((Vec::new(), Vec::new())),
        "folders" => {
            let folders = all(fields, "folder");
            if folders.is_empty() {
                return Err(UiError::bad_request(
                    "Select at least one folder to share, or choose Whole case. Nothing was shared."
                        .into(),
                ));
            }
            Ok((folders, Vec::new()))
        }
        "evidence" => {
            let evidence = all(fields, "evidence");
            if evidence.is_empty() {
                return Err(UiError::bad_request(
                    "Select at least one evidence item to share, or choose Whole case. Nothing was shared."
                        .into(),
                ));
            }
            Ok((Vec::new(), evidence))
        }
        other => Err(UiError::bad_request(format!(
            "What to share must be Whole case, Selected folders or Selected evidence (got {other:?}). Nothing was shared."
        ))),
    }
}

/// Recipients typed in one field, separated by commas (or new lines); blanks dropped.
fn recipients(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

fn access_error(e: AccessError) -> UiError {
    let message = match &e {
        AccessError::NoRecipient => {
            "Name at least one user or group of this agency in the Recipients field. Nothing was shared."
                .to_owned()
        }
        other => other.to_string(),
    };
    UiError::answer(&e, message)
}

/// `POST /ui/cases/{case}/shares`: the People tab's form. Fields: `csrf`, `audience`
/// (`partner`, the default, or `inside`), `partner` (org id or name; partner only), `to`
/// (recipients separated by commas), `message`, and the selection of [`selection`]. `303` back to
/// the case page (`?shared=SHARE` for a partner share, `?inside=1` for an inside one).
pub async fn create(
    State(state): State<UiState>,
    who: SignedIn,
    Path(reference): Path<String>,
    Form(f): Form<Fields>,
) -> Result<Response, UiError> {
    let (folders, evidence) = selection(&f)?;
    let to = recipients(field(&f, "to"));
    let message = Some(field(&f, "message").to_owned()).filter(|m| !m.is_empty());
    match field(&f, "audience") {
        "" | "partner" => {
            let new = casemesh_service::NewShare {
                partner: field(&f, "partner").to_owned(),
                to,
                folders,
                evidence,
                message,
                mode: Some("copy".into()),
            };
            let share = state
                .node
                .shares()
                .create(&who.caller, &reference, &new)
                .map_err(|e| ui_wording(e.into()))?;
            // The share's id, not the partner's name: the case page looks the name up.
            let url = format!(
                "/ui/cases/{}?shared={}",
                share.case,
                urlencode(&share.id.to_string())
            );
            Ok(Redirect::to(&url).into_response())
        }
        "inside" => {
            let (done, _) = state
                .node
                .access()
                .share(&who.caller, &reference, &to, folders, evidence, message)
                .map_err(|e| ui_wording(access_error(e)))?;
            Ok(Redirect::to(&format!("/ui/cases/{}?inside=1", done.case)).into_response())
        }
        other => Err(UiError::bad_request(format!(
            "Share with must be Inside my agency or A partner agency (got {other:?}). Nothing was shared."
        ))),
    }
}

/// A refusal worded for this form: the use case names the CLI flag `--to` where the form has the
/// "Recipients" field.
fn ui_wording(e: UiError) -> UiError {
    if e.status() == axum::http::StatusCode::BAD_REQUEST {
        e.map_message(|m| m.replace("(--to)", "(the Recipients field)"))
    } else {
        e
    }
}

/// Percent-encode every byte but unreserved ones (a query value).
pub(crate) fn urlencode(s: &str) -> String {
    s.bytes()
        .map(|b| {
            if b.is_ascii_alphanumeric() || b"-._~".contains(&b) {
                char::from(b).to_string()
            } else {
                format!("%{b:02X}")
            }
        })
        .collect()
}

/// `GET /ui/partners/{partner}/directory?q=TEXT` query.
#[derive(Debug, serde::Deserialize)]
pub struct DirectoryQuery {
    /// What was typed (the last recipient of the field), at most 200 bytes.
    #[serde(default)]
    q: String,
}

/// The partner directory's answer as `<option>`s of the Recipients field's datalist.
#[derive(Template)]
#[template(path = "share_directory.html")]
struct DirectoryOptions {
    options: Vec<(String, String)>,
}

/// `GET /ui/partners/{partner}/directory?q=TEXT`: up to 20 users and groups of partner
/// `partner` (org id or name) matching `TEXT`, as `<option value="user:NAME">Full name</option>`
/// elements (groups as `group:NAME`) — what the People tab's type-ahead puts in its datalist. A
/// partner that does not share its directory, or is offline, answers with its reason and a
/// 4xx/5xx status; the script then shows no suggestions.
pub async fn directory(
    State(state): State<UiState>,
    who: SignedIn,
    Path(partner): Path<String>,
    axum::extract::Query(q): axum::extract::Query<DirectoryQuery>,
) -> Result<Response, UiError> {
    let entries = state
        .node
        .partners()
        .directory(&who.caller, &partner, q.q.trim())
        .await?;
    let options = entries
        .into_iter()
        .map(|e| match e.kind.as_str() {
            "group" => (format!("group:{}", e.name), format!("group {}", e.name)),
            _ => {
                let mut label = e.full_name.unwrap_or_default();
                if let Some(badge) = e.badge_id {
                    label.push_str(&format!(" (badge {badge})"));
                }
                (format!("user:{}", e.name), label)
            }
        })
        .collect();
    render(&DirectoryOptions { options })
}

/// The confirmation page of Stop sharing.
#[derive(Template)]
#[template(path = "share_stop.html")]
struct StopPage {
    layout: Layout,
    case_id: String,
    case_number: String,
    share_id: String,
    partner: String,
    scope: String,
    stopped: bool,
}

/// Share `share` of case `reference`, if the caller sees it (`node.shares().get`: else
/// `NotFound` as for a missing share) and it belongs to that case.
fn share_of_case(
    state: &UiState,
    who: &SignedIn,
    reference: &str,
    share: &str,
) -> Result<
    (
        casemesh_model::case::Case,
        casemesh_sharing::records::OutgoingShare,
    ),
    UiError,
> {
    let case = state.node.cases().resolve_whole(&who.caller, reference)?;
    let id = casemesh_service::shares::parse_share_id(share)?;
    let detail = state.node.shares().get(&who.caller, id)?;
    if detail.share.case != case.id {
        return Err(UiError::not_found(format!(
            "No share {share:?} of case {}.",
            case.case_number
        )));
    }
    Ok((case, detail.share))
}

/// `GET /ui/cases/{case}/shares/{share}/stop`: "Stop sharing with PARTNER?" with a Stop sharing
/// button (a form with the CSRF token) and a way back.
pub async fn confirm_stop(
    State(state): State<UiState>,
    who: SignedIn,
    Path((reference, share)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let (case, s) = share_of_case(&state, &who, &reference, &share)?;
    render(&StopPage {
        layout: Layout::new(&state, &who, "mine"),
        case_id: case.id.to_string(),
        case_number: case.case_number.clone(),
        share_id: s.id.to_string(),
        partner: s.partner_name.clone(),
        scope: super::case::scope_text(&s.scope),
        stopped: s.status == ShareStatus::Stopped,
    })
}

/// `POST /ui/cases/{case}/shares/{share}/stop`: stop the share (`node.shares().stop`, which
/// checks the share permission of its scope); `303` back to the case page with `?stopped=SHARE`.
pub async fn stop(
    State(state): State<UiState>,
    who: SignedIn,
    Path((reference, share)): Path<(String, String)>,
) -> Result<Response, UiError> {
    let (case, s) = share_of_case(&state, &who, &reference, &share)?;
    let stopped = state.node.shares().stop(&who.caller, s.id)?;
    Ok(Redirect::to(&format!(
        "/ui/cases/{}?stopped={}",
        case.id,
        urlencode(&stopped.id.to_string())
    ))
    .into_response())
}

#[cfg(test)]
mod tests {
    use super::Fields;

    fn fields(pairs: &[(&str, &str)]) -> Fields {
        pairs
            .iter()
            .map(|(k, v)| ((*k).to_owned(), (*v).to_owned()))
            .collect()
    }

    #[test]
    fn recipients_split_on_commas() {
        assert_eq!(
            super::recipients(" bob, group:detectives ,,\nemail:a@b.org "),
            ["bob", "group:detectives", "email:a@b.org"]
        );
        assert!(super::recipients("  ").is_empty());
        assert_eq!(super::urlencode("County DA"), "County%20DA");
    }

    #[test]
    fn selection_follows_the_scope_radio() {
        let whole = fields(&[("scope", "case"), ("evidence", "EV-1"), ("folder", "a")]);
        assert_eq!(super::selection(&whole).unwrap(), (vec![], vec![]));
        assert_eq!(super::selection(&fields(&[])).unwrap(), (vec![], vec![]));
        let items = fields(&[
            ("scope", "evidence"),
            ("evidence", "EV-1"),
            ("folder", "a"),
            ("evidence", " EV-2 "),
        ]);
        assert_eq!(
            super::selection(&items).unwrap(),
            (vec![], vec!["EV-1".to_owned(), "EV-2".to_owned()])
        );
        let folders = fields(&[("scope", "folders"), ("folder", "Video/Body cams")]);
        assert_eq!(
            super::selection(&folders).unwrap(),
            (vec!["Video/Body cams".to_owned()], vec![])
        );
        for bad in [
            fields(&[("scope", "evidence")]),
            fields(&[("scope", "folders"), ("evidence", "EV-1")]),
            fields(&[("scope", "everything")]),
        ] {
            assert!(matches!(
                super::selection(&bad),
                Err(e) if e.status() == axum::http::StatusCode::BAD_REQUEST
            ));
        }
    }
}
