//! Egress rules: where a page's sockets may connect and send.
//!
//! A rule is written `target[:ports][/proto]`, the shape of Deno's `--allow-net`, with CIDR
//! blocks, port ranges and named address sets:
//!
//! | target | matches |
//! |---|---|
//! | `lesson.example.org` | that host name, as the page wrote it (and only public addresses it resolves to) |
//! | `*.example.org` | its subdomains (not `example.org` itself), public addresses only |
//! | `192.168.1.50`, `[2001:db8::1]` | that address |
//! | `10.0.0.0/8`, `[fd00::/8]` | that block |
//! | `own` | the sockets pages of the same origin have bound through the bridge (the default) |
//! | `labs` | the daemon's lab services (the default when they run) |
//! | `loopback`, `private`, `link-local`, `public` | every address of that space (see [`Space`]) |
//! | `metadata` | cloud metadata services; for `--deny-connect` (allowing one needs its exact IP) |
//!
//! `ports` is one port or an inclusive range (`443`, `8000-8100`); `proto` is `tcp` or `udp`.
//! Without them a rule covers every port (except the browsers' bad ports, see
//! [`is_bad_port`](super::space::is_bad_port)) and both protocols.
//!
//! ```
//! use bridge_daemon::policy::rule::Rule;
//! let rule: Rule = "10.0.0.0/8:8000-8100/tcp".parse().unwrap();
//! assert_eq!(rule.to_string(), "10.0.0.0/8:8000-8100/tcp");
//! assert!("https://example.org".parse::<Rule>().unwrap_err().to_string().contains("URLs are not supported"));
//! ```

use super::space::Space;
use std::fmt;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::str::FromStr;

/// A transport protocol a rule can be limited to.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
pub enum Proto {
    /// TCP: `SOCK_STREAM` sockets.
    Tcp,
    /// UDP: `SOCK_DGRAM` sockets.
    Udp,
}

impl fmt::Display for Proto {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Proto::Tcp => "tcp",
            Proto::Udp => "udp",
        })
    }
}

/// A named set of addresses.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Set {
    /// Addresses that sockets of the same origin's sessions have bound through the bridge.
    Own,
    /// The lab services' addresses.
    Labs,
    /// Every address of one space.
    Space(Space),
}

/// A block of addresses: an address and a prefix length.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Cidr {
    addr: IpAddr,
    prefix: u8,
}

impl Cidr {
    /// The block `addr/prefix`; `None` if the prefix is too long for the family.
    pub fn new(addr: IpAddr, prefix: u8) -> Option<Cidr> {
        let max = if addr.is_ipv4() { 32 } else { 128 };
        (prefix <= max).then_some(Cidr { addr, prefix })
    }

    /// Whether the block holds `ip` (compared in canonical form: `::ffff:a.b.c.d` is `a.b.c.d`).
    pub fn contains(&self, ip: IpAddr) -> bool {
        match (self.addr, super::space::canonical(ip)) {
            (IpAddr::V4(net), IpAddr::V4(ip)) => {
                let mask = u32::MAX.checked_shl(32 - u32::from(self.prefix)).unwrap_or(0);
                u32::from(net) & mask == u32::from(ip) & mask
            }
            (IpAddr::V6(net), IpAddr::V6(ip)) => {
                let mask = u128::MAX.checked_shl(128 - u32::from(self.prefix)).unwrap_or(0);
                u128::from(net) & mask == u128::from(ip) & mask
            }
            _ => false,
        }
    }

    /// Whether the block is one single address.
    pub fn is_single(&self) -> bool {
        self.prefix == if self.addr.is_ipv4() { 32 } else { 128 }
    }
}

/// What a rule matches.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Target {
    /// One host name, lower case, without a trailing dot.
    Name(String),
    /// Every subdomain of a name (`*.example.org`: `a.example.org`, not `example.org`).
    Subdomains(String),
    /// An address or a block of addresses.
    Net(Cidr),
    /// A named set.
    Set(Set),
}

/// One rule: a target, optionally limited to a port range and a protocol.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Rule {
    /// What the rule matches.
    pub target: Target,
    /// The ports it covers (inclusive); `None` for all.
    pub ports: Option<(u16, u16)>,
    /// The protocol it covers; `None` for both.
    pub proto: Option<Proto>,
}

