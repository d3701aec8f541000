//! The life of an outgoing share as a pure state machine: an [`Event`] in, the share record
//! changed and the [`Effect`]s to carry out in the same transaction out. No store, no network, no
//! clock: the engine (`outgoing.rs`) reads the record in a transaction, calls [`step`], writes the
//! record back and carries out the effects there, so a crash leaves all of a step or none.
//!
//! ```text
//!                 ItemsSent (new seq)                Receipt(seq = last sent, imported)
//!   Processing ◄───────────────────── Complete ◄──────────────────────────── Processing
//!       │  │                                                                     ▲
//!       │  └──── Failed{reason} ──► Failed                                       │ create
//!       └──────── Stopped ────────► Stopped ◄─── Stopped ─── Complete / Failed
//! ```
//!
//! Rules (property-tested below):
//! - `Stopped` is terminal: after it no event changes the status or sends anything.
//! - `Failed` ends sending (no `ItemsSent`, no `GrantSent`); only a stop moves it on.
//! - Every sequence number is taken by one event, in order (`ItemsSent` or `GrantSent`, each
//!   exactly the next one); `GrantSent` changes no status.
//! - `Complete` is reached only from `Processing`, by a receipt for exactly the last sequence
//!   number sent, with everything imported; new items sent after it make the share
//!   `Processing` again.
//! - A receipt is a partner's input: one that claims a sequence number never sent, or more items
//!   than were sent, is refused and changes nothing; one older than a receipt already taken in
//!   changes nothing either (the delivered sequence number never goes back).
//! - Every held item-list and document blob is released exactly once: by the receipt that
//!   confirms its list, or by the stop.

use crate::records::{MAX_SKIPPED_KEPT, OutgoingShare, ShareStatus};
use crate::wire::Receipt;
use casemesh_model::ids::BlobHash;
use casemesh_model::time::Timestamp;

/// Something that happens to an outgoing share.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// An item list went out under sequence number `seq` with `count` new items.
    ItemsSent {
        /// Must be the share's sequence number + 1.
        seq: u64,
        /// Items in the list.
        count: u64,
    },
    /// A new version of the grant went out under sequence number `seq` with no new items
    /// (recipients added, or a repeated share that adds none): the numbering moves on, the
    /// status does not (nothing new to hold, so a complete share stays complete).
    GrantSent {
        /// Must be the share's sequence number + 1.
        seq: u64,
    },
    /// The partner reported what it holds.
    Receipt(&'a Receipt),
    /// A message of the share can never be delivered.
    Failed {
        /// Shown in `share status`.
        reason: &'a str,
    },
    /// A second person approved a share waiting for approval (two-person approval).
    Approved,
    /// The sharer stopped the share; `revocation` is the signed revocation (wire form, hex).
    Stopped {
        /// The revocation to keep with the record.
        revocation: &'a str,
    },
}

/// What the engine carries out after a step, in the same transaction as the record.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Release the hold `share/<id>/list/<seq>` on an item-list blob.
    ReleaseList {
        /// The list's sequence number.
        seq: u64,
        /// The list blob.
        hash: BlobHash,
    },
    /// Release the hold `share/<id>/doc/<hash>` on a metadata document blob.
    ReleaseDoc {
        /// The document blob.
        hash: BlobHash,
    },
    /// The share became complete: audit it and tell the sharer.
    Completed,
    /// The share failed: audit it.
    Failed,
    /// The share stopped: audit it, end its transfers in flight, send the revocation.
    Stopped,
    /// The share was approved: queue its held offer.
    Approved,
}

