//! Reading ahead: after a blocking `recv` on a connected stream socket returns data, the client
//! sends the next receive before it is asked. What a user must still see: every byte, in order,
//! whatever mix of calls reads them; timeouts, non-blocking mode, flags and `select` behaving as
//! without it; a socket waiting in a receive sent ahead still closing and dropping; no idle close
//! while a page waits for data; and in a conversation, each send on the wire before the receive
//! ahead that follows it.

use serde_json::{Value, json};
use sockbridge_tests::wasm_client::{MSG_PEEK, MSG_WAITALL, Socket};
use sockbridge_tests::{Raw, TestDaemon, errname, tcp_pair, within};
use std::time::Duration;

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn peek_waitall_and_zero_byte_recvs_see_the_bytes_read_ahead() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let (_srv, cli, conn) = tcp_pair(&bridge).await;
    cli.send(b"0123456789").await.unwrap();
    assert_eq!(within(conn.recv_flags(4, MSG_PEEK)).await.unwrap(), b"0123");
    assert_eq!(within(conn.recv(4)).await.unwrap(), b"0123");
    // "456789" is on its way ahead, or here.
    assert_eq!(within(conn.recv(0)).await.unwrap(), b"");
    assert_eq!(within(conn.recv_flags(3, MSG_PEEK)).await.unwrap(), b"456");
    assert_eq!(within(conn.recv(100)).await.unwrap(), b"456789");
    cli.sendall(b"ab").await.unwrap();
    assert_eq!(within(conn.recv_flags(2, MSG_WAITALL)).await.unwrap(), b"ab");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_zero_byte_recv_returns_at_once_with_nothing_to_read() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let (_srv, _cli, conn) = tcp_pair(&bridge).await;
    // As CPython: recv(0) asks the kernel nothing, so it neither waits nor fails.
    assert_eq!(within(conn.recv(0)).await.unwrap(), b"");
    daemon.stop().await;
}

/// Sends `len` patterned bytes from `cli` in `sendall`s of `chunk`, then closes it; the bytes.
fn stream_then_close(cli: Socket, len: u32, chunk: usize) -> (Vec<u8>, tokio::task::JoinHandle<()>) {
    let sent: Vec<u8> = (0..len).map(|i| (i.wrapping_mul(2_654_435_761) >> 13) as u8).collect();
    let bytes = sent.clone();
    let writer = tokio::spawn(async move {
        for piece in bytes.chunks(chunk) {
            cli.sendall(piece).await.unwrap();
        }
        cli.close().await.unwrap();
    });
    (sent, writer)
}

