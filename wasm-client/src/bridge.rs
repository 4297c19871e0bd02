//! [`Bridge`]: one session with a daemon, and the module-level functions of Python's `socket` and
//! `select` modules.

use crate::core::Core;
use crate::error::{Error, Result};
use crate::read_ahead::Readers;
use crate::socket::Socket;
use bridge_protocol::codec::ResponseError;
use bridge_protocol::params::*;
use bridge_protocol::tree::{self, Value};
use bridge_protocol::{Codec, Limits, Method, rpc};
use std::sync::Arc;
use std::time::Duration;

/// A session with a bridge daemon. Cheap to clone; the session ends when the last clone and the last
/// [`Socket`] are dropped, or at [`Bridge::close`], and every socket of the session closes with it.
///
/// The same type, with the same methods, serves Rust code compiled natively (over
/// tokio-tungstenite) and to wasm32 for a browser page (over the page's WebSocket).
#[derive(Clone)]
pub struct Bridge {
    pub(crate) core: Arc<Core>,
    hello: Arc<Hello>,
    /// The stream sockets that have read ahead, by handle, for `select`.
    readers: Readers,
}

/// What the daemon said to `hello`: typed, and as it came (what the browser's API gives the page,
/// with no code to write the typed form back out).
struct Hello {
    typed: HelloResult,
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code, reason = "the browser's API uses it"))]
    tree: Value<'static>,
}

impl std::fmt::Debug for Bridge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Bridge").field("closed", &self.core.is_closed()).finish()
    }
}

impl Bridge {
    /// Opens a session with the daemon at `url`: the address it printed, with its token in the
    /// fragment (`ws://127.0.0.1:7320/#sb-token=…`). Without a token in the URL, the one in the
    /// daemon's token file is used (see [`crate::ConnectOptions::token`]).
    ///
    /// # Errors
    /// [`Error::Connect`] if the daemon cannot be reached or refuses the handshake.
    ///
    /// # Examples
    /// ```no_run
    /// # async fn run() -> wasm_client::Result<()> {
    /// use wasm_client::{Bridge, AF_INET, SOCK_STREAM};
    /// let bridge = Bridge::connect("ws://127.0.0.1:7320/").await?;
    /// let s = bridge.socket(AF_INET, SOCK_STREAM).await?;
    /// s.connect(("127.0.0.1", 9000)).await?;
    /// s.sendall(b"hello").await?;
    /// println!("{:?}", s.recv(1024).await?);
    /// s.close().await?;
    /// # Ok(()) }
    /// ```
    #[cfg(not(target_arch = "wasm32"))]
    pub async fn connect(url: &str) -> Result<Bridge> {
        Self::connect_with(url, &crate::ConnectOptions::default()).await
    }

    /// Opens a session with the daemon at `url` from a page, over the browser's WebSocket: the
    /// address the daemon printed, with its token in the fragment (`ws://127.0.0.1:7320/#sb-token=…`).
    ///
    /// # Errors
    /// [`Error::Connect`] if the daemon cannot be reached or refuses the page (browsers do not
    /// say why a WebSocket handshake failed; the usual causes are an origin the daemon does not
    /// admit and a missing or old token).
    #[cfg(target_arch = "wasm32")]
    pub async fn connect(url: &str) -> Result<Bridge> {
        Self::connect_with_codec(url, None).await
    }

    /// [`Bridge::connect`] with a codec chosen: `None` offers MessagePack and JSON and lets the
    /// daemon pick (MessagePack); `Some(Codec::Json)` keeps every message readable text, as the
    /// teaching pages' protocol view shows it.
    #[cfg(target_arch = "wasm32")]
    pub async fn connect_with_codec(url: &str, codec: Option<crate::Codec>) -> Result<Bridge> {
        let core = crate::transport::browser::open(url, codec).await?;
        Self::start(core).await
    }

    /// [`Bridge::connect`] with options (an `Origin` header, for testing the daemon's gate).
    #[cfg(not(target_arch = "wasm32"))]
    pub async fn connect_with(url: &str, options: &crate::ConnectOptions) -> Result<Bridge> {
        let core = crate::transport::native::open(url, options).await?;
        Self::start(core).await
    }

