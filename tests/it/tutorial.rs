//! Every call the tutorial (shared/seed/socket-tutorial.zh.txt) lists, used the way it uses them.

use sockbridge_tests::wasm_client::*;
use sockbridge_tests::{TestDaemon, closed_port, errname, tcp_pair, udp_bound, within};
use std::time::Duration;

/// §1: a process is named by protocol + IP address + port; getsockname after bind shows it.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s1_protocol_ip_and_port_name_a_process() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    s.bind(("127.0.0.1", 0)).await.unwrap();
    let Address::Inet { host, port } = s.getsockname().await.unwrap() else { panic!() };
    assert_eq!(host, "127.0.0.1");
    assert!(port >= 1024);
    assert_eq!((s.family(), s.kind()), (AF_INET, SOCK_STREAM));
}

/// §3: socket(AF_INET, SOCK_STREAM), socket(AF_INET, SOCK_DGRAM), then close().
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s3_creating_and_closing_sockets() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let s1 = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    let s2 = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    let s3 = bridge.socket(AF_UNIX, SOCK_STREAM).await.unwrap();
    assert!(s1.fileno() >= 3 && s2.fileno() > s1.fileno() && s3.fileno() > s2.fileno());
    s1.close().await.unwrap();
    s2.close().await.unwrap();
    s3.close().await.unwrap();
    assert_eq!((s1.fileno(), s2.fileno()), (-1, -1));
}

/// §4 and §5: a TCP echo server (SO_REUSEADDR, bind, listen(5), accept) and its client
/// (connect, send, recv), both through the bridge, serving two clients in turn.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s4_s5_tcp_echo_server_and_client() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let server = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    server.setsockopt(SOL_SOCKET, SO_REUSEADDR, true).await.unwrap();
    server.bind(("", 0)).await.unwrap();
    server.listen(5).await.unwrap();
    let port = server.getsockname().await.unwrap().port().unwrap();
    let serving = {
        let server = server.clone();
        tokio::spawn(async move {
            for _ in 0..2 {
                let (conn, _addr) = server.accept().await.unwrap();
                loop {
                    let data = conn.recv(1024).await.unwrap();
                    if data.is_empty() {
                        break;
                    }
                    conn.sendall(&data).await.unwrap();
                }
                conn.close().await.unwrap();
            }
        })
    };
    for name in ["alice", "bob"] {
        let client = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
        client.connect(("127.0.0.1", port)).await.unwrap();
        let sent = client.send(name.as_bytes()).await.unwrap();
        assert_eq!(sent, name.len());
        assert_eq!(within(client.recv(1024)).await.unwrap(), name.as_bytes());
        client.close().await.unwrap();
    }
    within(serving).await.unwrap();
}

/// §5: connect_ex returns 0 or the errno; a refused connection is 111 on Linux (the tutorial's
/// 10061 is the Windows number).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s5_connect_ex_returns_111_for_a_closed_port() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let closed = closed_port(&bridge).await;
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    assert_eq!(s.connect_ex(closed).await.unwrap(), 111);
    let server = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    server.bind(("127.0.0.1", 0)).await.unwrap();
    server.listen(1).await.unwrap();
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    assert_eq!(s.connect_ex(server.getsockname().await.unwrap()).await.unwrap(), 0);
}

/// §6: UDP recvfrom/sendto, both ways.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_udp_sendto_and_recvfrom_both_ways() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let server = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    server.bind(("127.0.0.1", 0)).await.unwrap();
    let client = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    assert_eq!(client.sendto(b"question", server.getsockname().await.unwrap()).await.unwrap(), 8);
    let (data, addr) = within(server.recvfrom(1024)).await.unwrap();
    assert_eq!(data, b"question");
    server.sendto(b"answer", addr.unwrap()).await.unwrap();
    let (data, from) = within(client.recvfrom(1024)).await.unwrap();
    assert_eq!((data.as_slice(), from), (&b"answer"[..], Some(server.getsockname().await.unwrap())));
}

/// §6: SO_REUSEADDR lets a server bind its port again at once while the old connection sits in
/// TIME_WAIT; without it the bind fails with EADDRINUSE.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_so_reuseaddr_rebinds_through_time_wait() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let server = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    server.setsockopt(SOL_SOCKET, SO_REUSEADDR, 1).await.unwrap();
    server.bind(("127.0.0.1", 0)).await.unwrap();
    server.listen(5).await.unwrap();
    let addr = server.getsockname().await.unwrap();
    let client = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    client.connect(addr.clone()).await.unwrap();
    let (conn, _) = within(server.accept()).await.unwrap();
    // The server closes first, so its side of the connection goes to TIME_WAIT.
    conn.close().await.unwrap();
    assert_eq!(client.recv(10).await.unwrap(), b"");
    client.close().await.unwrap();
    server.close().await.unwrap();

    let plain = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    let e = plain.bind(addr.clone()).await.unwrap_err();
    assert_eq!((e.exception(), errname(&e)), ("OSError", "EADDRINUSE"));
    let reusing = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    reusing.setsockopt(SOL_SOCKET, SO_REUSEADDR, true).await.unwrap();
    reusing.bind(addr).await.unwrap();
    reusing.listen(5).await.unwrap();
}

