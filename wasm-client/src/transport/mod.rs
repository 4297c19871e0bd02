//! Transports: how the core's messages travel. Only this part differs between targets.

#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native;
