//! Organization use cases, reached as `node.users()`: authenticate an API token
//! ([`UserService::authenticate`], the start of every admin request), users, groups and tokens
//! (administrators only). Tokens are stored only as BLAKE3 hashes and compared in constant time
//! (`casemesh_store::Store::authenticate`); a new token replaces the earlier ones unless kept.
//!
//! Web UI passwords ([`UserService::set_password`], [`UserService::sign_in`]) are stored only as
//! Argon2id hashes on the user record (`User::password_hash`).
//!
//! Errors are [`UserError`]; each says what to do next ([`UserError::disposition`]).

use crate::caller::Caller;
use crate::error::{Disposition, of_store};
use crate::tasks::RequestTasks;
use casemesh_model::ids::GroupId;
use casemesh_model::names::{NameError, limits, validate_name};
use casemesh_model::org::{Action, Denied, Group, Permission, Settings, User};
use casemesh_store::{Clock, Store, StoreError};
use std::collections::BTreeSet;
use std::sync::{Arc, RwLock};

/// Why an organization use case refused or failed; nothing changed.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum UserError {
    /// The token is missing, unknown, revoked or its user disabled.
    #[error("missing or invalid bearer token")]
    Unauthenticated,
    /// The caller lacks a permission (administer) or the organization a feature.
    #[error(transparent)]
    Denied(#[from] Denied),
    /// No user with this username.
    #[error("user {0:?} not found")]
    NoSuchUser(String),
    /// The request is refused as given (an unknown permission or group, a bad email, disabling
    /// or deleting oneself).
    #[error("{0}")]
    Invalid(String),
    /// A username or group name is not a valid name.
    #[error("invalid name: {0}")]
    Name(#[from] NameError),
    /// The store refused (a name taken) or failed.
    #[error(transparent)]
    Store(#[from] StoreError),
}

impl UserError {
    /// What the caller should do.
    pub fn disposition(&self) -> Disposition {
        match self {
            UserError::NoSuchUser(_) => Disposition::NotFound,
            UserError::Unauthenticated
            | UserError::Denied(_)
            | UserError::Invalid(_)
            | UserError::Name(_) => Disposition::Refuse,
            UserError::Store(e) => of_store(e),
        }
    }
}

/// A new user as the administrator asked for it.
#[derive(Debug, Clone, Default)]
pub struct NewUser {
    /// Login name (a valid name).
    pub username: String,
    /// Full name.
    pub full_name: String,
    /// Email (at most 320 bytes, no control characters).
    pub email: Option<String>,
    /// Badge ID (same limits).
    pub badge_id: Option<String>,
    /// Permission names (`Permission::name`).
    pub permissions: Vec<String>,
    /// Group names.
    pub groups: Vec<String>,
}

/// Changes to a user; `None` keeps a field, an empty email or badge id clears it.
#[derive(Debug, Clone, Default)]
pub struct UserEdit {
    /// Full name.
    pub full_name: Option<String>,
    /// Email.
    pub email: Option<String>,
    /// Badge ID.
    pub badge_id: Option<String>,
    /// Replace the permissions (names).
    pub permissions: Option<Vec<String>>,
    /// Replace the group memberships (names).
    pub groups: Option<Vec<String>>,
    /// Disable (its tokens open nothing) or enable the user.
    pub disabled: Option<bool>,
}

/// A new user and its first API token (the only time the token is shown).
#[derive(Debug, Clone)]
pub struct CreatedUser {
    /// The user.
    pub user: User,
    /// Its token.
    pub token: String,
    /// The organization's groups (to name the user's).
    pub groups: Vec<Group>,
}

/// The organization use cases: cheap to clone.
#[derive(Clone)]
pub struct UserService {
    store: Store,
    settings: Arc<RwLock<Settings>>,
    clock: Clock,
    tasks: RequestTasks,
}

impl UserService {
    /// Organization use cases over `store`, feature flags from `settings`; password hashing runs
    /// on `tasks` (the node's, joined at shutdown).
    pub fn new(
        store: Store,
        settings: Arc<RwLock<Settings>>,
        clock: Clock,
        tasks: RequestTasks,
    ) -> UserService {
        UserService {
            store,
            settings,
            clock,
            tasks,
        }
    }

    fn administer(&self, caller: &Caller) -> Result<(), UserError> {
        let flags = self
            .settings
            .read()
            .map(|s| s.features.clone())
            .unwrap_or_default();
        Ok(caller.require(&flags, Action::Administer)?)
    }

    /// The caller a bearer token stands for, with the organization's groups; `Unauthenticated`
    /// for an unknown or revoked token or a disabled user.
    pub fn authenticate(&self, token: &str) -> Result<Caller, UserError> {
        let user = self.store.authenticate(token)?.ok_or_else(|| {
            tracing::warn!("refused request with an invalid token");
            UserError::Unauthenticated
        })?;
        Ok(Caller {
            user,
            groups: self.store.groups()?,
        })
    }

    /// Every user, by username, with the organization's groups (administrators).
    pub fn list(&self, caller: &Caller) -> Result<(Vec<User>, Vec<Group>), UserError> {
        self.administer(caller)?;
        let mut users = self.store.users()?;
        users.sort_by(|a, b| a.username.cmp(&b.username));
        Ok((users, self.store.groups()?))
    }

    /// Create a user and issue its first token (administrators).
    pub fn create(&self, caller: &Caller, new: &NewUser) -> Result<CreatedUser, UserError> {
        self.administer(caller)?;
        validate_name(&new.username)?;
        check_person("full_name", &new.full_name)?;
        check_optional("email", &new.email)?;
        check_optional("badge_id", &new.badge_id)?;
        let groups = self.store.groups()?;
        let mut user = User::new(&new.username, &new.full_name);
        user.email = new.email.clone();
        user.badge_id = new.badge_id.clone();
        user.permissions = permissions(&new.permissions)?;
        user.groups = group_ids(&groups, &new.groups)?;
        self.store.create_user(&user)?;
        let token = self.store.issue_token(user.id, self.clock.now())?;
        tracing::info!(user = %user.id, by = %caller.user.username, "user created");
        Ok(CreatedUser {
            user,
            token,
            groups,
        })
    }

    /// Edit a user (administrators; nobody disables themselves). Returns the user and the
    /// organization's groups.
    pub fn edit(
        &self,
        caller: &Caller,
        username: &str,
        edit: &UserEdit,
    ) -> Result<(User, Vec<Group>), UserError> {
        self.administer(caller)?;
        check_optional("email", &edit.email)?;
        check_optional("badge_id", &edit.badge_id)?;
        let groups = self.store.groups()?;
        let mut user = self.user(username)?;
        if let Some(v) = &edit.full_name {
            check_person("full_name", v)?;
            user.full_name = v.clone();
        }
        if let Some(v) = &edit.email {
            user.email = (!v.is_empty()).then(|| v.clone());
        }
        if let Some(v) = &edit.badge_id {
            user.badge_id = (!v.is_empty()).then(|| v.clone());
        }
        if let Some(p) = &edit.permissions {
            user.permissions = permissions(p)?;
        }
        if let Some(g) = &edit.groups {
            user.groups = group_ids(&groups, g)?;
        }
        if let Some(d) = edit.disabled {
            if d && user.id == caller.user.id {
                return Err(UserError::Invalid(
                    "you cannot disable yourself (another administrator can)".into(),
                ));
            }
            user.disabled = d;
        }
        self.store.update_user(&user)?;
        Ok((user, groups))
    }

    /// Issue a new API token for `username` (administrators); it replaces the user's earlier
    /// tokens unless `keep`. The token is returned once and stored only as its hash.
    pub fn issue_token(
        &self,
        caller: &Caller,
        username: &str,
        keep: bool,
    ) -> Result<String, UserError> {
        self.administer(caller)?;
        let user = self.user(username)?;
        let token = self.store.replace_token(user.id, self.clock.now(), keep)?;
        tracing::info!(by = %caller.user.username, user = %username, keep, "token issued");
        Ok(token)
    }

    /// Revoke every token of `username` (administrators); returns how many.
    pub fn revoke_tokens(&self, caller: &Caller, username: &str) -> Result<usize, UserError> {
        self.administer(caller)?;
        let user = self.user(username)?;
        let revoked = self.store.revoke_tokens(user.id)?;
        tracing::info!(by = %caller.user.username, user = %username, revoked, "tokens revoked");
        Ok(revoked)
    }

    /// Delete a user (administrators; nobody deletes themselves): its record and tokens go, its
    /// audit entries stay.
    pub fn delete(&self, caller: &Caller, username: &str) -> Result<(), UserError> {
        self.administer(caller)?;
        let user = self.user(username)?;
        if user.id == caller.user.id {
            return Err(UserError::Invalid(
                "you cannot delete yourself (another administrator can)".into(),
            ));
        }
        self.store.delete_user(&user)?;
        tracing::info!(by = %caller.user.username, user = %username, "user deleted");
        Ok(())
    }

    /// Every group (administrators).
    pub fn groups(&self, caller: &Caller) -> Result<Vec<Group>, UserError> {
        self.administer(caller)?;
        Ok(self.store.groups()?)
    }

    /// Create a group (administrators).
    pub fn create_group(
        &self,
        caller: &Caller,
        name: &str,
        permission_names: &[String],
    ) -> Result<Group, UserError> {
        self.administer(caller)?;
        validate_name(name)?;
        let g = Group {
            id: GroupId::random(),
            name: name.to_owned(),
            permissions: permissions(permission_names)?,
        };
        self.store.create_group(&g)?;
        Ok(g)
    }

    /// Set `username`'s web UI password (administrators, or the user themselves): stored only as
    /// an Argon2id hash (default parameters, random salt) on the user record. Refused: a password
    /// shorter than [`MIN_PASSWORD_CHARS`] or longer than [`MAX_PASSWORD_CHARS`] characters.
    /// Signed-in web UI sessions of the user end at their next request (they keep a
    /// fingerprint of the hash at sign-in, `casemesh_ui::session`, which no longer matches).
    pub async fn set_password(
        &self,
        caller: &Caller,
        username: &str,
        password: &str,
    ) -> Result<(), UserError> {
        if caller.user.username != username {
            self.administer(caller)?;
        }
        check_password_length(password)?;
        let mut user = self.user(username)?;
        let password = password.to_owned();
        let hash = self
            .tasks
            .blocking(move || {
                use argon2::password_hash::PasswordHasher as _;
                argon2::Argon2::default()
                    .hash_password(password.as_bytes())
                    .map(|h| h.to_string())
            })
            .await
            .map_err(|e| UserError::Invalid(format!("password hashing failed: {e}")))?
            .map_err(|e| UserError::Invalid(format!("password hashing failed: {e}")))?;
        user.password_hash = Some(hash);
        self.store.update_user(&user)?;
        tracing::info!(by = %caller.user.username, user = %username, "password set");
        Ok(())
    }

    /// Create a user with a web UI password (administrators), as the web UI's Users screen
    /// does: the password is checked first (its length, the rule of [`Self::set_password`]), so
    /// a refused password creates nothing; then [`Self::create`] (which issues the user's first
    /// API token, returned once) and [`Self::set_password`]. Should hashing fail after the user
    /// was created, the user is deleted again and the error returned.
    pub async fn create_with_password(
        &self,
        caller: &Caller,
        new: &NewUser,
        password: &str,
    ) -> Result<CreatedUser, UserError> {
        self.administer(caller)?;
        check_password_length(password)?;
        let created = self.create(caller, new)?;
        if let Err(e) = self.set_password(caller, &new.username, password).await {
            let _ = self.store.delete_user(&created.user);
            return Err(e);
        }
        Ok(created)
    }

    /// The caller a web UI sign-in stands for: `username` with a password that verifies against
    /// its stored hash. `Unauthenticated` alike for an unknown user, a disabled one, one without
    /// a password and a wrong password (an unknown user is checked against a dummy hash so the
    /// answer takes as long).
    pub async fn sign_in(&self, username: &str, password: &str) -> Result<Caller, UserError> {
        let user = self.store.user_by_name(username)?;
        let hash = user.as_ref().and_then(|u| u.password_hash.clone());
        let password = password.to_owned();
        let verified = self
            .tasks
            .blocking(move || {
                use argon2::password_hash::PasswordVerifier as _;
                let hash = hash.unwrap_or_else(dummy_hash);
                argon2::password_hash::phc::PasswordHash::new(&hash).is_ok_and(|h| {
                    argon2::Argon2::default()
                        .verify_password(password.as_bytes(), &h)
                        .is_ok()
                })
            })
            .await
            .unwrap_or(false);
        match user {
            Some(user) if verified && user.password_hash.is_some() && !user.disabled => {
                Ok(Caller {
                    user,
                    groups: self.store.groups()?,
                })
            }
            _ => {
                tracing::warn!("refused sign-in");
                Err(UserError::Unauthenticated)
            }
        }
    }

    /// The caller for a signed-in web UI session of user `id`, read afresh (a user disabled or
    /// deleted since sign-in is `Unauthenticated`; changed permissions apply at once). The UI
    /// also compares a fingerprint of the caller's `password_hash` with the session's.
    pub fn session_caller(&self, id: casemesh_model::ids::UserId) -> Result<Caller, UserError> {
        match self.store.user(id)? {
            Some(user) if !user.disabled && user.password_hash.is_some() => Ok(Caller {
                user,
                groups: self.store.groups()?,
            }),
            _ => Err(UserError::Unauthenticated),
        }
    }

    fn user(&self, username: &str) -> Result<User, UserError> {
        self.store
            .user_by_name(username)?
            .ok_or_else(|| UserError::NoSuchUser(username.to_owned()))
    }
}

/// Fewest characters a web UI password may have (NIST SP 800-63B, 5.1.1.2: at least 8).
pub const MIN_PASSWORD_CHARS: usize = 8;
/// Most characters a web UI password may have (bounds the hashing work a sign-in costs: at most
/// 4 KiB of UTF-8).
pub const MAX_PASSWORD_CHARS: usize = 1024;

/// `Invalid` unless `password` has [`MIN_PASSWORD_CHARS`] to [`MAX_PASSWORD_CHARS`] characters
/// (characters, not bytes).
fn check_password_length(password: &str) -> Result<(), UserError> {
    let chars = password.chars().count();
    if !(MIN_PASSWORD_CHARS..=MAX_PASSWORD_CHARS).contains(&chars) {
        return Err(UserError::Invalid(format!(
            "a password has {MIN_PASSWORD_CHARS} to {MAX_PASSWORD_CHARS} characters"
        )));
    }
    Ok(())
}

/// An Argon2id hash of a password nobody knows (made once), verified against when the user does
/// not exist or has no password, so a sign-in takes as long either way.
fn dummy_hash() -> String {
    static DUMMY: std::sync::OnceLock<String> = std::sync::OnceLock::new();
    DUMMY
        .get_or_init(|| {
            use argon2::password_hash::PasswordHasher as _;
            let mut secret = [0u8; 32];
            let _ = getrandom::fill(&mut secret);
            argon2::Argon2::default()
                .hash_password(&secret)
                .map(|h| h.to_string())
                .unwrap_or_default()
        })
        .clone()
}

fn permissions(names: &[String]) -> Result<BTreeSet<Permission>, UserError> {
    names
        .iter()
        .map(|n| {
            Permission::from_name(n).ok_or_else(|| {
                let known: Vec<&str> = Permission::ALL.iter().map(|p| p.name()).collect();
                UserError::Invalid(format!(
                    "unknown permission {n:?}; known: {}",
                    known.join(", ")
                ))
            })
        })
        .collect()
}

fn group_ids(all: &[Group], names: &[String]) -> Result<BTreeSet<GroupId>, UserError> {
    names
        .iter()
        .map(|n| {
            all.iter()
                .find(|g| &g.name == n)
                .map(|g| g.id)
                .ok_or_else(|| UserError::Invalid(format!("unknown group {n:?}")))
        })
        .collect()
}

/// An optional directory field (email, badge id): as [`check_person`] when given.
fn check_optional(field: &'static str, v: &Option<String>) -> Result<(), UserError> {
    match v {
        Some(s) => check_person(field, s),
        None => Ok(()),
    }
}

/// A user's directory field (full name, email, badge id): one line of at most
/// [`limits::PERSON_FIELD`] bytes without control characters or bidirectional overrides
/// (`casemesh_model::names::check_line`). These fields are shown in tables, pages and logs, and
/// sent to partners in directory answers, so an escape sequence or a line break would travel
/// with them.
fn check_person(field: &'static str, v: &str) -> Result<(), UserError> {
    casemesh_model::names::check_line(field, v, limits::PERSON_FIELD)
        .map_err(|e| UserError::Invalid(e.to_string()))
}
