//! Far control transfers: JMP ptr/m16:xx, CALL ptr/m16:xx and RETF (SDM
//! vol. 2 "JMP", "CALL", "RET"; vol. 3A 5.8 for call gates and the
//! privilege checks, ch. 7 for transfers to a TSS or task gate).
//!
//! Real and V86 mode load CS like a real-mode segment. Protected mode goes
//! through the descriptor named by the selector: a code segment, a call
//! gate (CALL may switch to an inner stack from the TSS and copy
//! parameters), or a TSS / task gate (a task switch). Every check comes
//! before any architectural change, and the target EIP is checked against
//! the limit of the CS being loaded.

use super::*;
use crate::{
    segment::{sys, Descriptor},
    state::{reg, sreg},
    task::SwitchReason,
};
use iced_x86::Code::*;

pub(super) fn register(t: &mut Table) {
    t.set_all(&[Jmp_ptr1616, Jmp_m1616], jmp_far::<2>);
    t.set_all(&[Jmp_ptr1632, Jmp_m1632], jmp_far::<4>);
    t.set_all(&[Call_ptr1616, Call_m1616], call_far::<2>);
    t.set_all(&[Call_ptr1632, Call_m1632], call_far::<4>);
    t.set_all(&[Retfw, Retfw_imm16], retf::<2>);
    t.set_all(&[Retfd, Retfd_imm16], retf::<4>);
    t.set_all(&[Les_r16_m1616, Lds_r16_m1616, Lss_r16_m1616, Lfs_r16_m1616, Lgs_r16_m1616], load_far_pointer::<2>);
    t.set_all(&[Les_r32_m1632, Lds_r32_m1632, Lss_r32_m1632, Lfs_r32_m1632, Lgs_r32_m1632], load_far_pointer::<4>);
}

/// LES, LDS, LSS, LFS, LGS (SDM vol. 2 "LDS/LES/LFS/LGS/LSS"): the offset
/// (2 or 4 bytes) then the selector from memory; the segment register is
/// loaded with the checks of MOV to it, then the general register, so a
/// faulting selector leaves both unchanged. A register operand is #UD.
fn load_far_pointer<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    if i.op1_kind() != OpKind::Memory {
        return Err(Fault::UD);
    }
    let seg = match i.mnemonic() {
        Mnemonic::Les => sreg::ES,
        Mnemonic::Lds => sreg::DS,
        Mnemonic::Lss => sreg::SS,
        Mnemonic::Lfs => sreg::FS,
        Mnemonic::Lgs => sreg::GS,
        _ => return Err(Fault::UD),
    };
    let (mseg, off) = mem_operand(&cpu.state, i);
    let amask = if addr16(i) { 0xFFFF } else { 0xFFFF_FFFF };
    let offset = cpu.read::<N>(env, mseg, off)?;
    let sel = cpu.read::<2>(env, mseg, off.wrapping_add(N as u64) & amask)? as u16;
    cpu.load_seg(env, seg, sel)?;
    reg_write(&mut cpu.state, i.op0_register(), offset);
    Ok(())
}

/// Most parameters a call gate copies (a 5-bit count), plus SS, ESP, CS
/// and EIP.
const MAX_GATE_FRAME: usize = 31 + 4;

/// Selector and offset of a far pointer operand: an immediate ptr16:16 /
/// ptr16:32 or an m16:16 / m16:32 in memory (offset first).
fn far_operand<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(u16, u64), Fault> {
    match i.op0_kind() {
        OpKind::FarBranch16 => Ok((i.far_branch_selector(), u64::from(i.far_branch16()))),
        OpKind::FarBranch32 => Ok((i.far_branch_selector(), u64::from(i.far_branch32()))),
        OpKind::Memory => {
            let (seg, off) = mem_operand(&cpu.state, i);
            let amask = if addr16(i) { 0xFFFF } else { 0xFFFF_FFFF };
            let target = cpu.read::<N>(env, seg, off)?;
            let sel = cpu.read::<2>(env, seg, off.wrapping_add(N as u64) & amask)?;
            Ok((sel as u16, target))
        }
        _ => Err(Fault::UD),
    }
}

fn jmp_far<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let (sel, off) = far_operand::<N>(cpu, env, i)?;
    cpu.end_block = true;
    if !cpu.state.pmode() {
        if off > u64::from(cpu.state.seg[sreg::CS].limit) {
            return Err(Fault::gp(0));
        }
        cpu.load_cs_real(sel);
        cpu.state.rip = off;
        return Ok(());
    }
    cpu.far_jmp_protected(env, sel, off)
}

