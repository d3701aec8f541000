//! The sharer's side: share a case (partner share, copy mode), send new evidence to partners as
//! it is added (case synchronization), add recipients (reshare), stop sharing, and track each
//! share from Processing to Complete through the partner's receipts.

use crate::Engine;
use crate::custody;
use crate::error::{Bad, Clash, Missing, NotAllowed, Onward, Result, SharingError};
use crate::lifecycle::{self, Effect, Event};
use crate::manifest::{self, ListBuilder};
use crate::records::OnwardOf;
use crate::records::{
    OutboxMessage, OutgoingShare, Partner, ReceiptRecord, RecipientEntry, SHARE_DOCS, SHARE_ITEMS,
    SHARES, SHARES_BY_CASE, SentItem, ShareStatus, StopAckRecord,
};
use crate::wire::{
    self, Carried, ItemList, ManifestHead, ManifestUpdate, Offer, Receipt, RevocationNotice,
};
use casemesh_model::audit::actions;
use casemesh_model::case::Case;
use casemesh_model::custody::{HoldingReceipt, Signed};
use casemesh_model::grant::{
    self as grant, Grant, Recipient, Revocation, Scope, ShareMode, SignedGrant, SignedRevocation,
};
use casemesh_model::ids::{BlobHash, CaseId, EvidenceId, OrgId, ShareId};
use casemesh_model::names::{check_text, limits};
use casemesh_model::policy::{PolicyAction, SharedData, SharingPolicy};
use casemesh_store::{Actor, BlobPins, Txn};
use std::collections::{BTreeMap, BTreeSet};

/// Item rows written per transaction (a share's rows are written page by page, then take effect
/// with the share's record; see [`is_sent`]).
const ROWS_PER_TXN: usize = 256;

/// Whether an item row means "sent under `share`": its list's sequence number is one the share's
/// record has reached. Rows of a list not yet queued (written just before, or left by a crash)
/// do not count.
pub(crate) fn is_sent(row: Option<&SentItem>, share: &OutgoingShare) -> bool {
    row.is_some_and(|r| r.seq <= share.seq)
}

/// Items about to go out under a share: their list (inline or a blob, pinned), their ids, and
/// the blobs the partner will fetch.
pub(crate) struct NewItems {
    list: ItemList,
    /// Keep a blob list from garbage collection until the share's transaction holds it.
    _pins: Option<BlobPins>,
    ids: Vec<EvidenceId>,
    /// The BLAKE3 root of each item of `ids`, in the same order.
    roots: Vec<BlobHash>,
    /// How many transcripts go with each item of `ids`, same order.
    transcripts: Vec<u32>,
    /// Items of `ids` sent before and sent again because they gained transcripts: their rows
    /// keep their sequence number (they stay served meanwhile) and only their transcript count
    /// changes, in the transaction that queues the list.
    resent: BTreeSet<EvidenceId>,
    blobs: Vec<(BlobHash, u64)>,
}

/// Bytes for a message, inline or as a pinned blob.
pub(crate) struct CarriedBytes {
    pub(crate) carried: Carried,
    /// Keep a blob from garbage collection until the share's transaction holds it.
    _pins: Option<BlobPins>,
}

impl CarriedBytes {
    /// Hold the blob (if any) for `share` in `txn`, and remember it on the record.
    pub(crate) fn hold(
        &self,
        txn: &mut Txn<'_, '_>,
        share: &mut OutgoingShare,
    ) -> std::result::Result<(), casemesh_store::StoreError> {
        if let Carried::Blob(b) = &self.carried {
            txn.hold_blob(&b.hash, &format!("share/{}/doc/{}", share.id, b.hash))?;
            if !share.docs.contains(&b.hash) {
                share.docs.push(b.hash);
            }
        }
        Ok(())
    }
}

/// A request to share a case with a partner.
#[derive(Debug, Clone)]
pub struct ShareRequest {
    /// The case.
    pub case: CaseId,
    /// Partner name or id.
    pub partner: String,
    /// Recipients in the partner organization.
    pub recipients: Vec<Recipient>,
    /// Folder paths to share (empty with no evidence = entire case).
    pub folders: Vec<String>,
    /// Evidence ids or display ids to share.
    pub evidence: Vec<String>,
    /// Optional message.
    pub message: Option<String>,
}

/// What a new outgoing share is made of ([`Engine::open_share`]).
struct Opening<'a> {
    case: &'a Case,
    /// The partner, as registered.
    partner: &'a Partner,
    recipients: &'a [Recipient],
    scope: Scope,
    message: Option<String>,
    onward: Option<OnwardOf>,
    /// Copy or access; an onward share takes its parent's (the chain keeps one mode).
    mode: ShareMode,
}

/// Share a received case onward ([`Engine::share_onward`]).
#[derive(Debug, Clone)]
pub struct OnwardRequest {
    /// The received share.
    pub received: ShareId,
    /// Partner name or id to share with.
    pub partner: String,
    /// Recipients in that organization.
    pub recipients: Vec<Recipient>,
    /// Optional message.
    pub message: Option<String>,
}

/// Parse a recipient as typed: `user:NAME`, `group:NAME`, `email:ADDR`, `badge:ID`, or bare
/// (an address with `@` is an email, anything else a username or badge id).
pub fn parse_recipient(text: &str) -> Result<Recipient> {
    let text = text.trim();
    if text.is_empty() || text.len() > 320 || text.chars().any(char::is_control) {
        return Err(Bad::Recipient(text.to_owned()).into());
    }
    if text.split_once(':').is_some_and(|(kind, v)| {
        matches!(kind, "user" | "group" | "email" | "badge") && v.trim().is_empty()
    }) {
        return Err(Bad::RecipientNoName(text.to_owned()).into());
    }
    Ok(match text.split_once(':') {
        Some(("user", v)) => Recipient::User(v.to_owned()),
        Some(("group", v)) => Recipient::Group(v.to_owned()),
        Some(("email", v)) => Recipient::Email(v.to_owned()),
        Some(("badge", v)) => Recipient::Badge(v.to_owned()),
        _ if text.contains('@') => Recipient::Email(text.to_owned()),
        _ => Recipient::User(text.to_owned()),
    })
}

impl Engine {
    fn scope_of(&self, case: &Case, folders: &[String], evidence: &[String]) -> Result<Scope> {
        if !folders.is_empty() && !evidence.is_empty() {
            return Err(Bad::FoldersAndEvidence.into());
        }
        if !folders.is_empty() {
            let ids = folders
                .iter()
                .map(|p| match case.resolve(p) {
                    Ok(Some(id)) => Ok(id),
                    Ok(None) => Err(SharingError::from(Bad::RootFolder { path: p.clone() })),
                    Err(e) => Err(SharingError::from(Bad::Folder(e))),
                })
                .collect::<Result<Vec<_>>>()?;
            return Ok(Scope::Folders(ids));
        }
        if !evidence.is_empty() {
            let ids = evidence
                .iter()
                .map(|r| {
                    self.inner
                        .store
                        .resolve_evidence(case.id, r)
                        .map(|e| e.id)
                        .map_err(|e| evidence_ref_error(r, e))
                })
                .collect::<Result<Vec<_>>>()?;
            return Ok(Scope::Evidence(ids.into()));
        }
        Ok(Scope::EntireCase)
    }

    /// Sign version `version` of `share`'s grant. An onward share's grant is a child of the
    /// received grant it continues: same source case, scope and expiry as its parent, the
    /// parent carried along (so every node can check the chain offline).
    fn sign_grant(&self, share: &OutgoingShare, version: u32) -> Result<SignedGrant> {
        let grant = Grant {
            id: share.id,
            version,
            issuer: self.inner.me.clone(),
            issuer_key: self.inner.key.verifying_key().to_bytes(),
            audience: share.partner.clone(),
            recipients: share
                .recipients
                .iter()
                .map(|r| r.recipient.clone())
                .collect(),
            source_case: share.case,
            scope: share.scope.clone(),
            mode: share.mode,
            policy: share.policy.clone(),
            issued_at: self.now(),
            expires_at: None,
            message: share.message.clone(),
            parent: None,
        };
        match &share.onward {
            Some(onward) => self.sign_child(grant, self.parent_grant(onward.parent)?),
            None => Ok(SignedGrant::sign(grant, &self.inner.key)),
        }
    }

