//! What the monitor shows: the CRT controller's timings (retrace and the
//! frame period), the scan of display memory line by line (start address,
//! offset, maximum scan line and double scan, line compare, byte/word/
//! doubleword address modes with the CGA row interleave of CR17, preset row
//! scan and horizontal panning), the attribute controller's palette and the
//! DAC (IBM VGA Technical Reference, "CRT Controller Registers" and
//! "Attribute Controller Registers"; FreeVGA "CRTC Registers").
//!
//! Frames are drawn at the picture's own resolution: a text mode at its
//! dot resolution (720x400 for mode 03h; 40-column modes with their dots
//! doubled), a graphics mode at its pixel resolution with doubled scan
//! lines and doubled dots folded back (mode 13h is 320x200, mode 12h
//! 640x480, mode X 320x240), and a VBE mode at XRES x YRES.
//!
//! A VGA address `ma` from the CRTC becomes a real plane address by the
//! address mode (byte: `ma`; word: `ma << 1` with bit 13 or 15 in bit 0;
//! doubleword: `ma << 2`); CR17 bits 0/1 replace bits 13/14 by the row scan
//! counter (CGA/Hercules interleave); then the compaction of this model's
//! VRAM layout (odd/even and chain-4 host writes are stored at `o >> 1` and
//! `o >> 2`) shifts the address back by the same amount.

use std::sync::OnceLock;

use crate::display::Frame;

use super::regs::*;
use super::{Vga, DIRTY_PAGE};

const PAGES: usize = Vga::VRAM_SIZE / DIRTY_PAGE;
const DOT_CLOCK_25: u64 = 25_175_000;
const DOT_CLOCK_28: u64 = 28_322_000;
/// The largest picture drawn (CR01/CR12 can ask for up to 4608x2048).
const MAX_WIDTH: u32 = 4096;
const MAX_HEIGHT: u32 = 2048;

/// Render bookkeeping: which 4 KiB VRAM pages changed since the last
/// frame, whether everything must be redrawn, the blink phases drawn last.
/// Host-side only: equal to any other cache, not serialised (a restored
/// VGA redraws everything).
#[derive(Clone, Debug, Default)]
pub struct Cache {
    /// One bit per VRAM page; empty means everything is dirty.
    dirty: Vec<u64>,
    full: bool,
    blink: Option<(bool, bool)>,
    scratch: Vec<u32>,
    dots: Vec<u32>,
}

impl PartialEq for Cache {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}
impl Eq for Cache {}

impl Cache {
    pub fn full_redraw(&mut self) {
        self.full = true;
    }

    pub fn mark(&mut self, offset: usize, len: usize) {
        if self.dirty.is_empty() || len == 0 {
            return;
        }
        let first = offset / DIRTY_PAGE;
        let last = (offset.saturating_add(len - 1) / DIRTY_PAGE).min(PAGES - 1);
        for page in first..=last {
            self.dirty[page / 64] |= 1 << (page % 64);
        }
    }

    fn any_dirty(&self) -> bool {
        self.full || self.dirty.is_empty() || self.dirty.iter().any(|&w| w != 0)
    }

    fn range_dirty(&self, offset: usize, len: usize) -> bool {
        if self.full || self.dirty.is_empty() {
            return true;
        }
        if len == 0 {
            return false;
        }
        let first = offset / DIRTY_PAGE;
        let last = offset.saturating_add(len - 1) / DIRTY_PAGE;
        (first..=last).any(|p| p >= PAGES || self.dirty[p / 64] & (1 << (p % 64)) != 0)
    }

    fn clean(&mut self) {
        self.full = false;
        self.dirty.clear();
        self.dirty.resize(PAGES / 64, 0);
    }
}

/// The beam's timings in the current mode.
#[derive(Clone, Copy, Debug)]
pub struct Timings {
    pub frame_ns: u64,
    /// Lines per frame, and the first line after the displayed ones.
    pub v_total: u64,
    pub v_display: u64,
    pub v_retrace_start: u64,
    pub v_retrace_end: u64,
    /// Character clocks per line, and the first after the displayed ones.
    pub h_total: u64,
    pub h_display: u64,
}

