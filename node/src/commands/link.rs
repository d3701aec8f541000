//! `casemesh link …`: create, list, show and revoke download links (a ZIP or ISO package of a
//! case that anyone holding the URL may download until it expires or is revoked).

use super::{Out, bytes, opt, s, table, typed};
use crate::client::Client;
use casemesh_api_types::links::{CreateLink, LinkStatus, LinkView, PackageFormat};
use indicatif::{ProgressBar, ProgressStyle};
use serde_json::Value;
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
            let body = CreateLink {
                format: match format {
                    Format::Zip => PackageFormat::Zip,
                    Format::Iso => PackageFormat::Iso,
                },
                days,
                audit_trail,
                transcripts,
                toc,
                keep_folders,
                folders,
                evidence,
                to: to.clone(),
                message,
            };
            let created = client
                .send_json(
                    reqwest::Method::POST,
                    &["v1", "cases", &case, "links"],
                    &serde_json::to_value(&body)?,
                )
                .await?;
            let url = created["url"].clone();
            let mut raw = created;
            if wait {
                let id = typed::<LinkView>(&raw)?.id;
                raw = wait_built(client, &id.to_string(), out).await?;
                raw["url"] = url;
            }
            let link: LinkView = typed(&raw)?;
            if !out.json(&raw)? {
                // A link whose package failed opens nothing: no URL on stdout for a script to
                // forward; the error below says why.
                if link.status != LinkStatus::Failed {
                    outln!("{}", opt(link.url.as_deref()));
                }
                let failed = link.status == LinkStatus::Failed;
                let next = match (&to, failed) {
                    // No URL was printed, and the link opens nothing: nothing to forward. The
                    // recipient's email was queued at creation, before the build failed.
                    (Some(r), true) => format!(
                        "its package could not be built, so the link opens nothing; {r} was \
                         already emailed its URL when the link was created: tell them it will \
                         not work, revoke it (`casemesh link revoke {id}`) and create a new link \
                         once the cause below is fixed",
                        id = link.id
                    ),
                    (None, true) => format!(
                        "its package could not be built, so the link opens nothing and no URL \
                         is printed: revoke it (`casemesh link revoke {id}`) and create a new \
                         link once the cause below is fixed",
                        id = link.id
                    ),
                    (Some(r), false) => format!(
                        "{r} is emailed the URL through the node's mail queue (logged instead \
                         of sent when config.toml has no [smtp])"
                    ),
                    (None, false) => "forward the URL above to the recipient".to_owned(),
                };
                errln!(
                    "link {} ({:?}), expires {}; {next}",
                    link.id,
                    link.status,
                    s(&link.expires_at)
                );
            }
            if link.status == LinkStatus::Failed {
                anyhow::bail!("the package build failed: {}", opt(link.error.as_deref()));
            }
        }
        LinkCommand::List { case } => {
            let links = client.get(&["v1", "cases", &case, "links"]).await?;
            if let Some(links) = out.answer::<Vec<LinkView>>(&links)? {
                let rows: Vec<Vec<String>> = links
                    .iter()
                    .map(|l| {
                        vec![
                            l.id.to_string(),
                            format!("{:?}", l.status),
                            format_name(l.format).to_owned(),
                            l.package_size.map(bytes).unwrap_or_else(|| "-".into()),
                            s(&l.expires_at),
                            l.downloads.to_string(),
                            opt(l.recipient.as_deref()),
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
            if let Some(l) = out.answer::<LinkView>(&l)? {
                print_link(&l);
            }
        }
        LinkCommand::Revoke { link, yes } => {
            super::confirm::confirm(
                yes,
                &format!("revoke download link {link} and delete its package"),
            )?;
            let l = client.post_empty(&["v1", "links", &link, "revoke"]).await?;
            if let Some(l) = out.answer::<LinkView>(&l)? {
                outln!("revoked link {}", l.id);
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
        let raw = client.get(&["v1", "links", id]).await?;
        let link: LinkView = typed(&raw)?;
        if link.status != LinkStatus::Processing {
            if let Some(pb) = &spinner {
                pb.finish_and_clear();
            }
            return Ok(raw);
        }
        if let Some(pb) = &spinner {
            match link.progress.map(|p| (p.done, p.total)) {
                Some((done, total)) if total > 0 => pb.set_message(format!(
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

/// `zip` or `iso`, as the API writes it.
fn format_name(f: PackageFormat) -> &'static str {
    match f {
        PackageFormat::Zip => "zip",
        PackageFormat::Iso => "iso",
    }
}

fn print_link(l: &LinkView) {
    outln!("Link:       {}", l.id);
    outln!("Case:       {} ({})", s(&l.case_id), l.case);
    outln!("Status:     {:?}", l.status);
    if let Some(e) = &l.error {
        outln!("Error:      {}", s(e));
    }
    outln!("Format:     {}", format_name(l.format));
    let size = l.package_size.map(bytes).unwrap_or_else(|| "-".into());
    outln!("Size:       {size}");
    outln!("Recipient:  {}", opt(l.recipient.as_deref()));
    outln!("Message:    {}", s(&l.message));
    outln!("Created:    {} by {}", s(&l.created_at), s(&l.created_by));
    outln!("Expires:    {}", s(&l.expires_at));
    if let Some(r) = &l.revoked_at {
        outln!("Revoked:    {}", s(r));
    }
    outln!("Downloads:  {}", l.downloads);
    let o = &l.options;
    let opts: Vec<&str> = [
        ("audit_trail", o.audit_trail),
        ("transcripts", o.transcripts),
        ("toc", o.toc),
        ("keep_folders", o.keep_folders),
    ]
    .into_iter()
    .filter_map(|(name, on)| on.then_some(name))
    .collect();
    outln!(
        "Options:    {}",
        if opts.is_empty() {
            "-".to_owned()
        } else {
            opts.join(", ")
        }
    );
    outln!("Manifest:   {}", opt(l.manifest_blake3.as_deref()));
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
