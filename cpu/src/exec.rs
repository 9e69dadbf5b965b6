//! The execution loop: interrupts at block boundaries, blocks of cached
//! decoded instructions, exceptions, and the single-step path used while
//! the trap flag, breakpoints or an interrupt shadow need per-instruction
//! attention.

use crate::{
    fault::Fault,
    state::{fl, sreg},
    Cpu, Env,
};
use iced_x86::FlowControl;

/// Why [`Cpu::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum RunExit {
    /// The instruction budget is used up.
    Budget,
    /// HLT: nothing to do until an interrupt arrives.
    Halted,
    /// The CPU shut down (see [`Cpu::shutdown`]).
    Shutdown,
}

/// DR6.BS: the #DB was a single-step trap.
const DR6_BS: u64 = 1 << 14;
/// DR7 L0..G3 enable bits.
const DR7_ENABLES: u64 = 0xFF;

impl Cpu {
    /// Runs at most `budget` units of work: retired instructions plus
    /// delivered exceptions and interrupts (see [`Cpu::icount`]).
    pub fn run(&mut self, env: &mut Env, budget: u64) -> RunExit {
        self.tlb.sync(env.mem);
        self.invalidate_written_code(env);
        let stop = self.icount.saturating_add(budget);
        while self.icount < stop {
            if self.shutdown.is_some() {
                return RunExit::Shutdown;
            }
            if std::mem::take(&mut self.inhibit_irq) {
                // The instruction after STI / MOV SS runs with interrupts
                // (and single-step traps) held off.
                self.exec_block(env, 1, false);
                if std::mem::take(&mut self.yield_run) {
                    break;
                }
                continue;
            }
            self.check_interrupts(env);
            if self.shutdown.is_some() {
                return RunExit::Shutdown;
            }
            if self.halted {
                return RunExit::Halted;
            }
            let debug = self.state.eflags & u64::from(fl::TF) != 0 || self.state.dr[7] & DR7_ENABLES != 0;
            if debug {
                if self.code_breakpoint(env) {
                    continue;
                }
                let trap = self.state.eflags & u64::from(fl::TF) != 0;
                if crate::debug::watch_armed(&self.state) {
                    self.step_watched(env, trap);
                } else {
                    self.exec_block(env, 1, trap);
                }
            } else {
                self.exec_block(env, stop - self.icount, false);
            }
            if std::mem::take(&mut self.yield_run) {
                break;
            }
        }
        RunExit::Budget
    }

    /// Executes up to `max` instructions of the block at CS:EIP. With
    /// `trap`, a single-step #DB follows the instruction.
    pub(crate) fn exec_block(&mut self, env: &mut Env, max: u64, trap: bool) {
        let block = match self.block_at(env) {
            Ok(b) => b,
            Err(f) => {
                self.exception(env, f);
                return;
            }
        };
        let mut last = None;
        for d in block.insns.iter().take(max as usize) {
            self.state.rip = d.next_ip;
            if let Err(f) = (d.handler)(self, env, &d.insn) {
                self.state.rip = d.insn.ip();
                self.exception(env, f);
                return;
            }
            self.icount += 1;
            last = Some(d);
            if trap && d.insn.flow_control() != FlowControl::Interrupt {
                Self::clear_rf_after(&mut self.state, &d.insn);
                self.state.dr[6] |= DR6_BS;
                self.exception(env, Fault::DB);
                return;
            }
            if self.end_block {
                self.end_block = false;
                self.invalidate_written_code(env);
                self.tlb.sync(env.mem);
                break;
            }
        }
        if let Some(d) = last {
            Self::clear_rf_after(&mut self.state, &d.insn);
        }
    }

    /// RF is cleared by every instruction that completes, except IRET,
    /// which loads it (SDM 17.3.1.1). Only the last instruction of a block
    /// needs the check: RF matters only to code breakpoints, which run
    /// blocks of one instruction.
    #[inline]
    fn clear_rf_after(state: &mut crate::CpuState, insn: &iced_x86::Instruction) {
        if !matches!(insn.mnemonic(), iced_x86::Mnemonic::Iret | iced_x86::Mnemonic::Iretd) {
            state.eflags &= !u64::from(fl::RF);
        }
    }

    /// Raises a code breakpoint #DB if DR0-3 match CS:EIP (and RF allows
    /// it). Returns whether one was raised.
    fn code_breakpoint(&mut self, env: &mut Env) -> bool {
        if self.state.eflags & u64::from(fl::RF) != 0 {
            return false;
        }
        let lin = self.state.seg[sreg::CS].base.wrapping_add(self.state.rip) & 0xFFFF_FFFF;
        let dr7 = self.state.dr[7];
        let mut hit = 0u64;
        for i in 0..4 {
            let enabled = dr7 & (3 << (i * 2)) != 0;
            let rw = (dr7 >> (16 + i * 4)) & 3;
            if enabled && rw == 0 && self.state.dr[i] & 0xFFFF_FFFF == lin {
                hit |= 1 << i;
            }
        }
        if hit == 0 {
            return false;
        }
        self.state.dr[6] = (self.state.dr[6] & !0xF) | hit;
        self.exception(env, Fault::DB);
        true
    }

    /// Accepts a pending NMI or maskable interrupt if the CPU can take it.
    #[inline]
    fn check_interrupts(&mut self, env: &mut Env) {
        if self.nmi_pending && !self.nmi_blocked {
            self.nmi_pending = false;
            self.nmi_blocked = true;
            self.halted = false;
            self.external_interrupt(env, crate::fault::vector::NMI);
            return;
        }
        if self.state.eflags & u64::from(fl::IF) != 0 && env.bus.interrupt_pending() {
            let vector = env.bus.interrupt_ack();
            self.halted = false;
            self.external_interrupt(env, vector);
        }
    }
}
