//! Name resolution with the C library's `getaddrinfo`, exactly as CPython calls it, on a bounded
//! number of blocking threads with a deadline.
//!
//! The resolver behind it is a [`Lookup`], so tests can script DNS answers (a name that resolves
//! differently each time, to a private address, or never).

use crate::error::{OpError, OpResult};
use bridge_protocol::errno::eai::{EAI_AGAIN, EAI_NONAME, EAI_SYSTEM};
use bridge_protocol::params::AddrInfo;
use bridge_protocol::{Address, OsError};
use std::ffi::{CStr, CString};
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::pin::Pin;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// A lookup's answer: `getaddrinfo`'s list, or the `gaierror`/`OSError` it raised.
pub type LookupFuture = Pin<Box<dyn Future<Output = Result<Vec<AddrInfo>, OsError>> + Send>>;

/// Where names are resolved.
pub trait Lookup: Send + Sync + fmt::Debug + 'static {
    /// Python's `getaddrinfo(host, port, family, type, proto, flags)`.
    fn getaddrinfo(&self, query: Query) -> LookupFuture;
}

/// The system's resolver: `getaddrinfo(3)` on a blocking thread.
#[derive(Debug, Default)]
pub struct SystemLookup;

impl Lookup for SystemLookup {
    fn getaddrinfo(&self, query: Query) -> LookupFuture {
        Box::pin(async move {
            tokio::task::spawn_blocking(move || getaddrinfo_blocking(&query))
                .await
                .unwrap_or_else(|_| Err(OsError::gai(EAI_SYSTEM, None)))
        })
    }
}

/// The resolver shared by all sessions: at most `concurrency` lookups at once daemon-wide (and a
/// session's own allowance), each within `timeout`.
#[derive(Clone, Debug)]
pub(crate) struct Resolver {
    permits: Arc<Semaphore>,
    timeout: Duration,
    lookup: Arc<dyn Lookup>,
}

/// A caller's share of the resolver: its session's (`Limits::dns_per_session`) within its origin's
/// (`Limits::dns_per_origin`), so the pages of one origin cannot hold every lookup the daemon runs
/// (`Limits::dns_concurrency`) and starve another's.
#[derive(Clone, Debug)]
pub(crate) struct DnsShare {
    pub(crate) session: Arc<Semaphore>,
    pub(crate) origin: Arc<Semaphore>,
}

/// One lookup's arguments, as Python's `getaddrinfo(host, port, family, type, proto, flags)`.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Query {
    /// The host: a name or an address; `None` for Python's `None`.
    pub host: Option<String>,
    /// The port number or service name.
    pub service: Option<String>,
    /// `AF_*`, 0 for any.
    pub family: i32,
    /// `SOCK_*`, 0 for any.
    pub kind: i32,
    /// `IPPROTO_*`, 0 for any.
    pub proto: i32,
    /// `AI_*` flags.
    pub flags: i32,
}

impl Resolver {
    pub(crate) fn new(concurrency: usize, timeout: Duration, lookup: Option<Arc<dyn Lookup>>) -> Self {
        let lookup = lookup.unwrap_or_else(|| Arc::new(SystemLookup));
        Resolver { permits: Arc::new(Semaphore::new(concurrency)), timeout, lookup }
    }

    /// Resolves within the caller's share (its session's and its origin's allowances) and the
    /// daemon's, failing with `gaierror(EAI_AGAIN)` when the deadline passes. A lookup that
    /// overruns goes on in the background holding its permits until it ends, so stuck lookups stay
    /// bounded.
    ///
    /// A name with a backslash is not looked up (`gaierror(EAI_NONAME)`): the C resolver reads
    /// `\098` or `\b` in a name as an escape for `b`, after the policy has compared the name, so
    /// `\098ad.test` would reach what a rule for `bad.test` denies.
    pub(crate) async fn getaddrinfo(&self, share: &DnsShare, query: Query) -> OpResult<Vec<AddrInfo>> {
        if query.host.as_deref().is_some_and(|h| h.contains('\\')) {
            return Err(OpError::Os(OsError::gai(EAI_NONAME, None)));
        }
        let work = async {
            let closed = || OpError::errno(libc::EAGAIN);
            let mine = Arc::clone(&share.session).acquire_owned().await.map_err(|_| closed())?;
            let origin = Arc::clone(&share.origin).acquire_owned().await.map_err(|_| closed())?;
            let global = Arc::clone(&self.permits).acquire_owned().await.map_err(|_| closed())?;
            let lookup = self.lookup.getaddrinfo(query);
            let task = tokio::spawn(async move {
                let answer = lookup.await;
                drop((mine, origin, global));
                answer
            });
            task.await.unwrap_or_else(|_| Err(OsError::gai(EAI_SYSTEM, None))).map_err(OpError::Os)
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(OpError::Os(OsError::gai(EAI_AGAIN, None))),
        }
    }

