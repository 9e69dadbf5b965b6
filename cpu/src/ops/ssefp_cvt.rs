//! SSE/SSE2 conversions (SDM vol. 2 CVT* pages, vol. 1 11.4.3 and 11.6.3):
//! between binary32, binary64 and signed doublewords in XMM, MMX and
//! general registers. A NaN or out-of-range value converted to an integer
//! gives the "integer indefinite" 0x80000000 with IE. The forms with an
//! MMX register operand make the x87-to-MMX transition; their memory
//! forms do not.

use super::ssefp::*;
use super::ssefp_arith::src_bytes;
use super::*;
use crate::softfloat::{sse, take_flags};
use iced_x86::Code::*;

pub(super) fn register(t: &mut Table) {
    t.set(Cvtpi2ps_xmm_mmm64, cvtpi2p::<false>);
    t.set(Cvtpi2pd_xmm_mmm64, cvtpi2p::<true>);
    t.set(Cvtps2pi_mm_xmmm64, cvtp2pi::<false, false>);
    t.set(Cvttps2pi_mm_xmmm64, cvtp2pi::<false, true>);
    t.set(Cvtpd2pi_mm_xmmm128, cvtp2pi::<true, false>);
    t.set(Cvttpd2pi_mm_xmmm128, cvtp2pi::<true, true>);
    t.set(Cvtsi2ss_xmm_rm32, cvtsi2s::<false>);
    t.set(Cvtsi2sd_xmm_rm32, cvtsi2s::<true>);
    t.set(Cvtss2si_r32_xmmm32, cvts2si::<false, false>);
    t.set(Cvttss2si_r32_xmmm32, cvts2si::<false, true>);
    t.set(Cvtsd2si_r32_xmmm64, cvts2si::<true, false>);
    t.set(Cvttsd2si_r32_xmmm64, cvts2si::<true, true>);
    t.set(Cvtps2pd_xmm_xmmm64, cvtf2f::<false, true>);
    t.set(Cvtpd2ps_xmm_xmmm128, cvtf2f::<true, true>);
    t.set(Cvtss2sd_xmm_xmmm32, cvtf2f::<false, false>);
    t.set(Cvtsd2ss_xmm_xmmm64, cvtf2f::<true, false>);
    t.set(Cvtdq2ps_xmm_xmmm128, cvtdq2p::<false>);
    t.set(Cvtdq2pd_xmm_xmmm64, cvtdq2p::<true>);
    t.set(Cvtps2dq_xmm_xmmm128, cvtp2dq::<false, false>);
    t.set(Cvttps2dq_xmm_xmmm128, cvtp2dq::<false, true>);
    t.set(Cvtpd2dq_xmm_xmmm128, cvtp2dq::<true, false>);
    t.set(Cvttpd2dq_xmm_xmmm128, cvtp2dq::<true, true>);
}

/// Signed doubleword to binary32/64 (inexact only for binary32).
fn i2f(cx: &mut Mx, d: bool, x: u32) -> u64 {
    take_flags();
    let r = if d { sse::i32_to_f64(x as i32) } else { u64::from(sse::i32_to_f32(x as i32)) };
    cx.note(false);
    r
}

/// Binary32/64 to signed doubleword, rounded by MXCSR.RC or truncated.
/// DAZ applies; DE is not among these instructions' exceptions.
fn f2i(cx: &mut Mx, d: bool, x: u64, trunc: bool) -> u32 {
    let x = cx.input(d, x);
    let rc = cx.rounding();
    take_flags();
    let r = match (d, trunc) {
        (true, true) => sse::f64_to_i32_trunc(x),
        (true, false) => sse::f64_to_i32(x, rc),
        (false, true) => sse::f32_to_i32_trunc(x as u32),
        (false, false) => sse::f32_to_i32(x as u32, rc),
    };
    cx.note(false);
    r
}

/// Binary32 to binary64 (`from_d` false) or back, with DAZ, DE, and
/// FTZ on a tiny binary32 result.
fn f2f(cx: &mut Mx, from_d: bool, x: u64) -> u64 {
    if !from_d {
        // Binary32 to binary64 is always exact: no UE, OE or PE.
        let x = cx.input(false, x);
        let de = Mx::denormal(false, &[x]);
        take_flags();
        let r = sse::f32_to_f64(x as u32);
        cx.note(de);
        return cx.output(true, r);
    }
    // Narrowing: inexact at unbounded exponent range when the binary64
    // significand has set bits beyond binary32's 24.
    cx.arith_unbounded(
        [true, false],
        [x, 0],
        |x, _| u64::from(sse::f64_to_f32(x)),
        |x, _| (x & fmt::exp(true) != fmt::exp(true)).then(|| fmt::needs_rounding(u128::from(fmt::significand(true, x)), 24)),
    )
}

