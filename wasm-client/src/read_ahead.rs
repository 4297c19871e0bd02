//! Reading ahead on stream sockets.
//!
//! Python code reads a stream with a loop of blocking `recv`s. Awaiting each one would cost a round
//! trip to the daemon between chunks, so once a blocking `recv(n)` on a connected stream socket has
//! returned data, the client sends the next receive before it is asked for (a `recv` with
//! `ahead: true`): the data is on its way while the page handles the last chunk. What it brings
//! waits here, and the socket's next receive returns it first.
//!
//! Python's meaning is kept. A receive sent ahead waits only as a blocking `recv` would, and the
//! daemon makes it give way (answering `EAGAIN`, having read nothing) to any later request naming
//! its socket other than a send. A call that must not wait that long (a `recv` with a timeout, in
//! non-blocking mode or with flags, a `recvfrom`, a `select`) first makes it give way and takes what
//! it brought, so no byte is lost or reordered, and bytes read ahead count as readable for
//! `select`. Receives are sent ahead only while no receive of the page's own is on its way.
//!
//! A socket keeps one receive ahead, and up to [`MAX_RECV_AHEAD`] while they come back full, so in
//! a stream's full flow the daemon always has one waiting while the answers of the others travel
//! (one alone would still cost a round trip per chunk). When one comes back short (a conversation,
//! not a stream), the next is sent at the socket's next call instead, after that call's own request
//! ([`ReadAhead::kick`]): so in Python's `send` then `recv` the send reaches the daemon first, with
//! the receive right behind it. A `recv` that starts first yields once before sending it, so a
//! `send` polled alongside (`join!(recv, send)`) goes first too.
//! Reading ahead stops while [`UNREAD_LIMIT`] bytes are unread, so a page that reads slowly holds
//! at most that plus four receives' worth per socket, and the rest stays in the kernel, where TCP
//! flow control slows the sender.
//!
//! # States
//!
//! This module owns the client's side of read-ahead (the daemon's is `bridge_daemon`'s
//! `read_ahead`; `docs/protocol.md`, "read-ahead", is the contract between them). A socket's
//! [`ReadAhead`] is, at any time:
//!
//! - **off**: no blocking `recv` has returned data yet, the socket is not in blocking mode
//!   (`paused`), or it is closing (`closed`). Nothing is sent ahead.
//! - **deferred**: armed ([`ReadAhead::arm`]); the receives ahead go with the socket's next call
//!   ([`ReadAhead::kick`]), behind that call's own request.
//! - **ahead**: receives on their way (`posted`, at most `depth`); a page's `recv` waits for them
//!   as it would wait for the socket.
//! - **holding**: bytes, or the EOF or error a receive ahead met (`end`), wait for the page's next
//!   receive, which returns them first; none are sent past [`UNREAD_LIMIT`] unread.
//! - **giving way**: a call that must not wait ([`ReadAhead::settle`]) has asked the daemon to make
//!   the receives ahead answer; while such callers wait (`yielding`), none is sent.
//!
//! [`Readers`] lets `select` find the sockets holding bytes: they are readable, though the daemon
//! cannot see it.

use crate::core::Core;
use crate::error::{Error, Result};
use bridge_protocol::errno::code::{EAGAIN, EBADF};
use bridge_protocol::params::{MAX_RECV_AHEAD, RecvParams};
use bridge_protocol::{Fd, Payload, rpc};
use futures_channel::oneshot;
use std::collections::VecDeque;
use std::pin::Pin;
use std::sync::{Arc, Mutex, MutexGuard, Weak};
use std::task::{Context, Poll};

/// Reading ahead stops while this much is unread.
const UNREAD_LIMIT: usize = 1024 * 1024;

