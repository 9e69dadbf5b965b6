//! The x87 FPU core (SDM vol. 1 ch. 8): the register stack addressed
//! through TOP, the tag word, stack faults, the exception flags with their
//! masked responses and the summary bits, the last-instruction pointers,
//! and the operand screening every arithmetic instruction shares
//! (unsupported encodings, NaNs, denormal operands; SDM 8.5 and 4.8.3).
//! The instruction families live in `x87_*.rs`.

use super::*;
use crate::{
    fpstate::{tag, F80},
    softfloat::{self, ext80, Rounding},
    state::sreg,
};
use iced_x86::Register;

/// FSW bits.
pub(super) mod sw {
    pub const IE: u16 = 1 << 0;
    pub const DE: u16 = 1 << 1;
    pub const ZE: u16 = 1 << 2;
    pub const OE: u16 = 1 << 3;
    pub const UE: u16 = 1 << 4;
    pub const PE: u16 = 1 << 5;
    pub const SF: u16 = 1 << 6;
    pub const ES: u16 = 1 << 7;
    pub const C0: u16 = 1 << 8;
    pub const C1: u16 = 1 << 9;
    pub const C2: u16 = 1 << 10;
    pub const TOP_SHIFT: u16 = 11;
    pub const TOP: u16 = 7 << 11;
    pub const C3: u16 = 1 << 14;
    pub const B: u16 = 1 << 15;
    /// The six exception flags (the same bits are the masks in FCW).
    pub const EXC: u16 = 0x3F;
    pub const CC: u16 = C0 | C1 | C2 | C3;
}

/// The QNaN floating-point indefinite: the masked response to an invalid
/// operation.
pub(super) const INDEFINITE: F80 = F80 { signif: 0xC000_0000_0000_0000, sign_exp: 0xFFFF };

const INT_BIT: u64 = 1 << 63;
const QUIET_BIT: u64 = 1 << 62;
/// Exponent bias and the wrap applied to unmasked overflow / underflow
/// results (SDM 8.5.4.2, 8.5.5.2).
pub(super) const BIAS: i32 = 0x3FFF;
const WRAP: i32 = 24576;

pub(super) fn exp(a: F80) -> u16 {
    a.sign_exp & 0x7FFF
}
pub(super) fn neg(a: F80) -> bool {
    a.sign_exp & 0x8000 != 0
}
pub(super) fn is_zero(a: F80) -> bool {
    exp(a) == 0 && a.signif == 0
}
/// Denormals and pseudo-denormals (exponent 0, J set).
pub(super) fn is_denormal(a: F80) -> bool {
    exp(a) == 0 && a.signif != 0
}
/// Unnormals, pseudo-NaNs and pseudo-infinities: a non-zero exponent with
/// the integer bit clear. The 387 and later reject them as operands.
pub(super) fn is_unsupported(a: F80) -> bool {
    exp(a) != 0 && a.signif & INT_BIT == 0
}
pub(super) fn is_inf(a: F80) -> bool {
    exp(a) == 0x7FFF && a.signif == INT_BIT
}
pub(super) fn is_nan(a: F80) -> bool {
    exp(a) == 0x7FFF && a.signif & INT_BIT != 0 && a.signif << 1 != 0
}
pub(super) fn is_snan(a: F80) -> bool {
    is_nan(a) && a.signif & QUIET_BIT == 0
}
pub(super) fn quiet(a: F80) -> F80 {
    F80 { signif: a.signif | QUIET_BIT, ..a }
}

/// A pseudo-denormal (exponent 0, J set) re-encoded with its true
/// exponent, 1. SoftFloat mis-adds them (a carry out of the significand
/// is lost), and the x87 treats them as that value.
pub(super) fn canon(a: F80) -> F80 {
    if exp(a) == 0 && a.signif & INT_BIT != 0 {
        F80 { sign_exp: a.sign_exp | 1, ..a }
    } else {
        a
    }
}

/// The tag a value gets when it is written to a register.
pub(super) fn tag_of(a: F80) -> u16 {
    let e = exp(a);
    if e == 0 {
        if a.signif == 0 {
            tag::ZERO
        } else {
            tag::SPECIAL
        }
    } else if e == 0x7FFF || a.signif & INT_BIT == 0 {
        tag::SPECIAL
    } else {
        tag::VALID
    }
}

/// Index of an ST(i) register operand.
pub(super) fn st_index(r: Register) -> usize {
    (r as usize).wrapping_sub(Register::ST0 as usize) & 7
}

/// The four basic operations.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(super) enum Op {
    Add,
    Sub,
    Mul,
    Div,
}

fn apply(op: Op, a: F80, b: F80) -> F80 {
    match op {
        Op::Add => ext80::add(a, b),
        Op::Sub => ext80::sub(a, b),
        Op::Mul => ext80::mul(a, b),
        Op::Div => ext80::div(a, b),
    }
}

