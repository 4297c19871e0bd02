//! The security policy: who may open a session, where sockets may bind, and where they may connect
//! and send.
//!
//! | module | owns |
//! |---|---|
//! | [`token`] | the per-start [`Token`] |
//! | [`space`] | address spaces (loopback, private, public, metadata, ...) and the bad-port list |
//! | [`rule`] | egress rules (`public:443/tcp`, `10.0.0.0/8`, `own`) and their syntax |
//! | [`egress`] | the decision for one destination: a pure function of rules and addresses |
//! | `own` | the `own` set: what each origin's pages have bound |
//!
//! `Policy` puts them together for a running daemon. The handshake gate has three layers, each
//! stopping a different attacker: the `Host` header must name this daemon (DNS rebinding), the
//! `Origin` must be allowed exactly (other web sites), and the client must present the per-start
//! token (other users and programs on this computer, and forged `Origin` headers). Sockets bind
//! loopback addresses only, on port 0 or 1024 and up, with wildcard addresses mapped to loopback.
//! Egress follows [`egress`].

pub mod egress;
pub(crate) mod own;
pub mod rule;
pub mod space;
pub mod token;

pub use egress::Ruleset;
pub use token::Token;

use crate::error::{OpError, OpResult};
use egress::{Context, Denial, Request};
use own::{History, OriginKey, Owners};
use rule::{Proto, Rule, Set, Target};
use space::canonical;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr, SocketAddr};
use std::path::{Component, Path, PathBuf};
use std::sync::Arc;

/// The lowest port a page may bind, other than 0 (an ephemeral port).
pub const MIN_BIND_PORT: u16 = 1024;

/// A host name that names the daemon in a `Host` header besides its own address. Pages are
/// admitted only from the daemon's own address, though (see [`Policy::own_origin`]).
const LOCALHOST: &str = "localhost";

/// How a `Host` header names the daemon.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum HostName {
    /// Its address, as it listens (`127.0.0.1`).
    Address,
    /// `localhost`.
    Localhost,
    /// A name given with `--allow-host`.
    Extra,
}

/// The origin of pages the daemon at `addr` serves.
fn own_origin(addr: SocketAddr) -> String {
    match addr {
        SocketAddr::V4(a) => format!("http://{}:{}", a.ip(), a.port()),
        SocketAddr::V6(a) => format!("http://[{}]:{}", a.ip(), a.port()),
    }
}

/// Rules for the pages of some origins (a `[[policy]]` of the configuration file).
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct OriginRules {
    /// The origins, exactly as pages send them.
    pub origins: Vec<String>,
    /// Their rules.
    pub rules: Ruleset,
}

/// The running daemon's policy.
#[derive(Debug)]
pub(crate) struct Policy {
    daemon_addr: SocketAddr,
    hosts: Vec<String>,
    origins: Vec<String>,
    token: Option<Token>,
    default_rules: Arc<Ruleset>,
    origin_rules: Vec<(Vec<String>, Arc<Ruleset>)>,
    allow_metadata: bool,
    labs: Vec<(Proto, SocketAddr)>,
    pub(crate) owners: Arc<Owners>,
}

/// A session's side of the policy: its origin, its rules and what it has held.
#[derive(Debug)]
pub(crate) struct Page {
    pub(crate) session: u64,
    pub(crate) origin: OriginKey,
    /// Who, in a hosted daemon (`join:<name>`, `user:<name>`).
    pub(crate) identity: Option<String>,
    pub(crate) rules: Arc<Ruleset>,
    pub(crate) history: History,
    /// The session's ration of audit lines (see `audit::SESSION_LINES_PER_SEC`).
    pub(crate) audit_lines: std::sync::Mutex<crate::rate::TokenBucket>,
}

/// What a policy is made from.
#[derive(Debug, Default)]
pub(crate) struct PolicyInput<'a> {
    pub(crate) extra_hosts: &'a [String],
    pub(crate) extra_origins: &'a [String],
    pub(crate) token: Option<Token>,
    pub(crate) rules: Ruleset,
    pub(crate) origin_rules: Vec<OriginRules>,
    pub(crate) allow_metadata: bool,
    pub(crate) labs: Vec<(Proto, SocketAddr)>,
}

