//! Integer arithmetic and logic: ADD OR ADC SBB AND SUB XOR CMP TEST NOT
//! NEG INC DEC (SDM vol. 2 instruction pages; flags per vol. 1 appendix A).
//!
//! All of them leave their flags lazily (`flags.rs`): the result and the
//! operands are recorded and EFLAGS is computed only when something reads
//! it. The one undefined flag here is AF after AND/OR/XOR/TEST: cleared,
//! as Bochs and QEMU model Intel parts, by `FlagOp::Logic`.
//!
//! Memory destinations go through `rmw_read`/`rmw_write`, so a read-only
//! page or segment faults before anything changes; CMP and TEST only read
//! and work on read-only data.

use super::*;
use crate::{
    flags::{mask, FlagOp},
    state::{fl, CpuState},
};
use iced_x86::Code::*;

/// The ALU operations, numbered as in the /r field of opcodes 80-83.
const ADD: u8 = 0;
const OR: u8 = 1;
const ADC: u8 = 2;
const SBB: u8 = 3;
const AND: u8 = 4;
const SUB: u8 = 5;
const XOR: u8 = 6;

pub(super) fn register(t: &mut Table) {
    t.set_all(&[Add_rm8_r8, Add_r8_rm8, Add_AL_imm8, Add_rm8_imm8, Add_rm8_imm8_82], binop::<1, ADD>);
    t.set_all(&[Add_rm16_r16, Add_r16_rm16, Add_AX_imm16, Add_rm16_imm16, Add_rm16_imm8], binop::<2, ADD>);
    t.set_all(&[Add_rm32_r32, Add_r32_rm32, Add_EAX_imm32, Add_rm32_imm32, Add_rm32_imm8], binop::<4, ADD>);
    t.set_all(&[Or_rm8_r8, Or_r8_rm8, Or_AL_imm8, Or_rm8_imm8, Or_rm8_imm8_82], binop::<1, OR>);
    t.set_all(&[Or_rm16_r16, Or_r16_rm16, Or_AX_imm16, Or_rm16_imm16, Or_rm16_imm8], binop::<2, OR>);
    t.set_all(&[Or_rm32_r32, Or_r32_rm32, Or_EAX_imm32, Or_rm32_imm32, Or_rm32_imm8], binop::<4, OR>);
    t.set_all(&[Adc_rm8_r8, Adc_r8_rm8, Adc_AL_imm8, Adc_rm8_imm8, Adc_rm8_imm8_82], binop::<1, ADC>);
    t.set_all(&[Adc_rm16_r16, Adc_r16_rm16, Adc_AX_imm16, Adc_rm16_imm16, Adc_rm16_imm8], binop::<2, ADC>);
    t.set_all(&[Adc_rm32_r32, Adc_r32_rm32, Adc_EAX_imm32, Adc_rm32_imm32, Adc_rm32_imm8], binop::<4, ADC>);
    t.set_all(&[Sbb_rm8_r8, Sbb_r8_rm8, Sbb_AL_imm8, Sbb_rm8_imm8, Sbb_rm8_imm8_82], binop::<1, SBB>);
    t.set_all(&[Sbb_rm16_r16, Sbb_r16_rm16, Sbb_AX_imm16, Sbb_rm16_imm16, Sbb_rm16_imm8], binop::<2, SBB>);
    t.set_all(&[Sbb_rm32_r32, Sbb_r32_rm32, Sbb_EAX_imm32, Sbb_rm32_imm32, Sbb_rm32_imm8], binop::<4, SBB>);
    t.set_all(&[And_rm8_r8, And_r8_rm8, And_AL_imm8, And_rm8_imm8, And_rm8_imm8_82], binop::<1, AND>);
    t.set_all(&[And_rm16_r16, And_r16_rm16, And_AX_imm16, And_rm16_imm16, And_rm16_imm8], binop::<2, AND>);
    t.set_all(&[And_rm32_r32, And_r32_rm32, And_EAX_imm32, And_rm32_imm32, And_rm32_imm8], binop::<4, AND>);
    t.set_all(&[Sub_rm8_r8, Sub_r8_rm8, Sub_AL_imm8, Sub_rm8_imm8, Sub_rm8_imm8_82], binop::<1, SUB>);
    t.set_all(&[Sub_rm16_r16, Sub_r16_rm16, Sub_AX_imm16, Sub_rm16_imm16, Sub_rm16_imm8], binop::<2, SUB>);
    t.set_all(&[Sub_rm32_r32, Sub_r32_rm32, Sub_EAX_imm32, Sub_rm32_imm32, Sub_rm32_imm8], binop::<4, SUB>);
    t.set_all(&[Xor_rm8_r8, Xor_r8_rm8, Xor_AL_imm8, Xor_rm8_imm8, Xor_rm8_imm8_82], binop::<1, XOR>);
    t.set_all(&[Xor_rm16_r16, Xor_r16_rm16, Xor_AX_imm16, Xor_rm16_imm16, Xor_rm16_imm8], binop::<2, XOR>);
    t.set_all(&[Xor_rm32_r32, Xor_r32_rm32, Xor_EAX_imm32, Xor_rm32_imm32, Xor_rm32_imm8], binop::<4, XOR>);
    t.set_all(&[Cmp_rm8_r8, Cmp_r8_rm8, Cmp_AL_imm8, Cmp_rm8_imm8, Cmp_rm8_imm8_82], cmp::<1, false>);
    t.set_all(&[Cmp_rm16_r16, Cmp_r16_rm16, Cmp_AX_imm16, Cmp_rm16_imm16, Cmp_rm16_imm8], cmp::<2, false>);
    t.set_all(&[Cmp_rm32_r32, Cmp_r32_rm32, Cmp_EAX_imm32, Cmp_rm32_imm32, Cmp_rm32_imm8], cmp::<4, false>);
    // F6 /1 and F7 /1 are undocumented aliases of TEST that every Intel
    // and AMD part decodes.
    t.set_all(&[Test_rm8_r8, Test_AL_imm8, Test_rm8_imm8, Test_rm8_imm8_F6r1], cmp::<1, true>);
    t.set_all(&[Test_rm16_r16, Test_AX_imm16, Test_rm16_imm16, Test_rm16_imm16_F7r1], cmp::<2, true>);
    t.set_all(&[Test_rm32_r32, Test_EAX_imm32, Test_rm32_imm32, Test_rm32_imm32_F7r1], cmp::<4, true>);
    t.set(Not_rm8, not::<1>);
    t.set(Not_rm16, not::<2>);
    t.set(Not_rm32, not::<4>);
    t.set(Neg_rm8, neg::<1>);
    t.set(Neg_rm16, neg::<2>);
    t.set(Neg_rm32, neg::<4>);
    t.set(Inc_rm8, incdec::<1, true>);
    t.set_all(&[Inc_rm16, Inc_r16], incdec::<2, true>);
    t.set_all(&[Inc_rm32, Inc_r32], incdec::<4, true>);
    t.set(Dec_rm8, incdec::<1, false>);
    t.set_all(&[Dec_rm16, Dec_r16], incdec::<2, false>);
    t.set_all(&[Dec_rm32, Dec_r32], incdec::<4, false>);
}

