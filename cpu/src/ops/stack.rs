//! Stack instructions: PUSH, POP, PUSHA/PUSHAD, POPA/POPAD, ENTER, LEAVE
//! (SDM vol. 2 instruction pages; vol. 1 6.2 "Stacks").
//!
//! SS.B picks SP or ESP; the operand size picks how much is moved. Every
//! access goes through SS, so limit violations raise #SS(0), and a faulting
//! instruction leaves ESP (and EBP for ENTER) as they were.
//!
//! A 32-bit PUSH of a segment register writes four bytes, the selector
//! zero-extended. The SDM allows either that or a 16-bit write that leaves
//! the upper half of the slot alone (what recent Core processors do); the
//! P6 family this machine models, and QEMU, store the zero-extended value,
//! which also makes the stack contents deterministic.

use super::*;
use crate::state::{reg, sreg};
use iced_x86::Code::*;

pub(super) fn register(t: &mut Table) {
    t.set_all(&[Push_r16, Push_rm16, Push_imm16, Pushw_imm8], push::<2>);
    t.set_all(&[Push_r32, Push_rm32, Pushd_imm32, Pushd_imm8], push::<4>);
    t.set_all(&[Pushw_ES, Pushw_CS, Pushw_SS, Pushw_DS, Pushw_FS, Pushw_GS], push_sreg::<2>);
    t.set_all(&[Pushd_ES, Pushd_CS, Pushd_SS, Pushd_DS, Pushd_FS, Pushd_GS], push_sreg::<4>);
    t.set_all(&[Pop_r16, Pop_rm16], pop::<2>);
    t.set_all(&[Pop_r32, Pop_rm32], pop::<4>);
    t.set_all(&[Popw_ES, Popw_SS, Popw_DS, Popw_FS, Popw_GS], pop_sreg::<2>);
    t.set_all(&[Popd_ES, Popd_SS, Popd_DS, Popd_FS, Popd_GS], pop_sreg::<4>);
    t.set(Pushaw, pusha::<2>);
    t.set(Pushad, pusha::<4>);
    t.set(Popaw, popa::<2>);
    t.set(Popad, popa::<4>);
    t.set(Enterw_imm16_imm8, enter::<2>);
    t.set(Enterd_imm16_imm8, enter::<4>);
    t.set(Leavew, leave::<2>);
    t.set(Leaved, leave::<4>);
}

/// Moves the stack pointer up by `n` bytes, wrapping as SS.B says.
#[inline(always)]
pub(super) fn release(cpu: &mut Cpu, n: u64) {
    let mask = cpu.sp_mask();
    let sp = cpu.state.gpr[reg::RSP];
    cpu.state.gpr[reg::RSP] = (sp & !mask) | (sp.wrapping_add(n) & mask);
}

/// Writes the low `N` bytes of a general register (16-bit writes merge).
#[inline(always)]
fn set_reg<const N: usize>(cpu: &mut Cpu, r: usize, v: u64) {
    if N == 2 {
        cpu.state.set_r16(r, v as u16);
    } else {
        cpu.state.set_r32(r, v as u32);
    }
}

/// PUSH r, r/m, imm. The operand is read before ESP moves, so PUSH ESP
/// and PUSH [ESP+n] see the old stack pointer (SDM "PUSH").
fn push<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let v = read_op::<N>(cpu, env, i, 0)?;
    cpu.push(env, N as u8, v)
}

fn push_sreg<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let seg = seg_index(i.op0_register());
    let sel = cpu.state.seg.get(seg).map_or(0, |s| s.selector);
    cpu.push(env, N as u8, u64::from(sel))
}

/// POP r/m. A memory destination addressed through ESP uses the value ESP
/// has after the pop (SDM "POP"); POP ESP leaves the popped value in ESP.
fn pop<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let v = cpu.stack_peek(env, 0, N as u8)?;
    let old = cpu.state.gpr[reg::RSP];
    release(cpu, N as u64);
    if i.op0_kind() == OpKind::Register {
        reg_write(&mut cpu.state, i.op0_register(), v);
        return Ok(());
    }
    let (seg, off) = mem_operand(&cpu.state, i);
    if let Err(f) = cpu.write::<N>(env, seg, off, v) {
        cpu.state.gpr[reg::RSP] = old;
        return Err(f);
    }
    Ok(())
}

