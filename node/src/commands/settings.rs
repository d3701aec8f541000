//! `casemesh settings …`, `casemesh retention sweep` and `casemesh blobs …`: organization
//! settings and feature flags, applying retention, and the blob store.

use super::case::parse_retention;
use super::confirm::{Yes, confirm};
use super::{Out, bytes, on_off, s, table, typed};
use crate::client::Client;
use anyhow::bail;
use casemesh_api_types::{
    BlobStats, BlobVerifyReport, EditSettings, GcReport, RetentionView, SettingsView, SweepReport,
};
use casemesh_model::retention::RetentionPolicy;
use reqwest::Method;

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
            if features.is_empty()
                && default_retention.is_none()
                && auto_import.is_none()
                && share_directory.is_none()
                && intake_address.is_none()
            {
                bail!(
                    "nothing to change: give --feature, --default-retention, --auto-import, --share-directory or --intake-address"
                );
            }
            let body = EditSettings {
                features: (!features.is_empty())
                    .then(|| features.into_iter().map(|(k, v)| (k, v.into())).collect()),
                default_retention: default_retention
                    .map(|DefaultRetention(policy)| policy.map(RetentionView::from)),
                auto_import,
                share_directory,
                intake_address,
            };
            client
                .send_json(Method::PATCH, &["v1", "settings"], &body)
                .await?
        }
    };
    if let Some(settings) = out.answer::<SettingsView>(&settings)? {
        print_settings(&settings)?;
    }
    Ok(())
}

fn print_settings(view: &SettingsView) -> anyhow::Result<()> {
    let on = |v: bool| if v { "on" } else { "off" };
    outln!("Features:");
    // The flags by their wire names, in the order the API writes them.
    let features = serde_json::to_value(&view.features)?;
    if let Some(features) = features.as_object() {
        let width = features.keys().map(String::len).max().unwrap_or(0);
        for (name, value) in features {
            outln!("  {name:width$}  {}", on(*value == true));
        }
    }
    let retention = match &view.default_retention {
        Some(p) => RetentionPolicy::from(*p).to_string(),
        None => "none (received cases: Until Manually Deleted)".to_owned(),
    };
    outln!("Default retention: {retention}");
    outln!("Auto-import:       {}", on(view.auto_import));
    outln!("Share directory:   {}", on(view.share_directory));
    outln!(
        "Intake address:    {}",
        view.intake_address.as_deref().map_or_else(
            || "none (shares naming an unknown address are refused)".to_owned(),
            |a| super::escape(a).into_owned()
        )
    );
    Ok(())
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
            let answer = client
                .post_empty_long(&["v1", "retention", "sweep"])
                .await?;
            if let Some(report) = out.answer::<SweepReport>(&answer)? {
                let removed = &report.removed;
                outln!("removed {} evidence item(s)", removed.len());
                if !removed.is_empty() {
                    let rows: Vec<Vec<String>> = removed
                        .iter()
                        .map(|r| vec![r.case.to_string(), r.evidence.to_string(), s(&r.name)])
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
            if let Some(stats) = out.answer::<BlobStats>(&stats)? {
                outln!("{} blobs, {}", stats.count, bytes(stats.bytes));
            }
        }
        BlobsCommand::Gc { yes } => {
            confirm(
                yes,
                "delete every stored blob no evidence, transcript or share refers to",
            )?;
            let gc = client.post_empty_long(&["v1", "blobs", "gc"]).await?;
            if let Some(gc) = out.answer::<GcReport>(&gc)? {
                outln!(
                    "removed {} blobs, freed {}",
                    gc.removed,
                    bytes(gc.bytes_freed)
                );
            }
        }
        BlobsCommand::Verify => {
            let raw = client.get_long(&["v1", "blobs", "verify"]).await?;
            // Typed first, so the exit status is right with `--json` too.
            let report: BlobVerifyReport = typed(&raw)?;
            let (missing, corrupt) = (&report.missing, &report.corrupt);
            if !out.json(&raw)? {
                for h in missing {
                    outln!("missing  {h}");
                }
                for h in corrupt {
                    outln!("corrupt  {h}");
                }
                outln!(
                    "{} referenced blobs intact, {} missing, {} corrupt; {} unreferenced (removed by `blobs gc`)",
                    report.ok,
                    missing.len(),
                    corrupt.len(),
                    report.unreferenced
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
    use serde_json::{Value, json};

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
