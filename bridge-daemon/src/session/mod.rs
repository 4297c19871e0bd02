//! One WebSocket session: its sockets, its requests and their responses.
//!
//! A session reads requests in order. Methods that answer at once (`socket`, `bind`, `listen`,
//! `close`, `getsockname`, `setsockopt`, `settimeout`, ...) run right there, so they take effect
//! before any later request is read. Methods that may wait (see `Method::may_block`) take one of
//! the session's in-flight permits and run elsewhere: socket I/O in the socket's read or write
//! [`Lane`](crate::lane), `select` and name resolution in their own task. Each takes the socket's
//! timeout mode when it is dispatched, as a Python call does when it starts.
//!
//! Responses go through one queue to the WebSocket writer, bounded in messages and in bytes. When
//! the page stops reading, the writer stops, the queue fills, operations wait to respond and new
//! blocking requests are refused once the in-flight limit is reached: nothing grows without bound.
//!
//! When the WebSocket closes, for whatever reason, every socket is closed (pending operations fail
//! with `EBADF`) and every socket file the session created is removed.
//!
//! # Organization
//!
//! | module | owns |
//! |---|---|
//! | this one | [`run`]: a session's life, reading requests in order, the liveness checks (ping, idle, write timeout, shutdown) and the end |
//! | `outbound` | answers on their way to the page: the byte allowance, the writer task, the write deadline |
//! | `dispatch` | a request's way to its handler: limits, immediate methods, socket lanes, `select` and lookups in tasks |
//! | `sockets` | the socket calls that change the session's table and the `own` set: `socket`, `bind`, `listen`, `accept`, `connect`, `close` |
//!
//! The core is generic over [`Ws`], any `Sink`/`Stream` of WebSocket messages, so the unit tests
//! (`tests`) drive sessions over channels on tokio's paused clock.

mod dispatch;
mod outbound;
mod sockets;
#[cfg(test)]
mod tests;

use outbound::{Outbound, SharedSink, write_loop};

use crate::error::{OpError, OpResult};
use crate::lock;
use crate::metrics::Metrics;
use crate::net::resolve::{DnsShare, Query, gethostname};
use crate::net::select::{Watch, Watched};
use crate::net::socket::Budget;
use crate::net::{BridgeSocket, Caller, Mode, Net, proto};
use crate::network::Network;
use crate::policy::Page;
use crate::policy::own::{OriginKey, OwnGuard};
use crate::rate::TokenBucket;
use crate::sandbox::CreatedFile;
use crate::table::{Entry, Slot, SocketTable};
use bridge_protocol::codec::{Frame, FrameRef};
use bridge_protocol::constants::{AF_UNIX, SOCK_DGRAM};
use bridge_protocol::errno::code::ENFILE;
use bridge_protocol::params::*;
use bridge_protocol::{Call, Codec, ErrorObject, Fd, Id, Method, Payload, code};
use futures_util::{FutureExt, Sink, SinkExt, Stream, StreamExt};
use serde::Serialize;
use std::panic::AssertUnwindSafe;
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;
use tokio::sync::{OwnedSemaphorePermit, Semaphore, mpsc, oneshot};
use tokio::time::Instant;
use tokio_tungstenite::tungstenite::Error as WsError;
use tokio_tungstenite::tungstenite::Message;
use tokio_tungstenite::tungstenite::protocol::CloseFrame;
use tokio_tungstenite::tungstenite::protocol::frame::coding::CloseCode;
use tokio_util::sync::CancellationToken;
use tracing::Instrument;

/// What a session runs on: a WebSocket's messages, both ways. The daemon gives it a
/// `tokio_tungstenite::WebSocketStream`; tests give it channels.
pub(crate) trait Ws:
    Sink<Message, Error = WsError> + Stream<Item = Result<Message, WsError>> + Send + 'static
{
}

impl<T> Ws for T where T: Sink<Message, Error = WsError> + Stream<Item = Result<Message, WsError>> + Send + 'static {}

