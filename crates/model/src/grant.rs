//! Signed share grants, onward-sharing chains and revocations.
//!
//! A [`Grant`] is the sharing organization's signed statement "org `audience` (these recipients)
//! may do `policy` on `scope` of case `source_case`, in `mode`, until `expires_at`". It is signed
//! with the issuing node's ed25519 key, the same key its libp2p PeerId (its [`OrgId`]) is derived
//! from, so a grant names and proves its issuer at once. An onward share is a child grant whose
//! `parent` is the full parent [`SignedGrant`]: any node can check the whole chain offline with
//! [`verify`], UCAN style — each link may only attenuate (narrow) what its parent granted.
//!
//! Stopping a share is a [`SignedRevocation`] by the grant's issuer or by the issuer of any of its
//! ancestors; a revoked grant also revokes every grant below it ([`revocation_applies`]).
//!
//! # Canonical bytes
//! Signatures cover [`Grant::canonical_bytes`], a deterministic length-prefixed binary encoding
//! (documented byte by byte in `docs/sharing.md` and on [`Grant::canonical_bytes`]) that starts with
//! the domain-separation prefix [`GRANT_DOMAIN`]. Sets (recipients, scope ids, policy actions) are
//! sorted and deduplicated, so two grants that mean the same thing have the same bytes. The wire form
//! ([`SignedGrant::to_bytes`]) is the canonical bytes, the signature and, for a child, the parent's
//! wire form; [`SignedGrant::from_bytes`] accepts only canonical input and caps the size.
//!
//! # Non-goals
//! No clock is read here (callers pass `now`), and issuance in the future is not refused: partner
//! clocks differ, and expiry is what protects the sharer.

use crate::canonical::{Reader, Writer, signed_wire, split_signed};
use crate::case::Case;
use crate::ids::{CaseId, EvidenceId, FolderId, OrgId, ShareId};
use crate::policy::{PolicyAction, SharedData, SharingPolicy};
use crate::time::Timestamp;
use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};
use std::collections::{BTreeMap, BTreeSet};

/// Domain-separation prefix of a grant's canonical bytes.
///
/// v2 (2026-11-30) added the policy's data kinds and retired action code 5 (`apply_updates`); a
/// v1 grant no longer decodes (the partners' wire kinds were retired at the same time).
pub const GRANT_DOMAIN: &[u8] = b"casemesh-grant-v2\0";
/// Domain-separation prefix of a revocation's canonical bytes.
pub const REVOCATION_DOMAIN: &[u8] = b"casemesh-revocation-v1\0";
/// The longest chain of grants (root included) that verifies.
pub const MAX_CHAIN_DEPTH: usize = 8;
/// The largest wire form [`SignedGrant::from_bytes`] and [`SignedRevocation::from_bytes`] accept
/// (the request-response control-message limit).
pub const MAX_WIRE_BYTES: usize = 1024 * 1024;

/// Who, inside the audience organization, a grant is for — as the sharer typed it.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "value")]
pub enum Recipient {
    /// A username.
    User(String),
    /// A group name.
    Group(String),
    /// An email address.
    Email(String),
    /// A badge id.
    Badge(String),
}

impl Recipient {
    fn code(&self) -> u8 {
        match self {
            Recipient::User(_) => 1,
            Recipient::Group(_) => 2,
            Recipient::Email(_) => 3,
            Recipient::Badge(_) => 4,
        }
    }

    fn text(&self) -> &str {
        match self {
            Recipient::User(s)
            | Recipient::Group(s)
            | Recipient::Email(s)
            | Recipient::Badge(s) => s,
        }
    }
}

/// What part of a case a grant covers.
#[derive(Debug, Clone, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case", tag = "kind", content = "ids")]
pub enum Scope {
    /// The whole case, including evidence and folders added later.
    EntireCase,
    /// These folders and everything below them, including evidence added there later.
    Folders(Vec<FolderId>),
    /// Exactly these evidence items.
    Evidence(EvidenceSet),
}

/// The evidence items of a [`Scope::Evidence`]: sorted and without duplicates by construction
/// (from a `Vec`, an iterator, or any serde input), so [`EvidenceSet::contains`] is a binary
/// search: viewing or serving n items under an m-item selection costs O(n log m), not O(n·m)
/// (issue #11, "every per-item path O(1) or O(log n)"). Serialized as the plain list of ids
/// (sorted), so stored records and the JSON API keep their shape; a list read unsorted or with
/// duplicates is normalized, never refused. The signed wire form is canonical already
/// ([`Grant::canonical_bytes`] sorts too), so normalizing on read changes no signature.
#[derive(Debug, Clone, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(from = "Vec<EvidenceId>", into = "Vec<EvidenceId>")]
pub struct EvidenceSet(Vec<EvidenceId>);

impl EvidenceSet {
    /// Whether `id` is in the set; O(log m).
    pub fn contains(&self, id: &EvidenceId) -> bool {
        self.0.binary_search(id).is_ok()
    }

    /// The ids, sorted.
    pub fn into_vec(self) -> Vec<EvidenceId> {
        self.0
    }
}

impl From<Vec<EvidenceId>> for EvidenceSet {
    fn from(mut ids: Vec<EvidenceId>) -> Self {
        ids.sort_unstable();
        ids.dedup();
        EvidenceSet(ids)
    }
}

impl From<EvidenceSet> for Vec<EvidenceId> {
    fn from(set: EvidenceSet) -> Self {
        set.0
    }
}

impl FromIterator<EvidenceId> for EvidenceSet {
    fn from_iter<I: IntoIterator<Item = EvidenceId>>(iter: I) -> Self {
        EvidenceSet::from(iter.into_iter().collect::<Vec<_>>())
    }
}

impl std::ops::Deref for EvidenceSet {
    type Target = [EvidenceId];

    fn deref(&self) -> &[EvidenceId] {
        &self.0
    }
}

impl<'a> IntoIterator for &'a EvidenceSet {
    type Item = &'a EvidenceId;
    type IntoIter = std::slice::Iter<'a, EvidenceId>;

    fn into_iter(self) -> Self::IntoIter {
        self.0.iter()
    }
}

/// How the audience works with the case.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ShareMode {
    /// Partner share: the audience receives its own copy.
    Copy,
    /// Advanced sharing: the audience works with the case in the sharer's system.
    Access,
}

impl ShareMode {
    /// The mode's stable text form: `copy` or `access`, as serde writes it; the API and the
    /// CLI show it (`access_level`, `mode`).
    pub fn as_str(self) -> &'static str {
        match self {
            ShareMode::Copy => "copy",
            ShareMode::Access => "access",
        }
    }

    fn code(self) -> u8 {
        match self {
            ShareMode::Copy => 1,
            ShareMode::Access => 2,
        }
    }
}

impl std::fmt::Display for ShareMode {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// The statement a sharing organization signs.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Grant {
    /// The share this grant carries; stays the same across versions.
    pub id: ShareId,
    /// Incremented when the sharer re-issues the grant (e.g. resharing adds recipients); the highest
    /// valid version of an id is the current one.
    pub version: u32,
    /// The signing organization (PeerId text); must match `issuer_key`.
    pub issuer: OrgId,
    /// The issuer's ed25519 public key.
    pub issuer_key: [u8; 32],
    /// The organization the grant is for (may equal `issuer` for sharing inside the agency).
    pub audience: OrgId,
    /// Users, groups, emails or badge ids in the audience, as given.
    pub recipients: Vec<Recipient>,
    /// The case in the sharer's (root issuer's) node.
    pub source_case: CaseId,
    /// What part of the case.
    pub scope: Scope,
    /// Copy (partner share) or access (advanced sharing).
    pub mode: ShareMode,
    /// What the audience may do.
    pub policy: SharingPolicy,
    /// When it was issued.
    pub issued_at: Timestamp,
    /// When it stops being valid; `None` = until revoked.
    pub expires_at: Option<Timestamp>,
    /// The sharer's optional message to the recipients.
    pub message: Option<String>,
    /// For an onward share, the grant it derives from (the whole chain travels with it).
    pub parent: Option<Box<SignedGrant>>,
}

