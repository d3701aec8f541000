//! `casemesh link …`: create, list, show and revoke download links (a ZIP or ISO package of a
//! case that anyone holding the URL may download until it expires or is revoked).

use super::{Out, bytes, items, table, text};
use crate::client::Client;
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::{Value, json};
use std::io::IsTerminal;
use std::time::Duration;

/// Package type of a link.
#[derive(Debug, Clone, Copy, clap::ValueEnum)]
pub(crate) enum Format {
    /// ZIP archive.
    Zip,
    /// ISO 9660 image.
    Iso,
}

/// `casemesh link` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum LinkCommand {
    /// Create a download link for a case (or selected folders / evidence); prints the URL.
    Create {
        /// Record id (uuid) or case number.
        case: String,
        /// Package type.
        #[arg(long, value_enum)]
        format: Format,
        /// Days the link stays valid: 1 to 3650 (ten years).
        #[arg(long, default_value_t = 7, value_parser = parse_days, allow_negative_numbers = true)]
        days: u32,
        /// Include the audit trails (case and each item, CSV and JSON).
        #[arg(long)]
        audit_trail: bool,
        /// Include transcripts.
        #[arg(long)]
        transcripts: bool,
        /// Include a table of contents (HTML and CSV).
        #[arg(long)]
        toc: bool,
        /// Retain the folder structure (default: a flat layout).
        #[arg(long)]
        keep_folders: bool,
        /// Only this folder and its subfolders (repeatable).
        #[arg(long = "folder", value_name = "PATH")]
        folders: Vec<String>,
        /// Only this evidence item, by id or display id (repeatable).
        #[arg(long = "evidence", value_name = "ID")]
        evidence: Vec<String>,
        /// Recipient: an email address, or a user or group (inside the agency or of a partner).
        #[arg(long)]
        to: Option<String>,
        /// Message shown to the recipient.
        #[arg(long)]
        message: Option<String>,
        /// Wait until the package is built (Ready) or failed.
        #[arg(long)]
        wait: bool,
    },
    /// List a case's download links.
    List {
        /// Record id (uuid) or case number.
        case: String,
    },
    /// Show one download link.
    Show {
        /// Link id.
        link: String,
    },
    /// Revoke a download link: it stops working at once and its package is deleted (asks
    /// first; --yes in scripts).
    Revoke {
        /// Link id.
        link: String,
        #[command(flatten)]
        yes: super::confirm::Yes,
    },
}

pub(super) async fn run(cmd: LinkCommand, client: &Client, out: Out) -> anyhow::Result<()> {
    match cmd {
        LinkCommand::Create {
            case,
            format,
            days,
            audit_trail,
            transcripts,
            toc,
            keep_folders,
            folders,
            evidence,
            to,
            message,
            wait,
        } => {
            let body = json!({
                "format": match format { Format::Zip => "zip", Format::Iso => "iso" },
                "days": days,
                "audit_trail": audit_trail,
                "transcripts": transcripts,
                "toc": toc,
                "keep_folders": keep_folders,
                "folders": folders,
                "evidence": evidence,
                "to": to,
                "message": message,
            });
            let created = client
                .send_json(
                    reqwest::Method::POST,
                    &["v1", "cases", &case, "links"],
                    &body,
                )
                .await?;
            let url = created["url"].clone();
            let mut link = created;
            if wait {
                link = wait_built(client, &text(&link, "id"), out).await?;
                link["url"] = url;
            }
            if !out.json(&link)? {
                println!("{}", text(&link, "url"));
                let next = match &to {
                    Some(r) => format!(
                        "{r} is emailed the URL through the node's mail queue (logged instead \
                         of sent when config.toml has no [smtp])"
                    ),
                    None => "forward the URL to the recipient".to_owned(),
                };
                eprintln!(
                    "link {} ({}), expires {}; {next}",
                    text(&link, "id"),
                    text(&link, "status"),
                    text(&link, "expires_at")
                );
            }
            if link["status"] == "Failed" {
                anyhow::bail!("the package build failed: {}", text(&link, "error"));
            }
        }
        LinkCommand::List { case } => {
            let links = client.get(&["v1", "cases", &case, "links"]).await?;
            if !out.json(&links)? {
                let rows: Vec<Vec<String>> = items(&links)
                    .iter()
                    .map(|l| {
                        vec![
                            text(l, "id"),
                            text(l, "status"),
                            text(l, "format"),
                            l["package_size"]
                                .as_u64()
                                .map(bytes)
                                .unwrap_or_else(|| "-".into()),
                            text(l, "expires_at"),
                            text(l, "downloads"),
                            text(l, "recipient"),
                        ]
                    })
                    .collect();
                table(
                    &[
                        "LINK",
                        "STATUS",
                        "FORMAT",
                        "SIZE",
                        "EXPIRES",
                        "DOWNLOADS",
                        "RECIPIENT",
                    ],
                    &rows,
                );
            }
        }
        LinkCommand::Show { link } => {
            let l = client.get(&["v1", "links", &link]).await?;
            if !out.json(&l)? {
                print_link(&l);
            }
        }
        LinkCommand::Revoke { link, yes } => {
            super::confirm::confirm(
                yes,
                &format!("revoke download link {link} and delete its package"),
            )?;
            let l = client.post_empty(&["v1", "links", &link, "revoke"]).await?;
            if !out.json(&l)? {
                println!("revoked link {}", text(&l, "id"));
            }
        }
    }
    Ok(())
}

