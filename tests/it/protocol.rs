//! Bad input gets the documented error and the session, and every other session, carries on; the
//! handshake gate; limits.

use serde_json::{Value, json};
use sockbridge_tests::wasm_client::{AF_INET, SOCK_STREAM};
use sockbridge_tests::{Raw, TestDaemon, tcp_listener, within};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio_tungstenite::tungstenite::Message;

/// A session with one UDP socket (fd 3) bound, to show afterwards that it still works.
async fn session_with_a_socket(daemon: &TestDaemon) -> (Raw, Value) {
    let mut raw = daemon.raw().await;
    assert_eq!(raw.ok("socket", json!({"family": 2, "type": 2})).await, json!(3));
    raw.ok("bind", json!({"fd": 3, "address": ["127.0.0.1", 0]})).await;
    let addr = raw.ok("getsockname", json!({"fd": 3})).await;
    (raw, addr)
}

/// The socket still works: it can send a datagram to itself and receive it.
async fn still_works(raw: &mut Raw, addr: &Value) {
    let sent = raw.ok("sendto", json!({"fd": 3, "data": "b2s=", "address": addr})).await;
    assert_eq!(sent, json!(2));
    assert_eq!(raw.ok("recv", json!({"fd": 3, "bufsize": 10})).await, json!("b2s="));
}

