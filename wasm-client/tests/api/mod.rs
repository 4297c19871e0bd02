//! The Rust API's tests, run in both places the wasm32 package runs: headless Chromium
//! (`browser.rs`) and Node.js (`node.rs`), each against a real daemon started by
//! `bridge-daemon exec`, which gives the daemon's URL to the build as SOCKBRIDGE_URL.

use std::time::Duration;
use wasm_bindgen_test::*;
use wasm_client::*;

/// The daemon `bridge-daemon exec` started for this run.
const URL: Option<&str> = option_env!("SOCKBRIDGE_URL");

async fn bridge() -> Bridge {
    let url = URL.expect("SOCKBRIDGE_URL was not set at build time: run these tests under `bridge-daemon exec --`");
    Bridge::connect(url).await.expect("connect to the daemon")
}

async fn listener(bridge: &Bridge) -> Socket {
    let server = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    server.setsockopt(SOL_SOCKET, SO_REUSEADDR, true).await.unwrap();
    server.bind(("127.0.0.1", 0)).await.unwrap();
    server.listen(5).await.unwrap();
    server
}

async fn pair(bridge: &Bridge) -> (Socket, Socket, Socket) {
    let server = listener(bridge).await;
    let client = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    client.connect(server.getsockname().await.unwrap()).await.unwrap();
    let (conn, _) = server.accept().await.unwrap();
    (server, client, conn)
}

#[wasm_bindgen_test]
async fn tcp_echo_server_and_client_in_one_program() {
    let bridge = bridge().await;
    let server = listener(&bridge).await;
    let addr = server.getsockname().await.unwrap();
    assert_eq!(addr.host(), Some("127.0.0.1"));
    let client = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    client.connect(addr).await.unwrap();
    let (conn, peer) = server.accept().await.unwrap();
    assert_eq!(peer, client.getsockname().await.unwrap());
    client.sendall(b"hello from wasm32\n").await.unwrap();
    let data = conn.recv(1024).await.unwrap();
    conn.sendall(&data).await.unwrap();
    assert_eq!(client.recv(1024).await.unwrap(), b"hello from wasm32\n");
    client.close().await.unwrap();
    assert_eq!(conn.recv(1024).await.unwrap(), b"", "EOF");
}

#[wasm_bindgen_test]
async fn udp_both_ways() {
    let bridge = bridge().await;
    let a = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    let b = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    a.bind(("127.0.0.1", 0)).await.unwrap();
    b.bind(("127.0.0.1", 0)).await.unwrap();
    let (a_addr, b_addr) = (a.getsockname().await.unwrap(), b.getsockname().await.unwrap());
    a.sendto(b"ping", b_addr.clone()).await.unwrap();
    assert_eq!(b.recvfrom(64).await.unwrap(), (b"ping".to_vec(), Some(a_addr.clone())));
    b.sendto(b"pong", a_addr).await.unwrap();
    assert_eq!(a.recvfrom(64).await.unwrap(), (b"pong".to_vec(), Some(b_addr)));
}

#[wasm_bindgen_test]
async fn a_timeout_raises_timeout_error() {
    let bridge = bridge().await;
    let (_server, client, conn) = pair(&bridge).await;
    conn.settimeout(Some(Duration::from_millis(50))).unwrap();
    let e = conn.recv(10).await.unwrap_err();
    assert!(e.is_timeout());
    assert_eq!(e.to_string(), "TimeoutError: timed out");
    client.sendall(b"late").await.unwrap();
    assert_eq!(conn.recv(10).await.unwrap(), b"late", "nothing lost to the timeout");
}

#[wasm_bindgen_test]
async fn connect_ex_to_a_closed_port_is_111() {
    let bridge = bridge().await;
    let probe = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    probe.bind(("127.0.0.1", 0)).await.unwrap();
    let closed = probe.getsockname().await.unwrap();
    probe.close().await.unwrap();
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    assert_eq!(s.connect_ex(closed.clone()).await.unwrap(), 111);
    let e = s.connect(closed).await.unwrap_err();
    assert_eq!((e.exception(), e.errno(), e.errname()), ("ConnectionRefusedError", Some(111), Some("ECONNREFUSED")));
    assert!(e.is_instance("ConnectionError") && e.is_oserror());
}

