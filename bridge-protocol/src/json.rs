//! The JSON codec: JSON-RPC 2.0 in WebSocket text frames.
//!
//! Decoding a request is staged so each fault gets its own code: not JSON → `-32700`; JSON but not a
//! request (or a batch) → `-32600`; unknown method → `-32601`; params that do not fit → `-32602`.
//! Error messages name the method and the expected params, and never repeat the input.

use crate::message::{ErrorObject, Id, code};
use crate::method::{Call, Method};
use crate::params::SendParams;
use crate::payload::Payload;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::any::Any;
use std::borrow::Cow;
use std::fmt::Write as _;

use crate::codec::{OutError, OutRequest, OutResult, VERSION};
pub use crate::codec::{Request, RequestError, ResponseError};

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct RawRequest<'a> {
    #[serde(borrow)]
    jsonrpc: Cow<'a, str>,
    #[serde(default)]
    id: Option<Id>,
    #[serde(borrow)]
    method: Cow<'a, str>,
    #[serde(borrow, default)]
    params: Option<&'a RawValue>,
}

#[derive(Deserialize)]
struct IdOnly {
    #[serde(default)]
    id: Option<Id>,
}

/// Decodes one request from a text message.
pub fn decode_request(text: &str) -> Result<Request, RequestError> {
    // A well-formed request reads in one pass; only a faulty one is read again, in stages, to find
    // the fault's code. (An array would read as a struct too, hence the check for an object.)
    if text.trim_start().starts_with('{')
        && let Ok(req) = serde_json::from_str::<RawRequest<'_>>(text)
    {
        return decode_fields(req);
    }
    let raw: &RawValue = serde_json::from_str(text).map_err(|_| RequestError {
        id: None,
        error: ErrorObject::new(code::PARSE_ERROR, "parse error: the message is not valid JSON"),
    })?;
    let invalid =
        |id: Option<Id>, message: &str| RequestError { id, error: ErrorObject::new(code::INVALID_REQUEST, message) };
    if raw.get().trim_start().starts_with('[') {
        return Err(invalid(None, "invalid request: batches are not supported; send one request per message"));
    }
    let req: RawRequest<'_> = serde_json::from_str(raw.get()).map_err(|_| {
        let id = serde_json::from_str::<IdOnly>(raw.get()).ok().and_then(|r| r.id);
        invalid(
            id,
            "invalid request: expected {\"jsonrpc\": \"2.0\", \"id\": number, \"method\": string, \"params\": object}",
        )
    })?;
    decode_fields(req)
}

/// Checks a request's members and decodes its params.
fn decode_fields(req: RawRequest<'_>) -> Result<Request, RequestError> {
    if req.jsonrpc != VERSION {
        let error = ErrorObject::new(code::INVALID_REQUEST, "invalid request: \"jsonrpc\" must be \"2.0\"");
        return Err(RequestError { id: req.id, error });
    }
    let Some(method) = Method::from_name(&req.method) else {
        return Err(RequestError { id: req.id, error: ErrorObject::new(code::METHOD_NOT_FOUND, "method not found") });
    };
    let params = req.params.map_or("{}", RawValue::get);
    if !params.trim_start().starts_with('{') {
        return Err(RequestError { id: req.id, error: invalid_params(method, "params must be an object") });
    }
    let mut de = serde_json::Deserializer::from_str(params);
    match Call::from_params(method, &mut de).and_then(|call| de.end().map(|()| call)) {
        Ok(call) => Ok(Request { id: req.id, call }),
        Err(_) => Err(RequestError { id: req.id, error: invalid_params(method, "they do not fit its signature") }),
    }
}

/// The `-32602` error for `method`, naming the params it takes.
pub fn invalid_params(method: Method, why: &str) -> ErrorObject {
    ErrorObject::new(
        code::INVALID_PARAMS,
        format!("invalid params for '{}': {why}; it takes {}", method.name(), method.signature()),
    )
}

