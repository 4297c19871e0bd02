//! The egress decision: may a page's socket connect or send to this address?
//!
//! [`decide`] is a pure function of the rules, the request and one resolved address, so every case
//! is a unit test with no network. The order is fixed, and a later step never undoes an earlier
//! refusal:
//!
//! 1. **Hard denies**, which no rule opens: the unspecified address (`0.0.0.0`, `::`), multicast,
//!    broadcast, the daemon's own port on loopback (a page must not speak to the bridge through the
//!    bridge), and metadata names (`metadata.google.internal`).
//! 2. **Deny rules**: a name rule compares the name the page wrote; an address, block or set rule
//!    compares the resolved address, with its port and protocol.
//! 3. **Metadata addresses** (`169.254.169.254`, ...) are reached only by a rule naming that exact
//!    address, and only when the daemon runs with `--allow-metadata`.
//! 4. **Allow rules**, in order. A name rule grants only a *public* address: a name the page may use
//!    can never be made to lead to loopback or the local network by its DNS answers. A rule that
//!    does not name its ports does not reach the browsers' bad ports (SMTP, IRC, X11, ...), except
//!    `own` and `labs`, which are the page's own sockets and the daemon's lab services.
//! 5. Anything else is refused.
//!
//! For a host name, the bridge resolves once, checks every address, and dials exactly an address
//! that passed ([`choose`]): the first that passes, in the resolver's order. Python dials the first
//! address; the bridge skips refused ones, so a name with one public and one private address still
//! works, and the private one is never dialled.

use super::rule::{Proto, Rule, Set, Target};
use super::space::{METADATA_NAMES, Space, canonical, classify, is_bad_port};
use std::fmt;
use std::net::{IpAddr, SocketAddr};

/// The egress rules of one policy.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Ruleset {
    /// What may be reached (`own`, and `labs` when the lab services run, are always first).
    pub allow: Vec<Rule>,
    /// What may not, whatever `allow` says.
    pub deny: Vec<Rule>,
    /// Unix socket paths outside the bridge's socket directory that pages may connect to, exactly
    /// (see [`normalize_unix_path`](super::normalize_unix_path)).
    pub unix: Vec<std::path::PathBuf>,
}

/// What the decision needs to know beyond the rules.
pub struct Context<'a> {
    /// The rules of the page's policy.
    pub rules: &'a Ruleset,
    /// The port the daemon listens on (always refused on loopback).
    pub daemon_port: u16,
    /// Whether `--allow-metadata` was given.
    pub allow_metadata: bool,
    /// Whether an address (canonical form) belongs to a socket of the page's origin.
    pub own: &'a dyn Fn(Proto, SocketAddr) -> bool,
    /// The lab services' addresses.
    pub labs: &'a [(Proto, SocketAddr)],
}

/// One connect or send.
#[derive(Clone, Copy, Debug)]
pub struct Request<'a> {
    /// TCP or UDP.
    pub proto: Proto,
    /// The host name the page wrote (normalised), or `None` for an address.
    pub name: Option<&'a str>,
    /// The destination port.
    pub port: u16,
}

/// Why a destination is refused.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Denial {
    /// `0.0.0.0` or `::`.
    Unspecified,
    /// Multicast.
    Multicast,
    /// Broadcast.
    Broadcast,
    /// The daemon's own port.
    Loop,
    /// A cloud metadata address or name.
    Metadata,
    /// A deny rule matched.
    DenyRule(String),
    /// A bad port, reached only by a rule that names its ports.
    BadPort(u16),
    /// A name rule matched, but the name led to a non-public address.
    NameNotPublic(Space),
    /// No rule allows it.
    NotAllowed(Space),
}

impl Denial {
    /// The rule or built-in check that refused, for the audit log.
    pub fn rule(&self) -> String {
        match self {
            Denial::Unspecified => "hard-deny:unspecified".into(),
            Denial::Multicast => "hard-deny:multicast".into(),
            Denial::Broadcast => "hard-deny:broadcast".into(),
            Denial::Loop => "hard-deny:daemon-port".into(),
            Denial::Metadata => "hard-deny:metadata".into(),
            Denial::DenyRule(rule) => format!("deny:{rule}"),
            Denial::BadPort(_) => "bad-port".into(),
            Denial::NameNotPublic(_) => "name-rule-public-only".into(),
            Denial::NotAllowed(_) => "default-deny".into(),
        }
    }
}

