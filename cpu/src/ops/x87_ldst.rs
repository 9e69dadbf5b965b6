//! x87 loads, stores and register moves (SDM vol. 2 FLD, FST/FSTP, FILD,
//! FIST/FISTP, FBLD, FBSTP, FLD1..FLDZ, FXCH, FCMOVcc, FFREE, FDECSTP,
//! FINCSTP, FNOP; vol. 1 8.3.8 for the constants' rounding).

use super::x87::{self, is_nan, is_unsupported, st_index, sw, INDEFINITE};
use super::x87_arith::load_mem;
use super::*;
use crate::{
    fpstate::F80,
    softfloat::{self, ext80, Rounding},
};
use iced_x86::Code::*;
use iced_x86::MemorySize;

pub(super) fn register(t: &mut Table) {
    t.set_all(&[Fld_m32fp, Fld_m64fp, Fld_m80fp, Fild_m16int, Fild_m32int, Fild_m64int], fld_mem);
    t.set(Fld_sti, fld_sti);
    t.set_all(&[Fst_m32fp, Fst_m64fp], fst_mem::<false>);
    t.set_all(&[Fstp_m32fp, Fstp_m64fp, Fstp_m80fp], fst_mem::<true>);
    t.set(Fst_sti, fst_sti::<false>);
    t.set_all(&[Fstp_sti, Fstpnce_sti, Fstp_sti_DFD0, Fstp_sti_DFD8], fst_sti::<true>);
    t.set_all(&[Fist_m16int, Fist_m32int], fist::<false>);
    t.set_all(&[Fistp_m16int, Fistp_m32int, Fistp_m64int], fist::<true>);
    t.set(Fbld_m80bcd, fbld);
    t.set(Fbstp_m80bcd, fbstp);
    t.set_all(&[Fld1, Fldl2t, Fldl2e, Fldpi, Fldlg2, Fldln2, Fldz], fld_const);
    t.set_all(&[Fxch_st0_sti, Fxch_st0_sti_DDC8, Fxch_st0_sti_DFC8], fxch);
    t.set_all(
        &[
            Fcmovb_st0_sti,
            Fcmove_st0_sti,
            Fcmovbe_st0_sti,
            Fcmovu_st0_sti,
            Fcmovnb_st0_sti,
            Fcmovne_st0_sti,
            Fcmovnbe_st0_sti,
            Fcmovnu_st0_sti,
        ],
        fcmov,
    );
    t.set(Ffree_sti, ffree::<false>);
    t.set(Ffreep_sti, ffree::<true>);
    t.set(Fdecstp, fstp_adjust::<7>);
    t.set(Fincstp, fstp_adjust::<1>);
    t.set(Fnop, fnop);
}

/// Pushes `v` (with the conversion exceptions `flags`), or handles the
/// stack overflow when ST(7) is in use.
fn push_checked(cpu: &mut Cpu, v: F80, flags: u16) {
    if !cpu.st_empty(7) {
        if cpu.stack_fault(true) {
            cpu.fpu_push(INDEFINITE);
        }
        return;
    }
    cpu.set_c1(false);
    // An unmasked denormal-operand exception does not stop a load
    // (observed on hardware); an unmasked invalid operation does.
    cpu.fpu_raise(flags);
    if cpu.fpu_masked(flags & sw::IE) {
        cpu.fpu_push(v);
    }
}

/// FLD m32/m64/m80, FILD m16/m32/m64. 32- and 64-bit reals and integers
/// convert exactly; an 80-bit value loads as it is, with no exception
/// even for an SNaN or an unsupported encoding (they raise IE when used).
fn fld_mem(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.x87_enter()?;
    let (v, f) = load_mem(cpu, env, i)?;
    cpu.x87_note(env, i);
    let v = if f & sw::IE != 0 { x87::quiet(v) } else { v };
    push_checked(cpu, v, f);
    Ok(())
}

fn fld_sti(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.x87_enter()?;
    cpu.x87_note(env, i);
    let src = st_index(i.op0_register());
    if cpu.st_empty(src) {
        if !cpu.st_empty(7) {
            push_checked(cpu, INDEFINITE, 0);
            // An empty source and a full destination at once: the host CPU
            // reports it as the underflow, with C1 clear.
            cpu.set_c1(false);
        } else if cpu.stack_fault(false) {
            cpu.fpu_push(INDEFINITE);
        }
        return Ok(());
    }
    let v = cpu.st(src);
    push_checked(cpu, v, 0);
    Ok(())
}

