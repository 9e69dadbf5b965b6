//! The soft-float engine: Berkeley SoftFloat 3e (through `softfloat-sys`),
//! built with the 8086-SSE specialisation, so NaN propagation and the
//! default NaN are those of x86, and with thread-local state, so each
//! thread (each future vCPU, each parallel test) has its own rounding
//! mode, precision and exception flags.
//!
//! Why this library: x87 results depend on precision control rounding the
//! significand while keeping the extended exponent range, which SoftFloat's
//! extF80 operations do exactly (its `extF80_roundingPrecision`); the pure
//! Rust alternative (rustc_apfloat) has neither that nor x86 NaN rules.
//!
//! This module is the only place that calls into C: the calls are pure
//! functions on values plus thread-local state, and each `unsafe` block
//! says so. Everything above it uses the safe wrappers here and in the
//! submodules.

use softfloat_sys as sys;

pub mod ext80;
pub mod sse;

/// Rounding modes, in the encoding of x87 FCW.RC and MXCSR.RC.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Rounding {
    Nearest = 0,
    Down = 1,
    Up = 2,
    TowardZero = 3,
}

impl Rounding {
    /// From the two-bit RC field of FCW or MXCSR.
    pub fn from_rc(rc: u32) -> Self {
        match rc & 3 {
            0 => Self::Nearest,
            1 => Self::Down,
            2 => Self::Up,
            _ => Self::TowardZero,
        }
    }

    fn to_softfloat(self) -> u8 {
        match self {
            Self::Nearest => sys::softfloat_round_near_even,
            Self::Down => sys::softfloat_round_min,
            Self::Up => sys::softfloat_round_max,
            Self::TowardZero => sys::softfloat_round_minMag,
        }
    }
}

/// IEEE exception flags as SoftFloat reports them, mapped to the x87 FSW /
/// MXCSR flag bits (which share one layout: IE=0, DE=1, ZE=2, OE=3, UE=4,
/// PE=5). DE (denormal operand) is not a SoftFloat flag: callers detect
/// denormal inputs themselves.
pub mod flag {
    pub const INVALID: u32 = 1 << 0;
    pub const DENORMAL: u32 = 1 << 1;
    pub const ZERO_DIVIDE: u32 = 1 << 2;
    pub const OVERFLOW: u32 = 1 << 3;
    pub const UNDERFLOW: u32 = 1 << 4;
    pub const PRECISION: u32 = 1 << 5;
}

/// Sets the rounding mode for the following operations on this thread.
pub fn set_rounding(r: Rounding) {
    // SAFETY: writes a thread-local byte of the C library; no pointers.
    unsafe { sys::softfloat_roundingMode_write_helper(r.to_softfloat()) }
}

/// Sets the x87 precision control (24, 53 or 64 significand bits) for the
/// following extF80 operations on this thread.
pub fn set_x87_precision(bits: u8) {
    let p = match bits {
        24 => 32,
        53 => 64,
        _ => 80,
    };
    // SAFETY: as above; SoftFloat accepts 32, 64 and 80.
    unsafe { sys::extF80_roundingPrecision_write_helper(p) }
}

/// x86 detects tininess after rounding (SDM vol. 1 4.9.1.5).
pub fn set_tininess_after_rounding() {
    // SAFETY: as above.
    unsafe { sys::softfloat_detectTininess_write_helper(sys::softfloat_tininess_afterRounding) }
}

/// Returns the exception flags raised since the last call (in the [`flag`]
/// layout) and clears them.
pub fn take_flags() -> u32 {
    // SAFETY: reads and writes thread-local bytes of the C library.
    let f = unsafe {
        let f = sys::softfloat_exceptionFlags_read_helper();
        sys::softfloat_exceptionFlags_write_helper(0);
        f
    };
    let mut out = 0;
    if f & sys::softfloat_flag_invalid != 0 {
        out |= flag::INVALID;
    }
    if f & sys::softfloat_flag_infinite != 0 {
        out |= flag::ZERO_DIVIDE;
    }
    if f & sys::softfloat_flag_overflow != 0 {
        out |= flag::OVERFLOW;
    }
    if f & sys::softfloat_flag_underflow != 0 {
        out |= flag::UNDERFLOW;
    }
    if f & sys::softfloat_flag_inexact != 0 {
        out |= flag::PRECISION;
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flags_are_per_thread_and_taken_once() {
        set_rounding(Rounding::Nearest);
        // 1.0f32 / 3.0f32 is inexact.
        let q = unsafe_free_div_f32(0x3F80_0000, 0x4040_0000);
        assert_eq!(q, 0x3EAA_AAAB);
        assert_eq!(take_flags(), flag::PRECISION);
        assert_eq!(take_flags(), 0);
        std::thread::spawn(|| assert_eq!(take_flags(), 0)).join().unwrap();
    }

    fn unsafe_free_div_f32(a: u32, b: u32) -> u32 {
        // SAFETY: a pure function on two values.
        unsafe { sys::f32_div(sys::float32_t { v: a }, sys::float32_t { v: b }).v }
    }
}
