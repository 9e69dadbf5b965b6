//! Which instruction forms the sweep covers: iced-x86's `Code` list,
//! narrowed by iced's own metadata to legacy-encoded, 32-bit-mode,
//! user-level, deterministic instructions of the i686 + SSE2 model
//! (integer, x87, MMX, SSE, SSE2) that ironpc implements. Every
//! implemented form left out is returned with the reason.
//!
//! x87 state instructions are user level and swept: FLDENV, FRSTOR,
//! FXRSTOR, FNSTENV, FNSAVE, FXSAVE. The images the last three store hold
//! the last-instruction and last-data pointers (FIP/FCS/FOP/FDP/FDS),
//! which the host sets from its own code address and its kernel's
//! selectors (and AMD stores only while an exception is pending): those
//! bytes count as undefined (`compare::undefined_bytes`). The waiting
//! forms (FSTENV = WAIT + FNSTENV...) are two instructions and left out.

use crate::gen;
use iced_x86::{Code, CpuidFeature, DecoderOptions, EncodingKind, FlowControl, MemorySize, Mnemonic, OpCodeOperandKind as K};

/// The user-level ISA of the model: i686 integer, x87, MMX, FXSR, SSE and
/// SSE2. Forms needing any other CPUID feature (SSE3 and later, system and
/// vendor extensions, RDTSC, CPUID itself, CLFLUSH, obsolete encodings)
/// are outside the sweep.
const FEATURES: [CpuidFeature; 16] = [
    CpuidFeature::INTEL8086,
    CpuidFeature::INTEL186,
    CpuidFeature::INTEL286,
    CpuidFeature::INTEL386,
    CpuidFeature::INTEL486,
    CpuidFeature::CMOV,
    CpuidFeature::CX8,
    CpuidFeature::MULTIBYTENOP,
    CpuidFeature::PAUSE,
    CpuidFeature::FPU,
    // FNSTSW AX, and FSETPM, a no-op since the 387.
    CpuidFeature::FPU287,
    CpuidFeature::FPU387,
    CpuidFeature::FXSR,
    CpuidFeature::MMX,
    CpuidFeature::SSE,
    CpuidFeature::SSE2,
    // CLFLUSH and SSE3 and later are outside the model.
];

/// The features whose forms use the x87/MMX/SSE state: their cases carry
/// it, and compare it.
const FP_FEATURES: [CpuidFeature; 7] = [
    CpuidFeature::FPU,
    CpuidFeature::FPU287,
    CpuidFeature::FPU387,
    CpuidFeature::FXSR,
    CpuidFeature::MMX,
    CpuidFeature::SSE,
    CpuidFeature::SSE2,
];

/// Whether `code` runs with (and compares) the x87/MMX/SSE state.
pub fn fp_form(code: Code) -> bool {
    code.cpuid_features().iter().any(|f| FP_FEATURES.contains(f))
}

/// The transcendental x87 instructions, whose results the SDM bounds
/// (SDM vol. 1 8.3.10: within 1 ulp) rather than defines: with
/// `Config::ulps` the sweep reports how far ironpc is from the host
/// instead of counting differences in their results.
pub fn transcendental(m: Mnemonic) -> bool {
    use Mnemonic::*;
    matches!(m, Fsin | Fcos | Fsincos | Fptan | Fpatan | F2xm1 | Fyl2x | Fyl2xp1)
}

/// User-level instructions whose results depend on the host's system
/// state rather than on their inputs.
const SYSTEM_STATE: [(Mnemonic, &str); 9] = [
    (Mnemonic::Sgdt, "reads GDTR: the host's (or UMIP's emulated) value is not ironpc's"),
    (Mnemonic::Sidt, "reads IDTR: the host's (or UMIP's emulated) value is not ironpc's"),
    (Mnemonic::Sldt, "reads LDTR: host system state"),
    (Mnemonic::Str, "reads TR: host system state"),
    (Mnemonic::Smsw, "reads CR0: host system state"),
    (Mnemonic::Lar, "queries a descriptor: the host's GDT/LDT are not ironpc's"),
    (Mnemonic::Lsl, "queries a descriptor: the host's GDT/LDT are not ironpc's"),
    (Mnemonic::Verr, "queries a descriptor: the host's GDT/LDT are not ironpc's"),
    (Mnemonic::Verw, "queries a descriptor: the host's GDT/LDT are not ironpc's"),
];

