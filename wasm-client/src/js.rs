//! The JavaScript API: Python's socket module for page code, through wasm-bindgen.
//!
//! ```js
//! import { Bridge, AF_INET, SOCK_STREAM } from "/pkg/sockbridge.js";
//! const bridge = await Bridge.connect();           // the daemon that served this page
//! const s = await bridge.socket(AF_INET, SOCK_STREAM);
//! await s.connect(["127.0.0.1", 9000]);
//! await s.sendall("hello\n");                       // a string is sent as UTF-8
//! const data = await s.recv(1024);                  // a Uint8Array; empty at EOF
//! ```
//!
//! Every call that may wait returns a Promise; `fileno`, `gettimeout`, `getblocking`,
//! `settimeout`, `setblocking` and `makefile` answer at once, as in Python. Errors are thrown as
//! `Error` objects whose `name` is the Python exception class (`"ConnectionRefusedError"`), with
//! `errno`, `strerror` and `code` (`"ECONNREFUSED"`); [`isOSError`](is_os_error) and
//! [`isinstance`](is_instance) follow Python's class hierarchy. The classes here are thin: each
//! converts its arguments and calls the Rust API ([`crate::Socket`] and friends), and reports the
//! call to `bridge.ontrace`.

use crate::{Address, Bridge, Codec, Error, GetaddrinfoParams, OptValue, Service, Socket, SocketFile};
use bridge_protocol::Method;
use bridge_protocol::tree::{self, Value};
use js_sys::{Array, Function, Object, Promise, Reflect, Uint8Array};
use std::borrow::Cow;
use std::cell::{Cell, RefCell};
use std::future::Future;
use std::pin::Pin;
use std::rc::Rc;
use wasm_bindgen::prelude::*;
use wasm_bindgen_futures::future_to_promise;

/// A call's work, boxed: every method shares one `future_to_promise` (one copy of its code in the
/// .wasm) instead of one each.
type LocalFuture = Pin<Box<dyn Future<Output = Result<JsValue, JsValue>>>>;

/// Runs `work` as a Promise.
fn promise(work: impl Future<Output = Result<JsValue, JsValue>> + 'static) -> Promise {
    future_to_promise(Box::pin(work) as LocalFuture)
}

#[wasm_bindgen(typescript_custom_section)]
const TYPES: &str = r#"
/** An address as Python writes it: `["127.0.0.1", 9000]`, `["::1", 9000, 0, 0]`, or a Unix socket name. */
export type Address = [host: string, port: number] | [host: string, port: number, flowinfo: number, scope_id: number] | string;
/** Bytes to send: a Uint8Array, an ArrayBuffer, or a string, which is sent as its UTF-8 encoding. */
export type Bytes = Uint8Array | ArrayBuffer | string;
/** What a socket call throws: `name` is the Python exception class, e.g. "ConnectionRefusedError". */
export interface SocketError extends Error {
  /** The Linux errno (111), negative EAI_* codes for "gaierror", null for a timeout. */
  errno: number | null;
  /** The message, as Python's `strerror`: "Connection refused". */
  strerror: string | null;
  /** The errno's name: "ECONNREFUSED". */
  code: string | null;
  /** Why the daemon's policy refused, in plain words. */
  reason?: string;
}
/** One `getaddrinfo` result, as Python's tuple: (family, type, proto, canonname, sockaddr). */
export type AddrInfo = [family: number, type: number, proto: number, canonname: string, address: Address];
/** What the daemon reported when the session opened. */
export interface Hello {
  protocol: string;
  protocol_version: number;
  daemon: string;
  limits: { max_message_bytes: number; max_payload_bytes: number; max_inflight: number; max_inflight_bytes: number; max_sockets: number };
  features: string[];
  /** The daemon's lab services by name (`echo_tcp`, `daytime_udp`, ...); absent when there are none. */
  labs?: Record<string, Address>;
  /** How the session's sockets reach each other; absent from daemons before private networks. */
  network?: NetworkInfo;
}
/** One computer of a private network. */
export interface HostInfo {
  /** What `gethostname()` says there, and what resolves to its address. */
  name: string;
  /** Its IPv4 address on the LAN, e.g. "10.0.0.2". */
  address: string;
  /** Its IPv6 address on the LAN, e.g. "fd00::2". */
  address6: string;
  /** Whether the lab services run on it. */
  labs?: boolean;
}
/** "private": hosts of the session's own (network namespaces). "shared": the daemon computer's loopback. */
export interface NetworkInfo {
  mode: "private" | "shared";
  /** The hosts; the first is where sockets go when none is named. */
  hosts?: HostInfo[];
  /** The LAN: "10.0.0.0/24, fd00::/64". */
  lan?: string;
  /** Why a daemon asked for private networks runs shared. */
  why?: string;
}
/** What a host's link does to the packets it sends; every field defaults to nothing. */
export interface LinkSettings {
  /** Share of packets lost, 0 to 1. */
  loss?: number;
  /** Share of packets sent twice, 0 to 1. */
  duplicate?: number;
  /** Share of packets held back so later ones overtake them, 0 to 1. */
  reorder?: number;
  /** Seconds every packet waits, 0 to 10. */
  delay?: number;
  /** Up to this many seconds more, at random. */
  jitter?: number;
  /** Bits per second (at least 8000). */
  rate?: number;
}
/** One packet a host sent on the LAN, as the daemon's link saw it. */
export interface PacketInfo {
  n: number;
  /** Seconds since the network was made. */
  t: number;
  from: string;
  /** The hosts it reached (several for a broadcast, none when dropped). */
  to: string[];
  fate: "delivered" | "duplicated" | "reordered" | "lost" | "no-host" | "queue-full" | "over-rate" | "over-network-rate";
  proto: string;
  src: Address;
  dst: Address;
  /** TCP flags as Wireshark names them: "SYN", "SYN, ACK", "ACK", "FIN, ACK", "RST, ACK". */
  flags?: string;
  seq?: number;
  ack?: number;
  window?: number;
  /** Bytes of data it carries. */
  len: number;
  /** The packet in one line, as tcpdump would put it. */
  text: string;
}
/** Packets from a number on; ask again with `since: next`. */
export interface Packets {
  packets: PacketInfo[];
  next: number;
  /** Packets after `since` the capture no longer holds. */
  missed: number;
  /** Seconds since the network was made, as the daemon answered (the clock of `PacketInfo.t`). */
  now: number;
}
/** One socket in a host's kernel table. */
export interface NetstatRow {
  host: string;
  proto: "tcp" | "udp";
  local: Address;
  remote?: Address;
  /** The kernel's state: "LISTEN", "ESTABLISHED", "TIME_WAIT", ...; for UDP "UNCONN" or "ESTABLISHED". */
  state: string;
  /** This session's handle for it; absent for one no handle holds (TIME_WAIT). */
  fd?: number;
}
/**
 * One call, as `bridge.ontrace` receives it: once when it starts (`phase: "call"`) and once when it
 * ends (`phase: "return"`, with `result` or `error` and `duration` in milliseconds). Both events of
 * a call share its `id`.
 */
export interface TraceEvent {
  id: number;
  phase: "call" | "return";
  /** The Python name: "recv", "accept", "socket", "readline", ... */
  method: string;
  /** The socket's file descriptor, or null for module functions (`socket`, `select`, ...). */
  fd: number | null;
  /** `"file"` for a call on a `makefile` object (its `close` does not close the socket). */
  object?: "file";
  args: unknown[];
  result?: unknown;
  error?: SocketError;
  /** `performance.now()` when the event happened. */
  time: number;
  duration?: number;
}
/** Options for `Bridge.connect`. */
export interface BridgeOptions {
  /** Receives every call; the same as setting `bridge.ontrace`. */
  ontrace?: (event: TraceEvent) => void;
  /**
   * The daemon's token. Without it: the URL's `#sb-token=…`, else the token this page was given
   * in its own address (see `takePageToken`), else the one it remembered last time.
   */
  token?: string;
  /**
   * `"msgpack"` or `"json"`. Without it the bridge offers both and the daemon picks MessagePack,
   * whose bytes travel without base64; `"json"` keeps every message readable text in the browser's
   * network panel, as the protocol page shows it.
   */
  codec?: "msgpack" | "json";
}
"#;

