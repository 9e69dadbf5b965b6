//! Control and debug registers, MSRs and the other privileged or
//! model-specific instructions (SDM vol. 2: MOV CR, MOV DR, CPUID, RDTSC,
//! RDMSR, WRMSR, RDPMC, SYSENTER, SYSEXIT, INVLPG, INVD, WBINVD, HLT, UD;
//! vol. 3A 2.5 "Control registers", 4.10.4 "Invalidation of TLBs",
//! 17.2 "Debug registers").

use super::{system::require_cpl0, *};
use crate::{
    cpuid::{self, edx1},
    msr,
    state::{attr, cr0, cr4, fl, reg, sreg, Segment},
};
use iced_x86::{Code::*, Register};
use ironpc_mmu::PAGE_SIZE;

pub(super) fn register(t: &mut Table) {
    t.set(Wait, wait);
    t.set(Mov_r32_cr, mov_from_cr);
    t.set(Mov_cr_r32, mov_to_cr);
    t.set(Mov_r32_dr, mov_from_dr);
    t.set(Mov_dr_r32, mov_to_dr);
    t.set(Cpuid, cpuid_);
    t.set(Rdtsc, rdtsc);
    t.set(Rdmsr, rdmsr);
    t.set(Wrmsr, wrmsr);
    t.set(Rdpmc, rdpmc);
    t.set(Sysenter, sysenter);
    t.set(Sysexitd, sysexit);
    t.set(Invlpg_m, invlpg);
    t.set_all(&[Invd, Wbinvd], invd);
    t.set(Hlt, hlt);
    t.set_all(&[Ud0, Ud0_r16_rm16, Ud0_r32_rm32, Ud1_r16_rm16, Ud1_r32_rm32, Ud2], undefined);
}

/// CR0 bits software can write; the rest are reserved and ignored. ET is
/// hard-wired to 1 on P6 parts.
const CR0_WRITABLE: u64 = cr0::PE | cr0::MP | cr0::EM | cr0::TS | cr0::NE | cr0::WP | cr0::AM | cr0::NW | cr0::CD | cr0::PG;
/// CR0 bits whose change invalidates cached translations.
const CR0_PAGING: u64 = cr0::PE | cr0::WP | cr0::PG;
/// CR4 bits whose change invalidates cached translations (toggling PGE
/// drops global entries too).
const CR4_PAGING: u64 = cr4::PSE | cr4::PAE | cr4::PGE;

/// The CR4 bits this model has: derived from what CPUID advertises, so a
/// feature added there becomes settable here. PCE exists on every P6, and
/// MCE is accepted as Bochs does: no machine check is ever raised, so
/// enabling them is harmless, and guests that set it unconditionally keep
/// working.
fn cr4_valid() -> u64 {
    let f = cpuid::FEATURES_EDX;
    let mut v = cr4::PCE | cr4::MCE;
    for (feature, bits) in [
        (edx1::VME, cr4::VME | cr4::PVI),
        (edx1::TSC, cr4::TSD),
        (edx1::DE, cr4::DE),
        (edx1::PSE, cr4::PSE),
        (edx1::PAE, cr4::PAE),
        (edx1::PGE, cr4::PGE),
        (edx1::FXSR, cr4::OSFXSR),
        (edx1::SSE, cr4::OSXMMEXCPT),
    ] {
        if f & feature != 0 {
            v |= bits;
        }
    }
    v
}

/// PDPTE bits that are reserved: bits 1-2 and 5-8, and everything above
/// the 36-bit physical address width.
const PDPTE_RSVD: u64 = 0x1E6 | !((1u64 << 36) - 1);

/// With PAE paging a P6 loads the four PDPTEs when CR0, CR3 or CR4 is
/// written and raises #GP(0) if a present one has reserved bits set
/// (SDM 4.4.1).
fn check_pdptes(env: &Env, cr0: u64, cr3: u64, cr4: u64) -> Result<(), Fault> {
    if cr0 & cr0::PG == 0 || cr4 & cr4::PAE == 0 {
        return Ok(());
    }
    let base = cr3 & 0xFFFF_FFE0;
    for n in 0..4 {
        let mut b = [0u8; 8];
        env.mem.read(base + n * 8, &mut b);
        let e = u64::from_le_bytes(b);
        if e & 1 != 0 && e & PDPTE_RSVD != 0 {
            return Err(Fault::gp(0));
        }
    }
    Ok(())
}

impl Cpu {
    /// MOV to CR0 and LMSW: checks, then the mode and paging side effects.
    pub(crate) fn set_cr0(&mut self, env: &mut Env, value: u64) -> Result<(), Fault> {
        let new = (value & CR0_WRITABLE) | cr0::ET;
        if new & cr0::PG != 0 && new & cr0::PE == 0 {
            return Err(Fault::gp(0));
        }
        if new & cr0::NW != 0 && new & cr0::CD == 0 {
            return Err(Fault::gp(0));
        }
        let old = self.state.cr0;
        // SDM 4.4.1: PDPTEs are loaded when PAE paging will be in use and
        // PG, CD or NW changes.
        if (old ^ new) & (cr0::PG | cr0::CD | cr0::NW) != 0 {
            check_pdptes(env, new, self.state.cr3, self.state.cr4)?;
        }
        self.state.cr0 = new;
        if (old ^ new) & CR0_PAGING != 0 {
            self.tlb.flush_all();
        }
        if new & cr0::PE == 0 {
            // Real mode runs at privilege 0 whatever CS's RPL was.
            self.set_cpl(0);
        }
        // PE changes the mode, TS/EM/MP what the FPU does: the next block
        // is decoded and checked under the new settings.
        self.end_block = true;
        Ok(())
    }

    fn set_cr3(&mut self, env: &mut Env, value: u64) -> Result<(), Fault> {
        let new = value & 0xFFFF_FFFF;
        check_pdptes(env, self.state.cr0, new, self.state.cr4)?;
        self.state.cr3 = new;
        if self.state.cr4 & cr4::PGE != 0 {
            self.tlb.flush_nonglobal();
        } else {
            self.tlb.flush_all();
        }
        self.end_block = true;
        Ok(())
    }

