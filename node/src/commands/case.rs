//! `casemesh case …`: create, list, show and edit cases, and set a case's retention policy.

use super::{Out, s, table};
use crate::client::Client;
use casemesh_api_types::{CaseSummary, CaseView, CreateCase, EditCase, OriginView};
use casemesh_model::retention::RetentionPolicy;
use reqwest::Method;
#[cfg(test)]
use serde_json::json;

/// `casemesh case` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum CaseCommand {
    /// Create a case; prints its record id.
    Create {
        /// The case number shown to people ("Case ID"), e.g. `2026-CR-0042`.
        #[arg(long)]
        case_id: String,
        /// Title of the case.
        #[arg(long)]
        title: String,
        /// Free-text description.
        #[arg(long)]
        description: Option<String>,
    },
    /// List cases.
    List {
        /// Only cases received from partner organizations.
        #[arg(long)]
        external: bool,
    },
    /// Show a case: fields, folders and evidence.
    Show {
        /// Record id (uuid) or case number.
        case: String,
    },
    /// Change a case's number, title or description.
    Edit {
        /// Record id (uuid) or case number.
        case: String,
        /// New case number.
        #[arg(long)]
        case_id: Option<String>,
        /// New title.
        #[arg(long)]
        title: Option<String>,
        /// New description.
        #[arg(long)]
        description: Option<String>,
    },
    /// Set a case's retention policy (needs the edit_case_retention permission). A number of
    /// days asks first (--yes in scripts): evidence older than that is deleted by the next
    /// retention sweep.
    Retention {
        /// Record id (uuid) or case number.
        case: String,
        /// `manual` (until manually deleted) or a number of days.
        #[arg(value_parser = parse_retention)]
        policy: RetentionPolicy,
        #[command(flatten)]
        yes: super::confirm::Yes,
    },
}

/// Parse a retention policy as the CLI spells it: `manual` or a whole number of days.
pub(super) fn parse_retention(s: &str) -> Result<RetentionPolicy, String> {
    RetentionPolicy::parse(s)
        .ok_or_else(|| format!("expected `manual` or a number of days, got {s:?}"))
}

pub(super) async fn run(cmd: CaseCommand, client: &Client, out: Out) -> anyhow::Result<()> {
    match cmd {
        CaseCommand::Create {
            case_id,
            title,
            description,
        } => {
            let body = CreateCase {
                case_id,
                title,
                description: description.unwrap_or_default(),
            };
            let case = client
                .send_json(Method::POST, &["v1", "cases"], &body)
                .await?;
            if let Some(case) = out.answer::<CaseView>(&case)? {
                outln!("{}", case.id);
            }
        }
        CaseCommand::List { external } => {
            // Without --external every case is listed; with it, only cases shared with us.
            let query: Vec<(&str, String)> = if external {
                vec![("external", "true".into())]
            } else {
                vec![]
            };
            let cases = client.get_query(&["v1", "cases"], &query).await?;
            if let Some(cases) = out.answer::<Vec<CaseSummary>>(&cases)? {
                let rows: Vec<Vec<String>> = cases
                    .iter()
                    .map(|c| {
                        vec![
                            s(&c.case_id),
                            s(&c.title),
                            c.evidence_count.to_string(),
                            if c.external { "external" } else { "local" }.to_owned(),
                            s(&c.created_at),
                            c.id.to_string(),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "CASE ID",
                        "TITLE",
                        "EVIDENCE",
                        "ORIGIN",
                        "CREATED",
                        "RECORD ID",
                    ],
                    &rows,
                );
            }
        }
        CaseCommand::Show { case } => {
            let c = client.get(&["v1", "cases", &case]).await?;
            if let Some(c) = out.answer::<CaseView>(&c)? {
                print_case(&c);
            }
        }
        CaseCommand::Edit {
            case,
            case_id,
            title,
            description,
        } => {
            if case_id.is_none() && title.is_none() && description.is_none() {
                anyhow::bail!("nothing to change: give --case-id, --title or --description");
            }
            let body = EditCase {
                case_id,
                title,
                description,
            };
            let c = client
                .send_json(Method::PATCH, &["v1", "cases", &case], &body)
                .await?;
            if let Some(c) = out.answer::<CaseView>(&c)? {
                outln!("updated case {} ({})", s(&c.case_id), c.id);
            }
        }
        CaseCommand::Retention { case, policy, yes } => {
            if let RetentionPolicy::Days(days) = policy {
                super::confirm::confirm(
                    yes,
                    &format!(
                        "let the retention sweep delete every evidence item of case {case} added \
                         more than {days} days ago (the node sweeps by itself)"
                    ),
                )?;
            }
            let c = client
                .send_json(Method::PUT, &["v1", "cases", &case, "retention"], &policy)
                .await?;
            if let Some(c) = out.answer::<CaseView>(&c)? {
                outln!("retention of case {}: {policy}", s(&c.case_id));
            }
        }
    }
    Ok(())
}

/// The human-readable form of a case.
fn print_case(c: &CaseView) {
    outln!("Case ID:     {}", s(&c.case_id));
    outln!("Title:       {}", s(&c.title));
    outln!("Description: {}", s(&c.description));
    outln!("Record id:   {}", c.id);
    outln!("Owner:       {}", s(&c.owner));
    outln!("Created:     {}", s(&c.created_at));
    outln!("Retention:   {}", c.retention_text);
    match &c.origin {
        OriginView::Received {
            sharer,
            sharer_name,
            received_at,
            ..
        } => outln!(
            "Origin:      External, shared by {} ({}) on {}",
            s(sharer_name),
            s(sharer.as_str()),
            s(received_at)
        ),
        OriginView::Local => outln!("Origin:      local"),
    }
    outln!(
        "Folders:     {}",
        if c.folders.is_empty() { "-" } else { "" }
    );
    for f in &c.folders {
        let path = s(f);
        let depth = path.matches('/').count();
        let name = path.rsplit('/').next().unwrap_or(&path);
        outln!("  {}{name}/", "  ".repeat(depth));
    }
    outln!("Evidence:    {}", c.evidence.len());
    if !c.evidence.is_empty() {
        super::evidence::print_evidence_table(&c.evidence);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn retention_serializes_as_the_api_wants() {
        assert_eq!(
            serde_json::to_value(parse_retention("manual").unwrap()).unwrap(),
            json!({"kind": "until_manually_deleted"})
        );
        assert_eq!(
            serde_json::to_value(parse_retention("0").unwrap()).unwrap(),
            json!({"kind": "days", "days": 0})
        );
        assert!(parse_retention("-3").is_err());
    }
}
