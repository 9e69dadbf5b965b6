//! Lazy arithmetic flags, shared by the interpreter and (later) the JIT.
//!
//! Most instructions that write flags are followed by others that
//! overwrite them before anything reads them. So the common arithmetic
//! instructions record their operands and result in [`LazyFlags`] and the
//! six arithmetic flags are computed only when something asks. Everything
//! else (shifts, multiplies, BCD, POPF, ...) writes `eflags` directly
//! through [`CpuState::set_arith`], which also switches laziness off.

use crate::state::{fl, CpuState};
use serde::{Deserialize, Serialize};

/// Which computation produced the pending flags.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[repr(u8)]
pub enum FlagOp {
    /// `eflags` holds the arithmetic flags.
    #[default]
    None = 0,
    /// res = dst + src.
    Add,
    /// res = dst + src + carry-in.
    Adc,
    /// res = dst - src (also CMP and NEG with dst = 0).
    Sub,
    /// res = dst - src - borrow-in.
    Sbb,
    /// AND/OR/XOR/TEST: CF = OF = 0, AF = 0.
    Logic,
    /// res = dst + 1; CF comes from `eflags`.
    Inc,
    /// res = dst - 1; CF comes from `eflags`.
    Dec,
}

/// Operands and result of the last flag-setting arithmetic instruction.
/// All values are kept masked to `size` bytes.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[repr(C)]
pub struct LazyFlags {
    pub res: u64,
    pub dst: u64,
    pub src: u64,
    pub op: FlagOp,
    /// Operand size in bytes (1, 2, 4 or 8).
    pub size: u8,
}

/// Mask of an operand of `size` bytes.
#[inline(always)]
pub const fn mask(size: u8) -> u64 {
    if size >= 8 {
        u64::MAX
    } else {
        (1u64 << (size as u32 * 8)) - 1
    }
}

/// Sign bit of an operand of `size` bytes.
#[inline(always)]
pub const fn sign(size: u8) -> u64 {
    1u64 << (size as u32 * 8 - 1)
}

/// PF: set when the low byte has an even number of one bits.
#[inline(always)]
pub fn parity(v: u64) -> bool {
    (v as u8).count_ones().is_multiple_of(2)
}

impl LazyFlags {
    #[inline(always)]
    fn cf(&self) -> bool {
        let (d, s, r) = (self.dst, self.src, self.res);
        match self.op {
            FlagOp::Add => r < d,
            FlagOp::Adc => {
                let carry_in = r.wrapping_sub(d).wrapping_sub(s) & mask(self.size) != 0;
                if carry_in {
                    r <= d
                } else {
                    r < d
                }
            }
            FlagOp::Sub => d < s,
            FlagOp::Sbb => {
                let borrow_in = d.wrapping_sub(s).wrapping_sub(r) & mask(self.size) != 0;
                if borrow_in {
                    d <= s
                } else {
                    d < s
                }
            }
            FlagOp::Logic | FlagOp::None | FlagOp::Inc | FlagOp::Dec => false,
        }
    }

    #[inline(always)]
    fn of(&self) -> bool {
        let (d, s, r) = (self.dst, self.src, self.res);
        let x = match self.op {
            FlagOp::Add | FlagOp::Adc | FlagOp::Inc => (d ^ r) & (s ^ r),
            FlagOp::Sub | FlagOp::Sbb | FlagOp::Dec => (d ^ s) & (d ^ r),
            FlagOp::Logic | FlagOp::None => 0,
        };
        x & sign(self.size) != 0
    }

    #[inline(always)]
    fn af(&self) -> bool {
        match self.op {
            FlagOp::Logic | FlagOp::None => false,
            _ => (self.dst ^ self.src ^ self.res) & 0x10 != 0,
        }
    }

    /// The six arithmetic flags this record defines, as EFLAGS bits, and
    /// the mask of the bits it defines.
    #[inline]
    fn compute(&self) -> (u32, u32) {
        let r = self.res;
        let bits = ((self.cf() as u32) * fl::CF)
            | ((parity(r) as u32) * fl::PF)
            | ((self.af() as u32) * fl::AF)
            | (((r == 0) as u32) * fl::ZF)
            | (((r & sign(self.size) != 0) as u32) * fl::SF)
            | ((self.of() as u32) * fl::OF);
        let defined = match self.op {
            FlagOp::Inc | FlagOp::Dec => fl::ARITH & !fl::CF,
            _ => fl::ARITH,
        };
        (bits, defined)
    }
}

impl CpuState {
    /// EFLAGS with the arithmetic flags up to date (low 32 bits).
    #[inline]
    pub fn flags(&self) -> u32 {
        let f = self.eflags as u32;
        if self.lazy.op == FlagOp::None {
            return f;
        }
        let (bits, defined) = self.lazy.compute();
        (f & !defined) | bits
    }

    /// Folds pending lazy flags into `eflags`.
    #[inline]
    pub fn commit_flags(&mut self) {
        if self.lazy.op != FlagOp::None {
            self.eflags = (self.eflags & !0xFFFF_FFFF) | u64::from(self.flags());
            self.lazy.op = FlagOp::None;
        }
    }

    /// Replaces the whole of EFLAGS (no checks: callers apply the rules of
    /// POPF/IRET/task switches themselves). Bit 1 is forced on.
    #[inline]
    pub fn set_flags(&mut self, v: u32) {
        self.lazy.op = FlagOp::None;
        self.eflags = u64::from((v & fl::WRITABLE) | fl::FIXED);
    }

