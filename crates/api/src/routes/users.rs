//! Organization routes: users, groups, API tokens (administrators only).

use crate::auth::Caller;
use crate::error::{ApiError, ApiResult, ErrorBody};
use crate::extract::Json;
use crate::extract::Path;
use crate::state::AppState;
use crate::views::{GroupView, UserView};
use axum::extract::State;
use axum::http::StatusCode;
use casemesh_model::ids::GroupId;
use casemesh_model::names::validate_name;
use casemesh_model::org::{Action, Group, Permission, User};
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;
use utoipa::ToSchema;

/// Body of `POST /v1/users`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateUser {
    /// Login name.
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// Email.
    pub email: Option<String>,
    /// Badge ID.
    pub badge_id: Option<String>,
    /// Permission names.
    #[serde(default)]
    pub permissions: Vec<String>,
    /// Group names.
    #[serde(default)]
    pub groups: Vec<String>,
}

/// Body of `PATCH /v1/users/{username}`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct EditUser {
    /// Full name.
    pub full_name: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Badge ID.
    pub badge_id: Option<String>,
    /// Replace the permissions.
    pub permissions: Option<Vec<String>>,
    /// Replace the group memberships.
    pub groups: Option<Vec<String>>,
    /// Disable (`true`: its tokens open nothing) or enable the user.
    pub disabled: Option<bool>,
}

/// Query of `POST /v1/users/{username}/tokens`.
#[derive(Debug, Deserialize, utoipa::IntoParams)]
pub struct TokenQuery {
    /// Keep the user's earlier tokens working (default: the new token replaces them).
    #[serde(default)]
    pub keep: bool,
}

/// How many tokens were revoked.
#[derive(Debug, Serialize, ToSchema)]
pub struct Revoked {
    /// Tokens that no longer open anything.
    pub revoked: usize,
}

/// A new user and its first token (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct CreatedUser {
    /// The user.
    pub user: UserView,
    /// Its API token.
    pub token: String,
}

/// A new token (shown once).
#[derive(Debug, Serialize, ToSchema)]
pub struct NewToken {
    /// The token.
    pub token: String,
}

/// Body of `POST /v1/groups`.
#[derive(Debug, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// Name.
    pub name: String,
    /// Permission names.
    #[serde(default)]
    pub permissions: Vec<String>,
}

fn permissions(names: &[String]) -> ApiResult<BTreeSet<Permission>> {
    names
        .iter()
        .map(|n| {
            Permission::from_name(n).ok_or_else(|| {
                let known: Vec<&str> = Permission::ALL.iter().map(|p| p.name()).collect();
                ApiError::bad_request(format!(
                    "unknown permission {n:?}; known: {}",
                    known.join(", ")
                ))
            })
        })
        .collect()
}

fn group_ids(all: &[Group], names: &[String]) -> ApiResult<BTreeSet<GroupId>> {
    names
        .iter()
        .map(|n| {
            all.iter()
                .find(|g| &g.name == n)
                .map(|g| g.id)
                .ok_or_else(|| ApiError::bad_request(format!("unknown group {n:?}")))
        })
        .collect()
}

fn check_optional(field: &str, v: &Option<String>) -> ApiResult<()> {
    match v {
        Some(s) if s.len() > 320 || s.chars().any(char::is_control) => {
            Err(ApiError::bad_request(format!("invalid {field}")))
        }
        _ => Ok(()),
    }
}

/// List users.
#[utoipa::path(get, path = "/v1/users", operation_id = "list_users", tag = "organization", responses((status = 200, body = [UserView]), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<UserView>>> {
    caller.require(&state, Action::Administer)?;
    let groups = state.store.groups()?;
    let mut users: Vec<UserView> = state
        .store
        .users()?
        .iter()
        .map(|u| UserView::new(u, &groups))
        .collect();
    users.sort_by(|a, b| a.username.cmp(&b.username));
    Ok(Json(users))
}

/// Create a user; returns its first API token.
#[utoipa::path(post, path = "/v1/users", operation_id = "create_user", request_body = CreateUser, tag = "organization",
    responses((status = 201, body = CreatedUser), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateUser>,
) -> ApiResult<(StatusCode, Json<CreatedUser>)> {
    caller.require(&state, Action::Administer)?;
    validate_name(&req.username)?;
    check_optional("email", &req.email)?;
    check_optional("badge_id", &req.badge_id)?;
    let groups = state.store.groups()?;
    let mut user = User::new(&req.username, &req.full_name);
    user.email = req.email.clone();
    user.badge_id = req.badge_id.clone();
    user.permissions = permissions(&req.permissions)?;
    user.groups = group_ids(&groups, &req.groups)?;
    state.store.create_user(&user)?;
    let token = state.store.issue_token(user.id, state.clock.now())?;
    tracing::info!(user = %user.id, by = %caller.user.username, "user created");
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user: UserView::new(&user, &groups),
            token,
        }),
    ))
}

