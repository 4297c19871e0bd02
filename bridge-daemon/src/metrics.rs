//! What the daemon is doing, for whoever runs it: counters kept as the daemon works, and gauges
//! read when asked, served as `GET /metrics` in Prometheus's text format (version 0.0.4) and
//! `GET /healthz` on `--metrics-listen` (never on the pages' port: the metrics name identities).
//!
//! ```text
//! # HELP sockbridge_sessions WebSocket sessions open.
//! # TYPE sockbridge_sessions gauge
//! sockbridge_sessions 3
//! ```
//!
//! Every name is `sockbridge_…`; counters end in `_total`. Labels are the identity (`join:<name>`,
//! `user:<name>`: a class's names, not the secret) and the refusing rule (a fixed set, plus the
//! operator's own rules).

use std::collections::BTreeMap;
use std::fmt::Write as _;
use std::sync::Mutex;
use std::sync::atomic::{AtomicU64, Ordering};

/// The counters.
#[derive(Debug, Default)]
pub(crate) struct Metrics {
    /// Sessions opened since start.
    pub(crate) sessions_opened: AtomicU64,
    /// Sessions ended by the daemon for a fault of its own (a panic) or a page that stopped reading.
    pub(crate) session_errors: AtomicU64,
    /// WebSocket message bytes read from pages.
    pub(crate) bytes_in: AtomicU64,
    /// WebSocket message bytes written to pages.
    pub(crate) bytes_out: AtomicU64,
    /// Refusals (handshakes and operations), by rule.
    refusals: Mutex<BTreeMap<String, u64>>,
}

impl Metrics {
    /// Counts one refusal by `rule`.
    pub(crate) fn refused(&self, rule: &str) {
        let mut refusals = crate::lock(&self.refusals);
        match refusals.get_mut(rule) {
            Some(n) => *n += 1,
            None => {
                refusals.insert(rule.to_owned(), 1);
            }
        }
    }

    /// Adds `n` to `counter`.
    pub(crate) fn add(counter: &AtomicU64, n: usize) {
        counter.fetch_add(n as u64, Ordering::Relaxed);
    }
}

/// What the gauges read at one moment.
pub(crate) struct Gauges {
    pub(crate) sessions: usize,
    pub(crate) max_sessions: usize,
    pub(crate) sockets: usize,
    pub(crate) max_sockets: usize,
    pub(crate) networks: usize,
    pub(crate) max_networks: usize,
    pub(crate) draining: bool,
    /// Open sessions by identity.
    pub(crate) identities: Vec<(String, usize)>,
}

/// The text format: one metric's help, type and samples.
fn metric(out: &mut String, name: &str, kind: &str, help: &str, samples: &[(Option<(&str, &str)>, u64)]) {
    let _ = writeln!(out, "# HELP sockbridge_{name} {help}");
    let _ = writeln!(out, "# TYPE sockbridge_{name} {kind}");
    for (label, value) in samples {
        match label {
            Some((key, text)) => {
                let _ = writeln!(out, "sockbridge_{name}{{{key}=\"{}\"}} {value}", escape(text));
            }
            None => {
                let _ = writeln!(out, "sockbridge_{name} {value}");
            }
        }
    }
}

/// A label value as the text format writes it.
fn escape(text: &str) -> String {
    text.replace('\\', "\\\\").replace('"', "\\\"").replace('\n', "\\n")
}

/// `/metrics`.
pub(crate) fn render(m: &Metrics, g: &Gauges) -> String {
    let mut out = String::new();
    let one = |v: usize| [(None, v as u64)];
    metric(&mut out, "sessions", "gauge", "WebSocket sessions open.", &one(g.sessions));
    metric(&mut out, "sessions_max", "gauge", "WebSocket sessions the daemon allows at once.", &one(g.max_sessions));
    let opened = m.sessions_opened.load(Ordering::Relaxed);
    metric(&mut out, "sessions_opened_total", "counter", "WebSocket sessions opened since start.", &[(None, opened)]);
    metric(&mut out, "sockets", "gauge", "Sockets the pages hold open.", &one(g.sockets));
    metric(&mut out, "sockets_max", "gauge", "Sockets all pages together may hold.", &one(g.max_sockets));
    metric(&mut out, "networks", "gauge", "Private networks (one per session or identity).", &one(g.networks));
    metric(&mut out, "networks_max", "gauge", "Private networks the daemon allows at once.", &one(g.max_networks));
    let bytes_in = m.bytes_in.load(Ordering::Relaxed);
    let bytes_out = m.bytes_out.load(Ordering::Relaxed);
    metric(
        &mut out,
        "received_bytes_total",
        "counter",
        "WebSocket message bytes read from pages.",
        &[(None, bytes_in)],
    );
    metric(&mut out, "sent_bytes_total", "counter", "WebSocket message bytes written to pages.", &[(None, bytes_out)]);
    let refusals: Vec<(String, u64)> = crate::lock(&m.refusals).iter().map(|(k, v)| (k.clone(), *v)).collect();
    let samples: Vec<_> = refusals.iter().map(|(rule, n)| (Some(("rule", rule.as_str())), *n)).collect();
    metric(&mut out, "refusals_total", "counter", "Handshakes and operations refused, by rule.", &samples);
    let errors = m.session_errors.load(Ordering::Relaxed);
    metric(
        &mut out,
        "session_errors_total",
        "counter",
        "Sessions the daemon ended for a fault: a panic, or a page that stopped reading.",
        &[(None, errors)],
    );
    let samples: Vec<_> = g.identities.iter().map(|(who, n)| (Some(("identity", who.as_str())), *n as u64)).collect();
    metric(&mut out, "identity_sessions", "gauge", "Sessions open, by identity (hosted daemons).", &samples);
    metric(
        &mut out,
        "draining",
        "gauge",
        "1 while the daemon is stopping and takes no new sessions.",
        &one(usize::from(g.draining)),
    );
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_text_format() {
        let m = Metrics::default();
        m.refused("token");
        m.refused("token");
        m.refused("join-link");
        Metrics::add(&m.bytes_in, 10);
        let g = Gauges {
            sessions: 2,
            max_sessions: 64,
            sockets: 5,
            max_sockets: 1024,
            networks: 1,
            max_networks: 64,
            draining: false,
            identities: vec![("join:a\"b".into(), 2)],
        };
        let text = render(&m, &g);
        for line in [
            "# TYPE sockbridge_sessions gauge",
            "sockbridge_sessions 2",
            "sockbridge_refusals_total{rule=\"token\"} 2",
            "sockbridge_refusals_total{rule=\"join-link\"} 1",
            "sockbridge_received_bytes_total 10",
            "sockbridge_identity_sessions{identity=\"join:a\\\"b\"} 2",
            "sockbridge_draining 0",
        ] {
            assert!(text.lines().any(|l| l == line), "{line} missing from:\n{text}");
        }
        // Every sample line belongs to a metric declared above it.
        let mut declared = Vec::new();
        for l in text.lines() {
            if let Some(rest) = l.strip_prefix("# TYPE ") {
                declared.push(rest.split(' ').next().unwrap_or_default().to_owned());
            } else if !l.starts_with('#') {
                let name = l.split(['{', ' ']).next().unwrap_or_default();
                assert_eq!(declared.last().map(String::as_str), Some(name), "{l}");
            }
        }
    }
}
