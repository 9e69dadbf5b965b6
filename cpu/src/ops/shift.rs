//! Shifts and rotates: ROL ROR RCL RCR SHL/SAL SHR SAR (by 1, CL or imm8)
//! and the double shifts SHLD SHRD (SDM vol. 2 "RCL/RCR/ROL/ROR",
//! "SAL/SAR/SHL/SHR", "SHLD", "SHRD").
//!
//! The count is masked to 5 bits; RCL/RCR of 8- and 16-bit operands then
//! rotate through CF modulo 9 and 17. A masked count of 0 changes nothing
//! (no flags, no write), though a memory operand is still checked for
//! writing first, as on hardware. Flags are written eagerly.
//!
//! Undefined results, chosen as P6-class Intel parts behave (the facts
//! Bochs records in `shift*.cc`):
//! - OF for counts other than 1 uses the count-1 formula: SHL/RCL/ROL and
//!   SHLD: CF xor the result's MSB; SHR/RCR/ROR and SHRD: the XOR of the
//!   result's two top bits; SAR: 0.
//! - AF after a shift is 0.
//! - SHL/SHR of 8/16-bit operands by more than their width give 0 with
//!   CF = OF = 0.
//! - ROL/ROR whose count is a non-zero multiple of the width leave the
//!   value but still set CF and OF from it.
//! - SHLD/SHRD of 16-bit operands by 17..31 shift the 48-bit
//!   concatenation dst:src:dst (P6 and later).

use super::*;
use crate::{
    flags::{mask, parity, sign},
    state::{fl, reg},
};
use iced_x86::Code::*;

const ROL: u8 = 0;
const ROR: u8 = 1;
const RCL: u8 = 2;
const RCR: u8 = 3;
const SHL: u8 = 4;
const SHR: u8 = 5;
const SAR: u8 = 7;

pub(super) fn register(t: &mut Table) {
    t.set_all(&[Rol_rm8_1, Rol_rm8_CL, Rol_rm8_imm8], shift::<1, ROL>);
    t.set_all(&[Rol_rm16_1, Rol_rm16_CL, Rol_rm16_imm8], shift::<2, ROL>);
    t.set_all(&[Rol_rm32_1, Rol_rm32_CL, Rol_rm32_imm8], shift::<4, ROL>);
    t.set_all(&[Ror_rm8_1, Ror_rm8_CL, Ror_rm8_imm8], shift::<1, ROR>);
    t.set_all(&[Ror_rm16_1, Ror_rm16_CL, Ror_rm16_imm8], shift::<2, ROR>);
    t.set_all(&[Ror_rm32_1, Ror_rm32_CL, Ror_rm32_imm8], shift::<4, ROR>);
    t.set_all(&[Rcl_rm8_1, Rcl_rm8_CL, Rcl_rm8_imm8], shift::<1, RCL>);
    t.set_all(&[Rcl_rm16_1, Rcl_rm16_CL, Rcl_rm16_imm8], shift::<2, RCL>);
    t.set_all(&[Rcl_rm32_1, Rcl_rm32_CL, Rcl_rm32_imm8], shift::<4, RCL>);
    t.set_all(&[Rcr_rm8_1, Rcr_rm8_CL, Rcr_rm8_imm8], shift::<1, RCR>);
    t.set_all(&[Rcr_rm16_1, Rcr_rm16_CL, Rcr_rm16_imm8], shift::<2, RCR>);
    t.set_all(&[Rcr_rm32_1, Rcr_rm32_CL, Rcr_rm32_imm8], shift::<4, RCR>);
    // /6 is an undocumented alias of SHL (/4) on every Intel and AMD part.
    t.set_all(&[Shl_rm8_1, Shl_rm8_CL, Shl_rm8_imm8, Sal_rm8_1, Sal_rm8_CL, Sal_rm8_imm8], shift::<1, SHL>);
    t.set_all(&[Shl_rm16_1, Shl_rm16_CL, Shl_rm16_imm8, Sal_rm16_1, Sal_rm16_CL, Sal_rm16_imm8], shift::<2, SHL>);
    t.set_all(&[Shl_rm32_1, Shl_rm32_CL, Shl_rm32_imm8, Sal_rm32_1, Sal_rm32_CL, Sal_rm32_imm8], shift::<4, SHL>);
    t.set_all(&[Shr_rm8_1, Shr_rm8_CL, Shr_rm8_imm8], shift::<1, SHR>);
    t.set_all(&[Shr_rm16_1, Shr_rm16_CL, Shr_rm16_imm8], shift::<2, SHR>);
    t.set_all(&[Shr_rm32_1, Shr_rm32_CL, Shr_rm32_imm8], shift::<4, SHR>);
    t.set_all(&[Sar_rm8_1, Sar_rm8_CL, Sar_rm8_imm8], shift::<1, SAR>);
    t.set_all(&[Sar_rm16_1, Sar_rm16_CL, Sar_rm16_imm8], shift::<2, SAR>);
    t.set_all(&[Sar_rm32_1, Sar_rm32_CL, Sar_rm32_imm8], shift::<4, SAR>);
    t.set_all(&[Shld_rm16_r16_imm8, Shld_rm16_r16_CL], double::<2, true>);
    t.set_all(&[Shld_rm32_r32_imm8, Shld_rm32_r32_CL], double::<4, true>);
    t.set_all(&[Shrd_rm16_r16_imm8, Shrd_rm16_r16_CL], double::<2, false>);
    t.set_all(&[Shrd_rm32_r32_imm8, Shrd_rm32_r32_CL], double::<4, false>);
}

