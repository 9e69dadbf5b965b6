//! String instructions: MOVS, CMPS, SCAS, LODS, STOS, INS, OUTS and the
//! REP/REPE/REPNE prefixes (SDM vol. 2 instruction pages and "REP/REPE/
//! REPZ/REPNE/REPNZ"; vol. 1 7.3.9 "String Operations").
//!
//! The address size picks SI/DI/CX or ESI/EDI/ECX; only the source
//! (DS:SI) takes a segment override, the destination is always ES:DI.
//!
//! A repeated instruction runs at most [`CHUNK`] iterations per execution
//! and then, if the count is not exhausted, leaves EIP on itself and ends
//! the block: the executor can take interrupts between chunks, as hardware
//! does between iterations, and the next execution resumes from the
//! registers. A fault in an iteration leaves SI/DI/CX as the completed
//! iterations left them, so the guest's handler can fix the cause and IRET
//! back into the middle of the copy.

use super::*;
use crate::{
    flags::{mask, FlagOp},
    state::{fl, reg, sreg},
};
use iced_x86::Code::*;

/// What one iteration does.
mod kind {
    pub const MOVS: u8 = 0;
    pub const CMPS: u8 = 1;
    pub const SCAS: u8 = 2;
    pub const LODS: u8 = 3;
    pub const STOS: u8 = 4;
    pub const INS: u8 = 5;
    pub const OUTS: u8 = 6;
}
use kind::*;

/// Iterations a repeated instruction runs before it yields to the
/// executor.
const CHUNK: u64 = 4096;

pub(super) fn register(t: &mut Table) {
    t.set(Movsb_m8_m8, string::<1, MOVS>);
    t.set(Movsw_m16_m16, string::<2, MOVS>);
    t.set(Movsd_m32_m32, string::<4, MOVS>);
    t.set(Cmpsb_m8_m8, string::<1, CMPS>);
    t.set(Cmpsw_m16_m16, string::<2, CMPS>);
    t.set(Cmpsd_m32_m32, string::<4, CMPS>);
    t.set(Scasb_AL_m8, string::<1, SCAS>);
    t.set(Scasw_AX_m16, string::<2, SCAS>);
    t.set(Scasd_EAX_m32, string::<4, SCAS>);
    t.set(Lodsb_AL_m8, string::<1, LODS>);
    t.set(Lodsw_AX_m16, string::<2, LODS>);
    t.set(Lodsd_EAX_m32, string::<4, LODS>);
    t.set(Stosb_m8_AL, string::<1, STOS>);
    t.set(Stosw_m16_AX, string::<2, STOS>);
    t.set(Stosd_m32_EAX, string::<4, STOS>);
    t.set(Insb_m8_DX, string::<1, INS>);
    t.set(Insw_m16_DX, string::<2, INS>);
    t.set(Insd_m32_DX, string::<4, INS>);
    t.set(Outsb_DX_m8, string::<1, OUTS>);
    t.set(Outsw_DX_m16, string::<2, OUTS>);
    t.set(Outsd_DX_m32, string::<4, OUTS>);
}

/// How the instruction repeats.
#[derive(Clone, Copy, PartialEq, Eq)]
enum Repeat {
    Once,
    /// REP, and REPNE on the non-comparing forms (which acts as REP).
    Count,
    /// Repeat while equal (F3 on CMPS/SCAS).
    WhileEqual,
    /// Repeat while not equal (F2 on CMPS/SCAS).
    WhileNotEqual,
}

const fn reads_src(k: u8) -> bool {
    matches!(k, MOVS | CMPS | LODS | OUTS)
}

const fn uses_dst(k: u8) -> bool {
    matches!(k, MOVS | CMPS | SCAS | STOS | INS)
}

const fn writes_dst(k: u8) -> bool {
    matches!(k, MOVS | STOS | INS)
}

/// What every iteration of one execution shares.
#[derive(Clone, Copy)]
struct Ctx {
    /// 0xFFFF or 0xFFFF_FFFF: the address size.
    am: u64,
    /// DF set: addresses go down.
    down: bool,
    src_seg: usize,
    repeat: Repeat,
    user: bool,
    port: u16,
}

