//! x87 arithmetic (SDM vol. 2 FADD..FDIVR, FIADD.., FSQRT, FABS, FCHS,
//! FRNDINT, FSCALE, FXTRACT, FPREM, FPREM1) and comparisons (FCOM,
//! FUCOM, FICOM, FCOMI, FUCOMI, FTST, FXAM; vol. 1 8.3.6 and table 8-6).

use super::x87::{self, is_denormal, is_inf, is_nan, is_unsupported, is_zero, st_index, sw, Op, Outcome, BIAS, INDEFINITE};
use super::*;
use crate::{
    fpstate::F80,
    softfloat::{self, ext80},
    state::fl,
};
use iced_x86::Code::*;
use iced_x86::MemorySize;

pub(super) fn register(t: &mut Table) {
    t.set_all(&[Fadd_m32fp, Fadd_m64fp, Fiadd_m16int, Fiadd_m32int, Fadd_st0_sti, Fadd_sti_st0], arith::<0, false, false>);
    t.set_all(&[Fmul_m32fp, Fmul_m64fp, Fimul_m16int, Fimul_m32int, Fmul_st0_sti, Fmul_sti_st0], arith::<2, false, false>);
    t.set_all(&[Fsub_m32fp, Fsub_m64fp, Fisub_m16int, Fisub_m32int, Fsub_st0_sti, Fsub_sti_st0], arith::<1, false, false>);
    t.set_all(&[Fsubr_m32fp, Fsubr_m64fp, Fisubr_m16int, Fisubr_m32int, Fsubr_st0_sti, Fsubr_sti_st0], arith::<1, true, false>);
    t.set_all(&[Fdiv_m32fp, Fdiv_m64fp, Fidiv_m16int, Fidiv_m32int, Fdiv_st0_sti, Fdiv_sti_st0], arith::<3, false, false>);
    t.set_all(&[Fdivr_m32fp, Fdivr_m64fp, Fidivr_m16int, Fidivr_m32int, Fdivr_st0_sti, Fdivr_sti_st0], arith::<3, true, false>);
    t.set(Faddp_sti_st0, arith::<0, false, true>);
    t.set(Fmulp_sti_st0, arith::<2, false, true>);
    t.set(Fsubp_sti_st0, arith::<1, false, true>);
    t.set(Fsubrp_sti_st0, arith::<1, true, true>);
    t.set(Fdivp_sti_st0, arith::<3, false, true>);
    t.set(Fdivrp_sti_st0, arith::<3, true, true>);
    t.set_all(&[Fcom_m32fp, Fcom_m64fp, Ficom_m16int, Ficom_m32int, Fcom_st0_sti, Fcom_st0_sti_DCD0], fcom::<false, 0>);
    t.set_all(
        &[Fcomp_m32fp, Fcomp_m64fp, Ficomp_m16int, Ficomp_m32int, Fcomp_st0_sti, Fcomp_st0_sti_DCD8, Fcomp_st0_sti_DED0],
        fcom::<false, 1>,
    );
    t.set(Fcompp, fcom::<false, 2>);
    t.set(Fucom_st0_sti, fcom::<true, 0>);
    t.set(Fucomp_st0_sti, fcom::<true, 1>);
    t.set(Fucompp, fcom::<true, 2>);
    t.set(Fcomi_st0_sti, fcomi::<false, false>);
    t.set(Fcomip_st0_sti, fcomi::<false, true>);
    t.set(Fucomi_st0_sti, fcomi::<true, false>);
    t.set(Fucomip_st0_sti, fcomi::<true, true>);
    t.set(Ftst, ftst);
    t.set(Fxam, fxam);
    t.set(Fchs, fchs_fabs::<true>);
    t.set(Fabs, fchs_fabs::<false>);
    t.set(Fsqrt, fsqrt);
    t.set(Frndint, frndint);
    t.set(Fscale, fscale);
    t.set(Fxtract, fxtract);
    t.set(Fprem, fprem::<false>);
    t.set(Fprem1, fprem::<true>);
}

const OPS: [Op; 4] = [Op::Add, Op::Sub, Op::Mul, Op::Div];

/// A 32-bit real as an 80-bit one, with the exceptions its load raises:
/// DE for a denormal, IE for an SNaN. The SNaN stays signalling here, so
/// that an arithmetic instruction picks between two SNaN operands as the
/// x87 does; FLD quiets it.
pub(super) fn from_f32(v: u32) -> (F80, u16) {
    let (e, frac) = ((v >> 23) & 0xFF, v & 0x7F_FFFF);
    let sign = ((v >> 16) & 0x8000) as u16;
    if e == 0xFF && frac != 0 && frac & 0x40_0000 == 0 {
        return (F80 { signif: 1 << 63 | u64::from(frac) << 40, sign_exp: sign | 0x7FFF }, sw::IE);
    }
    let f = if e == 0 && frac != 0 { sw::DE } else { 0 };
    let r = ext80::from_f32(v);
    softfloat::take_flags();
    (r, f)
}

pub(super) fn from_f64(v: u64) -> (F80, u16) {
    let (e, frac) = ((v >> 52) & 0x7FF, v & ((1 << 52) - 1));
    let sign = ((v >> 48) & 0x8000) as u16;
    if e == 0x7FF && frac != 0 && frac & (1 << 51) == 0 {
        return (F80 { signif: 1 << 63 | frac << 11, sign_exp: sign | 0x7FFF }, sw::IE);
    }
    let f = if e == 0 && frac != 0 { sw::DE } else { 0 };
    let r = ext80::from_f64(v);
    softfloat::take_flags();
    (r, f)
}