/// The masked count in operand `n`: CL, or an immediate (1 for the D0/D1
/// forms, which iced-x86 reports as an immediate of 1).
#[inline(always)]
fn count(cpu: &Cpu, i: &Instruction, n: u32) -> u32 {
    let c = if i.op_kind(n) == OpKind::Register { cpu.state.gpr[reg::RCX] as u8 } else { i.immediate8() };
    u32::from(c & 0x1F)
}

/// SF, ZF and PF of a `size`-byte result, as EFLAGS bits.
#[inline(always)]
fn szp(size: u8, res: u64) -> u32 {
    let f = |b: bool, f: u32| if b { f } else { 0 };
    f(res & sign(size) != 0, fl::SF) | f(res == 0, fl::ZF) | f(parity(res), fl::PF)
}

/// Bit `b` of `v` as 0 or 1.
#[inline(always)]
fn bit(v: u64, b: u32) -> u32 {
    ((v >> b) & 1) as u32
}

/// The result of shift/rotate `OP` of the `N`-byte value `v` by `c`
/// (1..=31) with carry-in `cf`, and the flags it writes: (result, mask of
/// flags written, their values). A mask of 0 means nothing changes.
#[inline(always)]
fn compute<const N: usize, const OP: u8>(v: u64, c: u32, cf: bool) -> (u64, u32, u32) {
    let w = N as u32 * 8;
    let m = mask(N as u8);
    let cf = u64::from(cf);
    let (res, c_out, of) = match OP {
        ROL => {
            let r = c % w;
            let res = if r == 0 { v } else { ((v << r) | (v >> (w - r))) & m };
            let c_out = bit(res, 0);
            (res, c_out, c_out ^ bit(res, w - 1))
        }
        ROR => {
            let r = c % w;
            let res = if r == 0 { v } else { ((v >> r) | (v << (w - r))) & m };
            (res, bit(res, w - 1), bit(res, w - 1) ^ bit(res, w - 2))
        }
        RCL | RCR => {
            let r = if w == 32 { c } else { c % (w + 1) };
            if r == 0 {
                return (v, 0, 0);
            }
            // Rotate the (w+1)-bit value CF:v.
            let x = (cf << w) | v;
            let wide = mask(N as u8) << 1 | 1;
            let x = if OP == RCL { (x << r) | (x >> (w + 1 - r)) } else { (x >> r) | (x << (w + 1 - r)) } & wide;
            let res = x & m;
            let c_out = bit(x, w);
            let of = if OP == RCL { c_out ^ bit(res, w - 1) } else { bit(res, w - 1) ^ bit(res, w - 2) };
            (res, c_out, of)
        }
        SHL => {
            let res = (v << c) & m;
            let c_out = if c <= w { bit(v, w - c) } else { 0 };
            return (res, fl::ARITH, shift_flags::<N>(res, c_out, c_out ^ bit(res, w - 1)));
        }
        SHR => {
            let res = v >> c;
            let c_out = bit(v, c - 1);
            return (res, fl::ARITH, shift_flags::<N>(res, c_out, bit(res, w - 1) ^ bit(res, w - 2)));
        }
        _ => {
            let sv = ((v << (64 - w)) as i64) >> (64 - w);
            let res = (sv >> c) as u64 & m;
            let c_out = ((sv >> (c - 1)) & 1) as u32;
            return (res, fl::ARITH, shift_flags::<N>(res, c_out, 0));
        }
    };
    (res, fl::CF | fl::OF, (c_out * fl::CF) | (of * fl::OF))
}