/// Reports calls to the page's `ontrace` function. Shared by a bridge and everything it made;
/// the flag says the calls are a `makefile` object's (events say `object: "file"`).
#[derive(Clone, Default)]
struct Tracer(Rc<TracerState>, bool);

#[derive(Default)]
struct TracerState {
    hook: RefCell<Option<Function>>,
    next_id: Cell<u32>,
}

/// A call being traced.
struct Call {
    id: u32,
    method: &'static str,
    fd: Option<i32>,
    args: Array,
    start: f64,
    /// A call on a `makefile` object, not on the socket itself.
    file: bool,
}

fn now() -> f64 {
    let global = js_sys::global();
    Reflect::get(&global, &JsValue::from_str("performance"))
        .ok()
        .and_then(|p| p.dyn_into::<web_sys::Performance>().ok())
        .map_or_else(js_sys::Date::now, |p| p.now())
}

fn set(object: &Object, key: &str, value: &JsValue) {
    // Setting a property on a fresh plain object cannot fail.
    let _ = Reflect::set(object, &JsValue::from_str(key), value);
}

impl Tracer {
    /// The tracer of a `makefile` object of a socket.
    fn for_file(&self) -> Tracer {
        Tracer(Rc::clone(&self.0), true)
    }

    fn begin(&self, method: &'static str, fd: Option<i32>, args: Array) -> Option<Call> {
        self.0.hook.borrow().as_ref()?;
        let id = self.0.next_id.get().wrapping_add(1);
        self.0.next_id.set(id);
        let call = Call { id, method, fd, args, start: now(), file: self.1 };
        self.emit(&call, None, call.start);
        Some(call)
    }

    fn end(&self, call: Option<Call>, outcome: &Result<JsValue, JsValue>, fd: Option<i32>) {
        if let Some(mut call) = call {
            call.fd = call.fd.or(fd);
            self.emit(&call, Some(outcome), now());
        }
    }

    fn emit(&self, call: &Call, outcome: Option<&Result<JsValue, JsValue>>, time: f64) {
        let Some(hook) = self.0.hook.borrow().clone() else { return };
        let event = Object::new();
        set(&event, "id", &JsValue::from(call.id));
        set(&event, "phase", &JsValue::from_str(if outcome.is_some() { "return" } else { "call" }));
        set(&event, "method", &JsValue::from_str(call.method));
        if call.file {
            set(&event, "object", &JsValue::from_str("file"));
        }
        set(&event, "fd", &call.fd.map_or(JsValue::NULL, JsValue::from));
        set(&event, "args", &call.args);
        set(&event, "time", &JsValue::from(time));
        match outcome {
            Some(Ok(result)) => set(&event, "result", result),
            Some(Err(error)) => set(&event, "error", error),
            None => {}
        }
        if outcome.is_some() {
            set(&event, "duration", &JsValue::from(time - call.start));
        }
        // A failing hook must not break the call it reports.
        let _ = hook.call1(&JsValue::NULL, &event);
    }

    /// Runs an async call, traced, as a Promise.
    fn promise(
        &self,
        method: &'static str,
        fd: Option<i32>,
        args: Array,
        work: impl Future<Output = Result<JsValue, JsValue>> + 'static,
    ) -> Promise {
        let tracer = self.clone();
        let call = tracer.begin(method, fd, args);
        promise(async move {
            let outcome = work.await;
            tracer.finish(call, method, &outcome);
            outcome
        })
    }

    /// Reports an async call's outcome (kept out of line: it is the same for every method).
    #[inline(never)]
    fn finish(&self, call: Option<Call>, method: &'static str, outcome: &Result<JsValue, JsValue>) {
        let new_fd = if method == "socket" { outcome.as_ref().ok().and_then(fd_of) } else { None };
        self.end(call, outcome, new_fd);
    }

    /// Runs a call that answers at once, traced.
    fn now<T: Into<JsValue>>(
        &self,
        method: &'static str,
        fd: Option<i32>,
        args: Array,
        work: impl FnOnce() -> Result<T, JsValue>,
    ) -> Result<JsValue, JsValue> {
        let call = self.begin(method, fd, args);
        let outcome = work().map(Into::into);
        self.end(call, &outcome, None);
        outcome
    }
}

/// The fd of a Socket object returned by `socket()`.
fn fd_of(value: &JsValue) -> Option<i32> {
    let fileno: Function = Reflect::get(value, &JsValue::from_str("fileno")).ok()?.dyn_into().ok()?;
    fileno.call0(value).ok()?.as_f64().map(|f| f as i32)
}

fn args<const N: usize>(values: [JsValue; N]) -> Array {
    values.into_iter().collect()
}

/// A Python error as a thrown JavaScript `Error`.
fn js_error(e: &Error) -> JsValue {
    let message = match e {
        Error::Os(os) => os.message(),
        Error::Value(m) | Error::Overflow(m) => m.clone(),
        other => other.strerror(),
    };
    let error = js_sys::Error::new(&message);
    error.set_name(e.exception());
    let object: &Object = error.as_ref();
    set(object, "errno", &e.errno().map_or(JsValue::NULL, JsValue::from));
    let strerror = match e {
        Error::Os(os) => os.strerror.clone(),
        _ => None,
    };
    set(object, "strerror", &strerror.map_or(JsValue::NULL, |s| JsValue::from_str(&s)));
    set(object, "code", &e.errname().map_or(JsValue::NULL, JsValue::from_str));
    if let Error::Os(os) = e
        && let Some(reason) = &os.reason
    {
        set(object, "reason", &JsValue::from_str(reason));
    }
    error.into()
}

/// An argument error raised before anything is sent, with Python's class and message.
fn python_error(class: &str, message: &str) -> JsValue {
    let error = js_sys::Error::new(message);
    error.set_name(class);
    let object: &Object = error.as_ref();
    for key in ["errno", "strerror", "code"] {
        set(object, key, &JsValue::NULL);
    }
    error.into()
}

fn type_name(v: &JsValue) -> String {
    v.js_typeof().as_string().unwrap_or_default()
}

/// The Python type a JavaScript value stands for, in a `TypeError` message.
fn python_type(v: &JsValue) -> &'static str {
    match v.as_f64() {
        Some(n) if n.fract() == 0.0 && n.is_finite() => "int",
        Some(_) => "float",
        None if v.is_string() => "str",
        None if v.is_null() || v.is_undefined() => "NoneType",
        None if Array::is_array(v) => "tuple",
        None => "object",
    }
}

/// An argument Python takes as an `int`: a whole JavaScript number (or a boolean, an int in
/// Python); anything else is the `TypeError` CPython raises, never a coerced value.
fn int_arg(v: &JsValue) -> Result<i64, JsValue> {
    if let Some(b) = v.as_bool() {
        return Ok(i64::from(b));
    }
    match v.as_f64() {
        Some(n) if n.fract() == 0.0 && n.is_finite() => {
            if n.abs() < 9.2e18 {
                Ok(n as i64)
            } else {
                Err(python_error("OverflowError", "Python int too large to convert to C long"))
            }
        }
        _ => {
            Err(python_error("TypeError", &format!("'{}' object cannot be interpreted as an integer", python_type(v))))
        }
    }
}

/// An `int` argument that must fit a C `int`, as CPython's `i` format.
fn c_int_arg(v: &JsValue) -> Result<i32, JsValue> {
    let n = int_arg(v)?;
    i32::try_from(n).map_err(|_| {
        let side = if n < 0 { "less than minimum" } else { "greater than maximum" };
        python_error("OverflowError", &format!("signed integer is {side}"))
    })
}

