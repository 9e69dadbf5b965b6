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

#[cfg(test)]
mod tests {
    use super::super::ssefp::testutil::*;
    use crate::fault::vector;

    const A: u128 = 0x3333_3333_2222_2222_1111_1111_0000_0000;
    const B: u128 = 0x7777_7777_6666_6666_5555_5555_4444_4444;

    fn run(code: &[u8]) -> (u128, Option<u8>) {
        let mut m = machine();
        m.cpu.state.sse.xmm[0] = A;
        m.cpu.state.sse.xmm[1] = B;
        let v = exec(&mut m, code);
        (m.cpu.state.sse.xmm[0], v)
    }

    #[test]
    fn movss_movsd_merge_between_registers_and_zero_from_memory() {
        assert_eq!(run(&[0xF3, 0x0F, 0x10, 0xC1]).0, (A & !0xFFFF_FFFF) | 0x4444_4444);
        assert_eq!(run(&[0xF2, 0x0F, 0x10, 0xC1]).0, (A & !u128::from(u64::MAX)) | 0x5555_5555_4444_4444);
        let mut m = machine();
        m.load(0x2000, &0x1234_5678_9ABC_DEF0u64.to_le_bytes());
        m.cpu.state.sse.xmm[0] = A;
        // movss xmm0, [0x2000]
        assert_eq!(exec(&mut m, &[0xF3, 0x0F, 0x10, 0x05, 0x00, 0x20, 0, 0]), None);
        assert_eq!(m.cpu.state.sse.xmm[0], 0x9ABC_DEF0);
        // movsd xmm0, [0x2000]
        m.cpu.state.sse.xmm[0] = A;
        assert_eq!(exec(&mut m, &[0xF2, 0x0F, 0x10, 0x05, 0x00, 0x20, 0, 0]), None);
        assert_eq!(m.cpu.state.sse.xmm[0], 0x1234_5678_9ABC_DEF0);
        // movss [0x2000], xmm1 writes four bytes only.
        m.cpu.state.sse.xmm[1] = B;
        assert_eq!(exec(&mut m, &[0xF3, 0x0F, 0x11, 0x0D, 0x00, 0x20, 0, 0]), None);
        assert_eq!(m.read_phys(0x2000, 8), 0x1234_5678_4444_4444u64.to_le_bytes());
    }

    #[test]
    fn movaps_requires_alignment_movups_does_not() {
        let mut m = machine();
        let bytes: Vec<u8> = (0..32).collect();
        m.load(0x2000, &bytes);
        // movaps xmm0, [0x2008]
        assert_eq!(exec(&mut m, &[0x0F, 0x28, 0x05, 0x08, 0x20, 0, 0]), Some(vector::GP));
        // movups xmm0, [0x2008]
        assert_eq!(exec(&mut m, &[0x0F, 0x10, 0x05, 0x08, 0x20, 0, 0]), None);
        assert_eq!(m.cpu.state.sse.xmm[0].to_le_bytes().to_vec(), bytes[8..24].to_vec());
        // movaps [0x2010], xmm0; movntps [0x2004], xmm0 faults
        assert_eq!(exec(&mut m, &[0x0F, 0x29, 0x05, 0x10, 0x20, 0, 0]), None);
        assert_eq!(m.read_phys(0x2010, 16), bytes[8..24].to_vec());
        assert_eq!(exec(&mut m, &[0x0F, 0x2B, 0x05, 0x04, 0x20, 0, 0]), Some(vector::GP));
        // movapd xmm2, xmm0 between registers
        assert_eq!(exec(&mut m, &[0x66, 0x0F, 0x28, 0xD0]), None);
        assert_eq!(m.cpu.state.sse.xmm[2], m.cpu.state.sse.xmm[0]);
    }

    #[test]
    fn half_moves() {
        assert_eq!(run(&[0x0F, 0x12, 0xC1]).0, (A & !u128::from(u64::MAX)) | (B >> 64), "movhlps");
        assert_eq!(run(&[0x0F, 0x16, 0xC1]).0, (A & u128::from(u64::MAX)) | (B << 64), "movlhps");
        let mut m = machine();
        m.load(0x2000, &0x0102_0304_0506_0708u64.to_le_bytes());
        m.cpu.state.sse.xmm[0] = A;
        // movhps xmm0, [0x2000]; movlpd xmm0, [0x2000]
        assert_eq!(exec(&mut m, &[0x0F, 0x16, 0x05, 0x00, 0x20, 0, 0]), None);
        assert_eq!(m.cpu.state.sse.xmm[0], (A & u128::from(u64::MAX)) | 0x0102_0304_0506_0708 << 64);
        assert_eq!(exec(&mut m, &[0x66, 0x0F, 0x12, 0x05, 0x00, 0x20, 0, 0]), None);
        assert_eq!(m.cpu.state.sse.xmm[0], 0x0102_0304_0506_0708_0102_0304_0506_0708);
        // movhps [0x2008], xmm1 stores the high quadword.
        m.cpu.state.sse.xmm[1] = B;
        assert_eq!(exec(&mut m, &[0x0F, 0x17, 0x0D, 0x08, 0x20, 0, 0]), None);
        assert_eq!(m.read_phys(0x2008, 8), ((B >> 64) as u64).to_le_bytes());
    }

