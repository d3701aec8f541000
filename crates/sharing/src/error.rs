//! The sharing engine's error type: expected refusals (not found, invalid, forbidden, conflict)
//! kept apart from store and network failures, and the one place that decides what a partner is
//! told about one ([`SharingError::wire_status`]). Every refusal is typed, not free text: a "not
//! found" names what is missing and by which id or reference ([`Missing`]), bad input what is
//! wrong with it ([`Bad`]), a refusal by grant, policy or state which rule says no
//! ([`NotAllowed`]), a clash with existing state which state ([`Clash`]). Each carries the ids
//! and the underlying error it is about, and its `Display` is the whole message users (and
//! partners, in a `Rejected` status) see.

use std::fmt;

use casemesh_meta::fields::FieldParseError;
use casemesh_meta::{ApplyError, FieldRef, MetaError};
use casemesh_model::case::FolderError;
use casemesh_model::grant::{DecodeError, GrantError, Recipient};
use casemesh_model::ids::{CaseId, EvidenceId, OrgId, ShareId};
use casemesh_model::names::{NameError, TextError};
use casemesh_model::policy::PolicyAction;
use casemesh_net::{ControlStatus, MessageKind, NetError};
use casemesh_store::StoreError;

use crate::lifecycle::Refused as ShareRefused;
use crate::records::ShareStatus;
use crate::wire::PayloadError;

/// What can go wrong in the sharing engine.
#[derive(Debug, thiserror::Error)]
#[non_exhaustive]
pub enum SharingError {
    /// No such partner, share, case or evidence: [`Missing`] says which, by its id or the
    /// reference a user typed.
    #[error("{0}")]
    NotFound(Missing),
    /// Bad input, from a user or a partner: [`Bad`] says what is wrong with it.
    #[error("{0}")]
    Invalid(Bad),
    /// Not allowed by the grant, the policy or the share's state: [`NotAllowed`] says which.
    #[error("{0}")]
    Forbidden(NotAllowed),
    /// Clashes with existing state (a partner name taken, a share already stopped): [`Clash`]
    /// says with what.
    #[error("{0}")]
    Conflict(Clash),
    /// A partner could not take a message or answer a question now: [`Unavailable`] says which.
    /// Not a refusal: the outbox sends the message again, a caller is told to retry (503).
    #[error("{0}")]
    Unavailable(Unavailable),
    /// This node failed internally (a task panicked, no randomness). Never reported to a partner
    /// as a refusal: the partner retries.
    #[error("internal error: {0}")]
    Internal(String),
    /// The store failed.
    #[error(transparent)]
    Store(#[from] StoreError),
    /// The network failed (boxed: network errors are large and rare).
    #[error("network: {0}")]
    Net(Box<NetError>),
}

impl From<NetError> for SharingError {
    fn from(e: NetError) -> Self {
        SharingError::Net(Box::new(e))
    }
}

impl SharingError {
    /// Whether this is a refusal that will not change on retry (bad input, not allowed, no such
    /// thing, a clash): the partner is told `Rejected`, a caller gets a 4xx. Everything else
    /// (store, network, internal) is worth retrying.
    pub fn is_refusal(&self) -> bool {
        match self {
            SharingError::NotFound(_)
            | SharingError::Invalid(_)
            | SharingError::Forbidden(_)
            | SharingError::Conflict(_) => true,
            // No such record, a taken name or case number: the data's answer, the same on
            // every retry ([`StoreError::is_refusal`]).
            SharingError::Store(e) => e.is_refusal(),
            _ => false,
        }
    }

    /// What a partner is told when this node could not apply its control message: the one
    /// place the wire refusal decision is made (every answer to a partner's control message
    /// goes through it). A refusal ([`SharingError::is_refusal`]) is `Rejected` with the
    /// message: the partner's outbox drops the message for good. Anything else is `Failed`:
    /// the partner keeps the message and sends it again, so an internal fault here never
    /// becomes a permanent rejection there (docs/protocol.md, "Control statuses").
    pub fn wire_status(&self) -> ControlStatus {
        if self.is_refusal() {
            ControlStatus::Rejected(self.to_string())
        } else {
            ControlStatus::Failed(self.to_string())
        }
    }
}

/// What a [`SharingError::NotFound`] did not find, with the typed id (or, where a user names
/// it by text, the reference as typed) it was looked up by. Its `Display` is the whole message
/// users see, of the form `share "ID" not found` (ids and references in double quotes, as the
/// other not-found errors of the node say it).
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Missing {
    /// An outgoing share of this node.
    Share(ShareId),
    /// A share id as a caller typed it, naming no outgoing share; text that is no share id at
    /// all reads the same (a malformed id and an unknown one are told apart by no one).
    ShareText(String),
    /// A share this node received.
    ReceivedShare(ShareId),
    /// A received share as a user referred to it (share id, the copy's case id or Case ID, or
    /// the sharer's case number), matching none.
    ReceivedShareText(String),
    /// A registered partner, by org id.
    Partner(OrgId),
    /// A registered partner as a user named it (display name or PeerId), matching none.
    PartnerText(String),
    /// A sharing policy, by name (policies have no other id).
    Policy(String),
    /// A case of this node.
    Case(CaseId),
    /// An item of received share `share` as a user named it (the sharer's evidence id, display
    /// id or name), matching none the user may see.
    ReceivedItem {
        /// The received share.
        share: ShareId,
        /// The name as typed.
        name: String,
    },
    /// The local copy of the sharer's item `evidence` of received share `share` (not imported,
    /// or deleted from the copy).
    CopyEvidence {
        /// The received share.
        share: ShareId,
        /// The sharer's evidence id.
        evidence: EvidenceId,
    },
    /// The local copy of received share `.0`, which no longer exists (deleted).
    Copy(ShareId),
    /// The local copy of received share `.0`, which was not imported yet.
    NotImported(ShareId),
    /// A local user to own a new copy: no recipient of the share is a local user and no user
    /// administers this node.
    CopyOwner,
    /// An item the sharer no longer serves (deleted, or out of the share's scope), with the
    /// sharer's reason as it gave it.
    AtSharer {
        /// The sharer's refusal reason.
        reason: String,
    },
}

impl fmt::Display for Missing {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Missing::Share(id) => write!(f, "share \"{id}\" not found"),
            Missing::ShareText(text) => write!(f, "share {text:?} not found"),
            Missing::ReceivedShare(id) => write!(f, "received share \"{id}\" not found"),
            Missing::ReceivedShareText(text) => write!(f, "received share {text:?} not found"),
            Missing::Partner(org) => write!(f, "partner \"{org}\" not found"),
            Missing::PartnerText(text) => write!(f, "partner {text:?} not found"),
            Missing::Policy(name) => write!(f, "sharing policy {name:?} not found"),
            Missing::Case(id) => write!(f, "case \"{id}\" not found"),
            Missing::ReceivedItem { share, name } => {
                write!(f, "evidence {name:?} in received share \"{share}\" not found")
            }
            Missing::CopyEvidence { share, evidence } => write!(
                f,
                "evidence \"{evidence}\" of received share \"{share}\" not found in the local copy"
            ),
            Missing::Copy(share) => {
                write!(f, "the local copy of received share \"{share}\" not found")
            }
            Missing::NotImported(share) => write!(
                f,
                "the local copy of received share \"{share}\" not found: it was not imported yet (import it first: casemesh received import {share})"
            ),
            Missing::CopyOwner => f.write_str(
                "a local owner for the copy not found (no recipient is a local user and no user administers this node)",
            ),
            Missing::AtSharer { reason } => {
                write!(f, "the item was not found at the sharer, which no longer serves it: {reason}")
            }
        }
    }
}

impl From<Missing> for SharingError {
    fn from(m: Missing) -> Self {
        SharingError::NotFound(m)
    }
}

/// Which signed custody statement a partner sent (see `custody.rs`): the statement variants of
/// [`Bad`] name it, as `holding receipt` or `stop acknowledgement`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Statement {
    /// A signed holding receipt: what the partner holds of a share at a sequence number.
    HoldingReceipt,
    /// A signed stop acknowledgement: the partner's answer to a stop.
    StopAck,
}

impl fmt::Display for Statement {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Statement::HoldingReceipt => "holding receipt",
            Statement::StopAck => "stop acknowledgement",
        })
    }
}

/// A way a received case may be passed on, each needing its own actions of the sharer's policy
/// (`Engine::onward_grant` checks every onward path; seed "Onward sharing of a received case").
/// Its `Display` names the way as a refusal says it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
#[non_exhaustive]
pub enum Onward {
    /// To another partner organization (`casemesh received share`): needs `share_onward` and
    /// `share_onward_external`.
    ToPartner,
    /// Inside this organization (a user or group given the copy): needs `share_onward`.
    Inside,
    /// Outside this organization by other means than a partner share (a download link): needs
    /// `share_onward` and `share_onward_external`.
    Outside,
}