/// §6: settimeout(t) then recv raises a timeout; gettimeout shows it; settimeout(None) restores.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_settimeout_then_recv_times_out() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    s.bind(("127.0.0.1", 0)).await.unwrap();
    assert_eq!(s.gettimeout(), None);
    s.settimeout_secs(Some(0.1)).unwrap();
    assert_eq!(s.gettimeout(), Some(Duration::from_millis(100)));
    let e = within(s.recv(10)).await.unwrap_err();
    assert_eq!((e.exception(), e.to_string().as_str()), ("TimeoutError", "TimeoutError: timed out"));
    s.settimeout(None).unwrap();
    assert_eq!(s.gettimeout(), None);
}

/// §6: setblocking(False) then recv raises BlockingIOError.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_setblocking_false_then_recv_raises_blocking_io_error() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let s = udp_bound(&bridge).await;
    s.setblocking(false).unwrap();
    let e = s.recv(10).await.unwrap_err();
    assert_eq!((e.exception(), e.errno()), ("BlockingIOError", Some(11)));
    s.setblocking(true).unwrap();
    assert!(s.getblocking());
}

/// §6: fileno returns the socket's descriptor; getpeername/getsockname on a connection.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_fileno_getpeername_getsockname() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let server = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    assert_eq!(server.fileno(), 3);
    server.bind(("127.0.0.1", 0)).await.unwrap();
    server.listen(1).await.unwrap();
    let client = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    client.connect(server.getsockname().await.unwrap()).await.unwrap();
    let (conn, addr) = within(server.accept()).await.unwrap();
    assert_eq!(conn.fileno(), 5);
    assert_eq!(conn.getpeername().await.unwrap(), addr);
    assert_eq!(client.getsockname().await.unwrap(), addr);
    assert_eq!(conn.getsockname().await.unwrap(), server.getsockname().await.unwrap());
}

/// §6: makefile() gives a file: readline(), write() and flush().
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_makefile_readline() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let (_server, client, conn) = tcp_pair(&bridge).await;
    client.sendall(b"HELO bridge\r\nMAIL FROM:<a@b>\r\npartial").await.unwrap();
    let mut f = conn.makefile().unwrap();
    assert_eq!(within(f.readline()).await.unwrap(), b"HELO bridge\r\n");
    assert_eq!(within(f.readline()).await.unwrap(), b"MAIL FROM:<a@b>\r\n");
    f.write(b"250 OK\r\n").await.unwrap();
    f.flush().await.unwrap();
    assert_eq!(within(client.recv(64)).await.unwrap(), b"250 OK\r\n");
    client.close().await.unwrap();
    assert_eq!(within(f.readline()).await.unwrap(), b"partial", "the last line needs no newline");
    assert_eq!(within(f.readline()).await.unwrap(), b"", "then EOF");
    // As in Python: close() on the socket waits for the file; closing the file closes it.
    conn.close().await.unwrap();
    assert_eq!(conn.fileno(), 5, "still open while the file is");
    f.close().await.unwrap();
    assert_eq!(conn.fileno(), -1);
    assert_eq!(f.readline().await.unwrap_err().to_string(), "ValueError: peek of closed file");
}

/// §6: after a makefile read times out, the file refuses further reads, as Python's does.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn s6_makefile_after_a_timeout() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let s = udp_bound(&bridge).await;
    s.settimeout(Some(Duration::from_millis(50))).unwrap();
    let mut f = s.makefile().unwrap();
    assert!(within(f.readline()).await.unwrap_err().is_timeout());
    let e = f.readline().await.unwrap_err();
    assert_eq!(e.to_string(), "OSError: cannot read from timed out object");
    // Dropping the last file of a socket whose close() was called closes it, as in CPython.
    s.close().await.unwrap();
    assert_eq!(s.fileno(), 3, "still open while the file is");
    drop(f);
    assert_eq!(s.fileno(), -1);
    // The daemon freed the handle: the next socket gets number 3 again.
    assert_eq!(bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap().fileno(), 3);
}
