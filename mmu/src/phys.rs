//! The physical address space: RAM, ROM overlays, MMIO windows, the A20
//! gate and the per-page code/dirty bitmaps.

use crate::{bitmap::PageBitmap, ram::GuestRam, PAGE_MASK, PAGE_SIZE};
use std::sync::atomic::{AtomicU64, Ordering};

/// What a physical page is backed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    /// Guest RAM; `host` is the host address of the page's first byte.
    Ram { host: usize },
    /// Read-only memory; writes are ignored.
    Rom { host: usize },
    /// A device window: accesses go to the board's MMIO dispatch.
    Mmio,
    /// Nothing: reads return all ones, writes are dropped.
    Unmapped,
}

/// Errors from changing the physical map.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MapError {
    #[error("range {base:#x}+{len:#x} is not page aligned")]
    Unaligned { base: u64, len: u64 },
    #[error("range {base:#x}+{len:#x} overlaps an existing ROM or MMIO range")]
    Overlap { base: u64, len: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OverlayKind {
    /// Index into `PhysMem::roms`, offset of `base` within that image.
    Rom {
        image: usize,
        offset: u64,
    },
    Mmio,
}

#[derive(Clone, Copy, Debug)]
struct Overlay {
    base: u64,
    len: u64,
    kind: OverlayKind,
}

/// Each `PhysMem` gets a distinct id so a TLB filled from one map is never
/// used with another (see [`crate::Tlb::sync`]).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The physical address space of the machine.
pub struct PhysMem {
    ram: GuestRam,
    /// ROM images. A `Box<[u8]>` never moves, so TLB addends into it stay
    /// valid for the life of this map.
    roms: Vec<Box<[u8]>>,
    /// ROM and MMIO ranges, which take precedence over RAM. Few, so a
    /// linear scan on a TLB miss is fine.
    overlays: Vec<Overlay>,
    a20: bool,
    code: PageBitmap,
    dirty: PageBitmap,
    /// Code pages written since the CPUs last looked (by DMA or by a CPU):
    /// every CPU drops its decoded blocks on them.
    code_writes: Vec<u64>,
    id: u64,
    epochs: Epochs,
}

/// Counters that move when TLB entries filled earlier may have become
/// wrong without a guest-visible flush (see [`crate::Tlb::sync`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Epochs {
    /// The map changed (ROM/MMIO ranges, A20): translations to physical
    /// pages and host addends may be stale.
    pub map: u64,
    /// A page became a code page or the dirty bitmap was scanned: only the
    /// fast write tags may be stale.
    pub fast_write: u64,
}

/// Pages covered by the bitmaps: the whole 32-bit physical space.
const TRACKED_PAGES: u64 = (1 << 32) / PAGE_SIZE;

impl PhysMem {
    /// A map with `ram_size` bytes of RAM at physical address 0.
    pub fn new(ram_size: u64) -> std::io::Result<Self> {
        Ok(Self {
            ram: GuestRam::new(ram_size)?,
            roms: Vec::new(),
            overlays: Vec::new(),
            a20: true,
            code: PageBitmap::new(TRACKED_PAGES),
            dirty: PageBitmap::new(TRACKED_PAGES),
            code_writes: Vec::new(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            epochs: Epochs::default(),
        })
    }

    /// The guest RAM.
    pub fn ram(&self) -> &GuestRam {
        &self.ram
    }

    /// Size of RAM in bytes.
    pub fn ram_size(&self) -> u64 {
        self.ram.len()
    }

    /// Maps `data` read-only at `base` (page aligned; the image is padded to
    /// whole pages with 0xFF).
    pub fn add_rom(&mut self, base: u64, data: &[u8]) -> Result<(), MapError> {
        let len = (data.len() as u64).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        self.check_free(base, len)?;
        let mut image = vec![0xFF; len as usize].into_boxed_slice();
        image[..data.len()].copy_from_slice(data);
        self.roms.push(image);
        let image = self.roms.len() - 1;
        self.insert(Overlay { base, len, kind: OverlayKind::Rom { image, offset: 0 } });
        Ok(())
    }

    /// Maps part of an already added ROM image a second time (the BIOS is
    /// seen both below 4 GiB and below 1 MiB). `image_base` is where the
    /// image was first added.
    pub fn alias_rom(&mut self, image_base: u64, offset: u64, base: u64, len: u64) -> Result<(), MapError> {
        let image = self
            .overlays
            .iter()
            .find_map(|o| match o.kind {
                OverlayKind::Rom { image, offset: 0 } if o.base == image_base => Some(image),
                _ => None,
            })
            .ok_or(MapError::Overlap { base: image_base, len: 0 })?;
        self.check_free(base, len)?;
        if offset + len > self.roms[image].len() as u64 {
            return Err(MapError::Overlap { base, len });
        }
        self.insert(Overlay { base, len, kind: OverlayKind::Rom { image, offset } });
        Ok(())
    }

    /// Declares `[base, base + len)` a device window.
    pub fn add_mmio(&mut self, base: u64, len: u64) -> Result<(), MapError> {
        self.check_free(base, len)?;
        self.insert(Overlay { base, len, kind: OverlayKind::Mmio });
        Ok(())
    }

    fn check_free(&self, base: u64, len: u64) -> Result<(), MapError> {
        if !base.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) || len == 0 {
            return Err(MapError::Unaligned { base, len });
        }
        if self.overlays.iter().any(|o| base < o.base + o.len && o.base < base + len) {
            return Err(MapError::Overlap { base, len });
        }
        Ok(())
    }