    /// Says `hello` and opens the in-flight allowance the daemon reports.
    pub(crate) async fn start(core: Arc<Core>) -> Result<Bridge> {
        let params = tree::to_value(&HelloParams { client: Some(client_name()) })
            .map_err(|_| Error::Value("hello: params JSON cannot hold".into()))?;
        let tree = core.call_value(Method::Hello, &params).await?;
        let hello: HelloResult = tree::deserialize(&tree, core.codec() == Codec::Json)
            .map_err(|_| Error::Response(ResponseError::WrongResultType(Method::Hello).to_string()))?;
        core.open_inflight(hello.limits.max_inflight, hello.limits.max_inflight_bytes, hello.limits.max_message_bytes);
        Ok(Bridge { core, hello: Arc::new(Hello { typed: hello, tree }), readers: Readers::default() })
    }

    /// The `hello` answer as it came.
    #[cfg_attr(not(target_arch = "wasm32"), allow(dead_code, reason = "the browser's API uses it"))]
    pub(crate) fn hello_tree(&self) -> &Value<'static> {
        &self.hello.tree
    }

    /// The codec the session uses, as the daemon agreed.
    pub fn codec(&self) -> crate::Codec {
        self.core.codec()
    }

    /// What the daemon reported at the start: protocol version, daemon version, limits, features.
    pub fn hello(&self) -> &HelloResult {
        &self.hello.typed
    }

    /// The session's limits.
    pub fn limits(&self) -> Limits {
        self.hello().limits
    }

    /// Python's `socket(family, type)`.
    ///
    /// # Errors
    /// `EAFNOSUPPORT`/`ESOCKTNOSUPPORT` for what the bridge does not offer; `EMFILE` past the
    /// session's socket limit.
    pub async fn socket(&self, family: i32, kind: i32) -> Result<Socket> {
        self.socket_with_proto(family, kind, 0).await
    }

    /// Python's `socket(family, type, proto)`.
    pub async fn socket_with_proto(&self, family: i32, kind: i32, proto: i32) -> Result<Socket> {
        self.socket_on(None, family, kind, proto).await
    }

    /// `socket(family, type, proto)` on a host of the session's private network (`None`: its
    /// first host).
    ///
    /// # Errors
    /// `ENOENT` for a host the network does not have; `EOPNOTSUPP` for a host named when the
    /// session has no private network.
    pub async fn socket_on(&self, host: Option<&str>, family: i32, kind: i32, proto: i32) -> Result<Socket> {
        let params = SocketParams { family, kind, proto, host: host.map(str::to_owned) };
        let fd = self.core.call::<rpc::Socket>(&params).await?;
        Ok(Socket::new(self.clone(), fd, family, kind, proto))
    }

    /// The session's network: `"private"` with its hosts, or `"shared"`.
    pub async fn network(&self) -> Result<NetworkInfo> {
        self.core.call::<rpc::Network>(&NoParams {}).await
    }

    /// Adds a host to the session's private network.
    ///
    /// # Errors
    /// `EEXIST` for a name taken, `EINVAL` for a name that is not a host name, `ENOSPC` past
    /// `max_hosts_per_network`, `EOPNOTSUPP` without a private network.
    pub async fn add_host(&self, name: &str) -> Result<HostInfo> {
        self.core.call::<rpc::AddHost>(&HostParams { name: name.to_owned() }).await
    }

    /// Sets what `host`'s link does to the packets it sends; returns the settings now in force.
    pub async fn set_link(&self, host: &str, link: LinkSettings) -> Result<LinkSettings> {
        self.core.call::<rpc::SetLink>(&SetLinkParams { host: host.to_owned(), link }).await
    }

    /// The packets the network's hosts sent, from number `since` on (`None`: the oldest kept).
    pub async fn packets(&self, since: Option<u64>, max: Option<usize>) -> Result<PacketsResult> {
        self.core.call::<rpc::Packets>(&PacketsParams { since, max }).await
    }

    /// The capture as a pcap file.
    pub async fn pcap(&self) -> Result<Vec<u8>> {
        Ok(self.core.call::<rpc::Pcap>(&NoParams {}).await?.0)
    }

    /// The kernel's table of the network's sockets (one host's, or all), with TCP states.
    pub async fn netstat(&self, host: Option<&str>) -> Result<Vec<NetstatRow>> {
        self.core.call::<rpc::Netstat>(&NetstatParams { host: host.map(str::to_owned) }).await
    }

    /// Python's `getaddrinfo(host, port, family, type, proto, flags)`, resolved by the daemon.
    pub async fn getaddrinfo(&self, params: GetaddrinfoParams) -> Result<Vec<AddrInfo>> {
        self.core.call::<rpc::Getaddrinfo>(&params).await
    }

    /// Python's `gethostbyname(hostname)`: one IPv4 address, as a string.
    pub async fn gethostbyname(&self, hostname: &str) -> Result<String> {
        self.core.call::<rpc::Gethostbyname>(&GethostbynameParams { hostname: hostname.to_owned() }).await
    }

    /// Python's `gethostname()`: the daemon host's name.
    pub async fn gethostname(&self) -> Result<String> {
        self.core.call::<rpc::Gethostname>(&NoParams {}).await
    }

    /// Python's `select.select(rlist, wlist, xlist, timeout)`: the sockets of each list that are
    /// ready, in the order given. `timeout` `None` waits without limit; `Some(ZERO)` polls.
    ///
    /// # Errors
    /// `ValueError` for a closed socket (its `fileno()` is -1), as in Python.
    pub async fn select(
        &self,
        rlist: &[&Socket],
        wlist: &[&Socket],
        xlist: &[&Socket],
        timeout: Option<Duration>,
    ) -> Result<(Vec<Socket>, Vec<Socket>, Vec<Socket>)> {
        let fds = |list: &[&Socket]| -> Result<Vec<i32>> {
            list.iter()
                .map(|s| match s.fileno() {
                    -1 => Err(Error::Value("file descriptor cannot be a negative integer (-1)".into())),
                    fd => Ok(fd),
                })
                .collect()
        };
        let ready = self.select_fds(fds(rlist)?, fds(wlist)?, fds(xlist)?, timeout.map(|t| t.as_secs_f64())).await?;
        let pick = |list: &[&Socket], fds: &[i32]| -> Vec<Socket> {
            list.iter().filter(|s| fds.contains(&s.fileno())).map(|s| (*s).clone()).collect()
        };
        Ok((pick(rlist, &ready.rlist), pick(wlist, &ready.wlist), pick(xlist, &ready.xlist)))
    }

    /// `select` on handle numbers; the ready handles of each list, in the order given.
    pub(crate) async fn select_fds(
        &self,
        rlist: Vec<i32>,
        wlist: Vec<i32>,
        xlist: Vec<i32>,
        timeout: Option<f64>,
    ) -> Result<SelectResult> {
        if let Some(t) = timeout {
            crate::socket::timeout_from_secs(t)?;
        }
        // Bytes a socket has read ahead are readable; the daemon cannot see them.
        let unread = self.readers.holding(&self.core, &rlist).await;
        let timeout = if unread.is_empty() { timeout } else { Some(0.0) };
        let mut ready =
            self.core.call::<rpc::Select>(&SelectParams { rlist: rlist.clone(), wlist, xlist, timeout }).await?;
        if !unread.is_empty() {
            ready.rlist = rlist.into_iter().filter(|fd| unread.contains(fd) || ready.rlist.contains(fd)).collect();
        }
        Ok(ready)
    }

    /// The session's sockets that read ahead.
    pub(crate) fn readers(&self) -> &Readers {
        &self.readers
    }

    /// Ends the session: the daemon closes all its sockets.
    pub fn close(&self) {
        self.core.close();
    }

    /// Whether the session has ended.
    pub fn is_closed(&self) -> bool {
        self.core.is_closed()
    }
}

fn client_name() -> String {
    format!("wasm-client {}", env!("CARGO_PKG_VERSION"))
}
