//! Delivery of exceptions and interrupts (SDM vol. 3A ch. 6, 20.1.4,
//! 20.3): the real-mode IVT, protected-mode IDT gates with privilege
//! changes through the TSS, exits from virtual-8086 mode, INT n
//! redirection to the V86 program's own IVT under CR4.VME, task gates, and
//! the double-fault / triple-fault escalation.

use crate::{
    fault::{idt_code, selector_code, vector, Fault, FaultClass},
    segment::{sys, Descriptor},
    state::{cr4, fl, sreg, Segment},
    task::SwitchReason,
    Cpu, Env, Shutdown,
};

/// DR7.GD: general detect (a MOV DR raises #DB).
const DR7_GD: u64 = 1 << 13;

/// Where an interrupt came from: this decides the IDT gate DPL check, the
/// EXT bit of error codes and V86 handling.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum Source {
    /// An exception raised by an instruction or by delivery itself.
    Exception,
    /// An interrupt from the INTR line or NMI.
    External,
    /// INT n.
    Software,
    /// INT3 and INTO: software, but with exception-style V86 handling.
    SoftException,
    /// INT1 / ICEBP: like a hardware #DB (no gate DPL check).
    Icebp,
}

impl Source {
    /// EXT bit for error codes of faults during delivery.
    fn ext(self) -> bool {
        matches!(self, Source::Exception | Source::External | Source::Icebp)
    }
    /// Subject to the gate DPL >= CPL check.
    fn checks_gate_dpl(self) -> bool {
        matches!(self, Source::Software | Source::SoftException)
    }
}

/// Fault-class exceptions: their handlers return to the faulting
/// instruction (SDM table 6-1). #DB is left out: its pushed RF is the
/// handler's business.
fn is_fault(v: u8) -> bool {
    use vector::*;
    matches!(v, DE | BR | UD | NM | TS | NP | SS | GP | PF | MF | AC | XM)
}

/// Values an interrupt pushes, in push order; at most GS, FS, DS, ES, SS,
/// ESP, EFLAGS, CS, EIP and an error code. On the stack of the host, so
/// delivering an interrupt allocates nothing.
#[derive(Default)]
struct Frame {
    values: [u64; 10],
    len: usize,
}

impl Frame {
    fn push(&mut self, v: u64) {
        self.values[self.len] = v;
        self.len += 1;
    }
    fn as_slice(&self) -> &[u64] {
        &self.values[..self.len]
    }
}

impl Cpu {
    /// Delivers exception `f` raised with EIP at the faulting instruction
    /// (faults) or after it (traps), escalating to #DF and then to a triple
    /// fault (shutdown) as SDM table 6-5 prescribes.
    pub(crate) fn exception(&mut self, env: &mut Env, f: Fault) {
        self.icount += 1;
        log::debug!(
            "exception {} (code {:#x}) at {:04x}:{:08x}",
            f.vector,
            f.code,
            self.state.seg[sreg::CS].selector,
            self.state.rip
        );
        if f.vector == vector::DB {
            // Entering the #DB handler clears DR7.GD, so the handler may
            // use the debug registers itself (SDM 17.2.4).
            self.state.dr[7] &= !DR7_GD;
        }
        let mut cur = f;
        loop {
            let code = cur.has_code.then_some(cur.code);
            match self.interrupt(env, cur.vector, Source::Exception, code) {
                Ok(()) => return,
                Err(next) => {
                    let first = cur.class();
                    if first == FaultClass::DoubleFault {
                        log::warn!("triple fault at {:04x}:{:08x}", self.state.seg[sreg::CS].selector, self.state.rip);
                        self.shutdown = Some(Shutdown::TripleFault);
                        return;
                    }
                    let second = next.class();
                    let double = matches!(
                        (first, second),
                        (FaultClass::Contributory, FaultClass::Contributory)
                            | (FaultClass::PageFault, FaultClass::Contributory)
                            | (FaultClass::PageFault, FaultClass::PageFault)
                    );
                    cur = if double { Fault::with_code(vector::DF, 0) } else { next };
                }
            }
        }
    }

    /// Delivers an external interrupt (INTR or NMI).
    pub(crate) fn external_interrupt(&mut self, env: &mut Env, v: u8) {
        self.icount += 1;
        if let Err(f) = self.interrupt(env, v, Source::External, None) {
            self.exception(env, f);
        }
    }

    /// Software interrupts (INT n, INT3, INTO, INT1): returns a fault to be
    /// raised against the INT instruction itself.
    pub(crate) fn soft_interrupt(&mut self, env: &mut Env, v: u8, source: Source) -> Result<(), Fault> {
        self.interrupt(env, v, source, None)
    }

