//! SSE/SSE2 floating-point arithmetic and comparison (SDM vol. 2: ADDPS,
//! SUBPS, MULPS, DIVPS, SQRTPS, MINPS, MAXPS, RCPPS, RSQRTPS, CMPPS,
//! COMISS, UCOMISS and their SS/PD/SD forms; vol. 1 11.5 for exceptions).

use super::ssefp::*;
use super::*;
use crate::softfloat::{flag, sse};
use crate::state::fl;
use iced_x86::Code::*;

const ADD: u8 = 0;
const SUB: u8 = 1;
const MUL: u8 = 2;
const DIV: u8 = 3;
const MIN: u8 = 4;
const MAX: u8 = 5;
const SQRT: u8 = 6;

pub(super) fn register(t: &mut Table) {
    t.set(Addps_xmm_xmmm128, arith::<ADD, false, true>);
    t.set(Addss_xmm_xmmm32, arith::<ADD, false, false>);
    t.set(Addpd_xmm_xmmm128, arith::<ADD, true, true>);
    t.set(Addsd_xmm_xmmm64, arith::<ADD, true, false>);
    t.set(Subps_xmm_xmmm128, arith::<SUB, false, true>);
    t.set(Subss_xmm_xmmm32, arith::<SUB, false, false>);
    t.set(Subpd_xmm_xmmm128, arith::<SUB, true, true>);
    t.set(Subsd_xmm_xmmm64, arith::<SUB, true, false>);
    t.set(Mulps_xmm_xmmm128, arith::<MUL, false, true>);
    t.set(Mulss_xmm_xmmm32, arith::<MUL, false, false>);
    t.set(Mulpd_xmm_xmmm128, arith::<MUL, true, true>);
    t.set(Mulsd_xmm_xmmm64, arith::<MUL, true, false>);
    t.set(Divps_xmm_xmmm128, arith::<DIV, false, true>);
    t.set(Divss_xmm_xmmm32, arith::<DIV, false, false>);
    t.set(Divpd_xmm_xmmm128, arith::<DIV, true, true>);
    t.set(Divsd_xmm_xmmm64, arith::<DIV, true, false>);
    t.set(Minps_xmm_xmmm128, arith::<MIN, false, true>);
    t.set(Minss_xmm_xmmm32, arith::<MIN, false, false>);
    t.set(Minpd_xmm_xmmm128, arith::<MIN, true, true>);
    t.set(Minsd_xmm_xmmm64, arith::<MIN, true, false>);
    t.set(Maxps_xmm_xmmm128, arith::<MAX, false, true>);
    t.set(Maxss_xmm_xmmm32, arith::<MAX, false, false>);
    t.set(Maxpd_xmm_xmmm128, arith::<MAX, true, true>);
    t.set(Maxsd_xmm_xmmm64, arith::<MAX, true, false>);
    t.set(Sqrtps_xmm_xmmm128, arith::<SQRT, false, true>);
    t.set(Sqrtss_xmm_xmmm32, arith::<SQRT, false, false>);
    t.set(Sqrtpd_xmm_xmmm128, arith::<SQRT, true, true>);
    t.set(Sqrtsd_xmm_xmmm64, arith::<SQRT, true, false>);
    t.set(Rcpps_xmm_xmmm128, approx::<false, true>);
    t.set(Rcpss_xmm_xmmm32, approx::<false, false>);
    t.set(Rsqrtps_xmm_xmmm128, approx::<true, true>);
    t.set(Rsqrtss_xmm_xmmm32, approx::<true, false>);
    t.set(Cmpps_xmm_xmmm128_imm8, cmp::<false, true>);
    t.set(Cmpss_xmm_xmmm32_imm8, cmp::<false, false>);
    t.set(Cmppd_xmm_xmmm128_imm8, cmp::<true, true>);
    t.set(Cmpsd_xmm_xmmm64_imm8, cmp::<true, false>);
    t.set(Comiss_xmm_xmmm32, comis::<false, true>);
    t.set(Ucomiss_xmm_xmmm32, comis::<false, false>);
    t.set(Comisd_xmm_xmmm64, comis::<true, true>);
    t.set(Ucomisd_xmm_xmmm64, comis::<true, false>);
}

/// Memory operand width of a packed (`P`) or scalar form.
pub(super) const fn src_bytes(d: bool, p: bool) -> usize {
    if p {
        16
    } else if d {
        8
    } else {
        4
    }
}

