//! The E820 memory map: how firmware tells an operating system which
//! physical ranges are RAM (INT 15h AX=E820h, the Linux zero page,
//! multiboot's memory map and QEMU's `etc/e820` fw_cfg file all use this
//! 20-byte entry).

/// Usable RAM.
pub const E820_RAM: u32 = 1;
/// Reserved: not for the OS to use.
pub const E820_RESERVED: u32 = 2;
/// ACPI tables; the OS may reclaim the memory after reading them.
pub const E820_ACPI: u32 = 3;
/// ACPI non-volatile storage.
pub const E820_NVS: u32 = 4;

/// One range of the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct E820Entry {
    pub addr: u64,
    pub len: u64,
    pub kind: u32,
}

impl E820Entry {
    /// The entry as firmware lays it out: address, length (little-endian
    /// u64s) and type (u32).
    pub fn to_bytes(&self) -> [u8; 20] {
        let mut b = [0u8; 20];
        b[..8].copy_from_slice(&self.addr.to_le_bytes());
        b[8..16].copy_from_slice(&self.len.to_le_bytes());
        b[16..].copy_from_slice(&self.kind.to_le_bytes());
        b
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn entries_are_20_little_endian_bytes() {
        let e = E820Entry { addr: 0x1_0000_0000, len: 0x2000, kind: E820_ACPI };
        let b = e.to_bytes();
        assert_eq!(&b[..8], &[0, 0, 0, 0, 1, 0, 0, 0]);
        assert_eq!(&b[8..16], &[0, 0x20, 0, 0, 0, 0, 0, 0]);
        assert_eq!(&b[16..], &[3, 0, 0, 0]);
    }
}
