//! The MC146818A real-time clock and its CMOS RAM (Motorola MC146818A
//! datasheet: "Address Map", "Registers A-D", "Update Cycle", "Interrupts";
//! the PC/AT's 128-byte CMOS with the century byte at 0x32 and the
//! checksum over 0x10-0x2D at 0x2E-0x2F, as in the IBM AT Technical
//! Reference), at ports 0x70 (index, bit 7 masks NMI) and 0x71 (data).
//!
//! Nothing ticks. The chip's 32.768 kHz divider chain is a count derived
//! from the machine clock (`now_ns`); the time registers, the update cycle
//! (UIP for the 244 us before each second's update, 8 input cycles) and
//! the periodic, alarm and update-ended flags of register C are all
//! computed from that count when the guest looks or the board calls
//! [`Rtc::advance`], and [`Rtc::next_deadline`] says when the next enabled
//! interrupt is due.
//!
//! While the clock runs, the time is a count of seconds (proleptic
//! Gregorian, century included, as a PC's firmware keeps it) plus the
//! divider's update count; while it is stopped (SET held, or the divider
//! in reset) the time registers are plain bytes the guest may write, read
//! back verbatim and which become the time when the clock starts again.

use serde::{Deserialize, Serialize};

/// Register indices (datasheet "Address Map"; 0x32 is the PC's century).
const SECONDS: usize = 0x00;
const SECONDS_ALARM: usize = 0x01;
const MINUTES: usize = 0x02;
const MINUTES_ALARM: usize = 0x03;
const HOURS: usize = 0x04;
const HOURS_ALARM: usize = 0x05;
const DAY_OF_WEEK: usize = 0x06;
const DATE: usize = 0x07;
const MONTH: usize = 0x08;
const YEAR: usize = 0x09;
const REG_A: usize = 0x0A;
const REG_B: usize = 0x0B;
const REG_C: usize = 0x0C;
const REG_D: usize = 0x0D;
const CENTURY: usize = 0x32;
/// The registers the update cycle owns: the time and date.
const TIME_REGS: [usize; 8] = [SECONDS, MINUTES, HOURS, DAY_OF_WEEK, DATE, MONTH, YEAR, CENTURY];
/// The checksummed range and where its big-endian sum goes.
const CHECKSUM_RANGE: std::ops::RangeInclusive<usize> = 0x10..=0x2D;
const CHECKSUM_HI: usize = 0x2E;
const CHECKSUM_LO: usize = 0x2F;
const CMOS_SIZE: usize = 128;

/// Register A.
const A_UIP: u8 = 0x80;
const A_DV_SHIFT: u8 = 4;
const A_RS: u8 = 0x0F;
/// Register B.
const B_SET: u8 = 0x80;
const B_PIE: u8 = 0x40;
const B_AIE: u8 = 0x20;
const B_UIE: u8 = 0x10;
const B_DM_BINARY: u8 = 0x04;
const B_24H: u8 = 0x02;
/// Register C.
const C_IRQF: u8 = 0x80;
const C_PF: u8 = 0x40;
const C_AF: u8 = 0x20;
const C_UF: u8 = 0x10;
/// Register D: the valid RAM and time bit (the battery is good).
const D_VRT: u8 = 0x80;
/// Hours register bit 7 in 12-hour mode.
const HOUR_PM: u8 = 0x80;
/// Alarm register values 0xC0-0xFF match any time.
const ALARM_DONT_CARE: u8 = 0xC0;

/// Divider input cycles per second (the 32.768 kHz time base) and the
/// cycles UIP is set before an update (244.140625 us, datasheet Table 6).
const HZ: u64 = 32_768;
const UIP_CYCLES: u64 = 8;
const NS_PER_S: u64 = 1_000_000_000;
/// Divider reset leaves the chain half a second from its first update.
const HALF_SECOND: u64 = HZ / 2;

/// Power-on values as firmware finds them on a PC: 32.768 kHz time base,
/// 1024 Hz rate; 24-hour BCD, nothing enabled.
const POWER_ON_A: u8 = 0x26;
const POWER_ON_B: u8 = B_24H;

/// The divider chain's state per register A's DV bits.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Divider {
    /// DV = 000, 001, 010: counting (a PC has the 32.768 kHz crystal).
    Running,
    /// DV = 011, 10x: the test modes; counting stops here.
    Stopped,
    /// DV = 11x: the chain held in reset.
    Reset,
}

fn divider_of(a: u8) -> Divider {
    match (a >> A_DV_SHIFT) & 7 {
        0..=2 => Divider::Running,
        3..=5 => Divider::Stopped,
        _ => Divider::Reset,
    }
}

/// The periodic interrupt's period in divider cycles for rate bits `rs`
/// (datasheet Table 5, 32.768 kHz column), or none for 0.
fn period_cycles(rs: u8) -> Option<u64> {
    match rs {
        0 => None,
        // Rates 1 and 2 repeat 8 and 9 (256 Hz and 128 Hz) at 32.768 kHz.
        1 | 2 => Some(1 << (rs + 6)),
        _ => Some(1 << (rs - 1)),
    }
}

/// Edges of a square wave of `period` cycles (rising half way through each
/// period, as a divider stage's output) at counts up to and including `d`.
fn edges_through(d: u64, period: u64) -> u64 {
    (d + period / 2) / period
}

