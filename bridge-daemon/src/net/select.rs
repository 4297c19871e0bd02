//! `select.select(rlist, wlist, xlist, timeout)`.
//!
//! What is ready is decided by `poll(2)` on the real fds, so the answer is the kernel's, exactly as
//! Python's `select` would get it (a fresh TCP socket is readable and writable, a connecting one is
//! neither, a listener with a pending connection is readable). Tokio's readiness events only say
//! when to look again; a stale one is cleared under the socket's readiness guard, so a wait never
//! spins.

use crate::error::{OpError, OpResult};
use crate::net::socket::BridgeSocket;
use bridge_protocol::Fd;
use bridge_protocol::params::SelectResult;
use futures_util::StreamExt;
use futures_util::stream::FuturesUnordered;
use socket2::Socket;
use std::io;
use std::os::fd::{AsRawFd, RawFd};
use std::sync::Arc;
use std::time::Duration;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;

/// `select`'s readable set, as Linux defines it from poll events.
const READ_SET: i16 = libc::POLLIN | libc::POLLRDNORM | libc::POLLRDBAND | libc::POLLHUP | libc::POLLERR;
/// `select`'s writable set.
const WRITE_SET: i16 = libc::POLLOUT | libc::POLLWRNORM | libc::POLLWRBAND | libc::POLLERR;
/// `select`'s exceptional set.
const EXCEPT_SET: i16 = libc::POLLPRI;

/// The sockets of one `select` call, by the handle numbers the page used.
pub(crate) struct Watch {
    /// Each distinct socket with what is asked of it.
    pub(crate) sockets: Vec<Watched>,
    /// The three lists as given, by index into `sockets`.
    pub(crate) lists: [Vec<(Fd, usize)>; 3],
}

/// One socket in a `select`.
pub(crate) struct Watched {
    pub(crate) socket: Arc<BridgeSocket>,
    /// Poll events asked for: POLLIN (rlist), POLLOUT (wlist), POLLPRI (xlist).
    pub(crate) events: i16,
}

/// Waits until a socket is ready or the timeout passes, as `select.select`.
pub(crate) async fn select(watch: Watch, timeout: Option<Duration>) -> OpResult<SelectResult> {
    let mut guards = Vec::with_capacity(watch.sockets.len());
    for w in &watch.sockets {
        guards.push(w.socket.io().await?);
    }
    let ios: Vec<&AsyncFd<Socket>> = guards.iter().filter_map(|g| g.as_ref()).collect();
    if ios.len() != watch.sockets.len() {
        return Err(OpError::bad_fd());
    }
    // A timeout too far away to name is no timeout.
    let deadline = timeout.and_then(|t| tokio::time::Instant::now().checked_add(t));
    loop {
        let fds: Vec<(RawFd, i16)> =
            ios.iter().zip(&watch.sockets).map(|(io, w)| (io.get_ref().as_raw_fd(), w.events)).collect();
        let revents = poll_now(&fds)?;
        if revents.iter().any(|&r| r != 0) || timeout == Some(Duration::ZERO) {
            return Ok(result(&watch, &revents));
        }
        let mut waits: FuturesUnordered<_> = ios
            .iter()
            .zip(&watch.sockets)
            .flat_map(|(&io, w)| interests(w.events).into_iter().map(move |(interest, events)| (io, interest, events)))
            .map(|(io, interest, events)| async move {
                let guard = io.ready(interest).await;
                (guard, events)
            })
            .collect();
        let closed: FuturesUnordered<_> = watch.sockets.iter().map(|w| w.socket.closed()).collect();
        let mut closed = closed.into_future();
        let sleep = async {
            match deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        tokio::select! {
            biased;
            // (With no sockets at all, select only sleeps: Python's `select([], [], [], t)`.)
            _ = &mut closed, if !watch.sockets.is_empty() => return Err(OpError::bad_fd()),
            () = sleep => return Ok(SelectResult::default()),
            Some((guard, events)) = waits.next() => {
                let mut guard = guard?;
                // Clear the readiness if the fd is in fact not ready (a stale event); the tick check
                // inside try_io keeps a fresh event that raced with this poll.
                let _ = guard.try_io(|inner| {
                    let r = poll_now(&[(inner.get_ref().as_raw_fd(), events)])?;
                    if r.first().is_some_and(|&r| r != 0) { Ok(()) } else { Err(io::ErrorKind::WouldBlock.into()) }
                });
            }
        }
    }
}

/// The tokio interests to wait on for the poll events asked.
fn interests(events: i16) -> Vec<(Interest, i16)> {
    let mut out = Vec::with_capacity(3);
    if events & libc::POLLIN != 0 {
        out.push((Interest::READABLE, libc::POLLIN));
    }
    if events & libc::POLLOUT != 0 {
        out.push((Interest::WRITABLE, libc::POLLOUT));
    }
    if events & libc::POLLPRI != 0 {
        out.push((Interest::PRIORITY, libc::POLLPRI));
    }
    out
}

fn result(watch: &Watch, revents: &[i16]) -> SelectResult {
    let pick = |list: &[(Fd, usize)], set: i16| -> Vec<Fd> {
        list.iter().filter(|(_, i)| revents.get(*i).is_some_and(|r| r & set != 0)).map(|(fd, _)| *fd).collect()
    };
    SelectResult {
        rlist: pick(&watch.lists[0], READ_SET),
        wlist: pick(&watch.lists[1], WRITE_SET),
        xlist: pick(&watch.lists[2], EXCEPT_SET),
    }
}

/// `poll(2)` with a zero timeout: each fd's revents.
fn poll_now(fds: &[(RawFd, i16)]) -> io::Result<Vec<i16>> {
    let mut pollfds: Vec<libc::pollfd> =
        fds.iter().map(|&(fd, events)| libc::pollfd { fd, events, revents: 0 }).collect();
    loop {
        // SAFETY: pollfds is a valid, writable array of that many pollfd structs.
        let rc = unsafe { libc::poll(pollfds.as_mut_ptr(), pollfds.len() as libc::nfds_t, 0) };
        if rc >= 0 {
            return Ok(pollfds.iter().map(|p| p.revents).collect());
        }
        let err = io::Error::last_os_error();
        if err.kind() != io::ErrorKind::Interrupted {
            return Err(err);
        }
    }
}
