//! Partners and sharing policies: registering the organizations this node trusts, and the
//! operator view of their connections.
//!
//! The registered set is mirrored into the net layer's connection gate: a peer that is not a
//! partner is refused before any casemesh protocol runs.

use crate::Engine;
use crate::error::{Bad, Clash, Missing, Result, SharingError};
use crate::records::{self, PARTNERS, POLICIES, Partner};
use casemesh_model::ids::{OrgId, ShareId};
use casemesh_model::policy::SharingPolicy;
use serde::{Deserialize, Serialize};

/// Name of the policy partners get unless told otherwise.
pub const DEFAULT_POLICY: &str = "partner-copy";

/// [`PeerView::state`] of a partner that is reached but closes every connection before any
/// protocol runs: its connection gate does not know this node (issue #15 item 5).
pub(crate) const NOT_REGISTERED_BY_PARTNER: &str =
    "not registered by the partner (its gate refuses this node)";

/// The operator view of one partner: registration, connection, traffic, queued messages.
#[derive(Debug, Clone, Serialize)]
pub struct PeerView {
    /// Display name.
    pub name: String,
    /// Org id (PeerId).
    pub peer_id: OrgId,
    /// Whether a connection is open (and the partner ran a protocol on it).
    pub connected: bool,
    /// The connection state in words: `connected`, `offline` (not reached), or
    /// [`NOT_REGISTERED_BY_PARTNER`] (reached, but its gate closes the connection: it has not
    /// registered this node).
    pub state: String,
    /// Registered addresses.
    pub addrs: Vec<String>,
    /// Last activity, RFC 3339.
    pub last_seen: Option<String>,
    /// Last ping round-trip, milliseconds.
    pub rtt_ms: Option<f64>,
    /// The partner's agent and protocol versions (identify).
    pub agent_version: Option<String>,
    /// Protocol version string.
    pub protocol_version: Option<String>,
    /// casemesh protocols the partner speaks.
    pub protocols: Vec<String>,
    /// Control messages sent.
    pub messages_sent: u64,
    /// Control messages received.
    pub messages_received: u64,
    /// Bytes sent.
    pub bytes_sent: u64,
    /// Bytes received.
    pub bytes_received: u64,
    /// Blob transfers in flight.
    pub transfers_in_flight: u64,
    /// Messages waiting in the outbox for this partner.
    pub outbox_queued: u64,
    /// Messages that can never be delivered to this partner (refused for good, too large),
    /// oldest first; they no longer block the outbox.
    pub dead_letters: Vec<DeadLetterView>,
}

/// A dead letter as operators see it.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct DeadLetterView {
    /// Message kind (e.g. `grant.offer/1`).
    pub kind: String,
    /// The share it belonged to, if any (serialized as the id's text, or `null`).
    pub share: Option<ShareId>,
    /// Why it cannot be delivered.
    pub reason: String,
    /// When it was given up on, RFC 3339 UTC.
    pub at: String,
}

fn parse_addrs(addrs: &[String]) -> Result<Vec<casemesh_net::Multiaddr>> {
    addrs
        .iter()
        .map(|a| {
            a.parse()
                .map_err(|_| SharingError::from(Bad::Multiaddr(a.clone())))
        })
        .collect()
}

fn parse_peer(peer: &str) -> Result<casemesh_net::PeerId> {
    Ok(peer.parse().map_err(|_| Bad::PeerId(peer.to_owned()))?)
}

/// The org id of a libp2p peer: its PeerId's base58 text (the conversion lives here, as the
/// model crate does not depend on libp2p).
pub fn org_of(peer: &casemesh_net::PeerId) -> OrgId {
    OrgId(peer.to_base58())
}

/// An org id typed by a user or sent through the API, checked to be a PeerId's text.
///
/// Errors: [`SharingError::Invalid`] ([`Bad::PeerId`]) naming the input when it is not a
/// PeerId.
pub fn parse_org(text: &str) -> Result<OrgId> {
    parse_peer(text).map(|p| org_of(&p))
}

/// The libp2p PeerId of an org id. Errors ([`SharingError::Invalid`]) for text that is not a
/// PeerId, which only a record written by other means than this crate can hold.
pub(crate) fn peer_of(org: &OrgId) -> Result<casemesh_net::PeerId> {
    parse_peer(org.as_str())
}

