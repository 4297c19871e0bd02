//! setsockopt / getsockopt with Linux values, as Python sees them.

use sockbridge_tests::wasm_client::*;
use sockbridge_tests::{TestDaemon, closed_port, errname, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_listed_options_set_and_read_back() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let tcp = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    for (level, opt, value) in [
        (SOL_SOCKET, SO_REUSEADDR, 1),
        (SOL_SOCKET, SO_KEEPALIVE, 1),
        (IPPROTO_TCP, TCP_NODELAY, 1),
        (IPPROTO_IP, IP_TTL, 17),
        (IPPROTO_TCP, TCP_KEEPIDLE, 30),
    ] {
        assert_eq!(tcp.getsockopt(level, opt).await.ok().map(|v| v != i64::from(value)), Some(true));
        tcp.setsockopt(level, opt, value).await.unwrap();
        assert_eq!(tcp.getsockopt(level, opt).await.unwrap(), i64::from(value), "({level}, {opt})");
    }
    // True is 1, as Python passes it.
    tcp.setsockopt(SOL_SOCKET, SO_REUSEADDR, false).await.unwrap();
    assert_eq!(tcp.getsockopt(SOL_SOCKET, SO_REUSEADDR).await.unwrap(), 0);
    // Linux doubles the buffer sizes you ask for.
    tcp.setsockopt(SOL_SOCKET, SO_RCVBUF, 65536).await.unwrap();
    assert_eq!(tcp.getsockopt(SOL_SOCKET, SO_RCVBUF).await.unwrap(), 131072);
    tcp.setsockopt(SOL_SOCKET, SO_SNDBUF, 65536).await.unwrap();
    assert_eq!(tcp.getsockopt(SOL_SOCKET, SO_SNDBUF).await.unwrap(), 131072);
    assert_eq!(tcp.getsockopt(SOL_SOCKET, SO_TYPE).await.unwrap(), i64::from(SOCK_STREAM));
    assert_eq!(tcp.getsockopt(SOL_SOCKET, SO_ERROR).await.unwrap(), 0);

    // SO_LINGER is a struct linger: bytes in, bytes out.
    let linger = [1i32.to_ne_bytes(), 3i32.to_ne_bytes()].concat();
    tcp.setsockopt(SOL_SOCKET, SO_LINGER, linger.as_slice()).await.unwrap();
    assert_eq!(tcp.getsockopt_bytes(SOL_SOCKET, SO_LINGER, 8).await.unwrap(), linger);

    let udp = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    udp.setsockopt(SOL_SOCKET, SO_BROADCAST, 1).await.unwrap();
    assert_eq!(udp.getsockopt(SOL_SOCKET, SO_BROADCAST).await.unwrap(), 1);
    assert_eq!(udp.getsockopt(SOL_SOCKET, SO_TYPE).await.unwrap(), i64::from(SOCK_DGRAM));

    let v6 = bridge.socket(AF_INET6, SOCK_STREAM).await.unwrap();
    v6.setsockopt(IPPROTO_IPV6, IPV6_V6ONLY, 1).await.unwrap();
    assert_eq!(v6.getsockopt(IPPROTO_IPV6, IPV6_V6ONLY).await.unwrap(), 1);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn so_error_reports_a_failed_non_blocking_connect() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let closed = closed_port(&bridge).await;
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    s.setblocking(false).unwrap();
    let e = s.connect(closed).await.unwrap_err();
    assert_eq!((e.exception(), errname(&e)), ("BlockingIOError", "EINPROGRESS"));
    let (_, w, _) = within(bridge.select(&[], &[&s], &[], None)).await.unwrap();
    assert_eq!(w.len(), 1, "the outcome makes it writable");
    assert_eq!(s.getsockopt(SOL_SOCKET, SO_ERROR).await.unwrap(), 111, "ECONNREFUSED, read once");
    assert_eq!(s.getsockopt(SOL_SOCKET, SO_ERROR).await.unwrap(), 0, "reading SO_ERROR clears it");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn options_outside_the_list_are_refused() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    let e = s.setsockopt(SOL_SOCKET, SO_REUSEPORT, 1).await.unwrap_err();
    assert_eq!((e.exception(), errname(&e)), ("PermissionError", "EPERM"));
    for (level, opt) in [(SOL_SOCKET, 25 /* SO_BINDTODEVICE */), (IPPROTO_IP, 3 /* IP_HDRINCL */), (7, 7)] {
        let e = s.setsockopt(level, opt, 1).await.unwrap_err();
        assert_eq!(errname(&e), "ENOPROTOOPT", "({level}, {opt})");
    }
    // The kernel still judges fit: TCP_NODELAY on UDP fails as it does in Python ([Errno 92]).
    let udp = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    let e = udp.setsockopt(IPPROTO_TCP, TCP_NODELAY, 1).await.unwrap_err();
    assert_eq!((e.exception(), e.errno()), ("OSError", Some(92)));
}