    /// Sign `grant` as a child of `parent`: the parent's source case, scope and expiry, issued
    /// no earlier than it, the parent carried along; refused (`Forbidden`) when it would widen
    /// the parent ([`grant::check_attenuation`]). Partner and inside onward shares both sign
    /// here.
    fn sign_child(&self, mut grant: Grant, parent: SignedGrant) -> Result<SignedGrant> {
        grant.source_case = parent.grant.source_case;
        grant.scope = parent.grant.scope.clone();
        grant.expires_at = parent.grant.expires_at;
        grant.issued_at = grant.issued_at.max(parent.grant.issued_at);
        grant::check_attenuation(&grant, &parent, None).map_err(|error| {
            NotAllowed::OnwardRefused {
                share: grant.id,
                error,
            }
        })?;
        grant.parent = Some(Box::new(parent));
        Ok(SignedGrant::sign(grant, &self.inner.key))
    }

    /// The grant of received share `parent`, as this node holds it.
    fn parent_grant(&self, parent: ShareId) -> Result<SignedGrant> {
        let received = self
            .inner
            .store
            .get(&crate::records::RECEIVED, &parent)?
            .ok_or(SharingError::NotFound(Missing::ReceivedShare(parent)))?;
        let bytes = hex::decode(&received.grant)
            .map_err(|_| SharingError::Internal("stored grant is not hex".into()))?;
        SignedGrant::from_bytes(&bytes)
            .map_err(|e| SharingError::Internal(format!("stored grant: {e}")))
    }

    /// Share a received case onward to another partner organization (issue #13; seed "Onward
    /// sharing of a received case"): a share of the local copy whose grant is a child of the
    /// received grant — same source case, scope, expiry and policy, issued by this node — so the
    /// partner and every node after it can check the whole chain offline. It carries the items
    /// that arrived under the received share and are in the copy (never this organization's own
    /// additions). The sharer of the received share is told of the hop (`share.onward/1`).
    ///
    /// # Errors
    /// - [`SharingError::NotFound`]: no such received share, or it was never imported.
    /// - [`SharingError::Forbidden`]: the received share was stopped, its grant no longer
    ///   verifies, its policy does not allow `share_onward_external`, the chain would be longer
    ///   than [`grant::MAX_CHAIN_DEPTH`], or the partner is the organization it came from.
    /// - [`SharingError::Invalid`]: no recipient, or a bad message.
    pub fn share_onward(&self, actor: &Actor, req: &OnwardRequest) -> Result<OutgoingShare> {
        let received = self.received_share(req.received)?;
        let parent = self.onward_grant(&received, Onward::ToPartner)?;
        let copy = received
            .local_case
            .ok_or(SharingError::NotFound(Missing::NotImported(received.id)))?;
        if parent.depth() >= grant::MAX_CHAIN_DEPTH {
            return Err(NotAllowed::ChainTooLong {
                depth: parent.depth(),
                max: grant::MAX_CHAIN_DEPTH,
            }
            .into());
        }
        let partner = self.partner(&req.partner)?;
        if parent.chain().any(|g| g.grant.issuer == partner.peer_id) {
            return Err(NotAllowed::PartnerInChain {
                partner: partner.name,
                org: partner.peer_id,
            }
            .into());
        }
        // The same received case to the same partner again adds recipients to the onward share
        // it has: the partner keeps one copy (#15 item 3, through onward sharing).
        if let Some(existing) = self.shares(Some(copy))?.into_iter().find(|s| {
            s.partner == partner.peer_id
                && s.onward.is_some_and(|o| o.parent == received.id)
                && matches!(s.status, ShareStatus::Processing | ShareStatus::Complete)
        }) {
            return self.add_recipients(actor, existing.id, req.recipients.clone(), None);
        }
        let case = self
            .inner
            .store
            .case(copy)?
            .ok_or(SharingError::NotFound(Missing::Case(copy)))?;
        let onward = OnwardOf {
            parent: received.id,
            source_case: parent.grant.source_case,
        };
        let share = self.open_share(
            actor,
            Opening {
                case: &case,
                partner: &partner,
                recipients: &req.recipients,
                scope: Scope::EntireCase,
                message: req.message.clone(),
                onward: Some(onward),
                mode: parent.grant.mode,
            },
        )?;
        // Tell the organization the case came from (it tells its own sharer in turn).
        let notice = wire::OnwardNotice {
            share: received.id,
            grant: share.grant.clone(),
            to_name: partner.name.clone(),
        };
        let msg = self.outbox_message(&wire::Message::Onward(notice), None)?;
        self.inner
            .store
            .atomically(|txn| Self::queue_in(txn, &received.sharer, &msg))?;
        self.wake_outbox();
        Ok(share)
    }

    /// Whether `case` may be shared inside this organization: a case of its own always; a
    /// received copy only as its sharing policy allows (`share_onward`; seed "Onward sharing
    /// of a received case": Import Details → Recipient → add a user or group). Returns the
    /// received share for a copy, to report the hop with [`Engine::report_inside_onward`].
    ///
    /// # Errors
    /// [`SharingError::Forbidden`] when the sharer stopped the share, its grant no longer
    /// verifies, or its policy does not allow `share_onward`.
    pub fn onward_inside(&self, case: CaseId) -> Result<Option<crate::records::IncomingShare>> {
        let Some(received) = self.received_of_copy(case)? else {
            return Ok(None);
        };
        self.onward_grant(&received, Onward::Inside)?;
        Ok(Some(received))
    }

    /// The grant of `received`, when it may still be passed on in the way `onward`: the sharer
    /// has not stopped the share, the grant still verifies, and its policy allows every one of
    /// the actions that way needs ([`Onward::actions`]). Every onward path (partner, inside,
    /// download link) checks through here.
    ///
    /// # Errors
    /// [`SharingError::Forbidden`] naming the stop, the grant's fault or the actions missing.
    fn onward_grant(
        &self,
        received: &crate::records::IncomingShare,
        onward: Onward,
    ) -> Result<SignedGrant> {
        if received.status == crate::records::ReceivedStatus::Stopped {
            return Err(NotAllowed::OnwardStopped {
                share: received.id,
                sharer: received.sharer_name.clone(),
            }
            .into());
        }
        let parent = self.parent_grant(received.id)?;
        grant::verify(&parent, self.now(), Some(&self.inner.me)).map_err(|error| {
            NotAllowed::ReceivedGrant {
                share: received.id,
                error,
            }
        })?;
        let policy = &parent.grant.policy;
        if onward.actions().iter().any(|a| !policy.allows(*a)) {
            return Err(NotAllowed::OnwardPolicy {
                share: received.id,
                policy: policy.name.clone(),
                sharer: received.sharer_name.clone(),
                onward,
            }
            .into());
        }
        Ok(parent)
    }

    /// Whether `case` may leave this organization by other means than a partner share (a
    /// download link): a case of its own always; a received copy only while the share stands
    /// and its policy allows `share_onward` and `share_onward_external`.
    ///
    /// # Errors
    /// [`SharingError::Forbidden`] naming the policy or the stop.
    pub fn onward_external_allowed(&self, case: CaseId) -> Result<()> {
        if let Some(received) = self.received_of_copy(case)? {
            self.onward_grant(&received, Onward::Outside)?;
        }
        Ok(())
    }

    /// Tell the organization a copy came from that it was shared inside this organization
    /// with `recipients` (inside share `inside_share`): a child grant with that id, issued by
    /// this node to itself, signed (the proof of the hop), goes to the sharer in a
    /// `share.onward/1`.
    pub fn report_inside_onward(
        &self,
        received: &crate::records::IncomingShare,
        inside_share: ShareId,
        recipients: &[Recipient],
        message: Option<String>,
    ) -> Result<()> {
        let parent = self.parent_grant(received.id)?;
        let me = self.inner.me.clone();
        let child = Grant {
            // The hop carries the inside share's own id, so the origin's record and this
            // organization's `share stop ID` name the same thing.
            id: inside_share,
            version: 1,
            issuer: me.clone(),
            issuer_key: self.inner.key.verifying_key().to_bytes(),
            audience: me,
            recipients: recipients.to_vec(),
            source_case: parent.grant.source_case,
            scope: parent.grant.scope.clone(),
            mode: parent.grant.mode,
            policy: parent.grant.policy.clone(),
            issued_at: self.now(),
            expires_at: None,
            message,
            parent: None,
        };
        let child = self.sign_child(child, parent)?;
        let notice = wire::OnwardNotice {
            share: received.id,
            grant: hex::encode(child.to_bytes()),
            to_name: self.inner.org_name.clone(),
        };
        let msg = self.outbox_message(&wire::Message::Onward(notice), None)?;
        self.inner
            .store
            .atomically(|txn| Self::queue_in(txn, &received.sharer, &msg))?;
        self.wake_outbox();
        Ok(())
    }

