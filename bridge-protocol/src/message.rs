//! JSON-RPC 2.0 envelopes: request ids, the error object and its codes.

use crate::errno::OsError;
use serde::{Deserialize, Serialize};
use std::fmt;

/// The JSON-RPC error codes the daemon sends. Codes from -32768 to -32000 are JSON-RPC's; the
/// bridge uses -32000 for OS errors and -32001 for its own limits.
pub mod code {
    /// The message is not valid JSON.
    pub const PARSE_ERROR: i32 = -32700;
    /// Valid JSON, but not a JSON-RPC request (wrong shape, batch, or too large).
    pub const INVALID_REQUEST: i32 = -32600;
    /// No such method.
    pub const METHOD_NOT_FOUND: i32 = -32601;
    /// The params do not fit the method.
    pub const INVALID_PARAMS: i32 = -32602;
    /// A bug in the daemon.
    pub const INTERNAL_ERROR: i32 = -32603;
    /// The operation failed as the OS call would: `data` is an [`OsError`](crate::OsError).
    pub const OS_ERROR: i32 = -32000;
    /// A session limit was hit: too many requests in flight, or a message too large.
    pub const LIMIT_EXCEEDED: i32 = -32001;
}

/// An error code, with a catch-all so an old client survives a new daemon's codes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum ErrorCode {
    /// [`code::PARSE_ERROR`]
    ParseError,
    /// [`code::INVALID_REQUEST`]
    InvalidRequest,
    /// [`code::METHOD_NOT_FOUND`]
    MethodNotFound,
    /// [`code::INVALID_PARAMS`]
    InvalidParams,
    /// [`code::INTERNAL_ERROR`]
    InternalError,
    /// [`code::OS_ERROR`]
    OsError,
    /// [`code::LIMIT_EXCEEDED`]
    LimitExceeded,
    /// Any other code.
    Other(i32),
}

impl From<i32> for ErrorCode {
    fn from(c: i32) -> Self {
        match c {
            code::PARSE_ERROR => ErrorCode::ParseError,
            code::INVALID_REQUEST => ErrorCode::InvalidRequest,
            code::METHOD_NOT_FOUND => ErrorCode::MethodNotFound,
            code::INVALID_PARAMS => ErrorCode::InvalidParams,
            code::INTERNAL_ERROR => ErrorCode::InternalError,
            code::OS_ERROR => ErrorCode::OsError,
            code::LIMIT_EXCEEDED => ErrorCode::LimitExceeded,
            other => ErrorCode::Other(other),
        }
    }
}

impl From<ErrorCode> for i32 {
    fn from(c: ErrorCode) -> i32 {
        match c {
            ErrorCode::ParseError => code::PARSE_ERROR,
            ErrorCode::InvalidRequest => code::INVALID_REQUEST,
            ErrorCode::MethodNotFound => code::METHOD_NOT_FOUND,
            ErrorCode::InvalidParams => code::INVALID_PARAMS,
            ErrorCode::InternalError => code::INTERNAL_ERROR,
            ErrorCode::OsError => code::OS_ERROR,
            ErrorCode::LimitExceeded => code::LIMIT_EXCEEDED,
            ErrorCode::Other(c) => c,
        }
    }
}

/// A request id: the client's number (or string), echoed in the response.
#[derive(Clone, Debug, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[serde(untagged)]
pub enum Id {
    /// A number (the native and browser clients count from 1).
    Num(u64),
    /// A string.
    Str(String),
}

impl fmt::Display for Id {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Id::Num(n) => write!(f, "{n}"),
            Id::Str(s) => write!(f, "{s:?}"),
        }
    }
}

/// The `error` member of a response.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct ErrorObject {
    /// The code; see [`code`].
    pub code: i32,
    /// A one-line message: Python's `str(exc)` for OS errors.
    pub message: String,
    /// For [`code::OS_ERROR`]: the OS error's class, errno and text.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub data: Option<OsError>,
}

impl ErrorObject {
    /// A protocol-level error with no data.
    pub fn new(code: i32, message: impl Into<String>) -> Self {
        ErrorObject { code, message: message.into(), data: None }
    }

    /// The response to a failed OS operation.
    pub fn os(err: OsError) -> Self {
        ErrorObject { code: code::OS_ERROR, message: err.message(), data: Some(err) }
    }

    /// The code as an [`ErrorCode`].
    pub fn kind(&self) -> ErrorCode {
        ErrorCode::from(self.code)
    }
}

impl From<OsError> for ErrorObject {
    fn from(err: OsError) -> Self {
        ErrorObject::os(err)
    }
}

impl fmt::Display for ErrorObject {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match &self.data {
            Some(os) => write!(f, "{os}"),
            None => write!(f, "JSON-RPC error {}: {}", self.code, self.message),
        }
    }
}

impl std::error::Error for ErrorObject {}
