//! The page walker: linear to physical translation as an i686 with PSE,
//! PAE and NX does it (Intel SDM vol. 3A, chapter 4 "Paging").
//!
//! The walker reads paging structures through [`PhysMem`] and writes the
//! accessed and dirty bits back the way hardware does: an entry's accessed
//! bit is set when the walk uses it, the leaf's accessed bit only when the
//! access is allowed, and the dirty bit only on an allowed write.

use crate::{phys::PhysMem, PAGE_MASK};

/// CR0.PG: paging enabled.
pub const CR0_PG: u64 = 1 << 31;
/// CR0.WP: supervisor writes honour read-only pages.
pub const CR0_WP: u64 = 1 << 16;
/// CR4.PSE: 4 MiB pages in 32-bit paging.
pub const CR4_PSE: u64 = 1 << 4;
/// CR4.PAE: physical address extension.
pub const CR4_PAE: u64 = 1 << 5;
/// CR4.PGE: global pages survive CR3 loads.
pub const CR4_PGE: u64 = 1 << 7;
/// EFER.NXE: the execute-disable bit is honoured.
pub const EFER_NXE: u64 = 1 << 11;

const PTE_P: u64 = 1 << 0;
const PTE_RW: u64 = 1 << 1;
const PTE_US: u64 = 1 << 2;
const PTE_A: u64 = 1 << 5;
const PTE_D: u64 = 1 << 6;
const PTE_PS: u64 = 1 << 7;
const PTE_G: u64 = 1 << 8;
const PTE_XD: u64 = 1 << 63;

/// #PF error-code bits.
pub mod pf {
    /// The fault was a protection violation (clear: page not present).
    pub const PRESENT: u32 = 1 << 0;
    /// The access was a write.
    pub const WRITE: u32 = 1 << 1;
    /// The access was made at CPL 3.
    pub const USER: u32 = 1 << 2;
    /// A reserved bit was set in a paging-structure entry.
    pub const RSVD: u32 = 1 << 3;
    /// The access was an instruction fetch (reported with NX enabled).
    pub const FETCH: u32 = 1 << 4;
}

/// The control registers the walk depends on.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PagingRegs {
    pub cr0: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub efer: u64,
}

impl PagingRegs {
    /// Whether paging is on.
    pub fn enabled(&self) -> bool {
        self.cr0 & CR0_PG != 0
    }
}

/// The kind of access being translated.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Access {
    Read,
    Write,
    Execute,
}

/// A page fault: the linear address goes to CR2, `code` is the error code.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct PageFault {
    pub addr: u64,
    pub code: u32,
}

/// A successful translation of one 4 KiB linear page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Translation {
    /// Physical address of the 4 KiB page (before A20 masking).
    pub phys_page: u64,
    /// Reads are allowed for the requesting privilege.
    pub read: bool,
    /// Writes are allowed and the dirty bit is already set, so a write
    /// needs no walk.
    pub write: bool,
    /// Instruction fetch is allowed.
    pub exec: bool,
    /// A global page (survives CR3 loads when CR4.PGE is set).
    pub global: bool,
}

/// The identity translation used with paging off.
pub fn identity(lin: u64) -> Translation {
    Translation { phys_page: lin & PAGE_MASK & 0xFFFF_FFFF, read: true, write: true, exec: true, global: false }
}