/// How the picture is made.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Kind {
    Blank,
    Text,
    /// 16 colours from four planes, 8 pixels a character clock.
    Planar,
    /// CGA 4 colours: 2-bit pixels from the even and odd bytes.
    Cga,
    /// 256 colours, 4 pixels a character clock.
    Pal256,
    Vbe,
}

#[derive(Clone, Copy, Debug)]
pub(super) struct Geometry {
    kind: Kind,
    width: u32,
    height: u32,
    /// Character clocks (text columns) per line.
    chars: u32,
    /// Dots per text cell (8 or 9) and whether each dot shows twice.
    cell: u32,
    wide: bool,
    /// Displayed scan lines per frame row.
    per_row: u32,
}

impl Vga {
    fn cr(&self, i: usize) -> u32 {
        u32::from(self.crtc[i])
    }

    /// Vertical display end, vertical total and vertical retrace start with
    /// their overflow bits in CR07 (bits 1/6, 0/5 and 2/7): display end + 1,
    /// total + 2, retrace start.
    fn v_regs(&self) -> (u32, u32, u32) {
        let ov = self.cr(CR_OVERFLOW);
        let vde = self.cr(CR_V_DISP_END) | ((ov >> 1) & 1) << 8 | ((ov >> 6) & 1) << 9;
        let vt = self.cr(CR_V_TOTAL) | (ov & 1) << 8 | ((ov >> 5) & 1) << 9;
        let vrs = self.cr(CR_V_RETRACE_START) | ((ov >> 2) & 1) << 8 | ((ov >> 7) & 1) << 9;
        (vde + 1, vt + 2, vrs)
    }

    fn line_compare(&self) -> u32 {
        self.cr(CR_LINE_COMPARE) | ((self.cr(CR_OVERFLOW) >> 4) & 1) << 8 | ((self.cr(CR_MAX_SCAN) >> 6) & 1) << 9
    }

    pub(super) fn timings(&self) -> Timings {
        if self.vbe.enabled() {
            // DISPI has no CRTC: a 60 Hz frame with a short blank after the
            // picture.
            let v_display = u64::from(self.vbe.yres.max(1));
            let v_total = v_display + v_display / 20 + 3;
            let h_display = u64::from(self.vbe.xres.max(8)) / 8;
            return Timings {
                frame_ns: 1_000_000_000 / 60,
                v_total,
                v_display,
                v_retrace_start: v_display + 1,
                v_retrace_end: v_display + 3,
                h_total: h_display + h_display / 5 + 1,
                h_display,
            };
        }
        let (vde, vt, vrs) = self.v_regs();
        let ht = self.cr(CR_H_TOTAL) + 5;
        if vt < 16 || ht < 8 {
            // Not programmed yet (power-on): mode 03h's 70 Hz frame.
            return Timings {
                frame_ns: 14_268_000,
                v_total: 449,
                v_display: 400,
                v_retrace_start: 412,
                v_retrace_end: 414,
                h_total: 100,
                h_display: 80,
            };
        }
        let vre_low = self.cr(CR_V_RETRACE_END) & 0xF;
        let mut width = (vre_low.wrapping_sub(vrs) & 0xF) as u64;
        if width == 0 {
            width = 16;
        }
        let clocking = self.seq[SR_CLOCKING];
        let dots = if clocking & 1 != 0 { 8 } else { 9 } * if clocking & 0x08 != 0 { 2 } else { 1 };
        let clock = if (self.misc >> 2) & 3 == 1 { DOT_CLOCK_28 } else { DOT_CLOCK_25 };
        let frame_ns = (u128::from(vt) * u128::from(ht) * dots * 1_000_000_000 / u128::from(clock)) as u64;
        Timings {
            frame_ns: frame_ns.max(1),
            v_total: u64::from(vt),
            v_display: u64::from(vde),
            v_retrace_start: u64::from(vrs),
            v_retrace_end: u64::from(vrs) + width,
            h_total: u64::from(ht),
            h_display: u64::from(self.cr(CR_H_DISP_END) + 1),
        }
    }

