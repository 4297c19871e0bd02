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
//! `select`. A socket has at most one receive ahead, and nothing more is read ahead until what was
//! read has been taken, so the memory held is at most one `max_payload_bytes` per socket.

use crate::core::Core;
use crate::error::{Error, Result};
use bridge_protocol::errno::code::{EAGAIN, EBADF};
use bridge_protocol::params::RecvParams;
use bridge_protocol::{Fd, Payload, rpc};
use futures_channel::oneshot;
use std::sync::{Arc, Mutex, MutexGuard};

/// What a socket has read ahead (shared with the answer's callback, so a socket waiting for data
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
    /// A receive is on its way ahead.
    posted: bool,
    /// How the receive sent ahead ended when it brought no data: EOF (`Ok`) or an error, for the
    /// next receive to return.
    end: Option<Result<()>>,
    /// Callers waiting for the receive on its way.
    waiting: Vec<oneshot::Sender<()>>,
}

impl State {
    fn has_unread(&self) -> bool {
        self.start < self.data.len() || self.end.is_some()
    }
}

impl ReadAhead {
    pub(crate) fn new(fd: Fd) -> Self {
        ReadAhead { fd, state: Mutex::default() }
    }

    fn state(&self) -> MutexGuard<'_, State> {
        self.state.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// Sends a receive of `bufsize` ahead, unless one is on its way or something is unread.
    pub(crate) fn post(self: &Arc<Self>, core: &Core, bufsize: usize) {
        {
            let mut state = self.state();
            if state.posted || state.has_unread() {
                return;
            }
            state.posted = true;
        }
        let me = Arc::clone(self);
        let params = RecvParams { fd: self.fd, bufsize: bufsize as u64, flags: 0, ahead: true };
        if core.start_ahead(&params, move |result| me.arrived(result)).is_err() {
            self.state().posted = false;
        }
    }

    /// The answer of the receive sent ahead.
    fn arrived(&self, result: Result<Payload>) {
        let mut state = self.state();
        state.posted = false;
        match result {
            Ok(data) if data.is_empty() => state.end = Some(Ok(())),
            Ok(data) => {
                let start = std::mem::take(&mut state.start);
                state.data.drain(..start);
                state.data.extend_from_slice(data.as_bytes());
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

    /// Takes what was read ahead for a receive of at most `bufsize` (> 0) bytes, leaving it in
    /// place if `peek`: data, else the EOF (empty) or error the reading ahead ended with; `None`
    /// if there is nothing. A receive on its way is waited for. A caller that is not `patient`
    /// (it would not wait as long as a blocking `recv`) first makes it give way.
    pub(crate) async fn take(&self, core: &Core, bufsize: usize, peek: bool, patient: bool) -> Option<Result<Vec<u8>>> {
        loop {
            {
                let mut state = self.state();
                if state.start < state.data.len() {
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
                    Some(Ok(())) if peek => return Some(Ok(Vec::new())),
                    Some(_) => return state.end.take().map(|end| end.map(|()| Vec::new())),
                    None if !state.posted => return None,
                    None => {}
                }
            }
            self.settle(core, !patient).await;
        }
    }

    /// Waits until no receive is on its way (first making it give way if `give_way`); whether
    /// something is then unread.
    pub(crate) async fn settle(&self, core: &Core, give_way: bool) -> bool {
        let rx = {
            let mut state = self.state();
            if !state.posted {
                return state.has_unread();
            }
            let (tx, rx) = oneshot::channel();
            state.waiting.push(tx);
            rx
        };
        if give_way {
            // Any later request naming the socket makes the daemon end the receive sent ahead; a
            // zero-byte recv asks for nothing else.
            core.fire::<rpc::Recv>(&RecvParams { fd: self.fd, bufsize: 0, flags: 0, ahead: false });
        }
        let _ = rx.await;
        self.state().has_unread()
    }
}
