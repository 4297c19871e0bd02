//! The conformance suite: every scenario in `scenarios/` runs on CPython's own `socket` module
//! (`runner.py`, stdlib only) and through the bridge (here, with the native client against a real
//! daemon), and the two transcripts must match, step by step: return values, addresses (with
//! ephemeral ports and fd numbers abstracted), exception classes and errno names.
//!
//! A step may differ only where the scenario says so with `"bridge": {"why": ID, "expect": ...}`
//! and `docs/protocol.md` documents `ID` under "Differences from CPython"; the bridge must then give
//! exactly `expect`. The format is described in `tests/conformance/README.md`.

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, unreachable_pub)]

use serde::Deserialize;
use serde_json::{Value, json};
use sockbridge_tests::TestDaemon;
use sockbridge_tests::wasm_client::{
    AF_INET, Address, Bridge, Codec, Error, GetaddrinfoParams, OptValue, SOCK_STREAM, Service, Socket, SocketFile,
};
use std::collections::{BTreeMap, HashMap};
use std::path::{Path, PathBuf};
use std::process::ExitCode;
use std::sync::Arc;
use std::time::Duration;
use tokio::sync::Mutex;

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Scenario {
    about: String,
    steps: Vec<Step>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Step {
    #[serde(rename = "do")]
    op: String,
    #[serde(default)]
    args: Vec<Value>,
    #[serde(default, rename = "as")]
    bind: Option<Value>,
    /// A documented, intended difference: the bridge gives `expect` here.
    #[serde(default)]
    bridge: Option<Difference>,
    #[serde(default)]
    #[allow(dead_code)]
    note: Option<String>,
}

#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct Difference {
    why: String,
    expect: Value,
}

fn main() -> ExitCode {
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(run())
}

async fn run() -> ExitCode {
    let root = Path::new(env!("CARGO_MANIFEST_DIR"));
    let dir = root.join("conformance/scenarios");
    let mut paths: Vec<PathBuf> = std::fs::read_dir(&dir)
        .unwrap()
        .map(|e| e.unwrap().path())
        .filter(|p| p.extension().is_some_and(|e| e == "json"))
        .collect();
    paths.sort();
    let spec = std::fs::read_to_string(root.join("../docs/protocol.md")).expect("docs/protocol.md");
    let python_version = std::process::Command::new("python3")
        .arg("--version")
        .output()
        .map(|o| String::from_utf8_lossy(&o.stdout).trim().to_owned());
    let Ok(python_version) = python_version else {
        println!("conformance: python3 is required (CPython is the reference) and was not found");
        println!("0 passed, 1 failed");
        return ExitCode::FAILURE;
    };
    let output = std::process::Command::new("python3")
        .arg(root.join("conformance/runner.py"))
        .args(&paths)
        .output()
        .expect("run python3");
    if !output.status.success() {
        println!("conformance: the CPython runner failed:\n{}", String::from_utf8_lossy(&output.stderr));
        println!("0 passed, 1 failed");
        return ExitCode::FAILURE;
    }
    let python: BTreeMap<String, Vec<Value>> = serde_json::from_slice(&output.stdout).unwrap();

    let mut tally = Tally::default();
    for path in &paths {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let scenario: Scenario = serde_json::from_str(&std::fs::read_to_string(path).unwrap())
            .unwrap_or_else(|e| panic!("{}: {e}", path.display()));
        assert!(!scenario.about.is_empty(), "{name}: say what the scenario shows in \"about\"");
        // Through each codec, in a daemon of its own; both must tell the same story.
        let mut transcripts = Vec::new();
        for codec in [Codec::Msgpack, Codec::Json] {
            let daemon = TestDaemon::start().await;
            let mut bridge = tokio::time::timeout(Duration::from_secs(60), run_bridge(&daemon, &scenario, codec))
                .await
                .unwrap_or_else(|_| panic!("{name}: the bridge run hung ({codec:?})"));
            daemon.stop().await;
            abstract_transcript(&mut bridge);
            transcripts.push(bridge);
        }
        let bridge = transcripts.swap_remove(0);
        let mut cpython = python.get(&name).cloned().unwrap_or_default();
        abstract_transcript(&mut cpython);
        let same = transcripts[0] == bridge;
        let outcome = compare(&scenario, &cpython, &bridge, &spec).and_then(|diffs| {
            if same {
                Ok(diffs)
            } else {
                Err(vec![format!("MessagePack and JSON sessions differ: {bridge:?} vs {:?}", transcripts[0])])
            }
        });
        tally.add("conformance", name, outcome, true);
    }
    let total = paths.len();
    println!(
        "conformance: {total} scenarios run on {python_version} and through the bridge (MessagePack and JSON sessions, the same): {}",
        tally.summary()
    );
    let private_failed = run_private(&paths, &python, &spec).await;
    let failures = tally.failed.len() + private_failed;
    println!("{} passed, {} failed", 2 * total - failures, failures);
    if failures == 0 && total > 0 { ExitCode::SUCCESS } else { ExitCode::FAILURE }
}