/// Encodes a request (or, with no id, a notification).
pub fn encode_request<P: Serialize + 'static>(id: Option<&Id>, method: Method, params: &P) -> String {
    // `send` and `sendall` carry a stream's bytes: written directly, without serde's escape scan.
    if let Some(SendParams { fd, data, flags }) = (params as &dyn Any).downcast_ref::<SendParams>() {
        let mut head = String::from(r#"{"jsonrpc":"2.0","#);
        if let Some(id) = id {
            let _ = write!(head, r#""id":{},"#, to_string(id));
        }
        let _ = write!(head, r#""method":"{}","params":{{"fd":{fd},"data":"#, method.name());
        return with_base64(&head, data, &format!(r#","flags":{flags}}}}}"#));
    }
    to_string(&OutRequest { jsonrpc: VERSION, id, method: method.name(), params })
}

/// Encodes a successful response.
pub fn encode_result<R: Serialize + 'static>(id: &Id, result: &R) -> String {
    // `recv`'s result is a stream's bytes: written directly, without serde's escape scan.
    if let Some(data) = (result as &dyn Any).downcast_ref::<Payload>() {
        let head = format!(r#"{{"jsonrpc":"2.0","id":{},"result":"#, to_string(id));
        return with_base64(&head, data, "}");
    }
    to_string(&OutResult { jsonrpc: VERSION, id, result })
}

/// `head`, `data` as a base64 JSON string, then `tail`, in one allocation. This is what serde_json
/// writes for a [`Payload`] between them, without its byte-by-byte check for characters to escape:
/// base64's alphabet has none. The messages that carry a stream's bytes take this path.
fn with_base64(head: &str, data: &Payload, tail: &str) -> String {
    let mut out = String::with_capacity(head.len() + Payload::base64_len(data.len()) + 2 + tail.len());
    out.push_str(head);
    out.push('"');
    base64_simd::STANDARD.encode_append(data.as_bytes(), &mut out);
    out.push('"');
    out.push_str(tail);
    out
}

/// Encodes an error response (`id` `None` is sent as `null`).
pub fn encode_error(id: Option<&Id>, error: &ErrorObject) -> String {
    to_string(&OutError { jsonrpc: VERSION, id, error })
}

fn to_string<T: Serialize>(value: &T) -> String {
    // Our message types are plain structs with string keys: serialising them to a String cannot
    // fail. Should that ever change, the peer gets an internal-error message rather than a panic.
    serde_json::to_string(value).unwrap_or_else(|_| {
        String::from(
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32603,"message":"internal error: unencodable message"}}"#,
        )
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::OsError;
    use crate::address::Address;
    use crate::params::*;
    use crate::payload::Payload;

    fn decode_ok(text: &str) -> Request {
        match decode_request(text) {
            Ok(r) => r,
            Err(e) => panic!("{text} did not decode: {e:?}"),
        }
    }

    fn decode_err(text: &str) -> RequestError {
        match decode_request(text) {
            Ok(r) => panic!("{text} decoded to {r:?}"),
            Err(e) => e,
        }
    }

    #[test]
    fn request_round_trip() {
        let params = AddressParams { fd: 3, address: Address::from(("127.0.0.1", 9000)) };
        let text = encode_request(Some(&Id::Num(7)), Method::Bind, &params);
        assert_eq!(text, r#"{"jsonrpc":"2.0","id":7,"method":"bind","params":{"fd":3,"address":["127.0.0.1",9000]}}"#);
        let req = decode_ok(&text);
        assert_eq!(req.id, Some(Id::Num(7)));
        assert_eq!(req.call, Call::Bind(params));
    }

    #[test]
    fn notification_has_no_id() {
        let text = encode_request(None, Method::Close, &FdParams { fd: 4 });
        assert_eq!(text, r#"{"jsonrpc":"2.0","method":"close","params":{"fd":4}}"#);
        assert_eq!(decode_ok(&text).id, None);
    }

    #[test]
    fn missing_params_mean_defaults() {
        let req = decode_ok(r#"{"jsonrpc":"2.0","id":"a","method":"socket"}"#);
        assert_eq!(req.id, Some(Id::Str("a".into())));
        assert_eq!(req.call, Call::Socket(SocketParams::default()));
    }

    #[test]
    fn faults_get_their_codes() {
        assert_eq!(decode_err("not json").error.code, code::PARSE_ERROR);
        assert_eq!(decode_err("{\"jsonrpc\":").error.code, code::PARSE_ERROR);
        // Deep nesting is refused without exhausting the stack.
        let deep = "[".repeat(100_000) + &"]".repeat(100_000);
        assert_eq!(decode_err(&deep).error.code, code::INVALID_REQUEST);
        let deep = format!(
            r#"{{"jsonrpc":"2.0","id":1,"method":"socket","params":{{"family":{}1{}}}}}"#,
            "[".repeat(100_000),
            "]".repeat(100_000)
        );
        assert!(matches!(decode_err(&deep).error.code, code::PARSE_ERROR | code::INVALID_PARAMS));
        assert_eq!(decode_err("[]").error.code, code::INVALID_REQUEST);
        assert_eq!(decode_err("42").error.code, code::INVALID_REQUEST);
        let e = decode_err(r#"{"jsonrpc":"1.0","id":1,"method":"socket"}"#);
        assert_eq!((e.error.code, e.id), (code::INVALID_REQUEST, Some(Id::Num(1))));
        let e = decode_err(r#"{"jsonrpc":"2.0","id":2,"method":"socket","extra":1}"#);
        assert_eq!((e.error.code, e.id), (code::INVALID_REQUEST, Some(Id::Num(2))));
        let e = decode_err(r#"{"jsonrpc":"2.0","id":3,"method":"fork"}"#);
        assert_eq!((e.error.code, e.id), (code::METHOD_NOT_FOUND, Some(Id::Num(3))));
        let e = decode_err(r#"{"jsonrpc":"2.0","id":4,"method":"bind","params":{"fd":"3"}}"#);
        assert_eq!((e.error.code, e.id), (code::INVALID_PARAMS, Some(Id::Num(4))));
        let e = decode_err(r#"{"jsonrpc":"2.0","id":5,"method":"bind","params":[3]}"#);
        assert_eq!(e.error.code, code::INVALID_PARAMS);
        let e = decode_err(r#"{"jsonrpc":"2.0","id":6,"method":"recv","params":{"fd":3,"bufsize":1,"__proto__":1}}"#);
        assert_eq!(e.error.code, code::INVALID_PARAMS);
        let e = decode_err(r#"{"jsonrpc":"2.0","id":7,"method":"send","params":{"fd":3,"data":"!!"}}"#);
        assert_eq!(e.error.code, code::INVALID_PARAMS);
        let e = decode_err(r#"{"jsonrpc":"2.0","id":8,"method":"bind","params":{"fd":3,"address":["h",65536]}}"#);
        assert_eq!(e.error.code, code::INVALID_PARAMS);
    }

    #[test]
    fn errors_never_echo_input() {
        for text in [
            r#"{"jsonrpc":"2.0","id":1,"method":"<script>"}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"bind","params":{"fd":"<script>"}}"#,
            r#"{"jsonrpc":"2.0","id":1,"method":"bind","params":{"<script>":1}}"#,
            r#"{"<script>":1}"#,
        ] {
            let e = decode_err(text);
            assert!(!e.error.message.contains("<script>"), "{} echoes input", e.error.message);
        }
    }

    /// Every one-byte corruption of a set of valid requests decodes to a request or an error,
    /// never a panic (a deterministic stand-in for fuzzing the decoder).
    #[test]
    fn corrupted_requests_never_panic() {
        let valid = [
            r#"{"jsonrpc":"2.0","id":1,"method":"bind","params":{"fd":3,"address":["127.0.0.1",9000]}}"#,
            r#"{"jsonrpc":"2.0","id":"x","method":"sendto","params":{"fd":3,"data":"aGk=","address":["::1",1,0,0]}}"#,
            r#"{"jsonrpc":"2.0","id":2,"method":"setsockopt","params":{"fd":3,"level":1,"optname":13,"value":"AQAAAAUAAAA="}}"#,
            r#"{"jsonrpc":"2.0","id":3,"method":"select","params":{"rlist":[3,4],"wlist":[],"xlist":[5],"timeout":0.5}}"#,
            r#"{"jsonrpc":"2.0","id":4,"method":"getaddrinfo","params":{"host":"localhost","port":"http","flags":1}}"#,
        ];
        let replacements = [b'"', b'{', b'}', b'[', b']', b',', b':', b'0', b'-', b'\\', b' ', 0xff];
        let mut decoded = 0;
        for text in valid {
            assert!(decode_request(text).is_ok(), "{text}");
            for i in 0..text.len() {
                for &b in &replacements {
                    let mut bytes = text.as_bytes().to_vec();
                    bytes[i] = b;
                    let Ok(mutated) = String::from_utf8(bytes) else { continue };
                    let _ = decode_request(&mutated);
                    decoded += 1;
                }
            }
        }
        assert!(decoded > 4000, "{decoded}");
    }

    #[test]
    fn invalid_params_name_the_signature() {
        let e = decode_err(r#"{"jsonrpc":"2.0","id":1,"method":"recv","params":{}}"#);
        assert!(e.error.message.contains("'recv'"), "{}", e.error.message);
        assert!(e.error.message.contains("bufsize"), "{}", e.error.message);
    }

    /// The direct paths for stream bytes write exactly what serde_json writes, and read exactly
    /// what it reads.
    #[test]
    fn byte_paths_match_serde() {
        let ids = [None, Some(Id::Num(0)), Some(Id::Num(u64::MAX)), Some(Id::Str("a\"\\\u{1}é".into()))];
        for n in [0, 1, 2, 3, 4, 100, 65536] {
            let data = Payload((0..n).map(|i| (i * 31 % 256) as u8).collect());
            for id in &ids {
                for method in [Method::Send, Method::Sendall] {
                    for flags in [0, 64, -1] {
                        let params = SendParams { fd: 7, data: data.clone(), flags };
                        let fast = encode_request(id.as_ref(), method, &params);
                        let serde = to_string(&OutRequest {
                            jsonrpc: VERSION,
                            id: id.as_ref(),
                            method: method.name(),
                            params: &params,
                        });
                        assert_eq!(fast, serde);
                        let call = if method == Method::Send { Call::Send(params) } else { Call::Sendall(params) };
                        assert_eq!(decode_ok(&fast).call, call);
                    }
                }
                let Some(id) = id else { continue };
                let fast = encode_result(id, &data);
                assert_eq!(fast, to_string(&OutResult { jsonrpc: VERSION, id, result: &data }));
                assert_eq!(recv_result(&fast).ok().as_ref(), Some(&data));
            }
        }
        // Escapes are legal JSON and mean the same.
        let escaped = recv_result(r#"{"jsonrpc":"2.0","id":1,"result":"\u0061Gk\/"}"#);
        assert_eq!(escaped.ok(), Some(Payload(vec![0x68, 0x69, 0x3f])));
        // Not base64, and not a string: the wrong type, either way.
        for bad in [r#""aGk""#, r#""a\"Gk=""#, "5", "null", r#"["aGk="]"#] {
            let text = format!(r#"{{"jsonrpc":"2.0","id":1,"result":{bad}}}"#);
            assert!(matches!(recv_result(&text), Err(ResponseError::WrongResultType(Method::Recv))), "{bad}");
        }
    }

    /// A `recv` answer's bytes, read as the client reads them.
    fn recv_result(text: &str) -> Result<Payload, ResponseError> {
        let response = decode_response(text)?;
        response.outcome.map_err(|_| ResponseError::Malformed)?.decode(Method::Recv)
    }
    #[test]
    fn responses_round_trip() {
        let ok = encode_result(&Id::Num(9), &Payload(b"hi".to_vec()));
        assert_eq!(ok, r#"{"jsonrpc":"2.0","id":9,"result":"aGk="}"#);
        assert_eq!(recv_result(&ok).ok(), Some(Payload(b"hi".to_vec())));

        let unit = encode_result(&Id::Num(1), &());
        assert_eq!(unit, r#"{"jsonrpc":"2.0","id":1,"result":null}"#);
        let resp = decode_response(&unit).ok();
        assert!(resp.is_some_and(|r| r.outcome.is_ok_and(|body| body.decode::<()>(Method::Bind).is_ok())));

        let err = ErrorObject::os(OsError::from_errno(111));
        let text = encode_error(Some(&Id::Num(2)), &err);
        assert_eq!(
            text,
            r#"{"jsonrpc":"2.0","id":2,"error":{"code":-32000,"message":"[Errno 111] Connection refused","data":{"exception":"ConnectionRefusedError","errno":111,"errname":"ECONNREFUSED","strerror":"Connection refused"}}}"#
        );
        let resp = decode_response(&text).ok();
        assert_eq!(resp.map(|r| r.outcome.err()), Some(Some(err)));
        assert_eq!(
            encode_error(None, &ErrorObject::new(code::PARSE_ERROR, "x")),
            r#"{"jsonrpc":"2.0","id":null,"error":{"code":-32700,"message":"x"}}"#
        );
    }

    /// An answer nested past [`MAX_NESTING`](crate::MAX_NESTING) is refused whole, without
    /// exhausting the stack (the client reads answers on wasm32 too, whose stack is 1 MiB).
    #[test]
    fn deep_answers_are_refused() {
        let deep = format!(r#"{{"jsonrpc":"2.0","id":1,"result":{}1{}}}"#, "[".repeat(200_000), "]".repeat(200_000));
        assert!(matches!(decode_response(&deep), Err(ResponseError::Malformed)));
        let deep = format!(
            r#"{{"jsonrpc":"2.0","id":1,"error":{{"code":1,"message":"x","data":{}{}}}}}"#,
            "[".repeat(200_000),
            "]".repeat(200_000)
        );
        assert!(decode_response(&deep).is_err());
        let within = format!(r#"{{"jsonrpc":"2.0","id":1,"result":{}1{}}}"#, "[".repeat(100), "]".repeat(100));
        let body = decode_response(&within).ok().and_then(|r| r.outcome.ok());
        assert!(body.is_some(), "100 levels are within the limit");
        assert!(matches!(
            body.map(|b| b.decode::<Vec<Address>>(Method::Getaddrinfo)),
            Some(Err(ResponseError::WrongResultType(Method::Getaddrinfo)))
        ));
    }

    /// A response, read as the client reads it.
    fn decode_response(text: &str) -> Result<crate::codec::Response<'_>, ResponseError> {
        crate::Codec::Json.decode_response(crate::codec::FrameRef::Text(text))
    }
}
