//! Software interrupts and interrupt return: INT n, INT3, INTO, INT1
//! (ICEBP), BOUND and IRET/IRETD (SDM vol. 2 "INT n/INTO/INT3/INT1",
//! "BOUND", "IRET/IRETD"; vol. 3A ch. 6, 7.3 for the task return, 20.2.7
//! and 20.3 for V86 mode and VME).
//!
//! Delivery itself lives in `interrupt.rs`; the handlers here only name
//! the vector and the source. IRET undoes a delivery in every mode: real
//! mode, protected mode to the same or an outer privilege, back to V86
//! mode from CPL 0, inside V86 mode (IOPL 3, or VME's virtual IF), and a
//! return to the previous task when NT is set.

use super::*;
use crate::{
    interrupt::Source,
    state::{cr4, fl, reg, sreg, Segment},
    task::SwitchReason,
};
use iced_x86::Code::*;

pub(super) fn register(t: &mut Table) {
    t.set(Int_imm8, int_n);
    t.set(Int3, int3);
    t.set(Into, into);
    t.set(Int1, int1);
    t.set(Bound_r16_m1616, bound::<2>);
    t.set(Bound_r32_m3232, bound::<4>);
    t.set(Iretw, iret::<2>);
    t.set(Iretd, iret::<4>);
}

fn int_n(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.soft_interrupt(env, i.immediate8(), Source::Software)
}

fn int3(cpu: &mut Cpu, env: &mut Env, _: &Instruction) -> Result<(), Fault> {
    cpu.soft_interrupt(env, crate::fault::vector::BP, Source::SoftException)
}

fn into(cpu: &mut Cpu, env: &mut Env, _: &Instruction) -> Result<(), Fault> {
    if cpu.state.of() {
        cpu.soft_interrupt(env, crate::fault::vector::OF, Source::SoftException)
    } else {
        Ok(())
    }
}

fn int1(cpu: &mut Cpu, env: &mut Env, _: &Instruction) -> Result<(), Fault> {
    cpu.soft_interrupt(env, crate::fault::vector::DB, Source::Icebp)
}

/// BOUND r, m: #BR (a fault, EIP at the BOUND) when the signed index is
/// below the lower or above the upper bound stored in memory.
fn bound<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    if i.op1_kind() != OpKind::Memory {
        return Err(Fault::UD);
    }
    let (seg, off) = mem_operand(&cpu.state, i);
    let amask = if addr16(i) { 0xFFFF } else { 0xFFFF_FFFF };
    let lo = cpu.read::<N>(env, seg, off)?;
    let hi = cpu.read::<N>(env, seg, off.wrapping_add(N as u64) & amask)?;
    let idx = reg_read(&cpu.state, i.op0_register());
    let sx = |v: u64| if N == 2 { i64::from(v as u16 as i16) } else { i64::from(v as u32 as i32) };
    if sx(idx) < sx(lo) || sx(idx) > sx(hi) {
        return Err(Fault::BR);
    }
    Ok(())
}

fn iret<const N: usize>(cpu: &mut Cpu, env: &mut Env, _: &Instruction) -> Result<(), Fault> {
    // NMI blocking ends with the IRET, even one that faults (SDM 6.7.1;
    // the VMX "NMI unblocking due to IRET" bit records that case).
    cpu.nmi_blocked = false;
    cpu.end_block = true;
    if !cpu.state.protected() {
        return cpu.iret_real::<N>(env);
    }
    if cpu.state.v86() {
        return cpu.iret_v86::<N>(env);
    }
    if cpu.state.eflags & u64::from(fl::NT) != 0 {
        let tr = cpu.state.tr;
        let link = cpu.read_sys(env, tr.base & 0xFFFF_FFFF, 2)? as u16;
        return cpu.task_switch(env, link, SwitchReason::Iret, false, None);
    }
    cpu.iret_protected::<N>(env)
}

/// EFLAGS bits an IRETD in real mode takes from the stack (SDM "IRET":
/// 257FD5H); VM, VIF and VIP are kept.
const REAL_IRET32: u32 = 0x0025_7FD5;

impl Cpu {
    /// Pops nothing: reads EIP, CS and EFLAGS of an IRET frame.
    fn iret_frame<const N: usize>(&mut self, env: &mut Env) -> Result<(u64, u16, u32), Fault> {
        let n = N as u64;
        let eip = self.stack_peek(env, 0, N as u8)?;
        let cs = self.stack_peek(env, n, N as u8)? as u16;
        let flags = self.stack_peek(env, 2 * n, N as u8)? as u32;
        Ok((eip, cs, flags))
    }

