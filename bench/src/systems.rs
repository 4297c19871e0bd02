//! The systems under test, and the same work done through each.
//!
//! | system | how the work reaches the peer |
//! |---|---|
//! | raw | a tokio `TcpStream` straight to the peer: the kernel's loopback, the bar |
//! | sockbridge | the native client (`wasm-client`), a socket in `bridge-daemon`, the peer |
//! | websocat, websockify | a WebSocket client (tokio-tungstenite) sending binary messages to the proxy, which forwards them over TCP to the peer |

use crate::peers::{RemotePeers, monotonic_ns};
use futures_util::{SinkExt, StreamExt};
use std::net::SocketAddr;
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::Message;
use wasm_client::{AF_INET, Bridge, Codec, ConnectOptions, SOCK_DGRAM, SOCK_STREAM};

/// The size of one write: 64 KiB, as a program streaming a file would write.
pub(crate) const CHUNK: usize = 64 << 10;

/// How calls are issued through the bridge.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Style {
    /// One call at a time, each awaited, as Python code is written.
    Awaited,
    /// Up to this many calls in flight on the socket (in order, per direction).
    Pipelined(usize),
}

/// The peers every workload uses.
pub(crate) type Peers = RemotePeers;

/// A WebSocket-to-TCP proxy under test: one proxy process per target, as they are run.
pub(crate) struct Proxy {
    pub(crate) name: &'static str,
    pub(crate) sink: String,
    pub(crate) source: String,
    pub(crate) echo: String,
    pub(crate) udp: Option<String>,
    pub(crate) pids: Vec<u32>,
    /// The proxy processes, killed when dropped.
    pub(crate) _children: Vec<tokio::process::Child>,
}