impl Onward {
    /// The policy actions this way of passing a case on needs, every one of them.
    pub fn actions(self) -> &'static [PolicyAction] {
        match self {
            Onward::Inside => &[PolicyAction::ShareOnward],
            Onward::ToPartner | Onward::Outside => {
                &[PolicyAction::ShareOnward, PolicyAction::ShareOnwardExternal]
            }
        }
    }
}

impl fmt::Display for Onward {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Onward::ToPartner => "sharing this case onward to another organization",
            Onward::Inside => "sharing this case onward",
            Onward::Outside => "handing this case outside this organization",
        })
    }
}

/// What is wrong with the input of a [`SharingError::Invalid`]: a user's (a recipient, a
/// partner's name or address, a selection of fields) or a partner's (a manifest, a grant, a
/// signed statement, a metadata change), with the ids it concerns and the underlying error where
/// there is one. Its `Display` is the whole message users and partners see.
#[derive(Debug)]
#[non_exhaustive]
pub enum Bad {
    /// A partner's manifest has a folder tree a local case may not have (depth, count, names,
    /// a cycle: `Case::check_folder_tree`).
    ManifestFolders(FolderError),
    /// A partner's manifest has a case number, title, description or message over its limit
    /// or with control characters (`names::check_line`, `names::check_text`).
    ManifestText(TextError),
    /// A partner's manifest has a case number people cannot read or tell apart; the text is
    /// `names::case_number_problem`'s.
    ManifestCaseNumber(String),
    /// A partner's manifest names another share or source case than the grant it came with.
    ManifestNotOfGrant {
        /// The grant's share.
        share: ShareId,
    },
    /// A partner's item has a name a local item may not have (`names::validate_name`).
    ItemName {
        /// The sharer's evidence id.
        item: EvidenceId,
        /// Why.
        error: NameError,
    },
    /// A partner's item has a display id, description or media type over its limit or with
    /// control characters.
    ItemText {
        /// The sharer's evidence id.
        item: EvidenceId,
        /// Why.
        error: TextError,
    },
    /// A partner's item has a transcript with a name a local file may not have.
    TranscriptName {
        /// The sharer's evidence id.
        item: EvidenceId,
        /// Why.
        error: NameError,
    },
    /// A grant that is not hex.
    GrantNotHex(hex::FromHexError),
    /// A grant that does not decode.
    Grant(DecodeError),
    /// A partner's share names recipients this organization does not know, each with the
    /// reason (see `recipients`: the share is refused rather than handed to nobody).
    UnknownRecipients(Vec<(Recipient, &'static str)>),
    /// A partner's offer carries a metadata document that does not load.
    MalformedMetaDocument(Box<MetaError>),
    /// Bytes carried inline that are not hex.
    CarriedNotHex(hex::FromHexError),
    /// A carried document larger than this node fetches.
    CarriedTooLarge {
        /// Its announced size, bytes.
        size: u64,
        /// The limit, bytes.
        max: u64,
    },
    /// A stored sharer org id that is not a PeerId.
    SharerId(OrgId),
    /// A revocation that is not hex.
    RevocationNotHex(hex::FromHexError),
    /// A revocation that does not decode.
    Revocation(DecodeError),
    /// A signed statement that is not hex.
    StatementNotHex {
        /// Which statement.
        what: Statement,
        /// The decode error.
        error: hex::FromHexError,
    },
    /// A signed statement that does not decode.
    StatementUndecodable {
        /// Which statement.
        what: Statement,
        /// Why.
        error: DecodeError,
    },
    /// A signed statement whose signature does not verify.
    StatementSignature {
        /// Which statement.
        what: Statement,
        /// Why.
        error: GrantError,
    },
    /// A signed statement not signed by the share's partner (a forger, or another partner).
    StatementSigner {
        /// Which statement.
        what: Statement,
        /// Who signed it.
        signer: OrgId,
        /// The share's partner.
        partner: OrgId,
    },
    /// A signed statement about another share than the one it came for.
    StatementOtherShare {
        /// Which statement.
        what: Statement,
        /// The share it came for.
        share: ShareId,
        /// The share it names.
        named: ShareId,
    },
    /// A signed holding receipt for another sequence number than the receipt carrying it.
    ReceiptSeq {
        /// The share.
        share: ShareId,
        /// The signed statement's sequence number.
        signed: u64,
        /// The receipt's.
        receipt: Option<u64>,
    },
    /// A stop acknowledgement for a share this node never stopped.
    StopAckNotStopped {
        /// The share.
        share: ShareId,
    },
    /// A stop acknowledgement naming another revocation than the one this node sent.
    StopAckOtherRevocation {
        /// The share.
        share: ShareId,
    },
    /// The engine was started on a net layer of another organization (another secret).
    NetworkOfOtherOrg {
        /// The net layer's organization.
        network: OrgId,
        /// The engine's.
        engine: OrgId,
    },
    /// A control message larger than a partner accepts (`wire::MAX_PAYLOAD`): nothing that can
    /// never be delivered enters the outbox.
    MessageTooLarge {
        /// The message's kind.
        kind: MessageKind,
        /// Its size, bytes.
        len: usize,
        /// The limit, bytes.
        max: usize,
    },
    /// A control message's or answer's payload that does not decode.
    Payload(PayloadError),
    /// A directory query longer than a partner answers.
    QueryTooLong {
        /// Its length, bytes.
        len: usize,
        /// The limit, bytes.
        max: usize,
    },
    /// A partner address that is not a multiaddr, as typed.
    Multiaddr(String),
    /// An org id that is not a PeerId, as typed.
    PeerId(String),
    /// A partner name a name may not be (`names::validate_name`).
    PartnerName(NameError),
    /// This node's own org id given as a partner's.
    OwnPartner(OrgId),
    /// A sharing policy name a name may not be.
    PolicyName(NameError),
    /// A recipient that is empty, too long or has control characters, as typed.
    Recipient(String),
    /// A recipient `kind:` with nothing after the colon, as typed.
    RecipientNoName(String),
    /// A share of folders and evidence items at once.
    FoldersAndEvidence,
    /// The case root named as a folder to share.
    RootFolder {
        /// The path as typed.
        path: String,
    },
    /// A folder path to share that is bad or names no folder.
    Folder(FolderError),
    /// An evidence reference to share that names no item of the case (or the store failed
    /// resolving it; boxed: store errors are large).
    EvidenceRef {
        /// The reference as typed.
        reference: String,
        /// Why.
        error: Box<StoreError>,
    },
    /// An onward grant that is not hex.
    OnwardGrantNotHex(hex::FromHexError),
    /// An onward grant that does not decode.
    OnwardGrant(DecodeError),
    /// An onward grant whose chain does not verify.
    OnwardGrantRefused {
        /// The onward share.
        share: ShareId,
        /// Why.
        error: GrantError,
    },
    /// A share of selected evidence of which none may leave (all marked do not disclose):
    /// nothing would ever arrive.
    NothingMayLeave {
        /// The case.
        case: CaseId,
    },
    /// A share, or an addition to one, with no recipient.
    NoRecipient,
    /// A share message over its limit or with control characters.
    Message(TextError),
    /// A partner's receipt that cannot be true of the share (its state machine refuses it).
    Receipt {
        /// The share.
        share: ShareId,
        /// The state machine's refusal.
        refused: ShareRefused,
    },
    /// A partner's access event with a user name over its limit or with control characters.
    AccessEventUser(TextError),
    /// A partner's access event naming no user.
    AccessEventNoUser {
        /// The share.
        share: ShareId,
    },
    /// A partner's access event naming an item that was never sent under the share.
    AccessEventItem {
        /// The share.
        share: ShareId,
        /// The item named.
        evidence: EvidenceId,
    },
    /// A partner's metadata changes that do not decode or apply.
    MetaDocument(Box<MetaError>),
    /// A partner's metadata changes that are not hex.
    MetaDocumentNotHex(hex::FromHexError),
    /// A partner's metadata changes that depend on changes this node never received: nothing
    /// merged.
    MissingChanges {
        /// Who sent them (the partner's or sharer's name).
        from: String,
        /// How many changes wait.
        changes: usize,
    },
    /// A share with no metadata document.
    NoMetaDocument {
        /// The share.
        share: ShareId,
    },
    /// A partner's edit carried as a blob: edits travel inline.
    EditNotInline {
        /// The share.
        share: ShareId,
    },
    /// The grant of a received share, as stored, that does not decode.
    ReceivedGrant {
        /// The received share.
        share: ShareId,
        /// Why.
        error: DecodeError,
    },
    /// A selection of updates to apply or dismiss that names a field without an update, or
    /// selects nothing (`casemesh_meta::ApplyError`, but for a tab the policy forbids).
    Apply(ApplyError),
    /// Text that is not a metadata field path.
    Field(FieldParseError),
    /// Fields named and all or a tab chosen at once.
    FieldsAndChoice,
    /// A selection of updates that selects nothing.
    NothingSelected,
    /// A sharer's value that the field does not accept (partner input, checked as a value
    /// typed here: `casemesh_meta::check_value`).
    SharerValue {
        /// The field.
        field: FieldRef,
        /// Why (`check_value`'s text).
        why: String,
    },
    /// A dismissal that names no field.
    NoFieldsToDismiss,
    /// A value its field does not accept (`casemesh_meta::check_value`).
    Value {
        /// The field.
        field: FieldRef,
        /// Why (`check_value`'s text).
        why: String,
    },
    /// A field the received share's document does not hold.
    NoSuchField {
        /// The received share.
        share: ShareId,
        /// The field.
        field: FieldRef,
    },
    /// An item list line longer than `wire::MAX_LIST_LINE`, or the last one unterminated.
    ListLineTooLong {
        /// The line, from 1.
        line: u64,
        /// The limit, bytes.
        max: usize,
    },
    /// An item list line that is not an item.
    ListLine {
        /// The line, from 1.
        line: u64,
        /// Why.
        error: serde_json::Error,
    },
    /// An item list with more items than announced.
    ListTooLong {
        /// How many were announced.
        announced: u64,
    },
    /// An item list with another number of items than announced.
    ListCount {
        /// How many it holds.
        found: u64,
        /// How many were announced.
        announced: u64,
    },
}

impl fmt::Display for Bad {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Bad::ManifestFolders(e) => write!(f, "manifest folders: {e}"),
            Bad::ManifestText(e) => write!(f, "manifest: {e}"),
            Bad::ManifestCaseNumber(why) => write!(f, "manifest: {why}"),
            Bad::ManifestNotOfGrant { .. } => f.write_str("manifest does not match its grant"),
            Bad::ItemName { item, error } => write!(f, "item {item} name: {error}"),
            Bad::ItemText { item, error } => write!(f, "item {item} text: {error}"),
            Bad::TranscriptName { item, error } => {
                write!(f, "item {item} transcript name: {error}")
            }
            Bad::GrantNotHex(_) => f.write_str("grant is not hex"),
            Bad::Grant(e) => write!(f, "grant: {e}"),
            Bad::UnknownRecipients(unknown) => {
                let list: Vec<String> = unknown
                    .iter()
                    .map(|(r, why)| format!("{} ({why})", crate::recipients::label(r)))
                    .collect();
                write!(
                    f,
                    "unknown recipient{} at the receiving organization: {}",
                    if list.len() == 1 { "" } else { "s" },
                    list.join(", ")
                )
            }
            Bad::MalformedMetaDocument(_) => f.write_str("malformed metadata document"),
            Bad::CarriedNotHex(_) => f.write_str("carried bytes are not hex"),
            Bad::CarriedTooLarge { size, max } => {
                write!(
                    f,
                    "a carried document of {size} bytes is over the {max} limit"
                )
            }
            Bad::SharerId(_) => f.write_str("bad sharer id"),
            Bad::RevocationNotHex(_) => f.write_str("revocation is not hex"),
            Bad::Revocation(e) => write!(f, "revocation: {e}"),
            Bad::StatementNotHex { what, .. } => write!(f, "{what} refused: it is not hex"),
            Bad::StatementUndecodable { what, error } => write!(f, "{what} refused: {error}"),
            Bad::StatementSignature { what, error } => write!(f, "{what} refused: {error}"),
            Bad::StatementSigner { what, .. } => {
                write!(f, "{what} refused: it is not signed by the share's partner")
            }
            Bad::StatementOtherShare { what, .. } => {
                write!(f, "{what} refused: it names another share")
            }
            Bad::ReceiptSeq { .. } => {
                f.write_str("holding receipt refused: its sequence number is not the receipt's")
            }
            Bad::StopAckNotStopped { .. } => {
                f.write_str("stop acknowledgement refused: this share was not stopped")
            }
            Bad::StopAckOtherRevocation { .. } => f.write_str(
                "stop acknowledgement refused: it names another revocation than the one sent",
            ),
            Bad::NetworkOfOtherOrg { network, engine } => write!(
                f,
                "the net layer was started for organization {network}, the engine is {engine}"
            ),
            Bad::MessageTooLarge { kind, len, max } => write!(
                f,
                "the {} message for this share would be {len} bytes, over the {max} bytes a \
                 partner accepts in one message; share fewer items or shorter descriptions",
                kind.as_str()
            ),
            Bad::Payload(e) => write!(f, "{e}"),
            Bad::QueryTooLong { max, .. } => write!(f, "query is longer than {max} bytes"),
            Bad::Multiaddr(text) => {
                write!(
                    f,
                    "not a multiaddr: {text:?} (e.g. /ip4/127.0.0.1/tcp/4001)"
                )
            }
            Bad::PeerId(text) => write!(f, "not a PeerId: {text:?}"),
            Bad::PartnerName(e) => write!(f, "partner name: {e}"),
            Bad::OwnPartner(_) => f.write_str("a node cannot be its own partner"),
            Bad::PolicyName(e) => write!(f, "policy name: {e}"),
            Bad::Recipient(text) => write!(f, "invalid recipient {text:?}"),
            Bad::RecipientNoName(text) => {
                write!(
                    f,
                    "invalid recipient {text:?}: a name must follow the colon"
                )
            }
            Bad::FoldersAndEvidence => {
                f.write_str("share either folders or evidence items, not both")
            }
            Bad::RootFolder { .. } => {
                f.write_str("the root is not a folder: omit --folder to share the entire case")
            }
            Bad::Folder(e) => write!(f, "{e}"),
            Bad::EvidenceRef { error, .. } => write!(f, "{error}"),
            Bad::OnwardGrantNotHex(_) => f.write_str("onward grant is not hex"),
            Bad::OnwardGrant(e) => write!(f, "onward grant: {e}"),
            Bad::OnwardGrantRefused { error, .. } => write!(f, "onward grant refused: {error}"),
            Bad::NothingMayLeave { .. } => {
                f.write_str("none of the selected evidence may leave (marked do not disclose)")
            }
            Bad::NoRecipient => f.write_str("name at least one recipient (--to)"),
            Bad::Message(e) => write!(f, "{e}"),
            Bad::Receipt { refused, .. } => write!(f, "{refused}"),
            Bad::AccessEventUser(e) => write!(f, "access event: {e}"),
            Bad::AccessEventNoUser { .. } => f.write_str("access event names no user"),
            Bad::AccessEventItem { share, evidence } => {
                write!(
                    f,
                    "access event: {evidence} is not an item of share {share}"
                )
            }
            Bad::MetaDocument(e) => write!(f, "metadata document: {e}"),
            Bad::MetaDocumentNotHex(e) => write!(f, "metadata document: {e}"),
            Bad::MissingChanges { from, changes } => write!(
                f,
                "{changes} metadata change(s) from {from} depend on changes this node never \
                 received (an earlier message was refused or lost): nothing merged; the \
                 documents differ until the missing changes are sent again"
            ),
            Bad::NoMetaDocument { .. } => f.write_str("no metadata document for this share"),
            Bad::EditNotInline { .. } => f.write_str("a partner's edits travel inline"),
            Bad::ReceivedGrant { error, .. } => write!(f, "{error}"),
            Bad::Apply(e) => write!(f, "{e}"),
            Bad::Field(e) => write!(f, "{e}"),
            Bad::FieldsAndChoice => f.write_str("name fields, or choose all or a tab, not both"),
            Bad::NothingSelected => {
                f.write_str("select updates to apply (--field, --tab or --all)")
            }
            Bad::SharerValue { field, why } => write!(f, "the sharer's {field}: {why}"),
            Bad::NoFieldsToDismiss => f.write_str("name the fields to dismiss"),
            Bad::Value { field, why } => write!(f, "{field}: {why}"),
            Bad::NoSuchField { field, .. } => write!(f, "this share has no field {field}"),
            Bad::ListLineTooLong { line, max } => write!(
                f,
                "item list line {line} is longer than {max} bytes or unterminated"
            ),
            Bad::ListLine { line, error } => write!(f, "item list line {line}: {error}"),
            Bad::ListTooLong { announced } => write!(
                f,
                "item list holds more than the {announced} items announced"
            ),
            Bad::ListCount { found, announced } => {
                write!(f, "item list holds {found} items, {announced} announced")
            }
        }
    }
}

