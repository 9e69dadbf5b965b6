//! ATAPI CD-ROM drives: the PACKET command protocol (SFF-8020i 2.6, and
//! ATA/ATAPI-6 9.10-9.11: command packet, byte count limit in the cylinder
//! registers, interrupt reason in the sector count) and the SCSI/MMC
//! commands SeaBIOS, Linux's `sr`/`cdrom` and udev send (SPC-3 for
//! INQUIRY, REQUEST SENSE, TEST UNIT READY, MODE SELECT/SENSE; MMC-2 and
//! MMC-5 for READ CAPACITY, READ(10/12), READ TOC/PMA/ATIP, GET
//! CONFIGURATION, GET EVENT STATUS NOTIFICATION, READ DISC INFORMATION,
//! START STOP UNIT, PREVENT ALLOW MEDIUM REMOVAL, SET CD SPEED, MECHANISM
//! STATUS). One data track from LBA 0; 2048-byte blocks.

use super::ata::{self, cmd, fail};
use super::{error, identify_bytes, put_string, status, BusMaster, Drive, DriveKind, Media, Outcome, Source, Transfer};
use crate::ide::busmaster::PrdEnd;
use ironpc_mmu::PhysMem;
use serde::{Deserialize, Serialize};

pub const BLOCK: u64 = 2048;
pub const MODEL: &str = "IRONPC DVD-ROM";
const VENDOR: &[u8; 8] = b"IRONPC  ";
const PRODUCT: &[u8; 16] = b"IRONPC DVD-ROM  ";
const REVISION: &[u8; 4] = b"1.0 ";
/// The most 2048-byte blocks a CD holds (80 minutes at 75 a second);
/// larger media are DVDs.
const CD_MAX_BLOCKS: u64 = 80 * 60 * 75;

/// Interrupt reason (sector count register) bits.
const IR_COD: u8 = 0x01;
const IR_IO: u8 = 0x02;

/// SCSI/MMC operation codes.
pub mod op {
    pub const TEST_UNIT_READY: u8 = 0x00;
    pub const REQUEST_SENSE: u8 = 0x03;
    pub const INQUIRY: u8 = 0x12;
    pub const MODE_SELECT_6: u8 = 0x15;
    pub const START_STOP_UNIT: u8 = 0x1B;
    pub const PREVENT_ALLOW: u8 = 0x1E;
    pub const READ_CAPACITY: u8 = 0x25;
    pub const READ_10: u8 = 0x28;
    pub const SEEK_10: u8 = 0x2B;
    pub const READ_TOC: u8 = 0x43;
    pub const GET_CONFIGURATION: u8 = 0x46;
    pub const GET_EVENT_STATUS: u8 = 0x4A;
    pub const READ_DISC_INFO: u8 = 0x51;
    pub const MODE_SELECT_10: u8 = 0x55;
    pub const MODE_SENSE_10: u8 = 0x5A;
    pub const READ_12: u8 = 0xA8;
    pub const SET_CD_SPEED: u8 = 0xBB;
    pub const MECHANISM_STATUS: u8 = 0xBD;
}

/// Sense keys and (ASC, ASCQ) pairs used (SPC-3 4.5.6, annex D).
pub mod sense {
    pub const NO_SENSE: u8 = 0x0;
    pub const NOT_READY: u8 = 0x2;
    pub const MEDIUM_ERROR: u8 = 0x3;
    pub const ILLEGAL_REQUEST: u8 = 0x5;
    pub const UNIT_ATTENTION: u8 = 0x6;
    pub const MEDIUM_NOT_PRESENT: (u8, u8) = (0x3A, 0x00);
    pub const MEDIUM_MAY_HAVE_CHANGED: (u8, u8) = (0x28, 0x00);
    pub const INVALID_OPCODE: (u8, u8) = (0x20, 0x00);
    pub const LBA_OUT_OF_RANGE: (u8, u8) = (0x21, 0x00);
    pub const INVALID_FIELD_IN_CDB: (u8, u8) = (0x24, 0x00);
    pub const SAVING_NOT_SUPPORTED: (u8, u8) = (0x39, 0x00);
    pub const REMOVAL_PREVENTED: (u8, u8) = (0x53, 0x02);
    pub const UNRECOVERED_READ_ERROR: (u8, u8) = (0x11, 0x00);
}

