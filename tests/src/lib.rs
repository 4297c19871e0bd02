//! Test support: a real daemon in-process on port 0, native clients for it, and a raw WebSocket
//! client for protocol-level tests.

#![allow(clippy::unwrap_used, clippy::expect_used, missing_docs, unreachable_pub)]

use bridge_daemon::{Config, Limits, UnixSockets};
use futures_util::{SinkExt, StreamExt};
use serde_json::{Value, json};
use std::net::SocketAddr;
use std::os::unix::fs::DirBuilderExt;
use std::path::{Path, PathBuf};
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_util::sync::CancellationToken;
use wasm_client::Bridge;

pub use wasm_client;

/// How long any single wait in a test may take before the test fails (a hang is a failure, not a
/// timing assertion).
pub const PATIENCE: Duration = Duration::from_secs(20);

/// Awaits `fut`, failing the test if it takes longer than [`PATIENCE`].
pub async fn within<T>(fut: impl Future<Output = T>) -> T {
    tokio::time::timeout(PATIENCE, fut).await.expect("the operation hung")
}

/// A daemon running in this process on 127.0.0.1:0, with its own Unix socket directory.
pub struct TestDaemon {
    pub addr: SocketAddr,
    /// The address with the token, as the daemon prints it: `ws://127.0.0.1:PORT/#sb-token=…`.
    pub url: String,
    /// The address without the token.
    pub base_url: String,
    /// The token (empty if the daemon runs without one).
    pub token: String,
    pub unix_dir: PathBuf,
    stop: CancellationToken,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

static NEXT_DIR: AtomicU32 = AtomicU32::new(0);

impl TestDaemon {
    /// A daemon with the default configuration (and a known Unix socket directory).
    pub async fn start() -> TestDaemon {
        Self::start_with(|_| {}).await
    }

    /// A daemon whose configuration `adjust` changes first.
    pub async fn start_with(adjust: impl FnOnce(&mut Config)) -> TestDaemon {
        let unix_dir = std::env::temp_dir().join(format!(
            "sockbridge-test-{}-{}",
            std::process::id(),
            NEXT_DIR.fetch_add(1, Ordering::Relaxed)
        ));
        // Made here (mode 0700, as the daemon requires) so tests can place files in it at once.
        std::fs::DirBuilder::new().mode(0o700).create(&unix_dir).unwrap();
        let mut config = Config { unix: UnixSockets::Dir(unix_dir.clone()), ..Config::default() };
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let addr = listener.local_addr().unwrap();
        let token = config.token.as_ref().map(|t| t.reveal().to_owned()).unwrap_or_default();
        let base_url = format!("ws://{addr}/");
        let url = if token.is_empty() { base_url.clone() } else { format!("{base_url}#sb-token={token}") };
        let stop = CancellationToken::new();
        let handle = tokio::spawn(bridge_daemon::serve(listener, config, stop.clone().cancelled_owned()));
        TestDaemon { addr, url, base_url, token, unix_dir, stop, handle: Some(handle) }
    }

    /// A daemon whose pages may also reach these destinations (`--allow-connect` rules).
    pub async fn allowing(rules: &[&str]) -> TestDaemon {
        Self::start_with(|c| c.rules.allow.extend(rules.iter().map(|r| rule(r)))).await
    }

    /// Default limits, for tests that change one.
    pub fn limits() -> Limits {
        Limits::default()
    }

    /// A new session.
    pub async fn client(&self) -> Bridge {
        within(Bridge::connect(&self.url)).await.expect("connect to the test daemon")
    }

    /// A raw WebSocket session speaking JSON by hand.
    pub async fn raw(&self) -> Raw {
        Raw::open(&self.url, None).await.expect("raw session")
    }

    /// The path of a socket name in the daemon's Unix directory (for native peers).
    pub fn unix_path(&self, name: &str) -> PathBuf {
        self.unix_dir.join(name)
    }

    /// Stops the daemon and waits for it to finish.
    pub async fn stop(mut self) {
        self.stop.cancel();
        if let Some(handle) = self.handle.take() {
            within(handle).await.unwrap().unwrap();
        }
    }
}

impl Drop for TestDaemon {
    fn drop(&mut self) {
        self.stop.cancel();
        let _ = std::fs::remove_dir_all(&self.unix_dir);
    }
}

/// A raw JSON-RPC session, for sending what a well-behaved client never would.
pub struct Raw {
    ws: tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    next_id: u64,
}

impl Raw {
    /// Opens a session, optionally as a page of `origin`, presenting the token in the URL's
    /// fragment (if any). Returns the HTTP status of a refusal.
    pub async fn open(url: &str, origin: Option<&str>) -> Result<Raw, u16> {
        let (base, token) = bridge_protocol::auth::split_url(url);
        let protocols = match token {
            Some(t) => format!("sockbridge.v1, {}", bridge_protocol::auth::subprotocol(t)),
            None => "sockbridge.v1".to_owned(),
        };
        Self::open_with(base, origin, Some(&protocols)).await
    }

