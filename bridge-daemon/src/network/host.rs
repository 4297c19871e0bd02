//! A host: a network namespace with its loopback and one more interface, `eth0`, a TUN device
//! whose packets the daemon carries (`link`). Its address is on the network's LAN, with the LAN's
//! route and broadcast address, and a route for the limited broadcast (255.255.255.255) out of
//! `eth0`; there is no other route, so nothing outside the LAN can be reached from it
//! (`ENETUNREACH`, as on a computer with no gateway).

use super::kernel::{KernelSocket, Tables};
use crate::netns::{Netns, device_up, ifreq};
use socket2::{Domain, Socket, Type};
use std::fs::OpenOptions;
use std::io;
use std::net::Ipv4Addr;
use std::os::fd::{AsRawFd, OwnedFd};
use std::os::unix::fs::OpenOptionsExt;
use std::sync::Mutex;

/// The name of a host's LAN interface.
const ETH0: &str = "eth0";

/// One computer of a private network.
#[derive(Debug)]
pub(crate) struct Host {
    pub(crate) name: String,
    pub(crate) ip: Ipv4Addr,
    pub(crate) netns: Netns,
    tables: Mutex<Tables>,
}

impl Host {
    /// Makes the host's namespace (from `parent`: see [`nursery`]), its `eth0` with address `ip`
    /// on a LAN of `prefix` bits, and returns it with the TUN device's file descriptor
    /// (non-blocking): the host's end of its link.
    pub(crate) fn make(parent: &Netns, name: String, ip: Ipv4Addr, prefix: u8) -> io::Result<(Host, OwnedFd)> {
        let (netns, (tun, tables)) = parent.child_with(move || {
            let tun = eth0(ip, prefix)?;
            // Ports below 1024 are any program's on this host, as for root on a computer of
            // one's own (the daemon may not be root; the namespace's setting is its own).
            let _ = std::fs::write("/proc/sys/net/ipv4/ip_unprivileged_port_start", "0");
            Ok((tun, Tables::open_here()?))
        })?;
        Ok((Host { name, ip, netns, tables: Mutex::new(tables) }, tun))
    }

    /// The kernel's table of this host's TCP and UDP sockets, now.
    pub(crate) fn sockets(&self) -> io::Result<Vec<KernelSocket>> {
        crate::lock(&self.tables).read()
    }
}

/// TCP connections a host's own table is sized for (the kernel rounds it to a power of two).
const TCP_TABLE: &str = "1024";
/// UDP sockets a host's own table is sized for.
const UDP_TABLE: &str = "256";

/// The namespace hosts are made from, once per daemon: it gives each host TCP and UDP tables of its
/// own (`tcp_child_ehash_entries`, `udp_child_hash_entries`), so a host's sockets are not in the
/// machine's tables, and reading a host's `/proc/net/tcp` walks 1,024 buckets, not the machine's
/// hundreds of thousands (7 ms a read on this machine kind, before). A kernel without the settings
/// (before Linux 5.19 and 6.2) makes hosts that share the machine's tables, which still works.
pub(crate) fn nursery() -> io::Result<Netns> {
    let (netns, ()) = Netns::new_with(|| {
        let _ = std::fs::write("/proc/sys/net/ipv4/tcp_child_ehash_entries", TCP_TABLE);
        let _ = std::fs::write("/proc/sys/net/ipv4/udp_child_hash_entries", UDP_TABLE);
        Ok(())
    })?;
    Ok(netns)
}

/// Makes `eth0` in the calling thread's namespace: a TUN device (raw IP packets, no packet
/// information header), with its address, the LAN's netmask and broadcast address, up.
fn eth0(ip: Ipv4Addr, prefix: u8) -> io::Result<OwnedFd> {
    let tun: OwnedFd = OpenOptions::new()
        .read(true)
        .write(true)
        .custom_flags(libc::O_NONBLOCK | libc::O_CLOEXEC)
        .open("/dev/net/tun")?
        .into();
    let mut request = ifreq(ETH0);
    request.ifr_ifru.ifru_flags = (libc::IFF_TUN | libc::IFF_NO_PI) as libc::c_short;
    // SAFETY: TUNSETIFF reads the ifreq we own and attaches the descriptor to a new device.
    if unsafe { libc::ioctl(tun.as_raw_fd(), libc::TUNSETIFF, &request) } != 0 {
        return Err(io::Error::last_os_error());
    }
    // No router on this LAN: no solicitations for one, no advertisements taken, and no duplicate
    // address detection (the daemon gives each host its own address).
    for (setting, value) in [("accept_ra", "0"), ("router_solicitations", "0"), ("accept_dad", "0")] {
        let _ = std::fs::write(format!("/proc/sys/net/ipv6/conf/{ETH0}/{setting}"), value);
    }
    let probe = Socket::new(Domain::IPV4, Type::DGRAM.cloexec(), None)?;
    let mask = u32::MAX.checked_shl(32 - u32::from(prefix)).unwrap_or(0);
    let broadcast = Ipv4Addr::from(u32::from(ip) | !mask);
    for (request, value) in
        [(libc::SIOCSIFADDR, ip), (libc::SIOCSIFNETMASK, Ipv4Addr::from(mask)), (libc::SIOCSIFBRDADDR, broadcast)]
    {
        set_address(&probe, request, value)?;
    }
    device_up(&probe, ETH0)?;
    limited_broadcast_route(&probe)?;
    // Its IPv6 address on the LAN, where the kernel has IPv6.
    if let Ok(probe6) = Socket::new(Domain::IPV6, Type::DGRAM.cloexec(), None) {
        set_address6(&probe6, ipv6_of(ip), LAN6_PREFIX)?;
    }
    Ok(tun)
}

