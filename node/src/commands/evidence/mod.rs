//! `casemesh evidence …`: add evidence files (streamed uploads; several files or directory trees
//! as one resumable batch), fetch them (streamed, verified downloads), show, list, edit, move and
//! delete them, and add or fetch transcripts. The batch form of `add` lives in [`bulk`].

mod bulk;

use bulk::{Batch, add_batch, single_file};

use super::confirm::{Yes, check_output, confirm};
use super::{Out, bytes, opt, s, table, typed};
use crate::client::Client;
use anyhow::{Context as _, anyhow, bail};
use casemesh_api_types::{BatchEntry, CaseView, EditEvidence, EvidenceView, FolderRequest};
use casemesh_model::names::{split_path, validate_name};
use indicatif::{ProgressBar, ProgressStyle};
use reqwest::Method;
use serde_json::Value;
use std::collections::{BTreeSet, HashMap};
use std::io::IsTerminal;
use std::path::{Path, PathBuf};

/// `casemesh evidence` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum EvidenceCommand {
    /// Add files or directories as evidence (one FILE: prints its evidence id and BLAKE3 hash).
    ///
    /// With one FILE, adds it (even if the case already holds the same file) and prints the new
    /// evidence id and BLAKE3 hash on stdout, and its display id (`EV-0004`) on stderr;
    /// `--folder` must exist.
    ///
    /// With several PATHs or a directory, adds them as one batch. A directory adds the regular
    /// files directly in it; with `--recursive` its whole tree, keeping the subdirectories
    /// (empty ones too) as folders under `--folder`, created when missing. The directory's own
    /// name does not become a folder: `--folder NAME` keeps it. Hidden (dot) files are added
    /// like any other; symbolic links and special files inside a directory are skipped with a
    /// note (a PATH named on the command line is followed). Files go one at a time, in the order
    /// given, each directory's files sorted by path.
    ///
    /// A batch resumes: a file whose name and content (BLAKE3) are already in its target folder
    /// is skipped, so after an interruption or an error, running the same command again adds
    /// only what is missing. `--json` prints one `{id, hash, name, folder}` per file, with
    /// `"skipped": true` on the files that were already present.
    Add {
        /// Record id (uuid) or case number.
        case: String,
        /// Files or directories to add (streamed; any size). A directory adds only its top-level
        /// files unless `--recursive` is given.
        #[arg(value_name = "PATH", required = true)]
        paths: Vec<PathBuf>,
        /// Folder to put it in, e.g. `Interviews/Day 1` (default: the case's root); a batch
        /// creates it when missing.
        #[arg(long)]
        folder: Option<String>,
        /// Descend into subdirectories and keep them as folders of the case (without it, a
        /// directory adds only its top-level files).
        #[arg(short = 'r', long)]
        recursive: bool,
        /// Evidence name (default: the file's name); only with a single FILE.
        #[arg(long)]
        name: Option<String>,
        /// Display id within the case (default: assigned by the node); only with a single FILE.
        #[arg(long)]
        display_id: Option<String>,
        /// Free-text description (in a batch: given to every file added).
        #[arg(long)]
        description: Option<String>,
    },
    /// Download evidence to a file, verifying its hash (written to FILE.part, then renamed).
    Get {
        /// Record id (uuid) or case number.
        case: String,
        /// Evidence id (uuid) or display id.
        evidence: String,
        /// Where to write the file (an existing file is refused unless --force).
        #[arg(short, long)]
        output: PathBuf,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// List the evidence of a case.
    List {
        /// Record id (uuid) or case number.
        case: String,
    },
    /// Show one evidence item.
    Show {
        /// Record id (uuid) or case number.
        case: String,
        /// Evidence id (uuid) or display id.
        evidence: String,
    },
    /// Change an evidence item's name, display id, description, category or "do not disclose"
    /// marking.
    Edit {
        /// Record id (uuid) or case number.
        case: String,
        /// Evidence id (uuid) or display id.
        evidence: String,
        /// New name.
        #[arg(long)]
        name: Option<String>,
        /// New display id.
        #[arg(long)]
        display_id: Option<String>,
        /// New description.
        #[arg(long)]
        description: Option<String>,
        /// New category.
        #[arg(long, conflicts_with = "no_category")]
        category: Option<String>,
        /// Clear the category.
        #[arg(long)]
        no_category: bool,
        /// Mark the item "do not disclose" (on): it never leaves the organization, whatever a
        /// share or link selects.
        #[arg(long, value_name = "on|off", value_parser = super::on_off)]
        do_not_disclose: Option<bool>,
    },
    /// Move an evidence item to another folder.
    Move {
        /// Record id (uuid) or case number.
        case: String,
        /// Evidence id (uuid) or display id.
        evidence: String,
        /// Destination folder path (`""` = the case's root).
        #[arg(long)]
        folder: String,
    },
    /// Delete an evidence item from a case (asks first; --yes in scripts).
    Delete {
        /// Record id (uuid) or case number.
        case: String,
        /// Evidence id (uuid) or display id.
        evidence: String,
        #[command(flatten)]
        yes: Yes,
    },
    /// Add or fetch transcripts of an evidence item.
    #[command(subcommand)]
    Transcript(TranscriptCommand),
}

