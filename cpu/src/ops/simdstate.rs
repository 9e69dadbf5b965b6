//! SIMD state and memory-ordering instructions (SDM vol. 2 "FXSAVE",
//! "FXRSTOR", "LDMXCSR", "STMXCSR", "SFENCE", "LFENCE", "MFENCE",
//! "PREFETCHh", "CLFLUSH"; vol. 1 10.5 and 11.6.6).
//!
//! FXSAVE writes the non-64-bit layout of SDM table 3-43: x87 control,
//! status, abridged tag (one bit per physical register, 1 = not empty),
//! opcode and last-instruction pointers, MXCSR and MXCSR_MASK, ST0-ST7 in
//! stack order, XMM0-XMM7. FXRSTOR rebuilds the full tag word from the
//! abridged one and the register contents, as the hardware does. The
//! OSFXSR-dependent omission of XMM/MXCSR the SDM allows is not modelled:
//! this model always saves and restores them.

use super::*;
use crate::fpstate::{tag, F80};
use iced_x86::Code::*;
use ironpc_mmu::Access;

/// MXCSR bits this model implements: the flags, DAZ (bit 6; the Pentium M
/// has it, so MXCSR_MASK reports it), the masks, RC and FZ.
pub(crate) const MXCSR_MASK: u32 = 0xFFFF;

/// Size of the FXSAVE image and the part this model writes: bytes 288-511
/// are reserved or (464-511) left to software, and untouched.
const FXSAVE_SIZE: usize = 512;
const FXSAVE_WRITTEN: usize = 288;

pub(super) fn register(t: &mut Table) {
    t.set(Fxsave_m512byte, fxsave);
    t.set(Fxrstor_m512byte, fxrstor);
    t.set(Ldmxcsr_m32, ldmxcsr);
    t.set(Stmxcsr_m32, stmxcsr);
    t.set_all(
        &[
            Lfence, Lfence_E9, Lfence_EA, Lfence_EB, Lfence_EC, Lfence_ED, Lfence_EE, Lfence_EF, Mfence, Mfence_F1, Mfence_F2,
            Mfence_F3, Mfence_F4, Mfence_F5, Mfence_F6, Mfence_F7, Sfence, Sfence_F9, Sfence_FA, Sfence_FB, Sfence_FC, Sfence_FD,
            Sfence_FE, Sfence_FF,
        ],
        fence,
    );
    t.set_all(&[Prefetchnta_m8, Prefetcht0_m8, Prefetcht1_m8, Prefetcht2_m8], fence);
    t.set(Clflush_m8, clflush);
}

/// Every instruction here retires in order on a single in-order
/// interpreter, so the fences have nothing to order; prefetches are hints
/// that never fault, whatever the address.
fn fence(_: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    Ok(())
}

/// CLFLUSH: no cache to flush, but the address is checked as a byte read
/// would be (segment limit and rights, page present), without touching
/// the memory itself (which may be MMIO).
fn clflush(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let (seg, off) = mem_operand(&cpu.state, i);
    let lin = cpu.seg_lin(seg, off, 1, false)?;
    let user = cpu.user();
    cpu.translate(env, lin, Access::Read, user)?;
    Ok(())
}

fn ldmxcsr(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let v = read_op::<4>(cpu, env, i, 0)? as u32;
    if v & !MXCSR_MASK != 0 {
        return Err(Fault::gp(0));
    }
    cpu.state.sse.mxcsr = v;
    Ok(())
}

fn stmxcsr(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_sse()?;
    let v = u64::from(cpu.state.sse.mxcsr);
    write_op0::<4>(cpu, env, i, v)
}

/// Segment, alignment and (for FXSAVE) page checks for the whole image:
/// returns its linear address.
fn image_check(cpu: &mut Cpu, env: &mut Env, i: &Instruction, write: bool) -> Result<u64, Fault> {
    let (seg, off) = mem_operand(&cpu.state, i);
    let lin = cpu.seg_lin(seg, off, FXSAVE_SIZE as u32, write)?;
    if lin & 15 != 0 {
        return Err(Fault::gp(0));
    }
    if write {
        let user = cpu.user();
        cpu.probe_write(env, lin, FXSAVE_SIZE, user)?;
    }
    Ok(lin)
}

