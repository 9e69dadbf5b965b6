//! The 8254 programmable interval timer (Intel 82C54 datasheet) at ports
//! 0x40-0x43, with the PC's port 0x61 for channel 2's gate, the speaker
//! data bit and the OUT2 / refresh-toggle status bits Linux and BIOSes
//! poll for delays.
//!
//! Nothing ticks: a channel remembers when its count was loaded and
//! computes its counter and OUT pin from the time it is asked about (in
//! nanoseconds of the machine clock), and tells the board when channel 0's
//! OUT will next rise, which is when IRQ 0 fires.

use serde::{Deserialize, Serialize};

/// The PIT's input clock: 1.193182 MHz (a third of the NTSC colour burst
/// frequency 3.579545 MHz).
pub const FREQ_NUM: u128 = 3_579_545;
pub const FREQ_DEN: u128 = 3_000_000_000; // 3 * 1e9 ns

/// Whole input clock ticks elapsed by `ns`.
pub fn ns_to_ticks(ns: u64) -> u64 {
    (u128::from(ns) * FREQ_NUM / FREQ_DEN) as u64
}

/// The first nanosecond at which `ticks` ticks have elapsed.
pub fn ticks_to_ns(ticks: u64) -> u64 {
    (u128::from(ticks) * FREQ_DEN).div_ceil(FREQ_NUM) as u64
}

/// How the count register is read and written (the RW field).
const ACCESS_LO: u8 = 1;
const ACCESS_HI: u8 = 2;
const ACCESS_LOHI: u8 = 3;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Channel {
    mode: u8,
    bcd: bool,
    access: u8,
    /// The programmed count, 1..=65536 (0 means 65536, or 10000 in BCD).
    reload: u64,
    /// Counting started at this tick, from `base` (the count it started
    /// from: `reload`, or where a gate-paused mode 0/4 count stopped).
    start: u64,
    base: u64,
    /// A count has been written and (for modes 1 and 5) triggered.
    counting: bool,
    gate: bool,
    /// Tick at which the gate went low (counting paused), if it is low.
    paused_at: Option<u64>,
    /// A latched count or status waiting to be read.
    latch: Option<u16>,
    status: Option<u8>,
    /// Lo/hi flip-flops for reads and writes.
    read_hi: bool,
    write_hi: bool,
    write_lo: u8,
    null_count: bool,
    /// The last tick whose OUT rising edge was reported (channel 0 / IRQ).
    reported: u64,
}

impl Channel {
    /// Ticks counted since `start`, stopping while the gate is low.
    fn elapsed(&self, now: u64) -> u64 {
        self.paused_at.unwrap_or(now).saturating_sub(self.start)
    }

    fn period(&self) -> u64 {
        self.reload.max(1)
    }

    /// The counting element's value at tick `now`.
    fn count(&self, now: u64) -> u64 {
        if !self.counting {
            return self.base & 0xFFFF;
        }
        let e = self.elapsed(now);
        match self.mode {
            2 => {
                let p = self.period();
                p - (e % p)
            }
            3 => {
                // Decrements by two, each half period reloading.
                let p = self.period();
                let half_hi = p.div_ceil(2);
                let pos = e % p;
                if pos < half_hi {
                    (p - 2 * pos) & !1
                } else {
                    (p - 2 * (pos - half_hi)) & !1
                }
            }
            // Modes 0, 1, 4, 5 count down once and wrap through 0xFFFF.
            _ => self.base.wrapping_sub(e) & 0xFFFF,
        }
    }

    /// The OUT pin at tick `now`.
    fn out(&self, now: u64) -> bool {
        if !self.counting {
            // Mode 0 holds OUT low after the mode write; the others high.
            return self.mode != 0 && self.mode != 1;
        }
        let e = self.elapsed(now);
        match self.mode {
            0 | 1 => e >= self.base,
            2 => !self.gate || self.count(now) != 1,
            3 => !self.gate || e % self.period() < self.period().div_ceil(2),
            _ => e != self.base,
        }
    }

    /// The tick after `after` at which OUT next rises, if it will.
    fn next_rise(&self, after: u64) -> Option<u64> {
        if !self.counting || self.paused_at.is_some() {
            return None;
        }
        let p = self.period();
        let rel = after.saturating_sub(self.start);
        let t = match self.mode {
            0 | 1 => self.base,
            2 | 3 => (rel / p + 1) * p,
            _ => self.base + 1,
        };
        let abs = self.start + t;
        (abs > after).then_some(abs)
    }