/// CVTPI2PS (the high quadword of the destination kept) and CVTPI2PD.
fn cvtpi2p<const D: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let from_mm = i.op1_kind() == OpKind::Register;
    let src = if from_mm {
        cpu.check_x87_pending()?;
        mm_read(cpu, mm_index(i.op1_register()))
    } else {
        let (seg, off) = mem_operand(&cpu.state, i);
        cpu.read::<8>(env, seg, off)?
    };
    // The x87-to-MMX transition happens once the operands are read, before
    // a SIMD exception is reported (as the host CPU shows).
    if from_mm {
        mmx_enter(cpu);
    }
    let mut cx = Mx::begin(cpu);
    let mut v = if D { 0 } else { xmm(cpu, i, 0) };
    for k in 0..2 {
        let r = i2f(&mut cx, D, (src >> (32 * k)) as u32);
        v = fmt::set_lane(D, v, k, r);
    }
    cx.finish(cpu)?;
    set_xmm(cpu, i, 0, v);
    Ok(())
}

/// CVTPS2PI/CVTTPS2PI (xmm/m64) and CVTPD2PI/CVTTPD2PI (xmm/m128) to an
/// MMX register.
fn cvtp2pi<const D: bool, const TRUNC: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    cpu.check_x87_pending()?;
    let src = read_xmm_src(cpu, env, i, 1, if D { 16 } else { 8 })?;
    // The x87-to-MMX transition happens once the operands are read, before
    // a SIMD exception is reported (as the host CPU shows).
    mmx_enter(cpu);
    let mut cx = Mx::begin(cpu);
    let mut q = 0u64;
    for k in 0..2 {
        q |= u64::from(f2i(&mut cx, D, fmt::lane(D, src, k), TRUNC)) << (32 * k);
    }
    cx.finish(cpu)?;
    mm_write(cpu, mm_index(i.op0_register()), q);
    Ok(())
}

/// CVTSI2SS/CVTSI2SD xmm, r/m32: the low element; the rest kept.
fn cvtsi2s<const D: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let x = read_op::<4>(cpu, env, i, 1)? as u32;
    let mut cx = Mx::begin(cpu);
    let r = i2f(&mut cx, D, x);
    cx.finish(cpu)?;
    let v = fmt::set_lane(D, xmm(cpu, i, 0), 0, r);
    set_xmm(cpu, i, 0, v);
    Ok(())
}

/// CVTSS2SI/CVTTSS2SI/CVTSD2SI/CVTTSD2SI r32, xmm/m.
fn cvts2si<const D: bool, const TRUNC: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let src = read_xmm_src(cpu, env, i, 1, src_bytes(D, false))?;
    let mut cx = Mx::begin(cpu);
    let r = f2i(&mut cx, D, fmt::lane(D, src, 0), TRUNC);
    cx.finish(cpu)?;
    reg_write(&mut cpu.state, i.op0_register(), u64::from(r));
    Ok(())
}

/// CVTPS2PD (xmm/m64), CVTPD2PS (upper half zeroed), CVTSS2SD and
/// CVTSD2SS (upper elements kept).
fn cvtf2f<const FROM_D: bool, const P: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let bytes = if P && !FROM_D { 8 } else { src_bytes(FROM_D, P) };
    let src = read_xmm_src(cpu, env, i, 1, bytes)?;
    let mut cx = Mx::begin(cpu);
    let (n, mut v) = if P { (2, 0) } else { (1, xmm(cpu, i, 0)) };
    for k in 0..n {
        let r = f2f(&mut cx, FROM_D, fmt::lane(FROM_D, src, k));
        v = fmt::set_lane(!FROM_D, v, k, r);
    }
    cx.finish(cpu)?;
    set_xmm(cpu, i, 0, v);
    Ok(())
}

/// CVTDQ2PS (four elements) and CVTDQ2PD (the low two, from xmm/m64).
fn cvtdq2p<const D: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let src = read_xmm_src(cpu, env, i, 1, if D { 8 } else { 16 })?;
    let mut cx = Mx::begin(cpu);
    let mut v = 0;
    for k in 0..fmt::lanes(D) {
        let r = i2f(&mut cx, D, fmt::lane(false, src, k) as u32);
        v = fmt::set_lane(D, v, k, r);
    }
    cx.finish(cpu)?;
    set_xmm(cpu, i, 0, v);
    Ok(())
}