    pub(super) fn geometry(&self) -> Geometry {
        if self.vbe.enabled() {
            let (w, h) = (u32::from(self.vbe.xres).max(1), u32::from(self.vbe.yres).max(1));
            return Geometry { kind: Kind::Vbe, width: w, height: h, chars: 0, cell: 8, wide: false, per_row: 1 };
        }
        let (vde, _, _) = self.v_regs();
        let chars = self.cr(CR_H_DISP_END) + 1;
        let clocking = self.seq[SR_CLOCKING];
        let double_scan = self.cr(CR_MAX_SCAN) & 0x80 != 0;
        let max_scan = self.cr(CR_MAX_SCAN) & 0x1F;
        let mut per_row = if double_scan { 2 } else { 1 };
        let graphics = self.gc[GR_MISC] & 1 != 0;
        let mode = self.gc[GR_MODE];
        let (kind, width, cell, wide) = if !graphics {
            let cell = if clocking & 1 != 0 { 8 } else { 9 };
            let wide = clocking & 0x08 != 0;
            (Kind::Text, chars * cell * if wide { 2 } else { 1 }, cell, wide)
        } else {
            // Graphics: rows repeated by the maximum scan line fold back
            // into one, unless CR17 feeds the row counter into the address.
            if self.cr(CR_MODE) & 3 == 3 {
                per_row *= max_scan + 1;
            }
            if mode & 0x40 != 0 {
                (Kind::Pal256, chars * 4, 8, false)
            } else if mode & 0x20 != 0 {
                (Kind::Cga, chars * 8, 8, false)
            } else {
                (Kind::Planar, chars * 8, 8, false)
            }
        };
        let height = vde / per_row;
        let blank = self.ar_index & AR_PAS == 0 || clocking & 0x20 != 0;
        let (mut width, mut height) = (width.min(MAX_WIDTH), height.min(MAX_HEIGHT));
        // A CRTC not (yet) programmed for a picture: a black 640x480.
        let degenerate = width < 16 || height < 16;
        if degenerate {
            (width, height) = (640, 480);
        }
        let kind = if blank || degenerate { Kind::Blank } else { kind };
        Geometry { kind, width, height, chars, cell, wide, per_row }
    }

    /// A colour through the PEL mask and the DAC.
    fn dac(&self, index: u8) -> u32 {
        let i = usize::from(index & self.pel_mask) * 3;
        let c = |v: u8| -> u32 {
            if self.vbe.dac_8bit() {
                u32::from(v)
            } else {
                let v = u32::from(v & 0x3F);
                (v << 2) | (v >> 4)
            }
        };
        c(self.palette[i]) << 16 | c(self.palette[i + 1]) << 8 | c(self.palette[i + 2])
    }

    /// A 4-bit attribute colour through the attribute controller's palette
    /// and colour select, then the DAC.
    fn attr_color(&self, c: u8) -> u32 {
        let p = self.ar[usize::from(c & 0xF)];
        let select = self.ar[AR_COLOR_SELECT];
        let low = if self.ar[AR_MODE] & 0x80 != 0 { (p & 0x0F) | (select & 3) << 4 } else { p & 0x3F };
        self.dac(low | (select & 0x0C) << 4)
    }

    /// The plane address (VRAM byte / 4) the CRTC reads for address `ma`
    /// on row scan `rsc`; see the module documentation.
    fn crtc_address(&self, ma: u32, rsc: u32) -> usize {
        let mode = self.cr(CR_MODE);
        let (shift, mut real) = if self.cr(CR_UNDERLINE) & 0x40 != 0 {
            (2, ma << 2)
        } else if mode & 0x40 == 0 {
            let wrap_bit = if mode & 0x20 != 0 { 15 } else { 13 };
            (1, ma << 1 | ((ma >> wrap_bit) & 1))
        } else {
            (0, ma)
        };
        if mode & 1 == 0 {
            real = (real & !(1 << 13)) | (rsc & 1) << 13;
        }
        if mode & 2 == 0 {
            real = (real & !(1 << 14)) | ((rsc >> 1) & 1) << 14;
        }
        ((real >> shift) & 0xFFFF) as usize
    }

