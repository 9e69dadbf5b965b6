//! The Bochs VBE "DISPI" display interface (Bochs `iodev/vga.h`/`vbe.h`,
//! as SeaBIOS's `vgasrc/bochsvga.c` and Linux's `drivers/gpu/drm/tiny/
//! bochs.c` drive it): an index register at port 0x1CE and a 16-bit data
//! register at 0x1CF (QEMU also decodes it at 0x1D0). A guest checks the
//! ID, reads the memory size in 64 KiB units, asks for the maximum
//! resolution with GETCAPS, and sets a mode by writing XRES, YRES, BPP and
//! ENABLE.

use serde::{Deserialize, Serialize};

use super::regs::GR_MISC;
use super::{render, Vga};

pub const VBE_DISPI_INDEX_ID: u16 = 0x0;
pub const VBE_DISPI_INDEX_XRES: u16 = 0x1;
pub const VBE_DISPI_INDEX_YRES: u16 = 0x2;
pub const VBE_DISPI_INDEX_BPP: u16 = 0x3;
pub const VBE_DISPI_INDEX_ENABLE: u16 = 0x4;
pub const VBE_DISPI_INDEX_BANK: u16 = 0x5;
pub const VBE_DISPI_INDEX_VIRT_WIDTH: u16 = 0x6;
pub const VBE_DISPI_INDEX_VIRT_HEIGHT: u16 = 0x7;
pub const VBE_DISPI_INDEX_X_OFFSET: u16 = 0x8;
pub const VBE_DISPI_INDEX_Y_OFFSET: u16 = 0x9;
pub const VBE_DISPI_INDEX_VIDEO_MEMORY_64K: u16 = 0xA;

pub const VBE_DISPI_ID0: u16 = 0xB0C0;
pub const VBE_DISPI_ID5: u16 = 0xB0C5;

pub const VBE_DISPI_ENABLED: u16 = 0x01;
pub const VBE_DISPI_GETCAPS: u16 = 0x02;
pub const VBE_DISPI_8BIT_DAC: u16 = 0x20;
pub const VBE_DISPI_LFB_ENABLED: u16 = 0x40;
pub const VBE_DISPI_NOCLEARMEM: u16 = 0x80;

pub const VBE_DISPI_MAX_XRES: u16 = 2560;
pub const VBE_DISPI_MAX_YRES: u16 = 1600;
pub const VBE_DISPI_MAX_BPP: u16 = 32;

/// The framebuffer endianness values of QEMU's extended register 0x604.
const ENDIAN_LITTLE: u32 = 0x1E1E_1E1E;

const VRAM: u32 = Vga::VRAM_SIZE as u32;

#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dispi {
    pub index: u16,
    pub id: u16,
    pub xres: u16,
    pub yres: u16,
    pub bpp: u16,
    pub enable: u16,
    pub bank: u16,
    pub virt_width: u16,
    pub virt_height: u16,
    pub x_offset: u16,
    pub y_offset: u16,
    /// QEMU extended register 0x604 (framebuffer endianness).
    pub endian: u32,
}

impl Dispi {
    pub fn new() -> Self {
        Self {
            index: 0,
            id: VBE_DISPI_ID5,
            xres: 640,
            yres: 480,
            bpp: 8,
            enable: 0,
            bank: 0,
            virt_width: 640,
            virt_height: 480,
            x_offset: 0,
            y_offset: 0,
            endian: ENDIAN_LITTLE,
        }
    }

    pub fn enabled(&self) -> bool {
        self.enable & VBE_DISPI_ENABLED != 0
    }

    pub fn lfb(&self) -> bool {
        self.enable & VBE_DISPI_LFB_ENABLED != 0
    }

    pub fn dac_8bit(&self) -> bool {
        self.enable & VBE_DISPI_8BIT_DAC != 0
    }

    /// Bytes per pixel (15 bpp takes two).
    pub fn bytes_pp(&self) -> u32 {
        u32::from(self.bpp).div_ceil(8).max(1)
    }

    /// Bytes from one line of the virtual screen to the next.
    pub fn line_offset(&self) -> u32 {
        if self.bpp == 4 {
            u32::from(self.virt_width) / 2
        } else {
            u32::from(self.virt_width) * self.bytes_pp()
        }
    }

    /// The VRAM offset of the displayed picture's top-left pixel.
    pub fn start(&self) -> u32 {
        let x = if self.bpp == 4 { u32::from(self.x_offset) / 2 } else { u32::from(self.x_offset) * self.bytes_pp() };
        u32::from(self.y_offset) * self.line_offset() + x
    }

    /// The 64 KiB bank shown in the A0000 window, as a VRAM offset.
    pub fn bank_offset(&self) -> u32 {
        u32::from(self.bank) << 16
    }

