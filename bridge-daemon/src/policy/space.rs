//! Address spaces: what kind of place an IP address names.
//!
//! The classification follows the browsers' Private Network Access table (loopback, private,
//! public), with the spaces a socket bridge must also tell apart: the unspecified address, cloud
//! metadata services, multicast, broadcast and reserved space. An IPv6 address that carries an
//! IPv4 address (IPv4-mapped `::ffff:a.b.c.d`, IPv4-compatible `::a.b.c.d`, NAT64 `64:ff9b::/96`,
//! 6to4 `2002::/16`) is classified by the IPv4 address inside, so `[::ffff:127.0.0.1]` and
//! `[64:ff9b::7f00:1]` are loopback.
//!
//! ```
//! use bridge_daemon::policy::space::{Space, classify};
//! assert_eq!(classify("127.0.0.1".parse().unwrap()), Space::Loopback);
//! assert_eq!(classify("::ffff:10.0.0.5".parse().unwrap()), Space::Private);
//! assert_eq!(classify("169.254.169.254".parse().unwrap()), Space::Metadata);
//! assert_eq!(classify("93.184.215.14".parse().unwrap()), Space::Public);
//! ```

use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};

/// The kind of place an address names.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Space {
    /// `0.0.0.0/8` and `::`: "this host", never a valid destination.
    Unspecified,
    /// `127.0.0.0/8` and `::1`: this computer.
    Loopback,
    /// Private networks: `10/8`, `100.64/10` (carrier-grade NAT), `172.16/12`, `192.168/16`,
    /// `198.18/15`, `192.0.0.0/24`, `fc00::/7`, `fec0::/10`.
    Private,
    /// Link-local: `169.254/16`, `fe80::/10` (apart from the metadata addresses).
    LinkLocal,
    /// Cloud instance metadata services ([`METADATA_IPS`]), which hand out credentials.
    Metadata,
    /// `224.0.0.0/4` and `ff00::/8`.
    Multicast,
    /// `255.255.255.255`.
    Broadcast,
    /// Reserved space that is not routed: `240.0.0.0/4`, `100::/64`.
    Reserved,
    /// Everything else: the Internet.
    Public,
}

impl fmt::Display for Space {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Space::Unspecified => "unspecified",
            Space::Loopback => "loopback",
            Space::Private => "private",
            Space::LinkLocal => "link-local",
            Space::Metadata => "metadata",
            Space::Multicast => "multicast",
            Space::Broadcast => "broadcast",
            Space::Reserved => "reserved",
            Space::Public => "public",
        })
    }
}

/// Cloud metadata and credential endpoints: AWS, GCP, Azure, Oracle, DigitalOcean and OpenStack
/// (`169.254.169.254`), AWS over IPv6 (`fd00:ec2::254`), AWS ECS task metadata (`169.254.170.2`),
/// EKS Pod Identity (`169.254.170.23`, `fd00:ec2::23`), GCP over IPv6 (`fd20:ce::254`), Azure's
/// WireServer (`168.63.129.16`), Tencent Cloud (`169.254.0.23`), Alibaba Cloud
/// (`100.100.100.200`).
pub const METADATA_IPS: [IpAddr; 9] = [
    IpAddr::V4(Ipv4Addr::new(169, 254, 169, 254)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 2)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 170, 23)),
    IpAddr::V4(Ipv4Addr::new(169, 254, 0, 23)),
    IpAddr::V4(Ipv4Addr::new(168, 63, 129, 16)),
    IpAddr::V4(Ipv4Addr::new(100, 100, 100, 200)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x254)),
    IpAddr::V6(Ipv6Addr::new(0xfd00, 0xec2, 0, 0, 0, 0, 0, 0x23)),
    IpAddr::V6(Ipv6Addr::new(0xfd20, 0xce, 0, 0, 0, 0, 0, 0x254)),
];

/// Host names of metadata services, refused whatever they resolve to.
pub const METADATA_NAMES: [&str; 2] = ["metadata.google.internal", "metadata"];

