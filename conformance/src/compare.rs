//! Comparing the host's outcome with ironpc's: the exception (vector and
//! error code), every general register, EIP, EFLAGS and the data page.
//! Flags the SDM leaves undefined for the instruction (the "Flags
//! Affected" sections of SDM vol. 2 and vol. 1 appendix A, as iced-x86's
//! `rflags_undefined` records them, refined for shift counts) are
//! compared too, but a difference only there is reported separately, as
//! are the few results the SDM leaves undefined.
//!
//! Floating-point and SIMD state (cases that carry it): FCW, FSW, the
//! abridged tag word, ST0-ST7, MXCSR and XMM0-XMM7, as FXSAVE reports
//! them. The condition codes the SDM's "FPU Flags Affected" sections call
//! undefined for the instruction, and the contents of empty x87
//! registers (which only FXSAVE/FSAVE can see, and the SDM does not
//! define), count as undefined. The transcendentals can be compared in
//! ulps instead of bits (see [`compare_with`]).

use crate::{
    forms,
    fp::{self, FpState, C0, C1, C2, C3},
    gen::Case,
    native::Outcome,
    DATA_ADDR,
};
use iced_x86::{Instruction, Mnemonic, OpKind, RflagsBits};
use std::fmt::Write;

/// EFLAGS bits compared: everything software can see and change except
/// RF, which the host kernel's fault path may leave set in the saved
/// image.
pub const COMPARED_FLAGS: u32 = 0x003C_7FD7;

const OF: u32 = 1 << 11;
const CF: u32 = 1;
/// (iced's flag bit, EFLAGS bit).
const ICED_FLAGS: [(u32, u32); 9] = [
    (RflagsBits::OF, OF),
    (RflagsBits::SF, 1 << 7),
    (RflagsBits::ZF, 1 << 6),
    (RflagsBits::AF, 1 << 4),
    (RflagsBits::CF, 1),
    (RflagsBits::PF, 1 << 2),
    (RflagsBits::DF, 1 << 10),
    (RflagsBits::IF, 1 << 9),
    (RflagsBits::AC, 1 << 18),
];
const FLAG_NAMES: [(u32, &str); 15] = [
    (1, "CF"),
    (1 << 2, "PF"),
    (1 << 4, "AF"),
    (1 << 6, "ZF"),
    (1 << 7, "SF"),
    (1 << 8, "TF"),
    (1 << 9, "IF"),
    (1 << 10, "DF"),
    (OF, "OF"),
    (3 << 12, "IOPL"),
    (1 << 14, "NT"),
    (1 << 18, "AC"),
    (1 << 19, "VIF"),
    (1 << 20, "VIP"),
    (1 << 21, "ID"),
];
const REG_NAMES: [&str; 8] = ["eax", "ecx", "edx", "ebx", "esp", "ebp", "esi", "edi"];

/// The result of comparing one case.
#[derive(Clone, Debug, PartialEq, Eq)]
pub enum Verdict {
    Match,
    /// Differences only in undefined flags or results.
    Undefined(String),
    /// A defined result differs.
    Mismatch(String),
}

fn flag_names(bits: u32) -> String {
    FLAG_NAMES.iter().filter(|(b, _)| bits & b != 0).map(|(_, n)| *n).collect::<Vec<_>>().join(" ")
}

fn fault_name(f: Option<(u8, u32)>) -> String {
    const NAMES: [&str; 20] =
        ["DE", "DB", "NMI", "BP", "OF", "BR", "UD", "NM", "DF", "MF", "TS", "NP", "SS", "GP", "PF", "15", "MF", "AC", "MC", "XM"];
    match f {
        None => "none".into(),
        Some((0xFF, _)) => "shutdown".into(),
        Some((v, e)) => {
            let n = NAMES.get(usize::from(v)).map_or_else(|| v.to_string(), |s| (*s).to_string());
            if matches!(v, 8 | 10..=13 | 17) {
                format!("#{n}({e:#x})")
            } else {
                format!("#{n}")
            }
        }
    }
}

/// The shift or rotate count of `i`, masked as the CPU masks it.
fn shift_count(i: &Instruction, c: &Case) -> Option<u32> {
    use Mnemonic::*;
    if !matches!(i.mnemonic(), Rol | Ror | Rcl | Rcr | Shl | Sal | Shr | Sar | Shld | Shrd) {
        return None;
    }
    let n = i.op_count() - 1;
    let count = match i.op_kind(n) {
        OpKind::Register => c.regs[1] & 0xFF,
        OpKind::Immediate8 => u32::from(i.immediate8()),
        _ => return None,
    };
    Some(count & 0x1F)
}

