//! The board: the devices of the machine and the port map that routes the
//! CPU's I/O to them. It implements [`Bus`], the CPU's only view of the
//! rest of the machine.

use crate::clock::{Clock, ClockMode};
use ironpc_cpu::Bus;
use ironpc_devices::{
    debug_exit::DebugExit,
    debugcon::DebugCon,
    i8042::{self, I8042},
    pci::{self, piix4_pm, PciBus},
    pic::PicPair,
    pit::Pit,
    rtc::Rtc,
    uart16550::Uart16550,
    PortIo,
};
use ironpc_mmu::{PamAttr, PhysMem, PAM_SEGMENTS};
use std::io::Write;

/// The devices of the machine and its clock. So far: the interrupt
/// controllers, the interval timer, and what a firmware test needs to
/// report; the rest of the chipset follows.
pub struct Board {
    pub clock: Clock,
    /// The CPU's work count at its last port/MMIO access or slice start:
    /// with the clock, the time devices see.
    icount: u64,
    pub pic: PicPair,
    pub pit: Pit,
    pub kbc: I8042,
    pub rtc: Rtc,
    /// COM1 (0x3F8, IRQ 4).
    pub com1: Uart16550,
    /// Where COM1's output goes (a host handle, not machine state).
    pub serial_out: Option<Box<dyn Write + Send>>,
    pub debugcon: Option<DebugCon>,
    pub debug_exit: Option<DebugExit>,
    /// PCI configuration space and bus 0: i440FX (PAM), PIIX3, PIIX4 PM
    /// (ACPI timer, SCI on IRQ 9, power-off), reset control 0xCF9.
    pub pci: PciBus,
    /// Port 0x92, the PS/2 system control port A: bit 1 is the fast A20
    /// gate, bit 0 a reset pulse.
    port92: u8,
    /// A device asked for a system reset; the machine carries it out.
    reset_requested: bool,
}

/// The wall-clock time the RTC shows at machine time 0: the host's time on
/// the host clock; on the virtual clock a fixed date (2026-01-01 00:00:00
/// UTC), so a run repeats exactly.
fn rtc_epoch(clock: ClockMode) -> i64 {
    match clock {
        ClockMode::Host => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64),
        ClockMode::Virtual => 1_767_225_600,
    }
}

/// COM1's ports and interrupt line.
const COM1_BASE: u16 = 0x3F8;
const COM1_IRQ: u8 = 4;

/// Port 0x92 bits.
const PORT92_RESET: u8 = 1 << 0;
const PORT92_A20: u8 = 1 << 1;

impl Board {
    /// A board with the interrupt controllers and timer, on `clock`.
    pub fn new(clock: ClockMode) -> Self {
        Self {
            clock: Clock::new(clock),
            icount: 0,
            pic: PicPair::new(),
            pit: Pit::new(),
            kbc: I8042::new(),
            rtc: Rtc::new(rtc_epoch(clock)),
            com1: Uart16550::new(),
            serial_out: None,
            debugcon: None,
            debug_exit: None,
            pci: PciBus::new(),
            port92: PORT92_A20,
            reset_requested: false,
        }
    }

    /// Drives the PIC's lines from the keyboard controller and COM1, and
    /// forwards what COM1 transmitted to the host.
    fn sync_devices(&mut self, mem: &mut PhysMem) {
        for action in self.kbc.take_actions() {
            match action {
                i8042::Action::SetA20(on) => mem.set_a20(on),
                i8042::Action::Reset => self.reset_requested = true,
            }
        }
        self.pic.set_irq(1, self.kbc.irq1());
        self.pic.set_irq(12, self.kbc.irq12());
        self.pic.set_irq(COM1_IRQ, self.com1.irq());
        let out = self.com1.take_output();
        if !out.is_empty() {
            if let Some(w) = self.serial_out.as_mut() {
                if w.write_all(&out).and_then(|_| w.flush()).is_err() {
                    log::warn!("serial: host output failed; further output dropped");
                    self.serial_out = None;
                }
            }
        }
    }