impl From<Bad> for SharingError {
    fn from(b: Bad) -> Self {
        SharingError::Invalid(b)
    }
}

/// Which rule refuses a [`SharingError::Forbidden`]: the grant (it does not verify, or is not
/// the sender's), the sharing policy (an action it does not allow), the share's state (stopped,
/// not active) or this organization's own rules (two-person approval, directory sharing), with
/// the ids it concerns. Its `Display` is the whole message users and partners see.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum NotAllowed {
    /// The sharer stopped this received share: nothing more is taken in, imported or edited.
    ReceivedStopped {
        /// The received share.
        share: ShareId,
    },
    /// An import asked for after the sharer stopped the share, with no copy made.
    StoppedBeforeImport {
        /// The received share.
        share: ShareId,
    },
    /// A partner's grant does not verify (signature chain, audience, expiry).
    GrantRefused {
        /// The share.
        share: ShareId,
        /// Why.
        error: GrantError,
    },
    /// A grant sent by another organization than its issuer.
    GrantNotFromSender {
        /// The share.
        share: ShareId,
        /// The grant's issuer.
        issuer: OrgId,
        /// Who sent it.
        sender: OrgId,
    },
    /// An offer from an organization that is not a partner.
    NotAPartner(OrgId),
    /// A control message from an organization that is not a registered partner.
    NotRegistered(OrgId),
    /// An update (new items, metadata changes) for a received share from another organization
    /// than its sharer.
    UpdateFromOther {
        /// The received share.
        share: ShareId,
        /// Who sent it.
        from: OrgId,
    },
    /// A revocation for a received share from another organization than its sharer.
    RevocationFromOther {
        /// The received share.
        share: ShareId,
        /// Who sent it.
        from: OrgId,
    },
    /// A revocation that does not verify against the share's grant.
    RevocationRefused {
        /// The received share.
        share: ShareId,
        /// Why.
        error: GrantError,
    },
    /// The sharer's policy does not allow importing the received share.
    ImportByPolicy {
        /// The received share.
        share: ShareId,
    },
    /// A partner refused a directory query, with its reason.
    DirectoryRefused {
        /// The partner's display name.
        partner: String,
        /// Its reason.
        reason: String,
    },
    /// This organization does not share its directory with partners (setting `share_directory`).
    DirectoryNotShared,
    /// An onward grant that would widen its parent (`grant::check_attenuation`).
    OnwardRefused {
        /// The onward share.
        share: ShareId,
        /// Why.
        error: GrantError,
    },
    /// An onward share that would make the chain longer than `grant::MAX_CHAIN_DEPTH`.
    ChainTooLong {
        /// The chain's length now.
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// An onward share to an organization already in the case's chain.
    PartnerInChain {
        /// The partner's display name.
        partner: String,
        /// Its org id.
        org: OrgId,
    },
    /// A received case passed on after its sharer stopped the share.
    OnwardStopped {
        /// The received share.
        share: ShareId,
        /// The sharer's display name.
        sharer: String,
    },
    /// A received case passed on under a grant that no longer verifies.
    ReceivedGrant {
        /// The received share.
        share: ShareId,
        /// Why.
        error: GrantError,
    },
    /// A received case passed on in a way its sharer's policy does not allow
    /// ([`Onward::actions`] says what it needs).
    OnwardPolicy {
        /// The received share.
        share: ShareId,
        /// The policy's name.
        policy: String,
        /// The sharer's display name.
        sharer: String,
        /// The way it was to be passed on.
        onward: Onward,
    },
    /// An approval by the user who created the share: two-person approval needs a second
    /// person (issue #13).
    OwnApproval {
        /// The share.
        share: ShareId,
        /// The user.
        user: String,
    },
    /// An onward hop reported by an organization outside the hop's chain.
    HopOutsideChain {
        /// The onward share.
        share: ShareId,
        /// Who reported it.
        reporter: OrgId,
    },
    /// An onward hop whose chain holds no grant of this node.
    HopNotIssuedHere {
        /// The onward share.
        share: ShareId,
    },
    /// A received case shared as a partner share of this organization's own: it is shared
    /// onward instead (`casemesh received share`).
    ReceivedCase(CaseId),
    /// A receipt for a share from another organization than its partner.
    ReceiptFromOther {
        /// The share.
        share: ShareId,
        /// Who sent it.
        from: OrgId,
    },
    /// The sharer stopped the received share: access to its items ended.
    AccessEnded {
        /// The received share.
        share: ShareId,
    },
    /// The sharer's policy does not allow `action` on the received share.
    ByPolicy {
        /// The received share.
        share: ShareId,
        /// The action.
        action: PolicyAction,
    },
    /// The sharer refused to serve an item, with its reason.
    AtSharer {
        /// The received share.
        share: ShareId,
        /// The sharer's reason.
        reason: String,
    },
    /// The sharer's policy allows neither `receive_updates` nor `edit_metadata`.
    UpdatesByPolicy {
        /// The received share.
        share: ShareId,
    },
    /// A partner's edit of a share made to another organization.
    EditFromOther {
        /// The share.
        share: ShareId,
        /// Who sent it.
        from: OrgId,
    },
    /// A partner's edit of a share that is stopped or waits for approval.
    NotActive {
        /// The share.
        share: ShareId,
        /// Its status.
        status: ShareStatus,
    },
    /// An edit of a share whose policy lacks `edit_metadata`, or that is not access mode.
    EditByPolicy {
        /// The share.
        share: ShareId,
    },
    /// A partner's edit that breaks the metadata document's layout.
    EditBreaksLayout {
        /// The share.
        share: ShareId,
    },
    /// A selection of updates in a tab the sharer's policy does not allow applying
    /// (`casemesh_meta::ApplyError::NotPermitted`).
    Apply(ApplyError),
}