/// `dst OP src` for the read-modify-write ALU operations: operand 0 is
/// the destination, operand 1 a register, memory or (sign-extended)
/// immediate source.
fn binop<const N: usize, const OP: u8>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let src = read_op::<N>(cpu, env, i, 1)?;
    let (loc, dst) = rmw_read::<N>(cpu, env, i)?;
    let m = mask(N as u8);
    let (res, op) = match OP {
        ADD => (dst.wrapping_add(src) & m, FlagOp::Add),
        OR => (dst | src, FlagOp::Logic),
        ADC => (dst.wrapping_add(src).wrapping_add(u64::from(cpu.state.cf())) & m, FlagOp::Adc),
        SBB => (dst.wrapping_sub(src).wrapping_sub(u64::from(cpu.state.cf())) & m, FlagOp::Sbb),
        AND => (dst & src, FlagOp::Logic),
        SUB => (dst.wrapping_sub(src) & m, FlagOp::Sub),
        _ => (dst ^ src, FlagOp::Logic),
    };
    rmw_write::<N>(cpu, env, loc, res)?;
    cpu.state.set_lazy(op, N as u8, dst, src, res);
    Ok(())
}

/// CMP (`TEST` = false) and TEST: flags only, both operands only read.
fn cmp<const N: usize, const TEST: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let dst = read_op::<N>(cpu, env, i, 0)?;
    let src = read_op::<N>(cpu, env, i, 1)?;
    if TEST {
        cpu.state.set_lazy(FlagOp::Logic, N as u8, dst, src, dst & src);
    } else {
        let res = dst.wrapping_sub(src) & mask(N as u8);
        cpu.state.set_lazy(FlagOp::Sub, N as u8, dst, src, res);
    }
    Ok(())
}

/// NOT changes no flags.
fn not<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let (loc, v) = rmw_read::<N>(cpu, env, i)?;
    rmw_write::<N>(cpu, env, loc, !v & mask(N as u8))
}

