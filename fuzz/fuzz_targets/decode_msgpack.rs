//! Every binary WebSocket message of a MessagePack session goes through `msgpack::decode_request`
//! (the client's side, `decode_response`, is the `decode_response` target). It must answer any
//! bytes without panicking, recursing or allocating without bound; a request must survive a round
//! trip, and an error must be short whatever the input.
#![no_main]

use bridge_protocol::msgpack;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    match msgpack::decode_request(data) {
        Ok(request) => {
            let again = msgpack::encode_request(request.id.as_ref(), request.call.method(), &request.call);
            let back = msgpack::decode_request(&again).map(|r| r.call);
            assert_eq!(back.as_ref().ok(), Some(&request.call));
        }
        Err(bad) => {
            let message = format!("{:?}", bad.error);
            assert!(message.len() <= 512, "an error of {} bytes for {} bytes of input", message.len(), data.len());
        }
    }
});
