//! The HTTP side of the daemon's port: reading a request head within bounds, the WebSocket
//! handshake gate, and the static teaching pages.

use crate::config::WebRoot;
use crate::policy::Policy;
use base64::Engine as _;
use base64::engine::general_purpose::STANDARD;
use bridge_protocol::{Codec, auth};
use std::path::{Component, Path, PathBuf};
use std::time::Duration;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio_tungstenite::tungstenite::handshake::derive_accept_key;

/// Headers parsed at most.
const MAX_HEADERS: usize = 64;

/// A parsed request head.
#[derive(Debug)]
pub(crate) struct Head {
    pub(crate) method: String,
    pub(crate) path: String,
    headers: Vec<(String, String)>,
}

impl Head {
    /// The single value of a header; `None` if absent or repeated.
    pub(crate) fn header(&self, name: &str) -> Option<&str> {
        let mut values = self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).map(|(_, v)| v.as_str());
        let first = values.next();
        if values.next().is_some() { None } else { first }
    }

    pub(crate) fn header_count(&self, name: &str) -> usize {
        self.headers.iter().filter(|(n, _)| n.eq_ignore_ascii_case(name)).count()
    }

    /// Whether a comma-separated header contains `token` (case-insensitive).
    fn has_token(&self, name: &str, token: &str) -> bool {
        self.headers
            .iter()
            .filter(|(n, _)| n.eq_ignore_ascii_case(name))
            .flat_map(|(_, v)| v.split(','))
            .any(|t| t.trim().eq_ignore_ascii_case(token))
    }

    /// Whether this asks to upgrade to a WebSocket.
    pub(crate) fn wants_websocket(&self) -> bool {
        self.has_token("upgrade", "websocket")
    }
}

/// Why a request head could not be read.
#[derive(Debug, PartialEq, Eq)]
pub(crate) enum HeadError {
    /// The peer closed before sending a full head.
    Closed,
    /// The head is larger than allowed.
    TooLarge,
    /// Not HTTP/1.1.
    Malformed,
}

/// Reads a request head: at most `max` bytes, ending in a blank line. Returns the head and any bytes
/// read past it.
pub(crate) async fn read_head(stream: &mut TcpStream, max: usize) -> Result<(Head, Vec<u8>), HeadError> {
    let mut buf = Vec::with_capacity(1024.min(max));
    loop {
        if buf.len() >= max {
            return Err(HeadError::TooLarge);
        }
        let mut chunk = [0u8; 1024];
        let room = (max - buf.len()).min(chunk.len());
        let n = stream.read(&mut chunk[..room]).await.map_err(|_| HeadError::Closed)?;
        if n == 0 {
            return Err(HeadError::Closed);
        }
        buf.extend_from_slice(&chunk[..n]);
        let mut headers = [httparse::EMPTY_HEADER; MAX_HEADERS];
        let mut req = httparse::Request::new(&mut headers);
        match req.parse(&buf) {
            Ok(httparse::Status::Partial) => continue,
            Ok(httparse::Status::Complete(len)) => {
                if req.version != Some(1) {
                    return Err(HeadError::Malformed);
                }
                let head = Head {
                    method: req.method.unwrap_or_default().to_owned(),
                    path: req.path.unwrap_or_default().to_owned(),
                    headers: req
                        .headers
                        .iter()
                        .map(|h| (h.name.to_owned(), String::from_utf8_lossy(h.value).into_owned()))
                        .collect(),
                };
                return Ok((head, buf.split_off(len)));
            }
            Err(httparse::Error::TooManyHeaders) => return Err(HeadError::TooLarge),
            Err(_) => return Err(HeadError::Malformed),
        }
    }
}

/// A refusal: the status to answer, a plain-words reason for the body, and the check that refused
/// (for the audit log).
#[derive(Debug, PartialEq, Eq)]
pub(crate) struct Refusal {
    pub(crate) status: u16,
    pub(crate) reason: &'static str,
    pub(crate) rule: &'static str,
}

