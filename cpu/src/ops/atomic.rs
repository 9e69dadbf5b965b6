//! The 486/Pentium atomic primitives: XADD, CMPXCHG, CMPXCHG8B (SDM vol.
//! 2 instruction pages). Every instruction is atomic in this interpreter,
//! so LOCK changes nothing beyond the #UD rules applied at decode time.
//!
//! The destination is always written, as on hardware: CMPXCHG and
//! CMPXCHG8B write the old value back when the comparison fails, so a
//! read-only destination faults whatever the outcome.

use super::*;
use crate::{
    flags::{mask, FlagOp},
    state::{fl, reg},
};
use iced_x86::{Code::*, Register};

pub(super) fn register(t: &mut Table) {
    t.set(Xadd_rm8_r8, xadd::<1>);
    t.set(Xadd_rm16_r16, xadd::<2>);
    t.set(Xadd_rm32_r32, xadd::<4>);
    t.set(Cmpxchg_rm8_r8, cmpxchg::<1>);
    t.set(Cmpxchg_rm16_r16, cmpxchg::<2>);
    t.set(Cmpxchg_rm32_r32, cmpxchg::<4>);
    t.set(Cmpxchg8b_m64, cmpxchg8b);
}

/// AL, AX or EAX.
#[inline(always)]
const fn accumulator<const N: usize>() -> Register {
    match N {
        1 => Register::AL,
        2 => Register::AX,
        _ => Register::EAX,
    }
}

/// XADD r/m, reg: reg gets the old destination, the destination the sum.
/// With the same register as both operands, the sum wins.
fn xadd<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let (loc, dst) = rmw_read::<N>(cpu, env, i)?;
    let r = i.op1_register();
    let src = reg_read(&cpu.state, r);
    let sum = dst.wrapping_add(src) & mask(N as u8);
    if let Loc::Mem(_) = loc {
        rmw_write::<N>(cpu, env, loc, sum)?;
        reg_write(&mut cpu.state, r, dst);
    } else {
        reg_write(&mut cpu.state, r, dst);
        rmw_write::<N>(cpu, env, loc, sum)?;
    }
    cpu.state.set_lazy(FlagOp::Add, N as u8, dst, src, sum);
    Ok(())
}

/// CMPXCHG r/m, reg: compares the accumulator with the destination (flags
/// as CMP acc, dst); equal: destination = reg; else accumulator = dst.
fn cmpxchg<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let (loc, dst) = rmw_read::<N>(cpu, env, i)?;
    let acc = reg_read(&cpu.state, accumulator::<N>());
    let src = reg_read(&cpu.state, i.op1_register());
    if acc == dst {
        rmw_write::<N>(cpu, env, loc, src)?;
    } else {
        rmw_write::<N>(cpu, env, loc, dst)?;
        reg_write(&mut cpu.state, accumulator::<N>(), dst);
    }
    cpu.state.set_lazy(FlagOp::Sub, N as u8, acc, dst, acc.wrapping_sub(dst) & mask(N as u8));
    Ok(())
}

