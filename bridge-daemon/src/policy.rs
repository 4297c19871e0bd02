//! The security floor: who may open a session, where sockets may bind, and what they may not dial.
//!
//! This is the first floor; the full policy (a per-start token, egress rules, rate limits) is later
//! work. Today: the daemon listens on loopback only; a handshake must carry an allowed `Host`
//! (defeating DNS rebinding) and, when it comes from a browser, an allowed `Origin` (the daemon's
//! own origin always, others by `--allow-origin`); sockets bind loopback addresses only, on port 0
//! or 1024 and up, with wildcard addresses mapped to loopback; and no socket may dial the daemon's
//! own port.

use crate::error::{OpError, OpResult};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// The lowest port a page may bind, other than 0 (an ephemeral port).
pub const MIN_BIND_PORT: u16 = 1024;

/// Decisions that depend on where the daemon itself listens.
#[derive(Clone, Debug)]
pub(crate) struct Policy {
    daemon_addr: SocketAddr,
    origins: Vec<String>,
}

impl Policy {
    /// The policy for a daemon listening on `daemon_addr`, admitting `extra_origins` as well as its
    /// own.
    pub(crate) fn new(daemon_addr: SocketAddr, extra_origins: &[String]) -> Self {
        let port = daemon_addr.port();
        let mut origins: Vec<String> =
            ["127.0.0.1", "localhost", "[::1]"].iter().map(|host| format!("http://{host}:{port}")).collect();
        origins.extend(extra_origins.iter().cloned());
        Policy { daemon_addr, origins }
    }

    /// The origin of the daemon's own pages, e.g. `http://127.0.0.1:7320`.
    pub(crate) fn own_origin(&self) -> String {
        match self.daemon_addr {
            SocketAddr::V4(a) => format!("http://{}:{}", a.ip(), a.port()),
            SocketAddr::V6(a) => format!("http://[{}]:{}", a.ip(), a.port()),
        }
    }

    /// Whether a `Host` header names this daemon: `localhost`, `127.0.0.1` or `[::1]`, with the
    /// daemon's port.
    pub(crate) fn host_allowed(&self, host: &str) -> bool {
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) if !name.is_empty() && !port.contains(']') => (name, port.parse::<u16>().ok()),
            _ => (host, Some(80)),
        };
        let name_ok = ["localhost", "127.0.0.1", "[::1]"].iter().any(|allowed| name.eq_ignore_ascii_case(allowed));
        name_ok && port == Some(self.daemon_addr.port())
    }

    /// Whether a handshake's `Origin` may open a session. A missing `Origin` is a non-browser
    /// client (browsers always send one on WebSocket handshakes); an origin must match an allowed
    /// one exactly; `null` only if it was explicitly allowed.
    pub(crate) fn origin_allowed(&self, origin: Option<&str>) -> bool {
        match origin {
            None => true,
            Some(origin) => self.origins.iter().any(|allowed| allowed == origin),
        }
    }

    /// Where a socket may bind: loopback only, with the wildcard address mapped to loopback, and
    /// port 0 or 1024 and up.
    pub(crate) fn bind_addr(&self, addr: SocketAddr) -> OpResult<SocketAddr> {
        let ip = match addr.ip() {
            IpAddr::V4(ip) if ip.is_unspecified() => IpAddr::V4(Ipv4Addr::LOCALHOST),
            IpAddr::V6(ip) if ip.is_unspecified() => IpAddr::V6(Ipv6Addr::LOCALHOST),
            ip => ip,
        };
        if !is_loopback(ip) {
            return Err(OpError::denied(
                "the bridge binds loopback addresses only (127.0.0.0/8 or ::1); '' and '0.0.0.0' mean 127.0.0.1",
            ));
        }
        if addr.port() != 0 && addr.port() < MIN_BIND_PORT {
            return Err(OpError::denied("ports below 1024 are not bound through the bridge; use 0 or 1024-65535"));
        }
        Ok(SocketAddr::new(ip, addr.port()))
    }

    /// Whether a socket may send to or connect to `addr`: anything but the daemon itself.
    pub(crate) fn connect_addr(&self, addr: SocketAddr) -> OpResult<()> {
        let ip = addr.ip();
        let local = is_loopback(ip) || ip.is_unspecified() || ip == self.daemon_addr.ip();
        if local && addr.port() == self.daemon_addr.port() {
            return Err(OpError::denied("a socket may not connect to the bridge daemon itself"));
        }
        Ok(())
    }
}