pub(crate) fn refuse(status: u16, reason: &'static str) -> Refusal {
    Refusal { status, reason, rule: "http" }
}

/// A refusal by a named rule (what the audit log shows).
pub(crate) fn refuse_by(status: u16, rule: &'static str, reason: &'static str) -> Refusal {
    Refusal { status, reason, rule }
}

/// Checks a request's `Host` (every request, pages included: a DNS-rebinding page must not read
/// what the daemon serves).
pub(crate) fn check_host(head: &Head, policy: &Policy) -> Result<(), Refusal> {
    match head.header("host") {
        Some(host) if policy.host_allowed(host) => Ok(()),
        Some(_) => {
            Err(refuse_by(403, "host", "this Host is not the bridge daemon (its address, or localhost, with its port)"))
        }
        None if head.header_count("host") > 1 => Err(refuse_by(400, "host", "more than one Host header")),
        None => Err(refuse_by(400, "host", "the request has no Host header")),
    }
}

/// The token a handshake offers as a `sockbridge.token.<token>` subprotocol, if any.
pub(crate) fn offered_token(head: &Head) -> Option<&str> {
    head.headers
        .iter()
        .filter(|(n, _)| n.eq_ignore_ascii_case("sec-websocket-protocol"))
        .flat_map(|(_, v)| v.split(','))
        .find_map(|t| t.trim().strip_prefix(auth::SUBPROTOCOL_PREFIX))
}

/// Checks a WebSocket upgrade and returns the `Sec-WebSocket-Accept` value and the codec agreed
/// (MessagePack when the client offers it, else JSON).
///
/// The order of the checks decides what a refused client learns: a page of a foreign origin is
/// told only that its origin is not admitted, never whether a token would have been needed.
pub(crate) fn check_upgrade(head: &Head, policy: &Policy) -> Result<(String, Codec), Refusal> {
    if head.method != "GET" {
        return Err(refuse(405, "a WebSocket handshake is a GET"));
    }
    if !head.has_token("connection", "upgrade") {
        return Err(refuse(400, "a WebSocket handshake needs Connection: Upgrade"));
    }
    if head.header("sec-websocket-version") != Some("13") {
        return Err(refuse(426, "this bridge speaks WebSocket version 13"));
    }
    let key = head.header("sec-websocket-key").ok_or(refuse(400, "missing or repeated Sec-WebSocket-Key"))?;
    if STANDARD.decode(key.trim()).map(|k| k.len()) != Ok(16) {
        return Err(refuse(400, "Sec-WebSocket-Key must be 16 bytes in base64"));
    }
    if head.header_count("origin") > 1 || !policy.origin_allowed(head.header("origin")) {
        return Err(refuse_by(403, "origin", "this page's origin may not use the bridge (see --allow-origin)"));
    }
    let Some(codec) = Codec::pick(|name| head.has_token("sec-websocket-protocol", name)) else {
        return Err(refuse(400, "offer the WebSocket subprotocol sockbridge.v1 (or sockbridge.v1.msgpack)"));
    };
    if !policy.token_ok(offered_token(head)) {
        return Err(refuse_by(
            403,
            "token",
            "the bridge needs its token: open the address bridge-daemon printed (it ends in #sb-token=...)",
        ));
    }
    Ok((derive_accept_key(key.trim().as_bytes()), codec))
}

/// The `101 Switching Protocols` response.
pub(crate) fn switching_protocols(accept: &str, codec: Codec) -> String {
    format!(
        "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\
         Sec-WebSocket-Accept: {accept}\r\nSec-WebSocket-Protocol: {}\r\n\r\n",
        codec.subprotocol()
    )
}

fn status_text(status: u16) -> &'static str {
    match status {
        200 => "OK",
        304 => "Not Modified",
        400 => "Bad Request",
        403 => "Forbidden",
        404 => "Not Found",
        405 => "Method Not Allowed",
        408 => "Request Timeout",
        426 => "Upgrade Required",
        431 => "Request Header Fields Too Large",
        503 => "Service Unavailable",
        _ => "Error",
    }
}

