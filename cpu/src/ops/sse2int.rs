//! SSE2 128-bit integer instructions (SDM vol. 1 11.4.2-11.4.4, vol. 2
//! instruction pages): the 66-prefixed XMM forms of the packed-integer
//! operations, the XMM integer moves (MOVD, MOVQ, MOVDQA, MOVDQU,
//! MOVQ2DQ, MOVDQ2Q, MOVNTDQ, MOVNTI, MASKMOVDQU), the shuffles and the
//! byte shifts; and the 16-byte memory accesses every SSE instruction uses.
//!
//! Legacy-encoded SSE instructions require a 16-byte operand in memory to
//! be 16-byte aligned (#GP(0) otherwise) unless the instruction says
//! otherwise (MOVDQU, the 64- and 32-bit forms); vol. 1 11.4.1.

use super::{
    mmx::{masked_store, mm_index, rdi_operand},
    packed, *,
};
use iced_x86::{Code::*, Register};

pub(super) fn register(t: &mut Table) {
    t.set_all(
        &[
            Paddb_xmm_xmmm128,
            Paddw_xmm_xmmm128,
            Paddd_xmm_xmmm128,
            Paddq_xmm_xmmm128,
            Psubb_xmm_xmmm128,
            Psubw_xmm_xmmm128,
            Psubd_xmm_xmmm128,
            Psubq_xmm_xmmm128,
            Paddsb_xmm_xmmm128,
            Paddsw_xmm_xmmm128,
            Psubsb_xmm_xmmm128,
            Psubsw_xmm_xmmm128,
            Paddusb_xmm_xmmm128,
            Paddusw_xmm_xmmm128,
            Psubusb_xmm_xmmm128,
            Psubusw_xmm_xmmm128,
            Pmullw_xmm_xmmm128,
            Pmulhw_xmm_xmmm128,
            Pmulhuw_xmm_xmmm128,
            Pmuludq_xmm_xmmm128,
            Pmaddwd_xmm_xmmm128,
            Pcmpeqb_xmm_xmmm128,
            Pcmpeqw_xmm_xmmm128,
            Pcmpeqd_xmm_xmmm128,
            Pcmpgtb_xmm_xmmm128,
            Pcmpgtw_xmm_xmmm128,
            Pcmpgtd_xmm_xmmm128,
            Packsswb_xmm_xmmm128,
            Packssdw_xmm_xmmm128,
            Packuswb_xmm_xmmm128,
            Punpcklbw_xmm_xmmm128,
            Punpcklwd_xmm_xmmm128,
            Punpckldq_xmm_xmmm128,
            Punpcklqdq_xmm_xmmm128,
            Punpckhbw_xmm_xmmm128,
            Punpckhwd_xmm_xmmm128,
            Punpckhdq_xmm_xmmm128,
            Punpckhqdq_xmm_xmmm128,
            Pand_xmm_xmmm128,
            Pandn_xmm_xmmm128,
            Por_xmm_xmmm128,
            Pxor_xmm_xmmm128,
            Psllw_xmm_xmmm128,
            Pslld_xmm_xmmm128,
            Psllq_xmm_xmmm128,
            Psrlw_xmm_xmmm128,
            Psrld_xmm_xmmm128,
            Psrlq_xmm_xmmm128,
            Psraw_xmm_xmmm128,
            Psrad_xmm_xmmm128,
            Psllw_xmm_imm8,
            Pslld_xmm_imm8,
            Psllq_xmm_imm8,
            Psrlw_xmm_imm8,
            Psrld_xmm_imm8,
            Psrlq_xmm_imm8,
            Psraw_xmm_imm8,
            Psrad_xmm_imm8,
            Pslldq_xmm_imm8,
            Psrldq_xmm_imm8,
            Pavgb_xmm_xmmm128,
            Pavgw_xmm_xmmm128,
            Pminub_xmm_xmmm128,
            Pmaxub_xmm_xmmm128,
            Pminsw_xmm_xmmm128,
            Pmaxsw_xmm_xmmm128,
            Psadbw_xmm_xmmm128,
        ],
        binop,
    );
    t.set(Movd_xmm_rm32, movd_load);
    t.set(Movd_rm32_xmm, movd_store);
    t.set(Movq_xmm_xmmm64, movq_load);
    t.set(Movq_xmmm64_xmm, movq_store);
    t.set(Movdqa_xmm_xmmm128, mov128_load::<true>);
    t.set(Movdqu_xmm_xmmm128, mov128_load::<false>);
    t.set_all(&[Movdqa_xmmm128_xmm, Movntdq_m128_xmm], mov128_store::<true>);
    t.set(Movdqu_xmmm128_xmm, mov128_store::<false>);
    t.set(Movq2dq_xmm_mm, movq2dq);
    t.set(Movdq2q_mm_xmm, movdq2q);
    t.set_all(&[Pshufd_xmm_xmmm128_imm8, Pshufhw_xmm_xmmm128_imm8, Pshuflw_xmm_xmmm128_imm8], pshuf);
    t.set(Pinsrw_xmm_r32m16_imm8, pinsrw);
    t.set(Pextrw_r32_xmm_imm8, pextrw);
    t.set(Pmovmskb_r32_xmm, pmovmskb);
    t.set(Maskmovdqu_rDI_xmm_xmm, maskmovdqu);
    t.set(Movnti_m32_r32, movnti);
}

