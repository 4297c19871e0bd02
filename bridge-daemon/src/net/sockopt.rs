//! `setsockopt` and `getsockopt` for an allow-list of options, with the raw int-or-bytes values
//! Python passes, so the kernel answers exactly as it answers CPython.

use crate::error::{OpError, OpResult};
use bridge_protocol::constants::*;
use bridge_protocol::errno::code::{ENOPROTOOPT, EPERM};
use bridge_protocol::params::OptValue;
use bridge_protocol::{OsError, Payload};
use socket2::Socket;
use std::os::fd::AsRawFd;

/// The most bytes `getsockopt(level, opt, buflen)` returns, as in CPython.
pub(crate) const MAX_BUFLEN: u32 = 1024;

/// The options a page may read and set. The kernel still decides whether an option fits the
/// socket (`TCP_NODELAY` on a UDP socket fails as it does in Python).
const ALLOWED: &[(i32, i32)] = &[
    (SOL_SOCKET, SO_REUSEADDR),
    (SOL_SOCKET, SO_TYPE),
    (SOL_SOCKET, SO_ERROR),
    (SOL_SOCKET, SO_BROADCAST),
    (SOL_SOCKET, SO_SNDBUF),
    (SOL_SOCKET, SO_RCVBUF),
    (SOL_SOCKET, SO_KEEPALIVE),
    (SOL_SOCKET, SO_OOBINLINE),
    (SOL_SOCKET, SO_LINGER),
    (SOL_SOCKET, SO_RCVLOWAT),
    (SOL_SOCKET, SO_ACCEPTCONN),
    (SOL_SOCKET, SO_PROTOCOL),
    (SOL_SOCKET, SO_DOMAIN),
    (IPPROTO_TCP, TCP_NODELAY),
    (IPPROTO_TCP, TCP_MAXSEG),
    (IPPROTO_TCP, TCP_KEEPIDLE),
    (IPPROTO_TCP, TCP_KEEPINTVL),
    (IPPROTO_TCP, TCP_KEEPCNT),
    (IPPROTO_IP, IP_TOS),
    (IPPROTO_IP, IP_TTL),
    (IPPROTO_IPV6, IPV6_V6ONLY),
    (IPPROTO_IPV6, IPV6_UNICAST_HOPS),
];

fn check_allowed(level: i32, optname: i32) -> OpResult<()> {
    if (level, optname) == (SOL_SOCKET, SO_REUSEPORT) {
        return Err(OpError::refused(EPERM, "SO_REUSEPORT would let a page share another program's port"));
    }
    if ALLOWED.contains(&(level, optname)) {
        Ok(())
    } else {
        Err(OpError::refused(ENOPROTOOPT, "this socket option is not available through the bridge"))
    }
}

/// The longest `SO_LINGER` time a page may set, in seconds: a lingering `close` holds a blocking
/// thread of the daemon for that long.
pub(crate) const MAX_LINGER_SECS: i32 = 10;

/// Values the daemon changes before the kernel sees them: an `SO_LINGER` time is clamped to
/// [`MAX_LINGER_SECS`] (a negative one, which the kernel takes as no limit, too).
fn clamp(level: i32, optname: i32, value: &OptValue) -> OptValue {
    match value {
        OptValue::Bytes(bytes) if (level, optname) == (SOL_SOCKET, SO_LINGER) && bytes.len() >= 8 => {
            let mut raw = bytes.as_bytes().to_vec();
            let secs = i32::from_ne_bytes([raw[4], raw[5], raw[6], raw[7]]);
            // The kernel reads a negative time as "for ever".
            let secs = if secs < 0 { MAX_LINGER_SECS } else { secs.min(MAX_LINGER_SECS) };
            raw[4..8].copy_from_slice(&secs.to_ne_bytes());
            OptValue::Bytes(Payload(raw))
        }
        other => other.clone(),
    }
}

/// `setsockopt(level, optname, value)`: an int is passed as a C `int`, bytes as they are (but see
/// [`MAX_LINGER_SECS`]).
pub(crate) fn set(sock: &Socket, level: i32, optname: i32, value: &OptValue) -> OpResult<()> {
    check_allowed(level, optname)?;
    let value = &clamp(level, optname, value);
    let int_storage: libc::c_int;
    let (ptr, len): (*const libc::c_void, usize) = match value {
        OptValue::Int(v) => {
            // Python: "OverflowError: signed integer is greater than maximum".
            int_storage = libc::c_int::try_from(*v)
                .map_err(|_| OpError::refused(libc::EINVAL, "an integer option value must fit in a C int"))?;
            ((&raw const int_storage).cast(), std::mem::size_of::<libc::c_int>())
        }
        OptValue::Bytes(bytes) => {
            if bytes.len() > MAX_BUFLEN as usize {
                return Err(OpError::refused(libc::EINVAL, "an option buffer is at most 1024 bytes"));
            }
            (bytes.as_bytes().as_ptr().cast(), bytes.len())
        }
    };
    // SAFETY: `ptr` points to `len` readable bytes (a c_int on the stack or the payload), which
    // outlive the call; the fd is a live socket owned by `sock`.
    let rc = unsafe { libc::setsockopt(sock.as_raw_fd(), level, optname, ptr, len as libc::socklen_t) };
    if rc == 0 { Ok(()) } else { Err(std::io::Error::last_os_error().into()) }
}

