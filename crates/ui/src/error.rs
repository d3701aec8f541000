//! What a UI request answers when a use case refuses or fails: an HTML page with a status, the
//! message of the domain error (escaped like everything else) and a way back. The status follows
//! the error's [`Disposition`] (the same rule the JSON API maps in `casemesh-api`'s `error.rs`):
//! refuse → 400 (a missing permission or part-only access → 403), not found → 404, retry → 503,
//! internal → 500 (its detail goes to the log, not the page).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use casemesh_service::{CaseError, Disposition, EvidenceError, ShareError, UserError};

/// A UI request that could not be served.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UiError {
    /// Refused as given: 400.
    #[error("{0}")]
    BadRequest(String),
    /// Not allowed (a permission, part-only access, a CSRF token): 403.
    #[error("{0}")]
    Forbidden(String),
    /// Nothing by that name for this user: 404.
    #[error("{0}")]
    NotFound(String),
    /// Try again later (disk full, upload broken off): 503.
    #[error("{0}")]
    Unavailable(String),
    /// A fault of this node: 500; the detail is logged, the page says only that.
    #[error("{0}")]
    Internal(String),
}

impl UiError {
    /// The UI error for a use case's refusal or failure: its [`Disposition`] decides, a
    /// refusal being `Forbidden` when `denied` (the pages' own error types use it too).
    pub(crate) fn of(disposition: Disposition, denied: bool, message: String) -> UiError {
        match disposition {
            Disposition::Refuse if denied => UiError::Forbidden(message),
            Disposition::Refuse => UiError::BadRequest(message),
            Disposition::NotFound => UiError::NotFound(message),
            Disposition::Retry => UiError::Unavailable(message),
            Disposition::Internal => UiError::Internal(message),
        }
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        match self {
            UiError::BadRequest(_) => StatusCode::BAD_REQUEST,
            UiError::Forbidden(_) => StatusCode::FORBIDDEN,
            UiError::NotFound(_) => StatusCode::NOT_FOUND,
            UiError::Unavailable(_) => StatusCode::SERVICE_UNAVAILABLE,
            UiError::Internal(_) => StatusCode::INTERNAL_SERVER_ERROR,
        }
    }
}

fn case_denied(e: &CaseError) -> bool {
    matches!(e, CaseError::Denied(_) | CaseError::PartOnly)
}

impl From<CaseError> for UiError {
    fn from(e: CaseError) -> UiError {
        UiError::of(e.disposition(), case_denied(&e), e.to_string())
    }
}

impl From<EvidenceError> for UiError {
    fn from(e: EvidenceError) -> UiError {
        let denied = matches!(&e, EvidenceError::Case(c) if case_denied(c));
        UiError::of(e.disposition(), denied, e.to_string())
    }
}

impl From<ShareError> for UiError {
    fn from(e: ShareError) -> UiError {
        let denied = matches!(&e, ShareError::Case(c) if case_denied(c));
        UiError::of(e.disposition(), denied, e.to_string())
    }
}

impl From<casemesh_service::PartnerError> for UiError {
    fn from(e: casemesh_service::PartnerError) -> UiError {
        let denied = matches!(e, casemesh_service::PartnerError::Denied(_));
        UiError::of(e.disposition(), denied, e.to_string())
    }
}

impl From<UserError> for UiError {
    fn from(e: UserError) -> UiError {
        let denied = matches!(e, UserError::Denied(_) | UserError::Unauthenticated);
        UiError::of(e.disposition(), denied, e.to_string())
    }
}

impl From<casemesh_sharing::SharingError> for UiError {
    fn from(e: casemesh_sharing::SharingError) -> UiError {
        UiError::of(
            casemesh_service::error::of_sharing(&e),
            false,
            e.to_string(),
        )
    }
}

impl From<askama::Error> for UiError {
    fn from(e: askama::Error) -> UiError {
        UiError::Internal(format!("template: {e}"))
    }
}

/// The error page.
#[derive(Template)]
#[template(path = "error.html")]
struct ErrorPage<'a> {
    status: u16,
    reason: &'a str,
    message: &'a str,
}

impl IntoResponse for UiError {
    fn into_response(self) -> Response {
        let status = self.status();
        let message = match &self {
            UiError::Internal(detail) => {
                tracing::error!(error = %detail, "UI request failed");
                "Something went wrong on this node. The administrator can find the details in its log."
            }
            UiError::BadRequest(m)
            | UiError::Forbidden(m)
            | UiError::NotFound(m)
            | UiError::Unavailable(m) => m.as_str(),
        };
        let page = ErrorPage {
            status: status.as_u16(),
            reason: status.canonical_reason().unwrap_or("Error"),
            message,
        };
        match page.render() {
            Ok(html) => (status, Html(html)).into_response(),
            Err(_) => (status, message.to_owned()).into_response(),
        }
    }
}
