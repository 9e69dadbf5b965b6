//! RDMSR/WRMSR: the model-specific registers of the CPU model in
//! [`crate::cpuid`]. Unknown MSRs raise #GP(0), as on hardware.

use crate::state::CpuState;

pub const IA32_TIME_STAMP_COUNTER: u32 = 0x10;
pub const IA32_PLATFORM_ID: u32 = 0x17;
pub const IA32_APIC_BASE: u32 = 0x1B;
pub const IA32_BIOS_SIGN_ID: u32 = 0x8B;
pub const IA32_MTRRCAP: u32 = 0xFE;
pub const IA32_SYSENTER_CS: u32 = 0x174;
pub const IA32_SYSENTER_ESP: u32 = 0x175;
pub const IA32_SYSENTER_EIP: u32 = 0x176;
pub const IA32_MISC_ENABLE: u32 = 0x1A0;
pub const IA32_MTRR_PHYSBASE0: u32 = 0x200;
pub const IA32_MTRR_FIX64K_00000: u32 = 0x250;
pub const IA32_MTRR_FIX16K_80000: u32 = 0x258;
pub const IA32_MTRR_FIX16K_A0000: u32 = 0x259;
pub const IA32_MTRR_FIX4K_C0000: u32 = 0x268;
pub const IA32_PAT: u32 = 0x277;
pub const IA32_MTRR_DEF_TYPE: u32 = 0x2FF;
pub const IA32_EFER: u32 = 0xC000_0080;

/// Eight variable ranges, fixed ranges, write-combining supported.
const MTRRCAP: u64 = 8 | (1 << 8) | (1 << 10);
/// EFER bits this model lets software set: NXE only (no long mode yet).
const EFER_WRITABLE: u64 = ironpc_mmu::paging::EFER_NXE;

/// Where a fixed-range MTRR lives in `Msrs::mtrr_fixed`.
fn fixed_index(msr: u32) -> Option<usize> {
    match msr {
        IA32_MTRR_FIX64K_00000 => Some(0),
        IA32_MTRR_FIX16K_80000 => Some(1),
        IA32_MTRR_FIX16K_A0000 => Some(2),
        0x268..=0x26F => Some(3 + (msr - IA32_MTRR_FIX4K_C0000) as usize),
        _ => None,
    }
}

/// A memory type byte is valid: UC, WC, WT, WP or WB.
fn valid_type(t: u64) -> bool {
    matches!(t, 0 | 1 | 4 | 5 | 6)
}

/// RDMSR. `tsc` is the current time-stamp counter. `None` means #GP(0).
pub fn read(s: &CpuState, msr: u32, tsc: u64) -> Option<u64> {
    let m = &s.msr;
    Some(match msr {
        IA32_TIME_STAMP_COUNTER => tsc,
        IA32_APIC_BASE => m.apic_base,
        // Platform ID 0 (bits 52:50) and microcode revision 0: this model
        // has no microcode update loaded.
        IA32_PLATFORM_ID | IA32_BIOS_SIGN_ID => 0,
        IA32_MTRRCAP => MTRRCAP,
        IA32_SYSENTER_CS => m.sysenter_cs,
        IA32_SYSENTER_ESP => m.sysenter_esp,
        IA32_SYSENTER_EIP => m.sysenter_eip,
        IA32_MISC_ENABLE => m.misc_enable,
        0x200..=0x20F => m.mtrr_var[(msr - IA32_MTRR_PHYSBASE0) as usize],
        IA32_PAT => m.pat,
        IA32_MTRR_DEF_TYPE => m.mtrr_def_type,
        IA32_EFER => s.efer,
        _ => return m.mtrr_fixed.get(fixed_index(msr)?).copied(),
    })
}

/// WRMSR. `tsc` is the current counter (a TSC write moves the offset).
/// Returns `false` for #GP(0): unknown MSR or reserved bits set.
pub fn write(s: &mut CpuState, msr: u32, value: u64, tsc: u64) -> bool {
    let m = &mut s.msr;
    match msr {
        IA32_TIME_STAMP_COUNTER => m.tsc_offset = m.tsc_offset.wrapping_add(value.wrapping_sub(tsc)),
        IA32_APIC_BASE => {
            if value & !0xF_FFFF_F900 != 0 {
                return false;
            }
            // The BSP flag is read-only.
            m.apic_base = (value & !(1 << 8)) | (m.apic_base & (1 << 8));
        }
        // Software writes 0 here, runs CPUID, then reads the microcode
        // revision back (SDM 9.11.7.1); there is no update to report.
        IA32_BIOS_SIGN_ID => {}
        IA32_SYSENTER_CS => m.sysenter_cs = value & 0xFFFF,
        IA32_SYSENTER_ESP => m.sysenter_esp = value,
        IA32_SYSENTER_EIP => m.sysenter_eip = value,
        IA32_MISC_ENABLE => m.misc_enable = value,
        0x200..=0x20F => {
            let is_base = msr.is_multiple_of(2);
            let reserved = if is_base { !0xF_FFFF_F0FF } else { !0xF_FFFF_F800 };
            if value & reserved != 0 || (is_base && !valid_type(value & 0xFF)) {
                return false;
            }
            m.mtrr_var[(msr - IA32_MTRR_PHYSBASE0) as usize] = value;
        }
        IA32_PAT => {
            if (0..8).any(|i| !matches!((value >> (i * 8)) & 0xFF, 0 | 1 | 4 | 5 | 6 | 7)) {
                return false;
            }
            m.pat = value;
        }
        IA32_MTRR_DEF_TYPE => {
            if value & !0xCFF != 0 || !valid_type(value & 0xFF) {
                return false;
            }
            m.mtrr_def_type = value;
        }
        IA32_EFER => {
            if value & !EFER_WRITABLE != 0 {
                return false;
            }
            s.efer = value;
        }
        _ => match fixed_index(msr) {
            Some(i) if (0..8).all(|b| valid_type((value >> (b * 8)) & 0xFF)) => m.mtrr_fixed[i] = value,
            _ => return false,
        },
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mtrrs_round_trip_and_reject_bad_types() {
        let mut s = CpuState::reset();
        assert!(write(&mut s, 0x200, 0x0000_0006, 0));
        assert_eq!(read(&s, 0x200, 0), Some(6));
        assert!(!write(&mut s, 0x200, 0x0000_0002, 0), "type 2 is reserved");
        assert!(write(&mut s, 0x26F, 0x0606_0606_0606_0606, 0));
        assert_eq!(read(&s, 0x26F, 0), Some(0x0606_0606_0606_0606));
        assert_eq!(read(&s, 0x1234, 0), None);
        assert!(!write(&mut s, 0x1234, 0, 0));
    }

    #[test]
    fn the_microcode_signature_reads_zero_after_the_write_of_zero() {
        let mut s = CpuState::reset();
        assert!(write(&mut s, IA32_BIOS_SIGN_ID, 0, 0));
        assert_eq!(read(&s, IA32_BIOS_SIGN_ID, 0), Some(0));
        assert_eq!(read(&s, IA32_PLATFORM_ID, 0), Some(0));
    }

    #[test]
    fn tsc_write_moves_the_offset() {
        let mut s = CpuState::reset();
        assert!(write(&mut s, IA32_TIME_STAMP_COUNTER, 1000, 300));
        assert_eq!(s.msr.tsc_offset.wrapping_add(300), 1000);
    }
}
