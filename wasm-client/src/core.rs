//! The connection core, the same on every target: request ids, matching responses to callers,
//! the in-flight allowance, and failing everything outstanding when the connection closes.
//!
//! A transport gives the core a way to send a message ([`Transport`]) and feeds it what arrives
//! ([`Core::on_message`], [`Core::on_close`]); the native transport (tokio-tungstenite) and the
//! browser's WebSocket differ only there.
//!
//! # Order
//!
//! Requests leave in the order the calls were made: a call sends (or queues) its request
//! synchronously, at its first poll, under the core's lock. The daemon allows `max_inflight`
//! requests of blocking methods at once, of `max_inflight_bytes` together; past either, blocking
//! requests wait in the outbox, in call order, and each response lets the next ones go.
//! Non-blocking requests (`close`, `settimeout`, `getsockname`, ...) are never held back, so a
//! `close` can always reach the daemon and end the calls that hold the allowance.
//!
//! Reads are never stuck behind sends. A program that sends and receives at once (a send loop
//! and a receive loop joined, or `Promise.all` in a page) could otherwise fill the allowance with
//! sends that wait for their peer to read, while the receive that would let them finish waits
//! behind them. So sends and the other requests leave a reserve of the allowance
//! ([`Reserve`]) that only reads (`recv`, `recvfrom`, `accept`) may use, and a read may pass
//! sends waiting in the outbox. It passes nothing else: a `connect` it may depend on, or an
//! earlier read, stays ahead of it. Only the order between one socket's reads and its sends
//! changes, and the daemon runs those in separate lanes anyway.

use crate::error::{Error, Result};
use bridge_protocol::codec::{Body, Frame, FrameRef, ResponseError};
use bridge_protocol::params::{RecvParams, SendParams};
use bridge_protocol::tree::{self, Value};
use bridge_protocol::{Codec, Id, Method, Payload, Rpc, rpc};
use futures_channel::oneshot;
use std::collections::VecDeque;
use std::sync::{Mutex, MutexGuard};

/// `Send + Sync` natively; nothing on wasm32, where the browser's objects live on one thread.
#[cfg(not(target_arch = "wasm32"))]
pub(crate) trait MaybeSync: Send + Sync {}
#[cfg(not(target_arch = "wasm32"))]
impl<T: Send + Sync> MaybeSync for T {}
/// `Send + Sync` natively; nothing on wasm32, where the browser's objects live on one thread.
#[cfg(target_arch = "wasm32")]
pub(crate) trait MaybeSync {}
#[cfg(target_arch = "wasm32")]
impl<T> MaybeSync for T {}

/// Sends a message (a text frame for JSON, binary for MessagePack) to the daemon. Sending is
/// synchronous (queued), so requests leave in the order they were made.
pub(crate) trait Transport: MaybeSync {
    /// Queues one message; fails once the connection is closed.
    fn send(&self, frame: Frame) -> Result<()>;
    /// Closes the connection (politely, with a close frame).
    fn close(&self);
}

