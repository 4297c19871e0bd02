//! getaddrinfo, gethostbyname, gethostname, and names in addresses, resolved by the daemon.

use sockbridge_tests::wasm_client::*;
use sockbridge_tests::{TestDaemon, within};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn getaddrinfo_answers_as_python() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let infos = bridge
        .getaddrinfo(GetaddrinfoParams {
            host: Some("127.0.0.1".into()),
            port: Some(Service::Port(80)),
            ..Default::default()
        })
        .await
        .unwrap();
    // Python: [(AF_INET, SOCK_STREAM, 6, '', ('127.0.0.1', 80)), (.., SOCK_DGRAM, 17, ..), (.., SOCK_RAW, 0, ..)]
    let rows: Vec<_> = infos.iter().map(|i| (i.family, i.kind, i.proto, i.canonname.as_str())).collect();
    assert_eq!(rows, [(2, 1, 6, ""), (2, 2, 17, ""), (2, 3, 0, "")]);
    assert!(infos.iter().all(|i| i.address == Address::from(("127.0.0.1", 80))));

    let v6 = bridge
        .getaddrinfo(GetaddrinfoParams {
            host: Some("::1".into()),
            port: Some(Service::Name("80".into())),
            family: AF_INET6,
            kind: SOCK_DGRAM,
            ..Default::default()
        })
        .await
        .unwrap();
    assert_eq!(v6.len(), 1);
    assert_eq!(v6[0].address, Address::from(("::1", 80, 0, 0)));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn resolver_errors_are_gaierrors() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    let e = bridge
        .getaddrinfo(GetaddrinfoParams {
            host: Some("localhost".into()),
            port: Some(Service::Name("no-such-service".into())),
            ..Default::default()
        })
        .await
        .unwrap_err();
    assert_eq!((e.exception(), e.errno(), e.errname()), ("gaierror", Some(-8), Some("EAI_SERVICE")));
    let e = bridge
        .getaddrinfo(GetaddrinfoParams { host: Some("::1".into()), family: AF_INET, ..Default::default() })
        .await
        .unwrap_err();
    assert_eq!((e.exception(), e.errno()), ("gaierror", Some(-9)));
    assert_eq!(e.to_string(), "gaierror: [Errno -9] Address family for hostname not supported");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hostnames_and_names_in_addresses() {
    let daemon = TestDaemon::start().await;
    let bridge = daemon.client().await;
    assert_eq!(bridge.gethostbyname("localhost").await.unwrap(), "127.0.0.1");
    assert_eq!(bridge.gethostbyname("127.0.0.1").await.unwrap(), "127.0.0.1");
    let name = bridge.gethostname().await.unwrap();
    assert!(!name.is_empty());
    // "localhost" in an address resolves as Python resolves it.
    let server = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    server.bind(("localhost", 0)).await.unwrap();
    server.listen(1).await.unwrap();
    let port = server.getsockname().await.unwrap().port().unwrap();
    let client = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    within(client.connect(("localhost", port))).await.unwrap();
    // connect_ex raises resolver errors rather than returning them.
    let other = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    let e = other.connect_ex(("::1", port)).await.unwrap_err();
    assert_eq!(e.exception(), "gaierror");
}