/// The differences that exist only because a session shares the daemon computer's loopback: in a
/// private network the kernel answers alone, and these steps must be CPython's.
const SHARED_ONLY: [&str; 5] = ["wildcard-bind", "loopback-autobind", "bind-policy", "egress-policy", "udp-reuseaddr"];

/// Every scenario again, in a session with a private network (MessagePack): returns how many
/// mismatched. Needs root; without it the daemon shares the loopback, and the run says so.
async fn run_private(paths: &[PathBuf], python: &BTreeMap<String, Vec<Value>>, spec: &str) -> usize {
    let private = || TestDaemon::start_with(|c| c.network = bridge_daemon::NetworkMode::Private);
    let daemon = private().await;
    let probe = Bridge::connect(&daemon.url).await.expect("connect");
    let mode = probe.hello().network.as_ref().map(|n| n.mode.clone()).unwrap_or_default();
    probe.close();
    daemon.stop().await;
    if mode != "private" {
        println!("conformance in a private network: not run (this process may not make network namespaces)");
        return 0;
    }
    let mut tally = Tally::default();
    for path in paths {
        let name = path.file_stem().unwrap().to_string_lossy().into_owned();
        let mut scenario: Scenario = serde_json::from_str(&std::fs::read_to_string(path).unwrap()).unwrap();
        let daemon = private().await;
        for step in &mut scenario.steps {
            if step.bridge.as_ref().is_some_and(|d| SHARED_ONLY.contains(&d.why.as_str())) {
                step.bridge = None;
            }
            // The one difference a private network has: the computer is the host, not this one.
            if step.op == "gethostname" && step.bridge.is_none() {
                step.bridge = Some(Difference { why: "private-hostname".into(), expect: json!({"ok": "pc1"}) });
            }
        }
        let mut bridge = tokio::time::timeout(Duration::from_secs(60), run_bridge(&daemon, &scenario, Codec::Msgpack))
            .await
            .unwrap_or_else(|_| panic!("{name}: the bridge run hung (private network)"));
        daemon.stop().await;
        abstract_transcript(&mut bridge);
        let mut cpython = python.get(&name).cloned().unwrap_or_default();
        abstract_transcript(&mut cpython);
        tally.add("conformance in a private network", name, compare(&scenario, &cpython, &bridge, spec), false);
    }
    println!("conformance in a private network: {} scenarios: {}", paths.len(), tally.summary());
    tally.failed.len()
}

/// How the scenarios of one run compared with CPython.
#[derive(Default)]
struct Tally {
    identical: usize,
    documented: Vec<String>,
    failed: Vec<String>,
}

impl Tally {
    /// Counts a scenario's comparison and prints it after `label` (an identical one only when
    /// `say_identical`).
    fn add(&mut self, label: &str, name: String, outcome: Result<Vec<String>, Vec<String>>, say_identical: bool) {
        match outcome {
            Ok(diffs) if diffs.is_empty() => {
                self.identical += 1;
                if say_identical {
                    println!("{label}: {name} ... identical to CPython");
                }
            }
            Ok(diffs) => {
                println!("{label}: {name} ... documented difference ({})", diffs.join(", "));
                self.documented.push(name);
            }
            Err(problems) => {
                println!("{label}: {name} ... MISMATCH");
                for p in &problems {
                    println!("    {p}");
                }
                self.failed.push(name);
            }
        }
    }

    /// "46 identical, 6 with documented differences (names...), 0 mismatched".
    fn summary(&self) -> String {
        format!(
            "{} identical, {} with documented differences ({}), {} mismatched",
            self.identical,
            self.documented.len(),
            self.documented.join(", "),
            self.failed.len()
        )
    }
}

