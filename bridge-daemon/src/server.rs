//! The daemon's port: accepting connections, the WebSocket handshake, and shutdown.

use crate::access::{Gate, Identity, RECHECK};
use crate::audit::{Audit, Event};
use crate::config::{Config, NetworkMode};
use crate::http::{self, Head, HeadError, Refusal};
use crate::net::Net;
use crate::net::resolve::Resolver;
use crate::policy::own::OriginKey;
use crate::policy::{Policy, PolicyInput};
use crate::sandbox::Sandbox;
use crate::session::{self, PrivateNetworks, Shared, Who};
use bridge_protocol::params::{HelloResult, NetworkInfo};
use bridge_protocol::{PROTOCOL_VERSION, SUBPROTOCOL};
use std::collections::HashMap;
use std::io;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::AsyncWriteExt;
use tokio::net::{TcpListener, TcpStream};
use tokio::sync::Semaphore;
use tokio_tungstenite::WebSocketStream;
use tokio_tungstenite::tungstenite::protocol::{Role, WebSocketConfig};
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// Longest pause of the accept loop when the process is out of file descriptors.
const MAX_ACCEPT_BACKOFF: Duration = Duration::from_secs(1);
/// How often a draining daemon looks whether its sessions have finished.
const DRAIN_POLL: Duration = Duration::from_millis(100);
/// How long shutdown waits for sessions to say goodbye.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);
/// File descriptors kept for everything but page sockets (WebSockets, lab services, static files):
/// a quarter of the process's limit, at most this many.
const FD_RESERVE: usize = 256;

/// Daemon-wide state of one `serve` call.
struct Daemon {
    shared: Arc<Shared>,
    web_root: Option<crate::config::WebRoot>,
    sessions: Arc<Semaphore>,
    /// Open sessions by origin (`Limits::max_sessions_per_origin`) and by identity.
    places: Mutex<Places>,
    /// Who may open a session, in a hosted daemon.
    gate: Gate,
    next_session: AtomicU64,
    /// Set once the daemon has been told to stop: it takes no new session, and `/healthz` says so.
    draining: AtomicBool,
    stop: CancellationToken,
    ws_config: WebSocketConfig,
}

/// Serves sockbridge on `listener` until `shutdown` resolves, then closes every session (with
/// WebSocket close code 1001) and returns once they have released their sockets.
///
/// Fails at once if the configuration is inconsistent or the Unix socket directory cannot be
/// prepared.
///
/// # Examples
///
/// ```no_run
/// # async fn run() -> std::io::Result<()> {
/// let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
/// println!("ws://{}/", listener.local_addr()?);
/// bridge_daemon::serve(listener, bridge_daemon::Config::default(), async {
///     let _ = tokio::signal::ctrl_c().await;
/// })
/// .await
/// # }
/// ```
pub async fn serve(listener: TcpListener, config: Config, shutdown: impl Future<Output = ()>) -> io::Result<()> {
    let metrics = match config.metrics_listen {
        Some(addr) => Some(TcpListener::bind(addr).await?),
        None => None,
    };
    serve_with(listener, metrics, config, shutdown).await
}

