//! The hostile-client soak: for a bounded time, several sessions send the built daemon whatever a
//! hostile page could (random and mutated frames in both codecs, text and binary, fragmented,
//! oversized, deeply nested, interleaved with valid calls, and clients that stop reading), while a
//! control session runs an echo the whole time. Everything stays on loopback.
//!
//! It asserts that the daemon stays up, that every control echo succeeds, and that the daemon's
//! resident memory stays under [`RSS_BOUND_MIB`]; it prints what it sent and saw. `SOAK_SECONDS`
//! (default 20) sets the time, `SOAK_SEED` the random seed (printed, for a rerun).

#![allow(clippy::unwrap_used, clippy::expect_used, clippy::print_stdout, missing_docs, unreachable_pub)]

use bridge_protocol::{Id, Method, Payload, json, msgpack, params::*};
use sockbridge_tests::{PATIENCE, SpawnOptions, Spawned, scratch_path, tcp_pair, upgrade_head, within};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, Instant};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

/// The daemon's resident memory may not pass this during the soak. Its own bounds, per session:
/// 4 MiB of answers queued (`outbound_bytes`), 8 MiB of requests in flight (`max_inflight_bytes`),
/// WebSocket buffers of a few MiB (a 2 MiB message read, `max_write_buffer_size`); for the
/// [`HOSTILE`] sessions and the control one that is under 150 MiB, plus the process itself.
const RSS_BOUND_MIB: u64 = 192;

/// Hostile sessions running at once.
const HOSTILE: usize = 6;

/// The daemon's hard cap on one message (twice `max_message_bytes`): a larger one closes the
/// session with 1009.
const HARD_CAP: usize = 2 << 20;

#[derive(Default)]
struct Counts {
    frames: AtomicU64,
    bytes: AtomicU64,
    sessions: AtomicU64,
    refused_handshakes: AtomicU64,
    answers: AtomicU64,
    errors: AtomicU64,
    closes: AtomicU64,
    echoes: AtomicU64,
}

fn add(counter: &AtomicU64, n: u64) {
    counter.fetch_add(n, Ordering::Relaxed);
}

/// xorshift64*: small, seeded, good enough to pick frames.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
    fn below(&mut self, n: usize) -> usize {
        (self.next() % n as u64) as usize
    }
    fn bytes(&mut self, n: usize) -> Vec<u8> {
        (0..n).map(|_| self.next() as u8).collect()
    }
}

/// A client frame (masked, as a client's must be), FIN as given.
fn frame(fin: bool, opcode: u8, payload: &[u8]) -> Vec<u8> {
    sockbridge_tests::RawFrames::frame(fin, opcode, payload, true)
}

/// A valid request of some method, in the given codec.
fn valid(rng: &mut Rng, binary: bool) -> Vec<u8> {
    let id = Id::Num(rng.next() % 1000);
    let fd = 3 + rng.below(6) as i32;
    macro_rules! enc {
        ($method:expr, $params:expr) => {
            if binary {
                msgpack::encode_request(Some(&id), $method, &$params)
            } else {
                json::encode_request(Some(&id), $method, &$params).into_bytes()
            }
        };
    }
    match rng.below(8) {
        0 => enc!(Method::Hello, HelloParams::default()),
        1 => enc!(Method::Socket, SocketParams { family: 2, kind: [1, 2][rng.below(2)], ..SocketParams::default() }),
        2 => enc!(Method::Bind, AddressParams { fd, address: bridge_protocol::Address::from(("127.0.0.1", 0)) }),
        3 => enc!(Method::Close, FdParams { fd }),
        4 => enc!(Method::Getsockname, FdParams { fd }),
        5 => {
            let n = rng.below(2048);
            enc!(Method::Send, SendParams { fd, data: Payload(rng.bytes(n)), flags: 0 })
        }
        6 => enc!(Method::Listen, ListenParams { fd, backlog: Some(4) }),
        _ => enc!(Method::Recv, RecvParams { fd, bufsize: 64, flags: 0x40, ahead: false }),
    }
}