/// Every byte arrives once and in order, whatever mix of calls reads it: plain `recv`s of several
/// sizes (which read ahead), peeks, `MSG_WAITALL`, timeouts and non-blocking mode, `recvfrom`.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn mixed_reads_lose_and_reorder_nothing() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let (_srv, cli, conn) = tcp_pair(&bridge).await;
    let (sent, writer) = stream_then_close(cli, 3_000_000, 50_000);
    let mut got = Vec::new();
    for round in 0usize.. {
        let data = match round % 7 {
            0..=2 => within(conn.recv([1, 1000, 65536][round % 3])).await.unwrap(),
            3 => {
                let peeked = within(conn.recv_flags(500, MSG_PEEK)).await.unwrap();
                let data = within(conn.recv(500)).await.unwrap();
                assert!(data.starts_with(&peeked) || peeked.starts_with(&data), "a peek saw other bytes");
                data
            }
            4 => within(conn.recv_flags(3000, MSG_WAITALL)).await.unwrap(),
            5 => {
                conn.settimeout(Some(Duration::from_secs(10))).unwrap();
                let data = within(conn.recv(7000)).await.unwrap();
                conn.settimeout(None).unwrap();
                data
            }
            _ => within(conn.recvfrom(2000)).await.unwrap().0,
        };
        if data.is_empty() {
            break;
        }
        got.extend_from_slice(&data);
    }
    writer.await.unwrap();
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "bytes lost or reordered");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_timeout_or_non_blocking_recv_after_a_read_ahead_behaves_as_without() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let (_srv, cli, conn) = tcp_pair(&bridge).await;
    cli.send(b"first").await.unwrap();
    assert_eq!(within(conn.recv(100)).await.unwrap(), b"first");
    // A receive is now waiting ahead; nothing more is coming yet.
    conn.settimeout(Some(Duration::from_millis(200))).unwrap();
    let e = within(conn.recv(100)).await.unwrap_err();
    assert_eq!(e.exception(), "TimeoutError", "{e}");
    conn.setblocking(false).unwrap();
    let e = within(conn.recv(100)).await.unwrap_err();
    assert_eq!((errname(&e), e.exception()), ("EAGAIN", "BlockingIOError"), "{e}");
    // Nothing was lost by the receive that gave way.
    cli.send(b"second").await.unwrap();
    let (readable, _, _) = within(bridge.select(&[&conn], &[], &[], Some(Duration::from_secs(5)))).await.unwrap();
    assert_eq!(readable.len(), 1);
    assert_eq!(within(conn.recv(100)).await.unwrap(), b"second");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn bytes_read_ahead_are_readable_for_select() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let (_srv, cli, conn) = tcp_pair(&bridge).await;
    cli.sendall(b"0123456789").await.unwrap();
    assert_eq!(within(conn.recv(4)).await.unwrap(), b"0123");
    // "456789" is read ahead (or about to be): the kernel has nothing, yet the socket is readable.
    let (readable, _, _) = within(bridge.select(&[&conn], &[], &[], Some(Duration::from_secs(5)))).await.unwrap();
    assert_eq!(readable.len(), 1, "data read ahead must count as readable");
    let (readable, _, _) = within(bridge.select(&[&conn], &[], &[], Some(Duration::ZERO))).await.unwrap();
    assert_eq!(readable.len(), 1);
    assert_eq!(within(conn.recv(100)).await.unwrap(), b"456789");
    let (readable, _, _) = within(bridge.select(&[&conn], &[], &[], Some(Duration::ZERO))).await.unwrap();
    assert!(readable.is_empty(), "nothing left to read");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn eof_and_errors_come_through_the_receive_ahead_once() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let (_srv, cli, conn) = tcp_pair(&bridge).await;
    cli.sendall(b"bye").await.unwrap();
    assert_eq!(within(conn.recv(100)).await.unwrap(), b"bye");
    cli.close().await.unwrap();
    assert_eq!(within(conn.recv(100)).await.unwrap(), b"");
    assert_eq!(within(conn.recv(100)).await.unwrap(), b"", "EOF again, from the socket");

    // A reset peer: the receive waiting ahead meets ECONNRESET, raised once.
    let (_srv, cli, conn) = tcp_pair(&bridge).await;
    cli.sendall(b"x").await.unwrap();
    assert_eq!(within(conn.recv(100)).await.unwrap(), b"x");
    cli.setsockopt(sockbridge_tests::wasm_client::SOL_SOCKET, sockbridge_tests::wasm_client::SO_LINGER, {
        let mut linger = [0u8; 8];
        linger[..4].copy_from_slice(&1i32.to_ne_bytes());
        linger.to_vec()
    })
    .await
    .unwrap();
    cli.close().await.unwrap();
    let e = within(conn.recv(100)).await.unwrap_err();
    assert_eq!((errname(&e), e.exception()), ("ECONNRESET", "ConnectionResetError"), "{e}");
    assert_eq!(within(conn.recv(100)).await.unwrap(), b"");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_socket_reading_ahead_closes_and_drops() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let (_srv, cli, conn) = tcp_pair(&bridge).await;
    cli.send(b"hi").await.unwrap();
    assert_eq!(within(conn.recv(100)).await.unwrap(), b"hi");
    within(conn.close()).await.unwrap();
    assert_eq!(within(cli.recv(100)).await.unwrap(), b"", "the peer sees the close");
    assert_eq!(errname(&within(conn.recv(100)).await.unwrap_err()), "EBADF");

    let (_srv, cli, conn) = tcp_pair(&bridge).await;
    cli.send(b"hi").await.unwrap();
    assert_eq!(within(conn.recv(100)).await.unwrap(), b"hi");
    drop(conn);
    assert_eq!(within(cli.recv(100)).await.unwrap(), b"", "dropping closes, receive ahead or not");
    daemon.stop().await;
}

