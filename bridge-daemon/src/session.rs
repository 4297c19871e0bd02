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

use crate::error::{OpError, OpResult};
use crate::lock;
use crate::net::resolve::{DnsShare, Query, gethostname};
use crate::net::select::{Watch, Watched};
use crate::net::socket::Budget;
use crate::net::{BridgeSocket, Caller, Mode, Net, proto};
use crate::policy::Page;
use crate::policy::own::{OriginKey, OwnGuard};
use crate::rate::TokenBucket;
use crate::sandbox::CreatedFile;
use crate::table::{Entry, Slot, SocketTable};
use bridge_protocol::codec::{Frame, FrameRef};
use bridge_protocol::constants::{AF_INET, AF_UNIX, SOCK_DGRAM};
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
    /// Per origin; the origins are the admitted ones, so the map stays small.
    pub(crate) origins: Mutex<std::collections::HashMap<OriginKey, Arc<OriginShare>>>,
    pub(crate) hello: HelloResult,
}

/// What the pages of one origin may hold together: sockets (`max_sockets_per_origin`, within the
/// daemon's), TCP connections to the lab services (`max_lab_connections_per_origin`), and name
/// lookups (`dns_per_origin`).
#[derive(Debug)]
pub(crate) struct OriginShare {
    sockets: Arc<Semaphore>,
    labs: Arc<Semaphore>,
    dns: Arc<Semaphore>,
}

impl Shared {
    pub(crate) fn new(net: Net, limits: crate::config::Limits, max_sockets: usize, hello: HelloResult) -> Shared {
        Shared {
            net,
            limits,
            sockets: Arc::new(Semaphore::new(max_sockets)),
            max_sockets,
            origins: Mutex::default(),
            hello,
        }
    }

    /// The allowances of `origin`'s pages. Clients that send no `Origin` (programs holding the
    /// token, not pages) are bound only by the daemon-wide limits, as they count only towards
    /// `max_sessions`.
    fn share_of(&self, origin: &OriginKey) -> Arc<OriginShare> {
        let mut origins = lock(&self.origins);
        let share = origins.entry(origin.clone()).or_insert_with(|| {
            let (sockets, labs, dns) = match origin {
                Some(_) => (
                    self.limits.max_sockets_per_origin.min(self.max_sockets.div_ceil(2)).max(1),
                    self.limits.max_lab_connections_per_origin,
                    self.limits.dns_per_origin,
                ),
                None => (self.max_sockets, Semaphore::MAX_PERMITS, Semaphore::MAX_PERMITS),
            };
            Arc::new(OriginShare {
                sockets: Arc::new(Semaphore::new(sockets)),
                labs: Arc::new(Semaphore::new(labs)),
                dns: Arc::new(Semaphore::new(dns)),
            })
        });
        Arc::clone(share)
    }
}