    fn write_count(&mut self, v: u8, now: u64) {
        let full = match self.access {
            ACCESS_LO => Some(u16::from(v)),
            ACCESS_HI => Some(u16::from(v) << 8),
            ACCESS_LOHI => {
                if self.write_hi {
                    self.write_hi = false;
                    Some(u16::from(self.write_lo) | u16::from(v) << 8)
                } else {
                    self.write_hi = true;
                    self.write_lo = v;
                    // Writing the first byte of a mode 0 count stops it.
                    if self.mode == 0 {
                        self.counting = false;
                    }
                    None
                }
            }
            // Access 0 is the latch command, which never reaches here.
            _ => None,
        };
        if let Some(c) = full {
            self.load(c, now);
        }
    }

    fn load(&mut self, c: u16, now: u64) {
        let c = if self.bcd { from_bcd(c) } else { u64::from(c) };
        self.reload = if c == 0 {
            if self.bcd {
                10_000
            } else {
                65_536
            }
        } else {
            c
        };
        self.null_count = false;
        match self.mode {
            // Periodic modes pick a new count up at the next reload unless
            // stopped; starting fresh is what guests observe when they
            // program the timer, so restart.
            1 | 5 => {}
            _ => {
                self.base = self.reload;
                self.start = now + 1;
                self.counting = true;
                self.reported = now;
                if !self.gate {
                    self.paused_at = Some(self.start);
                }
            }
        }
    }

    fn read(&mut self, now: u64) -> u8 {
        if let Some(s) = self.status.take() {
            return s;
        }
        let v = match self.latch {
            Some(l) => l,
            None => self.count_register(now),
        };
        match self.access {
            ACCESS_LO => {
                self.latch = None;
                v as u8
            }
            ACCESS_HI => {
                self.latch = None;
                (v >> 8) as u8
            }
            _ => {
                // ACCESS_LOHI: low byte, then high byte.
                if self.read_hi {
                    self.read_hi = false;
                    self.latch = None;
                    (v >> 8) as u8
                } else {
                    self.read_hi = true;
                    v as u8
                }
            }
        }
    }

    /// The count as read back: binary or BCD.
    fn count_register(&self, now: u64) -> u16 {
        let c = self.count(now) % if self.bcd { 10_000 } else { 65_536 };
        if self.bcd {
            to_bcd(c)
        } else {
            c as u16
        }
    }

    fn status_byte(&self, now: u64) -> u8 {
        (u8::from(self.out(now)) << 7)
            | (u8::from(self.null_count) << 6)
            | (self.access << 4)
            | (self.mode << 1)
            | u8::from(self.bcd)
    }

    fn set_gate(&mut self, high: bool, now: u64) {
        if high == self.gate {
            return;
        }
        self.gate = high;
        if high {
            match self.mode {
                // Hardware-triggered modes start (again) on a rising gate.
                1 | 5 if self.reload != 0 => {
                    self.base = self.reload;
                    self.start = now + 1;
                    self.counting = true;
                    self.paused_at = None;
                }
                // Modes 2 and 3 reload on a rising gate.
                2 | 3 => {
                    self.start = now + 1;
                    self.paused_at = None;
                }
                _ => {
                    if let Some(p) = self.paused_at.take() {
                        // Resume from where the count stopped.
                        self.base = self.base.wrapping_sub(p.saturating_sub(self.start));
                        self.start = now;
                    }
                }
            }
        } else if self.counting && self.paused_at.is_none() && self.mode != 1 && self.mode != 5 {
            self.paused_at = Some(now.max(self.start));
        }
    }
}

fn from_bcd(v: u16) -> u64 {
    let mut n = 0;
    for shift in [12, 8, 4, 0] {
        n = n * 10 + u64::from((v >> shift) & 0xF).min(9);
    }
    n
}

fn to_bcd(n: u64) -> u16 {
    let mut v = 0u16;
    for (i, d) in [1000, 100, 10, 1].iter().enumerate() {
        v |= (((n / d) % 10) as u16) << (12 - 4 * i);
    }
    v
}

/// Whether `port` is the PIT's: its four registers and port 0x61.
pub fn decodes(port: u16) -> bool {
    matches!(port, 0x40..=0x43 | 0x61)
}