/// The flags of a shift: CF and OF as given, SF/ZF/PF from the result,
/// AF clear.
#[inline(always)]
fn shift_flags<const N: usize>(res: u64, cf: u32, of: u32) -> u32 {
    (cf * fl::CF) | (of * fl::OF) | szp(N as u8, res)
}

fn shift<const N: usize, const OP: u8>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let c = count(cpu, i, 1);
    let (loc, v) = rmw_read::<N>(cpu, env, i)?;
    if c == 0 {
        return Ok(());
    }
    let (res, written, bits) = compute::<N, OP>(v, c, cpu.state.cf());
    if written == 0 {
        return Ok(());
    }
    rmw_write::<N>(cpu, env, loc, res)?;
    if written == fl::ARITH {
        super::alu::replace_arith(&mut cpu.state, bits);
    } else {
        cpu.state.set_arith(written, bits);
    }
    Ok(())
}

/// SHLD (`LEFT`) / SHRD r/m, reg, imm8|CL.
fn double<const N: usize, const LEFT: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let c = count(cpu, i, 2);
    let (loc, v) = rmw_read::<N>(cpu, env, i)?;
    if c == 0 {
        return Ok(());
    }
    let s = reg_read(&cpu.state, i.op1_register());
    let (res, cf, of) = double_shift::<N, LEFT>(v, s, c);
    rmw_write::<N>(cpu, env, loc, res)?;
    super::alu::replace_arith(&mut cpu.state, shift_flags::<N>(res, cf, of));
    Ok(())
}

/// SHLD/SHRD of `v` with bits from `s` by `c` (1..=31): (result, CF, OF).
/// Both work on a concatenation: dst:src for 32 bits; dst:src:dst for 16
/// bits, which gives the P6 results for counts above 16.
#[inline(always)]
fn double_shift<const N: usize, const LEFT: bool>(v: u64, s: u64, c: u32) -> (u64, u32, u32) {
    let w = N as u32 * 8;
    let m = mask(N as u8);
    if LEFT {
        let (x, top) = if N == 2 { ((v << 32) | (s << 16) | v, 48) } else { ((v << 32) | s, 64) };
        let res = (x >> (top - w - c)) & m;
        let cf = bit(x, top - c);
        (res, cf, cf ^ bit(res, w - 1))
    } else {
        let x = if N == 2 { (v << 32) | (s << 16) | v } else { (s << 32) | v };
        let res = (x >> c) & m;
        (res, bit(x, c - 1), bit(res, w - 1) ^ bit(res, w - 2))
    }
}

#[cfg(test)]
mod tests {
    use super::super::alu::test_util::*;
    use crate::state::fl::{AF, CF, OF, PF, SF, ZF};

    /// Runs `code` with EAX = `eax`, CL = `cl` and the arithmetic flags
    /// `flags`; returns EAX and the flags.
    fn sh(code: &[u8], eax: u32, cl: u8, flags: u32) -> (u32, u32) {
        let m = exec32(code, |m| {
            m.cpu.state.gpr[reg::RAX] = u64::from(eax);
            m.cpu.state.gpr[reg::RCX] = u64::from(cl);
            set_arith(m, flags);
        });
        (r32(&m, reg::RAX), arith(&m))
    }