/// `casemesh evidence transcript` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum TranscriptCommand {
    /// Attach a transcript file to an evidence item.
    Add {
        /// Record id (uuid) or case number.
        case: String,
        /// Evidence id (uuid) or display id.
        evidence: String,
        /// The transcript file.
        file: PathBuf,
        /// Transcript name (default: the file's name).
        #[arg(long)]
        name: Option<String>,
    },
    /// Download a transcript, verifying its hash.
    Get {
        /// Record id (uuid) or case number.
        case: String,
        /// Evidence id (uuid) or display id.
        evidence: String,
        /// Transcript id or name.
        transcript: String,
        /// Where to write the file (an existing file is refused unless --force).
        #[arg(short, long)]
        output: PathBuf,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
    },
}

pub(super) async fn run(cmd: EvidenceCommand, client: &Client, out: Out) -> anyhow::Result<()> {
    match cmd {
        EvidenceCommand::Add {
            case,
            paths,
            folder,
            recursive,
            name,
            display_id,
            description,
        } => match single_file(paths) {
            Ok(file) => {
                let name = match name {
                    Some(n) => n,
                    None => file_name(&file)?,
                };
                let mut query = vec![("name", name)];
                for (key, value) in [
                    ("folder", folder),
                    ("display_id", display_id),
                    ("description", description),
                ] {
                    if let Some(v) = value {
                        query.push((key, v));
                    }
                }
                let up = client
                    .upload(&["v1", "cases", &case, "evidence"], &query, &file)
                    .await?;
                let ev: EvidenceView = typed(&up.answer)?;
                up.check_hash(Some(&ev.hash), &file)?;
                if !out.json(&up.answer)? {
                    // stdout stays two lines for scripts; the display id people refer to goes
                    // beside them on stderr.
                    outln!("{}", ev.id);
                    outln!("{}", ev.hash);
                    errln!(
                        "added {} {:?} to {case} (evidence id and BLAKE3 hash above)",
                        s(&ev.display_id),
                        s(&ev.name)
                    );
                }
            }
            Err(paths) => {
                if name.is_some() || display_id.is_some() {
                    bail!(
                        "--name and --display-id name a single file; they cannot be used with a \
                         directory or several paths (nothing was added)"
                    );
                }
                let batch = Batch {
                    folder: folder.unwrap_or_default(),
                    recursive,
                    description,
                };
                add_batch(client, out, &case, &paths, &batch).await?;
            }
        },
        EvidenceCommand::Get {
            case,
            evidence,
            output,
            force,
        } => {
            check_output(&output, force)?;
            let ev = client
                .get(&["v1", "cases", &case, "evidence", &evidence])
                .await?;
            let item: EvidenceView = typed(&ev)?;
            // Address the content by the uuid just resolved, so a concurrent rename of the
            // display id cannot make us fetch a different item than the hash we check against.
            let done = client
                .download(
                    &[
                        "v1",
                        "cases",
                        &case,
                        "evidence",
                        &item.id.to_string(),
                        "content",
                    ],
                    &output,
                    Some(&item.hash),
                )
                .await?;
            if !out.json(&ev)? {
                errln!(
                    "wrote {} ({}, blake3 {})",
                    output.display(),
                    bytes(done.size),
                    done.hash
                );
            }
        }
        EvidenceCommand::List { case } => {
            let c: CaseView = typed(&client.get(&["v1", "cases", &case]).await?)?;
            // `--json` prints the list as the case answer holds it.
            let evidence = serde_json::to_value(&c.evidence)?;
            if let Some(evidence) = out.answer::<Vec<EvidenceView>>(&evidence)? {
                print_evidence_table(&evidence);
            }
        }
        EvidenceCommand::Show { case, evidence } => {
            let ev = client
                .get(&["v1", "cases", &case, "evidence", &evidence])
                .await?;
            if let Some(ev) = out.answer::<EvidenceView>(&ev)? {
                print_evidence(&ev);
            }
        }
        EvidenceCommand::Edit {
            case,
            evidence,
            name,
            display_id,
            description,
            category,
            no_category,
            do_not_disclose,
        } => {
            let body = EditEvidence {
                name,
                display_id,
                description,
                // The API clears the category on an empty string.
                category: if no_category {
                    Some(String::new())
                } else {
                    category
                },
                folder: None,
                do_not_disclose,
            };
            if body == EditEvidence::default() {
                bail!(
                    "nothing to change: give --name, --display-id, --description, --category, --no-category or --do-not-disclose"
                );
            }
            let ev = patch(client, &case, &evidence, &body).await?;
            if let Some(ev) = out.answer::<EvidenceView>(&ev)? {
                outln!("updated evidence {} ({})", s(&ev.display_id), ev.id);
            }
        }
        EvidenceCommand::Move {
            case,
            evidence,
            folder,
        } => {
            let body = EditEvidence {
                folder: Some(folder),
                ..EditEvidence::default()
            };
            let ev = patch(client, &case, &evidence, &body).await?;
            if let Some(ev) = out.answer::<EvidenceView>(&ev)? {
                outln!(
                    "moved evidence {} to {}",
                    s(&ev.display_id),
                    if ev.folder.is_empty() {
                        "the case root".to_owned()
                    } else {
                        s(&ev.folder)
                    }
                );
            }
        }
        EvidenceCommand::Delete {
            case,
            evidence,
            yes,
        } => {
            confirm(
                yes,
                &format!(
                    "delete evidence {evidence} of case {case} (its file too, unless another item holds the same bytes)"
                ),
            )?;
            let answer = client
                .delete(&["v1", "cases", &case, "evidence", &evidence])
                .await?;
            if !out.json(&answer)? {
                outln!("deleted evidence {evidence}");
            }
        }
        EvidenceCommand::Transcript(TranscriptCommand::Add {
            case,
            evidence,
            file,
            name,
        }) => {
            let name = match name {
                Some(n) => n,
                None => file_name(&file)?,
            };
            let up = client
                .upload(
                    &["v1", "cases", &case, "evidence", &evidence, "transcripts"],
                    &[("name", name)],
                    &file,
                )
                .await?;
            let ev: EvidenceView = typed(&up.answer)?;
            // The answer is the evidence item; the new transcript is the one with our bytes.
            let added = ev.transcripts.iter().rev().find(|t| t.hash == up.hash);
            up.check_hash(added.map(|t| &t.hash), &file)?;
            if !out.json(&up.answer)?
                && let Some(t) = added
            {
                outln!("{}", t.id);
                outln!("{}", t.hash);
            }
        }
        EvidenceCommand::Transcript(TranscriptCommand::Get {
            case,
            evidence,
            transcript,
            output,
            force,
        }) => {
            check_output(&output, force)?;
            let ev: EvidenceView = typed(
                &client
                    .get(&["v1", "cases", &case, "evidence", &evidence])
                    .await?,
            )?;
            let Some(t) = ev
                .transcripts
                .iter()
                .find(|t| t.id.to_string() == transcript || t.name == transcript)
            else {
                bail!("evidence {evidence} has no transcript {transcript:?}");
            };
            let (ev_id, t_id) = (ev.id.to_string(), t.id.to_string());
            let done = client
                .download(
                    &[
                        "v1",
                        "cases",
                        &case,
                        "evidence",
                        &ev_id,
                        "transcripts",
                        &t_id,
                        "content",
                    ],
                    &output,
                    Some(&t.hash),
                )
                .await?;
            if !out.json(&serde_json::to_value(t)?)? {
                errln!("wrote {} ({})", output.display(), bytes(done.size));
            }
        }
    }
    Ok(())
}