/// Loopback, counting IPv4-mapped IPv6 loopback (`::ffff:127.0.0.1`).
fn is_loopback(ip: IpAddr) -> bool {
    match ip {
        IpAddr::V4(v4) => v4.is_loopback(),
        IpAddr::V6(v6) => v6.is_loopback() || v6.to_ipv4_mapped().is_some_and(|v4| v4.is_loopback()),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use bridge_protocol::errno::code::EACCES;

    fn policy() -> Policy {
        Policy::new(SocketAddr::from(([127, 0, 0, 1], 7320)), &["https://course.example.edu".to_owned()])
    }

    fn errno(r: OpResult<impl std::fmt::Debug>) -> Option<i32> {
        match r {
            Err(OpError::Os(e)) => e.errno,
            _ => None,
        }
    }

    #[test]
    fn hosts() {
        let p = policy();
        for ok in ["127.0.0.1:7320", "localhost:7320", "LOCALHOST:7320", "[::1]:7320"] {
            assert!(p.host_allowed(ok), "{ok} refused");
        }
        for bad in [
            "127.0.0.1",
            "127.0.0.1:7321",
            "rebind.attacker.test:7320",
            "127.0.0.1.nip.io:7320",
            "0.0.0.0:7320",
            "[::1]",
            ":7320",
            "",
            "localhost:7320:7320",
        ] {
            assert!(!p.host_allowed(bad), "{bad} allowed");
        }
    }

    #[test]
    fn origins_match_exactly() {
        let p = policy();
        assert!(p.origin_allowed(None));
        for ok in ["http://127.0.0.1:7320", "http://localhost:7320", "https://course.example.edu"] {
            assert!(p.origin_allowed(Some(ok)), "{ok} refused");
        }
        for bad in [
            "https://evil.example",
            "http://localhost:8001",
            "https://127.0.0.1:7320",
            "http://127.0.0.1:7320/",
            "https://course.example.edu.evil.com",
            "https://evilcourse.example.edu",
            "https://course.example.edu@evil.com",
            "HTTPS://COURSE.EXAMPLE.EDU",
            "null",
        ] {
            assert!(!p.origin_allowed(Some(bad)), "{bad} allowed");
        }
    }

    #[test]
    fn binds() {
        let p = policy();
        let ok = |s: &str| p.bind_addr(s.parse().unwrap_or(SocketAddr::from(([1, 1, 1, 1], 1)))).ok();
        assert_eq!(ok("0.0.0.0:8080"), Some("127.0.0.1:8080".parse().unwrap_or(SocketAddr::from(([0; 4], 0)))));
        assert_eq!(ok("[::]:0").map(|a| a.ip()), Some(IpAddr::V6(Ipv6Addr::LOCALHOST)));
        assert!(ok("127.0.0.2:5000").is_some());
        assert!(ok("[::ffff:127.0.0.1]:5000").is_some());
        for bad in ["127.0.0.1:80", "127.0.0.1:1023", "192.168.1.10:9000", "[fe80::1]:9000", "8.8.8.8:5000"] {
            assert_eq!(
                errno(p.bind_addr(bad.parse().unwrap_or(SocketAddr::from(([1, 1, 1, 1], 1))))),
                Some(EACCES),
                "{bad}"
            );
        }
    }

    #[test]
    fn never_dials_itself() {
        let p = policy();
        for bad in ["127.0.0.1:7320", "0.0.0.0:7320", "[::1]:7320", "127.0.0.5:7320"] {
            assert_eq!(
                errno(p.connect_addr(bad.parse().unwrap_or(SocketAddr::from(([1, 1, 1, 1], 1))))),
                Some(EACCES),
                "{bad}"
            );
        }
        assert!(p.connect_addr(SocketAddr::from(([127, 0, 0, 1], 7321))).is_ok());
    }
}
