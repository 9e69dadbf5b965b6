//! Hardware task switching (SDM vol. 3A ch. 7, in particular 7.3 "Task
//! Switching" and table 7-1 for the order of the checks).
//!
//! A switch has two halves. Everything up to the commit point (the new TSS
//! descriptor, its limit, reading the whole new TSS, making sure the old
//! TSS and the descriptors can be written) faults in the context of the old
//! task, leaving its state untouched. After the commit the old state is
//! saved, TR, CR3, EFLAGS, the general registers and the selectors come
//! from the new TSS, and the checks of LDTR and the segment registers fault
//! in the context of the new task (SDM 7.3 step 12): those faults are
//! delivered from here, against the new task's first instruction.

use crate::{
    fault::{selector_code, Fault},
    segment::{sys, Descriptor},
    state::{attr, cr0, fl, sreg, Segment},
    Cpu, Env,
};

/// What caused a task switch: decides busy bits, NT and the back link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SwitchReason {
    Jmp,
    Call,
    Interrupt,
    Iret,
}

/// Minimum limits of a 32-bit and a 16-bit TSS (SDM 7.2.2, 7.6).
const TSS32_MIN_LIMIT: u32 = 0x67;
const TSS16_MIN_LIMIT: u32 = 0x2B;
/// The debug trap bit of a 32-bit TSS (byte 0x64, bit 0).
const TSS32_TRAP: u64 = 0x64;
/// DR6.BT: the #DB was raised by a task switch to a task with T set.
const DR6_BT: u64 = 1 << 15;
/// DR7.L0-L3 and LE, cleared by every task switch.
const DR7_LOCAL: u64 = 0x55 | 1 << 8;
/// Busy bit of a TSS type (in descriptor byte 5 and in `attr`).
const BUSY: u8 = 0x2;

/// Field offsets of the two TSS formats (SDM figures 7-2 and 7-11).
struct Layout {
    ip: u64,
    flags: u64,
    /// EAX.., each `width` bytes apart.
    gpr: u64,
    /// ES, CS, SS, DS (, FS, GS), each `width` bytes apart.
    seg: u64,
    nseg: usize,
    ldt: u64,
    width: u8,
}

const TSS32: Layout = Layout { ip: 0x20, flags: 0x24, gpr: 0x28, seg: 0x48, nseg: 6, ldt: 0x60, width: 4 };
const TSS16: Layout = Layout { ip: 0x0E, flags: 0x10, gpr: 0x12, seg: 0x22, nseg: 4, ldt: 0x2A, width: 2 };

fn layout(tss32: bool) -> &'static Layout {
    if tss32 {
        &TSS32
    } else {
        &TSS16
    }
}

/// The new task's state, read in full before anything changes.
#[derive(Default)]
struct Image {
    cr3: u64,
    eip: u64,
    eflags: u32,
    gpr: [u64; 8],
    seg: [u16; 6],
    ldt: u16,
    trap: bool,
}

