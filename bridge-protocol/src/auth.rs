//! The per-start token: how a client proves it may use a daemon.
//!
//! The daemon makes a fresh random token each time it starts, writes it to a file only its user can
//! read ([`token_path`]), and prints it as part of its addresses, in the URL fragment:
//! `ws://127.0.0.1:7320/#sb-token=…` and `http://127.0.0.1:7320/#sb-token=…`. A fragment never
//! leaves the browser, so the token is not sent to any server or written to any log.
//!
//! A client sends it in the WebSocket handshake as a second subprotocol,
//! `sockbridge.token.<token>`, next to [`SUBPROTOCOL`](crate::SUBPROTOCOL) (browsers cannot set
//! other headers). The daemon answers with `sockbridge.v1` alone, never echoing the token.
//!
//! ```
//! use bridge_protocol::auth;
//! let (url, token) = auth::split_url("ws://127.0.0.1:7320/#sb-token=abc_DEF-123");
//! assert_eq!(url, "ws://127.0.0.1:7320/");
//! assert_eq!(token, Some("abc_DEF-123"));
//! assert_eq!(auth::subprotocol("abc_DEF-123"), "sockbridge.token.abc_DEF-123");
//! ```

use std::path::{Path, PathBuf};

/// The prefix of the subprotocol value that carries the token.
pub const SUBPROTOCOL_PREFIX: &str = "sockbridge.token.";

/// The URL fragment key that carries the token (`#sb-token=…`).
pub const FRAGMENT_KEY: &str = "sb-token";

/// The subprotocol value for a token.
pub fn subprotocol(token: &str) -> String {
    format!("{SUBPROTOCOL_PREFIX}{token}")
}

/// Whether a string can be a token: 16 to 128 characters of the URL-safe base64 alphabet, which
/// are also valid in a subprotocol name and a URL fragment.
pub fn is_well_formed(token: &str) -> bool {
    (16..=128).contains(&token.len()) && token.bytes().all(|b| b.is_ascii_alphanumeric() || b == b'-' || b == b'_')
}

/// Splits a daemon address into the URL to open and the token in its fragment, if any. Other
/// fragments are dropped (a WebSocket URL has no use for them).
pub fn split_url(url: &str) -> (&str, Option<&str>) {
    let Some((base, fragment)) = url.split_once('#') else { return (url, None) };
    let token = fragment
        .split('&')
        .find_map(|pair| pair.strip_prefix(FRAGMENT_KEY).and_then(|rest| rest.strip_prefix('=')))
        .filter(|t| !t.is_empty());
    (base, token)
}

/// Where a daemon on `port` keeps its token: `$XDG_RUNTIME_DIR/sockbridge/token-<port>` when
/// there is a runtime directory, else `<temp dir>/sockbridge-<uid>/token-<port>`. The directory
/// is private to the user (0700) and the file is 0600.
pub fn token_path(runtime_dir: Option<&Path>, temp_dir: &Path, uid: u32, port: u16) -> PathBuf {
    let dir = match runtime_dir {
        Some(run) => run.join("sockbridge"),
        None => temp_dir.join(format!("sockbridge-{uid}")),
    };
    dir.join(format!("token-{port}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn fragments() {
        assert_eq!(split_url("ws://h:1/"), ("ws://h:1/", None));
        assert_eq!(split_url("ws://h:1/#"), ("ws://h:1/", None));
        assert_eq!(split_url("ws://h:1/#other=1&sb-token=xyz"), ("ws://h:1/", Some("xyz")));
        assert_eq!(split_url("ws://h:1/#sb-tokens=xyz"), ("ws://h:1/", None));
        assert_eq!(split_url("ws://h:1/#sb-token="), ("ws://h:1/", None));
    }

    #[test]
    fn shapes() {
        assert!(is_well_formed("abcdefghijklmnop"));
        assert!(is_well_formed(&"A-_9".repeat(11)));
        assert!(!is_well_formed("short"));
        assert!(!is_well_formed("has space in it!!"));
        assert!(!is_well_formed("with,comma,inside,x"));
        assert!(!is_well_formed(&"a".repeat(129)));
    }

    #[test]
    fn paths() {
        let p = token_path(Some(Path::new("/run/user/1000")), Path::new("/tmp"), 1000, 7320);
        assert_eq!(p, Path::new("/run/user/1000/sockbridge/token-7320"));
        let p = token_path(None, Path::new("/tmp"), 1000, 7320);
        assert_eq!(p, Path::new("/tmp/sockbridge-1000/token-7320"));
    }
}