/// Runs `f` under the current modes and returns its result, the FSW
/// exception bits it raised and whether it rounded up (C1): an inexact
/// result that differs from the truncated one was rounded away from zero.
pub(super) fn rounded(rc: Rounding, f: impl Fn() -> F80) -> (F80, u16, bool) {
    softfloat::set_rounding(rc);
    softfloat::take_flags();
    let r = f();
    let flags = softfloat::take_flags() as u16;
    let mut up = false;
    if flags & sw::PE != 0 {
        softfloat::set_rounding(Rounding::TowardZero);
        let z = f();
        softfloat::take_flags();
        softfloat::set_rounding(rc);
        up = r != z;
    }
    (r, flags, up)
}

/// A finite non-zero value as (sign bit, unbounded exponent, normalised
/// significand).
fn unpack(a: F80) -> (u16, i32, u64) {
    let s = a.sign_exp & 0x8000;
    if a.signif == 0 {
        (s, 0, 0)
    } else if exp(a) == 0 {
        let sh = a.signif.leading_zeros();
        (s, 1 - sh as i32, a.signif << sh)
    } else {
        (s, i32::from(exp(a)), a.signif)
    }
}

fn pack(s: u16, e: i32, m: u64) -> F80 {
    F80 { signif: m, sign_exp: s | (e as u16 & 0x7FFF) }
}

/// The result an unmasked overflow or underflow delivers: rounded to the
/// destination precision as if the exponent range were unbounded, then
/// with the exponent wrapped by 24576 into range (SDM 8.5.4.2, 8.5.5.2).
/// The operation is redone on copies scaled near 1.0, where it cannot
/// overflow or underflow and rounds the significand the same way.
fn wrapped(op: Op, a: F80, b: F80, rc: Rounding) -> (F80, u16, bool) {
    let (sa, ea, ma) = unpack(a);
    let (sb, eb, mb) = unpack(b);
    let (na, nb, scale) = match op {
        Op::Mul => (pack(sa, BIAS, ma), pack(sb, BIAS, mb), ea + eb - 2 * BIAS),
        Op::Div => (pack(sa, BIAS, ma), pack(sb, BIAS, mb), ea - eb),
        Op::Add | Op::Sub => {
            let e = ea.max(eb);
            // An operand far below the other only contributes a sticky
            // bit; any value far below half an ulp gives the same rounding.
            let adj = |z: bool, s, x: i32, m| {
                let ne = x - e + BIAS;
                if z {
                    F80 { signif: 0, sign_exp: s }
                } else if ne < 1 {
                    pack(s, 1, INT_BIT)
                } else {
                    pack(s, ne, m)
                }
            };
            (adj(is_zero(a), sa, ea, ma), adj(is_zero(b), sb, eb, mb), e - BIAS)
        }
    };
    let (r, flags, up) = rounded(rc, || apply(op, na, nb));
    if is_zero(r) {
        return (r, flags, up);
    }
    let mut e = i32::from(exp(r)) + scale;
    if e > 0x7FFE {
        e -= WRAP;
    } else if e < 1 {
        e += WRAP;
    }
    // Still out of range after the wrap: the 387 gives no useful value
    // then; keep the nearest representable exponent.
    let e = e.clamp(1, 0x7FFE);
    (pack(r.sign_exp & 0x8000, e, r.signif), flags, up)
}

/// The outcome of an arithmetic operation: the value, FSW exception bits
/// and C1.
pub(super) struct Outcome {
    pub val: F80,
    pub flags: u16,
    pub c1: bool,
}

impl Cpu {
    pub(super) fn fpu_top(&self) -> usize {
        usize::from((self.state.fpu.fsw & sw::TOP) >> sw::TOP_SHIFT)
    }

    pub(super) fn set_fpu_top(&mut self, top: usize) {
        let f = &mut self.state.fpu;
        f.fsw = (f.fsw & !sw::TOP) | (((top & 7) as u16) << sw::TOP_SHIFT);
    }

    /// Physical register number of ST(i).
    pub(super) fn st_phys(&self, i: usize) -> usize {
        (self.fpu_top() + i) & 7
    }

    pub(super) fn phys_tag(&self, p: usize) -> u16 {
        (self.state.fpu.ftw >> ((p & 7) * 2)) & 3
    }

    pub(super) fn set_phys_tag(&mut self, p: usize, t: u16) {
        let sh = (p & 7) * 2;
        let f = &mut self.state.fpu;
        f.ftw = (f.ftw & !(3 << sh)) | ((t & 3) << sh);
    }

    pub(super) fn st_empty(&self, i: usize) -> bool {
        self.phys_tag(self.st_phys(i)) == tag::EMPTY
    }

