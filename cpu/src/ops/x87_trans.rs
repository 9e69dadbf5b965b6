//! x87 exponential and logarithm instructions (SDM vol. 2 F2XM1, FYL2X,
//! FYL2XP1). They are computed in quadruple precision (SoftFloat's
//! float128: 113-bit significand, the same exponent range) by series that
//! converge far below the final rounding, then rounded once to 64 bits by
//! RC; precision control does not apply to them (SDM 8.1.5.2). The host
//! x87 is not correctly rounded either; the host-differential test
//! measures the distance in ulps.
//!
//! FPATAN is computed the same way. FSIN, FCOS, FSINCOS and FPTAN reduce
//! their argument modulo pi/2 exactly, but with the 66-bit pi the x87
//! itself uses, so results near multiples of pi match hardware rather
//! than the true functions (SDM vol. 1 8.3.10).
//!
//! Known gap: with underflow or overflow unmasked, hardware delivers these
//! results normalised with the exponent wrapped by 24576; here they get
//! the masked response (with the flag raised and the exception pending).

use super::x87::{self, is_denormal, is_inf, is_nan, is_unsupported, is_zero, sw, Outcome, INDEFINITE};
use super::*;
use crate::{
    fpstate::F80,
    softfloat::{
        self,
        ext80::{self, q_add, q_div, q_from_i32, q_mul, q_sqrt, q_sub, to_q, Q},
        Rounding,
    },
};
use iced_x86::Code::*;

pub(super) fn register(t: &mut Table) {
    t.set(F2xm1, f2xm1);
    t.set(Fyl2x, fyl2x::<false>);
    t.set(Fyl2xp1, fyl2x::<true>);
    t.set(Fpatan, fpatan);
    t.set(Fsin, ftrig::<SIN>);
    t.set(Fcos, ftrig::<COS>);
    t.set(Fsincos, ftrig::<SINCOS>);
    t.set(Fptan, ftrig::<TAN>);
}

/// ln 2 and 1 / ln 2 rounded to quadruple precision.
const LN2: Q = Q(0x3FFE_62E4_2FEF_A39E_F357_93C7_6730_07E6);
const INV_LN2: Q = Q(0x3FFF_7154_7652_B82F_E177_7D0F_FDA0_D23A);
/// pi, pi/2, pi/4 and 3pi/4 rounded to quadruple precision.
const PI: Q = Q(0x4000_921F_B544_42D1_8469_898C_C517_01B8);
const PI_2: Q = Q(0x3FFF_921F_B544_42D1_8469_898C_C517_01B8);
const PI_4: Q = Q(0x3FFE_921F_B544_42D1_8469_898C_C517_01B8);
const PI3_4: Q = Q(0x4000_2D97_C7F3_321D_234F_2729_93D1_414A);
const Q_ONE: Q = Q(0x3FFF << 112);
const Q_TWO: Q = Q(0x4000 << 112);
/// sqrt(2) as a 64-bit significand: the split point of the logarithm.
const SQRT2_SIGNIF: u64 = 0xB504_F333_F9DE_6484;

fn q_exp(a: Q) -> i32 {
    ((a.0 >> 112) & 0x7FFF) as i32
}

fn q_zero(a: Q) -> bool {
    a.0 << 1 == 0
}

/// Whether `term` no longer changes `sum` at quadruple precision.
fn negligible(term: Q, sum: Q) -> bool {
    q_zero(term) || q_exp(term) < q_exp(sum) - 116
}

/// e^t - 1 for |t| < 1 by its Taylor series: the sum starts at t, so the
/// relative accuracy holds for tiny t.
fn expm1(t: Q) -> Q {
    let mut sum = t;
    let mut term = t;
    for n in 2..64 {
        term = q_div(q_mul(term, t), q_from_i32(n));
        if negligible(term, sum) {
            break;
        }
        sum = q_add(sum, term);
    }
    sum
}

/// 2 atanh(s) = ln((1 + s) / (1 - s)), for |s| well below 1.
fn two_atanh(s: Q) -> Q {
    if q_zero(s) {
        return s;
    }
    let s2 = q_mul(s, s);
    let mut sum = s;
    let mut p = s;
    for k in 1..200 {
        p = q_mul(p, s2);
        let term = q_div(p, q_from_i32(2 * k + 1));
        if negligible(term, sum) {
            break;
        }
        sum = q_add(sum, term);
    }
    q_add(sum, sum)
}