/// Room a receive's response needs beyond its data: the envelope and a sender's address.
const RESPONSE_ALLOWANCE: usize = 512;

/// How long a closing session waits for its last responses and close frame to be written.
const FLUSH_GRACE: Duration = Duration::from_secs(5);

/// What every session shares: the network context, the limits, the daemon-wide socket allowance,
/// each origin's allowances, and the `hello` answer.
#[derive(Debug)]
pub(crate) struct Shared {
    pub(crate) net: Net,
    pub(crate) limits: crate::config::Limits,
    pub(crate) sockets: Arc<Semaphore>,
    /// The size of `sockets`.
    max_sockets: usize,
    /// Per origin, or per identity in a hosted daemon; the origins are the admitted ones and the
    /// identities those with a link or from the proxy, so the map stays small.
    pub(crate) shares: Mutex<std::collections::HashMap<ShareKey, Arc<Share>>>,
    pub(crate) hello: HelloResult,
    /// Private networks, when the daemon gives each session one.
    pub(crate) private: Option<PrivateNetworks>,
    /// Each identity's network, while one of its sessions holds it (a hosted daemon).
    identity_networks: Mutex<std::collections::HashMap<String, IdentityNetwork>>,
}

/// An identity's private network, if it still has one.
type IdentityNetwork = Arc<tokio::sync::Mutex<std::sync::Weak<Network>>>;

/// What a session's private network is made with.
#[derive(Debug)]
pub(crate) struct PrivateNetworks {
    /// The namespace hosts are made from.
    pub(crate) nursery: Arc<crate::netns::Netns>,
    pub(crate) bounds: crate::network::Bounds,
    /// `Limits::max_networks`.
    pub(crate) places: Arc<Semaphore>,
    /// Whether the lab services run in each network.
    pub(crate) labs: bool,
}

impl PrivateNetworks {
    /// A new network, or why there is none.
    async fn make(&self) -> Result<Network, String> {
        let Ok(place) = Arc::clone(&self.places).try_acquire_owned() else {
            return Err("the bridge holds as many private networks as it may; try again later".into());
        };
        Network::new(Arc::clone(&self.nursery), self.bounds, self.labs, place).await.map_err(|e| {
            tracing::warn!(error = %e, "could not make a private network");
            format!("the bridge could not make a private network: {e}")
        })
    }
}

/// Whose allowances a session draws on: its page's origin, or in a hosted daemon (where the whole
/// class shares one origin) its identity.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) enum ShareKey {
    Origin(OriginKey),
    Identity(String),
}

/// What the pages of one origin (or one identity) may hold together: sockets
/// (`max_sockets_per_origin` or `max_sockets_per_identity`, within the daemon's), TCP connections
/// to the lab services (`max_lab_connections_per_origin`), and name lookups (`dns_per_origin`).
#[derive(Debug)]
pub(crate) struct Share {
    sockets: Arc<Semaphore>,
    labs: Arc<Semaphore>,
    dns: Arc<Semaphore>,
    /// Whose they are, in refusals' words: "the pages of this site", "your pages".
    whose: &'static str,
}

impl Shared {
    pub(crate) fn new(
        net: Net,
        limits: crate::config::Limits,
        max_sockets: usize,
        hello: HelloResult,
        private: Option<PrivateNetworks>,
    ) -> Shared {
        Shared {
            net,
            limits,
            sockets: Arc::new(Semaphore::new(max_sockets)),
            max_sockets,
            shares: Mutex::default(),
            hello,
            private,
            identity_networks: Mutex::default(),
        }
    }

    /// The private network of a new session: the one its identity's other sessions have (a
    /// student's two tabs are on the same computers), else a new one.
    async fn network_for(
        &self,
        private: &PrivateNetworks,
        identity: Option<&crate::access::Identity>,
    ) -> Result<Arc<Network>, String> {
        let Some(identity) = identity else { return private.make().await.map(Arc::new) };
        let cell = Arc::clone(lock(&self.identity_networks).entry(identity.name().to_owned()).or_default());
        // Held while a network is made, so two tabs opening at once get one network.
        let mut known = cell.lock().await;
        if let Some(network) = known.upgrade() {
            return Ok(network);
        }
        let network = Arc::new(private.make().await?);
        *known = Arc::downgrade(&network);
        Ok(network)
    }

