//! The life of a received share (receiver side) as a pure state machine: an [`Event`] in, the
//! [`IncomingShare`] record changed and the [`Effect`]s to carry out out. No store, no network,
//! no clock (no field this machine changes is a time). The engine (`incoming.rs`) reads the
//! record in a store transaction, calls [`step`], writes the record back and carries out the
//! transactional effects (item rows, notifications, access, the offer's receipt) in that same
//! transaction, so a crash leaves all of a step or none; the other effects (start or cancel an
//! import, the receipts that need a pass over the share's items, onward stops, partial-file
//! sweeps) follow the commit, as [`Effect`] says of each.
//!
//! ```text
//!   offer ──► Pending ── ImportRequested ──► Importing ◄──── Updated (ReceiveUpdates) ───┐
//!   (auto-import) ─────────────────────────► Importing ── PassFinished ──► Imported ─────┘
//!                                                │  ▲        (more arrived meanwhile:    │
//!                                                │  └──────── Importing again)           │
//!   Pending / Importing / Imported ─────────── Stopped (sharer's revocation) ◄───────────┘
//! ```
//!
//! Rules (property-tested below):
//! - `Stopped` is terminal: the status never changes again, no update is taken in, no import
//!   starts and nothing is sent but the stop's acknowledgement. A stop that comes again (the
//!   sharer re-delivers it after a crash here) changes nothing in the record and answers with the
//!   stop's effects again, each idempotent.
//! - `Pending` is only the offer's status: once a share is importing, imported or stopped it never
//!   goes back to waiting for an import.
//! - `Imported` is reached only from `Importing`, by the end of an import pass.
//! - A partner's update older than or equal to the sequence number already taken in (a replay, or
//!   one overtaken by a later one) changes nothing and has no effect; the sequence number never
//!   goes back.
//! - A receipt is sent only for a sequence number really recorded: it names `done_seq`, which an
//!   import pass sets only when every item of the lists up to it is in the copy or skipped, which
//!   never exceeds the sequence number received and never goes back. It is signed only when it
//!   covers everything received (or answers a stop).
//! - The copy is made once: its case id, once set, never changes; none is made after a stop.
//! - The counts of items imported and skipped never go down.
//! - A refused event changes nothing.

use crate::records::{IncomingShare, ReceivedStatus};
use crate::wire::{ItemList, ManifestHead};
use casemesh_model::folder_sync::ImportMap;
use casemesh_model::grant::Recipient;
use casemesh_model::ids::CaseId;

/// Something that happens to a received share.
#[derive(Debug, Clone)]
pub enum Event<'a> {
    /// The partner's offer was checked and taken in: applied once to the new record (status
    /// `Pending`, sequence number 0, no copy). `items` is the offer's first item list.
    Offered {
        /// The offer's item list (inline: its items become rows; a blob: read by the import).
        items: &'a ItemList,
        /// Whether the copy is made now: auto-import on, the policy allows importing and the
        /// share is a copy-mode share.
        auto_import: bool,
    },
    /// The sharer sent an update (new items, new head, recipients added), checked by the caller.
    Updated(Update<'a>),
    /// Someone pressed Import (or retried one); the grant and the policy were checked by the
    /// caller.
    ImportRequested,
    /// The item list that came as a blob under sequence number `seq` was read into item rows.
    ListRead {
        /// The list's sequence number.
        seq: u64,
    },
    /// The local copy `case` was created, with the sharer's folders mapped by `map`.
    CopyCreated {
        /// The copy's case id.
        case: CaseId,
        /// Sharer folder id → copy folder id.
        map: &'a ImportMap,
    },
    /// An import pass recorded `imported` items into the copy and `skipped` items the sharer
    /// refused for good (new ones only: an item already recorded is not counted again).
    ItemsRecorded {
        /// Items added to the copy.
        imported: u64,
        /// Items recorded as skipped.
        skipped: u64,
    },
    /// An import pass ended without failure. It took in everything received up to sequence
    /// number `upto` (the share's when the pass started); `todo_empty` says no item is left to
    /// fetch. An item list up to `upto` still unread on the record keeps `done_seq` where it is.
    PassFinished {
        /// The share's sequence number when the pass started.
        upto: u64,
        /// No item is left on the share's to-do list.
        todo_empty: bool,
    },
    /// An import pass failed; it is retried (`reason` is shown in `received show`).
    ImportFailed {
        /// What went wrong.
        reason: &'a str,
    },
    /// The sharer stopped the share (its signed revocation was checked by the caller).
    Stopped,
}

