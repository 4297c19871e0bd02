//! Python's `socket` API for code that runs in a browser (Rust compiled to wasm32, or JavaScript
//! through the `js` module's wasm-bindgen classes) or natively (through tokio), backed by real
//! sockets in a sockbridge daemon.
//!
//! ```no_run
//! # async fn run() -> wasm_client::Result<()> {
//! use wasm_client::{Bridge, AF_INET, SOCK_STREAM};
//!
//! let bridge = Bridge::connect("ws://127.0.0.1:7320/").await?;
//! let server = bridge.socket(AF_INET, SOCK_STREAM).await?;
//! server.bind(("127.0.0.1", 0)).await?;
//! server.listen(5).await?;
//! let addr = server.getsockname().await?;
//!
//! let client = bridge.socket(AF_INET, SOCK_STREAM).await?;
//! client.connect(addr).await?;
//! let (conn, peer) = server.accept().await?;
//! client.sendall(b"hello").await?;
//! assert_eq!(conn.recv(1024).await?, b"hello");
//! println!("echoed for {peer}");
//! # Ok(()) }
//! ```
//!
//! # Organization
//!
//! | module | holds |
//! |---|---|
//! | [`Bridge`] | a session, `socket()`, and the module functions: `getaddrinfo`, `select`, ... |
//! | [`Socket`] | Python's socket methods, with timeouts and non-blocking mode |
//! | [`SocketFile`] | what `makefile()` returns: `read`, `readline`, `write`, `flush` |
//! | [`Error`] | failures, keeping the Python exception class, errno and message |
//! | `core` | request ids, in-flight permits, response matching (every target) |
//! | `transport` | the WebSocket: tokio-tungstenite natively, the page's own on wasm32 |
//! | `js` (wasm32) | the JavaScript API: `Bridge`, `Socket`, `SocketFile`, `isOSError`, `isinstance` |
//!
//! # How it departs from Python
//!
//! Methods that may wait are `async`. `bind` takes loopback addresses only, and Unix socket
//! addresses are names in the daemon's socket directory (`"echo.sock"`). The full list, with
//! reasons, is in `docs/protocol.md` under "Differences from CPython".

// The same code serves both targets. On wasm32 the transport holds the page's WebSocket, which is
// not Send, and that is fine: a page runs on one thread, so the shared Arcs never cross threads.
#![cfg_attr(target_arch = "wasm32", allow(clippy::arc_with_non_send_sync))]

mod bridge;
mod core;
mod error;
mod file;
#[cfg(target_arch = "wasm32")]
pub mod js;
mod read_ahead;
mod socket;
mod transport;

pub use bridge::Bridge;
pub use bridge_protocol::constants::*;
pub use bridge_protocol::params::{AddrInfo, GetaddrinfoParams, HelloResult, OptValue, Service};
pub use bridge_protocol::{Address, Codec, Limits, OsError};
pub use error::{Error, Result};
pub use file::SocketFile;
pub use socket::Socket;
#[cfg(not(target_arch = "wasm32"))]
pub use transport::native::ConnectOptions;

/// Errno values (Linux numbers), as Python's `errno` module names them.
pub mod errno {
    pub use bridge_protocol::errno::code::*;
    pub use bridge_protocol::errno::eai::*;
    pub use bridge_protocol::errno::{Errno, eai_name};
}