/// Translates `lin` for an access of kind `access`, by a supervisor
/// (`user == false`) or CPL-3 (`user == true`) access.
pub fn translate(mem: &mut PhysMem, regs: &PagingRegs, lin: u64, access: Access, user: bool) -> Result<Translation, PageFault> {
    if !regs.enabled() {
        return Ok(identity(lin));
    }
    let lin = lin & 0xFFFF_FFFF;
    let fault = |code: u32| PageFault {
        addr: lin,
        code: code
            | if access == Access::Write { pf::WRITE } else { 0 }
            | if user { pf::USER } else { 0 }
            | if access == Access::Execute && regs.cr4 & CR4_PAE != 0 && regs.efer & EFER_NXE != 0 { pf::FETCH } else { 0 },
    };
    let nxe = regs.cr4 & CR4_PAE != 0 && regs.efer & EFER_NXE != 0;
    // Physical addresses are limited to 36 bits (what CPUID reports).
    let maxphys_rsvd: u64 = !((1u64 << 36) - 1) & !PTE_XD;
    let xd_rsvd = if nxe { 0 } else { PTE_XD };

    // Walk the levels, collecting (entry address, entry) pairs so the A/D
    // bits can be written back once the outcome is known.
    let mut path: [(u64, u64, bool); 3] = [(0, 0, false); 3]; // (addr, value, 8-byte entry)
    let mut depth = 0;
    let (leaf_addr, leaf, leaf_wide, page_base);
    if regs.cr4 & CR4_PAE != 0 {
        let pdpte_addr = (regs.cr3 & 0xFFFF_FFE0) + ((lin >> 30) & 3) * 8;
        let pdpte = read_entry(mem, pdpte_addr, true);
        if pdpte & PTE_P == 0 {
            return Err(fault(0));
        }
        // PAE PDPTEs have no R/W, U/S, A or XD bits: those are reserved.
        if pdpte & (maxphys_rsvd | PTE_XD | 0x1E6) != 0 {
            return Err(fault(pf::PRESENT | pf::RSVD));
        }
        let pde_addr = (pdpte & 0xF_FFFF_F000) + ((lin >> 21) & 0x1FF) * 8;
        let pde = read_entry(mem, pde_addr, true);
        if pde & PTE_P == 0 {
            return Err(fault(0));
        }
        if pde & (maxphys_rsvd | xd_rsvd) != 0 || (pde & PTE_PS != 0 && pde & 0x1F_E000 != 0) {
            return Err(fault(pf::PRESENT | pf::RSVD));
        }
        if pde & PTE_PS != 0 {
            leaf_addr = pde_addr;
            leaf = pde;
            leaf_wide = true;
            page_base = (pde & 0xF_FFE0_0000) | (lin & 0x1F_F000);
        } else {
            path[depth] = (pde_addr, pde, true);
            depth += 1;
            leaf_addr = (pde & 0xF_FFFF_F000) + ((lin >> 12) & 0x1FF) * 8;
            leaf = read_entry(mem, leaf_addr, true);
            leaf_wide = true;
            if leaf & PTE_P == 0 {
                set_accessed(mem, &path[..depth]);
                return Err(fault(0));
            }
            if leaf & (maxphys_rsvd | xd_rsvd) != 0 {
                return Err(fault(pf::PRESENT | pf::RSVD));
            }
            page_base = leaf & 0xF_FFFF_F000;
        }
    } else {
        let pde_addr = (regs.cr3 & 0xFFFF_F000) + ((lin >> 22) & 0x3FF) * 4;
        let pde = read_entry(mem, pde_addr, false);
        if pde & PTE_P == 0 {
            return Err(fault(0));
        }
        if pde & PTE_PS != 0 && regs.cr4 & CR4_PSE != 0 {
            // PSE-36: bits 13..16 of a 4 MiB PDE are physical bits 32..35;
            // bits 17..21 are reserved.
            if pde & 0x3E_0000 != 0 {
                return Err(fault(pf::PRESENT | pf::RSVD));
            }
            leaf_addr = pde_addr;
            leaf = pde;
            leaf_wide = false;
            page_base = (pde & 0xFFC0_0000) | ((pde >> 13) & 0xF) << 32 | (lin & 0x3F_F000);
        } else {
            path[depth] = (pde_addr, pde, false);
            depth += 1;
            leaf_addr = (pde & 0xFFFF_F000) + ((lin >> 12) & 0x3FF) * 4;
            leaf = read_entry(mem, leaf_addr, false);
            leaf_wide = false;
            if leaf & PTE_P == 0 {
                set_accessed(mem, &path[..depth]);
                return Err(fault(0));
            }
            page_base = leaf & 0xFFFF_F000;
        }
    }

    // Rights are the intersection of all levels.
    let levels = path[..depth].iter().map(|p| p.1).chain(std::iter::once(leaf));
    let (mut rw, mut us, mut xd) = (true, true, false);
    for e in levels {
        rw &= e & PTE_RW != 0;
        us &= e & PTE_US != 0;
        xd |= nxe && e & PTE_XD != 0;
    }
    let wp = regs.cr0 & CR0_WP != 0;
    let can_read = !user || us;
    let can_write = can_read && (rw || (!user && !wp));
    let can_exec = can_read && !xd;
    let allowed = match access {
        Access::Read => can_read,
        Access::Write => can_write,
        Access::Execute => can_exec,
    };
    set_accessed(mem, &path[..depth]);
    if !allowed {
        return Err(fault(pf::PRESENT));
    }
    let mut new_leaf = leaf | PTE_A;
    if access == Access::Write {
        new_leaf |= PTE_D;
    }
    if new_leaf != leaf {
        write_entry(mem, leaf_addr, new_leaf, leaf_wide);
    }
    Ok(Translation {
        phys_page: page_base,
        read: can_read,
        write: can_write && new_leaf & PTE_D != 0,
        exec: can_exec,
        global: regs.cr4 & CR4_PGE != 0 && leaf & PTE_G != 0,
    })
}

