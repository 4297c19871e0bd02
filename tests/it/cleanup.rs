//! Nothing outlives its session: sockets, ports and socket files are released when the WebSocket
//! closes, however it closes.

use serde_json::json;
use sockbridge_tests::wasm_client::*;
use sockbridge_tests::{TestDaemon, errname, exists, udp_bound, within};
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::Message;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_closed_session_releases_sockets_ports_and_files() {
    let daemon = TestDaemon::start().await;
    let mut raw = daemon.raw().await;
    raw.ok("socket", json!({})).await;
    raw.ok("bind", json!({"fd": 3, "address": ["127.0.0.1", 0]})).await;
    raw.ok("listen", json!({"fd": 3})).await;
    let addr = raw.ok("getsockname", json!({"fd": 3})).await;
    let port = addr[1].as_u64().unwrap() as u16;
    let mut native = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    assert_eq!(raw.ok("accept", json!({"fd": 3})).await["fd"], json!(4));
    raw.ok("socket", json!({"family": 1, "type": 1})).await;
    raw.ok("bind", json!({"fd": 5, "address": "left.sock"})).await;
    assert!(exists(&daemon.unix_path("left.sock")));
    // A second listener with no connections: its port must be free the moment the session ends.
    // (The first one's port is held by the accepted connection's TIME_WAIT, as it would be for
    // any process that closes a connection first.)
    raw.ok("socket", json!({})).await;
    raw.ok("bind", json!({"fd": 6, "address": ["127.0.0.1", 0]})).await;
    raw.ok("listen", json!({"fd": 6})).await;
    let idle_port = raw.ok("getsockname", json!({"fd": 6})).await[1].as_u64().unwrap() as u16;

    // A polite close: the daemon answers with its own close frame only after releasing everything.
    raw.send_message(Message::Close(None)).await;
    while raw.next().await.is_ok() {}

    let mut buf = [0u8; 1];
    assert_eq!(within(native.read(&mut buf)).await.unwrap(), 0, "the peer sees EOF");
    assert!(!exists(&daemon.unix_path("left.sock")), "the socket file is removed");
    let bridge = daemon.client().await;
    let again = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    again.bind(("127.0.0.1", idle_port)).await.unwrap();
    again.listen(1).await.unwrap();
    let busy = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    assert_eq!(errname(&busy.bind(("127.0.0.1", port)).await.unwrap_err()), "EADDRINUSE", "TIME_WAIT, as in Python");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dropped_connection_releases_too() {
    let native = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = native.local_addr().unwrap().port();
    let daemon = TestDaemon::allowing(&[&format!("127.0.0.1:{port}/tcp")]).await;
    let mut raw = daemon.raw().await;
    raw.ok("socket", json!({})).await;
    raw.ok("connect", json!({"fd": 3, "address": ["127.0.0.1", port]})).await;
    // The page goes away without a close frame: the TCP connection just ends.
    drop(raw);
    let (mut peer, _) = within(native.accept()).await.unwrap();
    let mut buf = [0u8; 1];
    assert_eq!(within(peer.read(&mut buf)).await.unwrap(), 0, "the session's end closed the socket");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_fails_a_pending_recv_with_ebadf() {
    let daemon = TestDaemon::start().await;
    let mut raw = daemon.raw().await;
    raw.ok("socket", json!({"type": 2})).await;
    raw.ok("bind", json!({"fd": 3, "address": ["127.0.0.1", 0]})).await;
    // In this order on the wire: the recv is pending when the close arrives.
    raw.send_text(json!({"jsonrpc":"2.0","id":50,"method":"recv","params":{"fd":3,"bufsize":8}}).to_string()).await;
    raw.send_text(json!({"jsonrpc":"2.0","id":51,"method":"close","params":{"fd":3}}).to_string()).await;
    let mut got = [raw.recv().await, raw.recv().await];
    got.sort_by_key(|r| r["id"].as_i64());
    assert_eq!(got[0]["error"]["data"]["errname"], "EBADF", "{}", got[0]);
    assert_eq!(got[1]["result"], serde_json::Value::Null);
    assert!(got[1].get("error").is_none());

    // Through the client: a recv waiting in another task fails when the socket is closed.
    let bridge = daemon.client().await;
    let s = udp_bound(&bridge).await;
    let pending = {
        let s = s.clone();
        tokio::spawn(async move { s.recv(8).await })
    };
    // A round trip on the same socket's other lane shows the recv has been dispatched.
    s.sendto(b"", ("127.0.0.1", 9)).await.ok();
    s.close().await.unwrap();
    let e = within(pending).await.unwrap().unwrap_err();
    assert_eq!(errname(&e), "EBADF");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn shutdown_closes_sessions_with_going_away() {
    let daemon = TestDaemon::start().await;
    let mut raw = daemon.raw().await;
    raw.ok("socket", json!({})).await;
    let bridge = daemon.client().await;
    let s = udp_bound(&bridge).await;
    let pending = {
        let s = s.clone();
        tokio::spawn(async move { s.recv(1).await })
    };
    s.getsockname().await.unwrap();
    daemon.stop().await;
    match raw.next().await {
        Err(Some((code, reason))) => assert_eq!(code, 1001, "{reason}"),
        other => panic!("expected close 1001, got {other:?}"),
    }
    let e = within(pending).await.unwrap().unwrap_err();
    assert!(matches!(e, Error::Closed) || errname(&e) == "EBADF", "{e}");
    assert!(matches!(s.getsockname().await, Err(Error::Closed)));
}
