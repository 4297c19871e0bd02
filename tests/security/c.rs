//! C: configuration, the audit log and the daemon's lifecycle.

use serde_json::{Value, json};
use sockbridge_tests::wasm_client::*;
use sockbridge_tests::{
    CountingListener, Raw, SpawnOptions, Spawned, TestDaemon, audit_line, daemon_binary, scratch_path, within,
};

/// Runs the binary with `args` and returns its standard error; it must refuse to start.
async fn refused(args: &[&str]) -> String {
    let out =
        within(tokio::process::Command::new(daemon_binary()).args(["--listen", "127.0.0.1:0"]).args(args).output())
            .await
            .unwrap();
    assert!(!out.status.success(), "{args:?} started");
    assert!(out.stdout.is_empty(), "{args:?} printed an address");
    String::from_utf8_lossy(&out.stderr).into_owned()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c01_a_bad_entry_stops_start_up_with_a_message_naming_it() {
    for (args, words) in [
        (vec!["--allow-connect", "https://x.com"], vec!["https://x.com", "URLs are not supported"]),
        (vec!["--allow-connect", "::1:80"], vec!["::1:80", "brackets"]),
        (vec!["--deny-connect", "10.0.0.0/33"], vec!["10.0.0.0/33", "prefix length"]),
        (vec!["--allow-unix", "*"], vec!["wildcards"]),
        (vec!["--allow-unix", "relative.sock"], vec!["relative.sock", "absolute"]),
        (vec!["--allow-connect", "metadata"], vec!["--allow-metadata"]),
        (vec!["--allow-origin", "https://*.example"], vec!["wildcard"]),
    ] {
        let stderr = refused(&args).await;
        for w in words {
            assert!(stderr.contains(w), "{args:?}: {stderr}");
        }
    }
    let file = scratch_path("bad.toml");
    for (text, words) in [
        ("[server]\nlisen = \"127.0.0.1:0\"\n", vec!["lisen", "bad.toml"]),
        ("[[policy]]\norigins = [\"https://X.com\"]\n", vec!["[[policy]] 1", "https://X.com", "bad.toml"]),
        ("[connect]\nallow = [\"10.0.0.1/8\"]\n", vec!["[connect]", "10.0.0.1/8", "host bits"]),
        ("[limits]\nmax_sessions = 0\n", vec!["max_sessions"]),
    ] {
        std::fs::write(&file, text).unwrap();
        let stderr = refused(&["--config", file.to_str().unwrap()]).await;
        for w in words {
            assert!(stderr.contains(w), "{text:?}: {stderr}");
        }
    }
    let _ = std::fs::remove_file(&file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c02_every_refusal_is_one_audit_line_without_token_or_payload() {
    let log = scratch_path("audit.jsonl");
    let native = CountingListener::bind("127.0.0.1").await;
    let daemon = TestDaemon::start_with(|c| c.audit_log = Some(log.clone())).await;
    assert_eq!(Raw::open(&daemon.url, Some("https://evil.example")).await.err(), Some(403));
    assert_eq!(Raw::open(&daemon.base_url, None).await.err(), Some(403));
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    s.connect(("127.0.0.1", native.port())).await.unwrap_err();
    s.bind(("127.0.0.1", 80)).await.unwrap_err();
    let u = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    u.sendto(b"SECRET-PAYLOAD-0123456789", ("127.0.0.1", native.port())).await.unwrap_err();
    let x = bridge.socket(AF_UNIX, SOCK_STREAM).await.unwrap();
    x.connect("../etc/passwd").await.unwrap_err();

    let origin = audit_line(&log, |v| v["rule"] == "origin").await;
    assert_eq!((origin["op"].as_str(), origin["origin"].as_str()), (Some("handshake"), Some("https://evil.example")));
    audit_line(&log, |v| v["rule"] == "token").await;
    let connect = audit_line(&log, |v| v["op"] == "connect").await;
    let target = format!("127.0.0.1:{}", native.port());
    assert_eq!(connect["target"], target.as_str());
    assert_eq!(connect["resolved"], target.as_str());
    assert_eq!(connect["rule"], "default-deny");
    assert!(connect["session"].as_u64().is_some() && connect["reason"].as_str().is_some_and(|r| !r.is_empty()));
    assert!(connect["time"].as_str().is_some_and(|t| t.ends_with('Z') && t.len() == 24), "{connect}");
    assert_eq!(audit_line(&log, |v| v["op"] == "bind").await["rule"], "bind-policy");
    assert_eq!(audit_line(&log, |v| v["op"] == "sendto").await["rule"], "default-deny");
    assert_eq!(audit_line(&log, |v| v["op"] == "connect" && v["rule"] == "unix-name").await["target"], "../etc/passwd");

    let text = std::fs::read_to_string(&log).unwrap();
    assert_eq!(text.lines().count(), 6, "one line per refusal:\n{text}");
    assert!(text.lines().all(|l| serde_json::from_str::<Value>(l).is_ok()), "JSON lines");
    assert!(!text.contains(&daemon.token), "the token is never logged");
    assert!(!text.contains("SECRET-PAYLOAD"), "payloads are never logged");
    native.assert_connections(0).await;
    let _ = std::fs::remove_file(&log);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c03_a_restart_makes_a_new_token_and_the_old_one_stops_working() {
    let first = Spawned::start(SpawnOptions::default()).await;
    let port = first.addr.port().to_string();
    let old = first.token.clone();
    assert!(first.stop().await.success());
    let listen = format!("127.0.0.1:{port}");
    let second = Spawned::start(SpawnOptions { args: &["--listen", &listen], ..SpawnOptions::default() }).await;
    assert_eq!(second.addr.port().to_string(), port, "the same port");
    assert_ne!(second.token, old);
    let stale = format!("{}#sb-token={old}", second.base_url);
    assert_eq!(Raw::open(&stale, None).await.err(), Some(403));
    let mut raw = second.raw().await;
    raw.ok("hello", json!({})).await;
}

#[test]
fn c04_tungstenite_is_past_cve_2023_43669() {
    let lock = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../Cargo.lock")).unwrap();
    let version = lock
        .split("[[package]]")
        .find(|p| p.contains("name = \"tungstenite\""))
        .and_then(|p| p.lines().find_map(|l| l.strip_prefix("version = \"")))
        .map(|v| v.trim_end_matches('"').to_owned())
        .expect("tungstenite in Cargo.lock");
    let parts: Vec<u32> = version.split('.').filter_map(|p| p.parse().ok()).collect();
    assert!(parts >= vec![0, 20, 1], "tungstenite {version} is older than the CVE-2023-43669 fix (0.20.1)");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c05_a_config_file_gives_one_origin_more_reach_than_others() {
    let native = CountingListener::bind("127.0.0.1").await;
    let file = scratch_path("policy.toml");
    std::fs::write(
        &file,
        format!(
            "[server]\nallow_origin = [\"http://localhost:4173\"]\n\n[[policy]]\norigins = [\"http://localhost:4173\"]\nallow = [\"127.0.0.1:{}/tcp\"]\n",
            native.port()
        ),
    )
    .unwrap();
    let daemon =
        Spawned::start(SpawnOptions { args: &["--config", file.to_str().unwrap()], ..SpawnOptions::default() }).await;
    let tests_page = Raw::open(&daemon.url, Some("http://localhost:4173")).await;
    let mut tests_page = tests_page.expect("the origin of the [[policy]]");
    tests_page.ok("socket", json!({})).await;
    tests_page.ok("connect", json!({"fd": 3, "address": ["127.0.0.1", native.port()]})).await;
    let mut plain = daemon.raw().await;
    plain.ok("socket", json!({})).await;
    let e = plain.err("connect", json!({"fd": 3, "address": ["127.0.0.1", native.port()]})).await;
    assert_eq!(e["data"]["errname"], "EACCES");
    native.assert_connections(1).await;
    let _ = std::fs::remove_file(&file);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c06_an_audit_log_path_that_is_a_link_or_not_a_file_stops_start_up() {
    let target = scratch_path("c06-target.txt");
    std::fs::write(&target, "the victim's file\n").unwrap();
    let link = scratch_path("c06-audit.jsonl");
    let _ = std::fs::remove_file(&link);
    std::os::unix::fs::symlink(&target, &link).unwrap();
    let serve_fails = async |path: &std::path::Path| {
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let config = bridge_daemon::Config { audit_log: Some(path.to_owned()), ..bridge_daemon::Config::default() };
        match bridge_daemon::serve(listener, config, std::future::ready(())).await {
            Ok(()) => panic!("the daemon started with audit log {}", path.display()),
            Err(e) => e.to_string(),
        }
    };
    let error = serve_fails(&link).await;
    assert!(error.contains("symbolic link"), "{error}");
    // The binary says so before it prints an address.
    let stderr = refused(&["--audit-log", link.to_str().unwrap()]).await;
    assert!(stderr.contains("symbolic link"), "{stderr}");
    assert_eq!(std::fs::read_to_string(&target).unwrap(), "the victim's file\n", "nothing written through it");
    let dir = scratch_path("c06-dir");
    std::fs::create_dir_all(&dir).unwrap();
    let error = serve_fails(&dir).await;
    assert!(error.contains("is a directory") || error.contains("not a regular file"), "{error}");
    for path in [&target, &link] {
        let _ = std::fs::remove_file(path);
    }
    let _ = std::fs::remove_dir(&dir);
}

/// In the audit log at `path`: how many lines record an `op` refusal, and how many lines its
/// `{"dropped": N}` lines say were left out.
fn lines_and_dropped(path: &std::path::Path, op: &str) -> (usize, u64) {
    let text = std::fs::read_to_string(path).unwrap();
    let lines: Vec<Value> = text.lines().map(|l| serde_json::from_str(l).unwrap()).collect();
    let count = lines.iter().filter(|v| v["op"] == op).count();
    let dropped = lines.iter().filter_map(|v| v["dropped"].as_u64()).sum();
    (count, dropped)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c07_refused_handshakes_are_rationed_in_the_audit_log() {
    let audit = scratch_path("c07-audit.jsonl");
    let _ = std::fs::remove_file(&audit);
    let path = audit.clone();
    let daemon = TestDaemon::start_with(move |c| c.audit_log = Some(path)).await;
    // A foreign page knocking 500 times.
    for _ in 0..500 {
        assert_eq!(Raw::open(&daemon.url, Some("https://evil.example")).await.err(), Some(403));
    }
    // Then one refusal by a session, which is always written, behind the handshake lines.
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    assert!(s.connect(("127.0.0.1", 9)).await.is_err());
    audit_line(&audit, |v| v["op"] == "connect").await;
    let (handshakes, dropped) = lines_and_dropped(&audit, "handshake");
    assert!((100..500).contains(&handshakes), "{handshakes} handshake lines");
    assert_eq!(handshakes as u64 + dropped, 500, "every refusal is a line or counted as dropped");
    let _ = std::fs::remove_file(&audit);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn c08_a_session_refused_in_a_loop_is_rationed_in_the_audit_log() {
    let audit = scratch_path("c08-audit.jsonl");
    let _ = std::fs::remove_file(&audit);
    let path = audit.clone();
    let daemon = TestDaemon::start_with(move |c| c.audit_log = Some(path)).await;
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    s.bind(("127.0.0.1", 0)).await.unwrap();
    // 3,000 datagrams to a forbidden address: each refused, as cheap as a page can make it.
    for _ in 0..3000 {
        assert!(s.sendto(b"x", ("127.0.0.1", 9)).await.is_err());
    }
    // A refusal of another session, written after them.
    let other = daemon.client().await;
    assert!(other.socket(AF_INET, SOCK_STREAM).await.unwrap().connect(("127.0.0.1", 9)).await.is_err());
    let last = audit_line(&audit, |v| v["op"] == "connect").await;
    assert_ne!(last["session"], Value::Null);
    let (sendto, dropped) = lines_and_dropped(&audit, "sendto");
    assert!((1000..3000).contains(&sendto), "{sendto} sendto lines");
    assert_eq!(sendto as u64 + dropped, 3000, "every refusal is a line or counted as dropped");
    let _ = std::fs::remove_file(&audit);
}