/// Reads the memory operand (real or integer) as an 80-bit value plus the
/// exceptions its conversion raises.
pub(super) fn load_mem(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(F80, u16), Fault> {
    let (seg, off) = mem_operand(&cpu.state, i);
    Ok(match i.memory_size() {
        MemorySize::Float32 => from_f32(cpu.read::<4>(env, seg, off)? as u32),
        MemorySize::Float64 => from_f64(cpu.read::<8>(env, seg, off)?),
        MemorySize::Int16 => (ext80::from_i64(i64::from(cpu.read::<2>(env, seg, off)? as u16 as i16)), 0),
        MemorySize::Int32 => (ext80::from_i64(i64::from(cpu.read::<4>(env, seg, off)? as u32 as i32)), 0),
        MemorySize::Int64 => (ext80::from_i64(cpu.read::<8>(env, seg, off)? as i64), 0),
        _ => {
            let signif = cpu.read::<8>(env, seg, off)?;
            let sign_exp = cpu.read::<2>(env, seg, off.wrapping_add(8))? as u16;
            (F80 { signif, sign_exp }, 0)
        }
    })
}

/// FADD/FSUB/FSUBR/FMUL/FDIV/FDIVR and their P and integer forms: the
/// destination is operand 0 (ST(0) for the memory forms), the source
/// operand 1 or memory; `REV` swaps the operands of the operation.
fn arith<const OP: usize, const REV: bool, const POP: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let rc = cpu.x87_enter()?;
    let (dst, mem, pre) = if i.op0_kind() == OpKind::Memory {
        let (v, f) = load_mem(cpu, env, i)?;
        (0, Some(v), f)
    } else {
        (st_index(i.op0_register()), None, 0)
    };
    let src = if i.op_count() > 1 { st_index(i.op1_register()) } else { 0 };
    cpu.x87_note(env, i);
    if cpu.st_empty(dst) || (mem.is_none() && cpu.st_empty(src)) {
        if cpu.stack_fault(false) {
            cpu.set_st(dst, INDEFINITE);
            if POP {
                cpu.fpu_pop();
            }
        }
        return Ok(());
    }
    let d = cpu.st(dst);
    let s = mem.unwrap_or_else(|| cpu.st(src));
    let (a, b) = if REV { (s, d) } else { (d, s) };
    let o = cpu.x87_binop(OPS[OP & 3], a, b, pre & sw::DE != 0, rc);
    if cpu.x87_commit(dst, &o) && POP {
        cpu.fpu_pop();
    }
    Ok(())
}

/// Condition codes of a comparison (SDM table 8-6 layout in C3 C2 C0).
const CC_GT: u16 = 0;
const CC_LT: u16 = sw::C0;
const CC_EQ: u16 = sw::C3;
const CC_UN: u16 = sw::C3 | sw::C2 | sw::C0;

/// Compares `a` with `b`: the condition-code bits and the exceptions.
/// FCOM-class compares (`quiet` false) treat any NaN as invalid; FUCOM
/// only an SNaN.
fn compare(a: F80, b: F80, quiet: bool) -> (u16, u16) {
    if is_unsupported(a) || is_unsupported(b) {
        return (CC_UN, sw::IE);
    }
    if is_nan(a) || is_nan(b) {
        let invalid = !quiet || x87::is_snan(a) || x87::is_snan(b);
        return (CC_UN, if invalid { sw::IE } else { 0 });
    }
    let f = if is_denormal(a) || is_denormal(b) { sw::DE } else { 0 };
    let (a, b) = (x87::canon(a), x87::canon(b));
    let cc = if ext80::lt(a, b) {
        CC_LT
    } else if ext80::eq(a, b) {
        CC_EQ
    } else {
        CC_GT
    };
    softfloat::take_flags();
    (cc, f)
}

/// FCOM/FCOMP/FCOMPP, FUCOM*, FICOM*: ST(0) against ST(i), ST(1) or
/// memory, popping `POPS` times.
fn fcom<const QUIET: bool, const POPS: u8>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.x87_enter()?;
    let (mem, pre) = if i.op_count() > 0 && i.op0_kind() == OpKind::Memory {
        let (v, f) = load_mem(cpu, env, i)?;
        (Some(v), f)
    } else {
        (None, 0)
    };
    let src = if i.op_count() > 1 { st_index(i.op1_register()) } else { 1 };
    cpu.x87_note(env, i);
    let (cc, flags) = if cpu.st_empty(0) || (mem.is_none() && cpu.st_empty(src)) {
        // The codes say unordered even when the fault is unmasked
        // (observed on hardware).
        if !cpu.stack_fault(false) {
            cpu.set_cc(sw::CC, CC_UN);
            return Ok(());
        }
        (CC_UN, 0)
    } else {
        let b = mem.unwrap_or_else(|| cpu.st(src));
        let (cc, f) = compare(cpu.st(0), b, QUIET);
        let f = if f == 0 && pre & sw::DE != 0 && !is_nan(b) { sw::DE } else { f };
        // The codes are written even when an unmasked exception stops
        // the instruction (observed on hardware); it does not pop then.
        if !cpu.fpu_raise(f) {
            cpu.set_cc(sw::CC, cc);
            return Ok(());
        }
        (cc, f)
    };
    let _ = flags;
    cpu.set_cc(sw::CC, cc);
    for _ in 0..POPS {
        cpu.fpu_pop();
    }
    Ok(())
}

