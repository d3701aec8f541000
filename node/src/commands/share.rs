//! `casemesh share …` (partner shares: create, status, list, add recipients, stop) and
//! `casemesh received …` / `casemesh case import` (shares received from partners: list, import
//! details, import).

use super::{Out, items, show, table, text};
use crate::client::Client;
use casemesh_api_types::PeerView;
use reqwest::Method;
use serde_json::{Value, json};
use std::time::Duration;

/// `casemesh share` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ShareCommand {
    /// Share a case by copy with a partner organization.
    Create {
        /// Record id (uuid) or case number.
        case: String,
        /// Partner name or PeerId (a partner share).
        #[arg(long, required_unless_present = "inside", conflicts_with = "inside")]
        partner: Option<String>,
        /// Share inside this organization: give its users and groups access to the case.
        #[arg(long)]
        inside: bool,
        /// Recipients: in the partner organization user:NAME, group:NAME, email:ADDR, badge:ID,
        /// or bare (an address with @ is an email); with --inside, user:NAME or group:NAME here.
        #[arg(long = "to", required = true, num_args = 1..)]
        to: Vec<String>,
        /// Share only these folders (repeatable).
        #[arg(long = "folder")]
        folders: Vec<String>,
        /// Share only these evidence items (ids or display ids; repeatable).
        #[arg(long = "evidence")]
        evidence: Vec<String>,
        /// Message to the recipients.
        #[arg(long)]
        message: Option<String>,
        /// Partner share mode: `copy` (the partner gets its own copy) or `access` (advanced
        /// sharing: the partner's users list and fetch the case through their node, no copy is
        /// made; needs the Advanced Sharing feature).
        #[arg(long, value_parser = ["copy", "access"], default_value = "copy", conflicts_with = "inside")]
        mode: String,
        /// Wait until the partner has everything (status Complete), showing items and bytes
        /// delivered. The share id is printed first; Ctrl-C stops only the waiting.
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after SECS seconds (exit 1, naming the share and what is
        /// missing); the share goes on in the background.
        #[arg(long, value_name = "SECS", requires = "wait")]
        timeout: Option<u64>,
    },
    /// Show a share: Processing, Complete, Stopped or Failed.
    Status {
        /// Share id.
        share: String,
        /// Wait until Complete or Stopped.
        #[arg(long)]
        wait: bool,
        /// With --wait: give up after SECS seconds (exit 1).
        #[arg(long, value_name = "SECS", requires = "wait")]
        timeout: Option<u64>,
    },
    /// List a case's shares (who has access).
    List {
        /// Record id (uuid) or case number.
        case: String,
    },
    /// Everyone with access to a case: the owner (marked), users and groups it is shared with
    /// inside the organization, and every recipient of its active partner shares.
    Access {
        /// Record id (uuid) or case number.
        case: String,
    },
    /// Add recipients to a share, in the same or another partner organization (no evidence is
    /// copied). The partner checks the recipients against its own directory: one it does not
    /// know gets nothing, and `share status` shows it as refused, with the partner's reason.
    AddRecipients {
        /// Share id.
        share: String,
        /// Recipients to add.
        #[arg(long = "to", required = true, num_args = 1..)]
        to: Vec<String>,
        /// Another partner organization to share with.
        #[arg(long)]
        partner: Option<String>,
    },
    /// Stop sharing: automatic updates stop; the partner keeps its imported copy. For an inside
    /// share, the access it gave is taken back at once.
    Stop {
        /// Share id (partner or inside share).
        share: String,
        #[command(flatten)]
        yes: super::confirm::Yes,
    },
    /// Approve a partner share that waits for a second person (two-person approval policy);
    /// needs the share_approve permission, and someone other than the user who created it.
    Approve {
        /// Share id.
        share: String,
    },
}

