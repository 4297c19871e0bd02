//! Socket addresses as Python writes them.
//!
//! | family    | Python                           | wire                         |
//! |-----------|----------------------------------|------------------------------|
//! | AF_INET   | `("127.0.0.1", 9000)`            | `["127.0.0.1", 9000]`        |
//! | AF_INET6  | `("::1", 9000, 0, 0)`            | `["::1", 9000, 0, 0]`        |
//! | AF_UNIX   | `"echo.sock"`                    | `"echo.sock"`                |
//!
//! On input an AF_INET6 address may also be `[host, port]` or `[host, port, flowinfo]`, as Python
//! accepts; the daemon always answers with the four-element form. A host may be a name
//! (`"localhost"`), resolved by the daemon as Python resolves it. A Unix address is the name of a
//! socket file in the daemon's sandbox directory; an unbound Unix socket's name is `""`, and an
//! unnamed peer (Python's `None`) is `null` where the result type allows it.

use serde::de::{self, SeqAccess, Visitor};
use serde::ser::SerializeTuple;
use serde::{Deserialize, Deserializer, Serialize, Serializer};
use std::fmt;
use std::net::SocketAddr;

/// A socket address: an (IP or host name, port) pair, or a Unix socket name.
#[derive(Clone, Debug, PartialEq, Eq, Hash)]
pub enum Address {
    /// `[host, port]`: an IPv4 address, or an IPv6 one given without flowinfo and scope.
    Inet {
        /// An IP literal or a host name.
        host: String,
        /// The port.
        port: u16,
    },
    /// `[host, port, flowinfo, scope_id]`: an IPv6 address.
    Inet6 {
        /// An IPv6 literal or a host name.
        host: String,
        /// The port.
        port: u16,
        /// The IPv6 flow label.
        flowinfo: u32,
        /// The scope (interface) id.
        scope_id: u32,
    },
    /// A Unix socket name (`""` for an unbound socket).
    Unix(String),
}

impl Address {
    /// The port, for IP addresses.
    pub fn port(&self) -> Option<u16> {
        match self {
            Address::Inet { port, .. } | Address::Inet6 { port, .. } => Some(*port),
            Address::Unix(_) => None,
        }
    }

    /// The host part, for IP addresses.
    pub fn host(&self) -> Option<&str> {
        match self {
            Address::Inet { host, .. } | Address::Inet6 { host, .. } => Some(host),
            Address::Unix(_) => None,
        }
    }
}

impl From<SocketAddr> for Address {
    /// The form Python's `getsockname` gives: two elements for IPv4, four for IPv6.
    fn from(addr: SocketAddr) -> Self {
        match addr {
            SocketAddr::V4(a) => Address::Inet { host: a.ip().to_string(), port: a.port() },
            SocketAddr::V6(a) => Address::Inet6 {
                host: a.ip().to_string(),
                port: a.port(),
                flowinfo: a.flowinfo(),
                scope_id: a.scope_id(),
            },
        }
    }
}

impl From<(&str, u16)> for Address {
    fn from((host, port): (&str, u16)) -> Self {
        Address::Inet { host: host.to_owned(), port }
    }
}

impl From<(String, u16)> for Address {
    fn from((host, port): (String, u16)) -> Self {
        Address::Inet { host, port }
    }
}

impl From<(&str, u16, u32, u32)> for Address {
    fn from((host, port, flowinfo, scope_id): (&str, u16, u32, u32)) -> Self {
        Address::Inet6 { host: host.to_owned(), port, flowinfo, scope_id }
    }
}

impl From<&str> for Address {
    /// A Unix socket name.
    fn from(name: &str) -> Self {
        Address::Unix(name.to_owned())
    }
}

impl fmt::Display for Address {
    /// Python's `repr` of the address tuple: `('127.0.0.1', 9000)`, `'echo.sock'`.
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Address::Inet { host, port } => write!(f, "('{host}', {port})"),
            Address::Inet6 { host, port, flowinfo, scope_id } => {
                write!(f, "('{host}', {port}, {flowinfo}, {scope_id})")
            }
            Address::Unix(path) => write!(f, "'{path}'"),
        }
    }
}

impl Serialize for Address {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        match self {
            Address::Inet { host, port } => {
                let mut t = serializer.serialize_tuple(2)?;
                t.serialize_element(host)?;
                t.serialize_element(port)?;
                t.end()
            }
            Address::Inet6 { host, port, flowinfo, scope_id } => {
                let mut t = serializer.serialize_tuple(4)?;
                t.serialize_element(host)?;
                t.serialize_element(port)?;
                t.serialize_element(flowinfo)?;
                t.serialize_element(scope_id)?;
                t.end()
            }
            Address::Unix(path) => serializer.serialize_str(path),
        }
    }
}

impl<'de> Deserialize<'de> for Address {
    fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        struct AddressVisitor;

        impl<'de> Visitor<'de> for AddressVisitor {
            type Value = Address;

            fn expecting(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
                f.write_str("an address: [host, port], [host, port, flowinfo, scope_id] or a Unix socket name")
            }

            fn visit_str<E: de::Error>(self, v: &str) -> Result<Address, E> {
                Ok(Address::Unix(v.to_owned()))
            }

            fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Address, A::Error> {
                let host: String = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(0, &self))?;
                let port: u16 = seq.next_element()?.ok_or_else(|| de::Error::invalid_length(1, &self))?;
                let flowinfo: Option<u32> = seq.next_element()?;
                let scope_id: Option<u32> = match flowinfo {
                    Some(_) => seq.next_element()?,
                    None => None,
                };
                if seq.next_element::<de::IgnoredAny>()?.is_some() {
                    return Err(de::Error::invalid_length(5, &self));
                }
                Ok(match flowinfo {
                    None => Address::Inet { host, port },
                    Some(flowinfo) => Address::Inet6 { host, port, flowinfo, scope_id: scope_id.unwrap_or(0) },
                })
            }
        }

        deserializer.deserialize_any(AddressVisitor)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use serde_json::json;

    #[test]
    fn round_trips() {
        for (addr, wire) in [
            (Address::from(("127.0.0.1", 9000)), json!(["127.0.0.1", 9000])),
            (Address::from(("::1", 9000, 0, 0)), json!(["::1", 9000, 0, 0])),
            (Address::from("echo.sock"), json!("echo.sock")),
            (Address::Unix(String::new()), json!("")),
        ] {
            assert_eq!(serde_json::to_value(&addr).ok(), Some(wire.clone()));
            assert_eq!(serde_json::from_value::<Address>(wire).ok(), Some(addr));
        }
    }

    #[test]
    fn three_element_ipv6_takes_scope_zero() {
        let a: Address = serde_json::from_value(json!(["::1", 80, 5])).unwrap_or(Address::Unix(String::new()));
        assert_eq!(a, Address::Inet6 { host: "::1".into(), port: 80, flowinfo: 5, scope_id: 0 });
    }

    #[test]
    fn rejects_bad_shapes() {
        for bad in [json!([]), json!(["h"]), json!(["h", 70000]), json!(["h", -1]), json!(["h", 1, 2, 3, 4]), json!(5)]
        {
            assert!(serde_json::from_value::<Address>(bad.clone()).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn displays_like_python() {
        assert_eq!(Address::from(("127.0.0.1", 80)).to_string(), "('127.0.0.1', 80)");
        assert_eq!(Address::from("a.sock").to_string(), "'a.sock'");
    }
}
