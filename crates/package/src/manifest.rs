//! The signed manifest: `manifest.json` (file list with sizes and BLAKE3 hashes) and
//! `manifest.sig` (detached ed25519 signature, hex).
//!
//! The signed bytes are exactly the bytes of `manifest.json` as stored in the package, so a
//! verifier never has to re-canonicalize JSON. The writer produces them canonically: compact
//! JSON, fields in the order of [`Manifest`], files sorted by path bytes, one trailing `\n`.
//! The signature covers [`SIGNING_CONTEXT`] followed by those bytes (domain separation: a
//! manifest signature can never be replayed as a grant signature made with the same org key).

use ed25519_dalek::{Signature, Signer, SigningKey, VerifyingKey};
use serde::{Deserialize, Serialize};

use crate::PackageError;

/// Name of the manifest at the package root.
pub const MANIFEST_NAME: &str = "manifest.json";
/// Name of the detached signature at the package root.
pub const SIGNATURE_NAME: &str = "manifest.sig";
/// Value of [`Manifest::format`].
pub const MANIFEST_FORMAT: &str = "casemesh-package";
/// Current [`Manifest::version`].
pub const MANIFEST_VERSION: u32 = 1;
/// Prefix of the signed message, before the manifest bytes.
pub const SIGNING_CONTEXT: &[u8] = b"casemesh-package-manifest-v1\n";
/// Largest `manifest.json` a verifier reads (about 1.5 million files).
pub(crate) const MAX_MANIFEST_BYTES: u64 = 256 << 20;
/// `manifest.sig`: 128 lowercase hex characters and a newline.
pub(crate) const SIGNATURE_FILE_LEN: usize = 129;

/// Contents of `manifest.json`.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Manifest {
    /// Always [`MANIFEST_FORMAT`].
    pub format: String,
    /// Manifest format version, [`MANIFEST_VERSION`] for this writer.
    pub version: u32,
    /// Container the package was written as: `"zip"` or `"iso"` (informative).
    pub container: String,
    /// Org id (libp2p PeerId text) of the organization that built and signed the package: the
    /// org id of `public_key` (a verifier refuses any other).
    pub signer: String,
    /// Ed25519 public key that signed `manifest.sig`, 64 lowercase hex characters.
    pub public_key: String,
    /// Time of the content's state, milliseconds since the Unix epoch (UTC): what
    /// [`BuildOptions::created_at_ms`](crate::BuildOptions::created_at_ms) gave (for download
    /// links, the case's last change), never the wall clock at build time.
    pub created_at_ms: u64,
    /// Every file of the package except `manifest.json` and `manifest.sig`, sorted by path.
    pub files: Vec<ManifestFile>,
    /// Folders of the package that hold nothing (`/`-separated paths, sorted), kept when the
    /// folder structure is retained: the package holds each as a folder (ZIP: a directory
    /// entry `path/`; ISO: a directory in every tree). Folders that hold files are not listed:
    /// the files' paths make them. Absent from the JSON when empty, so a package without empty
    /// folders has the same manifest bytes as before the field existed.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub folders: Vec<String>,
}

/// One file listed in the manifest.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ManifestFile {
    /// Package-relative path, `/`-separated.
    pub path: String,
    /// Size in bytes.
    pub size: u64,
    /// BLAKE3 hash of the contents, 64 lowercase hex characters.
    pub blake3: String,
}

impl Manifest {
    /// The canonical bytes: compact JSON in field order, files sorted by path, trailing `\n`.
    pub fn to_bytes(&self) -> Vec<u8> {
        let mut sorted = self.clone();
        sorted
            .files
            .sort_by(|a, b| a.path.as_bytes().cmp(b.path.as_bytes()));
        sorted
            .folders
            .sort_by(|a, b| a.as_bytes().cmp(b.as_bytes()));
        // Serializing plain strings and integers cannot fail.
        let mut bytes = serde_json::to_vec(&sorted).unwrap_or_default();
        bytes.push(b'\n');
        bytes
    }

