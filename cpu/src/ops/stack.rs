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

#[cfg(test)]
mod tests {
    use super::super::string::tests::exec1;
    use super::*;
    use crate::testing::{sel, TestMachine, STACK_TOP};

    fn esp(m: &TestMachine) -> u64 {
        m.cpu.state.gpr[reg::RSP]
    }

    #[test]
    fn push_and_pop_registers() {
        let mut m = TestMachine::flat32();
        m.cpu.state.gpr[reg::RAX] = 0x1122_3344;
        exec1(&mut m, &[0x50]).unwrap(); // push eax
        assert_eq!(esp(&m), STACK_TOP - 4);
        assert_eq!(m.read_u32(STACK_TOP - 4), 0x1122_3344);
        exec1(&mut m, &[0x5B]).unwrap(); // pop ebx
        assert_eq!(m.cpu.state.gpr[reg::RBX], 0x1122_3344);
        assert_eq!(esp(&m), STACK_TOP);

        // 16-bit forms move two bytes and merge into the register.
        m.cpu.state.gpr[reg::RCX] = 0xAAAA_BBBB;
        exec1(&mut m, &[0x66, 0x50]).unwrap(); // push ax
        assert_eq!(esp(&m), STACK_TOP - 2);
        exec1(&mut m, &[0x66, 0x59]).unwrap(); // pop cx
        assert_eq!(m.cpu.state.gpr[reg::RCX], 0xAAAA_3344);
        assert_eq!(esp(&m), STACK_TOP);
    }

    #[test]
    fn push_esp_pushes_the_old_value_and_pop_esp_keeps_the_popped_one() {
        let mut m = TestMachine::flat32();
        exec1(&mut m, &[0x54]).unwrap(); // push esp
        assert_eq!(u64::from(m.read_u32(STACK_TOP - 4)), STACK_TOP);
        m.load(STACK_TOP - 4, &0x0001_2340u32.to_le_bytes());
        exec1(&mut m, &[0x5C]).unwrap(); // pop esp
        assert_eq!(esp(&m), 0x0001_2340);
    }

    #[test]
    fn push_immediates() {
        let mut m = TestMachine::flat32();
        exec1(&mut m, &[0x6A, 0xFF]).unwrap(); // push -1 (imm8, sign-extended)
        assert_eq!(m.read_u32(STACK_TOP - 4), 0xFFFF_FFFF);
        exec1(&mut m, &[0x66, 0x6A, 0x80]).unwrap(); // push word -128
        assert_eq!(esp(&m), STACK_TOP - 6);
        assert_eq!(m.read_phys(STACK_TOP - 6, 2), vec![0x80, 0xFF]);
        exec1(&mut m, &[0x68, 0x78, 0x56, 0x34, 0x12]).unwrap(); // push 0x12345678
        assert_eq!(m.read_u32(STACK_TOP - 10), 0x1234_5678);
        exec1(&mut m, &[0x66, 0x68, 0x34, 0x12]).unwrap(); // push word 0x1234
        assert_eq!(m.read_phys(STACK_TOP - 12, 2), vec![0x34, 0x12]);
        assert_eq!(esp(&m), STACK_TOP - 12);
    }

    #[test]
    fn push_and_pop_memory_operands() {
        let mut m = TestMachine::flat32();
        m.load(0x2000, &0xCAFE_F00Du32.to_le_bytes());
        exec1(&mut m, &[0xFF, 0x35, 0x00, 0x20, 0x00, 0x00]).unwrap(); // push dword [0x2000]
        assert_eq!(m.read_u32(STACK_TOP - 4), 0xCAFE_F00D);
        // push dword [esp+4]: the address uses ESP before the push.
        m.load(STACK_TOP, &0x0BAD_BEEFu32.to_le_bytes());
        exec1(&mut m, &[0xFF, 0x74, 0x24, 0x04]).unwrap();
        assert_eq!(m.read_u32(STACK_TOP - 8), 0x0BAD_BEEF);
        // pop dword [esp]: the address uses ESP after the pop, so the value
        // lands in the slot above the one it came from.
        exec1(&mut m, &[0x8F, 0x04, 0x24]).unwrap();
        assert_eq!(esp(&m), STACK_TOP - 4);
        assert_eq!(m.read_u32(STACK_TOP - 4), 0x0BAD_BEEF);
        exec1(&mut m, &[0x66, 0x8F, 0x05, 0x10, 0x20, 0x00, 0x00]).unwrap(); // pop word [0x2010]
        assert_eq!(m.read_phys(0x2010, 4), vec![0xEF, 0xBE, 0, 0]);
        assert_eq!(esp(&m), STACK_TOP - 2);
    }

