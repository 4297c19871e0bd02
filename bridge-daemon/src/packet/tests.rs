//! The decoder on packets this kernel sent (`loopback.hex`), on every prefix of them, and on noise;
//! and the pcap writer's layout.

#![allow(clippy::unwrap_used, clippy::panic)]

use super::*;
use std::time::Duration;

/// The captured packets, in order.
fn captured() -> Vec<Vec<u8>> {
    include_str!("loopback.hex")
        .lines()
        .filter(|l| !l.starts_with('#') && !l.trim().is_empty())
        .map(|l| {
            let hex = l.split_whitespace().next().unwrap();
            (0..hex.len()).step_by(2).map(|i| u8::from_str_radix(&hex[i..i + 2], 16).unwrap()).collect()
        })
        .collect()
}

fn tcp_of(p: &Packet) -> Tcp {
    match p.transport {
        Transport::Tcp(t) => t,
        other => panic!("not TCP: {other:?}"),
    }
}

#[test]
fn a_tcp_connection_reads_as_its_handshake_data_and_teardown() {
    let packets: Vec<Packet> = captured().iter().map(|b| decode(b).unwrap()).collect();
    assert_eq!(packets.len(), 24);
    let lines: Vec<String> = packets[..12].iter().map(ToString::to_string).collect();
    assert_eq!(
        lines,
        [
            "127.0.0.1:45334 → 127.0.0.1:44799 TCP [SYN] seq 1616245476 win 65495 len 0",
            "127.0.0.1:44799 → 127.0.0.1:45334 TCP [SYN, ACK] seq 4215232624 ack 1616245477 win 65483 len 0",
            "127.0.0.1:45334 → 127.0.0.1:44799 TCP [ACK] seq 1616245477 ack 4215232625 win 64 len 0",
            "127.0.0.1:45334 → 127.0.0.1:44799 TCP [PSH, ACK] seq 1616245477 ack 4215232625 win 64 len 5",
            "127.0.0.1:44799 → 127.0.0.1:45334 TCP [ACK] seq 4215232625 ack 1616245482 win 64 len 0",
            "127.0.0.1:44799 → 127.0.0.1:45334 TCP [PSH, ACK] seq 4215232625 ack 1616245482 win 64 len 6",
            "127.0.0.1:45334 → 127.0.0.1:44799 TCP [ACK] seq 1616245482 ack 4215232631 win 64 len 0",
            "127.0.0.1:45334 → 127.0.0.1:44799 TCP [FIN, ACK] seq 1616245482 ack 4215232631 win 64 len 0",
            "127.0.0.1:44799 → 127.0.0.1:45334 TCP [FIN, ACK] seq 4215232631 ack 1616245483 win 64 len 0",
            "127.0.0.1:45334 → 127.0.0.1:44799 TCP [ACK] seq 1616245483 ack 4215232632 win 64 len 0",
            "127.0.0.1:46802 → 127.0.0.1:45435 TCP [SYN] seq 2457185238 win 65495 len 0",
            "127.0.0.1:45435 → 127.0.0.1:46802 TCP [RST, ACK] seq 0 ack 2457185239 win 0 len 0",
        ]
    );
    // The handshake's numbers: each side acknowledges the other's SYN as one byte.
    let (syn, syn_ack, ack) = (tcp_of(&packets[0]), tcp_of(&packets[1]), tcp_of(&packets[2]));
    assert_eq!(syn_ack.ack, syn.seq.wrapping_add(1));
    assert_eq!(ack.ack, syn_ack.seq.wrapping_add(1));
    assert!(tcp_of(&packets[11]).flags.rst(), "a refused connect is answered by RST");
    assert_eq!((packets[0].ttl, packets[0].len), (64, 60));
}

#[test]
fn udp_and_the_icmp_error_for_a_closed_port() {
    let packets: Vec<Packet> = captured().iter().map(|b| decode(b).unwrap()).collect();
    assert_eq!(packets[12].to_string(), "127.0.0.1:33761 → 127.0.0.1:48382 UDP len 4");
    assert_eq!(packets[13].to_string(), "127.0.0.1:33761 → 127.0.0.1:45435 UDP len 7");
    assert_eq!(
        packets[14].to_string(),
        "127.0.0.1 → 127.0.0.1 ICMP port unreachable for 127.0.0.1:33761 → 127.0.0.1:45435"
    );
    let Transport::Icmp(icmp) = packets[14].transport else { panic!("not ICMP") };
    assert!(icmp.port_unreachable() && !icmp.v6);
    assert_eq!(icmp.quoted.unwrap().protocol, 17);
}