/// ST(0) rounded to the memory format: the bits, the exceptions, C1.
fn narrow(cpu: &Cpu, size: MemorySize, a: F80, rc: Rounding) -> (u64, u16, bool) {
    if size == MemorySize::Float80 {
        return (0, 0, false);
    }
    let f32_ = size == MemorySize::Float32;
    if is_unsupported(a) {
        return (if f32_ { 0xFFC0_0000 } else { 0xFFF8_0000_0000_0000 }, sw::IE, false);
    }
    let _ = cpu;
    let a = x87::canon(a);
    softfloat::take_flags();
    let conv = |x: F80| if f32_ { u64::from(ext80::to_f32(x)) } else { ext80::to_f64(x) };
    let v = conv(a);
    let flags = softfloat::take_flags() as u16;
    let mut up = false;
    if flags & sw::PE != 0 {
        softfloat::set_rounding(Rounding::TowardZero);
        up = conv(a) != v;
        softfloat::take_flags();
        softfloat::set_rounding(rc);
    }
    (v, flags, up)
}

/// FST/FSTP m32/m64, FSTP m80. An unmasked invalid, overflow or
/// underflow stores nothing and leaves the stack as it was (SDM 8.5.1.2,
/// 8.5.4.2, 8.5.5.2: no result is stored to a memory destination).
fn fst_mem<const POP: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let rc = cpu.x87_enter()?;
    let (seg, off) = mem_operand(&cpu.state, i);
    let size = i.memory_size();
    let (bytes, indefinite) = match size {
        MemorySize::Float32 => (4, 0xFFC0_0000),
        MemorySize::Float64 => (8, 0xFFF8_0000_0000_0000),
        _ => (10, 0),
    };
    // Check the whole destination before anything changes.
    let lin = cpu.seg_lin(seg, off, bytes, true)?;
    let user = cpu.user();
    cpu.probe_write(env, lin, bytes as usize, user)?;
    cpu.x87_note(env, i);
    let (v80, v, flags, up) = if cpu.st_empty(0) {
        if !cpu.stack_fault(false) {
            return Ok(());
        }
        (INDEFINITE, indefinite, 0, false)
    } else {
        let a = cpu.st(0);
        let (v, f, up) = narrow(cpu, size, a, rc);
        (a, v, f, up)
    };
    // Unmasked, underflow is signalled for any tiny result, exact or not;
    // an unmasked overflow or underflow stores nothing, and so reports no
    // precision loss either.
    let tiny = match bytes {
        4 => v & 0x7F80_0000 == 0 && v & 0x7F_FFFF != 0,
        8 => v & 0x7FF0_0000_0000_0000 == 0 && v & 0xF_FFFF_FFFF_FFFF != 0,
        _ => false,
    };
    let flags = if tiny && !cpu.fpu_masked(sw::UE) { flags | sw::UE } else { flags };
    let stop = !cpu.fpu_masked(flags & (sw::OE | sw::UE));
    let flags = if stop { flags & !sw::PE } else { flags };
    let store = cpu.fpu_raise(flags) && !stop;
    if !store {
        cpu.set_c1(false);
        return Ok(());
    }
    cpu.set_c1(up);
    match bytes {
        4 => cpu.write_lin::<4>(env, lin, v, user)?,
        8 => cpu.write_lin::<8>(env, lin, v, user)?,
        _ => {
            cpu.write_lin::<8>(env, lin, v80.signif, user)?;
            cpu.write_lin::<2>(env, (lin + 8) & 0xFFFF_FFFF, u64::from(v80.sign_exp), user)?;
        }
    }
    if POP {
        cpu.fpu_pop();
    }
    Ok(())
}

/// FST/FSTP ST(i): a plain copy, no rounding and no exceptions besides
/// stack underflow.
fn fst_sti<const POP: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.x87_enter()?;
    cpu.x87_note(env, i);
    let dst = st_index(i.op0_register());
    let v = if cpu.st_empty(0) {
        if !cpu.stack_fault(false) {
            return Ok(());
        }
        INDEFINITE
    } else {
        cpu.set_c1(false);
        cpu.st(0)
    };
    cpu.set_st(dst, v);
    if POP {
        cpu.fpu_pop();
    }
    Ok(())
}