/// A sharer's update as [`Event::Updated`] takes it in.
#[derive(Debug, Clone)]
pub struct Update<'a> {
    /// The update's sequence number.
    pub seq: u64,
    /// The update's grant, wire form, hex (checked by the caller).
    pub grant: &'a str,
    /// The case head as of this update (checked by the caller).
    pub head: &'a ManifestHead,
    /// The update's item list.
    pub items: &'a ItemList,
    /// Items the update brings (new or sent again).
    pub new_items: u64,
    /// Every recipient the grant names now.
    pub recipients: &'a [Recipient],
    /// The local users those resolve to (usernames).
    pub resolved_users: &'a [String],
    /// The grant's policy lets updates into an imported copy.
    pub receive_updates: bool,
}

/// What the engine carries out after a step.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Effect {
    /// Write the items of the event's inline item list as rows under sequence number `seq`, each
    /// new one on the to-do list (in the step's transaction).
    AddItems {
        /// The list's sequence number.
        seq: u64,
    },
    /// Queue the event's notifications to the recipients (in the step's transaction).
    Notify,
    /// Give `recipients`, added by the update `since`, access to the copy from that update on
    /// (in the step's transaction; only when a copy exists).
    GrantAccess {
        /// The recipients named for the first time.
        recipients: Vec<Recipient>,
        /// The update that first named them.
        since: u64,
    },
    /// Send the sharer a receipt of the record as it now stands: it names `seq` (the record's
    /// `done_seq`). `sign`: with this organization's signed holding receipt; `stop_ack`: with the
    /// signed acknowledgement of the stop. Queued in the step's transaction when it needs no pass
    /// over the share's items (the offer's, an update's), else right after the commit.
    SendReceipt {
        /// The last sequence number of which everything is in the copy or skipped.
        seq: Option<u64>,
        /// Sign a holding receipt for the items up to `seq`.
        sign: bool,
        /// Carry the signed acknowledgement of the stop.
        stop_ack: bool,
    },
    /// Start an import pass (after the commit).
    StartImport,
    /// End the share's import in flight at once (after the commit).
    CancelImport,
    /// Stop every onward share made of this share's copy (after the commit).
    StopOnward,
    /// Remove partial downloads no import needs any more (after the commit).
    CleanPartials,
}

/// Why an event was refused; the record is unchanged.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
pub enum Refused {
    /// The sharer stopped the share: nothing more is taken in or imported.
    #[error("this share was stopped")]
    Stopped,
    /// An import asked for after the sharer stopped the share, with no copy made.
    #[error("the sharer stopped this share before it was imported")]
    StoppedBeforeImport,
    /// The offer event applies only to the new record.
    #[error("the share was offered already")]
    AlreadyOffered,
    /// The copy exists already (made by an earlier pass).
    #[error("the share's copy exists already: {0}")]
    CopyExists(CaseId),
    /// An import pass that claims a sequence number never received.
    #[error("an import pass up to {upto} of a share received up to {seq}")]
    BadPass {
        /// The pass's.
        upto: u64,
        /// The share's.
        seq: u64,
    },
}