/// log2(m * 2^e) for m in [1, 2): ln(m) from atanh((m-1)/(m+1)) with m
/// first brought into [sqrt(1/2), sqrt(2)] so the series converges fast.
fn log2_parts(e: i32, m: Q, m_signif: u64) -> Q {
    let (e, m) = if m_signif > SQRT2_SIGNIF { (e + 1, Q(m.0 - (1 << 112))) } else { (e, m) };
    let ln_m = two_atanh(q_div(q_sub(m, Q_ONE), q_add(m, Q_ONE)));
    q_add(q_from_i32(e), q_mul(ln_m, INV_LN2))
}

/// log2 of a finite positive 80-bit value, exactly decomposed.
fn log2_f80(x: F80) -> Q {
    let (e, signif) = if x87::exp(x) == 0 {
        let sh = x.signif.leading_zeros();
        (1 - sh as i32, x.signif << sh)
    } else {
        (i32::from(x87::exp(x)), x.signif)
    };
    let m = F80 { signif, sign_exp: 0x3FFF };
    log2_parts(e - x87::BIAS, to_q(m), signif)
}

/// log2 of a positive normal quadruple value.
fn log2_q(x: Q) -> Q {
    let e = q_exp(x) - x87::BIAS;
    let m = Q((x.0 & !(0x7FFF << 112)) | (0x3FFF << 112));
    // The top 64 significand bits, with the integer bit, for the split.
    let signif = (1 << 63) | (x.0 >> 49) as u64;
    log2_parts(e, m, signif)
}

/// The final rounding of a quadruple result to 64 bits, with its flags
/// and C1.
/// The final rounding of a quadruple result to 64 bits, with its flags
/// and C1. A product that underflowed past even quadruple precision's
/// denormals (`lost`) is a tiny inexact result.
fn round_q(fcw: u16, rc: Rounding, r: Q, lost: bool) -> (F80, u16, bool) {
    softfloat::set_x87_precision(64);
    let (v, f, c1) = x87::rounded(rc, || ext80::from_q(r));
    // The host x87 treats these results as never exact: a tiny one
    // signals underflow even when the quadruple value rounds exactly.
    let f = if (lost && q_zero(r)) || is_denormal(v) { f | sw::UE | sw::PE } else { f };
    let unmasked = f & !fcw & (sw::UE | sw::OE);
    if unmasked == 0 || q_zero(r) {
        return (v, f, c1);
    }
    // Unmasked underflow or overflow delivers the result rounded as if the
    // exponent range were unbounded, with its exponent wrapped by 24576
    // (SDM 8.5.4.2, 8.5.5.2). Scaling the quadruple value by 2^(+-24576),
    // in two exact power-of-two steps, puts it in range; rounding it then
    // rounds the significand as the unbounded rounding would.
    let step = if unmasked & sw::UE != 0 { Q_2P12288 } else { Q_2M12288 };
    let w = q_mul(q_mul(r, step), step);
    let (v, wf, c1) = x87::rounded(rc, || ext80::from_q(w));
    (v, (f & (sw::UE | sw::OE)) | (wf & sw::PE), c1)
}

/// 2^12288 and 2^-12288 in quadruple precision: two of either scale by the
/// x87's exponent wrap.
const Q_2P12288: Q = Q(((0x3FFF + 12288) as u128) << 112);
const Q_2M12288: Q = Q(((0x3FFF - 12288) as u128) << 112);

