//! Audit trail and custody timeline: `/v1/cases/{case}/audit*` and `/v1/cases/{case}/custody`.

use casemesh_model::audit::{AuditEntry, ChainHead};
use casemesh_model::ids::CaseId;
use casemesh_model::timeline::CustodyEvent;
use serde::{Deserialize, Serialize};
use utoipa::ToSchema;

/// A case's audit trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditTrail {
    /// Entries, oldest first.
    #[schema(value_type = Vec<Object>)]
    pub entries: Vec<AuditEntry>,
    /// The recorded end of the chain (`len`, `hash`).
    #[schema(value_type = Object)]
    pub head: ChainHead,
}

/// Result of verifying a trail.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct AuditVerify {
    /// The chain is intact.
    pub ok: bool,
    /// Entries checked.
    pub entries: u64,
    /// The first break found, if any.
    pub error: Option<String>,
}

/// A case's custody timeline: every event that moved or exposed its evidence, across
/// organizations, oldest first.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize, ToSchema)]
pub struct CustodyTimeline {
    /// The case's record id.
    #[schema(value_type = String, format = "uuid")]
    pub case: CaseId,
    /// Its Case ID (case number).
    pub case_id: String,
    /// Events, oldest first: `kind`, `org`, `user` (null for a system or another organization's
    /// node), `at` (Unix time in milliseconds, UTC), `evidence`, `details`, and `proof` —
    /// `{type: "audit", seq, hash}` (an entry of this node's hash-chained audit trail) or
    /// `{type: "signed", signed_by, signature, wire}` (a statement signed by that organization:
    /// a grant, a holding receipt or a stop acknowledgement).
    #[schema(value_type = Vec<Object>)]
    pub events: Vec<CustodyEvent>,
}
