//! The calls that change what a session holds: its table of sockets (`socket`, `accept`,
//! `close`), their places under the daemon's and the origin's limits, their addresses in the `own`
//! set (`bind`, `listen`, `connect`, `sendto`), and the checks at each dial.

use super::*;

impl Session {
    /// A place under the daemon-wide and the origin's (or identity's) socket limits; `ENFILE` when
    /// there is none.
    pub(super) fn slot(&self) -> OpResult<Slot> {
        let origin = Arc::clone(&self.origin.sockets).try_acquire_owned().map_err(|_| {
            let whose = self.origin.whose;
            OpError::refused(ENFILE, format!("{whose} have as many sockets open as the bridge allows them together"))
        })?;
        let total = Arc::clone(&self.shared.sockets).try_acquire_owned().map_err(|_| {
            let max = self.shared.limits.max_sockets_total;
            OpError::refused(ENFILE, format!("the bridge has {max} sockets open for all pages together, its limit"))
        })?;
        Ok(Slot { _total: total, _origin: origin })
    }

    pub(super) fn socket(&self, p: SocketParams) -> OpResult<Fd> {
        let mut table = self.table();
        table.check_room()?;
        let slot = self.slot()?;
        let unix = self.net().sandbox.is_some() || self.net().policy.any_unix_paths();
        let host = match (&self.network, &p.host) {
            (Some(network), host) => Some(network.host(host.as_deref())?),
            (None, None) => None,
            (None, Some(_)) => return Err(no_network()),
        };
        let sock = BridgeSocket::open(p.family, p.kind, p.proto, unix, host.as_deref().map(|h| &h.netns))?;
        table.insert(sock, slot)
    }

    /// Puts an IP socket's local address in the `own` set (once it has one), so the page's other
    /// sockets may reach it: a TCP listener's, or a UDP socket's. (A TCP socket that is only bound
    /// is no destination: another program may listen on its port beside it, with `SO_REUSEADDR`.
    /// The session remembers its address, as it does every address it held: see `Vacated`.)
    pub(super) async fn claim(&self, entry: &Entry, listening: bool) {
        let sock = &entry.socket;
        if self.network.is_some() || sock.family() == AF_UNIX || entry.claims().as_ref().is_none_or(|c| c.own.is_some())
        {
            return;
        }
        let Ok(local) = sock.local_addr().await else { return };
        let Some(addr) = local.as_socket().filter(|a| a.port() != 0) else { return };
        let proto = proto(sock.kind());
        self.page.history.remember(proto, addr);
        if sock.kind() != SOCK_DGRAM && !listening {
            return;
        }
        let guard = self.net().policy.owners.register(&self.page.origin, proto, addr);
        if let Some(claims) = entry.claims().as_mut() {
            claims.own.get_or_insert(guard);
        }
    }

    /// A place for a TCP socket among its origin's connections to the lab services, held until it
    /// closes (`max_lab_connections_per_origin`), so one site cannot take every connection the
    /// services serve.
    pub(super) fn lab_place(&self, entry: &Entry) -> OpResult<()> {
        let mut claims = entry.claims();
        let Some(claims) = claims.as_mut() else { return Err(OpError::bad_fd()) };
        if claims.lab.is_none() {
            let place = Arc::clone(&self.origin.labs).try_acquire_owned().map_err(|_| {
                let max = self.shared.limits.max_lab_connections_per_origin;
                OpError::refused(
                    libc::ECONNREFUSED,
                    format!(
                        "{} hold {max} connections to the lab services, as many as the bridge allows; close one",
                        self.origin.whose
                    ),
                )
            })?;
            claims.lab = Some(place);
        }
        Ok(())
    }

    /// A connected UDP socket's peer is checked again at every send, as `sendto` checks its
    /// address: what the page could reach when it connected (its own socket) may since have closed
    /// and its port gone to another program.
    pub(super) async fn check_peer(&self, entry: &Entry, method: Method) -> OpResult<Option<crate::net::Vacated>> {
        let sock = &entry.socket;
        if self.network.is_some() || sock.kind() != SOCK_DGRAM || sock.family() == AF_UNIX {
            return Ok(None);
        }
        // Not connected: the send fails as the kernel says.
        let Some(peer) = sock.peer_addr().await.ok().and_then(|a| a.as_socket()) else { return Ok(None) };
        let address = bridge_protocol::Address::from(peer);
        let dialled = self.net().dial_addr(self.caller(), method, sock, &address).await?;
        Ok(dialled.vacated)
    }

    pub(super) async fn bind(&self, p: AddressParams) -> OpResult<()> {
        let entry = self.entry(p.fd)?;
        let sock = &entry.socket;
        let (addr, path) = self.net().bind_addr(self.caller(), Method::Bind, sock, &p.address).await?;
        sock.bind(&addr).await?;
        if let (Some(path), Some(sandbox)) = (path, &self.net().sandbox) {
            if let Some(file) = sandbox.created(&path) {
                let guard = self.net().policy.owners.register_file(&self.page.origin, file.dev, file.ino);
                lock(&self.files).push((file, guard));
            }
        } else {
            self.claim(&entry, false).await;
        }
        Ok(())
    }

    pub(super) async fn listen(&self, p: ListenParams) -> OpResult<()> {
        let max = self.shared.limits.max_listen_backlog;
        // Python's default is min(SOMAXCONN, 128); a negative backlog means 0, as in CPython.
        let backlog = p.backlog.unwrap_or(128).clamp(0, max);
        let entry = self.entry(p.fd)?;
        self.net().stays_unbound(&entry.socket)?;
        if self.network.is_none() {
            self.net().bind_loopback_if_unbound(&entry.socket).await?;
        }
        entry.socket.listen(backlog).await?;
        self.claim(&entry, true).await;
        Ok(())
    }

