//! A daemon served to a class (`--hosted`, issue 15): join links, a trusted proxy's identity
//! header, per-identity limits, a private network per student, metrics and health, draining. The
//! private networks need root (CI runs as root); without it a hosted daemon must refuse to start,
//! and that is what is checked instead.

use bridge_daemon::access::Access;
use bridge_daemon::access::join::{Store, now};
use bridge_daemon::{Config, NetworkMode, UnixSockets};
use sockbridge_tests::wasm_client::{AF_INET, Bridge, Error, SOCK_STREAM};
use sockbridge_tests::{PATIENCE, errname, within};
use std::net::SocketAddr;
use std::path::PathBuf;
use std::sync::atomic::{AtomicU32, Ordering};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::task::JoinHandle;
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_util::sync::CancellationToken;

fn root() -> bool {
    // SAFETY: geteuid takes no arguments and cannot fail.
    unsafe { libc::geteuid() == 0 }
}

static NEXT: AtomicU32 = AtomicU32::new(0);

/// A hosted daemon in this process, its join links, and its metrics address.
struct Class {
    addr: SocketAddr,
    metrics: SocketAddr,
    links: PathBuf,
    /// Each student's secret.
    secrets: Vec<(String, String)>,
    stop: CancellationToken,
    handle: Option<JoinHandle<std::io::Result<()>>>,
}

impl Class {
    /// A class of `names`, with `adjust` applied to the configuration; `None` where this process
    /// may not make private networks (after checking the daemon refuses to start, saying why).
    async fn start(names: &[&str], adjust: impl FnOnce(&mut Config)) -> Option<Class> {
        let dir = std::env::temp_dir().join(format!(
            "sockbridge-class-{}-{}",
            std::process::id(),
            NEXT.fetch_add(1, Ordering::Relaxed)
        ));
        std::fs::create_dir_all(&dir).unwrap();
        let links = dir.join("links.json");
        let mut store = Store::default();
        let secrets = names
            .iter()
            .map(|name| (name.to_string(), store.add(name, now() + 3600).unwrap().reveal().to_owned()))
            .collect();
        store.save(&links).unwrap();
        let mut config = Config {
            token: None,
            unix: UnixSockets::Disabled,
            network: NetworkMode::Private,
            labs: true,
            access: Access { hosted: true, join_links: Some(links.clone()), ..Access::default() },
            ..Config::default()
        };
        adjust(&mut config);
        let listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let metrics_listener = tokio::net::TcpListener::bind("127.0.0.1:0").await.unwrap();
        let (addr, metrics) = (listener.local_addr().unwrap(), metrics_listener.local_addr().unwrap());
        let stop = CancellationToken::new();
        let serving =
            bridge_daemon::serve_with(listener, Some(metrics_listener), config, stop.clone().cancelled_owned());
        if !root() {
            let refused = within(serving).await.expect_err("a hosted daemon without private networks must not start");
            assert!(refused.to_string().contains("private network"), "{refused}");
            eprintln!(
                "not root: a hosted daemon refuses to start here (no private networks); that was checked instead"
            );
            return None;
        }
        let handle = tokio::spawn(serving);
        Some(Class { addr, metrics, links, secrets, stop, handle: Some(handle) })
    }

    fn secret(&self, name: &str) -> &str {
        &self.secrets.iter().find(|(n, _)| n == name).unwrap().1
    }

    fn url_with(&self, secret: &str) -> String {
        format!("ws://{}/#sb-token={secret}", self.addr)
    }

    /// A session of `name`, by their join link.
    async fn join(&self, name: &str) -> Bridge {
        within(Bridge::connect(&self.url_with(self.secret(name)))).await.unwrap()
    }

    /// Why a connection with this URL was refused.
    async fn refused(&self, url: &str) -> String {
        match within(Bridge::connect(url)).await {
            Ok(_) => panic!("{url} was admitted"),
            Err(Error::Connect(why)) => why,
            Err(other) => panic!("not a refused handshake: {other}"),
        }
    }