#[test]
fn ipv6_tcp_udp_and_icmpv6() {
    let lines: Vec<String> = captured()[15..].iter().map(|b| decode(b).unwrap().to_string()).collect();
    assert_eq!(
        lines,
        [
            "[::1]:33920 → [::1]:55947 TCP [SYN] seq 3767113780 win 65476 len 0",
            "[::1]:55947 → [::1]:33920 TCP [SYN, ACK] seq 2236531727 ack 3767113781 win 65464 len 0",
            "[::1]:33920 → [::1]:55947 TCP [ACK] seq 3767113781 ack 2236531728 win 64 len 0",
            "[::1]:33920 → [::1]:55947 TCP [FIN, ACK] seq 3767113781 ack 2236531728 win 64 len 0",
            "[::1]:55947 → [::1]:33920 TCP [FIN, ACK] seq 2236531728 ack 3767113782 win 64 len 0",
            "[::1]:33920 → [::1]:55947 TCP [ACK] seq 3767113782 ack 2236531729 win 64 len 0",
            "[::1]:35984 → [::1]:59101 UDP len 2",
            "[::1]:35984 → [::1]:45435 UDP len 1",
            "::1 → ::1 ICMPv6 port unreachable for [::1]:35984 → [::1]:45435",
        ]
    );
}

#[test]
fn every_prefix_and_every_noise_is_an_answer_never_a_panic() {
    for packet in captured() {
        for cut in 0..packet.len() {
            // A packet cut short is an error (its IP length says more), never a wrong value.
            assert!(decode(&packet[..cut]).is_err(), "{cut} bytes of {packet:02x?}");
        }
    }
    // Noise, from a fixed generator so a failure can be replayed.
    let mut state = 0x2545_f491_4f6c_dd1d_u64;
    let mut next = || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        state
    };
    for _ in 0..20_000 {
        let len = (next() % 120) as usize;
        let mut bytes: Vec<u8> = (0..len).map(|_| next() as u8).collect();
        if let Some(first) = bytes.first_mut() {
            *first = if next() % 2 == 0 { 0x45 } else { 0x60 }; // mostly IPv4 or IPv6 headers
        }
        let _ = decode(&bytes).map(|p| p.to_string());
    }
}

#[test]
fn malformed_headers_are_named() {
    assert_eq!(decode(&[]), Err(DecodeError::Truncated { need: 1, have: 0 }));
    assert_eq!(decode(&[0x55; 40]), Err(DecodeError::Version(5)));
    let mut short_ihl = captured()[0].clone();
    short_ihl[0] = 0x44;
    assert_eq!(decode(&short_ihl), Err(DecodeError::HeaderLength(16)));
    let mut bad_offset = captured()[0].clone();
    bad_offset[20 + 12] = 0x40; // a TCP data offset of 16 bytes
    assert_eq!(decode(&bad_offset), Err(DecodeError::HeaderLength(16)));
    // A later IPv4 fragment has no transport header of its own.
    let mut fragment = captured()[12].clone();
    fragment[6] = 0x00;
    fragment[7] = 0x01;
    assert_eq!(decode(&fragment).unwrap().transport, Transport::Fragment { protocol: 17 });
}

#[test]
fn pcap_files_have_the_classic_layout() {
    let packets = captured();
    let mut pcap = PcapWriter::new(64);
    pcap.packet(Duration::new(1_764_806_400, 123_456_000), &packets[0]);
    pcap.packet(Duration::new(1_764_806_401, 0), &packets[23]); // 97 bytes, cut at 64
    let b = pcap.bytes();
    assert_eq!(&b[..4], &[0xd4, 0xc3, 0xb2, 0xa1], "little-endian magic, microseconds");
    assert_eq!(&b[4..8], &[2, 0, 4, 0], "version 2.4");
    assert_eq!(u32::from_le_bytes(b[16..20].try_into().unwrap()), 64, "snaplen");
    assert_eq!(u32::from_le_bytes(b[20..24].try_into().unwrap()), LINKTYPE_RAW);
    let record = &b[24..];
    assert_eq!(u32::from_le_bytes(record[0..4].try_into().unwrap()), 1_764_806_400);
    assert_eq!(u32::from_le_bytes(record[4..8].try_into().unwrap()), 123_456);
    assert_eq!(u32::from_le_bytes(record[8..12].try_into().unwrap()), 60, "kept");
    assert_eq!(u32::from_le_bytes(record[12..16].try_into().unwrap()), 60, "on the wire");
    assert_eq!(&record[16..76], &packets[0][..]);
    let second = &record[76..];
    assert_eq!(u32::from_le_bytes(second[8..12].try_into().unwrap()), 64);
    assert_eq!(u32::from_le_bytes(second[12..16].try_into().unwrap()), 97);
    assert_eq!(second.len(), 16 + 64);
}

#[test]
fn the_fuzzing_corpus_decodes_or_is_refused() {
    // What `scripts/fuzz.sh` found reaching new code in the decoder (fuzz/corpus/decode_packet).
    let dir = concat!(env!("CARGO_MANIFEST_DIR"), "/../fuzz/corpus/decode_packet");
    let mut inputs = 0;
    for entry in std::fs::read_dir(dir).unwrap() {
        let bytes = std::fs::read(entry.unwrap().path()).unwrap();
        let _ = decode(&bytes).map(|p| p.to_string());
        inputs += 1;
    }
    assert!(inputs >= 24, "{inputs} inputs in {dir}");
}