fn call_far<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let (sel, off) = far_operand::<N>(cpu, env, i)?;
    cpu.end_block = true;
    if !cpu.state.pmode() {
        if off > u64::from(cpu.state.seg[sreg::CS].limit) {
            return Err(Fault::gp(0));
        }
        let cs = cpu.state.seg[sreg::CS].selector;
        let ret = cpu.state.rip;
        let sp = cpu.state.gpr[reg::RSP];
        let pushed = cpu.push(env, N as u8, u64::from(cs)).and_then(|_| cpu.push(env, N as u8, ret));
        if let Err(f) = pushed {
            cpu.state.gpr[reg::RSP] = sp;
            return Err(f);
        }
        cpu.load_cs_real(sel);
        cpu.state.rip = off;
        return Ok(());
    }
    cpu.far_call_protected(env, sel, off, N as u8)
}

/// RETF [imm16]: pops EIP and CS, releases imm16 bytes; to an outer
/// privilege level it then pops ESP and SS and releases imm16 bytes of the
/// outer stack too.
fn retf<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let n = N as u64;
    let release = if i.op_count() == 1 { u64::from(i.immediate16()) } else { 0 };
    let eip = cpu.stack_peek(env, 0, N as u8)?;
    let cs = cpu.stack_peek(env, n, N as u8)? as u16;
    cpu.end_block = true;
    if !cpu.state.pmode() {
        if eip > u64::from(cpu.state.seg[sreg::CS].limit) {
            return Err(Fault::gp(0));
        }
        cpu.load_cs_real(cs);
        cpu.state.rip = eip;
        cpu.release_stack(2 * n + release);
        return Ok(());
    }
    let cpl = cpu.state.cpl;
    let (d, addr) = cpu.check_return_cs(env, cs)?;
    let rpl = (cs & 3) as u8;
    if rpl == cpl {
        if eip > u64::from(d.limit()) {
            return Err(Fault::gp(0));
        }
        let d = cpu.mark_accessed(env, addr, d)?;
        cpu.load_cs(cs, d, cpl);
        cpu.state.rip = eip;
        cpu.release_stack(2 * n + release);
        return Ok(());
    }
    let esp = cpu.stack_peek(env, 2 * n + release, N as u8)?;
    let ss_sel = cpu.stack_peek(env, 3 * n + release, N as u8)? as u16;
    let (ssd, ss_addr) = cpu.check_outer_stack(env, ss_sel, rpl)?;
    if eip > u64::from(d.limit()) {
        return Err(Fault::gp(0));
    }
    let d = cpu.mark_accessed(env, addr, d)?;
    let ssd = cpu.mark_accessed(env, ss_addr, ssd)?;
    cpu.load_cs(cs, d, rpl);
    cpu.state.rip = eip;
    let ss = ssd.segment(ss_sel);
    cpu.state.seg[sreg::SS] = ss;
    cpu.set_sp_for(&ss, esp.wrapping_add(release));
    cpu.null_inaccessible_segments();
    Ok(())
}

/// Gate or TSS privilege check: DPL >= CPL and DPL >= RPL.
fn gate_dpl_ok(d: Descriptor, sel: u16, cpl: u8) -> bool {
    d.dpl() >= cpl && d.dpl() >= (sel & 3) as u8
}

impl Cpu {
    /// Adds `bytes` to (E)SP as the current stack addresses it.
    pub(crate) fn release_stack(&mut self, bytes: u64) {
        let mask = self.sp_mask();
        let sp = self.state.gpr[reg::RSP];
        self.state.gpr[reg::RSP] = (sp & !mask) | (sp.wrapping_add(bytes) & mask);
    }

    /// Checks the code segment a far RET or IRET returns to (RPL >= CPL,
    /// conforming DPL <= RPL, non-conforming DPL = RPL, present).
    pub(crate) fn check_return_cs(&mut self, env: &mut Env, cs: u16) -> Result<(Descriptor, u64), Fault> {
        if cs & 0xFFFC == 0 {
            return Err(Fault::gp(0));
        }
        let (d, addr) = self.read_descriptor(env, cs)?;
        let rpl = (cs & 3) as u8;
        let e = cs & 0xFFFC;
        if !d.is_code() || rpl < self.state.cpl {
            return Err(Fault::gp(e));
        }
        if (d.conforming() && d.dpl() > rpl) || (!d.conforming() && d.dpl() != rpl) {
            return Err(Fault::gp(e));
        }
        if !d.present() {
            return Err(Fault::np(e));
        }
        Ok((d, addr))
    }

