//! The IDE (ATA/ATAPI) interface of the PIIX3, in legacy mode: two
//! channels of two devices each, the task-file registers, the data port,
//! the device control register and the interrupt lines (ATA/ATAPI-6,
//! T13/1410D, sections 5 "I/O register descriptions" and 9 "protocols";
//! Intel 82371SB datasheet 2.4 for the port map). The commands live in
//! [`ata`] (hard disks) and [`atapi`] (CD-ROMs, SFF-8020i / MMC-2), the
//! SFF-8038i bus-master DMA engine in [`busmaster`]; the PCI function that
//! holds all of this is [`crate::pci::PiixIde`].
//!
//! Every command completes at once: there is no BSY phase a guest could
//! observe. What a guest sees is the order of events: data, then status,
//! then the interrupt.
//!
//! The media are host handles ([`Media`]), kept by the board outside this
//! state and handed in on each access (DESIGN.md invariant 6).

pub mod ata;
pub mod atapi;
pub mod busmaster;

use ironpc_block::BlockDevice;
use ironpc_mmu::PhysMem;
use serde::{Deserialize, Serialize};

pub use busmaster::BusMaster;

/// A drive's medium: a disk image, or nothing (an empty CD drive).
pub type Media = Option<Box<dyn BlockDevice>>;

/// Command block registers, as offsets from the channel's base port.
pub mod reg {
    pub const DATA: u16 = 0;
    /// Error (read) / Features (write).
    pub const ERROR: u16 = 1;
    pub const NSECTOR: u16 = 2;
    pub const SECTOR: u16 = 3;
    pub const LCYL: u16 = 4;
    pub const HCYL: u16 = 5;
    pub const SELECT: u16 = 6;
    /// Status (read) / Command (write).
    pub const STATUS: u16 = 7;
}

/// Status register bits (ATA/ATAPI-6, 7.15.6).
pub mod status {
    pub const BSY: u8 = 0x80;
    pub const DRDY: u8 = 0x40;
    pub const DF: u8 = 0x20;
    /// Device seek complete (obsolete, still set by every emulated drive).
    pub const DSC: u8 = 0x10;
    pub const DRQ: u8 = 0x08;
    pub const ERR: u8 = 0x01;
}

/// Error register bits.
pub mod error {
    pub const UNC: u8 = 0x40;
    pub const IDNF: u8 = 0x10;
    pub const ABRT: u8 = 0x04;
}

/// Device control register bits.
pub mod control {
    pub const NIEN: u8 = 0x02;
    pub const SRST: u8 = 0x04;
    /// High order byte: reads of the task file return the previous
    /// (48-bit address) values.
    pub const HOB: u8 = 0x80;
}

/// Device/head register: bit 4 selects device 1, bit 6 LBA addressing.
pub const SELECT_DEV: u8 = 0x10;
pub const SELECT_LBA: u8 = 0x40;

/// Legacy-mode ports and ISA interrupt lines of the two channels
/// (82371SB 2.4: command block, control block).
pub const CHANNELS: [(u16, u16, u8); 2] = [(0x1F0, 0x3F6, 14), (0x170, 0x376, 15)];

/// Sector size of ATA disks.
pub const SECTOR: usize = 512;

/// What a drive is.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DriveKind {
    Absent,
    Disk(ata::Disk),
    Cdrom(atapi::Cdrom),
}

/// Where the bytes of an ATAPI data-in phase come from.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Source {
    /// A reply built by the command, and how much of it went out.
    Reply { data: Vec<u8>, at: usize },
    /// The medium, from this byte offset.
    Medium { offset: u64 },
}

/// The transfer a drive is in, and what happens when its buffer runs out.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Transfer {
    Idle,
    /// PIO data-in whose buffer ends the command (IDENTIFY).
    DataIn,
    /// PIO data-in of sectors: after the buffer, `left` sectors from `lba`,
    /// `block` at a time.
    ReadPio {
        lba: u64,
        left: u32,
        block: u32,
    },
    /// PIO data-out of sectors: the buffer goes to `lba`; `left` sectors
    /// follow it.
    WritePio {
        lba: u64,
        left: u32,
        block: u32,
    },
    /// A DMA command waiting for the bus master.
    Dma {
        lba: u64,
        count: u32,
        write: bool,
    },
    /// The 12 bytes of an ATAPI command packet.
    PacketCdb,
    /// ATAPI data-in: `left` bytes still to send after the buffer.
    PacketIn {
        src: Source,
        left: u64,
        dma: bool,
    },
    /// ATAPI data-out (MODE SELECT): bytes still to take after the buffer.
    PacketOut {
        left: u64,
    },
}

