//! Bit tests and scans: BT BTS BTR BTC, BSF BSR (SDM vol. 2 "BT", "BTS",
//! "BTR", "BTC", "BSF", "BSR").
//!
//! A register bit offset into a memory operand is a signed number that
//! can address memory beyond the operand: the operand-sized unit at
//! EA + (offset >> log2(width)) * size, wrapped to the address size. An
//! immediate offset, or any offset into a register, is taken modulo the
//! operand width.
//!
//! Undefined results, chosen as Bochs records P6-class parts: BT* change
//! only CF (OF, SF, AF, PF keep their values); BSF/BSR of zero set ZF and
//! leave the destination and the other flags alone, otherwise they clear
//! ZF, CF, OF, SF, AF and set PF from the index.

use super::*;
use crate::{
    flags::{mask, parity},
    state::fl,
};
use iced_x86::Code::*;

const BT: u8 = 0;
const BTS: u8 = 1;
const BTR: u8 = 2;
const BTC: u8 = 3;

pub(super) fn register(t: &mut Table) {
    t.set_all(&[Bt_rm16_r16, Bt_rm16_imm8], bt::<2, BT>);
    t.set_all(&[Bt_rm32_r32, Bt_rm32_imm8], bt::<4, BT>);
    t.set_all(&[Bts_rm16_r16, Bts_rm16_imm8], bt::<2, BTS>);
    t.set_all(&[Bts_rm32_r32, Bts_rm32_imm8], bt::<4, BTS>);
    t.set_all(&[Btr_rm16_r16, Btr_rm16_imm8], bt::<2, BTR>);
    t.set_all(&[Btr_rm32_r32, Btr_rm32_imm8], bt::<4, BTR>);
    t.set_all(&[Btc_rm16_r16, Btc_rm16_imm8], bt::<2, BTC>);
    t.set_all(&[Btc_rm32_r32, Btc_rm32_imm8], bt::<4, BTC>);
    t.set(Bsf_r16_rm16, scan::<2, false>);
    t.set(Bsf_r32_rm32, scan::<4, false>);
    t.set(Bsr_r16_rm16, scan::<2, true>);
    t.set(Bsr_r32_rm32, scan::<4, true>);
}

/// `v` with bit `b` set, cleared or flipped as `OP` says.
#[inline(always)]
fn modify<const OP: u8>(v: u64, b: u32) -> u64 {
    match OP {
        BTS => v | 1 << b,
        BTR => v & !(1 << b),
        _ => v ^ 1 << b,
    }
}

fn bt<const N: usize, const OP: u8>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let w = N as u32 * 8;
    let offset = read_op::<N>(cpu, env, i, 1)?;
    let old = if i.op0_kind() == OpKind::Register {
        let b = offset as u32 & (w - 1);
        let r = i.op0_register();
        let v = reg_read(&cpu.state, r);
        if OP != BT {
            reg_write(&mut cpu.state, r, modify::<OP>(v, b));
        }
        (v >> b) & 1
    } else {
        let (seg, mut off) = mem_operand(&cpu.state, i);
        let b = if i.op1_kind() == OpKind::Register {
            let shift = 64 - w;
            let signed = ((offset << shift) as i64) >> shift;
            let units = signed >> w.trailing_zeros();
            let addr_mask = if addr16(i) { 0xFFFF } else { 0xFFFF_FFFF };
            off = off.wrapping_add((units * N as i64) as u64) & addr_mask;
            signed as u32 & (w - 1)
        } else {
            offset as u32 & (w - 1)
        };
        if OP == BT {
            (cpu.read::<N>(env, seg, off)? >> b) & 1
        } else {
            // Read-modify-write at the computed address, checked for
            // writing first as `rmw_read` does.
            let lin = cpu.seg_lin(seg, off, N as u32, true)?;
            let user = cpu.user();
            if !cpu.tlb.write_hit::<N>(lin, user) {
                cpu.probe_write(env, lin, N, user)?;
            }
            let v = cpu.read_lin::<N>(env, lin, user)?;
            cpu.write_lin::<N>(env, lin, modify::<OP>(v, b) & mask(N as u8), user)?;
            (v >> b) & 1
        }
    };
    cpu.state.set_arith(fl::CF, if old != 0 { fl::CF } else { 0 });
    Ok(())
}

