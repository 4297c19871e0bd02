//! The daemon's settings. Every limit lives here, once, with its default and what it bounds.
//! [`mod@file`] reads them from a TOML file.

pub mod file;

use crate::net::resolve::Lookup;
use crate::policy::{OriginRules, Ruleset, Token};
use std::path::PathBuf;
use std::sync::Arc;
use std::time::Duration;

/// Where the teaching pages come from.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum WebRoot {
    /// A directory: `--web-root`, or a checkout's `web-demo/`.
    Dir(PathBuf),
    /// The pages built into this binary (a release build: what `cargo install` gives).
    Embedded,
}

/// How the daemon runs. `Config::default()` is the documented default policy: a fresh token, the
/// daemon's own origin only, egress to the page's own sockets (and the lab services, when
/// `labs` is set) only, no Unix sockets.
#[derive(Clone, Debug)]
pub struct Config {
    /// Extra origins whose pages may open a session, beyond the daemon's own (`http://` + the
    /// address it listens on, e.g. `http://127.0.0.1:PORT`; not `localhost`, where another program
    /// may answer first). Exact
    /// `scheme://host[:port]` strings, or `null`; no wildcards.
    pub allowed_origins: Vec<String>,
    /// Extra names that may appear in the `Host` header (besides the daemon's address and
    /// `localhost`), with the daemon's port.
    pub allowed_hosts: Vec<String>,
    /// The token clients must present; `None` admits any client from an allowed origin (and any
    /// client that sends no origin), which on a computer with other users is a hole.
    pub token: Option<Token>,
    /// Egress rules for pages whose origin has no rules of its own. `own` (and `labs` when the lab
    /// services run) are always allowed first; deny rules can still take them away.
    pub rules: Ruleset,
    /// Rules for the pages of particular origins (which are admitted as if in `allowed_origins`).
    pub origin_rules: Vec<OriginRules>,
    /// Let an allow rule naming a cloud metadata address exactly reach it.
    pub allow_metadata: bool,
    /// Append one JSON line per refusal to this file.
    pub audit_log: Option<PathBuf>,
    /// Where the static pages are served from (`GET /`); `None` serves none.
    pub web_root: Option<WebRoot>,
    /// AF_UNIX sockets.
    pub unix: UnixSockets,
    /// Run the lab services (echo, discard, daytime, chargen) that lessons talk to: on loopback,
    /// or on the `lab` host of each private network.
    pub labs: bool,
    /// Whether each session gets a private network of its own.
    pub network: NetworkMode,
    /// Limits on sessions, sockets, requests and messages.
    pub limits: Limits,
    /// Where names are resolved; `None` for the system's `getaddrinfo`. (Tests script answers.)
    pub resolver: Option<Arc<dyn Lookup>>,
    /// Who may use the daemon when it is served to a class (`--hosted`), and as whom.
    pub access: crate::access::Access,
    /// When the daemon is told to stop (SIGTERM), how long its sessions may go on before they are
    /// closed; it takes no new ones meanwhile, and `/healthz` says it is draining. Zero closes them
    /// at once.
    pub drain_timeout: Duration,
    /// Where `/metrics` (Prometheus's text format) and `/healthz` are served, if anywhere.
    pub metrics_listen: Option<std::net::SocketAddr>,
    /// Threads that run sessions, each session on one of them for its whole life (0: on the
    /// runtime that calls `serve`). A session's work then never hops between threads: an answer
    /// costs no cross-thread wake-up, and the threads share the sessions (the binary uses one
    /// per core).
    pub session_threads: usize,
}

impl Default for Config {
    fn default() -> Self {
        Config {
            allowed_origins: Vec::new(),
            allowed_hosts: Vec::new(),
            token: Some(Token::generate()),
            rules: Ruleset::default(),
            origin_rules: Vec::new(),
            allow_metadata: false,
            audit_log: None,
            web_root: None,
            unix: UnixSockets::Disabled,
            labs: false,
            network: NetworkMode::Shared,
            limits: Limits::default(),
            resolver: None,
            access: crate::access::Access::default(),
            drain_timeout: Duration::ZERO,
            metrics_listen: None,
            session_threads: 0,
        }
    }
}

/// How a session's sockets reach each other and the world.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub enum NetworkMode {
    /// Every session's sockets are the daemon's, on this computer's loopback, under the egress
    /// policy. The default.
    #[default]
    Shared,
    /// Every session gets a private network: hosts of its own (network namespaces) on a LAN the
    /// daemon carries, reaching nothing outside. Where this system cannot make namespaces, the
    /// daemon says so and runs shared.
    Private,
}

