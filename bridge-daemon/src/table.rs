//! A session's sockets by handle: small integers from 3 up, the lowest free one first, as POSIX
//! allocates file descriptors. A session can name only its own handles; any other number is
//! `EBADF`, and the host's real fd numbers are never shown.

use crate::error::{OpError, OpResult};
use crate::lane::Lane;
use crate::lock;
use crate::net::BridgeSocket;
use crate::policy::own::OwnGuard;
use bridge_protocol::errno::code::{EAGAIN, EMFILE};
use bridge_protocol::{FIRST_FD, Fd};
use std::collections::BTreeMap;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;

/// What a socket holds beyond its fd, released when it is closed: its place under the daemon-wide
/// socket limit and its address in the `own` set.
#[derive(Debug)]
pub(crate) struct Claims {
    _slot: OwnedSemaphorePermit,
    pub(crate) own: Option<OwnGuard>,
}

/// A socket, its two lanes and its claims.
#[derive(Clone, Debug)]
pub(crate) struct Entry {
    pub(crate) socket: Arc<BridgeSocket>,
    pub(crate) reads: Arc<Lane>,
    pub(crate) writes: Arc<Lane>,
    claims: Arc<Mutex<Option<Claims>>>,
    /// The `recv` sent ahead, while one is queued or waiting: cancelled to make it give way.
    ahead: Arc<Mutex<Option<CancellationToken>>>,
}

impl Entry {
    /// The socket's claims; `None` once released.
    pub(crate) fn claims(&self) -> MutexGuard<'_, Option<Claims>> {
        lock(&self.claims)
    }

    /// Starts a `recv` sent ahead: one at a time per socket (so a page cannot pile them up behind
    /// a waiting call), counted in `reading` while it lasts.
    pub(crate) fn begin_ahead(&self, reading: &Arc<AtomicUsize>) -> OpResult<AheadRecv> {
        let mut slot = lock(&self.ahead);
        if slot.is_some() {
            return Err(OpError::refused(EAGAIN, "this socket already has a recv sent ahead"));
        }
        let token = CancellationToken::new();
        *slot = Some(token.clone());
        reading.fetch_add(1, Ordering::Relaxed);
        Ok(AheadRecv { token, slot: Arc::clone(&self.ahead), reading: Arc::clone(reading) })
    }

    /// Makes the `recv` sent ahead, if any, give way to a later request.
    pub(crate) fn give_way(&self) {
        if let Some(token) = lock(&self.ahead).as_ref() {
            token.cancel();
        }
    }

    /// Closes the socket and releases its claims.
    pub(crate) async fn close(&self) {
        self.socket.close().await;
        self.claims().take();
    }
}

/// A `recv` sent ahead, from its arrival until it has answered.
pub(crate) struct AheadRecv {
    token: CancellationToken,
    slot: Arc<Mutex<Option<CancellationToken>>>,
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
        lock(&self.slot).take();
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
    pub(crate) fn insert(&mut self, socket: BridgeSocket, slot: OwnedSemaphorePermit) -> OpResult<Fd> {
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
            claims: Arc::new(Mutex::new(Some(Claims { _slot: slot, own: None }))),
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
