//! The MessagePack codec: the same JSON-RPC messages, in WebSocket binary frames, negotiated with
//! the subprotocol [`SUBPROTOCOL_MSGPACK`](crate::SUBPROTOCOL_MSGPACK); [`codec`](crate::codec) picks
//! between the two.
//!
//! A message is a MessagePack map with the JSON codec's keys (`jsonrpc`, `id`, `method`, `params`;
//! `result` or `error`) and values; bytes are MessagePack `bin`, not base64, so data travels as it
//! is. In a request, `method` comes before `params` (the params are decoded as that method's
//! params as they are read, with no intermediate tree). Faults get the JSON codec's codes: not
//! MessagePack → `-32700`; not a request → `-32600`; unknown method → `-32601`; params that do not
//! fit → `-32602`.
//!
//! ```
//! use bridge_protocol::{msgpack, Call, Id, Method, params::SendParams, Payload};
//!
//! let params = SendParams { fd: 3, data: Payload(b"hi".to_vec()), flags: 0 };
//! let bytes = msgpack::encode_request(Some(&Id::Num(1)), Method::Send, &params);
//! assert!(bytes.windows(2).any(|w| w == b"hi"), "the data is there as it is");
//! assert_eq!(msgpack::decode_request(&bytes).unwrap().call, Call::Send(params));
//! ```

use crate::MAX_NESTING;
use crate::codec::{OutError, OutRequest, OutResult, Request, RequestError, VERSION};
use crate::json::invalid_params;
use crate::message::{ErrorObject, Id, code};
use crate::method::{Call, Method};
use serde::de::{DeserializeSeed, IgnoredAny, MapAccess, Visitor};
use serde::{Deserialize, Deserializer, Serialize};
use std::borrow::Cow;
use std::fmt;

fn to_vec<T: Serialize>(value: &T) -> Vec<u8> {
    // Maps with field names (not arrays), so every field is found by its name.
    rmp_serde::to_vec_named(value).unwrap_or_else(|_| {
        let internal = ErrorObject::new(code::INTERNAL_ERROR, "internal error: unencodable message");
        rmp_serde::to_vec_named(&OutError { jsonrpc: VERSION, id: None, error: &internal }).unwrap_or_default()
    })
}

/// Encodes a request (or, with no id, a notification).
pub fn encode_request<P: Serialize>(id: Option<&Id>, method: Method, params: &P) -> Vec<u8> {
    to_vec(&OutRequest { jsonrpc: VERSION, id, method: method.name(), params })
}

/// Encodes a successful response.
pub fn encode_result<R: Serialize>(id: &Id, result: &R) -> Vec<u8> {
    to_vec(&OutResult { jsonrpc: VERSION, id, result })
}

/// Encodes an error response (`id` `None` is sent as nil).
pub fn encode_error(id: Option<&Id>, error: &ErrorObject) -> Vec<u8> {
    to_vec(&OutError { jsonrpc: VERSION, id, error })
}

/// Decodes `method`'s params from the value being read.
struct CallSeed(Method);

impl<'de> DeserializeSeed<'de> for CallSeed {
    type Value = Call;

    fn deserialize<D: Deserializer<'de>>(self, deserializer: D) -> Result<Call, D::Error> {
        Call::from_params(self.0, deserializer)
    }
}

fn invalid(id: Option<Id>, message: &str) -> RequestError {
    RequestError { id, error: ErrorObject::new(code::INVALID_REQUEST, message) }
}

/// Reads a request map, with the staged errors of the module docs.
struct RequestVisitor;

impl<'de> Visitor<'de> for RequestVisitor {
    type Value = Result<Request, RequestError>;

    fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("a request map")
    }

    fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Self::Value, A::Error> {
        let mut version_ok = false;
        let mut id: Option<Id> = None;
        let mut method: Option<Option<Method>> = None;
        let mut call: Option<Call> = None;
        while let Some(key) = map.next_key::<Cow<'de, str>>()? {
            match &*key {
                "jsonrpc" => version_ok = map.next_value::<Cow<'de, str>>()? == VERSION,
                "id" => id = Some(map.next_value::<Id>()?),
                "method" => method = Some(Method::from_name(&map.next_value::<Cow<'de, str>>()?)),
                "params" => match method {
                    Some(Some(m)) => match map.next_value_seed(CallSeed(m)) {
                        Ok(c) => call = Some(c),
                        Err(_) => {
                            return Ok(Err(RequestError {
                                id,
                                error: invalid_params(m, "they do not fit its signature"),
                            }));
                        }
                    },
                    Some(None) => {
                        map.next_value::<IgnoredAny>()?;
                    }
                    None => return Ok(Err(invalid(id, "invalid request: \"method\" must come before \"params\""))),
                },
                _ => return Ok(Err(invalid(id, "invalid request: unknown key"))),
            }
        }
        if !version_ok {
            return Ok(Err(invalid(id, "invalid request: \"jsonrpc\" must be \"2.0\"")));
        }
        let Some(method) = method else {
            return Ok(Err(invalid(id, "invalid request: \"method\" is missing")));
        };
        let Some(method) = method else {
            return Ok(Err(RequestError { id, error: ErrorObject::new(code::METHOD_NOT_FOUND, "method not found") }));
        };
        let call = match call {
            Some(call) => call,
            // No params: every param at its default (an error if the method needs some).
            None => {
                let empty = serde::de::value::MapDeserializer::<_, serde::de::value::Error>::new(std::iter::empty::<(
                    &str,
                    IgnoredAnyValue,
                )>());
                match Call::from_params(method, empty) {
                    Ok(call) => call,
                    Err(_) => {
                        return Ok(Err(RequestError { id, error: invalid_params(method, "params are missing") }));
                    }
                }
            }
        };
        Ok(Ok(Request { id, call }))
    }
}

/// A value type for an empty map's (absent) values.
#[derive(Clone, Copy)]
struct IgnoredAnyValue;

impl<'de, E: serde::de::Error> serde::de::IntoDeserializer<'de, E> for IgnoredAnyValue {
    type Deserializer = serde::de::value::UnitDeserializer<E>;

    fn into_deserializer(self) -> Self::Deserializer {
        serde::de::value::UnitDeserializer::new()
    }
}

/// Whether `bytes` starts with a MessagePack map header.
fn starts_with_map(bytes: &[u8]) -> bool {
    matches!(bytes.first(), Some(0x80..=0x8f | 0xde | 0xdf))
}

/// The error for a message nested deeper than [`MAX_NESTING`] (JSON's parser gives the same code).
fn too_deep() -> ErrorObject {
    ErrorObject::new(code::PARSE_ERROR, format!("parse error: arrays and maps nest deeper than {MAX_NESTING} levels"))
}

/// Decodes one request from a binary message.
pub fn decode_request(bytes: &[u8]) -> Result<Request, RequestError> {
    // One whole value and nothing after it, or it is not a message at all.
    match skip_value(bytes) {
        Ok([]) => {}
        Err(Skip::TooDeep) => return Err(RequestError { id: None, error: too_deep() }),
        Ok(_) | Err(Skip::Malformed) => {
            return Err(RequestError {
                id: None,
                error: ErrorObject::new(code::PARSE_ERROR, "parse error: the message is not one MessagePack value"),
            });
        }
    }
    if !starts_with_map(bytes) {
        let error = if bytes.is_empty() {
            ErrorObject::new(code::PARSE_ERROR, "parse error: the message is not valid MessagePack")
        } else {
            ErrorObject::new(code::INVALID_REQUEST, "invalid request: expected a map")
        };
        return Err(RequestError { id: None, error });
    }
    let mut de = rmp_serde::Deserializer::from_read_ref(bytes);
    match de.deserialize_map(RequestVisitor) {
        Ok(result) => result,
        Err(_) => Err(RequestError {
            id: None,
            error: ErrorObject::new(code::PARSE_ERROR, "parse error: the message is not valid MessagePack"),
        }),
    }
}