/// What a socket has read ahead (shared with the answers' callbacks, so a socket waiting for data
/// can still be dropped).
pub(crate) struct ReadAhead {
    fd: Fd,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// Received ahead and not yet returned: `data[start..]`.
    data: Vec<u8>,
    start: usize,
    /// Receives on their way ahead.
    posted: usize,
    /// How a receive sent ahead ended when it brought no data: EOF (`Ok`) or an error, for the
    /// next receive to return.
    end: Option<Result<()>>,
    /// Callers waiting for a receive on its way.
    waiting: Vec<oneshot::Sender<()>>,
    /// The size of each receive sent ahead.
    bufsize: usize,
    /// How many to keep on their way: one, until a receive ahead comes back full (a stream in
    /// full flow), then [`MAX_RECV_AHEAD`]. A socket that carries small messages keeps one
    /// waiting in the daemon, not four.
    depth: usize,
    /// Receives ahead wait for the socket's next call (see [`ReadAhead::kick`]).
    deferred: bool,
    /// The socket is not in blocking mode: no reading ahead.
    paused: bool,
    /// The socket is closing or closed: never again.
    closed: bool,
    /// Callers that asked the receives ahead to give way and still wait: none is sent meanwhile.
    yielding: usize,
    /// The page's own receives on their way: reading ahead waits for them.
    calls: usize,
    /// Receives taking from here, in the order they were called: each waits for its turn, so
    /// concurrent receives get the bytes in call order, as their requests would.
    turns: VecDeque<u64>,
    next_turn: u64,
}

impl State {
    fn unread(&self) -> usize {
        self.data.len() - self.start
    }

    fn has_unread(&self) -> bool {
        self.unread() > 0 || self.end.is_some()
    }

    fn may_post(&self) -> bool {
        !self.closed
            && !self.paused
            && self.yielding == 0
            && self.calls == 0
            && self.end.is_none()
            && self.bufsize > 0
            && self.posted < self.depth.clamp(1, MAX_RECV_AHEAD)
            && self.unread() < UNREAD_LIMIT
    }
}

impl ReadAhead {
    pub(crate) fn new(fd: Fd) -> Self {
        ReadAhead { fd, state: Mutex::default() }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Reads ahead in receives of `bufsize`, from the socket's next call on (a receive of the
    /// page's own has just returned data).
    pub(crate) fn arm(&self, bufsize: usize) {
        let mut state = self.state();
        state.bufsize = bufsize;
        state.deferred = true;
    }

    /// The socket's next call is under way, its own request (a send's, say) sent: receives ahead
    /// that were deferred go now.
    pub(crate) fn kick(self: &Arc<Self>, core: &Arc<Core>) {
        let mut state = self.state();
        if std::mem::take(&mut state.deferred) {
            self.fill(&mut state, core);
        }
    }

    /// Sends receives ahead while they may go. Under the state's lock, so that none can follow
    /// the socket's `close` (its handle may then name another socket).
    fn fill(self: &Arc<Self>, state: &mut State, core: &Arc<Core>) {
        while state.may_post() {
            let me = Arc::clone(self);
            let weak = Arc::downgrade(core);
            let params = RecvParams { fd: self.fd, bufsize: state.bufsize as u64, flags: 0, ahead: true };
            if core.start_ahead(&params, move |result| me.arrived(result, &weak)).is_err() {
                break;
            }
            state.posted += 1;
        }
    }

    /// The answer of a receive sent ahead.
    fn arrived(self: &Arc<Self>, result: Result<Payload>, core: &Weak<Core>) {
        let mut state = self.state();
        state.posted -= 1;
        // Answers come in the order the socket gave them; after an EOF or an error the next ones
        // (an EOF again, say) are the kernel's to repeat.
        match result {
            _ if state.end.is_some() => {}
            Ok(data) if data.is_empty() => state.end = Some(Ok(())),
            Ok(data) => {
                let full = data.len() >= state.bufsize;
                state.depth = if full { MAX_RECV_AHEAD } else { 1 };
                let start = std::mem::take(&mut state.start);
                state.data.drain(..start);
                state.data.extend_from_slice(data.as_bytes());
                if !full {
                    state.deferred = true;
                } else if let Some(core) = core.upgrade() {
                    self.fill(&mut state, &core);
                }
            }
            // It gave way, or the socket or the session closed: nothing was read, and the next
            // call learns the rest for itself.
            Err(Error::Os(e)) if matches!(e.errno, Some(EAGAIN | EBADF)) => {}
            Err(Error::Closed) => {}
            Err(e) => state.end = Some(Err(e)),
        }
        for tx in state.waiting.drain(..) {
            let _ = tx.send(());
        }
    }

    /// Keeps an error for the next receive (one met after data was returned).
    pub(crate) fn defer(&self, error: Error) {
        self.state().end.get_or_insert(Err(error));
    }

    /// Follows the socket's mode: reading ahead only in blocking mode.
    pub(crate) fn set_blocking(&self, blocking: bool) {
        self.state().paused = !blocking;
    }

    /// The socket is closing: nothing more is sent ahead. (Its `close` ends what is on its way.)
    pub(crate) fn close(&self) {
        self.state().closed = true;
    }

    /// A receive of the page's own is on its way until the guard drops; none is sent ahead
    /// meanwhile.
    pub(crate) fn call(self: &Arc<Self>) -> CallGuard {
        self.state().calls += 1;
        CallGuard(Arc::clone(self))
    }

    /// A receive's turn: it takes (or sends its own request) only when the receives called
    /// before it are done.
    pub(crate) fn turn(&self) -> Turn<'_> {
        let mut state = self.state();
        let turn = state.next_turn;
        state.next_turn += 1;
        state.turns.push_back(turn);
        Turn { reads: self, turn }
    }