    const SHL8: &[u8] = &[0xD2, 0xE0]; // shl al, cl
    const SHL16: &[u8] = &[0x66, 0xD3, 0xE0]; // shl ax, cl
    const SHL32: &[u8] = &[0xD3, 0xE0]; // shl eax, cl
    const SAL8: &[u8] = &[0xD2, 0xF0]; // sal al, cl (the /6 alias)
    const SHR8: &[u8] = &[0xD2, 0xE8]; // shr al, cl
    const SHR32: &[u8] = &[0xD3, 0xE8]; // shr eax, cl
    const SAR8: &[u8] = &[0xD2, 0xF8]; // sar al, cl
    const SAR32: &[u8] = &[0xD3, 0xF8]; // sar eax, cl
    const ROL8: &[u8] = &[0xD2, 0xC0]; // rol al, cl
    const ROL32: &[u8] = &[0xD3, 0xC0]; // rol eax, cl
    const ROR16: &[u8] = &[0x66, 0xD3, 0xC8]; // ror ax, cl
    const RCL8: &[u8] = &[0xD2, 0xD0]; // rcl al, cl
    const RCL16: &[u8] = &[0x66, 0xD3, 0xD0]; // rcl ax, cl
    const RCL32: &[u8] = &[0xD3, 0xD0]; // rcl eax, cl
    const RCR8: &[u8] = &[0xD2, 0xD8]; // rcr al, cl
    const RCR32: &[u8] = &[0xD3, 0xD8]; // rcr eax, cl

    #[test]
    fn count_zero_changes_nothing() {
        let all = CF | OF | SF | ZF | AF | PF;
        for code in [SHL8, SHL32, SHR32, SAR8, ROL32, RCL8, RCR32] {
            assert_eq!(sh(code, 0x1234_5678, 0, all), (0x1234_5678, all));
            // Only the low 5 bits of CL count: 32 is 0.
            assert_eq!(sh(code, 0x1234_5678, 32, 0), (0x1234_5678, 0));
        }
        // RCL of a byte by 9 is a full turn through CF: nothing changes.
        assert_eq!(sh(RCL8, 0x81, 9, OF), (0x81, OF));
        assert_eq!(sh(RCL16, 0x8001, 17, OF | CF), (0x8001, OF | CF));
    }

    #[test]
    fn shl_counts() {
        // By 1: CF = old MSB, OF = CF xor new MSB.
        assert_eq!(sh(SHL8, 0x81, 1, 0), (0x02, CF | OF));
        assert_eq!(sh(SHL8, 0x40, 1, CF), (0x80, OF | SF));
        assert_eq!(sh(SHL8, 0xC0, 1, 0), (0x80, CF | SF));
        // The /6 alias behaves the same.
        assert_eq!(sh(SAL8, 0x81, 1, 0), (0x02, CF | OF));
        // By width-1 and width: CF is the last bit out (bit 0 for a full
        // width shift); the rest of EAX is kept for byte operands.
        assert_eq!(sh(SHL8, 0xAB03, 7, 0), (0xAB80, CF | SF));
        assert_eq!(sh(SHL8, 0xAB01, 8, 0), (0xAB00, CF | ZF | PF | OF));
        // Beyond the width of a byte: zero, CF = OF = 0.
        assert_eq!(sh(SHL8, 0xFF, 9, CF | OF), (0x00, ZF | PF));
        assert_eq!(sh(SHL16, 0xFFFF, 16, 0), (0x0000, CF | ZF | PF | OF));
        assert_eq!(sh(SHL16, 0xFFFF, 31, CF), (0x0000, ZF | PF));
        // 32-bit by 31: bit 1 is the last bit out.
        assert_eq!(sh(SHL32, 0x0000_0003, 31, 0), (0x8000_0000, CF | SF | PF));
        assert_eq!(sh(SHL32, 0x0000_0001, 31, 0), (0x8000_0000, SF | PF | OF));
    }

