//! `casemesh share …` (partner shares: create, status, list, add recipients, stop) and
//! `casemesh received …` / `casemesh case import` (shares received from partners: list, import
//! details, import).

use super::{Out, list, opt, opt_id, s as sx, table, typed};
use crate::client::Client;
use casemesh_api_types::{
    AccessEntry, AddRecipients, CreateShare, InsideShareView, InsideStopView, OnwardShare,
    PeerView, ReceivedContentsView, ReceivedView, ShareInside, ShareView,
};
use casemesh_model::ids::OrgId;
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

fn print_share(v: &ShareView) {
    outln!("Share:       {}", v.id);
    outln!("Status:      {}", v.status);
    outln!("Partner:     {} ({})", sx(&v.partner_name), v.partner);
    outln!("Scope:       {}", sx(&v.scope));
    outln!("Recipients:  {}", recipients(v).join(", "));
    for r in &v.refused_recipients {
        outln!(
            "  refused by the partner: {} ({}); they get nothing there",
            sx(&r.recipient),
            sx(&r.reason)
        );
    }
    outln!(
        "Policy:      {} ({})",
        sx(&v.policy.name),
        list(&v.policy.allowed)
    );
    outln!(
        "Items:       {} sent, {} delivered, {} skipped",
        v.items_sent,
        v.items_delivered,
        v.skipped
    );
    for item in &v.skipped_items {
        outln!("  skipped {}: {}", item.evidence, sx(&item.reason));
    }
    if let Some(failure) = &v.failure {
        outln!("Failure:     {}", sx(failure));
    }
    if let Some(receipt) = &v.receipt {
        outln!(
            "Receipt:     signed by {} at {}: holds {} items (roots digest {}){}",
            sx(&receipt.signed_by_name),
            receipt.at,
            receipt.items,
            receipt.digest,
            if receipt.matches_sent {
                ", exactly the items sent"
            } else {
                "; DOES NOT MATCH the items sent"
            }
        );
    }
    if let Some(parent) = &v.onward_of {
        outln!("Onward of:   received share {parent}");
    }
    for hop in &v.hops {
        outln!(
            "Onward hop:  {} → {} ({}) at {}, share {}",
            sx(&hop.from_name),
            sx(&hop.to_name),
            list(&hop.recipients),
            hop.at,
            hop.share
        );
    }
    if let Some(ack) = &v.stop_ack {
        outln!(
            "Stop:        acknowledged, signed by {} at {}",
            sx(&ack.signed_by_name),
            ack.at
        );
    }
    outln!("Shared:      {} by {}", v.created_at, sx(&v.created_by));
}

/// A share's recipients as named at creation (`user:NAME`, `email:ADDR`, …).
fn recipients(v: &ShareView) -> Vec<String> {
    v.recipients.iter().map(|r| sx(&r.recipient)).collect()
}

/// Wait until share `id` is no longer Processing and the partner has confirmed its latest update
/// ([`ShareView::in_sync`]), showing items and bytes delivered (a spinner
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
    // A limit past what the clock can hold (`--timeout 18446744073709551615`) is no limit.
    let deadline = timeout.and_then(|s| started.checked_add(Duration::from_secs(s)));
    // Bytes are what this node sent the partner since the wait began (the peers view counts
    // per partner, not per share).
    let mut base_bytes = None;
    let mut last_line = String::new();
    loop {
        let raw = client.get(&["v1", "shares", id]).await?;
        let v: ShareView = typed(&raw)?;
        if v.status == "PendingApproval" {
            spinner.finish_and_clear();
            errln!(
                "share {id} waits for a second person's approval (two-person approval policy): \
                 nothing leaves before a user with share_approve runs `casemesh share approve {id}`"
            );
            return Ok(raw);
        }
        // Done once the share has settled and, when Complete, the partner has confirmed its
        // latest update too (recipients added to a Complete share keep it Complete).
        if v.status != "Processing" && (v.status != "Complete" || v.in_sync) {
            spinner.finish_and_clear();
            return Ok(raw);
        }
        let peer = partner_view(client, &v.partner).await;
        let sent = peer.as_ref().map_or(0, |p| p.bytes_sent);
        let base = *base_bytes.get_or_insert(sent);
        let reach = match &peer {
            Some(p) if p.connected => String::new(),
            Some(p) => format!(
                "; {} is not connected ({}): the share is delivered when it is",
                sx(&v.partner_name),
                sx(&p.state)
            ),
            None => String::new(),
        };
        let line = if v.status == "Complete" {
            format!(
                "share {id}: waiting for {} to confirm the update{reach}",
                sx(&v.partner_name)
            )
        } else {
            format!(
                "share {id}: {} of {} items delivered, {} sent{reach}",
                v.items_delivered,
                v.items_sent,
                super::bytes(sent.saturating_sub(base)),
            )
        };
        if line != last_line {
            if terminal {
                spinner.set_message(line.clone());
            } else if !crate::out::json() {
                errln!("{line}");
            }
            last_line = line;
        }
        spinner.tick();
        if deadline.is_some_and(|d| std::time::Instant::now() >= d) {
            spinner.finish_and_clear();
            if v.status == "Complete" {
                anyhow::bail!(
                    "share {id}: {} has not confirmed the latest update after {} s{reach}. It goes on in the background: casemesh share status {id} --wait",
                    sx(&v.partner_name),
                    timeout.unwrap_or(0),
                );
            }
            let missing = v.items_sent.saturating_sub(v.items_delivered);
            anyhow::bail!(
                "share {id} is not complete after {} s: {missing} of {} items not yet confirmed by {}{reach}. It goes on in the background: casemesh share status {id} --wait",
                timeout.unwrap_or(0),
                v.items_sent,
                sx(&v.partner_name),
            );
        }
        tokio::time::sleep(Duration::from_millis(250)).await;
    }
}

