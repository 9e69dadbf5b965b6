//! SSE/SSE2 floating point, shared parts (SDM vol. 1 ch. 10-11, vol. 2
//! instruction pages): XMM and MMX operand access, 16-byte memory with the
//! alignment rule of packed operands, and the MXCSR discipline every
//! arithmetic form follows (11.5): DAZ on inputs, DE detected here (the
//! soft-float engine has no such flag), FTZ on tiny results, sticky flags,
//! and the all-or-nothing write when an unmasked exception is raised.
//!
//! The instruction families live in `ssefp_move` (moves, logic, shuffles),
//! `ssefp_arith` (arithmetic and comparisons) and `ssefp_cvt` (conversions).

use super::*;
use crate::fault::vector;
use crate::softfloat::{flag, set_rounding, set_tininess_after_rounding, take_flags, Rounding};
use crate::state::cr4;

pub(super) fn register(t: &mut Table) {
    super::ssefp_move::register(t);
    super::ssefp_arith::register(t);
    super::ssefp_cvt::register(t);
}

/// MXCSR fields (SDM vol. 1 figure 10-3).
pub(super) mod mxcsr {
    /// Exception flags IE DE ZE OE UE PE (bits 0-5), in the layout of
    /// [`crate::softfloat::flag`].
    pub const FLAGS: u32 = 0x3F;
    pub const DAZ: u32 = 1 << 6;
    pub const MASK_SHIFT: u32 = 7;
    pub const UM: u32 = 1 << 11;
    pub const RC_SHIFT: u32 = 13;
    pub const FTZ: u32 = 1 << 15;
}

pub(super) use super::{mmx::mm_index, sse2int::xmm_index};

/// The XMM register named by operand `n`.
#[inline(always)]
pub(super) fn xmm(cpu: &Cpu, i: &Instruction, n: u32) -> u128 {
    cpu.xmm(xmm_index(i.op_register(n)))
}

/// Writes the XMM register named by operand `n`.
#[inline(always)]
pub(super) fn set_xmm(cpu: &mut Cpu, i: &Instruction, n: u32, v: u128) {
    cpu.set_xmm(xmm_index(i.op_register(n)), v);
}

/// How a packed instruction accesses a 128-bit memory operand.
#[derive(Clone, Copy, PartialEq, Eq)]
pub(super) enum Align {
    /// Packed operands of ordinary SSE instructions: #GP(0) unless the
    /// linear address is 16-byte aligned (SDM vol. 1 11.6.7).
    Aligned,
    /// MOVUPS/MOVUPD.
    Unaligned,
}

/// Reads the 16-byte memory operand.
pub(super) fn read_m128(cpu: &mut Cpu, env: &mut Env, i: &Instruction, align: Align) -> Result<u128, Fault> {
    let (seg, off) = mem_operand(&cpu.state, i);
    cpu.read_m128(env, seg, off, align == Align::Aligned)
}

/// Writes the 16-byte memory operand; both halves are checked before
/// either is written, so a fault leaves memory as it was.
pub(super) fn write_m128(cpu: &mut Cpu, env: &mut Env, i: &Instruction, align: Align, v: u128) -> Result<(), Fault> {
    let (seg, off) = mem_operand(&cpu.state, i);
    cpu.write_m128(env, seg, off, v, align == Align::Aligned)
}

/// Reads source operand `n` (XMM register or memory) of a form whose
/// memory operand is `bytes` wide (4, 8 or 16): memory values come back
/// zero-extended, registers whole.
pub(super) fn read_xmm_src(cpu: &mut Cpu, env: &mut Env, i: &Instruction, n: u32, bytes: usize) -> Result<u128, Fault> {
    if i.op_kind(n) == OpKind::Register {
        return Ok(xmm(cpu, i, n));
    }
    let (seg, off) = mem_operand(&cpu.state, i);
    match bytes {
        4 => Ok(u128::from(cpu.read::<4>(env, seg, off)?)),
        8 => Ok(u128::from(cpu.read::<8>(env, seg, off)?)),
        _ => read_m128(cpu, env, i, Align::Aligned),
    }
}

/// The MMX register `n`.
pub(super) fn mm_read(cpu: &Cpu, n: usize) -> u64 {
    cpu.mm(n)
}

/// Writes MMX register `n`.
pub(super) fn mm_write(cpu: &mut Cpu, n: usize, v: u64) {
    cpu.set_mm(n, v);
}

