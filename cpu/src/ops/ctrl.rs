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
/// CPUID.1:EDX bits that enable CR4 bits (not in `cpuid::edx1` yet).
const EDX1_MCE: u32 = 1 << 7;
const EDX1_FXSR: u32 = 1 << 24;
const EDX1_SSE: u32 = 1 << 25;

/// The CR4 bits this model has: derived from what CPUID advertises, so a
/// feature added there becomes settable here. PCE exists on every P6.
fn cr4_valid() -> u64 {
    let f = cpuid::FEATURES_EDX;
    let mut v = cr4::PCE;
    for (feature, bits) in [
        (edx1::VME, cr4::VME | cr4::PVI),
        (edx1::TSC, cr4::TSD),
        (edx1::DE, cr4::DE),
        (edx1::PSE, cr4::PSE),
        (edx1::PAE, cr4::PAE),
        (EDX1_MCE, cr4::MCE),
        (edx1::PGE, cr4::PGE),
        (EDX1_FXSR, cr4::OSFXSR),
        (EDX1_SSE, cr4::OSXMMEXCPT),
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
        if (old ^ new) & cr0::PG != 0 {
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

/// The debug register a MOV DR names, after the checks every access makes:
/// #UD for DR8+ and (with CR4.DE) DR4/DR5, which otherwise alias DR6/DR7;
/// #GP(0) above CPL 0; #DB with DR6.BD while DR7.GD is set. The processor
/// clears GD on that #DB so the handler can use the debug registers.
fn dr_access(cpu: &mut Cpu, r: Register) -> Result<usize, Fault> {
    let n = (r as usize).wrapping_sub(Register::DR0 as usize);
    let n = match n {
        0..=3 | 6 | 7 => n,
        4 | 5 if cpu.state.cr4 & cr4::DE == 0 => n + 2,
        _ => return Err(Fault::UD),
    };
    require_cpl0(cpu)?;
    if cpu.state.dr[7] & DR7_GD != 0 {
        cpu.state.dr[6] |= DR6_BD;
        cpu.state.dr[7] &= !DR7_GD;
        return Err(Fault::DB);
    }
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
    /// The time-stamp counter: retired instructions plus the offset that
    /// WRMSR to IA32_TIME_STAMP_COUNTER adjusts.
    pub(crate) fn tsc(&self) -> u64 {
        self.state.msr.tsc_offset.wrapping_add(self.icount)
    }
}

fn rdtsc(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    if cpu.state.cr4 & cr4::TSD != 0 {
        require_cpl0(cpu)?;
    }
    let t = cpu.tsc();
    set_edx_eax(cpu, t);
    Ok(())
}

fn rdmsr(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    require_cpl0(cpu)?;
    let v = msr::read(&cpu.state, cpu.state.r32(reg::RCX), cpu.tsc()).ok_or(Fault::gp(0))?;
    set_edx_eax(cpu, v);
    Ok(())
}

fn wrmsr(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    require_cpl0(cpu)?;
    let s = &cpu.state;
    let index = s.r32(reg::RCX);
    let value = u64::from(s.r32(reg::RDX)) << 32 | u64::from(s.r32(reg::RAX));
    let old_efer = s.efer;
    let tsc = cpu.tsc();
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