impl Cpu {
    /// Switches to the task named by `selector`, a TSS descriptor in the
    /// GDT (reached directly or through a task gate). `code` is the error
    /// code of an exception delivered through a task gate: it is pushed on
    /// the new task's stack.
    ///
    /// Faults before the commit point are returned (the old task sees
    /// them); faults after it are delivered here, in the new task.
    pub(crate) fn task_switch(
        &mut self,
        env: &mut Env,
        selector: u16,
        reason: SwitchReason,
        ext: bool,
        code: Option<u32>,
    ) -> Result<(), Fault> {
        self.end_block = true;
        let err = selector_code(selector, ext);
        // IRET reports a bad back link as #TS; the others as #GP.
        let bad = |e| if reason == SwitchReason::Iret { Fault::ts(e) } else { Fault::gp(e) };
        if selector & 4 != 0 {
            return Err(bad(err));
        }
        let (d, d_addr) = self.read_descriptor(env, selector).map_err(|_| bad(err))?;
        let ty = d.sys_type();
        let want_busy = reason == SwitchReason::Iret;
        let is_tss = !d.is_segment() && matches!(ty, sys::TSS16_AVAIL | sys::TSS32_AVAIL | sys::TSS16_BUSY | sys::TSS32_BUSY);
        if !is_tss || (ty & BUSY != 0) != want_busy {
            return Err(bad(err));
        }
        if !d.present() {
            return Err(Fault::np(err));
        }
        let new32 = ty & 0x8 != 0;
        let min = if new32 { TSS32_MIN_LIMIT } else { TSS16_MIN_LIMIT };
        if d.limit() < min {
            return Err(Fault::ts(err));
        }
        let img = self.read_tss(env, d.base(), new32)?;

        // Make sure every write below can complete before changing state.
        let old = self.state.tr;
        let old32 = old.attr & 0x8 != 0;
        let old_l = layout(old32);
        let old_end = old_l.seg + old_l.nseg as u64 * u64::from(old_l.width) - 1;
        if u64::from(old.limit) < old_end {
            return Err(Fault::ts(selector_code(old.selector, ext)));
        }
        let save_first = old.base.wrapping_add(old_l.ip);
        let save_len = (old_end + 1 - old_l.ip) as usize;
        self.probe_write(env, save_first, save_len, false)?;
        // A TR never loaded (selector 0) has no descriptor to update.
        let old_d_addr = if old.selector & 0xFFFC != 0 { self.descriptor_addr(old.selector).ok() } else { None };
        if matches!(reason, SwitchReason::Jmp | SwitchReason::Iret) {
            if let Some(a) = old_d_addr {
                self.probe_write(env, a + 5, 1, false)?;
            }
        }
        let nested = matches!(reason, SwitchReason::Call | SwitchReason::Interrupt);
        if nested {
            self.probe_write(env, d.base() & 0xFFFF_FFFF, 2, false)?;
        }
        if reason != SwitchReason::Iret {
            self.probe_write(env, d_addr + 5, 1, false)?;
        }

        // Commit: from here on the old task is saved and gone.
        let mut old_flags = self.state.flags();
        if reason == SwitchReason::Iret {
            old_flags &= !fl::NT;
        }
        self.save_tss(env, old.base, old32, old_flags)?;
        if matches!(reason, SwitchReason::Jmp | SwitchReason::Iret) {
            if let Some(a) = old_d_addr {
                let b = self.read_sys(env, a + 5, 1)?;
                self.write_sys(env, a + 5, 1, b & !u64::from(BUSY))?;
            }
        }
        let mut new_flags = img.eflags;
        if nested {
            self.write_sys(env, d.base() & 0xFFFF_FFFF, 2, u64::from(old.selector))?;
            new_flags |= fl::NT;
        }
        let d = Descriptor(d.0 | (u64::from(BUSY) << 40));
        if reason != SwitchReason::Iret {
            self.write_sys(env, d_addr + 5, 1, (d.0 >> 40) & 0xFF)?;
        }
        self.state.tr = d.segment(selector);
        self.state.cr0 |= cr0::TS;
        // The local breakpoint enables belong to the old task (SDM 17.2.4).
        self.state.dr[7] &= !DR7_LOCAL;
        if new32 && self.state.cr0 & cr0::PG != 0 {
            self.state.cr3 = img.cr3;
            self.tlb.flush_nonglobal();
        }
        self.state.set_flags(new_flags);
        // A 16-bit TSS leaves the upper words undefined (SDM 7.6); they
        // read as ones, as in Bochs.
        let upper = if new32 { 0 } else { 0xFFFF_0000 };
        for (r, v) in self.state.gpr[..8].iter_mut().zip(img.gpr) {
            *r = v | upper;
        }
        self.state.rip = img.eip;
        for (s, &sel) in self.state.seg.iter_mut().zip(&img.seg) {
            *s = Segment { selector: sel, ..Segment::default() };
        }
        self.state.ldtr = Segment { selector: img.ldt, ..Segment::default() };

        if let Err(f) = self.load_task_segments(env, &img, ext) {
            self.exception(env, f);
            return Ok(());
        }
        if let Some(c) = code {
            // The error code of an exception handled by a task goes on the
            // new task's stack (Linux's double-fault task reads it there).
            let size = if new32 { 4 } else { 2 };
            if let Err(f) = self.push(env, size, u64::from(c)) {
                self.exception(env, f);
                return Ok(());
            }
        }
        if self.state.rip > u64::from(self.state.seg[sreg::CS].limit) {
            self.exception(env, Fault::gp(0));
            return Ok(());
        }
        if img.trap {
            self.state.dr[6] |= DR6_BT;
            self.exception(env, Fault::DB);
        }
        Ok(())
    }

