//! `casemesh settings …`, `casemesh retention sweep` and `casemesh blobs …`: organization
//! settings and feature flags, applying retention, and the blob store.

use super::case::parse_retention;
use super::confirm::{Yes, confirm};
use super::{Out, bytes, items, on_off, table, text};
use crate::client::Client;
use anyhow::bail;
use casemesh_model::retention::RetentionPolicy;
use reqwest::Method;
use serde_json::{Map, Value};

/// `casemesh settings` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum SettingsCommand {
    /// Show feature flags, the default retention policy and auto-import.
    Show,
    /// Change settings; only what is given changes.
    Set {
        /// Turn a feature on or off, e.g. `case_share=on` (repeatable).
        #[arg(long = "feature", value_name = "NAME=on|off", value_parser = parse_feature)]
        features: Vec<(String, bool)>,
        /// Default retention of received cases: `manual`, a number of days, or `none`.
        #[arg(long, value_name = "manual|DAYS|none", value_parser = parse_default_retention)]
        default_retention: Option<DefaultRetention>,
        /// Import partner shares automatically (`on`) or wait for a manual import (`off`).
        #[arg(long, value_name = "on|off", value_parser = on_off)]
        auto_import: Option<bool>,
        /// Let partner organizations look up our users and groups to pick recipients.
        #[arg(long, value_name = "on|off", value_parser = on_off)]
        share_directory: Option<bool>,
        /// Where notices go for `email:` recipients a partner names that no user here has
        /// (`""` clears it; without one, such shares are refused).
        #[arg(long, value_name = "ADDRESS")]
        intake_address: Option<String>,
        /// Confirm a default retention of 0 days (received evidence would go at the next
        /// sweep); asked on a terminal otherwise.
        #[command(flatten)]
        yes: super::confirm::Yes,
    },
}

/// `casemesh retention` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum RetentionCommand {
    /// Remove all evidence past its case's retention period now (asks first; --yes in scripts).
    Sweep {
        #[command(flatten)]
        yes: Yes,
    },
}

/// `casemesh blobs` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum BlobsCommand {
    /// Count the blobs and bytes stored.
    Stats,
    /// Remove blobs no case references any more (asks first; --yes in scripts).
    Gc {
        #[command(flatten)]
        yes: Yes,
    },
    /// Check every referenced blob is present and intact (reads every byte); list what is wrong.
    /// Exit code 1 when a referenced blob is missing or corrupt.
    Verify,
    /// Copy every blob between `DIR/blobs` and the `[storage]` bucket, verified and resumable
    /// (run it again after an interruption), with a progress bar. The node must be stopped
    /// (offline, on --data-dir); the source is never changed. Then set `[storage] backend`.
    Migrate {
        /// `s3`: from DIR/blobs into the bucket; `fs`: from the bucket into DIR/blobs.
        #[arg(long, value_enum)]
        to: super::migrate::Destination,
    },
}

/// `--default-retention`: a policy, or none (received cases then keep "Until Manually Deleted").
#[derive(Debug, Clone, Copy)]
pub(crate) struct DefaultRetention(Option<RetentionPolicy>);

fn parse_default_retention(s: &str) -> Result<DefaultRetention, String> {
    if s == "none" {
        return Ok(DefaultRetention(None));
    }
    parse_retention(s)
        .map(|p| DefaultRetention(Some(p)))
        .map_err(|_| format!("expected `manual`, a number of days or `none`, got {s:?}"))
}

fn parse_feature(s: &str) -> Result<(String, bool), String> {
    let Some((name, value)) = s.split_once('=') else {
        return Err(format!("expected NAME=on|off, got {s:?}"));
    };
    if name.is_empty() {
        return Err(format!("expected NAME=on|off, got {s:?}"));
    }
    Ok((name.to_owned(), on_off(value)?))
}

pub(super) async fn run_settings(
    cmd: SettingsCommand,
    client: &Client,
    out: Out,
) -> anyhow::Result<()> {
    let settings = match cmd {
        SettingsCommand::Show => client.get(&["v1", "settings"]).await?,
        SettingsCommand::Set {
            features,
            default_retention,
            auto_import,
            share_directory,
            intake_address,
            yes,
        } => {
            if let Some(DefaultRetention(Some(RetentionPolicy::Days(0)))) = default_retention {
                confirm(
                    yes,
                    "set the default retention of received cases to 0 days: their evidence is \
                     deleted at the next retention sweep",
                )?;
            }
            let mut body = Map::new();
            if !features.is_empty() {
                let features: Map<String, Value> =
                    features.into_iter().map(|(k, v)| (k, v.into())).collect();
                body.insert("features".to_owned(), features.into());
            }
            if let Some(DefaultRetention(policy)) = default_retention {
                body.insert(
                    "default_retention".to_owned(),
                    serde_json::to_value(policy)?,
                );
            }
            if let Some(on) = auto_import {
                body.insert("auto_import".to_owned(), on.into());
            }
            if let Some(on) = share_directory {
                body.insert("share_directory".to_owned(), on.into());
            }
            if let Some(a) = intake_address {
                body.insert("intake_address".to_owned(), a.into());
            }
            if body.is_empty() {
                bail!(
                    "nothing to change: give --feature, --default-retention, --auto-import, --share-directory or --intake-address"
                );
            }
            client
                .send_json(Method::PATCH, &["v1", "settings"], &Value::Object(body))
                .await?
        }
    };
    if !out.json(&settings)? {
        print_settings(&settings);
    }
    Ok(())
}