/// Index of an XMM register operand.
#[inline(always)]
pub(crate) fn xmm_index(r: Register) -> usize {
    (r as usize).wrapping_sub(Register::XMM0 as usize) & 15
}

impl Cpu {
    /// Checks a 16-byte access at `seg:off`: segment limit and rights,
    /// alignment when `aligned` (#GP(0), the SDM's rule for legacy SSE
    /// operands, even in the stack segment), and for writes that both
    /// halves can be written. Returns the linear address.
    pub(crate) fn m128_check(&mut self, env: &mut Env, seg: usize, off: u64, aligned: bool, write: bool) -> Result<u64, Fault> {
        let lin = self.seg_lin(seg, off, 16, write)?;
        if aligned && lin & 15 != 0 {
            return Err(Fault::gp(0));
        }
        if write {
            let user = self.user();
            self.probe_write(env, lin, 16, user)?;
        }
        Ok(lin)
    }

    /// Reads 16 bytes at `seg:off`.
    pub(crate) fn read_m128(&mut self, env: &mut Env, seg: usize, off: u64, aligned: bool) -> Result<u128, Fault> {
        let lin = self.m128_check(env, seg, off, aligned, false)?;
        let user = self.user();
        let lo = self.read_lin::<8>(env, lin, user)?;
        let hi = self.read_lin::<8>(env, (lin + 8) & 0xFFFF_FFFF, user)?;
        Ok(u128::from(lo) | u128::from(hi) << 64)
    }

    /// Writes 16 bytes at `seg:off`; nothing is written if either half
    /// would fault.
    pub(crate) fn write_m128(&mut self, env: &mut Env, seg: usize, off: u64, v: u128, aligned: bool) -> Result<(), Fault> {
        let lin = self.m128_check(env, seg, off, aligned, true)?;
        let user = self.user();
        self.write_lin::<8>(env, lin, v as u64, user)?;
        self.write_lin::<8>(env, (lin + 8) & 0xFFFF_FFFF, (v >> 64) as u64, user)
    }

    #[inline(always)]
    pub(crate) fn xmm(&self, n: usize) -> u128 {
        self.state.sse.xmm[n & 15]
    }

    #[inline(always)]
    pub(crate) fn set_xmm(&mut self, n: usize, v: u128) {
        self.state.sse.xmm[n & 15] = v;
    }
}

/// Operand `n` as a 128-bit source: XMM register, aligned m128 or imm8.
fn xmm_src(cpu: &mut Cpu, env: &mut Env, i: &Instruction, n: u32, aligned: bool) -> Result<u128, Fault> {
    match i.op_kind(n) {
        OpKind::Register => Ok(cpu.xmm(xmm_index(i.op_register(n)))),
        OpKind::Memory => {
            let (seg, off) = mem_operand(&cpu.state, i);
            cpu.read_m128(env, seg, off, aligned)
        }
        _ => Ok(u128::from(i.immediate(n))),
    }
}

/// Operand `n` as a 64-bit source: the low quadword of an XMM register or
/// m64.
fn xmm_src64(cpu: &mut Cpu, env: &mut Env, i: &Instruction, n: u32) -> Result<u64, Fault> {
    match i.op_kind(n) {
        OpKind::Register => Ok(cpu.xmm(xmm_index(i.op_register(n))) as u64),
        _ => {
            let (seg, off) = mem_operand(&cpu.state, i);
            cpu.read::<8>(env, seg, off)
        }
    }
}

