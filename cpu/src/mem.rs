//! Guest memory as an instruction sees it: segmentation (limit and rights
//! checks, SDM vol. 3A 5.3-5.6), then the TLB, the page walker on a miss,
//! and RAM, ROM or the board's MMIO dispatch.

use crate::{
    fault::Fault,
    state::{attr, sreg},
    Cpu, Env,
};
use ironpc_mmu::{paging, tlb_perm, Access, Region, PAGE_MASK, PAGE_SIZE};

impl Cpu {
    /// Whether ordinary data accesses are user-mode accesses for paging.
    #[inline(always)]
    pub(crate) fn user(&self) -> bool {
        self.state.cpl == 3
    }

    /// Linear to physical, through the TLB or a page walk that fills it.
    /// `user` is the privilege of the access (descriptor-table and TSS
    /// accesses are supervisor accesses whatever the CPL).
    pub(crate) fn translate(&mut self, env: &mut Env, lin: u64, access: Access, user: bool) -> Result<u64, Fault> {
        let need = match access {
            Access::Read => tlb_perm::READ,
            Access::Write => tlb_perm::WRITE,
            Access::Execute => tlb_perm::EXEC,
        };
        if let Some(e) = self.tlb.lookup(lin, user) {
            if e.perm & need != 0 {
                let phys = e.phys;
                if access == Access::Write {
                    // The page may have become eligible for fast writes
                    // since the entry was filled (now dirty, code dropped).
                    self.tlb.enable_fast_write(env.mem, lin, user);
                }
                return Ok(phys | (lin & !PAGE_MASK));
            }
        }
        let regs = paging::PagingRegs { cr0: self.state.cr0, cr3: self.state.cr3, cr4: self.state.cr4, efer: self.state.efer };
        let t = paging::translate(env.mem, &regs, lin, access, user).map_err(|pf| {
            self.state.cr2 = pf.addr;
            Fault::pf(pf.code)
        })?;
        // The walk may have set A/D bits on a page holding code.
        self.note_code_writes(env);
        let phys = env.mem.a20_mask(t.phys_page);
        self.tlb.insert(env.mem, lin, user, &t, phys);
        Ok(phys | (lin & !PAGE_MASK))
    }

    /// If some write hit a page holding decoded code, the current block must
    /// end so that the executor drops the stale blocks.
    #[inline]
    fn note_code_writes(&mut self, env: &Env) {
        if env.mem.has_code_writes() {
            self.end_block = true;
        }
    }

    /// Reads `N` bytes at a linear address.
    #[inline(always)]
    pub(crate) fn read_lin<const N: usize>(&mut self, env: &mut Env, lin: u64, user: bool) -> Result<u64, Fault> {
        match self.tlb.read::<N>(lin, user) {
            Some(v) => Ok(v),
            None => self.read_lin_slow(env, lin, N, user),
        }
    }

    #[inline(never)]
    fn read_lin_slow(&mut self, env: &mut Env, lin: u64, size: usize, user: bool) -> Result<u64, Fault> {
        let lin = lin & 0xFFFF_FFFF;
        let first = (PAGE_SIZE - (lin & !PAGE_MASK)) as usize;
        if first < size {
            // Crosses a page: translate both before reading either.
            let p0 = self.translate(env, lin, Access::Read, user)?;
            let p1 = self.translate(env, (lin + first as u64) & 0xFFFF_FFFF, Access::Read, user)?;
            let lo = self.read_phys(env, p0, first);
            let hi = self.read_phys(env, p1, size - first);
            return Ok(lo | hi << (first * 8));
        }
        let p = self.translate(env, lin, Access::Read, user)?;
        Ok(self.read_phys(env, p, size))
    }

    fn read_phys(&mut self, env: &mut Env, phys: u64, size: usize) -> u64 {
        match env.mem.region(phys) {
            Region::Mmio => {
                env.bus.set_icount(self.icount);
                env.bus.mmio_read(env.mem, phys, size as u8)
            }
            _ => {
                let mut b = [0u8; 8];
                env.mem.read(phys, &mut b[..size]);
                u64::from_le_bytes(b)
            }
        }
    }

