//! Every message the client reads from the daemon goes through `Codec::decode_response`, and a
//! result through `Body::decode` as the type its method returns. The first input byte picks the
//! codec (even: JSON text, odd: MessagePack), the rest is the message. Whatever a daemon (or
//! whatever answers in its place) sends, the client must answer with a value or an error: never
//! panic, never recurse without bound (the browser's stack is small), never allocate without bound.
#![no_main]

use bridge_protocol::codec::{Body, FrameRef};
use bridge_protocol::params::*;
use bridge_protocol::{Address, Codec, Method, Payload};
use libfuzzer_sys::fuzz_target;

/// Decodes a result as each type a method returns.
fn every_result(body: Body<'_>) {
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

fuzz_target!(|data: &[u8]| {
    let Some((&pick, message)) = data.split_first() else { return };
    let response = if pick % 2 == 0 {
        let Ok(text) = std::str::from_utf8(message) else { return };
        Codec::Json.decode_response(FrameRef::Text(text))
    } else {
        Codec::Msgpack.decode_response(FrameRef::Binary(message))
    };
    if let Ok(response) = response
        && let Ok(body) = response.outcome
    {
        every_result(body);
    }
});