fn print_settings(s: &Value) {
    let on = |v: &Value| if *v == true { "on" } else { "off" };
    println!("Features:");
    if let Some(features) = s["features"].as_object() {
        let width = features.keys().map(String::len).max().unwrap_or(0);
        for (name, value) in features {
            println!("  {name:width$}  {}", on(value));
        }
    }
    let retention = match serde_json::from_value::<RetentionPolicy>(s["default_retention"].clone())
    {
        Ok(p) => p.to_string(),
        Err(_) => "none (received cases: Until Manually Deleted)".to_owned(),
    };
    println!("Default retention: {retention}");
    println!("Auto-import:       {}", on(&s["auto_import"]));
    println!("Share directory:   {}", on(&s["share_directory"]));
    println!(
        "Intake address:    {}",
        s["intake_address"]
            .as_str()
            .unwrap_or("none (shares naming an unknown address are refused)")
    );
}

pub(super) async fn run_retention(
    cmd: RetentionCommand,
    client: &Client,
    out: Out,
) -> anyhow::Result<()> {
    match cmd {
        RetentionCommand::Sweep { yes } => {
            confirm(
                yes,
                "delete every evidence item past its case's retention period now",
            )?;
            let answer = client.post_empty(&["v1", "retention", "sweep"]).await?;
            if !out.json(&answer)? {
                let removed = items(&answer["removed"]);
                println!("removed {} evidence item(s)", removed.len());
                if !removed.is_empty() {
                    let rows: Vec<Vec<String>> = removed
                        .iter()
                        .map(|r| vec![text(r, "case"), text(r, "evidence"), text(r, "name")])
                        .collect();
                    table(&["CASE", "EVIDENCE", "NAME"], &rows);
                }
            }
        }
    }
    Ok(())
}

pub(super) async fn run_blobs(cmd: BlobsCommand, client: &Client, out: Out) -> anyhow::Result<()> {
    match cmd {
        BlobsCommand::Stats => {
            let stats = client.get(&["v1", "blobs"]).await?;
            if !out.json(&stats)? {
                let size = stats["bytes"].as_u64().unwrap_or(0);
                println!("{} blobs, {}", text(&stats, "count"), bytes(size));
            }
        }
        BlobsCommand::Gc { yes } => {
            confirm(
                yes,
                "delete every stored blob no evidence, transcript or share refers to",
            )?;
            let gc = client.post_empty(&["v1", "blobs", "gc"]).await?;
            if !out.json(&gc)? {
                let freed = gc["bytes_freed"].as_u64().unwrap_or(0);
                println!(
                    "removed {} blobs, freed {}",
                    text(&gc, "removed"),
                    bytes(freed)
                );
            }
        }
        BlobsCommand::Verify => {
            let report = client.get(&["v1", "blobs", "verify"]).await?;
            let list = |k: &str| report[k].as_array().cloned().unwrap_or_default();
            let (missing, corrupt) = (list("missing"), list("corrupt"));
            if !out.json(&report)? {
                for h in &missing {
                    println!("missing  {}", h.as_str().unwrap_or_default());
                }
                for h in &corrupt {
                    println!("corrupt  {}", h.as_str().unwrap_or_default());
                }
                println!(
                    "{} referenced blobs intact, {} missing, {} corrupt; {} unreferenced (removed by `blobs gc`)",
                    text(&report, "ok"),
                    missing.len(),
                    corrupt.len(),
                    text(&report, "unreferenced")
                );
            }
            if !missing.is_empty() || !corrupt.is_empty() {
                anyhow::bail!(
                    "{} referenced blobs missing, {} corrupt",
                    missing.len(),
                    corrupt.len()
                );
            }
        }
        // Offline: handled by `commands::run` before a client exists.
        BlobsCommand::Migrate { .. } => bail!("blobs migrate runs offline, with --data-dir"),
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn features_parse_as_name_and_flag() {
        assert_eq!(
            parse_feature("case_share=on"),
            Ok(("case_share".into(), true))
        );
        assert_eq!(
            parse_feature("case_share=OFF"),
            Ok(("case_share".into(), false))
        );
        assert!(parse_feature("=on").is_err());
        assert!(parse_feature("case_share").is_err());
    }

    #[test]
    fn default_retention_none_is_null() {
        let DefaultRetention(p) = parse_default_retention("none").unwrap();
        assert_eq!(serde_json::to_value(p).unwrap(), Value::Null);
        let DefaultRetention(p) = parse_default_retention("30").unwrap();
        assert_eq!(
            serde_json::to_value(p).unwrap(),
            json!({"kind": "days", "days": 30})
        );
    }
}