    /// Writes the low `N` bytes of `value` at a linear address.
    #[inline(always)]
    pub(crate) fn write_lin<const N: usize>(&mut self, env: &mut Env, lin: u64, value: u64, user: bool) -> Result<(), Fault> {
        if self.tlb.write::<N>(lin, user, value) {
            return Ok(());
        }
        self.write_lin_slow(env, lin, N, value, user)
    }

    #[inline(never)]
    fn write_lin_slow(&mut self, env: &mut Env, lin: u64, size: usize, value: u64, user: bool) -> Result<(), Fault> {
        let lin = lin & 0xFFFF_FFFF;
        let first = (PAGE_SIZE - (lin & !PAGE_MASK)) as usize;
        if first < size {
            let p0 = self.translate(env, lin, Access::Write, user)?;
            let p1 = self.translate(env, (lin + first as u64) & 0xFFFF_FFFF, Access::Write, user)?;
            self.write_phys(env, p0, first, value);
            self.write_phys(env, p1, size - first, value >> (first * 8));
        } else {
            let p = self.translate(env, lin, Access::Write, user)?;
            self.write_phys(env, p, size, value);
        }
        self.note_code_writes(env);
        Ok(())
    }

    fn write_phys(&mut self, env: &mut Env, phys: u64, size: usize, value: u64) {
        match env.mem.region(phys) {
            Region::Mmio => {
                env.bus.set_icount(self.icount);
                env.bus.mmio_write(env.mem, phys, size as u8, value)
            }
            _ => env.mem.write(phys, &value.to_le_bytes()[..size]),
        }
    }

    /// Checks that the `N`-byte write at `lin` can complete without a page
    /// fault, before an instruction changes anything else (RMW forms,
    /// multi-part stores).
    pub(crate) fn probe_write(&mut self, env: &mut Env, lin: u64, size: usize, user: bool) -> Result<(), Fault> {
        let lin = lin & 0xFFFF_FFFF;
        self.translate(env, lin, Access::Write, user)?;
        let last = (lin + size as u64 - 1) & 0xFFFF_FFFF;
        if last & PAGE_MASK != lin & PAGE_MASK {
            // A fault on the second page reports its first byte in CR2,
            // as the split access on hardware does.
            self.translate(env, last & PAGE_MASK, Access::Write, user)?;
        }
        Ok(())
    }

    /// Segment checks for an `N`-byte access at `off` in segment `seg`:
    /// returns the linear address or #GP(0) / #SS(0).
    #[inline(always)]
    pub(crate) fn seg_lin(&self, seg: usize, off: u64, size: u32, write: bool) -> Result<u64, Fault> {
        let s = &self.state.seg[seg];
        let a = s.attr;
        let ok_type = if write {
            a & (attr::P | attr::S | attr::CODE | attr::RW) == attr::P | attr::S | attr::RW
        } else {
            a & (attr::P | attr::S) == attr::P | attr::S && a & (attr::CODE | attr::RW) != attr::CODE
        };
        let last = off.wrapping_add(u64::from(size) - 1);
        let in_limit = if a & (attr::CODE | attr::DC) == attr::DC {
            // Expand-down: valid offsets are limit+1 ..= 0xFFFF or 0xFFFFFFFF.
            let upper = if a & attr::DB != 0 { 0xFFFF_FFFF } else { 0xFFFF };
            off > u64::from(s.limit) && last <= upper && last >= off
        } else {
            last <= u64::from(s.limit) && last >= off
        };
        if ok_type && in_limit {
            Ok(s.base.wrapping_add(off) & 0xFFFF_FFFF)
        } else {
            Err(self.seg_fault(seg))
        }
    }

    /// The exception for a failed segment check: #SS for the stack
    /// segment, #GP otherwise.
    #[cold]
    pub(crate) fn seg_fault(&self, seg: usize) -> Fault {
        if seg == sreg::SS {
            Fault::ss(0)
        } else {
            Fault::gp(0)
        }
    }