#[wasm_bindgen_test]
async fn non_blocking_mode_raises_blocking_io_error() {
    let bridge = bridge().await;
    let (_server, _client, conn) = pair(&bridge).await;
    conn.setblocking(false).unwrap();
    let e = conn.recv(10).await.unwrap_err();
    assert_eq!((e.exception(), e.errno()), ("BlockingIOError", Some(11)));
}

#[wasm_bindgen_test]
async fn makefile_readline() {
    let bridge = bridge().await;
    let (_server, client, conn) = pair(&bridge).await;
    client.sendall(b"first line\nsecond").await.unwrap();
    client.shutdown(SHUT_WR).await.unwrap();
    let mut f = conn.makefile().unwrap();
    assert_eq!(f.readline().await.unwrap(), b"first line\n");
    assert_eq!(f.readline().await.unwrap(), b"second");
    assert_eq!(f.readline().await.unwrap(), b"");
}

#[wasm_bindgen_test]
async fn error_classes_and_errno() {
    let bridge = bridge().await;
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    let e = s.recv(1).await.unwrap_err();
    assert_eq!((e.exception(), e.errname()), ("OSError", Some("ENOTCONN")));
    let e = s.bind(("127.0.0.1", 80)).await.unwrap_err();
    assert_eq!((e.exception(), e.errno()), ("PermissionError", Some(13)));
    s.close().await.unwrap();
    let e = s.getsockname().await.unwrap_err();
    assert_eq!((e.exception(), e.errname()), ("OSError", Some("EBADF")));
    let e = bridge.socket(AF_INET, 5).await.unwrap_err();
    assert_eq!(e.errname(), Some("ESOCKTNOSUPPORT"));
}

#[wasm_bindgen_test]
async fn select_reports_readiness() {
    let bridge = bridge().await;
    let (server, client, conn) = pair(&bridge).await;
    let (r, _, _) = bridge.select(&[&conn, &server], &[], &[], Some(Duration::ZERO)).await.unwrap();
    assert!(r.is_empty());
    client.sendall(b"x").await.unwrap();
    let (r, w, _) = bridge.select(&[&conn, &server], &[&client], &[], None).await.unwrap();
    assert_eq!(r.iter().map(Socket::fileno).collect::<Vec<_>>(), [conn.fileno()]);
    assert_eq!(w.len(), 1);
}

#[wasm_bindgen_test]
async fn close_fails_a_pending_recv() {
    let bridge = bridge().await;
    let (_server, _client, conn) = pair(&bridge).await;
    let (tx, rx) = futures_channel::oneshot::channel();
    let waiting = conn.clone();
    wasm_bindgen_futures::spawn_local(async move {
        let _ = tx.send(waiting.recv(10).await);
    });
    // A round trip on the other lane shows the recv has reached the daemon.
    conn.getsockname().await.unwrap();
    conn.close().await.unwrap();
    let e = rx.await.unwrap().unwrap_err();
    assert_eq!(e.errname(), Some("EBADF"));
}

#[wasm_bindgen_test]
async fn a_megabyte_arrives_byte_for_byte() {
    let bridge = bridge().await;
    let (_server, client, conn) = pair(&bridge).await;
    let data: Vec<u8> = (0..(1u32 << 20)).map(|i| (i.wrapping_mul(2_654_435_761) >> 11) as u8).collect();
    let (tx, rx) = futures_channel::oneshot::channel();
    let (sender, payload) = (client.clone(), data.clone());
    wasm_bindgen_futures::spawn_local(async move {
        let _ = tx.send(sender.sendall(&payload).await);
    });
    let mut got = Vec::with_capacity(data.len());
    while got.len() < data.len() {
        let chunk = conn.recv(256 << 10).await.unwrap();
        assert!(!chunk.is_empty(), "early EOF at {}", got.len());
        got.extend_from_slice(&chunk);
    }
    rx.await.unwrap().unwrap();
    assert!(got == data, "the megabyte was corrupted");
}