/// ST(0) rounded by RC to an integer of `bits` bits: (value, exceptions,
/// C1). Out of range, NaN, infinity and unsupported give IE and the
/// integer indefinite.
fn to_int(a: F80, bits: u32, rc: Rounding) -> (i64, u16, bool) {
    let indefinite = i64::MIN >> (64 - bits);
    if is_unsupported(a) || is_nan(a) || x87::is_inf(a) {
        return (indefinite, sw::IE, false);
    }
    let a = x87::canon(a);
    let (r, flags, up) = x87::rounded(rc, || ext80::round_to_int(a));
    let v = ext80::to_i64(r);
    let invalid = softfloat::take_flags() as u16 & sw::IE != 0;
    let lim = 1i128 << (bits - 1);
    if invalid || i128::from(v) < -lim || i128::from(v) >= lim {
        return (indefinite, sw::IE, false);
    }
    (v, flags & sw::PE, up)
}

/// FIST/FISTP m16/m32/m64.
fn fist<const POP: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let rc = cpu.x87_enter()?;
    let (seg, off) = mem_operand(&cpu.state, i);
    let bytes: u32 = match i.memory_size() {
        MemorySize::Int16 => 2,
        MemorySize::Int32 => 4,
        _ => 8,
    };
    let lin = cpu.seg_lin(seg, off, bytes, true)?;
    let user = cpu.user();
    cpu.probe_write(env, lin, bytes as usize, user)?;
    cpu.x87_note(env, i);
    let (v, flags, up) = if cpu.st_empty(0) {
        if !cpu.stack_fault(false) {
            return Ok(());
        }
        (i64::MIN >> (64 - bytes * 8), 0, false)
    } else {
        to_int(cpu.st(0), bytes * 8, rc)
    };
    if !cpu.fpu_raise(flags) {
        cpu.set_c1(false);
        return Ok(());
    }
    cpu.set_c1(up);
    match bytes {
        2 => cpu.write_lin::<2>(env, lin, v as u64, user)?,
        4 => cpu.write_lin::<4>(env, lin, v as u64, user)?,
        _ => cpu.write_lin::<8>(env, lin, v as u64, user)?,
    }
    if POP {
        cpu.fpu_pop();
    }
    Ok(())
}

/// FBLD: 18 packed BCD digits and a sign byte; loads exactly.
fn fbld(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.x87_enter()?;
    let (seg, off) = mem_operand(&cpu.state, i);
    let lo = cpu.read::<8>(env, seg, off)?;
    let hi = cpu.read::<2>(env, seg, off.wrapping_add(8))?;
    cpu.x87_note(env, i);
    let mut n: i64 = 0;
    // Digits above 9 are undefined on hardware; they just weigh as read.
    let digits = u128::from(lo) | u128::from(hi & 0xFF) << 64;
    for k in (0..18).rev() {
        n = n.wrapping_mul(10).wrapping_add(((digits >> (k * 4)) & 0xF) as i64);
    }
    let mut v = ext80::from_i64(n);
    if hi & 0x8000 != 0 {
        v.sign_exp |= 0x8000;
    }
    push_checked(cpu, v, 0);
    Ok(())
}

/// FBSTP: ST(0) rounded by RC to an integer of at most 18 decimal digits;
/// otherwise IE and the packed BCD indefinite.
fn fbstp(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let rc = cpu.x87_enter()?;
    let (seg, off) = mem_operand(&cpu.state, i);
    let lin = cpu.seg_lin(seg, off, 10, true)?;
    let user = cpu.user();
    cpu.probe_write(env, lin, 10, user)?;
    cpu.x87_note(env, i);
    const BCD_INDEFINITE: (u64, u16) = (0xC000_0000_0000_0000, 0xFFFF);
    let (out, flags, up) = if cpu.st_empty(0) {
        if !cpu.stack_fault(false) {
            return Ok(());
        }
        (BCD_INDEFINITE, 0, false)
    } else {
        let a = cpu.st(0);
        let (v, f, up) = to_int(a, 64, rc);
        if f & sw::IE != 0 || v.unsigned_abs() > 999_999_999_999_999_999 {
            (BCD_INDEFINITE, sw::IE, false)
        } else {
            let mut m = v.unsigned_abs();
            let mut digits: u128 = 0;
            for k in 0..18 {
                digits |= u128::from(m % 10) << (k * 4);
                m /= 10;
            }
            let sign = if x87::neg(a) { 0x8000 } else { 0 };
            ((digits as u64, (digits >> 64) as u16 | sign), f, up)
        }
    };
    if !cpu.fpu_raise(flags) {
        cpu.set_c1(false);
        return Ok(());
    }
    cpu.set_c1(up);
    cpu.write_lin::<8>(env, lin, out.0, user)?;
    cpu.write_lin::<2>(env, (lin + 8) & 0xFFFF_FFFF, u64::from(out.1), user)?;
    cpu.fpu_pop();
    Ok(())
}

