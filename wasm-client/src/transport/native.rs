//! The native transport: tokio-tungstenite, for Rust programs, tests and benchmarks.

use crate::core::{Core, Transport};
use crate::error::{Error, Result};
use bridge_protocol::codec::{Frame, FrameRef};
use bridge_protocol::{Codec, auth};
use futures_channel::mpsc;
use futures_util::{Sink as _, SinkExt, StreamExt};
use std::pin::Pin;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::{Arc, Weak};
use std::task::{Context, Poll, Waker};
use tokio_tungstenite::tungstenite::client::IntoClientRequest;
use tokio_tungstenite::tungstenite::http::HeaderValue;
use tokio_tungstenite::tungstenite::protocol::WebSocketConfig;
use tokio_tungstenite::tungstenite::{self, Message};

/// The largest message this client accepts from a daemon (a `recv` result is at most the daemon's
/// `max_payload_bytes`, in base64 with JSON).
const MAX_INCOMING: usize = 8 << 20;

/// Options for [`crate::Bridge::connect_with`].
#[derive(Clone, Debug, Default)]
pub struct ConnectOptions {
    /// Send this `Origin` header, as a browser page would (native clients send none by default).
    pub origin: Option<String>,
    /// The daemon's token. Without one, the token in the URL's fragment (`#sb-token=…`) is used,
    /// else the one in the daemon's token file for that port (see [`bridge_protocol::auth`]), if
    /// this user can read it.
    pub token: Option<String>,
    /// The codec to use. Without one, the client offers MessagePack and JSON and the daemon picks
    /// (MessagePack, whose bytes travel without base64; a daemon of before it agrees to JSON).
    pub codec: Option<Codec>,
}

/// The token to present: the one given, the URL's, or the daemon's token file's.
fn token_for(base: &str, from_url: Option<&str>, options: &ConnectOptions) -> Option<String> {
    if let Some(token) = options.token.as_deref().or(from_url) {
        return Some(token.to_owned());
    }
    let authority = base.strip_prefix("ws://")?.split('/').next()?;
    let (host, port) = authority.rsplit_once(':')?;
    let local = matches!(host, "127.0.0.1" | "localhost" | "[::1]");
    let port: u16 = port.parse().ok().filter(|_| local)?;
    let runtime = std::env::var_os("XDG_RUNTIME_DIR").map(std::path::PathBuf::from).filter(|p| p.is_absolute());
    let uid = std::os::unix::fs::MetadataExt::uid(&std::fs::metadata("/proc/self").ok()?);
    let path = auth::token_path(runtime.as_deref(), &std::env::temp_dir(), uid, port);
    let token = std::fs::read_to_string(path).ok()?.trim().to_owned();
    auth::is_well_formed(&token).then_some(token)
}

type Sink = futures_util::stream::SplitSink<
    tokio_tungstenite::WebSocketStream<tokio_tungstenite::MaybeTlsStream<tokio::net::TcpStream>>,
    Message,
>;

/// What the writer task is asked to do.
enum Out {
    /// Write this message.
    Message(Message),
    /// Finish writing what a caller began (see [`Sender::send`]).
    Flush,
}

struct Sender {
    tx: mpsc::UnboundedSender<Out>,
    writer: Arc<Writer>,
}

/// The WebSocket's writing half, shared by the writer task and callers that find it idle.
struct Writer {
    sink: tokio::sync::Mutex<Sink>,
    /// Messages and flushes queued for the writer task and not yet handed to the sink. Taken down
    /// only under the sink's lock, once handed over: so whoever holds the lock and sees 0 knows
    /// nothing queued before it is still waiting.
    queued: AtomicUsize,
}

impl Transport for Sender {
    /// With the writer idle and nothing queued, writes here, without waking the writer task: a
    /// request leaves one task switch sooner (it is on the critical path of every round trip).
    /// What cannot be written at once is left to the writer task.
    fn send(&self, frame: Frame) -> Result<()> {
        if self.tx.is_closed() {
            return Err(Error::Closed);
        }
        let message = match frame {
            Frame::Text(text) => Message::text(text),
            Frame::Binary(bytes) => Message::binary(bytes),
        };
        if self.writer.queued.load(Ordering::Acquire) == 0
            && let Ok(mut sink) = self.writer.sink.try_lock()
            && self.writer.queued.load(Ordering::Acquire) == 0
        {
            // Polled once, with a waker that does nothing: the writer task polls again, with its
            // own, if this cannot finish now.
            let mut cx = Context::from_waker(Waker::noop());
            match Pin::new(&mut *sink).poll_ready(&mut cx) {
                Poll::Ready(Ok(())) => {
                    Pin::new(&mut *sink).start_send(message).map_err(|_| Error::Closed)?;
                    return match Pin::new(&mut *sink).poll_flush(&mut cx) {
                        Poll::Ready(Ok(())) => Ok(()),
                        Poll::Ready(Err(_)) => Err(Error::Closed),
                        Poll::Pending => self.queue(Out::Flush),
                    };
                }
                Poll::Ready(Err(_)) => return Err(Error::Closed),
                Poll::Pending => {}
            }
        }
        self.queue(Out::Message(message))
    }

