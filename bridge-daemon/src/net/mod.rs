//! Real sockets for pages.
//!
//! # Organization
//!
//! | module | owns |
//! |---|---|
//! | [`socket`] | [`BridgeSocket`]: one page socket of any family and type, and Python's timeout modes |
//! | [`select`] | `select.select` over a session's sockets |
//! | [`sockopt`] | the socket-option allow-list and raw `setsockopt`/`getsockopt` |
//! | [`resolve`] | `getaddrinfo`, `gethostbyname`, `gethostname` |
//!
//! There is no per-family module: TCP, UDP and Unix sockets are one `socket2::Socket` under
//! tokio's `AsyncFd`, doing the system calls CPython does, so one code path serves all six
//! family/type pairs and the kernel's own answers reach the page. What differs by family is only
//! the address, which [`Net`] translates: IP addresses are resolved as Python resolves them and
//! checked against the policy; Unix names are mapped into the sandbox directory.

pub(crate) mod resolve;
pub(crate) mod select;
pub(crate) mod socket;
pub(crate) mod sockopt;

pub(crate) use socket::{BridgeSocket, Mode};

use crate::audit::{Audit, Event};
use crate::error::{OpError, OpResult};
use crate::policy::egress::Request;
use crate::policy::rule::{Proto, normalize_name};
use crate::policy::{Page, Policy, normalize_unix_path};
use crate::sandbox::Sandbox;
use bridge_protocol::constants::{AF_INET, AF_INET6, AF_UNIX, SOCK_DGRAM};
use bridge_protocol::errno::code::EACCES;
use bridge_protocol::{Address, Method};
use resolve::Resolver;
use socket2::SockAddr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::PathBuf;

/// Daemon-wide networking context: policy, the Unix sandbox, the resolver and the audit log.
#[derive(Debug)]
pub(crate) struct Net {
    pub(crate) policy: Policy,
    pub(crate) sandbox: Option<Sandbox>,
    pub(crate) resolver: Resolver,
    pub(crate) audit: Audit,
}

/// Who is asking: the page's side of the policy and its share of the resolver.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Caller<'a> {
    pub(crate) page: &'a Page,
    pub(crate) dns: &'a resolve::DnsShare,
    /// The session's private network: its sockets reach only that, with no policy, and only its
    /// names resolve.
    pub(crate) network: Option<&'a crate::network::Network>,
}

/// The protocol of a socket type, as rules name it.
pub(crate) fn proto(kind: i32) -> Proto {
    if kind == SOCK_DGRAM { Proto::Udp } else { Proto::Tcp }
}

/// An IP address as the page wrote it.
struct IpTarget<'a> {
    host: &'a str,
    port: u16,
    flowinfo: u32,
    scope_id: u32,
}

impl IpTarget<'_> {
    fn text(&self) -> String {
        if self.host.contains(':') {
            format!("[{}]:{}", self.host, self.port)
        } else {
            format!("{}:{}", self.host, self.port)
        }
    }

    /// The address for this socket family: `''` is the wildcard, `'<broadcast>'` the broadcast
    /// address, and an address literal of the socket's family is itself. Anything else is a name.
    fn literal(&self, family: i32) -> Option<IpAddr> {
        match (family, self.host) {
            (AF_INET, "") => Some(IpAddr::V4(Ipv4Addr::UNSPECIFIED)),
            (AF_INET6, "") => Some(IpAddr::V6(Ipv6Addr::UNSPECIFIED)),
            (_, "<broadcast>") => Some(IpAddr::V4(Ipv4Addr::BROADCAST)),
            (_, literal) => match (family, literal.parse::<IpAddr>()) {
                (AF_INET, Ok(ip @ IpAddr::V4(_))) | (AF_INET6, Ok(ip @ IpAddr::V6(_))) => Some(ip),
                _ => None,
            },
        }
    }

    /// The kernel's address for `ip` on a socket of `family`.
    fn socket_addr(&self, family: i32, ip: IpAddr) -> SocketAddr {
        match ip {
            IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(v6, self.port, self.flowinfo, self.scope_id)),
            IpAddr::V4(v4) if family == AF_INET => SocketAddr::from((v4, self.port)),
            IpAddr::V4(v4) => {
                SocketAddr::V6(SocketAddrV6::new(v4.to_ipv6_mapped(), self.port, self.flowinfo, self.scope_id))
            }
        }
    }
}