/// The count of the `k`-th edge (from 0) of that wave.
fn edge_at(k: u64, period: u64) -> u64 {
    k * period + period / 2
}

/// Nanoseconds to whole divider cycles.
fn ns_to_cycles(ns: u64) -> u64 {
    (u128::from(ns) * u128::from(HZ) / u128::from(NS_PER_S)) as u64
}

/// The first nanosecond by which `cycles` cycles have elapsed.
fn cycles_to_ns(cycles: u64) -> u64 {
    (u128::from(cycles) * u128::from(NS_PER_S)).div_ceil(u128::from(HZ)).min(u128::from(u64::MAX)) as u64
}

/// A calendar time: the fields of the time registers, decoded.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
struct Civil {
    year: i64,
    month: i64,
    day: i64,
    hour: i64,
    minute: i64,
    second: i64,
}

/// Days since 1970-01-01 of a proleptic Gregorian date (Howard Hinnant's
/// days_from_civil). Out-of-range months and days carry over, as mktime.
fn days_from_civil(year: i64, month: i64, day: i64) -> i64 {
    let year = year + (month - 1).div_euclid(12);
    let month = (month - 1).rem_euclid(12) + 1;
    let y = if month <= 2 { year - 1 } else { year };
    let era = y.div_euclid(400);
    let yoe = y - era * 400;
    let mp = (month + 9) % 12;
    let doy = (153 * mp + 2) / 5;
    let doe = yoe * 365 + yoe / 4 - yoe / 100 + doy;
    era * 146_097 + doe - 719_468 + (day - 1)
}

/// The date of a day count since 1970-01-01.
fn civil_from_days(days: i64) -> (i64, i64, i64) {
    let z = days + 719_468;
    let era = z.div_euclid(146_097);
    let doe = z - era * 146_097;
    let yoe = (doe - doe / 1460 + doe / 36_524 - doe / 146_096) / 365;
    let doy = doe - (365 * yoe + yoe / 4 - yoe / 100);
    let mp = (5 * doy + 2) / 153;
    let day = doy - (153 * mp + 2) / 5 + 1;
    let month = if mp < 10 { mp + 3 } else { mp - 9 };
    let year = yoe + era * 400 + i64::from(month <= 2);
    (year, month, day)
}

impl Civil {
    fn from_seconds(s: i64) -> Self {
        let (year, month, day) = civil_from_days(s.div_euclid(86_400));
        let sod = s.rem_euclid(86_400);
        Self { year, month, day, hour: sod / 3600, minute: sod / 60 % 60, second: sod % 60 }
    }

    fn to_seconds(self) -> i64 {
        days_from_civil(self.year, self.month, self.day) * 86_400 + self.hour * 3600 + self.minute * 60 + self.second
    }
}

/// Day of the week register value (1 = Sunday) of a day count, before the
/// guest's adjustment: 1970-01-01 was a Thursday.
fn natural_weekday(days: i64) -> i64 {
    (days + 4).rem_euclid(7)
}

/// The 128 CMOS bytes as a sequence (serde derives arrays only to 32).
mod cmos_bytes {
    use super::CMOS_SIZE;
    use serde::{de::Error, Deserialize, Deserializer, Serializer};

    pub fn serialize<S: Serializer>(b: &[u8; CMOS_SIZE], s: S) -> Result<S::Ok, S::Error> {
        s.collect_seq(b.iter())
    }

    pub fn deserialize<'de, D: Deserializer<'de>>(d: D) -> Result<[u8; CMOS_SIZE], D::Error> {
        let v = Vec::<u8>::deserialize(d)?;
        let n = v.len();
        v.try_into().map_err(|_| D::Error::invalid_length(n, &"128 CMOS bytes"))
    }
}

/// Whether `port` is the RTC's: the index (with the NMI mask) and data.
pub fn decodes(port: u16) -> bool {
    matches!(port, 0x70 | 0x71)
}

/// The MC146818A with the PC's 128 bytes of CMOS.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Rtc {
    /// Registers and RAM. The time registers (and the century) hold the
    /// time only while the clock is stopped; register C holds the flags.
    #[serde(with = "cmos_bytes")]
    cmos: [u8; CMOS_SIZE],
    /// Port 0x70: the selected register and the NMI mask.
    index: u8,
    nmi_masked: bool,
    /// The divider chain: its count (32.768 kHz cycles) was
    /// `div_start_cycles` at machine time `div_start_ns`, and counts on
    /// from there while running. Updates happen at multiples of `HZ`.
    div_start_ns: u64,
    div_start_cycles: u64,
    /// While the clock runs: the time in seconds is this plus the number
    /// of updates the divider has counted.
    seconds_base: i64,
    /// The guest's day of the week minus the calendar's, mod 7.
    weekday_adjust: u8,
    /// Divider count through which events have set their flags.
    checked: u64,
    /// The machine time of the last access, for [`Rtc::nvram`].
    last_ns: u64,
}

