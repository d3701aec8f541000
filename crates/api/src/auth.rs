//! Bearer-token authentication and permission checks.
//!
//! Every `/v1` route takes a [`Caller`], which the extractor builds from the `Authorization:
//! Bearer <token>` header; the token is looked up by its hash and compared in constant time (see
//! `Store::authenticate`). A missing or unknown token is a 401 before the handler runs.

use crate::error::ApiError;
use crate::state::AppState;
use axum::extract::FromRequestParts;
use axum::http::request::Parts;
use casemesh_model::access::{Visibility, visibility};
use casemesh_model::case::{Case, Evidence};
use casemesh_model::ids::CaseId;
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

    /// How much of `case` the caller may see (issue #12: owner, administrators and `all_cases`
    /// see it whole; others what the case's access list gives them or their groups).
    pub fn visibility(&self, state: &AppState, case: &Case) -> Result<Visibility, ApiError> {
        let entries = state.store.case_access(case.id)?;
        Ok(visibility(&self.user, &self.groups, case.owner, &entries))
    }

    /// The case `reference` names (record id or Case ID) among the cases the caller may see, with
    /// how much of it. A case the caller may not see answers exactly like a missing one (404), and
    /// a Case ID is matched only among visible cases, so nothing tells the caller it exists.
    pub fn case(&self, state: &AppState, reference: &str) -> Result<(Case, Visibility), ApiError> {
        let not_found = || {
            ApiError::from(casemesh_store::StoreError::NotFound(format!(
                "case {reference:?}"
            )))
        };
        if let Ok(id) = reference.parse::<CaseId>()
            && let Some(c) = state.store.case(id)?
        {
            let vis = self.visibility(state, &c)?;
            return if vis.any() {
                Ok((c, vis))
            } else {
                Err(not_found())
            };
        }
        let mut found = Vec::new();
        for c in state.store.cases()? {
            if c.case_number == reference {
                let vis = self.visibility(state, &c)?;
                if vis.any() {
                    found.push((c, vis));
                }
            }
        }
        match found.len() {
            0 => Err(not_found()),
            1 => Ok(found.remove(0)),
            n => Err(ApiError::from(casemesh_store::StoreError::Conflict(
                format!("{n} cases have the case id {reference:?}; use the record id"),
            ))),
        }
    }

    /// The case `reference` names, for a change or an action on the whole case (editing, sharing,
    /// links, its audit trail): the caller must see it whole. Part of a case answers 403.
    pub fn whole_case(&self, state: &AppState, reference: &str) -> Result<Case, ApiError> {
        let (case, vis) = self.case(state, reference)?;
        match vis {
            Visibility::Whole => Ok(case),
            _ => Err(ApiError::forbidden(
                "you have access to part of this case only; ask its owner".to_owned(),
            )),
        }
    }

    /// The evidence item `reference` names (id or display id) in `case`, if `vis` covers it;
    /// else 404 as if it did not exist.
    pub fn evidence(
        &self,
        state: &AppState,
        case: &Case,
        vis: &Visibility,
        reference: &str,
    ) -> Result<Evidence, ApiError> {
        let ev = state.store.resolve_evidence(case.id, reference)?;
        if vis.covers(ev.id, ev.folder, case) {
            Ok(ev)
        } else {
            Err(ApiError::from(casemesh_store::StoreError::NotFound(
                format!("evidence {reference:?}"),
            )))
        }
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
