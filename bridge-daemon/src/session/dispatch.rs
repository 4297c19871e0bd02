//! A request's way from the WebSocket to its handler: the rate and in-flight limits, methods that
//! answer at once (run in arrival order), and methods that may wait, queued in a socket's read or
//! write lane or run in a task of their own, each answering exactly once, even if it panics.

use super::sockets::no_network;
use super::*;

impl Session {
    pub(super) async fn on_request(self: &Arc<Self>, frame: FrameRef<'_>) {
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

    /// Receives sent ahead give way to a later request on their socket (see `read_ahead`).
    pub(super) fn give_way(&self, call: &Call) {
        for fd in crate::read_ahead::gives_way_to(call) {
            if let Ok(entry) = self.entry(fd) {
                entry.ahead.give_way();
            }
        }
    }

    /// Runs a request of `len` bytes: at once, or (a blocking method) under the in-flight limits.
    pub(super) async fn dispatch(self: &Arc<Self>, id: Option<Id>, call: Call, len: usize) {
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
    pub(super) async fn immediate(self: &Arc<Self>, id: Option<Id>, call: Call) {
        match call {
            Call::Hello(_) => {
                let mut hello =
                    HelloResult { protocol: self.codec.subprotocol().to_owned(), ..self.shared.hello.clone() };
                if let Some(network) = &self.network {
                    hello.network = Some(network.info());
                    hello.labs = network.labs().clone();
                }
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
            Call::Gethostname(_) => match &self.network {
                Some(network) => self.respond(id, network.host(None).map(|h| h.name.clone())).await,
                None => self.respond(id, gethostname()).await,
            },
            Call::Network(_) => {
                let info = match &self.network {
                    Some(network) => network.info(),
                    None => self.shared.hello.network.clone().unwrap_or_default(),
                };
                self.respond(id, Ok(info)).await;
            }
            Call::AddHost(p) => {
                let r = match &self.network {
                    Some(network) => network.add_host(&p.name).await,
                    None => Err(no_network()),
                };
                self.respond(id, r).await;
            }
            Call::SetLink(p) => {
                let r = self.network.as_ref().ok_or_else(no_network).and_then(|n| n.set_link(&p.host, p.link));
                self.respond(id, r).await;
            }
            Call::Packets(p) => {
                let r = self.network.as_ref().ok_or_else(no_network).map(|n| n.packets(p.since, p.max));
                self.respond(id, r).await;
            }
            Call::Pcap(_) => {
                let r = self.network.as_ref().ok_or_else(no_network).map(|n| Payload::from(n.pcap()));
                self.respond(id, r).await;
            }
            Call::Netstat(p) => {
                let r = self.netstat(p.host.as_deref());
                self.respond(id, r).await;
            }
            other => {
                tracing::error!(method = %other.method(), "a blocking method reached the immediate path");
                self.respond::<()>(id, Err(OpError::Internal("misrouted method"))).await;
            }
        }
    }

    /// Methods that may wait, each holding an in-flight permit until it has answered.
    pub(super) async fn blocking(self: &Arc<Self>, id: Option<Id>, call: Call, permit: InFlight) {
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
                    Ok(entry) if p.ahead => match entry.ahead.begin(&self.reading_ahead) {
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
                    let dialled = s.net().dial_addr(s.caller(), Method::Sendto, sock, &p.address).await?;
                    if dialled.move_outside {
                        sock.move_outside(&dialled.addr).await?;
                    }
                    if s.network.is_none() {
                        s.net().bind_loopback_if_unbound(sock).await?;
                    }
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
                self.spawn(id, permit, async move { s.net().getaddrinfo(s.caller(), query).await });
            }
            // As CPython's: '' is INADDR_ANY and '<broadcast>' INADDR_BROADCAST, without a lookup.
            Call::Gethostbyname(p) if p.hostname.is_empty() || p.hostname == "<broadcast>" => {
                drop(permit);
                let any = if p.hostname.is_empty() { "0.0.0.0" } else { "255.255.255.255" };
                self.respond(id, Ok(any.to_owned())).await;
            }
            Call::Gethostbyname(p) => {
                let s = Arc::clone(self);
                self.spawn(id, permit, async move { s.net().gethostbyname(s.caller(), &p.hostname).await });
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
    pub(super) async fn queue<R, F, Fut>(
        self: &Arc<Self>,
        id: Option<Id>,
        permit: InFlight,
        fd: Fd,
        direction: Direction,
        op: F,
    ) where
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
    pub(super) fn job<R: Serialize + Send + 'static>(
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
    pub(super) fn spawn<R: Serialize + Send + 'static>(
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
    pub(super) async fn with_socket<R>(
        &self,
        fd: Fd,
        f: impl AsyncFnOnce(&BridgeSocket) -> OpResult<R>,
    ) -> OpResult<R> {
        let entry = self.entry(fd)?;
        f(&entry.socket).await
    }
}

/// Refuses a send larger than `max_payload_bytes`.
pub(super) fn payload_fits(method: Method, data: &Payload, max: usize) -> OpResult<()> {
    if data.len() > max {
        return Err(OpError::Limit(format!(
            "'{method}' carries at most max_payload_bytes ({max}) bytes; split the data"
        )));
    }
    Ok(())
}