/// Elements a packed or scalar form computes.
const fn count(d: bool, p: bool) -> usize {
    if p {
        fmt::lanes(d)
    } else {
        1
    }
}

/// The soft-float operation `op` on one element.
fn sf(op: u8, d: bool, a: u64, b: u64) -> u64 {
    if d {
        match op {
            ADD => sse::f64_add(a, b),
            SUB => sse::f64_sub(a, b),
            MUL => sse::f64_mul(a, b),
            DIV => sse::f64_div(a, b),
            _ => sse::f64_sqrt(b),
        }
    } else {
        let (a, b) = (a as u32, b as u32);
        u64::from(match op {
            ADD => sse::f32_add(a, b),
            SUB => sse::f32_sub(a, b),
            MUL => sse::f32_mul(a, b),
            DIV => sse::f32_div(a, b),
            _ => sse::f32_sqrt(b),
        })
    }
}

/// A key that orders non-NaN values numerically, with -0 equal to +0.
fn key(d: bool, x: u64) -> i64 {
    let mag = (x & !fmt::sign(d)) as i64;
    if x & fmt::sign(d) != 0 {
        -mag
    } else {
        mag
    }
}

/// MIN/MAX of one element: not IEEE minNum/maxNum but `a < b ? a : b`,
/// so a NaN in either operand (with IE, even for a QNaN) or two zeros of
/// any signs give the source operand `b` unchanged.
fn minmax(cx: &mut Mx, max: bool, d: bool, a: u64, b: u64) -> u64 {
    let (a, b) = (cx.input(d, a), cx.input(d, b));
    if fmt::is_nan(d, a) || fmt::is_nan(d, b) {
        cx.pre |= flag::INVALID;
        return b;
    }
    if Mx::denormal(d, &[a, b]) {
        cx.pre |= flag::DENORMAL;
    }
    let pick_a = if max { key(d, a) > key(d, b) } else { key(d, a) < key(d, b) };
    if pick_a {
        a
    } else {
        b
    }
}

/// ADD/SUB/MUL/DIV/MIN/MAX/SQRT in PS/SS/PD/SD forms. Scalar forms keep
/// the destination's upper elements; SQRT reads only the source.
fn arith<const OP: u8, const D: bool, const P: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let b = read_xmm_src(cpu, env, i, 1, src_bytes(D, P))?;
    let a = xmm(cpu, i, 0);
    let mut cx = Mx::begin(cpu);
    let mut v = a;
    for k in 0..count(D, P) {
        let (x, y) = (fmt::lane(D, a, k), fmt::lane(D, b, k));
        let r = match OP {
            MIN | MAX => minmax(&mut cx, OP == MAX, D, x, y),
            SQRT => cx.arith(D, [y, 0], |_, y| sf(OP, D, 0, y)),
            _ => cx.arith(D, [x, y], |x, y| sf(OP, D, x, y)),
        };
        v = fmt::set_lane(D, v, k, r);
    }
    cx.finish(cpu)?;
    set_xmm(cpu, i, 0, v);
    Ok(())
}

/// RCPPS/RCPSS (`SQRT` false) and RSQRTPS/RSQRTSS: approximations that
/// ignore MXCSR entirely (no flags, no RC, no DAZ/FTZ switch): denormal
/// inputs always count as zeros and tiny results are always flushed to
/// zero. The SDM bounds the relative error by 1.5 * 2^-12 without giving
/// Intel's tables; this computes the correctly rounded value, which real
/// parts differ from in the low bits.
fn approx<const SQRT: bool, const P: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let b = read_xmm_src(cpu, env, i, 1, src_bytes(false, P))?;
    let mut v = xmm(cpu, i, 0);
    for k in 0..count(false, P) {
        let x = fmt::lane(false, b, k) as u32;
        let r = if SQRT { rsqrt(x) } else { rcp(x) };
        v = fmt::set_lane(false, v, k, u64::from(r));
    }
    set_xmm(cpu, i, 0, v);
    Ok(())
}

const F32_SIGN: u32 = 0x8000_0000;
const F32_INF: u32 = 0x7F80_0000;
const F32_QUIET: u32 = 0x0040_0000;
/// The QNaN floating-point indefinite.
const F32_DEFAULT_NAN: u32 = 0xFFC0_0000;

fn flush_tiny(r: f32) -> u32 {
    let bits = r.to_bits();
    if bits & F32_INF == 0 {
        bits & F32_SIGN
    } else {
        bits
    }
}