/// Why an event was refused; the record is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The share is stopped or failed: nothing more is sent.
    #[error("the share is {0:?}: nothing more is sent")]
    Ended(ShareStatus),
    /// Another update took the sequence number meanwhile.
    #[error("sequence number {got} is not the next one ({expected})")]
    OutOfOrder {
        /// The share's next sequence number.
        expected: u64,
        /// The event's.
        got: u64,
    },
    /// A receipt that cannot be true.
    #[error("receipt refused: {0}")]
    BadReceipt(&'static str),
    /// The share waits for a second person's approval: nothing is sent before it.
    #[error("the share waits for approval: nothing is sent before a second person approves it")]
    AwaitingApproval,
    /// Only a share waiting for approval can be approved.
    #[error("the share is {0:?}: only a share waiting for approval can be approved")]
    NotPending(ShareStatus),
}

/// Apply `event` to `share` at `now`. On `Ok`, the record is changed and the effects are to be
/// carried out; on `Err`, nothing changed. An event that changes nothing (a second stop) returns
/// `Ok` with no effects.
pub fn step(
    share: &mut OutgoingShare,
    event: Event<'_>,
    now: Timestamp,
) -> Result<Vec<Effect>, Refused> {
    use ShareStatus::*;
    match event {
        Event::ItemsSent { seq, count } => {
            if share.status == PendingApproval {
                return Err(Refused::AwaitingApproval);
            }
            take_seq(share, seq)?;
            share.items_sent += count;
            if share.status == Complete {
                share.status = Processing;
            }
            Ok(Vec::new())
        }
        Event::GrantSent { seq } => {
            take_seq(share, seq)?;
            Ok(Vec::new())
        }
        Event::Receipt(_) if share.status == PendingApproval => {
            Err(Refused::BadReceipt("the share was never sent"))
        }
        Event::Receipt(r) => receipt(share, r, now),
        Event::Approved => {
            if share.status != PendingApproval {
                return Err(Refused::NotPending(share.status));
            }
            share.status = Processing;
            Ok(vec![Effect::Approved])
        }
        Event::Failed { reason } => {
            if matches!(share.status, Stopped | Failed) {
                return Ok(Vec::new());
            }
            share.status = Failed;
            share.failure = Some(reason.to_owned());
            Ok(vec![Effect::Failed])
        }
        Event::Stopped { revocation } => {
            if share.status == Stopped {
                return Ok(Vec::new());
            }
            share.status = Stopped;
            share.stopped_at = Some(now);
            share.revocation = Some(revocation.to_owned());
            let mut effects: Vec<Effect> = std::mem::take(&mut share.lists)
                .into_iter()
                .map(|(seq, hash)| Effect::ReleaseList { seq, hash })
                .collect();
            effects.extend(
                std::mem::take(&mut share.docs)
                    .into_iter()
                    .map(|hash| Effect::ReleaseDoc { hash }),
            );
            effects.push(Effect::Stopped);
            Ok(effects)
        }
    }
}

/// Give `seq` to a message of `share`: refused on a stopped or failed share (nothing more is
/// sent) and unless `seq` is exactly the next number; on `Ok` the share's number is `seq`.
fn take_seq(share: &mut OutgoingShare, seq: u64) -> Result<(), Refused> {
    if matches!(share.status, ShareStatus::Stopped | ShareStatus::Failed) {
        return Err(Refused::Ended(share.status));
    }
    if seq != share.seq + 1 {
        return Err(Refused::OutOfOrder {
            expected: share.seq + 1,
            got: seq,
        });
    }
    share.seq = seq;
    Ok(())
}

