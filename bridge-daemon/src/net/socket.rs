//! [`BridgeSocket`]: one page socket, whatever its family and type.
//!
//! The socket is a `socket2::Socket`, non-blocking from birth, registered with tokio through
//! `AsyncFd`. Every operation is the same system call CPython would make, so the kernel's answers,
//! errno values included, reach the page unchanged; Python's timeout modes are layered on top:
//!
//! | mode (`settimeout`)   | a call that would block…                                   |
//! |-----------------------|-------------------------------------------------------------|
//! | `None` (blocking)     | waits for readiness, as long as it takes                    |
//! | `t > 0`               | waits at most `t`, then fails with `TimeoutError`           |
//! | `0.0` (non-blocking)  | fails at once with `BlockingIOError` (`EAGAIN`; a `connect` |
//! |                       | in progress reports `EINPROGRESS`)                          |
//!
//! Waiting never consumes data: a call that times out or is cancelled has read nothing, so no byte is
//! lost. [`BridgeSocket::close`] cancels every operation waiting on the socket (they fail with
//! `EBADF`) and closes the fd before it returns, so a closed listener's port is free at once.

use crate::error::{OpError, OpResult};
use crate::net::sockopt;
use bridge_protocol::constants::*;
use bridge_protocol::errno::code::{EAFNOSUPPORT, EINPROGRESS, EOPNOTSUPP, EPROTONOSUPPORT, ESOCKTNOSUPPORT};
use bridge_protocol::params::OptValue;
use socket2::{Domain, Protocol, SockAddr, Socket, Type};
use std::io;
use std::mem::MaybeUninit;
use std::net::Shutdown;
use std::os::fd::AsRawFd;
use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;
use tokio::io::Interest;
use tokio::io::unix::AsyncFd;
use tokio::sync::{OwnedSemaphorePermit, RwLock, Semaphore};
use tokio_util::sync::CancellationToken;

/// Python's timeout state of a socket.
#[derive(Clone, Copy, Debug, PartialEq)]
pub(crate) enum Mode {
    /// `settimeout(None)`: wait as long as it takes.
    Blocking,
    /// `settimeout(0.0)`: never wait.
    NonBlocking,
    /// `settimeout(t)`: wait at most `t`.
    Timeout(Duration),
}

impl Mode {
    /// The mode for a Python timeout value; `Err` for a negative, NaN or infinite one.
    pub(crate) fn from_timeout(timeout: Option<f64>) -> Result<Mode, &'static str> {
        match timeout {
            None => Ok(Mode::Blocking),
            Some(0.0) => Ok(Mode::NonBlocking),
            // CPython keeps timeouts as 64-bit nanoseconds: beyond that, OverflowError.
            Some(t) if t.is_finite() && t > 0.0 && t <= MAX_TIMEOUT_SECS => {
                Duration::try_from_secs_f64(t).map(Mode::Timeout).map_err(|_| "the timeout is out of range")
            }
            Some(t) if t > MAX_TIMEOUT_SECS => Err("timestamp out of range for platform time_t"),
            Some(_) => Err("the timeout must be null or a non-negative number of seconds"),
        }
    }
}

/// The longest timeout, in seconds, as CPython allows it (`i64::MAX` nanoseconds, about 292
/// years).
pub(crate) const MAX_TIMEOUT_SECS: f64 = 9_223_372_036.854_775;

/// Room for a result on its way to the page: `permits` of the session's outbound allowance
/// (`Limits::outbound_bytes`), taken once data is there to read and handed on with the response.
/// So data read from the network but not yet sent to the page is bounded per session.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Budget<'a> {
    pub(crate) room: &'a Arc<Semaphore>,
    pub(crate) permits: u32,
}

/// Flags a page may pass to receive calls.
const RECV_FLAGS: i32 = MSG_OOB | MSG_PEEK | MSG_DONTWAIT | MSG_WAITALL;
/// Flags a page may pass to send calls.
const SEND_FLAGS: i32 = MSG_OOB | MSG_DONTWAIT;