/// BSF / BSR (`REVERSE`): index of the lowest / highest set bit.
fn scan<const N: usize, const REVERSE: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let v = read_op::<N>(cpu, env, i, 1)?;
    if v == 0 {
        cpu.state.set_arith(fl::ZF, fl::ZF);
        return Ok(());
    }
    let idx = u64::from(if REVERSE { 63 - v.leading_zeros() } else { v.trailing_zeros() });
    reg_write(&mut cpu.state, i.op0_register(), idx);
    super::alu::replace_arith(&mut cpu.state, if parity(idx) { fl::PF } else { 0 });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::alu::test_util::*;
    use crate::state::fl::{AF, CF, OF, PF, SF, ZF};

    /// Runs `code` with EAX and ECX preset and the flags `flags`; returns
    /// EAX and the flags.
    fn run(code: &[u8], eax: u32, ecx: u32, flags: u32) -> (u32, u32) {
        let m = exec32(code, |m| {
            m.cpu.state.gpr[reg::RAX] = u64::from(eax);
            m.cpu.state.gpr[reg::RCX] = u64::from(ecx);
            set_arith(m, flags);
        });
        (r32(&m, reg::RAX), arith(&m))
    }

    #[test]
    fn register_forms() {
        const BT32: &[u8] = &[0x0F, 0xA3, 0xC8]; // bt eax, ecx
        const BTS32: &[u8] = &[0x0F, 0xAB, 0xC8]; // bts eax, ecx
        const BTR16: &[u8] = &[0x66, 0x0F, 0xB3, 0xC8]; // btr ax, cx
        const BTC32: &[u8] = &[0x0F, 0xBB, 0xC8]; // btc eax, ecx
                                                  // Only CF changes; the offset wraps modulo 32 (33 is bit 1).
        assert_eq!(run(BT32, 0b10, 33, ZF | OF | SF | AF | PF), (0b10, CF | ZF | OF | SF | AF | PF));
        assert_eq!(run(BT32, 0b10, 0, CF | ZF), (0b10, ZF));
        assert_eq!(run(BT32, 0x8000_0000, 31, 0), (0x8000_0000, CF));
        assert_eq!(run(BTS32, 0, 31, CF), (0x8000_0000, 0));
        // 16-bit: 17 is bit 1, the upper half of EAX is untouched.
        assert_eq!(run(BTR16, 0xFFFF_FFFF, 17, 0), (0xFFFF_FFFD, CF));
        assert_eq!(run(BTC32, 0x0000_0010, 4, 0), (0, CF));
        assert_eq!(run(BTC32, 0, 4, CF), (0x10, 0));
    }

    #[test]
    fn immediate_forms() {
        let code = [
            0x0F, 0xBA, 0xE8, 0x24, // bts eax, 36   (bit 4)
            0x66, 0x0F, 0xBA, 0xF1, 0x1F, // btr cx, 31  (bit 15)
            0x0F, 0xBA, 0x3D, 0x00, 0x30, 0x00, 0x00, 0x23, // btc dword [0x3000], 35 (bit 3)
            0x0F, 0xBA, 0x25, 0x04, 0x30, 0x00, 0x00, 0x00, // bt dword [0x3004], 0
        ];
        let m = exec32(&code, |m| {
            m.cpu.state.gpr[reg::RAX] = 0;
            m.cpu.state.gpr[reg::RCX] = 0xFFFF_FFFF;
            m.load(DATA, &[0x08, 0, 0, 0, 0x01]);
        });
        assert_eq!(r32(&m, reg::RAX), 0x10);
        assert_eq!(r32(&m, reg::RCX), 0xFFFF_7FFF);
        // An immediate offset never leaves the operand.
        assert_eq!(m.read_phys(DATA, 5), vec![0, 0, 0, 0, 0x01]);
        assert_eq!(arith(&m) & CF, CF);
    }

    #[test]
    fn register_offset_addresses_beyond_the_operand() {
        let code = [
            0x0F, 0xAB, 0x0D, 0x00, 0x30, 0x00, 0x00, // bts [0x3000], ecx   (ECX = 35)
            0x0F, 0xB3, 0x15, 0x00, 0x30, 0x00, 0x00, // btr [0x3000], edx   (EDX = -1)
            0x66, 0x0F, 0xBB, 0x1D, 0x00, 0x30, 0x00, 0x00, // btc [0x3000], bx (BX = -17)
            0x66, 0x0F, 0xA3, 0x35, 0x10, 0x30, 0x00, 0x00, // bt [0x3010], si (SI = 0x7FFF)
        ];
        let m = exec32(&code, |m| {
            let s = &mut m.cpu.state;
            s.gpr[reg::RCX] = 35;
            s.gpr[reg::RDX] = 0xFFFF_FFFF;
            s.gpr[reg::RBX] = 0xABCD_FFEF;
            s.gpr[reg::RSI] = 0x7FFF;
            m.load(DATA - 4, &[0xFF, 0xFF, 0xFF, 0xFF]);
            // Bit 0x7FFF of the word array at 0x3010: word 0x7FF, bit 15.
            m.load(DATA + 0x10 + 0x7FF * 2, &[0x00, 0x80]);
        });
        // 35: dword at 0x3004, bit 3.
        assert_eq!(m.read_phys(DATA + 4, 1), vec![0x08]);
        // -1: dword at 0x2FFC, bit 31; -17: word at 0x2FFC, bit 15.
        assert_eq!(m.read_phys(DATA - 4, 4), vec![0xFF, 0x7F, 0xFF, 0x7F]);
        assert_eq!(arith(&m) & CF, CF);
    }

    #[test]
    fn sixteen_bit_address_wraps() {
        // bt [bx], ax with BX = 0 and AX = -16: the word at DS:0xFFFE.
        // bts [bx], ax then sets bit 0 there.
        let code = [0x0F, 0xAB, 0x07];
        let m = exec16(&code, |m| {
            m.cpu.state.gpr[reg::RBX] = 0;
            m.cpu.state.gpr[reg::RAX] = 0xFFF0;
        });
        assert_eq!(m.read_phys(0xFFFE, 2), vec![0x01, 0x00]);
        assert_eq!(arith(&m) & CF, 0);
    }

    #[test]
    fn bts_on_read_only_faults_bt_reads() {
        let bts = [0x0F, 0xAB, 0x0D, 0x00, 0x30, 0x00, 0x00]; // bts [0x3000], ecx
        let mut m = flat32(&bts);
        m.cpu.state.seg[sreg::DS].attr &= !crate::state::attr::RW;
        m.cpu.state.gpr[reg::RCX] = 1;
        set_arith(&mut m, CF | SF);
        expect_fault(&mut m, &bts, 13);
        let bt = [0x0F, 0xA3, 0x0D, 0x00, 0x30, 0x00, 0x00]; // bt [0x3000], ecx
        let mut m = flat32(&bt);
        m.cpu.state.seg[sreg::DS].attr &= !crate::state::attr::RW;
        m.cpu.state.gpr[reg::RCX] = 32;
        m.load(DATA + 4, &[0x01]);
        run_all(&mut m, &bt);
        assert_eq!(arith(&m), CF);
    }

    #[test]
    fn bit_scans() {
        const BSF32: &[u8] = &[0x0F, 0xBC, 0xC1]; // bsf eax, ecx
        const BSR32: &[u8] = &[0x0F, 0xBD, 0xC1]; // bsr eax, ecx
        const BSF16: &[u8] = &[0x66, 0x0F, 0xBC, 0xC1]; // bsf ax, cx
        const BSR16: &[u8] = &[0x66, 0x0F, 0xBD, 0xC1]; // bsr ax, cx
        assert_eq!(run(BSF32, 0xDEAD, 0x0000_0100, ZF | CF), (8, 0));
        assert_eq!(run(BSR32, 0xDEAD, 0x0000_0101, 0), (8, 0));
        assert_eq!(run(BSF32, 0, 0x8000_0000, 0), (31, 0));
        assert_eq!(run(BSR32, 0, 0xFFFF_FFFF, SF), (31, 0));
        assert_eq!(run(BSF32, 0, 0x0000_0001, 0), (0, PF));
        assert_eq!(run(BSR32, 0, 0x0000_0008, 0), (3, PF));
        // A zero source leaves the destination and all but ZF.
        assert_eq!(run(BSF32, 0xDEAD, 0, CF | OF), (0xDEAD, CF | OF | ZF));
        assert_eq!(run(BSR32, 0xDEAD, 0, SF), (0xDEAD, SF | ZF));
        // 16-bit forms look at CX only and write AX only.
        assert_eq!(run(BSF16, 0xFFFF_FFFF, 0x0001_8000, 0), (0xFFFF_000F, PF));
        assert_eq!(run(BSR16, 0xFFFF_FFFF, 0x0001_0000, 0), (0xFFFF_FFFF, ZF));
        // Memory source: bsr ebx, [0x3000]
        let code = [0x0F, 0xBD, 0x1D, 0x00, 0x30, 0x00, 0x00];
        let m = exec32(&code, |m| m.load(DATA, &0x0040_0000u32.to_le_bytes()));
        assert_eq!(r32(&m, reg::RBX), 22);
    }

    #[test]
    fn rep_prefixed_scans_are_bsf_and_bsr_without_bmi1_or_lzcnt() {
        const REP_BSF32: &[u8] = &[0xF3, 0x0F, 0xBC, 0xC1]; // tzcnt eax, ecx on BMI1 parts
        const REP_BSR32: &[u8] = &[0xF3, 0x0F, 0xBD, 0xC1]; // lzcnt eax, ecx on LZCNT parts
        assert_eq!(run(REP_BSF32, 0xDEAD, 0x0000_0100, ZF | CF), (8, 0));
        assert_eq!(run(REP_BSR32, 0xDEAD, 0x0000_0101, 0), (8, 0));
        // BSF of zero, not TZCNT's operand width with CF set.
        assert_eq!(run(REP_BSF32, 0xDEAD, 0, 0), (0xDEAD, ZF));
    }
}