    /// For each frame row: the CRTC address at its start, its row scan
    /// counter, and whether it is below the line compare split.
    fn scan_rows(&self, g: &Geometry) -> Vec<(u32, u32, bool)> {
        let (vde, _, _) = self.v_regs();
        let double_scan = self.cr(CR_MAX_SCAN) & 0x80 != 0;
        let max_scan = self.cr(CR_MAX_SCAN) & 0x1F;
        let step = 2 * self.cr(CR_OFFSET);
        let split_line = self.line_compare();
        let mut ma = self.cr(CR_START_HI) << 8 | self.cr(CR_START_LO);
        let mut rsc = if g.kind == Kind::Text { (self.cr(CR_PRESET_ROW) & 0x1F).min(max_scan) } else { 0 };
        let mut split = false;
        let mut rows = Vec::with_capacity(g.height as usize);
        for line in 0..vde {
            if line == split_line {
                ma = 0;
                rsc = 0;
                split = true;
            }
            if line % g.per_row == 0 && rows.len() < g.height as usize {
                rows.push((ma, rsc, split));
            }
            if !double_scan || line & 1 == 1 {
                if rsc >= max_scan {
                    rsc = 0;
                    ma = (ma + step) & 0xFFFF;
                } else {
                    rsc += 1;
                }
            }
        }
        rows
    }

    /// Brings `frame` up to date with the picture at `now_ns`; resizes it
    /// on a mode change. Returns whether any pixel changed.
    pub fn render(&mut self, vram: &[u8], frame: &mut Frame, now_ns: u64) -> bool {
        let g = self.geometry();
        let mut cache = std::mem::take(&mut self.cache);
        let mut changed = false;
        if (frame.width, frame.height) != (g.width, g.height) {
            frame.resize(g.width, g.height);
            cache.full = true;
            changed = true;
        }
        let mut line = std::mem::take(&mut cache.scratch);
        line.clear();
        line.resize(g.width as usize, 0);
        let mut lr = LineRenderer {
            vram,
            pal16: std::array::from_fn(|c| self.attr_color(c as u8)),
            pal256: std::array::from_fn(|c| self.dac(c as u8)),
            dots: std::mem::take(&mut cache.dots),
        };
        match g.kind {
            Kind::Blank => {
                if cache.full {
                    changed |= frame.pixels.iter().any(|&p| p != 0);
                    frame.pixels.fill(0);
                }
            }
            Kind::Text => {
                let frames = now_ns / self.frame_period_ns().max(1);
                let blink = ((frames / 8).is_multiple_of(2), (frames / 16).is_multiple_of(2));
                // Only the cursor blinked: redraw the rows that hold it.
                let cursor_only = !cache.any_dirty() && cache.blink.is_some_and(|b| b.1 == blink.1);
                let cursor = self.cr(CR_CURSOR_HI) << 8 | self.cr(CR_CURSOR_LO);
                if cache.any_dirty() || cache.blink != Some(blink) {
                    let rows = self.scan_rows(&g);
                    for (y, &(ma, rsc, split)) in rows.iter().enumerate() {
                        if cursor_only && (cursor.wrapping_sub(ma) & 0xFFFF) > g.chars {
                            continue;
                        }
                        self.text_line(&mut lr, &g, (ma, rsc, split), blink, &mut line);
                        changed |= put_row(frame, y, &line);
                    }
                }
                cache.blink = Some(blink);
            }
            Kind::Planar | Kind::Cga | Kind::Pal256 => {
                let rows = self.scan_rows(&g);
                for (y, &(ma, rsc, split)) in rows.iter().enumerate() {
                    let pa = self.crtc_address(ma, rsc);
                    let len = (g.chars as usize + 1) * 4;
                    let wraps = pa * 4 + len > 0x40000;
                    if wraps || cache.range_dirty(pa * 4, len) {
                        self.graphics_line(&mut lr, &g, (ma, rsc, split), &mut line);
                        changed |= put_row(frame, y, &line);
                    }
                }
            }
            Kind::Vbe => {
                let bpl = self.vbe.line_offset() as usize;
                let start = self.vbe.start() as usize;
                let len = if self.vbe.bpp == 4 { g.width as usize / 2 } else { g.width as usize * self.vbe.bytes_pp() as usize };
                for y in 0..g.height as usize {
                    let off = start + y * bpl;
                    if cache.range_dirty(off, len) {
                        self.vbe_line(&lr, off, &mut line);
                        changed |= put_row(frame, y, &line);
                    }
                }
            }
        }
        cache.scratch = line;
        cache.dots = lr.dots;
        cache.clean();
        self.cache = cache;
        changed
    }