    fn iret_real<const N: usize>(&mut self, env: &mut Env) -> Result<(), Fault> {
        let (eip, cs, popped) = self.iret_frame::<N>(env)?;
        if eip > u64::from(self.state.seg[sreg::CS].limit) {
            return Err(Fault::gp(0));
        }
        let old = self.state.flags();
        let new = if N == 4 { (popped & REAL_IRET32) | (old & !REAL_IRET32) } else { (old & !0xFFFF) | (popped & 0xFFFF) };
        self.load_cs_real(cs);
        self.state.rip = eip;
        self.release_stack(3 * N as u64);
        self.state.set_flags(new);
        Ok(())
    }

    /// IRET inside V86 mode: real-mode style at IOPL 3 (IOPL itself kept);
    /// at IOPL < 3 only the 16-bit form with CR4.VME, which moves the
    /// popped IF into VIF; otherwise #GP(0) to the monitor.
    fn iret_v86<const N: usize>(&mut self, env: &mut Env) -> Result<(), Fault> {
        let old = self.state.flags();
        let iopl3 = self.state.iopl() == 3;
        let vme = self.state.cr4 & cr4::VME != 0;
        let allowed = iopl3 || (vme && N == 2);
        if !allowed {
            return Err(Fault::gp(0));
        }
        let (eip, cs, popped) = self.iret_frame::<N>(env)?;
        if eip > u64::from(self.state.seg[sreg::CS].limit) {
            return Err(Fault::gp(0));
        }
        let new = if iopl3 {
            let keep = if N == 4 { !REAL_IRET32 | fl::IOPL } else { !0xFFFF | fl::IOPL };
            (old & keep) | (popped & !keep)
        } else {
            let pending = popped & fl::IF != 0 && old & fl::VIP != 0;
            if pending || popped & fl::TF != 0 {
                return Err(Fault::gp(0));
            }
            let keep = !0xFFFF | fl::IOPL | fl::IF;
            let vif = if popped & fl::IF != 0 { fl::VIF } else { 0 };
            ((old & keep) | (popped & !keep)) & !fl::VIF | vif
        };
        self.load_cs_real(cs);
        self.state.rip = eip;
        self.release_stack(3 * N as u64);
        self.state.set_flags(new);
        Ok(())
    }

    fn iret_protected<const N: usize>(&mut self, env: &mut Env) -> Result<(), Fault> {
        let n = N as u64;
        let cpl = self.state.cpl;
        let (eip, cs, popped) = self.iret_frame::<N>(env)?;
        if N == 4 && popped & fl::VM != 0 && cpl == 0 {
            return self.iret_to_v86(env, eip, cs, popped);
        }
        let (d, addr) = self.check_return_cs(env, cs)?;
        let rpl = (cs & 3) as u8;
        let new_flags = self.iret_flags(popped, N as u8);
        if rpl == cpl {
            if eip > u64::from(d.limit()) {
                return Err(Fault::gp(0));
            }
            let d = self.mark_accessed(env, addr, d)?;
            self.load_cs(cs, d, cpl);
            self.state.rip = eip;
            self.release_stack(3 * n);
            self.state.set_flags(new_flags);
            return Ok(());
        }
        let esp = self.stack_peek(env, 3 * n, N as u8)?;
        let ss_sel = self.stack_peek(env, 4 * n, N as u8)? as u16;
        let (ssd, ss_addr) = self.check_outer_stack(env, ss_sel, rpl)?;
        if eip > u64::from(d.limit()) {
            return Err(Fault::gp(0));
        }
        let d = self.mark_accessed(env, addr, d)?;
        let ssd = self.mark_accessed(env, ss_addr, ssd)?;
        self.load_cs(cs, d, rpl);
        self.state.rip = eip;
        self.state.set_flags(new_flags);
        let ss = ssd.segment(ss_sel);
        self.state.seg[sreg::SS] = ss;
        self.set_sp_for(&ss, esp);
        self.null_inaccessible_segments();
        Ok(())
    }

