//! The sockbridge wire format, and nothing else: no I/O, no runtime. The daemon and every client
//! import it, so a method name, an error code, a limit's name or a socket constant is spelled once.
//!
//! The protocol itself is specified in `docs/protocol.md` at the top of the repository; this crate
//! is its Rust form:
//!
//! | module | holds |
//! |---|---|
//! | [`method`] | the method table: [`Method`], the decoded [`Call`], typed markers in [`rpc`] |
//! | [`params`] | every method's params and results ([`Limits`] among them) |
//! | [`network`] | a session's private network: hosts, links, packets, the kernel's socket table |
//! | [`address`] | [`Address`]: Python's address tuples |
//! | [`payload`] | [`Payload`]: bytes, base64 in JSON |
//! | [`errno`] | Linux errno numbers, names, messages and Python exception classes; [`OsError`] |
//! | [`message`] | JSON-RPC ids, the error object and [`code`]s |
//! | [`codec`] | the session's codec, chosen by subprotocol: [`Codec`], [`codec::Frame`] |
//! | [`json`] | the JSON codec: encode and decode requests and responses |
//! | [`msgpack`] | the MessagePack codec: the same messages, bytes as they are |
//! | [`tree`] | the client's reader and writer for both codecs: one tree, small in the browser |
//! | [`auth`] | the per-start token: its subprotocol form, URL fragment and file |
//! | [`constants`] | `AF_*`, `SOCK_*`, `SOL_*`, `SO_*`, `IPPROTO_*`, `SHUT_*`, `MSG_*`, `AI_*` |
//!
//! ```
//! use bridge_protocol::{json, Call, Id, Method, params::FdParams};
//!
//! let text = json::encode_request(Some(&Id::Num(1)), Method::Close, &FdParams { fd: 3 });
//! assert_eq!(text, r#"{"jsonrpc":"2.0","id":1,"method":"close","params":{"fd":3}}"#);
//! let request = json::decode_request(&text).unwrap();
//! assert_eq!(request.call, Call::Close(FdParams { fd: 3 }));
//! ```

pub mod address;
pub mod auth;
pub mod codec;
pub mod constants;
pub mod errno;
pub mod json;
pub mod message;
pub mod method;
pub mod msgpack;
pub mod network;
pub mod params;
pub mod payload;
pub mod tree;

pub use address::Address;
pub use codec::{Codec, SUBPROTOCOL_MSGPACK};
pub use errno::{Errno, OsError};
pub use message::{ErrorCode, ErrorObject, Id, code};
pub use method::{Call, Method, Rpc, rpc};
pub use params::{Fd, Limits};
pub use payload::Payload;

/// The WebSocket subprotocol a client must offer, naming this protocol and its major version.
pub const SUBPROTOCOL: &str = "sockbridge.v1";

/// The protocol version `hello` reports.
pub const PROTOCOL_VERSION: u32 = 1;

/// The daemon's default port on 127.0.0.1.
pub const DEFAULT_PORT: u16 = 7320;

/// The deepest nesting of arrays and maps (JSON: arrays and objects) a message may have, in either
/// direction and either codec. A message nested deeper is a parse error (`-32700`) for that message
/// alone: the daemon finds it without recursion in the MessagePack codec and by serde_json's own
/// limit of 128 in the JSON codec; the client's reader ([`tree`]) counts levels. So no message can
/// exhaust a decoder's stack. Real messages nest at most 3 levels
/// (a request, its params, an address).
pub const MAX_NESTING: usize = 128;

/// The first handle number of a session, as in a fresh process (0-2 are stdio there).
pub const FIRST_FD: Fd = 3;

#[cfg(test)]
mod tests {
    use super::*;
    use crate::codec::FrameRef;
    use crate::params::*;
    use std::fmt::Debug;