/// NEG is 0 - dst: CF is set unless the operand was zero.
fn neg<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let (loc, v) = rmw_read::<N>(cpu, env, i)?;
    let res = v.wrapping_neg() & mask(N as u8);
    rmw_write::<N>(cpu, env, loc, res)?;
    cpu.state.set_lazy(FlagOp::Sub, N as u8, 0, v, res);
    Ok(())
}

/// INC/DEC keep CF.
fn incdec<const N: usize, const INC: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let (loc, v) = rmw_read::<N>(cpu, env, i)?;
    let m = mask(N as u8);
    let res = if INC { v.wrapping_add(1) & m } else { v.wrapping_sub(1) & m };
    rmw_write::<N>(cpu, env, loc, res)?;
    cpu.state.set_lazy_incdec(if INC { FlagOp::Inc } else { FlagOp::Dec }, N as u8, v, res);
    Ok(())
}

/// Replaces all six arithmetic flags with `bits`. Unlike
/// `CpuState::set_arith`, pending lazy flags are not evaluated first: none
/// of them survive. For the eager-flag handlers of the sibling modules.
#[inline(always)]
pub(super) fn replace_arith(s: &mut CpuState, bits: u32) {
    s.lazy.op = FlagOp::None;
    s.eflags = (s.eflags & !u64::from(fl::ARITH)) | u64::from(bits & fl::ARITH);
}

/// Helpers shared by the unit tests of the arithmetic modules: machines
/// with a handler per exception vector, and running a snippet to its end.
#[cfg(test)]
pub(super) mod test_util {
    pub use crate::state::{fl, reg, sreg};
    pub use crate::testing::*;
    use iced_x86::Decoder;

    /// Exception vector `v` enters a `jmp $` at `HANDLERS + 16 * v`.
    pub const HANDLERS: u64 = 0x6000;
    /// The IDT of protected-mode test machines.
    pub const IDT: u64 = 0x5000;
    /// A scratch data area, addressable with DS in every test mode.
    pub const DATA: u64 = 0x3000;

    fn handlers(m: &mut TestMachine) {
        for v in 0..32u64 {
            m.load(HANDLERS + 16 * v, &[0xEB, 0xFE]);
        }
    }

    /// Flat 32-bit protected mode with `code` at EIP.
    pub fn flat32(code: &[u8]) -> TestMachine {
        let mut m = TestMachine::flat32();
        handlers(&mut m);
        for v in 0..32u8 {
            m.set_int_gate(IDT, v, (HANDLERS + 16 * u64::from(v)) as u32, 0);
        }
        m.load_code(code);
        m
    }

    /// 16-bit protected mode with `code` at EIP.
    pub fn prot16(code: &[u8]) -> TestMachine {
        let mut m = TestMachine::prot16();
        handlers(&mut m);
        for v in 0..32u8 {
            m.set_int_gate(IDT, v, (HANDLERS + 16 * u64::from(v)) as u32, 0);
        }
        m.load_code(code);
        m
    }

    /// Real mode with `code` at CS:IP and the IVT pointing at the handlers.
    pub fn real(code: &[u8]) -> TestMachine {
        let mut m = TestMachine::real();
        handlers(&mut m);
        for v in 0..32u64 {
            let off = (HANDLERS + 16 * v) as u16;
            m.load(4 * v, &u32::from(off).to_le_bytes());
        }
        m.load_code(code);
        m
    }

    /// The vector whose handler the CPU is in, if an exception was taken.
    pub fn fault(m: &TestMachine) -> Option<u8> {
        let rip = m.cpu.state.rip;
        (HANDLERS..HANDLERS + 32 * 16).contains(&rip).then(|| ((rip - HANDLERS) / 16) as u8)
    }

    /// Number of instructions in `code` for the CPU's current mode.
    fn count(m: &TestMachine, code: &[u8]) -> u64 {
        let bits = if m.cpu.state.code32() { 32 } else { 16 };
        Decoder::new(bits, code, iced_x86::DecoderOptions::NONE).into_iter().count() as u64
    }

    /// Runs every instruction of `code` (already loaded) and checks that
    /// none faulted.
    pub fn run_all(m: &mut TestMachine, code: &[u8]) {
        let n = count(m, code);
        m.run(n);
        assert_eq!(fault(m), None, "unexpected exception");
    }

    /// Runs `code` to its end in flat 32-bit mode after `setup`.
    pub fn exec32(code: &[u8], setup: impl FnOnce(&mut TestMachine)) -> TestMachine {
        let mut m = flat32(code);
        setup(&mut m);
        run_all(&mut m, code);
        m
    }

