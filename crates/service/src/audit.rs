//! Audit use cases, reached as `node.audit()`: read a case's hash-chained trail (reading it is
//! itself audited), verify the chain, and the custody timeline across organizations (issue #13
//! item 4). The caller must see the case whole.

use crate::caller::Caller;
use crate::cases::{CaseError, CaseService};
use casemesh_model::audit::{AuditEntry, ChainHead, actions};
use casemesh_model::case::Case;
use casemesh_model::timeline::CustodyEvent;
use casemesh_sharing::Engine;
use casemesh_store::{Clock, Store};

/// The result of verifying a case's audit chain.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Verified {
    /// Entries checked.
    pub entries: u64,
    /// The first break found (an edited, reordered or removed entry), as text; `None` = intact.
    pub error: Option<String>,
}

/// The audit use cases: cheap to clone. Errors are [`CaseError`] (the case's resolution and the
/// store).
#[derive(Clone)]
pub struct AuditService {
    store: Store,
    sharing: Engine,
    cases: CaseService,
    clock: Clock,
}

impl AuditService {
    /// Audit use cases over `store`; cases resolved by `cases`, custody from `sharing`.
    pub fn new(store: Store, sharing: Engine, cases: CaseService, clock: Clock) -> AuditService {
        AuditService {
            store,
            sharing,
            cases,
            clock,
        }
    }

    /// A case's trail, oldest first, and the recorded end of its chain. Reading it is recorded
    /// first (`audit.view`), so the trail returned includes the read.
    pub fn trail(
        &self,
        caller: &Caller,
        reference: &str,
    ) -> Result<(Vec<AuditEntry>, ChainHead), CaseError> {
        let case = self.cases.resolve_whole(caller, reference)?;
        self.store.audit(
            case.id,
            &caller.actor(self.clock.now()),
            actions::AUDIT_VIEW,
            None,
            "",
        )?;
        Ok(self.store.audit_trail(case.id)?)
    }

    /// Verify a case's chain: any edited, reordered or removed entry is reported.
    pub fn verify(&self, caller: &Caller, reference: &str) -> Result<Verified, CaseError> {
        let case = self.cases.resolve_whole(caller, reference)?;
        let (entries, result) = self.store.verify_audit(case.id)?;
        Ok(Verified {
            entries,
            error: result.err().map(|e| e.to_string()),
        })
    }

    /// The case's custody timeline (every event that moved or exposed its evidence, across
    /// organizations, oldest first); reading it is audited (`audit.view`, "custody timeline").
    pub fn custody(
        &self,
        caller: &Caller,
        reference: &str,
    ) -> Result<(Case, Vec<CustodyEvent>), CaseError> {
        let case = self.cases.resolve_whole(caller, reference)?;
        let events = self.sharing.custody_timeline(case.id)?;
        self.store.audit(
            case.id,
            &caller.actor(self.clock.now()),
            actions::AUDIT_VIEW,
            None,
            "custody timeline",
        )?;
        Ok((case, events))
    }
}