/// GET EVENT STATUS NOTIFICATION media event codes (MMC-5 table 1).
const EV_NONE: u8 = 0;
const EV_NEW_MEDIA: u8 = 2;
const EV_MEDIA_REMOVAL: u8 = 3;
/// Notification class: media (bit 4 of the class request; code 4).
const CLASS_MEDIA: u8 = 0x10;

/// A CD-ROM drive's own state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Cdrom {
    pub tray_open: bool,
    /// PREVENT ALLOW MEDIUM REMOVAL: the guest refuses ejection.
    pub locked: bool,
    /// Sense key, ASC, ASCQ of the last CHECK CONDITION.
    pub sense: (u8, u8, u8),
    /// The medium changed since the guest last looked.
    pub unit_attention: bool,
    /// Media event for GET EVENT STATUS NOTIFICATION.
    pub event: u8,
    /// DMA requested by the current PACKET command (Features bit 0).
    pub dma: bool,
}

impl Cdrom {
    /// Reset clears the lock (MMC: PREVENT is cleared by a power-on or
    /// hard reset).
    pub fn reset(&mut self) {
        self.locked = false;
    }

    /// The host put a medium in (closing the tray) or took it out.
    pub fn medium_changed(&mut self, present: bool) {
        self.tray_open = false;
        self.unit_attention = true;
        self.event = if present { EV_NEW_MEDIA } else { EV_MEDIA_REMOVAL };
    }
}

fn ready(c: &Cdrom, medium: &Media) -> bool {
    medium.is_some() && !c.tray_open
}

/// Blocks on the medium (0 without one).
fn blocks(medium: &Media) -> u64 {
    medium.as_ref().map_or(0, |m| m.size() / BLOCK)
}

/// IDENTIFY PACKET DEVICE data (ATA/ATAPI-6 table 30).
pub fn identify(serial: &str) -> Vec<u8> {
    let mut w = [0u16; 256];
    // ATAPI, CD-ROM (type 5), removable, DRQ within 50 µs, 12-byte packets.
    w[0] = 2 << 14 | 5 << 8 | 1 << 7 | 2 << 5;
    put_string(&mut w[10..20], serial);
    w[20] = 3;
    w[21] = 512;
    put_string(&mut w[23..27], ata::FIRMWARE);
    put_string(&mut w[27..47], MODEL);
    w[48] = 1;
    w[49] = 1 << 9 | 1 << 8; // LBA, DMA
    w[53] = 7;
    w[62] = 7;
    w[63] = 7;
    w[64] = 3;
    w[65] = 0xB4;
    w[66] = 0xB4;
    w[67] = 0x12C;
    w[68] = 0xB4;
    w[71] = 30;
    w[72] = 30;
    w[80] = 0x1E; // ATA/ATAPI-1 to -4
    w[88] = 0x3F | 1 << (5 + 8);
    w[93] = 1 | 1 << 14 | 1 << 13;
    identify_bytes(w)
}

/// An ATA command to the CD drive.
pub fn command(d: &mut Drive, command: u8) -> Outcome {
    d.error = 0;
    match command {
        cmd::PACKET => {
            let dma = d.feature & 1 != 0;
            if let DriveKind::Cdrom(c) = &mut d.kind {
                c.dma = dma;
            }
            d.byte_limit = u16::from(d.lcyl) | u16::from(d.hcyl) << 8;
            d.nsector = (d.nsector & 0xF8) | IR_COD;
            d.status = status::DRDY;
            d.start_pio(vec![0; 12], Transfer::PacketCdb);
            Outcome::NONE
        }
        cmd::IDENTIFY_PACKET => {
            d.status = status::DRDY;
            d.start_pio(identify(&ata::serial(usize::from(d.select & 0x10 != 0) + 2)), Transfer::DataIn);
            Outcome::IRQ
        }
        cmd::DEVICE_RESET => {
            d.reset();
            Outcome::NONE
        }
        cmd::EXECUTE_DIAGNOSTIC => {
            d.reset();
            Outcome::IRQ
        }
        cmd::SET_FEATURES | cmd::IDLE_IMMEDIATE | cmd::STANDBY_IMMEDIATE | cmd::SLEEP => {
            d.complete();
            Outcome::IRQ
        }
        cmd::CHECK_POWER_MODE => {
            d.nsector = 0xFF;
            d.complete();
            Outcome::IRQ
        }
        // The ATA read/identify commands tell drivers they met a PACKET
        // device: signature, then abort.
        cmd::IDENTIFY | cmd::READ_SECTORS | cmd::READ_SECTORS_NORETRY => {
            d.set_signature();
            fail(d, error::ABRT)
        }
        _ => fail(d, error::ABRT),
    }
}