/// One device on a channel: its task file, data buffer and transfer.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Drive {
    pub kind: DriveKind,
    pub feature: u8,
    pub nsector: u8,
    pub sector: u8,
    pub lcyl: u8,
    pub hcyl: u8,
    /// The previous values written (the high-order bytes of LBA48).
    pub hob: [u8; 5],
    pub select: u8,
    pub status: u8,
    pub error: u8,
    buf: Vec<u8>,
    pos: usize,
    transfer: Transfer,
    /// ATAPI byte count limit of the current packet command.
    byte_limit: u16,
    /// The current ATA command addresses with 48 bits.
    ext: bool,
    /// Where the drive sits (0-3), for its serial number.
    pub slot: u8,
}

impl Drive {
    pub fn new(kind: DriveKind) -> Self {
        let mut d = Self {
            kind,
            feature: 0,
            nsector: 0,
            sector: 0,
            lcyl: 0,
            hcyl: 0,
            hob: [0; 5],
            select: 0xA0,
            status: 0,
            error: 0,
            buf: Vec::new(),
            pos: 0,
            transfer: Transfer::Idle,
            byte_limit: 0,
            ext: false,
            slot: 0,
        };
        d.reset();
        d
    }

    pub fn present(&self) -> bool {
        !matches!(self.kind, DriveKind::Absent)
    }

    /// A DMA command waits for the bus master: the data port moves
    /// nothing meanwhile.
    fn dma_pending(&self) -> bool {
        matches!(self.transfer, Transfer::Dma { .. } | Transfer::PacketIn { dma: true, .. })
    }

    fn is_atapi(&self) -> bool {
        matches!(self.kind, DriveKind::Cdrom(_))
    }

    /// The signature and status after a reset or a diagnostic
    /// (ATA/ATAPI-6 9.12): 01/01 in count and sector, 00/00 for ATA and
    /// 14/EB for a PACKET device in the cylinder registers; a PACKET device
    /// leaves DRDY clear.
    pub fn reset(&mut self) {
        self.set_signature();
        self.error = 0x01;
        self.status = if self.is_atapi() { 0 } else { status::DRDY | status::DSC };
        self.end_transfer();
        if let DriveKind::Disk(d) = &mut self.kind {
            d.reset();
        }
    }

    fn set_signature(&mut self) {
        self.select &= SELECT_DEV | 0xA0;
        self.nsector = 1;
        self.sector = 1;
        (self.lcyl, self.hcyl) = if self.is_atapi() { (0x14, 0xEB) } else { (0, 0) };
    }

    fn end_transfer(&mut self) {
        self.buf.clear();
        self.pos = 0;
        self.transfer = Transfer::Idle;
    }

    /// Starts a PIO data phase with `data` in the buffer.
    fn start_pio(&mut self, data: Vec<u8>, transfer: Transfer) {
        self.buf = data;
        self.pos = 0;
        self.transfer = transfer;
        self.status = (self.status & !status::ERR) | status::DRQ | status::DSC;
    }

    /// Ends a command without error.
    fn complete(&mut self) {
        self.end_transfer();
        self.status = status::DRDY | status::DSC;
    }

    /// Ends a command with an error.
    fn abort(&mut self, err: u8) {
        self.end_transfer();
        self.error = err;
        self.status = status::DRDY | status::ERR;
    }

    /// The 28-bit LBA, or 48-bit with `ext`, in the task file.
    fn lba(&self, ext: bool) -> u64 {
        let low = u64::from(self.sector) | u64::from(self.lcyl) << 8 | u64::from(self.hcyl) << 16;
        if ext {
            low | u64::from(self.hob[2]) << 24 | u64::from(self.hob[3]) << 32 | u64::from(self.hob[4]) << 40
        } else {
            low | u64::from(self.select & 0x0F) << 24
        }
    }

