//! The JSON shapes of the admin API (requests and responses), with their OpenAPI schemas.
//!
//! They are defined in `casemesh-api-types` (shared with the CLI and the tests) and re-exported
//! here so the handlers name them as before. Field names are the API's stable contract: what the
//! CLI's `--json` prints and what scripts rely on. Rename nothing; add freely.

pub use casemesh_api_types::cases::{
    CaseSummary, CaseView, EvidenceView, OriginView, RetentionView, TranscriptView,
};
pub use casemesh_api_types::users::{GroupView, UserView};