fn binop(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let f = packed::binop(i.mnemonic()).ok_or(Fault::UD)?;
    let b = xmm_src(cpu, env, i, 1, true)?;
    let d = xmm_index(i.op0_register());
    let r = f(cpu.xmm(d), b, 16);
    cpu.set_xmm(d, r);
    Ok(())
}

/// MOVD xmm, r/m32: zero-extends to 128 bits.
fn movd_load(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let v = read_op::<4>(cpu, env, i, 1)? & 0xFFFF_FFFF;
    cpu.set_xmm(xmm_index(i.op0_register()), u128::from(v));
    Ok(())
}

fn movd_store(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let v = cpu.xmm(xmm_index(i.op1_register())) as u64 & 0xFFFF_FFFF;
    write_op0::<4>(cpu, env, i, v)
}

/// MOVQ xmm, xmm/m64 (F3 0F 7E): zero-extends.
fn movq_load(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let v = xmm_src64(cpu, env, i, 1)?;
    cpu.set_xmm(xmm_index(i.op0_register()), u128::from(v));
    Ok(())
}

/// MOVQ xmm/m64, xmm (66 0F D6): a register destination is zero-extended.
fn movq_store(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let v = cpu.xmm(xmm_index(i.op1_register())) as u64;
    if i.op0_kind() == OpKind::Register {
        cpu.set_xmm(xmm_index(i.op0_register()), u128::from(v));
        return Ok(());
    }
    let (seg, off) = mem_operand(&cpu.state, i);
    cpu.write::<8>(env, seg, off, v)
}

/// MOVDQA/MOVDQU xmm, xmm/m128.
fn mov128_load<const ALIGNED: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let v = xmm_src(cpu, env, i, 1, ALIGNED)?;
    cpu.set_xmm(xmm_index(i.op0_register()), v);
    Ok(())
}

/// MOVDQA/MOVDQU xmm/m128, xmm and MOVNTDQ (aligned, the hint unobservable).
fn mov128_store<const ALIGNED: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let v = cpu.xmm(xmm_index(i.op1_register()));
    if i.op0_kind() == OpKind::Register {
        cpu.set_xmm(xmm_index(i.op0_register()), v);
        return Ok(());
    }
    let (seg, off) = mem_operand(&cpu.state, i);
    cpu.write_m128(env, seg, off, v, ALIGNED)
}

/// MOVQ2DQ xmm, mm: an SSE2 instruction that is also an MMX one: the SSE
/// gate, then a pending x87 exception, then the MMX state transition.
fn movq2dq(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    cpu.check_x87_pending()?;
    let v = cpu.mm(mm_index(i.op1_register()));
    cpu.mmx_transition();
    cpu.set_xmm(xmm_index(i.op0_register()), u128::from(v));
    Ok(())
}

/// MOVDQ2Q mm, xmm.
fn movdq2q(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    cpu.check_x87_pending()?;
    let v = cpu.xmm(xmm_index(i.op1_register())) as u64;
    cpu.mmx_transition();
    cpu.set_mm(mm_index(i.op0_register()), v);
    Ok(())
}

/// PSHUFD, PSHUFHW (high quadword's words, low passes through), PSHUFLW.
fn pshuf(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let v = xmm_src(cpu, env, i, 1, true)?;
    let imm = i.immediate8();
    let (lo, hi) = (v as u64, (v >> 64) as u64);
    let r = match i.code() {
        Pshufhw_xmm_xmmm128_imm8 => u128::from(lo) | u128::from(packed::shuffle_words(hi, imm)) << 64,
        Pshuflw_xmm_xmmm128_imm8 => u128::from(packed::shuffle_words(lo, imm)) | u128::from(hi) << 64,
        _ => packed::shuffle_dwords(v, imm),
    };
    cpu.set_xmm(xmm_index(i.op0_register()), r);
    Ok(())
}

/// PINSRW xmm, r32/m16, imm8: the word slot is imm8 mod 8.
fn pinsrw(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let w = u128::from(read_op::<2>(cpu, env, i, 1)? & 0xFFFF);
    let sh = u32::from(i.immediate8() & 7) * 16;
    let d = xmm_index(i.op0_register());
    cpu.set_xmm(d, (cpu.xmm(d) & !(0xFFFF << sh)) | (w << sh));
    Ok(())
}

fn pextrw(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let sh = u32::from(i.immediate8() & 7) * 16;
    let v = (cpu.xmm(xmm_index(i.op1_register())) >> sh) as u64 & 0xFFFF;
    reg_write(&mut cpu.state, i.op0_register(), v);
    Ok(())
}

