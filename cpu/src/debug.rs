//! Data and I/O breakpoints (SDM vol. 3A 17.2.4-17.2.5, 17.3.1.2): DR0-DR3
//! armed in DR7 with R/W = 01 (writes) or 11 (reads or writes) and a
//! length of 1, 2, 4 or 8 bytes raise a #DB trap after the instruction
//! that touched them, with the matching B0-B3 bits in DR6. With CR4.DE
//! set, R/W = 10 watches I/O ports the same way (IN, OUT, INS, OUTS).
//!
//! The memory path stays untouched: while a data breakpoint is armed the
//! executor runs one instruction at a time (as it does for any DR7
//! breakpoint) and the instruction's memory operands, explicit and
//! implicit (stack pushes and pops, string operands), are taken from
//! iced-x86's instruction info and compared with the armed ranges. Accesses
//! the CPU makes on its own (descriptor tables, the TSS, interrupt frames)
//! are not watched, nor the iterations of a REP string instruction after
//! its first element.

use crate::{
    fault::Fault,
    ops::reg_read,
    state::{fl, CpuState},
    Cpu, Env,
};
use iced_x86::{FlowControl, Instruction, InstructionInfoFactory, OpAccess, Register};
use std::cell::RefCell;

/// DR6.BS: single-step trap.
const DR6_BS: u64 = 1 << 14;

thread_local! {
    /// Reused so that watching costs no allocation per instruction.
    static INFO: RefCell<InstructionInfoFactory> = RefCell::new(InstructionInfoFactory::new());
}

/// DR7 R/W field of breakpoint `n`.
fn rw(dr7: u64, n: usize) -> u64 {
    (dr7 >> (16 + n * 4)) & 3
}

/// Breakpoint `n`'s length in bytes (LEN = 10 means 8 bytes on later
/// parts and is undefined on the P6; 8 is the useful reading).
fn len(dr7: u64, n: usize) -> u64 {
    match (dr7 >> (18 + n * 4)) & 3 {
        0 => 1,
        1 => 2,
        2 => 8,
        _ => 4,
    }
}

fn enabled(dr7: u64, n: usize) -> bool {
    dr7 & (3 << (n * 2)) != 0
}

/// R/W = 10 means an I/O breakpoint only with CR4.DE set (undefined
/// otherwise; this model ignores it then).
fn io_kind(s: &CpuState, n: usize) -> bool {
    rw(s.dr[7], n) == 2 && s.cr4 & crate::state::cr4::DE != 0
}

/// Whether any data or I/O breakpoint is armed.
pub(crate) fn watch_armed(s: &CpuState) -> bool {
    let dr7 = s.dr[7];
    (0..4).any(|n| enabled(dr7, n) && (matches!(rw(dr7, n), 1 | 3) || io_kind(s, n)))
}

/// DR6 B0-B3 bits for the I/O breakpoints instruction `i` will hit.
fn io_hits(s: &CpuState, i: &Instruction) -> u64 {
    use iced_x86::{Mnemonic::*, OpKind};
    let (port, size) = match i.mnemonic() {
        In | Out => {
            let n = if i.mnemonic() == In { 1 } else { 0 };
            let data = if n == 1 { i.op0_register() } else { i.op1_register() };
            let port = if i.op_kind(n) == OpKind::Register { s.gpr[2] & 0xFFFF } else { u64::from(i.immediate8()) };
            (port, data.size() as u64)
        }
        Insb | Outsb => (s.gpr[2] & 0xFFFF, 1),
        Insw | Outsw => (s.gpr[2] & 0xFFFF, 2),
        Insd | Outsd => (s.gpr[2] & 0xFFFF, 4),
        _ => return 0,
    };
    let mut hit = 0;
    for n in 0..4 {
        if !enabled(s.dr[7], n) || !io_kind(s, n) {
            continue;
        }
        let l = len(s.dr[7], n);
        let start = s.dr[n] & 0xFFFF & !(l - 1);
        if port < start + l && start < port + size {
            hit |= 1 << n;
        }
    }
    hit
}

