//! Architectural state of one logical processor (Intel SDM vol. 3A ch. 2-3).
//!
//! `#[repr(C)]` with registers 64 bits wide from the start (DESIGN.md
//! invariant 4): generated code loads and stores these fields at fixed
//! offsets, and x86-64 will use the full widths.

use crate::{
    flags::LazyFlags,
    fpstate::{FpuState, SseState},
};
use serde::{Deserialize, Serialize};

/// General register numbers, in encoding order.
pub mod reg {
    pub const RAX: usize = 0;
    pub const RCX: usize = 1;
    pub const RDX: usize = 2;
    pub const RBX: usize = 3;
    pub const RSP: usize = 4;
    pub const RBP: usize = 5;
    pub const RSI: usize = 6;
    pub const RDI: usize = 7;
}

/// Segment register numbers, in encoding order (the order of iced-x86's
/// `Register::ES..=Register::GS`).
pub mod sreg {
    pub const ES: usize = 0;
    pub const CS: usize = 1;
    pub const SS: usize = 2;
    pub const DS: usize = 3;
    pub const FS: usize = 4;
    pub const GS: usize = 5;
}

/// EFLAGS bits.
pub mod fl {
    pub const CF: u32 = 1 << 0;
    /// Bit 1 always reads as one.
    pub const FIXED: u32 = 1 << 1;
    pub const PF: u32 = 1 << 2;
    pub const AF: u32 = 1 << 4;
    pub const ZF: u32 = 1 << 6;
    pub const SF: u32 = 1 << 7;
    pub const TF: u32 = 1 << 8;
    pub const IF: u32 = 1 << 9;
    pub const DF: u32 = 1 << 10;
    pub const OF: u32 = 1 << 11;
    pub const IOPL: u32 = 3 << 12;
    pub const IOPL_SHIFT: u32 = 12;
    pub const NT: u32 = 1 << 14;
    pub const RF: u32 = 1 << 16;
    pub const VM: u32 = 1 << 17;
    pub const AC: u32 = 1 << 18;
    pub const VIF: u32 = 1 << 19;
    pub const VIP: u32 = 1 << 20;
    pub const ID: u32 = 1 << 21;
    /// The six arithmetic flags.
    pub const ARITH: u32 = CF | PF | AF | ZF | SF | OF;
    /// Every bit software can change on this CPU model.
    pub const WRITABLE: u32 = ARITH | TF | IF | DF | IOPL | NT | RF | VM | AC | VIF | VIP | ID;
}

/// CR0 bits.
pub mod cr0 {
    pub const PE: u64 = 1 << 0;
    pub const MP: u64 = 1 << 1;
    pub const EM: u64 = 1 << 2;
    pub const TS: u64 = 1 << 3;
    pub const ET: u64 = 1 << 4;
    pub const NE: u64 = 1 << 5;
    pub const WP: u64 = 1 << 16;
    pub const AM: u64 = 1 << 18;
    pub const NW: u64 = 1 << 29;
    pub const CD: u64 = 1 << 30;
    pub const PG: u64 = 1 << 31;
}

/// CR4 bits.
pub mod cr4 {
    pub const VME: u64 = 1 << 0;
    pub const PVI: u64 = 1 << 1;
    pub const TSD: u64 = 1 << 2;
    pub const DE: u64 = 1 << 3;
    pub const PSE: u64 = 1 << 4;
    pub const PAE: u64 = 1 << 5;
    pub const MCE: u64 = 1 << 6;
    pub const PGE: u64 = 1 << 7;
    pub const PCE: u64 = 1 << 8;
    pub const OSFXSR: u64 = 1 << 9;
    pub const OSXMMEXCPT: u64 = 1 << 10;
}

