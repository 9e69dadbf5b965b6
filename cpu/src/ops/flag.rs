//! Flag control: CLC, STC, CMC, CLD, STD, CLI, STI, PUSHF/PUSHFD and
//! POPF/POPFD (SDM vol. 2 instruction pages; vol. 3A 20.3 "Interrupt and
//! Exception Handling in Virtual-8086 Mode" and 20.4 "Protected-Mode
//! Virtual Interrupts" for the VME/PVI rules).
//!
//! IF belongs to the operating system: CLI/STI/POPF change it only when
//! CPL <= IOPL. Below that, V86 code with CR4.VME and ring-3 code with
//! CR4.PVI get a virtual copy (VIF) instead, and everything else traps to
//! the monitor with #GP(0).

use super::*;
use crate::state::{cr4, fl};
use iced_x86::Code::*;

pub(super) fn register(t: &mut Table) {
    t.set(Clc, clc);
    t.set(Stc, stc);
    t.set(Cmc, cmc);
    t.set(Cld, cld);
    t.set(Std, std_);
    t.set(Cli, cli);
    t.set(Sti, sti);
    t.set(Pushfw, pushf::<2>);
    t.set(Pushfd, pushf::<4>);
    t.set(Popfw, popf::<2>);
    t.set(Popfd, popf::<4>);
}

fn clc(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    cpu.state.set_arith(fl::CF, 0);
    Ok(())
}

fn stc(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    cpu.state.set_arith(fl::CF, fl::CF);
    Ok(())
}

fn cmc(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let cf = if cpu.state.cf() { 0 } else { fl::CF };
    cpu.state.set_arith(fl::CF, cf);
    Ok(())
}

fn cld(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    cpu.state.eflags &= !u64::from(fl::DF);
    Ok(())
}

fn std_(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    cpu.state.eflags |= u64::from(fl::DF);
    Ok(())
}

/// Which interrupt flag CLI/STI may change: `Ok(false)` IF, `Ok(true)`
/// VIF, or #GP(0) (SDM "CLI" and "STI" operation).
fn if_target(cpu: &Cpu) -> Result<bool, Fault> {
    let s = &cpu.state;
    if !s.protected() {
        return Ok(false);
    }
    let iopl = s.iopl();
    let (real, virt) =
        if s.v86() { (iopl == 3, s.cr4 & cr4::VME != 0) } else { (s.cpl <= iopl, s.cpl == 3 && s.cr4 & cr4::PVI != 0) };
    if real {
        Ok(false)
    } else if virt {
        Ok(true)
    } else {
        Err(Fault::gp(0))
    }
}

fn cli(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let bit = if if_target(cpu)? { fl::VIF } else { fl::IF };
    cpu.state.eflags &= !u64::from(bit);
    Ok(())
}

/// STI. Setting IF from 0 holds interrupts off until the next instruction
/// completes, so `STI; HLT` and `STI; RET` cannot be interrupted in
/// between; an STI with IF already set has no shadow.
fn sti(cpu: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let f = cpu.state.eflags;
    if if_target(cpu)? {
        // A pending virtual interrupt must reach the monitor instead.
        if f & u64::from(fl::VIP) != 0 {
            return Err(Fault::gp(0));
        }
        cpu.state.eflags |= u64::from(fl::VIF);
    } else if f & u64::from(fl::IF) == 0 {
        cpu.state.eflags |= u64::from(fl::IF);
        cpu.inhibit_irq = true;
        cpu.end_block = true;
    }
    Ok(())
}

/// V86 with IOPL < 3: the flags image VME software sees, VIF in the IF
/// position and IOPL reading as 3.
fn vme_image(f: u32) -> u32 {
    let vif = if f & fl::VIF != 0 { fl::IF } else { 0 };
    (f & !fl::IF) | vif | fl::IOPL
}

/// PUSHF/PUSHFD. The image has VM and RF clear; in V86 mode below IOPL 3
/// only the 16-bit form with CR4.VME works.
fn pushf<const N: usize>(cpu: &mut Cpu, env: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let s = &cpu.state;
    let f = s.flags();
    let img = if s.v86() && s.iopl() < 3 {
        if N == 4 || s.cr4 & cr4::VME == 0 {
            return Err(Fault::gp(0));
        }
        vme_image(f) & 0xFFFF
    } else if N == 2 {
        f & 0xFFFF
    } else {
        f & !(fl::VM | fl::RF)
    };
    cpu.push(env, N as u8, u64::from(img))
}