/// Apply `event` to `share`. On `Ok`, the record is changed and the effects are to be carried out
/// in order; on `Err`, nothing changed. An event that changes nothing (a replayed update) returns
/// `Ok` with no effects.
pub fn step(share: &mut IncomingShare, event: Event<'_>) -> Result<Vec<Effect>, Refused> {
    use ReceivedStatus::*;
    match event {
        Event::Offered { items, auto_import } => {
            if share.status != Pending
                || share.seq != 0
                || share.local_case.is_some()
                || !share.lists.is_empty()
                || share.done_seq.is_some()
            {
                return Err(Refused::AlreadyOffered);
            }
            let mut effects = vec![Effect::Notify];
            match items {
                ItemList::Inline(v) => {
                    if v.is_empty() {
                        share.done_seq = Some(0);
                    } else {
                        effects.insert(0, Effect::AddItems { seq: 0 });
                    }
                }
                blob @ ItemList::Blob { .. } => {
                    share.lists.insert(0, blob.clone());
                }
            }
            if auto_import {
                share.status = Importing;
                effects.push(Effect::StartImport);
            } else {
                effects.push(receipt(share, false, false));
            }
            Ok(effects)
        }
        Event::Updated(u) => {
            if share.status == Stopped {
                return Err(Refused::Stopped);
            }
            if u.seq <= share.seq {
                // Already applied (the outbox delivers in order, exactly once) or overtaken.
                return Ok(Vec::new());
            }
            let mut effects = Vec::new();
            // Recipients named for the first time by this update see what it and later updates
            // bring, not what came before (issue #12 item 5).
            let added: Vec<Recipient> = u
                .recipients
                .iter()
                .filter(|r| !share.recipients.contains(r))
                .cloned()
                .collect();
            for r in &added {
                share.recipients_since.push((r.clone(), u.seq));
            }
            if share.local_case.is_some() && !added.is_empty() {
                effects.push(Effect::GrantAccess {
                    recipients: added,
                    since: u.seq,
                });
            }
            share.grant = u.grant.to_owned();
            share.head = u.head.clone();
            share.seq = u.seq;
            match u.items {
                ItemList::Inline(_) => effects.push(Effect::AddItems { seq: u.seq }),
                blob @ ItemList::Blob { .. } => {
                    share.lists.insert(u.seq, blob.clone());
                }
            }
            share.recipients = u.recipients.to_vec();
            share.resolved_users = u.resolved_users.to_vec();
            if share.status == Imported && u.receive_updates {
                share.status = Importing;
            }
            if u.new_items > 0 {
                effects.push(Effect::Notify);
            }
            if share.status == Importing {
                effects.push(Effect::StartImport);
            } else {
                effects.push(receipt(share, false, false));
            }
            Ok(effects)
        }
        Event::ImportRequested => match share.status {
            Stopped if share.local_case.is_none() => Err(Refused::StoppedBeforeImport),
            Stopped => Ok(Vec::new()),
            Pending | Importing | Imported => {
                share.status = Importing;
                Ok(vec![Effect::StartImport])
            }
        },
        Event::ListRead { seq } => {
            share.lists.remove(&seq);
            Ok(Vec::new())
        }
        Event::CopyCreated { case, map } => {
            if let Some(c) = share.local_case {
                return Err(Refused::CopyExists(c));
            }
            if share.status == Stopped {
                return Err(Refused::Stopped);
            }
            share.local_case = Some(case);
            share.import_map = map.clone();
            Ok(Vec::new())
        }
        Event::ItemsRecorded { imported, skipped } => {
            // Recorded items are in the copy whatever the status: counted even after a stop.
            share.items_imported += imported;
            share.items_skipped += skipped;
            Ok(Vec::new())
        }
        Event::PassFinished { upto, todo_empty } => {
            if upto > share.seq {
                return Err(Refused::BadPass {
                    upto,
                    seq: share.seq,
                });
            }
            if share.status == Importing {
                share.status = Imported;
            }
            if todo_empty && !share.lists.keys().any(|k| *k <= upto) {
                share.done_seq = share.done_seq.max(Some(upto));
            }
            share.last_error = None;
            if share.status == Stopped {
                return Ok(Vec::new());
            }
            let complete = share.done_seq == Some(share.seq);
            let mut effects = vec![receipt(share, complete, false), Effect::CleanPartials];
            // Items the sharer sent while this pass ran are picked up by a second pass.
            if share.seq > upto {
                share.status = Importing;
                effects.push(Effect::StartImport);
            }
            Ok(effects)
        }
        Event::ImportFailed { reason } => {
            if share.status != Stopped {
                share.last_error = Some(reason.to_owned());
            }
            Ok(Vec::new())
        }
        Event::Stopped => {
            share.status = Stopped;
            Ok(vec![
                Effect::CancelImport,
                receipt(share, true, true),
                Effect::StopOnward,
                Effect::CleanPartials,
            ])
        }
    }
}

