//! The tutorial's TCP echo, server and client both through the bridge.
//!
//! Start a daemon (`cargo run -p bridge-daemon`), then:
//!
//! ```text
//! cargo run -p wasm-client --example echo [ws://127.0.0.1:7320/]
//! ```

#![allow(clippy::print_stdout)]

#[cfg(not(target_arch = "wasm32"))]
use wasm_client::{AF_INET, Bridge, SO_REUSEADDR, SOCK_STREAM, SOL_SOCKET};

/// The example runs natively; in a page, the same code runs through the JS package (`web-demo/`).
#[cfg(target_arch = "wasm32")]
fn main() {}

#[cfg(not(target_arch = "wasm32"))]
#[tokio::main(flavor = "current_thread")]
async fn main() -> wasm_client::Result<()> {
    let url = std::env::args().nth(1).unwrap_or_else(|| "ws://127.0.0.1:7320/".into());
    let bridge = Bridge::connect(&url).await?;

    let server = bridge.socket(AF_INET, SOCK_STREAM).await?;
    server.setsockopt(SOL_SOCKET, SO_REUSEADDR, true).await?;
    server.bind(("127.0.0.1", 0)).await?;
    server.listen(5).await?;
    let addr = server.getsockname().await?;
    println!("echo server listening on {addr}");

    let client = bridge.socket(AF_INET, SOCK_STREAM).await?;
    client.connect(addr).await?;
    let (conn, peer) = server.accept().await?;
    println!("accepted a connection from {peer}");

    client.sendall(b"hello, sockets\n").await?;
    let data = conn.recv(1024).await?;
    conn.sendall(&data).await?;
    let echoed = client.recv(1024).await?;
    println!("echoed: {:?}", String::from_utf8_lossy(&echoed));
    Ok(())
}