/// Delivers one response to its caller: decodes the result as the method's type. (`Send`
/// natively; in a page everything lives on one thread.)
#[cfg(not(target_arch = "wasm32"))]
type Completer = Box<dyn FnOnce(Result<Body<'_>>) + Send>;
/// Delivers one response to its caller: decodes the result as the method's type.
#[cfg(target_arch = "wasm32")]
type Completer = Box<dyn FnOnce(Result<Body<'_>>)>;

struct Pending {
    /// The in-flight bytes the request holds if it is blocking (it holds one permit too).
    blocking: Option<usize>,
    complete: Completer,
}

struct State {
    /// The requests sent and not answered, oldest first (answers mostly come in that order; at
    /// most the in-flight allowance and the receives ahead, so a list is all this needs).
    pending: Vec<(u64, Pending)>,
    next_id: u64,
    closed: bool,
    /// In-flight permits not in use.
    permits: usize,
    /// In-flight bytes not in use (`None`: the daemon sets no byte limit).
    bytes: Option<usize>,
    /// Blocking requests waiting for a permit, in call order.
    outbox: VecDeque<Queued>,
    /// The part of the allowance only reads may use.
    reserve: Reserve,
    /// The codec the daemon agreed to.
    codec: Codec,
}

/// The part of the in-flight allowance kept for reads: a quarter of the permits, and an eighth of
/// the bytes up to 64 KiB (but never so much that the largest request could not go).
#[derive(Clone, Copy, Default)]
struct Reserve {
    permits: usize,
    bytes: usize,
}

/// How a blocking request stands in the outbox's order.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Kind {
    /// `recv`, `recvfrom`, `accept`: may use the reserve, and pass waiting sends.
    Read,
    /// `send`, `sendall`, `sendto`.
    Send,
    /// Anything else (`connect`, `select`, `getaddrinfo`, ...).
    Other,
}

impl Kind {
    fn of(method: Method) -> Kind {
        match method {
            Method::Recv | Method::Recvfrom | Method::Accept => Kind::Read,
            Method::Send | Method::Sendall | Method::Sendto => Kind::Send,
            _ => Kind::Other,
        }
    }
}

/// A blocking request waiting for room.
struct Queued {
    frame: Frame,
    kind: Kind,
}

impl State {
    /// Takes request `id` out of the pending list.
    fn forget(&mut self, id: u64) -> Option<Pending> {
        let at = self.pending.iter().position(|(pending, _)| *pending == id)?;
        Some(self.pending.remove(at).1)
    }

    /// Whether a blocking request of `len` bytes may go now, as far as the allowance goes.
    fn room_for(&self, len: usize, kind: Kind) -> bool {
        let keep = if kind == Kind::Read { Reserve::default() } else { self.reserve };
        self.permits > keep.permits && self.bytes.is_none_or(|b| b >= len + keep.bytes)
    }

    /// Whether nothing waiting in the outbox must go before a new request of `kind`.
    fn clear_for(&self, kind: Kind) -> bool {
        match kind {
            Kind::Read => self.outbox.iter().all(|q| q.kind == Kind::Send),
            Kind::Send | Kind::Other => self.outbox.is_empty(),
        }
    }

    fn take(&mut self, len: usize) {
        self.permits -= 1;
        if let Some(b) = &mut self.bytes {
            *b -= len;
        }
    }

    fn give_back(&mut self, len: usize) {
        self.permits += 1;
        if let Some(b) = &mut self.bytes {
            *b += len;
        }
    }
}

/// How a request meets the in-flight allowance.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Submit {
    /// Waits in the outbox, in order, for room.
    Queue,
    /// Goes now or not at all.
    NowOrNot,
    /// Outside the allowance (a `recv` sent ahead).
    Uncounted,
}

/// Decodes a result of `R`'s type.
fn decode<R: Rpc>(outcome: Result<Body<'_>>) -> Result<R::Result> {
    outcome.and_then(|body| body.decode::<R::Result>(R::METHOD).map_err(|e| Error::Response(e.to_string())))
}

/// One connection to a daemon.
pub(crate) struct Core {
    state: Mutex<State>,
    transport: Box<dyn Transport>,
}

impl Core {
    pub(crate) fn new(transport: Box<dyn Transport>, codec: Codec) -> Self {
        Core {
            state: Mutex::new(State {
                pending: Vec::new(),
                next_id: 1,
                closed: false,
                permits: 0,
                bytes: None,
                outbox: VecDeque::new(),
                reserve: Reserve::default(),
                codec,
            }),
            transport,
        }
    }

    /// The codec the daemon agreed to.
    pub(crate) fn codec(&self) -> Codec {
        self.state().codec
    }

