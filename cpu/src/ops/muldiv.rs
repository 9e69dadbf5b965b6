//! Multiplication and division: MUL, IMUL (one, two and three operands),
//! DIV, IDIV (SDM vol. 2 "MUL", "IMUL", "DIV", "IDIV").
//!
//! Division raises #DE for a zero divisor and for a quotient that does
//! not fit the destination (including the most negative dividend divided
//! by -1), before any register changes.
//!
//! Undefined flags, as Bochs (`mult*.cc`) models P6-class parts: after
//! MUL/IMUL, SF, ZF and PF follow
//! the low half of the product (the truncated result for the two- and
//! three-operand forms) and AF is 0; DIV/IDIV leave all flags unchanged.

use super::*;
use crate::{
    flags::{mask, parity, sign},
    state::{fl, reg},
};
use iced_x86::Code::*;

pub(super) fn register(t: &mut Table) {
    t.set(Mul_rm8, mul::<1, false>);
    t.set(Mul_rm16, mul::<2, false>);
    t.set(Mul_rm32, mul::<4, false>);
    t.set(Imul_rm8, mul::<1, true>);
    t.set(Imul_rm16, mul::<2, true>);
    t.set(Imul_rm32, mul::<4, true>);
    t.set_all(&[Imul_r16_rm16, Imul_r16_rm16_imm16, Imul_r16_rm16_imm8], imul_r::<2>);
    t.set_all(&[Imul_r32_rm32, Imul_r32_rm32_imm32, Imul_r32_rm32_imm8], imul_r::<4>);
    t.set(Div_rm8, div::<1>);
    t.set(Div_rm16, div::<2>);
    t.set(Div_rm32, div::<4>);
    t.set(Idiv_rm8, idiv::<1>);
    t.set(Idiv_rm16, idiv::<2>);
    t.set(Idiv_rm32, idiv::<4>);
}

/// `v` (an `N`-byte value) sign-extended.
#[inline(always)]
fn sext<const N: usize>(v: u64) -> i64 {
    let shift = 64 - N as u32 * 8;
    ((v << shift) as i64) >> shift
}

/// The flags of a multiplication whose `N`-byte low result is `low`.
#[inline(always)]
fn mul_flags<const N: usize>(cpu: &mut Cpu, low: u64, overflow: bool) {
    let f = |b: bool, f: u32| if b { f } else { 0 };
    let bits = f(overflow, fl::CF | fl::OF) | f(low & sign(N as u8) != 0, fl::SF) | f(low == 0, fl::ZF) | f(parity(low), fl::PF);
    super::alu::replace_arith(&mut cpu.state, bits);
}

/// Writes a double-width result: AX for bytes, DX:AX or EDX:EAX.
#[inline(always)]
fn write_pair<const N: usize>(cpu: &mut Cpu, low: u64, high: u64) {
    let s = &mut cpu.state;
    match N {
        1 => s.set_r16(reg::RAX, (low | high << 8) as u16),
        2 => {
            s.set_r16(reg::RAX, low as u16);
            s.set_r16(reg::RDX, high as u16);
        }
        _ => {
            s.set_r32(reg::RAX, low as u32);
            s.set_r32(reg::RDX, high as u32);
        }
    }
}

/// MUL / IMUL (`SIGNED`) r/m: AL, AX or EAX times the operand into AX,
/// DX:AX or EDX:EAX. CF = OF = the high half is significant.
fn mul<const N: usize, const SIGNED: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let src = read_op::<N>(cpu, env, i, 0)?;
    let m = mask(N as u8);
    let acc = cpu.state.gpr[reg::RAX] & m;
    let w = N as u32 * 8;
    let (low, high, overflow) = if SIGNED {
        let p = sext::<N>(acc).wrapping_mul(sext::<N>(src));
        let low = p as u64 & m;
        (low, (p >> w) as u64 & m, sext::<N>(low) != p)
    } else {
        let p = acc * src;
        (p & m, p >> w, p >> w != 0)
    };
    write_pair::<N>(cpu, low, high);
    mul_flags::<N>(cpu, low, overflow);
    Ok(())
}

