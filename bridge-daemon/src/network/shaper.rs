//! What a link does to the packets a host sends: loss, duplication, delay with jitter,
//! reordering and a rate limit, decided here (this kernel has no netem qdisc, so the daemon does
//! it), and the bounds every link keeps whatever the page asks: packets per second and bytes
//! queued.
//!
//! Sans-IO: [`Shaper::admit`] takes a packet's length and the time, and says when each copy of it
//! leaves the link, or why it does not. The link task (`link`) keeps the packets and the clock.
//! Random choices come from a seeded generator, so a test can replay them exactly.

use bridge_protocol::params::LinkSettings;
use std::time::{Duration, Instant};

/// What happens to one packet on its way across the link.
#[derive(Clone, Debug, PartialEq, Eq)]
pub(crate) enum Verdict {
    /// Leaves at these times: one, or two when duplicated; `reordered` when held back so that
    /// later packets overtake it.
    Send { times: Vec<Instant>, reordered: bool },
    /// Dropped by the loss the page set.
    Lost,
    /// Dropped: the link's queue holds as many bytes as it may (`Limits::link_queue_bytes`).
    QueueFull,
    /// Dropped: the host sends faster than a link carries (`Limits::link_packets_per_second`).
    OverRate,
}

/// Extra time a packet picked for reordering is held back, so the packets behind it overtake it.
pub(crate) const REORDER_HOLD: Duration = Duration::from_millis(30);

/// One link's shaping state.
#[derive(Debug)]
pub(crate) struct Shaper {
    settings: LinkSettings,
    rng: XorShift,
    /// When the link is free to start sending the next packet (under a rate limit).
    free_at: Option<Instant>,
    /// Bytes admitted and not yet left.
    queued: usize,
    max_queued: usize,
    /// Packets per second, with a burst of a tenth of a second's worth.
    pps: crate::rate::TokenBucket,
}

impl Shaper {
    pub(crate) fn new(seed: u64, max_queued: usize, packets_per_second: u32) -> Shaper {
        Shaper {
            settings: LinkSettings::default(),
            rng: XorShift(seed | 1),
            free_at: None,
            queued: 0,
            max_queued,
            pps: crate::rate::TokenBucket::new(packets_per_second, (packets_per_second / 10).max(16)),
        }
    }

    pub(crate) fn settings(&self) -> &LinkSettings {
        &self.settings
    }

    /// New settings, for the packets sent from now on.
    pub(crate) fn set(&mut self, settings: LinkSettings) {
        if settings.rate.is_none() {
            self.free_at = None;
        }
        self.settings = settings;
    }

    /// Bytes admitted and not yet left.
    #[cfg(test)]
    pub(crate) fn queued(&self) -> usize {
        self.queued
    }

    /// Decides the fate of a packet of `len` bytes sent at `now`. Bytes of every copy that is
    /// sent count as queued until [`Shaper::left`] is called for it.
    pub(crate) fn admit(&mut self, len: usize, now: Instant) -> Verdict {
        if !self.pps.try_take() {
            return Verdict::OverRate;
        }
        let s = self.settings;
        if self.chance(s.loss) {
            return Verdict::Lost;
        }
        let copies = if self.chance(s.duplicate) { 2 } else { 1 };
        if self.queued + copies * len > self.max_queued {
            return Verdict::QueueFull;
        }
        let mut times = Vec::with_capacity(copies);
        let mut reordered = false;
        for _ in 0..copies {
            // The rate limit: the packet starts when the link is free and takes len*8/rate.
            let start = match (s.rate, self.free_at) {
                (Some(rate), free) if rate > 0 => {
                    let start = free.filter(|f| *f > now).unwrap_or(now);
                    let end = start + Duration::from_secs_f64(len as f64 * 8.0 / rate as f64);
                    self.free_at = Some(end);
                    end
                }
                _ => now,
            };
            let mut delay = Duration::from_secs_f64(s.delay.max(0.0));
            if s.jitter > 0.0 {
                delay += Duration::from_secs_f64(s.jitter * self.unit());
            }
            if self.chance(s.reorder) {
                delay += REORDER_HOLD.max(Duration::from_secs_f64(s.delay.max(0.0)));
                reordered = true;
            }
            times.push(start + delay);
            self.queued += len;
        }
        Verdict::Send { times, reordered }
    }

    /// A copy of `len` bytes has left the link (delivered, or dropped at the end).
    pub(crate) fn left(&mut self, len: usize) {
        self.queued = self.queued.saturating_sub(len);
    }

    /// True with probability `p` (0 to 1).
    fn chance(&mut self, p: f64) -> bool {
        p > 0.0 && self.unit() < p
    }

