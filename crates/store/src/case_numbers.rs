//! Case numbers: the "Case ID" people type (`2026-CR-0042`), kept unambiguous (issue #15 item 2).
//!
//! ## The rule
//! - **A case number given here is free or refused.** Creating a local case, or renaming one
//!   ([`Store::update_case`](crate::Store::update_case)), with a number another case already
//!   has (local, or a copy received from a partner) fails with
//!   [`StoreError::CaseNumberTaken`], naming that case; nothing is written. Every path that
//!   creates or renames a case goes through the store, so every path gets the rule.
//! - **A received copy keeps the sharer's number and is never refused for it**: the number is
//!   the partner's, and refusing would lose the share. So a copy may carry the number of a local
//!   case (it arrived later) or of another copy (two partners, or two shares of one case).
//! - **A number names the local case first** ([`pick`]): when a local case has the number, that
//!   is the one a lookup finds, so no copy arriving later can shadow it; otherwise the single
//!   copy that has it; several copies are refused with a hint listing their record ids and
//!   sharers (use the record id).
//!
//! ## The index
//! `casenum/<number>` → the ids of every case with that number (JSON list), written in the same
//! transaction as the case record, so the check above and the write it guards are atomic. The
//! index is derived data: [`rebuild`] makes it match the case records each time the store opens
//! (a data directory written before the index existed, or by an older casemesh, needs no
//! migration step).

use crate::db::{Db, Tx};
use crate::error::StoreError;
use casemesh_model::case::{Case, Origin};
use casemesh_model::ids::CaseId;
use std::collections::BTreeMap;

const PREFIX: &str = "casenum/";

/// The index key of a number: compared without regard to letter case or surrounding spaces,
/// so `2026-cr-0042` and ` 2026-CR-0042` are the number `2026-CR-0042` (people type them that
/// way; a court reads them as one).
fn index_key(number: &str) -> Vec<u8> {
    format!("{PREFIX}{}", fold(number)).into_bytes()
}

/// A case number as compared: trimmed, lower case.
pub fn fold(number: &str) -> String {
    number.trim().to_lowercase()
}

/// Who sent a received copy (`None` for a local case).
fn sharer_name(case: &Case) -> Option<String> {
    match &case.origin {
        Origin::Local => None,
        Origin::Received { sharer_name, .. } => Some(sharer_name.clone()),
    }
}

/// Whether `case` may take its number when the cases in `holders` already have it (see the
/// module doc): a received copy always may; a local case only if no other case has it.
/// Pure: the caller passes the holders.
///
/// # Errors
/// [`StoreError::CaseNumberTaken`] naming the holder (a local one first).
pub fn check_free(case: &Case, holders: &[Case]) -> Result<(), StoreError> {
    if case.is_external() {
        return Ok(());
    }
    let others = || holders.iter().filter(|h| h.id != case.id);
    let Some(taken) = others()
        .find(|h| !h.is_external())
        .or_else(|| others().next())
    else {
        return Ok(());
    };
    Err(StoreError::CaseNumberTaken {
        number: case.case_number.clone(),
        existing: taken.id,
        received_from: sharer_name(taken),
    })
}

/// The case a person means by the number `reference` among `candidates` (the cases with that
/// number the caller may see): the local one, else the only received copy. Pure.
///
/// # Errors
/// [`StoreError::NotFound`] for no candidate; [`StoreError::Conflict`] when several local cases
/// share the number (written before the rule existed) or, with no local case, several received
/// copies do: the message lists their record ids (and sharers) to use instead.
pub fn pick(reference: &str, mut candidates: Vec<Case>) -> Result<Case, StoreError> {
    let wanted = fold(reference);
    candidates.retain(|c| fold(&c.case_number) == wanted);
    let local: Vec<usize> = (0..candidates.len())
        .filter(|&i| !candidates[i].is_external())
        .collect();
    match (local.as_slice(), candidates.len()) {
        (_, 0) => Err(StoreError::NotFound(format!("case {reference:?}"))),
        ([i], _) => Ok(candidates.swap_remove(*i)),
        ([], 1) => Ok(candidates.swap_remove(0)),
        (many, _) => {
            let named: Vec<String> = candidates
                .iter()
                .filter(|c| many.is_empty() || !c.is_external())
                .map(|c| match sharer_name(c) {
                    Some(from) => format!("{} (received from {from})", c.id),
                    None => format!("{} (local)", c.id),
                })
                .collect();
            Err(StoreError::Conflict(format!(
                "{} cases have the case id {reference:?}; name one by its record id: {}",
                named.len(),
                named.join(", ")
            )))
        }
    }
}

/// The ids of the cases with `number`, inside a transaction.
pub(crate) fn holder_ids(tx: &Tx<'_>, number: &str) -> Result<Vec<CaseId>, StoreError> {
    Ok(tx.get_json(&index_key(number))?.unwrap_or_default())
}

/// The ids of the cases with `number`.
pub(crate) fn holder_ids_db(db: &Db, number: &str) -> Result<Vec<CaseId>, StoreError> {
    Ok(db.get_json(&index_key(number))?.unwrap_or_default())
}

