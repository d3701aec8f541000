//! Bearer-token authentication, as an extractor over the use case that does it.
//!
//! Every `/v1` route takes a [`Caller`], which the extractor builds from the `Authorization:
//! Bearer <token>` header through `node.users().authenticate` (the token is looked up by its hash
//! and compared in constant time). A missing or unknown token is a 401 before the handler runs.
//! The methods below are shorthands for the rules of `casemesh_service::cases` (which case a
//! reference names for this caller, and how much of it they see); they hold no rule of their own.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use casemesh_model::access::Visibility;
use casemesh_model::case::{Case, Evidence};
use casemesh_model::org::Action;
use casemesh_store::Actor;

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

impl Caller {
    /// Refuse with 403 unless the user may perform `action` (features, then permissions).
    pub fn require(&self, state: &AppState, action: Action) -> Result<(), ApiError> {
        Ok(state.node.cases().require(self, action)?)
    }

    /// How much of `case` the caller may see ([`casemesh_service::CaseService::visibility`]).
    pub fn visibility(&self, state: &AppState, case: &Case) -> Result<Visibility, ApiError> {
        Ok(state.node.cases().visibility(self, case)?)
    }

    /// The case `reference` names among those the caller may see, with how much of it; else 404
    /// ([`casemesh_service::CaseService::resolve`]).
    pub fn case(&self, state: &AppState, reference: &str) -> Result<(Case, Visibility), ApiError> {
        Ok(state.node.cases().resolve(self, reference)?)
    }

    /// The case `reference` names, seen whole; part of a case answers 403
    /// ([`casemesh_service::CaseService::resolve_whole`]).
    pub fn whole_case(&self, state: &AppState, reference: &str) -> Result<Case, ApiError> {
        Ok(state.node.cases().resolve_whole(self, reference)?)
    }

    /// The evidence item `reference` names in `case`, if `vis` covers it; else 404.
    pub fn evidence(
        &self,
        state: &AppState,
        case: &Case,
        vis: &Visibility,
        reference: &str,
    ) -> Result<Evidence, ApiError> {
        Ok(state.node.cases().evidence(case, vis, reference)?)
    }

    /// Whether the caller may see the received share `s`
    /// ([`casemesh_service::CaseService::may_see_received`]).
    pub fn may_see_received(
        &self,
        state: &AppState,
        s: &casemesh_sharing::records::IncomingShare,
    ) -> Result<bool, ApiError> {
        Ok(state.node.cases().may_see_received(self, s)?)
    }

    /// The received share `reference` names if the caller may see it; else 404
    /// ([`casemesh_service::CaseService::received`]).
    pub fn received(
        &self,
        state: &AppState,
        reference: &str,
    ) -> Result<casemesh_sharing::records::IncomingShare, ApiError> {
        Ok(state.node.cases().received(self, reference)?)
    }

    /// The received share `reference` names if the caller sees all of it; 403 for a part, else
    /// 404 ([`casemesh_service::CaseService::received_whole`]).
    pub fn received_whole(
        &self,
        state: &AppState,
        reference: &str,
    ) -> Result<casemesh_sharing::records::IncomingShare, ApiError> {
        Ok(state.node.cases().received_whole(self, reference)?)
    }

    /// The link `id` if the caller sees its case whole; else 404 as for a missing link.
    pub fn link(&self, state: &AppState, id: &str) -> Result<casemesh_links::LinkRecord, ApiError> {
        let link = state.links.get(id)?;
        if state.node.cases().sees_whole(self, link.case)? {
            Ok(link)
        } else {
            Err(ApiError::not_found(format!("link {id:?} not found")))
        }
    }

    /// The caller as an audit actor, now.
    pub fn actor(&self, state: &AppState) -> Actor {
        self.0.actor(state.clock.now())
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