/// The x87-to-MMX transition that SSE conversions with an MMX register
/// operand make (SDM vol. 1 9.5, 11.6.3; "CVTPI2PS" and friends): a
/// pending unmasked x87 exception is reported before anything else
/// ([`Cpu::check_x87_pending`], called first), and once the instruction
/// completes TOP is 0 and every tag valid.
pub(super) fn mmx_enter(cpu: &mut Cpu) {
    cpu.mmx_transition();
}

/// Element formats: binary32 (`D = false`) and binary64 (`D = true`),
/// as raw bits in a u64.
pub(super) mod fmt {
    pub const fn width(d: bool) -> u32 {
        if d {
            64
        } else {
            32
        }
    }
    pub const fn sign(d: bool) -> u64 {
        1 << (width(d) - 1)
    }
    pub const fn exp(d: bool) -> u64 {
        if d {
            0x7FF0_0000_0000_0000
        } else {
            0x7F80_0000
        }
    }
    pub const fn mant(d: bool) -> u64 {
        if d {
            0x000F_FFFF_FFFF_FFFF
        } else {
            0x007F_FFFF
        }
    }
    pub const fn quiet(d: bool) -> u64 {
        if d {
            1 << 51
        } else {
            1 << 22
        }
    }
    pub fn is_nan(d: bool, x: u64) -> bool {
        x & exp(d) == exp(d) && x & mant(d) != 0
    }
    pub fn is_snan(d: bool, x: u64) -> bool {
        is_nan(d, x) && x & quiet(d) == 0
    }
    /// The significand with its implicit bit (none for zeros and
    /// denormals); meaningful for finite values.
    pub fn significand(d: bool, x: u64) -> u64 {
        if x & exp(d) == 0 {
            x & mant(d)
        } else {
            (x & mant(d)) | (mant(d) + 1)
        }
    }

    /// Significand bits, implicit bit included: 24 or 53.
    pub const fn precision(d: bool) -> u32 {
        if d {
            53
        } else {
            24
        }
    }

    /// Whether `m`, an exact significand product or a wider significand,
    /// needs more than `precision` bits: rounding it is inexact whatever
    /// the exponent range.
    pub fn needs_rounding(m: u128, precision: u32) -> bool {
        let bits = 128 - m.leading_zeros();
        m != 0 && bits > precision && m.trailing_zeros() < bits - precision
    }

    pub fn is_denormal(d: bool, x: u64) -> bool {
        x & exp(d) == 0 && x & mant(d) != 0
    }
    /// Element `k` of a packed register.
    pub fn lane(d: bool, v: u128, k: usize) -> u64 {
        let w = width(d);
        ((v >> (k as u32 * w)) as u64) & (sign(d) | (sign(d) - 1))
    }
    /// `v` with element `k` replaced by `x`.
    pub fn set_lane(d: bool, v: u128, k: usize, x: u64) -> u128 {
        let w = width(d);
        let m = u128::from(sign(d) | (sign(d) - 1)) << (k as u32 * w);
        (v & !m) | (u128::from(x) << (k as u32 * w) & m)
    }
    /// Number of elements in a packed register.
    pub const fn lanes(d: bool) -> usize {
        if d {
            2
        } else {
            4
        }
    }
}

/// One instruction's dealings with MXCSR: set up the soft-float engine
/// from RC, collect the exceptions of every element, and decide at the end
/// whether the result may be written (SDM vol. 1 11.5.2).
pub(super) struct Mx {
    pub csr: u32,
    /// Pre-computation exceptions (IE, DE, ZE) of all elements.
    pub pre: u32,
    /// Post-computation exceptions (OE, UE, PE).
    pub post: u32,
}

impl Mx {
    pub fn begin(cpu: &Cpu) -> Self {
        let csr = cpu.state.sse.mxcsr;
        set_rounding(Rounding::from_rc(csr >> mxcsr::RC_SHIFT));
        set_tininess_after_rounding();
        take_flags();
        Self { csr, pre: 0, post: 0 }
    }

    /// The rounding mode MXCSR.RC selects.
    pub fn rounding(&self) -> Rounding {
        Rounding::from_rc(self.csr >> mxcsr::RC_SHIFT)
    }

    /// An input operand as the instruction sees it: with DAZ a denormal
    /// reads as a zero of the same sign.
    pub fn input(&self, d: bool, x: u64) -> u64 {
        if self.csr & mxcsr::DAZ != 0 && fmt::is_denormal(d, x) {
            x & fmt::sign(d)
        } else {
            x
        }
    }