    #[test]
    fn shr_and_sar_counts() {
        // SHR by 1: OF = old MSB.
        assert_eq!(sh(SHR8, 0x81, 1, 0), (0x40, CF | OF));
        assert_eq!(sh(SHR32, 0x8000_0000, 1, 0), (0x4000_0000, OF | PF));
        // SHR by more: OF from the two top result bits (0 unless count 1).
        assert_eq!(sh(SHR32, 0x8000_0000, 31, 0), (1, 0));
        assert_eq!(sh(SHR32, 0x4000_0000, 31, 0), (0, CF | ZF | PF));
        assert_eq!(sh(SHR8, 0x80, 8, 0), (0, CF | ZF | PF));
        assert_eq!(sh(SHR8, 0xFF, 9, CF), (0, ZF | PF));
        // SAR keeps the sign; OF is 0; a count beyond the width fills.
        assert_eq!(sh(SAR8, 0x81, 1, OF), (0xC0, CF | SF | PF));
        assert_eq!(sh(SAR8, 0x80, 31, 0), (0xFF, CF | SF | PF));
        assert_eq!(sh(SAR8, 0x7F, 9, 0), (0x00, ZF | PF));
        assert_eq!(sh(SAR32, 0x8000_0000, 31, 0), (0xFFFF_FFFF, SF | PF));
        assert_eq!(sh(SAR32, 0xFFFF_FFFE, 1, 0), (0xFFFF_FFFF, SF | PF));
    }

    #[test]
    fn rotates() {
        // ROL/ROR change only CF and OF.
        assert_eq!(sh(ROL8, 0x81, 1, ZF), (0x03, CF | OF | ZF));
        assert_eq!(sh(ROL8, 0x40, 1, 0), (0x80, OF));
        assert_eq!(sh(ROL32, 0x8000_0001, 4, 0), (0x0000_0018, 0));
        assert_eq!(sh(ROL32, 0x8000_0000, 31, 0), (0x4000_0000, 0));
        // A byte rotated by 8 or 16 is unchanged but CF/OF are set from it.
        assert_eq!(sh(ROL8, 0x01, 8, OF), (0x01, CF | OF));
        assert_eq!(sh(ROL8, 0x80, 16, CF), (0x80, OF));
        // ROR: CF = new MSB, OF = the two top bits' XOR.
        assert_eq!(sh(ROR16, 0x0001, 1, 0), (0x8000, CF | OF));
        assert_eq!(sh(ROR16, 0x0003, 1, 0), (0x8001, CF | OF));
        assert_eq!(sh(ROR16, 0x8000, 16, 0), (0x8000, CF | OF));
    }

    #[test]
    fn rotates_through_carry() {
        // RCL by 1 shifts CF in and the MSB out.
        assert_eq!(sh(RCL8, 0x80, 1, CF), (0x01, CF | OF));
        assert_eq!(sh(RCL8, 0x40, 1, 0), (0x80, OF));
        // RCL of a byte by 8 is RCR by 1: CF goes to bit 7, bit 0 to CF.
        assert_eq!(sh(RCL8, 0x01, 8, CF), (0x80, CF));
        // Counts above 9 wrap modulo 9: 10 is 1.
        assert_eq!(sh(RCL8, 0x80, 10, CF), (0x01, CF | OF));
        // 16-bit by 16: CF goes to bit 15, old bit 0 becomes CF.
        assert_eq!(sh(RCL16, 0x0003, 16, 0), (0x0001, CF | OF));
        // 32-bit by 31 (no modulo for 32-bit operands).
        assert_eq!(sh(RCL32, 0x0000_0002, 31, CF), (0x4000_0000, CF | OF));
        // RCR by 1: CF into the MSB, OF = old MSB xor old CF.
        assert_eq!(sh(RCR8, 0x01, 1, CF), (0x80, CF | OF));
        assert_eq!(sh(RCR8, 0x80, 1, CF), (0xC0, 0));
        assert_eq!(sh(RCR32, 0x0000_0001, 1, 0), (0, CF));
        assert_eq!(sh(RCR32, 0x8000_0000, 31, CF), (0x0000_0003, 0));
    }

