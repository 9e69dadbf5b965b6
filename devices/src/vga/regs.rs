//! The VGA's I/O ports 0x3B0-0x3DF (IBM VGA Technical Reference, "Registers";
//! FreeVGA "VGA Input/Output Port Quick Reference"): index/data pairs for
//! the sequencer (0x3C4/5), CRT controller (0x3B4/5 or 0x3D4/5 by the misc
//! output's I/O address select), graphics controller (0x3CE/F), the
//! attribute controller's single port with its flip-flop (0x3C0, read data
//! at 0x3C1), the DAC (0x3C6-0x3C9), misc output, feature control and the
//! input status registers, and the MMIO block of QEMU's PCI stdvga
//! (`docs/specs/standard-vga.rst`).

use super::Vga;

pub const SEQ_COUNT: usize = 5;
pub const CRTC_COUNT: usize = 0x19;
pub const GC_COUNT: usize = 9;
pub const AR_COUNT: usize = 0x15;

/// Bits that exist in each register (the others read as 0), so that a
/// guest probing for a VGA by writing and reading back sees what a real one
/// returns.
const SEQ_MASK: [u8; SEQ_COUNT] = [0x03, 0x3D, 0x0F, 0x3F, 0x0E];
const GC_MASK: [u8; GC_COUNT] = [0x0F, 0x0F, 0x0F, 0x1F, 0x03, 0x7B, 0x0F, 0x0F, 0xFF];
const AR_MASK: [u8; AR_COUNT] = [
    0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0x3F, 0xEF, 0xFF, 0x0F, 0x0F, 0x0F,
];

// Register indexes named as in the manual.
pub const SR_CLOCKING: usize = 0x01;
pub const SR_MAP_MASK: usize = 0x02;
pub const SR_CHAR_MAP: usize = 0x03;
pub const SR_MEMORY_MODE: usize = 0x04;
pub const CR_H_TOTAL: usize = 0x00;
pub const CR_H_DISP_END: usize = 0x01;
pub const CR_V_TOTAL: usize = 0x06;
pub const CR_OVERFLOW: usize = 0x07;
pub const CR_PRESET_ROW: usize = 0x08;
pub const CR_MAX_SCAN: usize = 0x09;
pub const CR_CURSOR_START: usize = 0x0A;
pub const CR_CURSOR_END: usize = 0x0B;
pub const CR_START_HI: usize = 0x0C;
pub const CR_START_LO: usize = 0x0D;
pub const CR_CURSOR_HI: usize = 0x0E;
pub const CR_CURSOR_LO: usize = 0x0F;
pub const CR_V_RETRACE_START: usize = 0x10;
pub const CR_V_RETRACE_END: usize = 0x11;
pub const CR_V_DISP_END: usize = 0x12;
pub const CR_OFFSET: usize = 0x13;
pub const CR_UNDERLINE: usize = 0x14;
pub const CR_MODE: usize = 0x17;
pub const CR_LINE_COMPARE: usize = 0x18;
pub const GR_SET_RESET: usize = 0x00;
pub const GR_ENABLE_SET_RESET: usize = 0x01;
pub const GR_COLOR_COMPARE: usize = 0x02;
pub const GR_DATA_ROTATE: usize = 0x03;
pub const GR_READ_MAP: usize = 0x04;
pub const GR_MODE: usize = 0x05;
pub const GR_MISC: usize = 0x06;
pub const GR_COLOR_DONT_CARE: usize = 0x07;
pub const GR_BIT_MASK: usize = 0x08;
pub const AR_MODE: usize = 0x10;
pub const AR_PLANE_ENABLE: usize = 0x12;
pub const AR_PANNING: usize = 0x13;
pub const AR_COLOR_SELECT: usize = 0x14;

/// CR11 bit 7: CR0-CR7 are write-protected (except CR7 bit 4, line
/// compare bit 8).
const CR11_PROTECT: u8 = 0x80;
/// Misc output bit 0: CRTC and input status 1 at 0x3Dx (colour) rather
/// than 0x3Bx (mono).
const MISC_COLOR: u8 = 0x01;
/// Attribute index bit 5: palette address source.
pub const AR_PAS: u8 = 0x20;