    pub fn read_reg(&self, index: u16) -> u16 {
        let caps = self.enable & VBE_DISPI_GETCAPS != 0;
        match index {
            VBE_DISPI_INDEX_ID => self.id,
            VBE_DISPI_INDEX_XRES if caps => VBE_DISPI_MAX_XRES,
            VBE_DISPI_INDEX_YRES if caps => VBE_DISPI_MAX_YRES,
            VBE_DISPI_INDEX_BPP if caps => VBE_DISPI_MAX_BPP,
            VBE_DISPI_INDEX_XRES => self.xres,
            VBE_DISPI_INDEX_YRES => self.yres,
            VBE_DISPI_INDEX_BPP => self.bpp,
            VBE_DISPI_INDEX_ENABLE => self.enable,
            VBE_DISPI_INDEX_BANK => self.bank,
            VBE_DISPI_INDEX_VIRT_WIDTH => self.virt_width,
            VBE_DISPI_INDEX_VIRT_HEIGHT => self.virt_height,
            VBE_DISPI_INDEX_X_OFFSET => self.x_offset,
            VBE_DISPI_INDEX_Y_OFFSET => self.y_offset,
            VBE_DISPI_INDEX_VIDEO_MEMORY_64K => (VRAM >> 16) as u16,
            _ => 0,
        }
    }

    /// Writes a register. Resolution and depth change only while the mode
    /// is disabled (as in Bochs and QEMU); `vram` is cleared when the mode
    /// is enabled without NOCLEARMEM.
    pub fn write_reg(&mut self, index: u16, value: u16, vram: &mut [u8], cache: &mut render::Cache) {
        let off = !self.enabled();
        match index {
            VBE_DISPI_INDEX_ID if (VBE_DISPI_ID0..=VBE_DISPI_ID5).contains(&value) => self.id = value,
            VBE_DISPI_INDEX_XRES if off && value <= VBE_DISPI_MAX_XRES && value.is_multiple_of(8) => self.xres = value,
            VBE_DISPI_INDEX_YRES if off && value <= VBE_DISPI_MAX_YRES => self.yres = value,
            VBE_DISPI_INDEX_BPP if off && matches!(value, 0 | 4 | 8 | 15 | 16 | 24 | 32) => {
                self.bpp = if value == 0 { 8 } else { value };
            }
            // Banks past the end of VRAM are refused.
            VBE_DISPI_INDEX_BANK if u32::from(value) < VRAM >> 16 => self.bank = value,
            VBE_DISPI_INDEX_ENABLE => self.write_enable(value, vram),
            VBE_DISPI_INDEX_VIRT_WIDTH if off || value >= self.xres => {
                self.virt_width = value;
                self.update_virt_height();
            }
            VBE_DISPI_INDEX_X_OFFSET => self.x_offset = value,
            VBE_DISPI_INDEX_Y_OFFSET => self.y_offset = value,
            _ => {}
        }
        cache.full_redraw();
    }

    fn write_enable(&mut self, value: u16, vram: &mut [u8]) {
        let was = self.enabled();
        self.enable =
            value & (VBE_DISPI_ENABLED | VBE_DISPI_GETCAPS | VBE_DISPI_8BIT_DAC | VBE_DISPI_LFB_ENABLED | VBE_DISPI_NOCLEARMEM);
        if self.enabled() && !was {
            self.virt_width = self.xres;
            self.x_offset = 0;
            self.y_offset = 0;
            self.bank = 0;
            self.update_virt_height();
            if value & VBE_DISPI_NOCLEARMEM == 0 {
                let n = self.line_offset() as usize * usize::from(self.yres);
                let n = n.min(vram.len());
                vram[..n].fill(0);
            }
        }
    }

    fn update_virt_height(&mut self) {
        let line = self.line_offset().max(1);
        self.virt_height = (VRAM / line).min(u32::from(u16::MAX)) as u16;
    }
}

impl Vga {
    /// A 16-bit access to the DISPI index (0x1CE) or data (0x1CF, 0x1D0)
    /// port.
    pub fn dispi_read(&mut self, port: u16) -> u16 {
        if port == 0x1CE {
            self.vbe.index
        } else {
            self.vbe.read_reg(self.vbe.index)
        }
    }

    pub fn dispi_write(&mut self, port: u16, value: u16, vram: &mut [u8]) {
        if port == 0x1CE {
            self.vbe.index = value;
        } else {
            let was = self.vbe.enabled();
            self.vbe.write_reg(self.vbe.index, value, vram, &mut self.cache);
            self.after_vbe_write(was);
        }
    }

    /// Enabling a DISPI mode also maps the A0000 window as 64 KiB of
    /// graphics memory, as in QEMU, so that banked access reaches VRAM.
    pub(super) fn after_vbe_write(&mut self, was_enabled: bool) {
        if self.vbe.enabled() && !was_enabled {
            self.gc[GR_MISC] = (self.gc[GR_MISC] & !0x0C) | 0x05;
        }
    }
}