/// [`serve`], with `/metrics` and `/healthz` served on `metrics` (a listener already bound, as a
/// test binds port 0) rather than on `config.metrics_listen`.
pub async fn serve_with(
    listener: TcpListener,
    metrics: Option<TcpListener>,
    config: Config,
    shutdown: impl Future<Output = ()>,
) -> io::Result<()> {
    crate::check_access(&config)?;
    let limits = config.limits.clone();
    limits.validate().map_err(|e| io::Error::new(io::ErrorKind::InvalidInput, e))?;
    let addr = listener.local_addr()?;
    let sandbox = Sandbox::open(&config.unix)?;
    let mut features = Vec::new();
    if sandbox.is_some() {
        features.push("unix".to_owned());
    }
    let stop = CancellationToken::new();
    let tracker = TaskTracker::new();
    let (private, network) = private_networks(&config).await;
    if config.access.hosted && private.is_none() {
        let why = network.why.clone().unwrap_or_default();
        return Err(io::Error::new(
            io::ErrorKind::Unsupported,
            format!("--hosted gives every session a private network, and this system cannot make them: {why}"),
        ));
    }
    if private.is_some() {
        features.push("private-network".to_owned());
    }
    // In private networks the lab services run on each network's lab host, not on loopback.
    let labs =
        if config.labs && private.is_none() { crate::labs::start(&stop, &tracker).await? } else { Default::default() };
    let audit = Audit::open(config.audit_log.as_deref())?;
    let policy = Policy::new(
        addr,
        PolicyInput {
            extra_hosts: &config.allowed_hosts,
            extra_origins: &config.allowed_origins,
            token: config.token.clone(),
            rules: config.rules.clone(),
            origin_rules: config.origin_rules.clone(),
            allow_metadata: config.allow_metadata,
            labs: labs.addrs,
        },
    );
    if policy.any_unix_paths() && !features.iter().any(|f| f == "unix") {
        features.push("unix".to_owned());
    }
    let hello = HelloResult {
        protocol: SUBPROTOCOL.to_owned(),
        protocol_version: PROTOCOL_VERSION,
        daemon: format!("bridge-daemon {}", env!("CARGO_PKG_VERSION")),
        limits: limits.for_client(),
        features,
        labs: labs.names,
        network: Some(network),
    };
    let fds = fd_limit();
    let max_sockets = limits.max_sockets_total.min(fds.saturating_sub((fds / 4).min(FD_RESERVE)).max(1));
    tracing::info!(
        %addr,
        own_origin = %policy.own_origin(),
        unix_dir = ?sandbox.as_ref().map(|s| s.dir().to_path_buf()),
        max_sockets,
        token = config.token.is_some(),
        "serving"
    );
    let resolver = Resolver::new(limits.dns_concurrency, limits.dns_timeout, config.resolver.clone());
    let net = Net { policy, sandbox, resolver, audit };
    let hard_cap = limits.hard_message_cap();
    let write_buffer = 64 << 10;
    let ws_config = WebSocketConfig::default()
        .read_buffer_size(16 << 10)
        .write_buffer_size(write_buffer)
        .max_write_buffer_size(write_buffer + 2 * hard_cap)
        .max_message_size(Some(hard_cap))
        .max_frame_size(Some(hard_cap))
        .accept_unmasked_frames(false);
    let daemon = Arc::new(Daemon {
        sessions: Arc::new(Semaphore::new(limits.max_sessions)),
        places: Mutex::default(),
        gate: Gate::new(config.access.clone()),
        shared: Arc::new(Shared::new(net, limits, max_sockets, hello, private)),
        web_root: config.web_root.clone(),
        next_session: AtomicU64::new(1),
        draining: AtomicBool::new(false),
        stop,
        ws_config,
    });
    if let Some(listener) = metrics {
        tracing::info!(addr = %listener.local_addr()?, "metrics at /metrics, health at /healthz");
        tracker.spawn(Arc::clone(&daemon).serve_metrics(listener));
    }
    if config.access.join_links.is_some() {
        tracker.spawn(Arc::clone(&daemon).recheck_links());
    }
    let threads = SessionThreads::start(config.session_threads)?;
    let mut backoff = Duration::from_millis(5);
    tokio::pin!(shutdown);
    loop {
        let accepted = tokio::select! {
            () = &mut shutdown => break,
            accepted = listener.accept() => accepted,
        };
        match accepted {
            Ok((stream, peer)) => {
                backoff = Duration::from_millis(5);
                // The stream moves to the session's thread as a plain fd and is registered there,
                // with that thread's reactor: its readiness then wakes no other thread.
                match stream.into_std() {
                    Ok(stream) => threads.spawn(&tracker, Arc::clone(&daemon).connection(stream, peer)),
                    Err(e) => tracing::debug!(error = %e, "could not hand over a connection"),
                }
            }
            Err(e) if out_of_resources(&e) => {
                // Level-triggered accept would spin at full CPU; pause, and let the backlog wait.
                tracing::warn!(error = %e, pause_ms = backoff.as_millis() as u64, "accept failed; pausing");
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_ACCEPT_BACKOFF);
            }
            Err(e) => tracing::debug!(error = %e, "accept failed"),
        }
    }
    drop(listener);
    daemon.draining.store(true, Ordering::Relaxed);
    daemon.drain(config.drain_timeout).await;
    tracing::info!("shutting down");
    daemon.stop.cancel();
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await.is_err() {
        tracing::warn!("some sessions did not finish in time");
    }
    threads.stop();
    Ok(())
}

