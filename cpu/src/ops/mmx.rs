//! MMX technology (SDM vol. 1 ch. 9, vol. 2 instruction pages) and the
//! SSE/SSE2 integer instructions that operate on MMX registers (vol. 1
//! 10.4.4, 11.4.2).
//!
//! MMi is the significand of x87 physical register Ri (vol. 1 9.5): every
//! MMX instruction except EMMS sets TOP to 0 and all tags valid, and a
//! write to MMi sets Ri's sign/exponent field to all ones, so that x87 code
//! reading an MMX value sees a NaN. EMMS empties the tag word.

use super::{packed, *};
use crate::state::reg;
use iced_x86::{Code::*, Register};

pub(super) fn register(t: &mut Table) {
    t.set_all(
        &[
            Paddb_mm_mmm64,
            Paddw_mm_mmm64,
            Paddd_mm_mmm64,
            Paddq_mm_mmm64,
            Psubb_mm_mmm64,
            Psubw_mm_mmm64,
            Psubd_mm_mmm64,
            Psubq_mm_mmm64,
            Paddsb_mm_mmm64,
            Paddsw_mm_mmm64,
            Psubsb_mm_mmm64,
            Psubsw_mm_mmm64,
            Paddusb_mm_mmm64,
            Paddusw_mm_mmm64,
            Psubusb_mm_mmm64,
            Psubusw_mm_mmm64,
            Pmullw_mm_mmm64,
            Pmulhw_mm_mmm64,
            Pmulhuw_mm_mmm64,
            Pmuludq_mm_mmm64,
            Pmaddwd_mm_mmm64,
            Pcmpeqb_mm_mmm64,
            Pcmpeqw_mm_mmm64,
            Pcmpeqd_mm_mmm64,
            Pcmpgtb_mm_mmm64,
            Pcmpgtw_mm_mmm64,
            Pcmpgtd_mm_mmm64,
            Packsswb_mm_mmm64,
            Packssdw_mm_mmm64,
            Packuswb_mm_mmm64,
            Punpckhbw_mm_mmm64,
            Punpckhwd_mm_mmm64,
            Punpckhdq_mm_mmm64,
            Pand_mm_mmm64,
            Pandn_mm_mmm64,
            Por_mm_mmm64,
            Pxor_mm_mmm64,
            Psllw_mm_mmm64,
            Pslld_mm_mmm64,
            Psllq_mm_mmm64,
            Psrlw_mm_mmm64,
            Psrld_mm_mmm64,
            Psrlq_mm_mmm64,
            Psraw_mm_mmm64,
            Psrad_mm_mmm64,
            Psllw_mm_imm8,
            Pslld_mm_imm8,
            Psllq_mm_imm8,
            Psrlw_mm_imm8,
            Psrld_mm_imm8,
            Psrlq_mm_imm8,
            Psraw_mm_imm8,
            Psrad_mm_imm8,
            Pavgb_mm_mmm64,
            Pavgw_mm_mmm64,
            Pminub_mm_mmm64,
            Pmaxub_mm_mmm64,
            Pminsw_mm_mmm64,
            Pmaxsw_mm_mmm64,
            Psadbw_mm_mmm64,
        ],
        binop::<8>,
    );
    // The low unpacks read only the low half of a memory source.
    t.set_all(&[Punpcklbw_mm_mmm32, Punpcklwd_mm_mmm32, Punpckldq_mm_mmm32], binop::<4>);
    t.set(Movd_mm_rm32, movd_load);
    t.set(Movd_rm32_mm, movd_store);
    t.set(Movq_mm_mmm64, movq_load);
    t.set_all(&[Movq_mmm64_mm, Movntq_m64_mm], movq_store);
    t.set(Emms, emms);
    t.set(Pshufw_mm_mmm64_imm8, pshufw);
    t.set(Pinsrw_mm_r32m16_imm8, pinsrw);
    t.set(Pextrw_r32_mm_imm8, pextrw);
    t.set(Pmovmskb_r32_mm, pmovmskb);
    t.set(Maskmovq_rDI_mm_mm, maskmovq);
}

