//! The software TLB.
//!
//! Two direct-mapped arrays of [`TlbEntry`], one for supervisor and one for
//! user (CPL 3) accesses, indexed by the page-table index (bits 12-21)
//! folded with the page-directory index (bits 22-31), so that pages at the
//! same offset in different 4 MiB regions (a stack and a data page, say)
//! do not evict each other. The hit path is what generated code will
//! inline:
//!
//! ```text
//! e = &tlb.entries[user][((lin >> 12) ^ (lin >> 22)) & (TLB_ENTRIES - 1)]
//! if e.read_tag == lin & !0xFFF  &&  (lin & 0xFFF) + size <= 0x1000:
//!     value = *(e.addend + lin)          // host pointer into RAM or ROM
//! ```
//!
//! A fast tag holds the linear page only when the page is backed by host
//! memory and the access kind is allowed without further work: writes need
//! the PTE dirty bit already set, the page already marked dirty in
//! [`PhysMem`] and no decoded code on it. Everything else leaves the fast
//! tag invalid and takes the slow path, which still finds the translation
//! (`tag`, `phys`, `perm`) here without walking the page tables again.

use crate::{
    paging::Translation,
    phys::{Epochs, PhysMem, Region},
    PAGE_MASK, PAGE_SIZE,
};

/// Entries per privilege class: 4 MiB of address space reachable without
/// a conflict, enough for the working set of a kernel and a process.
pub const TLB_ENTRIES: usize = 1024;
/// A tag that matches no page-aligned address.
const INVALID: u64 = 1;

/// One cached translation. `#[repr(C)]`: generated code loads these fields
/// at fixed offsets.
#[derive(Clone, Copy, Debug)]
#[repr(C)]
pub struct TlbEntry {
    /// Linear page for which fast reads may use `addend`.
    pub read_tag: u64,
    /// Linear page for which fast writes may use `addend`.
    pub write_tag: u64,
    /// Linear page for which instruction fetch may use `addend`.
    pub exec_tag: u64,
    /// Host address of the page minus its linear address (wrapping).
    pub addend: u64,
    /// Linear page this translation is for (fast or not).
    pub tag: u64,
    /// Physical page (after A20 masking).
    pub phys: u64,
    /// Allowed access kinds: bit 0 read, 1 write (dirty set), 2 execute.
    pub perm: u8,
    /// Survives non-global flushes.
    pub global: bool,
}

impl TlbEntry {
    const EMPTY: Self = Self {
        read_tag: INVALID,
        write_tag: INVALID,
        exec_tag: INVALID,
        addend: 0,
        tag: INVALID,
        phys: 0,
        perm: 0,
        global: false,
    };
}

/// Permission bits of [`TlbEntry::perm`].
pub mod perm {
    pub const READ: u8 = 1;
    pub const WRITE: u8 = 2;
    pub const EXEC: u8 = 4;
}

/// A per-CPU TLB.
pub struct Tlb {
    /// `[supervisor, user]`.
    pub entries: Box<[[TlbEntry; TLB_ENTRIES]; 2]>,
    owner: u64,
    epochs: Epochs,
}

impl Default for Tlb {
    fn default() -> Self {
        Self::new()
    }
}

#[inline]
fn index(lin: u64) -> usize {
    (((lin >> 12) ^ (lin >> 22)) as usize) & (TLB_ENTRIES - 1)
}

impl Tlb {
    /// An empty TLB.
    pub fn new() -> Self {
        Self { entries: Box::new([[TlbEntry::EMPTY; TLB_ENTRIES]; 2]), owner: 0, epochs: Epochs::default() }
    }