/// `casemesh received` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum ReceivedCommand {
    /// Shares received from partners.
    List {
        /// Only shares of this mode.
        #[arg(long, value_parser = ["copy", "access"])]
        mode: Option<String>,
    },
    /// The folders and items of a received share: the sharer's current version as last sent
    /// (for an access-mode share, what its users may open). The sharer's audit trail records
    /// the view with your user name.
    View {
        /// Share id, or the local copy's case id / case number.
        share: String,
    },
    /// Download an item of a received share, fetched from the sharer on demand and verified
    /// (access mode: nothing is kept on this node). Refused once the sharer stopped the share,
    /// or when its policy lacks `download`. The sharer's audit trail records it with your name.
    Get {
        /// Share id, or the local copy's case id / case number.
        share: String,
        /// The sharer's evidence id (as `received view` lists it), display id or name.
        evidence: String,
        /// Where to write the bytes.
        #[arg(short = 'o', long = "output", value_name = "FILE")]
        output: std::path::PathBuf,
        /// Overwrite FILE if it exists.
        #[arg(long)]
        force: bool,
    },
    /// Import details: sender, partner organization, recipients, received on, access level, policy.
    Show {
        /// Share id, or the local copy's case id / case number.
        share: String,
    },
    /// Import a received share (needed when auto-import is off).
    Import {
        /// Share id.
        share: String,
    },
    /// Share a received case onward: to another partner organization (`--partner`), or to
    /// users and groups of this organization (`--inside`), as its sharing policy allows
    /// (`share_onward_external` / `share_onward`). The organization it came from is told.
    #[command(group(clap::ArgGroup::new("whom").required(true).args(["partner", "inside"])))]
    Share {
        /// Received share id, or the local copy's case id.
        share: String,
        /// Partner organization (name or org id).
        #[arg(long)]
        partner: Option<String>,
        /// Share inside this organization instead (users and groups).
        #[arg(long)]
        inside: bool,
        /// Recipients: `user:NAME`, `group:NAME`, `email:ADDR`, `badge:ID` (repeatable).
        #[arg(long = "to", required = true, num_args = 1..)]
        to: Vec<String>,
        /// Message for the recipients.
        #[arg(long)]
        message: Option<String>,
    },
    /// Updates review (`updates`, `apply`, `dismiss`) and the shared metadata of access-mode
    /// shares (`meta`, `edit`): see `commands/updates.rs`.
    #[command(flatten)]
    Updates(super::updates::UpdatesCommand),
}

fn print_share(v: &Value) {
    println!("Share:       {}", text(v, "id"));
    println!("Status:      {}", text(v, "status"));
    println!(
        "Partner:     {} ({})",
        text(v, "partner_name"),
        text(v, "partner")
    );
    println!("Scope:       {}", text(v, "scope"));
    let recipients: Vec<String> = items(&v["recipients"])
        .iter()
        .map(|r| text(r, "recipient"))
        .collect();
    println!("Recipients:  {}", recipients.join(", "));
    for r in items(&v["refused_recipients"]) {
        println!(
            "  refused by the partner: {} ({}); they get nothing there",
            text(r, "recipient"),
            text(r, "reason")
        );
    }
    println!(
        "Policy:      {} ({})",
        text(&v["policy"], "name"),
        show(&v["policy"]["allowed"])
    );
    println!(
        "Items:       {} sent, {} delivered, {} skipped",
        text(v, "items_sent"),
        text(v, "items_delivered"),
        text(v, "skipped")
    );
    for item in items(&v["skipped_items"]) {
        println!(
            "  skipped {}: {}",
            text(item, "evidence"),
            text(item, "reason")
        );
    }
    if v["failure"].is_string() {
        println!("Failure:     {}", text(v, "failure"));
    }
    let receipt = &v["receipt"];
    if receipt.is_object() {
        println!(
            "Receipt:     signed by {} at {}: holds {} items (roots digest {}){}",
            text(receipt, "signed_by_name"),
            text(receipt, "at"),
            text(receipt, "items"),
            text(receipt, "digest"),
            if receipt["matches_sent"] == true {
                ", exactly the items sent"
            } else {
                "; DOES NOT MATCH the items sent"
            }
        );
    }
    if v["onward_of"].is_string() {
        println!("Onward of:   received share {}", text(v, "onward_of"));
    }
    for hop in items(&v["hops"]) {
        println!(
            "Onward hop:  {} → {} ({}) at {}, share {}",
            text(hop, "from_name"),
            text(hop, "to_name"),
            super::show(&hop["recipients"]),
            text(hop, "at"),
            text(hop, "share")
        );
    }
    let ack = &v["stop_ack"];
    if ack.is_object() {
        println!(
            "Stop:        acknowledged, signed by {} at {}",
            text(ack, "signed_by_name"),
            text(ack, "at")
        );
    }
    println!(
        "Shared:      {} by {}",
        text(v, "created_at"),
        text(v, "created_by")
    );
}