/// Sends a request without waiting for its answer.
async fn send(raw: &mut Raw, id: u64, method: &str, params: Value) {
    raw.send_text(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()).await;
}

/// A raw session with a connected pair: the accepted end is fd 5, the client end fd 4.
async fn raw_pair(raw: &mut Raw) {
    raw.ok("socket", json!({"family": 2, "type": 1})).await;
    raw.ok("bind", json!({"fd": 3, "address": ["127.0.0.1", 0]})).await;
    raw.ok("listen", json!({"fd": 3})).await;
    let addr = raw.ok("getsockname", json!({"fd": 3})).await;
    raw.ok("socket", json!({"family": 2, "type": 1})).await;
    raw.ok("connect", json!({"fd": 4, "address": addr})).await;
    assert_eq!(raw.ok("accept", json!({"fd": 3})).await["fd"], json!(5));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn on_the_wire_a_receive_ahead_gives_way_and_holds_no_in_flight_place() {
    let daemon = TestDaemon::start_with(|c| c.limits.max_inflight_per_session = 1).await;
    let mut raw = daemon.raw().await;
    raw_pair(&mut raw).await;

    // A socket may have four waiting at once; a fifth is refused at once.
    for id in 100..104 {
        send(&mut raw, id, "recv", json!({"fd": 5, "bufsize": 10, "ahead": true})).await;
    }
    let e = raw.err("recv", json!({"fd": 5, "bufsize": 10, "ahead": true})).await;
    assert_eq!(e["data"]["errname"], "EAGAIN", "{e}");
    // Sends go by (they do not touch the read side): the first receive ahead gets their bytes.
    raw.ok("sendall", json!({"fd": 4, "data": "aGk="})).await;
    assert_eq!(raw.recv().await, json!({"jsonrpc": "2.0", "id": 100, "result": "aGk="}));

    // The others give way to a later request naming their socket, having read nothing.
    send(&mut raw, 104, "getsockname", json!({"fd": 5})).await;
    let mut answers = Vec::new();
    for _ in 0..4 {
        answers.push(raw.recv().await);
    }
    answers.sort_by_key(|a| a["id"].as_u64());
    for (answer, id) in answers.iter().zip(101..) {
        assert_eq!(answer["id"], json!(id));
        if id < 104 {
            assert_eq!(answer["error"]["data"]["errname"], "EAGAIN", "{answer}");
        }
    }
    // Nothing was read by it: the next bytes go to the next recv.
    raw.ok("sendall", json!({"fd": 4, "data": "eW8="})).await;
    assert_eq!(raw.ok("recv", json!({"fd": 5, "bufsize": 10})).await, json!("eW8="));

    let e = raw.err("recvfrom", json!({"fd": 5, "bufsize": 10, "ahead": true})).await;
    assert_eq!(e["code"], json!(-32602), "{e}");

    // The one in-flight place stays free for a blocking call while a receive waits ahead.
    send(&mut raw, 103, "recv", json!({"fd": 5, "bufsize": 10, "ahead": true})).await;
    send(&mut raw, 104, "recv", json!({"fd": 4, "bufsize": 10})).await;
    let e = raw.err("recv", json!({"fd": 4, "bufsize": 10})).await;
    assert_eq!(e["code"], json!(-32001), "the place is request 104's: {e}");
    daemon.stop().await;
}

/// Receives called together get the bytes in the order they were called, as their requests would,
/// whether the bytes were read ahead or not; the EOF comes last.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_receives_get_the_bytes_in_call_order() {
    use futures_util::StreamExt;
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let (_srv, cli, conn) = tcp_pair(&bridge).await;
    let (sent, writer) = stream_then_close(cli, 4_000_000, 100_000);
    let mut got = Vec::new();
    let mut recvs = futures_util::stream::repeat(()).map(|()| conn.recv(65536)).buffered(16);
    while let Some(data) = within(recvs.next()).await {
        let data = data.unwrap();
        if data.is_empty() {
            break;
        }
        got.extend_from_slice(&data);
    }
    writer.await.unwrap();
    assert_eq!(got.len(), sent.len());
    assert!(got == sent, "bytes out of call order");
    daemon.stop().await;
}

