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

    /// A new session (the codec the daemon picks: MessagePack).
    pub async fn client(&self) -> Bridge {
        within(Bridge::connect(&self.url)).await.expect("connect to the test daemon")
    }

    /// A new session with the given codec.
    pub async fn client_with(&self, codec: wasm_client::Codec) -> Bridge {
        let options = wasm_client::ConnectOptions { codec: Some(codec), ..Default::default() };
        let bridge = within(Bridge::connect_with(&self.url, &options)).await.expect("connect to the test daemon");
        assert_eq!(bridge.codec(), codec);
        bridge
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
    protocol: Option<String>,
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
            Ok((ws, response)) => {
                let protocol = response.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok());
                Ok(Raw { ws, next_id: 1, protocol: protocol.map(str::to_owned) })
            }
            Err(tokio_tungstenite::tungstenite::Error::Http(r)) => Err(r.status().as_u16()),
            Err(e) => panic!("handshake failed without an HTTP status: {e}"),
        }
    }

    /// The subprotocol the daemon agreed to.
    pub fn protocol(&self) -> Option<&str> {
        self.protocol.as_deref()
    }

    /// The next binary message, a MessagePack map, as JSON (bytes as arrays of numbers).
    pub async fn next_binary(&mut self) -> Value {
        loop {
            match within(self.ws.next()).await {
                Some(Ok(Message::Binary(b))) => {
                    return bridge_protocol::msgpack::from_slice(&b).expect("a MessagePack message");
                }
                Some(Ok(Message::Text(t))) => panic!("a text frame in a MessagePack session: {t}"),
                Some(Ok(_)) => continue,
                other => panic!("session ended: {other:?}"),
            }
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

/// Scripted DNS: names answer what the test says, in order, and the resolver counts its calls and
/// how many lookups ran at once.
#[derive(Debug, Default)]
pub struct ScriptedResolver {
    answers: std::sync::Mutex<std::collections::HashMap<String, std::collections::VecDeque<Vec<std::net::IpAddr>>>>,
    calls: std::sync::Mutex<std::collections::HashMap<String, usize>>,
    delay: std::sync::Mutex<std::collections::HashMap<String, Duration>>,
    running: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    /// The most lookups that were running at once.
    pub peak: std::sync::atomic::AtomicUsize,
}

impl ScriptedResolver {
    /// A resolver with no names: everything is `EAI_NONAME`.
    pub fn new() -> std::sync::Arc<ScriptedResolver> {
        std::sync::Arc::default()
    }

    /// `name` answers `ips` on its next lookup (queue several to answer differently each time; the
    /// last answer repeats).
    pub fn answer(&self, name: &str, ips: &[&str]) -> &Self {
        let ips = ips.iter().map(|ip| ip.parse().unwrap()).collect();
        self.answers.lock().unwrap().entry(name.to_owned()).or_default().push_back(ips);
        self
    }

    /// Lookups of `name` take this long.
    pub fn slow(&self, name: &str, delay: Duration) -> &Self {
        self.delay.lock().unwrap().insert(name.to_owned(), delay);
        self
    }

    /// How many times `name` was looked up.
    pub fn calls(&self, name: &str) -> usize {
        self.calls.lock().unwrap().get(name).copied().unwrap_or(0)
    }
}

/// One answer of the scripted resolver.
fn addrinfo(ip: std::net::IpAddr, kind: i32, port: u16) -> bridge_protocol::params::AddrInfo {
    bridge_protocol::params::AddrInfo {
        family: if ip.is_ipv4() { libc::AF_INET } else { libc::AF_INET6 },
        kind: if kind == 0 { libc::SOCK_STREAM } else { kind },
        proto: 0,
        canonname: String::new(),
        address: wasm_client::Address::from(SocketAddr::new(ip, port)),
    }
}

impl bridge_daemon::Lookup for ScriptedResolver {
    fn getaddrinfo(&self, query: bridge_daemon::Query) -> bridge_daemon::LookupFuture {
        use std::sync::atomic::Ordering::SeqCst;
        let name = query.host.clone().unwrap_or_default();
        if query.flags & libc::AI_NUMERICHOST != 0 {
            // As the C library: numbers only, and no lookup.
            let port: u16 = query.service.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0);
            let answer = name.parse::<std::net::IpAddr>().map(|ip| vec![addrinfo(ip, query.kind, port)]);
            let answer =
                answer.map_err(|_| bridge_protocol::OsError::gai(bridge_protocol::errno::eai::EAI_NONAME, None));
            return Box::pin(async move { answer });
        }
        *self.calls.lock().unwrap().entry(name.clone()).or_default() += 1;
        let answer = {
            let mut answers = self.answers.lock().unwrap();
            let queue = answers.entry(name.clone()).or_default();
            if queue.len() > 1 { queue.pop_front() } else { queue.front().cloned() }
        };
        let delay = self.delay.lock().unwrap().get(&name).copied();
        let now = self.running.fetch_add(1, SeqCst) + 1;
        self.peak.fetch_max(now, SeqCst);
        let running = std::sync::Arc::clone(&self.running);
        let port: u16 = query.service.as_deref().and_then(|s| s.parse().ok()).unwrap_or(0);
        Box::pin(async move {
            if let Some(delay) = delay {
                tokio::time::sleep(delay).await;
            }
            running.fetch_sub(1, SeqCst);
            let ips =
                answer.ok_or_else(|| bridge_protocol::OsError::gai(bridge_protocol::errno::eai::EAI_NONAME, None))?;
            let family = query.family;
            Ok(ips
                .into_iter()
                .filter(|ip| family == 0 || (family == libc::AF_INET) == ip.is_ipv4())
                .map(|ip| addrinfo(ip, query.kind, port))
                .collect())
        })
    }
}

/// The built `bridge-daemon` binary beside the test executables (`cargo test --workspace` and
/// `cargo build -p bridge-daemon` build it).
pub fn daemon_binary() -> PathBuf {
    let exe = std::env::current_exe().unwrap();
    let dir = exe.parent().and_then(|deps| deps.parent()).unwrap();
    let path = dir.join("bridge-daemon");
    assert!(
        path.exists(),
        "{} is missing: run `cargo build -p bridge-daemon` (or cargo test --workspace)",
        path.display()
    );
    path
}

/// The built daemon running as its own process (for what only a process shows: its memory, its
/// file limit, its log, its exit).
pub struct Spawned {
    pub child: tokio::process::Child,
    /// The first line it printed: `ws://127.0.0.1:PORT/#sb-token=…`.
    pub url: String,
    pub base_url: String,
    pub token: String,
    pub addr: SocketAddr,
    pub pid: i32,
    /// The rest of its standard output.
    pub lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
}

/// How to start the daemon process.
#[derive(Default)]
pub struct SpawnOptions<'a> {
    /// Its arguments (`--listen 127.0.0.1:0` unless they say where).
    pub args: &'a [&'a str],
    /// RUST_LOG for it (default `warn`).
    pub log: Option<&'a str>,
    /// Where its standard error goes (default: nowhere).
    pub stderr_to: Option<&'a Path>,
    /// Its open-file limit.
    pub rlimit_nofile: Option<u64>,
    /// Run it as this user and group (the test must be root), with its own runtime directory.
    pub as_user: Option<(u32, u32)>,
}

