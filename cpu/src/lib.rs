//! The x86 architecture, defined once.
//!
//! iced-x86 decodes; the interpreter in [`ops`] defines what every
//! instruction does, in real, protected and virtual-8086 mode. Decoded
//! instructions are cached per block ([`decode`]) and dispatched through a
//! table indexed by iced-x86's `Code`, one handler per instruction form.
//!
//! The CPU reaches memory only through `ironpc-mmu` and the rest of the
//! machine only through the small [`Bus`] trait: port I/O, MMIO and the
//! interrupt line. It knows nothing of devices.

pub mod cpuid;
mod debug;
mod decode;
mod exec;
pub mod fault;
pub mod flags;
pub mod fpstate;
pub mod fuzz;
mod interrupt;
mod mem;
pub mod msr;
mod ops;
mod segment;
pub mod softfloat;
pub mod state;
mod task;
pub mod testing;

pub use exec::RunExit;
pub use fault::Fault;
pub use ops::implemented;
pub use state::CpuState;

use ironpc_mmu::{PhysMem, Tlb};

/// What the CPU sees of the rest of the machine. Implemented by the board.
pub trait Bus {
    /// `IN`: reads `size` (1, 2 or 4) bytes from `port`.
    fn io_read(&mut self, mem: &mut PhysMem, port: u16, size: u8) -> u32;
    /// `OUT`: writes `size` bytes to `port`.
    fn io_write(&mut self, mem: &mut PhysMem, port: u16, size: u8, value: u32);
    /// Reads `size` bytes from an MMIO window at physical address `addr`.
    fn mmio_read(&mut self, mem: &mut PhysMem, addr: u64, size: u8) -> u64;
    /// Writes `size` bytes to an MMIO window.
    fn mmio_write(&mut self, mem: &mut PhysMem, addr: u64, size: u8, value: u64);
    /// The INTR line: a maskable interrupt is waiting.
    fn interrupt_pending(&mut self) -> bool;
    /// The interrupt-acknowledge cycle: returns the vector.
    fn interrupt_ack(&mut self) -> u8;
    /// Tells the board how far the CPU has got ([`Cpu::icount`]) before a
    /// port or MMIO access, so devices see the exact time of the access.
    fn set_icount(&mut self, _icount: u64) {}
    /// The machine's time in nanoseconds when the CPU has done `icount`
    /// units of work (the board's clock); the time-stamp counter follows
    /// it. Without a clock, one nanosecond per unit.
    fn time_ns(&mut self, icount: u64) -> u64 {
        icount
    }
    /// Asked after each port write: the machine needs control back now
    /// (a reset or exit request), so [`Cpu::run`] returns after this
    /// instruction.
    fn stop_requested(&mut self) -> bool {
        false
    }
}

/// Everything outside the CPU that an instruction may touch.
pub struct Env<'a> {
    pub mem: &'a mut PhysMem,
    pub bus: &'a mut dyn Bus,
}

/// Why the CPU stopped accepting instructions for good.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Shutdown {
    /// An exception during #DF delivery (a triple fault).
    TripleFault,
}

/// One logical processor: architectural state plus the host-side caches
/// that speed it up (TLB, decoded blocks).
pub struct Cpu {
    pub state: CpuState,
    pub tlb: Tlb,
    /// Retired instructions plus delivered exceptions and interrupts since
    /// reset: the unit of the run budget and of the virtual clock. Events
    /// count so that a guest stuck in a fault loop (a handler that faults
    /// again at once) still uses up its budget and hands control back.
    pub icount: u64,
    /// HLT executed; waiting for an interrupt.
    pub halted: bool,
    /// Set once the CPU has shut down; the board decides what follows.
    pub shutdown: Option<Shutdown>,
    cache: decode::BlockCache,
    /// The current block must end after this instruction (mode change,
    /// write to code, interrupt window opened, ...).
    end_block: bool,
    /// Interrupts are inhibited for one instruction (after STI, MOV SS,
    /// POP SS).
    inhibit_irq: bool,
    /// NMI received and not yet delivered; NMIs blocked until IRET.
    nmi_pending: bool,
    nmi_blocked: bool,
    /// The board wants control back after the current instruction.
    yield_run: bool,
    /// FERR#: an x87 error was signalled with CR0.NE clear since the board
    /// last looked; a PC raises IRQ 13 for it. The board clears it.
    pub ferr: bool,
}

impl Default for Cpu {
    fn default() -> Self {
        Self::new()
    }
}

impl Cpu {
    /// A CPU in its RESET state.
    pub fn new() -> Self {
        Self {
            state: CpuState::reset(),
            tlb: Tlb::new(),
            icount: 0,
            halted: false,
            shutdown: None,
            cache: decode::BlockCache::default(),
            end_block: false,
            inhibit_irq: false,
            nmi_pending: false,
            nmi_blocked: false,
            yield_run: false,
            ferr: false,
        }
    }

    /// RESET: architectural state back to power-on values, caches dropped.
    pub fn reset(&mut self) {
        *self = Self::new();
    }

    /// Signals a non-maskable interrupt.
    pub fn nmi(&mut self) {
        self.nmi_pending = true;
    }

    /// Drops every decoded block (for tests and after host-side memory
    /// changes that bypass [`PhysMem::write`]).
    pub fn flush_code_cache(&mut self) {
        self.cache.clear();
    }
}