    /// Runs `code` to its end in real mode after `setup`.
    pub fn exec16(code: &[u8], setup: impl FnOnce(&mut TestMachine)) -> TestMachine {
        let mut m = real(code);
        setup(&mut m);
        run_all(&mut m, code);
        m
    }

    /// Runs `code` expecting its last instruction to raise `vector`, and
    /// checks that the faulting instruction changed no register (other
    /// than ESP, used by the delivery) and no flag.
    pub fn expect_fault(m: &mut TestMachine, code: &[u8], vector: u8) {
        let n = count(m, code);
        m.run(n - 1);
        assert_eq!(fault(m), None, "exception before the last instruction");
        let before = m.cpu.state.clone();
        let flags = m.cpu.state.flags();
        m.run(1);
        assert_eq!(fault(m), Some(vector), "expected exception {vector}");
        let s = &m.cpu.state;
        for r in 0..8 {
            if r != reg::RSP {
                assert_eq!(s.gpr[r], before.gpr[r], "register {r} changed by a faulting instruction");
            }
        }
        // The frame on the stack holds the flags and EIP of the faulting
        // instruction (after an error code for the vectors that have one).
        let has_code = s.protected() && matches!(vector, 8 | 10..=14 | 17);
        let frame = s.seg[sreg::SS].base + (s.gpr[reg::RSP] & m.cpu.sp_mask()) + if has_code { 4 } else { 0 };
        if s.code32() {
            assert_eq!(m.read_u32(frame), before.rip as u32, "saved EIP");
            assert_eq!(m.read_u32(frame + 8) & fl::ARITH, flags & fl::ARITH, "saved flags");
        } else {
            let w = |a: u64| u32::from(u16::from_le_bytes([m.read_phys(a, 2)[0], m.read_phys(a, 2)[1]]));
            assert_eq!(w(frame), before.rip as u32, "saved IP");
            assert_eq!(w(frame + 4) & fl::ARITH, flags & fl::ARITH, "saved flags");
        }
        // Flags as the handler sees them are untouched too.
        assert_eq!(s.flags() & fl::ARITH, flags & fl::ARITH);
    }

    /// The six arithmetic flags.
    pub fn arith(m: &TestMachine) -> u32 {
        m.cpu.state.flags() & fl::ARITH
    }

    /// Sets the arithmetic flags to exactly `f`.
    pub fn set_arith(m: &mut TestMachine, f: u32) {
        m.cpu.state.set_arith(fl::ARITH, f);
    }

    pub fn r32(m: &TestMachine, r: usize) -> u32 {
        m.cpu.state.gpr[r] as u32
    }
}

#[cfg(test)]
mod tests {
    use super::test_util::*;
    use crate::state::fl::{AF, CF, OF, PF, SF, ZF};

    /// Runs one 32-bit snippet with EAX and EBX preset and CF = `cf`;
    /// returns EAX and the arithmetic flags.
    fn ab(code: &[u8], eax: u32, ebx: u32, cf: bool) -> (u32, u32) {
        let m = exec32(code, |m| {
            m.cpu.state.gpr[reg::RAX] = u64::from(eax);
            m.cpu.state.gpr[reg::RBX] = u64::from(ebx);
            set_arith(m, if cf { CF } else { 0 });
        });
        (r32(&m, reg::RAX), arith(&m))
    }

    #[test]
    fn add_flags_on_edges() {
        const ADD8: &[u8] = &[0x00, 0xD8]; // add al, bl
        const ADD16: &[u8] = &[0x66, 0x01, 0xD8]; // add ax, bx
        const ADD32: &[u8] = &[0x01, 0xD8]; // add eax, ebx
                                            // 0 + 0: ZF, PF (zero has even parity).
        assert_eq!(ab(ADD32, 0, 0, false), (0, ZF | PF));
        // 0xFF + 1 = 0x100: the byte wraps to 0 with carry and half-carry;
        // the rest of EAX is untouched.
        assert_eq!(ab(ADD8, 0x1234_56FF, 1, false), (0x1234_5600, CF | ZF | AF | PF));
        // 0x7F + 1 = 0x80: signed overflow, SF, AF; 0x80 has odd parity.
        assert_eq!(ab(ADD8, 0x7F, 1, false), (0x80, OF | SF | AF));
        // 0x80 + 0x80 = 0x100: carry and overflow, result 0.
        assert_eq!(ab(ADD8, 0x80, 0x80, false), (0x00, CF | OF | ZF | PF));
        // 16-bit: 0x7FFF + 1 = 0x8000; the upper half stays.
        assert_eq!(ab(ADD16, 0xAAAA_7FFF, 1, false), (0xAAAA_8000, OF | SF | AF | PF));
        // 32-bit: 0xFFFFFFFF + 1 = 0 with carry; CF in does not matter.
        assert_eq!(ab(ADD32, 0xFFFF_FFFF, 1, true), (0, CF | ZF | AF | PF));
        // 32-bit: 0x7FFFFFFF + 0x7FFFFFFF = 0xFFFFFFFE: overflow, no carry.
        assert_eq!(ab(ADD32, 0x7FFF_FFFF, 0x7FFF_FFFF, false), (0xFFFF_FFFE, OF | SF | AF));
    }

