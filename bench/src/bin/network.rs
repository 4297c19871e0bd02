//! `sockbridge-bench-network`: private networks measured (issue 18). Not a test: it prints numbers
//! (`scripts/bench-network.sh` runs it; BENCHMARKS.md holds a run). Needs root, as private
//! networks do.
//!
//! - the time to open a session with a network of 1 host (no lab services), 2 (pc1 and the lab
//!   host) and 4 (three added with `add_host`);
//! - bulk TCP throughput and round trips through the bridge between two hosts, over the link the
//!   daemon carries, next to the same between two sockets of one host (its loopback), and of the
//!   shared mode (the daemon computer's loopback);
//! - the daemon's memory per network, and how many networks one daemon holds (up to `--networks`).

#![allow(clippy::print_stdout, clippy::print_stderr, missing_docs)]

use clap::Parser;
use std::path::{Path, PathBuf};
use std::process::Stdio;
use std::time::{Duration, Instant};
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};
use wasm_client::{AF_INET, Bridge, SOCK_STREAM, Socket};

#[derive(Debug, Parser)]
struct Args {
    /// The daemon to measure (a release build).
    #[arg(long, default_value = "target/release/bridge-daemon")]
    daemon: PathBuf,
    /// Rounds of each timing (the median is reported).
    #[arg(long, default_value_t = 20)]
    rounds: usize,
    /// MiB moved by each bulk transfer.
    #[arg(long, default_value_t = 256)]
    mib: usize,
    /// Round trips per RTT measurement.
    #[arg(long, default_value_t = 2000)]
    echoes: usize,
    /// The most networks to open at once when finding how many one daemon holds.
    #[arg(long, default_value_t = 500)]
    networks: usize,
    /// A second link measurement with this packet rate allowed (the default allows 50,000).
    #[arg(long, default_value_t = 10_000_000)]
    lifted_pps: u32,
}

/// `Limits::link_packets_per_second`'s default.
const DEFAULT_PPS: u32 = 50_000;

/// The daemon's limits for the benchmark: room for many sessions; links at `link_packets_per_second`.
fn limits(link_pps: u32) -> String {
    format!(
        "[limits]\nmax_sessions = 1000\nmax_networks = 1000\nmax_sockets_total = 60000\n\
         max_sockets_per_origin = 30000\nlink_packets_per_second = {link_pps}\nrpc_rate = 100000000\nrpc_burst = 100000000\n"
    )
}

struct Daemon {
    url: String,
    pid: u32,
    _child: Child,
}

async fn daemon(binary: &Path, args: &[&str], link_pps: u32) -> anyhow::Result<Daemon> {
    let config = std::env::temp_dir().join(format!("sockbridge-bench-network-{}-{link_pps}.toml", std::process::id()));
    std::fs::write(&config, limits(link_pps))?;
    let mut child = Command::new(binary)
        .args(["--listen", "127.0.0.1:0", "--config"])
        .arg(&config)
        .args(args)
        .env("RUST_LOG", "warn")
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .kill_on_drop(true)
        .spawn()?;
    let pid = child.id().unwrap_or_default();
    let mut lines = BufReader::new(child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?).lines();
    let url = lines.next_line().await?.ok_or_else(|| anyhow::anyhow!("no URL"))?;
    // The rest of its output is read (and dropped), so its writes never meet a closed pipe.
    tokio::spawn(async move { while let Ok(Some(_)) = lines.next_line().await {} });
    Ok(Daemon { url, pid, _child: child })
}

fn rss_mib(pid: u32) -> f64 {
    let status = std::fs::read_to_string(format!("/proc/{pid}/status")).unwrap_or_default();
    let kib: f64 = status
        .lines()
        .find(|l| l.starts_with("VmRSS:"))
        .and_then(|l| l.split_whitespace().nth(1))
        .and_then(|n| n.parse().ok())
        .unwrap_or(0.0);
    kib / 1024.0
}

fn median(mut v: Vec<f64>) -> f64 {
    v.sort_by(f64::total_cmp);
    v[v.len() / 2]
}

/// A connected pair through the bridge: `(client, accepted)`, the client on `client_host`.
async fn pair(
    bridge: &Bridge,
    server_host: Option<&str>,
    client_host: Option<&str>,
    dial: &str,
) -> anyhow::Result<(Socket, Socket)> {
    let server = bridge.socket_on(server_host, AF_INET, SOCK_STREAM, 0).await?;
    server.bind((if server_host.is_some() { "" } else { "127.0.0.1" }, 0)).await?;
    server.listen(1).await?;
    let wasm_client::Address::Inet { port, .. } = server.getsockname().await? else { anyhow::bail!("no port") };
    let client = bridge.socket_on(client_host, AF_INET, SOCK_STREAM, 0).await?;
    client.connect((dial, port)).await?;
    let (conn, _) = server.accept().await?;
    server.close().await?;
    Ok((client, conn))
}

/// MB/s of `mib` MiB sent one way, and the median round trip of a 1-byte echo, in µs.
async fn transfer(client: &Socket, conn: &Socket, mib: usize, echoes: usize) -> anyhow::Result<(f64, f64)> {
    let chunk = vec![7u8; 256 << 10];
    let total = mib << 20;
    let start = Instant::now();
    let sender = client.clone();
    let send = tokio::spawn(async move {
        let mut sent = 0;
        while sent < total {
            sender.sendall(&chunk).await?;
            sent += chunk.len();
        }
        anyhow::Ok(())
    });
    let mut got = 0;
    while got < total {
        got += conn.recv(512 << 10).await?.len();
    }
    send.await??;
    let mbps = total as f64 / 1e6 / start.elapsed().as_secs_f64();
    let mut rtts = Vec::with_capacity(echoes);
    for _ in 0..echoes {
        let t = Instant::now();
        client.sendall(b"x").await?;
        conn.recv(1).await?;
        conn.sendall(b"y").await?;
        client.recv(1).await?;
        rtts.push(t.elapsed().as_secs_f64() * 1e6);
    }
    Ok((mbps, median(rtts)))
}