    /// Sockets all sessions together may hold (`max_sockets_total`, within the process's files).
    pub(crate) fn max_sockets(&self) -> usize {
        self.max_sockets
    }

    /// The allowances of `key`'s pages. Clients that send no `Origin` (programs holding the
    /// token, not pages) are bound only by the daemon-wide limits, as they count only towards
    /// `max_sessions`.
    fn share_of(&self, key: &ShareKey) -> Arc<Share> {
        let mut shares = lock(&self.shares);
        let l = &self.limits;
        let share = shares.entry(key.clone()).or_insert_with(|| {
            let half = self.max_sockets.div_ceil(2);
            let (sockets, labs, dns, whose) = match key {
                ShareKey::Origin(Some(_)) => (
                    l.max_sockets_per_origin.min(half).max(1),
                    l.max_lab_connections_per_origin,
                    l.dns_per_origin,
                    "the pages of this site",
                ),
                ShareKey::Origin(None) => {
                    (self.max_sockets, Semaphore::MAX_PERMITS, Semaphore::MAX_PERMITS, "clients with no page")
                }
                ShareKey::Identity(_) => (
                    l.max_sockets_per_identity.min(half).max(1),
                    l.max_lab_connections_per_origin,
                    l.dns_per_origin,
                    "your pages",
                ),
            };
            Arc::new(Share {
                sockets: Arc::new(Semaphore::new(sockets)),
                labs: Arc::new(Semaphore::new(labs)),
                dns: Arc::new(Semaphore::new(dns)),
                whose,
            })
        });
        Arc::clone(share)
    }
}

/// One session.
struct Session {
    shared: Arc<Shared>,
    /// How messages are encoded, as agreed in the handshake.
    codec: Codec,
    /// The page's side of the policy.
    page: Page,
    table: Mutex<SocketTable>,
    /// Socket files the session created, and their places in the `own` set.
    files: Mutex<Vec<(CreatedFile, OwnGuard)>>,
    /// The session's share of the resolver (`Limits::dns_per_session` within its origin's).
    dns: DnsShare,
    /// Its origin's (or identity's) allowances.
    origin: Arc<Share>,
    /// Cancelled when the session's join link is revoked or expires.
    revoked: CancellationToken,
    /// `Limits::rpc_rate`.
    requests: Mutex<TokenBucket>,
    /// `Limits::connect_rate`.
    connects: Mutex<TokenBucket>,
    out: mpsc::Sender<Outbound>,
    /// The writing half, for answering directly when the writer task has nothing queued.
    sink: SharedSink,
    /// The outbound byte allowance (`Limits::outbound_bytes`).
    out_bytes: Arc<Semaphore>,
    inflight: Arc<Semaphore>,
    /// `Limits::max_inflight_bytes`: the request bytes of blocking requests in flight.
    inflight_bytes: Arc<Semaphore>,
    /// Its private network; `None` when the daemon runs shared.
    network: Option<Arc<Network>>,
    /// Cancelled when the session ends: stops its `select` and resolver tasks.
    done: CancellationToken,
    /// Cancelled when an answer could not be handed to the WebSocket within `write_timeout`: the
    /// page has stopped reading, and the session ends.
    stalled: CancellationToken,
    /// `recv`s sent ahead now queued or waiting (they hold no in-flight place, but the session is
    /// not idle while one waits).
    reading_ahead: Arc<AtomicUsize>,
}

/// What a blocking request holds until it has answered: its place under `max_inflight`, its bytes
/// under `max_inflight_bytes`, and (for a receive) the room its result will take on the way out.
/// (A `recv` sent ahead holds no place: see `read_ahead`.)
struct InFlight {
    _count: Option<OwnedSemaphorePermit>,
    _bytes: Option<OwnedSemaphorePermit>,
    room: Room,
}