fn pmovmskb(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let v = packed::movmskb(cpu.xmm(xmm_index(i.op1_register())), 16);
    reg_write(&mut cpu.state, i.op0_register(), u64::from(v));
    Ok(())
}

/// MASKMOVDQU xmm1, xmm2: no alignment requirement.
fn maskmovdqu(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let data = cpu.xmm(xmm_index(i.op1_register()));
    let mask = cpu.xmm(xmm_index(i.op2_register()));
    let (seg, off) = rdi_operand(cpu, i);
    masked_store(cpu, env, seg, off, data, mask, 16)
}

/// MOVNTI m32, r32: a plain store as far as the guest can tell. It uses no
/// SIMD state, so CR0.EM/TS and CR4.OSFXSR do not gate it (its exception
/// list in the SDM names only CPUID.SSE2).
fn movnti(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let v = reg_read(&cpu.state, i.op1_register());
    write_op0::<4>(cpu, env, i, v)
}

#[cfg(test)]
mod tests {
    use super::super::{mmx::tests::*, system::harness::*};
    use crate::{
        fault::vector as v,
        fpstate::F80,
        state::{cr0, cr4},
    };
    use iced_x86::code_asm::*;

    #[test]
    fn movdqa_requires_alignment_movdqu_does_not() {
        let mut m = machine();
        let data: Vec<u8> = (0u8..32).collect();
        m.load(0x2000, &data);
        let code = asm(|a| {
            a.movdqu(xmm1, xmmword_ptr(0x2001))?;
            a.movdqa(xmmword_ptr(0x2020), xmm1)?;
            a.movdqa(xmm2, xmmword_ptr(0x2008))
        });
        let (vec, code_) = fault(&mut m, &code);
        assert_eq!((vec, code_), (v::GP, 0));
        let want = u128::from_le_bytes(data[1..17].try_into().unwrap());
        assert_eq!(m.cpu.state.sse.xmm[1], want);
        assert_eq!(m.read_phys(0x2020, 16), data[1..17]);
        assert_eq!(m.cpu.state.sse.xmm[2], 0, "the faulting load wrote nothing");
        // A misaligned store writes nothing either.
        let mut m = machine();
        m.cpu.state.sse.xmm[0] = u128::MAX;
        assert_eq!(fault(&mut m, &asm(|a| a.movdqa(xmmword_ptr(0x2004), xmm0))), (v::GP, 0));
        assert_eq!(m.read_phys(0x2004, 16), [0; 16]);
        // Packed arithmetic on a misaligned m128 faults too.
        let mut m = machine();
        assert_eq!(fault(&mut m, &asm(|a| a.paddb(xmm0, xmmword_ptr(0x2004)))).0, v::GP);
    }

    #[test]
    fn sse_gate_osfxsr_em_ts() {
        let code = asm(|a| a.paddd(xmm0, xmm1));
        let mut m = machine();
        m.cpu.state.cr4 &= !cr4::OSFXSR;
        assert_eq!(fault(&mut m, &code).0, v::UD);
        let mut m = machine();
        m.cpu.state.cr0 |= cr0::EM;
        assert_eq!(fault(&mut m, &code).0, v::UD);
        let mut m = machine();
        m.cpu.state.cr0 |= cr0::TS;
        assert_eq!(fault(&mut m, &code).0, v::NM);
    }

    #[test]
    fn movd_movq_zero_extend_and_pshufd_family() {
        let mut m = machine();
        m.cpu.state.sse.xmm[0] = u128::MAX;
        m.cpu.state.sse.xmm[1] = u128::MAX;
        m.cpu.state.sse.xmm[3] = 0x0007_0006_0005_0004_0003_0002_0001_0000;
        m.cpu.state.gpr[0] = 0x8765_4321;
        let code = asm(|a| {
            a.movd(xmm0, eax)?;
            a.movq(xmm1, xmm3)?;
            a.pshufd(xmm4, xmm3, 0x1B)?;
            a.pshufhw(xmm5, xmm3, 0x1B)?;
            a.pshuflw(xmm6, xmm3, 0x1B)?;
            a.pextrw(ebx, xmm3, 13)?;
            a.pinsrw(xmm3, eax, 9)
        });
        m.load_code(&code);
        m.run(7);
        let x = &m.cpu.state.sse.xmm;
        assert_eq!(x[0], 0x8765_4321);
        assert_eq!(x[1], 0x0003_0002_0001_0000);
        assert_eq!(x[4], 0x0001_0000_0003_0002_0005_0004_0007_0006);
        assert_eq!(x[5], 0x0004_0005_0006_0007_0003_0002_0001_0000);
        assert_eq!(x[6], 0x0007_0006_0005_0004_0000_0001_0002_0003);
        assert_eq!(m.cpu.state.gpr[3], 5, "slot 13 mod 8");
        assert_eq!(x[3], 0x0007_0006_0005_0004_0003_0002_4321_0000);
    }