/// A grant and its issuer's signature over [`Grant::canonical_bytes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedGrant {
    /// The signed statement.
    pub grant: Grant,
    /// ed25519 signature by `grant.issuer_key`.
    #[serde(with = "sig_hex")]
    pub signature: [u8; 64],
}

/// What a node that holds the source case knows beyond a grant: its folder tree and where each
/// evidence item lies. It lets scope checks see that a subfolder lies within a shared folder, or an
/// evidence item within a shared folder.
#[derive(Debug, Clone, Copy)]
pub struct ScopeContext<'a> {
    /// The source case (for its folder tree).
    pub case: &'a Case,
    /// The folder of each evidence item of the case (`None` = root).
    pub evidence_folders: &'a BTreeMap<EvidenceId, Option<FolderId>>,
}

/// Why a grant or revocation does not verify.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum GrantError {
    /// The issuer key is not a valid ed25519 public key.
    #[error("issuer key is not a valid ed25519 public key")]
    BadIssuerKey,
    /// The issuer id is not the PeerId of the issuer key.
    #[error("issuer {claimed} does not match its key (which is {derived})")]
    IssuerMismatch {
        /// The id the grant names.
        claimed: OrgId,
        /// The id its key belongs to.
        derived: OrgId,
    },
    /// The signature does not verify.
    #[error("bad signature")]
    BadSignature,
    /// The grant is for another organization.
    #[error("grant is for {actual}, not {expected}")]
    WrongAudience {
        /// Who asked.
        expected: OrgId,
        /// Who the grant is for.
        actual: OrgId,
    },
    /// The grant has expired.
    #[error("grant expired at {expires_at} (now {now})")]
    Expired {
        /// Its expiry.
        expires_at: Timestamp,
        /// The time of the check.
        now: Timestamp,
    },
    /// The chain has more than [`MAX_CHAIN_DEPTH`] grants.
    #[error("grant chain is {depth} long; at most {max} allowed")]
    ChainTooDeep {
        /// Its length.
        depth: usize,
        /// The limit.
        max: usize,
    },
    /// The parent grant does not verify.
    #[error("parent grant invalid: {0}")]
    Parent(#[source] Box<GrantError>),
    /// An onward share was issued by someone other than the parent's audience.
    #[error("onward share issued by {issuer}, but the parent grant is for {parent_audience}")]
    IssuerNotParentAudience {
        /// The child's issuer.
        issuer: OrgId,
        /// The parent's audience.
        parent_audience: OrgId,
    },
    /// The parent's policy does not allow onward sharing.
    #[error("the parent grant's policy does not allow onward sharing")]
    OnwardSharingNotAllowed,
    /// The child names another source case.
    #[error("onward share is for a different source case than its parent")]
    CaseMismatch,
    /// The child changes the share mode.
    #[error("onward share changes the share mode")]
    ModeChanged,
    /// The child's scope is not within its parent's.
    #[error("onward share widens the parent's scope")]
    ScopeWidened,
    /// The child's policy allows actions, or lets data leave, that its parent's does not.
    #[error("onward share widens the parent's policy: {extra:?} {extra_data:?}")]
    PolicyWidened {
        /// The extra actions.
        extra: Vec<PolicyAction>,
        /// The extra data kinds.
        extra_data: Vec<SharedData>,
    },
    /// The child outlives its parent (or has no expiry under a parent with one).
    #[error("onward share expires after its parent")]
    ExpiryWidened,
    /// The child claims to be issued before its parent.
    #[error("onward share issued before its parent")]
    IssuedBeforeParent,
    /// The revocation names another grant.
    #[error("revocation is for grant {revocation_for}, not {grant}")]
    RevocationTargetMismatch {
        /// The grant the revocation names.
        revocation_for: ShareId,
        /// The grant it was checked against.
        grant: ShareId,
    },
    /// The revoker is neither the grant's issuer nor an ancestor's.
    #[error("{revoker} may not revoke this grant")]
    RevokerNotAuthorized {
        /// Who signed the revocation.
        revoker: OrgId,
    },
}

/// Why bytes are not a valid wire form.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[non_exhaustive]
pub enum DecodeError {
    /// Larger than [`MAX_WIRE_BYTES`].
    #[error("{0} bytes exceeds the limit of {MAX_WIRE_BYTES}")]
    TooLarge(usize),
    /// Ends early.
    #[error("truncated input")]
    Truncated,
    /// Bytes left after the value.
    #[error("trailing bytes")]
    Trailing,
    /// The domain prefix is missing or unknown.
    #[error("unknown domain prefix")]
    Domain,
    /// An unknown tag (kind, mode, action or option marker).
    #[error("unknown {what} tag {tag}")]
    Tag {
        /// What was being decoded.
        what: &'static str,
        /// The tag found.
        tag: u8,
    },
    /// A string is not UTF-8.
    #[error("string is not UTF-8")]
    Utf8,
    /// Valid but not canonical (unsorted or duplicate set members).
    #[error("not in canonical form")]
    NotCanonical,
    /// The parent carried along does not match the hash the child signed.
    #[error("parent does not match the hash in the grant")]
    ParentMismatch,
    /// Deeper than [`MAX_CHAIN_DEPTH`].
    #[error("grant chain too deep")]
    TooDeep,
}

/// The libp2p PeerId text of an ed25519 public key, computed without libp2p: base58btc of the
/// identity multihash (`0x00`, length `0x24`) of the protobuf `PublicKey { Type: Ed25519 (1),
/// Data: key }` (`0x08 0x01 0x12 0x20 key…`).
pub fn org_id_from_public_key(key: &[u8; 32]) -> OrgId {
    let mut bytes = Vec::with_capacity(38);
    bytes.extend_from_slice(&[0x00, 0x24, 0x08, 0x01, 0x12, 0x20]);
    bytes.extend_from_slice(key);
    OrgId(bs58::encode(bytes).into_string())
}

impl Scope {
    /// Whether an evidence item (lying in `evidence_folder` of `case`) is covered.
    pub fn covers(
        &self,
        evidence_id: EvidenceId,
        evidence_folder: Option<FolderId>,
        case: &Case,
    ) -> bool {
        match self {
            Scope::EntireCase => true,
            Scope::Folders(fs) => fs.iter().any(|f| case.is_within(evidence_folder, *f)),
            Scope::Evidence(ids) => ids.contains(&evidence_id),
        }
    }

    /// Whether this scope lies within `parent`.
    ///
    /// Without the case the comparison is structural: folders must be among the parent's folders,
    /// evidence among the parent's evidence. With the case, a folder below a parent folder counts
    /// too. An evidence selection is never within a folder scope here, because a [`Case`] does not
    /// record where its evidence lies: use [`Scope::is_subset_in`] for that. Every answer errs on
    /// the side of "not within": a `true` is always right.
    pub fn is_subset_of(&self, parent: &Scope, case: Option<&Case>) -> bool {
        self.subset(parent, case, None)
    }

    /// Whether this scope lies within `parent`, knowing the case's folder tree and evidence
    /// locations (folders below parent folders and evidence inside parent folders count).
    pub fn is_subset_in(&self, parent: &Scope, ctx: &ScopeContext<'_>) -> bool {
        self.subset(parent, Some(ctx.case), Some(ctx.evidence_folders))
    }