    /// Approve a partner share that waits for a second person (two-person approval, issue
    /// #13): its held offer goes to the partner's outbox, the approval is audited (the custody
    /// timeline shows the approver), and items added meanwhile follow. The caller has checked
    /// the `share_approve` permission.
    ///
    /// # Errors
    /// - [`SharingError::Forbidden`]: `actor` is the user who created the share (approval needs
    ///   a second person).
    /// - [`SharingError::Conflict`]: the share does not wait for approval (already approved,
    ///   stopped, or created under a policy without two-person approval).
    pub fn approve_share(&self, actor: &Actor, id: ShareId) -> Result<OutgoingShare> {
        let share = self.share(id)?;
        if share.status != ShareStatus::PendingApproval {
            return Err(Clash::NotAwaitingApproval {
                share: share.id,
                status: share.status,
            }
            .into());
        }
        if share.created_by == actor.name {
            return Err(NotAllowed::OwnApproval {
                share: share.id,
                user: actor.name.clone(),
            }
            .into());
        }
        let now = self.now();
        let sid = share.id;
        self.inner.store.atomically(|txn| {
            let mut s: OutgoingShare = txn
                .get(&SHARES, &sid)?
                .ok_or(SharingError::NotFound(Missing::Share(sid)))?;
            let effects =
                lifecycle::step(&mut s, Event::Approved, now).map_err(|refused| Clash::Step {
                    share: sid,
                    refused,
                })?;
            txn.put(&SHARES, &sid, &s)?;
            Self::carry_out(txn, &s, &effects, actor, "")?;
            Ok::<_, SharingError>(())
        })?;
        self.wake_outbox();
        // Items and metadata changed while it waited follow the offer.
        self.case_changed(share.case);
        tracing::info!(share = %sid, approver = %actor.name, "share approved");
        self.share(sid)
    }

    /// A partner reports an onward hop below a share of this node (`share.onward/1`): the
    /// child grant must verify as a whole chain, its root must be this node's grant of a share
    /// to that partner, and the chain must pass through the partner. The hop is kept on the
    /// share (the custody timeline shows it, with the child grant's signature) and audited.
    /// When this node itself received the share it reports (its grant has a parent), it tells
    /// its own sharer in turn, so the origin learns of every hop.
    pub(crate) fn on_onward(&self, peer: &OrgId, notice: wire::OnwardNotice) -> Result<()> {
        let bytes = hex::decode(&notice.grant).map_err(Bad::OnwardGrantNotHex)?;
        let child = SignedGrant::from_bytes(&bytes).map_err(Bad::OnwardGrant)?;
        grant::verify(&child, self.now(), None).map_err(|error| Bad::OnwardGrantRefused {
            share: child.grant.id,
            error,
        })?;
        if !child.chain().any(|g| g.grant.issuer == *peer) {
            return Err(NotAllowed::HopOutsideChain {
                share: child.grant.id,
                reporter: peer.clone(),
            }
            .into());
        }
        // The link of the chain this node issued: the grant of a share here.
        let mine = child
            .chain()
            .find(|g| g.grant.issuer == self.inner.me)
            .ok_or(NotAllowed::HopNotIssuedHere {
                share: child.grant.id,
            })?;
        let Some(share) = self.inner.store.get(&SHARES, &mine.grant.id)? else {
            return Err(SharingError::NotFound(Missing::Share(mine.grant.id)));
        };
        if share.id != notice.share && share.onward.is_none_or(|o| o.parent != notice.share) {
            // The notice names the share it descends from in the reporter's terms; either way
            // the chain decides which share of this node it is under.
            tracing::debug!(share = %share.id, named = %notice.share, "onward hop names another share");
        }
        let now = self.now();
        let hop = crate::records::OnwardHop {
            share: child.grant.id,
            from: child.grant.issuer.clone(),
            from_name: self
                .partner_by_id(&child.grant.issuer)?
                .map_or_else(|| child.grant.issuer.to_string(), |p| p.name),
            to: child.grant.audience.clone(),
            to_name: notice.to_name.clone(),
            recipients: child.grant.recipients.clone(),
            scope: child.grant.scope.clone(),
            at: child.grant.issued_at,
            grant: notice.grant.clone(),
        };
        if share.hops.iter().any(|h| h.share == hop.share) {
            return Ok(());
        }
        let details = format!(
            "share {}: onward share {} by {} to {} ({}), recipients {}",
            share.id,
            hop.share,
            hop.from_name,
            hop.to_name,
            hop.to,
            hop.recipients
                .iter()
                .map(recipient_label)
                .collect::<Vec<_>>()
                .join(",")
        );
        let forward = share.onward.map(|o| {
            (
                o.parent,
                wire::OnwardNotice {
                    share: o.parent,
                    grant: notice.grant.clone(),
                    to_name: notice.to_name.clone(),
                },
            )
        });
        let forward = match forward {
            Some((parent, n)) => {
                let sharer = self
                    .inner
                    .store
                    .get(&crate::records::RECEIVED, &parent)?
                    .map(|r| r.sharer);
                match sharer {
                    Some(sharer) => Some((
                        sharer,
                        self.outbox_message(&wire::Message::Onward(n), None)?,
                    )),
                    None => None,
                }
            }
            None => None,
        };
        self.inner.store.atomically(|txn| {
            let Some(mut share) = txn.get(&SHARES, &share.id)? else {
                return Ok(());
            };
            if share.hops.iter().any(|h| h.share == hop.share) {
                return Ok(());
            }
            if share.hops.len() < crate::records::MAX_HOPS_KEPT {
                share.hops.push(hop.clone());
            }
            txn.put(&SHARES, &share.id, &share)?;
            let partner = Actor::new(format!("org:{}", share.partner_name), now);
            txn.audit(share.case, &partner, actions::SHARE_ONWARD, None, &details)?;
            if let Some((sharer, msg)) = &forward {
                Self::queue_in(txn, sharer, msg)?;
            }
            Ok::<_, SharingError>(())
        })?;
        if forward.is_some() {
            self.wake_outbox();
        }
        tracing::info!(share = %share.id, onward = %hop.share, to = %hop.to, "onward hop recorded");
        Ok(())
    }

    /// Share a case by copy with a partner organization. The caller has checked the user's
    /// permissions and the organization's features.
    pub fn create_share(&self, actor: &Actor, req: &ShareRequest) -> Result<OutgoingShare> {
        self.create_share_in(actor, req, ShareMode::Copy)
    }

    /// Share a case with a partner organization by copy or in access mode (advanced sharing:
    /// the partner's users list and fetch the case through their node, no copy is made; see
    /// `access.rs`). The caller has checked the user's permissions and the organization's
    /// features (access mode needs Advanced Sharing).
    pub fn create_share_in(
        &self,
        actor: &Actor,
        req: &ShareRequest,
        mode: ShareMode,
    ) -> Result<OutgoingShare> {
        let case = self
            .inner
            .store
            .case(req.case)?
            .ok_or(SharingError::NotFound(Missing::Case(req.case)))?;
        if case.is_external() {
            return Err(NotAllowed::ReceivedCase(case.id).into());
        }
        let scope = self.scope_of(&case, &req.folders, &req.evidence)?;
        if let Scope::Evidence(ids) = &scope {
            let mut any_may_leave = false;
            for id in ids {
                if self
                    .inner
                    .store
                    .evidence(*id)?
                    .is_some_and(|e| !e.do_not_disclose)
                {
                    any_may_leave = true;
                    break;
                }
            }
            if !any_may_leave {
                // Exactly these items, and none may leave: nothing would ever arrive.
                return Err(Bad::NothingMayLeave { case: case.id }.into());
            }
        }
        // The same case to the same partner again adds to the share it already has (#15 item 3).
        if let Some(existing) = self.active_share_to(&case, &req.partner, mode)? {
            self.refuse_change_under_approval(&existing)?;
            return self.add_to_share(actor, existing, &case, req, scope);
        }
        self.open_share(
            actor,
            Opening {
                case: &case,
                partner: &self.partner(&req.partner)?,
                recipients: &req.recipients,
                scope,
                message: req.message.clone(),
                onward: None,
                mode,
            },
        )
    }