/// IMUL reg, r/m and IMUL reg, r/m, imm: the product truncated to the
/// destination; CF = OF = the truncation lost significant bits.
fn imul_r<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let (a, b) = if i.op_count() == 3 {
        (read_op::<N>(cpu, env, i, 1)?, read_op::<N>(cpu, env, i, 2)?)
    } else {
        (reg_read(&cpu.state, i.op0_register()), read_op::<N>(cpu, env, i, 1)?)
    };
    let p = sext::<N>(a).wrapping_mul(sext::<N>(b));
    let res = p as u64 & mask(N as u8);
    reg_write(&mut cpu.state, i.op0_register(), res);
    mul_flags::<N>(cpu, res, sext::<N>(res) != p);
    Ok(())
}

/// The double-width dividend: AX, DX:AX or EDX:EAX.
#[inline(always)]
fn dividend<const N: usize>(cpu: &Cpu) -> u64 {
    let s = &cpu.state;
    match N {
        1 => s.gpr[reg::RAX] & 0xFFFF,
        2 => (s.gpr[reg::RDX] & 0xFFFF) << 16 | (s.gpr[reg::RAX] & 0xFFFF),
        _ => (s.gpr[reg::RDX] & 0xFFFF_FFFF) << 32 | (s.gpr[reg::RAX] & 0xFFFF_FFFF),
    }
}

/// DIV r/m: quotient to AL/AX/EAX, remainder to AH/DX/EDX.
fn div<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let d = read_op::<N>(cpu, env, i, 0)?;
    if d == 0 {
        return Err(Fault::DE);
    }
    let n = dividend::<N>(cpu);
    let q = n / d;
    if q > mask(N as u8) {
        return Err(Fault::DE);
    }
    write_pair::<N>(cpu, q, n % d);
    Ok(())
}

