//! Errors as the kernel and Python name them: Linux errno numbers, their names, glibc's `strerror`
//! text, and the Python exception class CPython raises for each (PEP 3151), plus the resolver's
//! `EAI_*` codes that Python raises as `socket.gaierror`.
//!
//! [`OsError`] is the `data` member of every OS error response on the wire; both the daemon
//! (which makes them from `std::io::Error`) and the client (which turns them back into exceptions)
//! use the lookups here, so a number is never mapped to a name in two places.

use serde::{Deserialize, Serialize};

#[path = "errno_table.rs"]
mod errno_table;

/// The named errno values the bridge itself refers to (Linux numbers).
pub mod code {
    /// Operation not permitted.
    pub const EPERM: i32 = 1;
    /// No such file or directory.
    pub const ENOENT: i32 = 2;
    /// Bad file descriptor: an unknown, foreign or closed handle.
    pub const EBADF: i32 = 9;
    /// Resource temporarily unavailable: the operation would block.
    pub const EAGAIN: i32 = 11;
    /// Permission denied: also every refusal by the daemon's policy.
    pub const EACCES: i32 = 13;
    /// Invalid argument.
    pub const EINVAL: i32 = 22;
    /// Too many open files in the system: also the bridge's cap on sockets of all pages.
    pub const ENFILE: i32 = 23;
    /// Too many open files: also the per-session socket cap.
    pub const EMFILE: i32 = 24;
    /// Broken pipe.
    pub const EPIPE: i32 = 32;
    /// File name too long.
    pub const ENAMETOOLONG: i32 = 36;
    /// Not a socket.
    pub const ENOTSOCK: i32 = 88;
    /// Message too long.
    pub const EMSGSIZE: i32 = 90;
    /// Protocol not available (unknown socket option).
    pub const ENOPROTOOPT: i32 = 92;
    /// Protocol not supported.
    pub const EPROTONOSUPPORT: i32 = 93;
    /// Socket type not supported.
    pub const ESOCKTNOSUPPORT: i32 = 94;
    /// Operation not supported.
    pub const EOPNOTSUPP: i32 = 95;
    /// Address family not supported by protocol.
    pub const EAFNOSUPPORT: i32 = 97;
    /// Address already in use.
    pub const EADDRINUSE: i32 = 98;
    /// Cannot assign requested address.
    pub const EADDRNOTAVAIL: i32 = 99;
    /// Connection reset by peer.
    pub const ECONNRESET: i32 = 104;
    /// Transport endpoint is already connected.
    pub const EISCONN: i32 = 106;
    /// Transport endpoint is not connected.
    pub const ENOTCONN: i32 = 107;
    /// Connection timed out (the kernel's, not a socket timeout).
    pub const ETIMEDOUT: i32 = 110;
    /// Connection refused.
    pub const ECONNREFUSED: i32 = 111;
    /// Operation already in progress.
    pub const EALREADY: i32 = 114;
    /// Operation now in progress: a non-blocking connect has started.
    pub const EINPROGRESS: i32 = 115;
}

/// `getaddrinfo` error codes (glibc), raised in Python as `socket.gaierror`.
pub mod eai {
    /// Invalid `flags`.
    pub const EAI_BADFLAGS: i32 = -1;
    /// Name or service not known.
    pub const EAI_NONAME: i32 = -2;
    /// Temporary failure in name resolution.
    pub const EAI_AGAIN: i32 = -3;
    /// Non-recoverable failure in name resolution.
    pub const EAI_FAIL: i32 = -4;
    /// `family` not supported.
    pub const EAI_FAMILY: i32 = -6;
    /// `type` not supported.
    pub const EAI_SOCKTYPE: i32 = -7;
    /// Service not supported for the socket type.
    pub const EAI_SERVICE: i32 = -8;
    /// Memory allocation failure.
    pub const EAI_MEMORY: i32 = -10;
    /// A system error; see errno.
    pub const EAI_SYSTEM: i32 = -11;
    /// Argument buffer overflow.
    pub const EAI_OVERFLOW: i32 = -12;
    /// No address associated with hostname.
    pub const EAI_NODATA: i32 = -5;
    /// Address family for hostname not supported.
    pub const EAI_ADDRFAMILY: i32 = -9;
}