    fn close(&self) {
        self.tx.close_channel();
    }
}

impl Sender {
    fn queue(&self, out: Out) -> Result<()> {
        self.writer.queued.fetch_add(1, Ordering::AcqRel);
        self.tx.unbounded_send(out).map_err(|_| {
            self.writer.queued.fetch_sub(1, Ordering::AcqRel);
            Error::Closed
        })
    }
}

/// Opens a WebSocket session and starts its reader and writer tasks on the current tokio runtime.
///
/// The channel to the writer holds at most the daemon's in-flight allowance of blocking requests
/// (the core keeps the rest in its outbox) plus non-blocking ones; both kinds are one message per
/// call the program has outstanding, so the program's own calls bound them.
pub(crate) async fn open(url: &str, options: &ConnectOptions) -> Result<Arc<Core>> {
    let (base, from_url) = auth::split_url(url);
    let mut request = base.into_client_request().map_err(|e| Error::Connect(e.to_string()))?;
    let mut protocols = super::offer(options.codec).join(", ");
    if let Some(token) = token_for(base, from_url, options) {
        protocols = format!("{protocols}, {}", auth::subprotocol(&token));
    }
    let protocols =
        HeaderValue::from_str(&protocols).map_err(|_| Error::Connect("the token is not well formed".into()))?;
    request.headers_mut().insert("Sec-WebSocket-Protocol", protocols);
    if let Some(origin) = &options.origin {
        let value = HeaderValue::from_str(origin).map_err(|_| Error::Connect("invalid Origin".into()))?;
        request.headers_mut().insert("Origin", value);
    }
    let config = WebSocketConfig::default().max_message_size(Some(MAX_INCOMING)).max_frame_size(Some(MAX_INCOMING));
    let (ws, response) =
        tokio_tungstenite::connect_async_with_config(request, Some(config), true).await.map_err(|e| match e {
            tungstenite::Error::Http(response) => {
                let body = response.body().as_deref().map(String::from_utf8_lossy).unwrap_or_default();
                Error::Connect(format!("HTTP {}: {}", response.status(), body.trim()))
            }
            other => Error::Connect(other.to_string()),
        })?;
    let agreed = response.headers().get("Sec-WebSocket-Protocol").and_then(|v| v.to_str().ok()).unwrap_or("");
    let codec = super::agreed(options.codec, agreed)?;
    let (sink, mut stream) = ws.split();
    let (tx, mut rx) = mpsc::unbounded::<Out>();
    let writer = Arc::new(Writer { sink: tokio::sync::Mutex::new(sink), queued: AtomicUsize::new(0) });
    let core = Arc::new(Core::new(Box::new(Sender { tx, writer: Arc::clone(&writer) }), codec));
    tokio::spawn(async move {
        // Batches whatever is queued into one flush; ends (with a close frame) when the queue
        // closes, i.e. when the last handle on the connection is dropped or `close` is called.
        while let Some(first) = rx.next().await {
            let mut sink = writer.sink.lock().await;
            let mut next = Some(first);
            while let Some(out) = next.take() {
                if let Out::Message(msg) = out
                    && sink.feed(msg).await.is_err()
                {
                    return;
                }
                writer.queued.fetch_sub(1, Ordering::AcqRel);
                next = rx.try_recv().ok();
            }
            if sink.flush().await.is_err() {
                return;
            }
        }
        let _ = writer.sink.lock().await.close().await;
    });
    // The reader holds only a weak reference, so dropping every Bridge and Socket closes the
    // connection instead of leaking it.
    let weak: Weak<Core> = Arc::downgrade(&core);
    tokio::spawn(async move {
        while let Some(msg) = stream.next().await {
            let Some(core) = weak.upgrade() else { return };
            match msg {
                Ok(Message::Text(text)) => core.on_message(FrameRef::Text(text.as_str())),
                Ok(Message::Binary(bytes)) => core.on_message(FrameRef::Binary(&bytes)),
                Ok(Message::Close(_)) | Err(_) => break,
                Ok(_) => {}
            }
        }
        if let Some(core) = weak.upgrade() {
            core.on_close();
        }
    });
    Ok(core)
}