/// One socket of a page.
#[derive(Debug)]
pub(crate) struct BridgeSocket {
    family: i32,
    kind: i32,
    /// `None` once closed. Operations hold the read lock while they run; `close` takes the write
    /// lock after cancelling them, so the fd is closed only when nothing uses it.
    io: RwLock<Option<AsyncFd<Socket>>>,
    closed: CancellationToken,
    mode: Mutex<Mode>,
    /// `SO_REUSEADDR` as a UDP socket's page set it. The kernel never sees it: with it, a page's
    /// UDP socket and another program's could share a port, and one take the other's datagrams.
    udp_reuse_addr: AtomicBool,
    /// On a host of a private network, where no other program's socket can be: `SO_REUSEADDR`
    /// on UDP goes to the kernel. False once the socket has moved outside (see
    /// [`BridgeSocket::move_outside`]).
    private: AtomicBool,
    /// Moved out of its private network to the daemon's own, to reach a destination the policy
    /// names: from then on, everything it dials is checked by the policy.
    outside: AtomicBool,
    /// The options the page set on a socket of a private network, one value per option (a short
    /// list: the allow-list is short), for the socket that replaces it when it moves outside.
    options: Mutex<Vec<(i32, i32, OptValue)>>,
    /// The socket's inode, by which the kernel's tables (`/proc/net/tcp`) name it.
    inode: AtomicU64,
}

impl BridgeSocket {
    /// `socket(family, type, proto)`. `unix` says whether AF_UNIX is enabled; `netns` is the host
    /// of a private network to make it on (`None`: the daemon's own network).
    pub(crate) fn open(
        family: i32,
        type_and_flags: i32,
        proto: i32,
        unix: bool,
        netns: Option<&crate::netns::Netns>,
    ) -> OpResult<BridgeSocket> {
        let nonblocking = type_and_flags & SOCK_NONBLOCK != 0;
        let kind = type_and_flags & !(SOCK_NONBLOCK | SOCK_CLOEXEC);
        let domain = match family {
            AF_INET => Domain::IPV4,
            AF_INET6 => Domain::IPV6,
            AF_UNIX if unix => Domain::UNIX,
            AF_UNIX => return Err(OpError::refused(EAFNOSUPPORT, "AF_UNIX sockets are disabled on this bridge")),
            _ => {
                return Err(OpError::refused(EAFNOSUPPORT, "the bridge offers AF_INET, AF_INET6 and AF_UNIX"));
            }
        };
        let ty = match kind {
            SOCK_STREAM => Type::STREAM,
            SOCK_DGRAM => Type::DGRAM,
            _ => {
                return Err(OpError::refused(ESOCKTNOSUPPORT, "the bridge offers SOCK_STREAM and SOCK_DGRAM sockets"));
            }
        };
        let proto_ok = matches!(
            (family, kind, proto),
            (_, _, 0) | (AF_INET | AF_INET6, SOCK_STREAM, IPPROTO_TCP) | (AF_INET | AF_INET6, SOCK_DGRAM, IPPROTO_UDP)
        );
        if !proto_ok {
            return Err(OpError::refused(EPROTONOSUPPORT, "the protocol must be 0, IPPROTO_TCP or IPPROTO_UDP"));
        }
        let protocol = (proto != 0).then(|| Protocol::from(proto));
        let sock = match netns {
            None => Socket::new(domain, ty.nonblocking().cloexec(), protocol)?,
            Some(netns) => netns.run(move || Socket::new(domain, ty.nonblocking().cloexec(), protocol))?,
        };
        let mode = if nonblocking { Mode::NonBlocking } else { Mode::Blocking };
        Self::wrap(sock, family, kind, mode, netns.is_some())
    }

    /// Takes ownership of a non-blocking socket (a fresh one, or one `accept` returned).
    fn wrap(sock: Socket, family: i32, kind: i32, mode: Mode, private: bool) -> OpResult<BridgeSocket> {
        Ok(BridgeSocket {
            inode: AtomicU64::new(inode_of(&sock)),
            family,
            kind,
            io: RwLock::new(Some(register(sock)?)),
            closed: CancellationToken::new(),
            mode: Mutex::new(mode),
            udp_reuse_addr: Default::default(),
            private: AtomicBool::new(private),
            outside: AtomicBool::new(false),
            options: Mutex::default(),
        })
    }

    /// Whether the socket is on a host of a private network (and has not moved outside).
    fn private(&self) -> bool {
        self.private.load(Ordering::Relaxed)
    }

    /// Whether the socket has moved out of its private network (see [`Self::move_outside`]).
    pub(crate) fn outside(&self) -> bool {
        self.outside.load(Ordering::Relaxed)
    }

