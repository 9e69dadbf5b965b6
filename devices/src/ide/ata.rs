//! ATA hard disks: the commands of the general and 48-bit address feature
//! sets a PC's firmware and drivers use (ATA/ATAPI-6, T13/1410D, section
//! 8), with PIO and DMA data phases (section 9 protocols), CHS addressing
//! through the current geometry, and the identify data of section 8.15 as
//! QEMU's `ide-hd` reports it (LBA, DMA, multiword DMA 0-2, UDMA 0-5,
//! 16-sector multiple mode, LBA48, FLUSH CACHE [EXT]).

use super::{error, identify_bytes, put_string, status, BusMaster, Drive, DriveKind, Media, Outcome, Transfer, SECTOR};
use crate::ide::busmaster::PrdEnd;
use ironpc_block::BlockError;
use ironpc_mmu::PhysMem;
use serde::{Deserialize, Serialize};

pub const MODEL: &str = "IRONPC HARDDISK";
pub const FIRMWARE: &str = "1.0";
/// Most sectors per READ/WRITE MULTIPLE block (IDENTIFY word 47).
pub const MAX_MULTIPLE: u8 = 16;
/// Largest count of the default geometry's cylinders (ATA-6 word 1).
const MAX_CYLINDERS: u64 = 16383;
/// Default translation: 16 heads, 63 sectors a track.
const HEADS: u8 = 16;
const SPT: u8 = 63;
/// LBA28 addresses end here.
const LBA28_LIMIT: u64 = 1 << 28;

/// Commands (ATA/ATAPI-6 table 28 and the obsolete ones still sent).
pub mod cmd {
    pub const NOP: u8 = 0x00;
    pub const DEVICE_RESET: u8 = 0x08;
    pub const RECALIBRATE: u8 = 0x10;
    pub const READ_SECTORS: u8 = 0x20;
    pub const READ_SECTORS_NORETRY: u8 = 0x21;
    pub const READ_SECTORS_EXT: u8 = 0x24;
    pub const READ_DMA_EXT: u8 = 0x25;
    pub const READ_MULTIPLE_EXT: u8 = 0x29;
    pub const WRITE_SECTORS: u8 = 0x30;
    pub const WRITE_SECTORS_NORETRY: u8 = 0x31;
    pub const WRITE_SECTORS_EXT: u8 = 0x34;
    pub const WRITE_DMA_EXT: u8 = 0x35;
    pub const WRITE_MULTIPLE_EXT: u8 = 0x39;
    pub const READ_VERIFY: u8 = 0x40;
    pub const READ_VERIFY_NORETRY: u8 = 0x41;
    pub const READ_VERIFY_EXT: u8 = 0x42;
    pub const SEEK: u8 = 0x70;
    pub const EXECUTE_DIAGNOSTIC: u8 = 0x90;
    pub const INITIALIZE_PARAMETERS: u8 = 0x91;
    pub const PACKET: u8 = 0xA0;
    pub const IDENTIFY_PACKET: u8 = 0xA1;
    pub const READ_MULTIPLE: u8 = 0xC4;
    pub const WRITE_MULTIPLE: u8 = 0xC5;
    pub const SET_MULTIPLE: u8 = 0xC6;
    pub const READ_DMA: u8 = 0xC8;
    pub const READ_DMA_NORETRY: u8 = 0xC9;
    pub const WRITE_DMA: u8 = 0xCA;
    pub const WRITE_DMA_NORETRY: u8 = 0xCB;
    pub const STANDBY_IMMEDIATE: u8 = 0xE0;
    pub const IDLE_IMMEDIATE: u8 = 0xE1;
    pub const STANDBY: u8 = 0xE2;
    pub const IDLE: u8 = 0xE3;
    pub const CHECK_POWER_MODE: u8 = 0xE5;
    pub const SLEEP: u8 = 0xE6;
    pub const FLUSH_CACHE: u8 = 0xE7;
    pub const IDENTIFY: u8 = 0xEC;
    pub const FLUSH_CACHE_EXT: u8 = 0xEA;
    pub const SET_FEATURES: u8 = 0xEF;
}

/// SET FEATURES subcommand: set transfer mode (the mode in the count).
const SF_TRANSFER_MODE: u8 = 0x03;
/// Subcommands accepted and ignored: write cache on/off, read look-ahead
/// on/off, reverting to power-on defaults on/off.
const SF_ACCEPTED: [u8; 6] = [0x02, 0x82, 0xAA, 0x55, 0xCC, 0x66];

