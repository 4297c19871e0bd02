//! Name resolution with the C library's `getaddrinfo`, exactly as CPython calls it, on a bounded
//! number of blocking threads with a deadline.

use crate::error::{OpError, OpResult};
use bridge_protocol::errno::eai::{EAI_AGAIN, EAI_SYSTEM};
use bridge_protocol::params::AddrInfo;
use bridge_protocol::{Address, OsError};
use std::ffi::{CStr, CString};
use std::net::{Ipv4Addr, Ipv6Addr, SocketAddr, SocketAddrV4, SocketAddrV6};
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Semaphore;

/// A resolver shared by all sessions: at most `concurrency` lookups at once, each within `timeout`.
#[derive(Clone, Debug)]
pub(crate) struct Resolver {
    permits: Arc<Semaphore>,
    timeout: Duration,
}

/// One lookup's arguments, as Python's `getaddrinfo(host, port, family, type, proto, flags)`.
#[derive(Clone, Debug, Default)]
pub(crate) struct Query {
    pub(crate) host: Option<String>,
    pub(crate) service: Option<String>,
    pub(crate) family: i32,
    pub(crate) kind: i32,
    pub(crate) proto: i32,
    pub(crate) flags: i32,
}

impl Resolver {
    pub(crate) fn new(concurrency: usize, timeout: Duration) -> Self {
        Resolver { permits: Arc::new(Semaphore::new(concurrency)), timeout }
    }

    /// Resolves, failing with `gaierror(EAI_AGAIN)` when the deadline passes (the blocking lookup
    /// finishes in the background, still holding its permit, so stuck lookups stay bounded).
    pub(crate) async fn getaddrinfo(&self, query: Query) -> OpResult<Vec<AddrInfo>> {
        let work = async {
            let permit = self.permits.clone().acquire_owned().await.map_err(|_| OpError::errno(libc::EAGAIN))?;
            let lookup = tokio::task::spawn_blocking(move || {
                let _permit = permit;
                getaddrinfo_blocking(&query)
            });
            lookup.await.map_err(|_| OpError::Os(OsError::gai(EAI_SYSTEM, None)))?
        };
        match tokio::time::timeout(self.timeout, work).await {
            Ok(result) => result,
            Err(_) => Err(OpError::Os(OsError::gai(EAI_AGAIN, None))),
        }
    }

    /// The first address `host` resolves to for a socket of this family and type, as CPython's
    /// `setipaddr` picks it.
    pub(crate) async fn first_ip(&self, host: &str, family: i32, kind: i32) -> OpResult<std::net::IpAddr> {
        let query = Query { host: Some(host.to_owned()), family, kind, ..Query::default() };
        let infos = self.getaddrinfo(query).await?;
        infos
            .into_iter()
            .find_map(|info| match info.address {
                Address::Inet { host, .. } | Address::Inet6 { host, .. } => host.parse().ok(),
                Address::Unix(_) => None,
            })
            .ok_or_else(|| OpError::Os(OsError::gai(bridge_protocol::errno::eai::EAI_NONAME, None)))
    }
}

fn c_string(text: &Option<String>) -> OpResult<Option<CString>> {
    match text {
        None => Ok(None),
        Some(t) => CString::new(t.as_str())
            .map(Some)
            .map_err(|_| OpError::refused(libc::EINVAL, "a host or service name may not contain a NUL character")),
    }
}

/// Calls `getaddrinfo(3)` and converts every result.
fn getaddrinfo_blocking(query: &Query) -> OpResult<Vec<AddrInfo>> {
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
            return Err(OpError::from(std::io::Error::last_os_error()));
        }
        // SAFETY: gai_strerror returns a static NUL-terminated string for any code.
        let message = unsafe { CStr::from_ptr(libc::gai_strerror(rc)) }.to_string_lossy().into_owned();
        return Err(OpError::Os(OsError::gai(rc, Some(&message))));
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
            Err(OpError::Os(e)) => {
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