/// FCOMI/FUCOMI(P): the comparison lands in ZF, PF and CF (OF, SF, AF
/// cleared); C1 is cleared.
/// FCOMI and friends clear C1 on a stack underflow and otherwise leave it
/// as it was: the SDM's flags line says "C1 set to 0", but the host CPU
/// (the oracle of the conformance sweep) changes it only for the
/// underflow, as FCMOVcc's page describes for that instruction.
fn fcomi<const QUIET: bool, const POP: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.x87_enter()?;
    let src = st_index(i.op1_register());
    cpu.x87_note(env, i);
    let cc = if cpu.st_empty(0) || cpu.st_empty(src) {
        if !cpu.stack_fault(false) {
            set_eflags(cpu, CC_UN);
            return Ok(());
        }
        CC_UN
    } else {
        let (cc, f) = compare(cpu.st(0), cpu.st(src), QUIET);
        if !cpu.fpu_raise(f) {
            // EFLAGS are written even then (observed on hardware), but
            // nothing is popped.
            set_eflags(cpu, cc);
            return Ok(());
        }
        cc
    };
    set_eflags(cpu, cc);
    if POP {
        cpu.fpu_pop();
    }
    Ok(())
}

/// ZF, PF, CF from the condition-code form of a comparison; OF, SF, AF
/// cleared.
fn set_eflags(cpu: &mut Cpu, cc: u16) {
    let mut bits = 0;
    if cc & sw::C3 != 0 {
        bits |= fl::ZF;
    }
    if cc & sw::C2 != 0 {
        bits |= fl::PF;
    }
    if cc & sw::C0 != 0 {
        bits |= fl::CF;
    }
    cpu.state.set_arith(fl::ARITH, bits);
}

/// FTST: ST(0) against +0.0.
fn ftst(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.x87_enter()?;
    cpu.x87_note(env, i);
    if cpu.st_empty(0) {
        cpu.stack_fault(false);
        cpu.set_cc(sw::CC, CC_UN);
        return Ok(());
    }
    let (cc, f) = compare(cpu.st(0), F80::default(), false);
    // Written even with an unmasked exception (observed on hardware).
    cpu.fpu_raise(f);
    cpu.set_cc(sw::CC, cc);
    Ok(())
}

/// FXAM: the class of ST(0) in C3 C2 C0 and its sign in C1 (SDM vol. 2
/// FXAM table).
fn fxam(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.x87_enter()?;
    cpu.x87_note(env, i);
    let v = cpu.st(0);
    let class = if cpu.st_empty(0) {
        sw::C3 | sw::C0
    } else if is_unsupported(v) {
        0
    } else if is_nan(v) {
        sw::C0
    } else if is_inf(v) {
        sw::C2 | sw::C0
    } else if is_zero(v) {
        sw::C3
    } else if is_denormal(v) {
        sw::C3 | sw::C2
    } else {
        sw::C2
    };
    let sign = if x87::neg(v) { sw::C1 } else { 0 };
    cpu.set_cc(sw::CC, class | sign);
    Ok(())
}

/// FCHS / FABS: sign changes only, never an arithmetic exception.
fn fchs_fabs<const CHS: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.x87_enter()?;
    cpu.x87_note(env, i);
    if cpu.st_empty(0) {
        if cpu.stack_fault(false) {
            cpu.set_st(0, INDEFINITE);
        }
        return Ok(());
    }
    let mut v = cpu.st(0);
    v.sign_exp = if CHS { v.sign_exp ^ 0x8000 } else { v.sign_exp & 0x7FFF };
    cpu.set_c1(false);
    cpu.set_st(0, v);
    Ok(())
}

/// A one-operand operation on ST(0) with the shared screening:
/// unsupported -> IE, NaN propagates (IE for an SNaN), denormal -> DE.
fn unop(cpu: &mut Cpu, env: &mut Env, i: &Instruction, f: impl Fn(F80) -> F80) -> Result<(), Fault> {
    let rc = cpu.x87_enter()?;
    cpu.x87_note(env, i);
    if cpu.st_empty(0) {
        if cpu.stack_fault(false) {
            cpu.set_st(0, INDEFINITE);
        }
        return Ok(());
    }
    let a = cpu.st(0);
    let o = if is_unsupported(a) {
        Outcome { val: INDEFINITE, flags: sw::IE, c1: false }
    } else {
        let (val, flags, c1) = x87::rounded(rc, || f(x87::canon(a)));
        // An invalid operation outranks the denormal operand (SDM 8.7).
        let de = if is_denormal(a) && flags & sw::IE == 0 { sw::DE } else { 0 };
        if !cpu.fpu_masked(de) {
            Outcome { val: a, flags: de, c1: false }
        } else {
            Outcome { val, flags: flags | de, c1 }
        }
    };
    cpu.x87_commit(0, &o);
    Ok(())
}

fn fsqrt(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    unop(cpu, env, i, ext80::sqrt)
}

/// FRNDINT rounds by RC to an integral value; precision control does not
/// apply.
fn frndint(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    unop(cpu, env, i, ext80::round_to_int)
}

/// The stack-fault prologue of the two-register instructions that read
/// ST(0) and ST(1) and write ST(0): false when the instruction ends here.
fn need_st0_st1(cpu: &mut Cpu) -> Option<(F80, F80)> {
    if cpu.st_empty(0) || cpu.st_empty(1) {
        if cpu.stack_fault(false) {
            cpu.set_st(0, INDEFINITE);
        }
        return None;
    }
    Some((cpu.st(0), cpu.st(1)))
}

