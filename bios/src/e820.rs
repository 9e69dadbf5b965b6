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

    /// One past the last byte (saturating, so a bogus entry cannot wrap).
    pub fn end(&self) -> u64 {
        self.addr.saturating_add(self.len)
    }
}

/// True if `[addr, addr + len)` lies entirely inside one RAM entry.
pub fn is_ram(map: &[E820Entry], addr: u64, len: u64) -> bool {
    let Some(end) = addr.checked_add(len) else { return false };
    map.iter().any(|e| e.kind == E820_RAM && e.addr <= addr && end <= e.end())
}

/// Bytes of RAM contiguous from `start` (0 if `start` is not RAM), joining
/// adjacent RAM entries.
pub fn ram_from(map: &[E820Entry], start: u64) -> u64 {
    let mut end = start;
    while let Some(e) = map.iter().find(|e| e.kind == E820_RAM && e.addr <= end && end < e.end()) {
        end = e.end();
    }
    end - start
}

/// Marks `[addr, addr + len)` as `kind`, cutting it out of whatever
/// entries it overlaps; the map stays sorted by address.
pub fn reserve(map: &mut Vec<E820Entry>, addr: u64, len: u64, kind: u32) {
    let end = addr.saturating_add(len);
    let mut out = Vec::with_capacity(map.len() + 2);
    for e in map.iter() {
        if e.end() <= addr || e.addr >= end {
            out.push(*e);
            continue;
        }
        if e.addr < addr {
            out.push(E820Entry { addr: e.addr, len: addr - e.addr, kind: e.kind });
        }
        if e.end() > end {
            out.push(E820Entry { addr: end, len: e.end() - end, kind: e.kind });
        }
    }
    out.push(E820Entry { addr, len: end - addr, kind });
    out.sort_by_key(|e| e.addr);
    *map = out;
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

    fn e(addr: u64, len: u64, kind: u32) -> E820Entry {
        E820Entry { addr, len, kind }
    }

    #[test]
    fn ram_queries() {
        let map = [
            e(0, 0x9FC00, E820_RAM),
            e(0x9FC00, 0x400, E820_RESERVED),
            e(0x100000, 0x100000, E820_RAM),
            e(0x200000, 0x100000, E820_RAM),
        ];
        assert!(is_ram(&map, 0x1000, 0x1000));
        assert!(!is_ram(&map, 0x9F000, 0x1000));
        assert!(!is_ram(&map, u64::MAX, 2));
        assert_eq!(ram_from(&map, 0), 0x9FC00);
        assert_eq!(ram_from(&map, 0x100000), 0x200000);
        assert_eq!(ram_from(&map, 0xA0000), 0);
    }

    #[test]
    fn reserve_splits_ram() {
        let mut map = vec![e(0, 0x9FC00, E820_RAM), e(0x100000, 0xFF00000, E820_RAM)];
        reserve(&mut map, 0xFFF0000, 0x10000, E820_ACPI);
        assert_eq!(map, [e(0, 0x9FC00, E820_RAM), e(0x100000, 0xFEF0000, E820_RAM), e(0xFFF0000, 0x10000, E820_ACPI)]);
        reserve(&mut map, 0x200000, 0x1000, E820_RESERVED);
        assert_eq!(map.len(), 5);
        assert_eq!(map[2], e(0x200000, 0x1000, E820_RESERVED));
        assert_eq!(map[3], e(0x201000, 0xFFF0000 - 0x201000, E820_RAM));
    }
}
