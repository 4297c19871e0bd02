//! `sockbridge-bench`: sockbridge measured side by side with raw loopback TCP, websocat and
//! websockify, on the same work, in one run. Not a test: it prints numbers (`scripts/bench.sh` runs
//! it with the peers installed; BENCHMARKS.md holds a run).
//!
//! Each workload runs `--rounds` times, the systems interleaved (A B C A B C ...), and the median is
//! reported, with each system's ratio to websocat's.

#![allow(clippy::print_stdout, clippy::print_stderr)]

mod peers;
mod process;
mod report;
mod systems;

use clap::Parser;
use peers::RemotePeers;
use process::{Daemon, start_proxy};
use report::{Row, Table};
use std::path::PathBuf;
use std::time::Duration;
use systems::{Peers, Style, System};
use wasm_client::Codec;

/// Benchmarks sockbridge against raw loopback TCP, websocat and websockify.
#[derive(Debug, Parser)]
struct Args {
    /// `peers`: run the peers (started by the benchmark itself, in a process of their own).
    #[arg(hide = true)]
    role: Option<String>,
    /// The daemon to measure (a release build).
    #[arg(long, default_value = "target/release/bridge-daemon")]
    daemon: PathBuf,
    /// websocat, if installed (scripts/bench.sh installs it).
    #[arg(long)]
    websocat: Option<PathBuf>,
    /// websockify, if installed (scripts/bench.sh installs it).
    #[arg(long)]
    websockify: Option<PathBuf>,
    /// MiB moved by each bulk transfer.
    #[arg(long, default_value_t = 512)]
    mib: u64,
    /// Rounds of each workload (the median is reported).
    #[arg(long, default_value_t = 5)]
    rounds: usize,
    /// Echoes per RTT measurement.
    #[arg(long, default_value_t = 5000)]
    echoes: usize,
    /// Datagrams per UDP measurement.
    #[arg(long, default_value_t = 50_000)]
    datagrams: u64,
    /// Sessions x sockets held by the daemon in the connections workload.
    #[arg(long, default_value_t = 100)]
    sessions: usize,
    /// Sockets per session in the connections workload.
    #[arg(long, default_value_t = 100)]
    sockets: usize,
    /// WebSocket connections held through each proxy (websocat; websockify is capped at 600: it
    /// forks a process per connection).
    #[arg(long, default_value_t = 5000)]
    proxy_connections: usize,
    /// MiB the slow page receives in headless Chromium.
    #[arg(long, default_value_t = 1024)]
    slow_mib: u64,
    /// The slow page's reading speed at most, in MB/s.
    #[arg(long, default_value_t = 32)]
    slow_rate: u64,
    /// Skip the headless-Chromium workloads.
    #[arg(long)]
    no_browser: bool,
    /// Where to write the results (results.md, chart.svg).
    #[arg(long, default_value = "bench/results")]
    out: PathBuf,
}

/// Raises this process's open-file limit to its hard limit (children inherit it): the connections
/// workload holds tens of thousands of sockets across the processes.
fn raise_fd_limit() {
    let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit/setrlimit with a valid struct.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}

