//! Private networks (issue 18): a session's own LAN of hosts, each host a network namespace, so
//! "different computers" are real and the kernel gives its own answers, with the packets between
//! them carried, shaped and captured by the daemon.
//!
//! A network is made when its session opens (when the daemon runs with `--network private`) and
//! is gone when it ends: the hosts are held by file descriptor only, so nothing of it outlives the
//! session or a killed daemon. Every network uses the same addresses, 10.0.0.0/24 and fd00::/64
//! (a host's IPv6 address ends in its IPv4 address's last byte); networks never meet.
//!
//! | host | address | what runs there |
//! |---|---|---|
//! | `pc1` | 10.0.0.1 | the page's sockets, unless it names another host |
//! | `lab` | 10.0.0.254 | the lab services on their classic ports: echo 7, discard 9, daytime 13, chargen 19 (TCP and UDP) |
//! | added by the page (`add_host`) | 10.0.0.2, .3, ... | the sockets made on them |
//!
//! Inside, the page's sockets need no policy: the only addresses they can reach are their own
//! network's (no route leads anywhere else, so anything outside is `ENETUNREACH`), and only the
//! network's host names resolve (there is no DNS).
//!
//! # Organization
//!
//! | module | owns |
//! |---|---|
//! | this one | [`Network`]: its hosts, names, limits and life |
//! | `host` | one host: its namespace, its `eth0` (a TUN device), its routes |
//! | `link` | the LAN: carrying each host's packets to the host they are for |
//! | `shaper` | what a link does to packets (loss, duplication, delay, reordering, rate) and its bounds; sans-IO |
//! | `capture` | the packets, decoded for the page and as a pcap file |
//! | `kernel` | the kernel's socket table of a host (`/proc/net/tcp` ...), with TCP states; sans-IO parsing |

mod capture;
mod host;
mod kernel;
mod link;
mod shaper;

use crate::error::{OpError, OpResult};
use crate::labs::Labs;
use crate::net::resolve::{DnsShare, Query, Resolver};
use crate::netns::Netns;
use bridge_protocol::constants::{AF_INET, AF_INET6};
use bridge_protocol::errno::eai::EAI_NONAME;
use bridge_protocol::params::{AddrInfo, HostInfo, LinkSettings, NetworkInfo, PacketsResult};
use bridge_protocol::{Address, OsError};
use capture::Capture;
use host::Host;
pub(crate) use kernel::KernelSocket;
use link::{Port, Switch};
use shaper::Shaper;
use std::io;
use std::net::{IpAddr, Ipv4Addr, Ipv6Addr};
use std::sync::{Arc, Mutex, RwLock};
use tokio::sync::OwnedSemaphorePermit;
use tokio_util::sync::CancellationToken;
use tokio_util::task::TaskTracker;

/// The LAN every private network uses.
const LAN: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 0);
/// Its prefix length.
const LAN_PREFIX: u8 = 24;
/// The first host's name.
const FIRST_HOST: &str = "pc1";
/// The lab services' host.
const LAB_HOST: &str = "lab";
const LAB_ADDRESS: Ipv4Addr = Ipv4Addr::new(10, 0, 0, 254);

/// The bounds of one network.
#[derive(Clone, Copy, Debug)]
pub(crate) struct Bounds {
    /// Hosts, the first and the lab's included.
    pub(crate) max_hosts: usize,
    /// Bytes a link may hold on their way (delayed or rate-limited); more are dropped.
    pub(crate) link_queue_bytes: usize,
    /// Packets a host may send per second; more are dropped.
    pub(crate) link_packets_per_second: u32,
    /// Bytes of packets the capture keeps.
    pub(crate) capture_bytes: usize,
    /// Bytes per second the whole network may carry (0: no limit); more are dropped.
    pub(crate) bytes_per_second: u32,
}

/// A session's private network.
#[derive(Debug)]
pub(crate) struct Network {
    /// Where its hosts are made from.
    nursery: Arc<Netns>,
    hosts: RwLock<Vec<Arc<Host>>>,
    switch: Arc<Switch>,
    labs: Labs,
    bounds: Bounds,
    /// Serializes `add_host`, so two cannot take one address.
    adding: tokio::sync::Mutex<()>,
    stop: CancellationToken,
    tasks: TaskTracker,
    /// Its place under `Limits::max_networks`.
    _place: OwnedSemaphorePermit,
}