    fn open_share(&self, actor: &Actor, opening: Opening<'_>) -> Result<OutgoingShare> {
        let Opening {
            case,
            partner,
            recipients,
            scope,
            message,
            onward,
            mode,
        } = opening;
        let store = &self.inner.store;
        if recipients.is_empty() {
            return Err(Bad::NoRecipient.into());
        }
        if let Some(m) = &message {
            check_text("message", m, limits::MESSAGE).map_err(Bad::Message)?;
        }
        // An onward share passes on its parent's policy: never wider (the chain check), and
        // the partner's own policy here cannot grant what the origin did not.
        let mut policy = match &onward {
            Some(o) => self.parent_grant(o.parent)?.grant.policy,
            None => self.policy(&partner.policy)?,
        };
        // Two-person approval is this organization's rule: it decides the first status and
        // never travels in the grant.
        let pending = std::mem::take(&mut policy.two_person_approval);
        let now = self.now();
        let id = ShareId::random();
        let items = self.new_items(case, &scope, &policy, None, onward.as_ref())?;
        if items.ids.is_empty() && matches!(scope, Scope::Evidence(_)) {
            // Exactly these items, and none may leave: nothing would ever arrive.
            return Err(Bad::NothingMayLeave { case: case.id }.into());
        }
        let mut share = OutgoingShare {
            id,
            case: case.id,
            partner: partner.peer_id.clone(),
            partner_name: partner.name.clone(),
            recipients: recipients
                .iter()
                .map(|r| RecipientEntry {
                    recipient: r.clone(),
                    added_at: now,
                })
                .collect(),
            scope,
            mode,
            policy,
            message,
            created_by: actor.name.clone(),
            created_at: now,
            grant: String::new(),
            status: if pending {
                ShareStatus::PendingApproval
            } else {
                ShareStatus::Processing
            },
            seq: 0,
            items_sent: items.ids.len() as u64,
            items_delivered: 0,
            delivered_seq: None,
            lists: BTreeMap::new(),
            docs: Vec::new(),
            completed_at: None,
            stopped_at: None,
            revocation: None,
            owner: Some(case.owner),
            failure: None,
            skipped: Default::default(),
            skipped_total: 0,
            receipt: None,
            stop_ack: None,
            onward,
            hops: Vec::new(),
            refused_recipients: Vec::new(),
        };
        let grant = self.sign_grant(&share, 1)?;
        share.grant = hex::encode(grant.to_bytes());
        let (meta_doc, doc_record) = self.start_share_doc(&share, &items.ids)?;
        let meta_doc = self.carry(meta_doc)?;
        let offer = Offer {
            grant: share.grant.clone(),
            head: self.head_of(&share, case, now)?,
            items: items.list.clone(),
            sharer_name: self.inner.org_name.clone(),
            meta_doc: Some(meta_doc.carried.clone()),
        };
        let msg = self.outbox_message(&wire::Message::Offer(offer), Some(share.id))?;
        let details = format!(
            "share {} to {} ({}), {} items, recipients {}",
            share.id,
            partner.name,
            partner.peer_id,
            share.items_sent,
            recipients_text(&share)
        );
        // The item rows first, a page per transaction (one transaction holding every row of a
        // large share held hundreds of MiB); they count only once the share record exists.
        self.write_sent_rows(share.id, 0, &items, now)?;
        // The share, its list, its audit entry and the offer commit together: a crash leaves all
        // or none (and at most unused item rows of a share that does not exist).
        store.atomically(|txn| {
            let mut share = share.clone();
            Self::hold_list(txn, &mut share, &items.list)?;
            meta_doc.hold(txn, &mut share)?;
            txn.put(&SHARES, &share.id, &share)?;
            txn.put(&SHARE_DOCS, &share.id, &doc_record)?;
            if pending {
                // Nothing leaves before a second person approves: the offer waits here.
                txn.audit(
                    case.id,
                    actor,
                    actions::SHARE_CREATE,
                    None,
                    &format!("{details}; waits for a second person's approval"),
                )?;
                txn.put(&crate::records::HELD_OFFERS, &share.id, &msg)?;
                Ok(())
            } else {
                txn.audit(case.id, actor, actions::SHARE_CREATE, None, &details)?;
                Self::queue_in(txn, &partner.peer_id, &msg)
            }
        })?;
        let share = self.share(id)?;
        if !pending {
            self.wake_outbox();
            self.prepare_blobs(items.blobs);
        }
        tracing::info!(share = %share.id, case = %case.id, partner = %partner.peer_id, items = share.items_sent, "case shared");
        Ok(share)
    }

    /// The items of `case` that `scope` covers and that are not yet sent under `sent_under` (all
    /// of them with `None`; see [`is_sent`]), as an item list. Streams the case: memory holds the ids, not the
    /// items.
    fn new_items(
        &self,
        case: &Case,
        scope: &Scope,
        policy: &SharingPolicy,
        sent_under: Option<&OutgoingShare>,
        onward: Option<&OnwardOf>,
    ) -> Result<NewItems> {
        let store = &self.inner.store;
        let mut list = ListBuilder::new(store.blobs());
        let (mut ids, mut roots, mut blobs) = (Vec::new(), Vec::new(), Vec::new());
        let (mut transcripts, mut resent) = (Vec::new(), BTreeSet::new());
        let with_transcripts = policy.discloses(SharedData::Transcripts);
        let mut take = |ev: casemesh_model::case::Evidence| -> Result<()> {
            // "Do not disclose" never leaves, whatever the scope or policy (issue #12).
            if ev.do_not_disclose || ev.case != case.id || !scope.covers(ev.id, ev.folder, case) {
                return Ok(());
            }
            let mut again = false;
            if let Some(share) = sent_under {
                let row = store.get(&SHARE_ITEMS, &(share.id, ev.id))?;
                if is_sent(row.as_ref(), share) {
                    // Sent before: again only when it gained transcripts since, which follow
                    // it like new evidence (issue #15 item 9).
                    let sent = row.and_then(|r| r.transcripts);
                    if !(with_transcripts
                        && sent.is_some_and(|n| (n as usize) < ev.transcripts.len()))
                    {
                        return Ok(());
                    }
                    again = true;
                }
            }
            ids.push(ev.id);
            roots.push(ev.hash);
            if again {
                resent.insert(ev.id);
            } else {
                blobs.push((ev.hash, ev.size));
            }
            if with_transcripts {
                blobs.extend(ev.transcripts.iter().map(|t| (t.hash, t.size)));
                transcripts.push(u32::try_from(ev.transcripts.len()).unwrap_or(u32::MAX));
            } else {
                transcripts.push(0);
            }
            list.push(manifest::entry(&ev, policy))?;
            Ok(())
        };
        match onward {
            // An onward share carries what arrived under its parent share and is in the copy
            // still: never the receiver's own additions, which the origin's grant does not cover.
            Some(o) => store.for_each(
                &crate::records::RECEIVED_ITEMS,
                &format!("{}/", o.parent),
                |_, item: crate::records::ReceivedItem| match item.local {
                    Some(local) => match store.evidence(local)? {
                        Some(ev) => take(ev),
                        None => Ok(()),
                    },
                    None => Ok(()),
                },
            )?,
            None => {
                for ev in store.case_evidence_iter(case.id)? {
                    take(ev?)?;
                }
            }
        }
        let (list, pins) = list.finish()?;
        Ok(NewItems {
            list,
            _pins: pins,
            ids,
            roots,
            transcripts,
            resent,
            blobs,
        })
    }

    /// Write the rows of the items sent under `share` in the item list `seq`, [`ROWS_PER_TXN`]
    /// per transaction. They take effect when the share's record reaches `seq` (see
    /// [`is_sent`]), in the transaction that queues the list; until then they are ignored, so a
    /// crash in between loses nothing (the items are sent again).
    fn write_sent_rows(
        &self,
        share: ShareId,
        seq: u64,
        items: &NewItems,
        now: casemesh_model::time::Timestamp,
    ) -> Result<()> {
        let rows: Vec<_> = items
            .ids
            .iter()
            .zip(&items.roots)
            .zip(&items.transcripts)
            .filter(|((id, _), _)| !items.resent.contains(id))
            .collect();
        for page in rows.chunks(ROWS_PER_TXN) {
            self.inner.store.atomically(|txn| {
                for ((id, root), transcripts) in page {
                    let row = SentItem {
                        sent_at: now,
                        seq,
                        root: Some(**root),
                        transcripts: Some(**transcripts),
                    };
                    txn.put(&SHARE_ITEMS, &(share, **id), &row)?;
                }
                Ok::<_, SharingError>(())
            })?;
        }
        Ok(())
    }