/// Where a receive leaves the outbound room it took for its data, for its response to use.
type Room = Arc<Mutex<Option<OwnedSemaphorePermit>>>;

/// When the session last heard from its page, last had a request or work in flight, and pinged.
struct Liveness {
    heard: Instant,
    asked: Instant,
    pinged: Option<Instant>,
}

/// The close reason when the daemon stops.
const SHUTTING_DOWN: &str = "the bridge daemon is shutting down";

/// The close reason when the session's join link is taken back.
const REVOKED: &str = "this session's join link was revoked or has expired: ask your teacher for a new one";

/// Which lane of a socket an operation runs in.
#[derive(Clone, Copy)]
enum Direction {
    Read,
    Write,
}

/// Who a session is: its page's origin and, in a hosted daemon, its identity, with the token that
/// ends it if that identity's join link is revoked.
pub(crate) struct Who {
    pub(crate) origin: OriginKey,
    pub(crate) identity: Option<crate::access::Identity>,
    pub(crate) revoked: CancellationToken,
}

impl Who {
    /// A page of `origin`, with no identity (a daemon that is not hosted).
    #[cfg(test)]
    pub(crate) fn page(origin: OriginKey) -> Who {
        Who { origin, identity: None, revoked: CancellationToken::new() }
    }
}

/// Runs a session of a page until the WebSocket closes or `shutdown` fires, then releases
/// everything it held.
pub(crate) async fn run(
    ws: impl Ws,
    shared: Arc<Shared>,
    id: u64,
    who: Who,
    codec: Codec,
    shutdown: CancellationToken,
) {
    let Who { origin, identity, revoked } = who;
    let span = tracing::info_span!("session", id);
    async move {
        tracing::info!("session opened");
        let (sink, stream) = ws.split();
        let sink: SharedSink = Arc::new(tokio::sync::Mutex::new(Box::pin(sink)));
        let (out, rx) = mpsc::channel(shared.limits.outbound_queue);
        let stalled = CancellationToken::new();
        let writer = tokio::spawn(
            write_loop(Arc::clone(&sink), rx, shared.limits.write_timeout, stalled.clone()).in_current_span(),
        );
        let abort_writer = writer.abort_handle();
        let network = match &shared.private {
            None => None,
            Some(private) => match shared.network_for(private, identity.as_ref()).await {
                Ok(network) => Some(network),
                Err(why) => {
                    let close = close_frame(CloseCode::Again, &why);
                    let _ = out.send(Outbound { message: Message::Close(close), _bytes: None }).await;
                    drop(out);
                    if tokio::time::timeout(FLUSH_GRACE, writer).await.is_err() {
                        abort_writer.abort();
                    }
                    return;
                }
            },
        };
        let limits = &shared.limits;
        let key = match &identity {
            Some(identity) => ShareKey::Identity(identity.name().to_owned()),
            None => ShareKey::Origin(origin.clone()),
        };
        let share = shared.share_of(&key);
        let session = Arc::new(Session {
            codec,
            page: shared.net.policy.page(id, origin, identity.map(|i| i.name().to_owned())),
            table: Mutex::new(SocketTable::new(limits.max_sockets_per_session)),
            files: Mutex::new(Vec::new()),
            dns: DnsShare { session: Arc::new(Semaphore::new(limits.dns_per_session)), origin: Arc::clone(&share.dns) },
            origin: share,
            revoked,
            requests: Mutex::new(TokenBucket::new(limits.rpc_rate, limits.rpc_burst)),
            connects: Mutex::new(TokenBucket::new(limits.connect_rate, limits.connect_burst)),
            out: out.clone(),
            sink,
            out_bytes: Arc::new(Semaphore::new(shared.limits.outbound_bytes)),
            inflight: Arc::new(Semaphore::new(shared.limits.max_inflight_per_session)),
            inflight_bytes: Arc::new(Semaphore::new(shared.limits.max_inflight_bytes)),
            network,
            done: CancellationToken::new(),
            stalled,
            reading_ahead: Arc::default(),
            shared,
        });
        // A panic while serving the session ends this session, never the daemon: its sockets are
        // released below as after any other end.
        let metrics = &session.net().audit.metrics;
        metrics.sessions_opened.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let close = AssertUnwindSafe(session.read_loop(stream, &shutdown)).catch_unwind().await.unwrap_or_else(|_| {
            tracing::error!("the session failed unexpectedly (a panic); closing it");
            Metrics::add(&session.net().audit.metrics.session_errors, 1);
            close_frame(CloseCode::Error, "internal error in the bridge; this session is closed")
        });
        session.teardown().await;
        drop(session);
        let finish = async {
            let _ = out.send(Outbound { message: Message::Close(close), _bytes: None }).await;
            drop(out);
            let _ = writer.await;
        };
        if tokio::time::timeout(FLUSH_GRACE, finish).await.is_err() {
            abort_writer.abort();
        }
        tracing::info!("session closed");
    }
    .instrument(span)
    .await;
}