    #[test]
    fn one_and_imm8_forms() {
        let code = [
            0xD1, 0xE0, // shl eax, 1
            0xC1, 0xEB, 0x04, // shr ebx, 4
            0x66, 0xC1, 0xC2, 0x08, // rol dx, 8
            0xD0, 0xF9, // sar cl, 1
            0xC0, 0xD6, 0x01, // rcl dh, 1  (the imm8 form with 1)
        ];
        let m = exec32(&code, |m| {
            let s = &mut m.cpu.state;
            s.gpr[reg::RAX] = 0x4000_0001;
            s.gpr[reg::RBX] = 0x1234_5678;
            s.gpr[reg::RCX] = 0x85;
            s.gpr[reg::RDX] = 0xAA11_2233;
        });
        assert_eq!(r32(&m, reg::RAX), 0x8000_0002);
        assert_eq!(r32(&m, reg::RBX), 0x0123_4567);
        assert_eq!(r32(&m, reg::RCX), 0xC2);
        // rol dx by 8 -> 0x3322; sar cl left CF = 1; rcl dh (0x33) -> 0x67.
        assert_eq!(r32(&m, reg::RDX), 0xAA11_6722);
        // rcl: CF = old bit 7 of 0x33 = 0; OF = 0 ^ 0.
        assert_eq!(arith(&m) & (CF | OF), 0);
    }

    #[test]
    fn memory_operand_and_read_only_fault() {
        // shl dword [0x3000], 4 ; sar word [0x3004], cl
        let code = [0xC1, 0x25, 0x00, 0x30, 0x00, 0x00, 0x04, 0x66, 0xD3, 0x3D, 0x04, 0x30, 0x00, 0x00];
        let m = exec32(&code, |m| {
            m.load(DATA, &[0x21, 0x43, 0x65, 0x87, 0x00, 0x80]);
            m.cpu.state.gpr[reg::RCX] = 15;
        });
        assert_eq!(m.read_u32(DATA), 0x7654_3210);
        assert_eq!(m.read_phys(DATA + 4, 2), vec![0xFF, 0xFF]);
        // Count 0 still checks that the destination is writable.
        let code = [0xC1, 0x25, 0x00, 0x30, 0x00, 0x00, 0x00]; // shl dword [0x3000], 0
        let mut m = flat32(&code);
        m.cpu.state.seg[sreg::DS].attr &= !crate::state::attr::RW;
        set_arith(&mut m, OF | ZF);
        expect_fault(&mut m, &code, 13);
    }

    #[test]
    fn sixteen_bit_code_counts() {
        let run = |code: &[u8], v: u16, cl: u8, flags: u32| {
            let m = exec16(code, |m| {
                let s = &mut m.cpu.state;
                s.gpr[reg::RAX] = 0xEEEE_0000 | u64::from(v);
                s.gpr[reg::RCX] = u64::from(cl);
                set_arith(m, flags);
            });
            (r32(&m, reg::RAX), arith(&m))
        };
        // shr ax, 15 (width-1): CF = bit 14.
        assert_eq!(run(&[0xC1, 0xE8, 0x0F], 0xC000, 0, 0), (0xEEEE_0001, CF));
        // sar ax, 16 (width): all sign, CF = the sign.
        assert_eq!(run(&[0xC1, 0xF8, 0x10], 0x8000, 0, 0), (0xEEEE_FFFF, CF | SF | PF));
        // rol ax, 15 = ror 1: CF = new bit 0, OF = CF ^ new MSB.
        assert_eq!(run(&[0xC1, 0xC0, 0x0F], 0x4001, 0, 0), (0xEEEE_A000, OF));
        // rcr ax, 17: a full turn through CF, nothing changes.
        assert_eq!(run(&[0xC1, 0xD8, 0x11], 0x0001, 0, ZF | CF), (0xEEEE_0001, ZF | CF));
        // rcr ax, cl with CL = 18 is rcr by 1.
        assert_eq!(run(&[0xD3, 0xD8], 0x0001, 18, 0), (0xEEEE_0000, CF));
        // shld ax, bx, 31 (BX = 0): 0x1234:0x0000:0x1234 >> 1 = 0x091A.
        assert_eq!(run(&[0x0F, 0xA4, 0xD8, 0x1F], 0x1234, 0, 0), (0xEEEE_091A, 0));
        // shl word [bx+si], cl with 16-bit addressing.
        let m = exec16(&[0xD3, 0x20], |m| {
            let s = &mut m.cpu.state;
            s.gpr[reg::RBX] = DATA;
            s.gpr[reg::RSI] = 2;
            s.gpr[reg::RCX] = 4;
            m.load(DATA + 2, &[0x34, 0x12]);
        });
        assert_eq!(m.read_phys(DATA + 2, 2), vec![0x40, 0x23]);
        assert_eq!(arith(&m), CF | OF);
    }

