//! The `own` set: the addresses that pages of one origin have bound through the bridge.
//!
//! Every IP socket a page binds (explicitly, or implicitly when it listens, sends or connects) is
//! registered under the page's origin until it is closed, so two tabs of one origin can talk to
//! each other (a UDP chat, a server in one tab and its client in another), and no page can reach a
//! socket of another origin or of another program. A session also remembers the addresses it has
//! held, so a page can show what connecting to a port it has just closed looks like
//! (`ECONNREFUSED`); the memory is bounded and ends with the session.
//!
//! Unix socket files are registered the same way, by device and inode, when a page binds them.

use super::rule::Proto;
use super::space::canonical;
use std::collections::{HashMap, VecDeque};
use std::net::SocketAddr;
use std::sync::{Arc, Mutex, MutexGuard};

/// Who a session speaks for: its page's `Origin`, or `None` for a client that sent none.
pub(crate) type OriginKey = Option<String>;

/// Addresses a session remembers having held.
const HISTORY: usize = 256;

type Counts<K> = HashMap<OriginKey, HashMap<K, usize>>;

/// The registry, shared by all sessions.
#[derive(Debug, Default)]
pub(crate) struct Owners {
    addrs: Mutex<Counts<(Proto, SocketAddr)>>,
    files: Mutex<Counts<(u64, u64)>>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(|poison| poison.into_inner())
}

/// What a registration holds, released when dropped.
#[derive(Debug)]
enum Held {
    Addr((Proto, SocketAddr)),
    File((u64, u64)),
}

/// One registration; dropping it unregisters.
#[derive(Debug)]
pub(crate) struct OwnGuard {
    owners: Arc<Owners>,
    origin: OriginKey,
    held: Held,
}

fn release<K: std::hash::Hash + Eq>(counts: &mut Counts<K>, origin: &OriginKey, key: &K) {
    if let Some(map) = counts.get_mut(origin) {
        if let Some(n) = map.get_mut(key) {
            *n -= 1;
            if *n == 0 {
                map.remove(key);
            }
        }
        if map.is_empty() {
            counts.remove(origin);
        }
    }
}

impl Drop for OwnGuard {
    fn drop(&mut self) {
        match &self.held {
            Held::Addr(key) => release(&mut lock(&self.owners.addrs), &self.origin, key),
            Held::File(key) => release(&mut lock(&self.owners.files), &self.origin, key),
        }
    }
}

impl Owners {
    /// Registers an address bound by a socket of `origin`.
    pub(crate) fn register(self: &Arc<Self>, origin: &OriginKey, proto: Proto, addr: SocketAddr) -> OwnGuard {
        let key = (proto, SocketAddr::new(canonical(addr.ip()), addr.port()));
        *lock(&self.addrs).entry(origin.clone()).or_default().entry(key).or_default() += 1;
        OwnGuard { owners: Arc::clone(self), origin: origin.clone(), held: Held::Addr(key) }
    }

    /// Whether a socket of `origin` holds the address now.
    pub(crate) fn holds(&self, origin: &OriginKey, proto: Proto, addr: SocketAddr) -> bool {
        lock(&self.addrs).get(origin).is_some_and(|map| map.contains_key(&(proto, addr)))
    }

    /// Registers a socket file (device, inode) a page of `origin` created.
    pub(crate) fn register_file(self: &Arc<Self>, origin: &OriginKey, dev: u64, ino: u64) -> OwnGuard {
        *lock(&self.files).entry(origin.clone()).or_default().entry((dev, ino)).or_default() += 1;
        OwnGuard { owners: Arc::clone(self), origin: origin.clone(), held: Held::File((dev, ino)) }
    }

    /// Whether a page of `origin` created this socket file.
    pub(crate) fn holds_file(&self, origin: &OriginKey, dev: u64, ino: u64) -> bool {
        lock(&self.files).get(origin).is_some_and(|map| map.contains_key(&(dev, ino)))
    }
}

/// A session's memory of the addresses it has held.
#[derive(Debug, Default)]
pub(crate) struct History(Mutex<VecDeque<(Proto, SocketAddr)>>);

impl History {
    /// Remembers an address (the oldest is forgotten past the bound).
    pub(crate) fn remember(&self, proto: Proto, addr: SocketAddr) {
        let key = (proto, SocketAddr::new(canonical(addr.ip()), addr.port()));
        let mut list = lock(&self.0);
        if !list.contains(&key) {
            if list.len() == HISTORY {
                list.pop_front();
            }
            list.push_back(key);
        }
    }

    /// Whether the session has held the address.
    pub(crate) fn has(&self, proto: Proto, addr: SocketAddr) -> bool {
        lock(&self.0).contains(&(proto, addr))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sa(text: &str) -> SocketAddr {
        text.parse().unwrap_or_else(|e| panic!("{e}"))
    }

    #[test]
    fn registrations_last_as_long_as_their_guards() {
        let owners = Arc::new(Owners::default());
        let a: OriginKey = Some("http://a.test".into());
        let b: OriginKey = Some("http://b.test".into());
        let g1 = owners.register(&a, Proto::Tcp, sa("[::ffff:127.0.0.1]:5000"));
        let g2 = owners.register(&a, Proto::Tcp, sa("127.0.0.1:5000"));
        assert!(owners.holds(&a, Proto::Tcp, sa("127.0.0.1:5000")));
        assert!(!owners.holds(&a, Proto::Udp, sa("127.0.0.1:5000")));
        assert!(!owners.holds(&b, Proto::Tcp, sa("127.0.0.1:5000")));
        assert!(!owners.holds(&None, Proto::Tcp, sa("127.0.0.1:5000")));
        drop(g1);
        assert!(owners.holds(&a, Proto::Tcp, sa("127.0.0.1:5000")), "still held by the second socket");
        drop(g2);
        assert!(!owners.holds(&a, Proto::Tcp, sa("127.0.0.1:5000")));
        let f = owners.register_file(&a, 1, 2);
        assert!(owners.holds_file(&a, 1, 2) && !owners.holds_file(&b, 1, 2));
        drop(f);
        assert!(!owners.holds_file(&a, 1, 2));
    }

    #[test]
    fn history_is_bounded() {
        let h = History::default();
        for port in 0..300u16 {
            h.remember(Proto::Udp, SocketAddr::from(([127, 0, 0, 1], 10_000 + port)));
        }
        assert!(!h.has(Proto::Udp, sa("127.0.0.1:10000")), "the oldest is forgotten");
        assert!(h.has(Proto::Udp, sa("127.0.0.1:10299")));
    }
}