/// Descriptor attribute bits as kept in [`Segment::attr`]: descriptor bits
/// 40..47 in bits 0..7 and bits 52..55 in bits 12..15 (the layout VMX calls
/// "access rights").
pub mod attr {
    /// Accessed (data/code), or busy for a TSS when combined with its type.
    pub const ACCESSED: u16 = 1 << 0;
    /// Writable (data) or readable (code).
    pub const RW: u16 = 1 << 1;
    /// Expand-down (data) or conforming (code).
    pub const DC: u16 = 1 << 2;
    /// Code segment (with S set).
    pub const CODE: u16 = 1 << 3;
    /// Code or data (clear: system descriptor).
    pub const S: u16 = 1 << 4;
    pub const DPL_SHIFT: u16 = 5;
    pub const DPL: u16 = 3 << 5;
    pub const P: u16 = 1 << 7;
    pub const AVL: u16 = 1 << 12;
    pub const L: u16 = 1 << 13;
    /// Default operation size (code) / big (stack, expand-down bound).
    pub const DB: u16 = 1 << 14;
    pub const G: u16 = 1 << 15;
    /// What real-mode and V86 loads leave in a segment: present, read/write
    /// data, accessed.
    pub const REAL_DATA: u16 = P | S | RW | ACCESSED;
}

/// A segment register with its hidden descriptor cache.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[repr(C)]
pub struct Segment {
    pub base: u64,
    /// Effective limit in bytes (granularity already applied).
    pub limit: u32,
    pub selector: u16,
    /// See [`attr`]. Zero means unusable (a null selector was loaded).
    pub attr: u16,
}

impl Segment {
    /// Descriptor privilege level.
    pub fn dpl(&self) -> u8 {
        ((self.attr & attr::DPL) >> attr::DPL_SHIFT) as u8
    }

    /// Whether the D/B bit is set.
    pub fn big(&self) -> bool {
        self.attr & attr::DB != 0
    }

    /// A real-mode style segment: base = selector * 16.
    pub fn real(selector: u16, limit: u32, attr: u16) -> Self {
        Self { base: u64::from(selector) << 4, limit, selector, attr }
    }
}

/// GDTR / IDTR.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
#[repr(C)]
pub struct TableReg {
    pub base: u64,
    pub limit: u32,
}

/// Model-specific registers that hold state (the rest are computed).
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[repr(C)]
pub struct Msrs {
    pub sysenter_cs: u64,
    pub sysenter_esp: u64,
    pub sysenter_eip: u64,
    pub apic_base: u64,
    pub pat: u64,
    pub mtrr_def_type: u64,
    /// MTRRfix64K_00000, fix16K_80000/A0000, fix4K_C0000..F8000.
    pub mtrr_fixed: [u64; 11],
    /// MTRRphysBase0/Mask0 .. Base7/Mask7.
    pub mtrr_var: [u64; 16],
    pub misc_enable: u64,
    /// Added to the instruction count to form the time-stamp counter.
    pub tsc_offset: u64,
}

impl Default for Msrs {
    fn default() -> Self {
        Self {
            sysenter_cs: 0,
            sysenter_esp: 0,
            sysenter_eip: 0,
            // BSP flag, enabled, default base 0xFEE00000.
            apic_base: 0xFEE0_0000 | (1 << 11) | (1 << 8),
            pat: 0x0007_0406_0007_0406,
            mtrr_def_type: 0,
            mtrr_fixed: [0; 11],
            mtrr_var: [0; 16],
            misc_enable: 1,
            tsc_offset: 0,
        }
    }
}

/// The architectural registers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
#[repr(C)]
pub struct CpuState {
    /// RAX..R15 in encoding order (see [`reg`]).
    pub gpr: [u64; 16],
    pub rip: u64,
    /// EFLAGS. The arithmetic bits are stale while `lazy.op` is not
    /// `FlagOp::None`; read flags through the accessors in `flags.rs`.
    pub eflags: u64,
    pub lazy: LazyFlags,
    /// ES, CS, SS, DS, FS, GS (see [`sreg`]).
    pub seg: [Segment; 6],
    pub ldtr: Segment,
    pub tr: Segment,
    pub gdtr: TableReg,
    pub idtr: TableReg,
    pub cr0: u64,
    pub cr2: u64,
    pub cr3: u64,
    pub cr4: u64,
    pub efer: u64,
    pub dr: [u64; 8],
    /// Current privilege level (CS.RPL in protected mode, 3 in V86, 0 in
    /// real mode), kept explicitly because it selects the TLB class.
    pub cpl: u8,
    pub msr: Msrs,
    pub fpu: FpuState,
    pub sse: SseState,
}