impl Rtc {
    /// An RTC reading `unix_seconds_at_zero` at machine time 0, its next
    /// update a second later.
    pub fn new(unix_seconds_at_zero: i64) -> Self {
        let mut cmos = [0; CMOS_SIZE];
        cmos[REG_A] = POWER_ON_A;
        cmos[REG_B] = POWER_ON_B;
        Self {
            cmos,
            index: 0,
            nmi_masked: false,
            div_start_ns: 0,
            div_start_cycles: 0,
            seconds_base: unix_seconds_at_zero,
            weekday_adjust: 0,
            checked: 0,
            last_ns: 0,
        }
    }

    /// Port read at machine time `now_ns`.
    pub fn read(&mut self, port: u16, now_ns: u64) -> u8 {
        match port {
            0x71 => {
                self.advance(now_ns);
                let i = usize::from(self.index);
                let v = self.peek(i, now_ns);
                if i == REG_C {
                    // Reading C acknowledges: all flags clear, IRQ 8 drops.
                    self.cmos[REG_C] = 0;
                }
                v
            }
            // The index register is write-only; the bus floats.
            _ => 0xFF,
        }
    }

    /// Port write at machine time `now_ns`.
    pub fn write(&mut self, port: u16, value: u8, now_ns: u64) {
        match port {
            0x70 => {
                self.index = value & 0x7F;
                self.nmi_masked = value & 0x80 != 0;
            }
            0x71 => {
                self.advance(now_ns);
                self.write_register(usize::from(self.index), value, now_ns);
            }
            _ => {}
        }
    }

    /// The RESET pin, pulsed by a system reset (MC146818A datasheet,
    /// "RESET"): clears the interrupt enables PIE, AIE and UIE and the
    /// square-wave enable in register B, and every flag in register C
    /// (so IRQ 8 drops). The time, the alarm and the NVRAM are kept: the
    /// chip runs on its battery.
    pub fn reset_pin(&mut self, now_ns: u64) {
        const B_SQWE: u8 = 0x08;
        self.advance(now_ns);
        let b = self.cmos[REG_B] & !(B_PIE | B_AIE | B_UIE | B_SQWE);
        self.write_register(REG_B, b, now_ns);
        self.cmos[REG_C] = 0;
    }

    /// The IRQ 8 line: register C's IRQF.
    pub fn irq(&self) -> bool {
        self.cmos[REG_C] & C_IRQF != 0
    }

    /// Port 0x70 bit 7: NMIs are masked.
    pub fn nmi_masked(&self) -> bool {
        self.nmi_masked
    }

    /// Sets the flags of the periodic, alarm and update events that
    /// happened by `now_ns`, and IRQF from them.
    pub fn advance(&mut self, now_ns: u64) {
        self.last_ns = now_ns;
        let d = self.divider(now_ns);
        if d <= self.checked {
            return;
        }
        let (from, to) = (self.checked, d);
        self.checked = d;
        let mut flags = 0;
        if let Some(p) = self.period() {
            if edges_through(to, p) > edges_through(from, p) {
                flags |= C_PF;
            }
        }
        if self.clock_running() {
            let (u0, u1) = (from / HZ, to / HZ);
            if u1 > u0 {
                flags |= C_UF;
                let first = self.seconds_base.saturating_add(u0 as i64);
                let last = self.seconds_base.saturating_add(u1 as i64);
                if self.next_alarm(first).is_some_and(|t| t <= last) {
                    flags |= C_AF;
                }
            }
        }
        self.cmos[REG_C] |= flags;
        self.update_irqf();
    }

    /// When the next enabled interrupt is due, in nanoseconds of the
    /// machine clock. None while IRQF is already set: nothing can change
    /// the line until the guest reads register C.
    pub fn next_deadline(&self) -> Option<u64> {
        if self.irq() || divider_of(self.cmos[REG_A]) != Divider::Running {
            return None;
        }
        let b = self.cmos[REG_B];
        let mut next: Option<u64> = None;
        let mut consider = |c: u64| next = Some(next.map_or(c, |n| n.min(c)));
        if b & B_PIE != 0 {
            if let Some(p) = self.period() {
                consider(edge_at(edges_through(self.checked, p), p));
            }
        }
        if self.clock_running() {
            let u = self.checked / HZ;
            if b & B_UIE != 0 {
                consider((u + 1) * HZ);
            }
            if b & B_AIE != 0 {
                let now_s = self.seconds_base.saturating_add(u as i64);
                if let Some(t) = self.next_alarm(now_s) {
                    let ahead = u64::try_from(t.saturating_sub(now_s)).unwrap_or(0);
                    consider(u.saturating_add(ahead).saturating_mul(HZ));
                }
            }
        }
        next.map(|c| self.div_start_ns.saturating_add(cycles_to_ns(c.saturating_sub(self.div_start_cycles))))
    }

    /// A CMOS byte as the guest would read it (without clearing register
    /// C), at the time of the last access. For the board and tests.
    pub fn nvram(&self, index: u8) -> u8 {
        self.peek(usize::from(index & 0x7F), self.last_ns)
    }

    /// Sets a RAM byte (0x0E-0x7F but the century, which the clock owns):
    /// the board fills in memory sizes, boot order and the like.
    pub fn set_nvram(&mut self, index: u8, value: u8) {
        let i = usize::from(index & 0x7F);
        if i <= REG_D || i == CENTURY {
            log::debug!("rtc: set_nvram({i:#x}) is a clock register; ignored");
            return;
        }
        self.cmos[i] = value;
    }

