//! The method table: every method's wire name, params, result and whether it may block, in one
//! place. [`Method`], [`Call`] and the typed markers in [`rpc`] are all generated from it.

use crate::address::Address;
use crate::params::*;
use crate::payload::Payload;
use serde::de::DeserializeOwned;
use serde::{Deserialize, Deserializer, Serialize};

/// A method's types, for typed calls: `client.call::<rpc::Bind>(params)`.
pub trait Rpc {
    /// The method.
    const METHOD: Method;
    /// Its params.
    type Params: Serialize + DeserializeOwned + Send + 'static;
    /// Its result.
    type Result: Serialize + DeserializeOwned + Send + 'static;
}

macro_rules! methods {
    ($( $(#[$doc:meta])* $variant:ident = $name:literal ($params:ty) -> $result:ty, $blocking:literal, $sig:literal; )*) => {
        /// Every method of the protocol.
        #[derive(Clone, Copy, Debug, PartialEq, Eq, Hash)]
        pub enum Method {
            $( $(#[$doc])* $variant, )*
        }

        impl Method {
            /// Every method, in spec order.
            pub const ALL: &'static [Method] = &[$(Method::$variant),*];

            /// The wire name (Python's name for it).
            pub const fn name(self) -> &'static str {
                match self { $(Method::$variant => $name,)* }
            }

            /// The method with this wire name.
            pub fn from_name(name: &str) -> Option<Method> {
                match name { $($name => Some(Method::$variant),)* _ => None }
            }

            /// Whether a call may wait: on the network, the peer, a timeout or the resolver.
            ///
            /// Only these count against `Limits::max_inflight`; the others answer at once, so a
            /// client can always `close` a socket even while its in-flight allowance is used up.
            pub const fn may_block(self) -> bool {
                match self { $(Method::$variant => $blocking,)* }
            }

            /// The params the method takes, as shown in error messages: `{fd, bufsize, flags?}`.
            pub const fn signature(self) -> &'static str {
                match self { $(Method::$variant => $sig,)* }
            }
        }

        /// A decoded request: the method and its typed params.
        #[derive(Clone, Debug, PartialEq)]
        pub enum Call {
            $( $(#[$doc])* $variant($params), )*
        }

        impl Call {
            /// The method called.
            pub fn method(&self) -> Method {
                match self { $(Call::$variant(_) => Method::$variant,)* }
            }

            /// Decodes `method`'s params from any serde format.
            pub fn from_params<'de, D: Deserializer<'de>>(method: Method, params: D) -> Result<Call, D::Error> {
                Ok(match method {
                    $(Method::$variant => Call::$variant(<$params>::deserialize(params)?),)*
                })
            }
        }

        /// A call serialises as its params (the method travels beside them).
        impl serde::Serialize for Call {
            fn serialize<S: serde::Serializer>(&self, s: S) -> Result<S::Ok, S::Error> {
                match self { $(Call::$variant(p) => p.serialize(s),)* }
            }
        }

        /// One zero-sized marker per method, implementing [`Rpc`].
        pub mod rpc {
            #[allow(unused_imports)]
            use super::*;
            $(
                $(#[$doc])*
                #[derive(Clone, Copy, Debug)]
                pub struct $variant;
                impl Rpc for $variant {
                    const METHOD: Method = Method::$variant;
                    type Params = $params;
                    type Result = $result;
                }
            )*
        }
    };
}

methods! {
    /// Reports protocol version, daemon version, limits and features.
    Hello = "hello" (HelloParams) -> HelloResult, false, "{client?}";
    /// Creates a socket: `socket(family, type, proto)`.
    Socket = "socket" (SocketParams) -> Fd, false, "{family?, type?, proto?, host?}";
    /// Binds a socket to a local address.
    Bind = "bind" (AddressParams) -> (), false, "{fd, address}";
    /// Starts listening for connections.
    Listen = "listen" (ListenParams) -> (), false, "{fd, backlog?}";
    /// Waits for and accepts a connection.
    Accept = "accept" (FdParams) -> AcceptResult, true, "{fd}";
    /// Connects to a remote address.
    Connect = "connect" (AddressParams) -> (), true, "{fd, address}";
    /// Receives at most `bufsize` bytes; empty means the peer closed.
    Recv = "recv" (RecvParams) -> Payload, true, "{fd, bufsize, flags?, ahead?}";
    /// Receives a datagram and its sender's address.
    Recvfrom = "recvfrom" (RecvParams) -> RecvfromResult, true, "{fd, bufsize, flags?}";
    /// Sends bytes; returns how many were sent (may be fewer).
    Send = "send" (SendParams) -> usize, true, "{fd, data (base64), flags?}";
    /// Sends all the bytes, or fails.
    Sendall = "sendall" (SendParams) -> (), true, "{fd, data (base64), flags?}";
    /// Sends a datagram to an address; returns the bytes sent.
    Sendto = "sendto" (SendtoParams) -> usize, true, "{fd, data (base64), address, flags?}";
    /// Shuts down one or both directions.
    Shutdown = "shutdown" (ShutdownParams) -> (), false, "{fd, how}";
    /// Closes the socket; its pending operations fail with EBADF.
    Close = "close" (FdParams) -> (), false, "{fd}";
    /// The socket's own address.
    Getsockname = "getsockname" (FdParams) -> Address, false, "{fd}";
    /// The connected peer's address.
    Getpeername = "getpeername" (FdParams) -> Address, false, "{fd}";
    /// Sets a socket option.
    Setsockopt = "setsockopt" (SetsockoptParams) -> (), false, "{fd, level, optname, value (int, bool or base64)}";
    /// Reads a socket option.
    Getsockopt = "getsockopt" (GetsockoptParams) -> OptValue, false, "{fd, level, optname, buflen?}";
    /// Sets the timeout for the socket's later operations.
    Settimeout = "settimeout" (SettimeoutParams) -> (), false, "{fd, timeout (seconds or null)}";
    /// Blocking (`true`) or non-blocking (`false`) mode.
    Setblocking = "setblocking" (SetblockingParams) -> (), false, "{fd, flag}";
    /// Resolves a host and port to addresses.
    Getaddrinfo = "getaddrinfo" (GetaddrinfoParams) -> Vec<AddrInfo>, true, "{host, port, family?, type?, proto?, flags?}";
    /// Resolves a host name to one IPv4 address.
    Gethostbyname = "gethostbyname" (GethostbynameParams) -> String, true, "{hostname}";
    /// The daemon host's name.
    Gethostname = "gethostname" (NoParams) -> String, false, "{}";
    /// Waits until sockets are ready: `select.select`.
    Select = "select" (SelectParams) -> SelectResult, true, "{rlist?, wlist?, xlist?, timeout?}";
    /// The session's network: its mode and hosts.
    Network = "network" (NoParams) -> NetworkInfo, false, "{}";
    /// Adds a host to the session's private network.
    AddHost = "add_host" (HostParams) -> HostInfo, false, "{name}";
    /// Sets what a host's link does to the packets it sends (loss, delay, ...).
    SetLink = "set_link" (SetLinkParams) -> LinkSettings, false, "{host, link: {loss?, duplicate?, reorder?, delay?, jitter?, rate?}}";
    /// The packets the private network's hosts sent, from a number on.
    Packets = "packets" (PacketsParams) -> PacketsResult, false, "{since?, max?}";
    /// The packets the capture holds, as a pcap file.
    Pcap = "pcap" (NoParams) -> Payload, false, "{}";
    /// The kernel's table of the hosts' sockets, with their TCP states.
    Netstat = "netstat" (NetstatParams) -> Vec<NetstatRow>, false, "{host?}";
}

impl std::fmt::Display for Method {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.name())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn names_round_trip_and_are_unique() {
        for &m in Method::ALL {
            assert_eq!(Method::from_name(m.name()), Some(m));
        }
        let mut names: Vec<_> = Method::ALL.iter().map(|m| m.name()).collect();
        names.sort_unstable();
        names.dedup();
        assert_eq!(names.len(), Method::ALL.len());
        assert_eq!(Method::from_name("Recv"), None);
    }

    #[test]
    fn blocking_classes() {
        let blocking: Vec<_> = Method::ALL.iter().filter(|m| m.may_block()).map(|m| m.name()).collect();
        assert_eq!(
            blocking,
            [
                "accept",
                "connect",
                "recv",
                "recvfrom",
                "send",
                "sendall",
                "sendto",
                "getaddrinfo",
                "gethostbyname",
                "select"
            ]
        );
    }
}
