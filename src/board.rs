//! The board: the devices of the machine and the port map that routes the
//! CPU's I/O to them. It implements [`Bus`], the CPU's only view of the
//! rest of the machine.

use ironpc_cpu::Bus;
use ironpc_devices::{debug_exit::DebugExit, debugcon::DebugCon, pic::PicPair, PortIo};
use ironpc_mmu::PhysMem;

/// The devices of the machine. So far: the interrupt controllers and what
/// a firmware test needs to report; the rest of the chipset follows.
#[derive(Default)]
pub struct Board {
    pub pic: PicPair,
    pub debugcon: Option<DebugCon>,
    pub debug_exit: Option<DebugExit>,
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
        match self.device(port) {
            Some(d) => d.io_read(port, size),
            None => {
                log::trace!("read from unclaimed port {port:#x}");
                OPEN_BUS
            }
        }
    }

    fn io_write(&mut self, _mem: &mut PhysMem, port: u16, size: u8, value: u32) {
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
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pic_ports_reach_the_pic_and_its_output_is_the_intr_line() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::default();
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