const EAI_TABLE: &[(i32, &str, &str)] = &[
    (eai::EAI_BADFLAGS, "EAI_BADFLAGS", "Bad value for ai_flags"),
    (eai::EAI_NONAME, "EAI_NONAME", "Name or service not known"),
    (eai::EAI_AGAIN, "EAI_AGAIN", "Temporary failure in name resolution"),
    (eai::EAI_FAIL, "EAI_FAIL", "Non-recoverable failure in name resolution"),
    (eai::EAI_NODATA, "EAI_NODATA", "No address associated with hostname"),
    (eai::EAI_FAMILY, "EAI_FAMILY", "ai_family not supported"),
    (eai::EAI_SOCKTYPE, "EAI_SOCKTYPE", "ai_socktype not supported"),
    (eai::EAI_SERVICE, "EAI_SERVICE", "Servname not supported for ai_socktype"),
    (eai::EAI_ADDRFAMILY, "EAI_ADDRFAMILY", "Address family for hostname not supported"),
    (eai::EAI_MEMORY, "EAI_MEMORY", "Memory allocation failure"),
    (eai::EAI_SYSTEM, "EAI_SYSTEM", "System error"),
    (eai::EAI_OVERFLOW, "EAI_OVERFLOW", "Argument buffer overflow"),
];

/// Linux's errno names that share a number, in pairs (either may be CPython's canonical one).
pub const ALIASES: &[(&str, &str)] = &[("EAGAIN", "EWOULDBLOCK"), ("EDEADLK", "EDEADLOCK"), ("ENOTSUP", "EOPNOTSUPP")];

/// Every `EAI_*` code, by name.
pub fn eai_all() -> impl Iterator<Item = (&'static str, i32)> {
    EAI_TABLE.iter().map(|&(code, name, _)| (name, code))
}

/// One Linux errno: number, name, `strerror` text and Python exception class.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Errno {
    /// The Linux number, e.g. 111.
    pub number: i32,
    /// The symbolic name, e.g. `"ECONNREFUSED"`.
    pub name: &'static str,
    /// glibc's message, e.g. `"Connection refused"`.
    pub strerror: &'static str,
    /// The `OSError` subclass Python raises, e.g. `"ConnectionRefusedError"`.
    pub exception: &'static str,
}

impl Errno {
    /// Looks a Linux errno number up.
    pub const fn from_number(number: i32) -> Option<Errno> {
        let mut i = 0;
        while i < errno_table::TABLE.len() {
            let (n, name, strerror, exception) = errno_table::TABLE[i];
            if n == number {
                return Some(Errno { number, name, strerror, exception });
            }
            i += 1;
        }
        None
    }

    /// An errno the code names, looked up as the program is compiled: `const { Errno::known(EBADF) }`.
    /// (A program that looks up only such errnos carries only their rows of the table: the browser's
    /// client does.) A number not in the table fails the build.
    pub const fn known(number: i32) -> Errno {
        match Errno::from_number(number) {
            Some(errno) => errno,
            None => panic!("not an errno of the table"),
        }
    }

    /// Looks an errno up by name (`"ECONNREFUSED"`). Both names of Linux's aliased pairs
    /// (`EAGAIN`/`EWOULDBLOCK`, `EDEADLK`/`EDEADLOCK`, `ENOTSUP`/`EOPNOTSUPP`) are accepted;
    /// [`Errno::name`] is always the one CPython's `errno.errorcode` gives.
    pub fn from_name(name: &str) -> Option<Errno> {
        let partner = ALIASES.iter().find_map(|&(a, b)| match name {
            n if n == a => Some(b),
            n if n == b => Some(a),
            _ => None,
        });
        errno_table::TABLE
            .iter()
            .find(|row| row.1 == name || Some(row.1) == partner)
            .map(|&(number, name, strerror, exception)| Errno { number, name, strerror, exception })
    }

    /// Every errno Linux defines, in number order.
    pub fn all() -> impl Iterator<Item = Errno> {
        errno_table::TABLE.iter().map(|&(number, name, strerror, exception)| Errno {
            number,
            name,
            strerror,
            exception,
        })
    }
}