    /// Parses manifest bytes (does not check the signature).
    pub fn parse(bytes: &[u8]) -> Result<Self, PackageError> {
        let manifest: Manifest = serde_json::from_slice(bytes)
            .map_err(|e| PackageError::manifest(format!("manifest.json does not parse: {e}")))?;
        if manifest.format != MANIFEST_FORMAT {
            return Err(PackageError::manifest(format!(
                "unknown manifest format {:?}",
                manifest.format
            )));
        }
        if manifest.version != MANIFEST_VERSION {
            return Err(PackageError::manifest(format!(
                "unsupported manifest version {}",
                manifest.version
            )));
        }
        Ok(manifest)
    }
}

/// The message an org key signs for manifest bytes `manifest`.
fn signed_message(manifest: &[u8]) -> Vec<u8> {
    let mut message = Vec::with_capacity(SIGNING_CONTEXT.len() + manifest.len());
    message.extend_from_slice(SIGNING_CONTEXT);
    message.extend_from_slice(manifest);
    message
}

/// The `manifest.sig` file for manifest bytes `manifest`: hex signature and `\n`.
pub fn sign(key: &SigningKey, manifest: &[u8]) -> Vec<u8> {
    let signature = key.sign(&signed_message(manifest));
    let mut out = hex::encode(signature.to_bytes()).into_bytes();
    out.push(b'\n');
    out
}

/// Whether `sig_file` (contents of `manifest.sig`) is a valid signature of `manifest` by the
/// key named inside the manifest, `public_key_hex`.
pub fn check_signature(public_key_hex: &str, manifest: &[u8], sig_file: &[u8]) -> bool {
    let Some(key) = parse_public_key(public_key_hex) else {
        return false;
    };
    let Ok(text) = std::str::from_utf8(sig_file) else {
        return false;
    };
    let mut raw = [0u8; 64];
    if hex::decode_to_slice(text.trim(), &mut raw).is_err() {
        return false;
    }
    let signature = Signature::from_bytes(&raw);
    key.verify_strict(&signed_message(manifest), &signature)
        .is_ok()
}

/// Parses a hex ed25519 public key.
pub fn parse_public_key(hex_key: &str) -> Option<VerifyingKey> {
    let mut raw = [0u8; 32];
    hex::decode_to_slice(hex_key, &mut raw).ok()?;
    VerifyingKey::from_bytes(&raw).ok()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn golden_bytes_and_signature_roundtrip() {
        let key = SigningKey::from_bytes(&[7u8; 32]);
        let manifest = Manifest {
            format: MANIFEST_FORMAT.into(),
            version: 1,
            container: "zip".into(),
            signer: "org-1".into(),
            public_key: hex::encode(key.verifying_key().to_bytes()),
            created_at_ms: 5,
            folders: Vec::new(),
            files: vec![
                ManifestFile {
                    path: "b".into(),
                    size: 1,
                    blake3: "00".into(),
                },
                ManifestFile {
                    path: "a/\"x\"".into(),
                    size: 2,
                    blake3: "11".into(),
                },
            ],
        };
        let bytes = manifest.to_bytes();
        let expected = format!(
            "{{\"format\":\"casemesh-package\",\"version\":1,\"container\":\"zip\",\"signer\":\"org-1\",\
             \"public_key\":\"{}\",\"created_at_ms\":5,\"files\":[{{\"path\":\"a/\\\"x\\\"\",\"size\":2,\
             \"blake3\":\"11\"}},{{\"path\":\"b\",\"size\":1,\"blake3\":\"00\"}}]}}\n",
            manifest.public_key
        );
        assert_eq!(String::from_utf8(bytes.clone()).unwrap(), expected);
        let sig = sign(&key, &bytes);
        assert_eq!(sig.len(), SIGNATURE_FILE_LEN);
        assert!(check_signature(&manifest.public_key, &bytes, &sig));
        let mut other = bytes.clone();
        other[10] ^= 1;
        assert!(!check_signature(&manifest.public_key, &other, &sig));
        assert_eq!(Manifest::parse(&bytes).unwrap().files.len(), 2);
    }
}
