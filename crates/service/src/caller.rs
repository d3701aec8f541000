//! Who is asking: the authenticated user a use case acts for ([`Caller`]), built by
//! [`UserService::authenticate`](crate::users::UserService::authenticate) from an API token.
//! Permission rules are the pure functions of `casemesh_model::org` and
//! `casemesh_model::access`; this type only carries what they need.

use casemesh_model::org::{
    Action, Denied, FeatureFlags, Group, Permission, User, authorize, effective_permissions,
};
use casemesh_model::time::Timestamp;
use casemesh_store::Actor;

/// The authenticated user making a request, with the organization's groups (for effective
/// permissions: a user's own plus its groups').
#[derive(Debug, Clone)]
pub struct Caller {
    /// The user.
    pub user: User,
    /// All groups of the organization.
    pub groups: Vec<Group>,
}

impl Caller {
    /// `Err(Denied)` unless the user may perform `action` under the organization's feature
    /// flags `flags` (features first, then permissions: `casemesh_model::org::authorize`).
    pub fn require(&self, flags: &FeatureFlags, action: Action) -> Result<(), Denied> {
        authorize(&self.user, &self.groups, flags, action)
    }

    /// Whether the user administers the node or holds `all_cases` (sees every case whole).
    pub fn sees_all(&self) -> bool {
        let perms = effective_permissions(&self.user, &self.groups);
        perms.contains(&Permission::Administer) || perms.contains(&Permission::AllCases)
    }

    /// The user as an audit actor at `now`.
    pub fn actor(&self, now: Timestamp) -> Actor {
        Actor::new(self.user.username.clone(), now)
    }
}