    fn subset(
        &self,
        parent: &Scope,
        case: Option<&Case>,
        evidence_folders: Option<&BTreeMap<EvidenceId, Option<FolderId>>>,
    ) -> bool {
        let folder_within = |f: Option<FolderId>, parents: &[FolderId]| match case {
            Some(c) => parents.iter().any(|p| c.is_within(f, *p)),
            None => f.is_some_and(|f| parents.contains(&f)),
        };
        match (self, parent) {
            (_, Scope::EntireCase) => true,
            (Scope::EntireCase, _) => false,
            (Scope::Folders(a), Scope::Folders(b)) => a.iter().all(|f| folder_within(Some(*f), b)),
            (Scope::Folders(a), Scope::Evidence(_)) => a.is_empty(),
            (Scope::Evidence(a), Scope::Evidence(b)) => a.iter().all(|e| b.contains(e)),
            (Scope::Evidence(a), Scope::Folders(b)) => a.iter().all(|e| {
                evidence_folders
                    .and_then(|m| m.get(e))
                    .is_some_and(|f| folder_within(*f, b))
            }),
        }
    }

    /// The same scope with its ids sorted and deduplicated.
    pub fn normalized(&self) -> Scope {
        match self {
            Scope::EntireCase => Scope::EntireCase,
            Scope::Folders(v) => Scope::Folders(sorted_dedup(v)),
            Scope::Evidence(v) => Scope::Evidence(v.clone()),
        }
    }
}

fn sorted_dedup<T: Ord + Clone>(v: &[T]) -> Vec<T> {
    let set: BTreeSet<T> = v.iter().cloned().collect();
    set.into_iter().collect()
}

impl Grant {
    /// Sort and deduplicate the sets (recipients, scope ids) so the struct equals its decoded form.
    pub fn normalize(&mut self) {
        self.recipients = sorted_dedup(&self.recipients);
        self.scope = self.scope.normalized();
    }

    /// The bytes the issuer signs. Layout (integers big-endian; `str`/`bytes` = `u32` length +
    /// bytes; `list` = `u32` count + items; `opt` = `0x00`, or `0x01` + value):
    ///
    /// ```text
    /// "casemesh-grant-v2\0"      18 bytes, domain separation
    /// id                         16 bytes (UUID)
    /// version                    u32
    /// issuer                     str (PeerId text)
    /// issuer_key                 32 bytes
    /// audience                   str
    /// recipients                 list of (u8 kind: 1 user, 2 group, 3 email, 4 badge; str),
    ///                            sorted by (kind, text bytes), no duplicates
    /// source_case                16 bytes
    /// scope                      u8 kind: 0 entire case | 1 folders | 2 evidence;
    ///                            for 1 and 2: list of 16-byte ids, sorted bytewise, no duplicates
    /// mode                       u8: 1 copy, 2 access
    /// policy                     str name; list of u8 action codes, ascending;
    ///                            list of u8 data codes, ascending
    /// issued_at                  u64 (ms since epoch)
    /// expires_at                 opt u64
    /// message                    opt str
    /// parent                     opt 32 bytes: the parent's grant hash (SignedGrant::hash)
    /// ```
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(GRANT_DOMAIN);
        w.raw(self.id.as_bytes());
        w.u32(self.version);
        w.str(&self.issuer.0);
        w.raw(&self.issuer_key);
        w.str(&self.audience.0);
        let recipients: BTreeSet<(u8, &str)> = self
            .recipients
            .iter()
            .map(|r| (r.code(), r.text()))
            .collect();
        w.count(recipients.len());
        for (code, text) in recipients {
            w.u8(code);
            w.str(text);
        }
        w.raw(self.source_case.as_bytes());
        match self.scope.normalized() {
            Scope::EntireCase => w.u8(0),
            Scope::Folders(ids) => {
                w.u8(1);
                w.count(ids.len());
                ids.iter().for_each(|id| w.raw(id.as_bytes()));
            }
            Scope::Evidence(ids) => {
                w.u8(2);
                w.count(ids.len());
                ids.iter().for_each(|id| w.raw(id.as_bytes()));
            }
        }
        w.u8(self.mode.code());
        w.str(&self.policy.name);
        w.count(self.policy.allowed.len());
        let codes: BTreeSet<u8> = self.policy.allowed.iter().map(|a| a.code()).collect();
        codes.into_iter().for_each(|c| w.u8(c));
        w.count(self.policy.data.len());
        let codes: BTreeSet<u8> = self.policy.data.iter().map(|d| d.code()).collect();
        codes.into_iter().for_each(|c| w.u8(c));
        w.u64(self.issued_at.0);
        match self.expires_at {
            None => w.u8(0),
            Some(t) => {
                w.u8(1);
                w.u64(t.0);
            }
        }
        match &self.message {
            None => w.u8(0),
            Some(m) => {
                w.u8(1);
                w.str(m);
            }
        }
        match &self.parent {
            None => w.u8(0),
            Some(p) => {
                w.u8(1);
                w.raw(&p.hash());
            }
        }
        w.0
    }
}

impl SignedGrant {
    /// Sign `grant` with `key`. Sets `issuer_key` and `issuer` from the key (so a grant can only be
    /// signed in the name of the key's organization) and normalizes the sets first.
    pub fn sign(mut grant: Grant, key: &SigningKey) -> SignedGrant {
        grant.issuer_key = key.verifying_key().to_bytes();
        grant.issuer = org_id_from_public_key(&grant.issuer_key);
        grant.normalize();
        let signature = key.sign(&grant.canonical_bytes()).to_bytes();
        SignedGrant { grant, signature }
    }

    /// The grant hash: BLAKE3 of the canonical bytes followed by the signature. A child grant
    /// signs its parent's hash, so the hash of a grant commits to its whole chain.
    pub fn hash(&self) -> [u8; 32] {
        let mut h = blake3::Hasher::new();
        h.update(&self.grant.canonical_bytes());
        h.update(&self.signature);
        *h.finalize().as_bytes()
    }

    /// This grant, then its parent, grandparent, … up to the root.
    pub fn chain(&self) -> impl Iterator<Item = &SignedGrant> {
        std::iter::successors(Some(self), |g| g.grant.parent.as_deref())
    }

    /// The number of grants in the chain (1 for a root grant).
    pub fn depth(&self) -> usize {
        self.chain().count()
    }

    /// The root of the chain: the original share by the case's owner.
    pub fn root(&self) -> &SignedGrant {
        self.chain().last().unwrap_or(self)
    }

    /// Check this grant's own signature and issuer id (not expiry, audience or the chain).
    pub fn verify_signature(&self) -> Result<(), GrantError> {
        check_signature(
            &self.grant.issuer,
            &self.grant.issuer_key,
            &self.grant.canonical_bytes(),
            &self.signature,
        )
    }

    /// The wire form: `u32` length + canonical bytes, 64-byte signature, then (when the canonical
    /// bytes name a parent) the parent's wire form.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        for g in self.chain() {
            w.bytes(&g.grant.canonical_bytes());
            w.raw(&g.signature);
        }
        w.0
    }

    /// Decode a wire form, refusing more than [`MAX_WIRE_BYTES`], chains deeper than
    /// [`MAX_CHAIN_DEPTH`], non-canonical encodings and parents that do not match the hash their
    /// child signed. Decoding does not verify signatures: call [`verify`].
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedGrant, DecodeError> {
        if bytes.len() > MAX_WIRE_BYTES {
            return Err(DecodeError::TooLarge(bytes.len()));
        }
        let mut r = Reader { buf: bytes };
        // Decode the chain top-down, then link it bottom-up (no recursion on untrusted input).
        let mut links = Vec::new();
        loop {
            if links.len() == MAX_CHAIN_DEPTH {
                return Err(DecodeError::TooDeep);
            }
            let canonical = r.bytes()?;
            let signature = r.array::<64>()?;
            let (grant, parent_hash) = decode_grant(canonical)?;
            let more = parent_hash.is_some();
            links.push((grant, signature, parent_hash, canonical));
            if !more {
                break;
            }
        }
        r.finish()?;
        let mut below: Option<SignedGrant> = None;
        while let Some((mut grant, signature, parent_hash, canonical)) = links.pop() {
            if let Some(h) = parent_hash {
                let parent = below.take().ok_or(DecodeError::ParentMismatch)?;
                if parent.hash() != h {
                    return Err(DecodeError::ParentMismatch);
                }
                grant.parent = Some(Box::new(parent));
            }
            if grant.canonical_bytes() != canonical {
                return Err(DecodeError::NotCanonical);
            }
            below = Some(SignedGrant { grant, signature });
        }
        below.ok_or(DecodeError::Truncated)
    }
}

