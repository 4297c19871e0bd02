//! Packets as the kernel sent them: IPv4 and IPv6 with TCP, UDP and ICMP, decoded from the bytes of
//! one IP packet (what a TUN device without packet information gives), and written as a pcap file
//! that Wireshark and tcpdump open.
//!
//! This is the decoding half of a page's private network: the capture of the link the daemon
//! carries between a page's hosts decodes each packet here, and the live view draws what [`decode`] says
//! (the handshake under `connect`, RST for a refused port, FIN only where one was sent). Sans-IO:
//! bytes in, values out, no allocation beyond the result; every length is checked, and a packet
//! that does not parse is a [`DecodeError`], never a panic. The tests decode packets captured from
//! this kernel's loopback.
//!
//! ```
//! use bridge_daemon::packet::{decode, Transport};
//! // A SYN from 127.0.0.1:45334 to 127.0.0.1:44799, as Linux sent it.
//! let syn = "4500003c21c6400040061af47f0000017f000001b116aeff6055f2e400000000a002ffd7fe30\
//!            00000204ffd70402080aaf0c187f000000000103030a";
//! let bytes: Vec<u8> = (0..syn.len()).step_by(2).map(|i| u8::from_str_radix(&syn[i..i + 2], 16).unwrap()).collect();
//! let packet = decode(&bytes).unwrap();
//! assert_eq!(packet.to_string(), "127.0.0.1:45334 → 127.0.0.1:44799 TCP [SYN] seq 1616245476 win 65495 len 0");
//! assert!(matches!(packet.transport, Transport::Tcp(tcp) if tcp.flags.syn() && !tcp.flags.ack()));
//! ```

mod pcap;

pub use pcap::{LINKTYPE_RAW, PcapWriter};

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// IP protocol numbers this module decodes.
const TCP: u8 = 6;
const UDP: u8 = 17;
const ICMP: u8 = 1;
const ICMPV6: u8 = 58;

/// One decoded IP packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Packet {
    /// The sender's address.
    pub src: IpAddr,
    /// The receiver's address.
    pub dst: IpAddr,
    /// IPv4's TTL or IPv6's hop limit.
    pub ttl: u8,
    /// The whole packet's length in bytes, as its IP header says.
    pub len: usize,
    /// What it carries.
    pub transport: Transport,
}

/// What an IP packet carries.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Transport {
    /// A TCP segment.
    Tcp(Tcp),
    /// A UDP datagram.
    Udp(Udp),
    /// An ICMP or ICMPv6 message.
    Icmp(Icmp),
    /// A later fragment of an IPv4 packet: its transport header is in the first one.
    Fragment {
        /// The IP protocol number.
        protocol: u8,
    },
    /// Another protocol.
    Other {
        /// The IP protocol number (IPv6's last next-header).
        protocol: u8,
    },
}

/// A TCP segment's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Tcp {
    /// The sender's port.
    pub src_port: u16,
    /// The receiver's port.
    pub dst_port: u16,
    /// The sequence number.
    pub seq: u32,
    /// The acknowledgement number (meaningful with ACK).
    pub ack: u32,
    /// The flags.
    pub flags: TcpFlags,
    /// The receive window, as sent (before any window scaling).
    pub window: u16,
    /// The bytes of data it carries.
    pub payload_len: usize,
}

/// TCP's flags: SYN, ACK, FIN, RST, PSH, URG.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct TcpFlags(pub u8);

impl TcpFlags {
    const FIN: u8 = 0x01;
    const SYN: u8 = 0x02;
    const RST: u8 = 0x04;
    const PSH: u8 = 0x08;
    const ACK: u8 = 0x10;
    const URG: u8 = 0x20;
    /// Whether SYN is set.
    pub fn syn(self) -> bool {
        self.0 & Self::SYN != 0
    }
    /// Whether ACK is set.
    pub fn ack(self) -> bool {
        self.0 & Self::ACK != 0
    }
    /// Whether FIN is set.
    pub fn fin(self) -> bool {
        self.0 & Self::FIN != 0
    }
    /// Whether RST is set.
    pub fn rst(self) -> bool {
        self.0 & Self::RST != 0
    }
    /// Whether PSH is set.
    pub fn psh(self) -> bool {
        self.0 & Self::PSH != 0
    }
}