    /// Reads the state a task switch loads from the TSS at `base`.
    fn read_tss(&mut self, env: &mut Env, base: u64, tss32: bool) -> Result<Image, Fault> {
        let l = layout(tss32);
        let w = l.width;
        let at = |off: u64| base.wrapping_add(off) & 0xFFFF_FFFF;
        let mut img = Image::default();
        if tss32 {
            img.cr3 = self.read_sys(env, at(0x1C), 4)?;
            img.trap = self.read_sys(env, at(TSS32_TRAP), 1)? & 1 != 0;
        }
        img.eip = self.read_sys(env, at(l.ip), w)?;
        img.eflags = self.read_sys(env, at(l.flags), w)? as u32;
        for n in 0..8 {
            img.gpr[n] = self.read_sys(env, at(l.gpr + n as u64 * u64::from(w)), w)?;
        }
        for n in 0..l.nseg {
            img.seg[n] = self.read_sys(env, at(l.seg + n as u64 * u64::from(w)), 2)? as u16;
        }
        img.ldt = self.read_sys(env, at(l.ldt), 2)? as u16;
        Ok(img)
    }

    /// Saves the dynamic fields of the current task into its TSS.
    fn save_tss(&mut self, env: &mut Env, base: u64, tss32: bool, flags: u32) -> Result<(), Fault> {
        let l = layout(tss32);
        let w = l.width;
        let at = |off: u64| base.wrapping_add(off) & 0xFFFF_FFFF;
        self.write_sys(env, at(l.ip), w, self.state.rip)?;
        self.write_sys(env, at(l.flags), w, u64::from(flags))?;
        for n in 0..8 {
            self.write_sys(env, at(l.gpr + n as u64 * u64::from(w)), w, self.state.gpr[n])?;
        }
        for n in 0..l.nseg {
            let sel = self.state.seg[n].selector;
            self.write_sys(env, at(l.seg + n as u64 * u64::from(w)), w, u64::from(sel))?;
        }
        Ok(())
    }

    /// Loads LDTR and the segment registers of the new task with their
    /// checks (#TS, #NP, #SS with the selector as error code). The order is
    /// LDTR, SS, the data segments, CS, as Bochs does; until SS is valid
    /// the CPL is 3, so that a fault on the way is delivered on an inner
    /// stack from the new TSS rather than on the unusable SS.
    fn load_task_segments(&mut self, env: &mut Env, img: &Image, ext: bool) -> Result<(), Fault> {
        let ts = |sel: u16| Fault::ts(selector_code(sel, ext));
        self.set_cpl(3);
        if img.ldt & 0xFFFC != 0 {
            let sel = img.ldt;
            if sel & 4 != 0 {
                return Err(ts(sel));
            }
            let (d, _) = self.read_descriptor(env, sel).map_err(|_| ts(sel))?;
            if d.is_segment() || d.sys_type() != sys::LDT || !d.present() {
                return Err(ts(sel));
            }
            self.state.ldtr = d.segment(sel);
        }
        if self.state.v86() {
            for (s, &sel) in self.state.seg.iter_mut().zip(&img.seg) {
                *s = Segment::real(sel, 0xFFFF, attr::REAL_DATA | (3 << attr::DPL_SHIFT));
            }
            return Ok(());
        }

        let cs = img.seg[sreg::CS];
        let cpl = (cs & 3) as u8;
        let ss = img.seg[sreg::SS];
        if ss & 0xFFFC == 0 {
            return Err(ts(ss));
        }
        let (d, addr) = self.read_descriptor(env, ss).map_err(|_| ts(ss))?;
        if !d.writable() {
            return Err(ts(ss));
        }
        if !d.present() {
            return Err(Fault::ss(selector_code(ss, ext)));
        }
        if d.dpl() != cpl || (ss & 3) as u8 != cpl {
            return Err(ts(ss));
        }
        let d = self.mark_accessed(env, addr, d)?;
        self.state.seg[sreg::SS] = d.segment(ss);
        self.set_cpl(cpl);

        for seg in [sreg::DS, sreg::ES, sreg::FS, sreg::GS] {
            let sel = img.seg[seg];
            if sel & 0xFFFC == 0 {
                continue;
            }
            let (d, addr) = self.read_descriptor(env, sel).map_err(|_| ts(sel))?;
            let rpl = (sel & 3) as u8;
            if !d.readable() || (!d.conforming() && (d.dpl() < cpl || d.dpl() < rpl)) {
                return Err(ts(sel));
            }
            if !d.present() {
                return Err(Fault::np(selector_code(sel, ext)));
            }
            let d = self.mark_accessed(env, addr, d)?;
            self.state.seg[seg] = d.segment(sel);
        }

        if cs & 0xFFFC == 0 {
            return Err(ts(cs));
        }
        let (d, addr) = self.read_descriptor(env, cs).map_err(|_| ts(cs))?;
        let dpl_ok = if d.conforming() { d.dpl() <= cpl } else { d.dpl() == cpl };
        if !d.is_code() || !dpl_ok {
            return Err(ts(cs));
        }
        if !d.present() {
            return Err(Fault::np(selector_code(cs, ext)));
        }
        let d = self.mark_accessed(env, addr, d)?;
        self.load_cs(cs, d, cpl);
        Ok(())
    }
}