/// An optional C `int` argument: missing (`undefined`) is `None`.
fn opt_c_int_arg(v: &JsValue) -> Result<Option<i32>, JsValue> {
    if v.is_undefined() { Ok(None) } else { c_int_arg(v).map(Some) }
}

/// A value's truth as Python's `bool()` sees it (`[]` and `""` are false, as `()` and `''`).
fn python_truth(v: &JsValue) -> bool {
    match v.dyn_ref::<Array>() {
        Some(array) => array.length() > 0,
        None => v.is_truthy(),
    }
}

/// An address from JavaScript: `[host, port]`, `[host, port, flowinfo, scope_id]` or a string.
fn to_address(v: &JsValue) -> Result<Address, JsValue> {
    if let Some(name) = v.as_string() {
        return Ok(Address::Unix(name));
    }
    let Some(items) = v.dyn_ref::<Array>() else {
        return Err(python_error(
            "TypeError",
            "an address is [host, port], [host, port, flowinfo, scope_id] or a Unix socket name",
        ));
    };
    let host = items.get(0).as_string();
    let number = |i: u32| items.get(i).as_f64();
    let (Some(host), Some(port), 2..=4) = (host, number(1), items.length()) else {
        return Err(python_error("TypeError", "an IP address is [host: string, port: number, ...]"));
    };
    if port.fract() != 0.0 || !(0.0..=65535.0).contains(&port) {
        return Err(python_error("OverflowError", "port must be 0-65535."));
    }
    let port = port as u16;
    if items.length() == 2 {
        return Ok(Address::Inet { host, port });
    }
    let u32_at = |i: u32| number(i).filter(|n| n.fract() == 0.0 && (0.0..=4294967295.0).contains(n));
    match (u32_at(2), if items.length() == 4 { u32_at(3) } else { Some(0.0) }) {
        (Some(flowinfo), Some(scope_id)) => {
            Ok(Address::Inet6 { host, port, flowinfo: flowinfo as u32, scope_id: scope_id as u32 })
        }
        _ => Err(python_error("OverflowError", "flowinfo and scope_id must be 0-4294967295.")),
    }
}

/// An address for JavaScript: an array, or a string for a Unix socket.
/// Calls a method whose params and result the page gives and takes as plain JSON values.
async fn call_value(bridge: &Bridge, method: Method, params: Value<'static>) -> Result<JsValue, JsValue> {
    let result = bridge.core.call_value(method, &params).await.map_err(|e| js_error(&e))?;
    Ok(to_js(&result))
}

/// A tree as the JavaScript value `JSON.parse` would give (bytes, which JSON lacks, as a
/// `Uint8Array`).
fn to_js(value: &Value<'_>) -> JsValue {
    match value {
        Value::Nil => JsValue::NULL,
        Value::Bool(b) => JsValue::from_bool(*b),
        Value::Int(n) => JsValue::from_f64(*n as f64),
        Value::UInt(n) => JsValue::from_f64(*n as f64),
        Value::Float(f) => JsValue::from_f64(*f),
        Value::Str(s) => JsValue::from_str(s),
        Value::Bin(b) => Uint8Array::from(b.as_ref()).into(),
        Value::Array(items) => items.iter().map(to_js).collect::<Array>().into(),
        Value::Map(members) => {
            let object = Object::new();
            for (key, value) in members {
                set(&object, key, &to_js(value));
            }
            object.into()
        }
    }
}

/// A JavaScript value as JSON.
fn from_js(value: &JsValue) -> Option<Value<'static>> {
    let text = String::from(js_sys::JSON::stringify(value).ok()?);
    tree::parse_json(&text).map(Value::into_owned)
}