    /// Encodes params and a result as the client and daemon do, decodes them as the other side does,
    /// and checks nothing changed.
    fn round_trip<R: Rpc>(params: R::Params, result: R::Result)
    where
        R::Params: PartialEq + Debug,
        R::Result: PartialEq + Debug,
    {
        let text = json::encode_request(Some(&Id::Num(1)), R::METHOD, &params);
        // The client's way, through a tree, writes the same bytes in both codecs.
        let tree = tree::to_value(&params);
        for codec in Codec::PREFERRED {
            for id in [Some(Id::Num(1)), Some(Id::Num(u64::MAX)), Some(Id::Str("a\"b".into())), None] {
                let direct = codec.encode_request(id.as_ref(), R::METHOD, &params);
                let through_tree = tree.as_ref().map(|t| codec.encode_tree_request(id.as_ref(), R::METHOD, t));
                assert_eq!(through_tree.as_ref(), Ok(&direct), "{} params, {codec:?}, id {id:?}", R::METHOD);
            }
        }
        let decoded = json::decode_request(&text).map(|r| r.call);
        let reparsed = decoded.as_ref().ok().map(|call| {
            let again = json::encode_request(Some(&Id::Num(1)), call.method(), call);
            again == text
        });
        assert_eq!(reparsed, Some(true), "{} params did not round-trip: {text}", R::METHOD);

        let text = json::encode_result(&Id::Num(1), &result);
        let back = Codec::Json
            .decode_response(FrameRef::Text(&text))
            .ok()
            .and_then(|r| r.outcome.ok())
            .and_then(|body| body.decode::<R::Result>(R::METHOD).ok());
        assert_eq!(back.as_ref(), Some(&result), "{} result did not round-trip: {text}", R::METHOD);

        // The MessagePack codec carries the same values.
        let codec = Codec::Msgpack;
        let frame = codec.encode_request(Some(&Id::Num(1)), R::METHOD, &params);
        let call = codec.decode_request(frame.as_ref()).map(|r| r.call);
        assert_eq!(call.as_ref().ok().map(Call::method), Some(R::METHOD), "{} params (msgpack): {call:?}", R::METHOD);
        let again = call.ok().map(|call| codec.encode_request(Some(&Id::Num(1)), call.method(), &call));
        assert_eq!(again.as_ref(), Some(&frame), "{} params did not round-trip in msgpack", R::METHOD);
        let frame = codec.encode_result(&Id::Num(1), &result);
        let back = codec
            .decode_response(frame.as_ref())
            .ok()
            .and_then(|r| r.outcome.ok())
            .and_then(|body| body.decode::<R::Result>(R::METHOD).ok());
        assert_eq!(back.as_ref(), Some(&result), "{} result did not round-trip in msgpack", R::METHOD);
    }

