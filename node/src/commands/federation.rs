//! `casemesh id`, `casemesh partner …`, `casemesh policy …`, `casemesh peers`: this node's
//! identity on the network, the partner organizations it trusts, sharing policies, and the
//! operator view of partner connections.

use super::{Out, list, opt, opt_id, s, table, typed};
use crate::client::Client;
use casemesh_api_types::{
    AddPartner, DirectoryEntryView, EditPartner, IdView, PartnerView, PeerView, PolicyView,
    PutPolicy,
};
use casemesh_model::ids::OrgId;
use reqwest::Method;

/// `casemesh partner` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum PartnerCommand {
    /// Register a partner organization (only registered partners may connect).
    Add {
        /// Display name, e.g. "County Prosecutor".
        #[arg(long)]
        name: String,
        /// The partner's PeerId (`casemesh id` on its node).
        #[arg(long)]
        peer_id: String,
        /// Where to reach it, e.g. /ip4/10.0.0.5/tcp/4001 (repeatable).
        #[arg(long = "addr")]
        addrs: Vec<String>,
        /// Sharing policy to assign (default partner-copy).
        #[arg(long)]
        policy: Option<String>,
    },
    /// List partners.
    List,
    /// Change a partner's name, addresses or policy.
    Update {
        /// Name or PeerId.
        partner: String,
        /// New display name.
        #[arg(long)]
        name: Option<String>,
        /// Replace the addresses (repeatable).
        #[arg(long = "addr")]
        addrs: Vec<String>,
        /// Assign another policy.
        #[arg(long)]
        policy: Option<String>,
    },
    /// Look up users and groups in a partner's directory (if the partner shares it; needs a
    /// permission to share cases or evidence with partners).
    Directory {
        /// Name or PeerId.
        partner: String,
        /// What to look for: a prefix of a username, full name, word of it, email, badge id or
        /// group name (not `user:`/`group:`); none lists the first 20 entries.
        #[arg(default_value = "")]
        query: String,
    },
    /// Unregister a partner; its connections close.
    Remove {
        /// Name or PeerId.
        partner: String,
        #[command(flatten)]
        yes: super::confirm::Yes,
    },
}

/// `casemesh policy` subcommands.
#[derive(Debug, clap::Subcommand)]
pub(crate) enum PolicyCommand {
    /// List sharing policies.
    List,
    /// Create or replace a sharing policy: what a partner may do and what data may leave.
    Set {
        /// Policy name.
        name: String,
        /// Allowed actions (repeatable): view, download, import, receive_updates,
        /// apply_case_updates, apply_evidence_updates, share_onward, share_onward_external,
        /// edit_metadata.
        #[arg(long = "allow", value_name = "ACTION")]
        allow: Vec<String>,
        /// Data that may leave (repeatable; default all): case_number, case_title,
        /// case_description, evidence_name, evidence_display_id, evidence_description,
        /// transcripts, or the groups case_fields, evidence_metadata, all.
        #[arg(long = "data", value_name = "FIELD")]
        data: Vec<String>,
        /// A partner share under this policy waits until a second user with the
        /// share_approve permission approves it (`casemesh share approve`).
        #[arg(long)]
        two_person_approval: bool,
    },
    /// Show one sharing policy (read only).
    Show {
        /// Policy name.
        name: String,
    },
}

/// `casemesh id`.
pub(super) async fn id(client: &Client, out: Out) -> anyhow::Result<()> {
    let v = client.get(&["v1", "id"]).await?;
    if let Some(id) = out.answer::<IdView>(&v)? {
        outln!("{}", id.peer_id);
        for a in &id.addrs {
            outln!("  {}", s(a));
        }
    }
    Ok(())
}

/// `casemesh peers`.
pub(super) async fn peers(client: &Client, out: Out) -> anyhow::Result<()> {
    let v = client.get(&["v1", "peers"]).await?;
    let Some(peers) = out.answer::<Vec<PeerView>>(&v)? else {
        return Ok(());
    };
    let rows: Vec<Vec<String>> = peers
        .iter()
        .map(|p| {
            vec![
                s(&p.name),
                // connected, offline, or not registered by the partner (issue #15 item 5)
                s(&p.state),
                opt(p.last_seen.as_deref()),
                p.rtt_ms
                    .map(|r| format!("{r:.1} ms"))
                    .unwrap_or_else(|| "-".into()),
                opt(p.protocol_version.as_deref()),
                format!("{}/{}", p.messages_sent, p.messages_received),
                format!(
                    "{}/{}",
                    super::bytes(p.bytes_sent),
                    super::bytes(p.bytes_received)
                ),
                p.transfers_in_flight.to_string(),
                p.outbox_queued.to_string(),
                p.dead_letters.len().to_string(),
                s(p.peer_id.as_str()),
            ]
        })
        .collect();
    table(
        &[
            "PARTNER",
            "STATE",
            "LAST SEEN",
            "RTT",
            "PROTOCOL",
            "MSGS OUT/IN",
            "BYTES OUT/IN",
            "TRANSFERS",
            "OUTBOX",
            "DEAD",
            "PEER ID",
        ],
        &rows,
    );
    // Each dead letter once, with its reason: an operator must see why a share failed.
    for p in &peers {
        for d in &p.dead_letters {
            outln!(
                "dead letter to {}: {} (share {}) at {}: {}",
                s(&p.name),
                s(&d.kind),
                opt_id(d.share),
                s(&d.at),
                s(&d.reason)
            );
        }
    }
    Ok(())
}