/// Why [`skip_value`] stopped.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Skip {
    /// The bytes end first, or are not MessagePack.
    Malformed,
    /// Arrays and maps nest deeper than [`MAX_NESTING`].
    TooDeep,
}

/// Reads past one MessagePack value and returns what follows it.
///
/// It does not recurse: it counts the values still to read at each open array or map, so a message
/// of nothing but nested array headers costs one pass and no stack. Nesting deeper than
/// [`MAX_NESTING`] is refused before anything is deserialized, so the serde decoders that run after
/// it (which do recurse) never go deeper either. A declared length larger than the message only
/// makes the count run out of bytes.
fn skip_value(bytes: &[u8]) -> Result<&[u8], Skip> {
    fn take(rest: &[u8], n: usize) -> Result<&[u8], Skip> {
        rest.get(n..).ok_or(Skip::Malformed)
    }
    fn be(rest: &[u8], n: usize) -> Result<(usize, &[u8]), Skip> {
        let len = rest.get(..n).ok_or(Skip::Malformed)?.iter().fold(0usize, |acc, &b| (acc << 8) | usize::from(b));
        Ok((len, &rest[n..]))
    }
    // Values still to read at each open level; level 0 is the value asked for.
    let mut open = [0usize; MAX_NESTING + 1];
    open[0] = 1;
    let mut depth = 0;
    let mut rest = bytes;
    loop {
        while open[depth] == 0 {
            if depth == 0 {
                return Ok(rest);
            }
            depth -= 1;
        }
        open[depth] -= 1;
        let (&marker, after) = rest.split_first().ok_or(Skip::Malformed)?;
        // A container's entries, or the bytes of a scalar.
        let (items, after) = match marker {
            0x00..=0x7f | 0xe0..=0xff | 0xc0 | 0xc2 | 0xc3 => (0, after),
            0x80..=0x8f => (usize::from(marker & 0x0f) * 2, after),
            0x90..=0x9f => (usize::from(marker & 0x0f), after),
            0xa0..=0xbf => (0, take(after, usize::from(marker & 0x1f))?),
            0xc4 | 0xd9 => be(after, 1).and_then(|(n, r)| Ok((0, take(r, n)?)))?,
            0xc5 | 0xda => be(after, 2).and_then(|(n, r)| Ok((0, take(r, n)?)))?,
            0xc6 | 0xdb => be(after, 4).and_then(|(n, r)| Ok((0, take(r, n)?)))?,
            0xc7 => be(after, 1).and_then(|(n, r)| Ok((0, take(r, n + 1)?)))?,
            0xc8 => be(after, 2).and_then(|(n, r)| Ok((0, take(r, n + 1)?)))?,
            0xc9 => be(after, 4).and_then(|(n, r)| Ok((0, take(r, n + 1)?)))?,
            0xca | 0xce | 0xd2 => (0, take(after, 4)?),
            0xcb | 0xcf | 0xd3 => (0, take(after, 8)?),
            0xcc | 0xd0 => (0, take(after, 1)?),
            0xcd | 0xd1 | 0xd4 => (0, take(after, 2)?),
            0xd5 => (0, take(after, 3)?),
            0xd6 => (0, take(after, 5)?),
            0xd7 => (0, take(after, 9)?),
            0xd8 => (0, take(after, 17)?),
            0xdc => be(after, 2)?,
            0xdd => be(after, 4)?,
            0xde => be(after, 2).map(|(n, r)| (n * 2, r))?,
            0xdf => be(after, 4).map(|(n, r)| (n.saturating_mul(2), r))?,
            0xc1 => return Err(Skip::Malformed),
        };
        rest = after;
        if items > 0 {
            if depth == MAX_NESTING {
                return Err(Skip::TooDeep);
            }
            depth += 1;
            open[depth] = items;
        }
    }
}