    /// Puts `lba` back in the task file, as a drive does for the last
    /// sector it handled.
    fn set_lba(&mut self, lba: u64, ext: bool) {
        self.sector = lba as u8;
        self.lcyl = (lba >> 8) as u8;
        self.hcyl = (lba >> 16) as u8;
        if ext {
            self.hob[2] = (lba >> 24) as u8;
            self.hob[3] = (lba >> 32) as u8;
            self.hob[4] = (lba >> 40) as u8;
        } else {
            self.select = (self.select & 0xF0) | ((lba >> 24) as u8 & 0x0F);
        }
    }

    /// Sector count: 0 means 256 (or 65536 with `ext`).
    fn count(&self, ext: bool) -> u32 {
        if ext {
            match u32::from(self.hob[1]) << 8 | u32::from(self.nsector) {
                0 => 65536,
                n => n,
            }
        } else {
            match self.nsector {
                0 => 256,
                n => u32::from(n),
            }
        }
    }
}

/// Effects of an access that the channel carries out: raise INTRQ, run the
/// bus master.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Outcome {
    pub irq: bool,
    /// A DMA command is waiting: run it if the bus master is started.
    pub dma: bool,
}

impl Outcome {
    pub const NONE: Self = Self { irq: false, dma: false };
    pub const IRQ: Self = Self { irq: true, dma: false };
}

/// One IDE channel: two drives, the device control register, INTRQ and
/// the channel's bus-master registers.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Channel {
    pub drives: [Drive; 2],
    /// Device 1 selected (DEV bit of the last device/head write).
    pub dev: usize,
    pub control: u8,
    /// An interrupt is pending (cleared by reading status).
    pub intrq: bool,
    pub bm: BusMaster,
}

impl Default for Channel {
    fn default() -> Self {
        Self::new()
    }
}

impl Channel {
    pub fn new() -> Self {
        Self {
            drives: [Drive::new(DriveKind::Absent), Drive::new(DriveKind::Absent)],
            dev: 0,
            control: 0,
            intrq: false,
            bm: BusMaster::default(),
        }
    }

    /// The INTRQ line as the channel drives it (nIEN masks it).
    pub fn irq(&self) -> bool {
        self.intrq && self.control & control::NIEN == 0
    }

    fn raise(&mut self) {
        self.intrq = true;
        if self.irq() {
            self.bm.interrupt();
        }
    }

    fn any_present(&self) -> bool {
        self.drives.iter().any(Drive::present)
    }

    /// A read of command block register `r` (0-7).
    pub fn read(&mut self, r: u16, size: u8, media: &mut [Media; 2]) -> u32 {
        if r == reg::DATA {
            return self.read_data(size, media);
        }
        // An empty channel reads 0 (as QEMU's, so that SeaBIOS's and
        // Linux's probes find nothing); so does the status of an absent
        // device 1 next to a present device 0.
        if !self.any_present() {
            return 0;
        }
        let hob = self.control & control::HOB != 0;
        let d = &self.drives[self.dev];
        let v = match r {
            reg::ERROR if hob => d.hob[0],
            reg::ERROR => d.error,
            reg::NSECTOR if hob => d.hob[1],
            reg::NSECTOR => d.nsector,
            reg::SECTOR if hob => d.hob[2],
            reg::SECTOR => d.sector,
            reg::LCYL if hob => d.hob[3],
            reg::LCYL => d.lcyl,
            reg::HCYL if hob => d.hob[4],
            reg::HCYL => d.hcyl,
            reg::SELECT => d.select,
            _ => {
                let v = self.alt_status();
                self.intrq = false;
                v
            }
        };
        u32::from(v)
    }

    /// The alternate status register (no side effects).
    pub fn alt_status(&self) -> u8 {
        let d = &self.drives[self.dev];
        if !self.any_present() || !d.present() {
            0
        } else {
            d.status
        }
    }