/// Descriptor tables for the tests of far transfers, interrupts and task
/// switches: a GDT with TSSs and gates, an IDT, and a current task.
#[cfg(test)]
pub(crate) mod fixture {
    use crate::state::{sreg, TableReg};
    use crate::testing::{TestMachine, GDT, STACK_TOP};

    pub const GDT2: u64 = 0x1000;
    pub const IDT: u64 = 0x2000;
    /// The current task's TSS (32-bit, busy, TR).
    pub const TSS_A: u16 = 0x38;
    pub const TSS_A_BASE: u64 = 0x3000;
    /// A second 32-bit task, available.
    pub const TSS_B: u16 = 0x40;
    pub const TSS_B_BASE: u64 = 0x3100;
    /// A 32-bit call gate, DPL 3, to CODE32:HANDLER with two parameters.
    pub const CALL_GATE: u16 = 0x48;
    /// A task gate to TSS_B, DPL 3.
    pub const TASK_GATE: u16 = 0x50;
    /// The double-fault task, available.
    pub const TSS_DF: u16 = 0x58;
    pub const TSS_DF_BASE: u64 = 0x3200;
    /// A call gate with DPL 0.
    pub const GATE_DPL0: u16 = 0x60;
    /// First free selector for a test's own descriptors.
    pub const FREE: u16 = 0x68;
    pub const GDT2_ENTRIES: usize = 16;
    /// Ring-0 stack of the current task (SS0:ESP0 = DATA32:ESP0).
    pub const ESP0: u64 = 0x7_0000;
    /// Where the tests put ring-0 handlers.
    pub const HANDLER: u64 = 0x2_0000;

    /// A code/data descriptor: `access` is descriptor byte 5 (P, DPL, S,
    /// type), `flags` the high nibble of byte 6 (G, D/B, L, AVL).
    pub fn seg(base: u32, limit: u32, access: u8, flags: u8) -> u64 {
        let (base, limit) = (u64::from(base), u64::from(limit));
        (limit & 0xFFFF)
            | (base & 0xFF_FFFF) << 16
            | u64::from(access) << 40
            | ((limit >> 16) & 0xF) << 48
            | u64::from(flags & 0xF) << 52
            | (base >> 24) << 56
    }

    /// A gate: `access` is byte 5 (P, DPL, type); `params` the call-gate
    /// parameter count.
    pub fn gate(selector: u16, offset: u32, access: u8, params: u8) -> u64 {
        let off = u64::from(offset);
        (off & 0xFFFF) | u64::from(selector) << 16 | u64::from(params & 0x1F) << 32 | u64::from(access) << 40 | (off >> 16) << 48
    }

    /// Writes descriptor `d` for `selector` into the test GDT.
    pub fn set_desc(m: &mut TestMachine, selector: u16, d: u64) {
        m.mem.write(GDT2 + u64::from(selector & 0xFFF8), &d.to_le_bytes());
    }

    pub fn desc(m: &TestMachine, selector: u16) -> u64 {
        let b = m.read_phys(GDT2 + u64::from(selector & 0xFFF8), 8);
        u64::from_le_bytes(b.try_into().unwrap_or_default())
    }

    pub fn w32(m: &mut TestMachine, addr: u64, v: u32) {
        m.mem.write(addr, &v.to_le_bytes());
    }

    pub fn w16(m: &mut TestMachine, addr: u64, v: u16) {
        m.mem.write(addr, &v.to_le_bytes());
    }