    pub(super) fn st(&self, i: usize) -> F80 {
        self.state.fpu.regs[self.st_phys(i)]
    }

    /// Writes ST(i) and tags it from its value.
    pub(super) fn set_st(&mut self, i: usize, v: F80) {
        let p = self.st_phys(i);
        self.state.fpu.regs[p] = v;
        self.set_phys_tag(p, tag_of(v));
    }

    pub(super) fn fpu_push(&mut self, v: F80) {
        let top = self.fpu_top().wrapping_sub(1);
        self.set_fpu_top(top);
        self.set_st(0, v);
    }

    pub(super) fn fpu_pop(&mut self) {
        let p = self.st_phys(0);
        self.set_phys_tag(p, tag::EMPTY);
        self.set_fpu_top(p + 1);
    }

    pub(super) fn set_cc(&mut self, mask: u16, bits: u16) {
        let f = &mut self.state.fpu;
        f.fsw = (f.fsw & !mask) | (bits & mask);
    }

    pub(super) fn set_c1(&mut self, c1: bool) {
        self.set_cc(sw::C1, if c1 { sw::C1 } else { 0 });
    }

    /// Records exception flags (with SF) in FSW, and ES and B when any of
    /// them is unmasked. Returns whether the instruction delivers its
    /// result: not after an unmasked invalid-operation, denormal-operand
    /// or divide-by-zero exception (SDM 8.5.1-8.5.3).
    pub(super) fn fpu_raise(&mut self, flags: u16) -> bool {
        let f = &mut self.state.fpu;
        f.fsw |= flags & (sw::EXC | sw::SF);
        let unmasked = flags & !f.fcw & sw::EXC;
        if unmasked != 0 {
            f.fsw |= sw::ES | sw::B;
        }
        unmasked & (sw::IE | sw::DE | sw::ZE) == 0
    }

    /// Whether the exceptions in `flags` are all masked.
    pub(super) fn fpu_masked(&self, flags: u16) -> bool {
        flags & !self.state.fpu.fcw & sw::EXC == 0
    }

    /// Stack overflow or underflow: IE with SF, C1 telling which. Returns
    /// whether IE is masked (the instruction then goes on with the QNaN
    /// indefinite).
    pub(super) fn stack_fault(&mut self, overflow: bool) -> bool {
        self.set_c1(overflow);
        self.fpu_raise(sw::IE | sw::SF)
    }

    /// The start of every waiting x87 instruction: #NM, then a pending
    /// unmasked exception (#MF), then the modes for SoftFloat.
    pub(super) fn x87_enter(&mut self) -> Result<Rounding, Fault> {
        self.check_x87()?;
        self.check_x87_pending()?;
        Ok(self.x87_modes())
    }

    /// Sets SoftFloat's rounding and precision from FCW.RC and FCW.PC.
    pub(super) fn x87_modes(&self) -> Rounding {
        let fcw = self.state.fpu.fcw;
        let rc = Rounding::from_rc(u32::from(fcw >> 10));
        softfloat::set_rounding(rc);
        // PC 01 is reserved; it behaves as 64 bits here.
        softfloat::set_x87_precision(match (fcw >> 8) & 3 {
            0 => 24,
            2 => 53,
            _ => 64,
        });
        softfloat::set_tininess_after_rounding();
        softfloat::take_flags();
        rc
    }

    /// Records the last non-control instruction (FCS:FIP, FOP) and, for
    /// a memory operand, its FDS:FDP (SDM 8.1.8-8.1.9).
    pub(super) fn x87_note(&mut self, env: &mut Env, i: &Instruction) {
        let fop = self.fop_of(env, i);
        let s = &mut self.state;
        s.fpu.fcs = s.seg[sreg::CS].selector;
        s.fpu.fip = i.ip() as u32;
        s.fpu.fop = fop;
        if i.op_count() > 0 && i.op0_kind() == OpKind::Memory {
            let (seg, off) = mem_operand(s, i);
            s.fpu.fds = s.seg[seg & 7].selector;
            s.fpu.fdp = off as u32;
        }
    }

    /// FOP: the low three bits of the escape byte and the ModR/M byte,
    /// read back from the instruction's bytes (iced does not keep them).
    /// The bytes were just fetched, so the read succeeds; were it to fail,
    /// FOP would keep its old value rather than fault.
    fn fop_of(&mut self, env: &mut Env, i: &Instruction) -> u16 {
        let start = self.state.seg[sreg::CS].base.wrapping_add(i.ip());
        let user = self.user();
        let mut byte = |cpu: &mut Cpu, k: usize| {
            let lin = start.wrapping_add(k as u64) & 0xFFFF_FFFF;
            cpu.read_lin::<1>(env, lin, user).ok()
        };
        for k in 0..i.len().saturating_sub(1) {
            match byte(self, k) {
                Some(b) if (0xD8..=0xDF).contains(&b) => {
                    if let Some(m) = byte(self, k + 1) {
                        return (((b & 7) << 8) | m) as u16;
                    }
                    break;
                }
                Some(_) => {}
                None => break,
            }
        }
        self.state.fpu.fop
    }

