//! `casemesh received updates | apply | dismiss | meta | edit` (issue #14): review the sharer's
//! changes to case fields and evidence metadata, apply or dismiss them; read and edit the shared
//! metadata of an access-mode share both organizations edit. Flattened into `received`.

use super::{Out, opt, s, table};
use crate::client::Client;
use casemesh_api_types::updates::{MetaView, UpdateView};
use reqwest::Method;
use serde_json::{Value, json};

/// The updates-review subcommands of `casemesh received`.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum UpdatesCommand {
    /// Updates available: the sharer's changes to case fields (tab `case`) and evidence metadata
    /// (tab `evidence`), each with whether the sharing policy allows applying it (and why not),
    /// whether it is a conflict (you changed the field yourself since you last took the
    /// sharer's value in), and who changed it at the sharer and when.
    Updates {
        /// Share id, or the local copy's case id.
        share: String,
    },
    /// Apply updates to your copy, where the sharing policy allows it. `--all` and `--tab` skip
    /// conflicts (fields you edited yourself): apply a conflict by naming it with `--field`.
    #[command(group(clap::ArgGroup::new("which").required(true).args(["fields", "all", "tab"])))]
    Apply {
        /// Share id, or the local copy's case id.
        share: String,
        /// Field to apply, as listed by `received updates` (repeatable).
        #[arg(long = "field")]
        fields: Vec<String>,
        /// Apply every allowed update that is not a conflict.
        #[arg(long)]
        all: bool,
        /// Apply every allowed update of one tab that is not a conflict.
        #[arg(long, value_parser = ["case", "evidence"])]
        tab: Option<String>,
    },
    /// Dismiss updates: they leave the list until the sharer changes those fields again; your
    /// copy is unchanged.
    Dismiss {
        /// Share id, or the local copy's case id.
        share: String,
        /// Field to dismiss, as listed by `received updates` (repeatable).
        #[arg(long = "field", required = true)]
        fields: Vec<String>,
    },
    /// The metadata of a received share as this node holds it (for an access-mode share: the
    /// sharer's and your organization's edits merged).
    Meta {
        /// Share id.
        share: String,
    },
    /// Edit a field of an access-mode share in the sharer's system (policy `edit_metadata`);
    /// merged with the sharer's concurrent edits on both nodes, sent when the sharer is online.
    Edit {
        /// Share id.
        share: String,
        /// Field path, e.g. `case/description` or `evidence/<sharer evidence id>/name`.
        #[arg(long)]
        field: String,
        /// The new value.
        #[arg(long)]
        value: String,
    },
}

fn print_updates(v: &Value, out: Out) -> anyhow::Result<()> {
    let Some(updates) = out.answer::<Vec<UpdateView>>(v)? else {
        return Ok(());
    };
    let rows: Vec<Vec<String>> = updates
        .iter()
        .map(|u| {
            let mut note = Vec::new();
            if u.conflict == Some(true) {
                note.push("conflict: you edited it".to_owned());
            }
            if u.allowed == Some(false) {
                note.push(opt(u.reason.as_deref()));
            }
            vec![
                s(&u.tab),
                s(&u.field),
                s(&u.current),
                s(&u.proposed),
                format!(
                    "{} {}",
                    opt(u.changed_by.as_deref()),
                    opt(u.changed_at.as_deref())
                ),
                note.join("; "),
            ]
        })
        .collect();
    table(
        &["TAB", "FIELD", "CURRENT", "PROPOSED", "CHANGED", "NOTE"],
        &rows,
    );
    Ok(())
}

fn print_meta(v: &Value, out: Out) -> anyhow::Result<()> {
    let Some(meta) = out.answer::<MetaView>(v)? else {
        return Ok(());
    };
    let rows: Vec<Vec<String>> = meta
        .fields
        .iter()
        .map(|(k, val)| vec![k.clone(), s(val)])
        .collect();
    table(&["FIELD", "VALUE"], &rows);
    Ok(())
}

/// Run one updates subcommand.
pub(super) async fn run(cmd: UpdatesCommand, client: &Client, out: Out) -> anyhow::Result<()> {
    match cmd {
        UpdatesCommand::Updates { share } => {
            let v = client.get(&["v1", "received", &share, "updates"]).await?;
            print_updates(&v, out)
        }
        UpdatesCommand::Apply {
            share,
            fields,
            all,
            tab,
        } => {
            let body = json!({"fields": fields, "all": all, "tab": tab});
            let v = client
                .send_json(
                    Method::POST,
                    &["v1", "received", &share, "updates", "apply"],
                    &body,
                )
                .await?;
            print_updates(&v, out)
        }
        UpdatesCommand::Dismiss { share, fields } => {
            let v = client
                .send_json(
                    Method::POST,
                    &["v1", "received", &share, "updates", "dismiss"],
                    &json!({"fields": fields}),
                )
                .await?;
            print_updates(&v, out)
        }
        UpdatesCommand::Meta { share } => {
            let v = client.get(&["v1", "received", &share, "meta"]).await?;
            print_meta(&v, out)
        }
        UpdatesCommand::Edit {
            share,
            field,
            value,
        } => {
            let v = client
                .send_json(
                    Method::POST,
                    &["v1", "received", &share, "meta"],
                    &json!({"field": field, "value": value}),
                )
                .await?;
            print_meta(&v, out)
        }
    }
}
