//! The PIIX4 power-management function, 00:01.3 (Intel 82371AB datasheet,
//! 3.4 configuration registers and 7.2 power-management I/O registers;
//! ACPI 1.0b, 4.7.3 fixed hardware), as QEMU's `pc` machine has it next to
//! its PIIX3 (8086:7113 rev 03, class 06/80/00, interrupt pin A):
//!
//! * PMBA (0x40) places the 64-byte PM I/O block, PMREGMISC (0x80) bit 0
//!   enables it; SMBBA (0x90) and SMBHSTCFG (0xD2) bit 0 place and enable
//!   the SMBus registers (preset to 0xB100 and enabled, as on QEMU; the
//!   SMBus host controller itself is not modelled: its ports float).
//! * PM I/O: PM1 status (write 1 to clear) and enable, PM1 control
//!   (SCI_EN, SUS_TYP, SUS_EN) and the 24-bit ACPI timer at 3.579545 MHz,
//!   computed from the machine clock; TMROF_STS is set whenever timer bit
//!   23 toggles.
//! * The GPE0 block QEMU puts at 0xAFE0 (status, enable) and the APM
//!   control/status ports 0xB2/0xB3.
//! * SCI on IRQ 9: a level, any enabled status bit set.
//!
//! There is no SMM: as on QEMU without SMM, writing the ACPI enable (0xF1)
//! or disable (0xF0) command to APMC sets or clears SCI_EN directly, and
//! DEVACTB's APMC_EN starts set so firmware skips its SMM setup. SUS_EN
//! with the soft-off type (0, what SeaBIOS's `\_S5` says; also 2, QEMU's
//! S4 type) powers the machine off.

use super::{ConfigSpace, PciFunction, VENDOR_INTEL};
use serde::{Deserialize, Serialize};

pub const DEVICE_ID: u16 = 0x7113;
const REVISION: u8 = 0x03;
const CLASS_OTHER_BRIDGE: u32 = 0x06_80_00;

/// Configuration registers.
pub const PMBA: u8 = 0x40;
pub const DEVACTB: u8 = 0x58;
pub const PMREGMISC: u8 = 0x80;
pub const SMBBA: u8 = 0x90;
pub const SMBHSTCFG: u8 = 0xD2;
/// PMBA bits 15:6: a 64-byte block; bit 0 reads 1 (I/O space).
const PMBA_MASK: u32 = 0xFFC0;
/// SMBBA bits 15:4: a 16-byte block; bit 0 reads 1.
const SMBBA_MASK: u32 = 0xFFF0;
/// PMREGMISC bit 0, SMBHSTCFG bit 0.
const PMIOSE: u8 = 1;
const SMB_HST_EN: u8 = 1;
/// Where QEMU places the SMBus registers at reset, and SMBHSTCFG's reset
/// value there (host enabled, SMI# routed to IRQ 9).
const SMBUS_BASE: u16 = 0xB100;
const SMBHSTCFG_RESET: u8 = 0x09;
/// DEVACTB byte 3 bit 1 (bit 25 of the dword): APMC writes raise SMI.
const APMC_EN: u8 = 1 << 1;

/// Size of the PM I/O block.
pub const PM_IO_SIZE: u16 = 64;
/// The GPE0 block (status word, enable word) at QEMU's fixed address.
pub const GPE0_BASE: u16 = 0xAFE0;
pub const GPE0_SIZE: u16 = 4;
/// The APM control and status ports.
pub const APMC: u16 = 0xB2;
pub const APMS: u16 = 0xB3;
/// The ISA IRQ of SCI (hardwired on the PC; SeaBIOS's FADT says so).
pub const SCI_IRQ: u8 = 9;

/// PM I/O register offsets.
const PMSTS: u16 = 0x00;
const PMEN: u16 = 0x02;
const PMCNTRL: u16 = 0x04;
const PMTMR: u16 = 0x08;

/// PM1 status/enable bits.
pub const TMROF: u16 = 1 << 0;
const BM_STS: u16 = 1 << 4;
const GBL: u16 = 1 << 5;
pub const PWRBTN: u16 = 1 << 8;
const RTC: u16 = 1 << 10;
const PWRBTNOR_STS: u16 = 1 << 11;
const WAK_STS: u16 = 1 << 15;
const PMSTS_BITS: u16 = TMROF | BM_STS | GBL | PWRBTN | RTC | PWRBTNOR_STS | WAK_STS;
const PMEN_BITS: u16 = TMROF | GBL | PWRBTN | RTC;
/// Status bits that raise SCI when enabled.
const SCI_SOURCES: u16 = TMROF | GBL | PWRBTN | RTC;

