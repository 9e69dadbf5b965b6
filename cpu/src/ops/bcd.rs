//! Decimal arithmetic adjustments: DAA DAS AAA AAS AAM AAD (SDM vol. 2
//! instruction pages). AAM and AAD take any base in their immediate (the
//! documented forms use 10); AAM with base 0 raises #DE.
//!
//! AAA/AAS add or subtract 0x106 to AX as a whole (P6 and later; the
//! 8086 adjusted AL alone), so a borrow or carry out of AL reaches AH.
//!
//! Undefined flags, as P6-class Intel parts set them (Bochs `bcd.cc`,
//! validated against hardware): every one of these sets SF, ZF and PF
//! from the final AL and clears OF; AAM and AAD also clear CF and AF.

use super::*;
use crate::{
    flags::parity,
    state::{fl, reg},
};
use iced_x86::Code::*;

pub(super) fn register(t: &mut Table) {
    t.set(Daa, daa);
    t.set(Das, das);
    t.set(Aaa, aaa::<true>);
    t.set(Aas, aaa::<false>);
    t.set(Aam_imm8, aam);
    t.set(Aad_imm8, aad);
}

/// Writes AL (and AH when given) and the flags: SF/ZF/PF of AL, OF = 0,
/// CF and AF as given.
fn finish(cpu: &mut Cpu, ax: u16, cf: bool, af: bool) {
    let s = &mut cpu.state;
    s.set_r16(reg::RAX, ax);
    let al = u64::from(ax & 0xFF);
    let f = |b: bool, f: u32| if b { f } else { 0 };
    let bits = f(cf, fl::CF) | f(af, fl::AF) | f(al & 0x80 != 0, fl::SF) | f(al == 0, fl::ZF) | f(parity(al), fl::PF);
    super::alu::replace_arith(s, bits);
}

fn ax(cpu: &Cpu) -> u16 {
    cpu.state.gpr[reg::RAX] as u16
}

/// DAA: corrects AL after adding two packed BCD bytes.
fn daa(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let (old_cf, old_af) = (cpu.state.cf(), cpu.state.flags() & fl::AF != 0);
    let ax = ax(cpu);
    let old_al = ax as u8;
    let mut al = old_al;
    let af = old_al & 0xF > 9 || old_af;
    if af {
        al = al.wrapping_add(6);
    }
    let cf = old_al > 0x99 || old_cf;
    if cf {
        al = al.wrapping_add(0x60);
    }
    finish(cpu, (ax & 0xFF00) | u16::from(al), cf, af);
    Ok(())
}

/// DAS: corrects AL after subtracting two packed BCD bytes. Unlike DAA,
/// the borrow of the low-digit correction survives into CF.
fn das(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let (old_cf, old_af) = (cpu.state.cf(), cpu.state.flags() & fl::AF != 0);
    let ax = ax(cpu);
    let old_al = ax as u8;
    let mut al = old_al;
    let mut cf = false;
    let af = old_al & 0xF > 9 || old_af;
    if af {
        cf = old_cf || al < 6;
        al = al.wrapping_sub(6);
    }
    if old_al > 0x99 || old_cf {
        al = al.wrapping_sub(0x60);
        cf = true;
    }
    finish(cpu, (ax & 0xFF00) | u16::from(al), cf, af);
    Ok(())
}

/// AAA (`ADD`) / AAS: corrects AX after adding or subtracting unpacked
/// BCD digits.
fn aaa<const ADD: bool>(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let mut ax = ax(cpu);
    let adjust = ax & 0xF > 9 || cpu.state.flags() & fl::AF != 0;
    if adjust {
        ax = if ADD { ax.wrapping_add(0x106) } else { ax.wrapping_sub(0x106) };
    }
    finish(cpu, ax & 0xFF0F, adjust, adjust);
    Ok(())
}

/// AAM imm8: AH = AL / base, AL = AL % base.
fn aam(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let base = i.immediate8();
    if base == 0 {
        return Err(Fault::DE);
    }
    let al = ax(cpu) as u8;
    finish(cpu, u16::from(al / base) << 8 | u16::from(al % base), false, false);
    Ok(())
}