/// Ends a packet command with CHECK CONDITION and this sense.
fn check(d: &mut Drive, key: u8, (asc, ascq): (u8, u8)) -> Outcome {
    if let DriveKind::Cdrom(c) = &mut d.kind {
        c.sense = (key, asc, ascq);
    }
    d.end_transfer();
    d.error = key << 4;
    d.status = status::DRDY | status::ERR;
    d.nsector = (d.nsector & 0xF8) | IR_IO | IR_COD;
    Outcome::IRQ
}

/// Ends a packet command with GOOD status.
fn good(d: &mut Drive) -> Outcome {
    if let DriveKind::Cdrom(c) = &mut d.kind {
        c.sense = (sense::NO_SENSE, 0, 0);
    }
    d.end_transfer();
    d.error = 0;
    d.status = status::DRDY | status::DSC;
    d.nsector = (d.nsector & 0xF8) | IR_IO | IR_COD;
    Outcome::IRQ
}

fn be16(b: &[u8]) -> u16 {
    u16::from_be_bytes([b[0], b[1]])
}

fn be32(b: &[u8]) -> u32 {
    u32::from_be_bytes([b[0], b[1], b[2], b[3]])
}

/// Commands a pending unit attention does not stop (SPC-3 5.8.7; MMC's
/// event polling must see the change too).
fn allowed_with_unit_attention(opcode: u8) -> bool {
    matches!(opcode, op::INQUIRY | op::REQUEST_SENSE | op::GET_CONFIGURATION | op::GET_EVENT_STATUS)
}

/// Commands that need a medium.
fn needs_medium(opcode: u8) -> bool {
    matches!(
        opcode,
        op::TEST_UNIT_READY | op::READ_CAPACITY | op::READ_10 | op::READ_12 | op::SEEK_10 | op::READ_TOC | op::READ_DISC_INFO
    )
}