/// Physical register number of an MMX register operand.
#[inline(always)]
pub(crate) fn mm_index(r: Register) -> usize {
    (r as usize).wrapping_sub(Register::MM0 as usize) & 7
}

/// The x87 status word's TOP field.
const FSW_TOP: u16 = 7 << 11;

impl Cpu {
    /// The gate of every instruction that uses MMX registers: #UD with
    /// CR0.EM, #NM with CR0.TS, then a pending x87 exception (#MF).
    #[inline]
    pub(crate) fn mmx_gate(&mut self) -> Result<(), Fault> {
        self.check_mmx()?;
        self.check_x87_pending()
    }

    /// The x87 state change of an MMX instruction (SDM vol. 1 table 9-2),
    /// made once the instruction can no longer fault.
    #[inline]
    pub(crate) fn mmx_transition(&mut self) {
        self.state.fpu.fsw &= !FSW_TOP;
        self.state.fpu.ftw = 0;
    }

    /// MMi.
    #[inline]
    pub(crate) fn mm(&self, n: usize) -> u64 {
        self.state.fpu.regs[n & 7].signif
    }

    /// Writes MMi; the exponent field becomes all ones.
    #[inline]
    pub(crate) fn set_mm(&mut self, n: usize, v: u64) {
        let r = &mut self.state.fpu.regs[n & 7];
        r.signif = v;
        r.sign_exp = 0xFFFF;
    }
}

/// Operand `n` as a 64-bit MMX source: MMX register, `M`-byte memory or
/// immediate.
fn mm_src<const M: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction, n: u32) -> Result<u64, Fault> {
    match i.op_kind(n) {
        OpKind::Register => Ok(cpu.mm(mm_index(i.op_register(n)))),
        OpKind::Memory => {
            let (seg, off) = mem_operand(&cpu.state, i);
            cpu.read::<M>(env, seg, off)
        }
        _ => Ok(i.immediate(n)),
    }
}

/// Two-operand packed operations and the shifts by register, memory or
/// imm8 count.
fn binop<const M: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.mmx_gate()?;
    let f = packed::binop(i.mnemonic()).ok_or(Fault::UD)?;
    let b = mm_src::<M>(cpu, env, i, 1)?;
    let d = mm_index(i.op0_register());
    let r = f(u128::from(cpu.mm(d)), u128::from(b), 8) as u64;
    cpu.mmx_transition();
    cpu.set_mm(d, r);
    Ok(())
}

/// MOVD mm, r/m32: zero-extends.
fn movd_load(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.mmx_gate()?;
    let v = read_op::<4>(cpu, env, i, 1)? & 0xFFFF_FFFF;
    cpu.mmx_transition();
    cpu.set_mm(mm_index(i.op0_register()), v);
    Ok(())
}

/// MOVD r/m32, mm.
fn movd_store(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.mmx_gate()?;
    let v = cpu.mm(mm_index(i.op1_register())) & 0xFFFF_FFFF;
    write_op0::<4>(cpu, env, i, v)?;
    cpu.mmx_transition();
    Ok(())
}

/// MOVQ mm, mm/m64.
fn movq_load(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.mmx_gate()?;
    let v = mm_src::<8>(cpu, env, i, 1)?;
    cpu.mmx_transition();
    cpu.set_mm(mm_index(i.op0_register()), v);
    Ok(())
}

/// MOVQ mm/m64, mm and MOVNTQ m64, mm (the non-temporal hint changes
/// nothing an emulator can observe).
fn movq_store(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.mmx_gate()?;
    let v = cpu.mm(mm_index(i.op1_register()));
    if i.op0_kind() == OpKind::Register {
        cpu.mmx_transition();
        cpu.set_mm(mm_index(i.op0_register()), v);
        return Ok(());
    }
    let (seg, off) = mem_operand(&cpu.state, i);
    cpu.write::<8>(env, seg, off, v)?;
    cpu.mmx_transition();
    Ok(())
}

/// EMMS: all tags empty, so x87 code can use the stack again.
fn emms(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    cpu.mmx_gate()?;
    cpu.state.fpu.ftw = 0xFFFF;
    Ok(())
}

