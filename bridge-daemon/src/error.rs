//! What an operation can fail with, on its way to becoming a JSON-RPC error.

use bridge_protocol::errno::code::{EACCES, EBADF};
use bridge_protocol::{ErrorObject, Method, OsError, code, json};
use std::io;

/// An operation's failure: an OS error as Python would raise it, params that the decoder
/// accepted but the method cannot use, or a session limit.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub(crate) enum OpError {
    /// An `OSError` (its class, errno and text travel to the client).
    #[error("{0}")]
    Os(OsError),
    /// A value out of range for the method (`-32602`), e.g. a negative timeout.
    #[error("invalid params for '{method}': {why}")]
    Params {
        /// The method.
        method: Method,
        /// What is wrong, in words that do not repeat the input.
        why: &'static str,
    },
    /// A session limit (`-32001`).
    #[error("{0}")]
    Limit(String),
    /// A bug in the daemon (`-32603`): an operation panicked or broke an invariant.
    #[error("internal error: {0}")]
    Internal(&'static str),
}

impl OpError {
    /// `EBADF`: an unknown, foreign or closed handle.
    pub(crate) fn bad_fd() -> Self {
        OpError::Os(OsError::from_errno(EBADF))
    }

    /// A policy refusal: `EACCES` with the reason.
    pub(crate) fn denied(reason: impl Into<String>) -> Self {
        OpError::Os(OsError::refused(EACCES, reason))
    }

    /// An OS error with the given errno.
    pub(crate) fn errno(number: i32) -> Self {
        OpError::Os(OsError::from_errno(number))
    }

    /// An OS error with the given errno and an explanation.
    pub(crate) fn refused(number: i32, reason: impl Into<String>) -> Self {
        OpError::Os(OsError::refused(number, reason))
    }

    /// A socket timeout: `TimeoutError("timed out")`.
    pub(crate) fn timeout() -> Self {
        OpError::Os(OsError::timeout())
    }

    /// The JSON-RPC error object to send.
    pub(crate) fn to_error_object(&self) -> ErrorObject {
        match self {
            OpError::Os(e) => ErrorObject::os(e.clone()),
            OpError::Params { method, why } => json::invalid_params(*method, why),
            OpError::Limit(message) => ErrorObject::new(code::LIMIT_EXCEEDED, message.clone()),
            OpError::Internal(what) => ErrorObject::new(code::INTERNAL_ERROR, format!("internal error: {what}")),
        }
    }
}

impl From<io::Error> for OpError {
    /// Keeps the kernel's errno; an error without one (which the daemon's own code does not make)
    /// becomes `EIO` rather than losing its kind silently.
    fn from(err: io::Error) -> Self {
        match err.raw_os_error() {
            Some(n) => OpError::errno(n),
            None if err.kind() == io::ErrorKind::WouldBlock => OpError::errno(libc::EAGAIN),
            None if err.kind() == io::ErrorKind::TimedOut => OpError::timeout(),
            None => OpError::errno(libc::EIO),
        }
    }
}

impl From<OsError> for OpError {
    fn from(err: OsError) -> Self {
        OpError::Os(err)
    }
}

/// An operation's result.
pub(crate) type OpResult<T> = Result<T, OpError>;