/// What a hostile page sends next: `(opcode, payload)` messages, some to be split into fragments.
fn hostile_message(rng: &mut Rng) -> (u8, Vec<u8>) {
    let binary = rng.below(2) == 0;
    let opcode = if binary { 2 } else { 1 };
    match rng.below(10) {
        // Random bytes: as binary, or as text that may not even be UTF-8 (a protocol error).
        0 => {
            let n = 1 + rng.below(512);
            (opcode, rng.bytes(n))
        }
        // A valid request with some bytes changed.
        1 | 2 => {
            let mut m = valid(rng, binary);
            for _ in 0..1 + rng.below(4) {
                let i = rng.below(m.len());
                m[i] = rng.next() as u8;
            }
            (opcode, m)
        }
        // Deep nesting.
        3 if binary => {
            let depth = 50_000 + rng.below(150_000);
            (2, [vec![0x91; depth], vec![0xc0]].concat())
        }
        3 => (1, format!("{}{}", "[".repeat(20_000), "]".repeat(20_000)).into_bytes()),
        // Huge declared lengths.
        4 => {
            let marker = [0xdd, 0xdf, 0xc6, 0xdb][rng.below(4)];
            (2, [vec![marker, 0xff, 0xff, 0xff, 0xff], rng.bytes(8)].concat())
        }
        // Over max_message_bytes (an error answer), now and then over the hard cap (the session
        // is closed with 1009, and the page comes back).
        5 if rng.below(8) == 0 => (opcode, vec![b'x'; HARD_CAP + 1]),
        5 => {
            let n = (1 << 20) + 1 + rng.below(4096);
            (opcode, vec![b'x'; n])
        }
        // Valid calls.
        _ => (opcode, valid(rng, binary)),
    }
}

/// One hostile page, until `until`: it opens sessions (and opens another when one is closed),
/// sends messages, whole or in fragments, and reads the answers, or stops reading for good.
async fn hostile(addr: SocketAddr, token: String, seed: u64, until: Instant, counts: Arc<Counts>) {
    let mut rng = Rng(seed);
    while Instant::now() < until {
        let protocols = if rng.below(2) == 0 { "sockbridge.v1.msgpack, sockbridge.v1" } else { "sockbridge.v1" };
        let Ok(mut stream) = tokio::net::TcpStream::connect(addr).await else { continue };
        let head = upgrade_head(addr, &format!("{protocols}, sockbridge.token.{token}"), "");
        if stream.write_all(head.as_bytes()).await.is_err() {
            continue;
        }
        let mut response = Vec::new();
        while !response.ends_with(b"\r\n\r\n") {
            let mut byte = [0u8; 1];
            if within(stream.read_exact(&mut byte)).await.is_err() {
                break;
            }
            response.push(byte[0]);
        }
        if !response.starts_with(b"HTTP/1.1 101") {
            add(&counts.refused_handshakes, 1);
            continue;
        }
        add(&counts.sessions, 1);
        let (mut reader, mut writer) = stream.into_split();
        // One page in five stops reading: the daemon must give up on it (write_timeout).
        let reads = rng.below(5) != 0;
        let counts_r = Arc::clone(&counts);
        let reading = tokio::spawn(async move {
            if reads {
                read_answers(&mut reader, &counts_r).await;
            } else {
                // Holds the connection open without reading, until the daemon closes it.
                let _keep = reader;
                std::future::pending::<()>().await;
            }
        });
        let per_session = 20 + rng.below(200);
        for _ in 0..per_session {
            if Instant::now() >= until {
                break;
            }
            let (opcode, payload) = hostile_message(&mut rng);
            let bytes = if payload.len() > 64 && rng.below(4) == 0 {
                // Fragmented: a first frame and continuations (opcode 0), ping frames between.
                let cut = 1 + rng.below(payload.len() - 1);
                let mut out = frame(false, opcode, &payload[..cut]);
                if rng.below(2) == 0 {
                    out.extend(frame(true, 9, b"ping"));
                }
                out.extend(frame(true, 0, &payload[cut..]));
                out
            } else {
                frame(true, opcode, &payload)
            };
            add(&counts.frames, 1);
            add(&counts.bytes, bytes.len() as u64);
            // A page that does not read may find the daemon no longer reading either.
            match tokio::time::timeout(Duration::from_secs(5), writer.write_all(&bytes)).await {
                Ok(Ok(())) => {}
                _ => break,
            }
        }
        drop(writer);
        let _ = tokio::time::timeout(Duration::from_secs(3), reading).await;
    }
}

/// Reads the daemon's frames, counting answers, error answers and closes, until the connection
/// ends.
async fn read_answers(reader: &mut tokio::net::tcp::OwnedReadHalf, counts: &Counts) {
    loop {
        let mut head = [0u8; 2];
        if tokio::time::timeout(PATIENCE, reader.read_exact(&mut head)).await.map_or(true, |r| r.is_err()) {
            return;
        }
        let len = match head[1] & 0x7f {
            126 => {
                let mut b = [0u8; 2];
                if reader.read_exact(&mut b).await.is_err() {
                    return;
                }
                u64::from(u16::from_be_bytes(b))
            }
            127 => {
                let mut b = [0u8; 8];
                if reader.read_exact(&mut b).await.is_err() {
                    return;
                }
                u64::from_be_bytes(b)
            }
            n => u64::from(n),
        };
        let mut payload = vec![0u8; len.min(16 << 20) as usize];
        if reader.read_exact(&mut payload).await.is_err() {
            return;
        }
        match head[0] & 0x0f {
            1 | 2 => {
                add(&counts.answers, 1);
                if payload.windows(7).any(|w| w == b"\"error\"" || w == b"\xa5error\x83" || w == b"\xa5error\x82") {
                    add(&counts.errors, 1);
                }
            }
            8 => {
                add(&counts.closes, 1);
                return;
            }
            _ => {}
        }
    }
}