fn read_entry(mem: &PhysMem, addr: u64, wide: bool) -> u64 {
    let mut b = [0u8; 8];
    mem.read(addr, &mut b[..if wide { 8 } else { 4 }]);
    u64::from_le_bytes(b)
}

fn write_entry(mem: &mut PhysMem, addr: u64, value: u64, wide: bool) {
    let b = value.to_le_bytes();
    mem.write(addr, &b[..if wide { 8 } else { 4 }]);
}

fn set_accessed(mem: &mut PhysMem, path: &[(u64, u64, bool)]) {
    for &(addr, value, wide) in path {
        if value & PTE_A == 0 {
            write_entry(mem, addr, value | PTE_A, wide);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn put32(m: &mut PhysMem, a: u64, v: u32) {
        m.write(a, &v.to_le_bytes());
    }
    fn get32(m: &PhysMem, a: u64) -> u32 {
        let mut b = [0; 4];
        m.read(a, &mut b);
        u32::from_le_bytes(b)
    }

    fn regs32() -> PagingRegs {
        PagingRegs { cr0: CR0_PG | 1, cr3: 0x1000, cr4: CR4_PSE, efer: 0 }
    }

    #[test]
    fn four_k_walk_sets_accessed_then_dirty() {
        let mut m = PhysMem::new(1 << 22).unwrap();
        put32(&mut m, 0x1000, 0x2000 | 0x7); // PDE -> PT, user rw
        put32(&mut m, 0x2000 + 5 * 4, 0x0003_3000 | 0x7);
        let t = translate(&mut m, &regs32(), 0x5123, Access::Read, true).unwrap();
        assert_eq!(t.phys_page, 0x33000);
        assert!(!t.write, "dirty clear: writes must walk again");
        assert_eq!(get32(&m, 0x1000) & 0x20, 0x20);
        assert_eq!(get32(&m, 0x2014) & 0x60, 0x20);
        let t = translate(&mut m, &regs32(), 0x5123, Access::Write, true).unwrap();
        assert!(t.write);
        assert_eq!(get32(&m, 0x2014) & 0x60, 0x60);
    }

    #[test]
    fn user_write_to_read_only_page_faults_with_protection_code() {
        let mut m = PhysMem::new(1 << 22).unwrap();
        put32(&mut m, 0x1000, 0x2000 | 0x7);
        put32(&mut m, 0x2000, 0x0003_3000 | 0x5); // user, read-only
        let e = translate(&mut m, &regs32(), 0x10, Access::Write, true).unwrap_err();
        assert_eq!(e, PageFault { addr: 0x10, code: pf::PRESENT | pf::WRITE | pf::USER });
        assert_eq!(get32(&m, 0x2000) & 0x20, 0, "leaf A bit untouched on a fault");
        // Supervisor write with WP clear succeeds.
        assert!(translate(&mut m, &regs32(), 0x10, Access::Write, false).is_ok());
    }

    #[test]
    fn not_present_pde_leaves_no_accessed_bits() {
        let mut m = PhysMem::new(1 << 22).unwrap();
        let e = translate(&mut m, &regs32(), 0x40_0000, Access::Read, false).unwrap_err();
        assert_eq!(e.code, 0);
        assert_eq!(get32(&m, 0x1004), 0);
    }

    #[test]
    fn pse_large_page_and_pae_nx() {
        let mut m = PhysMem::new(1 << 22).unwrap();
        put32(&mut m, 0x1000 + 4, 0x0080_0000 | 0x83); // 4 MiB page at 8 MiB
        let t = translate(&mut m, &regs32(), 0x40_5000, Access::Read, false).unwrap();
        assert_eq!(t.phys_page, 0x80_5000);

        let regs = PagingRegs { cr0: CR0_PG | 1, cr3: 0x3000, cr4: CR4_PAE, efer: EFER_NXE };
        m.write(0x3000, &(0x4001u64).to_le_bytes()); // PDPTE 0
        m.write(0x4000, &(0x20_0000u64 | 0x83 | PTE_XD).to_le_bytes()); // 2 MiB, XD
        let t = translate(&mut m, &regs, 0x1234, Access::Read, false).unwrap();
        assert_eq!(t.phys_page, 0x20_1000);
        let e = translate(&mut m, &regs, 0x1234, Access::Execute, false).unwrap_err();
        assert_eq!(e.code, pf::PRESENT | pf::FETCH);
    }
}
