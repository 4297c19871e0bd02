//! Socket constants with their Linux values, as Python's `socket` module exports them on Linux.
//!
//! The daemon speaks Linux numbers on the wire whatever the client runs on; the client re-exports
//! these so page code writes `AF_INET`, never `2`.

/// Address families.
pub mod af {
    /// Local (Unix-domain) sockets; addresses are path names.
    pub const AF_UNIX: i32 = 1;
    /// IPv4; addresses are `[host, port]`.
    pub const AF_INET: i32 = 2;
    /// IPv6; addresses are `[host, port, flowinfo, scope_id]`.
    pub const AF_INET6: i32 = 10;
    /// "Any family", for `getaddrinfo`.
    pub const AF_UNSPEC: i32 = 0;
}

/// Socket types, and the flags Linux lets you or into them.
pub mod sock {
    /// A reliable byte stream (TCP for AF_INET/AF_INET6).
    pub const SOCK_STREAM: i32 = 1;
    /// Datagrams with boundaries kept (UDP for AF_INET/AF_INET6).
    pub const SOCK_DGRAM: i32 = 2;
    /// Raw sockets: never available through the bridge, listed so `getaddrinfo` results name them.
    pub const SOCK_RAW: i32 = 3;
    /// Or'd into the type: create the socket in non-blocking mode.
    pub const SOCK_NONBLOCK: i32 = 0o4000;
    /// Or'd into the type: close-on-exec (the daemon sets it on every socket anyway).
    pub const SOCK_CLOEXEC: i32 = 0o2000000;
}

/// Protocol numbers (`proto` arguments and option levels).
pub mod ipproto {
    /// IPv4 options level.
    pub const IPPROTO_IP: i32 = 0;
    /// TCP.
    pub const IPPROTO_TCP: i32 = 6;
    /// UDP.
    pub const IPPROTO_UDP: i32 = 17;
    /// IPv6 options level.
    pub const IPPROTO_IPV6: i32 = 41;
}

/// Option levels and option names for `setsockopt`/`getsockopt`.
pub mod opt {
    /// Socket-level options.
    pub const SOL_SOCKET: i32 = 1;
    /// Allow `bind` to a port with connections in TIME_WAIT.
    pub const SO_REUSEADDR: i32 = 2;
    /// The socket type (read only).
    pub const SO_TYPE: i32 = 3;
    /// Pending error, cleared on read (read only).
    pub const SO_ERROR: i32 = 4;
    /// Permit sending to broadcast addresses.
    pub const SO_BROADCAST: i32 = 6;
    /// Send buffer size (Linux doubles the value you set).
    pub const SO_SNDBUF: i32 = 7;
    /// Receive buffer size (Linux doubles the value you set).
    pub const SO_RCVBUF: i32 = 8;
    /// TCP keep-alive probes.
    pub const SO_KEEPALIVE: i32 = 9;
    /// Out-of-band data inline.
    pub const SO_OOBINLINE: i32 = 10;
    /// Linger on close: a `struct linger` (8 bytes: on/off, seconds).
    pub const SO_LINGER: i32 = 13;
    /// Several sockets on one port: refused by the bridge.
    pub const SO_REUSEPORT: i32 = 15;
    /// Minimum bytes before a read returns.
    pub const SO_RCVLOWAT: i32 = 18;
    /// Whether the socket is listening (read only).
    pub const SO_ACCEPTCONN: i32 = 30;
    /// The socket's protocol (read only).
    pub const SO_PROTOCOL: i32 = 38;
    /// The socket's family (read only).
    pub const SO_DOMAIN: i32 = 39;
    /// Disable Nagle's algorithm.
    pub const TCP_NODELAY: i32 = 1;
    /// Largest segment size.
    pub const TCP_MAXSEG: i32 = 2;
    /// Idle seconds before keep-alive probes start.
    pub const TCP_KEEPIDLE: i32 = 4;
    /// Seconds between keep-alive probes.
    pub const TCP_KEEPINTVL: i32 = 5;
    /// Keep-alive probes before the connection drops.
    pub const TCP_KEEPCNT: i32 = 6;
    /// IPv4 type of service.
    pub const IP_TOS: i32 = 1;
    /// IPv4 time to live.
    pub const IP_TTL: i32 = 2;
    /// IPv6 hop limit for unicast.
    pub const IPV6_UNICAST_HOPS: i32 = 16;
    /// Restrict an AF_INET6 socket to IPv6 only.
    pub const IPV6_V6ONLY: i32 = 26;
}

/// `shutdown` directions.
pub mod shut {
    /// No more receptions.
    pub const SHUT_RD: i32 = 0;
    /// No more transmissions (the peer reads EOF).
    pub const SHUT_WR: i32 = 1;
    /// Both.
    pub const SHUT_RDWR: i32 = 2;
}

/// Flags for `recv`, `send` and friends.
pub mod msg {
    /// Out-of-band data.
    pub const MSG_OOB: i32 = 0x1;
    /// Look at the data without removing it from the queue.
    pub const MSG_PEEK: i32 = 0x2;
    /// Don't block, for this call only.
    pub const MSG_DONTWAIT: i32 = 0x40;
    /// Wait until the whole buffer is filled (streams).
    pub const MSG_WAITALL: i32 = 0x100;
}

/// `getaddrinfo` flags.
pub mod ai {
    /// Addresses for `bind` (a `None` host means the wildcard).
    pub const AI_PASSIVE: i32 = 0x1;
    /// Ask for the canonical name.
    pub const AI_CANONNAME: i32 = 0x2;
    /// The host is a numeric address; never use DNS.
    pub const AI_NUMERICHOST: i32 = 0x4;
    /// IPv4-mapped IPv6 addresses if no IPv6 ones.
    pub const AI_V4MAPPED: i32 = 0x8;
    /// Both IPv6 and IPv4-mapped addresses (with AI_V4MAPPED).
    pub const AI_ALL: i32 = 0x10;
    /// Only families the host has configured.
    pub const AI_ADDRCONFIG: i32 = 0x20;
    /// The port is numeric; never look up a service name.
    pub const AI_NUMERICSERV: i32 = 0x400;
}

pub use af::*;
pub use ai::*;
pub use ipproto::*;
pub use msg::*;
pub use opt::*;
pub use shut::*;
pub use sock::*;
