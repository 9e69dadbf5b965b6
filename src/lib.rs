//! ironpc: a full-system x86 PC emulator.
//!
//! This crate is the machine: it wires a CPU, the physical memory map and
//! the board's devices together and runs them. The layers below know
//! nothing of each other beyond the [`ironpc_cpu::Bus`] trait the board
//! implements.

mod board;
mod clock;
pub mod display;
mod host;
mod machine;

pub use board::Board;
pub use clock::{Clock, ClockMode};
pub use host::{HostLink, InputEvent, InputPacing, Next, StopRequest};
pub use machine::{Config, Exit, IdeDrive, KernelBoot, Machine, MachineError};

pub use ironpc_bios as bios;
pub use ironpc_block as block;
pub use ironpc_cpu as cpu;
pub use ironpc_devices as devices;
pub use ironpc_mmu as mmu;