fn close_frame(code: CloseCode, reason: &str) -> Option<CloseFrame> {
    Some(CloseFrame { code, reason: reason.into() })
}

impl Session {
    fn table(&self) -> MutexGuard<'_, SocketTable> {
        lock(&self.table)
    }

    fn caller(&self) -> Caller<'_> {
        Caller { page: &self.page, dns: &self.dns, network: self.network.as_deref() }
    }

    /// Whether any blocking operation is in flight.
    fn busy(&self) -> bool {
        self.inflight.available_permits() < self.shared.limits.max_inflight_per_session
            || self.reading_ahead.load(Ordering::Relaxed) > 0
    }

    fn entry(&self, fd: Fd) -> OpResult<Entry> {
        self.table().get(fd)
    }

    fn net(&self) -> &Net {
        &self.shared.net
    }

    /// Reads requests until the page closes, goes quiet past `pong_timeout` after a ping, sits idle
    /// (no request, nothing in flight) past `idle_timeout`, stops reading answers for
    /// `write_timeout`, or the daemon shuts down.
    ///
    /// Requests are handled one at a time, in order. Most finish at once; one that waits (to hand
    /// its answer to a page that does not read it) is raced against the same checks, so no page can
    /// hold its session, or the daemon's shutdown, by not reading.
    async fn read_loop(
        self: &Arc<Self>,
        mut stream: impl Stream<Item = Result<Message, WsError>> + Unpin,
        shutdown: &CancellationToken,
    ) -> Option<CloseFrame> {
        let limits = &self.shared.limits;
        let period = limits.ping_interval.min(limits.pong_timeout).min(limits.idle_timeout) / 4;
        let mut tick = tokio::time::interval(period.max(Duration::from_millis(10)));
        tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        let mut live = Liveness { heard: Instant::now(), asked: Instant::now(), pinged: None };
        loop {
            let msg = tokio::select! {
                biased;
                () = shutdown.cancelled() => return close_frame(CloseCode::Away, SHUTTING_DOWN),
                () = self.revoked.cancelled() => return close_frame(CloseCode::Policy, REVOKED),
                () = self.stalled.cancelled() => return self.stall(),
                msg = stream.next() => msg,
                _ = tick.tick() => match self.check(&mut live, false) {
                    Some(close) => return close,
                    None => continue,
                },
            };
            live.heard = Instant::now();
            live.pinged = None;
            if let Some(Ok(m)) = &msg {
                Metrics::add(&self.net().audit.metrics.bytes_in, m.len());
            }
            let frame = match &msg {
                None | Some(Ok(Message::Close(_))) => return None,
                Some(Ok(Message::Text(text))) => FrameRef::Text(text.as_str()),
                Some(Ok(Message::Binary(bytes))) => FrameRef::Binary(bytes),
                Some(Ok(_)) => continue,
                Some(Err(WsError::Capacity(_))) => {
                    tracing::info!("message over the hard size limit; closing");
                    return close_frame(CloseCode::Size, "message too big for this bridge");
                }
                Some(Err(WsError::Protocol(e))) => {
                    tracing::info!(error = %e, "WebSocket protocol error; closing");
                    return close_frame(CloseCode::Protocol, "WebSocket protocol error");
                }
                Some(Err(e)) => {
                    tracing::debug!(error = %e, "WebSocket read failed");
                    return None;
                }
            };
            live.asked = live.heard;
            let request = self.on_request(frame);
            tokio::pin!(request);
            loop {
                tokio::select! {
                    biased;
                    () = &mut request => break,
                    () = shutdown.cancelled() => return close_frame(CloseCode::Away, SHUTTING_DOWN),
                    () = self.revoked.cancelled() => return close_frame(CloseCode::Policy, REVOKED),
                    () = self.stalled.cancelled() => return self.stall(),
                    _ = tick.tick() => if let Some(close) = self.check(&mut live, true) {
                        return close;
                    },
                }
            }
        }
    }

    /// The periodic checks: a ping unanswered past `pong_timeout`, or idle past `idle_timeout`,
    /// ends the session; a page silent for `ping_interval` is pinged. `waiting`: a request is still
    /// being handled (the session is not idle).
    fn check(&self, live: &mut Liveness, waiting: bool) -> Option<Option<CloseFrame>> {
        let limits = &self.shared.limits;
        let now = Instant::now();
        if live.pinged.is_some_and(|at| now - at >= limits.pong_timeout) {
            tracing::info!("no answer to a ping; closing");
            return Some(close_frame(CloseCode::Policy, "the page did not answer the bridge's ping"));
        }
        if waiting || self.busy() {
            live.asked = now;
        } else if now - live.asked >= limits.idle_timeout {
            tracing::info!("idle; closing");
            return Some(close_frame(CloseCode::Away, "the session was idle past the bridge's idle_timeout"));
        }
        if live.pinged.is_none() && now - live.heard >= limits.ping_interval {
            let ping = Outbound { message: Message::Ping(Default::default()), _bytes: None };
            // A full queue means the page is not reading: its pong will not come.
            let _ = self.out.try_send(ping);
            live.pinged = Some(now);
        }
        None
    }

    /// Ends a session whose page stopped reading: an audit line, and close code 1008.
    fn stall(&self) -> Option<CloseFrame> {
        let timeout = self.shared.limits.write_timeout;
        let reason = format!(
            "the page did not read the bridge's answers for {} s (write_timeout); the session is closed",
            timeout.as_secs_f64()
        );
        let event = crate::audit::Event {
            session: Some(self.page.session),
            origin: self.page.origin.as_deref(),
            identity: self.page.identity.as_deref(),
            op: "write",
            target: String::new(),
            resolved: None,
            rule: "write_timeout".into(),
            reason,
        };
        self.net().audit.session_refusal(&event, &self.page.audit_lines);
        Metrics::add(&self.net().audit.metrics.session_errors, 1);
        close_frame(CloseCode::Policy, "the page did not read the bridge's answers within write_timeout")
    }

    /// Closes every socket and removes every socket file of the session.
    async fn teardown(&self) {
        self.done.cancel();
        // Answers still waiting for room will never be read: they give up now.
        self.out_bytes.close();
        let entries = self.table().drain();
        let count = entries.len();
        futures_util::future::join_all(entries.iter().map(Entry::close)).await;
        let files = std::mem::take(&mut *lock(&self.files));
        if let Some(sandbox) = &self.net().sandbox {
            for (file, _own) in &files {
                sandbox.remove(file);
            }
        }
        // A network of the session's own stops now; one an identity's sessions share stops with
        // the last of them (when it is dropped).
        if let Some(network) = &self.network
            && self.page.identity.is_none()
        {
            network.close();
        }
        tracing::debug!(sockets = count, files = files.len(), "session resources released");
    }
}
