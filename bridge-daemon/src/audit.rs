//! The audit log: one JSON line for every refusal.
//!
//! Each line says when, which session and origin, what was attempted (`op`), what it named
//! (`target`, as the page wrote it), the address it resolved to (`resolved`), and which rule or
//! check refused it (`rule`), with the reason in words:
//!
//! ```json
//! {"time":"2026-11-25T09:41:07.042Z","session":3,"origin":"http://127.0.0.1:7320","op":"connect","target":"127.0.0.1:9222","resolved":"127.0.0.1:9222","rule":"default-deny","reason":"..."}
//! ```
//!
//! It never holds a token or a payload. Lines are written by a thread of their own through a bounded
//! queue, so a page provoking refusals cannot slow the daemon or grow its memory: when the queue is
//! full, lines are dropped and counted, and the count is logged when there is room again.

use serde::Serialize;
use std::io::{self, Write as _};
use std::os::unix::fs::OpenOptionsExt;
use std::path::Path;
use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, mpsc};

/// Lines waiting for the writer at most.
const QUEUE: usize = 4096;

/// Refused handshakes recorded per second at most, on average, and at once: any web page can make
/// a browser knock, so their lines are rationed (the rest are counted as dropped), while a
/// session's refusals come from an admitted page, whose own rate limits bound them.
const HANDSHAKE_LINES_PER_SEC: u32 = 10;
const HANDSHAKE_LINES_BURST: u32 = 100;

/// Refusals recorded per second at most for one session, on average, and at once: an admitted
/// page refused in a loop (a `sendto` to a forbidden address is cheap) must not fill the disk.
const SESSION_LINES_PER_SEC: u32 = 100;
const SESSION_LINES_BURST: u32 = 1000;

/// A session's ration of audit lines.
pub(crate) fn session_ration() -> std::sync::Mutex<crate::rate::TokenBucket> {
    std::sync::Mutex::new(crate::rate::TokenBucket::new(SESSION_LINES_PER_SEC, SESSION_LINES_BURST))
}

/// One refusal.
#[derive(Debug, Serialize)]
pub(crate) struct Event<'a> {
    /// The session, or `None` for a refused handshake.
    pub(crate) session: Option<u64>,
    /// The page's origin (`None`: no Origin header).
    pub(crate) origin: Option<&'a str>,
    /// Who, in a hosted daemon: `join:<name>` or `user:<name>` (never the link's secret).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub(crate) identity: Option<&'a str>,
    /// What was attempted: `handshake`, `connect`, `sendto`, `bind`, `socket`.
    pub(crate) op: &'a str,
    /// What the request named.
    pub(crate) target: String,
    /// The address it resolved to, if it got that far.
    pub(crate) resolved: Option<String>,
    /// The rule or check that refused.
    pub(crate) rule: String,
    /// Why, in words.
    pub(crate) reason: String,
}

#[derive(Serialize)]
struct Line<'a> {
    time: String,
    #[serde(flatten)]
    event: &'a Event<'a>,
}

/// Opens the audit log for appending (created 0600), without following a symbolic link at `path`;
/// it must be a regular file of the daemon's user. Otherwise someone who can write the directory
/// could plant a link and have page-chosen text appended to a file of their choosing.
pub(crate) fn open_file(path: &Path) -> io::Result<std::fs::File> {
    use std::os::unix::fs::MetadataExt;
    let refuse =
        |why: &str| io::Error::new(io::ErrorKind::PermissionDenied, format!("audit log {}: {why}", path.display()));
    let file = std::fs::OpenOptions::new()
        .append(true)
        .create(true)
        .mode(0o600)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(path)
        .map_err(|e| match e.raw_os_error() {
            Some(libc::ELOOP) => refuse("is a symbolic link"),
            Some(libc::EISDIR) => refuse("is a directory"),
            _ => e,
        })?;
    let meta = file.metadata()?;
    if !meta.file_type().is_file() {
        return Err(refuse("is not a regular file"));
    }
    // SAFETY: geteuid has no preconditions.
    if meta.uid() != unsafe { libc::geteuid() } {
        return Err(refuse("belongs to another user"));
    }
    Ok(file)
}