fn ip_target(method: Method, family: i32, address: &Address) -> OpResult<IpTarget<'_>> {
    match (family, address) {
        (AF_INET | AF_INET6, Address::Inet { host, port }) => {
            Ok(IpTarget { host, port: *port, flowinfo: 0, scope_id: 0 })
        }
        (AF_INET6, Address::Inet6 { host, port, flowinfo, scope_id }) => {
            Ok(IpTarget { host, port: *port, flowinfo: *flowinfo, scope_id: *scope_id })
        }
        (AF_INET, _) => Err(OpError::Params { method, why: "an AF_INET address is [host, port]" }),
        _ => Err(OpError::Params {
            method,
            why: "an AF_INET6 address is [host, port] or [host, port, flowinfo, scope_id]",
        }),
    }
}

fn unix_name(method: Method, address: &Address) -> OpResult<&str> {
    match address {
        Address::Unix(name) => Ok(name),
        _ => Err(OpError::Params { method, why: "an AF_UNIX address is a socket name string" }),
    }
}

impl Net {
    /// Records a refusal in the audit log and returns the error the page gets: `errno` (`EACCES`
    /// for the policy's refusals) with the reason.
    #[expect(clippy::too_many_arguments, reason = "the audit event's fields, named at each call")]
    fn refuse(
        &self,
        caller: Caller<'_>,
        errno: i32,
        method: Method,
        target: String,
        resolved: Option<String>,
        rule: String,
        reason: String,
    ) -> OpError {
        let event = Event {
            session: Some(caller.page.session),
            origin: caller.page.origin.as_deref(),
            identity: caller.page.identity.as_deref(),
            op: method.name(),
            target,
            resolved,
            rule,
            reason: reason.clone(),
        };
        self.audit.session_refusal(&event, &caller.page.audit_lines);
        OpError::refused(errno, reason)
    }

    /// The kernel address for a `bind`, resolved and checked. For a Unix socket, the path of the
    /// file about to be created is returned too.
    pub(crate) async fn bind_addr(
        &self,
        caller: Caller<'_>,
        method: Method,
        sock: &BridgeSocket,
        address: &Address,
    ) -> OpResult<(SockAddr, Option<PathBuf>)> {
        let (family, kind) = (sock.family(), sock.kind());
        self.stays_unbound(sock)?;
        if family == AF_UNIX {
            let path = self.sandbox_path(caller, method, unix_name(method, address)?)?;
            return Ok((SockAddr::unix(&path)?, Some(path)));
        }
        let target = ip_target(method, family, address)?;
        if let Some(network) = caller.network {
            // A host of a private network binds what its kernel lets it.
            let ip = match target.literal(family) {
                Some(ip) => ip,
                None => network.resolve(&self.resolver, caller.dns, target.host, family).await?,
            };
            return Ok((SockAddr::from(target.socket_addr(family, ip)), None));
        }
        let ip = match target.literal(family) {
            Some(ip) => ip,
            None => self.resolver.candidates(caller.dns, target.host, family, kind).await?[0],
        };
        let addr = target.socket_addr(family, ip);
        match self.policy.bind_addr(addr) {
            Ok(addr) => Ok((SockAddr::from(addr), None)),
            Err(OpError::Os(e)) => Err(self.refuse(
                caller,
                EACCES,
                method,
                target.text(),
                Some(addr.to_string()),
                "bind-policy".into(),
                e.reason.unwrap_or_default(),
            )),
            Err(other) => Err(other),
        }
    }

    /// The kernel address for a `connect` or `sendto` of `sock`: resolved once, every candidate
    /// checked, and exactly a permitted one returned (see `policy::egress`), with what the caller
    /// must do or hold while the call runs ([`Dialled`]).
    pub(crate) async fn dial_addr(
        &self,
        caller: Caller<'_>,
        method: Method,
        sock: &BridgeSocket,
        address: &Address,
    ) -> OpResult<Dialled> {
        let (family, kind) = (sock.family(), sock.kind());
        if family == AF_UNIX {
            let addr = self.dial_unix(caller, method, unix_name(method, address)?)?;
            return Ok(Dialled::to(addr));
        }
        let target = ip_target(method, family, address)?;
        if let Some(network) = caller.network {
            return self.dial_private(caller, network, method, sock, &target).await;
        }
        let (name, candidates) = match target.literal(family) {
            Some(ip) => (None, vec![ip]),
            None => (
                Some(normalize_name(target.host)),
                self.resolver.candidates(caller.dns, target.host, family, kind).await?,
            ),
        };
        match self.policy.dial(caller.page, proto(kind), name.as_deref(), target.port, &candidates) {
            Ok(dial) => {
                let addr = target.socket_addr(family, dial.ip);
                let vacated = match dial.vacated {
                    false => None,
                    true => Some(Vacated::hold(addr, kind).map_err(|e| match e {
                        VacatedError::Taken => self.refuse(
                            caller,
                            EACCES,
                            method,
                            target.text(),
                            Some(addr.to_string()),
                            "own".into(),
                            "the page closed its socket on this port, and another program uses the port now".into(),
                        ),
                        VacatedError::Os(e) => e.into(),
                    })?),
                };
                Ok(Dialled { addr: SockAddr::from(addr), vacated, labs: dial.labs, move_outside: false })
            }
            Err((ip, denial)) => {
                let resolved = SocketAddr::new(ip, target.port).to_string();
                Err(self.refuse(
                    caller,
                    EACCES,
                    method,
                    target.text(),
                    Some(resolved),
                    denial.rule(),
                    denial.to_string(),
                ))
            }
        }
    }