/// Register values for iced's address computation: general registers as
/// they are, segment registers as their bases.
fn register_value(s: &CpuState, r: Register) -> Option<u64> {
    if r.is_segment_register() {
        let n = (r as usize).wrapping_sub(Register::ES as usize);
        return s.seg.get(n).map(|seg| seg.base);
    }
    Some(reg_read(s, r))
}

/// DR6 B0-B3 bits for the breakpoints instruction `i` will hit, computed
/// before it runs (its address registers are still the inputs).
fn hits(s: &CpuState, i: &Instruction) -> u64 {
    let dr7 = s.dr[7];
    INFO.with(|f| {
        let mut f = f.borrow_mut();
        let info = f.info(i);
        let mut hit = 0;
        for m in info.used_memory() {
            let (read, write) = match m.access() {
                OpAccess::Read | OpAccess::CondRead => (true, false),
                OpAccess::Write | OpAccess::CondWrite => (false, true),
                OpAccess::ReadWrite | OpAccess::ReadCondWrite => (true, true),
                _ => continue,
            };
            let size = m.memory_size().size() as u64;
            let Some(lin) = m.virtual_address(0, |r, _, _| register_value(s, r)) else { continue };
            let (lo, hi) = (lin & 0xFFFF_FFFF, (lin & 0xFFFF_FFFF) + size.max(1));
            for n in 0..4 {
                let kind = rw(dr7, n);
                if !enabled(dr7, n) || !(kind == 3 && (read || write) || kind == 1 && write) {
                    continue;
                }
                let l = len(dr7, n);
                let start = s.dr[n] & 0xFFFF_FFFF & !(l - 1);
                if lo < start + l && start < hi {
                    hit |= 1 << n;
                }
            }
        }
        hit
    })
}

impl Cpu {
    /// Runs one instruction with data breakpoints armed; `trap` is the
    /// single-step flag. A hit and a single step are reported by one #DB.
    pub(crate) fn step_watched(&mut self, env: &mut Env, trap: bool) {
        let block = match self.block_at(env) {
            Ok(b) => b,
            Err(f) => {
                self.exception(env, f);
                return;
            }
        };
        let Some(d) = block.insns.first() else { return };
        let hit = hits(&self.state, &d.insn) | io_hits(&self.state, &d.insn);
        let before = self.icount;
        self.exec_block(env, 1, false);
        // A faulting instruction completed nothing; INT n reports its
        // single-step trap in the handler, as `exec_block` does.
        if self.icount == before || d.insn.flow_control() == FlowControl::Interrupt {
            return;
        }
        let bs = if trap { DR6_BS } else { 0 };
        if hit | bs == 0 {
            return;
        }
        self.state.eflags &= !u64::from(fl::RF);
        self.state.dr[6] = (self.state.dr[6] & !0xF) | hit | bs;
        self.exception(env, Fault::DB);
    }
}

#[cfg(test)]
mod tests {
    use crate::{fault::vector, testing::*};

    /// Vector 1 -> a handler that halts; DR0 watches `addr`.
    fn watched(addr: u32, dr7: u64) -> TestMachine {
        let mut m = TestMachine::flat32();
        m.load(0x6000, &[0xF4]); // hlt
        m.set_int_gate(0x5000, vector::DB, 0x6000, 0);
        m.cpu.state.dr[0] = u64::from(addr);
        m.cpu.state.dr[7] = dr7 | 0x400;
        m
    }

    /// DR7 for DR0 enabled (L0) with R/W `rw` and LEN `len`.
    fn dr7(rw: u64, len: u64) -> u64 {
        1 | rw << 16 | len << 18
    }

    const CODE: [u8; 15] = [
        0xA1, 0x00, 0x20, 0x00, 0x00, // mov eax, [0x2000]
        0xA3, 0x04, 0x20, 0x00, 0x00, // mov [0x2004], eax
        0x90, // nop
        0x90, // nop
        0x90, // nop
        0x90, // nop
        0x90, // nop
    ];

    /// Runs CODE; returns the EIP the #DB handler saw (0 if none) and DR6.
    fn run(m: &mut TestMachine) -> (u32, u64) {
        m.load_code(&CODE);
        m.run(20);
        let hit = m.cpu.state.rip == 0x6001;
        let eip = if hit { m.read_u32(m.cpu.state.gpr[4]) } else { 0 };
        (eip, m.cpu.state.dr[6])
    }