/// Address size of a string instruction, from iced's operand kinds.
fn addr32(i: &Instruction) -> bool {
    for n in 0..i.op_count() {
        match i.op_kind(n) {
            OpKind::MemorySegSI | OpKind::MemoryESDI => return false,
            OpKind::MemorySegESI | OpKind::MemoryESEDI => return true,
            _ => {}
        }
    }
    true
}

fn repeat(k: u8, i: &Instruction) -> Repeat {
    let compares = matches!(k, CMPS | SCAS);
    if i.has_repe_prefix() {
        if compares {
            Repeat::WhileEqual
        } else {
            Repeat::Count
        }
    } else if i.has_repne_prefix() {
        if compares {
            Repeat::WhileNotEqual
        } else {
            Repeat::Count
        }
    } else {
        Repeat::Once
    }
}

fn string<const N: usize, const K: u8>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let c = Ctx {
        am: if addr32(i) { 0xFFFF_FFFF } else { 0xFFFF },
        down: cpu.state.df(),
        src_seg: seg_index(i.memory_segment()),
        repeat: repeat(K, i),
        user: cpu.user(),
        port: cpu.state.gpr[reg::RDX] as u16,
    };
    if c.repeat == Repeat::Once {
        run::<N, K, true>(cpu, env, &c, 1)?;
        return Ok(());
    }
    // Single-stepping a repeated instruction traps after every iteration.
    let mut budget = if cpu.state.eflags & u64::from(fl::TF) != 0 { 1 } else { CHUNK };
    loop {
        let count = cpu.state.gpr[reg::RCX] & c.am;
        if count == 0 {
            return Ok(());
        }
        if budget == 0 {
            cpu.state.rip = i.ip();
            cpu.end_block = true;
            return Ok(());
        }
        let mut n = count.min(budget);
        if reads_src(K) {
            n = n.min(room(cpu.state.gpr[reg::RSI] & c.am, c.am, c.down, N as u64));
        }
        if uses_dst(K) {
            n = n.min(room(cpu.state.gpr[reg::RDI] & c.am, c.am, c.down, N as u64));
        }
        let stopped = if n > 1 && run_fits::<K>(cpu, &c, n, N as u64) {
            run::<N, K, false>(cpu, env, &c, n)?
        } else {
            n = 1;
            run::<N, K, true>(cpu, env, &c, 1)?
        };
        if stopped {
            return Ok(());
        }
        budget -= n;
    }
}

/// Elements of `size` bytes that fit from `off` onwards (in the direction
/// of travel) before the address register wraps.
#[inline(always)]
fn room(off: u64, am: u64, down: bool, size: u64) -> u64 {
    if down {
        off / size + 1
    } else {
        (am - off + 1) / size
    }
}

/// Whether `n` iterations pass the segment checks of every access they
/// make, so that they can run without per-element checks.
#[inline(always)]
fn run_fits<const K: u8>(cpu: &Cpu, c: &Ctx, n: u64, size: u64) -> bool {
    let span = |off: u64| -> (u64, u32) {
        let low = if c.down { off - (n - 1) * size } else { off };
        (low, (n * size) as u32)
    };
    if reads_src(K) {
        let (low, len) = span(cpu.state.gpr[reg::RSI] & c.am);
        if cpu.seg_lin(c.src_seg, low, len, false).is_err() {
            return false;
        }
    }
    if uses_dst(K) {
        let (low, len) = span(cpu.state.gpr[reg::RDI] & c.am);
        if cpu.seg_lin(sreg::ES, low, len, writes_dst(K)).is_err() {
            return false;
        }
    }
    true
}

/// Linear address of an access: with `CHECKED`, through the segment
/// checks; without, the caller has checked the whole run already.
#[inline(always)]
fn lin<const CHECKED: bool>(cpu: &Cpu, seg: usize, off: u64, size: usize, write: bool) -> Result<u64, Fault> {
    if CHECKED {
        cpu.seg_lin(seg, off, size as u32, write)
    } else {
        Ok(cpu.state.seg[seg].base.wrapping_add(off) & 0xFFFF_FFFF)
    }
}

