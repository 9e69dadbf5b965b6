//! The i440FX host bridge, 00:00.0 (Intel 82441FX PMC datasheet, 3.2):
//! the PAM registers (3.2.18) that route reads and writes of
//! 0xC0000-0xFFFFF to DRAM or to PCI per segment, and the SMRAM control
//! register (3.2.22). IDs, class and revision as QEMU's `pc` presents them
//! (8086:1237 rev 02, class 06/00/00).

use super::{ConfigSpace, PciFunction, VENDOR_INTEL};
use serde::{Deserialize, Serialize};

pub const DEVICE_ID: u16 = 0x1237;
const REVISION: u8 = 0x02;
const CLASS_HOST_BRIDGE: u32 = 0x06_00_00;

/// PAM0 (0xF0000-0xFFFFF, high nibble) through PAM6.
pub const PAM0: u8 = 0x59;
const PAM_COUNT: u8 = 7;
/// SMRAM control.
pub const SMRAM: u8 = 0x72;
/// QEMU keeps the RAM size in 8 MiB units (at most 255) in this otherwise
/// unused register for coreboot.
const RAM_SIZE_8M: u8 = 0x57;

/// SMRAM bits.
const SMRAM_C_BASE_SEG: u8 = 0x07;
const SMRAM_G_SMRAME: u8 = 1 << 3;
const SMRAM_D_LCK: u8 = 1 << 4;
const SMRAM_D_CLS: u8 = 1 << 5;
const SMRAM_D_OPEN: u8 = 1 << 6;
/// C_BASE_SEG is hardwired to 010b: SMRAM at 0xA0000.
const SMRAM_RESET: u8 = 0x02;

/// Segments of the PAM window (16 KiB each from 0xC0000).
pub const PAM_SEGMENTS: usize = 16;

/// The host bridge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct I440fx {
    config: ConfigSpace,
}

impl Default for I440fx {
    fn default() -> Self {
        Self::new()
    }
}

impl I440fx {
    pub fn new() -> Self {
        let mut config = ConfigSpace::new(VENDOR_INTEL, DEVICE_ID, CLASS_HOST_BRIDGE, REVISION, 0);
        // PAM0 holds only the 0xF0000 segment's RE/WE (bits 4-5); PAM1-6
        // two segments each (bits 0-1 and 4-5); the rest is reserved.
        config.set_wmask8(PAM0, 0x30);
        for n in 1..PAM_COUNT {
            config.set_wmask8(PAM0 + n, 0x33);
        }
        config.set8(SMRAM, SMRAM_RESET);
        config.set_wmask8(SMRAM, SMRAM_D_OPEN | SMRAM_D_CLS | SMRAM_D_LCK | SMRAM_G_SMRAME);
        Self { config }
    }

    /// Records the machine's RAM size where QEMU shows it.
    pub fn set_ram_size(&mut self, bytes: u64) {
        self.config.set8(RAM_SIZE_8M, (bytes >> 23).min(255) as u8);
    }

    /// The PAM attribute nibble (bit 0 RE, bit 1 WE) of each 16 KiB segment
    /// from 0xC0000 up: PAMn's low nibble covers segment 2(n-1), its high
    /// nibble the next; PAM0's high nibble all four of 0xF0000-0xFFFFF.
    pub fn pam_attrs(&self) -> [u8; PAM_SEGMENTS] {
        let mut attrs = [0; PAM_SEGMENTS];
        for n in 1..PAM_COUNT {
            let v = self.config.read8(PAM0 + n);
            let seg = 2 * usize::from(n - 1);
            attrs[seg] = v & 3;
            attrs[seg + 1] = (v >> 4) & 3;
        }
        attrs[12..].fill((self.config.read8(PAM0) >> 4) & 3);
        attrs
    }

    /// SMRAM control as stored.
    pub fn smram(&self) -> u8 {
        self.config.read8(SMRAM)
    }

    /// Whether non-SMM accesses to 0xA0000-0xBFFFF reach SMRAM (DRAM)
    /// rather than the PCI bus (VGA): G_SMRAME with D_OPEN.
    pub fn smram_open(&self) -> bool {
        let v = self.smram();
        v & SMRAM_G_SMRAME != 0 && v & SMRAM_D_OPEN != 0
    }
}