/// Why a rule could not be read. The message names the rule and says what is wrong.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
#[error("{rule:?}: {why}")]
pub struct RuleError {
    rule: String,
    why: String,
}

impl Rule {
    /// Whether the rule covers this port and protocol.
    pub fn covers(&self, port: u16, proto: Proto) -> bool {
        self.ports.is_none_or(|(lo, hi)| (lo..=hi).contains(&port)) && self.proto.is_none_or(|p| p == proto)
    }

    /// Whether the rule names ports (which lets it reach a bad port).
    pub fn names_ports(&self) -> bool {
        self.ports.is_some()
    }

    /// Whether a host name (lower case, no trailing dot) is the rule's name or one of its
    /// subdomains.
    pub fn matches_name(&self, name: &str) -> bool {
        match &self.target {
            Target::Name(n) => n == name,
            Target::Subdomains(suffix) => {
                name.len() > suffix.len() + 1
                    && name.ends_with(suffix.as_str())
                    && name.as_bytes()[name.len() - suffix.len() - 1] == b'.'
            }
            Target::Net(_) | Target::Set(_) => false,
        }
    }
}

impl fmt::Display for Rule {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.target {
            Target::Name(n) => f.write_str(n)?,
            Target::Subdomains(n) => write!(f, "*.{n}")?,
            Target::Net(c) => match (c.addr, c.is_single()) {
                (IpAddr::V4(a), true) => write!(f, "{a}")?,
                (IpAddr::V4(a), false) => write!(f, "{a}/{}", c.prefix)?,
                (IpAddr::V6(a), true) => write!(f, "[{a}]")?,
                (IpAddr::V6(a), false) => write!(f, "[{a}/{}]", c.prefix)?,
            },
            Target::Set(Set::Own) => f.write_str("own")?,
            Target::Set(Set::Labs) => f.write_str("labs")?,
            Target::Set(Set::Space(space)) => write!(f, "{space}")?,
        }
        match self.ports {
            Some((lo, hi)) if lo == hi => write!(f, ":{lo}")?,
            Some((lo, hi)) => write!(f, ":{lo}-{hi}")?,
            None => {}
        }
        if let Some(proto) = self.proto {
            write!(f, "/{proto}")?;
        }
        Ok(())
    }
}

impl FromStr for Rule {
    type Err = RuleError;

    fn from_str(text: &str) -> Result<Rule, RuleError> {
        let fail = |why: &str| RuleError { rule: text.to_owned(), why: why.to_owned() };
        if text.contains("://") {
            return Err(fail("URLs are not supported, only host names, addresses and sets (e.g. example.org:443)"));
        }
        if text.is_empty() || text.contains(char::is_whitespace) || text.contains(',') {
            return Err(fail("a rule is target[:ports][/tcp|/udp], with no spaces"));
        }
        let (rest, proto) = match text.rsplit_once('/') {
            Some((rest, "tcp")) => (rest, Some(Proto::Tcp)),
            Some((rest, "udp")) => (rest, Some(Proto::Udp)),
            _ => (text, None),
        };
        let (target, ports) = if let Some(inner) = rest.strip_prefix('[') {
            let (inside, after) =
                inner.split_once(']').ok_or_else(|| fail("an IPv6 address in brackets needs its ']'"))?;
            let ports = match after {
                "" => None,
                _ => Some(after.strip_prefix(':').ok_or_else(|| fail("only ':ports' may follow ']'"))?),
            };
            let target = parse_v6_net(inside).map_err(|why| fail(&why))?;
            (target, ports)
        } else {
            let (target, ports) = match rest.split_once(':') {
                Some((target, ports)) => (target, Some(ports)),
                None => (rest, None),
            };
            if ports.is_some_and(|p| p.contains(':')) || target.parse::<Ipv6Addr>().is_ok() {
                return Err(fail("an IPv6 address goes in brackets: [::1]:8080, [fd00::/8]"));
            }
            (parse_target(target).map_err(|why| fail(&why))?, ports)
        };
        let ports = ports.map(parse_ports).transpose().map_err(|why| fail(&why))?;
        Ok(Rule { target, ports, proto })
    }
}

