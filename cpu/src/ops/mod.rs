//! The interpreter: one handler per instruction form, dispatched through a
//! table indexed by iced-x86's `Code`.
//!
//! Each module registers the forms it implements. A form nobody registered
//! raises #UD, as an opcode this CPU model does not have would; the list
//! of registered forms is what CPUID and the conformance sweep go by.

mod operand;

pub(crate) use operand::*;

use crate::{fault::Fault, Cpu, Env};
use iced_x86::{Code, Instruction, Mnemonic, OpKind};
use std::sync::OnceLock;

/// Executes one decoded instruction. On entry `cpu.state.rip` already holds
/// the address of the next instruction; a handler that branches overwrites
/// it. On error the executor restores EIP to the faulting instruction.
pub(crate) type Handler = fn(&mut Cpu, &mut Env, &Instruction) -> Result<(), Fault>;

/// The handler table under construction.
pub(crate) struct Table {
    handlers: Vec<Option<Handler>>,
}

impl Table {
    /// Registers `h` for `code`. Registering a code twice is a bug in the
    /// interpreter's tables, caught by the unit test below.
    pub fn set(&mut self, code: Code, h: Handler) {
        let slot = &mut self.handlers[code as usize];
        debug_assert!(slot.is_none(), "{code:?} registered twice");
        *slot = Some(h);
    }

    /// Registers `h` for several codes.
    pub fn set_all(&mut self, codes: &[Code], h: Handler) {
        for &c in codes {
            self.set(c, h);
        }
    }
}

static TABLE: OnceLock<Vec<Option<Handler>>> = OnceLock::new();

fn table() -> &'static [Option<Handler>] {
    TABLE.get_or_init(|| {
        let mut t = Table { handlers: vec![None; Code::values().len()] };
        register_all(&mut t);
        t.handlers
    })
}

fn register_all(t: &mut Table) {
    data::register(t);
    branch::register(t);
    io::register(t);
    system::register(t);
    ctrl::register(t);
    string::register(t);
    stack::register(t);
    flag::register(t);
    far::register(t);
    int::register(t);
    alu::register(t);
    shift::register(t);
    muldiv::register(t);
    bcd::register(t);
    bit::register(t);
    atomic::register(t);
    convert::register(t);
    mmx::register(t);
    sse2int::register(t);
    simdstate::register(t);
    ssefp::register(t);
    x87_arith::register(t);
    x87_ldst::register(t);
    x87_ctrl::register(t);
    x87_trans::register(t);
}

mod alu;
mod atomic;
mod bcd;
mod bit;
mod branch;
mod convert;
mod ctrl;
mod data;
mod far;
mod flag;
mod fpgate;
mod int;
mod io;
mod mmx;
mod muldiv;
mod packed;
mod shift;
mod simdstate;
mod sse2int;
mod ssefp;
mod ssefp_arith;
mod ssefp_cvt;
mod ssefp_move;
mod stack;
mod string;
mod system;
mod x87;
mod x87_arith;
mod x87_ctrl;
#[cfg(all(test, target_arch = "x86_64"))]
mod x87_host;
mod x87_ldst;
mod x87_trans;

/// Whether the interpreter implements `code`.
pub fn implemented(code: Code) -> bool {
    table()[code as usize].is_some()
}

/// The handler for a decoded instruction, with the LOCK prefix rules
/// applied at decode time: LOCK is allowed only on the read-modify-write
/// instructions, and only with a memory destination (SDM "LOCK").
pub(crate) fn handler_for(i: &Instruction) -> Handler {
    if i.has_lock_prefix() && !lockable(i) {
        return undefined;
    }
    table()[i.code() as usize].unwrap_or(unimplemented)
}

fn lockable(i: &Instruction) -> bool {
    use Mnemonic::*;
    matches!(
        i.mnemonic(),
        Add | Adc | And | Btc | Btr | Bts | Cmpxchg | Cmpxchg8b | Dec | Inc | Neg | Not | Or | Sbb | Sub | Xor | Xadd | Xchg
    ) && i.op_count() > 0
        && i.op0_kind() == OpKind::Memory
}

/// Invalid opcodes, UD2 and misused prefixes.
pub(crate) fn undefined(_: &mut Cpu, _: &mut Env, _: &Instruction) -> Result<(), Fault> {
    Err(Fault::UD)
}

/// A valid encoding this CPU model does not implement: #UD, as a CPU
/// without the feature raises, with a log line for whoever looks.
fn unimplemented(_: &mut Cpu, _: &mut Env, i: &Instruction) -> Result<(), Fault> {
    log::debug!("unimplemented instruction {:?} at {:#x}", i.code(), i.ip());
    Err(Fault::UD)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn table_builds_without_duplicates() {
        // `Table::set` asserts on duplicates in debug builds.
        assert!(implemented(Code::Mov_r32_rm32));
        assert!(!implemented(Code::INVALID));
    }
}