    /// One scan line of a text mode.
    fn text_line(&self, lr: &mut LineRenderer, g: &Geometry, at: (u32, u32, bool), blink: (bool, bool), out: &mut [u32]) {
        let (ma, rsc, split) = at;
        let mode = self.ar[AR_MODE];
        let cell = g.cell as usize;
        let char_map = self.seq[SR_CHAR_MAP];
        let map_a = font_base((char_map >> 5) & 1 | (char_map >> 1) & 6);
        let map_b = font_base((char_map >> 4) & 1 | (char_map << 1) & 6);
        let cursor = self.cr(CR_CURSOR_HI) << 8 | self.cr(CR_CURSOR_LO);
        let cs = self.cr(CR_CURSOR_START);
        let ce = self.cr(CR_CURSOR_END) & 0x1F;
        let cursor_on = cs & 0x20 == 0 && blink.0 && (cs & 0x1F..=ce).contains(&rsc);
        let pan = self.pan(split, cell as u32) as usize;
        let underline_row = self.cr(CR_UNDERLINE) & 0x1F;
        let dots = &mut lr.dots;
        dots.clear();
        for col in 0..=g.chars {
            let addr = ma.wrapping_add(col) & 0xFFFF;
            let pa = self.crtc_address(addr, rsc) * 4;
            let (ch, attr) = (byte(lr.vram, pa), byte(lr.vram, pa + 1));
            let base = if attr & 0x08 != 0 { map_a } else { map_b };
            let glyph = byte(lr.vram, (base + usize::from(ch) * 32 + rsc as usize) * 4 + 2);
            let mut fg = attr & 0x0F;
            let mut bg = attr >> 4;
            if mode & 0x08 != 0 {
                bg &= 7;
                if attr & 0x80 != 0 && !blink.1 {
                    fg = bg;
                }
            }
            // Nine bits, the glyph in bits 8-1; the ninth dot repeats the
            // eighth for line-graphics characters.
            // Attributes x000x001 are underlined on the scan line CR14 names
            // (0x1F in the colour modes, below the cell: no underline).
            let underline = attr & 0x77 == 0x01 && rsc == underline_row;
            let mut bits = if underline || cursor_on && addr == cursor { 0x1FF } else { u32::from(glyph) << 1 };
            if mode & 0x04 != 0 && (0xC0..=0xDF).contains(&ch) {
                bits |= (bits >> 1) & 1;
            }
            let (fg, bg) = (lr.pal16[usize::from(fg)], lr.pal16[usize::from(bg)]);
            for x in 0..cell {
                dots.push(if bits & (0x100 >> x) != 0 { fg } else { bg });
            }
        }
        if g.wide {
            for (x, px) in out.iter_mut().enumerate() {
                *px = dots.get(x / 2 + pan).copied().unwrap_or(0);
            }
        } else {
            copy_from(out, dots, pan);
        }
    }

    /// The horizontal pixel panning of a line in dots (reset below the
    /// split when AR10 bit 5 asks).
    fn pan(&self, split: bool, cell: u32) -> u32 {
        if split && self.ar[AR_MODE] & 0x20 != 0 {
            return 0;
        }
        let p = u32::from(self.ar[AR_PANNING] & 0x0F);
        if cell == 9 {
            if p >= 8 {
                0
            } else {
                p + 1
            }
        } else {
            p & 7
        }
    }

