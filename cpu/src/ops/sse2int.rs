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
        testing::TestMachine,
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
    fn sixteen_bit_addressing_and_maskmovq_through_di() {
        let mut m = TestMachine::prot16();
        m.cpu.state.cr4 |= cr4::OSFXSR;
        with_handlers(&mut m);
        let data: Vec<u8> = (0u8..32).collect();
        m.load(0x2000, &data);
        m.load(0x3000, &[0xEE; 8]);
        let s = &mut m.cpu.state;
        s.gpr[3] = 0x2000; // BX
        s.gpr[6] = 0xFFFF_0010; // ESI: only SI counts
        s.gpr[7] = 0xFFFF_3000; // EDI: MASKMOVQ uses DI
        s.fpu.regs[0].signif = 0x8877_6655_4433_2211;
        let mut a = CodeAssembler::new(16).unwrap();
        a.movdqa(xmm0, xmmword_ptr(bx + si)).unwrap();
        a.movq(mm1, qword_ptr(bx + 3)).unwrap();
        a.maskmovq(mm0, mm1).unwrap();
        a.movdqa(xmm2, xmmword_ptr(bx + 8)).unwrap();
        let code = a.assemble(0x8000).unwrap();
        assert_eq!(fault(&mut m, &code), (v::GP, 0));
        let x0 = u128::from_le_bytes(data[16..32].try_into().unwrap());
        assert_eq!(m.cpu.state.sse.xmm[0], x0);
        // mm1 = bytes 3..11: 03 04 05 06 07 08 09 0A, none with the top bit.
        assert_eq!(m.cpu.state.fpu.regs[1].signif, 0x0A09_0807_0605_0403);
        assert_eq!(m.read_phys(0x3000, 8), [0xEE; 8], "an all-zero mask stores nothing");
    }

    #[test]
    fn a_store_across_into_a_missing_page_writes_nothing() {
        let mut m = machine();
        let hole = 0x30_0000u64;
        paging_with_hole(&mut m, hole);
        m.cpu.state.sse.xmm[0] = u128::MAX;
        let at = (hole - 8) as u32;
        assert_eq!(fault(&mut m, &asm(|a| a.movdqu(xmmword_ptr(at), xmm0))), (v::PF, 2), "not present, write");
        assert_eq!(m.cpu.state.cr2, hole);
        assert_eq!(m.read_phys(hole - 8, 8), [0; 8]);
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

/// The host CPU as the oracle: each SSE2 integer operation runs in ironpc
/// and through the host's own instruction (std::arch) on the same random
/// inputs; the results must match.
#[cfg(all(test, target_arch = "x86_64"))]
mod host_tests {
    use super::super::mmx::tests::*;
    use crate::testing::{Rng, CODE_BASE};
    use iced_x86::code_asm::*;
    use std::arch::x86_64::*;

    type Asm = fn(&mut CodeAssembler) -> Result<(), IcedError>;
    type Host = unsafe fn(__m128i, __m128i) -> __m128i;

    // SAFETY (every `unsafe` in this module): the intrinsics need SSE2,
    // which every x86-64 CPU has; they touch no memory.

    fn to_m128(v: u128) -> __m128i {
        unsafe { _mm_set_epi64x((v >> 64) as i64, v as i64) }
    }

    fn from_m128(v: __m128i) -> u128 {
        let (lo, hi) = unsafe { (_mm_cvtsi128_si64(v) as u64, _mm_cvtsi128_si64(_mm_srli_si128::<8>(v)) as u64) };
        u128::from(lo) | u128::from(hi) << 64
    }

    /// `op xmm0, xmm1` against its intrinsic.
    const CASES: &[(&str, Asm, Host)] = &[
        ("paddb", |a| a.paddb(xmm0, xmm1), _mm_add_epi8),
        ("paddw", |a| a.paddw(xmm0, xmm1), _mm_add_epi16),
        ("paddd", |a| a.paddd(xmm0, xmm1), _mm_add_epi32),
        ("paddq", |a| a.paddq(xmm0, xmm1), _mm_add_epi64),
        ("psubb", |a| a.psubb(xmm0, xmm1), _mm_sub_epi8),
        ("psubw", |a| a.psubw(xmm0, xmm1), _mm_sub_epi16),
        ("psubd", |a| a.psubd(xmm0, xmm1), _mm_sub_epi32),
        ("psubq", |a| a.psubq(xmm0, xmm1), _mm_sub_epi64),
        ("paddsb", |a| a.paddsb(xmm0, xmm1), _mm_adds_epi8),
        ("paddsw", |a| a.paddsw(xmm0, xmm1), _mm_adds_epi16),
        ("psubsb", |a| a.psubsb(xmm0, xmm1), _mm_subs_epi8),
        ("psubsw", |a| a.psubsw(xmm0, xmm1), _mm_subs_epi16),
        ("paddusb", |a| a.paddusb(xmm0, xmm1), _mm_adds_epu8),
        ("paddusw", |a| a.paddusw(xmm0, xmm1), _mm_adds_epu16),
        ("psubusb", |a| a.psubusb(xmm0, xmm1), _mm_subs_epu8),
        ("psubusw", |a| a.psubusw(xmm0, xmm1), _mm_subs_epu16),
        ("pmullw", |a| a.pmullw(xmm0, xmm1), _mm_mullo_epi16),
        ("pmulhw", |a| a.pmulhw(xmm0, xmm1), _mm_mulhi_epi16),
        ("pmulhuw", |a| a.pmulhuw(xmm0, xmm1), _mm_mulhi_epu16),
        ("pmuludq", |a| a.pmuludq(xmm0, xmm1), _mm_mul_epu32),
        ("pmaddwd", |a| a.pmaddwd(xmm0, xmm1), _mm_madd_epi16),
        ("pcmpeqb", |a| a.pcmpeqb(xmm0, xmm1), _mm_cmpeq_epi8),
        ("pcmpeqw", |a| a.pcmpeqw(xmm0, xmm1), _mm_cmpeq_epi16),
        ("pcmpeqd", |a| a.pcmpeqd(xmm0, xmm1), _mm_cmpeq_epi32),
        ("pcmpgtb", |a| a.pcmpgtb(xmm0, xmm1), _mm_cmpgt_epi8),
        ("pcmpgtw", |a| a.pcmpgtw(xmm0, xmm1), _mm_cmpgt_epi16),
        ("pcmpgtd", |a| a.pcmpgtd(xmm0, xmm1), _mm_cmpgt_epi32),
        ("packsswb", |a| a.packsswb(xmm0, xmm1), _mm_packs_epi16),
        ("packssdw", |a| a.packssdw(xmm0, xmm1), _mm_packs_epi32),
        ("packuswb", |a| a.packuswb(xmm0, xmm1), _mm_packus_epi16),
        ("punpcklbw", |a| a.punpcklbw(xmm0, xmm1), _mm_unpacklo_epi8),
        ("punpcklwd", |a| a.punpcklwd(xmm0, xmm1), _mm_unpacklo_epi16),
        ("punpckldq", |a| a.punpckldq(xmm0, xmm1), _mm_unpacklo_epi32),
        ("punpcklqdq", |a| a.punpcklqdq(xmm0, xmm1), _mm_unpacklo_epi64),
        ("punpckhbw", |a| a.punpckhbw(xmm0, xmm1), _mm_unpackhi_epi8),
        ("punpckhwd", |a| a.punpckhwd(xmm0, xmm1), _mm_unpackhi_epi16),
        ("punpckhdq", |a| a.punpckhdq(xmm0, xmm1), _mm_unpackhi_epi32),
        ("punpckhqdq", |a| a.punpckhqdq(xmm0, xmm1), _mm_unpackhi_epi64),
        ("pand", |a| a.pand(xmm0, xmm1), _mm_and_si128),
        ("pandn", |a| a.pandn(xmm0, xmm1), _mm_andnot_si128),
        ("por", |a| a.por(xmm0, xmm1), _mm_or_si128),
        ("pxor", |a| a.pxor(xmm0, xmm1), _mm_xor_si128),
        ("psllw", |a| a.psllw(xmm0, xmm1), _mm_sll_epi16),
        ("pslld", |a| a.pslld(xmm0, xmm1), _mm_sll_epi32),
        ("psllq", |a| a.psllq(xmm0, xmm1), _mm_sll_epi64),
        ("psrlw", |a| a.psrlw(xmm0, xmm1), _mm_srl_epi16),
        ("psrld", |a| a.psrld(xmm0, xmm1), _mm_srl_epi32),
        ("psrlq", |a| a.psrlq(xmm0, xmm1), _mm_srl_epi64),
        ("psraw", |a| a.psraw(xmm0, xmm1), _mm_sra_epi16),
        ("psrad", |a| a.psrad(xmm0, xmm1), _mm_sra_epi32),
        ("pavgb", |a| a.pavgb(xmm0, xmm1), _mm_avg_epu8),
        ("pavgw", |a| a.pavgw(xmm0, xmm1), _mm_avg_epu16),
        ("pminub", |a| a.pminub(xmm0, xmm1), _mm_min_epu8),
        ("pmaxub", |a| a.pmaxub(xmm0, xmm1), _mm_max_epu8),
        ("pminsw", |a| a.pminsw(xmm0, xmm1), _mm_min_epi16),
        ("pmaxsw", |a| a.pmaxsw(xmm0, xmm1), _mm_max_epi16),
        ("psadbw", |a| a.psadbw(xmm0, xmm1), _mm_sad_epu8),
        // Immediate forms: xmm1 is ignored.
        ("psllw 9", |a| a.psllw(xmm0, 9), |x, _| unsafe { _mm_slli_epi16::<9>(x) }),
        ("psrad 33", |a| a.psrad(xmm0, 33), |x, _| unsafe { _mm_srai_epi32::<33>(x) }),
        ("psrlq 63", |a| a.psrlq(xmm0, 63), |x, _| unsafe { _mm_srli_epi64::<63>(x) }),
        ("pslldq 5", |a| a.pslldq(xmm0, 5), |x, _| unsafe { _mm_slli_si128::<5>(x) }),
        ("psrldq 17", |a| a.psrldq(xmm0, 17), |x, _| unsafe { _mm_srli_si128::<17>(x) }),
        ("pshufd", |a| a.pshufd(xmm0, xmm1, 0x9C), |_, y| unsafe { _mm_shuffle_epi32::<0x9C>(y) }),
        ("pshufhw", |a| a.pshufhw(xmm0, xmm1, 0x4E), |_, y| unsafe { _mm_shufflehi_epi16::<0x4E>(y) }),
        ("pshuflw", |a| a.pshuflw(xmm0, xmm1, 0xE1), |_, y| unsafe { _mm_shufflelo_epi16::<0xE1>(y) }),
    ];

    /// Inputs with the edges drawn often: lanes of all zeros, all ones,
    /// 0x80.., 0x7F.., and small shift counts.
    fn input(rng: &mut Rng) -> u128 {
        let mut v = u128::from(rng.next_u64()) | u128::from(rng.next_u64()) << 64;
        for k in 0..16 {
            let edge: u128 = match rng.below(8) {
                0 => 0,
                1 => 0xFF,
                2 => 0x80,
                3 => 0x7F,
                _ => continue,
            };
            v = (v & !(0xFF << (k * 8))) | edge << (k * 8);
        }
        if rng.chance(40) {
            v = (v & !u128::from(u64::MAX)) | u128::from(rng.below(70));
        }
        v
    }

    #[test]
    fn sse2_integer_ops_match_the_host() {
        let mut rng = Rng::new(0x55E2);
        for &(name, code, host) in CASES {
            let mut m = machine();
            m.load_code(&asm(code));
            for _ in 0..300 {
                let (a, b) = (input(&mut rng), input(&mut rng));
                m.cpu.state.rip = CODE_BASE;
                m.cpu.state.sse.xmm[0] = a;
                m.cpu.state.sse.xmm[1] = b;
                m.run(1);
                let want = from_m128(unsafe { host(to_m128(a), to_m128(b)) });
                assert_eq!(m.cpu.state.sse.xmm[0], want, "{name} {a:#034x}, {b:#034x}");
            }
        }
    }
}
