//! SSE/SSE2 floating-point data movement and bitwise forms (SDM vol. 2:
//! MOVAPS, MOVUPS, MOVSS, MOVLPS, MOVHPS, MOVLHPS, MOVHLPS, MOVMSKPS,
//! MOVNTPS, ANDPS, ANDNPS, ORPS, XORPS, SHUFPS, UNPCKLPS, UNPCKHPS and
//! their PD/SD twins). None of them looks at MXCSR or raises SIMD
//! floating-point exceptions.

use super::ssefp::*;
use super::*;
use iced_x86::Code::*;

pub(super) fn register(t: &mut Table) {
    t.set_all(&[Movaps_xmm_xmmm128, Movapd_xmm_xmmm128], mov_load::<true>);
    t.set_all(&[Movups_xmm_xmmm128, Movupd_xmm_xmmm128], mov_load::<false>);
    t.set_all(&[Movaps_xmmm128_xmm, Movapd_xmmm128_xmm, Movntps_m128_xmm, Movntpd_m128_xmm], mov_store::<true>);
    t.set_all(&[Movups_xmmm128_xmm, Movupd_xmmm128_xmm], mov_store::<false>);
    t.set(Movss_xmm_xmmm32, movs_load::<4>);
    t.set(Movsd_xmm_xmmm64, movs_load::<8>);
    t.set(Movss_xmmm32_xmm, movs_store::<4>);
    t.set(Movsd_xmmm64_xmm, movs_store::<8>);
    t.set_all(&[Movlps_xmm_m64, Movlpd_xmm_m64], movhl_load::<0>);
    t.set_all(&[Movhps_xmm_m64, Movhpd_xmm_m64], movhl_load::<1>);
    t.set_all(&[Movlps_m64_xmm, Movlpd_m64_xmm], movhl_store::<0>);
    t.set_all(&[Movhps_m64_xmm, Movhpd_m64_xmm], movhl_store::<1>);
    t.set(Movhlps_xmm_xmm, movhlps);
    t.set(Movlhps_xmm_xmm, movlhps);
    t.set(Movmskps_r32_xmm, movmsk::<false>);
    t.set(Movmskpd_r32_xmm, movmsk::<true>);
    t.set_all(&[Andps_xmm_xmmm128, Andpd_xmm_xmmm128], logic::<AND>);
    t.set_all(&[Andnps_xmm_xmmm128, Andnpd_xmm_xmmm128], logic::<ANDN>);
    t.set_all(&[Orps_xmm_xmmm128, Orpd_xmm_xmmm128], logic::<OR>);
    t.set_all(&[Xorps_xmm_xmmm128, Xorpd_xmm_xmmm128], logic::<XOR>);
    t.set(Shufps_xmm_xmmm128_imm8, shufps);
    t.set(Shufpd_xmm_xmmm128_imm8, shufpd);
    t.set(Unpcklps_xmm_xmmm128, unpck::<false, 0>);
    t.set(Unpckhps_xmm_xmmm128, unpck::<false, 1>);
    t.set(Unpcklpd_xmm_xmmm128, unpck::<true, 0>);
    t.set(Unpckhpd_xmm_xmmm128, unpck::<true, 1>);
}

/// MOVAPS/MOVAPD (`ALIGNED`) and MOVUPS/MOVUPD xmm, xmm/m128.
fn mov_load<const ALIGNED: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let v = if i.op1_kind() == OpKind::Register {
        xmm(cpu, i, 1)
    } else {
        read_m128(cpu, env, i, if ALIGNED { Align::Aligned } else { Align::Unaligned })?
    };
    set_xmm(cpu, i, 0, v);
    Ok(())
}

/// The stores of the same, and MOVNTPS/MOVNTPD (the non-temporal hint
/// changes nothing an emulator can observe; they require alignment).
fn mov_store<const ALIGNED: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let v = xmm(cpu, i, 1);
    if i.op0_kind() == OpKind::Register {
        set_xmm(cpu, i, 0, v);
        Ok(())
    } else {
        write_m128(cpu, env, i, if ALIGNED { Align::Aligned } else { Align::Unaligned }, v)
    }
}

fn low_mask(n: usize) -> u128 {
    (1u128 << (n * 8)) - 1
}

/// MOVSS/MOVSD xmm, xmm/m: between registers only the low element moves;
/// from memory the rest of the destination is zeroed.
fn movs_load<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let m = low_mask(N);
    let v = if i.op1_kind() == OpKind::Register {
        (xmm(cpu, i, 0) & !m) | (xmm(cpu, i, 1) & m)
    } else {
        read_xmm_src(cpu, env, i, 1, N)?
    };
    set_xmm(cpu, i, 0, v);
    Ok(())
}