/// Checks every step: equal, or a documented difference with the bridge giving what is expected.
fn compare(scenario: &Scenario, cpython: &[Value], bridge: &[Value], spec: &str) -> Result<Vec<String>, Vec<String>> {
    let mut problems = Vec::new();
    let mut differences = Vec::new();
    if cpython.len() != scenario.steps.len() || bridge.len() != scenario.steps.len() {
        problems.push(format!(
            "step counts: scenario {}, CPython {}, bridge {}",
            scenario.steps.len(),
            cpython.len(),
            bridge.len()
        ));
        return Err(problems);
    }
    for (i, ((step, py), br)) in scenario.steps.iter().zip(cpython).zip(bridge).enumerate() {
        match &step.bridge {
            None if py == br => {}
            None => problems.push(format!("step {i} `{}`: CPython {py}, bridge {br}", step.op)),
            Some(diff) => {
                if !spec.contains(&format!("id=\"diff-{}\"", diff.why)) {
                    problems.push(format!("step {i}: difference '{}' is not documented in docs/protocol.md", diff.why));
                } else if *br != diff.expect {
                    problems.push(format!("step {i} `{}`: bridge {br}, documented as {}", step.op, diff.expect));
                } else if py != br {
                    // Equal is fine too: CPython's side may depend on the machine (a non-root user
                    // gets the same PermissionError the bridge gives everyone).
                    differences.push(format!("step {i}: {}", diff.why));
                }
            }
        }
    }
    if problems.is_empty() { Ok(differences) } else { Err(problems) }
}

/// Replaces each distinct non-zero port and each fd number with a label in order of first
/// appearance, so runs on different ports and fds compare equal.
fn abstract_transcript(transcript: &mut [Value]) {
    let mut ports: HashMap<u64, usize> = HashMap::new();
    let mut fds: HashMap<u64, usize> = HashMap::new();
    fn walk(v: &mut Value, ports: &mut HashMap<u64, usize>, fds: &mut HashMap<u64, usize>) {
        match v {
            Value::Object(map) => {
                if let Some(Value::Array(addr)) = map.get_mut("addr")
                    && let Some(port) = addr.get_mut(1)
                    && let Some(n) = port.as_u64().filter(|n| *n != 0)
                {
                    let next = ports.len() + 1;
                    *port = json!(format!("port#{}", ports.entry(n).or_insert(next)));
                }
                if let Some(fd) = map.get_mut("fd")
                    && let Some(n) = fd.as_u64()
                {
                    let next = fds.len() + 1;
                    *fd = json!(format!("fd#{}", fds.entry(n).or_insert(next)));
                }
                for value in map.values_mut() {
                    walk(value, ports, fds);
                }
            }
            Value::Array(items) => items.iter_mut().for_each(|i| walk(i, ports, fds)),
            _ => {}
        }
    }
    for v in transcript {
        walk(v, &mut ports, &mut fds);
    }
}

/// What a scenario name stands for on the bridge side.
enum Var {
    Sock(Socket),
    File(Arc<Mutex<SocketFile>>),
    Addr(Option<Address>),
    Bytes(Vec<u8>),
    Other,
}

struct Run<'a> {
    bridge: &'a Bridge,
    env: HashMap<String, Var>,
}

/// Runs a scenario through the bridge and returns its transcript.
async fn run_bridge(daemon: &TestDaemon, scenario: &Scenario, codec: Codec) -> Vec<Value> {
    let bridge = daemon.client_with(codec).await;
    let mut run = Run { bridge: &bridge, env: HashMap::new() };
    let mut transcript = Vec::new();
    for step in &scenario.steps {
        transcript.push(match run.step(step).await {
            Ok(v) => json!({"ok": v}),
            Err(e) => raised(&e),
        });
    }
    bridge.close();
    transcript
}

fn raised(e: &Error) -> Value {
    match e {
        Error::Os(os) if os.exception == "gaierror" => json!({"raise": "gaierror", "errno": os.errno}),
        Error::Os(os) => match &os.errname {
            Some(name) => json!({"raise": os.exception, "errno": name}),
            None => json!({"raise": os.exception, "message": os.message()}),
        },
        Error::Value(message) => json!({"raise": "ValueError", "message": message}),
        other => json!({"raise": other.exception()}),
    }
}