pub(super) async fn partner(cmd: PartnerCommand, client: &Client, out: Out) -> anyhow::Result<()> {
    let v = match cmd {
        PartnerCommand::Add {
            name,
            peer_id,
            addrs,
            policy,
        } => {
            client
                .send_json(
                    Method::POST,
                    &["v1", "partners"],
                    &AddPartner {
                        name,
                        peer_id: OrgId(peer_id),
                        addrs,
                        policy,
                    },
                )
                .await?
        }
        PartnerCommand::List => {
            let v = client.get(&["v1", "partners"]).await?;
            if let Some(partners) = out.answer::<Vec<PartnerView>>(&v)? {
                let rows: Vec<Vec<String>> = partners
                    .iter()
                    .map(|p| {
                        vec![
                            s(&p.name),
                            s(&p.policy),
                            p.peer_id.to_string(),
                            list(&p.addrs),
                        ]
                    })
                    .collect();
                table(&["NAME", "POLICY", "PEER ID", "ADDRESSES"], &rows);
            }
            return Ok(());
        }
        PartnerCommand::Update {
            partner,
            name,
            addrs,
            policy,
        } => {
            let addrs = (!addrs.is_empty()).then_some(addrs);
            client
                .send_json(
                    Method::PATCH,
                    &["v1", "partners", &partner],
                    &EditPartner {
                        name,
                        addrs,
                        policy,
                    },
                )
                .await?
        }
        PartnerCommand::Remove { partner, yes } => {
            super::confirm::confirm(
                yes,
                &format!(
                    "remove partner {partner}: it can no longer connect, and messages still queued \
                     for it (a stop among them) are not delivered until it is added again"
                ),
            )?;
            client.delete(&["v1", "partners", &partner]).await?
        }
        PartnerCommand::Directory { partner, query } => {
            let v = client
                .get_query(&["v1", "partners", &partner, "directory"], &[("q", query)])
                .await?;
            if let Some(entries) = out.answer::<Vec<DirectoryEntryView>>(&v)? {
                let rows: Vec<Vec<String>> = entries
                    .iter()
                    .map(|e| {
                        vec![
                            format!("{}:{}", s(&e.kind), s(&e.name)),
                            opt(e.full_name.as_deref()),
                            opt(e.email.as_deref()),
                            opt(e.badge_id.as_deref()),
                        ]
                    })
                    .collect();
                table(&["RECIPIENT", "NAME", "EMAIL", "BADGE"], &rows);
            }
            return Ok(());
        }
    };
    if let Some(p) = out.answer::<PartnerView>(&v)? {
        outln!("{} {} (policy {})", s(&p.name), p.peer_id, s(&p.policy));
    }
    Ok(())
}

pub(super) async fn policy(cmd: PolicyCommand, client: &Client, out: Out) -> anyhow::Result<()> {
    let v = match cmd {
        PolicyCommand::List => client.get(&["v1", "policies"]).await?,
        PolicyCommand::Set {
            name,
            allow,
            data,
            two_person_approval,
        } => {
            let body = PutPolicy {
                name,
                allow,
                data: (!data.is_empty()).then_some(data),
                two_person_approval,
            };
            client
                .send_json(Method::POST, &["v1", "policies"], &body)
                .await?
        }
        PolicyCommand::Show { name } => client.get(&["v1", "policies", &name]).await?,
    };
    if !out.json(&v)? {
        let policies: Vec<PolicyView> = if v.is_array() {
            typed(&v)?
        } else {
            vec![typed(&v)?]
        };
        let rows: Vec<Vec<String>> = policies
            .iter()
            .map(|p| {
                vec![
                    s(&p.name),
                    list(&p.allow),
                    list(&p.data),
                    if p.two_person_approval {
                        "two-person".to_owned()
                    } else {
                        "-".to_owned()
                    },
                ]
            })
            .collect();
        table(&["POLICY", "ALLOWED", "DATA", "APPROVAL"], &rows);
    }
    Ok(())
}