/// One system under test.
pub(crate) enum System<'a> {
    Raw,
    Bridge { url: &'a str, codec: Codec },
    Proxy(&'a Proxy),
}

/// A session with the daemon in `codec`.
pub(crate) async fn session(url: &str, codec: Codec) -> anyhow::Result<Bridge> {
    let options = ConnectOptions { codec: Some(codec), ..Default::default() };
    let bridge = Bridge::connect_with(url, &options).await?;
    anyhow::ensure!(bridge.codec() == codec, "the daemon chose {:?}", bridge.codec());
    Ok(bridge)
}

type Ws = tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<TcpStream>>;

async fn ws(url: &str) -> anyhow::Result<Ws> {
    let (ws, _) = tokio_tungstenite::connect_async(url).await?;
    Ok(ws)
}

async fn bridge_tcp(url: &str, codec: Codec, to: SocketAddr) -> anyhow::Result<(Bridge, wasm_client::Socket)> {
    let bridge = session(url, codec).await?;
    let s = bridge.socket(AF_INET, SOCK_STREAM).await?;
    s.connect(to).await?;
    Ok((bridge, s))
}

/// Uploads `bytes` in 64 KiB writes; the time until the sink has the last byte.
pub(crate) async fn upload(
    system: &System<'_>,
    peers: &mut Peers,
    bytes: u64,
    style: Style,
) -> anyhow::Result<Duration> {
    let chunk = vec![0xa5u8; CHUNK];
    let count = bytes / CHUNK as u64;
    let start = monotonic_ns();
    match system {
        System::Raw => {
            let mut s = TcpStream::connect(peers.sink).await?;
            for _ in 0..count {
                s.write_all(&chunk).await?;
            }
            s.shutdown().await?;
        }
        System::Bridge { url, codec } => {
            let (_bridge, s) = bridge_tcp(url, *codec, peers.sink).await?;
            let start = monotonic_ns();
            match style {
                Style::Awaited => {
                    for _ in 0..count {
                        s.sendall(&chunk).await?;
                    }
                }
                Style::Pipelined(depth) => {
                    let mut sends = futures_util::stream::iter(0..count).map(|_| s.sendall(&chunk)).buffered(depth);
                    while let Some(r) = sends.next().await {
                        r?;
                    }
                }
            }
            s.close().await?;
            return finish(peers, bytes, start).await;
        }
        System::Proxy(p) => {
            let mut w = ws(&p.sink).await?;
            let start = monotonic_ns();
            for _ in 0..count {
                w.feed(Message::binary(chunk.clone())).await?;
            }
            w.flush().await?;
            w.close(None).await?;
            return finish(peers, bytes, start).await;
        }
    }
    finish(peers, bytes, start).await
}

async fn finish(peers: &mut Peers, bytes: u64, start: u64) -> anyhow::Result<Duration> {
    let (got, last) = peers.sink_finished().await?;
    anyhow::ensure!(got == bytes, "the sink got {got} of {bytes} bytes");
    Ok(Duration::from_nanos(last.saturating_sub(start)))
}

/// Downloads what the source sends (`bytes`); the time until the client has the last byte.
pub(crate) async fn download(system: &System<'_>, peers: &Peers, bytes: u64, style: Style) -> anyhow::Result<Duration> {
    let mut total = 0u64;
    let start;
    match system {
        System::Raw => {
            let mut s = TcpStream::connect(peers.source).await?;
            start = Instant::now();
            let mut buf = vec![0u8; CHUNK];
            loop {
                let n = s.read(&mut buf).await?;
                if n == 0 {
                    break;
                }
                total += n as u64;
            }
        }
        System::Bridge { url, codec } => {
            let (_bridge, s) = bridge_tcp(url, *codec, peers.source).await?;
            start = Instant::now();
            match style {
                Style::Awaited => loop {
                    let data = s.recv(CHUNK).await?;
                    if data.is_empty() {
                        break;
                    }
                    total += data.len() as u64;
                },
                Style::Pipelined(depth) => {
                    let mut recvs = futures_util::stream::repeat(()).map(|()| s.recv(CHUNK)).buffered(depth);
                    while let Some(data) = recvs.next().await {
                        let data = data?;
                        if data.is_empty() {
                            break;
                        }
                        total += data.len() as u64;
                    }
                }
            }
        }
        System::Proxy(p) => {
            let mut w = ws(&p.source).await?;
            start = Instant::now();
            while total < bytes {
                match w.next().await {
                    Some(Ok(Message::Binary(data))) => total += data.len() as u64,
                    Some(Ok(Message::Text(data))) => total += data.len() as u64,
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(e.into()),
                    None => break,
                }
            }
        }
    }
    let elapsed = start.elapsed();
    anyhow::ensure!(total == bytes, "got {total} of {bytes} bytes");
    Ok(elapsed)
}

/// 64-byte echoes, one at a time: each one's round-trip time. `recv_first` posts the receive
/// before the send (only the bridge has a difference to make).
pub(crate) async fn rtt(
    system: &System<'_>,
    peers: &Peers,
    rounds: usize,
    recv_first: bool,
) -> anyhow::Result<Vec<Duration>> {
    let msg = [0x42u8; 64];
    let mut times = Vec::with_capacity(rounds);
    match system {
        System::Raw => {
            let mut s = TcpStream::connect(peers.echo).await?;
            s.set_nodelay(true)?;
            let mut buf = [0u8; 64];
            for _ in 0..rounds {
                let t = Instant::now();
                s.write_all(&msg).await?;
                s.read_exact(&mut buf).await?;
                times.push(t.elapsed());
            }
        }
        System::Bridge { url, codec } => {
            let (_bridge, s) = bridge_tcp(url, *codec, peers.echo).await?;
            s.setsockopt(wasm_client::IPPROTO_TCP, wasm_client::TCP_NODELAY, 1).await?;
            for _ in 0..rounds {
                let t = Instant::now();
                let mut got = if recv_first {
                    let (data, sent) = tokio::join!(s.recv(64), s.send(&msg));
                    anyhow::ensure!(sent? == 64, "a short send");
                    data?.len()
                } else {
                    anyhow::ensure!(s.send(&msg).await? == 64, "a short send");
                    s.recv(64).await?.len()
                };
                while got < 64 {
                    let more = s.recv(64 - got).await?;
                    anyhow::ensure!(!more.is_empty(), "the echo closed");
                    got += more.len();
                }
                times.push(t.elapsed());
            }
        }
        System::Proxy(p) => {
            let mut w = ws(&p.echo).await?;
            for _ in 0..rounds {
                let t = Instant::now();
                w.send(Message::binary(msg.to_vec())).await?;
                let mut got = 0;
                while got < 64 {
                    match w.next().await {
                        Some(Ok(Message::Binary(d))) => got += d.len(),
                        Some(Ok(_)) => {}
                        Some(Err(e)) => return Err(e.into()),
                        None => anyhow::bail!("the proxy closed"),
                    }
                }
                times.push(t.elapsed());
            }
        }
    }
    Ok(times)
}

/// Sends `count` datagrams of `size` bytes to the UDP sink; datagrams that arrived per second of
/// sending.
pub(crate) async fn udp(
    system: &System<'_>,
    peers: &mut Peers,
    count: u64,
    size: usize,
    style: Style,
) -> anyhow::Result<f64> {
    let data = vec![0x17u8; size];
    let before = peers.udp_count().await?;
    let start;
    match system {
        System::Raw => {
            let s = tokio::net::UdpSocket::bind("127.0.0.1:0").await?;
            start = Instant::now();
            for _ in 0..count {
                s.send_to(&data, peers.udp).await?;
            }
        }
        System::Bridge { url, codec } => {
            let bridge = session(url, *codec).await?;
            let s = bridge.socket(AF_INET, SOCK_DGRAM).await?;
            s.connect(peers.udp).await?;
            start = Instant::now();
            match style {
                Style::Awaited => {
                    for _ in 0..count {
                        s.send(&data).await?;
                    }
                }
                Style::Pipelined(depth) => {
                    let mut sends = futures_util::stream::iter(0..count).map(|_| s.send(&data)).buffered(depth);
                    while let Some(r) = sends.next().await {
                        r?;
                    }
                }
            }
        }
        System::Proxy(p) => {
            let Some(url) = &p.udp else { anyhow::bail!("{} has no UDP", p.name) };
            let mut w = ws(url).await?;
            start = Instant::now();
            for _ in 0..count {
                w.feed(Message::binary(data.clone())).await?;
            }
            w.flush().await?;
        }
    }
    // Sending may finish before the datagrams arrive (a proxy buffers them): the rate is what
    // arrived, over the time until the last one did (the count stops growing for 200 ms).
    let mut arrived = peers.udp_count().await? - before;
    let mut last_change = Instant::now();
    while arrived < count && last_change.elapsed() < Duration::from_millis(200) {
        tokio::time::sleep(Duration::from_millis(2)).await;
        let now = peers.udp_count().await? - before;
        if now != arrived {
            arrived = now;
            last_change = Instant::now();
        }
    }
    let elapsed = last_change.duration_since(start);
    Ok(arrived as f64 / elapsed.as_secs_f64().max(1e-9))
}

/// The resident memory of process `pid`, in bytes (`VmRSS` of /proc/PID/status).
pub(crate) fn rss(pid: u32) -> anyhow::Result<u64> {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status"))?;
    let kib: u64 = status
        .lines()
        .find_map(|l| l.strip_prefix("VmRSS:"))
        .and_then(|v| v.split_whitespace().next())
        .ok_or_else(|| anyhow::anyhow!("no VmRSS for {pid}"))?
        .parse()?;
    Ok(kib << 10)
}

/// The proportional memory (PSS: shared pages divided among their sharers) of process `pid`.
fn pss(pid: u32) -> anyhow::Result<u64> {
    let rollup = std::fs::read_to_string(format!("/proc/{pid}/smaps_rollup"))?;
    let kib: u64 = rollup
        .lines()
        .find_map(|l| l.strip_prefix("Pss:"))
        .and_then(|v| v.split_whitespace().next())
        .ok_or_else(|| anyhow::anyhow!("no Pss for {pid}"))?
        .parse()?;
    Ok(kib << 10)
}

/// The memory of several processes and all their descendants (websockify forks a process per
/// connection), as PSS so pages the forks share are counted once.
pub(crate) fn rss_of(pids: &[u32]) -> anyhow::Result<u64> {
    let mut total = 0;
    let mut stack = pids.to_vec();
    while let Some(pid) = stack.pop() {
        total += pss(pid).unwrap_or(0);
        for task in std::fs::read_dir(format!("/proc/{pid}/task"))?.flatten() {
            let children = std::fs::read_to_string(task.path().join("children")).unwrap_or_default();
            stack.extend(children.split_whitespace().filter_map(|c| c.parse::<u32>().ok()));
        }
    }
    Ok(total)
}

/// One 64-byte echo on a bridge socket.
async fn echo_once(s: &wasm_client::Socket) -> anyhow::Result<()> {
    let msg = [0x42u8; 64];
    s.sendall(&msg).await?;
    let mut got = 0;
    while got < 64 {
        let more = s.recv(64 - got).await?;
        anyhow::ensure!(!more.is_empty(), "the echo closed");
        got += more.len();
    }
    Ok(())
}

/// What holding connections cost: how many, and the memory the serving processes grew by.
pub(crate) struct Held {
    pub(crate) connections: usize,
    pub(crate) grew: u64,
}

/// Opens `sessions` x `per_session` bridged TCP connections to the echo peer, each echoing once
/// when all are open; the daemon's RSS growth, measured with every connection open and after a
/// second round of echoes on all of them.
pub(crate) async fn hold_bridge(
    url: &str,
    codec: Codec,
    daemon_pid: u32,
    peers: &Peers,
    sessions: usize,
    per_session: usize,
) -> anyhow::Result<Held> {
    let before = rss(daemon_pid)?;
    let mut held = Vec::new();
    let mut opening = Vec::new();
    for _ in 0..sessions {
        let url = url.to_owned();
        let echo = peers.echo;
        opening.push(tokio::spawn(async move {
            let bridge = session(&url, codec).await?;
            let mut sockets = Vec::with_capacity(per_session);
            for _ in 0..per_session {
                let s = bridge.socket(AF_INET, SOCK_STREAM).await?;
                s.connect(echo).await?;
                sockets.push(s);
            }
            anyhow::Ok((bridge, sockets))
        }));
    }
    for task in opening {
        held.push(task.await??);
    }
    for round in 0..2 {
        let mut echoes = Vec::new();
        for (_, sockets) in &held {
            for s in sockets {
                echoes.push(echo_once(s));
            }
        }
        for r in futures_util::future::join_all(echoes).await {
            r.map_err(|e| anyhow::anyhow!("echo round {round}: {e}"))?;
        }
    }
    let after = rss(daemon_pid)?;
    let connections = held.iter().map(|(_, s)| s.len()).sum();
    drop(held);
    Ok(Held { connections, grew: after.saturating_sub(before) })
}

/// Opens `count` WebSocket connections through a proxy to the echo peer, each echoing twice once
/// all are open; the proxy processes' RSS growth. Stops early (and says how far it got) if the
/// proxy refuses more.
pub(crate) async fn hold_proxy(proxy: &Proxy, count: usize) -> anyhow::Result<Held> {
    let before = rss_of(&proxy.pids)?;
    let mut held = Vec::with_capacity(count);
    for _ in 0..count {
        match tokio::time::timeout(Duration::from_secs(5), ws(&proxy.echo)).await {
            Ok(Ok(w)) => held.push(w),
            _ => break,
        }
    }
    for _ in 0..2 {
        let echoes = held.iter_mut().map(|w| async move {
            w.send(Message::binary(vec![0x42u8; 64])).await?;
            let mut got = 0;
            while got < 64 {
                match w.next().await {
                    Some(Ok(Message::Binary(d))) => got += d.len(),
                    Some(Ok(_)) => {}
                    Some(Err(e)) => return Err(anyhow::Error::from(e)),
                    None => anyhow::bail!("the proxy closed"),
                }
            }
            anyhow::Ok(())
        });
        let results = futures_util::future::join_all(echoes).await;
        let failed = results.iter().filter(|r| r.is_err()).count();
        anyhow::ensure!(failed == 0, "{failed} of {} echoes through {} failed", held.len(), proxy.name);
    }
    let after = rss_of(&proxy.pids)?;
    Ok(Held { connections: held.len(), grew: after.saturating_sub(before) })
}