    #[test]
    fn pop_to_a_faulting_memory_operand_keeps_esp() {
        let mut m = TestMachine::flat32();
        m.cpu.state.seg[sreg::DS].limit = 0xFFF;
        m.cpu.state.gpr[reg::RSP] = STACK_TOP - 4;
        let r = exec1(&mut m, &[0x8F, 0x05, 0x00, 0x20, 0x00, 0x00]); // pop dword [0x2000]
        assert_eq!(r, Err(Fault::gp(0)));
        assert_eq!(esp(&m), STACK_TOP - 4);
    }

    #[test]
    fn real_mode_sp_wraps_and_keeps_the_high_half() {
        let mut m = TestMachine::real();
        m.cpu.state.gpr[reg::RSP] = 0x1234_0000;
        m.cpu.state.gpr[reg::RAX] = 0xBEEF;
        exec1(&mut m, &[0x50]).unwrap(); // push ax
        assert_eq!(esp(&m), 0x1234_FFFE);
        let ss = m.cpu.state.seg[sreg::SS].base;
        assert_eq!(m.read_phys(ss + 0xFFFE, 2), vec![0xEF, 0xBE]);
        exec1(&mut m, &[0x5A]).unwrap(); // pop dx
        assert_eq!(esp(&m), 0x1234_0000);
        assert_eq!(m.cpu.state.gpr[reg::RDX] & 0xFFFF, 0xBEEF);
    }

    #[test]
    fn push_segment_registers() {
        let mut m = TestMachine::flat32();
        m.load(STACK_TOP - 8, &[0xFF; 8]);
        exec1(&mut m, &[0x1E]).unwrap(); // push ds
                                         // Four bytes, the selector zero-extended (P6 behaviour).
        assert_eq!(m.read_u32(STACK_TOP - 4), u32::from(sel::DATA32));
        exec1(&mut m, &[0x66, 0x0E]).unwrap(); // push word cs
        assert_eq!(esp(&m), STACK_TOP - 6);
        assert_eq!(m.read_phys(STACK_TOP - 6, 2), vec![sel::CODE32 as u8, 0]);
        exec1(&mut m, &[0x0F, 0xA8]).unwrap(); // push gs
        assert_eq!(m.read_u32(STACK_TOP - 10), u32::from(sel::DATA32));
    }

    #[test]
    fn pop_segment_registers_load_descriptors() {
        let mut m = TestMachine::flat32();
        m.cpu.state.gpr[reg::RSP] = STACK_TOP - 4;
        m.load(STACK_TOP - 4, &u32::from(sel::DATA16).to_le_bytes());
        exec1(&mut m, &[0x1F]).unwrap(); // pop ds
        let ds = m.cpu.state.seg[sreg::DS];
        assert_eq!((ds.selector, ds.limit, ds.big()), (sel::DATA16, 0xFFFF, false));
        assert_eq!(esp(&m), STACK_TOP);

        // A selector beyond the GDT: #GP(selector), nothing changes.
        m.cpu.state.gpr[reg::RSP] = STACK_TOP - 2;
        m.load(STACK_TOP - 2, &0x0040u16.to_le_bytes());
        assert_eq!(exec1(&mut m, &[0x66, 0x07]), Err(Fault::gp(0x40))); // pop es (16-bit)
        assert_eq!(esp(&m), STACK_TOP - 2);
        assert_eq!(m.cpu.state.seg[sreg::ES].selector, sel::DATA32);

        // POP SS opens an interrupt shadow.
        m.cpu.state.gpr[reg::RSP] = STACK_TOP - 4;
        m.load(STACK_TOP - 4, &u32::from(sel::DATA32).to_le_bytes());
        exec1(&mut m, &[0x17]).unwrap();
        assert!(m.cpu.inhibit_irq && m.cpu.end_block);
        assert_eq!(esp(&m), STACK_TOP);
        // ...and refuses a selector whose RPL is not the CPL.
        m.cpu.state.gpr[reg::RSP] = STACK_TOP - 4;
        m.load(STACK_TOP - 4, &u32::from(sel::DATA32 | 3).to_le_bytes());
        assert_eq!(exec1(&mut m, &[0x17]), Err(Fault::gp(sel::DATA32)));
        assert_eq!(esp(&m), STACK_TOP - 4);
    }

