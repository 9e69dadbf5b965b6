//! The board side of the standard VGA (PCI 00:02.0, QEMU's `-vga std`):
//! where its windows sit in the physical map and who answers there, and
//! the screen refresh.
//!
//! * Ports 0x3B0-0x3DF (the VGA registers, byte-wide: a word access is
//!   two byte accesses, low port first, as the ISA bus splits them;
//!   SeaVGABIOS writes index/data pairs with `outw`) and 0x1CE/0x1CF/0x1D0
//!   (the Bochs VBE DISPI index and data registers, word-wide).
//! * 0xA0000-0xBFFFF: the legacy memory window, an MMIO range dispatched
//!   byte by byte to the VGA's plane logic (while the i440FX keeps SMRAM
//!   closed; an open SMRAM shows RAM there, [`PhysMem`]'s rule).
//! * BAR0: the 16 MiB video memory as device memory of the map, read and
//!   written by the CPU's TLB fast path at the address the BAR holds.
//! * BAR2: the 4 KiB MMIO register block.
//! * The expansion ROM BAR: the VGA BIOS image, mapped while enabled.
//!
//! Refresh: a board deadline every frame period of the VGA (at most 120
//! a second), on whichever clock runs the machine (so a virtual-clock run
//! renders at the same guest instants every time): the pages of video
//! memory the CPU dirtied go to the VGA, which redraws what changed into
//! the board's frame, and the result is published to the host's
//! [`crate::display::Screen`].

use crate::board::Board;
use ironpc_devices::display::Frame;
use ironpc_devices::pci::stdvga;
use ironpc_devices::vga::Vga;
use ironpc_mmu::{DeviceRamId, MapError, PhysMem, RomId, PAGE_SIZE};

/// The legacy VGA memory window.
pub const WINDOW_BASE: u64 = 0xA_0000;
pub const WINDOW_SIZE: u64 = 0x2_0000;
/// The VGA register ports.
pub(crate) const VGA_PORTS: std::ops::RangeInclusive<u16> = 0x3B0..=0x3DF;
/// The Bochs VBE DISPI ports: index, data, and the data port's alias.
const DISPI_PORTS: std::ops::RangeInclusive<u16> = 0x1CE..=0x1D0;

/// The shortest time between two screen refreshes: 120 Hz, about the
/// fastest vertical rate VGA monitors sync to. The CRTC can be programmed
/// for a frame of 16 lines of 8 character clocks (27 kHz); drawing at that
/// rate would spend the host's time rendering pictures nobody can see.
const MIN_REFRESH_NS: u64 = 1_000_000_000 / 120;

/// Where the VGA's memory windows are: host handles into the map and the
/// addresses they are mapped at now (a function of the PCI configuration,
/// recomputed after every configuration write), plus the refresh timing
/// and the frame the renderer draws into.
#[derive(Debug, Default)]
pub struct VgaWiring {
    vram: Option<DeviceRamId>,
    rom: Option<RomId>,
    lfb_at: Option<u64>,
    mmio_at: Option<u64>,
    rom_at: Option<u64>,
    /// The next screen refresh, in ns of the machine clock.
    next_refresh: u64,
    frame: Frame,
    /// The text of the last published picture, and whether it is current.
    text: Option<String>,
    text_valid: bool,
}

impl Board {
    /// Puts the VGA on the board: its video memory (not mapped until BAR0
    /// is decoded), the legacy window, and `bios` as its option ROM
    /// (None: no ROM, the BAR reads as present but maps nothing).
    pub fn attach_vga(&mut self, mem: &mut PhysMem, bios: Option<&[u8]>) -> Result<(), VgaAttachError> {
        let vram = mem.add_device_ram(Vga::VRAM_SIZE as u64).map_err(VgaAttachError::Vram)?;
        mem.add_mmio(WINDOW_BASE, WINDOW_SIZE)?;
        self.vga_wiring.vram = Some(vram);
        self.vga_wiring.rom = bios.map(|b| mem.add_rom_image(&b[..b.len().min(stdvga::ROM_SIZE as usize)]));
        self.vga_wiring.next_refresh = self.vga.frame_period_ns();
        self.sync_vga_map(mem);
        Ok(())
    }

