//! Bytes on the wire: standard base64 in JSON (and other human-readable formats), raw bytes in
//! binary formats, chosen by serde's `is_human_readable`, so a binary codec is a codec swap.

use base64_simd::STANDARD;
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
            serializer.serialize_str(&STANDARD.encode_to_string(&self.0))
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
                STANDARD
                    .decode_to_vec(v)
                    .map(Payload)
                    .map_err(|_| E::custom("invalid base64 (standard alphabet, padded)"))
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
            assert_eq!(Payload::base64_len(n), STANDARD.encode_to_string(vec![0u8; n]).len());
        }
    }

    /// The SIMD engine writes what the scalar `base64` crate writes, and accepts and refuses the
    /// same strings, on every length around the SIMD block sizes and on corrupted encodings.
    #[test]
    fn simd_engine_agrees_with_the_scalar_one() {
        use base64::Engine as _;
        let scalar = base64::engine::general_purpose::STANDARD;
        let mut state = 0x9e37_79b9_7f4a_7c15_u64;
        let mut next = move || {
            state ^= state << 13;
            state ^= state >> 7;
            state ^= state << 17;
            state
        };
        let alphabet = b"ABCZaz09+/=-_ \n\\\"\x00";
        let mut compared = 0;
        for n in (0..200).chain([1023, 1024, 1025, 65535, 65536, 65537]) {
            let bytes: Vec<u8> = (0..n).map(|_| next() as u8).collect();
            let text = STANDARD.encode_to_string(&bytes);
            assert_eq!(text, scalar.encode(&bytes), "encoding {n} bytes");
            assert_eq!(STANDARD.decode_to_vec(&text).ok(), Some(bytes.clone()));
            for _ in 0..8 {
                let mut bad = text.clone().into_bytes();
                if bad.is_empty() {
                    bad.push(b'A');
                } else {
                    let i = next() as usize % bad.len();
                    bad[i] = alphabet[next() as usize % alphabet.len()];
                }
                let simd = STANDARD.decode_to_vec(&bad).ok();
                assert_eq!(simd, scalar.decode(&bad).ok(), "decoding {:?}", String::from_utf8_lossy(&bad));
                compared += 1;
            }
        }
        assert!(compared > 1600, "{compared}");
    }

    #[test]
    fn debug_hides_content() {
        assert_eq!(format!("{:?}", Payload(b"secret".to_vec())), "Payload(6 bytes)");
    }
}