    #[test]
    fn pop_ss_holds_interrupts_off_for_one_instruction() {
        let mut m = TestMachine::flat32();
        m.set_int_gate(0x6000, 0x20, 0x7000, 0);
        m.load(0x7000, &[0xBB, 0x01, 0x00, 0x00, 0x00, 0xEB, 0xFE]); // mov ebx, 1; jmp $
        m.cpu.state.eflags |= u64::from(crate::state::fl::IF);
        m.cpu.state.gpr[reg::RSP] = STACK_TOP - 4;
        m.load(STACK_TOP - 4, &u32::from(sel::DATA32).to_le_bytes());
        // pop ss; mov esp, 0x70000 (the instruction the shadow protects)
        m.load_code(&[0x17, 0xBC, 0x00, 0x00, 0x07, 0x00, 0xEB, 0xFE]);
        m.run(1);
        m.bus.irq = Some(0x20);
        m.run(1);
        assert_eq!(esp(&m), 0x7_0000, "MOV ESP ran before the interrupt");
        assert_eq!(m.cpu.state.gpr[reg::RBX], 0);
        m.run(2); // the delivery, then one handler instruction
        assert_eq!(m.cpu.state.gpr[reg::RBX], 1);
        assert_eq!(esp(&m), 0x7_0000 - 12, "the frame went to the new stack");
    }

    #[test]
    fn pop_ss_in_real_mode_uses_the_old_stack_size() {
        let mut m = TestMachine::real();
        let ss = m.cpu.state.seg[sreg::SS].base;
        m.mem.write(ss + 0xFFF0, &0x0123u16.to_le_bytes());
        exec1(&mut m, &[0x17]).unwrap(); // pop ss
        assert_eq!(m.cpu.state.seg[sreg::SS].base, 0x1230);
        assert_eq!(esp(&m), 0xFFF2);
    }

    #[test]
    fn pushad_popad_round_trip() {
        let mut m = TestMachine::flat32();
        let vals = [0x1000_0000u64, 0x1000_0001, 0x1000_0002, 0x1000_0003, 0, 0x1000_0005, 0x1000_0006, 0x1000_0007];
        for (r, &v) in vals.iter().enumerate() {
            if r != reg::RSP {
                m.cpu.state.gpr[r] = v;
            }
        }
        exec1(&mut m, &[0x60]).unwrap(); // pushad
        assert_eq!(esp(&m), STACK_TOP - 32);
        // EDI lowest, EAX highest, the original ESP in the middle.
        let slot = |m: &TestMachine, k: u64| u64::from(m.read_u32(STACK_TOP - 4 - 4 * k));
        for k in 0..8 {
            let want = if k as usize == reg::RSP { STACK_TOP } else { vals[k as usize] };
            assert_eq!(slot(&m, k), want, "slot {k}");
        }
        // POPAD ignores the saved ESP.
        m.load(STACK_TOP - 20, &0xDEADu32.to_le_bytes());
        for r in 0..8 {
            if r != reg::RSP {
                m.cpu.state.gpr[r] = 0;
            }
        }
        exec1(&mut m, &[0x61]).unwrap(); // popad
        for (r, &v) in vals.iter().enumerate() {
            if r != reg::RSP {
                assert_eq!(m.cpu.state.gpr[r], v);
            }
        }
        assert_eq!(esp(&m), STACK_TOP);
    }