    /// One scan line of a planar, CGA or 256-colour graphics mode.
    fn graphics_line(&self, lr: &mut LineRenderer, g: &Geometry, at: (u32, u32, bool), out: &mut [u32]) {
        let (ma, rsc, split) = at;
        let plane_enable = self.ar[AR_PLANE_ENABLE] & 0x0F;
        let dots = &mut lr.dots;
        dots.clear();
        for col in 0..=g.chars {
            let pa = self.crtc_address(ma.wrapping_add(col), rsc) * 4;
            let b = [byte(lr.vram, pa), byte(lr.vram, pa + 1), byte(lr.vram, pa + 2), byte(lr.vram, pa + 3)];
            match g.kind {
                Kind::Pal256 => dots.extend(b.iter().map(|&v| lr.pal256[usize::from(v)])),
                Kind::Cga => {
                    for i in 0..8 {
                        let (lo, hi) = if i < 4 { (b[0], b[2]) } else { (b[1], b[3]) };
                        let s = 6 - 2 * (i % 4);
                        let c = (lo >> s) & 3 | ((hi >> s) & 3) << 2;
                        dots.push(lr.pal16[usize::from(c & plane_enable)]);
                    }
                }
                _ => {
                    for i in 0..8 {
                        let c = (b[0] >> (7 - i)) & 1
                            | ((b[1] >> (7 - i)) & 1) << 1
                            | ((b[2] >> (7 - i)) & 1) << 2
                            | ((b[3] >> (7 - i)) & 1) << 3;
                        dots.push(lr.pal16[usize::from(c & plane_enable)]);
                    }
                }
            }
        }
        let pan = self.pan(split, 8) as usize;
        let pan = if g.kind == Kind::Pal256 { pan / 2 } else { pan };
        copy_from(out, dots, pan);
    }

    /// One line of a VBE mode starting at VRAM byte `off`.
    fn vbe_line(&self, lr: &LineRenderer, off: usize, out: &mut [u32]) {
        let bytes = self.vbe.bytes_pp() as usize;
        let len = out.len() * bytes;
        let row = lr.vram.get(off..off.saturating_add(len));
        let be = self.vbe.big_endian();
        let word = |c: &[u8]| u32::from(if be { u16::from_be_bytes([c[0], c[1]]) } else { u16::from_le_bytes([c[0], c[1]]) });
        match (self.vbe.bpp, row) {
            (8, Some(row)) => {
                for (px, &c) in out.iter_mut().zip(row) {
                    *px = lr.pal256[usize::from(c)];
                }
            }
            (15, Some(row)) => {
                for (px, c) in out.iter_mut().zip(row.chunks_exact(2)) {
                    let v = word(c);
                    *px = expand5(v >> 10) << 16 | expand5(v >> 5) << 8 | expand5(v);
                }
            }
            (16, Some(row)) => {
                for (px, c) in out.iter_mut().zip(row.chunks_exact(2)) {
                    let v = word(c);
                    *px = expand5(v >> 11) << 16 | expand6(v >> 5) << 8 | expand5(v);
                }
            }
            (24, Some(row)) if be => {
                for (px, c) in out.iter_mut().zip(row.chunks_exact(3)) {
                    *px = u32::from_be_bytes([0, c[0], c[1], c[2]]);
                }
            }
            (24, Some(row)) => {
                for (px, c) in out.iter_mut().zip(row.chunks_exact(3)) {
                    *px = u32::from_le_bytes([c[0], c[1], c[2], 0]);
                }
            }
            (32, Some(row)) if be => {
                for (px, c) in out.iter_mut().zip(row.chunks_exact(4)) {
                    *px = u32::from_be_bytes([0, c[1], c[2], c[3]]);
                }
            }
            (32, Some(row)) => {
                for (px, c) in out.iter_mut().zip(row.chunks_exact(4)) {
                    *px = u32::from_le_bytes([c[0], c[1], c[2], 0]);
                }
            }
            (4, _) => {
                // VGA planes, 8 pixels per plane address.
                let plane_enable = self.ar[AR_PLANE_ENABLE];
                for (x, px) in out.iter_mut().enumerate() {
                    let pa = (off / 4 + x / 8) * 4;
                    let c = (0..4).fold(0u8, |c, p| c | ((byte(lr.vram, pa + p) >> (7 - x % 8)) & 1) << p);
                    *px = lr.pal16[usize::from(c & plane_enable)];
                }
            }
            // A line reaching past VRAM (a guest's offsets) shows black.
            _ => out.fill(0),
        }
    }