    /// Moves a socket of a private network's host out to the daemon's own network, to dial `to`:
    /// a destination outside the network that the policy names. The fd is replaced by a fresh
    /// socket of the same family and type made in the daemon's network, with the options the page
    /// set; the page's fd number, timeout mode and lanes stay. A UDP socket is bound to the
    /// address the daemon's routes would send from (never the wildcard), with an ephemeral port.
    ///
    /// Only a socket with nothing in the network can move: not bound (so not listening or
    /// connected there), with no call waiting on it. Anything else is `ENETUNREACH`, saying why.
    pub(crate) async fn move_outside(&self, to: &SockAddr) -> OpResult<()> {
        let unreachable = |why: &str| OpError::refused(libc::ENETUNREACH, why.to_owned());
        let Ok(mut guard) = self.io.try_write() else {
            return Err(unreachable(
                "a call is waiting on this socket inside the private network; it can go outside only when none is",
            ));
        };
        let io = guard.as_ref().ok_or_else(OpError::bad_fd)?;
        let bound = io.get_ref().local_addr()?.as_socket().is_some_and(|a| a.port() != 0);
        if bound {
            return Err(unreachable(
                "this socket is bound inside the private network, so it cannot reach outside it: the bridge dials outside destinations from sockets that are not bound",
            ));
        }
        let domain = if self.family == AF_INET6 { Domain::IPV6 } else { Domain::IPV4 };
        let ty = if self.kind == SOCK_DGRAM { Type::DGRAM } else { Type::STREAM };
        let sock = Socket::new(domain, ty.nonblocking().cloexec(), None)?;
        let options = std::mem::take(&mut *self.options.lock().unwrap_or_else(|poison| poison.into_inner()));
        for (level, optname, value) in &options {
            if self.kind == SOCK_DGRAM && (*level, *optname) == (SOL_SOCKET, SO_REUSEADDR) {
                // Outside, a UDP socket's SO_REUSEADDR stays the page's own (see `udp_reuse_addr`).
                let on = matches!(value, OptValue::Int(v) if *v != 0);
                self.udp_reuse_addr.store(on, Ordering::Relaxed);
                continue;
            }
            sockopt::set(&sock, *level, *optname, value)?;
        }
        if self.kind == SOCK_DGRAM {
            // The kernel would bind an unbound UDP socket to the wildcard address on its first
            // send, open to every network of this computer; the route's source address is enough.
            let probe = Socket::new(domain, Type::DGRAM.cloexec(), None)?;
            probe.connect(to)?;
            let source = probe.local_addr()?.as_socket().ok_or_else(|| unreachable("no route outside"))?;
            sock.bind(&SockAddr::from(std::net::SocketAddr::new(source.ip(), 0)))?;
        }
        self.inode.store(inode_of(&sock), Ordering::Relaxed);
        *guard = Some(register(sock)?);
        self.private.store(false, Ordering::Relaxed);
        self.outside.store(true, Ordering::Relaxed);
        Ok(())
    }

    /// Registers the fd with the reactor anew, so its readiness reflects the socket's state now.
    ///
    /// A TCP or Unix stream socket that is neither listening nor connected is in the kernel's
    /// CLOSE state, which poll reports as hang-up; tokio keeps a hang-up for good. When such a
    /// socket starts listening or connecting, its old registration would say "ready" forever, so
    /// `listen` and `connect` call this for stream sockets. It waits for the write lock, i.e. for
    /// operations in progress on the socket; in the CLOSE state every one of them returns at once.
    async fn reregister(&self) -> OpResult<()> {
        let mut guard = self.io.write().await;
        let io = guard.take().ok_or_else(OpError::bad_fd)?;
        *guard = Some(register(io.into_inner())?);
        Ok(())
    }

    /// The address family.
    pub(crate) fn family(&self) -> i32 {
        self.family
    }

    /// The socket type (`SOCK_STREAM` or `SOCK_DGRAM`).
    pub(crate) fn kind(&self) -> i32 {
        self.kind
    }