/// A hard disk's own state: size, geometry, modes.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Disk {
    /// Capacity in 512-byte sectors.
    pub sectors: u64,
    /// Default geometry (IDENTIFY words 1, 3, 6).
    pub cylinders: u16,
    pub heads: u8,
    pub spt: u8,
    /// Current geometry (INITIALIZE DEVICE PARAMETERS).
    pub cur_heads: u8,
    pub cur_spt: u8,
    /// Sectors per READ/WRITE MULTIPLE block; 0 = multiple mode off.
    pub multiple: u8,
    /// Selected transfer mode (SET FEATURES 03h value): 0x08|n PIO, 0x20|n
    /// multiword DMA, 0x40|n UDMA.
    pub xfer_mode: u8,
}

impl Disk {
    /// A disk of `bytes` (rounded down to whole sectors), with the
    /// geometry BIOSes expect: 16 heads, 63 sectors, as many cylinders as
    /// fit up to 16383.
    pub fn new(bytes: u64) -> Self {
        let sectors = bytes / SECTOR as u64;
        let cylinders = (sectors / (u64::from(HEADS) * u64::from(SPT))).clamp(1, MAX_CYLINDERS) as u16;
        Self { sectors, cylinders, heads: HEADS, spt: SPT, cur_heads: HEADS, cur_spt: SPT, multiple: 0, xfer_mode: 0x40 | 5 }
    }

    /// Power-on geometry and modes.
    pub fn reset(&mut self) {
        self.cur_heads = self.heads;
        self.cur_spt = self.spt;
    }

    /// Cylinders of the current geometry.
    fn cur_cylinders(&self) -> u64 {
        let per_cyl = u64::from(self.cur_heads) * u64::from(self.cur_spt);
        (self.sectors / per_cyl.max(1)).min(0xFFFF)
    }

    /// IDENTIFY DEVICE data (ATA/ATAPI-6 table 29).
    pub fn identify(&self, serial: &str) -> Vec<u8> {
        let mut w = [0u16; 256];
        w[0] = 0x0040; // fixed device
        w[1] = self.cylinders;
        w[3] = u16::from(self.heads);
        w[4] = 512 * u16::from(self.spt);
        w[5] = 512;
        w[6] = u16::from(self.spt);
        put_string(&mut w[10..20], serial);
        w[20] = 3; // buffer type: dual ported with read cache
        w[21] = 512;
        w[22] = 4;
        put_string(&mut w[23..27], FIRMWARE);
        put_string(&mut w[27..47], MODEL);
        w[47] = 0x8000 | u16::from(MAX_MULTIPLE);
        w[48] = 1; // dword I/O
        w[49] = 1 << 11 | 1 << 9 | 1 << 8; // IORDY, LBA, DMA
        w[51] = 0x200;
        w[52] = 0x200;
        w[53] = 1 | 2 | 4; // words 54-58, 64-70 and 88 valid
        let cyls = self.cur_cylinders();
        w[54] = cyls as u16;
        w[55] = u16::from(self.cur_heads);
        w[56] = u16::from(self.cur_spt);
        let chs = (cyls * u64::from(self.cur_heads) * u64::from(self.cur_spt)) as u32;
        w[57] = chs as u16;
        w[58] = (chs >> 16) as u16;
        if self.multiple != 0 {
            w[59] = 0x100 | u16::from(self.multiple);
        }
        let lba28 = self.sectors.min(LBA28_LIMIT - 1) as u32;
        w[60] = lba28 as u16;
        w[61] = (lba28 >> 16) as u16;
        w[62] = 0x07;
        w[63] = 0x07 | self.mode_bit(0x20, 2) << 8;
        w[64] = 0x03; // PIO 3 and 4
        w[65..69].copy_from_slice(&[120, 120, 120, 120]);
        w[80] = 0xF0; // ATA-4 to ATA-7
        w[81] = 0x16;
        w[82] = 1 << 14 | 1 << 5; // write cache
        w[83] = 1 << 14 | 1 << 13 | 1 << 12 | 1 << 10; // FLUSH CACHE EXT, FLUSH CACHE, LBA48
        w[84] = 1 << 14;
        w[85] = 1 << 14 | 1 << 5;
        w[86] = 1 << 13 | 1 << 12 | 1 << 10;
        w[87] = 1 << 14;
        w[88] = 0x3F | self.mode_bit(0x40, 5) << 8;
        w[93] = 1 | 1 << 14 | 1 << 13; // device 0 passed, 80-conductor cable
        for i in 0..4 {
            w[100 + i] = (self.sectors >> (16 * i)) as u16;
        }
        identify_bytes(w)
    }

