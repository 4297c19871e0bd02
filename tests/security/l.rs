//! L: listen, bind and setsockopt. Pages serve on loopback only, on unprivileged ports, with a
//! closed list of socket options.

use serde_json::json;
use sockbridge_tests::wasm_client::*;
use sockbridge_tests::{TestDaemon, errname, huge_backlog_listener, listen_queue, within};
use tokio::io::AsyncReadExt;
use tokio_tungstenite::tungstenite::Message;

fn reason(e: &Error) -> String {
    match e {
        Error::Os(os) => os.reason.clone().unwrap_or_default(),
        _ => String::new(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l01_wildcard_binds_land_on_loopback() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    for host in ["", "0.0.0.0"] {
        let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
        s.bind((host, 0)).await.unwrap();
        let Address::Inet { host, port } = s.getsockname().await.unwrap() else { panic!() };
        assert_eq!(host, "127.0.0.1");
        assert!(port >= 1024);
    }
    let s = bridge.socket(AF_INET6, SOCK_DGRAM).await.unwrap();
    s.bind(("::", 0)).await.unwrap();
    let Address::Inet6 { host, .. } = s.getsockname().await.unwrap() else { panic!() };
    assert_eq!(host, "::1");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l02_privileged_ports_are_refused_by_the_policy() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    for port in [80, 443, 22, 1023] {
        let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
        let e = s.bind(("127.0.0.1", port)).await.unwrap_err();
        assert_eq!((e.exception(), errname(&e)), ("PermissionError", "EACCES"), "{port}");
        assert!(reason(&e).contains("below 1024"), "the policy, not the kernel, refused: {e}");
    }
    bridge.socket(AF_INET, SOCK_STREAM).await.unwrap().bind(("127.0.0.1", 0)).await.unwrap();
}

/// Non-loopback addresses of this machine's interfaces.
fn local_addresses() -> Vec<std::net::IpAddr> {
    let mut out = Vec::new();
    let mut list: *mut libc::ifaddrs = std::ptr::null_mut();
    // SAFETY: getifaddrs fills `list`, which is walked while valid and then freed once.
    unsafe {
        if libc::getifaddrs(&mut list) != 0 {
            return out;
        }
        let mut node = list;
        while !node.is_null() {
            let addr = (*node).ifa_addr;
            if !addr.is_null() && i32::from((*addr).sa_family) == libc::AF_INET {
                let sin = &*(addr as *const libc::sockaddr_in);
                let ip = std::net::Ipv4Addr::from(u32::from_be(sin.sin_addr.s_addr));
                if !ip.is_loopback() {
                    out.push(std::net::IpAddr::V4(ip));
                }
            }
            node = (*node).ifa_next;
        }
        libc::freeifaddrs(list);
    }
    out
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l03_addresses_beyond_loopback_are_refused() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let mut hosts: Vec<String> = local_addresses().iter().map(ToString::to_string).collect();
    hosts.extend(["192.0.2.10".to_owned(), "10.255.255.1".to_owned()]);
    for host in &hosts {
        let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
        let e = s.bind((host.as_str(), 9000)).await.unwrap_err();
        assert_eq!(errname(&e), "EACCES", "{host}");
        assert!(reason(&e).contains("loopback"), "{e}");
    }
    let s = bridge.socket(AF_INET6, SOCK_STREAM).await.unwrap();
    assert_eq!(errname(&s.bind(("fe80::1", 9000)).await.unwrap_err()), "EACCES");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l04_port_zero_gets_an_ephemeral_port() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    s.bind(("127.0.0.1", 0)).await.unwrap();
    let Address::Inet { port, .. } = s.getsockname().await.unwrap() else { panic!() };
    assert!(port >= 1024, "{port}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l05_so_reuseport_is_refused_and_a_taken_port_stays_taken() {
    let daemon = TestDaemon::start().await;
    let native = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = native.local_addr().unwrap().port();
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    let e = s.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1).await.unwrap_err();
    assert_eq!((e.exception(), errname(&e)), ("PermissionError", "EPERM"));
    s.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1).await.unwrap();
    assert_eq!(errname(&s.bind(("127.0.0.1", port)).await.unwrap_err()), "EADDRINUSE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l06_dangerous_and_unknown_options_are_refused() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    for (level, opt, what) in [
        (IPPROTO_IP, 3, "IP_HDRINCL"),
        (SOL_SOCKET, 25, "SO_BINDTODEVICE"),
        (IPPROTO_IP, 35, "IP_ADD_MEMBERSHIP"),
        (SOL_SOCKET, 36, "SO_MARK"),
        (IPPROTO_IP, 19, "IP_TRANSPARENT"),
        (SOL_SOCKET, 32, "SO_SNDBUFFORCE"),
        (999, 999, "unknown"),
    ] {
        let e = s.setsockopt(level, opt, 1).await.unwrap_err();
        assert_eq!(errname(&e), "ENOPROTOOPT", "{what}");
        assert_eq!(errname(&s.getsockopt(level, opt).await.unwrap_err()), "ENOPROTOOPT", "{what}");
    }
    let e = bridge.socket(AF_INET, 3 /* SOCK_RAW */).await.unwrap_err();
    assert_eq!(errname(&e), "ESOCKTNOSUPPORT");
    let e = bridge.socket(17 /* AF_PACKET */, SOCK_DGRAM).await.unwrap_err();
    assert_eq!(errname(&e), "EAFNOSUPPORT");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l07_extreme_option_values_are_clamped_or_refused() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    assert_eq!(errname(&s.setsockopt(SOL_SOCKET, SO_RCVBUF, 1i64 << 31).await.unwrap_err()), "EINVAL", "not a C int");
    s.setsockopt(SOL_SOCKET, SO_SNDBUF, 0).await.unwrap();
    assert!(s.getsockopt(SOL_SOCKET, SO_SNDBUF).await.unwrap() >= 2048, "the kernel's minimum");
    s.setsockopt(SOL_SOCKET, SO_RCVBUF, 1i64 << 30).await.unwrap();
    let rcvbuf = s.getsockopt(SOL_SOCKET, SO_RCVBUF).await.unwrap();
    assert!(rcvbuf < 1 << 30, "clamped by the kernel's rmem_max: {rcvbuf}");
    assert_eq!(errname(&s.setsockopt(IPPROTO_TCP, TCP_KEEPIDLE, 0).await.unwrap_err()), "EINVAL");
    let forever = [1i32.to_ne_bytes(), 1_000_000i32.to_ne_bytes()].concat();
    s.setsockopt(SOL_SOCKET, SO_LINGER, OptValue::Bytes(forever.into())).await.unwrap();
    let got = s.getsockopt_bytes(SOL_SOCKET, SO_LINGER, 8).await.unwrap();
    assert_eq!(i32::from_ne_bytes(got[4..8].try_into().unwrap()), 10, "linger at most 10 s");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l08_a_huge_backlog_is_clamped() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let (_listener, port) = huge_backlog_listener(&bridge).await;
    let (_, backlog) = listen_queue(port);
    assert_eq!(backlog, TestDaemon::limits().max_listen_backlog as u64);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l09_another_session_cannot_accept_on_a_listener() {
    let daemon = TestDaemon::start().await;
    let mut a = daemon.raw().await;
    a.ok("socket", json!({})).await;
    a.ok("bind", json!({"fd": 3, "address": ["127.0.0.1", 0]})).await;
    a.ok("listen", json!({"fd": 3})).await;
    let mut b = daemon.raw().await;
    let e = b.err("accept", json!({"fd": 3})).await;
    assert_eq!(e["data"]["errname"], "EBADF");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn l10_closing_the_session_frees_its_port_at_once_and_closes_its_connections() {
    let daemon = TestDaemon::start().await;
    let mut raw = daemon.raw().await;
    let mut listener = async |fd: i32| {
        raw.ok("socket", json!({})).await;
        raw.ok("bind", json!({"fd": fd, "address": ["127.0.0.1", 0]})).await;
        raw.ok("listen", json!({"fd": fd})).await;
        raw.ok("getsockname", json!({"fd": fd})).await[1].as_u64().unwrap() as u16
    };
    let busy = listener(3).await;
    let idle = listener(4).await;
    let mut native = tokio::net::TcpStream::connect(("127.0.0.1", busy)).await.unwrap();
    raw.ok("accept", json!({"fd": 3})).await;
    raw.send_message(Message::Close(None)).await;
    while raw.next().await.is_ok() {}
    let mut buf = [0u8; 1];
    assert_eq!(within(native.read(&mut buf)).await.unwrap(), 0, "the accepted connection is closed");
    // A listener with no connections: its port is free the moment the session has ended. (The busy
    // one's port stays held by its closed connection's TIME_WAIT, as for any process.)
    let bridge = daemon.client().await;
    let again = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    again.bind(("127.0.0.1", idle)).await.unwrap();
    again.listen(1).await.unwrap();
}