    #[test]
    fn movmsk_logic_shuffles_and_unpacks() {
        let mut m = machine();
        m.cpu.state.sse.xmm[1] = ps([0x8000_0000, 1, 0xFFFF_FFFF, 0x7FFF_FFFF]);
        m.cpu.state.gpr[0] = u64::MAX;
        assert_eq!(exec(&mut m, &[0x0F, 0x50, 0xC1]), None, "movmskps eax, xmm1");
        assert_eq!(m.cpu.state.gpr[0], 0b0101);
        m.cpu.state.sse.xmm[1] = pd([0x7FFF_FFFF_FFFF_FFFF, 0x8000_0000_0000_0000]);
        assert_eq!(exec(&mut m, &[0x66, 0x0F, 0x50, 0xC1]), None, "movmskpd eax, xmm1");
        assert_eq!(m.cpu.state.gpr[0], 0b10);
        assert_eq!(run(&[0x0F, 0x54, 0xC1]).0, A & B, "andps");
        assert_eq!(run(&[0x66, 0x0F, 0x55, 0xC1]).0, !A & B, "andnpd");
        assert_eq!(run(&[0x0F, 0x56, 0xC1]).0, A | B, "orps");
        assert_eq!(run(&[0x66, 0x0F, 0x57, 0xC1]).0, A ^ B, "xorpd");
        // shufps xmm0, xmm1, 0b00_01_10_11: a3 a2 from xmm0, b1 b0 from xmm1.
        assert_eq!(run(&[0x0F, 0xC6, 0xC1, 0x1B]).0, ps([0x3333_3333, 0x2222_2222, 0x5555_5555, 0x4444_4444]));
        // shufpd xmm0, xmm1, 1: a1, b0.
        assert_eq!(run(&[0x66, 0x0F, 0xC6, 0xC1, 1]).0, pd([0x3333_3333_2222_2222, 0x5555_5555_4444_4444]));
        assert_eq!(run(&[0x0F, 0x14, 0xC1]).0, ps([0, 0x4444_4444, 0x1111_1111, 0x5555_5555]), "unpcklps");
        assert_eq!(run(&[0x0F, 0x15, 0xC1]).0, ps([0x2222_2222, 0x6666_6666, 0x3333_3333, 0x7777_7777]), "unpckhps");
        assert_eq!(run(&[0x66, 0x0F, 0x14, 0xC1]).0, pd([0x1111_1111_0000_0000, 0x5555_5555_4444_4444]), "unpcklpd");
        assert_eq!(run(&[0x66, 0x0F, 0x15, 0xC1]).0, pd([0x3333_3333_2222_2222, 0x7777_7777_6666_6666]), "unpckhpd");
    }

    #[test]
    fn sixteen_bit_addressing() {
        use crate::state::cr4;
        use crate::testing::TestMachine;
        let mut m = TestMachine::prot16();
        m.cpu.state.cr4 |= cr4::OSFXSR;
        m.set_int_gate(0x4000, vector::GP, 0x5000, 0);
        let bytes: Vec<u8> = (100..132).collect();
        m.load(0x2000, &bytes);
        // movaps xmm0, [bx+si]; movups xmm1, [bx+si+0xFFFC] (wraps to bx+si-4)
        m.load_code(&[0x0F, 0x28, 0x00, 0x0F, 0x10, 0x88, 0xFC, 0xFF]);
        m.cpu.state.gpr[3] = 0x1FF0; // bx
        m.cpu.state.gpr[6] = 0x20; // si
        m.run(2);
        assert_eq!(m.cpu.state.sse.xmm[0].to_le_bytes().to_vec(), bytes[16..32].to_vec());
        assert_eq!(m.cpu.state.sse.xmm[1].to_le_bytes().to_vec(), bytes[12..28].to_vec());
        // The same movaps at [bx+si] = 0x2008: #GP.
        m.cpu.state.rip = 0x8000;
        m.cpu.state.gpr[6] = 0x18;
        m.run(1);
        assert_eq!(m.cpu.state.rip, 0x5000);
    }
}
