//! Every WebSocket text message the daemon reads goes through `json::decode_request` first: it must
//! answer any bytes with a request or an error (never panic, never allocate without bound), a
//! request must survive a round trip, and an error must be short whatever the input.
#![no_main]

use bridge_protocol::json;
use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    let Ok(text) = std::str::from_utf8(data) else { return };
    match json::decode_request(text) {
        Ok(request) => {
            // What decodes re-encodes, and decodes to the same call.
            let again = json::encode_request(request.id.as_ref(), request.call.method(), &request.call);
            let back = json::decode_request(&again).map(|r| r.call);
            assert_eq!(back.as_ref().ok(), Some(&request.call), "{again}");
        }
        Err(bad) => {
            // Errors are made of the daemon's own words: bounded, whatever was sent, so they cannot
            // carry the input back (a unit test in json.rs checks for echoes of marked input).
            let message = format!("{:?}", bad.error);
            assert!(message.len() <= 512, "an error of {} bytes for {} bytes of input", message.len(), text.len());
        }
    }
});