    #[test]
    fn every_method_round_trips() {
        let v4 = || Address::from(("127.0.0.1", 9000));
        let v6 = Address::from(("::1", 9000, 0, 0));
        let data = || Payload(b"hello\0\xff".to_vec());
        let limits = Limits {
            max_message_bytes: 1 << 20,
            max_payload_bytes: 1 << 19,
            max_inflight: 256,
            max_inflight_bytes: 8 << 20,
            max_sockets: 128,
        };
        round_trip::<rpc::Hello>(
            HelloParams { client: Some("test".into()) },
            HelloResult {
                protocol: SUBPROTOCOL.into(),
                protocol_version: PROTOCOL_VERSION,
                daemon: "bridge-daemon 0.1.0".into(),
                limits,
                features: vec!["unix".into()],
                labs: [("echo_tcp".to_owned(), v4())].into_iter().collect(),
                network: Some(network()),
            },
        );
        round_trip::<rpc::Socket>(
            SocketParams { family: constants::AF_INET6, kind: constants::SOCK_DGRAM, proto: 0, host: None },
            3,
        );
        round_trip::<rpc::Socket>(SocketParams { host: Some("pc2".into()), ..SocketParams::default() }, 4);
        round_trip::<rpc::Bind>(AddressParams { fd: 3, address: v4() }, ());
        round_trip::<rpc::Listen>(ListenParams { fd: 3, backlog: Some(5) }, ());
        round_trip::<rpc::Accept>(FdParams { fd: 3 }, AcceptResult { fd: 4, address: v6.clone() });
        round_trip::<rpc::Connect>(AddressParams { fd: 3, address: Address::from("echo.sock") }, ());
        round_trip::<rpc::Recv>(RecvParams { fd: 3, bufsize: 1024, flags: constants::MSG_PEEK, ahead: false }, data());
        round_trip::<rpc::Recv>(RecvParams { fd: 3, bufsize: 1024, flags: 0, ahead: true }, data());
        round_trip::<rpc::Recvfrom>(
            RecvParams { fd: 3, bufsize: 1024, flags: 0, ahead: false },
            RecvfromResult { data: data(), address: None },
        );
        round_trip::<rpc::Send>(SendParams { fd: 3, data: data(), flags: 0 }, 7);
        round_trip::<rpc::Sendall>(SendParams { fd: 3, data: data(), flags: 0 }, ());
        round_trip::<rpc::Sendto>(SendtoParams { fd: 3, data: data(), address: v4(), flags: 0 }, 7);
        round_trip::<rpc::Shutdown>(ShutdownParams { fd: 3, how: constants::SHUT_WR }, ());
        round_trip::<rpc::Close>(FdParams { fd: 3 }, ());
        round_trip::<rpc::Getsockname>(FdParams { fd: 3 }, v4());
        round_trip::<rpc::Getpeername>(FdParams { fd: 3 }, v6);
        round_trip::<rpc::Setsockopt>(
            SetsockoptParams {
                fd: 3,
                level: constants::SOL_SOCKET,
                optname: constants::SO_LINGER,
                value: OptValue::Bytes(Payload(vec![1, 0, 0, 0, 5, 0, 0, 0])),
            },
            (),
        );
        round_trip::<rpc::Setsockopt>(
            SetsockoptParams {
                fd: 3,
                level: constants::SOL_SOCKET,
                optname: constants::SO_REUSEADDR,
                value: OptValue::Int(1),
            },
            (),
        );
        round_trip::<rpc::Getsockopt>(
            GetsockoptParams { fd: 3, level: constants::IPPROTO_TCP, optname: constants::TCP_NODELAY, buflen: None },
            OptValue::Int(1),
        );
        round_trip::<rpc::Settimeout>(SettimeoutParams { fd: 3, timeout: Some(2.5) }, ());
        round_trip::<rpc::Settimeout>(SettimeoutParams { fd: 3, timeout: None }, ());
        round_trip::<rpc::Setblocking>(SetblockingParams { fd: 3, flag: false }, ());
        round_trip::<rpc::Getaddrinfo>(
            GetaddrinfoParams {
                host: Some("localhost".into()),
                port: Some(Service::Name("http".into())),
                ..Default::default()
            },
            vec![AddrInfo {
                family: 2,
                kind: 1,
                proto: 6,
                canonname: String::new(),
                address: Address::from(("127.0.0.1", 80)),
            }],
        );
        round_trip::<rpc::Gethostbyname>(GethostbynameParams { hostname: "localhost".into() }, "127.0.0.1".to_owned());
        round_trip::<rpc::Gethostname>(NoParams {}, "host".to_owned());
        round_trip::<rpc::Select>(
            SelectParams { rlist: vec![3, 4], wlist: vec![5], xlist: vec![], timeout: Some(0.0) },
            SelectResult { rlist: vec![4], wlist: vec![5], xlist: vec![] },
        );
        round_trip::<rpc::Network>(NoParams {}, network());
        round_trip::<rpc::AddHost>(HostParams { name: "pc2".into() }, network().hosts[1].clone());
        let link =
            LinkSettings { loss: 0.25, duplicate: 0.0, reorder: 0.5, delay: 0.1, jitter: 0.01, rate: Some(64_000) };
        round_trip::<rpc::SetLink>(SetLinkParams { host: "pc2".into(), link }, link);
        round_trip::<rpc::Packets>(
            PacketsParams { since: Some(4), max: Some(10) },
            PacketsResult {
                packets: vec![PacketInfo {
                    n: 4,
                    t: 0.5,
                    from: "pc2".into(),
                    to: vec!["pc1".into()],
                    fate: "delivered".into(),
                    proto: "tcp".into(),
                    src: Address::from(("10.0.0.2", 40000)),
                    dst: Address::from(("10.0.0.1", 80)),
                    flags: Some("SYN".into()),
                    seq: Some(1),
                    ack: None,
                    window: Some(64240),
                    len: 0,
                    text: "10.0.0.2:40000 → 10.0.0.1:80 TCP [SYN] seq 1 win 64240 len 0".into(),
                }],
                next: 5,
                missed: 0,
                now: 0.75,
            },
        );
        round_trip::<rpc::Pcap>(NoParams {}, data());
        round_trip::<rpc::Netstat>(
            NetstatParams { host: Some("pc1".into()) },
            vec![NetstatRow {
                host: "pc1".into(),
                proto: "tcp".into(),
                local: Address::from(("0.0.0.0", 80)),
                remote: None,
                state: "LISTEN".into(),
                fd: Some(3),
            }],
        );
    }

    fn network() -> NetworkInfo {
        NetworkInfo {
            mode: "private".into(),
            hosts: vec![
                HostInfo { name: "pc1".into(), address: "10.0.0.1".into(), address6: "fd00::1".into(), labs: false },
                HostInfo { name: "pc2".into(), address: "10.0.0.2".into(), address6: "fd00::2".into(), labs: false },
                HostInfo { name: "lab".into(), address: "10.0.0.254".into(), address6: "fd00::fe".into(), labs: true },
            ],
            lan: Some("10.0.0.0/24, fd00::/64".into()),
            why: None,
        }
    }

    #[test]
    fn bool_option_values_read_as_ints() {
        let req = json::decode_request(
            r#"{"jsonrpc":"2.0","id":1,"method":"setsockopt","params":{"fd":3,"level":1,"optname":2,"value":true}}"#,
        );
        let value = match req.map(|r| r.call) {
            Ok(Call::Setsockopt(p)) => Some(p.value),
            _ => None,
        };
        assert_eq!(value, Some(OptValue::Int(1)));
    }
}
