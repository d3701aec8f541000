//! `casemesh folder …`: create, rename, move, delete and list the folders of a case. Folder paths
//! are `/`-separated names relative to the case's root, like `Interviews/Day 1`.

use super::{Out, s, typed};
use crate::client::Client;
use casemesh_api_types::{CaseView, FolderRequest};
use reqwest::Method;

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
            let c: CaseView = typed(&client.get(&["v1", "cases", &case]).await?)?;
            if !out.json(&serde_json::to_value(&c.folders)?)? {
                for f in &c.folders {
                    outln!("{}", s(f));
                }
            }
            return Ok(());
        }
        FolderCommand::Create { case, path } => {
            let done = format!("created folder {path}");
            (case, None, request(path), done)
        }
        FolderCommand::Rename {
            case,
            path,
            new_name,
        } => {
            let done = format!("renamed folder {path} to {new_name}");
            let body = FolderRequest {
                new_name: Some(new_name),
                ..request(path)
            };
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
            let body = FolderRequest {
                new_parent: Some(new_parent),
                ..request(path)
            };
            (case, Some("move"), body, done)
        }
        FolderCommand::Delete { case, path } => {
            let done = format!("deleted folder {path}");
            (case, Some("delete"), request(path), done)
        }
    };
    let mut segments = vec!["v1", "cases", case.as_str(), "folders"];
    segments.extend(action);
    let c = client.send_json(Method::POST, &segments, &body).await?;
    if !out.json(&c)? {
        outln!("{done}");
    }
    Ok(())
}

/// The body of a folder operation on `path`.
fn request(path: String) -> FolderRequest {
    FolderRequest {
        path,
        ..FolderRequest::default()
    }
}
