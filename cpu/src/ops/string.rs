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
//!
//! Speed: the segment checks of a run of iterations are done once for the
//! whole run, and REP MOVS/STOS over RAM move a page at a time (when the
//! result equals element-by-element order), falling back to single
//! elements at page ends, over MMIO, for overlapping fills and for faults.

use super::*;
use crate::{
    flags::{mask, FlagOp},
    state::{fl, reg, sreg},
};
use iced_x86::Code::*;
use ironpc_mmu::{Access, Region, PAGE_MASK, PAGE_SIZE};

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

/// The source segment: DS or the override (iced folds both into
/// `memory_segment`). Forms without a source get DS, never used.
fn src_seg<const K: u8>(i: &Instruction) -> usize {
    let s = seg_index(i.memory_segment());
    if reads_src(K) && s <= sreg::GS {
        s
    } else {
        sreg::DS
    }
}

fn string<const N: usize, const K: u8>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let c = Ctx {
        am: if addr32(i) { 0xFFFF_FFFF } else { 0xFFFF },
        down: cpu.state.df(),
        src_seg: src_seg::<K>(i),
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
            if matches!(K, MOVS | STOS) && c.repeat == Repeat::Count {
                match bulk::<N, K>(cpu, env, &c, n) {
                    Ok(done) => {
                        budget -= done;
                        continue;
                    }
                    Err(elementwise) => n = elementwise,
                }
            }
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

/// Elements of `size` bytes from linear `lin` onwards (in the direction
/// of travel) that stay on `lin`'s page.
#[inline(always)]
fn page_room(lin: u64, down: bool, size: u64) -> u64 {
    let off = lin & !PAGE_MASK;
    if off + size > PAGE_SIZE {
        0
    } else if down {
        off / size + 1
    } else {
        (PAGE_SIZE - off) / size
    }
}

/// REP MOVS/STOS over RAM, a page at a time: up to `n` iterations (whose
/// segment checks have passed) that stay within one source and one
/// destination page are done as one block copy or fill. Returns how many
/// iterations were done, or how many of the `n` the caller should run
/// element by element instead (the per-element path also raises any fault
/// at the exact element).
fn bulk<const N: usize, const K: u8>(cpu: &mut Cpu, env: &mut Env, c: &Ctx, n: u64) -> Result<u64, u64> {
    let size = N as u64;
    let g = &cpu.state.gpr;
    let (si, di) = (g[reg::RSI] & c.am, g[reg::RDI] & c.am);
    let dst0 = cpu.state.seg[sreg::ES].base.wrapping_add(di) & 0xFFFF_FFFF;
    let src0 = cpu.state.seg[c.src_seg].base.wrapping_add(si) & 0xFFFF_FFFF;
    let mut n = n.min(page_room(dst0, c.down, size));
    if K == MOVS {
        n = n.min(page_room(src0, c.down, size));
    }
    if n < 2 {
        // An element at the end of a page, or straddling two.
        return Err(1);
    }
    let len = n * size;
    let low = |lin: u64| if c.down { lin - (n - 1) * size } else { lin };
    let Ok(dst) = cpu.translate(env, low(dst0), Access::Write, c.user) else {
        return Err(n);
    };
    if !matches!(env.mem.region(dst), Region::Ram { .. }) {
        return Err(n);
    }
    let mut buf = [0u8; PAGE_SIZE as usize];
    let b = &mut buf[..len as usize];
    if K == MOVS {
        let Ok(src) = cpu.translate(env, low(src0), Access::Read, c.user) else {
            return Err(n);
        };
        if !matches!(env.mem.region(src), Region::Ram { .. } | Region::Rom { .. }) {
            return Err(n);
        }
        // Element order equals a block move unless the destination lies
        // ahead of the source in the direction of travel and they overlap:
        // then earlier stores feed later loads (the fill idiom).
        let overlap = src < dst + len && dst < src + len;
        if overlap && (if c.down { dst < src } else { dst > src }) {
            return Err(n);
        }
        env.mem.read(src, b);
    } else {
        let v = cpu.state.gpr[reg::RAX].to_le_bytes();
        for e in b.chunks_exact_mut(N) {
            e.copy_from_slice(&v[..N]);
        }
    }
    env.mem.write(dst, b);
    if env.mem.has_code_writes() {
        cpu.end_block = true;
    }
    let step = if c.down { len.wrapping_neg() } else { len };
    let am = c.am;
    let g = &mut cpu.state.gpr;
    if K == MOVS {
        g[reg::RSI] = (g[reg::RSI] & !am) | (si.wrapping_add(step) & am);
    }
    g[reg::RDI] = (g[reg::RDI] & !am) | (di.wrapping_add(step) & am);
    g[reg::RCX] = (g[reg::RCX] & !am) | (g[reg::RCX].wrapping_sub(n) & am);
    Ok(n)
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

#[cfg(test)]
pub(super) mod tests {
    use super::*;
    use crate::{
        fault::vector,
        state::{attr, cr0, Segment},
        testing::{sel, TestMachine, CODE_BASE, STACK_TOP},
    };
    use iced_x86::{Decoder, DecoderOptions};

    /// Decodes the one instruction in `code` at CS:EIP and runs its handler
    /// as the executor would (EIP at the next instruction on entry, back at
    /// the instruction on a fault), returning the handler's result.
    pub(in crate::ops) fn exec1(m: &mut TestMachine, code: &[u8]) -> Result<(), Fault> {
        m.load_code(code);
        let bitness = if m.cpu.state.code32() { 32 } else { 16 };
        let ip_mask = if bitness == 16 { 0xFFFF } else { 0xFFFF_FFFF };
        let insn = Decoder::with_ip(bitness, code, m.cpu.state.rip, DecoderOptions::NONE).decode();
        m.cpu.state.rip = insn.next_ip() & ip_mask;
        m.cpu.end_block = false;
        let mut env = Env { mem: &mut m.mem, bus: &mut m.bus };
        m.cpu.tlb.sync(env.mem);
        let r = handler_for(&insn)(&mut m.cpu, &mut env, &insn);
        if r.is_err() {
            m.cpu.state.rip = insn.ip();
        }
        r
    }

    fn regs(m: &TestMachine) -> (u64, u64, u64) {
        let g = &m.cpu.state.gpr;
        (g[reg::RSI], g[reg::RDI], g[reg::RCX])
    }

    fn set_regs(m: &mut TestMachine, si: u64, di: u64, cx: u64) {
        let g = &mut m.cpu.state.gpr;
        g[reg::RSI] = si;
        g[reg::RDI] = di;
        g[reg::RCX] = cx;
    }

    fn pattern(len: usize) -> Vec<u8> {
        (0..len).map(|k| (k as u8).wrapping_mul(7).wrapping_add(1)).collect()
    }

    #[test]
    fn rep_movsb_copies_forward() {
        let mut m = TestMachine::flat32();
        let src = pattern(100);
        m.load(0x2000, &src);
        set_regs(&mut m, 0x2000, 0x3000, 100);
        exec1(&mut m, &[0xF3, 0xA4]).unwrap(); // rep movsb
        assert_eq!(m.read_phys(0x3000, 100), src);
        assert_eq!(regs(&m), (0x2064, 0x3064, 0));
        assert_eq!(m.cpu.state.rip, CODE_BASE + 2);
    }

    #[test]
    fn rep_movsd_copies_backward_with_df() {
        let mut m = TestMachine::flat32();
        let src = pattern(16);
        m.load(0x2000, &src);
        m.cpu.state.eflags |= u64::from(fl::DF);
        // The last dword first: ESI/EDI point at the highest element.
        set_regs(&mut m, 0x200C, 0x300C, 4);
        exec1(&mut m, &[0xF3, 0xA5]).unwrap(); // rep movsd
        assert_eq!(m.read_phys(0x3000, 16), src);
        assert_eq!(regs(&m), (0x1FFC, 0x2FFC, 0));
    }

    #[test]
    fn overlapping_movsb_repeats_the_first_byte() {
        // Element by element semantics: copying to src+1 replicates the
        // first byte, the classic fill idiom.
        let mut m = TestMachine::flat32();
        m.load(0x2000, &[0xAA, 1, 2, 3, 4, 5, 6, 7, 8, 9]);
        set_regs(&mut m, 0x2000, 0x2001, 8);
        exec1(&mut m, &[0xF3, 0xA4]).unwrap();
        assert_eq!(m.read_phys(0x2000, 10), vec![0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 0xAA, 9]);
    }

    /// REP MOVS/STOS against a model that moves one element at a time,
    /// over overlaps in both directions, page crossings and all sizes.
    #[test]
    fn rep_movs_and_stos_match_element_by_element_semantics() {
        const BASE: u64 = 0x2_0000;
        const SPAN: usize = 0x4000;
        let init: Vec<u8> = (0..SPAN).map(|k| (k * 13 + k / 256) as u8).collect();
        let cases: &[(u64, u64, u64)] = &[
            (0x100, 0x2000, 1500),
            (0x0FF0, 0x1FF7, 700),
            (0x1000, 0x1001, 900),
            (0x1001, 0x1000, 900),
            (0x1000, 0x1002, 900),
            (0x1002, 0x1000, 900),
            (0x1800, 0x1800, 300),
            (0x0FFE, 0x2FFD, 2500),
        ];
        for &(so, d_o, count) in cases {
            for &size in &[1u64, 2, 4] {
                for down in [false, true] {
                    for stos in [false, true] {
                        let mut m = TestMachine::flat32();
                        m.load(BASE, &init);
                        m.cpu.state.gpr[reg::RAX] = 0x8877_6655;
                        if down {
                            m.cpu.state.eflags |= u64::from(fl::DF);
                        }
                        let (si, di) = (BASE + 0x1000 + so, BASE + d_o);
                        let count = count / size;
                        set_regs(&mut m, si, di, count);
                        let code = match (stos, size) {
                            (false, 1) => vec![0xF3, 0xA4],
                            (false, 2) => vec![0xF3, 0x66, 0xA5],
                            (false, _) => vec![0xF3, 0xA5],
                            (true, 1) => vec![0xF3, 0xAA],
                            (true, 2) => vec![0xF3, 0x66, 0xAB],
                            (true, _) => vec![0xF3, 0xAB],
                        };
                        while m.cpu.state.gpr[reg::RCX] != 0 {
                            m.cpu.state.rip = CODE_BASE;
                            exec1(&mut m, &code).unwrap();
                        }

                        let mut want = init.clone();
                        let (mut s, mut d) = ((si - BASE) as i64, (di - BASE) as i64);
                        let step = if down { -(size as i64) } else { size as i64 };
                        for _ in 0..count {
                            for b in 0..size as usize {
                                want[d as usize + b] = if stos { 0x8877_6655u32.to_le_bytes()[b] } else { want[s as usize + b] };
                            }
                            s += step;
                            d += step;
                        }
                        let what = format!("src {so:#x} dst {d_o:#x} size {size} down {down} stos {stos}");
                        assert_eq!(m.read_phys(BASE, SPAN), want, "{what}");
                        let moved = (count * size) as i64 * step.signum();
                        let want_si = if stos { si } else { (si as i64 + moved) as u64 };
                        assert_eq!(regs(&m), (want_si, (di as i64 + moved) as u64, 0), "{what}");
                    }
                }
            }
        }
    }

    #[test]
    fn rep_movs_over_the_following_code_runs_the_new_code() {
        let mut m = TestMachine::flat32();
        // rep movsb; then six NOPs that the copy replaces with
        // "mov eax, 0x1234; nop"; then jmp $.
        m.load_code(&[0xF3, 0xA4, 0x90, 0x90, 0x90, 0x90, 0x90, 0x90, 0xEB, 0xFE]);
        m.load(0x2000, &[0xB8, 0x34, 0x12, 0x00, 0x00, 0x90]);
        set_regs(&mut m, 0x2000, CODE_BASE + 2, 6);
        m.run(3);
        assert_eq!(m.cpu.state.gpr[reg::RAX], 0x1234);
        assert_eq!(m.cpu.state.rip, CODE_BASE + 8);
    }

    #[test]
    fn rep_with_zero_count_does_nothing() {
        let mut m = TestMachine::flat32();
        m.cpu.state.set_arith(fl::ARITH, fl::ZF | fl::CF);
        set_regs(&mut m, 0x2000, 0x3000, 0);
        m.load(0x2000, &[1]);
        exec1(&mut m, &[0xF3, 0xA6]).unwrap(); // repe cmpsb
        exec1(&mut m, &[0xF3, 0xA4]).unwrap(); // rep movsb
        assert_eq!(regs(&m), (0x2000, 0x3000, 0));
        assert_eq!(m.cpu.state.flags() & fl::ARITH, fl::ZF | fl::CF);
        assert_eq!(m.read_phys(0x3000, 1), vec![0]);
    }

    #[test]
    fn sixteen_bit_addressing_wraps_si_di_and_keeps_high_halves() {
        let mut m = TestMachine::real();
        let ds = &mut m.cpu.state.seg[sreg::DS];
        *ds = Segment::real(0x200, 0xFFFF, attr::REAL_DATA);
        m.cpu.state.seg[sreg::ES] = Segment::real(0x3000, 0xFFFF, attr::REAL_DATA);
        // Source bytes at DS:FFFE, DS:FFFF, then DS:0000, DS:0001.
        m.load(0x2000 + 0xFFFE, &[1, 2]);
        m.load(0x2000, &[3, 4]);
        set_regs(&mut m, 0x1234_FFFE, 0x5678_0010, 0xABCD_0004);
        exec1(&mut m, &[0xF3, 0xA4]).unwrap(); // rep movsb
        assert_eq!(m.read_phys(0x30010, 4), vec![1, 2, 3, 4]);
        assert_eq!(regs(&m), (0x1234_0002, 0x5678_0014, 0xABCD_0000));
    }

    #[test]
    fn address_size_prefix_selects_esi_edi_ecx() {
        let mut m = TestMachine::flat32();
        m.load(0x2000, &[9, 8, 7]);
        // a16 rep movsb: SI/DI/CX only.
        set_regs(&mut m, 0xFFFF_2000, 0xFFFF_3000, 0xFFFF_0003);
        exec1(&mut m, &[0xF3, 0x67, 0xA4]).unwrap();
        assert_eq!(m.read_phys(0x3000, 3), vec![9, 8, 7]);
        assert_eq!(regs(&m), (0xFFFF_2003, 0xFFFF_3003, 0xFFFF_0000));

        // a32 rep stosb in 16-bit code uses ECX and EDI.
        let mut m = TestMachine::prot16();
        m.cpu.state.gpr[reg::RAX] = 0x5A;
        set_regs(&mut m, 0, 0x1_0000, 0x1_0002);
        m.cpu.state.seg[sreg::ES].limit = 0xF_FFFF;
        let r = exec1(&mut m, &[0xF3, 0x67, 0xAA]);
        assert_eq!(r, Ok(()));
        // One chunk of the 0x10002 iterations (CX alone would say 2).
        let done = 0x1_0002 - m.cpu.state.gpr[reg::RCX];
        assert!(done > 2);
        assert_eq!(m.cpu.state.gpr[reg::RDI], 0x1_0000 + done);
        assert!(m.read_phys(0x1_0000, done as usize).iter().all(|&b| b == 0x5A));
        assert_eq!(m.cpu.state.rip, 0x8000, "the count is not zero yet: restart");
    }

    #[test]
    fn repe_cmpsb_stops_at_the_first_difference() {
        let mut m = TestMachine::flat32();
        m.load(0x2000, b"abcdXf");
        m.load(0x3000, b"abcdYf");
        set_regs(&mut m, 0x2000, 0x3000, 6);
        exec1(&mut m, &[0xF3, 0xA6]).unwrap(); // repe cmpsb
                                               // Five comparisons: the fifth ('X' - 'Y') ends it.
        assert_eq!(regs(&m), (0x2005, 0x3005, 1));
        let f = m.cpu.state.flags();
        // 0x58 - 0x59 = 0xFF: borrow, negative, not zero.
        assert_eq!(f & (fl::CF | fl::ZF | fl::SF | fl::OF), fl::CF | fl::SF);
        assert_eq!(m.cpu.state.rip, CODE_BASE + 2);

        // Equal strings run the count out with ZF set.
        m.load(0x3000, b"abcdXf");
        set_regs(&mut m, 0x2000, 0x3000, 6);
        m.cpu.state.rip = CODE_BASE;
        exec1(&mut m, &[0xF3, 0xA6]).unwrap();
        assert_eq!(regs(&m), (0x2006, 0x3006, 0));
        assert!(m.cpu.state.zf());
    }

    #[test]
    fn repne_cmpsw_stops_at_the_first_match() {
        let mut m = TestMachine::flat32();
        m.load(0x2000, &[1, 0, 2, 0, 3, 0]);
        m.load(0x3000, &[9, 0, 2, 0, 3, 0]);
        set_regs(&mut m, 0x2000, 0x3000, 3);
        exec1(&mut m, &[0xF2, 0x66, 0xA7]).unwrap(); // repne cmpsw
        assert_eq!(regs(&m), (0x2004, 0x3004, 1));
        assert!(m.cpu.state.zf());
    }

    #[test]
    fn repne_scasb_finds_the_terminator() {
        let mut m = TestMachine::flat32();
        m.load(0x3000, b"hello\0xyz");
        m.cpu.state.gpr[reg::RAX] = 0xFFFF_FF00; // AL = 0
        set_regs(&mut m, 0, 0x3000, 0xFFFF_FFFF);
        exec1(&mut m, &[0xF2, 0xAE]).unwrap(); // repne scasb
                                               // The strlen idiom: six bytes scanned, EDI past the NUL.
        assert_eq!(regs(&m), (0, 0x3006, 0xFFFF_FFFF - 6));
        assert!(m.cpu.state.zf());
    }

    #[test]
    fn single_scas_sets_flags_of_accumulator_minus_memory() {
        let mut m = TestMachine::flat32();
        m.load(0x3000, &[0x00, 0x80, 0, 0]);
        m.cpu.state.gpr[reg::RAX] = 0x0000_7FFF;
        set_regs(&mut m, 0, 0x3000, 7);
        exec1(&mut m, &[0x66, 0xAF]).unwrap(); // scasw
                                               // 0x7FFF - 0x8000 = 0xFFFF: signed overflow, borrow.
        let f = m.cpu.state.flags();
        assert_eq!(f & (fl::CF | fl::ZF | fl::SF | fl::OF), fl::CF | fl::SF | fl::OF);
        assert_eq!(regs(&m), (0, 0x3002, 7), "no REP: ECX untouched");
    }

    #[test]
    fn lods_and_stos_move_the_accumulator() {
        let mut m = TestMachine::prot16();
        m.load(0x2000, &[0x34, 0x12, 0x78, 0x56]);
        m.cpu.state.gpr[reg::RAX] = 0xAAAA_AAAA;
        set_regs(&mut m, 0x2000, 0, 0);
        exec1(&mut m, &[0xAD]).unwrap(); // lodsw
        assert_eq!(m.cpu.state.gpr[reg::RAX], 0xAAAA_1234);
        assert_eq!(m.cpu.state.gpr[reg::RSI], 0x2002);

        let mut m = TestMachine::flat32();
        m.cpu.state.gpr[reg::RAX] = 0xDEAD_BEEF;
        m.cpu.state.eflags |= u64::from(fl::DF);
        set_regs(&mut m, 0, 0x3008, 3);
        exec1(&mut m, &[0xF3, 0xAB]).unwrap(); // rep stosd, downwards
        assert_eq!(m.read_u32(0x3000), 0xDEAD_BEEF);
        assert_eq!(m.read_u32(0x3004), 0xDEAD_BEEF);
        assert_eq!(m.read_u32(0x3008), 0xDEAD_BEEF);
        assert_eq!(regs(&m), (0, 0x2FFC, 0));
    }

    #[test]
    fn only_the_source_takes_a_segment_override() {
        let mut m = TestMachine::real();
        m.cpu.state.seg[sreg::ES] = Segment::real(0x300, 0xFFFF, attr::REAL_DATA);
        m.load(0x3010, &[0x77]);
        m.load(0x0010, &[0x11]);
        set_regs(&mut m, 0x10, 0x20, 0);
        exec1(&mut m, &[0x26, 0xAC]).unwrap(); // es lodsb
        assert_eq!(m.cpu.state.gpr[reg::RAX] & 0xFF, 0x77);
        // cs stosb still writes ES:DI.
        m.cpu.state.rip = 0;
        exec1(&mut m, &[0x2E, 0xAA]).unwrap();
        assert_eq!(m.read_phys(0x3020, 1), vec![0x77]);
        assert_eq!(m.read_phys(CODE_BASE + 0x20, 1), vec![0]);
    }

    #[test]
    fn segment_limit_fault_leaves_completed_iterations() {
        let mut m = TestMachine::prot16();
        m.cpu.state.seg[sreg::ES].limit = 0x3003;
        m.load(0x2000, &pattern(8));
        set_regs(&mut m, 0x2000, 0x3000, 8);
        let r = exec1(&mut m, &[0xF3, 0xA4]); // rep movsb
        assert_eq!(r, Err(Fault::gp(0)));
        assert_eq!(m.read_phys(0x3000, 5), [&pattern(4)[..], &[0]].concat());
        assert_eq!(regs(&m), (0x2004, 0x3004, 4));
        assert_eq!(m.cpu.state.rip, 0x8000);
    }

    #[test]
    fn long_rep_yields_and_restarts() {
        let mut m = TestMachine::flat32();
        m.cpu.state.gpr[reg::RAX] = 0x33;
        set_regs(&mut m, 0, 0x10_0000, 10_000);
        m.load(CODE_BASE + 2, &[0xEB, 0xFE]); // jmp $
        exec1(&mut m, &[0xF3, 0xAA]).unwrap(); // rep stosb
        assert_eq!(m.cpu.state.rip, CODE_BASE, "EIP stays on the instruction");
        assert!(m.cpu.end_block);
        let left = m.cpu.state.gpr[reg::RCX];
        assert!(left > 0 && left < 10_000);
        assert_eq!(m.cpu.state.gpr[reg::RDI], 0x10_0000 + 10_000 - left);
        // The executor runs it to the end, one chunk per instruction.
        m.run(10);
        assert_eq!(regs(&m), (0, 0x10_0000 + 10_000, 0));
        assert!(m.read_phys(0x10_0000, 10_000).iter().all(|&b| b == 0x33));
        assert_eq!(m.read_phys(0x10_0000 + 10_000, 1), vec![0]);
        assert_eq!(m.cpu.state.rip, CODE_BASE + 2, "ran on to the jmp");
    }

    #[test]
    fn interrupt_between_chunks_returns_to_the_rep() {
        let mut m = TestMachine::flat32();
        m.set_int_gate(0x6000, 0x20, 0x7000, 0);
        m.load(0x7000, &[0xEB, 0xFE]); // jmp $
        m.cpu.state.eflags |= u64::from(fl::IF);
        set_regs(&mut m, 0, 0x10_0000, 10_000);
        exec1(&mut m, &[0xF3, 0xAA]).unwrap();
        let left = m.cpu.state.gpr[reg::RCX];
        m.bus.irq = Some(0x20);
        m.run(1);
        assert_eq!(m.cpu.state.rip, 0x7000);
        let esp = m.cpu.state.gpr[reg::RSP];
        assert_eq!(u64::from(m.read_u32(esp)), CODE_BASE, "the pushed EIP is the REP itself");
        assert_eq!(m.cpu.state.gpr[reg::RCX], left);
    }

    #[test]
    fn single_step_runs_one_iteration() {
        let mut m = TestMachine::flat32();
        m.cpu.state.eflags |= u64::from(fl::TF);
        set_regs(&mut m, 0, 0x3000, 5);
        exec1(&mut m, &[0xF3, 0xAA]).unwrap();
        assert_eq!(regs(&m), (0, 0x3001, 4));
        assert_eq!(m.cpu.state.rip, CODE_BASE);
    }

    /// Identity-maps the first 4 MiB with the page at `absent` not
    /// present, and turns paging on.
    fn paging_with_hole(m: &mut TestMachine, absent: u64) {
        const PD: u64 = 0x10_0000;
        const PT: u64 = 0x10_1000;
        m.load(PD, &(PT as u32 | 3).to_le_bytes());
        for k in 0..1024u64 {
            let pte = if k * 0x1000 == absent { 0 } else { (k * 0x1000) as u32 | 3 };
            m.load(PT + k * 4, &pte.to_le_bytes());
        }
        m.cpu.state.cr3 = PD;
        m.cpu.state.cr0 |= cr0::PG;
        m.cpu.tlb.flush_all();
    }

    #[test]
    fn rep_movs_page_fault_resumes_after_the_fix() {
        let mut m = TestMachine::flat32();
        paging_with_hole(&mut m, 0x20_5000);
        m.set_int_gate(0x6000, vector::PF, 0x7000, 0);
        m.load(0x7000, &[0xEB, 0xFE]); // jmp $
        let src = pattern(0x100);
        m.load(0x20_4000, &src);
        set_regs(&mut m, 0x20_4000, 0x20_4F80, 0x100);
        m.load_code(&[0xF3, 0xA4, 0xEB, 0xFE]); // rep movsb; jmp $
        m.run(1);

        // Delivered #PF: write to a not-present supervisor page.
        assert_eq!(m.cpu.state.rip, 0x7000);
        assert_eq!(m.cpu.state.cr2, 0x20_5000);
        let esp = m.cpu.state.gpr[reg::RSP];
        assert_eq!(esp, STACK_TOP - 16);
        assert_eq!(m.read_u32(esp), 0b010, "error code: write, not present");
        assert_eq!(u64::from(m.read_u32(esp + 4)), CODE_BASE);
        assert_eq!(m.read_u32(esp + 8), u32::from(sel::CODE32));
        // 0x80 bytes fit below the hole.
        assert_eq!(regs(&m), (0x20_4080, 0x20_5000, 0x80));
        assert_eq!(m.read_phys(0x20_4F80, 0x80), src[..0x80].to_vec());

        // The "handler" maps the page and returns (IRET done by hand).
        m.load(0x10_1000 + 0x205 * 4, &(0x20_5000u32 | 3).to_le_bytes());
        m.cpu.state.rip = CODE_BASE;
        m.cpu.state.gpr[reg::RSP] = STACK_TOP;
        m.run(1);
        assert_eq!(regs(&m), (0x20_4100, 0x20_5080, 0));
        assert_eq!(m.read_phys(0x20_5000, 0x80), src[0x80..].to_vec());
        assert_eq!(m.cpu.state.rip, CODE_BASE + 2);
    }

    #[test]
    fn rep_outsb_and_insw_talk_to_the_port() {
        let mut m = TestMachine::real();
        m.load(0x100, b"hi!");
        m.cpu.state.gpr[reg::RDX] = 0x3F8;
        set_regs(&mut m, 0x100, 0x200, 3);
        exec1(&mut m, &[0xF3, 0x6E]).unwrap(); // rep outsb
        assert_eq!(m.bus.outs, vec![(0x3F8, 1, b'h' as u32), (0x3F8, 1, b'i' as u32), (0x3F8, 1, b'!' as u32)]);
        assert_eq!(regs(&m), (0x103, 0x200, 0));

        m.bus.ins.insert(0x1F0, 0xBEEF);
        m.cpu.state.gpr[reg::RDX] = 0x1F0;
        m.cpu.state.gpr[reg::RCX] = 3;
        m.cpu.state.rip = 0;
        exec1(&mut m, &[0xF3, 0x6D]).unwrap(); // rep insw
        assert_eq!(m.read_phys(0x200, 6), vec![0xEF, 0xBE, 0xEF, 0xBE, 0xEF, 0xBE]);
        assert_eq!(regs(&m), (0x103, 0x206, 0));
    }

    /// CPL 3, IOPL 0, a TSS at 0x5000 whose bitmap allows only port
    /// 0x3F8 (and nothing at all when `bitmap` is false).
    fn user_with_tss(bitmap: bool) -> TestMachine {
        let mut m = TestMachine::flat32();
        m.load_segments(sel::CODE32_USER, sel::DATA32_USER);
        let limit = if bitmap {
            m.load(0x5066, &0x68u16.to_le_bytes());
            m.load(0x5068, &[0xFF; 0x81]);
            m.load(0x5068 + 0x3F8 / 8, &[0xFE]);
            0x68 + 0x80
        } else {
            m.load(0x5066, &0x68u16.to_le_bytes());
            0x67
        };
        m.cpu.state.tr = Segment { base: 0x5000, limit, selector: 0x38, attr: attr::P | 0xB };
        m
    }

    #[test]
    fn io_permission_is_checked_per_iteration() {
        let mut m = user_with_tss(false);
        m.load(0x2000, b"ab");
        m.cpu.state.gpr[reg::RDX] = 0x3F8;
        set_regs(&mut m, 0x2000, 0x3000, 2);
        assert_eq!(exec1(&mut m, &[0xF3, 0x6E]), Err(Fault::gp(0)));
        assert!(m.bus.outs.is_empty());
        assert_eq!(regs(&m), (0x2000, 0x3000, 2));
        assert_eq!(exec1(&mut m, &[0xF3, 0x6C]), Err(Fault::gp(0))); // rep insb
        assert_eq!(regs(&m), (0x2000, 0x3000, 2));

        // The bitmap allows byte accesses to 0x3F8 but not a word (0x3F9).
        let mut m = user_with_tss(true);
        m.load(0x2000, b"ab");
        m.cpu.state.gpr[reg::RDX] = 0x3F8;
        set_regs(&mut m, 0x2000, 0x3000, 2);
        exec1(&mut m, &[0xF3, 0x6E]).unwrap();
        assert_eq!(m.bus.outs, vec![(0x3F8, 1, b'a' as u32), (0x3F8, 1, b'b' as u32)]);
        m.cpu.state.rip = CODE_BASE;
        assert_eq!(exec1(&mut m, &[0x66, 0x6F]), Err(Fault::gp(0))); // outsw
    }

    #[test]
    fn ins_checks_the_destination_before_reading_the_port() {
        let mut m = TestMachine::prot16();
        m.cpu.state.seg[sreg::ES].limit = 0x0FFF;
        m.cpu.state.gpr[reg::RDX] = 0x60;
        set_regs(&mut m, 0, 0x1000, 1);
        assert_eq!(exec1(&mut m, &[0xF3, 0x6C]), Err(Fault::gp(0)));
        assert_eq!(regs(&m), (0, 0x1000, 1));
    }

    #[test]
    fn null_es_faults() {
        let mut m = TestMachine::flat32();
        m.cpu.state.seg[sreg::ES] = Segment::default();
        set_regs(&mut m, 0, 0x3000, 1);
        assert_eq!(exec1(&mut m, &[0xAA]), Err(Fault::gp(0)));
        assert_eq!(regs(&m), (0, 0x3000, 1));
    }
}