    /// A destination of a socket on a host of a private network.
    ///
    /// Its own network needs no policy: the kernel answers for every address there. An address
    /// outside it is dialled only if the policy allows it, and then from the daemon's own network:
    /// the socket moves out first (`BridgeSocket::move_outside`). Otherwise the page gets the
    /// kernel's answer, `ENETUNREACH`, with why. A socket that has moved out reaches only what the
    /// policy allows, like a socket of the shared mode (the network's addresses are not its any
    /// more: outside, 10.0.0.2 would be another computer's).
    async fn dial_private(
        &self,
        caller: Caller<'_>,
        network: &crate::network::Network,
        method: Method,
        sock: &BridgeSocket,
        target: &IpTarget<'_>,
    ) -> OpResult<Dialled> {
        let (family, kind) = (sock.family(), sock.kind());
        let outside = sock.outside();
        let (name, candidates) = match target.literal(family) {
            Some(ip) => (None, vec![ip]),
            None if self.looked_up_outside(caller, network, target.host) => (
                Some(normalize_name(target.host)),
                self.resolver.candidates(caller.dns, target.host, family, kind).await?,
            ),
            None => (None, vec![network.resolve(&self.resolver, caller.dns, target.host, family).await?]),
        };
        if !outside && name.is_none() && crate::network::inside(candidates[0]) {
            return Ok(Dialled::to(SockAddr::from(target.socket_addr(family, candidates[0]))));
        }
        let request = Request { proto: proto(kind), name: name.as_deref(), port: target.port };
        match self.policy.dial_outside(caller.page, request, &candidates) {
            Ok(ip) => Ok(Dialled {
                addr: SockAddr::from(target.socket_addr(family, ip)),
                vacated: None,
                labs: false,
                move_outside: !outside,
            }),
            Err((ip, denial)) => {
                let resolved = Some(SocketAddr::new(ip, target.port).to_string());
                if outside {
                    let why =
                        format!("this socket left its private network for a destination the policy allows; {denial}");
                    return Err(self.refuse(caller, EACCES, method, target.text(), resolved, denial.rule(), why));
                }
                let why = format!(
                    "a private network has no route beyond its LAN, and the bridge dials a destination outside only if its policy allows it: {denial}"
                );
                Err(self.refuse(caller, libc::ENETUNREACH, method, target.text(), resolved, denial.rule(), why))
            }
        }
    }

    /// Whether a name a page in a private network uses is looked up outside it: a name that is not
    /// the network's own (a host's, `localhost`) but that an allow rule names. No other name is
    /// looked up anywhere: there is no DNS inside.
    fn looked_up_outside(&self, caller: Caller<'_>, network: &crate::network::Network, name: &str) -> bool {
        !network.knows(name) && self.policy.names(caller.page, &normalize_name(name))
    }

    /// `getaddrinfo` for a page: in a private network, its own names (see
    /// [`Net::looked_up_outside`]).
    pub(crate) async fn getaddrinfo(
        &self,
        caller: Caller<'_>,
        query: resolve::Query,
    ) -> OpResult<Vec<bridge_protocol::params::AddrInfo>> {
        match (caller.network, query.host.as_deref()) {
            (Some(network), Some(name)) if self.looked_up_outside(caller, network, name) => {}
            (Some(network), _) => return network.getaddrinfo(&self.resolver, caller.dns, query).await,
            (None, _) => {}
        }
        self.resolver.getaddrinfo(caller.dns, query).await
    }