    fn insert(&mut self, o: Overlay) {
        self.overlays.push(o);
        self.overlays.sort_by_key(|o| o.base);
        self.epochs.map += 1;
    }

    /// Whether the A20 gate is open (address bit 20 passes through).
    pub fn a20(&self) -> bool {
        self.a20
    }

    /// Opens or closes the A20 gate.
    pub fn set_a20(&mut self, enabled: bool) {
        if self.a20 != enabled {
            self.a20 = enabled;
            self.epochs.map += 1;
        }
    }

    /// Applies the A20 gate to a physical address.
    #[inline]
    pub fn a20_mask(&self, phys: u64) -> u64 {
        if self.a20 {
            phys
        } else {
            phys & !(1 << 20)
        }
    }

    /// What backs the page containing `phys` (after A20 masking, which the
    /// caller has applied). For RAM and ROM, `host` is the page's host
    /// address.
    pub fn region(&self, phys: u64) -> Region {
        let page = phys & PAGE_MASK;
        for o in &self.overlays {
            if page >= o.base && page < o.base + o.len {
                return match o.kind {
                    OverlayKind::Rom { image, offset } => {
                        Region::Rom { host: self.roms[image].as_ptr() as usize + (offset + page - o.base) as usize }
                    }
                    OverlayKind::Mmio => Region::Mmio,
                };
            }
        }
        if page < self.ram.len() {
            Region::Ram { host: self.ram.host_addr(page) }
        } else {
            Region::Unmapped
        }
    }

    /// Reads RAM/ROM bytes at a physical address, as a device or the
    /// decoder sees them. MMIO and unmapped bytes read as 0xFF; the caller
    /// routes MMIO itself.
    pub fn read(&self, phys: u64, buf: &mut [u8]) {
        let mut done = 0;
        while done < buf.len() {
            let addr = self.a20_mask(phys + done as u64);
            let in_page = ((PAGE_SIZE - (addr % PAGE_SIZE)) as usize).min(buf.len() - done);
            let chunk = &mut buf[done..done + in_page];
            match self.region(addr) {
                Region::Ram { .. } => self.ram.read(addr, chunk),
                Region::Rom { host } => {
                    let off = (addr % PAGE_SIZE) as usize;
                    // SAFETY: `host` is the start of a whole page inside a
                    // ROM image owned by `self`; off + len <= PAGE_SIZE.
                    let src = unsafe { std::slice::from_raw_parts((host + off) as *const u8, chunk.len()) };
                    chunk.copy_from_slice(src);
                }
                Region::Mmio | Region::Unmapped => chunk.fill(0xFF),
            }
            done += in_page;
        }
    }

    /// Writes RAM at a physical address (ROM, MMIO and unmapped bytes are
    /// dropped), marking pages dirty and noting writes to code pages.
    pub fn write(&mut self, phys: u64, data: &[u8]) {
        let mut done = 0;
        while done < data.len() {
            let addr = self.a20_mask(phys + done as u64);
            let in_page = ((PAGE_SIZE - (addr % PAGE_SIZE)) as usize).min(data.len() - done);
            if let Region::Ram { .. } = self.region(addr) {
                self.ram.write(addr, &data[done..done + in_page]);
                self.note_write(addr / PAGE_SIZE);
            }
            done += in_page;
        }
    }