/// Writes a complete response and closes the connection. No CORS headers are ever sent.
pub(crate) async fn respond(stream: &mut TcpStream, status: u16, content_type: &str, body: &[u8], head_only: bool) {
    let mut bytes = response_head(status, content_type, body.len() as u64, None).into_bytes();
    if !head_only {
        bytes.extend_from_slice(body);
    }
    let _ = stream.write_all(&bytes).await;
    let _ = stream.shutdown().await;
}

/// A response's status line and headers, with the blank line. `etag` is a file's validator: the
/// browser keeps the file (`Cache-Control: no-cache` means "ask first") and asks again with
/// `If-None-Match`, which a `304` answers with no body.
fn response_head(status: u16, content_type: &str, length: u64, etag: Option<&str>) -> String {
    let mut out = format!(
        "HTTP/1.1 {status} {}\r\nContent-Type: {content_type}\r\nContent-Length: {length}\r\n\
         Cache-Control: no-cache\r\nX-Content-Type-Options: nosniff\r\nConnection: close\r\n\
         Content-Security-Policy: {CSP}\r\nX-Frame-Options: SAMEORIGIN\r\nReferrer-Policy: no-referrer\r\n",
        status_text(status),
    );
    if let Some(etag) = etag {
        out.push_str(&format!("ETag: {etag}\r\n"));
    }
    if status == 426 {
        out.push_str("Sec-WebSocket-Version: 13\r\n");
    }
    out.push_str("\r\n");
    out
}

/// The Content-Security-Policy of every answer: no other site may frame the pages (a frame could
/// hand them a token of its choosing, or trick a student into clicks), and no plugin or `<base>`
/// is loaded. Scripts are not restricted further: the playground runs the code a student types.
const CSP: &str = "frame-ancestors 'self'; object-src 'none'; base-uri 'none'";

/// Sends a page asked for at `localhost` to the daemon's own origin, where it is admitted (the
/// browser keeps the `#sb-token=…` fragment across the redirect).
pub(crate) async fn redirect_to(stream: &mut TcpStream, origin: &str, path: &str) {
    let path = if path.starts_with('/') { path } else { "/" };
    let head = format!(
        "HTTP/1.1 307 Temporary Redirect\r\nLocation: {origin}{path}\r\nContent-Length: 0\r\n\
         Cache-Control: no-cache\r\nConnection: close\r\nContent-Security-Policy: {CSP}\r\n\r\n"
    );
    let _ = stream.write_all(head.as_bytes()).await;
    let _ = stream.shutdown().await;
}

/// Writes a refusal with its reason as a text body.
pub(crate) async fn respond_refusal(stream: &mut TcpStream, refusal: &Refusal) {
    let body = format!("{}\n", refusal.reason);
    respond(stream, refusal.status, "text/plain; charset=utf-8", body.as_bytes(), false).await;
}

/// Serves a file of the web root: a directory's, or the pages built into the binary.
pub(crate) async fn serve_static(
    stream: &mut TcpStream,
    head: &Head,
    root: Option<&WebRoot>,
    max_bytes: u64,
    write_timeout: std::time::Duration,
) {
    let head_only = head.method == "HEAD";
    if head.method != "GET" && !head_only {
        return respond_refusal(stream, &refuse(405, "only GET and HEAD are served")).await;
    }
    match root {
        Some(WebRoot::Dir(dir)) => serve_file(stream, head, dir, max_bytes, write_timeout).await,
        Some(WebRoot::Embedded) => serve_embedded(stream, head, write_timeout).await,
        None => respond_refusal(stream, &refuse(404, "not found")).await,
    }
}