fn pshufw(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.mmx_gate()?;
    let v = mm_src::<8>(cpu, env, i, 1)?;
    cpu.mmx_transition();
    cpu.set_mm(mm_index(i.op0_register()), packed::shuffle_words(v, i.immediate8()));
    Ok(())
}

/// PINSRW mm, r32/m16, imm8: the word slot is imm8 mod 4.
fn pinsrw(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.mmx_gate()?;
    let w = read_op::<2>(cpu, env, i, 1)? & 0xFFFF;
    let sh = u32::from(i.immediate8() & 3) * 16;
    let d = mm_index(i.op0_register());
    let v = (cpu.mm(d) & !(0xFFFF << sh)) | (w << sh);
    cpu.mmx_transition();
    cpu.set_mm(d, v);
    Ok(())
}

/// PEXTRW r32, mm, imm8: zero-extended.
fn pextrw(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.mmx_gate()?;
    let sh = u32::from(i.immediate8() & 3) * 16;
    let v = (cpu.mm(mm_index(i.op1_register())) >> sh) & 0xFFFF;
    cpu.mmx_transition();
    reg_write(&mut cpu.state, i.op0_register(), v);
    Ok(())
}

fn pmovmskb(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.mmx_gate()?;
    let v = packed::movmskb(u128::from(cpu.mm(mm_index(i.op1_register()))), 8);
    cpu.mmx_transition();
    reg_write(&mut cpu.state, i.op0_register(), u64::from(v));
    Ok(())
}

/// The implicit DS:(E)DI destination of MASKMOVQ/MASKMOVDQU (segment
/// override allowed; the address size picks DI or EDI).
pub(crate) fn rdi_operand(cpu: &Cpu, i: &Instruction) -> (usize, u64) {
    let di = cpu.state.gpr[reg::RDI];
    let off = if i.op0_kind() == OpKind::MemorySegDI { di & 0xFFFF } else { di & 0xFFFF_FFFF };
    (seg_index(i.memory_segment()), off)
}

/// Stores the bytes of `data` whose `mask` byte has its top bit set, at
/// `seg:off`. The whole `n`-byte range is checked first, so a fault writes
/// nothing; an all-zero mask touches no memory (hardware may or may not
/// fault then; not faulting is the permitted choice that never breaks a
/// guest).
pub(crate) fn masked_store(
    cpu: &mut Cpu,
    env: &mut Env,
    seg: usize,
    off: u64,
    data: u128,
    mask: u128,
    n: usize,
) -> Result<(), Fault> {
    let bits = packed::movmskb(mask, n);
    if bits == 0 {
        return Ok(());
    }
    let lin = cpu.seg_lin(seg, off, n as u32, true)?;
    let user = cpu.user();
    cpu.probe_write(env, lin, n, user)?;
    for k in 0..n {
        if bits & (1 << k) != 0 {
            cpu.write_lin::<1>(env, (lin + k as u64) & 0xFFFF_FFFF, (data >> (k * 8)) as u64 & 0xFF, user)?;
        }
    }
    Ok(())
}

/// MASKMOVQ mm1, mm2: byte-masked store of mm1 under the mask in mm2.
fn maskmovq(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.mmx_gate()?;
    let data = cpu.mm(mm_index(i.op1_register()));
    let mask = cpu.mm(mm_index(i.op2_register()));
    let (seg, off) = rdi_operand(cpu, i);
    masked_store(cpu, env, seg, off, u128::from(data), u128::from(mask), 8)?;
    cpu.mmx_transition();
    Ok(())
}

#[cfg(test)]
pub(super) mod tests {
    use super::super::system::harness::*;
    use crate::{
        fault::vector as v,
        fpstate::F80,
        state::{cr0, cr4},
        testing::*,
    };
    use iced_x86::code_asm::*;

    /// Assembles 32-bit code at CODE_BASE.
    pub fn asm(f: impl FnOnce(&mut CodeAssembler) -> Result<(), IcedError>) -> Vec<u8> {
        let mut a = CodeAssembler::new(32).expect("32-bit assembler");
        f(&mut a).expect("valid instructions");
        a.assemble(CODE_BASE).expect("assembles")
    }