    /// The current timeout mode; operations take it when they are dispatched.
    pub(crate) fn mode(&self) -> Mode {
        *self.mode.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// `settimeout` / `setblocking`.
    pub(crate) async fn set_mode(&self, mode: Mode) -> OpResult<()> {
        self.with(async |_| Ok(())).await?;
        *self.mode.lock().unwrap_or_else(|poison| poison.into_inner()) = mode;
        Ok(())
    }

    /// Runs `f` on the open socket, failing with `EBADF` if the socket is closed before or while it
    /// runs.
    async fn with<T>(&self, f: impl AsyncFnOnce(&AsyncFd<Socket>) -> OpResult<T>) -> OpResult<T> {
        let guard = self.io.read().await;
        let io = guard.as_ref().ok_or_else(OpError::bad_fd)?;
        tokio::select! {
            biased;
            () = self.closed.cancelled() => Err(OpError::bad_fd()),
            result = f(io) => result,
        }
    }

    /// Runs a non-blocking system call as Python's socket methods do: in non-blocking mode once;
    /// otherwise retried on readiness until it stops saying "would block", within the timeout.
    async fn call<T>(
        io: &AsyncFd<Socket>,
        interest: Interest,
        mode: Mode,
        f: impl FnMut(&Socket) -> io::Result<T>,
    ) -> OpResult<T> {
        Self::call_held(io, interest, mode, None, f).await.map(|(value, _)| value)
    }

    /// [`call`](Self::call), taking `room` permits of `budget` just before each attempt (after
    /// readiness, so a call waiting for its peer holds none) and returning them with the result:
    /// room for the result on its way to the page.
    async fn call_held<T>(
        io: &AsyncFd<Socket>,
        interest: Interest,
        mode: Mode,
        budget: Option<Budget<'_>>,
        mut f: impl FnMut(&Socket) -> io::Result<T>,
    ) -> OpResult<(T, Option<OwnedSemaphorePermit>)> {
        let hold = async || match budget {
            Some(Budget { room, permits }) => Arc::clone(room).acquire_many_owned(permits).await.ok(),
            None => None,
        };
        let held = hold().await;
        match f(io.get_ref()) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && mode != Mode::NonBlocking => drop(held),
            other => return other.map(|v| (v, held)).map_err(OpError::from),
        }
        let wait = async {
            let mut stale = Duration::ZERO;
            loop {
                let mut guard = io.ready(interest).await?;
                let held = hold().await;
                // A readiness event can be stale; try_io clears it when the call still would block.
                if let Ok(result) = guard.try_io(|inner| f(inner.get_ref())) {
                    return result.map(|v| (v, held)).map_err(OpError::from);
                }
                drop(held);
                // A hang-up is never cleared (see `reregister`). Should one be stale here all the
                // same, poll with a growing pause rather than spin.
                if guard.ready().is_read_closed() || guard.ready().is_write_closed() {
                    stale = (stale * 2).clamp(Duration::from_millis(1), Duration::from_millis(50));
                    tracing::debug!(pause_ms = stale.as_millis() as u64, "stale hang-up readiness; polling");
                    tokio::time::sleep(stale).await;
                }
            }
        };
        within(mode, wait).await
    }

    /// `bind`.
    pub(crate) async fn bind(&self, addr: &SockAddr) -> OpResult<()> {
        self.with(async |io| io.get_ref().bind(addr).map_err(OpError::from)).await
    }

    /// `listen`.
    pub(crate) async fn listen(&self, backlog: i32) -> OpResult<()> {
        let was_listening = self
            .with(async |io| {
                let listening = io.get_ref().is_listener().unwrap_or(false);
                io.get_ref().listen(backlog)?;
                Ok(listening)
            })
            .await?;
        if !was_listening {
            self.reregister().await?;
        }
        Ok(())
    }

    /// `accept`: the connected socket (blocking, as Python makes accepted sockets) and the peer's
    /// address.
    pub(crate) async fn accept(&self, mode: Mode) -> OpResult<(BridgeSocket, SockAddr)> {
        self.with(async |io| {
            let flags = libc::SOCK_NONBLOCK | libc::SOCK_CLOEXEC;
            let (sock, addr) = Self::call(io, Interest::READABLE, mode, |s| s.accept4(flags)).await?;
            Ok((Self::wrap(sock, self.family, self.kind, Mode::Blocking, self.private())?, addr))
        })
        .await
    }

    /// `connect`. In non-blocking mode a TCP connect that has started fails with `EINPROGRESS`
    /// and goes on in the background; otherwise the call waits for the outcome, at most `limit`
    /// (then it fails with `ETIMEDOUT`, as when the kernel gives up, and the attempt is abandoned
    /// so the socket can connect again).
    pub(crate) async fn connect(&self, addr: &SockAddr, mode: Mode, limit: Duration) -> OpResult<()> {
        let started = self.with(async |io| Ok(io.get_ref().connect(addr))).await?;
        // Only a stream socket leaves the hang-up state by connecting. (A datagram socket never
        // had one, and may have a recvfrom waiting that the re-registration would wait for.)
        let left_close_state = self.kind == SOCK_STREAM
            && match &started {
                Ok(()) => true,
                Err(e) => e.raw_os_error() == Some(EINPROGRESS) || e.kind() == io::ErrorKind::WouldBlock,
            };
        if left_close_state {
            self.reregister().await?;
        }
        match started {
            Ok(()) => Ok(()),
            // CPython's two waiting paths leave the socket in different states, and the kernel
            // shows the difference on the next connect, so each is followed exactly.
            Err(e) if e.raw_os_error() == Some(EINPROGRESS) && mode == Mode::Blocking => {
                self.with(async |io| capped(io, limit, finish_connect_as_the_kernel_does(io, addr)).await).await
            }
            Err(e) if e.raw_os_error() == Some(EINPROGRESS) && mode != Mode::NonBlocking => {
                self.with(async |io| capped(io, limit, within(mode, wait_connected(io))).await).await
            }
            // A Unix stream listener whose backlog is full: a blocking connect waits for room.
            Err(e) if e.kind() == io::ErrorKind::WouldBlock && mode != Mode::NonBlocking => {
                self.with(async |io| within(mode, retry_unix_connect(io, addr)).await).await
            }
            Err(e) => Err(e.into()),
        }
    }

