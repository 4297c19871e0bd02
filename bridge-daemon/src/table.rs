//! A session's sockets by handle: small integers from 3 up, the lowest free one first, as POSIX
//! allocates file descriptors. A session can name only its own handles; any other number is
//! `EBADF`, and the host's real fd numbers are never shown.

use crate::error::{OpError, OpResult};
use crate::lane::Lane;
use crate::lock;
use crate::net::BridgeSocket;
use crate::policy::own::OwnGuard;
use crate::read_ahead::Aheads;
use bridge_protocol::errno::code::EMFILE;
use bridge_protocol::{FIRST_FD, Fd};
use std::collections::BTreeMap;
use std::sync::{Arc, Mutex, MutexGuard};
use tokio::sync::OwnedSemaphorePermit;

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
    pub(crate) ahead: Aheads,
}

impl Entry {
    /// The socket's claims; `None` once released.
    pub(crate) fn claims(&self) -> MutexGuard<'_, Option<Claims>> {
        lock(&self.claims)
    }

    /// Closes the socket and releases its claims.
    pub(crate) async fn close(&self) {
        self.socket.close().await;
        self.claims().take();
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
            ahead: Aheads::default(),
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

    /// Every handle and its socket.
    pub(crate) fn iter(&self) -> impl Iterator<Item = (Fd, &Entry)> {
        self.entries.iter().map(|(fd, entry)| (*fd, entry))
    }

    /// Takes every socket out (at the end of the session).
    pub(crate) fn drain(&mut self) -> Vec<Entry> {
        self.closed = true;
        std::mem::take(&mut self.entries).into_values().collect()
    }
}