#[tokio::main]
async fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    // SAFETY: geteuid has no arguments and cannot fail.
    if unsafe { libc::geteuid() } != 0 {
        anyhow::bail!("private networks need root (or user namespaces the daemon does not use): run as root");
    }
    println!("# private networks (bridge-daemon --network private), {} rounds, medians", args.rounds);

    // Time to a session with its network.
    let bare = daemon(&args.daemon, &["--network", "private", "--no-labs"], DEFAULT_PPS).await?;
    let with_labs = daemon(&args.daemon, &["--network", "private"], DEFAULT_PPS).await?;
    let mut rows = Vec::new();
    for (label, d, add) in [
        ("1 host (no labs)", &bare, 0),
        ("2 hosts (pc1 + lab)", &with_labs, 0),
        ("4 hosts (pc1 + lab + 2 added)", &with_labs, 2),
    ] {
        let mut times = Vec::new();
        for _ in 0..args.rounds {
            let t = Instant::now();
            let bridge = Bridge::connect(&d.url).await?;
            for i in 0..add {
                bridge.add_host(&format!("pc{}", i + 2)).await?;
            }
            times.push(t.elapsed().as_secs_f64() * 1e3);
            bridge.close();
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        rows.push((label, median(times)));
    }
    let shared = daemon(&args.daemon, &["--no-labs"], DEFAULT_PPS).await?;
    let mut times = Vec::new();
    for _ in 0..args.rounds {
        let t = Instant::now();
        let bridge = Bridge::connect(&shared.url).await?;
        times.push(t.elapsed().as_secs_f64() * 1e3);
        bridge.close();
    }
    println!("\n| session opened, with hello | ms |\n|---|---|");
    println!("| shared loopback (no network) | {:.1} |", median(times));
    for (label, ms) in rows {
        println!("| private network of {label} | {ms:.1} |");
    }

    // Throughput and round trips.
    println!("\n| {} MiB one way, then 1-byte echoes | MB/s | RTT µs |\n|---|---|---|", args.mib);
    let bridge = Bridge::connect(&shared.url).await?;
    let (c, s) = pair(&bridge, None, None, "127.0.0.1").await?;
    let (mbps, rtt) = transfer(&c, &s, args.mib, args.echoes).await?;
    println!("| shared mode: the daemon computer's loopback | {mbps:.0} | {rtt:.0} |");
    bridge.close();
    let bridge = Bridge::connect(&bare.url).await?;
    bridge.add_host("pc2").await?;
    let (c, s) = pair(&bridge, Some("pc1"), Some("pc1"), "127.0.0.1").await?;
    let (mbps, rtt) = transfer(&c, &s, args.mib, args.echoes).await?;
    println!("| private network: two sockets of pc1 (its loopback) | {mbps:.0} | {rtt:.0} |");
    let (c, s) = pair(&bridge, Some("pc1"), Some("pc2"), "pc1").await?;
    let (mbps, rtt) = transfer(&c, &s, args.mib, args.echoes).await?;
    println!(
        "| private network: pc2 to pc1, over the daemon's link (50,000 packets/s, the default) | {mbps:.0} | {rtt:.0} |"
    );
    bridge.close();
    let lifted = daemon(&args.daemon, &["--network", "private", "--no-labs"], args.lifted_pps).await?;
    let bridge = Bridge::connect(&lifted.url).await?;
    bridge.add_host("pc2").await?;
    let (c, s) = pair(&bridge, Some("pc1"), Some("pc2"), "pc1").await?;
    let (mbps, rtt) = transfer(&c, &s, args.mib, args.echoes).await?;
    println!(
        "| private network: pc2 to pc1, over the daemon's link ({} packets/s allowed) | {mbps:.0} | {rtt:.0} |",
        args.lifted_pps
    );
    bridge.close();

    // Memory per network and how many one daemon holds.
    tokio::time::sleep(Duration::from_millis(300)).await;
    let d = daemon(&args.daemon, &["--network", "private"], DEFAULT_PPS).await?;
    let base = rss_mib(d.pid);
    let mut sessions = Vec::new();
    let mut why = format!("stopped at --networks {}", args.networks);
    let t = Instant::now();
    for _ in 0..args.networks {
        match Bridge::connect(&d.url).await {
            Ok(bridge) => sessions.push(bridge),
            Err(e) => {
                why = format!("session {} failed: {e}", sessions.len() + 1);
                break;
            }
        }
    }
    let elapsed = t.elapsed().as_secs_f64();
    let held = sessions.len();
    let rss = rss_mib(d.pid);
    println!("\n| networks held at once (pc1 + lab each) | {held} | {why} |\n|---|---|---|");
    println!(
        "| daemon RSS with none / with {held} | {base:.1} MiB / {rss:.1} MiB | {:.0} KiB per network |",
        (rss - base) * 1024.0 / held.max(1) as f64
    );
    println!(
        "| time to open them one after another | {elapsed:.2} s | {:.1} ms each |",
        elapsed * 1e3 / held.max(1) as f64
    );
    for s in &sessions {
        s.close();
    }
    Ok(())
}