/// F2XM1: 2^x - 1 for -1 <= x <= 1 (larger |x| are outside the
/// instruction's domain; they get the same formula).
fn f2xm1(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let rc = cpu.x87_enter()?;
    let fcw = cpu.state.fpu.fcw;
    // The working precision rounds to nearest; RC applies only to the
    // final rounding (`round_q`).
    softfloat::set_rounding(Rounding::Nearest);
    cpu.x87_note(env, i);
    if cpu.st_empty(0) {
        if cpu.stack_fault(false) {
            cpu.set_st(0, INDEFINITE);
        }
        return Ok(());
    }
    let x = cpu.st(0);
    let o = if is_unsupported(x) {
        Outcome { val: INDEFINITE, flags: sw::IE, c1: false }
    } else if is_nan(x) {
        let val = ext80::add(x, x);
        Outcome { val, flags: softfloat::take_flags() as u16 & sw::IE, c1: false }
    } else if is_zero(x) {
        Outcome { val: x, flags: 0, c1: false }
    } else if is_inf(x) {
        let val = if x87::neg(x) { F80 { signif: 1 << 63, sign_exp: 0xBFFF } } else { x };
        Outcome { val, flags: 0, c1: false }
    } else {
        let de = if is_denormal(x) { sw::DE } else { 0 };
        if !cpu.fpu_masked(de) {
            Outcome { val: x, flags: de, c1: false }
        } else if x87::exp(x) > 0x3FFF + 13 {
            // Far outside the domain (|x| >= 16384), where the result is
            // undefined: clamp to keep the scaling below in range.
            let big = ext80::from_i64(if x87::neg(x) { -16000 } else { 16000 });
            f2xm1_q(fcw, rc, big, de)
        } else {
            f2xm1_q(fcw, rc, x, de)
        }
    };
    cpu.x87_commit(0, &o);
    Ok(())
}

fn f2xm1_q(fcw: u16, rc: Rounding, x: F80, de: u16) -> Outcome {
    softfloat::take_flags();
    let t = q_mul(to_q(x87::canon(x)), LN2);
    let r = if q_exp(t) >= 0x3FFF {
        // |t| >= 1: split off an integer power of two, 2^x = 2^n * 2^f.
        let xq = to_q(x87::canon(x));
        let n = ext80::to_i64(ext80::round_to_int(x)) as i32;
        softfloat::take_flags();
        let f = q_sub(xq, q_from_i32(n));
        let pow = q_add(expm1(q_mul(f, LN2)), Q_ONE);
        let scaled = Q(pow.0.wrapping_add(((n as i128) << 112) as u128));
        q_sub(scaled, Q_ONE)
    } else {
        expm1(t)
    };
    let (val, flags, c1) = round_q(fcw, rc, r, true);
    Outcome { val, flags: flags | de, c1 }
}

/// FYL2X: ST(1) * log2(ST(0)); FYL2XP1: ST(1) * log2(ST(0) + 1). Both
/// pop. Special operands follow IEEE arithmetic on log2's limits: log2(0)
/// is -inf with a division by zero, log2(+inf) is +inf, log2(1) is +0.
fn fyl2x<const P1: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    st1_op_and_pop(cpu, env, i, log_op::<P1>)
}

/// The shape FYL2X, FYL2XP1 and FPATAN share: ST(1) = op(ST(0), ST(1)),
/// then a pop; an empty operand is a stack underflow.
fn st1_op_and_pop(
    cpu: &mut Cpu,
    env: &mut Env,
    i: &Instruction,
    op: impl FnOnce(&Cpu, F80, F80, Rounding) -> Outcome,
) -> Result<(), Fault> {
    let rc = cpu.x87_enter()?;
    // The working precision rounds to nearest; RC applies only to the
    // final rounding (`round_q`).
    softfloat::set_rounding(Rounding::Nearest);
    cpu.x87_note(env, i);
    if cpu.st_empty(0) || cpu.st_empty(1) {
        if cpu.stack_fault(false) {
            cpu.set_st(1, INDEFINITE);
            cpu.fpu_pop();
        }
        return Ok(());
    }
    let (x, y) = (cpu.st(0), cpu.st(1));
    let o = op(cpu, x, y, rc);
    if cpu.x87_commit(1, &o) {
        cpu.fpu_pop();
    }
    Ok(())
}