    /// The EFLAGS a protected-mode IRET leaves, from the popped image and
    /// the privilege before the return: IF only when CPL <= IOPL; IOPL,
    /// VIF and VIP only at CPL 0; VM never (that return is a separate
    /// path); the 16-bit form changes only the low word.
    fn iret_flags(&self, popped: u32, size: u8) -> u32 {
        let old = self.state.flags();
        let cpl = self.state.cpl;
        let mut change = fl::ARITH | fl::TF | fl::DF | fl::NT | fl::RF | fl::AC | fl::ID;
        if cpl <= self.state.iopl() {
            change |= fl::IF;
        }
        if cpl == 0 {
            change |= fl::IOPL | fl::VIF | fl::VIP;
        }
        if size == 2 {
            change &= 0xFFFF;
        }
        (old & !change) | (popped & change)
    }

    /// IRETD at CPL 0 with VM set in the popped EFLAGS: the frame goes on
    /// with ESP, SS, ES, DS, FS and GS; every segment becomes a V86
    /// segment and the CPL 3. Only reads of the frame can fault.
    fn iret_to_v86(&mut self, env: &mut Env, eip: u64, cs: u16, popped: u32) -> Result<(), Fault> {
        let mut v = [0u64; 6];
        for (k, x) in v.iter_mut().enumerate() {
            *x = self.stack_peek(env, 12 + 4 * k as u64, 4)?;
        }
        let [esp, ss, es, ds, fs, gs] = v;
        self.state.set_flags(popped);
        let v86 =
            |sel: u64| Segment::real(sel as u16, 0xFFFF, crate::state::attr::REAL_DATA | (3 << crate::state::attr::DPL_SHIFT));
        let s = &mut self.state.seg;
        s[sreg::CS] = v86(u64::from(cs));
        s[sreg::SS] = v86(ss);
        s[sreg::ES] = v86(es);
        s[sreg::DS] = v86(ds);
        s[sreg::FS] = v86(fs);
        s[sreg::GS] = v86(gs);
        self.state.gpr[reg::RSP] = esp & 0xFFFF_FFFF;
        // No limit check: the upper half of EIP is dropped (SDM "IRET",
        // RETURN-TO-VIRTUAL-8086-MODE; Bochs agrees).
        self.state.rip = eip & 0xFFFF;
        self.set_cpl(3);
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::state::{attr, cr4, fl, sreg, Segment};
    use crate::task::fixture::*;
    use crate::testing::{TestMachine, CODE_BASE, STACK_TOP};

    fn cs(m: &TestMachine) -> u16 {
        m.cpu.state.seg[sreg::CS].selector
    }

    fn frame(m: &TestMachine, sp: u64, n: u64) -> Vec<u32> {
        (0..n).map(|k| m.read_u32(sp + k * 4)).collect()
    }

    #[test]
    fn real_mode_int_and_iret_through_ivt() {
        let mut m = TestMachine::real();
        w16(&mut m, 0x10 * 4, 0x0040);
        w16(&mut m, 0x10 * 4 + 2, 0x3000);
        m.load_code(&[0xCD, 0x10]); // int 0x10
        m.load(0x30040, &[0xCF]); // iret
        m.cpu.state.set_flags(fl::IF | fl::CF);
        m.run(1);
        let s = &m.cpu.state;
        assert_eq!((cs(&m), s.rip, s.gpr[4]), (0x3000, 0x40, 0xFFEA));
        assert_eq!(s.flags() & fl::IF, 0, "INT clears IF");
        let pushed: Vec<u16> = (0..3).map(|k| r16(&m, 0x7FFEA + k * 2)).collect();
        assert_eq!(pushed, [2, 0x1000, (fl::IF | fl::CF | fl::FIXED) as u16]);
        m.run(1);
        let s = &m.cpu.state;
        assert_eq!((cs(&m), s.rip, s.gpr[4]), (0x1000, 2, 0xFFF0));
        assert_eq!(s.flags(), fl::IF | fl::CF | fl::FIXED);
    }

    #[test]
    fn real_mode_iretd_keeps_vm_vif_vip() {
        let mut m = TestMachine::real();
        // EIP, CS, EFLAGS with VM, VIF, VIP and IOPL set.
        let sp = 0x7FFF0;
        w32(&mut m, sp, 0x20);
        w32(&mut m, sp + 4, 0x2000);
        w32(&mut m, sp + 8, fl::VM | fl::VIF | fl::VIP | fl::IOPL | fl::NT | fl::CF);
        m.load_code(&[0x66, 0xCF]); // iretd
        m.run(1);
        let s = &m.cpu.state;
        assert_eq!((cs(&m), s.rip, s.gpr[4]), (0x2000, 0x20, 0xFFFC));
        assert_eq!(s.flags(), fl::IOPL | fl::NT | fl::CF | fl::FIXED);
    }

    #[test]
    fn int_from_ring3_to_ring0_and_iret_back() {
        let mut m = machine();
        to_ring3(&mut m);
        int_gate(&mut m, 0x80, HANDLER + 0x200, 3);
        m.load(HANDLER + 0x200, &[0x8E, 0xC0, 0xCF]); // mov es, ax; iretd
        m.cpu.state.gpr[0] = 0x10;
        m.cpu.state.set_flags(fl::IF | fl::ZF);
        m.load_code(&[0xCD, 0x80]); // int 0x80
        m.run(1);
        let s = &m.cpu.state;
        assert_eq!((cs(&m), s.cpl, s.rip), (0x08, 0, HANDLER + 0x200));
        assert_eq!(s.flags() & fl::IF, 0, "interrupt gate clears IF");
        let sp = ESP0 - 20;
        assert_eq!(s.gpr[4], sp);
        let flags = fl::IF | fl::ZF | fl::FIXED;
        assert_eq!(frame(&m, sp, 5), [(CODE_BASE + 2) as u32, 0x2B, flags, STACK_TOP as u32, 0x33]);
        m.run(2);
        let s = &m.cpu.state;
        assert_eq!((cs(&m), s.cpl, s.rip, s.gpr[4]), (0x2B, 3, CODE_BASE + 2, STACK_TOP));
        assert_eq!(s.seg[sreg::SS].selector, 0x33);
        assert_eq!(s.flags(), flags);
        assert_eq!(s.seg[sreg::ES].selector, 0, "ring-0 ES nulled by the return to ring 3");
    }

    #[test]
    fn iret_at_cpl3_cannot_change_iopl_or_if() {
        let mut m = machine();
        to_ring3(&mut m);
        let sp = STACK_TOP - 12;
        w32(&mut m, sp, (CODE_BASE + 0x10) as u32);
        w32(&mut m, sp + 4, 0x2B);
        w32(&mut m, sp + 8, fl::IOPL | fl::IF | fl::CF | fl::VIF);
        m.cpu.state.gpr[4] = sp;
        m.load_code(&[0xCF]);
        m.run(1);
        let s = &m.cpu.state;
        assert_eq!((s.rip, s.gpr[4]), (CODE_BASE + 0x10, STACK_TOP));
        assert_eq!(s.flags(), fl::CF | fl::FIXED, "IOPL, IF and VIF kept at CPL 3 with IOPL 0");
    }

    #[test]
    fn int_through_gate_with_lower_dpl_is_gp() {
        let mut m = machine();
        to_ring3(&mut m);
        int_gate(&mut m, 0x80, HANDLER + 0x200, 0);
        int_gate(&mut m, 13, HANDLER + 0x100, 0);
        int_gate(&mut m, 1, HANDLER + 0x300, 0);
        m.load_code(&[0xCD, 0x80, 0xF1]); // int 0x80; int1
        m.run(2); // the delivery, then one handler instruction
        assert_eq!(m.cpu.state.rip, HANDLER + 0x101);
        let sp = ESP0 - 24;
        assert_eq!(frame(&m, sp, 2), [0x80 * 8 + 2, CODE_BASE as u32]);
        // INT1 is not subject to the gate DPL check.
        to_ring3(&mut m);
        m.cpu.state.rip = CODE_BASE + 2;
        m.cpu.state.gpr[4] = STACK_TOP;
        m.run(1);
        assert_eq!(m.cpu.state.rip, HANDLER + 0x300);
        assert_eq!(m.read_u32(ESP0 - 20), (CODE_BASE + 3) as u32, "a trap: EIP after INT1");
    }

    #[test]
    fn int3_into_and_bound() {
        let mut m = machine();
        for (v, h) in [(3u8, 0x100u64), (4, 0x200), (5, 0x300)] {
            int_gate(&mut m, v, HANDLER + h, 0);
        }
        w32(&mut m, 0x5000, (-5i32) as u32);
        w32(&mut m, 0x5004, 10);
        w16(&mut m, 0x5008, (-1i16) as u16);
        w16(&mut m, 0x500A, 1);
        // int3 ; into ; bound eax,[0x5000] ; bound ax,[0x5008]
        let code = [0xCC, 0xCE, 0x62, 0x05, 0x00, 0x50, 0x00, 0x00, 0x66, 0x62, 0x05, 0x08, 0x50, 0x00, 0x00];
        m.load_code(&code);
        m.run(1);
        assert_eq!(m.cpu.state.rip, HANDLER + 0x100);
        assert_eq!(m.read_u32(STACK_TOP - 12), (CODE_BASE + 1) as u32, "#BP is a trap");

        let restart = |m: &mut TestMachine, eip: u64| {
            m.cpu.state.rip = eip;
            m.cpu.state.gpr[4] = STACK_TOP;
        };
        restart(&mut m, CODE_BASE + 1);
        m.cpu.state.set_flags(0);
        m.run(1);
        assert_eq!(m.cpu.state.rip, CODE_BASE + 2, "INTO without OF does nothing");
        restart(&mut m, CODE_BASE + 1);
        m.cpu.state.set_flags(fl::OF);
        m.run(1);
        assert_eq!(m.cpu.state.rip, HANDLER + 0x200);
        assert_eq!(m.read_u32(STACK_TOP - 12), (CODE_BASE + 2) as u32);

        restart(&mut m, CODE_BASE + 2);
        m.cpu.state.gpr[0] = (-5i64) as u64 & 0xFFFF_FFFF;
        m.run(1);
        assert_eq!(m.cpu.state.rip, CODE_BASE + 8, "-5 is within [-5, 10]");
        restart(&mut m, CODE_BASE + 2);
        m.cpu.state.gpr[0] = 11;
        m.run(2); // the delivery, then one handler instruction
        assert_eq!(m.cpu.state.rip, HANDLER + 0x301);
        assert_eq!(m.read_u32(STACK_TOP - 12), (CODE_BASE + 2) as u32, "#BR is a fault");

        restart(&mut m, CODE_BASE + 8);
        m.cpu.state.gpr[0] = 0xFFFF_0001; // AX = 1: in [-1, 1]
        m.run(1);
        assert_eq!(m.cpu.state.rip, CODE_BASE + 15);
        restart(&mut m, CODE_BASE + 8);
        m.cpu.state.gpr[0] = 0xFFFE; // AX = -2
        m.run(2); // the delivery, then one handler instruction
        assert_eq!(m.cpu.state.rip, HANDLER + 0x301);
    }

    /// Flat ring 0 with an IRETD frame into V86 mode at 4000:0100 on the
    /// stack, and the IRETD at CODE_BASE.
    fn v86_entry(iopl: u32) -> TestMachine {
        let mut m = machine();
        let sp = STACK_TOP - 36;
        let vals = [0x100, 0x4000, fl::VM | fl::IF | (iopl << fl::IOPL_SHIFT), 0xFFFE, 0x3000, 0x8000, 0x5000, 0x6000, 0x7000];
        for (k, v) in vals.into_iter().enumerate() {
            w32(&mut m, sp + k as u64 * 4, v);
        }
        m.cpu.state.gpr[4] = sp;
        m.load_code(&[0xCF]); // iretd
        m.load(0x40100, &[0xCD, 0x21, 0x90]); // int 0x21; nop
        m
    }

    #[test]
    fn iretd_enters_v86_and_int_leaves_it_with_gp() {
        let mut m = v86_entry(0);
        int_gate(&mut m, 13, HANDLER + 0x100, 0);
        m.run(1);
        let s = &m.cpu.state;
        assert!(s.v86());
        assert_eq!((s.cpl, cs(&m), s.seg[sreg::CS].base, s.rip), (3, 0x4000, 0x40000, 0x100));
        assert_eq!((s.seg[sreg::SS].base, s.gpr[4]), (0x30000, 0xFFFE));
        let sels: Vec<u16> = s.seg.iter().map(|x| x.selector).collect();
        assert_eq!(sels, [0x8000, 0x4000, 0x3000, 0x5000, 0x6000, 0x7000]);
        assert_eq!(s.seg[sreg::GS].base, 0x70000);

        // INT n at IOPL 0: #GP(0) to the ring-0 monitor.
        m.run(2); // the delivery, then one handler instruction
        let s = &m.cpu.state;
        assert!(!s.v86());
        assert_eq!((s.cpl, cs(&m), s.rip), (0, 0x08, HANDLER + 0x101));
        let sp = ESP0 - 40;
        assert_eq!(s.gpr[4], sp);
        // A fault pushes RF set.
        let vm_flags = fl::VM | fl::IF | fl::RF | fl::FIXED;
        assert_eq!(frame(&m, sp, 10), [0, 0x100, 0x4000, vm_flags, 0xFFFE, 0x3000, 0x8000, 0x5000, 0x6000, 0x7000]);
        for seg in [sreg::ES, sreg::DS, sreg::FS, sreg::GS] {
            assert_eq!(s.seg[seg].selector, 0, "data segments are nulled on leaving V86");
        }
    }

    #[test]
    fn v86_int_at_iopl3_goes_to_ring0_and_iretd_returns() {
        let mut m = v86_entry(3);
        int_gate(&mut m, 0x21, HANDLER + 0x200, 3);
        m.load(HANDLER + 0x200, &[0xCF]);
        m.run(2);
        let s = &m.cpu.state;
        assert_eq!((s.cpl, cs(&m), s.rip), (0, 0x08, HANDLER + 0x200));
        let sp = ESP0 - 36;
        let vm_flags = fl::VM | fl::IF | fl::IOPL | fl::FIXED;
        assert_eq!(frame(&m, sp, 9), [0x102, 0x4000, vm_flags, 0xFFFE, 0x3000, 0x8000, 0x5000, 0x6000, 0x7000]);
        m.run(1);
        let s = &m.cpu.state;
        assert!(s.v86());
        assert_eq!((s.cpl, cs(&m), s.rip, s.gpr[4]), (3, 0x4000, 0x102, 0xFFFE));
        assert_eq!(s.seg[sreg::DS].base, 0x50000);
        assert_eq!(s.flags(), vm_flags);
    }

    /// V86 mode at 4000:0100 with CR4.VME and a TSS whose redirection
    /// bitmap (32 bytes below the I/O map base) is all clear.
    fn vme_machine() -> TestMachine {
        let mut m = machine();
        w16(&mut m, TSS_A_BASE + 0x66, 0x88);
        m.cpu.state.tr.limit = 0x88;
        m.cpu.state.cr4 |= cr4::VME;
        let v86 = |sel: u16| Segment::real(sel, 0xFFFF, attr::REAL_DATA | (3 << attr::DPL_SHIFT));
        let s = &mut m.cpu.state;
        for (seg, sel) in s.seg.iter_mut().zip([0x8000, 0x4000, 0x3000, 0x5000, 0x6000, 0x7000]) {
            *seg = v86(sel);
        }
        s.cpl = 3;
        s.set_flags(fl::VM | fl::VIF | fl::CF);
        s.rip = 0x100;
        s.gpr[4] = 0xFFFE;
        m.load(0x40100, &[0xCD, 0x21, 0x90]);
        w16(&mut m, 0x21 * 4, 0x0010);
        w16(&mut m, 0x21 * 4 + 2, 0x6000);
        m.load(0x60010, &[0xCF]); // iret
        m
    }

    #[test]
    fn vme_redirects_int_to_the_v86_ivt_with_virtual_if() {
        let mut m = vme_machine();
        m.run(1);
        let s = &m.cpu.state;
        assert!(s.v86());
        assert_eq!((cs(&m), s.rip, s.gpr[4]), (0x6000, 0x10, 0xFFF8));
        let pushed: Vec<u16> = (0..3).map(|k| r16(&m, 0x30000 + 0xFFF8 + k * 2)).collect();
        // The FLAGS image shows IOPL 3 and VIF as IF.
        assert_eq!(pushed, [0x102, 0x4000, (fl::IOPL | fl::IF | fl::CF | fl::FIXED) as u16]);
        assert_eq!(s.flags() & (fl::VIF | fl::IF | fl::IOPL), 0, "VIF cleared, IF and IOPL untouched");

        m.run(1);
        let s = &m.cpu.state;
        assert_eq!((cs(&m), s.rip, s.gpr[4]), (0x4000, 0x102, 0xFFFE));
        assert_eq!(s.flags(), fl::VM | fl::VIF | fl::CF | fl::FIXED, "IRET moves the popped IF into VIF");
    }

    #[test]
    fn vme_bitmap_bit_set_means_gp() {
        let mut m = vme_machine();
        int_gate(&mut m, 13, HANDLER + 0x100, 0);
        m.mem.write(TSS_A_BASE + 0x68 + 0x21 / 8, &[1 << (0x21 % 8)]);
        m.run(2); // the delivery, then one handler instruction
        assert!(!m.cpu.state.v86());
        assert_eq!(m.cpu.state.rip, HANDLER + 0x101);
        assert_eq!(m.read_u32(ESP0 - 40 + 4), 0x100);
    }

    #[test]
    fn iret_ends_nmi_blocking() {
        let mut m = TestMachine::real();
        w16(&mut m, 0x7FFF0 + 2, 0x1000);
        m.load_code(&[0xCF]);
        m.cpu.nmi_blocked = true;
        m.run(1);
        assert!(!m.cpu.nmi_blocked);
    }
}
