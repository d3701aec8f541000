//! `casemesh audit …`: show a case's hash-chained audit trail and verify the chain.

use super::{Out, opt, s, table, typed};
use crate::client::Client;
use anyhow::bail;
use casemesh_api_types::{AuditTrail, AuditVerify};

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
            let raw = client
                .get(&["v1", "cases", &case, "audit", "verify"])
                .await?;
            // Typed first: the exit status must be right with `--json` too.
            let report: AuditVerify = typed(&raw)?;
            if !out.json(&raw)? && report.ok {
                outln!("ok: {} entries, chain intact", report.entries);
            }
            if !report.ok {
                bail!(
                    "audit trail of case {case} is broken: {} ({} entries)",
                    opt(report.error.as_deref()),
                    report.entries
                );
            }
        }
        AuditCommand::Show { case } => {
            let trail = client.get(&["v1", "cases", &case, "audit"]).await?;
            if let Some(trail) = out.answer::<AuditTrail>(&trail)? {
                let rows: Vec<Vec<String>> = trail
                    .entries
                    .iter()
                    .map(|e| {
                        vec![
                            e.seq.to_string(),
                            e.time.to_string(),
                            s(&e.actor),
                            s(&e.action),
                            e.evidence
                                .as_ref()
                                .map_or_else(|| "-".to_owned(), ToString::to_string),
                            e.details.clone(),
                        ]
                    })
                    .collect();
                table(
                    &["SEQ", "TIME", "ACTOR", "ACTION", "EVIDENCE", "DETAILS"],
                    &rows,
                );
                outln!(
                    "head: {} entries, hash {}",
                    trail.head.len,
                    hex::encode(trail.head.hash)
                );
            }
        }
    }
    Ok(())
}
