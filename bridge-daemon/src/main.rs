//! `bridge-daemon`: arguments, logging and signals; the work is in the library.

use anyhow::{Context, anyhow, bail};
use bridge_daemon::config::file;
use bridge_daemon::{Config, Limits, NetworkMode, Token, UnixSockets, WebRoot};
use bridge_protocol::{DEFAULT_PORT, auth};
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
/// The first line on standard output is the WebSocket URL to connect to, with this run's token in
/// its fragment (ws://127.0.0.1:7320/#sb-token=...); the second is the teaching pages' address,
/// to open in a browser. With --listen 127.0.0.1:0 the daemon picks a free port. Logs go to
/// standard error; set RUST_LOG to choose what they show (for example RUST_LOG=bridge_daemon=debug).
///
/// By default a page may reach only its own sockets and the lab services; see --allow-connect.
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
    /// Read settings from this TOML file; options given here add to its lists and override its
    /// values.
    #[arg(long, value_name = "FILE", global = true)]
    config: Option<PathBuf>,
    /// Address to listen on, loopback only [default: 127.0.0.1:7320; for exec, a free port].
    #[arg(long, global = true)]
    listen: Option<SocketAddr>,
    /// Also admit pages from this origin (exact `scheme://host[:port]`; `null` for file:// pages;
    /// repeat or comma-separate). The daemon's own origin is always admitted.
    #[arg(long = "allow-origin", value_name = "ORIGIN", value_delimiter = ',', global = true)]
    allow_origin: Vec<String>,
    /// Also accept this name in the Host header (besides the daemon's address and localhost),
    /// with the daemon's port; or NAME:PORT, matched whole (the Host a TLS proxy in front passes
    /// on: class.example.org:443).
    #[arg(long = "allow-host", value_name = "NAME", value_delimiter = ',', global = true)]
    allow_host: Vec<String>,
    /// Let pages connect and send here too: target[:ports][/tcp|/udp], where target is a host
    /// name, *.domain, an address ([v6] in brackets), a CIDR block, or one of own, labs,
    /// loopback, private, link-local, public. A page can always reach its own sockets.
    #[arg(long = "allow-connect", value_name = "RULE", value_delimiter = ',', global = true)]
    allow_connect: Vec<String>,
    /// Never let pages connect or send here (wins over every allow rule).
    #[arg(long = "deny-connect", value_name = "RULE", value_delimiter = ',', global = true)]
    deny_connect: Vec<String>,
    /// Let pages connect to this Unix socket (an absolute path, exactly; `unix:/run/app.sock`).
    #[arg(long = "allow-unix", value_name = "PATH", value_delimiter = ',', global = true)]
    allow_unix: Vec<String>,
    /// Let an --allow-connect rule naming a cloud metadata address exactly reach it.
    #[arg(long, global = true)]
    allow_metadata: bool,
    /// Write the token here [default: $XDG_RUNTIME_DIR/sockbridge/token-PORT].
    #[arg(long, value_name = "FILE", conflicts_with = "no_token", global = true)]
    token_file: Option<PathBuf>,
    /// Admit clients without the token. Any program of any user on this computer can then use the
    /// bridge from an admitted origin or with no origin at all.
    #[arg(long, global = true)]
    no_token: bool,
    /// Append one JSON line per refusal to this file.
    #[arg(long, value_name = "FILE", global = true)]
    audit_log: Option<PathBuf>,
    /// Serve the teaching pages from this directory (default: the pages built into a release build; a debug build serves the checkout's web-demo/)
    #[arg(long, value_name = "DIR", global = true)]
    web_root: Option<PathBuf>,
    /// Offer Unix sockets, in a fresh private directory made for this run.
    #[arg(long, conflicts_with = "unix_dir", global = true)]
    unix: bool,
    /// Offer Unix sockets, in this directory (made mode 0700 if missing; an existing one must be
    /// yours and closed to others).
    #[arg(long, value_name = "DIR", global = true)]
    unix_dir: Option<PathBuf>,
    /// Do not run the lab services (echo, discard, daytime and chargen, for lessons).
    #[arg(long, global = true)]
    no_labs: bool,
    /// shared: pages' sockets are on this computer's loopback, under the connect rules. private:
    /// each page gets a network of its own (hosts as network namespaces, a LAN the daemon
    /// carries, nothing outside reachable); falls back to shared, saying why, where namespaces
    /// cannot be made.
    #[arg(long, value_name = "MODE", global = true)]
    network: Option<String>,
    /// WebSocket sessions at once.
    #[arg(long, value_name = "N", global = true)]
    max_sessions: Option<usize>,
    /// Sockets one session may hold.
    #[arg(long, value_name = "N", global = true)]
    max_sockets_per_session: Option<usize>,
    /// Sockets all sessions together may hold.
    #[arg(long, value_name = "N", global = true)]
    max_sockets_total: Option<usize>,
    /// Blocking requests one session may have in flight.
    #[arg(long, value_name = "N", global = true)]
    max_inflight: Option<usize>,
    /// Serve a class over the network (behind a TLS proxy such as nginx; docs/classroom.md): every
    /// session is somebody's (a join link, or --identity-header), gets a private network (implied),
    /// and has per-person limits; there is no per-start token, and --listen may be any address.
    #[arg(long, global = true)]
    hosted: bool,
    /// The join links' store, which `bridge-daemon join` writes and a hosted daemon reads (again
    /// whenever it changes).
    #[arg(long, value_name = "FILE", global = true)]
    join_links: Option<PathBuf>,
    /// Take the user's name from this request header, set by an authenticating reverse proxy
    /// (e.g. X-Remote-User); believed only from --trusted-proxy addresses, refused from any other.
    #[arg(long, value_name = "HEADER", global = true)]
    identity_header: Option<String>,
    /// The address of a proxy whose identity header is believed (repeat or comma-separate).
    #[arg(long = "trusted-proxy", value_name = "IP", value_delimiter = ',', global = true)]
    trusted_proxy: Vec<std::net::IpAddr>,
    /// Serve GET /metrics (Prometheus) and GET /healthz on this address (keep it private: the
    /// metrics name the class's identities).
    #[arg(long, value_name = "ADDR", global = true)]
    metrics_listen: Option<SocketAddr>,
    /// On SIGTERM, let open sessions go on for up to this many seconds (taking no new ones)
    /// before closing them [default: 0; hosted: 30].
    #[arg(long, value_name = "SECONDS", global = true)]
    drain_timeout: Option<f64>,
}