/// Forwards one WebSocket connection to the daemon byte for byte, and records the JSON requests the
/// client sends, in the order they crossed the wire.
async fn wire_tap(
    daemon: std::net::SocketAddr,
) -> (std::net::SocketAddr, std::sync::Arc<std::sync::Mutex<Vec<Value>>>) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let addr = listener.local_addr().unwrap();
    let seen = std::sync::Arc::new(std::sync::Mutex::new(Vec::new()));
    let record = std::sync::Arc::clone(&seen);
    tokio::spawn(async move {
        let (client, _) = listener.accept().await.unwrap();
        let upstream = tokio::net::TcpStream::connect(daemon).await.unwrap();
        let (mut from_client, mut to_client) = client.into_split();
        let (mut from_daemon, mut to_daemon) = upstream.into_split();
        tokio::spawn(async move { tokio::io::copy(&mut from_daemon, &mut to_client).await });
        // Client to daemon: the HTTP handshake, then masked frames, each a whole message.
        let mut buf = Vec::new();
        let mut chunk = vec![0u8; 1 << 16];
        let mut handshake = true;
        loop {
            let n = from_client.read(&mut chunk).await.unwrap_or(0);
            if n == 0 {
                return;
            }
            buf.extend_from_slice(&chunk[..n]);
            if handshake {
                // The request goes on naming the daemon as its Host, as the daemon requires.
                let Some(end) = buf.windows(4).position(|w| w == b"\r\n\r\n") else { continue };
                let request = String::from_utf8(buf.drain(..end + 4).collect()).unwrap();
                let request = request.replace(&format!("Host: {addr}"), &format!("Host: {daemon}"));
                if to_daemon.write_all(request.as_bytes()).await.is_err() {
                    return;
                }
                handshake = false;
                to_daemon.write_all(&buf).await.unwrap_or_default();
            } else if to_daemon.write_all(&chunk[..n]).await.is_err() {
                return;
            }
            while let Some((opcode, payload, used)) = ws_frame(&buf) {
                if opcode == 1 {
                    record.lock().unwrap().push(serde_json::from_slice(&payload).unwrap());
                }
                buf.drain(..used);
            }
        }
    });
    (addr, seen)
}

/// One whole client frame at the start of `buf`: its opcode, its unmasked payload, and its length.
fn ws_frame(buf: &[u8]) -> Option<(u8, Vec<u8>, usize)> {
    let (&b0, &b1) = (buf.first()?, buf.get(1)?);
    assert!(b0 & 0x80 != 0, "the client sends each message as one frame");
    let (len, mut at) = match b1 & 0x7f {
        126 => (u16::from_be_bytes(buf.get(2..4)?.try_into().ok()?) as usize, 4),
        127 => (u64::from_be_bytes(buf.get(2..10)?.try_into().ok()?) as usize, 10),
        n => (n as usize, 2),
    };
    let mask: [u8; 4] = buf.get(at..at + 4)?.try_into().ok()?;
    at += 4;
    let payload = buf.get(at..at + len)?.iter().enumerate().map(|(i, b)| b ^ mask[i % 4]).collect();
    Some((b0 & 0x0f, payload, at + len))
}