impl fmt::Display for NotAllowed {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            NotAllowed::ReceivedStopped { .. } => f.write_str("this share was stopped"),
            NotAllowed::StoppedBeforeImport { .. } => {
                f.write_str("the sharer stopped this share before it was imported")
            }
            NotAllowed::GrantRefused { error, .. } => write!(f, "grant refused: {error}"),
            NotAllowed::GrantNotFromSender { .. } => {
                f.write_str("grant was not issued by the sending partner")
            }
            NotAllowed::NotAPartner(_) => f.write_str("not a partner"),
            NotAllowed::NotRegistered(org) => write!(f, "{org} is not a registered partner"),
            NotAllowed::UpdateFromOther { .. } => {
                f.write_str("update for a share from another organization")
            }
            NotAllowed::RevocationFromOther { .. } => {
                f.write_str("revocation for a share from another organization")
            }
            NotAllowed::RevocationRefused { error, .. } => {
                write!(f, "revocation refused: {error}")
            }
            NotAllowed::ImportByPolicy { .. } => {
                f.write_str("the sharing policy does not allow importing this case")
            }
            NotAllowed::DirectoryRefused { partner, reason } => write!(f, "{partner}: {reason}"),
            NotAllowed::DirectoryNotShared => {
                f.write_str("this organization does not share its directory")
            }
            NotAllowed::OnwardRefused { error, .. } => write!(f, "onward share refused: {error}"),
            NotAllowed::ChainTooLong { depth, max } => write!(
                f,
                "this case already passed through {depth} organizations: at most {max} may share it in a chain"
            ),
            NotAllowed::PartnerInChain { partner, .. } => write!(
                f,
                "{partner} already holds this case: it shared it (directly or through others)"
            ),
            NotAllowed::OnwardStopped { sharer, .. } => write!(
                f,
                "{sharer} stopped sharing this case: it cannot be shared onward"
            ),
            NotAllowed::ReceivedGrant { error, .. } => write!(f, "the received grant: {error}"),
            NotAllowed::OnwardPolicy {
                policy,
                sharer,
                onward,
                ..
            } => write!(
                f,
                "the sharing policy {policy:?} of {sharer} does not allow {onward} (it needs {})",
                onward
                    .actions()
                    .iter()
                    .map(|a| a.name())
                    .collect::<Vec<_>>()
                    .join(" and ")
            ),
            NotAllowed::OwnApproval { user, .. } => {
                write!(f, "{user} created this share: a second person must approve it")
            }
            NotAllowed::HopOutsideChain { .. } => {
                f.write_str("onward hop reported by an organization outside its chain")
            }
            NotAllowed::HopNotIssuedHere { .. } => {
                f.write_str("onward hop of a share this node never issued")
            }
            NotAllowed::ReceivedCase(_) => f.write_str(
                "this case was received from a partner: share it onward with `casemesh received share` (as its sharing policy allows)",
            ),
            NotAllowed::ReceiptFromOther { .. } => {
                f.write_str("receipt for a share addressed to another organization")
            }
            NotAllowed::AccessEnded { .. } => {
                f.write_str("the sharer stopped this share: access ended")
            }
            NotAllowed::ByPolicy { action, .. } => write!(
                f,
                "the sharing policy does not allow `{}` for this share",
                action.name()
            ),
            NotAllowed::AtSharer { reason, .. } => write!(f, "the sharer refused: {reason}"),
            NotAllowed::UpdatesByPolicy { .. } => {
                f.write_str("the sharing policy does not allow updates for this share")
            }
            NotAllowed::EditFromOther { .. } => {
                f.write_str("edit for a share with another organization")
            }
            NotAllowed::NotActive { .. } => f.write_str("this share is not active"),
            NotAllowed::EditByPolicy { .. } => f.write_str(
                "the sharing policy does not allow `edit_metadata` for this share (access mode only)",
            ),
            NotAllowed::EditBreaksLayout { .. } => {
                f.write_str("the edit breaks the metadata document's layout")
            }
            NotAllowed::Apply(e) => write!(f, "{e}"),
        }
    }
}