    /// In the transaction that queues an item list: the items of it sent again because they
    /// gained transcripts now count those transcripts as sent.
    fn mark_resent(txn: &mut Txn<'_, '_>, share: ShareId, items: &NewItems) -> Result<()> {
        for (id, transcripts) in items.ids.iter().zip(&items.transcripts) {
            if !items.resent.contains(id) {
                continue;
            }
            if let Some(mut row) = txn.get(&SHARE_ITEMS, &(share, *id))? {
                row.transcripts = Some(*transcripts);
                txn.put(&SHARE_ITEMS, &(share, *id), &row)?;
            }
        }
        Ok(())
    }

    /// Hold a blob list of `share`'s sequence number `share.seq` until the partner confirms it.
    fn hold_list(
        txn: &mut Txn<'_, '_>,
        share: &mut OutgoingShare,
        list: &ItemList,
    ) -> std::result::Result<(), casemesh_store::StoreError> {
        if let ItemList::Blob { list, .. } = list {
            let seq = share.seq;
            txn.hold_blob(&list.hash, &format!("share/{}/list/{seq}", share.id))?;
            share.lists.insert(seq, list.hash);
        }
        Ok(())
    }

    /// Bytes for a message: inline (hex) up to `wire::INLINE_MAX`, else written to a blob the
    /// partner fetches under the grant.
    pub(crate) fn carry(&self, bytes: Vec<u8>) -> Result<CarriedBytes> {
        if bytes.len() * 2 <= wire::INLINE_MAX {
            return Ok(CarriedBytes {
                carried: Carried::Inline(hex::encode(bytes)),
                _pins: None,
            });
        }
        let blobs = self.inner.store.blobs();
        let mut w = blobs.writer()?;
        w.write(&bytes)?;
        let (hash, size, pins) = blobs.finish_pinned(w)?;
        Ok(CarriedBytes {
            carried: Carried::Blob(wire::BlobRef { hash, size }),
            _pins: Some(pins),
        })
    }

    /// Outgoing share `id`.
    ///
    /// # Errors
    /// [`SharingError::NotFound`] when this node has no outgoing share `id`.
    pub fn share(&self, id: ShareId) -> Result<OutgoingShare> {
        self.inner
            .store
            .get(&SHARES, &id)?
            .ok_or(SharingError::NotFound(Missing::Share(id)))
    }

    /// Every outgoing share, or those of one case.
    pub fn shares(&self, case: Option<CaseId>) -> Result<Vec<OutgoingShare>> {
        let store = &self.inner.store;
        let mut all = match case {
            Some(c) => store.by_index(&SHARES, &SHARES_BY_CASE, &c.to_string())?,
            None => store.all(&SHARES)?,
        };
        all.sort_by_key(|s| s.created_at);
        Ok(all)
    }

    /// Add recipients to a share. With another partner, the case is shared with that partner as
    /// well (a new share with the same scope and the evidence of the original); with the same
    /// partner, a new version of the grant names the added recipients. No evidence is copied on
    /// this node either way: blobs are content-addressed and stored once.
    pub fn add_recipients(
        &self,
        actor: &Actor,
        id: ShareId,
        recipients: Vec<Recipient>,
        partner: Option<&str>,
    ) -> Result<OutgoingShare> {
        let share = self.share(id)?;
        self.refuse_change_under_approval(&share)?;
        if share.status == ShareStatus::Stopped {
            return Err(Clash::ShareStopped { share: id }.into());
        }
        if share.status == ShareStatus::PendingApproval {
            return Err(Clash::AwaitingApproval { share: id }.into());
        }
        if recipients.is_empty() {
            return Err(Bad::NoRecipient.into());
        }
        if let Some(p) = partner {
            let other = self.partner(p)?;
            if other.peer_id != share.partner {
                let case = self
                    .inner
                    .store
                    .case(share.case)?
                    .ok_or(SharingError::NotFound(Missing::Case(share.case)))?;
                return self.open_share(
                    actor,
                    Opening {
                        case: &case,
                        partner: &other,
                        recipients: &recipients,
                        scope: share.scope.clone(),
                        message: share.message.clone(),
                        onward: share.onward,
                        mode: share.mode,
                    },
                );
            }
        }
        let now = self.now();
        let mut share = share;
        for r in &recipients {
            if !share.recipients.iter().any(|e| &e.recipient == r) {
                share.recipients.push(RecipientEntry {
                    recipient: r.clone(),
                    added_at: now,
                });
            }
        }
        let version = SignedGrant::from_bytes(&hex::decode(&share.grant).unwrap_or_default())
            .map(|g| g.grant.version + 1)
            .unwrap_or(2);
        let grant = self.sign_grant(&share, version)?;
        share.grant = hex::encode(grant.to_bytes());
        let case = self
            .inner
            .store
            .case(share.case)?
            .ok_or(SharingError::NotFound(Missing::Case(share.case)))?;
        let details = format!(
            "share {} recipients now {}",
            share.id,
            recipients_text(&share)
        );
        let now = self.now();
        let _numbering = self.inner.share_updates.lock(id);
        let share = self.inner.store.atomically(|txn| {
            // Apply the new recipients and grant to the stored record as it is now (a receipt
            // may have changed it since it was read).
            let mut current: OutgoingShare = txn
                .get(&SHARES, &id)?
                .ok_or(SharingError::NotFound(Missing::Share(id)))?;
            if current.status == ShareStatus::Stopped {
                return Err(SharingError::from(Clash::ShareStopped { share: id }));
            }
            current.recipients = share.recipients.clone();
            current.grant = share.grant.clone();
            // The new grant travels with an empty item list of the next sequence number.
            let seq = current.seq + 1;
            lifecycle::step(&mut current, Event::GrantSent { seq }, now)
                .map_err(|refused| Clash::StepWhileAdding { share: id, refused })?;
            let msg = self.update_message(&current, &case, ItemList::Inline(Vec::new()), now)?;
            txn.put(&SHARES, &id, &current)?;
            txn.audit(
                current.case,
                actor,
                actions::SHARE_RECIPIENTS,
                None,
                &details,
            )?;
            Self::queue_in(txn, &current.partner, &msg)?;
            Ok(current)
        })?;
        self.wake_outbox();
        Ok(share)
    }

    /// The manifest head of `share`: the folders its scope shares and the case fields its policy
    /// lets leave. For an evidence scope, the folders holding its items are looked up by id
    /// (O(items in the scope), which the grant bounds); a do-not-disclose item's folder is not
    /// among them (its name would leave with the head).
    fn head_of(
        &self,
        share: &OutgoingShare,
        case: &Case,
        now: casemesh_model::time::Timestamp,
    ) -> Result<ManifestHead> {
        let mut item_folders = BTreeSet::new();
        if let Scope::Evidence(ids) = &share.scope {
            for id in ids {
                if let Some(f) = self
                    .inner
                    .store
                    .evidence(*id)?
                    .filter(|e| !e.do_not_disclose)
                    .and_then(|e| e.folder)
                {
                    item_folders.insert(f);
                }
            }
        }
        let folders = manifest::shared_folders(case, &share.scope, &item_folders);
        let mut head = manifest::head(
            share.id,
            case,
            folders,
            &share.policy,
            share.items_sent,
            now,
        );
        // The chain names the origin's case: so does an onward share's head.
        if let Some(onward) = &share.onward {
            head.source_case = onward.source_case;
        }
        Ok(head)
    }

    /// `evidence.added/2` for `share` (its `seq` already the new one) carrying `items`.
    fn update_message(
        &self,
        share: &OutgoingShare,
        case: &Case,
        items: ItemList,
        now: casemesh_model::time::Timestamp,
    ) -> Result<OutboxMessage> {
        let update = ManifestUpdate {
            grant: share.grant.clone(),
            head: self.head_of(share, case, now)?,
            seq: share.seq,
            items,
        };
        self.outbox_message(&wire::Message::Update(update), Some(share.id))
    }