    /// Delivers vector `v`. On error nothing architectural has changed
    /// except memory written below the stack top.
    pub(crate) fn interrupt(&mut self, env: &mut Env, v: u8, source: Source, code: Option<u32>) -> Result<(), Fault> {
        self.halted = false;
        self.end_block = true;
        if !self.state.protected() {
            return self.interrupt_real(env, v);
        }
        if self.state.v86() && source == Source::Software {
            // SDM 20.3.3 table 20-2: with VME, a vector whose bit in the
            // TSS redirection bitmap is clear goes to the V86 program's
            // own IVT; otherwise IOPL < 3 makes INT n a #GP to the monitor.
            if self.state.cr4 & cr4::VME != 0 && self.vme_redirected(env, v)? {
                return self.interrupt_v86_redirect(env, v);
            }
            if self.state.iopl() < 3 {
                return Err(Fault::gp(0));
            }
        }
        self.interrupt_protected(env, v, source, code)
    }

    /// Whether INT `v` in V86 mode with CR4.VME is redirected: its bit in
    /// the 32-byte bitmap just below the I/O map base of the (32-bit) TSS
    /// is clear.
    fn vme_redirected(&mut self, env: &mut Env, v: u8) -> Result<bool, Fault> {
        let tr = self.state.tr;
        if tr.attr & 0xF != u16::from(sys::TSS32_BUSY) || tr.limit < 0x67 {
            return Err(Fault::gp(0));
        }
        let io_base = self.read_sys(env, tr.base.wrapping_add(0x66) & 0xFFFF_FFFF, 2)?;
        let byte = (io_base + u64::from(v / 8)).checked_sub(32).ok_or(Fault::gp(0))?;
        if byte > u64::from(tr.limit) {
            return Err(Fault::gp(0));
        }
        let bits = self.read_sys(env, tr.base.wrapping_add(byte) & 0xFFFF_FFFF, 1)?;
        Ok(bits & (1 << (v % 8)) == 0)
    }

    /// A VME-redirected INT n: delivered like a real-mode interrupt through
    /// the IVT at linear 0 of the V86 task. At IOPL < 3 the FLAGS image
    /// shows IOPL 3 and VIF in place of IF, and VIF is what gets cleared.
    fn interrupt_v86_redirect(&mut self, env: &mut Env, v: u8) -> Result<(), Fault> {
        let entry = self.read_lin::<4>(env, u64::from(v) * 4, true)?;
        let flags = self.state.flags();
        let iopl3 = self.state.iopl() == 3;
        let image = if iopl3 {
            flags
        } else {
            let vif = if flags & fl::VIF != 0 { fl::IF } else { 0 };
            (flags & !fl::IF) | vif | fl::IOPL
        };
        let cs = self.state.seg[sreg::CS].selector;
        let ip = self.state.rip;
        let sp = self.state.gpr[4];
        let pushed = self
            .push(env, 2, u64::from(image))
            .and_then(|_| self.push(env, 2, u64::from(cs)))
            .and_then(|_| self.push(env, 2, ip));
        if let Err(f) = pushed {
            self.state.gpr[4] = sp;
            return Err(f);
        }
        let cleared = if iopl3 { fl::IF | fl::TF | fl::RF } else { fl::VIF | fl::TF | fl::RF };
        self.state.set_flags(flags & !cleared);
        self.load_cs_real((entry >> 16) as u16);
        self.state.rip = entry & 0xFFFF;
        Ok(())
    }

    fn interrupt_real(&mut self, env: &mut Env, v: u8) -> Result<(), Fault> {
        let off = u64::from(v) * 4;
        if off + 3 > u64::from(self.state.idtr.limit) {
            return Err(Fault::gp(0));
        }
        let entry = self.read_lin::<4>(env, self.state.idtr.base.wrapping_add(off) & 0xFFFF_FFFF, false)?;
        let flags = self.state.flags();
        let cs = self.state.seg[sreg::CS].selector;
        let ip = self.state.rip;
        let sp = self.state.gpr[4];
        let pushed = self
            .push(env, 2, u64::from(flags))
            .and_then(|_| self.push(env, 2, u64::from(cs)))
            .and_then(|_| self.push(env, 2, ip));
        if let Err(f) = pushed {
            self.state.gpr[4] = sp;
            return Err(f);
        }
        self.state.set_flags(flags & !(fl::IF | fl::TF | fl::AC | fl::RF));
        self.load_cs_real((entry >> 16) as u16);
        self.state.rip = entry & 0xFFFF;
        Ok(())
    }