/// The command packet is in: execute it.
pub(super) fn packet(d: &mut Drive, medium: &mut Media) -> Outcome {
    let mut cdb = [0u8; 12];
    let n = d.buf.len().min(12);
    cdb[..n].copy_from_slice(&d.buf[..n]);
    let DriveKind::Cdrom(c) = &mut d.kind else {
        return fail(d, error::ABRT);
    };
    let opcode = cdb[0];
    if c.unit_attention && !allowed_with_unit_attention(opcode) {
        c.unit_attention = false;
        return check(d, sense::UNIT_ATTENTION, sense::MEDIUM_MAY_HAVE_CHANGED);
    }
    if needs_medium(opcode) && !ready(c, medium) {
        return check(d, sense::NOT_READY, sense::MEDIUM_NOT_PRESENT);
    }
    let nblocks = blocks(medium);
    match opcode {
        op::TEST_UNIT_READY | op::SEEK_10 | op::SET_CD_SPEED => good(d),
        op::REQUEST_SENSE => {
            let (key, asc, ascq) = if std::mem::take(&mut c.unit_attention) {
                (sense::UNIT_ATTENTION, sense::MEDIUM_MAY_HAVE_CHANGED.0, sense::MEDIUM_MAY_HAVE_CHANGED.1)
            } else {
                c.sense
            };
            c.sense = (sense::NO_SENSE, 0, 0);
            let mut r = vec![0u8; 18];
            r[0] = 0x70 | 0x80; // current errors, valid
            r[2] = key;
            r[7] = 10;
            r[12] = asc;
            r[13] = ascq;
            reply(d, r, usize::from(cdb[4]))
        }
        op::INQUIRY => {
            if cdb[1] & 1 != 0 {
                // No vital product data pages.
                return check(d, sense::ILLEGAL_REQUEST, sense::INVALID_FIELD_IN_CDB);
            }
            let mut r = vec![0u8; 36];
            r[0] = 0x05; // CD/DVD device
            r[1] = 0x80; // removable
            r[2] = 0x00; // no SCSI standard claimed, as ATAPI drives report
            r[3] = 0x21; // ATAPI version 2, response data format 1
            r[4] = 36 - 5;
            r[8..16].copy_from_slice(VENDOR);
            r[16..32].copy_from_slice(PRODUCT);
            r[32..36].copy_from_slice(REVISION);
            reply(d, r, usize::from(be16(&cdb[3..5])))
        }
        op::MODE_SELECT_6 | op::MODE_SELECT_10 => {
            let len = if opcode == op::MODE_SELECT_6 { u64::from(cdb[4]) } else { u64::from(be16(&cdb[7..9])) };
            next_out_chunk(d, len)
        }
        op::MODE_SENSE_10 => mode_sense(d, &cdb),
        op::START_STOP_UNIT => {
            let (start, loej) = (cdb[4] & 1 != 0, cdb[4] & 2 != 0);
            if loej {
                if !start && c.locked {
                    return check(d, sense::NOT_READY, sense::REMOVAL_PREVENTED);
                }
                if !start && !c.tray_open {
                    c.tray_open = true;
                    c.event = EV_MEDIA_REMOVAL;
                } else if start && c.tray_open {
                    c.tray_open = false;
                    if medium.is_some() {
                        c.event = EV_NEW_MEDIA;
                        c.unit_attention = true;
                    }
                }
            }
            good(d)
        }
        op::PREVENT_ALLOW => {
            c.locked = cdb[4] & 1 != 0;
            good(d)
        }
        op::READ_CAPACITY => {
            let last = nblocks.saturating_sub(1).min(u64::from(u32::MAX)) as u32;
            let mut r = last.to_be_bytes().to_vec();
            r.extend_from_slice(&(BLOCK as u32).to_be_bytes());
            reply(d, r, 8)
        }
        op::READ_10 | op::READ_12 => {
            let lba = u64::from(be32(&cdb[2..6]));
            let count = if opcode == op::READ_10 { u64::from(be16(&cdb[7..9])) } else { u64::from(be32(&cdb[6..10])) };
            if lba + count > nblocks {
                return check(d, sense::ILLEGAL_REQUEST, sense::LBA_OUT_OF_RANGE);
            }
            if count == 0 {
                return good(d);
            }
            start_data_in(d, medium, Source::Medium { offset: lba * BLOCK }, count * BLOCK)
        }
        op::READ_TOC => match read_toc(&cdb, nblocks) {
            Some(r) => reply(d, r, usize::from(be16(&cdb[7..9]))),
            None => check(d, sense::ILLEGAL_REQUEST, sense::INVALID_FIELD_IN_CDB),
        },
        op::GET_CONFIGURATION => {
            let r = configuration(if ready(c, medium) { Some(nblocks) } else { None });
            reply(d, r, usize::from(be16(&cdb[7..9])))
        }
        op::GET_EVENT_STATUS => {
            if cdb[1] & 1 == 0 {
                // Only polled operation is supported.
                return check(d, sense::ILLEGAL_REQUEST, sense::INVALID_FIELD_IN_CDB);
            }
            let r = if cdb[4] & CLASS_MEDIA != 0 {
                let ev = std::mem::replace(&mut c.event, EV_NONE);
                let present = u8::from(ready(c, medium)) << 1;
                vec![0, 6, 0x04, CLASS_MEDIA, ev, present | u8::from(c.tray_open), 0, 0]
            } else {
                // No event of the requested classes (NEA).
                vec![0, 2, 0x80, CLASS_MEDIA]
            };
            reply(d, r, usize::from(be16(&cdb[7..9])))
        }
        op::READ_DISC_INFO => {
            if cdb[1] & 7 != 0 {
                return check(d, sense::ILLEGAL_REQUEST, sense::INVALID_FIELD_IN_CDB);
            }
            let mut r = vec![0u8; 34];
            r[1] = 32; // length after this field
            r[2] = 0x0E; // last session complete, disc finalized
            r[3] = 1; // first track
            r[4] = 1; // sessions
            r[5] = 1; // first track of the last session
            r[6] = 1; // last track of the last session
            r[7] = 0x20; // unrestricted use
            r[8] = 0x00; // CD-DA or CD-ROM
                         // No last session lead-in / last possible lead-out: all ones.
            r[16..24].fill(0xFF);
            reply(d, r, usize::from(be16(&cdb[7..9])))
        }
        op::MECHANISM_STATUS => {
            let mut r = vec![0u8; 8];
            r[1] = u8::from(c.tray_open) << 4;
            reply(d, r, usize::from(be16(&cdb[8..10])))
        }
        _ => check(d, sense::ILLEGAL_REQUEST, sense::INVALID_OPCODE),
    }
}

