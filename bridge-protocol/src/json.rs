//! The JSON codec: JSON-RPC 2.0 in WebSocket text frames.
//!
//! Decoding a request is staged so each fault gets its own code: not JSON → `-32700`; JSON but not a
//! request (or a batch) → `-32600`; unknown method → `-32601`; params that do not fit → `-32602`.
//! Error messages name the method and the expected params, and never repeat the input.

use crate::message::{ErrorObject, Id, code};
use crate::method::{Call, Method};
use crate::params::SendParams;
use crate::payload::Payload;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::value::RawValue;
use std::any::Any;
use std::borrow::Cow;
use std::fmt::Write as _;

const VERSION: &str = "2.0";

use crate::codec::{OutError, OutRequest, OutResult};
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

/// A decoded response: the id and either the raw result (decode it with [`decode_result`]) or the
/// error.
#[derive(Debug)]
pub struct Response<'a> {
    /// The id of the request answered (`None` for errors about unreadable requests).
    pub id: Option<Id>,
    /// The raw result, or the error.
    pub outcome: Result<&'a RawValue, ErrorObject>,
}

#[derive(Deserialize)]
struct RawResponse<'a> {
    #[serde(borrow)]
    jsonrpc: Cow<'a, str>,
    id: Option<Id>,
    #[serde(borrow, default)]
    result: Option<&'a RawValue>,
    #[serde(default)]
    error: Option<ErrorObject>,
}

/// Decodes a response (the client side).
pub fn decode_response(text: &str) -> Result<Response<'_>, ResponseError> {
    let raw: RawResponse<'_> = serde_json::from_str(text).map_err(|_| ResponseError::Malformed)?;
    if raw.jsonrpc != VERSION {
        return Err(ResponseError::Malformed);
    }
    let outcome = match (raw.result, raw.error) {
        (_, Some(err)) => Err(err),
        (Some(result), None) => Ok(result),
        // `"result": null` reads as absent: the unit result.
        (None, None) => Ok(RawValue::NULL),
    };
    Ok(Response { id: raw.id, outcome })
}