/// Edit a user.
#[utoipa::path(patch, path = "/v1/users/{username}", operation_id = "edit_user", request_body = EditUser, tag = "organization",
    params(("username" = String, Path, description = "login name")),
    responses((status = 200, body = UserView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn edit(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
    Json(req): Json<EditUser>,
) -> ApiResult<Json<UserView>> {
    caller.require(&state, Action::Administer)?;
    check_optional("email", &req.email)?;
    check_optional("badge_id", &req.badge_id)?;
    let groups = state.store.groups()?;
    let mut user = state
        .store
        .user_by_name(&username)?
        .ok_or_else(|| ApiError::not_found(format!("user {username:?}")))?;
    if let Some(v) = &req.full_name {
        user.full_name = v.clone();
    }
    if let Some(v) = &req.email {
        user.email = (!v.is_empty()).then(|| v.clone());
    }
    if let Some(v) = &req.badge_id {
        user.badge_id = (!v.is_empty()).then(|| v.clone());
    }
    if let Some(p) = &req.permissions {
        user.permissions = permissions(p)?;
    }
    if let Some(g) = &req.groups {
        user.groups = group_ids(&groups, g)?;
    }
    if let Some(d) = req.disabled {
        if d && user.id == caller.user.id {
            return Err(ApiError::bad_request(
                "you cannot disable yourself (another administrator can)".to_owned(),
            ));
        }
        user.disabled = d;
    }
    state.store.update_user(&user)?;
    Ok(Json(UserView::new(&user, &groups)))
}

/// Issue a new API token for a user; it replaces the user's earlier tokens unless `keep`.
#[utoipa::path(post, path = "/v1/users/{username}/tokens", operation_id = "issue_user_token", tag = "organization",
    params(("username" = String, Path, description = "login name"), TokenQuery),
    responses((status = 201, body = NewToken), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn token(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
    axum::extract::Query(q): axum::extract::Query<TokenQuery>,
) -> ApiResult<(StatusCode, Json<NewToken>)> {
    caller.require(&state, Action::Administer)?;
    let user = state
        .store
        .user_by_name(&username)?
        .ok_or_else(|| ApiError::not_found(format!("user {username:?}")))?;
    let token = state
        .store
        .replace_token(user.id, state.clock.now(), q.keep)?;
    tracing::info!(by = %caller.user.username, user = %username, keep = q.keep, "token issued");
    Ok((StatusCode::CREATED, Json(NewToken { token })))
}

/// Revoke every API token of a user.
#[utoipa::path(delete, path = "/v1/users/{username}/tokens", operation_id = "revoke_user_tokens", tag = "organization",
    params(("username" = String, Path, description = "login name")),
    responses((status = 200, body = Revoked), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn revoke_tokens(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> ApiResult<Json<Revoked>> {
    caller.require(&state, Action::Administer)?;
    let user = state
        .store
        .user_by_name(&username)?
        .ok_or_else(|| ApiError::not_found(format!("user {username:?}")))?;
    let revoked = state.store.revoke_tokens(user.id)?;
    tracing::info!(by = %caller.user.username, user = %username, revoked, "tokens revoked");
    Ok(Json(Revoked { revoked }))
}

/// Delete a user: its record and tokens go, its audit entries stay.
#[utoipa::path(delete, path = "/v1/users/{username}", operation_id = "delete_user", tag = "organization",
    params(("username" = String, Path, description = "login name")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn delete(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
) -> ApiResult<StatusCode> {
    caller.require(&state, Action::Administer)?;
    let user = state
        .store
        .user_by_name(&username)?
        .ok_or_else(|| ApiError::not_found(format!("user {username:?}")))?;
    if user.id == caller.user.id {
        return Err(ApiError::bad_request(
            "you cannot delete yourself (another administrator can)".to_owned(),
        ));
    }
    state.store.delete_user(&user)?;
    tracing::info!(by = %caller.user.username, user = %username, "user deleted");
    Ok(StatusCode::NO_CONTENT)
}

/// List groups.
#[utoipa::path(get, path = "/v1/groups", operation_id = "list_groups", tag = "organization", responses((status = 200, body = [GroupView]), (status = 403, body = ErrorBody)))]
pub async fn groups(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<GroupView>>> {
    caller.require(&state, Action::Administer)?;
    Ok(Json(
        state.store.groups()?.iter().map(GroupView::from).collect(),
    ))
}

/// Create a group.
#[utoipa::path(post, path = "/v1/groups", operation_id = "create_group", request_body = CreateGroup, tag = "organization",
    responses((status = 201, body = GroupView), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create_group(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateGroup>,
) -> ApiResult<(StatusCode, Json<GroupView>)> {
    caller.require(&state, Action::Administer)?;
    validate_name(&req.name)?;
    let g = Group {
        id: GroupId::random(),
        name: req.name.clone(),
        permissions: permissions(&req.permissions)?,
    };
    state.store.create_group(&g)?;
    Ok((StatusCode::CREATED, Json(GroupView::from(&g))))
}
