//! The params and results of every method. Field names are Python's parameter names.
//!
//! Params are always a JSON object (named parameters); unknown fields are refused, so a typo is an
//! error, not a silently ignored argument.

use crate::address::Address;
use crate::constants::{AF_INET, SOCK_STREAM};
use crate::payload::Payload;
use serde::de::{self, Visitor};
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;

pub use crate::network::*;

/// A socket handle: a small per-session integer, from 3 up, as a fresh process's fds are.
pub type Fd = i32;

/// Params of `hello`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HelloParams {
    /// The client's name and version, for the daemon's log.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub client: Option<String>,
}

/// Result of `hello`: what this daemon speaks and allows.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct HelloResult {
    /// The subprotocol, `"sockbridge.v1"`.
    pub protocol: String,
    /// The protocol version number, 1.
    pub protocol_version: u32,
    /// The daemon's name and version, e.g. `"bridge-daemon 0.1.0"`.
    pub daemon: String,
    /// The session's limits.
    pub limits: Limits,
    /// Optional features this daemon has: `"unix"` when AF_UNIX sockets are available.
    pub features: Vec<String>,
    /// The lab services the daemon runs for lessons, by name (`"echo_tcp"`, `"daytime_udp"`, ...):
    /// classic loopback services a page can talk to with no set-up. Absent when there are none.
    #[serde(default, skip_serializing_if = "std::collections::BTreeMap::is_empty")]
    pub labs: std::collections::BTreeMap<String, Address>,
    /// The session's network: private (hosts of its own) or shared (the daemon computer's
    /// loopback). Absent from daemons before private networks, which are shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub network: Option<NetworkInfo>,
}

/// The limits a session works within, reported by `hello`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Limits {
    /// The largest message, in bytes, that the daemon accepts; a larger one up to twice this size
    /// gets a `LIMIT_EXCEEDED` error, and anything larger closes the session (close code 1009).
    pub max_message_bytes: usize,
    /// The most data one `send`, `sendall` or `sendto` may carry, and the most one `recv` or
    /// `recvfrom` returns (a larger `bufsize` is clamped: `recv` may always return less).
    pub max_payload_bytes: usize,
    /// How many requests of blocking methods (see `Method::may_block`) may be outstanding at once.
    pub max_inflight: usize,
    /// How many bytes of such requests (their JSON text) may be outstanding at once; 0 from a
    /// daemon that does not say.
    #[serde(default)]
    pub max_inflight_bytes: usize,
    /// How many sockets a session may hold open; one more is `EMFILE`.
    pub max_sockets: usize,
}

/// Params of `socket`: Python's `socket(family=AF_INET, type=SOCK_STREAM, proto=0)`.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SocketParams {
    /// `AF_INET`, `AF_INET6` or `AF_UNIX`.
    #[serde(default = "default_family")]
    pub family: i32,
    /// `SOCK_STREAM` or `SOCK_DGRAM`, optionally or'd with `SOCK_NONBLOCK`.
    #[serde(rename = "type", default = "default_type")]
    pub kind: i32,
    /// The protocol, usually 0.
    #[serde(default)]
    pub proto: i32,
    /// The host of the session's private network to make it on; absent for the first host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

fn default_family() -> i32 {
    AF_INET
}

fn default_type() -> i32 {
    SOCK_STREAM
}

impl Default for SocketParams {
    fn default() -> Self {
        SocketParams { family: AF_INET, kind: SOCK_STREAM, proto: 0, host: None }
    }
}

/// Params naming just a socket: `close`, `accept`, `getsockname`, `getpeername`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct FdParams {
    /// The socket.
    pub fd: Fd,
}

/// Params of `bind` and `connect`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct AddressParams {
    /// The socket.
    pub fd: Fd,
    /// The address to bind to or connect to.
    pub address: Address,
}

/// Params of `listen`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ListenParams {
    /// The socket.
    pub fd: Fd,
    /// The backlog; absent means Python's default, `min(SOMAXCONN, 128)`. The daemon clamps it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub backlog: Option<i32>,
}

/// Result of `accept`: the new socket and the peer's address.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AcceptResult {
    /// The connected socket's handle.
    pub fd: Fd,
    /// The peer's address.
    pub address: Address,
}

/// The most `recv`s sent ahead (`ahead: true`) a socket may have queued or waiting at once.
pub const MAX_RECV_AHEAD: usize = 4;