/// FLDZ, FLD1 and the five constants. The constants are held with more
/// bits than fit; the value loaded is that rounded to 64 bits by RC
/// (precision control does not apply, no PE): (exponent, significand
/// rounded to nearest, whether that rounding went up).
fn fld_const(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let rc = cpu.x87_enter()?;
    cpu.x87_note(env, i);
    let (sign_exp, nearest, went_up) = match i.code() {
        Fld1 => (0x3FFF, 1u64 << 63, None),
        Fldl2t => (0x4000, 0xD49A_784B_CD1B_8AFE, Some(false)),
        Fldl2e => (0x3FFF, 0xB8AA_3B29_5C17_F0BC, Some(true)),
        Fldpi => (0x4000, 0xC90F_DAA2_2168_C235, Some(true)),
        Fldlg2 => (0x3FFD, 0x9A20_9A84_FBCF_F799, Some(true)),
        Fldln2 => (0x3FFE, 0xB172_17F7_D1CF_79AC, Some(true)),
        _ => (0, 0, None),
    };
    let signif = match (went_up, rc) {
        (Some(true), Rounding::Down | Rounding::TowardZero) => nearest - 1,
        (Some(false), Rounding::Up) => nearest + 1,
        _ => nearest,
    };
    push_checked(cpu, F80 { signif, sign_exp }, 0);
    Ok(())
}

/// FXCH: empty operands are first filled with the QNaN indefinite when
/// the stack underflow is masked.
fn fxch(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.x87_enter()?;
    cpu.x87_note(env, i);
    let j = st_index(i.op1_register());
    if cpu.st_empty(0) || cpu.st_empty(j) {
        if !cpu.stack_fault(false) {
            return Ok(());
        }
        for k in [0, j] {
            if cpu.st_empty(k) {
                cpu.set_st(k, INDEFINITE);
            }
        }
    } else {
        cpu.set_c1(false);
    }
    let (a, b) = (cpu.st(0), cpu.st(j));
    cpu.set_st(0, b);
    cpu.set_st(j, a);
    Ok(())
}

/// FCMOVcc: ST(0) = ST(i) when the EFLAGS condition holds.
fn fcmov(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.x87_enter()?;
    cpu.x87_note(env, i);
    let j = st_index(i.op1_register());
    let s = &cpu.state;
    let take = match i.code() {
        Fcmovb_st0_sti => s.cf(),
        Fcmove_st0_sti => s.zf(),
        Fcmovbe_st0_sti => s.cf() || s.zf(),
        Fcmovu_st0_sti => s.pf(),
        Fcmovnb_st0_sti => !s.cf(),
        Fcmovne_st0_sti => !s.zf(),
        Fcmovnbe_st0_sti => !s.cf() && !s.zf(),
        _ => !s.pf(),
    };
    if cpu.st_empty(0) || cpu.st_empty(j) {
        if cpu.stack_fault(false) {
            cpu.set_st(0, INDEFINITE);
        }
        return Ok(());
    }
    // C1 changes only on a stack underflow (SDM "FCMOVcc", and the host).
    if take {
        let v = cpu.st(j);
        cpu.set_st(0, v);
    }
    Ok(())
}

