//! Segment descriptors and segment register loads (SDM vol. 3A 3.4-3.5,
//! 5.4-5.6): real-mode and V86 loads, protected-mode loads through the GDT
//! and LDT with their type, privilege and presence checks.

use crate::{
    fault::Fault,
    state::{attr, sreg, Segment},
    Cpu, Env,
};

/// An 8-byte descriptor as it sits in a table.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) struct Descriptor(pub u64);

/// System descriptor and gate types (the low four type bits with S = 0).
pub(crate) mod sys {
    pub const TSS16_AVAIL: u8 = 0x1;
    pub const LDT: u8 = 0x2;
    pub const TSS16_BUSY: u8 = 0x3;
    pub const CALL_GATE16: u8 = 0x4;
    pub const TASK_GATE: u8 = 0x5;
    pub const INT_GATE16: u8 = 0x6;
    pub const TRAP_GATE16: u8 = 0x7;
    pub const TSS32_AVAIL: u8 = 0x9;
    pub const TSS32_BUSY: u8 = 0xB;
    pub const CALL_GATE32: u8 = 0xC;
    pub const INT_GATE32: u8 = 0xE;
    pub const TRAP_GATE32: u8 = 0xF;
}

impl Descriptor {
    pub fn base(self) -> u64 {
        ((self.0 >> 16) & 0xFF_FFFF) | ((self.0 >> 56) << 24)
    }

    /// Limit in bytes, granularity applied.
    pub fn limit(self) -> u32 {
        let raw = ((self.0 & 0xFFFF) | ((self.0 >> 32) & 0xF_0000)) as u32;
        if self.0 & (1 << 55) != 0 {
            (raw << 12) | 0xFFF
        } else {
            raw
        }
    }

    /// Attribute bits in the [`attr`] layout.
    pub fn attr(self) -> u16 {
        ((self.0 >> 40) & 0xF0FF) as u16
    }

    pub fn present(self) -> bool {
        self.attr() & attr::P != 0
    }

    pub fn dpl(self) -> u8 {
        ((self.attr() & attr::DPL) >> attr::DPL_SHIFT) as u8
    }

    /// Code or data (S = 1).
    pub fn is_segment(self) -> bool {
        self.attr() & attr::S != 0
    }

    pub fn is_code(self) -> bool {
        self.is_segment() && self.attr() & attr::CODE != 0
    }

    pub fn is_data(self) -> bool {
        self.is_segment() && self.attr() & attr::CODE == 0
    }

    /// Conforming code segment.
    pub fn conforming(self) -> bool {
        self.is_code() && self.attr() & attr::DC != 0
    }

    /// Readable code or any data segment.
    pub fn readable(self) -> bool {
        self.is_data() || (self.is_code() && self.attr() & attr::RW != 0)
    }

    /// Writable data segment.
    pub fn writable(self) -> bool {
        self.is_data() && self.attr() & attr::RW != 0
    }

    /// System type (meaningful when S = 0).
    pub fn sys_type(self) -> u8 {
        ((self.0 >> 40) & 0xF) as u8
    }

    /// Gate: target selector.
    pub fn gate_selector(self) -> u16 {
        (self.0 >> 16) as u16
    }

    /// Gate: target offset (16-bit gates use only the low word).
    pub fn gate_offset(self) -> u64 {
        let lo = self.0 & 0xFFFF;
        if self.sys_type() & 0x8 != 0 {
            lo | ((self.0 >> 32) & 0xFFFF_0000)
        } else {
            lo
        }
    }

    /// Call gate: number of stack parameters to copy.
    pub fn gate_param_count(self) -> u8 {
        ((self.0 >> 32) & 0x1F) as u8
    }

    /// The hidden-cache form of this descriptor, loaded with `selector`.
    pub fn segment(self, selector: u16) -> Segment {
        Segment { base: self.base(), limit: self.limit(), selector, attr: self.attr() }
    }
}

impl Cpu {
    /// Linear address of the descriptor named by `selector` (GDT or LDT by
    /// TI), or #GP(selector) if it lies outside the table.
    pub(crate) fn descriptor_addr(&self, selector: u16) -> Result<u64, Fault> {
        let (base, limit, usable) = if selector & 4 != 0 {
            let l = &self.state.ldtr;
            (l.base, l.limit, l.attr & attr::P != 0 && l.selector & 0xFFFC != 0)
        } else {
            (self.state.gdtr.base, self.state.gdtr.limit, true)
        };
        let off = u64::from(selector & 0xFFF8);
        if !usable || off + 7 > u64::from(limit) {
            return Err(Fault::gp(selector & 0xFFFC));
        }
        Ok(base.wrapping_add(off) & 0xFFFF_FFFF)
    }

    /// Reads the descriptor named by `selector`.
    pub(crate) fn read_descriptor(&mut self, env: &mut Env, selector: u16) -> Result<(Descriptor, u64), Fault> {
        let addr = self.descriptor_addr(selector)?;
        let raw = self.read_sys(env, addr, 8)?;
        Ok((Descriptor(raw), addr))
    }