    /// `recv(bufsize, flags)`, holding room for the data from `budget` (see [`Budget`]).
    pub(crate) async fn recv(
        &self,
        bufsize: usize,
        flags: i32,
        mode: Mode,
        budget: Option<Budget<'_>>,
    ) -> OpResult<(Vec<u8>, Option<OwnedSemaphorePermit>)> {
        let (flags, mode) = recv_flags(flags, mode)?;
        self.with(async |io| {
            let mut buf = Vec::new();
            let mut held = None;
            if bufsize == 0 {
                // As CPython: no call to the kernel, which would wait for data (or fail with
                // EAGAIN) on a socket with nothing to read.
                return Ok((buf, held));
            }
            if flags & MSG_WAITALL != 0 && mode == Mode::Blocking && self.kind == SOCK_STREAM {
                // The fd is non-blocking, so the kernel would return what it has; a blocking
                // MSG_WAITALL gathers until the buffer is full or the peer closes.
                let flags = flags & !MSG_WAITALL;
                while buf.len() < bufsize {
                    let before = buf.len();
                    // Room for the whole buffer is taken once, when the first data arrives.
                    let budget = if held.is_none() { budget } else { None };
                    let got = Self::call_held(io, Interest::READABLE, mode, budget, |s| {
                        recv_into(s, &mut buf, bufsize, flags)
                    })
                    .await;
                    match got {
                        Ok((n, room)) => {
                            held = held.or(room);
                            if n == 0 {
                                break;
                            }
                        }
                        Err(_) if before > 0 => break,
                        Err(e) => return Err(e),
                    }
                }
            } else {
                let (_, room) =
                    Self::call_held(io, Interest::READABLE, mode, budget, |s| recv_into(s, &mut buf, bufsize, flags))
                        .await?;
                held = room;
            }
            Ok((buf, held))
        })
        .await
    }

    /// `recvfrom(bufsize, flags)`: the data and the sender's raw address, holding room for the data
    /// from `budget` (see [`Budget`]).
    pub(crate) async fn recvfrom(
        &self,
        bufsize: usize,
        flags: i32,
        mode: Mode,
        budget: Option<Budget<'_>>,
    ) -> OpResult<(Vec<u8>, SockAddr, Option<OwnedSemaphorePermit>)> {
        let (flags, mode) = recv_flags(flags, mode)?;
        self.with(async |io| {
            let mut buf = Vec::new();
            let (addr, held) = Self::call_held(io, Interest::READABLE, mode, budget, |s| {
                buf.reserve_exact(bufsize);
                match s.recv_from_with_flags(buf.spare_capacity_mut(), flags) {
                    Ok((n, addr)) => {
                        // SAFETY: recvfrom initialised the first n bytes of the spare capacity.
                        unsafe { buf.set_len(n) };
                        Ok(addr)
                    }
                    Err(e) => {
                        // Hold no buffer while waiting.
                        buf = Vec::new();
                        Err(e)
                    }
                }
            })
            .await?;
            Ok((buf, addr, held))
        })
        .await
    }

    /// `send(data, flags)`: how many bytes the kernel took.
    pub(crate) async fn send(&self, data: &[u8], flags: i32, mode: Mode) -> OpResult<usize> {
        let (flags, mode) = send_flags(flags, mode)?;
        self.with(async |io| Self::call(io, Interest::WRITABLE, mode, |s| s.send_with_flags(data, flags)).await).await
    }