/// PM1 control bits.
pub const SCI_EN: u16 = 1 << 0;
const BRLD_EN_BM: u16 = 1 << 1;
const SUS_TYP_SHIFT: u16 = 10;
const SUS_TYP: u16 = 7 << SUS_TYP_SHIFT;
pub const SUS_EN: u16 = 1 << 13;
/// Bits PMCNTRL keeps (GBL_RLS and SUS_EN are write-only actions).
const PMCNTRL_BITS: u16 = SCI_EN | BRLD_EN_BM | SUS_TYP;
/// Sleep types that turn the machine off.
const SLP_TYP_SOFT_OFF: u16 = 0;
const SLP_TYP_QEMU_S4: u16 = 2;

/// APM commands that switch between ACPI and legacy mode (the FADT's
/// ACPI_ENABLE / ACPI_DISABLE).
pub const ACPI_ENABLE: u8 = 0xF1;
pub const ACPI_DISABLE: u8 = 0xF0;

/// The ACPI timer's clock: 3.579545 MHz.
const TMR_HZ: u128 = 3_579_545;
const NS_PER_S: u128 = 1_000_000_000;
/// TMROF_STS is set when timer bit 23 toggles.
const TMR_TOGGLE_SHIFT: u32 = 23;

/// Whole timer ticks by `ns`.
fn ns_to_ticks(ns: u64) -> u64 {
    (u128::from(ns) * TMR_HZ / NS_PER_S) as u64
}

/// The first nanosecond at which `ticks` ticks have elapsed.
fn ticks_to_ns(ticks: u64) -> u64 {
    (u128::from(ticks) * NS_PER_S).div_ceil(TMR_HZ).min(u128::from(u64::MAX)) as u64
}

/// The power-management function.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piix4Pm {
    config: ConfigSpace,
    pm1_sts: u16,
    pm1_en: u16,
    pm1_cnt: u16,
    /// Halves of timer bit 23 already folded into TMROF_STS.
    tmr_toggles: u64,
    gpe0_sts: u16,
    gpe0_en: u16,
    apmc: u8,
    apms: u8,
    /// The guest entered the soft-off state.
    power_off: bool,
}

impl Default for Piix4Pm {
    fn default() -> Self {
        Self::new()
    }
}

impl Piix4Pm {
    pub fn new() -> Self {
        let mut config = ConfigSpace::new(VENDOR_INTEL, DEVICE_ID, CLASS_OTHER_BRIDGE, REVISION, 0);
        config.set8(super::reg::INTERRUPT_PIN, 1);
        config.set16(super::reg::STATUS, 0x0280);
        config.set32(PMBA, 1);
        config.set_wmask32(PMBA, PMBA_MASK);
        config.set32(SMBBA, u32::from(SMBUS_BASE) | 1);
        config.set_wmask32(SMBBA, SMBBA_MASK);
        config.set8(SMBHSTCFG, SMBHSTCFG_RESET);
        // QEMU's reset values of DEVRESB's high byte and DEVRESC's, and
        // DEVRESD's COM1 decode enable (the board always has COM1).
        config.set8(0x5F, 0x10);
        config.set8(0x63, 0x60);
        config.set8(0x67, 0x08);
        // No SMM: mark APMC SMIs as already set up, as QEMU does, so
        // firmware does not wait for an SMI handler that never runs.
        config.set8(DEVACTB + 3, APMC_EN);
        Self {
            config,
            pm1_sts: 0,
            pm1_en: 0,
            pm1_cnt: 0,
            tmr_toggles: 0,
            gpe0_sts: 0,
            gpe0_en: 0,
            apmc: 0,
            apms: 0,
            power_off: false,
        }
    }

    /// The PM I/O block's base port, when PMREGMISC enables it.
    pub fn pm_io_base(&self) -> Option<u16> {
        (self.config.read8(PMREGMISC) & PMIOSE != 0).then(|| (self.config.read32(PMBA) & PMBA_MASK) as u16)
    }

    /// The SMBus registers' base port, when enabled (I/O space and host
    /// enable).
    pub fn smbus_base(&self) -> Option<u16> {
        let io = self.config.read16(super::reg::COMMAND) & super::command::IO != 0;
        (io && self.config.read8(SMBHSTCFG) & SMB_HST_EN != 0).then(|| (self.config.read32(SMBBA) & SMBBA_MASK) as u16)
    }

