//! The standard VGA as QEMU's `-vga std` presents it: the IBM VGA register
//! set (IBM VGA Technical Reference; FreeVGA's register pages: sequencer,
//! CRT controller, graphics controller, attribute controller, DAC,
//! external registers) on the legacy ports 0x3B0-0x3DF and the
//! 0xA0000-0xBFFFF window, plus the Bochs VBE "DISPI" extension (Bochs
//! `vbe.h`, SeaBIOS `vgasrc/bochsvga.c`) and the MMIO register block of
//! QEMU's PCI stdvga (QEMU `docs/specs/standard-vga.rst`).
//!
//! [`Vga`] holds the register state only; the video memory is a separate
//! byte slice the board owns (it is also the PCI BAR0 linear framebuffer)
//! and passes in. Its layout is QEMU's: plane `p` of plane address `a`
//! (0..64 KiB) is byte `4 * a + p`. Chain-4 host addresses therefore land
//! at their own offset (mode 13h and VBE see VRAM linearly), and odd/even
//! host addresses `a` land at plane address `a >> 1`. The CRT controller's
//! byte/word/doubleword address modes are folded into this compaction (see
//! [`render`]), so the display reads what the host wrote in every mode.
//!
//! Modules: [`regs`] (port decoding), [`memory`] (the window: planes,
//! latches, read and write modes), [`vbe`] (DISPI), [`render`] (timings,
//! the frame, text dump).

mod memory;
mod regs;
mod render;
#[cfg(test)]
mod tests;
mod vbe;

use serde::{Deserialize, Serialize};

pub use vbe::{
    VBE_DISPI_8BIT_DAC, VBE_DISPI_ENABLED, VBE_DISPI_GETCAPS, VBE_DISPI_ID0, VBE_DISPI_ID5, VBE_DISPI_LFB_ENABLED,
    VBE_DISPI_MAX_BPP, VBE_DISPI_MAX_XRES, VBE_DISPI_MAX_YRES, VBE_DISPI_NOCLEARMEM,
};

/// Bytes in one VRAM dirty-tracking page.
pub const DIRTY_PAGE: usize = 4096;

/// The whole VGA register state.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Vga {
    /// Miscellaneous output register (0x3C2 write, 0x3CC read).
    misc: u8,
    /// Feature control (0x3BA/0x3DA write, 0x3CA read).
    feature: u8,
    seq_index: u8,
    seq: [u8; regs::SEQ_COUNT],
    crtc_index: u8,
    crtc: [u8; regs::CRTC_COUNT],
    gc_index: u8,
    gc: [u8; regs::GC_COUNT],
    /// Attribute controller index register, with bit 5 the palette
    /// address source (0: the CPU owns the palette, the screen is blank).
    ar_index: u8,
    ar: [u8; regs::AR_COUNT],
    /// The attribute controller's address/data flip-flop: false means the
    /// next 0x3C0 write is an index.
    ar_flip: bool,
    /// DAC: the PEL mask, read and write indexes, position in the 3-byte
    /// cycle, whether the last index written was the read index (0x3C7
    /// reads it back), and 256 RGB entries (6 or 8 significant bits).
    pel_mask: u8,
    dac_read_index: u8,
    dac_write_index: u8,
    dac_sub: u8,
    dac_reading: bool,
    dac_latch: [u8; 3],
    palette: Vec<u8>,
    /// The graphics controller's four 8-bit latches (plane 0 in bits 0-7).
    latch: u32,
    vbe: vbe::Dispi,
    /// Host-side render bookkeeping, not part of the machine state.
    #[serde(skip)]
    cache: render::Cache,
}

impl Default for Vga {
    fn default() -> Self {
        Self::new()
    }
}

impl Vga {
    /// QEMU stdvga's default 16 MiB of video memory.
    pub const VRAM_SIZE: usize = 16 << 20;

    /// The power-on state: registers cleared (the VGA BIOS programs every
    /// one), the palette black, the PEL mask all ones.
    pub fn new() -> Self {
        Self {
            misc: 0,
            feature: 0,
            seq_index: 0,
            seq: [0; regs::SEQ_COUNT],
            crtc_index: 0,
            crtc: [0; regs::CRTC_COUNT],
            gc_index: 0,
            gc: [0; regs::GC_COUNT],
            ar_index: 0,
            ar: [0; regs::AR_COUNT],
            ar_flip: false,
            pel_mask: 0xFF,
            dac_read_index: 0,
            dac_write_index: 0,
            dac_sub: 0,
            dac_reading: false,
            dac_latch: [0; 3],
            palette: vec![0; 768],
            latch: 0,
            vbe: vbe::Dispi::new(),
            cache: render::Cache::default(),
        }
    }

    /// The VBE linear framebuffer is enabled: the platform maps BAR0 (all
    /// of VRAM is visible through it).
    pub fn lfb_enabled(&self) -> bool {
        self.vbe.enabled() && self.vbe.lfb()
    }

    /// VBE DISPI mode is on (the display shows VRAM linearly).
    pub fn vbe_enabled(&self) -> bool {
        self.vbe.enabled()
    }

    /// A VRAM range changed outside the window (the CPU wrote the linear
    /// framebuffer): the renderer redraws what shows it.
    pub fn mark_dirty(&mut self, vram_offset: u32, len: u32) {
        self.cache.mark(vram_offset as usize, len as usize);
    }
}
