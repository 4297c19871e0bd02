//! Bytes on the wire: standard base64 in JSON (and other human-readable formats), raw bytes in
//! binary formats, chosen by serde's `is_human_readable`, so a binary codec is a codec swap.

use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

/// A byte string: data sent or received, or a raw socket option value.
#[derive(Clone, Default, PartialEq, Eq, Hash)]
pub struct Payload(pub Vec<u8>);

impl Payload {
    /// The bytes.
    pub fn as_bytes(&self) -> &[u8] {
        &self.0
    }

    /// The bytes, owned.
    pub fn into_vec(self) -> Vec<u8> {
        self.0
    }

    /// The number of bytes.
    pub fn len(&self) -> usize {
        self.0.len()
    }

    /// Whether there are no bytes (an empty `recv` result means the peer closed).
    pub fn is_empty(&self) -> bool {
        self.0.is_empty()
    }

    /// How many characters `n` bytes take in base64: the size a payload adds to a JSON message.
    pub const fn base64_len(n: usize) -> usize {
        n.div_ceil(3) * 4
    }
}

impl fmt::Debug for Payload {
    /// Shows the length, never the content (payloads are not logged).
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        write!(f, "Payload({} bytes)", self.0.len())
    }
}

impl From<Vec<u8>> for Payload {
    fn from(v: Vec<u8>) -> Self {
        Payload(v)
    }
}

impl From<&[u8]> for Payload {
    fn from(v: &[u8]) -> Self {
        Payload(v.to_vec())
    }
}

impl Serialize for Payload {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        if serializer.is_human_readable() {
            serializer.serialize_str(&STANDARD.encode(&self.0))
        } else {
            serializer.serialize_bytes(&self.0)
        }
    }
}

impl<'de> Deserialize<'de> for Payload {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct PayloadVisitor;

        impl<'de> Visitor<'de> for PayloadVisitor {
            type Value = Payload;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("bytes as a standard base64 string")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Payload, E> {
                STANDARD.decode(v).map(Payload).map_err(|_| E::custom("invalid base64 (standard alphabet, padded)"))
            }

            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<Payload, E> {
                Ok(Payload(v.to_vec()))
            }

            fn visit_byte_buf<E: de::Error>(self, v: Vec<u8>) -> Result<Payload, E> {
                Ok(Payload(v))
            }
        }

        if deserializer.is_human_readable() {
            deserializer.deserialize_str(PayloadVisitor)
        } else {
            deserializer.deserialize_byte_buf(PayloadVisitor)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn base64_in_json() {
        let p = Payload(b"hello\n".to_vec());
        let s = serde_json::to_string(&p).unwrap_or_default();
        assert_eq!(s, "\"aGVsbG8K\"");
        assert_eq!(serde_json::from_str::<Payload>(&s).ok(), Some(p));
        assert_eq!(serde_json::from_str::<Payload>("\"\"").ok(), Some(Payload::default()));
    }

    #[test]
    fn strict_base64() {
        for bad in ["\"aGVsbG8K=\"", "\"aGVs bG8K\"", "\"aGVsbG8\"", "\"***\"", "5"] {
            assert!(serde_json::from_str::<Payload>(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn base64_len_matches_encoder() {
        for n in 0..20 {
            assert_eq!(Payload::base64_len(n), STANDARD.encode(vec![0u8; n]).len());
        }
    }

    #[test]
    fn debug_hides_content() {
        assert_eq!(format!("{:?}", Payload(b"secret".to_vec())), "Payload(6 bytes)");
    }
}
