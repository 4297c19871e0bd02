//! J: JSON-RPC input validation. Nothing a page sends crashes the daemon, reaches another session,
//! or gets echoed back.

use serde_json::{Value, json};
use sockbridge_tests::{Raw, ScriptedResolver, SpawnOptions, Spawned, TestDaemon, within};
use tokio_tungstenite::tungstenite::Message;

fn code(response: &Value) -> i64 {
    response["error"]["code"].as_i64().unwrap_or_else(|| panic!("not an error: {response}"))
}

fn errname(error: &Value) -> &str {
    error["data"]["errname"].as_str().unwrap_or_default()
}

/// The session still answers.
async fn alive(raw: &mut Raw) {
    assert_eq!(raw.ok("hello", json!({})).await["protocol"], "sockbridge.v1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn j01_non_json_and_binary_frames_get_errors_and_the_session_goes_on() {
    let daemon = TestDaemon::start().await;
    let mut raw = daemon.raw().await;
    raw.send_text("this is not json").await;
    assert_eq!(code(&raw.recv().await), -32700);
    raw.send_message(Message::binary(vec![0x93, 0x01, 0x02])).await;
    assert_eq!(code(&raw.recv().await), -32600);
    alive(&mut raw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn j02_deep_nesting_is_a_parse_error_not_a_stack_overflow() {
    let daemon = TestDaemon::start().await;
    let mut raw = daemon.raw().await;
    // Whether the depth fails the parse (-32700) or the request's shape (-32600), it is an answer,
    // and the daemon's stack is never at risk (serde_json stops at 128 levels).
    raw.send_text(format!("{}{}", "[".repeat(10_000), "]".repeat(10_000))).await;
    assert!([-32700, -32600].contains(&code(&raw.recv().await)));
    let deep_params = format!(
        r#"{{"jsonrpc":"2.0","id":1,"method":"socket","params":{}{}}}"#,
        "[".repeat(10_000),
        "]".repeat(10_000)
    );
    raw.send_text(deep_params).await;
    let answer = raw.recv().await;
    assert!([-32700, -32600, -32602].contains(&code(&answer)), "{answer}");
    alive(&mut raw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn j03_out_of_range_and_mistyped_values_are_invalid_params() {
    let daemon = TestDaemon::start().await;
    let mut raw = daemon.raw().await;
    raw.ok("socket", json!({})).await;
    for port in [json!(65536), json!(-1), json!("80"), json!(null), json!(1.5)] {
        let r = raw.call("bind", json!({"fd": 3, "address": ["127.0.0.1", port]})).await;
        assert_eq!(code(&r), -32602, "port {port}: {r}");
    }
    // 1e309 is not even a JSON number serde accepts: a parse error.
    raw.send_text(r#"{"jsonrpc":"2.0","id":9,"method":"bind","params":{"fd":3,"address":["127.0.0.1",1e309]}}"#).await;
    assert!([-32700, -32602].contains(&code(&raw.recv().await)));
    let r = raw.call("recv", json!({"fd": 3, "bufsize": 9_223_372_036_854_775_808u64})).await;
    assert_eq!(code(&r), -32602, "bufsize 2^63: {r}");
    let r = raw.call("recv", json!({"fd": 3, "bufsize": -1})).await;
    assert_eq!(code(&r), -32602, "negative bufsize: {r}");
    // Timeouts past what CPython takes (2^63 ns): refused, not a panic.
    for timeout in [json!(1e19), json!(1e300), json!(9.3e9)] {
        let r = raw.call("select", json!({"rlist": [3], "wlist": [], "xlist": [], "timeout": timeout})).await;
        assert_eq!(code(&r), -32602, "select timeout {timeout}: {r}");
        let r = raw.call("settimeout", json!({"fd": 3, "timeout": timeout})).await;
        assert_eq!(code(&r), -32602, "settimeout {timeout}: {r}");
    }
    alive(&mut raw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn j04_unknown_methods_fields_batches_and_notifications() {
    let daemon = TestDaemon::start().await;
    let mut raw = daemon.raw().await;
    assert_eq!(code(&raw.call("format_disk", json!({})).await), -32601);
    assert_eq!(code(&raw.call("socket", json!({"__proto__": {"polluted": true}})).await), -32602);
    let batch: Vec<Value> = (0..10_000).map(|i| json!({"jsonrpc": "2.0", "id": i, "method": "hello"})).collect();
    raw.send_text(serde_json::to_string(&batch).unwrap()).await;
    assert_eq!(code(&raw.recv().await), -32600, "batches are refused whole");
    // A request without an id is a notification: it runs and gets no answer.
    raw.send_text(r#"{"jsonrpc":"2.0","method":"socket","params":{}}"#).await;
    let next = raw.call("getsockname", json!({"fd": 3})).await;
    assert_eq!(next["result"], json!(["0.0.0.0", 0]), "the notification made fd 3: {next}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn j05_bad_base64_is_invalid_and_oversized_data_a_limit() {
    let daemon = TestDaemon::start().await;
    let mut raw = daemon.raw().await;
    raw.ok("socket", json!({"type": 2})).await;
    for data in ["***", "aGVsbG8", "aGVs\nbG8=", "aGVsbG8=="] {
        let r = raw.call("sendto", json!({"fd": 3, "data": data, "address": ["127.0.0.1", 9]})).await;
        assert_eq!(code(&r), -32602, "{data:?}: {r}");
        assert!(!r.to_string().contains(data) || data.len() < 4, "the error echoes the input: {r}");
    }
    let max = TestDaemon::limits().max_payload_bytes;
    let big = base64_of(max + 1);
    let r = raw.call("send", json!({"fd": 3, "data": big})).await;
    assert_eq!(code(&r), -32001, "{}", &r.to_string()[..200]);
    alive(&mut raw).await;
}

fn base64_of(n: usize) -> String {
    use std::fmt::Write;
    // n zero bytes in base64: "AAAA" per 3 bytes.
    let mut s = "AAAA".repeat(n / 3);
    match n % 3 {
        1 => s.write_str("AA==").unwrap(),
        2 => s.write_str("AAA=").unwrap(),
        _ => {}
    }
    s
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn j06_another_sessions_closed_or_random_handles_are_ebadf() {
    let daemon = TestDaemon::start().await;
    let mut a = daemon.raw().await;
    let mut b = daemon.raw().await;
    a.ok("socket", json!({})).await;
    a.ok("bind", json!({"fd": 3, "address": ["127.0.0.1", 0]})).await;
    a.ok("listen", json!({"fd": 3})).await;
    // Session B names fd 3, which exists only in A.
    for method in ["accept", "getsockname", "close"] {
        let e = b.err(method, json!({"fd": 3})).await;
        assert_eq!(errname(&e), "EBADF", "{method}: {e}");
        assert!(!e.to_string().contains("127.0.0.1"), "nothing of A's socket shows: {e}");
    }
    a.ok("close", json!({"fd": 3})).await;
    assert_eq!(errname(&a.err("getsockname", json!({"fd": 3})).await), "EBADF", "closed");
    assert_eq!(errname(&a.err("getsockname", json!({"fd": 2_000_000_000})).await), "EBADF");
    assert_eq!(code(&a.call("getsockname", json!({"fd": 1u64 << 40})).await), -32602, "not an fd at all");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn j07_operations_on_the_wrong_kind_of_socket_get_pythons_errno() {
    let daemon = TestDaemon::start().await;
    let mut raw = daemon.raw().await;
    raw.ok("socket", json!({})).await; // 3: unbound
    assert_eq!(errname(&raw.err("accept", json!({"fd": 3})).await), "EINVAL");
    raw.ok("socket", json!({})).await; // 4: a listener
    raw.ok("bind", json!({"fd": 4, "address": ["127.0.0.1", 0]})).await;
    raw.ok("listen", json!({"fd": 4})).await;
    assert_eq!(errname(&raw.err("recv", json!({"fd": 4, "bufsize": 1})).await), "ENOTCONN");
    let addr = raw.ok("getsockname", json!({"fd": 4})).await;
    let e = raw.err("sendto", json!({"fd": 3, "data": "eA==", "address": addr})).await;
    assert_eq!((errname(&e), e["data"]["exception"].as_str()), ("EPIPE", Some("BrokenPipeError")), "as CPython: {e}");
    alive(&mut raw).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn j08_the_fuzz_corpus_decodes_without_panics_and_a_session_answers_all_of_it() {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus/decode_request");
    let mut inputs: Vec<String> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|f| std::fs::read(f.unwrap().path()).unwrap())
        .filter_map(|bytes| String::from_utf8(bytes).ok())
        .collect();
    inputs.sort();
    assert!(inputs.len() >= 30, "the committed corpus: {}", inputs.len());
    for text in &inputs {
        let _ = bridge_protocol::json::decode_request(text);
    }
    // Through a live session, as one page would send them (with ids, so each gets one answer).
    // Names resolve through scripted DNS that knows none, so nothing leaves the machine.
    let lookup: std::sync::Arc<dyn bridge_daemon::Lookup> = ScriptedResolver::new();
    let daemon = TestDaemon::start_with(|c| c.resolver = Some(lookup)).await;
    let mut raw = daemon.raw().await;
    for text in &inputs {
        let Ok(mut v) = serde_json::from_str::<Value>(text) else {
            raw.send_text(text.clone()).await;
            assert!(raw.recv().await.get("error").is_some());
            continue;
        };
        if !v.is_object()
            || v.get("method")
                .and_then(Value::as_str)
                .is_some_and(|m| ["accept", "recv", "recvfrom", "select"].contains(&m))
        {
            continue; // those would wait for a peer
        }
        v["id"] = json!("corpus");
        v["jsonrpc"] = json!("2.0");
        raw.send_text(v.to_string()).await;
        let answer = within(raw.recv()).await;
        assert_eq!(answer["id"], "corpus", "{text} -> {answer}");
    }
    alive(&mut raw).await;
}

/// An echo through a session of its own: a TCP pair, one message each way.
async fn echo(bridge: &wasm_client::Bridge, text: &[u8]) {
    let (_server, client, conn) = sockbridge_tests::tcp_pair(bridge).await;
    within(client.sendall(text)).await.unwrap();
    let got = within(conn.recv(1024)).await.unwrap();
    within(conn.sendall(&got)).await.unwrap();
    assert_eq!(within(client.recv(1024)).await.unwrap(), text);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn j09_a_deeply_nested_messagepack_frame_is_one_sessions_parse_error() {
    // The built daemon as its own process: a stack overflow would abort it, not just a task.
    let daemon = Spawned::start(SpawnOptions::default()).await;
    let control = daemon.client().await;
    echo(&control, b"before").await;
    let mut raw = msgpack_session(&daemon.url).await;
    // 200,000 one-element array headers and a nil: once a stack overflow that aborted the daemon.
    let mut frame = vec![0x91u8; 200_000];
    frame.push(0xc0);
    raw.send_message(Message::binary(frame)).await;
    let answer = raw.next_binary().await;
    assert_eq!(answer["error"]["code"], -32700, "{answer}");
    assert!(answer["error"]["message"].as_str().unwrap_or_default().contains("nest deeper"), "{answer}");
    // The same shape inside a request's params: the same answer, and the session goes on.
    let text = |s: &str| [vec![0xa0 | s.len() as u8], s.as_bytes().to_vec()].concat();
    let mut request = vec![0x84];
    for part in ["jsonrpc", "2.0", "id"] {
        request.extend(text(part));
    }
    request.push(7);
    for part in ["method", "socket", "params"] {
        request.extend(text(part));
    }
    request.extend(std::iter::repeat_n(0x91u8, 100_000).chain([0xc0]));
    raw.send_message(Message::binary(request)).await;
    assert_eq!(raw.next_binary().await["error"]["code"], -32700);
    raw.send_message(Message::binary(msgpack_hello(8))).await;
    let answer = raw.next_binary().await;
    assert_eq!(answer["result"]["protocol"], "sockbridge.v1.msgpack", "{answer}");
    echo(&control, b"after").await;
    let status = daemon.stop().await;
    assert!(status.success(), "the daemon exits cleanly: {status}");
}

/// A raw session that speaks MessagePack, with the daemon at `url` (token in its fragment).
async fn msgpack_session(url: &str) -> Raw {
    let (base, token) = bridge_protocol::auth::split_url(url);
    let offer = format!("sockbridge.v1.msgpack, {}", bridge_protocol::auth::subprotocol(token.unwrap_or_default()));
    let raw = Raw::open_with(base, None, Some(&offer)).await.unwrap();
    assert_eq!(raw.protocol(), Some("sockbridge.v1.msgpack"));
    raw
}

fn msgpack_hello(id: u64) -> Vec<u8> {
    bridge_protocol::msgpack::encode_request(
        Some(&bridge_protocol::Id::Num(id)),
        bridge_protocol::Method::Hello,
        &bridge_protocol::params::HelloParams::default(),
    )
}

/// The committed inputs of a fuzz target (fuzz/corpus/<target>), in name order.
fn corpus(target: &str) -> Vec<Vec<u8>> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../fuzz/corpus").join(target);
    let mut files: Vec<_> = std::fs::read_dir(&dir)
        .unwrap_or_else(|e| panic!("{}: {e}", dir.display()))
        .map(|f| f.unwrap().path())
        .collect();
    files.sort();
    files.iter().map(|f| std::fs::read(f).unwrap()).collect()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn j10_the_messagepack_and_answer_corpora_decode_and_a_session_survives_all_of_it() {
    use bridge_protocol::codec::FrameRef;
    use bridge_protocol::params::{HelloResult, RecvfromResult, SelectResult};
    use bridge_protocol::{Codec, Method, Payload};
    // The client's answer decoder: the first byte picks the codec, as in the fuzz target.
    let answers = corpus("decode_response");
    assert!(answers.iter().filter(|a| a.len() > 100_000).count() >= 4, "the deep and huge seeds are there");
    for input in &answers {
        let Some((&pick, message)) = input.split_first() else { continue };
        let response = match (pick % 2, std::str::from_utf8(message)) {
            (0, Ok(text)) => Codec::Json.decode_response(FrameRef::Text(text)),
            (0, Err(_)) => continue,
            _ => Codec::Msgpack.decode_response(FrameRef::Binary(message)),
        };
        if let Ok(body) = response.and_then(|r| r.outcome.map_err(|_| bridge_protocol::codec::ResponseError::Malformed))
        {
            let _ = body.decode::<Payload>(Method::Recv);
            let _ = body.decode::<RecvfromResult>(Method::Recvfrom);
            let _ = body.decode::<SelectResult>(Method::Select);
            let _ = body.decode::<HelloResult>(Method::Hello);
        }
    }
    // The daemon's MessagePack decoder, then a live session that is sent every input.
    let requests = corpus("decode_msgpack");
    assert!(requests.len() >= 30, "the committed corpus: {}", requests.len());
    for bytes in &requests {
        let _ = bridge_protocol::msgpack::decode_request(bytes);
    }
    let lookup: std::sync::Arc<dyn bridge_daemon::Lookup> = ScriptedResolver::new();
    let daemon = TestDaemon::start_with(|c| c.resolver = Some(lookup)).await;
    let bystander = daemon.client().await;
    let mut raw = msgpack_session(&daemon.url).await;
    for bytes in &requests {
        raw.send_message(Message::binary(bytes.clone())).await;
    }
    raw.send_message(Message::binary(msgpack_hello(424_242))).await;
    // Answers come for what can be answered now; the hello's comes after them all.
    within(async {
        loop {
            let answer = raw.next_binary().await;
            if answer["id"] == 424_242 {
                assert_eq!(answer["result"]["protocol"], "sockbridge.v1.msgpack");
                break;
            }
        }
    })
    .await;
    echo(&bystander, b"still here").await;
}