/// NaN propagation and operand screening for two-operand instructions
/// outside the four basic operations: Some(outcome) when it decides the
/// result, with DE accumulated into `de` otherwise.
fn screen2(a: F80, b: F80, de: &mut u16) -> Option<Outcome> {
    if is_unsupported(a) || is_unsupported(b) {
        return Some(Outcome { val: INDEFINITE, flags: sw::IE, c1: false });
    }
    if is_nan(a) || is_nan(b) {
        let val = ext80::add(a, b);
        let flags = softfloat::take_flags() as u16 & sw::IE;
        return Some(Outcome { val, flags, c1: false });
    }
    if is_denormal(a) || is_denormal(b) {
        *de = sw::DE;
    }
    None
}

/// FSCALE: ST(0) * 2^trunc(ST(1)), exact unless the result leaves the
/// exponent range.
fn fscale(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let rc = cpu.x87_enter()?;
    cpu.x87_note(env, i);
    let Some((a, b)) = need_st0_st1(cpu) else { return Ok(()) };
    let mut de = 0;
    let o = match screen2(a, b, &mut de) {
        Some(o) => o,
        None if !cpu.fpu_masked(de) => Outcome { val: a, flags: de, c1: false },
        None => scale(cpu, a, b, rc, de),
    };
    cpu.x87_commit(0, &o);
    Ok(())
}

fn scale(cpu: &Cpu, a: F80, b: F80, rc: softfloat::Rounding, de: u16) -> Outcome {
    let ok = |val| Outcome { val, flags: de, c1: false };
    let bneg = x87::neg(b);
    if is_inf(b) {
        return match (is_zero(a), is_inf(a), bneg) {
            (true, _, false) | (_, true, true) => Outcome { val: INDEFINITE, flags: sw::IE | de, c1: false },
            (false, false, false) => ok(F80 { signif: 1 << 63, sign_exp: (a.sign_exp & 0x8000) | 0x7FFF }),
            (false, false, true) => ok(F80 { signif: 0, sign_exp: a.sign_exp & 0x8000 }),
            _ => ok(a),
        };
    }
    if is_zero(a) || is_inf(a) {
        return ok(a);
    }
    // trunc(ST(1)) clamped far beyond any representable result.
    let n: i32 = if is_zero(b) || x87::exp(b) < 0x3FFF {
        0
    } else if x87::exp(b) > 0x3FFF + 20 {
        if bneg {
            -0x10_0000
        } else {
            0x10_0000
        }
    } else {
        let m = (b.signif >> (63 - (x87::exp(b) - 0x3FFF))) as i32;
        if bneg {
            -m
        } else {
            m
        }
    };
    let s = a.sign_exp & 0x8000;
    let (ea, ma) = if x87::exp(a) == 0 {
        let sh = a.signif.leading_zeros();
        (1 - sh as i32, a.signif << sh)
    } else {
        (i32::from(x87::exp(a)), a.signif)
    };
    let e = ea + n;
    if (1..=0x7FFE).contains(&e) {
        return ok(F80 { signif: ma, sign_exp: s | e as u16 });
    }
    let over = e > 0x7FFE;
    if !cpu.fpu_masked(if over { sw::OE } else { sw::UE }) {
        // Unmasked: the exact result with its exponent wrapped by 24576
        // when that brings it into range; otherwise an infinity or a zero
        // whatever the rounding mode (both observed on hardware).
        let w = if over { e - 24576 } else { e + 24576 };
        if (1..=0x7FFE).contains(&w) {
            let flags = de | if over { sw::OE } else { sw::UE };
            return Outcome { val: F80 { signif: ma, sign_exp: s | w as u16 }, flags, c1: false };
        }
        return if over {
            Outcome { val: F80 { signif: 1 << 63, sign_exp: s | 0x7FFF }, flags: de | sw::OE | sw::PE, c1: true }
        } else {
            Outcome { val: F80 { signif: 0, sign_exp: s }, flags: de | sw::UE | sw::PE, c1: false }
        };
    }
    // Let SoftFloat round the out-of-range value in one step, as
    // (1.m * 2^k1) * 2^k2 with the first product exact.
    let (e1, k2) = if over { (0x7FFE, (e - 0x7FFE).min(0x3FFF)) } else { (1, (e - 1).max(1 - BIAS)) };
    let x = F80 { signif: ma, sign_exp: s | e1 as u16 };
    let p = F80 { signif: 1 << 63, sign_exp: (BIAS + k2) as u16 };
    // FSCALE ignores precision control, even in its overflow response.
    softfloat::set_x87_precision(64);
    let (val, flags, c1) = x87::rounded(rc, || ext80::mul(x, p));
    Outcome { val, flags: flags | de, c1 }
}