impl Default for CpuState {
    fn default() -> Self {
        Self::reset()
    }
}

impl CpuState {
    /// The state after RESET (SDM vol. 3A table 9-1): real mode, CS =
    /// F000 with base FFFF0000, IP = FFF0, EDX = family/model/stepping.
    pub fn reset() -> Self {
        let data = Segment { base: 0, limit: 0xFFFF, selector: 0, attr: attr::REAL_DATA };
        let mut seg = [data; 6];
        seg[sreg::CS] = Segment { base: 0xFFFF_0000, limit: 0xFFFF, selector: 0xF000, attr: attr::REAL_DATA };
        let mut gpr = [0; 16];
        gpr[reg::RDX] = u64::from(crate::cpuid::SIGNATURE);
        Self {
            gpr,
            rip: 0xFFF0,
            eflags: u64::from(fl::FIXED),
            lazy: LazyFlags::default(),
            seg,
            ldtr: Segment { base: 0, limit: 0xFFFF, selector: 0, attr: attr::P | 0x2 },
            tr: Segment { base: 0, limit: 0xFFFF, selector: 0, attr: attr::P | 0xB },
            gdtr: TableReg { base: 0, limit: 0xFFFF },
            idtr: TableReg { base: 0, limit: 0xFFFF },
            cr0: cr0::ET | cr0::CD | cr0::NW,
            cr2: 0,
            cr3: 0,
            cr4: 0,
            efer: 0,
            dr: [0, 0, 0, 0, 0, 0, 0xFFFF_0FF0, 0x400],
            cpl: 0,
            msr: Msrs::default(),
            fpu: FpuState::reset(),
            sse: SseState::default(),
        }
    }

    /// Protected mode (CR0.PE), including V86.
    #[inline]
    pub fn protected(&self) -> bool {
        self.cr0 & cr0::PE != 0
    }

    /// Virtual-8086 mode.
    #[inline]
    pub fn v86(&self) -> bool {
        self.eflags & u64::from(fl::VM) != 0
    }

    /// Protected mode and not V86: segment loads go through descriptors.
    #[inline]
    pub fn pmode(&self) -> bool {
        self.protected() && !self.v86()
    }

    /// The current code segment's default size is 32 bits.
    #[inline]
    pub fn code32(&self) -> bool {
        self.seg[sreg::CS].big()
    }

    /// The stack is addressed with ESP (SS.B) rather than SP.
    #[inline]
    pub fn stack32(&self) -> bool {
        self.seg[sreg::SS].big()
    }

    /// EFLAGS.IOPL.
    #[inline]
    pub fn iopl(&self) -> u8 {
        ((self.eflags >> fl::IOPL_SHIFT) & 3) as u8
    }

    /// Reads a 32-bit general register.
    #[inline]
    pub fn r32(&self, r: usize) -> u32 {
        self.gpr[r] as u32
    }

    /// Writes a 32-bit general register (zero-extending, as x86-64 does;
    /// the upper half is not visible outside long mode).
    #[inline]
    pub fn set_r32(&mut self, r: usize, v: u32) {
        self.gpr[r] = u64::from(v);
    }

    /// Writes the low 16 bits of a general register.
    #[inline]
    pub fn set_r16(&mut self, r: usize, v: u16) {
        self.gpr[r] = (self.gpr[r] & !0xFFFF) | u64::from(v);
    }
}