impl Drop for Network {
    fn drop(&mut self) {
        self.close();
    }
}

/// The namespace every host is made from (see `host::nursery`), once this system has been seen
/// to let the daemon make namespaces and TUN devices; the error says why not.
pub(crate) fn probe() -> io::Result<Arc<Netns>> {
    let nursery = host::nursery()?;
    Host::make(&nursery, "probe".into(), Ipv4Addr::new(10, 0, 0, 1), LAN_PREFIX)?;
    Ok(Arc::new(nursery))
}

impl Network {
    /// Makes a network with its first host (and the lab host, with the services, when `labs`).
    /// Runs on the session's runtime: the links are its tasks.
    pub(crate) async fn new(
        nursery: Arc<Netns>,
        bounds: Bounds,
        labs: bool,
        place: OwnedSemaphorePermit,
    ) -> io::Result<Network> {
        let switch = Arc::new(Switch {
            ports: RwLock::new(Vec::new()),
            broadcast: Ipv4Addr::from(u32::from(LAN) | (u32::MAX >> LAN_PREFIX)),
            capture: Mutex::new(Capture::new(bounds.capture_bytes)),
            // A tenth of a second's bytes at once, and a full-size packet at least.
            budget: (bounds.bytes_per_second > 0).then(|| {
                let rate = bounds.bytes_per_second;
                Mutex::new(crate::rate::TokenBucket::new(rate, (rate / 10).max(64 << 10)))
            }),
        });
        let mut network = Network {
            nursery,
            hosts: RwLock::new(Vec::new()),
            switch,
            labs: Labs::default(),
            bounds,
            adding: tokio::sync::Mutex::new(()),
            stop: CancellationToken::new(),
            tasks: TaskTracker::new(),
            _place: place,
        };
        network.attach(FIRST_HOST.into(), first_address()).await?;
        if labs {
            let lab = network.attach(LAB_HOST.into(), LAB_ADDRESS).await?;
            network.labs = crate::labs::start_in(&lab.netns, lab.ip, &network.stop, &network.tasks).await?;
        }
        Ok(network)
    }

    /// Stops the links and the lab services (at the session's end); the hosts go with the last
    /// holder of their namespace.
    pub(crate) fn close(&self) {
        self.stop.cancel();
        self.tasks.close();
    }

    /// Makes a host at `ip` and connects it to the LAN.
    async fn attach(&self, name: String, ip: Ipv4Addr) -> io::Result<Arc<Host>> {
        let nursery = Arc::clone(&self.nursery);
        let (host, tun) = tokio::task::spawn_blocking(move || Host::make(&nursery, name, ip, LAN_PREFIX))
            .await
            .map_err(|_| io::Error::other("making a host failed unexpectedly"))??;
        let host = Arc::new(host);
        let seed = u64::from(u32::from(ip)) ^ std::process::id() as u64 ^ now_nanos();
        let shaper = Shaper::new(seed, self.bounds.link_queue_bytes, self.bounds.link_packets_per_second);
        let port = Arc::new(Port::new(ip, tun, shaper)?);
        let from = {
            let mut ports = crate::write(&self.switch.ports);
            ports.push(Arc::clone(&port));
            ports.len() - 1
        };
        crate::write(&self.hosts).push(Arc::clone(&host));
        self.tasks.spawn(link::carry(Arc::clone(&self.switch), from, port, self.stop.clone()));
        Ok(host)
    }

    /// Adds a host named `name` (see [`check_name`]) at the next free address.
    pub(crate) async fn add_host(&self, name: &str) -> OpResult<HostInfo> {
        let _one_at_a_time = self.adding.lock().await;
        let name = check_name(name)?;
        let ip = {
            let hosts = crate::read(&self.hosts);
            if hosts.iter().any(|h| h.name == name) {
                return Err(OpError::refused(libc::EEXIST, format!("the network already has a host named {name}")));
            }
            if hosts.len() >= self.bounds.max_hosts {
                let max = self.bounds.max_hosts;
                return Err(OpError::refused(
                    libc::ENOSPC,
                    format!("a private network has at most {max} hosts (the lab's included)"),
                ));
            }
            (1..254).map(|n| Ipv4Addr::from(u32::from(LAN) | n)).find(|ip| hosts.iter().all(|h| h.ip != *ip))
        };
        let ip = ip.ok_or_else(|| OpError::refused(libc::ENOSPC, "the LAN has no free address"))?;
        let host = self.attach(name, ip).await?;
        Ok(info(&host, false))
    }