// Bulk ingest: `evidence add CASE PATH…` with several paths or a directory.
//
// Three steps, so that bad input changes nothing: `plan` walks the file system and checks every
// name before anything is sent; `Present` indexes what the case already holds (one `GET` of the
// case); `Run::go` then adds the files one at a time, creating folders as it reaches them and
// skipping files whose name and content are already in their folder. Only metadata is kept per
// file; the bytes are streamed from disk for the upload and for the (rare) hash of a candidate
// duplicate.

/// `Ok(file)` when `paths` is the single-file form (one path that is not a directory), else the
/// paths back for a batch. A missing single path takes the single-file form, whose error
/// (`opening FILE`) is the one it always gave.
async fn patch(
    client: &Client,
    case: &str,
    evidence: &str,
    body: &EditEvidence,
) -> anyhow::Result<Value> {
    client
        .send_json(
            Method::PATCH,
            &["v1", "cases", case, "evidence", evidence],
            body,
        )
        .await
}

/// The default evidence name: the file's own name.
fn file_name(file: &Path) -> anyhow::Result<String> {
    match file.file_name().and_then(|n| n.to_str()) {
        Some(n) => Ok(n.to_owned()),
        None => bail!("{} has no usable file name: give --name", file.display()),
    }
}

/// A table of evidence items.
pub(super) fn print_evidence_table(evidence: &[EvidenceView]) {
    let rows: Vec<Vec<String>> = evidence
        .iter()
        .map(|e| {
            vec![
                s(&e.display_id),
                s(&e.name),
                s(&e.folder),
                bytes(e.size),
                opt(e.category.as_deref()),
                e.id.to_string(),
            ]
        })
        .collect();
    table(
        &["ID", "NAME", "FOLDER", "SIZE", "CATEGORY", "EVIDENCE ID"],
        &rows,
    );
}

