//! The report of `casemesh verify PACKAGE --json`: the offline check of a download-link package
//! (ZIP or ISO) against its signed manifest, and whom its signer was pinned to (issue #16,
//! item 6; the audit attachment: issue #13, item 5).
//!
//! It is not an admin-API answer (the command reads a file, not a node), but it is a `--json`
//! contract like the others: scripts and the integration tests read these field names, so they
//! are pinned by the golden test below. Rename nothing; add only `Option` fields.
//!
//! ```
//! use casemesh_api_types::verify::PackageVerifyReport;
//! let json = r#"{"ok":false,"intact":true,"format":"zip","signature_valid":true,
//!   "signer":"12D3KooW…","signer_matches_key":true,"signer_pinned":false,"pinned_as":null,
//!   "public_key":"ab…","expected_key_matches":null,"created_at_ms":1,"audit":null,
//!   "files_ok":2,"missing":[],"added":[],"altered":[],"problems":[]}"#;
//! let report: PackageVerifyReport = serde_json::from_str(json).unwrap();
//! assert!(report.intact && !report.signer_pinned);
//! ```

use crate::links::PackageFormat;
use serde::{Deserialize, Serialize};

/// What `casemesh verify PACKAGE --json` prints, whether the package passed or not (the exit
/// code is 1 exactly when [`ok`](Self::ok) is false).
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct PackageVerifyReport {
    /// The verdict: [`intact`](Self::intact) and the signer pinned (or not pinned and
    /// `--allow-unpinned` given).
    pub ok: bool,
    /// Signature valid, signer consistent with its key, every file exactly as the manifest lists
    /// it and the audit trail (if any) chained up to a head signed by the same key. Says nothing
    /// about *who* holds the key: that is [`signer_pinned`](Self::signer_pinned).
    pub intact: bool,
    /// The container, detected from the content (`zip` or `iso`).
    pub format: PackageFormat,
    /// Whether `manifest.sig` is a valid ed25519 signature of `manifest.json` by
    /// [`public_key`](Self::public_key).
    pub signature_valid: bool,
    /// The manifest's `signer` (an org id, as the manifest claims it).
    pub signer: String,
    /// Whether [`signer`](Self::signer) is the org id of [`public_key`](Self::public_key).
    pub signer_matches_key: bool,
    /// Whether the key is the expected one: the `--org-key` given, or the node's own or a
    /// registered partner's (`--data-dir`/`--node`). False when nothing pinned it.
    pub signer_pinned: bool,
    /// Whom the key was pinned to, in words (`"the key given with --org-key"`, `"this node
    /// (ORG_ID)"`, `"registered partner \"NAME\" (ORG_ID)"`); `null` when not pinned.
    pub pinned_as: Option<String>,
    /// The manifest's ed25519 public key, 64 lowercase hex characters.
    pub public_key: String,
    /// With `--org-key`: whether the key is that one (same as
    /// [`signer_pinned`](Self::signer_pinned)); `null` without `--org-key`.
    pub expected_key_matches: Option<bool>,
    /// The manifest's `created_at_ms`: when the content was in this state, milliseconds since
    /// the Unix epoch.
    pub created_at_ms: u64,
    /// The check of the audit-trail attachment; `null` when the package has none.
    pub audit: Option<AuditAttachmentCheck>,
    /// How many files are present with the size and BLAKE3 hash the manifest lists.
    pub files_ok: u64,
    /// Paths listed in the manifest and absent from the package, sorted.
    pub missing: Vec<String>,
    /// Paths present in the package and not in the manifest, sorted.
    pub added: Vec<String>,
    /// Paths present with another size or hash, unreadable, duplicated, or listed under an
    /// unsafe or colliding name, sorted.
    pub altered: Vec<String>,
    /// Every file problem with its explanation, sorted by path.
    pub problems: Vec<FileProblemView>,
}

/// The check of a package's audit-trail attachment: every entry chained up to a head signed by
/// the manifest's key.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AuditAttachmentCheck {
    /// No problem found ([`problem`](Self::problem) is `null`).
    pub ok: bool,
    /// Entries in the attachment.
    pub entries: u64,
    /// Entries the signed head covers.
    pub signed_len: u64,
    /// The org id the signed head names (empty when the head is unreadable).
    pub signed_by: String,
    /// What is wrong, in words (the first break of the chain, a bad head signature, …).
    pub problem: Option<String>,
}

/// One file's problem.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct FileProblemView {
    /// The path inside the package (as the package or the manifest names it: untrusted text).
    pub path: String,
    /// What is wrong, in words: `missing`, `added (not in the manifest)`, `altered: …`, …
    pub problem: String,
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Today's field names, pinned: `casemesh verify --json` printed exactly this object
    /// (built with `serde_json::json!`) before the report had a type.
    const GOLDEN: &str = r#"{
        "ok": false,
        "intact": false,
        "format": "iso",
        "signature_valid": true,
        "signer": "12D3KooWSigner",
        "signer_matches_key": true,
        "signer_pinned": true,
        "pinned_as": "the key given with --org-key",
        "public_key": "00ff",
        "expected_key_matches": true,
        "created_at_ms": 1764500000000,
        "audit": {
            "ok": false,
            "entries": 7,
            "signed_len": 6,
            "signed_by": "12D3KooWSigner",
            "problem": "entry 6 does not chain"
        },
        "files_ok": 3,
        "missing": ["a.txt"],
        "added": ["b.txt"],
        "altered": ["c.txt"],
        "problems": [{"path": "a.txt", "problem": "missing"}]
    }"#;

    fn sample() -> PackageVerifyReport {
        PackageVerifyReport {
            ok: false,
            intact: false,
            format: PackageFormat::Iso,
            signature_valid: true,
            signer: "12D3KooWSigner".into(),
            signer_matches_key: true,
            signer_pinned: true,
            pinned_as: Some("the key given with --org-key".into()),
            public_key: "00ff".into(),
            expected_key_matches: Some(true),
            created_at_ms: 1_764_500_000_000,
            audit: Some(AuditAttachmentCheck {
                ok: false,
                entries: 7,
                signed_len: 6,
                signed_by: "12D3KooWSigner".into(),
                problem: Some("entry 6 does not chain".into()),
            }),
            files_ok: 3,
            missing: vec!["a.txt".into()],
            added: vec!["b.txt".into()],
            altered: vec!["c.txt".into()],
            problems: vec![FileProblemView {
                path: "a.txt".into(),
                problem: "missing".into(),
            }],
        }
    }

    #[test]
    fn report_json_field_names_are_pinned() {
        let golden: serde_json::Value = serde_json::from_str(GOLDEN).unwrap();
        assert_eq!(serde_json::to_value(sample()).unwrap(), golden);
        let back: PackageVerifyReport = serde_json::from_value(golden).unwrap();
        assert_eq!(back, sample());
    }

    #[test]
    fn absent_parts_are_null() {
        let report = PackageVerifyReport {
            pinned_as: None,
            expected_key_matches: None,
            audit: None,
            ..sample()
        };
        let v = serde_json::to_value(&report).unwrap();
        for key in ["pinned_as", "expected_key_matches", "audit"] {
            assert_eq!(v[key], serde_json::Value::Null, "{key}");
        }
    }
}
