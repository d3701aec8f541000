//! API errors: every failure becomes an HTTP status plus a stable machine-readable code, in the
//! body `{"error": {"code": "...", "message": "..."}}`.
//!
//! **The one place domain errors become HTTP.** Each use-case error family of the application
//! layer (`CaseError`, `EvidenceError`, `UserError`, `AdminError`, `ShareError`, `AccessError`,
//! `ReceivedError`, `PartnerError`, `DownloadLinkError`, `SweepError`, and the `LinkError` and
//! `SharingError` they carry) has one `From` here; handlers only write `?`. The families' own
//! `disposition()` (refuse / not found / retry / internal) is what non-HTTP callers act on; here
//! a refusal is a 4xx chosen by variant, `NoSpace` a 507 and everything else a 500.

use axum::http::StatusCode;
use axum::response::{IntoResponse, Response};
pub use casemesh_api_types::error::{ErrorBody, ErrorDetail};
use casemesh_model::case::FolderError;
use casemesh_model::names::NameError;
use casemesh_model::org::Denied;
use casemesh_store::StoreError;

/// An error as the API returns it.
#[derive(Debug)]
pub struct ApiError {
    /// HTTP status.
    pub status: StatusCode,
    /// Stable code, e.g. `not_found`.
    pub code: &'static str,
    /// Human-readable explanation.
    pub message: String,
}

impl ApiError {
    /// An error with this status, code and message.
    pub fn new(status: StatusCode, code: &'static str, message: impl Into<String>) -> ApiError {
        ApiError {
            status,
            code,
            message: message.into(),
        }
    }

    /// 400.
    pub fn bad_request(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::BAD_REQUEST, "bad_request", message)
    }

    /// 401.
    pub fn unauthorized() -> ApiError {
        ApiError::new(
            StatusCode::UNAUTHORIZED,
            "unauthorized",
            "missing or invalid bearer token",
        )
    }

    /// 403.
    pub fn forbidden(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::FORBIDDEN, "forbidden", message)
    }

    /// 404.
    pub fn not_found(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::NOT_FOUND, "not_found", message)
    }

    /// 409.
    pub fn conflict(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::CONFLICT, "conflict", message)
    }

    /// 410.
    pub fn gone(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::GONE, "gone", message)
    }

    /// 429.
    pub fn too_many_requests(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::TOO_MANY_REQUESTS, "too_many_requests", message)
    }

    /// 500.
    pub fn internal(message: impl Into<String>) -> ApiError {
        ApiError::new(StatusCode::INTERNAL_SERVER_ERROR, "internal", message)
    }
}

impl IntoResponse for ApiError {
    fn into_response(self) -> Response {
        if self.status.is_server_error() {
            tracing::error!(code = self.code, message = %self.message, "request failed");
        }
        let body = ErrorBody {
            error: ErrorDetail {
                code: self.code.to_owned(),
                message: self.message,
            },
        };
        (self.status, axum::Json(body)).into_response()
    }
}