    /// Sets the codec, once the handshake has said which (before any message).
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code))]
    pub(crate) fn set_codec(&self, codec: Codec) {
        self.state().codec = codec;
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Opens the in-flight allowance the daemon reported in `hello` (`bytes` 0: no byte limit;
    /// `largest`: the largest request it takes, `max_message_bytes`).
    pub(crate) fn open_inflight(&self, permits: usize, bytes: usize, largest: usize) {
        let mut state = self.state();
        state.permits += permits;
        state.bytes = (bytes > 0).then_some(bytes);
        state.reserve =
            Reserve { permits: permits / 4, bytes: (bytes / 8).min(64 << 10).min(bytes.saturating_sub(largest)) };
        self.drain_outbox(&mut state);
    }

    /// Calls a method and waits for its result.
    pub(crate) async fn call<R: Rpc>(&self, params: &R::Params) -> Result<R::Result> {
        let rx = self.start::<R>(params)?;
        rx.await.unwrap_or(Err(Error::Closed))
    }

    /// Sends a request now (or queues it, in order, for an in-flight permit) and returns where its
    /// result will arrive.
    pub(crate) fn start<R: Rpc>(&self, params: &R::Params) -> Result<oneshot::Receiver<Result<R::Result>>> {
        let (tx, rx) = oneshot::channel();
        self.submit::<R>(
            params,
            Submit::Queue,
            Box::new(move |outcome| {
                let _ = tx.send(decode::<R>(outcome));
            }),
        )?;
        Ok(rx)
    }

    /// Sends a blocking request only if it can go at once (the in-flight allowance has room and
    /// nothing waits ahead of it); `done` gets its result. Returns whether it was sent.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn start_now<R: Rpc>(
        &self,
        params: &R::Params,
        done: impl FnOnce(Result<R::Result>) + Send + 'static,
    ) -> Result<bool> {
        self.submit::<R>(params, Submit::NowOrNot, Box::new(move |outcome| done(decode::<R>(outcome))))
    }

    /// Sends a blocking request only if it can go at once (the in-flight allowance has room and
    /// nothing waits ahead of it); `done` gets its result. Returns whether it was sent.
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn start_now<R: Rpc>(
        &self,
        params: &R::Params,
        done: impl FnOnce(Result<R::Result>) + 'static,
    ) -> Result<bool> {
        self.submit::<R>(params, Submit::NowOrNot, Box::new(move |outcome| done(decode::<R>(outcome))))
    }

    /// Sends a `recv` sent ahead now, outside the in-flight allowance (the daemon does not count
    /// it either: a socket has at most `MAX_RECV_AHEAD`); `done` gets its result.
    #[cfg(not(target_arch = "wasm32"))]
    pub(crate) fn start_ahead(
        &self,
        params: &RecvParams,
        done: impl FnOnce(Result<Payload>) + Send + 'static,
    ) -> Result<()> {
        self.submit::<rpc::Recv>(params, Submit::Uncounted, Box::new(move |outcome| done(decode::<rpc::Recv>(outcome))))
            .map(drop)
    }

    /// Sends a `recv` sent ahead now, outside the in-flight allowance (the daemon does not count
    /// it either: a socket has at most `MAX_RECV_AHEAD`); `done` gets its result.
    #[cfg(target_arch = "wasm32")]
    pub(crate) fn start_ahead(&self, params: &RecvParams, done: impl FnOnce(Result<Payload>) + 'static) -> Result<()> {
        self.submit::<rpc::Recv>(params, Submit::Uncounted, Box::new(move |outcome| done(decode::<rpc::Recv>(outcome))))
            .map(drop)
    }

    /// Sends a request, or queues it for the allowance as `how` says (giving up is `Ok(false)`).
    fn submit<R: Rpc>(&self, params: &R::Params, how: Submit, complete: Completer) -> Result<bool> {
        self.submit_to(R::METHOD, params, how, complete)
    }

    /// Calls `method` with params and a result of no particular type: JSON values, as the page
    /// sees them. (The private-network methods go this way in the browser: one decoder for all of
    /// them keeps the WebAssembly small.)
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code, reason = "the browser's API uses it"))]
    pub(crate) async fn call_value(&self, method: Method, params: &Value<'_>) -> Result<Value<'static>> {
        let (tx, rx) = oneshot::channel();
        self.submit_encoded(
            method,
            params,
            Submit::Queue,
            Box::new(move |outcome| {
                let _ = tx.send(outcome.map(|body| body.into_value().into_owned()));
            }),
        )?;
        rx.await.unwrap_or(Err(Error::Closed))
    }

    fn submit_to<P: serde::Serialize + 'static>(
        &self,
        method: Method,
        params: &P,
        how: Submit,
        complete: Completer,
    ) -> Result<bool> {
        // A stream's bytes go into the message with no copy on the way.
        if let Some(send) = (params as &dyn std::any::Any).downcast_ref::<SendParams>() {
            return self.submit_encoded(method, &send.as_tree(), how, complete);
        }
        // Through a tree, so that only this line is compiled per params type (see `tree`).
        let params = tree::to_value(params).map_err(|_| Error::Value(format!("{method}: params JSON cannot hold")))?;
        self.submit_encoded(method, &params, how, complete)
    }

    /// [`Core::submit_to`], with the params as a tree.
    fn submit_encoded(&self, method: Method, params: &Value<'_>, how: Submit, complete: Completer) -> Result<bool> {
        let blocking = method.may_block() && how != Submit::Uncounted;
        let may_queue = how == Submit::Queue;
        let mut state = self.state();
        if state.closed {
            return Err(Error::Closed);
        }
        let id = state.next_id;
        let frame = state.codec.encode_tree_request(Some(&Id::Num(id)), method, params);
        let len = frame.len();
        let kind = Kind::of(method);
        let now = !blocking || (state.room_for(len, kind) && state.clear_for(kind));
        if !now && !may_queue {
            return Ok(false);
        }
        state.next_id += 1;
        state.pending.push((id, Pending { blocking: blocking.then_some(len), complete }));
        if !blocking {
            self.send_locked(&mut state, id, frame)?;
        } else if now {
            state.take(len);
            self.send_locked(&mut state, id, frame)?;
        } else {
            state.outbox.push_back(Queued { frame, kind });
        }
        Ok(true)
    }

    /// Sends under the lock, so concurrent callers cannot reorder; a failed send forgets the request.
    /// (Its completer is dropped uncalled.)
    fn send_locked(&self, state: &mut State, id: u64, frame: Frame) -> Result<()> {
        self.transport.send(frame).inspect_err(|_| {
            state.forget(id);
        })
    }

    /// Sends queued blocking requests, in order, while the allowance lasts; reads may pass sends
    /// that have to wait (see the module's documentation).
    fn drain_outbox(&self, state: &mut State) {
        let mut index = 0;
        let mut send_waits = false;
        while let Some(queued) = state.outbox.get(index) {
            let (len, kind) = (queued.frame.len(), queued.kind);
            let passes = kind == Kind::Read || !send_waits;
            if passes && state.room_for(len, kind) {
                let Some(queued) = state.outbox.remove(index) else { break };
                state.take(len);
                if self.transport.send(queued.frame).is_err() {
                    // The connection is going; on_close fails every pending request.
                    break;
                }
                continue;
            }
            if kind != Kind::Send {
                break;
            }
            send_waits = true;
            index += 1;
        }
    }

    /// Sends a request whose result nobody waits for (`settimeout`, the `close` of a dropped
    /// socket); a failure is logged.
    pub(crate) fn fire<R: Rpc>(&self, params: &R::Params) {
        if let Err(e) = self.start::<R>(params) {
            tracing::debug!(method = %R::METHOD, error = %e, "request not sent");
        }
    }

    /// Handles one message from the daemon.
    pub(crate) fn on_message(&self, frame: FrameRef<'_>) {
        let codec = self.codec();
        let response = match codec.decode_response(frame) {
            Ok(r) => r,
            Err(ResponseError::Malformed | ResponseError::WrongResultType(_)) => {
                tracing::warn!("a malformed message from the daemon was dropped");
                return;
            }
        };
        let Some(Id::Num(id)) = response.id else {
            if let Err(e) = response.outcome {
                tracing::warn!(error = %e, "the daemon reported an error about an unreadable request");
            }
            return;
        };
        let pending = {
            let mut state = self.state();
            let pending = state.forget(id);
            if let Some(len) = pending.as_ref().and_then(|p| p.blocking) {
                state.give_back(len);
                self.drain_outbox(&mut state);
            }
            pending
        };
        match pending {
            Some(p) => (p.complete)(response.outcome.map_err(Error::from_rpc)),
            None => tracing::debug!(id, "a response nobody waits for"),
        }
    }

    /// Fails everything outstanding: the connection is gone.
    pub(crate) fn on_close(&self) {
        let pending = {
            let mut state = self.state();
            state.closed = true;
            state.outbox.clear();
            std::mem::take(&mut state.pending)
        };
        for (_, p) in pending {
            (p.complete)(Err(Error::Closed));
        }
    }

    /// Whether the connection is closed.
    pub(crate) fn is_closed(&self) -> bool {
        self.state().closed
    }

    /// Closes the connection.
    pub(crate) fn close(&self) {
        self.transport.close();
    }
}