/// Size in bits of the destination.
fn op0_bits(i: &Instruction) -> u32 {
    let bytes = match i.op0_kind() {
        OpKind::Register => i.op0_register().size(),
        _ => i.memory_size().size(),
    };
    bytes as u32 * 8
}

/// EFLAGS bits the SDM leaves undefined after this case.
pub fn undefined_flags(c: &Case, i: &Instruction) -> u32 {
    let iced = i.rflags_undefined();
    let mut bits = ICED_FLAGS.iter().filter(|(f, _)| iced & f != 0).fold(0, |a, (_, e)| a | e);
    match shift_count(i, c) {
        // A zero count changes no flag.
        Some(0) => bits = 0,
        // OF is defined for 1-bit shifts and rotates.
        Some(1) => bits &= !OF,
        // "The OF flag is affected only for 1-bit shifts; otherwise, it is
        // undefined" (SAL/SHL/SAR/SHR, ROL/ROR/RCL/RCR, SHLD/SHRD), even
        // when a rotate's count reduces to no movement (RCL r8 by 9).
        Some(n) => {
            bits |= OF;
            // "The CF flag contents are undefined for SHL and SHR
            // instructions where the count is greater than or equal to the
            // size (in bits) of the destination operand."
            if matches!(i.mnemonic(), Mnemonic::Shl | Mnemonic::Sal | Mnemonic::Shr) && n >= op0_bits(i) {
                bits |= CF;
            }
        }
        None => {}
    }
    bits
}

/// Whether the SDM leaves the destination itself undefined: 16-bit
/// SHLD/SHRD with a count above 16, BSF/BSR of zero (which both set ZF),
/// 16-bit BSWAP.
fn undefined_result(c: &Case, i: &Instruction, host: &Outcome) -> bool {
    let size16 = i.op_count() > 0 && op0_bits(i) == 16;
    match i.mnemonic() {
        Mnemonic::Shld | Mnemonic::Shrd => size16 && shift_count(i, c).is_some_and(|n| n > 16),
        Mnemonic::Bsf | Mnemonic::Bsr => host.eflags & (1 << 6) != 0,
        // "When BSWAP references a 16-bit register, the result is
        // undefined."
        Mnemonic::Bswap => size16,
        _ => false,
    }
}

/// FSW condition codes the SDM leaves undefined after `m` ("FPU Flags
/// Affected" in each SDM vol. 2 page), with the reason.
pub fn undefined_fsw(m: Mnemonic) -> (u16, &'static str) {
    use Mnemonic::*;
    match m {
        // Compares, classification and partial remainders set them all;
        // FCOMI and kin leave C0/C2/C3 alone; loads of the environment
        // and FNINIT define them.
        Fcom | Fcomp | Fcompp | Fucom | Fucomp | Fucompp | Ficom | Ficomp | Ftst | Fxam | Fprem | Fprem1 | Fcomi | Fcomip
        | Fucomi | Fucomip | Fninit | Finit | Fldenv | Frstor | Fxrstor => (0, ""),
        Fnop | Fsetpm | Fnsetpm | Ffree | Ffreep | Fnstsw | Fstsw | Fnstcw | Fstcw | Fldcw | Fnclex | Fclex => {
            (C0 | C1 | C2 | C3, "C0-C3 undefined")
        }
        // C2 reports an operand out of range.
        Fsin | Fcos | Fsincos | Fptan => (C0 | C3, "C0, C3 undefined"),
        _ => (C0 | C2 | C3, "C0, C2, C3 undefined"),
    }
}

/// Whether FBLD's operand holds a digit above 9 ("If the source operand
/// contains invalid BCD digits, the result is undefined": SDM vol. 2A
/// FBLD); the sign byte's low bits are ignored.
fn invalid_bcd(c: &Case) -> bool {
    c.mem_operand().and_then(|at| c.data.get(at..at + 9)).is_some_and(|d| d.iter().any(|b| b & 0xF > 9 || b >> 4 > 9))
}

/// Whether ST(0) lies outside the domain the SDM gives F2XM1 (-1 <= x <=
/// +1) or FYL2XP1 (|x| < 1 - sqrt(2)/2): there "the result is undefined",
/// and flags and results may differ between implementations.
fn out_of_domain(c: &Case, m: Mnemonic) -> bool {
    let Some(fp) = c.fp.as_ref() else { return false };
    let x = fp.st[0];
    let exp = i32::from(x.sign_exp & 0x7FFF);
    let is_special = exp == 0x7FFF;
    // |x| as exponent and significand: compare against the bounds.
    let above_one = exp > 0x3FFF || (exp == 0x3FFF && x.signif != 1 << 63);
    match m {
        Mnemonic::F2xm1 => !is_special && above_one,
        // 1 - sqrt(2)/2 = 0.2928..., just above 2^-2 (0x3FFD, 1.17 in the
        // significand): anything at 2^-2 * 1.17 or beyond is outside.
        Mnemonic::Fyl2xp1 => !is_special && (exp > 0x3FFD || (exp == 0x3FFD && x.signif >= 0x95F6_1998_0C43_3C00)),
        _ => false,
    }
}