/// A JSON object of `members`.
fn object<const N: usize>(members: [(&str, Value<'static>); N]) -> Value<'static> {
    Value::Map(members.into_iter().map(|(k, v)| (Cow::Owned(k.to_owned()), v)).collect())
}

fn from_address(a: &Address) -> JsValue {
    match a {
        Address::Inet { host, port } => args([JsValue::from_str(host), JsValue::from(*port)]).into(),
        Address::Inet6 { host, port, flowinfo, scope_id } => {
            args([JsValue::from_str(host), JsValue::from(*port), JsValue::from(*flowinfo), JsValue::from(*scope_id)])
                .into()
        }
        Address::Unix(name) => JsValue::from_str(name),
    }
}

/// Bytes from JavaScript: a Uint8Array, an ArrayBuffer, or a string (its UTF-8 bytes).
fn to_bytes(v: &JsValue) -> Result<Vec<u8>, JsValue> {
    if let Some(s) = v.as_string() {
        return Ok(s.into_bytes());
    }
    if let Some(array) = v.dyn_ref::<Uint8Array>() {
        return Ok(array.to_vec());
    }
    if let Some(buffer) = v.dyn_ref::<js_sys::ArrayBuffer>() {
        return Ok(Uint8Array::new(buffer).to_vec());
    }
    Err(python_error("TypeError", &format!("a bytes-like object is required, not '{}'", type_name(v))))
}

fn bytes_value(data: &[u8]) -> JsValue {
    Uint8Array::from(data).into()
}

/// A buffer size: a whole, non-negative number (`TypeError` for anything else, as CPython).
fn to_bufsize(v: &JsValue, method: &str) -> Result<usize, JsValue> {
    let n = int_arg(v)?;
    if n < 0 {
        return Err(python_error("ValueError", &format!("negative buffersize in {method}")));
    }
    Ok(usize::try_from(n).unwrap_or(usize::MAX))
}

/// A session with a bridge daemon: `await Bridge.connect(url)`.
#[wasm_bindgen(js_name = Bridge)]
pub struct JsBridge {
    bridge: Bridge,
    tracer: Tracer,
}

#[wasm_bindgen(js_class = Bridge)]
impl JsBridge {
    /// Opens a session with the daemon at `url` (`ws://127.0.0.1:7320/`); without a URL, with the
    /// daemon that served this page. The daemon admits a page that presents its token: give it as
    /// `options.token` or in the URL (`#sb-token=…`), or open the page at the address the daemon
    /// printed, which carries it (see `takePageToken`).
    ///
    /// ```js
    /// const bridge = await Bridge.connect("ws://127.0.0.1:7320/", { ontrace: console.log });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<Bridge>")]
    pub fn connect(
        #[wasm_bindgen(unchecked_optional_param_type = "string")] url: Option<String>,
        #[wasm_bindgen(unchecked_optional_param_type = "BridgeOptions")] options: Option<Object>,
    ) -> Promise {
        promise(async move {
            let url = match url {
                Some(url) => url,
                None => page_url().ok_or_else(|| {
                    python_error("ValueError", "give the daemon's URL: this page was not served by it")
                })?,
            };
            let given = options
                .as_ref()
                .and_then(|o| Reflect::get(o, &JsValue::from_str("token")).ok())
                .and_then(|t| t.as_string());
            let (base, in_url) = bridge_protocol::auth::split_url(&url);
            // The tokens to try, in turn: one given by the caller; else the one this tab's address
            // brought, then the one this origin has remembered (an address with a wrong token,
            // from whoever made it, then costs one refused try, not the page's access).
            let from_page = take_page_token().or_else(pending_token);
            let tokens: Vec<Option<String>> = match given.or(in_url.map(str::to_owned)) {
                Some(token) => vec![Some(token)],
                None => {
                    let mut tokens = vec![from_page.clone(), stored_token()];
                    tokens.dedup();
                    tokens.retain(Option::is_some);
                    if tokens.is_empty() { vec![None] } else { tokens }
                }
            };
            let codec = match options.as_ref().and_then(|o| Reflect::get(o, &JsValue::from_str("codec")).ok()) {
                None => None,
                Some(v) if v.is_undefined() || v.is_null() => None,
                Some(v) => match v.as_string().as_deref() {
                    Some("json") => Some(Codec::Json),
                    Some("msgpack") => Some(Codec::Msgpack),
                    _ => return Err(python_error("ValueError", "options.codec must be \"msgpack\" or \"json\"")),
                },
            };
            let mut last = None;
            let mut connected = None;
            for token in &tokens {
                let url = match token {
                    Some(token) => format!("{base}#{}={token}", bridge_protocol::auth::FRAGMENT_KEY),
                    None => base.to_owned(),
                };
                match Bridge::connect_with_codec(&url, codec).await {
                    Ok(bridge) => {
                        connected = Some((bridge, token.clone()));
                        break;
                    }
                    Err(e) => last = Some(e),
                }
            }
            let Some((bridge, used)) = connected else {
                return Err(js_error(&last.unwrap_or(Error::Closed)));
            };
            // The tab's address gave a token: kept for this origin once the daemon took it, and
            // forgotten if it did not.
            if let Some(page) = &from_page {
                if used.as_ref() == Some(page) {
                    store_token(page);
                } else {
                    set_pending_token(None);
                }
            }
            let tracer = Tracer::default();
            if let Some(options) = options
                && let Ok(hook) = Reflect::get(&options, &JsValue::from_str("ontrace"))
            {
                *tracer.0.hook.borrow_mut() = hook.dyn_into::<Function>().ok();
            }
            Ok(JsBridge { bridge, tracer }.into())
        })
    }

    /// What the daemon reported: protocol, version, limits and features.
    ///
    /// ```js
    /// console.log(bridge.hello.daemon, bridge.hello.limits.max_payload_bytes);
    /// ```
    #[wasm_bindgen(getter, unchecked_return_type = "Hello")]
    pub fn hello(&self) -> JsValue {
        to_js(self.bridge.hello_tree())
    }

    /// The function that receives every call (`TraceEvent`), or null.
    #[wasm_bindgen(getter, unchecked_return_type = "((event: TraceEvent) => void) | null")]
    pub fn ontrace(&self) -> Option<Function> {
        self.tracer.0.hook.borrow().clone()
    }

    /// Sets the function that receives every call of this bridge and its sockets.
    ///
    /// ```js
    /// bridge.ontrace = (e) => console.log(e.phase, e.method, e.fd, e.args, e.result ?? e.error);
    /// ```
    #[wasm_bindgen(setter)]
    pub fn set_ontrace(
        &self,
        #[wasm_bindgen(unchecked_param_type = "((event: TraceEvent) => void) | null")] hook: Option<Function>,
    ) {
        *self.tracer.0.hook.borrow_mut() = hook;
    }

    /// `socket(family = AF_INET, type = SOCK_STREAM, proto = 0)`; in a private network, on
    /// `host` (default: the first host).
    ///
    /// ```js
    /// const udp = await bridge.socket(AF_INET, SOCK_DGRAM);
    /// const server = await bridge.socket(AF_INET, SOCK_STREAM, 0, "pc2");
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<Socket>")]
    pub fn socket(
        &self,
        family: Option<i32>,
        #[wasm_bindgen(js_name = "type")] kind: Option<i32>,
        proto: Option<i32>,
        host: Option<String>,
    ) -> Promise {
        let (family, kind, proto) =
            (family.unwrap_or(crate::AF_INET), kind.unwrap_or(crate::SOCK_STREAM), proto.unwrap_or(0));
        let (bridge, tracer) = (self.bridge.clone(), self.tracer.clone());
        let mut given = vec![family.into(), kind.into(), proto.into()];
        if let Some(host) = &host {
            given.push(JsValue::from_str(host));
        }
        self.tracer.promise("socket", None, given.into_iter().collect(), async move {
            let sock = bridge.socket_on(host.as_deref(), family, kind, proto).await.map_err(|e| js_error(&e))?;
            Ok(JsSocket { sock, tracer }.into())
        })
    }

    /// The session's network: `{mode: "private", hosts, lan}` or `{mode: "shared"}`.
    ///
    /// ```js
    /// const { mode, hosts } = await bridge.network();
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<NetworkInfo>")]
    pub fn network(&self) -> Promise {
        let bridge = self.bridge.clone();
        promise(async move { call_value(&bridge, Method::Network, object([])).await })
    }

    /// Adds a computer to the session's private network: `{name, address}`.
    ///
    /// ```js
    /// const { address } = await bridge.addHost("server");   // "10.0.0.2"
    /// ```
    #[wasm_bindgen(js_name = addHost, unchecked_return_type = "Promise<HostInfo>")]
    pub fn add_host(&self, name: String) -> Promise {
        let bridge = self.bridge.clone();
        self.tracer.promise("add_host", None, args([JsValue::from_str(&name)]), async move {
            call_value(&bridge, Method::AddHost, object([("name", Value::from(name.as_str()))])).await
        })
    }

    /// Sets what `host`'s link does to the packets it sends (the new settings replace the old
    /// ones whole); resolves to the settings in force.
    ///
    /// ```js
    /// await bridge.setLink("pc2", { loss: 0.2, delay: 0.05 });
    /// ```
    #[wasm_bindgen(js_name = setLink, unchecked_return_type = "Promise<LinkSettings>")]
    pub fn set_link(
        &self,
        host: String,
        #[wasm_bindgen(unchecked_param_type = "LinkSettings")] link: JsValue,
    ) -> Promise {
        let bridge = self.bridge.clone();
        promise(async move {
            let link = if link.is_undefined() || link.is_null() { Some(object([])) } else { from_js(&link) };
            let link = link.ok_or_else(|| python_error("TypeError", "setLink: the link settings are not JSON"))?;
            call_value(&bridge, Method::SetLink, object([("host", Value::from(host.as_str())), ("link", link)])).await
        })
    }

    /// The packets the network's hosts sent, from number `since` on (omitted: the oldest kept).
    ///
    /// ```js
    /// let since = 0;
    /// const { packets, next } = await bridge.packets(since);
    /// for (const p of packets) console.log(p.from, "→", p.to.join(","), p.text, p.fate);
    /// since = next;
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<Packets>")]
    pub fn packets(&self, since: Option<f64>, max: Option<u32>) -> Promise {
        let bridge = self.bridge.clone();
        promise(async move {
            let mut params = Vec::new();
            if let Some(since) = since.filter(|s| s.is_finite() && *s >= 0.0) {
                params.push((Cow::Borrowed("since"), Value::UInt(since as u64)));
            }
            if let Some(max) = max {
                params.push((Cow::Borrowed("max"), Value::UInt(u64::from(max))));
            }
            call_value(&bridge, Method::Packets, Value::Map(params)).await
        })
    }

    /// The capture as a pcap file (raw IP), which Wireshark opens.
    ///
    /// ```js
    /// const blob = new Blob([await bridge.pcap()], { type: "application/vnd.tcpdump.pcap" });
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn pcap(&self) -> Promise {
        let bridge = self.bridge.clone();
        promise(async move {
            let bytes = bridge.pcap().await.map_err(|e| js_error(&e))?;
            Ok(Uint8Array::from(bytes.as_slice()).into())
        })
    }

    /// The kernel's table of the network's sockets (one host's, or every host's), with TCP states.
    ///
    /// ```js
    /// for (const row of await bridge.netstat("pc2")) console.log(row.local, row.state);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<NetstatRow[]>")]
    pub fn netstat(&self, host: Option<String>) -> Promise {
        let bridge = self.bridge.clone();
        let params = match host {
            Some(host) => object([("host", Value::from(host.as_str()))]),
            None => object([]),
        };
        promise(async move { call_value(&bridge, Method::Netstat, params).await })
    }

    /// `getaddrinfo(host, port, family = 0, type = 0, proto = 0, flags = 0)`, resolved by the daemon.
    ///
    /// ```js
    /// const [[family, type, proto, canonname, address]] = await bridge.getaddrinfo("localhost", 80, AF_INET, SOCK_STREAM);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<AddrInfo[]>")]
    pub fn getaddrinfo(
        &self,
        host: Option<String>,
        #[wasm_bindgen(unchecked_param_type = "number | string | null")] port: JsValue,
        family: Option<i32>,
        #[wasm_bindgen(js_name = "type")] kind: Option<i32>,
        proto: Option<i32>,
        flags: Option<i32>,
    ) -> Promise {
        let service = match (port.as_f64(), port.as_string()) {
            (Some(p), _) if p.fract() == 0.0 && (0.0..=65535.0).contains(&p) => Some(Service::Port(p as u16)),
            (Some(_), _) => {
                let error = python_error("OverflowError", "getaddrinfo(): port must be 0-65535.");
                return self.tracer.promise("getaddrinfo", None, args([port]), std::future::ready(Err(error)));
            }
            (None, Some(name)) => Some(Service::Name(name)),
            (None, None) => None,
        };
        let params = GetaddrinfoParams {
            host: host.clone(),
            port: service,
            family: family.unwrap_or(0),
            kind: kind.unwrap_or(0),
            proto: proto.unwrap_or(0),
            flags: flags.unwrap_or(0),
        };
        let a = args([host.map_or(JsValue::NULL, |h| JsValue::from_str(&h)), port]);
        let bridge = self.bridge.clone();
        self.tracer.promise("getaddrinfo", None, a, async move {
            let infos = bridge.getaddrinfo(params).await.map_err(|e| js_error(&e))?;
            Ok(infos
                .iter()
                .map(|i| -> JsValue {
                    args([
                        i.family.into(),
                        i.kind.into(),
                        i.proto.into(),
                        JsValue::from_str(&i.canonname),
                        from_address(&i.address),
                    ])
                    .into()
                })
                .collect::<Array>()
                .into())
        })
    }

    /// `gethostbyname(hostname)`: one IPv4 address, as a string.
    ///
    /// ```js
    /// await bridge.gethostbyname("localhost");   // "127.0.0.1"
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn gethostbyname(&self, hostname: String) -> Promise {
        let bridge = self.bridge.clone();
        let a = args([JsValue::from_str(&hostname)]);
        self.tracer.promise("gethostbyname", None, a, async move {
            bridge.gethostbyname(&hostname).await.map(|h| JsValue::from_str(&h)).map_err(|e| js_error(&e))
        })
    }

    /// `gethostname()`: the daemon's host name.
    ///
    /// ```js
    /// const name = await bridge.gethostname();
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<string>")]
    pub fn gethostname(&self) -> Promise {
        let bridge = self.bridge.clone();
        self.tracer.promise("gethostname", None, Array::new(), async move {
            bridge.gethostname().await.map(|h| JsValue::from_str(&h)).map_err(|e| js_error(&e))
        })
    }

    /// `select.select(rlist, wlist, xlist, timeout)`: the sockets of each list that are ready, in
    /// the order given; `timeout` in seconds, `null`/omitted to wait without limit.
    ///
    /// ```js
    /// const [readable, writable] = await bridge.select([server, conn], [], [], 1.0);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<[Socket[], Socket[], Socket[]]>")]
    pub fn select(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Socket[]")] rlist: Array,
        #[wasm_bindgen(unchecked_param_type = "Socket[]")] wlist: Array,
        #[wasm_bindgen(unchecked_param_type = "Socket[]")] xlist: Array,
        timeout: Option<f64>,
    ) -> Promise {
        let bridge = self.bridge.clone();
        let a = args([rlist.clone().into(), wlist.clone().into(), xlist.clone().into(), timeout.into()]);
        self.tracer.promise("select", None, a, async move {
            let fds = |list: &Array| -> Result<Vec<i32>, JsValue> {
                list.iter()
                    .map(|s| match fd_of(&s) {
                        Some(-1) => {
                            Err(python_error("ValueError", "file descriptor cannot be a negative integer (-1)"))
                        }
                        Some(fd) => Ok(fd),
                        None => Err(python_error("TypeError", "select takes lists of sockets")),
                    })
                    .collect()
            };
            if timeout.is_some_and(|t| t.is_nan() || t < 0.0) {
                return Err(python_error("ValueError", "timeout must be non-negative"));
            }
            let ready =
                bridge.select_fds(fds(&rlist)?, fds(&wlist)?, fds(&xlist)?, timeout).await.map_err(|e| js_error(&e))?;
            let pick = |list: &Array, ready: &[i32]| -> Array {
                list.iter().filter(|s| fd_of(s).is_some_and(|fd| ready.contains(&fd))).collect()
            };
            Ok(args([
                pick(&rlist, &ready.rlist).into(),
                pick(&wlist, &ready.wlist).into(),
                pick(&xlist, &ready.xlist).into(),
            ])
            .into())
        })
    }

    /// Ends the session: the daemon closes every socket of it.
    ///
    /// ```js
    /// bridge.close();
    /// ```
    pub fn close(&self) {
        self.bridge.close();
    }

    /// Whether the session has ended.
    ///
    /// ```js
    /// if (bridge.closed) console.log("reconnect");
    /// ```
    #[wasm_bindgen(getter)]
    pub fn closed(&self) -> bool {
        self.bridge.is_closed()
    }
}

/// The daemon's WebSocket URL for a page it served: `ws://` + this page's host + `/`.
/// Where a page keeps the token it was given (its own origin's `localStorage`).
const TOKEN_KEY: &str = "sockbridge.token";

fn global_get(object: &JsValue, key: &str) -> Option<JsValue> {
    Reflect::get(object, &JsValue::from_str(key)).ok().filter(|v| !v.is_undefined() && !v.is_null())
}

fn local_storage() -> Option<JsValue> {
    global_get(&js_sys::global(), "localStorage")
}

fn stored_token() -> Option<String> {
    let storage = local_storage()?;
    let get: Function = global_get(&storage, "getItem")?.dyn_into().ok()?;
    get.call1(&storage, &JsValue::from_str(TOKEN_KEY)).ok()?.as_string()
}

fn store_token(token: &str) {
    if let Some(storage) = local_storage()
        && let Some(set) = global_get(&storage, "setItem").and_then(|f| f.dyn_into::<Function>().ok())
    {
        let _ = set.call2(&storage, &JsValue::from_str(TOKEN_KEY), &JsValue::from_str(token));
    }
}

/// Where a tab keeps a token its address brought until the daemon has accepted it (the tab's own
/// `sessionStorage`, which survives a reload; a worker keeps it in memory).
const PENDING_KEY: &str = "sockbridge.pending-token";

thread_local! {
    static PENDING_TOKEN: std::cell::RefCell<Option<String>> = const { std::cell::RefCell::new(None) };
}

fn pending_token() -> Option<String> {
    let from_session = global_get(&js_sys::global(), "sessionStorage").and_then(|storage| {
        let get: Function = global_get(&storage, "getItem")?.dyn_into().ok()?;
        get.call1(&storage, &JsValue::from_str(PENDING_KEY)).ok()?.as_string()
    });
    from_session.or_else(|| PENDING_TOKEN.with(|t| t.borrow().clone()))
}

fn set_pending_token(token: Option<&str>) {
    PENDING_TOKEN.with(|t| *t.borrow_mut() = token.map(str::to_owned));
    if let Some(storage) = global_get(&js_sys::global(), "sessionStorage") {
        let _ = match token {
            Some(token) => global_get(&storage, "setItem")
                .and_then(|f| f.dyn_into::<Function>().ok())
                .map(|set| set.call2(&storage, &JsValue::from_str(PENDING_KEY), &JsValue::from_str(token))),
            None => global_get(&storage, "removeItem")
                .and_then(|f| f.dyn_into::<Function>().ok())
                .map(|remove| remove.call1(&storage, &JsValue::from_str(PENDING_KEY))),
        };
    }
}

/// Takes the daemon's token out of this page's own address (`#sb-token=…`, as the daemon prints
/// it) and removes it from the address bar and history, so it is not bookmarked or shared by
/// accident. Returns it, or `undefined` if the address has none. `Bridge.connect` tries it first
/// (then the token this origin remembers), and once the daemon has accepted it, the origin
/// remembers it for later visits: an address with a wrong token, from whoever made it, never
/// replaces a good one.
/// `Bridge.connect` calls this itself; a page that routes on `location.hash` calls it first.
///
/// ```js
/// takePageToken();                  // at start-up, before routing on location.hash
/// const bridge = await Bridge.connect();
/// ```
#[wasm_bindgen(js_name = takePageToken)]
pub fn take_page_token() -> Option<String> {
    let global = js_sys::global();
    let location = global_get(&global, "location")?;
    let hash = global_get(&location, "hash")?.as_string()?;
    let fragment = hash.strip_prefix('#')?;
    let (_, token) = bridge_protocol::auth::split_url(&hash);
    let token = token.filter(|t| bridge_protocol::auth::is_well_formed(t))?.to_owned();
    set_pending_token(Some(&token));
    let path = global_get(&location, "pathname").and_then(|p| p.as_string()).unwrap_or_default();
    let search = global_get(&location, "search").and_then(|p| p.as_string()).unwrap_or_default();
    let mut clean = path + &search;
    let mut separator = '#';
    for part in fragment.split('&') {
        let is_token = part.strip_prefix(bridge_protocol::auth::FRAGMENT_KEY).is_some_and(|p| p.starts_with('='));
        if !is_token {
            clean.push(separator);
            clean.push_str(part);
            separator = '&';
        }
    }
    if let Some(history) = global_get(&global, "history")
        && let Some(replace) = global_get(&history, "replaceState").and_then(|f| f.dyn_into::<Function>().ok())
    {
        let _ = replace.call3(&history, &JsValue::NULL, &JsValue::from_str(""), &JsValue::from_str(&clean));
    }
    Some(token)
}

fn page_url() -> Option<String> {
    let location = Reflect::get(&js_sys::global(), &JsValue::from_str("location")).ok()?;
    let protocol = Reflect::get(&location, &JsValue::from_str("protocol")).ok()?.as_string()?;
    let host = Reflect::get(&location, &JsValue::from_str("host")).ok()?.as_string()?;
    let scheme = match protocol.as_str() {
        "http:" => "ws",
        "https:" => "wss",
        _ => return None,
    };
    Some(format!("{scheme}://{host}/"))
}

/// A socket: Python's socket object. Made by `bridge.socket()` and `accept()`.
#[wasm_bindgen(js_name = Socket)]
pub struct JsSocket {
    sock: Socket,
    tracer: Tracer,
}

impl JsSocket {
    fn fd(&self) -> Option<i32> {
        Some(self.sock.fileno()).filter(|fd| *fd >= 0)
    }

    /// Runs an async socket method, traced.
    fn call<F, Fut>(&self, method: &'static str, a: Array, f: F) -> Promise
    where
        F: FnOnce(Socket, Tracer) -> Fut,
        Fut: Future<Output = Result<JsValue, Error>> + 'static,
    {
        let work = f(self.sock.clone(), self.tracer.clone());
        self.tracer.promise(method, self.fd(), a, async move { work.await.map_err(|e| js_error(&e)) })
    }
}

#[wasm_bindgen(js_class = Socket)]
impl JsSocket {
    /// The address family (`AF_INET`, `AF_INET6`, `AF_UNIX`).
    ///
    /// ```js
    /// s.family === AF_INET;
    /// ```
    #[wasm_bindgen(getter)]
    pub fn family(&self) -> i32 {
        self.sock.family()
    }

    /// The socket type (`SOCK_STREAM`, `SOCK_DGRAM`).
    ///
    /// ```js
    /// s.type === SOCK_STREAM;
    /// ```
    #[wasm_bindgen(getter, js_name = "type")]
    pub fn kind(&self) -> i32 {
        self.sock.kind()
    }

    /// The protocol given at creation.
    ///
    /// ```js
    /// s.proto;   // 0
    /// ```
    #[wasm_bindgen(getter)]
    pub fn proto(&self) -> i32 {
        self.sock.proto()
    }

    /// `fileno()`: the socket's number in this session, or -1 once closed.
    ///
    /// ```js
    /// console.log(s.fileno());   // 3
    /// ```
    pub fn fileno(&self) -> i32 {
        self.sock.fileno()
    }

    /// `gettimeout()`: seconds, `0` in non-blocking mode, or `null` (blocking).
    ///
    /// ```js
    /// s.settimeout(1.5);
    /// s.gettimeout();   // 1.5
    /// ```
    #[wasm_bindgen(unchecked_return_type = "number | null")]
    pub fn gettimeout(&self) -> JsValue {
        self.sock.gettimeout().map_or(JsValue::NULL, |t| JsValue::from(t.as_secs_f64()))
    }

    /// `getblocking()`: false only in non-blocking mode.
    ///
    /// ```js
    /// s.setblocking(false);
    /// s.getblocking();   // false
    /// ```
    pub fn getblocking(&self) -> bool {
        self.sock.getblocking()
    }

    /// `settimeout(seconds)`: `null` blocks, `0` is non-blocking, `t` makes waiting calls throw a
    /// `TimeoutError` after `t` seconds. Applies to calls made after it.
    ///
    /// ```js
    /// s.settimeout(2.5);
    /// try { await s.recv(1024); } catch (e) { if (e.name === "TimeoutError") console.log("nothing yet"); }
    /// ```
    pub fn settimeout(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number | null")] timeout: JsValue,
    ) -> Result<(), JsValue> {
        let a = args([timeout.clone()]);
        self.tracer
            .now("settimeout", self.fd(), a, || {
                let timeout = match timeout.as_f64() {
                    _ if timeout.is_null() => None,
                    Some(t) => Some(t),
                    None if timeout.is_undefined() => {
                        return Err(python_error("TypeError", "settimeout() takes exactly one argument (0 given)"));
                    }
                    None => {
                        let why =
                            format!("'{}' object cannot be interpreted as an integer or float", python_type(&timeout));
                        return Err(python_error("TypeError", &why));
                    }
                };
                self.sock.settimeout_secs(timeout).map(|()| JsValue::NULL).map_err(|e| js_error(&e))
            })
            .map(drop)
    }

    /// `setblocking(flag)`: `false` is `settimeout(0)`, `true` is `settimeout(null)`.
    ///
    /// ```js
    /// s.setblocking(false);
    /// try { await s.recv(10); } catch (e) { console.log(e.name); }   // BlockingIOError
    /// ```
    pub fn setblocking(&self, #[wasm_bindgen(unchecked_param_type = "boolean")] flag: JsValue) -> Result<(), JsValue> {
        self.tracer
            .now("setblocking", self.fd(), args([flag.clone()]), || {
                if flag.is_undefined() {
                    return Err(python_error("TypeError", "setblocking() takes exactly one argument (0 given)"));
                }
                // Any value, by its truth, as CPython's setblocking takes it.
                self.sock.setblocking(python_truth(&flag)).map(|()| JsValue::NULL).map_err(|e| js_error(&e))
            })
            .map(drop)
    }

    /// `bind(address)`: loopback addresses only; `""` means 127.0.0.1; port 0 picks a free one.
    ///
    /// ```js
    /// await server.bind(["127.0.0.1", 0]);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn bind(&self, #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue) -> Promise {
        let a = args([address.clone()]);
        match to_address(&address) {
            Ok(addr) => self.call("bind", a, |s, _| async move { s.bind(addr).await.map(|()| JsValue::UNDEFINED) }),
            Err(e) => self.tracer.promise("bind", self.fd(), a, std::future::ready(Err(e))),
        }
    }

    /// `listen(backlog?)`.
    ///
    /// ```js
    /// await server.listen(5);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn listen(&self, #[wasm_bindgen(unchecked_optional_param_type = "number")] backlog: JsValue) -> Promise {
        let a = args([backlog.clone()]);
        match opt_c_int_arg(&backlog) {
            Ok(backlog) => {
                self.call("listen", a, move |s, _| async move { s.listen(backlog).await.map(|()| JsValue::UNDEFINED) })
            }
            Err(e) => self.tracer.promise("listen", self.fd(), a, std::future::ready(Err(e))),
        }
    }

    /// `accept()`: resolves to `[socket, address]`.
    ///
    /// ```js
    /// const [conn, [host, port]] = await server.accept();
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<[Socket, Address]>")]
    pub fn accept(&self) -> Promise {
        self.call("accept", Array::new(), |s, tracer| async move {
            let (sock, addr) = s.accept().await?;
            Ok(args([JsSocket { sock, tracer }.into(), from_address(&addr)]).into())
        })
    }

    /// `connect(address)`.
    ///
    /// ```js
    /// await s.connect(["127.0.0.1", 9000]);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn connect(&self, #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue) -> Promise {
        let a = args([address.clone()]);
        match to_address(&address) {
            Ok(addr) => {
                self.call("connect", a, |s, _| async move { s.connect(addr).await.map(|()| JsValue::UNDEFINED) })
            }
            Err(e) => self.tracer.promise("connect", self.fd(), a, std::future::ready(Err(e))),
        }
    }

    /// `connect_ex(address)`: resolves to 0, or the errno (111 when refused) instead of throwing.
    ///
    /// ```js
    /// if (await s.connect_ex(["127.0.0.1", 9]) === ECONNREFUSED) console.log("nobody there");
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn connect_ex(&self, #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue) -> Promise {
        let a = args([address.clone()]);
        match to_address(&address) {
            Ok(addr) => self.call("connect_ex", a, |s, _| async move { s.connect_ex(addr).await.map(JsValue::from) }),
            Err(e) => self.tracer.promise("connect_ex", self.fd(), a, std::future::ready(Err(e))),
        }
    }

    /// `recv(bufsize, flags?)`: at most `bufsize` bytes; an empty array means the peer closed.
    ///
    /// ```js
    /// const data = await conn.recv(1024);
    /// if (data.length === 0) console.log("the other side closed");
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn recv(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] bufsize: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "number")] flags: JsValue,
    ) -> Promise {
        let a = args([bufsize.clone(), flags.clone()]);
        match to_bufsize(&bufsize, "recv").and_then(|n| Ok((n, opt_c_int_arg(&flags)?))) {
            Ok((n, flags)) => self.call("recv", a, move |s, _| async move {
                s.recv_flags(n, flags.unwrap_or(0)).await.map(|d| bytes_value(&d))
            }),
            Err(e) => self.tracer.promise("recv", self.fd(), a, std::future::ready(Err(e))),
        }
    }

    /// `recvfrom(bufsize, flags?)`: resolves to `[data, address]` (`address` null for an unnamed
    /// Unix sender).
    ///
    /// ```js
    /// const [data, [host, port]] = await udp.recvfrom(1500);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<[Uint8Array, Address | null]>")]
    pub fn recvfrom(
        &self,
        #[wasm_bindgen(unchecked_param_type = "number")] bufsize: JsValue,
        #[wasm_bindgen(unchecked_optional_param_type = "number")] flags: JsValue,
    ) -> Promise {
        let a = args([bufsize.clone(), flags.clone()]);
        match to_bufsize(&bufsize, "recvfrom").and_then(|n| Ok((n, opt_c_int_arg(&flags)?))) {
            Ok((n, flags)) => self.call("recvfrom", a, move |s, _| async move {
                let (data, addr) = s.recvfrom_flags(n, flags.unwrap_or(0)).await?;
                Ok(args([bytes_value(&data), addr.as_ref().map_or(JsValue::NULL, from_address)]).into())
            }),
            Err(e) => self.tracer.promise("recvfrom", self.fd(), a, std::future::ready(Err(e))),
        }
    }

    /// `send(data, flags?)`: resolves to how many bytes were sent, which may be fewer than given
    /// with a timeout, in non-blocking mode or with `MSG_DONTWAIT` (a blocking send sends it all,
    /// as Linux's does). A string is sent as its UTF-8 bytes.
    ///
    /// ```js
    /// let rest = bytes;
    /// while (rest.length) rest = rest.subarray(await s.send(rest));
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn send(&self, #[wasm_bindgen(unchecked_param_type = "Bytes")] data: JsValue, flags: Option<i32>) -> Promise {
        let a = args([data.clone(), flags.into()]);
        match to_bytes(&data) {
            Ok(bytes) => self.call("send", a, move |s, _| async move {
                s.send_flags(&bytes, flags.unwrap_or(0)).await.map(JsValue::from)
            }),
            Err(e) => self.tracer.promise("send", self.fd(), a, std::future::ready(Err(e))),
        }
    }

    /// `sendall(data)`: sends everything, or throws. A string is sent as its UTF-8 bytes.
    ///
    /// ```js
    /// await s.sendall(new Uint8Array([1, 2, 3]));
    /// await s.sendall("GET / HTTP/1.0\r\n\r\n");
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn sendall(&self, #[wasm_bindgen(unchecked_param_type = "Bytes")] data: JsValue) -> Promise {
        let a = args([data.clone()]);
        match to_bytes(&data) {
            Ok(bytes) => {
                self.call("sendall", a, move |s, _| async move { s.sendall(&bytes).await.map(|()| JsValue::UNDEFINED) })
            }
            Err(e) => self.tracer.promise("sendall", self.fd(), a, std::future::ready(Err(e))),
        }
    }

    /// `sendto(data, address)`: one datagram; resolves to the bytes sent.
    ///
    /// ```js
    /// await udp.sendto("ping", ["127.0.0.1", 9999]);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn sendto(
        &self,
        #[wasm_bindgen(unchecked_param_type = "Bytes")] data: JsValue,
        #[wasm_bindgen(unchecked_param_type = "Address")] address: JsValue,
    ) -> Promise {
        let a = args([data.clone(), address.clone()]);
        match to_bytes(&data).and_then(|bytes| Ok((bytes, to_address(&address)?))) {
            Ok((bytes, addr)) => {
                self.call("sendto", a, move |s, _| async move { s.sendto(&bytes, addr).await.map(JsValue::from) })
            }
            Err(e) => self.tracer.promise("sendto", self.fd(), a, std::future::ready(Err(e))),
        }
    }

    /// `shutdown(how)`: `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`.
    ///
    /// ```js
    /// await client.shutdown(SHUT_WR);   // the peer reads EOF; we can still recv
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn shutdown(&self, #[wasm_bindgen(unchecked_param_type = "number")] how: JsValue) -> Promise {
        let a = args([how.clone()]);
        match c_int_arg(&how) {
            Ok(how) => {
                self.call("shutdown", a, move |s, _| async move { s.shutdown(how).await.map(|()| JsValue::UNDEFINED) })
            }
            Err(e) => self.tracer.promise("shutdown", self.fd(), a, std::future::ready(Err(e))),
        }
    }

    /// `close()`: calls waiting on the socket throw `OSError` (`EBADF`); closing twice is harmless.
    ///
    /// ```js
    /// await s.close();
    /// s.fileno();   // -1
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        self.call("close", Array::new(), |s, _| async move { s.close().await.map(|()| JsValue::UNDEFINED) })
    }

    /// `getsockname()`: the socket's own address.
    ///
    /// ```js
    /// const [host, port] = await server.getsockname();
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<Address>")]
    pub fn getsockname(&self) -> Promise {
        self.call("getsockname", Array::new(), |s, _| async move { s.getsockname().await.map(|a| from_address(&a)) })
    }

    /// `getpeername()`: the connected peer's address.
    ///
    /// ```js
    /// const [host, port] = await conn.getpeername();
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<Address>")]
    pub fn getpeername(&self) -> Promise {
        self.call("getpeername", Array::new(), |s, _| async move { s.getpeername().await.map(|a| from_address(&a)) })
    }

    /// `setsockopt(level, optname, value)`: a number or boolean, or a Uint8Array for a C struct.
    ///
    /// ```js
    /// await server.setsockopt(SOL_SOCKET, SO_REUSEADDR, true);
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn setsockopt(
        &self,
        level: i32,
        optname: i32,
        #[wasm_bindgen(unchecked_param_type = "number | boolean | Uint8Array")] value: JsValue,
    ) -> Promise {
        let a = args([level.into(), optname.into(), value.clone()]);
        let value = if let Some(b) = value.as_bool() {
            Ok(OptValue::from(b))
        } else if let Some(n) = value.as_f64().filter(|n| n.fract() == 0.0) {
            Ok(OptValue::Int(n as i64))
        } else if let Some(bytes) = value.dyn_ref::<Uint8Array>() {
            Ok(OptValue::from(bytes.to_vec()))
        } else {
            Err(python_error("TypeError", "an option value is an integer, a boolean or a Uint8Array"))
        };
        match value {
            Ok(v) => self.call("setsockopt", a, move |s, _| async move {
                s.setsockopt(level, optname, v).await.map(|()| JsValue::UNDEFINED)
            }),
            Err(e) => self.tracer.promise("setsockopt", self.fd(), a, std::future::ready(Err(e))),
        }
    }

    /// `getsockopt(level, optname, buflen?)`: a number, or with `buflen` a Uint8Array.
    ///
    /// ```js
    /// await s.getsockopt(SOL_SOCKET, SO_TYPE);   // SOCK_STREAM
    /// await s.getsockopt(SOL_SOCKET, SO_ERROR);  // 0, or the errno of a failed non-blocking connect
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<number | Uint8Array>")]
    pub fn getsockopt(&self, level: i32, optname: i32, buflen: Option<u32>) -> Promise {
        let a = args([level.into(), optname.into(), buflen.into()]);
        self.call("getsockopt", a, move |s, _| async move {
            match buflen.filter(|n| *n > 0) {
                Some(n) => s.getsockopt_bytes(level, optname, n).await.map(|b| bytes_value(&b)),
                None => s.getsockopt(level, optname).await.map(|v| JsValue::from(v as f64)),
            }
        })
    }

    /// `makefile()`: a buffered file over the socket, as Python's `makefile('rwb')`: `read`,
    /// `readline`, `write`, `flush` and `close`, on bytes.
    ///
    /// ```js
    /// const f = conn.makefile();
    /// const line = new TextDecoder().decode(await f.readline());
    /// ```
    #[wasm_bindgen(unchecked_return_type = "SocketFile")]
    pub fn makefile(&self) -> Result<JsValue, JsValue> {
        let fd = self.fd();
        self.tracer.now("makefile", fd, Array::new(), || {
            let file = self.sock.makefile().map_err(|e| js_error(&e))?;
            let tracer = self.tracer.for_file();
            Ok(JsSocketFile { file: Rc::new(tokio::sync::Mutex::new(file)), fd: fd.unwrap_or(-1), tracer })
        })
    }
}