/// The value of a socket constant a scenario names, from the protocol crate's list.
fn constant(name: &str) -> Option<i64> {
    bridge_protocol::constants::all().find(|(n, _)| *n == name).map(|(_, v)| i64::from(v))
}

fn latin1(text: &str) -> Vec<u8> {
    text.chars().map(|c| u8::try_from(u32::from(c)).expect("latin-1 text")).collect()
}

fn bytes_value(data: &[u8]) -> Value {
    json!({"bytes": data.iter().map(|&b| char::from(b)).collect::<String>()})
}

fn addr_value(addr: &Option<Address>) -> Value {
    match addr {
        None => Value::Null,
        Some(Address::Unix(name)) => json!({"unix": name}),
        Some(a @ (Address::Inet { .. } | Address::Inet6 { .. })) => json!({"addr": a}),
    }
}

impl Run<'_> {
    fn var(&self, value: &Value) -> Option<&Var> {
        value.as_str().and_then(|s| s.strip_prefix('$')).and_then(|name| self.env.get(name))
    }

    fn int(&self, value: &Value) -> i64 {
        match value {
            Value::Bool(b) => i64::from(*b),
            Value::Number(n) => n.as_i64().expect("an integer"),
            Value::String(s) => constant(s).unwrap_or_else(|| panic!("unknown constant {s}")),
            Value::Object(m) if m.contains_key("or") => {
                m["or"].as_array().unwrap().iter().map(|v| self.int(v)).fold(0, |a, b| a | b)
            }
            other => panic!("not an integer: {other}"),
        }
    }

    fn bytes(&self, value: &Value) -> Vec<u8> {
        if let Some(Var::Bytes(b)) = self.var(value) {
            return b.clone();
        }
        let map = value.as_object().unwrap_or_else(|| panic!("not bytes: {value}"));
        if let Some(s) = map.get("bytes").and_then(Value::as_str) {
            latin1(s)
        } else if let Some(h) = map.get("hex").and_then(Value::as_str) {
            (0..h.len()).step_by(2).map(|i| u8::from_str_radix(&h[i..i + 2], 16).unwrap()).collect()
        } else if let Some([text, count]) = map.get("repeat").and_then(Value::as_array).map(Vec::as_slice) {
            latin1(text.as_str().unwrap()).repeat(count.as_u64().unwrap() as usize)
        } else {
            panic!("not bytes: {value}")
        }
    }

    fn addr(&self, value: &Value) -> Address {
        if let Some(Var::Addr(Some(a))) = self.var(value) {
            return a.clone();
        }
        match value {
            Value::Object(m) if m.contains_key("unix") => Address::Unix(m["unix"].as_str().unwrap().to_owned()),
            Value::String(s) => Address::Unix(s.clone()),
            other => serde_json::from_value(other.clone()).unwrap_or_else(|e| panic!("not an address: {other}: {e}")),
        }
    }

    fn sock(&self, name: &str) -> Socket {
        match self.env.get(name) {
            Some(Var::Sock(s)) => s.clone(),
            _ => panic!("{name} is not a socket"),
        }
    }

    fn timeout(value: &Value) -> Option<f64> {
        value.as_f64()
    }

    fn sockets(&self, list: &Value) -> Vec<Socket> {
        list.as_array()
            .unwrap()
            .iter()
            .map(|v| match self.var(v) {
                Some(Var::Sock(s)) => s.clone(),
                _ => panic!("not a socket: {v}"),
            })
            .collect()
    }

    fn name_of(&self, sock: &Socket) -> String {
        self.env
            .iter()
            .find_map(|(name, var)| match var {
                Var::Sock(s) if s.fileno() == sock.fileno() => Some(name.clone()),
                _ => None,
            })
            .unwrap_or_else(|| "?".into())
    }

    fn bind_one(&mut self, step: &Step, var: Var) {
        if let Some(Value::String(name)) = &step.bind {
            self.env.insert(name.clone(), var);
        }
    }

    fn bind_names(step: &Step) -> Vec<String> {
        match &step.bind {
            Some(Value::Array(names)) => names.iter().map(|n| n.as_str().unwrap().to_owned()).collect(),
            _ => Vec::new(),
        }
    }

    async fn step(&mut self, step: &Step) -> Result<Value, Error> {
        let a = &step.args;
        let (target, method) = match step.op.rsplit_once('.') {
            Some((t, m)) => (Some(t), m),
            None => (None, step.op.as_str()),
        };
        let Some(target) = target else {
            return self.module_call(step, method).await;
        };
        if let Some(Var::File(file)) = self.env.get(target) {
            let file = file.clone();
            let mut f = file.lock().await;
            return match method {
                "readline" => f.readline().await.map(|d| bytes_value(&d)),
                "read" if a.is_empty() => f.read_all().await.map(|d| bytes_value(&d)),
                "read" => f.read(self.int(&a[0]) as usize).await.map(|d| bytes_value(&d)),
                "write" => f.write(&self.bytes(&a[0])).await.map(|n| json!(n)),
                "flush" => f.flush().await.map(|()| Value::Null),
                "close" => f.close().await.map(|()| Value::Null),
                other => panic!("file method {other} is not in the runner"),
            };
        }
        let s = self.sock(target);
        let flags = |i: usize| a.get(i).map_or(0, |v| self.int(v)) as i32;
        let value = match method {
            "bind" => s.bind(self.addr(&a[0])).await.map(|()| Value::Null),
            "listen" => s.listen(a.first().map(|v| self.int(v) as i32)).await.map(|()| Value::Null),
            "accept" => {
                let (conn, peer) = s.accept().await?;
                let names = Self::bind_names(step);
                let name = names.first().cloned().unwrap_or_else(|| "?".into());
                let v = json!([{"socket": name}, addr_value(&Some(peer.clone()))]);
                if let [n, p] = names.as_slice() {
                    self.env.insert(n.clone(), Var::Sock(conn));
                    self.env.insert(p.clone(), Var::Addr(Some(peer)));
                }
                return Ok(v);
            }
            "connect" => s.connect(self.addr(&a[0])).await.map(|()| Value::Null),
            // An errno, compared by name as a raised one is (a page's Python numbers them its own way).
            "connect_ex" => {
                s.connect_ex(self.addr(&a[0])).await.map(|n| match bridge_protocol::Errno::from_number(n) {
                    Some(e) if n != 0 => json!(e.name),
                    _ => json!(n),
                })
            }
            "recv" => {
                let data = s.recv_flags(self.int(&a[0]) as usize, flags(1)).await?;
                self.bind_one(step, Var::Bytes(data.clone()));
                return Ok(bytes_value(&data));
            }
            "recvfrom" => {
                let (data, peer) = s.recvfrom_flags(self.int(&a[0]) as usize, flags(1)).await?;
                let v = json!([bytes_value(&data), addr_value(&peer)]);
                if let [d, p] = Self::bind_names(step).as_slice() {
                    self.env.insert(d.clone(), Var::Bytes(data));
                    self.env.insert(p.clone(), Var::Addr(peer));
                }
                return Ok(v);
            }
            "send" => s.send_flags(&self.bytes(&a[0]), flags(1)).await.map(|n| json!(n)),
            "sendall" => s.sendall(&self.bytes(&a[0])).await.map(|()| Value::Null),
            "sendto" => s.sendto(&self.bytes(&a[0]), self.addr(&a[1])).await.map(|n| json!(n)),
            "shutdown" => s.shutdown(self.int(&a[0]) as i32).await.map(|()| Value::Null),
            "close" => s.close().await.map(|()| Value::Null),
            "getsockname" | "getpeername" => {
                let addr = if method == "getsockname" { s.getsockname().await? } else { s.getpeername().await? };
                let v = addr_value(&Some(addr.clone()));
                self.bind_one(step, Var::Addr(Some(addr)));
                return Ok(v);
            }
            "setsockopt" => {
                let value = match &a[2] {
                    Value::Object(_) => OptValue::from(self.bytes(&a[2])),
                    other => OptValue::from(self.int(other)),
                };
                s.setsockopt(self.int(&a[0]) as i32, self.int(&a[1]) as i32, value).await.map(|()| Value::Null)
            }
            "getsockopt" => match a.get(2).filter(|n| n.as_u64() != Some(0)) {
                // Python's getsockopt(level, opt, 0) reads an int, as getsockopt(level, opt) does.
                None => s.getsockopt(self.int(&a[0]) as i32, self.int(&a[1]) as i32).await.map(|v| json!(v)),
                Some(n) => s
                    .getsockopt_bytes(self.int(&a[0]) as i32, self.int(&a[1]) as i32, self.int(n) as u32)
                    .await
                    .map(|b| bytes_value(&b)),
            },
            "settimeout" => s.settimeout_secs(Self::timeout(&a[0])).map(|()| Value::Null),
            "gettimeout" => Ok(s.gettimeout().map_or(Value::Null, |t| json!(t.as_secs_f64()))),
            "setblocking" => s.setblocking(self.int(&a[0]) != 0).map(|()| Value::Null),
            "getblocking" => Ok(json!(s.getblocking())),
            "fileno" => Ok(match s.fileno() {
                -1 => json!(-1),
                fd => json!({"fd": fd}),
            }),
            "family" => Ok(json!(s.family())),
            "type" => Ok(json!(s.kind())),
            "proto" => Ok(json!(s.proto())),
            "makefile" => {
                assert_eq!(a.first().and_then(Value::as_str), Some("rwb"), "the runner models makefile('rwb')");
                let file = s.makefile()?;
                let name = step.bind.as_ref().and_then(Value::as_str).unwrap_or("?").to_owned();
                self.bind_one(step, Var::File(Arc::new(Mutex::new(file))));
                return Ok(json!({"file": name}));
            }
            other => panic!("socket method {other} is not in the runner"),
        };
        if value.is_ok() {
            self.bind_one(step, Var::Other);
        }
        value
    }

    async fn module_call(&mut self, step: &Step, function: &str) -> Result<Value, Error> {
        let a = &step.args;
        match function {
            "socket" => {
                let family = a.first().map_or(i64::from(AF_INET), |v| self.int(v)) as i32;
                let kind = a.get(1).map_or(i64::from(SOCK_STREAM), |v| self.int(v)) as i32;
                let proto = a.get(2).map_or(0, |v| self.int(v)) as i32;
                let s = self.bridge.socket_with_proto(family, kind, proto).await?;
                let name = step.bind.as_ref().and_then(Value::as_str).unwrap_or("?").to_owned();
                self.bind_one(step, Var::Sock(s));
                Ok(json!({"socket": name}))
            }
            "select" => {
                let timeout = a.get(3).and_then(Value::as_f64).map(Duration::from_secs_f64);
                let (r, w, x) = (self.sockets(&a[0]), self.sockets(&a[1]), self.sockets(&a[2]));
                let (rr, wr, xr) = self
                    .bridge
                    .select(
                        &r.iter().collect::<Vec<_>>(),
                        &w.iter().collect::<Vec<_>>(),
                        &x.iter().collect::<Vec<_>>(),
                        timeout,
                    )
                    .await?;
                let names = |v: &[Socket]| v.iter().map(|s| self.name_of(s)).collect::<Vec<_>>();
                Ok(json!([names(&rr), names(&wr), names(&xr)]))
            }
            "getaddrinfo" => {
                let port = match a.get(1) {
                    Some(Value::Number(n)) => Some(Service::Port(n.as_u64().unwrap() as u16)),
                    Some(Value::String(s)) => Some(Service::Name(s.clone())),
                    _ => None,
                };
                let params = GetaddrinfoParams {
                    host: a.first().and_then(Value::as_str).map(str::to_owned),
                    port,
                    family: a.get(2).map_or(0, |v| self.int(v)) as i32,
                    kind: a.get(3).map_or(0, |v| self.int(v)) as i32,
                    proto: a.get(4).map_or(0, |v| self.int(v)) as i32,
                    flags: a.get(5).map_or(0, |v| self.int(v)) as i32,
                };
                let infos = self.bridge.getaddrinfo(params).await?;
                Ok(json!(
                    infos
                        .iter()
                        .map(|i| json!([i.family, i.kind, i.proto, i.canonname, {"addr": i.address}]))
                        .collect::<Vec<_>>()
                ))
            }
            "gethostbyname" => self.bridge.gethostbyname(a[0].as_str().unwrap()).await.map(|h| json!(h)),
            "gethostname" => self.bridge.gethostname().await.map(|h| json!(h)),
            other => panic!("module function {other} is not in the runner"),
        }
    }
}
