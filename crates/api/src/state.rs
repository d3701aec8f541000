//! Shared state of the API handlers: the node's service handles (its use cases), the
//! organization's identity and settings, the clock. It holds no store on purpose: a handler
//! reaches records only through a use case (`state.node.cases()`, `.evidence()`, `.users()`,
//! `.audit()`, `.admin()`, `.access()`, `.shares()`, `.received()`, `.partners()`, `.links()`,
//! `.retention()`), so "no handler touches the store" is checked by the compiler. Nor does it
//! hold the sharing engine (`Node` does not hand it out): partners, shares and received shares
//! are reached only through the use cases that check the caller. The one service it holds
//! directly is the links service, for the public link server, where the token is the authority.

pub use casemesh_model::org::Settings;
use casemesh_service::Node;
pub use casemesh_service::{OrgInfo, SettingsSink};
pub use casemesh_store::Clock;
use std::sync::{Arc, RwLock};

/// Everything a handler needs; cheap to clone.
#[derive(Clone)]
pub struct AppState {
    /// The node: its use cases ([`Node::cases`], [`Node::evidence`], [`Node::users`], …).
    pub node: Node,
    /// This organization.
    pub org: OrgInfo,
    /// The clock.
    pub clock: Clock,
    /// The admin endpoint's bound address, for `/v1/node`.
    pub admin_addr: Arc<RwLock<String>>,
    /// The node's data directory (`packages/` lives below it).
    pub data_dir: std::path::PathBuf,
    /// The public side of download links, for the public link server (`crate::links::public`):
    /// its use cases admit a token and record a download. No caller there: whoever holds the
    /// token may download. The admin routes use `node.links()`, which checks the caller.
    pub links: casemesh_service::PublicLinks,
}

impl AppState {
    /// The handlers' view of a started node.
    pub fn new(node: &Node) -> AppState {
        AppState {
            node: node.clone(),
            org: node.org().clone(),
            clock: node.clock(),
            admin_addr: Arc::new(RwLock::new(node.admin_addr().to_string())),
            data_dir: node.data_dir().to_path_buf(),
            links: node.links().public(),
        }
    }

    /// A snapshot of the settings ([`Node::settings`]; changed only through
    /// `node.admin().edit_settings`).
    pub fn settings(&self) -> Settings {
        self.node.settings()
    }
}
