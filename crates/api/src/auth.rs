//! Bearer-token authentication, as an extractor over the use case that does it.
//!
//! Every `/v1` route takes a [`Caller`], which the extractor builds from the `Authorization:
//! Bearer <token>` header through `node.users().authenticate` (the token is looked up by its hash
//! and compared in constant time). A missing or unknown token is a 401 before the handler runs.
//! The use cases check the caller themselves; [`Caller::require`] is the one shorthand left (for
//! routes that need a permission before any use case runs), and holds no rule of its own.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;

/// The authenticated user making a request: a `casemesh_service::Caller` (its `user` and
/// `groups` fields are reached through `Deref`).
#[derive(Debug, Clone)]
pub struct Caller(pub casemesh_service::Caller);

impl std::ops::Deref for Caller {
    type Target = casemesh_service::Caller;
    fn deref(&self) -> &casemesh_service::Caller {
        &self.0
    }
}

impl FromRequestParts<AppState> for Caller {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &AppState) -> Result<Caller, ApiError> {
        let header = parts
            .headers
            .get(axum::http::header::AUTHORIZATION)
            .and_then(|h| h.to_str().ok())
            .ok_or_else(ApiError::unauthorized)?;
        let token = header
            .strip_prefix("Bearer ")
            .ok_or_else(ApiError::unauthorized)?
            .trim();
        Ok(Caller(state.node.users().authenticate(token)?))
    }
}