pub(crate) fn check_signature(
    issuer: &OrgId,
    key: &[u8; 32],
    message: &[u8],
    signature: &[u8; 64],
) -> Result<(), GrantError> {
    let vk = VerifyingKey::from_bytes(key).map_err(|_| GrantError::BadIssuerKey)?;
    let derived = org_id_from_public_key(key);
    if &derived != issuer {
        return Err(GrantError::IssuerMismatch {
            claimed: issuer.clone(),
            derived,
        });
    }
    vk.verify_strict(message, &Signature::from_bytes(signature))
        .map_err(|_| GrantError::BadSignature)
}

/// Verify a grant and its whole chain at time `now`, structurally (see [`Scope::is_subset_of`]):
/// every signature and issuer id, the audience when given, expiry of every link, and for each
/// onward share the attenuation rules of [`check_attenuation`]. Any node can run this offline.
pub fn verify(
    signed: &SignedGrant,
    now: Timestamp,
    audience: Option<&OrgId>,
) -> Result<(), GrantError> {
    verify_chain(signed, now, audience, None)
}

/// [`verify`], with scope attenuation judged against the source case (a subfolder or an evidence
/// item inside a shared folder is within that folder's scope). For the node that holds the case.
pub fn verify_in_case(
    signed: &SignedGrant,
    now: Timestamp,
    audience: Option<&OrgId>,
    ctx: &ScopeContext<'_>,
) -> Result<(), GrantError> {
    verify_chain(signed, now, audience, Some(ctx))
}

fn verify_chain(
    signed: &SignedGrant,
    now: Timestamp,
    audience: Option<&OrgId>,
    ctx: Option<&ScopeContext<'_>>,
) -> Result<(), GrantError> {
    let depth = signed.depth();
    if depth > MAX_CHAIN_DEPTH {
        return Err(GrantError::ChainTooDeep {
            depth,
            max: MAX_CHAIN_DEPTH,
        });
    }
    verify_link(signed, now, audience, ctx)
}

fn verify_link(
    signed: &SignedGrant,
    now: Timestamp,
    audience: Option<&OrgId>,
    ctx: Option<&ScopeContext<'_>>,
) -> Result<(), GrantError> {
    let g = &signed.grant;
    signed.verify_signature()?;
    if let Some(expected) = audience
        && expected != &g.audience
    {
        return Err(GrantError::WrongAudience {
            expected: expected.clone(),
            actual: g.audience.clone(),
        });
    }
    if let Some(expires_at) = g.expires_at
        && expires_at <= now
    {
        return Err(GrantError::Expired { expires_at, now });
    }
    if let Some(parent) = &g.parent {
        verify_link(parent, now, None, ctx).map_err(|e| GrantError::Parent(Box::new(e)))?;
        check_attenuation(g, parent, ctx)?;
    }
    Ok(())
}

/// The onward-sharing rules between a child grant and its parent (signatures aside): the child is
/// issued by the parent's audience, the parent's policy allows onward sharing, same source case and
/// mode, child scope within the parent's, child policy within the parent's, child expiry no later
/// than the parent's (none under a parent with one is later), and not issued before the parent.
/// Call it before signing an onward share to refuse a widening early.
pub fn check_attenuation(
    child: &Grant,
    parent: &SignedGrant,
    ctx: Option<&ScopeContext<'_>>,
) -> Result<(), GrantError> {
    let p = &parent.grant;
    if child.issuer != p.audience {
        return Err(GrantError::IssuerNotParentAudience {
            issuer: child.issuer.clone(),
            parent_audience: p.audience.clone(),
        });
    }
    if !p.policy.allows(PolicyAction::ShareOnward) {
        return Err(GrantError::OnwardSharingNotAllowed);
    }
    if child.source_case != p.source_case {
        return Err(GrantError::CaseMismatch);
    }
    if child.mode != p.mode {
        return Err(GrantError::ModeChanged);
    }
    let within = match ctx {
        Some(ctx) => child.scope.is_subset_in(&p.scope, ctx),
        None => child.scope.is_subset_of(&p.scope, None),
    };
    if !within {
        return Err(GrantError::ScopeWidened);
    }
    let extra = child.policy.extra_over(&p.policy);
    let extra_data = child.policy.extra_data_over(&p.policy);
    if !extra.is_empty() || !extra_data.is_empty() {
        return Err(GrantError::PolicyWidened { extra, extra_data });
    }
    match (child.expires_at, p.expires_at) {
        (_, None) => {}
        (Some(c), Some(pe)) if c <= pe => {}
        _ => return Err(GrantError::ExpiryWidened),
    }
    if child.issued_at < p.issued_at {
        return Err(GrantError::IssuedBeforeParent);
    }
    Ok(())
}

/// A statement that a grant is revoked ("stop sharing").
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Revocation {
    /// The revoked grant (all its versions, and every grant below it).
    pub grant_id: ShareId,
    /// The revoking organization.
    pub issuer: OrgId,
    /// Its ed25519 public key.
    pub issuer_key: [u8; 32],
    /// When it was revoked.
    pub revoked_at: Timestamp,
    /// Free-text reason (may be empty).
    pub reason: String,
}

/// A revocation and its issuer's signature over [`Revocation::canonical_bytes`].
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct SignedRevocation {
    /// The signed statement.
    pub revocation: Revocation,
    /// ed25519 signature by `revocation.issuer_key`.
    #[serde(with = "sig_hex")]
    pub signature: [u8; 64],
}

impl Revocation {
    /// The bytes the issuer signs: `"casemesh-revocation-v1\0"` (23 bytes), grant id (16 bytes),
    /// issuer (str), issuer key (32 bytes), revoked_at (u64), reason (str); same primitives as
    /// [`Grant::canonical_bytes`].
    pub fn canonical_bytes(&self) -> Vec<u8> {
        let mut w = Writer::default();
        w.raw(REVOCATION_DOMAIN);
        w.raw(self.grant_id.as_bytes());
        w.str(&self.issuer.0);
        w.raw(&self.issuer_key);
        w.u64(self.revoked_at.0);
        w.str(&self.reason);
        w.0
    }
}

impl SignedRevocation {
    /// Sign `revocation` with `key`, setting its issuer and key from the key.
    pub fn sign(mut revocation: Revocation, key: &SigningKey) -> SignedRevocation {
        revocation.issuer_key = key.verifying_key().to_bytes();
        revocation.issuer = org_id_from_public_key(&revocation.issuer_key);
        let signature = key.sign(&revocation.canonical_bytes()).to_bytes();
        SignedRevocation {
            revocation,
            signature,
        }
    }

    /// Check the signature and issuer id only.
    pub fn verify_signature(&self) -> Result<(), GrantError> {
        let r = &self.revocation;
        check_signature(
            &r.issuer,
            &r.issuer_key,
            &r.canonical_bytes(),
            &self.signature,
        )
    }

    /// The wire form: `u32` length + canonical bytes, then the 64-byte signature.
    pub fn to_bytes(&self) -> Vec<u8> {
        signed_wire(&self.revocation.canonical_bytes(), &self.signature)
    }

    /// Decode a wire form (at most [`MAX_WIRE_BYTES`], canonical only). Does not verify.
    pub fn from_bytes(bytes: &[u8]) -> Result<SignedRevocation, DecodeError> {
        let (canonical, signature) = split_signed(bytes)?;
        let mut r = Reader { buf: canonical };
        r.domain(REVOCATION_DOMAIN)?;
        let revocation = Revocation {
            grant_id: ShareId(uuid::Uuid::from_bytes(r.array::<16>()?)),
            issuer: OrgId(r.str()?),
            issuer_key: r.array::<32>()?,
            revoked_at: Timestamp(r.u64()?),
            reason: r.str()?,
        };
        r.finish()?;
        Ok(SignedRevocation {
            revocation,
            signature,
        })
    }
}