/// A buffered file over a socket: what `socket.makefile()` returns.
#[wasm_bindgen(js_name = SocketFile)]
pub struct JsSocketFile {
    file: Rc<tokio::sync::Mutex<SocketFile>>,
    fd: i32,
    tracer: Tracer,
}

impl JsSocketFile {
    fn call<F, Fut>(&self, method: &'static str, a: Array, f: F) -> Promise
    where
        F: FnOnce(Rc<tokio::sync::Mutex<SocketFile>>) -> Fut,
        Fut: Future<Output = Result<JsValue, Error>> + 'static,
    {
        let work = f(Rc::clone(&self.file));
        let fd = Some(self.fd).filter(|fd| *fd >= 0);
        self.tracer.promise(method, fd, a, async move { work.await.map_err(|e| js_error(&e)) })
    }
}

#[wasm_bindgen(js_class = SocketFile)]
impl JsSocketFile {
    /// `read(n?)`: `n` bytes (fewer only at EOF); without `n`, everything up to EOF.
    ///
    /// ```js
    /// const header = await f.read(4);
    /// const rest = await f.read();
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn read(&self, n: Option<f64>) -> Promise {
        let a = args([n.into()]);
        self.call("read", a, move |f| async move {
            let mut f = f.lock().await;
            match n.filter(|n| *n >= 0.0) {
                Some(n) => f.read(n as usize).await.map(|d| bytes_value(&d)),
                None => f.read_all().await.map(|d| bytes_value(&d)),
            }
        })
    }