#[derive(Debug, Subcommand)]
enum Command {
    /// Runs a command against a daemon made for it, and exits with the command's exit code.
    ///
    /// The daemon listens on a free loopback port. The command's environment gets
    /// SOCKBRIDGE_URL (the daemon's WebSocket URL with the token in its fragment, for
    /// `option_env!` or a test harness), SOCKBRIDGE_TOKEN (the token alone) and
    /// WASM_BINDGEN_TEST_ADDRESS (where wasm-bindgen-test-runner serves its page; kept if already
    /// set), and that page's origin is admitted. For example:
    ///
    ///     bridge-daemon exec -- wasm-pack test --headless --chrome
    Exec {
        /// The command and its arguments.
        #[arg(required = true, trailing_var_arg = true, allow_hyphen_values = true, value_name = "COMMAND")]
        command: Vec<OsString>,
    },
    /// Makes, lists and revokes the join links of a hosted daemon's class (in --join-links FILE).
    #[command(subcommand)]
    Join(JoinCommand),
}

#[derive(Debug, Subcommand)]
enum JoinCommand {
    /// Makes a link for each name and prints it (`NAME URL`, one per line). The link is shown only
    /// now: the store keeps its hash. A name that had a link gets a new one, and the old stops
    /// working.
    Add {
        /// The class's address, where the daemon's pages are served (https://class.example.org/).
        #[arg(long, value_name = "URL")]
        url: String,
        /// Days the links work.
        #[arg(long, value_name = "DAYS", default_value_t = 120.0)]
        days: f64,
        /// The students' names (letters, digits, '.', '_', '-', '@').
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
    },
    /// Lists the links: name, state and expiry (never a secret).
    List,
    /// Revokes the links of these names: new sessions are refused, and open ones close within
    /// seconds.
    Revoke {
        /// The names.
        #[arg(required = true, value_name = "NAME")]
        names: Vec<String>,
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

/// What `run` needs beyond the library's configuration.
struct Setup {
    config: Config,
    listen: Option<SocketAddr>,
    token_file: Option<PathBuf>,
}

fn run(args: Args) -> anyhow::Result<ExitCode> {
    if let Some(Command::Join(command)) = &args.command {
        return join(&args.options, command);
    }
    let Setup { mut config, listen, token_file } = setup(&args.options)?;
    raise_fd_limit();
    // Sessions run on threads of their own (`Config::session_threads`); this runtime accepts
    // connections, runs the lab services, and runs `exec`'s command.
    let runtime = tokio::runtime::Builder::new_current_thread().enable_all().build()?;
    // A refused start prints no address and writes no token file.
    bridge_daemon::check_config(&config)?;
    match args.command {
        None => {
            let listen = listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], DEFAULT_PORT)));
            runtime.block_on(serve(listen, config, token_file))?;
            Ok(ExitCode::SUCCESS)
        }
        Some(Command::Join(_)) => unreachable!("handled above"),
        Some(Command::Exec { command }) => {
            let runner = test_runner_address()?;
            config.allowed_origins.push(format!("http://{runner}"));
            config.allowed_origins.push(format!("http://localhost:{}", runner.port()));
            let listen = listen.unwrap_or(SocketAddr::from(([127, 0, 0, 1], 0)));
            runtime.block_on(exec(listen, config, runner, command))
        }
    }
}