    /// New evidence was added to a case: send it to every active share that covers it and whose
    /// policy lets the partner receive updates (case synchronization). Each share gets one
    /// `evidence.added/2` with the items it has not been sent yet. Reads the case once (O(n));
    /// callers go through [`Engine::case_changed`], which coalesces changes into passes. The
    /// metadata of the new items follows with [`Engine::metadata_changed`].
    pub fn evidence_added(&self, case: CaseId) -> Result<()> {
        let store = &self.inner.store;
        let Some(c) = store.case(case)? else {
            return Ok(());
        };
        for share in self.shares(Some(case))? {
            // A stopped share sends nothing; a failed one's partner never got the offer.
            if matches!(
                share.status,
                ShareStatus::Stopped | ShareStatus::Failed | ShareStatus::PendingApproval
            ) || !share.policy.allows(PolicyAction::ReceiveUpdates)
            {
                continue;
            }
            let now = self.now();
            let items = self.new_items(
                &c,
                &share.scope,
                &share.policy,
                Some(&share),
                share.onward.as_ref(),
            )?;
            if items.ids.is_empty() {
                continue;
            }
            // One update of a share at a time (here or adding recipients): the rows below take
            // effect with exactly the sequence number they name.
            let _numbering = self.inner.share_updates.lock(share.id);
            let share = self.share(share.id)?;
            let seq = share.seq + 1;
            self.write_sent_rows(share.id, seq, &items, now)?;
            let details = format!(
                "share {}: {} new items to {}{}",
                share.id,
                items.ids.len() - items.resent.len(),
                share.partner_name,
                if items.resent.is_empty() {
                    String::new()
                } else {
                    format!(", {} items again with new transcripts", items.resent.len())
                }
            );
            let sid = share.id;
            let sent = store.atomically(|txn| {
                let Some(mut s) = txn.get(&SHARES, &sid)? else {
                    return Ok(Ok(false));
                };
                let count = (items.ids.len() - items.resent.len()) as u64;
                if lifecycle::step(&mut s, Event::ItemsSent { seq, count }, now).is_err() {
                    // Stopped or failed meanwhile, or another update (recipients added) took the
                    // number: the rows would take effect with it. Go round again; they are
                    // rewritten.
                    return Ok(Ok(false));
                }
                let msg = match self.update_message(&s, &c, items.list.clone(), now) {
                    Ok(m) => m,
                    // The evidence is added whatever happens; this share cannot carry it.
                    Err(e) if e.is_refusal() => return Ok(Err(e)),
                    Err(e) => return Err(e),
                };
                Self::hold_list(txn, &mut s, &items.list)?;
                Self::mark_resent(txn, sid, &items)?;
                txn.put(&SHARES, &sid, &s)?;
                txn.audit(
                    case,
                    &Actor::new("system", now),
                    actions::SHARE_UPDATE,
                    None,
                    &details,
                )?;
                Self::queue_in(txn, &s.partner, &msg)?;
                Ok::<_, SharingError>(Ok(true))
            })?;
            match sent {
                Ok(true) => {
                    self.wake_outbox();
                    self.prepare_blobs(items.blobs);
                }
                Ok(false) => {
                    if self.share(sid).is_ok_and(|s| {
                        !matches!(s.status, ShareStatus::Stopped | ShareStatus::Failed)
                    }) {
                        self.case_changed(case);
                    }
                }
                Err(e) => self.fail_share(sid, &format!("update not sent: {e}"))?,
            }
        }
        Ok(())
    }

    /// Carry out the effects of a [`lifecycle::step`] on `s` (already written) in its
    /// transaction: release holds, write the audit entries (`reason` for a failure). Ending the
    /// transfers of a stopped share happens after the commit ([`Engine::stop_share`]).
    pub(crate) fn carry_out(
        txn: &mut Txn<'_, '_>,
        s: &OutgoingShare,
        effects: &[Effect],
        actor: &Actor,
        reason: &str,
    ) -> Result<()> {
        let id = s.id;
        for effect in effects {
            match effect {
                Effect::ReleaseList { seq, hash } => {
                    txn.release_blob(hash, &format!("share/{id}/list/{seq}"))?
                }
                Effect::ReleaseDoc { hash } => {
                    txn.release_blob(hash, &format!("share/{id}/doc/{hash}"))?
                }
                Effect::Completed => txn.audit(
                    s.case,
                    actor,
                    actions::SHARE_COMPLETE,
                    None,
                    &format!(
                        "share {id}: partner holds {} items, skipped {}",
                        s.items_delivered, s.skipped_total
                    ),
                )?,
                Effect::Failed => txn.audit(
                    s.case,
                    actor,
                    actions::SHARE_FAILED,
                    None,
                    &format!("share {id}: {reason}"),
                )?,
                Effect::Stopped => {
                    // A share stopped while it waited for approval never leaves.
                    txn.delete(&crate::records::HELD_OFFERS, &id)?;
                    txn.audit(
                        s.case,
                        actor,
                        actions::SHARE_STOP,
                        None,
                        &format!("share {id} to {} stopped", s.partner_name),
                    )?
                }
                Effect::Approved => {
                    let msg: OutboxMessage =
                        txn.get(&crate::records::HELD_OFFERS, &id)?.ok_or_else(|| {
                            SharingError::Internal(format!("share {id}: no held offer"))
                        })?;
                    txn.delete(&crate::records::HELD_OFFERS, &id)?;
                    Self::queue_in(txn, &s.partner, &msg)?;
                    txn.audit(
                        s.case,
                        actor,
                        actions::SHARE_APPROVE,
                        None,
                        &format!(
                            "share {id} to {}: approved by {} (created by {})",
                            s.partner_name, actor.name, s.created_by
                        ),
                    )?
                }
            }
        }
        Ok(())
    }

    /// Mark a share Failed with a reason (a message it needs can never be delivered).
    fn fail_share(&self, id: ShareId, reason: &str) -> Result<()> {
        let now = self.now();
        self.inner.store.atomically(|txn| {
            let Some(mut s) = txn.get(&SHARES, &id)? else {
                return Ok(());
            };
            let effects = lifecycle::step(&mut s, Event::Failed { reason }, now)
                .map_err(|refused| Clash::Step { share: id, refused })?;
            if effects.is_empty() {
                return Ok(());
            }
            txn.put(&SHARES, &id, &s)?;
            Self::carry_out(txn, &s, &effects, &Actor::new("system", now), reason)?;
            Ok::<_, SharingError>(())
        })?;
        tracing::warn!(share = %id, reason, "share failed");
        Ok(())
    }

    /// Stop sharing: sign a revocation, stop updates and blob serving at once, tell the partner.
    pub fn stop_share(&self, actor: &Actor, id: ShareId) -> Result<OutgoingShare> {
        let share = self.share(id)?;
        if share.status == ShareStatus::Stopped {
            return Ok(share);
        }
        let now = self.now();
        let rev = SignedRevocation::sign(
            Revocation {
                grant_id: share.id,
                issuer: self.inner.me.clone(),
                issuer_key: self.inner.key.verifying_key().to_bytes(),
                revoked_at: now,
                reason: format!("stopped by {}", actor.name),
            },
            &self.inner.key,
        );
        let rev_hex = hex::encode(rev.to_bytes());
        let msg = self.outbox_message(
            &wire::Message::Revocation(RevocationNotice {
                revocation: rev_hex.clone(),
            }),
            Some(share.id),
        )?;
        // The share's messages the partner has not received yet (an offer or updates waiting for
        // it to come online) are withdrawn with the stop: nothing of a stopped share reaches it
        // afterwards. One already on its way is followed by the revocation.
        let queue = crate::records::outbox_queue(&share.partner);
        let withdrawn: Vec<u64> = self
            .inner
            .store
            .queue_items::<OutboxMessage>(&queue)?
            .into_iter()
            .filter(|(_, m)| m.share == Some(id) && m.kind != wire::KIND_REVOCATION.as_str())
            .map(|(seq, _)| seq)
            .collect();
        let stopped = self.inner.store.atomically(|txn| {
            let mut s: OutgoingShare = txn
                .get(&SHARES, &id)?
                .ok_or(SharingError::NotFound(Missing::Share(id)))?;
            let effects = lifecycle::step(
                &mut s,
                Event::Stopped {
                    revocation: &rev_hex,
                },
                now,
            )
            .map_err(|refused| Clash::Step { share: id, refused })?;
            if effects.is_empty() {
                return Ok((s, false));
            }
            for seq in &withdrawn {
                txn.queue_remove(&queue, *seq)?;
            }
            txn.put(&SHARES, &id, &s)?;
            Self::carry_out(txn, &s, &effects, actor, "")?;
            Self::queue_in(txn, &s.partner, &msg)?;
            Ok::<_, SharingError>((s, true))
        })?;
        let (stopped, changed) = stopped;
        // Transfers under this share stop now, not after the item in flight.
        self.inner.serve_tokens.cancel(id);
        if !changed {
            return Ok(stopped);
        }
        self.wake_outbox();
        tracing::info!(share = %stopped.id, "share stopped");
        Ok(stopped)
    }

