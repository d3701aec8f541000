//! Case access lists in the store: one row per (case, principal), indexed by principal so "shared
//! with me" is one index read. The rule that decides what a user sees is pure, in
//! [`casemesh_model::access`]; this module keeps the rows and answers with them.
//!
//! One row per (case, principal, share that gave it): a principal given two parts of a case by two
//! inside shares holds both, and stopping one share takes back only its part.
//!
//! ```text
//! rec/case.access/<case>/<u|g>:<id>/<share>      CaseAccessRow (JSON)
//! idx/case.access.principal/<u|g>:<id>/…          by principal ("shared with me")
//! idx/case.access.share/<share>/…                 by share (stop an inside share)
//! ```

use crate::error::StoreError;
use crate::repo::{Store, Txn};
use crate::table::{Index, Table, TableKey};
use casemesh_model::access::{AccessEntry, Principal, Visibility, visibility};
use casemesh_model::ids::{CaseId, ShareId};
use casemesh_model::org::User;
use serde::{Deserialize, Serialize};
use std::collections::BTreeSet;

impl TableKey for Principal {
    fn to_key(&self) -> String {
        match self {
            Principal::User(u) => format!("u:{u}"),
            Principal::Group(g) => format!("g:{g}"),
        }
    }
}

/// One stored line of a case's access list.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct CaseAccessRow {
    /// The case.
    pub case: CaseId,
    /// Who may open how much of it.
    #[serde(flatten)]
    pub entry: AccessEntry,
}

const BY_PRINCIPAL: Index<CaseAccessRow> = Index::new("case.access.principal", |r| {
    Some(r.entry.principal.to_key())
});

const BY_SHARE: Index<CaseAccessRow> = Index::new("case.access.share", |r| {
    Some(share_of(&r.entry).to_string())
});

/// The share an entry came from; entries made directly count as the nil share.
fn share_of(e: &AccessEntry) -> ShareId {
    e.share.unwrap_or(ShareId::nil())
}

/// The access lists of every case: key (case, (principal, share)).
pub const CASE_ACCESS: Table<(CaseId, (Principal, ShareId)), CaseAccessRow> =
    Table::new("case.access").with_indexes(&[BY_PRINCIPAL, BY_SHARE]);

impl Store {
    /// The access list of `case` (without its owner, who is on the case record), in key order.
    pub fn case_access(&self, case: CaseId) -> Result<Vec<AccessEntry>, StoreError> {
        let mut out = Vec::new();
        self.for_each(
            &CASE_ACCESS,
            &format!("{case}/"),
            |_, row: CaseAccessRow| {
                out.push(row.entry);
                Ok::<_, StoreError>(())
            },
        )?;
        Ok(out)
    }

    /// The cases whose access list names `user` or a group `user` belongs to now (the user's
    /// "shared with me" list), sorted, each once.
    pub fn cases_shared_with(&self, user: &User) -> Result<BTreeSet<CaseId>, StoreError> {
        let mut out = BTreeSet::new();
        let principals = std::iter::once(Principal::User(user.id))
            .chain(user.groups.iter().map(|g| Principal::Group(*g)));
        for p in principals {
            for row in self.by_index(&CASE_ACCESS, &BY_PRINCIPAL, &p.to_key())? {
                out.insert(row.case);
            }
        }
        Ok(out)
    }

    /// The access rows an inside share (or a received share) gave, in every case.
    pub fn access_of_share(&self, share: ShareId) -> Result<Vec<CaseAccessRow>, StoreError> {
        self.by_index(&CASE_ACCESS, &BY_SHARE, &share.to_string())
    }

    /// How much of `case` (owned by `owner`) `user` may see: the rule of
    /// [`casemesh_model::access::visibility`] over the stored list and the current groups.
    pub fn case_visibility(
        &self,
        user: &User,
        case: CaseId,
        owner: casemesh_model::ids::UserId,
    ) -> Result<Visibility, StoreError> {
        let groups = self.groups()?;
        let entries = self.case_access(case)?;
        Ok(visibility(user, &groups, owner, &entries))
    }
}

impl Txn<'_, '_> {
    /// Put `entry` on the access list of `case` (beside the principal's entries from other
    /// shares; the same share again replaces its own entry).
    pub fn grant_case_access(
        &mut self,
        case: CaseId,
        entry: &AccessEntry,
    ) -> Result<(), StoreError> {
        self.put(
            &CASE_ACCESS,
            &(case, (entry.principal, share_of(entry))),
            &CaseAccessRow {
                case,
                entry: entry.clone(),
            },
        )
    }

    /// The entry `share` gave `principal` on the access list of `case`, if any.
    pub fn case_access_entry(
        &self,
        case: CaseId,
        principal: Principal,
        share: ShareId,
    ) -> Result<Option<AccessEntry>, StoreError> {
        Ok(self
            .get(&CASE_ACCESS, &(case, (principal, share)))?
            .map(|r: CaseAccessRow| r.entry))
    }

    /// Take back what `row` gave; returns whether it was there.
    pub fn revoke_case_access(&mut self, row: &CaseAccessRow) -> Result<bool, StoreError> {
        self.delete(
            &CASE_ACCESS,
            &(row.case, (row.entry.principal, share_of(&row.entry))),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use casemesh_model::grant::Scope;
    use casemesh_model::ids::{GroupId, UserId};
    use casemesh_model::time::Timestamp;

    fn entry(principal: Principal, scope: Scope) -> AccessEntry {
        AccessEntry::new(principal, scope, UserId::random(), Timestamp(1), None)
    }

    #[test]
    fn rows_are_found_by_case_and_by_principal_and_survive_a_reopen() {
        let dir = tempfile::tempdir().unwrap();
        let (c1, c2) = (CaseId::random(), CaseId::random());
        let team = GroupId::random();
        let mut bob = User::new("bob", "Bob");
        {
            let store = Store::open(dir.path()).unwrap();
            store
                .atomically(|txn| {
                    txn.grant_case_access(c1, &entry(Principal::User(bob.id), Scope::EntireCase))?;
                    txn.grant_case_access(c2, &entry(Principal::Group(team), Scope::EntireCase))
                })
                .unwrap();
            assert_eq!(store.case_access(c1).unwrap().len(), 1);
            assert_eq!(store.cases_shared_with(&bob).unwrap(), BTreeSet::from([c1]));
        }
        let store = Store::open(dir.path()).unwrap();
        // Joining the group adds its cases; the list follows membership.
        bob.groups.insert(team);
        assert_eq!(
            store.cases_shared_with(&bob).unwrap(),
            BTreeSet::from([c1, c2])
        );
        assert_eq!(
            store.case_visibility(&bob, c2, UserId::random()).unwrap(),
            Visibility::Whole
        );
        // Revoking removes the row and its index keys.
        let row = CaseAccessRow {
            case: c1,
            entry: entry(Principal::User(bob.id), Scope::EntireCase),
        };
        assert!(
            store
                .atomically(|txn| txn.revoke_case_access(&row))
                .unwrap()
        );
        assert_eq!(store.cases_shared_with(&bob).unwrap(), BTreeSet::from([c2]));
        assert_eq!(
            store.case_visibility(&bob, c1, UserId::random()).unwrap(),
            Visibility::None
        );
    }
}
