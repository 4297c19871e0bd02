//! The directory that holds every AF_UNIX socket file a page creates.
//!
//! Pages name Unix sockets by a single file name (`"echo.sock"`), never a path: the daemon maps the
//! name into this directory, which is private to the daemon's user (mode 0700). Socket files are
//! made mode 0600, and a session's files are removed when the session ends. Names in results are
//! mapped back, so a page never sees the host's paths.

use crate::config::UnixSockets;
use crate::error::{OpError, OpResult};
use bridge_protocol::errno::code::ENAMETOOLONG;
use std::fs;
use std::hash::{BuildHasher, RandomState};
use std::io;
use std::os::unix::fs::{DirBuilderExt, MetadataExt, PermissionsExt};
use std::path::{Path, PathBuf};

/// The longest socket name a page may use.
pub(crate) const MAX_NAME_LEN: usize = 64;

/// Room in `sockaddr_un.sun_path` (Linux), including the terminating NUL.
pub(crate) const SUN_PATH_LEN: usize = 108;

/// The sandbox directory.
#[derive(Debug)]
pub(crate) struct Sandbox {
    dir: PathBuf,
    /// Whether the daemon made the directory for this run (and removes it at exit).
    owned: bool,
}

/// A socket file a session created, identified by device and inode so a file someone else put in
/// its place is never removed.
#[derive(Clone, Debug)]
pub(crate) struct CreatedFile {
    path: PathBuf,
    pub(crate) dev: u64,
    pub(crate) ino: u64,
}

impl Sandbox {
    /// Prepares the directory the configuration asks for; `None` when Unix sockets are disabled.
    pub(crate) fn open(config: &UnixSockets) -> io::Result<Option<Sandbox>> {
        match config {
            UnixSockets::Disabled => Ok(None),
            UnixSockets::PrivateDir => Self::private().map(Some),
            UnixSockets::Dir(dir) => Self::existing_or_new(dir).map(Some),
        }
    }

    fn private() -> io::Result<Sandbox> {
        let base = std::env::var_os("XDG_RUNTIME_DIR").map(PathBuf::from).unwrap_or_else(std::env::temp_dir);
        let state = RandomState::new();
        for attempt in 0u32..16 {
            let tag = state.hash_one((std::process::id(), attempt)) & 0xffff_ffff;
            let dir = base.join(format!("sockbridge-{}-{tag:08x}", std::process::id()));
            // `create` (not `create_all`) fails if the name exists, so a directory planted in
            // advance is never adopted.
            match fs::DirBuilder::new().mode(0o700).create(&dir) {
                Ok(()) => return Ok(Sandbox { dir, owned: true }),
                Err(e) if e.kind() == io::ErrorKind::AlreadyExists => continue,
                Err(e) => return Err(e),
            }
        }
        Err(io::Error::new(io::ErrorKind::AlreadyExists, "could not create a fresh Unix socket directory"))
    }

    fn existing_or_new(dir: &Path) -> io::Result<Sandbox> {
        private_dir(dir).map_err(|e| io::Error::new(e.kind(), format!("Unix socket directory: {e}")))?;
        Ok(Sandbox { dir: dir.to_path_buf(), owned: false })
    }

    /// The directory.
    pub(crate) fn dir(&self) -> &Path {
        &self.dir
    }

    /// The path for a page's socket name. A name is 1 to 64 characters of `A-Z a-z 0-9 . _ -`, not
    /// `.` or `..`: one file in the sandbox, never a path.
    pub(crate) fn path_for(&self, name: &str) -> OpResult<PathBuf> {
        let valid = (1..=MAX_NAME_LEN).contains(&name.len())
            && name != "."
            && name != ".."
            && name.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !valid {
            return Err(OpError::denied(
                "a Unix socket address is a file name in the bridge's socket directory: 1-64 characters of A-Z a-z 0-9 . _ - (no '/')",
            ));
        }
        let path = self.dir.join(name);
        if path.as_os_str().len() >= SUN_PATH_LEN {
            return Err(OpError::refused(ENAMETOOLONG, "the bridge's socket directory leaves no room for this name"));
        }
        Ok(path)
    }

    /// The name a page sees for a socket path: the file name inside the sandbox, or the path as it
    /// is for a socket elsewhere (only a peer outside the bridge can have one).
    pub(crate) fn name_of(&self, path: &Path) -> String {
        match path.strip_prefix(&self.dir) {
            Ok(rest) => rest.to_string_lossy().into_owned(),
            Err(_) => path.to_string_lossy().into_owned(),
        }
    }