/// Private networks, if the configuration asks for them and this system can make them; and what
/// `hello` says of the mode when sessions share the loopback (with why, when private networks were
/// asked for and cannot be made).
async fn private_networks(config: &Config) -> (Option<PrivateNetworks>, NetworkInfo) {
    let shared = |why: Option<String>| NetworkInfo { mode: "shared".into(), why, ..NetworkInfo::default() };
    if config.network != NetworkMode::Private {
        return (None, shared(None));
    }
    let probe = tokio::task::spawn_blocking(crate::network::probe).await;
    match probe {
        Ok(Ok(nursery)) => {
            let l = &config.limits;
            let private = PrivateNetworks {
                nursery,
                bounds: crate::network::Bounds {
                    max_hosts: l.max_hosts_per_network,
                    link_queue_bytes: l.link_queue_bytes,
                    link_packets_per_second: l.link_packets_per_second,
                    capture_bytes: l.capture_bytes,
                    bytes_per_second: l.network_bytes_per_second,
                },
                places: Arc::new(Semaphore::new(l.max_networks)),
                labs: config.labs,
            };
            tracing::info!("private networks: every session gets hosts of its own");
            (Some(private), NetworkInfo { mode: "private".into(), ..NetworkInfo::default() })
        }
        Ok(Err(e)) => {
            let why = format!(
                "this system does not let the bridge make network namespaces and TUN devices ({e}): run it as root, \
                 or where unprivileged user namespaces are allowed"
            );
            tracing::warn!("--network private is not possible, so sessions share this computer's loopback: {why}");
            (None, shared(Some(why)))
        }
        Err(_) => (None, shared(Some("the check for network namespaces failed unexpectedly".into()))),
    }
}

/// The threads sessions run on (`Config::session_threads`), each with a single-threaded runtime:
/// a connection is given to one of them in turn and stays there.
struct SessionThreads {
    handles: Vec<tokio::runtime::Handle>,
    next: std::sync::atomic::AtomicUsize,
    stop: CancellationToken,
    joins: Vec<std::thread::JoinHandle<()>>,
}

impl SessionThreads {
    fn start(count: usize) -> io::Result<SessionThreads> {
        let stop = CancellationToken::new();
        let mut handles = Vec::new();
        let mut joins = Vec::new();
        for i in 0..count {
            let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
            handles.push(runtime.handle().clone());
            let stop = stop.clone();
            joins.push(std::thread::Builder::new().name(format!("sessions-{i}")).spawn(move || {
                runtime.block_on(stop.cancelled());
                // A name lookup still running on a blocking thread is not waited for long.
                runtime.shutdown_timeout(Duration::from_secs(1));
            })?);
        }
        Ok(SessionThreads { handles, next: Default::default(), stop, joins })
    }

    /// Runs a connection's task on the next thread (or on the current runtime when there are none).
    fn spawn(&self, tracker: &TaskTracker, task: impl Future<Output = ()> + Send + 'static) {
        if self.handles.is_empty() {
            tracker.spawn(task);
        } else {
            let i = self.next.fetch_add(1, Ordering::Relaxed) % self.handles.len();
            self.handles[i].spawn(tracker.track_future(task));
        }
    }

    /// Ends the threads (once their sessions are done).
    fn stop(self) {
        self.stop.cancel();
        for join in self.joins {
            let _ = join.join();
        }
    }
}

fn out_of_resources(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

/// The process's open-file limit (soft).
fn fd_limit() -> usize {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit only writes the struct passed.
    if unsafe { libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) } == 0 {
        usize::try_from(limit.rlim_cur).unwrap_or(usize::MAX)
    } else {
        1024
    }
}