/// Runs up to `n` iterations, updating SI/DI/CX after each one. Returns
/// whether a REPE/REPNE condition ended the repetition.
#[inline(always)]
fn run<const N: usize, const K: u8, const CHECKED: bool>(cpu: &mut Cpu, env: &mut Env, c: &Ctx, n: u64) -> Result<bool, Fault> {
    let delta = if c.down { (N as u64).wrapping_neg() } else { N as u64 };
    let am = c.am;
    for _ in 0..n {
        let si = cpu.state.gpr[reg::RSI] & am;
        let di = cpu.state.gpr[reg::RDI] & am;
        let equal = element::<N, K, CHECKED>(cpu, env, c, si, di)?;
        let g = &mut cpu.state.gpr;
        if reads_src(K) {
            g[reg::RSI] = (g[reg::RSI] & !am) | (si.wrapping_add(delta) & am);
        }
        if uses_dst(K) {
            g[reg::RDI] = (g[reg::RDI] & !am) | (di.wrapping_add(delta) & am);
        }
        match c.repeat {
            Repeat::Once => return Ok(true),
            Repeat::Count => {}
            Repeat::WhileEqual if !equal => {
                dec_count(g, am);
                return Ok(true);
            }
            Repeat::WhileNotEqual if equal => {
                dec_count(g, am);
                return Ok(true);
            }
            _ => {}
        }
        dec_count(g, am);
    }
    Ok(false)
}

#[inline(always)]
fn dec_count(g: &mut [u64; 16], am: u64) {
    g[reg::RCX] = (g[reg::RCX] & !am) | (g[reg::RCX].wrapping_sub(1) & am);
}

/// One iteration at source offset `si` and destination offset `di`.
/// Returns, for CMPS/SCAS, whether the operands were equal.
#[inline(always)]
fn element<const N: usize, const K: u8, const CHECKED: bool>(
    cpu: &mut Cpu,
    env: &mut Env,
    c: &Ctx,
    si: u64,
    di: u64,
) -> Result<bool, Fault> {
    let m = mask(N as u8);
    match K {
        MOVS => {
            let src = lin::<CHECKED>(cpu, c.src_seg, si, N, false)?;
            let v = cpu.read_lin::<N>(env, src, c.user)?;
            let dst = lin::<CHECKED>(cpu, sreg::ES, di, N, true)?;
            cpu.write_lin::<N>(env, dst, v, c.user)?;
        }
        STOS => {
            let dst = lin::<CHECKED>(cpu, sreg::ES, di, N, true)?;
            cpu.write_lin::<N>(env, dst, cpu.state.gpr[reg::RAX] & m, c.user)?;
        }
        LODS => {
            let src = lin::<CHECKED>(cpu, c.src_seg, si, N, false)?;
            let v = cpu.read_lin::<N>(env, src, c.user)?;
            let rax = &mut cpu.state.gpr[reg::RAX];
            *rax = if N == 4 { v } else { (*rax & !m) | v };
        }
        CMPS | SCAS => {
            let a = if K == CMPS {
                let src = lin::<CHECKED>(cpu, c.src_seg, si, N, false)?;
                cpu.read_lin::<N>(env, src, c.user)?
            } else {
                cpu.state.gpr[reg::RAX] & m
            };
            let dst = lin::<CHECKED>(cpu, sreg::ES, di, N, false)?;
            let b = cpu.read_lin::<N>(env, dst, c.user)?;
            cpu.state.set_lazy(FlagOp::Sub, N as u8, a, b, a.wrapping_sub(b) & m);
            return Ok(a == b);
        }
        INS => {
            // The permission check comes first (SDM "INS" operation); the
            // destination is checked before the port is read so that a
            // fault does not lose the device's data.
            cpu.check_io(env, c.port, N as u8)?;
            let dst = lin::<CHECKED>(cpu, sreg::ES, di, N, true)?;
            if !cpu.tlb.write_hit::<N>(dst, c.user) {
                cpu.probe_write(env, dst, N, c.user)?;
            }
            let v = env.bus.io_read(env.mem, c.port, N as u8);
            cpu.write_lin::<N>(env, dst, u64::from(v), c.user)?;
        }
        _ => {
            cpu.check_io(env, c.port, N as u8)?;
            let src = lin::<CHECKED>(cpu, c.src_seg, si, N, false)?;
            let v = cpu.read_lin::<N>(env, src, c.user)?;
            cpu.port_out(env, c.port, N as u8, v as u32)?;
        }
    }
    Ok(false)
}