    pub fn r16(m: &TestMachine, addr: u64) -> u16 {
        let b = m.read_phys(addr, 2);
        u16::from_le_bytes([b[0], b[1]])
    }

    /// Fills a 32-bit TSS with a flat ring-0 task starting at `eip`.
    pub fn tss32(m: &mut TestMachine, base: u64, eip: u32, esp: u32) {
        m.mem.write(base, &[0; 0x68]);
        w32(m, base + 4, ESP0 as u32);
        w32(m, base + 8, 0x10);
        w32(m, base + 0x20, eip);
        w32(m, base + 0x24, 0x2);
        w32(m, base + 0x38, esp);
        for (n, s) in [0x10u32, 0x08, 0x10, 0x10, 0x10, 0x10].into_iter().enumerate() {
            w32(m, base + 0x48 + n as u64 * 4, s);
        }
        // No I/O bitmap: the map base lies beyond the limit.
        w16(m, base + 0x66, 0x68);
    }

    /// Flat 32-bit protected mode at CPL 0 with the bigger GDT, an empty
    /// IDT (all gates not present) and TR = TSS_A.
    pub fn machine() -> TestMachine {
        let mut m = TestMachine::flat32();
        for (n, d) in GDT.iter().enumerate() {
            m.mem.write(GDT2 + n as u64 * 8, &d.to_le_bytes());
        }
        set_desc(&mut m, TSS_A, seg(TSS_A_BASE as u32, 0x67, 0x8B, 0));
        set_desc(&mut m, TSS_B, seg(TSS_B_BASE as u32, 0x67, 0x89, 0));
        set_desc(&mut m, CALL_GATE, gate(0x08, HANDLER as u32, 0xEC, 2));
        set_desc(&mut m, TASK_GATE, gate(TSS_B, 0, 0xE5, 0));
        set_desc(&mut m, TSS_DF, seg(TSS_DF_BASE as u32, 0x67, 0x89, 0));
        set_desc(&mut m, GATE_DPL0, gate(0x08, HANDLER as u32, 0x8C, 0));
        tss32(&mut m, TSS_A_BASE, 0, 0);
        // Handlers are NOP slides: a fault's handler runs one NOP within
        // the budget of the instruction that faulted.
        m.load(HANDLER, &[0x90; 0x1000]);
        let s = &mut m.cpu.state;
        s.gdtr = TableReg { base: GDT2, limit: (GDT2_ENTRIES * 8 - 1) as u32 };
        s.idtr = TableReg { base: IDT, limit: 0x7FF };
        s.tr = crate::segment::Descriptor(seg(TSS_A_BASE as u32, 0x67, 0x8B, 0)).segment(TSS_A);
        s.gpr[4] = STACK_TOP;
        m
    }

    /// Switches the machine to flat ring 3 (CS 0x2B, data 0x33).
    pub fn to_ring3(m: &mut TestMachine) {
        m.load_segments(crate::testing::sel::CODE32_USER, crate::testing::sel::DATA32_USER);
        debug_assert_eq!(m.cpu.state.seg[sreg::CS].selector, 0x2B);
    }

    /// Installs a 32-bit interrupt gate in the fixture's IDT.
    pub fn int_gate(m: &mut TestMachine, vector: u8, handler: u64, dpl: u8) {
        m.set_int_gate(IDT, vector, handler as u32, dpl);
        m.cpu.state.idtr.limit = 0x7FF;
    }
}

#[cfg(test)]
mod tests {
    use super::fixture::*;
    use crate::state::{cr0, fl, sreg};
    use crate::testing::{TestMachine, CODE_BASE, STACK_TOP};

    const TYPE_BUSY32: u64 = 0x8B;
    const TYPE_AVAIL32: u64 = 0x89;

    fn access(m: &TestMachine, sel: u16) -> u64 {
        (desc(m, sel) >> 40) & 0xFF
    }

    fn task_b(m: &mut TestMachine, eip: u64) {
        tss32(m, TSS_B_BASE, eip as u32, 0x6_0000);
        w32(m, TSS_B_BASE + 0x28, 0x1234);
    }