/// Sends a command's reply, cut to the allocation length.
fn reply(d: &mut Drive, mut data: Vec<u8>, alloc: usize) -> Outcome {
    data.truncate(alloc);
    if data.is_empty() {
        return good(d);
    }
    let len = data.len() as u64;
    start_data_in(d, &mut None, Source::Reply { data, at: 0 }, len)
}

fn start_data_in(d: &mut Drive, medium: &mut Media, src: Source, len: u64) -> Outcome {
    let dma = matches!(&d.kind, DriveKind::Cdrom(c) if c.dma);
    if let DriveKind::Cdrom(c) = &mut d.kind {
        c.sense = (sense::NO_SENSE, 0, 0);
    }
    if dma {
        d.buf.clear();
        d.pos = 0;
        d.transfer = Transfer::PacketIn { src, left: len, dma: true };
        d.status = status::DRDY | status::DSC | status::DRQ;
        d.nsector = (d.nsector & 0xF8) | IR_IO;
        return Outcome { irq: false, dma: true };
    }
    next_chunk(d, medium, src, len, false)
}

/// The bytes a PIO data phase may move in one DRQ block: the byte count
/// limit, even, and never 0 (SFF-8020i 5.1.4.1).
fn chunk_limit(limit: u16) -> u64 {
    match limit & !1 {
        0 => 0xFFFE,
        n => u64::from(n),
    }
}

/// Reads `buf.len()` bytes of `src` at `offset` bytes into it.
fn fill(src: &Source, medium: &mut Media, offset: u64, buf: &mut [u8]) -> Result<(), ()> {
    match src {
        Source::Reply { data, at } => {
            let start = at.saturating_add(offset as usize);
            let part = data.get(start..start + buf.len()).ok_or(())?;
            buf.copy_from_slice(part);
            Ok(())
        }
        Source::Medium { offset: base } => {
            let m = medium.as_mut().ok_or(())?;
            m.read_at(base + offset, buf).map_err(|e| log::warn!("ATAPI: read at byte {} failed: {e}", base + offset))
        }
    }
}

fn advance(src: Source, n: u64) -> Source {
    match src {
        Source::Reply { data, at } => Source::Reply { data, at: at + n as usize },
        Source::Medium { offset } => Source::Medium { offset: offset + n },
    }
}

/// The next DRQ block of a PIO data-in phase (`left` bytes of `src`), or
/// the command's completion when nothing is left.
pub(super) fn next_chunk(d: &mut Drive, medium: &mut Media, src: Source, left: u64, _dma: bool) -> Outcome {
    if left == 0 {
        return good(d);
    }
    let n = left.min(chunk_limit(d.byte_limit));
    let mut data = vec![0u8; n as usize];
    if fill(&src, medium, 0, &mut data).is_err() {
        return check(d, sense::MEDIUM_ERROR, sense::UNRECOVERED_READ_ERROR);
    }
    d.lcyl = n as u8;
    d.hcyl = (n >> 8) as u8;
    d.nsector = (d.nsector & 0xF8) | IR_IO;
    d.status = status::DRDY | status::DSC;
    d.start_pio(data, Transfer::PacketIn { src: advance(src, n), left: left - n, dma: false });
    Outcome::IRQ
}