    /// Sets the accessed bit of a code/data descriptor in its table, as the
    /// CPU does on every load of a descriptor that lacks it.
    pub(crate) fn mark_accessed(&mut self, env: &mut Env, addr: u64, d: Descriptor) -> Result<Descriptor, Fault> {
        if d.is_segment() && d.0 & (1 << 40) == 0 {
            let byte = ((d.0 >> 40) as u8) | 1;
            self.write_sys(env, addr + 5, 1, u64::from(byte))?;
            return Ok(Descriptor(d.0 | (1 << 40)));
        }
        Ok(d)
    }

    /// MOV/POP/LDS.. into a data segment register or SS, with the checks of
    /// the current mode. CS is loaded by far transfers, not here.
    pub(crate) fn load_seg(&mut self, env: &mut Env, seg: usize, selector: u16) -> Result<(), Fault> {
        debug_assert_ne!(seg, sreg::CS);
        if !self.state.pmode() {
            let v86 = self.state.v86();
            let s = &mut self.state.seg[seg];
            if v86 {
                *s = Segment::real(selector, 0xFFFF, attr::REAL_DATA | (3 << attr::DPL_SHIFT));
            } else {
                // Real mode keeps the cached limit and size bits ("unreal
                // mode" depends on it).
                s.selector = selector;
                s.base = u64::from(selector) << 4;
                s.attr = (s.attr & (attr::G | attr::DB)) | attr::REAL_DATA;
            }
            return Ok(());
        }
        let cpl = self.state.cpl;
        let rpl = (selector & 3) as u8;
        if selector & 0xFFFC == 0 {
            if seg == sreg::SS {
                return Err(Fault::gp(0));
            }
            self.state.seg[seg] = Segment { selector, ..Segment::default() };
            return Ok(());
        }
        let (d, addr) = self.read_descriptor(env, selector)?;
        let code = selector & 0xFFFC;
        if seg == sreg::SS {
            if rpl != cpl || !d.writable() || d.dpl() != cpl {
                return Err(Fault::gp(code));
            }
            if !d.present() {
                return Err(Fault::ss(code));
            }
        } else {
            if !d.readable() {
                return Err(Fault::gp(code));
            }
            if !d.conforming() && (rpl > d.dpl() || cpl > d.dpl()) {
                return Err(Fault::gp(code));
            }
            if !d.present() {
                return Err(Fault::np(code));
            }
        }
        let d = self.mark_accessed(env, addr, d)?;
        self.state.seg[seg] = d.segment(selector);
        Ok(())
    }

    /// Loads CS in real or V86 mode (far JMP/CALL/RET/IRET, interrupts).
    pub(crate) fn load_cs_real(&mut self, selector: u16) {
        let v86 = self.state.v86();
        let cs = &mut self.state.seg[sreg::CS];
        if v86 {
            *cs = Segment::real(selector, 0xFFFF, attr::REAL_DATA | (3 << attr::DPL_SHIFT));
        } else {
            cs.selector = selector;
            cs.base = u64::from(selector) << 4;
            // A real-mode CS is always a 16-bit segment.
            cs.attr = (cs.attr & attr::G) | attr::REAL_DATA;
        }
    }

    /// Loads CS from a checked code descriptor and makes `cpl` current.
    pub(crate) fn load_cs(&mut self, selector: u16, d: Descriptor, cpl: u8) {
        self.state.seg[sreg::CS] = d.segment((selector & 0xFFFC) | u16::from(cpl));
        self.set_cpl(cpl);
    }

    /// Changes the CPL (the TLB privilege class follows it).
    pub(crate) fn set_cpl(&mut self, cpl: u8) {
        self.state.cpl = cpl;
    }

    /// After a privilege drop (RET/IRET to an outer level): data segment
    /// registers the new CPL may not use become null (SDM "RET" operation).
    pub(crate) fn null_inaccessible_segments(&mut self) {
        let cpl = self.state.cpl;
        for seg in [sreg::ES, sreg::DS, sreg::FS, sreg::GS] {
            let s = self.state.seg[seg];
            let data_or_nonconforming = s.attr & attr::CODE == 0 || s.attr & attr::DC == 0;
            if s.attr != 0 && data_or_nonconforming && s.dpl() < cpl {
                self.state.seg[seg] = Segment { selector: 0, ..Segment::default() };
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn flat_code_descriptor_decodes() {
        let d = Descriptor(0x00CF_9A00_0000_FFFF);
        assert_eq!(d.base(), 0);
        assert_eq!(d.limit(), 0xFFFF_FFFF);
        assert!(d.is_code() && d.readable() && !d.conforming() && d.present());
        assert_eq!(d.attr() & attr::DB, attr::DB);
        let d = Descriptor(0x0080_9312_3456_0000 | 0x1FF);
        assert_eq!(d.base(), 0x12_3456);
        assert!(d.writable());
        assert_eq!(d.limit(), (0x1FF << 12) | 0xFFF);
    }
}