    /// `a op b` under x87 rules: unsupported operands are invalid, NaNs
    /// propagate (IE for an SNaN), denormal operands raise DE (and stop
    /// here when it is unmasked), then SoftFloat computes, and an unmasked
    /// overflow or underflow delivers the wrapped result. `mem_denormal`
    /// says the memory operand was a denormal before its conversion.
    pub(super) fn x87_binop(&self, op: Op, a: F80, b: F80, mem_denormal: bool, rc: Rounding) -> Outcome {
        if is_unsupported(a) || is_unsupported(b) {
            return Outcome { val: INDEFINITE, flags: sw::IE, c1: false };
        }
        let (ca, cb) = (canon(a), canon(b));
        let (mut val, f, mut c1) = rounded(rc, || apply(op, ca, cb));
        // NaN operands, invalid operations and division by zero outrank
        // the denormal operand, which outranks overflow, underflow and
        // precision (SDM 8.7): a pure computation first tells which
        // applies.
        let den = mem_denormal || is_denormal(a) || is_denormal(b);
        let mut flags = if den && !is_nan(a) && !is_nan(b) && f & (sw::IE | sw::ZE) == 0 { sw::DE } else { 0 };
        if !self.fpu_masked(flags) {
            return Outcome { val: INDEFINITE, flags, c1: false };
        }
        flags |= f;
        let tiny = f & sw::UE != 0 || (is_denormal(val) && !is_nan(a) && !is_nan(b));
        let wrap = (f & sw::OE != 0 && !self.fpu_masked(sw::OE)) || (tiny && !self.fpu_masked(sw::UE));
        if wrap {
            let (w, wf, wc1) = wrapped(op, ca, cb, rc);
            val = w;
            c1 = wc1;
            flags = (flags & !(sw::PE | sw::UE)) | (wf & sw::PE) | if tiny { sw::UE } else { 0 };
        }
        Outcome { val, flags, c1 }
    }

    /// Commits an outcome to ST(i): flags, C1, and the value unless an
    /// unmasked exception withholds it. Returns whether it was written.
    pub(super) fn x87_commit(&mut self, i: usize, o: &Outcome) -> bool {
        let write = self.fpu_raise(o.flags);
        self.set_c1(write && o.c1);
        if write {
            self.set_st(i, o.val);
        }
        write
    }
}

#[cfg(test)]
pub(super) mod tests {
    use crate::{fault::Fault, state::cr0, testing::TestMachine};

    /// A flat 32-bit machine with the FPU initialised (as after FNINIT)
    /// and the test data page at 0x2000.
    pub fn fpu_machine() -> TestMachine {
        let mut m = TestMachine::flat32();
        m.cpu.state.fpu.finit();
        m
    }

    /// Runs `code` followed by HLT, which ends the run, and leaves EIP at
    /// the HLT.
    pub fn run(m: &mut TestMachine, code: &[u8]) {
        m.load_code(&[code, &[0xF4]].concat());
        m.run(code.len() as u64 + 1);
        m.cpu.halted = false;
        m.cpu.state.rip -= 1;
    }

    #[test]
    fn nm_with_em_or_ts_and_mf_for_a_pending_exception() {
        for (bits, nm) in [(cr0::EM, true), (cr0::TS, true), (0, false)] {
            let mut m = fpu_machine();
            m.cpu.state.cr0 |= bits;
            m.set_int_gate(0x4000, Fault::NM.vector, 0x5000, 0);
            m.load_code(&[0xD9, 0xE8]); // fld1
            m.run(1);
            assert_eq!(m.cpu.state.rip == 0x5000, nm, "CR0 bits {bits:#x}");
        }
        let mut m = fpu_machine();
        m.cpu.state.cr0 |= cr0::NE;
        m.cpu.state.fpu.fsw |= super::sw::ES | super::sw::IE;
        m.set_int_gate(0x4000, Fault::MF.vector, 0x5000, 0);
        // fnstsw ax (no wait: runs), then fld1 (waits: #MF)
        m.load_code(&[0xDF, 0xE0, 0xD9, 0xE8]);
        m.run(2);
        assert_eq!(m.cpu.state.gpr[0] & 0xFFFF, 0x0081);
        assert_eq!(m.cpu.state.rip, 0x5000);
        assert_eq!(u64::from(m.read_u32(crate::testing::STACK_TOP - 12)), crate::testing::CODE_BASE + 2);
    }
}
