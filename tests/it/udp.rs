//! UDP: datagrams both ways, boundaries kept, sender addresses, IPv6, connected UDP.

use sockbridge_tests::wasm_client::{AF_INET, AF_INET6, Address, SOCK_DGRAM};
use sockbridge_tests::{TestDaemon, errname, udp_bound, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_between_two_bridge_sockets_keep_their_boundaries() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let (a, b) = (udp_bound(&bridge).await, udp_bound(&bridge).await);
    let a_addr = a.getsockname().await.unwrap();
    let b_addr = b.getsockname().await.unwrap();
    assert_eq!(a.sendto(b"one", b_addr.clone()).await.unwrap(), 3);
    assert_eq!(a.sendto(b"two!", b_addr.clone()).await.unwrap(), 4);
    assert_eq!(within(b.recvfrom(1024)).await.unwrap(), (b"one".to_vec(), Some(a_addr.clone())));
    assert_eq!(within(b.recvfrom(1024)).await.unwrap(), (b"two!".to_vec(), Some(a_addr.clone())));
    // A datagram larger than bufsize is truncated, the rest discarded, as in Python.
    b.sendto(b"abcdef", a_addr).await.unwrap();
    assert_eq!(within(a.recv(3)).await.unwrap(), b"abc");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn both_ways_with_a_native_peer() {
    let native = tokio::net::UdpSocket::bind("127.0.0.1:0").await.unwrap();
    let native_addr = native.local_addr().unwrap();
    let daemon = TestDaemon::allowing(&[&format!("127.0.0.1:{}/udp", native_addr.port())]).await;
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    // An unbound UDP socket gets an ephemeral port on its first sendto, as in Python, but on
    // 127.0.0.1 where Python's is on 0.0.0.0: the bridge never binds beyond loopback.
    s.sendto(b"to native", ("127.0.0.1", native_addr.port())).await.unwrap();
    let mut buf = [0u8; 64];
    let (n, from) = within(native.recv_from(&mut buf)).await.unwrap();
    assert_eq!(&buf[..n], b"to native");
    assert_eq!(s.getsockname().await.unwrap(), Address::from(from));
    assert_eq!(from.ip().to_string(), "127.0.0.1");
    native.send_to(b"to bridge", from).await.unwrap();
    let (data, sender) = within(s.recvfrom(64)).await.unwrap();
    assert_eq!((data.as_slice(), sender), (&b"to bridge"[..], Some(Address::from(native_addr))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connected_udp_uses_send_and_recv() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let a = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    let b = udp_bound(&bridge).await;
    a.connect(b.getsockname().await.unwrap()).await.unwrap();
    assert_eq!(a.send(b"hi").await.unwrap(), 2);
    assert_eq!(within(b.recv(10)).await.unwrap(), b"hi");
    assert_eq!(a.getpeername().await.unwrap(), b.getsockname().await.unwrap());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn ipv6_datagrams() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let a = bridge.socket(AF_INET6, SOCK_DGRAM).await.unwrap();
    let b = bridge.socket(AF_INET6, SOCK_DGRAM).await.unwrap();
    a.bind(("::1", 0)).await.unwrap();
    b.bind(("::1", 0)).await.unwrap();
    a.sendto(b"v6", b.getsockname().await.unwrap()).await.unwrap();
    let (data, from) = within(b.recvfrom(10)).await.unwrap();
    assert_eq!(data, b"v6");
    assert!(matches!(from, Some(Address::Inet6 { ref host, .. }) if host == "::1"), "{from:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_af_inet_address_must_be_a_pair() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    let e = s.sendto(b"x", "not-an-inet-address").await.unwrap_err();
    assert_eq!(e.exception(), "TypeError", "{e}");
    let e = s.sendto(b"x", ("::1", 9, 0, 0)).await.unwrap_err();
    assert_eq!(e.exception(), "TypeError", "{e}");
    assert_eq!(errname(&e), "");
}