    /// A flat 32-bit machine with SSE enabled by the OS and fault handlers.
    pub fn machine() -> TestMachine {
        let mut m = TestMachine::flat32();
        m.cpu.state.cr4 |= cr4::OSFXSR;
        with_handlers(&mut m);
        m
    }

    /// Turns on paging that identity-maps the first 4 MiB, except the
    /// page at `hole`, which is not present.
    pub fn paging_with_hole(m: &mut TestMachine, hole: u64) {
        let (pd, pt) = (0x2_0000u64, 0x2_1000u64);
        m.mem.write(pd, &((pt as u32) | 3).to_le_bytes());
        for page in 0..1024u64 {
            let pte = if page << 12 == hole { 0 } else { (page << 12) as u32 | 3 };
            m.mem.write(pt + page * 4, &pte.to_le_bytes());
        }
        m.cpu.state.cr3 = pd;
        m.cpu.state.cr0 |= cr0::PG;
    }

    /// Runs `code` (n instructions).
    fn run(m: &mut TestMachine, code: &[u8], n: u64) {
        m.load_code(code);
        m.run(n);
    }

    #[test]
    fn mmx_instruction_sets_top_zero_tags_valid_and_exponent_ones() {
        let mut m = machine();
        let f = &mut m.cpu.state.fpu;
        f.fsw = 5 << 11;
        f.ftw = 0xFFFF;
        f.regs[2] = F80 { signif: 0x1234, sign_exp: 0x3FFF };
        m.cpu.state.gpr[0] = 0xDEAD_BEEF;
        run(&mut m, &asm(|a| a.movd(mm2, eax)), 1);
        let f = &m.cpu.state.fpu;
        assert_eq!(f.fsw >> 11 & 7, 0, "TOP = 0");
        assert_eq!(f.ftw, 0, "all tags valid");
        assert_eq!(f.regs[2], F80 { signif: 0xDEAD_BEEF, sign_exp: 0xFFFF });
        // EMMS empties the tags and leaves TOP alone.
        run(&mut m, &asm(|a| a.emms()), 1);
        assert_eq!(m.cpu.state.fpu.ftw, 0xFFFF);
        assert_eq!(m.cpu.state.fpu.regs[2].signif, 0xDEAD_BEEF);
    }

    #[test]
    fn a_store_does_not_touch_the_exponent_of_its_source() {
        let mut m = machine();
        m.cpu.state.fpu.regs[3] = F80 { signif: 0x1111_2222_3333_4444, sign_exp: 0x4000 };
        m.cpu.state.fpu.fsw = 3 << 11;
        run(&mut m, &asm(|a| a.movq(qword_ptr(0x2000), mm3)), 1);
        assert_eq!(m.read_phys(0x2000, 8), 0x1111_2222_3333_4444u64.to_le_bytes());
        assert_eq!(m.cpu.state.fpu.regs[3].sign_exp, 0x4000);
        assert_eq!(m.cpu.state.fpu.fsw >> 11 & 7, 0, "but TOP still becomes 0");
    }

    #[test]
    fn arithmetic_through_memory_and_registers() {
        let mut m = machine();
        m.load(0x2000, &0x7FFF_0001_8000_00FFu64.to_le_bytes());
        m.load(0x2010, &[0x11, 0x22, 0x33, 0x44, 0xAA, 0xBB, 0xCC, 0xDD]);
        let code = asm(|a| {
            a.movq(mm0, qword_ptr(0x2000))?;
            a.movq(mm1, mm0)?;
            a.paddsw(mm1, qword_ptr(0x2000))?; // 7FFF+7FFF, 1+1, 8000+8000, FF+FF
            a.pxor(mm2, mm2)?;
            a.punpcklbw(mm2, dword_ptr(0x2010))?; // reads 4 bytes only
            a.psrlq(mm0, 32)?;
            a.movd(ebx, mm0)
        });
        run(&mut m, &code, 7);
        let s = &m.cpu.state;
        assert_eq!(s.fpu.regs[1].signif, 0x7FFF_0002_8000_01FE);
        assert_eq!(s.fpu.regs[2].signif, 0x4400_3300_2200_1100);
        assert_eq!(s.gpr[3], 0x7FFF_0001);
    }