    fn set_cr4(&mut self, env: &mut Env, value: u64) -> Result<(), Fault> {
        let new = value & 0xFFFF_FFFF;
        if new & !cr4_valid() != 0 {
            return Err(Fault::gp(0));
        }
        let old = self.state.cr4;
        if (old ^ new) & CR4_PAGING != 0 {
            check_pdptes(env, self.state.cr0, self.state.cr3, new)?;
        }
        self.state.cr4 = new;
        if (old ^ new) & CR4_PAGING != 0 {
            self.tlb.flush_all();
        }
        self.end_block = true;
        Ok(())
    }
}

/// CR number of a MOV CR operand, or #UD for CR1 and CR5 and above.
fn cr_index(r: Register) -> Result<usize, Fault> {
    match (r as usize).wrapping_sub(Register::CR0 as usize) {
        n @ (0 | 2 | 3 | 4) => Ok(n),
        _ => Err(Fault::UD),
    }
}

/// MOV r32, CRn. The ModRM mod field is ignored: the operand is always a
/// register.
fn mov_from_cr(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let n = cr_index(i.op1_register())?;
    require_cpl0(cpu)?;
    let s = &cpu.state;
    let v = match n {
        0 => s.cr0,
        2 => s.cr2,
        3 => s.cr3,
        _ => s.cr4,
    };
    reg_write(&mut cpu.state, i.op0_register(), v & 0xFFFF_FFFF);
    Ok(())
}

fn mov_to_cr(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let n = cr_index(i.op0_register())?;
    require_cpl0(cpu)?;
    let v = reg_read(&cpu.state, i.op1_register()) & 0xFFFF_FFFF;
    match n {
        0 => cpu.set_cr0(env, v),
        2 => {
            cpu.state.cr2 = v;
            Ok(())
        }
        3 => cpu.set_cr3(env, v),
        _ => cpu.set_cr4(env, v),
    }
}

/// DR6 bits that read as 1 on a P6 (31:16 and 11:4); bit 12 reads 0.
const DR6_FIXED1: u64 = 0xFFFF_0FF0;
/// DR6 bits software can write: B0-B3, BD, BS, BT.
const DR6_WRITABLE: u64 = 0xE00F;
/// DR6.BD: the #DB was a general-detect fault.
const DR6_BD: u64 = 1 << 13;
/// DR7 bit 10 reads as 1; bits 11, 12, 14 and 15 read as 0.
const DR7_FIXED1: u64 = 1 << 10;
const DR7_WRITABLE: u64 = 0xFFFF_23FF;
/// DR7.GD: general detect, any debug-register access faults.
const DR7_GD: u64 = 1 << 13;

/// The debug register a MOV DR names, after the checks every access makes,
/// in the order Bochs models them: #UD for DR8+ and (with CR4.DE) DR4/DR5,
/// which otherwise alias DR6/DR7; #DB with DR6.BD while DR7.GD is set
/// (general detect comes before the privilege check); #GP(0) above CPL 0.
/// GD itself is cleared by the #DB delivery, as for every #DB.
fn dr_access(cpu: &mut Cpu, r: Register) -> Result<usize, Fault> {
    let n = (r as usize).wrapping_sub(Register::DR0 as usize);
    let n = match n {
        0..=3 | 6 | 7 => n,
        4 | 5 if cpu.state.cr4 & cr4::DE == 0 => n + 2,
        _ => return Err(Fault::UD),
    };
    if cpu.state.dr[7] & DR7_GD != 0 {
        cpu.state.dr[6] |= DR6_BD;
        return Err(Fault::DB);
    }
    require_cpl0(cpu)?;
    Ok(n)
}

fn mov_from_dr(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let n = dr_access(cpu, i.op1_register())?;
    let v = cpu.state.dr[n] & 0xFFFF_FFFF;
    reg_write(&mut cpu.state, i.op0_register(), v);
    Ok(())
}

fn mov_to_dr(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let n = dr_access(cpu, i.op0_register())?;
    let v = reg_read(&cpu.state, i.op1_register()) & 0xFFFF_FFFF;
    cpu.state.dr[n] = match n {
        6 => (v & DR6_WRITABLE) | DR6_FIXED1,
        7 => (v & DR7_WRITABLE) | DR7_FIXED1,
        _ => v,
    };
    // The run loop decides per block whether breakpoints need checking.
    cpu.end_block = true;
    Ok(())
}

fn set_edx_eax(cpu: &mut Cpu, v: u64) {
    cpu.state.set_r32(reg::RAX, v as u32);
    cpu.state.set_r32(reg::RDX, (v >> 32) as u32);
}

fn cpuid_(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let s = &mut cpu.state;
    let [a, b, c, d] = cpuid::cpuid(s.r32(reg::RAX), s.r32(reg::RCX));
    s.set_r32(reg::RAX, a);
    s.set_r32(reg::RBX, b);
    s.set_r32(reg::RCX, c);
    s.set_r32(reg::RDX, d);
    Ok(())
}

impl Cpu {
    /// The time-stamp counter: the machine's time in nanoseconds (a 1 GHz
    /// counter that, like a real constant-rate TSC, runs on while the CPU
    /// is halted) plus the offset that WRMSR to IA32_TIME_STAMP_COUNTER
    /// adjusts. Counting only retired instructions would let the TSC fall
    /// behind the timers during HLT, and Linux would mark it unstable.
    pub(crate) fn tsc(&self, env: &mut Env) -> u64 {
        self.state.msr.tsc_offset.wrapping_add(env.bus.time_ns(self.icount))
    }
}

fn rdtsc(cpu: &mut Cpu, env: &mut Env, _: &Instruction) -> Result<(), Fault> {
    if cpu.state.cr4 & cr4::TSD != 0 {
        require_cpl0(cpu)?;
    }
    let t = cpu.tsc(env);
    set_edx_eax(cpu, t);
    Ok(())
}

fn rdmsr(cpu: &mut Cpu, env: &mut Env, _: &Instruction) -> Result<(), Fault> {
    require_cpl0(cpu)?;
    let v = msr::read(&cpu.state, cpu.state.r32(reg::RCX), cpu.tsc(env)).ok_or(Fault::gp(0))?;
    set_edx_eax(cpu, v);
    Ok(())
}