fn rcp(x: u32) -> u32 {
    let sign = x & F32_SIGN;
    if fmt::is_nan(false, u64::from(x)) {
        x | F32_QUIET
    } else if x & F32_INF == 0 {
        sign | F32_INF
    } else if x & !F32_SIGN == F32_INF {
        sign
    } else {
        flush_tiny((1.0 / f64::from(f32::from_bits(x))) as f32)
    }
}

fn rsqrt(x: u32) -> u32 {
    let sign = x & F32_SIGN;
    if fmt::is_nan(false, u64::from(x)) {
        x | F32_QUIET
    } else if x & F32_INF == 0 {
        sign | F32_INF
    } else if sign != 0 {
        F32_DEFAULT_NAN
    } else if x == F32_INF {
        0
    } else {
        ((1.0 / f64::from(f32::from_bits(x)).sqrt()) as f32).to_bits()
    }
}

/// The numeric order of two elements, `None` when either is a NaN.
fn order(d: bool, a: u64, b: u64) -> Option<std::cmp::Ordering> {
    if fmt::is_nan(d, a) || fmt::is_nan(d, b) {
        None
    } else {
        Some(key(d, a).cmp(&key(d, b)))
    }
}

/// One comparison with its exceptions: IE for an SNaN operand, and for a
/// QNaN too when `signal_qnan` (the ordered-relation predicates and
/// COMISS); DE for a denormal operand when no NaN is involved.
fn compare(cx: &mut Mx, d: bool, a: u64, b: u64, signal_qnan: bool) -> Option<std::cmp::Ordering> {
    let (a, b) = (cx.input(d, a), cx.input(d, b));
    let any_nan = fmt::is_nan(d, a) || fmt::is_nan(d, b);
    if fmt::is_snan(d, a) || fmt::is_snan(d, b) || (signal_qnan && any_nan) {
        cx.pre |= flag::INVALID;
    } else if Mx::denormal(d, &[a, b]) {
        cx.pre |= flag::DENORMAL;
    }
    order(d, a, b)
}

/// CMPPS/CMPSS/CMPPD/CMPSD: each element becomes all ones when the
/// predicate imm8[2:0] holds (EQ, LT, LE, UNORD, NEQ, NLT, NLE, ORD);
/// the negated predicates are true on unordered operands.
fn cmp<const D: bool, const P: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    use std::cmp::Ordering::*;
    cpu.check_sse()?;
    let b = read_xmm_src(cpu, env, i, 1, src_bytes(D, P))?;
    let a = xmm(cpu, i, 0);
    let pred = i.immediate8() & 7;
    // LT, LE, NLT and NLE signal on QNaN operands (table 11-2 of vol. 1 and
    // the CMPPS page).
    let signal_qnan = matches!(pred & 3, 1 | 2);
    let mut cx = Mx::begin(cpu);
    let mut v = a;
    for k in 0..count(D, P) {
        let o = compare(&mut cx, D, fmt::lane(D, a, k), fmt::lane(D, b, k), signal_qnan);
        let holds = match pred & 3 {
            0 => o == Some(Equal),
            1 => o == Some(Less),
            2 => matches!(o, Some(Less | Equal)),
            _ => o.is_none(),
        };
        let mask = if holds != (pred >= 4) { fmt::sign(D) | (fmt::sign(D) - 1) } else { 0 };
        v = fmt::set_lane(D, v, k, mask);
    }
    cx.finish(cpu)?;
    set_xmm(cpu, i, 0, v);
    Ok(())
}

/// COMISS/COMISD (`SIGNAL` true: IE on QNaN too) and UCOMISS/UCOMISD:
/// ZF, PF, CF = 111 unordered, 000 greater, 001 less, 100 equal; OF, SF
/// and AF cleared. An unmasked IE leaves EFLAGS as they were.
fn comis<const D: bool, const SIGNAL: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    use std::cmp::Ordering::*;
    cpu.check_sse()?;
    let b = read_xmm_src(cpu, env, i, 1, src_bytes(D, false))?;
    let a = xmm(cpu, i, 0);
    let mut cx = Mx::begin(cpu);
    let o = compare(&mut cx, D, fmt::lane(D, a, 0), fmt::lane(D, b, 0), SIGNAL);
    cx.finish(cpu)?;
    let bits = match o {
        None => fl::ZF | fl::PF | fl::CF,
        Some(Greater) => 0,
        Some(Less) => fl::CF,
        Some(Equal) => fl::ZF,
    };
    cpu.state.set_arith(fl::ZF | fl::PF | fl::CF | fl::OF | fl::SF | fl::AF, bits);
    Ok(())
}
