//! The per-start token (see `bridge_protocol::auth` for how clients send it).
//!
//! 32 random bytes from the kernel, in URL-safe base64: 43 characters, 256 bits. It is compared in
//! constant time, written only to a 0600 file in a 0700 directory, and never logged: its `Debug`
//! form is redacted.

use base64::Engine as _;
use base64::engine::general_purpose::URL_SAFE_NO_PAD;
use std::fmt;
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt;
#[cfg(test)]
use std::os::unix::fs::PermissionsExt;
use std::path::Path;

/// A secret that admits a client.
#[derive(Clone, PartialEq, Eq)]
pub struct Token(String);

impl fmt::Debug for Token {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str("Token(<redacted>)")
    }
}

impl Token {
    /// A fresh random token.
    ///
    /// # Panics
    /// If the kernel has no randomness to give (`getrandom(2)` failing is not recoverable).
    pub fn generate() -> Token {
        let mut bytes = [0u8; 32];
        let mut filled = 0;
        while filled < bytes.len() {
            // SAFETY: the pointer and length describe the unfilled rest of `bytes`.
            let n = unsafe { libc::getrandom(bytes[filled..].as_mut_ptr().cast(), bytes.len() - filled, 0) };
            match usize::try_from(n) {
                Ok(n) => filled += n,
                Err(_) if io::Error::last_os_error().kind() == io::ErrorKind::Interrupted => {}
                Err(_) => {
                    panic!("getrandom failed, so there is no randomness for the token: {}", io::Error::last_os_error())
                }
            }
        }
        Token(URL_SAFE_NO_PAD.encode(bytes))
    }

    /// A given token (from a configuration); `None` unless it is well formed.
    pub fn new(text: &str) -> Option<Token> {
        bridge_protocol::auth::is_well_formed(text).then(|| Token(text.to_owned()))
    }

    /// The token's text, to print or hand to a client.
    pub fn reveal(&self) -> &str {
        &self.0
    }

    /// Whether `offered` is this token, compared in time that does not depend on where they differ.
    pub fn matches(&self, offered: &str) -> bool {
        let (a, b) = (self.0.as_bytes(), offered.as_bytes());
        if a.len() != b.len() {
            return false;
        }
        let diff = a.iter().zip(b).fold(0u8, |acc, (x, y)| acc | (x ^ y));
        std::hint::black_box(diff) == 0
    }

    /// Writes the token to `path` (mode 0600), making its directory (mode 0700) if needed. An
    /// existing directory must belong to this user and be closed to others; an existing file is
    /// replaced.
    pub fn write_file(&self, path: &Path) -> io::Result<()> {
        if let Some(dir) = path.parent() {
            crate::sandbox::private_dir(dir)?;
        }
        let tmp = path.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        file.write_all(self.0.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tokens_are_fresh_and_well_formed() {
        let a = Token::generate();
        let b = Token::generate();
        assert_ne!(a, b);
        assert_eq!(a.reveal().len(), 43);
        assert!(bridge_protocol::auth::is_well_formed(a.reveal()));
        assert_eq!(format!("{a:?}"), "Token(<redacted>)");
    }

    #[test]
    fn comparison() {
        let t = Token::generate();
        assert!(t.matches(t.reveal()));
        let mut last_byte_off = t.reveal().to_owned();
        let last = last_byte_off.pop().unwrap_or('a');
        last_byte_off.push(if last == 'A' { 'B' } else { 'A' });
        assert!(!t.matches(&last_byte_off));
        assert!(!t.matches(""));
        assert!(!t.matches(&t.reveal()[1..]));
        assert!(Token::new("short").is_none());
    }

    #[test]
    fn file_is_private() {
        let base = std::env::temp_dir().join(format!("sockbridge-token-test-{}", std::process::id()));
        let path = base.join("token-1");
        let t = Token::generate();
        t.write_file(&path).unwrap_or_else(|e| panic!("{e}"));
        let mode = |p: &Path| std::fs::metadata(p).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        assert_eq!(mode(&base), 0o700);
        assert_eq!(mode(&path), 0o600);
        assert_eq!(std::fs::read_to_string(&path).unwrap_or_default().trim(), t.reveal());
        // Written again (a restart): replaced.
        let t2 = Token::generate();
        t2.write_file(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(std::fs::read_to_string(&path).unwrap_or_default().trim(), t2.reveal());
        std::fs::set_permissions(&base, std::fs::Permissions::from_mode(0o755)).unwrap_or_else(|e| panic!("{e}"));
        assert!(t.write_file(&path).is_err(), "a directory open to others is refused");
        let _ = std::fs::remove_dir_all(&base);
    }
}
