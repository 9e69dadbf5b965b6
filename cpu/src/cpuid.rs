//! CPUID: the model ironpc presents.
//!
//! A P6-family GenuineIntel part. Feature bits say exactly what the
//! interpreter implements; anything added to the interpreter is added here
//! and nowhere else.

/// Family 6, model 13, stepping 8: a P6-family Pentium M ("Dothan"), the
/// 32-bit part whose features (PAE with NX, SEP, PAT, and once issue 3
/// lands, SSE2) match what ironpc implements; a Core 2 signature would
/// promise SSE3 and long mode. What EDX holds after RESET and CPUID.1:EAX
/// reports.
pub const SIGNATURE: u32 = (6 << 8) | (13 << 4) | 8;

/// CPUID.1:EDX feature bits.
pub mod edx1 {
    pub const FPU: u32 = 1 << 0;
    pub const VME: u32 = 1 << 1;
    pub const DE: u32 = 1 << 2;
    pub const PSE: u32 = 1 << 3;
    pub const TSC: u32 = 1 << 4;
    pub const MSR: u32 = 1 << 5;
    pub const PAE: u32 = 1 << 6;
    pub const CX8: u32 = 1 << 8;
    pub const SEP: u32 = 1 << 11;
    pub const MTRR: u32 = 1 << 12;
    pub const PGE: u32 = 1 << 13;
    pub const CMOV: u32 = 1 << 15;
    pub const PAT: u32 = 1 << 16;
    pub const PSE36: u32 = 1 << 17;
    pub const CLFSH: u32 = 1 << 19;
    pub const MMX: u32 = 1 << 23;
    pub const FXSR: u32 = 1 << 24;
    pub const SSE: u32 = 1 << 25;
    pub const SSE2: u32 = 1 << 26;
}

/// The features the interpreter implements: the integer and system set,
/// the x87 FPU, MMX, FXSAVE/FXRSTOR, CLFLUSH, SSE and SSE2.
pub const FEATURES_EDX: u32 = edx1::FPU
    | edx1::VME
    | edx1::DE
    | edx1::PSE
    | edx1::TSC
    | edx1::MSR
    | edx1::PAE
    | edx1::CX8
    | edx1::SEP
    | edx1::MTRR
    | edx1::PGE
    | edx1::CMOV
    | edx1::PAT
    | edx1::PSE36
    | edx1::CLFSH
    | edx1::MMX
    | edx1::FXSR
    | edx1::SSE
    | edx1::SSE2;

/// CPUID.1:EBX[15:8]: the CLFLUSH line size in 8-byte units.
const CLFLUSH_LINE_QWORDS: u32 = 8;

/// CPUID.80000001:EDX.NX.
pub const EXT_EDX_NX: u32 = 1 << 20;

const VENDOR: &[u8; 12] = b"GenuineIntel";
const BRAND: &[u8; 48] = b"ironpc i686 CPU\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0\0";

fn word(b: &[u8], i: usize) -> u32 {
    u32::from_le_bytes([b[i * 4], b[i * 4 + 1], b[i * 4 + 2], b[i * 4 + 3]])
}

/// Returns EAX, EBX, ECX, EDX for leaf `eax`, subleaf `ecx`.
pub fn cpuid(eax: u32, _ecx: u32) -> [u32; 4] {
    match eax {
        0 => [2, word(VENDOR, 0), word(VENDOR, 2), word(VENDOR, 1)],
        // EBX: one logical processor, CLFLUSH line size 8 (x 8 = 64
        // bytes), initial APIC id 0.
        1 => [SIGNATURE, 1 << 16 | CLFLUSH_LINE_QWORDS << 8, 0, FEATURES_EDX],
        // Cache descriptors: a null descriptor list (0x01 in AL = one call).
        2 => [1, 0, 0, 0],
        0x8000_0000 => [0x8000_0004, 0, 0, 0],
        0x8000_0001 => [0, 0, 0, EXT_EDX_NX],
        0x8000_0002..=0x8000_0004 => {
            let base = ((eax - 0x8000_0002) * 4) as usize;
            [word(BRAND, base), word(BRAND, base + 1), word(BRAND, base + 2), word(BRAND, base + 3)]
        }
        // Intel answers any leaf above the highest basic or extended leaf
        // with the data of the highest basic leaf.
        _ => cpuid(2, 0),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn vendor_string_in_ebx_edx_ecx_order() {
        let [_, b, c, d] = cpuid(0, 0);
        let mut v = Vec::new();
        for r in [b, d, c] {
            v.extend_from_slice(&r.to_le_bytes());
        }
        assert_eq!(&v, b"GenuineIntel");
    }

    #[test]
    fn leaves_out_of_range_answer_as_the_highest_basic_leaf() {
        assert_eq!(cpuid(0x4000_0000, 0), cpuid(2, 0));
        assert_eq!(cpuid(0x8000_0008, 0), cpuid(2, 0));
        assert_ne!(cpuid(0x8000_0001, 0), cpuid(2, 0));
    }

    #[test]
    fn leaf1_advertises_the_simd_features_and_clflush_with_its_line_size() {
        let [_, b, _, d] = cpuid(1, 0);
        let simd = edx1::MMX | edx1::FXSR | edx1::CLFSH | edx1::SSE | edx1::SSE2;
        assert_eq!(d & simd, simd);
        assert_eq!((b >> 8) & 0xFF, 8, "64-byte lines");
        assert_eq!((b >> 16) & 0xFF, 1, "one logical processor");
    }

    #[test]
    fn leaf1_reports_fpu_and_cmov() {
        let edx = cpuid(1, 0)[3];
        assert_eq!(edx & (edx1::FPU | edx1::CMOV), edx1::FPU | edx1::CMOV);
        assert!(crate::implemented(iced_x86::Code::Fcomi_st0_sti) && crate::implemented(iced_x86::Code::Fcmovb_st0_sti));
    }

    #[test]
    fn leaf1_reports_the_reset_signature() {
        assert_eq!(cpuid(1, 0)[0], SIGNATURE);
        assert_eq!(crate::CpuState::reset().gpr[2] as u32, SIGNATURE);
    }
}