/// Wait until share `id` is no longer Processing, showing items and bytes delivered (a spinner
/// on a terminal, a line per change otherwise) and saying plainly when the partner is not
/// connected. With `timeout` (seconds), give up after it with an error naming the share and
/// what is missing.
async fn wait_for(client: &Client, id: &str, timeout: Option<u64>) -> anyhow::Result<Value> {
    let terminal = std::io::IsTerminal::is_terminal(&std::io::stderr());
    let spinner = indicatif::ProgressBar::new_spinner();
    if !terminal {
        spinner.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let started = std::time::Instant::now();
    let deadline = timeout.map(|s| started + Duration::from_secs(s));
    // Bytes are what this node sent the partner since the wait began (the peers view counts
    // per partner, not per share).
    let mut base_bytes = None;
    let mut last_line = String::new();
    loop {
        let v = client.get(&["v1", "shares", id]).await?;
        let status = text(&v, "status");
        if status == "PendingApproval" {
            spinner.finish_and_clear();
            eprintln!(
                "share {id} waits for a second person's approval (two-person approval policy): \
                 nothing leaves before a user with share_approve runs `casemesh share approve {id}`"
            );
            return Ok(v);
        }
        if status != "Processing" {
            spinner.finish_and_clear();
            return Ok(v);
        }
        let peer = partner_view(client, &text(&v, "partner")).await;
        let sent = peer.as_ref().map_or(0, |p| p.bytes_sent);
        let base = *base_bytes.get_or_insert(sent);
        let reach = match &peer {
            Some(p) if p.connected => String::new(),
            Some(p) => format!(
                "; {} is not connected ({}): the share is delivered when it is",
                text(&v, "partner_name"),
                super::s(&p.state)
            ),
            None => String::new(),
        };
        let line = format!(
            "share {id}: {} of {} items delivered, {} sent{reach}",
            text(&v, "items_delivered"),
            text(&v, "items_sent"),
            super::bytes(sent.saturating_sub(base)),
        );
        if line != last_line {
            if terminal {
                spinner.set_message(line.clone());
            } else {
                eprintln!("{line}");
            }
            last_line = line;
        }
        spinner.tick();
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            spinner.finish_and_clear();
            let missing = v["items_sent"]
                .as_u64()
                .unwrap_or(0)
                .saturating_sub(v["items_delivered"].as_u64().unwrap_or(0));
            anyhow::bail!(
                "share {id} is not complete after {} s: {missing} of {} items not yet confirmed by {}{reach}. It goes on in the background: casemesh share status {id} --wait",
                timeout.unwrap_or(0),
                text(&v, "items_sent"),
                text(&v, "partner_name"),
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The peers view of the partner with org id `peer`, if the caller may read it.
async fn partner_view(client: &Client, peer: &str) -> Option<PeerView> {
    let peers = client.get(&["v1", "peers"]).await.ok()?;
    super::typed::<Vec<PeerView>>(&peers)
        .ok()?
        .into_iter()
        .find(|p| p.peer_id == peer)
}

/// What a `share create` did, said in one line: a new share, or what it added to the share the
/// case already had with that partner (`before`: that share as it was, issue #15 item 3).
fn created_line(v: &Value, before: Option<&Value>) -> String {
    let id = text(v, "id");
    let partner = text(v, "partner_name");
    let Some(before) = before else {
        return format!(
            "Share {id} created: {} items to {partner} ({})",
            text(v, "items_sent"),
            text(v, "status")
        );
    };
    let names = |s: &Value| -> Vec<String> {
        items(&s["recipients"])
            .iter()
            .map(|r| text(r, "recipient"))
            .collect()
    };
    let old = names(before);
    let mut added: Vec<String> = Vec::new();
    let new_recipients: Vec<String> = names(v).into_iter().filter(|r| !old.contains(r)).collect();
    if !new_recipients.is_empty() {
        added.push(format!("recipients {}", new_recipients.join(", ")));
    }
    if text(v, "scope") != text(before, "scope") {
        added.push(format!(
            "scope {} (was {})",
            text(v, "scope"),
            text(before, "scope")
        ));
    }
    let new_items = v["items_sent"]
        .as_u64()
        .unwrap_or(0)
        .saturating_sub(before["items_sent"].as_u64().unwrap_or(0));
    if new_items > 0 {
        added.push(format!("{new_items} new items"));
    }
    if v["message"] != before["message"] {
        added.push("the new message".into());
    }
    if added.is_empty() {
        format!(
            "Share {id} already shares this case with {partner} with these recipients and items: nothing added, no second copy made"
        )
    } else {
        format!(
            "Share {id} already shares this case with {partner}: added {} to it (the partner keeps one copy)",
            added.join(", ")
        )
    }
}

pub(super) async fn share(cmd: ShareCommand, client: &Client, out: Out) -> anyhow::Result<()> {
    let waited = matches!(
        cmd,
        ShareCommand::Create { wait: true, .. } | ShareCommand::Status { wait: true, .. }
    );
    let v = match cmd {
        ShareCommand::Create {
            case,
            partner: None,
            to,
            folders,
            evidence,
            message,
            ..
        } => {
            let v = client
                .send_json(
                    Method::POST,
                    &["v1", "cases", &case, "access"],
                    &json!({"to": to, "folders": folders, "evidence": evidence, "message": message}),
                )
                .await?;
            if !out.json(&v)? {
                println!(
                    "shared inside: {} ({}), {} notified; share {}",
                    super::show(&v["to"]),
                    text(&v, "scope"),
                    v["notified"],
                    text(&v, "id")
                );
            }
            return Ok(());
        }
        ShareCommand::Create {
            case,
            partner: Some(partner),
            to,
            folders,
            evidence,
            message,
            mode,
            wait,
            timeout,
            ..
        } => {
            // The case's shares as they were: a second share to the same partner adds to its
            // active share there (the node decides; this only words what it did).
            let before = client
                .get(&["v1", "cases", &case, "shares"])
                .await
                .unwrap_or(Value::Null);
            let v = client
                .send_json(Method::POST, &["v1", "cases", &case, "shares"], &json!({"partner": partner, "to": to, "folders": folders, "evidence": evidence, "message": message, "mode": mode}))
                .await?;
            let id = text(&v, "id");
            let previous = items(&before).iter().find(|s| text(s, "id") == id);
            if !out.json {
                // The share id first, so an interrupted wait still names it.
                println!("{}", created_line(&v, previous));
            }
            if wait {
                wait_for(client, &id, timeout).await?
            } else {
                v
            }
        }
        ShareCommand::Status {
            share,
            wait,
            timeout,
        } => {
            if wait {
                wait_for(client, &share, timeout).await?
            } else {
                client.get(&["v1", "shares", &share]).await?
            }
        }
        ShareCommand::List { case } => {
            let v = client.get(&["v1", "cases", &case, "shares"]).await?;
            if !out.json(&v)? {
                let rows: Vec<Vec<String>> = items(&v)
                    .iter()
                    .map(|s| {
                        let r: Vec<String> = items(&s["recipients"])
                            .iter()
                            .map(|r| text(r, "recipient"))
                            .collect();
                        vec![
                            text(s, "id"),
                            text(s, "status"),
                            text(s, "partner_name"),
                            r.join(", "),
                            text(s, "created_at"),
                        ]
                    })
                    .collect();
                table(
                    &["SHARE", "STATUS", "PARTNER", "RECIPIENTS", "SHARED"],
                    &rows,
                );
            }
            return Ok(());
        }
        ShareCommand::Access { case } => {
            let v = client.get(&["v1", "cases", &case, "access"]).await?;
            if !out.json(&v)? {
                let rows: Vec<Vec<String>> = items(&v)
                    .iter()
                    .map(|a| {
                        vec![
                            text(a, "kind"),
                            text(a, "who"),
                            text(a, "full_name"),
                            text(a, "organization"),
                            match a["refused"].as_str() {
                                Some(why) => format!("REFUSED by partner: {why}"),
                                None => text(a, "status"),
                            },
                            text(a, "share"),
                        ]
                    })
                    .collect();
                table(
                    &["KIND", "WHO", "NAME", "ORGANIZATION", "STATUS", "SHARE"],
                    &rows,
                );
            }
            return Ok(());
        }
        ShareCommand::AddRecipients { share, to, partner } => {
            let v = client
                .send_json(
                    Method::POST,
                    &["v1", "shares", &share, "recipients"],
                    &json!({"to": to, "partner": partner}),
                )
                .await?;
            if !out.json(&v)? {
                print_share(&v);
                println!(
                    "The partner checks the recipients against its own directory; one it does not \
                     know gets nothing, and `casemesh share status {}` shows it as refused.",
                    text(&v, "id")
                );
            }
            return Ok(());
        }
        ShareCommand::Approve { share } => {
            client
                .post_empty(&["v1", "shares", &share, "approve"])
                .await?
        }
        ShareCommand::Stop { share, yes } => {
            super::confirm::confirm(
                yes,
                &format!(
                    "stop share {share}: the partner's access ends, it gets no more updates, and \
                     every onward share below it stops too (copies already imported stay)"
                ),
            )?;
            match client.post_empty(&["v1", "shares", &share, "stop"]).await {
                Ok(v) => v,
                // Not a partner share: an inside share, whose access is taken back.
                Err(e) if e.to_string().contains("HTTP 404") => {
                    let v = match client.delete(&["v1", "access", &share]).await {
                        Ok(v) => v,
                        Err(inside) if inside.to_string().contains("HTTP 404") => return Err(e),
                        Err(inside) => return Err(inside),
                    };
                    if !out.json(&v)? {
                        println!(
                            "inside share {} stopped: {} access entries taken back",
                            text(&v, "id"),
                            v["removed"]
                        );
                    }
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    };
    if !out.json(&v)? {
        print_share(&v);
    }
    // A share that can never complete is an error for whoever waited on it (exit code 1).
    if waited && text(&v, "status") == "Failed" {
        anyhow::bail!("share {} failed: {}", text(&v, "id"), text(&v, "failure"));
    }
    Ok(())
}

fn print_received(v: &Value) {
    println!("Share:                {}", text(v, "id"));
    println!("Status:               {}", text(v, "status"));
    println!(
        "Case:                 {} {}",
        text(v, "case_id"),
        text(v, "title")
    );
    println!("Sender:               {}", text(v, "sender"));
    println!("Partner organization: {}", text(v, "partner_organization"));
    println!("Recipient:            {}", show(&v["recipients"]));
    if v["message"].is_string() {
        println!("Message:              {}", text(v, "message"));
    }
    println!("Received on:          {}", text(v, "received_on"));
    println!("Access level:         {}", text(v, "access_level"));
    println!(
        "Sharing policy:       {} ({})",
        text(&v["sharing_policy"], "name"),
        show(&v["sharing_policy"]["allowed"])
    );
    println!(
        "Items:                {} of {} imported",
        text(v, "items_imported"),
        text(v, "items")
    );
    println!("Local copy:           {}", text(v, "local_case"));
    let skipped = items(&v["skipped"]);
    if !skipped.is_empty() {
        println!("Skipped:              {} items", skipped.len());
        for item in skipped {
            println!(
                "  {} {}: {}",
                text(item, "evidence"),
                text(item, "name"),
                text(item, "reason")
            );
        }
    }
    if v["last_error"].is_string() {
        println!("Last error:           {}", text(v, "last_error"));
    }
}

pub(super) async fn received(
    cmd: ReceivedCommand,
    client: &Client,
    out: Out,
) -> anyhow::Result<()> {
    let v = match cmd {
        ReceivedCommand::List { mode } => {
            let query: Vec<(&str, String)> = mode.map(|m| ("mode", m)).into_iter().collect();
            let v = client.get_query(&["v1", "received"], &query).await?;
            if !out.json(&v)? {
                let rows: Vec<Vec<String>> = items(&v)
                    .iter()
                    .map(|s| {
                        vec![
                            text(s, "id"),
                            text(s, "status"),
                            text(s, "partner_organization"),
                            text(s, "case_id"),
                            text(s, "title"),
                            text(s, "local_case"),
                        ]
                    })
                    .collect();
                table(
                    &["SHARE", "STATUS", "FROM", "CASE ID", "TITLE", "LOCAL COPY"],
                    &rows,
                );
            }
            return Ok(());
        }
        ReceivedCommand::Show { share } => client.get(&["v1", "received", &share]).await?,
        ReceivedCommand::View { share } => {
            let v = client.get(&["v1", "received", &share, "contents"]).await?;
            if !out.json(&v)? {
                println!("Share {} ({})", text(&v, "share"), text(&v, "mode"));
                println!("Folders:");
                for f in items(&v["folders"]) {
                    println!("  {}", f.as_str().unwrap_or_default());
                }
                let rows: Vec<Vec<String>> = items(&v["evidence"])
                    .iter()
                    .map(|e| {
                        vec![
                            text(e, "id"),
                            text(e, "name"),
                            e["folder"].as_str().unwrap_or("/").to_owned(),
                            e["size"].to_string(),
                            text(e, "hash"),
                        ]
                    })
                    .collect();
                table(&["EVIDENCE", "NAME", "FOLDER", "BYTES", "BLAKE3"], &rows);
            }
            return Ok(());
        }
        ReceivedCommand::Get {
            share,
            evidence,
            output,
            force,
        } => {
            super::confirm::check_output(&output, force)?;
            let done = client
                .download(
                    &["v1", "received", &share, "evidence", &evidence, "content"],
                    &output,
                    None,
                )
                .await?;
            let v =
                json!({"file": output.display().to_string(), "size": done.size, "hash": done.hash});
            if !out.json(&v)? {
                println!(
                    "{} bytes written to {} (blake3 {})",
                    done.size,
                    output.display(),
                    done.hash
                );
            }
            return Ok(());
        }
        ReceivedCommand::Import { share } => {
            client
                .post_empty(&["v1", "received", &share, "import"])
                .await?
        }
        ReceivedCommand::Share {
            share,
            partner: Some(partner),
            to,
            message,
            ..
        } => {
            let v = client
                .send_json(
                    Method::POST,
                    &["v1", "received", &share, "share"],
                    &json!({"partner": partner, "to": to, "message": message}),
                )
                .await?;
            if !out.json(&v)? {
                println!(
                    "shared onward to {}: share {}",
                    text(&v, "partner_name"),
                    text(&v, "id")
                );
            }
            return Ok(());
        }
        ReceivedCommand::Share {
            share, to, message, ..
        } => {
            let received = client.get(&["v1", "received", &share]).await?;
            let copy = text(&received, "local_case");
            if received["local_case"].as_str().is_none() {
                anyhow::bail!("this share was not imported yet: casemesh received import {share}");
            }
            let v = client
                .send_json(
                    Method::POST,
                    &["v1", "cases", &copy, "access"],
                    &json!({"to": to, "message": message}),
                )
                .await?;
            if !out.json(&v)? {
                println!(
                    "shared inside: {} ({}); share {}",
                    super::show(&v["to"]),
                    text(&v, "scope"),
                    text(&v, "id")
                );
            }
            return Ok(());
        }
        ReceivedCommand::Updates(c) => return super::updates::run(c, client, out).await,
    };
    if !out.json(&v)? {
        print_received(&v);
    }
    Ok(())
}
