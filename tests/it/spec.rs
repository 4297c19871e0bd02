//! The worked exchange in docs/protocol.md, replayed against a real daemon: the spec's example is
//! a test, so it stays true. Ports in the spec (40000, 50000) stand for the kernel's ephemeral ports.

use serde_json::Value;
use sockbridge_tests::TestDaemon;
use std::collections::HashMap;

/// The `→`/`←` lines of the exchange named `name`.
fn exchange(name: &str) -> Vec<(bool, Value)> {
    let spec = std::fs::read_to_string(concat!(env!("CARGO_MANIFEST_DIR"), "/../docs/protocol.md")).unwrap();
    let marker = format!("<!-- exchange: {name} ");
    let start = spec.find(&marker).unwrap_or_else(|| panic!("no exchange {name} in docs/protocol.md"));
    let block = &spec[start..];
    let block = &block[block.find("```text").unwrap() + 7..];
    let block = &block[..block.find("```").unwrap()];
    block
        .lines()
        .filter(|l| !l.trim().is_empty())
        .map(|line| {
            let (to_daemon, json) = match (line.strip_prefix("→ "), line.strip_prefix("← ")) {
                (Some(j), _) => (true, j),
                (_, Some(j)) => (false, j),
                _ => panic!("a line of the exchange is neither → nor ←: {line}"),
            };
            (to_daemon, serde_json::from_str(json).unwrap_or_else(|e| panic!("{line}: {e}")))
        })
        .collect()
}

fn is_address(items: &[Value]) -> bool {
    matches!(items.len(), 2 | 4) && items[0].is_string() && items[1].is_u64()
}

/// Whether the daemon's `real` answer is the spec's `doc` answer, up to ports; learns the ports.
fn matches(doc: &Value, real: &Value, ports: &mut HashMap<u64, u64>) -> bool {
    match (doc, real) {
        (Value::Array(d), Value::Array(r)) if is_address(d) && is_address(r) && d.len() == r.len() => {
            let (dp, rp) = (d[1].as_u64().unwrap(), r[1].as_u64().unwrap());
            let port_ok = if dp == 0 { rp == 0 } else { *ports.entry(dp).or_insert(rp) == rp };
            port_ok && d.iter().zip(r).enumerate().all(|(i, (a, b))| i == 1 || a == b)
        }
        (Value::Array(d), Value::Array(r)) => d.len() == r.len() && d.iter().zip(r).all(|(a, b)| matches(a, b, ports)),
        (Value::Object(d), Value::Object(r)) => {
            d.len() == r.len() && d.iter().all(|(k, v)| r.get(k).is_some_and(|rv| matches(v, rv, ports)))
        }
        _ => doc == real,
    }
}

/// The spec's request with its placeholder ports replaced by the real ones.
fn substitute(v: &mut Value, ports: &HashMap<u64, u64>) {
    match v {
        Value::Array(items) if is_address(items) => {
            if let Some(real) = items[1].as_u64().and_then(|p| ports.get(&p)) {
                items[1] = Value::from(*real);
            }
        }
        Value::Array(items) => items.iter_mut().for_each(|i| substitute(i, ports)),
        Value::Object(map) => map.values_mut().for_each(|i| substitute(i, ports)),
        _ => {}
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_worked_exchange_in_the_spec_is_what_the_daemon_does() {
    let daemon = TestDaemon::start().await;
    let mut raw = daemon.raw().await;
    let mut ports = HashMap::new();
    let lines = exchange("tcp-echo");
    assert!(lines.len() >= 30, "the exchange has {} lines", lines.len());
    for (to_daemon, mut message) in lines {
        if to_daemon {
            substitute(&mut message, &ports);
            raw.send_text(message.to_string()).await;
        } else {
            let got = raw.recv().await;
            assert!(matches(&message, &got, &mut ports), "spec: {message}\ndaemon: {got}");
        }
    }
    assert_eq!(ports.len(), 2, "both placeholder ports were seen");
}
