//! Conversions from the server's records into the views (feature `server`): the partner, the
//! outgoing share (with its decoded receipt and stop acknowledgement) and the retention
//! sweeper's removals. They live here, next to the types, because Rust allows a `From` impl only
//! in the crate of the type or of the trait; clients (CLI, tests) build without this feature.

use crate::node::Removed;
use crate::sharing::{
    HopView, PartnerView, PolicyView, ReceiptView, RecipientView, RefusedRecipientView, ShareView,
    SkippedView, StopAckView,
};
use casemesh_model::custody::{HoldingReceipt, Signed, StopAck};
use casemesh_model::grant::Scope;
use casemesh_sharing::records::{OutgoingShare, Partner};

impl From<Partner> for PartnerView {
    fn from(p: Partner) -> Self {
        PartnerView {
            name: p.name,
            peer_id: p.peer_id,
            addrs: p.addrs,
            policy: p.policy,
            added_at: p.added_at.to_string(),
        }
    }
}

fn receipt_view(s: &OutgoingShare) -> Option<ReceiptView> {
    let record = s.receipt.as_ref()?;
    let bytes = hex::decode(&record.signed).ok()?;
    let signed = Signed::<HoldingReceipt>::from_bytes(&bytes).ok()?;
    let st = &signed.statement;
    Some(ReceiptView {
        signed_by: st.holder.clone(),
        signed_by_name: s.partner_name.clone(),
        seq: st.seq,
        items: st.items,
        digest: hex::encode(st.roots),
        grant_hash: hex::encode(st.grant_hash),
        at: st.at.to_string(),
        received_at: record.received_at.to_string(),
        matches_sent: record.matches_sent,
        roots: None,
        evidence: None,
        signature: hex::encode(signed.signature),
        wire: record.signed.clone(),
    })
}

fn stop_ack_view(s: &OutgoingShare) -> Option<StopAckView> {
    let record = s.stop_ack.as_ref()?;
    let bytes = hex::decode(&record.signed).ok()?;
    let signed = Signed::<StopAck>::from_bytes(&bytes).ok()?;
    let st = &signed.statement;
    Some(StopAckView {
        signed_by: st.holder.clone(),
        signed_by_name: s.partner_name.clone(),
        revocation_hash: hex::encode(st.revocation_hash),
        at: st.at.to_string(),
        received_at: record.received_at.to_string(),
        signature: hex::encode(signed.signature),
        wire: record.signed.clone(),
    })
}

/// The scope as the views name it: `entire_case`, `folders (n)` or `evidence (n)`.
fn scope_text(s: &Scope) -> String {
    match s {
        Scope::EntireCase => "entire_case".into(),
        Scope::Folders(f) => format!("folders ({})", f.len()),
        Scope::Evidence(e) => format!("evidence ({})", e.len()),
    }
}

impl From<OutgoingShare> for ShareView {
    fn from(s: OutgoingShare) -> Self {
        ShareView {
            id: s.id,
            case: s.case,
            status: s.status.as_str().to_owned(),
            partner: s.partner.clone(),
            partner_name: s.partner_name.clone(),
            mode: s.mode.as_str().to_owned(),
            scope: scope_text(&s.scope),
            recipients: s
                .recipients
                .iter()
                .map(|r| RecipientView {
                    recipient: casemesh_sharing::recipient_label(&r.recipient),
                    added_at: r.added_at.to_string(),
                })
                .collect(),
            refused_recipients: s
                .refused_recipients
                .iter()
                .map(|r| RefusedRecipientView {
                    recipient: casemesh_sharing::recipient_label(&r.recipient),
                    reason: r.reason.clone(),
                    since: r.since.to_string(),
                })
                .collect(),
            policy: PolicyView::from(&s.policy),
            message: s.message.clone(),
            created_by: s.created_by.clone(),
            created_at: s.created_at.to_string(),
            items_sent: s.items_sent as usize,
            items_delivered: s.items_delivered as usize,
            in_sync: s.delivered_seq.is_some_and(|d| d >= s.seq),
            completed_at: s.completed_at.map(|t| t.to_string()),
            stopped_at: s.stopped_at.map(|t| t.to_string()),
            failure: s.failure.clone(),
            skipped: s.skipped_total.max(s.skipped.len() as u64) as usize,
            skipped_items: s
                .skipped
                .iter()
                .map(|(id, reason)| SkippedView {
                    evidence: *id,
                    name: String::new(),
                    reason: reason.clone(),
                })
                .collect(),
            receipt: receipt_view(&s),
            stop_ack: stop_ack_view(&s),
            onward_of: s.onward.map(|o| o.parent),
            hops: s
                .hops
                .iter()
                .map(|h| HopView {
                    share: h.share,
                    from: h.from.clone(),
                    from_name: h.from_name.clone(),
                    to: h.to.clone(),
                    to_name: h.to_name.clone(),
                    recipients: h
                        .recipients
                        .iter()
                        .map(casemesh_sharing::recipient_label)
                        .collect(),
                    scope: scope_text(&h.scope),
                    at: h.at.to_string(),
                    grant: h.grant.clone(),
                })
                .collect(),
        }
    }
}

