//! The JSON body of every error response of the admin API.

use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// The JSON body of an error response.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorBody {
    /// The error.
    pub error: ErrorDetail,
}

/// Code and message of an error.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct ErrorDetail {
    /// Stable code: `bad_request`, `unauthorized`, `forbidden`, `not_found`,
    /// `method_not_allowed` (405), `conflict`, `gone`, `payload_too_large`,
    /// `unsupported_media_type` (415), `too_many_requests`, `blob_corrupt`, `insufficient_storage`
    /// (507: the disk is full; nothing was stored), `unavailable` (503: a temporary condition,
    /// e.g. an upload broken off or a partner unreachable; send the request again), `internal`.
    /// Chosen by `casemesh_service::error::http_answer` (405 and 415 by the API's router and
    /// extractors).
    pub code: String,
    /// Explanation for people.
    pub message: String,
}
