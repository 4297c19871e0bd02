//! The built `bridge-daemon` binary, as a user runs it.

use sockbridge_tests::wasm_client::*;
use sockbridge_tests::{daemon_binary, within};
use std::path::PathBuf;
use std::process::Stdio;
use tokio::io::{AsyncBufReadExt, BufReader, Lines};
use tokio::process::{Child, ChildStdout, Command};

/// Starts the binary on a free port; returns it, its stdout lines, and the URL it printed first.
async fn spawn_daemon() -> (Child, Lines<BufReader<ChildStdout>>, String) {
    let mut child = Command::new(daemon_binary())
        .args(["--listen", "127.0.0.1:0"])
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .kill_on_drop(true)
        .spawn()
        .unwrap();
    let mut lines = BufReader::new(child.stdout.take().unwrap()).lines();
    let url = within(lines.next_line()).await.unwrap().unwrap();
    (child, lines, url)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn prints_its_url_serves_and_stops_on_sigterm() {
    serve_then_stop(libc::SIGTERM).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stops_on_ctrl_c() {
    serve_then_stop(libc::SIGINT).await;
}

/// Where the daemon on `port` writes its token by default.
fn token_file(port: u16) -> PathBuf {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|p| p.is_absolute());
    // SAFETY: getuid has no preconditions.
    let uid = unsafe { libc::getuid() };
    bridge_protocol::auth::token_path(runtime.as_deref(), &std::env::temp_dir(), uid, port)
}

async fn serve_then_stop(signal: i32) {
    use std::os::unix::fs::PermissionsExt;
    let (mut child, _lines, url) = spawn_daemon().await;
    let (base, token) = bridge_protocol::auth::split_url(&url);
    assert!(base.starts_with("ws://127.0.0.1:") && base.ends_with('/'), "first line: {url}");
    assert!(!base.ends_with(":0/"), "the real port, not 0");
    let token = token.expect("the URL carries the token");
    assert!(bridge_protocol::auth::is_well_formed(token) && token.len() == 43, "{token}");
    let port: u16 = base.trim_start_matches("ws://127.0.0.1:").trim_end_matches('/').parse().unwrap();
    let file = token_file(port);
    assert_eq!(std::fs::read_to_string(&file).unwrap().trim(), token, "{}", file.display());
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);
    assert_eq!(std::fs::metadata(file.parent().unwrap()).unwrap().permissions().mode() & 0o777, 0o700);

    let bridge = within(Bridge::connect(&url)).await.unwrap();
    assert!(bridge.hello().daemon.starts_with("bridge-daemon "));
    let a = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    a.bind(("127.0.0.1", 0)).await.unwrap();
    a.sendto(b"via the binary", a.getsockname().await.unwrap()).await.unwrap();
    assert_eq!(within(a.recv(64)).await.unwrap(), b"via the binary");

    let pid = child.id().unwrap() as i32;
    // SAFETY: sending a signal to our own child process.
    assert_eq!(unsafe { libc::kill(pid, signal) }, 0);
    let status = within(child.wait()).await.unwrap();
    assert!(status.success(), "graceful exit on signal {signal}: {status}");
    assert!(bridge_closed(&bridge).await);
    assert!(!file.exists(), "the token file is removed at exit");
}

async fn bridge_closed(bridge: &Bridge) -> bool {
    matches!(within(bridge.gethostname()).await, Err(Error::Closed))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn refuses_unsafe_or_broken_settings_with_a_message() {
    for (args, expected) in [
        (vec!["--listen", "0.0.0.0:0"], "loopback only"),
        (vec!["--listen", "127.0.0.1:0", "--allow-origin", "https://ok.example,evil.example"], "evil.example"),
        (vec!["--listen", "127.0.0.1:0", "--allow-origin", "https://*.example"], "wildcard"),
        (vec!["--listen", "127.0.0.1:0", "--max-sessions", "0"], "max_sessions"),
    ] {
        let out = within(Command::new(daemon_binary()).args(&args).output()).await.unwrap();
        assert!(!out.status.success(), "{args:?} started");
        let stderr = String::from_utf8_lossy(&out.stderr);
        assert!(stderr.contains(expected), "{args:?}: {stderr}");
        assert!(out.stdout.is_empty(), "{args:?} printed a URL");
    }
}

/// The README's Rust example (wasm-client/examples/echo.rs) runs as written against the binary,
/// and the binary serves the web-demo page.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_readme_example_and_the_demo_page() {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let (_child, mut lines, url) = spawn_daemon().await;
    let pages = within(lines.next_line()).await.unwrap().unwrap();
    assert!(pages.starts_with("teaching pages: http://127.0.0.1:"), "{pages}");

    let example = daemon_binary().parent().unwrap().join("examples/echo");
    assert!(example.exists(), "{} is missing: `cargo test --workspace` builds examples", example.display());
    let out = within(Command::new(&example).arg(&url).output()).await.unwrap();
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{stdout}{}", String::from_utf8_lossy(&out.stderr));
    assert!(stdout.contains("echo server listening on ('127.0.0.1', "), "{stdout}");
    assert!(stdout.contains("echoed: \"hello, sockets\\n\""), "{stdout}");

    let (base, _) = bridge_protocol::auth::split_url(&url);
    let addr = base.trim_start_matches("ws://").trim_end_matches('/').to_owned();
    let get = |path: &'static str| {
        let addr = addr.clone();
        async move {
            let mut stream = tokio::net::TcpStream::connect(&addr).await.unwrap();
            stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: {addr}\r\n\r\n").as_bytes()).await.unwrap();
            let mut page = String::new();
            within(stream.read_to_string(&mut page)).await.unwrap();
            assert!(page.starts_with("HTTP/1.1 200 OK"), "{path}: {page}");
            page
        }
    };
    assert!(get("/").await.contains(r#"<script type="module" src="app.js">"#), "the lessons");
    assert!(get("/lessons.js").await.contains("export const LESSONS"));
    assert!(get("/protocol.html").await.contains("new WebSocket(`ws://${location.host}/`, protocols)"));
}
