//! The Rust API in Node.js: the tests of `api/` compiled to wasm32 and run by wasm-bindgen-test
//! in Node, against a real daemon started by `bridge-daemon exec`. Node needs a global WebSocket:
//! Node 22 and later have one; Node 20 needs `--experimental-websocket`:
//!
//! ```text
//! NODE_OPTIONS=--experimental-websocket bridge-daemon exec -- wasm-pack test --node wasm-client --test node
//! ```

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

mod api;
