//! The capture: every packet a host of the network sent, with what its link did to it, kept newest
//! first up to a byte bound, and given to the page decoded (`packets`) or as a pcap file (`pcap`).
//!
//! The capture is taken where the packet leaves its sender (as `tcpdump -i eth0` on that host
//! would see it): a packet the link then lost is in the pcap file, and `packets` says it was lost.

use crate::packet::{self, PcapWriter, Transport};
use bridge_protocol::Address;
use bridge_protocol::params::{PacketInfo, PacketsResult};
use std::collections::VecDeque;
use std::net::SocketAddr;
use std::time::{Duration, Instant, SystemTime};

/// What the link did with a packet.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Fate {
    Delivered,
    Duplicated,
    Reordered,
    Lost,
    NoHost,
    QueueFull,
    OverRate,
    /// Dropped: the network as a whole was over `network_bytes_per_second`.
    OverNetworkRate,
}

impl Fate {
    fn name(self) -> &'static str {
        match self {
            Fate::Delivered => "delivered",
            Fate::Duplicated => "duplicated",
            Fate::Reordered => "reordered",
            Fate::Lost => "lost",
            Fate::NoHost => "no-host",
            Fate::QueueFull => "queue-full",
            Fate::OverRate => "over-rate",
            Fate::OverNetworkRate => "over-network-rate",
        }
    }
}

/// One captured packet.
#[derive(Debug)]
struct Captured {
    at: Duration,
    from: usize,
    to: Vec<usize>,
    fate: Fate,
    bytes: Box<[u8]>,
}

/// Bytes a packet costs in the capture besides its own: its record here, and its record header
/// in a pcap file.
const RECORD_OVERHEAD: usize = 64;

/// The most packets one `packets` answer carries.
pub(crate) const MAX_PACKETS_PER_ANSWER: usize = 1000;

/// The packets of one network.
#[derive(Debug)]
pub(crate) struct Capture {
    packets: VecDeque<Captured>,
    /// The number of `packets[0]`.
    first: u64,
    bytes: usize,
    max_bytes: usize,
    started: Instant,
    epoch: SystemTime,
}

impl Capture {
    /// An empty capture that keeps at most `max_bytes` (packets and their records).
    pub(crate) fn new(max_bytes: usize) -> Capture {
        Capture {
            packets: VecDeque::new(),
            first: 0,
            bytes: 0,
            max_bytes,
            started: Instant::now(),
            epoch: SystemTime::now(),
        }
    }

    /// Records a packet host `from` sent at `now`, dropping the oldest to make room.
    pub(crate) fn record(&mut self, now: Instant, from: usize, to: Vec<usize>, fate: Fate, bytes: &[u8]) {
        let cost = bytes.len() + RECORD_OVERHEAD;
        while self.bytes + cost > self.max_bytes {
            let Some(old) = self.packets.pop_front() else { return };
            self.bytes -= old.bytes.len() + RECORD_OVERHEAD;
            self.first += 1;
        }
        self.bytes += cost;
        let at = now.saturating_duration_since(self.started);
        self.packets.push_back(Captured { at, from, to, fate, bytes: bytes.into() });
    }

    /// The number the next packet will have.
    pub(crate) fn next(&self) -> u64 {
        self.first + self.packets.len() as u64
    }

    /// Packets from number `since` on (at most `max`), decoded; `names` names the hosts.
    pub(crate) fn packets(&self, since: Option<u64>, max: usize, names: &[String]) -> PacketsResult {
        let since = since.unwrap_or(self.first);
        let missed = self.first.saturating_sub(since);
        let start = since.max(self.first);
        let skip = usize::try_from(start - self.first).unwrap_or(usize::MAX);
        let name = |i: usize| names.get(i).cloned().unwrap_or_default();
        let packets: Vec<PacketInfo> = self
            .packets
            .iter()
            .skip(skip)
            .take(max.min(MAX_PACKETS_PER_ANSWER))
            .enumerate()
            .map(|(i, c)| {
                let mut info = describe(&c.bytes);
                info.n = start + i as u64;
                info.t = c.at.as_secs_f64();
                info.from = name(c.from);
                info.to = c.to.iter().map(|&i| name(i)).collect();
                info.fate = c.fate.name().to_owned();
                info
            })
            .collect();
        let next = (start + packets.len() as u64).min(self.next());
        PacketsResult { packets, next, missed, now: self.started.elapsed().as_secs_f64() }
    }

    /// The capture as a pcap file (raw IP, the packets' wall-clock times).
    pub(crate) fn pcap(&self) -> Vec<u8> {
        let mut writer = PcapWriter::new(65535);
        let since_epoch = self.epoch.duration_since(SystemTime::UNIX_EPOCH).unwrap_or_default();
        for c in &self.packets {
            writer.packet(since_epoch + c.at, &c.bytes);
        }
        writer.bytes().to_vec()
    }
}

