//! The machine: CPU, memory and board, and the loop that runs them.

use crate::{board::Board, clock::ClockMode};
use ironpc_cpu::{state::fl, Cpu, Env, RunExit, Shutdown};
use ironpc_devices::{debug_exit::DebugExit, debugcon::DebugCon};
use ironpc_mmu::PhysMem;
use std::io::Write;

/// How to build a machine.
pub struct Config {
    /// Guest RAM in bytes.
    pub memory: u64,
    /// The firmware image (mapped below 4 GiB and below 1 MiB).
    pub bios: Vec<u8>,
    /// Debug console port and where its bytes go.
    pub debugcon: Option<(u16, Box<dyn Write + Send>)>,
    /// isa-debug-exit port.
    pub exit_port: Option<u16>,
    /// Host time, or virtual time derived from executed instructions.
    pub clock: ClockMode,
    /// Where COM1's output goes.
    pub serial: Option<Box<dyn Write + Send>>,
}

/// Why a machine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error("cannot allocate {size} bytes of guest RAM: {source}")]
    Ram { size: u64, source: std::io::Error },
    #[error("guest RAM must be between 1 MiB and 3 GiB (asked for {0} bytes)")]
    RamSize(u64),
    #[error(transparent)]
    Bios(#[from] ironpc_bios::BiosError),
}

/// Why [`Machine::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The guest asked to exit through isa-debug-exit, with this status.
    DebugExit(i32),
    /// The CPU shut down after a triple fault.
    TripleFault { cs: u16, eip: u32 },
    /// The CPU halted and nothing can wake it.
    HaltedForever { cs: u16, eip: u32 },
    /// The instruction limit was reached.
    InstructionLimit,
    /// The guest powered the machine off (ACPI soft-off through the PIIX4
    /// PM function).
    PowerOff,
}

/// A PC.
pub struct Machine {
    pub cpu: Cpu,
    pub mem: PhysMem,
    pub board: Board,
}

/// Largest RAM below the 32-bit PCI/firmware hole.
const MAX_RAM: u64 = 3 << 30;
/// Most work run between checks of the board (exit requests, limits).
const SLICE: u64 = 100_000;
/// With the host clock, the CPU's speed relates work to time only loosely:
/// shorter slices keep device deadlines (timer interrupts) timely.
const HOST_SLICE: u64 = 20_000;

impl Machine {
    /// Builds a machine and puts the CPU at its reset vector.
    pub fn new(config: Config) -> Result<Self, MachineError> {
        if config.memory < (1 << 20) || config.memory > MAX_RAM {
            return Err(MachineError::RamSize(config.memory));
        }
        let mut mem = PhysMem::new(config.memory).map_err(|source| MachineError::Ram { size: config.memory, source })?;
        ironpc_bios::map_bios(&mut mem, &config.bios)?;
        // The i440FX decodes 0xC0000-0xFFFFF through its PAM registers;
        // at reset every segment is on PCI, where the BIOS's low window is.
        mem.enable_pam();
        let mut board = Board::new(config.clock);
        board.debugcon = config.debugcon.map(|(port, sink)| DebugCon::new(port, Some(sink)));
        board.debug_exit = config.exit_port.map(DebugExit::new);
        board.serial_out = config.serial;
        board.set_cmos_memory(config.memory);
        board.pci.host.set_ram_size(config.memory);
        Ok(Self { cpu: Cpu::new(), mem, board })
    }

    /// Runs until the guest exits, the CPU shuts down or halts for good, or
    /// `max_instructions` have retired.
    pub fn run(&mut self, max_instructions: Option<u64>) -> Exit {
        let limit = max_instructions.unwrap_or(u64::MAX);
        let exit = loop {
            if self.board.power_off_requested() {
                // Off: nothing runs any more.
                break Exit::PowerOff;
            }
            let left = limit.saturating_sub(self.cpu.icount);
            if left == 0 {
                break Exit::InstructionLimit;
            }
            // Fire what is due, then run the CPU up to the next deadline.
            self.board.advance(self.cpu.icount);
            let deadline = self.board.next_deadline();
            let budget = match (self.board.clock.mode(), deadline) {
                (ClockMode::Virtual, Some(d)) => self.board.clock.insns_until(d, self.cpu.icount),
                (ClockMode::Virtual, None) => SLICE,
                (ClockMode::Host, _) => HOST_SLICE,
            };
            let mut env = Env { mem: &mut self.mem, bus: &mut self.board };
            let r = self.cpu.run(&mut env, budget.min(left).min(SLICE));
            if self.board.take_reset() {
                // The reset line: the CPU starts again at its reset vector;
                // memory and devices keep their state, as on a PC's soft
                // reset through the keyboard controller or port 0x92.
                log::info!("system reset requested by the guest");
                let icount = self.cpu.icount;
                self.cpu.reset();
                self.cpu.icount = icount;
                continue;
            }
            if let Some(status) = self.board.debug_exit.as_ref().and_then(|d| d.requested) {
                break Exit::DebugExit(status);
            }
            if self.board.power_off_requested() {
                break Exit::PowerOff;
            }
            let (cs, eip) = (self.cpu.state.seg[1].selector, self.cpu.state.rip as u32);
            match r {
                RunExit::Budget => {}
                RunExit::Shutdown => match self.cpu.shutdown {
                    Some(Shutdown::TripleFault) | None => break Exit::TripleFault { cs, eip },
                },
                RunExit::Halted => {
                    // Idle until the next device event, which may raise an
                    // interrupt; with IF clear or nothing scheduled, nothing
                    // can ever wake the CPU.
                    self.board.advance(self.cpu.icount);
                    let can_wake = self.cpu.state.flags() & fl::IF != 0;
                    match self.board.next_deadline() {
                        Some(d) if can_wake => self.board.clock.idle_until(d, self.cpu.icount),
                        _ => break Exit::HaltedForever { cs, eip },
                    }
                }
            }
        };
        if let Some(d) = self.board.debugcon.as_mut() {
            d.flush();
        }
        exit
    }
}