/// The configuration from the file (if any) and the options, checked.
fn setup(args: &Options) -> anyhow::Result<Setup> {
    let file = match &args.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            file::parse(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?
        }
        None => file::FileConfig::default(),
    };
    let place = |what: &str| match &args.config {
        Some(path) => format!("{}: {what}", path.display()),
        None => what.to_owned(),
    };
    let server = &file.server;
    let listen = args.listen.or(server.listen);
    let hosted = args.hosted || server.hosted == Some(true);
    if let Some(listen) = listen
        && !listen.ip().is_loopback()
        && !hosted
    {
        bail!(
            "--listen {listen}: the daemon listens on loopback only, unless it is --hosted (for a class, behind a TLS proxy: docs/classroom.md)"
        );
    }
    let allowed_origins: Vec<String> = server.allow_origin.iter().chain(&args.allow_origin).cloned().collect();
    for origin in &allowed_origins {
        file::check_origin(origin).map_err(|why| anyhow!("--allow-origin {origin:?}: {why}"))?;
    }
    if allowed_origins.iter().any(|o| o == "null") {
        tracing::warn!("admitting origin 'null': every file:// page and sandboxed frame sends it");
    }
    let section = &file.connect;
    let mut rules = file::rules(&section.allow, &section.deny, &section.unix, "[connect] ")
        .map_err(|e| anyhow!("{}", place(&e)))?;
    let cli = file::rules(&args.allow_connect, &args.deny_connect, &args.allow_unix, "--connect rules, ")
        .map_err(|e| anyhow!("{e}"))?;
    rules.allow.extend(cli.allow);
    rules.deny.extend(cli.deny);
    rules.unix.extend(cli.unix);
    let origin_rules = file.origin_rules().map_err(|e| anyhow!("{}", place(&e)))?;
    let mut limits = file.limits.apply(Limits::default());
    limits.max_sessions = args.max_sessions.unwrap_or(limits.max_sessions);
    limits.max_sockets_per_session = args.max_sockets_per_session.unwrap_or(limits.max_sockets_per_session);
    limits.max_sockets_total = args.max_sockets_total.unwrap_or(limits.max_sockets_total);
    limits.max_inflight_per_session = args.max_inflight.unwrap_or(limits.max_inflight_per_session);
    limits.validate().map_err(|e| anyhow!("{}", place(&format!("[limits] {e}"))))?;
    let unix = match (&args.unix_dir, args.unix, &server.unix_dir, server.unix) {
        (Some(dir), _, _, _) => UnixSockets::Dir(dir.clone()),
        (None, true, _, _) => UnixSockets::PrivateDir,
        (None, false, Some(dir), _) => UnixSockets::Dir(dir.clone()),
        (None, false, None, Some(true)) => UnixSockets::PrivateDir,
        _ => UnixSockets::Disabled,
    };
    // The pages: a directory given, else those built into this binary (a release build), else
    // the checkout's web-demo/ (a debug build, which serves the pages as they are edited).
    let web_root = match args.web_root.as_ref().or(server.web_root.as_ref()) {
        Some(dir) if dir.is_dir() => Some(WebRoot::Dir(dir.clone())),
        Some(dir) => bail!("--web-root {}: not a directory", dir.display()),
        None if bridge_daemon::web::embedded() => {
            let missing = bridge_daemon::web::missing();
            if !missing.is_empty() {
                tracing::warn!(
                    "the teaching pages built into this daemon lack {}: build it after scripts/build-web.sh, or where the wasm32 target, the wasm-bindgen CLI and npm are installed",
                    missing.join(" and ")
                );
            }
            Some(WebRoot::Embedded)
        }
        None => bridge_daemon::source_web_root().map(WebRoot::Dir),
    };
    // A hosted daemon admits identities, not holders of a per-start token.
    let no_token = args.no_token || server.token == Some(false) || hosted;
    if no_token && !hosted {
        tracing::warn!("--no-token: any program of any user on this computer can use the bridge");
    }
    let access = bridge_daemon::access::Access {
        hosted,
        join_links: args.join_links.clone().or_else(|| server.join_links.clone()),
        identity_header: args.identity_header.clone().or_else(|| server.identity_header.clone()),
        trusted_proxies: server.trusted_proxy.iter().chain(&args.trusted_proxy).copied().collect(),
    };
    let drain_timeout = match (args.drain_timeout, server.drain_timeout) {
        (Some(seconds), _) if seconds.is_finite() && seconds >= 0.0 => std::time::Duration::from_secs_f64(seconds),
        (Some(seconds), _) => bail!("--drain-timeout {seconds}: give a number of seconds, 0 or more"),
        (None, Some(file::Seconds(d))) => d,
        (None, None) if hosted => std::time::Duration::from_secs(30),
        (None, None) => std::time::Duration::ZERO,
    };
    let config = Config {
        allowed_origins,
        allowed_hosts: server.allow_host.iter().chain(&args.allow_host).map(|h| h.to_ascii_lowercase()).collect(),
        token: if no_token { None } else { Some(Token::generate()) },
        rules,
        origin_rules,
        allow_metadata: args.allow_metadata || server.allow_metadata == Some(true),
        audit_log: args.audit_log.clone().or_else(|| server.audit_log.clone()),
        web_root,
        unix,
        labs: !args.no_labs && server.labs != Some(false),
        network: match args.network.as_deref().or(server.network.as_deref()) {
            None if hosted => NetworkMode::Private,
            None | Some("shared") => NetworkMode::Shared,
            Some("private") => NetworkMode::Private,
            Some(other) => bail!("--network {other}: the modes are shared and private"),
        },
        limits,
        resolver: None,
        access,
        drain_timeout,
        metrics_listen: args.metrics_listen.or(server.metrics_listen),
        session_threads: std::thread::available_parallelism().map_or(1, std::num::NonZero::get),
    };
    Ok(Setup { config, listen, token_file: args.token_file.clone().or_else(|| server.token_file.clone()) })
}