    #[test]
    fn shift_after_lazy_flags_keeps_other_bits() {
        // cmp eax, ebx (lazy, 1 - 2); shl ecx, 1: all six flags from SHL,
        // DF and IF untouched.
        let code = [0x39, 0xD8, 0xD1, 0xE1];
        let m = exec32(&code, |m| {
            let s = &mut m.cpu.state;
            s.gpr[reg::RAX] = 1;
            s.gpr[reg::RBX] = 2;
            s.gpr[reg::RCX] = 0x4000_0000;
            s.eflags |= u64::from(fl::DF | fl::IF);
        });
        assert_eq!(arith(&m), OF | SF | PF);
        assert_eq!(m.cpu.state.flags() & (fl::DF | fl::IF), fl::DF | fl::IF);
    }

    fn dbl(code: &[u8], eax: u32, ebx: u32, cl: u8) -> (u32, u32) {
        let m = exec32(code, |m| {
            m.cpu.state.gpr[reg::RAX] = u64::from(eax);
            m.cpu.state.gpr[reg::RBX] = u64::from(ebx);
            m.cpu.state.gpr[reg::RCX] = u64::from(cl);
            set_arith(m, AF);
        });
        (r32(&m, reg::RAX), arith(&m))
    }

    #[test]
    fn shld_shrd() {
        const SHLD32: &[u8] = &[0x0F, 0xA5, 0xD8]; // shld eax, ebx, cl
        const SHRD32: &[u8] = &[0x0F, 0xAD, 0xD8]; // shrd eax, ebx, cl
        const SHLD16: &[u8] = &[0x66, 0x0F, 0xA5, 0xD8]; // shld ax, bx, cl
        const SHRD16: &[u8] = &[0x66, 0x0F, 0xAD, 0xD8]; // shrd ax, bx, cl
        assert_eq!(dbl(SHLD32, 0x1234_5678, 0x9ABC_DEF0, 8), (0x3456_789A, PF));
        assert_eq!(dbl(SHLD32, 0x8000_0000, 0xFFFF_FFFF, 1), (0x0000_0001, CF | OF));
        assert_eq!(dbl(SHLD32, 0x0000_0001, 0x8000_0000, 31), (0xC000_0000, SF | PF | OF));
        assert_eq!(dbl(SHRD32, 0x1234_5678, 0x9ABC_DEF0, 8), (0xF012_3456, SF | PF));
        assert_eq!(dbl(SHRD32, 0x0000_0001, 0x0000_0000, 1), (0, CF | ZF | PF));
        assert_eq!(dbl(SHRD32, 0x0000_0000, 0x0000_0001, 1), (0x8000_0000, SF | PF | OF));
        // Count 0: no change at all (AF stays set).
        assert_eq!(dbl(SHRD32, 0x1234_5678, 0x9ABC_DEF0, 0), (0x1234_5678, AF));
        // 16-bit within range.
        assert_eq!(dbl(SHLD16, 0xFFFF_1234, 0xABCD, 4), (0xFFFF_234A, CF | OF));
        assert_eq!(dbl(SHRD16, 0xFFFF_1234, 0xABCD, 16), (0xFFFF_ABCD, SF | OF));
        // 16-bit by 20 shifts dst:src:dst (P6): dst 0x1234, src 0xABCD ->
        // bits 12..27 of 0x1234_ABCD_1234 = 0xBCD1; CF = src bit 12 (0).
        assert_eq!(dbl(SHLD16, 0x1234, 0xABCD, 20), (0xBCD1, SF | PF | OF));
        // SHRD by 20: bits 20..35 of 0x1234_ABCD_1234 = 0x4ABC; CF = src bit 3.
        assert_eq!(dbl(SHRD16, 0x1234, 0xABCD, 20), (0x4ABC, CF | OF));
    }
}
