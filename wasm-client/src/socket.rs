//! [`Socket`]: Python's socket object.

use crate::bridge::Bridge;
use crate::error::{Error, Result};
use crate::file::SocketFile;
use crate::read_ahead::{ReadAhead, Turn};
use bridge_protocol::constants::{MSG_PEEK, MSG_WAITALL};
use bridge_protocol::constants::{SOCK_CLOEXEC, SOCK_NONBLOCK, SOCK_STREAM};
use bridge_protocol::errno::code::{EAGAIN, EMSGSIZE};
use bridge_protocol::params::*;
use bridge_protocol::{Address, Errno, Fd, OsError, Payload, rpc};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::Duration;

/// The least a receive sent ahead asks for: a loop of small `recv`s still gets whole chunks.
const READ_AHEAD_BYTES: usize = 256 * 1024;

/// A socket on the daemon, with Python's methods and meaning.
///
/// Clones share one socket, as Python names share one object. The socket closes at
/// [`Socket::close`], or when the last clone is dropped (as CPython closes an unreferenced socket),
/// or when its [`Bridge`] session ends.
///
/// Calls that may wait (`accept`, `connect`, `recv`, `send`, ...) follow the socket's timeout, as
/// in Python: [`Socket::settimeout`]`(None)` waits as long as it takes, `Some(t)` fails with a
/// `TimeoutError` after `t`, and `Some(Duration::ZERO)` (non-blocking mode) fails at once with a
/// `BlockingIOError` instead of waiting.
#[derive(Clone)]
pub struct Socket {
    pub(crate) inner: Arc<Inner>,
}

pub(crate) struct Inner {
    bridge: Bridge,
    fd: Fd,
    family: i32,
    kind: i32,
    proto: i32,
    /// The daemon's handle is closed: every call is `EBADF` and `fileno()` is -1.
    released: AtomicBool,
    /// `close()` was called; the real close waits for open `makefile()` files, as in Python.
    user_closed: AtomicBool,
    /// Open `makefile()` files.
    pub(crate) io_refs: AtomicUsize,
    timeout: Mutex<Option<Duration>>,
    /// Sends on their way without their answer yet (see [`Socket::send`]).
    ahead: Mutex<Ahead>,
    /// What was received ahead (see [`Socket::recv`]).
    pub(crate) reads: Arc<ReadAhead>,
}

/// The state of sending ahead: a `send` or `sendall` on a connected socket in blocking mode returns
/// as soon as its request is on its way, as a kernel's `send` returns once the data is in its
/// buffer, and an error the send meets is raised by the socket's next send (or `shutdown`).
#[derive(Default)]
struct Ahead {
    /// Connected (by `connect` or `accept`).
    connected: bool,
    /// A `recv` has returned the peer's EOF: errors are near, so sends wait for their answers.
    eof: bool,
    /// The write side was shut down: sends fail, and must say so at once.
    shut: bool,
    /// Sends on their way whose answers have not come.
    outstanding: usize,
    /// The first error one of them met, for the next send (or `shutdown`) to raise.
    error: Option<Error>,
    /// Callers waiting for `outstanding` to reach 0 (`close`, `shutdown`).
    drained: Vec<futures_channel::oneshot::Sender<()>>,
}

impl Inner {
    fn ahead(&self) -> std::sync::MutexGuard<'_, Ahead> {
        self.ahead.lock().unwrap_or_else(|poison| poison.into_inner())
    }
}

impl Drop for Inner {
    fn drop(&mut self) {
        if !self.released.swap(true, Ordering::AcqRel) {
            self.reads.close();
            self.bridge.readers().forget(self.fd, &self.reads);
            self.bridge.core.fire::<rpc::Close>(&FdParams { fd: self.fd });
        }
    }
}

impl std::fmt::Debug for Socket {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Socket")
            .field("fd", &self.fileno())
            .field("family", &self.inner.family)
            .field("type", &self.inner.kind)
            .field("proto", &self.inner.proto)
            .finish()
    }
}

impl Socket {
    pub(crate) fn new(bridge: Bridge, fd: Fd, family: i32, kind: i32, proto: i32) -> Socket {
        let timeout = if kind & SOCK_NONBLOCK != 0 { Some(Duration::ZERO) } else { None };
        let reads = Arc::new(ReadAhead::new(fd));
        reads.set_blocking(timeout.is_none());
        Socket {
            inner: Arc::new(Inner {
                bridge,
                fd,
                family,
                kind: kind & !(SOCK_NONBLOCK | SOCK_CLOEXEC),
                proto,
                released: AtomicBool::new(false),
                user_closed: AtomicBool::new(false),
                io_refs: AtomicUsize::new(0),
                timeout: Mutex::new(timeout),
                ahead: Mutex::new(Ahead::default()),
                reads,
            }),
        }
    }