impl PciFunction for I440fx {
    fn config(&self) -> &ConfigSpace {
        &self.config
    }

    fn config_mut(&mut self) -> &mut ConfigSpace {
        &mut self.config
    }

    fn config_write(&mut self, offset: u8, size: u8, value: u32) {
        let old = self.smram();
        self.config.write(offset, size, value);
        let mut v = self.smram();
        if old & SMRAM_D_LCK != 0 {
            // Once D_LCK is set only a power-on reset clears it, and
            // G_SMRAME is frozen (82441FX 3.2.22); D_CLS stays writable.
            v = (v & !SMRAM_G_SMRAME) | (old & SMRAM_G_SMRAME) | SMRAM_D_LCK;
        }
        if v & SMRAM_D_LCK != 0 {
            // Locking closes SMRAM to non-SMM code for good.
            v &= !SMRAM_D_OPEN;
        }
        self.config.set8(SMRAM, (v & !SMRAM_C_BASE_SEG) | SMRAM_RESET);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_qemus_host_bridge() {
        let h = I440fx::new();
        assert_eq!(h.config().read32(0), 0x1237_8086);
        assert_eq!(h.config().read32(0x08), 0x0600_0002, "class 06/00/00, revision 2");
        assert_eq!(h.config().read8(0x0E), 0, "single-function type 0 header");
        assert_eq!(h.config().read32(0x2C), 0x1100_1AF4, "QEMU's subsystem");
        let mut h = h;
        h.set_ram_size(128 << 20);
        assert_eq!(h.config().read8(0x57), 16, "RAM in 8 MiB units");
        h.set_ram_size(3 << 30);
        assert_eq!(h.config().read8(0x57), 255);
    }

    #[test]
    fn pam_registers_map_to_segments_and_keep_reserved_bits_zero() {
        let mut h = I440fx::new();
        assert_eq!(h.pam_attrs(), [0; PAM_SEGMENTS], "reset: everything on PCI");
        // SeaBIOS's make_bios_writable: two dword writes at 0x58 and 0x5C.
        h.config_write(0x58, 4, 0x3333_3000);
        h.config_write(0x5C, 4, 0x3333_3333);
        assert_eq!(h.config().read8(PAM0), 0x30);
        assert_eq!(h.pam_attrs(), [3; PAM_SEGMENTS]);
        // PAM0 low nibble is reserved; PAM1 0x31: C0000 RAM, C4000 read RAM.
        h.config_write(PAM0, 1, 0xFF);
        assert_eq!(h.config().read8(PAM0), 0x30);
        h.config_write(PAM0 + 1, 1, 0x13);
        let a = h.pam_attrs();
        assert_eq!((a[0], a[1]), (3, 1));
        h.config_write(PAM0, 1, 0x10);
        assert_eq!(h.pam_attrs()[12..], [1; 4], "PAM0 covers 0xF0000-0xFFFFF");
        assert_eq!(h.config().read8(0x58), 0, "0x58 is no PAM register");
    }

    #[test]
    fn smram_lock_freezes_open_and_global_enable() {
        let mut h = I440fx::new();
        assert_eq!(h.smram(), 0x02);
        h.config_write(SMRAM, 1, 0xFF);
        assert_eq!(h.smram(), 0x3A, "D_LCK set at once closes D_OPEN; base segment stays 010b");
        let mut h = I440fx::new();
        h.config_write(SMRAM, 1, 0x4A);
        assert!(h.smram_open());
        h.config_write(SMRAM, 1, 0x1A);
        assert_eq!(h.smram(), 0x1A);
        for v in [0x00, 0x40, 0x48, 0x20] {
            h.config_write(SMRAM, 1, v);
            assert_eq!(h.smram() & 0x58, 0x18, "after {v:#x}: locked, closed, G_SMRAME kept");
            assert!(!h.smram_open());
        }
        assert_eq!(h.smram() & 0x20, 0x20, "D_CLS stays writable");
    }
}