    /// Whether DE is due for these (DAZ-processed) inputs: a denormal
    /// operand and no NaN among them (a NaN operand outranks DE,
    /// table 11-4 of SDM vol. 1).
    pub fn denormal(d: bool, xs: &[u64]) -> bool {
        xs.iter().any(|&x| fmt::is_denormal(d, x)) && !xs.iter().any(|&x| fmt::is_nan(d, x))
    }

    /// Records the exceptions of one element: the soft-float flags raised
    /// since the last call plus DE when `de`. An invalid operation or a
    /// division by zero outranks DE (table 11-4: a denormal divided by
    /// zero reports ZE alone).
    pub fn note(&mut self, de: bool) {
        let f = take_flags();
        let mut pre = f & (flag::INVALID | flag::ZERO_DIVIDE);
        if de && pre == 0 {
            pre |= flag::DENORMAL;
        }
        self.pre |= pre;
        self.post |= f & (flag::OVERFLOW | flag::UNDERFLOW | flag::PRECISION);
    }

    /// A floating-point result on its way out: a tiny (denormal) result
    /// raises UE when UE is unmasked even if exact (11.5.2.3), and with
    /// FTZ and UE masked becomes a zero of its sign with UE and PE.
    pub fn output(&mut self, d: bool, r: u64) -> u64 {
        if !fmt::is_denormal(d, r) {
            return r;
        }
        if self.csr & mxcsr::UM == 0 {
            self.post |= flag::UNDERFLOW;
            r
        } else if self.csr & mxcsr::FTZ != 0 {
            self.post |= flag::UNDERFLOW | flag::PRECISION;
            r & fmt::sign(d)
        } else {
            r
        }
    }

    /// One arithmetic element: DAZ on the inputs, the operation, the
    /// exceptions, and FTZ on the result.
    pub fn arith(&mut self, d: bool, xs: [u64; 2], op: impl FnOnce(u64, u64) -> u64) -> u64 {
        self.arith_unbounded([d, d], xs, op, |_, _| None)
    }

    /// [`Mx::arith`] for operations that know whether their exact result
    /// is inexact at `d`'s precision with an unbounded exponent range
    /// (`inexact(a, b)`, given the DAZ-processed inputs; `None` when it
    /// cannot tell). When this element raises an unmasked UE or OE no
    /// result is stored, and the host CPU reports PE by that unbounded
    /// rounding rather than by the denormalised or overflowed result
    /// (IEEE 754's "wrapped" exponent view of trapped underflow/overflow).
    /// `d` gives the inputs' format and the result's.
    pub fn arith_unbounded(
        &mut self,
        [d, d_out]: [bool; 2],
        xs: [u64; 2],
        op: impl FnOnce(u64, u64) -> u64,
        inexact: impl FnOnce(u64, u64) -> Option<bool>,
    ) -> u64 {
        let (a, b) = (self.input(d, xs[0]), self.input(d, xs[1]));
        let de = Self::denormal(d, &[a, b]);
        take_flags();
        let r = op(a, b);
        let before = std::mem::take(&mut self.post);
        self.note(de);
        let r = self.output(d_out, r);
        let unmasked = !(self.csr >> mxcsr::MASK_SHIFT) & (flag::UNDERFLOW | flag::OVERFLOW);
        if self.post & unmasked != 0 {
            if let Some(pe) = inexact(a, b) {
                self.post = (self.post & !flag::PRECISION) | if pe { flag::PRECISION } else { 0 };
            }
        }
        self.post |= before;
        r
    }

    /// Ends the instruction: sets the flags in MXCSR and says whether the
    /// destination may be written. An unmasked pre-computation exception
    /// stops before the computation, so only pre-computation flags are
    /// set; otherwise all are, and an unmasked post-computation one still
    /// keeps the destination as it was.
    pub fn finish(self, cpu: &mut Cpu) -> Result<(), Fault> {
        let unmasked = !(self.csr >> mxcsr::MASK_SHIFT) & mxcsr::FLAGS;
        let csr = &mut cpu.state.sse.mxcsr;
        if self.pre & unmasked != 0 {
            *csr |= self.pre;
            return Err(simd_fault(cpu));
        }
        *csr |= self.pre | self.post;
        if self.post & unmasked != 0 {
            return Err(simd_fault(cpu));
        }
        Ok(())
    }
}