/// `bridge-daemon join ...`: the join links' store, changed and saved in one step.
#[allow(clippy::print_stdout)]
fn join(options: &Options, command: &JoinCommand) -> anyhow::Result<ExitCode> {
    use bridge_daemon::access::join::{Store, now};
    let from_file = match &options.config {
        Some(path) => {
            let text = std::fs::read_to_string(path).with_context(|| format!("cannot read {}", path.display()))?;
            file::parse(&text).map_err(|e| anyhow!("{}: {e}", path.display()))?.server.join_links
        }
        None => None,
    };
    let Some(path) = options.join_links.clone().or(from_file) else {
        bail!("say where the join links are kept: --join-links FILE (or join_links in --config's [server])");
    };
    let mut store = Store::load(&path).with_context(|| format!("cannot read {}", path.display()))?;
    let mut out = std::io::stdout().lock();
    match command {
        JoinCommand::Add { url, days, names } => {
            if !(url.starts_with("https://") || url.starts_with("http://")) || url.contains('#') {
                bail!("--url {url}: give the class's address, https://host/ (with no #fragment)");
            }
            if !(days.is_finite() && *days > 0.0) {
                bail!("--days {days}: give a number of days above 0");
            }
            let expires = now().saturating_add((days * 86_400.0) as u64);
            let mut made = Vec::new();
            for name in names {
                let secret = store.add(name, expires).map_err(|e| anyhow!("{e}"))?;
                made.push((name, secret));
            }
            store.save(&path).with_context(|| format!("cannot write {}", path.display()))?;
            for (name, secret) in made {
                writeln!(out, "{name} {url}#{}={}", auth::FRAGMENT_KEY, secret.reveal())?;
            }
        }
        JoinCommand::List => {
            let now = now();
            for link in &store.links {
                let state = if link.revoked {
                    "revoked"
                } else if link.valid_at(now) {
                    "valid"
                } else {
                    "expired"
                };
                let days_left = link.expires.saturating_sub(now) / 86_400;
                writeln!(out, "{} {state} (expires in {days_left} days)", link.name)?;
            }
        }
        JoinCommand::Revoke { names } => {
            let unknown: Vec<&String> = names.iter().filter(|n| !store.revoke(n)).collect();
            store.save(&path).with_context(|| format!("cannot write {}", path.display()))?;
            if !unknown.is_empty() {
                bail!("no link was made for {unknown:?} (the others are revoked)");
            }
        }
    }
    Ok(ExitCode::SUCCESS)
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

async fn serve(listen: SocketAddr, config: Config, token_file: Option<PathBuf>) -> anyhow::Result<()> {
    let listener = bind(listen).await?;
    let addr = listener.local_addr()?;
    let written = match &config.token {
        Some(token) => {
            let path = token_file.unwrap_or_else(|| default_token_path(addr.port()));
            token.write_file(&path).with_context(|| format!("cannot write the token to {}", path.display()))?;
            tracing::info!(file = %path.display(), "token written");
            Some((path, token.clone()))
        }
        None => None,
    };
    let stop = shutdown_signal()?;
    announce(addr, config.token.as_ref(), config.web_root.is_some())?;
    let result = bridge_daemon::serve(listener, config, stop).await;
    // Remove the token file, unless another daemon has written its own there since.
    if let Some((path, token)) = written
        && std::fs::read_to_string(&path).is_ok_and(|text| token.matches(text.trim()))
    {
        let _ = std::fs::remove_file(&path);
    }
    result?;
    Ok(())
}

/// `$XDG_RUNTIME_DIR/sockbridge/token-PORT`, or under the temporary directory without one.
fn default_token_path(port: u16) -> PathBuf {
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).filter(|p| p.is_absolute());
    // SAFETY: getuid has no preconditions and cannot fail.
    let uid = unsafe { libc::getuid() };
    auth::token_path(runtime.as_deref(), &std::env::temp_dir(), uid, port)
}