/// FXTRACT: ST(0) becomes its significand (exponent 0) and its exponent
/// is pushed below it... precisely: TEMP = ST(0); ST(0) = exponent; push
/// significand.
fn fxtract(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.x87_enter()?;
    cpu.x87_note(env, i);
    if cpu.st_empty(0) {
        if cpu.stack_fault(false) {
            cpu.set_st(0, INDEFINITE);
            cpu.fpu_push(INDEFINITE);
        }
        return Ok(());
    }
    if !cpu.st_empty(7) {
        if cpu.stack_fault(true) {
            cpu.set_st(0, INDEFINITE);
            cpu.fpu_push(INDEFINITE);
        }
        return Ok(());
    }
    let a = cpu.st(0);
    let s = a.sign_exp & 0x8000;
    let (e, sig, flags) = if is_unsupported(a) {
        (INDEFINITE, INDEFINITE, sw::IE)
    } else if is_nan(a) {
        let q = x87::quiet(a);
        (q, q, if x87::is_snan(a) { sw::IE } else { 0 })
    } else if is_inf(a) {
        (F80 { signif: 1 << 63, sign_exp: 0x7FFF }, a, 0)
    } else if is_zero(a) {
        (F80 { signif: 1 << 63, sign_exp: 0xFFFF }, a, sw::ZE)
    } else {
        let (ea, ma, de) = if is_denormal(a) {
            let sh = a.signif.leading_zeros();
            (1 - sh as i32, a.signif << sh, sw::DE)
        } else {
            (i32::from(x87::exp(a)), a.signif, 0)
        };
        let ev = ext80::from_i64(i64::from(ea - BIAS));
        (ev, F80 { signif: ma, sign_exp: s | BIAS as u16 }, de)
    };
    // C1 is cleared even when an unmasked exception withholds the result
    // (as the host CPU shows).
    cpu.set_c1(false);
    if cpu.fpu_raise(flags) {
        cpu.set_st(0, e);
        cpu.fpu_push(sig);
    }
    Ok(())
}

/// FPREM / FPREM1: the partial remainder ST(0) - q * ST(1), q the
/// quotient truncated (FPREM) or rounded to nearest even (FPREM1). When
/// the exponents differ by 64 or more only a partial reduction is done
/// and C2 says so; otherwise quotient bits 2, 1, 0 go to C0, C3, C1.
fn fprem<const IEEE: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.x87_enter()?;
    cpu.x87_note(env, i);
    // C2 is set only by a partial reduction, C1 only as quotient bit 0 of
    // a complete one; every other outcome (stack underflow, a NaN, invalid
    // or unmasked-denormal operand) clears both, as the host CPU shows.
    cpu.set_cc(sw::C1 | sw::C2, 0);
    let Some((a, b)) = need_st0_st1(cpu) else { return Ok(()) };
    let mut de = 0;
    if let Some(o) = screen2(a, b, &mut de) {
        cpu.x87_commit(0, &o);
        return Ok(());
    }
    if is_inf(a) || is_zero(b) {
        // The invalid operation outranks a denormal operand.
        cpu.x87_commit(0, &Outcome { val: INDEFINITE, flags: sw::IE, c1: false });
        return Ok(());
    }
    if !cpu.fpu_raise(de) {
        return Ok(());
    }
    // A dividend returned as it is comes back normalised: a pseudo-
    // denormal gets its true exponent, 1.
    let a = x87::canon(a);
    if is_zero(a) || is_inf(b) {
        cpu.set_cc(sw::CC, 0);
        let v = wrap_tiny(cpu, a);
        cpu.set_st(0, v);
        return Ok(());
    }
    let (val, q, partial) = remainder::<IEEE>(a, b);
    let val = wrap_tiny(cpu, val);
    let mut cc = 0;
    if partial {
        cc |= sw::C2;
    } else {
        if q & 4 != 0 {
            cc |= sw::C0;
        }
        if q & 1 != 0 {
            cc |= sw::C1;
        }
        if q & 2 != 0 {
            cc |= sw::C3;
        }
    }
    cpu.set_cc(sw::CC, cc);
    cpu.set_st(0, val);
    Ok(())
}

/// A denormal FPREM result is exact; with underflow unmasked it is
/// signalled anyway and the result delivered normalised, its exponent
/// wrapped by 24576 (SDM 8.5.5.2; hardware does this even when the
/// dividend comes back unchanged).
fn wrap_tiny(cpu: &mut Cpu, v: F80) -> F80 {
    if !is_denormal(v) || cpu.fpu_masked(sw::UE) {
        return v;
    }
    cpu.fpu_raise(sw::UE);
    let sh = v.signif.leading_zeros();
    F80 { signif: v.signif << sh, sign_exp: (v.sign_exp & 0x8000) | (1 - sh as i32 + 24576) as u16 }
}

/// The exact remainder of finite non-zero `a` by `b`: (value, low quotient
/// bits, partial).
fn remainder<const IEEE: bool>(a: F80, b: F80) -> (F80, u64, bool) {
    let unpack = |x: F80| {
        if x87::exp(x) == 0 {
            let sh = x.signif.leading_zeros();
            (1 - sh as i32, x.signif << sh)
        } else {
            (i32::from(x87::exp(x)), x.signif)
        }
    };
    let (ea, ma) = unpack(a);
    let (mut eb, mb) = unpack(b);
    let mut d = ea - eb;
    let mut partial = false;
    if d >= 64 {
        // Reduce the exponent difference by 32..63, as the 387 does; the
        // caller loops until C2 clears.
        let n = (d & 31) | 32;
        eb = ea - n;
        d = n;
        partial = true;
    }
    if d < -1 {
        return (a, 0, false);
    }
    // a = ma * 2^(ea-63), b = mb * 2^(eb-63); both scaled by 2^(eb-64).
    let num = u128::from(ma) << (d + 1);
    let den = u128::from(mb) << 1;
    let mut q = num / den;
    let mut r = num % den;
    let mut sign = a.sign_exp & 0x8000;
    if IEEE && !partial && (2 * r > den || (2 * r == den && q & 1 != 0)) {
        r = den - r;
        q += 1;
        sign ^= 0x8000;
    }
    if r == 0 {
        return (F80 { signif: 0, sign_exp: a.sign_exp & 0x8000 }, q as u64, partial);
    }
    // value = r * 2^(eb - 64 - bias) with r < 2^65 and even when >= 2^64.
    let p = 127 - r.leading_zeros() as i32;
    let signif = if p >= 63 { (r >> (p - 63)) as u64 } else { (r << (63 - p)) as u64 };
    let e = p + eb - 64;
    let val = if e >= 1 {
        F80 { signif, sign_exp: sign | e as u16 }
    } else {
        F80 { signif: signif >> (1 - e).min(63), sign_exp: sign }
    };
    (val, q as u64, partial)
}