    /// `gethostbyname` for a page (a name that is not `''` or `'<broadcast>'`).
    pub(crate) async fn gethostbyname(&self, caller: Caller<'_>, name: &str) -> OpResult<String> {
        if let Some(network) = caller.network
            && !self.looked_up_outside(caller, network, name)
        {
            return network.resolve(&self.resolver, caller.dns, name, AF_INET).await.map(|ip| ip.to_string());
        }
        let candidates = self.resolver.candidates(caller.dns, name, AF_INET, 0).await?;
        Ok(candidates[0].to_string())
    }

    /// The path in the socket directory for a page's socket name; a refusal (no directory, or a name
    /// that is not a single plain file name) is audited.
    fn sandbox_path(&self, caller: Caller<'_>, method: Method, name: &str) -> OpResult<PathBuf> {
        let shown = || name.escape_debug().to_string();
        let Some(sandbox) = &self.sandbox else {
            let why = "this bridge has no Unix socket directory (start it with --unix or --unix-dir)";
            return Err(self.refuse(caller, EACCES, method, shown(), None, "unix-no-dir".into(), why.into()));
        };
        sandbox.path_for(name).map_err(|e| match e {
            OpError::Os(os) if os.errname.as_deref() == Some("EACCES") => {
                self.refuse(caller, EACCES, method, shown(), None, "unix-name".into(), os.reason.unwrap_or_default())
            }
            other => other,
        })
    }

    /// A Unix socket to connect or send to: a name in the socket directory that a page of the same
    /// origin created, or an absolute path the rules name exactly.
    fn dial_unix(&self, caller: Caller<'_>, method: Method, name: &str) -> OpResult<SockAddr> {
        let shown = name.escape_debug().to_string();
        if name.starts_with('/') {
            return match normalize_unix_path(name) {
                Some(path) if self.policy.unix_path_allowed(caller.page, &path) => {
                    SockAddr::unix(&path).map_err(|_| {
                        OpError::refused(libc::ENAMETOOLONG, "the path is longer than a Unix socket address holds")
                    })
                }
                _ => Err(self.refuse(
                    caller,
                    EACCES,
                    method,
                    shown,
                    None,
                    "unix-path".into(),
                    "the bridge's policy does not name this Unix socket path (see --allow-unix)".into(),
                )),
            };
        }
        let path = self.sandbox_path(caller, method, name)?;
        let origin = &caller.page.origin;
        let ours = Sandbox::check_file(&path, |dev, ino| self.policy.owners.holds_file(origin, dev, ino));
        if ours == Some(false) {
            let why = "this socket file was not made by a page of this origin through the bridge";
            return Err(self.refuse(caller, EACCES, method, shown, None, "unix-not-own".into(), why.into()));
        }
        // No file: the kernel says so (ENOENT), as it would to Python.
        Ok(SockAddr::unix(&path)?)
    }

    /// Refuses to bind or listen on a socket that left its private network
    /// (`BridgeSocket::move_outside`): it is a client of a destination outside, and a server on
    /// the daemon's computer is not what a private network's page may make.
    pub(crate) fn stays_unbound(&self, sock: &BridgeSocket) -> OpResult<()> {
        if sock.outside() {
            return Err(OpError::denied(
                "this socket left its private network to reach a destination outside; it cannot be bound or listen there",
            ));
        }
        Ok(())
    }

    /// Binds an unbound IP socket to loopback with an ephemeral port. The kernel would otherwise
    /// bind it to the wildcard address on `listen` or a UDP `sendto`, which would expose the socket
    /// beyond loopback, past the bind policy.
    pub(crate) async fn bind_loopback_if_unbound(&self, sock: &BridgeSocket) -> OpResult<()> {
        let loopback = match sock.family() {
            AF_INET => IpAddr::V4(Ipv4Addr::LOCALHOST),
            AF_INET6 => IpAddr::V6(Ipv6Addr::LOCALHOST),
            _ => return Ok(()),
        };
        let unbound = sock.local_addr().await?.as_socket().is_some_and(|a| a.port() == 0);
        if unbound {
            sock.bind(&SockAddr::from(SocketAddr::new(loopback, 0))).await?;
        }
        Ok(())
    }

    /// A kernel address as the page sees it: Python's tuple, or a Unix name. `None` for no address
    /// (an unnamed Unix socket, or a TCP `recvfrom`), as Python's `None`.
    pub(crate) fn address(&self, addr: &SockAddr) -> Option<Address> {
        if let Some(ip) = addr.as_socket() {
            return Some(Address::from(ip));
        }
        if addr.is_unix() {
            if let Some(path) = addr.as_pathname() {
                let name = match &self.sandbox {
                    Some(sandbox) => sandbox.name_of(path),
                    None => path.to_string_lossy().into_owned(),
                };
                return Some(Address::Unix(name));
            }
            if let Some(name) = addr.as_abstract_namespace() {
                return Some(Address::Unix(format!("\0{}", String::from_utf8_lossy(name))));
            }
        }
        None
    }

