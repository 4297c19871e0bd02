//! TCP through the bridge: echo, both directions against native peers, EOF, shutdown, IPv6, large
//! transfers.

use sockbridge_tests::wasm_client::{AF_INET, AF_INET6, Address, SHUT_WR, SOCK_STREAM};
use sockbridge_tests::{TestDaemon, closed_port, errname, tcp_pair, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_server_and_client_both_through_the_bridge() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let server = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    server.bind(("127.0.0.1", 0)).await.unwrap();
    server.listen(5).await.unwrap();
    let addr = server.getsockname().await.unwrap();
    assert_eq!(addr.host(), Some("127.0.0.1"));
    assert_ne!(addr.port(), Some(0));

    let client = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    client.connect(addr.clone()).await.unwrap();
    let (conn, peer) = within(server.accept()).await.unwrap();
    assert_eq!(peer, client.getsockname().await.unwrap());
    assert_eq!(conn.getpeername().await.unwrap(), peer);
    assert_eq!(client.getpeername().await.unwrap(), addr);
    // Handles are small integers from 3, lowest free first.
    assert_eq!((server.fileno(), client.fileno(), conn.fileno()), (3, 4, 5));

    client.sendall(b"hello, sockets").await.unwrap();
    let data = conn.recv(1024).await.unwrap();
    assert_eq!(data, b"hello, sockets");
    conn.sendall(&data).await.unwrap();
    assert_eq!(client.recv(1024).await.unwrap(), b"hello, sockets");

    client.close().await.unwrap();
    assert_eq!(conn.recv(1024).await.unwrap(), b"", "EOF is an empty recv");
    conn.close().await.unwrap();
    server.close().await.unwrap();
    assert_eq!(server.fileno(), -1);
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bridge_client_against_a_native_server() {
    let native = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = native.local_addr().unwrap().port();
    // A program outside the bridge is reachable only by a rule naming it.
    let daemon = TestDaemon::allowing(&[&format!("127.0.0.1:{port}/tcp")]).await;
    let server = tokio::spawn(async move {
        let (mut stream, _) = native.accept().await.unwrap();
        let mut buf = vec![0u8; 5];
        stream.read_exact(&mut buf).await.unwrap();
        stream.write_all(&buf.to_ascii_uppercase()).await.unwrap();
        buf
    });
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    s.connect(("127.0.0.1", port)).await.unwrap();
    s.sendall(b"hello").await.unwrap();
    let mut got = Vec::new();
    while got.len() < 5 {
        let chunk = s.recv(5 - got.len()).await.unwrap();
        assert!(!chunk.is_empty());
        got.extend(chunk);
    }
    assert_eq!(got, b"HELLO");
    assert_eq!(within(server).await.unwrap(), b"hello");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_client_against_a_bridge_server() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let server = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    server.bind(("127.0.0.1", 0)).await.unwrap();
    server.listen(None).await.unwrap();
    let Address::Inet { port, .. } = server.getsockname().await.unwrap() else { panic!("not AF_INET") };
    let mut native = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap();
    let (conn, peer) = within(server.accept()).await.unwrap();
    assert_eq!(peer.port(), Some(native.local_addr().unwrap().port()));
    native.write_all(b"ping").await.unwrap();
    assert_eq!(conn.recv(4).await.unwrap(), b"ping");
    conn.sendall(b"pong").await.unwrap();
    conn.shutdown(SHUT_WR).await.unwrap();
    let mut back = Vec::new();
    within(native.read_to_end(&mut back)).await.unwrap();
    assert_eq!(back, b"pong", "shutdown(SHUT_WR) ends the stream for the peer");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_loopback() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let server = bridge.socket(AF_INET6, SOCK_STREAM).await.unwrap();
    server.bind(("::1", 0)).await.unwrap();
    server.listen(1).await.unwrap();
    let addr = server.getsockname().await.unwrap();
    let Address::Inet6 { ref host, flowinfo: 0, scope_id: 0, .. } = addr else { panic!("{addr:?}") };
    assert_eq!(host, "::1");
    let client = bridge.socket(AF_INET6, SOCK_STREAM).await.unwrap();
    client.connect(addr).await.unwrap();
    let (conn, _) = within(server.accept()).await.unwrap();
    client.sendall(b"six").await.unwrap();
    assert_eq!(conn.recv(10).await.unwrap(), b"six");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_megabyte_arrives_byte_for_byte_in_both_directions() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let (_server, client, conn) = tcp_pair(&bridge).await;

    let data: Vec<u8> = (0..(1 << 20) + 12345).map(|i: u32| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    for (from, to) in [(&client, &conn), (&conn, &client)] {
        let sender = {
            let from = from.clone();
            let data = data.clone();
            tokio::spawn(async move { from.sendall(&data).await })
        };
        let mut got = Vec::with_capacity(data.len());
        while got.len() < data.len() {
            let chunk = within(to.recv(256 << 10)).await.unwrap();
            assert!(!chunk.is_empty(), "early EOF at {}", got.len());
            got.extend_from_slice(&chunk);
        }
        within(sender).await.unwrap().unwrap();
        assert!(got == data, "the transfer was corrupted");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn blocking_send_sends_all_and_a_timed_send_may_be_partial() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let max = bridge.limits().max_payload_bytes;
    let (_server, client, conn) = tcp_pair(&bridge).await;
    // A blocking send takes everything, as Linux's does, even more than one request carries.
    let data: Vec<u8> = (0..max + 1000).map(|i| (i % 251) as u8).collect();
    assert_eq!(client.send(&data).await.unwrap(), data.len());
    let mut got = Vec::new();
    while got.len() < data.len() {
        let chunk = within(conn.recv(1 << 20)).await.unwrap();
        assert!(!chunk.is_empty(), "EOF after {} bytes", got.len());
        got.extend_from_slice(&chunk);
    }
    assert!(got == data, "the blocking send's bytes arrived changed");
    // With a timeout a send is one request: it reports how much it took, at most the payload limit.
    client.settimeout(Some(std::time::Duration::from_secs(5))).unwrap();
    let n = client.send(&vec![7u8; max + 1000]).await.unwrap();
    assert!(n > 0 && n <= max, "sent {n}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refused_connect_is_connection_refused_error() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let closed = closed_port(&bridge).await;
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    let e = s.connect(closed).await.unwrap_err();
    assert_eq!((e.exception(), e.errno(), errname(&e)), ("ConnectionRefusedError", Some(111), "ECONNREFUSED"));
    assert_eq!(e.to_string(), "ConnectionRefusedError: [Errno 111] Connection refused");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn listen_without_bind_stays_on_loopback() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    s.listen(1).await.unwrap();
    let addr = s.getsockname().await.unwrap();
    assert_eq!(addr.host(), Some("127.0.0.1"), "the kernel would have picked 0.0.0.0");
    assert_ne!(addr.port(), Some(0));
    let v6 = bridge.socket(AF_INET6, SOCK_STREAM).await.unwrap();
    v6.listen(1).await.unwrap();
    assert_eq!(v6.getsockname().await.unwrap().host(), Some("::1"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn wildcard_and_low_port_binds() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    for host in ["", "0.0.0.0"] {
        let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
        s.bind((host, 0)).await.unwrap();
        assert_eq!(s.getsockname().await.unwrap().host(), Some("127.0.0.1"), "{host:?} maps to loopback");
    }
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    let e = s.bind(("127.0.0.1", 80)).await.unwrap_err();
    assert_eq!((e.exception(), errname(&e)), ("PermissionError", "EACCES"));
    assert!(e.to_string().contains("below 1024"), "the refusal says why: {e}");
    let e = s.bind(("192.0.2.1", 9000)).await.unwrap_err();
    assert_eq!(errname(&e), "EACCES");
    let e =
        s.connect(daemon.addr.to_string().split_once(':').map(|(h, p)| (h, p.parse::<u16>().unwrap())).unwrap()).await;
    assert_eq!(e.map_err(|e| errname(&e).to_owned()), Err("EACCES".to_owned()), "never dials the daemon itself");
}