fn print_evidence(e: &EvidenceView) {
    outln!("Display ID:  {}", s(&e.display_id));
    outln!("Name:        {}", s(&e.name));
    outln!("Description: {}", s(&e.description));
    outln!("Category:    {}", opt(e.category.as_deref()));
    outln!("Folder:      /{}", super::escape(&e.folder));
    outln!("Size:        {}", bytes(e.size));
    outln!("Media type:  {}", s(&e.media_type));
    outln!("BLAKE3:      {}", e.hash);
    outln!("Added:       {} by {}", s(&e.added_at), s(&e.added_by));
    outln!("Evidence id: {}", e.id);
    for t in &e.transcripts {
        outln!("Transcript:  {} ({}, {})", s(&t.name), t.id, t.hash);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use clap::Parser;
    use std::fs;

    #[derive(Debug, clap::Parser)]
    struct Cli {
        #[command(subcommand)]
        command: EvidenceCommand,
    }

    fn parse_add(args: &[&str]) -> Result<EvidenceCommand, clap::Error> {
        Cli::try_parse_from(["evidence", "add"].iter().chain(args)).map(|c| c.command)
    }

    #[test]
    fn add_takes_one_or_more_paths_and_recursive() {
        let Ok(EvidenceCommand::Add {
            paths, recursive, ..
        }) = parse_add(&["C-1", "a.bin", "dir", "--recursive", "--folder", "X"])
        else {
            panic!("bulk form should parse");
        };
        assert_eq!(paths, [PathBuf::from("a.bin"), PathBuf::from("dir")]);
        assert!(recursive);
        let Ok(EvidenceCommand::Add { recursive, .. }) = parse_add(&["C-1", "-r", "dir"]) else {
            panic!("-r should parse");
        };
        assert!(recursive);
        // The single-file form with all its flags, as before.
        let Ok(EvidenceCommand::Add {
            paths,
            name,
            display_id,
            ..
        }) = parse_add(&[
            "C-1",
            "f.bin",
            "--folder",
            "A/B",
            "--name",
            "n",
            "--display-id",
            "E1",
            "--description",
            "d",
        ])
        else {
            panic!("single-file form should parse");
        };
        assert_eq!(paths, [PathBuf::from("f.bin")]);
        assert_eq!(name.as_deref(), Some("n"));
        assert_eq!(display_id.as_deref(), Some("E1"));
        assert!(parse_add(&["C-1"]).is_err(), "a PATH is required");
    }

    #[test]
    fn one_file_is_the_single_file_form() {
        let dir = tempfile::tempdir().unwrap();
        let file = dir.path().join("f.bin");
        fs::write(&file, "x").unwrap();
        assert_eq!(single_file(vec![file.clone()]), Ok(file.clone()));
        let missing = dir.path().join("missing");
        assert_eq!(single_file(vec![missing.clone()]), Ok(missing));
        let dir_only = vec![dir.path().to_owned()];
        assert_eq!(single_file(dir_only.clone()), Err(dir_only));
        let two = vec![file.clone(), file];
        assert_eq!(single_file(two.clone()), Err(two));
    }
}