/// CVTPS2DQ/CVTTPS2DQ (four elements) and CVTPD2DQ/CVTTPD2DQ (two, the
/// upper half zeroed).
fn cvtp2dq<const D: bool, const TRUNC: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let src = read_xmm_src(cpu, env, i, 1, 16)?;
    let mut cx = Mx::begin(cpu);
    let mut v = 0;
    for k in 0..fmt::lanes(D) {
        let r = f2i(&mut cx, D, fmt::lane(D, src, k), TRUNC);
        v = fmt::set_lane(false, v, k, u64::from(r));
    }
    cx.finish(cpu)?;
    set_xmm(cpu, i, 0, v);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::ssefp::testutil::*;
    use crate::fault::vector;
    use crate::softfloat::flag::*;
    use crate::state::cr0;
    use crate::testing::TestMachine;

    const RESET: u32 = 0x1F80;
    const RC_DOWN: u32 = 1 << 13;
    const INDEFINITE_INT: u64 = 0x8000_0000;

    fn to_eax(m: &mut TestMachine, code: &[u8], src: u128, csr: u32) -> (u64, u32) {
        m.cpu.state.sse.xmm[1] = src;
        m.cpu.state.sse.mxcsr = csr;
        assert_eq!(exec(m, code), None);
        (m.cpu.state.gpr[0], m.cpu.state.sse.mxcsr)
    }

    #[test]
    fn scalar_to_integer_rounds_truncates_and_gives_indefinite() {
        let mut m = machine();
        let cvtss2si = [0xF3, 0x0F, 0x2D, 0xC1];
        let cvttss2si = [0xF3, 0x0F, 0x2C, 0xC1];
        let cvtsd2si = [0xF2, 0x0F, 0x2D, 0xC1];
        let (p25, m25) = (0x4020_0000u128, 0xC020_0000u128); // 2.5, -2.5
        assert_eq!(to_eax(&mut m, &cvtss2si, p25, RESET), (2, RESET | PRECISION), "nearest-even");
        assert_eq!(to_eax(&mut m, &cvtss2si, m25, RESET | RC_DOWN), (0xFFFF_FFFD, RESET | RC_DOWN | PRECISION));
        assert_eq!(to_eax(&mut m, &cvttss2si, m25, RESET), (0xFFFF_FFFE, RESET | PRECISION));
        assert_eq!(to_eax(&mut m, &cvtss2si, 0x7FC0_0000, RESET), (INDEFINITE_INT, RESET | INVALID));
        // 3e9 does not fit a signed doubleword.
        assert_eq!(to_eax(&mut m, &cvttss2si, 0x4F32_D05E, RESET), (INDEFINITE_INT, RESET | INVALID));
        // -2^31 does, exactly.
        assert_eq!(to_eax(&mut m, &cvtsd2si, 0xC1E0_0000_0000_0000, RESET), (INDEFINITE_INT, RESET));
        // 2^31 - 0.5 rounds to 2^31 (overflow), truncates to 2^31 - 1.
        let v = 0x41DF_FFFF_FFE0_0000u128;
        assert_eq!(to_eax(&mut m, &cvtsd2si, v, RESET), (INDEFINITE_INT, RESET | INVALID));
        assert_eq!(to_eax(&mut m, &[0xF2, 0x0F, 0x2C, 0xC1], v, RESET), (0x7FFF_FFFF, RESET | PRECISION));
    }

    fn xmm_op(code: &[u8], dst: u128, src: u128, csr: u32) -> (u128, u32) {
        let mut m = machine();
        m.cpu.state.sse.xmm[0] = dst;
        m.cpu.state.sse.xmm[1] = src;
        m.cpu.state.sse.mxcsr = csr;
        assert_eq!(exec(&mut m, code), None);
        (m.cpu.state.sse.xmm[0], m.cpu.state.sse.mxcsr)
    }

    #[test]
    fn packed_conversions() {
        let junk = u128::MAX;
        // cvtpd2dq: 1.5 -> 2, NaN -> indefinite; upper half zeroed.
        let r = xmm_op(&[0xF2, 0x0F, 0xE6, 0xC1], junk, pd([0x3FF8_0000_0000_0000, 0x7FF8_0000_0000_0000]), RESET);
        assert_eq!(r, (ps([2, 0x8000_0000, 0, 0]), RESET | INVALID | PRECISION));
        // cvttps2dq: -1.75 -> -1.
        let r = xmm_op(&[0xF3, 0x0F, 0x5B, 0xC1], junk, ps([0xBFE0_0000, 0, 0x3F80_0000, 0x4B80_0000]), RESET);
        assert_eq!(r, (ps([0xFFFF_FFFF, 0, 1, 0x0100_0000]), RESET | PRECISION));
        // cvtdq2ps: 2^24 + 1 is inexact in binary32.
        let r = xmm_op(&[0x0F, 0x5B, 0xC1], junk, ps([0x0100_0001, 1, 0xFFFF_FFFF, 0]), RESET);
        assert_eq!(r, (ps([0x4B80_0000, 0x3F80_0000, 0xBF80_0000, 0]), RESET | PRECISION));
        // cvtdq2pd: the low two doublewords.
        let r = xmm_op(&[0xF3, 0x0F, 0xE6, 0xC1], junk, ps([3, 0xFFFF_FFFE, 9, 9]), RESET);
        assert_eq!(r, (pd([0x4008_0000_0000_0000, 0xC000_0000_0000_0000]), RESET));
        // cvtps2pd: an SNaN is quieted with IE, a denormal raises DE.
        let r = xmm_op(&[0x0F, 0x5A, 0xC1], junk, ps([0x7F80_0001, 0x0000_0001, 7, 7]), RESET);
        assert_eq!(r, (pd([0x7FF8_0000_2000_0000, 0x36A0_0000_0000_0000]), RESET | INVALID | DENORMAL));
        // cvtpd2ps: overflow to infinity; upper half zeroed.
        let r = xmm_op(&[0x66, 0x0F, 0x5A, 0xC1], junk, pd([0x7E37_E43C_8800_759C, 0x3FF0_0000_0000_0000]), RESET);
        assert_eq!(r, (ps([0x7F80_0000, 0x3F80_0000, 0, 0]), RESET | OVERFLOW | PRECISION));
        // cvtsd2ss keeps the upper elements; cvtss2sd too.
        let r = xmm_op(&[0xF2, 0x0F, 0x5A, 0xC1], junk, pd([0x3FF0_0000_0000_0000, 0]), RESET);
        assert_eq!(r.0, (junk & !0xFFFF_FFFF) | 0x3F80_0000);
        let r = xmm_op(&[0xF3, 0x0F, 0x5A, 0xC1], junk, ps([0x3F80_0000, 0, 0, 0]), RESET);
        assert_eq!(r.0, pd([0x3FF0_0000_0000_0000, u64::MAX]));
        // cvtsi2ss xmm0, eax: 0x7FFFFFFF rounds to 2^31.
        let mut m = machine();
        m.cpu.state.gpr[0] = 0x7FFF_FFFF;
        assert_eq!(exec(&mut m, &[0xF3, 0x0F, 0x2A, 0xC0]), None);
        assert_eq!((m.cpu.state.sse.xmm[0] as u32, m.cpu.state.sse.mxcsr), (0x4F00_0000, RESET | PRECISION));
        m.cpu.state.gpr[0] = 0xFFFF_FFFF;
        assert_eq!(exec(&mut m, &[0xF2, 0x0F, 0x2A, 0xC0]), None, "cvtsi2sd xmm0, eax");
        assert_eq!(m.cpu.state.sse.xmm[0] as u64, 0xBFF0_0000_0000_0000);
    }

    #[test]
    fn mmx_forms_make_the_x87_to_mmx_transition() {
        let mut m = machine();
        m.cpu.state.fpu.fsw = 5 << 11;
        m.cpu.state.fpu.ftw = 0xFFFF;
        m.cpu.state.fpu.regs[1].signif = 0xFFFF_FFFF_0000_0003;
        m.cpu.state.sse.xmm[0] = u128::MAX;
        // cvtpi2ps xmm0, mm1: two elements, the upper two kept.
        assert_eq!(exec(&mut m, &[0x0F, 0x2A, 0xC1]), None);
        assert_eq!(m.cpu.state.sse.xmm[0], ps([0x4040_0000, 0xBF80_0000, u32::MAX, u32::MAX]));
        assert_eq!((m.cpu.state.fpu.fsw, m.cpu.state.fpu.ftw), (0, 0), "TOP 0, all tags valid");
        // cvtps2pi mm2, xmm0 (3.0 and -1.0).
        m.cpu.state.fpu.fsw = 3 << 11;
        assert_eq!(exec(&mut m, &[0x0F, 0x2D, 0xD0]), None);
        assert_eq!(m.cpu.state.fpu.regs[2].signif, 0xFFFF_FFFF_0000_0003);
        assert_eq!((m.cpu.state.fpu.regs[2].sign_exp, m.cpu.state.fpu.fsw), (0xFFFF, 0));
        // The memory form of cvtpi2ps leaves the x87 state alone.
        m.cpu.state.fpu.fsw = 3 << 11;
        assert_eq!(exec(&mut m, &[0x0F, 0x2A, 0x05, 0x00, 0x20, 0, 0]), None);
        assert_eq!(m.cpu.state.fpu.fsw, 3 << 11);
        // A pending unmasked x87 exception is reported first (#MF with NE).
        m.cpu.state.fpu.fsw = 0x0080 | 0x0001;
        m.cpu.state.cr0 |= cr0::NE;
        assert_eq!(exec(&mut m, &[0x66, 0x0F, 0x2D, 0xD0]), Some(vector::MF), "cvtpd2pi mm2, xmm0");
        assert_eq!(m.cpu.state.fpu.fsw, 0x0081);
    }
}
