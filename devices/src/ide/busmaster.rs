//! The bus-master IDE registers of one channel and the physical region
//! descriptor (PRD) walk (SFF-8038i rev 1.0, "Programming Interface for
//! Bus Master IDE Controller", sections 1-3; Intel 82371SB datasheet 2.7,
//! BMICx/BMISx/BMIDTPx).
//!
//! A PRD is two dwords: a physical byte address (bit 0 zero) and a byte
//! count in bits 15:0 (0 meaning 64 KiB) with end-of-table in bit 31. The
//! table is read, and the data moved, through [`PhysMem`], so DMA into
//! ROM, unmapped space or code pages behaves as a CPU store would.

use ironpc_mmu::PhysMem;
use serde::{Deserialize, Serialize};

/// Command register (offset 0) bits.
pub const CMD_START: u8 = 0x01;
/// Direction: set when the bus master writes memory (a disk read).
pub const CMD_WRITE_MEMORY: u8 = 0x08;
/// Status register (offset 2) bits.
pub const ST_ACTIVE: u8 = 0x01;
pub const ST_ERROR: u8 = 0x02;
pub const ST_INTERRUPT: u8 = 0x04;
/// Drive 0 / drive 1 DMA capable: plain read/write bits for the driver.
pub const ST_DMA_CAPABLE: u8 = 0x60;

/// PRD end-of-table flag.
const PRD_EOT: u32 = 1 << 31;
/// A table lies in one 64 KiB region: at most this many descriptors.
const MAX_PRDS: u32 = 65536 / 8;

#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct BusMaster {
    pub command: u8,
    pub status: u8,
    /// Descriptor table pointer (dword aligned).
    pub prd: u32,
}

/// How a transfer through the PRD table ended.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum PrdEnd {
    /// The data ended exactly with the table.
    Exact,
    /// The data ended with descriptors to spare.
    TableLeft,
    /// The table ended before the data (the drive wanted more).
    Short,
}

impl BusMaster {
    pub fn active(&self) -> bool {
        self.status & ST_ACTIVE != 0
    }

    /// The drive raised INTRQ.
    pub fn interrupt(&mut self) {
        self.status |= ST_INTERRUPT;
    }

    /// A read of register `offset` (0-7).
    pub fn read(&self, offset: u16, size: u8) -> u32 {
        (0..u16::from(size.clamp(1, 4))).fold(0, |v, i| v | u32::from(self.byte(offset + i)) << (8 * i))
    }

    fn byte(&self, offset: u16) -> u8 {
        match offset {
            0 => self.command & (CMD_START | CMD_WRITE_MEMORY),
            2 => self.status,
            4..=7 => (self.prd >> (8 * (offset - 4))) as u8,
            _ => 0,
        }
    }

    /// A write of register `offset` (0-7); true when it started the engine.
    pub fn write(&mut self, offset: u16, size: u8, value: u32) -> bool {
        let mut started = false;
        for i in 0..u16::from(size.clamp(1, 4)) {
            let v = (value >> (8 * i)) as u8;
            match offset + i {
                0 => started |= self.write_command(v),
                2 => {
                    self.status = (self.status & !(ST_ERROR | ST_INTERRUPT | ST_DMA_CAPABLE) | (v & ST_DMA_CAPABLE))
                        | (self.status & (ST_ERROR | ST_INTERRUPT) & !v);
                }
                o @ 4..=7 => {
                    let shift = 8 * (o - 4);
                    self.prd = (self.prd & !(0xFF << shift) | u32::from(v) << shift) & !3;
                }
                _ => {}
            }
        }
        started
    }

    /// Start 0 to 1 sets Active; 1 to 0 stops the engine (SFF-8038i 3.1:
    /// the direction bit must not change while started).
    fn write_command(&mut self, v: u8) -> bool {
        let was = self.command & CMD_START != 0;
        let now = v & CMD_START != 0;
        self.command = if was { (v & CMD_START) | (self.command & CMD_WRITE_MEMORY) } else { v & (CMD_START | CMD_WRITE_MEMORY) };
        match (was, now) {
            (false, true) => {
                self.status |= ST_ACTIVE;
                true
            }
            (true, false) => {
                self.status &= !ST_ACTIVE;
                false
            }
            _ => false,
        }
    }

    /// The descriptors of the table, up to its end-of-table entry: (physical
    /// address, byte count).
    fn descriptors(&self, mem: &PhysMem) -> Vec<(u64, u32)> {
        let mut out = Vec::new();
        for n in 0..MAX_PRDS {
            let mut raw = [0u8; 8];
            mem.read(u64::from(self.prd) + u64::from(n) * 8, &mut raw);
            let addr = u32::from_le_bytes([raw[0], raw[1], raw[2], raw[3]]) & !1;
            let flags = u32::from_le_bytes([raw[4], raw[5], raw[6], raw[7]]);
            let len = match flags & 0xFFFF {
                0 => 0x1_0000,
                n => n & !1,
            };
            out.push((u64::from(addr), len));
            if flags & PRD_EOT != 0 {
                break;
            }
        }
        out
    }

    /// Moves `total` bytes between the device and the memory the table
    /// describes: `chunk(offset, buf, to_memory)` fills `buf` from the
    /// device (a disk read) or takes it (a write). Stops at the first
    /// device error, which it returns with how the table ended; clears
    /// Active when the table is used up.
    pub fn transfer<E>(
        &mut self,
        mem: &mut PhysMem,
        total: u64,
        mut chunk: impl FnMut(u64, &mut [u8]) -> Result<(), E>,
        to_memory: bool,
    ) -> (PrdEnd, Result<(), E>) {
        let table = self.descriptors(mem);
        let mut done = 0u64;
        let mut used = 0;
        let mut last_full = false;
        for &(addr, len) in &table {
            if done >= total {
                break;
            }
            used += 1;
            let n = u64::from(len).min(total - done) as usize;
            let mut buf = vec![0u8; n];
            if to_memory {
                if let Err(e) = chunk(done, &mut buf) {
                    self.status &= !ST_ACTIVE;
                    return (PrdEnd::Short, Err(e));
                }
                mem.write(addr, &buf);
            } else {
                mem.read(addr, &mut buf);
                if let Err(e) = chunk(done, &mut buf) {
                    self.status &= !ST_ACTIVE;
                    return (PrdEnd::Short, Err(e));
                }
            }
            done += n as u64;
            last_full = n as u64 == u64::from(len);
        }
        let end = if done < total {
            PrdEnd::Short
        } else if used == table.len() && last_full {
            PrdEnd::Exact
        } else {
            PrdEnd::TableLeft
        };
        if end != PrdEnd::TableLeft {
            self.status &= !ST_ACTIVE;
        }
        (end, Ok(()))
    }
}