fn code(error: &Value) -> i64 {
    error["code"].as_i64().unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_reports_the_protocol_and_limits() {
    let daemon = TestDaemon::start().await;
    let mut raw = daemon.raw().await;
    let hello = raw.ok("hello", json!({})).await;
    assert_eq!(hello["protocol"], "sockbridge.v1");
    assert_eq!(hello["protocol_version"], 1);
    assert!(hello["daemon"].as_str().unwrap().starts_with("bridge-daemon "));
    let limits = TestDaemon::limits();
    assert_eq!(hello["limits"]["max_message_bytes"], json!(limits.max_message_bytes));
    assert_eq!(hello["limits"]["max_payload_bytes"], json!(limits.max_payload_bytes));
    assert_eq!(hello["limits"]["max_inflight"], json!(limits.max_inflight_per_session));
    assert_eq!(hello["limits"]["max_sockets"], json!(limits.max_sockets_per_session));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn malformed_requests_get_json_rpc_errors_and_the_session_carries_on() {
    let daemon = TestDaemon::start().await;
    let (mut raw, addr) = session_with_a_socket(&daemon).await;
    let mut other = daemon.raw().await;

    // The id is echoed whenever it can be read, else null.
    for (text, expected, id) in [
        ("this is not json", -32700, Value::Null),
        ("{\"jsonrpc\":\"2.0\",\"id\":1,", -32700, Value::Null),
        ("[{\"jsonrpc\":\"2.0\",\"id\":1,\"method\":\"hello\"}]", -32600, Value::Null),
        ("{\"jsonrpc\":\"2.0\",\"id\":7}", -32600, json!(7)),
        ("{\"jsonrpc\":\"1.0\",\"id\":8,\"method\":\"hello\"}", -32600, json!(8)),
        ("17", -32600, Value::Null),
    ] {
        raw.send_text(text).await;
        let response = raw.recv().await;
        assert_eq!(code(&response["error"]), expected, "{text}: {response}");
        assert_eq!(response["id"], id, "{text}");
    }
    let e = raw.err("fork", json!({})).await;
    assert_eq!(code(&e), -32601);
    for params in [
        json!({"fd": "3", "bufsize": 10}),
        json!({"fd": 3}),
        json!({"fd": 3, "bufsize": -1}),
        json!({"fd": 3, "bufsize": 1e300}),
        json!({"fd": 3, "bufsize": 10, "extra": true}),
        json!([3, 10]),
    ] {
        let e = raw.err("recv", params.clone()).await;
        assert_eq!(code(&e), -32602, "{params}: {e}");
        assert!(e["message"].as_str().unwrap().contains("{fd, bufsize, flags?, ahead?}"), "{e}");
    }
    let e = raw.err("bind", json!({"fd": 3, "address": ["127.0.0.1", 65536]})).await;
    assert_eq!(code(&e), -32602);
    let e = raw.err("sendall", json!({"fd": 3, "data": "not base64!"})).await;
    assert_eq!(code(&e), -32602);
    let e = raw.err("settimeout", json!({"fd": 3, "timeout": -1})).await;
    assert_eq!(code(&e), -32602);
    raw.send_message(Message::binary(b"\x00\x01".to_vec())).await;
    assert_eq!(code(&raw.recv().await["error"]), -32600);

    still_works(&mut raw, &addr).await;
    assert_eq!(other.ok("socket", json!({})).await, json!(3), "the other session is untouched");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn handles_of_another_session_and_closed_handles_are_ebadf() {
    let daemon = TestDaemon::start().await;
    let (mut a, addr) = session_with_a_socket(&daemon).await;
    assert_eq!(a.ok("socket", json!({})).await, json!(4));
    let mut b = daemon.raw().await;
    assert_eq!(b.ok("socket", json!({})).await, json!(3), "each session counts from 3");
    for fd in [4, 5, 1, -1, 2_147_483_647] {
        let e = b.err("getsockname", json!({"fd": fd})).await;
        assert_eq!(e["data"]["errname"], "EBADF", "fd {fd}: {e}");
        assert_eq!(e["data"]["exception"], "OSError");
        assert_eq!(e["message"], "[Errno 9] Bad file descriptor");
    }
    a.ok("close", json!({"fd": 4})).await;
    for (method, params) in [
        ("getsockname", json!({"fd": 4})),
        ("recv", json!({"fd": 4, "bufsize": 1})),
        ("close", json!({"fd": 4})),
        ("settimeout", json!({"fd": 4, "timeout": null})),
    ] {
        let e = a.err(method, params).await;
        assert_eq!(e["data"]["errname"], "EBADF", "{method}");
    }
    // The lowest free number is used again, as POSIX does.
    assert_eq!(a.ok("socket", json!({})).await, json!(4));
    still_works(&mut a, &addr).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn oversized_messages() {
    let daemon = TestDaemon::start().await;
    let (mut raw, addr) = session_with_a_socket(&daemon).await;
    let (mut bystander, bystander_addr) = session_with_a_socket(&daemon).await;
    let max = TestDaemon::limits().max_message_bytes;
    // Over the limit, under twice it: an error, and the session goes on.
    let big = format!(r#"{{"jsonrpc":"2.0","id":9,"method":"hello","params":{{"client":"{}"}}}}"#, "x".repeat(max));
    raw.send_text(big).await;
    let response = raw.recv().await;
    assert_eq!(code(&response["error"]), -32001, "{response}");
    assert!(response["error"]["message"].as_str().unwrap().contains("max_message_bytes"));
    still_works(&mut raw, &addr).await;
    // A send with more data than max_payload_bytes is refused, not truncated.
    let payload = "A".repeat(bridge_protocol::Payload::base64_len(TestDaemon::limits().max_payload_bytes + 3));
    let e = raw.err("send", json!({"fd": 3, "data": payload})).await;
    assert_eq!(code(&e), -32001);
    still_works(&mut raw, &addr).await;
    // Past twice the limit: the session is closed with 1009 as soon as the frame header says so
    // (nothing is buffered), and only that session.
    let close_code = huge_frame_header(&daemon, 1 << 40).await;
    assert_eq!(close_code, Some(1009));
    let close_code = huge_frame_header(&daemon, (2 * max + 1) as u64).await;
    assert_eq!(close_code, Some(1009));
    still_works(&mut bystander, &bystander_addr).await;
}

/// Opens a WebSocket by hand, sends only the header of a text frame declaring `len` bytes, and
/// returns the close code the daemon answers with.
async fn huge_frame_header(daemon: &TestDaemon, len: u64) -> Option<u16> {
    let mut stream = tokio::net::TcpStream::connect(daemon.addr).await.unwrap();
    let request = format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: sockbridge.v1, sockbridge.token.{}\r\n\r\n",
        daemon.addr.port(),
        daemon.token
    );
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut head = Vec::new();
    while !head.ends_with(b"\r\n\r\n") {
        let mut byte = [0u8; 1];
        within(stream.read_exact(&mut byte)).await.unwrap();
        head.push(byte[0]);
    }
    assert!(head.starts_with(b"HTTP/1.1 101"));
    let mut frame = vec![0x81, 0x80 | 127];
    frame.extend_from_slice(&len.to_be_bytes());
    frame.extend_from_slice(&[1, 2, 3, 4]);
    stream.write_all(&frame).await.unwrap();
    let mut reply = Vec::new();
    within(stream.read_to_end(&mut reply)).await.ok();
    // A close frame from the server: 0x88, length, then the code.
    (reply.len() >= 4 && reply[0] == 0x88).then(|| u16::from_be_bytes([reply[2], reply[3]]))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn notifications_run_without_a_response() {
    let daemon = TestDaemon::start().await;
    let mut raw = daemon.raw().await;
    raw.send_text(r#"{"jsonrpc":"2.0","method":"socket","params":{}}"#).await;
    raw.send_text(r#"{"jsonrpc":"2.0","method":"close","params":{"fd":99}}"#).await;
    // Not even one of an unknown method, in either codec's reading.
    raw.send_text(r#"{"jsonrpc":"2.0","method":"format_disk","params":{}}"#).await;
    // The first response on the wire answers this call: the notifications sent none.
    assert_eq!(raw.ok("socket", json!({})).await, json!(4), "the notification made fd 3");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_in_flight_limit_refuses_clearly_and_close_still_works() {
    let daemon = TestDaemon::start_with(|c| c.limits.max_inflight_per_session = 2).await;
    let mut raw = daemon.raw().await;
    for fd in 3..=5 {
        assert_eq!(raw.ok("socket", json!({"type": 2})).await, json!(fd));
        raw.ok("bind", json!({"fd": fd, "address": ["127.0.0.1", 0]})).await;
    }
    for (id, fd) in [(100, 3), (101, 4), (102, 5)] {
        raw.send_text(json!({"jsonrpc":"2.0","id":id,"method":"recv","params":{"fd":fd,"bufsize":1}}).to_string())
            .await;
    }
    let refused = raw.recv().await;
    assert_eq!((refused["id"].clone(), code(&refused["error"])), (json!(102), -32001), "{refused}");
    // Immediate methods are never refused: close works and fails the pending recv with EBADF.
    raw.send_text(json!({"jsonrpc":"2.0","id":200,"method":"close","params":{"fd":3}}).to_string()).await;
    let mut seen = Vec::new();
    for _ in 0..2 {
        let r = raw.recv().await;
        seen.push((r["id"].clone(), r["error"]["data"]["errname"].clone()));
    }
    seen.sort_by_key(|(id, _)| id.as_i64());
    assert_eq!(seen, [(json!(100), json!("EBADF")), (json!(200), Value::Null)]);
    // The freed permit is usable at once.
    let addr = raw.ok("getsockname", json!({"fd": 5})).await;
    raw.ok("sendto", json!({"fd": 5, "data": "eg==", "address": addr})).await;
    assert_eq!(raw.ok("recv", json!({"fd": 5, "bufsize": 1})).await, json!("eg=="));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_socket_limit_is_emfile() {
    let daemon = TestDaemon::start_with(|c| c.limits.max_sockets_per_session = 3).await;
    let mut raw = daemon.raw().await;
    for fd in 3..6 {
        assert_eq!(raw.ok("socket", json!({})).await, json!(fd));
    }
    let e = raw.err("socket", json!({})).await;
    assert_eq!((e["data"]["errname"].clone(), e["data"]["exception"].clone()), (json!("EMFILE"), json!("OSError")));
    raw.ok("close", json!({"fd": 4})).await;
    assert_eq!(raw.ok("socket", json!({})).await, json!(4));
}

/// Sends a raw HTTP request and returns the status line and the whole response.
async fn http(daemon: &TestDaemon, request: &str) -> (String, String) {
    let mut stream = tokio::net::TcpStream::connect(daemon.addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = String::new();
    within(stream.read_to_string(&mut response)).await.unwrap();
    (response.lines().next().unwrap_or_default().to_owned(), response)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_handshake_gate() {
    let daemon = TestDaemon::start_with(|c| c.allowed_origins = vec!["https://course.example.edu".into()]).await;
    let own = format!("http://127.0.0.1:{}", daemon.addr.port());
    let localhost = format!("http://localhost:{}", daemon.addr.port());
    let v6 = format!("http://[::1]:{}", daemon.addr.port());
    for origin in [own.as_str(), "https://course.example.edu"] {
        assert!(Raw::open(&daemon.url, Some(origin)).await.is_ok(), "{origin} refused");
    }
    for origin in [
        // Another program may answer at localhost ([::1] first, in Chromium), and read the token.
        localhost.as_str(),
        v6.as_str(),
        "https://evil.example",
        "https://course.example.edu.evil.com",
        "http://course.example.edu",
        "null",
        &format!("http://127.0.0.1:{}", daemon.addr.port() + 1),
    ] {
        assert_eq!(Raw::open(&daemon.url, Some(origin)).await.err(), Some(403), "{origin} admitted");
    }
    assert_eq!(Raw::open_with(&daemon.base_url, None, None).await.err(), Some(400), "no subprotocol");
    assert_eq!(Raw::open_with(&daemon.base_url, None, Some("chat")).await.err(), Some(400));

    let upgrade = "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
                   Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sockbridge.v1\r\n";
    let port = daemon.addr.port();
    for host in ["rebind.attacker.test", "127.0.0.1.nip.io", "0.0.0.0"] {
        let (status, _) = http(&daemon, &format!("GET / HTTP/1.1\r\nHost: {host}:{port}\r\n{upgrade}\r\n")).await;
        assert!(status.contains(" 403 "), "Host {host}: {status}");
    }
    let (status, _) = http(&daemon, &format!("GET / HTTP/1.1\r\n{upgrade}\r\n")).await;
    assert!(status.contains(" 400 "), "no Host: {status}");
    let (status, body) = http(
        &daemon,
        &format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nOrigin: https://evil.example\r\n{upgrade}\r\n"),
    )
    .await;
    assert!(status.contains(" 403 "), "{status}");
    assert!(body.contains("--allow-origin"), "the refusal says what to do: {body}");
    assert!(!body.to_ascii_lowercase().contains("access-control-allow-origin"));
    let (status, _) = http(&daemon, &format!("GET / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: sockbridge.v1\r\n\r\n")).await;
    assert!(status.contains(" 426 "), "no version: {status}");
    let (status, _) = http(&daemon, "garbage\r\n\r\n").await;
    assert!(status.contains(" 400 "), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_slow_handshake_times_out() {
    let daemon = TestDaemon::start_with(|c| c.limits.handshake_timeout = std::time::Duration::from_millis(200)).await;
    let mut stream = tokio::net::TcpStream::connect(daemon.addr).await.unwrap();
    stream.write_all(b"GET / HTTP/1.1\r\n").await.unwrap();
    let mut response = String::new();
    within(stream.read_to_string(&mut response)).await.unwrap();
    assert!(response.starts_with("HTTP/1.1 408 "), "{response}");
    let (status, _) = http(&daemon, "GET / HTTP/1.1\r\nHost: x\r\nX: ".to_owned().as_str()).await;
    assert!(status.contains(" 408 "), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_session_limit() {
    let daemon = TestDaemon::start_with(|c| c.limits.max_sessions = 1).await;
    let mut first = daemon.raw().await;
    first.ok("hello", json!({})).await;
    assert_eq!(Raw::open(&daemon.url, None).await.err(), Some(503));
    first.send_message(Message::Close(None)).await;
    while first.next().await.is_ok() {}
    // The first session has ended: its slot is free.
    let mut second = within(async {
        loop {
            if let Ok(raw) = Raw::open(&daemon.url, None).await {
                break raw;
            }
            tokio::task::yield_now().await;
        }
    })
    .await;
    second.ok("hello", json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn static_pages() {
    let root = std::env::temp_dir().join(format!("sockbridge-web-{}", std::process::id()));
    std::fs::create_dir_all(root.join("sub")).unwrap();
    std::fs::write(root.join("index.html"), "<h1>lessons</h1>").unwrap();
    std::fs::write(root.join("sub/app.js"), "export {}").unwrap();
    std::fs::write(root.join(".secret"), "no").unwrap();
    let web_root = root.clone();
    let daemon = TestDaemon::start_with(move |c| c.web_root = Some(bridge_daemon::WebRoot::Dir(web_root))).await;
    let port = daemon.addr.port();
    let get = |path: &str| format!("GET {path} HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n");
    let (status, body) = http(&daemon, &get("/")).await;
    assert!(status.contains(" 200 ") && body.contains("<h1>lessons</h1>"), "{body}");
    assert!(body.contains("Content-Type: text/html"));
    // No other site may frame the pages.
    assert!(body.contains("Content-Security-Policy: frame-ancestors 'self'"), "{body}");
    assert!(body.contains("X-Frame-Options: SAMEORIGIN"), "{body}");
    // Asked for at localhost, a page is sent to the daemon's own origin, the one it admits.
    let (status, body) = http(&daemon, &format!("GET /sub/app.js HTTP/1.1\r\nHost: localhost:{port}\r\n\r\n")).await;
    assert!(status.contains(" 307 "), "{status}");
    assert!(body.contains(&format!("Location: http://127.0.0.1:{port}/sub/app.js\r\n")), "{body}");
    let (status, body) = http(&daemon, &get("/sub/app.js?v=2")).await;
    assert!(status.contains(" 200 ") && body.contains("text/javascript"), "{body}");
    // A file the browser has is asked for again with its ETag, and not sent again unchanged.
    let etag = body.lines().find_map(|l| l.strip_prefix("ETag: ")).expect("an ETag").to_owned();
    let again =
        |tag: &str| format!("GET /sub/app.js HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\nIf-None-Match: {tag}\r\n\r\n");
    let (status, body) = http(&daemon, &again(&etag)).await;
    assert!(status.contains(" 304 ") && body.ends_with("\r\n\r\n") && !body.contains("export"), "{body}");
    let (status, body) = http(&daemon, &again("W/\"other\", W/\"tags\"")).await;
    assert!(status.contains(" 200 ") && body.ends_with("export {}"), "{body}");
    std::fs::write(root.join("sub/app.js"), "export const changed = 1;").unwrap();
    let (status, body) = http(&daemon, &again(&etag)).await;
    assert!(status.contains(" 200 ") && body.ends_with("export const changed = 1;"), "a changed file is sent: {body}");
    for path in ["/.secret", "/../Cargo.toml", "/sub/../../etc/passwd", "/missing.html", "/%2e%2e/x"] {
        let (status, _) = http(&daemon, &get(path)).await;
        assert!(status.contains(" 404 "), "{path}: {status}");
    }
    // A directory's index.html that links out of the root is not served.
    std::fs::create_dir_all(root.join("linked")).unwrap();
    let outside = std::env::temp_dir().join(format!("sockbridge-outside-{}.html", std::process::id()));
    std::fs::write(&outside, "secret").unwrap();
    std::os::unix::fs::symlink(&outside, root.join("linked/index.html")).unwrap();
    for path in ["/linked/", "/linked", "/linked/index.html"] {
        let (status, body) = http(&daemon, &get(path)).await;
        assert!(status.contains(" 404 ") && !body.contains("secret"), "{path}: {status}");
    }
    std::fs::remove_file(&outside).unwrap();
    let (status, _) = http(&daemon, &format!("POST / HTTP/1.1\r\nHost: 127.0.0.1:{port}\r\n\r\n")).await;
    assert!(status.contains(" 405 "), "{status}");
    let (status, _) = http(&daemon, &format!("GET / HTTP/1.1\r\nHost: evil.test:{port}\r\n\r\n")).await;
    assert!(status.contains(" 403 "), "pages check Host too: {status}");
    std::fs::remove_dir_all(root).unwrap();
}

/// The `Sec-WebSocket-Protocol` offer for `codecs`, with the test daemon's token.
fn offer(daemon: &TestDaemon, codecs: &str) -> (String, String) {
    let (base, token) = bridge_protocol::auth::split_url(&daemon.url);
    let token = token.map(|t| format!(", {}", bridge_protocol::auth::subprotocol(t))).unwrap_or_default();
    (base.to_owned(), format!("{codecs}{token}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn messagepack_is_agreed_when_offered_and_speaks_binary_frames() {
    use bridge_protocol::params::{FdParams, HelloParams, SendParams};
    use bridge_protocol::{Id, Method, Payload, msgpack};
    let daemon = TestDaemon::start().await;
    let (url, protocols) = offer(&daemon, "sockbridge.v1, sockbridge.v1.msgpack");
    let mut raw = Raw::open_with(&url, None, Some(&protocols)).await.unwrap();
    assert_eq!(raw.protocol(), Some("sockbridge.v1.msgpack"));

    raw.send_message(Message::binary(msgpack::encode_request(
        Some(&Id::Num(1)),
        Method::Hello,
        &HelloParams::default(),
    )))
    .await;
    let hello = raw.next_binary().await;
    assert_eq!(hello["id"], json!(1));
    assert_eq!(hello["result"]["protocol"], json!("sockbridge.v1.msgpack"), "{hello}");

    // Bytes are MessagePack bin: a send of every byte value is the bytes themselves on the wire.
    raw.send_message(Message::binary(msgpack::encode_request(Some(&Id::Num(2)), Method::Socket, &json!({})))).await;
    let fd = raw.next_binary().await["result"].as_i64().unwrap() as i32;
    let every: Vec<u8> = (0..=255).collect();
    let send = msgpack::encode_request(
        Some(&Id::Num(3)),
        Method::Send,
        &SendParams { fd, data: Payload(every.clone()), flags: 0 },
    );
    assert!(send.windows(256).any(|w| w == every.as_slice()));
    raw.send_message(Message::binary(send)).await;
    let refused = raw.next_binary().await;
    assert_eq!(refused["error"]["data"]["errname"], json!("EPIPE"), "not connected: {refused}");

    // A text frame is not this session's codec: -32600, in the session's codec, and it goes on.
    raw.send_text(json!({"jsonrpc": "2.0", "id": 4, "method": "close", "params": {"fd": fd}}).to_string()).await;
    let wrong = raw.next_binary().await;
    assert_eq!(wrong["error"]["code"], json!(-32600), "{wrong}");
    raw.send_message(Message::binary(msgpack::encode_request(Some(&Id::Num(5)), Method::Close, &FdParams { fd })))
        .await;
    assert_eq!(raw.next_binary().await["id"], json!(5));
    // Not MessagePack at all: -32700.
    raw.send_message(Message::binary(vec![0xc1])).await;
    assert_eq!(raw.next_binary().await["error"]["code"], json!(-32700));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_json_session_refuses_binary_frames_and_goes_on() {
    let daemon = TestDaemon::start().await;
    let (url, protocols) = offer(&daemon, "sockbridge.v1");
    let mut raw = Raw::open_with(&url, None, Some(&protocols)).await.unwrap();
    assert_eq!(raw.protocol(), Some("sockbridge.v1"));
    raw.send_message(Message::binary(vec![0x80])).await;
    let e = raw.recv().await;
    assert_eq!(e["error"]["code"], json!(-32600), "{e}");
    assert!(e["error"]["message"].as_str().unwrap().contains("text"), "{e}");
    assert_eq!(raw.ok("hello", json!({})).await["protocol"], json!("sockbridge.v1"));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_messagepack_and_a_json_session_exchange_every_byte_value() {
    use sockbridge_tests::wasm_client::Codec;
    let daemon = TestDaemon::start().await;
    let packed = daemon.client_with(Codec::Msgpack).await;
    let text = daemon.client_with(Codec::Json).await;
    let server = tcp_listener(&text).await;
    let client = packed.socket(AF_INET, SOCK_STREAM).await.unwrap();
    client.connect(server.getsockname().await.unwrap()).await.unwrap();
    let (conn, _) = within(server.accept()).await.unwrap();
    let every: Vec<u8> = (0..=255u8).cycle().take(300_000).collect();
    for (from, to) in [(&client, &conn), (&conn, &client)] {
        let (sent, got) = tokio::join!(from.sendall(&every), async {
            let mut got = Vec::new();
            while got.len() < every.len() {
                got.extend(to.recv(65536).await.unwrap());
            }
            got
        });
        sent.unwrap();
        assert!(got == every, "bytes changed on the way");
    }
    daemon.stop().await;
}
