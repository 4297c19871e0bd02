//! Starting the daemon and the proxies under test as processes of their own.

use crate::systems::{Peers, Proxy};
use std::path::Path;
use std::process::Stdio;
use std::time::Duration;
use tokio::io::{AsyncBufReadExt, BufReader};
use tokio::process::{Child, Command};

/// `bridge-daemon`, with limits raised for load (a configuration file of its own) and egress open
/// to loopback, where the peers are.
pub(crate) struct Daemon {
    pub(crate) url: String,
    /// The teaching pages' address with the token (when the pages are built).
    pub(crate) pages: Option<String>,
    pub(crate) pid: u32,
    _child: Child,
    _config: tempfile_path::TempPath,
}

mod tempfile_path {
    /// A file removed when dropped.
    pub(crate) struct TempPath(pub std::path::PathBuf);

    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
}

/// The benchmark's limits: far above what the workloads need, so they measure speed, not limits.
const LIMITS: &str = r#"
[limits]
max_sessions = 512
max_sockets_per_session = 1024
max_sockets_total = 19000
rpc_rate = 100000000
rpc_burst = 100000000
connect_rate = 1000000
connect_burst = 1000000
"#;

impl Daemon {
    pub(crate) async fn start(binary: &Path) -> anyhow::Result<Daemon> {
        let config = std::env::temp_dir().join(format!("sockbridge-bench-{}.toml", std::process::id()));
        std::fs::write(&config, LIMITS)?;
        let mut command = Command::new(binary);
        command.args(["--listen", "127.0.0.1:0", "--no-labs", "--allow-connect", "loopback", "--config"]).arg(&config);
        let web = Path::new("web-demo");
        let serve_pages = web.join("pkg/sockbridge.js").exists();
        if serve_pages {
            command.arg("--web-root").arg(web);
        }
        let mut child = command
            .env("RUST_LOG", "warn")
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .kill_on_drop(true)
            .spawn()
            .map_err(|e| {
                anyhow::anyhow!("cannot start {}: {e} (cargo build --release -p bridge-daemon)", binary.display())
            })?;
        let pid = child.id().unwrap_or_default();
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut lines = BufReader::new(stdout).lines();
        let url = lines.next_line().await?.ok_or_else(|| anyhow::anyhow!("no URL"))?;
        let pages = match serve_pages {
            true => lines.next_line().await?.map(|l| l.trim_start_matches("teaching pages: ").to_owned()),
            false => None,
        };
        Ok(Daemon { url, pages, pid, _child: child, _config: tempfile_path::TempPath(config) })
    }
}

/// A free loopback port, released for the proxy to take.
fn free_port() -> anyhow::Result<u16> {
    Ok(std::net::TcpListener::bind("127.0.0.1:0")?.local_addr()?.port())
}

/// Starts one proxy process per target (sink, source, echo; and UDP for websocat) and waits until
/// each accepts connections.
pub(crate) async fn start_proxy(name: &'static str, binary: &Path, peers: &Peers) -> anyhow::Result<Proxy> {
    let mut pids = Vec::new();
    let mut children = Vec::new();
    let mut urls = Vec::new();
    let mut targets = vec![(peers.sink, false), (peers.source, false), (peers.echo, false)];
    if name == "websocat" {
        targets.push((peers.udp, true));
    }
    for (target, udp) in targets {
        let port = free_port()?;
        let mut command = Command::new(binary);
        match name {
            "websocat" => {
                let to = if udp { format!("udp:{target}") } else { format!("tcp:{target}") };
                command.args(["--binary", &format!("ws-l:127.0.0.1:{port}"), &to]);
            }
            _ => {
                command.args([format!("127.0.0.1:{port}"), target.to_string()]);
            }
        }
        let child = command.stdout(Stdio::null()).stderr(Stdio::null()).kill_on_drop(true).spawn()?;
        pids.push(child.id().unwrap_or_default());
        children.push(child);
        for _ in 0..200 {
            if tokio::net::TcpStream::connect(("127.0.0.1", port)).await.is_ok() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(25)).await;
        }
        urls.push(format!("ws://127.0.0.1:{port}/"));
    }
    let mut urls = urls.into_iter();
    let mut next = || urls.next().unwrap_or_default();
    Ok(Proxy {
        name,
        sink: next(),
        source: next(),
        echo: next(),
        udp: (name == "websocat").then(&mut next),
        pids,
        _children: children,
    })
}
