//! The request and response bodies of casemesh's admin API (`/v1/*`, `/healthz`, `/readyz`),
//! with their OpenAPI schemas: the one definition shared by the server (`casemesh-api`), the CLI
//! (`casemesh`) and the integration tests, so a renamed field breaks the build, not a script.
//!
//! The field names are the API's stable contract: what the CLI's `--json` prints and what
//! scripts rely on. Rename nothing; add freely (an added field deserializes as absent from an
//! older node only if it is an `Option`).
//!
//! Layout, one module per route family: [`cases`] (cases, folders, evidence), [`users`],
//! [`audit`] (audit trail, custody timeline), [`links`] (download links), [`node`] (health,
//! settings, blobs, retention), [`sharing`] (federation, partner and inside shares, received
//! shares), [`updates`] (review of a received share's updates) and [`error`] (every error
//! answer); [`verify`] is no route but the CLI's offline `casemesh verify --json` report. Each
//! response type derives `Serialize` (the server) and `Deserialize` (the clients); each request
//! type both as well. Conversions from model records are here; those from the server's records
//! are behind the `server` feature ([`server`]).
//!
//! Every field that holds a record id has the model's type for it ([`casemesh_model::ids`]:
//! `CaseId`, `EvidenceId`, `ShareId`, `OrgId`, `BlobHash`, …). They serialize as the same text
//! the `String`s did, so the JSON is unchanged; a client that reads an answer refuses a
//! malformed id at once instead of passing it on. Display ids (a case's "Case ID", an item's
//! `EV-0001`), names, folder paths and request fields that take a name *or* an id as a user
//! typed it stay `String`. The model has no `utoipa`, so those fields carry
//! `#[schema(value_type = String, …)]` (`format = "uuid"` is a custom format string: the
//! same text as utoipa's `KnownFormat::Uuid`, without its `uuid` feature).
//!
//! ```
//! use casemesh_api_types::cases::CaseSummary;
//! let json = r#"[{"id":"6f2c1a9e-0b7d-4c1e-9a55-3d2f8e7b1c40","case_id":"2026-CR-1",
//!               "title":"T","external":false,"evidence_count":0,
//!               "created_at":"2026-01-01T00:00:00Z"}]"#;
//! let cases: Vec<CaseSummary> = serde_json::from_str(json).unwrap();
//! assert_eq!(cases[0].case_id, "2026-CR-1");
//! assert_eq!(cases[0].id.to_string(), "6f2c1a9e-0b7d-4c1e-9a55-3d2f8e7b1c40");
//! ```

pub mod audit;
pub mod cases;
pub mod error;
pub mod links;
pub mod node;
#[cfg(feature = "server")]
pub mod server;
pub mod sharing;
pub mod updates;
pub mod users;
pub mod verify;

pub use audit::{AuditTrail, AuditVerify, CustodyTimeline};
pub use cases::{
    AddQuery, BatchEntry, CaseSummary, CaseView, CreateCase, EditCase, EditEvidence, EvidenceView,
    FolderRequest, ListQuery, OriginView, RetentionView, TranscriptQuery, TranscriptView,
};
pub use error::{
    CliError, CliErrorBody, CliErrorKind, ErrorBody, ErrorDetail, MAX_MESSAGE_CHARS, clip,
};
pub use links::{CreateLink, LinkOptions, LinkStatus, LinkView, PackageFormat, Progress};
pub use node::{
    BlobStats, BlobVerifyReport, EditSettings, GcReport, Health, MigrationFailure, MigrationReport,
    NodeInfo, Ready, ReadyPart, Removed, SettingsView, SpaceQuery, SpaceView, SweepReport,
};
pub use sharing::{
    AccessEntry, AddPartner, AddRecipients, CreateShare, DeadLetterView, DirectoryEntryView,
    DirectoryParams, EditPartner, HopView, IdView, InsideShareView, InsideStopView, OnwardShare,
    PartnerView, PeerView, PolicyView, PutPolicy, ReceiptView, ReceivedContentsView,
    ReceivedItemView, ReceivedQuery, ReceivedView, RecipientView, RefusedRecipientView,
    ShareInside, ShareView, SkippedView, StopAckView,
};
pub use updates::{MetaView, UpdateView};
pub use users::{
    CreateGroup, CreateUser, CreatedUser, EditUser, GroupView, NewToken, Revoked, TokenQuery,
    UserView,
};
pub use verify::{AuditAttachmentCheck, FileProblemView, PackageVerifyReport};