impl Vga {
    /// A byte read of a legacy port 0x3B0-0x3DF. Ports the VGA does not
    /// decode (and the CRTC pair of the unselected emulation) read 0xFF.
    pub fn io_read(&mut self, port: u16, now_ns: u64) -> u8 {
        let color = self.misc & MISC_COLOR != 0;
        match port {
            0x3C0 => self.ar_index,
            0x3C1 => self.ar.get(usize::from(self.ar_index & 0x1F)).copied().unwrap_or(0),
            0x3C2 => 0x10, // input status 0: switch sense (a monitor is attached)
            0x3C4 => self.seq_index,
            0x3C5 => self.seq.get(usize::from(self.seq_index)).copied().unwrap_or(0),
            0x3C6 => self.pel_mask,
            0x3C7 => {
                if self.dac_reading {
                    0x03
                } else {
                    0x00
                }
            }
            0x3C8 => self.dac_write_index,
            0x3C9 => self.dac_read(),
            0x3CA => self.feature,
            0x3CC => self.misc,
            0x3CE => self.gc_index,
            0x3CF => self.gc.get(usize::from(self.gc_index)).copied().unwrap_or(0),
            0x3B4 | 0x3D4 if color == (port == 0x3D4) => self.crtc_index,
            0x3B5 | 0x3D5 if color == (port == 0x3D5) => self.crtc.get(usize::from(self.crtc_index)).copied().unwrap_or(0),
            0x3BA | 0x3DA if color == (port == 0x3DA) => {
                self.ar_flip = false;
                self.input_status_1(now_ns)
            }
            _ => 0xFF,
        }
    }

    /// A byte write of a legacy port 0x3B0-0x3DF.
    pub fn io_write(&mut self, port: u16, value: u8, _now_ns: u64) {
        let color = self.misc & MISC_COLOR != 0;
        match port {
            0x3C0 => self.ar_write(value),
            0x3C2 => {
                self.misc = value;
                self.cache.full_redraw();
            }
            0x3C4 => self.seq_index = value & 0x07,
            0x3C5 => {
                let i = usize::from(self.seq_index);
                if let (Some(r), Some(m)) = (self.seq.get_mut(i), SEQ_MASK.get(i)) {
                    *r = value & m;
                    self.cache.full_redraw();
                }
            }
            0x3C6 => {
                self.pel_mask = value;
                self.cache.full_redraw();
            }
            0x3C7 => {
                self.dac_read_index = value;
                self.dac_sub = 0;
                self.dac_reading = true;
            }
            0x3C8 => {
                self.dac_write_index = value;
                self.dac_sub = 0;
                self.dac_reading = false;
            }
            0x3C9 => self.dac_write(value),
            0x3CE => self.gc_index = value & 0x0F,
            0x3CF => {
                let i = usize::from(self.gc_index);
                if let (Some(r), Some(m)) = (self.gc.get_mut(i), GC_MASK.get(i)) {
                    *r = value & m;
                    self.cache.full_redraw();
                }
            }
            0x3B4 | 0x3D4 if color == (port == 0x3D4) => self.crtc_index = value & 0x3F,
            0x3B5 | 0x3D5 if color == (port == 0x3D5) => self.crtc_write(value),
            0x3BA | 0x3DA if color == (port == 0x3DA) => self.feature = value,
            _ => {}
        }
    }

    fn crtc_write(&mut self, value: u8) {
        let i = usize::from(self.crtc_index);
        if i >= CRTC_COUNT {
            return;
        }
        if self.crtc[CR_V_RETRACE_END] & CR11_PROTECT != 0 && i <= CR_OVERFLOW {
            if i == CR_OVERFLOW {
                // Line compare bit 8 stays writable.
                self.crtc[i] = (self.crtc[i] & !0x10) | (value & 0x10);
                self.cache.full_redraw();
            }
            return;
        }
        self.crtc[i] = value;
        self.cache.full_redraw();
    }

    fn ar_write(&mut self, value: u8) {
        if !self.ar_flip {
            self.ar_index = value & 0x3F;
        } else {
            let i = usize::from(self.ar_index & 0x1F);
            // The palette registers are read-only while the display owns
            // them (palette address source set).
            let locked = i < 0x10 && self.ar_index & AR_PAS != 0;
            if let (Some(r), Some(m), false) = (self.ar.get_mut(i), AR_MASK.get(i), locked) {
                *r = value & m;
            }
        }
        self.ar_flip = !self.ar_flip;
        self.cache.full_redraw();
    }

