//! Organization routes: users, groups, API tokens (administrators only). Adapters over
//! `node.users()` (`casemesh_service::users`): extract, call, map the error.

use crate::auth::Caller;
use crate::error::{ApiResult, ErrorBody};
use crate::extract::Json;
use crate::extract::Path;
use crate::state::AppState;
use crate::views::{GroupView, UserView};
use axum::extract::State;
use axum::http::StatusCode;
pub use casemesh_api_types::users::{
    CreateGroup, CreateUser, CreatedUser, EditUser, NewToken, Revoked, TokenQuery,
};
use casemesh_service::{NewUser, UserEdit};

/// List users.
#[utoipa::path(get, path = "/v1/users", operation_id = "list_users", tag = "organization", responses((status = 200, body = [UserView]), (status = 403, body = ErrorBody)))]
pub async fn list(State(state): State<AppState>, caller: Caller) -> ApiResult<Json<Vec<UserView>>> {
    let (users, groups) = state.node.users().list(&caller)?;
    Ok(Json(
        users.iter().map(|u| UserView::new(u, &groups)).collect(),
    ))
}

/// Create a user; returns its first API token.
#[utoipa::path(post, path = "/v1/users", operation_id = "create_user", request_body = CreateUser, tag = "organization",
    responses((status = 201, body = CreatedUser), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 409, body = ErrorBody)))]
pub async fn create(
    State(state): State<AppState>,
    caller: Caller,
    Json(req): Json<CreateUser>,
) -> ApiResult<(StatusCode, Json<CreatedUser>)> {
    let new = NewUser {
        username: req.username,
        full_name: req.full_name,
        email: req.email,
        badge_id: req.badge_id,
        permissions: req.permissions,
        groups: req.groups,
    };
    let created = state.node.users().create(&caller, &new)?;
    Ok((
        StatusCode::CREATED,
        Json(CreatedUser {
            user: UserView::new(&created.user, &created.groups),
            token: created.token,
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
    let edit = UserEdit {
        full_name: req.full_name,
        email: req.email,
        badge_id: req.badge_id,
        permissions: req.permissions,
        groups: req.groups,
        disabled: req.disabled,
    };
    let (user, groups) = state.node.users().edit(&caller, &username, &edit)?;
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
    let token = state.node.users().issue_token(&caller, &username, q.keep)?;
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
    let revoked = state.node.users().revoke_tokens(&caller, &username)?;
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
    state.node.users().delete(&caller, &username)?;
    Ok(StatusCode::NO_CONTENT)
}

/// List groups.
#[utoipa::path(get, path = "/v1/groups", operation_id = "list_groups", tag = "organization", responses((status = 200, body = [GroupView]), (status = 403, body = ErrorBody)))]
pub async fn groups(
    State(state): State<AppState>,
    caller: Caller,
) -> ApiResult<Json<Vec<GroupView>>> {
    Ok(Json(
        state
            .node
            .users()
            .groups(&caller)?
            .iter()
            .map(GroupView::from)
            .collect(),
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
    let g = state
        .node
        .users()
        .create_group(&caller, &req.name, &req.permissions)?;
    Ok((StatusCode::CREATED, Json(GroupView::from(&g))))
}

/// Body of `PUT /v1/users/{username}/password`.
#[derive(Debug, serde::Deserialize, utoipa::ToSchema)]
#[serde(deny_unknown_fields)]
pub struct SetPassword {
    /// The new web UI password (8 to 1024 characters); stored only as an Argon2id hash.
    pub password: String,
}

/// Set a user's web UI password (administrators, or the user themselves). API tokens are not
/// affected.
#[utoipa::path(put, path = "/v1/users/{username}/password", operation_id = "set_user_password", request_body = SetPassword, tag = "organization",
    params(("username" = String, Path, description = "login name")),
    responses((status = 204), (status = 400, body = ErrorBody), (status = 403, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn set_password(
    State(state): State<AppState>,
    caller: Caller,
    Path(username): Path<String>,
    Json(req): Json<SetPassword>,
) -> ApiResult<StatusCode> {
    state
        .node
        .users()
        .set_password(&caller, &username, &req.password)
        .await?;
    Ok(StatusCode::NO_CONTENT)
}