/// Open sessions by origin, and by identity (with the token that ends them if its join link is
/// revoked).
#[derive(Default)]
struct Places {
    origins: HashMap<OriginKey, usize>,
    identities: HashMap<Identity, Held>,
}

/// An identity's open sessions.
struct Held {
    sessions: usize,
    revoked: CancellationToken,
}

/// A session's place in its origin's or identity's count, given back when dropped.
struct Slot<'a> {
    daemon: &'a Daemon,
    key: SlotKey,
}

enum SlotKey {
    Origin(OriginKey),
    Identity(Identity),
}

impl Drop for Slot<'_> {
    fn drop(&mut self) {
        let mut places = crate::lock(&self.daemon.places);
        match &self.key {
            SlotKey::Origin(origin) => {
                if let Some(n) = places.origins.get_mut(origin) {
                    *n -= 1;
                    if *n == 0 {
                        places.origins.remove(origin);
                    }
                }
            }
            SlotKey::Identity(identity) => {
                if let Some(held) = places.identities.get_mut(identity) {
                    held.sessions -= 1;
                    if held.sessions == 0 {
                        places.identities.remove(identity);
                    }
                }
            }
        }
    }
}

impl Daemon {
    /// One TCP connection: a page request, or a WebSocket handshake that becomes a session.
    async fn connection(self: Arc<Self>, stream: std::net::TcpStream, peer: SocketAddr) {
        let Ok(mut stream) = TcpStream::from_std(stream) else { return };
        let limits = &self.shared.limits;
        let read =
            tokio::time::timeout(limits.handshake_timeout, http::read_head(&mut stream, limits.max_request_head_bytes));
        let (head, rest) = match read.await {
            Ok(Ok(parts)) => parts,
            Ok(Err(HeadError::Closed)) => return,
            Ok(Err(HeadError::TooLarge)) => {
                return http::respond_refusal(&mut stream, &http::refuse(431, "the request head is too large")).await;
            }
            Ok(Err(HeadError::Malformed)) => {
                return http::respond_refusal(&mut stream, &http::refuse(400, "not an HTTP/1.1 request")).await;
            }
            Err(_) => {
                tracing::debug!(%peer, "request head not complete within the handshake timeout");
                return http::respond_refusal(&mut stream, &http::refuse(408, "the request took too long")).await;
            }
        };
        let policy = &self.shared.net.policy;
        if let Err(refusal) = http::check_host(&head, policy) {
            self.audit_handshake(&head, &refusal);
            return http::respond_refusal(&mut stream, &refusal).await;
        }
        if head.wants_websocket() {
            self.upgrade(stream, peer, head, rest).await;
        } else if head.header("host").is_some_and(|h| policy.host_is_localhost(h)) {
            http::redirect_to(&mut stream, &policy.own_origin(), &head.path).await;
        } else {
            let root = self.web_root.as_ref();
            http::serve_static(&mut stream, &head, root, limits.max_static_file_bytes, limits.write_timeout).await;
        }
    }

    /// Records a refused handshake (the Host and Origin it named; never its token).
    fn audit_handshake(&self, head: &Head, refusal: &Refusal) {
        self.shared.net.audit.handshake_refusal(&Event {
            session: None,
            origin: head.header("origin"),
            identity: None,
            op: "handshake",
            target: head.header("host").unwrap_or_default().escape_debug().to_string(),
            resolved: None,
            rule: refusal.rule.to_owned(),
            reason: refusal.reason.to_owned(),
        });
    }