    fn bridge(&self) -> &Bridge {
        &self.inner.bridge
    }

    /// The handle, or `EBADF` once closed.
    fn fd(&self) -> Result<Fd> {
        if self.inner.released.load(Ordering::Acquire) { Err(Error::bad_fd()) } else { Ok(self.inner.fd) }
    }

    /// The handle, after raising the error a send sent ahead has met, if any (once).
    fn checked_fd(&self) -> Result<Fd> {
        let fd = self.fd()?;
        match self.inner.ahead().error.take() {
            Some(e) => Err(e),
            None => Ok(fd),
        }
    }

    /// Waits until every send sent ahead has its answer.
    async fn drain_ahead(&self) {
        let rx = {
            let mut ahead = self.inner.ahead();
            if ahead.outstanding == 0 {
                return;
            }
            let (tx, rx) = futures_channel::oneshot::channel();
            ahead.drained.push(tx);
            rx
        };
        let _ = rx.await;
    }

    /// Sends `params` ahead if this socket may (connected, blocking mode, no EOF seen, not shut
    /// down, no error waiting) and the request can go at once; `Ok(false)` if it must be awaited.
    fn send_ahead<R: bridge_protocol::Rpc>(&self, params: &R::Params) -> Result<bool> {
        if self.gettimeout().is_some() {
            return Ok(false);
        }
        {
            let mut ahead = self.inner.ahead();
            if !ahead.connected || ahead.eof || ahead.shut || ahead.error.is_some() {
                return Ok(false);
            }
            ahead.outstanding += 1;
        }
        let inner = Arc::clone(&self.inner);
        let done = move |result: Result<R::Result>| {
            let mut ahead = inner.ahead();
            ahead.outstanding -= 1;
            if let Err(e) = result
                && ahead.error.is_none()
            {
                ahead.error = Some(e);
            }
            if ahead.outstanding == 0 {
                for tx in ahead.drained.drain(..) {
                    let _ = tx.send(());
                }
            }
        };
        let core = &self.bridge().core;
        let sent = core.start_now::<R>(params, done);
        if matches!(sent, Ok(true)) {
            // The send is on its way: a receive ahead waiting for this call follows it.
            self.inner.reads.kick(core);
        } else {
            self.inner.ahead().outstanding -= 1;
        }
        sent
    }

    fn max_payload(&self) -> usize {
        self.bridge().limits().max_payload_bytes.max(1)
    }

    /// The address family (`s.family`).
    pub fn family(&self) -> i32 {
        self.inner.family
    }

    /// The socket type (`s.type`), without `SOCK_NONBLOCK`/`SOCK_CLOEXEC`.
    pub fn kind(&self) -> i32 {
        self.inner.kind
    }

    /// The protocol given at creation (`s.proto`).
    pub fn proto(&self) -> i32 {
        self.inner.proto
    }

    /// `fileno()`: the session's handle number, or -1 once closed.
    pub fn fileno(&self) -> i32 {
        self.fd().unwrap_or(-1)
    }

    /// `gettimeout()`: `None` (blocking), `Some(ZERO)` (non-blocking) or the timeout.
    pub fn gettimeout(&self) -> Option<Duration> {
        *self.inner.timeout.lock().unwrap_or_else(|poison| poison.into_inner())
    }

    /// `getblocking()`: false only in non-blocking mode (timeout 0).
    pub fn getblocking(&self) -> bool {
        self.gettimeout() != Some(Duration::ZERO)
    }

    /// `settimeout(t)`. Takes effect for every call made after it; a call already waiting keeps the
    /// timeout it started with.
    pub fn settimeout(&self, timeout: Option<Duration>) -> Result<()> {
        // As CPython: the value is stored even when the socket is closed and the call then fails.
        *self.inner.timeout.lock().unwrap_or_else(|poison| poison.into_inner()) = timeout;
        self.inner.reads.set_blocking(timeout.is_none());
        let fd = self.fd()?;
        let timeout = timeout.map(|t| t.as_secs_f64());
        self.bridge().core.fire::<rpc::Settimeout>(&SettimeoutParams { fd, timeout });
        Ok(())
    }

