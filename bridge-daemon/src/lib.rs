//! The sockbridge daemon: it owns real TCP, UDP and Unix sockets and lends them to web pages, which
//! drive them with Python's socket API over a WebSocket (JSON-RPC 2.0, subprotocol
//! `sockbridge.v1`; the protocol is specified in `docs/protocol.md`).
//!
//! The binary `bridge-daemon` is a thin `main.rs` over [`serve`], so tests run the daemon
//! in-process on port 0:
//!
//! ```no_run
//! # async fn run() -> std::io::Result<()> {
//! let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await?;
//! // The default configuration is the default policy, with a fresh token clients must present.
//! let config = bridge_daemon::Config::default();
//! let token = config.token.as_ref().map(|t| t.reveal().to_owned()).unwrap_or_default();
//! let url = format!("ws://{}/#sb-token={token}", listener.local_addr()?);
//! let stop = tokio_util::sync::CancellationToken::new();
//! let daemon = tokio::spawn(bridge_daemon::serve(listener, config, stop.clone().cancelled_owned()));
//! // ... connect clients to `url` ...
//! stop.cancel();
//! daemon.await??;
//! # Ok(()) }
//! ```
//!
//! # Organization
//!
//! | module | owns |
//! |---|---|
//! | [`config`] | [`Config`] and [`Limits`]: every setting and bound, with its default |
//! | [`policy`] | the security policy: the handshake gate (Host, Origin, token), bind rules, egress rules |
//! | [`access`] | who may use a daemon served to a class (`--hosted`): join links, a trusted proxy's identity header |
//! | `metrics` | counters and gauges, `/metrics` in Prometheus's text format and `/healthz` |
//! | `audit` | the audit log of refusals |
//! | `rate` | token buckets for request and connect rates |
//! | `server` | the accept loop, the handshake, shutdown |
//! | `http` | request heads, the WebSocket handshake gate, static pages |
//! | `session` | one WebSocket: requests, responses, cleanup |
//! | `table` | a session's handles |
//! | `lane` | ordered per-direction execution of a socket's operations |
//! | `net` | the sockets themselves, `select`, options and name resolution |
//! | `sandbox` | the directory of Unix socket files |
//! | `labs` | the lab services (echo, discard, daytime, chargen) lessons talk to |
//! | `network` | private networks (`--network private`): a session's hosts, the LAN the daemon carries, shaping, capture, the kernel's socket tables |
//! | [`netns`] | network namespaces held by file descriptor, loopback up, sockets made in them: the hosts of private networks |
//! | [`packet`] | IP packets decoded (TCP, UDP, ICMP, v4 and v6) and written as pcap: sans-IO, for the private networks' capture |

#[cfg(not(target_os = "linux"))]
compile_error!("bridge-daemon speaks Linux errno numbers and socket constants; it builds on Linux only");

pub mod access;
mod audit;
mod clock;
pub mod config;
mod error;
mod http;
mod labs;
mod lane;
mod metrics;
mod net;
pub mod netns;
mod network;
pub mod packet;
pub mod policy;
mod rate;
mod read_ahead;
mod sandbox;
mod server;
mod session;
mod table;
pub mod web;

/// Locks a mutex, going on after a panic elsewhere (no lock here guards a multi-step invariant).
pub(crate) fn lock<T>(mutex: &std::sync::Mutex<T>) -> std::sync::MutexGuard<'_, T> {
    mutex.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// Reads a lock's value, going on after a panic elsewhere, as [`lock`].
pub(crate) fn read<T>(lock: &std::sync::RwLock<T>) -> std::sync::RwLockReadGuard<'_, T> {
    lock.read().unwrap_or_else(|poison| poison.into_inner())
}

/// Writes a lock's value, going on after a panic elsewhere, as [`lock`].
pub(crate) fn write<T>(lock: &std::sync::RwLock<T>) -> std::sync::RwLockWriteGuard<'_, T> {
    lock.write().unwrap_or_else(|poison| poison.into_inner())
}

pub use config::{Config, Limits, NetworkMode, UnixSockets, WebRoot};
pub use net::resolve::{Lookup, LookupFuture, Query, SystemLookup};
pub use policy::{OriginRules, Ruleset, Token};
pub use server::{serve, serve_with};

/// Checks what [`serve`] would refuse at start that can be checked before it runs: the limits fit
/// together, and the audit log is a file the daemon may write (it is created if missing). The
/// binary calls it before it prints its address, so a refused start prints none.
pub fn check_config(config: &Config) -> std::io::Result<()> {
    config.limits.validate().map_err(|e| std::io::Error::new(std::io::ErrorKind::InvalidInput, e))?;
    check_access(config)?;
    if let Some(path) = &config.audit_log {
        audit::open_file(path)?;
    }
    Ok(())
}

/// Checks the access settings fit together: a hosted daemon admits identities only, each with a
/// private network of its own.
fn check_access(config: &Config) -> std::io::Result<()> {
    let invalid = |e: String| std::io::Error::new(std::io::ErrorKind::InvalidInput, e);
    let access = &config.access;
    if access.hosted {
        if config.network != NetworkMode::Private {
            return Err(invalid(
                "--hosted needs --network private: served to a class, every session gets a network of its own, so no page touches this computer's loopback or another student's sockets".into(),
            ));
        }
        if config.unix != UnixSockets::Disabled {
            return Err(invalid(
                "--hosted does not offer Unix sockets: their directory would be shared by every student".into(),
            ));
        }
        if access.join_links.is_none() && access.identity_header.is_none() {
            return Err(invalid(
                "--hosted admits no one anonymously: give --join-links FILE, or --identity-header with --trusted-proxy"
                    .into(),
            ));
        }
    }
    if access.hosted && config.token.is_some() {
        return Err(invalid(
            "a hosted daemon has no per-start token: it admits join links and a trusted proxy's users".into(),
        ));
    }
    if access.identity_header.is_some() && access.trusted_proxies.is_empty() {
        return Err(invalid(
            "--identity-header needs --trusted-proxy: the header is believed from those addresses only".into(),
        ));
    }
    Ok(())
}

/// The directory of the teaching pages in a source checkout (`web-demo/`), used as the default web
/// root when it exists.
pub fn source_web_root() -> Option<std::path::PathBuf> {
    let dir = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../web-demo");
    dir.is_dir().then(|| dir.canonicalize().unwrap_or(dir))
}

#[cfg(test)]
mod tests {
    /// The daemon reads a request's numbers correctly rounded, so a float of many digits survives
    /// a round trip through the codec (serde_json's fast parser is off by one unit in the last
    /// place for some; found by the `decode_request` fuzz target).
    #[test]
    fn a_long_float_reads_exactly_and_round_trips() {
        use bridge_protocol::json;
        let digits = "4".repeat(64);
        let text =
            format!(r#"{{"jsonrpc":"2.0","id":9,"method":"settimeout","params":{{"fd":3,"timeout":{digits}0.5}}}}"#);
        let request =
            json::decode_request(&text).map_err(|e| format!("{:?}", e.error)).unwrap_or_else(|e| panic!("{e}"));
        let again = json::encode_request(request.id.as_ref(), request.call.method(), &request.call);
        let back = json::decode_request(&again).map(|r| r.call).map_err(|e| format!("{:?}", e.error));
        assert_eq!(back, Ok(request.call), "{again}");
    }
}