/// POP DS/ES/FS/GS/SS with the checks of MOV Sreg. ESP moves by the old
/// SS's size. POP SS holds off interrupts for one instruction, so that a
/// following MOV/POP ESP completes the stack switch.
fn pop_sreg<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let seg = seg_index(i.op0_register());
    if seg == sreg::CS || seg > sreg::GS {
        return Err(Fault::UD);
    }
    let v = cpu.stack_peek(env, 0, N as u8)? as u16;
    let mask = cpu.sp_mask();
    let sp = cpu.state.gpr[reg::RSP];
    cpu.load_seg(env, seg, v)?;
    cpu.state.gpr[reg::RSP] = (sp & !mask) | (sp.wrapping_add(N as u64) & mask);
    if seg == sreg::SS {
        cpu.inhibit_irq = true;
        cpu.end_block = true;
    }
    Ok(())
}

/// PUSHA/PUSHAD: AX CX DX BX, the original SP, BP SI DI.
fn pusha<const N: usize>(cpu: &mut Cpu, env: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let g = cpu.state.gpr;
    let old = g[reg::RSP];
    for r in [reg::RAX, reg::RCX, reg::RDX, reg::RBX, reg::RSP, reg::RBP, reg::RSI, reg::RDI] {
        if let Err(f) = cpu.push(env, N as u8, g[r]) {
            cpu.state.gpr[reg::RSP] = old;
            return Err(f);
        }
    }
    Ok(())
}

/// POPA/POPAD: the reverse of PUSHA, discarding the saved SP. All eight
/// slots are read before any register changes.
fn popa<const N: usize>(cpu: &mut Cpu, env: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let mut v = [0u64; 8];
    for (k, slot) in v.iter_mut().enumerate() {
        *slot = cpu.stack_peek(env, (k * N) as u64, N as u8)?;
    }
    let order = [reg::RDI, reg::RSI, reg::RBP, reg::RSP, reg::RBX, reg::RDX, reg::RCX, reg::RAX];
    for (&r, &x) in order.iter().zip(v.iter()) {
        if r != reg::RSP {
            set_reg::<N>(cpu, r, x);
        }
    }
    release(cpu, 8 * N as u64);
    Ok(())
}

/// ENTER imm16, imm8: builds a frame with `imm8 % 32` levels of display
/// (SDM "ENTER"). ESP and EBP are restored if any access faults.
fn enter<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let (sp, bp) = (cpu.state.gpr[reg::RSP], cpu.state.gpr[reg::RBP]);
    let r = enter_frame::<N>(cpu, env, u64::from(i.immediate16()), i.immediate8_2nd() % 32);
    if r.is_err() {
        cpu.state.gpr[reg::RSP] = sp;
        cpu.state.gpr[reg::RBP] = bp;
    }
    r
}

fn enter_frame<const N: usize>(cpu: &mut Cpu, env: &mut Env, alloc: u64, level: u8) -> Result<(), Fault> {
    let size = N as u8;
    let smask = cpu.sp_mask();
    let omask = crate::flags::mask(size);
    let bp = cpu.state.gpr[reg::RBP];
    cpu.push(env, size, bp)?;
    let frame = cpu.state.gpr[reg::RSP] & omask;
    if level > 0 {
        // The enclosing frames' display entries, found through the frame
        // pointer as the stack size addresses it (BP or EBP).
        let mut fp = bp & smask;
        for _ in 1..level {
            fp = fp.wrapping_sub(N as u64) & smask;
            let v = cpu.read_sized(env, sreg::SS, fp, size)?;
            cpu.push(env, size, v)?;
        }
        cpu.push(env, size, frame)?;
    }
    let rsp = cpu.state.gpr[reg::RSP];
    let new_sp = rsp.wrapping_sub(alloc) & smask;
    // The processor write-checks the final stack top (without writing),
    // so a frame that does not fit faults here rather than later.
    let lin = cpu.seg_lin(sreg::SS, new_sp, N as u32, true)?;
    let user = cpu.user();
    cpu.probe_write(env, lin, N, user)?;
    cpu.state.gpr[reg::RSP] = (rsp & !smask) | new_sp;
    set_reg::<N>(cpu, reg::RBP, frame);
    Ok(())
}

/// LEAVE: SP/ESP <- BP/EBP (by stack size), then pop BP/EBP (by operand
/// size).
fn leave<const N: usize>(cpu: &mut Cpu, env: &mut Env, _: &Instruction) -> Result<(), Fault> {
    let smask = cpu.sp_mask();
    let sp = cpu.state.gpr[reg::RBP] & smask;
    let v = cpu.read_sized(env, sreg::SS, sp, N as u8)?;
    let rsp = cpu.state.gpr[reg::RSP];
    cpu.state.gpr[reg::RSP] = (rsp & !smask) | (sp.wrapping_add(N as u64) & smask);
    set_reg::<N>(cpu, reg::RBP, v);
    Ok(())
}
