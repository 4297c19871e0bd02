//! U: Unix sockets. Off by default; when on, confined to one private directory, by single-component
//! names, reaching only sockets pages of the same origin made, or exact allowed paths.

use bridge_daemon::{Config, UnixSockets};
use serde_json::json;
use sockbridge_tests::wasm_client::*;
use sockbridge_tests::{Raw, TestDaemon, errname, exists, within};
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};
use tokio_tungstenite::tungstenite::Message;

/// A directory of the test's own, outside any daemon's.
fn own_dir(tag: &str) -> PathBuf {
    let dir = std::env::temp_dir().join(format!("sockbridge-u-{}-{tag}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

async fn unix_socket(bridge: &Bridge) -> Socket {
    bridge.socket(AF_UNIX, SOCK_STREAM).await.unwrap()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u01_unix_sockets_are_off_by_default() {
    assert_eq!(Config::default().unix, UnixSockets::Disabled);
    let daemon = TestDaemon::start_with(|c| c.unix = UnixSockets::Disabled).await;
    let bridge = daemon.client().await;
    for kind in [SOCK_STREAM, SOCK_DGRAM] {
        let e = bridge.socket(AF_UNIX, kind).await.unwrap_err();
        assert_eq!(errname(&e), "EAFNOSUPPORT");
    }
    assert!(!bridge.hello().features.iter().any(|f| f == "unix"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u02_names_are_single_components_and_nothing_lands_outside() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let long = "x".repeat(65);
    for name in
        ["../escape.sock", "a/b", "/etc/x", ".", "..", "x\0y", "", &long, "trailing ", "ｅｃｈｏ.sock", "é.sock"]
    {
        let s = unix_socket(&bridge).await;
        let e = s.bind(name).await.unwrap_err();
        assert_eq!(errname(&e), "EACCES", "{name:?}");
        let e = s.connect(name).await.unwrap_err();
        assert_eq!(errname(&e), "EACCES", "{name:?}");
    }
    assert!(!exists(&daemon.unix_dir.parent().unwrap().join("escape.sock")));
    assert_eq!(std::fs::read_dir(&daemon.unix_dir).unwrap().count(), 0, "nothing was created");
}

async fn serve_fails(unix: UnixSockets) -> String {
    let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
    let config = Config { unix, ..Config::default() };
    match bridge_daemon::serve(listener, config, std::future::ready(())).await {
        Ok(()) => panic!("the daemon started"),
        Err(e) => e.to_string(),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u03_an_unsafe_socket_directory_stops_start_up() {
    let base = own_dir("u03");
    let open = base.join("open");
    std::fs::create_dir(&open).unwrap();
    std::fs::set_permissions(&open, std::fs::Permissions::from_mode(0o777)).unwrap();
    assert!(serve_fails(UnixSockets::Dir(open)).await.contains("open to group or others"));
    let link = base.join("link");
    let target = base.join("target");
    std::fs::create_dir(&target).unwrap();
    std::fs::set_permissions(&target, std::fs::Permissions::from_mode(0o700)).unwrap();
    std::os::unix::fs::symlink(&target, &link).unwrap();
    assert!(serve_fails(UnixSockets::Dir(link)).await.contains("symbolic link"));
    let file = base.join("file");
    std::fs::write(&file, b"").unwrap();
    assert!(serve_fails(UnixSockets::Dir(file)).await.contains("not a directory"));
    // A directory of another user: as root, make one; otherwise root's own /root is one.
    // SAFETY: geteuid has no preconditions.
    let other = if unsafe { libc::geteuid() } == 0 {
        let dir = base.join("other");
        std::fs::create_dir(&dir).unwrap();
        std::fs::set_permissions(&dir, std::fs::Permissions::from_mode(0o700)).unwrap();
        let c = std::ffi::CString::new(dir.to_str().unwrap()).unwrap();
        // SAFETY: a valid NUL-terminated path; 65534 is the conventional nobody user.
        assert_eq!(unsafe { libc::chown(c.as_ptr(), 65534, 65534) }, 0);
        dir
    } else {
        PathBuf::from("/root")
    };
    assert!(serve_fails(UnixSockets::Dir(other)).await.contains("owned by another user"));
    let _ = std::fs::remove_dir_all(&base);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u04_planted_sockets_and_symlinks_are_refused() {
    let daemon = TestDaemon::start().await;
    let outside = own_dir("u04");
    let secret = outside.join("agent.sock");
    let _agent = std::os::unix::net::UnixListener::bind(&secret).unwrap();
    std::os::unix::fs::symlink(&secret, daemon.unix_path("s.sock")).unwrap();
    let _planted = std::os::unix::net::UnixListener::bind(daemon.unix_path("planted.sock")).unwrap();
    let bridge = daemon.client().await;
    for name in ["s.sock", "planted.sock"] {
        let e = unix_socket(&bridge).await.connect(name).await.unwrap_err();
        assert_eq!(errname(&e), "EACCES", "{name}");
        let d = bridge.socket(AF_UNIX, SOCK_DGRAM).await.unwrap();
        assert_eq!(errname(&d.sendto(b"x", name).await.unwrap_err()), "EACCES", "{name}");
    }
    // A name nobody made: the kernel's answer, as in Python.
    assert_eq!(errname(&unix_socket(&bridge).await.connect("nobody.sock").await.unwrap_err()), "ENOENT");
    let _agent_is_untouched = _agent.set_nonblocking(true).map(|()| assert!(_agent.accept().is_err()));
    let _ = std::fs::remove_dir_all(&outside);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u05_binding_over_an_existing_file_is_eaddrinuse_and_leaves_it_alone() {
    let daemon = TestDaemon::start().await;
    std::fs::write(daemon.unix_path("notes.txt"), b"keep me").unwrap();
    let bridge = daemon.client().await;
    let e = unix_socket(&bridge).await.bind("notes.txt").await.unwrap_err();
    assert_eq!(errname(&e), "EADDRINUSE");
    drop(bridge);
    assert_eq!(std::fs::read(daemon.unix_path("notes.txt")).unwrap(), b"keep me");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u06_the_abstract_namespace_is_refused() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    for name in ["\0foo", "\0"] {
        assert_eq!(errname(&unix_socket(&bridge).await.bind(name).await.unwrap_err()), "EACCES");
        assert_eq!(errname(&unix_socket(&bridge).await.connect(name).await.unwrap_err()), "EACCES");
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u07_an_allowed_path_matches_after_normalisation_and_only_exactly() {
    let dir = own_dir("u07");
    let path = dir.join("app.sock");
    let listener = tokio::net::UnixListener::bind(&path).unwrap();
    let allowed = path.clone();
    let daemon = TestDaemon::start_with(|c| c.rules.unix.push(allowed)).await;
    let bridge = daemon.client().await;
    let name = dir.file_name().unwrap().to_str().unwrap();
    let roundabout = format!("{}/../{name}/./app.sock", dir.display());
    unix_socket(&bridge).await.connect(roundabout.as_str()).await.unwrap();
    within(listener.accept()).await.unwrap();
    for bad in [
        format!("{}/", path.display()),
        path.display().to_string().to_uppercase(),
        format!("{}/other.sock", dir.display()),
    ] {
        let e = unix_socket(&bridge).await.connect(bad.as_str()).await.unwrap_err();
        assert_eq!(errname(&e), "EACCES", "{bad}");
    }
    // Allowed paths are for connecting; binding stays in the socket directory.
    assert_eq!(errname(&unix_socket(&bridge).await.bind(path.to_str().unwrap()).await.unwrap_err()), "EACCES");
    let _ = std::fs::remove_dir_all(&dir);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u08_a_path_too_long_for_sun_path_is_enametoolong_not_truncated() {
    let deep = std::env::temp_dir().join(format!("sockbridge-u08-{}-{}", std::process::id(), "d".repeat(70)));
    let _ = std::fs::remove_dir_all(&deep);
    let daemon = TestDaemon::start_with(|c| c.unix = UnixSockets::Dir(deep.clone())).await;
    let bridge = daemon.client().await;
    let name = "n".repeat(60);
    let e = unix_socket(&bridge).await.bind(name.as_str()).await.unwrap_err();
    assert_eq!(errname(&e), "ENAMETOOLONG");
    assert_eq!(std::fs::read_dir(&deep).unwrap().count(), 0, "nothing created under a shortened name");
    drop(bridge);
    daemon.stop().await;
    let _ = std::fs::remove_dir_all(&deep);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u09_socket_files_are_0600_in_a_0700_directory() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    unix_socket(&bridge).await.bind("mine.sock").await.unwrap();
    let mode = |p: &Path| std::fs::symlink_metadata(p).unwrap().permissions().mode() & 0o777;
    assert_eq!(mode(&daemon.unix_path("mine.sock")), 0o600);
    assert_eq!(mode(&daemon.unix_dir), 0o700);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u10_session_end_removes_its_files_and_only_its_files() {
    let daemon = TestDaemon::start().await;
    std::fs::write(daemon.unix_path("someone-elses.txt"), b"x").unwrap();
    let mut raw = daemon.raw().await;
    raw.ok("socket", json!({"family": 1, "type": 1})).await;
    raw.ok("bind", json!({"fd": 3, "address": "gone.sock"})).await;
    raw.ok("socket", json!({"family": 1, "type": 2})).await;
    raw.ok("bind", json!({"fd": 4, "address": "gone-too.sock"})).await;
    assert!(exists(&daemon.unix_path("gone.sock")));
    raw.send_message(Message::Close(None)).await;
    while raw.next().await.is_ok() {}
    assert!(!exists(&daemon.unix_path("gone.sock")) && !exists(&daemon.unix_path("gone-too.sock")));
    assert!(exists(&daemon.unix_path("someone-elses.txt")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn u11_another_origins_socket_is_out_of_reach() {
    let daemon = TestDaemon::start_with(|c| c.allowed_origins = vec!["https://other.example".into()]).await;
    let own = format!("http://127.0.0.1:{}", daemon.addr.port());
    let mut a = Raw::open(&daemon.url, Some(&own)).await.unwrap();
    a.ok("socket", json!({"family": 1, "type": 1})).await;
    a.ok("bind", json!({"fd": 3, "address": "tab.sock"})).await;
    a.ok("listen", json!({"fd": 3})).await;
    let mut same = Raw::open(&daemon.url, Some(&own)).await.unwrap();
    same.ok("socket", json!({"family": 1, "type": 1})).await;
    same.ok("connect", json!({"fd": 3, "address": "tab.sock"})).await;
    let mut other = Raw::open(&daemon.url, Some("https://other.example")).await.unwrap();
    other.ok("socket", json!({"family": 1, "type": 1})).await;
    let e = other.err("connect", json!({"fd": 3, "address": "tab.sock"})).await;
    assert_eq!(e["data"]["errname"], "EACCES");
}