impl fmt::Display for Denial {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Denial::Unspecified => f.write_str("0.0.0.0 and :: are not destinations"),
            Denial::Multicast => f.write_str("the bridge does not send to multicast addresses"),
            Denial::Broadcast => f.write_str("the bridge does not send to broadcast addresses"),
            Denial::Loop => f.write_str("a socket may not connect to the bridge daemon itself"),
            Denial::Metadata => f.write_str("cloud metadata services are never reachable through the bridge"),
            Denial::DenyRule(rule) => write!(f, "the bridge's policy denies {rule}"),
            Denial::BadPort(port) => write!(
                f,
                "port {port} belongs to a service browsers never let pages reach; only a rule naming the port allows it"
            ),
            Denial::NameNotPublic(space) => write!(
                f,
                "a rule for this host name allows its public addresses only, and it resolved to a {space} address"
            ),
            Denial::NotAllowed(Space::Loopback) => f.write_str(
                "the bridge's policy lets a page reach its own sockets and the lab services, not other programs on this computer (see --allow-connect)",
            ),
            Denial::NotAllowed(space) => {
                write!(f, "the bridge's policy does not allow this {space} destination (see --allow-connect)")
            }
        }
    }
}

fn matches_addr(rule: &Rule, ctx: &Context<'_>, proto: Proto, addr: SocketAddr, space: Space) -> bool {
    match &rule.target {
        Target::Net(net) => net.contains(addr.ip()),
        Target::Set(Set::Own) => (ctx.own)(proto, addr),
        Target::Set(Set::Labs) => ctx.labs.contains(&(proto, addr)),
        Target::Set(Set::Space(s)) => *s == space,
        Target::Name(_) | Target::Subdomains(_) => false,
    }
}

/// Decides one resolved address. `Ok` carries the allow rule that granted it.
pub fn decide(ctx: &Context<'_>, req: &Request<'_>, ip: IpAddr) -> Result<String, Denial> {
    let ip = canonical(ip);
    let space = classify(ip);
    let addr = SocketAddr::new(ip, req.port);
    match space {
        Space::Unspecified => return Err(Denial::Unspecified),
        Space::Multicast => return Err(Denial::Multicast),
        Space::Broadcast => return Err(Denial::Broadcast),
        Space::Loopback if req.port == ctx.daemon_port => return Err(Denial::Loop),
        _ => {}
    }
    if req.name.is_some_and(|name| METADATA_NAMES.contains(&name)) {
        return Err(Denial::Metadata);
    }
    let name_matches = |rule: &Rule| req.name.is_some_and(|name| rule.matches_name(name));
    if let Some(rule) =
        ctx.rules.deny.iter().find(|r| {
            r.covers(req.port, req.proto) && (name_matches(r) || matches_addr(r, ctx, req.proto, addr, space))
        })
    {
        return Err(Denial::DenyRule(rule.to_string()));
    }
    if space == Space::Metadata {
        let exact = |r: &&Rule| matches!(&r.target, Target::Net(net) if net.is_single() && net.contains(ip));
        return match ctx.rules.allow.iter().filter(|r| r.covers(req.port, req.proto)).find(exact) {
            Some(rule) if ctx.allow_metadata => Ok(rule.to_string()),
            _ => Err(Denial::Metadata),
        };
    }
    let mut refusal = Denial::NotAllowed(space);
    for rule in ctx.rules.allow.iter().filter(|r| r.covers(req.port, req.proto)) {
        let by_name = name_matches(rule);
        if !by_name && !matches_addr(rule, ctx, req.proto, addr, space) {
            continue;
        }
        if by_name && space != Space::Public {
            refusal = Denial::NameNotPublic(space);
            continue;
        }
        let trusted_set = matches!(rule.target, Target::Set(Set::Own | Set::Labs));
        if is_bad_port(req.port) && !rule.names_ports() && !trusted_set {
            refusal = Denial::BadPort(req.port);
            continue;
        }
        return Ok(rule.to_string());
    }
    Err(refusal)
}

