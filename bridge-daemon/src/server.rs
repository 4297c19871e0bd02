//! The daemon's port: accepting connections, the WebSocket handshake, and shutdown.

use crate::config::Config;
use crate::http::{self, Head, HeadError};
use crate::net::Net;
use crate::net::resolve::Resolver;
use crate::policy::Policy;
use crate::sandbox::Sandbox;
use crate::session::{self, Shared};
use bridge_protocol::params::HelloResult;
use bridge_protocol::{PROTOCOL_VERSION, SUBPROTOCOL};
use std::io;
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
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
/// How long shutdown waits for sessions to say goodbye.
const SHUTDOWN_GRACE: Duration = Duration::from_secs(10);

/// Daemon-wide state of one `serve` call.
struct Daemon {
    shared: Arc<Shared>,
    web_root: Option<PathBuf>,
    sessions: Arc<Semaphore>,
    next_session: AtomicU64,
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
    let labs = if config.labs { crate::labs::start(&stop, &tracker).await? } else { Default::default() };
    let hello = HelloResult {
        protocol: SUBPROTOCOL.to_owned(),
        protocol_version: PROTOCOL_VERSION,
        daemon: format!("bridge-daemon {}", env!("CARGO_PKG_VERSION")),
        limits: limits.for_client(),
        features,
        labs,
    };
    let policy = Policy::new(addr, &config.allowed_origins);
    tracing::info!(%addr, own_origin = %policy.own_origin(), unix_dir = ?sandbox.as_ref().map(|s| s.dir().to_path_buf()), "serving");
    let net = Net { policy, sandbox, resolver: Resolver::new(limits.dns_concurrency, limits.dns_timeout) };
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
        shared: Arc::new(Shared { net, limits, hello }),
        web_root: config.web_root.clone(),
        next_session: AtomicU64::new(1),
        stop,
        ws_config,
    });
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
                tracker.spawn(Arc::clone(&daemon).connection(stream, peer));
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
    tracing::info!("shutting down");
    drop(listener);
    daemon.stop.cancel();
    tracker.close();
    if tokio::time::timeout(SHUTDOWN_GRACE, tracker.wait()).await.is_err() {
        tracing::warn!("some sessions did not finish in time");
    }
    Ok(())
}

fn out_of_resources(e: &io::Error) -> bool {
    matches!(e.raw_os_error(), Some(libc::EMFILE | libc::ENFILE | libc::ENOBUFS | libc::ENOMEM))
}

impl Daemon {
    /// One TCP connection: a page request, or a WebSocket handshake that becomes a session.
    async fn connection(self: Arc<Self>, mut stream: TcpStream, peer: SocketAddr) {
        let limits = &self.shared.limits;
        let read =
            tokio::time::timeout(limits.handshake_timeout, http::read_head(&mut stream, limits.max_request_head_bytes));
        let (head, rest) = match read.await {
            Ok(Ok(parts)) => parts,
            Ok(Err(HeadError::Closed)) => return,
            Ok(Err(HeadError::TooLarge)) => {
                let refusal = http::Refusal { status: 431, reason: "the request head is too large" };
                return http::respond_refusal(&mut stream, &refusal).await;
            }
            Ok(Err(HeadError::Malformed)) => {
                let refusal = http::Refusal { status: 400, reason: "not an HTTP/1.1 request" };
                return http::respond_refusal(&mut stream, &refusal).await;
            }
            Err(_) => {
                tracing::debug!(%peer, "request head not complete within the handshake timeout");
                let refusal = http::Refusal { status: 408, reason: "the request took too long" };
                return http::respond_refusal(&mut stream, &refusal).await;
            }
        };
        let policy = &self.shared.net.policy;
        if let Err(refusal) = http::check_host(&head, policy) {
            tracing::info!(%peer, status = refusal.status, "request refused: Host");
            return http::respond_refusal(&mut stream, &refusal).await;
        }
        if head.wants_websocket() {
            self.upgrade(stream, peer, head, rest).await;
        } else {
            http::serve_static(&mut stream, &head, self.web_root.as_deref(), limits.max_static_file_bytes).await;
        }
    }

    async fn upgrade(self: Arc<Self>, mut stream: TcpStream, peer: SocketAddr, head: Head, rest: Vec<u8>) {
        let accept = match http::check_upgrade(&head, &self.shared.net.policy) {
            Ok(accept) => accept,
            Err(refusal) => {
                tracing::info!(%peer, status = refusal.status, reason = refusal.reason, "handshake refused");
                return http::respond_refusal(&mut stream, &refusal).await;
            }
        };
        let Ok(permit) = Arc::clone(&self.sessions).try_acquire_owned() else {
            tracing::warn!(%peer, "handshake refused: session limit reached");
            let refusal = http::Refusal { status: 503, reason: "the bridge has as many sessions as it allows" };
            return http::respond_refusal(&mut stream, &refusal).await;
        };
        if stream.write_all(http::switching_protocols(&accept).as_bytes()).await.is_err() {
            return;
        }
        let _ = stream.set_nodelay(true);
        let ws = WebSocketStream::from_partially_read(stream, rest, Role::Server, Some(self.ws_config)).await;
        let id = self.next_session.fetch_add(1, Ordering::Relaxed);
        tracing::info!(session = id, %peer, origin = head.header("origin").unwrap_or("(none)"), "handshake accepted");
        session::run(ws, Arc::clone(&self.shared), id, self.stop.clone()).await;
        drop(permit);
    }
}