/// Params of `recv` and `recvfrom`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct RecvParams {
    /// The socket.
    pub fd: Fd,
    /// The most bytes to return (clamped to `max_payload_bytes`).
    pub bufsize: u64,
    /// `MSG_PEEK`, `MSG_WAITALL`, `MSG_DONTWAIT`, or 0.
    #[serde(default)]
    pub flags: i32,
    /// A `recv` sent ahead, before the page asked for it: it waits as a blocking `recv` does, but
    /// gives way (fails with `EAGAIN`, having read nothing) when a later request names its socket,
    /// other than `send`, `sendall` or `sendto`. At most [`MAX_RECV_AHEAD`] per socket. `recv`
    /// only; the client reads ahead this way on blocking stream sockets (see `docs/protocol.md`).
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub ahead: bool,
}

/// Result of `recvfrom`: Python's `(data, address)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct RecvfromResult {
    /// The datagram (or stream bytes).
    pub data: Payload,
    /// The sender; `null` for an unnamed Unix socket, as Python's `None`.
    pub address: Option<Address>,
}

/// Params of `send` and `sendall`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendParams {
    /// The socket.
    pub fd: Fd,
    /// The bytes (at most `max_payload_bytes`).
    pub data: Payload,
    /// `MSG_DONTWAIT`, or 0.
    #[serde(default)]
    pub flags: i32,
}

impl SendParams {
    /// The params as [`tree::to_value`](crate::tree::to_value) gives them, but borrowing the bytes
    /// rather than copying them: how the client sends a stream's bytes.
    pub fn as_tree(&self) -> crate::tree::Value<'_> {
        use crate::tree::Value;
        use std::borrow::Cow;
        let int = |n: i32| u64::try_from(n).map_or(Value::Int(i64::from(n)), Value::UInt);
        Value::Map(vec![
            (Cow::Borrowed("fd"), int(self.fd)),
            (Cow::Borrowed("data"), Value::Bin(Cow::Borrowed(self.data.as_bytes()))),
            (Cow::Borrowed("flags"), int(self.flags)),
        ])
    }
}

/// Params of `sendto`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SendtoParams {
    /// The socket.
    pub fd: Fd,
    /// The datagram (at most `max_payload_bytes`).
    pub data: Payload,
    /// The destination.
    pub address: Address,
    /// `MSG_DONTWAIT`, or 0.
    #[serde(default)]
    pub flags: i32,
}

/// Params of `shutdown`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct ShutdownParams {
    /// The socket.
    pub fd: Fd,
    /// `SHUT_RD`, `SHUT_WR` or `SHUT_RDWR`.
    pub how: i32,
}

/// A socket option's value: an integer (Python passes `True` as 1) or raw bytes (`struct linger`).
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum OptValue {
    /// An `int` option value. JSON `true`/`false` read as 1/0.
    Int(i64),
    /// A raw option buffer (base64 on the wire).
    Bytes(Payload),
}

impl From<i32> for OptValue {
    fn from(v: i32) -> Self {
        OptValue::Int(i64::from(v))
    }
}

impl From<i64> for OptValue {
    fn from(v: i64) -> Self {
        OptValue::Int(v)
    }
}

impl From<bool> for OptValue {
    /// `True` is 1, as Python passes it.
    fn from(v: bool) -> Self {
        OptValue::Int(i64::from(v))
    }
}

impl From<&[u8]> for OptValue {
    fn from(v: &[u8]) -> Self {
        OptValue::Bytes(Payload(v.to_vec()))
    }
}

impl From<Vec<u8>> for OptValue {
    fn from(v: Vec<u8>) -> Self {
        OptValue::Bytes(Payload(v))
    }
}

impl Serialize for OptValue {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            OptValue::Int(v) => serializer.serialize_i64(*v),
            OptValue::Bytes(p) => p.serialize(serializer),
        }
    }
}

impl<'de> Deserialize<'de> for OptValue {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct OptVisitor;

        impl<'de> Visitor<'de> for OptVisitor {
            type Value = OptValue;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an integer, a boolean, or bytes as base64")
            }

            fn visit_bool<E: de::Error>(self, v: bool) -> Result<OptValue, E> {
                Ok(OptValue::Int(i64::from(v)))
            }

            fn visit_i64<E: de::Error>(self, v: i64) -> Result<OptValue, E> {
                Ok(OptValue::Int(v))
            }