fn log_op<const P1: bool>(cpu: &Cpu, x: F80, y: F80, rc: Rounding) -> Outcome {
    let fcw = cpu.state.fpu.fcw;
    let invalid = Outcome { val: INDEFINITE, flags: sw::IE, c1: false };
    if is_unsupported(x) || is_unsupported(y) {
        return invalid;
    }
    if is_nan(x) || is_nan(y) {
        softfloat::take_flags();
        let val = ext80::add(y, x);
        return Outcome { val, flags: softfloat::take_flags() as u16 & sw::IE, c1: false };
    }
    let neg_inf = F80 { signif: 1 << 63, sign_exp: 0xFFFF };
    // log2 of the operand when it is a limit case, and the ZE it brings.
    let special = if P1 {
        let minus_one = F80 { signif: 1 << 63, sign_exp: 0xBFFF };
        if is_zero(x) || (is_inf(x) && !x87::neg(x)) {
            Some((x, 0))
        } else if x87::neg(x) && !ext80::lt(minus_one, x) {
            if ext80::eq(x, minus_one) {
                Some((neg_inf, sw::ZE))
            } else {
                return invalid;
            }
        } else {
            None
        }
    } else if is_zero(x) {
        Some((neg_inf, sw::ZE))
    } else if x87::neg(x) {
        return invalid;
    } else if is_inf(x) {
        Some((x, 0))
    } else {
        None
    };
    let de = if is_denormal(x) || is_denormal(y) { sw::DE } else { 0 };
    softfloat::take_flags();
    if let Some((l, ze)) = special {
        let val = ext80::mul(y, l);
        let f = softfloat::take_flags() as u16 & sw::IE;
        let ze = if f == 0 && !is_zero(y) && !is_inf(y) { ze } else { 0 };
        // IE and ZE outrank DE.
        let de = if f == 0 && ze == 0 { de } else { 0 };
        return Outcome { val, flags: f | ze | de, c1: false };
    }
    if !cpu.fpu_masked(de) {
        return Outcome { val: y, flags: de, c1: false };
    }
    if P1 && is_denormal(x) && !is_zero(y) && !is_inf(y) {
        // log2(1 + x) = x / ln 2 to far below an ulp; x stays out of the
        // series, which would run in quadruple denormals and lose bits.
        // y * x first: both in range, so the quadruple product keeps every
        // bit x has (x / ln 2 alone would be a quadruple denormal).
        let r = q_mul(q_mul(to_q(x87::canon(y)), to_q(x87::canon(x))), INV_LN2);
        // x / ln 2 with x scaled into the normal quadruple range first,
        // for the wrapped product (x is far below it).
        let l_up = q_mul(q_mul(to_q(x87::canon(x)), Q_2P12288), INV_LN2);
        if let Some(o) = wrapped_product(fcw, rc, y, q_mul(l_up, Q_2M12288), Some(l_up), r) {
            return Outcome { flags: o.flags | de, ..o };
        }
        let (val, flags, c1) = round_q(fcw, rc, r, true);
        return Outcome { val, flags: flags | de, c1 };
    }
    let l = if P1 {
        let xq = to_q(x87::canon(x));
        if x87::exp(x) < 0x3FFD {
            // |x| < 1/4: ln(1 + x) = 2 atanh(x / (2 + x)) keeps every bit
            // of tiny x.
            q_mul(two_atanh(q_div(xq, q_add(Q_TWO, xq))), INV_LN2)
        } else {
            log2_q(q_add(Q_ONE, xq))
        }
    } else {
        log2_f80(x87::canon(x))
    };
    if is_inf(y) || is_zero(y) {
        // inf * log2(1) and 0 * log2(inf) were handled above; the sign
        // of the limit is that of the product.
        let lv = ext80::from_q(l);
        softfloat::take_flags();
        let val = ext80::mul(y, lv);
        let f = softfloat::take_flags() as u16 & sw::IE;
        return Outcome { val, flags: f | de, c1: false };
    }
    softfloat::take_flags();
    let r = q_mul(to_q(x87::canon(y)), l);
    let quad_flags = softfloat::take_flags() as u16;
    if let Some(o) = wrapped_product(fcw, rc, y, l, None, r) {
        return Outcome { flags: o.flags | de, ..o };
    }
    if quad_flags & sw::OE != 0 {
        // Past the shared exponent range: the overflow response of the
        // current rounding mode, from a product that certainly overflows.
        let big = F80 { signif: 1 << 63, sign_exp: ((r.0 >> 112) as u16 & 0x8000) | 0x7FFE };
        softfloat::set_x87_precision(64);
        let (val, flags, c1) = x87::rounded(rc, || ext80::mul(big, F80 { signif: 1 << 63, sign_exp: 0x7FFE }));
        return Outcome { val, flags: flags | de, c1 };
    }
    let (val, flags, c1) = round_q(fcw, rc, r, !q_zero(l));
    // The host reports PE even when y * log2(x) happens to be exact (x a
    // power of two): its FYL2X never claims an exact logarithm product.
    let pe = if q_zero(l) { 0 } else { sw::PE };
    Outcome { val, flags: flags | de | pe, c1 }
}

