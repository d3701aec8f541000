//! The case lists: "My cases" (local cases the user owns) and "Shared with me" (every other case
//! the user sees: shared inside the agency, or received from a partner — the "External share"
//! filter keeps only those), both searchable by Case ID or title; and "New case".
//!
//! Which cases a user sees is `node.cases().list` (the visibility rule lives there); this module
//! only splits that list by owner and filters it by the search text.

use super::{Layout, render, when};
use crate::UiState;
use crate::error::UiError;
use crate::session::SignedIn;
use askama::Template;
use axum::Form;
use axum::extract::{Query, State};
use axum::response::{IntoResponse, Redirect, Response};
use casemesh_model::case::Origin;

/// `GET /ui/cases` query: `tab=shared` for Shared with me, `external=1` for external shares
/// only, `q` the search text.
#[derive(Debug, Default, serde::Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    tab: Option<String>,
    #[serde(default)]
    external: Option<String>,
    #[serde(default)]
    q: Option<String>,
}

/// One row of the list.
struct Row {
    id: String,
    case_number: String,
    title: String,
    evidence_count: usize,
    created: String,
    /// The sharing organization of an External case.
    external_from: Option<String>,
    /// The received share an External case arrived under (its Import Details page).
    received_share: Option<String>,
}

#[derive(Template)]
#[template(path = "cases.html")]
struct CasesPage {
    layout: Layout,
    shared: bool,
    external_only: bool,
    query: String,
    rows: Vec<Row>,
    /// Shared with me: the shares received from partner agencies, imported or not.
    received: Vec<super::received::InboxRow>,
}

/// Whether `text` (Case ID or title) matches the search `q` (case-insensitive substring; an
/// empty search matches everything).
fn matches(q: &str, case_number: &str, title: &str) -> bool {
    let q = q.trim().to_lowercase();
    q.is_empty() || case_number.to_lowercase().contains(&q) || title.to_lowercase().contains(&q)
}

/// `GET /ui/cases`: My cases, or Shared with me.
pub async fn list(
    State(state): State<UiState>,
    who: SignedIn,
    Query(q): Query<ListQuery>,
) -> Result<Response, UiError> {
    let shared = q.tab.as_deref() == Some("shared");
    let external_only = shared && q.external.as_deref().is_some_and(|v| !v.is_empty());
    let query = q.q.unwrap_or_default();
    let me = who.caller.user.id;
    let cases = state
        .node
        .cases()
        .list(&who.caller, external_only.then_some(true))?;
    let rows = cases
        .into_iter()
        .filter(|s| {
            let mine = s.case.owner == me && !s.case.is_external();
            mine != shared
        })
        .filter(|s| matches(&query, &s.case.case_number, &s.case.title))
        .map(|s| Row {
            id: s.case.id.to_string(),
            external_from: match &s.case.origin {
                Origin::Received { sharer_name, .. } => Some(sharer_name.clone()),
                Origin::Local => None,
            },
            received_share: match &s.case.origin {
                Origin::Received { share, .. } => Some(share.to_string()),
                Origin::Local => None,
            },
            case_number: s.case.case_number,
            title: s.case.title,
            evidence_count: s.evidence_count,
            created: when(s.case.created_at),
        })
        .collect();
    let received = if shared {
        super::received::inbox(&state, &who, &query)?
    } else {
        Vec::new()
    };
    render(&CasesPage {
        layout: Layout::new(&state, &who, if shared { "shared" } else { "mine" }),
        shared,
        external_only,
        query,
        rows,
        received,
    })
}

/// The "New case" form.
#[derive(serde::Deserialize)]
pub struct NewCaseForm {
    case_number: String,
    title: String,
    #[serde(default)]
    description: String,
}

/// `POST /ui/cases`: create a case (`node.cases().create`); `303` to its page.
pub async fn create(
    State(state): State<UiState>,
    who: SignedIn,
    Form(f): Form<NewCaseForm>,
) -> Result<Response, UiError> {
    let new = casemesh_service::NewCase {
        case_number: f.case_number.trim().to_owned(),
        title: f.title.trim().to_owned(),
        description: f.description,
    };
    let detail = state.node.cases().create(&who.caller, &new)?;
    Ok(Redirect::to(&format!("/ui/cases/{}", detail.case.id)).into_response())
}

#[cfg(test)]
mod tests {
    #[test]
    fn search_matches_case_id_or_title() {
        assert!(super::matches("", "2026-CR-1", "Burglary"));
        assert!(super::matches("cr-1", "2026-CR-1", "Burglary"));
        assert!(super::matches("burg", "2026-CR-1", "Burglary"));
        assert!(!super::matches("fraud", "2026-CR-1", "Burglary"));
    }
}