/// The PIT with the PC's port 0x61 glue.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pit {
    channels: [Channel; 3],
    /// Port 0x61 bit 1: speaker data enable.
    speaker_data: bool,
}

impl Default for Pit {
    fn default() -> Self {
        Self::new()
    }
}

/// The DRAM refresh request toggle of port 0x61 bit 4 flips every 15.085
/// microseconds; firmware times short delays by counting its flips.
const REFRESH_NS: u64 = 15_085;

impl Pit {
    pub fn new() -> Self {
        let mut p = Self { channels: Default::default(), speaker_data: false };
        // Channels 0 and 1 have their gates tied high; channel 2's comes
        // from port 0x61 (low at power-on).
        p.channels[0].gate = true;
        p.channels[1].gate = true;
        p
    }

    /// Port read at time `now_ns`.
    pub fn read(&mut self, port: u16, now_ns: u64) -> u8 {
        let now = ns_to_ticks(now_ns);
        match port {
            0x40..=0x42 => self.channels[usize::from(port - 0x40)].read(now),
            0x61 => {
                let refresh = (now_ns / REFRESH_NS) & 1 == 1;
                u8::from(self.channels[2].gate)
                    | u8::from(self.speaker_data) << 1
                    | u8::from(refresh) << 4
                    | u8::from(self.channels[2].out(now)) << 5
            }
            _ => 0xFF,
        }
    }

    /// Port write at time `now_ns`.
    pub fn write(&mut self, port: u16, v: u8, now_ns: u64) {
        let now = ns_to_ticks(now_ns);
        match port {
            0x40..=0x42 => self.channels[usize::from(port - 0x40)].write_count(v, now),
            0x43 => self.control(v, now),
            0x61 => {
                self.speaker_data = v & 2 != 0;
                self.channels[2].set_gate(v & 1 != 0, now);
            }
            _ => {}
        }
    }

    fn control(&mut self, v: u8, now: u64) {
        let sc = v >> 6;
        let access = (v >> 4) & 3;
        if sc == 3 {
            // Read-back: bit 5 clear latches counts, bit 4 clear statuses,
            // for the channels selected in bits 1-3.
            for n in 0..3 {
                if v & (2 << n) == 0 {
                    continue;
                }
                let c = &mut self.channels[n];
                if v & 0x20 == 0 && c.latch.is_none() {
                    c.latch = Some(c.count_register(now));
                }
                if v & 0x10 == 0 && c.status.is_none() {
                    c.status = Some(c.status_byte(now));
                }
            }
            return;
        }
        let c = &mut self.channels[usize::from(sc)];
        if access == 0 {
            // Counter latch command (ignored while a latch is unread).
            if c.latch.is_none() {
                c.latch = Some(c.count_register(now));
            }
            return;
        }
        c.access = access;
        c.mode = match (v >> 1) & 7 {
            6 => 2,
            7 => 3,
            m => m,
        };
        c.bcd = v & 1 != 0;
        c.counting = false;
        c.null_count = true;
        c.read_hi = false;
        c.write_hi = false;
        c.latch = None;
        c.status = None;
        c.paused_at = None;
    }

    /// Reports whether channel 0's OUT rose in (last report, now]; the
    /// board raises IRQ 0 for it. Several edges missed at once (a host that
    /// lagged) merge into one, as an edge-triggered PIC would see them.
    pub fn take_irq0(&mut self, now_ns: u64) -> bool {
        let now = ns_to_ticks(now_ns);
        let c = &mut self.channels[0];
        match c.next_rise(c.reported) {
            Some(t) if t <= now => {
                c.reported = now;
                true
            }
            _ => false,
        }
    }

