//! AF_UNIX: stream and datagram sockets named inside the daemon's socket directory.

use sockbridge_tests::wasm_client::{AF_UNIX, Address, SOCK_DGRAM, SOCK_STREAM};
use sockbridge_tests::{TestDaemon, errname, exists, within};
use std::os::unix::fs::PermissionsExt;
use tokio::io::{AsyncReadExt, AsyncWriteExt};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn stream_echo_with_names_not_paths() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    assert!(bridge.hello().features.iter().any(|f| f == "unix"));
    let server = bridge.socket(AF_UNIX, SOCK_STREAM).await.unwrap();
    assert_eq!(server.getsockname().await.unwrap(), Address::Unix(String::new()), "unbound is ''");
    server.bind("echo.sock").await.unwrap();
    server.listen(1).await.unwrap();
    assert_eq!(server.getsockname().await.unwrap(), Address::from("echo.sock"));
    let file = daemon.unix_path("echo.sock");
    assert_eq!(std::fs::metadata(&file).unwrap().permissions().mode() & 0o777, 0o600);

    let client = bridge.socket(AF_UNIX, SOCK_STREAM).await.unwrap();
    client.connect("echo.sock").await.unwrap();
    let (conn, peer) = within(server.accept()).await.unwrap();
    assert_eq!(peer, Address::Unix(String::new()), "an unbound peer is ''");
    assert_eq!(client.getpeername().await.unwrap(), Address::from("echo.sock"));
    client.sendall(b"local").await.unwrap();
    assert_eq!(conn.recv(16).await.unwrap(), b"local");
    conn.sendall(b"echo").await.unwrap();
    assert_eq!(client.recv(16).await.unwrap(), b"echo");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn datagrams_and_unnamed_senders() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let a = bridge.socket(AF_UNIX, SOCK_DGRAM).await.unwrap();
    a.bind("a.sock").await.unwrap();
    let b = bridge.socket(AF_UNIX, SOCK_DGRAM).await.unwrap();
    b.sendto(b"from unnamed", "a.sock").await.unwrap();
    assert_eq!(within(a.recvfrom(64)).await.unwrap(), (b"from unnamed".to_vec(), None), "Python's None");
    b.bind("b.sock").await.unwrap();
    b.sendto(b"from b", "a.sock").await.unwrap();
    assert_eq!(within(a.recvfrom(64)).await.unwrap(), (b"from b".to_vec(), Some(Address::from("b.sock"))));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn native_peers_in_the_socket_directory() {
    // A native server the page connects to: outside the bridge's directory, at a path a rule
    // names exactly (--allow-unix).
    let dir = std::env::temp_dir().join(format!("sockbridge-native-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let path = dir.join("native.sock");
    let _ = std::fs::remove_file(&path);
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let daemon = TestDaemon::start_with(|c| c.rules.unix.push(path.clone())).await;
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_UNIX, SOCK_STREAM).await.unwrap();
    s.connect(path.to_str().unwrap()).await.unwrap();
    let (mut stream, _) = within(listener.accept()).await.unwrap();
    s.sendall(b"hi native").await.unwrap();
    let mut buf = [0u8; 9];
    stream.read_exact(&mut buf).await.unwrap();
    assert_eq!(&buf, b"hi native");
    // A native client of a page's server.
    let server = bridge.socket(AF_UNIX, SOCK_STREAM).await.unwrap();
    server.bind("page.sock").await.unwrap();
    server.listen(1).await.unwrap();
    let mut native = tokio::net::UnixStream::connect(daemon.unix_path("page.sock")).await.unwrap();
    let (conn, _) = within(server.accept()).await.unwrap();
    native.write_all(b"hi page").await.unwrap();
    assert_eq!(conn.recv(7).await.unwrap(), b"hi page");
    drop(listener);
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn names_never_reach_outside_the_directory() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_UNIX, SOCK_STREAM).await.unwrap();
    for bad in ["/tmp/x.sock", "../x.sock", "a/b", ".", "..", "", "\0abstract", "x y", &"n".repeat(65)] {
        let e = s.bind(bad).await.unwrap_err();
        assert_eq!((e.exception(), errname(&e)), ("PermissionError", "EACCES"), "{bad:?}: {e}");
        let e = s.connect(bad).await.unwrap_err();
        assert_eq!(errname(&e), "EACCES", "{bad:?}");
    }
    let names: Vec<_> = std::fs::read_dir(&daemon.unix_dir).unwrap().collect();
    assert!(names.is_empty(), "nothing was created: {names:?}");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn binding_an_existing_name_is_eaddrinuse_and_leaves_it() {
    let daemon = TestDaemon::start().await;
    std::fs::write(daemon.unix_path("taken.sock"), b"not a socket").unwrap();
    let bridge = daemon.client().await;
    let s = bridge.socket(AF_UNIX, SOCK_STREAM).await.unwrap();
    let e = s.bind("taken.sock").await.unwrap_err();
    assert_eq!((e.exception(), errname(&e)), ("OSError", "EADDRINUSE"));
    assert_eq!(std::fs::read(daemon.unix_path("taken.sock")).unwrap(), b"not a socket");
    // Closing a bound socket leaves its file, as in Python; the session's end removes it.
    let t = bridge.socket(AF_UNIX, SOCK_DGRAM).await.unwrap();
    t.bind("mine.sock").await.unwrap();
    t.close().await.unwrap();
    assert!(exists(&daemon.unix_path("mine.sock")));
    let again = bridge.socket(AF_UNIX, SOCK_DGRAM).await.unwrap();
    assert_eq!(errname(&again.bind("mine.sock").await.unwrap_err()), "EADDRINUSE");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn disabled_unix_is_eafnosupport() {
    let daemon = TestDaemon::start_with(|c| c.unix = bridge_daemon::UnixSockets::Disabled).await;
    let bridge = daemon.client().await;
    assert!(!bridge.hello().features.iter().any(|f| f == "unix"));
    let e = bridge.socket(AF_UNIX, SOCK_STREAM).await.unwrap_err();
    assert_eq!(errname(&e), "EAFNOSUPPORT");
}