    #[test]
    fn jmp_to_tss_switches_tasks() {
        let mut m = machine();
        task_b(&mut m, HANDLER);
        m.cpu.state.gpr[0] = 0xAAAA;
        // jmp far 0040:0
        m.load_code(&[0xEA, 0, 0, 0, 0, 0x40, 0x00]);
        m.run(1);
        let s = &m.cpu.state;
        assert_eq!((s.tr.selector, s.tr.base), (TSS_B, TSS_B_BASE));
        assert_eq!((s.rip, s.gpr[0], s.gpr[4]), (HANDLER, 0x1234, 0x6_0000));
        assert_eq!(s.seg[sreg::CS].selector, 0x08);
        assert_eq!(s.seg[sreg::SS].limit, 0xFFFF_FFFF);
        assert_ne!(s.cr0 & cr0::TS, 0, "a task switch sets CR0.TS");
        assert_eq!(s.eflags & u64::from(fl::NT), 0, "JMP does not nest");
        // The old task's state was saved with EIP after the JMP.
        assert_eq!(m.read_u32(TSS_A_BASE + 0x20), (CODE_BASE + 7) as u32);
        assert_eq!(m.read_u32(TSS_A_BASE + 0x28), 0xAAAA);
        assert_eq!(m.read_u32(TSS_A_BASE + 0x38), STACK_TOP as u32);
        assert_eq!(m.read_u32(TSS_A_BASE + 0x4C), 0x08);
        assert_eq!(access(&m, TSS_A), TYPE_AVAIL32, "JMP frees the old task");
        assert_eq!(access(&m, TSS_B), TYPE_BUSY32);
        assert_eq!(r16(&m, TSS_B_BASE), 0, "no back link");
    }

    #[test]
    fn call_through_task_gate_nests_and_iret_returns() {
        let mut m = machine();
        task_b(&mut m, HANDLER + 0x200);
        m.load(HANDLER + 0x200, &[0xCF]); // iretd
        m.cpu.state.gpr[0] = 0xAAAA;
        // call far 0050:0 (task gate, DPL 3)
        m.load_code(&[0x9A, 0, 0, 0, 0, 0x50, 0x00]);
        m.run(1);
        let s = &m.cpu.state;
        assert_eq!((s.tr.selector, s.rip, s.gpr[0]), (TSS_B, HANDLER + 0x200, 0x1234));
        assert_ne!(s.eflags & u64::from(fl::NT), 0, "CALL sets NT");
        assert_eq!(r16(&m, TSS_B_BASE), TSS_A, "back link to the caller");
        assert_eq!(access(&m, TSS_A), TYPE_BUSY32, "the caller stays busy");
        assert_eq!(access(&m, TSS_B), TYPE_BUSY32);

        m.run(1);
        let s = &m.cpu.state;
        assert_eq!((s.tr.selector, s.rip, s.gpr[0]), (TSS_A, CODE_BASE + 7, 0xAAAA));
        assert_eq!(s.gpr[4], STACK_TOP);
        assert_eq!(s.eflags & u64::from(fl::NT), 0);
        assert_eq!(access(&m, TSS_B), TYPE_AVAIL32, "IRET frees the nested task");
        assert_eq!(access(&m, TSS_A), TYPE_BUSY32);
        assert_eq!(m.read_u32(TSS_B_BASE + 0x20), (HANDLER + 0x201) as u32);
        assert_eq!(m.read_u32(TSS_B_BASE + 0x24) & fl::NT, 0, "NT cleared in the saved EFLAGS");
    }

    #[test]
    fn busy_tss_is_gp() {
        let mut m = machine();
        int_gate(&mut m, 13, HANDLER + 0x100, 0);
        // jmp far 0038:0 (the current, busy task)
        m.load_code(&[0xEA, 0, 0, 0, 0, 0x38, 0x00]);
        m.run(2); // the delivery, then one handler instruction
        assert_eq!(m.cpu.state.tr.selector, TSS_A);
        assert_eq!(m.cpu.state.rip, HANDLER + 0x101);
        assert_eq!(m.read_u32(STACK_TOP - 16), u32::from(TSS_A));
    }

