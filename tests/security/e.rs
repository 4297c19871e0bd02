//! E: egress. Where a page's `connect` and `sendto` may go: by default its own sockets and the lab
//! services only; more by rules; never the hard-denied places. Names resolve once through scripted
//! DNS, and a refused destination is never dialled (a counting listener sees nothing).

use bridge_daemon::Config;
use sockbridge_tests::wasm_client::*;
use sockbridge_tests::{
    CountingListener, ScriptedResolver, TestDaemon, errname, rule, tcp_listener, udp_bound, within,
};
use std::sync::Arc;
use std::time::Duration;

/// A daemon with scripted DNS and these allow and deny rules.
async fn daemon(resolver: &Arc<ScriptedResolver>, allow: &[&str], deny: &[&str]) -> TestDaemon {
    let lookup: Arc<dyn bridge_daemon::Lookup> = Arc::clone(resolver) as _;
    let (allow, deny): (Vec<String>, Vec<String>) =
        (allow.iter().map(|s| (*s).to_owned()).collect(), deny.iter().map(|s| (*s).to_owned()).collect());
    TestDaemon::start_with(move |c: &mut Config| {
        c.resolver = Some(lookup);
        c.rules.allow.extend(allow.iter().map(|r| rule(r)));
        c.rules.deny.extend(deny.iter().map(|r| rule(r)));
    })
    .await
}

/// Asserts a call was refused by the policy: `PermissionError`, `EACCES`, with a reason.
fn assert_denied<T: std::fmt::Debug>(result: std::result::Result<T, Error>, what: &str) -> String {
    match result {
        Err(Error::Os(e)) if e.errname.as_deref() == Some("EACCES") => {
            assert_eq!(e.exception, "PermissionError", "{what}");
            e.reason.clone().unwrap_or_else(|| panic!("{what}: a refusal says why"))
        }
        other => panic!("{what}: expected a policy refusal, got {other:?}"),
    }
}

