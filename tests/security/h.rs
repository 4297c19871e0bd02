//! H: the handshake gate. Host (DNS rebinding), Origin (other sites), token (other users and
//! programs), and the HTTP side of the port.

use serde_json::json;
use sockbridge_tests::{Raw, SpawnOptions, Spawned, TestDaemon, audit_line, http, scratch_path, upgrade_head, within};
use std::time::Duration;
use tokio::io::AsyncWriteExt;

fn own_origin(daemon: &TestDaemon) -> String {
    format!("http://127.0.0.1:{}", daemon.addr.port())
}

fn with_token(daemon: &TestDaemon) -> String {
    format!("sockbridge.v1, sockbridge.token.{}", daemon.token)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h01_allowed_host_origin_and_token_open_a_session() {
    let daemon = TestDaemon::start().await;
    let mut raw = Raw::open(&daemon.url, Some(&own_origin(&daemon))).await.expect("admitted");
    assert_eq!(raw.ok("hello", json!({})).await["protocol"], "sockbridge.v1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h02_a_foreign_origin_is_refused_before_the_upgrade_and_audited() {
    let log = scratch_path("audit.jsonl");
    let daemon = TestDaemon::start_with(|c| c.audit_log = Some(log.clone())).await;
    assert_eq!(Raw::open(&daemon.url, Some("https://evil.example")).await.err(), Some(403));
    let line = audit_line(&log, |v| v["op"] == "handshake" && v["rule"] == "origin").await;
    assert_eq!(line["origin"], "https://evil.example");
    let _ = std::fs::remove_file(&log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h03_origins_match_exactly_port_scheme_case_and_slash() {
    let daemon = TestDaemon::start_with(|c| c.allowed_origins = vec!["http://localhost:8000".into()]).await;
    assert!(Raw::open(&daemon.url, Some("http://localhost:8000")).await.is_ok());
    for origin in ["http://localhost:8001", "https://localhost:8000", "HTTP://LOCALHOST:8000", "http://localhost:8000/"]
    {
        assert_eq!(Raw::open(&daemon.url, Some(origin)).await.err(), Some(403), "{origin}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h04_substring_and_suffix_tricks_are_refused() {
    let daemon = TestDaemon::start_with(|c| c.allowed_origins = vec!["https://course.example.edu".into()]).await;
    for origin in [
        "https://course.example.edu.evil.com",
        "https://evilcourse.example.edu",
        "https://course.example.edu@evil.com",
        "https://course.example.edu:443",
    ] {
        assert_eq!(Raw::open(&daemon.url, Some(origin)).await.err(), Some(403), "{origin}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h05_null_origin_only_by_explicit_opt_in() {
    let daemon = TestDaemon::start().await;
    assert_eq!(Raw::open(&daemon.url, Some("null")).await.err(), Some(403));
    let opted = TestDaemon::start_with(|c| c.allowed_origins = vec!["null".into()]).await;
    assert!(Raw::open(&opted.url, Some("null")).await.is_ok());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h06_no_origin_with_the_token_is_a_non_browser_client() {
    let daemon = TestDaemon::start().await;
    let mut raw = Raw::open(&daemon.url, None).await.expect("admitted");
    raw.ok("hello", json!({})).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h07_no_origin_and_no_or_bad_token_is_refused() {
    let daemon = TestDaemon::start().await;
    assert_eq!(Raw::open(&daemon.base_url, None).await.err(), Some(403), "no token");
    let bad = "sockbridge.v1, sockbridge.token.not-the-token-at-all-0000000000";
    assert_eq!(Raw::open_with(&daemon.base_url, None, Some(bad)).await.err(), Some(403));
    // An allowed origin does not stand in for the token either.
    assert_eq!(Raw::open(&daemon.base_url, Some(&own_origin(&daemon))).await.err(), Some(403));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h08_dns_rebinding_host_is_refused() {
    let daemon = TestDaemon::start().await;
    let port = daemon.addr.port();
    let head = format!(
        "GET / HTTP/1.1\r\nHost: rebind.attacker.test:{port}\r\nOrigin: http://rebind.attacker.test:{port}\r\n\
         Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: {}\r\n\r\n",
        with_token(&daemon)
    );
    let (status, _) = http(daemon.addr, &head).await;
    assert!(status.contains(" 403 "), "{status}");
    // The pages too: a rebinding page must not read what the daemon serves.
    let (status, _) = http(daemon.addr, &format!("GET / HTTP/1.1\r\nHost: rebind.attacker.test:{port}\r\n\r\n")).await;
    assert!(status.contains(" 403 "), "{status}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h09_other_host_forms_are_refused() {
    let daemon = TestDaemon::start().await;
    let port = daemon.addr.port();
    let rest = format!(
        "Upgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Version: 13\r\n\
         Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Protocol: {}\r\n",
        with_token(&daemon)
    );
    for (host, code) in [
        (format!("Host: localhost:{}\r\n", port + 1), " 403 "),
        (format!("Host: 127.0.0.1.nip.io:{port}\r\n"), " 403 "),
        (format!("Host: 0.0.0.0:{port}\r\n"), " 403 "),
        (String::new(), " 400 "),
        (format!("Host: 127.0.0.1:{port}\r\nHost: 127.0.0.1:{port}\r\n"), " 400 "),
    ] {
        let (status, _) = http(daemon.addr, &format!("GET / HTTP/1.1\r\n{host}{rest}\r\n")).await;
        assert!(status.contains(code), "{host:?}: {status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h10_a_wrong_or_old_token_is_refused() {
    let previous = TestDaemon::start().await;
    let old_token = previous.token.clone();
    previous.stop().await;
    let daemon = TestDaemon::start().await;
    let mut last_byte = daemon.token.clone();
    let c = last_byte.pop().unwrap();
    last_byte.push(if c == 'A' { 'B' } else { 'A' });
    for token in [old_token.as_str(), last_byte.as_str(), &daemon.token[..42]] {
        let offer = format!("sockbridge.v1, sockbridge.token.{token}");
        assert_eq!(Raw::open_with(&daemon.base_url, None, Some(&offer)).await.err(), Some(403), "{token}");
    }
    assert!(Raw::open(&daemon.url, None).await.is_ok(), "the right one works");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h11_a_token_in_the_query_string_is_not_accepted_and_never_logged() {
    let log = scratch_path("daemon.log");
    let options = SpawnOptions { log: Some("debug"), stderr_to: Some(&log), ..SpawnOptions::default() };
    let spawned = Spawned::start(options).await;
    let query = format!("{}?token={}", spawned.base_url, spawned.token);
    assert_eq!(Raw::open(&query, None).await.err(), Some(403), "the query string is not where the token goes");
    let wrong = format!("{}#sb-token={}x", spawned.base_url, &spawned.token[..42]);
    assert_eq!(Raw::open(&wrong, None).await.err(), Some(403));
    let mut raw = spawned.raw().await;
    raw.ok("hello", json!({})).await;
    let token = spawned.token.clone();
    drop(raw);
    spawned.stop().await;
    let text = std::fs::read_to_string(&log).unwrap();
    assert!(text.contains("handshake"), "the log has the handshakes (RUST_LOG=debug): {text}");
    assert!(!text.contains(&token), "the token appears in the log");
    assert!(!text.contains(&token[..20]), "part of the token appears in the log");
    let _ = std::fs::remove_file(&log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h13_plain_http_requests_have_no_side_effects_and_no_cors() {
    let daemon =
        TestDaemon::start_with(|c| c.web_root = bridge_daemon::source_web_root().map(bridge_daemon::WebRoot::Dir))
            .await;
    let host = format!("Host: 127.0.0.1:{}", daemon.addr.port());
    for (request, code) in [
        (format!("POST / HTTP/1.1\r\n{host}\r\nContent-Type: text/plain\r\nContent-Length: 5\r\n\r\nhello"), " 405 "),
        (format!("GET /no-such-page HTTP/1.1\r\n{host}\r\n\r\n"), " 404 "),
        (format!("GET /../Cargo.toml HTTP/1.1\r\n{host}\r\nOrigin: https://evil.example\r\n\r\n"), " 404 "),
        (format!("GET / HTTP/1.1\r\n{host}\r\nOrigin: https://evil.example\r\n\r\n"), " 200 "),
    ] {
        let (status, response) = http(daemon.addr, &request).await;
        assert!(status.contains(code), "{request:?}: {status}");
        assert!(!response.to_ascii_lowercase().contains("access-control-allow"), "CORS header in {response}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h14_malformed_upgrades_are_refused() {
    let daemon = TestDaemon::start().await;
    let good = upgrade_head(daemon.addr, &with_token(&daemon), "");
    let cases = [
        (good.replace("Sec-WebSocket-Version: 13", "Sec-WebSocket-Version: 8"), " 426 "),
        (good.replace("Sec-WebSocket-Version: 13\r\n", ""), " 426 "),
        (good.replace("Sec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n", ""), " 400 "),
        (good.replace("dGhlIHNhbXBsZSBub25jZQ==", "c2hvcnQ="), " 400 "),
        (good.replace("GET / HTTP/1.1", "GET / HTTP/1.0"), " 400 "),
    ];
    for (request, code) in cases {
        let (status, _) = http(daemon.addr, &request).await;
        assert!(status.contains(code), "{request:?}: {status}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h15_header_floods_and_trickles_end_quickly() {
    let daemon = TestDaemon::start_with(|c| c.limits.handshake_timeout = Duration::from_millis(300)).await;
    let many: String = (0..130).map(|i| format!("X-{i}: y\r\n")).collect();
    let (status, _) = http(daemon.addr, &upgrade_head(daemon.addr, &with_token(&daemon), &many)).await;
    assert!(status.contains(" 431 "), "130 headers: {status}");
    let big = format!("X-Big: {}\r\n", "a".repeat(70 << 10));
    let (status, _) = http(daemon.addr, &upgrade_head(daemon.addr, &with_token(&daemon), &big)).await;
    assert!(status.contains(" 431 "), "70 KiB of headers: {status}");
    // One byte at a time, slower than the whole head is allowed to take.
    let mut stream = tokio::net::TcpStream::connect(daemon.addr).await.unwrap();
    let head = upgrade_head(daemon.addr, &with_token(&daemon), "");
    let trickle = async {
        for byte in head.as_bytes() {
            if stream.write_all(&[*byte]).await.is_err() {
                return true;
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        false
    };
    assert!(within(trickle).await, "the daemon closed the trickling connection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h16_a_listener_beyond_loopback_is_refused_at_start() {
    let out = within(
        tokio::process::Command::new(sockbridge_tests::daemon_binary()).args(["--listen", "0.0.0.0:0"]).output(),
    )
    .await
    .unwrap();
    assert!(!out.status.success());
    assert!(String::from_utf8_lossy(&out.stderr).contains("loopback only"));
    assert!(out.stdout.is_empty(), "no URL printed");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn h17_a_daemon_on_another_loopback_address_admits_its_own_host_and_origin() {
    let daemon = sockbridge_tests::Spawned::start(sockbridge_tests::SpawnOptions {
        args: &["--listen", "127.0.0.2:0"],
        ..Default::default()
    })
    .await;
    assert_eq!(daemon.addr.ip().to_string(), "127.0.0.2");
    let own = format!("http://{}", daemon.addr);
    let mut raw = Raw::open(&daemon.url, Some(&own)).await.expect("its own Host and Origin");
    raw.ok("hello", serde_json::json!({})).await;
    // 127.0.0.1 is another address: not this daemon's name.
    let wrong = format!("http://127.0.0.1:{}", daemon.addr.port());
    assert_eq!(Raw::open(&daemon.url, Some(&wrong)).await.err(), Some(403));
    daemon.stop().await;
}