impl From<StoreError> for ApiError {
    fn from(e: StoreError) -> ApiError {
        match e {
            StoreError::NotFound(_) => ApiError::not_found(e.to_string()),
            // A taken case number (issue #15) names the case that has it: 409 like any conflict.
            StoreError::Conflict(_) | StoreError::CaseNumberTaken { .. } => {
                ApiError::conflict(e.to_string())
            }
            StoreError::BlobCorrupt { .. } | StoreError::BlobMissing { .. } => ApiError::new(
                StatusCode::INTERNAL_SERVER_ERROR,
                "blob_corrupt",
                e.to_string(),
            ),
            StoreError::NoSpace { .. } => ApiError::new(
                StatusCode::INSUFFICIENT_STORAGE,
                "insufficient_storage",
                e.to_string(),
            ),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<FolderError> for ApiError {
    fn from(e: FolderError) -> ApiError {
        match e {
            FolderError::NotFound(_) => ApiError::not_found(e.to_string()),
            FolderError::Exists(_) | FolderError::NotEmpty(_) => ApiError::conflict(e.to_string()),
            _ => ApiError::bad_request(e.to_string()),
        }
    }
}

impl From<casemesh_model::names::TextError> for ApiError {
    fn from(e: casemesh_model::names::TextError) -> ApiError {
        ApiError::bad_request(e.to_string())
    }
}

impl From<NameError> for ApiError {
    fn from(e: NameError) -> ApiError {
        ApiError::bad_request(format!("invalid name: {e}"))
    }
}

impl From<Denied> for ApiError {
    fn from(e: Denied) -> ApiError {
        ApiError::forbidden(e.to_string())
    }
}

/// Result of a handler.
pub type ApiResult<T> = Result<T, ApiError>;

impl From<casemesh_links::LinkError> for ApiError {
    fn from(e: casemesh_links::LinkError) -> ApiError {
        use casemesh_links::LinkError;
        match e {
            LinkError::Refused(m) => ApiError::bad_request(m),
            LinkError::NotFound(m) => ApiError::not_found(m),
            LinkError::Folder(e) => e.into(),
            LinkError::Store(e) => e.into(),
            LinkError::Sharing(e) => e.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<casemesh_service::SweepError> for ApiError {
    fn from(e: casemesh_service::SweepError) -> ApiError {
        use casemesh_service::SweepError;
        match e {
            SweepError::Store(e) => e.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<casemesh_service::AccessError> for ApiError {
    fn from(e: casemesh_service::AccessError) -> ApiError {
        match e {
            casemesh_service::AccessError::Store(s) => s.into(),
            casemesh_service::AccessError::Case(e) => e.into(),
            casemesh_service::AccessError::Sharing(e) => e.into(),
            // Unknown recipients, a bad scope, no recipient, a bad message: the caller's input.
            other => ApiError::bad_request(other.to_string()),
        }
    }
}

impl From<casemesh_service::EvidenceError> for ApiError {
    fn from(e: casemesh_service::EvidenceError) -> ApiError {
        use casemesh_service::EvidenceError;
        match e {
            EvidenceError::Name(e) => e.into(),
            EvidenceError::Text(e) => e.into(),
            EvidenceError::Folder(e) => e.into(),
            EvidenceError::Store(e) => e.into(),
            e @ EvidenceError::Interrupted(_) => ApiError::bad_request(e.to_string()),
            EvidenceError::Case(e) => e.into(),
            e @ EvidenceError::NoSuchTranscript(_) => ApiError::not_found(e.to_string()),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<casemesh_sharing::SharingError> for ApiError {
    fn from(e: casemesh_sharing::SharingError) -> ApiError {
        use casemesh_sharing::SharingError;
        match e {
            SharingError::NotFound(_) => ApiError::not_found(e.to_string()),
            SharingError::Invalid(_) => ApiError::bad_request(e.to_string()),
            SharingError::Forbidden(_) => ApiError::forbidden(e.to_string()),
            SharingError::Conflict(_) => ApiError::conflict(e.to_string()),
            SharingError::Store(s) => s.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<casemesh_service::CaseError> for ApiError {
    fn from(e: casemesh_service::CaseError) -> ApiError {
        use casemesh_service::CaseError;
        match e {
            e @ (CaseError::Denied(_) | CaseError::PartOnly) => ApiError::forbidden(e.to_string()),
            e @ CaseError::NotFound(_) => ApiError::not_found(e.to_string()),
            e @ (CaseError::Invalid(_) | CaseError::Text(_)) => {
                ApiError::bad_request(e.to_string())
            }
            CaseError::Name(e) => e.into(),
            CaseError::Folder(e) => e.into(),
            CaseError::Store(e) => e.into(),
            CaseError::Sharing(e) => e.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<casemesh_service::UserError> for ApiError {
    fn from(e: casemesh_service::UserError) -> ApiError {
        use casemesh_service::UserError;
        match e {
            UserError::Unauthenticated => ApiError::unauthorized(),
            e @ UserError::Denied(_) => ApiError::forbidden(e.to_string()),
            e @ UserError::NoSuchUser(_) => ApiError::not_found(e.to_string()),
            e @ UserError::Invalid(_) => ApiError::bad_request(e.to_string()),
            UserError::Name(e) => e.into(),
            UserError::Store(e) => e.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<casemesh_service::AdminError> for ApiError {
    fn from(e: casemesh_service::AdminError) -> ApiError {
        use casemesh_service::AdminError;
        match e {
            e @ AdminError::Denied(_) => ApiError::forbidden(e.to_string()),
            e @ AdminError::Invalid(_) => ApiError::bad_request(e.to_string()),
            AdminError::Store(e) => e.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<casemesh_service::ShareError> for ApiError {
    fn from(e: casemesh_service::ShareError) -> ApiError {
        use casemesh_service::ShareError;
        match e {
            ShareError::Case(e) => e.into(),
            e @ ShareError::Invalid(_) => ApiError::bad_request(e.to_string()),
            e @ ShareError::FeatureOff(_) => ApiError::forbidden(e.to_string()),
            ShareError::Sharing(e) => e.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<casemesh_service::ReceivedError> for ApiError {
    fn from(e: casemesh_service::ReceivedError) -> ApiError {
        use casemesh_service::ReceivedError;
        match e {
            ReceivedError::Case(e) => e.into(),
            e @ ReceivedError::Invalid(_) => ApiError::bad_request(e.to_string()),
            ReceivedError::Sharing(e) => e.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<casemesh_service::PartnerError> for ApiError {
    fn from(e: casemesh_service::PartnerError) -> ApiError {
        use casemesh_service::PartnerError;
        match e {
            e @ PartnerError::Denied(_) => ApiError::forbidden(e.to_string()),
            e @ PartnerError::Invalid(_) => ApiError::bad_request(e.to_string()),
            PartnerError::Sharing(e) => e.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}

impl From<casemesh_service::DownloadLinkError> for ApiError {
    fn from(e: casemesh_service::DownloadLinkError) -> ApiError {
        use casemesh_service::DownloadLinkError;
        match e {
            e @ DownloadLinkError::LinkDenied { .. } => ApiError::forbidden(e.to_string()),
            DownloadLinkError::Case(e) => e.into(),
            DownloadLinkError::Sharing(e) => e.into(),
            DownloadLinkError::Link(e) => e.into(),
            other => ApiError::internal(other.to_string()),
        }
    }
}