    /// `readline()`: up to and including the next `\n`; at EOF what is left, then an empty array.
    ///
    /// ```js
    /// const line = await f.readline();
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<Uint8Array>")]
    pub fn readline(&self) -> Promise {
        self.call("readline", Array::new(), |f| async move { f.lock().await.readline().await.map(|d| bytes_value(&d)) })
    }

    /// `write(data)`: buffers the bytes (a string as UTF-8); resolves to their count.
    ///
    /// ```js
    /// await f.write("250 OK\r\n");
    /// await f.flush();
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<number>")]
    pub fn write(&self, #[wasm_bindgen(unchecked_param_type = "Bytes")] data: JsValue) -> Promise {
        let a = args([data.clone()]);
        match to_bytes(&data) {
            Ok(bytes) => self.call("write", a, move |f| async move {
                f.lock().await.write(&bytes).await.map(|n| JsValue::from(n as f64))
            }),
            Err(e) => self.tracer.promise("write", Some(self.fd), a, std::future::ready(Err(e))),
        }
    }

    /// `flush()`: sends what is buffered.
    ///
    /// ```js
    /// await f.flush();
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn flush(&self) -> Promise {
        self.call("flush", Array::new(), |f| async move { f.lock().await.flush().await.map(|()| JsValue::UNDEFINED) })
    }

