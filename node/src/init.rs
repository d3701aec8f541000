//! `casemesh init`: create a data directory — identity key, configuration, database, blob store
//! and the first administrator with an API token.

use crate::config::{Config, Layout, write_atomic};
use anyhow::{Context as _, Result, bail};
use casemesh_model::org::{Permission, User};
use casemesh_store::Store;
use std::net::SocketAddr;
use std::path::Path;

/// Arguments of `casemesh init`.
#[derive(Debug, clap::Args)]
pub(crate) struct InitArgs {
    /// Display name of the organization.
    #[arg(long)]
    org: String,
    /// Address of the admin endpoint (port 0 = any free port).
    #[arg(long, default_value = "127.0.0.1:7070")]
    admin_addr: SocketAddr,
    /// Address of the public download-link server (port 0 = any free port); stored as
    /// `[link] listen`.
    #[arg(long, default_value = "127.0.0.1:7071")]
    link_addr: SocketAddr,
    /// Multiaddr the node listens on for partners, e.g. `/ip4/127.0.0.1/tcp/0` (port 0 = any
    /// free port); stored as `[p2p] listen`. Default `/ip4/0.0.0.0/tcp/4001`.
    #[arg(long)]
    p2p_listen: Vec<String>,
    /// Username of the first administrator.
    #[arg(long, default_value = "admin")]
    admin_user: String,
}

/// What init created.
#[derive(Debug, serde::Serialize)]
pub(crate) struct Initialized {
    /// The organization id (libp2p PeerId).
    pub(crate) org_id: String,
    /// The organization name.
    pub(crate) org_name: String,
    /// The administrator's username.
    pub(crate) admin_user: String,
    /// Where the admin token was written.
    pub(crate) token_file: String,
}

/// The organization id (libp2p PeerId text) of an ed25519 secret key
/// ([`casemesh_service::config::identity_org_id`]).
pub(crate) fn org_id(secret: &[u8; 32]) -> Result<String> {
    Ok(casemesh_service::config::identity_org_id(secret).to_string())
}

/// Run `casemesh init`. Every argument is checked before anything is written: a refused
/// command line leaves the directory as it was. The configuration is written last and marks a
/// complete data directory; a directory without one (an init that was interrupted, or refused
/// by an older casemesh after writing part of it) is completed by running init again: its
/// identity key and its administrator are kept (the administrator gets a new token), nothing
/// is deleted.
pub(crate) fn run(dir: &Path, args: &InitArgs, json: bool) -> Result<()> {
    let layout = Layout::new(dir);
    if layout.config().exists() {
        bail!(
            "{} is already initialized (found {})",
            dir.display(),
            layout.config().display()
        );
    }
    casemesh_service::config::check_org_name(&args.org)
        .map_err(|e| anyhow::anyhow!("invalid --org: {e} (nothing was written)"))?;
    if args.admin_addr == args.link_addr && args.admin_addr.port() != 0 {
        bail!(
            "--admin-addr and --link-addr are both {}: the admin API and the public link server \
             need two ports (nothing was written)",
            args.admin_addr
        );
    }
    casemesh_model::names::validate_name(&args.admin_user)
        .map_err(|e| anyhow::anyhow!("invalid --admin-user: {e} (nothing was written)"))?;
    for a in &args.p2p_listen {
        a.parse::<casemesh_net::Multiaddr>().map_err(|e| {
            anyhow::anyhow!("--p2p-listen {a:?} is not a multiaddr: {e} (nothing was written)")
        })?;
    }
    std::fs::create_dir_all(dir).with_context(|| format!("create {}", dir.display()))?;
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(dir, std::fs::Permissions::from_mode(0o700))
            .with_context(|| format!("restrict {}", dir.display()))?;
    }

    // An identity key left by an interrupted init is kept: it may have been shown (and given
    // to partners) already.
    let secret = if layout.identity().exists() {
        casemesh_service::config::load_identity(dir)?
    } else {
        let mut secret = [0u8; 32];
        getrandom::fill(&mut secret).map_err(|e| anyhow::anyhow!("no randomness: {e}"))?;
        write_atomic(&layout.identity(), &secret, 0o600)?;
        secret
    };
    let org_id = org_id(&secret)?;

    let store = Store::open(dir)?;
    let admin = match store.user_by_name(&args.admin_user)? {
        Some(user) => user,
        None => {
            let mut admin = User::new(&args.admin_user, "Administrator");
            admin.permissions = Permission::ALL.into_iter().collect();
            store.create_user(&admin)?;
            admin
        }
    };
    let now = casemesh_api::state::Clock::default().now();
    let token = store.replace_token(admin.id, now, false)?;
    write_atomic(&layout.admin_token(), token.as_bytes(), 0o600)?;
    drop(store);

    // The config goes last: its presence marks a complete data directory.
    let mut config = Config::new(&args.org, args.admin_addr);
    config.link.listen = args.link_addr;
    if !args.p2p_listen.is_empty() {
        config.p2p.listen = args.p2p_listen.clone();
    }
    config.save(dir)?;

    let done = Initialized {
        org_id: org_id.clone(),
        org_name: args.org.clone(),
        admin_user: args.admin_user.clone(),
        token_file: layout.admin_token().display().to_string(),
    };
    if json {
        outln!("{}", serde_json::to_string_pretty(&done)?);
    } else {
        outln!("{org_id}");
        errln!(
            "initialized {} for {:?}; administrator {:?}, token in {}",
            dir.display(),
            args.org,
            args.admin_user,
            done.token_file
        );
    }
    Ok(())
}