async fn tcp(bridge: &Bridge, family: i32) -> Socket {
    bridge.socket(family, SOCK_STREAM).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e01_a_page_reaches_its_own_listener_and_the_labs() {
    let daemon = TestDaemon::start_with(|c| c.labs = true).await;
    let bridge = daemon.client().await;
    let server = tcp_listener(&bridge).await;
    tcp(&bridge, AF_INET).await.connect(server.getsockname().await.unwrap()).await.unwrap();
    let echo = bridge.hello().labs["echo_tcp"].clone();
    let s = tcp(&bridge, AF_INET).await;
    s.connect(echo).await.unwrap();
    s.sendall(b"labs").await.unwrap();
    assert_eq!(within(s.recv(4)).await.unwrap(), b"labs");
    // Another session (a second tab) of the same origin reaches it too.
    let tab = daemon.client().await;
    tcp(&tab, AF_INET).await.connect(server.getsockname().await.unwrap()).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e02_other_programs_on_loopback_are_refused_before_any_packet() {
    let daemon = TestDaemon::start().await;
    let native = CountingListener::bind("127.0.0.1").await;
    let udp_native = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let bridge = daemon.client().await;
    let reason = assert_denied(tcp(&bridge, AF_INET).await.connect(("127.0.0.1", native.port())).await, "tcp");
    assert!(reason.contains("own sockets"), "{reason}");
    let s = tcp(&bridge, AF_INET).await;
    s.setblocking(false).unwrap();
    assert_denied(s.connect(("127.0.0.1", native.port())).await, "non-blocking connect");
    assert_eq!(s.connect_ex(("127.0.0.1", native.port())).await.unwrap(), 13, "connect_ex returns EACCES");
    let u = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    let port = udp_native.local_addr().unwrap().port();
    assert_denied(u.sendto(b"x", ("127.0.0.1", port)).await, "udp sendto");
    assert_denied(u.connect(("127.0.0.1", port)).await, "udp connect");
    native.assert_connections(0).await;
    // The UDP peer's first datagram is the test's own marker.
    let marker = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    marker.send_to(b"marker", udp_native.local_addr().unwrap()).await.unwrap();
    let mut buf = [0u8; 16];
    let (n, _) = within(udp_native.recv_from(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], b"marker");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e03_the_daemons_own_port_is_refused_even_with_loopback_allowed() {
    let resolver = ScriptedResolver::new();
    let daemon = daemon(&resolver, &["loopback", "0.0.0.0/0", "[::/0]"], &[]).await;
    let port = daemon.addr.port();
    let bridge = daemon.client().await;
    for host in ["127.0.0.1", "127.0.0.5", "localhost"] {
        resolver.answer("localhost", &["127.0.0.1"]);
        let reason = assert_denied(tcp(&bridge, AF_INET).await.connect((host, port)).await, host);
        assert!(reason.contains("bridge daemon itself"), "{reason}");
    }
    for host in ["::1", "::ffff:127.0.0.1"] {
        assert_denied(tcp(&bridge, AF_INET6).await.connect((host, port)).await, host);
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e04_metadata_services_are_refused_even_inside_an_allowed_block() {
    let resolver = ScriptedResolver::new();
    resolver.answer("metadata.google.internal", &["169.254.169.254"]).answer("innocent.example", &["169.254.169.254"]);
    let daemon = daemon(&resolver, &["private", "link-local", "public", "169.254.0.0/16", "[fd00::/8]"], &[]).await;
    let bridge = daemon.client().await;
    for (family, host) in [
        (AF_INET, "169.254.169.254"),
        (AF_INET, "169.254.170.2"),
        (AF_INET, "169.254.170.23"),
        (AF_INET, "169.254.0.23"),
        (AF_INET, "168.63.129.16"),
        (AF_INET, "100.100.100.200"),
        (AF_INET6, "fd00:ec2::23"),
        (AF_INET6, "fd20:ce::254"),
        (AF_INET, "metadata.google.internal"),
        (AF_INET, "innocent.example"),
        (AF_INET6, "fd00:ec2::254"),
        (AF_INET6, "::ffff:169.254.169.254"),
    ] {
        let reason = assert_denied(tcp(&bridge, family).await.connect((host, 80)).await, host);
        assert!(reason.contains("metadata"), "{host}: {reason}");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e05_every_encoding_of_loopback_is_loopback() {
    let daemon = TestDaemon::start().await;
    let native = CountingListener::bind("127.0.0.1").await;
    let port = native.port();
    let bridge = daemon.client().await;
    // Short, numeric, octal and hex forms are names to the bridge; the C resolver turns them into
    // 127.0.0.1, which is then refused (or it fails to resolve them: a gaierror).
    for host in ["2130706433", "0x7f000001", "0177.0.0.1", "127.1", "127.0.0.1."] {
        match tcp(&bridge, AF_INET).await.connect((host, port)).await {
            Err(e) if e.exception() == "gaierror" => {}
            other => {
                assert_denied(other, host);
            }
        }
    }
    for host in [
        "::ffff:127.0.0.1",
        "::ffff:7f00:1",
        "0:0:0:0:0:ffff:127.0.0.1",
        "64:ff9b::7f00:1",
        "2002:7f00:1::",
        "::127.0.0.1",
        "::1%lo",
    ] {
        match tcp(&bridge, AF_INET6).await.connect((host, port)).await {
            Err(e) if e.exception() == "gaierror" => {}
            other => {
                assert_denied(other, host);
            }
        }
    }
    native.assert_connections(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e06_the_unspecified_address_is_never_a_destination() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let v4 = tcp_listener(&bridge).await;
    let own4 = v4.getsockname().await.unwrap();
    let Address::Inet { port, .. } = own4 else { panic!("{own4:?}") };
    let reason = assert_denied(tcp(&bridge, AF_INET).await.connect(("0.0.0.0", port)).await, "0.0.0.0:own");
    assert!(reason.contains("not destinations"), "{reason}");
    assert_denied(tcp(&bridge, AF_INET).await.connect(("", port)).await, "'':own");
    assert_denied(tcp(&bridge, AF_INET).await.connect(("0.1.2.3", 80)).await, "0.1.2.3");
    let v6 = tcp(&bridge, AF_INET6).await;
    v6.bind(("::1", 0)).await.unwrap();
    v6.listen(1).await.unwrap();
    let Address::Inet6 { port: port6, .. } = v6.getsockname().await.unwrap() else { panic!() };
    assert_denied(tcp(&bridge, AF_INET6).await.connect(("::", port6)).await, "[::]:own");
    tcp(&bridge, AF_INET6).await.connect(("::1", port6)).await.unwrap();
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e07_a_name_rule_grants_public_addresses_only() {
    let resolver = ScriptedResolver::new();
    let native = CountingListener::bind("127.0.0.1").await;
    resolver.answer("lesson.example", &["10.0.0.5"]).answer("loop.lesson.example", &["127.0.0.1"]);
    let daemon = daemon(&resolver, &["lesson.example", "*.lesson.example"], &[]).await;
    let bridge = daemon.client().await;
    let reason = assert_denied(tcp(&bridge, AF_INET).await.connect(("lesson.example", 80)).await, "private");
    assert!(reason.contains("public addresses only") && reason.contains("private"), "{reason}");
    let reason =
        assert_denied(tcp(&bridge, AF_INET).await.connect(("loop.lesson.example", native.port())).await, "loopback");
    assert!(reason.contains("loopback"), "{reason}");
    native.assert_connections(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e08_a_name_is_resolved_once_and_the_checked_address_is_the_one_dialled() {
    let good = CountingListener::bind("127.0.0.1").await;
    // The same port on another loopback address, which the rule does not allow.
    let bad = CountingListener::bind_at(("127.0.0.2", good.port())).await;
    let resolver = ScriptedResolver::new();
    resolver.answer("flip.example", &["127.0.0.1"]).answer("flip.example", &["127.0.0.2"]);
    let daemon = daemon(&resolver, &[&format!("127.0.0.1:{}/tcp", good.port())], &[]).await;
    let bridge = daemon.client().await;
    let s = tcp(&bridge, AF_INET).await;
    s.connect(("flip.example", good.port())).await.unwrap();
    assert_eq!(s.getpeername().await.unwrap(), Address::from(("127.0.0.1", good.port())));
    assert_eq!(resolver.calls("flip.example"), 1, "one resolution per connect");
    // The next connect resolves again, gets the other answer, and is refused.
    assert_denied(tcp(&bridge, AF_INET).await.connect(("flip.example", good.port())).await, "rebound");
    assert_eq!(resolver.calls("flip.example"), 2);
    good.assert_connections(1).await;
    bad.assert_connections(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e09_of_several_answers_only_an_allowed_one_is_dialled() {
    let allowed = CountingListener::bind("127.0.0.1").await;
    let resolver = ScriptedResolver::new();
    resolver.answer("mixed.example", &["127.0.0.3", "127.0.0.1"]).answer("none.example", &["127.0.0.3", "10.1.2.3"]);
    let daemon = daemon(&resolver, &[&format!("127.0.0.1:{}/tcp", allowed.port())], &[]).await;
    let bridge = daemon.client().await;
    let s = tcp(&bridge, AF_INET).await;
    s.connect(("mixed.example", allowed.port())).await.unwrap();
    assert_eq!(s.getpeername().await.unwrap(), Address::from(("127.0.0.1", allowed.port())));
    assert_denied(tcp(&bridge, AF_INET).await.connect(("none.example", allowed.port())).await, "none allowed");
    allowed.assert_connections(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e10_local_names_reach_only_the_pages_own_ports() {
    let native = CountingListener::bind("127.0.0.1").await;
    let resolver = ScriptedResolver::new();
    for name in ["localhost", "LOCALHOST.", "foo.localhost", "127.0.0.1.nip.io"] {
        resolver.answer(name, &["127.0.0.1"]);
    }
    let daemon = daemon(&resolver, &[], &[]).await;
    let bridge = daemon.client().await;
    let own = tcp_listener(&bridge).await;
    let Address::Inet { port: own_port, .. } = own.getsockname().await.unwrap() else { panic!() };
    for name in ["localhost", "LOCALHOST.", "foo.localhost", "127.0.0.1.nip.io"] {
        assert_denied(tcp(&bridge, AF_INET).await.connect((name, native.port())).await, name);
        tcp(&bridge, AF_INET).await.connect((name, own_port)).await.unwrap_or_else(|e| panic!("{name} to own: {e}"));
    }
    native.assert_connections(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e11_deny_rules_apply_to_the_resolved_address() {
    let native = CountingListener::bind("127.0.0.2").await;
    let resolver = ScriptedResolver::new();
    resolver.answer("sneaky.example", &["127.0.0.2"]);
    let daemon = daemon(&resolver, &["public", "loopback"], &["127.0.0.0/8"]).await;
    let bridge = daemon.client().await;
    let reason = assert_denied(tcp(&bridge, AF_INET).await.connect(("sneaky.example", native.port())).await, "sneaky");
    assert!(reason.contains("127.0.0.0/8"), "the refusal names the rule: {reason}");
    // Deny wins over own, too.
    let own = tcp_listener(&bridge).await;
    assert_denied(tcp(&bridge, AF_INET).await.connect(own.getsockname().await.unwrap()).await, "own");
    native.assert_connections(0).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e12_a_port_scoped_deny_keeps_its_port_through_a_name() {
    let denied = CountingListener::bind("127.0.0.1").await;
    let open = CountingListener::bind("127.0.0.1").await;
    let resolver = ScriptedResolver::new();
    resolver.answer("ssh.example", &["127.0.0.1"]);
    let daemon = daemon(&resolver, &["loopback"], &[&format!("127.0.0.1:{}", denied.port())]).await;
    let bridge = daemon.client().await;
    assert_denied(tcp(&bridge, AF_INET).await.connect(("ssh.example", denied.port())).await, "denied port");
    tcp(&bridge, AF_INET).await.connect(("ssh.example", open.port())).await.unwrap();
    denied.assert_connections(0).await;
    open.assert_connections(1).await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e13_bad_ports_need_a_rule_that_names_them() {
    let resolver = ScriptedResolver::new();
    let broad = daemon(&resolver, &["loopback"], &[]).await;
    let bridge = broad.client().await;
    for port in [10080, 6000, 25, 0] {
        let reason = assert_denied(tcp(&bridge, AF_INET).await.connect(("127.0.0.1", port)).await, &port.to_string());
        assert!(reason.contains(&format!("port {port}")), "{reason}");
    }
    let named = daemon(&resolver, &["127.0.0.1:10080/tcp"], &[]).await;
    let bridge = named.client().await;
    let e = tcp(&bridge, AF_INET).await.connect(("127.0.0.1", 10080)).await.unwrap_err();
    assert_eq!(errname(&e), "ECONNREFUSED", "allowed, so the kernel answers: {e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e14_every_datagram_is_checked() {
    let daemon = TestDaemon::start().await;
    let native = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let native_port = native.local_addr().unwrap().port();
    let bridge = daemon.client().await;
    let own = udp_bound(&bridge).await;
    let own_addr = own.getsockname().await.unwrap();
    let s = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    let (mut sent, mut refused) = (0, 0);
    for i in 0..1000 {
        let result = if i % 2 == 0 {
            s.sendto(b"ok", own_addr.clone()).await
        } else {
            s.sendto(b"no", ("127.0.0.1", native_port)).await
        };
        match result {
            Ok(2) => sent += 1,
            Err(e) if errname(&e) == "EACCES" => refused += 1,
            other => panic!("datagram {i}: {other:?}"),
        }
    }
    assert_eq!((sent, refused), (500, 500));
    let marker = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    marker.send_to(b"marker", native.local_addr().unwrap()).await.unwrap();
    let mut buf = [0u8; 16];
    let (n, _) = within(native.recv_from(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], b"marker", "no refused datagram arrived");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e15_broadcast_and_multicast_are_refused() {
    let resolver = ScriptedResolver::new();
    let daemon = daemon(&resolver, &["0.0.0.0/0", "[::/0]", "private", "public", "loopback"], &[]).await;
    let bridge = daemon.client().await;
    let u = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    u.setsockopt(SOL_SOCKET, SO_BROADCAST, 1).await.unwrap();
    for host in ["255.255.255.255", "<broadcast>", "224.0.0.251", "239.1.2.3"] {
        assert_denied(u.sendto(b"x", (host, 5353)).await, host);
    }
    let u6 = bridge.socket(AF_INET6, SOCK_DGRAM).await.unwrap();
    assert_denied(u6.sendto(b"x", ("ff02::fb", 5353)).await, "ff02::fb");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e16_an_unanswered_connect_times_out_with_etimedout_and_the_socket_can_try_again() {
    // A listener whose accept queue is full drops new SYNs: a blackhole on loopback.
    let listener = socket2::Socket::new(socket2::Domain::IPV4, socket2::Type::STREAM, None).unwrap();
    listener.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], 0)).into()).unwrap();
    listener.listen(0).unwrap();
    let addr = listener.local_addr().unwrap().as_socket().unwrap();
    let _queued = std::net::TcpStream::connect(addr).unwrap();
    let daemon = TestDaemon::start_with(|c| {
        c.limits.connect_timeout = Duration::from_millis(500);
        c.rules.allow.push(rule(&format!("127.0.0.1:{}/tcp", addr.port())));
    })
    .await;
    let bridge = daemon.client().await;
    let s = tcp(&bridge, AF_INET).await;
    let e = within(s.connect(("127.0.0.1", addr.port()))).await.unwrap_err();
    assert_eq!((e.exception(), errname(&e)), ("TimeoutError", "ETIMEDOUT"), "{e}");
    // Room in the queue again: the same socket connects.
    drop(listener.accept().unwrap());
    within(s.connect(("127.0.0.1", addr.port()))).await.unwrap();
}

/// Another program's socket on `port`, bound with `SO_REUSEADDR` as Python's `http.server` and
/// most servers bind.
fn program_socket(kind: socket2::Type, port: u16) -> socket2::Socket {
    let s = socket2::Socket::new(socket2::Domain::IPV4, kind, None).unwrap();
    s.set_reuse_address(true).unwrap();
    s.bind(&std::net::SocketAddr::from(([127, 0, 0, 1], port)).into()).unwrap();
    s
}

fn port_of(addr: &Address) -> u16 {
    let Address::Inet { port, .. } = addr else { panic!("{addr:?}") };
    *port
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e17_a_port_the_page_only_bound_does_not_make_another_programs_server_its_own() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    // The page binds with SO_REUSEADDR and never listens; a program then serves on the same port
    // (the kernel lets both share it).
    let page = tcp(&bridge, AF_INET).await;
    page.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1).await.unwrap();
    page.bind(("127.0.0.1", 0)).await.unwrap();
    let addr = page.getsockname().await.unwrap();
    let program = program_socket(socket2::Type::STREAM, port_of(&addr));
    program.listen(8).unwrap();
    program.set_nonblocking(true).unwrap();
    let reason = assert_denied(tcp(&bridge, AF_INET).await.connect(addr.clone()).await, "the program's server");
    assert!(reason.contains("another program"), "{reason}");
    assert!(program.accept().is_err(), "no connection reached the program");
    // The page's own listener stays reachable.
    let server = tcp_listener(&bridge).await;
    tcp(&bridge, AF_INET).await.connect(server.getsockname().await.unwrap()).await.unwrap();
    // And once the program is gone, the bound port refuses as the kernel refuses.
    drop(program);
    let e = tcp(&bridge, AF_INET).await.connect(addr).await.unwrap_err();
    assert_eq!(errname(&e), "ECONNREFUSED", "{e}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e18_a_page_cannot_share_a_udp_port_with_another_program() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let probe = udp_bound(&bridge).await;
    let port = port_of(&probe.getsockname().await.unwrap());
    probe.close().await.unwrap();
    // A program bound first with SO_REUSEADDR: the page's SO_REUSEADDR is kept by the bridge (it
    // reads back) but never reaches the kernel, so the port stays the program's.
    let program = program_socket(socket2::Type::DGRAM, port);
    let page = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    page.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1).await.unwrap();
    assert_eq!(page.getsockopt(SOL_SOCKET, SO_REUSEADDR).await.unwrap(), 1);
    let e = page.bind(("127.0.0.1", port)).await.unwrap_err();
    assert_eq!(errname(&e), "EADDRINUSE", "{e}");
    // The page once held the port; another program has it now, so it is not the page's to send to.
    let sender = udp_bound(&bridge).await;
    assert_denied(sender.sendto(b"hi", ("127.0.0.1", port)).await, "a vacated UDP port now another program's");
    drop(program);
    // Nobody there: the datagram goes nowhere, as the kernel would have it.
    assert_eq!(sender.sendto(b"hi", ("127.0.0.1", port)).await.unwrap(), 2);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e19_a_port_the_page_closed_is_not_its_own_once_a_program_has_it() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let closed = sockbridge_tests::closed_port(&bridge).await;
    let e = tcp(&bridge, AF_INET).await.connect(closed.clone()).await.unwrap_err();
    assert_eq!(errname(&e), "ECONNREFUSED", "nobody there: the kernel's answer");
    let program = program_socket(socket2::Type::STREAM, port_of(&closed));
    program.listen(8).unwrap();
    program.set_nonblocking(true).unwrap();
    assert_denied(tcp(&bridge, AF_INET).await.connect(closed).await, "a closed port a program took");
    assert!(program.accept().is_err(), "no connection reached the program");
    // A UDP socket connected to the page's own socket, which then closes and whose port a program
    // takes: its next send is refused.
    let a = udp_bound(&bridge).await;
    let a_addr = a.getsockname().await.unwrap();
    let b = udp_bound(&bridge).await;
    b.connect(a_addr.clone()).await.unwrap();
    b.send(b"one").await.unwrap();
    assert_eq!(within(a.recv(16)).await.unwrap(), b"one");
    a.close().await.unwrap();
    let program = program_socket(socket2::Type::DGRAM, port_of(&a_addr));
    // With a timeout, a send waits for its answer (a blocking send returns once it is on its way).
    b.settimeout(Some(Duration::from_secs(5))).unwrap();
    assert_denied(b.send(b"two").await, "a connected UDP socket's peer, now another program's");
    program.set_nonblocking(true).unwrap();
    let mut buf = [std::mem::MaybeUninit::new(0u8); 16];
    assert!(program.recv(&mut buf).is_err(), "nothing reached the program");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn e20_a_name_with_resolver_escapes_is_not_looked_up() {
    let native = CountingListener::bind("127.0.0.2").await;
    let resolver = ScriptedResolver::new();
    resolver.answer("bad.test", &["127.0.0.2"]);
    let daemon = daemon(&resolver, &["loopback"], &["bad.test"]).await;
    let bridge = daemon.client().await;
    assert_denied(tcp(&bridge, AF_INET).await.connect(("bad.test", native.port())).await, "the name itself");
    // The C resolver reads \098 and \b as 'b', after the policy compared the name.
    for escaped in ["\\098ad.test", "b\\097d.test", "\\bad.test", "bad\\.test"] {
        let e = tcp(&bridge, AF_INET).await.connect((escaped, native.port())).await.unwrap_err();
        assert_eq!(e.exception(), "gaierror", "{escaped}: {e}");
        assert!(bridge.gethostbyname(escaped).await.is_err(), "{escaped}");
        assert_eq!(resolver.calls(escaped), 0, "{escaped} was looked up");
    }
    native.assert_connections(0).await;
}