/// The next DRQ block of a data-out phase, whose bytes are taken and
/// dropped (MODE SELECT changes nothing here).
pub(super) fn next_out_chunk(d: &mut Drive, left: u64) -> Outcome {
    if left == 0 {
        return good(d);
    }
    let n = left.min(chunk_limit(d.byte_limit));
    d.lcyl = n as u8;
    d.hcyl = (n >> 8) as u8;
    d.nsector &= 0xF8;
    d.status = status::DRDY | status::DSC;
    d.start_pio(vec![0; n as usize], Transfer::PacketOut { left: left - n });
    Outcome::IRQ
}

/// A data-in phase by DMA: moves all of it, then completes the command.
pub(super) fn run_dma(
    d: &mut Drive,
    bm: &mut BusMaster,
    mem: &mut PhysMem,
    medium: &mut Media,
    src: Source,
    left: u64,
) -> Outcome {
    let (end, result) = bm.transfer(mem, left, |off, buf| fill(&src, medium, off, buf), true);
    match (end, result) {
        (_, Err(())) => check(d, sense::MEDIUM_ERROR, sense::UNRECOVERED_READ_ERROR),
        (PrdEnd::Short, _) => check(d, sense::ILLEGAL_REQUEST, sense::INVALID_FIELD_IN_CDB),
        _ => good(d),
    }
}

/// `lba` as MSF (minutes, seconds, frames; 2 seconds of lead-in).
fn msf(lba: u64) -> [u8; 3] {
    let f = lba + 150;
    [(f / (75 * 60)).min(0xFF) as u8, (f / 75 % 60) as u8, (f % 75) as u8]
}

/// An address field of READ TOC: LBA or 0/M/S/F.
fn address(lba: u64, as_msf: bool) -> [u8; 4] {
    if as_msf {
        let [m, s, f] = msf(lba);
        [0, m, s, f]
    } else {
        (lba as u32).to_be_bytes()
    }
}

/// READ TOC/PMA/ATIP reply (MMC-2 5.20): formats 0 (TOC), 1 (session
/// information) and 2 (full TOC), for one data track and the lead-out.
pub fn read_toc(cdb: &[u8; 12], nblocks: u64) -> Option<Vec<u8>> {
    let as_msf = cdb[1] & 2 != 0;
    // The format is in byte 2; old drivers put it in bits 7:6 of byte 9.
    let format = match cdb[2] & 0x0F {
        0 => cdb[9] >> 6,
        f => f,
    };
    let track = cdb[6];
    let mut r = vec![0, 0, 1, 1];
    match format {
        0 => {
            if track > 1 && track != 0xAA {
                return None;
            }
            if track <= 1 {
                r.extend_from_slice(&[0, 0x14, 1, 0]);
                r.extend_from_slice(&address(0, as_msf));
            }
            r.extend_from_slice(&[0, 0x16, 0xAA, 0]);
            r.extend_from_slice(&address(nblocks, as_msf));
        }
        1 => {
            r.extend_from_slice(&[0, 0x14, 1, 0]);
            r.extend_from_slice(&address(0, as_msf));
        }
        2 => {
            // Session 1: points A0 (first track), A1 (last track), A2
            // (lead-out start) and track 1; P-MSF as the TOC says.
            let [lm, ls, lf] = msf(nblocks);
            for (point, p) in [(0xA0, [1, 0, 0]), (0xA1, [1, 0, 0]), (0xA2, [lm, ls, lf]), (1, msf(0))] {
                r.extend_from_slice(&[1, 0x14, 0, point, 0, 0, 0, 0]);
                r.extend_from_slice(&p);
            }
        }
        _ => return None,
    }
    let len = (r.len() - 2) as u16;
    r[..2].copy_from_slice(&len.to_be_bytes());
    Some(r)
}