fn receipt(share: &mut OutgoingShare, r: &Receipt, now: Timestamp) -> Result<Vec<Effect>, Refused> {
    if r.share != share.id {
        return Err(Refused::BadReceipt("it names another share"));
    }
    if r.seq.is_some_and(|s| s > share.seq) {
        return Err(Refused::BadReceipt("it names an item list never sent"));
    }
    if r.have > share.items_sent {
        return Err(Refused::BadReceipt("it claims more items than were sent"));
    }
    if r.seq < share.delivered_seq {
        // Older than one already taken in (receipts travel in order; this one is stale).
        return Ok(Vec::new());
    }
    share.items_delivered = r.have;
    share.delivered_seq = r.seq;
    share.skipped_total = share.skipped_total.max(r.skipped_total);
    for (item, reason) in &r.skipped {
        if share.skipped.len() < MAX_SKIPPED_KEPT || share.skipped.contains_key(item) {
            share.skipped.insert(*item, reason.clone());
        }
    }
    // The partner read every list up to the receipt's: they need not be held any more.
    let mut effects = Vec::new();
    if let Some(upto) = r.seq {
        let done: Vec<u64> = share.lists.range(..=upto).map(|(k, _)| *k).collect();
        for seq in done {
            if let Some(hash) = share.lists.remove(&seq) {
                effects.push(Effect::ReleaseList { seq, hash });
            }
        }
    }
    if r.seq == Some(share.seq) && r.imported && share.status == ShareStatus::Processing {
        share.status = ShareStatus::Complete;
        share.completed_at = Some(now);
        effects.push(Effect::Completed);
    }
    Ok(effects)
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use casemesh_model::grant::{Scope, ShareMode};
    use casemesh_model::ids::{CaseId, OrgId, ShareId};
    use casemesh_model::policy::SharingPolicy;
    use proptest::prelude::*;
    use std::collections::{BTreeMap, BTreeSet};

    pub(crate) fn share() -> OutgoingShare {
        OutgoingShare {
            id: ShareId::random(),
            case: CaseId::random(),
            partner: OrgId("peer".into()),
            partner_name: "Partner".into(),
            recipients: vec![],
            scope: Scope::EntireCase,
            mode: ShareMode::Copy,
            policy: SharingPolicy::partner_copy_default(),
            message: None,
            created_by: "alice".into(),
            created_at: Timestamp(0),
            grant: String::new(),
            status: ShareStatus::Processing,
            seq: 0,
            items_sent: 10,
            items_delivered: 0,
            delivered_seq: None,
            lists: BTreeMap::from([(0, BlobHash::of(b"list 0"))]),
            docs: vec![BlobHash::of(b"doc")],
            completed_at: None,
            stopped_at: None,
            revocation: None,
            owner: None,
            failure: None,
            skipped: BTreeMap::new(),
            skipped_total: 0,
            receipt: None,
            stop_ack: None,
            onward: None,
            hops: Vec::new(),
            refused_recipients: Vec::new(),
        }
    }

    fn rc(s: &OutgoingShare, seq: Option<u64>, have: u64, imported: bool) -> Receipt {
        Receipt {
            share: s.id,
            seq,
            have,
            imported,
            skipped_total: 0,
            signed: None,
            stop_ack: None,
            skipped: vec![],
            refused_recipients: None,
        }
    }

    #[test]
    fn a_full_receipt_completes_and_new_items_reopen() {
        let mut s = share();
        let r = rc(&s, Some(0), 10, true);
        let e = step(&mut s, Event::Receipt(&r), Timestamp(5)).unwrap();
        assert_eq!(s.status, ShareStatus::Complete);
        assert_eq!(s.completed_at, Some(Timestamp(5)));
        assert!(e.contains(&Effect::Completed));
        assert!(matches!(e[0], Effect::ReleaseList { seq: 0, .. }));
        step(&mut s, Event::ItemsSent { seq: 1, count: 3 }, Timestamp(6)).unwrap();
        assert_eq!(
            (s.status, s.seq, s.items_sent),
            (ShareStatus::Processing, 1, 13)
        );
        // A receipt for the old list does not complete it again.
        let r = rc(&s, Some(0), 10, true);
        assert!(
            step(&mut s, Event::Receipt(&r), Timestamp(7))
                .unwrap()
                .is_empty()
        );
        assert_eq!(s.status, ShareStatus::Processing);
    }

    #[test]
    fn a_share_waiting_for_approval_sends_nothing_until_approved_once() {
        let mut s = share();
        s.status = ShareStatus::PendingApproval;
        assert_eq!(
            step(&mut s, Event::ItemsSent { seq: 1, count: 1 }, Timestamp(1)),
            Err(Refused::AwaitingApproval)
        );
        let r = rc(&s, Some(0), 1, true);
        assert!(step(&mut s, Event::Receipt(&r), Timestamp(1)).is_err());
        assert_eq!(s.status, ShareStatus::PendingApproval);
        assert_eq!(
            step(&mut s, Event::Approved, Timestamp(2)).unwrap(),
            vec![Effect::Approved]
        );
        assert_eq!(s.status, ShareStatus::Processing);
        assert_eq!(
            step(&mut s, Event::Approved, Timestamp(3)),
            Err(Refused::NotPending(ShareStatus::Processing))
        );
        // Stopped while waiting: terminal, and never approvable.
        let mut t = share();
        t.status = ShareStatus::PendingApproval;
        step(&mut t, Event::Stopped { revocation: "v" }, Timestamp(4)).unwrap();
        assert_eq!(
            step(&mut t, Event::Approved, Timestamp(5)),
            Err(Refused::NotPending(ShareStatus::Stopped))
        );
    }

    #[test]
    fn impossible_receipts_change_nothing() {
        let mut s = share();
        let before = format!("{s:?}");
        for (r, why) in [
            (rc(&s, Some(1), 10, true), "never sent"),
            (rc(&s, Some(0), 11, true), "more items"),
            (
                Receipt {
                    share: ShareId::random(),
                    ..rc(&s, Some(0), 1, true)
                },
                "another share",
            ),
        ] {
            let err = step(&mut s, Event::Receipt(&r), Timestamp(1)).unwrap_err();
            assert!(err.to_string().contains(why), "{err}");
            assert_eq!(format!("{s:?}"), before);
        }
    }

    #[test]
    fn a_stop_releases_every_hold_once_and_is_final() {
        let mut s = share();
        s.lists.insert(1, BlobHash::of(b"list 1"));
        s.seq = 1;
        let e = step(&mut s, Event::Stopped { revocation: "rev" }, Timestamp(9)).unwrap();
        assert_eq!(
            e.iter()
                .filter(|x| matches!(x, Effect::ReleaseList { .. }))
                .count(),
            2
        );
        assert_eq!(
            e.iter()
                .filter(|x| matches!(x, Effect::ReleaseDoc { .. }))
                .count(),
            1
        );
        assert_eq!(e.last(), Some(&Effect::Stopped));
        assert!(
            step(
                &mut s,
                Event::Stopped {
                    revocation: "again"
                },
                Timestamp(10)
            )
            .unwrap()
            .is_empty()
        );
        assert_eq!(s.revocation.as_deref(), Some("rev"));
        assert_eq!(
            step(&mut s, Event::ItemsSent { seq: 2, count: 1 }, Timestamp(11)),
            Err(Refused::Ended(ShareStatus::Stopped))
        );
        assert!(
            step(&mut s, Event::Failed { reason: "x" }, Timestamp(11))
                .unwrap()
                .is_empty()
        );
        assert_eq!(s.status, ShareStatus::Stopped);
    }

    #[derive(Debug, Clone)]
    enum Ev {
        Sent(u64, u64),
        Grant(u64),
        Receipt(Option<u64>, u64, bool),
        Fail,
        Stop,
        Approve,
    }

    fn ev() -> impl Strategy<Value = Ev> {
        prop_oneof![
            4 => (0u64..4, 0u64..5).prop_map(|(d, c)| Ev::Sent(d, c)),
            2 => (0u64..4).prop_map(Ev::Grant),
            4 => (proptest::option::of(0u64..6), 0u64..30, any::<bool>()).prop_map(|(s, h, i)| Ev::Receipt(s, h, i)),
            1 => Just(Ev::Fail),
            1 => Just(Ev::Stop),
            1 => Just(Ev::Approve),
        ]
    }

    proptest! {
        #[test]
        fn the_rules_hold_for_any_sequence_of_events(events in proptest::collection::vec(ev(), 0..40), pending in any::<bool>()) {
            let mut s = share();
            if pending {
                s.status = ShareStatus::PendingApproval;
            }
            let mut held: BTreeSet<BlobHash> = s.lists.values().copied().chain(s.docs.iter().copied()).collect();
            let mut released: Vec<BlobHash> = Vec::new();
            let mut n = 0u64;
            // The last sequence number whose list carried items (a grant sent alone carries
            // none, so a complete share stays complete past it).
            let mut items_seq = s.seq;
            for e in events {
                n += 1;
                let before = s.clone();
                let list;
                let result = match e {
                    Ev::Sent(d, c) => {
                        let seq = s.seq + d.min(1) + u64::from(d == 3);
                        let r = step(&mut s, Event::ItemsSent { seq, count: c }, Timestamp(n));
                        if r.is_ok() {
                            items_seq = seq;
                            list = BlobHash::of(&n.to_be_bytes());
                            s.lists.insert(seq, list);
                            held.insert(list);
                        }
                        r
                    }
                    Ev::Grant(d) => {
                        let seq = s.seq + d.min(1) + u64::from(d == 3);
                        let r = step(&mut s, Event::GrantSent { seq }, Timestamp(n));
                        if r.is_ok() {
                            // A new grant changes no status and holds no list.
                            prop_assert_eq!(s.status, before.status);
                            prop_assert_eq!(s.seq, before.seq + 1);
                        }
                        r
                    }
                    Ev::Receipt(seq, have, imported) => {
                        let r = rc(&s, seq, have, imported);
                        step(&mut s, Event::Receipt(&r), Timestamp(n))
                    }
                    Ev::Fail => step(&mut s, Event::Failed { reason: "r" }, Timestamp(n)),
                    Ev::Stop => step(&mut s, Event::Stopped { revocation: "v" }, Timestamp(n)),
                    Ev::Approve => step(&mut s, Event::Approved, Timestamp(n)),
                };
                match result {
                    Err(_) => prop_assert_eq!(format!("{before:?}"), format!("{s:?}")),
                    Ok(effects) => {
                        for fx in &effects {
                            match fx {
                                Effect::ReleaseList { hash, .. } | Effect::ReleaseDoc { hash } => {
                                    prop_assert!(held.remove(hash), "released twice or never held");
                                    released.push(*hash);
                                }
                                Effect::Approved => {
                                    prop_assert_eq!(before.status, ShareStatus::PendingApproval);
                                    prop_assert_eq!(s.status, ShareStatus::Processing);
                                }
                                Effect::Completed => {
                                    prop_assert_eq!(before.status, ShareStatus::Processing);
                                    prop_assert_eq!(s.delivered_seq, Some(s.seq));
                                }
                                _ => {}
                            }
                        }
                    }
                }
                // Stopped is terminal; failed never sends again.
                if before.status == ShareStatus::Stopped {
                    prop_assert_eq!(s.status, ShareStatus::Stopped);
                    prop_assert_eq!(s.seq, before.seq);
                }
                if before.status == ShareStatus::Failed {
                    prop_assert!(matches!(s.status, ShareStatus::Failed | ShareStatus::Stopped));
                    prop_assert_eq!(s.seq, before.seq);
                }
                prop_assert!(s.items_sent >= before.items_sent);
                prop_assert!(s.items_delivered <= s.items_sent);
                if s.status == ShareStatus::Complete {
                    // Everything sent with items is held by the partner.
                    prop_assert!(
                        s.delivered_seq.is_some_and(|d| d >= items_seq && d <= s.seq),
                        "complete with {:?} delivered, items up to {items_seq}, seq {}",
                        s.delivered_seq,
                        s.seq
                    );
                }
            }
            if s.status == ShareStatus::Stopped {
                prop_assert!(held.is_empty(), "a stopped share still holds {held:?}");
            }
        }
    }
}