impl Drop for Core {
    fn drop(&mut self) {
        self.transport.close();
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_protocol::params::{AddressParams, SendParams};
    use std::sync::Arc;

    /// Keeps what the core sends, for the order tests: the methods, as they left.
    #[derive(Default)]
    struct Sent(Mutex<Vec<String>>);

    impl Transport for Arc<Sent> {
        fn send(&self, frame: Frame) -> Result<()> {
            let value: serde_json::Value = match &frame {
                Frame::Text(text) => serde_json::from_str(text).unwrap_or_default(),
                Frame::Binary(_) => serde_json::Value::Null,
            };
            self.0.lock().unwrap_or_else(|p| p.into_inner()).push(value["method"].as_str().unwrap_or("?").to_owned());
            Ok(())
        }
        fn close(&self) {}
    }

    fn sent(log: &Arc<Sent>) -> Vec<String> {
        log.0.lock().unwrap_or_else(|p| p.into_inner()).clone()
    }

    /// A core with room for 8 requests of 4 KiB in all, sending JSON to `log`.
    fn core(log: &Arc<Sent>) -> Core {
        let core = Core::new(Box::new(Arc::clone(log)), Codec::Json);
        core.open_inflight(8, 4096, 1024);
        core
    }

    fn send(core: &Core) -> oneshot::Receiver<Result<()>> {
        core.start::<rpc::Sendall>(&SendParams { fd: 3, data: Payload::from(&[0u8; 600][..]), flags: 0 })
            .unwrap_or_else(|e| panic!("{e}"))
    }

    fn recv(core: &Core) -> oneshot::Receiver<Result<Payload>> {
        core.start::<rpc::Recv>(&RecvParams { fd: 4, bufsize: 100, flags: 0, ahead: false })
            .unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn a_read_passes_sends_that_wait_and_uses_the_reserve() {
        let log = Arc::default();
        let core = core(&log);
        // Sends of ~850 bytes: four fit beside the 512-byte reserve, the fifth waits.
        let _sends: Vec<_> = (0..5).map(|_| send(&core)).collect();
        assert_eq!(sent(&log).len(), 4, "the fifth send waits: {:?}", sent(&log));
        let _recv = recv(&core);
        assert_eq!(sent(&log).last().map(String::as_str), Some("recv"), "the read passed the waiting send");
        // A read waiting behind another read keeps its place; here both go.
        let _again = recv(&core);
        assert_eq!(sent(&log).iter().filter(|m| *m == "recv").count(), 2);
    }

    #[test]
    fn a_read_does_not_pass_a_connect_or_another_read() {
        let log = Arc::default();
        let core = core(&log);
        let _sends: Vec<_> = (0..5).map(|_| send(&core)).collect();
        let address = bridge_protocol::Address::from(("127.0.0.1", 9));
        let _connect = core.start::<rpc::Connect>(&AddressParams { fd: 4, address }).unwrap_or_else(|e| panic!("{e}"));
        let _recv = recv(&core);
        assert_eq!(sent(&log).len(), 4, "the connect waits behind the send, and the read behind the connect");
    }
}