    /// Stores the AT checksum: the 16-bit sum of bytes 0x10-0x2D, big
    /// endian at 0x2E-0x2F.
    pub fn update_checksum(&mut self) {
        let sum: u16 = self.cmos[CHECKSUM_RANGE].iter().map(|&b| u16::from(b)).sum();
        let [hi, lo] = sum.to_be_bytes();
        self.cmos[CHECKSUM_HI] = hi;
        self.cmos[CHECKSUM_LO] = lo;
    }
}

/// Time keeping.
impl Rtc {
    /// The divider chain's count at `now_ns`.
    fn divider(&self, now_ns: u64) -> u64 {
        match divider_of(self.cmos[REG_A]) {
            Divider::Running => self.div_start_cycles.saturating_add(ns_to_cycles(now_ns.saturating_sub(self.div_start_ns))),
            _ => self.div_start_cycles,
        }
    }

    /// Updates happen: the divider counts and SET is clear.
    fn clock_running(&self) -> bool {
        divider_of(self.cmos[REG_A]) == Divider::Running && self.cmos[REG_B] & B_SET == 0
    }

    /// The periodic rate in cycles, if the divider drives one.
    fn period(&self) -> Option<u64> {
        if divider_of(self.cmos[REG_A]) != Divider::Running {
            return None;
        }
        period_cycles(self.cmos[REG_A] & A_RS)
    }

    /// The running clock's time at `now_ns`, in seconds.
    fn seconds(&self, now_ns: u64) -> i64 {
        self.seconds_base.saturating_add((self.divider(now_ns) / HZ) as i64)
    }

    fn binary(&self) -> bool {
        self.cmos[REG_B] & B_DM_BINARY != 0
    }

    fn encode(&self, v: i64) -> u8 {
        let v = v.rem_euclid(100) as u8;
        if self.binary() {
            v
        } else {
            ((v / 10) << 4) | (v % 10)
        }
    }

    fn decode(&self, b: u8) -> i64 {
        if self.binary() {
            i64::from(b)
        } else {
            i64::from(b >> 4) * 10 + i64::from(b & 0xF)
        }
    }

    /// The hours register for hour `h` (0-23) in the current mode.
    fn encode_hour(&self, h: i64) -> u8 {
        if self.cmos[REG_B] & B_24H != 0 {
            return self.encode(h);
        }
        let pm = if h >= 12 { HOUR_PM } else { 0 };
        let h12 = match h % 12 {
            0 => 12,
            x => x,
        };
        self.encode(h12) | pm
    }

    fn decode_hour(&self, b: u8) -> i64 {
        if self.cmos[REG_B] & B_24H != 0 {
            return self.decode(b);
        }
        let h = self.decode(b & !HOUR_PM);
        let h = if h == 12 { 0 } else { h };
        if b & HOUR_PM != 0 {
            h + 12
        } else {
            h
        }
    }

    /// The value of time register `i` for time `s`.
    fn time_register(&self, i: usize, s: i64) -> u8 {
        let c = Civil::from_seconds(s);
        match i {
            SECONDS => self.encode(c.second),
            MINUTES => self.encode(c.minute),
            HOURS => self.encode_hour(c.hour),
            DAY_OF_WEEK => {
                let w = (natural_weekday(s.div_euclid(86_400)) + i64::from(self.weekday_adjust)) % 7;
                self.encode(w + 1)
            }
            DATE => self.encode(c.day),
            MONTH => self.encode(c.month),
            YEAR => self.encode(c.year),
            _ => self.encode(c.year.div_euclid(100)),
        }
    }

    /// Stops the clock: its time at `now_ns` goes into the registers.
    fn freeze(&mut self, now_ns: u64) {
        let s = self.seconds(now_ns);
        for i in TIME_REGS {
            self.cmos[i] = self.time_register(i, s);
        }
    }

    /// Starts the clock from the time in the registers (out-of-range
    /// values carry over), keeping the divider's phase.
    fn thaw(&mut self, now_ns: u64) {
        let r = |i: usize| self.cmos[i];
        let c = Civil {
            year: self.decode(r(CENTURY)) * 100 + self.decode(r(YEAR)),
            month: self.decode(r(MONTH)),
            day: self.decode(r(DATE)),
            hour: self.decode_hour(r(HOURS)),
            minute: self.decode(r(MINUTES)),
            second: self.decode(r(SECONDS)),
        };
        let s = c.to_seconds();
        let weekday = self.decode(r(DAY_OF_WEEK)) - 1;
        self.weekday_adjust = (weekday - natural_weekday(s.div_euclid(86_400))).rem_euclid(7) as u8;
        self.seconds_base = s.saturating_sub((self.divider(now_ns) / HZ) as i64);
    }