    /// `settimeout(seconds)` with Python's float argument: `ValueError` if negative or not finite.
    pub fn settimeout_secs(&self, timeout: Option<f64>) -> Result<()> {
        match timeout {
            None => self.settimeout(None),
            Some(t) => self.settimeout(Some(timeout_from_secs(t)?)),
        }
    }

    /// `setblocking(flag)`: `settimeout(None)` or `settimeout(0.0)`.
    pub fn setblocking(&self, flag: bool) -> Result<()> {
        self.settimeout(if flag { None } else { Some(Duration::ZERO) })
    }

    /// `bind(address)`.
    ///
    /// The bridge binds loopback addresses only: `''` and `'0.0.0.0'` mean `127.0.0.1`, `'::'`
    /// means `::1`; ports below 1024 are refused (`PermissionError`). A Unix address is a name in
    /// the daemon's socket directory, such as `"echo.sock"`.
    pub async fn bind(&self, address: impl Into<Address>) -> Result<()> {
        let params = AddressParams { fd: self.fd()?, address: address.into() };
        self.bridge().core.call::<rpc::Bind>(&params).await
    }

    /// `listen([backlog])`: `listen(5)` or `listen(None)` for Python's default.
    pub async fn listen(&self, backlog: impl Into<Option<i32>>) -> Result<()> {
        let params = ListenParams { fd: self.fd()?, backlog: backlog.into() };
        self.bridge().core.call::<rpc::Listen>(&params).await
    }

    /// `accept()`: the connected socket (blocking mode) and the peer's address.
    pub async fn accept(&self) -> Result<(Socket, Address)> {
        let result = self.bridge().core.call::<rpc::Accept>(&FdParams { fd: self.fd()? }).await?;
        let conn = Socket::new(self.bridge().clone(), result.fd, self.inner.family, self.inner.kind, self.inner.proto);
        conn.inner.ahead().connected = true;
        Ok((conn, result.address))
    }

    /// `connect(address)`.
    ///
    /// # Errors
    /// `ConnectionRefusedError` and the other errors Python raises; in non-blocking mode a TCP
    /// connect that has started is a `BlockingIOError` with `EINPROGRESS`.
    pub async fn connect(&self, address: impl Into<Address>) -> Result<()> {
        let params = AddressParams { fd: self.fd()?, address: address.into() };
        self.bridge().core.call::<rpc::Connect>(&params).await?;
        self.inner.ahead().connected = true;
        Ok(())
    }

    /// `connect_ex(address)`: 0 on success, else the errno instead of an exception (a timeout is
    /// `EAGAIN`, 11, as CPython reports it). Name resolution errors are still raised.
    pub async fn connect_ex(&self, address: impl Into<Address>) -> Result<i32> {
        let address = address.into();
        let fd = match self.fd() {
            Ok(fd) => fd,
            Err(e) => return Ok(e.errno().unwrap_or_default()),
        };
        match self.bridge().core.call::<rpc::Connect>(&AddressParams { fd, address }).await {
            Ok(()) => {
                self.inner.ahead().connected = true;
                Ok(0)
            }
            Err(Error::Os(e)) if e.exception != "gaierror" => Ok(e.errno.unwrap_or(EAGAIN)),
            Err(e) => Err(e),
        }
    }

    /// `recv(bufsize)`: at most `bufsize` bytes (and at most the session's `max_payload_bytes`);
    /// empty means the peer closed its side.
    ///
    /// On a connected stream socket in blocking mode the client **reads ahead**: once a `recv`
    /// has returned data, the next receive is sent before it is asked for, so a loop of `recv`s
    /// costs no round trip per chunk. The bytes it brings are the socket's, returned first by the
    /// next receive of any kind; nothing is lost or reordered, and a call that must not wait
    /// (timeout, non-blocking mode, flags, `select`) ends the receive ahead first. See
    /// `docs/protocol.md` (`read-ahead`).
    pub async fn recv(&self, bufsize: usize) -> Result<Vec<u8>> {
        self.recv_flags(bufsize, 0).await
    }

