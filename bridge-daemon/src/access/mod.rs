//! Who may open a session when the daemon is served to a class (`--hosted`), and as whom.
//!
//! On one's own computer the per-start token decides (`policy::token`): whoever holds it is the
//! computer's user. Served to a class, there is no anonymous use: every session is somebody's, an
//! identity, from one of two places:
//!
//! - **a join link** ([`join`]): a teacher makes one per student; the page presents its secret as
//!   it would a token, and the session is `join:<name>`;
//! - **an authenticating reverse proxy's header** (`--identity-header X-Remote-User`): the name
//!   the proxy puts there, `user:<name>`, believed only when the connection comes from one of
//!   `--trusted-proxy`'s addresses. The same header from anywhere else is refused, so a page cannot
//!   claim to be somebody by sending it.
//!
//! The identity then keys the session's limits (sessions, sockets, lab connections and lookups
//! per identity rather than per origin: the whole class shares one origin), and is named in the
//! audit log and the metrics. Secrets are never logged.

pub mod join;

use crate::http::{Head, Refusal, refuse_by};
use std::net::IpAddr;
use std::path::PathBuf;
use std::sync::Mutex;
use std::time::{Duration, SystemTime};

/// How often the daemon looks at the join links again, to end the sessions of links revoked or
/// expired since.
pub const RECHECK: Duration = Duration::from_secs(2);

/// The settings of who may use a hosted daemon.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct Access {
    /// Served to many users over the network: every session must have an identity, gets a
    /// private network (the daemon refuses to start where it cannot make them), and there is no
    /// per-start token. Also what lets `--listen` name a non-loopback address.
    pub hosted: bool,
    /// The join links' store (`bridge-daemon join`).
    pub join_links: Option<PathBuf>,
    /// The request header an authenticating proxy puts the user's name in.
    pub identity_header: Option<String>,
    /// The addresses of the proxies whose identity header is believed.
    pub trusted_proxies: Vec<IpAddr>,
}

/// Who a session is, in a hosted daemon.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub(crate) struct Identity {
    /// `join:<name>` or `user:<name>`: what the audit log and metrics show.
    name: String,
    /// A join link's hash, to check it is still valid while the session lasts.
    link: Option<String>,
}

impl Identity {
    /// `join:<name>` or `user:<name>`.
    pub(crate) fn name(&self) -> &str {
        &self.name
    }
}

/// The join links as last read, and when the file was.
#[derive(Default)]
struct Loaded {
    store: join::Store,
    modified: Option<SystemTime>,
}

/// Decides who a handshake is ([`Gate::admit`]) and whether a session's link still holds.
pub(crate) struct Gate {
    access: Access,
    links: Mutex<Loaded>,
}

impl std::fmt::Debug for Gate {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Gate").field("access", &self.access).finish_non_exhaustive()
    }
}

impl Gate {
    pub(crate) fn new(access: Access) -> Gate {
        Gate { access, links: Mutex::default() }
    }

    /// The identity of a handshake from `peer`, offering `token` (a join link's secret). Outside
    /// hosted mode there is none to find, and the per-start token has decided already.
    pub(crate) fn admit(&self, head: &Head, peer: IpAddr, token: Option<&str>) -> Result<Option<Identity>, Refusal> {
        if let Some(header) = &self.access.identity_header
            && head.header_count(header) > 0
        {
            if !self.access.trusted_proxies.contains(&peer) {
                return Err(refuse_by(
                    403,
                    "identity-header",
                    "an identity header from an address the bridge does not trust as its proxy",
                ));
            }
            let Some(value) = head.header(header).filter(|v| join::check_name(v).is_ok()) else {
                return Err(refuse_by(
                    403,
                    "identity-header",
                    "the proxy's identity header is not one plain user name",
                ));
            };
            return Ok(Some(Identity { name: format!("user:{value}"), link: None }));
        }
        if !self.access.hosted {
            return Ok(None);
        }
        let Some(secret) = token else {
            return Err(refuse_by(
                403,
                "join-link",
                "this bridge serves a class: open the join link your teacher gave you (it ends in #sb-token=...)",
            ));
        };
        match self.find(secret) {
            Some(link) if link.valid_at(join::now()) => {
                Ok(Some(Identity { name: format!("join:{}", link.name), link: Some(link.sha256) }))
            }
            _ => Err(refuse_by(
                403,
                "join-link",
                "this join link is not valid (unknown, revoked or expired): ask your teacher for a new one",
            )),
        }
    }

    /// Whether the sessions of each of `identities` may go on: its join link is still there, not
    /// revoked and not expired (an identity from the proxy's header always may). The links are
    /// read once for all of them.
    pub(crate) fn still_valid(&self, identities: &[&Identity]) -> Vec<bool> {
        let now = join::now();
        self.with_links(|store| {
            identities
                .iter()
                .map(|identity| match &identity.link {
                    None => true,
                    Some(hash) => store.links.iter().any(|l| &l.sha256 == hash && l.valid_at(now)),
                })
                .collect()
        })
    }

    fn find(&self, secret: &str) -> Option<join::Link> {
        self.with_links(|store| store.find(secret).cloned())
    }

    /// Runs `f` on the join links, read again first if the file has changed. A file that cannot be
    /// read admits nobody (and says why in the log), rather than the links of before.
    fn with_links<T>(&self, f: impl FnOnce(&join::Store) -> T) -> T {
        let mut loaded = self.links.lock().unwrap_or_else(|p| p.into_inner());
        if let Some(path) = &self.access.join_links {
            let modified = std::fs::metadata(path).and_then(|m| m.modified()).ok();
            if modified.is_none() || modified != loaded.modified {
                loaded.store = join::Store::load(path).unwrap_or_else(|e| {
                    tracing::warn!(error = %e, "cannot read the join links; none admits until they can be read");
                    join::Store::default()
                });
                loaded.modified = modified;
            }
        }
        f(&loaded.store)
    }
}