    /// Whether a reset was requested since the last call.
    pub fn take_reset(&mut self) -> bool {
        std::mem::take(&mut self.reset_requested)
    }

    /// Now, in nanoseconds of the machine clock.
    pub fn now(&self) -> u64 {
        self.clock.now(self.icount)
    }

    /// Brings the devices up to `icount`: fires what is due.
    pub fn advance(&mut self, icount: u64) {
        self.icount = icount;
        let now = self.now();
        if self.pit.take_irq0(now) {
            // OUT0 rising edge; the PIC latches edges, so a pulse will do.
            self.pic.set_irq(0, true);
            self.pic.set_irq(0, false);
        }
        self.rtc.advance(now);
        self.pic.set_irq(8, self.rtc.irq());
        self.pci.pm.advance(now);
        self.pic.set_irq(piix4_pm::SCI_IRQ, self.pci.pm.sci());
    }

    /// The next time a device needs attention, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        [self.pit.next_irq0(), self.rtc.next_deadline(), self.pci.pm.next_deadline()].into_iter().flatten().min()
    }

    /// Whether the guest powered the machine off (ACPI soft-off).
    pub fn power_off_requested(&self) -> bool {
        self.pci.pm.power_off_requested()
    }

    /// For a guest started without firmware (direct kernel boot): the PCI
    /// functions as SeaBIOS leaves them ([`PciBus::firmware_init`]), with
    /// the PM block at `pm_base` (where the ACPI tables say it is) and the
    /// PIRQ lines level-triggered.
    pub fn firmware_pci_init(&mut self, mem: &mut PhysMem, pm_base: u16) {
        self.pci.firmware_init(pm_base);
        let mut elcr = [0u8; 2];
        for irq in pci::PIRQ_IRQS {
            elcr[usize::from(irq >> 3)] |= 1 << (irq & 7);
        }
        self.pic.io_write(0x4D0, 1, u32::from(elcr[0]));
        self.pic.io_write(0x4D1, 1, u32::from(elcr[1]));
        self.sync_pci(mem);
    }

    /// After a configuration write: the PAM registers decide the shadow
    /// RAM window, SMRAM may have opened; 0xCF9 may have asked for a reset.
    fn sync_pci(&mut self, mem: &mut PhysMem) {
        let nibbles = self.pci.host.pam_attrs();
        let mut attrs = [PamAttr::default(); PAM_SEGMENTS];
        for (a, n) in attrs.iter_mut().zip(nibbles) {
            *a = PamAttr::from_bits(n);
        }
        if mem.pam() != Some(attrs) {
            mem.set_pam(attrs);
        }
        mem.set_smram_open(self.pci.host.smram_open());
        if self.pci.take_reset() {
            self.reset_requested = true;
        }
    }

    /// Writes the CMOS bytes a PC BIOS reads for the memory size (IBM AT
    /// layout and the extensions SeaBIOS and QEMU use) and the checksum.
    pub fn set_cmos_memory(&mut self, ram: u64) {
        let kib_above_1m = (ram.saturating_sub(1 << 20) >> 10).min(0xFFFF) as u16;
        let above_16m = (ram.saturating_sub(16 << 20) >> 16).min(0xFFFF) as u16;
        for (index, v) in [
            // Base memory: 640 KiB.
            (0x15, 0x80),
            (0x16, 0x02),
            // Extended memory in KiB (twice: 0x17/0x18 and 0x30/0x31).
            (0x17, kib_above_1m as u8),
            (0x18, (kib_above_1m >> 8) as u8),
            (0x30, kib_above_1m as u8),
            (0x31, (kib_above_1m >> 8) as u8),
            // Memory above 16 MiB in 64 KiB units.
            (0x34, above_16m as u8),
            (0x35, (above_16m >> 8) as u8),
            // Number of CPUs minus one (SeaBIOS waits for the others).
            (0x5F, 0),
        ] {
            self.rtc.set_nvram(index, v);
        }
        self.rtc.update_checksum();
    }
}

