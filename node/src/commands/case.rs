//! `casemesh case …`: create, list, show and edit cases, and set a case's retention policy.

use super::{Out, items, show, table, text};
use crate::client::Client;
use casemesh_model::retention::RetentionPolicy;
use reqwest::Method;
use serde_json::{Map, Value, json};

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
            let mut body = json!({ "case_id": case_id, "title": title });
            if let Some(d) = description {
                body["description"] = d.into();
            }
            let case = client
                .send_json(Method::POST, &["v1", "cases"], &body)
                .await?;
            if !out.json(&case)? {
                println!("{}", text(&case, "id"));
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
            if !out.json(&cases)? {
                let rows: Vec<Vec<String>> = items(&cases)
                    .iter()
                    .map(|c| {
                        vec![
                            text(c, "case_id"),
                            text(c, "title"),
                            text(c, "evidence_count"),
                            if c["external"] == true {
                                "external"
                            } else {
                                "local"
                            }
                            .to_owned(),
                            text(c, "created_at"),
                            text(c, "id"),
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
            if !out.json(&c)? {
                print_case(&c);
            }
        }
        CaseCommand::Edit {
            case,
            case_id,
            title,
            description,
        } => {
            let mut body = Map::new();
            for (key, value) in [
                ("case_id", case_id),
                ("title", title),
                ("description", description),
            ] {
                if let Some(v) = value {
                    body.insert(key.to_owned(), v.into());
                }
            }
            if body.is_empty() {
                anyhow::bail!("nothing to change: give --case-id, --title or --description");
            }
            let c = client
                .send_json(Method::PATCH, &["v1", "cases", &case], &body)
                .await?;
            if !out.json(&c)? {
                println!("updated case {} ({})", text(&c, "case_id"), text(&c, "id"));
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
            if !out.json(&c)? {
                println!("retention of case {}: {policy}", text(&c, "case_id"));
            }
        }
    }
    Ok(())
}

/// The human-readable form of a Case object.
fn print_case(c: &Value) {
    println!("Case ID:     {}", text(c, "case_id"));
    println!("Title:       {}", text(c, "title"));
    println!("Description: {}", text(c, "description"));
    println!("Record id:   {}", text(c, "id"));
    println!("Owner:       {}", text(c, "owner"));
    println!("Created:     {}", text(c, "created_at"));
    let retention = match c.get("retention_text") {
        Some(Value::String(s)) => s.clone(),
        _ => show(&c["retention"]),
    };
    println!("Retention:   {retention}");
    let origin = &c["origin"];
    if origin["kind"] == "received" {
        println!(
            "Origin:      External, shared by {} ({}) on {}",
            text(origin, "sharer_name"),
            text(origin, "sharer"),
            text(origin, "received_at")
        );
    } else {
        println!("Origin:      local");
    }
    let folders = items(&c["folders"]);
    println!("Folders:     {}", if folders.is_empty() { "-" } else { "" });
    for f in folders {
        let path = show(f);
        let depth = path.matches('/').count();
        let name = path.rsplit('/').next().unwrap_or(&path);
        println!("  {}{name}/", "  ".repeat(depth));
    }
    let evidence = items(&c["evidence"]);
    println!("Evidence:    {}", evidence.len());
    if !evidence.is_empty() {
        super::evidence::print_evidence_table(evidence);
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
