//! `casemesh status`: the node's organization, version and admin address.

use super::{Out, text};
use crate::client::Client;

pub(super) async fn run(client: &Client, out: Out) -> anyhow::Result<()> {
    let info = client.get(&["v1", "node"]).await?;
    if !out.json(&info)? {
        println!("Organization: {}", text(&info, "org_name"));
        println!("Org id:       {}", text(&info, "org_id"));
        println!("Version:      {}", text(&info, "version"));
        println!("Admin API:    {}", text(&info, "admin_addr"));
    }
    Ok(())
}