/// Whether `code` is an x87 instruction (as opposed to MMX/SSE, which
/// leave the condition codes alone).
fn x87(code: iced_x86::Code) -> bool {
    use iced_x86::CpuidFeature as F;
    code.cpuid_features().iter().any(|f| matches!(f, F::FPU | F::FPU287 | F::FPU387))
}

/// Compares the floating-point and SIMD state. `ulps`: measure the
/// transcendentals' results in ulps and do not count them (nor C1, the
/// round-up bit) as differences; returns the largest distance seen.
fn compare_fp(
    c: &Case,
    m: Mnemonic,
    faulted: bool,
    h: &FpState,
    o: &FpState,
    ulps: bool,
    note: &mut impl FnMut(bool, String),
) -> Option<u128> {
    // Outside the domain the SDM defines, every difference is undefined.
    let undefined_domain = out_of_domain(c, m);
    let mut note = |defined: bool, text: String| note(defined && !undefined_domain, text);
    // Distances only between two results: not against a state a fault
    // left alone.
    let trans = forms::transcendental(m) && !faulted;
    let tolerate = ulps && trans;
    if h.fcw != o.fcw {
        note(true, format!(" fcw: host {:04X} ironpc {:04X};", h.fcw, o.fcw));
    }
    let (undef, why) = if faulted || !x87(c.code) { (0, "") } else { undefined_fsw(m) };
    let undef = if tolerate { undef | C1 } else { undef };
    let diff = h.fsw ^ o.fsw;
    if diff & !undef != 0 {
        note(true, format!(" fsw: host {:04X} ironpc {:04X};", h.fsw, o.fsw));
    } else if diff != 0 {
        note(false, format!(" fsw ({why}): host {:04X} ironpc {:04X};", h.fsw, o.fsw));
    }
    if h.tag != o.tag {
        note(true, format!(" tag: host {:02X} ironpc {:02X};", h.tag, o.tag));
    }
    let mut worst: Option<u128> = None;
    for (n, (a, b)) in h.st.iter().zip(&o.st).enumerate() {
        if a == b {
            continue;
        }
        let phys = (n + h.top()) & 7;
        let text = format!(" st{n}: host {:04X}:{:016X} ironpc {:04X}:{:016X};", a.sign_exp, a.signif, b.sign_exp, b.signif);
        if h.tag & (1 << phys) == 0 {
            note(false, format!(" (empty register){text}"));
            continue;
        }
        if n == 0 && !faulted && m == Mnemonic::Fbld && invalid_bcd(c) {
            note(false, format!(" (FBLD of invalid BCD digits: result undefined){text}"));
            continue;
        }
        let d = if trans && !undefined_domain { fp::ulps(*a, *b) } else { None };
        if let Some(d) = d {
            worst = Some(worst.map_or(d, |w| w.max(d)));
        }
        if !(tolerate && d.is_some()) {
            note(true, text);
        }
    }
    if h.mxcsr != o.mxcsr {
        note(true, format!(" mxcsr: host {:08X} ironpc {:08X};", h.mxcsr, o.mxcsr));
    }
    for (n, (a, b)) in h.xmm.iter().zip(&o.xmm).enumerate() {
        if a != b {
            note(true, format!(" xmm{n}: host {a:032X} ironpc {b:032X};"));
        }
    }
    worst
}

/// Bytes of the data page whose stored value the SDM leaves to the
/// implementation: in the images FNSTENV, FNSAVE and FXSAVE store, the
/// last-instruction and last-data pointers and opcode (the host's own
/// code address and kernel selectors; AMD stores them only while an
/// exception is pending), reserved fields, FXSAVE's MXCSR_MASK (which
/// differs between CPU models) and the reserved upper bytes of each
/// register slot (SDM vol. 1 8.1.10, figures 8-9 to 8-12; vol. 2A FXSAVE,
/// table 3-43).
pub fn undefined_bytes(c: &Case, i: &Instruction) -> Vec<std::ops::Range<usize>> {
    use iced_x86::Code as C;
    let Some(at) = c.mem_operand() else { return Vec::new() };
    // FXSAVE: reserved byte 5, FOP..FDS with their reserved halves,
    // MXCSR_MASK, the upper 6 bytes of each ST slot, bytes 288-511.
    const FXSAVE: [(usize, usize); 11] =
        [(5, 24), (28, 32), (42, 48), (58, 64), (74, 80), (90, 96), (106, 112), (122, 128), (138, 144), (154, 160), (288, 512)];
    let fields: &[(usize, usize)] = match i.code() {
        C::Fnstenv_m14byte | C::Fnsave_m94byte => &[(6, 14)],
        C::Fnstenv_m28byte | C::Fnsave_m108byte => &[(2, 4), (6, 8), (10, 28)],
        C::Fxsave_m512byte => &FXSAVE,
        _ => return Vec::new(),
    };
    fields.iter().map(|&(start, end)| at + start..at + end).collect()
}