    /// Whether `port` is one of this function's I/O ports now.
    pub fn decodes(&self, port: u16) -> bool {
        matches!(port, APMC | APMS)
            || (GPE0_BASE..GPE0_BASE + GPE0_SIZE).contains(&port)
            || self.pm_io_base().is_some_and(|b| port >= b && port - b < PM_IO_SIZE)
    }

    /// Folds timer bit 23 toggles up to `now` (ns) into TMROF_STS.
    fn update_timer(&mut self, now: u64) {
        let toggles = ns_to_ticks(now) >> TMR_TOGGLE_SHIFT;
        if toggles != self.tmr_toggles {
            self.tmr_toggles = toggles;
            self.pm1_sts |= TMROF;
        }
    }

    /// Brings the timer status up to `now`.
    pub fn advance(&mut self, now: u64) {
        self.update_timer(now);
    }

    /// When TMROF_STS will next be set, if that raises SCI.
    pub fn next_deadline(&self) -> Option<u64> {
        (self.pm1_en & TMROF != 0 && self.pm1_sts & TMROF == 0)
            .then(|| ticks_to_ns(self.tmr_toggles.saturating_add(1) << TMR_TOGGLE_SHIFT))
    }

    /// The SCI line (IRQ 9): an enabled event's status bit is set.
    pub fn sci(&self) -> bool {
        self.pm1_sts & self.pm1_en & SCI_SOURCES != 0 || self.gpe0_sts & self.gpe0_en != 0
    }

    /// Whether the guest powered the machine off.
    pub fn power_off_requested(&self) -> bool {
        self.power_off
    }

    /// Sets PM1 status bits from outside (the power button, the RTC alarm).
    pub fn raise_pm1(&mut self, bits: u16) {
        self.pm1_sts |= bits & PMSTS_BITS;
    }

    /// A byte of the PM I/O block.
    fn pm_read_byte(&self, offset: u16, now: u64) -> u8 {
        let word = |v: u16| (v >> (8 * (offset & 1))) as u8;
        match offset & !1 {
            PMSTS => word(self.pm1_sts),
            PMEN => word(self.pm1_en),
            PMCNTRL => word(self.pm1_cnt),
            _ if (PMTMR..PMTMR + 4).contains(&offset) => ((ns_to_ticks(now) & 0xFF_FFFF) >> (8 * (offset - PMTMR))) as u8,
            // The rest of the block (the PIIX4's GPSTS, PCNTRL, PLVLx,
            // GLBSTS...) is not decoded, as on QEMU: it floats.
            _ => 0xFF,
        }
    }

    fn pm_write_byte(&mut self, offset: u16, v: u8) {
        let shift = 8 * (offset & 1);
        let lane = 0xFFu16 << shift;
        let v = u16::from(v) << shift;
        match offset & !1 {
            PMSTS => self.pm1_sts &= !(v & PMSTS_BITS),
            PMEN => self.pm1_en = (self.pm1_en & !lane) | (v & PMEN_BITS & lane),
            PMCNTRL => {
                self.pm1_cnt = (self.pm1_cnt & !lane) | (v & PMCNTRL_BITS & lane);
                if v & SUS_EN != 0 {
                    self.sleep((self.pm1_cnt & SUS_TYP) >> SUS_TYP_SHIFT);
                }
            }
            _ => {}
        }
    }

    /// SUS_EN was written: enter sleep type `typ`.
    fn sleep(&mut self, typ: u16) {
        match typ {
            SLP_TYP_SOFT_OFF | SLP_TYP_QEMU_S4 => {
                log::info!("ACPI: the guest entered soft-off (sleep type {typ})");
                self.power_off = true;
            }
            _ => log::warn!("ACPI: sleep type {typ} is not supported; ignored"),
        }
    }

    /// A read of one of this function's ports (see [`Self::decodes`]);
    /// `now` in ns of the machine clock.
    pub fn io_read(&mut self, port: u16, size: u8, now: u64) -> u32 {
        self.update_timer(now);
        (0..size.min(4)).fold(0, |v, i| v | u32::from(self.read_byte(port.wrapping_add(u16::from(i)), now)) << (8 * i))
    }

    /// A write to one of this function's ports.
    pub fn io_write(&mut self, port: u16, size: u8, value: u32, now: u64) {
        self.update_timer(now);
        for i in 0..size.min(4) {
            self.write_byte(port.wrapping_add(u16::from(i)), (value >> (8 * i)) as u8);
        }
    }

