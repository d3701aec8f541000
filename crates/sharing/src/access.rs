//! Access in place for partners (issue #12 item 3): a partner share in access mode makes no copy.
//!
//! ```text
//!  partner's user ──► partner node                                   sharer node
//!  received view      items it holds from the offer and updates
//!                     (+ item lists fetched once) ──access.event/1 (outbox)──► audit case.view
//!  received get       local checks: not stopped, grant valid,
//!                     policy allows download
//!                     ──access.event/1 (outbox, queued first)──────────► audit evidence.download
//!                     ──blob request under the grant (verified) ──────► grant check (serve.rs),
//!                     ◄── bytes, streamed to the user, not kept ◄────── audit share.serve
//! ```
//!
//! Goals: the partner's users list and download the sharer's current version (as last sent)
//! through their own node; the sharer's audit trail names the partner organization *and* user
//! for every view and download; a stop ends access at once (the receiver refuses locally once
//! the revocation arrived, the sharer refuses every blob request from the stop on); the policy
//! is checked at both ends. Non-goals: browsing what the sharer has not sent (the receiver lists
//! exactly the items of the offer and the updates), caching bytes at the receiver (each get is a
//! fetch; nothing enters the receiver's blob store), and proving the partner's user name (the
//! sharer records what the partner's node reports; the partner organization is authenticated by
//! the connection).

use crate::Engine;
use crate::error::{Bad, Clash, Missing, NotAllowed, Result, SharingError};
use crate::records::{
    IncomingShare, RECEIVED_ITEMS, ReceivedItem, ReceivedStatus, SHARE_ITEMS, SHARES,
};
use crate::wire::{self, AccessAction, AccessEvent};
use casemesh_meta::{Field, FieldRef};
use casemesh_model::audit::actions;
use casemesh_model::case::Folder;
use casemesh_model::grant::{self, ShareMode, SignedGrant};
use casemesh_model::ids::{BlobHash, EvidenceId, FolderId, OrgId, ShareId};
use casemesh_model::names::check_line;
use casemesh_model::policy::PolicyAction;
use casemesh_store::Actor;
use std::collections::BTreeMap;

/// What a received share holds now: the sharer's folders and items as last sent.
#[derive(Debug, Clone)]
pub struct ReceivedContents {
    /// The share.
    pub share: ShareId,
    /// Copy or access.
    pub mode: ShareMode,
    /// The shared folders, as paths (`A/B`), sorted.
    pub folders: Vec<(FolderId, String)>,
    /// The items, in the order of their sharer evidence ids.
    pub evidence: Vec<ReceivedEntry>,
}

/// One item of a received share, with its current values at the sharer (as last sent).
#[derive(Debug, Clone)]
pub struct ReceivedEntry {
    /// The sharer's evidence id.
    pub id: EvidenceId,
    /// Name.
    pub name: String,
    /// Display id.
    pub display_id: String,
    /// Description.
    pub description: String,
    /// The folder's path at the sharer (`None` = the root).
    pub folder: Option<String>,
    /// BLAKE3 of the bytes.
    pub hash: BlobHash,
    /// Bytes.
    pub size: u64,
    /// Media type.
    pub media_type: String,
}

/// An item's bytes fetched for a user: an open, verified file that no longer has a name on
/// disk (nothing stays at the receiver once it is read).
pub struct Fetched {
    /// The item.
    pub entry: ReceivedEntry,
    /// The bytes (read from the start).
    pub file: std::fs::File,
}

/// Paths of a folder tree (bounded by the folder limits the head was checked against).
fn folder_paths(folders: &[Folder]) -> BTreeMap<FolderId, String> {
    let by_id: BTreeMap<FolderId, &Folder> = folders.iter().map(|f| (f.id, f)).collect();
    let mut out = BTreeMap::new();
    for f in folders {
        let mut parts = vec![f.name.as_str()];
        let mut at = f.parent;
        // The tree was checked to have no cycle; the bound is only a guard.
        while let Some(p) = at.and_then(|id| by_id.get(&id))
            && parts.len() <= folders.len()
        {
            parts.push(p.name.as_str());
            at = p.parent;
        }
        parts.reverse();
        out.insert(f.id, parts.join("/"));
    }
    out
}

