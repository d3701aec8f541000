//! `casemesh status`: the node's organization, version, admin address and where its evidence
//! blobs live (`fs`, or `s3` with the endpoint and bucket; never credentials).

use super::{Out, text};
use crate::client::Client;

pub(super) async fn run(client: &Client, out: Out) -> anyhow::Result<()> {
    let info = client.get(&["v1", "node"]).await?;
    if !out.json(&info)? {
        println!("Organization: {}", text(&info, "org_name"));
        println!("Org id:       {}", text(&info, "org_id"));
        println!("Version:      {}", text(&info, "version"));
        println!("Admin API:    {}", text(&info, "admin_addr"));
        println!("Blob storage: {}", storage(&info));
    }
    Ok(())
}

/// `fs (data directory)`, `s3 bucket B at ENDPOINT`, or `-` from a node that does not say.
fn storage(info: &serde_json::Value) -> String {
    let Some(s) = info.get("storage") else {
        return "-".to_owned();
    };
    match text(s, "backend").as_str() {
        "fs" => "fs (files under the data directory)".to_owned(),
        "s3" => format!("s3 bucket {} at {}", text(s, "bucket"), text(s, "endpoint")),
        other => other.to_owned(),
    }
}
