//! The browser transport: the page's own `WebSocket`.

use crate::core::{Core, Transport};
use crate::error::{Error, Result};
use bridge_protocol::codec::{Frame, FrameRef};
use bridge_protocol::{Codec, auth};
use futures_channel::oneshot;
use std::cell::RefCell;
use std::rc::Rc;
use std::sync::{Arc, Weak};
use wasm_bindgen::JsCast;
use wasm_bindgen::closure::Closure;
use web_sys::{CloseEvent, Event, MessageEvent, WebSocket};

/// The socket and the handlers it calls. The handlers are owned here and detached from the socket
/// before they are dropped, so the browser never calls a dropped closure.
struct Sender {
    ws: WebSocket,
    _on_open: Closure<dyn FnMut(Event)>,
    _on_message: Closure<dyn FnMut(MessageEvent)>,
    _on_close: Closure<dyn FnMut(CloseEvent)>,
}

impl Transport for Sender {
    fn send(&self, frame: Frame) -> Result<()> {
        if self.ws.ready_state() != WebSocket::OPEN {
            return Err(Error::Closed);
        }
        match frame {
            Frame::Text(text) => self.ws.send_with_str(&text),
            Frame::Binary(bytes) => self.ws.send_with_u8_array(&bytes),
        }
        .map_err(|_| Error::Closed)
    }

    fn close(&self) {
        let _ = self.ws.close();
    }
}

impl Drop for Sender {
    fn drop(&mut self) {
        self.ws.set_onopen(None);
        self.ws.set_onmessage(None);
        self.ws.set_onclose(None);
        let _ = self.ws.close();
    }
}

/// How long a WebSocket handshake may take before `connect` fails (the message below says 30 s).
const HANDSHAKE_TIMEOUT_MS: u32 = 30_000;

/// Opens a session: a WebSocket offering the codecs' subprotocols (`codec`, or MessagePack and
/// JSON) and the token from the URL's fragment as one more, resolved once it is open.
pub(crate) async fn open(url: &str, codec: Option<Codec>) -> Result<Arc<Core>> {
    let (base, token) = auth::split_url(url);
    let protocols = js_sys::Array::new();
    for name in super::offer(codec) {
        protocols.push(&name.into());
    }
    if let Some(token) = token {
        protocols.push(&auth::subprotocol(token).into());
    }
    let global = js_sys::global();
    if !js_sys::Reflect::has(&global, &"WebSocket".into()).unwrap_or(false) {
        return Err(Error::Connect(
            "this JavaScript runtime has no WebSocket: browsers and Node.js 22 and later have one; Node.js 20 needs --experimental-websocket".into(),
        ));
    }
    let ws = WebSocket::new_with_str_sequence(base, &protocols).map_err(|_| {
        Error::Connect(format!("{base} is not a WebSocket URL (ws://host:port/), or its token is not well formed"))
    })?;
    // Binary frames arrive as ArrayBuffers, read without another copy through a Blob.
    ws.set_binary_type(web_sys::BinaryType::Arraybuffer);
    type OpenSender = oneshot::Sender<std::result::Result<(), String>>;
    let (opened_tx, opened_rx) = oneshot::channel();
    let opened: Rc<RefCell<Option<OpenSender>>> = Rc::new(RefCell::new(Some(opened_tx)));

    let core = Arc::new_cyclic(|weak: &Weak<Core>| {
        let on_open = {
            let opened = Rc::clone(&opened);
            Closure::<dyn FnMut(Event)>::new(move |_| {
                if let Some(tx) = opened.borrow_mut().take() {
                    let _ = tx.send(Ok(()));
                }
            })
        };
        let on_message = {
            let weak = weak.clone();
            Closure::<dyn FnMut(MessageEvent)>::new(move |event: MessageEvent| {
                let Some(core) = weak.upgrade() else { return };
                let data = event.data();
                if let Some(text) = data.as_string() {
                    core.on_message(FrameRef::Text(&text));
                } else if let Some(buffer) = data.dyn_ref::<js_sys::ArrayBuffer>() {
                    let bytes = js_sys::Uint8Array::new(buffer).to_vec();
                    core.on_message(FrameRef::Binary(&bytes));
                }
            })
        };
        let on_close = {
            let weak = weak.clone();
            let opened = Rc::clone(&opened);
            Closure::<dyn FnMut(CloseEvent)>::new(move |event: CloseEvent| {
                if let Some(tx) = opened.borrow_mut().take() {
                    // Browsers do not say why a handshake failed; say what usually causes it.
                    let _ = tx.send(Err(format!(
                        "the daemon did not accept the WebSocket (code {}): is it running, does it admit this page's origin (bridge-daemon --allow-origin), and does the page have this run's token (open the address bridge-daemon printed, ending in #sb-token=...)?",
                        event.code()
                    )));
                }
                if let Some(core) = weak.upgrade() {
                    core.on_close();
                }
            })
        };
        ws.set_onopen(Some(on_open.as_ref().unchecked_ref()));
        ws.set_onmessage(Some(on_message.as_ref().unchecked_ref()));
        ws.set_onclose(Some(on_close.as_ref().unchecked_ref()));
        // The codec is known once the handshake is done (no message comes before): set below.
        let sender = Sender { ws: ws.clone(), _on_open: on_open, _on_message: on_message, _on_close: on_close };
        Core::new(Box::new(sender), Codec::Json)
    });
    // A handshake that is never answered (a proxy out of connections, a firewall that drops) ends
    // after HANDSHAKE_TIMEOUT_MS rather than leaving the caller waiting for ever. The timer's
    // closure belongs to JavaScript once set (it may fire after this function has returned).
    let on_timeout = {
        let opened = Rc::clone(&opened);
        let ws = ws.clone();
        Closure::once_into_js(move || {
            if let Some(tx) = opened.borrow_mut().take() {
                let _ = tx.send(Err(
                    "the bridge did not answer within 30 s: is the address right, and is the daemon (or the proxy in front of it) up and not overloaded?".into(),
                ));
                let _ = ws.close();
            }
        })
    };
    let timer = global_function(&global, "setTimeout")
        .and_then(|set| set.call2(&global, &on_timeout, &HANDSHAKE_TIMEOUT_MS.into()).ok());
    let outcome = opened_rx.await;
    // Cleared, so that a Node.js script is not kept alive by it.
    if let (Some(timer), Some(clear)) = (timer, global_function(&global, "clearTimeout")) {
        let _ = clear.call1(&global, &timer);
    }
    match outcome {
        Ok(Ok(())) => {}
        Ok(Err(why)) => return Err(Error::Connect(why)),
        Err(_) => return Err(Error::Connect("the connection was dropped before it opened".into())),
    }
    core.set_codec(super::agreed(codec, &ws.protocol())?);
    Ok(core)
}

/// A function of the global object (`setTimeout`, ...), if it has one.
fn global_function(global: &js_sys::Object, name: &str) -> Option<js_sys::Function> {
    js_sys::Reflect::get(global, &name.into()).ok()?.dyn_into().ok()
}