    /// The addresses `host` resolves to for a socket of this family and type, in the resolver's
    /// order, without repeats: what CPython would choose from (it takes the first).
    pub(crate) async fn candidates(
        &self,
        share: &DnsShare,
        host: &str,
        family: i32,
        kind: i32,
    ) -> OpResult<Vec<IpAddr>> {
        let query = Query { host: Some(host.to_owned()), family, kind, ..Query::default() };
        let mut out: Vec<IpAddr> = Vec::new();
        for info in self.getaddrinfo(share, query).await? {
            let ip = match info.address {
                Address::Inet { host, .. } | Address::Inet6 { host, .. } => host.parse().ok(),
                Address::Unix(_) => None,
            };
            if let Some(ip) = ip
                && !out.contains(&ip)
            {
                out.push(ip);
            }
        }
        if out.is_empty() {
            return Err(OpError::Os(OsError::gai(EAI_NONAME, None)));
        }
        Ok(out)
    }
}

fn c_string(text: &Option<String>) -> Result<Option<CString>, OsError> {
    match text {
        None => Ok(None),
        Some(t) => CString::new(t.as_str())
            .map(Some)
            .map_err(|_| OsError::refused(libc::EINVAL, "a host or service name may not contain a NUL character")),
    }
}

/// Calls `getaddrinfo(3)` and converts every result.
fn getaddrinfo_blocking(query: &Query) -> Result<Vec<AddrInfo>, OsError> {
    let host = c_string(&query.host)?;
    let service = c_string(&query.service)?;
    // SAFETY: an all-zero addrinfo is the documented way to start a hints struct.
    let mut hints: libc::addrinfo = unsafe { std::mem::zeroed() };
    hints.ai_family = query.family;
    hints.ai_socktype = query.kind;
    hints.ai_protocol = query.proto;
    hints.ai_flags = query.flags;
    let mut list: *mut libc::addrinfo = std::ptr::null_mut();
    // SAFETY: the strings are NUL-terminated and outlive the call; `list` receives a list that is
    // freed below with freeaddrinfo.
    let rc = unsafe {
        libc::getaddrinfo(
            host.as_ref().map_or(std::ptr::null(), |h| h.as_ptr()),
            service.as_ref().map_or(std::ptr::null(), |s| s.as_ptr()),
            &hints,
            &mut list,
        )
    };
    if rc != 0 {
        if rc == libc::EAI_SYSTEM {
            let errno = std::io::Error::last_os_error().raw_os_error().unwrap_or(libc::EIO);
            return Err(OsError::from_errno(errno));
        }
        // SAFETY: gai_strerror returns a static NUL-terminated string for any code.
        let message = unsafe { CStr::from_ptr(libc::gai_strerror(rc)) }.to_string_lossy().into_owned();
        return Err(OsError::gai(rc, Some(&message)));
    }
    let mut out = Vec::new();
    let mut node = list;
    while !node.is_null() {
        // SAFETY: `node` is a non-null element of the list getaddrinfo returned, not yet freed.
        let ai = unsafe { &*node };
        // SAFETY: ai_addr points to ai_addrlen bytes of a sockaddr of family ai_family.
        if let Some(addr) = unsafe { sockaddr_to_std(ai.ai_addr, ai.ai_addrlen) } {
            let canonname = if ai.ai_canonname.is_null() {
                String::new()
            } else {
                // SAFETY: ai_canonname, when set, is a NUL-terminated string owned by the list.
                unsafe { CStr::from_ptr(ai.ai_canonname) }.to_string_lossy().into_owned()
            };
            out.push(AddrInfo {
                family: ai.ai_family,
                kind: ai.ai_socktype,
                proto: ai.ai_protocol,
                canonname,
                address: Address::from(addr),
            });
        }
        node = ai.ai_next;
    }
    // SAFETY: `list` came from a successful getaddrinfo and is freed once.
    unsafe { libc::freeaddrinfo(list) };
    Ok(out)
}

