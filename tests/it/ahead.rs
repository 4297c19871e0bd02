//! Sending ahead: a blocking `send`/`sendall` on a connected socket returns once its request is on
//! its way, as a kernel's send returns once the data is buffered. What a user must still see: an
//! error the send met, raised by the next call, once; every byte delivered by `close` and by
//! dropping the socket; a send after `shutdown(SHUT_WR)` failing at once; a timeout's send still
//! answering for itself.

use sockbridge_tests::wasm_client::{AF_INET, SHUT_WR, SOCK_STREAM, Socket};
use sockbridge_tests::{TestDaemon, errname, within};
use std::net::TcpListener;
use std::time::Duration;

/// A daemon allowing a native listener's port, the listener, and a bridge socket connected to it.
async fn connected_to_native() -> (TestDaemon, TcpListener, Socket) {
    let native = TcpListener::bind("127.0.0.1:0").unwrap();
    let port = native.local_addr().unwrap().port();
    let daemon = TestDaemon::allowing(&[&format!("127.0.0.1:{port}/tcp")]).await;
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    s.connect(("127.0.0.1", port)).await.unwrap();
    (daemon, native, s)
}

/// Accepts the bridge socket's connection and resets it (SO_LINGER 0, then close), waiting for the
/// RST to arrive.
async fn reset(native: &TcpListener) {
    let (peer, _) = native.accept().unwrap();
    socket2::SockRef::from(&peer).set_linger(Some(Duration::ZERO)).unwrap();
    drop(peer);
    tokio::time::sleep(Duration::from_millis(100)).await;
}

/// Reads everything the peer sends until EOF, on a blocking thread.
fn read_to_end(native: TcpListener) -> tokio::task::JoinHandle<Vec<u8>> {
    tokio::task::spawn_blocking(move || {
        use std::io::Read;
        let (mut peer, _) = native.accept().unwrap();
        let mut all = Vec::new();
        peer.read_to_end(&mut all).unwrap();
        all
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_error_a_send_met_is_raised_by_the_next_send_once() {
    let (daemon, native, s) = connected_to_native().await;
    reset(&native).await;
    // The send itself returns as a kernel send does: the whole length, at once.
    assert_eq!(within(s.send(b"into a reset connection")).await.unwrap(), 23);
    // A recv gets the kernel's answer: b'', as CPython's recv after the send that raised the reset.
    assert_eq!(within(s.recv(16)).await.unwrap(), b"");
    // The next send raises the reset the send ahead met.
    let e = within(s.send(b"x")).await.unwrap_err();
    assert_eq!((errname(&e), e.exception()), ("ECONNRESET", "ConnectionResetError"), "{e}");
    // Raised once: what follows is the kernel's own answer (a reset socket's send is EPIPE).
    let e = within(s.send(b"x")).await.unwrap_err();
    assert_eq!((errname(&e), e.exception()), ("EPIPE", "BrokenPipeError"), "{e}");
    s.close().await.unwrap();
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn with_a_timeout_each_send_answers_for_itself() {
    let (daemon, native, s) = connected_to_native().await;
    s.settimeout(Some(Duration::from_secs(5))).unwrap();
    reset(&native).await;
    let e = within(s.send(b"into a reset connection")).await.unwrap_err();
    assert_eq!(errname(&e), "ECONNRESET", "{e}");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn close_delivers_every_byte_sent_ahead() {
    let (daemon, native, s) = connected_to_native().await;
    let reader = read_to_end(native);
    let piece: Vec<u8> = (0..60_000u32).map(|i| (i % 251) as u8).collect();
    let mut expected = Vec::new();
    for _ in 0..40 {
        s.sendall(&piece).await.unwrap();
        expected.extend_from_slice(&piece);
    }
    s.close().await.unwrap();
    let got = within(reader).await.unwrap();
    assert_eq!(got.len(), expected.len());
    assert!(got == expected, "bytes differ");
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn dropping_the_socket_delivers_too() {
    let (daemon, native, s) = connected_to_native().await;
    let reader = read_to_end(native);
    for i in 0..100u8 {
        assert_eq!(s.send(&[i; 1000]).await.unwrap(), 1000);
    }
    drop(s);
    let got = within(reader).await.unwrap();
    assert_eq!(got.len(), 100_000);
    assert!(got.chunks(1000).enumerate().all(|(i, c)| c.iter().all(|&b| b as usize == i)));
    daemon.stop().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_send_after_shutdown_fails_at_once() {
    let (daemon, native, s) = connected_to_native().await;
    let reader = read_to_end(native);
    s.sendall(b"last words").await.unwrap();
    s.shutdown(SHUT_WR).await.unwrap();
    let e = within(s.send(b"more")).await.unwrap_err();
    assert_eq!((errname(&e), e.exception()), ("EPIPE", "BrokenPipeError"), "{e}");
    assert_eq!(within(reader).await.unwrap(), b"last words");
    s.close().await.unwrap();
    daemon.stop().await;
}
