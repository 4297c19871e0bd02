//! The LAN the daemon carries: each host's `eth0` is a TUN device, and one task per host reads the
//! packets its kernel sends there, records them in the capture, passes them through the host's
//! [`Shaper`] (loss, delay, ...), and writes each to the `eth0` of the host it is addressed to
//! (every other host, for a broadcast). A packet for an address no host has goes nowhere, as on a
//! LAN where nobody answers; nothing leaves the network.

use super::capture::{Capture, Fate};
use super::shaper::{Shaper, Verdict};
use std::cmp::Reverse;
use std::collections::{BinaryHeap, VecDeque};
use std::io;
use std::net::{Ipv4Addr, Ipv6Addr};
use std::os::fd::{AsRawFd, OwnedFd};
use std::sync::{Arc, Mutex, RwLock};
use std::time::Instant;
use tokio::io::unix::AsyncFd;
use tokio::sync::Notify;
use tokio_util::sync::CancellationToken;

/// The most packets a link reads before it lets other work run.
const READ_BATCH: usize = 64;

/// The largest packet a TUN device gives (its MTU is 1500; this leaves room).
const MAX_PACKET: usize = 65_535;

/// The most packets a host's kernel answers at once that are picked up with the packet that
/// caused them (see [`Port::deliver`]); more wait for the host's own task.
const PICKUP: usize = 16;

/// One host's end of the LAN.
#[derive(Debug)]
pub(crate) struct Port {
    pub(crate) ip: Ipv4Addr,
    pub(crate) ip6: Ipv6Addr,
    tun: AsyncFd<OwnedFd>,
    pub(crate) shaper: Mutex<Shaper>,
    /// Packets the host's kernel sent in answer to one just delivered, read then with the time
    /// they were read, for the host's task to carry.
    early: Mutex<VecDeque<(Instant, Box<[u8]>)>>,
    picked_up: Notify,
}

impl Port {
    pub(crate) fn new(ip: Ipv4Addr, tun: OwnedFd, shaper: Shaper) -> io::Result<Port> {
        // SAFETY: an OwnedFd owns its fd from creation to drop and as_raw_fd always returns that
        // fd; the AsyncFd owns the OwnedFd, so the fd stays open while it is registered.
        let tun = unsafe { AsyncFd::register_with_interest(tun, tokio::io::Interest::READABLE) }
            .map_err(|e| e.into_parts().1)?;
        let ip6 = super::host::ipv6_of(ip);
        Ok(Port { ip, ip6, tun, shaper: Mutex::new(shaper), early: Mutex::default(), picked_up: Notify::new() })
    }

    /// Hands a packet to this host's kernel, as if it arrived on its `eth0`. A TUN write does not
    /// wait: the kernel takes the packet or drops it, as a busy network card would.
    ///
    /// The kernel handles the packet within the write, and what it sends in answer at once (the
    /// ACK that completes a handshake, a RST) is already on `eth0` when the write returns. It is
    /// read now, so that its time in the capture is when it was sent: read later by the host's
    /// task, it could be stamped after the answer to the call it belongs to (`connect` returns as
    /// soon as the SYN-ACK arrives).
    fn deliver(&self, packet: &[u8]) {
        let fd = self.tun.get_ref().as_raw_fd();
        // SAFETY: writes `packet.len()` bytes from a live slice to a descriptor the AsyncFd owns.
        let _ = unsafe { libc::write(fd, packet.as_ptr().cast(), packet.len()) };
        let mut early = crate::lock(&self.early);
        // eth0's MTU is 1500 (pages cannot change it), so a packet fits.
        let mut buf = [0u8; 2048];
        let mut picked = false;
        while early.len() < PICKUP {
            // SAFETY: reads at most buf.len() bytes into a buffer we own, from a non-blocking fd.
            let n = unsafe { libc::read(fd, buf.as_mut_ptr().cast(), buf.len()) };
            let Ok(n) = usize::try_from(n) else { break };
            if n == 0 {
                break;
            }
            early.push_back((Instant::now(), buf[..n].into()));
            picked = true;
        }
        if picked {
            self.picked_up.notify_one();
        }
    }
}

/// The LAN: every host's port, by host number, the LAN's broadcast address, and the capture.
#[derive(Debug)]
pub(crate) struct Switch {
    pub(crate) ports: RwLock<Vec<Arc<Port>>>,
    pub(crate) broadcast: Ipv4Addr,
    pub(crate) capture: Mutex<Capture>,
    /// `Limits::network_bytes_per_second`: what all the hosts together may send.
    pub(crate) budget: Option<Mutex<crate::rate::TokenBucket>>,
}

impl Switch {
    /// The hosts a packet from host `from` is for: the one with its destination address, or every
    /// other host for a broadcast; none for an address no host has.
    fn route(&self, from: usize, packet: &[u8]) -> Vec<usize> {
        let ports = crate::read(&self.ports);
        let everyone = || (0..ports.len()).filter(|&i| i != from).collect();
        let found = match packet.first().map(|b| b >> 4) {
            Some(4) => {
                let Some(dst) = packet.get(16..20) else { return Vec::new() };
                let dst = Ipv4Addr::new(dst[0], dst[1], dst[2], dst[3]);
                if dst == self.broadcast || dst == Ipv4Addr::BROADCAST {
                    return everyone();
                }
                ports.iter().position(|p| p.ip == dst)
            }
            Some(6) => {
                let Some(dst) = packet.get(24..40).and_then(|b| <[u8; 16]>::try_from(b).ok()) else {
                    return Vec::new();
                };
                let dst = Ipv6Addr::from(dst);
                if dst.is_multicast() {
                    return everyone();
                }
                ports.iter().position(|p| p.ip6 == dst)
            }
            _ => None,
        };
        found.filter(|&i| i != from).into_iter().collect()
    }