/// GET CONFIGURATION reply (MMC-5 5.3.3): the header with the current
/// profile (CD-ROM 0008h or DVD-ROM 0010h, none without a medium), the
/// profile list and the core feature (ATAPI interface).
pub fn configuration(medium_blocks: Option<u64>) -> Vec<u8> {
    const PROFILE_CD: u16 = 0x0008;
    const PROFILE_DVD: u16 = 0x0010;
    let current = match medium_blocks {
        Some(n) if n > CD_MAX_BLOCKS => PROFILE_DVD,
        Some(_) => PROFILE_CD,
        None => 0,
    };
    let mut r = vec![0u8; 8];
    r[6..8].copy_from_slice(&current.to_be_bytes());
    // Feature 0000h: profile list, persistent and current.
    r.extend_from_slice(&[0, 0, 0x03, 8]);
    for p in [PROFILE_DVD, PROFILE_CD] {
        r.extend_from_slice(&p.to_be_bytes());
        r.extend_from_slice(&[u8::from(p == current), 0]);
    }
    // Feature 0001h: core, version 1, physical interface 2 (ATAPI).
    r.extend_from_slice(&[0, 1, 0x07, 8, 0, 0, 0, 2, 0, 0, 0, 0]);
    let len = (r.len() - 4) as u32;
    r[..4].copy_from_slice(&len.to_be_bytes());
    r
}

/// Mode pages (MMC-2 5.5 and 6): read/write error recovery (01h), CD
/// device parameters (0Dh), CD audio control (0Eh), capabilities and
/// mechanical status (2Ah).
fn mode_page(code: u8, locked: bool) -> Option<Vec<u8>> {
    Some(match code {
        0x01 => vec![0x01, 0x06, 0x00, 0x05, 0, 0, 0, 0],
        0x0D => vec![0x0D, 0x06, 0, 0, 0, 60, 0, 75],
        0x0E => vec![0x0E, 0x0E, 0x04, 0, 0, 0, 0, 0, 0x01, 0xFF, 0x02, 0xFF, 0, 0, 0, 0],
        0x2A => {
            let mut p = vec![0u8; 20];
            p[0] = 0x2A;
            p[1] = 18;
            p[2] = 0x00; // reads CD-ROM only (no CD-R/RW, DVD-R/RAM bits)
            p[4] = 0x71; // audio play, mode 2 form 1 and 2, multi-session
            p[5] = 0x00;
            // Lock supported, lock state, eject, tray loading mechanism.
            p[6] = 0x01 | u8::from(locked) << 1 | 0x08 | 1 << 5;
            p[7] = 0x03; // separate volume and channel mute
            p[8..10].copy_from_slice(&706u16.to_be_bytes()); // max speed KB/s (4x)
            p[10..12].copy_from_slice(&256u16.to_be_bytes()); // volume levels
            p[12..14].copy_from_slice(&512u16.to_be_bytes()); // buffer KiB
            p[14..16].copy_from_slice(&706u16.to_be_bytes()); // current speed
            p
        }
        _ => return None,
    })
}

fn mode_sense(d: &mut Drive, cdb: &[u8; 12]) -> Outcome {
    let locked = matches!(&d.kind, DriveKind::Cdrom(c) if c.locked);
    let (control, code) = (cdb[2] >> 6, cdb[2] & 0x3F);
    if control == 3 {
        return check(d, sense::ILLEGAL_REQUEST, sense::SAVING_NOT_SUPPORTED);
    }
    let pages: Vec<Vec<u8>> = if code == 0x3F {
        [0x01, 0x0D, 0x0E, 0x2A].into_iter().filter_map(|c| mode_page(c, locked)).collect()
    } else {
        match mode_page(code, locked) {
            Some(p) => vec![p],
            None => return check(d, sense::ILLEGAL_REQUEST, sense::INVALID_FIELD_IN_CDB),
        }
    };
    // Header: mode data length, medium type (120 mm data disc or none:
    // the type is informative only), no block descriptors.
    let mut r = vec![0u8; 8];
    r[2] = 0x70;
    for mut p in pages {
        if control == 1 {
            // Changeable values: none.
            p[2..].fill(0);
        }
        r.extend_from_slice(&p);
    }
    let len = (r.len() - 2) as u16;
    r[..2].copy_from_slice(&len.to_be_bytes());
    reply(d, r, usize::from(be16(&cdb[7..9])))
}