/// The receipt of `share` as it stands.
fn receipt(share: &IncomingShare, sign: bool, stop_ack: bool) -> Effect {
    Effect::SendReceipt {
        seq: share.done_seq,
        sign,
        stop_ack,
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::wire::{BlobRef, ManifestEvidence};
    use casemesh_model::ids::{BlobHash, EvidenceId, OrgId, ShareId};
    use casemesh_model::time::Timestamp;
    use proptest::prelude::*;

    fn head() -> ManifestHead {
        ManifestHead {
            share: ShareId::random(),
            source_case: CaseId::random(),
            case_number: "C-1".into(),
            title: "t".into(),
            description: String::new(),
            folders: vec![],
            items: 0,
            made_at: Timestamp(0),
        }
    }

    fn share() -> IncomingShare {
        IncomingShare {
            id: ShareId::random(),
            sharer: OrgId("peer".into()),
            sharer_name: "Sharer".into(),
            grant: "g0".into(),
            head: head(),
            seq: 0,
            lists: Default::default(),
            done_seq: None,
            items_imported: 0,
            items_skipped: 0,
            recipients: vec![Recipient::User("bob".into())],
            resolved_users: vec!["bob".into()],
            recipients_since: Vec::new(),
            received_at: Timestamp(0),
            local_case: None,
            import_map: Default::default(),
            status: ReceivedStatus::Pending,
            last_error: None,
            mode: casemesh_model::grant::ShareMode::Copy,
        }
    }

    fn item() -> ManifestEvidence {
        ManifestEvidence {
            id: EvidenceId::random(),
            display_id: "EV-1".into(),
            name: "a.txt".into(),
            description: String::new(),
            folder: None,
            hash: BlobHash::of(b"a"),
            size: 1,
            media_type: "text/plain".into(),
            transcripts: vec![],
        }
    }

    fn blob_list() -> ItemList {
        ItemList::Blob {
            list: BlobRef {
                hash: BlobHash::of(b"list"),
                size: 10,
            },
            count: 3,
        }
    }

    fn update<'a>(
        seq: u64,
        items: &'a ItemList,
        h: &'a ManifestHead,
        recipients: &'a [Recipient],
    ) -> Update<'a> {
        Update {
            seq,
            grant: "g1",
            head: h,
            items,
            new_items: items.count(),
            recipients,
            resolved_users: &[],
            receive_updates: true,
        }
    }

    #[test]
    fn an_offer_waits_or_imports_and_its_receipt_names_only_what_is_held() {
        let mut s = share();
        let empty = ItemList::Inline(vec![]);
        let e = step(
            &mut s,
            Event::Offered {
                items: &empty,
                auto_import: false,
            },
        )
        .unwrap();
        assert_eq!(s.status, ReceivedStatus::Pending);
        assert_eq!(s.done_seq, Some(0), "an empty offer is held whole");
        assert_eq!(
            e,
            vec![
                Effect::Notify,
                Effect::SendReceipt {
                    seq: Some(0),
                    sign: false,
                    stop_ack: false
                }
            ]
        );
        assert_eq!(
            step(
                &mut s,
                Event::Offered {
                    items: &empty,
                    auto_import: false
                }
            ),
            Err(Refused::AlreadyOffered)
        );

        let mut t = share();
        let items = ItemList::Inline(vec![item()]);
        let e = step(
            &mut t,
            Event::Offered {
                items: &items,
                auto_import: true,
            },
        )
        .unwrap();
        assert_eq!(t.status, ReceivedStatus::Importing);
        assert_eq!(t.done_seq, None);
        assert_eq!(
            e,
            vec![
                Effect::AddItems { seq: 0 },
                Effect::Notify,
                Effect::StartImport
            ]
        );

        let mut b = share();
        let list = blob_list();
        step(
            &mut b,
            Event::Offered {
                items: &list,
                auto_import: false,
            },
        )
        .unwrap();
        assert!(b.lists.contains_key(&0));
        assert_eq!(b.done_seq, None);
    }

    #[test]
    fn a_pass_imports_then_an_update_reopens_and_a_replay_changes_nothing() {
        let mut s = share();
        s.status = ReceivedStatus::Importing;
        let map = ImportMap::default();
        let case = CaseId::random();
        step(&mut s, Event::CopyCreated { case, map: &map }).unwrap();
        assert_eq!(
            step(
                &mut s,
                Event::CopyCreated {
                    case: CaseId::random(),
                    map: &map
                }
            ),
            Err(Refused::CopyExists(case))
        );
        step(
            &mut s,
            Event::ItemsRecorded {
                imported: 2,
                skipped: 1,
            },
        )
        .unwrap();
        let e = step(
            &mut s,
            Event::PassFinished {
                upto: 0,
                todo_empty: true,
            },
        )
        .unwrap();
        assert_eq!(s.status, ReceivedStatus::Imported);
        assert_eq!(
            e,
            vec![
                Effect::SendReceipt {
                    seq: Some(0),
                    sign: true,
                    stop_ack: false
                },
                Effect::CleanPartials
            ]
        );
        let (h, items) = (head(), ItemList::Inline(vec![item()]));
        let joined = [Recipient::User("bob".into()), Recipient::User("eve".into())];
        let e = step(&mut s, Event::Updated(update(1, &items, &h, &joined))).unwrap();
        assert_eq!(s.status, ReceivedStatus::Importing);
        assert_eq!(s.recipients_since, vec![(Recipient::User("eve".into()), 1)]);
        assert_eq!(
            e,
            vec![
                Effect::GrantAccess {
                    recipients: vec![Recipient::User("eve".into())],
                    since: 1
                },
                Effect::AddItems { seq: 1 },
                Effect::Notify,
                Effect::StartImport
            ]
        );
        let before = format!("{s:?}");
        let e = step(&mut s, Event::Updated(update(1, &items, &h, &joined))).unwrap();
        assert!(e.is_empty());
        assert_eq!(format!("{s:?}"), before);
        // A pass that started before the update does not claim it, and starts another.
        let e = step(
            &mut s,
            Event::PassFinished {
                upto: 0,
                todo_empty: false,
            },
        )
        .unwrap();
        assert_eq!(s.done_seq, Some(0));
        assert_eq!(s.status, ReceivedStatus::Importing);
        assert_eq!(e.last(), Some(&Effect::StartImport));
        assert!(matches!(
            e[0],
            Effect::SendReceipt {
                seq: Some(0),
                sign: false,
                ..
            }
        ));
    }

    #[test]
    fn a_stop_is_final_and_answered_again_when_repeated() {
        let mut s = share();
        let e = step(&mut s, Event::Stopped).unwrap();
        assert_eq!(
            e,
            vec![
                Effect::CancelImport,
                Effect::SendReceipt {
                    seq: None,
                    sign: true,
                    stop_ack: true
                },
                Effect::StopOnward,
                Effect::CleanPartials
            ]
        );
        let before = format!("{s:?}");
        assert_eq!(step(&mut s, Event::Stopped).unwrap(), e);
        assert_eq!(format!("{s:?}"), before);
        assert_eq!(
            step(&mut s, Event::ImportRequested),
            Err(Refused::StoppedBeforeImport)
        );
        let (h, items) = (head(), ItemList::Inline(vec![]));
        assert_eq!(
            step(&mut s, Event::Updated(update(1, &items, &h, &[]))),
            Err(Refused::Stopped)
        );
        assert!(
            step(&mut s, Event::ImportFailed { reason: "x" })
                .unwrap()
                .is_empty()
        );
        assert_eq!(s.last_error, None);
        let map = ImportMap::default();
        assert_eq!(
            step(
                &mut s,
                Event::CopyCreated {
                    case: CaseId::random(),
                    map: &map
                }
            ),
            Err(Refused::Stopped)
        );
        // With a copy made before the stop, an import changes nothing.
        s.local_case = Some(CaseId::random());
        assert!(step(&mut s, Event::ImportRequested).unwrap().is_empty());
        assert_eq!(s.status, ReceivedStatus::Stopped);
    }

    #[test]
    fn a_pass_ending_after_a_stop_neither_reopens_the_share_nor_reports() {
        // The old engine read the status after the pass, then set Importing in a second
        // transaction: a stop in between left a stopped share importing again.
        let mut s = share();
        s.status = ReceivedStatus::Importing;
        s.local_case = Some(CaseId::random());
        let (h, items) = (head(), ItemList::Inline(vec![item()]));
        step(&mut s, Event::Updated(update(1, &items, &h, &[]))).unwrap();
        step(&mut s, Event::Stopped).unwrap();
        let e = step(
            &mut s,
            Event::PassFinished {
                upto: 0,
                todo_empty: true,
            },
        )
        .unwrap();
        assert!(e.is_empty(), "{e:?}");
        assert_eq!(s.status, ReceivedStatus::Stopped);
        assert_eq!(s.done_seq, Some(0), "what the pass recorded is held");
    }

    #[derive(Debug, Clone)]
    enum Ev {
        Offer(bool, u8),
        Update(u64, u8, bool, u8),
        Import,
        ListRead(u64),
        Copy,
        Recorded(u64, u64),
        Pass(u64, bool),
        Fail,
        Stop,
    }

    fn ev() -> impl Strategy<Value = Ev> {
        prop_oneof![
            1 => (any::<bool>(), 0u8..3).prop_map(|(a, k)| Ev::Offer(a, k)),
            4 => (0u64..4, 0u8..3, any::<bool>(), 0u8..3).prop_map(|(d, k, r, n)| Ev::Update(d, k, r, n)),
            2 => Just(Ev::Import),
            2 => (0u64..6).prop_map(Ev::ListRead),
            1 => Just(Ev::Copy),
            3 => (0u64..3, 0u64..3).prop_map(|(i, s)| Ev::Recorded(i, s)),
            4 => (0u64..4, any::<bool>()).prop_map(|(back, e)| Ev::Pass(back, e)),
            1 => Just(Ev::Fail),
            1 => Just(Ev::Stop),
        ]
    }

    fn list_of(kind: u8) -> ItemList {
        match kind {
            0 => ItemList::Inline(vec![]),
            1 => ItemList::Inline(vec![item()]),
            _ => blob_list(),
        }
    }

    proptest! {
        #[test]
        fn the_rules_hold_for_any_sequence_of_events(events in proptest::collection::vec(ev(), 0..40)) {
            let mut s = share();
            let who = [
                Recipient::User("bob".into()),
                Recipient::User("eve".into()),
                Recipient::Group("desk".into()),
            ];
            let map = ImportMap::default();
            let mut seen_non_pending = false;
            for e in events {
                let before = s.clone();
                let h = head();
                let (list, result);
                match e {
                    Ev::Offer(auto, k) => {
                        list = list_of(k);
                        result = step(&mut s, Event::Offered { items: &list, auto_import: auto });
                    }
                    Ev::Update(d, k, receive, n) => {
                        // d = 0: a replay of the current sequence number; 1: the next; 2-3: later.
                        list = list_of(k);
                        let seq = if d == 0 { s.seq.saturating_sub(u64::from(s.seq > 0)) } else { s.seq + d };
                        let mut u = update(seq, &list, &h, &who[..=usize::from(n)]);
                        u.receive_updates = receive;
                        result = step(&mut s, Event::Updated(u));
                        if d == 0 {
                            prop_assert!(result.as_ref().map_or(true, |e| e.is_empty()));
                            prop_assert_eq!(format!("{before:?}"), format!("{s:?}"));
                        }
                    }
                    Ev::Import => result = step(&mut s, Event::ImportRequested),
                    Ev::ListRead(seq) => result = step(&mut s, Event::ListRead { seq }),
                    Ev::Copy => result = step(&mut s, Event::CopyCreated { case: CaseId::random(), map: &map }),
                    Ev::Recorded(i, k) => result = step(&mut s, Event::ItemsRecorded { imported: i, skipped: k }),
                    Ev::Pass(back, todo_empty) => {
                        let upto = s.seq.saturating_sub(back);
                        result = step(&mut s, Event::PassFinished { upto, todo_empty });
                        if let Ok(_) = &result
                            && s.done_seq != before.done_seq
                        {
                            prop_assert!(todo_empty, "done without an empty to-do list");
                            prop_assert!(!s.lists.keys().any(|k| *k <= upto), "done with a list unread");
                        }
                    }
                    Ev::Fail => result = step(&mut s, Event::ImportFailed { reason: "r" }),
                    Ev::Stop => result = step(&mut s, Event::Stopped),
                }
                match &result {
                    Err(_) => prop_assert_eq!(format!("{before:?}"), format!("{s:?}")),
                    Ok(effects) => {
                        for fx in effects {
                            match fx {
                                Effect::SendReceipt { seq, sign, stop_ack } => {
                                    // Only what is really recorded, as the record now says.
                                    prop_assert_eq!(*seq, s.done_seq);
                                    if *sign && !*stop_ack {
                                        prop_assert_eq!(s.done_seq, Some(s.seq));
                                    }
                                    if before.status == ReceivedStatus::Stopped {
                                        prop_assert!(*stop_ack, "a receipt after the stop");
                                    }
                                }
                                Effect::StartImport => {
                                    prop_assert_eq!(s.status, ReceivedStatus::Importing);
                                }
                                Effect::GrantAccess { since, .. } => {
                                    prop_assert!(s.local_case.is_some());
                                    prop_assert_eq!(*since, s.seq);
                                }
                                _ => {}
                            }
                        }
                    }
                }
                // Stopped is terminal.
                if before.status == ReceivedStatus::Stopped {
                    prop_assert_eq!(s.status, ReceivedStatus::Stopped);
                    prop_assert_eq!(s.seq, before.seq);
                    prop_assert_eq!(s.local_case, before.local_case);
                }
                // Never back to waiting for an import.
                seen_non_pending |= before.status != ReceivedStatus::Pending;
                if seen_non_pending {
                    prop_assert_ne!(s.status, ReceivedStatus::Pending);
                }
                // Imported only from Importing.
                if s.status == ReceivedStatus::Imported && before.status != ReceivedStatus::Imported {
                    prop_assert_eq!(before.status, ReceivedStatus::Importing);
                }
                prop_assert!(s.seq >= before.seq);
                prop_assert!(s.done_seq >= before.done_seq);
                prop_assert!(s.done_seq.is_none_or(|d| d <= s.seq));
                prop_assert!(before.local_case.is_none() || s.local_case == before.local_case);
                prop_assert!(s.items_imported >= before.items_imported);
                prop_assert!(s.items_skipped >= before.items_skipped);
            }
        }
    }
}
