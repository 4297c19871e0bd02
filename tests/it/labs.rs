//! The lab services lessons talk to: echo, discard, daytime and chargen, over TCP and UDP.

use sockbridge_tests::wasm_client::*;
use sockbridge_tests::{TestDaemon, within};

async fn lab_daemon() -> (TestDaemon, Bridge) {
    let daemon = TestDaemon::start_with(|c| c.labs = true).await;
    let bridge = daemon.client().await;
    (daemon, bridge)
}

fn lab(bridge: &Bridge, name: &str) -> Address {
    bridge.hello().labs.get(name).cloned().unwrap_or_else(|| panic!("no lab {name}"))
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn hello_lists_every_service_on_loopback() {
    let (_daemon, bridge) = lab_daemon().await;
    let names: Vec<_> = bridge.hello().labs.keys().cloned().collect();
    assert_eq!(
        names,
        [
            "chargen_tcp",
            "chargen_udp",
            "daytime_tcp",
            "daytime_udp",
            "discard_tcp",
            "discard_udp",
            "echo_tcp",
            "echo_udp"
        ]
    );
    assert!(bridge.hello().labs.values().all(|a| a.host() == Some("127.0.0.1") && a.port() != Some(0)));
    let plain = TestDaemon::start().await;
    assert!(plain.client().await.hello().labs.is_empty(), "off unless configured");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn echo_and_discard() {
    let (_daemon, bridge) = lab_daemon().await;
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    s.connect(lab(&bridge, "echo_tcp")).await.unwrap();
    s.sendall(b"echo, echo").await.unwrap();
    let mut got = Vec::new();
    while got.len() < 10 {
        got.extend(within(s.recv(64)).await.unwrap());
    }
    assert_eq!(got, b"echo, echo");
    let u = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    u.sendto(b"datagram", lab(&bridge, "echo_udp")).await.unwrap();
    assert_eq!(within(u.recvfrom(64)).await.unwrap(), (b"datagram".to_vec(), Some(lab(&bridge, "echo_udp"))));

    let d = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    d.connect(lab(&bridge, "discard_tcp")).await.unwrap();
    d.sendall(&vec![b'x'; 1 << 20]).await.unwrap();
    d.settimeout_secs(Some(0.05)).unwrap();
    assert!(within(d.recv(1)).await.unwrap_err().is_timeout(), "discard never answers");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn daytime_and_chargen() {
    let (_daemon, bridge) = lab_daemon().await;
    let s = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    s.connect(lab(&bridge, "daytime_tcp")).await.unwrap();
    let mut f = s.makefile().unwrap();
    let line = String::from_utf8(within(f.readline()).await.unwrap()).unwrap();
    assert!(line.ends_with("-UTC\r\n") && line.contains(", 20"), "{line:?}");
    assert_eq!(within(f.readline()).await.unwrap(), b"", "daytime closes after one line");

    let u = bridge.socket(AF_INET, SOCK_DGRAM).await.unwrap();
    u.sendto(b"", lab(&bridge, "daytime_udp")).await.unwrap();
    assert!(String::from_utf8(within(u.recv(128)).await.unwrap()).unwrap().ends_with("-UTC\r\n"));

    let c = bridge.socket(AF_INET, SOCK_STREAM).await.unwrap();
    c.connect(lab(&bridge, "chargen_tcp")).await.unwrap();
    let mut g = c.makefile().unwrap();
    let first = within(g.readline()).await.unwrap();
    let second = within(g.readline()).await.unwrap();
    assert_eq!(first.len(), 74);
    assert_eq!(&first[..3], b" !\"");
    assert_eq!(&second[..3], b"!\"#", "each line starts one character later");
    g.close().await.unwrap();
    c.close().await.unwrap();

    u.sendto(b"", lab(&bridge, "chargen_udp")).await.unwrap();
    assert_eq!(within(u.recv(1024)).await.unwrap().len(), 6 * 74);
}