    #[test]
    fn double_fault_through_task_gate_pushes_error_code() {
        let mut m = machine();
        // #GP and #NP gates not present: #GP -> #NP -> #DF.
        w32(&mut m, IDT + 8 * 8, 0);
        m.mem.write(IDT + 8 * 8, &gate(TSS_DF, 0, 0x85, 0).to_le_bytes());
        tss32(&mut m, TSS_DF_BASE, (HANDLER + 0x300) as u32, 0x5_0000);
        // jmp far 0000:0 (#GP(0))
        m.load_code(&[0xEA, 0, 0, 0, 0, 0x00, 0x00]);
        m.run(2); // the delivery, then one handler instruction
        let s = &m.cpu.state;
        assert_eq!(s.tr.selector, TSS_DF);
        assert_eq!(s.rip, HANDLER + 0x301);
        assert_eq!(s.gpr[4], 0x5_0000 - 4, "the error code is on the new task's stack");
        assert_eq!(m.read_u32(0x5_0000 - 4), 0);
        assert_ne!(s.eflags & u64::from(fl::NT), 0);
        assert_eq!(r16(&m, TSS_DF_BASE), TSS_A);
        assert_eq!(m.read_u32(TSS_A_BASE + 0x20), CODE_BASE as u32, "the faulting EIP is saved");
        assert!(m.cpu.shutdown.is_none());
    }

    #[test]
    fn segment_fault_after_commit_is_in_new_task() {
        let mut m = machine();
        task_b(&mut m, 0x40_0000);
        // A ring-3 task whose DS is a ring-0 data segment.
        w32(&mut m, TSS_B_BASE + 0x4C, 0x2B);
        w32(&mut m, TSS_B_BASE + 0x50, 0x33);
        w32(&mut m, TSS_B_BASE + 0x54, 0x10);
        int_gate(&mut m, 10, HANDLER + 0x100, 0);
        m.load_code(&[0xEA, 0, 0, 0, 0, 0x40, 0x00]);
        m.run(1);
        let s = &m.cpu.state;
        assert_eq!(s.tr.selector, TSS_B, "the switch was committed");
        // The JMP retired; the #TS was delivered as part of it.
        assert_eq!(s.rip, HANDLER + 0x100);
        // #TS went through the new task's TSS to its ring-0 stack.
        let sp = ESP0 - 24;
        assert_eq!(s.gpr[4], sp);
        let frame: Vec<u32> = (0..6).map(|k| m.read_u32(sp + k * 4)).collect();
        assert_eq!(frame[..3], [0x10, 0x40_0000, 0x2B]);
        assert_eq!(frame[4..], [0x6_0000, 0x33]);
    }

    #[test]
    fn trap_bit_raises_debug_trap_in_new_task() {
        let mut m = machine();
        task_b(&mut m, HANDLER + 0x200);
        m.mem.write(TSS_B_BASE + 0x64, &[1]);
        int_gate(&mut m, 1, HANDLER + 0x100, 0);
        m.load_code(&[0xEA, 0, 0, 0, 0, 0x40, 0x00]);
        m.run(1);
        let s = &m.cpu.state;
        assert_eq!(s.rip, HANDLER + 0x100);
        assert_ne!(s.dr[6] & (1 << 15), 0, "DR6.BT");
        assert_eq!(m.read_u32(0x6_0000 - 12), (HANDLER + 0x200) as u32, "#DB before the first instruction");
    }

    #[test]
    fn jmp_to_16bit_tss_with_ldt() {
        let mut m = machine();
        let tss16 = FREE;
        let ldt = FREE + 8;
        set_desc(&mut m, tss16, seg(0x3400, 0x2B, 0x81, 0));
        set_desc(&mut m, ldt, seg(0x6000, 0x0F, 0x82, 0));
        // LDT entry 1: 16-bit code, base 0x10000 (selector 0x0C).
        m.mem.write(0x6008, &seg(0x1_0000, 0xFFFF, 0x9A, 0).to_le_bytes());
        let b = 0x3400;
        m.mem.write(b, &[0; 0x2C]);
        for (off, v) in [
            (0x0E, 0x40),
            (0x10, 0x0003),
            (0x12, 0x1111),
            (0x1A, 0x8000),
            (0x22, 0x20),
            (0x24, 0x0C),
            (0x26, 0x20),
            (0x28, 0x20),
            (0x2A, ldt),
        ] {
            w16(&mut m, b + off, v);
        }
        m.cpu.state.gpr[0] = 0xABCD_0000;
        m.load_code(&[0xEA, 0, 0, 0, 0, tss16 as u8, 0x00]);
        m.run(1);
        let s = &m.cpu.state;
        assert_eq!((s.tr.selector, s.tr.attr & 0xF), (tss16, 0x3), "a busy 16-bit TSS");
        assert_eq!((s.ldtr.selector, s.ldtr.base), (ldt, 0x6000));
        assert_eq!((s.seg[sreg::CS].selector, s.seg[sreg::CS].base, s.rip), (0x0C, 0x1_0000, 0x40));
        assert!(!s.code32());
        assert_eq!(s.flags(), fl::CF | fl::FIXED);
        assert_eq!(s.gpr[0], 0xFFFF_1111, "a 16-bit TSS loads the low words");
        assert_eq!(s.gpr[4] & 0xFFFF, 0x8000);
        assert_eq!((s.seg[sreg::FS].selector, s.seg[sreg::FS].attr), (0, 0));
        assert_eq!(s.seg[sreg::DS].limit, 0xFFFF);
        assert_ne!(desc_at(&m, 0x6008) & (1 << 40), 0, "CS accessed bit set in the LDT");
        assert_eq!(m.read_u32(TSS_A_BASE + 0x20), (CODE_BASE + 7) as u32);
    }