impl From<NotAllowed> for SharingError {
    fn from(n: NotAllowed) -> Self {
        SharingError::Forbidden(n)
    }
}

/// What a [`SharingError::Conflict`] clashes with: a share's state (stopped, waiting for
/// approval, not imported), a name or number already taken or ambiguous, a partner that does
/// not answer a question at all, with the ids it concerns. Its `Display` is the whole message users see.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Clash {
    /// An offer of a share this node received already (the received share's state machine).
    AlreadyOffered {
        /// The received share.
        share: ShareId,
    },
    /// A copy of the received share exists already (made by an earlier pass).
    CopyExists {
        /// The received share.
        share: ShareId,
        /// The copy.
        copy: CaseId,
    },
    /// A sharer's case number that several received shares have: name one by its share id.
    CaseNumberAmbiguous {
        /// The case number as typed.
        case_number: String,
        /// The received shares that have it.
        shares: Vec<ShareId>,
    },
    /// An outgoing share's state machine refuses the step (the share ended, a sequence number
    /// taken meanwhile, waiting for approval).
    Step {
        /// The share.
        share: ShareId,
        /// The state machine's refusal.
        refused: ShareRefused,
    },
    /// A partner does not answer directory queries at all (its casemesh does not know
    /// `directory.query/1`, or answered with a status that no retry changes).
    DirectoryUnanswered {
        /// The partner's display name.
        partner: String,
        /// Its answer.
        status: ControlStatus,
    },
    /// A partner registered with a name or org id already registered.
    PartnerRegistered {
        /// The name.
        name: String,
        /// The org id.
        org: OrgId,
    },
    /// A partner renamed to the name of another.
    PartnerNameTaken {
        /// The name.
        name: String,
    },
    /// An approval of a share that does not wait for one.
    NotAwaitingApproval {
        /// The share.
        share: ShareId,
        /// Its status.
        status: ShareStatus,
    },
    /// A change of an outgoing share that was stopped.
    ShareStopped {
        /// The share.
        share: ShareId,
    },
    /// Recipients added to a share that waits for approval.
    AwaitingApproval {
        /// The share.
        share: ShareId,
    },
    /// A share under two-person approval widened without a second person.
    UnderApproval {
        /// The share.
        share: ShareId,
        /// The partner's policy that requires approval.
        policy: String,
    },
    /// An addition to a share refused by its state machine while it was written.
    StepWhileAdding {
        /// The share.
        share: ShareId,
        /// The state machine's refusal.
        refused: ShareRefused,
    },
    /// A share that was stopped or failed while it was being added to.
    EndedWhileAdding {
        /// The share.
        share: ShareId,
    },
    /// Evidence outside the folders a folder share shares (docs/sharing.md, "Sharing the same
    /// case again").
    EvidenceOutsideFolders {
        /// The share.
        share: ShareId,
        /// The partner's display name.
        partner: String,
    },
    /// Folders added to a share of selected evidence.
    FoldersIntoEvidence {
        /// The share.
        share: ShareId,
        /// The partner's display name.
        partner: String,
    },
    /// A name or display id several items of a received share have: name one by its id.
    ItemNameAmbiguous {
        /// The received share.
        share: ShareId,
        /// The name as typed.
        name: String,
        /// The items that have it.
        items: Vec<EvidenceId>,
    },
    /// Updates applied to or dismissed from a received share not imported yet.
    NotImported {
        /// The received share.
        share: ShareId,
    },
    /// A received share with no updates document.
    NoUpdates {
        /// The received share.
        share: ShareId,
    },
    /// An edit of a received share with no metadata document.
    NoMetaDocument {
        /// The received share.
        share: ShareId,
    },
}

impl fmt::Display for Clash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Clash::AlreadyOffered { .. } => f.write_str("the share was offered already"),
            Clash::CopyExists { copy, .. } => {
                write!(f, "the share's copy exists already: {copy}")
            }
            Clash::CaseNumberAmbiguous {
                case_number,
                shares,
            } => write!(
                f,
                "{} received shares have the case number {case_number:?}: name one by its share id ({})",
                shares.len(),
                shares
                    .iter()
                    .map(ShareId::to_string)
                    .collect::<Vec<_>>()
                    .join(", ")
            ),
            Clash::Step { refused, .. } => write!(f, "{refused}"),
            Clash::DirectoryUnanswered { partner, status } => {
                write!(f, "{partner} could not answer: {status:?}")
            }
            Clash::PartnerRegistered { name, org } => {
                write!(f, "partner {name:?} or {org} is already registered")
            }
            Clash::PartnerNameTaken { name } => write!(f, "partner name {name:?} is taken"),
            Clash::NotAwaitingApproval { share, status } => write!(
                f,
                "share {share} is {status:?}: only a share waiting for approval can be approved"
            ),
            Clash::ShareStopped { .. } => f.write_str("this share was stopped"),
            Clash::AwaitingApproval { .. } => f.write_str(
                "this share waits for approval: approve it first (casemesh share approve)",
            ),
            Clash::UnderApproval { share, policy } => write!(
                f,
                "share {share} is under two-person approval (policy {policy:?}): it cannot be widened without a second person; stop it and create a new share, which a user with share_approve approves"
            ),
            Clash::StepWhileAdding { share, refused } => write!(f, "share {share}: {refused}"),
            Clash::EndedWhileAdding { share } => {
                write!(f, "share {share} ended while it was being added to")
            }
            Clash::EvidenceOutsideFolders { share, partner } => write!(
                f,
                "share {share} already shares folders of this case with {partner}; evidence outside them cannot be added to it: share their folders (--folder) or the entire case, or stop share {share} first"
            ),
            Clash::FoldersIntoEvidence { share, partner } => write!(
                f,
                "share {share} already shares selected evidence of this case with {partner}; folders cannot be added to it: add the items (--evidence), share the entire case, or stop share {share} first"
            ),
            Clash::ItemNameAmbiguous { share, name, items } => write!(
                f,
                "{} items of received share {share} are named {name:?}: name one by its id",
                items.len()
            ),
            Clash::NotImported { .. } => f.write_str("the share has not been imported yet"),
            Clash::NoUpdates { .. } => f.write_str("no updates for this share"),
            Clash::NoMetaDocument { .. } => f.write_str("no metadata document for this share"),
        }
    }
}

impl From<Clash> for SharingError {
    fn from(c: Clash) -> Self {
        SharingError::Conflict(c)
    }
}

/// What a [`SharingError::Unavailable`] could not reach: a partner that answered `Busy`, or
/// `Failed` on its side (its store or disk, a fault it reports rather than a refusal; see
/// docs/protocol.md, "Control statuses"). Worth retrying: the outbox keeps the message and sends
/// it again with backoff; the API answers 503 `unavailable`. Its `Display` is the whole message
/// users see.
#[derive(Debug, Clone, PartialEq, Eq)]
#[non_exhaustive]
pub enum Unavailable {
    /// A partner could not take a queued control message now.
    PartnerBusy {
        /// The message's kind (`grant.offer/2`, …).
        kind: String,
        /// The partner's answer: `Busy` or `Failed(reason)`.
        status: ControlStatus,
    },
    /// A partner could not answer a directory query now.
    Directory {
        /// The partner's display name.
        partner: String,
        /// The partner's answer: `Busy` or `Failed(reason)`.
        status: ControlStatus,
    },
}

impl fmt::Display for Unavailable {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Unavailable::PartnerBusy { kind, status } => {
                write!(f, "partner could not take {kind} now: {status:?}")
            }
            Unavailable::Directory { partner, status } => {
                write!(f, "{partner} could not answer now: {status:?}")
            }
        }
    }
}

impl From<Unavailable> for SharingError {
    fn from(u: Unavailable) -> Self {
        SharingError::Unavailable(u)
    }
}

/// Result of the engine's operations.
pub type Result<T, E = SharingError> = std::result::Result<T, E>;