impl Board {
    /// The device decoding `port`, if any.
    fn device(&mut self, port: u16) -> Option<&mut dyn PortIo> {
        if matches!(port, 0x20 | 0x21 | 0xA0 | 0xA1 | 0x4D0 | 0x4D1) {
            return Some(&mut self.pic);
        }
        if let Some(d) = self.debugcon.as_mut().filter(|d| d.port == port) {
            return Some(d);
        }
        if let Some(d) = self.debug_exit.as_mut().filter(|d| d.port == port) {
            return Some(d);
        }
        None
    }
}

/// Unclaimed ports float high, as on an ISA bus.
const OPEN_BUS: u32 = 0xFFFF_FFFF;

impl Bus for Board {
    fn io_read(&mut self, mem: &mut PhysMem, port: u16, size: u8) -> u32 {
        if port == 0x70 || port == 0x71 {
            let now = self.now();
            let v = self.rtc.read(port, now);
            self.pic.set_irq(8, self.rtc.irq());
            return u32::from(v);
        }
        if (COM1_BASE..COM1_BASE + 8).contains(&port) {
            let v = self.com1.read((port - COM1_BASE) as u8);
            self.sync_devices(mem);
            return u32::from(v);
        }
        if port == i8042::DATA_PORT || port == i8042::STATUS_PORT {
            let v = self.kbc.io_read(port, size);
            if port == i8042::DATA_PORT {
                // The next queued byte is already in the output buffer:
                // drop the lines so the edge-triggered PIC sees it anew.
                self.pic.set_irq(1, false);
                self.pic.set_irq(12, false);
            }
            self.sync_devices(mem);
            return v;
        }
        if port == 0x92 {
            return u32::from((self.port92 & !PORT92_A20) | if mem.a20() { PORT92_A20 } else { 0 });
        }
        if matches!(port, 0x40..=0x43 | 0x61) {
            let now = self.now();
            return u32::from(self.pit.read(port, now));
        }
        if (pci::CONFIG_ADDRESS..=0xCFF).contains(&port) {
            return self.pci.io_read(port, size);
        }
        if let Some(d) = self.device(port) {
            return d.io_read(port, size);
        }
        // The PM block moves where PMBA says; the fixed devices win over it.
        if self.pci.pm.decodes(port) {
            let now = self.now();
            let v = self.pci.pm.io_read(port, size, now);
            self.pic.set_irq(piix4_pm::SCI_IRQ, self.pci.pm.sci());
            return v;
        }
        log::trace!("read from unclaimed port {port:#x}");
        OPEN_BUS
    }

    fn io_write(&mut self, mem: &mut PhysMem, port: u16, size: u8, value: u32) {
        if port == 0x70 || port == 0x71 {
            let now = self.now();
            self.rtc.write(port, value as u8, now);
            self.pic.set_irq(8, self.rtc.irq());
            return;
        }
        if (COM1_BASE..COM1_BASE + 8).contains(&port) {
            self.com1.write((port - COM1_BASE) as u8, value as u8);
            self.sync_devices(mem);
            return;
        }
        if port == i8042::DATA_PORT || port == i8042::STATUS_PORT {
            self.kbc.io_write(port, size, value);
            self.sync_devices(mem);
            return;
        }
        if port == 0x92 {
            let v = value as u8;
            mem.set_a20(v & PORT92_A20 != 0);
            // A rising edge of bit 0 resets the CPU.
            if v & PORT92_RESET != 0 && self.port92 & PORT92_RESET == 0 {
                self.reset_requested = true;
            }
            self.port92 = v;
            return;
        }
        if matches!(port, 0x40..=0x43 | 0x61) {
            let now = self.now();
            self.pit.write(port, value as u8, now);
            return;
        }
        if (pci::CONFIG_ADDRESS..=0xCFF).contains(&port) {
            self.pci.io_write(port, size, value);
            self.sync_pci(mem);
            return;
        }
        if let Some(d) = self.device(port) {
            d.io_write(port, size, value);
            return;
        }
        if self.pci.pm.decodes(port) {
            let now = self.now();
            self.pci.pm.io_write(port, size, value, now);
            self.pic.set_irq(piix4_pm::SCI_IRQ, self.pci.pm.sci());
            return;
        }
        log::trace!("write {value:#x} to unclaimed port {port:#x}");
    }