/// Python's exception classes that socket calls raise, each with its base class.
const HIERARCHY: &[(&str, &str)] = &[
    ("OSError", "Exception"),
    ("BlockingIOError", "OSError"),
    ("ChildProcessError", "OSError"),
    ("ConnectionError", "OSError"),
    ("BrokenPipeError", "ConnectionError"),
    ("ConnectionAbortedError", "ConnectionError"),
    ("ConnectionRefusedError", "ConnectionError"),
    ("ConnectionResetError", "ConnectionError"),
    ("FileExistsError", "OSError"),
    ("FileNotFoundError", "OSError"),
    ("InterruptedError", "OSError"),
    ("IsADirectoryError", "OSError"),
    ("NotADirectoryError", "OSError"),
    ("PermissionError", "OSError"),
    ("ProcessLookupError", "OSError"),
    ("TimeoutError", "OSError"),
    ("gaierror", "OSError"),
    ("herror", "OSError"),
    ("ValueError", "Exception"),
    ("TypeError", "Exception"),
    ("OverflowError", "ArithmeticError"),
    ("ArithmeticError", "Exception"),
];

/// Whether Python's exception class `class` is `base` or derives from it, as
/// `issubclass(ConnectionRefusedError, OSError)` is true.
pub fn is_subclass(class: &str, base: &str) -> bool {
    let mut current = class;
    // The hierarchy is a handful of levels deep; the bound only guards against a cycle.
    for _ in 0..HIERARCHY.len() {
        if current == base {
            return true;
        }
        match HIERARCHY.iter().find(|(name, _)| *name == current) {
            Some((_, parent)) => current = parent,
            None => return false,
        }
    }
    false
}

/// The name of a `getaddrinfo` error code, e.g. `"EAI_NONAME"` for -2.
pub fn eai_name(code: i32) -> Option<&'static str> {
    EAI_TABLE.iter().find(|row| row.0 == code).map(|row| row.1)
}

/// An `OSError` as it travels: the `data` member of an [`crate::code::OS_ERROR`] response.
///
/// Python's own attributes: `exception` is the class (`"ConnectionRefusedError"`), `errno` and
/// `strerror` are the exception's attributes (both absent for a socket timeout, as in Python), and
/// `errname` is `errno.errorcode[errno]`. `reason` is the daemon's plain-words explanation of a
/// policy refusal; Python has no such attribute.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct OsError {
    /// The Python exception class name.
    pub exception: String,
    /// The Linux errno (negative `EAI_*` codes for `gaierror`), or absent.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errno: Option<i32>,
    /// The errno's symbolic name.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub errname: Option<String>,
    /// The message, as Python's `strerror` attribute holds it.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub strerror: Option<String>,
    /// Why the daemon refused, for policy refusals.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub reason: Option<String>,
}

impl From<Errno> for OsError {
    fn from(e: Errno) -> OsError {
        OsError {
            exception: e.exception.to_owned(),
            errno: Some(e.number),
            errname: Some(e.name.to_owned()),
            strerror: Some(e.strerror.to_owned()),
            reason: None,
        }
    }
}

impl OsError {
    /// The error for a Linux errno number, named and classed as Python would.
    pub fn from_errno(number: i32) -> OsError {
        match Errno::from_number(number) {
            Some(e) => OsError::from(e),
            None => OsError {
                exception: "OSError".to_owned(),
                errno: Some(number),
                errname: None,
                strerror: Some(format!("Unknown error {number}")),
                reason: None,
            },
        }
    }

    /// A refusal with the errno given and a reason in plain words (`EACCES` for policy).
    pub fn refused(number: i32, reason: impl Into<String>) -> OsError {
        OsError { reason: Some(reason.into()), ..OsError::from_errno(number) }
    }

    /// A socket timeout: Python's `TimeoutError("timed out")`, with no errno.
    pub fn timeout() -> OsError {
        OsError { exception: "TimeoutError".to_owned(), errno: None, errname: None, strerror: None, reason: None }
    }

    /// A resolver failure: Python's `socket.gaierror`.
    pub fn gai(code: i32, message: Option<&str>) -> OsError {
        let known = EAI_TABLE.iter().find(|row| row.0 == code);
        OsError {
            exception: "gaierror".to_owned(),
            errno: Some(code),
            errname: known.map(|row| row.1.to_owned()),
            strerror: Some(
                message
                    .map(str::to_owned)
                    .or_else(|| known.map(|row| row.2.to_owned()))
                    .unwrap_or_else(|| format!("Unknown resolver error {code}")),
            ),
            reason: None,
        }
    }

