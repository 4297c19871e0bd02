//! Transports: how the core's messages travel. Only this part differs between targets.

#[cfg(target_arch = "wasm32")]
pub(crate) mod browser;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native;

use crate::error::{Error, Result};
use bridge_protocol::Codec;

/// The codec subprotocols to offer, preferred first: the one asked for, else MessagePack then JSON.
pub(crate) fn offer(codec: Option<Codec>) -> Vec<&'static str> {
    match codec {
        Some(codec) => vec![codec.subprotocol()],
        None => Codec::PREFERRED.iter().map(|c| c.subprotocol()).collect(),
    }
}

/// The codec the daemon agreed to (its `Sec-WebSocket-Protocol` answer), if it is one we offered.
pub(crate) fn agreed(asked: Option<Codec>, answer: &str) -> Result<Codec> {
    match Codec::from_subprotocol(answer) {
        Some(codec) if asked.is_none_or(|a| a == codec) => Ok(codec),
        _ => Err(Error::Connect(format!(
            "the server did not agree to a subprotocol offered ({}): is it a sockbridge daemon?",
            offer(asked).join(", ")
        ))),
    }
}