/// The daemon's addresses with the token in their fragment (`#sb-token=…`), which browsers never
/// send to a server.
fn with_token(url: &str, token: Option<&Token>) -> String {
    match token {
        Some(t) => format!("{url}#{}={}", auth::FRAGMENT_KEY, t.reveal()),
        None => url.to_owned(),
    }
}

/// The first stdout line is the WebSocket URL (with the token); scripts read it to find a port
/// chosen with :0. The second is the teaching pages' address, to open in a browser.
#[allow(clippy::print_stdout)]
fn announce(addr: SocketAddr, token: Option<&Token>, pages: bool) -> anyhow::Result<()> {
    let mut out = std::io::stdout().lock();
    writeln!(out, "{}", with_token(&format!("ws://{addr}/"), token))?;
    if pages {
        writeln!(out, "teaching pages: {}", with_token(&format!("http://{addr}/"), token))?;
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
    let signalled = shutdown_signal()?;
    let url = with_token(&format!("ws://{}/", listener.local_addr()?), config.token.as_ref());
    let token = config.token.as_ref().map(|t| t.reveal().to_owned()).unwrap_or_default();
    let stop = CancellationToken::new();
    let daemon = tokio::spawn(bridge_daemon::serve(listener, config, stop.clone().cancelled_owned()));
    let Some((program, rest)) = command.split_first() else { bail!("exec needs a command") };
    let shown = url.split('#').next().unwrap_or_default();
    eprintln!("bridge-daemon: {shown} for {} (pages of http://{runner} admitted)", program.to_string_lossy());
    let mut child = tokio::process::Command::new(program)
        .args(rest)
        .env("SOCKBRIDGE_URL", &url)
        .env("SOCKBRIDGE_TOKEN", &token)
        .env("WASM_BINDGEN_TEST_ADDRESS", runner.to_string())
        .kill_on_drop(true)
        .spawn()
        .with_context(|| format!("cannot run {}", program.to_string_lossy()))?;
    let status = tokio::select! {
        status = child.wait() => status?,
        () = signalled => {
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

/// SIGINT and SIGTERM, listened for from the moment this is called (not from the first poll), so a
/// signal sent right after the daemon prints its address stops it gracefully too.
fn shutdown_signal() -> anyhow::Result<impl Future<Output = ()>> {
    use tokio::signal::unix::{SignalKind, signal};
    let mut interrupt = signal(SignalKind::interrupt())?;
    let mut terminate = signal(SignalKind::terminate())?;
    Ok(async move {
        tokio::select! {
            _ = interrupt.recv() => {}
            _ = terminate.recv() => {}
        }
    })
}