    /// The evidence items and BLAKE3 roots the partner's latest signed holding receipt vouches
    /// for, in the signed (ascending evidence-id) order: `None` without a signed receipt, or when
    /// its digest did not match what was sent (then only the digest is known). One pass over the
    /// share's item rows; memory grows with the item count (a status view, not a hot path).
    pub fn receipt_roots(
        &self,
        share: &OutgoingShare,
    ) -> Result<Option<Vec<(EvidenceId, BlobHash)>>> {
        let Some(record) = share.receipt.as_ref().filter(|r| r.matches_sent) else {
            return Ok(None);
        };
        let Some(seq) = custody_seq(&record.signed) else {
            return Ok(None);
        };
        let mut roots = Vec::new();
        custody::sent_roots(&self.inner.store, share, seq, |id, root| {
            roots.push((id, root));
            Ok(())
        })?;
        Ok(Some(roots))
    }

    /// A partner reports what it holds of a share.
    pub(crate) fn on_receipt(&self, peer: &OrgId, receipt: Receipt) -> Result<()> {
        let id = receipt.share;
        let now = self.now();
        let before = self.share(id)?;
        if before.partner != *peer {
            return Err(NotAllowed::ReceiptFromOther {
                share: id,
                from: peer.clone(),
            }
            .into());
        }
        // Signed statements are checked before anything changes: a forged or misaddressed one
        // refuses the whole receipt.
        let signed = match &receipt.signed {
            Some(hex_text) => {
                let signed = custody::check_receipt(&before, &receipt, hex_text)?;
                let sent = custody::sent_digest(&self.inner.store, &before, signed.statement.seq)?;
                let matches_sent = sent.finish() == signed.statement.roots
                    && sent.count() == signed.statement.items;
                if !matches_sent {
                    tracing::warn!(share = %id, "the partner's signed receipt names other items than were sent");
                }
                Some((signed, hex_text.clone(), matches_sent))
            }
            None => None,
        };
        let stop_ack = match &receipt.stop_ack {
            Some(hex_text) => {
                custody::check_stop_ack(&before, hex_text)?;
                Some(hex_text.clone())
            }
            None => None,
        };
        let after = self.inner.store.atomically(|txn| {
            let mut s: OutgoingShare = txn
                .get(&SHARES, &id)?
                .ok_or(SharingError::NotFound(Missing::Share(id)))?;
            // A receipt that cannot be true is the partner's fault: refused, nothing changes.
            let effects = lifecycle::step(&mut s, Event::Receipt(&receipt), now)
                .map_err(|refused| Bad::Receipt { share: id, refused })?;
            let partner = Actor::new(format!("org:{}", s.partner_name), now);
            // Recipients added later that the partner does not know (issue #15 item 1): the
            // share goes on, and the refusal is kept on it and audited once.
            if let Some(reported) = &receipt.refused_recipients {
                let named: Vec<Recipient> =
                    s.recipients.iter().map(|e| e.recipient.clone()).collect();
                let refused = crate::recipients::reported_refusals(
                    &named,
                    &s.refused_recipients,
                    reported,
                    now,
                );
                for r in &refused {
                    if s.refused_recipients.iter().any(|b| b.recipient == r.recipient) {
                        continue;
                    }
                    let who = crate::recipients::label(&r.recipient);
                    tracing::warn!(share = %id, recipient = %who, reason = %r.reason, "the partner does not know a recipient of this share");
                    txn.audit(
                        s.case,
                        &partner,
                        actions::SHARE_RECEIPT,
                        None,
                        &format!(
                            "share {id}: {} refused recipient {who} ({}): not in its directory, so they get no access",
                            s.partner_name, r.reason
                        ),
                    )?;
                }
                s.refused_recipients = refused;
            }
            if let Some((signed, hex_text, matches_sent)) = &signed {
                let newer = s.receipt.as_ref().is_none_or(|old| {
                    custody_seq(&old.signed).is_none_or(|old_seq| old_seq <= signed.statement.seq)
                });
                if newer {
                    s.receipt = Some(ReceiptRecord {
                        signed: hex_text.clone(),
                        matches_sent: *matches_sent,
                        received_at: now,
                    });
                    txn.audit(
                        s.case,
                        &partner,
                        actions::SHARE_RECEIPT,
                        None,
                        &format!(
                            "share {id}: {} signed a holding receipt for {} items (roots {}){}",
                            s.partner_name,
                            signed.statement.items,
                            hex::encode(signed.statement.roots),
                            if *matches_sent {
                                ""
                            } else {
                                "; it does not match the items sent"
                            }
                        ),
                    )?;
                }
            }
            if let Some(hex_text) = &stop_ack
                && s.stop_ack.is_none()
            {
                s.stop_ack = Some(StopAckRecord {
                    signed: hex_text.clone(),
                    received_at: now,
                });
                txn.audit(
                    s.case,
                    &partner,
                    actions::SHARE_STOP_ACK,
                    None,
                    &format!(
                        "share {id}: {} signed that it took in the stop",
                        s.partner_name
                    ),
                )?;
            }
            txn.put(&SHARES, &id, &s)?;
            Self::carry_out(txn, &s, &effects, &partner, "")?;
            Ok::<_, SharingError>(s)
        })?;
        if before.status != ShareStatus::Complete && after.status == ShareStatus::Complete {
            tracing::info!(share = %after.id, "share complete");
        }
        Ok(())
    }
}

impl Engine {
    /// Precompute, in the background, the verified-streaming outboards of blobs a partner is about
    /// to fetch, so serving starts at once instead of hashing the file first.
    fn prepare_blobs(&self, hashes: Vec<(BlobHash, u64)>) {
        let engine = self.clone();
        let shutdown = self.inner.shutdown.clone();
        self.inner.tasks.spawn(async move {
            for (hash, size) in hashes {
                if shutdown.is_cancelled() {
                    return;
                }
                let store = engine.inner.store.clone();
                let source = match engine
                    .blocking("blob lookup", move || {
                        Ok(crate::serve::blob_source(&store, &hash)?)
                    })
                    .await
                {
                    Ok(Some(source)) if source.size == size => source,
                    _ => continue, // not stored (any more): nothing to prepare
                };
                if let Err(e) = engine.inner.net.prepare_blob(hash, source).await {
                    tracing::debug!(blob = %hash, error = %e, "could not precompute the outboard; it is built on first request");
                }
            }
        });
    }
}

/// A second share of a case to a partner that already holds an active share of it (issue #15
/// item 3): the request is added to that share instead of making another copy at the partner.
/// See docs/sharing.md, "Sharing the same case again".
impl Engine {
    /// The active (Processing or Complete) share of `case` this node made to `partner` (name or
    /// org id), not an onward one; the oldest when an older release left several.
    /// A share to a partner whose policy requires two-person approval is not widened (more
    /// recipients, a wider scope) without a second person: such a change is refused, and the
    /// user is told to stop it and create a new share, which waits for approval.
    fn refuse_change_under_approval(&self, share: &OutgoingShare) -> Result<()> {
        let partner = self
            .partner_by_id(&share.partner)?
            .ok_or_else(|| SharingError::NotFound(Missing::Partner(share.partner.clone())))?;
        if self.policy(&partner.policy)?.two_person_approval {
            return Err(Clash::UnderApproval {
                share: share.id,
                policy: partner.policy,
            }
            .into());
        }
        Ok(())
    }

    /// The live share of `case` (record id) to `partner` in `mode` that a new partner share
    /// would add to, if any: adding recipients to it needs its own permissions as well.
    pub fn share_to(
        &self,
        case: CaseId,
        partner: &str,
        mode: ShareMode,
    ) -> Result<Option<OutgoingShare>> {
        let case = self
            .inner
            .store
            .case(case)?
            .ok_or(SharingError::NotFound(Missing::Case(case)))?;
        self.active_share_to(&case, partner, mode)
    }

    fn active_share_to(
        &self,
        case: &Case,
        partner: &str,
        mode: ShareMode,
    ) -> Result<Option<OutgoingShare>> {
        let partner = self.partner(partner)?;
        Ok(self.shares(Some(case.id))?.into_iter().find(|s| {
            s.partner == partner.peer_id
                && s.onward.is_none()
                && s.mode == mode
                && matches!(s.status, ShareStatus::Processing | ShareStatus::Complete)
        }))
    }

