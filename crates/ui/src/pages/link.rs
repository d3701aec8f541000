//! The Share dialog's "Link" tab (seed 001, "Share external download links"): a download link of
//! the whole case, selected folders or selected evidence, with attachments (audit trails,
//! transcripts, table of contents), "Retain folder structure", ZIP or ISO, a duration in days, a
//! recipient and a message — through `node.links().create`, the use case of
//! `POST /v1/cases/{case}/links` (permissions, features, the sharing policy of a received copy:
//! every rule is there). The case page then lists the link as Processing until its package is
//! built, then Ready (or Failed with its reason).
//!
//! The link's URL carries its token, which the node never stores: `create` answers it once. The
//! UI keeps the newest link's URL in the user's session (in memory, [`URL_KEY`], one link at a
//! time, never in a page address or a log) and shows it on that link's row.

use super::share::{Fields, field, selection, urlencode};
use super::when;
use crate::UiState;
use crate::error::UiError;
use crate::session::SignedIn;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};
use casemesh_links::{BuildState, LinkStatus, NewLink, PackageFormat};
use casemesh_service::DownloadLinkError;
use tower_sessions::Session;

/// The session key of the newest link's `(link id, URL)`.
pub const URL_KEY: &str = "link_url";

/// One download link of a case, as the case page lists it.
pub(crate) struct LinkRow {
    pub(crate) id: String,
    pub(crate) format: &'static str,
    pub(crate) what: String,
    pub(crate) recipient: String,
    pub(crate) status: &'static str,
    pub(crate) status_class: &'static str,
    /// Why the build failed (with `Failed`).
    pub(crate) reason: Option<String>,
    pub(crate) expires: String,
    /// The URL, for the link created last in this session.
    pub(crate) url: Option<String>,
}

fn link_error(e: DownloadLinkError) -> UiError {
    UiError::of(&e)
}

/// The days field: a whole number (the links service checks its range, 1 to
/// [`casemesh_service::LINK_MAX_DAYS`]).
fn days(text: &str) -> Result<u32, UiError> {
    if text.is_empty() {
        return Ok(casemesh_links::DEFAULT_DAYS);
    }
    text.parse().map_err(|_| {
        UiError::bad_request(format!(
            "Duration must be a whole number of days, 1 to {} (got {text:?}). No link was created.",
            casemesh_service::LINK_MAX_DAYS
        ))
    })
}

/// A checkbox: ticked when sent with any value.
fn ticked(f: &Fields, name: &str) -> bool {
    f.iter().any(|(k, _)| k == name)
}

/// `POST /ui/cases/{case}/links`: the Link tab's form. Fields: `csrf`, `to` (recipient email,
/// optional), `audit_trail`, `transcripts`, `toc`, `keep_folders` (checkboxes), `format`
/// (`zip`, the default, or `iso`), `days` (1 to 3650, default 7), `message`, and the selection
/// of [`selection`]. `303` back to the case page at its links (`?link=LINK#links`).
pub async fn create(
    State(state): State<UiState>,
    who: SignedIn,
    session: Session,
    Path(reference): Path<String>,
    Form(f): Form<Fields>,
) -> Result<Response, UiError> {
    let (folders, evidence) = selection(&f)?;
    let format = match field(&f, "format") {
        "" | "zip" => PackageFormat::Zip,
        "iso" => PackageFormat::Iso,
        other => {
            return Err(UiError::bad_request(format!(
                "Format must be ZIP or ISO (got {other:?}). No link was created."
            )));
        }
    };
    let new = NewLink {
        case: reference,
        format,
        days: days(field(&f, "days"))?,
        audit_trail: ticked(&f, "audit_trail"),
        transcripts: ticked(&f, "transcripts"),
        toc: ticked(&f, "toc"),
        keep_folders: ticked(&f, "keep_folders"),
        folders,
        evidence,
        to: Some(field(&f, "to").to_owned()).filter(|t| !t.is_empty()),
        message: Some(field(&f, "message").to_owned()).filter(|m| !m.is_empty()),
    };
    let created = state
        .node
        .links()
        .create(&who.caller, new)
        .map_err(link_error)?;
    let id = created.link.id.to_string();
    session
        .insert(URL_KEY, (&id, &created.url))
        .await
        .map_err(|e| UiError::internal(format!("session: {e}")))?;
    Ok(Redirect::to(&format!(
        "/ui/cases/{}?link={}#links",
        created.case.id,
        urlencode(&id)
    ))
    .into_response())
}

/// The newest link's `(id, URL)` kept in `session`, if any.
pub(crate) async fn kept_url(session: &Session) -> Option<(String, String)> {
    session.get(URL_KEY).await.ok().flatten()
}

/// The download links of case `reference` for `who` (`node.links().list`: the case seen
/// whole), oldest first, with the URL of `kept` on its row.
pub(crate) fn rows(
    state: &UiState,
    who: &SignedIn,
    reference: &str,
    kept: Option<&(String, String)>,
) -> Result<Vec<LinkRow>, UiError> {
    let (_, links) = state
        .node
        .links()
        .list(&who.caller, reference)
        .map_err(link_error)?;
    let now = state.node.clock().now();
    Ok(links
        .iter()
        .map(|l| {
            let id = l.id.to_string();
            let status = l.status(now);
            let (label, class) = match status {
                LinkStatus::Processing => ("Processing", "processing"),
                LinkStatus::Ready => ("Ready", "complete"),
                LinkStatus::Failed => ("Failed", "failed"),
                LinkStatus::Expired => ("Expired", "stopped"),
                LinkStatus::Revoked => ("Revoked", "stopped"),
            };
            let reason = match &l.build {
                BuildState::Failed { reason } if status == LinkStatus::Failed => {
                    Some(reason.clone())
                }
                _ => None,
            };
            let mut extras = Vec::new();
            if l.options.audit_trail {
                extras.push("audit trails");
            }
            if l.options.transcripts {
                extras.push("transcripts");
            }
            if l.options.toc {
                extras.push("table of contents");
            }
            if l.options.keep_folders {
                extras.push("folder structure");
            }
            let scope = if !l.options.evidence.is_empty() {
                format!("{} items", l.options.evidence.len())
            } else if !l.options.folders.is_empty() {
                format!("{} folders", l.options.folders.len())
            } else {
                "Whole case".to_owned()
            };
            let what = if extras.is_empty() {
                scope
            } else {
                format!("{scope}, with {}", extras.join(", "))
            };
            let url = kept
                .filter(|(k, _)| *k == id)
                .filter(|_| matches!(status, LinkStatus::Processing | LinkStatus::Ready))
                .map(|(_, u)| u.clone());
            LinkRow {
                id,
                format: match l.format {
                    PackageFormat::Zip => "ZIP",
                    PackageFormat::Iso => "ISO",
                },
                what,
                recipient: l.recipient.clone().unwrap_or_default(),
                status: label,
                status_class: class,
                reason,
                expires: when(l.expires_at),
                url,
            }
        })
        .collect())
}

#[cfg(test)]
mod tests {
    #[test]
    fn days_are_whole_numbers() {
        assert_eq!(super::days("").unwrap(), casemesh_links::DEFAULT_DAYS);
        assert_eq!(super::days("30").unwrap(), 30);
        for bad in ["seven", "-1", "1.5", "99999999999"] {
            assert!(super::days(bad).is_err(), "{bad}");
        }
    }
}
