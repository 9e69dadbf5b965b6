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
    let rc = if trunc { None } else { Some(cx.rounding()) };
    take_flags();
    let r = if d { sse::f64_to_i32(x, rc) } else { sse::f32_to_i32(x as u32, rc) };
    cx.note(false);
    r
}

/// Binary32 to binary64 (`from_d` false) or back, with DAZ, DE, and
/// FTZ on a tiny binary32 result.
fn f2f(cx: &mut Mx, from_d: bool, x: u64) -> u64 {
    let x = cx.input(from_d, x);
    let de = Mx::denormal(from_d, &[x]);
    take_flags();
    let r = if from_d { u64::from(sse::f64_to_f32(x)) } else { sse::f32_to_f64(x as u32) };
    cx.note(de);
    cx.output(!from_d, r)
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
    let mut cx = Mx::begin(cpu);
    let mut v = if D { 0 } else { xmm(cpu, i, 0) };
    for k in 0..2 {
        let r = i2f(&mut cx, D, (src >> (32 * k)) as u32);
        v = fmt::set_lane(D, v, k, r);
    }
    cx.finish(cpu)?;
    if from_mm {
        mmx_enter(cpu);
    }
    set_xmm(cpu, i, 0, v);
    Ok(())
}

/// CVTPS2PI/CVTTPS2PI (xmm/m64) and CVTPD2PI/CVTTPD2PI (xmm/m128) to an
/// MMX register.
fn cvtp2pi<const D: bool, const TRUNC: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    cpu.check_x87_pending()?;
    let src = read_xmm_src(cpu, env, i, 1, if D { 16 } else { 8 })?;
    let mut cx = Mx::begin(cpu);
    let mut q = 0u64;
    for k in 0..2 {
        q |= u64::from(f2i(&mut cx, D, fmt::lane(D, src, k), TRUNC)) << (32 * k);
    }
    cx.finish(cpu)?;
    mmx_enter(cpu);
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