/// MOVSS/MOVSD xmm/m, xmm.
fn movs_store<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let m = low_mask(N);
    let src = xmm(cpu, i, 1);
    if i.op0_kind() == OpKind::Register {
        let v = (xmm(cpu, i, 0) & !m) | (src & m);
        set_xmm(cpu, i, 0, v);
        Ok(())
    } else {
        let (seg, off) = mem_operand(&cpu.state, i);
        cpu.write::<N>(env, seg, off, src as u64)
    }
}

/// MOVLPS/MOVLPD (`H` = 0) and MOVHPS/MOVHPD (`H` = 1) xmm, m64: one
/// quadword of the destination is replaced.
fn movhl_load<const H: u32>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let (seg, off) = mem_operand(&cpu.state, i);
    let q = u128::from(cpu.read::<8>(env, seg, off)?) << (64 * H);
    let keep = !(u128::from(u64::MAX) << (64 * H));
    let v = (xmm(cpu, i, 0) & keep) | q;
    set_xmm(cpu, i, 0, v);
    Ok(())
}

/// MOVLPS/MOVLPD and MOVHPS/MOVHPD m64, xmm.
fn movhl_store<const H: u32>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let q = (xmm(cpu, i, 1) >> (64 * H)) as u64;
    let (seg, off) = mem_operand(&cpu.state, i);
    cpu.write::<8>(env, seg, off, q)
}

/// MOVHLPS: the source's high quadword into the destination's low one.
fn movhlps(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let v = (xmm(cpu, i, 0) & !low_mask(8)) | (xmm(cpu, i, 1) >> 64);
    set_xmm(cpu, i, 0, v);
    Ok(())
}

/// MOVLHPS: the source's low quadword into the destination's high one.
fn movlhps(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let v = (xmm(cpu, i, 0) & low_mask(8)) | (xmm(cpu, i, 1) << 64);
    set_xmm(cpu, i, 0, v);
    Ok(())
}

/// MOVMSKPS/MOVMSKPD r32, xmm: the sign bits, zero-extended.
fn movmsk<const D: bool>(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let v = xmm(cpu, i, 1);
    let mut m = 0u64;
    for k in 0..fmt::lanes(D) {
        m |= (fmt::lane(D, v, k) >> (fmt::width(D) - 1)) << k;
    }
    reg_write(&mut cpu.state, i.op0_register(), m);
    Ok(())
}

const AND: u8 = 0;
const ANDN: u8 = 1;
const OR: u8 = 2;
const XOR: u8 = 3;

/// ANDPS, ANDNPS (NOT destination, AND source), ORPS, XORPS and the PD forms.
fn logic<const OP: u8>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let b = read_xmm_src(cpu, env, i, 1, 16)?;
    let a = xmm(cpu, i, 0);
    let v = match OP {
        AND => a & b,
        ANDN => !a & b,
        OR => a | b,
        _ => a ^ b,
    };
    set_xmm(cpu, i, 0, v);
    Ok(())
}

/// SHUFPS: the two low results from the destination, the two high from
/// the source, each chosen by two bits of imm8.
fn shufps(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let b = read_xmm_src(cpu, env, i, 1, 16)?;
    let a = xmm(cpu, i, 0);
    let imm = i.immediate8() as usize;
    let mut v = 0u128;
    for k in 0..4 {
        let from = if k < 2 { a } else { b };
        v = fmt::set_lane(false, v, k, fmt::lane(false, from, (imm >> (2 * k)) & 3));
    }
    set_xmm(cpu, i, 0, v);
    Ok(())
}

/// SHUFPD: imm8 bit 0 picks the destination's quadword, bit 1 the source's.
fn shufpd(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let b = read_xmm_src(cpu, env, i, 1, 16)?;
    let a = xmm(cpu, i, 0);
    let imm = i.immediate8() as usize;
    let lo = fmt::lane(true, a, imm & 1);
    let hi = fmt::lane(true, b, (imm >> 1) & 1);
    set_xmm(cpu, i, 0, u128::from(lo) | u128::from(hi) << 64);
    Ok(())
}

/// UNPCKLPS/UNPCKHPS/UNPCKLPD/UNPCKHPD: interleave the low (`H` = 0) or
/// high (`H` = 1) halves of destination and source.
fn unpck<const D: bool, const H: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let b = read_xmm_src(cpu, env, i, 1, 16)?;
    let a = xmm(cpu, i, 0);
    let half = fmt::lanes(D) / 2;
    let mut v = 0u128;
    for k in 0..half {
        let src = H * half + k;
        v = fmt::set_lane(D, v, 2 * k, fmt::lane(D, a, src));
        v = fmt::set_lane(D, v, 2 * k + 1, fmt::lane(D, b, src));
    }
    set_xmm(cpu, i, 0, v);
    Ok(())
}