impl Spawned {
    /// Starts `bridge-daemon --listen 127.0.0.1:0 ARGS…` and reads the URL it prints.
    pub async fn start(options: SpawnOptions<'_>) -> Spawned {
        use tokio::io::AsyncBufReadExt;
        let mut command = tokio::process::Command::new(daemon_binary());
        let stderr = match options.stderr_to {
            Some(path) => std::process::Stdio::from(std::fs::File::create(path).unwrap()),
            None => std::process::Stdio::null(),
        };
        if !options.args.contains(&"--listen") {
            command.args(["--listen", "127.0.0.1:0"]);
        }
        command
            .args(options.args)
            .env("RUST_LOG", options.log.unwrap_or("warn"))
            .stdout(std::process::Stdio::piped())
            .stderr(stderr)
            .kill_on_drop(true);
        if let Some(n) = options.rlimit_nofile {
            // SAFETY: setrlimit is async-signal-safe and only touches the child's own limits.
            unsafe {
                command.pre_exec(move || {
                    let limit = libc::rlimit { rlim_cur: n, rlim_max: n };
                    if libc::setrlimit(libc::RLIMIT_NOFILE, &limit) == 0 {
                        Ok(())
                    } else {
                        Err(std::io::Error::last_os_error())
                    }
                });
            }
        }
        if let Some((uid, gid)) = options.as_user {
            let runtime = std::env::temp_dir().join(format!("sockbridge-user-{uid}-{}", std::process::id()));
            std::fs::create_dir_all(&runtime).unwrap();
            std::os::unix::fs::chown(&runtime, Some(uid), Some(gid)).unwrap();
            command.env("XDG_RUNTIME_DIR", &runtime);
            // SAFETY: setgroups, setgid and setuid are async-signal-safe and change only the child.
            unsafe {
                command.pre_exec(move || {
                    if libc::setgroups(0, std::ptr::null()) != 0 || libc::setgid(gid) != 0 || libc::setuid(uid) != 0 {
                        return Err(std::io::Error::last_os_error());
                    }
                    Ok(())
                });
            }
        }
        let mut child = command.spawn().unwrap();
        let pid = child.id().unwrap() as i32;
        let mut lines = tokio::io::BufReader::new(child.stdout.take().unwrap()).lines();
        let url = within(lines.next_line()).await.unwrap().expect("the daemon printed its URL");
        let (base, token) = bridge_protocol::auth::split_url(&url);
        let base_url = base.to_owned();
        let token = token.unwrap_or_default().to_owned();
        let addr = base.trim_start_matches("ws://").trim_end_matches('/').parse().unwrap();
        Spawned { child, url, base_url, token, addr, pid, lines }
    }

