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
    /// segment and the CPL 3.
    fn iret_to_v86(&mut self, env: &mut Env, eip: u64, cs: u16, popped: u32) -> Result<(), Fault> {
        let mut v = [0u64; 6];
        for (k, x) in v.iter_mut().enumerate() {
            *x = self.stack_peek(env, 12 + 4 * k as u64, 4)?;
        }
        let [esp, ss, es, ds, fs, gs] = v;
        // The V86 code segment's limit is 64 KiB.
        if eip > 0xFFFF {
            return Err(Fault::gp(0));
        }
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
        self.state.rip = eip;
        self.set_cpl(3);
        Ok(())
    }
}
