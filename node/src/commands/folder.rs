//! `casemesh folder …`: create, rename, move, delete and list the folders of a case. Folder paths
//! are `/`-separated names relative to the case's root, like `Interviews/Day 1`.

use super::{Out, items, show};
use crate::client::Client;
use reqwest::Method;
use serde_json::{Value, json};

/// `casemesh folder` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum FolderCommand {
    /// Create a folder, and any missing parent folders.
    Create {
        /// Record id (uuid) or case number.
        case: String,
        /// Folder path, e.g. `Interviews/Day 1`.
        path: String,
    },
    /// Rename a folder in place.
    Rename {
        /// Record id (uuid) or case number.
        case: String,
        /// Folder path.
        path: String,
        /// The new name (one name, not a path).
        new_name: String,
    },
    /// Move a folder (with its contents) under another folder.
    Move {
        /// Record id (uuid) or case number.
        case: String,
        /// Folder path.
        path: String,
        /// The new parent folder path (`""` = the case's root).
        new_parent: String,
    },
    /// Delete a folder.
    Delete {
        /// Record id (uuid) or case number.
        case: String,
        /// Folder path.
        path: String,
    },
    /// List a case's folders.
    List {
        /// Record id (uuid) or case number.
        case: String,
    },
}

pub(super) async fn run(cmd: FolderCommand, client: &Client, out: Out) -> anyhow::Result<()> {
    let (case, action, body, done) = match cmd {
        FolderCommand::List { case } => {
            let c = client.get(&["v1", "cases", &case]).await?;
            let folders = c.get("folders").cloned().unwrap_or(Value::Array(vec![]));
            if !out.json(&folders)? {
                for f in items(&folders) {
                    println!("{}", show(f));
                }
            }
            return Ok(());
        }
        FolderCommand::Create { case, path } => {
            let done = format!("created folder {path}");
            (case, None, json!({ "path": path }), done)
        }
        FolderCommand::Rename {
            case,
            path,
            new_name,
        } => {
            let done = format!("renamed folder {path} to {new_name}");
            let body = json!({ "path": path, "new_name": new_name });
            (case, Some("rename"), body, done)
        }
        FolderCommand::Move {
            case,
            path,
            new_parent,
        } => {
            let done = if new_parent.is_empty() {
                format!("moved folder {path} to the case root")
            } else {
                format!("moved folder {path} under {new_parent}")
            };
            let body = json!({ "path": path, "new_parent": new_parent });
            (case, Some("move"), body, done)
        }
        FolderCommand::Delete { case, path } => {
            let done = format!("deleted folder {path}");
            (case, Some("delete"), json!({ "path": path }), done)
        }
    };
    let mut segments = vec!["v1", "cases", case.as_str(), "folders"];
    segments.extend(action);
    let c = client.send_json(Method::POST, &segments, &body).await?;
    if !out.json(&c)? {
        println!("{done}");
    }
    Ok(())
}