    pub(super) async fn close(&self, fd: Fd) -> OpResult<()> {
        let entry = self.table().remove(fd)?;
        entry.close().await;
        Ok(())
    }

    pub(super) async fn accept(self: &Arc<Self>, entry: Entry, mode: Mode) -> OpResult<AcceptResult> {
        // Refuse before accepting, so the connection stays queued for a later accept, as with
        // a process out of fds.
        self.table().check_room()?;
        let slot = self.slot()?;
        let (sock, addr) = entry.socket.accept(mode).await?;
        let fd = self.table().insert(sock, slot)?;
        Ok(AcceptResult { fd, address: self.net().address_or_empty(&addr) })
    }

    /// `connect` runs in the write lane; the read lane waits behind it, so a `recv` sent after a
    /// `connect` runs after the connection is made.
    pub(super) async fn connect(self: &Arc<Self>, id: Option<Id>, permit: InFlight, p: AddressParams) {
        let entry = match self.entry(p.fd) {
            Ok(entry) => entry,
            Err(e) => {
                drop(permit);
                return self.respond::<()>(id, Err(e)).await;
            }
        };
        let (connected_tx, connected_rx) = oneshot::channel::<()>();
        entry
            .reads
            .run(Box::pin(async move {
                let _ = connected_rx.await;
            }))
            .await;
        self.queue(id, permit, p.fd, Direction::Write, move |s, e, mode| async move {
            let sock = &e.socket;
            let result = async {
                let dialled = s.net().dial_addr(s.caller(), Method::Connect, sock, &p.address).await?;
                if dialled.move_outside {
                    sock.move_outside(&dialled.addr).await?;
                }
                if dialled.labs && sock.kind() != SOCK_DGRAM {
                    s.lab_place(&e)?;
                }
                // Connects beyond the session's rate wait their turn (a port scan goes slowly).
                let wait = lock(&s.connects).take_turn();
                if !wait.is_zero() {
                    tokio::time::sleep(wait).await;
                }
                let result = sock.connect(&dialled.addr, mode, s.shared.limits.connect_timeout).await;
                drop(dialled.vacated);
                // A UDP socket is bound by its connect, and may be reached there; a TCP client's
                // port is no destination.
                if sock.kind() == SOCK_DGRAM {
                    s.claim(&e, false).await;
                }
                result
            }
            .await;
            drop(connected_tx);
            result
        })
        .await;
    }

    pub(super) fn select(self: &Arc<Self>, id: Option<Id>, permit: InFlight, p: SelectParams) {
        // select's timeout reads as a socket timeout does: null waits, 0 polls, t waits t.
        let timeout = Mode::from_timeout(p.timeout).map(|mode| match mode {
            Mode::Blocking => None,
            Mode::NonBlocking => Some(Duration::ZERO),
            Mode::Timeout(t) => Some(t),
        });
        let watch = timeout.map_err(|why| OpError::Params { method: Method::Select, why }).and_then(|timeout| {
            let table = self.table();
            let mut sockets: Vec<(Fd, Watched)> = Vec::new();
            let mut lists: [Vec<(Fd, usize)>; 3] = Default::default();
            for (list, (fds, event)) in
                lists.iter_mut().zip([(&p.rlist, libc::POLLIN), (&p.wlist, libc::POLLOUT), (&p.xlist, libc::POLLPRI)])
            {
                for &fd in fds {
                    let index = match sockets.iter().position(|(f, _)| *f == fd) {
                        Some(i) => i,
                        None => {
                            sockets.push((fd, Watched { socket: table.get(fd)?.socket, events: 0 }));
                            sockets.len() - 1
                        }
                    };
                    sockets[index].1.events |= event;
                    list.push((fd, index));
                }
            }
            Ok((Watch { sockets: sockets.into_iter().map(|(_, w)| w).collect(), lists }, timeout))
        });
        self.spawn(id, permit, async move {
            let (watch, timeout) = watch?;
            crate::net::select::select(watch, timeout).await
        });
    }
}

impl Session {
    /// The kernel's table of the private network's sockets, each with the session's handle for
    /// it where it has one.
    pub(super) fn netstat(&self, host: Option<&str>) -> OpResult<Vec<NetstatRow>> {
        let network = self.network.as_ref().ok_or_else(no_network)?;
        let rows = network.netstat(host)?;
        let fds: std::collections::HashMap<u64, Fd> =
            self.table().iter().map(|(fd, e)| (e.socket.inode(), fd)).filter(|(inode, _)| *inode != 0).collect();
        Ok(rows
            .into_iter()
            .map(|(host, k)| NetstatRow {
                host,
                proto: k.proto.into(),
                local: bridge_protocol::Address::from(k.local),
                remote: (k.remote.port() != 0).then(|| bridge_protocol::Address::from(k.remote)),
                state: k.state.into(),
                fd: (k.inode != 0).then(|| fds.get(&k.inode).copied()).flatten(),
            })
            .collect())
    }
}

/// The refusal of a network method in a session without a private network.
pub(super) fn no_network() -> OpError {
    OpError::refused(
        libc::EOPNOTSUPP,
        "this session has no private network: the bridge runs with --network shared (see hello's network)",
    )
}