/// IDIV r/m: signed, quotient truncated toward zero, the remainder takes
/// the dividend's sign.
fn idiv<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let d = sext::<N>(read_op::<N>(cpu, env, i, 0)?);
    let w = N as u32 * 8;
    let raw = dividend::<N>(cpu);
    // Sign-extend the 2w-bit dividend.
    let n = if N == 4 { raw as i64 } else { ((raw << (64 - 2 * w)) as i64) >> (64 - 2 * w) };
    // checked_div catches both a zero divisor and i64::MIN / -1.
    let q = n.checked_div(d).ok_or(Fault::DE)?;
    let limit = 1i64 << (w - 1);
    if q < -limit || q >= limit {
        return Err(Fault::DE);
    }
    let m = mask(N as u8);
    write_pair::<N>(cpu, q as u64 & m, n.wrapping_rem(d) as u64 & m);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::alu::test_util::*;
    use crate::state::fl::{AF, CF, OF, PF, SF, ZF};

    /// Runs `code` with EAX, EDX and EBX preset; returns EAX, EDX and the
    /// arithmetic flags.
    fn md(code: &[u8], eax: u32, edx: u32, ebx: u32) -> (u32, u32, u32) {
        let m = exec32(code, |m| {
            let s = &mut m.cpu.state;
            s.gpr[reg::RAX] = u64::from(eax);
            s.gpr[reg::RDX] = u64::from(edx);
            s.gpr[reg::RBX] = u64::from(ebx);
        });
        (r32(&m, reg::RAX), r32(&m, reg::RDX), arith(&m))
    }

    const MUL8: &[u8] = &[0xF6, 0xE3]; // mul bl
    const MUL16: &[u8] = &[0x66, 0xF7, 0xE3]; // mul bx
    const MUL32: &[u8] = &[0xF7, 0xE3]; // mul ebx
    const IMUL8: &[u8] = &[0xF6, 0xEB]; // imul bl
    const IMUL16: &[u8] = &[0x66, 0xF7, 0xEB]; // imul bx
    const IMUL32: &[u8] = &[0xF7, 0xEB]; // imul ebx
    const DIV8: &[u8] = &[0xF6, 0xF3]; // div bl
    const DIV16: &[u8] = &[0x66, 0xF7, 0xF3]; // div bx
    const DIV32: &[u8] = &[0xF7, 0xF3]; // div ebx
    const IDIV8: &[u8] = &[0xF6, 0xFB]; // idiv bl
    const IDIV16: &[u8] = &[0x66, 0xF7, 0xFB]; // idiv bx
    const IDIV32: &[u8] = &[0xF7, 0xFB]; // idiv ebx

    #[test]
    fn mul_widths_and_flags() {
        // AL * BL -> AX; upper EAX bits and EDX untouched.
        assert_eq!(md(MUL8, 0xAAAA_0010, 7, 0x10), (0xAAAA_0100, 7, CF | OF | ZF | PF));
        assert_eq!(md(MUL8, 0x0F, 0, 0x11), (0x00FF, 0, PF | SF));
        assert_eq!(md(MUL8, 0xFF, 0, 0xFF), (0xFE01, 0, CF | OF));
        assert_eq!(md(MUL16, 0xFFFF, 0xDEAD_0000, 0xFFFF), (0x0001, 0xDEAD_FFFE, CF | OF));
        assert_eq!(md(MUL16, 0x0100, 0x1234, 0x00FF), (0xFF00, 0, SF | PF));
        assert_eq!(md(MUL32, 0xFFFF_FFFF, 0, 0xFFFF_FFFF), (0x0000_0001, 0xFFFF_FFFE, CF | OF));
        assert_eq!(md(MUL32, 0, 5, 0x1234), (0, 0, ZF | PF));
    }

    #[test]
    fn imul_one_operand() {
        // -1 * -1 = 1: fits, no CF/OF.
        assert_eq!(md(IMUL8, 0xFF, 0, 0xFF), (0x0001, 0, 0));
        // -128 * -1 = 128 does not fit in a signed byte.
        assert_eq!(md(IMUL8, 0x80, 0, 0xFF), (0x0080, 0, CF | OF | SF));
        // -2 * 3 = -6: AX = 0xFFFA, fits.
        assert_eq!(md(IMUL8, 0xFE, 0, 0x03), (0xFFFA, 0, SF | PF));
        assert_eq!(md(IMUL16, 0x8000, 0, 0xFFFF), (0x8000, 0, CF | OF | SF | PF));
        assert_eq!(md(IMUL16, 0xFFFF, 0x5555_0000, 0x0002), (0xFFFE, 0x5555_FFFF, SF));
        assert_eq!(md(IMUL32, 0x8000_0000, 0, 0x8000_0000), (0, 0x4000_0000, CF | OF | ZF | PF));
        assert_eq!(md(IMUL32, 0xFFFF_FFFF, 0, 7), (0xFFFF_FFF9, 0xFFFF_FFFF, SF | PF));
    }

    #[test]
    fn imul_two_and_three_operands() {
        let code = [
            0x0F, 0xAF, 0xC3, // imul eax, ebx
            0x6B, 0xC9, 0xFD, // imul ecx, ecx, -3
            0x66, 0x69, 0xD6, 0x00, 0x01, // imul dx, si, 0x100
            0x69, 0x3D, 0x00, 0x30, 0x00, 0x00, 0x10, 0x00, 0x00, 0x00, // imul edi, [0x3000], 16
        ];
        let m = exec32(&code, |m| {
            m.load(DATA, &0x1000_0000u32.to_le_bytes());
            let s = &mut m.cpu.state;
            s.gpr[reg::RAX] = 6;
            s.gpr[reg::RBX] = 7;
            s.gpr[reg::RCX] = 5;
            s.gpr[reg::RDX] = 0xABCD_0000;
            s.gpr[reg::RSI] = 0x0081;
        });
        assert_eq!(r32(&m, reg::RAX), 42);
        assert_eq!(r32(&m, reg::RCX), (-15i32) as u32);
        // 0x81 * 0x100 = 0x8100: positive product, negative as 16 bits.
        assert_eq!(r32(&m, reg::RDX), 0xABCD_8100);
        // 0x1000_0000 * 16 overflows 32 bits to 0.
        assert_eq!(r32(&m, reg::RDI), 0);
        assert_eq!(arith(&m), CF | OF | ZF | PF);
        // The 16-bit step alone: overflow with SF from the truncated result.
        let code = [0x66, 0x69, 0xD6, 0x00, 0x01];
        let m = exec32(&code, |m| m.cpu.state.gpr[reg::RSI] = 0x81);
        assert_eq!(arith(&m), CF | OF | SF | PF);
    }

    #[test]
    fn div_results() {
        // 0x0105 / 0x10 = 0x10 r 5 -> AL = 0x10, AH = 5.
        assert_eq!(md(DIV8, 0xAAAA_0105, 0, 0x10).0, 0xAAAA_0510);
        // 0x0001_0000 / 2 = 0x8000.
        assert_eq!(md(DIV16, 0x0000, 0x0001, 2).0, 0x8000);
        assert_eq!(md(DIV16, 0x0007, 0x0001, 0x0010), (0x1000, 0x0007, 0));
        // The largest quotient that fits: 0xFFFF_FFFE_0000_0001 / 0xFFFF_FFFF.
        assert_eq!(md(DIV32, 0x0000_0001, 0xFFFF_FFFE, 0xFFFF_FFFF), (0xFFFF_FFFF, 0, 0));
        assert_eq!(md(DIV32, 100, 0, 7), (14, 2, 0));
    }

    #[test]
    fn div_leaves_flags() {
        // cmp esi, edi (0 - 1: CF SF AF PF, pending lazily); div ebx
        let code = [0x39, 0xFE, 0xF7, 0xF3];
        let m = exec32(&code, |m| {
            m.cpu.state.gpr[reg::RAX] = 10;
            m.cpu.state.gpr[reg::RBX] = 3;
            m.cpu.state.gpr[reg::RDX] = 0;
            m.cpu.state.gpr[reg::RDI] = 1;
        });
        assert_eq!(r32(&m, reg::RAX), 3);
        assert_eq!(arith(&m), CF | SF | AF | PF);
    }

    #[test]
    fn idiv_results() {
        // -7 / 2 = -3 r -1 (truncation toward zero).
        assert_eq!(md(IDIV8, 0xFFF9, 0, 2).0, 0xFFFD);
        // The most negative quotient is allowed: -256 / 2 = -128.
        assert_eq!(md(IDIV8, 0xFF00, 0, 2).0, 0x0080);
        // 7 / -2 = -3 r 1.
        assert_eq!(md(IDIV16, 7, 0, 0xFFFE), (0xFFFD, 1, 0));
        assert_eq!(md(IDIV16, 0x0000, 0xFFFF, 2), (0x8000, 0, 0));
        // -2^32 / 2 = -2^31, the most negative quotient.
        assert_eq!(md(IDIV32, 0, 0xFFFF_FFFF, 2), (0x8000_0000, 0, 0));
        assert_eq!(md(IDIV32, (-100i32) as u32, 0xFFFF_FFFF, 7), ((-14i32) as u32, (-2i32) as u32, 0));
    }

    /// Runs `code` in flat 32-bit mode with EAX, EDX, EBX preset and
    /// expects #DE with nothing changed.
    fn de32(code: &[u8], eax: u32, edx: u32, ebx: u32) {
        let mut m = flat32(code);
        let s = &mut m.cpu.state;
        s.gpr[reg::RAX] = u64::from(eax);
        s.gpr[reg::RDX] = u64::from(edx);
        s.gpr[reg::RBX] = u64::from(ebx);
        set_arith(&mut m, CF | PF);
        expect_fault(&mut m, code, 0);
    }

    #[test]
    fn divide_errors() {
        de32(DIV8, 0x1234, 0, 0);
        de32(DIV16, 0x1234, 0, 0);
        de32(DIV32, 0x1234, 0, 0);
        de32(IDIV32, 0x1234, 0, 0);
        // Quotient too large: 0x1000 / 0x10 = 0x100 does not fit in AL.
        de32(DIV8, 0x1000, 0, 0x10);
        de32(DIV16, 0, 0x0001, 1);
        de32(DIV32, 0, 1, 1);
        // IDIV: 128 does not fit; -32768 / -1 and -2^63 / -1 overflow.
        de32(IDIV8, 0x0100, 0, 2);
        de32(IDIV8, 0x8000, 0, 0xFF);
        de32(IDIV16, 0x0000, 0x8000, 0xFFFF);
        de32(IDIV32, 0, 0x8000_0000, 0xFFFF_FFFF);
        // -129 * 2 / 2 = -129: below the most negative byte.
        de32(IDIV8, (-258i16) as u16 as u32, 0, 2);
    }

    #[test]
    fn divide_error_in_real_mode_and_memory_operand() {
        // div word [bx] with a zero divisor in memory.
        let code = [0xF7, 0x37];
        let mut m = real(&code);
        m.cpu.state.gpr[reg::RBX] = DATA;
        m.cpu.state.gpr[reg::RAX] = 0x1234;
        m.load(DATA, &[0, 0]);
        expect_fault(&mut m, &code, 0);
        // And a working one: 0x1234 / 0x10 = 0x123 r 4.
        let m = exec16(&code, |m| {
            m.cpu.state.gpr[reg::RBX] = DATA;
            m.cpu.state.gpr[reg::RAX] = 0x1234;
            m.cpu.state.gpr[reg::RDX] = 0;
            m.load(DATA, &[0x10, 0]);
        });
        assert_eq!((r32(&m, reg::RAX), r32(&m, reg::RDX)), (0x123, 4));
    }
}