/// The ports browsers refuse to fetch from (the Fetch Standard's "bad port" list), plus 0: the
/// ports of mail, file-transfer, remote-shell, IRC, X11 and other services that a stream of bytes
/// from a web page could be mistaken for talking to.
pub const BAD_PORTS: &[u16] = &[
    0, 1, 7, 9, 11, 13, 15, 17, 19, 20, 21, 22, 23, 25, 37, 42, 43, 53, 69, 77, 79, 87, 95, 101, 102, 103, 104, 109,
    110, 111, 113, 115, 117, 119, 123, 135, 137, 139, 143, 161, 179, 389, 427, 465, 512, 513, 514, 515, 526, 530, 531,
    532, 540, 548, 554, 556, 563, 587, 601, 636, 989, 990, 993, 995, 1719, 1720, 1723, 2049, 3659, 4045, 4190, 5060,
    5061, 6000, 6566, 6665, 6666, 6667, 6668, 6669, 6679, 6697, 10080,
];

/// Whether browsers refuse this port.
pub fn is_bad_port(port: u16) -> bool {
    BAD_PORTS.contains(&port)
}

/// The address as the policy compares it: an IPv4-mapped IPv6 address (`::ffff:a.b.c.d`) is the
/// IPv4 address, as the kernel treats it.
pub fn canonical(ip: IpAddr) -> IpAddr {
    match ip {
        IpAddr::V6(v6) => v6.to_ipv4_mapped().map_or(ip, IpAddr::V4),
        IpAddr::V4(_) => ip,
    }
}

/// The IPv4 address an IPv6 address carries, if it is of a form that carries one.
pub fn embedded_v4(v6: Ipv6Addr) -> Option<Ipv4Addr> {
    let s = v6.segments();
    let low = Ipv4Addr::new((s[6] >> 8) as u8, s[6] as u8, (s[7] >> 8) as u8, s[7] as u8);
    match s {
        // IPv4-mapped ::ffff:a.b.c.d
        [0, 0, 0, 0, 0, 0xffff, _, _] => Some(low),
        // IPv4-compatible ::a.b.c.d (deprecated), but not :: and ::1 themselves.
        [0, 0, 0, 0, 0, 0, _, _] if !v6.is_unspecified() && !v6.is_loopback() => Some(low),
        // NAT64, well-known prefix 64:ff9b::/96 and local-use 64:ff9b:1::/48.
        [0x64, 0xff9b, 0, 0, 0, 0, _, _] | [0x64, 0xff9b, 1, ..] => Some(low),
        // 6to4 2002:aabb:ccdd::/48.
        [0x2002, hi, lo, ..] => Some(Ipv4Addr::new((hi >> 8) as u8, hi as u8, (lo >> 8) as u8, lo as u8)),
        _ => None,
    }
}

/// The space an address belongs to.
pub fn classify(ip: IpAddr) -> Space {
    if METADATA_IPS.contains(&canonical(ip)) {
        return Space::Metadata;
    }
    match ip {
        IpAddr::V4(v4) => classify_v4(v4),
        IpAddr::V6(v6) => match embedded_v4(v6) {
            Some(v4) => classify(IpAddr::V4(v4)),
            None => classify_v6(v6),
        },
    }
}

fn in_v4(ip: Ipv4Addr, net: [u8; 4], prefix: u32) -> bool {
    let mask = u32::MAX.checked_shl(32 - prefix).unwrap_or(0);
    u32::from(ip) & mask == u32::from(Ipv4Addr::from(net)) & mask
}

fn classify_v4(ip: Ipv4Addr) -> Space {
    let private = [
        ([10, 0, 0, 0], 8),
        ([100, 64, 0, 0], 10),
        ([172, 16, 0, 0], 12),
        ([192, 168, 0, 0], 16),
        ([198, 18, 0, 0], 15),
        ([192, 0, 0, 0], 24),
    ];
    if in_v4(ip, [0, 0, 0, 0], 8) {
        Space::Unspecified
    } else if ip.is_loopback() {
        Space::Loopback
    } else if ip.is_broadcast() {
        Space::Broadcast
    } else if ip.is_link_local() {
        Space::LinkLocal
    } else if ip.is_multicast() {
        Space::Multicast
    } else if in_v4(ip, [240, 0, 0, 0], 4) {
        Space::Reserved
    } else if private.iter().any(|&(net, prefix)| in_v4(ip, net, prefix)) {
        Space::Private
    } else {
        Space::Public
    }
}