impl Engine {
    /// The received share `id` if its users may open it now: not stopped, the grant still valid
    /// (unexpired, addressed here), and its policy allows `action`. `Forbidden` otherwise.
    fn open_received(
        &self,
        id: ShareId,
        action: PolicyAction,
    ) -> Result<(IncomingShare, SignedGrant)> {
        let share = self.received_by_id(id)?;
        if share.status == ReceivedStatus::Stopped {
            return Err(NotAllowed::AccessEnded { share: id }.into());
        }
        let g = crate::incoming::decode_grant(&share.grant)?;
        grant::verify(&g, self.now(), Some(&self.inner.me))
            .map_err(|error| NotAllowed::GrantRefused { share: id, error })?;
        if !g.grant.policy.allows(action) {
            return Err(NotAllowed::ByPolicy { share: id, action }.into());
        }
        Ok((share, g))
    }

    /// From which of the sharer's item lists `user` sees the items of `share`
    /// ([`crate::recipients::visible_since`]); `None`: all of them. Fails closed: a user no
    /// recipient names now (removed from the group since, say) sees none of them
    /// (`Some(u64::MAX)`), unless they administer the node or hold `all_cases`.
    fn visible_since(&self, share: &IncomingShare, user: &str) -> Result<Option<u64>> {
        let store = &self.inner.store;
        let Some(me) = store.user_by_name(user)? else {
            return Ok(Some(u64::MAX));
        };
        let groups = store.groups()?;
        let perms = casemesh_model::org::effective_permissions(&me, &groups);
        if perms.contains(&casemesh_model::org::Permission::Administer)
            || perms.contains(&casemesh_model::org::Permission::AllCases)
        {
            return Ok(None);
        }
        let users = store.users()?;
        let named = share.recipients.iter().any(|r| {
            crate::recipients::principals(std::slice::from_ref(r), &users, &groups)
                .0
                .iter()
                .any(|p| casemesh_model::access::names(&me, *p))
        });
        if !named {
            return Ok(Some(u64::MAX));
        }
        Ok(crate::recipients::visible_since(
            &me,
            &share.recipients,
            &share.recipients_since,
            &users,
            &groups,
        ))
    }

    /// Whether `user` sees every item the sharer sent under `share` (a recipient named from the
    /// offer on, an administrator, an `all_cases` holder); see [`Engine::visible_since`].
    pub fn sees_every_item(&self, share: &IncomingShare, user: &str) -> Result<bool> {
        Ok(self.visible_since(share, user)?.is_none())
    }

    /// The folders and items of received share `id` as the sharer last sent them (`received
    /// view`), for `user`. Item lists that came as blobs are fetched and read first. The sharer
    /// hears of the view (`access.event/1`) for its audit trail.
    pub async fn received_view(&self, id: ShareId, user: &str) -> Result<ReceivedContents> {
        let (share, g) = self.open_received(id, PolicyAction::View)?;
        if !share.lists.is_empty() {
            let peer = self.sharer_peer(&share)?;
            self.read_lists(peer, &g.to_bytes(), &share).await?;
        }
        let share = self.received_by_id(id)?;
        let paths = folder_paths(&share.head.folders);
        let mut evidence = Vec::new();
        let doc = self.received_doc(id);
        let since = self.visible_since(&share, user)?;
        self.for_each_received_item(id, |_, item| {
            if item.skipped.is_none() && since.is_none_or(|s| item.seq >= s) {
                evidence.push(self.entry_of(&item, &paths, doc.as_ref()));
            }
            Ok(())
        })?;
        self.report_access(&share, user, None, AccessAction::View)?;
        Ok(ReceivedContents {
            share: id,
            mode: share.mode,
            folders: paths.into_iter().collect(),
            evidence,
        })
    }