    /// `recv(bufsize, flags)` with `MSG_PEEK`, `MSG_WAITALL`, `MSG_DONTWAIT`.
    pub async fn recv_flags(&self, bufsize: usize, flags: i32) -> Result<Vec<u8>> {
        // An error a send sent ahead has met waits for the next send: Python's recv never raises
        // it (after the send that raised EPIPE, its recv returns b'').
        let fd = self.fd()?;
        // Concurrent receives take their turns, in call order, until their request has gone.
        let turn = self.inner.reads.turn();
        // A blocking recv(n) waits for the receives sent ahead as it would wait for the socket.
        let plain = flags == 0 && self.gettimeout().is_none();
        if let Some(got) = self.take_read_ahead(&turn, bufsize, flags, plain).await {
            let mut data = got?;
            if flags & MSG_WAITALL != 0 && !data.is_empty() && data.len() < bufsize {
                // The rest comes from the socket, as one MSG_WAITALL call would gather it.
                let params = RecvParams { fd, bufsize: (bufsize - data.len()) as u64, flags, ahead: false };
                match self.own_receive::<rpc::Recv>(turn, &params).await {
                    Ok(more) => data.extend_from_slice(more.as_bytes()),
                    // The kernel returns what it gathered and reports a real error next time.
                    Err(e) => {
                        if e.errno().is_none_or(|n| n != EAGAIN) && !matches!(&e, Error::Os(os) if os.is_timeout()) {
                            self.inner.reads.defer(e);
                        }
                    }
                }
            }
            return Ok(self.received(data, bufsize, plain));
        }
        let params = RecvParams { fd, bufsize: bufsize as u64, flags, ahead: false };
        let data = self.own_receive::<rpc::Recv>(turn, &params).await;
        let data = data?.into_vec();
        Ok(self.received(data, bufsize, plain))
    }

    /// Sends a receive of the page's own and waits for its answer. Its `turn` is given up once the
    /// request has gone, so concurrent receives keep their call order; nothing is sent ahead while
    /// it is on its way.
    async fn own_receive<R: bridge_protocol::Rpc<Params = RecvParams>>(
        &self,
        turn: Turn<'_>,
        params: &RecvParams,
    ) -> Result<R::Result> {
        let _call = self.inner.reads.call();
        let rx = self.bridge().core.start::<R>(params)?;
        drop(turn);
        rx.await.unwrap_or(Err(Error::Closed))
    }

    /// What was read ahead, for a receive of `bufsize` bytes with `flags`; `None` if nothing.
    async fn take_read_ahead(
        &self,
        turn: &Turn<'_>,
        bufsize: usize,
        flags: i32,
        patient: bool,
    ) -> Option<Result<Vec<u8>>> {
        if bufsize == 0 || self.inner.kind != SOCK_STREAM {
            return None;
        }
        let core = &self.bridge().core;
        self.inner.reads.take(turn, core, bufsize, flags & MSG_PEEK != 0, patient).await
    }

    /// Notes what a receive returned: EOF, or (for a plain blocking `recv`) data, after which the
    /// next receive is sent ahead.
    fn received(&self, data: Vec<u8>, bufsize: usize, plain: bool) -> Vec<u8> {
        if self.inner.kind != SOCK_STREAM || bufsize == 0 {
            return data;
        }
        if data.is_empty() {
            self.inner.ahead().eof = true;
        } else if plain && self.inner.ahead().connected {
            let bridge = self.bridge();
            bridge.readers().remember(self.inner.fd, &self.inner.reads);
            self.inner.reads.arm(bufsize.max(READ_AHEAD_BYTES).min(self.max_payload()));
        }
        data
    }

    /// `recvfrom(bufsize)`: the data and the sender (`None` for an unnamed Unix socket, and for
    /// stream sockets).
    pub async fn recvfrom(&self, bufsize: usize) -> Result<(Vec<u8>, Option<Address>)> {
        self.recvfrom_flags(bufsize, 0).await
    }

    /// `recvfrom(bufsize, flags)`.
    pub async fn recvfrom_flags(&self, bufsize: usize, flags: i32) -> Result<(Vec<u8>, Option<Address>)> {
        let fd = self.fd()?;
        let turn = self.inner.reads.turn();
        if let Some(got) = self.take_read_ahead(&turn, bufsize, flags, false).await {
            return Ok((got?, None));
        }
        let params = RecvParams { fd, bufsize: bufsize as u64, flags, ahead: false };
        let r = self.own_receive::<rpc::Recvfrom>(turn, &params).await?;
        Ok((r.data.into_vec(), r.address))
    }

