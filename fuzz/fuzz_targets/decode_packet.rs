//! The packet decoder (`bridge_daemon::packet`) on any bytes: an answer or an error, never a
//! panic, and every packet it accepts can be shown.
#![no_main]

use libfuzzer_sys::fuzz_target;

fuzz_target!(|data: &[u8]| {
    if let Ok(packet) = bridge_daemon::packet::decode(data) {
        let _ = packet.to_string();
    }
});