    /// Fetch item `evidence` (the sharer's evidence id, display id or name) of received share
    /// `id` for `user` (`received get`): refused here when the share is stopped or its policy
    /// lacks `download`; otherwise the sharer hears of it (`access.event/1`, queued first), and
    /// the bytes are fetched from the sharer under the grant, verified against the hash, and
    /// handed back as an unnamed file: nothing is kept.
    pub async fn received_get(&self, id: ShareId, evidence: &str, user: &str) -> Result<Fetched> {
        let (share, g) = self.open_received(id, PolicyAction::Download)?;
        let peer = self.sharer_peer(&share)?;
        if !share.lists.is_empty() {
            self.read_lists(peer, &g.to_bytes(), &share).await?;
        }
        let item = self.find_received_item(id, evidence)?;
        let share = self.received_by_id(id)?;
        if self
            .visible_since(&share, user)?
            .is_some_and(|s| item.seq < s)
        {
            // Sent before this user was named: as if it did not exist for them.
            return Err(SharingError::NotFound(Missing::ReceivedItem {
                share: id,
                name: evidence.to_owned(),
            }));
        }
        let paths = folder_paths(&share.head.folders);
        let doc = self.received_doc(id);
        let entry = self.entry_of(&item, &paths, doc.as_ref());
        self.report_access(&share, user, Some(item.entry.id), AccessAction::Download)?;
        self.inner.store.blobs().check_space(item.entry.size)?;
        let fetched = self
            .inner
            .net
            .fetch_blob(peer, g.to_bytes(), item.entry.hash, Some(item.entry.size))
            .await
            .map_err(|e| match e {
                // The sharer's answer (stopped, policy, no longer in scope) is a refusal, not a
                // fault of this node.
                casemesh_net::NetError::Refused { refusal, .. } => match refusal.code {
                    casemesh_net::RefusalCode::NotFound => {
                        SharingError::NotFound(Missing::AtSharer {
                            reason: refusal.reason,
                        })
                    }
                    _ => NotAllowed::AtSharer {
                        share: id,
                        reason: refusal.reason,
                    }
                    .into(),
                },
                other => other.into(),
            })?;
        let path = fetched.path;
        // On the engine's tracker: shutdown waits for it (issue #9).
        let file = self
            .blocking("open fetched blob", move || -> Result<std::fs::File> {
                let file = std::fs::File::open(&path)
                    .map_err(|e| SharingError::Internal(format!("open fetched blob: {e}")))?;
                // The open file stays readable; the name goes, so no copy is left behind.
                let _ = std::fs::remove_file(&path);
                Ok(file)
            })
            .await?;
        tracing::info!(share = %id, evidence = %item.entry.id, size = item.entry.size, "item fetched on demand (access)");
        Ok(Fetched { entry, file })
    }

    /// The sharer's peer id.
    fn sharer_peer(&self, share: &IncomingShare) -> Result<casemesh_net::PeerId> {
        crate::partners::peer_of(&share.sharer)
    }

    /// The item of received share `id` named by its sharer evidence id, display id or name
    /// (the last two when exactly one item has it).
    fn find_received_item(&self, id: ShareId, name: &str) -> Result<ReceivedItem> {
        if let Ok(ev) = name.parse::<EvidenceId>()
            && let Some(item) = self.inner.store.get(&RECEIVED_ITEMS, &(id, ev))?
        {
            return Ok(item);
        }
        let mut found = Vec::new();
        self.for_each_received_item(id, |_, item| {
            if item.entry.display_id == name || item.entry.name == name {
                found.push(item);
            }
            Ok(())
        })?;
        match found.len() {
            1 => Ok(found.remove(0)),
            0 => Err(SharingError::NotFound(Missing::ReceivedItem {
                share: id,
                name: name.to_owned(),
            })),
            _ => Err(Clash::ItemNameAmbiguous {
                share: id,
                name: name.to_owned(),
                items: found.iter().map(|item| item.entry.id).collect(),
            }
            .into()),
        }
    }