    /// Records a socket file just bound, and makes it mode 0600.
    pub(crate) fn created(&self, path: &Path) -> Option<CreatedFile> {
        // The directory is 0700, so the file is reachable by nobody else even before this chmod.
        let _ = fs::set_permissions(path, fs::Permissions::from_mode(0o600));
        let meta = fs::symlink_metadata(path).ok()?;
        Some(CreatedFile { path: path.to_path_buf(), dev: meta.dev(), ino: meta.ino() })
    }

    /// Whether the file at `path` is a socket file the daemon created, by its device and inode:
    /// `None` if there is no file, else whether `created` says so of its (device, inode).
    pub(crate) fn check_file(path: &Path, created: impl Fn(u64, u64) -> bool) -> Option<bool> {
        let meta = fs::symlink_metadata(path).ok()?;
        Some(!meta.file_type().is_symlink() && created(meta.dev(), meta.ino()))
    }

    /// Removes a file a session created, if it is still the same file.
    pub(crate) fn remove(&self, file: &CreatedFile) {
        let same = fs::symlink_metadata(&file.path).is_ok_and(|m| m.dev() == file.dev && m.ino() == file.ino);
        if same && let Err(e) = fs::remove_file(&file.path) {
            tracing::warn!(error = %e, "could not remove a session's socket file");
        }
    }
}

/// Makes `dir` (mode 0700) or checks that an existing one is a directory of this user, not a
/// symbolic link, and closed to group and others.
pub(crate) fn private_dir(dir: &Path) -> io::Result<()> {
    match std::fs::symlink_metadata(dir) {
        Err(e) if e.kind() == io::ErrorKind::NotFound => std::fs::DirBuilder::new().mode(0o700).create(dir),
        Err(e) => Err(e),
        Ok(meta) => {
            // SAFETY: geteuid has no preconditions and cannot fail.
            let me = unsafe { libc::geteuid() };
            let problem = if meta.file_type().is_symlink() {
                Some("is a symbolic link")
            } else if !meta.is_dir() {
                Some("is not a directory")
            } else if meta.uid() != me {
                Some("is owned by another user")
            } else if meta.permissions().mode() & 0o077 != 0 {
                Some("is open to group or others (it must be mode 0700)")
            } else {
                None
            };
            match problem {
                Some(why) => Err(io::Error::new(io::ErrorKind::PermissionDenied, format!("{} {why}", dir.display()))),
                None => Ok(()),
            }
        }
    }
}

impl Drop for Sandbox {
    fn drop(&mut self) {
        if self.owned
            && let Err(e) = fs::remove_dir_all(&self.dir)
        {
            tracing::warn!(error = %e, dir = %self.dir.display(), "could not remove the Unix socket directory");
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_are_single_components() {
        let sandbox = match Sandbox::private() {
            Ok(s) => s,
            Err(e) => panic!("no sandbox: {e}"),
        };
        assert!(sandbox.path_for("echo.sock").is_ok());
        assert!(sandbox.path_for("a-b_c.1").is_ok());
        for bad in ["", ".", "..", "../x", "a/b", "/etc/x", "x\0y", "a b", "é.sock", "\0abstract", &"x".repeat(65)] {
            assert!(sandbox.path_for(bad).is_err(), "{bad:?} accepted");
        }
        let path = sandbox.path_for("echo.sock").unwrap_or_default();
        assert_eq!(sandbox.name_of(&path), "echo.sock");
        let dir = sandbox.dir().to_path_buf();
        assert_eq!(fs::metadata(&dir).map(|m| m.permissions().mode() & 0o777).ok(), Some(0o700));
        drop(sandbox);
        assert!(!dir.exists());
    }

    #[test]
    fn refuses_unsafe_existing_dirs() {
        let base = Sandbox::private().unwrap_or_else(|e| panic!("{e}"));
        let open = base.dir().join("open");
        fs::DirBuilder::new().mode(0o755).create(&open).unwrap_or_else(|e| panic!("{e}"));
        fs::set_permissions(&open, fs::Permissions::from_mode(0o755)).unwrap_or_else(|e| panic!("{e}"));
        assert!(Sandbox::existing_or_new(&open).is_err());
        let link = base.dir().join("link");
        std::os::unix::fs::symlink(base.dir(), &link).unwrap_or_else(|e| panic!("{e}"));
        assert!(Sandbox::existing_or_new(&link).is_err());
        let fresh = base.dir().join("fresh");
        assert!(Sandbox::existing_or_new(&fresh).is_ok());
        assert!(Sandbox::existing_or_new(&fresh).is_ok());
    }
}