/// FFREE ST(i) marks it empty; FFREEP (undocumented, DF C0+i) also pops.
fn ffree<const POP: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.x87_enter()?;
    cpu.x87_note(env, i);
    let p = cpu.st_phys(st_index(i.op0_register()));
    cpu.set_phys_tag(p, crate::fpstate::tag::EMPTY);
    if POP {
        // The pop empties ST(0) as well.
        let p0 = cpu.st_phys(0);
        cpu.set_phys_tag(p0, crate::fpstate::tag::EMPTY);
        let top = cpu.fpu_top() + 1;
        cpu.set_fpu_top(top);
    }
    Ok(())
}

/// FDECSTP / FINCSTP: TOP moves, tags and contents stay.
fn fstp_adjust<const D: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.x87_enter()?;
    cpu.x87_note(env, i);
    let top = cpu.fpu_top() + D;
    cpu.set_fpu_top(top);
    cpu.set_c1(false);
    Ok(())
}

fn fnop(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.x87_enter()?;
    cpu.x87_note(env, i);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::x87::tests::{fpu_machine, run};
    use super::*;
    use crate::testing::TestMachine;

    fn fsw(m: &TestMachine) -> u16 {
        m.cpu.state.fpu.fsw
    }

    fn f80(v: f64) -> F80 {
        ext80::from_f64(v.to_bits())
    }

    #[test]
    fn load_convert_store_round_trip() {
        let mut m = fpu_machine();
        m.mem.write(0x2000, &1.5f32.to_bits().to_le_bytes());
        m.mem.write(0x2008, &(-1234567i32).to_le_bytes());
        // fld dword [0x2000]; fild dword [0x2008]; fstp qword [0x2010]; fistp word [0x2018]
        run(
            &mut m,
            &[
                0xD9, 0x05, 0x00, 0x20, 0, 0, 0xDB, 0x05, 0x08, 0x20, 0, 0, 0xDD, 0x1D, 0x10, 0x20, 0, 0, 0xDF, 0x1D, 0x18, 0x20,
                0, 0,
            ],
        );
        assert_eq!(m.read_phys(0x2010, 8), (-1234567f64).to_bits().to_le_bytes());
        assert_eq!(m.read_phys(0x2018, 2), [2, 0], "1.5 rounds to even 2");
        assert_eq!(fsw(&m) & (sw::EXC | sw::C1 | sw::TOP), sw::PE | sw::C1);
        assert_eq!(m.cpu.state.fpu.ftw, 0xFFFF);
    }

    #[test]
    fn snan_and_denormal_loads() {
        let mut m = fpu_machine();
        m.mem.write(0x2000, &0x7F80_0001u32.to_le_bytes());
        m.mem.write(0x2004, &1u32.to_le_bytes());
        run(&mut m, &[0xD9, 0x05, 0x00, 0x20, 0, 0, 0xD9, 0x05, 0x04, 0x20, 0, 0]);
        assert_eq!(m.cpu.st(1), F80 { signif: 0xC000_0100_0000_0000, sign_exp: 0x7FFF }, "quieted");
        assert_eq!(m.cpu.st(0), F80 { signif: 1 << 63, sign_exp: 0x3FFF - 149 });
        assert_eq!(fsw(&m) & sw::EXC, sw::IE | sw::DE);
        // Unmasked IE: nothing pushed.
        let mut m = fpu_machine();
        m.cpu.state.fpu.fcw &= !sw::IE;
        m.mem.write(0x2000, &0x7F80_0001u32.to_le_bytes());
        run(&mut m, &[0xD9, 0x05, 0x00, 0x20, 0, 0]);
        assert_eq!((m.cpu.fpu_top(), m.cpu.state.fpu.ftw), (0, 0xFFFF));
        assert_eq!(fsw(&m) & (sw::ES | sw::B), sw::ES | sw::B);
    }

    #[test]
    fn stack_overflow_masked_and_unmasked() {
        let mut m = fpu_machine();
        run(&mut m, &[0xD9, 0xE8].repeat(9)); // 9 x fld1
        assert_eq!(m.cpu.st(0), INDEFINITE);
        assert_eq!(fsw(&m) & (sw::EXC | sw::SF | sw::C1), sw::IE | sw::SF | sw::C1);
        let mut m = fpu_machine();
        m.cpu.state.fpu.fcw &= !sw::IE;
        run(&mut m, &[0xD9, 0xE8].repeat(9));
        assert_eq!(m.cpu.st(0), f80(1.0));
        assert_eq!(m.cpu.fpu_top(), 0);
        assert_eq!(fsw(&m) & (sw::ES | sw::SF | sw::C1), sw::ES | sw::SF | sw::C1);
    }

    #[test]
    fn fist_out_of_range_and_fst_overflow() {
        let mut m = fpu_machine();
        m.cpu.fpu_push(f80(40000.0));
        run(&mut m, &[0xDF, 0x1D, 0x00, 0x20, 0, 0]); // fistp word [0x2000]
        assert_eq!(m.read_phys(0x2000, 2), [0x00, 0x80]);
        assert_eq!(fsw(&m) & sw::EXC, sw::IE);
        let mut m = fpu_machine();
        m.cpu.fpu_push(F80 { signif: 1 << 63, sign_exp: 0x4000 + 200 });
        run(&mut m, &[0xD9, 0x15, 0x00, 0x20, 0, 0]); // fst dword: overflow
        assert_eq!(m.read_u32(0x2000), 0x7F80_0000);
        assert_eq!(fsw(&m) & (sw::EXC | sw::C1), sw::OE | sw::PE | sw::C1);
        let mut m = fpu_machine();
        m.cpu.state.fpu.fcw &= !sw::OE;
        m.cpu.fpu_push(F80 { signif: 1 << 63, sign_exp: 0x4000 + 200 });
        m.mem.write(0x2000, &0x1234_5678u32.to_le_bytes());
        run(&mut m, &[0xD9, 0x1D, 0x00, 0x20, 0, 0]); // fstp dword: unmasked
        assert_eq!(m.read_u32(0x2000), 0x1234_5678, "memory untouched");
        assert_eq!(m.cpu.fpu_top(), 7, "not popped");
    }

    #[test]
    fn bcd_round_trip() {
        let mut m = fpu_machine();
        m.mem.write(0x2000, &[0x21, 0x43, 0x65, 0x87, 0x09, 0, 0, 0, 0x12, 0x80]);
        // fbld [0x2000]; fbstp [0x2010]
        run(&mut m, &[0xDF, 0x25, 0x00, 0x20, 0, 0, 0xDF, 0x35, 0x10, 0x20, 0, 0]);
        assert_eq!(m.read_phys(0x2010, 10), [0x21, 0x43, 0x65, 0x87, 0x09, 0, 0, 0, 0x12, 0x80]);
        assert_eq!(m.cpu.state.fpu.ftw, 0xFFFF);
    }

    #[test]
    fn constants_round_by_rc() {
        for (rc, pi, l2t) in [(0, 0xC235, 0x8AFE), (1, 0xC234, 0x8AFE), (2, 0xC235, 0x8AFF), (3, 0xC234, 0x8AFE)] {
            let mut m = fpu_machine();
            m.cpu.state.fpu.fcw |= rc << 10;
            run(&mut m, &[0xD9, 0xEB, 0xD9, 0xE9]); // fldpi; fldl2t
            assert_eq!(m.cpu.st(1).signif & 0xFFFF, pi);
            assert_eq!(m.cpu.st(0).signif & 0xFFFF, l2t);
            assert_eq!(fsw(&m) & sw::EXC, 0);
        }
    }

    #[test]
    fn fxch_fcmov_ffree() {
        let mut m = fpu_machine();
        // fld1; fldz; fxch st1
        run(&mut m, &[0xD9, 0xE8, 0xD9, 0xEE, 0xD9, 0xC9]);
        assert_eq!((m.cpu.st(0), m.cpu.st(1)), (f80(1.0), f80(0.0)));
        // stc; fcmovb st0, st1 ; takes
        run(&mut m, &[0xF9, 0xDA, 0xC1]);
        assert_eq!(m.cpu.st(0), f80(0.0));
        assert_eq!(m.cpu.state.fpu.ftw & 0xF << 12, (1 << 14) | (1 << 12), "both zero-tagged");
        // fld1; clc; fcmovb st0, st1 ; does not take
        run(&mut m, &[0xD9, 0xE8, 0xF8, 0xDA, 0xC1]);
        assert_eq!(m.cpu.st(0), f80(1.0));
        // ffree st1; fincstp
        run(&mut m, &[0xDD, 0xC1, 0xD9, 0xF7]);
        assert!(m.cpu.st_empty(0));
        assert_eq!(m.cpu.fpu_top(), 6);
    }
}