/// Reads the common shape of a `recv` answer, `{"jsonrpc":"2.0","id":N,"result":"..."}` with a
/// string holding no escape, quote or control character, without a JSON parser: its id, and its
/// result string with the quotes. Any other message (other members, another order, spaces, escapes)
/// gives `None`; [`decode_response`] reads it, and reads these the same.
pub fn decode_string_response(text: &str) -> Option<(u64, &str)> {
    let rest = text.strip_prefix(r#"{"jsonrpc":"2.0","id":"#)?;
    let digits = rest.find(|c: char| !c.is_ascii_digit())?;
    let (id, rest) = rest.split_at(digits);
    // JSON numbers have no leading zeros; a number out of u64's range is not one of our ids.
    if id.len() > 1 && id.starts_with('0') {
        return None;
    }
    let id = id.parse().ok()?;
    let quoted = rest.strip_prefix(r#","result":"#)?.strip_suffix('}')?;
    let inner = quoted.strip_prefix('"')?.strip_suffix('"')?;
    // One pass, without early exit, so it runs as vector code.
    let plain = inner
        .as_bytes()
        .chunks(64)
        .all(|chunk| chunk.iter().fold(true, |ok, &b| ok & (b >= 0x20) & (b != b'"') & (b != b'\\')));
    plain.then_some((id, quoted))
}

/// Decodes a result of the type `method` returns.
pub fn decode_result<R: DeserializeOwned + 'static>(method: Method, raw: &RawValue) -> Result<R, ResponseError> {
    decode_result_text(method, raw.get())
}

/// Decodes a result, given as JSON text (a [`RawValue`]'s, or the string [`decode_string_response`]
/// found), as the type `method` returns.
pub fn decode_result_text<R: DeserializeOwned + 'static>(method: Method, json: &str) -> Result<R, ResponseError> {
    // A `recv` result: in valid JSON, a string whose contents decode as base64 holds no escape, so
    // its contents are the base64; decode them without a second scan. Anything else (an escaped
    // character, another type) takes serde_json's path.
    let mut decoded: Option<R> = None;
    if let Some(slot) = (&mut decoded as &mut dyn Any).downcast_mut::<Option<Payload>>()
        && let Some(text) = json.strip_prefix('"').and_then(|t| t.strip_suffix('"'))
        && let Ok(bytes) = base64_simd::STANDARD.decode_to_vec(text)
    {
        *slot = Some(Payload(bytes));
    }
    match decoded {
        Some(result) => Ok(result),
        None => serde_json::from_str(json).map_err(|_| ResponseError::WrongResultType(method)),
    }
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
                let resp = decode_response(&fast).ok();
                let raw = resp.and_then(|r| r.outcome.ok());
                assert_eq!(raw.and_then(|raw| decode_result::<Payload>(Method::Recv, raw).ok()).as_ref(), Some(&data));
            }
        }
        // Escapes are legal JSON: they take serde_json's path and mean the same.
        let resp = decode_response(r#"{"jsonrpc":"2.0","id":1,"result":"\u0061Gk\/"}"#).ok();
        let raw = resp.and_then(|r| r.outcome.ok());
        assert_eq!(
            raw.and_then(|raw| decode_result::<Payload>(Method::Recv, raw).ok()),
            Some(Payload(vec![0x68, 0x69, 0x3f]))
        );
        // Not base64, and not a string: the wrong type, either way.
        for bad in [r#""aGk""#, r#""a\"Gk=""#, "5", "null", r#"["aGk="]"#] {
            let text = format!(r#"{{"jsonrpc":"2.0","id":1,"result":{bad}}}"#);
            let resp = decode_response(&text).ok();
            let raw = resp.and_then(|r| r.outcome.ok());
            let got = raw.map(|raw| decode_result::<Payload>(Method::Recv, raw).is_err());
            assert_eq!(got, Some(true), "{bad}");
        }
    }

    /// The parser-free reading of a `recv` answer takes what our daemon writes, and reads every
    /// message it takes exactly as the parser does; messages of any other shape are left to it.
    #[test]
    fn string_responses_read_as_the_parser_reads_them() {
        let daemon = encode_result(&Id::Num(42), &Payload(vec![1, 2, 3, 250]));
        assert_eq!(decode_string_response(&daemon), Some((42, "\"AQID+g==\"")));
        let taken = [
            daemon.as_str(),
            r#"{"jsonrpc":"2.0","id":0,"result":""}"#,
            r#"{"jsonrpc":"2.0","id":18446744073709551615,"result":"not base64 but a string"}"#,
            r#"{"jsonrpc":"2.0","id":7,"result":"é}"}"#,
        ];
        let left = [
            r#"{"jsonrpc":"2.0","id":07,"result":"aGk="}"#,
            r#"{"jsonrpc":"2.0","id":18446744073709551616,"result":"aGk="}"#,
            r#"{"jsonrpc":"2.0","id":-1,"result":"aGk="}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":"a\"b"}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":"a"b"}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":"a","x":"b"}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":"a\u0062"}"#,
            "{\"jsonrpc\":\"2.0\",\"id\":1,\"result\":\"a\u{1f}\"}",
            r#"{"jsonrpc":"2.0","id":1,"result":"aGk="} "#,
            r#"{"jsonrpc":"2.0","id":1,"result":5}"#,
            r#"{"jsonrpc":"2.0","id":"1","result":"aGk="}"#,
            r#"{"jsonrpc":"2.0","id":1,"result":"aGk=""#,
            r#"{"jsonrpc":"2.0","id":1,"result":"}"#,
            r#"{"jsonrpc":"2.0","id":,"result":"aGk="}"#,
        ];
        for text in taken {
            let Some((id, quoted)) = decode_string_response(text) else { panic!("{text} left") };
            let slow = decode_response(text).ok();
            assert_eq!(slow.as_ref().map(|r| &r.id), Some(&Some(Id::Num(id))), "{text}");
            assert_eq!(slow.and_then(|r| r.outcome.ok()).map(RawValue::get), Some(quoted), "{text}");
        }
        for text in left {
            assert_eq!(decode_string_response(text), None, "{text} taken");
        }
        // Its results decode as the parser's do: bytes, a wrong type, or another string type.
        assert_eq!(decode_result_text::<Payload>(Method::Recv, "\"aGk=\"").ok(), Some(Payload(b"hi".to_vec())));
        assert!(decode_result_text::<Payload>(Method::Recv, "\"aGk\"").is_err());
        assert_eq!(decode_result_text::<String>(Method::Getsockname, "\"/tmp/s\"").ok().as_deref(), Some("/tmp/s"));
        assert!(decode_result_text::<u64>(Method::Send, "\"5\"").is_err());
    }

    #[test]
    fn responses_round_trip() {
        let ok = encode_result(&Id::Num(9), &Payload(b"hi".to_vec()));
        assert_eq!(ok, r#"{"jsonrpc":"2.0","id":9,"result":"aGk="}"#);
        let resp = decode_response(&ok).ok();
        let raw = resp.as_ref().and_then(|r| r.outcome.as_ref().ok()).copied();
        let got: Option<Payload> = raw.and_then(|r| decode_result(Method::Recv, r).ok());
        assert_eq!(got, Some(Payload(b"hi".to_vec())));

        let unit = encode_result(&Id::Num(1), &());
        assert_eq!(unit, r#"{"jsonrpc":"2.0","id":1,"result":null}"#);
        let resp = decode_response(&unit).ok();
        assert!(resp.is_some_and(|r| r.outcome.is_ok_and(|raw| decode_result::<()>(Method::Bind, raw).is_ok())));

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

    /// An answer nested past serde_json's limit fails to decode, without exhausting the stack (the
    /// client reads answers with this on wasm32 too, whose stack is 1 MiB). A result is skipped as
    /// raw text without recursion, and refused when it is read as its method's result.
    #[test]
    fn deep_answers_are_refused() {
        let deep = format!(r#"{{"jsonrpc":"2.0","id":1,"result":{}1{}}}"#, "[".repeat(200_000), "]".repeat(200_000));
        let raw = decode_response(&deep).ok().and_then(|r| r.outcome.ok());
        let raw = raw.unwrap_or_else(|| panic!("a deep result is skipped as raw text"));
        assert!(matches!(
            decode_result::<Vec<Address>>(Method::Getaddrinfo, raw),
            Err(ResponseError::WrongResultType(_))
        ));
        let deep = format!(
            r#"{{"jsonrpc":"2.0","id":1,"error":{{"code":1,"message":"x","data":{}{}}}}}"#,
            "[".repeat(200_000),
            "]".repeat(200_000)
        );
        assert!(decode_response(&deep).is_err());
        let within = format!(r#"{{"jsonrpc":"2.0","id":1,"result":{}1{}}}"#, "[".repeat(100), "]".repeat(100));
        assert!(decode_response(&within).is_ok(), "100 levels are within serde_json's limit");
    }
}