    /// A number in [0, 1).
    fn unit(&mut self) -> f64 {
        (self.rng.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// xorshift64*: small, fast and good enough to pick packets.
#[derive(Debug)]
struct XorShift(u64);

impl XorShift {
    fn next(&mut self) -> u64 {
        let mut x = self.0;
        x ^= x >> 12;
        x ^= x << 25;
        x ^= x >> 27;
        self.0 = x;
        x.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }
}

#[cfg(test)]
mod tests {
    #![allow(clippy::unwrap_used, clippy::panic)]

    use super::*;

    fn shaper() -> Shaper {
        Shaper::new(42, 1 << 20, 1_000_000)
    }

    #[test]
    fn an_unset_link_sends_every_packet_at_once() {
        let mut s = shaper();
        let now = Instant::now();
        for _ in 0..100 {
            assert_eq!(s.admit(100, now), Verdict::Send { times: vec![now], reordered: false });
        }
        assert_eq!(s.queued(), 10_000);
        for _ in 0..100 {
            s.left(100);
        }
        assert_eq!(s.queued(), 0);
    }

    #[test]
    fn loss_and_duplication_come_at_the_rates_set() {
        let mut s = shaper();
        s.set(LinkSettings { loss: 0.3, duplicate: 0.1, ..LinkSettings::default() });
        let now = Instant::now();
        let (mut lost, mut doubled) = (0, 0);
        for _ in 0..10_000 {
            match s.admit(10, now) {
                Verdict::Lost => lost += 1,
                Verdict::Send { times, .. } if times.len() == 2 => doubled += 1,
                Verdict::Send { .. } => {}
                other => panic!("{other:?}"),
            }
        }
        assert!((2_800..3_200).contains(&lost), "{lost} of 10000 lost at 30%");
        // Duplication applies to the 70% not lost.
        assert!((550..850).contains(&doubled), "{doubled} of 7000 doubled at 10%");
    }

    #[test]
    fn delay_jitter_and_reordering_move_packets_later() {
        let mut s = shaper();
        s.set(LinkSettings { delay: 0.05, jitter: 0.01, ..LinkSettings::default() });
        let now = Instant::now();
        for _ in 0..1000 {
            let Verdict::Send { times: t, reordered: false } = s.admit(10, now) else { panic!() };
            let d = t[0] - now;
            assert!(d >= Duration::from_millis(50) && d < Duration::from_millis(60), "{d:?}");
        }
        s.set(LinkSettings { reorder: 0.5, ..LinkSettings::default() });
        let held = (0..1000)
            .filter(|_| match s.admit(10, now) {
                Verdict::Send { times, reordered } => {
                    assert_eq!(reordered, times[0] == now + REORDER_HOLD);
                    reordered
                }
                other => panic!("{other:?}"),
            })
            .count();
        assert!((400..600).contains(&held), "{held} of 1000 held back at 50%");
    }

    #[test]
    fn a_rate_limit_spaces_packets_by_their_size() {
        let mut s = shaper();
        // 80 kbit/s: a 1000-byte packet takes 100 ms.
        s.set(LinkSettings { rate: Some(80_000), ..LinkSettings::default() });
        let now = Instant::now();
        let times: Vec<Instant> = (0..3)
            .map(|_| match s.admit(1000, now) {
                Verdict::Send { times, .. } => times[0],
                other => panic!("{other:?}"),
            })
            .collect();
        assert_eq!(
            times,
            [now + Duration::from_millis(100), now + Duration::from_millis(200), now + Duration::from_millis(300)]
        );
    }

    #[test]
    fn the_queue_and_the_packet_rate_are_bounded_whatever_the_settings() {
        let mut s = Shaper::new(7, 3000, 1_000_000);
        s.set(LinkSettings { rate: Some(8), ..LinkSettings::default() });
        let now = Instant::now();
        assert!(matches!(s.admit(1500, now), Verdict::Send { .. }));
        assert!(matches!(s.admit(1500, now), Verdict::Send { .. }));
        assert_eq!(s.admit(1500, now), Verdict::QueueFull);
        s.left(1500);
        assert!(matches!(s.admit(1500, now), Verdict::Send { .. }));

        let mut s = Shaper::new(7, 1 << 20, 100);
        let sent = (0..1000).filter(|_| matches!(s.admit(10, Instant::now()), Verdict::Send { .. })).count();
        assert!(sent < 200, "{sent} packets passed a 100 packets/s limit at once");
        assert!(sent >= 16);
    }

    #[test]
    fn the_same_seed_makes_the_same_choices() {
        let run = || {
            let mut s = Shaper::new(99, 1 << 20, 1_000_000);
            s.set(LinkSettings { loss: 0.5, ..LinkSettings::default() });
            let now = Instant::now();
            (0..64).map(|_| s.admit(1, now) == Verdict::Lost).collect::<Vec<_>>()
        };
        assert_eq!(run(), run());
    }
}
