//! The kernel's own table of a host's sockets, as `/proc/net/tcp`, `tcp6`, `udp` and `udp6` show
//! it inside the host's namespace: each socket's addresses, its TCP state (LISTEN, ESTABLISHED,
//! FIN_WAIT2, TIME_WAIT, CLOSE_WAIT, ...) and its inode, by which the daemon knows which of the
//! page's sockets it is. A socket in TIME_WAIT belongs to no file any more (inode 0): it is the
//! kernel's alone, which is what lesson 9 shows.
//!
//! The parsing is sans-IO ([`parse`]); [`Tables`] holds the files, opened inside the namespace, and
//! reads them again on each call.

use std::fs::File;
use std::io::{self, Read, Seek};
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};

/// One row of the kernel's table.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) struct KernelSocket {
    /// `"tcp"` or `"udp"`.
    pub(crate) proto: &'static str,
    pub(crate) local: SocketAddr,
    pub(crate) remote: SocketAddr,
    /// The kernel's name for the state (`"LISTEN"`, `"TIME_WAIT"`; for UDP `"UNCONN"` or
    /// `"ESTABLISHED"`, as `ss` says).
    pub(crate) state: &'static str,
    /// The socket's inode; 0 for a socket no file holds (TIME_WAIT).
    pub(crate) inode: u64,
}

/// The TCP states, numbered as in the kernel's `include/net/tcp_states.h`.
const TCP_STATES: [&str; 13] = [
    "?",
    "ESTABLISHED",
    "SYN_SENT",
    "SYN_RECV",
    "FIN_WAIT1",
    "FIN_WAIT2",
    "TIME_WAIT",
    "CLOSE",
    "CLOSE_WAIT",
    "LAST_ACK",
    "LISTEN",
    "CLOSING",
    "NEW_SYN_RECV",
];

/// Parses one of the tables; lines that do not parse are skipped.
pub(crate) fn parse(proto: &'static str, text: &str) -> Vec<KernelSocket> {
    text.lines().skip(1).filter_map(|line| row(proto, line)).collect()
}

fn row(proto: &'static str, line: &str) -> Option<KernelSocket> {
    let fields: Vec<&str> = line.split_whitespace().collect();
    // sl local rem st tx:rx tr:when retrnsmt uid timeout inode ...
    let (local, remote, state, inode) = (fields.get(1)?, fields.get(2)?, fields.get(3)?, fields.get(9)?);
    let state = u8::from_str_radix(state, 16).ok()?;
    let state = match proto {
        "udp" if state == 7 => "UNCONN",
        _ => TCP_STATES.get(usize::from(state)).copied()?,
    };
    Some(KernelSocket { proto, local: address(local)?, remote: address(remote)?, state, inode: inode.parse().ok()? })
}

/// `0100007F:1F90` (IPv4) or 32 hex digits and a port (IPv6): the address words are the kernel's
/// 32-bit values in this machine's byte order, the port is plain hex.
fn address(text: &str) -> Option<SocketAddr> {
    let (ip, port) = text.split_once(':')?;
    let port = u16::from_str_radix(port, 16).ok()?;
    let mut octets = Vec::with_capacity(16);
    for word in 0..ip.len() / 8 {
        let value = u32::from_str_radix(ip.get(word * 8..word * 8 + 8)?, 16).ok()?;
        octets.extend_from_slice(&value.to_ne_bytes());
    }
    let ip = match octets.len() {
        4 => IpAddr::V4(Ipv4Addr::new(octets[0], octets[1], octets[2], octets[3])),
        16 => IpAddr::V6(Ipv6Addr::from(<[u8; 16]>::try_from(octets).ok()?)),
        _ => return None,
    };
    Some(SocketAddr::new(ip, port))
}