    /// The host called `name`, or the first host.
    pub(crate) fn host(&self, name: Option<&str>) -> OpResult<Arc<Host>> {
        let hosts = crate::read(&self.hosts);
        let found = match name {
            None => hosts.first(),
            Some(name) => hosts.iter().find(|h| h.name.eq_ignore_ascii_case(name)),
        };
        found.cloned().ok_or_else(|| {
            let names: Vec<&str> = hosts.iter().map(|h| h.name.as_str()).collect();
            OpError::refused(
                libc::ENOENT,
                format!("the network has no host named {:?}; its hosts are {}", name.unwrap_or(""), names.join(", ")),
            )
        })
    }

    /// The address of the host called `name` (any case), for the resolver.
    pub(crate) fn address_of(&self, name: &str) -> Option<Ipv4Addr> {
        let name = name.strip_suffix('.').unwrap_or(name);
        crate::read(&self.hosts).iter().find(|h| h.name.eq_ignore_ascii_case(name)).map(|h| h.ip)
    }

    /// Whether `name` is a name of this network: a host's, or `localhost`.
    pub(crate) fn knows(&self, name: &str) -> bool {
        is_localhost(name) || self.address_of(name).is_some()
    }

    /// The address `name` has here, for a socket of `family` (a name that is not an address
    /// literal of that family): a host's name, or `localhost`. Anything else goes to the C library
    /// as numbers only (`AI_NUMERICHOST`), so an address of the other family gets the C library's
    /// own answer (`gaierror(EAI_ADDRFAMILY)`), and any other name is `gaierror(EAI_NONAME)`: there
    /// is no DNS in a private network.
    pub(crate) async fn resolve(
        &self,
        resolver: &Resolver,
        share: &DnsShare,
        name: &str,
        family: i32,
    ) -> OpResult<IpAddr> {
        if is_localhost(name) {
            return Ok(if family == AF_INET6 {
                IpAddr::V6(Ipv6Addr::LOCALHOST)
            } else {
                IpAddr::V4(Ipv4Addr::LOCALHOST)
            });
        }
        match (self.address_of(name), family) {
            (Some(ip), AF_INET) => return Ok(IpAddr::V4(ip)),
            (Some(ip), AF_INET6) => return Ok(IpAddr::V6(host::ipv6_of(ip))),
            _ => {}
        }
        let query = Query { host: Some(name.to_owned()), family, flags: libc::AI_NUMERICHOST, ..Query::default() };
        let answers = resolver.getaddrinfo(share, query).await?;
        answers
            .iter()
            .find_map(|a| match &a.address {
                Address::Inet { host, .. } | Address::Inet6 { host, .. } => host.parse().ok(),
                Address::Unix(_) => None,
            })
            .ok_or_else(|| OpError::Os(OsError::gai(EAI_NONAME, None)))
    }

    /// `getaddrinfo` in this network: a host's name is its address (with `AI_CANONNAME`, the
    /// canonical name is the host's); `localhost`, numbers and `None` go to the C library as
    /// anywhere; any other name is `gaierror(EAI_NONAME)`, with no lookup (there is no DNS).
    pub(crate) async fn getaddrinfo(
        &self,
        resolver: &Resolver,
        share: &DnsShare,
        mut query: Query,
    ) -> OpResult<Vec<AddrInfo>> {
        let host = query.host.clone().filter(|h| !is_localhost(h));
        let Some(name) = host else { return resolver.getaddrinfo(share, query).await };
        // Numbers only: a name no host has is not looked up anywhere.
        query.flags |= libc::AI_NUMERICHOST;
        let Some(ip) = self.address_of(&name) else { return resolver.getaddrinfo(share, query).await };
        // A host has an IPv4 and an IPv6 address; for AF_UNSPEC, IPv4 first, as the C library
        // orders an IPv4 address before a unique local IPv6 one (RFC 6724's default policy).
        let canonical = crate::read(&self.hosts).iter().find(|h| h.ip == ip).map(|h| h.name.clone()).unwrap_or(name);
        let addresses: Vec<(i32, String)> = match query.family {
            AF_INET => vec![(AF_INET, ip.to_string())],
            AF_INET6 => vec![(AF_INET6, host::ipv6_of(ip).to_string())],
            _ => vec![(AF_INET, ip.to_string()), (AF_INET6, host::ipv6_of(ip).to_string())],
        };
        let wants_canonical = query.flags & libc::AI_CANONNAME != 0;
        let mut answers = Vec::new();
        for (family, address) in addresses {
            let one = Query { host: Some(address), family, ..query.clone() };
            answers.extend(resolver.getaddrinfo(share, one).await?);
        }
        if wants_canonical {
            for answer in answers.iter_mut().filter(|a| !a.canonname.is_empty()) {
                answer.canonname.clone_from(&canonical);
            }
        }
        Ok(answers)
    }

