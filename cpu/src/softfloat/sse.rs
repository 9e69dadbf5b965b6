//! Safe wrappers around the binary32/binary64 operations of SoftFloat that
//! the SSE/SSE2 floating-point instructions use (SDM vol. 1 ch. 10-11).
//! Values travel as raw bit patterns; rounding and flags are the
//! thread-local state of the parent module. Each call is a pure function
//! on its arguments plus that thread-local state.

use super::{sys, Rounding};

fn f32v(a: u32) -> sys::float32_t {
    sys::float32_t { v: a }
}

fn f64v(a: u64) -> sys::float64_t {
    sys::float64_t { v: a }
}

pub fn f32_add(a: u32, b: u32) -> u32 {
    // SAFETY: pure function on two values and thread-local state.
    unsafe { sys::f32_add(f32v(a), f32v(b)).v }
}

pub fn f32_sub(a: u32, b: u32) -> u32 {
    // SAFETY: as above.
    unsafe { sys::f32_sub(f32v(a), f32v(b)).v }
}

pub fn f32_mul(a: u32, b: u32) -> u32 {
    // SAFETY: as above.
    unsafe { sys::f32_mul(f32v(a), f32v(b)).v }
}

pub fn f32_div(a: u32, b: u32) -> u32 {
    // SAFETY: as above.
    unsafe { sys::f32_div(f32v(a), f32v(b)).v }
}

pub fn f32_sqrt(a: u32) -> u32 {
    // SAFETY: pure function on one value and thread-local state.
    unsafe { sys::f32_sqrt(f32v(a)).v }
}

pub fn f64_add(a: u64, b: u64) -> u64 {
    // SAFETY: pure function on two values and thread-local state.
    unsafe { sys::f64_add(f64v(a), f64v(b)).v }
}

pub fn f64_sub(a: u64, b: u64) -> u64 {
    // SAFETY: as above.
    unsafe { sys::f64_sub(f64v(a), f64v(b)).v }
}

pub fn f64_mul(a: u64, b: u64) -> u64 {
    // SAFETY: as above.
    unsafe { sys::f64_mul(f64v(a), f64v(b)).v }
}

pub fn f64_div(a: u64, b: u64) -> u64 {
    // SAFETY: as above.
    unsafe { sys::f64_div(f64v(a), f64v(b)).v }
}

pub fn f64_sqrt(a: u64) -> u64 {
    // SAFETY: pure function on one value and thread-local state.
    unsafe { sys::f64_sqrt(f64v(a)).v }
}

pub fn f32_to_f64(a: u32) -> u64 {
    // SAFETY: as above.
    unsafe { sys::f32_to_f64(f32v(a)).v }
}

pub fn f64_to_f32(a: u64) -> u32 {
    // SAFETY: as above.
    unsafe { sys::f64_to_f32(f64v(a)).v }
}

pub fn i32_to_f32(a: i32) -> u32 {
    // SAFETY: as above.
    unsafe { sys::i32_to_f32(a).v }
}

pub fn i32_to_f64(a: i32) -> u64 {
    // SAFETY: as above.
    unsafe { sys::i32_to_f64(a).v }
}

/// Converts to a signed doubleword with rounding `r`, raising inexact;
/// NaN and out-of-range values give the x86 "integer indefinite"
/// 0x80000000 with invalid (8086-SSE specialisation).
pub fn f32_to_i32(a: u32, r: Rounding) -> u32 {
    // SAFETY: pure function on a value and thread-local state; the
    // rounding mode is one of SoftFloat's constants.
    unsafe { sys::f32_to_i32(f32v(a), r.to_softfloat(), true) as u32 }
}

/// As [`f32_to_i32`], truncating.
pub fn f32_to_i32_trunc(a: u32) -> u32 {
    // SAFETY: pure function on a value and thread-local state.
    unsafe { sys::f32_to_i32_r_minMag(f32v(a), true) as u32 }
}

/// As [`f32_to_i32`], from binary64.
pub fn f64_to_i32(a: u64, r: Rounding) -> u32 {
    // SAFETY: as in `f32_to_i32`.
    unsafe { sys::f64_to_i32(f64v(a), r.to_softfloat(), true) as u32 }
}

/// As [`f64_to_i32`], truncating.
pub fn f64_to_i32_trunc(a: u64) -> u32 {
    // SAFETY: pure function on a value and thread-local state.
    unsafe { sys::f64_to_i32_r_minMag(f64v(a), true) as u32 }
}

#[cfg(test)]
mod tests {
    use super::super::{set_rounding, take_flags};
    use super::*;

    #[test]
    fn indefinite_integer_and_default_nan() {
        set_rounding(Rounding::Nearest);
        take_flags();
        assert_eq!(f32_to_i32_trunc(0x7FC0_0000), 0x8000_0000);
        assert_eq!(f64_to_i32(0x41E0_0000_0000_0000, Rounding::Nearest), 0x8000_0000, "2^31");
        assert_eq!(take_flags(), super::super::flag::INVALID);
        assert_eq!(f32_sub(0x7F80_0000, 0x7F80_0000), 0xFFC0_0000);
    }
}
