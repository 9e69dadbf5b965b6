//! When FPU, MMX and SSE instructions may run (SDM vol. 3A 2.5 and table
//! 2-2, 9.2, 13.1-13.2): CR0.EM emulates the FPU (#NM for x87, #UD for
//! MMX/SSE), CR0.TS marks the FPU state as belonging to another task (#NM,
//! the hook of lazy context switching), CR4.OSFXSR says the OS saves SSE
//! state (#UD without it); and an unmasked x87 exception left pending is
//! reported by the next waiting x87 or MMX instruction (#MF with CR0.NE).

use super::*;
use crate::state::{cr0, cr4};

/// FSW.ES: an unmasked exception is pending.
pub(crate) const FSW_ES: u16 = 1 << 7;

impl Cpu {
    /// Before an x87 instruction.
    #[inline]
    pub(crate) fn check_x87(&self) -> Result<(), Fault> {
        if self.state.cr0 & (cr0::EM | cr0::TS) != 0 {
            return Err(Fault::NM);
        }
        Ok(())
    }

    /// Before an MMX instruction.
    #[inline]
    pub(crate) fn check_mmx(&self) -> Result<(), Fault> {
        if self.state.cr0 & cr0::EM != 0 {
            return Err(Fault::UD);
        }
        if self.state.cr0 & cr0::TS != 0 {
            return Err(Fault::NM);
        }
        Ok(())
    }

    /// Before an SSE or SSE2 instruction (including FXSAVE-free ones such
    /// as LDMXCSR; FXSAVE/FXRSTOR have their own rule: #NM on EM or TS).
    #[inline]
    pub(crate) fn check_sse(&self) -> Result<(), Fault> {
        if self.state.cr0 & cr0::EM != 0 || self.state.cr4 & cr4::OSFXSR == 0 {
            return Err(Fault::UD);
        }
        if self.state.cr0 & cr0::TS != 0 {
            return Err(Fault::NM);
        }
        Ok(())
    }

    /// A waiting x87 instruction or an MMX instruction finds an unmasked
    /// exception pending: #MF when CR0.NE is set. With NE clear (MS-DOS
    /// compatible error reporting, SDM vol. 1 D.2.1) the CPU asserts FERR#
    /// instead, which a PC routes to IRQ 13; the instruction proceeds, as
    /// on a PC whose IGNNE# logic lets it run once the handler is queued.
    #[inline]
    pub(crate) fn check_x87_pending(&mut self) -> Result<(), Fault> {
        if self.state.fpu.fsw & FSW_ES != 0 {
            if self.state.cr0 & cr0::NE != 0 {
                return Err(Fault::MF);
            }
            self.ferr = true;
            // Hand control to the board after this instruction, so IRQ 13
            // is raised before the next one runs.
            self.yield_run = true;
            self.end_block = true;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use crate::{fault::Fault, state::cr0, state::cr4, testing::TestMachine};

    #[test]
    fn gates_follow_table_2_2() {
        let mut m = TestMachine::flat32();
        let c = &mut m.cpu;
        assert_eq!(c.check_sse(), Err(Fault::UD), "no OSFXSR");
        c.state.cr4 |= cr4::OSFXSR;
        assert_eq!(c.check_sse(), Ok(()));
        c.state.cr0 |= cr0::TS;
        assert_eq!((c.check_x87(), c.check_mmx(), c.check_sse()), (Err(Fault::NM), Err(Fault::NM), Err(Fault::NM)));
        c.state.cr0 |= cr0::EM;
        assert_eq!((c.check_x87(), c.check_mmx(), c.check_sse()), (Err(Fault::NM), Err(Fault::UD), Err(Fault::UD)));
        c.state.cr0 &= !(cr0::EM | cr0::TS);
        c.state.fpu.fsw |= super::FSW_ES;
        assert_eq!(c.check_x87_pending(), Ok(()), "NE clear: FERR#, not #MF");
        assert!(std::mem::take(&mut c.ferr), "FERR# asserted");
        c.state.cr0 |= cr0::NE;
        assert_eq!(c.check_x87_pending(), Err(Fault::MF));
    }
}
