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

/// One refusal.
#[derive(Debug, Serialize)]
pub(crate) struct Event<'a> {
    /// The session, or `None` for a refused handshake.
    pub(crate) session: Option<u64>,
    /// The page's origin (`None`: no Origin header).
    pub(crate) origin: Option<&'a str>,
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

/// Where refusals are recorded: the tracing log always (at `info`), and a JSONL file if configured.
#[derive(Debug, Default)]
pub(crate) struct Audit {
    file: Option<mpsc::SyncSender<String>>,
    dropped: Arc<AtomicU64>,
}

impl Audit {
    /// An audit log appending to `path` (created 0600), or only the tracing log for `None`.
    pub(crate) fn open(path: Option<&Path>) -> io::Result<Audit> {
        let Some(path) = path else { return Ok(Audit::default()) };
        let mut file = std::fs::OpenOptions::new().append(true).create(true).mode(0o600).open(path)?;
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
        Ok(Audit { file: Some(tx), dropped })
    }

    /// Records a refusal.
    pub(crate) fn refusal(&self, event: &Event<'_>) {
        tracing::info!(
            session = event.session,
            origin = event.origin.unwrap_or("(none)"),
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