    /// Sets the arithmetic flags selected by `mask` to `bits`, leaving the
    /// others as they are.
    #[inline]
    pub fn set_arith(&mut self, mask: u32, bits: u32) {
        let f = self.flags();
        self.lazy.op = FlagOp::None;
        self.eflags = u64::from((f & !mask) | (bits & mask));
    }

    /// Records a lazy flag result.
    #[inline(always)]
    pub fn set_lazy(&mut self, op: FlagOp, size: u8, dst: u64, src: u64, res: u64) {
        self.lazy = LazyFlags { res, dst, src, op, size };
    }

    /// Records INC/DEC, whose CF is the old CF.
    #[inline(always)]
    pub fn set_lazy_incdec(&mut self, op: FlagOp, size: u8, dst: u64, res: u64) {
        if self.lazy.op != FlagOp::None {
            let cf = self.lazy.cf();
            self.eflags = (self.eflags & !u64::from(fl::CF)) | u64::from(cf);
        }
        self.lazy = LazyFlags { res, dst, src: 1, op, size };
    }

    /// Carry flag.
    #[inline(always)]
    pub fn cf(&self) -> bool {
        match self.lazy.op {
            FlagOp::None | FlagOp::Inc | FlagOp::Dec => self.eflags & u64::from(fl::CF) != 0,
            _ => self.lazy.cf(),
        }
    }

    /// Zero flag.
    #[inline(always)]
    pub fn zf(&self) -> bool {
        if self.lazy.op == FlagOp::None {
            self.eflags & u64::from(fl::ZF) != 0
        } else {
            self.lazy.res == 0
        }
    }

    /// Sign flag.
    #[inline(always)]
    pub fn sf(&self) -> bool {
        if self.lazy.op == FlagOp::None {
            self.eflags & u64::from(fl::SF) != 0
        } else {
            self.lazy.res & sign(self.lazy.size) != 0
        }
    }

    /// Overflow flag.
    #[inline(always)]
    pub fn of(&self) -> bool {
        if self.lazy.op == FlagOp::None {
            self.eflags & u64::from(fl::OF) != 0
        } else {
            self.lazy.of()
        }
    }

    /// Parity flag.
    #[inline(always)]
    pub fn pf(&self) -> bool {
        if self.lazy.op == FlagOp::None {
            self.eflags & u64::from(fl::PF) != 0
        } else {
            parity(self.lazy.res)
        }
    }

    /// Direction flag.
    #[inline(always)]
    pub fn df(&self) -> bool {
        self.eflags & u64::from(fl::DF) != 0
    }

    /// Evaluates condition code `cc` (the low nibble of Jcc/SETcc/CMOVcc
    /// opcodes: O, NO, B, AE, E, NE, BE, A, S, NS, P, NP, L, GE, LE, G).
    #[inline(always)]
    pub fn cond(&self, cc: u8) -> bool {
        let r = match cc >> 1 {
            0 => self.of(),
            1 => self.cf(),
            2 => self.zf(),
            3 => self.cf() || self.zf(),
            4 => self.sf(),
            5 => self.pf(),
            6 => self.sf() != self.of(),
            _ => self.zf() || (self.sf() != self.of()),
        };
        r != (cc & 1 != 0)
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn st() -> CpuState {
        CpuState::reset()
    }

    #[test]
    fn add_and_sub_flags() {
        let mut s = st();
        s.set_lazy(FlagOp::Add, 1, 0xFF, 0x01, 0x00);
        assert_eq!(s.flags() & fl::ARITH, fl::CF | fl::ZF | fl::AF | fl::PF);
        s.set_lazy(FlagOp::Sub, 1, 0x80, 0x01, 0x7F);
        assert_eq!(s.flags() & fl::ARITH, fl::OF | fl::AF);
        s.set_lazy(FlagOp::Sub, 4, 0, 1, 0xFFFF_FFFF);
        assert!(s.cf() && s.sf() && !s.zf());
    }

    #[test]
    fn adc_and_sbb_use_the_carry_in() {
        let mut s = st();
        // 0xFF + 0xFF + 1 = 0x1FF: CF set, result equals dst.
        s.set_lazy(FlagOp::Adc, 1, 0xFF, 0xFF, 0xFF);
        assert!(s.cf());
        // 0 - 0 - 1 = 0xFF: borrow.
        s.set_lazy(FlagOp::Sbb, 1, 0, 0, 0xFF);
        assert!(s.cf());
    }

    #[test]
    fn inc_keeps_carry() {
        let mut s = st();
        s.set_lazy(FlagOp::Sub, 1, 0, 1, 0xFF); // CF = 1
        s.set_lazy_incdec(FlagOp::Inc, 1, 0x7F, 0x80);
        let f = s.flags();
        assert_ne!(f & fl::CF, 0);
        assert_ne!(f & fl::OF, 0);
        assert!(s.cf());
    }

    #[test]
    fn conditions() {
        let mut s = st();
        s.set_lazy(FlagOp::Sub, 4, 1, 2, 0xFFFF_FFFF); // 1 cmp 2
        assert!(s.cond(0x2)); // B
        assert!(s.cond(0xC)); // L
        assert!(!s.cond(0x4)); // E
        assert!(s.cond(0x6)); // BE
        assert!(!s.cond(0xF)); // G
    }
}
