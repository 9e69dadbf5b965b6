//! Near control transfers: JMP, Jcc, CALL, RET, LOOP/LOOPcc, JCXZ/JECXZ
//! (SDM vol. 2). The target is checked against the CS limit before
//! anything changes; a 16-bit operand size truncates EIP to 16 bits.

use super::*;
use crate::state::{reg, sreg};
use iced_x86::{Code::*, Mnemonic};

pub(super) fn register(t: &mut Table) {
    t.set_all(&[Jmp_rel8_16, Jmp_rel16, Jmp_rel8_32, Jmp_rel32_32], jmp_rel);
    t.set(Jmp_rm16, jmp_rm::<2>);
    t.set(Jmp_rm32, jmp_rm::<4>);
    t.set_all(&[Call_rel16], call_rel::<2>);
    t.set_all(&[Call_rel32_32], call_rel::<4>);
    t.set(Call_rm16, call_rm::<2>);
    t.set(Call_rm32, call_rm::<4>);
    t.set_all(&[Retnw, Retnw_imm16], ret_near::<2>);
    t.set_all(&[Retnd, Retnd_imm16], ret_near::<4>);
    for c in iced_x86::Code::values() {
        let m = c.mnemonic();
        let legacy = c.op_code().mode16() || c.op_code().mode32();
        if !legacy || c.op_code().encoding() != iced_x86::EncodingKind::Legacy {
            continue;
        }
        if c.is_jcc_short_or_near() {
            t.set(c, jcc);
        } else if matches!(m, Mnemonic::Loop | Mnemonic::Loope | Mnemonic::Loopne) {
            t.set(c, loop_);
        } else if matches!(m, Mnemonic::Jcxz | Mnemonic::Jecxz) {
            t.set(c, jcxz);
        }
    }
}

/// Jumps to `target` (already masked to the operand size) after the CS
/// limit check.
#[inline(always)]
pub(crate) fn branch(cpu: &mut Cpu, target: u64) -> Result<(), Fault> {
    if target > u64::from(cpu.state.seg[sreg::CS].limit) {
        return Err(Fault::gp(0));
    }
    cpu.state.rip = target;
    Ok(())
}

/// The relative branch target iced computed, truncated to the operand size.
#[inline(always)]
fn rel_target(i: &Instruction) -> u64 {
    let t = i.near_branch_target();
    if i.op_kind(0) == OpKind::NearBranch16 {
        t & 0xFFFF
    } else {
        t & 0xFFFF_FFFF
    }
}

fn jmp_rel(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    branch(cpu, rel_target(i))
}

fn jmp_rm<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let t = read_op::<N>(cpu, env, i, 0)?;
    branch(cpu, t)
}

fn jcc(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let cc = i.condition_code() as u8 - 1;
    if cpu.state.cond(cc) {
        branch(cpu, rel_target(i))
    } else {
        Ok(())
    }
}

/// Pushes the return address, then jumps; if the target is outside CS the
/// push is undone so the instruction can be restarted.
fn call_to<const N: usize>(cpu: &mut Cpu, env: &mut Env, target: u64) -> Result<(), Fault> {
    if target > u64::from(cpu.state.seg[sreg::CS].limit) {
        return Err(Fault::gp(0));
    }
    let ret = cpu.state.rip;
    cpu.push(env, N as u8, ret)?;
    cpu.state.rip = target;
    Ok(())
}

fn call_rel<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    call_to::<N>(cpu, env, rel_target(i))
}

fn call_rm<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let t = read_op::<N>(cpu, env, i, 0)?;
    call_to::<N>(cpu, env, t)
}

/// RET [imm16]: pops EIP, then releases imm16 bytes of parameters.
fn ret_near<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let target = cpu.stack_peek(env, 0, N as u8)?;
    if target > u64::from(cpu.state.seg[sreg::CS].limit) {
        return Err(Fault::gp(0));
    }
    let release = if i.op_count() == 1 { u64::from(i.immediate16()) } else { 0 };
    let mask = cpu.sp_mask();
    let sp = cpu.state.gpr[reg::RSP];
    cpu.state.gpr[reg::RSP] = (sp & !mask) | (sp.wrapping_add(N as u64 + release) & mask);
    cpu.state.rip = target;
    Ok(())
}

/// The count register of LOOP/JCXZ: CX or ECX by address size.
#[inline(always)]
fn count_mask(i: &Instruction) -> u64 {
    // The address size (the default, or flipped by 0x67) picks the form.
    if matches!(
        i.code(),
        Loop_rel8_16_CX
            | Loop_rel8_32_CX
            | Loope_rel8_16_CX
            | Loope_rel8_32_CX
            | Loopne_rel8_16_CX
            | Loopne_rel8_32_CX
            | Jcxz_rel8_16
            | Jcxz_rel8_32
    ) {
        0xFFFF
    } else {
        0xFFFF_FFFF
    }
}

fn loop_(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let m = count_mask(i);
    let rcx = cpu.state.gpr[reg::RCX];
    let c = rcx.wrapping_sub(1) & m;
    let taken = c != 0
        && match i.mnemonic() {
            Mnemonic::Loope => cpu.state.zf(),
            Mnemonic::Loopne => !cpu.state.zf(),
            _ => true,
        };
    if taken {
        branch(cpu, rel_target(i))?;
    }
    cpu.state.gpr[reg::RCX] = (rcx & !m) | c;
    Ok(())
}

fn jcxz(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    if cpu.state.gpr[reg::RCX] & count_mask(i) == 0 {
        branch(cpu, rel_target(i))
    } else {
        Ok(())
    }
}