    /// `sendall(data, flags)`: everything, or an error. A timeout covers the whole call, as in
    /// Python 3.5 and later.
    pub(crate) async fn sendall(&self, data: &[u8], flags: i32, mode: Mode) -> OpResult<()> {
        let (flags, mode) = send_flags(flags, mode)?;
        self.with(async |io| {
            let per_call = if mode == Mode::NonBlocking { Mode::NonBlocking } else { Mode::Blocking };
            let all = async {
                let mut sent = 0;
                while sent < data.len() {
                    sent += Self::call(io, Interest::WRITABLE, per_call, |s| s.send_with_flags(&data[sent..], flags))
                        .await?;
                }
                Ok(())
            };
            within(mode, all).await
        })
        .await
    }

    /// `sendto(data, flags, address)`.
    pub(crate) async fn sendto(&self, data: &[u8], addr: &SockAddr, flags: i32, mode: Mode) -> OpResult<usize> {
        let (flags, mode) = send_flags(flags, mode)?;
        self.with(async |io| {
            Self::call(io, Interest::WRITABLE, mode, |s| s.send_to_with_flags(data, addr, flags)).await
        })
        .await
    }

    /// `shutdown(how)`.
    pub(crate) async fn shutdown(&self, how: i32) -> OpResult<()> {
        let how = match how {
            SHUT_RD => Shutdown::Read,
            SHUT_WR => Shutdown::Write,
            SHUT_RDWR => Shutdown::Both,
            _ => return Err(OpError::errno(libc::EINVAL)),
        };
        self.with(async |io| io.get_ref().shutdown(how).map_err(OpError::from)).await
    }

    /// `getsockname`, as a raw address.
    pub(crate) async fn local_addr(&self) -> OpResult<SockAddr> {
        self.with(async |io| io.get_ref().local_addr().map_err(OpError::from)).await
    }

    /// `getpeername`, as a raw address.
    pub(crate) async fn peer_addr(&self) -> OpResult<SockAddr> {
        self.with(async |io| io.get_ref().peer_addr().map_err(OpError::from)).await
    }

    /// `setsockopt`.
    pub(crate) async fn setsockopt(&self, level: i32, optname: i32, value: &OptValue) -> OpResult<()> {
        if let (SOCK_DGRAM, OptValue::Int(v), false) = (self.kind, value, self.private())
            && (level, optname) == (SOL_SOCKET, SO_REUSEADDR)
        {
            let on = libc::c_int::try_from(*v)
                .map_err(|_| OpError::refused(libc::EINVAL, "an integer option value must fit in a C int"))?
                != 0;
            return self
                .with(async |_| {
                    self.udp_reuse_addr.store(on, Ordering::Relaxed);
                    Ok(())
                })
                .await;
        }
        self.with(async |io| sockopt::set(io.get_ref(), level, optname, value)).await?;
        if self.private() {
            let mut options = self.options.lock().unwrap_or_else(|poison| poison.into_inner());
            options.retain(|(l, o, _)| (*l, *o) != (level, optname));
            options.push((level, optname, value.clone()));
        }
        Ok(())
    }

    /// `getsockopt`.
    pub(crate) async fn getsockopt(&self, level: i32, optname: i32, buflen: Option<u32>) -> OpResult<OptValue> {
        if self.kind == SOCK_DGRAM
            && !self.private()
            && (level, optname) == (SOL_SOCKET, SO_REUSEADDR)
            && buflen.unwrap_or(0) == 0
        {
            let on = self.udp_reuse_addr.load(Ordering::Relaxed);
            return self.with(async |_| Ok(OptValue::Int(i64::from(on)))).await;
        }
        self.with(async |io| sockopt::get(io.get_ref(), level, optname, buflen)).await
    }

    /// The open fd, for `select`; `EBADF` once closed. Holds the read lock, so `close` waits
    /// until the caller drops the guard.
    pub(crate) async fn io(&self) -> OpResult<tokio::sync::RwLockReadGuard<'_, Option<AsyncFd<Socket>>>> {
        let guard = self.io.read().await;
        if guard.is_none() {
            return Err(OpError::bad_fd());
        }
        Ok(guard)
    }

    /// The socket's inode (0 if it could not be read).
    pub(crate) fn inode(&self) -> u64 {
        self.inode.load(Ordering::Relaxed)
    }

    /// Resolves when the socket is closed.
    pub(crate) async fn closed(&self) {
        self.closed.cancelled().await;
    }

    /// `close`: fails every pending operation with `EBADF`, then closes the fd. Returns once the fd
    /// is closed.
    ///
    /// With `SO_LINGER` on, the kernel's `close` waits (up to the linger time) for unsent data to
    /// be delivered, whether or not the fd is non-blocking; that wait happens on a blocking thread,
    /// so it holds up only this call, as it would hold up Python's.
    pub(crate) async fn close(&self) {
        self.closed.cancel();
        let mut io = self.io.write().await;
        let Some(io) = io.take() else { return };
        let sock = io.into_inner();
        if sock.linger().is_ok_and(|l| l.is_some_and(|t| !t.is_zero())) {
            let _ = tokio::task::spawn_blocking(move || drop(sock)).await;
        }
    }
}