    /// What `hello` and `network` say about it.
    pub(crate) fn info(&self) -> NetworkInfo {
        let hosts = crate::read(&self.hosts);
        NetworkInfo {
            mode: "private".into(),
            hosts: hosts.iter().map(|h| info(h, h.name == LAB_HOST && !self.labs.names.is_empty())).collect(),
            lan: Some(format!("{LAN}/{LAN_PREFIX}, fd00::/64")),
            why: None,
        }
    }

    /// The lab services, by name, at their addresses in this network.
    pub(crate) fn labs(&self) -> &std::collections::BTreeMap<String, Address> {
        &self.labs.names
    }

    /// Sets what host `name`'s link does to the packets it sends.
    pub(crate) fn set_link(&self, name: &str, settings: LinkSettings) -> OpResult<LinkSettings> {
        check_link(&settings)?;
        let index = self.index_of(name)?;
        let port = crate::read(&self.switch.ports).get(index).cloned().ok_or_else(OpError::bad_fd)?;
        let mut shaper = crate::lock(&port.shaper);
        shaper.set(settings);
        Ok(*shaper.settings())
    }

    fn index_of(&self, name: &str) -> OpResult<usize> {
        let host = self.host(Some(name))?;
        Ok(crate::read(&self.hosts).iter().position(|h| Arc::ptr_eq(h, &host)).unwrap_or(0))
    }

    /// Packets from number `since` on.
    pub(crate) fn packets(&self, since: Option<u64>, max: Option<usize>) -> PacketsResult {
        let names: Vec<String> = crate::read(&self.hosts).iter().map(|h| h.name.clone()).collect();
        let max = max.unwrap_or(capture::MAX_PACKETS_PER_ANSWER);
        crate::lock(&self.switch.capture).packets(since, max, &names)
    }

    /// The capture as a pcap file.
    pub(crate) fn pcap(&self) -> Vec<u8> {
        crate::lock(&self.switch.capture).pcap()
    }

    /// The kernel's sockets of one host, or of every host, with the host's name.
    pub(crate) fn netstat(&self, name: Option<&str>) -> OpResult<Vec<(String, KernelSocket)>> {
        let hosts: Vec<Arc<Host>> = match name {
            Some(name) => vec![self.host(Some(name))?],
            None => crate::read(&self.hosts).clone(),
        };
        let mut rows = Vec::new();
        for host in hosts {
            rows.extend(host.sockets()?.into_iter().map(|s| (host.name.clone(), s)));
        }
        Ok(rows)
    }
}

/// Whether `name` is `localhost` (any case, with or without the root's dot): every host's own.
/// Whether `ip` is an address of a private network (every network has the same): a host's own
/// (loopback, the unspecified address), the LAN's (10.0.0.0/24, fd00::/64, link-local), or one of
/// its broadcast and multicast groups. Anything else is outside every network.
pub(crate) fn inside(ip: IpAddr) -> bool {
    match crate::policy::space::canonical(ip) {
        IpAddr::V4(v4) => {
            v4.is_loopback()
                || v4.is_unspecified()
                || v4.is_broadcast()
                || v4.is_multicast()
                || u32::from(v4) >> (32 - LAN_PREFIX) == u32::from(LAN) >> (32 - LAN_PREFIX)
        }
        IpAddr::V6(v6) => {
            let first = v6.segments()[0];
            v6.is_loopback()
                || v6.is_unspecified()
                || v6.is_multicast()
                || first & 0xffc0 == 0xfe80
                || v6.segments()[..4] == [0xfd00, 0, 0, 0]
        }
    }
}