    fn read_byte(&self, port: u16, now: u64) -> u8 {
        match port {
            APMC => self.apmc,
            APMS => self.apms,
            _ if (GPE0_BASE..GPE0_BASE + GPE0_SIZE).contains(&port) => {
                let v = if port - GPE0_BASE < 2 { self.gpe0_sts } else { self.gpe0_en };
                (v >> (8 * (port & 1))) as u8
            }
            _ => match self.pm_io_base() {
                Some(b) if port >= b && port - b < PM_IO_SIZE => self.pm_read_byte(port - b, now),
                _ => 0xFF,
            },
        }
    }

    fn write_byte(&mut self, port: u16, v: u8) {
        match port {
            APMC => self.write_apmc(v),
            APMS => self.apms = v,
            _ if (GPE0_BASE..GPE0_BASE + GPE0_SIZE).contains(&port) => {
                let shift = 8 * (port & 1);
                let (lane, v) = (0xFFu16 << shift, u16::from(v) << shift);
                if port - GPE0_BASE < 2 {
                    self.gpe0_sts &= !v;
                } else {
                    self.gpe0_en = (self.gpe0_en & !lane) | v;
                }
            }
            _ => {
                if let Some(b) = self.pm_io_base().filter(|&b| port >= b && port - b < PM_IO_SIZE) {
                    self.pm_write_byte(port - b, v);
                }
            }
        }
    }

    fn write_apmc(&mut self, v: u8) {
        self.apmc = v;
        match v {
            ACPI_ENABLE => self.pm1_cnt |= SCI_EN,
            ACPI_DISABLE => self.pm1_cnt &= !SCI_EN,
            _ if self.config.read8(DEVACTB + 3) & APMC_EN != 0 => {
                log::debug!("APM command {v:#x} would raise SMI; there is no SMM")
            }
            _ => {}
        }
    }
}

impl PciFunction for Piix4Pm {
    fn config(&self) -> &ConfigSpace {
        &self.config
    }