/// y * l with an unmasked underflow or overflow: the x87 delivers the
/// product rounded at unbounded exponent range with its exponent wrapped
/// by 24576 (SDM 8.5.4.2, 8.5.5.2). `r` (the quadruple product) may itself
/// have overflowed or lost bits below the quadruple range, so the wrapped
/// product is formed from both factors scaled first, exactly, by
/// 2^(-+12288) each (`l_up`: l already scaled up, when the caller could
/// form it more exactly). `None` when no unmasked underflow or overflow
/// applies.
fn wrapped_product(fcw: u16, rc: Rounding, y: F80, l: Q, l_up: Option<Q>, r: Q) -> Option<Outcome> {
    let e = (r.0 >> 112) & 0x7FFF;
    let overflow = e > 0x3FFF + 16383;
    let underflow = e < 0x3FFF - 16382 && (!q_zero(r) || l_up.is_some());
    let (flag, step, ls) = if overflow && fcw & sw::OE == 0 {
        (sw::OE, Q_2M12288, q_mul(l, Q_2M12288))
    } else if underflow && fcw & sw::UE == 0 {
        (sw::UE, Q_2P12288, l_up.unwrap_or_else(|| q_mul(l, Q_2P12288)))
    } else {
        return None;
    };
    let w = q_mul(q_mul(to_q(x87::canon(y)), step), ls);
    softfloat::set_x87_precision(64);
    let (val, wf, c1) = x87::rounded(rc, || ext80::from_q(w));
    Some(Outcome { val, flags: flag | (wf & sw::PE), c1 })
}

/// atan(z) for 0 <= z <= 1: two argument halvings, atan(z) =
/// 2 atan(z / (1 + sqrt(1 + z^2))), bring z below tan(pi/16), where the
/// odd series converges fast.
fn atan_unit(z: Q) -> Q {
    let mut z = z;
    for _ in 0..2 {
        z = q_div(z, q_add(Q_ONE, q_sqrt(q_add(Q_ONE, q_mul(z, z)))));
    }
    if q_zero(z) {
        return z;
    }
    let z2 = q_mul(z, z);
    let mut sum = z;
    let mut p = z;
    for k in 1..200 {
        p = q_mul(p, z2);
        let term = q_div(p, q_from_i32(2 * k + 1));
        if negligible(term, sum) {
            break;
        }
        sum = if k % 2 == 1 { q_sub(sum, term) } else { q_add(sum, term) };
    }
    q_mul(sum, q_from_i32(4))
}

fn q_neg(a: Q) -> Q {
    Q(a.0 ^ 1 << 127)
}

/// FPATAN: ST(1) = the angle of the point (ST(0), ST(1)), in (-pi, pi],
/// with the signed-zero and infinity cases of the SDM's table; pops.
fn fpatan(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    st1_op_and_pop(cpu, env, i, |cpu, x, y, rc| atan2(cpu, y, x, rc))
}

fn atan2(cpu: &Cpu, y: F80, x: F80, rc: Rounding) -> Outcome {
    let fcw = cpu.state.fpu.fcw;
    if is_unsupported(x) || is_unsupported(y) {
        return Outcome { val: INDEFINITE, flags: sw::IE, c1: false };
    }
    if is_nan(x) || is_nan(y) {
        softfloat::take_flags();
        let val = ext80::add(y, x);
        return Outcome { val, flags: softfloat::take_flags() as u16 & sw::IE, c1: false };
    }
    let de = if is_denormal(x) || is_denormal(y) { sw::DE } else { 0 };
    if !cpu.fpu_masked(de) {
        return Outcome { val: y, flags: de, c1: false };
    }
    let (ny, nx) = (x87::neg(y), x87::neg(x));
    let signed = |q: Q| if ny { q_neg(q) } else { q };
    let exact = |v: F80| Outcome { val: v, flags: de, c1: false };
    let rounded = |q: Q| {
        let (val, flags, c1) = round_q(fcw, rc, signed(q), false);
        Outcome { val, flags: flags | de | sw::PE, c1 }
    };
    if is_zero(y) {
        return if nx { rounded(PI) } else { exact(y) };
    }
    if is_inf(y) {
        return rounded(if is_inf(x) {
            if nx {
                PI3_4
            } else {
                PI_4
            }
        } else {
            PI_2
        });
    }
    if is_zero(x) {
        return rounded(PI_2);
    }
    if is_inf(x) {
        return if nx { rounded(PI) } else { exact(F80 { signif: 0, sign_exp: y.sign_exp & 0x8000 }) };
    }
    // |y| and |x|, pseudo-denormals re-encoded.
    let abs = |v: F80| {
        let c = x87::canon(v);
        F80 { sign_exp: c.sign_exp & 0x7FFF, ..c }
    };
    let (a, b) = (abs(y), abs(x));
    let exp_of = |v: F80| if x87::exp(v) == 0 { 1 - v.signif.leading_zeros() as i32 } else { i32::from(x87::exp(v)) };
    let d = exp_of(a) - exp_of(b);
    if d < -120 && !nx {
        // atan(z) = z (1 - z^2/3 ...) with z below 2^-120: y / x rounds
        // the same.
        softfloat::set_x87_precision(64);
        let (val, flags, c1) = x87::rounded(rc, || ext80::div(y, x));
        let flags = if is_denormal(val) || is_zero(val) { flags | sw::UE | sw::PE } else { flags };
        return Outcome { val, flags: flags | de | sw::PE, c1 };
    }
    softfloat::take_flags();
    let (aq, bq) = (to_q(a), to_q(b));
    let t = if d <= 0 && ext80::lt(a, b) || ext80::eq(a, b) {
        atan_unit(q_div(aq, bq))
    } else {
        q_sub(PI_2, atan_unit(q_div(bq, aq)))
    };
    let t = if nx { q_sub(PI, t) } else { t };
    rounded(t)
}