/// A host's four tables, opened inside its namespace (a `/proc/net` file shows the namespace it
/// was opened in, whichever thread reads it later).
#[derive(Debug)]
pub(crate) struct Tables {
    files: Vec<(&'static str, File)>,
}

impl Tables {
    /// Opens the tables of the calling thread's namespace.
    pub(crate) fn open_here() -> io::Result<Tables> {
        let mut files = Vec::new();
        for (proto, name) in [("tcp", "tcp"), ("tcp", "tcp6"), ("udp", "udp"), ("udp", "udp6")] {
            // A kernel without IPv6 has no tcp6/udp6; the IPv4 tables are always there.
            match File::open(format!("/proc/thread-self/net/{name}")) {
                Ok(file) => files.push((proto, file)),
                Err(e) if name.ends_with('6') && e.kind() == io::ErrorKind::NotFound => {}
                Err(e) => return Err(e),
            }
        }
        Ok(Tables { files })
    }

    /// Every socket of the namespace, now.
    pub(crate) fn read(&mut self) -> io::Result<Vec<KernelSocket>> {
        let mut all = Vec::new();
        let mut text = String::new();
        for (proto, file) in &mut self.files {
            text.clear();
            file.rewind()?;
            file.read_to_string(&mut text)?;
            all.extend(parse(proto, &text));
        }
        Ok(all)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// Lines as this kernel printed them (a listener, a connection, one in TIME_WAIT; an IPv6
    /// listener; a UDP socket).
    const TCP: &str = "  sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 0100007F:C35B 00000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 93311 1 0000000000000000 100 0 0 10 0
   1: 0100000A:C35B 0200000A:D1C4 01 00000000:00000000 00:00000000 00000000     0        0 93312 1 0000000000000000 20 4 30 10 -1
   2: 0100000A:D1C6 0200000A:0050 06 00000000:00000000 03:00001770 00000000     0        0 0 3 0000000000000000
";
    const TCP6: &str = "  sl  local_address                         remote_address                        st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode
   0: 00000000000000000000000001000000:1F90 00000000000000000000000000000000:0000 0A 00000000:00000000 00:00000000 00000000     0        0 4242 1 0000000000000000 100 0 0 10 0
";
    const UDP: &str = "   sl  local_address rem_address   st tx_queue rx_queue tr tm->when retrnsmt   uid  timeout inode ref pointer drops
  5: 00000000:1F90 00000000:0000 07 00000000:00000000 00:00000000 00000000     0        0 555 2 0000000000000000 0
  6: 0100007F:1F91 0100007F:1F90 01 00000000:00000000 00:00000000 00000000     0        0 556 2 0000000000000000 0
   garbage
";

    #[test]
    fn tcp_rows_read_as_netstat_shows_them() {
        let rows = parse("tcp", TCP);
        assert_eq!(rows.len(), 3);
        assert_eq!(rows[0].local, "127.0.0.1:50011".parse().unwrap());
        assert_eq!(rows[0].state, "LISTEN");
        assert_eq!(rows[0].inode, 93311);
        assert_eq!(rows[1].local, "10.0.0.1:50011".parse().unwrap());
        assert_eq!(rows[1].remote, "10.0.0.2:53700".parse().unwrap());
        assert_eq!(rows[1].state, "ESTABLISHED");
        assert_eq!((rows[2].state, rows[2].inode), ("TIME_WAIT", 0));
        assert_eq!(rows[2].remote, "10.0.0.2:80".parse().unwrap());
    }

    #[test]
    fn ipv6_and_udp_rows() {
        let rows = parse("tcp", TCP6);
        assert_eq!(rows[0].local, "[::1]:8080".parse().unwrap());
        let rows = parse("udp", UDP);
        assert_eq!(rows.len(), 2, "the garbage line is skipped");
        assert_eq!((rows[0].state, rows[0].local), ("UNCONN", "0.0.0.0:8080".parse().unwrap()));
        assert_eq!(rows[1].state, "ESTABLISHED");
    }

    #[test]
    fn this_kernels_own_tables_parse() {
        // The daemon's own namespace: whatever is there, every line parses.
        let mut tables = Tables::open_here().unwrap();
        let listener = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = listener.local_addr().unwrap().port();
        let rows = tables.read().unwrap();
        assert!(rows.iter().any(|r| r.local.port() == port && r.state == "LISTEN"), "{rows:?}");
        let text = std::fs::read_to_string("/proc/net/tcp").unwrap();
        assert_eq!(parse("tcp", &text).len(), text.lines().count() - 1);
    }
}