    fn interrupt_protected(&mut self, env: &mut Env, v: u8, source: Source, code: Option<u32>) -> Result<(), Fault> {
        let ext = source.ext();
        let idt_err = idt_code(v, ext);
        let off = u64::from(v) * 8;
        if off + 7 > u64::from(self.state.idtr.limit) {
            return Err(Fault::gp(idt_err));
        }
        let gate = Descriptor(self.read_sys(env, self.state.idtr.base.wrapping_add(off) & 0xFFFF_FFFF, 8)?);
        let ty = gate.sys_type();
        let valid = !gate.is_segment()
            && matches!(ty, sys::TASK_GATE | sys::INT_GATE16 | sys::TRAP_GATE16 | sys::INT_GATE32 | sys::TRAP_GATE32);
        if !valid {
            return Err(Fault::gp(idt_err));
        }
        if source.checks_gate_dpl() && gate.dpl() < self.state.cpl {
            return Err(Fault::gp(idt_err));
        }
        if !gate.present() {
            return Err(Fault::np(idt_err));
        }
        if ty == sys::TASK_GATE {
            // The error code goes on the new task's stack.
            return self.task_switch(env, gate.gate_selector(), SwitchReason::Interrupt, ext, code);
        }
        let gate32 = ty & 0x8 != 0;
        let size: u8 = if gate32 { 4 } else { 2 };
        let sel = gate.gate_selector();
        let sel_err = selector_code(sel, ext);
        if sel & 0xFFFC == 0 {
            return Err(Fault::gp(u16::from(ext)));
        }
        let (cd, cd_addr) = self.read_descriptor(env, sel).map_err(|_| Fault::gp(sel_err))?;
        let cpl = self.state.cpl;
        if !cd.is_code() || cd.dpl() > cpl {
            return Err(Fault::gp(sel_err));
        }
        if !cd.present() {
            return Err(Fault::np(sel_err));
        }
        let target = gate.gate_offset();
        if target > u64::from(cd.limit()) {
            return Err(Fault::gp(0));
        }
        let flags = self.state.flags();
        // The image pushed for a fault carries RF, so that the restarted
        // instruction does not hit its own code breakpoint again (SDM
        // 17.3.1.1); traps, aborts, #DB and interrupts push RF as it is.
        let image = if source == Source::Exception && is_fault(v) { flags | fl::RF } else { flags };
        let old_cs = self.state.seg[sreg::CS].selector;
        let old_ip = self.state.rip;
        let v86 = self.state.v86();

        let new_cpl;
        if !cd.conforming() && cd.dpl() < cpl {
            new_cpl = cd.dpl();
            if v86 && new_cpl != 0 {
                return Err(Fault::gp(sel_err));
            }
            let (ss_sel, esp) = self.tss_stack(env, new_cpl, ext)?;
            let ss = self.check_inner_stack(env, ss_sel, new_cpl, ext)?;
            let mut frame = Frame::default();
            if v86 {
                for s in [sreg::GS, sreg::FS, sreg::DS, sreg::ES] {
                    frame.push(u64::from(self.state.seg[s].selector));
                }
            }
            frame.push(u64::from(self.state.seg[sreg::SS].selector));
            frame.push(self.state.gpr[4] & 0xFFFF_FFFF);
            for x in [u64::from(image), u64::from(old_cs), old_ip] {
                frame.push(x);
            }
            if let Some(c) = code {
                frame.push(u64::from(c));
            }
            let new_sp = self.push_frame(env, &ss, esp, size, frame.as_slice(), ss_sel, ext)?;
            // Committed: nothing below can fault.
            let _ = self.mark_accessed(env, cd_addr, cd);
            self.state.seg[sreg::SS] = ss;
            self.set_sp_for(&ss, new_sp);
            if v86 {
                for s in [sreg::ES, sreg::DS, sreg::FS, sreg::GS] {
                    self.state.seg[s] = Segment::default();
                }
            }
        } else if cd.conforming() || cd.dpl() == cpl {
            if v86 {
                return Err(Fault::gp(sel_err));
            }
            new_cpl = cpl;
            let mut frame = Frame::default();
            for x in [u64::from(image), u64::from(old_cs), old_ip] {
                frame.push(x);
            }
            if let Some(c) = code {
                frame.push(u64::from(c));
            }
            let ss = self.state.seg[sreg::SS];
            let new_sp = self.push_frame(env, &ss, self.state.gpr[4], size, frame.as_slice(), 0, ext)?;
            let _ = self.mark_accessed(env, cd_addr, cd);
            self.set_sp_for(&ss, new_sp);
        } else {
            return Err(Fault::gp(sel_err));
        }
        self.load_cs(sel, cd, new_cpl);
        self.state.rip = target;
        let mut nf = flags & !(fl::TF | fl::NT | fl::RF | fl::VM);
        if ty == sys::INT_GATE16 || ty == sys::INT_GATE32 {
            nf &= !fl::IF;
        }
        self.state.set_flags(nf);
        Ok(())
    }