    /// The answer of `getsockname`, `getpeername` and `accept`: as [`Net::address`], but an
    /// unnamed Unix socket is `""` there, as in Python.
    pub(crate) fn address_or_empty(&self, addr: &SockAddr) -> Address {
        self.address(addr).unwrap_or_else(|| Address::Unix(String::new()))
    }
}

/// A destination a page may dial.
#[derive(Debug)]
pub(crate) struct Dialled {
    /// The kernel address: exactly the one the policy checked.
    pub(crate) addr: SockAddr,
    /// For an address the session held and has closed: the bridge's hold on it, to keep until the
    /// call is done.
    pub(crate) vacated: Option<Vacated>,
    /// One of the lab services (a TCP connection to one counts towards
    /// `Limits::max_lab_connections_per_origin`).
    pub(crate) labs: bool,
    /// Outside the socket's private network, allowed by the policy: the socket must move out
    /// before the call (`BridgeSocket::move_outside`).
    pub(crate) move_outside: bool,
}

impl Dialled {
    /// An address with nothing to do or hold.
    fn to(addr: SockAddr) -> Dialled {
        Dialled { addr, vacated: None, labs: false, move_outside: false }
    }
}

/// A port the session held and has closed, held by the bridge while a page's `connect` or `sendto`
/// to it runs.
///
/// The page may still dial such a port, so a lesson can show what a closed port does (a refused
/// connection, a datagram that goes nowhere), but nothing else may be there. The bridge binds
/// the address itself, without `SO_REUSEADDR`: while it holds it, no program can take the port,
/// and a TCP connect is refused by the kernel as for a port nobody listens on (a datagram lands in
/// the bridge's socket and is dropped). If the bind fails, another socket has the port: for UDP
/// that is another program's, and the page is refused; for TCP it may also be a connection in
/// TIME_WAIT or a socket of the page bound without listening, so the kernel's table of listening
/// sockets decides: any listener on the port, and the page is refused.
#[derive(Debug)]
pub(crate) struct Vacated(#[allow(dead_code, reason = "held, not used")] Option<socket2::Socket>);

/// Why a vacated port cannot be dialled.
pub(crate) enum VacatedError {
    /// Another program has the port.
    Taken,
    /// The bridge could not make its own socket.
    Os(std::io::Error),
}

impl Vacated {
    fn hold(addr: SocketAddr, kind: i32) -> Result<Vacated, VacatedError> {
        let addr = SocketAddr::new(crate::policy::space::canonical(addr.ip()), addr.port());
        let ty = if kind == SOCK_DGRAM { socket2::Type::DGRAM } else { socket2::Type::STREAM };
        let sock =
            socket2::Socket::new(socket2::Domain::for_address(addr), ty.cloexec(), None).map_err(VacatedError::Os)?;
        match sock.bind(&SockAddr::from(addr)) {
            Ok(()) => Ok(Vacated(Some(sock))),
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) && kind != SOCK_DGRAM => {
                if tcp_listener_on(addr) {
                    Err(VacatedError::Taken)
                } else {
                    Ok(Vacated(None))
                }
            }
            Err(e) if e.raw_os_error() == Some(libc::EADDRINUSE) => Err(VacatedError::Taken),
            Err(e) => Err(VacatedError::Os(e)),
        }
    }
}

/// Whether the kernel has a listening TCP socket on `addr`'s port, at its address or a wildcard
/// (from `/proc/net/tcp` and `/proc/net/tcp6`; if neither can be read, it says yes).
fn tcp_listener_on(addr: SocketAddr) -> bool {
    const LISTEN: &str = "0A";
    let mut read_any = false;
    for table in ["/proc/net/tcp", "/proc/net/tcp6"] {
        let Ok(text) = std::fs::read_to_string(table) else { continue };
        read_any = true;
        for line in text.lines().skip(1) {
            let mut fields = line.split_whitespace();
            let (Some(local), Some(_remote), Some(state)) = (fields.nth(1), fields.next(), fields.next()) else {
                continue;
            };
            let port = local.rsplit(':').next().and_then(|p| u16::from_str_radix(p, 16).ok());
            if state == LISTEN && port == Some(addr.port()) {
                return true;
            }
        }
    }
    !read_any
}