    /// `close()`: flushes; closes the socket too if its `close()` was called.
    ///
    /// ```js
    /// await f.close();
    /// ```
    #[wasm_bindgen(unchecked_return_type = "Promise<void>")]
    pub fn close(&self) -> Promise {
        self.call("close", Array::new(), |f| async move { f.lock().await.close().await.map(|()| JsValue::UNDEFINED) })
    }
}

/// Whether `error` is an `OSError` in Python's hierarchy (every error of a socket call is, except
/// `ValueError`, `TypeError` and `OverflowError` for bad arguments).
///
/// ```js
/// try { await s.connect(addr); } catch (e) { if (isOSError(e)) console.log(e.code); else throw e; }
/// ```
#[wasm_bindgen(js_name = isOSError)]
pub fn is_os_error(error: &JsValue) -> bool {
    is_instance(error, "OSError")
}

/// Python's `isinstance(error, cls)` by class name: `isinstance(e, "ConnectionError")` is true for
/// a `ConnectionRefusedError`.
///
/// ```js
/// catch (e) { if (isinstance(e, "ConnectionError")) retryLater(); }
/// ```
#[wasm_bindgen(js_name = isinstance)]
pub fn is_instance(error: &JsValue, class: &str) -> bool {
    Reflect::get(error, &JsValue::from_str("name"))
        .ok()
        .and_then(|n| n.as_string())
        .is_some_and(|name| bridge_protocol::errno::is_subclass(&name, class))
}