/// Reads an IPv4 or IPv6 sockaddr.
///
/// # Safety
/// `addr` must be null or point to `len` readable bytes holding a sockaddr.
unsafe fn sockaddr_to_std(addr: *const libc::sockaddr, len: libc::socklen_t) -> Option<SocketAddr> {
    if addr.is_null() {
        return None;
    }
    // SAFETY: the caller guarantees `addr` points to a sockaddr; each cast is checked against the
    // family and length first, and read_unaligned makes no alignment assumption.
    unsafe {
        match i32::from((*addr).sa_family) {
            libc::AF_INET if len as usize >= std::mem::size_of::<libc::sockaddr_in>() => {
                let a = std::ptr::read_unaligned(addr.cast::<libc::sockaddr_in>());
                let ip = Ipv4Addr::from(u32::from_be(a.sin_addr.s_addr));
                Some(SocketAddr::V4(SocketAddrV4::new(ip, u16::from_be(a.sin_port))))
            }
            libc::AF_INET6 if len as usize >= std::mem::size_of::<libc::sockaddr_in6>() => {
                let a = std::ptr::read_unaligned(addr.cast::<libc::sockaddr_in6>());
                let ip = Ipv6Addr::from(a.sin6_addr.s6_addr);
                Some(SocketAddr::V6(SocketAddrV6::new(
                    ip,
                    u16::from_be(a.sin6_port),
                    u32::from_be(a.sin6_flowinfo),
                    a.sin6_scope_id,
                )))
            }
            _ => None,
        }
    }
}

/// The host's name, as `socket.gethostname()`.
pub(crate) fn gethostname() -> OpResult<String> {
    let mut buf = [0u8; 256];
    // SAFETY: the buffer is writable for its whole length, and one byte is kept for a NUL.
    let rc = unsafe { libc::gethostname(buf.as_mut_ptr().cast(), buf.len() - 1) };
    if rc != 0 {
        return Err(OpError::from(std::io::Error::last_os_error()));
    }
    let end = buf.iter().position(|&b| b == 0).unwrap_or(buf.len());
    Ok(String::from_utf8_lossy(&buf[..end]).into_owned())
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_protocol::constants::{AF_INET, SOCK_STREAM};

    #[test]
    fn numeric_hosts_resolve_like_python() {
        let q = Query { host: Some("127.0.0.1".into()), service: Some("80".into()), ..Query::default() };
        let infos = getaddrinfo_blocking(&q).unwrap_or_default();
        // Python: STREAM/6, DGRAM/17, RAW/0, all ('127.0.0.1', 80).
        let kinds: Vec<_> = infos.iter().map(|i| (i.kind, i.proto)).collect();
        assert_eq!(kinds, [(1, 6), (2, 17), (3, 0)]);
        assert!(infos.iter().all(|i| i.address == Address::from(("127.0.0.1", 80))));
    }

    #[test]
    fn errors_are_gaierrors() {
        let q = Query { host: Some("localhost".into()), service: Some("nosuchservice".into()), ..Query::default() };
        match getaddrinfo_blocking(&q) {
            Err(e) => {
                assert_eq!(e.exception, "gaierror");
                assert_eq!(e.errno, Some(-8));
            }
            other => panic!("{other:?}"),
        }
        let q = Query { host: Some("a\0b".into()), family: AF_INET, kind: SOCK_STREAM, ..Query::default() };
        assert!(getaddrinfo_blocking(&q).is_err());
    }

    #[test]
    fn hostname_is_not_empty() {
        assert!(gethostname().is_ok_and(|h| !h.is_empty()));
    }
}