fn parse_ports(text: &str) -> Result<(u16, u16), String> {
    let port = |p: &str| match p.parse::<u16>() {
        Ok(0) | Err(_) => Err(format!("{p:?} is not a port (1-65535)")),
        Ok(n) => Ok(n),
    };
    match text.split_once('-') {
        Some((lo, hi)) => {
            let (lo, hi) = (port(lo)?, port(hi)?);
            if lo > hi {
                return Err(format!("the port range {lo}-{hi} runs backwards"));
            }
            Ok((lo, hi))
        }
        None => port(text).map(|p| (p, p)),
    }
}

fn parse_v6_net(text: &str) -> Result<Target, String> {
    let (addr, prefix) = match text.split_once('/') {
        Some((addr, prefix)) => (addr, Some(prefix)),
        None => (text, None),
    };
    if addr.contains('%') {
        return Err("zone ids (%eth0) are not part of a rule".into());
    }
    let ip: Ipv6Addr = addr.parse().map_err(|_| format!("{addr:?} is not an IPv6 address"))?;
    cidr(IpAddr::V6(ip), prefix)
}

fn cidr(ip: IpAddr, prefix: Option<&str>) -> Result<Target, String> {
    let max = if ip.is_ipv4() { 32 } else { 128 };
    let prefix = match prefix {
        None => max,
        Some(p) => p
            .parse::<u8>()
            .ok()
            .filter(|&p| p <= max)
            .ok_or_else(|| format!("/{p} is not a prefix length (0-{max})"))?,
    };
    let net = Cidr::new(ip, prefix).ok_or_else(|| format!("/{prefix} is not a prefix length (0-{max})"))?;
    let host_bits = match ip {
        IpAddr::V4(a) => u128::from(u32::from(a) & u32::MAX.checked_shr(u32::from(prefix)).unwrap_or(0)),
        IpAddr::V6(a) => u128::from(a) & u128::MAX.checked_shr(u32::from(prefix)).unwrap_or(0),
    };
    if host_bits != 0 {
        return Err(format!("{ip}/{prefix} has host bits set; the block starts at its first address"));
    }
    Ok(Target::Net(net))
}

fn parse_target(text: &str) -> Result<Target, String> {
    let set = match text {
        "own" => Some(Set::Own),
        "labs" => Some(Set::Labs),
        "loopback" => Some(Set::Space(Space::Loopback)),
        "private" => Some(Set::Space(Space::Private)),
        "link-local" => Some(Set::Space(Space::LinkLocal)),
        "public" => Some(Set::Space(Space::Public)),
        "metadata" => Some(Set::Space(Space::Metadata)),
        _ => None,
    };
    if let Some(set) = set {
        return Ok(Target::Set(set));
    }
    if let Some((addr, prefix)) = text.split_once('/') {
        let ip: Ipv4Addr = addr.parse().map_err(|_| format!("{addr:?} is not an IPv4 address"))?;
        return cidr(IpAddr::V4(ip), Some(prefix));
    }
    if let Ok(ip) = text.parse::<Ipv4Addr>() {
        return cidr(IpAddr::V4(ip), None);
    }
    if text == "*" {
        return Err("'*' is not a rule; name a set (public, private, loopback) or a domain".into());
    }
    match text.strip_prefix("*.") {
        Some(domain) => host_name(domain).map(Target::Subdomains),
        None => host_name(text).map(Target::Name),
    }
}

/// A host name in the form rules compare: lower case, without a trailing dot, letters, digits and
/// hyphens in dot-separated labels of 1 to 63 characters. A name whose last label is a number
/// (`127.1`, `2130706433`, `0x7f.1`) is refused: browsers read those as IPv4 addresses.
fn host_name(text: &str) -> Result<String, String> {
    let name = text.strip_suffix('.').unwrap_or(text).to_ascii_lowercase();
    let labels_ok = !name.is_empty()
        && name.len() <= 253
        && name.split('.').all(|label| {
            (1..=63).contains(&label.len())
                && label.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-')
                && !label.starts_with('-')
                && !label.ends_with('-')
        });
    if !labels_ok {
        return Err(format!("{text:?} is not a host name, an IPv4 address or a set"));
    }
    let last = name.rsplit('.').next().unwrap_or_default();
    let numeric = last.bytes().all(|b| b.is_ascii_digit()) || last.starts_with("0x");
    if numeric {
        return Err(format!("{text:?} looks like a shortened or numeric IPv4 address; write it in full (127.0.0.1)"));
    }
    Ok(name)
}

