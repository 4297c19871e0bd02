//! The Rust API in a real browser: the tests of `api/` compiled to wasm32 and run by
//! wasm-bindgen-test in headless Chromium, against a real daemon started by `bridge-daemon exec`,
//! which gives the daemon's URL to the build as SOCKBRIDGE_URL:
//!
//! ```text
//! bridge-daemon exec -- wasm-pack test --headless --chrome --chromedriver /usr/bin/chromedriver wasm-client --test browser
//! ```

#![cfg(target_arch = "wasm32")]
#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs)]

wasm_bindgen_test::wasm_bindgen_test_configure!(run_in_browser);

mod api;
