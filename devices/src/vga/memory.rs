//! The 0xA0000-0xBFFFF window into the four planes (IBM VGA Technical
//! Reference, "Graphics Controller Registers"; FreeVGA "VGA Memory
//! Organization" and "Graphics Controller": read modes 0/1, write modes
//! 0-3, latches, set/reset, rotate, logical function, bit mask; sequencer
//! map mask, chain-4 and odd/even).
//!
//! Plane `p` of plane address `a` is VRAM byte `4 * a + p` (see the module
//! root). Host offset `o` in the window reaches:
//! - chain-4 (SR04 bit 3): plane `o & 3` at plane address `o >> 2`, i.e.
//!   VRAM byte `o` (plus the VBE bank);
//! - odd/even (writes: SR04 bit 2 clear; reads: GR05 bit 4 set): plane
//!   `o & 1` (writes: planes 0/2 or 1/3 as the map mask allows; reads: the
//!   pair chosen by GR04 bit 1) at plane address `o >> 1`;
//! - otherwise all four planes at plane address `o`.
//!
//! In a VBE DISPI mode the 64 KiB map is offset by the bank register
//! (QEMU adds it to the window offset before decoding); packed-pixel DISPI
//! modes see VRAM linearly, every plane enabled, bytes stored as written;
//! the 4 bpp (planar) DISPI modes SeaVGABIOS sets up on top of VGA mode
//! 6Ah keep the planar path, reaching 64 KiB of plane addresses per bank.

use super::regs::*;
use super::Vga;

/// Where a window offset lands: the plane address, the planes a write may
/// touch and the plane a mode-0 read returns.
struct Target {
    /// VRAM byte offset of plane 0 at this address (4 * plane address).
    base: usize,
    write_planes: u8,
    read_plane: u8,
}

impl Vga {
    /// The window offset (0..0x20000 from 0xA0000) inside the memory map the
    /// GC misc register selects, if it is mapped.
    fn map_offset(&self, offset: u32) -> Option<u32> {
        let (start, len) = match (self.gc[GR_MISC] >> 2) & 3 {
            0 => (0, 0x20000),
            1 => (0, 0x10000),
            2 => (0x10000, 0x8000),
            _ => (0x18000, 0x8000),
        };
        offset.checked_sub(start).filter(|&o| o < len)
    }

    fn chain4(&self) -> bool {
        self.seq[SR_MEMORY_MODE] & 0x08 != 0
    }

    /// The VBE packed-pixel view: linear VRAM, all planes, no pipeline.
    fn vbe_linear(&self) -> bool {
        self.vbe.enabled() && self.vbe.bpp != 4
    }

    fn target(&self, o: u32, write: bool) -> Target {
        let map_mask = self.seq[SR_MAP_MASK] & 0x0F;
        // Plane addresses wrap at 64 KiB, except where the VBE bank reaches
        // past it.
        let (o, wrap) =
            if self.vbe.enabled() { (o as usize + self.vbe.bank_offset() as usize, usize::MAX) } else { (o as usize, 0xFFFF) };
        if self.vbe_linear() {
            Target { base: o & !3, write_planes: 1 << (o & 3), read_plane: (o & 3) as u8 }
        } else if self.chain4() {
            let plane = (o & 3) as u8;
            Target { base: o & !3, write_planes: map_mask & (1 << plane), read_plane: plane }
        } else if (write && self.seq[SR_MEMORY_MODE] & 0x04 == 0) || (!write && self.gc[GR_MODE] & 0x10 != 0) {
            let odd = (o & 1) as u8;
            Target {
                base: ((o >> 1) & wrap).saturating_mul(4),
                write_planes: map_mask & if odd == 1 { 0b1010 } else { 0b0101 },
                read_plane: (self.gc[GR_READ_MAP] & 2) | odd,
            }
        } else {
            Target { base: (o & wrap).saturating_mul(4), write_planes: map_mask, read_plane: self.gc[GR_READ_MAP] & 3 }
        }
    }

    /// A CPU read of the window: loads the latches, then returns the byte
    /// of the selected plane (read mode 0) or the colour compare result
    /// (read mode 1). Unmapped offsets read 0xFF.
    pub fn window_read(&mut self, vram: &[u8], offset: u32) -> u8 {
        let Some(o) = self.map_offset(offset) else { return 0xFF };
        let t = self.target(o, false);
        let Some(bytes) = vram.get(t.base..t.base.saturating_add(4)) else { return 0xFF };
        self.latch = u32::from_le_bytes([bytes[0], bytes[1], bytes[2], bytes[3]]);
        if self.gc[GR_MODE] & 0x08 == 0 {
            return bytes[usize::from(t.read_plane)];
        }
        // Read mode 1: a 1 where every plane the don't-care register
        // includes matches the colour compare register.
        let mut diff = 0u8;
        for (p, &b) in bytes.iter().enumerate() {
            if self.gc[GR_COLOR_DONT_CARE] & (1 << p) != 0 {
                let want = if self.gc[GR_COLOR_COMPARE] & (1 << p) != 0 { 0xFF } else { 0 };
                diff |= b ^ want;
            }
        }
        !diff
    }

    /// A CPU write to the window, through the write mode, rotate, set/reset,
    /// logical function and bit mask into the planes the map mask (and
    /// chain-4/odd-even) enable.
    pub fn window_write(&mut self, vram: &mut [u8], offset: u32, value: u8) {
        let Some(o) = self.map_offset(offset) else { return };
        let t = self.target(o, true);
        if t.base.saturating_add(4) > vram.len() {
            return;
        }
        // DISPI modes store the byte as written (the graphics controller's
        // pipeline belongs to the VGA modes).
        let data = if self.vbe_linear() { u32::from(value) * 0x0101_0101 } else { self.write_data(value) };
        for p in 0..4 {
            if t.write_planes & (1 << p) != 0 {
                vram[t.base + p] = (data >> (8 * p)) as u8;
            }
        }
        self.cache.mark(t.base, 4);
    }

    /// The four plane bytes (plane 0 in bits 0-7) a write of `value`
    /// produces.
    fn write_data(&self, value: u8) -> u32 {
        let gc = &self.gc;
        let rotated = value.rotate_right(u32::from(gc[GR_DATA_ROTATE] & 7));
        let expand =
            |bits: u8| -> u32 { (0..4).fold(0, |acc, p| if bits & (1 << p) != 0 { acc | (0xFF << (8 * p)) } else { acc }) };
        let splat = |b: u8| u32::from(b) * 0x0101_0101;
        let mut mask = gc[GR_BIT_MASK];
        let data = match gc[GR_MODE] & 3 {
            0 => {
                let esr = expand(gc[GR_ENABLE_SET_RESET]);
                (splat(rotated) & !esr) | (expand(gc[GR_SET_RESET]) & esr)
            }
            // Write mode 1: the latches, unchanged by function or mask.
            1 => return self.latch,
            2 => expand(value),
            _ => {
                mask &= rotated;
                expand(gc[GR_SET_RESET])
            }
        };
        let data = match (gc[GR_DATA_ROTATE] >> 3) & 3 {
            0 => data,
            1 => data & self.latch,
            2 => data | self.latch,
            _ => data ^ self.latch,
        };
        let mask = splat(mask);
        (data & mask) | (self.latch & !mask)
    }
}