/// A message for the writer, holding its share of the session's outbound byte allowance until the
/// writer has handed it to the WebSocket.
struct Outbound {
    message: Message,
    _bytes: Option<OwnedSemaphorePermit>,
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
    /// Its origin's allowances.
    origin: Arc<OriginShare>,
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
/// (A `recv` sent ahead holds no place: see [`Entry::begin_ahead`].)
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

/// Which lane of a socket an operation runs in.
#[derive(Clone, Copy)]
enum Direction {
    Read,
    Write,
}

/// Runs a session of a page of `origin` until the WebSocket closes or `shutdown` fires, then
/// releases everything it held.
pub(crate) async fn run(
    ws: impl Ws,
    shared: Arc<Shared>,
    id: u64,
    origin: OriginKey,
    codec: Codec,
    shutdown: CancellationToken,
) {
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
        let limits = &shared.limits;
        let share = shared.share_of(&origin);
        let session = Arc::new(Session {
            codec,
            page: shared.net.policy.page(id, origin),
            table: Mutex::new(SocketTable::new(limits.max_sockets_per_session)),
            files: Mutex::new(Vec::new()),
            dns: DnsShare { session: Arc::new(Semaphore::new(limits.dns_per_session)), origin: Arc::clone(&share.dns) },
            origin: share,
            requests: Mutex::new(TokenBucket::new(limits.rpc_rate, limits.rpc_burst)),
            connects: Mutex::new(TokenBucket::new(limits.connect_rate, limits.connect_burst)),
            out: out.clone(),
            sink,
            out_bytes: Arc::new(Semaphore::new(shared.limits.outbound_bytes)),
            inflight: Arc::new(Semaphore::new(shared.limits.max_inflight_per_session)),
            inflight_bytes: Arc::new(Semaphore::new(shared.limits.max_inflight_bytes)),
            done: CancellationToken::new(),
            stalled,
            reading_ahead: Arc::default(),
            shared,
        });
        // A panic while serving the session ends this session, never the daemon: its sockets are
        // released below as after any other end.
        let close = AssertUnwindSafe(session.read_loop(stream, &shutdown)).catch_unwind().await.unwrap_or_else(|_| {
            tracing::error!("the session failed unexpectedly (a panic); closing it");
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

/// The session's half of the WebSocket that writes, shared by the writer task and whoever answers
/// when the writer is idle.
type SharedSink = Arc<tokio::sync::Mutex<Pin<Box<dyn Sink<Message, Error = WsError> + Send>>>>;

/// Writes queued messages, batching whatever is queued into one flush. Stops after a close frame,
/// or when a write does not finish within `write_timeout` (the page has stopped reading: `stalled`
/// is cancelled, and the session ends).
async fn write_loop(
    sink: SharedSink,
    mut rx: mpsc::Receiver<Outbound>,
    deadline: Duration,
    stalled: CancellationToken,
) {
    let write = async {
        'outer: while let Some(first) = rx.recv().await {
            let mut sink = sink.lock().await;
            let mut next = Some(first);
            while let Some(out) = next.take() {
                let closing = matches!(out.message, Message::Close(_));
                // The byte allowance is returned once tungstenite holds the message (its own buffer
                // is bounded by max_write_buffer_size).
                match tokio::time::timeout(deadline, sink.feed(out.message)).await {
                    Ok(Ok(())) if !closing => {}
                    Ok(_) => break 'outer,
                    Err(_) => return Err(()),
                }
                next = rx.try_recv().ok();
            }
            match tokio::time::timeout(deadline, sink.flush()).await {
                Ok(Ok(())) => {}
                Ok(Err(_)) => break,
                Err(_) => return Err(()),
            }
        }
        Ok(())
    };
    if write.await.is_err() {
        stalled.cancel();
        return;
    }
    let _ = tokio::time::timeout(deadline, async { sink.lock().await.close().await }).await;
}

fn close_frame(code: CloseCode, reason: &str) -> Option<CloseFrame> {
    Some(CloseFrame { code, reason: reason.into() })
}

impl Session {
    fn table(&self) -> MutexGuard<'_, SocketTable> {
        lock(&self.table)
    }

    fn caller(&self) -> Caller<'_> {
        Caller { page: &self.page, dns: &self.dns }
    }

    /// The outbound room a receive of up to `n` bytes takes: its response's size at most.
    fn room_for(&self, n: usize) -> Budget<'_> {
        let data = match self.codec {
            Codec::Json => bridge_protocol::Payload::base64_len(n),
            Codec::Msgpack => n,
        };
        let response = data + RESPONSE_ALLOWANCE;
        Budget { room: &self.out_bytes, permits: self.share(response) }
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
                () = self.stalled.cancelled() => return self.stall(),
                msg = stream.next() => msg,
                _ = tick.tick() => match self.check(&mut live, false) {
                    Some(close) => return close,
                    None => continue,
                },
            };
            live.heard = Instant::now();
            live.pinged = None;
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
        self.net().audit.refusal(&crate::audit::Event {
            session: Some(self.page.session),
            origin: self.page.origin.as_deref(),
            op: "write",
            target: String::new(),
            resolved: None,
            rule: "write_timeout".into(),
            reason,
        });
        close_frame(CloseCode::Policy, "the page did not read the bridge's answers within write_timeout")
    }

    async fn on_request(self: &Arc<Self>, frame: FrameRef<'_>) {
        let limit = self.shared.limits.max_message_bytes;
        if frame.len() > limit {
            let err = ErrorObject::new(
                code::LIMIT_EXCEEDED,
                format!("a message of {} bytes is over this bridge's max_message_bytes ({limit})", frame.len()),
            );
            return self.send(self.codec.encode_error(None, &err)).await;
        }
        match self.codec.decode_request(frame) {
            Ok(request) if !lock(&self.requests).try_take() => {
                let rate = self.shared.limits.rpc_rate;
                let why = format!("too many requests: this bridge allows {rate} per second per session (rpc_rate)");
                self.respond::<()>(request.id, Err(OpError::Limit(why))).await;
            }
            Ok(request) => {
                self.give_way(&request.call);
                self.dispatch(request.id, request.call, frame.len()).await;
            }
            // A well-formed notification (no id) of an unknown method gets no answer, as JSON-RPC
            // has it; a message that cannot be read as a request gets one, with a null id.
            Err(bad) if bad.id.is_none() && bad.error.code == code::METHOD_NOT_FOUND => {
                tracing::debug!("a notification of an unknown method");
            }
            Err(bad) => self.send(self.codec.encode_error(bad.id.as_ref(), &bad.error)).await,
        }
    }

    /// A `recv` sent ahead gives way to any later request naming its socket, except a send (the
    /// write lane's calls neither read nor change how reads behave).
    fn give_way(&self, call: &Call) {
        let give_way = |fd: Fd| {
            if let Ok(entry) = self.entry(fd) {
                entry.give_way();
            }
        };
        match call {
            Call::Send(_) | Call::Sendall(_) | Call::Sendto(_) => {}
            Call::Recv(p) if p.ahead => {}
            Call::Select(p) => p.rlist.iter().chain(&p.wlist).chain(&p.xlist).for_each(|&fd| give_way(fd)),
            Call::Accept(FdParams { fd })
            | Call::Close(FdParams { fd })
            | Call::Getsockname(FdParams { fd })
            | Call::Getpeername(FdParams { fd })
            | Call::Bind(AddressParams { fd, .. })
            | Call::Connect(AddressParams { fd, .. })
            | Call::Listen(ListenParams { fd, .. })
            | Call::Recv(RecvParams { fd, .. })
            | Call::Recvfrom(RecvParams { fd, .. })
            | Call::Shutdown(ShutdownParams { fd, .. })
            | Call::Setsockopt(SetsockoptParams { fd, .. })
            | Call::Getsockopt(GetsockoptParams { fd, .. })
            | Call::Settimeout(SettimeoutParams { fd, .. })
            | Call::Setblocking(SetblockingParams { fd, .. }) => give_way(*fd),
            Call::Hello(_) | Call::Socket(_) | Call::Getaddrinfo(_) | Call::Gethostbyname(_) | Call::Gethostname(_) => {
            }
        }
    }

    /// A message's share of the outbound allowance.
    fn share(&self, len: usize) -> u32 {
        u32::try_from(len.clamp(1, self.shared.limits.outbound_bytes)).unwrap_or(u32::MAX)
    }

    async fn send(&self, frame: Frame) {
        self.send_in(frame, None).await;
    }

    /// Queues a message for the writer, in `room` taken earlier if given (grown or trimmed to the
    /// message's share), else in room taken now. A message that cannot be handed over within
    /// `write_timeout` (the page has stopped reading) is dropped and the session ends.
    async fn send_in(&self, frame: Frame, room: Option<OwnedSemaphorePermit>) {
        let deadline = self.shared.limits.write_timeout;
        if tokio::time::timeout(deadline, self.hand_over(frame, room)).await.is_err() {
            self.stalled.cancel();
        }
    }

    async fn hand_over(&self, frame: Frame, room: Option<OwnedSemaphorePermit>) {
        let share = self.share(frame.len());
        let bytes = match room {
            Some(mut room) => {
                let have = room.num_permits() as u32;
                if have > share {
                    drop(room.split((have - share) as usize));
                } else if have < share {
                    let Ok(more) = Arc::clone(&self.out_bytes).acquire_many_owned(share - have).await else { return };
                    room.merge(more);
                }
                room
            }
            None => {
                let Ok(bytes) = Arc::clone(&self.out_bytes).acquire_many_owned(share).await else { return };
                bytes
            }
        };
        let message = match frame {
            Frame::Text(text) => Message::text(text),
            Frame::Binary(bytes) => Message::binary(bytes),
        };
        // With nothing queued for the writer, write here: the answer leaves without waking another
        // task. Otherwise queue it behind the others.
        if self.out.capacity() == self.out.max_capacity()
            && let Ok(mut sink) = self.sink.try_lock()
        {
            let _ = sink.send(message).await;
            return;
        }
        // Fails only when the writer has gone, i.e. the session is closing.
        let _ = self.out.send(Outbound { message, _bytes: Some(bytes) }).await;
    }

    async fn respond<R: Serialize + 'static>(&self, id: Option<Id>, result: OpResult<R>) {
        self.respond_in(id, result, None).await;
    }

    async fn respond_in<R: Serialize + 'static>(
        &self,
        id: Option<Id>,
        result: OpResult<R>,
        room: Option<OwnedSemaphorePermit>,
    ) {
        let Some(id) = id else {
            if let Err(e) = result {
                tracing::debug!(error = %e, "a notification failed");
            }
            return;
        };
        let frame = match &result {
            Ok(value) => self.codec.encode_result(&id, value),
            Err(e) => self.codec.encode_error(Some(&id), &e.to_error_object()),
        };
        self.send_in(frame, room).await;
    }

    /// Runs a request of `len` bytes: at once, or (a blocking method) under the in-flight limits.
    async fn dispatch(self: &Arc<Self>, id: Option<Id>, call: Call, len: usize) {
        let method = call.method();
        if !method.may_block() {
            return self.immediate(id, call).await;
        }
        if let Call::Recv(RecvParams { ahead: true, .. }) = call {
            return self.blocking(id, call, InFlight { _count: None, _bytes: None, room: Room::default() }).await;
        }
        let limits = &self.shared.limits;
        let Ok(count) = Arc::clone(&self.inflight).try_acquire_owned() else {
            let max = limits.max_inflight_per_session;
            let why = format!("too many requests in flight: max_inflight is {max}; wait for responses first");
            return self.respond::<()>(id, Err(OpError::Limit(why))).await;
        };
        let cost = u32::try_from(len.clamp(1, limits.max_inflight_bytes)).unwrap_or(u32::MAX);
        let Ok(bytes) = Arc::clone(&self.inflight_bytes).try_acquire_many_owned(cost) else {
            let max = limits.max_inflight_bytes;
            let why = format!("too much data in flight: max_inflight_bytes is {max}; wait for responses first");
            return self.respond::<()>(id, Err(OpError::Limit(why))).await;
        };
        self.blocking(id, call, InFlight { _count: Some(count), _bytes: Some(bytes), room: Room::default() }).await;
    }

    /// Methods that answer at once, in arrival order.
    async fn immediate(self: &Arc<Self>, id: Option<Id>, call: Call) {
        match call {
            Call::Hello(_) => {
                let hello = HelloResult { protocol: self.codec.subprotocol().to_owned(), ..self.shared.hello.clone() };
                self.respond(id, Ok(hello)).await;
            }
            Call::Socket(p) => self.respond(id, self.socket(p)).await,
            Call::Bind(p) => self.respond(id, self.bind(p).await).await,
            Call::Listen(p) => self.respond(id, self.listen(p).await).await,
            Call::Shutdown(p) => {
                self.respond(id, self.with_socket(p.fd, async |s| s.shutdown(p.how).await).await).await
            }
            Call::Close(p) => self.respond(id, self.close(p.fd).await).await,
            Call::Getsockname(p) => {
                let r = self.with_socket(p.fd, async |s| s.local_addr().await).await;
                self.respond(id, r.map(|a| self.net().address_or_empty(&a))).await;
            }
            Call::Getpeername(p) => {
                let r = self.with_socket(p.fd, async |s| s.peer_addr().await).await;
                self.respond(id, r.map(|a| self.net().address_or_empty(&a))).await;
            }
            Call::Setsockopt(p) => {
                let r = self.with_socket(p.fd, async |s| s.setsockopt(p.level, p.optname, &p.value).await).await;
                self.respond(id, r).await;
            }
            Call::Getsockopt(p) => {
                let r = self.with_socket(p.fd, async |s| s.getsockopt(p.level, p.optname, p.buflen).await).await;
                self.respond(id, r).await;
            }
            Call::Settimeout(p) => {
                let mode =
                    Mode::from_timeout(p.timeout).map_err(|why| OpError::Params { method: Method::Settimeout, why });
                let r = match mode {
                    Ok(mode) => self.with_socket(p.fd, async |s| s.set_mode(mode).await).await,
                    Err(e) => Err(e),
                };
                self.respond(id, r).await;
            }
            Call::Setblocking(p) => {
                let mode = if p.flag { Mode::Blocking } else { Mode::NonBlocking };
                self.respond(id, self.with_socket(p.fd, async |s| s.set_mode(mode).await).await).await;
            }
            Call::Gethostname(_) => self.respond(id, gethostname()).await,
            other => {
                tracing::error!(method = %other.method(), "a blocking method reached the immediate path");
                self.respond::<()>(id, Err(OpError::Internal("misrouted method"))).await;
            }
        }
    }

    /// Methods that may wait, each holding an in-flight permit until it has answered.
    async fn blocking(self: &Arc<Self>, id: Option<Id>, call: Call, permit: InFlight) {
        let max_payload = self.shared.limits.max_payload_bytes;
        let clamp = |bufsize: u64| usize::try_from(bufsize).unwrap_or(usize::MAX).min(max_payload);
        if let Call::Recv(RecvParams { bufsize, .. }) | Call::Recvfrom(RecvParams { bufsize, .. }) = &call
            && i64::try_from(*bufsize).is_err()
        {
            // Python takes bufsize as a C ssize_t (OverflowError beyond it).
            drop(permit);
            let error = OpError::Params { method: call.method(), why: "bufsize must fit in a C ssize_t" };
            return self.respond::<()>(id, Err(error)).await;
        }
        match call {
            Call::Accept(p) => {
                self.queue(id, permit, p.fd, Direction::Read, move |s, e, mode| async move { s.accept(e, mode).await })
                    .await
            }
            Call::Recv(p) => {
                let n = clamp(p.bufsize);
                let room = Arc::clone(&permit.room);
                let ahead = match self.entry(p.fd) {
                    Ok(entry) if p.ahead => match entry.begin_ahead(&self.reading_ahead) {
                        Ok(ahead) => Some(ahead),
                        Err(e) => return self.respond::<()>(id, Err(e)).await,
                    },
                    _ => None,
                };
                self.queue(id, permit, p.fd, Direction::Read, move |s, e, mode| async move {
                    let recv = e.socket.recv(n, p.flags, mode, Some(s.room_for(n)));
                    let (data, held) = match ahead {
                        Some(ahead) => ahead.run(recv).await?,
                        None => recv.await?,
                    };
                    *lock(&room) = held;
                    Ok(Payload(data))
                })
                .await
            }
            Call::Recvfrom(p) if p.ahead => {
                drop(permit);
                let error = OpError::Params { method: Method::Recvfrom, why: "ahead applies to recv only" };
                self.respond::<()>(id, Err(error)).await;
            }
            Call::Recvfrom(p) => {
                let n = clamp(p.bufsize);
                let room = Arc::clone(&permit.room);
                self.queue(id, permit, p.fd, Direction::Read, move |s, e, mode| async move {
                    let (data, addr, held) = e.socket.recvfrom(n, p.flags, mode, Some(s.room_for(n))).await?;
                    *lock(&room) = held;
                    Ok(RecvfromResult { data: Payload(data), address: s.net().address(&addr) })
                })
                .await
            }
            Call::Send(p) => {
                if let Err(e) = payload_fits(Method::Send, &p.data, max_payload) {
                    return self.respond::<()>(id, Err(e)).await;
                }
                self.queue(id, permit, p.fd, Direction::Write, move |s, e, mode| async move {
                    let _vacated = s.check_peer(&e, Method::Send).await?;
                    e.socket.send(p.data.as_bytes(), p.flags, mode).await
                })
                .await
            }
            Call::Sendall(p) => {
                if let Err(e) = payload_fits(Method::Sendall, &p.data, max_payload) {
                    return self.respond::<()>(id, Err(e)).await;
                }
                self.queue(id, permit, p.fd, Direction::Write, move |s, e, mode| async move {
                    let _vacated = s.check_peer(&e, Method::Sendall).await?;
                    e.socket.sendall(p.data.as_bytes(), p.flags, mode).await
                })
                .await
            }
            Call::Sendto(p) => {
                if let Err(e) = payload_fits(Method::Sendto, &p.data, max_payload) {
                    return self.respond::<()>(id, Err(e)).await;
                }
                self.queue(id, permit, p.fd, Direction::Write, move |s, e, mode| async move {
                    let sock = &e.socket;
                    let dialled =
                        s.net().dial_addr(s.caller(), Method::Sendto, sock.family(), sock.kind(), &p.address).await?;
                    s.net().bind_loopback_if_unbound(sock).await?;
                    s.claim(&e, false).await;
                    sock.sendto(p.data.as_bytes(), &dialled.addr, p.flags, mode).await
                })
                .await
            }
            Call::Connect(p) => self.connect(id, permit, p).await,
            Call::Select(p) => self.select(id, permit, p),
            Call::Getaddrinfo(p) => {
                let query = Query {
                    host: p.host,
                    service: p.port.map(|s| match s {
                        Service::Port(n) => n.to_string(),
                        Service::Name(name) => name,
                    }),
                    family: p.family,
                    kind: p.kind,
                    proto: p.proto,
                    flags: p.flags,
                };
                let s = Arc::clone(self);
                self.spawn(id, permit, async move { s.net().resolver.getaddrinfo(&s.dns, query).await });
            }
            // As CPython's: '' is INADDR_ANY and '<broadcast>' INADDR_BROADCAST, without a lookup.
            Call::Gethostbyname(p) if p.hostname.is_empty() || p.hostname == "<broadcast>" => {
                drop(permit);
                let any = if p.hostname.is_empty() { "0.0.0.0" } else { "255.255.255.255" };
                self.respond(id, Ok(any.to_owned())).await;
            }
            Call::Gethostbyname(p) => {
                let s = Arc::clone(self);
                self.spawn(id, permit, async move {
                    let candidates = s.net().resolver.candidates(&s.dns, &p.hostname, AF_INET, 0).await?;
                    Ok(candidates[0].to_string())
                });
            }
            other => {
                drop(permit);
                tracing::error!(method = %other.method(), "an immediate method reached the blocking path");
                self.respond::<()>(id, Err(OpError::Internal("misrouted method"))).await;
            }
        }
    }

    /// Queues a socket operation in one of the socket's lanes. The operation gets the socket's
    /// timeout mode as it is now.
    async fn queue<R, F, Fut>(self: &Arc<Self>, id: Option<Id>, permit: InFlight, fd: Fd, direction: Direction, op: F)
    where
        R: Serialize + Send + 'static,
        F: FnOnce(Arc<Session>, Entry, Mode) -> Fut,
        Fut: Future<Output = OpResult<R>> + Send + 'static,
    {
        let entry = match self.entry(fd) {
            Ok(entry) => entry,
            Err(e) => {
                drop(permit);
                return self.respond::<()>(id, Err(e)).await;
            }
        };
        let lane = match direction {
            Direction::Read => Arc::clone(&entry.reads),
            Direction::Write => Arc::clone(&entry.writes),
        };
        let mode = entry.socket.mode();
        let job = op(Arc::clone(self), entry, mode).instrument(tracing::debug_span!("socket", fd));
        lane.run(self.job(id, permit, job)).await;
    }

    /// Wraps an operation so that it always answers, even if it panics, and releases its permit
    /// before answering (so the client, which counts permits too, never sees the limit early).
    fn job<R: Serialize + Send + 'static>(
        self: &Arc<Self>,
        id: Option<Id>,
        permit: InFlight,
        op: impl Future<Output = OpResult<R>> + Send + 'static,
    ) -> crate::lane::Job {
        let session = Arc::clone(self);
        let span = tracing::Span::current();
        Box::pin(
            async move {
                let result = AssertUnwindSafe(op).catch_unwind().await.unwrap_or_else(|_| {
                    tracing::error!("an operation panicked");
                    Err(OpError::Internal("the operation failed unexpectedly"))
                });
                let room = lock(&permit.room).take();
                drop(permit);
                session.respond_in(id, result, room).await;
            }
            .instrument(span),
        )
    }

    /// Runs a session-wide operation (`select`, name resolution) in its own task, ended early if
    /// the session closes.
    fn spawn<R: Serialize + Send + 'static>(
        self: &Arc<Self>,
        id: Option<Id>,
        permit: InFlight,
        op: impl Future<Output = OpResult<R>> + Send + 'static,
    ) {
        let done = self.done.clone();
        let job = self.job(id, permit, op);
        tokio::spawn(async move {
            tokio::select! {
                () = done.cancelled() => {}
                () = job => {}
            }
        });
    }

    /// Runs `f` on the socket behind `fd`.
    async fn with_socket<R>(&self, fd: Fd, f: impl AsyncFnOnce(&BridgeSocket) -> OpResult<R>) -> OpResult<R> {
        let entry = self.entry(fd)?;
        f(&entry.socket).await
    }

    /// A place under the daemon-wide and the origin's socket limits; `ENFILE` when there is none.
    fn slot(&self) -> OpResult<Slot> {
        let origin = Arc::clone(&self.origin.sockets).try_acquire_owned().map_err(|_| {
            OpError::refused(ENFILE, "the pages of this site have as many sockets open as the bridge allows one site")
        })?;
        let total = Arc::clone(&self.shared.sockets).try_acquire_owned().map_err(|_| {
            let max = self.shared.limits.max_sockets_total;
            OpError::refused(ENFILE, format!("the bridge has {max} sockets open for all pages together, its limit"))
        })?;
        Ok(Slot { _total: total, _origin: origin })
    }

    fn socket(&self, p: SocketParams) -> OpResult<Fd> {
        let mut table = self.table();
        table.check_room()?;
        let slot = self.slot()?;
        let unix = self.net().sandbox.is_some() || self.net().policy.any_unix_paths();
        let sock = BridgeSocket::open(p.family, p.kind, p.proto, unix)?;
        table.insert(sock, slot)
    }

    /// Puts an IP socket's local address in the `own` set (once it has one), so the page's other
    /// sockets may reach it: a TCP listener's, or a UDP socket's. (A TCP socket that is only bound
    /// is no destination: another program may listen on its port beside it, with `SO_REUSEADDR`.
    /// The session remembers its address, as it does every address it held: see `Vacated`.)
    async fn claim(&self, entry: &Entry, listening: bool) {
        let sock = &entry.socket;
        if sock.family() == AF_UNIX || entry.claims().as_ref().is_none_or(|c| c.own.is_some()) {
            return;
        }
        let Ok(local) = sock.local_addr().await else { return };
        let Some(addr) = local.as_socket().filter(|a| a.port() != 0) else { return };
        let proto = proto(sock.kind());
        self.page.history.remember(proto, addr);
        if sock.kind() != SOCK_DGRAM && !listening {
            return;
        }
        let guard = self.net().policy.owners.register(&self.page.origin, proto, addr);
        if let Some(claims) = entry.claims().as_mut() {
            claims.own.get_or_insert(guard);
        }
    }

    /// A place for a TCP socket among its origin's connections to the lab services, held until it
    /// closes (`max_lab_connections_per_origin`), so one site cannot take every connection the
    /// services serve.
    fn lab_place(&self, entry: &Entry) -> OpResult<()> {
        let mut claims = entry.claims();
        let Some(claims) = claims.as_mut() else { return Err(OpError::bad_fd()) };
        if claims.lab.is_none() {
            let place = Arc::clone(&self.origin.labs).try_acquire_owned().map_err(|_| {
                let max = self.shared.limits.max_lab_connections_per_origin;
                OpError::refused(
                    libc::ECONNREFUSED,
                    format!("the pages of this site hold {max} connections to the lab services, as many as the bridge allows; close one"),
                )
            })?;
            claims.lab = Some(place);
        }
        Ok(())
    }

    /// A connected UDP socket's peer is checked again at every send, as `sendto` checks its
    /// address: what the page could reach when it connected (its own socket) may since have closed
    /// and its port gone to another program.
    async fn check_peer(&self, entry: &Entry, method: Method) -> OpResult<Option<crate::net::Vacated>> {
        let sock = &entry.socket;
        if sock.kind() != SOCK_DGRAM || sock.family() == AF_UNIX {
            return Ok(None);
        }
        // Not connected: the send fails as the kernel says.
        let Some(peer) = sock.peer_addr().await.ok().and_then(|a| a.as_socket()) else { return Ok(None) };
        let address = bridge_protocol::Address::from(peer);
        let dialled = self.net().dial_addr(self.caller(), method, sock.family(), sock.kind(), &address).await?;
        Ok(dialled.vacated)
    }

    async fn bind(&self, p: AddressParams) -> OpResult<()> {
        let entry = self.entry(p.fd)?;
        let sock = &entry.socket;
        let (addr, path) =
            self.net().bind_addr(self.caller(), Method::Bind, sock.family(), sock.kind(), &p.address).await?;
        sock.bind(&addr).await?;
        if let (Some(path), Some(sandbox)) = (path, &self.net().sandbox) {
            if let Some(file) = sandbox.created(&path) {
                let guard = self.net().policy.owners.register_file(&self.page.origin, file.dev, file.ino);
                lock(&self.files).push((file, guard));
            }
        } else {
            self.claim(&entry, false).await;
        }
        Ok(())
    }

    async fn listen(&self, p: ListenParams) -> OpResult<()> {
        let max = self.shared.limits.max_listen_backlog;
        // Python's default is min(SOMAXCONN, 128); a negative backlog means 0, as in CPython.
        let backlog = p.backlog.unwrap_or(128).clamp(0, max);
        let entry = self.entry(p.fd)?;
        self.net().bind_loopback_if_unbound(&entry.socket).await?;
        entry.socket.listen(backlog).await?;
        self.claim(&entry, true).await;
        Ok(())
    }

    async fn close(&self, fd: Fd) -> OpResult<()> {
        let entry = self.table().remove(fd)?;
        entry.close().await;
        Ok(())
    }

    async fn accept(self: &Arc<Self>, entry: Entry, mode: Mode) -> OpResult<AcceptResult> {
        // Refuse before accepting, so the connection stays queued for a later accept, as with
        // a process out of fds.
        self.table().check_room()?;
        let slot = self.slot()?;
        let (sock, addr) = entry.socket.accept(mode).await?;
        let fd = self.table().insert(sock, slot)?;
        Ok(AcceptResult { fd, address: self.net().address_or_empty(&addr) })
    }

    /// `connect` runs in the write lane; the read lane waits behind it, so a `recv` sent after a
    /// `connect` runs after the connection is made.
    async fn connect(self: &Arc<Self>, id: Option<Id>, permit: InFlight, p: AddressParams) {
        let entry = match self.entry(p.fd) {
            Ok(entry) => entry,
            Err(e) => {
                drop(permit);
                return self.respond::<()>(id, Err(e)).await;
            }
        };
        let (connected_tx, connected_rx) = oneshot::channel::<()>();
        entry
            .reads
            .run(Box::pin(async move {
                let _ = connected_rx.await;
            }))
            .await;
        self.queue(id, permit, p.fd, Direction::Write, move |s, e, mode| async move {
            let sock = &e.socket;
            let result = async {
                let dialled =
                    s.net().dial_addr(s.caller(), Method::Connect, sock.family(), sock.kind(), &p.address).await?;
                if dialled.labs && sock.kind() != SOCK_DGRAM {
                    s.lab_place(&e)?;
                }
                // Connects beyond the session's rate wait their turn (a port scan goes slowly).
                let wait = lock(&s.connects).take_turn();
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                let result = sock.connect(&dialled.addr, mode, s.shared.limits.connect_timeout).await;
                drop(dialled.vacated);
                // A UDP socket is bound by its connect, and may be reached there; a TCP client's
                // port is no destination.
                if sock.kind() == SOCK_DGRAM {
                    s.claim(&e, false).await;
                }
                result
            }
            .await;
            drop(connected_tx);
            result
        })
        .await;
    }

    fn select(self: &Arc<Self>, id: Option<Id>, permit: InFlight, p: SelectParams) {
        // select's timeout reads as a socket timeout does: null waits, 0 polls, t waits t.
        let timeout = Mode::from_timeout(p.timeout).map(|mode| match mode {
            Mode::Blocking => None,
            Mode::NonBlocking => Some(Duration::ZERO),
            Mode::Timeout(t) => Some(t),
        });
        let watch = timeout.map_err(|why| OpError::Params { method: Method::Select, why }).and_then(|timeout| {
            let table = self.table();
            let mut sockets: Vec<(Fd, Watched)> = Vec::new();
            let mut lists: [Vec<(Fd, usize)>; 3] = Default::default();
            for (list, (fds, event)) in
                lists.iter_mut().zip([(&p.rlist, libc::POLLIN), (&p.wlist, libc::POLLOUT), (&p.xlist, libc::POLLPRI)])
            {
                for &fd in fds {
                    let index = match sockets.iter().position(|(f, _)| *f == fd) {
                        Some(i) => i,
                        None => {
                            sockets.push((fd, Watched { socket: table.get(fd)?.socket, events: 0 }));
                            sockets.len() - 1
                        }
                    };
                    sockets[index].1.events |= event;
                    list.push((fd, index));
                }
            }
            Ok((Watch { sockets: sockets.into_iter().map(|(_, w)| w).collect(), lists }, timeout))
        });
        self.spawn(id, permit, async move {
            let (watch, timeout) = watch?;
            crate::net::select::select(watch, timeout).await
        });
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
        tracing::debug!(sockets = count, files = files.len(), "session resources released");
    }
}