    /// Takes a place in the origin's session count, if there is one. Clients that send no
    /// `Origin` (programs, not pages; they hold the token) count only towards `max_sessions`.
    fn origin_slot(&self, origin: &OriginKey) -> Option<Slot<'_>> {
        if origin.is_some() {
            let mut places = crate::lock(&self.places);
            let n = places.origins.entry(origin.clone()).or_default();
            if *n >= self.shared.limits.max_sessions_per_origin {
                return None;
            }
            *n += 1;
        }
        Some(Slot { daemon: self, key: SlotKey::Origin(origin.clone()) })
    }

    /// Takes a place in the identity's session count (`max_sessions_per_identity`), if there is
    /// one; and the token that ends the identity's sessions if its link is revoked.
    fn identity_slot(&self, identity: &Identity) -> Option<(Slot<'_>, CancellationToken)> {
        let mut places = crate::lock(&self.places);
        let held = places
            .identities
            .entry(identity.clone())
            .or_insert_with(|| Held { sessions: 0, revoked: CancellationToken::new() });
        if held.sessions >= self.shared.limits.max_sessions_per_identity {
            return None;
        }
        held.sessions += 1;
        let revoked = held.revoked.clone();
        Some((Slot { daemon: self, key: SlotKey::Identity(identity.clone()) }, revoked))
    }

    /// Sessions open now.
    fn open_sessions(&self) -> usize {
        self.shared.limits.max_sessions - self.sessions.available_permits()
    }

    /// Lets the open sessions finish by themselves for up to `timeout` (the listener is closed
    /// already, so no new one starts); whatever is left is then closed by the caller.
    async fn drain(&self, timeout: Duration) {
        let open = self.open_sessions();
        if timeout.is_zero() || open == 0 {
            return;
        }
        tracing::info!(sessions = open, seconds = timeout.as_secs_f64(), "draining: the open sessions may finish");
        let deadline = tokio::time::Instant::now() + timeout;
        while self.open_sessions() > 0 && tokio::time::Instant::now() < deadline {
            tokio::time::sleep(DRAIN_POLL).await;
        }
        let left = self.open_sessions();
        if left > 0 {
            tracing::info!(sessions = left, "drain deadline reached: closing the sessions left");
        }
    }

    /// The metrics and health endpoint: `GET /metrics` (Prometheus's text format) and
    /// `GET /healthz` (`200 ok`, or `503 draining` once the daemon is stopping).
    async fn serve_metrics(self: Arc<Self>, listener: TcpListener) {
        loop {
            let (mut stream, _) = tokio::select! {
                () = self.stop.cancelled() => return,
                accepted = listener.accept() => match accepted {
                    Ok(accepted) => accepted,
                    Err(_) => {
                        tokio::time::sleep(Duration::from_millis(50)).await;
                        continue;
                    }
                },
            };
            let daemon = Arc::clone(&self);
            tokio::spawn(async move {
                let limits = &daemon.shared.limits;
                let read = tokio::time::timeout(limits.handshake_timeout, http::read_head(&mut stream, 4096));
                let Ok(Ok((head, _))) = read.await else { return };
                let text = "text/plain; charset=utf-8";
                match (head.method.as_str(), head.path.split('?').next().unwrap_or_default()) {
                    ("GET", "/metrics") => {
                        let body = crate::metrics::render(&daemon.net().audit.metrics, &daemon.gauges());
                        http::respond(
                            &mut stream,
                            200,
                            "text/plain; version=0.0.4; charset=utf-8",
                            body.as_bytes(),
                            false,
                        )
                        .await;
                    }
                    ("GET", "/healthz") if daemon.draining.load(Ordering::Relaxed) => {
                        http::respond(&mut stream, 503, text, b"draining\n", false).await;
                    }
                    ("GET", "/healthz") => http::respond(&mut stream, 200, text, b"ok\n", false).await,
                    _ => http::respond(&mut stream, 404, text, b"GET /metrics or /healthz\n", false).await,
                }
            });
        }
    }

    fn net(&self) -> &crate::net::Net {
        &self.shared.net
    }

    /// The gauges now.
    fn gauges(&self) -> crate::metrics::Gauges {
        let identities = crate::lock(&self.places)
            .identities
            .iter()
            .map(|(identity, held)| (identity.name().to_owned(), held.sessions))
            .collect();
        let (networks, max_networks) = match &self.shared.private {
            Some(p) => {
                (self.shared.limits.max_networks - p.places.available_permits(), self.shared.limits.max_networks)
            }
            None => (0, 0),
        };
        crate::metrics::Gauges {
            sessions: self.open_sessions(),
            max_sessions: self.shared.limits.max_sessions,
            sockets: self.shared.max_sockets() - self.shared.sockets.available_permits(),
            max_sockets: self.shared.max_sockets(),
            networks,
            max_networks,
            draining: self.draining.load(Ordering::Relaxed),
            identities,
        }
    }

    /// Ends the sessions whose join link has been revoked or has expired: every [`RECHECK`].
    async fn recheck_links(self: Arc<Self>) {
        let mut tick = tokio::time::interval(RECHECK);
        loop {
            tokio::select! {
                () = self.stop.cancelled() => return,
                _ = tick.tick() => {}
            }
            let open: Vec<(Identity, CancellationToken)> = crate::lock(&self.places)
                .identities
                .iter()
                .filter(|(_, held)| !held.revoked.is_cancelled())
                .map(|(identity, held)| (identity.clone(), held.revoked.clone()))
                .collect();
            let valid = self.gate.still_valid(&open.iter().map(|(identity, _)| identity).collect::<Vec<_>>());
            for ((identity, revoked), valid) in open.iter().zip(valid) {
                if !valid {
                    tracing::info!(identity = identity.name(), "join link revoked or expired: closing its sessions");
                    revoked.cancel();
                }
            }
        }
    }

    async fn upgrade(self: Arc<Self>, mut stream: TcpStream, peer: SocketAddr, head: Head, rest: Vec<u8>) {
        let (accept, codec) = match http::check_upgrade(&head, &self.shared.net.policy) {
            Ok(agreed) => agreed,
            Err(refusal) => {
                if refusal.status == 403 {
                    self.audit_handshake(&head, &refusal);
                } else {
                    tracing::info!(%peer, status = refusal.status, reason = refusal.reason, "handshake refused");
                }
                return http::respond_refusal(&mut stream, &refusal).await;
            }
        };
        let identity = match self.gate.admit(&head, peer.ip(), http::offered_token(&head)) {
            Ok(identity) => identity,
            Err(refusal) => {
                self.audit_handshake(&head, &refusal);
                return http::respond_refusal(&mut stream, &refusal).await;
            }
        };
        let origin: OriginKey = head.header("origin").map(str::to_owned);
        let Ok(permit) = Arc::clone(&self.sessions).try_acquire_owned() else {
            let refusal = http::refuse(503, "the bridge has as many sessions as it allows");
            self.audit_handshake(&head, &Refusal { rule: "max_sessions", ..refusal });
            return http::respond_refusal(&mut stream, &refusal).await;
        };
        let (slot, revoked) = match &identity {
            // The whole class shares one origin: in a hosted daemon the count is per identity.
            Some(identity) => match self.identity_slot(identity) {
                Some((slot, revoked)) => (slot, revoked),
                None => {
                    let refusal = http::refuse(503, "you have as many sessions open as the bridge allows one person");
                    self.audit_handshake(&head, &Refusal { rule: "max_sessions_per_identity", ..refusal });
                    return http::respond_refusal(&mut stream, &refusal).await;
                }
            },
            None => match self.origin_slot(&origin) {
                Some(slot) => (slot, CancellationToken::new()),
                None => {
                    let refusal = http::refuse(503, "pages of this origin have as many sessions as the bridge allows");
                    self.audit_handshake(&head, &Refusal { rule: "max_sessions_per_origin", ..refusal });
                    return http::respond_refusal(&mut stream, &refusal).await;
                }
            },
        };
        if stream.write_all(http::switching_protocols(&accept, codec).as_bytes()).await.is_err() {
            return;
        }
        let _ = stream.set_nodelay(true);
        let ws = WebSocketStream::from_partially_read(stream, rest, Role::Server, Some(self.ws_config)).await;
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        tracing::info!(
            session = id,
            %peer,
            origin = origin.as_deref().unwrap_or("(none)"),
            identity = identity.as_ref().map_or("(none)", Identity::name),
            "handshake accepted"
        );
        let who = Who { origin, identity, revoked };
        session::run(ws, Arc::clone(&self.shared), id, who, codec, self.stop.clone()).await;
        drop(slot);
        drop(permit);
    }
}
