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
        // Among the visible cases with that number, the local one first, else the only copy
        // (the rule of `casemesh_store::case_numbers`).
        let mut visible = Vec::new();
        for c in state.store.cases_numbered(reference)? {
            if self.visibility(state, &c)?.any() {
                visible.push(c);
            }
        }
        let case = casemesh_store::case_numbers::pick(reference, visible).map_err(|e| match e {
            casemesh_store::StoreError::NotFound(_) => not_found(),
            e => ApiError::from(e),
        })?;
        let vis = self.visibility(state, &case)?;
        Ok((case, vis))
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

    /// Whether the caller administers the node or holds `all_cases`.
    fn sees_all(&self) -> bool {
        let perms = casemesh_model::org::effective_permissions(&self.user, &self.groups);
        perms.contains(&casemesh_model::org::Permission::Administer)
            || perms.contains(&casemesh_model::org::Permission::AllCases)
    }

    /// Whether the caller may see the received share `s`: administrators and `all_cases`, a user
    /// the sharer named (as this organization resolved them), or whoever sees its local copy.
    pub fn may_see_received(
        &self,
        state: &AppState,
        s: &casemesh_sharing::records::IncomingShare,
    ) -> Result<bool, ApiError> {
        if self.sees_all() || s.resolved_users.contains(&self.user.username) {
            return Ok(true);
        }
        match s
            .local_case
            .map(|c| state.store.case(c))
            .transpose()?
            .flatten()
        {
            Some(copy) => Ok(self.visibility(state, &copy)?.any()),
            None => Ok(false),
        }
    }

    /// The received share `reference` names (share id or the local copy's record id or Case ID)
    /// if the caller may see it; else 404 exactly as for a missing one.
    pub fn received(
        &self,
        state: &AppState,
        reference: &str,
    ) -> Result<casemesh_sharing::records::IncomingShare, ApiError> {
        let e = &state.sharing;
        let not_found = || {
            ApiError::from(casemesh_sharing::SharingError::NotFound(format!(
                "received share {reference:?}"
            )))
        };
        let share = match e.received_share(reference) {
            Ok(s) => s,
            Err(casemesh_sharing::SharingError::NotFound(_)) => {
                let (case, _) = self.case(state, reference).map_err(|_| not_found())?;
                e.received_share(&case.id.to_string())
                    .map_err(|_| not_found())?
            }
            Err(other) => return Err(other.into()),
        };
        if self.may_see_received(state, &share)? {
            Ok(share)
        } else {
            Err(not_found())
        }
    }

    /// The link `id` if the caller sees its case whole; else 404 as for a missing link.
    pub fn link(&self, state: &AppState, id: &str) -> Result<casemesh_links::LinkRecord, ApiError> {
        let link = state.links.get(id)?;
        let case = state.store.case(link.case)?;
        let whole = match case {
            Some(c) => self.visibility(state, &c)? == Visibility::Whole,
            None => self.sees_all(),
        };
        if whole {
            Ok(link)
        } else {
            Err(ApiError::not_found(format!("link {id:?} not found")))
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