    /// Maps the VGA's BAR windows where its configuration space says (after
    /// any configuration write). A window the guest placed over another
    /// range is left unmapped, with a warning, as an unclaimed address.
    pub(crate) fn sync_vga_map(&mut self, mem: &mut PhysMem) {
        let f = &self.pci.vga;
        let (lfb, mmio, rom) = (f.lfb_base().map(u64::from), f.mmio_base().map(u64::from), f.rom_base().map(u64::from));
        let w = &mut self.vga_wiring;
        if let Some(vram) = w.vram.filter(|_| w.lfb_at != lfb) {
            w.lfb_at = lfb;
            if let Err(e) = mem.map_device_ram(vram, lfb) {
                log::warn!("VGA video memory not mapped: {e}");
                w.lfb_at = None;
            }
            // The whole picture may have changed (a blank frame where the
            // memory was unmapped).
            self.vga.mark_dirty(0, Vga::VRAM_SIZE as u32);
            w.text_valid = false;
        }
        if w.mmio_at != mmio {
            w.mmio_at = remap(mem, w.mmio_at, mmio, |mem, base| mem.add_mmio(base, u64::from(stdvga::MMIO_SIZE)));
        }
        if let Some(image) = w.rom.filter(|_| w.rom_at != rom) {
            w.rom_at = remap(mem, w.rom_at, rom, |mem, base| mem.map_rom_image(image, base));
        }
    }

    /// A read of the VGA's ports, if `port` is one of them.
    pub(crate) fn vga_io_read(&mut self, port: u16, size: u8) -> Option<u32> {
        if DISPI_PORTS.contains(&port) {
            let v = u32::from(self.vga.dispi_read(port));
            return Some(if size == 1 { v & 0xFF } else { v });
        }
        if !VGA_PORTS.contains(&port) {
            return None;
        }
        // A byte: the board splits wider accesses.
        let now = self.now();
        Some(u32::from(self.vga.io_read(port, now)))
    }

    /// A write to the VGA's ports; false if `port` is none of them.
    pub(crate) fn vga_io_write(&mut self, mem: &mut PhysMem, port: u16, value: u32) -> bool {
        if DISPI_PORTS.contains(&port) {
            let vram = self.vga_wiring.vram.map_or(&mut [][..], |id| mem.device_ram_mut(id));
            self.vga.dispi_write(port, value as u16, vram);
            return true;
        }
        if !VGA_PORTS.contains(&port) {
            return false;
        }
        // A byte: the board splits wider accesses.
        let now = self.now();
        self.vga.io_write(port, value as u8, now);
        true
    }

    /// An MMIO read the VGA decodes (the legacy window, BAR2), if any.
    pub(crate) fn vga_mmio_read(&mut self, mem: &mut PhysMem, addr: u64, size: u8) -> Option<u64> {
        let vram = self.vga_wiring.vram?;
        if (WINDOW_BASE..WINDOW_BASE + WINDOW_SIZE).contains(&addr) {
            let vram = mem.device_ram(vram);
            return Some((0..u64::from(size.min(8))).fold(0, |v, i| {
                let off = addr + i - WINDOW_BASE;
                let b = if off < WINDOW_SIZE { self.vga.window_read(vram, off as u32) } else { 0xFF };
                v | u64::from(b) << (8 * i)
            }));
        }
        let off = self.vga_mmio_offset(addr)?;
        let now = self.now();
        Some(if size > 4 {
            let lo = self.vga.mmio_read(off, 4, now);
            let hi = self.vga.mmio_read(off + 4, size - 4, now);
            u64::from(lo) | u64::from(hi) << 32
        } else {
            u64::from(self.vga.mmio_read(off, size, now))
        })
    }

    /// An MMIO write the VGA decodes; false if none.
    pub(crate) fn vga_mmio_write(&mut self, mem: &mut PhysMem, addr: u64, size: u8, value: u64) -> bool {
        let Some(vram) = self.vga_wiring.vram else {
            return false;
        };
        if (WINDOW_BASE..WINDOW_BASE + WINDOW_SIZE).contains(&addr) {
            let vram = mem.device_ram_mut(vram);
            for i in 0..u64::from(size.min(8)) {
                let off = addr + i - WINDOW_BASE;
                if off < WINDOW_SIZE {
                    self.vga.window_write(vram, off as u32, (value >> (8 * i)) as u8);
                }
            }
            return true;
        }
        let Some(off) = self.vga_mmio_offset(addr) else {
            return false;
        };
        let now = self.now();
        let vram = mem.device_ram_mut(vram);
        if size > 4 {
            self.vga.mmio_write(off, 4, value as u32, vram, now);
            self.vga.mmio_write(off + 4, size - 4, (value >> 32) as u32, vram, now);
        } else {
            self.vga.mmio_write(off, size, value as u32, vram, now);
        }
        true
    }