    /// A write of command block register `r` (1-7); data goes to
    /// [`Channel::write_data`]. `bus` is guest memory as the bus master
    /// reaches it: `None` while the PCI function may not master the bus
    /// (bus master enable clear), and a started engine then waits.
    pub fn write(&mut self, r: u16, size: u8, value: u32, media: &mut [Media; 2], bus: Option<&mut PhysMem>) {
        if r == reg::DATA {
            self.write_data(size, value, media, bus);
            return;
        }
        let v = value as u8;
        self.control &= !control::HOB;
        // Both devices latch the task file; the selected one acts.
        for d in &mut self.drives {
            let slot = match r {
                reg::ERROR => Some((0, &mut d.feature)),
                reg::NSECTOR => Some((1, &mut d.nsector)),
                reg::SECTOR => Some((2, &mut d.sector)),
                reg::LCYL => Some((3, &mut d.lcyl)),
                reg::HCYL => Some((4, &mut d.hcyl)),
                _ => None,
            };
            if let Some((n, field)) = slot {
                d.hob[n] = *field;
                *field = v;
            } else if r == reg::SELECT {
                // Bits 7 and 5 are obsolete and read as 1.
                d.select = v | 0xA0;
            }
        }
        match r {
            reg::SELECT => self.dev = usize::from(v & SELECT_DEV != 0),
            reg::STATUS => self.command(v, media, bus),
            _ => {}
        }
    }

    /// A write of the device control register.
    pub fn write_control(&mut self, value: u8) {
        let was_masked = self.control & control::NIEN != 0;
        let srst_was = self.control & control::SRST != 0;
        self.control = value;
        if value & control::SRST != 0 && !srst_was {
            for d in &mut self.drives {
                d.end_transfer();
                d.status = status::BSY | status::DSC;
            }
            self.intrq = false;
        } else if value & control::SRST == 0 && srst_was {
            for d in &mut self.drives {
                d.reset();
            }
            self.dev = 0;
        }
        if was_masked && self.irq() {
            self.bm.interrupt();
        }
    }

    fn command(&mut self, cmd: u8, media: &mut [Media; 2], bus: Option<&mut PhysMem>) {
        let dev = self.dev;
        let d = &mut self.drives[dev];
        // A command to an absent device is not taken (nothing answers).
        if !d.present() || self.control & control::SRST != 0 {
            return;
        }
        self.intrq = false;
        if cmd == ata::cmd::EXECUTE_DIAGNOSTIC {
            // Both devices run it, whichever was selected; device 0
            // reports (ATA/ATAPI-6 8.11).
            for d in &mut self.drives {
                d.reset();
            }
            self.dev = 0;
            self.raise();
            return;
        }
        let medium = &mut media[dev];
        let out = match d.kind {
            DriveKind::Cdrom(_) => atapi::command(d, cmd),
            _ => ata::command(d, cmd, medium),
        };
        self.finish(out, media, bus);
    }

    fn finish(&mut self, out: Outcome, media: &mut [Media; 2], bus: Option<&mut PhysMem>) {
        if out.irq {
            self.raise();
        }
        if out.dma && self.bm.active() {
            self.run_dma(media, bus);
        }
    }

    fn read_data(&mut self, size: u8, media: &mut [Media; 2]) -> u32 {
        let dev = self.dev;
        let d = &mut self.drives[dev];
        if d.status & status::DRQ == 0 || !d.present() || d.dma_pending() {
            return 0;
        }
        let mut v = 0u32;
        let n = usize::from(size.clamp(1, 4));
        for i in 0..n {
            if let Some(&b) = d.buf.get(d.pos) {
                v |= u32::from(b) << (8 * i);
                d.pos += 1;
            }
        }
        if d.pos >= d.buf.len() {
            let out = buffer_done(d, &mut media[dev]);
            if out.irq {
                self.raise();
            }
        }
        v
    }

    fn write_data(&mut self, size: u8, value: u32, media: &mut [Media; 2], bus: Option<&mut PhysMem>) {
        let dev = self.dev;
        let d = &mut self.drives[dev];
        if d.status & status::DRQ == 0 || !d.present() || d.dma_pending() {
            return;
        }
        let n = usize::from(size.clamp(1, 4));
        for i in 0..n {
            if let Some(b) = d.buf.get_mut(d.pos) {
                *b = (value >> (8 * i)) as u8;
                d.pos += 1;
            }
        }
        if d.pos >= d.buf.len() {
            // A packet may start a DMA data phase on an engine already
            // running.
            let out = buffer_done(d, &mut media[dev]);
            self.finish(out, media, bus);
        }
    }