    /// The first second after `after` whose time registers match the
    /// alarm registers (each either equal or "don't care").
    fn next_alarm(&self, after: i64) -> Option<i64> {
        let matches = |alarm: u8, v: u8| alarm & ALARM_DONT_CARE == ALARM_DONT_CARE || alarm == v;
        let (sa, ma, ha) = (self.cmos[SECONDS_ALARM], self.cmos[MINUTES_ALARM], self.cmos[HOURS_ALARM]);
        // A value no time has (say 0x60 seconds) never matches.
        if !(0..60).any(|v| matches(sa, self.encode(v)))
            || !(0..60).any(|v| matches(ma, self.encode(v)))
            || !(0..24).any(|h| matches(ha, self.encode_hour(h)))
        {
            return None;
        }
        let day = after.div_euclid(86_400);
        let sod = after.rem_euclid(86_400);
        for d in 0..2 {
            // Seconds of day already past on the first day.
            let past = |t: i64| d == 0 && t <= sod;
            for h in 0..24 {
                if past(h * 3600 + 3599) || !matches(ha, self.encode_hour(h)) {
                    continue;
                }
                for m in 0..60 {
                    if past(h * 3600 + m * 60 + 59) || !matches(ma, self.encode(m)) {
                        continue;
                    }
                    for s in 0..60 {
                        let t = h * 3600 + m * 60 + s;
                        if !past(t) && matches(sa, self.encode(s)) {
                            // Checked: the board may start the clock anywhere.
                            return (day + d).checked_mul(86_400).and_then(|x| x.checked_add(t));
                        }
                    }
                }
            }
        }
        None
    }
}

/// Registers.
impl Rtc {
    /// Register `i` at `now_ns`, without side effects.
    fn peek(&self, i: usize, now_ns: u64) -> u8 {
        match i {
            REG_A => {
                let d = self.divider(now_ns);
                let uip = self.clock_running() && d % HZ >= HZ - UIP_CYCLES;
                self.cmos[REG_A] | if uip { A_UIP } else { 0 }
            }
            REG_D => D_VRT,
            _ if TIME_REGS.contains(&i) && self.clock_running() => self.time_register(i, self.seconds(now_ns)),
            _ => self.cmos[i & (CMOS_SIZE - 1)],
        }
    }

    fn write_register(&mut self, i: usize, v: u8, now_ns: u64) {
        match i {
            REG_A | REG_B => self.write_control(i, v, now_ns),
            // C and D are read-only.
            REG_C | REG_D => {}
            _ if TIME_REGS.contains(&i) && self.clock_running() => {
                // Written while running: the clock continues from the
                // time with this field changed.
                self.freeze(now_ns);
                self.cmos[i] = v;
                self.thaw(now_ns);
            }
            _ => self.cmos[i & (CMOS_SIZE - 1)] = v,
        }
    }

    /// Registers A and B: the divider, SET and the interrupt enables.
    fn write_control(&mut self, i: usize, v: u8, now_ns: u64) {
        let was_running = self.clock_running();
        let old_divider = divider_of(self.cmos[REG_A]);
        let d = self.divider(now_ns);
        let (a, b) = if i == REG_A {
            (v & !A_UIP, self.cmos[REG_B])
        } else if v & B_SET != 0 {
            // SET aborts the update cycle and clears UIE.
            (self.cmos[REG_A], v & !B_UIE)
        } else {
            (self.cmos[REG_A], v)
        };
        let new_divider = divider_of(a);
        let runs = new_divider == Divider::Running && b & B_SET == 0;
        if was_running && !runs {
            // The registers keep their bytes; the format is the old one.
            self.freeze(now_ns);
        }
        self.cmos[REG_A] = a;
        self.cmos[REG_B] = b;
        match (old_divider, new_divider) {
            (Divider::Running, Divider::Running) => {}
            (_, Divider::Reset) => self.div_start_cycles = 0,
            (Divider::Running, Divider::Stopped) => self.div_start_cycles = d,
            (Divider::Reset, Divider::Running) => {
                // Released from reset, the first update comes half a
                // second later.
                self.div_start_ns = now_ns;
                self.div_start_cycles = HALF_SECOND;
            }
            (_, Divider::Running) => self.div_start_ns = now_ns,
            (_, Divider::Stopped) => {}
        }
        self.checked = self.divider(now_ns);
        if runs && !was_running {
            self.thaw(now_ns);
        }
        // Enabling an interrupt whose flag is already set raises IRQ 8.
        self.update_irqf();
    }