/// Where AF_UNIX sockets live. Pages name Unix sockets by a single file name (`"echo.sock"`); the
/// daemon keeps them all in one sandbox directory, so a page can neither create nor reach a socket
/// file anywhere else.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum UnixSockets {
    /// AF_UNIX is refused (`EAFNOSUPPORT`).
    Disabled,
    /// A fresh private (0700) directory, made at start and removed at exit. The default.
    PrivateDir,
    /// This directory: created 0700 if missing; if it exists it must be a directory (not a
    /// symlink) owned by the daemon's user with no access for group or others.
    Dir(PathBuf),
}

/// Declares [`Limits`] from one list: each limit once, with what it bounds and its default. The
/// configuration file's `[limits]` section ([`file::LimitsSection`]) is generated from the same
/// list, and a test checks that `docs/protocol.md` lists every one.
macro_rules! limits {
    ($($(#[doc = $doc:literal])* $name:ident: $ty:ty = $default:expr;)*) => {
        /// Bounds on what one page, and all pages together, can make the daemon hold.
        #[derive(Clone, Debug, PartialEq, Eq)]
        pub struct Limits {
            $($(#[doc = $doc])* pub $name: $ty,)*
        }

        impl Default for Limits {
            fn default() -> Self {
                Limits { $($name: $default,)* }
            }
        }

        impl Limits {
            /// Every limit's name, as the configuration file spells it.
            pub const NAMES: &[&str] = &[$(stringify!($name)),*];
        }

        /// `[limits]` of the configuration file: any field of [`Limits`], durations as
        /// [`file::Seconds`].
        #[derive(Debug, Default, serde::Deserialize)]
        #[serde(deny_unknown_fields)]
        pub struct LimitsSection {
            $(
                #[doc = concat!("`Limits::", stringify!($name), "`.")]
                pub $name: Option<<$ty as LimitValue>::InFile>,
            )*
        }

        impl LimitsSection {
            /// `base` with the values this section sets.
            pub fn apply(&self, mut base: Limits) -> Limits {
                $(
                    if let Some(v) = self.$name {
                        base.$name = LimitValue::from_file(v);
                    }
                )*
                base
            }
        }
    };
}

/// A limit's type, and how the configuration file writes it.
pub trait LimitValue {
    /// The type in the file (a duration is [`file::Seconds`]: `10`, `2.5`, `"500ms"`).
    type InFile: Copy + serde::de::DeserializeOwned;
    /// The limit from the file's value.
    fn from_file(value: Self::InFile) -> Self;
}

macro_rules! plain_limit {
    ($($ty:ty),*) => {$(
        impl LimitValue for $ty {
            type InFile = $ty;
            fn from_file(value: $ty) -> $ty {
                value
            }
        }
    )*};
}

plain_limit!(usize, i32, u32, u64);

impl LimitValue for Duration {
    type InFile = file::Seconds;
    fn from_file(value: file::Seconds) -> Duration {
        value.0
    }
}

limits! {
    /// WebSocket sessions open at once; one more gets HTTP 503.
    max_sessions: usize = 64;
    /// WebSocket sessions of one page origin open at once; one more gets HTTP 503. (Clients that
    /// send no `Origin` count only towards `max_sessions`.)
    max_sessions_per_origin: usize = 16;
    /// Sockets one session may hold open; one more is `EMFILE`.
    max_sockets_per_session: usize = 128;
    /// Sockets all sessions together may hold open (kept below the process's file limit); one
    /// more is `ENFILE`.
    max_sockets_total: usize = 1024;
    /// Sockets the pages of one origin may hold open together (at most half of
    /// `max_sockets_total`, as the process's file limit allows it), so one site cannot take every
    /// socket of the daemon; one more is `ENFILE`.
    max_sockets_per_origin: usize = 512;
    /// TCP connections the pages of one origin may hold to the lab services together (each
    /// service serves 32 at once); one more is `ECONNREFUSED`, with the reason.
    max_lab_connections_per_origin: usize = 8;
    /// Requests of blocking methods a session may have outstanding; one more gets `-32001`.
    max_inflight_per_session: usize = 256;
    /// Bytes of those requests (their JSON text: a `send`'s data, mostly) a session may have
    /// outstanding; one more gets `-32001`. It bounds the data the daemon holds for sends waiting
    /// on a slow peer.
    max_inflight_bytes: usize = 8 << 20;
    /// The largest request message accepted. Messages up to twice this size get a `-32001` error
    /// and the session carries on; larger ones close the session (WebSocket close code 1009).
    max_message_bytes: usize = 1 << 20;
    /// The most data one send carries and one receive returns.
    max_payload_bytes: usize = 512 << 10;
    /// The largest `listen` backlog; larger ones are clamped.
    max_listen_backlog: i32 = 128;
    /// Responses queued for one session's WebSocket writer before its operations wait.
    outbound_queue: usize = 64;
    /// Bytes of responses queued for one session's WebSocket writer before its operations wait
    /// (a larger response takes the whole allowance).
    outbound_bytes: usize = 4 << 20;
    /// Time allowed from TCP accept to a complete HTTP request head.
    handshake_timeout: Duration = Duration::from_secs(10);
    /// The largest HTTP request head (request line and headers).
    max_request_head_bytes: usize = 16 << 10;
    /// Name resolutions running at once, daemon-wide (each holds a blocking thread).
    dns_concurrency: usize = 4;
    /// How long one name resolution may take before it fails with `EAI_AGAIN`.
    dns_timeout: Duration = Duration::from_secs(5);
    /// Name resolutions one session may have running at once.
    dns_per_session: usize = 2;
    /// Name resolutions the pages of one origin may have running at once (less than
    /// `dns_concurrency`, so another origin's lookups always have room).
    dns_per_origin: usize = 2;
    /// The largest static file served.
    max_static_file_bytes: u64 = 64 << 20;
    /// How long a blocking `connect` may wait for the peer before failing with `ETIMEDOUT` (a
    /// socket timeout, if shorter, applies first).
    connect_timeout: Duration = Duration::from_secs(10);
    /// `connect` calls one session may start per second, on average; faster ones wait their turn.
    connect_rate: u32 = 100;
    /// `connect` calls one session may start at once before `connect_rate` applies.
    connect_burst: u32 = 200;
    /// Requests one session may make per second, on average; past it requests get `-32001`.
    rpc_rate: u32 = 50_000;
    /// Requests one session may make at once before `rpc_rate` applies.
    rpc_burst: u32 = 50_000;
    /// After this long without hearing from a page, the daemon pings it.
    ping_interval: Duration = Duration::from_secs(30);
    /// A page that answers neither a ping nor anything else for this long after it is closed
    /// (code 1008).
    pong_timeout: Duration = Duration::from_secs(60);
    /// A session with no request for this long and nothing in flight is closed (code 1001).
    idle_timeout: Duration = Duration::from_secs(15 * 60);
    /// WebSocket sessions one identity (a student, in a hosted daemon) may have open at once; one
    /// more gets HTTP 503.
    max_sessions_per_identity: usize = 4;
    /// Sockets the sessions of one identity may hold open together; one more is `ENFILE`.
    max_sockets_per_identity: usize = 128;
    /// Private networks at once, daemon-wide (one per session, when the daemon runs with
    /// `--network private`); a session beyond them is closed with code 1013.
    max_networks: usize = 64;
    /// Hosts one private network may have, its first and its lab host included; one more is
    /// `ENOSPC`.
    max_hosts_per_network: usize = 8;
    /// Bytes a host's link may hold on their way (delayed or slowed by the page's link settings);
    /// packets beyond are dropped, as a router's full queue drops them.
    link_queue_bytes: usize = 1 << 20;
    /// Packets a host may send per second on its link (with a tenth of a second's burst);
    /// packets beyond are dropped.
    link_packets_per_second: u32 = 50_000;
    /// Bytes per second all the hosts of one private network may send on its LAN together (0: no
    /// limit). In a hosted daemon, where each student has one network, it is what one student's
    /// traffic may take of the server; packets beyond are dropped, as a router drops them, and
    /// the capture says `over-network-rate`.
    network_bytes_per_second: u32 = 0;
    /// Bytes of packets a private network's capture keeps (the newest); a pcap file of it must fit
    /// in one answer, so at most `max_payload_bytes` less 1 KiB.
    capture_bytes: usize = 384 << 10;
    /// How long an answer may wait to be handed to a page's WebSocket (the page has stopped
    /// reading, and the session's outbound allowance is full) before the session is closed (code
    /// 1008, with an audit line); and how long a page file's reader may take nothing before it is
    /// dropped.
    write_timeout: Duration = Duration::from_secs(30);
}

/// Room a request needs beyond its base64 payload: the envelope, method, fd, flags and address.
const ENVELOPE_ALLOWANCE: usize = 4096;

impl Limits {
    /// Checks the limits fit together; the error names the setting that does not.
    pub fn validate(&self) -> Result<(), String> {
        let positive = [
            ("max_sessions", self.max_sessions),
            ("max_sessions_per_origin", self.max_sessions_per_origin),
            ("max_sessions_per_identity", self.max_sessions_per_identity),
            ("max_sockets_per_identity", self.max_sockets_per_identity),
            ("max_sockets_per_session", self.max_sockets_per_session),
            ("max_sockets_total", self.max_sockets_total),
            ("dns_per_session", self.dns_per_session),
            ("dns_per_origin", self.dns_per_origin),
            ("max_sockets_per_origin", self.max_sockets_per_origin),
            ("max_lab_connections_per_origin", self.max_lab_connections_per_origin),
            ("connect_rate", self.connect_rate as usize),
            ("connect_burst", self.connect_burst as usize),
            ("rpc_rate", self.rpc_rate as usize),
            ("rpc_burst", self.rpc_burst as usize),
            ("max_inflight_per_session", self.max_inflight_per_session),
            ("max_payload_bytes", self.max_payload_bytes),
            ("outbound_queue", self.outbound_queue),
            ("outbound_bytes", self.outbound_bytes),
            ("dns_concurrency", self.dns_concurrency),
            ("max_networks", self.max_networks),
            ("link_queue_bytes", self.link_queue_bytes),
            ("link_packets_per_second", self.link_packets_per_second as usize),
        ];
        if self.max_hosts_per_network < 2 {
            return Err("max_hosts_per_network must be at least 2 (the first host and the lab's)".into());
        }
        if self.capture_bytes + 1024 > self.max_payload_bytes {
            return Err(format!(
                "capture_bytes ({}) must leave 1 KiB of max_payload_bytes ({}): a pcap of the capture is one answer",
                self.capture_bytes, self.max_payload_bytes
            ));
        }
        if let Some((name, _)) = positive.iter().find(|(_, v)| *v == 0) {
            return Err(format!("{name} must be at least 1"));
        }
        let needed = bridge_protocol::Payload::base64_len(self.max_payload_bytes) + ENVELOPE_ALLOWANCE;
        if self.max_message_bytes < needed {
            return Err(format!(
                "max_message_bytes ({}) must hold a max_payload_bytes ({}) send: at least {needed}",
                self.max_message_bytes, self.max_payload_bytes
            ));
        }
        if u32::try_from(self.outbound_bytes).is_err() {
            return Err("outbound_bytes must be below 4 GiB".into());
        }
        if u32::try_from(self.max_inflight_bytes).is_err() || self.max_inflight_bytes < self.max_message_bytes {
            return Err(format!(
                "max_inflight_bytes ({}) must hold one max_message_bytes ({}) request, and be below 4 GiB",
                self.max_inflight_bytes, self.max_message_bytes
            ));
        }
        if self.max_listen_backlog < 1 {
            return Err("max_listen_backlog must be at least 1".into());
        }
        let durations = [
            ("handshake_timeout", self.handshake_timeout),
            ("dns_timeout", self.dns_timeout),
            ("connect_timeout", self.connect_timeout),
            ("ping_interval", self.ping_interval),
            ("pong_timeout", self.pong_timeout),
            ("idle_timeout", self.idle_timeout),
            ("write_timeout", self.write_timeout),
        ];
        if let Some((name, _)) = durations.iter().find(|(_, d)| d.is_zero()) {
            return Err(format!("{name} must be longer than zero"));
        }
        Ok(())
    }

    /// What `hello` reports to a client.
    pub fn for_client(&self) -> bridge_protocol::Limits {
        bridge_protocol::Limits {
            max_message_bytes: self.max_message_bytes,
            max_payload_bytes: self.max_payload_bytes,
            max_inflight: self.max_inflight_per_session,
            max_inflight_bytes: self.max_inflight_bytes,
            max_sockets: self.max_sockets_per_session,
        }
    }

    /// The hard cap on one incoming WebSocket message: past it the session is closed.
    pub(crate) fn hard_message_cap(&self) -> usize {
        self.max_message_bytes.saturating_mul(2)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// docs/protocol.md's table of limits names every one.
    #[test]
    fn the_protocol_docs_list_every_limit() {
        let docs = include_str!("../../../docs/protocol.md");
        let table = &docs[docs.find("| setting | default | bounds |").unwrap_or(0)..];
        for name in Limits::NAMES {
            assert!(table.contains(&format!("`{name}`")), "docs/protocol.md does not list the limit {name}");
        }
    }

    #[test]
    fn defaults_are_valid() {
        assert_eq!(Limits::default().validate(), Ok(()));
    }

    #[test]
    fn payload_must_fit_in_a_message() {
        let limits = Limits { max_payload_bytes: 1 << 20, ..Limits::default() };
        let err = limits.validate().err().unwrap_or_default();
        assert!(err.contains("max_message_bytes"), "{err}");
        let limits = Limits { max_sessions: 0, ..Limits::default() };
        assert!(limits.validate().is_err());
    }
}
