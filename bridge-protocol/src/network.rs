//! A session's private network: its hosts, its links, the packets on them and the kernel's table of
//! its sockets. The params and results of `network`, `add_host`, `set_link`, `packets`, `pcap`
//! and `netstat`; see "Private networks" in `docs/protocol.md`.

use crate::address::Address;
use crate::params::Fd;
use serde::{Deserialize, Serialize};

/// How a session's sockets reach each other.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetworkInfo {
    /// `"private"`: the session has a network of its own, each host a network namespace. `"shared"`:
    /// its sockets are the daemon's, on the daemon computer's loopback, under the egress policy.
    pub mode: String,
    /// The hosts, the first being where sockets go when no host is named. Empty when shared.
    #[serde(default, skip_serializing_if = "Vec::is_empty")]
    pub hosts: Vec<HostInfo>,
    /// The hosts' LAN, `"10.0.0.0/24, fd00::/64"`. Absent when shared.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lan: Option<String>,
    /// Why a daemon asked for private networks runs shared (no namespaces on this system).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub why: Option<String>,
}

/// One host: a computer of the private network.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostInfo {
    /// Its name: what `gethostname()` says there, and what resolves to its address.
    pub name: String,
    /// Its IPv4 address on the LAN.
    pub address: String,
    /// Its IPv6 address on the LAN (`fd00::` and its IPv4 address's last byte).
    #[serde(default)]
    pub address6: String,
    /// Whether the lab services (echo, discard, daytime, chargen) run on it.
    #[serde(default, skip_serializing_if = "std::ops::Not::not")]
    pub labs: bool,
}

/// Params of `add_host`.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostParams {
    /// The new host's name: letters, digits and `-`, 1 to 63 of them, starting with a letter.
    pub name: String,
}

/// What a host's link does to the packets the host sends. Every field defaults to nothing.
#[derive(Clone, Copy, Debug, Default, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct LinkSettings {
    /// The share of packets lost, 0 to 1.
    #[serde(default)]
    pub loss: f64,
    /// The share of packets sent twice, 0 to 1.
    #[serde(default)]
    pub duplicate: f64,
    /// The share of packets held back so that later ones overtake them, 0 to 1.
    #[serde(default)]
    pub reorder: f64,
    /// Seconds every packet is delayed, 0 to 10.
    #[serde(default)]
    pub delay: f64,
    /// Up to this many seconds more, at random, 0 to 10.
    #[serde(default)]
    pub jitter: f64,
    /// The link's speed in bits per second (at least 8,000); absent for as fast as it goes.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub rate: Option<u64>,
}

/// Params of `set_link`: a host and its link's new settings (they replace the old ones whole).
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct SetLinkParams {
    /// The host whose outgoing link this is.
    pub host: String,
    /// The settings.
    #[serde(default)]
    pub link: LinkSettings,
}

/// Params of `packets`.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct PacketsParams {
    /// The first packet number wanted (the `next` of the previous answer); absent for the oldest
    /// the capture still holds.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub since: Option<u64>,
    /// The most packets to return (at most 1,000, the default).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub max: Option<usize>,
}

/// Result of `packets`.
#[derive(Clone, Debug, Default, PartialEq, Serialize, Deserialize)]
pub struct PacketsResult {
    /// The packets, oldest first.
    pub packets: Vec<PacketInfo>,
    /// The number to ask for next.
    pub next: u64,
    /// Packets after `since` that the capture no longer holds (it keeps the newest).
    pub missed: u64,
    /// Seconds since the network was made, as the daemon answered: the clock of the packets' `t`,
    /// so a page can place packets among its own calls.
    #[serde(default)]
    pub now: f64,
}

/// One packet a host sent on the LAN, as the daemon's link saw it.
#[derive(Clone, Debug, PartialEq, Serialize, Deserialize)]
pub struct PacketInfo {
    /// Its number in the network's capture, from 0.
    pub n: u64,
    /// Seconds since the network was made.
    pub t: f64,
    /// The host that sent it.
    pub from: String,
    /// The hosts it reached (several for a broadcast; none when it was dropped).
    pub to: Vec<String>,
    /// What the link did with it: `"delivered"`, `"duplicated"` (delivered twice), `"reordered"`
    /// (held back, so later packets overtook it), `"lost"`, `"no-host"` (nobody on the LAN has the
    /// address), `"queue-full"`, `"over-rate"` (the host's packet rate) or `"over-network-rate"` (the
    /// whole network's byte rate).
    pub fate: String,
    /// `"tcp"`, `"udp"`, `"icmp"`, or the IP protocol number.
    pub proto: String,
    /// Source and destination addresses (ports too for TCP and UDP).
    pub src: Address,
    /// The destination.
    pub dst: Address,
    /// TCP flags as Wireshark names them: `"SYN"`, `"SYN, ACK"`, `"ACK"`, `"PSH, ACK"`,
    /// `"FIN, ACK"`, `"RST, ACK"`.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub flags: Option<String>,
    /// TCP sequence number.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub seq: Option<u32>,
    /// TCP acknowledgement number (when the ACK flag is set).
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub ack: Option<u32>,
    /// TCP window.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub window: Option<u16>,
    /// Bytes of data the packet carries (TCP or UDP payload).
    pub len: usize,
    /// The whole packet in one line, as tcpdump would put it.
    pub text: String,
}

/// Params of `netstat`.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct NetstatParams {
    /// One host; absent for every host.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub host: Option<String>,
}

/// One socket in a host's kernel table.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct NetstatRow {
    /// The host.
    pub host: String,
    /// `"tcp"` or `"udp"`.
    pub proto: String,
    /// Its address.
    pub local: Address,
    /// Its peer's; absent when it has none.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub remote: Option<Address>,
    /// The kernel's state: `LISTEN`, `SYN_SENT`, `ESTABLISHED`, `FIN_WAIT1`, `FIN_WAIT2`,
    /// `TIME_WAIT`, `CLOSE_WAIT`, `LAST_ACK`, `CLOSING`; for UDP `UNCONN` or `ESTABLISHED`.
    pub state: String,
    /// The session's handle for it; absent for a socket no handle holds (one in TIME_WAIT, or the
    /// lab services').
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub fd: Option<Fd>,
}
