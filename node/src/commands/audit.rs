//! `casemesh audit …`: show a case's hash-chained audit trail and verify the chain.

use super::{Out, items, table, text, time};
use crate::client::Client;
use anyhow::bail;
use serde_json::Value;

/// `casemesh audit` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum AuditCommand {
    /// Verify the chain; fails (exit code 1) when an entry was edited or removed.
    Verify {
        /// Record id (uuid) or case number.
        case: String,
    },
    /// Show the entries of the audit trail.
    Show {
        /// Record id (uuid) or case number.
        case: String,
    },
}

pub(super) async fn run(cmd: AuditCommand, client: &Client, out: Out) -> anyhow::Result<()> {
    match cmd {
        AuditCommand::Verify { case } => {
            let report = client
                .get(&["v1", "cases", &case, "audit", "verify"])
                .await?;
            let ok = report["ok"] == true;
            if !out.json(&report)? && ok {
                println!("ok: {} entries, chain intact", text(&report, "entries"));
            }
            if !ok {
                bail!(
                    "audit trail of case {case} is broken: {} ({} entries)",
                    text(&report, "error"),
                    text(&report, "entries")
                );
            }
        }
        AuditCommand::Show { case } => {
            let trail = client.get(&["v1", "cases", &case, "audit"]).await?;
            if !out.json(&trail)? {
                let rows: Vec<Vec<String>> = items(&trail["entries"])
                    .iter()
                    .map(|e| {
                        vec![
                            text(e, "seq"),
                            time(&e["time"]),
                            text(e, "actor"),
                            text(e, "action"),
                            text(e, "evidence"),
                            details(&e["details"]),
                        ]
                    })
                    .collect();
                table(
                    &["SEQ", "TIME", "ACTOR", "ACTION", "EVIDENCE", "DETAILS"],
                    &rows,
                );
                let head = &trail["head"];
                println!(
                    "head: {} entries, hash {}",
                    text(head, "len"),
                    text(head, "hash")
                );
            }
        }
    }
    Ok(())
}

/// Audit details on one line: strings as they are, anything else as compact JSON.
fn details(v: &Value) -> String {
    match v {
        Value::Null => "-".to_owned(),
        Value::String(s) => s.clone(),
        other => other.to_string(),
    }
}