/// Picks the address to dial among a name's resolved addresses: the first one allowed. When none
/// is, the refusal of the first is returned with it.
pub fn choose(
    ctx: &Context<'_>,
    req: &Request<'_>,
    candidates: &[IpAddr],
) -> Result<(IpAddr, String), (IpAddr, Denial)> {
    let mut first_refusal = None;
    for &ip in candidates {
        match decide(ctx, req, ip) {
            Ok(rule) => return Ok((ip, rule)),
            Err(denial) => {
                first_refusal.get_or_insert((ip, denial));
            }
        }
    }
    Err(first_refusal.unwrap_or((IpAddr::from([0, 0, 0, 0]), Denial::Unspecified)))
}

#[cfg(test)]
mod tests {
    use super::*;

    const DAEMON_PORT: u16 = 7320;
    const OWN: &str = "127.0.0.1:40000";
    const LAB: &str = "127.0.0.1:40100";

    fn sa(text: &str) -> SocketAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().unwrap_or_else(|e| panic!("{text}: {e}"))
    }

    fn rules(allow: &[&str], deny: &[&str]) -> Ruleset {
        let parse = |list: &[&str]| list.iter().map(|r| r.parse().unwrap_or_else(|e| panic!("{e}"))).collect();
        Ruleset { allow: parse(allow), deny: parse(deny), unix: Vec::new() }
    }

    fn own(proto: Proto, addr: SocketAddr) -> bool {
        proto == Proto::Tcp && addr == sa(OWN)
    }

    /// Decides `host:port` over TCP, with `name` as the name the page wrote.
    fn check(ruleset: &Ruleset, metadata: bool, name: Option<&str>, addr: &str) -> Result<String, Denial> {
        let labs = [(Proto::Tcp, sa(LAB)), (Proto::Udp, sa(LAB))];
        let ctx =
            Context { rules: ruleset, daemon_port: DAEMON_PORT, allow_metadata: metadata, own: &own, labs: &labs };
        let addr = sa(addr);
        decide(&ctx, &Request { proto: Proto::Tcp, name, port: addr.port() }, addr.ip())
    }

    fn default_rules() -> Ruleset {
        rules(&["own", "labs"], &[])
    }

    #[test]
    fn e1_own_listener_allowed() {
        assert_eq!(check(&default_rules(), false, None, OWN), Ok("own".into()));
        assert_eq!(check(&default_rules(), false, None, "[::ffff:127.0.0.1]:40000"), Ok("own".into()));
        assert_eq!(check(&default_rules(), false, None, LAB), Ok("labs".into()));
    }

    #[test]
    fn e2_other_local_services_denied() {
        for addr in ["127.0.0.1:9222", "127.0.0.1:6379", "127.0.0.1:8888", "127.0.0.2:40000", "[::1]:40000"] {
            assert_eq!(check(&default_rules(), false, None, addr), Err(Denial::NotAllowed(Space::Loopback)), "{addr}");
        }
    }

    #[test]
    fn e3_daemon_port_denied_even_with_loopback_allowed() {
        let r = rules(&["loopback", "127.0.0.1:7320", "0.0.0.0/0"], &[]);
        for addr in
            ["127.0.0.1:7320", "127.0.0.9:7320", "[::1]:7320", "[::ffff:127.0.0.1]:7320", "[64:ff9b::7f00:1]:7320"]
        {
            assert_eq!(check(&r, false, None, addr), Err(Denial::Loop), "{addr}");
        }
        assert!(check(&r, false, None, "127.0.0.1:7321").is_ok());
    }

    #[test]
    fn e4_metadata_denied_even_by_a_block() {
        let r = rules(&["169.254.0.0/16", "[fd00::/8]", "public", "metadata"], &[]);
        for addr in ["169.254.169.254:80", "[fd00:ec2::254]:80", "[::ffff:169.254.169.254]:80", "100.100.100.200:80"] {
            assert_eq!(check(&r, false, None, addr), Err(Denial::Metadata), "{addr}");
            assert_eq!(check(&r, true, None, addr), Err(Denial::Metadata), "{addr}: a block is not the exact address");
        }
        assert_eq!(check(&r, false, Some("metadata.google.internal"), "203.0.113.9:80"), Err(Denial::Metadata));
        assert_eq!(check(&r, false, Some("metadata"), "203.0.113.9:80"), Err(Denial::Metadata));
        let exact = rules(&["169.254.169.254:80"], &[]);
        assert_eq!(check(&exact, false, None, "169.254.169.254:80"), Err(Denial::Metadata), "needs --allow-metadata");
        assert_eq!(check(&exact, true, None, "169.254.169.254:80"), Ok("169.254.169.254:80".into()));
        // A block still reaches the rest of link-local.
        assert!(check(&r, false, None, "169.254.10.10:80").is_ok());
    }

    #[test]
    fn e5_loopback_encodings_classified_as_loopback() {
        for addr in [
            "[::ffff:127.0.0.1]:9222",
            "[::ffff:7f00:1]:9222",
            "[0:0:0:0:0:ffff:127.0.0.1]:9222",
            "[64:ff9b::7f00:1]:9222",
            "[2002:7f00:1::]:9222",
            "[::127.0.0.1]:9222",
        ] {
            assert_eq!(check(&default_rules(), false, None, addr), Err(Denial::NotAllowed(Space::Loopback)), "{addr}");
        }
        // The short and numeric forms are not addresses to std::net: they are names, resolved and
        // then classified (see the integration tests).
        for text in ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "127.0.0.1.", "[::1%lo]"] {
            assert!(text.parse::<IpAddr>().is_err(), "{text}");
        }
    }

    #[test]
    fn e6_unspecified_never_a_destination() {
        let r = rules(&["own", "0.0.0.0/0", "[::/0]"], &[]);
        for addr in ["0.0.0.0:40000", "[::]:40000", "0.1.2.3:80", "[::ffff:0.0.0.0]:80"] {
            assert_eq!(check(&r, false, None, addr), Err(Denial::Unspecified), "{addr}");
        }
    }

    #[test]
    fn e7_name_rules_grant_public_addresses_only() {
        let r = rules(&["lesson.example", "*.course.example"], &[]);
        assert_eq!(check(&r, false, Some("lesson.example"), "10.0.0.5:80"), Err(Denial::NameNotPublic(Space::Private)));
        assert_eq!(
            check(&r, false, Some("lesson.example"), "127.0.0.1:80"),
            Err(Denial::NameNotPublic(Space::Loopback))
        );
        assert_eq!(check(&r, false, Some("lesson.example"), "203.0.113.7:80"), Ok("lesson.example".into()));
        assert_eq!(check(&r, false, Some("a.course.example"), "203.0.113.7:80"), Ok("*.course.example".into()));
        assert_eq!(check(&r, false, Some("course.example"), "203.0.113.7:80"), Err(Denial::NotAllowed(Space::Public)));
        assert_eq!(check(&r, false, None, "203.0.113.7:80"), Err(Denial::NotAllowed(Space::Public)), "by address");
    }

    #[test]
    fn e9_multi_record_answers_dial_an_allowed_address_only() {
        let r = rules(&["public"], &[]);
        let labs = [];
        let ctx = Context { rules: &r, daemon_port: DAEMON_PORT, allow_metadata: false, own: &own, labs: &labs };
        let req = Request { proto: Proto::Tcp, name: Some("mixed.example"), port: 80 };
        let chosen = choose(&ctx, &req, &[ip("127.0.0.1"), ip("203.0.113.5"), ip("::1")]);
        assert_eq!(chosen, Ok((ip("203.0.113.5"), "public".into())));
        let refused = choose(&ctx, &req, &[ip("127.0.0.1"), ip("::1")]);
        assert_eq!(refused, Err((ip("127.0.0.1"), Denial::NotAllowed(Space::Loopback))));
    }

    #[test]
    fn e10_local_names_denied_unless_own() {
        for name in ["localhost", "foo.localhost", "127.0.0.1.nip.io"] {
            assert_eq!(
                check(&default_rules(), false, Some(name), "127.0.0.1:9222"),
                Err(Denial::NotAllowed(Space::Loopback))
            );
            assert_eq!(check(&default_rules(), false, Some(name), OWN), Ok("own".into()));
        }
    }

    #[test]
    fn e11_deny_applies_to_the_resolved_address() {
        let r = rules(&["public", "loopback"], &["127.0.0.0/8"]);
        assert_eq!(
            check(&r, false, Some("sneaky.example"), "127.0.0.2:80"),
            Err(Denial::DenyRule("127.0.0.0/8".into()))
        );
        let r = rules(&["own"], &["loopback"]);
        assert_eq!(check(&r, false, None, OWN), Err(Denial::DenyRule("loopback".into())), "deny wins over own");
        let r = rules(&["public"], &["bad.example"]);
        assert_eq!(
            check(&r, false, Some("bad.example"), "203.0.113.1:80"),
            Err(Denial::DenyRule("bad.example".into()))
        );
    }

    #[test]
    fn e12_port_scoped_deny_keeps_the_port() {
        let r = rules(&["public"], &["198.51.100.7:22"]);
        assert_eq!(
            check(&r, false, Some("ssh.example"), "198.51.100.7:22"),
            Err(Denial::DenyRule("198.51.100.7:22".into()))
        );
        assert_eq!(check(&r, false, Some("ssh.example"), "198.51.100.7:80"), Ok("public".into()));
    }

    #[test]
    fn e13_bad_ports_need_a_rule_naming_them() {
        let r = rules(&["public"], &[]);
        for port in [25, 6000, 10080, 0, 22] {
            assert_eq!(check(&r, false, None, &format!("203.0.113.5:{port}")), Err(Denial::BadPort(port)), "{port}");
        }
        let r = rules(&["public", "203.0.113.5:25"], &[]);
        assert_eq!(check(&r, false, None, "203.0.113.5:25"), Ok("203.0.113.5:25".into()));
        let r = rules(&["public:20-30"], &[]);
        assert_eq!(check(&r, false, None, "203.0.113.5:25"), Ok("public:20-30".into()));
    }

    #[test]
    fn e15_broadcast_and_multicast_denied() {
        let r = rules(&["0.0.0.0/0", "[::/0]", "private", "public"], &[]);
        for addr in ["255.255.255.255:9999", "224.0.0.251:5353", "239.1.2.3:9999", "[ff02::fb]:5353"] {
            assert!(matches!(check(&r, false, None, addr), Err(Denial::Broadcast | Denial::Multicast)), "{addr}");
        }
    }

    #[test]
    fn protocols_are_kept_apart() {
        let r = rules(&["127.0.0.1:6379/tcp"], &[]);
        let labs = [];
        let ctx = Context { rules: &r, daemon_port: DAEMON_PORT, allow_metadata: false, own: &own, labs: &labs };
        let tcp = Request { proto: Proto::Tcp, name: None, port: 6379 };
        let udp = Request { proto: Proto::Udp, ..tcp };
        assert!(decide(&ctx, &tcp, ip("127.0.0.1")).is_ok());
        assert!(decide(&ctx, &udp, ip("127.0.0.1")).is_err());
        // own is per protocol: the TCP listener does not open UDP to its port.
        let d = default_rules();
        let ctx = Context { rules: &d, ..ctx };
        assert!(decide(&ctx, &Request { proto: Proto::Udp, name: None, port: 40000 }, ip("127.0.0.1")).is_err());
    }

    #[test]
    fn denials_say_why() {
        assert!(Denial::BadPort(25).to_string().contains("port 25"));
        assert!(Denial::NotAllowed(Space::Loopback).to_string().contains("own sockets"));
        assert_eq!(Denial::DenyRule("x".into()).rule(), "deny:x");
    }
}