/// Parse `--days`: a whole number from 1 to [`casemesh_service::LINK_MAX_DAYS`]. 0 would make a
/// link that is expired before anyone can use it, so it is refused like a negative number.
fn parse_days(s: &str) -> Result<u32, String> {
    let max = casemesh_service::LINK_MAX_DAYS;
    match s.trim().parse::<i64>() {
        Ok(d) if d < 1 => Err(format!(
            "a link must stay valid at least 1 day (got {d}); to end a link, use `link revoke`"
        )),
        Ok(d) if d > i64::from(max) => Err(format!(
            "a link may stay valid at most {max} days (ten years), got {d}"
        )),
        Ok(d) => u32::try_from(d).map_err(|e| e.to_string()),
        Err(_) => Err(format!("expected a whole number of days, got {s:?}")),
    }
}

/// Poll the link until it leaves `Processing`, with a spinner on a terminal.
async fn wait_built(client: &Client, id: &str, out: Out) -> anyhow::Result<Value> {
    let spinner = (!out.json && std::io::stderr().is_terminal()).then(|| {
        let pb = ProgressBar::new_spinner();
        pb.set_style(
            ProgressStyle::with_template("{spinner} {msg}")
                .unwrap_or_else(|_| ProgressStyle::default_spinner()),
        );
        pb.enable_steady_tick(Duration::from_millis(120));
        pb
    });
    loop {
        let link = client.get(&["v1", "links", id]).await?;
        if link["status"] != "Processing" {
            if let Some(pb) = &spinner {
                pb.finish_and_clear();
            }
            return Ok(link);
        }
        if let Some(pb) = &spinner {
            let p = &link["progress"];
            match (p["done"].as_u64(), p["total"].as_u64()) {
                (Some(done), Some(total)) if total > 0 => pb.set_message(format!(
                    "packaging: {} of {} ({}%)",
                    bytes(done),
                    bytes(total),
                    done * 100 / total
                )),
                _ => pb.set_message("packaging: waiting for a build slot"),
            }
        }
        tokio::time::sleep(Duration::from_millis(300)).await;
    }
}

fn print_link(l: &Value) {
    println!("Link:       {}", text(l, "id"));
    println!("Case:       {} ({})", text(l, "case_id"), text(l, "case"));
    println!("Status:     {}", text(l, "status"));
    if l["error"].is_string() {
        println!("Error:      {}", text(l, "error"));
    }
    println!("Format:     {}", text(l, "format"));
    let size = l["package_size"]
        .as_u64()
        .map(bytes)
        .unwrap_or_else(|| "-".into());
    println!("Size:       {size}");
    println!("Recipient:  {}", text(l, "recipient"));
    println!("Message:    {}", text(l, "message"));
    println!(
        "Created:    {} by {}",
        text(l, "created_at"),
        text(l, "created_by")
    );
    println!("Expires:    {}", text(l, "expires_at"));
    if l["revoked_at"].is_string() {
        println!("Revoked:    {}", text(l, "revoked_at"));
    }
    println!("Downloads:  {}", text(l, "downloads"));
    let o = &l["options"];
    let mut opts = Vec::new();
    for key in ["audit_trail", "transcripts", "toc", "keep_folders"] {
        if o[key] == true {
            opts.push(key);
        }
    }
    println!(
        "Options:    {}",
        if opts.is_empty() {
            "-".to_owned()
        } else {
            opts.join(", ")
        }
    );
    println!("Manifest:   {}", text(l, "manifest_blake3"));
}

#[cfg(test)]
mod tests {
    use super::parse_days;

    #[test]
    fn link_days_are_one_to_ten_years() {
        assert_eq!(parse_days("1"), Ok(1));
        assert_eq!(parse_days("3650"), Ok(3650));
        for bad in ["0", "-1", "3651", "99999999999", "soon", ""] {
            assert!(parse_days(bad).is_err(), "{bad:?}");
        }
        assert!(parse_days("0").unwrap_err().contains("at least 1 day"));
    }
}