    /// Records a write to physical page `page` made through a host pointer:
    /// marks it dirty and, if it held code, queues it for invalidation.
    #[inline]
    pub fn note_write(&mut self, page: u64) {
        self.dirty.set(page);
        if self.code.clear(page) {
            self.code_writes.push(page);
        }
    }

    /// Whether a write to `page` may bypass [`Self::note_write`]: it is
    /// already dirty and holds no code.
    #[inline]
    pub fn write_fast_ok(&self, page: u64) -> bool {
        self.dirty.get(page) && !self.code.get(page)
    }

    /// Marks `page` as holding decoded code. TLB write entries for it must
    /// go, so the fast-write epoch moves when the bit is new.
    pub fn mark_code(&mut self, page: u64) {
        if !self.code.set(page) {
            self.epochs.fast_write += 1;
        }
    }

    /// Code pages written since the last call.
    pub fn take_code_writes(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.code_writes)
    }

    /// Whether any code page was written since the last `take_code_writes`.
    #[inline]
    pub fn has_code_writes(&self) -> bool {
        !self.code_writes.is_empty()
    }

    /// Returns and clears the dirty pages in `[first, first + count)`.
    pub fn take_dirty(&mut self, first: u64, count: u64) -> Vec<u64> {
        self.epochs.fast_write += 1;
        self.dirty.take_range(first, count)
    }

    /// The map's identity, for TLB ownership checks.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The current epochs (see [`Epochs`]).
    #[inline]
    pub fn epochs(&self) -> Epochs {
        self.epochs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rom_overlays_ram_and_ignores_writes() {
        let mut m = PhysMem::new(2 << 20).unwrap();
        m.add_rom(0xF_0000, &[1, 2, 3]).unwrap();
        m.write(0xF_0000, &[9, 9]);
        let mut b = [0; 4];
        m.read(0xF_0000, &mut b);
        assert_eq!(b, [1, 2, 3, 0xFF]);
        assert_eq!(m.add_mmio(0xF_0000, 0x1000), Err(MapError::Overlap { base: 0xF_0000, len: 0x1000 }));
    }

    #[test]
    fn a20_wraps_the_second_megabyte() {
        let mut m = PhysMem::new(4 << 20).unwrap();
        m.write(0x10_0010, &[0xAA]);
        m.set_a20(false);
        let mut b = [0];
        m.read(0x10_0010, &mut b);
        assert_eq!(b, [0], "with A20 off 1 MiB + 16 aliases 16");
        m.set_a20(true);
        m.read(0x10_0010, &mut b);
        assert_eq!(b, [0xAA]);
    }

    #[test]
    fn a_dirty_scan_clears_the_pages_and_revokes_fast_writes_until_written_again() {
        let mut m = PhysMem::new(1 << 20).unwrap();
        let mut tlb = crate::Tlb::new();
        m.write(0x3000, &[1]);
        tlb.sync(&m);
        tlb.insert(&m, 0x3000, false, &crate::paging::identity(0x3000), 0x3000);
        assert!(tlb.write::<1>(0x3001, false, 2), "dirty page: fast writes");
        assert_eq!(m.take_dirty(0, 256), vec![3]);
        assert_eq!(m.take_dirty(0, 256), Vec::<u64>::new(), "the scan cleared it");
        tlb.sync(&m);
        assert!(!tlb.write::<1>(0x3001, false, 3), "a fast write would go unseen by the next scan");
        // The slow path writes and marks the page again.
        m.write(0x3001, &[3]);
        assert_eq!(m.take_dirty(0, 256), vec![3]);
    }

    #[test]
    fn writes_to_code_pages_are_queued_and_unmapped_reads_all_ones() {
        let mut m = PhysMem::new(1 << 20).unwrap();
        m.mark_code(5);
        assert!(!m.write_fast_ok(5));
        m.write(5 * PAGE_SIZE + 3, &[1]);
        assert_eq!(m.take_code_writes(), vec![5]);
        assert!(m.write_fast_ok(5));
        let mut b = [0; 2];
        m.read(0x4000_0000, &mut b);
        assert_eq!(b, [0xFF, 0xFF]);
    }
}