    #[test]
    fn adc_and_sbb_use_carry() {
        const ADC32: &[u8] = &[0x11, 0xD8]; // adc eax, ebx
        const SBB32: &[u8] = &[0x19, 0xD8]; // sbb eax, ebx
        const ADC8: &[u8] = &[0x10, 0xD8]; // adc al, bl
        const SBB16: &[u8] = &[0x66, 0x19, 0xD8]; // sbb ax, bx
                                                  // 0xFFFFFFFF + 0 + 1 = 0, carry out.
        assert_eq!(ab(ADC32, 0xFFFF_FFFF, 0, true), (0, CF | ZF | AF | PF));
        // 0xFFFFFFFF + 0xFFFFFFFF + 1 = 0x1_FFFFFFFF: carry, result all ones.
        assert_eq!(ab(ADC32, 0xFFFF_FFFF, 0xFFFF_FFFF, true), (0xFFFF_FFFF, CF | SF | AF | PF));
        // 0x7F + 0 + 1 = 0x80: overflow from the carry alone.
        assert_eq!(ab(ADC8, 0x7F, 0, true), (0x80, OF | SF | AF));
        // Without carry in, ADC is ADD.
        assert_eq!(ab(ADC8, 0x7F, 0, false), (0x7F, 0));
        // 0 - 0 - 1 = 0xFFFFFFFF: borrow.
        assert_eq!(ab(SBB32, 0, 0, true), (0xFFFF_FFFF, CF | SF | AF | PF));
        // 5 - 5 - 0 = 0.
        assert_eq!(ab(SBB32, 5, 5, false), (0, ZF | PF));
        // 16-bit 0x8000 - 0 - 1 = 0x7FFF: overflow, half-borrow.
        assert_eq!(ab(SBB16, 0x8000, 0, true), (0x7FFF, OF | AF | PF));
        // 0 - 0xFFFF - 1 = 0 with borrow (16-bit).
        assert_eq!(ab(SBB16, 0, 0xFFFF, true), (0, CF | ZF | AF | PF));
    }

    #[test]
    fn sub_cmp_neg() {
        const SUB32: &[u8] = &[0x29, 0xD8]; // sub eax, ebx
        const CMP8: &[u8] = &[0x38, 0xD8]; // cmp al, bl
        const NEG32: &[u8] = &[0xF7, 0xD8]; // neg eax
        const NEG8: &[u8] = &[0xF6, 0xD8]; // neg al
        assert_eq!(ab(SUB32, 1, 2, false), (0xFFFF_FFFF, CF | SF | AF | PF));
        assert_eq!(ab(SUB32, 0x8000_0000, 1, false), (0x7FFF_FFFF, OF | AF | PF));
        // CMP sets the flags of SUB and leaves AL alone.
        assert_eq!(ab(CMP8, 0x80, 0x01, false), (0x80, OF | AF));
        assert_eq!(ab(CMP8, 0x10, 0x10, true), (0x10, ZF | PF));
        // NEG 0 clears CF; NEG of anything else sets it.
        assert_eq!(ab(NEG32, 0, 0, true), (0, ZF | PF));
        assert_eq!(ab(NEG32, 1, 0, false), (0xFFFF_FFFF, CF | SF | AF | PF));
        // NEG of the most negative value overflows and stays put.
        assert_eq!(ab(NEG32, 0x8000_0000, 0, false), (0x8000_0000, CF | OF | SF | PF));
        assert_eq!(ab(NEG8, 0x80, 0, false), (0x80, CF | OF | SF));
    }