    fn dac_read(&mut self) -> u8 {
        let entry = usize::from(self.dac_read_index) * 3;
        let v = self.palette[entry + usize::from(self.dac_sub.min(2))];
        self.dac_sub += 1;
        if self.dac_sub >= 3 {
            self.dac_sub = 0;
            self.dac_read_index = self.dac_read_index.wrapping_add(1);
        }
        v
    }

    fn dac_write(&mut self, value: u8) {
        // 6 significant bits, or 8 with the VBE 8-bit DAC switch.
        let value = if self.vbe.dac_8bit() { value } else { value & 0x3F };
        self.dac_latch[usize::from(self.dac_sub.min(2))] = value;
        self.dac_sub += 1;
        if self.dac_sub >= 3 {
            let entry = usize::from(self.dac_write_index) * 3;
            self.palette[entry..entry + 3].copy_from_slice(&self.dac_latch);
            self.dac_sub = 0;
            self.dac_write_index = self.dac_write_index.wrapping_add(1);
            self.cache.full_redraw();
        }
    }

    /// Input status 1: bit 3 vertical retrace, bit 0 display disabled
    /// (horizontal or vertical blanking), from where the beam is at
    /// `now_ns` in the current mode's frame.
    fn input_status_1(&self, now_ns: u64) -> u8 {
        let t = self.timings();
        let pos = now_ns % t.frame_ns;
        let line = pos * t.v_total / t.frame_ns;
        let line_ns = (t.frame_ns / t.v_total).max(1);
        let in_line = (pos % line_ns) * t.h_total / line_ns;
        let mut v = 0;
        if line >= t.v_retrace_start && line < t.v_retrace_end {
            v |= 0x08;
        }
        if line >= t.v_display || in_line >= t.h_display {
            v |= 0x01;
        }
        v
    }

    /// The time between two vertical retraces in the current mode.
    pub fn frame_period_ns(&self) -> u64 {
        self.timings().frame_ns
    }

    /// QEMU stdvga's MMIO BAR (BAR2): 0x400-0x41F the ports 0x3C0-0x3DF,
    /// 0x500-0x515 the DISPI registers (index * 2), 0x600-0x607 the QEMU
    /// extended registers (region size, framebuffer endianness). The EDID
    /// block at 0-0x3FF is absent (reads 0: drivers fall back to their
    /// default modes).
    pub fn mmio_read(&mut self, offset: u32, size: u8, now_ns: u64) -> u32 {
        let size = u32::from(size.clamp(1, 4));
        let mut v = 0u32;
        for i in 0..size {
            let byte = match offset.wrapping_add(i) {
                o @ 0x400..=0x41F => u32::from(self.io_read(0x3C0 + (o - 0x400) as u16, now_ns)),
                o @ 0x500..=0x515 => {
                    let reg = self.vbe.read_reg(((o - 0x500) / 2) as u16);
                    u32::from(reg >> ((o & 1) * 8)) & 0xFF
                }
                o @ 0x600..=0x603 => (QEXT_SIZE >> ((o & 3) * 8)) & 0xFF,
                o @ 0x604..=0x607 => (self.vbe.endian >> ((o & 3) * 8)) & 0xFF,
                _ => 0,
            };
            v |= byte << (i * 8);
        }
        v
    }

    pub fn mmio_write(&mut self, offset: u32, size: u8, value: u32, vram: &mut [u8], now_ns: u64) {
        let size = u32::from(size.clamp(1, 4));
        // The DISPI registers are 16 bits wide: an aligned word (or the
        // halves of a dword) is one register write.
        if (0x500..=0x515).contains(&offset) && size >= 2 && offset & 1 == 0 {
            let mut o = offset;
            let mut v = value;
            while o < offset + size && o <= 0x515 {
                let was = self.vbe.enabled();
                self.vbe.write_reg(((o - 0x500) / 2) as u16, v as u16, vram, &mut self.cache);
                self.after_vbe_write(was);
                o += 2;
                v >>= 16;
            }
            return;
        }
        if (0x604..=0x607).contains(&offset) && size == 4 {
            self.vbe.endian = value;
            return;
        }
        for i in 0..size {
            let byte = (value >> (i * 8)) as u8;
            if let o @ 0x400..=0x41F = offset.wrapping_add(i) {
                self.io_write(0x3C0 + (o - 0x400) as u16, byte, now_ns);
            }
        }
    }
}

/// The size of QEMU's extended register region (0x600-0x607).
const QEXT_SIZE: u32 = 8;