    /// IRQF = PF.PIE + AF.AIE + UF.UIE (datasheet "Register C").
    fn update_irqf(&mut self) {
        let b = self.cmos[REG_B];
        let c = self.cmos[REG_C] & (C_PF | C_AF | C_UF);
        let pending = (c & C_PF != 0 && b & B_PIE != 0) || (c & C_AF != 0 && b & B_AIE != 0) || (c & C_UF != 0 && b & B_UIE != 0);
        self.cmos[REG_C] = c | if pending { C_IRQF } else { 0 };
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const MS: u64 = 1_000_000;
    const S: u64 = 1_000_000_000;
    /// 2024-02-28 23:59:58 UTC, a Wednesday in a leap year.
    const LEAP_EVE: i64 = 1_709_164_798;
    /// 2024-07-14 12:34:56 UTC, a Sunday.
    const JULY: i64 = 1_720_960_496;

    fn reg(r: &mut Rtc, i: u8, now: u64) -> u8 {
        r.write(0x70, i, now);
        r.read(0x71, now)
    }

    fn set(r: &mut Rtc, i: u8, v: u8, now: u64) {
        r.write(0x70, i, now);
        r.write(0x71, v, now);
    }

    /// Seconds, minutes, hours, day of week, date, month, year, century.
    fn clock(r: &mut Rtc, now: u64) -> [u8; 8] {
        [0x00, 0x02, 0x04, 0x06, 0x07, 0x08, 0x09, 0x32].map(|i| reg(r, i, now))
    }

    #[test]
    fn the_reset_pin_clears_enables_and_flags_but_keeps_time_and_nvram() {
        let mut r = Rtc::new(JULY);
        // PIE, UIE and SQWE on, 24-hour binary; a 1024 Hz periodic rate.
        set(&mut r, 0x0A, 0x26, 0);
        set(&mut r, 0x0B, 0x40 | 0x10 | 0x08 | 0x06, 0);
        set(&mut r, 0x40, 0x5A, 0);
        r.advance(10 * MS);
        assert!(r.irq(), "periodic interrupt pending before the reset");
        r.reset_pin(10 * MS);
        assert!(!r.irq(), "IRQ 8 drops");
        assert_eq!(reg(&mut r, 0x0B, 10 * MS), 0x06, "only the format bits stay");
        assert_eq!(reg(&mut r, 0x0C, 10 * MS), 0, "no flags");
        assert_eq!(reg(&mut r, 0x40, 10 * MS), 0x5A, "NVRAM kept");
        assert_eq!(reg(&mut r, 0x04, 10 * MS), 12, "the time runs on");
        r.advance(S);
        assert!(!r.irq(), "no interrupt source left enabled");
    }

    #[test]
    fn reads_the_time_in_bcd_and_in_binary() {
        let mut r = Rtc::new(JULY);
        assert_eq!(clock(&mut r, 0), [0x56, 0x34, 0x12, 0x01, 0x14, 0x07, 0x24, 0x20]);
        assert_eq!(reg(&mut r, 0x0D, 0), 0x80, "VRT: the battery is good");
        set(&mut r, 0x0B, B_24H | B_DM_BINARY, 0);
        assert_eq!(clock(&mut r, 3 * S + 1), [59, 34, 12, 1, 14, 7, 24, 20]);
        assert_eq!(reg(&mut r, 0x00, 4 * S), 0, "the minute rolls over");
        assert_eq!(reg(&mut r, 0x02, 4 * S), 35);
    }

    #[test]
    fn twelve_hour_mode_has_the_pm_bit() {
        let mut r = Rtc::new(JULY);
        set(&mut r, 0x0B, 0x00, 0); // 12-hour, BCD
        assert_eq!(reg(&mut r, 0x04, 0), 0x92, "12:34 is 12 PM");
        let mut r = Rtc::new(LEAP_EVE);
        set(&mut r, 0x0B, 0x00, 0);
        assert_eq!(reg(&mut r, 0x04, 0), 0x91, "23:59 is 11 PM");
        assert_eq!(reg(&mut r, 0x04, 2 * S), 0x12, "midnight is 12 AM");
        set(&mut r, 0x0B, B_DM_BINARY, 2 * S);
        assert_eq!(reg(&mut r, 0x04, 2 * S), 12);
        assert_eq!(reg(&mut r, 0x04, 2 * S + 13 * 3600 * S), 0x80 | 1, "1 PM in binary");
    }

    #[test]
    fn dates_roll_over_months_leap_years_and_centuries() {
        let mut r = Rtc::new(LEAP_EVE);
        assert_eq!(clock(&mut r, 0), [0x58, 0x59, 0x23, 0x04, 0x28, 0x02, 0x24, 0x20]);
        assert_eq!(clock(&mut r, 2 * S), [0x00, 0x00, 0x00, 0x05, 0x29, 0x02, 0x24, 0x20], "Feb 29 of a leap year");
        assert_eq!(clock(&mut r, 2 * S + 86_400 * S), [0x00, 0x00, 0x00, 0x06, 0x01, 0x03, 0x24, 0x20]);
        let mut r = Rtc::new(1_677_628_799); // 2023-02-28 23:59:59
        assert_eq!(clock(&mut r, S)[4..6], [0x01, 0x03], "no Feb 29 in 2023");
        let mut r = Rtc::new(1_714_521_599); // 2024-04-30 23:59:59
        assert_eq!(clock(&mut r, S)[4..6], [0x01, 0x05], "April has 30 days");
        let mut r = Rtc::new(4_102_444_799); // 2099-12-31 23:59:59
        assert_eq!(clock(&mut r, 0)[4..], [0x31, 0x12, 0x99, 0x20]);
        assert_eq!(clock(&mut r, S), [0x00, 0x00, 0x00, 0x06, 0x01, 0x01, 0x00, 0x21], "Friday 2100-01-01");
    }

    #[test]
    fn uip_is_set_for_the_244_us_before_each_update() {
        let mut r = Rtc::new(JULY);
        assert_eq!(reg(&mut r, 0x0A, 0), 0x26);
        // 32760 of 32768 cycles: 999.755859375 ms.
        assert_eq!(reg(&mut r, 0x0A, 999_755_859), 0x26);
        assert_eq!(reg(&mut r, 0x0A, 999_755_860), 0xA6);
        assert_eq!(reg(&mut r, 0x00, 999_999_999), 0x56, "the update has not happened yet");
        assert_eq!(reg(&mut r, 0x0A, S), 0x26);
        assert_eq!(reg(&mut r, 0x00, S), 0x57);
        assert_eq!(reg(&mut r, 0x0A, 5 * S - 100_000), 0xA6, "and before every second");
        set(&mut r, 0x0A, 0xA6, 5 * S); // UIP is read-only
        assert_eq!(reg(&mut r, 0x0A, 5 * S + 500 * MS), 0x26);
    }

    #[test]
    fn set_holds_the_clock_and_the_written_time_persists() {
        let mut r = Rtc::new(JULY);
        set(&mut r, 0x0B, B_SET | B_UIE | B_24H, 300 * MS);
        assert_eq!(reg(&mut r, 0x0B, 300 * MS), B_SET | B_24H, "SET clears UIE");
        assert_eq!(reg(&mut r, 0x00, 10 * S), 0x56, "no updates while SET");
        assert_eq!(reg(&mut r, 0x0A, 10 * S - 100_000), 0x26, "nor UIP");
        // Linux's order: the date before the month, so 31 must survive Feb.
        for (i, v) in [(0x00, 0x30), (0x02, 0x15), (0x04, 0x08), (0x07, 0x31), (0x08, 0x12), (0x09, 0x99), (0x06, 0x05)] {
            set(&mut r, i, v, 10 * S + 200 * MS);
        }
        assert_eq!(reg(&mut r, 0x07, 10 * S + 300 * MS), 0x31, "written bytes read back while held");
        set(&mut r, 0x0B, B_24H, 10 * S + 500 * MS);
        assert_eq!(clock(&mut r, 10 * S + 600 * MS), [0x30, 0x15, 0x08, 0x05, 0x31, 0x12, 0x99, 0x20]);
        // The divider kept its phase: the next update is at 11 s.
        assert_eq!(reg(&mut r, 0x00, 11 * S - 1), 0x30);
        assert_eq!(reg(&mut r, 0x00, 11 * S), 0x31);
        assert_eq!(clock(&mut r, 11 * S + 86_400 * S), [0x31, 0x15, 0x08, 0x06, 0x01, 0x01, 0x00, 0x21]);
        // Written while running, the clock continues from there too.
        set(&mut r, 0x09, 0x42, 12 * S);
        set(&mut r, 0x32, 0x20, 12 * S);
        assert_eq!(clock(&mut r, 13 * S)[4..], [0x31, 0x12, 0x42, 0x20]);
    }

    #[test]
    fn divider_reset_stops_the_clock_and_release_updates_half_a_second_later() {
        let mut r = Rtc::new(JULY);
        set(&mut r, 0x0A, 0x76, 200 * MS);
        assert_eq!(reg(&mut r, 0x00, 5 * S), 0x56);
        set(&mut r, 0x0A, 0x26, 5 * S);
        assert_eq!(reg(&mut r, 0x00, 5 * S + 500 * MS - 1), 0x56);
        assert_eq!(reg(&mut r, 0x00, 5 * S + 500 * MS), 0x57);
    }

    #[test]
    fn periodic_interrupt_at_rate_6_is_1024_hz_and_reading_c_clears_it() {
        let mut r = Rtc::new(JULY);
        assert_eq!(r.next_deadline(), None, "nothing enabled");
        set(&mut r, 0x0B, B_PIE | B_24H, 0);
        // The 1024 Hz tap rises half way through its period.
        let first = r.next_deadline().unwrap();
        assert_eq!(first, 488_282);
        r.advance(first - 1);
        assert!(!r.irq());
        r.advance(first);
        assert!(r.irq());
        assert_eq!(r.next_deadline(), None, "IRQ 8 stays up until C is read");
        assert_eq!(reg(&mut r, 0x0C, first), C_IRQF | C_PF);
        assert!(!r.irq());
        assert_eq!(reg(&mut r, 0x0C, first), 0, "reading C cleared it");
        let mut n = 1;
        while let Some(t) = r.next_deadline().filter(|&t| t < S) {
            r.advance(t);
            assert!(r.irq());
            assert_eq!(reg(&mut r, 0x0C, t) & C_PF, C_PF);
            n += 1;
        }
        assert_eq!(n, 1024);
        // PF is set even with PIE clear, without raising the line.
        set(&mut r, 0x0B, B_24H, S);
        r.advance(S + 2 * MS);
        assert!(!r.irq());
        assert_eq!(reg(&mut r, 0x0C, S + 2 * MS), C_PF | C_UF, "and UF, at 1 s");
    }

    #[test]
    fn alarm_with_dont_care_fields_fires_every_minute() {
        let mut r = Rtc::new(JULY); // 12:34:56
        set(&mut r, 0x0A, 0x20, 0); // no periodic flag in the way
        set(&mut r, 0x01, 0x30, 0);
        set(&mut r, 0x03, 0xFF, 0);
        set(&mut r, 0x05, 0xC0, 0);
        set(&mut r, 0x0B, B_AIE | B_24H, 0);
        let t = r.next_deadline().unwrap();
        assert_eq!(t, 34 * S, "12:35:30");
        r.advance(t);
        assert!(r.irq());
        assert_eq!(reg(&mut r, 0x0C, t), C_IRQF | C_AF | C_UF);
        assert_eq!(r.next_deadline(), Some(94 * S), "12:36:30");
        // Fully specified: 13:00:00 in 12-hour BCD is 0x81 (1 PM).
        set(&mut r, 0x0B, B_AIE, t);
        set(&mut r, 0x01, 0x00, t);
        set(&mut r, 0x03, 0x00, t);
        set(&mut r, 0x05, 0x81, t);
        assert_eq!(r.next_deadline(), Some((25 * 60 + 4) * S));
        // A value no time has never matches.
        set(&mut r, 0x01, 0x60, t);
        assert_eq!(r.next_deadline(), None);
    }

    #[test]
    fn update_ended_interrupt_once_per_second() {
        let mut r = Rtc::new(JULY);
        set(&mut r, 0x0A, 0x20, 0);
        set(&mut r, 0x0B, B_UIE | B_24H, 0);
        assert_eq!(r.next_deadline(), Some(S));
        r.advance(S + 500 * MS);
        assert_eq!(reg(&mut r, 0x0C, S + 500 * MS), C_IRQF | C_UF);
        r.advance(2 * S - 1);
        assert!(!r.irq(), "one per second");
        assert_eq!(r.next_deadline(), Some(2 * S));
        r.advance(2 * S);
        assert!(r.irq());
        assert_eq!(reg(&mut r, 0x00, 2 * S), 0x58, "the new time is there when UF is");
    }

    #[test]
    fn nvram_checksum_and_nmi_mask() {
        let mut r = Rtc::new(0);
        r.set_nvram(0x10, 0x40);
        r.set_nvram(0x15, 0x80);
        r.set_nvram(0x16, 0x02);
        r.set_nvram(0x2D, 0xFF);
        r.set_nvram(0x34, 0x12);
        r.update_checksum();
        assert_eq!([r.nvram(0x2E), r.nvram(0x2F)], [0x01, 0xC1], "0x40 + 0x80 + 0x02 + 0xFF");
        r.write(0x70, 0x80 | 0x34, 0);
        assert!(r.nmi_masked());
        assert_eq!(r.read(0x71, 0), 0x12);
        r.write(0x71, 0x99, 0);
        assert_eq!(r.nvram(0x34), 0x99);
        r.write(0x70, 0x7F, 0);
        assert!(!r.nmi_masked());
        r.write(0x71, 0xAB, 0);
        assert_eq!(r.read(0x71, 0), 0xAB, "the last byte is memory too");
        assert_eq!(r.read(0x70, 0), 0xFF, "the index port is write-only");
        set(&mut r, 0x0D, 0x00, 0);
        assert_eq!(reg(&mut r, 0x0D, 0), 0x80, "D is read-only");
    }

    #[test]
    fn any_guest_access_sequence_is_harmless() {
        let mut r = Rtc::new(JULY);
        let mut x: u32 = 12345;
        let mut now = 0;
        for _ in 0..20_000 {
            x = x.wrapping_mul(1_103_515_245).wrapping_add(12_345);
            now += u64::from(x >> 16) * 1000;
            let v = (x >> 8) as u8;
            match x % 4 {
                0 => r.write(0x70, v, now),
                1 => r.write(0x71, v, now),
                2 => {
                    r.read(0x71, now);
                }
                _ => {
                    r.advance(now);
                    let _ = r.next_deadline();
                }
            }
        }
    }

    #[test]
    fn extreme_start_times_do_not_overflow() {
        for base in [i64::MIN, -1, i64::MAX - 1, i64::MAX] {
            let mut r = Rtc::new(base);
            set(&mut r, 0x01, 0xFF, 0);
            set(&mut r, 0x03, 0xFF, 0);
            set(&mut r, 0x05, 0xFF, 0);
            set(&mut r, 0x0B, B_AIE | B_UIE | B_PIE | B_24H, 0);
            for t in [0, S, 3 * S, u64::MAX / 2, u64::MAX] {
                let _ = clock(&mut r, t);
                r.advance(t);
                let _ = r.next_deadline();
                set(&mut r, 0x09, 0x99, t);
                set(&mut r, 0x0B, B_SET, t);
                set(&mut r, 0x0B, B_AIE | B_24H, t);
                let _ = reg(&mut r, 0x0C, t);
            }
        }
    }

    #[test]
    fn state_round_trips_through_serde_mid_operation() {
        let mut r = Rtc::new(LEAP_EVE);
        set(&mut r, 0x01, 0xFF, 0);
        set(&mut r, 0x0B, B_PIE | B_AIE | B_UIE | B_24H, 0);
        set(&mut r, 0x0A, 0x2A, 0); // 64 Hz
        r.set_nvram(0x40, 0x55);
        r.advance(1_200 * MS);
        let mut q: Rtc = serde_json::from_str(&serde_json::to_string(&r).unwrap()).unwrap();
        assert_eq!(q, r);
        for k in 0..200u64 {
            let t = 1_200 * MS + k * 7 * MS;
            r.advance(t);
            q.advance(t);
            assert_eq!(q.irq(), r.irq());
            assert_eq!(q.next_deadline(), r.next_deadline());
            assert_eq!(reg(&mut q, 0x0C, t), reg(&mut r, 0x0C, t));
            assert_eq!(clock(&mut q, t), clock(&mut r, t));
        }
        assert_eq!(q, r);
        let mut v = serde_json::to_value(&r).unwrap();
        v["cmos"].as_array_mut().unwrap().pop();
        assert!(serde_json::from_value::<Rtc>(v).is_err(), "127 CMOS bytes do not make an RTC");
    }
}
