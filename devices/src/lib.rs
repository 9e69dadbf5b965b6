//! The devices of the PC.
//!
//! A device is a struct of plain serialisable state (DESIGN.md invariant
//! 6) implementing [`PortIo`] for the I/O ports it decodes. Host handles
//! (a terminal, a file) are attached after construction and are not part
//! of the state.

pub mod debug_exit;
pub mod debugcon;
pub mod display;
pub mod dma8237;
pub mod fdc;
#[doc(hidden)]
pub mod fuzz_rng;
pub mod fw_cfg;
pub mod i8042;
pub mod ide;
pub mod pci;
pub mod pic;
pub mod pit;
pub mod ps2_keymap;
pub mod rtc;
pub mod uart16550;
pub mod vga;

/// A device on the I/O port bus. `port` is the absolute port number;
/// `size` is 1, 2 or 4 bytes.
pub trait PortIo {
    fn io_read(&mut self, port: u16, size: u8) -> u32;
    fn io_write(&mut self, port: u16, size: u8, value: u32);
}
