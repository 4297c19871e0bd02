//! Socket constants with their Linux values, as Python's `socket` module exports them on Linux.
//!
//! The daemon speaks Linux numbers on the wire whatever the client runs on; the clients export these
//! so page code writes `AF_INET`, never `2`. Each group is declared once by `group!`, which also
//! lists the group's names and values in its `ALL`, so generated exports (the browser package's
//! JavaScript constants, the conformance runner's table) never spell a value again.

/// Declares a module of constants with `ALL`, the list of their names and values, and re-exports
/// the constants here.
macro_rules! group {
    ($(#[$mdoc:meta])* $module:ident { $( $(#[$doc:meta])* $name:ident = $value:expr; )* }) => {
        $(#[$mdoc])*
        pub mod $module {
            $( $(#[$doc])* pub const $name: i32 = $value; )*
            /// Every constant of this group, by name.
            pub const ALL: &[(&str, i32)] = &[$((stringify!($name), $name)),*];
        }
        pub use $module::{$($name),*};
    };
}

group! {
    /// Address families.
    af {
        /// Local (Unix-domain) sockets; addresses are path names.
        AF_UNIX = 1;
        /// IPv4; addresses are `[host, port]`.
        AF_INET = 2;
        /// IPv6; addresses are `[host, port, flowinfo, scope_id]`.
        AF_INET6 = 10;
        /// "Any family", for `getaddrinfo`.
        AF_UNSPEC = 0;
    }
}

group! {
    /// Socket types, and the flags Linux lets you or into them.
    sock {
        /// A reliable byte stream (TCP for AF_INET/AF_INET6).
        SOCK_STREAM = 1;
        /// Datagrams with boundaries kept (UDP for AF_INET/AF_INET6).
        SOCK_DGRAM = 2;
        /// Raw sockets: never available through the bridge, listed so `getaddrinfo` results name them.
        SOCK_RAW = 3;
        /// Or'd into the type: create the socket in non-blocking mode.
        SOCK_NONBLOCK = 0o4000;
        /// Or'd into the type: close-on-exec (the daemon sets it on every socket anyway).
        SOCK_CLOEXEC = 0o2000000;
    }
}

group! {
    /// Protocol numbers (`proto` arguments and option levels).
    ipproto {
        /// IPv4 options level.
        IPPROTO_IP = 0;
        /// TCP.
        IPPROTO_TCP = 6;
        /// UDP.
        IPPROTO_UDP = 17;
        /// IPv6 options level.
        IPPROTO_IPV6 = 41;
    }
}

group! {
    /// Option levels and option names for `setsockopt`/`getsockopt`.
    opt {
        /// Socket-level options.
        SOL_SOCKET = 1;
        /// Allow `bind` to a port with connections in TIME_WAIT.
        SO_REUSEADDR = 2;
        /// The socket type (read only).
        SO_TYPE = 3;
        /// Pending error, cleared on read (read only).
        SO_ERROR = 4;
        /// Permit sending to broadcast addresses.
        SO_BROADCAST = 6;
        /// Send buffer size (Linux doubles the value you set).
        SO_SNDBUF = 7;
        /// Receive buffer size (Linux doubles the value you set).
        SO_RCVBUF = 8;
        /// TCP keep-alive probes.
        SO_KEEPALIVE = 9;
        /// Out-of-band data inline.
        SO_OOBINLINE = 10;
        /// Linger on close: a `struct linger` (8 bytes: on/off, seconds).
        SO_LINGER = 13;
        /// Several sockets on one port: refused by the bridge.
        SO_REUSEPORT = 15;
        /// Minimum bytes before a read returns.
        SO_RCVLOWAT = 18;
        /// Whether the socket is listening (read only).
        SO_ACCEPTCONN = 30;
        /// The socket's protocol (read only).
        SO_PROTOCOL = 38;
        /// The socket's family (read only).
        SO_DOMAIN = 39;
        /// Disable Nagle's algorithm.
        TCP_NODELAY = 1;
        /// Largest segment size.
        TCP_MAXSEG = 2;
        /// Idle seconds before keep-alive probes start.
        TCP_KEEPIDLE = 4;
        /// Seconds between keep-alive probes.
        TCP_KEEPINTVL = 5;
        /// Keep-alive probes before the connection drops.
        TCP_KEEPCNT = 6;
        /// IPv4 type of service.
        IP_TOS = 1;
        /// IPv4 time to live.
        IP_TTL = 2;
        /// IPv6 hop limit for unicast.
        IPV6_UNICAST_HOPS = 16;
        /// Restrict an AF_INET6 socket to IPv6 only.
        IPV6_V6ONLY = 26;
    }
}

group! {
    /// `shutdown` directions.
    shut {
        /// No more receptions.
        SHUT_RD = 0;
        /// No more transmissions (the peer reads EOF).
        SHUT_WR = 1;
        /// Both.
        SHUT_RDWR = 2;
    }
}

group! {
    /// Flags for `recv`, `send` and friends.
    msg {
        /// Out-of-band data.
        MSG_OOB = 0x1;
        /// Look at the data without removing it from the queue.
        MSG_PEEK = 0x2;
        /// Don't block, for this call only.
        MSG_DONTWAIT = 0x40;
        /// Wait until the whole buffer is filled (streams).
        MSG_WAITALL = 0x100;
    }
}

group! {
    /// `getaddrinfo` flags.
    ai {
        /// Addresses for `bind` (a `None` host means the wildcard).
        AI_PASSIVE = 0x1;
        /// Ask for the canonical name.
        AI_CANONNAME = 0x2;
        /// The host is a numeric address; never use DNS.
        AI_NUMERICHOST = 0x4;
        /// IPv4-mapped IPv6 addresses if no IPv6 ones.
        AI_V4MAPPED = 0x8;
        /// Both IPv6 and IPv4-mapped addresses (with AI_V4MAPPED).
        AI_ALL = 0x10;
        /// Only families the host has configured.
        AI_ADDRCONFIG = 0x20;
        /// The port is numeric; never look up a service name.
        AI_NUMERICSERV = 0x400;
    }
}

/// Every constant, by name: the groups' `ALL` lists together.
pub fn all() -> impl Iterator<Item = (&'static str, i32)> {
    [af::ALL, sock::ALL, ipproto::ALL, opt::ALL, shut::ALL, msg::ALL, ai::ALL].into_iter().flatten().copied()
}

#[cfg(test)]
mod tests {
    #[test]
    fn names_are_unique_and_values_linux() {
        let all: Vec<_> = super::all().collect();
        let mut names: Vec<_> = all.iter().map(|(n, _)| *n).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), all.len());
        assert!(all.contains(&("AF_INET6", 10)));
        assert!(all.contains(&("SO_REUSEADDR", 2)));
        assert!(all.contains(&("SOCK_NONBLOCK", 0o4000)));
    }
}