/// The peers view of the partner with org id `peer`, if the caller may read it.
async fn partner_view(client: &Client, peer: &OrgId) -> Option<PeerView> {
    let peers = client.get(&["v1", "peers"]).await.ok()?;
    super::typed::<Vec<PeerView>>(&peers)
        .ok()?
        .into_iter()
        .find(|p| p.peer_id == *peer)
}

/// What a `share create` did, said in one line: a new share, or what it added to the share the
/// case already had with that partner (`before`: that share as it was, issue #15 item 3).
fn created_line(v: &ShareView, before: Option<&ShareView>) -> String {
    let id = &v.id;
    let partner = sx(&v.partner_name);
    let Some(before) = before else {
        return format!(
            "Share {id} created: {} items to {partner} ({})",
            v.items_sent, v.status
        );
    };
    let old = recipients(before);
    let mut added: Vec<String> = Vec::new();
    let new_recipients: Vec<String> = recipients(v)
        .into_iter()
        .filter(|r| !old.contains(r))
        .collect();
    if !new_recipients.is_empty() {
        added.push(format!("recipients {}", new_recipients.join(", ")));
    }
    if v.scope != before.scope {
        added.push(format!(
            "scope {} (was {})",
            sx(&v.scope),
            sx(&before.scope)
        ));
    }
    let new_items = v.items_sent.saturating_sub(before.items_sent);
    if new_items > 0 {
        added.push(format!("{new_items} new items"));
    }
    if v.message != before.message {
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
                    &ShareInside {
                        to,
                        folders,
                        evidence,
                        message,
                    },
                )
                .await?;
            if let Some(v) = out.answer::<InsideShareView>(&v)? {
                outln!(
                    "shared inside: {} ({}), {} notified; share {}",
                    list(&v.to),
                    sx(&v.scope),
                    v.notified,
                    v.id
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
            let before: Vec<ShareView> = match client.get(&["v1", "cases", &case, "shares"]).await {
                Ok(v) => typed(&v).unwrap_or_default(),
                Err(_) => Vec::new(),
            };
            let body = CreateShare {
                partner,
                to,
                folders,
                evidence,
                message,
                mode: Some(mode),
            };
            let raw = client
                .send_json(Method::POST, &["v1", "cases", &case, "shares"], &body)
                .await?;
            let v: ShareView = typed(&raw)?;
            let previous = before.iter().find(|s| s.id == v.id);
            if !out.json {
                // The share id first, so an interrupted wait still names it.
                outln!("{}", created_line(&v, previous));
            }
            if wait {
                wait_for(client, &v.id.to_string(), timeout).await?
            } else {
                raw
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
            if let Some(shares) = out.answer::<Vec<ShareView>>(&v)? {
                let rows: Vec<Vec<String>> = shares
                    .iter()
                    .map(|s| {
                        vec![
                            s.id.to_string(),
                            s.status.clone(),
                            sx(&s.partner_name),
                            recipients(s).join(", "),
                            s.created_at.clone(),
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
            if let Some(entries) = out.answer::<Vec<AccessEntry>>(&v)? {
                let rows: Vec<Vec<String>> = entries
                    .iter()
                    .map(|a| {
                        vec![
                            sx(&a.kind),
                            sx(&a.who),
                            opt(a.full_name.as_deref()),
                            sx(&a.organization),
                            match &a.refused {
                                Some(why) => format!("REFUSED by partner: {}", sx(why)),
                                None => sx(&a.status),
                            },
                            opt_id(a.share),
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
                    &AddRecipients { to, partner },
                )
                .await?;
            if let Some(v) = out.answer::<ShareView>(&v)? {
                print_share(&v);
                outln!(
                    "The partner checks the recipients against its own directory; one it does not \
                     know gets nothing, and `casemesh share status {}` shows it as refused.",
                    v.id
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
                    if let Some(v) = out.answer::<InsideStopView>(&v)? {
                        outln!(
                            "inside share {} stopped: {} access entries taken back",
                            v.id,
                            v.removed
                        );
                    }
                    return Ok(());
                }
                Err(e) => return Err(e),
            }
        }
    };
    let view: ShareView = typed(&v)?;
    if !out.json(&v)? {
        print_share(&view);
    }
    // A share that can never complete is an error for whoever waited on it (exit code 1).
    if waited && view.status == "Failed" {
        anyhow::bail!("share {} failed: {}", view.id, opt(view.failure.as_deref()));
    }
    Ok(())
}

fn print_received(v: &ReceivedView) {
    outln!("Share:                {}", v.id);
    outln!("Status:               {}", v.status);
    outln!("Case:                 {} {}", sx(&v.case_id), sx(&v.title));
    outln!("Sender:               {}", sx(v.sender.as_str()));
    outln!("Partner organization: {}", sx(&v.partner_organization));
    outln!("Recipient:            {}", list(&v.recipients));
    if let Some(message) = &v.message {
        outln!("Message:              {}", sx(message));
    }
    outln!("Received on:          {}", v.received_on);
    outln!("Access level:         {}", sx(&v.access_level));
    outln!(
        "Sharing policy:       {} ({})",
        sx(&v.sharing_policy.name),
        list(&v.sharing_policy.allowed)
    );
    outln!(
        "Items:                {} of {} imported",
        v.items_imported,
        v.items
    );
    outln!("Local copy:           {}", opt_id(v.local_case));
    if !v.skipped.is_empty() {
        outln!("Skipped:              {} items", v.skipped.len());
        for item in &v.skipped {
            outln!(
                "  {} {}: {}",
                item.evidence,
                sx(&item.name),
                sx(&item.reason)
            );
        }
    }
    if let Some(error) = &v.last_error {
        outln!("Last error:           {}", sx(error));
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
            if let Some(shares) = out.answer::<Vec<ReceivedView>>(&v)? {
                let rows: Vec<Vec<String>> = shares
                    .iter()
                    .map(|s| {
                        vec![
                            s.id.to_string(),
                            s.status.clone(),
                            sx(&s.partner_organization),
                            sx(&s.case_id),
                            sx(&s.title),
                            opt_id(s.local_case),
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
            if let Some(v) = out.answer::<ReceivedContentsView>(&v)? {
                outln!("Share {} ({})", v.share, sx(&v.mode));
                outln!("Folders:");
                for f in &v.folders {
                    outln!("  {}", sx(f));
                }
                let rows: Vec<Vec<String>> = v
                    .evidence
                    .iter()
                    .map(|e| {
                        vec![
                            e.id.to_string(),
                            sx(&e.name),
                            e.folder.as_deref().map_or_else(|| "/".to_owned(), sx),
                            e.size.to_string(),
                            e.hash.to_string(),
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
                outln!(
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
                    &OnwardShare {
                        partner,
                        to,
                        message,
                    },
                )
                .await?;
            if let Some(v) = out.answer::<ShareView>(&v)? {
                outln!("shared onward to {}: share {}", sx(&v.partner_name), v.id);
            }
            return Ok(());
        }
        ReceivedCommand::Share {
            share, to, message, ..
        } => {
            let received: ReceivedView = typed(&client.get(&["v1", "received", &share]).await?)?;
            let Some(copy) = received.local_case else {
                anyhow::bail!("this share was not imported yet: casemesh received import {share}");
            };
            let v = client
                .send_json(
                    Method::POST,
                    &["v1", "cases", &copy.to_string(), "access"],
                    &ShareInside {
                        to,
                        folders: Vec::new(),
                        evidence: Vec::new(),
                        message,
                    },
                )
                .await?;
            if let Some(v) = out.answer::<InsideShareView>(&v)? {
                outln!(
                    "shared inside: {} ({}); share {}",
                    list(&v.to),
                    sx(&v.scope),
                    v.id
                );
            }
            return Ok(());
        }
        ReceivedCommand::Updates(c) => return super::updates::run(c, client, out).await,
    };
    if let Some(v) = out.answer::<ReceivedView>(&v)? {
        print_received(&v);
    }
    Ok(())
}
