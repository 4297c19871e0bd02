//! The two codecs, chosen per session by WebSocket subprotocol: the same JSON-RPC messages as JSON
//! text frames ([`json`], `sockbridge.v1`, the default) or as MessagePack binary frames
//! ([`msgpack`], `sockbridge.v1.msgpack`, bytes as they are instead of base64).
//!
//! ```
//! use bridge_protocol::codec::{Codec, Frame};
//! use bridge_protocol::{Id, Method, params::FdParams};
//!
//! let offer = ["sockbridge.v1", "sockbridge.v1.msgpack"];
//! let codec = Codec::pick(|name| offer.contains(&name)).unwrap();
//! assert_eq!(codec, Codec::Msgpack);
//! let frame = codec.encode_request(Some(&Id::Num(1)), Method::Close, &FdParams { fd: 3 });
//! assert!(matches!(frame, Frame::Binary(_)));
//! let request = codec.decode_request(frame.as_ref()).unwrap();
//! assert_eq!(request.id, Some(Id::Num(1)));
//! ```

use crate::message::{ErrorObject, Id};
use crate::method::{Call, Method};
use crate::tree::{self, Value};
use crate::{json, msgpack};
use serde::Serialize;
use serde::de::DeserializeOwned;
use std::borrow::Cow;

/// The envelopes both codecs write: JSON-RPC 2.0's members, in this order.
#[derive(Serialize)]
pub(crate) struct OutRequest<'a, P> {
    pub(crate) jsonrpc: &'static str,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) id: Option<&'a Id>,
    pub(crate) method: &'static str,
    pub(crate) params: &'a P,
}

/// A successful response's envelope.
#[derive(Serialize)]
pub(crate) struct OutResult<'a, R> {
    pub(crate) jsonrpc: &'static str,
    pub(crate) id: &'a Id,
    pub(crate) result: &'a R,
}

/// JSON-RPC's version, in every message.
pub(crate) const VERSION: &str = "2.0";

/// An error response's envelope.
#[derive(Serialize)]
pub(crate) struct OutError<'a> {
    pub(crate) jsonrpc: &'static str,
    pub(crate) id: Option<&'a Id>,
    pub(crate) error: &'a ErrorObject,
}

/// The JSON codec's subprotocol.
pub const SUBPROTOCOL_JSON: &str = crate::SUBPROTOCOL;

/// The MessagePack codec's subprotocol.
pub const SUBPROTOCOL_MSGPACK: &str = "sockbridge.v1.msgpack";

/// How a session's messages are encoded.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash)]
pub enum Codec {
    /// JSON in text frames: readable in the browser's network panel, what the teaching pages show.
    #[default]
    Json,
    /// MessagePack in binary frames: bytes travel as they are.
    Msgpack,
}

/// One WebSocket message's payload.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Frame {
    /// A text frame (the JSON codec).
    Text(String),
    /// A binary frame (the MessagePack codec).
    Binary(Vec<u8>),
}

/// A received WebSocket message's payload, borrowed.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum FrameRef<'a> {
    /// A text frame.
    Text(&'a str),
    /// A binary frame.
    Binary(&'a [u8]),
}

impl FrameRef<'_> {
    /// Its length in bytes.
    pub fn len(self) -> usize {
        match self {
            FrameRef::Text(t) => t.len(),
            FrameRef::Binary(b) => b.len(),
        }
    }

    /// Whether it is empty.
    pub fn is_empty(self) -> bool {
        self.len() == 0
    }
}

impl Frame {
    /// Borrows it, for decoding.
    pub fn as_ref(&self) -> FrameRef<'_> {
        match self {
            Frame::Text(t) => FrameRef::Text(t),
            Frame::Binary(b) => FrameRef::Binary(b),
        }
    }

    /// Its length in bytes.
    pub fn len(&self) -> usize {
        match self {
            Frame::Text(t) => t.len(),
            Frame::Binary(b) => b.len(),
        }
    }

    /// Whether it is empty.
    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }
}