/// `getsockopt(level, optname[, buflen])`: an int without `buflen` (or with 0, as CPython reads
/// it), else at most `buflen` bytes.
pub(crate) fn get(sock: &Socket, level: i32, optname: i32, buflen: Option<u32>) -> OpResult<OptValue> {
    check_allowed(level, optname)?;
    match buflen {
        None | Some(0) => {
            let mut value: libc::c_int = 0;
            let mut len = std::mem::size_of::<libc::c_int>() as libc::socklen_t;
            // SAFETY: value and len are valid for writes of the sizes given.
            let rc =
                unsafe { libc::getsockopt(sock.as_raw_fd(), level, optname, (&raw mut value).cast(), &raw mut len) };
            if rc == 0 { Ok(OptValue::Int(i64::from(value))) } else { Err(std::io::Error::last_os_error().into()) }
        }
        Some(n) if n > MAX_BUFLEN => Err(OpError::Os(OsError {
            exception: "OSError".to_owned(),
            errno: None,
            errname: None,
            strerror: Some("getsockopt buflen out of range".to_owned()),
            reason: None,
        })),
        Some(n) => {
            let mut buf = vec![0u8; n as usize];
            let mut len = n as libc::socklen_t;
            // SAFETY: buf is writable for `len` bytes; the kernel writes at most that and updates len.
            let rc =
                unsafe { libc::getsockopt(sock.as_raw_fd(), level, optname, buf.as_mut_ptr().cast(), &raw mut len) };
            if rc != 0 {
                return Err(std::io::Error::last_os_error().into());
            }
            buf.truncate(len as usize);
            Ok(OptValue::Bytes(Payload(buf)))
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use socket2::{Domain, Type};

    fn tcp() -> Socket {
        Socket::new(Domain::IPV4, Type::STREAM, None).unwrap_or_else(|e| panic!("{e}"))
    }

    fn errno(r: OpResult<impl std::fmt::Debug>) -> Option<i32> {
        match r {
            Err(OpError::Os(e)) => e.errno,
            other => panic!("expected an OS error, got {other:?}"),
        }
    }

    #[test]
    fn int_options() {
        let s = tcp();
        assert_eq!(get(&s, SOL_SOCKET, SO_REUSEADDR, None).ok(), Some(OptValue::Int(0)));
        assert!(set(&s, SOL_SOCKET, SO_REUSEADDR, &OptValue::Int(1)).is_ok());
        assert_eq!(get(&s, SOL_SOCKET, SO_REUSEADDR, None).ok(), Some(OptValue::Int(1)));
        assert_eq!(get(&s, SOL_SOCKET, SO_TYPE, None).ok(), Some(OptValue::Int(i64::from(SOCK_STREAM))));
        // Linux doubles SO_RCVBUF, for Python as for us.
        assert!(set(&s, SOL_SOCKET, SO_RCVBUF, &OptValue::Int(8192)).is_ok());
        assert_eq!(get(&s, SOL_SOCKET, SO_RCVBUF, None).ok(), Some(OptValue::Int(16384)));
    }

    #[test]
    fn bytes_options() {
        let s = tcp();
        let linger = OptValue::Bytes(Payload([1i32.to_ne_bytes(), 5i32.to_ne_bytes()].concat()));
        assert!(set(&s, SOL_SOCKET, SO_LINGER, &linger).is_ok());
        assert_eq!(get(&s, SOL_SOCKET, SO_LINGER, Some(8)).ok(), Some(linger));
        assert_eq!(get(&s, SOL_SOCKET, SO_LINGER, Some(0)).ok(), Some(OptValue::Int(1)), "buflen 0 reads an int");
        let forever = OptValue::Bytes(Payload([1i32.to_ne_bytes(), i32::MAX.to_ne_bytes()].concat()));
        assert!(set(&s, SOL_SOCKET, SO_LINGER, &forever).is_ok());
        let clamped = OptValue::Bytes(Payload([1i32.to_ne_bytes(), MAX_LINGER_SECS.to_ne_bytes()].concat()));
        assert_eq!(get(&s, SOL_SOCKET, SO_LINGER, Some(8)).ok(), Some(clamped.clone()));
        // A negative time is "no limit" to the kernel (it read back as 2^31 - 1 s): clamped too.
        let negative = OptValue::Bytes(Payload([1i32.to_ne_bytes(), (-1i32).to_ne_bytes()].concat()));
        assert!(set(&s, SOL_SOCKET, SO_LINGER, &negative).is_ok());
        assert_eq!(get(&s, SOL_SOCKET, SO_LINGER, Some(8)).ok(), Some(clamped));
        assert!(matches!(get(&s, SOL_SOCKET, SO_LINGER, Some(2000)), Err(OpError::Os(e)) if e.errno.is_none()));
    }

    #[test]
    fn refusals() {
        let s = tcp();
        assert_eq!(errno(set(&s, SOL_SOCKET, SO_REUSEPORT, &OptValue::Int(1))), Some(EPERM));
        assert_eq!(errno(set(&s, SOL_SOCKET, 25 /* SO_BINDTODEVICE */, &OptValue::Int(1))), Some(ENOPROTOOPT));
        assert_eq!(errno(set(&s, IPPROTO_IP, 3 /* IP_HDRINCL */, &OptValue::Int(1))), Some(ENOPROTOOPT));
        assert_eq!(errno(set(&s, 999, 999, &OptValue::Int(1))), Some(ENOPROTOOPT));
        // SO_ERROR is read-only: the kernel says so, as it does to Python.
        assert_eq!(errno(set(&s, SOL_SOCKET, SO_ERROR, &OptValue::Int(1))), Some(ENOPROTOOPT));
    }
}