/// Deserializes a value borrowed from MessagePack (for tests and tools).
pub fn from_slice<'a, T: Deserialize<'a>>(bytes: &'a [u8]) -> Option<T> {
    rmp_serde::from_slice(bytes).ok()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::address::Address;
    use crate::params::*;
    use crate::payload::Payload;

    fn decode_err(bytes: &[u8]) -> RequestError {
        match decode_request(bytes) {
            Ok(r) => panic!("decoded to {r:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn requests_round_trip_with_raw_bytes() {
        let params =
            SendtoParams { fd: 3, data: Payload(vec![0, 1, 2, 255]), address: Address::from(("::1", 9000)), flags: 0 };
        let bytes = encode_request(Some(&Id::Num(7)), Method::Sendto, &params);
        assert!(bytes.windows(4).any(|w| w == [0, 1, 2, 255]), "bin, not base64");
        let req = decode_request(&bytes).unwrap_or_else(|e| panic!("{e:?}"));
        assert_eq!((req.id, req.call), (Some(Id::Num(7)), Call::Sendto(params)));
        let note = encode_request(None, Method::Close, &FdParams { fd: 4 });
        assert_eq!(decode_request(&note).ok().map(|r| r.id), Some(None));
    }

    #[test]
    fn missing_params_mean_defaults() {
        #[derive(Serialize)]
        struct NoParams {
            jsonrpc: &'static str,
            id: u64,
            method: &'static str,
        }
        let bytes = rmp_serde::to_vec_named(&NoParams { jsonrpc: "2.0", id: 1, method: "socket" }).unwrap_or_default();
        assert_eq!(decode_request(&bytes).ok().map(|r| r.call), Some(Call::Socket(SocketParams::default())));
        let bytes = rmp_serde::to_vec_named(&NoParams { jsonrpc: "2.0", id: 2, method: "recv" }).unwrap_or_default();
        assert_eq!(decode_err(&bytes).error.code, code::INVALID_PARAMS);
    }

    #[test]
    fn faults_get_their_codes() {
        assert_eq!(decode_err(&[]).error.code, code::PARSE_ERROR);
        assert_eq!(decode_err(&[0xc1]).error.code, code::PARSE_ERROR);
        assert_eq!(decode_err(&[0x93, 1, 2, 3]).error.code, code::INVALID_REQUEST, "an array");
        let good =
            encode_request(Some(&Id::Num(1)), Method::Bind, &AddressParams { fd: 3, address: Address::from(("h", 1)) });
        assert_eq!(decode_err(&good[..good.len() - 3]).error.code, code::PARSE_ERROR, "cut short");
        let enc = |jsonrpc, method, params: &dyn erased::Params| params.encode(jsonrpc, method);
        assert_eq!(decode_err(&enc("1.0", "socket", &SocketParams::default())).error.code, code::INVALID_REQUEST);
        assert_eq!(decode_err(&enc("2.0", "fork", &SocketParams::default())).error.code, code::METHOD_NOT_FOUND);
        let e = decode_err(&enc("2.0", "recv", &FdParams { fd: 3 }));
        assert_eq!((e.error.code, e.id), (code::INVALID_PARAMS, Some(Id::Num(1))));
    }

    /// Encodes a request with any jsonrpc, method and params, for the fault tests.
    mod erased {
        use super::*;

        pub(super) trait Params {
            fn encode(&self, jsonrpc: &str, method: &str) -> Vec<u8>;
        }

        impl<P: Serialize> Params for P {
            fn encode(&self, jsonrpc: &str, method: &str) -> Vec<u8> {
                #[derive(Serialize)]
                struct Raw<'a, P> {
                    jsonrpc: &'a str,
                    id: u64,
                    method: &'a str,
                    params: &'a P,
                }
                rmp_serde::to_vec_named(&Raw { jsonrpc, id: 1, method, params: self }).unwrap_or_default()
            }
        }
    }

    /// A response, read as the client reads it.
    fn decode_response(bytes: &[u8]) -> Result<crate::codec::Response<'_>, crate::codec::ResponseError> {
        crate::Codec::Msgpack.decode_response(crate::codec::FrameRef::Binary(bytes))
    }

    #[test]
    fn responses_round_trip() {
        let ok = encode_result(&Id::Num(9), &Payload(vec![7; 1000]));
        let resp = decode_response(&ok).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.id, Some(Id::Num(9)));
        let Ok(body) = resp.outcome else { panic!("not a result") };
        assert_eq!(body.decode::<Payload>(Method::Recv).ok(), Some(Payload(vec![7; 1000])));
        let err = encode_error(Some(&Id::Num(3)), &ErrorObject::new(code::LIMIT_EXCEEDED, "too many"));
        let resp = decode_response(&err).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(resp.outcome.err().map(|e| e.code), Some(code::LIMIT_EXCEEDED));
        let unit = encode_result(&Id::Num(4), &());
        let resp = decode_response(&unit).unwrap_or_else(|e| panic!("{e}"));
        let Ok(body) = resp.outcome else { panic!("not a result") };
        assert_eq!(body.decode::<()>(Method::Close).ok(), Some(()));
        assert!(decode_response(&[0x91, 0x01]).is_err());
    }

    /// The frame that once overflowed the daemon's stack: 200,000 one-element array headers.
    #[test]
    fn deep_nesting_is_refused_without_recursion() {
        let mut deep = vec![0x91; 200_000];
        deep.push(0xc0);
        assert_eq!(skip_value(&deep), Err(Skip::TooDeep));
        let e = decode_err(&deep);
        assert_eq!(e.error.code, code::PARSE_ERROR);
        assert!(e.error.message.contains("128"), "{}", e.error.message);
        assert!(decode_response(&deep).is_err());
        // Maps too, and arrays of huge declared length.
        let maps: Vec<u8> = std::iter::repeat_n([0x81, 0xc0], 100_000).flatten().chain([0xc0]).collect();
        assert_eq!(decode_err(&maps).error.code, code::PARSE_ERROR);
        let long = [0xdd, 0xff, 0xff, 0xff, 0xff, 0xdd, 0xff, 0xff, 0xff, 0xff, 0xc0];
        assert_eq!(skip_value(&long), Err(Skip::Malformed));
        // Exactly MAX_NESTING levels is still one value; one more is not.
        let mut edge = vec![0x91; MAX_NESTING];
        edge.push(0xc0);
        assert_eq!(skip_value(&edge), Ok(&[][..]));
        edge.insert(0, 0x91);
        assert_eq!(skip_value(&edge), Err(Skip::TooDeep));
        // A response nested inside its result is refused as malformed, not read.
        let mut answer = encode_result(&Id::Num(1), &());
        answer.pop();
        answer.extend(std::iter::repeat_n(0x91, 10_000).chain([0xc0]));
        assert!(decode_response(&answer).is_err());
    }

    #[test]
    fn corrupted_messages_never_panic() {
        let good = [
            encode_request(
                Some(&Id::Num(1)),
                Method::Send,
                &SendParams { fd: 3, data: Payload(vec![1; 40]), flags: 0 },
            ),
            encode_result(
                &Id::Num(2),
                &RecvfromResult { data: Payload(vec![2; 20]), address: Some(Address::from(("127.0.0.1", 5))) },
            ),
        ];
        for bytes in good {
            for i in 0..bytes.len() {
                for b in [0x00, 0x7f, 0x80, 0x90, 0xa5, 0xc0, 0xc1, 0xc4, 0xdc, 0xde, 0xdf, 0xff] {
                    let mut m = bytes.clone();
                    m[i] = b;
                    let _ = decode_request(&m);
                    let _ = decode_response(&m);
                    let _ = skip_value(&m);
                }
                let _ = decode_request(&bytes[..i]);
                let _ = decode_response(&bytes[..i]);
            }
        }
    }
}