/// The LAN's IPv6 prefix length.
const LAN6_PREFIX: u32 = 64;

/// A host's IPv6 address: `fd00::` and the last byte of its IPv4 address (`10.0.0.2` is `fd00::2`),
/// in the unique local range, which nothing outside routes.
pub(crate) fn ipv6_of(ip: Ipv4Addr) -> std::net::Ipv6Addr {
    std::net::Ipv6Addr::new(0xfd00, 0, 0, 0, 0, 0, 0, u16::from(ip.octets()[3]))
}

fn set_address6(probe: &Socket, ip: std::net::Ipv6Addr, prefix: u32) -> io::Result<()> {
    let mut index = ifreq(ETH0);
    // SAFETY: SIOCGIFINDEX fills the ifreq we own with the named device's index.
    if unsafe { libc::ioctl(probe.as_raw_fd(), libc::SIOCGIFINDEX, &mut index) } != 0 {
        return Err(io::Error::last_os_error());
    }
    let request = libc::in6_ifreq {
        ifr6_addr: libc::in6_addr { s6_addr: ip.octets() },
        ifr6_prefixlen: prefix,
        // SAFETY: SIOCGIFINDEX set the ifindex member of the union.
        ifr6_ifindex: unsafe { index.ifr_ifru.ifru_ifindex },
    };
    // SAFETY: SIOCSIFADDR on an IPv6 socket reads the in6_ifreq we own.
    if unsafe { libc::ioctl(probe.as_raw_fd(), libc::SIOCSIFADDR, &request) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// `sockaddr_in` for `ip`, port 0, as the `sockaddr` an `ifreq` or `rtentry` carries.
fn sockaddr(ip: Ipv4Addr) -> libc::sockaddr {
    let sin = libc::sockaddr_in {
        sin_family: libc::AF_INET as libc::sa_family_t,
        sin_port: 0,
        sin_addr: libc::in_addr { s_addr: u32::from(ip).to_be() },
        sin_zero: [0; 8],
    };
    // SAFETY: sockaddr_in and sockaddr are both 16 bytes of plain data; this is how the kernel
    // reads them.
    unsafe { std::mem::transmute::<libc::sockaddr_in, libc::sockaddr>(sin) }
}

fn set_address(probe: &Socket, request: libc::Ioctl, ip: Ipv4Addr) -> io::Result<()> {
    let mut ifr = ifreq(ETH0);
    ifr.ifr_ifru.ifru_addr = sockaddr(ip);
    // SAFETY: the SIOCSIF*ADDR requests read the ifreq we own, naming our device.
    if unsafe { libc::ioctl(probe.as_raw_fd(), request, &ifr) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}

/// The kernel's `struct rtentry` (`SIOCADDRT`), as in `<net/route.h>` on 64-bit Linux.
#[repr(C)]
struct RtEntry {
    rt_pad1: libc::c_ulong,
    rt_dst: libc::sockaddr,
    rt_gateway: libc::sockaddr,
    rt_genmask: libc::sockaddr,
    rt_flags: libc::c_ushort,
    rt_pad2: libc::c_short,
    rt_pad3: libc::c_ulong,
    rt_tos: libc::c_uchar,
    rt_class: libc::c_uchar,
    rt_pad4: [libc::c_short; 3],
    rt_metric: libc::c_short,
    rt_dev: *mut libc::c_char,
    rt_mtu: libc::c_ulong,
    rt_window: libc::c_ulong,
    rt_irtt: libc::c_ushort,
}

/// A route for 255.255.255.255 out of `eth0`, so `sendto(b'', ('<broadcast>', port))` reaches the
/// LAN, as on a computer whose default route is there.
fn limited_broadcast_route(probe: &Socket) -> io::Result<()> {
    let mut device = *b"eth0\0";
    let route = RtEntry {
        rt_pad1: 0,
        rt_dst: sockaddr(Ipv4Addr::BROADCAST),
        rt_gateway: sockaddr(Ipv4Addr::UNSPECIFIED),
        rt_genmask: sockaddr(Ipv4Addr::BROADCAST),
        rt_flags: libc::RTF_UP | libc::RTF_HOST,
        rt_pad2: 0,
        rt_pad3: 0,
        rt_tos: 0,
        rt_class: 0,
        rt_pad4: [0; 3],
        rt_metric: 0,
        rt_dev: device.as_mut_ptr().cast(),
        rt_mtu: 0,
        rt_window: 0,
        rt_irtt: 0,
    };
    // SAFETY: SIOCADDRT reads the rtentry we own; rt_dev points to a NUL-terminated name that
    // outlives the call.
    if unsafe { libc::ioctl(probe.as_raw_fd(), libc::SIOCADDRT, &route) } != 0 {
        return Err(io::Error::last_os_error());
    }
    Ok(())
}