/// Compares the host's outcome of `c` with ironpc's.
pub fn compare(c: &Case, host: &Outcome, ours: &Outcome) -> Verdict {
    compare_with(c, host, ours, false).0
}

/// [`compare`], and with `ulps` the transcendentals' results are measured
/// rather than compared bit for bit: the second value is the largest
/// distance in ulps (of the 64-bit significand) between their results.
pub fn compare_with(c: &Case, host: &Outcome, ours: &Outcome, ulps: bool) -> (Verdict, Option<u128>) {
    let i = c.instruction();
    let mut defined = String::new();
    let mut undefined = String::new();
    let same_fault = match (host.fault, ours.fault) {
        (Some((hv, he)), Some((ov, oe))) => hv == ov && (he == oe || !matches!(hv, 8 | 10..=13 | 17)),
        (None, None) => true,
        _ => false,
    };
    if !same_fault {
        let _ = write!(defined, " fault: host {} ironpc {};", fault_name(host.fault), fault_name(ours.fault));
    }
    let loose = host.fault.is_none() && undefined_result(c, &i, host);
    let mut note = |defined_part: bool, text: String| {
        if defined_part && !loose {
            defined += &text;
        } else {
            undefined += &text;
        }
    };
    for ((name, h), o) in REG_NAMES.iter().zip(host.regs).zip(ours.regs) {
        if h != o {
            note(true, format!(" {name}: host {h:08X} ironpc {o:08X};"));
        }
    }
    if host.eip != ours.eip {
        note(true, format!(" eip: host {:08X} ironpc {:08X};", host.eip, ours.eip));
    }
    let diff = (host.eflags ^ ours.eflags) & COMPARED_FLAGS;
    if diff != 0 {
        let undef = if host.fault.is_none() { undefined_flags(c, &i) } else { 0 };
        let (d, u) = (diff & !undef, diff & undef);
        let text = |bits| format!(" eflags {}: host {:08X} ironpc {:08X};", flag_names(bits), host.eflags, ours.eflags);
        if d != 0 {
            note(true, text(d));
        }
        if u != 0 {
            note(false, text(u));
        }
    }
    let loose_bytes = if host.fault.is_none() { undefined_bytes(c, &i) } else { Vec::new() };
    for defined_part in [true, false] {
        let differs =
            |k: &usize| host.data.get(*k) != ours.data.get(*k) && loose_bytes.iter().any(|r| r.contains(k)) != defined_part;
        let Some(first) = (0..host.data.len()).find(differs) else { continue };
        let last = (0..host.data.len()).rev().find(differs).unwrap_or(first);
        let end = (last + 1).min(first + 16);
        let hex = |d: &[u8]| d.iter().map(|b| format!("{b:02X}")).collect::<String>();
        let what = if defined_part { "" } else { " (pointers, reserved or model-specific bytes)" };
        note(
            defined_part,
            format!(
                " memory{what} {:08X}..{:08X}: host {} ironpc {};",
                DATA_ADDR as usize + first,
                DATA_ADDR as usize + last + 1,
                hex(&host.data[first..end]),
                hex(&ours.data[first..end.min(ours.data.len())])
            ),
        );
    }
    let worst = match (&c.fp, &host.fp, &ours.fp) {
        (Some(_), Some(h), Some(o)) => {
            compare_fp(c, i.mnemonic(), host.fault.is_some() || ours.fault.is_some(), h, o, ulps, &mut note)
        }
        (Some(_), None, _) => {
            note(true, " fp: the host reported no FXSAVE image;".into());
            None
        }
        _ => None,
    };
    let verdict = if !defined.is_empty() {
        Verdict::Mismatch(defined.trim_end_matches(';').trim().to_string())
    } else if !undefined.is_empty() {
        Verdict::Undefined(undefined.trim_end_matches(';').trim().to_string())
    } else {
        Verdict::Match
    };
    (verdict, worst)
}
