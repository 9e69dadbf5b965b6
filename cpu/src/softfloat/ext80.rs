//! Safe wrappers around SoftFloat's 80-bit extended-precision operations,
//! the arithmetic of the x87 (SDM vol. 1 4.2, 8.1). Every operation rounds
//! by the thread's rounding mode and x87 precision control (see the parent
//! module) and accumulates exception flags there; callers read them with
//! [`super::take_flags`].
//!
//! SoftFloat treats the encodings the x87 calls unsupported (unnormals,
//! pseudo-NaNs, pseudo-infinities) as ordinary numbers, so callers screen
//! operands for them first.

use crate::fpstate::F80;
use softfloat_sys as sys;

fn to_sys(a: F80) -> sys::extFloat80_t {
    sys::extFloat80_t { signif: a.signif, signExp: a.sign_exp }
}

fn from_sys(a: sys::extFloat80_t) -> F80 {
    F80 { signif: a.signif, sign_exp: a.signExp }
}

/// The rounding mode currently set, in SoftFloat's encoding.
fn rounding_mode() -> u8 {
    // SAFETY: reads a thread-local byte of the C library; no pointers.
    unsafe { sys::softfloat_roundingMode_read_helper() }
}

pub fn add(a: F80, b: F80) -> F80 {
    // SAFETY: a pure function on two values plus thread-local state.
    from_sys(unsafe { sys::extF80_add(to_sys(a), to_sys(b)) })
}

pub fn sub(a: F80, b: F80) -> F80 {
    // SAFETY: as above.
    from_sys(unsafe { sys::extF80_sub(to_sys(a), to_sys(b)) })
}

pub fn mul(a: F80, b: F80) -> F80 {
    // SAFETY: as above.
    from_sys(unsafe { sys::extF80_mul(to_sys(a), to_sys(b)) })
}

pub fn div(a: F80, b: F80) -> F80 {
    // SAFETY: as above.
    from_sys(unsafe { sys::extF80_div(to_sys(a), to_sys(b)) })
}

pub fn sqrt(a: F80) -> F80 {
    // SAFETY: a pure function on one value plus thread-local state.
    from_sys(unsafe { sys::extF80_sqrt(to_sys(a)) })
}

/// Rounds to an integral value by the current rounding mode, raising
/// inexact when that changes the value.
pub fn round_to_int(a: F80) -> F80 {
    let mode = rounding_mode();
    // SAFETY: as above.
    from_sys(unsafe { sys::extF80_roundToInt(to_sys(a), mode, true) })
}

/// Exact widening conversions (they raise invalid only for SNaNs).
pub fn from_f32(v: u32) -> F80 {
    // SAFETY: as above.
    from_sys(unsafe { sys::f32_to_extF80(sys::float32_t { v }) })
}

pub fn from_f64(v: u64) -> F80 {
    // SAFETY: as above.
    from_sys(unsafe { sys::f64_to_extF80(sys::float64_t { v }) })
}

pub fn from_i64(v: i64) -> F80 {
    // SAFETY: as above.
    from_sys(unsafe { sys::i64_to_extF80(v) })
}

/// Narrowing conversions, rounded by the current rounding mode (precision
/// control does not apply to them).
pub fn to_f32(a: F80) -> u32 {
    // SAFETY: as above.
    unsafe { sys::extF80_to_f32(to_sys(a)).v }
}

pub fn to_f64(a: F80) -> u64 {
    // SAFETY: as above.
    unsafe { sys::extF80_to_f64(to_sys(a)).v }
}

/// To a 64-bit integer by the current rounding mode; out of range and NaN
/// give 0x8000_0000_0000_0000 with invalid raised.
pub fn to_i64(a: F80) -> i64 {
    let mode = rounding_mode();
    // SAFETY: as above.
    unsafe { sys::extF80_to_i64(to_sys(a), mode, true) }
}

/// Quiet ordered comparisons (NaN operands are screened by the caller).
pub fn lt(a: F80, b: F80) -> bool {
    // SAFETY: as above.
    unsafe { sys::extF80_lt_quiet(to_sys(a), to_sys(b)) }
}

pub fn eq(a: F80, b: F80) -> bool {
    // SAFETY: as above.
    unsafe { sys::extF80_eq(to_sys(a), to_sys(b)) }
}

/// A quadruple-precision value (113-bit significand, the extended
/// exponent range): the working precision of the transcendental
/// instructions, which round to 64 bits only at the end.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Q(pub u128);

fn q_sys(a: Q) -> sys::float128_t {
    sys::float128_t { v: [a.0 as u64, (a.0 >> 64) as u64] }
}

fn q_from(a: sys::float128_t) -> Q {
    Q(u128::from(a.v[0]) | u128::from(a.v[1]) << 64)
}

/// Exact widening.
pub fn to_q(a: F80) -> Q {
    // SAFETY: a pure function on one value plus thread-local state.
    q_from(unsafe { sys::extF80_to_f128(to_sys(a)) })
}

pub fn q_from_i32(v: i32) -> Q {
    // SAFETY: as above.
    q_from(unsafe { sys::i32_to_f128(v) })
}

/// Rounds to 64 significand bits by the current rounding mode (precision
/// control does not apply).
pub fn from_q(a: Q) -> F80 {
    // SAFETY: as above.
    from_sys(unsafe { sys::f128_to_extF80(q_sys(a)) })
}

pub fn q_add(a: Q, b: Q) -> Q {
    // SAFETY: a pure function on two values plus thread-local state.
    q_from(unsafe { sys::f128_add(q_sys(a), q_sys(b)) })
}

pub fn q_sub(a: Q, b: Q) -> Q {
    // SAFETY: as above.
    q_from(unsafe { sys::f128_sub(q_sys(a), q_sys(b)) })
}

pub fn q_mul(a: Q, b: Q) -> Q {
    // SAFETY: as above.
    q_from(unsafe { sys::f128_mul(q_sys(a), q_sys(b)) })
}

pub fn q_div(a: Q, b: Q) -> Q {
    // SAFETY: as above.
    q_from(unsafe { sys::f128_div(q_sys(a), q_sys(b)) })
}

pub fn q_sqrt(a: Q) -> Q {
    // SAFETY: a pure function on one value plus thread-local state.
    q_from(unsafe { sys::f128_sqrt(q_sys(a)) })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::softfloat::{flag, set_rounding, set_x87_precision, take_flags, Rounding};

    const ONE: F80 = F80 { signif: 1 << 63, sign_exp: 0x3FFF };
    const THREE: F80 = F80 { signif: 3 << 62, sign_exp: 0x4000 };

    #[test]
    fn one_third_under_each_precision() {
        set_rounding(Rounding::Nearest);
        take_flags();
        for (bits, signif) in [(64, 0xAAAA_AAAA_AAAA_AAAB), (53, 0xAAAA_AAAA_AAAA_A800), (24, 0xAAAA_AB00_0000_0000)] {
            set_x87_precision(bits);
            let q = div(ONE, THREE);
            assert_eq!(q, F80 { signif, sign_exp: 0x3FFD }, "PC {bits}");
            assert_eq!(take_flags(), flag::PRECISION);
        }
        set_x87_precision(64);
    }
}