fn net_partner(p: &Partner) -> Result<casemesh_net::Partner> {
    Ok(casemesh_net::Partner {
        peer_id: peer_of(&p.peer_id)?,
        addrs: parse_addrs(&p.addrs)?,
        name: p.name.clone(),
    })
}

impl Engine {
    /// Every partner.
    pub fn partners(&self) -> Result<Vec<Partner>> {
        Ok(self.inner.store.all(&PARTNERS)?)
    }

    pub(crate) fn partner_by_id(&self, peer: &OrgId) -> Result<Option<Partner>> {
        Ok(self.inner.store.get(&PARTNERS, peer)?)
    }

    /// A partner by display name or PeerId.
    pub fn partner(&self, name_or_id: &str) -> Result<Partner> {
        if let Some(p) = self
            .inner
            .store
            .get(&PARTNERS, &OrgId(name_or_id.to_owned()))?
        {
            return Ok(p);
        }
        self.partners()?
            .into_iter()
            .find(|p| p.name == name_or_id)
            .ok_or_else(|| SharingError::NotFound(Missing::PartnerText(name_or_id.to_owned())))
    }

    /// Register a partner and connect to it.
    ///
    /// Errors: [`SharingError::Invalid`] for a bad name or address, an org id that is not a
    /// PeerId (see [`parse_org`]) or this node's own; `Conflict` when the name or the org id is
    /// registered already; `NotFound` for an unknown policy.
    pub async fn add_partner(
        &self,
        name: &str,
        peer_id: &OrgId,
        addrs: Vec<String>,
        policy: Option<&str>,
    ) -> Result<Partner> {
        casemesh_model::names::validate_name(name).map_err(Bad::PartnerName)?;
        let peer_id = org_of(&peer_of(peer_id)?);
        if peer_id == self.inner.me {
            return Err(Bad::OwnPartner(peer_id).into());
        }
        parse_addrs(&addrs)?;
        let policy = policy.unwrap_or(DEFAULT_POLICY);
        self.policy(policy)?;
        if self
            .partners()?
            .iter()
            .any(|p| p.name == name || p.peer_id == peer_id)
        {
            return Err(Clash::PartnerRegistered {
                name: name.to_owned(),
                org: peer_id,
            }
            .into());
        }
        let partner = Partner {
            peer_id,
            name: name.to_owned(),
            addrs,
            policy: policy.to_owned(),
            added_at: self.now(),
        };
        self.inner
            .store
            .put(&PARTNERS, &partner.peer_id, &partner)?;
        self.inner.net.add_partner(net_partner(&partner)?).await?;
        tracing::info!(partner = %partner.peer_id, name, "partner registered");
        Ok(partner)
    }

    /// Change a partner's addresses, name or policy.
    pub async fn update_partner(
        &self,
        name_or_id: &str,
        new_name: Option<&str>,
        addrs: Option<Vec<String>>,
        policy: Option<&str>,
    ) -> Result<Partner> {
        let mut p = self.partner(name_or_id)?;
        if let Some(n) = new_name {
            casemesh_model::names::validate_name(n).map_err(Bad::PartnerName)?;
            if self
                .partners()?
                .iter()
                .any(|o| o.name == n && o.peer_id != p.peer_id)
            {
                return Err(Clash::PartnerNameTaken { name: n.to_owned() }.into());
            }
            p.name = n.to_owned();
        }
        if let Some(a) = addrs {
            parse_addrs(&a)?;
            p.addrs = a;
        }
        if let Some(pol) = policy {
            self.policy(pol)?;
            p.policy = pol.to_owned();
        }
        self.inner.store.put(&PARTNERS, &p.peer_id, &p)?;
        self.inner.net.add_partner(net_partner(&p)?).await?;
        Ok(p)
    }

    /// Unregister a partner: its connections close and it is refused from now on.
    pub async fn remove_partner(&self, name_or_id: &str) -> Result<Partner> {
        let p = self.partner(name_or_id)?;
        self.inner.store.delete(&PARTNERS, &p.peer_id)?;
        self.inner.net.remove_partner(peer_of(&p.peer_id)?).await?;
        tracing::info!(partner = %p.peer_id, "partner removed");
        Ok(p)
    }