/// An address a page may dial.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Dial {
    pub(crate) ip: IpAddr,
    /// Allowed only because the session held this address earlier (`own`'s memory): nothing of
    /// the page's is there now, so the caller must make sure nothing else is either (see
    /// `net::Vacated`) before it sends anything there.
    pub(crate) vacated: bool,
    /// Allowed as one of the lab services.
    pub(crate) labs: bool,
}

/// `own`, and `labs` when the lab services run, come first in every allow list.
fn with_implicit(mut rules: Ruleset, labs: bool) -> Arc<Ruleset> {
    let mut implicit = vec![Rule { target: Target::Set(Set::Own), ports: None, proto: None }];
    if labs {
        implicit.push(Rule { target: Target::Set(Set::Labs), ports: None, proto: None });
    }
    rules.allow.retain(|r| !implicit.contains(r));
    implicit.append(&mut rules.allow);
    rules.allow = implicit;
    Arc::new(rules)
}

/// Whether a `--allow-host` entry names its port (`name:443`, `[::1]:443`).
fn has_port(host: &str) -> bool {
    host.rsplit_once(':').is_some_and(|(name, port)| !name.is_empty() && port.parse::<u16>().is_ok())
}

impl Policy {
    /// The policy for a daemon listening on `daemon_addr`.
    pub(crate) fn new(daemon_addr: SocketAddr, input: PolicyInput<'_>) -> Self {
        // Only the address the daemon listens on: `http://localhost:PORT` may be another program
        // (Chromium tries [::1] first), which would read the token from its address.
        let mut origins = vec![own_origin(daemon_addr)];
        origins.extend(input.extra_origins.iter().cloned());
        let labs = !input.labs.is_empty();
        let origin_rules: Vec<_> =
            input.origin_rules.into_iter().map(|o| (o.origins, with_implicit(o.rules, labs))).collect();
        for (list, _) in &origin_rules {
            origins.extend(list.iter().cloned());
        }
        Policy {
            daemon_addr,
            hosts: input.extra_hosts.iter().map(|h| h.to_ascii_lowercase()).collect(),
            origins,
            token: input.token,
            default_rules: with_implicit(input.rules, labs),
            origin_rules,
            allow_metadata: input.allow_metadata,
            labs: input.labs,
            owners: Arc::default(),
        }
    }

    /// The origin of the daemon's own pages, e.g. `http://127.0.0.1:7320`: the only one admitted
    /// without `--allow-origin`.
    pub(crate) fn own_origin(&self) -> String {
        own_origin(self.daemon_addr)
    }

    /// Whether a `Host` header names this daemon: its own address (`127.0.0.1`), `localhost`, or
    /// an extra allowed name, with the daemon's port.
    pub(crate) fn host_allowed(&self, host: &str) -> bool {
        self.own_host(host).is_some()
    }

    /// Whether a `Host` header is `localhost` with the daemon's port, so that a page asked for
    /// there should be sent to the daemon's own origin, where it is admitted.
    pub(crate) fn host_is_localhost(&self, host: &str) -> bool {
        self.own_host(host) == Some(HostName::Localhost)
    }

    fn own_host(&self, host: &str) -> Option<HostName> {
        // An extra name given with its port (`class.example.org:443`, the Host a TLS proxy in
        // front passes on) is matched whole; the daemon's own port does not apply to it.
        if self.hosts.iter().any(|h| has_port(h) && host.eq_ignore_ascii_case(h)) {
            return Some(HostName::Extra);
        }
        let (name, port) = match host.rsplit_once(':') {
            Some((name, port)) if !name.is_empty() && !port.contains(']') => (name, port.parse::<u16>().ok()),
            _ => (host, Some(80)),
        };
        if port != Some(self.daemon_addr.port()) {
            return None;
        }
        let address = match self.daemon_addr {
            SocketAddr::V4(a) => a.ip().to_string(),
            SocketAddr::V6(a) => format!("[{}]", a.ip()),
        };
        if name.eq_ignore_ascii_case(&address) {
            Some(HostName::Address)
        } else if name.eq_ignore_ascii_case(LOCALHOST) {
            Some(HostName::Localhost)
        } else {
            self.hosts.iter().any(|h| !has_port(h) && name.eq_ignore_ascii_case(h)).then_some(HostName::Extra)
        }
    }

    /// Whether a handshake's `Origin` may open a session: an allowed origin exactly, `null` only
    /// if it was explicitly allowed. A missing `Origin` (a client that is not a browser) passes
    /// this check; the token check decides.
    pub(crate) fn origin_allowed(&self, origin: Option<&str>) -> bool {
        match origin {
            None => true,
            Some(origin) => self.origins.iter().any(|allowed| allowed == origin),
        }
    }