    #[test]
    fn pusha_popa_sixteen_bit() {
        let mut m = TestMachine::prot16();
        for r in 0..8 {
            m.cpu.state.gpr[r] = 0xFFFF_0000 | (r as u64 * 0x111);
        }
        m.cpu.state.gpr[reg::RSP] = 0xFFF0;
        exec1(&mut m, &[0x60]).unwrap(); // pusha
        assert_eq!(esp(&m), 0xFFE0);
        assert_eq!(m.read_phys(0xFFE0, 2), vec![0x77, 0x07], "DI lowest");
        assert_eq!(m.read_phys(0xFFE0 + 6, 2), vec![0xF0, 0xFF], "then SI, BP, the old SP");
        for r in 0..8 {
            if r != reg::RSP {
                m.cpu.state.gpr[r] = 0xFFFF_0000;
            }
        }
        exec1(&mut m, &[0x61]).unwrap(); // popa
        for r in 0..8 {
            if r != reg::RSP {
                assert_eq!(m.cpu.state.gpr[r], 0xFFFF_0000 | (r as u64 * 0x111), "r{r}");
            }
        }
        assert_eq!(esp(&m), 0xFFF0);
    }

    #[test]
    fn faulting_pushad_and_popad_leave_the_registers() {
        let mut m = TestMachine::flat32();
        m.cpu.state.seg[sreg::SS].limit = 0xFFFF;
        // Four pushes fit below 0x10; the fifth wraps past the limit.
        m.cpu.state.gpr[reg::RSP] = 0x10;
        assert_eq!(exec1(&mut m, &[0x60]), Err(Fault::ss(0)));
        assert_eq!(esp(&m), 0x10);

        // POPAD whose last slot lies beyond the limit changes nothing.
        m.cpu.state.gpr[reg::RSP] = 0xFFF0;
        m.cpu.state.gpr[reg::RAX] = 0x55;
        assert_eq!(exec1(&mut m, &[0x61]), Err(Fault::ss(0)));
        assert_eq!(esp(&m), 0xFFF0);
        assert_eq!(m.cpu.state.gpr[reg::RAX], 0x55);
        assert_eq!(m.cpu.state.gpr[reg::RDI], 0);
    }

    #[test]
    fn push_beyond_the_stack_limit_is_ss() {
        let mut m = TestMachine::flat32();
        m.cpu.state.seg[sreg::SS].limit = 0x0FFF;
        m.cpu.state.gpr[reg::RSP] = 0x2000;
        assert_eq!(exec1(&mut m, &[0x50]), Err(Fault::ss(0)));
        assert_eq!(exec1(&mut m, &[0x58]), Err(Fault::ss(0)));
        assert_eq!(esp(&m), 0x2000);
        m.cpu.state.gpr[reg::RSP] = 0x1000;
        exec1(&mut m, &[0x50]).unwrap();
        assert_eq!(esp(&m), 0xFFC);
    }

    #[test]
    fn enter_without_nesting() {
        let mut m = TestMachine::flat32();
        m.cpu.state.gpr[reg::RBP] = 0x7_0000;
        exec1(&mut m, &[0xC8, 0x10, 0x00, 0x00]).unwrap(); // enter 16, 0
        assert_eq!(u64::from(m.read_u32(STACK_TOP - 4)), 0x7_0000);
        assert_eq!(m.cpu.state.gpr[reg::RBP], STACK_TOP - 4);
        assert_eq!(esp(&m), STACK_TOP - 4 - 16);
    }

