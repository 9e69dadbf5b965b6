//! The BIOS E820 memory map (ACPI 6.5, 15.1 "INT 15H, E820H - Query
//! System Address Map"): what the firmware tells the OS about RAM.

/// Address range types (ACPI 6.5 table 15.312).
pub const E820_RAM: u32 = 1;
pub const E820_RESERVED: u32 = 2;
pub const E820_ACPI: u32 = 3;
pub const E820_NVS: u32 = 4;

/// One range of the map.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct E820Entry {
    pub addr: u64,
    pub size: u64,
    pub kind: u32,
}

impl E820Entry {
    pub const fn new(addr: u64, size: u64, kind: u32) -> Self {
        Self { addr, size, kind }
    }

    /// One past the last byte (saturating, so a bogus entry cannot wrap).
    pub fn end(&self) -> u64 {
        self.addr.saturating_add(self.size)
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

/// Marks `[addr, addr + size)` as `kind`, cutting it out of whatever
/// entries it overlaps; the map stays sorted by address.
pub fn reserve(map: &mut Vec<E820Entry>, addr: u64, size: u64, kind: u32) {
    let end = addr.saturating_add(size);
    let mut out = Vec::with_capacity(map.len() + 2);
    for e in map.iter() {
        if e.end() <= addr || e.addr >= end {
            out.push(*e);
            continue;
        }
        if e.addr < addr {
            out.push(E820Entry::new(e.addr, addr - e.addr, e.kind));
        }
        if e.end() > end {
            out.push(E820Entry::new(end, e.end() - end, e.kind));
        }
    }
    out.push(E820Entry::new(addr, end - addr, kind));
    out.sort_by_key(|e| e.addr);
    *map = out;
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ram_queries() {
        let map = [
            E820Entry::new(0, 0x9FC00, E820_RAM),
            E820Entry::new(0x9FC00, 0x400, E820_RESERVED),
            E820Entry::new(0x100000, 0x100000, E820_RAM),
            E820Entry::new(0x200000, 0x100000, E820_RAM),
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
        let mut map = vec![E820Entry::new(0, 0x9FC00, E820_RAM), E820Entry::new(0x100000, 0xFF00000, E820_RAM)];
        reserve(&mut map, 0xFFF0000, 0x10000, E820_ACPI);
        assert_eq!(
            map,
            [
                E820Entry::new(0, 0x9FC00, E820_RAM),
                E820Entry::new(0x100000, 0xFEF0000, E820_RAM),
                E820Entry::new(0xFFF0000, 0x10000, E820_ACPI),
            ]
        );
        reserve(&mut map, 0x200000, 0x1000, E820_RESERVED);
        assert_eq!(map.len(), 5);
        assert_eq!(map[2], E820Entry::new(0x200000, 0x1000, E820_RESERVED));
        assert_eq!(map[3], E820Entry::new(0x201000, 0xFFF0000 - 0x201000, E820_RAM));
    }
}