    /// The selected-mode bit for a mode class (`base`: 0x20 MWDMA, 0x40
    /// UDMA) of modes 0..=`max`.
    fn mode_bit(&self, base: u8, max: u8) -> u16 {
        match self.xfer_mode.checked_sub(base) {
            Some(n) if n <= max => 1 << n,
            _ => 0,
        }
    }
}

/// The serial number of the drive at `slot` (0-3).
pub fn serial(slot: usize) -> String {
    format!("IRONPC{:014}", slot + 1)
}

/// Executes an ATA command on `d` (a disk, or a CD answering with its
/// signature).
pub fn command(d: &mut Drive, cmd: u8, medium: &mut Media) -> Outcome {
    use cmd::*;
    d.error = 0;
    let DriveKind::Disk(disk) = &mut d.kind else {
        return Outcome::NONE;
    };
    match cmd {
        IDENTIFY => {
            let data = disk.identify(&serial(usize::from(d.select & 0x10 != 0)));
            d.status = status::DRDY;
            d.start_pio(data, Transfer::DataIn);
            Outcome::IRQ
        }
        READ_SECTORS | READ_SECTORS_NORETRY => start_read(d, medium, false, 1),
        READ_SECTORS_EXT => start_read(d, medium, true, 1),
        READ_MULTIPLE | READ_MULTIPLE_EXT => match disk.multiple {
            0 => fail(d, error::ABRT),
            m => start_read(d, medium, cmd == READ_MULTIPLE_EXT, u32::from(m)),
        },
        WRITE_SECTORS | WRITE_SECTORS_NORETRY => start_write(d, medium, false, 1),
        WRITE_SECTORS_EXT => start_write(d, medium, true, 1),
        WRITE_MULTIPLE | WRITE_MULTIPLE_EXT => match disk.multiple {
            0 => fail(d, error::ABRT),
            m => start_write(d, medium, cmd == WRITE_MULTIPLE_EXT, u32::from(m)),
        },
        READ_DMA | READ_DMA_NORETRY => start_dma(d, medium, false, false),
        READ_DMA_EXT => start_dma(d, medium, true, false),
        WRITE_DMA | WRITE_DMA_NORETRY => start_dma(d, medium, false, true),
        WRITE_DMA_EXT => start_dma(d, medium, true, true),
        READ_VERIFY | READ_VERIFY_NORETRY | READ_VERIFY_EXT => verify(d, medium, cmd == READ_VERIFY_EXT),
        SET_MULTIPLE => {
            let n = d.nsector;
            // 0 turns it off; otherwise a power of two up to the maximum.
            if n > MAX_MULTIPLE || (n != 0 && !n.is_power_of_two()) {
                return fail(d, error::ABRT);
            }
            disk.multiple = n;
            done(d)
        }
        SET_FEATURES => set_features(d),
        INITIALIZE_PARAMETERS => {
            let (heads, spt) = ((d.select & 0x0F) + 1, d.nsector);
            if spt == 0 {
                return fail(d, error::ABRT);
            }
            disk.cur_heads = heads;
            disk.cur_spt = spt;
            done(d)
        }
        0x10..=0x1F => {
            d.lcyl = 0;
            d.hcyl = 0;
            done(d)
        }
        0x70..=0x7F => match address(d, false) {
            Some(lba) if lba < disk_sectors(d) => done(d),
            _ => fail(d, error::IDNF),
        },
        FLUSH_CACHE | FLUSH_CACHE_EXT => match medium.as_mut().map(|m| m.flush()) {
            Some(Err(e)) => {
                log::warn!("IDE: flush failed: {e}");
                fail(d, error::ABRT)
            }
            _ => done(d),
        },
        STANDBY_IMMEDIATE | IDLE_IMMEDIATE | STANDBY | IDLE | SLEEP | 0x94..=0x99 => done(d),
        CHECK_POWER_MODE => {
            d.nsector = 0xFF; // active or idle
            done(d)
        }
        EXECUTE_DIAGNOSTIC => {
            d.set_signature();
            d.error = 0x01;
            done(d)
        }
        _ => fail(d, error::ABRT),
    }
}

/// Completion without data.
fn done(d: &mut Drive) -> Outcome {
    d.complete();
    Outcome::IRQ
}

/// Completion with an error.
pub(super) fn fail(d: &mut Drive, err: u8) -> Outcome {
    d.abort(err);
    Outcome::IRQ
}

fn disk_sectors(d: &Drive) -> u64 {
    match &d.kind {
        DriveKind::Disk(disk) => disk.sectors,
        _ => 0,
    }
}