    #[test]
    fn logic_clears_cf_of_af() {
        const AND32: &[u8] = &[0x21, 0xD8]; // and eax, ebx
        const OR8: &[u8] = &[0x08, 0xD8]; // or al, bl
        const XOR32: &[u8] = &[0x31, 0xC0]; // xor eax, eax
        const TEST16: &[u8] = &[0x66, 0x85, 0xD8]; // test ax, bx
        const NOT16: &[u8] = &[0x66, 0xF7, 0xD0]; // not ax
        let all = CF | OF | AF;
        let run = |code, a, b| {
            let m = exec32(code, |m| {
                m.cpu.state.gpr[reg::RAX] = a;
                m.cpu.state.gpr[reg::RBX] = b;
                set_arith(m, all);
            });
            (r32(&m, reg::RAX), arith(&m))
        };
        assert_eq!(run(AND32, 0xF0F0_F0F0, 0x0F0F_0F0F), (0, ZF | PF));
        assert_eq!(run(AND32, 0x8000_0001, 0x8000_0003), (0x8000_0001, SF));
        assert_eq!(run(OR8, 0x40, 0x83), (0xC3, SF | PF));
        assert_eq!(run(XOR32, 0x1234, 0), (0, ZF | PF));
        // TEST leaves AX; 0x8000 & 0x8001 = 0x8000.
        assert_eq!(run(TEST16, 0x8000, 0x8001), (0x8000, SF | PF));
        // NOT changes no flag.
        assert_eq!(run(NOT16, 0xFFFF_00FF, 0), (0xFFFF_FF00, all));
    }

    #[test]
    fn immediate_forms_sign_extend() {
        let code = [
            0x83, 0xC0, 0xFF, // add eax, byte -1
            0x66, 0x83, 0xC3, 0x80, // add bx, byte -128
            0x82, 0xC1, 0x05, // add cl, 5 (the 0x82 alias of 0x80)
            0x80, 0xEA, 0x01, // sub dl, 1
            0x81, 0xF6, 0x78, 0x56, 0x34, 0x12, // xor esi, 0x12345678
            0x66, 0x25, 0xF0, 0x0F, // and ax, 0x0ff0
            0x0C, 0x01, // or al, 1
            0x1C, 0x00, // sbb al, 0
        ];
        let m = exec32(&code, |m| {
            let s = &mut m.cpu.state;
            s.gpr[reg::RAX] = 5;
            s.gpr[reg::RBX] = 0x1_0100;
            s.gpr[reg::RCX] = 0xFE;
            s.gpr[reg::RDX] = 0;
            s.gpr[reg::RSI] = 0xFFFF_FFFF;
        });
        // 5 - 1 = 4; & 0x0ff0 = 0; | 1 = 1; sbb with CF = 0 (OR cleared it).
        assert_eq!(r32(&m, reg::RAX), 1);
        assert_eq!(r32(&m, reg::RBX), 0x1_0080);
        assert_eq!(r32(&m, reg::RCX), 0x03);
        assert_eq!(r32(&m, reg::RDX), 0xFF);
        assert_eq!(r32(&m, reg::RSI), 0xEDCB_A987);
        assert_eq!(arith(&m), 0);
    }

    #[test]
    fn inc_dec_keep_carry() {
        const INC8: &[u8] = &[0xFE, 0xC0]; // inc al
        const DEC32: &[u8] = &[0x48]; // dec eax
        const INC16: &[u8] = &[0x66, 0x40]; // inc ax
        const DEC16M: &[u8] = &[0x66, 0xFF, 0xC8]; // dec ax (FF /1 form)
        assert_eq!(ab(INC8, 0x7F, 0, true), (0x80, CF | OF | SF | AF));
        assert_eq!(ab(INC8, 0xFF, 0, false), (0x00, ZF | AF | PF));
        assert_eq!(ab(DEC32, 0, 0, false), (0xFFFF_FFFF, SF | AF | PF));
        assert_eq!(ab(DEC32, 0x8000_0000, 0, true), (0x7FFF_FFFF, CF | OF | AF | PF));
        assert_eq!(ab(INC16, 0x1_FFFF, 0, true), (0x1_0000, CF | ZF | AF | PF));
        assert_eq!(ab(DEC16M, 1, 0, false), (0, ZF | PF));
    }

    #[test]
    fn inc_after_lazy_sub_keeps_that_carry() {
        // cmp eax, ebx (1 < 2 sets CF); inc ecx; jc-like check via flags
        let code = [0x39, 0xD8, 0x41];
        let m = exec32(&code, |m| {
            m.cpu.state.gpr[reg::RAX] = 1;
            m.cpu.state.gpr[reg::RBX] = 2;
            m.cpu.state.gpr[reg::RCX] = 0xFFFF_FFFF;
        });
        assert_eq!(arith(&m), CF | ZF | AF | PF);
    }