/// POPF/POPFD with the privilege rules of SDM "POPF": IOPL changes only
/// at CPL 0 (or in real mode), IF only at CPL <= IOPL; POPFD never changes
/// VM, VIP or VIF and clears RF. In V86 mode below IOPL 3 only the 16-bit
/// form with CR4.VME works, loading VIF from the popped IF.
fn popf<const N: usize>(cpu: &mut Cpu, env: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let v = cpu.stack_peek(env, 0, N as u8)? as u32;
    let s = &cpu.state;
    let old = s.flags();
    let iopl = s.iopl();
    let new = if s.v86() && iopl < 3 {
        if N == 4 || s.cr4 & cr4::VME == 0 {
            return Err(Fault::gp(0));
        }
        // Setting the virtual IF while an interrupt is pending, or setting
        // TF, must reach the monitor.
        if (old & fl::VIP != 0 && v & fl::IF != 0) || v & fl::TF != 0 {
            return Err(Fault::gp(0));
        }
        let keep = fl::IF | fl::IOPL;
        let changeable = 0xFFFF & fl::WRITABLE & !keep;
        let vif = if v & fl::IF != 0 { fl::VIF } else { 0 };
        (old & !(changeable | fl::VIF)) | (v & changeable) | vif
    } else {
        let mut changeable = if N == 4 { fl::WRITABLE & !(fl::RF | fl::VIP | fl::VIF | fl::VM) } else { 0xFFFF & fl::WRITABLE };
        if s.v86() || (s.protected() && s.cpl > 0) {
            changeable &= !fl::IOPL;
        }
        if !s.v86() && s.protected() && s.cpl > iopl {
            changeable &= !fl::IF;
        }
        let new = (old & !changeable) | (v & changeable);
        if N == 4 {
            new & !fl::RF
        } else {
            new
        }
    };
    super::stack::release(cpu, N as u64);
    cpu.state.set_flags(new);
    // A new TF takes effect after the next instruction, a new IF at the
    // next boundary: both need the executor to look again.
    if (old ^ new) & (fl::TF | fl::IF) != 0 {
        cpu.end_block = true;
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::string::tests::exec1;
    use super::*;
    use crate::{
        flags::FlagOp,
        state::{attr, reg, sreg, Segment},
        testing::{sel, TestMachine, CODE_BASE, STACK_TOP},
    };

    fn flags(m: &TestMachine) -> u32 {
        m.cpu.state.flags()
    }

    fn set_iopl(m: &mut TestMachine, iopl: u32) {
        let s = &mut m.cpu.state;
        s.eflags = (s.eflags & !u64::from(fl::IOPL)) | u64::from(iopl << fl::IOPL_SHIFT);
    }

    /// Ring 3 flat protected mode.
    fn user(iopl: u32) -> TestMachine {
        let mut m = TestMachine::flat32();
        m.load_segments(sel::CODE32_USER, sel::DATA32_USER);
        set_iopl(&mut m, iopl);
        m
    }

    /// Virtual-8086 mode: real-style segments with DPL 3, CPL 3, code at
    /// 1000:0000 and the stack at 7000:FFF0.
    fn v86(iopl: u32, cr4_bits: u64) -> TestMachine {
        let mut m = TestMachine::flat32();
        let s = &mut m.cpu.state;
        let seg = |sel: u16| Segment::real(sel, 0xFFFF, attr::REAL_DATA | (3 << attr::DPL_SHIFT));
        s.seg = [seg(0), seg(0x1000), seg(0x7000), seg(0), seg(0), seg(0)];
        s.gpr[reg::RSP] = 0xFFF0;
        s.rip = 0;
        s.cpl = 3;
        s.cr4 = cr4_bits;
        s.eflags |= u64::from(fl::VM);
        set_iopl(&mut m, iopl);
        m
    }

    #[test]
    fn carry_flag_instructions_keep_the_other_flags() {
        let mut m = TestMachine::flat32();
        // 1 - 2: CF and SF set, lazily.
        m.cpu.state.set_lazy(FlagOp::Sub, 4, 1, 2, 0xFFFF_FFFF);
        exec1(&mut m, &[0xF5]).unwrap(); // cmc
        assert_eq!(flags(&m) & (fl::CF | fl::SF | fl::ZF), fl::SF);
        exec1(&mut m, &[0xF9]).unwrap(); // stc
        assert_eq!(flags(&m) & (fl::CF | fl::SF | fl::ZF), fl::CF | fl::SF);
        exec1(&mut m, &[0xF5]).unwrap(); // cmc
        assert_eq!(flags(&m) & fl::CF, 0);
        exec1(&mut m, &[0xF9]).unwrap();
        exec1(&mut m, &[0xF8]).unwrap(); // clc
        assert_eq!(flags(&m) & (fl::CF | fl::SF), fl::SF);
    }

    #[test]
    fn direction_flag() {
        let mut m = TestMachine::real();
        exec1(&mut m, &[0xFD]).unwrap(); // std
        assert!(m.cpu.state.df());
        exec1(&mut m, &[0xFC]).unwrap(); // cld
        assert!(!m.cpu.state.df());
    }

    #[test]
    fn cli_sti_in_real_mode() {
        let mut m = TestMachine::real();
        m.cpu.state.eflags |= u64::from(fl::IF);
        exec1(&mut m, &[0xFA]).unwrap(); // cli
        assert_eq!(flags(&m) & fl::IF, 0);
        exec1(&mut m, &[0xFB]).unwrap(); // sti
        assert_ne!(flags(&m) & fl::IF, 0);
        assert!(m.cpu.inhibit_irq && m.cpu.end_block);
        // STI with IF already set opens no shadow.
        m.cpu.inhibit_irq = false;
        exec1(&mut m, &[0xFB]).unwrap();
        assert!(!m.cpu.inhibit_irq);
    }

    #[test]
    fn cli_sti_need_cpl_at_most_iopl() {
        let mut m = user(0);
        m.cpu.state.eflags |= u64::from(fl::IF);
        assert_eq!(exec1(&mut m, &[0xFA]), Err(Fault::gp(0)));
        assert_ne!(flags(&m) & fl::IF, 0);
        assert_eq!(m.cpu.state.rip, CODE_BASE);

        let mut m = user(3);
        exec1(&mut m, &[0xFA]).unwrap();
        assert_eq!(flags(&m) & fl::IF, 0);
        exec1(&mut m, &[0xFB]).unwrap();
        assert_ne!(flags(&m) & fl::IF, 0);

        // CPL 0 always may, whatever IOPL.
        let mut m = TestMachine::flat32();
        exec1(&mut m, &[0xFB]).unwrap();
        assert_ne!(flags(&m) & fl::IF, 0);
    }

    #[test]
    fn pvi_gives_ring_3_a_virtual_interrupt_flag() {
        let mut m = user(0);
        m.cpu.state.cr4 |= cr4::PVI;
        m.cpu.state.eflags |= u64::from(fl::IF | fl::VIF);
        exec1(&mut m, &[0xFA]).unwrap(); // cli
        assert_eq!(flags(&m) & (fl::IF | fl::VIF), fl::IF);
        exec1(&mut m, &[0xFB]).unwrap(); // sti
        assert_eq!(flags(&m) & (fl::IF | fl::VIF), fl::IF | fl::VIF);
        assert!(!m.cpu.inhibit_irq);
        // With a virtual interrupt pending, STI goes to the OS.
        m.cpu.state.eflags &= !u64::from(fl::VIF);
        m.cpu.state.eflags |= u64::from(fl::VIP);
        assert_eq!(exec1(&mut m, &[0xFB]), Err(Fault::gp(0)));
        assert_eq!(flags(&m) & fl::VIF, 0);

        // PVI is for ring 3 only.
        let mut m = user(0);
        m.cpu.state.cr4 |= cr4::PVI;
        m.cpu.state.cpl = 1;
        assert_eq!(exec1(&mut m, &[0xFA]), Err(Fault::gp(0)));
    }

    #[test]
    fn cli_sti_in_v86_mode() {
        let mut m = v86(3, 0);
        exec1(&mut m, &[0xFB]).unwrap();
        assert_ne!(flags(&m) & fl::IF, 0);
        exec1(&mut m, &[0xFA]).unwrap();
        assert_eq!(flags(&m) & fl::IF, 0);

        let mut m = v86(0, 0);
        assert_eq!(exec1(&mut m, &[0xFA]), Err(Fault::gp(0)));
        assert_eq!(exec1(&mut m, &[0xFB]), Err(Fault::gp(0)));

        let mut m = v86(0, cr4::VME);
        m.cpu.state.eflags |= u64::from(fl::IF);
        exec1(&mut m, &[0xFB]).unwrap();
        assert_eq!(flags(&m) & (fl::IF | fl::VIF), fl::IF | fl::VIF);
        exec1(&mut m, &[0xFA]).unwrap();
        assert_eq!(flags(&m) & (fl::IF | fl::VIF), fl::IF);
        m.cpu.state.eflags |= u64::from(fl::VIP);
        assert_eq!(exec1(&mut m, &[0xFB]), Err(Fault::gp(0)));
    }

    #[test]
    fn pushf_images() {
        // The pushed image never shows VM or RF.
        let mut m = TestMachine::flat32();
        m.cpu.state.eflags |= u64::from(fl::RF | fl::AC | fl::CF);
        exec1(&mut m, &[0x9C]).unwrap(); // pushfd
        assert_eq!(m.read_u32(STACK_TOP - 4), fl::FIXED | fl::AC | fl::CF);
        exec1(&mut m, &[0x66, 0x9C]).unwrap(); // pushf (16-bit)
        assert_eq!(m.read_phys(STACK_TOP - 6, 2), vec![(fl::FIXED | fl::CF) as u8, 0]);

        let mut m = v86(3, 0);
        exec1(&mut m, &[0x66, 0x9C]).unwrap(); // pushfd in V86 at IOPL 3
        let ss = m.cpu.state.seg[sreg::SS].base;
        assert_eq!(m.read_u32(ss + 0xFFEC), fl::FIXED | fl::IOPL);

        let mut m = v86(0, 0);
        assert_eq!(exec1(&mut m, &[0x9C]), Err(Fault::gp(0)));
        assert_eq!(m.cpu.state.gpr[reg::RSP], 0xFFF0);

        // VME: the 16-bit image has VIF as IF and IOPL 3; PUSHFD still traps.
        let mut m = v86(0, cr4::VME);
        m.cpu.state.eflags |= u64::from(fl::VIF);
        exec1(&mut m, &[0x9C]).unwrap();
        let ss = m.cpu.state.seg[sreg::SS].base;
        let img = (fl::FIXED | fl::IF | fl::IOPL) as u16;
        assert_eq!(m.read_phys(ss + 0xFFEE, 2), img.to_le_bytes().to_vec());
        m.cpu.state.rip = 0;
        assert_eq!(exec1(&mut m, &[0x66, 0x9C]), Err(Fault::gp(0)));
    }

    fn push_image(m: &mut TestMachine, v: u32) {
        let ss = m.cpu.state.seg[sreg::SS];
        let sp = (m.cpu.state.gpr[reg::RSP] & 0xFFFF_FFFF).wrapping_sub(4);
        m.cpu.state.gpr[reg::RSP] = if ss.big() { sp } else { sp & 0xFFFF };
        let at = ss.base + (m.cpu.state.gpr[reg::RSP]);
        m.load(at, &v.to_le_bytes());
    }

    #[test]
    fn popfd_at_cpl_0() {
        let mut m = TestMachine::flat32();
        m.cpu.state.eflags |= u64::from(fl::VIP);
        push_image(&mut m, fl::IOPL | fl::IF | fl::CF | fl::VM | fl::VIF | fl::RF | fl::AC | fl::ID);
        exec1(&mut m, &[0x9D]).unwrap(); // popfd
                                         // IOPL and IF change; VM, VIF and VIP do not; RF is cleared.
        assert_eq!(flags(&m), fl::FIXED | fl::IOPL | fl::IF | fl::CF | fl::AC | fl::ID | fl::VIP);
        assert_eq!(m.cpu.state.gpr[reg::RSP], STACK_TOP);
        assert!(m.cpu.end_block, "IF changed");
    }

    #[test]
    fn popf_below_iopl_keeps_if_and_iopl() {
        let mut m = user(0);
        push_image(&mut m, fl::IOPL | fl::IF | fl::CF | fl::DF);
        exec1(&mut m, &[0x9D]).unwrap();
        assert_eq!(flags(&m), fl::FIXED | fl::CF | fl::DF);
        assert!(!m.cpu.end_block);

        // CPL 1 with IOPL 1 may change IF but not IOPL.
        let mut m = TestMachine::flat32();
        m.cpu.state.cpl = 1;
        set_iopl(&mut m, 1);
        push_image(&mut m, fl::IOPL | fl::IF);
        exec1(&mut m, &[0x9D]).unwrap();
        assert_eq!(flags(&m), fl::FIXED | fl::IF | (1 << fl::IOPL_SHIFT));
    }

    #[test]
    fn popf_in_real_mode_changes_the_low_word_only() {
        let mut m = TestMachine::real();
        m.cpu.state.eflags |= u64::from(fl::AC);
        let ss = m.cpu.state.seg[sreg::SS].base;
        m.load(ss + 0xFFEE, &((fl::IOPL | fl::NT | fl::SF) as u16).to_le_bytes());
        m.cpu.state.gpr[reg::RSP] = 0xFFEE;
        exec1(&mut m, &[0x9D]).unwrap(); // popf
        assert_eq!(flags(&m), fl::FIXED | fl::IOPL | fl::NT | fl::SF | fl::AC);
        assert_eq!(m.cpu.state.gpr[reg::RSP], 0xFFF0);
    }

    #[test]
    fn popf_in_v86_mode() {
        // IOPL 3: works, but never changes IOPL or VM.
        let mut m = v86(3, 0);
        push_image(&mut m, fl::IF | fl::ZF);
        exec1(&mut m, &[0x66, 0x9D]).unwrap(); // popfd
        assert_eq!(flags(&m), fl::FIXED | fl::VM | fl::IOPL | fl::IF | fl::ZF);

        // IOPL < 3 without VME traps to the monitor.
        let mut m = v86(0, 0);
        push_image(&mut m, fl::IF);
        assert_eq!(exec1(&mut m, &[0x9D]), Err(Fault::gp(0)));
        assert_eq!(m.cpu.state.gpr[reg::RSP], 0xFFEC);

        // VME: the 16-bit form loads VIF from the image's IF.
        let mut m = v86(0, cr4::VME);
        m.cpu.state.eflags |= u64::from(fl::IF);
        push_image(&mut m, fl::CF | fl::IOPL);
        exec1(&mut m, &[0x9D]).unwrap();
        assert_eq!(flags(&m), fl::FIXED | fl::VM | fl::IF | fl::CF);
        assert_eq!(m.cpu.state.gpr[reg::RSP], 0xFFEE);
        push_image(&mut m, fl::IF);
        m.cpu.state.rip = 0;
        exec1(&mut m, &[0x9D]).unwrap();
        assert_eq!(flags(&m), fl::FIXED | fl::VM | fl::IF | fl::VIF);
        // ...but not TF, nor IF while a virtual interrupt is pending, nor POPFD.
        for (img, code) in [(fl::TF, &[0x9D][..]), (0, &[0x66, 0x9D][..])] {
            push_image(&mut m, img);
            m.cpu.state.rip = 0;
            let sp = m.cpu.state.gpr[reg::RSP];
            assert_eq!(exec1(&mut m, code), Err(Fault::gp(0)));
            assert_eq!(m.cpu.state.gpr[reg::RSP], sp);
        }
        m.cpu.state.eflags |= u64::from(fl::VIP);
        push_image(&mut m, fl::IF);
        m.cpu.state.rip = 0;
        assert_eq!(exec1(&mut m, &[0x9D]), Err(Fault::gp(0)));
    }

    #[test]
    fn sti_holds_interrupts_off_for_one_instruction() {
        let mut m = TestMachine::flat32();
        m.set_int_gate(0x6000, 0x20, 0x7000, 0);
        m.load(0x7000, &[0xBB, 0x01, 0x00, 0x00, 0x00, 0xEB, 0xFE]); // mov ebx, 1; jmp $
                                                                     // sti; mov eax, 1; mov ecx, 1
        m.load_code(&[0xFB, 0xB8, 0x01, 0x00, 0x00, 0x00, 0xB9, 0x01, 0x00, 0x00, 0x00]);
        m.bus.irq = Some(0x20);
        m.run(2);
        assert_eq!(m.cpu.state.gpr[reg::RAX], 1, "the instruction after STI ran");
        assert_eq!(m.cpu.state.gpr[reg::RBX], 0, "the interrupt waited for it");
        m.run(2); // the delivery, then one handler instruction
        assert_eq!(m.cpu.state.gpr[reg::RBX], 1);
        assert_eq!(m.cpu.state.gpr[reg::RCX], 0);
        let esp = m.cpu.state.gpr[reg::RSP];
        assert_eq!(u64::from(m.read_u32(esp)), CODE_BASE + 6);
    }

    #[test]
    fn popf_setting_tf_traps_after_the_next_instruction() {
        let mut m = TestMachine::flat32();
        m.set_int_gate(0x6000, crate::fault::vector::DB, 0x7000, 0);
        m.load(0x7000, &[0xEB, 0xFE]);
        // push 0x102; popfd; mov eax, 1; mov ebx, 1
        m.load_code(&[0x68, 0x02, 0x01, 0, 0, 0x9D, 0xB8, 1, 0, 0, 0, 0xBB, 1, 0, 0, 0]);
        m.run(3);
        assert_eq!(m.cpu.state.rip, 0x7000);
        assert_eq!(m.cpu.state.gpr[reg::RAX], 1);
        assert_eq!(m.cpu.state.gpr[reg::RBX], 0);
        let esp = m.cpu.state.gpr[reg::RSP];
        assert_eq!(u64::from(m.read_u32(esp)), CODE_BASE + 11);
    }
}