    /// An item's view: the upstream metadata document's current values where it has them,
    /// else the values the item was sent with.
    fn entry_of(
        &self,
        item: &ReceivedItem,
        paths: &BTreeMap<FolderId, String>,
        doc: Option<&casemesh_meta::CaseDoc>,
    ) -> ReceivedEntry {
        let e = &item.entry;
        let current = |field: Field, sent: &str| {
            doc.and_then(|d| d.get(FieldRef::evidence(e.id, field)))
                .unwrap_or_else(|| sent.to_owned())
        };
        ReceivedEntry {
            id: e.id,
            name: current(Field::Name, &e.name),
            display_id: current(Field::DisplayId, &e.display_id),
            description: current(Field::Description, &e.description),
            folder: e.folder.and_then(|f| paths.get(&f).cloned()),
            hash: e.hash,
            size: e.size,
            media_type: e.media_type.clone(),
        }
    }

    /// Tell the sharer that `user` viewed or downloaded from `share`: queued in the durable
    /// outbox (before any fetch), so the report survives a crash and arrives in order.
    fn report_access(
        &self,
        share: &IncomingShare,
        user: &str,
        evidence: Option<EvidenceId>,
        action: AccessAction,
    ) -> Result<()> {
        let mut user = user.to_owned();
        if user.len() > wire::MAX_ACCESS_USER {
            let mut cut = wire::MAX_ACCESS_USER;
            while !user.is_char_boundary(cut) {
                cut -= 1;
            }
            user.truncate(cut);
        }
        let event = AccessEvent {
            share: share.id,
            user,
            evidence,
            action,
            at: self.now(),
        };
        // No share of this node's own is named: a refusal must not fail anything here.
        let msg = self.outbox_message(&wire::Message::Access(event), None)?;
        self.inner
            .store
            .atomically(|txn| Self::queue_in(txn, &share.sharer, &msg))?;
        self.wake_outbox();
        Ok(())
    }

    /// A partner reports that one of its users viewed or downloaded a share this node issued to
    /// it: written to the case's audit trail, naming the partner organization (the actor, as
    /// for the blob server's `share.serve`) and the user (in the details).
    pub(crate) fn on_access_event(&self, peer: &OrgId, event: AccessEvent) -> Result<()> {
        let share = self
            .inner
            .store
            .get(&SHARES, &event.share)?
            .filter(|s| s.partner == *peer)
            .ok_or(SharingError::NotFound(Missing::Share(event.share)))?;
        check_line("user", &event.user, wire::MAX_ACCESS_USER).map_err(Bad::AccessEventUser)?;
        if event.user.is_empty() {
            return Err(Bad::AccessEventNoUser { share: share.id }.into());
        }
        if let Some(ev) = event.evidence {
            let row = self.inner.store.get(&SHARE_ITEMS, &(share.id, ev))?;
            if !crate::outgoing::is_sent(row.as_ref(), &share) {
                return Err(Bad::AccessEventItem {
                    share: share.id,
                    evidence: ev,
                }
                .into());
            }
        }
        let actor = Actor::new(format!("org:{}", share.partner_name), self.now());
        let (action, what) = match event.action {
            AccessAction::View => (actions::CASE_VIEW, "viewed the shared items"),
            AccessAction::Download => (actions::EVIDENCE_DOWNLOAD, "downloaded"),
        };
        let details = format!(
            "partner user {:?} of {} ({}) {what} under {} share {}",
            event.user,
            share.partner_name,
            share.partner,
            match share.mode {
                ShareMode::Access => "access",
                ShareMode::Copy => "copy",
            },
            share.id
        );
        self.inner
            .store
            .audit(share.case, &actor, action, event.evidence, &details)?;
        tracing::info!(share = %share.id, partner = %share.partner_name, action = ?event.action, "partner access recorded");
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn folder_paths_follow_parents() {
        let a = FolderId::random();
        let b = FolderId::random();
        let folders = vec![
            Folder {
                id: b,
                name: "Day 1".into(),
                parent: Some(a),
            },
            Folder {
                id: a,
                name: "Interviews".into(),
                parent: None,
            },
        ];
        let paths = folder_paths(&folders);
        assert_eq!(paths[&a], "Interviews");
        assert_eq!(paths[&b], "Interviews/Day 1");
    }
}