/// Serves a file under `root`, never one outside it.
async fn serve_file(stream: &mut TcpStream, head: &Head, root: &Path, max_bytes: u64, write_timeout: Duration) {
    let not_found = refuse(404, "not found");
    let Some(file) = static_path(root, &head.path) else {
        return respond_refusal(stream, &not_found).await;
    };
    // Resolve symbolic links and insist the result is still inside the root.
    let (Ok(real_root), Ok(real)) = (tokio::fs::canonicalize(root).await, tokio::fs::canonicalize(&file).await) else {
        return respond_refusal(stream, &not_found).await;
    };
    // A directory means its index.html, which is resolved (and checked) in turn: it may be a
    // link too.
    let real = if tokio::fs::metadata(&real).await.is_ok_and(|m| m.is_dir()) {
        match tokio::fs::canonicalize(real.join("index.html")).await {
            Ok(index) => index,
            Err(_) => return respond_refusal(stream, &not_found).await,
        }
    } else {
        real
    };
    if !real.starts_with(&real_root) {
        return respond_refusal(stream, &not_found).await;
    }
    let Ok(file) = tokio::fs::File::open(&real).await else {
        return respond_refusal(stream, &not_found).await;
    };
    let (length, etag) = match file.metadata().await {
        Ok(m) if m.is_file() && m.len() <= max_bytes => (m.len(), etag(&m)),
        _ => return respond_refusal(stream, &not_found).await,
    };
    let Some(send_body) = start_file(stream, head, content_type(&real), length, &etag).await else { return };
    // The file goes out 64 KiB at a time, never whole in memory (Pyodide's is 10 MB, and a class
    // asks for it at once); a file that changes meanwhile is cut at the length announced, and a
    // reader that takes nothing for `write_timeout` is dropped.
    if send_body {
        let mut file = file.take(length);
        let mut buf = vec![0u8; CHUNK];
        loop {
            let n = match file.read(&mut buf).await {
                Ok(0) | Err(_) => break,
                Ok(n) => n,
            };
            if !write_within(stream, &buf[..n], write_timeout).await {
                return;
            }
        }
    }
    let _ = stream.shutdown().await;
}

/// Serves a page built into the binary (see `web`), with the same paths as from a directory.
async fn serve_embedded(stream: &mut TcpStream, head: &Head, write_timeout: Duration) {
    let found = static_path(Path::new(""), &head.path).and_then(|path| {
        let name: Vec<String> = path.iter().map(|part| part.to_string_lossy().into_owned()).collect();
        let name = name.join("/");
        let index = if name.is_empty() { "index.html".to_owned() } else { format!("{name}/index.html") };
        crate::web::file(&name).map(|f| (name, f)).or_else(|| crate::web::file(&index).map(|f| (index, f)))
    });
    let Some((name, file)) = found else {
        return respond_refusal(stream, &refuse(404, "not found")).await;
    };
    let length = file.bytes.len() as u64;
    let Some(send_body) = start_file(stream, head, content_type(Path::new(&name)), length, file.etag).await else {
        return;
    };
    if send_body {
        for chunk in file.bytes.chunks(CHUNK) {
            if !write_within(stream, chunk, write_timeout).await {
                return;
            }
        }
    }
    let _ = stream.shutdown().await;
}

/// Writes `bytes`, unless the reader takes nothing for `limit`; says whether it did.
async fn write_within(stream: &mut TcpStream, bytes: &[u8], limit: Duration) -> bool {
    matches!(tokio::time::timeout(limit, stream.write_all(bytes)).await, Ok(Ok(())))
}

/// How much of a file is written at a time.
const CHUNK: usize = 64 << 10;

/// Writes a file's response head: 304 when the browser's copy is current (Pyodide's 13 MB are
/// not sent again on every visit), else 200. Says whether the body follows (`None`: the client
/// went away).
async fn start_file(stream: &mut TcpStream, head: &Head, content_type: &str, length: u64, etag: &str) -> Option<bool> {
    let current = head.header("if-none-match").is_some_and(|tags| tags.split(',').any(|t| t.trim() == etag));
    let status = if current { 304 } else { 200 };
    stream.write_all(response_head(status, content_type, length, Some(etag)).as_bytes()).await.ok()?;
    Some(status == 200 && head.method != "HEAD")
}

