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
        let is_tss = !d.is_segment() && matches!(ty & !BUSY, sys::TSS16_AVAIL | sys::TSS32_AVAIL);
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
        let save_first = old.base.wrapping_add(old_l.ip);
        let save_len = (old_l.seg + old_l.nseg as u64 * u64::from(old_l.width) - old_l.ip) as usize;
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
        if new32 && self.state.cr0 & cr0::PG != 0 {
            self.state.cr3 = img.cr3;
            self.tlb.flush_nonglobal();
        }
        self.state.set_flags(new_flags);
        if new32 {
            self.state.gpr[..8].copy_from_slice(&img.gpr);
        } else {
            for (r, v) in self.state.gpr[..8].iter_mut().zip(img.gpr) {
                *r = (*r & !0xFFFF) | v;
            }
        }
        self.state.rip = img.eip;
        for (s, &sel) in self.state.seg.iter_mut().zip(&img.seg) {
            *s = Segment { selector: sel, ..Segment::default() };
        }
        self.state.ldtr = Segment { selector: img.ldt, ..Segment::default() };
        self.set_cpl((img.seg[sreg::CS] & 3) as u8);

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
    /// checks (#TS, #NP, #SS with the selector as error code).
    fn load_task_segments(&mut self, env: &mut Env, img: &Image, ext: bool) -> Result<(), Fault> {
        let ts = |sel: u16| Fault::ts(selector_code(sel, ext));
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
            self.set_cpl(3);
            return Ok(());
        }

        let cs = img.seg[sreg::CS];
        let rpl = (cs & 3) as u8;
        if cs & 0xFFFC == 0 {
            return Err(ts(cs));
        }
        let (d, addr) = self.read_descriptor(env, cs).map_err(|_| ts(cs))?;
        let dpl_ok = if d.conforming() { d.dpl() <= rpl } else { d.dpl() == rpl };
        if !d.is_code() || !dpl_ok {
            return Err(ts(cs));
        }
        if !d.present() {
            return Err(Fault::np(selector_code(cs, ext)));
        }
        let d = self.mark_accessed(env, addr, d)?;
        self.load_cs(cs, d, rpl);
        let cpl = rpl;

        let ss = img.seg[sreg::SS];
        if ss & 0xFFFC == 0 {
            return Err(ts(ss));
        }
        let (d, addr) = self.read_descriptor(env, ss).map_err(|_| ts(ss))?;
        if (ss & 3) as u8 != cpl || !d.writable() || d.dpl() != cpl {
            return Err(ts(ss));
        }
        if !d.present() {
            return Err(Fault::ss(selector_code(ss, ext)));
        }
        let d = self.mark_accessed(env, addr, d)?;
        self.state.seg[sreg::SS] = d.segment(ss);

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
        Ok(())
    }
}
