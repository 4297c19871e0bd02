//! The classic pcap file format (what Wireshark and tcpdump read), for raw IP packets: a 24-byte
//! file header, then per packet a 16-byte record header and the packet's bytes.

use std::time::Duration;

/// pcap's link type for packets that begin with their IP header (no link layer).
pub const LINKTYPE_RAW: u32 = 101;

/// pcap's magic number for microsecond timestamps, written in the file's byte order (little-endian
/// here), which is how readers tell the order.
const MAGIC: u32 = 0xa1b2_c3d4;

/// Writes a capture into a byte buffer: [`PcapWriter::new`] puts the file header, each
/// [`PcapWriter::packet`] one record. Packets longer than `snaplen` are cut there, and the record
/// says how long they were.
#[derive(Debug)]
pub struct PcapWriter {
    out: Vec<u8>,
    snaplen: u32,
}

impl PcapWriter {
    /// A capture of raw IP packets, keeping at most `snaplen` bytes of each.
    pub fn new(snaplen: u32) -> PcapWriter {
        let mut out = Vec::with_capacity(24);
        out.extend_from_slice(&MAGIC.to_le_bytes());
        out.extend_from_slice(&2u16.to_le_bytes()); // version 2.4
        out.extend_from_slice(&4u16.to_le_bytes());
        out.extend_from_slice(&0i32.to_le_bytes()); // timestamps are UTC
        out.extend_from_slice(&0u32.to_le_bytes()); // accuracy (always 0)
        out.extend_from_slice(&snaplen.to_le_bytes());
        out.extend_from_slice(&LINKTYPE_RAW.to_le_bytes());
        PcapWriter { out, snaplen }
    }

    /// Adds one packet, seen at `at` after the Unix epoch.
    pub fn packet(&mut self, at: Duration, bytes: &[u8]) {
        let kept = bytes.len().min(self.snaplen as usize);
        let seconds = u32::try_from(at.as_secs()).unwrap_or(u32::MAX);
        self.out.extend_from_slice(&seconds.to_le_bytes());
        self.out.extend_from_slice(&at.subsec_micros().to_le_bytes());
        self.out.extend_from_slice(&(kept as u32).to_le_bytes());
        self.out.extend_from_slice(&u32::try_from(bytes.len()).unwrap_or(u32::MAX).to_le_bytes());
        self.out.extend_from_slice(&bytes[..kept]);
    }

    /// The file's bytes so far.
    pub fn bytes(&self) -> &[u8] {
        &self.out
    }
}