    /// Whether this is the timeout error ([`OsError::timeout`]).
    pub fn is_timeout(&self) -> bool {
        self.exception == "TimeoutError" && self.errno.is_none()
    }

    /// The message Python's `str(exc)` shows: `[Errno 111] Connection refused`, or `timed out`.
    pub fn message(&self) -> String {
        let mut text = match (self.errno, &self.strerror) {
            (Some(n), Some(s)) => format!("[Errno {n}] {s}"),
            (None, _) if self.is_timeout() => "timed out".to_owned(),
            (Some(n), None) => format!("[Errno {n}]"),
            (None, Some(s)) => s.clone(),
            (None, None) => self.exception.clone(),
        };
        if let Some(reason) = &self.reason {
            text.push_str(": ");
            text.push_str(reason);
        }
        text
    }
}

impl std::fmt::Display for OsError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "{}: {}", self.exception, self.message())
    }
}

impl std::error::Error for OsError {}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn classes_follow_pep_3151() {
        assert_eq!(OsError::from_errno(code::ECONNREFUSED).exception, "ConnectionRefusedError");
        assert_eq!(OsError::from_errno(code::EAGAIN).exception, "BlockingIOError");
        assert_eq!(OsError::from_errno(code::EINPROGRESS).exception, "BlockingIOError");
        assert_eq!(OsError::from_errno(code::EACCES).exception, "PermissionError");
        assert_eq!(OsError::from_errno(code::EPIPE).exception, "BrokenPipeError");
        assert_eq!(OsError::from_errno(code::EBADF).exception, "OSError");
        assert_eq!(OsError::from_errno(code::ETIMEDOUT).exception, "TimeoutError");
    }

    #[test]
    fn names_and_messages() {
        let e = OsError::from_errno(111);
        assert_eq!(e.errname.as_deref(), Some("ECONNREFUSED"));
        assert_eq!(e.message(), "[Errno 111] Connection refused");
        assert_eq!(Errno::from_name("EWOULDBLOCK").map(|e| e.number), Some(11));
        assert_eq!(Errno::from_name("EOPNOTSUPP").map(|e| e.number), Some(95));
        assert_eq!(Errno::from_name("EDEADLK").map(|e| e.number), Some(35));
        assert_eq!(Errno::from_name("ENOSUCH"), None);
        assert_eq!(OsError::timeout().message(), "timed out");
        let g = OsError::gai(eai::EAI_NONAME, None);
        assert_eq!(g.message(), "[Errno -2] Name or service not known");
        assert_eq!(g.errname.as_deref(), Some("EAI_NONAME"));
        let r = OsError::refused(code::EACCES, "port 80 is below 1024");
        assert_eq!(r.message(), "[Errno 13] Permission denied: port 80 is below 1024");
    }

    #[test]
    fn the_hierarchy_is_pythons() {
        assert!(is_subclass("ConnectionRefusedError", "OSError"));
        assert!(is_subclass("ConnectionRefusedError", "ConnectionError"));
        assert!(is_subclass("TimeoutError", "OSError"));
        assert!(is_subclass("gaierror", "OSError"));
        assert!(is_subclass("OSError", "OSError"));
        assert!(!is_subclass("ValueError", "OSError"));
        assert!(!is_subclass("OSError", "ConnectionError"));
        assert!(!is_subclass("NoSuchError", "OSError"));
        for e in Errno::all() {
            assert!(is_subclass(e.exception, "OSError"), "{}", e.exception);
        }
    }

    #[test]
    fn unknown_numbers_stay_oserror() {
        let e = OsError::from_errno(4242);
        assert_eq!(e.exception, "OSError");
        assert_eq!(e.errno, Some(4242));
    }

    #[test]
    fn table_is_complete_and_ordered() {
        let all: Vec<_> = Errno::all().collect();
        assert!(all.len() > 120);
        assert!(all.windows(2).all(|w| w[0].number < w[1].number));
        for e in &all {
            assert_eq!(Errno::from_name(e.name), Some(*e));
        }
    }
}
