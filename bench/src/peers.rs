//! The far ends every system under test talks to: plain tokio servers on loopback, run in a process
//! of their own (`sockbridge-bench peers`), as the services a bridge reaches are.
//!
//! | peer | does |
//! |---|---|
//! | [`Sink`] | reads each connection to its end and reports how many bytes arrived, and when |
//! | [`Source`] | writes a fixed number of bytes to each connection, then closes it (two of them: the
//! bulk source, and the flood that the slow page reads) |
//! | [`Echo`] | sends back whatever arrives |
//! | [`UdpSink`] | counts datagrams |

use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::Instant;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::{TcpListener, UdpSocket};
use tokio::sync::mpsc;

/// Reads every connection to EOF; each finished connection reports (bytes, when the last arrived).
pub(crate) struct Sink {
    pub(crate) addr: SocketAddr,
    done: mpsc::UnboundedReceiver<(u64, Instant)>,
}

impl Sink {
    pub(crate) async fn start() -> anyhow::Result<Sink> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        let (tx, done) = mpsc::unbounded_channel();
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                let tx = tx.clone();
                tokio::spawn(async move {
                    let mut buf = vec![0u8; 1 << 20];
                    let mut total = 0u64;
                    let mut last = Instant::now();
                    while let Ok(n) = stream.read(&mut buf).await {
                        if n == 0 {
                            break;
                        }
                        total += n as u64;
                        last = Instant::now();
                    }
                    let _ = tx.send((total, last));
                });
            }
        });
        Ok(Sink { addr, done })
    }

    /// Waits for the next connection that brought data to end: its bytes and the time its last
    /// byte arrived. (Connections without data, such as a proxy's readiness probe, are skipped.)
    pub(crate) async fn finished(&mut self) -> anyhow::Result<(u64, Instant)> {
        loop {
            match self.done.recv().await {
                Some((0, _)) => continue,
                Some(done) => return Ok(done),
                None => anyhow::bail!("the sink stopped"),
            }
        }
    }
}

/// Writes `bytes` to every connection in 64 KiB writes, then closes it.
pub(crate) struct Source {
    pub(crate) addr: SocketAddr,
}

impl Source {
    pub(crate) async fn start(bytes: u64) -> anyhow::Result<Source> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            while let Ok((mut stream, _)) = listener.accept().await {
                tokio::spawn(async move {
                    let chunk = vec![0x5au8; 64 << 10];
                    let mut left = bytes;
                    while left > 0 {
                        let n = left.min(chunk.len() as u64) as usize;
                        if stream.write_all(&chunk[..n]).await.is_err() {
                            return;
                        }
                        left -= n as u64;
                    }
                    let _ = stream.shutdown().await;
                });
            }
        });
        Ok(Source { addr })
    }
}

/// Sends back what it gets, on every connection.
pub(crate) struct Echo {
    pub(crate) addr: SocketAddr,
}

impl Echo {
    pub(crate) async fn start() -> anyhow::Result<Echo> {
        let listener = TcpListener::bind("127.0.0.1:0").await?;
        let addr = listener.local_addr()?;
        tokio::spawn(async move {
            while let Ok((stream, _)) = listener.accept().await {
                let _ = stream.set_nodelay(true);
                tokio::spawn(async move {
                    let (mut r, mut w) = stream.into_split();
                    let mut buf = vec![0u8; 16 << 10];
                    while let Ok(n) = r.read(&mut buf).await {
                        if n == 0 || w.write_all(&buf[..n]).await.is_err() {
                            break;
                        }
                    }
                });
            }
        });
        Ok(Echo { addr })
    }
}

/// Counts the datagrams and bytes that reach it.
pub(crate) struct UdpSink {
    pub(crate) addr: SocketAddr,
    pub(crate) datagrams: Arc<AtomicU64>,
}

impl UdpSink {
    pub(crate) async fn start() -> anyhow::Result<UdpSink> {
        let socket = UdpSocket::bind("127.0.0.1:0").await?;
        let addr = socket.local_addr()?;
        let datagrams = Arc::new(AtomicU64::new(0));
        let count = Arc::clone(&datagrams);
        tokio::spawn(async move {
            let mut buf = vec![0u8; 65536];
            while socket.recv_from(&mut buf).await.is_ok() {
                count.fetch_add(1, Ordering::Relaxed);
            }
        });
        Ok(UdpSink { addr, datagrams })
    }

    pub(crate) fn count(&self) -> u64 {
        self.datagrams.load(Ordering::Relaxed)
    }
}

