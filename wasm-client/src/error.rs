//! [`Error`]: what a socket call fails with, keeping Python's exception class, errno and message.

use bridge_protocol::errno::code::EBADF;
use bridge_protocol::{Errno, ErrorObject, OsError, code};

/// A failed call. Every variant has a Python exception class ([`Error::exception`]); OS errors keep
/// the errno, its name and the message as the kernel and CPython give them.
#[derive(Clone, Debug, PartialEq, Eq, thiserror::Error)]
pub enum Error {
    /// An `OSError` (or subclass): from the kernel through the daemon, a socket timeout
    /// (`TimeoutError`, no errno), a resolver error (`gaierror`), a policy refusal
    /// (`PermissionError` with a reason), or `EBADF` for a closed socket.
    #[error("{0}")]
    Os(OsError),
    /// Python's `ValueError`: an argument out of range, caught before anything is sent.
    #[error("ValueError: {0}")]
    Value(String),
    /// Python's `OverflowError`: a number too large for the call (a timeout beyond 2^63 ns),
    /// caught before anything is sent.
    #[error("OverflowError: {0}")]
    Overflow(String),
    /// The daemon refused the request itself (a JSON-RPC error that is not an OS error): bad params,
    /// or a session limit such as too many requests in flight.
    #[error("{0}")]
    Protocol(ErrorObject),
    /// The connection to the daemon is closed; every socket of the session is gone with it.
    #[error("ConnectionError: the bridge connection is closed")]
    Closed,
    /// The daemon could not be reached, or refused the handshake.
    #[error("ConnectionError: cannot open a bridge session: {0}")]
    Connect(String),
    /// The daemon sent something this client does not understand.
    #[error("OSError: bad response from the bridge: {0}")]
    Response(String),
}

impl Error {
    /// `EBADF`: the socket is closed.
    pub(crate) fn bad_fd() -> Self {
        Error::Os(OsError::from(const { Errno::known(EBADF) }))
    }

    /// A JSON-RPC error from the daemon.
    pub(crate) fn from_rpc(err: ErrorObject) -> Self {
        match (err.code, err.data) {
            (code::OS_ERROR, Some(os)) => Error::Os(os),
            (code, data) => Error::Protocol(ErrorObject { code, message: err.message, data }),
        }
    }

    /// The Python exception class: `"ConnectionRefusedError"`, `"TimeoutError"`, `"gaierror"`,
    /// `"ValueError"`, ... Invalid params are a `TypeError`; other protocol faults and a lost
    /// connection are `OSError` and `ConnectionError`.
    pub fn exception(&self) -> &str {
        match self {
            Error::Os(e) => &e.exception,
            Error::Value(_) => "ValueError",
            Error::Overflow(_) => "OverflowError",
            Error::Protocol(e) if e.code == code::INVALID_PARAMS => "TypeError",
            Error::Protocol(_) | Error::Response(_) => "OSError",
            Error::Closed | Error::Connect(_) => "ConnectionError",
        }
    }

    /// Whether Python would raise this as an `OSError` (or a subclass of it).
    pub fn is_oserror(&self) -> bool {
        self.is_instance("OSError")
    }

    /// Whether this error is an instance of Python's class `base`, following Python's hierarchy:
    /// a `ConnectionRefusedError` is a `ConnectionError` and an `OSError`.
    pub fn is_instance(&self, base: &str) -> bool {
        bridge_protocol::errno::is_subclass(self.exception(), base)
    }

    /// The errno, e.g. 111, where there is one (`gaierror` has negative `EAI_*` codes).
    pub fn errno(&self) -> Option<i32> {
        match self {
            Error::Os(e) => e.errno,
            _ => None,
        }
    }

    /// The errno's name, e.g. `"ECONNREFUSED"`.
    pub fn errname(&self) -> Option<&str> {
        match self {
            Error::Os(e) => e.errname.as_deref(),
            _ => None,
        }
    }

    /// The message, as Python's `strerror` (for OS errors) or the exception's text.
    pub fn strerror(&self) -> String {
        match self {
            Error::Os(e) => e.strerror.clone().unwrap_or_else(|| e.message()),
            Error::Value(m) | Error::Overflow(m) => m.clone(),
            Error::Protocol(e) => e.message.clone(),
            // The message alone, as Python's str() of the exception: the class is its name.
            Error::Closed => "the bridge connection is closed".to_owned(),
            Error::Connect(m) => format!("cannot open a bridge session: {m}"),
            Error::Response(m) => format!("bad response from the bridge: {m}"),
        }
    }

    /// Whether this is a socket timeout (`TimeoutError("timed out")`).
    pub fn is_timeout(&self) -> bool {
        matches!(self, Error::Os(e) if e.is_timeout())
    }
}

impl From<OsError> for Error {
    fn from(e: OsError) -> Self {
        Error::Os(e)
    }
}

/// A call's result.
pub type Result<T> = std::result::Result<T, Error>;

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes() {
        assert_eq!(Error::Os(OsError::from_errno(111)).exception(), "ConnectionRefusedError");
        assert_eq!(Error::Os(OsError::timeout()).to_string(), "TimeoutError: timed out");
        assert!(Error::Os(OsError::timeout()).is_timeout());
        assert_eq!(Error::bad_fd().errname(), Some("EBADF"));
        assert!(!Error::Value("x".into()).is_oserror());
        let params = Error::from_rpc(ErrorObject::new(code::INVALID_PARAMS, "bad"));
        assert_eq!(params.exception(), "TypeError");
        let os = Error::from_rpc(ErrorObject::os(OsError::from_errno(13)));
        assert_eq!(os.exception(), "PermissionError");
        assert_eq!(Error::Closed.exception(), "ConnectionError");
    }
}
