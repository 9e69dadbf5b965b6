//! Floating-point and SIMD register state: the x87 FPU (SDM vol. 1 ch. 8),
//! the MMX registers that alias it (ch. 9) and the SSE registers with MXCSR
//! (ch. 10-11). Plain data, `#[repr(C)]`, laid out for generated code and
//! for FXSAVE/FXRSTOR.

use serde::{Deserialize, Serialize};

/// An 80-bit extended-precision value as the x87 holds it: a 64-bit
/// significand with an explicit integer bit, and sign (bit 15) plus 15-bit
/// biased exponent.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Hash, Serialize, Deserialize)]
#[repr(C)]
pub struct F80 {
    pub signif: u64,
    pub sign_exp: u16,
}

impl F80 {
    /// The ten bytes as FSAVE/FXSAVE/FSTP m80 store them.
    pub fn to_bytes(self) -> [u8; 10] {
        let mut b = [0u8; 10];
        b[..8].copy_from_slice(&self.signif.to_le_bytes());
        b[8..].copy_from_slice(&self.sign_exp.to_le_bytes());
        b
    }

    /// The inverse of [`Self::to_bytes`].
    pub fn from_bytes(b: [u8; 10]) -> Self {
        let mut s = [0u8; 8];
        s.copy_from_slice(&b[..8]);
        Self { signif: u64::from_le_bytes(s), sign_exp: u16::from_le_bytes([b[8], b[9]]) }
    }
}

/// x87 tag values (two bits per physical register in the full tag word).
pub mod tag {
    pub const VALID: u16 = 0;
    pub const ZERO: u16 = 1;
    /// NaN, infinity, denormal or unsupported format.
    pub const SPECIAL: u16 = 2;
    pub const EMPTY: u16 = 3;
}

/// The x87 FPU.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[repr(C)]
pub struct FpuState {
    /// Physical registers R0..R7; ST(i) is R[(TOP + i) & 7]. MMX register
    /// MMi is the significand of Ri (and writing it sets Ri's exponent
    /// field to all ones).
    pub regs: [F80; 8],
    /// Control word: exception masks, precision control, rounding control.
    pub fcw: u16,
    /// Status word, with TOP in bits 11-13.
    pub fsw: u16,
    /// Full tag word: two bits per physical register (see [`tag`]).
    pub ftw: u16,
    /// Last non-control instruction: opcode (11 bits), CS:EIP, data DS:offset.
    pub fop: u16,
    pub fcs: u16,
    pub fds: u16,
    pub fip: u32,
    pub fdp: u32,
}

impl FpuState {
    /// The state after RESET (SDM vol. 3A table 9-1).
    pub fn reset() -> Self {
        Self { regs: [F80::default(); 8], fcw: 0x0040, fsw: 0, ftw: 0x5555, fop: 0, fcs: 0, fds: 0, fip: 0, fdp: 0 }
    }

    /// The state FNINIT/FINIT sets.
    pub fn finit(&mut self) {
        let regs = self.regs;
        *self = Self { regs, fcw: 0x037F, fsw: 0, ftw: 0xFFFF, ..Self::reset() };
    }
}

/// The SSE registers and MXCSR.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[repr(C)]
pub struct SseState {
    /// XMM0-XMM15 (8 outside 64-bit mode).
    pub xmm: [u128; 16],
    pub mxcsr: u32,
}

/// MXCSR after RESET: all exceptions masked, round to nearest.
pub const MXCSR_RESET: u32 = 0x1F80;

impl Default for SseState {
    fn default() -> Self {
        Self { xmm: [0; 16], mxcsr: MXCSR_RESET }
    }
}

impl Default for FpuState {
    fn default() -> Self {
        Self::reset()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn f80_bytes_round_trip_and_finit_values() {
        let v = F80 { signif: 0x8000_0000_0000_0001, sign_exp: 0xC000 };
        assert_eq!(F80::from_bytes(v.to_bytes()), v);
        let mut f = FpuState::reset();
        assert_eq!((f.fcw, f.ftw), (0x0040, 0x5555));
        f.finit();
        assert_eq!((f.fcw, f.fsw, f.ftw), (0x037F, 0, 0xFFFF));
    }
}
