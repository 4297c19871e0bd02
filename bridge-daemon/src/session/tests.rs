//! The session over channels instead of a WebSocket, on tokio's paused clock: time moves only
//! when every task waits, so a 30-second deadline takes no real time and no test sleeps.

use super::*;
use crate::config::Limits;
use crate::net::resolve::Resolver;
use crate::policy::{Policy, PolicyInput};
use std::net::SocketAddr;
use std::task::{Context, Poll};
use tokio_util::sync::PollSender;

/// A WebSocket made of two channels: what the page sends, and what the session writes (which
/// holds `room` messages; a page that does not read lets it fill).
struct Pipe {
    from_page: mpsc::Receiver<Result<Message, WsError>>,
    to_page: PollSender<Message>,
}

impl Stream for Pipe {
    type Item = Result<Message, WsError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        self.from_page.poll_recv(cx)
    }
}

impl Sink<Message> for Pipe {
    type Error = WsError;
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.to_page.poll_reserve(cx).map_err(|_| WsError::ConnectionClosed)
    }
    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), WsError> {
        self.to_page.send_item(item).map_err(|_| WsError::ConnectionClosed)
    }
    fn poll_flush(self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Poll::Ready(Ok(()))
    }
    fn poll_close(mut self: Pin<&mut Self>, _: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        self.to_page.close();
        Poll::Ready(Ok(()))
    }
}

/// The page's ends of a pipe.
struct Page {
    send: mpsc::Sender<Result<Message, WsError>>,
    recv: mpsc::Receiver<Message>,
}

fn pipe(room: usize) -> (Pipe, Page) {
    let (send, from_page) = mpsc::channel(1024);
    let (to_page, recv) = mpsc::channel(room);
    (Pipe { from_page, to_page: PollSender::new(to_page) }, Page { send, recv })
}

fn shared(limits: Limits) -> Arc<Shared> {
    let addr = SocketAddr::from(([127, 0, 0, 1], bridge_protocol::DEFAULT_PORT));
    let policy = Policy::new(
        addr,
        PolicyInput {
            extra_hosts: &[],
            extra_origins: &[],
            token: None,
            rules: Default::default(),
            origin_rules: Vec::new(),
            allow_metadata: false,
            labs: Vec::new(),
        },
    );
    let resolver = Resolver::new(1, Duration::from_secs(1), None);
    let net = Net { policy, sandbox: None, resolver, audit: Default::default() };
    let hello = HelloResult {
        protocol: bridge_protocol::SUBPROTOCOL.into(),
        protocol_version: bridge_protocol::PROTOCOL_VERSION,
        daemon: "test".into(),
        limits: limits.for_client(),
        features: Vec::new(),
        labs: Default::default(),
        network: None,
    };
    Arc::new(Shared::new(net, limits, 64, hello, None))
}