    /// A session through the native client.
    pub async fn client(&self) -> Bridge {
        within(Bridge::connect(&self.url)).await.expect("connect to the spawned daemon")
    }

    /// A raw session.
    pub async fn raw(&self) -> Raw {
        Raw::open(&self.url, None).await.expect("raw session")
    }

    /// The daemon's resident memory, in KiB.
    pub fn rss_kib(&self) -> u64 {
        rss_kib(self.pid)
    }

    /// Stops it with SIGTERM and waits.
    pub async fn stop(mut self) -> std::process::ExitStatus {
        // SAFETY: signalling our own child.
        unsafe { libc::kill(self.pid, libc::SIGTERM) };
        within(self.child.wait()).await.unwrap()
    }
}

/// A process's resident memory (VmRSS), in KiB.
pub fn rss_kib(pid: i32) -> u64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap();
    status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.trim().trim_end_matches("kB").trim().parse().ok())
        .expect("VmRSS in /proc/PID/status")
}

/// CPU time a process has used (user + system), in clock ticks.
pub fn cpu_ticks(pid: i32) -> u64 {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).unwrap();
    // The command name may hold spaces; fields after the closing parenthesis are plain.
    let rest = &stat[stat.rfind(')').unwrap() + 2..];
    let fields: Vec<&str> = rest.split_whitespace().collect();
    fields[11].parse::<u64>().unwrap() + fields[12].parse::<u64>().unwrap()
}

/// Sends raw bytes to the daemon's port and returns the status line and the whole response.
pub async fn http(addr: SocketAddr, request: &str) -> (String, String) {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
    stream.write_all(request.as_bytes()).await.unwrap();
    let mut response = Vec::new();
    within(stream.read_to_end(&mut response)).await.ok();
    let response = String::from_utf8_lossy(&response).into_owned();
    (response.lines().next().unwrap_or_default().to_owned(), response)
}

/// The headers of a WebSocket upgrade to the daemon at `addr` (before the blank line), with the
/// subprotocols given.
pub fn upgrade_head(addr: SocketAddr, protocols: &str, extra: &str) -> String {
    format!(
        "GET / HTTP/1.1\r\nHost: 127.0.0.1:{}\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Version: 13\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\n\
         Sec-WebSocket-Protocol: {protocols}\r\n{extra}\r\n",
        addr.port()
    )
}