    /// Checks the stack segment popped by a RET/IRET to outer privilege
    /// level `rpl`.
    pub(crate) fn check_outer_stack(&mut self, env: &mut Env, ss: u16, rpl: u8) -> Result<(Descriptor, u64), Fault> {
        if ss & 0xFFFC == 0 {
            return Err(Fault::gp(0));
        }
        let (d, addr) = self.read_descriptor(env, ss)?;
        let e = ss & 0xFFFC;
        if (ss & 3) as u8 != rpl || !d.writable() || d.dpl() != rpl {
            return Err(Fault::gp(e));
        }
        if !d.present() {
            return Err(Fault::ss(e));
        }
        Ok((d, addr))
    }

    /// Checks a code segment reached directly by a far JMP or CALL (or
    /// through a call gate, where `rpl` is 0): conforming needs DPL <= CPL,
    /// non-conforming RPL <= CPL and DPL = CPL.
    fn check_direct_cs(&mut self, d: Descriptor, sel: u16) -> Result<(), Fault> {
        let cpl = self.state.cpl;
        let e = sel & 0xFFFC;
        let ok = if d.conforming() { d.dpl() <= cpl } else { (sel & 3) as u8 <= cpl && d.dpl() == cpl };
        if !ok {
            return Err(Fault::gp(e));
        }
        if !d.present() {
            return Err(Fault::np(e));
        }
        Ok(())
    }

    /// Reads and checks the code segment named by a call gate: a code
    /// segment with DPL <= CPL (JMP: conforming or DPL = CPL), present.
    fn gate_target(&mut self, env: &mut Env, gate: Descriptor, jmp: bool) -> Result<(u16, Descriptor, u64), Fault> {
        let sel = gate.gate_selector();
        if sel & 0xFFFC == 0 {
            return Err(Fault::gp(0));
        }
        let (d, addr) = self.read_descriptor(env, sel)?;
        let e = sel & 0xFFFC;
        let cpl = self.state.cpl;
        if !d.is_code() || d.dpl() > cpl || (jmp && !d.conforming() && d.dpl() != cpl) {
            return Err(Fault::gp(e));
        }
        if !d.present() {
            return Err(Fault::np(e));
        }
        if gate.gate_offset() > u64::from(d.limit()) {
            return Err(Fault::gp(0));
        }
        Ok((sel, d, addr))
    }

    /// The checks common to a far JMP/CALL to a gate or TSS descriptor.
    fn check_gate(&self, d: Descriptor, sel: u16) -> Result<(), Fault> {
        let e = sel & 0xFFFC;
        if !gate_dpl_ok(d, sel, self.state.cpl) {
            return Err(Fault::gp(e));
        }
        if !d.present() {
            return Err(Fault::np(e));
        }
        Ok(())
    }

    fn far_jmp_protected(&mut self, env: &mut Env, sel: u16, off: u64) -> Result<(), Fault> {
        if sel & 0xFFFC == 0 {
            return Err(Fault::gp(0));
        }
        let (d, addr) = self.read_descriptor(env, sel)?;
        let cpl = self.state.cpl;
        let e = sel & 0xFFFC;
        if d.is_code() {
            self.check_direct_cs(d, sel)?;
            if off > u64::from(d.limit()) {
                return Err(Fault::gp(0));
            }
            let d = self.mark_accessed(env, addr, d)?;
            self.load_cs(sel, d, cpl);
            self.state.rip = off;
            return Ok(());
        }
        if d.is_segment() {
            return Err(Fault::gp(e));
        }
        match d.sys_type() {
            sys::CALL_GATE16 | sys::CALL_GATE32 => {
                self.check_gate(d, sel)?;
                let (csel, cd, caddr) = self.gate_target(env, d, true)?;
                let cd = self.mark_accessed(env, caddr, cd)?;
                self.load_cs(csel, cd, cpl);
                self.state.rip = d.gate_offset();
                Ok(())
            }
            sys::TASK_GATE | sys::TSS16_AVAIL | sys::TSS32_AVAIL => self.far_to_task(env, d, sel, SwitchReason::Jmp),
            _ => Err(Fault::gp(e)),
        }
    }