/// CMPXCHG8B m64: compares EDX:EAX with the quadword; equal: it gets
/// ECX:EBX and ZF = 1; else EDX:EAX gets it and ZF = 0. No other flag
/// changes. A register operand is #UD.
fn cmpxchg8b(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    if i.op0_kind() != OpKind::Memory {
        return Err(Fault::UD);
    }
    let (loc, old) = rmw_read::<8>(cpu, env, i)?;
    let s = &cpu.state;
    let expected = (s.gpr[reg::RDX] & 0xFFFF_FFFF) << 32 | (s.gpr[reg::RAX] & 0xFFFF_FFFF);
    let equal = old == expected;
    if equal {
        let new = (s.gpr[reg::RCX] & 0xFFFF_FFFF) << 32 | (s.gpr[reg::RBX] & 0xFFFF_FFFF);
        rmw_write::<8>(cpu, env, loc, new)?;
    } else {
        rmw_write::<8>(cpu, env, loc, old)?;
        cpu.state.set_r32(reg::RAX, old as u32);
        cpu.state.set_r32(reg::RDX, (old >> 32) as u32);
    }
    cpu.state.set_arith(fl::ZF, if equal { fl::ZF } else { 0 });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::alu::test_util::*;
    use crate::state::fl::{AF, CF, OF, PF, SF, ZF};

    #[test]
    fn xadd_register_and_memory() {
        let code = [
            0x0F, 0xC1, 0xD8, // xadd eax, ebx
            0x0F, 0xC0, 0xC9, // xadd cl, cl
            0xF0, 0x66, 0x0F, 0xC1, 0x15, 0x00, 0x30, 0x00, 0x00, // lock xadd [0x3000], dx
        ];
        let m = exec32(&code, |m| {
            let s = &mut m.cpu.state;
            s.gpr[reg::RAX] = 5;
            s.gpr[reg::RBX] = 7;
            s.gpr[reg::RCX] = 0x1281;
            s.gpr[reg::RDX] = 0x1234_0001;
            m.load(DATA, &[0xFF, 0xFF]);
        });
        assert_eq!(r32(&m, reg::RAX), 12);
        assert_eq!(r32(&m, reg::RBX), 5);
        // Same register: the sum (0x81 + 0x81 = 0x102 -> 0x02) wins.
        assert_eq!(r32(&m, reg::RCX), 0x1202);
        assert_eq!(m.read_phys(DATA, 2), vec![0x00, 0x00]);
        assert_eq!(r32(&m, reg::RDX), 0x1234_FFFF);
        // Flags of 0xFFFF + 1.
        assert_eq!(arith(&m), CF | ZF | AF | PF);
    }

    #[test]
    fn cmpxchg_success_and_failure() {
        // cmpxchg [0x3000], ecx
        let code = [0x0F, 0xB1, 0x0D, 0x00, 0x30, 0x00, 0x00];
        let setup = |eax: u32| {
            move |m: &mut TestMachine| {
                m.cpu.state.gpr[reg::RAX] = u64::from(eax);
                m.cpu.state.gpr[reg::RCX] = 0xCAFE;
                m.load(DATA, &100u32.to_le_bytes());
            }
        };
        let m = exec32(&code, setup(100));
        assert_eq!(m.read_u32(DATA), 0xCAFE);
        assert_eq!(r32(&m, reg::RAX), 100);
        assert_eq!(arith(&m), ZF | PF);
        // 99 != 100: EAX gets 100, memory keeps it; flags of 99 - 100.
        let m = exec32(&code, setup(99));
        assert_eq!(m.read_u32(DATA), 100);
        assert_eq!(r32(&m, reg::RAX), 100);
        assert_eq!(arith(&m), CF | SF | AF | PF);
    }

    #[test]
    fn cmpxchg_byte_and_register_forms() {
        let code = [
            0x0F, 0xB0, 0xD9, // cmpxchg cl, bl   (AL = 1, CL = 2: fails, AL = 2)
            0x66, 0x0F, 0xB1, 0xDA, // cmpxchg dx, bx (AX = 0x0002 now... AX = 0xFF02)
        ];
        let m = exec32(&code, |m| {
            let s = &mut m.cpu.state;
            s.gpr[reg::RAX] = 0xFF01;
            s.gpr[reg::RBX] = 0x5555_7777;
            s.gpr[reg::RCX] = 0x02;
            s.gpr[reg::RDX] = 0x0000_FF02;
        });
        // Byte compare failed: AL = CL, AH kept, CL kept.
        // Word compare of AX = 0xFF02 with DX = 0xFF02 succeeds: DX = BX.
        assert_eq!(r32(&m, reg::RAX), 0xFF02);
        assert_eq!(r32(&m, reg::RCX), 0x02);
        assert_eq!(r32(&m, reg::RDX), 0x7777);
        assert_eq!(arith(&m), ZF | PF);
    }

    #[test]
    fn cmpxchg_writes_even_when_it_fails() {
        // A read-only destination faults although the compare fails.
        let code = [0x0F, 0xB1, 0x0D, 0x00, 0x30, 0x00, 0x00]; // cmpxchg [0x3000], ecx
        let mut m = flat32(&code);
        m.cpu.state.seg[sreg::DS].attr &= !crate::state::attr::RW;
        m.cpu.state.gpr[reg::RAX] = 1;
        set_arith(&mut m, OF | SF);
        expect_fault(&mut m, &code, 13);
    }

    #[test]
    fn cmpxchg8b() {
        // lock cmpxchg8b [0x3000]
        let code = [0xF0, 0x0F, 0xC7, 0x0D, 0x00, 0x30, 0x00, 0x00];
        let setup = |edx: u32| {
            move |m: &mut TestMachine| {
                let s = &mut m.cpu.state;
                s.gpr[reg::RAX] = 0x1111_1111;
                s.gpr[reg::RDX] = u64::from(edx);
                s.gpr[reg::RBX] = 0x3333_3333;
                s.gpr[reg::RCX] = 0x4444_4444;
                m.load(DATA, &0x2222_2222_1111_1111u64.to_le_bytes());
                set_arith(m, CF | OF);
            }
        };
        let m = exec32(&code, setup(0x2222_2222));
        assert_eq!(m.read_phys(DATA, 8), 0x4444_4444_3333_3333u64.to_le_bytes().to_vec());
        assert_eq!(arith(&m), CF | OF | ZF);
        let m = exec32(&code, setup(0x2222_2223));
        assert_eq!(m.read_phys(DATA, 8), 0x2222_2222_1111_1111u64.to_le_bytes().to_vec());
        assert_eq!((r32(&m, reg::RAX), r32(&m, reg::RDX)), (0x1111_1111, 0x2222_2222));
        assert_eq!(arith(&m), CF | OF);
    }

    #[test]
    fn sixteen_bit_addressing() {
        // cmpxchg8b [bx]; xadd [bp+di+4], ax (BP addresses the stack segment)
        let code = [0x0F, 0xC7, 0x0F, 0x0F, 0xC1, 0x43, 0x04];
        let m = exec16(&code, |m| {
            let s = &mut m.cpu.state;
            s.gpr[reg::RAX] = 5;
            s.gpr[reg::RDX] = 0;
            s.gpr[reg::RBX] = DATA;
            s.gpr[reg::RCX] = 0x5555_5555;
            s.gpr[reg::RBP] = 0x100;
            s.gpr[reg::RDI] = 0;
            m.load(DATA, &5u64.to_le_bytes());
            m.load(STACK_TOP - 0x1_0000 + 0x104, &[10, 0]);
        });
        assert_eq!(m.read_phys(DATA, 8), 0x5555_5555_0000_3000u64.to_le_bytes().to_vec());
        assert_eq!(m.read_phys(STACK_TOP - 0x1_0000 + 0x104, 2), vec![15, 0]);
        assert_eq!(r32(&m, reg::RAX), 10);
    }

    #[test]
    fn cmpxchg8b_register_operand_is_ud() {
        // 0F C7 C9: cmpxchg8b with mod = 3.
        let code = [0x0F, 0xC7, 0xC9];
        let mut m = flat32(&code);
        expect_fault(&mut m, &code, 6);
    }
}
