//! The Share dialog's actions. "People" tab, partner agency: a copy of the whole case through
//! `node.shares().create` (the same use case as `POST /v1/cases/{case}/shares`: who may share,
//! the partner's policy, recipients — every rule is there); the case page then shows the share
//! as Processing until the partner holds every item, then Complete.

use crate::UiState;
use crate::error::UiError;
use crate::session::SignedIn;
use axum::Form;
use axum::extract::{Path, State};
use axum::response::{IntoResponse, Redirect, Response};

/// The People tab's form (partner agency).
#[derive(serde::Deserialize)]
pub struct PartnerShareForm {
    /// The partner's org id (or display name).
    partner: String,
    /// Recipients separated by commas (user names, `group:NAME`, `email:ADDR`, `badge:ID`).
    #[serde(default)]
    to: String,
    #[serde(default)]
    message: String,
}

/// Recipients typed in one field, separated by commas (or new lines); blanks dropped.
fn recipients(text: &str) -> Vec<String> {
    text.split([',', '\n'])
        .map(str::trim)
        .filter(|s| !s.is_empty())
        .map(str::to_owned)
        .collect()
}

/// `POST /ui/cases/{case}/shares`: share the whole case with a partner agency by copy; `303`
/// back to the case page.
pub async fn create(
    State(state): State<UiState>,
    who: SignedIn,
    Path(reference): Path<String>,
    Form(f): Form<PartnerShareForm>,
) -> Result<Response, UiError> {
    let new = casemesh_service::NewShare {
        partner: f.partner.trim().to_owned(),
        to: recipients(&f.to),
        message: Some(f.message.trim().to_owned()).filter(|m| !m.is_empty()),
        mode: Some("copy".into()),
        ..Default::default()
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

/// A refusal worded for this form: the use case names the CLI flag `--to` where the form has the
/// "Recipients" field.
fn ui_wording(e: UiError) -> UiError {
    match e {
        UiError::BadRequest(m) => {
            UiError::BadRequest(m.replace("(--to)", "(the Recipients field)"))
        }
        other => other,
    }
}

fn urlencode(s: &str) -> String {
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

#[cfg(test)]
mod tests {
    #[test]
    fn recipients_split_on_commas() {
        assert_eq!(
            super::recipients(" bob, group:detectives ,,\nemail:a@b.org "),
            ["bob", "group:detectives", "email:a@b.org"]
        );
        assert!(super::recipients("  ").is_empty());
        assert_eq!(super::urlencode("County DA"), "County%20DA");
    }
}