/// Nanoseconds on the monotonic clock, which every process on the machine shares.
pub(crate) fn monotonic_ns() -> u64 {
    let mut ts = libc::timespec { tv_sec: 0, tv_nsec: 0 };
    // SAFETY: clock_gettime writes the struct passed.
    unsafe { libc::clock_gettime(libc::CLOCK_MONOTONIC, &mut ts) };
    ts.tv_sec as u64 * 1_000_000_000 + ts.tv_nsec as u64
}

/// The peers' process: starts them, prints their addresses as one JSON line, then one line per
/// sink connection that brought data (`done BYTES NANOS`), and answers `udp` on standard input
/// with the datagram count.
pub(crate) async fn serve_peers(bytes: u64, flood_bytes: u64) -> anyhow::Result<()> {
    use tokio::io::AsyncBufReadExt;
    let mut sink = Sink::start().await?;
    let source = Source::start(bytes).await?;
    let flood = Source::start(flood_bytes).await?;
    let echo = Echo::start().await?;
    let udp = UdpSink::start().await?;
    println!(
        "{}",
        serde_json::json!({
            "sink": sink.addr, "source": source.addr, "flood": flood.addr, "echo": echo.addr, "udp": udp.addr,
        })
    );
    let mut stdin = tokio::io::BufReader::new(tokio::io::stdin()).lines();
    loop {
        tokio::select! {
            done = sink.finished() => {
                let (n, at) = done?;
                let nanos = monotonic_ns() - at.elapsed().as_nanos() as u64;
                println!("done {n} {nanos}");
            }
            line = stdin.next_line() => match line? {
                Some(l) if l == "udp" => println!("udp {}", udp.count()),
                Some(_) => {}
                None => return Ok(()),
            },
        }
    }
}

/// The peers, running in their own process: their addresses, and the lines they report.
pub(crate) struct RemotePeers {
    pub(crate) sink: SocketAddr,
    pub(crate) source: SocketAddr,
    /// A source of `flood_bytes` per connection, for the slow page.
    pub(crate) flood: SocketAddr,
    pub(crate) echo: SocketAddr,
    pub(crate) udp: SocketAddr,
    lines: tokio::io::Lines<tokio::io::BufReader<tokio::process::ChildStdout>>,
    stdin: tokio::process::ChildStdin,
    _child: tokio::process::Child,
}

impl RemotePeers {
    /// Starts `sockbridge-bench peers` (this same program).
    pub(crate) async fn start(bytes: u64, flood_bytes: u64) -> anyhow::Result<RemotePeers> {
        use tokio::io::AsyncBufReadExt;
        let mut child = tokio::process::Command::new(std::env::current_exe()?)
            .args(["peers", "--mib", &(bytes >> 20).to_string(), "--slow-mib", &(flood_bytes >> 20).to_string()])
            .stdin(std::process::Stdio::piped())
            .stdout(std::process::Stdio::piped())
            .kill_on_drop(true)
            .spawn()?;
        let stdin = child.stdin.take().ok_or_else(|| anyhow::anyhow!("no stdin"))?;
        let stdout = child.stdout.take().ok_or_else(|| anyhow::anyhow!("no stdout"))?;
        let mut lines = tokio::io::BufReader::new(stdout).lines();
        let first = lines.next_line().await?.ok_or_else(|| anyhow::anyhow!("the peers did not start"))?;
        let v: serde_json::Value = serde_json::from_str(&first)?;
        let addr = |k: &str| -> anyhow::Result<SocketAddr> {
            v[k].as_str().ok_or_else(|| anyhow::anyhow!("no {k}"))?.parse().map_err(Into::into)
        };
        Ok(RemotePeers {
            sink: addr("sink")?,
            source: addr("source")?,
            flood: addr("flood")?,
            echo: addr("echo")?,
            udp: addr("udp")?,
            lines,
            stdin,
            _child: child,
        })
    }

    /// The next sink connection that brought data: its bytes and when (monotonic ns) its last byte
    /// arrived.
    pub(crate) async fn sink_finished(&mut self) -> anyhow::Result<(u64, u64)> {
        loop {
            let line = self.lines.next_line().await?.ok_or_else(|| anyhow::anyhow!("the peers stopped"))?;
            let mut parts = line.split_whitespace();
            if parts.next() == Some("done") {
                let n = parts.next().unwrap_or_default().parse()?;
                let at = parts.next().unwrap_or_default().parse()?;
                return Ok((n, at));
            }
        }
    }

    /// Datagrams the UDP sink has counted.
    pub(crate) async fn udp_count(&mut self) -> anyhow::Result<u64> {
        use tokio::io::AsyncWriteExt;
        self.stdin.write_all(b"udp\n").await?;
        loop {
            let line = self.lines.next_line().await?.ok_or_else(|| anyhow::anyhow!("the peers stopped"))?;
            if let Some(n) = line.strip_prefix("udp ") {
                return Ok(n.parse()?);
            }
        }
    }
}