#[cfg(test)]
mod tests {
    use super::*;

    /// Issue #9 point 4: only a refusal is `Rejected` (the partner drops the message); a fault
    /// of this node is `Failed` (the partner sends it again).
    #[test]
    fn only_refusals_are_rejected_on_the_wire() {
        let rejected = [
            SharingError::NotFound(Missing::ShareText("x".into())),
            SharingError::Invalid(Bad::NoRecipient),
            SharingError::Forbidden(NotAllowed::DirectoryNotShared),
            SharingError::Conflict(Clash::NoUpdates {
                share: "11111111-1111-4111-8111-111111111111".parse().expect("id"),
            }),
            SharingError::Store(StoreError::NotFound("case y".into())),
        ];
        for e in rejected {
            assert_eq!(e.wire_status(), ControlStatus::Rejected(e.to_string()));
        }
        let failed = [
            SharingError::Internal("task died".into()),
            SharingError::Store(StoreError::Db("io".into())),
            SharingError::Store(StoreError::NoSpace {
                needed: 2,
                available: 1,
            }),
            SharingError::Net(Box::new(NetError::Interrupted("reset".into()))),
        ];
        for e in failed {
            assert_eq!(e.wire_status(), ControlStatus::Failed(e.to_string()));
        }
    }

    /// A partner that is busy, or failed on its side, is worth trying again (issue #9 point 4:
    /// before, this was a `Conflict`, a refusal that would answer 409): never a refusal, never
    /// `Rejected` on the wire, and its text says which partner or message and what it answered.
    #[test]
    fn an_unavailable_partner_is_retried_not_refused() {
        let cases = [
            (
                Unavailable::PartnerBusy {
                    kind: "grant.offer/2".into(),
                    status: ControlStatus::Busy,
                },
                "partner could not take grant.offer/2 now: Busy",
            ),
            (
                Unavailable::PartnerBusy {
                    kind: "grant.offer/2".into(),
                    status: ControlStatus::Failed("disk".into()),
                },
                "partner could not take grant.offer/2 now: Failed(\"disk\")",
            ),
            (
                Unavailable::Directory {
                    partner: "County DA".into(),
                    status: ControlStatus::Busy,
                },
                "County DA could not answer now: Busy",
            ),
        ];
        for (kind, text) in cases {
            let e = SharingError::from(kind);
            assert_eq!(e.to_string(), text);
            assert!(!e.is_refusal(), "{e}");
            assert_eq!(e.wire_status(), ControlStatus::Failed(e.to_string()));
        }
    }

    /// Every kind of [`Missing`] renders the message users see (the CLI prints it after
    /// `error:`; the API puts it in the answer's `message`), and every one is a refusal.
    #[test]
    fn each_missing_kind_says_what_and_which() {
        let share: ShareId = "11111111-1111-4111-8111-111111111111".parse().expect("id");
        let case: CaseId = "22222222-2222-4222-8222-222222222222".parse().expect("id");
        let ev: EvidenceId = "33333333-3333-4333-8333-333333333333".parse().expect("id");
        let s = "11111111-1111-4111-8111-111111111111";
        let cases = [
            (Missing::Share(share), format!("share \"{s}\" not found")),
            (
                Missing::ShareText("not-a-share".into()),
                "share \"not-a-share\" not found".into(),
            ),
            (
                Missing::ReceivedShare(share),
                format!("received share \"{s}\" not found"),
            ),
            (
                Missing::ReceivedShareText("2026-CR-7".into()),
                "received share \"2026-CR-7\" not found".into(),
            ),
            (
                Missing::Partner(OrgId("12D3KooWA".into())),
                "partner \"12D3KooWA\" not found".into(),
            ),
            (
                Missing::PartnerText("County DA".into()),
                "partner \"County DA\" not found".into(),
            ),
            (
                Missing::Policy("strict".into()),
                "sharing policy \"strict\" not found".into(),
            ),
            (
                Missing::Case(case),
                "case \"22222222-2222-4222-8222-222222222222\" not found".into(),
            ),
            (
                Missing::ReceivedItem {
                    share,
                    name: "door.jpg".into(),
                },
                format!("evidence \"door.jpg\" in received share \"{s}\" not found"),
            ),
            (
                Missing::CopyEvidence {
                    share,
                    evidence: ev,
                },
                format!(
                    "evidence \"33333333-3333-4333-8333-333333333333\" of received share \"{s}\" not found in the local copy"
                ),
            ),
            (
                Missing::Copy(share),
                format!("the local copy of received share \"{s}\" not found"),
            ),
            (
                Missing::NotImported(share),
                format!(
                    "the local copy of received share \"{s}\" not found: it was not imported yet (import it first: casemesh received import {s})"
                ),
            ),
            (
                Missing::CopyOwner,
                "a local owner for the copy not found (no recipient is a local user and no user administers this node)".into(),
            ),
            (
                Missing::AtSharer {
                    reason: "stopped".into(),
                },
                "the item was not found at the sharer, which no longer serves it: stopped".into(),
            ),
        ];
        for (missing, text) in cases {
            let e = SharingError::from(missing);
            assert_eq!(e.to_string(), text);
            assert!(e.is_refusal(), "{e}");
            assert_eq!(e.wire_status(), ControlStatus::Rejected(text));
        }
    }