    /// A far JMP or CALL naming a task gate or an available TSS: a task
    /// switch. Presence and the TSS limit are checked by the switch.
    fn far_to_task(&mut self, env: &mut Env, d: Descriptor, sel: u16, reason: SwitchReason) -> Result<(), Fault> {
        if d.sys_type() == sys::TASK_GATE {
            self.check_gate(d, sel)?;
            return self.task_switch(env, d.gate_selector(), reason, false, None);
        }
        if !gate_dpl_ok(d, sel, self.state.cpl) {
            return Err(Fault::gp(sel & 0xFFFC));
        }
        self.task_switch(env, sel, reason, false, None)
    }

    fn far_call_protected(&mut self, env: &mut Env, sel: u16, off: u64, size: u8) -> Result<(), Fault> {
        if sel & 0xFFFC == 0 {
            return Err(Fault::gp(0));
        }
        let (d, addr) = self.read_descriptor(env, sel)?;
        let cpl = self.state.cpl;
        let e = sel & 0xFFFC;
        let old_cs = u64::from(self.state.seg[sreg::CS].selector);
        let old_eip = self.state.rip;
        if d.is_code() {
            self.check_direct_cs(d, sel)?;
            if off > u64::from(d.limit()) {
                return Err(Fault::gp(0));
            }
            let ss = self.state.seg[sreg::SS];
            let sp = self.push_frame(env, &ss, self.state.gpr[reg::RSP], size, &[old_cs, old_eip], 0, false)?;
            let d = self.mark_accessed(env, addr, d)?;
            self.set_sp_for(&ss, sp);
            self.load_cs(sel, d, cpl);
            self.state.rip = off;
            return Ok(());
        }
        if d.is_segment() {
            return Err(Fault::gp(e));
        }
        match d.sys_type() {
            sys::CALL_GATE16 | sys::CALL_GATE32 => {
                self.check_gate(d, sel)?;
                self.call_gate(env, d)
            }
            sys::TASK_GATE | sys::TSS16_AVAIL | sys::TSS32_AVAIL => self.far_to_task(env, d, sel, SwitchReason::Call),
            _ => Err(Fault::gp(e)),
        }
    }