impl fmt::Display for TcpFlags {
    /// The set flags in the order a handshake reads them: `SYN, ACK`, `FIN, ACK`, `RST, ACK`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        let names = [
            (Self::SYN, "SYN"),
            (Self::FIN, "FIN"),
            (Self::RST, "RST"),
            (Self::PSH, "PSH"),
            (Self::URG, "URG"),
            (Self::ACK, "ACK"),
        ];
        let set: Vec<&str> = names.iter().filter(|(bit, _)| self.0 & bit != 0).map(|(_, name)| *name).collect();
        f.write_str(&set.join(", "))
    }
}

/// A UDP datagram's header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Udp {
    /// The sender's port.
    pub src_port: u16,
    /// The receiver's port.
    pub dst_port: u16,
    /// The bytes of data it carries.
    pub payload_len: usize,
}

/// An ICMP (or ICMPv6) message.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Icmp {
    /// Its type.
    pub kind: u8,
    /// Its code.
    pub code: u8,
    /// Whether it is ICMPv6.
    pub v6: bool,
    /// For an error (unreachable, time exceeded): the packet it answers, as quoted in it.
    pub quoted: Option<Quoted>,
}

impl Icmp {
    /// Whether this is "port unreachable": what a UDP datagram to a port nobody listens on gets.
    pub fn port_unreachable(&self) -> bool {
        if self.v6 { self.kind == 1 && self.code == 4 } else { self.kind == 3 && self.code == 3 }
    }

    fn describe(&self) -> String {
        match (self.v6, self.kind, self.code) {
            _ if self.port_unreachable() => "port unreachable".into(),
            (false, 3, _) | (true, 1, _) => format!("destination unreachable (code {})", self.code),
            (false, 11, _) | (true, 3, _) => "time exceeded".into(),
            (false, 8, _) | (true, 128, _) => "echo request".into(),
            (false, 0, _) | (true, 129, _) => "echo reply".into(),
            _ => format!("type {} code {}", self.kind, self.code),
        }
    }
}

/// The start of the packet an ICMP error answers: its addresses, protocol and ports.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Quoted {
    /// The answered packet's sender.
    pub src: IpAddr,
    /// The answered packet's receiver.
    pub dst: IpAddr,
    /// Its IP protocol number.
    pub protocol: u8,
    /// Its source and destination ports (TCP or UDP), where the quote holds them.
    pub ports: Option<(u16, u16)>,
}

/// Why bytes are not a packet this module reads.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DecodeError {
    /// Fewer bytes than a header or a declared length needs.
    Truncated {
        /// What the header or length needed.
        need: usize,
        /// What there was.
        have: usize,
    },
    /// An IP version other than 4 or 6.
    Version(u8),
    /// An IPv4 header length below 20 bytes, or a TCP data offset below 20.
    HeaderLength(usize),
}

impl fmt::Display for DecodeError {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            DecodeError::Truncated { need, have } => write!(f, "truncated: {need} bytes needed, {have} there"),
            DecodeError::Version(v) => write!(f, "IP version {v} is neither 4 nor 6"),
            DecodeError::HeaderLength(n) => write!(f, "a header length of {n} bytes is too short"),
        }
    }
}

impl std::error::Error for DecodeError {}

fn need(bytes: &[u8], n: usize) -> Result<(), DecodeError> {
    if bytes.len() < n { Err(DecodeError::Truncated { need: n, have: bytes.len() }) } else { Ok(()) }
}

fn be16(b: &[u8], at: usize) -> u16 {
    u16::from_be_bytes([b[at], b[at + 1]])
}