/// The first sector the task file names: LBA (28 or 48 bits) or CHS in
/// the current geometry; `None` for an impossible CHS address.
fn address(d: &Drive, ext: bool) -> Option<u64> {
    if ext || d.select & super::SELECT_LBA != 0 {
        return Some(d.lba(ext));
    }
    let DriveKind::Disk(disk) = &d.kind else {
        return None;
    };
    let cyl = u64::from(d.lcyl) | u64::from(d.hcyl) << 8;
    let head = d.select & 0x0F;
    let sector = d.sector;
    if sector == 0 || sector > disk.cur_spt || head >= disk.cur_heads {
        return None;
    }
    Some((cyl * u64::from(disk.cur_heads) + u64::from(head)) * u64::from(disk.cur_spt) + u64::from(sector - 1))
}

/// Writes `lba` back to the task file in the addressing the command used.
fn set_address(d: &mut Drive, lba: u64, ext: bool) {
    if ext || d.select & super::SELECT_LBA != 0 {
        d.set_lba(lba, ext);
        return;
    }
    let DriveKind::Disk(disk) = &d.kind else {
        return;
    };
    let (heads, spt) = (u64::from(disk.cur_heads.max(1)), u64::from(disk.cur_spt.max(1)));
    let cyl = lba / (heads * spt);
    let head = (lba / spt) % heads;
    d.sector = (lba % spt + 1) as u8;
    d.lcyl = cyl as u8;
    d.hcyl = (cyl >> 8) as u8;
    d.select = (d.select & 0xF0) | head as u8;
}

/// The range a data command names, checked against the disk: (first
/// sector, count), or the error to end it with.
fn range(d: &Drive, ext: bool) -> Result<(u64, u32), u8> {
    let count = d.count(ext);
    match address(d, ext) {
        Some(lba) if lba + u64::from(count) <= disk_sectors(d) => Ok((lba, count)),
        _ => Err(error::IDNF),
    }
}

/// The error bits for a failed medium access.
fn medium_error(e: &BlockError) -> u8 {
    match e {
        BlockError::OutOfRange { .. } => error::IDNF,
        BlockError::ReadOnly => error::ABRT,
        _ => error::UNC,
    }
}

fn read_sectors(medium: &mut Media, lba: u64, buf: &mut [u8]) -> Result<(), u8> {
    let Some(m) = medium.as_mut() else {
        return Err(error::ABRT);
    };
    m.read_at(lba * SECTOR as u64, buf).map_err(|e| {
        log::warn!("IDE: read at sector {lba} failed: {e}");
        medium_error(&e)
    })
}

fn write_sectors(medium: &mut Media, lba: u64, data: &[u8]) -> Result<(), u8> {
    let Some(m) = medium.as_mut() else {
        return Err(error::ABRT);
    };
    if m.read_only() {
        return Err(error::ABRT);
    }
    m.write_at(lba * SECTOR as u64, data).map_err(|e| {
        log::warn!("IDE: write at sector {lba} failed: {e}");
        medium_error(&e)
    })
}

fn start_read(d: &mut Drive, medium: &mut Media, ext: bool, block: u32) -> Outcome {
    match range(d, ext) {
        Ok((lba, count)) => {
            d.ext = ext;
            next_read_block(d, medium, lba, count, block)
        }
        Err(e) => fail(d, e),
    }
}

/// Loads the next block of a PIO read (`left` sectors remain from `lba`)
/// and raises the interrupt for it; with nothing left, ends the command.
pub(super) fn next_read_block(d: &mut Drive, medium: &mut Media, lba: u64, left: u32, block: u32) -> Outcome {
    if left == 0 {
        d.complete();
        return Outcome::NONE;
    }
    let n = left.min(block.max(1));
    let mut data = vec![0u8; n as usize * SECTOR];
    let ext = d.ext;
    match read_sectors(medium, lba, &mut data) {
        Ok(()) => {
            set_address(d, lba + u64::from(n) - 1, ext);
            d.status = status::DRDY;
            d.start_pio(data, Transfer::ReadPio { lba: lba + u64::from(n), left: left - n, block });
            Outcome::IRQ
        }
        Err(e) => {
            set_address(d, lba, ext);
            fail(d, e)
        }
    }
}

fn start_write(d: &mut Drive, medium: &mut Media, ext: bool, block: u32) -> Outcome {
    let (lba, count) = match range(d, ext) {
        Ok(r) => r,
        Err(e) => return fail(d, e),
    };
    if medium.as_ref().is_none_or(|m| m.read_only()) {
        return fail(d, error::ABRT);
    }
    d.ext = ext;
    let n = count.min(block.max(1));
    d.status = status::DRDY;
    d.start_pio(vec![0; n as usize * SECTOR], Transfer::WritePio { lba, left: count - n, block });
    // The first block is asked for without an interrupt (PIO data-out
    // protocol, ATA/ATAPI-6 9.8).
    Outcome::NONE
}