    /// CALL through a call gate (SDM 5.8.5): to a more privileged
    /// non-conforming segment on the inner stack from the TSS, with the
    /// old SS:ESP and the gate's parameter count copied; otherwise on the
    /// current stack. Pushes are of the gate's size, not the operand size.
    fn call_gate(&mut self, env: &mut Env, gate: Descriptor) -> Result<(), Fault> {
        let (csel, cd, caddr) = self.gate_target(env, gate, false)?;
        let size: u8 = if gate.sys_type() == sys::CALL_GATE32 { 4 } else { 2 };
        let cpl = self.state.cpl;
        let old_cs = u64::from(self.state.seg[sreg::CS].selector);
        let old_eip = self.state.rip;
        let target = gate.gate_offset();
        if cd.conforming() || cd.dpl() == cpl {
            let ss = self.state.seg[sreg::SS];
            let sp = self.push_frame(env, &ss, self.state.gpr[reg::RSP], size, &[old_cs, old_eip], 0, false)?;
            let cd = self.mark_accessed(env, caddr, cd)?;
            self.set_sp_for(&ss, sp);
            self.load_cs(csel, cd, cpl);
            self.state.rip = target;
            return Ok(());
        }
        let dpl = cd.dpl();
        let (ss_sel, esp) = self.tss_stack(env, dpl, false)?;
        let ss = self.check_inner_stack(env, ss_sel, dpl, false)?;
        let mut frame = [0u64; MAX_GATE_FRAME];
        frame[0] = u64::from(self.state.seg[sreg::SS].selector);
        frame[1] = self.state.gpr[reg::RSP] & 0xFFFF_FFFF;
        let count = usize::from(gate.gate_param_count());
        let mask = self.sp_mask();
        let old_sp = self.state.gpr[reg::RSP] & mask;
        // The parameter deepest in the caller's stack is pushed first, so
        // they keep their order.
        for k in 0..count {
            let at = old_sp.wrapping_add(((count - 1 - k) * usize::from(size)) as u64) & mask;
            frame[2 + k] = self.read_sized(env, sreg::SS, at, size)?;
        }
        frame[2 + count] = old_cs;
        frame[3 + count] = old_eip;
        let sp = self.push_frame(env, &ss, esp, size, &frame[..count + 4], ss_sel, false)?;
        let cd = self.mark_accessed(env, caddr, cd)?;
        self.state.seg[sreg::SS] = ss;
        self.set_sp_for(&ss, sp);
        self.load_cs(csel, cd, dpl);
        self.state.rip = target;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::state::{fl, sreg};
    use crate::task::fixture::*;
    use crate::testing::{TestMachine, CODE_BASE, STACK_TOP};

    fn cs(m: &TestMachine) -> u16 {
        m.cpu.state.seg[sreg::CS].selector
    }

    #[test]
    fn real_mode_far_pointer_loads() {
        let mut m = TestMachine::real();
        // lfs si, [0x600]; o32 lgs eax, [0x610]; les di, [0x620];
        // lss sp, [0x630]
        m.load_code(&[
            0x0F, 0xB4, 0x36, 0x00, 0x06, 0x66, 0x0F, 0xB5, 0x06, 0x10, 0x06, 0xC4, 0x3E, 0x20, 0x06, 0x0F, 0xB2, 0x26, 0x30,
            0x06,
        ]);
        w16(&mut m, 0x600, 0x1234);
        w16(&mut m, 0x602, 0x5678);
        w32(&mut m, 0x610, 0x89AB_CDEF);
        w16(&mut m, 0x614, 0x0040);
        w16(&mut m, 0x620, 0x0100);
        w16(&mut m, 0x622, 0x2000);
        w16(&mut m, 0x630, 0x7C00);
        w16(&mut m, 0x632, 0x0000);
        m.cpu.state.gpr[6] = 0xFFFF_0000;
        m.run(1);
        // A 16-bit destination keeps the register's upper half.
        assert_eq!(m.cpu.state.gpr[6], 0xFFFF_1234);
        assert_eq!((m.cpu.state.seg[sreg::FS].selector, m.cpu.state.seg[sreg::FS].base), (0x5678, 0x56780));
        m.run(1);
        assert_eq!(m.cpu.state.gpr[0], 0x89AB_CDEF);
        assert_eq!((m.cpu.state.seg[sreg::GS].selector, m.cpu.state.seg[sreg::GS].base), (0x40, 0x400));
        m.run(1);
        assert_eq!((m.cpu.state.gpr[7], m.cpu.state.seg[sreg::ES].base), (0x100, 0x20000));
        m.run(1);
        assert_eq!((m.cpu.state.gpr[4] & 0xFFFF, m.cpu.state.seg[sreg::SS].base), (0x7C00, 0));
    }

    #[test]
    fn real_mode_far_call_jmp_retf() {
        let mut m = TestMachine::real();
        // call far 2000:0010; jmp far 3000:0020
        m.load_code(&[0x9A, 0x10, 0x00, 0x00, 0x20, 0xEA, 0x20, 0x00, 0x00, 0x30]);
        // retf 4
        m.load(0x20010, &[0xCA, 0x04, 0x00]);
        // jmp far dword [0x500] (o32 FF /5: m16:32)
        m.load(0x30020, &[0x66, 0xFF, 0x2E, 0x00, 0x05]);
        w32(&mut m, 0x500, 0x30);
        w16(&mut m, 0x504, 0x4000);
        // call far word [0x510] (FF /3: m16:16)
        m.load(0x40030, &[0xFF, 0x1E, 0x10, 0x05]);
        w16(&mut m, 0x510, 0x40);
        w16(&mut m, 0x512, 0x5000);
        // retf
        m.load(0x50040, &[0xCB]);

        m.run(1);
        assert_eq!((cs(&m), m.cpu.state.rip), (0x2000, 0x10));
        assert_eq!(m.cpu.state.seg[sreg::CS].base, 0x20000);
        assert_eq!(m.cpu.state.gpr[4], 0xFFEC);
        assert_eq!(r16(&m, 0x7FFEC), 5);
        assert_eq!(r16(&m, 0x7FFEE), 0x1000);
        m.run(1);
        assert_eq!((cs(&m), m.cpu.state.rip), (0x1000, 5));
        assert_eq!(m.cpu.state.gpr[4], 0xFFF4, "retf 4 releases four more bytes");
        m.run(1);
        assert_eq!((cs(&m), m.cpu.state.rip, m.cpu.state.seg[sreg::CS].base), (0x3000, 0x20, 0x30000));
        m.run(1);
        assert_eq!((cs(&m), m.cpu.state.rip), (0x4000, 0x30));
        m.run(1);
        assert_eq!((cs(&m), m.cpu.state.rip), (0x5000, 0x40));
        assert_eq!(r16(&m, 0x7FFF0), 0x34);
        assert_eq!(r16(&m, 0x7FFF2), 0x4000);
        m.run(1);
        assert_eq!((cs(&m), m.cpu.state.rip, m.cpu.state.gpr[4]), (0x4000, 0x34, 0xFFF4));
    }

    #[test]
    fn call_gate_from_ring3_copies_parameters_and_retf_returns() {
        let mut m = machine();
        to_ring3(&mut m);
        // Two dword parameters already pushed by the caller.
        let user_esp = STACK_TOP - 8;
        w32(&mut m, user_esp, 0x2222_2222);
        w32(&mut m, user_esp + 4, 0x1111_1111);
        m.cpu.state.gpr[4] = user_esp;
        m.cpu.state.gpr[0] = 0x10;
        // call far 004B:00000000 (the gate, RPL 3)
        m.load_code(&[0x9A, 0, 0, 0, 0, 0x4B, 0x00]);
        // mov es, ax; retf 8
        m.load(HANDLER, &[0x8E, 0xC0, 0xCA, 0x08, 0x00]);

        m.run(1);
        let s = &m.cpu.state;
        assert_eq!((s.seg[sreg::CS].selector, s.cpl, s.rip), (0x08, 0, HANDLER));
        assert_eq!(s.seg[sreg::SS].selector, 0x10, "SS0 from the TSS");
        let sp = ESP0 - 24;
        assert_eq!(s.gpr[4], sp);
        let frame: Vec<u32> = (0..6).map(|k| m.read_u32(sp + k * 4)).collect();
        assert_eq!(frame, [(CODE_BASE + 7) as u32, 0x2B, 0x2222_2222, 0x1111_1111, user_esp as u32, 0x33]);

        m.run(2);
        let s = &m.cpu.state;
        assert_eq!((s.seg[sreg::CS].selector, s.cpl, s.rip), (0x2B, 3, CODE_BASE + 7));
        assert_eq!((s.seg[sreg::SS].selector, s.gpr[4]), (0x33, STACK_TOP), "retf 8 released the parameters");
        assert_eq!(s.seg[sreg::ES].selector, 0, "ring-0 ES is nulled on the way out");
        assert_eq!(s.seg[sreg::DS].selector, 0x33);
    }

    #[test]
    fn sixteen_bit_call_gate_pushes_words() {
        let mut m = machine();
        to_ring3(&mut m);
        // A 16-bit gate saves only SP, so the caller's stack lies below 64 KiB.
        let user_esp = 0xFFEE;
        w16(&mut m, user_esp, 0xBEEF);
        m.cpu.state.gpr[4] = user_esp;
        // 16-bit call gate, DPL 3, one word parameter.
        // A 16-bit gate holds a 16-bit offset.
        set_desc(&mut m, FREE, gate(0x08, 0x8040, 0xE4, 1));
        m.load_code(&[0x9A, 0, 0, 0, 0, (FREE | 3) as u8, 0x00]);
        // retf 2 (o16)
        m.load(0x8040, &[0x66, 0xCA, 0x02, 0x00]);
        m.run(1);
        let sp = ESP0 - 10;
        assert_eq!((m.cpu.state.rip, m.cpu.state.gpr[4]), (0x8040, sp));
        let frame: Vec<u16> = (0..5).map(|k| r16(&m, sp + k * 2)).collect();
        assert_eq!(frame, [(CODE_BASE + 7) as u16, 0x2B, 0xBEEF, user_esp as u16, 0x33]);
        m.run(1);
        let s = &m.cpu.state;
        assert_eq!((s.seg[sreg::CS].selector, s.rip), (0x2B, (CODE_BASE + 7) & 0xFFFF));
        assert_eq!(s.gpr[4], 0xFFF0);
    }

    #[test]
    fn gate_with_dpl_below_cpl_is_gp() {
        let mut m = machine();
        to_ring3(&mut m);
        int_gate(&mut m, 13, HANDLER + 0x100, 0);
        // call far 0063:0
        m.load_code(&[0x9A, 0, 0, 0, 0, (GATE_DPL0 | 3) as u8, 0x00]);
        m.run(2); // the delivery, then one handler instruction
        let s = &m.cpu.state;
        assert_eq!((s.seg[sreg::CS].selector, s.rip), (0x08, HANDLER + 0x101));
        let sp = ESP0 - 24;
        assert_eq!(s.gpr[4], sp);
        assert_eq!(m.read_u32(sp), u32::from(GATE_DPL0), "error code names the gate");
        assert_eq!(m.read_u32(sp + 4), CODE_BASE as u32, "EIP of the faulting CALL");
        assert_eq!(m.read_u32(sp + 8), 0x2B);
        assert_eq!(m.read_u32(sp + 16), STACK_TOP as u32, "user ESP unchanged");
    }

    #[test]
    fn jmp_to_more_privileged_code_is_gp_with_selector() {
        let mut m = machine();
        to_ring3(&mut m);
        int_gate(&mut m, 13, HANDLER + 0x100, 0);
        // jmp far 0008:0
        m.load_code(&[0xEA, 0, 0, 0, 0, 0x08, 0x00]);
        m.run(2); // the delivery, then one handler instruction
        assert_eq!(m.cpu.state.rip, HANDLER + 0x101);
        assert_eq!(m.read_u32(ESP0 - 24), 0x08);
    }

    #[test]
    fn jmp_through_call_gate_and_limit_check() {
        let mut m = machine();
        int_gate(&mut m, 13, HANDLER + 0x100, 0);
        // jmp far 0048:0 (gate to CODE32:HANDLER, same privilege)
        m.load_code(&[0xEA, 0, 0, 0, 0, 0x48, 0x00]);
        // jmp far 0018:00010000 (beyond the 64 KiB CODE16 limit)
        m.load(HANDLER, &[0xEA, 0x00, 0x00, 0x01, 0x00, 0x18, 0x00]);
        m.run(1);
        assert_eq!((cs(&m), m.cpu.state.rip), (0x08, HANDLER));
        assert_eq!(m.cpu.state.gpr[4], STACK_TOP, "a JMP pushes nothing");
        m.run(2); // the delivery, then one handler instruction
        assert_eq!(m.cpu.state.rip, HANDLER + 0x101);
        assert_eq!(m.read_u32(STACK_TOP - 16), 0, "#GP(0)");
        assert_eq!(m.read_u32(STACK_TOP - 12), HANDLER as u32);
    }

    #[test]
    fn same_privilege_far_call_and_retf_16() {
        let mut m = machine();
        // o16 call far 0018:8000 (CODE16)
        m.load_code(&[0x66, 0x9A, 0x00, 0x80, 0x18, 0x00]);
        // retf (16-bit operand size in the 16-bit segment)
        m.load(0x8000, &[0xCB]);
        m.run(1);
        let s = &m.cpu.state;
        assert_eq!((s.seg[sreg::CS].selector, s.rip), (0x18, 0x8000));
        assert!(!s.code32());
        assert_eq!(s.gpr[4], STACK_TOP - 4);
        assert_eq!(r16(&m, STACK_TOP - 4), (CODE_BASE + 6) as u16);
        assert_eq!(r16(&m, STACK_TOP - 2), 0x08);
        // The return offset is 16 bits wide: CODE_BASE + 6 truncated.
        m.run(1);
        assert_eq!((cs(&m), m.cpu.state.rip), (0x08, (CODE_BASE + 6) & 0xFFFF));
        assert_eq!(m.cpu.state.eflags & u64::from(fl::VM), 0);
    }

    #[test]
    fn retf_to_outer_level_checks_ss_before_changing_anything() {
        let mut m = machine();
        int_gate(&mut m, 13, HANDLER + 0x100, 0);
        // Return frame to ring 3 whose SS is a ring-0 segment.
        let sp = STACK_TOP - 16;
        for (k, v) in [(CODE_BASE + 0x40) as u32, 0x2B, 0x1000, 0x10].into_iter().enumerate() {
            w32(&mut m, sp + k as u64 * 4, v);
        }
        m.cpu.state.gpr[4] = sp;
        m.load_code(&[0xCB]);
        m.run(2); // the delivery, then one handler instruction
        let s = &m.cpu.state;
        assert_eq!((s.cpl, s.rip), (0, HANDLER + 0x101));
        assert_eq!(s.gpr[4], sp - 16, "#GP frame pushed on the unchanged stack");
        assert_eq!(m.read_u32(sp - 16), 0x10, "error code names SS");
        assert_eq!(m.read_u32(sp - 12), CODE_BASE as u32);
    }
}
