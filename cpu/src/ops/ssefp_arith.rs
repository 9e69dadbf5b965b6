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

/// Whether rounding the exact result of `a OP b` to `d`'s precision is
/// inexact with an unbounded exponent range (what PE reports when an
/// unmasked UE or OE withholds the result), for finite operands; `None`
/// for NaNs and infinities, which cannot underflow or overflow.
fn unbounded_inexact(op: u8, d: bool, a: u64, b: u64) -> Option<bool> {
    let finite = |v: u64| v & fmt::exp(d) != fmt::exp(d);
    if !finite(a) || !finite(b) {
        return None;
    }
    let (ma, mb) = (fmt::significand(d, a), fmt::significand(d, b));
    let p = fmt::precision(d);
    Some(match op {
        // A product of two significands is exact in 128 bits.
        MUL => fmt::needs_rounding(u128::from(ma) * u128::from(mb), p),
        // ma/mb is a finite binary fraction only if mb's odd part divides
        // ma's; the odd quotient must then fit the precision.
        DIV => {
            if ma == 0 || mb == 0 {
                return Some(false);
            }
            let (oa, ob) = (ma >> ma.trailing_zeros(), mb >> mb.trailing_zeros());
            oa % ob != 0 || fmt::needs_rounding(u128::from(oa / ob), p)
        }
        ADD | SUB => {
            if ma == 0 || mb == 0 {
                return Some(false);
            }
            // Unbiased exponents of the significands' last bits.
            let e = |v: u64| ((v & fmt::exp(d)) >> (p - 1)).max(1) as i64;
            let (ea, eb) = (e(a), e(b));
            let ((big, eb_), (small, es)) = if ea >= eb { ((ma, ea), (mb, eb)) } else { ((mb, eb), (ma, ea)) };
            let shift = eb_ - es;
            if shift > 64 {
                // The smaller operand lies far below the larger one's last
                // bit: the sum needs more than 64 extra bits.
                return Some(true);
            }
            let big = u128::from(big) << shift;
            let negate = (a ^ b) & fmt::sign(d) != 0;
            let negate = if op == SUB { !negate } else { negate };
            let sum = if negate { big.abs_diff(u128::from(small)) } else { big + u128::from(small) };
            fmt::needs_rounding(sum, p)
        }
        _ => return None,
    })
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
            SQRT => cx.arith(D, [y, 0], |y, _| sf(OP, D, 0, y)),
            _ => cx.arith_unbounded([D, D], [x, y], |x, y| sf(OP, D, x, y), |x, y| unbounded_inexact(OP, D, x, y)),
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

#[cfg(test)]
mod tests {
    use super::super::ssefp::testutil::*;
    use crate::fault::vector;
    use crate::softfloat::flag::*;
    use crate::state::{cr4, fl};
    use crate::testing::TestMachine;

    const ONE: u32 = 0x3F80_0000;
    const TWO: u32 = 0x4000_0000;
    const THREE: u32 = 0x4040_0000;
    const MAX: u32 = 0x7F7F_FFFF;
    const MIN_NORMAL: u32 = 0x0080_0000;
    const HALF: u32 = 0x3F00_0000;
    const QNAN: u32 = 0x7FC0_0001;
    const SNAN: u32 = 0x7F80_0001;
    const INF: u32 = 0x7F80_0000;
    const NEG_ZERO: u32 = 0x8000_0000;
    const INDEFINITE: u32 = 0xFFC0_0000;

    /// Runs `op xmm0, xmm1` with the given registers and MXCSR; returns
    /// xmm0 and MXCSR after it.
    fn op(code: &[u8], a: u128, b: u128, csr: u32) -> (u128, u32) {
        let mut m = machine();
        let (x, c) = op_on(&mut m, code, a, b, csr);
        (x, c)
    }

    fn op_on(m: &mut TestMachine, code: &[u8], a: u128, b: u128, csr: u32) -> (u128, u32) {
        m.cpu.state.sse.xmm[0] = a;
        m.cpu.state.sse.xmm[1] = b;
        m.cpu.state.sse.mxcsr = csr;
        assert_eq!(exec(m, code), None);
        (m.cpu.state.sse.xmm[0], m.cpu.state.sse.mxcsr)
    }

    fn ss(x: u32) -> u128 {
        ps([x, 0x1111_1111, 0x2222_2222, 0x3333_3333])
    }

    const DIVSS: [u8; 4] = [0xF3, 0x0F, 0x5E, 0xC1];
    const MULSS: [u8; 4] = [0xF3, 0x0F, 0x59, 0xC1];
    const ADDSS: [u8; 4] = [0xF3, 0x0F, 0x58, 0xC1];
    const ADDPS: [u8; 3] = [0x0F, 0x58, 0xC1];
    const RESET: u32 = 0x1F80;
    const RC_DOWN: u32 = 1 << 13;
    const RC_UP: u32 = 2 << 13;
    const RC_ZERO: u32 = 3 << 13;
    const DAZ: u32 = 1 << 6;
    const FTZ: u32 = 1 << 15;

    #[test]
    fn one_third_rounds_by_mxcsr_rc_and_keeps_upper_elements() {
        // 1/3 = 1.0101..._2 * 2^-2: the 24-bit significand 0xAAAAAA is
        // followed by 1010..., so nearest and up round up, down and toward
        // zero truncate; for -1/3 down and up swap.
        for (rc, pos, neg) in [
            (0, 0x3EAA_AAAB, 0xBEAA_AAAB),
            (RC_DOWN, 0x3EAA_AAAA, 0xBEAA_AAAB),
            (RC_UP, 0x3EAA_AAAB, 0xBEAA_AAAA),
            (RC_ZERO, 0x3EAA_AAAA, 0xBEAA_AAAA),
        ] {
            assert_eq!(op(&DIVSS, ss(ONE), ss(THREE), RESET | rc), (ss(pos), RESET | rc | PRECISION), "rc {rc:#x}");
            assert_eq!(op(&DIVSS, ss(ONE | 0x8000_0000), ss(THREE), RESET | rc).0, ss(neg));
        }
        // binary64: 0x15555... then 0101...: nearest truncates, up rounds up.
        let divsd = [0xF2, 0x0F, 0x5E, 0xC1];
        let (one, three) = (0x3FF0_0000_0000_0000u64, 0x4008_0000_0000_0000u64);
        assert_eq!(op(&divsd, pd([one, 7]), pd([three, 9]), RESET).0, pd([0x3FD5_5555_5555_5555, 7]));
        assert_eq!(op(&divsd, pd([one, 7]), pd([three, 9]), RESET | RC_UP).0, pd([0x3FD5_5555_5555_5556, 7]));
    }

    #[test]
    fn masked_overflow_gives_infinity_or_max_by_rounding() {
        let f = RESET | OVERFLOW | PRECISION;
        assert_eq!(op(&MULSS, ss(MAX), ss(TWO), RESET), (ss(INF), f));
        assert_eq!(op(&MULSS, ss(MAX), ss(TWO), RESET | RC_ZERO), (ss(MAX), f | RC_ZERO));
        assert_eq!(op(&MULSS, ss(MAX), ss(TWO), RESET | RC_DOWN), (ss(MAX), f | RC_DOWN));
        assert_eq!(op(&MULSS, ss(MAX | NEG_ZERO), ss(TWO), RESET | RC_UP), (ss(MAX | NEG_ZERO), f | RC_UP));
    }

    #[test]
    fn underflow_denormal_result_and_ftz() {
        // Exact tiny result: no flag while UE is masked (IEEE), a denormal.
        assert_eq!(op(&MULSS, ss(MIN_NORMAL), ss(HALF), RESET), (ss(0x0040_0000), RESET));
        // With FTZ it becomes +0 with UE and PE.
        assert_eq!(op(&MULSS, ss(MIN_NORMAL), ss(HALF), RESET | FTZ), (ss(0), RESET | FTZ | UNDERFLOW | PRECISION));
        // Inexact tiny: UE and PE, the rounded denormal, or -0 with FTZ.
        let third = 0x3EAA_AAAB;
        let (r, c) = op(&MULSS, ss(MIN_NORMAL), ss(third), RESET);
        assert_eq!((r, c), (ss(0x002A_AAAB), RESET | UNDERFLOW | PRECISION));
        let (r, c) = op(&MULSS, ss(MIN_NORMAL | NEG_ZERO), ss(third), RESET | FTZ);
        assert_eq!((r, c), (ss(NEG_ZERO), RESET | FTZ | UNDERFLOW | PRECISION));
    }

    #[test]
    fn denormal_operand_flag_and_daz() {
        assert_eq!(op(&ADDSS, ss(1), ss(0), RESET), (ss(1), RESET | DENORMAL));
        assert_eq!(op(&ADDSS, ss(1), ss(0), RESET | DAZ), (ss(0), RESET | DAZ));
        // A NaN operand outranks DE.
        assert_eq!(op(&ADDSS, ss(1), ss(QNAN), RESET), (ss(QNAN), RESET));
    }

    #[test]
    fn nan_propagation_quieting_and_default_nan() {
        // Two QNaNs: the first source's (the destination's) wins.
        assert_eq!(
            op(&ADDPS, ps([QNAN, ONE, 0x7FC0_0003, SNAN]), ps([0x7FC0_0002, QNAN, ONE, ONE]), RESET),
            (ps([QNAN, QNAN, 0x7FC0_0003, QNAN]), RESET | INVALID)
        );
        // SNaN vs QNaN: the SNaN (first) quieted, IE.
        assert_eq!(op(&ADDSS, ss(0x7FA0_0000), ss(0xFFC0_0003), RESET), (ss(0x7FE0_0000), RESET | INVALID));
        // Invalid operations give the QNaN floating-point indefinite.
        let subss = [0xF3, 0x0F, 0x5C, 0xC1];
        assert_eq!(op(&subss, ss(INF), ss(INF), RESET), (ss(INDEFINITE), RESET | INVALID));
        let sqrtss = [0xF3, 0x0F, 0x51, 0xC1];
        assert_eq!(op(&sqrtss, ss(7), ss(ONE | NEG_ZERO), RESET), (ss(INDEFINITE), RESET | INVALID));
        assert_eq!(op(&DIVSS, ss(ONE), ss(0), RESET), (ss(INF), RESET | ZERO_DIVIDE));
        assert_eq!(op(&DIVSS, ss(0), ss(0), RESET), (ss(INDEFINITE), RESET | INVALID));
    }

    #[test]
    fn min_max_return_the_source_on_nan_and_zeros() {
        let minss = [0xF3, 0x0F, 0x5D, 0xC1];
        let maxss = [0xF3, 0x0F, 0x5F, 0xC1];
        assert_eq!(op(&minss, ss(QNAN), ss(ONE), RESET), (ss(ONE), RESET | INVALID), "IE even for a QNaN");
        assert_eq!(op(&minss, ss(ONE), ss(SNAN), RESET), (ss(SNAN), RESET | INVALID), "the source, not quieted");
        assert_eq!(op(&minss, ss(0), ss(NEG_ZERO), RESET).0, ss(NEG_ZERO));
        assert_eq!(op(&minss, ss(NEG_ZERO), ss(0), RESET).0, ss(0));
        assert_eq!(op(&maxss, ss(NEG_ZERO), ss(0), RESET).0, ss(0));
        assert_eq!(op(&maxss, ss(0), ss(NEG_ZERO), RESET).0, ss(NEG_ZERO));
        assert_eq!(op(&minss, ss(TWO | NEG_ZERO), ss(ONE), RESET), (ss(TWO | NEG_ZERO), RESET));
        assert_eq!(op(&maxss, ss(TWO), ss(ONE), RESET), (ss(TWO), RESET));
        let minpd = [0x66, 0x0F, 0x5D, 0xC1];
        let nan64 = 0x7FF8_0000_0000_0000;
        assert_eq!(op(&minpd, pd([nan64, 1]), pd([5, 2]), RESET), (pd([5, 1]), RESET | INVALID | DENORMAL));
    }

    #[test]
    fn cmpps_predicates_on_nan() {
        let a = ps([ONE, QNAN, ONE, SNAN]);
        let b = ps([ONE, ONE, TWO, ONE]);
        let t = u32::MAX;
        let cases: [(u8, [u32; 4], u32); 8] = [
            (0, [t, 0, 0, 0], INVALID),
            (1, [0, 0, t, 0], INVALID),
            (2, [t, 0, t, 0], INVALID),
            (3, [0, t, 0, t], INVALID),
            (4, [0, t, t, t], INVALID),
            (5, [t, t, 0, t], INVALID),
            (6, [0, t, 0, t], INVALID),
            (7, [t, 0, t, 0], INVALID),
        ];
        for (pred, want, f) in cases {
            assert_eq!(op(&[0x0F, 0xC2, 0xC1, pred], a, b, RESET), (ps(want), RESET | f), "predicate {pred}");
        }
        // Only QNaNs: EQ/UNORD/NEQ/ORD are quiet, LT/LE/NLT/NLE signal.
        let (a, b) = (ps([QNAN, ONE, ONE, ONE]), ps([ONE; 4]));
        for pred in 0..8u8 {
            let f = if matches!(pred & 3, 1 | 2) { INVALID } else { 0 };
            assert_eq!(op(&[0x0F, 0xC2, 0xC1, pred], a, b, RESET).1, RESET | f, "predicate {pred}");
        }
        // CMPSD keeps the upper quadword.
        let r = op(&[0xF2, 0x0F, 0xC2, 0xC1, 1], pd([0x3FF0_0000_0000_0000, 77]), pd([0x4000_0000_0000_0000, 0]), RESET).0;
        assert_eq!(r, pd([u64::MAX, 77]));
    }

    #[test]
    fn comiss_signals_on_qnan_ucomiss_does_not() {
        let comiss = [0x0F, 0x2F, 0xC1];
        let ucomiss = [0x0F, 0x2E, 0xC1];
        let mut m = machine();
        let run = |m: &mut TestMachine, code: &[u8], a: u32, b: u32| {
            m.cpu.state.set_flags(fl::OF | fl::SF | fl::AF);
            let c = op_on(m, code, ss(a), ss(b), RESET).1;
            (arith_flags(m), c)
        };
        assert_eq!(run(&mut m, &ucomiss, QNAN, ONE), (fl::ZF | fl::PF | fl::CF, RESET));
        assert_eq!(run(&mut m, &comiss, QNAN, ONE), (fl::ZF | fl::PF | fl::CF, RESET | INVALID));
        assert_eq!(run(&mut m, &ucomiss, SNAN, ONE), (fl::ZF | fl::PF | fl::CF, RESET | INVALID));
        assert_eq!(run(&mut m, &comiss, ONE, TWO), (fl::CF, RESET));
        assert_eq!(run(&mut m, &comiss, TWO, ONE), (0, RESET));
        assert_eq!(run(&mut m, &comiss, 0, NEG_ZERO), (fl::ZF, RESET));
        // Unmasked IE: #XM, EFLAGS untouched.
        m.cpu.state.set_flags(fl::OF);
        m.cpu.state.sse.mxcsr = RESET & !(1 << 7);
        m.cpu.state.sse.xmm[0] = ss(QNAN);
        assert_eq!(exec(&mut m, &comiss), Some(vector::XM));
        assert_eq!((arith_flags(&m), m.cpu.state.sse.mxcsr), (fl::OF, (RESET & !(1 << 7)) | INVALID));
    }

    #[test]
    fn unmasked_exceptions_raise_xm_or_ud_and_keep_the_destination() {
        let divps = [0x0F, 0x5E, 0xC1];
        let a = ps([ONE, ONE, ONE, ONE]);
        let b = ps([TWO, 0, TWO, TWO]);
        let mut m = machine();
        let unmask_ze = RESET & !(1 << 9);
        m.cpu.state.sse.xmm[0] = a;
        m.cpu.state.sse.xmm[1] = b;
        m.cpu.state.sse.mxcsr = unmask_ze;
        assert_eq!(exec(&mut m, &divps), Some(vector::XM));
        assert_eq!(m.cpu.state.sse.xmm[0], a, "no element written");
        assert_eq!(m.cpu.state.sse.mxcsr, unmask_ze | ZERO_DIVIDE, "pre-computation flags only");
        m.cpu.state.cr4 &= !cr4::OSXMMEXCPT;
        assert_eq!(exec(&mut m, &divps), Some(vector::UD));
        // An unmasked post-computation exception (PE) also keeps it.
        m.cpu.state.cr4 |= cr4::OSXMMEXCPT;
        m.cpu.state.sse.mxcsr = RESET & !(1 << 12);
        m.cpu.state.sse.xmm[1] = ps([THREE; 4]);
        assert_eq!(exec(&mut m, &divps), Some(vector::XM));
        assert_eq!((m.cpu.state.sse.xmm[0], m.cpu.state.sse.mxcsr), (a, (RESET & !(1 << 12)) | PRECISION));
        // An unmasked UE on an exact tiny result, which a masked UE would
        // not flag.
        m.cpu.state.sse.mxcsr = RESET & !(1 << 11);
        m.cpu.state.sse.xmm[0] = ss(MIN_NORMAL);
        m.cpu.state.sse.xmm[1] = ss(HALF);
        assert_eq!(exec(&mut m, &MULSS), Some(vector::XM));
        assert_eq!(m.cpu.state.sse.mxcsr, (RESET & !(1 << 11)) | UNDERFLOW);
    }

    #[test]
    fn trapped_underflow_and_overflow_report_pe_at_unbounded_exponent_range() {
        let mut m = machine();
        let unmask = |bit: u32| RESET & !(1 << bit);
        // (1 + 2^-23) * 2^-100 times 2^-30: exact in 24 bits, but as a
        // denormal its last bit (2^-153) would be lost. No result is
        // stored, so PE follows the exact product: clear.
        m.cpu.state.sse.mxcsr = unmask(11);
        m.cpu.state.sse.xmm[0] = ss(0x0D80_0001);
        m.cpu.state.sse.xmm[1] = ss(0x3080_0000);
        assert_eq!(exec(&mut m, &MULSS), Some(vector::XM));
        assert_eq!(m.cpu.state.sse.mxcsr, unmask(11) | UNDERFLOW);
        // The largest float divided by 2^-10 overflows; the quotient is
        // exact: OE alone.
        m.cpu.state.sse.mxcsr = unmask(10);
        m.cpu.state.sse.xmm[0] = ss(0x7F7F_FFFF);
        m.cpu.state.sse.xmm[1] = ss(0x3A80_0000);
        assert_eq!(exec(&mut m, &[0xF3, 0x0F, 0x5E, 0xC1]), Some(vector::XM), "divss xmm0, xmm1");
        assert_eq!(m.cpu.state.sse.mxcsr, unmask(10) | OVERFLOW);
        // Divided by 11/16 instead: 2^24 - 1 (3^2 * 5 * 7 * 13 * 17 * 241)
        // has no factor 11, so the quotient is inexact: OE and PE.
        m.cpu.state.sse.mxcsr = unmask(10);
        m.cpu.state.sse.xmm[1] = ss(0x3F30_0000);
        assert_eq!(exec(&mut m, &[0xF3, 0x0F, 0x5E, 0xC1]), Some(vector::XM));
        assert_eq!(m.cpu.state.sse.mxcsr, unmask(10) | OVERFLOW | PRECISION);
    }

    #[test]
    fn alignment_and_gating() {
        let mut m = machine();
        // addps xmm0, [0x2008]: packed memory operands must be aligned.
        assert_eq!(exec(&mut m, &[0x0F, 0x58, 0x05, 0x08, 0x20, 0, 0]), Some(vector::GP));
        assert_eq!(exec(&mut m, &[0x0F, 0x58, 0x05, 0x00, 0x20, 0, 0]), None);
        // addss xmm0, [0x2001]: scalar ones need not be.
        assert_eq!(exec(&mut m, &[0xF3, 0x0F, 0x58, 0x05, 0x01, 0x20, 0, 0]), None);
        m.cpu.state.cr4 &= !cr4::OSFXSR;
        assert_eq!(exec(&mut m, &ADDPS), Some(vector::UD));
        m.cpu.state.cr4 |= cr4::OSFXSR;
        m.cpu.state.cr0 |= crate::state::cr0::TS;
        assert_eq!(exec(&mut m, &ADDPS), Some(vector::NM));
    }

    #[test]
    fn rcp_and_rsqrt_approximate_within_the_sdm_bound() {
        let rcpps = [0x0F, 0x53, 0xC1];
        let rsqrtps = [0x0F, 0x52, 0xC1];
        let (r, c) = op(&rcpps, 0, ps([THREE, 0x0000_0001, INF | NEG_ZERO, 0x7F00_0000]), RESET);
        assert_eq!(c, RESET, "no flags");
        let got = f32::from_bits(r as u32);
        assert!((got - 1.0 / 3.0).abs() <= 1.5 / 4096.0 / 3.0);
        assert_eq!((r >> 32) as u32, INF, "denormal input counts as zero");
        assert_eq!((r >> 64) as u32, NEG_ZERO);
        assert_eq!((r >> 96) as u32, 0, "1/2^127 is tiny: flushed");
        let r = op(&rsqrtps, 0, ps([0x4080_0000, NEG_ZERO, ONE | NEG_ZERO, INF]), RESET).0;
        assert_eq!(ps([HALF, INF | NEG_ZERO, INDEFINITE, 0]), r);
    }
}