    /// `send(data)`: how many bytes were sent, which may be fewer than given: check, and send the
    /// rest (or use [`Socket::sendall`]).
    ///
    /// On a connected socket in blocking mode the call **sends ahead**: it returns as soon as the
    /// request is on its way, with the length (a blocking send sends it all), as a kernel's `send`
    /// returns once the data is in its buffer. An error the send meets is raised, once, by the
    /// socket's next `send`, `sendall` or `shutdown`, as Python's next send would raise it; a
    /// `recv` meanwhile gets the kernel's answer (after a reset, `b''`, as in Python after the send
    /// that raised); `close` waits for the sends on their way. A socket that has seen EOF or was shut down for writing, and every other mode,
    /// waits for each answer. So code that sends then receives, as Python code does, costs one
    /// round trip to the daemon, not two.
    pub async fn send(&self, data: &[u8]) -> Result<usize> {
        self.send_flags(data, 0).await
    }

    /// `send(data, flags)` with `MSG_DONTWAIT`.
    ///
    /// A blocking send (no timeout, no `MSG_DONTWAIT`) larger than one request's payload
    /// (`max_payload_bytes`) sends all of it, as a blocking `send` on a Linux TCP socket waits
    /// until the kernel has taken everything; with a timeout or in non-blocking mode a send is
    /// one request, and may be short.
    pub async fn send_flags(&self, data: &[u8], flags: i32) -> Result<usize> {
        if flags == 0 && self.gettimeout().is_none() && data.len() > self.max_payload() {
            self.sendall(data).await?;
            return Ok(data.len());
        }
        let chunk = &data[..data.len().min(self.max_payload())];
        let params = SendParams { fd: self.checked_fd()?, data: Payload::from(chunk), flags };
        if flags == 0 && self.send_ahead::<rpc::Send>(&params)? {
            return Ok(chunk.len());
        }
        self.bridge().core.call::<rpc::Send>(&params).await
    }

    /// `sendall(data)`: sends everything or fails.
    ///
    /// Data larger than the session's `max_payload_bytes` goes as several pipelined requests,
    /// which the daemon runs in order; with a timeout set, the timeout applies to each piece.
    pub async fn sendall(&self, data: &[u8]) -> Result<()> {
        let fd = self.checked_fd()?;
        if data.len() <= self.max_payload() {
            let params = SendParams { fd, data: Payload::from(data), flags: 0 };
            if self.send_ahead::<rpc::Sendall>(&params)? {
                return Ok(());
            }
        }
        let core = &self.bridge().core;
        let mut pending = Vec::new();
        for chunk in data.chunks(self.max_payload()) {
            let params = SendParams { fd, data: Payload::from(chunk), flags: 0 };
            pending.push(core.start::<rpc::Sendall>(&params)?);
        }
        if data.is_empty() {
            pending.push(core.start::<rpc::Sendall>(&SendParams { fd, data: Payload::default(), flags: 0 })?);
        }
        let mut first_error = None;
        for rx in pending {
            let result = rx.await.unwrap_or(Err(Error::Closed));
            if let (Err(e), None) = (result, &first_error) {
                first_error = Some(e);
            }
        }
        first_error.map_or(Ok(()), Err)
    }

    /// `sendto(data, address)`: one datagram; returns the bytes sent.
    pub async fn sendto(&self, data: &[u8], address: impl Into<Address>) -> Result<usize> {
        let fd = self.fd()?;
        if data.len() > self.max_payload() {
            let reason = Some("larger than the bridge's max_payload_bytes".to_owned());
            return Err(Error::Os(OsError { reason, ..OsError::from(const { Errno::known(EMSGSIZE) }) }));
        }
        let params = SendtoParams { fd, data: Payload::from(data), address: address.into(), flags: 0 };
        self.bridge().core.call::<rpc::Sendto>(&params).await
    }

    /// `shutdown(how)`: `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`.
    pub async fn shutdown(&self, how: i32) -> Result<()> {
        self.drain_ahead().await;
        let fd = self.checked_fd()?;
        if how != bridge_protocol::constants::SHUT_RD {
            self.inner.ahead().shut = true;
        }
        self.bridge().core.call::<rpc::Shutdown>(&ShutdownParams { fd, how }).await
    }

    /// `close()`. Calls waiting on the socket fail with `EBADF`; closing twice is harmless. While a
    /// [`Socket::makefile`] file is open the socket stays usable and closes with the last file, as
    /// in Python.
    pub async fn close(&self) -> Result<()> {
        // Data sent ahead is delivered, as the kernel delivers what a closed socket had buffered.
        self.drain_ahead().await;
        self.inner.user_closed.store(true, Ordering::Release);
        if self.inner.io_refs.load(Ordering::Acquire) == 0 { self.release().await } else { Ok(()) }
    }