    /// Must be called before using the TLB with `mem` and again whenever
    /// `mem` may have changed (it is cheap). Host addends are only valid for
    /// the map that produced them, and fast write tags depend on the map's
    /// dirty and code bitmaps: another map or a changed map flushes
    /// everything; a bitmap change only drops the fast write tags, keeping
    /// the translations (and global pages) the guest expects to persist.
    #[inline]
    pub fn sync(&mut self, mem: &PhysMem) {
        let now = mem.epochs();
        if self.owner != mem.id() || self.epochs.map != now.map {
            self.flush_all();
            self.owner = mem.id();
        } else if self.epochs.fast_write != now.fast_write {
            for e in self.entries.iter_mut().flatten() {
                e.write_tag = INVALID;
            }
        }
        self.epochs = now;
    }

    /// Drops every entry.
    pub fn flush_all(&mut self) {
        for class in self.entries.iter_mut() {
            class.fill(TlbEntry::EMPTY);
        }
    }

    /// Drops every non-global entry (a CR3 load with CR4.PGE set).
    pub fn flush_nonglobal(&mut self) {
        for e in self.entries.iter_mut().flatten() {
            if !e.global {
                *e = TlbEntry::EMPTY;
            }
        }
    }

    /// Drops the entries for the page holding `lin` (INVLPG).
    pub fn flush_page(&mut self, lin: u64) {
        let i = index(lin);
        for class in self.entries.iter_mut() {
            if class[i].tag == lin & PAGE_MASK {
                class[i] = TlbEntry::EMPTY;
            }
        }
    }

    /// The cached translation of `lin`'s page for this privilege class.
    #[inline]
    pub fn lookup(&self, lin: u64, user: bool) -> Option<&TlbEntry> {
        let e = &self.entries[user as usize][index(lin)];
        (e.tag == lin & PAGE_MASK).then_some(e)
    }

    /// Records a translation. `phys_page` is the A20-masked physical page.
    pub fn insert(&mut self, mem: &PhysMem, lin: u64, user: bool, t: &Translation, phys_page: u64) -> TlbEntry {
        let page = lin & PAGE_MASK;
        let host = match mem.region(phys_page) {
            Region::Ram { host } => Some((host, true)),
            Region::Rom { host } => Some((host, false)),
            Region::Mmio | Region::Unmapped => None,
        };
        let mut e = TlbEntry {
            tag: page,
            phys: phys_page,
            perm: ((t.read as u8) * perm::READ) | ((t.write as u8) * perm::WRITE) | ((t.exec as u8) * perm::EXEC),
            global: t.global,
            ..TlbEntry::EMPTY
        };
        if let Some((host, ram)) = host {
            e.addend = (host as u64).wrapping_sub(page);
            if t.read {
                e.read_tag = page;
            }
            if t.exec {
                e.exec_tag = page;
            }
            if ram && t.write && mem.write_fast_ok(phys_page / PAGE_SIZE) {
                e.write_tag = page;
            }
        }
        self.entries[user as usize][index(lin)] = e;
        e
    }

    /// Gives the entry for `lin` its fast write tag if the page now allows
    /// it: writable, guest RAM, dirty, holding no code.
    pub fn enable_fast_write(&mut self, mem: &PhysMem, lin: u64, user: bool) {
        let e = &mut self.entries[user as usize][index(lin)];
        let page = lin & PAGE_MASK;
        if e.tag == page
            && e.write_tag != page
            && e.perm & perm::WRITE != 0
            && matches!(mem.region(e.phys), Region::Ram { .. })
            && mem.write_fast_ok(e.phys / PAGE_SIZE)
        {
            e.write_tag = page;
        }
    }

    /// Fast read of `N` (1, 2, 4 or 8) bytes, little endian. `None` on a
    /// miss or when the access crosses a page.
    #[inline(always)]
    pub fn read<const N: usize>(&self, lin: u64, user: bool) -> Option<u64> {
        let e = &self.entries[user as usize][index(lin)];
        if e.read_tag != lin & PAGE_MASK || (lin & (PAGE_SIZE - 1)) > PAGE_SIZE - N as u64 {
            return None;
        }
        let p = e.addend.wrapping_add(lin) as usize as *const [u8; N];
        // SAFETY: a matching read tag is only set by `insert` for a page
        // backed by host memory owned by the `PhysMem` this TLB is synced
        // with (`sync`), which outlives the run slice; the offset check keeps
        // the N bytes inside that page.
        let bytes = unsafe { p.read_unaligned() };
        let mut v = [0u8; 8];
        v[..N].copy_from_slice(&bytes);
        Some(u64::from_le_bytes(v))
    }