    pub(crate) async fn sync_partners_to_net(&self) -> Result<()> {
        let partners = self
            .partners()?
            .iter()
            .map(net_partner)
            .collect::<Result<Vec<_>>>()?;
        self.inner.net.set_partners(partners).await?;
        Ok(())
    }

    /// The sharing policies: the built-in ones and those an administrator created.
    pub fn policies(&self) -> Result<Vec<SharingPolicy>> {
        let mut all = vec![
            SharingPolicy {
                name: DEFAULT_POLICY.into(),
                ..SharingPolicy::partner_copy_default()
            },
            SharingPolicy::view_only(),
        ];
        for p in self.inner.store.all(&POLICIES)? {
            all.retain(|b| b.name != p.name);
            all.push(p);
        }
        Ok(all)
    }

    /// A policy by name.
    pub fn policy(&self, name: &str) -> Result<SharingPolicy> {
        self.policies()?
            .into_iter()
            .find(|p| p.name == name)
            .ok_or_else(|| SharingError::NotFound(Missing::Policy(name.to_owned())))
    }

    /// Create or replace a named policy.
    pub fn put_policy(&self, policy: &SharingPolicy) -> Result<()> {
        casemesh_model::names::validate_name(&policy.name).map_err(Bad::PolicyName)?;
        self.inner.store.put(&POLICIES, &policy.name, policy)?;
        Ok(())
    }

    /// The operator view of every partner.
    pub async fn peers(&self) -> Result<Vec<PeerView>> {
        let infos = self.inner.net.peers().await?;
        let mut out = Vec::new();
        for p in self.partners()? {
            let info = infos.iter().find(|i| org_of(&i.peer_id) == p.peer_id);
            let queued = self
                .inner
                .store
                .queue_items::<serde_json::Value>(&records::outbox_queue(&p.peer_id))?
                .len() as u64;
            out.push(PeerView {
                name: p.name.clone(),
                peer_id: p.peer_id.clone(),
                connected: info.is_some_and(|i| i.connected),
                state: match info {
                    Some(i) if i.connected => "connected".into(),
                    Some(i) if i.refused_by_partner => NOT_REGISTERED_BY_PARTNER.into(),
                    _ => "offline".into(),
                },
                addrs: p.addrs.clone(),
                last_seen: info
                    .and_then(|i| i.last_seen_ms)
                    .map(|ms| casemesh_model::time::Timestamp(ms).to_string()),
                rtt_ms: info.and_then(|i| i.rtt).map(|d| d.as_secs_f64() * 1000.0),
                agent_version: info.and_then(|i| i.agent_version.clone()),
                protocol_version: info.and_then(|i| i.protocol_version.clone()),
                protocols: info.map(|i| i.protocols.clone()).unwrap_or_default(),
                messages_sent: info.map_or(0, |i| i.messages_sent),
                messages_received: info.map_or(0, |i| i.messages_received),
                bytes_sent: info.map_or(0, |i| i.bytes_sent),
                bytes_received: info.map_or(0, |i| i.bytes_received),
                transfers_in_flight: info.map_or(0, |i| i.transfers_in_flight),
                outbox_queued: queued,
                dead_letters: self
                    .dead_letters(&p.peer_id)?
                    .into_iter()
                    .map(|d| DeadLetterView {
                        kind: d.kind,
                        share: d.share,
                        reason: d.reason,
                        at: d.at.to_string(),
                    })
                    .collect(),
            });
        }
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn an_org_id_is_parsed_from_peer_id_text_and_back() {
        let peer = casemesh_net::PeerId::random();
        let org = parse_org(&peer.to_string()).unwrap();
        assert_eq!(org, org_of(&peer));
        assert_eq!(org.as_str(), peer.to_base58());
        assert_eq!(peer_of(&org).unwrap(), peer);
    }

    #[test]
    fn text_that_is_not_a_peer_id_is_refused_by_name() {
        let spaced = format!(" {}", casemesh_net::PeerId::random());
        for bad in ["", "County Prosecutor", "12D3KooW", "0OIl", &spaced] {
            match parse_org(bad) {
                Err(SharingError::Invalid(Bad::PeerId(text))) => assert_eq!(text, bad),
                other => panic!("{bad:?}: {other:?}"),
            }
        }
        assert!(peer_of(&OrgId("peer".into())).is_err());
    }
}