    /// Takes what was read ahead for a receive of at most `bufsize` (> 0) bytes, in its `turn`,
    /// leaving it in place if `peek`: data, else the EOF (empty) or error the reading ahead ended
    /// with; `None` if there is nothing. A receive on its way is waited for. A caller that is not
    /// `patient` (it would not wait as long as a blocking `recv`) first makes them give way.
    pub(crate) async fn take(
        self: &Arc<Self>,
        turn: &Turn<'_>,
        core: &Arc<Core>,
        bufsize: usize,
        peek: bool,
        patient: bool,
    ) -> Option<Result<Vec<u8>>> {
        // This receive is the socket's next call: receives ahead deferred until now go, before it
        // waits (not after: one that comes back short while it waits defers the next again). They
        // go after one yield, so that a send polled alongside this receive (Python's two threads,
        // or `join!(recv, send)`) reaches the daemon first, as it does when called first.
        if patient {
            if self.state().deferred {
                YieldOnce(false).await;
            }
            self.kick(core);
        }
        let mut yielding = None;
        loop {
            let (rx, my_turn) = {
                let mut state = self.state();
                let my_turn = state.turns.front() == Some(&turn.turn);
                if my_turn && state.unread() > 0 {
                    let end = state.data.len().min(state.start + bufsize);
                    let out = state.data[state.start..end].to_vec();
                    if !peek {
                        state.start = end;
                        if end == state.data.len() {
                            state.data.clear();
                            state.start = 0;
                        }
                    }
                    return Some(Ok(out));
                }
                match &state.end {
                    _ if !my_turn => {}
                    Some(Ok(())) if peek => return Some(Ok(Vec::new())),
                    Some(_) => return state.end.take().map(|end| end.map(|()| Vec::new())),
                    None if state.posted == 0 => return None,
                    None => {}
                }
                let (tx, rx) = oneshot::channel();
                state.waiting.push(tx);
                (rx, my_turn)
            };
            if my_turn && !patient && yielding.is_none() {
                yielding = Some(self.give_way(core));
            }
            let _ = rx.await;
        }
    }

