//! The board: the devices of the machine and the port map that routes the
//! CPU's I/O to them. It implements [`Bus`], the CPU's only view of the
//! rest of the machine.

use ironpc_cpu::Bus;
use ironpc_devices::{debug_exit::DebugExit, debugcon::DebugCon, PortIo};
use ironpc_mmu::PhysMem;

/// The devices of a bare machine: what a firmware test needs to report.
#[derive(Default)]
pub struct Board {
    pub debugcon: Option<DebugCon>,
    pub debug_exit: Option<DebugExit>,
}

impl Board {
    /// The device decoding `port`, if any.
    fn device(&mut self, port: u16) -> Option<&mut dyn PortIo> {
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
        false
    }

    fn interrupt_ack(&mut self) -> u8 {
        // No interrupt controller yet: a spurious acknowledge reads the
        // floating bus.
        0xFF
    }
}