    /// Reads `N` bytes at `seg:off`.
    #[inline(always)]
    pub(crate) fn read<const N: usize>(&mut self, env: &mut Env, seg: usize, off: u64) -> Result<u64, Fault> {
        let lin = self.seg_lin(seg, off, N as u32, false)?;
        let user = self.user();
        self.read_lin::<N>(env, lin, user)
    }

    /// Writes `N` bytes at `seg:off`.
    #[inline(always)]
    pub(crate) fn write<const N: usize>(&mut self, env: &mut Env, seg: usize, off: u64, value: u64) -> Result<(), Fault> {
        let lin = self.seg_lin(seg, off, N as u32, true)?;
        let user = self.user();
        self.write_lin::<N>(env, lin, value, user)
    }

    /// Reads `size` (1, 2, 4 or 8) bytes at `seg:off`.
    #[inline(always)]
    pub(crate) fn read_sized(&mut self, env: &mut Env, seg: usize, off: u64, size: u8) -> Result<u64, Fault> {
        match size {
            1 => self.read::<1>(env, seg, off),
            2 => self.read::<2>(env, seg, off),
            4 => self.read::<4>(env, seg, off),
            _ => self.read::<8>(env, seg, off),
        }
    }

    /// Writes `size` (1, 2, 4 or 8) bytes at `seg:off`.
    #[inline(always)]
    pub(crate) fn write_sized(&mut self, env: &mut Env, seg: usize, off: u64, size: u8, value: u64) -> Result<(), Fault> {
        match size {
            1 => self.write::<1>(env, seg, off, value),
            2 => self.write::<2>(env, seg, off, value),
            4 => self.write::<4>(env, seg, off, value),
            _ => self.write::<8>(env, seg, off, value),
        }
    }

    /// Supervisor-privilege read of `size` bytes at a linear address
    /// (descriptor tables, TSS, IDT).
    pub(crate) fn read_sys(&mut self, env: &mut Env, lin: u64, size: u8) -> Result<u64, Fault> {
        match size {
            1 => self.read_lin::<1>(env, lin, false),
            2 => self.read_lin::<2>(env, lin, false),
            4 => self.read_lin::<4>(env, lin, false),
            _ => self.read_lin::<8>(env, lin, false),
        }
    }

    /// Supervisor-privilege write at a linear address.
    pub(crate) fn write_sys(&mut self, env: &mut Env, lin: u64, size: u8, value: u64) -> Result<(), Fault> {
        match size {
            1 => self.write_lin::<1>(env, lin, value, false),
            2 => self.write_lin::<2>(env, lin, value, false),
            4 => self.write_lin::<4>(env, lin, value, false),
            _ => self.write_lin::<8>(env, lin, value, false),
        }
    }

    /// Stack pointer mask for the current SS.
    #[inline(always)]
    pub(crate) fn sp_mask(&self) -> u64 {
        if self.state.stack32() {
            0xFFFF_FFFF
        } else {
            0xFFFF
        }
    }

    /// Pushes `size` bytes (2 or 4). ESP changes only once the write
    /// succeeded, so a faulting push is restartable.
    #[inline]
    pub(crate) fn push(&mut self, env: &mut Env, size: u8, value: u64) -> Result<(), Fault> {
        let mask = self.sp_mask();
        let rsp = self.state.gpr[4];
        let sp = rsp.wrapping_sub(u64::from(size)) & mask;
        self.write_sized(env, sreg::SS, sp, size, value)?;
        self.state.gpr[4] = (rsp & !mask) | sp;
        Ok(())
    }

    /// Reads the value `depth` bytes above the stack top without popping.
    pub(crate) fn stack_peek(&mut self, env: &mut Env, depth: u64, size: u8) -> Result<u64, Fault> {
        let mask = self.sp_mask();
        let sp = self.state.gpr[4].wrapping_add(depth) & mask;
        self.read_sized(env, sreg::SS, sp, size)
    }
}