    /// Makes the receives ahead give way and waits for their answers; whether something is
    /// then unread (readable, for `select`).
    pub(crate) async fn settle(&self, core: &Core) -> bool {
        let mut yielding = None;
        loop {
            let rx = {
                let mut state = self.state();
                if state.posted == 0 || state.has_unread() {
                    return state.has_unread();
                }
                let (tx, rx) = oneshot::channel();
                state.waiting.push(tx);
                rx
            };
            if yielding.is_none() {
                yielding = Some(self.give_way(core));
            }
            let _ = rx.await;
        }
    }

    /// Any later request naming the socket makes the daemon end its receives sent ahead; a
    /// zero-byte recv asks for nothing else. None is sent ahead while the guard lives.
    fn give_way(&self, core: &Core) -> Yielding<'_> {
        self.state().yielding += 1;
        core.fire::<rpc::Recv>(&RecvParams { fd: self.fd, bufsize: 0, flags: 0, ahead: false });
        Yielding(self)
    }
}

/// Pending once, ready when polled again: lets the futures polled alongside take their turn.
struct YieldOnce(bool);

impl Future for YieldOnce {
    type Output = ();

    fn poll(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<()> {
        if std::mem::replace(&mut self.0, true) {
            return Poll::Ready(());
        }
        cx.waker().wake_by_ref();
        Poll::Pending
    }
}

/// A receive's place in line (see [`ReadAhead::turn`]), given up when dropped.
pub(crate) struct Turn<'a> {
    reads: &'a ReadAhead,
    turn: u64,
}

impl Drop for Turn<'_> {
    fn drop(&mut self) {
        let mut state = self.reads.state();
        state.turns.retain(|&t| t != self.turn);
        for tx in state.waiting.drain(..) {
            let _ = tx.send(());
        }
    }
}

/// See [`ReadAhead::give_way`].
struct Yielding<'a>(&'a ReadAhead);

impl Drop for Yielding<'_> {
    fn drop(&mut self) {
        self.0.state().yielding -= 1;
    }
}

/// See [`ReadAhead::call`].
pub(crate) struct CallGuard(Arc<ReadAhead>);

impl Drop for CallGuard {
    fn drop(&mut self) {
        self.0.state().calls -= 1;
    }
}

/// The sockets of a session that read ahead, by handle, for `select` (bytes read ahead are
/// readable, and the daemon cannot see them).
#[derive(Clone, Default)]
pub(crate) struct Readers(Arc<Mutex<Vec<Reader>>>);

/// A socket that reads ahead, and where.
type Reader = (Fd, Weak<ReadAhead>);

impl Readers {
    fn list(&self) -> MutexGuard<'_, Vec<Reader>> {
        self.0.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Notes that the socket `fd` reads ahead into `reads`.
    pub(crate) fn remember(&self, fd: Fd, reads: &Arc<ReadAhead>) {
        let mut list = self.list();
        match list.iter_mut().find(|(known, _)| *known == fd) {
            Some((_, known)) => *known = Arc::downgrade(reads),
            None => list.push((fd, Arc::downgrade(reads))),
        }
    }

    /// Forgets the socket `fd` (closing), if it is the one that read into `reads`.
    pub(crate) fn forget(&self, fd: Fd, reads: &Arc<ReadAhead>) {
        self.list().retain(|(known, weak)| *known != fd || !std::ptr::eq(weak.as_ptr(), Arc::as_ptr(reads)));
    }

    /// The reader of socket `fd`, if it still reads ahead.
    fn get(&self, fd: Fd) -> Option<Arc<ReadAhead>> {
        self.list().iter().find(|(known, _)| *known == fd).and_then(|(_, weak)| weak.upgrade())
    }

    /// Of `fds`, the sockets holding bytes read ahead, once their receives ahead have given way
    /// (so what they brought is counted).
    pub(crate) async fn holding(&self, core: &Core, fds: &[Fd]) -> Vec<Fd> {
        let mut out = Vec::new();
        for &fd in fds {
            let reads = self.get(fd);
            if let Some(reads) = reads
                && reads.settle(core).await
            {
                out.push(fd);
            }
        }
        out
    }
}