    #[test]
    fn pshufw_pinsrw_pextrw_pmovmskb() {
        let mut m = machine();
        m.cpu.state.fpu.regs[1].signif = 0x4444_3333_2222_1111;
        m.cpu.state.gpr[0] = 0xFFFF_ABCD;
        let code = asm(|a| {
            a.pshufw(mm0, mm1, 0x1B)?;
            a.pinsrw(mm0, eax, 6)?; // slot 6 mod 4 = 2
            a.pextrw(ecx, mm0, 2)?;
            a.pmovmskb(edx, mm0)
        });
        run(&mut m, &code, 4);
        let s = &m.cpu.state;
        assert_eq!(s.fpu.regs[0].signif, 0x1111_ABCD_3333_4444);
        assert_eq!(s.gpr[1], 0xABCD);
        assert_eq!(s.gpr[2], 0b0011_0000, "bytes 4 and 5 (0xCD, 0xAB) have their top bit set");
    }

    #[test]
    fn maskmovq_writes_only_selected_bytes_at_ds_edi() {
        let mut m = machine();
        m.load(0x3000, &[0xEE; 8]);
        m.cpu.state.gpr[7] = 0x3000;
        m.cpu.state.fpu.regs[0].signif = 0x8877_6655_4433_2211;
        m.cpu.state.fpu.regs[1].signif = 0x8000_0080_FF00_7F80;
        run(&mut m, &asm(|a| a.maskmovq(mm0, mm1)), 1);
        assert_eq!(m.read_phys(0x3000, 8), [0x11, 0xEE, 0xEE, 0x44, 0x55, 0xEE, 0xEE, 0x88]);
    }

    #[test]
    fn gates_em_ts_and_pending_x87_exception() {
        let code = asm(|a| a.paddb(mm0, mm1));
        let mut m = machine();
        m.cpu.state.cr0 |= cr0::EM;
        assert_eq!(fault(&mut m, &code).0, v::UD);
        let mut m = machine();
        m.cpu.state.cr0 |= cr0::TS;
        assert_eq!(fault(&mut m, &code).0, v::NM);
        let mut m = machine();
        m.cpu.state.cr0 |= cr0::NE;
        m.cpu.state.fpu.fsw = 0x80 | 0x01 | (6 << 11);
        assert_eq!(fault(&mut m, &code).0, v::MF);
        assert_eq!(m.cpu.state.fpu.fsw >> 11 & 7, 6, "a faulting MMX instruction leaves TOP alone");
        // MMX does not need CR4.OSFXSR.
        let mut m = machine();
        m.cpu.state.cr4 = 0;
        m.cpu.state.fpu.regs[1].signif = 5;
        run(&mut m, &code, 1);
        assert_eq!(m.cpu.state.fpu.regs[0].signif, 5);
    }

    #[test]
    fn a_faulting_load_changes_no_x87_state() {
        let mut m = machine();
        m.cpu.state.fpu.fsw = 4 << 11;
        m.cpu.state.fpu.ftw = 0xFFFF;
        // A read past the 4 GiB limit of DS (offset 0xFFFFFFFC + 8).
        let (vec, _) = fault(&mut m, &asm(|a| a.movq(mm0, qword_ptr(0xFFFF_FFFCu32))));
        assert_eq!(vec, v::GP);
        assert_eq!((m.cpu.state.fpu.fsw, m.cpu.state.fpu.ftw), (4 << 11, 0xFFFF));
    }
}

/// The host CPU as the oracle for the 64-bit forms: each MMX operation
/// runs in ironpc and natively (inline assembly; std::arch has no MMX
/// intrinsics) on the same inputs.
#[cfg(all(test, target_arch = "x86_64"))]
mod host_tests {
    use super::tests::*;
    use crate::testing::{Rng, CODE_BASE};
    use iced_x86::code_asm::*;

    type Asm = fn(&mut CodeAssembler) -> Result<(), IcedError>;
    type Host = fn(u64, u64) -> u64;

