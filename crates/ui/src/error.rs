//! What a UI request answers when a use case refuses or fails: an HTML page with a status, the
//! message of the domain error (escaped like everything else) and a way back. The status and its
//! class come from `casemesh_service::error::http_answer`, the same function the JSON API
//! (`casemesh-api`'s `error.rs`) calls, so an error has one status whichever adapter answers it:
//! refuse → 400 (a missing permission or part-only access → 403, a clash → 409, not signed in →
//! 401), not found → 404, retry → 503 (a full disk → 507), internal → 500 (its detail goes to the
//! log, not the page).

use askama::Template;
use axum::http::StatusCode;
use axum::response::{Html, IntoResponse, Response};
use casemesh_service::error::{Classify, Fact, http_answer};
use casemesh_service::{
    AccessError, AdminError, CaseError, Disposition, DownloadLinkError, EvidenceError,
    PartnerError, ReceivedError, ShareError, UserError,
};

/// A UI request that could not be served: what to do about it, its status and its message.
#[derive(Debug, thiserror::Error)]
#[error("{message}")]
pub struct UiError {
    /// Refused, not found, retry or internal: decides how a page shows it (a form's refusal
    /// as a message on the next page, not found and internal as an error page).
    disposition: Disposition,
    /// The status, from [`http_answer`].
    status: StatusCode,
    /// For people; for an internal fault, the detail that goes to the log only.
    message: String,
}

impl UiError {
    /// The UI error [`http_answer`] picks for `disposition` and `fact`, with `message`.
    pub fn by(disposition: Disposition, fact: Fact, message: String) -> UiError {
        UiError {
            disposition,
            status: http_answer(disposition, fact).status,
            message,
        }
    }

    /// A use case's refusal or failure `e` shown with `message` (the error's own, or one worded
    /// for the form).
    pub fn answer(e: &impl Classify, message: String) -> UiError {
        UiError::by(e.disposition(), e.fact(), message)
    }

    /// A use case's refusal or failure `e` with its own message.
    pub fn of(e: &impl Classify) -> UiError {
        UiError::answer(e, e.to_string())
    }

    /// Refused as given: 400.
    pub fn bad_request(message: String) -> UiError {
        UiError::by(Disposition::Refuse, Fact::None, message)
    }

    /// Not allowed (a permission, part-only access, a CSRF token): 403.
    pub fn forbidden(message: String) -> UiError {
        UiError::by(Disposition::Refuse, Fact::Denied, message)
    }

    /// Nothing by that name for this user: 404.
    pub fn not_found(message: String) -> UiError {
        UiError::by(Disposition::NotFound, Fact::None, message)
    }

    /// A page asked with a method it does not have (a `GET` to a form's target): 405, the error
    /// page (axum's own 405 has an empty body; it adds the `Allow` header).
    pub fn method_not_allowed(method: &axum::http::Method) -> UiError {
        UiError {
            disposition: Disposition::Refuse,
            status: StatusCode::METHOD_NOT_ALLOWED,
            message: format!("This page cannot be asked for with {method}. Go back and try again."),
        }
    }

    /// A fault of this node: 500; the detail is logged, the page says only that.
    pub fn internal(message: String) -> UiError {
        UiError::by(Disposition::Internal, Fact::None, message)
    }

    /// The HTTP status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// What the caller should do about it.
    pub fn disposition(&self) -> Disposition {
        self.disposition
    }

    /// The message (for an internal fault, the logged detail).
    pub fn message(&self) -> &str {
        &self.message
    }

    /// The same error with its message reworded by `f`.
    pub(crate) fn map_message(self, f: impl FnOnce(String) -> String) -> UiError {
        UiError {
            message: f(self.message),
            ..self
        }
    }
}

/// Every use case's error, through [`UiError::of`]: one line each, the status chosen in one place.
macro_rules! answer_by_classify {
    ($($t:ty),* $(,)?) => {$(
        impl From<$t> for UiError {
            fn from(e: $t) -> UiError {
                UiError::of(&e)
            }
        }
    )*};
}

answer_by_classify!(
    CaseError,
    EvidenceError,
    ShareError,
    PartnerError,
    UserError,
    AdminError,
    AccessError,
    ReceivedError,
    DownloadLinkError,
    casemesh_sharing::SharingError,
);

impl From<askama::Error> for UiError {
    fn from(e: askama::Error) -> UiError {
        UiError::internal(format!("template: {e}"))
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
        let message = match self.disposition {
            Disposition::Internal => {
                tracing::error!(error = %self.message, "UI request failed");
                "Something went wrong on this node. The administrator can find the details in its log."
            }
            Disposition::Retry => {
                // As the API logs it: a condition the client may retry, at WARN.
                tracing::warn!(error = %self.message, status = status.as_u16(), "UI request not served");
                self.message.as_str()
            }
            Disposition::Refuse | Disposition::NotFound => self.message.as_str(),
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
