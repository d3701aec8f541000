//! Users, groups and tokens: `/v1/users/*` and `/v1/groups` bodies.

use casemesh_model::ids::{GroupId, UserId};
use casemesh_model::org::{Group, User};
use serde::{Deserialize, Serialize};
use utoipa::{IntoParams, ToSchema};

/// A user.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct UserView {
    /// Id.
    #[schema(value_type = String, format = "uuid")]
    pub id: UserId,
    /// Login name.
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// Email.
    pub email: Option<String>,
    /// Badge ID.
    pub badge_id: Option<String>,
    /// Permissions held directly.
    pub permissions: Vec<String>,
    /// Group names.
    pub groups: Vec<String>,
    /// A disabled user's tokens open nothing.
    pub disabled: bool,
}

/// A group.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct GroupView {
    /// Id.
    #[schema(value_type = String, format = "uuid")]
    pub id: GroupId,
    /// Name.
    pub name: String,
    /// Permissions of every member.
    pub permissions: Vec<String>,
}

/// Body of `POST /v1/users`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize, ToSchema)]
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
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, IntoParams)]
pub struct TokenQuery {
    /// Keep the user's earlier tokens working (default: the new token replaces them).
    #[serde(default)]
    pub keep: bool,
}

/// How many tokens were revoked.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct Revoked {
    /// Tokens that no longer open anything.
    pub revoked: usize,
}

/// A new user and its first token (shown once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CreatedUser {
    /// The user.
    pub user: UserView,
    /// Its API token.
    pub token: String,
}

/// A new token (shown once).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct NewToken {
    /// The token.
    pub token: String,
}

/// Body of `POST /v1/groups`.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
#[serde(deny_unknown_fields)]
pub struct CreateGroup {
    /// Name.
    pub name: String,
    /// Permission names.
    #[serde(default)]
    pub permissions: Vec<String>,
}

impl UserView {
    /// The view of a user, naming its groups.
    pub fn new(u: &User, groups: &[Group]) -> UserView {
        UserView {
            id: u.id,
            username: u.username.clone(),
            full_name: u.full_name.clone(),
            email: u.email.clone(),
            badge_id: u.badge_id.clone(),
            permissions: u.permissions.iter().map(|p| p.name().to_owned()).collect(),
            groups: groups
                .iter()
                .filter(|g| u.groups.contains(&g.id))
                .map(|g| g.name.clone())
                .collect(),
            disabled: u.disabled,
        }
    }
}

impl From<&Group> for GroupView {
    fn from(g: &Group) -> Self {
        GroupView {
            id: g.id,
            name: g.name.clone(),
            permissions: g.permissions.iter().map(|p| p.name().to_owned()).collect(),
        }
    }
}