    /// `op mm0, mm1` on the host: returns mm0.
    macro_rules! host {
        ($op:literal) => {
            |a: u64, b: u64| -> u64 {
                let r: u64;
                // SAFETY: MMX exists on every x86-64 CPU; the block touches
                // only mm0/mm1 (declared clobbered) and leaves the x87 tags
                // empty again with EMMS, as Rust's inline assembly requires.
                unsafe {
                    std::arch::asm!(
                        "movq mm0, {a}",
                        "movq mm1, {b}",
                        $op,
                        "movq {r}, mm0",
                        "emms",
                        a = in(reg) a,
                        b = in(reg) b,
                        r = lateout(reg) r,
                        out("mm0") _,
                        out("mm1") _,
                        options(nostack, nomem),
                    );
                }
                r
            }
        };
    }

    const CASES: &[(&str, Asm, Host)] = &[
        ("paddb", |a| a.paddb(mm0, mm1), host!("paddb mm0, mm1")),
        ("paddw", |a| a.paddw(mm0, mm1), host!("paddw mm0, mm1")),
        ("paddd", |a| a.paddd(mm0, mm1), host!("paddd mm0, mm1")),
        ("paddq", |a| a.paddq(mm0, mm1), host!("paddq mm0, mm1")),
        ("psubb", |a| a.psubb(mm0, mm1), host!("psubb mm0, mm1")),
        ("psubw", |a| a.psubw(mm0, mm1), host!("psubw mm0, mm1")),
        ("psubd", |a| a.psubd(mm0, mm1), host!("psubd mm0, mm1")),
        ("psubq", |a| a.psubq(mm0, mm1), host!("psubq mm0, mm1")),
        ("paddsb", |a| a.paddsb(mm0, mm1), host!("paddsb mm0, mm1")),
        ("paddsw", |a| a.paddsw(mm0, mm1), host!("paddsw mm0, mm1")),
        ("psubsb", |a| a.psubsb(mm0, mm1), host!("psubsb mm0, mm1")),
        ("psubsw", |a| a.psubsw(mm0, mm1), host!("psubsw mm0, mm1")),
        ("paddusb", |a| a.paddusb(mm0, mm1), host!("paddusb mm0, mm1")),
        ("paddusw", |a| a.paddusw(mm0, mm1), host!("paddusw mm0, mm1")),
        ("psubusb", |a| a.psubusb(mm0, mm1), host!("psubusb mm0, mm1")),
        ("psubusw", |a| a.psubusw(mm0, mm1), host!("psubusw mm0, mm1")),
        ("pmullw", |a| a.pmullw(mm0, mm1), host!("pmullw mm0, mm1")),
        ("pmulhw", |a| a.pmulhw(mm0, mm1), host!("pmulhw mm0, mm1")),
        ("pmulhuw", |a| a.pmulhuw(mm0, mm1), host!("pmulhuw mm0, mm1")),
        ("pmuludq", |a| a.pmuludq(mm0, mm1), host!("pmuludq mm0, mm1")),
        ("pmaddwd", |a| a.pmaddwd(mm0, mm1), host!("pmaddwd mm0, mm1")),
        ("pcmpeqb", |a| a.pcmpeqb(mm0, mm1), host!("pcmpeqb mm0, mm1")),
        ("pcmpeqw", |a| a.pcmpeqw(mm0, mm1), host!("pcmpeqw mm0, mm1")),
        ("pcmpeqd", |a| a.pcmpeqd(mm0, mm1), host!("pcmpeqd mm0, mm1")),
        ("pcmpgtb", |a| a.pcmpgtb(mm0, mm1), host!("pcmpgtb mm0, mm1")),
        ("pcmpgtw", |a| a.pcmpgtw(mm0, mm1), host!("pcmpgtw mm0, mm1")),
        ("pcmpgtd", |a| a.pcmpgtd(mm0, mm1), host!("pcmpgtd mm0, mm1")),
        ("packsswb", |a| a.packsswb(mm0, mm1), host!("packsswb mm0, mm1")),
        ("packssdw", |a| a.packssdw(mm0, mm1), host!("packssdw mm0, mm1")),
        ("packuswb", |a| a.packuswb(mm0, mm1), host!("packuswb mm0, mm1")),
        ("punpcklbw", |a| a.punpcklbw(mm0, mm1), host!("punpcklbw mm0, mm1")),
        ("punpcklwd", |a| a.punpcklwd(mm0, mm1), host!("punpcklwd mm0, mm1")),
        ("punpckldq", |a| a.punpckldq(mm0, mm1), host!("punpckldq mm0, mm1")),
        ("punpckhbw", |a| a.punpckhbw(mm0, mm1), host!("punpckhbw mm0, mm1")),
        ("punpckhwd", |a| a.punpckhwd(mm0, mm1), host!("punpckhwd mm0, mm1")),
        ("punpckhdq", |a| a.punpckhdq(mm0, mm1), host!("punpckhdq mm0, mm1")),
        ("pand", |a| a.pand(mm0, mm1), host!("pand mm0, mm1")),
        ("pandn", |a| a.pandn(mm0, mm1), host!("pandn mm0, mm1")),
        ("por", |a| a.por(mm0, mm1), host!("por mm0, mm1")),
        ("pxor", |a| a.pxor(mm0, mm1), host!("pxor mm0, mm1")),
        ("psllw", |a| a.psllw(mm0, mm1), host!("psllw mm0, mm1")),
        ("pslld", |a| a.pslld(mm0, mm1), host!("pslld mm0, mm1")),
        ("psllq", |a| a.psllq(mm0, mm1), host!("psllq mm0, mm1")),
        ("psrlw", |a| a.psrlw(mm0, mm1), host!("psrlw mm0, mm1")),
        ("psrld", |a| a.psrld(mm0, mm1), host!("psrld mm0, mm1")),
        ("psrlq", |a| a.psrlq(mm0, mm1), host!("psrlq mm0, mm1")),
        ("psraw", |a| a.psraw(mm0, mm1), host!("psraw mm0, mm1")),
        ("psrad", |a| a.psrad(mm0, mm1), host!("psrad mm0, mm1")),
        ("pavgb", |a| a.pavgb(mm0, mm1), host!("pavgb mm0, mm1")),
        ("pavgw", |a| a.pavgw(mm0, mm1), host!("pavgw mm0, mm1")),
        ("pminub", |a| a.pminub(mm0, mm1), host!("pminub mm0, mm1")),
        ("pmaxub", |a| a.pmaxub(mm0, mm1), host!("pmaxub mm0, mm1")),
        ("pminsw", |a| a.pminsw(mm0, mm1), host!("pminsw mm0, mm1")),
        ("pmaxsw", |a| a.pmaxsw(mm0, mm1), host!("pmaxsw mm0, mm1")),
        ("psadbw", |a| a.psadbw(mm0, mm1), host!("psadbw mm0, mm1")),
        ("psraw 7", |a| a.psraw(mm0, 7), host!("psraw mm0, 7")),
        ("psrlq 40", |a| a.psrlq(mm0, 40), host!("psrlq mm0, 40")),
        ("pslld 32", |a| a.pslld(mm0, 32), host!("pslld mm0, 32")),
        ("pshufw", |a| a.pshufw(mm0, mm1, 0x72), host!("pshufw mm0, mm1, 0x72")),
    ];

    fn input(rng: &mut Rng) -> u64 {
        let mut v = rng.next_u64();
        for k in 0..8 {
            let edge: u64 = match rng.below(8) {
                0 => 0,
                1 => 0xFF,
                2 => 0x80,
                3 => 0x7F,
                _ => continue,
            };
            v = (v & !(0xFF << (k * 8))) | edge << (k * 8);
        }
        if rng.chance(40) {
            v = rng.below(70);
        }
        v
    }

    #[test]
    fn mmx_ops_match_the_host() {
        let mut rng = Rng::new(0x3317);
        for &(name, code, host) in CASES {
            let mut m = machine();
            m.load_code(&asm(code));
            for _ in 0..300 {
                let (a, b) = (input(&mut rng), input(&mut rng));
                m.cpu.state.rip = CODE_BASE;
                m.cpu.state.fpu.regs[0].signif = a;
                m.cpu.state.fpu.regs[1].signif = b;
                m.run(1);
                assert_eq!(m.cpu.state.fpu.regs[0].signif, host(a, b), "{name} {a:#018x}, {b:#018x}");
            }
        }
    }
}