/// A request that could not be decoded: the error to send back, and the request's id when it could
/// be read (`None` means the response carries a null id).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct RequestError {
    /// The request's id, if one was readable.
    pub id: Option<Id>,
    /// The error to answer with.
    pub error: ErrorObject,
}

/// A decoded request. `id` is `None` for a notification (no `id` member), which gets no response.
#[derive(Clone, Debug, PartialEq)]
pub struct Request {
    /// The id to echo, or `None` for a notification.
    pub id: Option<Id>,
    /// The method and params.
    pub call: Call,
}

/// Why a response could not be decoded.
#[derive(Debug, thiserror::Error)]
pub enum ResponseError {
    /// Not a JSON-RPC 2.0 response in the session's codec.
    #[error("malformed response from the daemon")]
    Malformed,
    /// The result did not have the type the method returns.
    #[error("the daemon's result for '{0}' has the wrong type")]
    WrongResultType(Method),
}

/// A result, read into a [`tree`], to be decoded as the type its method returns.
#[derive(Clone, Debug)]
pub struct Body<'a> {
    value: Value<'a>,
    human: bool,
}

impl<'a> Body<'a> {
    /// Decodes the result of `method`.
    pub fn decode<R: DeserializeOwned>(&self, method: Method) -> Result<R, ResponseError> {
        tree::deserialize(&self.value, self.human).map_err(|_| ResponseError::WrongResultType(method))
    }

    /// The result as a tree, for a caller that takes any value.
    pub fn into_value(self) -> Value<'a> {
        self.value
    }
}

/// A decoded response: the id and either the encoded result or the error.
#[derive(Debug)]
pub struct Response<'a> {
    /// The id of the request answered (`None` for errors about unreadable requests).
    pub id: Option<Id>,
    /// The encoded result, or the error.
    pub outcome: Result<Body<'a>, ErrorObject>,
}