/// A socket's inode (0 if it cannot be read).
fn inode_of(sock: &Socket) -> u64 {
    // SAFETY: fstat writes a stat struct we own, for an fd the Socket holds open.
    unsafe {
        let mut stat: libc::stat = std::mem::zeroed();
        if libc::fstat(sock.as_raw_fd(), &mut stat) == 0 { stat.st_ino } else { 0 }
    }
}

/// Registers a socket with the reactor for every readiness this daemon waits on.
fn register(sock: Socket) -> OpResult<AsyncFd<Socket>> {
    let interest = Interest::READABLE | Interest::WRITABLE | Interest::PRIORITY;
    // SAFETY: a socket2::Socket owns its fd from creation to drop and as_raw_fd always returns that
    // fd; the AsyncFd owns the Socket, so the fd stays open while it is registered.
    unsafe { AsyncFd::register_with_interest(sock, interest) }.map_err(|e| OpError::from(e.into_parts().1))
}

/// Waits under Python's timeout for `mode`.
async fn within<T>(mode: Mode, fut: impl Future<Output = OpResult<T>>) -> OpResult<T> {
    match mode {
        Mode::Timeout(limit) => tokio::time::timeout(limit, fut).await.unwrap_or_else(|_| Err(OpError::timeout())),
        Mode::Blocking | Mode::NonBlocking => fut.await,
    }
}

/// Finishes a connect in progress as a blocking `connect(2)` does, which is what CPython's blocking
/// mode calls: when the socket is writable, `connect` again. The kernel answers 0 once connected
/// (and marks the socket connected, so a later connect is `EISCONN`), or the error, resetting the
/// socket so it can connect again (a later connect starts afresh: `ECONNREFUSED` again, not
/// `ECONNABORTED`).
async fn finish_connect_as_the_kernel_does(io: &AsyncFd<Socket>, addr: &SockAddr) -> OpResult<()> {
    loop {
        let mut guard = io.writable().await?;
        let outcome = guard.try_io(|inner| match inner.get_ref().connect(addr) {
            Ok(()) => Ok(Ok(())),
            // Still connecting: the readiness was stale.
            Err(e) if e.raw_os_error() == Some(libc::EALREADY) => Err(io::ErrorKind::WouldBlock.into()),
            Err(e) if e.raw_os_error() == Some(libc::EISCONN) => Ok(Ok(())),
            Err(e) => Ok(Err(OpError::from(e))),
        });
        if let Ok(result) = outcome {
            return result?;
        }
    }
}

/// Waits for a connect in progress at most `limit`; past it, abandons the attempt (the kernel's
/// `connect(AF_UNSPEC)`, which returns the socket to its unconnected state) and fails with
/// `ETIMEDOUT`.
async fn capped(io: &AsyncFd<Socket>, limit: Duration, wait: impl Future<Output = OpResult<()>>) -> OpResult<()> {
    match tokio::time::timeout(limit, wait).await {
        Ok(result) => result,
        Err(_) => {
            // SAFETY: an all-zero sockaddr with family AF_UNSPEC is what connect(2) documents for
            // dissolving an association; the fd is a live socket owned by `io`.
            let rc = unsafe {
                let mut unspec: libc::sockaddr = std::mem::zeroed();
                unspec.sa_family = libc::AF_UNSPEC as libc::sa_family_t;
                libc::connect(
                    io.as_raw_fd(),
                    &raw const unspec,
                    std::mem::size_of::<libc::sockaddr>() as libc::socklen_t,
                )
            };
            if rc != 0 {
                tracing::debug!(error = %io::Error::last_os_error(), "could not abandon a connect attempt");
            }
            Err(OpError::refused(libc::ETIMEDOUT, "the peer did not answer within the bridge's connect_timeout"))
        }
    }
}