const SIN: u8 = 0;
const COS: u8 = 1;
const SINCOS: u8 = 2;
const TAN: u8 = 3;

/// pi/2 as the x87's 66-bit constant, scaled by 2^65.
const PI66_2: u128 = 0x3_243F_6A88_85A3_08D3;

/// `d * 2^s` as a quadruple value (|d| below 2^112, so exact).
fn q_scaled(d: i128, s: i32) -> Q {
    if d == 0 {
        return Q(0);
    }
    let m = d.unsigned_abs();
    let top = 127 - m.leading_zeros() as i32;
    let sig = if top <= 112 { m << (112 - top) } else { m >> (top - 112) };
    let e = (top + s + x87::BIAS) as u128;
    Q(u128::from(d < 0) << 127 | e << 112 | (sig & ((1 << 112) - 1)))
}

/// sin(r) and cos(r) for |r| <= pi/4 (and a little more) by their Taylor
/// series.
fn sin_cos(r: Q) -> (Q, Q) {
    let r2 = q_mul(r, r);
    let (mut s, mut ts) = (r, r);
    let (mut c, mut tc) = (Q_ONE, Q_ONE);
    for n in 1..40 {
        ts = q_div(q_mul(ts, r2), q_from_i32((2 * n) * (2 * n + 1)));
        tc = q_div(q_mul(tc, r2), q_from_i32((2 * n - 1) * (2 * n)));
        let (ns, nc) = if n % 2 == 1 { (q_sub(s, ts), q_sub(c, tc)) } else { (q_add(s, ts), q_add(c, tc)) };
        let done = negligible(ts, s) && negligible(tc, c);
        (s, c) = (ns, nc);
        if done {
            break;
        }
    }
    (s, c)
}

/// sin and cos of a finite |x| < 2^63: x - k pi66/2 computed exactly in
/// integers (the product and the difference wrap mod 2^128, the true
/// difference being small), then the series and the quadrant.
fn sin_cos_x(x: F80) -> (Q, Q) {
    let c = x87::canon(x);
    let (ex, m) = if x87::exp(c) == 0 {
        let sh = c.signif.leading_zeros();
        (1 - sh as i32 - x87::BIAS, c.signif << sh)
    } else {
        (i32::from(x87::exp(c)) - x87::BIAS, c.signif)
    };
    let (r, k) = if ex < -1 {
        // |x| < 1/2 < pi/4: no reduction.
        (to_q(F80 { sign_exp: c.sign_exp & 0x7FFF, ..c }), 0u128)
    } else {
        // k = round(|x| / (pi/2)), from a quadruple quotient.
        let t = q_div(to_q(F80 { signif: m, sign_exp: (ex + x87::BIAS) as u16 }), PI_2);
        let e = q_exp(t) - x87::BIAS;
        let k = if e < -1 { 0 } else { (((1u128 << 112) | (t.0 & ((1 << 112) - 1))) >> (111 - e) as u32).div_ceil(2) };
        let d = (u128::from(m) << (ex + 2) as u32).wrapping_sub(k.wrapping_mul(PI66_2)) as i128;
        (q_scaled(d, -65), k)
    };
    let (s, co) = sin_cos(r);
    let (s, co) = match k & 3 {
        0 => (s, co),
        1 => (co, q_neg(s)),
        2 => (q_neg(s), q_neg(co)),
        _ => (q_neg(co), s),
    };
    if x87::neg(x) {
        (q_neg(s), co)
    } else {
        (s, co)
    }
}