            fn visit_u64<E: de::Error>(self, v: u64) -> Result<OptValue, E> {
                i64::try_from(v).map(OptValue::Int).map_err(|_| E::custom("option value out of range"))
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<OptValue, E> {
                Payload::deserialize(de::value::StrDeserializer::<E>::new(v)).map(OptValue::Bytes)
            }

            fn visit_bytes<E: de::Error>(self, v: &[u8]) -> Result<OptValue, E> {
                Ok(OptValue::Bytes(Payload(v.to_vec())))
            }
        }

        deserializer.deserialize_any(OptVisitor)
    }
}

/// Params of `setsockopt`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetsockoptParams {
    /// The socket.
    pub fd: Fd,
    /// `SOL_SOCKET`, `IPPROTO_TCP`, `IPPROTO_IP` or `IPPROTO_IPV6`.
    pub level: i32,
    /// The option, e.g. `SO_REUSEADDR`.
    pub optname: i32,
    /// The value.
    pub value: OptValue,
}

/// Params of `getsockopt`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetsockoptParams {
    /// The socket.
    pub fd: Fd,
    /// The option level.
    pub level: i32,
    /// The option.
    pub optname: i32,
    /// Absent or 0: the value is an integer. 1 to 1024: the raw bytes, at most this many.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub buflen: Option<u32>,
}

/// Params of `settimeout`.
#[derive(Clone, Copy, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SettimeoutParams {
    /// The socket.
    pub fd: Fd,
    /// Seconds; `null` blocks without limit, `0` is non-blocking mode.
    pub timeout: Option<f64>,
}

/// Params of `setblocking`.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetblockingParams {
    /// The socket.
    pub fd: Fd,
    /// `true`: `settimeout(None)`; `false`: `settimeout(0.0)`.
    pub flag: bool,
}

/// A port for `getaddrinfo`: a number or a service name (`"http"`).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Service {
    /// A port number.
    Port(u16),
    /// A service name or a port in decimal.
    Name(String),
}

/// Params of `getaddrinfo`, as Python's `getaddrinfo(host, port, family=0, type=0, proto=0, flags=0)`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GetaddrinfoParams {
    /// A host name or IP literal; `null` for the loopback or (with `AI_PASSIVE`) wildcard address.
    pub host: Option<String>,
    /// A port or service name; `null` for none.
    pub port: Option<Service>,
    /// An address family, or 0 for any.
    #[serde(default)]
    pub family: i32,
    /// A socket type, or 0 for any.
    #[serde(rename = "type", default)]
    pub kind: i32,
    /// A protocol, or 0 for any.
    #[serde(default)]
    pub proto: i32,
    /// `AI_*` flags.
    #[serde(default)]
    pub flags: i32,
}

/// One `getaddrinfo` result: Python's `(family, type, proto, canonname, sockaddr)`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct AddrInfo {
    /// The address family.
    pub family: i32,
    /// The socket type.
    #[serde(rename = "type")]
    pub kind: i32,
    /// The protocol.
    pub proto: i32,
    /// The canonical name (with `AI_CANONNAME`), else `""`.
    pub canonname: String,
    /// The address.
    pub address: Address,
}

/// Params of `gethostbyname`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct GethostbynameParams {
    /// A host name.
    pub hostname: String,
}

/// Params of methods that take none (`gethostname`).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NoParams {}

/// Params of `select`, as Python's `select.select(rlist, wlist, xlist, timeout=None)`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SelectParams {
    /// Sockets to watch for reading (data, EOF, a pending connection).
    #[serde(default)]
    pub rlist: Vec<Fd>,
    /// Sockets to watch for writing (room to send, a finished non-blocking connect).
    #[serde(default)]
    pub wlist: Vec<Fd>,
    /// Sockets to watch for exceptional conditions (out-of-band data).
    #[serde(default)]
    pub xlist: Vec<Fd>,
    /// Seconds to wait; `null` waits without limit, 0 polls.
    #[serde(default)]
    pub timeout: Option<f64>,
}

/// Result of `select`: the ready subsets, in the order given.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct SelectResult {
    /// Ready for reading.
    pub rlist: Vec<Fd>,
    /// Ready for writing.
    pub wlist: Vec<Fd>,
    /// With an exceptional condition.
    pub xlist: Vec<Fd>,
}
