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