#[cfg(test)]
mod tests {
    use super::super::x87::tests::{fpu_machine, run};
    use super::*;
    use crate::{fpstate::tag, testing::TestMachine};

    fn f80(v: f64) -> F80 {
        ext80::from_f64(v.to_bits())
    }

    /// Loads `vals` (ST(0) first) onto the stack of `m`.
    fn set_stack(m: &mut TestMachine, vals: &[F80]) {
        for v in vals.iter().rev() {
            m.cpu.fpu_push(*v);
        }
    }

    fn fsw(m: &TestMachine) -> u16 {
        m.cpu.state.fpu.fsw
    }

    #[test]
    fn one_third_under_each_precision_and_rounding() {
        // (PC, RC) -> significand of 1/3 and whether it rounds up.
        let cases = [
            (3, 0, 0xAAAA_AAAA_AAAA_AAAB, true),
            (3, 1, 0xAAAA_AAAA_AAAA_AAAA, false),
            (3, 2, 0xAAAA_AAAA_AAAA_AAAB, true),
            (3, 3, 0xAAAA_AAAA_AAAA_AAAA, false),
            (2, 0, 0xAAAA_AAAA_AAAA_A800, false),
            (2, 2, 0xAAAA_AAAA_AAAA_B000, true),
            (0, 0, 0xAAAA_AB00_0000_0000, true),
            (0, 3, 0xAAAA_AA00_0000_0000, false),
        ];
        for (pc, rc, signif, up) in cases {
            let mut m = fpu_machine();
            m.cpu.state.fpu.fcw = 0x037F & !0x0300 | (pc << 8) | (rc << 10);
            set_stack(&mut m, &[f80(1.0), f80(3.0)]);
            run(&mut m, &[0xD8, 0xF1]); // fdiv st0, st1
            assert_eq!(m.cpu.st(0), F80 { signif, sign_exp: 0x3FFD }, "PC {pc} RC {rc}");
            assert_eq!(fsw(&m) & (sw::EXC | sw::C1), sw::PE | if up { sw::C1 } else { 0 }, "PC {pc} RC {rc}");
        }
    }

    #[test]
    fn operand_forms_and_reverse_pop() {
        let mut m = fpu_machine();
        set_stack(&mut m, &[f80(8.0), f80(2.0)]);
        m.mem.write(0x2000, &3.0f32.to_bits().to_le_bytes());
        m.mem.write(0x2008, &10.0f64.to_bits().to_le_bytes());
        m.mem.write(0x2010, &(-4i16).to_le_bytes());
        // fsubr dword [0x2000]    ; st0 = 3 - 8 = -5
        // fdiv qword [0x2008]     ; st0 = -0.5
        // fimul word [0x2010]     ; st0 = 2
        // fsubp st1, st0          ; st1 = 2 - 2 = 0, pop
        run(&mut m, &[0xD8, 0x2D, 0x00, 0x20, 0, 0, 0xDC, 0x35, 0x08, 0x20, 0, 0, 0xDE, 0x0D, 0x10, 0x20, 0, 0, 0xDE, 0xE9]);
        assert_eq!(m.cpu.st(0), F80::default(), "2 - 2 after the pop");
        assert_eq!(m.cpu.fpu_top(), 7);
        assert_eq!(m.cpu.state.fpu.ftw, 0x3FFF | tag::ZERO << 14, "R7 holds a zero");
        // fld1; fdivrp st1, st0: st1 = st0 / st1 = 1 / 0: ZE, +inf.
        run(&mut m, &[0xD9, 0xE8, 0xDE, 0xF1]);
        assert_eq!(m.cpu.st(0), F80 { signif: 1 << 63, sign_exp: 0x7FFF });
        assert_eq!(fsw(&m) & sw::EXC, sw::ZE);
        assert_eq!(m.cpu.state.fpu.fdp, 0x2010);
        assert_eq!(m.cpu.state.fpu.fop, 0x6F1, "DE F1");
    }