fn be32(b: &[u8], at: usize) -> u32 {
    u32::from_be_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn v4(b: &[u8], at: usize) -> IpAddr {
    IpAddr::V4(Ipv4Addr::new(b[at], b[at + 1], b[at + 2], b[at + 3]))
}

fn v6(b: &[u8], at: usize) -> IpAddr {
    let mut octets = [0u8; 16];
    octets.copy_from_slice(&b[at..at + 16]);
    IpAddr::V6(Ipv6Addr::from(octets))
}

/// The IP header of a packet: its addresses, protocol, and where its payload is.
struct Ip {
    src: IpAddr,
    dst: IpAddr,
    ttl: u8,
    len: usize,
    protocol: u8,
    later_fragment: bool,
    payload: std::ops::Range<usize>,
}

/// IPv6 extension headers that are skipped to reach the transport: hop-by-hop, routing,
/// destination options (their length is in 8-byte units after the first 8), and fragment.
const V6_SKIPPABLE: [u8; 4] = [0, 43, 60, 44];

/// At most this many IPv6 extension headers are walked (a loop is bounded, whatever the bytes say).
const MAX_V6_EXTENSIONS: usize = 8;

/// Reads an IP header; `quoted` allows the packet to be cut short (an ICMP error quotes only the
/// start of the packet it answers).
fn ip(bytes: &[u8], quoted: bool) -> Result<Ip, DecodeError> {
    need(bytes, 1)?;
    match bytes[0] >> 4 {
        4 => {
            need(bytes, 20)?;
            let header = usize::from(bytes[0] & 0x0f) * 4;
            if header < 20 {
                return Err(DecodeError::HeaderLength(header));
            }
            need(bytes, header)?;
            let len = usize::from(be16(bytes, 2));
            if len < header {
                return Err(DecodeError::HeaderLength(len));
            }
            let end = if quoted { len.min(bytes.len()) } else { need(bytes, len).map(|()| len)? };
            let fragment_offset = be16(bytes, 6) & 0x1fff;
            Ok(Ip {
                src: v4(bytes, 12),
                dst: v4(bytes, 16),
                ttl: bytes[8],
                len,
                protocol: bytes[9],
                later_fragment: fragment_offset != 0,
                payload: header..end,
            })
        }
        6 => {
            need(bytes, 40)?;
            let len = 40 + usize::from(be16(bytes, 4));
            let end = if quoted { len.min(bytes.len()) } else { need(bytes, len).map(|()| len)? };
            let mut next = bytes[6];
            let mut at = 40;
            let mut later_fragment = false;
            for _ in 0..MAX_V6_EXTENSIONS {
                if !V6_SKIPPABLE.contains(&next) {
                    break;
                }
                need(&bytes[..end], at + 8)?;
                if next == 44 {
                    later_fragment = be16(bytes, at + 2) >> 3 != 0;
                    next = bytes[at];
                    at += 8;
                } else {
                    let skip = 8 + usize::from(bytes[at + 1]) * 8;
                    next = bytes[at];
                    at += skip;
                }
            }
            need(&bytes[..end], at)?;
            Ok(Ip {
                src: v6(bytes, 8),
                dst: v6(bytes, 24),
                ttl: bytes[7],
                len,
                protocol: next,
                later_fragment,
                payload: at..end,
            })
        }
        version => Err(DecodeError::Version(version)),
    }
}

/// Decodes one IP packet (IPv4 or IPv6, no link-layer header).
pub fn decode(bytes: &[u8]) -> Result<Packet, DecodeError> {
    let ip = ip(bytes, false)?;
    let body = &bytes[ip.payload.clone()];
    let transport = if ip.later_fragment {
        Transport::Fragment { protocol: ip.protocol }
    } else {
        match ip.protocol {
            TCP => Transport::Tcp(tcp(body)?),
            UDP => Transport::Udp(udp(body)?),
            ICMP => Transport::Icmp(icmp(body, false)?),
            ICMPV6 => Transport::Icmp(icmp(body, true)?),
            protocol => Transport::Other { protocol },
        }
    };
    Ok(Packet { src: ip.src, dst: ip.dst, ttl: ip.ttl, len: ip.len, transport })
}

fn tcp(b: &[u8]) -> Result<Tcp, DecodeError> {
    need(b, 20)?;
    let offset = usize::from(b[12] >> 4) * 4;
    if offset < 20 {
        return Err(DecodeError::HeaderLength(offset));
    }
    need(b, offset)?;
    Ok(Tcp {
        src_port: be16(b, 0),
        dst_port: be16(b, 2),
        seq: be32(b, 4),
        ack: be32(b, 8),
        flags: TcpFlags(b[13] & 0x3f),
        window: be16(b, 14),
        payload_len: b.len() - offset,
    })
}

fn udp(b: &[u8]) -> Result<Udp, DecodeError> {
    need(b, 8)?;
    Ok(Udp { src_port: be16(b, 0), dst_port: be16(b, 2), payload_len: b.len() - 8 })
}

fn icmp(b: &[u8], v6: bool) -> Result<Icmp, DecodeError> {
    need(b, 8)?;
    let (kind, code) = (b[0], b[1]);
    let error = if v6 { matches!(kind, 1..=4) } else { matches!(kind, 3 | 4 | 5 | 11 | 12) };
    // An error quotes the packet it answers after its 8-byte header; a quote that does not parse
    // leaves the error without it.
    let quoted = if error { quote(&b[8..]) } else { None };
    Ok(Icmp { kind, code, v6, quoted })
}

fn quote(b: &[u8]) -> Option<Quoted> {
    let ip = ip(b, true).ok()?;
    let body = &b[ip.payload.clone()];
    let ports = (matches!(ip.protocol, TCP | UDP) && body.len() >= 4).then(|| (be16(body, 0), be16(body, 2)));
    Some(Quoted { src: ip.src, dst: ip.dst, protocol: ip.protocol, ports })
}

/// `address:port`, with IPv6 addresses in brackets.
fn endpoint(ip: IpAddr, port: u16) -> String {
    match ip {
        IpAddr::V4(a) => format!("{a}:{port}"),
        IpAddr::V6(a) => format!("[{a}]:{port}"),
    }
}

impl fmt::Display for Packet {
    /// One line, as tcpdump would put it: `127.0.0.1:45334 → 127.0.0.1:44799 TCP [SYN] seq 1616245476
    /// win 65495 len 0`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self.transport {
            Transport::Tcp(t) => {
                write!(
                    f,
                    "{} → {} TCP [{}] seq {}",
                    endpoint(self.src, t.src_port),
                    endpoint(self.dst, t.dst_port),
                    t.flags,
                    t.seq
                )?;
                if t.flags.ack() {
                    write!(f, " ack {}", t.ack)?;
                }
                write!(f, " win {} len {}", t.window, t.payload_len)
            }
            Transport::Udp(u) => {
                write!(
                    f,
                    "{} → {} UDP len {}",
                    endpoint(self.src, u.src_port),
                    endpoint(self.dst, u.dst_port),
                    u.payload_len
                )
            }
            Transport::Icmp(i) => {
                write!(f, "{} → {} ICMP{} {}", self.src, self.dst, if i.v6 { "v6" } else { "" }, i.describe())?;
                if let Some(q) = i.quoted {
                    match q.ports {
                        Some((sp, dp)) => write!(f, " for {} → {}", endpoint(q.src, sp), endpoint(q.dst, dp))?,
                        None => write!(f, " for {} → {}", q.src, q.dst)?,
                    }
                }
                Ok(())
            }
            Transport::Fragment { protocol } => {
                write!(f, "{} → {} fragment of protocol {protocol}", self.src, self.dst)
            }
            Transport::Other { protocol } => write!(f, "{} → {} protocol {protocol}", self.src, self.dst),
        }
    }
}

#[cfg(test)]
mod tests;