    /// A write of bus-master register `offset` (0-7 of the channel's
    /// eight); a start runs a waiting DMA command if it has the `bus`.
    pub fn bm_write(&mut self, offset: u16, size: u8, value: u32, media: &mut [Media; 2], bus: Option<&mut PhysMem>) {
        if self.bm.write(offset, size, value) {
            self.run_dma(media, bus);
        }
    }

    /// The function was given the bus (its bus master enable set): an
    /// engine started without it runs its waiting command now.
    pub fn bus_granted(&mut self, media: &mut [Media; 2], mem: &mut PhysMem) {
        if self.bm.active() {
            self.run_dma(media, Some(mem));
        }
    }

    /// Moves the data of the selected drive's waiting DMA command through
    /// the PRD table, then completes the command (status, INTRQ). Without
    /// the bus nothing moves: the command waits.
    fn run_dma(&mut self, media: &mut [Media; 2], bus: Option<&mut PhysMem>) {
        let Some(mem) = bus else {
            return;
        };
        let dev = self.dev;
        let d = &mut self.drives[dev];
        let medium = &mut media[dev];
        let out = match std::mem::replace(&mut d.transfer, Transfer::Idle) {
            Transfer::Dma { lba, count, write } => ata::run_dma(d, &mut self.bm, mem, medium, lba, count, write),
            Transfer::PacketIn { src, left, dma: true } => atapi::run_dma(d, &mut self.bm, mem, medium, src, left),
            other => {
                // Nothing to move: the engine waits for a command.
                d.transfer = other;
                return;
            }
        };
        if out.irq {
            self.raise();
        }
    }

    /// Power-on / RESET# state: drives keep their kind and media.
    pub fn hard_reset(&mut self) {
        for d in &mut self.drives {
            let slot = d.slot;
            *d = Drive::new(d.kind.clone());
            d.slot = slot;
            if let DriveKind::Cdrom(c) = &mut d.kind {
                c.reset();
            }
        }
        self.dev = 0;
        self.control = 0;
        self.intrq = false;
        self.bm = BusMaster::default();
    }
}

/// The buffer of a PIO phase is empty (read) or full (written): what comes
/// next.
fn buffer_done(d: &mut Drive, medium: &mut Media) -> Outcome {
    match std::mem::replace(&mut d.transfer, Transfer::Idle) {
        Transfer::DataIn | Transfer::Idle => {
            d.complete();
            Outcome::NONE
        }
        Transfer::ReadPio { lba, left, block } => ata::next_read_block(d, medium, lba, left, block),
        Transfer::WritePio { lba, left, block } => ata::write_block(d, medium, lba, left, block),
        Transfer::PacketCdb => atapi::packet(d, medium),
        Transfer::PacketIn { src, left, dma } => atapi::next_chunk(d, medium, src, left, dma),
        Transfer::PacketOut { left } => atapi::next_out_chunk(d, left),
        Transfer::Dma { .. } => Outcome::NONE,
    }
}

/// Writes a string into IDENTIFY words as ATA does: two characters a word,
/// the first in the high byte, padded with spaces.
pub(crate) fn put_string(words: &mut [u16], s: &str) {
    let bytes = s.as_bytes();
    for (i, w) in words.iter_mut().enumerate() {
        let hi = bytes.get(2 * i).copied().unwrap_or(b' ');
        let lo = bytes.get(2 * i + 1).copied().unwrap_or(b' ');
        *w = u16::from(hi) << 8 | u16::from(lo);
    }
}

/// 256 IDENTIFY words as the 512 bytes the data port delivers, with the
/// integrity word 255 (signature A5h, then the checksum making the bytes
/// sum to 0, ATA/ATAPI-6 8.15.61).
pub(crate) fn identify_bytes(mut words: [u16; 256]) -> Vec<u8> {
    words[255] = 0x00A5;
    let sum = words[..255].iter().fold(0xA5u8, |s, w| s.wrapping_add(*w as u8).wrapping_add((*w >> 8) as u8));
    words[255] |= u16::from(sum.wrapping_neg()) << 8;
    words.iter().flat_map(|w| w.to_le_bytes()).collect()
}

#[cfg(test)]
mod tests;