/// The control page: an echo through the bridge, over and over, each one bounded.
async fn control(daemon: &Spawned, until: Instant, counts: &Counts) {
    let bridge = daemon.client().await;
    let (_server, client, conn) = tcp_pair(&bridge).await;
    let mut n = 0u64;
    while Instant::now() < until {
        let message = format!("echo {n}");
        within(client.sendall(message.as_bytes())).await.expect("the control echo's send");
        let mut got = Vec::new();
        while got.len() < message.len() {
            got.extend(within(conn.recv(1024)).await.expect("the control echo's recv"));
        }
        within(conn.sendall(&got)).await.expect("the control echo's answer");
        let mut back = Vec::new();
        while back.len() < message.len() {
            back.extend(within(client.recv(1024)).await.expect("the control echo's reply"));
        }
        assert_eq!(back, message.as_bytes(), "echo {n} came back changed");
        n += 1;
        add(&counts.echoes, 1);
    }
}

#[tokio::main(flavor = "multi_thread", worker_threads = 2)]
async fn main() {
    let seconds: u64 = std::env::var("SOAK_SECONDS").ok().and_then(|s| s.parse().ok()).unwrap_or(20);
    let seed: u64 = std::env::var("SOAK_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
        std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap().as_nanos() as u64
    }) | 1;
    // A short write_timeout, so pages that stop reading are dropped within the run.
    let config = scratch_path("soak.toml");
    std::fs::write(&config, "[limits]\nwrite_timeout = 2\n").unwrap();
    let daemon =
        Spawned::start(SpawnOptions { args: &["--config", config.to_str().unwrap()], ..Default::default() }).await;
    let counts = Arc::new(Counts::default());
    let start = Instant::now();
    let until = start + Duration::from_secs(seconds);
    let mut pages = Vec::new();
    for i in 0..HOSTILE {
        let seed = seed.wrapping_add(i as u64).wrapping_mul(0x9e37_79b9_7f4a_7c15) | 1;
        pages.push(tokio::spawn(hostile(daemon.addr, daemon.token.clone(), seed, until, Arc::clone(&counts))));
    }
    let base_kib = daemon.rss_kib();
    let pid = daemon.pid;
    let sampling = tokio::spawn(async move {
        let mut peak = 0;
        while Instant::now() < until + Duration::from_secs(1) {
            peak = peak.max(sockbridge_tests::rss_kib(pid));
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
        peak
    });
    control(&daemon, until, &counts).await;
    for page in pages {
        within(page).await.unwrap();
    }
    let peak_kib = within(sampling).await.unwrap();
    // Still up, and still serving: a new session's echo.
    let after = daemon.client().await;
    let (_s, c, k) = tcp_pair(&after).await;
    within(c.sendall(b"after")).await.unwrap();
    assert_eq!(within(k.recv(16)).await.unwrap(), b"after");
    drop(after);
    let status = daemon.stop().await;
    let _ = std::fs::remove_file(&config);
    let get = |c: &AtomicU64| c.load(Ordering::Relaxed);
    println!(
        "soak: {:.1} s, seed {seed}: {} hostile sessions ({} refused at the handshake) sent {} frames ({:.1} MiB); \
         {} answers ({} errors), {} closed by the daemon; {} control echoes, all correct; daemon RSS {:.1} MiB at \
         start, peak {:.1} MiB (bound {RSS_BOUND_MIB} MiB)",
        start.elapsed().as_secs_f64(),
        get(&counts.sessions),
        get(&counts.refused_handshakes),
        get(&counts.frames),
        get(&counts.bytes) as f64 / f64::from(1 << 20),
        get(&counts.answers),
        get(&counts.errors),
        get(&counts.closes),
        get(&counts.echoes),
        base_kib as f64 / 1024.0,
        peak_kib as f64 / 1024.0,
    );
    let mut failed = Vec::new();
    if !status.success() {
        failed.push(format!("the daemon exited with {status}"));
    }
    if peak_kib > RSS_BOUND_MIB << 10 {
        failed.push(format!("peak RSS {} KiB is over {RSS_BOUND_MIB} MiB", peak_kib));
    }
    if get(&counts.echoes) == 0 || get(&counts.sessions) < HOSTILE as u64 || get(&counts.errors) == 0 {
        failed.push("the soak did not run: no echo, too few sessions or no error answered".into());
    }
    for f in &failed {
        println!("soak: FAILED: {f}");
    }
    println!("{} passed, {} failed", u32::from(failed.is_empty()), u32::from(!failed.is_empty()));
    if !failed.is_empty() {
        std::process::exit(1);
    }
}