/// FSIN, FCOS, FSINCOS (ST(0) = sin, then cos pushed) and FPTAN (ST(0) =
/// tan, then 1.0 pushed). |x| >= 2^63 sets C2 and leaves the stack alone.
fn ftrig<const F: u8>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let rc = cpu.x87_enter()?;
    let fcw = cpu.state.fpu.fcw;
    // The working precision rounds to nearest; RC applies only to the
    // final rounding (`round_q`).
    softfloat::set_rounding(Rounding::Nearest);
    cpu.x87_note(env, i);
    // C2 reports an operand out of range and nothing else: a stack fault
    // clears it too (as the host CPU shows).
    cpu.set_cc(sw::C2, 0);
    let pushes = F == SINCOS || F == TAN;
    if cpu.st_empty(0) || (pushes && !cpu.st_empty(7)) {
        let overflow = !cpu.st_empty(0);
        if cpu.stack_fault(overflow) {
            cpu.set_st(0, INDEFINITE);
            if pushes {
                cpu.fpu_push(INDEFINITE);
            }
        }
        return Ok(());
    }
    let x = cpu.st(0);
    let one = F80 { signif: 1 << 63, sign_exp: 0x3FFF };
    let (first, second): (Outcome, Option<Outcome>) = if is_unsupported(x) || is_inf(x) {
        let o = Outcome { val: INDEFINITE, flags: sw::IE, c1: false };
        (o, pushes.then_some(Outcome { val: INDEFINITE, flags: sw::IE, c1: false }))
    } else if is_nan(x) {
        let q = x87::quiet(x);
        let flags = if x87::is_snan(x) { sw::IE } else { 0 };
        (Outcome { val: q, flags, c1: false }, pushes.then_some(Outcome { val: q, flags, c1: false }))
    } else if x87::exp(x) >= 0x3FFF + 63 {
        cpu.set_cc(sw::C2, sw::C2);
        return Ok(());
    } else if is_zero(x) {
        let exact = |val| Outcome { val, flags: 0, c1: false };
        match F {
            SIN => (exact(x), None),
            COS => (exact(one), None),
            SINCOS => (exact(x), Some(exact(one))),
            _ => (exact(x), Some(exact(one))),
        }
    } else {
        let de = if is_denormal(x) { sw::DE } else { 0 };
        if !cpu.fpu_masked(de) {
            cpu.fpu_raise(de);
            return Ok(());
        }
        softfloat::take_flags();
        let (s, c) = sin_cos_x(x);
        // For tiny x, sin(x) = x - x^3/6 lies just below |x| and
        // tan(x) = x + x^3/3 just above, further than the quadruple value
        // can show: step it one quadruple ulp towards or away from zero so
        // a directed rounding (and the tininess check after it) sees the
        // side of |x| the exact result is on.
        let xq = to_q(x87::canon(x));
        let tan = || {
            let t = q_div(s, c);
            if t == xq {
                Q(t.0 + 1)
            } else {
                t
            }
        };
        let s = if s == xq { Q(s.0 - 1) } else { s };
        let round = |q: Q| {
            let (val, flags, c1) = round_q(fcw, rc, q, false);
            Outcome { val, flags: flags | de | sw::PE, c1 }
        };
        match F {
            SIN => (round(s), None),
            COS => (round(c), None),
            SINCOS => (round(s), Some(round(c))),
            _ => (round(tan()), Some(Outcome { val: one, flags: 0, c1: false })),
        }
    };
    let flags = first.flags | second.as_ref().map_or(0, |o| o.flags);
    let all = Outcome { val: first.val, flags, c1: first.c1 || second.as_ref().is_some_and(|o| o.c1) };
    if cpu.x87_commit(0, &all) {
        if let Some(o) = second {
            cpu.fpu_push(o.val);
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::x87::tests::{fpu_machine, run};
    use super::*;

    #[test]
    fn out_of_range_sets_c2_and_leaves_the_operand() {
        let big = F80 { signif: 1 << 63, sign_exp: 0x3FFF + 63 };
        let mut m = fpu_machine();
        m.cpu.fpu_push(big);
        run(&mut m, &[0xD9, 0xFE]); // fsin
        assert_eq!(m.cpu.st(0), big);
        assert_eq!(m.cpu.state.fpu.fsw & (sw::C2 | sw::EXC), sw::C2);
        m.cpu.set_st(0, F80 { signif: 1 << 63, sign_exp: 0x3FFF });
        run(&mut m, &[0xD9, 0xFE]); // fsin(1.0)
        assert_eq!(m.cpu.state.fpu.fsw & sw::C2, 0);
        // sin(1) = 0.84147098480789650665... = 0xD76AA478_48677020.C6 * 2^-64: nearest rounds up.
        assert_eq!(m.cpu.st(0), F80 { signif: 0xD76A_A478_4867_7021, sign_exp: 0x3FFE });
    }

    #[test]
    fn fyl2x_overflow_beyond_the_quadruple_range_is_wrapped_when_unmasked() {
        // 2^16383 * log2(128) = 1.75 * 2^16385: past the largest extended
        // and even the quadruple range. With OE unmasked the x87 delivers
        // it with the exponent wrapped by 24576: 1.75 * 2^-8191.
        let mut m = fpu_machine();
        m.cpu.state.fpu.fcw = 0x037F & !sw::OE;
        m.cpu.fpu_push(F80 { signif: 1 << 63, sign_exp: 0x7FFE }); // y
        m.cpu.fpu_push(F80 { signif: 1 << 63, sign_exp: 0x4006 }); // x = 128
        run(&mut m, &[0xD9, 0xF1]); // fyl2x
        assert_eq!(m.cpu.st(0), F80 { signif: 0xE000_0000_0000_0000, sign_exp: 0x3FFF + 16385 - 24576 });
        assert_eq!(m.cpu.state.fpu.fsw & sw::OE, sw::OE);
    }

    #[test]
    fn sin_of_the_smallest_normal_lies_just_below_it() {
        let min_normal = F80 { signif: 1 << 63, sign_exp: 1 };
        // Round down: the exact result, a hair below 2^-16382, gives the
        // largest denormal, tiny and inexact after rounding: UE and PE.
        let mut m = fpu_machine();
        m.cpu.state.fpu.fcw = 0x077F;
        m.cpu.fpu_push(min_normal);
        run(&mut m, &[0xD9, 0xFE]); // fsin
        assert_eq!(m.cpu.st(0), F80 { signif: (1 << 63) - 1, sign_exp: 0 });
        assert_eq!(m.cpu.state.fpu.fsw & (sw::EXC | sw::C1), sw::UE | sw::PE);
        // Round to nearest: back to 2^-16382 itself, rounded up (C1), not
        // tiny after rounding: PE alone.
        let mut m = fpu_machine();
        m.cpu.state.fpu.fcw = 0x037F;
        m.cpu.fpu_push(min_normal);
        run(&mut m, &[0xD9, 0xFE]);
        assert_eq!(m.cpu.st(0), min_normal);
        assert_eq!(m.cpu.state.fpu.fsw & (sw::EXC | sw::C1), sw::PE | sw::C1);
    }

    #[test]
    fn fptan_pushes_one_and_fsincos_checks_for_overflow() {
        let mut m = fpu_machine();
        m.cpu.fpu_push(F80::default());
        run(&mut m, &[0xD9, 0xF2]); // fptan(+0) = +0, then 1.0
        assert_eq!((m.cpu.st(0), m.cpu.st(1)), (F80 { signif: 1 << 63, sign_exp: 0x3FFF }, F80::default()));
        assert_eq!(m.cpu.state.fpu.fsw & sw::EXC, 0);
        let mut m = fpu_machine();
        for _ in 0..8 {
            m.cpu.fpu_push(F80::default());
        }
        run(&mut m, &[0xD9, 0xFB]); // fsincos with a full stack
        assert_eq!(m.cpu.state.fpu.fsw & (sw::IE | sw::SF | sw::C1), sw::IE | sw::SF | sw::C1);
        assert_eq!(m.cpu.st(0), INDEFINITE);
    }
}
