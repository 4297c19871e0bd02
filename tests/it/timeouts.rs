//! Python's three timeout modes, non-blocking mode, and that no byte is lost to a timeout.

use sockbridge_tests::wasm_client::*;
use sockbridge_tests::{TestDaemon, errname, tcp_listener, tcp_pair, within};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_raises_timeout_error_and_loses_nothing() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let (_server, client, conn) = tcp_pair(&bridge).await;
    assert_eq!(conn.gettimeout(), None);
    conn.settimeout(Some(Duration::from_millis(50))).unwrap();
    assert_eq!(conn.gettimeout(), Some(Duration::from_millis(50)));
    let e = within(conn.recv(10)).await.unwrap_err();
    assert!(e.is_timeout());
    assert_eq!((e.exception(), e.errno(), e.to_string().as_str()), ("TimeoutError", None, "TimeoutError: timed out"));
    client.sendall(b"after").await.unwrap();
    assert_eq!(conn.recv(10).await.unwrap(), b"after", "the bytes that came after the timeout are all there");
    // The socket is still usable and the timeout still applies.
    assert!(within(conn.recv(10)).await.unwrap_err().is_timeout());
    conn.settimeout(None).unwrap();
    client.sendall(b"x").await.unwrap();
    assert_eq!(conn.recv(10).await.unwrap(), b"x");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_blocking_mode_raises_blocking_io_error() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let (server, client, conn) = tcp_pair(&bridge).await;
    conn.setblocking(false).unwrap();
    assert!(!conn.getblocking());
    assert_eq!(conn.gettimeout(), Some(Duration::ZERO));
    let e = conn.recv(10).await.unwrap_err();
    assert_eq!((e.exception(), errname(&e), e.errno()), ("BlockingIOError", "EAGAIN", Some(11)));
    server.setblocking(false).unwrap();
    assert_eq!(errname(&server.accept().await.unwrap_err()), "EAGAIN");
    client.sendall(b"now").await.unwrap();
    assert_eq!(conn.recv(10).await.unwrap(), b"now");
    // settimeout(0.0) is setblocking(False).
    client.settimeout(Some(Duration::ZERO)).unwrap();
    assert!(!client.getblocking());
    assert_eq!(errname(&client.recv(1).await.unwrap_err()), "EAGAIN");
    // A socket made with SOCK_NONBLOCK starts non-blocking.
    let nb = bridge.socket(AF_INET, SOCK_STREAM | SOCK_NONBLOCK).await.unwrap();
    assert_eq!((nb.kind(), nb.gettimeout()), (SOCK_STREAM, Some(Duration::ZERO)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn non_blocking_connect_reports_einprogress_then_completes() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let server = tcp_listener(&bridge).await;
    let addr = server.getsockname().await.unwrap();
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    s.setblocking(false).unwrap();
    let e = s.connect(addr.clone()).await.unwrap_err();
    assert_eq!((e.exception(), errname(&e), e.errno()), ("BlockingIOError", "EINPROGRESS", Some(115)));
    let (_, w, _) = within(bridge.select(&[], &[&s], &[], Some(Duration::from_secs(5)))).await.unwrap();
    assert_eq!(w.len(), 1);
    assert_eq!(s.getsockopt(SOL_SOCKET, SO_ERROR).await.unwrap(), 0);
    assert_eq!(s.getpeername().await.unwrap(), addr);
    // As on Linux with CPython: the first connect after completion reports success, the next EISCONN.
    assert_eq!(s.connect_ex(addr.clone()).await.unwrap(), 0);
    assert_eq!(s.connect_ex(addr).await.unwrap(), 106);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn accept_and_sendall_time_out() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let (server, client, _conn) = tcp_pair(&bridge).await;
    server.settimeout(Some(Duration::from_millis(30))).unwrap();
    assert!(within(server.accept()).await.unwrap_err().is_timeout());
    // A peer that never reads: sendall fills the buffers, then times out as a whole.
    client.setsockopt(SOL_SOCKET, SO_SNDBUF, 4096).await.unwrap();
    client.settimeout(Some(Duration::from_millis(200))).unwrap();
    let e = within(client.sendall(&vec![0u8; 256 << 10])).await.unwrap_err();
    assert!(e.is_timeout(), "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn settimeout_rejects_nonsense_and_closed_sockets() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    // CPython's exceptions and messages, each.
    for (bad, error) in [
        (-1.0, "ValueError: Timeout value out of range"),
        (f64::NAN, "ValueError: Invalid value NaN (not a number)"),
        (f64::INFINITY, "OverflowError: timestamp out of range for platform time_t"),
        (1e19, "OverflowError: timestamp out of range for platform time_t"),
    ] {
        let e = s.settimeout_secs(Some(bad)).unwrap_err();
        assert_eq!(e.to_string(), error, "{bad}");
    }
    s.settimeout_secs(Some(1.5)).unwrap();
    s.close().await.unwrap();
    assert_eq!(s.gettimeout(), Some(Duration::from_millis(1500)), "gettimeout still answers, as in Python");
    // CPython stores the value, then fails on the closed fd.
    assert_eq!(errname(&s.settimeout(None).unwrap_err()), "EBADF");
    assert_eq!(s.gettimeout(), None);
}