    #[test]
    fn masked_and_unmasked_overflow_and_underflow() {
        let big = F80 { signif: 1 << 63, sign_exp: 0x7FFE };
        let tiny = F80 { signif: 1 << 63, sign_exp: 0x0001 };
        // Masked overflow: infinity, OE and PE, C1 (rounded up).
        let mut m = fpu_machine();
        set_stack(&mut m, &[big, big]);
        run(&mut m, &[0xD8, 0xC9]); // fmul st0, st1
        assert_eq!(m.cpu.st(0), F80 { signif: 1 << 63, sign_exp: 0x7FFF });
        assert_eq!(fsw(&m) & (sw::EXC | sw::C1 | sw::ES), sw::OE | sw::PE | sw::C1);
        // Unmasked overflow: 2^32767 * 2^16383 wrapped by 24576, exact.
        let mut m = fpu_machine();
        m.cpu.state.fpu.fcw &= !sw::OE;
        set_stack(&mut m, &[big, big]);
        run(&mut m, &[0xD8, 0xC9]);
        assert_eq!(m.cpu.st(0), F80 { signif: 1 << 63, sign_exp: (0x7FFE + 0x7FFE - 0x3FFF - 24576) as u16 });
        assert_eq!(fsw(&m) & (sw::EXC | sw::ES | sw::B), sw::OE | sw::ES | sw::B);
        // Masked underflow: tiny * 0.75 is a denormal, inexact.
        let mut m = fpu_machine();
        set_stack(&mut m, &[tiny, f80(0.75)]);
        run(&mut m, &[0xD8, 0xC9]);
        assert_eq!(m.cpu.st(0), F80 { signif: 0x6000_0000_0000_0000, sign_exp: 0 }, "exact: 0.75 * 2^-16382");
        assert_eq!(fsw(&m) & sw::EXC, 0, "exact tiny result: no UE while masked");
        // Unmasked underflow: signalled even when exact; wrapped result.
        let mut m = fpu_machine();
        m.cpu.state.fpu.fcw &= !sw::UE;
        set_stack(&mut m, &[tiny, f80(0.75)]);
        run(&mut m, &[0xD8, 0xC9]);
        assert_eq!(m.cpu.st(0), F80 { signif: 0xC000_0000_0000_0000, sign_exp: 24576 });
        assert_eq!(fsw(&m) & (sw::EXC | sw::ES), sw::UE | sw::ES);
    }

    #[test]
    fn invalid_and_zero_divide_unmasked_leave_the_destination() {
        let mut m = fpu_machine();
        m.cpu.state.fpu.fcw &= !(sw::IE | sw::ZE);
        set_stack(&mut m, &[f80(1.0), f80(0.0)]);
        run(&mut m, &[0xDE, 0xF9]); // fdivp st1, st0: st1 = 0 / 1? no: st1 = st1 / st0 = 0/1
        assert_eq!(m.cpu.st(0), f80(0.0));
        assert_eq!(fsw(&m) & sw::EXC, 0);
        set_stack(&mut m, &[f80(0.0)]);
        run(&mut m, &[0xD8, 0xF1]); // fdiv st0, st1: 0 / 0 -> IE, unmasked
        assert_eq!(m.cpu.st(0), f80(0.0));
        assert_eq!(fsw(&m) & (sw::EXC | sw::ES), sw::IE | sw::ES);
        let mut m = fpu_machine();
        m.cpu.state.fpu.fcw &= !sw::ZE;
        set_stack(&mut m, &[f80(1.0), f80(0.0)]);
        run(&mut m, &[0xDE, 0xF1]); // fdivrp st1, st0: st1 = st0 / st1 = 1 / 0
        assert_eq!((m.cpu.st(0), m.cpu.st(1)), (f80(1.0), f80(0.0)), "no pop, no write");
        assert_eq!(fsw(&m) & (sw::EXC | sw::ES), sw::ZE | sw::ES);
    }

    #[test]
    fn stack_underflow_masked_gives_indefinite() {
        let mut m = fpu_machine();
        set_stack(&mut m, &[f80(1.0)]);
        run(&mut m, &[0xD8, 0xC1]); // fadd st0, st1 (empty)
        assert_eq!(m.cpu.st(0), INDEFINITE);
        assert_eq!(fsw(&m) & (sw::EXC | sw::SF | sw::C1), sw::IE | sw::SF);
    }

    #[test]
    fn denormal_operand() {
        let den = F80 { signif: 1, sign_exp: 0 };
        let mut m = fpu_machine();
        set_stack(&mut m, &[f80(1.0), den]);
        run(&mut m, &[0xD8, 0xC1]);
        assert_eq!(fsw(&m) & sw::EXC, sw::DE | sw::PE);
        let mut m = fpu_machine();
        m.cpu.state.fpu.fcw &= !sw::DE;
        set_stack(&mut m, &[f80(1.0), den]);
        run(&mut m, &[0xD8, 0xC1]);
        assert_eq!(m.cpu.st(0), f80(1.0));
        assert_eq!(fsw(&m) & (sw::EXC | sw::ES), sw::DE | sw::ES);
    }

    #[test]
    fn fcom_condition_codes() {
        let nan = F80 { signif: 0xC000_0000_0000_0001, sign_exp: 0x7FFF };
        for (a, b, cc, ie_fcom, ie_fucom) in [
            (f80(1.0), f80(2.0), sw::C0, false, false),
            (f80(2.0), f80(1.0), 0, false, false),
            (f80(-0.0), f80(0.0), sw::C3, false, false),
            (nan, f80(1.0), sw::C3 | sw::C2 | sw::C0, true, false),
        ] {
            for (code, ie) in [([0xD8u8, 0xD1], ie_fcom), ([0xDD, 0xE1], ie_fucom)] {
                let mut m = fpu_machine();
                m.cpu.state.fpu.fsw |= sw::C1;
                set_stack(&mut m, &[a, b]);
                run(&mut m, &code);
                assert_eq!(fsw(&m) & (sw::CC | sw::IE), cc | if ie { sw::IE } else { 0 }, "{a:?} {b:?} {code:x?}");
            }
        }
        // fcompp pops both; ficom with a memory integer.
        let mut m = fpu_machine();
        set_stack(&mut m, &[f80(5.0), f80(5.0)]);
        run(&mut m, &[0xDE, 0xD9]);
        assert_eq!((fsw(&m) & sw::CC, m.cpu.state.fpu.ftw), (sw::C3, 0xFFFF));
        let mut m = fpu_machine();
        set_stack(&mut m, &[f80(-7.0)]);
        m.mem.write(0x2000, &(-6i32).to_le_bytes());
        run(&mut m, &[0xDA, 0x15, 0x00, 0x20, 0, 0]); // ficom dword [0x2000]
        assert_eq!(fsw(&m) & sw::CC, sw::C0);
    }