fn classify_v6(ip: Ipv6Addr) -> Space {
    let s = ip.segments();
    if ip.is_unspecified() {
        Space::Unspecified
    } else if ip.is_loopback() {
        Space::Loopback
    } else if s[0] & 0xff00 == 0xff00 {
        Space::Multicast
    } else if s[0] & 0xffc0 == 0xfe80 {
        Space::LinkLocal
    } else if s[0] & 0xfe00 == 0xfc00 || s[0] & 0xffc0 == 0xfec0 {
        Space::Private
    } else if s[..4] == [0x100, 0, 0, 0] {
        Space::Reserved
    } else {
        Space::Public
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn space(text: &str) -> Space {
        classify(text.parse().unwrap_or_else(|e| panic!("{text}: {e}")))
    }

    #[test]
    fn spaces() {
        let cases = [
            ("0.0.0.0", Space::Unspecified),
            ("0.1.2.3", Space::Unspecified),
            ("::", Space::Unspecified),
            ("127.0.0.1", Space::Loopback),
            ("127.255.0.9", Space::Loopback),
            ("::1", Space::Loopback),
            ("10.0.0.5", Space::Private),
            ("100.64.1.1", Space::Private),
            ("172.31.255.255", Space::Private),
            ("172.32.0.1", Space::Public),
            ("192.168.1.10", Space::Private),
            ("198.19.0.1", Space::Private),
            ("fd12::1", Space::Private),
            ("fec0::1", Space::Private),
            ("169.254.1.1", Space::LinkLocal),
            ("fe80::1", Space::LinkLocal),
            ("169.254.169.254", Space::Metadata),
            ("169.254.170.2", Space::Metadata),
            ("100.100.100.200", Space::Metadata),
            ("fd00:ec2::254", Space::Metadata),
            ("fd00:ec2::23", Space::Metadata),
            ("fd20:ce::254", Space::Metadata),
            ("169.254.170.23", Space::Metadata),
            ("169.254.0.23", Space::Metadata),
            ("168.63.129.16", Space::Metadata),
            ("::ffff:168.63.129.16", Space::Metadata),
            ("::ffff:169.254.169.254", Space::Metadata),
            ("224.0.0.251", Space::Multicast),
            ("239.1.1.1", Space::Multicast),
            ("ff02::fb", Space::Multicast),
            ("255.255.255.255", Space::Broadcast),
            ("240.0.0.1", Space::Reserved),
            ("100::1", Space::Reserved),
            ("8.8.8.8", Space::Public),
            ("203.0.113.5", Space::Public),
            ("2001:db8::1", Space::Public),
            ("2606:4700::1111", Space::Public),
        ];
        for (text, expected) in cases {
            assert_eq!(space(text), expected, "{text}");
        }
    }

    #[test]
    fn embedded_ipv4_is_classified_by_the_ipv4_address() {
        for loopback in [
            "::ffff:127.0.0.1",
            "::ffff:7f00:1",
            "0:0:0:0:0:ffff:127.0.0.1",
            "64:ff9b::7f00:1",
            "2002:7f00:1::",
            "::127.0.0.1",
            "64:ff9b:1::7f00:1",
        ] {
            assert_eq!(space(loopback), Space::Loopback, "{loopback}");
        }
        assert_eq!(space("::ffff:0.0.0.0"), Space::Unspecified);
        assert_eq!(space("2002:0a00:0005::1"), Space::Private);
        assert_eq!(space("64:ff9b::8.8.8.8"), Space::Public);
    }

    #[test]
    fn canonical_form() {
        assert_eq!(
            canonical("::ffff:127.0.0.1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))),
            IpAddr::V4(Ipv4Addr::LOCALHOST)
        );
        let nat64: IpAddr = "64:ff9b::7f00:1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED));
        assert_eq!(canonical(nat64), nat64, "only the mapped form is the same address to the kernel");
    }

    #[test]
    fn bad_ports() {
        for bad in [0, 1, 21, 22, 25, 6000, 6697, 10080] {
            assert!(is_bad_port(bad), "{bad}");
        }
        for ok in [80, 443, 1024, 6379, 8080, 9222] {
            assert!(!is_bad_port(ok), "{ok}");
        }
    }
}