impl From<casemesh_service::Removed> for Removed {
    fn from(r: casemesh_service::Removed) -> Removed {
        Removed {
            case: r.case,
            evidence: r.evidence,
            name: r.name,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// Download links.

/// The API's default link lifetime is the link service's.
const _: () = assert!(crate::links::DEFAULT_DAYS == casemesh_links::DEFAULT_DAYS);

impl From<casemesh_links::PackageFormat> for crate::links::PackageFormat {
    fn from(f: casemesh_links::PackageFormat) -> Self {
        match f {
            casemesh_links::PackageFormat::Zip => crate::links::PackageFormat::Zip,
            casemesh_links::PackageFormat::Iso => crate::links::PackageFormat::Iso,
        }
    }
}

impl From<crate::links::PackageFormat> for casemesh_links::PackageFormat {
    fn from(f: crate::links::PackageFormat) -> Self {
        match f {
            crate::links::PackageFormat::Zip => casemesh_links::PackageFormat::Zip,
            crate::links::PackageFormat::Iso => casemesh_links::PackageFormat::Iso,
        }
    }
}

impl From<casemesh_links::LinkStatus> for crate::links::LinkStatus {
    fn from(s: casemesh_links::LinkStatus) -> Self {
        use casemesh_links::LinkStatus as S;
        match s {
            S::Processing => crate::links::LinkStatus::Processing,
            S::Ready => crate::links::LinkStatus::Ready,
            S::Failed => crate::links::LinkStatus::Failed,
            S::Expired => crate::links::LinkStatus::Expired,
            S::Revoked => crate::links::LinkStatus::Revoked,
        }
    }
}

impl crate::links::LinkView {
    /// The view of `link` (of `case`, whose Case ID it shows; `""` when the case is gone) at
    /// `now`; `progress` is asked of the build only while the link is Processing. The URL is
    /// `None`: only the creation answer carries it.
    pub fn new(
        link: &casemesh_links::LinkRecord,
        case: Option<&casemesh_model::case::Case>,
        now: casemesh_model::time::Timestamp,
        progress: impl FnOnce(casemesh_model::ids::LinkId) -> Option<casemesh_links::Progress>,
    ) -> Self {
        use casemesh_links::BuildState;
        let status = link.status(now);
        let (package_size, files, manifest_blake3, error) = match &link.build {
            BuildState::Ready {
                size,
                files,
                manifest_blake3,
            } => (
                Some(*size),
                Some(*files),
                Some(manifest_blake3.clone()),
                None,
            ),
            BuildState::Failed { reason } => (None, None, None, Some(reason.clone())),
            BuildState::Processing => (None, None, None, None),
        };
        let o = &link.options;
        crate::links::LinkView {
            id: link.id,
            case: link.case,
            case_id: case.map(|c| c.case_number.clone()).unwrap_or_default(),
            status: status.into(),
            url: None,
            format: link.format.into(),
            options: crate::links::LinkOptions {
                audit_trail: o.audit_trail,
                transcripts: o.transcripts,
                toc: o.toc,
                keep_folders: o.keep_folders,
                folders: o.folders.clone(),
                evidence: o.evidence.clone(),
            },
            recipient: link.recipient.clone(),
            message: link.message.clone(),
            created_by: link.created_by.clone(),
            created_at: link.created_at.to_string(),
            expires_at: link.expires_at.to_string(),
            revoked_at: link.revoked_at.map(|t| t.to_string()),
            package_size,
            files,
            manifest_blake3,
            error,
            downloads: link.downloads,
            progress: (status == casemesh_links::LinkStatus::Processing)
                .then(|| progress(link.id))
                .flatten()
                .map(|p| crate::links::Progress {
                    done: p.done,
                    total: p.total,
                }),
        }
    }
}

// ---------------------------------------------------------------------------------------------
// A partner's directory.

impl From<casemesh_sharing::directory::DirectoryEntry> for crate::sharing::DirectoryEntryView {
    fn from(e: casemesh_sharing::directory::DirectoryEntry) -> Self {
        crate::sharing::DirectoryEntryView {
            kind: e.kind,
            name: e.name,
            full_name: e.full_name,
            email: e.email,
            badge_id: e.badge_id,
        }
    }
}

// ---------------------------------------------------------------------------------------------
// The operators' peers view.

impl From<casemesh_sharing::PeerView> for crate::sharing::PeerView {
    fn from(p: casemesh_sharing::PeerView) -> Self {
        crate::sharing::PeerView {
            name: p.name,
            peer_id: p.peer_id,
            connected: p.connected,
            state: p.state,
            addrs: p.addrs,
            last_seen: p.last_seen,
            rtt_ms: p.rtt_ms,
            agent_version: p.agent_version,
            protocol_version: p.protocol_version,
            protocols: p.protocols,
            messages_sent: p.messages_sent,
            messages_received: p.messages_received,
            bytes_sent: p.bytes_sent,
            bytes_received: p.bytes_received,
            transfers_in_flight: p.transfers_in_flight,
            outbox_queued: p.outbox_queued,
            dead_letters: p
                .dead_letters
                .into_iter()
                .map(|d| crate::sharing::DeadLetterView {
                    kind: d.kind,
                    share: d.share,
                    reason: d.reason,
                    at: d.at,
                })
                .collect(),
        }
    }
}