    fn deliver(&self, to: &[usize], packet: &[u8]) {
        let ports = crate::read(&self.ports);
        for &i in to {
            if let Some(port) = ports.get(i) {
                port.deliver(packet);
            }
        }
    }
}

/// A packet on its way, due to leave the link at `at`.
struct InFlight {
    at: Instant,
    order: u64,
    to: Vec<usize>,
    packet: Box<[u8]>,
}

impl PartialEq for InFlight {
    fn eq(&self, other: &Self) -> bool {
        (self.at, self.order) == (other.at, other.order)
    }
}
impl Eq for InFlight {}
impl PartialOrd for InFlight {
    fn partial_cmp(&self, other: &Self) -> Option<std::cmp::Ordering> {
        Some(self.cmp(other))
    }
}
impl Ord for InFlight {
    fn cmp(&self, other: &Self) -> std::cmp::Ordering {
        (self.at, self.order).cmp(&(other.at, other.order))
    }
}

/// Carries the packets host `from` sends until `stop`.
pub(crate) async fn carry(switch: Arc<Switch>, from: usize, port: Arc<Port>, stop: CancellationToken) {
    let mut buf = vec![0u8; MAX_PACKET];
    let mut waiting: BinaryHeap<Reverse<InFlight>> = BinaryHeap::new();
    let mut order = 0u64;
    loop {
        let due = waiting.peek().map(|Reverse(p)| p.at);
        tokio::select! {
            () = stop.cancelled() => return,
            () = port.picked_up.notified() => {
                let early: Vec<_> = crate::lock(&port.early).drain(..).collect();
                for (at, packet) in early {
                    send(&switch, from, &port, &packet, at, &mut order, &mut waiting);
                }
            }
            () = sleep_until(due) => {
                let now = Instant::now();
                while waiting.peek().is_some_and(|Reverse(p)| p.at <= now) {
                    let Some(Reverse(p)) = waiting.pop() else { break };
                    switch.deliver(&p.to, &p.packet);
                    crate::lock(&port.shaper).left(p.packet.len());
                }
            }
            ready = port.tun.readable() => {
                let Ok(mut guard) = ready else { return };
                for _ in 0..READ_BATCH {
                    let read = guard.try_io(|fd| {
                        // SAFETY: reads at most buf.len() bytes into a buffer we own.
                        let n = unsafe { libc::read(fd.get_ref().as_raw_fd(), buf.as_mut_ptr().cast(), buf.len()) };
                        if n < 0 { Err(io::Error::last_os_error()) } else { Ok(n as usize) }
                    });
                    match read {
                        Ok(Ok(n)) => {
                            // Anything picked up earlier was sent earlier: carried first.
                            let early: Vec<_> = crate::lock(&port.early).drain(..).collect();
                            for (at, packet) in early {
                                send(&switch, from, &port, &packet, at, &mut order, &mut waiting);
                            }
                            send(&switch, from, &port, &buf[..n], Instant::now(), &mut order, &mut waiting);
                        }
                        Ok(Err(e)) => {
                            tracing::debug!(error = %e, "a host's link could not be read; it stops");
                            return;
                        }
                        Err(_would_block) => break,
                    }
                }
            }
        }
    }
}

/// Waits until `at`, or for ever when there is nothing to wait for.
async fn sleep_until(at: Option<Instant>) {
    match at {
        Some(at) => tokio::time::sleep_until(at.into()).await,
        None => std::future::pending().await,
    }
}

/// One packet host `from` sent at `now`: recorded, shaped, and delivered now; the copies due
/// later are pushed on `waiting`.
fn send(
    switch: &Switch,
    from: usize,
    port: &Port,
    packet: &[u8],
    now: Instant,
    order: &mut u64,
    waiting: &mut BinaryHeap<Reverse<InFlight>>,
) {
    let to = switch.route(from, packet);
    let record = |to: Vec<usize>, fate| crate::lock(&switch.capture).record(now, from, to, fate, packet);
    if to.is_empty() {
        return record(to, Fate::NoHost);
    }
    if let Some(budget) = &switch.budget
        && !crate::lock(budget).try_take_n(packet.len() as f64)
    {
        return record(Vec::new(), Fate::OverNetworkRate);
    }
    let verdict = crate::lock(&port.shaper).admit(packet.len(), now);
    let (times, reordered) = match verdict {
        Verdict::Send { times, reordered } => (times, reordered),
        Verdict::Lost => return record(Vec::new(), Fate::Lost),
        Verdict::QueueFull => return record(Vec::new(), Fate::QueueFull),
        Verdict::OverRate => return record(Vec::new(), Fate::OverRate),
    };
    let fate = match (times.len(), reordered) {
        (2.., _) => Fate::Duplicated,
        (_, true) => Fate::Reordered,
        _ => Fate::Delivered,
    };
    record(to.clone(), fate);
    for at in times {
        if at <= now {
            switch.deliver(&to, packet);
            crate::lock(&port.shaper).left(packet.len());
        } else {
            *order += 1;
            waiting.push(Reverse(InFlight { at, order: *order, to: to.clone(), packet: packet.into() }));
        }
    }
}