    /// `GET path` on the metrics address: the status and the body.
    async fn get(&self, path: &str) -> (u16, String) {
        let mut stream = within(tokio::net::TcpStream::connect(self.metrics)).await.unwrap();
        stream.write_all(format!("GET {path} HTTP/1.1\r\nHost: metrics\r\n\r\n").as_bytes()).await.unwrap();
        let mut text = String::new();
        within(stream.read_to_string(&mut text)).await.unwrap();
        let status = text.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
        (status, text.split_once("\r\n\r\n").map(|(_, body)| body.to_owned()).unwrap_or_default())
    }

    /// A metric's value (`name` with its labels, as the text format writes it).
    async fn metric(&self, sample: &str) -> Option<u64> {
        let (status, text) = self.get("/metrics").await;
        assert_eq!(status, 200);
        text.lines().find_map(|l| l.strip_prefix(sample).and_then(|v| v.strip_prefix(' ')).and_then(|v| v.parse().ok()))
    }

    /// Waits until `sample` reads `value`.
    async fn metric_becomes(&self, sample: &str, value: u64) {
        within(async {
            while self.metric(sample).await != Some(value) {
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
        })
        .await;
    }
}

impl Drop for Class {
    fn drop(&mut self) {
        self.stop.cancel();
        if let Some(dir) = self.links.parent() {
            let _ = std::fs::remove_dir_all(dir);
        }
    }
}

#[tokio::test]
async fn a_join_link_admits_its_student_and_nothing_else_does() {
    let Some(class) = Class::start(&["alice"], |_| {}).await else { return };
    let alice = class.join("alice").await;
    let network = alice.hello().network.clone().unwrap();
    assert_eq!(network.mode, "private", "every student's session has a private network");
    assert_eq!(alice.gethostname().await.unwrap(), "pc1");

    let no_link = class.refused(&format!("ws://{}/", class.addr)).await;
    assert!(no_link.contains("403") && no_link.contains("join link"), "{no_link}");
    let made_up = class.refused(&class.url_with("AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")).await;
    assert!(made_up.contains("403") && made_up.contains("not valid"), "{made_up}");
    // The secret of a link is never in the store (a copy of the file lets nobody in).
    let stored = std::fs::read_to_string(&class.links).unwrap();
    assert!(!stored.contains(class.secret("alice")));
}

#[tokio::test]
async fn two_students_bind_the_same_port_and_cannot_reach_each_other() {
    let Some(class) = Class::start(&["alice", "bob"], |_| {}).await else { return };
    let (alice, bob) = (class.join("alice").await, class.join("bob").await);
    let server = alice.socket(AF_INET, SOCK_STREAM).await.unwrap();
    server.bind(("", 8080)).await.unwrap();
    server.listen(5).await.unwrap();
    server.setblocking(false).unwrap();

    // Bob's computers are his own: the same port is free there, and alice's address is his pc1.
    let bound = bob.socket(AF_INET, SOCK_STREAM).await.unwrap();
    bound.bind(("", 8080)).await.unwrap();
    let alice_pc1 = alice.network().await.unwrap().hosts[0].address.clone();
    assert_eq!(bob.network().await.unwrap().hosts[0].address, alice_pc1, "both have a pc1 at the same address");
    let client = bob.socket(AF_INET, SOCK_STREAM).await.unwrap();
    let err = client.connect((alice_pc1.as_str(), 8080)).await.unwrap_err();
    assert_eq!(errname(&err), "ECONNREFUSED", "bob reached his own pc1, where nothing listens: {err}");
    let nothing = server.accept().await.unwrap_err();
    assert_eq!(errname(&nothing), "EAGAIN", "alice's server saw no connection: {nothing}");
}

#[tokio::test]
async fn a_revoked_link_stops_working_and_its_sessions_close() {
    let Some(class) = Class::start(&["alice", "bob"], |_| {}).await else { return };
    let (alice, bob) = (class.join("alice").await, class.join("bob").await);
    let mut store = Store::load(&class.links).unwrap();
    assert!(store.revoke("alice"));
    store.save(&class.links).unwrap();
    // Alice's open session closes within the daemon's recheck (RECHECK, 2 s).
    within(async {
        while alice.gethostname().await.is_ok() {
            tokio::time::sleep(Duration::from_millis(100)).await;
        }
    })
    .await;
    let again = class.refused(&class.url_with(class.secret("alice"))).await;
    assert!(again.contains("403") && again.contains("not valid"), "{again}");
    assert_eq!(bob.gethostname().await.unwrap(), "pc1", "bob's session goes on");
}

#[tokio::test]
async fn an_identity_has_as_many_sessions_as_it_may() {
    let Some(class) = Class::start(&["alice", "bob"], |c| c.limits.max_sessions_per_identity = 2).await else { return };
    let _first = class.join("alice").await;
    let _second = class.join("alice").await;
    let third = class.refused(&class.url_with(class.secret("alice"))).await;
    assert!(third.contains("503") && third.contains("one person"), "{third}");
    let _bob = class.join("bob").await;
    assert_eq!(class.metric("sockbridge_identity_sessions{identity=\"join:alice\"}").await, Some(2));
    assert_eq!(class.metric("sockbridge_refusals_total{rule=\"max_sessions_per_identity\"}").await, Some(1));
}

/// A raw WebSocket handshake from `source`, with `headers`: the HTTP status the daemon answers,
/// and the session if it was admitted.
async fn handshake_from(
    source: &str,
    daemon: SocketAddr,
    headers: &[(&str, &str)],
) -> (u16, Option<tokio_tungstenite::WebSocketStream<tokio::net::TcpStream>>) {
    let socket = tokio::net::TcpSocket::new_v4().unwrap();
    socket.bind(format!("{source}:0").parse().unwrap()).unwrap();
    let stream = within(socket.connect(daemon)).await.unwrap();
    let mut request = format!("ws://{daemon}/").into_client_request().unwrap();
    request.headers_mut().insert("Sec-WebSocket-Protocol", "sockbridge.v1".parse().unwrap());
    for (name, value) in headers {
        let name = tokio_tungstenite::tungstenite::http::HeaderName::from_bytes(name.as_bytes()).unwrap();
        request.headers_mut().insert(name, value.parse().unwrap());
    }
    match within(tokio_tungstenite::client_async(request, stream)).await {
        Ok((ws, response)) => (response.status().as_u16(), Some(ws)),
        Err(tokio_tungstenite::tungstenite::Error::Http(response)) => (response.status().as_u16(), None),
        Err(e) => panic!("handshake failed: {e}"),
    }
}

#[tokio::test]
async fn the_identity_header_is_believed_only_from_the_trusted_proxy() {
    let Some(class) = Class::start(&[], |c| {
        c.access.join_links = None;
        c.access.identity_header = Some("X-Remote-User".into());
        c.access.trusted_proxies = vec!["127.0.0.2".parse().unwrap()];
    })
    .await
    else {
        return;
    };
    // From the proxy: carol's session, as the metrics name it.
    let (status, _carol) = handshake_from("127.0.0.2", class.addr, &[("X-Remote-User", "carol")]).await;
    assert_eq!(status, 101);
    class.metric_becomes("sockbridge_identity_sessions{identity=\"user:carol\"}", 1).await;
    // The same header from anywhere else is refused, as is a name that is not plain.
    assert_eq!(handshake_from("127.0.0.1", class.addr, &[("X-Remote-User", "carol")]).await.0, 403);
    assert_eq!(handshake_from("127.0.0.2", class.addr, &[("X-Remote-User", "carol dave")]).await.0, 403);
    // And with no header and no join link, nobody is admitted, proxy or not.
    assert_eq!(handshake_from("127.0.0.2", class.addr, &[]).await.0, 403);
    assert_eq!(class.metric("sockbridge_refusals_total{rule=\"identity-header\"}").await, Some(2));
}

#[tokio::test]
async fn the_metrics_change_as_sessions_come_and_go() {
    let Some(class) = Class::start(&["alice", "bob"], |_| {}).await else { return };
    assert_eq!(class.get("/healthz").await, (200, "ok\n".into()));
    assert_eq!(class.metric("sockbridge_sessions").await, Some(0));
    let alice = class.join("alice").await;
    let bob = class.join("bob").await;
    assert_eq!(class.metric("sockbridge_sessions").await, Some(2));
    assert_eq!(class.metric("sockbridge_networks").await, Some(2), "one private network each");
    assert_eq!(class.metric("sockbridge_sessions_opened_total").await, Some(2));
    let s = alice.socket(AF_INET, SOCK_STREAM).await.unwrap();
    assert_eq!(class.metric("sockbridge_sockets").await, Some(1));
    let _ = class.refused(&format!("ws://{}/", class.addr)).await;
    assert_eq!(class.metric("sockbridge_refusals_total{rule=\"join-link\"}").await, Some(1));
    assert!(class.metric("sockbridge_received_bytes_total").await.is_some_and(|n| n > 0));
    s.close().await.unwrap();
    alice.close();
    class.metric_becomes("sockbridge_sessions", 1).await;
    class.metric_becomes("sockbridge_sockets", 0).await;
    assert_eq!(class.metric("sockbridge_identity_sessions{identity=\"join:alice\"}").await, None);
    assert_eq!(class.metric("sockbridge_identity_sessions{identity=\"join:bob\"}").await, Some(1));
    drop(bob);
    assert_eq!(class.get("/nothing").await.0, 404);
}

#[tokio::test]
async fn a_stopping_daemon_drains_its_sessions_by_the_deadline() {
    let Some(mut class) = Class::start(&["alice"], |c| c.drain_timeout = Duration::from_secs(2)).await else { return };
    let alice = class.join("alice").await;
    class.stop.cancel();
    // Draining: no new session (the port is closed), health says so, the open session goes on.
    within(async {
        while class.get("/healthz").await.0 != 503 {
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
    })
    .await;
    assert_eq!(class.get("/healthz").await.1, "draining\n");
    assert!(tokio::net::TcpStream::connect(class.addr).await.is_err(), "a draining daemon takes no new connection");
    assert_eq!(alice.gethostname().await.unwrap(), "pc1", "the open session goes on while the daemon drains");
    // By the deadline it is closed, and the daemon ends.
    let handle = class.handle.take().unwrap();
    tokio::time::timeout(PATIENCE, handle).await.expect("the daemon ended").unwrap().unwrap();
    assert!(alice.gethostname().await.is_err(), "the session is closed once the daemon has stopped");
}

#[tokio::test]
async fn a_students_tabs_share_one_network() {
    let Some(class) = Class::start(&["alice", "bob"], |_| {}).await else { return };
    let (tab1, tab2) = (class.join("alice").await, class.join("alice").await);
    tab1.add_host("pc2").await.unwrap();
    let names = |info: bridge_protocol::params::NetworkInfo| info.hosts.into_iter().map(|h| h.name).collect::<Vec<_>>();
    assert_eq!(
        names(tab2.network().await.unwrap()),
        ["pc1", "lab", "pc2"],
        "the second tab sees the host the first added"
    );
    assert_eq!(class.metric("sockbridge_networks").await, Some(1));
    // A server in one tab, its client in the other: the same computers.
    let server = tab1.socket(AF_INET, SOCK_STREAM).await.unwrap();
    server.bind(("", 8080)).await.unwrap();
    server.listen(1).await.unwrap();
    let pc1 = tab1.network().await.unwrap().hosts[0].address.clone();
    let client = tab2.socket_on(Some("pc2"), AF_INET, SOCK_STREAM, 0).await.unwrap();
    client.connect((pc1.as_str(), 8080)).await.unwrap();
    let (_conn, from) = within(server.accept()).await.unwrap();
    assert_eq!(from.host(), Some(tab2.network().await.unwrap().hosts[2].address.as_str()));
    // Bob's network is another.
    let bob = class.join("bob").await;
    assert_eq!(names(bob.network().await.unwrap()), ["pc1", "lab"]);
    // Once alice's last tab has closed, her next session starts on a fresh network.
    drop((server, client));
    tab1.close();
    tab2.close();
    class.metric_becomes("sockbridge_networks", 1).await;
    let again = class.join("alice").await;
    assert_eq!(names(again.network().await.unwrap()), ["pc1", "lab"]);
}
