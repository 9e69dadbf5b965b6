//! STUB (not committed): the API vga-core announced, for compiling the board.
use crate::display::Frame;
use serde::{Deserialize, Serialize};
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize, Default)]
pub struct Vga {
    regs: Vec<u8>,
}
impl Vga {
    pub const VRAM_SIZE: usize = 16 << 20;
    pub fn new() -> Self {
        Self { regs: vec![0; 0x30] }
    }
    pub fn io_read(&mut self, port: u16, _now: u64) -> u8 {
        self.regs[(port - 0x3B0) as usize]
    }
    pub fn io_write(&mut self, port: u16, v: u8, _now: u64) {
        self.regs[(port - 0x3B0) as usize] = v
    }
    pub fn dispi_read(&mut self, _port: u16) -> u16 {
        0
    }
    pub fn dispi_write(&mut self, _port: u16, _v: u16, _vram: &mut [u8]) {}
    pub fn window_read(&mut self, vram: &[u8], off: u32) -> u8 {
        vram[off as usize]
    }
    pub fn window_write(&mut self, vram: &mut [u8], off: u32, v: u8) {
        vram[off as usize] = v
    }
    pub fn mmio_read(&mut self, _off: u32, _size: u8, _now: u64) -> u32 {
        0
    }
    pub fn mmio_write(&mut self, _off: u32, _size: u8, _v: u32, _vram: &mut [u8], _now: u64) {}
    pub fn mark_dirty(&mut self, _off: u32, _len: u32) {}
    pub fn render(&mut self, _vram: &[u8], _f: &mut Frame, _now: u64) -> bool {
        false
    }
    pub fn text_dump(&self, _vram: &[u8]) -> Option<String> {
        None
    }
    pub fn frame_period_ns(&self) -> u64 {
        16_666_667
    }
}