    #[test]
    fn memory_destinations_and_sources() {
        let code = [
            0x01, 0x05, 0x00, 0x30, 0x00, 0x00, // add [0x3000], eax
            0x66, 0x83, 0x2D, 0x04, 0x30, 0x00, 0x00, 0x01, // sub word [0x3004], 1
            0x80, 0x35, 0x06, 0x30, 0x00, 0x00, 0xFF, // xor byte [0x3006], 0xff
            0x03, 0x1D, 0x08, 0x30, 0x00, 0x00, // add ebx, [0x3008]
            0xF6, 0x1D, 0x0C, 0x30, 0x00, 0x00, // neg byte [0x300c]
            0xFF, 0x05, 0x10, 0x30, 0x00, 0x00, // inc dword [0x3010]
            0xF7, 0x15, 0x14, 0x30, 0x00, 0x00, // not dword [0x3014]
        ];
        let m = exec32(&code, |m| {
            m.load(DATA, &0xFFFF_FFF0u32.to_le_bytes());
            m.load(DATA + 4, &[0x00, 0x00, 0x0F]);
            m.load(DATA + 8, &40u32.to_le_bytes());
            m.load(DATA + 12, &[0x01]);
            m.load(DATA + 16, &0x7FFF_FFFFu32.to_le_bytes());
            m.load(DATA + 20, &0x0F0F_0F0Fu32.to_le_bytes());
            m.cpu.state.gpr[reg::RAX] = 0x20;
            m.cpu.state.gpr[reg::RBX] = 2;
        });
        assert_eq!(m.read_u32(DATA), 0x10);
        assert_eq!(m.read_phys(DATA + 4, 3), vec![0xFF, 0xFF, 0xF0]);
        assert_eq!(r32(&m, reg::RBX), 42);
        assert_eq!(m.read_phys(DATA + 12, 1), vec![0xFF]);
        assert_eq!(m.read_u32(DATA + 16), 0x8000_0000);
        assert_eq!(m.read_u32(DATA + 20), 0xF0F0_F0F0);
        // From INC: overflow into the sign, CF kept from NEG (set).
        assert_eq!(arith(&m), CF | OF | SF | AF | PF);
    }

    #[test]
    fn sixteen_bit_addressing_in_real_mode() {
        let code = [
            0x01, 0x07, // add [bx], ax
            0x83, 0x40, 0x02, 0xFF, // add word [bx+si+2], -1   (SI = 0)
            0x38, 0x20, // cmp [bx+si], ah
        ];
        let m = exec16(&code, |m| {
            m.load(DATA, &[0x34, 0x12, 0x00, 0x00]);
            m.cpu.state.gpr[reg::RAX] = 0x0102;
            m.cpu.state.gpr[reg::RBX] = DATA;
            m.cpu.state.gpr[reg::RSI] = 0;
        });
        assert_eq!(m.read_phys(DATA, 4), vec![0x36, 0x13, 0xFF, 0xFF]);
        // cmp 0x36, 0x01: no borrow, result 0x35.
        assert_eq!(arith(&m), PF);
    }

    #[test]
    fn rmw_on_read_only_data_faults_before_changing_anything() {
        // add [0x3000], eax with DS read-only: #GP(0), memory and flags kept.
        let code = [0x01, 0x05, 0x00, 0x30, 0x00, 0x00];
        let mut m = flat32(&code);
        m.cpu.state.seg[sreg::DS].attr &= !crate::state::attr::RW;
        m.cpu.state.gpr[reg::RAX] = 1;
        set_arith(&mut m, CF | ZF);
        m.load(DATA, &7u32.to_le_bytes());
        expect_fault(&mut m, &code, 13);
        assert_eq!(m.read_u32(DATA), 7);
    }

    #[test]
    fn rmw_across_a_page_boundary_checks_both_pages_first() {
        // add [0x7FFE], eax: the dword spans 0x7000 (mapped) and 0x8000
        // (not present). #PF with CR2 = 0x8000, and neither page written.
        let code = [0x01, 0x05, 0xFE, 0x7F, 0x00, 0x00];
        let mut m = flat32(&code);
        // Identity-map the first 4 MiB with 4 KiB pages, except 0x8000.
        const PD: u64 = 0x20_0000;
        const PT: u64 = 0x20_1000;
        m.load(PD, &(PT as u32 | 3).to_le_bytes());
        for page in 0..1024u64 {
            let pte = if page == 8 { 0 } else { (page << 12) as u32 | 3 };
            m.load(PT + page * 4, &pte.to_le_bytes());
        }
        m.cpu.state.cr3 = PD;
        m.cpu.state.cr0 |= crate::state::cr0::PG;
        m.load(0x7FFC, &[0x11; 8]);
        m.cpu.state.gpr[reg::RAX] = 0x0101_0101;
        set_arith(&mut m, ZF | SF);
        expect_fault(&mut m, &code, 14);
        assert_eq!(m.cpu.state.cr2, 0x8000);
        assert_eq!(m.read_phys(0x7FFC, 8), vec![0x11; 8]);
    }