    fn desc_at(m: &TestMachine, addr: u64) -> u64 {
        let b = m.read_phys(addr, 8);
        u64::from_le_bytes(b.try_into().unwrap_or_default())
    }

    #[test]
    fn not_present_tss_is_np_and_changes_nothing() {
        let mut m = machine();
        task_b(&mut m, HANDLER);
        set_desc(&mut m, TSS_B, seg(TSS_B_BASE as u32, 0x67, 0x09, 0));
        int_gate(&mut m, 11, HANDLER + 0x100, 0);
        m.cpu.state.gpr[0] = 0xAAAA;
        m.load_code(&[0xEA, 0, 0, 0, 0, 0x40, 0x00]);
        m.run(2); // the delivery, then one handler instruction
        let s = &m.cpu.state;
        assert_eq!((s.tr.selector, s.gpr[0], s.rip), (TSS_A, 0xAAAA, HANDLER + 0x101));
        assert_eq!(m.read_u32(STACK_TOP - 16), u32::from(TSS_B));
        assert_eq!(m.read_u32(TSS_A_BASE + 0x28), 0, "the old task was not saved");
    }

    #[test]
    fn iret_with_nt_to_a_task_not_busy_is_ts() {
        let mut m = machine();
        task_b(&mut m, 0);
        int_gate(&mut m, 10, HANDLER + 0x100, 0);
        // The current task claims to be nested in TSS_B, which is not busy.
        w16(&mut m, TSS_A_BASE, TSS_B);
        m.cpu.state.set_flags(fl::NT);
        m.load_code(&[0xCF]);
        m.run(2); // the delivery, then one handler instruction
        let s = &m.cpu.state;
        assert_eq!((s.tr.selector, s.rip), (TSS_A, HANDLER + 0x101));
        assert_eq!(m.read_u32(STACK_TOP - 16), u32::from(TSS_B));
        assert_eq!(m.read_u32(STACK_TOP - 12), CODE_BASE as u32);
    }

    #[test]
    fn task_switch_with_paging_loads_cr3() {
        let mut m = machine();
        // Two page directories, each mapping the first 4 MiB with one
        // large page; the second also maps linear 4 MiB onto physical 0.
        let (pd_a, pd_b) = (0x9000u64, 0xA000u64);
        let pde = 0x87u32; // P, RW, US, PS
        w32(&mut m, pd_a, pde);
        w32(&mut m, pd_b, pde);
        w32(&mut m, pd_b + 4, pde);
        m.cpu.state.cr4 |= crate::state::cr4::PSE;
        m.cpu.state.cr3 = pd_a;
        m.cpu.state.cr0 |= cr0::PG;
        // Task B starts at linear 4 MiB + HANDLER, only mapped by its CR3.
        task_b(&mut m, 0x40_0000 + HANDLER);
        w32(&mut m, TSS_B_BASE + 0x1C, pd_b as u32);
        m.load_code(&[0xEA, 0, 0, 0, 0, 0x40, 0x00]);
        m.run(2);
        let s = &m.cpu.state;
        assert_eq!(s.cr3, pd_b);
        assert_eq!(s.rip, 0x40_0000 + HANDLER + 1, "the new task runs under its own CR3");
        assert_eq!(m.read_u32(TSS_A_BASE + 0x1C), 0, "CR3 is not saved in the old TSS");
    }
}