    /// Whether a client's token is the daemon's (always, when the daemon runs without one).
    pub(crate) fn token_ok(&self, offered: Option<&str>) -> bool {
        match (&self.token, offered) {
            (None, _) => true,
            (Some(token), Some(offered)) => token.matches(offered),
            (Some(_), None) => false,
        }
    }

    /// The context of a new session of `origin` (and `identity`, in a hosted daemon).
    pub(crate) fn page(&self, session: u64, origin: OriginKey, identity: Option<String>) -> Page {
        let rules = origin
            .as_deref()
            .and_then(|o| self.origin_rules.iter().find(|(list, _)| list.iter().any(|x| x == o)))
            .map_or_else(|| Arc::clone(&self.default_rules), |(_, rules)| Arc::clone(rules));
        Page {
            session,
            origin,
            identity,
            rules,
            history: History::default(),
            audit_lines: crate::audit::session_ration(),
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

    /// Picks the address to dial among `candidates` (one for an address the page wrote, the
    /// resolver's answers for a name), or says why none may be dialled.
    pub(crate) fn dial(
        &self,
        page: &Page,
        proto: Proto,
        name: Option<&str>,
        port: u16,
        candidates: &[IpAddr],
    ) -> Result<Dial, (IpAddr, Denial)> {
        let own = |proto: Proto, addr: SocketAddr| {
            page.history.has(proto, addr) || self.owners.holds(&page.origin, proto, addr)
        };
        let (ip, rule) = self.choose(page, &own, &self.labs, Request { proto, name, port }, candidates)?;
        let vacated = rule == "own" && !self.owners.holds(&page.origin, proto, SocketAddr::new(canonical(ip), port));
        Ok(Dial { ip, vacated, labs: rule == "labs" })
    }

    /// As [`Policy::dial`], for a socket of a private network dialling outside its network: only
    /// the rules the daemon was given count. (`own` and `labs` name sockets and services of the
    /// daemon's own network, which a private network's page does not use; its own are inside.)
    pub(crate) fn dial_outside(
        &self,
        page: &Page,
        request: Request<'_>,
        candidates: &[IpAddr],
    ) -> Result<IpAddr, (IpAddr, Denial)> {
        self.choose(page, &|_, _| false, &[], request, candidates).map(|(ip, _)| ip)
    }

    /// The egress decision among `candidates` for a page, with what `own` and `labs` hold.
    fn choose(
        &self,
        page: &Page,
        own: &dyn Fn(Proto, SocketAddr) -> bool,
        labs: &[(Proto, SocketAddr)],
        request: Request<'_>,
        candidates: &[IpAddr],
    ) -> Result<(IpAddr, String), (IpAddr, Denial)> {
        let ctx = Context {
            rules: &page.rules,
            daemon_port: self.daemon_addr.port(),
            allow_metadata: self.allow_metadata,
            own,
            labs,
        };
        egress::choose(&ctx, &request, candidates)
    }

    /// Whether a page in a private network may have `name` (normalised) looked up outside it,
    /// where there is DNS: only a name one of its allow rules names.
    pub(crate) fn names(&self, page: &Page, name: &str) -> bool {
        !space::METADATA_NAMES.contains(&name) && page.rules.allow.iter().any(|r| r.matches_name(name))
    }

    /// Whether a page may connect to the Unix socket at this absolute path: only a path its rules
    /// name exactly (after lexical normalisation).
    pub(crate) fn unix_path_allowed(&self, page: &Page, path: &Path) -> bool {
        page.rules.unix.iter().any(|allowed| allowed == path)
    }

    /// Whether any policy allows Unix socket paths (so AF_UNIX sockets are useful even with no
    /// socket directory).
    pub(crate) fn any_unix_paths(&self) -> bool {
        !self.default_rules.unix.is_empty() || self.origin_rules.iter().any(|(_, r)| !r.unix.is_empty())
    }
}

/// A Unix socket path in the form rules compare: absolute, with `.` and `..` resolved lexically
/// (`/run/../run/app.sock` is `/run/app.sock`) and no trailing slash; `None` for anything else.
pub fn normalize_unix_path(text: &str) -> Option<PathBuf> {
    if !text.starts_with('/') || text.ends_with('/') || text.contains('\0') {
        return None;
    }
    let mut out = PathBuf::from("/");
    for component in Path::new(text).components() {
        match component {
            Component::RootDir | Component::CurDir => {}
            Component::ParentDir => {
                out.pop();
            }
            Component::Normal(part) => out.push(part),
            Component::Prefix(_) => return None,
        }
    }
    (out != Path::new("/")).then_some(out)
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
    use std::path::PathBuf;

    fn policy() -> Policy {
        let origins = ["https://course.example.edu".to_owned()];
        Policy::new(
            SocketAddr::from(([127, 0, 0, 1], 7320)),
            PolicyInput { extra_origins: &origins, ..PolicyInput::default() },
        )
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
        for ok in ["127.0.0.1:7320", "localhost:7320", "LOCALHOST:7320"] {
            assert!(p.host_allowed(ok), "{ok} refused");
        }
        assert!(p.host_is_localhost("localhost:7320") && !p.host_is_localhost("127.0.0.1:7320"));
        // A daemon on another loopback address knows its own.
        let other = Policy::new(SocketAddr::from(([127, 0, 0, 2], 7320)), PolicyInput::default());
        assert!(other.host_allowed("127.0.0.2:7320") && !other.host_allowed("127.0.0.1:7320"));
        assert!(other.origin_allowed(Some("http://127.0.0.2:7320")));
        for bad in [
            "[::1]:7320",
            "127.0.0.2:7320",
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

    /// Behind a TLS proxy the Host is the public site's: `--allow-host class.example.org:443`
    /// matches that whole, and a name without a port still needs the daemon's.
    #[test]
    fn extra_hosts_with_and_without_a_port() {
        let hosts = ["class.example.org:443".to_owned(), "lab.test".to_owned()];
        let p = Policy::new(
            SocketAddr::from(([127, 0, 0, 1], 7320)),
            PolicyInput { extra_hosts: &hosts, ..Default::default() },
        );
        for ok in ["class.example.org:443", "CLASS.example.org:443", "lab.test:7320"] {
            assert!(p.host_allowed(ok), "{ok} refused");
        }
        for bad in ["class.example.org", "class.example.org:7320", "class.example.org:444", "lab.test", "lab.test:443"]
        {
            assert!(!p.host_allowed(bad), "{bad} allowed");
        }
    }

    #[test]
    fn origins_match_exactly() {
        let p = policy();
        assert!(p.origin_allowed(None));
        for ok in ["http://127.0.0.1:7320", "https://course.example.edu"] {
            assert!(p.origin_allowed(Some(ok)), "{ok} refused");
        }
        for bad in [
            // Another program may answer there (see Policy::new).
            "http://localhost:7320",
            "http://[::1]:7320",
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
    fn tokens() {
        let p = policy();
        assert!(p.token_ok(None), "no token configured");
        let token = Token::generate();
        let p = Policy::new(
            SocketAddr::from(([127, 0, 0, 1], 7320)),
            PolicyInput { token: Some(token.clone()), ..PolicyInput::default() },
        );
        assert!(p.token_ok(Some(token.reveal())));
        assert!(!p.token_ok(None));
        assert!(!p.token_ok(Some("x")));
    }

    #[test]
    fn implicit_rules_come_first() {
        let rules =
            Ruleset { allow: vec!["public:443".parse().unwrap_or_else(|e| panic!("{e}"))], ..Ruleset::default() };
        let with = with_implicit(rules.clone(), true);
        let texts: Vec<String> = with.allow.iter().map(ToString::to_string).collect();
        assert_eq!(texts, ["own", "labs", "public:443"]);
        let without = with_implicit(rules, false);
        assert_eq!(without.allow.len(), 2);
    }

    #[test]
    fn unix_paths_normalise_lexically() {
        assert_eq!(normalize_unix_path("/run/app.sock"), Some(PathBuf::from("/run/app.sock")));
        assert_eq!(normalize_unix_path("/run/../run/./app.sock"), Some(PathBuf::from("/run/app.sock")));
        assert_eq!(normalize_unix_path("//run//app.sock"), Some(PathBuf::from("/run/app.sock")));
        assert_eq!(normalize_unix_path("/../../etc/x"), Some(PathBuf::from("/etc/x")));
        for bad in ["/run/app.sock/", "run/app.sock", "", "/", "/..", "*"] {
            assert_eq!(normalize_unix_path(bad), None, "{bad}");
        }
    }
}
