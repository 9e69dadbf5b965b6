//! The PCI function of the Bochs/QEMU standard VGA, 00:02.0: the
//! configuration space QEMU's `-vga std` presents (PCI Local Bus
//! Specification 2.1, 6.1-6.2; IDs from QEMU's hw/display/vga-pci.c as
//! its `info pci` and a configuration dump show them): vendor 1234
//! device 1111 revision 2, class 03/00/00 (VGA-compatible), the Red Hat
//! subsystem, no interrupt pin, and three memory windows:
//! * BAR0, prefetchable 32-bit: the 16 MiB video memory (the VBE linear
//!   framebuffer SeaVGABIOS finds through it, vgasrc/bochsvga.c);
//! * BAR2, 32-bit, 4 KiB: the MMIO register block (EDID, the VGA ports
//!   0x3C0-0x3DF at 0x400, the DISPI registers at 0x500, QEMU's extended
//!   registers at 0x600);
//! * the expansion ROM BAR (0x30), 64 KiB, holding the VGA BIOS that
//!   SeaBIOS copies to 0xC0000 and runs (src/optionroms.c).
//!
//! The VGA itself (ports, windows, rendering) is `crate::vga`; the board
//! maps the windows where these BARs say.

use super::{Bar, ConfigSpace, PciFunction, QEMU_SUBSYSTEM, QEMU_SUBSYSTEM_VENDOR};
use serde::{Deserialize, Serialize};

pub const VENDOR_ID: u16 = 0x1234;
pub const DEVICE_ID: u16 = 0x1111;
const REVISION: u8 = 2;
const CLASS_VGA: u32 = 0x03_00_00;

/// Size of BAR0, the video memory.
pub const LFB_SIZE: u32 = 16 << 20;
/// Size of BAR2, the MMIO register block.
pub const MMIO_SIZE: u32 = 0x1000;
/// Size of the expansion ROM window (QEMU rounds the VGA BIOS file up to a
/// power of two: 64 KiB for SeaVGABIOS).
pub const ROM_SIZE: u32 = 0x1_0000;
/// The BAR numbers.
pub const BAR_LFB: u8 = 0;
pub const BAR_MMIO: u8 = 2;
/// The register of BAR2.
pub const BAR_MMIO_REG: u8 = 0x18;
/// BAR type bit 3: prefetchable memory.
const PREFETCHABLE: u32 = 1 << 3;

/// Where SeaBIOS's PCI setup puts the BARs on QEMU's `pc` with 128 MiB
/// (its debug log: "map device bdf=00:02.0 bar 0, addr fd000000", "bar 2,
/// addr febf0000"), for a guest started without firmware.
pub const FIRMWARE_LFB: u32 = 0xFD00_0000;
pub const FIRMWARE_MMIO: u32 = 0xFEBF_0000;

/// The standard VGA's configuration space.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct StdVga {
    config: ConfigSpace,
}

impl Default for StdVga {
    fn default() -> Self {
        Self::new()
    }
}

impl StdVga {
    pub fn new() -> Self {
        let mut config = ConfigSpace::new(VENDOR_ID, DEVICE_ID, CLASS_VGA, REVISION, 0);
        config.set16(super::reg::SUBSYSTEM_VENDOR_ID, QEMU_SUBSYSTEM_VENDOR);
        config.set16(super::reg::SUBSYSTEM_ID, QEMU_SUBSYSTEM);
        config.declare_bar(BAR_LFB, false, LFB_SIZE);
        config.set32(super::reg::BAR0, PREFETCHABLE);
        config.declare_bar(BAR_MMIO, false, MMIO_SIZE);
        config.declare_rom_bar(ROM_SIZE);
        Self { config }
    }

    /// Where the video memory is decoded now, if anywhere.
    pub fn lfb_base(&self) -> Option<u32> {
        match self.bar(BAR_LFB) {
            Some(Bar::Mem32 { base, .. }) => Some(base),
            _ => None,
        }
    }

    /// Where the MMIO register block is decoded now, if anywhere.
    pub fn mmio_base(&self) -> Option<u32> {
        match self.bar(BAR_MMIO) {
            Some(Bar::Mem32 { base, .. }) => Some(base),
            _ => None,
        }
    }

    /// Where the expansion ROM is decoded now, if anywhere.
    pub fn rom_base(&self) -> Option<u32> {
        self.config.rom_bar().map(|(base, _)| base)
    }
}

impl PciFunction for StdVga {
    fn config(&self) -> &ConfigSpace {
        &self.config
    }

    fn config_mut(&mut self) -> &mut ConfigSpace {
        &mut self.config
    }
}

#[cfg(test)]
mod tests {
    use super::super::{command, reg};
    use super::*;

    /// The function's configuration space at reset and the BAR sizes, as
    /// QEMU 7.2 shows them to a ROM (`-M pc -nodefaults -vga std`: dwords
    /// 0x00-0x3C, then all ones written to 0x10-0x30 and read back).
    #[test]
    fn config_space_and_bar_sizes_match_qemus_stdvga() {
        let qemu_header: [u32; 16] = [0x11111234, 0, 0x03000002, 0, 0x00000008, 0, 0, 0, 0, 0, 0, 0x11001AF4, 0, 0, 0, 0];
        let qemu_sized: [u32; 9] = [0xFF000008, 0, 0xFFFFF000, 0, 0, 0, 0, 0x11001AF4, 0xFFFF0001];
        let mut vga = StdVga::new();
        for (i, w) in qemu_header.iter().enumerate() {
            assert_eq!(vga.config_read(4 * i as u8, 4), *w, "offset {:#x}", 4 * i);
        }
        for i in 0..9u8 {
            vga.config_write(0x10 + 4 * i, 4, 0xFFFF_FFFF);
        }
        for (i, w) in qemu_sized.iter().enumerate() {
            assert_eq!(vga.config_read(0x10 + 4 * i as u8, 4), *w, "offset {:#x}", 0x10 + 4 * i);
        }
    }

    #[test]
    fn windows_decode_where_the_bars_point_once_memory_space_is_on() {
        let mut vga = StdVga::new();
        vga.config_write(reg::BAR0, 4, 0xE000_0000);
        vga.config_write(BAR_MMIO_REG, 4, 0xFEBF_0000);
        vga.config_write(reg::EXPANSION_ROM, 4, 0xFEBE_0001);
        assert_eq!((vga.lfb_base(), vga.mmio_base(), vga.rom_base()), (None, None, None));
        vga.config_write(reg::COMMAND, 2, u32::from(command::MEMORY));
        assert_eq!(vga.lfb_base(), Some(0xE000_0000));
        assert_eq!(vga.mmio_base(), Some(0xFEBF_0000));
        assert_eq!(vga.rom_base(), Some(0xFEBE_0000));
        // Low bits below the sizes are read-only zeros.
        vga.config_write(reg::BAR0, 4, 0xE012_3456);
        assert_eq!(vga.lfb_base(), Some(0xE000_0000));
        let copy: StdVga = serde_json::from_str(&serde_json::to_string(&vga).unwrap()).unwrap();
        assert_eq!(copy, vga);
    }
}