    /// When channel 0's OUT next rises, in nanoseconds of the machine clock.
    pub fn next_irq0(&self) -> Option<u64> {
        let c = &self.channels[0];
        c.next_rise(c.reported).map(ticks_to_ns)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;

    #[test]
    fn mode2_rate_generator_fires_irq0_every_period() {
        let mut p = Pit::new();
        p.write(0x43, 0x34, 0); // channel 0, lo/hi, mode 2
        p.write(0x40, 0x9C, 0); // 11932 = 0x2E9C: about 100 Hz
        p.write(0x40, 0x2E, 0);
        let first = p.next_irq0().unwrap();
        assert!((9_990_000..10_010_000).contains(&first), "first tick at {first} ns");
        assert!(!p.take_irq0(first - 1));
        assert!(p.take_irq0(first));
        assert!(!p.take_irq0(first + 1), "one edge per period");
        let second = p.next_irq0().unwrap();
        assert_eq!(ticks_to_ns(ns_to_ticks(second)), second);
        assert!((second - first).abs_diff(10 * MS) < 2_000);
    }

    #[test]
    fn counter_latch_reads_a_frozen_value_lo_then_hi() {
        let mut p = Pit::new();
        p.write(0x43, 0x34, 0);
        p.write(0x40, 0x00, 0);
        p.write(0x40, 0x10, 0); // 0x1000 = 4096
        let t = ticks_to_ns(1 + 100);
        p.write(0x43, 0x00, t); // latch channel 0
        let later = t + 10 * MS;
        let lo = p.read(0x40, later);
        let hi = p.read(0x40, later);
        assert_eq!(u16::from(lo) | u16::from(hi) << 8, 4096 - 100);
    }

    #[test]
    fn mode0_out_goes_high_at_terminal_count_and_read_back_status_shows_it() {
        let mut p = Pit::new();
        p.write(0x43, 0x30, 0); // channel 0, lo/hi, mode 0
        p.write(0x40, 10, 0);
        p.write(0x40, 0, 0);
        p.write(0x43, 0xE2, ticks_to_ns(5)); // read-back status of channel 0
        assert_eq!(p.read(0x40, ticks_to_ns(5)) & 0x80, 0, "OUT low while counting");
        p.write(0x43, 0xE2, ticks_to_ns(11));
        let status = p.read(0x40, ticks_to_ns(11));
        assert_eq!(status & 0x80, 0x80, "OUT high after terminal count");
        assert_eq!(status & 0x3F, 0x30, "lo/hi, mode 0, binary");
        assert_eq!(p.next_irq0(), Some(ticks_to_ns(11)), "the rise, not yet taken");
        assert!(p.take_irq0(ticks_to_ns(11)));
        assert_eq!(p.next_irq0(), None, "mode 0 fires once");
    }

    #[test]
    fn channel2_gate_and_out_through_port_61() {
        let mut p = Pit::new();
        // The classic TSC/delay calibration: channel 2, mode 0, gate via 0x61.
        p.write(0x61, 0x00, 0);
        p.write(0x43, 0xB0, 0);
        p.write(0x42, 0xFF, 0);
        p.write(0x42, 0x00, 0); // 255 ticks
        assert_eq!(p.read(0x61, ticks_to_ns(1000)) & 0x20, 0, "gate low: not counting");
        let start = ticks_to_ns(1000);
        p.write(0x61, 0x01, start);
        assert_eq!(p.read(0x61, start + ticks_to_ns(100)) & 0x20, 0);
        assert_eq!(p.read(0x61, start + ticks_to_ns(300)) & 0x20, 0x20, "OUT2 high after the count");
        let a = p.read(0x61, 0) & 0x10;
        let b = p.read(0x61, REFRESH_NS) & 0x10;
        assert_ne!(a, b, "refresh toggle flips");
    }

    #[test]
    fn bcd_counts_and_mode3_square_wave() {
        let mut p = Pit::new();
        p.write(0x43, 0x37, 0); // channel 0, lo/hi, mode 3, BCD
        p.write(0x40, 0x00, 0);
        p.write(0x40, 0x10, 0); // BCD 1000
        p.write(0x43, 0x00, ticks_to_ns(1));
        let lo = p.read(0x40, 0);
        let hi = p.read(0x40, 0);
        assert_eq!(u16::from(lo) | u16::from(hi) << 8, 0x1000, "BCD read back");
        let first = ns_to_ticks(p.next_irq0().unwrap());
        assert_eq!(first, 1 + 1000, "square wave rises every 1000 ticks");
    }

    #[test]
    fn state_round_trips_through_serde() {
        let mut p = Pit::new();
        p.write(0x43, 0x34, 0);
        p.write(0x40, 0x9C, 0);
        p.write(0x40, 0x2E, 0);
        let mut q: Pit = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(q, p);
        assert_eq!(q.next_irq0(), p.next_irq0());
        let t = p.next_irq0().unwrap();
        assert_eq!(q.take_irq0(t), p.take_irq0(t));
    }
}