/// Waits for a TCP connect in progress to succeed or fail, as CPython's timeout mode does: until the
/// socket is writable, then `SO_ERROR`.
async fn wait_connected(io: &AsyncFd<Socket>) -> OpResult<()> {
    loop {
        let mut guard = io.writable().await?;
        let outcome = guard.try_io(|inner| {
            let sock = inner.get_ref();
            if let Some(err) = sock.take_error()? {
                return Ok(Err(OpError::from(err)));
            }
            match sock.peer_addr() {
                Ok(_) => Ok(Ok(())),
                // Still connecting: the readiness was stale (a fresh socket is writable).
                Err(e) if e.raw_os_error() == Some(libc::ENOTCONN) => Err(io::ErrorKind::WouldBlock.into()),
                Err(e) => Ok(Err(OpError::from(e))),
            }
        });
        if let Ok(result) = outcome {
            return result?;
        }
    }
}

/// Retries a Unix stream connect refused with `EAGAIN` (listener backlog full). The kernel sends
/// no readiness event for room in a peer's backlog, so this polls, backing off to 50 ms.
async fn retry_unix_connect(io: &AsyncFd<Socket>, addr: &SockAddr) -> OpResult<()> {
    let mut pause = Duration::from_millis(1);
    loop {
        tokio::time::sleep(pause).await;
        match io.get_ref().connect(addr) {
            Err(e) if e.kind() == io::ErrorKind::WouldBlock => pause = (pause * 2).min(Duration::from_millis(50)),
            other => return other.map_err(OpError::from),
        }
    }
}

fn recv_flags(flags: i32, mode: Mode) -> OpResult<(i32, Mode)> {
    if flags & !RECV_FLAGS != 0 {
        return Err(OpError::refused(EOPNOTSUPP, "recv flags may be MSG_PEEK, MSG_WAITALL, MSG_DONTWAIT and MSG_OOB"));
    }
    let mode = if flags & MSG_DONTWAIT != 0 { Mode::NonBlocking } else { mode };
    Ok((flags & !MSG_DONTWAIT, mode))
}

fn send_flags(flags: i32, mode: Mode) -> OpResult<(i32, Mode)> {
    if flags & !SEND_FLAGS != 0 {
        return Err(OpError::refused(EOPNOTSUPP, "send flags may be MSG_DONTWAIT and MSG_OOB"));
    }
    let mode = if flags & MSG_DONTWAIT != 0 { Mode::NonBlocking } else { mode };
    // MSG_NOSIGNAL: a write to a closed peer fails with EPIPE instead of raising SIGPIPE.
    Ok(((flags & !MSG_DONTWAIT) | libc::MSG_NOSIGNAL, mode))
}

/// Receives up to `bufsize - buf.len()` bytes, appending to `buf`. The buffer is allocated only for
/// the call and released again when the call would block, so a `recv` that waits holds no memory.
fn recv_into(sock: &Socket, buf: &mut Vec<u8>, bufsize: usize, flags: i32) -> io::Result<usize> {
    let room = bufsize.saturating_sub(buf.len());
    buf.reserve_exact(room);
    let spare: &mut [MaybeUninit<u8>] = &mut buf.spare_capacity_mut()[..room];
    match sock.recv_with_flags(spare, flags) {
        Ok(n) => {
            // SAFETY: recv initialised the first n bytes of the spare capacity, which follow the
            // `len` bytes already initialised.
            unsafe { buf.set_len(buf.len() + n) };
            Ok(n)
        }
        Err(e) => {
            if buf.is_empty() {
                *buf = Vec::new();
            }
            Err(e)
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn modes_follow_python() {
        assert_eq!(Mode::from_timeout(None), Ok(Mode::Blocking));
        assert_eq!(Mode::from_timeout(Some(0.0)), Ok(Mode::NonBlocking));
        assert_eq!(Mode::from_timeout(Some(1.5)), Ok(Mode::Timeout(Duration::from_millis(1500))));
        for bad in [-1.0, f64::NAN, f64::INFINITY, 1e300] {
            assert!(Mode::from_timeout(Some(bad)).is_err(), "{bad}");
        }
    }

    #[test]
    fn flags_are_checked() {
        assert!(recv_flags(MSG_PEEK | MSG_WAITALL, Mode::Blocking).is_ok());
        assert_eq!(recv_flags(MSG_DONTWAIT, Mode::Blocking).map(|(_, m)| m).ok(), Some(Mode::NonBlocking));
        assert!(recv_flags(0x4000, Mode::Blocking).is_err());
        assert!(send_flags(MSG_PEEK, Mode::Blocking).is_err());
        assert_eq!(send_flags(0, Mode::Blocking).map(|(f, _)| f & libc::MSG_NOSIGNAL).ok(), Some(libc::MSG_NOSIGNAL));
    }
}