    #[test]
    fn byte_shifts_and_qdq_unpacks() {
        let mut m = machine();
        let v = 0x0F0E_0D0C_0B0A_0908_0706_0504_0302_0100u128;
        for r in 0..4 {
            m.cpu.state.sse.xmm[r] = v;
        }
        m.cpu.state.sse.xmm[4] = 0xAAAA_u128 << 64 | 0xBBBB;
        let code = asm(|a| {
            a.pslldq(xmm0, 3)?;
            a.psrldq(xmm1, 15)?;
            a.psrldq(xmm2, 16)?;
            a.punpckhqdq(xmm3, xmm4)
        });
        m.load_code(&code);
        m.run(4);
        let x = &m.cpu.state.sse.xmm;
        assert_eq!(x[0], v << 24);
        assert_eq!(x[1], 0x0F);
        assert_eq!(x[2], 0);
        assert_eq!(x[3], 0xAAAA_u128 << 64 | 0x0F0E_0D0C_0B0A_0908);
    }

    #[test]
    fn movq2dq_and_movdq2q_do_the_mmx_transition() {
        let mut m = machine();
        m.cpu.state.fpu.fsw = 7 << 11;
        m.cpu.state.fpu.ftw = 0xFFFF;
        m.cpu.state.fpu.regs[1] = F80 { signif: 0x1122_3344_5566_7788, sign_exp: 0 };
        m.cpu.state.sse.xmm[2] = u128::MAX;
        m.cpu.state.sse.xmm[5] = 0xFFFF_0000_0000_0000_CAFE;
        let code = asm(|a| {
            a.movq2dq(xmm2, mm1)?;
            a.movdq2q(mm6, xmm5)
        });
        m.load_code(&code);
        m.run(2);
        let s = &m.cpu.state;
        assert_eq!(s.sse.xmm[2], 0x1122_3344_5566_7788);
        assert_eq!(s.fpu.regs[6], F80 { signif: 0xCAFE, sign_exp: 0xFFFF });
        assert_eq!((s.fpu.fsw >> 11 & 7, s.fpu.ftw), (0, 0));
    }

    #[test]
    fn maskmovdqu_movnti_and_pmovmskb() {
        let mut m = machine();
        m.load(0x3001, &[0xEE; 16]);
        m.cpu.state.gpr[7] = 0x3001;
        m.cpu.state.sse.xmm[0] = 0x0F0E_0D0C_0B0A_0908_0706_0504_0302_0100;
        m.cpu.state.sse.xmm[1] = 0x8000_0000_0000_0000_0000_0000_0000_0080;
        m.cpu.state.gpr[0] = 0x1234_5678;
        let code = asm(|a| {
            a.maskmovdqu(xmm0, xmm1)?;
            a.movnti(dword_ptr(0x4000), eax)?;
            a.pmovmskb(edx, xmm1)
        });
        m.load_code(&code);
        m.run(3);
        let mut want = [0xEE; 16];
        want[0] = 0x00;
        want[15] = 0x0F;
        assert_eq!(m.read_phys(0x3001, 16), want);
        assert_eq!(m.read_u32(0x4000), 0x1234_5678);
        assert_eq!(m.cpu.state.gpr[2], 0x8001);
    }

    #[test]
    fn a_split_store_into_a_segment_limit_writes_nothing() {
        // DS limit 0x200F: the second half of a MOVDQU store at 0x2008 is
        // outside the segment.
        let mut m = machine();
        m.cpu.state.seg[crate::state::sreg::DS].limit = 0x200F;
        m.cpu.state.sse.xmm[0] = u128::MAX;
        assert_eq!(fault(&mut m, &asm(|a| a.movdqu(xmmword_ptr(0x2008), xmm0))), (v::GP, 0));
        assert_eq!(m.read_phys(0x2008, 8), [0; 8]);
    }
}