/// Waits until the audit log at `path` has a line for which `found` holds, and returns it parsed.
/// (The log is written by a thread of the daemon's own; this polls the file, failing after
/// [`PATIENCE`].)
pub async fn audit_line(path: &Path, found: impl Fn(&Value) -> bool) -> Value {
    within(async {
        loop {
            let text = std::fs::read_to_string(path).unwrap_or_default();
            if let Some(v) = text.lines().filter_map(|l| serde_json::from_str::<Value>(l).ok()).find(|v| found(v)) {
                return v;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await
}

/// A fresh path for a test's scratch file (removed by the caller, or left in the temp dir).
pub fn scratch_path(name: &str) -> PathBuf {
    static NEXT: AtomicU32 = AtomicU32::new(0);
    std::env::temp_dir().join(format!(
        "sockbridge-{}-{}-{name}",
        std::process::id(),
        NEXT.fetch_add(1, Ordering::Relaxed)
    ))
}

/// A native TCP listener outside the bridge that counts the connections it gets, to show that a
/// refused `connect` dialled nothing.
pub struct CountingListener {
    pub addr: SocketAddr,
    accepted: std::sync::Arc<std::sync::atomic::AtomicUsize>,
    task: JoinHandle<()>,
}

impl CountingListener {
    /// Listens on `ip`, port 0.
    pub async fn bind(ip: &str) -> CountingListener {
        Self::bind_at((ip, 0)).await
    }

    /// Listens on an address.
    pub async fn bind_at(addr: impl tokio::net::ToSocketAddrs) -> CountingListener {
        let listener = tokio::net::TcpListener::bind(addr).await.unwrap();
        let addr = listener.local_addr().unwrap();
        let accepted = std::sync::Arc::new(std::sync::atomic::AtomicUsize::new(0));
        let count = std::sync::Arc::clone(&accepted);
        let task = tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                count.fetch_add(1, Ordering::SeqCst);
                drop(stream);
            }
        });
        CountingListener { addr, accepted, task }
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    /// Asserts that exactly `n` connections arrived before now: connects once itself (a marker
    /// queued behind anything sent earlier), waits for the marker, and counts.
    pub async fn assert_connections(&self, n: usize) {
        let _marker = tokio::net::TcpStream::connect(self.addr).await.unwrap();
        within(async {
            while self.accepted.load(Ordering::SeqCst) < n + 1 {
                tokio::task::yield_now().await;
                tokio::time::sleep(Duration::from_millis(5)).await;
            }
        })
        .await;
        assert_eq!(self.accepted.load(Ordering::SeqCst), n + 1, "connections to {} besides the marker", self.addr);
    }
}

impl Drop for CountingListener {
    fn drop(&mut self) {
        self.task.abort();
    }
}

/// A WebSocket opened by hand over TCP, for frames no well-behaved client sends (and pings it
/// does not answer).
pub struct RawFrames {
    pub stream: tokio::net::TcpStream,
}

impl RawFrames {
    /// Completes the handshake with the daemon at `addr`, presenting `token`.
    pub async fn open(addr: SocketAddr, token: &str) -> RawFrames {
        use tokio::io::{AsyncReadExt, AsyncWriteExt};
        let mut stream = tokio::net::TcpStream::connect(addr).await.unwrap();
        let head = upgrade_head(addr, &format!("sockbridge.v1, sockbridge.token.{token}"), "");
        stream.write_all(head.as_bytes()).await.unwrap();
        let mut response = Vec::new();
        while !response.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            within(stream.read_exact(&mut byte)).await.unwrap();
            response.push(byte[0]);
        }
        assert!(response.starts_with(b"HTTP/1.1 101"), "{}", String::from_utf8_lossy(&response));
        RawFrames { stream }
    }

    /// One frame: `opcode` with FIN as given, masked as a client must (unless `masked` is false).
    pub fn frame(fin: bool, opcode: u8, payload: &[u8], masked: bool) -> Vec<u8> {
        let mut out = vec![if fin { 0x80 | opcode } else { opcode }];
        let mask_bit = if masked { 0x80 } else { 0 };
        match payload.len() {
            n if n < 126 => out.push(mask_bit | n as u8),
            n if n < 65536 => {
                out.push(mask_bit | 126);
                out.extend_from_slice(&(n as u16).to_be_bytes());
            }
            n => {
                out.push(mask_bit | 127);
                out.extend_from_slice(&(n as u64).to_be_bytes());
            }
        }
        let key = [0x37, 0xfa, 0x21, 0x3d];
        if masked {
            out.extend_from_slice(&key);
            out.extend(payload.iter().enumerate().map(|(i, b)| b ^ key[i % 4]));
        } else {
            out.extend_from_slice(payload);
        }
        out
    }

    pub async fn send(&mut self, bytes: &[u8]) {
        use tokio::io::AsyncWriteExt;
        self.stream.write_all(bytes).await.unwrap();
    }

    /// Sends a JSON text frame.
    pub async fn send_json(&mut self, value: &Value) {
        self.send(&Self::frame(true, 1, value.to_string().as_bytes(), true)).await;
    }

    /// The next text frame (other frames are skipped); fails the test if the session ends first.
    pub async fn next_text(&mut self) -> String {
        let (close, texts) = self.frames_until(|texts| !texts.is_empty()).await;
        texts.into_iter().next().unwrap_or_else(|| panic!("the session ended (close {close:?}) before a text frame"))
    }

    /// Reads frames (ignoring pings, never answering them) until a close frame or the end; returns
    /// the close code, if any, and the text frames seen on the way.
    pub async fn until_close(&mut self) -> (Option<u16>, Vec<String>) {
        self.frames_until(|_| false).await
    }

    async fn frames_until(&mut self, done: impl Fn(&[String]) -> bool) -> (Option<u16>, Vec<String>) {
        use tokio::io::AsyncReadExt;
        let mut texts = Vec::new();
        loop {
            if done(&texts) {
                return (None, texts);
            }
            let mut head = [0u8; 2];
            if within(self.stream.read_exact(&mut head)).await.is_err() {
                return (None, texts);
            }
            let opcode = head[0] & 0x0f;
            let len = match head[1] & 0x7f {
                126 => {
                    let mut b = [0u8; 2];
                    self.stream.read_exact(&mut b).await.unwrap();
                    u64::from(u16::from_be_bytes(b))
                }
                127 => {
                    let mut b = [0u8; 8];
                    self.stream.read_exact(&mut b).await.unwrap();
                    u64::from_be_bytes(b)
                }
                n => u64::from(n),
            };
            let mut payload = vec![0u8; len as usize];
            if within(self.stream.read_exact(&mut payload)).await.is_err() {
                return (None, texts);
            }
            match opcode {
                1 => texts.push(String::from_utf8_lossy(&payload).into_owned()),
                8 => return ((payload.len() >= 2).then(|| u16::from_be_bytes([payload[0], payload[1]])), texts),
                _ => {}
            }
        }
    }
}

/// A bridge TCP socket listening on 127.0.0.1 with a backlog of 100,000 (which the daemon clamps);
/// returns it and its port.
pub async fn huge_backlog_listener(bridge: &Bridge) -> (wasm_client::Socket, u16) {
    let s = bridge.socket(wasm_client::AF_INET, wasm_client::SOCK_STREAM).await.unwrap();
    s.bind(("127.0.0.1", 0)).await.unwrap();
    s.listen(100_000).await.unwrap();
    let wasm_client::Address::Inet { port, .. } = s.getsockname().await.unwrap() else { panic!("not AF_INET") };
    (s, port)
}

/// A TCP listener's queue as `ss` (iproute2) shows it: (connections waiting in it now, its
/// backlog). The security suite needs `ss`; scripts/test.sh installs it.
pub fn listen_queue(port: u16) -> (u64, u64) {
    let out = std::process::Command::new("ss")
        .args(["-Hltn", &format!("sport = :{port}")])
        .output()
        .expect("ss (iproute2) is needed for this test; scripts/test.sh installs it");
    let text = String::from_utf8_lossy(&out.stdout);
    let mut columns = text.split_whitespace().skip(1).map(|v| v.parse::<u64>());
    match (columns.next(), columns.next()) {
        (Some(Ok(queued)), Some(Ok(backlog))) => (queued, backlog),
        _ => panic!("ss printed no listener on port {port}: {text:?}"),
    }
}