/// Verify that `rev` revokes `grant` itself: a valid signature, the grant's id, and a revoker that
/// is the grant's issuer or the issuer of one of its ancestors. `grant` must be the verified grant
/// this node holds under that id (not one supplied with the revocation).
pub fn verify_revocation(rev: &SignedRevocation, grant: &SignedGrant) -> Result<(), GrantError> {
    rev.verify_signature()?;
    let r = &rev.revocation;
    if r.grant_id != grant.grant.id {
        return Err(GrantError::RevocationTargetMismatch {
            revocation_for: r.grant_id,
            grant: grant.grant.id,
        });
    }
    if grant
        .chain()
        .any(|g| g.grant.issuer_key == r.issuer_key && g.grant.issuer == r.issuer)
    {
        Ok(())
    } else {
        Err(GrantError::RevokerNotAuthorized {
            revoker: r.issuer.clone(),
        })
    }
}

/// Whether `rev` validly revokes `grant` or any grant in its chain (revoking a grant also revokes
/// every onward share below it).
pub fn revocation_applies(rev: &SignedRevocation, grant: &SignedGrant) -> bool {
    grant.chain().any(|g| verify_revocation(rev, g).is_ok())
}

fn decode_grant(canonical: &[u8]) -> Result<(Grant, Option<[u8; 32]>), DecodeError> {
    let mut r = Reader { buf: canonical };
    r.domain(GRANT_DOMAIN)?;
    let id = ShareId(uuid::Uuid::from_bytes(r.array::<16>()?));
    let version = r.u32()?;
    let issuer = OrgId(r.str()?);
    let issuer_key = r.array::<32>()?;
    let audience = OrgId(r.str()?);
    let n = r.count(5)?;
    let mut recipients = Vec::with_capacity(n);
    for _ in 0..n {
        let tag = r.u8()?;
        let text = r.str()?;
        recipients.push(match tag {
            1 => Recipient::User(text),
            2 => Recipient::Group(text),
            3 => Recipient::Email(text),
            4 => Recipient::Badge(text),
            tag => {
                return Err(DecodeError::Tag {
                    what: "recipient",
                    tag,
                });
            }
        });
    }
    let source_case = CaseId(uuid::Uuid::from_bytes(r.array::<16>()?));
    let scope = match r.u8()? {
        0 => Scope::EntireCase,
        1 => Scope::Folders(r.ids()?.into_iter().map(FolderId).collect()),
        2 => Scope::Evidence(r.ids()?.into_iter().map(EvidenceId).collect()),
        tag => return Err(DecodeError::Tag { what: "scope", tag }),
    };
    let mode = match r.u8()? {
        1 => ShareMode::Copy,
        2 => ShareMode::Access,
        tag => return Err(DecodeError::Tag { what: "mode", tag }),
    };
    let name = r.str()?;
    let n = r.count(1)?;
    let mut allowed = BTreeSet::new();
    for _ in 0..n {
        let tag = r.u8()?;
        allowed.insert(PolicyAction::from_code(tag).ok_or(DecodeError::Tag {
            what: "action",
            tag,
        })?);
    }
    let n = r.count(1)?;
    let mut data = BTreeSet::new();
    for _ in 0..n {
        let tag = r.u8()?;
        data.insert(SharedData::from_code(tag).ok_or(DecodeError::Tag { what: "data", tag })?);
    }
    let issued_at = Timestamp(r.u64()?);
    let expires_at = match r.option()? {
        false => None,
        true => Some(Timestamp(r.u64()?)),
    };
    let message = match r.option()? {
        false => None,
        true => Some(r.str()?),
    };
    let parent = match r.option()? {
        false => None,
        true => Some(r.array::<32>()?),
    };
    r.finish()?;
    let grant = Grant {
        id,
        version,
        issuer,
        issuer_key,
        audience,
        recipients,
        source_case,
        scope,
        mode,
        policy: SharingPolicy {
            name,
            allowed,
            data,
            two_person_approval: false,
        },
        issued_at,
        expires_at,
        message,
        parent: None,
    };
    Ok((grant, parent))
}

/// Serde for 64-byte signatures as lowercase hex (serde has no impls for `[u8; 64]`).
pub(crate) mod sig_hex {
    use serde::{Deserialize, Deserializer, Serializer};