impl Codec {
    /// Its subprotocol name.
    pub fn subprotocol(self) -> &'static str {
        match self {
            Codec::Json => SUBPROTOCOL_JSON,
            Codec::Msgpack => SUBPROTOCOL_MSGPACK,
        }
    }

    /// Every codec, the preferred first: MessagePack, then JSON. A client offers them in this order;
    /// a daemon takes the first of them the client offered.
    pub const PREFERRED: [Codec; 2] = [Codec::Msgpack, Codec::Json];

    /// The codec a server picks, given whether the client offered a subprotocol: the first of
    /// [`Codec::PREFERRED`] offered, else none.
    pub fn pick(offered: impl Fn(&str) -> bool) -> Option<Codec> {
        Codec::PREFERRED.into_iter().find(|c| offered(c.subprotocol()))
    }

    /// The codec a server agreed to, from its `Sec-WebSocket-Protocol` answer.
    pub fn from_subprotocol(name: &str) -> Option<Codec> {
        Codec::PREFERRED.into_iter().find(|c| c.subprotocol() == name)
    }

    /// Encodes a request (or, with no id, a notification).
    pub fn encode_request<P: Serialize + 'static>(self, id: Option<&Id>, method: Method, params: &P) -> Frame {
        match self {
            Codec::Json => Frame::Text(json::encode_request(id, method, params)),
            Codec::Msgpack => Frame::Binary(msgpack::encode_request(id, method, params)),
        }
    }

    /// Encodes a request whose params are already a tree ([`tree::to_value`]): the same bytes as
    /// [`Codec::encode_request`], written by code that every params type shares (the browser's
    /// client encodes this way, to stay small).
    pub fn encode_tree_request(self, id: Option<&Id>, method: Method, params: &Value<'_>) -> Frame {
        let id = id.map(|id| match id {
            Id::Num(n) => Value::UInt(*n),
            Id::Str(s) => Value::Str(Cow::Borrowed(s)),
        });
        match self {
            Codec::Json => {
                let mut out = String::with_capacity(64 + tree::encoded_len(params, true));
                out.push_str(r#"{"jsonrpc":"2.0","#);
                if let Some(id) = &id {
                    out.push_str(r#""id":"#);
                    tree::write_json(id, &mut out);
                    out.push(',');
                }
                out.push_str(r#""method":"#);
                tree::write_json_string(method.name(), &mut out);
                out.push_str(r#","params":"#);
                tree::write_json(params, &mut out);
                out.push('}');
                Frame::Text(out)
            }
            Codec::Msgpack => {
                let mut out = Vec::with_capacity(64 + tree::encoded_len(params, false));
                tree::msgpack_map_head(&mut out, 3 + usize::from(id.is_some()));
                tree::msgpack_str(&mut out, "jsonrpc");
                tree::msgpack_str(&mut out, VERSION);
                if let Some(id) = &id {
                    tree::msgpack_str(&mut out, "id");
                    tree::write_msgpack(id, &mut out);
                }
                tree::msgpack_str(&mut out, "method");
                tree::msgpack_str(&mut out, method.name());
                tree::msgpack_str(&mut out, "params");
                tree::write_msgpack(params, &mut out);
                Frame::Binary(out)
            }
        }
    }

    /// Encodes a successful response.
    pub fn encode_result<R: Serialize + 'static>(self, id: &Id, result: &R) -> Frame {
        match self {
            Codec::Json => Frame::Text(json::encode_result(id, result)),
            Codec::Msgpack => Frame::Binary(msgpack::encode_result(id, result)),
        }
    }

    /// Encodes an error response.
    pub fn encode_error(self, id: Option<&Id>, error: &ErrorObject) -> Frame {
        match self {
            Codec::Json => Frame::Text(json::encode_error(id, error)),
            Codec::Msgpack => Frame::Binary(msgpack::encode_error(id, error)),
        }
    }

    /// Decodes a request; a frame of the other kind is a `-32600` error naming the session's codec.
    pub fn decode_request(self, frame: FrameRef<'_>) -> Result<Request, RequestError> {
        match (self, frame) {
            (Codec::Json, FrameRef::Text(text)) => json::decode_request(text),
            (Codec::Msgpack, FrameRef::Binary(bytes)) => msgpack::decode_request(bytes),
            (Codec::Json, FrameRef::Binary(_)) => {
                Err(wrong_frame("binary frames are not used by this session's codec (JSON): send text"))
            }
            (Codec::Msgpack, FrameRef::Text(_)) => {
                Err(wrong_frame("text frames are not used by this session's codec (MessagePack): send binary"))
            }
        }
    }

    /// Decodes a response (the client side): one reader for both codecs ([`tree`]).
    pub fn decode_response(self, frame: FrameRef<'_>) -> Result<Response<'_>, ResponseError> {
        let value = match (self, frame) {
            (Codec::Json, FrameRef::Text(text)) => tree::parse_json(text),
            (Codec::Msgpack, FrameRef::Binary(bytes)) => tree::parse_msgpack(bytes),
            _ => None,
        };
        let Some(Value::Map(members)) = value else { return Err(ResponseError::Malformed) };
        let human = self == Codec::Json;
        let (mut version_ok, mut id, mut result, mut error) = (false, None, None, None);
        for (key, value) in members {
            match key.as_ref() {
                "jsonrpc" => version_ok = matches!(&value, Value::Str(v) if v == VERSION),
                "id" => {
                    id = match value {
                        Value::Nil => None,
                        Value::UInt(n) => Some(Id::Num(n)),
                        Value::Str(s) => Some(Id::Str(s.into_owned())),
                        _ => return Err(ResponseError::Malformed),
                    }
                }
                "result" => result = Some(value),
                "error" => {
                    error = Some(tree::deserialize::<ErrorObject>(&value, human).map_err(|_| ResponseError::Malformed)?)
                }
                _ => {}
            }
        }
        if !version_ok {
            return Err(ResponseError::Malformed);
        }
        let outcome = match error {
            Some(error) => Err(error),
            // A null or absent result is the unit result.
            None => Ok(Body { value: result.unwrap_or(Value::Nil), human }),
        };
        Ok(Response { id, outcome })
    }
}

fn wrong_frame(message: &str) -> RequestError {
    RequestError { id: None, error: ErrorObject::new(crate::code::INVALID_REQUEST, message) }
}