    /// Closes the daemon's handle (once).
    pub(crate) async fn release(&self) -> Result<()> {
        if self.inner.released.swap(true, Ordering::AcqRel) {
            return Ok(());
        }
        self.inner.reads.close();
        self.bridge().readers().forget(self.inner.fd, &self.inner.reads);
        match self.bridge().core.call::<rpc::Close>(&FdParams { fd: self.inner.fd }).await {
            Ok(()) | Err(Error::Closed) => Ok(()),
            Err(e) => Err(e),
        }
    }

    /// Called when a `makefile()` file closes: whether the socket must now really close, because
    /// `close()` was called and this was its last file.
    pub(crate) fn file_closed(&self) -> bool {
        let left = self.inner.io_refs.fetch_sub(1, Ordering::AcqRel).saturating_sub(1);
        left == 0 && self.inner.user_closed.load(Ordering::Acquire)
    }

    /// Closes the daemon's handle without waiting for the answer (for drops, which cannot wait).
    pub(crate) fn release_now(&self) {
        if !self.inner.released.swap(true, Ordering::AcqRel) {
            self.inner.reads.close();
            self.bridge().readers().forget(self.inner.fd, &self.inner.reads);
            self.bridge().core.fire::<rpc::Close>(&FdParams { fd: self.inner.fd });
        }
    }

    /// `getsockname()`.
    pub async fn getsockname(&self) -> Result<Address> {
        self.bridge().core.call::<rpc::Getsockname>(&FdParams { fd: self.fd()? }).await
    }

    /// `getpeername()`.
    pub async fn getpeername(&self) -> Result<Address> {
        self.bridge().core.call::<rpc::Getpeername>(&FdParams { fd: self.fd()? }).await
    }

    /// `setsockopt(level, optname, value)`: an int (or bool) value, or raw bytes.
    pub async fn setsockopt(&self, level: i32, optname: i32, value: impl Into<OptValue>) -> Result<()> {
        let params = SetsockoptParams { fd: self.fd()?, level, optname, value: value.into() };
        self.bridge().core.call::<rpc::Setsockopt>(&params).await
    }

    /// `getsockopt(level, optname)`: the value as an int.
    pub async fn getsockopt(&self, level: i32, optname: i32) -> Result<i64> {
        let params = GetsockoptParams { fd: self.fd()?, level, optname, buflen: None };
        match self.bridge().core.call::<rpc::Getsockopt>(&params).await? {
            OptValue::Int(v) => Ok(v),
            OptValue::Bytes(_) => Err(Error::Response("an int option came back as bytes".into())),
        }
    }

    /// `getsockopt(level, optname, buflen)`: at most `buflen` raw bytes (1 to 1024). As in Python,
    /// a `buflen` of 0 reads an int: use [`Socket::getsockopt`] for that.
    pub async fn getsockopt_bytes(&self, level: i32, optname: i32, buflen: u32) -> Result<Vec<u8>> {
        let params = GetsockoptParams { fd: self.fd()?, level, optname, buflen: Some(buflen) };
        match self.bridge().core.call::<rpc::Getsockopt>(&params).await? {
            OptValue::Bytes(b) => Ok(b.into_vec()),
            OptValue::Int(_) => Err(Error::Response("a bytes option came back as an int".into())),
        }
    }

    /// `makefile()`: a buffered file over the socket, with `read`, `readline`, `write`, `flush`
    /// and `close`.
    pub fn makefile(&self) -> Result<SocketFile> {
        self.fd()?;
        self.inner.io_refs.fetch_add(1, Ordering::AcqRel);
        Ok(SocketFile::new(self.clone()))
    }
}

/// The longest timeout CPython takes, in seconds (`i64::MAX` nanoseconds).
const MAX_TIMEOUT_SECS: f64 = 9_223_372_036.854_775;

/// A timeout in seconds as Python's `settimeout` and `select` take it: `ValueError` if negative or
/// not a number, `OverflowError` beyond 2^63 nanoseconds.
pub(crate) fn timeout_from_secs(t: f64) -> Result<Duration> {
    if t.is_nan() {
        return Err(Error::Value("Invalid value NaN (not a number)".into()));
    }
    if t > MAX_TIMEOUT_SECS {
        return Err(Error::Overflow("timestamp out of range for platform time_t".into()));
    }
    Duration::try_from_secs_f64(t).map_err(|_| Error::Value("Timeout value out of range".into()))
}
