//! Private networks (issue 18): each session's hosts are network namespaces on a LAN the daemon
//! carries. These tests make them for real, so they need root (CI runs as root); without it the
//! daemon must fall back to the shared loopback and say why, and that is what they check instead.

use bridge_daemon::NetworkMode;
use bridge_protocol::params::{LinkSettings, PacketInfo};
use sockbridge_tests::wasm_client::{
    self, AF_INET, AF_INET6, Address, Bridge, SO_BROADCAST, SOCK_DGRAM, SOCK_STREAM, SOL_SOCKET, Socket,
};
use sockbridge_tests::{SpawnOptions, Spawned, TestDaemon, errname, within};
use std::time::Duration;

fn root() -> bool {
    // SAFETY: geteuid takes no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

/// A daemon giving every session a private network, and one session; `None` (after checking the
/// fallback says why) where this process may not make namespaces.
async fn private() -> Option<(TestDaemon, Bridge)> {
    let daemon = TestDaemon::start_with(|c| {
        c.network = NetworkMode::Private;
        c.labs = true;
    })
    .await;
    let bridge = daemon.client().await;
    let network = bridge.hello().network.clone().expect("hello says how the network is");
    if !root() {
        assert_eq!(network.mode, "shared");
        assert!(network.why.as_deref().is_some_and(|w| w.contains("namespaces")), "{network:?}");
        eprintln!("not root: private networks fall back to the shared loopback here; their tests ran as that check");
        return None;
    }
    assert_eq!(network.mode, "private", "{network:?}");
    assert!(bridge.hello().features.iter().any(|f| f == "private-network"));
    Some((daemon, bridge))
}

async fn tcp_on(bridge: &Bridge, host: &str) -> Socket {
    bridge.socket_on(Some(host), AF_INET, SOCK_STREAM, 0).await.unwrap()
}

async fn udp_on(bridge: &Bridge, host: &str) -> Socket {
    bridge.socket_on(Some(host), AF_INET, SOCK_DGRAM, 0).await.unwrap()
}

/// Adds pc2; a UDP socket bound to port 9999 of pc1 and an unbound one on pc2, its sender.
async fn udp_across(bridge: &Bridge) -> (Socket, Socket) {
    bridge.add_host("pc2").await.unwrap();
    let receiver = udp_on(bridge, "pc1").await;
    receiver.bind(("", 9999)).await.unwrap();
    (receiver, udp_on(bridge, "pc2").await)
}

/// The packets sent since `since`, after the network has been quiet for a moment.
async fn packets_since(bridge: &Bridge, since: u64) -> Vec<PacketInfo> {
    tokio::time::sleep(Duration::from_millis(100)).await;
    let got = bridge.packets(Some(since), None).await.unwrap();
    assert_eq!(got.missed, 0);
    got.packets
}

/// `"pc2 → pc1 tcp SYN"`-like lines, for readable assertions.
fn summary(packets: &[PacketInfo]) -> Vec<String> {
    packets
        .iter()
        .map(|p| {
            format!("{} → {} {} {} {}", p.from, p.to.join("+"), p.proto, p.flags.as_deref().unwrap_or("-"), p.fate)
        })
        .collect()
}

#[tokio::test]
async fn two_computers_a_wildcard_bind_a_low_port_and_the_handshake_on_the_wire() {
    let Some((_daemon, bridge)) = private().await else { return };
    let network = bridge.network().await.unwrap();
    assert_eq!(network.lan.as_deref(), Some("10.0.0.0/24, fd00::/64"));
    let names: Vec<&str> = network.hosts.iter().map(|h| h.name.as_str()).collect();
    assert_eq!(names, ["pc1", "lab"]);
    let pc2 = bridge.add_host("pc2").await.unwrap();
    assert_eq!((pc2.name.as_str(), pc2.address.as_str(), pc2.address6.as_str()), ("pc2", "10.0.0.2", "fd00::2"));
    assert_eq!(bridge.gethostname().await.unwrap(), "pc1");
    assert_eq!(bridge.gethostbyname("pc2").await.unwrap(), "10.0.0.2");

    // Python's server: bind('', 80) on pc1, a port below 1024, reached from pc2 by name.
    let server = tcp_on(&bridge, "pc1").await;
    server.bind(("", 80)).await.unwrap();
    server.listen(5).await.unwrap();
    assert_eq!(server.getsockname().await.unwrap(), Address::from(("0.0.0.0", 80)));
    let start = bridge.packets(None, None).await.unwrap().next;
    let client = tcp_on(&bridge, "pc2").await;
    within(client.connect(("pc1", 80))).await.unwrap();
    let (conn, peer) = within(server.accept()).await.unwrap();
    let Address::Inet { host, port } = &peer else { panic!("{peer:?}") };
    assert_eq!(host, "10.0.0.2");
    assert_eq!(client.getsockname().await.unwrap(), Address::from(("10.0.0.2", *port)));
    assert_eq!(conn.getsockname().await.unwrap(), Address::from(("10.0.0.1", 80)));
    client.sendall(b"hello").await.unwrap();
    assert_eq!(within(conn.recv(100)).await.unwrap(), b"hello");

    let packets = packets_since(&bridge, start).await;
    let lines = summary(&packets);
    assert_eq!(
        lines[..4],
        [
            "pc2 → pc1 tcp SYN delivered",
            "pc1 → pc2 tcp SYN, ACK delivered",
            "pc2 → pc1 tcp ACK delivered",
            "pc2 → pc1 tcp PSH, ACK delivered",
        ],
        "{lines:#?}"
    );
    assert_eq!(packets[0].dst, Address::from(("10.0.0.1", 80)));
    assert_eq!(packets[1].ack, Some(packets[0].seq.unwrap().wrapping_add(1)), "the SYN's sequence number, plus one");
    assert_eq!(packets[3].len, 5);

    // The client closes first: FIN from pc2 only, until the server closes too.
    let before_close = bridge.packets(None, None).await.unwrap().next;
    client.close().await.unwrap();
    let fins = summary(&packets_since(&bridge, before_close).await);
    assert_eq!(fins, ["pc2 → pc1 tcp FIN, ACK delivered", "pc1 → pc2 tcp ACK delivered"]);
    assert_eq!(within(conn.recv(100)).await.unwrap(), b"", "EOF after the FIN");
    let before_server_close = bridge.packets(None, None).await.unwrap().next;
    conn.close().await.unwrap();
    let last = summary(&packets_since(&bridge, before_server_close).await);
    assert_eq!(last, ["pc1 → pc2 tcp FIN, ACK delivered", "pc2 → pc1 tcp ACK delivered"]);

    // The kernel's own table: pc2 holds the connection in TIME_WAIT (no handle has it any more);
    // the listener on pc1 is the session's.
    let pc2_table = bridge.netstat(Some("pc2")).await.unwrap();
    assert!(
        pc2_table
            .iter()
            .any(|r| r.state == "TIME_WAIT" && r.fd.is_none() && r.remote == Some(Address::from(("10.0.0.1", 80)))),
        "{pc2_table:#?}"
    );
    let pc1_table = bridge.netstat(Some("pc1")).await.unwrap();
    assert!(
        pc1_table
            .iter()
            .any(|r| r.state == "LISTEN" && r.fd == Some(server.fileno()) && r.local == Address::from(("0.0.0.0", 80))),
        "{pc1_table:#?}"
    );

    // The capture opens as a pcap file of raw IP packets.
    let pcap = bridge.pcap().await.unwrap();
    assert_eq!(&pcap[..4], &0xa1b2c3d4u32.to_le_bytes());
    assert_eq!(u32::from_le_bytes(pcap[20..24].try_into().unwrap()), 101, "LINKTYPE_RAW");
}

#[tokio::test]
async fn a_port_nobody_listens_on_is_refused_by_the_kernel_with_a_reset_on_the_wire() {
    let Some((_daemon, bridge)) = private().await else { return };
    bridge.add_host("pc2").await.unwrap();
    // On the same host, over its loopback.
    let local = tcp_on(&bridge, "pc1").await;
    let e = within(local.connect(("127.0.0.1", 81))).await.unwrap_err();
    assert_eq!(errname(&e), "ECONNREFUSED", "{e}");
    // Across the LAN: SYN, then RST from the other host.
    let start = bridge.packets(None, None).await.unwrap().next;
    let remote = tcp_on(&bridge, "pc2").await;
    let e = within(remote.connect(("10.0.0.1", 8080))).await.unwrap_err();
    assert_eq!(errname(&e), "ECONNREFUSED", "{e}");
    assert_eq!(remote.connect_ex(("pc1", 8081)).await.unwrap(), libc::ECONNREFUSED);
    let lines = summary(&packets_since(&bridge, start).await);
    assert_eq!(lines[..2], ["pc2 → pc1 tcp SYN delivered", "pc1 → pc2 tcp RST, ACK delivered"], "{lines:#?}");
}

#[tokio::test]
async fn udp_broadcast_reaches_the_lan_and_closing_a_udp_socket_sends_nothing() {
    let Some((_daemon, bridge)) = private().await else { return };
    bridge.add_host("pc2").await.unwrap();
    bridge.add_host("pc3").await.unwrap();
    let listeners = [udp_on(&bridge, "pc2").await, udp_on(&bridge, "pc3").await];
    for l in &listeners {
        l.bind(("", 5000)).await.unwrap();
    }
    let sender = udp_on(&bridge, "pc1").await;
    sender.setsockopt(SOL_SOCKET, SO_BROADCAST, 1).await.unwrap();
    let start = bridge.packets(None, None).await.unwrap().next;
    sender.sendto(b"to everyone", ("<broadcast>", 5000)).await.unwrap();
    sender.sendto(b"to the subnet", ("10.0.0.255", 5000)).await.unwrap();
    for l in &listeners {
        let (data, from) = within(l.recvfrom(100)).await.unwrap();
        assert_eq!(data, b"to everyone");
        let Some(Address::Inet { host, .. }) = from else { panic!("{from:?}") };
        assert_eq!(host, "10.0.0.1");
        assert_eq!(within(l.recvfrom(100)).await.unwrap().0, b"to the subnet");
    }
    let packets = packets_since(&bridge, start).await;
    assert_eq!(summary(&packets), ["pc1 → lab+pc2+pc3 udp - delivered", "pc1 → lab+pc2+pc3 udp - delivered"]);
    assert_eq!(packets[0].len, 11);
    // Closing UDP sockets puts nothing on the wire.
    let before = bridge.packets(None, None).await.unwrap().next;
    sender.close().await.unwrap();
    for l in &listeners {
        l.close().await.unwrap();
    }
    assert_eq!(packets_since(&bridge, before).await, []);
}

#[tokio::test]
async fn loss_set_on_a_link_drops_that_share_of_datagrams() {
    let Some((_daemon, bridge)) = private().await else { return };
    let (receiver, sender) = udp_across(&bridge).await;
    let set = bridge.set_link("pc2", LinkSettings { loss: 0.25, ..LinkSettings::default() }).await.unwrap();
    assert_eq!(set.loss, 0.25);
    let start = bridge.packets(None, None).await.unwrap().next;
    const SENT: usize = 400;
    // The receiver reads while the sender sends, so its buffer never overflows.
    receiver.settimeout(Some(Duration::from_millis(500))).unwrap();
    let receiving = async {
        let mut received = 0;
        while receiver.recvfrom(100).await.is_ok() {
            received += 1;
        }
        received
    };
    let sending = async {
        for i in 0..SENT {
            sender.sendto(format!("{i}").as_bytes(), ("pc1", 9999)).await.unwrap();
        }
    };
    let (received, ()) = tokio::join!(receiving, sending);
    let packets = packets_since(&bridge, start).await;
    let lost = packets.iter().filter(|p| p.fate == "lost").count();
    assert_eq!(packets.len(), SENT);
    assert_eq!(received + lost, SENT, "every datagram the link did not lose arrived");
    // 25% of 400 is 100; a binomial spread of 8.7, so 60..140 is over four and a half deviations.
    assert!((60..140).contains(&lost), "{lost} of {SENT} lost at 25%");
    // Out-of-range settings are refused, whole.
    let e = bridge.set_link("pc2", LinkSettings { loss: 1.5, ..LinkSettings::default() }).await.unwrap_err();
    assert_eq!(errname(&e), "EINVAL");
    let e = bridge.set_link("nobody", LinkSettings::default()).await.unwrap_err();
    assert_eq!(errname(&e), "ENOENT");
}

#[tokio::test]
async fn reordering_and_delay_show_in_the_order_datagrams_arrive() {
    let Some((_daemon, bridge)) = private().await else { return };
    let (receiver, sender) = udp_across(&bridge).await;
    bridge.set_link("pc2", LinkSettings { reorder: 0.5, delay: 0.01, ..LinkSettings::default() }).await.unwrap();
    for i in 0..40u8 {
        sender.sendto(&[i], ("pc1", 9999)).await.unwrap();
    }
    let mut order = Vec::new();
    for _ in 0..40 {
        order.push(within(receiver.recv(10)).await.unwrap()[0]);
    }
    let mut sorted = order.clone();
    sorted.sort_unstable();
    assert_eq!(sorted, (0..40).collect::<Vec<u8>>(), "every datagram arrives once");
    assert_ne!(order, sorted, "some overtook others: {order:?}");
    let reordered = bridge.packets(None, None).await.unwrap().packets.iter().filter(|p| p.fate == "reordered").count();
    assert!(reordered > 0);
}

#[tokio::test]
async fn names_resolve_only_inside_and_the_labs_run_there() {
    let Some((_daemon, bridge)) = private().await else { return };
    bridge.add_host("server").await.unwrap();
    assert_eq!(bridge.gethostbyname("SERVER").await.unwrap(), "10.0.0.2");
    assert_eq!(bridge.gethostbyname("localhost").await.unwrap(), "127.0.0.1");
    let e = bridge.gethostbyname("example.com").await.unwrap_err();
    assert_eq!(errname(&e), "EAI_NONAME", "no DNS inside: {e}");
    let infos = bridge
        .getaddrinfo(wasm_client::GetaddrinfoParams {
            host: Some("lab".into()),
            port: Some(wasm_client::Service::Port(7)),
            family: AF_INET,
            kind: SOCK_STREAM,
            flags: libc::AI_CANONNAME,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(infos[0].address, Address::from(("10.0.0.254", 7)));
    assert_eq!(infos[0].canonname, "lab");
    // The lab services, on their classic ports on the lab host.
    let labs = &bridge.hello().labs;
    assert_eq!(labs["echo_tcp"], Address::from(("10.0.0.254", 7)));
    assert_eq!(labs["daytime_udp"], Address::from(("10.0.0.254", 13)));
    let echo = tcp_on(&bridge, "pc1").await;
    echo.connect(labs["echo_tcp"].clone()).await.unwrap();
    echo.sendall(b"ping").await.unwrap();
    assert_eq!(within(echo.recv(10)).await.unwrap(), b"ping");
    // IPv6 on the LAN: a host's name is its fd00:: address for an IPv6 socket, and
    // getaddrinfo(AF_UNSPEC) gives IPv4 first, then IPv6, as the C library orders them.
    let six = bridge.socket_on(Some("server"), AF_INET6, SOCK_STREAM, 0).await.unwrap();
    six.bind(("::", 7000)).await.unwrap();
    six.listen(1).await.unwrap();
    let start = bridge.packets(None, None).await.unwrap().next;
    let client = bridge.socket_on(Some("pc1"), AF_INET6, SOCK_STREAM, 0).await.unwrap();
    client.connect(("server", 7000)).await.unwrap();
    let (_conn, peer) = within(six.accept()).await.unwrap();
    let Address::Inet6 { host, .. } = &peer else { panic!("{peer:?}") };
    assert_eq!(host, "fd00::1");
    let first = &packets_since(&bridge, start).await[0];
    assert_eq!((first.flags.as_deref(), first.dst.clone()), (Some("SYN"), Address::from(("fd00::2", 7000, 0, 0))));
    let both = bridge
        .getaddrinfo(wasm_client::GetaddrinfoParams {
            host: Some("server".into()),
            port: Some(wasm_client::Service::Port(80)),
            kind: SOCK_STREAM,
            ..Default::default()
        })
        .await
        .unwrap();
    let addresses: Vec<Address> = both.iter().map(|i| i.address.clone()).collect();
    assert_eq!(addresses, [Address::from(("10.0.0.2", 80)), Address::from(("fd00::2", 80, 0, 0))]);
    // Hosts: names are checked, and there is a limit.
    for bad in ["", "9lives", "a_b", "pc-", "localhost"] {
        let e = bridge.add_host(bad).await.unwrap_err();
        assert_eq!(errname(&e), "EINVAL", "{bad:?}: {e}");
    }
    assert_eq!(errname(&bridge.add_host("server").await.unwrap_err()), "EEXIST");
    // pc1, lab and server so far.
    let max = TestDaemon::limits().max_hosts_per_network;
    for i in 3..max {
        bridge.add_host(&format!("h{i}")).await.unwrap();
    }
    assert_eq!(bridge.network().await.unwrap().hosts.len(), max);
    assert_eq!(errname(&bridge.add_host("onemore").await.unwrap_err()), "ENOSPC");
    let e = bridge.socket_on(Some("nowhere"), AF_INET, SOCK_STREAM, 0).await.unwrap_err();
    assert_eq!(errname(&e), "ENOENT");
}

#[tokio::test]
async fn nothing_outside_the_network_is_reachable() {
    let Some((daemon, bridge)) = private().await else { return };
    // A listener on the daemon computer's real loopback: pc1's 127.0.0.1 is its own.
    let outside = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = outside.local_addr().unwrap().port();
    let s = tcp_on(&bridge, "pc1").await;
    let e = within(s.connect(("127.0.0.1", port))).await.unwrap_err();
    assert_eq!(errname(&e), "ECONNREFUSED", "{e}");
    // No route off the LAN (a documentation address; nothing is sent anywhere).
    let s = tcp_on(&bridge, "pc1").await;
    let e = within(s.connect(("192.0.2.1", 80))).await.unwrap_err();
    assert_eq!(errname(&e), "ENETUNREACH", "{e}");
    let six = bridge.socket_on(Some("pc1"), AF_INET6, SOCK_STREAM, 0).await.unwrap();
    let e = within(six.connect(("2001:db8::1", 80))).await.unwrap_err();
    assert_eq!(errname(&e), "ENETUNREACH", "{e}");
    // Another session's network has the same addresses and none of its sockets.
    let other = daemon.client().await;
    let theirs = tcp_on(&other, "pc1").await;
    theirs.bind(("", 80)).await.unwrap();
    theirs.listen(1).await.unwrap();
    let mine = tcp_on(&bridge, "pc1").await;
    assert_eq!(mine.connect_ex(("10.0.0.1", 80)).await.unwrap(), libc::ECONNREFUSED);
    // Both can bind the same port: the hosts are different computers.
    let mine = tcp_on(&bridge, "pc1").await;
    mine.bind(("", 80)).await.unwrap();
    // A session without a private network does not exist here, but a shared daemon says so.
    let shared = TestDaemon::start().await;
    let plain = shared.client().await;
    assert_eq!(plain.hello().network.as_ref().map(|n| n.mode.as_str()), Some("shared"));
    assert_eq!(errname(&plain.add_host("pc2").await.unwrap_err()), "ENOTSUP");
    assert_eq!(errname(&plain.socket_on(Some("pc1"), AF_INET, SOCK_STREAM, 0).await.unwrap_err()), "ENOTSUP");
}

/// The net namespaces this process holds open (by inode).
fn namespaces_held(pid: &str) -> Vec<String> {
    let Ok(dir) = std::fs::read_dir(format!("/proc/{pid}/fd")) else { return Vec::new() };
    dir.flatten()
        .filter_map(|e| std::fs::read_link(e.path()).ok())
        .map(|l| l.to_string_lossy().into_owned())
        .filter(|l| l.starts_with("net:["))
        .collect()
}

/// Every net namespace any process is in or holds.
fn namespaces_anywhere() -> std::collections::HashSet<String> {
    let mut all = std::collections::HashSet::new();
    for entry in std::fs::read_dir("/proc").unwrap().flatten() {
        let pid = entry.file_name().to_string_lossy().into_owned();
        if !pid.chars().all(|c| c.is_ascii_digit()) {
            continue;
        }
        all.extend(namespaces_held(&pid));
        if let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) {
            for task in tasks.flatten() {
                if let Ok(link) = std::fs::read_link(task.path().join("ns/net")) {
                    all.insert(link.to_string_lossy().into_owned());
                }
            }
        }
    }
    all
}

#[tokio::test]
async fn a_network_is_gone_when_its_session_ends_and_when_the_daemon_is_killed() {
    if !root() {
        let _ = private().await;
        return;
    }
    // The namespaces the daemon holds come and go with the session.
    let spawned = Spawned::start(SpawnOptions { args: &["--network", "private"], ..Default::default() }).await;
    let pid = spawned.pid.to_string();
    let bridge = spawned.client().await;
    assert_eq!(namespaces_held(&pid).len(), 1 + 2, "the one hosts are made from (network::host::nursery), pc1 and lab");
    bridge.add_host("pc2").await.unwrap();
    let s = tcp_on(&bridge, "pc2").await;
    s.bind(("", 80)).await.unwrap();
    assert_eq!(namespaces_held(&pid).len(), 1 + 3, "pc1, lab and pc2");
    bridge.close();
    let mut left = Vec::new();
    for _ in 0..100 {
        left = namespaces_held(&pid);
        if left.len() == 1 {
            break;
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    assert_eq!(left.len(), 1, "the session's namespaces are still held: {left:?}");
    spawned.stop().await;

    // The binary, killed: no process is left in or holding one of its namespaces, and nothing
    // named them (no /run/netns entries).
    let spawned = Spawned::start(SpawnOptions { args: &["--network", "private"], ..Default::default() }).await;
    let bridge = spawned.client().await;
    bridge.add_host("pc2").await.unwrap();
    let server = tcp_on(&bridge, "pc2").await;
    server.bind(("", 80)).await.unwrap();
    server.listen(1).await.unwrap();
    let theirs = namespaces_held(&spawned.pid.to_string());
    assert_eq!(theirs.len(), 4, "the nursery, pc1, lab and pc2: {theirs:?}");
    // SAFETY: signalling our own child.
    unsafe { libc::kill(spawned.pid, libc::SIGKILL) };
    let mut spawned = spawned;
    within(spawned.child.wait()).await.unwrap();
    let anywhere = namespaces_anywhere();
    for ns in &theirs {
        assert!(!anywhere.contains(ns), "{ns} outlived the daemon");
    }
    let named = std::fs::read_dir("/run/netns").map(|d| d.count()).unwrap_or(0);
    assert_eq!(named, 0, "a namespace was given a name in /run/netns");
}

#[tokio::test]
async fn where_namespaces_cannot_be_made_the_daemon_shares_the_loopback_and_says_why() {
    if !root() {
        // This process is the user without namespaces: `private()` checks the fallback itself.
        assert!(private().await.is_none());
        return;
    }
    // The daemon as `nobody`, who may not make network namespaces here.
    let spawned = Spawned::start(SpawnOptions {
        args: &["--network", "private"],
        as_user: Some((65534, 65534)),
        ..Default::default()
    })
    .await;
    let bridge = spawned.client().await;
    let network = bridge.hello().network.clone().unwrap();
    assert_eq!(network.mode, "shared");
    let why = network.why.unwrap_or_default();
    assert!(why.contains("namespaces") && why.contains("Operation not permitted"), "{why}");
    assert!(!bridge.hello().features.iter().any(|f| f == "private-network"));
    assert_eq!(bridge.network().await.unwrap().mode, "shared");
    // Everything else works as in shared mode: the lab services on loopback, an echo through them.
    let echo = bridge.hello().labs["echo_tcp"].clone();
    let Address::Inet { host, .. } = &echo else { panic!("{echo:?}") };
    assert_eq!(host, "127.0.0.1");
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    s.connect(echo).await.unwrap();
    s.sendall(b"still here").await.unwrap();
    assert_eq!(within(s.recv(100)).await.unwrap(), b"still here");
    assert_eq!(errname(&bridge.add_host("pc2").await.unwrap_err()), "ENOTSUP");
    spawned.stop().await;
}

#[tokio::test]
async fn a_session_past_the_networks_the_daemon_may_hold_is_closed_with_1013_and_why() {
    if !root() {
        assert!(private().await.is_none());
        return;
    }
    let daemon = TestDaemon::start_with(|c| {
        c.network = NetworkMode::Private;
        c.limits.max_networks = 1;
    })
    .await;
    let first = daemon.client().await;
    assert_eq!(first.network().await.unwrap().mode, "private");
    let mut second = daemon.raw().await;
    let closed = within(second.next()).await.unwrap_err();
    let (code, reason) = closed.expect("a close frame");
    assert_eq!(code, 1013, "{reason}");
    assert!(reason.contains("private networks"), "{reason}");
    // When the first session ends, its place is free again.
    first.close();
    let mut third = None;
    for _ in 0..50 {
        tokio::time::sleep(Duration::from_millis(20)).await;
        if let Ok(b) = Bridge::connect(&daemon.url).await
            && b.network().await.is_ok()
        {
            third = Some(b);
            break;
        }
    }
    assert!(third.is_some(), "no session after the first ended");
}

#[tokio::test]
async fn a_flood_on_a_slow_link_is_dropped_at_the_queue_and_the_daemon_goes_on() {
    let Some((daemon, bridge)) = private().await else { return };
    bridge.add_host("pc2").await.unwrap();
    let sink = udp_on(&bridge, "pc1").await;
    sink.bind(("", 9)).await.unwrap();
    // 8 kbit/s: a 1,400-byte datagram takes 1.4 s, so the link's 1 MiB queue fills at once.
    bridge.set_link("pc2", LinkSettings { rate: Some(8_000), ..LinkSettings::default() }).await.unwrap();
    let flood = udp_on(&bridge, "pc2").await;
    let start = bridge.packets(None, None).await.unwrap().next;
    let payload = vec![0u8; 1400];
    for _ in 0..1500 {
        flood.sendto(&payload, ("pc1", 9)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = bridge.packets(Some(start), None).await.unwrap();
    let full = got.packets.iter().filter(|p| p.fate == "queue-full").count();
    // The capture keeps its newest 384 KiB: the last packets, most of them dropped at the queue.
    assert!(full > 0, "no packet was dropped at a full queue");
    assert!(got.missed > 0, "the capture kept more than its bound");
    // Another session, and this one, still work.
    let other = daemon.client().await;
    let echo = tcp_on(&other, "pc1").await;
    echo.connect(other.hello().labs["echo_tcp"].clone()).await.unwrap();
    echo.sendall(b"still here").await.unwrap();
    assert_eq!(within(echo.recv(100)).await.unwrap(), b"still here");
    assert_eq!(bridge.gethostname().await.unwrap(), "pc1");
}

#[tokio::test]
async fn a_network_over_its_byte_rate_drops_what_is_beyond_and_says_so() {
    // 100,000 bytes per second for the whole network, with a burst of 64 KiB: 300 datagrams of
    // 1,000 bytes sent as fast as the page can are beyond it, unless sending them took 2 s.
    let daemon = TestDaemon::start_with(|c| {
        c.network = NetworkMode::Private;
        c.limits.network_bytes_per_second = 100_000;
    })
    .await;
    let bridge = daemon.client().await;
    if !root() {
        return;
    }
    bridge.add_host("pc2").await.unwrap();
    let sink = udp_on(&bridge, "pc1").await;
    sink.bind(("", 9)).await.unwrap();
    let flood = udp_on(&bridge, "pc2").await;
    let start = bridge.packets(None, None).await.unwrap().next;
    for _ in 0..300 {
        flood.sendto(&[7u8; 1000], ("pc1", 9)).await.unwrap();
    }
    tokio::time::sleep(Duration::from_millis(200)).await;
    let got = bridge.packets(Some(start), None).await.unwrap();
    let fates = |fate: &str| got.packets.iter().filter(|p| p.proto == "udp" && p.fate == fate).count();
    let (delivered, over) = (fates("delivered"), fates("over-network-rate"));
    assert!(delivered > 0 && over > 0, "delivered {delivered}, over the network's rate {over}");
}

/// Echoes every TCP connection and UDP datagram it gets at these sockets, until the test ends.
fn echo(tcp: tokio::net::TcpListener, udp: tokio::net::UdpSocket) {
    tokio::spawn(async move {
        while let Ok((mut conn, _)) = tcp.accept().await {
            tokio::spawn(async move {
                let (mut rx, mut tx) = conn.split();
                let _ = tokio::io::copy(&mut rx, &mut tx).await;
            });
        }
    });
    tokio::spawn(async move {
        let mut buf = [0u8; 1500];
        while let Ok((n, from)) = udp.recv_from(&mut buf).await {
            let _ = udp.send_to(&buf[..n], from).await;
        }
    });
}

/// `--allow-connect` in a private network: a destination outside that the policy names is dialled
/// from the daemon's own network, and nothing else is. The "outside" is a network namespace this
/// test makes for its thread (the daemon runs there too), with documentation addresses on its
/// loopback: the traffic never leaves it.
#[test]
fn a_destination_the_policy_names_is_dialled_from_outside_the_network_and_nothing_else() {
    if !root() {
        eprintln!("not root: no namespaces to make; the fallback is checked by the other private-network tests");
        return;
    }
    // SAFETY: unshare takes no pointers; it moves only this thread, which the test owns.
    assert_eq!(unsafe { libc::unshare(libc::CLONE_NEWNET) }, 0, "{}", std::io::Error::last_os_error());
    let own_namespace = std::fs::read_link("/proc/thread-self/ns/net").unwrap();
    assert_ne!(
        own_namespace,
        std::fs::read_link("/proc/self/ns/net").unwrap(),
        "the test must not touch the host's network"
    );
    for args in [
        &["link", "set", "lo", "up"][..],
        &["addr", "add", "192.0.2.10/32", "dev", "lo"],
        &["addr", "add", "2001:db8::10/128", "dev", "lo", "nodad"],
    ] {
        let status = std::process::Command::new("ip").args(args).status().expect("ip (iproute2)");
        assert!(status.success(), "ip {args:?}");
    }
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build().unwrap();
    runtime.block_on(async {
        let tcp = tokio::net::TcpListener::bind("192.0.2.10:0").await.unwrap();
        let port = tcp.local_addr().unwrap().port();
        let tcp6 = tokio::net::TcpListener::bind(("2001:db8::10", port)).await.unwrap();
        let udp = tokio::net::UdpSocket::bind("192.0.2.10:0").await.unwrap();
        let uport = udp.local_addr().unwrap().port();
        echo(tcp, udp);
        echo(tcp6, tokio::net::UdpSocket::bind("[2001:db8::10]:0").await.unwrap());
        let resolver = sockbridge_tests::ScriptedResolver::new();
        resolver.answer("service.test", &["192.0.2.10"]).answer("other.test", &["192.0.2.10"]);
        let lookup: std::sync::Arc<dyn bridge_daemon::Lookup> = resolver.clone();
        let daemon = TestDaemon::start_with(|c| {
            c.network = NetworkMode::Private;
            c.labs = true;
            c.resolver = Some(lookup);
            let rules = [
                format!("service.test:{port}/tcp"),
                format!("192.0.2.10:{uport}/udp"),
                format!("[2001:db8::10]:{port}/tcp"),
            ];
            c.rules.allow.extend(rules.iter().map(|r| sockbridge_tests::rule(r)));
        })
        .await;
        let bridge = daemon.client().await;
        assert_eq!(bridge.hello().network.as_ref().map(|n| n.mode.as_str()), Some("private"));
        let start = bridge.packets(None, None).await.unwrap().next;

        // A name a rule names is looked up outside (there is no DNS inside); no other name is.
        let infos = bridge
            .getaddrinfo(wasm_client::GetaddrinfoParams {
                host: Some("service.test".into()),
                port: Some(wasm_client::Service::Port(port)),
                family: AF_INET,
                kind: SOCK_STREAM,
                ..Default::default()
            })
            .await
            .unwrap();
        assert_eq!(infos[0].address, Address::from(("192.0.2.10", port)));
        assert_eq!(bridge.gethostbyname("service.test").await.unwrap(), "192.0.2.10");
        let e = bridge.gethostbyname("other.test").await.unwrap_err();
        assert_eq!(errname(&e), "EAI_NONAME", "{e}");
        assert_eq!(resolver.calls("other.test"), 0, "a name no rule names is not looked up");

        // TCP by the name: connected from outside, with the options the page set before.
        let s = tcp_on(&bridge, "pc1").await;
        s.setsockopt(wasm_client::IPPROTO_TCP, wasm_client::TCP_NODELAY, 1).await.unwrap();
        within(s.connect(("service.test", port))).await.unwrap();
        s.sendall(b"hello from pc1").await.unwrap();
        assert_eq!(within(s.recv(100)).await.unwrap(), b"hello from pc1");
        assert_eq!(s.getpeername().await.unwrap(), Address::from(("192.0.2.10", port)));
        let Address::Inet { host, .. } = s.getsockname().await.unwrap() else { panic!("an IPv4 address") };
        assert_eq!(host, "192.0.2.10", "the daemon's own address towards the destination, not pc1's");
        assert_ne!(s.getsockopt(wasm_client::IPPROTO_TCP, wasm_client::TCP_NODELAY).await.unwrap(), 0);
        // It is a client of the outside now: it cannot be made a server there.
        assert_eq!(errname(&s.listen(1).await.unwrap_err()), "EACCES");
        // The LAN never saw it.
        let on_lan = packets_since(&bridge, start).await;
        assert!(on_lan.iter().all(|p| p.proto != "tcp"), "{:?}", summary(&on_lan));

        // The same address by number, or another port: not what the rules name, so there is no
        // route, as for any address outside, and the page is told why.
        let s = tcp_on(&bridge, "pc1").await;
        let e = within(s.connect(("192.0.2.10", port))).await.unwrap_err();
        assert_eq!(errname(&e), "ENETUNREACH", "{e}");
        assert!(e.to_string().contains("--allow-connect"), "{e}");
        let e = within(s.connect(("192.0.2.10", uport))).await.unwrap_err();
        assert_eq!(errname(&e), "ENETUNREACH", "{e}");
        // IPv6, by an address rule.
        let six = bridge.socket_on(Some("pc1"), AF_INET6, SOCK_STREAM, 0).await.unwrap();
        within(six.connect(("2001:db8::10", port))).await.unwrap();
        six.sendall(b"six").await.unwrap();
        assert_eq!(within(six.recv(10)).await.unwrap(), b"six");

        // UDP: an unbound socket sends out from the daemon's address (not the wildcard), and the
        // answer comes back; from then on it reaches only what the policy allows.
        let u = udp_on(&bridge, "pc1").await;
        assert_eq!(u.sendto(b"ping", ("192.0.2.10", uport)).await.unwrap(), 4);
        let (data, from) = within(u.recvfrom(100)).await.unwrap();
        assert_eq!((data.as_slice(), from), (&b"ping"[..], Some(Address::from(("192.0.2.10", uport)))));
        let Address::Inet { host, .. } = u.getsockname().await.unwrap() else { panic!("an IPv4 address") };
        assert_eq!(host, "192.0.2.10");
        let e = u.sendto(b"x", ("10.0.0.254", 7)).await.unwrap_err();
        assert_eq!(errname(&e), "EACCES", "outside, 10.0.0.254 is not the lab host: {e}");
        let e = u.sendto(b"x", ("lab", 7)).await.unwrap_err();
        assert_eq!(errname(&e), "EACCES", "nor is the name lab's: {e}");
        assert_eq!(resolver.calls("lab"), 0, "and it is not looked up outside");
        assert_eq!(errname(&u.bind(("", 0)).await.unwrap_err()), "EACCES");
        // A socket bound inside the network stays there.
        let bound = udp_on(&bridge, "pc1").await;
        bound.bind(("", 5000)).await.unwrap();
        let e = bound.sendto(b"x", ("192.0.2.10", uport)).await.unwrap_err();
        assert_eq!(errname(&e), "ENETUNREACH", "{e}");
        assert!(e.to_string().contains("bound inside"), "{e}");
        // And the lab host, inside, is still reached by the page's other sockets.
        let echo = udp_on(&bridge, "pc1").await;
        echo.sendto(b"lab", ("10.0.0.254", 7)).await.unwrap();
        assert_eq!(within(echo.recvfrom(10)).await.unwrap().0, b"lab");
        daemon.stop().await;
    });
}