    pub(crate) fn serialize<S: Serializer>(sig: &[u8; 64], s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&hex::encode(sig))
    }

    pub(crate) fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 64], D::Error> {
        let text = String::deserialize(d)?;
        let mut out = [0u8; 64];
        hex::decode_to_slice(&text, &mut out).map_err(serde::de::Error::custom)?;
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::UserId;
    use proptest::prelude::*;

    fn key(seed: u8) -> SigningKey {
        SigningKey::from_bytes(&[seed; 32])
    }

    fn org(seed: u8) -> OrgId {
        org_id_from_public_key(&key(seed).verifying_key().to_bytes())
    }

    fn uuid(b: u8) -> uuid::Uuid {
        uuid::Uuid::from_bytes([b; 16])
    }

    const T0: Timestamp = Timestamp(1_795_000_000_000);

    /// A root grant from org 1 to org 2, sharing onward allowed.
    fn root_grant() -> Grant {
        Grant {
            id: ShareId(uuid(0x11)),
            version: 1,
            issuer: OrgId(String::new()),
            issuer_key: [0; 32],
            audience: org(2),
            recipients: vec![
                Recipient::User("bob".into()),
                Recipient::Email("dana@pd.example".into()),
                Recipient::Group("Trial team".into()),
            ],
            source_case: CaseId(uuid(0x22)),
            scope: Scope::Folders(vec![FolderId(uuid(0x44)), FolderId(uuid(0x33))]),
            mode: ShareMode::Access,
            policy: SharingPolicy::new(
                "Counsel",
                [
                    PolicyAction::View,
                    PolicyAction::Download,
                    PolicyAction::ShareOnward,
                ],
            ),
            issued_at: T0,
            expires_at: Some(T0.plus_days(30)),
            message: Some("Disclosure batch 1".into()),
            parent: None,
        }
    }

    /// An onward share by org 2 to org 3 under `parent`, properly attenuated.
    fn child_of(parent: &SignedGrant, issuer: u8, audience: u8) -> Grant {
        let p = &parent.grant;
        Grant {
            id: ShareId::random(),
            version: 1,
            issuer: org(issuer),
            issuer_key: key(issuer).verifying_key().to_bytes(),
            audience: org(audience),
            recipients: vec![Recipient::Badge("B-17".into())],
            source_case: p.source_case,
            scope: p.scope.clone(),
            mode: p.mode,
            policy: p.policy.clone(),
            issued_at: p.issued_at,
            expires_at: p.expires_at,
            message: None,
            parent: Some(Box::new(parent.clone())),
        }
    }

    #[test]
    fn org_id_matches_libp2p_peer_id() {
        for seed in [0u8, 1, 7, 255] {
            let sk = key(seed);
            let pk = sk.verifying_key().to_bytes();
            let lp = libp2p_identity::ed25519::PublicKey::try_from_bytes(&pk).unwrap();
            let peer =
                libp2p_identity::PeerId::from_public_key(&libp2p_identity::PublicKey::from(lp));
            assert_eq!(org_id_from_public_key(&pk).0, peer.to_base58());
        }
    }

    #[test]
    fn golden_canonical_bytes() {
        let signed = SignedGrant::sign(root_grant(), &key(1));
        let bytes = signed.grant.canonical_bytes();
        assert_eq!(&bytes[..GRANT_DOMAIN.len()], GRANT_DOMAIN);
        assert_eq!(hex::encode(&bytes), GOLDEN_GRANT_HEX);
        // ed25519 signatures are deterministic, so the signature and grant hash are pinned too.
        assert_eq!(hex::encode(signed.signature), GOLDEN_SIGNATURE_HEX);
        // Normalization sorted the sets.
        assert_eq!(
            signed.grant.scope,
            Scope::Folders(vec![FolderId(uuid(0x33)), FolderId(uuid(0x44))])
        );
        assert_eq!(signed.grant.recipients[0], Recipient::User("bob".into()));
    }

    #[test]
    fn golden_revocation_bytes() {
        let rev = SignedRevocation::sign(
            Revocation {
                grant_id: ShareId(uuid(0x11)),
                issuer: OrgId(String::new()),
                issuer_key: [0; 32],
                revoked_at: T0,
                reason: "case closed".into(),
            },
            &key(1),
        );
        assert_eq!(
            hex::encode(rev.revocation.canonical_bytes()),
            GOLDEN_REVOCATION_HEX
        );
    }

    const GOLDEN_SIGNATURE_HEX: &str = concat!(
        "f33d079f6890ab8c3ceef715f644edfd03efb2f281df6cb872c8889776151a37",
        "9012ca00e66056bfe3431179e949be20fd9d40d753f8f00b976e646e0623320d",
    );
    const GOLDEN_GRANT_HEX: &str = concat!(
        "636173656d6573682d6772616e742d763200", // domain "casemesh-grant-v2\0"
        "11111111111111111111111111111111",     // id
        "00000001",                             // version 1
        "00000034313244334b6f6f574b3939566f56784e4537587a79427758457a573778684b37477076383572394633563366794b53554b504835", // issuer (str)
        "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c", // issuer_key
        "00000034313244334b6f6f574a576f61715a6844616f454673684637526831627059396f68696846687a6357366436394c72324e41537571", // audience (str)
        "00000003",                                       // 3 recipients
        "0100000003626f62",                               // user "bob"
        "020000000a547269616c207465616d",                 // group "Trial team"
        "030000000f64616e614070642e6578616d706c65",       // email "dana@pd.example"
        "22222222222222222222222222222222",               // source_case
        "0100000002",                                     // scope: folders, 2 ids
        "33333333333333333333333333333333",               // folder 33…
        "44444444444444444444444444444444",               // folder 44…
        "02",                                             // mode: access
        "00000007436f756e73656c",                         // policy name "Counsel"
        "00000003010206",                                 // 3 actions: view, download, share_onward
        "000000070102030a0b0c14",                         // 7 data kinds: all
        "000001a1ee565e00",                               // issued_at
        "01000001a288d52600",                             // expires_at: some
        "0100000012446973636c6f737572652062617463682031", // message: some
        "00",                                             // parent: none
    );
    const GOLDEN_REVOCATION_HEX: &str = concat!(
        "636173656d6573682d7265766f636174696f6e2d763100", // domain "casemesh-revocation-v1\0"
        "11111111111111111111111111111111",               // grant_id
        "00000034313244334b6f6f574b3939566f56784e4537587a79427758457a573778684b37477076383572394633563366794b53554b504835", // issuer (str)
        "8a88e3dd7409f195fd52db2d3cba5d72ca6709bf1d94121bf3748801b40f6f5c", // issuer_key
        "000001a1ee565e00",                                                 // revoked_at
        "0000000b6361736520636c6f736564",                                   // reason "case closed"
    );

    #[test]
    fn sign_verify_and_wire_roundtrip() {
        let signed = SignedGrant::sign(root_grant(), &key(1));
        assert_eq!(signed.grant.issuer, org(1));
        verify(&signed, T0, Some(&org(2))).unwrap();
        verify(&signed, T0, None).unwrap();
        let back = SignedGrant::from_bytes(&signed.to_bytes()).unwrap();
        assert_eq!(back, signed);
        let json = serde_json::to_string(&signed).unwrap();
        assert_eq!(serde_json::from_str::<SignedGrant>(&json).unwrap(), signed);
    }

    #[test]
    fn wrong_audience_expired_and_wrong_key_are_rejected() {
        let signed = SignedGrant::sign(root_grant(), &key(1));
        assert!(matches!(
            verify(&signed, T0, Some(&org(3))),
            Err(GrantError::WrongAudience { .. })
        ));
        let end = T0.plus_days(30);
        assert!(matches!(
            verify(&signed, end, None),
            Err(GrantError::Expired { .. })
        ));
        // Signed by key 9 but claiming key 1's identity.
        let mut forged = signed.clone();
        forged.signature = key(9).sign(&signed.grant.canonical_bytes()).to_bytes();
        assert_eq!(verify(&forged, T0, None), Err(GrantError::BadSignature));
        // Claiming key 9 while naming org 1.
        let mut g = signed.grant.clone();
        g.issuer_key = key(9).verifying_key().to_bytes();
        let sig = key(9).sign(&g.canonical_bytes()).to_bytes();
        let forged = SignedGrant {
            grant: g,
            signature: sig,
        };
        assert!(matches!(
            verify(&forged, T0, None),
            Err(GrantError::IssuerMismatch { .. })
        ));
    }

    #[test]
    fn attenuated_chain_verifies_and_roundtrips() {
        let root = SignedGrant::sign(root_grant(), &key(1));
        let mut c = child_of(&root, 2, 3);
        c.scope = Scope::Folders(vec![FolderId(uuid(0x33))]);
        c.policy = SharingPolicy::new("narrow", [PolicyAction::View, PolicyAction::ShareOnward]);
        c.expires_at = Some(T0.plus_days(10));
        let child = SignedGrant::sign(c, &key(2));
        let mut gc = child_of(&child, 3, 4);
        gc.policy = SharingPolicy::view_only();
        let grandchild = SignedGrant::sign(gc, &key(3));
        verify(&grandchild, T0, Some(&org(4))).unwrap();
        assert_eq!(grandchild.depth(), 3);
        assert_eq!(grandchild.root(), &root);
        let back = SignedGrant::from_bytes(&grandchild.to_bytes()).unwrap();
        assert_eq!(back, grandchild);
        // The child expires after 10 days even though the root lasts 30.
        assert!(matches!(
            verify(&grandchild, T0.plus_days(10), None),
            Err(GrantError::Expired { .. })
        ));
    }

    #[test]
    fn a_child_cannot_let_more_data_leave_than_its_parent() {
        let mut r = root_grant();
        r.policy = r.policy.clone().with_data([SharedData::CaseTitle]);
        let root = SignedGrant::sign(r, &key(1));
        let mut c = child_of(&root, 2, 3);
        c.policy = c
            .policy
            .clone()
            .with_data([SharedData::CaseTitle, SharedData::Transcripts]);
        assert_eq!(
            verify(&SignedGrant::sign(c.clone(), &key(2)), T0, None),
            Err(GrantError::PolicyWidened {
                extra: vec![],
                extra_data: vec![SharedData::Transcripts],
            })
        );
        c.policy = c.policy.clone().with_data([]);
        assert_eq!(verify(&SignedGrant::sign(c, &key(2)), T0, None), Ok(()));
    }

    #[test]
    fn widened_children_are_rejected() {
        let root = SignedGrant::sign(root_grant(), &key(1));
        let check = |edit: &dyn Fn(&mut Grant), issuer: u8| {
            let mut c = child_of(&root, 2, 3);
            edit(&mut c);
            verify(&SignedGrant::sign(c, &key(issuer)), T0, None)
        };
        assert_eq!(check(&|_| {}, 2), Ok(()));
        assert_eq!(
            check(&|c| c.scope = Scope::EntireCase, 2),
            Err(GrantError::ScopeWidened)
        );
        assert_eq!(
            check(&|c| c.scope = Scope::Folders(vec![FolderId(uuid(0x55))]), 2),
            Err(GrantError::ScopeWidened)
        );
        assert_eq!(
            check(
                &|c| {
                    c.policy.allowed.insert(PolicyAction::Import);
                },
                2
            ),
            Err(GrantError::PolicyWidened {
                extra: vec![PolicyAction::Import],
                extra_data: vec![],
            })
        );
        assert_eq!(
            check(&|c| c.expires_at = None, 2),
            Err(GrantError::ExpiryWidened)
        );
        assert_eq!(
            check(&|c| c.expires_at = Some(T0.plus_days(31)), 2),
            Err(GrantError::ExpiryWidened)
        );
        assert_eq!(
            check(&|c| c.source_case = CaseId(uuid(0x99)), 2),
            Err(GrantError::CaseMismatch)
        );
        assert_eq!(
            check(&|c| c.mode = ShareMode::Copy, 2),
            Err(GrantError::ModeChanged)
        );
        assert_eq!(
            check(&|c| c.issued_at = Timestamp(T0.0 - 1), 2),
            Err(GrantError::IssuedBeforeParent)
        );
        assert!(matches!(
            check(&|_| {}, 3),
            Err(GrantError::IssuerNotParentAudience { .. })
        ));
    }

    #[test]
    fn onward_sharing_needs_the_parent_policy() {
        let mut g = root_grant();
        g.policy.allowed.remove(&PolicyAction::ShareOnward);
        let root = SignedGrant::sign(g, &key(1));
        let child = SignedGrant::sign(child_of(&root, 2, 3), &key(2));
        assert_eq!(
            verify(&child, T0, None),
            Err(GrantError::OnwardSharingNotAllowed)
        );
    }

    #[test]
    fn invalid_parent_invalidates_child() {
        let root = SignedGrant::sign(root_grant(), &key(1));
        let mut c = child_of(&root, 2, 3);
        if let Some(p) = c.parent.as_mut() {
            p.signature[0] ^= 1;
        }
        let child = SignedGrant::sign(c, &key(2));
        assert_eq!(
            verify(&child, T0, None),
            Err(GrantError::Parent(Box::new(GrantError::BadSignature)))
        );
    }

    #[test]
    fn chain_depth_is_bounded() {
        let mut g = root_grant();
        g.expires_at = None;
        g.audience = org(2);
        let mut cur = SignedGrant::sign(g, &key(1));
        for i in 2..=(MAX_CHAIN_DEPTH as u8) {
            cur = SignedGrant::sign(child_of(&cur, i, i + 1), &key(i));
        }
        assert_eq!(cur.depth(), MAX_CHAIN_DEPTH);
        verify(&cur, T0, None).unwrap();
        let bytes = cur.to_bytes();
        assert_eq!(SignedGrant::from_bytes(&bytes).unwrap(), cur);
        let i = MAX_CHAIN_DEPTH as u8 + 1;
        let deeper = SignedGrant::sign(child_of(&cur, i, i + 1), &key(i));
        assert_eq!(
            verify(&deeper, T0, None),
            Err(GrantError::ChainTooDeep {
                depth: MAX_CHAIN_DEPTH + 1,
                max: MAX_CHAIN_DEPTH
            })
        );
        assert_eq!(
            SignedGrant::from_bytes(&deeper.to_bytes()),
            Err(DecodeError::TooDeep)
        );
    }

    #[test]
    fn decode_refuses_oversize_trailing_and_noncanonical() {
        let signed = SignedGrant::sign(root_grant(), &key(1));
        let mut bytes = signed.to_bytes();
        assert_eq!(
            SignedGrant::from_bytes(&vec![0; MAX_WIRE_BYTES + 1]),
            Err(DecodeError::TooLarge(MAX_WIRE_BYTES + 1))
        );
        bytes.push(0);
        assert_eq!(SignedGrant::from_bytes(&bytes), Err(DecodeError::Trailing));
        // Swap the two (sorted) folder ids: still decodable, but not canonical.
        let canon = signed.grant.canonical_bytes();
        let a = [0x33u8; 16];
        let pos = canon.windows(16).position(|w| w == a).unwrap();
        let mut swapped = canon.clone();
        swapped[pos..pos + 16].copy_from_slice(&[0x44; 16]);
        swapped[pos + 16..pos + 32].copy_from_slice(&[0x33; 16]);
        let mut w = Writer::default();
        w.bytes(&swapped);
        w.raw(&signed.signature);
        assert_eq!(
            SignedGrant::from_bytes(&w.0),
            Err(DecodeError::NotCanonical)
        );
        assert_eq!(SignedGrant::from_bytes(&[]), Err(DecodeError::Truncated));
    }

    #[test]
    fn revocations() {
        let root = SignedGrant::sign(root_grant(), &key(1));
        let child = SignedGrant::sign(child_of(&root, 2, 3), &key(2));
        let revoke = |target: ShareId, by: u8| {
            SignedRevocation::sign(
                Revocation {
                    grant_id: target,
                    issuer: OrgId(String::new()),
                    issuer_key: [0; 32],
                    revoked_at: T0,
                    reason: String::new(),
                },
                &key(by),
            )
        };
        // The issuer and an ancestor's issuer may revoke the child; the audience may not.
        verify_revocation(&revoke(child.grant.id, 2), &child).unwrap();
        verify_revocation(&revoke(child.grant.id, 1), &child).unwrap();
        assert!(matches!(
            verify_revocation(&revoke(child.grant.id, 3), &child),
            Err(GrantError::RevokerNotAuthorized { .. })
        ));
        // The child's issuer may not revoke the root.
        assert!(matches!(
            verify_revocation(&revoke(root.grant.id, 2), &root),
            Err(GrantError::RevokerNotAuthorized { .. })
        ));
        assert!(matches!(
            verify_revocation(&revoke(root.grant.id, 1), &child),
            Err(GrantError::RevocationTargetMismatch { .. })
        ));
        // Revoking the root revokes the onward share too.
        assert!(revocation_applies(&revoke(root.grant.id, 1), &child));
        assert!(!revocation_applies(&revoke(child.grant.id, 1), &root));
        // Wire roundtrip and tamper detection.
        let rev = revoke(root.grant.id, 1);
        let bytes = rev.to_bytes();
        assert_eq!(SignedRevocation::from_bytes(&bytes).unwrap(), rev);
        let mut bad = bytes.clone();
        let n = bad.len();
        bad[n - 70] ^= 0x01;
        let decoded = SignedRevocation::from_bytes(&bad);
        assert!(decoded.is_err() || decoded.unwrap().verify_signature().is_err());
    }

    fn case_with_tree() -> (Case, FolderId, FolderId, FolderId) {
        let mut case = Case::new("C-1", "t", "d", UserId::random(), T0);
        let a = case.create_folder("A").unwrap();
        let ab = case.create_folder("A/B").unwrap();
        let c = case.create_folder("C").unwrap();
        (case, a, ab, c)
    }

    #[test]
    fn scope_covers_and_subsets() {
        let (case, a, ab, c) = case_with_tree();
        let e1 = EvidenceId::random();
        let e2 = EvidenceId::random();
        let folders = Scope::Folders(vec![a]);
        assert!(folders.covers(e1, Some(ab), &case));
        assert!(folders.covers(e1, Some(a), &case));
        assert!(!folders.covers(e1, Some(c), &case));
        assert!(!folders.covers(e1, None, &case));
        assert!(Scope::EntireCase.covers(e1, None, &case));
        assert!(Scope::Evidence(vec![e1].into()).covers(e1, Some(c), &case));
        assert!(!Scope::Evidence(vec![e1].into()).covers(e2, Some(c), &case));

        let sub = Scope::Folders(vec![ab]);
        assert!(sub.is_subset_of(&folders, Some(&case)));
        assert!(!sub.is_subset_of(&folders, None), "structural: B is not A");
        assert!(!folders.is_subset_of(&sub, Some(&case)));
        assert!(folders.is_subset_of(&Scope::EntireCase, None));
        assert!(!Scope::EntireCase.is_subset_of(&folders, Some(&case)));
        let ev = Scope::Evidence(vec![e1].into());
        assert!(ev.is_subset_of(&Scope::Evidence(vec![e2, e1].into()), None));
        assert!(!ev.is_subset_of(&folders, Some(&case)));
        let locations = BTreeMap::from([(e1, Some(ab)), (e2, Some(c))]);
        let ctx = ScopeContext {
            case: &case,
            evidence_folders: &locations,
        };
        assert!(ev.is_subset_in(&folders, &ctx));
        assert!(!Scope::Evidence(vec![e2].into()).is_subset_in(&folders, &ctx));
        assert!(!folders.is_subset_in(&ev, &ctx));
    }

    #[test]
    fn case_aware_verification_accepts_subfolders() {
        let (case, a, ab, _) = case_with_tree();
        let mut g = root_grant();
        g.source_case = case.id;
        g.scope = Scope::Folders(vec![a]);
        let root = SignedGrant::sign(g, &key(1));
        let mut c = child_of(&root, 2, 3);
        c.scope = Scope::Folders(vec![ab]);
        let child = SignedGrant::sign(c, &key(2));
        assert_eq!(verify(&child, T0, None), Err(GrantError::ScopeWidened));
        let locations = BTreeMap::new();
        let ctx = ScopeContext {
            case: &case,
            evidence_folders: &locations,
        };
        verify_in_case(&child, T0, None, &ctx).unwrap();
    }

    fn chain() -> SignedGrant {
        let root = SignedGrant::sign(root_grant(), &key(1));
        SignedGrant::sign(child_of(&root, 2, 3), &key(2))
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        #[test]
        fn any_altered_byte_is_rejected(pos in any::<prop::sample::Index>(), delta in 1u8..=255) {
            let signed = chain();
            let mut bytes = signed.to_bytes();
            let i = pos.index(bytes.len());
            bytes[i] ^= delta;
            match SignedGrant::from_bytes(&bytes) {
                Err(_) => {}
                Ok(g) => {
                    prop_assert_ne!(&g, &signed);
                    prop_assert!(verify(&g, T0, None).is_err());
                }
            }
        }

        #[test]
        fn random_grants_roundtrip_and_verify(
            recipients in proptest::collection::vec((1u8..=4, ".{0,12}"), 0..5),
            scope_kind in 0u8..3,
            ids in proptest::collection::vec(any::<u128>(), 0..6),
            actions in proptest::collection::btree_set(
                proptest::sample::select(PolicyAction::ALL.to_vec()), 0..=8),
            data in proptest::collection::btree_set(
                proptest::sample::select(SharedData::ALL.to_vec()), 0..=8),
            name in ".{0,20}",
            message in proptest::option::of(".{0,40}"),
            expiry in proptest::option::of(1u64..1_000_000),
            version in any::<u32>(),
        ) {
            let mut g = root_grant();
            g.version = version;
            g.recipients = recipients
                .into_iter()
                .map(|(k, t)| match k {
                    1 => Recipient::User(t),
                    2 => Recipient::Group(t),
                    3 => Recipient::Email(t),
                    _ => Recipient::Badge(t),
                })
                .collect();
            let ids = ids.into_iter().map(uuid::Uuid::from_u128);
            g.scope = match scope_kind {
                0 => Scope::EntireCase,
                1 => Scope::Folders(ids.map(FolderId).collect()),
                _ => Scope::Evidence(ids.map(EvidenceId).collect()),
            };
            g.policy = SharingPolicy {
                name,
                allowed: actions,
                data,
                two_person_approval: false,
            };
            g.message = message;
            g.expires_at = expiry.map(|e| Timestamp(T0.0 + e));
            let signed = SignedGrant::sign(g, &key(1));
            let back = SignedGrant::from_bytes(&signed.to_bytes());
            prop_assert_eq!(back.as_ref(), Ok(&signed));
            prop_assert_eq!(verify(&signed, T0, Some(&org(2))), Ok(()));
        }

        #[test]
        fn any_altered_signature_byte_is_rejected(i in 0usize..64, delta in 1u8..=255) {
            let mut signed = SignedGrant::sign(root_grant(), &key(1));
            signed.signature[i] ^= delta;
            prop_assert_eq!(verify(&signed, T0, None), Err(GrantError::BadSignature));
        }

        #[test]
        fn wrong_key_is_rejected(seed in 2u8..=255) {
            let signed = SignedGrant::sign(root_grant(), &key(1));
            let forged = SignedGrant {
                signature: key(seed).sign(&signed.grant.canonical_bytes()).to_bytes(),
                grant: signed.grant,
            };
            prop_assert_eq!(verify(&forged, T0, None), Err(GrantError::BadSignature));
        }

        #[test]
        fn expiry_is_enforced(days in 0u32..60, extra_ms in 0u64..1000) {
            let signed = SignedGrant::sign(root_grant(), &key(1));
            let now = Timestamp(T0.plus_days(days).0 + extra_ms);
            let expired = now >= T0.plus_days(30);
            prop_assert_eq!(verify(&signed, now, None).is_err(), expired);
        }

        #[test]
        fn attenuated_chains_verify_and_widened_ones_do_not(
            drop_actions in proptest::collection::vec(any::<bool>(), 3),
            add in proptest::sample::select(PolicyAction::ALL.to_vec()),
            keep_folder in any::<bool>(),
            shorten in 0u32..30,
            widen in 0u8..4,
        ) {
            let root = SignedGrant::sign(root_grant(), &key(1));
            let mut c = child_of(&root, 2, 3);
            let actions: Vec<PolicyAction> = root.grant.policy.allowed.iter().copied().collect();
            for (a, drop) in actions.iter().zip(&drop_actions) {
                if *drop {
                    c.policy.allowed.remove(a);
                }
            }
            c.scope = Scope::Folders(vec![FolderId(uuid(if keep_folder { 0x33 } else { 0x44 }))]);
            c.expires_at = Some(T0.plus_days(30 - shorten));
            let good = SignedGrant::sign(c.clone(), &key(2));
            prop_assert_eq!(verify(&good, T0, None), Ok(()));
            match widen {
                0 => c.scope = Scope::Folders(vec![FolderId(uuid(0x33)), FolderId(uuid(0x55))]),
                1 => { c.policy.allowed.insert(add); }
                2 => c.expires_at = Some(T0.plus_days(30 + 1 + shorten)),
                _ => c.expires_at = None,
            }
            // Re-adding an action the parent allows is not a widening.
            let still_within = widen == 1 && root.grant.policy.allowed.contains(&add);
            let result = verify(&SignedGrant::sign(c, &key(2)), T0, None);
            if still_within {
                prop_assert_eq!(result, Ok(()));
            } else {
                prop_assert!(result.is_err());
            }
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(256))]

        /// An evidence scope answers like a plain list, whatever order or repetition its ids
        /// came in, and serializes as the sorted list without duplicates.
        #[test]
        fn evidence_set_answers_like_the_list(
            ids in proptest::collection::vec(0u8..40, 0..30),
            probe in 0u8..40,
        ) {
            let ids: Vec<EvidenceId> = ids.into_iter().map(|b| EvidenceId(uuid(b))).collect();
            let set = EvidenceSet::from(ids.clone());
            let probe = EvidenceId(uuid(probe));
            prop_assert_eq!(set.contains(&probe), ids.contains(&probe));
            let mut want = ids.clone();
            want.sort();
            want.dedup();
            prop_assert_eq!(&set[..], &want[..]);
            // Stored records and the API keep the plain-list shape; unsorted input is normalized.
            let scope = Scope::Evidence(set);
            let json = serde_json::to_value(&scope).unwrap();
            prop_assert_eq!(
                json,
                serde_json::json!({"kind": "evidence", "ids": want.iter().map(|e| e.0.to_string()).collect::<Vec<_>>()})
            );
            let unsorted = serde_json::json!({"kind": "evidence", "ids": ids.iter().map(|e| e.0.to_string()).collect::<Vec<_>>()});
            prop_assert_eq!(serde_json::from_value::<Scope>(unsorted).unwrap(), scope);
        }
    }
}
