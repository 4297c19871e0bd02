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

use crate::error::{OpError, OpResult};
use crate::policy::Policy;
use crate::sandbox::Sandbox;
use bridge_protocol::constants::{AF_INET, AF_INET6, AF_UNIX};
use bridge_protocol::{Address, Method};
use resolve::Resolver;
use socket2::SockAddr;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV6};
use std::path::PathBuf;

/// Daemon-wide networking context: policy, the Unix sandbox and the resolver.
#[derive(Debug)]
pub(crate) struct Net {
    pub(crate) policy: Policy,
    pub(crate) sandbox: Option<Sandbox>,
    pub(crate) resolver: Resolver,
}

/// Why an address is being translated: binding is checked against the bind policy, dialling against
/// the connect policy.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Purpose {
    /// `bind`.
    Bind,
    /// `connect` and `sendto`.
    Dial,
}

impl Net {
    /// The kernel address for a page's address, resolved and checked. For a Unix bind, the path of
    /// the file about to be created is returned too.
    pub(crate) async fn sockaddr(
        &self,
        method: Method,
        family: i32,
        kind: i32,
        address: &Address,
        purpose: Purpose,
    ) -> OpResult<(SockAddr, Option<PathBuf>)> {
        if family == AF_UNIX {
            let Address::Unix(name) = address else {
                return Err(OpError::Params { method, why: "an AF_UNIX address is a socket name string" });
            };
            let sandbox = self.sandbox.as_ref().ok_or_else(|| OpError::errno(libc::EAFNOSUPPORT))?;
            let path = sandbox.path_for(name)?;
            let addr = SockAddr::unix(&path)?;
            return Ok((addr, (purpose == Purpose::Bind).then_some(path)));
        }
        let addr = self.ip_sockaddr(method, family, kind, address).await?;
        let addr = match purpose {
            Purpose::Bind => self.policy.bind_addr(addr)?,
            Purpose::Dial => {
                self.policy.connect_addr(addr)?;
                addr
            }
        };
        Ok((SockAddr::from(addr), None))
    }

    async fn ip_sockaddr(&self, method: Method, family: i32, kind: i32, address: &Address) -> OpResult<SocketAddr> {
        let (host, port, flowinfo, scope_id) = match (family, address) {
            (AF_INET, Address::Inet { host, port }) | (AF_INET6, Address::Inet { host, port }) => (host, *port, 0, 0),
            (AF_INET6, Address::Inet6 { host, port, flowinfo, scope_id }) => (host, *port, *flowinfo, *scope_id),
            (AF_INET, _) => return Err(OpError::Params { method, why: "an AF_INET address is [host, port]" }),
            _ => {
                return Err(OpError::Params {
                    method,
                    why: "an AF_INET6 address is [host, port] or [host, port, flowinfo, scope_id]",
                });
            }
        };
        let ip = match (family, host.as_str()) {
            (AF_INET, "") => IpAddr::V4(Ipv4Addr::UNSPECIFIED),
            (AF_INET6, "") => IpAddr::V6(Ipv6Addr::UNSPECIFIED),
            (AF_INET, "<broadcast>") => IpAddr::V4(Ipv4Addr::BROADCAST),
            (_, literal) => match (family, literal.parse::<IpAddr>()) {
                (AF_INET, Ok(ip @ IpAddr::V4(_))) | (AF_INET6, Ok(ip @ IpAddr::V6(_))) => ip,
                _ => self.resolver.first_ip(literal, family, kind).await?,
            },
        };
        Ok(match ip {
            IpAddr::V6(v6) => SocketAddr::V6(SocketAddrV6::new(v6, port, flowinfo, scope_id)),
            IpAddr::V4(v4) if family == AF_INET => SocketAddr::from((v4, port)),
            IpAddr::V4(v4) => SocketAddr::V6(SocketAddrV6::new(v4.to_ipv6_mapped(), port, flowinfo, scope_id)),
        })
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