fn is_localhost(name: &str) -> bool {
    name.trim_end_matches('.').eq_ignore_ascii_case("localhost")
}

fn first_address() -> Ipv4Addr {
    Ipv4Addr::from(u32::from(LAN) | 1)
}

fn info(host: &Host, labs: bool) -> HostInfo {
    HostInfo {
        name: host.name.clone(),
        address: host.ip.to_string(),
        address6: host::ipv6_of(host.ip).to_string(),
        labs,
    }
}

fn now_nanos() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos().into())
}

/// A host name as RFC 1123 allows one label: a letter, then letters, digits and `-`, at most 63,
/// not ending in `-`; kept in lower case. `localhost` is every host's own.
pub(crate) fn check_name(name: &str) -> OpResult<String> {
    let ok = (1..=63).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_alphabetic())
        && !name.ends_with('-')
        && name.chars().all(|c| c.is_ascii_alphanumeric() || c == '-');
    if !ok {
        return Err(OpError::refused(
            libc::EINVAL,
            "a host name is a letter, then letters, digits and '-', at most 63 in all, not ending in '-'",
        ));
    }
    let name = name.to_ascii_lowercase();
    if name == "localhost" {
        return Err(OpError::refused(libc::EINVAL, "localhost is every host's name for itself"));
    }
    Ok(name)
}

/// Link settings within their ranges.
fn check_link(s: &LinkSettings) -> OpResult<()> {
    let share = |v: f64| (0.0..=1.0).contains(&v);
    let seconds = |v: f64| (0.0..=10.0).contains(&v);
    if !(share(s.loss) && share(s.duplicate) && share(s.reorder)) {
        return Err(OpError::refused(libc::EINVAL, "loss, duplicate and reorder are shares from 0 to 1"));
    }
    if !(seconds(s.delay) && seconds(s.jitter)) {
        return Err(OpError::refused(libc::EINVAL, "delay and jitter are seconds from 0 to 10"));
    }
    if s.rate.is_some_and(|r| r < 8_000) {
        return Err(OpError::refused(libc::EINVAL, "a rate is at least 8000 bits per second"));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn inside_is_a_hosts_own_and_the_lans_addresses() {
        let ip = |s: &str| s.parse::<IpAddr>().unwrap_or_else(|e| panic!("{s}: {e}"));
        for yes in [
            "127.0.0.1",
            "127.9.9.9",
            "0.0.0.0",
            "10.0.0.1",
            "10.0.0.255",
            "255.255.255.255",
            "224.0.0.1",
            "::1",
            "::",
            "fd00::2",
            "fe80::1",
            "ff02::1",
            "::ffff:10.0.0.2",
            "::ffff:127.0.0.1",
        ] {
            assert!(inside(ip(yes)), "{yes}");
        }
        for no in [
            "10.0.1.1",
            "10.1.0.1",
            "192.0.2.10",
            "8.8.8.8",
            "fd00:0:0:1::2",
            "fd01::2",
            "2001:db8::1",
            "::ffff:192.0.2.1",
        ] {
            assert!(!inside(ip(no)), "{no}");
        }
    }

    #[test]
    fn host_names_are_rfc_1123_labels_in_lower_case() {
        assert_eq!(check_name("Server-2").ok().as_deref(), Some("server-2"));
        let longest = "a".repeat(63);
        assert!(check_name(&longest).is_ok());
        for bad in ["", "2pc", "pc_1", "pc-", "pc.lan", "é", "LocalHost", &"a".repeat(64)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn link_settings_are_checked_whole() {
        assert!(check_link(&LinkSettings::default()).is_ok());
        let ok = LinkSettings { loss: 1.0, duplicate: 0.5, reorder: 0.1, delay: 10.0, jitter: 0.0, rate: Some(8_000) };
        assert!(check_link(&ok).is_ok());
        for bad in [
            LinkSettings { loss: -0.1, ..ok },
            LinkSettings { duplicate: f64::NAN, ..ok },
            LinkSettings { delay: 10.5, ..ok },
            LinkSettings { jitter: f64::INFINITY, ..ok },
            LinkSettings { rate: Some(7_999), ..ok },
        ] {
            assert!(check_link(&bad).is_err(), "{bad:?}");
        }
    }
}