    #[test]
    fn fcomi_sets_eflags() {
        for (a, b, flags) in [
            (f80(1.0), f80(2.0), fl::CF),
            (f80(3.0), f80(2.0), 0),
            (f80(2.0), f80(2.0), fl::ZF),
            (INDEFINITE, f80(2.0), fl::ZF | fl::PF | fl::CF),
        ] {
            let mut m = fpu_machine();
            m.cpu.state.set_flags(fl::OF | fl::SF | fl::AF);
            set_stack(&mut m, &[a, b]);
            run(&mut m, &[0xDF, 0xE9]); // fucomip st0, st1
            assert_eq!(m.cpu.state.flags() & fl::ARITH, flags);
            assert_eq!(m.cpu.fpu_top(), 7, "popped");
            assert_eq!(fsw(&m) & sw::IE, 0, "QNaN is quiet for FUCOMI");
        }
    }

    #[test]
    fn fxam_classes() {
        let cases = [
            (F80 { signif: 0, sign_exp: 0x4000 }, 0),
            (INDEFINITE, sw::C0 | sw::C1),
            (f80(-1.5), sw::C2 | sw::C1),
            (F80 { signif: 1 << 63, sign_exp: 0x7FFF }, sw::C2 | sw::C0),
            (f80(0.0), sw::C3),
            (F80 { signif: 5, sign_exp: 0 }, sw::C3 | sw::C2),
        ];
        for (v, cc) in cases {
            let mut m = fpu_machine();
            set_stack(&mut m, &[v]);
            run(&mut m, &[0xD9, 0xE5]);
            assert_eq!(fsw(&m) & sw::CC, cc, "{v:?}");
        }
        let mut m = fpu_machine();
        run(&mut m, &[0xD9, 0xE5]);
        assert_eq!(fsw(&m) & (sw::C3 | sw::C2 | sw::C0), sw::C3 | sw::C0, "empty");
    }

    #[test]
    fn fprem_quotient_bits_and_fprem1() {
        // 23 / 4: q = 5 (101b), r = 3; FPREM1: q = 6 (110b), r = -1.
        let mut m = fpu_machine();
        set_stack(&mut m, &[f80(23.0), f80(4.0)]);
        run(&mut m, &[0xD9, 0xF8]);
        assert_eq!(m.cpu.st(0), f80(3.0));
        assert_eq!(fsw(&m) & sw::CC, sw::C0 | sw::C1, "Q2 in C0, Q1 in C3, Q0 in C1");
        let mut m = fpu_machine();
        set_stack(&mut m, &[f80(23.0), f80(4.0)]);
        run(&mut m, &[0xD9, 0xF5]);
        assert_eq!(m.cpu.st(0), f80(-1.0));
        assert_eq!(fsw(&m) & sw::CC, sw::C0 | sw::C3);
        // 2^100 mod 3 takes two rounds; 2^100 = 3 * q + 1.
        let mut m = fpu_machine();
        set_stack(&mut m, &[f80(2f64.powi(100)), f80(3.0)]);
        run(&mut m, &[0xD9, 0xF8]);
        assert_eq!(fsw(&m) & sw::C2, sw::C2, "partial");
        run(&mut m, &[0xD9, 0xF8]);
        assert_eq!(fsw(&m) & sw::C2, 0);
        assert_eq!(m.cpu.st(0), f80(1.0));
    }

    #[test]
    fn fscale_fxtract_fsqrt_frndint() {
        let mut m = fpu_machine();
        set_stack(&mut m, &[f80(3.0), f80(-2.7)]);
        run(&mut m, &[0xD9, 0xFD]); // fscale: 3 * 2^-2
        assert_eq!(m.cpu.st(0), f80(0.75));
        run(&mut m, &[0xD9, 0xF4]); // fxtract: st0 = 1.5, st1 = -1
        assert_eq!((m.cpu.st(0), m.cpu.st(1)), (f80(1.5), f80(-1.0)));
        set_stack(&mut m, &[f80(2.25)]);
        run(&mut m, &[0xD9, 0xFA]); // fsqrt
        assert_eq!(m.cpu.st(0), f80(1.5));
        assert_eq!(fsw(&m) & sw::EXC, 0);
        let mut m = fpu_machine();
        set_stack(&mut m, &[f80(2.5)]);
        run(&mut m, &[0xD9, 0xFC]); // frndint, nearest even
        assert_eq!(m.cpu.st(0), f80(2.0));
        assert_eq!(fsw(&m) & (sw::PE | sw::C1), sw::PE);
        m.cpu.state.fpu.fcw |= 0x0800; // RC up
        set_stack(&mut m, &[f80(2.25)]);
        run(&mut m, &[0xD9, 0xFC]);
        assert_eq!(m.cpu.st(0), f80(3.0));
        assert_eq!(fsw(&m) & sw::C1, sw::C1);
    }
}