    fn mmio_read(&mut self, _mem: &mut PhysMem, addr: u64, _size: u8) -> u64 {
        log::trace!("read from unclaimed MMIO {addr:#x}");
        u64::MAX
    }

    fn mmio_write(&mut self, _mem: &mut PhysMem, addr: u64, _size: u8, value: u64) {
        log::trace!("write {value:#x} to unclaimed MMIO {addr:#x}");
    }

    fn interrupt_pending(&mut self) -> bool {
        self.pic.interrupt_pending()
    }

    fn interrupt_ack(&mut self) -> u8 {
        self.pic.acknowledge()
    }

    fn set_icount(&mut self, icount: u64) {
        self.icount = icount;
    }

    fn stop_requested(&mut self) -> bool {
        self.reset_requested
            || self.debug_exit.as_ref().is_some_and(|d| d.requested.is_some())
            || self.pci.pm.power_off_requested()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pic_ports_reach_the_pic_and_its_output_is_the_intr_line() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        for (port, v) in [(0x20, 0x11), (0x21, 0x08), (0x21, 0x04), (0x21, 0x01), (0x21, 0xFE)] {
            b.io_write(&mut mem, port, 1, v);
        }
        assert_eq!(b.io_read(&mut mem, 0x21, 1), 0xFE, "IMR reads back");
        b.pic.set_irq(0, true);
        assert!(b.interrupt_pending());
        assert_eq!(b.interrupt_ack(), 0x08);
        assert_eq!(b.io_read(&mut mem, 0x378, 1), 0xFFFF_FFFF, "unclaimed ports float");
    }

    #[test]
    fn port_92_drives_a20_and_requests_a_reset_on_a_rising_bit_0() {
        let mut mem = PhysMem::new(2 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        assert_eq!(b.io_read(&mut mem, 0x92, 1) & 2, 2, "A20 on");
        b.io_write(&mut mem, 0x92, 1, 0);
        assert!(!mem.a20());
        assert_eq!(b.io_read(&mut mem, 0x92, 1) & 2, 0);
        b.io_write(&mut mem, 0x92, 1, 2);
        assert!(mem.a20());
        assert!(!b.take_reset());
        b.io_write(&mut mem, 0x92, 1, 3);
        assert!(b.take_reset());
        assert!(!b.take_reset(), "taken once");
        b.io_write(&mut mem, 0x92, 1, 3);
        assert!(!b.take_reset(), "bit 0 held high is no new pulse");
    }

    /// A configuration write through 0xCF8/0xCFC.
    fn pci_write(b: &mut Board, mem: &mut PhysMem, devfn: u32, register: u32, size: u8, value: u32) {
        b.io_write(mem, 0xCF8, 4, 0x8000_0000 | devfn << 8 | (register & 0xFC));
        b.io_write(mem, 0xCFC + (register & 3) as u16, size, value);
    }

    fn byte(mem: &PhysMem, addr: u64) -> u8 {
        let mut v = [0];
        mem.read(addr, &mut v);
        v[0]
    }

    #[test]
    fn pam_writes_through_the_config_ports_switch_the_bios_window() {
        let mut mem = PhysMem::new(2 << 20).unwrap();
        ironpc_bios::map_bios(&mut mem, &vec![0xAB; 128 << 10]).unwrap();
        mem.enable_pam();
        let mut b = Board::new(ClockMode::Virtual);
        assert_eq!(byte(&mem, 0xF_0000), 0xAB, "reset: the ROM");
        // PAM0 = 0x30: 0xF0000-0xFFFFF read and write DRAM.
        pci_write(&mut b, &mut mem, 0, 0x59, 1, 0x30);
        mem.write(0xF_0000, &[0x11]);
        assert_eq!(byte(&mem, 0xF_0000), 0x11);
        // 0x10: read-only shadow.
        pci_write(&mut b, &mut mem, 0, 0x59, 1, 0x10);
        mem.write(0xF_0000, &[0x22]);
        assert_eq!(byte(&mem, 0xF_0000), 0x11);
        // Back to PCI: the ROM again.
        pci_write(&mut b, &mut mem, 0, 0x59, 1, 0x00);
        assert_eq!(byte(&mem, 0xF_0000), 0xAB);
        b.io_write(&mut mem, 0xCF8, 4, 0x8000_0000);
        assert_eq!(b.io_read(&mut mem, 0xCFC, 4), 0x1237_8086);
    }

    #[test]
    fn cf9_resets_the_machine() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        b.io_write(&mut mem, 0xCF9, 1, 0x02);
        assert!(!b.take_reset());
        b.io_write(&mut mem, 0xCF9, 1, 0x06);
        assert!(b.stop_requested());
        assert!(b.take_reset());
    }