    /// Every kind of [`Bad`], [`NotAllowed`] and [`Clash`] renders the message users see (the
    /// texts the free-text errors had, byte for byte: the CLI, the API and partners' `Rejected`
    /// statuses carry them), and every one is a refusal a partner is told as `Rejected`.
    #[test]
    fn each_refusal_kind_says_what_and_which() {
        let share: ShareId = "11111111-1111-4111-8111-111111111111".parse().expect("id");
        let case: CaseId = "22222222-2222-4222-8222-222222222222".parse().expect("id");
        let ev: EvidenceId = "33333333-3333-4333-8333-333333333333".parse().expect("id");
        let s = "11111111-1111-4111-8111-111111111111";
        let c = "22222222-2222-4222-8222-222222222222";
        let e = "33333333-3333-4333-8333-333333333333";
        let org = || OrgId("12D3KooWA".into());
        let other = || OrgId("12D3KooWB".into());
        let title = FieldRef::case(casemesh_meta::Field::Title);
        let json = || serde_json::from_str::<u8>("x").expect_err("not json");
        let store = || {
            Box::new(StoreError::NotFound(
                "evidence \"door\" in this case".into(),
            ))
        };
        let payload = || PayloadError {
            kind: "directory.query/1".into(),
            reason: "EOF".into(),
            unknown_kind: false,
        };
        let hex_err = hex::FromHexError::OddLength;
        let bad: Vec<(Bad, String)> = vec![
            (
                Bad::ManifestFolders(FolderError::Cycle),
                "manifest folders: cannot move a folder into itself".into(),
            ),
            (
                Bad::ManifestText(TextError::Nul { field: "title" }),
                "manifest: title contains a NUL byte".into(),
            ),
            (
                Bad::ManifestCaseNumber("case_id is empty".into()),
                "manifest: case_id is empty".into(),
            ),
            (
                Bad::ManifestNotOfGrant { share },
                "manifest does not match its grant".into(),
            ),
            (
                Bad::ItemName {
                    item: ev,
                    error: NameError::Empty,
                },
                format!("item {e} name: name is empty"),
            ),
            (
                Bad::ItemText {
                    item: ev,
                    error: TextError::Nul {
                        field: "description",
                    },
                },
                format!("item {e} text: description contains a NUL byte"),
            ),
            (
                Bad::TranscriptName {
                    item: ev,
                    error: NameError::Reserved("..".into()),
                },
                format!("item {e} transcript name: name \"..\" is reserved"),
            ),
            (Bad::GrantNotHex(hex_err), "grant is not hex".into()),
            (
                Bad::Grant(DecodeError::Truncated),
                "grant: truncated input".into(),
            ),
            (
                Bad::UnknownRecipients(vec![(Recipient::User("bob".into()), "no such user")]),
                "unknown recipient at the receiving organization: user:bob (no such user)".into(),
            ),
            (
                Bad::UnknownRecipients(vec![
                    (Recipient::User("bob".into()), "no such user"),
                    (Recipient::Group("Nobody".into()), "no such group"),
                ]),
                "unknown recipients at the receiving organization: user:bob (no such user), group:Nobody (no such group)".into(),
            ),
            (
                Bad::MalformedMetaDocument(Box::new(MetaError::Schema)),
                "malformed metadata document".into(),
            ),
            (
                Bad::CarriedNotHex(hex_err),
                "carried bytes are not hex".into(),
            ),
            (
                Bad::CarriedTooLarge {
                    size: 300,
                    max: 256,
                },
                "a carried document of 300 bytes is over the 256 limit".into(),
            ),
            (Bad::SharerId(org()), "bad sharer id".into()),
            (
                Bad::RevocationNotHex(hex_err),
                "revocation is not hex".into(),
            ),
            (
                Bad::Revocation(DecodeError::Trailing),
                "revocation: trailing bytes".into(),
            ),
            (
                Bad::StatementNotHex {
                    what: Statement::HoldingReceipt,
                    error: hex_err,
                },
                "holding receipt refused: it is not hex".into(),
            ),
            (
                Bad::StatementUndecodable {
                    what: Statement::StopAck,
                    error: DecodeError::Domain,
                },
                "stop acknowledgement refused: unknown domain prefix".into(),
            ),
            (
                Bad::StatementSignature {
                    what: Statement::HoldingReceipt,
                    error: GrantError::BadSignature,
                },
                "holding receipt refused: bad signature".into(),
            ),
            (
                Bad::StatementSigner {
                    what: Statement::StopAck,
                    signer: other(),
                    partner: org(),
                },
                "stop acknowledgement refused: it is not signed by the share's partner".into(),
            ),
            (
                Bad::StatementOtherShare {
                    what: Statement::HoldingReceipt,
                    share,
                    named: share,
                },
                "holding receipt refused: it names another share".into(),
            ),
            (
                Bad::ReceiptSeq {
                    share,
                    signed: 0,
                    receipt: Some(1),
                },
                "holding receipt refused: its sequence number is not the receipt's".into(),
            ),
            (
                Bad::StopAckNotStopped { share },
                "stop acknowledgement refused: this share was not stopped".into(),
            ),
            (
                Bad::StopAckOtherRevocation { share },
                "stop acknowledgement refused: it names another revocation than the one sent"
                    .into(),
            ),
            (
                Bad::NetworkOfOtherOrg {
                    network: other(),
                    engine: org(),
                },
                "the net layer was started for organization 12D3KooWB, the engine is 12D3KooWA"
                    .into(),
            ),
            (
                Bad::MessageTooLarge {
                    kind: MessageKind::GrantOffer,
                    len: 4_000_000,
                    max: 3_145_728,
                },
                "the grant.offer/2 message for this share would be 4000000 bytes, over the 3145728 bytes a partner accepts in one message; share fewer items or shorter descriptions".into(),
            ),
            (
                Bad::Payload(payload()),
                "malformed directory.query/1 payload: EOF".into(),
            ),
            (
                Bad::QueryTooLong { len: 201, max: 200 },
                "query is longer than 200 bytes".into(),
            ),
            (
                Bad::Multiaddr("localhost:4001".into()),
                "not a multiaddr: \"localhost:4001\" (e.g. /ip4/127.0.0.1/tcp/4001)".into(),
            ),
            (
                Bad::PeerId("County DA".into()),
                "not a PeerId: \"County DA\"".into(),
            ),
            (
                Bad::PartnerName(NameError::Whitespace),
                "partner name: name has leading or trailing whitespace".into(),
            ),
            (
                Bad::OwnPartner(org()),
                "a node cannot be its own partner".into(),
            ),
            (
                Bad::PolicyName(NameError::Empty),
                "policy name: name is empty".into(),
            ),
            (
                Bad::Recipient("a\nb".into()),
                "invalid recipient \"a\\nb\"".into(),
            ),
            (
                Bad::RecipientNoName("user:".into()),
                "invalid recipient \"user:\": a name must follow the colon".into(),
            ),
            (
                Bad::FoldersAndEvidence,
                "share either folders or evidence items, not both".into(),
            ),
            (
                Bad::RootFolder { path: "/".into() },
                "the root is not a folder: omit --folder to share the entire case".into(),
            ),
            (
                Bad::Folder(FolderError::NotFound("Photos".into())),
                "no folder \"Photos\"".into(),
            ),
            (
                Bad::EvidenceRef {
                    reference: "door".into(),
                    error: store(),
                },
                "evidence \"door\" in this case not found".into(),
            ),
            (
                Bad::OnwardGrantNotHex(hex_err),
                "onward grant is not hex".into(),
            ),
            (
                Bad::OnwardGrant(DecodeError::Truncated),
                "onward grant: truncated input".into(),
            ),
            (
                Bad::OnwardGrantRefused {
                    share,
                    error: GrantError::BadSignature,
                },
                "onward grant refused: bad signature".into(),
            ),
            (
                Bad::NothingMayLeave { case },
                "none of the selected evidence may leave (marked do not disclose)".into(),
            ),
            (
                Bad::NoRecipient,
                "name at least one recipient (--to)".into(),
            ),
            (
                Bad::Message(TextError::TooLong {
                    field: "message",
                    len: 10_001,
                    max: 10_000,
                }),
                "message is 10001 bytes, longer than the 10000 bytes allowed".into(),
            ),
            (
                Bad::Receipt {
                    share,
                    refused: ShareRefused::BadReceipt("it claims more items than were sent"),
                },
                "receipt refused: it claims more items than were sent".into(),
            ),
            (
                Bad::AccessEventUser(TextError::Control {
                    field: "user",
                    ch: '\u{1b}',
                }),
                "access event: user contains the control character '\\u{1b}'".into(),
            ),
            (
                Bad::AccessEventNoUser { share },
                "access event names no user".into(),
            ),
            (
                Bad::AccessEventItem {
                    share,
                    evidence: ev,
                },
                format!("access event: {e} is not an item of share {s}"),
            ),
            (
                Bad::MetaDocument(Box::new(MetaError::Frame)),
                "metadata document: bad framing of encoded changes".into(),
            ),
            (
                Bad::MetaDocumentNotHex(hex_err),
                "metadata document: Odd number of digits".into(),
            ),
            (
                Bad::MissingChanges {
                    from: "County DA".into(),
                    changes: 2,
                },
                "2 metadata change(s) from County DA depend on changes this node never received (an earlier message was refused or lost): nothing merged; the documents differ until the missing changes are sent again".into(),
            ),
            (
                Bad::NoMetaDocument { share },
                "no metadata document for this share".into(),
            ),
            (
                Bad::EditNotInline { share },
                "a partner's edits travel inline".into(),
            ),
            (
                Bad::ReceivedGrant {
                    share,
                    error: DecodeError::Truncated,
                },
                "truncated input".into(),
            ),
            (
                Bad::Apply(ApplyError::NothingSelected { conflicts: 0 }),
                "nothing to apply".into(),
            ),
            (
                Bad::Field(FieldParseError("case/nope".into())),
                "not a metadata field: \"case/nope\"".into(),
            ),
            (
                Bad::FieldsAndChoice,
                "name fields, or choose all or a tab, not both".into(),
            ),
            (
                Bad::NothingSelected,
                "select updates to apply (--field, --tab or --all)".into(),
            ),
            (
                Bad::SharerValue {
                    field: title,
                    why: "title contains a NUL byte".into(),
                },
                "the sharer's case/title: title contains a NUL byte".into(),
            ),
            (
                Bad::NoFieldsToDismiss,
                "name the fields to dismiss".into(),
            ),
            (
                Bad::Value {
                    field: title,
                    why: "title contains a NUL byte".into(),
                },
                "case/title: title contains a NUL byte".into(),
            ),
            (
                Bad::NoSuchField {
                    share,
                    field: title,
                },
                "this share has no field case/title".into(),
            ),
            (
                Bad::ListLineTooLong {
                    line: 3,
                    max: 262_144,
                },
                "item list line 3 is longer than 262144 bytes or unterminated".into(),
            ),
            (
                Bad::ListLine {
                    line: 2,
                    error: json(),
                },
                "item list line 2: expected value at line 1 column 1".into(),
            ),
            (
                Bad::ListTooLong { announced: 1 },
                "item list holds more than the 1 items announced".into(),
            ),
            (
                Bad::ListCount {
                    found: 1,
                    announced: 2,
                },
                "item list holds 1 items, 2 announced".into(),
            ),
        ];
        let not_allowed: Vec<(NotAllowed, String)> = vec![
            (
                NotAllowed::ReceivedStopped { share },
                "this share was stopped".into(),
            ),
            (
                NotAllowed::StoppedBeforeImport { share },
                "the sharer stopped this share before it was imported".into(),
            ),
            (
                NotAllowed::GrantRefused {
                    share,
                    error: GrantError::BadSignature,
                },
                "grant refused: bad signature".into(),
            ),
            (
                NotAllowed::GrantNotFromSender {
                    share,
                    issuer: other(),
                    sender: org(),
                },
                "grant was not issued by the sending partner".into(),
            ),
            (NotAllowed::NotAPartner(org()), "not a partner".into()),
            (
                NotAllowed::NotRegistered(org()),
                "12D3KooWA is not a registered partner".into(),
            ),
            (
                NotAllowed::UpdateFromOther {
                    share,
                    from: org(),
                },
                "update for a share from another organization".into(),
            ),
            (
                NotAllowed::RevocationFromOther {
                    share,
                    from: org(),
                },
                "revocation for a share from another organization".into(),
            ),
            (
                NotAllowed::RevocationRefused {
                    share,
                    error: GrantError::RevokerNotAuthorized { revoker: other() },
                },
                "revocation refused: 12D3KooWB may not revoke this grant".into(),
            ),
            (
                NotAllowed::ImportByPolicy { share },
                "the sharing policy does not allow importing this case".into(),
            ),
            (
                NotAllowed::DirectoryRefused {
                    partner: "County DA".into(),
                    reason: "this organization does not share its directory".into(),
                },
                "County DA: this organization does not share its directory".into(),
            ),
            (
                NotAllowed::DirectoryNotShared,
                "this organization does not share its directory".into(),
            ),
            (
                NotAllowed::OnwardRefused {
                    share,
                    error: GrantError::ScopeWidened,
                },
                "onward share refused: onward share widens the parent's scope".into(),
            ),
            (
                NotAllowed::ChainTooLong { depth: 8, max: 8 },
                "this case already passed through 8 organizations: at most 8 may share it in a chain".into(),
            ),
            (
                NotAllowed::PartnerInChain {
                    partner: "County DA".into(),
                    org: org(),
                },
                "County DA already holds this case: it shared it (directly or through others)"
                    .into(),
            ),
            (
                NotAllowed::OnwardStopped {
                    share,
                    sharer: "City PD".into(),
                },
                "City PD stopped sharing this case: it cannot be shared onward".into(),
            ),
            (
                NotAllowed::ReceivedGrant {
                    share,
                    error: GrantError::BadSignature,
                },
                "the received grant: bad signature".into(),
            ),
            (
                NotAllowed::OnwardPolicy {
                    share,
                    policy: "strict".into(),
                    sharer: "City PD".into(),
                    onward: Onward::ToPartner,
                },
                "the sharing policy \"strict\" of City PD does not allow sharing this case onward to another organization (it needs share_onward and share_onward_external)".into(),
            ),
            (
                NotAllowed::OnwardPolicy {
                    share,
                    policy: "strict".into(),
                    sharer: "City PD".into(),
                    onward: Onward::Inside,
                },
                "the sharing policy \"strict\" of City PD does not allow sharing this case onward (it needs share_onward)".into(),
            ),
            (
                NotAllowed::OnwardPolicy {
                    share,
                    policy: "strict".into(),
                    sharer: "City PD".into(),
                    onward: Onward::Outside,
                },
                "the sharing policy \"strict\" of City PD does not allow handing this case outside this organization (it needs share_onward and share_onward_external)".into(),
            ),
            (
                NotAllowed::OwnApproval {
                    share,
                    user: "ada".into(),
                },
                "ada created this share: a second person must approve it".into(),
            ),
            (
                NotAllowed::HopOutsideChain {
                    share,
                    reporter: org(),
                },
                "onward hop reported by an organization outside its chain".into(),
            ),
            (
                NotAllowed::HopNotIssuedHere { share },
                "onward hop of a share this node never issued".into(),
            ),
            (
                NotAllowed::ReceivedCase(case),
                "this case was received from a partner: share it onward with `casemesh received share` (as its sharing policy allows)".into(),
            ),
            (
                NotAllowed::ReceiptFromOther {
                    share,
                    from: org(),
                },
                "receipt for a share addressed to another organization".into(),
            ),
            (
                NotAllowed::AccessEnded { share },
                "the sharer stopped this share: access ended".into(),
            ),
            (
                NotAllowed::ByPolicy {
                    share,
                    action: PolicyAction::Download,
                },
                "the sharing policy does not allow `download` for this share".into(),
            ),
            (
                NotAllowed::AtSharer {
                    share,
                    reason: "this share was stopped".into(),
                },
                "the sharer refused: this share was stopped".into(),
            ),
            (
                NotAllowed::UpdatesByPolicy { share },
                "the sharing policy does not allow updates for this share".into(),
            ),
            (
                NotAllowed::EditFromOther {
                    share,
                    from: org(),
                },
                "edit for a share with another organization".into(),
            ),
            (
                NotAllowed::NotActive {
                    share,
                    status: ShareStatus::Stopped,
                },
                "this share is not active".into(),
            ),
            (
                NotAllowed::EditByPolicy { share },
                "the sharing policy does not allow `edit_metadata` for this share (access mode only)".into(),
            ),
            (
                NotAllowed::EditBreaksLayout { share },
                "the edit breaks the metadata document's layout".into(),
            ),
            (
                NotAllowed::Apply(ApplyError::NotPermitted {
                    action: PolicyAction::ApplyCaseUpdates,
                }),
                "the sharing policy does not allow apply_case_updates (the review's Case tab)"
                    .into(),
            ),
        ];
        let clash: Vec<(Clash, String)> = vec![
            (
                Clash::AlreadyOffered { share },
                "the share was offered already".into(),
            ),
            (
                Clash::CopyExists { share, copy: case },
                format!("the share's copy exists already: {c}"),
            ),
            (
                Clash::CaseNumberAmbiguous {
                    case_number: "2026-CR-7".into(),
                    shares: vec![share, share],
                },
                format!(
                    "2 received shares have the case number \"2026-CR-7\": name one by its share id ({s}, {s})"
                ),
            ),
            (
                Clash::Step {
                    share,
                    refused: ShareRefused::Ended(ShareStatus::Stopped),
                },
                "the share is Stopped: nothing more is sent".into(),
            ),
            (
                Clash::DirectoryUnanswered {
                    partner: "County DA".into(),
                    status: ControlStatus::UnknownKind,
                },
                "County DA could not answer: UnknownKind".into(),
            ),
            (
                Clash::PartnerRegistered {
                    name: "County DA".into(),
                    org: org(),
                },
                "partner \"County DA\" or 12D3KooWA is already registered".into(),
            ),
            (
                Clash::PartnerNameTaken {
                    name: "County DA".into(),
                },
                "partner name \"County DA\" is taken".into(),
            ),
            (
                Clash::NotAwaitingApproval {
                    share,
                    status: ShareStatus::Complete,
                },
                format!("share {s} is Complete: only a share waiting for approval can be approved"),
            ),
            (
                Clash::ShareStopped { share },
                "this share was stopped".into(),
            ),
            (
                Clash::AwaitingApproval { share },
                "this share waits for approval: approve it first (casemesh share approve)".into(),
            ),
            (
                Clash::UnderApproval {
                    share,
                    policy: "two-person".into(),
                },
                format!(
                    "share {s} is under two-person approval (policy \"two-person\"): it cannot be widened without a second person; stop it and create a new share, which a user with share_approve approves"
                ),
            ),
            (
                Clash::StepWhileAdding {
                    share,
                    refused: ShareRefused::OutOfOrder {
                        expected: 3,
                        got: 2,
                    },
                },
                format!("share {s}: sequence number 2 is not the next one (3)"),
            ),
            (
                Clash::EndedWhileAdding { share },
                format!("share {s} ended while it was being added to"),
            ),
            (
                Clash::EvidenceOutsideFolders {
                    share,
                    partner: "County DA".into(),
                },
                format!(
                    "share {s} already shares folders of this case with County DA; evidence outside them cannot be added to it: share their folders (--folder) or the entire case, or stop share {s} first"
                ),
            ),
            (
                Clash::FoldersIntoEvidence {
                    share,
                    partner: "County DA".into(),
                },
                format!(
                    "share {s} already shares selected evidence of this case with County DA; folders cannot be added to it: add the items (--evidence), share the entire case, or stop share {s} first"
                ),
            ),
            (
                Clash::ItemNameAmbiguous {
                    share,
                    name: "door.jpg".into(),
                    items: vec![ev, ev],
                },
                format!("2 items of received share {s} are named \"door.jpg\": name one by its id"),
            ),
            (
                Clash::NotImported { share },
                "the share has not been imported yet".into(),
            ),
            (
                Clash::NoUpdates { share },
                "no updates for this share".into(),
            ),
            (
                Clash::NoMetaDocument { share },
                "no metadata document for this share".into(),
            ),
        ];
        let all = bad
            .into_iter()
            .map(|(k, t)| (SharingError::from(k), t))
            .chain(
                not_allowed
                    .into_iter()
                    .map(|(k, t)| (SharingError::from(k), t)),
            )
            .chain(clash.into_iter().map(|(k, t)| (SharingError::from(k), t)));
        for (e, text) in all {
            assert_eq!(e.to_string(), text);
            assert!(e.is_refusal(), "{e}");
            assert_eq!(e.wire_status(), ControlStatus::Rejected(text));
        }
    }
}
