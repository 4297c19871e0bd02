//! `bridge-daemon`: arguments, logging and signals; the work is in the library.

use anyhow::{Context, bail};
use bridge_daemon::{Config, Limits, UnixSockets};
use bridge_protocol::DEFAULT_PORT;
use clap::Parser;
use std::io::Write as _;
use std::net::SocketAddr;
use std::path::PathBuf;
use tracing_subscriber::EnvFilter;

/// Real sockets for web pages: serves Python's socket API over WebSocket.
///
/// The first line on standard output is the WebSocket URL to connect to (useful with --listen
/// 127.0.0.1:0, which picks a free port). Logs go to standard error; set RUST_LOG to choose what
/// they show (for example RUST_LOG=bridge_daemon=debug).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    /// Address to listen on. Loopback only.
    #[arg(long, default_value_t = SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)))]
    listen: SocketAddr,
    /// Also admit pages from this origin (exact `scheme://host[:port]`; repeat or comma-separate).
    /// The daemon's own origin is always admitted.
    #[arg(long = "allow-origin", value_name = "ORIGIN", value_delimiter = ',')]
    allow_origin: Vec<String>,
    /// Serve the teaching pages from this directory (default: the checkout's web-demo/).
    #[arg(long, value_name = "DIR")]
    web_root: Option<PathBuf>,
    /// Keep Unix sockets in this directory (default: a fresh private directory per run).
    #[arg(long, value_name = "DIR", conflicts_with = "no_unix")]
    unix_dir: Option<PathBuf>,
    /// Refuse AF_UNIX sockets.
    #[arg(long)]
    no_unix: bool,
    /// WebSocket sessions at once.
    #[arg(long, value_name = "N")]
    max_sessions: Option<usize>,
    /// Sockets one session may hold.
    #[arg(long, value_name = "N")]
    max_sockets_per_session: Option<usize>,
    /// Blocking requests one session may have in flight.
    #[arg(long, value_name = "N")]
    max_inflight: Option<usize>,
}

fn main() -> anyhow::Result<()> {
    let args = Args::parse();
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new("info")))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    let config = config(&args)?;
    raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    runtime.block_on(run(args.listen, config))
}

fn config(args: &Args) -> anyhow::Result<Config> {
    if !args.listen.ip().is_loopback() {
        bail!(
            "--listen {}: the daemon listens on loopback only (a non-loopback listener needs TLS and a token, which this version does not have)",
            args.listen
        );
    }
    for origin in &args.allow_origin {
        check_origin(origin).with_context(|| format!("--allow-origin {origin:?}"))?;
    }
    let defaults = Limits::default();
    let limits = Limits {
        max_sessions: args.max_sessions.unwrap_or(defaults.max_sessions),
        max_sockets_per_session: args.max_sockets_per_session.unwrap_or(defaults.max_sockets_per_session),
        max_inflight_per_session: args.max_inflight.unwrap_or(defaults.max_inflight_per_session),
        ..defaults
    };
    limits.validate().map_err(anyhow::Error::msg)?;
    let unix = match (&args.unix_dir, args.no_unix) {
        (_, true) => UnixSockets::Disabled,
        (Some(dir), false) => UnixSockets::Dir(dir.clone()),
        (None, false) => UnixSockets::PrivateDir,
    };
    let web_root = match &args.web_root {
        Some(dir) if dir.is_dir() => Some(dir.clone()),
        Some(dir) => bail!("--web-root {}: not a directory", dir.display()),
        None => bridge_daemon::source_web_root(),
    };
    Ok(Config { allowed_origins: args.allow_origin.clone(), web_root, unix, limits })
}

/// An origin is `null` or `scheme://host[:port]` with scheme http or https, and nothing else.
fn check_origin(origin: &str) -> anyhow::Result<()> {
    if origin == "null" {
        return Ok(());
    }
    let Some((scheme, rest)) = origin.split_once("://") else {
        bail!("an origin looks like http://localhost:8000");
    };
    if scheme != "http" && scheme != "https" {
        bail!("the scheme must be http or https");
    }
    let bad = rest.is_empty()
        || rest.contains(['/', '?', '#', '@', '*', ' '])
        || rest.chars().any(|c| c.is_ascii_uppercase());
    if bad {
        bail!("an origin is scheme://host[:port] in lower case, with no path, wildcard or user part");
    }
    Ok(())
}

/// Raises the soft open-file limit to the hard one: each page socket is one fd.
fn raise_fd_limit() {
    let mut limit = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
    // SAFETY: getrlimit and setrlimit only read and write the struct passed.
    unsafe {
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut limit) == 0 && limit.rlim_cur < limit.rlim_max {
            limit.rlim_cur = limit.rlim_max;
            let _ = libc::setrlimit(libc::RLIMIT_NOFILE, &limit);
        }
    }
}

async fn run(listen: SocketAddr, config: Config) -> anyhow::Result<()> {
    let listener = tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))?;
    let addr = listener.local_addr()?;
    announce(addr, config.web_root.is_some())?;
    bridge_daemon::serve(listener, config, shutdown_signal()).await?;
    Ok(())
}

/// The first stdout line is the WebSocket URL; scripts read it to find a port chosen with :0.
#[allow(clippy::print_stdout)]
fn announce(addr: SocketAddr, pages: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "ws://{addr}/")?;
    if pages {
        writeln!(out, "teaching pages: http://{addr}/")?;
    }
    out.flush()?;
    Ok(())
}

async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(_) => std::future::pending().await,
        }
    };
    tokio::select! {
        () = ctrl_c => {}
        () = term => {}
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn origins() {
        for ok in ["http://localhost:8000", "https://course.example.edu", "null", "http://[::1]:9000"] {
            assert!(check_origin(ok).is_ok(), "{ok}");
        }
        for bad in ["localhost:8000", "ftp://x", "http://x/", "http://*.x", "https://X.com", "http://", "http://a@b"] {
            assert!(check_origin(bad).is_err(), "{bad}");
        }
    }
}
