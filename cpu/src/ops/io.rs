//! IN and OUT, with the I/O permission checks of protected and V86 mode
//! (SDM vol. 1 ch. 19 "Input/Output"): CPL <= IOPL, else every byte of the
//! access must be allowed by the TSS I/O permission bitmap.

use super::*;
use crate::state::reg;
use iced_x86::Code::*;

pub(super) fn register(t: &mut Table) {
    t.set_all(&[In_AL_imm8, In_AL_DX], in_::<1>);
    t.set_all(&[In_AX_imm8, In_AX_DX], in_::<2>);
    t.set_all(&[In_EAX_imm8, In_EAX_DX], in_::<4>);
    t.set_all(&[Out_imm8_AL, Out_DX_AL], out::<1>);
    t.set_all(&[Out_imm8_AX, Out_DX_AX], out::<2>);
    t.set_all(&[Out_imm8_EAX, Out_DX_EAX], out::<4>);
}

/// The port of an IN/OUT: an immediate byte or DX.
fn port(cpu: &Cpu, i: &Instruction) -> u16 {
    let n = if matches!(i.code(), Out_imm8_AL | Out_imm8_AX | Out_imm8_EAX) { 0 } else { 1 };
    if i.op_kind(n) == OpKind::Register {
        cpu.state.gpr[reg::RDX] as u16
    } else {
        i.immediate8() as u16
    }
}

impl Cpu {
    /// Checks that the current privilege may access `size` bytes at `port`.
    pub(crate) fn check_io(&mut self, env: &mut Env, port: u16, size: u8) -> Result<(), Fault> {
        let s = &self.state;
        if !s.protected() || (!s.v86() && s.cpl <= s.iopl()) {
            return Ok(());
        }
        // Only a 32-bit TSS has a bitmap.
        let tr = s.tr;
        if tr.attr & 0xF != crate::segment::sys::TSS32_BUSY as u16 || tr.limit < 0x67 {
            return Err(Fault::gp(0));
        }
        let base = self.read_sys(env, tr.base.wrapping_add(0x66) & 0xFFFF_FFFF, 2)?;
        let byte = base + u64::from(port / 8);
        // The two bytes holding the bits must lie within the TSS limit.
        if byte + 1 > u64::from(tr.limit) {
            return Err(Fault::gp(0));
        }
        let bits = self.read_sys(env, tr.base.wrapping_add(byte) & 0xFFFF_FFFF, 2)?;
        let mask = ((1u64 << size) - 1) << (port % 8);
        if bits & mask != 0 {
            return Err(Fault::gp(0));
        }
        Ok(())
    }

    /// A checked port read.
    pub(crate) fn port_in(&mut self, env: &mut Env, port: u16, size: u8) -> Result<u32, Fault> {
        self.check_io(env, port, size)?;
        env.bus.set_icount(self.icount);
        Ok(env.bus.io_read(env.mem, port, size))
    }

    /// A checked port write. Devices may change the memory map (A20,
    /// shadow RAM), so the block ends and the TLB re-checks the map.
    pub(crate) fn port_out(&mut self, env: &mut Env, port: u16, size: u8, value: u32) -> Result<(), Fault> {
        self.check_io(env, port, size)?;
        let before = env.mem.epochs();
        env.bus.set_icount(self.icount);
        env.bus.io_write(env.mem, port, size, value);
        if env.mem.epochs() != before || env.mem.has_code_writes() {
            self.tlb.sync(env.mem);
            self.end_block = true;
        }
        if env.bus.stop_requested() {
            self.end_block = true;
            self.yield_run = true;
        }
        Ok(())
    }
}

fn in_<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let p = port(cpu, i);
    let v = cpu.port_in(env, p, N as u8)?;
    reg_write(&mut cpu.state, i.op0_register(), u64::from(v));
    Ok(())
}

fn out<const N: usize>(cpu: &mut Cpu, env: &mut Env, i: &Instruction) -> Result<(), Fault> {
    let p = port(cpu, i);
    let v = cpu.state.gpr[reg::RAX] & crate::flags::mask(N as u8);
    cpu.port_out(env, p, N as u8, v as u32)
}