/// The exception for an unmasked SIMD floating-point exception: #XM when
/// the OS said it handles them (CR4.OSXMMEXCPT), #UD otherwise (SDM vol. 3A
/// 6.15, interrupt 19).
fn simd_fault(cpu: &Cpu) -> Fault {
    if cpu.state.cr4 & cr4::OSXMMEXCPT != 0 {
        Fault::new(vector::XM)
    } else {
        Fault::UD
    }
}

/// A machine and a one-instruction runner for the SSE tests.
#[cfg(test)]
pub(super) mod testutil {
    use crate::state::{cr4, fl};
    use crate::testing::{TestMachine, CODE_BASE, STACK_TOP};

    /// Where the exception handlers of [`machine`] start: vector v's is at
    /// `HANDLERS + 16 * v`.
    const HANDLERS: u64 = 0x5000;
    const IDT: u64 = 0x4000;

    /// Flat 32-bit protected mode with OSFXSR and OSXMMEXCPT, and gates for
    /// the exceptions SSE instructions raise.
    pub fn machine() -> TestMachine {
        let mut m = TestMachine::flat32();
        m.cpu.state.cr4 |= cr4::OSFXSR | cr4::OSXMMEXCPT;
        for v in [6u8, 7, 13, 16, 19] {
            m.set_int_gate(IDT, v, (HANDLERS + 16 * u64::from(v)) as u32, 0);
        }
        m
    }

    /// Runs `code` (one instruction) at CODE_BASE; returns the vector of
    /// the exception it raised, if any.
    pub fn exec(m: &mut TestMachine, code: &[u8]) -> Option<u8> {
        m.cpu.state.rip = CODE_BASE;
        m.cpu.state.gpr[4] = STACK_TOP;
        m.load_code(code);
        m.run(1);
        let rip = m.cpu.state.rip;
        if (HANDLERS..HANDLERS + 16 * 32).contains(&rip) {
            return Some(((rip - HANDLERS) / 16) as u8);
        }
        assert_eq!(rip, CODE_BASE + code.len() as u64, "ran exactly the instruction");
        None
    }

    /// The arithmetic flags.
    pub fn arith_flags(m: &TestMachine) -> u32 {
        m.cpu.state.flags() & (fl::CF | fl::PF | fl::AF | fl::ZF | fl::SF | fl::OF)
    }

    /// Four binary32 elements, element 0 first.
    pub fn ps(e: [u32; 4]) -> u128 {
        e.iter().rev().fold(0, |v, &x| v << 32 | u128::from(x))
    }

    /// Two binary64 elements, element 0 first.
    pub fn pd(e: [u64; 2]) -> u128 {
        u128::from(e[1]) << 64 | u128::from(e[0])
    }
}

#[cfg(all(test, target_arch = "x86_64"))]
#[path = "ssefp_host.rs"]
mod host;

#[cfg(test)]
mod tests {
    use super::testutil::*;
    use crate::testing::Rng;

    /// Random SSE floating-point encodings on random registers, MXCSR
    /// (unmasked exceptions included) and addresses: the guest may raise
    /// any exception, never panic ironpc.
    #[test]
    fn random_sse_fp_encodings_never_panic() {
        const OPCODES: [u8; 24] = [
            0x10, 0x11, 0x12, 0x13, 0x14, 0x15, 0x16, 0x17, 0x28, 0x29, 0x2A, 0x2B, 0x2C, 0x2D, 0x2E, 0x2F, 0x50, 0x51, 0x53,
            0x5A, 0x5B, 0x5E, 0xC2, 0xE6,
        ];
        let mut rng = Rng::new(0xF00D_5EED);
        let mut m = machine();
        for _ in 0..20_000 {
            let mut code = Vec::with_capacity(12);
            match rng.below(4) {
                0 => code.push(0x66),
                1 => code.push(0xF2),
                2 => code.push(0xF3),
                _ => {}
            }
            code.extend_from_slice(&[0x0F, OPCODES[rng.below(OPCODES.len() as u64) as usize]]);
            let mut tail = [0u8; 9];
            rng.fill(&mut tail);
            code.extend_from_slice(&tail);
            for x in &mut m.cpu.state.sse.xmm[..8] {
                *x = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
            }
            for r in &mut m.cpu.state.gpr[..8] {
                *r = rng.next_u64() & 0xFFFF_FFFF;
            }
            m.cpu.state.sse.mxcsr = rng.next_u64() as u32 & 0xFFFF;
            m.cpu.state.rip = crate::testing::CODE_BASE;
            m.cpu.state.gpr[4] = crate::testing::STACK_TOP;
            m.load_code(&code);
            m.run(1);
        }
    }
}
