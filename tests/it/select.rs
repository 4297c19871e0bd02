//! select.select: what the kernel says is ready.

use sockbridge_tests::wasm_client::*;
use sockbridge_tests::{TestDaemon, tcp_listener, udp_bound, within};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn readiness_for_listeners_streams_and_timeouts() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let server = tcp_listener(&bridge).await;
    // Nothing pending: a zero timeout polls, a short one waits and returns empty lists.
    let (r, w, x) = bridge.select(&[&server], &[], &[], Some(Duration::ZERO)).await.unwrap();
    assert!(r.is_empty() && w.is_empty() && x.is_empty());
    let (r, _, _) = within(bridge.select(&[&server], &[], &[], Some(Duration::from_millis(30)))).await.unwrap();
    assert!(r.is_empty());

    let client = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    client.connect(server.getsockname().await.unwrap()).await.unwrap();
    let (r, _, _) = within(bridge.select(&[&server], &[], &[], None)).await.unwrap();
    assert_eq!(r.len(), 1, "a pending connection makes the listener readable");
    let (conn, _) = server.accept().await.unwrap();

    let (r, w, _) = bridge.select(&[&conn], &[&conn], &[], Some(Duration::ZERO)).await.unwrap();
    assert_eq!((r.len(), w.len()), (0, 1), "connected and idle: writable, not readable");
    // A select waiting without timeout wakes when data arrives.
    let waiter = {
        let bridge = bridge.clone();
        let conn = conn.clone();
        tokio::spawn(async move { bridge.select(&[&conn], &[], &[], None).await.map(|(r, _, _)| r.len()) })
    };
    client.sendall(b"wake").await.unwrap();
    assert_eq!(within(waiter).await.unwrap().unwrap(), 1);
    assert_eq!(conn.recv(10).await.unwrap(), b"wake");
    // EOF is readable too.
    client.close().await.unwrap();
    let (r, _, _) = within(bridge.select(&[&conn], &[], &[], None)).await.unwrap();
    assert_eq!(r.len(), 1);
    assert_eq!(conn.recv(10).await.unwrap(), b"");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn fresh_sockets_and_the_order_given() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    // Linux reports a fresh TCP socket readable and writable (POLLHUP|POLLOUT), and Python shows it.
    let a = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    let b = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    let (r, w, _) = bridge.select(&[&b, &a], &[&b, &a], &[], Some(Duration::ZERO)).await.unwrap();
    assert_eq!(r.iter().map(Socket::fileno).collect::<Vec<_>>(), [a.fileno()]);
    assert_eq!(w.iter().map(Socket::fileno).collect::<Vec<_>>(), [b.fileno(), a.fileno()]);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn closed_sockets_are_value_errors_and_closing_wakes_a_select() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let s = udp_bound(&bridge).await;
    let waiter = {
        let bridge = bridge.clone();
        let s = s.clone();
        tokio::spawn(async move { bridge.select(&[&s], &[], &[], None).await })
    };
    // Let the select reach the daemon, then close the socket under it.
    let t = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    t.sendto(b"", ("127.0.0.1", 9)).await.ok();
    s.close().await.unwrap();
    let e = within(waiter).await.unwrap().unwrap_err();
    assert!(matches!(e.errname(), Some("EBADF")), "{e}");
    let e = bridge.select(&[&s], &[], &[], None).await.unwrap_err();
    assert_eq!(e.to_string(), "ValueError: file descriptor cannot be a negative integer (-1)");
}