/// The abridged tag word: bit i set when physical register i is not empty.
fn abridged_tags(ftw: u16) -> u8 {
    (0..8).fold(0, |a, r| if (ftw >> (r * 2)) & 3 != tag::EMPTY { a | 1 << r } else { a })
}

/// The full tag of a non-empty register, from its contents (SDM vol. 1
/// 8.1.7): zero, special (NaN, infinity, denormal, unnormal) or valid.
fn tag_of(v: F80) -> u16 {
    let exp = v.sign_exp & 0x7FFF;
    if exp == 0x7FFF {
        tag::SPECIAL
    } else if exp == 0 {
        if v.signif == 0 {
            tag::ZERO
        } else {
            tag::SPECIAL
        }
    } else if v.signif >> 63 == 0 {
        tag::SPECIAL
    } else {
        tag::VALID
    }
}

fn put(buf: &mut [u8], at: usize, bytes: &[u8]) {
    buf[at..at + bytes.len()].copy_from_slice(bytes);
}

fn top(fsw: u16) -> usize {
    usize::from(fsw >> 11) & 7
}

/// FXSAVE m512: gated like x87 instructions (#NM on CR0.EM or CR0.TS),
/// not like SSE ones; it does not report pending x87 exceptions.
fn fxsave(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_x87()?;
    let lin = image_check(cpu, env, i, true)?;
    let f = &cpu.state.fpu;
    let mut img = [0u8; FXSAVE_WRITTEN];
    put(&mut img, 0, &f.fcw.to_le_bytes());
    put(&mut img, 2, &f.fsw.to_le_bytes());
    img[4] = abridged_tags(f.ftw);
    put(&mut img, 6, &(f.fop & 0x7FF).to_le_bytes());
    put(&mut img, 8, &f.fip.to_le_bytes());
    put(&mut img, 12, &f.fcs.to_le_bytes());
    put(&mut img, 16, &f.fdp.to_le_bytes());
    put(&mut img, 20, &f.fds.to_le_bytes());
    put(&mut img, 24, &cpu.state.sse.mxcsr.to_le_bytes());
    put(&mut img, 28, &MXCSR_MASK.to_le_bytes());
    let t = top(f.fsw);
    for st in 0..8 {
        put(&mut img, 32 + st * 16, &f.regs[(t + st) & 7].to_bytes());
    }
    for x in 0..8 {
        put(&mut img, 160 + x * 16, &cpu.state.sse.xmm[x].to_le_bytes());
    }
    let user = cpu.user();
    for (k, q) in img.chunks_exact(8).enumerate() {
        let mut b = [0u8; 8];
        b.copy_from_slice(q);
        cpu.write_lin::<8>(env, (lin + k as u64 * 8) & 0xFFFF_FFFF, u64::from_le_bytes(b), user)?;
    }
    Ok(())
}