    #[test]
    fn cmp_and_test_only_read() {
        // cmp [0x3000], eax; test [0x3004], ebx with DS read-only.
        let code = [0x39, 0x05, 0x00, 0x30, 0x00, 0x00, 0x85, 0x1D, 0x04, 0x30, 0x00, 0x00];
        let mut m = flat32(&code);
        m.cpu.state.seg[sreg::DS].attr &= !crate::state::attr::RW;
        m.load(DATA, &[5, 0, 0, 0, 0, 0, 0, 0x80]);
        m.cpu.state.gpr[reg::RAX] = 5;
        m.cpu.state.gpr[reg::RBX] = 0x8000_0000;
        run_all(&mut m, &code);
        assert_eq!(arith(&m), SF | PF);
    }

    #[test]
    fn lock_prefix_rules() {
        // lock add eax, ebx: a register destination is #UD.
        let code = [0xF0, 0x01, 0xD8];
        expect_fault(&mut flat32(&code), &code, 6);
        // lock cmp [eax], ebx: CMP cannot be locked.
        let code = [0xF0, 0x39, 0x18];
        let mut m = flat32(&code);
        m.cpu.state.gpr[reg::RAX] = DATA;
        expect_fault(&mut m, &code, 6);
        // lock sub [eax], ebx works.
        let code = [0xF0, 0x29, 0x18];
        let m = exec32(&code, |m| {
            m.cpu.state.gpr[reg::RAX] = DATA;
            m.cpu.state.gpr[reg::RBX] = 1;
            m.load(DATA, &[0, 1, 0, 0]);
        });
        assert_eq!(m.read_u32(DATA), 0xFF);
    }

    #[test]
    fn prot16_operand_size_prefix() {
        // In 16-bit code 0x66 selects 32-bit operands: add eax, ebx
        let code = [0x66, 0x01, 0xD8, 0x01, 0xD9]; // add eax, ebx; add cx, bx
        let mut m = prot16(&code);
        m.cpu.state.gpr[reg::RAX] = 0xFFFF_0000;
        m.cpu.state.gpr[reg::RBX] = 0x0001_0000;
        m.cpu.state.gpr[reg::RCX] = 0xABCD_FFFF;
        run_all(&mut m, &code);
        assert_eq!(r32(&m, reg::RAX), 0);
        // cx = 0xFFFF + 0 (BX low word is 0): no carry.
        assert_eq!(r32(&m, reg::RCX), 0xABCD_FFFF);
        assert_eq!(arith(&m), SF | PF);
    }
}

#[cfg(test)]
mod coverage {
    use crate::ops::implemented;
    use iced_x86::{Code, EncodingKind, Mnemonic::*};

    /// Every legacy 16/32-bit form of the families the arithmetic modules
    /// (alu, shift, muldiv, bcd, bit, atomic, convert) own is registered.
    #[test]
    fn all_forms_registered() {
        let ours = [
            Add, Or, Adc, Sbb, And, Sub, Xor, Cmp, Test, Not, Neg, Inc, Dec, Rol, Ror, Rcl, Rcr, Shl, Sal, Shr, Sar, Shld, Shrd,
            Mul, Imul, Div, Idiv, Daa, Das, Aaa, Aas, Aam, Aad, Bt, Bts, Btr, Btc, Bsf, Bsr, Xadd, Cmpxchg, Cmpxchg8b, Cbw, Cwde,
            Cwd, Cdq, Bswap, Xlatb, Lahf, Sahf, Salc, Seto, Setno, Setb, Setae, Sete, Setne, Setbe, Seta, Sets, Setns, Setp,
            Setnp, Setl, Setge, Setle, Setg, Cmovo, Cmovno, Cmovb, Cmovae, Cmove, Cmovne, Cmovbe, Cmova, Cmovs, Cmovns, Cmovp,
            Cmovnp, Cmovl, Cmovge, Cmovle, Cmovg,
        ];
        let mut n = 0;
        for c in Code::values() {
            let op = c.op_code();
            if op.encoding() != EncodingKind::Legacy || !(op.mode16() || op.mode32()) || !ours.contains(&c.mnemonic()) {
                continue;
            }
            // 0F A6/A7 CMPXCHG existed only on early 486 steppings; a P6
            // raises #UD for them.
            if matches!(c, Code::Cmpxchg486_rm8_r8 | Code::Cmpxchg486_rm16_r16 | Code::Cmpxchg486_rm32_r32) {
                assert!(!implemented(c));
                continue;
            }
            assert!(implemented(c), "{c:?} not registered");
            n += 1;
        }
        assert!(n > 250, "only {n} forms matched: is the mnemonic list right?");
    }
}