    /// PM function 00:01.3 with its I/O at 0xB000, as SeaBIOS sets it up.
    fn board_with_pm(mem: &mut PhysMem) -> Board {
        let mut b = Board::new(ClockMode::Virtual);
        pci_write(&mut b, mem, 1 << 3 | 3, 0x40, 4, 0xB001);
        pci_write(&mut b, mem, 1 << 3 | 3, 0x80, 1, 0x01);
        b
    }

    #[test]
    fn the_acpi_timer_raises_sci_on_irq_9_and_meets_its_deadline() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = board_with_pm(&mut mem);
        // PICs as a BIOS programs them, IRQ 9 level-triggered and unmasked.
        for (port, v) in
            [(0x20, 0x11), (0x21, 0x08), (0x21, 0x04), (0x21, 0x01), (0xA0, 0x11), (0xA1, 0x70), (0xA1, 0x02), (0xA1, 0x01)]
        {
            b.io_write(&mut mem, port, 1, v);
        }
        b.io_write(&mut mem, 0x21, 1, 0xFB);
        b.io_write(&mut mem, 0xA1, 1, 0xFD);
        b.io_write(&mut mem, 0x4D1, 1, 0x02);
        // ACPI mode, then the timer overflow event enabled.
        b.io_write(&mut mem, 0xB2, 1, 0xF1);
        assert_eq!(b.io_read(&mut mem, 0xB004, 2) & 1, 1, "SCI_EN");
        b.io_write(&mut mem, 0xB002, 2, 1);
        // Timer bit 23 toggles after 2^23 / 3.579545 MHz = 2.343 s.
        let deadline = b.next_deadline().expect("the PM timer deadline");
        assert!((2_343_000_000..2_344_000_000).contains(&deadline), "{deadline}");
        b.advance(deadline - 1);
        assert!(!b.interrupt_pending());
        b.advance(deadline);
        assert!(b.interrupt_pending());
        assert_eq!(b.interrupt_ack(), 0x71, "IRQ 9");
        assert_eq!(b.io_read(&mut mem, 0xB008, 4), 1 << 23, "timer value at the toggle");
        // Acknowledge at the device: the level drops.
        b.io_write(&mut mem, 0xB000, 2, 1);
        b.io_write(&mut mem, 0xA0, 1, 0x20);
        b.io_write(&mut mem, 0x20, 1, 0x20);
        assert!(!b.interrupt_pending());
    }

    #[test]
    fn slp_en_with_the_s5_type_powers_off_and_stops_the_cpu() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = board_with_pm(&mut mem);
        b.io_write(&mut mem, 0xB2, 1, 0xF1);
        assert!(!b.power_off_requested());
        // SLP_TYP 0 (SeaBIOS's \_S5) with SLP_EN.
        b.io_write(&mut mem, 0xB004, 2, 0x2001);
        assert!(b.power_off_requested());
        assert!(b.stop_requested());
    }

    #[test]
    fn pm_io_is_not_decoded_until_enabled() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        assert_eq!(b.io_read(&mut mem, 0xB008, 4), 0xFFFF_FFFF);
        b.io_write(&mut mem, 0xB004, 2, 0x2001);
        assert!(!b.power_off_requested());
    }

    #[test]
    fn a_pm_block_placed_over_the_pic_does_not_take_its_ports() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        // PMBA left at 0, PM I/O enabled: 0x00-0x3F, over the PIC at 0x20.
        pci_write(&mut b, &mut mem, 1 << 3 | 3, 0x80, 1, 0x01);
        b.io_write(&mut mem, 0x21, 1, 0xA5);
        assert_eq!(b.io_read(&mut mem, 0x21, 1), 0xA5, "the PIC's IMR");
        assert_eq!(b.io_read(&mut mem, 0x08, 4), 0, "the PM timer at 0x08 at time 0");
    }

    /// Random guest traffic on the PCI and PM ports, with memory accesses
    /// in the PAM window between, cannot panic (seed printed; set
    /// BOARD_PCI_FUZZ_SEED to repeat a run).
    #[test]
    fn random_pci_and_pm_port_traffic_is_harmless() {
        let seed = std::env::var("BOARD_PCI_FUZZ_SEED").ok().and_then(|s| s.parse().ok()).unwrap_or_else(|| {
            std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(1, |d| d.as_nanos() as u64) | 1
        });
        println!("BOARD_PCI_FUZZ_SEED={seed}");
        let mut x: u64 = seed;
        let mut next = move || {
            x ^= x << 13;
            x ^= x >> 7;
            x ^= x << 17;
            x
        };
        let mut mem = PhysMem::new(2 << 20).unwrap();
        ironpc_bios::map_bios(&mut mem, &vec![0xC3; 128 << 10]).unwrap();
        mem.enable_pam();
        let mut b = Board::new(ClockMode::Virtual);
        let mut icount = 0u64;
        for _ in 0..100_000 {
            let r = next();
            let size = [1, 2, 4, 4][(r & 3) as usize];
            let value = (r >> 32) as u32;
            let port = match (r >> 2) & 7 {
                0 | 1 => 0xCF8,
                2 | 3 => 0xCFC + ((r >> 5) & 3) as u16,
                4 => 0xCF9,
                5 => [0xB2, 0xB3, 0xAFE0 + ((r >> 5) & 3) as u16][((r >> 8) % 3) as usize],
                _ => b.pci.pm.pm_io_base().unwrap_or(0xB000).wrapping_add(((r >> 5) & 0x3F) as u16),
            };
            // Aim CONFADD at the present functions most of the time.
            let value = if port == 0xCF8 && r & (1 << 20) != 0 {
                0x8000_0000 | [0u32, 0x800, 0xB00][((r >> 21) % 3) as usize] | (value & 0xFC)
            } else {
                value
            };
            if r & (1 << 24) != 0 {
                b.io_write(&mut mem, port, size, value);
            } else {
                b.io_read(&mut mem, port, size);
            }
            let addr = 0xC_0000 + (r >> 44) % 0x4_0000;
            mem.write(addr, &[r as u8]);
            let mut v = [0];
            mem.read(addr, &mut v);
            icount += (r >> 50) & 0xFFFF;
            b.advance(icount);
            let _ = (b.next_deadline(), b.take_reset(), b.interrupt_pending());
        }
    }

    #[test]
    fn firmware_pci_init_opens_the_pm_block_where_the_tables_say() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        b.firmware_pci_init(&mut mem, 0x600);
        b.io_write(&mut mem, 0xB2, 1, 0xF1);
        assert_eq!(b.io_read(&mut mem, 0x604, 2) & 1, 1, "SCI_EN through the block at 0x600");
        assert_eq!(b.io_read(&mut mem, 0x4D1, 1), 0x0C, "IRQ 10 and 11 level-triggered");
        b.io_write(&mut mem, 0x604, 2, 0x2001);
        assert!(b.power_off_requested());
    }
}
