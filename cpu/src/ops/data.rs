//! Data movement: MOV in all its forms, MOVZX/MOVSX, LEA, XCHG, and the
//! NOPs, including the P6 family's hintable NOP space 0F 18..0F 1F /r
//! (SDM vol. 2 "NOP"; table A-3 marks the unassigned forms as NOPs).

use super::*;
use crate::state::sreg;
use iced_x86::Code::*;

pub(super) fn register(t: &mut Table) {
    t.set_all(&[Mov_rm8_r8, Mov_r8_rm8, Mov_r8_imm8, Mov_rm8_imm8, Mov_AL_moffs8, Mov_moffs8_AL], mov::<1>);
    t.set_all(&[Mov_rm16_r16, Mov_r16_rm16, Mov_r16_imm16, Mov_rm16_imm16, Mov_AX_moffs16, Mov_moffs16_AX], mov::<2>);
    t.set_all(&[Mov_rm32_r32, Mov_r32_rm32, Mov_r32_imm32, Mov_rm32_imm32, Mov_EAX_moffs32, Mov_moffs32_EAX], mov::<4>);
    t.set_all(&[Mov_rm16_Sreg, Mov_r32m16_Sreg], mov_from_sreg);
    t.set_all(&[Mov_Sreg_rm16, Mov_Sreg_r32m16], mov_to_sreg);
    t.set_all(&[Movzx_r16_rm8, Movzx_r32_rm8], movx::<1, false>);
    t.set_all(&[Movzx_r16_rm16, Movzx_r32_rm16], movx::<2, false>);
    t.set_all(&[Movsx_r16_rm8, Movsx_r32_rm8], movx::<1, true>);
    t.set_all(&[Movsx_r16_rm16, Movsx_r32_rm16], movx::<2, true>);
    t.set_all(&[Lea_r16_m, Lea_r32_m], lea);
    t.set(Xchg_rm8_r8, xchg::<1>);
    t.set_all(&[Xchg_rm16_r16, Xchg_r16_AX], xchg::<2>);
    t.set_all(&[Xchg_rm32_r32, Xchg_r32_EAX], xchg::<4>);
    t.set_all(&[Nopw, Nopd, Nop_rm16, Nop_rm32, Pause], nop);
    t.set_all(
        &[
            Reservednop_rm16_r16_0F18,
            Reservednop_rm32_r32_0F18,
            Reservednop_rm16_r16_0F19,
            Reservednop_rm32_r32_0F19,
            Reservednop_rm16_r16_0F1A,
            Reservednop_rm32_r32_0F1A,
            Reservednop_rm16_r16_0F1B,
            Reservednop_rm32_r32_0F1B,
            Reservednop_rm16_r16_0F1C,
            Reservednop_rm32_r32_0F1C,
            Reservednop_rm16_r16_0F1D,
            Reservednop_rm32_r32_0F1D,
            Reservednop_rm16_r16_0F1E,
            Reservednop_rm32_r32_0F1E,
            Reservednop_rm16_r16_0F1F,
            Reservednop_rm32_r32_0F1F,
        ],
        nop,
    );
    // CET's ENDBR32/ENDBR64 and RDSSPD live in the 0F 1E hint-NOP space:
    // on a CPU without CET (this model) they are NOPs, and RDSSPD leaves
    // its destination alone. CET-enabled binaries (glibc's) rely on it.
    t.set_all(&[Endbr32, Endbr64, Rdsspd_r32], nop);
}

fn mov<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let v = read_op::<N>(cpu, env, i, 1)?;
    write_op0::<N>(cpu, env, i, v)
}

/// MOV r/m, Sreg: a register destination of 32 bits gets the selector
/// zero-extended; memory always gets 16 bits.
fn mov_from_sreg(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let seg = seg_index(i.op1_register());
    if seg > sreg::GS {
        return Err(Fault::UD);
    }
    let v = u64::from(cpu.state.seg[seg].selector);
    write_op0::<2>(cpu, env, i, v)
}

/// MOV Sreg, r/m. Loading CS this way is #UD; loading SS holds off
/// interrupts for one instruction.
fn mov_to_sreg(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let seg = seg_index(i.op0_register());
    if seg == sreg::CS || seg > sreg::GS {
        return Err(Fault::UD);
    }
    let v = read_op::<2>(cpu, env, i, 1)? as u16;
    cpu.load_seg(env, seg, v)?;
    if seg == sreg::SS {
        cpu.inhibit_irq = true;
        cpu.end_block = true;
    }
    Ok(())
}

fn movx<const N: usize, const SIGNED: bool>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let v = read_op::<N>(cpu, env, i, 1)?;
    let v = if SIGNED { (v << (64 - N * 8)) as i64 >> (64 - N * 8) } else { v as i64 } as u64;
    reg_write(&mut cpu.state, i.op0_register(), v);
    Ok(())
}

/// LEA computes the offset with the address size, then truncates or
/// zero-extends it to the operand size.
fn lea(cpu: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let a = ea(&cpu.state, i);
    reg_write(&mut cpu.state, i.op0_register(), a);
    Ok(())
}

/// XCHG is atomic on real hardware; here every instruction is.
fn xchg<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let (loc, a) = rmw_read::<N>(cpu, env, i)?;
    let r = i.op1_register();
    let b = reg_read(&cpu.state, r);
    rmw_write::<N>(cpu, env, loc, b)?;
    reg_write(&mut cpu.state, r, a);
    Ok(())
}

fn nop(_: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::super::alu::test_util::*;

    #[test]
    fn cet_instructions_are_hint_nops_without_cet() {
        // mov eax, 0x1234; rdsspd eax; endbr32; endbr64; nop dword [eax]
        let code =
            [0xB8, 0x34, 0x12, 0, 0, 0xF3, 0x0F, 0x1E, 0xC8, 0xF3, 0x0F, 0x1E, 0xFB, 0xF3, 0x0F, 0x1E, 0xFA, 0x0F, 0x1F, 0x00];
        let m = exec32(&code, |_| {});
        assert_eq!(r32(&m, reg::RAX), 0x1234, "RDSSPD leaves its destination alone");
    }
}