/// AAD imm8: AL = AH * base + AL (mod 256), AH = 0.
fn aad(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let ax = ax(cpu);
    let al = ((ax >> 8) as u8).wrapping_mul(i.immediate8()).wrapping_add(ax as u8);
    finish(cpu, u16::from(al), false, false);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::alu::test_util::*;
    use crate::state::fl::{AF, CF, OF, PF, SF, ZF};

    /// Runs `code` in real mode with EAX and the flags preset; returns EAX
    /// and the flags.
    fn bcd(code: &[u8], eax: u32, flags: u32) -> (u32, u32) {
        let m = exec16(code, |m| {
            m.cpu.state.gpr[reg::RAX] = u64::from(eax);
            set_arith(m, flags);
        });
        (r32(&m, reg::RAX), arith(&m))
    }

    const DAA: &[u8] = &[0x27]; // daa
    const DAS: &[u8] = &[0x2F]; // das
    const AAA: &[u8] = &[0x37]; // aaa
    const AAS: &[u8] = &[0x3F]; // aas
    const AAM: &[u8] = &[0xD4, 0x0A]; // aam
    const AAD: &[u8] = &[0xD5, 0x0A]; // aad

    #[test]
    fn daa_after_add() {
        // add al, bl (0x38 + 0x45 = 0x7D); daa -> 0x83
        let m = exec16(&[0x00, 0xD8, 0x27], |m| {
            m.cpu.state.gpr[reg::RAX] = 0x38;
            m.cpu.state.gpr[reg::RBX] = 0x45;
        });
        assert_eq!(r32(&m, reg::RAX), 0x83);
        assert_eq!(arith(&m), AF | SF);
        // 0x99 + 0x01 = 0x9A -> 0x00 with decimal carry.
        assert_eq!(bcd(DAA, 0xAB9A, 0), (0xAB00, CF | AF | ZF | PF));
        // AF from the addition (0x09 + 0x09 = 0x12, AF): 0x12 -> 0x18.
        assert_eq!(bcd(DAA, 0x12, AF | OF), (0x18, AF | PF));
        // CF from the addition (0x90 + 0x90 = 0x120): 0x20 -> 0x80.
        assert_eq!(bcd(DAA, 0x20, CF), (0x80, CF | SF));
        // Nothing to adjust: flags from AL, CF/AF/OF clear.
        assert_eq!(bcd(DAA, 0x42, OF), (0x42, PF));
        // 0xFA: both digits adjust, 0xFA + 0x66 = 0x60 (mod 256).
        assert_eq!(bcd(DAA, 0xFA, 0), (0x60, CF | AF | PF));
    }

    #[test]
    fn das_after_sub() {
        // 0x83 - 0x38 = 0x4B (AF) -> 0x45.
        assert_eq!(bcd(DAS, 0x4B, AF), (0x45, AF));
        // 0x10 - 0x20 = 0xF0 (CF) -> 0x90.
        assert_eq!(bcd(DAS, 0xF0, CF), (0x90, CF | SF | PF));
        // 0x00 - 0x01 = 0xFF (CF, AF) -> 0x99.
        assert_eq!(bcd(DAS, 0xFF, CF | AF), (0x99, CF | AF | SF | PF));
        // The low correction borrows (AL = 0x03 < 6) with CF clear: CF set.
        assert_eq!(bcd(DAS, 0x03, AF), (0xFD, CF | AF | SF));
        assert_eq!(bcd(DAS, 0x00, 0), (0x00, ZF | PF));
    }

    #[test]
    fn aaa_aas() {
        // 0x0B: AX + 0x106 = 0x0111, AL masked to its low digit.
        assert_eq!(bcd(AAA, 0x0B, 0), (0x0101, CF | AF));
        // No adjust: high nibble of AL is cleared; CF cleared.
        assert_eq!(bcd(AAA, 0x0235, CF), (0x0205, PF));
        // AL = 0xFA: AX + 0x106 carries out of AL into AH (P6 behaviour).
        assert_eq!(bcd(AAA, 0x00FA, 0), (0x0200, CF | AF | ZF | PF));
        // AAS with AF: AX = 0x0205 - 0x106 = 0x00FF -> 0x000F.
        assert_eq!(bcd(AAS, 0x0205, AF), (0x000F, CF | AF | PF));
        // AAS no adjust.
        assert_eq!(bcd(AAS, 0x0539, 0), (0x0509, PF));
        // AAS of 0x0000 with AF: 0x0000 - 0x106 = 0xFEFA -> 0xFE0A.
        assert_eq!(bcd(AAS, 0x0000, AF), (0xFE0A, CF | AF | PF));
    }

    #[test]
    fn aam_aad() {
        // 63 -> AH = 6, AL = 3.
        assert_eq!(bcd(AAM, 0x1234_003F, CF | AF | OF), (0x1234_0603, PF));
        assert_eq!(bcd(AAM, 0x0000, 0), (0x0000, ZF | PF));
        // Base 16: 0x3F -> 0x030F.
        assert_eq!(bcd(&[0xD4, 0x10], 0x3F, 0), (0x030F, PF));
        // AAD: 0x0603 -> 63.
        assert_eq!(bcd(AAD, 0x0603, CF), (0x003F, PF));
        // AAD wraps mod 256: AH = 0x1A, AL = 0x09: 26*10 + 9 = 269 -> 13.
        assert_eq!(bcd(AAD, 0x1A09, 0), (0x000D, 0));
        // Base 16 (D5 10): 0x0305 -> 0x35.
        assert_eq!(bcd(&[0xD5, 0x10], 0x0305, 0), (0x0035, PF));
        // Result with bit 7: SF.
        assert_eq!(bcd(AAD, 0x0D00, 0), (0x0082, SF | PF));
    }

    #[test]
    fn aam_zero_is_divide_error() {
        let code = [0xD4, 0x00]; // aam 0
        let mut m = real(&code);
        m.cpu.state.gpr[reg::RAX] = 0x1234;
        set_arith(&mut m, AF | ZF);
        expect_fault(&mut m, &code, 0);
    }
}
