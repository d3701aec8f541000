//! Bearer-token authentication and permission checks.
//!
//! Every `/v1` route takes a [`Caller`], which the extractor builds from the `Authorization:
//! Bearer <token>` header; the token is looked up by its hash and compared in constant time (see
//! `Store::authenticate`). A missing or unknown token is a 401 before the handler runs.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use casemesh_model::org::{Action, Group, User, authorize};
use casemesh_store::Actor;

/// The authenticated user making a request.
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: User,
    /// All groups of the organization (for effective permissions).
    pub groups: Vec<Group>,
}

impl Caller {
    /// Refuse with 403 unless the user may perform `action` (features, then permissions).
    pub fn require(&self, state: &AppState, action: Action) -> Result<(), ApiError> {
        authorize(&self.user, &self.groups, &state.settings().features, action)
            .map_err(ApiError::from)
    }

    /// The caller as an audit actor, now.
    pub fn actor(&self, state: &AppState) -> Actor {
        Actor::new(self.user.username.clone(), state.clock.now())
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
        let user = state.store.authenticate(token)?.ok_or_else(|| {
            tracing::warn!("refused request with an invalid token");
            ApiError::unauthorized()
        })?;
        let groups = state.store.groups()?;
        Ok(Caller { user, groups })
    }
}
