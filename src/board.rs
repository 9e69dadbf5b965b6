//! The board: the devices of the machine and the port map that routes the
//! CPU's I/O to them. It implements [`Bus`], the CPU's only view of the
//! rest of the machine.

use crate::clock::{Clock, ClockMode};
use ironpc_cpu::Bus;
use ironpc_devices::{debug_exit::DebugExit, debugcon::DebugCon, pic::PicPair, pit::Pit, PortIo};
use ironpc_mmu::PhysMem;

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
    pub debugcon: Option<DebugCon>,
    pub debug_exit: Option<DebugExit>,
}

impl Board {
    /// A board with the interrupt controllers and timer, on `clock`.
    pub fn new(clock: ClockMode) -> Self {
        Self { clock: Clock::new(clock), icount: 0, pic: PicPair::new(), pit: Pit::new(), debugcon: None, debug_exit: None }
    }

    /// Now, in nanoseconds of the machine clock.
    pub fn now(&self) -> u64 {
        self.clock.now(self.icount)
    }

    /// Brings the devices up to `icount`: fires what is due.
    pub fn advance(&mut self, icount: u64) {
        self.icount = icount;
        if self.pit.take_irq0(self.now()) {
            // OUT0 rising edge; the PIC latches edges, so a pulse will do.
            self.pic.set_irq(0, true);
            self.pic.set_irq(0, false);
        }
    }

    /// The next time a device needs attention, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        self.pit.next_irq0()
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
    fn io_read(&mut self, _mem: &mut PhysMem, port: u16, size: u8) -> u32 {
        if matches!(port, 0x40..=0x43 | 0x61) {
            let now = self.now();
            return u32::from(self.pit.read(port, now));
        }
        match self.device(port) {
            Some(d) => d.io_read(port, size),
            None => {
                log::trace!("read from unclaimed port {port:#x}");
                OPEN_BUS
            }
        }
    }

    fn io_write(&mut self, _mem: &mut PhysMem, port: u16, size: u8, value: u32) {
        if matches!(port, 0x40..=0x43 | 0x61) {
            let now = self.now();
            self.pit.write(port, value as u8, now);
            return;
        }
        match self.device(port) {
            Some(d) => d.io_write(port, size, value),
            None => log::trace!("write {value:#x} to unclaimed port {port:#x}"),
        }
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
        assert_eq!(b.io_read(&mut mem, 0x64, 1), 0xFFFF_FFFF, "unclaimed ports float");
    }
}
