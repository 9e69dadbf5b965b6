//! Hardware task switching (SDM vol. 3A ch. 7).

use crate::{fault::Fault, Cpu, Env};

/// What caused a task switch: decides busy bits, NT and the back link.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub(crate) enum SwitchReason {
    Jmp,
    Call,
    Interrupt,
    Iret,
}

impl Cpu {
    /// Switches to the task named by `selector` (a TSS descriptor, or
    /// reached through a task gate).
    pub(crate) fn task_switch(&mut self, _env: &mut Env, selector: u16, _reason: SwitchReason, ext: bool) -> Result<(), Fault> {
        Err(Fault::gp((selector & 0xFFFC) | ext as u16))
    }
}