/// The form a page's host name is compared in: lower case, without a trailing dot.
pub fn normalize_name(name: &str) -> String {
    name.strip_suffix('.').unwrap_or(name).to_ascii_lowercase()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn rule(text: &str) -> Rule {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn round_trips() {
        for text in [
            "own",
            "labs",
            "public:443/tcp",
            "loopback:6379",
            "private",
            "link-local",
            "metadata",
            "echo.example.org:7/tcp",
            "*.example.org",
            "192.168.1.50:9100/tcp",
            "10.0.0.0/8:8000-8100",
            "[2001:db8::1]:22",
            "[fd00::/8]",
            "203.0.113.0/24",
            "127.0.0.1/udp",
            "0.0.0.0/0",
        ] {
            assert_eq!(rule(text).to_string(), text);
        }
        assert_eq!(rule("Example.ORG.").to_string(), "example.org");
    }

    #[test]
    fn refusals_name_the_problem() {
        let cases = [
            ("https://x.com", "URLs are not supported"),
            ("::1:80", "brackets"),
            ("fe80::1", "brackets"),
            ("10.0.0.0/33", "prefix length"),
            ("10.0.0.1/8", "host bits"),
            ("[fd00::1/8]", "host bits"),
            ("example.org:0", "not a port"),
            ("example.org:70000", "not a port"),
            ("example.org:90-80", "backwards"),
            ("*", "not a rule"),
            ("", "target"),
            ("a b", "spaces"),
            ("127.1", "numeric IPv4"),
            ("2130706433", "numeric IPv4"),
            ("0x7f.1", "numeric IPv4"),
            ("under_score.org", "not a host name"),
            ("[::1%lo]", "zone"),
            ("[::1]x", "only ':ports'"),
            ("[::1", "']'"),
            ("a,b", "no spaces"),
        ];
        for (text, words) in cases {
            match text.parse::<Rule>() {
                Ok(r) => panic!("{text:?} parsed as {r}"),
                Err(e) => assert!(e.to_string().contains(words), "{text:?}: {e}"),
            }
        }
    }

    #[test]
    fn names_match_exactly_or_as_subdomains() {
        let r = rule("*.example.org");
        assert!(r.matches_name("a.example.org"));
        assert!(r.matches_name("a.b.example.org"));
        assert!(!r.matches_name("example.org"));
        assert!(!r.matches_name("badexample.org"));
        assert!(!r.matches_name("example.org.evil.com"));
        let r = rule("example.org");
        assert!(r.matches_name("example.org"));
        assert!(!r.matches_name("a.example.org"));
        assert_eq!(normalize_name("LOCALHOST."), "localhost");
    }

    #[test]
    fn blocks_contain_their_addresses() {
        let Target::Net(net) = rule("10.0.0.0/8").target else { panic!("not a block") };
        assert!(net.contains("10.200.0.1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))));
        assert!(net.contains("::ffff:10.0.0.1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))));
        assert!(!net.contains("11.0.0.1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))));
        let Target::Net(all) = rule("0.0.0.0/0").target else { panic!("not a block") };
        assert!(all.contains("8.8.8.8".parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))));
        let Target::Net(v6) = rule("[fd00::/8]").target else { panic!("not a block") };
        assert!(v6.contains("fd12::1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))));
        assert!(!v6.contains("fe80::1".parse().unwrap_or(IpAddr::V4(Ipv4Addr::UNSPECIFIED))));
    }

    #[test]
    fn ports_and_protocols() {
        let r = rule("public:8000-8100/tcp");
        assert!(r.covers(8000, Proto::Tcp) && r.covers(8100, Proto::Tcp));
        assert!(!r.covers(8101, Proto::Tcp) && !r.covers(8050, Proto::Udp));
        assert!(rule("public").covers(1, Proto::Udp));
    }
}