fn hello(id: u64) -> Result<Message, WsError> {
    Ok(Message::text(format!(r#"{{"jsonrpc":"2.0","id":{id},"method":"hello"}}"#)))
}

/// Starts a session over `ws`, as the daemon's first session of a page without an origin.
async fn session(ws: Pipe, limits: Limits, shutdown: CancellationToken) -> tokio::task::JoinHandle<()> {
    tokio::spawn(run(ws, shared(limits), 1, Who::page(None), Codec::Json, shutdown))
}

#[tokio::test(start_paused = true)]
async fn a_page_that_stops_reading_is_closed_at_write_timeout() {
    let limits = Limits { outbound_bytes: 4096, outbound_queue: 4, ..Limits::default() };
    let timeout = limits.write_timeout;
    let (ws, mut page) = pipe(2);
    let start = Instant::now();
    let task = session(ws, limits, CancellationToken::new()).await;
    for id in 0..100 {
        page.send.send(hello(id)).await.unwrap_or_else(|_| panic!("the session ended early"));
    }
    task.await.unwrap_or_else(|e| panic!("{e}"));
    let took = Instant::now() - start;
    assert!(took >= timeout, "closed after {took:?}, before write_timeout");
    assert!(took < timeout + FLUSH_GRACE + Duration::from_secs(1), "closed after {took:?}");
    // The page got the answers that fitted, and nothing after them but (perhaps) the close.
    let mut answers = 0;
    while let Ok(message) = page.recv.try_recv() {
        match message {
            Message::Text(_) => answers += 1,
            Message::Close(frame) => panic!("a close frame went past a full pipe: {frame:?}"),
            _ => {}
        }
    }
    assert!((1..100).contains(&answers), "{answers} answers");
}

#[tokio::test(start_paused = true)]
async fn shutdown_ends_a_session_waiting_to_answer() {
    let limits = Limits { outbound_bytes: 4096, outbound_queue: 4, ..Limits::default() };
    let (ws, page) = pipe(2);
    let shutdown = CancellationToken::new();
    let task = session(ws, limits, shutdown.clone()).await;
    for id in 0..100 {
        page.send.send(hello(id)).await.unwrap_or_else(|_| panic!("the session ended early"));
    }
    // Let the session fill the pipe and wait on it, then stop the daemon.
    tokio::time::sleep(Duration::from_secs(1)).await;
    let start = Instant::now();
    shutdown.cancel();
    task.await.unwrap_or_else(|e| panic!("{e}"));
    assert!(Instant::now() - start <= FLUSH_GRACE, "shutdown waited for the page");
}

#[tokio::test(start_paused = true)]
async fn a_reading_page_is_pinged_and_a_silent_one_closed() {
    let limits = Limits::default();
    let (ping, pong) = (limits.ping_interval, limits.pong_timeout);
    let (ws, mut page) = pipe(16);
    let start = Instant::now();
    let task = session(ws, limits, CancellationToken::new()).await;
    // The page reads but never answers: a ping after ping_interval, the close after pong_timeout.
    let first = page.recv.recv().await;
    assert!(matches!(first, Some(Message::Ping(_))), "{first:?}");
    assert!(Instant::now() - start >= ping);
    let close = page.recv.recv().await;
    let Some(Message::Close(Some(frame))) = close else { panic!("{close:?}") };
    assert_eq!(frame.code, CloseCode::Policy);
    assert!(Instant::now() - start >= ping + pong);
    task.await.unwrap_or_else(|e| panic!("{e}"));
}

impl Page {
    /// Sends a JSON-RPC request.
    async fn call(&self, id: u64, method: &str, params: serde_json::Value) {
        let text = serde_json::json!({"jsonrpc": "2.0", "id": id, "method": method, "params": params}).to_string();
        self.send.send(Ok(Message::text(text))).await.unwrap_or_else(|_| panic!("the session ended"));
    }

    /// The next answer (pings are answered, as a browser does); `None` once the session has ended.
    async fn answer(&mut self) -> Option<serde_json::Value> {
        loop {
            match self.recv.recv().await? {
                Message::Text(text) => return serde_json::from_str(text.as_str()).ok(),
                Message::Ping(data) => {
                    let _ = self.send.send(Ok(Message::Pong(data))).await;
                }
                Message::Close(_) => return None,
                _ => {}
            }
        }
    }

    async fn ok(&mut self, id: u64, method: &str, params: serde_json::Value) -> serde_json::Value {
        self.call(id, method, params).await;
        let answer = self.answer().await.unwrap_or_else(|| panic!("the session ended before {method} answered"));
        assert_eq!(answer["id"], id, "{answer}");
        answer["result"].clone()
    }
}

/// A listening socket in the session (fd 3), and its port.
async fn listener(page: &mut Page) -> u16 {
    page.ok(1, "socket", serde_json::json!({})).await;
    page.ok(2, "bind", serde_json::json!({"fd": 3, "address": ["127.0.0.1", 0]})).await;
    page.ok(3, "listen", serde_json::json!({"fd": 3})).await;
    let name = page.ok(4, "getsockname", serde_json::json!({"fd": 3})).await;
    name[1].as_u64().and_then(|p| u16::try_from(p).ok()).unwrap_or_else(|| panic!("{name}"))
}

#[tokio::test(start_paused = true)]
async fn an_idle_session_is_closed_but_one_waiting_on_accept_is_not() {
    let limits = Limits::default();
    let idle = limits.idle_timeout;
    // Idle: nothing asked, nothing in flight. The page answers pings, so only idleness ends it.
    let (ws, mut page) = pipe(16);
    let start = Instant::now();
    let task = session(ws, limits.clone(), CancellationToken::new()).await;
    assert!(page.answer().await.is_none(), "closed");
    assert!(Instant::now() - start >= idle);
    task.await.unwrap_or_else(|e| panic!("{e}"));
    // Waiting on accept for three idle timeouts is not idle; the accept then answers.
    let (ws, mut page) = pipe(16);
    let task = session(ws, limits, CancellationToken::new()).await;
    let port = listener(&mut page).await;
    page.call(5, "accept", serde_json::json!({"fd": 3})).await;
    // Three idle timeouts pass with no answer (and the pings answered, as a browser does).
    assert!(tokio::time::timeout(idle * 3, page.answer()).await.is_err(), "the accept answered without a client");
    let _peer = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap_or_else(|e| panic!("{e}"));
    let answer = page.answer().await.unwrap_or_else(|| panic!("the session was closed while accept waited"));
    assert_eq!(answer["id"], 5, "{answer}");
    drop(page);
    task.await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(start_paused = true)]
async fn a_session_waiting_on_a_receive_sent_ahead_is_not_idle() {
    let limits = Limits::default();
    let idle = limits.idle_timeout;
    let (ws, mut page) = pipe(16);
    let task = session(ws, limits, CancellationToken::new()).await;
    let port = listener(&mut page).await;
    let mut peer = tokio::net::TcpStream::connect(("127.0.0.1", port)).await.unwrap_or_else(|e| panic!("{e}"));
    page.ok(5, "accept", serde_json::json!({"fd": 3})).await;
    // A receive sent ahead (it holds no in-flight place) waits for three idle timeouts.
    page.call(6, "recv", serde_json::json!({"fd": 4, "bufsize": 16, "ahead": true})).await;
    assert!(tokio::time::timeout(idle * 3, page.answer()).await.is_err(), "the recv answered without data");
    tokio::io::AsyncWriteExt::write_all(&mut peer, b"late").await.unwrap_or_else(|e| panic!("{e}"));
    let answer = page.answer().await.unwrap_or_else(|| panic!("the session was closed while a recv waited"));
    assert_eq!((answer["id"].clone(), answer["result"].clone()), (serde_json::json!(6), serde_json::json!("bGF0ZQ==")));
    drop(page);
    task.await.unwrap_or_else(|e| panic!("{e}"));
}

#[tokio::test(start_paused = true)]
async fn a_page_that_answers_pings_stays() {
    let limits = Limits { idle_timeout: Duration::from_secs(3600), ..Limits::default() };
    let (ping, pong) = (limits.ping_interval, limits.pong_timeout);
    let (ws, mut page) = pipe(16);
    let task = session(ws, limits, CancellationToken::new()).await;
    // Answering pings (page.answer does) across many ping intervals, the session stays.
    let answering = async { while page.answer().await.is_some() {} };
    let waited = tokio::time::timeout((ping + pong) * 5, answering).await;
    assert!(waited.is_err(), "the session ended though the page answered every ping");
    assert!(!task.is_finished());
    task.abort();
}

/// A WebSocket whose reading panics at its second message: a bug in serving the session.
struct Faulty {
    pipe: Pipe,
    read: usize,
}

impl Stream for Faulty {
    type Item = Result<Message, WsError>;
    fn poll_next(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Option<Self::Item>> {
        let next = Pin::new(&mut self.pipe).poll_next(cx);
        if matches!(next, Poll::Ready(Some(_))) {
            self.read += 1;
            assert!(self.read < 2, "a bug while serving the session");
        }
        next
    }
}

impl Sink<Message> for Faulty {
    type Error = WsError;
    fn poll_ready(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.pipe).poll_ready(cx)
    }
    fn start_send(mut self: Pin<&mut Self>, item: Message) -> Result<(), WsError> {
        Pin::new(&mut self.pipe).start_send(item)
    }
    fn poll_flush(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.pipe).poll_flush(cx)
    }
    fn poll_close(mut self: Pin<&mut Self>, cx: &mut Context<'_>) -> Poll<Result<(), WsError>> {
        Pin::new(&mut self.pipe).poll_close(cx)
    }
}

#[tokio::test(start_paused = true)]
async fn a_panic_while_serving_closes_that_session_with_1011() {
    let (pipe, mut page) = pipe(16);
    let shared = shared(Limits::default());
    let task = tokio::spawn(run(
        Faulty { pipe, read: 0 },
        Arc::clone(&shared),
        1,
        Who::page(None),
        Codec::Json,
        CancellationToken::new(),
    ));
    page.call(1, "socket", serde_json::json!({})).await;
    assert_eq!(page.answer().await.map(|a| a["result"].clone()), Some(serde_json::json!(3)));
    page.call(2, "hello", serde_json::json!({})).await;
    let close = page.recv.recv().await;
    let Some(Message::Close(Some(frame))) = close else { panic!("{close:?}") };
    assert_eq!(frame.code, CloseCode::Error);
    // The session ended as any session ends (its sockets released), not by unwinding further.
    task.await.unwrap_or_else(|e| panic!("the session task itself failed: {e}"));
    assert_eq!(shared.sockets.available_permits(), 64, "the socket it held was released");
}