/// A packet's fields; `n`, `t`, `from`, `to` and `fate` are the caller's to fill.
fn describe(bytes: &[u8]) -> PacketInfo {
    let blank = |text: String| PacketInfo {
        n: 0,
        t: 0.0,
        from: String::new(),
        to: Vec::new(),
        fate: String::new(),
        proto: String::new(),
        src: Address::from(""),
        dst: Address::from(""),
        flags: None,
        seq: None,
        ack: None,
        window: None,
        len: 0,
        text,
    };
    let p = match packet::decode(bytes) {
        Ok(p) => p,
        Err(e) => {
            let mut info = blank(format!("{} bytes that do not decode: {e}", bytes.len()));
            info.proto = "?".into();
            return info;
        }
    };
    let mut info = blank(p.to_string());
    let with_port = |ip, port| Address::from(SocketAddr::new(ip, port));
    let bare = |ip: std::net::IpAddr| Address::Inet { host: ip.to_string(), port: 0 };
    (info.src, info.dst) = (bare(p.src), bare(p.dst));
    match p.transport {
        Transport::Tcp(t) => {
            info.proto = "tcp".into();
            (info.src, info.dst) = (with_port(p.src, t.src_port), with_port(p.dst, t.dst_port));
            info.flags = Some(t.flags.to_string());
            info.seq = Some(t.seq);
            info.ack = t.flags.ack().then_some(t.ack);
            info.window = Some(t.window);
            info.len = t.payload_len;
        }
        Transport::Udp(u) => {
            info.proto = "udp".into();
            (info.src, info.dst) = (with_port(p.src, u.src_port), with_port(p.dst, u.dst_port));
            info.len = u.payload_len;
        }
        Transport::Icmp(_) => info.proto = "icmp".into(),
        Transport::Fragment { protocol } | Transport::Other { protocol } => info.proto = protocol.to_string(),
    }
    info
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used)]

    use super::*;

    /// A SYN from 127.0.0.1:45334 to 127.0.0.1:44799, as Linux sent it (60 bytes).
    const SYN: &str = "4500003c21c6400040061af47f0000017f000001b116aeff6055f2e400000000a002ffd7fe30\
                       00000204ffd70402080aaf0c187f000000000103030a";

    fn syn() -> Vec<u8> {
        (0..SYN.len()).step_by(2).map(|i| u8::from_str_radix(&SYN[i..i + 2], 16).unwrap()).collect()
    }

    fn names() -> Vec<String> {
        vec!["pc1".into(), "pc2".into()]
    }

    #[test]
    fn packets_come_decoded_with_their_hosts_and_fate() {
        let mut c = Capture::new(1 << 20);
        let now = Instant::now();
        c.record(now, 0, vec![1], Fate::Delivered, &syn());
        c.record(now, 1, vec![], Fate::Lost, &syn());
        let got = c.packets(None, 10, &names());
        assert_eq!((got.next, got.missed, got.packets.len()), (2, 0, 2));
        let p = &got.packets[0];
        assert_eq!(
            (p.n, p.from.as_str(), p.to.clone(), p.fate.as_str()),
            (0, "pc1", vec!["pc2".to_owned()], "delivered")
        );
        assert_eq!((p.proto.as_str(), p.flags.as_deref(), p.seq, p.ack), ("tcp", Some("SYN"), Some(1616245476), None));
        assert_eq!(p.src, Address::from(("127.0.0.1", 45334)));
        assert_eq!(p.text, "127.0.0.1:45334 → 127.0.0.1:44799 TCP [SYN] seq 1616245476 win 65495 len 0");
        assert_eq!(got.packets[1].fate, "lost");
        // Asking again from `next` gives nothing new.
        let again = c.packets(Some(got.next), 10, &names());
        assert_eq!((again.packets.len(), again.next, again.missed), (0, 2, 0));
    }

    #[test]
    fn the_capture_keeps_the_newest_within_its_bound_and_says_what_was_missed() {
        let per = syn().len() + RECORD_OVERHEAD;
        let mut c = Capture::new(per * 3);
        let now = Instant::now();
        for _ in 0..10 {
            c.record(now, 0, vec![1], Fate::Delivered, &syn());
        }
        let got = c.packets(Some(0), 100, &names());
        assert_eq!(got.missed, 7);
        assert_eq!(got.packets.iter().map(|p| p.n).collect::<Vec<_>>(), [7, 8, 9]);
        assert_eq!(got.next, 10);
        let limited = c.packets(Some(7), 2, &names());
        assert_eq!((limited.packets.len(), limited.next), (2, 9));
        // The pcap file has the three it holds: a 24-byte header and 16 bytes before each packet.
        assert_eq!(c.pcap().len(), 24 + 3 * (16 + syn().len()));
        // A packet bigger than the whole capture is not kept, and nothing breaks.
        let mut tiny = Capture::new(10);
        tiny.record(now, 0, vec![], Fate::Delivered, &syn());
        assert_eq!(tiny.packets(None, 10, &names()).packets.len(), 0);
    }

    #[test]
    fn bytes_that_do_not_decode_are_still_listed() {
        let mut c = Capture::new(1 << 20);
        c.record(Instant::now(), 0, vec![], Fate::NoHost, &[0x45, 0, 0]);
        let got = c.packets(None, 10, &names());
        assert_eq!(got.packets[0].proto, "?");
        assert!(got.packets[0].text.contains("do not decode"), "{}", got.packets[0].text);
    }
}
