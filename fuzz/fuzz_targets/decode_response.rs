//! Every message the client reads from the daemon goes through `Codec::decode_response`, and a
//! result through `Body::decode` as the type its method returns. The first input byte picks the
//! codec (even: JSON text, odd: MessagePack), the rest is the message. Whatever a daemon (or
//! whatever answers in its place) sends, the client must answer with a value or an error: never
//! panic, never recurse without bound (the browser's stack is small), never allocate without bound.
//!
//! The client's reader is our own (`tree`), so it is also checked against the readers it stands in
//! for: a JSON text is read by `tree::parse_json` exactly when serde_json reads it, to the same
//! values (floats within a unit in the last place); a MessagePack value written back by
//! `tree::write_msgpack` reads back the same.
#![no_main]

use bridge_protocol::codec::{Body, FrameRef};
use bridge_protocol::tree::{self, Value};
use bridge_protocol::params::*;
use bridge_protocol::{Address, Codec, Method, Payload};
use libfuzzer_sys::fuzz_target;

/// Decodes a result as each type a method returns.
fn every_result(body: &Body<'_>) {
    let _ = body.decode::<()>(Method::Close);
    let _ = body.decode::<i32>(Method::Socket);
    let _ = body.decode::<u64>(Method::Send);
    let _ = body.decode::<String>(Method::Gethostbyname);
    let _ = body.decode::<Payload>(Method::Recv);
    let _ = body.decode::<RecvfromResult>(Method::Recvfrom);
    let _ = body.decode::<AcceptResult>(Method::Accept);
    let _ = body.decode::<Address>(Method::Getsockname);
    let _ = body.decode::<OptValue>(Method::Getsockopt);
    let _ = body.decode::<SelectResult>(Method::Select);
    let _ = body.decode::<Vec<AddrInfo>>(Method::Getaddrinfo);
    let _ = body.decode::<HelloResult>(Method::Hello);
}

/// Whether our tree holds what serde_json read.
fn same(ours: &Value<'_>, theirs: &serde_json::Value) -> bool {
    use serde_json::Value as J;
    match (ours, theirs) {
        (Value::Nil, J::Null) => true,
        (Value::Bool(a), J::Bool(b)) => a == b,
        (Value::UInt(a), J::Number(b)) => b.as_u64() == Some(*a),
        (Value::Int(a), J::Number(b)) => b.as_i64() == Some(*a),
        (Value::Float(a), J::Number(b)) => b.as_f64().is_some_and(|b| (a - b).abs() <= b.abs() * 2.0 * f64::EPSILON),
        (Value::Str(a), J::String(b)) => a == b,
        (Value::Array(a), J::Array(b)) => a.len() == b.len() && a.iter().zip(b).all(|(a, b)| same(a, b)),
        (Value::Map(a), J::Object(b)) => {
            // serde_json keeps the last of repeated keys.
            let mut last = std::collections::BTreeMap::new();
            for (k, v) in a {
                last.insert(k.as_ref(), v);
            }
            last.len() == b.len() && last.iter().all(|(k, v)| b.get(*k).is_some_and(|b| same(v, b)))
        }
        _ => false,
    }
}

fuzz_target!(|data: &[u8]| {
    let Some((&pick, message)) = data.split_first() else { return };
    let response = if pick % 2 == 0 {
        let Ok(text) = std::str::from_utf8(message) else { return };
        let ours = tree::parse_json(text);
        match (&ours, serde_json::from_str::<serde_json::Value>(text)) {
            (Some(ours), Ok(theirs)) => assert!(same(ours, &theirs), "{ours:?} is not {theirs:?}"),
            (None, Err(_)) => {}
            (ours, theirs) => panic!("tree: {ours:?}, serde_json: {theirs:?}"),
        }
        Codec::Json.decode_response(FrameRef::Text(text))
    } else {
        if let Some(value) = tree::parse_msgpack(message) {
            let mut once = Vec::new();
            tree::write_msgpack(&value, &mut once);
            let again = tree::parse_msgpack(&once).expect("what the writer wrote reads back");
            let mut twice = Vec::new();
            tree::write_msgpack(&again, &mut twice);
            assert_eq!(once, twice);
        }
        Codec::Msgpack.decode_response(FrameRef::Binary(message))
    };
    if let Ok(response) = response
        && let Ok(body) = response.outcome
    {
        every_result(&body);
    }
});
