//! `bridge-daemon`: arguments, logging and signals; the work is in the library.

use anyhow::{Context, bail};
use bridge_daemon::{Config, Limits, UnixSockets};
use bridge_protocol::DEFAULT_PORT;
use clap::{Parser, Subcommand};
use std::ffi::OsString;
use std::io::Write as _;
use std::net::{SocketAddr, TcpListener as StdListener};
use std::path::PathBuf;
use std::process::ExitCode;
use tokio_util::sync::CancellationToken;
use tracing_subscriber::EnvFilter;

/// Real sockets for web pages: serves Python's socket API over WebSocket.
///
/// The first line on standard output is the WebSocket URL to connect to (useful with --listen
/// 127.0.0.1:0, which picks a free port). Logs go to standard error; set RUST_LOG to choose what
/// they show (for example RUST_LOG=bridge_daemon=debug).
#[derive(Debug, Parser)]
#[command(version)]
struct Args {
    #[command(flatten)]
    options: Options,
    #[command(subcommand)]
    command: Option<Command>,
}

#[derive(Debug, clap::Args)]
struct Options {
    /// Address to listen on, loopback only [default: 127.0.0.1:7320; for exec, a free port].
    #[arg(long, global = true)]
    listen: Option<SocketAddr>,
    /// Also admit pages from this origin (exact `scheme://host[:port]`; repeat or comma-separate).
    /// The daemon's own origin is always admitted.
    #[arg(long = "allow-origin", value_name = "ORIGIN", value_delimiter = ',', global = true)]
    allow_origin: Vec<String>,
    /// Serve the teaching pages from this directory (default: the checkout's web-demo/).
    #[arg(long, value_name = "DIR", global = true)]
    web_root: Option<PathBuf>,
    /// Keep Unix sockets in this directory (default: a fresh private directory per run).
    #[arg(long, value_name = "DIR", conflicts_with = "no_unix", global = true)]
    unix_dir: Option<PathBuf>,
    /// Refuse AF_UNIX sockets.
    #[arg(long, global = true)]
    no_unix: bool,
    /// Do not run the lab services (echo, discard, daytime and chargen on loopback, for lessons).
    #[arg(long, global = true)]
    no_labs: bool,
    /// WebSocket sessions at once.
    #[arg(long, value_name = "N", global = true)]
    max_sessions: Option<usize>,
    /// Sockets one session may hold.
    #[arg(long, value_name = "N", global = true)]
    max_sockets_per_session: Option<usize>,
    /// Blocking requests one session may have in flight.
    #[arg(long, value_name = "N", global = true)]
    max_inflight: Option<usize>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a command against a daemon made for it, and exits with the command's exit code.
    ///
    /// The daemon listens on a free loopback port. The command's environment gets
    /// SOCKBRIDGE_URL (the daemon's WebSocket URL, for `option_env!` or a test harness) and
    /// WASM_BINDGEN_TEST_ADDRESS (where wasm-bindgen-test-runner serves its page; kept if already
    /// set), and that page's origin is admitted. For example:
    ///
    ///     bridge-daemon exec -- wasm-pack test --headless --chrome
    Exec {
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
}

fn main() -> ExitCode {
    let args = Args::parse();
    let exec = matches!(args.command, Some(Command::Exec { .. }));
    // In exec mode the command's output is what matters: only warnings, unless RUST_LOG asks.
    let default_filter = if exec { "warn" } else { "info" };
    tracing_subscriber::fmt()
        .with_env_filter(EnvFilter::try_from_default_env().unwrap_or_else(|_| EnvFilter::new(default_filter)))
        .with_writer(std::io::stderr)
        .with_ansi(std::io::IsTerminal::is_terminal(&std::io::stderr()))
        .init();
    match run(args) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("bridge-daemon: {e:#}");
            ExitCode::FAILURE
        }
    }
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    let mut config = config(&args.options)?;
    raise_fd_limit();
    let runtime = tokio::runtime::Builder::new_multi_thread().enable_all().build()?;
    match args.command {
        None => {
            let listen = args.options.listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)));
            runtime.block_on(serve(listen, config))?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Exec { command }) => {
            let runner = test_runner_address()?;
            config.allowed_origins.push(format!("http://{runner}"));
            config.allowed_origins.push(format!("http://localhost:{}", runner.port()));
            let listen = args.options.listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
            runtime.block_on(exec(listen, config, runner, command))
        }
    }
}

fn config(args: &Options) -> anyhow::Result<Config> {
    if let Some(listen) = args.listen
        && !listen.ip().is_loopback()
    {
        bail!(
            "--listen {listen}: the daemon listens on loopback only (a non-loopback listener needs TLS and a token, which this version does not have)"
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
    Ok(Config { allowed_origins: args.allow_origin.clone(), web_root, unix, labs: !args.no_labs, limits })
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

async fn bind(listen: SocketAddr) -> anyhow::Result<tokio::net::TcpListener> {
    tokio::net::TcpListener::bind(listen).await.with_context(|| format!("cannot listen on {listen}"))
}

async fn serve(listen: SocketAddr, config: Config) -> anyhow::Result<()> {
    let listener = bind(listen).await?;
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

/// Where wasm-bindgen-test-runner will serve its page: WASM_BINDGEN_TEST_ADDRESS if set, else a
/// loopback port free now.
fn test_runner_address() -> anyhow::Result<SocketAddr> {
    if let Some(given) = std::env::var_os("WASM_BINDGEN_TEST_ADDRESS") {
        let text = given.to_string_lossy();
        return text.parse().with_context(|| format!("WASM_BINDGEN_TEST_ADDRESS={text} is not an address"));
    }
    Ok(StdListener::bind("127.0.0.1:0")?.local_addr()?)
}

/// Serves on a free port while `command` runs, then stops; the command's exit code is returned.
async fn exec(
    listen: SocketAddr,
    config: Config,
    runner: SocketAddr,
    command: Vec<OsString>,
) -> anyhow::Result<ExitCode> {
    let listener = bind(listen).await?;
    let url = format!("ws://{}/", listener.local_addr()?);
    let stop = CancellationToken::new();
    let daemon = tokio::spawn(bridge_daemon::serve(listener, config, stop.clone().cancelled_owned()));
    let Some((program, rest)) = command.split_first() else { bail!("exec needs a command") };
    eprintln!("bridge-daemon: {url} for {} (pages of http://{runner} admitted)", program.to_string_lossy());
    let mut child = tokio::process::Command::new(program)
        .args(rest)
        .env("SOCKBRIDGE_URL", &url)
        .env("WASM_BINDGEN_TEST_ADDRESS", runner.to_string())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {}", program.to_string_lossy()))?;
    let status = tokio::select! {
        status = child.wait() => status?,
        () = shutdown_signal() => {
            let _ = child.kill().await;
            child.wait().await?
        }
    };
    stop.cancel();
    daemon.await??;
    Ok(exit_code(status))
}

/// The command's exit code; a command killed by a signal exits as a shell reports it, 128 + signal.
fn exit_code(status: std::process::ExitStatus) -> ExitCode {
    use std::os::unix::process::ExitStatusExt;
    let code = status.code().or_else(|| status.signal().map(|s| 128 + s)).unwrap_or(1);
    ExitCode::from(u8::try_from(code).unwrap_or(1))
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