/// Where refusals are recorded: the tracing log always (at `info`), and a JSONL file if configured.
#[derive(Debug)]
pub(crate) struct Audit {
    file: Option<mpsc::SyncSender<String>>,
    dropped: Arc<AtomicU64>,
    handshakes: std::sync::Mutex<crate::rate::TokenBucket>,
    /// The daemon's counters, refusals among them (every refusal is counted, rationed or not).
    pub(crate) metrics: crate::metrics::Metrics,
}

impl Default for Audit {
    fn default() -> Self {
        Audit {
            file: None,
            dropped: Arc::default(),
            handshakes: std::sync::Mutex::new(crate::rate::TokenBucket::new(
                HANDSHAKE_LINES_PER_SEC,
                HANDSHAKE_LINES_BURST,
            )),
            metrics: crate::metrics::Metrics::default(),
        }
    }
}

impl Audit {
    /// An audit log appending to `path` (see [`open_file`]), or only the tracing log for `None`.
    pub(crate) fn open(path: Option<&Path>) -> io::Result<Audit> {
        let Some(path) = path else { return Ok(Audit::default()) };
        let mut file = open_file(path)?;
        let (tx, rx) = mpsc::sync_channel::<String>(QUEUE);
        let dropped = Arc::new(AtomicU64::new(0));
        let counter = Arc::clone(&dropped);
        std::thread::Builder::new().name("audit-log".into()).spawn(move || {
            let mut out = io::BufWriter::new(&mut file);
            while let Ok(line) = rx.recv() {
                let _ = writeln!(out, "{line}");
                let lost = counter.swap(0, Ordering::Relaxed);
                if lost > 0 {
                    let _ = writeln!(
                        out,
                        "{{\"time\":\"{}\",\"dropped\":{lost}}}",
                        crate::clock::rfc3339(std::time::SystemTime::now())
                    );
                }
                while let Ok(line) = rx.try_recv() {
                    let _ = writeln!(out, "{line}");
                }
                let _ = out.flush();
            }
        })?;
        Ok(Audit { file: Some(tx), dropped, ..Audit::default() })
    }

    /// Records a refused handshake, within the daemon's ration for them
    /// (`HANDSHAKE_LINES_PER_SEC`; the rest are counted as dropped).
    pub(crate) fn handshake_refusal(&self, event: &Event<'_>) {
        self.rationed(event, &self.handshakes);
    }

    /// Records a refusal of a session, within the session's `ration` of lines
    /// (`session_ration`; the rest are counted as dropped).
    pub(crate) fn session_refusal(&self, event: &Event<'_>, ration: &std::sync::Mutex<crate::rate::TokenBucket>) {
        self.rationed(event, ration);
    }

    /// Writes the line (to the log, and to the file if there is one) if `ration` has room.
    fn rationed(&self, event: &Event<'_>, ration: &std::sync::Mutex<crate::rate::TokenBucket>) {
        self.metrics.refused(&event.rule);
        if !crate::lock(ration).try_take() {
            self.dropped.fetch_add(1, Ordering::Relaxed);
            return;
        }
        tracing::info!(
            session = event.session,
            origin = event.origin.unwrap_or("(none)"),
            identity = event.identity.unwrap_or("(none)"),
            op = event.op,
            target = %event.target,
            resolved = event.resolved.as_deref().unwrap_or("-"),
            rule = %event.rule,
            "refused: {}",
            event.reason
        );
        if let Some(tx) = &self.file {
            let line = Line { time: crate::clock::rfc3339(std::time::SystemTime::now()), event };
            if let Ok(text) = serde_json::to_string(&line)
                && tx.try_send(text).is_err()
            {
                self.dropped.fetch_add(1, Ordering::Relaxed);
            }
        }
    }
}
