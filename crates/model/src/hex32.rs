//! Serde helper: a 32-byte array as 64 lowercase hex characters (hashes in JSON records).
//! Use with `#[serde(with = "casemesh_model::hex32")]`.

use serde::{Deserialize, Deserializer, Serializer};

/// Serialize as lowercase hex.
pub fn serialize<S: Serializer>(v: &[u8; 32], s: S) -> Result<S::Ok, S::Error> {
    s.serialize_str(&hex::encode(v))
}

/// Deserialize from hex; anything but 64 hex digits is an error.
pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; 32], D::Error> {
    let s = String::deserialize(d)?;
    let mut out = [0u8; 32];
    hex::decode_to_slice(&s, &mut out).map_err(serde::de::Error::custom)?;
    Ok(out)
}