    /// Fast write of the low `N` bytes of `value`. `false` on a miss.
    #[inline(always)]
    pub fn write<const N: usize>(&self, lin: u64, user: bool, value: u64) -> bool {
        let e = &self.entries[user as usize][index(lin)];
        if e.write_tag != lin & PAGE_MASK || (lin & (PAGE_SIZE - 1)) > PAGE_SIZE - N as u64 {
            return false;
        }
        let p = e.addend.wrapping_add(lin) as usize as *mut [u8; N];
        let mut bytes = [0u8; N];
        bytes.copy_from_slice(&value.to_le_bytes()[..N]);
        // SAFETY: as in `read`; write tags are only set for guest RAM pages,
        // which the owning `PhysMem` maps writable.
        unsafe { p.write_unaligned(bytes) };
        true
    }

    /// Whether an `N`-byte write at `lin` would take the fast path.
    #[inline(always)]
    pub fn write_hit<const N: usize>(&self, lin: u64, user: bool) -> bool {
        let e = &self.entries[user as usize][index(lin)];
        e.write_tag == lin & PAGE_MASK && (lin & (PAGE_SIZE - 1)) <= PAGE_SIZE - N as u64
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::paging::identity;

    #[test]
    fn fast_paths_follow_tags_and_page_bounds() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        mem.write(0x5000, &[0x11, 0x22, 0x33, 0x44]);
        let mut tlb = Tlb::new();
        tlb.sync(&mem);
        assert_eq!(tlb.read::<4>(0x5000, false), None);
        tlb.insert(&mem, 0x5000, false, &identity(0x5000), 0x5000);
        assert_eq!(tlb.read::<4>(0x5000, false), Some(0x4433_2211));
        assert_eq!(tlb.read::<4>(0x5FFE, false), None, "crosses the page");
        assert_eq!(tlb.read::<4>(0x5000, true), None, "other privilege class");
        // The page was dirtied by `mem.write`, and holds no code: fast writes.
        assert!(tlb.write::<2>(0x5002, false, 0xBEEF));
        let mut b = [0; 4];
        mem.read(0x5000, &mut b);
        assert_eq!(b, [0x11, 0x22, 0xEF, 0xBE]);
        mem.mark_code(5);
        tlb.sync(&mem);
        assert!(!tlb.write::<1>(0x5000, false, 0), "code pages lose fast writes");
    }

    #[test]
    fn pages_at_the_same_offset_in_other_4mib_regions_do_not_collide() {
        let mem = PhysMem::new(8 << 20).unwrap();
        let mut tlb = Tlb::new();
        tlb.sync(&mem);
        // Page 6 of eight different 4 MiB regions.
        let pages: Vec<u64> = (0..8).map(|region| (region << 22) | 0x6000).collect();
        for &lin in &pages {
            tlb.insert(&mem, lin, false, &identity(lin), lin);
        }
        for &lin in &pages {
            assert!(tlb.lookup(lin, false).is_some(), "{lin:#x} evicted");
        }
    }

    #[test]
    fn global_entries_survive_nonglobal_flush() {
        let mem = PhysMem::new(1 << 20).unwrap();
        let mut tlb = Tlb::new();
        tlb.sync(&mem);
        let mut t = identity(0x1000);
        t.global = true;
        tlb.insert(&mem, 0x1000, false, &t, 0x1000);
        tlb.insert(&mem, 0x2000, false, &identity(0x2000), 0x2000);
        tlb.flush_nonglobal();
        assert!(tlb.lookup(0x1000, false).is_some());
        assert!(tlb.lookup(0x2000, false).is_none());
        tlb.flush_page(0x1234);
        assert!(tlb.lookup(0x1000, false).is_none());
    }
}