    /// Add `req` to `share`: the recipients it lacks, the union of the scopes, a new message,
    /// and the items now in scope that were never sent. One grant version and one
    /// `evidence.added/2` update of the next sequence number carry it all, so the partner keeps
    /// one copy. A request that adds nothing changes nothing and returns the share as it is
    /// (a repeated command after an interruption is harmless). Refused (`Conflict`, nothing
    /// changed) when the scopes cannot be joined: a folder share and an evidence selection
    /// outside those folders.
    fn add_to_share(
        &self,
        actor: &Actor,
        share: OutgoingShare,
        case: &Case,
        req: &ShareRequest,
        scope: Scope,
    ) -> Result<OutgoingShare> {
        if req.recipients.is_empty() {
            return Err(Bad::NoRecipient.into());
        }
        if let Some(m) = &req.message {
            check_text("message", m, limits::MESSAGE).map_err(Bad::Message)?;
        }
        let scope = self.joined_scope(&share, case, scope)?;
        let id = share.id;
        let now = self.now();
        // One update of a share at a time (as in `evidence_added`): the rows written below take
        // effect with exactly the sequence number they name.
        let _numbering = self.inner.share_updates.lock(id);
        let mut share = self.share(id)?;
        let mut added = Vec::new();
        for r in &req.recipients {
            if !share.recipients.iter().any(|e| &e.recipient == r) {
                added.push(recipient_label(r));
                share.recipients.push(RecipientEntry {
                    recipient: r.clone(),
                    added_at: now,
                });
            }
        }
        let widened = scope != share.scope;
        share.scope = scope;
        let new_message = req.message.is_some() && req.message != share.message;
        if new_message {
            share.message = req.message.clone();
        }
        let items = self.new_items(case, &share.scope, &share.policy, Some(&share), None)?;
        if added.is_empty() && !widened && !new_message && items.ids.is_empty() {
            tracing::info!(share = %id, "repeated share adds nothing");
            return Ok(share);
        }
        let version = SignedGrant::from_bytes(&hex::decode(&share.grant).unwrap_or_default())
            .map(|g| g.grant.version + 1)
            .unwrap_or(2);
        share.grant = hex::encode(self.sign_grant(&share, version)?.to_bytes());
        let seq = share.seq + 1;
        self.write_sent_rows(id, seq, &items, now)?;
        let details = format!(
            "share {id} to {} added to by a repeated share: recipients now {}{}{}, {} new items",
            share.partner_name,
            recipients_text(&share),
            if widened { ", scope widened" } else { "" },
            if new_message { ", new message" } else { "" },
            items.ids.len()
        );
        let share = self.inner.store.atomically(|txn| {
            let mut current: OutgoingShare = txn
                .get(&SHARES, &id)?
                .ok_or(SharingError::NotFound(Missing::Share(id)))?;
            let count = (items.ids.len() - items.resent.len()) as u64;
            if count > 0 {
                lifecycle::step(&mut current, Event::ItemsSent { seq, count }, now)
                    .map_err(|refused| Clash::StepWhileAdding { share: id, refused })?;
            } else if matches!(current.status, ShareStatus::Stopped | ShareStatus::Failed) {
                return Err(Clash::EndedWhileAdding { share: id }.into());
            } else {
                lifecycle::step(&mut current, Event::GrantSent { seq }, now)
                    .map_err(|refused| Clash::StepWhileAdding { share: id, refused })?;
            }
            current.recipients = share.recipients.clone();
            current.scope = share.scope.clone();
            current.message = share.message.clone();
            current.grant = share.grant.clone();
            let msg = self.update_message(&current, case, items.list.clone(), now)?;
            Self::hold_list(txn, &mut current, &items.list)?;
            Self::mark_resent(txn, id, &items)?;
            txn.put(&SHARES, &id, &current)?;
            txn.audit(case.id, actor, actions::SHARE_UPDATE, None, &details)?;
            Self::queue_in(txn, &current.partner, &msg)?;
            Ok::<_, SharingError>(current)
        })?;
        self.wake_outbox();
        self.prepare_blobs(items.blobs);
        // The new items' metadata follows in the share's document (`metadata_changed`).
        self.case_changed(case.id);
        tracing::info!(share = %id, added = ?added, widened, items = items.ids.len(), "added to an existing share");
        Ok(share)
    }

    /// The scope of `share` widened to cover `requested` as well. Folder and evidence
    /// selections join by union; the entire case absorbs anything. An evidence selection joins
    /// a folder share only when the folders already cover every item, and a folder selection
    /// never joins an evidence share (no one scope would be both): those are refused.
    fn joined_scope(&self, share: &OutgoingShare, case: &Case, requested: Scope) -> Result<Scope> {
        fn union<T: PartialEq + Clone>(a: &[T], b: Vec<T>) -> Vec<T> {
            let mut all = a.to_vec();
            for x in b {
                if !all.contains(&x) {
                    all.push(x);
                }
            }
            all
        }
        Ok(match (&share.scope, requested) {
            (Scope::EntireCase, _) | (_, Scope::EntireCase) => Scope::EntireCase,
            (Scope::Folders(a), Scope::Folders(b)) => Scope::Folders(union(a, b)),
            (Scope::Evidence(a), Scope::Evidence(b)) => {
                Scope::Evidence(a.iter().chain(b.iter()).copied().collect())
            }
            (current @ Scope::Folders(_), Scope::Evidence(b)) => {
                for ev in &b {
                    let folder = self.inner.store.evidence(*ev)?.and_then(|e| e.folder);
                    if !current.covers(*ev, folder, case) {
                        return Err(Clash::EvidenceOutsideFolders {
                            share: share.id,
                            partner: share.partner_name.clone(),
                        }
                        .into());
                    }
                }
                current.clone()
            }
            (Scope::Evidence(_), Scope::Folders(_)) => {
                return Err(Clash::FoldersIntoEvidence {
                    share: share.id,
                    partner: share.partner_name.clone(),
                }
                .into());
            }
        })
    }
}

fn recipients_text(share: &OutgoingShare) -> String {
    share
        .recipients
        .iter()
        .map(|r| recipient_label(&r.recipient))
        .collect::<Vec<_>>()
        .join(",")
}

/// A recipient as typed: `user:…`, `group:…`, `email:…` or `badge:…`.
pub fn recipient_label(r: &Recipient) -> String {
    match r {
        Recipient::User(v) => format!("user:{v}"),
        Recipient::Group(v) => format!("group:{v}"),
        Recipient::Email(v) => format!("email:{v}"),
        Recipient::Badge(v) => format!("badge:{v}"),
    }
}

/// The sequence number a stored signed receipt covers.
fn custody_seq(signed_hex: &str) -> Option<u64> {
    let bytes = hex::decode(signed_hex).ok()?;
    Signed::<HoldingReceipt>::from_bytes(&bytes)
        .ok()
        .map(|s| s.statement.seq)
}

/// The error of an evidence reference that did not resolve: "no such item" and "several items
/// have that display id" are the caller's input ([`Bad::EvidenceRef`], 400); a store that could
/// not be read is this node's fault ([`SharingError::Store`], worth retrying), never the caller's.
fn evidence_ref_error(reference: &str, e: casemesh_store::StoreError) -> SharingError {
    if e.is_refusal() {
        Bad::EvidenceRef {
            reference: reference.to_owned(),
            error: Box::new(e),
        }
        .into()
    } else {
        SharingError::Store(e)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #9 point 4: a store that fails while an evidence reference is resolved is this
    /// node's fault (retry, 5xx), not the caller's input; "not found" and "ambiguous" are.
    #[test]
    fn an_unreadable_store_is_not_a_bad_evidence_reference() {
        use casemesh_store::StoreError;
        for refusal in [
            StoreError::NotFound("evidence \"door\"".into()),
            StoreError::Conflict("2 evidence items have display id \"EV-1\"".into()),
        ] {
            let e = evidence_ref_error("door", refusal);
            assert!(
                matches!(e, SharingError::Invalid(Bad::EvidenceRef { .. })),
                "{e:?}"
            );
            assert!(e.is_refusal());
        }
        for fault in [
            StoreError::Db("io error: read".into()),
            StoreError::NoSpace {
                needed: 1,
                available: 0,
            },
        ] {
            let e = evidence_ref_error("door", fault);
            assert!(matches!(e, SharingError::Store(_)), "{e:?}");
            assert!(!e.is_refusal(), "{e}");
        }
    }

    #[test]
    fn recipients_need_a_name_and_no_control_characters() {
        for bad in [
            "",
            " ",
            "user:",
            "group: ",
            "email:",
            "badge:",
            "ada\u{1b}[2J",
            "a\nb",
        ] {
            assert!(
                matches!(
                    parse_recipient(bad),
                    Err(SharingError::Invalid(
                        Bad::Recipient(_) | Bad::RecipientNoName(_)
                    ))
                ),
                "{bad:?} was accepted"
            );
        }
        assert_eq!(
            parse_recipient("user:ada").unwrap(),
            Recipient::User("ada".into())
        );
        assert_eq!(
            parse_recipient("ada@county.example").unwrap(),
            Recipient::Email("ada@county.example".into())
        );
    }
}
