//! Many sockets and sessions at once; order within a direction; full duplex; no stalls.

use sockbridge_tests::wasm_client::*;
use sockbridge_tests::{TestDaemon, tcp_listener, udp_bound, within};
use tokio::io::AsyncReadExt;

async fn connected_pair(bridge: &Bridge, listener: &Socket) -> (Socket, Socket) {
    let client = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    client.connect(listener.getsockname().await.unwrap()).await.unwrap();
    let (conn, _) = within(listener.accept()).await.unwrap();
    (client, conn)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn two_hundred_sockets_across_ten_sessions_all_talking_at_once() {
    let daemon = TestDaemon::start().await;
    let mut tasks = Vec::new();
    for session in 0..10u32 {
        let bridge = daemon.client().await;
        let listener = tcp_listener(&bridge).await;
        // 9 pairs, plus the listener and one UDP pair: 20 sockets a session, 200 in all.
        for pair in 0..9u32 {
            let (client, conn) = connected_pair(&bridge, &listener).await;
            tasks.push(tokio::spawn(async move {
                for round in 0..50u32 {
                    let msg = format!("s{session}p{pair}r{round}");
                    client.sendall(msg.as_bytes()).await.unwrap();
                    let mut got = Vec::new();
                    while got.len() < msg.len() {
                        got.extend(conn.recv(msg.len() - got.len()).await.unwrap());
                    }
                    conn.sendall(&got).await.unwrap();
                    let mut back = Vec::new();
                    while back.len() < msg.len() {
                        back.extend(client.recv(msg.len() - back.len()).await.unwrap());
                    }
                    assert_eq!(back, msg.as_bytes());
                }
            }));
        }
        let (a, b) = (udp_bound(&bridge).await, udp_bound(&bridge).await);
        tasks.push(tokio::spawn(async move {
            let to = b.getsockname().await.unwrap();
            for round in 0..50u32 {
                a.sendto(format!("d{round}").as_bytes(), to.clone()).await.unwrap();
                assert_eq!(b.recv(64).await.unwrap(), format!("d{round}").as_bytes());
            }
            drop(listener);
        }));
    }
    for task in tasks {
        within(task).await.unwrap();
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_blocked_accept_or_recv_stalls_nothing_else() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let idle = tcp_listener(&bridge).await;
    let blocked_accept = {
        let idle = idle.clone();
        tokio::spawn(async move { idle.accept().await.map(|_| ()) })
    };
    let listener = tcp_listener(&bridge).await;
    let (client, conn) = connected_pair(&bridge, &listener).await;
    let blocked_recv = {
        let client = client.clone();
        tokio::spawn(async move { client.recv(1).await.map(|_| ()) })
    };
    // Same session, other sockets: fine.
    let (c2, s2) = connected_pair(&bridge, &listener).await;
    c2.sendall(b"through").await.unwrap();
    assert_eq!(within(s2.recv(7)).await.unwrap(), b"through");
    // Another session: fine.
    let other = daemon.client().await;
    let u = udp_bound(&other).await;
    u.sendto(b"x", u.getsockname().await.unwrap()).await.unwrap();
    assert_eq!(within(u.recv(1)).await.unwrap(), b"x");
    // Full duplex: a pending recv on `client` does not hold up a send on `client`.
    within(client.sendall(b"duplex")).await.unwrap();
    assert_eq!(within(conn.recv(6)).await.unwrap(), b"duplex");
    assert!(!blocked_accept.is_finished() && !blocked_recv.is_finished());
    conn.sendall(b"!").await.unwrap();
    within(blocked_recv).await.unwrap().unwrap();
    idle.close().await.unwrap();
    assert!(within(blocked_accept).await.unwrap().is_err());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_thousand_pipelined_sends_arrive_in_order() {
    let native = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let port = native.local_addr().unwrap().port();
    let daemon = TestDaemon::allowing(&[&format!("127.0.0.1:{port}/tcp")]).await;
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    s.connect(("127.0.0.1", port)).await.unwrap();
    let (mut peer, _) = native.accept().await.unwrap();
    let expected: String = (0..1000).map(|i| format!("{i},")).collect();
    let reader = tokio::spawn(async move {
        let mut got = String::new();
        let mut buf = vec![0u8; 4096];
        while got.len() < 3890 {
            let n = peer.read(&mut buf).await.unwrap();
            assert!(n > 0);
            got.push_str(std::str::from_utf8(&buf[..n]).unwrap());
        }
        got
    });
    // All 1,000 requests are in flight together (the client keeps to the in-flight allowance).
    let messages: Vec<String> = (0..1000).map(|i| format!("{i},")).collect();
    let sends = messages.iter().map(|m| s.sendall(m.as_bytes()));
    for result in within(futures_util::future::join_all(sends)).await {
        result.unwrap();
    }
    assert_eq!(expected.len(), 3890);
    assert_eq!(within(reader).await.unwrap(), expected);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn connect_does_not_wait_for_a_pending_recv_on_the_same_socket() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let u = udp_bound(&bridge).await;
    let peer = udp_bound(&bridge).await;
    let pending = {
        let u = u.clone();
        tokio::spawn(async move { u.recvfrom(64).await })
    };
    // The recvfrom is in the daemon before the connect (same socket's other lane answers first).
    u.getsockname().await.unwrap();
    within(u.connect(peer.getsockname().await.unwrap())).await.unwrap();
    peer.sendto(b"to the pending recv", u.getsockname().await.unwrap()).await.unwrap();
    let (data, _) = within(pending).await.unwrap().unwrap();
    assert_eq!(data, b"to the pending recv");
}

/// A program that sends and receives at once on one connection (a send loop and a receive loop
/// joined in one task, or `Promise.all` in a page): the sends fill the in-flight allowance and wait
/// for the peer to read, and the peer's `recv` must still reach the daemon. Before reads could
/// pass waiting sends, three runs in four of this test stopped for good.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_receive_is_never_stuck_behind_sends_that_wait_for_it() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let listener = tcp_listener(&bridge).await;
    let chunk = vec![7u8; 256 << 10];
    let total = 32 << 20;
    for _round in 0..4 {
        let (client, conn) = connected_pair(&bridge, &listener).await;
        let send = async {
            for _ in 0..total / chunk.len() {
                client.sendall(&chunk).await.unwrap();
            }
        };
        let receive = async {
            let mut got = 0;
            while got < total {
                got += conn.recv(512 << 10).await.unwrap().len();
            }
            got
        };
        let ((), got) = within(async { tokio::join!(send, receive) }).await;
        assert_eq!(got, total);
    }
}
