//! A session's sockets by handle: small integers from 3 up, the lowest free one first, as POSIX
//! allocates file descriptors. A session can name only its own handles; any other number is
//! `EBADF`, and the host's real fd numbers are never shown.

use crate::error::{OpError, OpResult};
use crate::lane::Lane;
use crate::lock;
use crate::net::BridgeSocket;
use crate::policy::own::OwnGuard;
use bridge_protocol::errno::code::{EAGAIN, EMFILE};
use bridge_protocol::params::MAX_RECV_AHEAD as MAX_AHEAD;
use bridge_protocol::{FIRST_FD, Fd};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

/// What a socket holds beyond its fd, released when it is closed: its place under the daemon-wide
/// and the origin's socket limits, its address in the `own` set, and its place among the origin's
/// connections to the lab services.
#[derive(Debug)]
pub(crate) struct Claims {
    _slot: Slot,
    pub(crate) own: Option<OwnGuard>,
    pub(crate) lab: Option<OwnedSemaphorePermit>,
}

/// A socket's places under `max_sockets_total` and `max_sockets_per_origin`.
#[derive(Debug)]
pub(crate) struct Slot {
    pub(crate) _total: OwnedSemaphorePermit,
    pub(crate) _origin: OwnedSemaphorePermit,
}

/// A socket, its two lanes and its claims.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) socket: Arc<BridgeSocket>,
    pub(crate) reads: Arc<Lane>,
    pub(crate) writes: Arc<Lane>,
    claims: Arc<Mutex<Option<Claims>>>,
    /// The `recv`s sent ahead that are queued or waiting.
    ahead: Arc<Mutex<Aheads>>,
}

impl Entry {
    /// The socket's claims; `None` once released.
    pub(crate) fn claims(&self) -> MutexGuard<'_, Option<Claims>> {
        lock(&self.claims)
    }

    /// Starts a `recv` sent ahead: at most `MAX_RECV_AHEAD` at a time per socket (so a page cannot
    /// pile them up behind a waiting call), counted in `reading` while they last.
    pub(crate) fn begin_ahead(&self, reading: &Arc<AtomicUsize>) -> OpResult<AheadRecv> {
        let mut aheads = lock(&self.ahead);
        if aheads.count >= MAX_AHEAD {
            return Err(OpError::refused(
                EAGAIN,
                format!("this socket already has {MAX_AHEAD} recvs sent ahead, the most it may"),
            ));
        }
        aheads.count += 1;
        let token = aheads.token.get_or_insert_with(CancellationToken::new).clone();
        reading.fetch_add(1, Ordering::Relaxed);
        Ok(AheadRecv { token, aheads: Arc::clone(&self.ahead), reading: Arc::clone(reading) })
    }

    /// Makes the `recv`s sent ahead, if any, give way to a later request.
    pub(crate) fn give_way(&self) {
        if let Some(token) = lock(&self.ahead).token.take() {
            token.cancel();
        }
    }

    /// Closes the socket and releases its claims.
    pub(crate) async fn close(&self) {
        self.socket.close().await;
        self.claims().take();
    }
}

/// A socket's `recv`s sent ahead.
#[derive(Debug, Default)]
pub(crate) struct Aheads {
    /// Queued or waiting.
    count: usize,
    /// Cancelled to make them give way; the ones sent after that get a new one.
    token: Option<CancellationToken>,
}

/// A `recv` sent ahead, from its arrival until it has answered.
pub(crate) struct AheadRecv {
    token: CancellationToken,
    aheads: Arc<Mutex<Aheads>>,
    reading: Arc<AtomicUsize>,
}

impl AheadRecv {
    /// Runs the receive until it has data (or fails), or until a later request on the socket
    /// makes it give way: then it fails with `EAGAIN`. Waiting for data reads nothing, so giving
    /// way loses no byte.
    pub(crate) async fn run<T>(self, recv: impl Future<Output = OpResult<T>>) -> OpResult<T> {
        let gave_way = || OpError::refused(EAGAIN, "the recv sent ahead gave way to a later request on its socket");
        if self.token.is_cancelled() {
            return Err(gave_way());
        }
        tokio::select! {
            biased;
            got = recv => got,
            () = self.token.cancelled() => Err(gave_way()),
        }
    }
}

impl Drop for AheadRecv {
    fn drop(&mut self) {
        let mut aheads = lock(&self.aheads);
        aheads.count -= 1;
        if aheads.count == 0 {
            aheads.token = None;
        }
        self.reading.fetch_sub(1, Ordering::Relaxed);
    }
}

/// A session's open sockets.
#[derive(Debug)]
pub(crate) struct SocketTable {
    entries: BTreeMap<Fd, Entry>,
    max: usize,
    /// Set when the session ends: no socket may be added after the table was drained.
    closed: bool,
}

impl SocketTable {
    /// An empty table holding at most `max` sockets.
    pub(crate) fn new(max: usize) -> Self {
        SocketTable { entries: BTreeMap::new(), max, closed: false }
    }

    /// `EMFILE` if the table is full.
    pub(crate) fn check_room(&self) -> OpResult<()> {
        if self.closed {
            return Err(OpError::bad_fd());
        }
        if self.entries.len() >= self.max {
            return Err(OpError::refused(
                EMFILE,
                format!("this session already has {} sockets open, its limit", self.max),
            ));
        }
        Ok(())
    }

    /// Adds a socket under the lowest free handle; `slot` is its place under the daemon-wide limit.
    pub(crate) fn insert(&mut self, socket: BridgeSocket, slot: Slot) -> OpResult<Fd> {
        self.check_room()?;
        let mut fd = FIRST_FD;
        for &used in self.entries.keys() {
            if used != fd {
                break;
            }
            fd += 1;
        }
        let entry = Entry {
            socket: Arc::new(socket),
            reads: Arc::default(),
            writes: Arc::default(),
            claims: Arc::new(Mutex::new(Some(Claims { _slot: slot, own: None, lab: None }))),
            ahead: Arc::default(),
        };
        self.entries.insert(fd, entry);
        Ok(fd)
    }

    /// The socket behind a handle.
    pub(crate) fn get(&self, fd: Fd) -> OpResult<Entry> {
        self.entries.get(&fd).cloned().ok_or_else(OpError::bad_fd)
    }

    /// Takes a handle out of the table (on `close`).
    pub(crate) fn remove(&mut self, fd: Fd) -> OpResult<Entry> {
        self.entries.remove(&fd).ok_or_else(OpError::bad_fd)
    }

    /// Takes every socket out (at the end of the session).
    pub(crate) fn drain(&mut self) -> Vec<Entry> {
        self.closed = true;
        std::mem::take(&mut self.entries).into_values().collect()
    }
}