/// Forms whose behaviour differs between CPU vendors, so the host cannot
/// be the oracle for them.
const VENDOR_SPECIFIC: [(Code, &str); 7] = [
    (Code::Fstpnce_sti, "D9 D8+i is AMD's FSTPNCE (no exceptions) but an alias of FSTP ST(i) on Intel, which ironpc models"),
    (Code::Reservednop_rm16_r16_0F0D, "0F 0D is PREFETCH on AMD (#UD with a register operand), a reserved NOP on Intel"),
    (Code::Reservednop_rm32_r32_0F0D, "0F 0D is PREFETCH on AMD (#UD with a register operand), a reserved NOP on Intel"),
    (Code::Rcpps_xmm_xmmm128, RCP),
    (Code::Rcpss_xmm_xmmm32, RCP),
    (Code::Rsqrtps_xmm_xmmm128, RCP),
    (Code::Rsqrtss_xmm_xmmm32, RCP),
];

const RCP: &str = "approximation (relative error below 1.5*2^-12): its bits differ between Intel and AMD";

/// Why an implemented form is left out, or `None` if the sweep covers it.
pub fn exclusion(code: Code) -> Option<&'static str> {
    let op = code.op_code();
    if !code.cpuid_features().iter().all(|f| FEATURES.contains(f)) {
        return Some("CPUID feature outside the i686 + SSE2 model (SSE3 and later, system, vendor)");
    }
    if op.fwait() {
        return Some("the waiting form is two instructions (WAIT, then the no-wait form), each swept on its own");
    }
    if op.is_input_output() {
        return Some("port I/O: the host process has no I/O permission to compare against");
    }
    if op.is_privileged() || op.must_be_cpl0() || !op.cpl3() {
        return Some("privileged");
    }
    if let Some((_, why)) = VENDOR_SPECIFIC.iter().find(|(c, _)| *c == code) {
        return Some(why);
    }
    if let Some((_, why)) = SYSTEM_STATE.iter().find(|(m, _)| *m == code.mnemonic()) {
        return Some(why);
    }
    let kinds: Vec<K> = (0..op.op_count()).map(|n| op.op_kind(n)).collect();
    let flow = code.flow_control();
    if flow == FlowControl::Interrupt || matches!(code.mnemonic(), Mnemonic::Iret | Mnemonic::Iretd) {
        return Some("INT/IRET: delivery through the host kernel's IDT");
    }
    let far_pointer = matches!(op.memory_size(), MemorySize::SegPtr16 | MemorySize::SegPtr32);
    if far_pointer || kinds.iter().any(|k| matches!(k, K::farbr2_2 | K::farbr4_2)) || code.mnemonic() == Mnemonic::Retf {
        return Some("far transfer or far-pointer load: reloads a segment register");
    }
    let loads_sreg = kinds.first().is_some_and(|k| *k == K::seg_reg)
        || code.mnemonic() == Mnemonic::Pop
            && kinds.first().is_some_and(|k| matches!(k, K::es | K::cs | K::ss | K::ds | K::fs | K::gs));
    if loads_sreg {
        return Some("segment-register load");
    }
    if op.decoder_option() != DecoderOptions::NONE || !(op.intel_decoder32() && op.amd_decoder32()) {
        return Some("decodes differently on Intel and AMD (UD0's ModRM) or only under a decoder option");
    }
    if !gen::supported(code) {
        return Some("operand kind the generator does not build");
    }
    None
}

/// Near branches with a 16-bit operand size: they truncate EIP to 16
/// bits, so their cases run in the low code area.
pub fn branch16(code: Code) -> bool {
    let op = code.op_code();
    let branch = !matches!(code.flow_control(), FlowControl::Next | FlowControl::Exception);
    (0..op.op_count()).any(|n| matches!(op.op_kind(n), K::br16_1 | K::br16_2)) || branch && op.operand_size() == 16
}

/// Every legacy, 32-bit-mode instruction form.
fn candidates() -> impl Iterator<Item = Code> {
    Code::values().filter(|c| {
        let op = c.op_code();
        op.is_instruction() && op.encoding() == EncodingKind::Legacy && op.mode32()
    })
}

/// The forms to sweep (implemented and not excluded), and the implemented
/// forms left out with the reason.
pub fn forms() -> (Vec<Code>, Vec<(Code, &'static str)>) {
    let mut yes = Vec::new();
    let mut no = Vec::new();
    for c in candidates().filter(|&c| ironpc_cpu::implemented(c)) {
        match exclusion(c) {
            None => yes.push(c),
            Some(why) => no.push((c, why)),
        }
    }
    (yes, no)
}

/// Every candidate form with its exclusion, whether implemented or not:
/// what the sweep will cover once the interpreter has it all.
pub fn all_forms() -> Vec<(Code, Option<&'static str>)> {
    candidates().map(|c| (c, exclusion(c))).collect()
}