fn wrmsr(cpu: &mut Cpu, env: &mut Env, _: &Instruction) -> Result<(), Fault> {
    require_cpl0(cpu)?;
    let tsc = cpu.tsc(env);
    let s = &cpu.state;
    let index = s.r32(reg::RCX);
    let value = u64::from(s.r32(reg::RDX)) << 32 | u64::from(s.r32(reg::RAX));
    let old_efer = s.efer;
    if !msr::write(&mut cpu.state, index, value, tsc) {
        return Err(Fault::gp(0));
    }
    if cpu.state.efer != old_efer {
        // EFER.NXE changes what a walk allows.
        cpu.tlb.flush_all();
    }
    cpu.end_block = true;
    Ok(())
}

/// RDPMC: the P6's two counters exist and count nothing.
fn rdpmc(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    if cpu.state.cr4 & cr4::PCE == 0 {
        require_cpl0(cpu)?;
    }
    if cpu.state.r32(reg::RCX) > 1 {
        return Err(Fault::gp(0));
    }
    set_edx_eax(cpu, 0);
    Ok(())
}

/// The flat 4 GiB segment SYSENTER/SYSEXIT load: base 0, G, D/B, present,
/// accessed, of type `ty` (code execute/read or data read/write) at `dpl`.
fn flat(selector: u16, ty: u16, dpl: u8) -> Segment {
    let a = attr::P | attr::S | attr::ACCESSED | attr::DB | attr::G | ty | (u16::from(dpl) << attr::DPL_SHIFT);
    Segment { base: 0, limit: 0xFFFF_FFFF, selector, attr: a }
}

/// SYSENTER: to ring 0 with segments derived from IA32_SYSENTER_CS, with
/// no descriptor read (the OS must make its GDT match).
fn sysenter(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let s = &cpu.state;
    let cs = (s.msr.sysenter_cs & 0xFFFC) as u16;
    if !s.protected() || cs == 0 {
        return Err(Fault::gp(0));
    }
    let flags = s.flags();
    let (esp, eip) = (s.msr.sysenter_esp & 0xFFFF_FFFF, s.msr.sysenter_eip & 0xFFFF_FFFF);
    cpu.state.set_flags(flags & !(fl::VM | fl::IF | fl::RF));
    cpu.state.seg[sreg::CS] = flat(cs, attr::CODE | attr::RW, 0);
    cpu.state.seg[sreg::SS] = flat(cs.wrapping_add(8), attr::RW, 0);
    cpu.set_cpl(0);
    cpu.state.gpr[reg::RSP] = esp;
    cpu.state.rip = eip;
    cpu.end_block = true;
    Ok(())
}

/// SYSEXIT: to ring 3 at EDX with ESP = ECX.
fn sysexit(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let s = &cpu.state;
    let base = (s.msr.sysenter_cs & 0xFFFC) as u16;
    if !s.protected() || base == 0 || s.v86() || s.cpl != 0 {
        return Err(Fault::gp(0));
    }
    let (esp, eip) = (s.gpr[reg::RCX] & 0xFFFF_FFFF, s.gpr[reg::RDX] & 0xFFFF_FFFF);
    cpu.state.seg[sreg::CS] = flat(base.wrapping_add(16) | 3, attr::CODE | attr::RW, 3);
    cpu.state.seg[sreg::SS] = flat(base.wrapping_add(24) | 3, attr::RW, 3);
    cpu.set_cpl(3);
    cpu.state.gpr[reg::RSP] = esp;
    cpu.state.rip = eip;
    cpu.end_block = true;
    Ok(())
}

/// INVLPG takes the linear address of its operand without segment limit
/// checks. The TLB holds 4 KiB pieces of large pages, and the instruction
/// must drop the whole large-page translation, so with PSE or PAE every
/// cached page of the surrounding 2/4 MiB region goes (dropping more than
/// needed is always allowed).
fn invlpg(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    require_cpl0(cpu)?;
    let (seg, off) = mem_operand(&cpu.state, i);
    let lin = cpu.state.seg[seg].base.wrapping_add(off) & 0xFFFF_FFFF;
    let cr4 = cpu.state.cr4;
    let region: u64 = if cr4 & cr4::PAE != 0 {
        2 << 20
    } else if cr4 & cr4::PSE != 0 {
        4 << 20
    } else {
        PAGE_SIZE
    };
    if region == PAGE_SIZE {
        cpu.tlb.flush_page(lin);
    } else {
        let start = lin & !(region - 1);
        for class in 0..2 {
            for n in 0..ironpc_mmu::TLB_ENTRIES {
                let tag = cpu.tlb.entries[class][n].tag;
                if tag & !(region - 1) == start {
                    cpu.tlb.flush_page(tag);
                }
            }
        }
    }
    cpu.end_block = true;
    Ok(())
}

/// INVD/WBINVD: there is no cache to write back or drop.
fn invd(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    require_cpl0(cpu)
}

