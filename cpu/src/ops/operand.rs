//! Operand access shared by all handlers: registers named by iced-x86,
//! effective addresses with 16- and 32-bit addressing, and read-modify-
//! write locations.

use crate::{fault::Fault, state::CpuState, Cpu, Env};
use iced_x86::{Instruction, OpKind, Register};

/// Segment register index (ES..GS) of an iced-x86 segment register.
#[inline(always)]
pub(crate) fn seg_index(r: Register) -> usize {
    (r as usize).wrapping_sub(Register::ES as usize)
}

/// Where a general register of some size lives in `CpuState::gpr`: the
/// full register's index, the bit offset, the value mask, and the bits of
/// the full register a write keeps (8/16-bit writes merge, 32-bit writes
/// zero-extend). Indexed by iced-x86's `Register` number; anything that is
/// not a general register reads as 0 and ignores writes.
#[derive(Clone, Copy)]
struct RegSlot {
    index: u8,
    shift: u8,
    mask: u64,
    keep: u64,
}

const fn reg_slot(n: usize) -> RegSlot {
    let none = RegSlot { index: 0, shift: 0, mask: 0, keep: u64::MAX };
    let (index, shift, mask, keep) = match n {
        1..=4 => (n - 1, 0, 0xFF, !0xFF),
        5..=8 => (n - 5, 8, 0xFF, !0xFF00),
        9..=20 => (n - 5, 0, 0xFF, !0xFF),
        21..=36 => (n - 21, 0, 0xFFFF, !0xFFFF),
        37..=52 => (n - 37, 0, 0xFFFF_FFFF, 0),
        53..=68 => (n - 53, 0, u64::MAX, 0),
        _ => return none,
    };
    RegSlot { index: index as u8, shift, mask, keep }
}

static REG_SLOTS: [RegSlot; 256] = {
    let mut t = [reg_slot(0); 256];
    let mut n = 0;
    while n < 256 {
        t[n] = reg_slot(n);
        n += 1;
    }
    t
};

/// Reads a general register of any size (AL..R15).
#[inline(always)]
pub(crate) fn reg_read(s: &CpuState, r: Register) -> u64 {
    let slot = REG_SLOTS[r as usize & 0xFF];
    (s.gpr[usize::from(slot.index & 15)] >> slot.shift) & slot.mask
}

/// Writes a general register of any size: 8- and 16-bit writes merge into
/// the full register, 32-bit writes zero-extend.
#[inline(always)]
pub(crate) fn reg_write(s: &mut CpuState, r: Register, v: u64) {
    let slot = REG_SLOTS[r as usize & 0xFF];
    let g = &mut s.gpr[usize::from(slot.index & 15)];
    *g = (*g & slot.keep) | ((v & slot.mask) << slot.shift);
}

/// Whether the memory operand uses 16-bit addressing.
#[inline(always)]
pub(crate) fn addr16(i: &Instruction) -> bool {
    let r = match (i.memory_base(), i.memory_index()) {
        (Register::None, Register::None) => return i.memory_displ_size() == 2,
        (Register::None, x) => x,
        (b, _) => b,
    };
    (Register::AX as usize..=Register::R15W as usize).contains(&(r as usize))
}

/// Effective address (offset within the segment) of the memory operand.
#[inline(always)]
pub(crate) fn ea(s: &CpuState, i: &Instruction) -> u64 {
    let mut a = i.memory_displacement64();
    let base = i.memory_base();
    if base != Register::None {
        a = a.wrapping_add(reg_read(s, base));
    }
    let index = i.memory_index();
    if index != Register::None {
        a = a.wrapping_add(reg_read(s, index).wrapping_mul(u64::from(i.memory_index_scale())));
    }
    if addr16(i) {
        a & 0xFFFF
    } else {
        a & 0xFFFF_FFFF
    }
}

/// Segment and offset of the memory operand.
#[inline(always)]
pub(crate) fn mem_operand(s: &CpuState, i: &Instruction) -> (usize, u64) {
    (seg_index(i.memory_segment()), ea(s, i))
}

/// Reads operand `n` (register, memory or immediate) as `N` bytes.
#[inline(always)]
pub(crate) fn read_op<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction, n: u32) -> Result<u64, Fault> {
    match i.op_kind(n) {
        OpKind::Register => Ok(reg_read(&cpu.state, i.op_register(n))),
        OpKind::Memory => {
            let (seg, off) = mem_operand(&cpu.state, i);
            cpu.read::<N>(env, seg, off)
        }
        _ => Ok(i.immediate(n) & crate::flags::mask(N as u8)),
    }
}

/// Writes operand 0 (register or memory) as `N` bytes.
#[inline(always)]
pub(crate) fn write_op0<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction, v: u64) -> Result<(), Fault> {
    if i.op0_kind() == OpKind::Register {
        reg_write(&mut cpu.state, i.op0_register(), v);
        Ok(())
    } else {
        let (seg, off) = mem_operand(&cpu.state, i);
        cpu.write::<N>(env, seg, off, v)
    }
}

/// Where a read-modify-write destination lives.
#[derive(Clone, Copy, Debug)]
pub(crate) enum Loc {
    Reg(Register),
    /// A linear address whose segment checks (for writing) are done.
    Mem(u64),
}

/// Resolves operand 0 for read-modify-write and reads it. A memory
/// destination is checked for writing before it is read, so a read-only
/// page reports a write fault, as hardware does for these instructions.
#[inline(always)]
pub(crate) fn rmw_read<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(Loc, u64), Fault> {
    if i.op0_kind() == OpKind::Register {
        let r = i.op0_register();
        return Ok((Loc::Reg(r), reg_read(&cpu.state, r)));
    }
    let (seg, off) = mem_operand(&cpu.state, i);
    let lin = cpu.seg_lin(seg, off, N as u32, true)?;
    let user = cpu.user();
    if !cpu.tlb.write_hit::<N>(lin, user) {
        cpu.probe_write(env, lin, N, user)?;
    }
    let v = cpu.read_lin::<N>(env, lin, user)?;
    Ok((Loc::Mem(lin), v))
}

/// Writes back a read-modify-write destination.
#[inline(always)]
pub(crate) fn rmw_write<const N: usize>(cpu: &mut Cpu, env: &mut Env, loc: Loc, v: u64) -> Result<(), Fault> {
    match loc {
        Loc::Reg(r) => {
            reg_write(&mut cpu.state, r, v);
            Ok(())
        }
        Loc::Mem(lin) => {
            let user = cpu.user();
            cpu.write_lin::<N>(env, lin, v, user)
        }
    }
}