/// In a conversation (each answer short), the receive ahead goes right behind the socket's next
/// `send`, so the send reaches the daemon, and the peer, first.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn in_a_conversation_the_send_goes_before_the_receive_ahead() {
    let (_daemon, seen, _bridge, _server, cli, conn) = tapped_pair().await;
    let fd = cli.fileno();
    for _ in 0..3 {
        conn.sendall(b"ping").await.unwrap();
        assert_eq!(within(cli.recv(1024)).await.unwrap(), b"ping");
        cli.send(b"pong").await.unwrap();
        let mut got = Vec::new();
        while got.len() < 4 {
            got.extend(within(conn.recv(4)).await.unwrap());
        }
        assert_eq!(got, b"pong");
    }
    assert_eq!(
        recvs_and_sends(&seen, fd, 7).await,
        ["recv", "send", "recv ahead", "send", "recv ahead", "send", "recv ahead"],
        "the first recv is the program's own; after each short answer the next receive ahead follows the send"
    );
}

/// With the receive posted before the send (`join!(recv, send)`, or Python's reader and writer
/// threads), the send still reaches the daemon first, and the receive ahead follows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_posted_before_the_send_lets_the_send_go_first() {
    let (_daemon, seen, _bridge, _server, cli, conn) = tapped_pair().await;
    let fd = cli.fileno();
    for _ in 0..3 {
        let echo = async {
            let mut got = Vec::new();
            while got.len() < 4 {
                got.extend(conn.recv(4).await.unwrap());
            }
            conn.sendall(&got).await.unwrap();
        };
        let (got, sent, ()) = within(async { tokio::join!(cli.recv(1024), cli.send(b"ping"), echo) }).await;
        assert_eq!((got.unwrap(), sent.unwrap()), (b"ping".to_vec(), 4));
    }
    assert_eq!(
        recvs_and_sends(&seen, fd, 6).await,
        ["recv", "send", "send", "recv ahead", "send", "recv ahead"],
        "the first recv is the program's own; then each send goes before the receive ahead posted before it"
    );
}

/// A daemon behind a wire tap, a bridge through the tap (JSON, which the tap reads), and a connected
/// TCP pair on it: the daemon, what the tap saw, the bridge, the listener, the client end and the
/// server's end.
async fn tapped_pair() -> (
    TestDaemon,
    std::sync::Arc<std::sync::Mutex<Vec<Value>>>,
    sockbridge_tests::wasm_client::Bridge,
    Socket,
    Socket,
    Socket,
) {
    use sockbridge_tests::wasm_client::{Bridge, Codec, ConnectOptions};
    let daemon = TestDaemon::start().await;
    let (tap, seen) = wire_tap(daemon.addr).await;
    let options = ConnectOptions { codec: Some(Codec::Json), token: Some(daemon.token.clone()), ..Default::default() };
    let bridge = within(Bridge::connect_with(&format!("ws://{tap}/"), &options)).await.unwrap();
    let (server, cli, conn) = tcp_pair(&bridge).await;
    (daemon, seen, bridge, server, cli, conn)
}

/// The first `n` recv and send requests the tap saw for `fd`, as "recv", "recv ahead" or "send".
async fn recvs_and_sends(seen: &std::sync::Mutex<Vec<Value>>, fd: i32, n: usize) -> Vec<String> {
    let on_fd = || -> Vec<String> {
        let seen = seen.lock().unwrap();
        seen.iter()
            .filter(|r| r["params"]["fd"] == json!(fd) && matches!(r["method"].as_str(), Some("recv" | "send")))
            .map(|r| {
                let ahead = if r["params"]["ahead"] == json!(true) { " ahead" } else { "" };
                format!("{}{ahead}", r["method"].as_str().unwrap())
            })
            .take(n)
            .collect()
    };
    within(async {
        while on_fd().len() < n {
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    })
    .await;
    on_fd()
}