    /// The offset of `addr` in the BAR2 register block, if inside.
    fn vga_mmio_offset(&self, addr: u64) -> Option<u32> {
        let base = self.vga_wiring.mmio_at?;
        let off = addr.checked_sub(base)?;
        (off < u64::from(stdvga::MMIO_SIZE)).then_some(off as u32)
    }

    /// The next screen refresh, while a VGA is attached and a window
    /// watches it.
    pub(crate) fn vga_deadline(&self) -> Option<u64> {
        self.vga_wiring.vram.filter(|_| self.display_watched).map(|_| self.vga_wiring.next_refresh)
    }

    /// Refreshes the screen if its time has come.
    pub fn advance_display(&mut self, mem: &mut PhysMem) {
        let now = self.now();
        if self.vga_wiring.vram.is_none() || !self.display_watched || now < self.vga_wiring.next_refresh {
            return;
        }
        let period = self.vga.frame_period_ns().max(MIN_REFRESH_NS);
        let w = &mut self.vga_wiring;
        // The next frame boundary after now (frames missed while the guest
        // was busy are not drawn one by one).
        w.next_refresh += ((now - w.next_refresh) / period + 1) * period;
        self.refresh_display(mem);
    }

    /// Renders what changed in video memory since the last refresh and
    /// publishes the picture (and the text of a text mode) to the screen.
    pub fn refresh_display(&mut self, mem: &mut PhysMem) {
        let Some(vram) = self.vga_wiring.vram else {
            return;
        };
        let dirty = mem.take_device_ram_dirty(vram);
        // Runs of consecutive pages in one call each.
        let mut i = 0;
        while i < dirty.len() {
            let mut j = i + 1;
            while j < dirty.len() && dirty[j] == dirty[j - 1] + 1 {
                j += 1;
            }
            let len = (j - i) as u64 * PAGE_SIZE;
            self.vga.mark_dirty((dirty[i] * PAGE_SIZE) as u32, len as u32);
            i = j;
        }
        let now = self.now();
        let vram = mem.device_ram(vram);
        let w = &mut self.vga_wiring;
        let changed = self.vga.render(vram, &mut w.frame, now);
        // The text changes only with the picture: rebuilt only then.
        if changed || !w.text_valid {
            w.text = self.vga.text_dump(vram);
            w.text_valid = true;
        }
        self.screen.publish(&w.frame, changed, w.text.clone());
    }
}

/// Moves a BAR window from `old` to `new` (either may be None); returns
/// where it ended up.
fn remap(
    mem: &mut PhysMem,
    old: Option<u64>,
    new: Option<u64>,
    map: impl FnOnce(&mut PhysMem, u64) -> Result<(), MapError>,
) -> Option<u64> {
    if let Some(old) = old {
        mem.remove_overlay(old);
    }
    let new = new?;
    match map(mem, new) {
        Ok(()) => Some(new),
        Err(e) => {
            log::warn!("VGA window at {new:#x} not mapped: {e}");
            None
        }
    }
}