/// A file's validator: its length and modification time (weak: equal files may differ in it).
fn etag(meta: &std::fs::Metadata) -> String {
    let modified =
        meta.modified().ok().and_then(|t| t.duration_since(std::time::UNIX_EPOCH).ok()).map_or(0, |d| d.as_nanos());
    format!("W/\"{:x}-{modified:x}\"", meta.len())
}

/// The file a request path names under `root`: plain segments of `A-Z a-z 0-9 . _ -` only, none
/// starting with a dot; `/` and directories mean their `index.html`.
fn static_path(root: &Path, request_path: &str) -> Option<PathBuf> {
    let path = request_path.split(['?', '#']).next().unwrap_or_default();
    let rel = path.strip_prefix('/')?;
    let mut out = root.to_path_buf();
    for segment in rel.split('/').filter(|s| !s.is_empty()) {
        let ok = !segment.starts_with('.')
            && segment.bytes().all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b'-'));
        if !ok {
            return None;
        }
        out.push(segment);
    }
    if out.components().any(|c| matches!(c, Component::ParentDir)) {
        return None;
    }
    Some(out)
}

fn content_type(path: &Path) -> &'static str {
    match path.extension().and_then(|e| e.to_str()).unwrap_or_default() {
        "html" => "text/html; charset=utf-8",
        "js" | "mjs" => "text/javascript; charset=utf-8",
        "css" => "text/css; charset=utf-8",
        "json" => "application/json",
        "zip" => "application/zip",
        "py" => "text/x-python; charset=utf-8",
        "wasm" => "application/wasm",
        "svg" => "image/svg+xml",
        "png" => "image/png",
        "ico" => "image/x-icon",
        "txt" | "md" => "text/plain; charset=utf-8",
        "ts" => "text/plain; charset=utf-8",
        _ => "application/octet-stream",
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::policy::{PolicyInput, Token};
    use std::net::SocketAddr;

    fn head(lines: &[(&str, &str)]) -> Head {
        Head {
            method: "GET".into(),
            path: "/".into(),
            headers: lines.iter().map(|(n, v)| ((*n).to_owned(), (*v).to_owned())).collect(),
        }
    }

    fn policy() -> Policy {
        Policy::new(SocketAddr::from(([127, 0, 0, 1], 7320)), PolicyInput::default())
    }

    fn policy_with_token(token: &Token) -> Policy {
        let input = PolicyInput { token: Some(token.clone()), ..PolicyInput::default() };
        Policy::new(SocketAddr::from(([127, 0, 0, 1], 7320)), input)
    }

    fn upgrade(extra: &[(&str, &str)]) -> Head {
        let mut lines = vec![
            ("Host", "127.0.0.1:7320"),
            ("Upgrade", "websocket"),
            ("Connection", "keep-alive, Upgrade"),
            ("Sec-WebSocket-Version", "13"),
            ("Sec-WebSocket-Key", "dGhlIHNhbXBsZSBub25jZQ=="),
            ("Sec-WebSocket-Protocol", "other, sockbridge.v1"),
        ];
        lines.extend_from_slice(extra);
        head(&lines)
    }

    #[test]
    fn accepts_a_good_handshake() {
        let h = upgrade(&[("Origin", "http://127.0.0.1:7320")]);
        assert!(h.wants_websocket());
        assert_eq!(check_host(&h, &policy()), Ok(()));
        // RFC 6455's worked example.
        assert_eq!(check_upgrade(&h, &policy()), Ok(("s3pPLMBiTxaQ9kYGzzhZRbK+xOo=".to_owned(), Codec::Json)));
    }

    #[test]
    fn agrees_to_messagepack_when_offered_in_any_order() {
        for offer in
            ["sockbridge.v1.msgpack, sockbridge.v1", "sockbridge.v1, sockbridge.v1.msgpack", "sockbridge.v1.msgpack"]
        {
            let mut h = upgrade(&[]);
            h.headers.retain(|(n, _)| n != "Sec-WebSocket-Protocol");
            h.headers.push(("Sec-WebSocket-Protocol".to_owned(), offer.to_owned()));
            assert_eq!(check_upgrade(&h, &policy()).map(|(_, c)| c), Ok(Codec::Msgpack), "{offer}");
        }
        assert!(switching_protocols("k", Codec::Msgpack).contains("Sec-WebSocket-Protocol: sockbridge.v1.msgpack\r\n"));
    }

    #[test]
    fn refuses_bad_handshakes() {
        let status = |h: &Head| check_upgrade(h, &policy()).err().map(|r| r.status);
        assert_eq!(status(&upgrade(&[("Origin", "https://evil.example")])), Some(403));
        assert_eq!(status(&upgrade(&[("Origin", "http://127.0.0.1:7320"), ("Origin", "http://evil")])), Some(403));
        let mut h = upgrade(&[]);
        h.headers.retain(|(n, _)| n != "Sec-WebSocket-Protocol");
        assert_eq!(status(&h), Some(400));
        let mut h = upgrade(&[]);
        h.headers.retain(|(n, _)| n != "Sec-WebSocket-Version");
        assert_eq!(status(&h), Some(426));
        let mut h = upgrade(&[]);
        h.headers.retain(|(n, _)| n != "Sec-WebSocket-Key");
        h.headers.push(("Sec-WebSocket-Key".into(), "c2hvcnQ=".into()));
        assert_eq!(status(&h), Some(400));
        let mut h = upgrade(&[]);
        h.method = "POST".into();
        assert_eq!(status(&h), Some(405));
    }

    #[test]
    fn tokens_are_checked() {
        let token = Token::generate();
        let p = policy_with_token(&token);
        let rule = |h: &Head| check_upgrade(h, &p).err().map(|r| r.rule);
        let good = format!("sockbridge.v1, sockbridge.token.{}", token.reveal());
        assert_eq!(rule(&upgrade(&[])), Some("token"), "no token");
        let mut h = upgrade(&[("Origin", "http://127.0.0.1:7320")]);
        h.headers.retain(|(n, _)| n != "Sec-WebSocket-Protocol");
        h.headers.push(("Sec-WebSocket-Protocol".into(), good.clone()));
        assert_eq!(rule(&h), None);
        // In two headers, as some clients send them.
        let mut h = upgrade(&[]);
        h.headers.push(("Sec-WebSocket-Protocol".into(), format!("sockbridge.token.{}", token.reveal())));
        assert_eq!(rule(&h), None);
        let wrong =
            upgrade(&[("Sec-WebSocket-Protocol", "sockbridge.token.AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA")]);
        assert_eq!(rule(&wrong), Some("token"));
        // A foreign origin learns nothing about the token.
        assert_eq!(rule(&upgrade(&[("Origin", "https://evil.example")])), Some("origin"));
    }

    #[test]
    fn host_is_checked() {
        let p = policy();
        assert_eq!(check_host(&head(&[("Host", "evil.test:7320")]), &p).err().map(|r| r.status), Some(403));
        assert_eq!(check_host(&head(&[]), &p).err().map(|r| r.status), Some(400));
        let two = head(&[("Host", "127.0.0.1:7320"), ("host", "127.0.0.1:7320")]);
        assert_eq!(check_host(&two, &p).err().map(|r| r.status), Some(400));
    }

    #[test]
    fn static_paths_stay_inside() {
        let root = Path::new("/srv/web");
        assert_eq!(static_path(root, "/"), Some(PathBuf::from("/srv/web")));
        assert_eq!(static_path(root, "/pkg/x.js?v=1"), Some(PathBuf::from("/srv/web/pkg/x.js")));
        for bad in ["/../etc/passwd", "/..", "/.git/config", "/a/%2e%2e/b", "relative", "/a\\b", "/a/..%2f"] {
            assert_eq!(static_path(root, bad), None, "{bad}");
        }
    }
}