    /// The characters of a text screen, a line per row with trailing
    /// spaces trimmed (code page 437 mapped to Unicode), or None in a
    /// graphics mode.
    pub fn text_dump(&self, vram: &[u8]) -> Option<String> {
        let g = self.geometry();
        if self.vbe.enabled() || self.gc[GR_MISC] & 1 != 0 {
            return None;
        }
        let (vde, _, _) = self.v_regs();
        let double = if self.cr(CR_MAX_SCAN) & 0x80 != 0 { 2 } else { 1 };
        let rows = vde / ((self.cr(CR_MAX_SCAN) & 0x1F) + 1) / double;
        let start = self.cr(CR_START_HI) << 8 | self.cr(CR_START_LO);
        let step = 2 * self.cr(CR_OFFSET);
        let mut text = String::new();
        for row in 0..rows.min(MAX_HEIGHT) {
            let ma = start.wrapping_add(row * step);
            let line: String =
                (0..g.chars).map(|c| cp437(byte(vram, self.crtc_address(ma.wrapping_add(c) & 0xFFFF, 0) * 4))).collect();
            text.push_str(line.trim_end());
            text.push('\n');
        }
        Some(text)
    }
}

/// Plane 2 offset of character map `n` (0-7): 16 KiB apart, maps 4-7 in
/// the second 8 KiB of each.
fn font_base(n: u8) -> usize {
    usize::from(n & 3) * 0x4000 + usize::from(n >> 2) * 0x2000
}

fn byte(vram: &[u8], i: usize) -> u8 {
    vram.get(i).copied().unwrap_or(0)
}

fn expand5(v: u32) -> u32 {
    let v = v & 0x1F;
    (v << 3) | (v >> 2)
}

fn expand6(v: u32) -> u32 {
    let v = v & 0x3F;
    (v << 2) | (v >> 4)
}

/// The palettes of one frame and a line buffer, shared by the line
/// renderers.
struct LineRenderer<'a> {
    vram: &'a [u8],
    /// The 16 attribute colours through the palette registers and the DAC.
    pal16: [u32; 16],
    /// The 256 DAC colours (through the PEL mask).
    pal256: [u32; 256],
    /// One line of dots before panning and clipping.
    dots: Vec<u32>,
}

/// Fills `out` from `src` starting at `skip`, black past its end.
fn copy_from(out: &mut [u32], src: &[u32], skip: usize) {
    let avail = src.get(skip..).unwrap_or(&[]);
    let n = avail.len().min(out.len());
    out[..n].copy_from_slice(&avail[..n]);
    out[n..].fill(0);
}

/// Copies `line` into row `y` of `frame`; returns whether it differed.
fn put_row(frame: &mut Frame, y: usize, line: &[u32]) -> bool {
    if y >= frame.height as usize {
        return false;
    }
    let row = frame.row_mut(y as u32);
    if row == line {
        return false;
    }
    row.copy_from_slice(line);
    true
}

/// Code page 437 as Unicode: the glyphs the VGA's ROM font draws.
pub(super) const CP437_LOW: &str = " ☺☻♥♦♣♠•◘○◙♂♀♪♫☼►◄↕‼¶§▬↨↑↓→←∟↔▲▼";
pub(super) const CP437_HIGH: &str = "ÇüéâäàåçêëèïîìÄÅÉæÆôöòûùÿÖÜ¢£¥₧ƒáíóúñÑªº¿⌐¬½¼¡«»░▒▓│┤╡╢╖╕╣║╗╝╜╛┐└┴┬├─┼╞╟╚╔╩╦╠═╬╧╨╤╥╙╘╒╓╫╪┘┌█▄▌▐▀αßΓπΣσµτΦΘΩδ∞φε∩≡±≥≤⌠⌡÷≈°∙·√ⁿ²■ ";

/// A character code as Unicode, from a table built once (walking the
/// strings above with `chars().nth()` for each character made the dump of
/// a large text screen cost ten times its render).
fn cp437(c: u8) -> char {
    static TABLE: OnceLock<[char; 256]> = OnceLock::new();
    TABLE.get_or_init(|| {
        let mut t = [' '; 256];
        for (slot, ch) in t.iter_mut().zip(CP437_LOW.chars()) {
            *slot = ch;
        }
        for (code, slot) in t.iter_mut().enumerate().take(0x7F).skip(0x20) {
            *slot = char::from(code as u8);
        }
        t[0x7F] = '⌂';
        for (slot, ch) in t[0x80..].iter_mut().zip(CP437_HIGH.chars()) {
            *slot = ch;
        }
        t
    })[usize::from(c)]
}