/// Why the VGA could not be put on the board.
#[derive(Debug, thiserror::Error)]
pub enum VgaAttachError {
    #[error("cannot allocate the VGA's video memory: {0}")]
    Vram(std::io::Error),
    #[error("cannot map the VGA window: {0}")]
    Map(#[from] MapError),
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::clock::ClockMode;
    use ironpc_cpu::Bus;
    use ironpc_mmu::Region;

    /// A configuration write to 00:02.0 through 0xCF8/0xCFC.
    fn vga_config_write(b: &mut Board, mem: &mut PhysMem, register: u32, value: u32) {
        b.io_write(mem, 0xCF8, 4, 0x8000_1000 | register);
        b.io_write(mem, 0xCFC, 4, value);
    }

    fn byte(mem: &PhysMem, addr: u64) -> u8 {
        let mut v = [0];
        mem.read(addr, &mut v);
        v[0]
    }

    fn board(bios: Option<&[u8]>) -> (Board, PhysMem) {
        let mut mem = PhysMem::new(2 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        b.attach_vga(&mut mem, bios).unwrap();
        (b, mem)
    }

    #[test]
    fn video_memory_appears_where_bar0_points_once_memory_space_is_on() {
        let (mut b, mut mem) = board(None);
        assert_eq!(mem.region(0xFD00_0000), Region::Unmapped, "BARs not programmed");
        assert_eq!(mem.region(WINDOW_BASE), Region::Mmio, "the legacy window is always decoded");
        b.firmware_pci_init(&mut mem, 0x600);
        assert!(matches!(mem.region(0xFD00_0000), Region::Ram { .. }), "fast path into video memory");
        mem.write(0xFD12_3456, &[0x5A]);
        let vram = b.vga_wiring.vram.unwrap();
        assert_eq!(mem.device_ram(vram)[0x12_3456], 0x5A);
        // The refresh takes the dirty pages of the framebuffer.
        b.refresh_display(&mut mem);
        assert_eq!(mem.take_device_ram_dirty(vram), Vec::<u64>::new());
        // The guest moves BAR0: the same bytes at the new address.
        vga_config_write(&mut b, &mut mem, 0x10, 0xE000_0000);
        assert_eq!(byte(&mem, 0xE012_3456), 0x5A);
        assert_eq!(byte(&mem, 0xFD12_3456), 0xFF);
        // Memory decode off (as Linux does while sizing BARs): gone.
        vga_config_write(&mut b, &mut mem, 0x04, 0);
        assert_eq!(mem.region(0xE000_0000), Region::Unmapped);
        assert_eq!(b.vga_mmio_read(&mut mem, 0xFEBF_0500, 2), None, "BAR2 off too");
    }

    #[test]
    fn word_port_writes_reach_index_and_data_as_two_bytes_and_dispi_answers() {
        let (mut b, mut mem) = board(None);
        // SeaVGABIOS's outw(0x0F02, 0x3C4): sequencer index 2 (map mask),
        // data 0x0F in the high byte.
        b.io_write(&mut mem, 0x3C4, 2, 0x0F02);
        assert_eq!(b.io_read(&mut mem, 0x3C4, 1), 0x02, "index");
        assert_eq!(b.io_read(&mut mem, 0x3C5, 1), 0x0F, "map mask");
        assert_eq!(b.io_read(&mut mem, 0x3C4, 2), 0x0F02, "a word read is the pair too");
        // The DISPI ID register (index 0) reads a Bochs VBE version.
        b.io_write(&mut mem, 0x1CE, 2, 0);
        assert_eq!(b.io_read(&mut mem, 0x1CF, 2) & 0xFFF0, 0xB0C0);
    }

    #[test]
    fn the_rom_bar_maps_the_vga_bios_only_while_enabled() {
        let rom: Vec<u8> = (0..0x9800u32).map(|i| (i ^ (i >> 8)) as u8).collect();
        let (mut b, mut mem) = board(Some(&rom));
        vga_config_write(&mut b, &mut mem, 0x04, 2);
        vga_config_write(&mut b, &mut mem, 0x30, 0xFEBE_0000);
        assert_eq!(byte(&mem, 0xFEBE_0000), 0xFF, "enable bit clear");
        vga_config_write(&mut b, &mut mem, 0x30, 0xFEBE_0001);
        let mut got = vec![0; rom.len()];
        mem.read(0xFEBE_0000, &mut got);
        assert_eq!(got, rom);
        assert_eq!(byte(&mem, 0xFEBE_9800), 0xFF, "past the image");
        vga_config_write(&mut b, &mut mem, 0x30, 0xFEBC_0001);
        assert_eq!(byte(&mem, 0xFEBC_0001), rom[1], "moved");
        assert_eq!(byte(&mem, 0xFEBE_0001), 0xFF);
        vga_config_write(&mut b, &mut mem, 0x30, 0);
        assert_eq!(byte(&mem, 0xFEBC_0001), 0xFF, "disabled");
    }

    #[test]
    fn a_bar_over_the_firmware_stays_unmapped_and_frees_nothing_else() {
        let (mut b, mut mem) = board(None);
        ironpc_bios::map_bios(&mut mem, &vec![0xC3; 128 << 10]).unwrap();
        vga_config_write(&mut b, &mut mem, 0x10, 0xFF00_0000);
        vga_config_write(&mut b, &mut mem, 0x04, 2);
        assert_eq!(byte(&mem, 0xFFFF_FFF0), 0xC3, "the BIOS wins");
        assert_eq!(mem.region(0xFF00_0000), Region::Unmapped);
        vga_config_write(&mut b, &mut mem, 0x10, 0xFD00_0000);
        assert!(matches!(mem.region(0xFD00_0000), Region::Ram { .. }), "mapped once free");
    }

    #[test]
    fn the_screen_refreshes_every_frame_period_on_the_clock() {
        let (mut b, mut mem) = board(None);
        let period = b.vga.frame_period_ns();
        assert_eq!(b.next_deadline(), None, "headless: no refresh until asked");
        b.display_watched = true;
        assert_eq!(b.next_deadline(), Some(period));
        b.advance(period - 1);
        b.advance_display(&mut mem);
        assert_eq!(b.next_deadline(), Some(period));
        b.advance(period * 3 + 5);
        b.advance_display(&mut mem);
        assert_eq!(b.next_deadline(), Some(period * 4), "missed frames are skipped, the phase kept");
    }

    /// A guest can program a CRTC frame of 16 lines of 8 character clocks
    /// (a 27 kHz vertical rate no monitor syncs to); the screen is still
    /// redrawn at most at a monitor's rate, not every 36 us of guest time.
    #[test]
    fn a_tiny_crtc_frame_does_not_make_the_host_render_at_its_rate() {
        let (mut b, mut mem) = board(None);
        b.display_watched = true;
        // Misc output: colour, 28 MHz clock; 8-dot characters.
        b.io_write(&mut mem, 0x3C2, 1, 0x05);
        b.io_write(&mut mem, 0x3C4, 2, 0x0101);
        // CR11 unlocked, H total 3 (8 clocks), V total 14 (16 lines).
        for (index, value) in [(0x11u32, 0u32), (0x00, 3), (0x06, 14), (0x07, 0)] {
            b.io_write(&mut mem, 0x3D4, 2, value << 8 | index);
        }
        let period = b.vga.frame_period_ns();
        assert!(period < 100_000, "a frame of {period} ns");
        let first = b.next_deadline().unwrap();
        b.advance(first);
        b.advance_display(&mut mem);
        let next = b.next_deadline().unwrap();
        assert!(next - first >= MIN_REFRESH_NS, "the next refresh {} ns later", next - first);
    }

    /// Random guest traffic on the VGA's ports, windows and configuration
    /// space cannot panic (a fixed seed, printed; VGA_BOARD_FUZZ_SEED picks
    /// another).
    #[test]
    fn random_vga_traffic_is_harmless() {
        let mut next = ironpc_devices::fuzz_rng::seeded("VGA_BOARD_FUZZ_SEED", 0x5EED_0A6A);
        let (mut b, mut mem) = board(Some(&[0x55, 0xAA, 0x80]));
        b.firmware_pci_init(&mut mem, 0x600);
        // A window watches: every frame period renders what the guest made.
        b.display_watched = true;
        let mut icount = 0;
        for _ in 0..200_000 {
            let r = next();
            let size = [1, 2, 4, 8][(r & 3) as usize];
            let value = r >> 13;
            match (r >> 2) & 7 {
                0 | 1 => {
                    let port = 0x3B0 + ((r >> 5) % 0x30) as u16;
                    b.io_write(&mut mem, port, size.min(4), value as u32);
                    b.io_read(&mut mem, port, size.min(4));
                }
                2 => {
                    let port = 0x1CE + ((r >> 5) % 3) as u16;
                    b.io_write(&mut mem, port, 2, value as u32 & 0x1F);
                    b.io_write(&mut mem, port, 2, (r >> 40) as u32);
                    b.io_read(&mut mem, port, size.min(4));
                }
                3 | 4 => {
                    let addr = WINDOW_BASE + (r >> 5) % WINDOW_SIZE;
                    b.mmio_write(&mut mem, addr, size, value);
                    b.mmio_read(&mut mem, addr, size);
                }
                5 => {
                    let addr = 0xFEBF_0000 + (r >> 5) % 0x1000;
                    b.mmio_write(&mut mem, addr, size, value);
                    b.mmio_read(&mut mem, addr, size);
                }
                6 => {
                    // The VGA's configuration space, now and then.
                    if r & 0x3F_0000 == 0 {
                        let register = [0x04, 0x10, 0x18, 0x30][((r >> 24) & 3) as usize];
                        vga_config_write(&mut b, &mut mem, register, (value as u32) | 2);
                    }
                }
                _ => mem.write(0xFD00_0000 + (r >> 5) % (16 << 20), &value.to_le_bytes()[..size as usize]),
            }
            icount += (r >> 50) & 0xFFFF;
            b.advance(icount);
            b.advance_display(&mut mem);
        }
        b.refresh_display(&mut mem);
    }
}