    /// Stack for privilege level `dpl` from the current TSS.
    pub(crate) fn tss_stack(&mut self, env: &mut Env, dpl: u8, ext: bool) -> Result<(u16, u64), Fault> {
        let tr = self.state.tr;
        let tss32 = tr.attr & 0x8 != 0;
        let (sp_off, ss_off, sp_size) = if tss32 {
            (4 + u64::from(dpl) * 8, 8 + u64::from(dpl) * 8, 4)
        } else {
            (2 + u64::from(dpl) * 4, 4 + u64::from(dpl) * 4, 2)
        };
        if ss_off + 1 > u64::from(tr.limit) || sp_off + sp_size - 1 > u64::from(tr.limit) {
            return Err(Fault::ts(selector_code(tr.selector, ext)));
        }
        let sp = self.read_sys(env, tr.base.wrapping_add(sp_off) & 0xFFFF_FFFF, sp_size as u8)?;
        let ss = self.read_sys(env, tr.base.wrapping_add(ss_off) & 0xFFFF_FFFF, 2)? as u16;
        Ok((ss, sp))
    }

    /// Checks the stack segment for an inner privilege level (#TS/#SS).
    pub(crate) fn check_inner_stack(&mut self, env: &mut Env, ss_sel: u16, dpl: u8, ext: bool) -> Result<Segment, Fault> {
        let err = selector_code(ss_sel, ext);
        if ss_sel & 0xFFFC == 0 {
            return Err(Fault::ts(err));
        }
        let (d, addr) = self.read_descriptor(env, ss_sel).map_err(|_| Fault::ts(err))?;
        if (ss_sel & 3) as u8 != dpl || d.dpl() != dpl || !d.writable() {
            return Err(Fault::ts(err));
        }
        if !d.present() {
            return Err(Fault::ss(err));
        }
        let d = self.mark_accessed(env, addr, d)?;
        Ok(d.segment(ss_sel))
    }

    /// Writes `frame` (first element pushed first) below `sp` on stack
    /// segment `ss` at supervisor privilege, checking the segment limit;
    /// returns the new stack pointer. Nothing else changes.
    #[allow(clippy::too_many_arguments)]
    pub(crate) fn push_frame(
        &mut self,
        env: &mut Env,
        ss: &Segment,
        sp: u64,
        size: u8,
        frame: &[u64],
        ss_err: u16,
        ext: bool,
    ) -> Result<u64, Fault> {
        let mask: u64 = if ss.big() { 0xFFFF_FFFF } else { 0xFFFF };
        let mut sp = sp & mask;
        let user = self.user();
        let limit_fault = || Fault::ss(if ss_err == 0 { 0 } else { selector_code(ss_err, ext) });
        for &v in frame {
            sp = sp.wrapping_sub(u64::from(size)) & mask;
            let last = sp + u64::from(size) - 1;
            let ok = if ss.attr & crate::state::attr::DC != 0 {
                sp > u64::from(ss.limit) && last <= mask
            } else {
                last <= u64::from(ss.limit)
            };
            if !ok {
                return Err(limit_fault());
            }
            let lin = ss.base.wrapping_add(sp) & 0xFFFF_FFFF;
            // Pushes to an inner stack are supervisor accesses; a push to
            // the current stack uses the current privilege.
            let as_user = user && ss_err == 0;
            match size {
                2 => self.write_lin::<2>(env, lin, v, as_user)?,
                _ => self.write_lin::<4>(env, lin, v, as_user)?,
            }
        }
        Ok(sp)
    }

    /// Sets ESP or SP as stack segment `ss` addresses it.
    pub(crate) fn set_sp_for(&mut self, ss: &Segment, sp: u64) {
        if ss.big() {
            self.state.gpr[4] = sp & 0xFFFF_FFFF;
        } else {
            self.state.gpr[4] = (self.state.gpr[4] & !0xFFFF) | (sp & 0xFFFF);
        }
    }
}