fn hlt(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    require_cpl0(cpu)?;
    cpu.halted = true;
    cpu.end_block = true;
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::system::harness::*;
    use crate::{
        fault::vector as v,
        msr,
        state::{attr, cr0, cr4, fl, sreg, Segment},
        testing::*,
        RunExit,
    };

    const PD: u64 = 0x2_0000;
    const PT: u64 = 0x2_1000;
    /// A linear page the tests leave unmapped or remap.
    const HOLE: u64 = 0x30_0000;

    /// Page tables identity-mapping the first 4 MiB (supervisor, writable)
    /// except [`HOLE`], which is not present.
    fn identity_map(m: &mut TestMachine) {
        m.mem.write(PD, &(PT | 3).to_le_bytes()[..4]);
        for page in 0..1024u64 {
            let pte = if page << 12 == HOLE { 0 } else { (page << 12) | 3 };
            m.mem.write(PT + page * 4, &(pte as u32).to_le_bytes());
        }
    }

    fn paged() -> TestMachine {
        let mut m = TestMachine::flat32();
        with_handlers(&mut m);
        identity_map(&mut m);
        m.cpu.state.cr3 = PD;
        m.cpu.state.cr0 |= cr0::PG;
        m
    }

    #[test]
    fn mov_cr0_enables_paging_then_page_fault() {
        let mut m = TestMachine::flat32();
        with_handlers(&mut m);
        identity_map(&mut m);
        m.load(0x10_0010, &0xAABB_CCDDu32.to_le_bytes());
        let (vec, code) = fault(
            &mut m,
            &[
                0xB8, 0x00, 0x00, 0x02, 0x00, // mov eax, 0x20000
                0x0F, 0x22, 0xD8, // mov cr3, eax
                0xB8, 0x11, 0x00, 0x00, 0x80, // mov eax, 0x80000011 (PG, ET, PE)
                0x0F, 0x22, 0xC0, // mov cr0, eax
                0x8B, 0x1D, 0x10, 0x00, 0x10, 0x00, // mov ebx, [0x100010]
                0x8B, 0x1D, 0x10, 0x00, 0x30, 0x00, // mov ebx, [0x300010]
            ],
        );
        assert_eq!(m.cpu.state.cr3, PD);
        assert!(m.cpu.state.cr0 & cr0::PG != 0);
        assert_eq!(m.cpu.state.gpr[3], 0xAABB_CCDD, "identity-mapped read through paging");
        // Not present, read, supervisor.
        assert_eq!((vec, code), (v::PF, 0));
        assert_eq!(m.cpu.state.cr2, HOLE + 0x10);
        assert_eq!(m.read_u32(m.cpu.state.gpr[4] + 4), CODE_BASE as u32 + 22, "EIP of the faulting MOV");
    }

    #[test]
    fn cr3_reload_flushes_the_tlb() {
        let mut m = paged();
        m.mem.write(PT + (HOLE >> 12) * 4, &0x50_0003u32.to_le_bytes());
        m.load(0x50_0000, &0x1111_1111u32.to_le_bytes());
        m.load(0x60_0000, &0x2222_2222u32.to_le_bytes());
        m.load_code(&[
            0xA1, 0x00, 0x00, 0x30, 0x00, // mov eax, [0x300000]
            0xC7, 0x05, 0x00, 0x1C, 0x02, 0x00, 0x03, 0x00, 0x60, 0x00, // mov dword [0x21C00], 0x600003
            0x0F, 0x20, 0xD9, // mov ecx, cr3
            0x0F, 0x22, 0xD9, // mov cr3, ecx
            0x8B, 0x15, 0x00, 0x00, 0x30, 0x00, // mov edx, [0x300000]
        ]);
        m.run(5);
        assert_eq!(m.cpu.state.gpr[0], 0x1111_1111);
        assert_eq!(m.cpu.state.gpr[2], 0x2222_2222, "the new PTE is used after the CR3 load");
    }

    #[test]
    fn invlpg_flushes_one_page() {
        let mut m = paged();
        m.mem.write(PT + (HOLE >> 12) * 4, &0x50_0003u32.to_le_bytes());
        m.load(0x50_0000, &0x1111_1111u32.to_le_bytes());
        m.load(0x60_0000, &0x2222_2222u32.to_le_bytes());
        m.load_code(&[
            0xA1, 0x00, 0x00, 0x30, 0x00, // mov eax, [0x300000]
            0xC7, 0x05, 0x00, 0x1C, 0x02, 0x00, 0x03, 0x00, 0x60, 0x00, // mov dword [0x21C00], 0x600003
            0x0F, 0x01, 0x3D, 0x00, 0x00, 0x30, 0x00, // invlpg [0x300000]
            0x8B, 0x15, 0x00, 0x00, 0x30, 0x00, // mov edx, [0x300000]
        ]);
        m.run(4);
        assert_eq!(m.cpu.state.gpr[0], 0x1111_1111);
        assert_eq!(m.cpu.state.gpr[2], 0x2222_2222);
    }

    #[test]
    fn invlpg_drops_a_whole_large_page() {
        // A 4 MiB page at linear 4 MiB -> physical 8 MiB, then remapped to
        // 12 MiB; INVLPG names the page's first byte, the read another 4 KiB
        // piece of it.
        let mut m = paged();
        m.cpu.state.cr4 |= cr4::PSE;
        m.mem.write(PD + 4, &0x80_0083u32.to_le_bytes());
        m.load(0x80_5000, &0x1111_1111u32.to_le_bytes());
        m.load(0xC0_5000, &0x2222_2222u32.to_le_bytes());
        m.load_code(&[
            0xA1, 0x00, 0x50, 0x40, 0x00, // mov eax, [0x405000]
            0xC7, 0x05, 0x04, 0x00, 0x02, 0x00, 0x83, 0x00, 0xC0, 0x00, // mov dword [0x20004], 0xC00083
            0x0F, 0x01, 0x3D, 0x00, 0x00, 0x40, 0x00, // invlpg [0x400000]
            0x8B, 0x15, 0x00, 0x50, 0x40, 0x00, // mov edx, [0x405000]
        ]);
        m.run(4);
        assert_eq!(m.cpu.state.gpr[0], 0x1111_1111);
        assert_eq!(m.cpu.state.gpr[2], 0x2222_2222);
    }

    #[test]
    fn clearing_cr4_pge_flushes_global_pages() {
        let mut m = paged();
        m.cpu.state.cr4 |= cr4::PGE;
        m.mem.write(PT + (HOLE >> 12) * 4, &0x50_0103u32.to_le_bytes());
        m.load(0x50_0000, &0x1111_1111u32.to_le_bytes());
        m.load(0x60_0000, &0x2222_2222u32.to_le_bytes());
        m.cpu.state.gpr[6] = 0;
        m.load_code(&[
            0xA1, 0x00, 0x00, 0x30, 0x00, // mov eax, [0x300000]
            0xC7, 0x05, 0x00, 0x1C, 0x02, 0x00, 0x03, 0x01, 0x60, 0x00, // mov dword [0x21C00], 0x600103
            0x0F, 0x22, 0xE6, // mov cr4, esi
            0x8B, 0x15, 0x00, 0x00, 0x30, 0x00, // mov edx, [0x300000]
        ]);
        m.run(4);
        assert_eq!(m.cpu.state.gpr[0], 0x1111_1111);
        assert_eq!(m.cpu.state.gpr[2], 0x2222_2222);
    }

    /// A V86 task at 1000:0000 with ring-0 handlers for its faults.
    fn v86() -> TestMachine {
        let mut m = TestMachine::flat32();
        with_handlers(&mut m);
        let s = &mut m.cpu.state;
        for seg in &mut s.seg {
            *seg = Segment::real(0, 0xFFFF, attr::REAL_DATA | (3 << attr::DPL_SHIFT));
        }
        s.seg[sreg::CS] = Segment::real(0x1000, 0xFFFF, attr::REAL_DATA | (3 << attr::DPL_SHIFT));
        s.rip = 0;
        s.eflags |= u64::from(fl::VM);
        s.cpl = 3;
        m
    }

    #[test]
    fn v86_mode_rules() {
        // sldt ax, lldt ax, arpl: #UD; mov eax, cr0, hlt, mov eax, dr0,
        // lmsw ax, rdmsr: #GP(0).
        let cases: [(&[u8], u8); 8] = [
            (&[0x0F, 0x00, 0xC0], v::UD),
            (&[0x0F, 0x00, 0xD0], v::UD),
            (&[0x63, 0xD8], v::UD),
            (&[0x0F, 0x20, 0xC0], v::GP),
            (&[0xF4], v::GP),
            (&[0x0F, 0x21, 0xC0], v::GP),
            (&[0x0F, 0x01, 0xF0], v::GP),
            (&[0x0F, 0x32], v::GP),
        ];
        for (code, vec) in cases {
            let mut m = v86();
            m.load_code(code);
            m.run(10);
            assert_eq!(vector(&m), Some(vec), "{code:x?}");
            // The V86 frame: error code (for #GP), EIP 0, CS 0x1000.
            let frame = m.cpu.state.gpr[4] + if vec == v::GP { 4 } else { 0 };
            assert_eq!((m.read_u32(frame), m.read_u32(frame + 4)), (0, 0x1000), "{code:x?}");
        }
        // SGDT is allowed.
        let mut m = v86();
        m.load_code(&[0x0F, 0x01, 0x06, 0x00, 0x20]); // sgdt [0x2000]
        m.run(1);
        assert_eq!(m.read_u32(0x2002), GDT_BASE as u32);
        assert!(m.bus.outs.is_empty());
    }

    #[test]
    fn setting_cr0_wp_drops_cached_write_permission() {
        let mut m = paged();
        // Read-only supervisor page: writable at CPL 0 only while WP = 0.
        m.mem.write(PT + (HOLE >> 12) * 4, &0x50_0001u32.to_le_bytes());
        m.cpu.state.gpr[6] = m.cpu.state.cr0 | cr0::WP;
        let (vec, code) = fault(
            &mut m,
            &[
                0xA3, 0x00, 0x00, 0x30, 0x00, // mov [0x300000], eax
                0x0F, 0x22, 0xC6, // mov cr0, esi
                0xA3, 0x04, 0x00, 0x30, 0x00, // mov [0x300004], eax
            ],
        );
        // Present, write, supervisor.
        assert_eq!((vec, code), (v::PF, 3));
        assert_eq!(m.cpu.state.cr2, HOLE + 4);
    }

    #[test]
    fn privileged_instructions_fault_at_cpl3() {
        // mov eax, cr0; mov cr4, eax; mov eax, dr7; wbinvd; invlpg [0];
        // rdmsr; clts; hlt; lmsw ax; lidt [0]
        let insns: [&[u8]; 10] = [
            &[0x0F, 0x20, 0xC0],
            &[0x0F, 0x22, 0xE0],
            &[0x0F, 0x21, 0xF8],
            &[0x0F, 0x09],
            &[0x0F, 0x01, 0x3D, 0x00, 0x00, 0x00, 0x00],
            &[0x0F, 0x32],
            &[0x0F, 0x06],
            &[0xF4],
            &[0x0F, 0x01, 0xF0],
            &[0x0F, 0x01, 0x1D, 0x00, 0x00, 0x00, 0x00],
        ];
        for code in insns {
            let mut m = TestMachine::flat32();
            with_handlers(&mut m);
            m.load_segments(sel::CODE32_USER, sel::DATA32_USER);
            assert_eq!(fault(&mut m, code), (v::GP, 0), "{code:x?}");
            // Delivered on the ring-0 stack: error code, EIP, CS, ...
            assert_eq!(m.cpu.state.gpr[4], RING0_STACK - 24);
            assert_eq!(m.read_u32(RING0_STACK - 20), CODE_BASE as u32);
            assert_eq!(m.read_u32(RING0_STACK - 16), u32::from(sel::CODE32_USER));
        }
    }

    #[test]
    fn mov_cr_checks() {
        let gp = |setup: &dyn Fn(&mut TestMachine), code: &[u8]| {
            let mut m = TestMachine::flat32();
            with_handlers(&mut m);
            setup(&mut m);
            fault(&mut m, code)
        };
        let mov_cr0_eax = [0x0F, 0x22, 0xC0];
        let mov_cr4_eax = [0x0F, 0x22, 0xE0];
        // PG without PE; NW without CD.
        assert_eq!(gp(&|m| m.cpu.state.gpr[0] = 0x8000_0000, &mov_cr0_eax), (v::GP, 0));
        assert_eq!(gp(&|m| m.cpu.state.gpr[0] = 0x2000_0001, &mov_cr0_eax), (v::GP, 0));
        // CR4 bits 11 (UMIP) and 13 (VMXE) are reserved on this model.
        assert_eq!(gp(&|m| m.cpu.state.gpr[0] = 1 << 13, &mov_cr4_eax), (v::GP, 0));
        assert_eq!(gp(&|m| m.cpu.state.gpr[0] = 1 << 11, &mov_cr4_eax), (v::GP, 0));
        // CR1 and CR5-7 do not exist.
        assert_eq!(gp(&|_| {}, &[0x0F, 0x22, 0xC8]).0, v::UD); // mov cr1, eax
        assert_eq!(gp(&|_| {}, &[0x0F, 0x20, 0xE8]).0, v::UD); // mov eax, cr5
                                                               // PAE paging with a reserved bit in a present PDPTE.
        let bad_pdpte = |m: &mut TestMachine| {
            m.mem.write(0x2_0000, &(0x2_1000u64 | 1 | (1 << 5)).to_le_bytes());
            m.cpu.state.cr3 = 0x2_0000;
            m.cpu.state.cr4 |= cr4::PAE;
            m.cpu.state.gpr[0] = (cr0::PG | cr0::PE | cr0::ET) as u32 as u64;
        };
        assert_eq!(gp(&bad_pdpte, &mov_cr0_eax), (v::GP, 0));
    }

    #[test]
    fn mov_cr_round_trip_and_reserved_cr0_bits() {
        let mut m = TestMachine::flat32();
        m.cpu.state.gpr[0] = 0x7FFF_FFFF & !(1 << 29) | (1 << 29); // every bit but PG
        m.cpu.state.gpr[1] = (cr4::PSE | cr4::PGE | cr4::TSD | cr4::DE | cr4::PCE | cr4::VME | cr4::PVI | cr4::PAE) as u32 as u64;
        m.load_code(&[
            0x0F, 0x22, 0xC0, // mov cr0, eax
            0x0F, 0x20, 0xC3, // mov ebx, cr0
            0x0F, 0x22, 0xE1, // mov cr4, ecx
            0x0F, 0x20, 0xE2, // mov edx, cr4
            0x0F, 0x22, 0xD0, // mov cr2, eax
            0x0F, 0x20, 0xD6, // mov esi, cr2
        ]);
        m.run(6);
        let s = &m.cpu.state;
        let cr0_expected = cr0::PE | cr0::MP | cr0::EM | cr0::TS | cr0::ET | cr0::NE | cr0::WP | cr0::AM | cr0::NW | cr0::CD;
        assert_eq!(s.gpr[3], cr0_expected, "reserved CR0 bits are ignored");
        assert_eq!(s.gpr[2], s.gpr[1]);
        assert_eq!(s.gpr[6], 0x7FFF_FFFF);
    }

    #[test]
    fn clearing_pe_returns_to_real_mode_at_cpl0() {
        let mut m = TestMachine::prot16();
        m.cpu.state.gpr[0] = 0x10;
        m.load_code(&[
            0x0F, 0x22, 0xC0, // mov cr0, eax
        ]);
        m.run(1);
        assert!(!m.cpu.state.protected());
        assert_eq!(m.cpu.state.cpl, 0);
        assert_eq!(m.cpu.state.rip, 0x8003);
    }

    #[test]
    fn debug_registers() {
        let mut m = TestMachine::flat32();
        with_handlers(&mut m);
        m.cpu.state.gpr[0] = 0xFFFF_FFFF;
        m.load_code(&[
            0x0F, 0x23, 0xE0, // mov dr4, eax  (= DR6 while CR4.DE = 0)
            0x0F, 0x21, 0xF3, // mov ebx, dr6
            0x0F, 0x21, 0xF9, // mov ecx, dr7
            0x0F, 0x23, 0xFE, // mov dr7, esi
            0x0F, 0x21, 0xEA, // mov edx, dr5
        ]);
        // Everything but GD; RW = 11 everywhere, so no code breakpoints.
        m.cpu.state.gpr[6] = 0xFFFF_DFFF;
        m.run(5);
        let s = &m.cpu.state;
        assert_eq!(s.gpr[3], 0xFFFF_EFFF, "DR6 bit 12 reads 0 on a P6");
        assert_eq!(s.gpr[1], 0x400);
        assert_eq!(s.gpr[2], 0xFFFF_07FF, "DR7 bits 11, 12, 14, 15 read 0, bit 10 reads 1");
        // GD is set now: the next access faults with DR6.BD, GD cleared.
        m.cpu.state.dr[6] = 0xFFFF_0FF0;
        m.cpu.state.dr[7] = 0x2400;
        m.cpu.state.rip = CODE_BASE;
        m.bus.outs.clear();
        let (vec, _) = fault(&mut m, &[0x0F, 0x21, 0xC0]); // mov eax, dr0
        assert_eq!(vec, v::DB);
        assert_eq!(m.cpu.state.dr[6], 0xFFFF_2FF0);
        assert_eq!(m.cpu.state.dr[7], 0x400);
        assert_eq!(m.read_u32(m.cpu.state.gpr[4]), CODE_BASE as u32, "#DB is a fault: EIP of the MOV");
        // General detect is checked before the privilege level.
        let mut m = TestMachine::flat32();
        with_handlers(&mut m);
        m.load_segments(sel::CODE32_USER, sel::DATA32_USER);
        m.cpu.state.dr[7] = 0x2400;
        assert_eq!(fault(&mut m, &[0x0F, 0x21, 0xC0]).0, v::DB); // mov eax, dr0
                                                                 // DR4 with CR4.DE: #UD.
        let mut m = TestMachine::flat32();
        with_handlers(&mut m);
        m.cpu.state.cr4 |= cr4::DE;
        assert_eq!(fault(&mut m, &[0x0F, 0x21, 0xE0]).0, v::UD); // mov eax, dr4
    }

    #[test]
    fn cpuid_reports_the_vendor() {
        let mut m = TestMachine::flat32();
        m.load_code(&[
            0xB8, 0x00, 0x00, 0x00, 0x00, // mov eax, 0
            0x0F, 0xA2, // cpuid
        ]);
        m.run(2);
        let s = &m.cpu.state;
        let mut v = Vec::new();
        for r in [3, 2, 1] {
            v.extend_from_slice(&s.r32(r).to_le_bytes());
        }
        assert_eq!(&v, b"GenuineIntel");
        assert!(s.r32(0) >= 1);
    }

    #[test]
    fn rdtsc_is_monotonic_and_tsd_protects_it() {
        let mut m = TestMachine::flat32();
        m.load_code(&[
            0x0F, 0x31, // rdtsc
            0x89, 0xC6, // mov esi, eax
            0x89, 0xD7, // mov edi, edx
            0x90, // nop
            0x0F, 0x31, // rdtsc
        ]);
        m.cpu.state.msr.tsc_offset = 0xFFFF_FFFE;
        m.run(5);
        let s = &m.cpu.state;
        let first = u64::from(s.r32(7)) << 32 | u64::from(s.r32(6));
        let second = u64::from(s.r32(2)) << 32 | u64::from(s.r32(0));
        assert!(second > first, "{first:#x} then {second:#x}");
        assert!(first >= 0xFFFF_FFFE);
        // CR4.TSD: #GP at CPL 3, allowed at CPL 0.
        let mut m = TestMachine::flat32();
        with_handlers(&mut m);
        m.cpu.state.cr4 |= cr4::TSD;
        m.load_segments(sel::CODE32_USER, sel::DATA32_USER);
        assert_eq!(fault(&mut m, &[0x0F, 0x31]), (v::GP, 0));
    }

    /// Runs WRMSR then RDMSR of `index` with `value`; returns EDX:EAX read.
    fn msr_round_trip(index: u32, value: u64) -> u64 {
        let mut m = TestMachine::flat32();
        let s = &mut m.cpu.state;
        s.set_r32(1, index);
        s.set_r32(0, value as u32);
        s.set_r32(2, (value >> 32) as u32);
        m.load_code(&[
            0x0F, 0x30, // wrmsr
            0xB8, 0x00, 0x00, 0x00, 0x00, // mov eax, 0
            0xBA, 0x00, 0x00, 0x00, 0x00, // mov edx, 0
            0x0F, 0x32, // rdmsr
        ]);
        assert_eq!(m.run(4), RunExit::Budget);
        u64::from(m.cpu.state.r32(2)) << 32 | u64::from(m.cpu.state.r32(0))
    }

    #[test]
    fn rdmsr_wrmsr() {
        assert_eq!(msr_round_trip(msr::IA32_MTRR_PHYSBASE0, 0x1234_5006), 0x1234_5006);
        assert_eq!(msr_round_trip(msr::IA32_MTRR_PHYSBASE0 + 1, 0xF_FFF0_0800), 0xF_FFF0_0800);
        assert_eq!(msr_round_trip(msr::IA32_MTRR_DEF_TYPE, 0xC06), 0xC06);
        assert_eq!(msr_round_trip(msr::IA32_SYSENTER_CS, 0x18), 0x18);
        assert_eq!(msr_round_trip(msr::IA32_SYSENTER_ESP, 0x7_0000), 0x7_0000);
        assert_eq!(msr_round_trip(msr::IA32_SYSENTER_EIP, 0xC010_0000), 0xC010_0000);
        // Unknown MSR, a reserved memory type, and RDMSR at CPL 3: #GP(0).
        for (index, value) in [(0x1234, 0), (msr::IA32_MTRR_DEF_TYPE, 2)] {
            let mut m = TestMachine::flat32();
            with_handlers(&mut m);
            m.cpu.state.set_r32(1, index);
            m.cpu.state.set_r32(0, value);
            assert_eq!(fault(&mut m, &[0x0F, 0x30]), (v::GP, 0), "wrmsr {index:#x}");
        }
        let mut m = TestMachine::flat32();
        with_handlers(&mut m);
        m.cpu.state.set_r32(1, 0x1234);
        assert_eq!(fault(&mut m, &[0x0F, 0x32]), (v::GP, 0));
    }

    #[test]
    fn efer_write_drops_cached_translations() {
        // PAE paging of the first 2 MiB; the page at 0x1F0000 has XD set,
        // which is legal with EFER.NXE and a reserved bit without it.
        let mut m = TestMachine::flat32();
        with_handlers(&mut m);
        m.mem.write(0x2_0000, &(0x2_1000u64 | 1).to_le_bytes());
        m.mem.write(0x2_1000, &(0x2_2000u64 | 3).to_le_bytes());
        for page in 0..512u64 {
            let xd = if page == 0x1F0 { 1 << 63 } else { 0 };
            m.mem.write(0x2_2000 + page * 8, &((page << 12) | 3 | xd).to_le_bytes());
        }
        let s = &mut m.cpu.state;
        s.cr3 = 0x2_0000;
        s.cr4 |= cr4::PAE;
        s.cr0 |= cr0::PG;
        s.efer = 1 << 11;
        let (vec, code) = fault(
            &mut m,
            &[
                0xA1, 0x00, 0x00, 0x1F, 0x00, // mov eax, [0x1F0000]
                0xB9, 0x80, 0x00, 0x00, 0xC0, // mov ecx, 0xC0000080
                0xB8, 0x00, 0x00, 0x00, 0x00, // mov eax, 0
                0xBA, 0x00, 0x00, 0x00, 0x00, // mov edx, 0
                0x0F, 0x30, // wrmsr
                0x8B, 0x1D, 0x00, 0x00, 0x1F, 0x00, // mov ebx, [0x1F0000]
            ],
        );
        assert_eq!(m.cpu.state.efer, 0);
        // Present, reserved bit: the cached translation was not used.
        assert_eq!((vec, code), (v::PF, 0x9));
        assert_eq!(m.cpu.state.cr2, 0x1F_0000);
    }

    #[test]
    fn rdpmc() {
        let mut m = TestMachine::flat32();
        m.cpu.state.gpr[0] = 0x1234;
        m.cpu.state.gpr[1] = 1;
        m.load_code(&[0x0F, 0x33]); // rdpmc
        m.run(1);
        assert_eq!((m.cpu.state.gpr[0], m.cpu.state.gpr[2]), (0, 0));
        // Counter 2 does not exist; CPL 3 without CR4.PCE faults, with it not.
        let mut m = TestMachine::flat32();
        with_handlers(&mut m);
        m.cpu.state.gpr[1] = 2;
        assert_eq!(fault(&mut m, &[0x0F, 0x33]), (v::GP, 0));
        let mut m = TestMachine::flat32();
        with_handlers(&mut m);
        m.load_segments(sel::CODE32_USER, sel::DATA32_USER);
        assert_eq!(fault(&mut m, &[0x0F, 0x33]), (v::GP, 0));
        let mut m = TestMachine::flat32();
        m.load_segments(sel::CODE32_USER, sel::DATA32_USER);
        m.cpu.state.cr4 |= cr4::PCE;
        m.load_code(&[0x0F, 0x33]);
        m.run(1);
        assert_eq!(m.cpu.state.rip, CODE_BASE + 2);
    }

    #[test]
    fn sysenter_to_ring0_and_sysexit_back() {
        const KERNEL: u64 = 0x1_2000;
        const USER_RET: u64 = 0x1_3000;
        let mut m = TestMachine::flat32();
        m.load_segments(sel::CODE32_USER, sel::DATA32_USER);
        {
            let s = &mut m.cpu.state;
            s.msr.sysenter_cs = u64::from(sel::CODE16); // 0x18: exit CS 0x2B, SS 0x33
            s.msr.sysenter_esp = RING0_STACK;
            s.msr.sysenter_eip = KERNEL;
            s.eflags |= u64::from(fl::IF);
        }
        m.load_code(&[0x0F, 0x34]); // sysenter
        m.load(
            KERNEL,
            &[
                0xB9, 0x00, 0x00, 0x06, 0x00, // mov ecx, 0x60000
                0xBA, 0x00, 0x30, 0x01, 0x00, // mov edx, 0x13000
                0x0F, 0x35, // sysexit
            ],
        );
        m.load(USER_RET, &[0x90]);
        m.run(1);
        let s = &m.cpu.state;
        assert_eq!((s.seg[sreg::CS].selector, s.seg[sreg::SS].selector, s.cpl), (0x18, 0x20, 0));
        assert!(s.code32() && s.stack32(), "flat 32-bit segments whatever the GDT says");
        assert_eq!((s.rip, s.gpr[4]), (KERNEL, RING0_STACK));
        assert_eq!(s.flags() & fl::IF, 0);
        m.run(3);
        let s = &m.cpu.state;
        assert_eq!((s.seg[sreg::CS].selector, s.seg[sreg::SS].selector, s.cpl), (0x2B, 0x33, 3));
        assert_eq!((s.seg[sreg::CS].dpl(), s.seg[sreg::SS].dpl()), (3, 3));
        assert_eq!((s.rip, s.gpr[4]), (USER_RET, 0x6_0000));
    }

    #[test]
    fn sysenter_sysexit_faults() {
        // SYSENTER_CS = 0: #GP(0).
        let mut m = TestMachine::flat32();
        with_handlers(&mut m);
        assert_eq!(fault(&mut m, &[0x0F, 0x34]), (v::GP, 0));
        // SYSEXIT at CPL 3: #GP(0).
        let mut m = TestMachine::flat32();
        with_handlers(&mut m);
        m.cpu.state.msr.sysenter_cs = 0x08;
        m.load_segments(sel::CODE32_USER, sel::DATA32_USER);
        assert_eq!(fault(&mut m, &[0x0F, 0x35]), (v::GP, 0));
        // SYSENTER in real mode: #GP(0) through the IVT.
        let mut m = TestMachine::real();
        m.cpu.state.msr.sysenter_cs = 0x08;
        m.load(13 * 4, &[0x00, 0x06, 0x00, 0x00]);
        m.load(0x600, &[0xF4]);
        m.load_code(&[0x0F, 0x34]);
        assert_eq!(m.run(5), RunExit::Halted);
        assert_eq!(m.cpu.state.rip, 0x601);
    }

    #[test]
    fn hlt_stops_the_run_loop_until_an_interrupt() {
        let mut m = TestMachine::flat32();
        with_handlers(&mut m);
        m.cpu.state.eflags |= u64::from(fl::IF);
        m.load_code(&[
            0xF4, // hlt
            0x90, // nop
        ]);
        assert_eq!(m.run(100), RunExit::Halted);
        assert!(m.cpu.halted);
        assert_eq!(m.cpu.state.rip, CODE_BASE + 1);
        // Nothing pending: still halted.
        assert_eq!(m.run(100), RunExit::Halted);
        assert!(m.bus.outs.is_empty());
        // An interrupt wakes it; the handler (which halts again) returns to
        // the instruction after HLT.
        m.bus.irq = Some(0x20);
        assert_eq!(m.run(100), RunExit::Halted);
        assert_eq!(vector(&m), Some(0x20));
        assert_eq!(m.read_u32(m.cpu.state.gpr[4]), CODE_BASE as u32 + 1);
    }

    #[test]
    fn ud_instructions() {
        // ud2; ud1 eax, eax; ud0 eax, eax
        for code in [&[0x0F, 0x0B][..], &[0x0F, 0xB9, 0xC0], &[0x0F, 0xFF, 0xC0]] {
            let mut m = TestMachine::flat32();
            with_handlers(&mut m);
            m.load_code(code);
            m.run(10);
            assert_eq!(vector(&m), Some(v::UD), "{code:x?}");
            assert_eq!(m.read_u32(m.cpu.state.gpr[4]), CODE_BASE as u32);
        }
    }

    #[test]
    fn cr4_mask_follows_cpuid() {
        let valid = super::cr4_valid();
        assert_ne!(valid & cr4::OSFXSR, 0, "FXSR advertised");
        let sse = crate::cpuid::FEATURES_EDX & crate::cpuid::edx1::SSE != 0;
        assert_eq!(valid & cr4::OSXMMEXCPT != 0, sse, "OSXMMEXCPT exactly when SSE is advertised");
        assert_eq!(valid & !(cr4::OSFXSR | cr4::OSXMMEXCPT), 0x1FF, "VME PVI TSD DE PSE PAE MCE PGE PCE");
    }
}

/// WAIT/FWAIT: #NM when CR0.MP and CR0.TS are both set (so a lazy FPU
/// context switch catches it); otherwise it reports a pending unmasked
/// x87 exception (#MF).
fn wait(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let c = cpu.state.cr0;
    if c & cr0::MP != 0 && c & cr0::TS != 0 {
        return Err(Fault::NM);
    }
    cpu.check_x87_pending()
}

#[cfg(test)]
mod wait_tests {
    use crate::{fault::Fault, state::cr0, testing::TestMachine};

    #[test]
    fn wait_faults_only_with_mp_and_ts() {
        for (bits, nm) in [(0, false), (cr0::TS, false), (cr0::MP, false), (cr0::MP | cr0::TS, true)] {
            let mut m = TestMachine::flat32();
            m.cpu.state.cr0 |= bits;
            m.set_int_gate(0x4000, Fault::NM.vector, 0x5000, 0);
            m.load_code(&[0x9B]); // wait
            m.run(1);
            let expected = if nm { 0x5000 } else { crate::testing::CODE_BASE + 1 };
            assert_eq!(m.cpu.state.rip, expected, "CR0 bits {bits:#x}");
        }
    }
}
