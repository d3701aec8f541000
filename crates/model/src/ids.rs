//! Identifier newtypes.
//!
//! Record ids ([`CaseId`], [`EvidenceId`], …) are random 128-bit UUIDs rendered as lowercase
//! hyphenated text; they are the stable keys. Display ids (a case's "Case ID" as users type it,
//! an evidence item's display id) are plain strings on the records themselves. [`OrgId`] is the
//! organization's libp2p PeerId in its base58 text form, kept as text so this crate does not depend
//! on libp2p. [`BlobHash`] is the BLAKE3 hash that addresses evidence bytes.

use serde::{Deserialize, Serialize};
use std::fmt;
use std::str::FromStr;

macro_rules! uuid_id {
    ($(#[$doc:meta])* $name:ident) => {
        $(#[$doc])*
        #[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
        #[serde(transparent)]
        pub struct $name(pub uuid::Uuid);

        impl $name {
            /// A new random id.
            pub fn random() -> Self {
                Self(uuid::Uuid::new_v4())
            }

            /// The all-zero id: "none" where a key needs an id.
            pub fn nil() -> Self {
                Self(uuid::Uuid::nil())
            }

            /// The 16 raw bytes, used as database keys.
            pub fn as_bytes(&self) -> &[u8; 16] {
                self.0.as_bytes()
            }
        }

        impl fmt::Display for $name {
            fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                self.0.hyphenated().fmt(f)
            }
        }

        impl FromStr for $name {
            type Err = IdParseError;
            fn from_str(s: &str) -> Result<Self, Self::Err> {
                uuid::Uuid::parse_str(s)
                    .map(Self)
                    .map_err(|_| IdParseError { kind: stringify!($name), input: s.chars().take(80).collect() })
            }
        }
    };
}

uuid_id!(
    /// A case record.
    CaseId
);
uuid_id!(
    /// An evidence item.
    EvidenceId
);
uuid_id!(
    /// A folder inside a case.
    FolderId
);
uuid_id!(
    /// A local user.
    UserId
);
uuid_id!(
    /// A local group of users.
    GroupId
);
uuid_id!(
    /// A transcript attached to an evidence item.
    TranscriptId
);
uuid_id!(
    /// A share (partner share or advanced share) and the grant that carries it.
    ShareId
);
uuid_id!(
    /// A download link.
    LinkId
);

/// Text that is not a valid id of the expected kind.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("not a valid {kind}: {input:?}")]
pub struct IdParseError {
    /// Which id type was expected.
    pub kind: &'static str,
    /// The offending input (truncated).
    pub input: String,
}

/// An organization: the base58 text of the node's libp2p PeerId.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(transparent)]
pub struct OrgId(pub String);

impl OrgId {
    /// The base58 PeerId text.
    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl fmt::Display for OrgId {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.0)
    }
}

/// The BLAKE3 hash of a blob's bytes: its address in the blob store.
#[derive(Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub struct BlobHash(pub [u8; 32]);

impl BlobHash {
    /// Hash a byte slice (small inputs only; stream large ones through `blake3::Hasher`).
    pub fn of(bytes: &[u8]) -> Self {
        Self(*blake3::hash(bytes).as_bytes())
    }

    /// Lowercase hex, 64 characters.
    pub fn to_hex(&self) -> String {
        hex::encode(self.0)
    }
}

impl From<blake3::Hash> for BlobHash {
    fn from(h: blake3::Hash) -> Self {
        Self(*h.as_bytes())
    }
}

impl fmt::Display for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(&self.to_hex())
    }
}

impl fmt::Debug for BlobHash {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "BlobHash({})", self.to_hex())
    }
}

impl FromStr for BlobHash {
    type Err = IdParseError;
    fn from_str(s: &str) -> Result<Self, Self::Err> {
        let err = || IdParseError {
            kind: "BlobHash",
            input: s.chars().take(80).collect(),
        };
        if s.len() != 64 || s.bytes().any(|b| b.is_ascii_uppercase()) {
            return Err(err());
        }
        let mut out = [0u8; 32];
        hex::decode_to_slice(s, &mut out).map_err(|_| err())?;
        Ok(Self(out))
    }
}

impl Serialize for BlobHash {
    fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
        s.serialize_str(&self.to_hex())
    }
}

impl<'de> Deserialize<'de> for BlobHash {
    fn deserialize<D: serde::Deserializer<'de>>(d: D) -> Result<Self, D::Error> {
        let s = String::deserialize(d)?;
        s.parse().map_err(serde::de::Error::custom)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn blob_hash_roundtrips_through_hex_and_json() {
        let h = BlobHash::of(b"evidence");
        assert_eq!(h.to_hex().parse::<BlobHash>().unwrap(), h);
        let json = serde_json::to_string(&h).unwrap();
        assert_eq!(json, format!("\"{}\"", h.to_hex()));
        assert_eq!(serde_json::from_str::<BlobHash>(&json).unwrap(), h);
    }

    #[test]
    fn blob_hash_rejects_bad_text() {
        assert!("abc".parse::<BlobHash>().is_err());
        assert!("z".repeat(64).parse::<BlobHash>().is_err());
        assert!(
            BlobHash::of(b"x")
                .to_hex()
                .to_uppercase()
                .parse::<BlobHash>()
                .is_err()
        );
    }

    #[test]
    fn case_id_parses_its_display() {
        let id = CaseId::random();
        assert_eq!(id.to_string().parse::<CaseId>().unwrap(), id);
        assert!("not-an-id".parse::<CaseId>().is_err());
    }
}