    fn config_mut(&mut self) -> &mut ConfigSpace {
        &mut self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Configured as SeaBIOS does: PM I/O at 0xB000, enabled.
    fn pm() -> Piix4Pm {
        let mut p = Piix4Pm::new();
        p.config_write(PMBA, 4, 0xB000 | 1);
        p.config_write(PMREGMISC, 1, 1);
        p
    }

    const BASE: u16 = 0xB000;

    #[test]
    fn identity_and_base_registers() {
        let mut p = Piix4Pm::new();
        assert_eq!(p.config().read32(0), 0x7113_8086);
        assert_eq!(p.config().read32(0x08), 0x0680_0003);
        assert_eq!(p.config().read8(0x3D), 1, "INTA#");
        assert_eq!(p.config().read32(PMBA), 1, "I/O indicator reads 1");
        assert_eq!(p.pm_io_base(), None, "disabled at reset");
        p.config_write(PMBA, 4, 0xFFFF_FFFF);
        assert_eq!(p.config().read32(PMBA), 0xFFC1, "64-byte block below 64 KiB");
        p.config_write(PMBA, 4, 0xB03F);
        assert_eq!(p.config().read32(PMBA), 0xB001);
        p.config_write(PMREGMISC, 1, 1);
        assert_eq!(p.pm_io_base(), Some(0xB000));
        assert!(p.decodes(0xB03F) && !p.decodes(0xB040));
        assert_eq!(p.config().read32(SMBBA), 0xB101, "QEMU's reset placement");
        assert_eq!(p.smbus_base(), None, "I/O space off");
        p.config_write(0x04, 2, 1);
        assert_eq!(p.smbus_base(), Some(0xB100));
        assert_eq!(p.config().read8(DEVACTB + 3) & APMC_EN, APMC_EN, "no SMM to set up");
    }

    #[test]
    fn the_timer_counts_at_3_579545_mhz_and_wraps_at_24_bits() {
        let mut p = pm();
        assert_eq!(p.io_read(BASE + PMTMR, 4, 0), 0);
        // One second: 3 579 545 ticks.
        assert_eq!(p.io_read(BASE + PMTMR, 4, 1_000_000_000), 3_579_545);
        // 2^24 ticks take 4.6870 s; at 5 s the count has wrapped.
        assert_eq!(p.io_read(BASE + PMTMR, 4, 5_000_000_000), (3_579_545 * 5) & 0xFF_FFFF);
        assert_eq!(p.io_read(BASE + PMTMR + 1, 1, 1_000_000_000), (3_579_545 >> 8) & 0xFF);
    }

    #[test]
    fn tmrof_sets_when_bit_23_toggles_and_raises_sci_when_enabled() {
        let mut p = pm();
        // 2^23 ticks = 2.3435 s.
        let toggle = ticks_to_ns(1 << 23);
        assert!((2_343_000_000..2_344_000_000).contains(&toggle));
        p.io_write(BASE + PMEN, 2, u32::from(TMROF), 0);
        assert_eq!(p.next_deadline(), Some(toggle));
        p.advance(toggle - 1);
        assert_eq!(p.io_read(BASE + PMSTS, 2, toggle - 1) & 1, 0);
        assert!(!p.sci());
        p.advance(toggle);
        assert!(p.sci(), "SCI is status & enable");
        assert_eq!(p.next_deadline(), None, "already raised");
        // Writing 0 clears nothing; writing 1 clears.
        p.io_write(BASE + PMSTS, 2, 0, toggle);
        assert!(p.sci());
        p.io_write(BASE + PMSTS, 2, 1, toggle);
        assert!(!p.sci());
        assert_eq!(p.next_deadline(), Some(ticks_to_ns(2 << 23)));
        // Disabled: the status still shows, SCI stays low.
        p.io_write(BASE + PMEN, 2, 0, toggle);
        p.advance(ticks_to_ns(2 << 23));
        assert_eq!(p.io_read(BASE + PMSTS, 2, ticks_to_ns(2 << 23)) & 1, 1);
        assert!(!p.sci());
    }

    #[test]
    fn apm_commands_switch_sci_en_without_smm() {
        let mut p = pm();
        assert_eq!(p.io_read(BASE + PMCNTRL, 2, 0), 0);
        p.io_write(APMC, 1, u32::from(ACPI_ENABLE), 0);
        assert_eq!(p.io_read(BASE + PMCNTRL, 2, 0), u32::from(SCI_EN));
        assert_eq!(p.io_read(APMC, 1, 0), 0xF1);
        p.io_write(APMC, 1, u32::from(ACPI_DISABLE), 0);
        assert_eq!(p.io_read(BASE + PMCNTRL, 2, 0), 0);
        p.io_write(APMS, 1, 0x5A, 0);
        assert_eq!(p.io_read(APMS, 1, 0), 0x5A);
    }

    #[test]
    fn sus_en_with_the_soft_off_type_powers_off() {
        let mut p = pm();
        p.io_write(APMC, 1, u32::from(ACPI_ENABLE), 0);
        // S3 (type 1) is not power-off.
        p.io_write(BASE + PMCNTRL, 2, u32::from(SCI_EN | 1 << 10 | SUS_EN), 0);
        assert!(!p.power_off_requested());
        assert_eq!(p.io_read(BASE + PMCNTRL, 2, 0), u32::from(SCI_EN | 1 << 10), "SUS_EN reads 0");
        // Linux's acpi_enter_sleep_state(5): SLP_TYP first, then SLP_EN.
        p.io_write(BASE + PMCNTRL, 2, u32::from(SCI_EN), 0);
        assert!(!p.power_off_requested());
        p.io_write(BASE + PMCNTRL, 2, u32::from(SCI_EN | SUS_EN), 0);
        assert!(p.power_off_requested());
    }

    #[test]
    fn gpe0_status_clears_by_writing_ones_and_gates_sci() {
        let mut p = pm();
        p.gpe0_sts = 0x0002;
        p.io_write(GPE0_BASE + 2, 2, 0x0002, 0);
        assert!(p.sci());
        assert_eq!(p.io_read(GPE0_BASE, 4, 0), 0x0002_0002);
        p.io_write(GPE0_BASE, 1, 0x02, 0);
        assert!(!p.sci());
    }

    #[test]
    fn pm_io_is_absent_when_disabled() {
        let mut p = pm();
        p.config_write(PMREGMISC, 1, 0);
        assert!(!p.decodes(BASE));
        p.io_write(BASE + PMEN, 2, 0xFFFF, 0);
        p.config_write(PMREGMISC, 1, 1);
        assert_eq!(p.io_read(BASE + PMEN, 2, 0), 0, "the write did not land");
        p.io_write(BASE + PMEN, 2, 0xFFFF, 0);
        assert_eq!(p.io_read(BASE + PMEN, 2, 0), u32::from(PMEN_BITS));
        assert_eq!(p.io_read(BASE + 0x0C, 4, 0), 0xFFFF_FFFF, "undecoded offsets float");
        assert_eq!(p.io_read(BASE + 0x3C, 4, 0), 0xFFFF_FFFF);
    }

    #[test]
    fn state_round_trips_through_serde() {
        let mut p = pm();
        p.io_write(BASE + PMEN, 2, 1, 0);
        p.advance(3_000_000_000);
        let copy: Piix4Pm = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(copy, p);
    }
}