#[tokio::main(flavor = "multi_thread")]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    raise_fd_limit();
    if args.role.as_deref() == Some("peers") {
        return peers::serve_peers(args.mib << 20, args.slow_mib << 20).await;
    }
    if let Some(addr) = std::env::var_os("PROBE_TCP") {
        return probe_tcp(&addr.to_string_lossy()).await;
    }
    if let Some(url) = std::env::var_os("PROBE_WS") {
        return probe_ws(&url.to_string_lossy()).await;
    }
    let bytes = args.mib << 20;
    let mut peers: Peers = RemotePeers::start(bytes, args.slow_mib << 20).await?;
    let daemon = Daemon::start(&args.daemon).await?;
    if std::env::var_os("PROBE").is_some() {
        return probe(&daemon.url, peers.echo).await;
    }
    let mut proxies = Vec::new();
    if let Some(path) = &args.websocat {
        proxies.push(start_proxy("websocat", path, &peers).await?);
    }
    if let Some(path) = &args.websockify {
        proxies.push(start_proxy("websockify", path, &peers).await?);
    }
    let url = daemon.url.as_str();
    let packed = |style| (System::Bridge { url, codec: Codec::Msgpack }, style);
    let json = |style| (System::Bridge { url, codec: Codec::Json }, style);

    let mut table = Table::default();

    // Bulk, both directions.
    let mut bulk: Vec<(String, System<'_>, Style)> = vec![("raw TCP".into(), System::Raw, Style::Awaited)];
    for (name, (system, style)) in [
        ("sockbridge MessagePack", packed(Style::Awaited)),
        ("sockbridge JSON", json(Style::Awaited)),
        ("sockbridge MessagePack, 32 in flight", packed(Style::Pipelined(32))),
    ] {
        bulk.push((name.into(), system, style));
    }
    for p in &proxies {
        bulk.push((p.name.into(), System::Proxy(p), Style::Awaited));
    }
    let mut up = rounds_for(bulk.len());
    let mut down = rounds_for(bulk.len());
    for round in 0..args.rounds {
        eprintln!("round {}/{}: bulk", round + 1, args.rounds);
        for (i, (_, system, style)) in bulk.iter().enumerate() {
            up[i].push(mbps(bytes, systems::upload(system, &mut peers, bytes, *style).await?));
            down[i].push(mbps(bytes, systems::download(system, &peers, bytes, *style).await?));
        }
    }
    table.push(Row::new(&format!("bulk upload, {} MiB in 64 KiB sendall (MB/s)", args.mib), names(&bulk), up));
    table.push(Row::new(&format!("bulk download, {} MiB by recv(65536) (MB/s)", args.mib), names(&bulk), down));

    // 64-byte echo RTT.
    let mut rtt: Vec<(String, System<'_>, bool)> = vec![
        ("raw TCP".into(), System::Raw, false),
        ("sockbridge MessagePack, send then recv".into(), packed(Style::Awaited).0, false),
        ("sockbridge MessagePack, recv posted first".into(), packed(Style::Awaited).0, true),
        ("sockbridge JSON, send then recv".into(), json(Style::Awaited).0, false),
        ("sockbridge JSON, recv posted first".into(), json(Style::Awaited).0, true),
    ];
    for p in &proxies {
        rtt.push((p.name.into(), System::Proxy(p), false));
    }
    let mut p50 = rounds_for(rtt.len());
    let mut p99 = rounds_for(rtt.len());
    for round in 0..args.rounds {
        eprintln!("round {}/{}: rtt", round + 1, args.rounds);
        for (i, (_, system, recv_first)) in rtt.iter().enumerate() {
            let mut times = systems::rtt(system, &peers, args.echoes, *recv_first).await?;
            times.sort();
            p50[i].push(micros(times[times.len() / 2]));
            p99[i].push(micros(times[times.len() * 99 / 100]));
        }
    }
    let rtt_names: Vec<String> = rtt.iter().map(|(n, _, _)| n.clone()).collect();
    table.push(Row::new("64-byte echo RTT p50 (µs)", rtt_names.clone(), p50).lower_is_better());
    table.push(Row::new("64-byte echo RTT p99 (µs)", rtt_names, p99).lower_is_better());

    // UDP datagrams per second.
    let mut udp: Vec<(String, System<'_>, Style)> = vec![("raw UDP".into(), System::Raw, Style::Awaited)];
    udp.push(("sockbridge MessagePack".into(), packed(Style::Awaited).0, Style::Awaited));
    udp.push(("sockbridge MessagePack, 32 in flight".into(), packed(Style::Awaited).0, Style::Pipelined(32)));
    udp.push(("sockbridge JSON, 32 in flight".into(), json(Style::Awaited).0, Style::Pipelined(32)));
    for p in proxies.iter().filter(|p| p.udp.is_some()) {
        udp.push((p.name.into(), System::Proxy(p), Style::Awaited));
    }
    for size in [64, 1400] {
        let mut rates = rounds_for(udp.len());
        for round in 0..args.rounds {
            eprintln!("round {}/{}: udp {size}", round + 1, args.rounds);
            for (i, (_, system, style)) in udp.iter().enumerate() {
                rates[i].push(systems::udp(system, &mut peers, args.datagrams, size, *style).await? / 1e3);
            }
        }
        let title = format!("UDP, {size}-byte datagrams arriving (thousands per second)");
        table.push(Row::new(&title, names(&udp), rates));
    }

    // Connections held, each echoing.
    eprintln!("connections: {} sessions x {} sockets", args.sessions, args.sockets);
    let held = systems::hold_bridge(url, Codec::Msgpack, daemon.pid, &peers, args.sessions, args.sockets).await?;
    let mut connections = String::from(
        "| connections held, each echoing 64 bytes twice | held | server memory growth (daemon RSS; proxies PSS incl. forks) | per connection |\n|---|---:|---:|---:|\n",
    );
    let mut held_row = |name: String, h: systems::Held| {
        let per = h.grew as f64 / h.connections.max(1) as f64 / 1024.0;
        connections +=
            &format!("| {name} | {} | {:.1} MiB | {per:.1} KiB |\n", h.connections, h.grew as f64 / 1048576.0);
    };
    held_row(format!("sockbridge: {} sessions x {} sockets", args.sessions, args.sockets), held);
    let mut failures = Vec::new();
    for p in &proxies {
        let want = if p.name == "websockify" { args.proxy_connections.min(600) } else { args.proxy_connections };
        eprintln!("connections: {want} through {}", p.name);
        match systems::hold_proxy(p, want).await {
            Ok(h) => held_row(format!("{}: {want} asked", p.name), h),
            Err(e) => failures.push(format!("| {}: {want} asked | failed: {e} | | |\n", p.name)),
        }
    }
    connections.extend(failures);

    // The wasm client in headless Chromium.
    let mut browser_rows = String::new();
    if !args.no_browser {
        match &daemon.pages {
            Some(pages) => {
                eprintln!("headless Chromium");
                let websocat = proxies.iter().find(|p| p.name == "websocat");
                let (text, ok) = browser_run(pages, &peers, websocat, daemon.pid, &args).await?;
                // Both codecs' uploads, and the page's own WebSocket's through websocat.
                for _ in 0..2 + usize::from(websocat.is_some()) {
                    let (got, _) = peers.sink_finished().await?;
                    anyhow::ensure!(got == bytes, "the sink got {got} of {bytes} bytes from the page");
                }
                if ok {
                    let native_up = table.rows[0].median_of("sockbridge MessagePack").unwrap_or(f64::NAN);
                    let native_down = table.rows[1].median_of("sockbridge MessagePack").unwrap_or(f64::NAN);
                    browser_rows = browser_table(&text, native_up, native_down)?;
                } else {
                    eprintln!("browser run failed: {text}");
                }
            }
            None => eprintln!("headless Chromium skipped: web-demo/pkg is not built (scripts/build-web.sh)"),
        }
    }

    let markdown = format!("{}{connections}\n{browser_rows}", table.markdown());
    println!("{markdown}");
    std::fs::create_dir_all(&args.out)?;
    std::fs::write(args.out.join("results.md"), &markdown)?;
    std::fs::write(args.out.join("chart.svg"), report::chart(&table))?;
    eprintln!("wrote {0}/results.md and {0}/chart.svg", args.out.display());
    Ok(())
}

fn rounds_for(n: usize) -> Vec<Vec<f64>> {
    vec![Vec::new(); n]
}

/// Runs bench/browser.mjs: the output line and whether it succeeded.
async fn browser_run(
    pages: &str,
    peers: &Peers,
    websocat: Option<&systems::Proxy>,
    daemon_pid: u32,
    args: &Args,
) -> anyhow::Result<(String, bool)> {
    let ws = |url: Option<&String>| url.cloned().unwrap_or_else(|| "-".into());
    let out = tokio::process::Command::new("node")
        .arg("bench/browser.mjs")
        .args([pages, &peers.sink.to_string(), &peers.source.to_string(), &peers.echo.to_string()])
        .args([args.mib.to_string(), (args.echoes / 2).to_string()])
        .args([ws(websocat.map(|p| &p.sink)), ws(websocat.map(|p| &p.source)), ws(websocat.map(|p| &p.echo))])
        .args([peers.flood.to_string(), args.slow_mib.to_string(), args.slow_rate.to_string()])
        .arg(daemon_pid.to_string())
        .stderr(std::process::Stdio::inherit())
        .output()
        .await?;
    Ok((String::from_utf8_lossy(&out.stdout).trim().to_owned(), out.status.success()))
}

/// The Chromium results as tables: the wasm client next to the native client's medians and to the
/// page's own WebSocket (when websocat was there to measure it), then the slow page's memory.
fn browser_table(line: &str, native_up: f64, native_down: f64) -> anyhow::Result<String> {
    let v: serde_json::Value = serde_json::from_str(line)?;
    let num = |path: &[&str]| path.iter().fold(&v, |v, k| &v[k]).as_f64().unwrap_or(f64::NAN);
    let ceiling = v.get("websocket").is_some();
    let mut out = String::from(
        "| headless Chromium (one run) | upload MB/s | × native | × page's WebSocket | download MB/s | × native | × page's WebSocket | RTT mean µs |\n|---|---:|---:|---:|---:|---:|---:|---:|\n",
    );
    let (ws_up, ws_down) = (num(&["websocket", "up"]), num(&["websocket", "down"]));
    for (key, name) in [("msgpack", "wasm client, MessagePack"), ("json", "wasm client, JSON")] {
        let (up, down, rtt) = (num(&[key, "up"]), num(&[key, "down"]), num(&[key, "rtt"]));
        let of = |x: f64, base: f64| if base.is_nan() { "".to_owned() } else { format!("{:.2}", x / base) };
        out += &format!(
            "| {name} | {up:.0} | {:.2} | {} | {down:.0} | {:.2} | {} | {rtt:.0} |\n",
            up / native_up,
            of(up, ws_up),
            down / native_down,
            of(down, ws_down)
        );
    }
    if ceiling {
        let rtt = num(&["websocket", "rtt"]);
        out += &format!(
            "| the page's own WebSocket, raw binary messages through websocat | {ws_up:.0} | {:.2} | 1.00 | {ws_down:.0} | {:.2} | 1.00 | {rtt:.0} |\n",
            ws_up / native_up,
            ws_down / native_down
        );
    }
    out += "\n(× native: against the native client's MessagePack medians above. × page's WebSocket: against \
            what a page's own WebSocket moves through websocat in the same Chromium, the ceiling for any \
            client in a page.)\n";
    let slow = &v["slow"];
    if slow.is_object() {
        let mib = |k: &str| slow[k].as_f64().unwrap_or(f64::NAN) / 1048576.0;
        let (bytes, seconds) = (mib("bytes"), slow["seconds"].as_f64().unwrap_or(f64::NAN));
        out += &format!(
            "\n| slow page: {bytes:.0} MiB received, read at {:.0} MB/s ({seconds:.0} s) | before | peak | growth |\n|---|---:|---:|---:|\n",
            bytes * 1.048576 / seconds
        );
        for (name, before, peak) in [
            ("daemon RSS", "daemonBefore", "daemonPeak"),
            ("Chromium renderers' RSS (the page)", "pageBefore", "pagePeak"),
        ] {
            let (b, p) = (mib(before), mib(peak));
            out += &format!("| {name} | {b:.1} MiB | {p:.1} MiB | {:.1} MiB |\n", p - b);
        }
    }
    Ok(out)
}

fn names(systems: &[(String, System<'_>, Style)]) -> Vec<String> {
    systems.iter().map(|(n, _, _)| n.clone()).collect()
}

fn mbps(bytes: u64, elapsed: Duration) -> f64 {
    bytes as f64 / 1e6 / elapsed.as_secs_f64()
}

fn micros(d: Duration) -> f64 {
    d.as_secs_f64() * 1e6
}

/// Latency of single calls through the bridge, for profiling: `sockbridge-bench probe URL`.
#[allow(dead_code)]
pub(crate) async fn probe(url: &str, echo: std::net::SocketAddr) -> anyhow::Result<()> {
    let bridge = wasm_client::Bridge::connect(url).await?;
    let s = bridge.socket(wasm_client::AF_INET, wasm_client::SOCK_STREAM).await?;
    s.connect(echo).await?;
    let n = 5000;
    for (name, which) in [("gethostname", 0), ("getsockname", 1), ("send", 2), ("send+recv", 3)] {
        let mut times = Vec::new();
        for _ in 0..n {
            let t = std::time::Instant::now();
            match which {
                0 => {
                    bridge.gethostname().await?;
                }
                1 => {
                    s.getsockname().await?;
                }
                2 => {
                    s.send(b"x").await?;
                    s.recv(1).await?;
                }
                _ => {
                    s.send(b"x").await?;
                    s.recv(1).await?;
                }
            }
            times.push(t.elapsed());
        }
        times.sort();
        println!("{name}: p50 {:?} p99 {:?}", times[n / 2], times[n * 99 / 100]);
    }
    Ok(())
}

/// Round trips of one 64-byte WebSocket message to a WebSocket echo (e.g. `websocat ws-l:… mirror:`).
#[allow(dead_code)]
pub(crate) async fn probe_ws(url: &str) -> anyhow::Result<()> {
    use futures_util::{SinkExt, StreamExt};
    let (mut ws, _) = tokio_tungstenite::connect_async(url).await?;
    let mut times = Vec::new();
    for _ in 0..5000 {
        let t = std::time::Instant::now();
        ws.send(tokio_tungstenite::tungstenite::Message::binary(vec![1u8; 64])).await?;
        let _ = ws.next().await;
        times.push(t.elapsed());
    }
    times.sort();
    println!("ws echo: p50 {:?} p99 {:?}", times[2500], times[4950]);
    Ok(())
}

/// Round trips of 64 bytes over plain TCP to an echo at `addr` (another process).
#[allow(dead_code)]
pub(crate) async fn probe_tcp(addr: &str) -> anyhow::Result<()> {
    use tokio::io::{AsyncReadExt, AsyncWriteExt};
    let mut s = tokio::net::TcpStream::connect(addr).await?;
    s.set_nodelay(true)?;
    let mut times = Vec::new();
    let mut buf = [0u8; 64];
    for _ in 0..5000 {
        let t = std::time::Instant::now();
        s.write_all(&[1u8; 64]).await?;
        s.read_exact(&mut buf).await?;
        times.push(t.elapsed());
    }
    times.sort();
    println!("tcp echo: p50 {:?} p99 {:?}", times[2500], times[4950]);
    Ok(())
}