/// The buffer of a PIO write is full: writes it to `lba`, then asks for
/// the next block or ends the command, with an interrupt either way.
pub(super) fn write_block(d: &mut Drive, medium: &mut Media, lba: u64, left: u32, block: u32) -> Outcome {
    let data = std::mem::take(&mut d.buf);
    let n = (data.len() / SECTOR) as u64;
    let ext = d.ext;
    if let Err(e) = write_sectors(medium, lba, &data) {
        set_address(d, lba, ext);
        return fail(d, e);
    }
    set_address(d, lba + n - 1, ext);
    if left == 0 {
        d.complete();
        return Outcome::IRQ;
    }
    let m = left.min(block.max(1));
    d.status = status::DRDY;
    d.start_pio(vec![0; m as usize * SECTOR], Transfer::WritePio { lba: lba + n, left: left - m, block });
    Outcome::IRQ
}

fn start_dma(d: &mut Drive, medium: &mut Media, ext: bool, write: bool) -> Outcome {
    let (lba, count) = match range(d, ext) {
        Ok(r) => r,
        Err(e) => return fail(d, e),
    };
    if write && medium.as_ref().is_none_or(|m| m.read_only()) {
        return fail(d, error::ABRT);
    }
    d.ext = ext;
    d.buf.clear();
    d.pos = 0;
    d.transfer = Transfer::Dma { lba, count, write };
    d.status = status::DRDY | status::DSC | status::DRQ;
    Outcome { irq: false, dma: true }
}

/// Moves a DMA command's sectors through the bus master, then completes
/// it: the data first, then the status, then the interrupt.
pub(super) fn run_dma(
    d: &mut Drive,
    bm: &mut BusMaster,
    mem: &mut PhysMem,
    medium: &mut Media,
    lba: u64,
    count: u32,
    write: bool,
) -> Outcome {
    let total = u64::from(count) * SECTOR as u64;
    let base = lba * SECTOR as u64;
    let ext = d.ext;
    let (end, result) = if write {
        bm.transfer(mem, total, |off, buf| write_sectors(medium, (base + off) / SECTOR as u64, buf), false)
    } else {
        bm.transfer(mem, total, |off, buf| read_at(medium, base + off, buf), true)
    };
    match (end, result) {
        (_, Err(e)) => fail(d, e),
        (PrdEnd::Short, Ok(())) => {
            log::debug!("IDE: the PRD table ended before the {total}-byte transfer");
            fail(d, error::ABRT)
        }
        (_, Ok(())) => {
            set_address(d, lba + u64::from(count) - 1, ext);
            done(d)
        }
    }
}

/// Reads bytes at a byte offset (a DMA chunk may split a sector).
fn read_at(medium: &mut Media, offset: u64, buf: &mut [u8]) -> Result<(), u8> {
    let Some(m) = medium.as_mut() else {
        return Err(error::ABRT);
    };
    m.read_at(offset, buf).map_err(|e| {
        log::warn!("IDE: read at byte {offset} failed: {e}");
        medium_error(&e)
    })
}

fn verify(d: &mut Drive, medium: &mut Media, ext: bool) -> Outcome {
    match range(d, ext) {
        Ok((lba, count)) => {
            let mut buf = vec![0u8; SECTOR];
            for s in lba..lba + u64::from(count) {
                if let Err(e) = read_sectors(medium, s, &mut buf) {
                    set_address(d, s, ext);
                    return fail(d, e);
                }
            }
            set_address(d, lba + u64::from(count) - 1, ext);
            done(d)
        }
        Err(e) => fail(d, e),
    }
}

fn set_features(d: &mut Drive) -> Outcome {
    let (sub, value) = (d.feature, d.nsector);
    let DriveKind::Disk(disk) = &mut d.kind else {
        return fail(d, error::ABRT);
    };
    match sub {
        SF_TRANSFER_MODE => {
            let ok = match value >> 3 {
                0 | 1 => value & 7 <= 4, // PIO default / PIO flow control 0-4
                4 => value & 7 <= 2,     // multiword DMA 0-2
                8 => value & 7 <= 5,     // UDMA 0-5
                _ => false,
            };
            if !ok {
                return fail(d, error::ABRT);
            }
            disk.xfer_mode = value;
            done(d)
        }
        s if SF_ACCEPTED.contains(&s) => done(d),
        _ => fail(d, error::ABRT),
    }
}