    #[test]
    fn enter_with_nesting_copies_the_display() {
        let mut m = TestMachine::flat32();
        m.cpu.state.gpr[reg::RBP] = 0x7_0000;
        m.load(0x7_0000 - 4, &0xAAAA_0001u32.to_le_bytes());
        m.load(0x7_0000 - 8, &0xAAAA_0002u32.to_le_bytes());
        exec1(&mut m, &[0xC8, 0x08, 0x00, 0x03]).unwrap(); // enter 8, 3
                                                           // Old EBP, two display entries from the old frame, the new frame.
        let frame = STACK_TOP - 4;
        assert_eq!(u64::from(m.read_u32(STACK_TOP - 4)), 0x7_0000);
        assert_eq!(m.read_u32(STACK_TOP - 8), 0xAAAA_0001);
        assert_eq!(m.read_u32(STACK_TOP - 12), 0xAAAA_0002);
        assert_eq!(u64::from(m.read_u32(STACK_TOP - 16)), frame);
        assert_eq!(m.cpu.state.gpr[reg::RBP], frame);
        assert_eq!(esp(&m), STACK_TOP - 16 - 8);

        // Level 1: only the new frame pointer is added.
        let mut m = TestMachine::flat32();
        m.cpu.state.gpr[reg::RBP] = 0x7_0000;
        exec1(&mut m, &[0xC8, 0x00, 0x00, 0x01]).unwrap(); // enter 0, 1
        assert_eq!(u64::from(m.read_u32(STACK_TOP - 8)), STACK_TOP - 4);
        assert_eq!(esp(&m), STACK_TOP - 8);

        // The level is taken modulo 32: 33 behaves as 1.
        let mut m = TestMachine::flat32();
        m.cpu.state.gpr[reg::RBP] = 0x7_0000;
        exec1(&mut m, &[0xC8, 0x00, 0x00, 33]).unwrap();
        assert_eq!(esp(&m), STACK_TOP - 8);
    }

    #[test]
    fn enter_sixteen_bit_uses_bp_and_sp() {
        let mut m = TestMachine::prot16();
        m.cpu.state.gpr[reg::RBP] = 0xABCD_8000;
        m.load(0x7FFE, &0x1111u16.to_le_bytes());
        exec1(&mut m, &[0xC8, 0x04, 0x00, 0x02]).unwrap(); // enter 4, 2
        assert_eq!(m.read_phys(0xFFEE, 2), vec![0x00, 0x80]);
        assert_eq!(m.read_phys(0xFFEC, 2), vec![0x11, 0x11]);
        assert_eq!(m.read_phys(0xFFEA, 2), vec![0xEE, 0xFF]);
        assert_eq!(esp(&m), 0xFFE6);
        assert_eq!(m.cpu.state.gpr[reg::RBP], 0xABCD_FFEE);
    }

    #[test]
    fn enter_checks_the_final_stack_top() {
        let mut m = TestMachine::flat32();
        m.cpu.state.seg[sreg::SS].limit = 0xF_FFFF;
        m.cpu.state.gpr[reg::RSP] = 0x100;
        m.cpu.state.gpr[reg::RBP] = 0x1234;
        // enter 0x200, 0: the frame would reach below zero.
        assert_eq!(exec1(&mut m, &[0xC8, 0x00, 0x02, 0x00]), Err(Fault::ss(0)));
        assert_eq!((esp(&m), m.cpu.state.gpr[reg::RBP]), (0x100, 0x1234));
    }

    #[test]
    fn leave_restores_the_frame() {
        let mut m = TestMachine::flat32();
        m.cpu.state.gpr[reg::RBP] = 0x7_FF00;
        m.load(0x7_FF00, &0x1234_5678u32.to_le_bytes());
        exec1(&mut m, &[0xC9]).unwrap(); // leave
        assert_eq!(esp(&m), 0x7_FF04);
        assert_eq!(m.cpu.state.gpr[reg::RBP], 0x1234_5678);

        let mut m = TestMachine::prot16();
        m.cpu.state.gpr[reg::RBP] = 0x0001_F000;
        m.cpu.state.gpr[reg::RSP] = 0x0002_0000;
        m.load(0xF000, &0x4321u16.to_le_bytes());
        exec1(&mut m, &[0xC9]).unwrap(); // leave (16-bit stack: SP <- BP)
        assert_eq!(esp(&m), 0x0002_F002);
        assert_eq!(m.cpu.state.gpr[reg::RBP], 0x0001_4321);

        // A frame pointer beyond the limit: #SS, nothing changes.
        let mut m = TestMachine::flat32();
        m.cpu.state.seg[sreg::SS].limit = 0xFFFF;
        m.cpu.state.gpr[reg::RBP] = 0x2_0000;
        assert_eq!(exec1(&mut m, &[0xC9]), Err(Fault::ss(0)));
        assert_eq!(esp(&m), STACK_TOP);
    }
}