    #[test]
    fn write_breakpoint_traps_after_the_store() {
        let mut m = watched(0x2004, dr7(1, 3));
        let (eip, dr6) = run(&mut m);
        assert_eq!(eip, CODE_BASE as u32 + 10, "trap: EIP after the MOV");
        assert_eq!(dr6 & 0xF, 1);
        assert_eq!(m.read_u32(0x2004), m.cpu.state.r32(0), "the store completed");
    }

    #[test]
    fn write_breakpoint_ignores_reads_but_rw_breakpoint_sees_them() {
        let mut m = watched(0x2000, dr7(1, 3));
        assert_eq!(run(&mut m).0, 0);
        let mut m = watched(0x2000, dr7(3, 3));
        assert_eq!(run(&mut m).0, CODE_BASE as u32 + 5);
    }

    #[test]
    fn length_and_alignment() {
        // A 2-byte breakpoint at 0x2006 overlaps the dword store at 0x2004.
        let mut m = watched(0x2006, dr7(1, 1));
        assert_eq!(run(&mut m).0, CODE_BASE as u32 + 10);
        // A 1-byte breakpoint at 0x2008 is outside it.
        let mut m = watched(0x2008, dr7(1, 0));
        assert_eq!(run(&mut m).0, 0);
        // LEN = 4 ignores the low address bits: DR0 = 0x2007 covers 0x2004.
        let mut m = watched(0x2007, dr7(1, 3));
        assert_eq!(run(&mut m).0, CODE_BASE as u32 + 10);
    }

    #[test]
    fn io_breakpoints_need_cr4_de_and_match_the_port_range() {
        // mov dx, 0x3f9; out dx, al; nop; nop; nop; nop
        let code = [0x66, 0xBA, 0xF9, 0x03, 0xEE, 0x90, 0x90, 0x90, 0x90];
        for (de, len, base, expect_hit) in [(true, 3u64, 0x3F8u32, true), (false, 3, 0x3F8, false), (true, 0, 0x3F8, false)] {
            let mut m = watched(base, dr7(2, len));
            if de {
                m.cpu.state.cr4 |= crate::state::cr4::DE;
            }
            m.load_code(&code);
            m.run(20);
            let hit = m.cpu.state.rip == 0x6001;
            assert_eq!(hit, expect_hit, "DE {de} LEN {len}");
            if hit {
                assert_eq!(m.read_u32(m.cpu.state.gpr[4]), CODE_BASE as u32 + 5, "trap after the OUT");
                assert_eq!(m.cpu.state.dr[6] & 0xF, 1);
                assert_eq!(m.bus.outs.len(), 1, "the OUT happened");
            }
        }
    }

    #[test]
    fn stack_pushes_are_watched() {
        let mut m = watched((STACK_TOP - 4) as u32, dr7(1, 3));
        m.load_code(&[0xE8, 0x00, 0x00, 0x00, 0x00, 0x90, 0x90]); // call $+5; nop; nop
        m.run(10);
        assert_eq!(m.cpu.state.rip, 0x6001);
        assert_eq!(m.read_u32(m.cpu.state.gpr[4]), CODE_BASE as u32 + 5);
        assert_eq!(m.read_u32(STACK_TOP - 4), CODE_BASE as u32 + 5, "the pushed return address");
    }

    #[test]
    fn single_step_and_hit_share_one_debug_exception() {
        let mut m = watched(0x2004, dr7(1, 3));
        m.cpu.state.eflags |= u64::from(crate::state::fl::TF);
        m.load_code(&[0xA3, 0x04, 0x20, 0x00, 0x00, 0x90]); // mov [0x2004], eax; nop
        m.run(10);
        assert_eq!(m.cpu.state.rip, 0x6001);
        assert_eq!(m.read_u32(m.cpu.state.gpr[4]), CODE_BASE as u32 + 5);
        assert_eq!(m.cpu.state.dr[6] & 0x400F, 0x4001, "BS and B0");
    }
}
