//! `casemesh status`: the node's organization, version, admin address, where its evidence
//! blobs live (`fs`, or `s3` with the endpoint and bucket; never credentials) and the bound on
//! what it serves to partners per second (`[p2p] max_send_rate`).

use super::{Out, s};
use crate::client::Client;
use casemesh_api_types::node::{NodeInfo, StorageView};

pub(super) async fn run(client: &Client, out: Out) -> anyhow::Result<()> {
    let answer = client.get(&["v1", "node"]).await?;
    let Some(info) = out.answer::<NodeInfo>(&answer)? else {
        return Ok(());
    };
    outln!("Organization: {}", s(&info.org_name));
    outln!("Org id:       {}", s(info.org_id.as_str()));
    outln!("Version:      {}", s(&info.version));
    outln!("Admin API:    {}", s(&info.admin_addr));
    outln!("Blob storage: {}", storage(&info.storage));
    outln!("Send limit:   {}", send_limit(info.max_send_rate));
    Ok(())
}

/// `fs (data directory)`, `s3 bucket B at ENDPOINT`, or `-` from a node that does not say.
fn storage(at: &StorageView) -> String {
    match at.backend.as_str() {
        "fs" => "fs (files under the data directory)".to_owned(),
        "s3" => format!(
            "s3 bucket {} at {}",
            super::opt(at.bucket.as_deref()),
            super::opt(at.endpoint.as_deref())
        ),
        other => s(other),
    }
}

/// `none` or the bound in binary units per second (`indicatif`'s `BinaryBytes`: `20.00 MiB/s`).
fn send_limit(rate: Option<u64>) -> String {
    match rate {
        None => "none (partners are served as fast as the link allows)".to_owned(),
        Some(bytes) => format!("{}/s", indicatif::BinaryBytes(bytes)),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_send_limit_reads_as_a_rate() {
        assert_eq!(send_limit(Some(20 << 20)), "20.00 MiB/s");
        assert!(send_limit(None).starts_with("none"));
    }
}