/// Check `case`'s number against the index ([`check_free`]) and record it there, inside the
/// transaction that writes the case. `previous` is the number it had (a rename), if any.
pub(crate) fn claim(
    tx: &mut Tx<'_>,
    case: &Case,
    previous: Option<&str>,
    load: impl Fn(&Tx<'_>, CaseId) -> Result<Option<Case>, StoreError>,
) -> Result<(), StoreError> {
    // The same number in another letter case is the same number: nothing to claim.
    if previous.map(fold) == Some(fold(&case.case_number)) {
        return Ok(());
    }
    let mut ids = holder_ids(tx, &case.case_number)?;
    let mut holders = Vec::with_capacity(ids.len());
    for id in &ids {
        holders.extend(load(tx, *id)?);
    }
    check_free(case, &holders)?;
    if let Some(old) = previous {
        let mut old_ids = holder_ids(tx, old)?;
        old_ids.retain(|id| *id != case.id);
        if old_ids.is_empty() {
            tx.remove(&index_key(old))?;
        } else {
            tx.put_json(&index_key(old), &old_ids)?;
        }
    }
    if !ids.contains(&case.id) {
        ids.push(case.id);
        tx.put_json(&index_key(&case.case_number), &ids)?;
    }
    Ok(())
}

/// Make the index match the case records (see the module doc); writes only what differs.
pub(crate) fn rebuild(db: &Db) -> Result<(), StoreError> {
    let mut want: BTreeMap<Vec<u8>, Vec<CaseId>> = BTreeMap::new();
    for case in db.scan_json::<Case>(b"case/")? {
        want.entry(index_key(&case.case_number))
            .or_default()
            .push(case.id);
    }
    let mut stale = Vec::new();
    for key in db.scan_keys(PREFIX.as_bytes()) {
        let key = key?;
        let have: Option<Vec<CaseId>> = db.get_json(&key)?;
        match want.get(&key) {
            Some(ids) if have.as_ref().is_some_and(|h| same_ids(h, ids)) => {
                want.remove(&key);
            }
            Some(_) => {}
            None => stale.push(key),
        }
    }
    if want.is_empty() && stale.is_empty() {
        return Ok(());
    }
    db.transact(|tx| {
        for k in &stale {
            tx.remove(k)?;
        }
        for (k, ids) in &want {
            tx.put_json(k, ids)?;
        }
        Ok(())
    })
}

fn same_ids(a: &[CaseId], b: &[CaseId]) -> bool {
    a.len() == b.len() && a.iter().all(|x| b.contains(x))
}

#[cfg(test)]
mod tests {
    use super::*;
    use casemesh_model::ids::{OrgId, ShareId, UserId};
    use casemesh_model::time::Timestamp;

    fn local(number: &str) -> Case {
        Case::new(number, "t", "", UserId::random(), Timestamp(0))
    }

    fn received(number: &str, from: &str) -> Case {
        let mut c = local(number);
        c.origin = Origin::Received {
            sharer: OrgId("peer".into()),
            sharer_name: from.into(),
            share: ShareId::random(),
            source_case: CaseId::random(),
            received_at: Timestamp(0),
        };
        c
    }

    #[test]
    fn a_local_number_is_refused_when_any_case_has_it() {
        let existing = local("C-1");
        let new = local("C-1");
        match check_free(&new, std::slice::from_ref(&existing)) {
            Err(StoreError::CaseNumberTaken {
                number,
                existing: e,
                received_from: None,
            }) => assert_eq!((number.as_str(), e), ("C-1", existing.id)),
            other => panic!("{other:?}"),
        }
        let copy = received("C-1", "Metro Police");
        let err = check_free(&new, std::slice::from_ref(&copy)).unwrap_err();
        assert!(
            err.to_string().contains("received from Metro Police"),
            "{err}"
        );
        // The local holder is named before a copy.
        match check_free(&new, &[copy.clone(), existing.clone()]) {
            Err(StoreError::CaseNumberTaken { existing: e, .. }) => assert_eq!(e, existing.id),
            other => panic!("{other:?}"),
        }
        // A case does not collide with itself; a free number is free.
        assert!(check_free(&existing, std::slice::from_ref(&existing)).is_ok());
        assert!(check_free(&new, &[]).is_ok());
    }

    #[test]
    fn a_received_copy_is_never_refused_for_its_number() {
        assert!(check_free(&received("C-1", "A"), &[local("C-1"), received("C-1", "B")]).is_ok());
    }

    #[test]
    fn a_number_names_the_local_case_first() {
        let mine = local("C-1");
        let copy = received("C-1", "Metro Police");
        let other = local("C-2");
        let all = vec![copy.clone(), mine.clone(), other];
        assert_eq!(pick("C-1", all.clone()).unwrap().id, mine.id);
        assert_eq!(pick("C-1", vec![copy.clone()]).unwrap().id, copy.id);
        assert!(matches!(pick("C-3", all), Err(StoreError::NotFound(_))));
    }

    #[test]
    fn numbers_differing_in_letter_case_or_spaces_are_one_number() {
        let l = local("2026-CR-0042");
        let e = check_free(&local("2026-cr-0042"), std::slice::from_ref(&l)).unwrap_err();
        assert!(matches!(e, StoreError::CaseNumberTaken { .. }), "{e}");
        assert_eq!(fold(" 2026-CR-0042 "), fold("2026-cr-0042"));
        assert_eq!(pick("2026-cr-0042", vec![l.clone()]).unwrap().id, l.id);
    }

    #[test]
    fn several_copies_are_refused_with_their_record_ids() {
        let a = received("C-1", "Metro Police");
        let b = received("C-1", "State Police");
        let err = pick("C-1", vec![a.clone(), b.clone()])
            .unwrap_err()
            .to_string();
        for part in [a.id.to_string(), b.id.to_string(), "State Police".into()] {
            assert!(err.contains(&part), "{err}");
        }
        // Two local cases (from before the rule) are named, the copy is not.
        let (x, y) = (local("C-1"), local("C-1"));
        let err = pick("C-1", vec![x.clone(), a.clone(), y.clone()])
            .unwrap_err()
            .to_string();
        assert!(err.starts_with("2 cases"), "{err}");
        assert!(!err.contains(&a.id.to_string()), "{err}");
    }
}