    /// Opens a session offering exactly `protocol` (or none) as `Sec-WebSocket-Protocol`.
    pub async fn open_with(url: &str, origin: Option<&str>, protocol: Option<&str>) -> Result<Raw, u16> {
        let mut request = url.into_client_request().unwrap();
        if let Some(p) = protocol {
            request.headers_mut().insert("Sec-WebSocket-Protocol", HeaderValue::from_str(p).unwrap());
        }
        if let Some(o) = origin {
            request.headers_mut().insert("Origin", HeaderValue::from_str(o).unwrap());
        }
        match within(tokio_tungstenite::connect_async(request)).await {
            Ok((ws, _)) => Ok(Raw { ws, next_id: 1 }),
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
            Err(e) => panic!("handshake failed without an HTTP status: {e}"),
        }
    }

    pub async fn send_text(&mut self, text: impl Into<String>) {
        self.ws.send(Message::text(text.into())).await.unwrap();
    }

    pub async fn send_message(&mut self, msg: Message) {
        self.ws.send(msg).await.unwrap();
    }

    /// The next text message, as JSON; `None` when the session ends (with the close frame, if any).
    pub async fn next(&mut self) -> Result<Value, Option<(u16, String)>> {
        loop {
            match within(self.ws.next()).await {
                Some(Ok(Message::Text(t))) => return Ok(serde_json::from_str(t.as_str()).unwrap()),
                Some(Ok(Message::Close(frame))) => {
                    return Err(frame.map(|f| (u16::from(f.code), f.reason.to_string())));
                }
                Some(Ok(_)) => continue,
                Some(Err(_)) | None => return Err(None),
            }
        }
    }

    /// The next message, which must be JSON.
    pub async fn recv(&mut self) -> Value {
        match self.next().await {
            Ok(v) => v,
            Err(close) => panic!("session closed: {close:?}"),
        }
    }

    /// Sends a request and waits for its response (responses to this session's earlier requests
    /// must all have been read).
    pub async fn call(&mut self, method: &str, params: Value) -> Value {
        let id = self.next_id;
        self.next_id += 1;
        self.send_text(json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string()).await;
        let response = self.recv().await;
        assert_eq!(response["id"], json!(id), "response to another request: {response}");
        response
    }

    /// Calls and returns the result, failing the test on an error.
    pub async fn ok(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params).await;
        assert!(r.get("error").is_none(), "{method} failed: {r}");
        r["result"].clone()
    }

    /// Calls and returns the error object, failing the test on success.
    pub async fn err(&mut self, method: &str, params: Value) -> Value {
        let r = self.call(method, params).await;
        assert!(r.get("result").is_none(), "{method} succeeded: {r}");
        r["error"].clone()
    }
}

/// A TCP socket listening on 127.0.0.1 with a free port.
pub async fn tcp_listener(bridge: &Bridge) -> wasm_client::Socket {
    let server = bridge.socket(wasm_client::AF_INET, wasm_client::SOCK_STREAM).await.unwrap();
    server.bind(("127.0.0.1", 0)).await.unwrap();
    server.listen(8).await.unwrap();
    server
}

/// A connected TCP pair: `(listener, client, accepted connection)`, all through the bridge.
pub async fn tcp_pair(bridge: &Bridge) -> (wasm_client::Socket, wasm_client::Socket, wasm_client::Socket) {
    let server = tcp_listener(bridge).await;
    let client = bridge.socket(wasm_client::AF_INET, wasm_client::SOCK_STREAM).await.unwrap();
    client.connect(server.getsockname().await.unwrap()).await.unwrap();
    let (conn, _) = within(server.accept()).await.unwrap();
    (server, client, conn)
}

/// An egress rule, as `--allow-connect` reads it.
pub fn rule(text: &str) -> bridge_daemon::policy::rule::Rule {
    text.parse().unwrap_or_else(|e| panic!("{e}"))
}

/// A TCP address nobody listens on that the session may dial: a port the session bound and closed
/// again (it stays in the session's `own` memory), so connecting is refused by the kernel, as in
/// Python, rather than by the policy.
pub async fn closed_port(bridge: &Bridge) -> wasm_client::Address {
    let probe = bridge.socket(wasm_client::AF_INET, wasm_client::SOCK_STREAM).await.unwrap();
    probe.bind(("127.0.0.1", 0)).await.unwrap();
    let addr = probe.getsockname().await.unwrap();
    probe.close().await.unwrap();
    addr
}

/// A UDP socket bound to 127.0.0.1 with a free port.
pub async fn udp_bound(bridge: &Bridge) -> wasm_client::Socket {
    let s = bridge.socket(wasm_client::AF_INET, wasm_client::SOCK_DGRAM).await.unwrap();
    s.bind(("127.0.0.1", 0)).await.unwrap();
    s
}

/// The errno name of a client error.
pub fn errname(e: &wasm_client::Error) -> &str {
    e.errname().unwrap_or("")
}

/// Whether a path exists (for socket-file cleanup checks).
pub fn exists(path: &Path) -> bool {
    std::fs::symlink_metadata(path).is_ok()
}