/// Refuses a send larger than `max_payload_bytes`.
fn payload_fits(method: Method, data: &Payload, max: usize) -> OpResult<()> {
    if data.len() > max {
        return Err(OpError::Limit(format!(
            "'{method}' carries at most max_payload_bytes ({max}) bytes; split the data"
        )));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    //! The session over channels instead of a WebSocket, on tokio's paused clock: time moves only
    //! when every task waits, so a 30-second deadline takes no real time and no test sleeps.

    use super::*;
    use crate::config::Limits;
    use crate::net::resolve::Resolver;
    use crate::policy::{Policy, PolicyInput};
    use std::net::SocketAddr;
    use std::task::{Context, Poll};
    use tokio_util::sync::PollSender;

    /// A WebSocket made of two channels: what the page sends, and what the session writes (which
    /// holds `room` messages; a page that does not read lets it fill).
    struct Pipe {
        from_page: mpsc::Receiver<Result<Message, WsError>>,
        to_page: PollSender<Message>,
    }

    impl Stream for Pipe {
        type Item = Result<Message, WsError>;
        fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
            self.from_page.poll_recv(cx)
        }
    }

    impl Sink<Message> for Pipe {
        type Error = WsError;
        fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            self.to_page.poll_reserve(cx).map_err(|_| WsError::ConnectionClosed)
        }
        fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), WsError> {
            self.to_page.send_item(item).map_err(|_| WsError::ConnectionClosed)
        }
        fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            Poll::Ready(Ok(()))
        }
        fn poll_close(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
            self.to_page.close();
            Poll::Ready(Ok(()))
        }
    }

    /// The page's ends of a pipe.
    struct Page {
        send: mpsc::Sender<Result<Message, WsError>>,
        recv: mpsc::Receiver<Message>,
    }

    fn pipe(room: usize) -> (Pipe, Page) {
        let (send, from_page) = mpsc::channel(1024);
        let (to_page, recv) = mpsc::channel(room);
        (Pipe { from_page, to_page: PollSender::new(to_page) }, Page { send, recv })
    }

    fn shared(limits: Limits) -> Arc<Shared> {
        let addr = SocketAddr::from(([127, 0, 0, 1], bridge_protocol::DEFAULT_PORT));
        let policy = Policy::new(
            addr,
            PolicyInput {
                extra_hosts: &[],
                extra_origins: &[],
                token: None,
                rules: Default::default(),
                origin_rules: Vec::new(),
                allow_metadata: false,
                labs: Vec::new(),
            },
        );
        let resolver = Resolver::new(1, Duration::from_secs(1), None);
        let net = Net { policy, sandbox: None, resolver, audit: Default::default() };
        let hello = HelloResult {
            protocol: bridge_protocol::SUBPROTOCOL.into(),
            protocol_version: bridge_protocol::PROTOCOL_VERSION,
            daemon: "test".into(),
            limits: limits.for_client(),
            features: Vec::new(),
            labs: Default::default(),
        };
        Arc::new(Shared::new(net, limits, 64, hello))
    }

    fn hello(id: u64) -> Result<Message, WsError> {
        Ok(Message::text(format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"hello"}}"#)))
    }

    /// Starts a session over `ws`, as the daemon's first session of a page without an origin.
    async fn session(ws: Pipe, limits: Limits, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
        tokio::spawn(run(ws, shared(limits), 1, None, Codec::Json, shutdown))
    }

    #[tokio::test(start_paused = true)]
    async fn a_page_that_stops_reading_is_closed_at_write_timeout() {
        let limits = Limits { outbound_bytes: 4096, outbound_queue: 4, ..Limits::default() };
        let timeout = limits.write_timeout;
        let (ws, mut page) = pipe(2);
        let start = Instant::now();
        let task = session(ws, limits, CancellationToken::new()).await;
        for id in 0..100 {
            page.send.send(hello(id)).await.unwrap_or_else(|_| panic!("the session ended early"));
        }
        task.await.unwrap_or_else(|e| panic!("{e}"));
        let took = Instant::now() - start;
        assert!(took >= timeout, "closed after {took:?}, before write_timeout");
        assert!(took < timeout + FLUSH_GRACE + Duration::from_secs(1), "closed after {took:?}");
        // The page got the answers that fitted, and nothing after them but (perhaps) the close.
        let mut answers = 0;
        while let Ok(message) = page.recv.try_recv() {
            match message {
                Message::Text(_) => answers += 1,
                Message::Close(frame) => panic!("a close frame went past a full pipe: {frame:?}"),
                _ => {}
            }
        }
        assert!((1..100).contains(&answers), "{answers} answers");
    }

    #[tokio::test(start_paused = true)]
    async fn shutdown_ends_a_session_waiting_to_answer() {
        let limits = Limits { outbound_bytes: 4096, outbound_queue: 4, ..Limits::default() };
        let (ws, page) = pipe(2);
        let shutdown = CancellationToken::new();
        let task = session(ws, limits, shutdown.clone()).await;
        for id in 0..100 {
            page.send.send(hello(id)).await.unwrap_or_else(|_| panic!("the session ended early"));
        }
        // Let the session fill the pipe and wait on it, then stop the daemon.
        tokio::time::sleep(Duration::from_secs(1)).await;
        let start = Instant::now();
        shutdown.cancel();
        task.await.unwrap_or_else(|e| panic!("{e}"));
        assert!(Instant::now() - start <= FLUSH_GRACE, "shutdown waited for the page");
    }

    #[tokio::test(start_paused = true)]
    async fn a_reading_page_is_pinged_and_a_silent_one_closed() {
        let limits = Limits::default();
        let (ping, pong) = (limits.ping_interval, limits.pong_timeout);
        let (ws, mut page) = pipe(16);
        let start = Instant::now();
        let task = session(ws, limits, CancellationToken::new()).await;
        // The page reads but never answers: a ping after ping_interval, the close after pong_timeout.
        let first = page.recv.recv().await;
        assert!(matches!(first, Some(Message::Ping(_))), "{first:?}");
        assert!(Instant::now() - start >= ping);
        let close = page.recv.recv().await;
        let Some(Message::Close(Some(frame))) = close else { panic!("{close:?}") };
        assert_eq!(frame.code, CloseCode::Policy);
        assert!(Instant::now() - start >= ping + pong);
        task.await.unwrap_or_else(|e| panic!("{e}"));
    }
}
