//! Transports: how the core's messages travel. Only this part differs between targets.

#[cfg(target_arch = "wasm32")]
pub(crate) mod browser;
#[cfg(not(target_arch = "wasm32"))]
pub(crate) mod native;