/// FXRSTOR m512: reads the whole image before changing anything; a
/// reserved MXCSR bit in it is #GP(0).
fn fxrstor(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    cpu.check_x87()?;
    let lin = image_check(cpu, env, i, false)?;
    let user = cpu.user();
    let mut img = [0u8; FXSAVE_WRITTEN];
    for (k, q) in img.chunks_exact_mut(8).enumerate() {
        let v = cpu.read_lin::<8>(env, (lin + k as u64 * 8) & 0xFFFF_FFFF, user)?;
        q.copy_from_slice(&v.to_le_bytes());
    }
    let u16_at = |at: usize| u16::from_le_bytes([img[at], img[at + 1]]);
    let u32_at = |at: usize| u32::from_le_bytes([img[at], img[at + 1], img[at + 2], img[at + 3]]);
    let mxcsr = u32_at(24);
    if mxcsr & !MXCSR_MASK != 0 {
        return Err(Fault::gp(0));
    }
    let fsw = u16_at(2);
    let t = top(fsw);
    let mut regs = [F80::default(); 8];
    for (st, chunk) in img[32..160].chunks_exact(16).enumerate() {
        let mut b = [0u8; 10];
        b.copy_from_slice(&chunk[..10]);
        regs[(t + st) & 7] = F80::from_bytes(b);
    }
    let abridged = img[4];
    let ftw = (0..8).fold(0u16, |w, r| {
        let tg = if abridged & (1 << r) != 0 { tag_of(regs[r]) } else { tag::EMPTY };
        w | tg << (r * 2)
    });
    let f = &mut cpu.state.fpu;
    f.fcw = super::x87_ctrl::fcw_fixed(u16_at(0));
    f.fsw = fsw;
    f.ftw = ftw;
    f.fop = u16_at(6) & 0x7FF;
    f.fip = u32_at(8);
    f.fcs = u16_at(12);
    f.fdp = u32_at(16);
    f.fds = u16_at(20);
    f.regs = regs;
    cpu.state.sse.mxcsr = mxcsr;
    for (x, chunk) in img[160..288].chunks_exact(16).enumerate() {
        let mut b = [0u8; 16];
        b.copy_from_slice(chunk);
        cpu.state.sse.xmm[x] = u128::from_le_bytes(b);
    }
    // ES and B are not taken from the image: they follow the restored
    // exception flags and masks, as FLDCW and FLDENV make them.
    super::x87_ctrl::update_summary(cpu);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::{mmx::tests::*, system::harness::*};
    use crate::{
        fault::vector as v,
        fpstate::{tag, F80, MXCSR_RESET},
        state::{cr0, cr4},
        testing::*,
    };
    use iced_x86::code_asm::*;

    const IMG: u64 = 0x4000;

    fn loaded() -> TestMachine {
        let mut m = machine();
        let f = &mut m.cpu.state.fpu;
        f.fcw = 0x027F;
        f.fsw = 0x3800 | 0x0041; // TOP = 7
                                 // R7 = ST0 valid (1.0), R0 = ST1 zero, R1 = ST2 NaN-ish, others empty.
        f.regs[7] = F80 { signif: 0x8000_0000_0000_0000, sign_exp: 0x3FFF };
        f.regs[0] = F80 { signif: 0, sign_exp: 0x8000 };
        f.regs[1] = F80 { signif: 0xC000_0000_0000_0000, sign_exp: 0x7FFF };
        f.regs[2] = F80 { signif: 0x1234, sign_exp: 0x4000 };
        // Tag pairs, R7 first: valid, then empty x5, special (R1), zero (R0).
        f.ftw = (tag::VALID << 14) | 0x3FF0 | (tag::SPECIAL << 2) | tag::ZERO;
        f.fop = 0x0123;
        f.fip = 0x1111_2222;
        f.fcs = 0x0008;
        f.fdp = 0x3333_4444;
        f.fds = 0x0010;
        m.cpu.state.sse.mxcsr = 0x1F80 | 0x40 | 0x01;
        for x in 0..8 {
            m.cpu.state.sse.xmm[x] = 0x0101_0101_0101_0101_0101_0101_0101_0101u128 * (x as u128 + 1);
        }
        m
    }

    fn u16_at(m: &TestMachine, a: u64) -> u16 {
        let b = m.read_phys(a, 2);
        u16::from_le_bytes([b[0], b[1]])
    }

    #[test]
    fn fxsave_image_layout() {
        let mut m = loaded();
        m.load(IMG + 464, &[0xA5; 48]);
        m.load_code(&asm(|a| a.fxsave(ptr(IMG as u32))));
        m.run(1);
        assert_eq!(u16_at(&m, IMG), 0x027F, "FCW");
        assert_eq!(u16_at(&m, IMG + 2), 0x3841, "FSW");
        assert_eq!(m.read_phys(IMG + 4, 1)[0], 0b1000_0011, "abridged FTW: R0, R1, R7 not empty");
        assert_eq!(u16_at(&m, IMG + 6), 0x0123, "FOP");
        assert_eq!(m.read_u32(IMG + 8), 0x1111_2222, "FIP");
        assert_eq!(u16_at(&m, IMG + 12), 0x0008, "FCS");
        assert_eq!(m.read_u32(IMG + 16), 0x3333_4444, "FDP");
        assert_eq!(u16_at(&m, IMG + 20), 0x0010, "FDS");
        assert_eq!(m.read_u32(IMG + 24), 0x1FC1, "MXCSR");
        assert_eq!(m.read_u32(IMG + 28), 0xFFFF, "MXCSR_MASK with DAZ");
        // ST0 is R7 (TOP = 7), ST1 is R0.
        assert_eq!(m.read_phys(IMG + 32, 10), F80 { signif: 1 << 63, sign_exp: 0x3FFF }.to_bytes());
        assert_eq!(m.read_phys(IMG + 48, 10), F80 { signif: 0, sign_exp: 0x8000 }.to_bytes());
        assert_eq!(m.read_phys(IMG + 160, 16), [1; 16], "XMM0");
        assert_eq!(m.read_phys(IMG + 160 + 7 * 16, 16), [8; 16], "XMM7");
        assert_eq!(m.read_phys(IMG + 464, 48), [0xA5; 48], "bytes 464-511 belong to software");
        assert_eq!(m.cpu.state.fpu.fsw, 0x3841, "FXSAVE does not reinitialise the FPU");
    }

    #[test]
    fn fxsave_after_mmx_shows_the_aliased_registers() {
        let mut m = machine();
        m.cpu.state.fpu.fsw = 3 << 11;
        m.cpu.state.gpr[0] = 0x1234_5678;
        m.load_code(&asm(|a| {
            a.movd(mm5, eax)?;
            a.fxsave(ptr(IMG as u32))
        }));
        m.run(2);
        assert_eq!(u16_at(&m, IMG + 2) >> 11 & 7, 0, "TOP = 0");
        assert_eq!(m.read_phys(IMG + 4, 1)[0], 0xFF, "every register tagged non-empty");
        // With TOP = 0, ST5 is R5 = MM5, exponent all ones.
        assert_eq!(m.read_phys(IMG + 32 + 5 * 16, 10), F80 { signif: 0x1234_5678, sign_exp: 0xFFFF }.to_bytes());
        // After EMMS the abridged tags say empty.
        m.cpu.state.rip = CODE_BASE;
        m.load_code(&asm(|a| {
            a.emms()?;
            a.fxsave(ptr(IMG as u32))
        }));
        m.run(2);
        assert_eq!(m.read_phys(IMG + 4, 1)[0], 0);
    }

    #[test]
    fn fxsave_fxrstor_round_trip_rebuilds_tags() {
        let mut m = loaded();
        let before = m.cpu.state.clone();
        m.load_code(&asm(|a| a.fxsave(ptr(IMG as u32))));
        m.run(1);
        let mut m2 = machine();
        m2.mem.write(IMG, &m.read_phys(IMG, 512));
        m2.load_code(&asm(|a| a.fxrstor(ptr(IMG as u32))));
        m2.run(1);
        assert_eq!(m2.cpu.state.fpu, before.fpu, "tags rebuilt: R7 valid, R0 zero, R1 special, others empty");
        assert_eq!(m2.cpu.state.sse, before.sse);
    }

    #[test]
    fn fxrstor_rejects_reserved_mxcsr_bits_and_changes_nothing() {
        let mut m = machine();
        let mut img = [0u8; 512];
        img[24..28].copy_from_slice(&0x1_0000u32.to_le_bytes());
        img[0] = 0x7F;
        m.mem.write(IMG, &img);
        let (vec, code) = fault(&mut m, &asm(|a| a.fxrstor(ptr(IMG as u32))));
        assert_eq!((vec, code), (v::GP, 0));
        assert_eq!(m.cpu.state.fpu.fcw, 0x0040, "the RESET FCW is still there");
        assert_eq!(m.cpu.state.sse.mxcsr, MXCSR_RESET);
    }

    #[test]
    fn fxsave_alignment_and_gates() {
        let mut m = machine();
        assert_eq!(fault(&mut m, &asm(|a| a.fxsave(ptr(IMG as u32 + 8)))), (v::GP, 0));
        assert_eq!(m.read_phys(IMG + 8, 8), [0; 8]);
        for bit in [cr0::TS, cr0::EM] {
            let mut m = machine();
            m.cpu.state.cr0 |= bit;
            assert_eq!(fault(&mut m, &asm(|a| a.fxsave(ptr(IMG as u32)))).0, v::NM);
        }
        // No OSFXSR needed.
        let mut m = machine();
        m.cpu.state.cr4 &= !cr4::OSFXSR;
        m.load_code(&asm(|a| a.fxsave(ptr(IMG as u32))));
        m.run(1);
        assert_eq!(u16_at(&m, IMG), 0x0040);
    }

    #[test]
    fn fxsave_into_a_missing_page_writes_nothing_and_fxrstor_changes_nothing() {
        let mut m = loaded();
        let hole = 0x30_0000u64;
        paging_with_hole(&mut m, hole);
        let at = (hole - 256) as u32;
        assert_eq!(fault(&mut m, &asm(|a| a.fxsave(ptr(at)))), (v::PF, 2), "not present, write");
        assert_eq!(m.cpu.state.cr2, hole);
        assert_eq!(m.read_phys(hole - 256, 256), [0; 256]);
        let mut m = machine();
        paging_with_hole(&mut m, hole);
        let before = (m.cpu.state.fpu.clone(), m.cpu.state.sse.clone());
        assert_eq!(fault(&mut m, &asm(|a| a.fxrstor(ptr(at)))), (v::PF, 0), "not present, read");
        assert_eq!((m.cpu.state.fpu.clone(), m.cpu.state.sse.clone()), before);
    }

    #[test]
    fn ldmxcsr_stmxcsr() {
        let mut m = machine();
        m.load(0x2000, &0xFFC0u32.to_le_bytes());
        m.load(0x2010, &0x1_0000u32.to_le_bytes());
        let code = asm(|a| {
            a.ldmxcsr(dword_ptr(0x2000))?;
            a.stmxcsr(dword_ptr(0x2004))?;
            a.ldmxcsr(dword_ptr(0x2010))
        });
        assert_eq!(fault(&mut m, &code), (v::GP, 0));
        assert_eq!(m.cpu.state.sse.mxcsr, 0xFFC0, "DAZ and FZ are writable");
        assert_eq!(m.read_u32(0x2004), 0xFFC0);
        let mut m = machine();
        m.cpu.state.cr4 &= !cr4::OSFXSR;
        assert_eq!(fault(&mut m, &asm(|a| a.stmxcsr(dword_ptr(0x2004)))).0, v::UD);
    }

    /// Random MMX/SSE encodings from random states: no panic, and an
    /// instruction that faults leaves the CPU state as it found it.
    #[test]
    fn random_simd_encodings_never_panic_and_faults_change_nothing() {
        use crate::{ops::handler_for, Env};
        use iced_x86::{CpuidFeature as F, Decoder, DecoderOptions};
        const OPCODES: &[u8] =
            &[0x18, 0x6E, 0x6F, 0x7E, 0x7F, 0x70, 0x71, 0x72, 0x73, 0x77, 0xAE, 0xC3, 0xC4, 0xC5, 0xD6, 0xD7, 0xE7, 0xF7];
        let mut rng = Rng::new(0x51D);
        let mut m = machine();
        let mut ram = vec![0u8; 0x1_0000];
        let mut checked = 0;
        for _ in 0..30_000 {
            let mut bytes = Vec::with_capacity(16);
            match rng.below(4) {
                0 => bytes.push(0x66),
                1 => bytes.push(0xF3),
                2 => bytes.push(0xF2),
                _ => {}
            }
            bytes.push(0x0F);
            let op =
                if rng.chance(50) { OPCODES[rng.below(OPCODES.len() as u64) as usize] } else { 0x60 + rng.below(0xA0) as u8 };
            bytes.push(op);
            for _ in 0..8 {
                bytes.push(rng.next_u64() as u8);
            }
            let mut d = Decoder::with_ip(32, &bytes, CODE_BASE, DecoderOptions::NONE);
            let i = d.decode();
            let simd = i.cpuid_features().iter().any(|f| matches!(f, F::MMX | F::SSE | F::SSE2 | F::FXSR | F::CLFSH));
            if i.is_invalid() || !simd || !crate::ops::implemented(i.code()) {
                continue;
            }
            let s = &mut m.cpu.state;
            for r in 0..8 {
                s.gpr[r] = if rng.chance(80) { 0x2_0000 + rng.below(0xF000) } else { rng.next_u64() & 0xFFFF_FFFF };
            }
            s.gpr[4] = STACK_TOP;
            s.cr0 =
                cr0::PE | cr0::ET | if rng.chance(10) { cr0::EM } else { 0 } | if rng.chance(10) { cr0::TS } else { 0 } | cr0::NE;
            s.cr4 = if rng.chance(90) { cr4::OSFXSR } else { 0 };
            s.fpu.fsw = if rng.chance(5) { 0x80 } else { 0 } | (rng.below(8) as u16) << 11;
            s.fpu.ftw = rng.next_u64() as u16;
            for r in 0..8 {
                s.fpu.regs[r] = F80 { signif: rng.next_u64(), sign_exp: rng.next_u64() as u16 };
                s.sse.xmm[r] = u128::from(rng.next_u64()) << 64 | u128::from(rng.next_u64());
            }
            rng.fill(&mut ram);
            m.mem.write(0x2_0000, &ram);
            m.cpu.state.rip = CODE_BASE + i.len() as u64;
            let before = m.cpu.state.clone();
            let mut env = Env { mem: &mut m.mem, bus: &mut m.bus };
            if let Err(f) = handler_for(&i)(&mut m.cpu, &mut env, &i) {
                let mut after = m.cpu.state.clone();
                // An unmasked SIMD floating-point exception (#XM, or #UD
                // without CR4.OSXMMEXCPT) reports itself in the MXCSR flags
                // (SDM vol. 1 11.5.2); nothing else may change.
                if f == crate::fault::Fault::new(crate::fault::vector::XM) || f == crate::fault::Fault::UD {
                    after.sse.mxcsr = (after.sse.mxcsr & !0x3F) | (before.sse.mxcsr & 0x3F);
                }
                assert_eq!(after, before, "{:?} {:02x?}", i.code(), &bytes[..i.len()]);
            }
            checked += 1;
        }
        assert!(checked > 5_000, "only {checked} SIMD encodings drawn");
    }

    #[test]
    fn fences_prefetch_and_clflush() {
        let mut m = machine();
        m.cpu.state.cr0 |= cr0::TS | cr0::EM;
        let code = asm(|a| {
            a.sfence()?;
            a.lfence()?;
            a.mfence()?;
            a.prefetchnta(byte_ptr(0xFFFF_FFFFu32))?;
            a.prefetcht0(byte_ptr(0))?;
            a.clflush(byte_ptr(0x2000))?;
            a.clflush(byte_ptr(eax + 0))
        });
        // CLFLUSH beyond a shrunken DS limit: #GP(0).
        m.cpu.state.seg[crate::state::sreg::DS].limit = 0x7_FFFF;
        m.cpu.state.gpr[0] = 0x8_0000;
        assert_eq!(fault(&mut m, &code), (v::GP, 0));
        assert_eq!(m.read_u32(m.cpu.state.gpr[4] + 4), CODE_BASE as u32 + code.len() as u32 - 3, "at the last CLFLUSH");
    }
}
