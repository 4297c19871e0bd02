//! Join links: how a teacher lets a class in. Each student gets a link of their own,
//! `https://class.example.org/#sb-token=<secret>`, made by `bridge-daemon join add` and kept in a
//! store file the daemon reads (`--join-links FILE`). The page sends the secret the way it sends a
//! per-start token (the `sockbridge.token.<secret>` subprotocol; the fragment never reaches a
//! server's logs), and the daemon admits it as the student the link was made for.
//!
//! The store holds each link's name, expiry and state, and the SHA-256 of its secret, never the
//! secret: a copy of the file lets nobody in. It is JSON, written whole to a temporary file and
//! renamed over the old one (mode 0600), so a daemon reading it never sees half a file. The daemon
//! reads it again whenever it changes: a revoked or expired link stops working for new sessions at
//! once, and the sessions it opened are closed within [`super::RECHECK`].
//!
//! ```json
//! {"links":[{"name":"alice","sha256":"9f86d0…","expires":1767225600,"revoked":false}]}
//! ```

use crate::policy::Token;
use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::time::{SystemTime, UNIX_EPOCH};

/// One link.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Link {
    /// Who it is for: the identity its sessions have (`join:<name>`), in the audit log and metrics.
    pub name: String,
    /// The SHA-256 of its secret, in hex.
    pub sha256: String,
    /// When it stops working, in seconds since 1970 (UTC).
    pub expires: u64,
    /// Whether the teacher has taken it back.
    #[serde(default)]
    pub revoked: bool,
}

impl Link {
    /// Whether it admits a session at `now` (seconds since 1970).
    pub fn valid_at(&self, now: u64) -> bool {
        !self.revoked && now < self.expires
    }
}

/// The store: every link made, in the order made.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Store {
    /// The links.
    pub links: Vec<Link>,
}

/// A name a link may be made for: what a teacher would write for a student (letters, digits and
/// `.`, `_`, `-`, `@`, at most 64), so it is safe in a log line and a metric label.
pub fn check_name(name: &str) -> Result<(), String> {
    let fits = !name.is_empty()
        && name.len() <= 64
        && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-' | b'@'));
    if fits { Ok(()) } else { Err(format!("{name:?}: a name is 1 to 64 letters, digits, '.', '_', '-' or '@'")) }
}

/// The SHA-256 of a secret, in hex.
pub(crate) fn digest(secret: &str) -> String {
    Sha256::digest(secret.as_bytes()).iter().map(|b| format!("{b:02x}")).collect()
}

/// Seconds since 1970 now.
pub fn now() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

impl Store {
    /// Reads the store at `path`; a missing file is an empty store.
    pub fn load(path: &Path) -> io::Result<Store> {
        match std::fs::read_to_string(path) {
            Ok(text) => serde_json::from_str(&text)
                .map_err(|e| io::Error::new(io::ErrorKind::InvalidData, format!("{}: {e}", path.display()))),
            Err(e) if e.kind() == io::ErrorKind::NotFound => Ok(Store::default()),
            Err(e) => Err(e),
        }
    }

    /// Writes the store to `path` (mode 0600) in one step: a new file renamed over the old one.
    pub fn save(&self, path: &Path) -> io::Result<()> {
        let tmp = path.with_extension("new");
        let _ = std::fs::remove_file(&tmp);
        let mut file = std::fs::OpenOptions::new().write(true).create_new(true).mode(0o600).open(&tmp)?;
        let text = serde_json::to_string_pretty(self).map_err(io::Error::other)?;
        file.write_all(text.as_bytes())?;
        file.write_all(b"\n")?;
        file.sync_all()?;
        std::fs::rename(&tmp, path)
    }

    /// Makes a link for `name`, valid until `expires`, and returns its secret (shown once: the
    /// store keeps only its hash). A name may have one valid link: its older ones are revoked.
    pub fn add(&mut self, name: &str, expires: u64) -> Result<Token, String> {
        check_name(name)?;
        for old in self.links.iter_mut().filter(|l| l.name == name) {
            old.revoked = true;
        }
        let secret = Token::generate();
        self.links.push(Link { name: name.to_owned(), sha256: digest(secret.reveal()), expires, revoked: false });
        Ok(secret)
    }

    /// Revokes every link of `name`; whether there was one.
    pub fn revoke(&mut self, name: &str) -> bool {
        let mut found = false;
        for link in self.links.iter_mut().filter(|l| l.name == name) {
            link.revoked = true;
            found = true;
        }
        found
    }

    /// The link whose secret is `secret`, if any (valid or not).
    pub fn find(&self, secret: &str) -> Option<&Link> {
        let hash = digest(secret);
        self.links.iter().find(|l| l.sha256 == hash)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn links_admit_until_revoked_or_expired() {
        let mut store = Store::default();
        let now = now();
        let secret = store.add("alice", now + 60).unwrap_or_else(|e| panic!("{e}"));
        let link = store.find(secret.reveal()).cloned();
        assert_eq!(link.as_ref().map(|l| l.name.as_str()), Some("alice"));
        assert!(link.as_ref().is_some_and(|l| l.valid_at(now)));
        assert!(link.as_ref().is_some_and(|l| !l.valid_at(now + 60)), "expired at its time");
        assert!(store.find("not-a-secret").is_none());
        // The store never holds the secret.
        let text = serde_json::to_string(&store).unwrap_or_default();
        assert!(!text.contains(secret.reveal()));
        assert!(store.revoke("alice"));
        assert!(store.find(secret.reveal()).is_some_and(|l| !l.valid_at(now)));
        assert!(!store.revoke("bob"));
    }

    #[test]
    fn a_new_link_revokes_the_old_one() {
        let mut store = Store::default();
        let first = store.add("bob", u64::MAX).unwrap_or_else(|e| panic!("{e}"));
        let second = store.add("bob", u64::MAX).unwrap_or_else(|e| panic!("{e}"));
        assert!(store.find(first.reveal()).is_some_and(|l| l.revoked));
        assert!(store.find(second.reveal()).is_some_and(|l| !l.revoked));
    }

    #[test]
    fn names_are_plain() {
        for good in ["alice", "s2024-07", "a.b_c@school"] {
            assert_eq!(check_name(good), Ok(()));
        }
        for bad in ["", "a b", "x\ny", "é", "a\"b", &"a".repeat(65)] {
            assert!(check_name(bad).is_err(), "{bad:?}");
        }
    }

    #[test]
    fn saved_stores_load_and_are_private() {
        use std::os::unix::fs::PermissionsExt;
        let dir = std::env::temp_dir().join(format!("sockbridge-join-test-{}", std::process::id()));
        let _ = std::fs::create_dir_all(&dir);
        let path = dir.join("links.json");
        assert_eq!(Store::load(&path).ok(), Some(Store::default()), "a missing store is empty");
        let mut store = Store::default();
        let _ = store.add("carol", 1);
        store.save(&path).unwrap_or_else(|e| panic!("{e}"));
        assert_eq!(Store::load(&path).ok(), Some(store));
        let mode = std::fs::metadata(&path).map(|m| m.permissions().mode() & 0o777).unwrap_or(0);
        assert_eq!(mode, 0o600);
        let _ = std::fs::remove_dir_all(&dir);
    }
}
