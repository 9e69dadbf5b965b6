//! The Intel 82077AA floppy disk controller in PC/AT mode (Intel 82077AA
//! CHMOS Single-Chip Floppy Disk Controller datasheet, 290166: section 2
//! registers, section 5 command set, table 5-1 status registers ST0-ST3)
//! at 0x3F0-0x3F5 and 0x3F7 (0x3F6 is the IDE controller's), interrupt 6,
//! DMA channel 2, with up to four drives of which the PC wires two.
//!
//! A command runs to completion when its last byte is written: a seek is
//! over at once, a DMA transfer moves every sector through the 8237 then
//! and there, and the interrupt is raised before the CPU's next
//! instruction. Guests wait for the interrupt after the last byte
//! (SeaBIOS's `floppy_wait_irq` clears its flag first, then waits; IF is
//! clear meanwhile, so the PIC holds the request), so no delay is needed.
//! In non-DMA mode (SPECIFY's ND bit) the execution phase goes through the
//! FIFO a byte at a time (with the FIFO off, an interrupt per byte); there
//! is no terminal count, so a transfer ends at EOT (ST1 EN) or when the
//! host stops serving the FIFO: after [`PIO_OVERRUN_NS`] without a byte the
//! controller ends the command with an overrun (ST1 OR), a deadline the
//! board runs ([`Fdc::advance`]). Linux's pseudo-DMA reads what it asked
//! for with MT set and relies on that overrun to end a read that would go
//! on to side 1.
//!
//! Media are raw images ([`BlockDevice`]) of the PC formats; the geometry
//! comes from the image size ([`MediaFormat::for_size`]). Every sector ID
//! on a track carries the physical cylinder and head, sectors 1..=spt of
//! 512 bytes (N = 2) in MFM: a command naming another cylinder, head,
//! sector or size finds no sector (ST1 ND, with ST2 WC for a cylinder
//! mismatch) and a data rate other than the medium's finds no address mark
//! at all (ST1 MA), which is how SeaBIOS and Linux probe the format.
//!
//! Departures from the chip, for the guests' sake: the INT and DRQ pins are
//! not gated by DOR bit 3 (SeaBIOS enables the controller with DOR = 0x04
//! and waits for the reset interrupt, as QEMU allows); the motor need not
//! be on for a transfer; the reset's four drive-polling statuses are
//! dropped when a command other than SENSE INTERRUPT STATUS comes first
//! (SeaBIOS senses once). PART ID answers 0x41, as the 82078 (stepping 1)
//! does; on an early 82077AA it is an invalid command.

use crate::dma8237::Dma8237;
use ironpc_block::{BlockDevice, BlockError, SECTOR};
use ironpc_mmu::PhysMem;
use serde::{Deserialize, Serialize};

/// The interrupt line and DMA channel of the primary controller.
pub const IRQ: u8 = 6;
pub const DMA_CHANNEL: usize = 2;
/// The primary controller's base port.
pub const BASE: u16 = 0x3F0;

/// Whether the controller decodes `port` (0x3F6 is left to IDE).
pub fn decodes(port: u16) -> bool {
    matches!(port, 0x3F0..=0x3F5 | 0x3F7)
}

/// Register offsets from [`BASE`].
const SRA: u16 = 0;
const SRB: u16 = 1;
const DOR: u16 = 2;
const TDR: u16 = 3;
const MSR_DSR: u16 = 4;
const FIFO: u16 = 5;
const DIR_CCR: u16 = 7;

/// DOR bits.
const DOR_NRESET: u8 = 0x04;
const DOR_MOTOR0: u8 = 0x10;

/// DSR bit 7: software reset, self-clearing.
const DSR_RESET: u8 = 0x80;

/// MSR bits.
const MSR_RQM: u8 = 0x80;
const MSR_DIO: u8 = 0x40;
const MSR_NDMA: u8 = 0x20;
const MSR_CB: u8 = 0x10;

/// ST0 bits (table 5-1).
const ST0_ABNORMAL: u8 = 0x40;
const ST0_INVALID: u8 = 0x80;
const ST0_POLLED: u8 = 0xC0;
const ST0_SE: u8 = 0x20;
const ST0_EC: u8 = 0x10;
/// ST1 bits.
const ST1_EN: u8 = 0x80;
const ST1_DE: u8 = 0x20;
const ST1_OR: u8 = 0x10;
const ST1_ND: u8 = 0x04;
const ST1_NW: u8 = 0x02;
const ST1_MA: u8 = 0x01;
/// ST2 bits.
const ST2_DD: u8 = 0x20;
const ST2_WC: u8 = 0x10;
const ST2_BC: u8 = 0x02;
/// ST3 bits: bits 5 and 3 always read 1 on the 82077AA.
const ST3_WP: u8 = 0x40;
const ST3_ONES: u8 = 0x28;
const ST3_T0: u8 = 0x10;

/// VERSION's answer: the enhanced controller.
const VERSION: u8 = 0x90;
/// PART ID's answer (82078, stepping 1).
const PART_ID: u8 = 0x41;

/// Data rate select values (DSR/CCR bits 1-0).
pub const RATE_500K: u8 = 0;
pub const RATE_300K: u8 = 1;
pub const RATE_250K: u8 = 2;
pub const RATE_1M: u8 = 3;

/// How long a non-DMA transfer waits for the host to serve the FIFO
/// before it overruns: the chip's 16-byte FIFO lasts 256 us at 500 kb/s;
/// an emulated guest gets more.
pub const PIO_OVERRUN_NS: u64 = 1_000_000;

/// Sector size code for 512-byte sectors.
const N_512: u8 = 2;
const SECTOR_BYTES: usize = SECTOR as usize;

/// A floppy format: geometry and the data rate its drive reads it at.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct MediaFormat {
    pub cylinders: u8,
    pub heads: u8,
    pub sectors: u8,
    pub rate: u8,
}

impl MediaFormat {
    const KIB360: Self = Self { cylinders: 40, heads: 2, sectors: 9, rate: RATE_300K };
    const KIB720: Self = Self { cylinders: 80, heads: 2, sectors: 9, rate: RATE_250K };
    const KIB1200: Self = Self { cylinders: 80, heads: 2, sectors: 15, rate: RATE_500K };
    const KIB1440: Self = Self { cylinders: 80, heads: 2, sectors: 18, rate: RATE_500K };
    const KIB2880: Self = Self { cylinders: 80, heads: 2, sectors: 36, rate: RATE_1M };
    const ALL: [Self; 5] = [Self::KIB360, Self::KIB720, Self::KIB1200, Self::KIB1440, Self::KIB2880];

    /// Bytes on a medium of this format.
    pub fn bytes(&self) -> u64 {
        u64::from(self.cylinders) * u64::from(self.heads) * u64::from(self.sectors) * SECTOR
    }

    /// The smallest format holding `size` bytes (an exact size, or a
    /// shorter image whose missing tail reads as zeros); none above 2.88 MB.
    pub fn for_size(size: u64) -> Option<Self> {
        Self::ALL.into_iter().find(|f| size <= f.bytes() && size > 0)
    }

    /// Whether the drive reads this medium at `rate`: a 360 KiB disk is
    /// read at 300 kb/s in a 1.2 MB drive and 250 kb/s in its own.
    fn rate_ok(&self, rate: u8) -> bool {
        rate == self.rate || (*self == Self::KIB360 && rate == RATE_250K)
    }
}

/// The drive types of the PC's CMOS byte 0x10.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum DriveType {
    K360 = 1,
    M1_2 = 2,
    K720 = 3,
    M1_44 = 4,
    M2_88 = 5,
}

impl DriveType {
    /// The drive a format comes in.
    pub fn for_format(f: MediaFormat) -> Self {
        match (f.cylinders, f.sectors) {
            (40, _) => Self::K360,
            (_, 15) => Self::M1_2,
            (_, 9) => Self::K720,
            (_, 36) => Self::M2_88,
            _ => Self::M1_44,
        }
    }

    /// The CMOS nibble.
    pub fn cmos_code(self) -> u8 {
        self as u8
    }
}

/// Why a medium cannot go in.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FdcError {
    #[error("floppy drive {0} does not exist")]
    NoDrive(usize),
    #[error("a {0}-byte image is no floppy format (up to 2.88 MB)")]
    Size(u64),
}

/// One drive's state.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Drive {
    kind: Option<DriveType>,
    medium: Option<MediaFormat>,
    read_only: bool,
    /// The disk-change line (DIR bit 7): set when a medium goes in or out,
    /// reset by a step pulse with a medium in.
    changed: bool,
    /// The sector ID under the head (what READ ID finds next).
    sector: u8,
}

/// The host images in the drives: not machine state. A clone of the
/// controller carries its state only, and two controllers compare equal
/// whatever images they hold; the host re-attaches them after a restore
/// ([`Fdc::reattach`]).
#[derive(Debug, Default)]
pub struct HostDisks([Option<Box<dyn BlockDevice>>; 4]);

impl Clone for HostDisks {
    fn clone(&self) -> Self {
        Self::default()
    }
}

impl PartialEq for HostDisks {
    fn eq(&self, _: &Self) -> bool {
        true
    }
}

impl Eq for HostDisks {}

/// The commands (section 5): opcode after masking off the option bits
/// (MT, MFM, SK, DIR, LOCK), the mask, the command length in bytes.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Op {
    ReadData,
    WriteData,
    ReadId,
    Format,
    Recalibrate,
    SenseInterrupt,
    Specify,
    SenseDrive,
    Seek,
    RelativeSeek,
    Version,
    Configure,
    Dumpreg,
    Lock,
    Perpendicular,
    PartId,
}

const COMMANDS: [(u8, u8, usize, Op); 16] = [
    (0x06, 0x1F, 9, Op::ReadData),
    (0x05, 0x3F, 9, Op::WriteData),
    (0x0A, 0xBF, 2, Op::ReadId),
    (0x0D, 0xBF, 6, Op::Format),
    (0x07, 0xFF, 2, Op::Recalibrate),
    (0x08, 0xFF, 1, Op::SenseInterrupt),
    (0x03, 0xFF, 3, Op::Specify),
    (0x04, 0xFF, 2, Op::SenseDrive),
    (0x0F, 0xFF, 3, Op::Seek),
    (0x8F, 0xBF, 3, Op::RelativeSeek),
    (0x10, 0xFF, 1, Op::Version),
    (0x13, 0xFF, 4, Op::Configure),
    (0x0E, 0xFF, 1, Op::Dumpreg),
    (0x14, 0x7F, 1, Op::Lock),
    (0x12, 0xFF, 2, Op::Perpendicular),
    (0x18, 0xFF, 1, Op::PartId),
];

fn decode(byte: u8) -> Option<(usize, Op)> {
    COMMANDS.iter().find(|&&(op, mask, _, _)| byte & mask == op).map(|&(_, _, len, op)| (len, op))
}

/// What the execution phase moves.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum XferKind {
    Read,
    Write,
    Format { sectors: u8, fill: u8, done: u8 },
}

/// A READ DATA, WRITE DATA or FORMAT TRACK in its execution phase.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Xfer {
    kind: XferKind,
    drive: usize,
    head: u8,
    /// The sector ID being transferred (C, H, R, N).
    id: [u8; 4],
    eot: u8,
    mt: bool,
    /// The sector (or, formatting, the 4-byte ID) and the bytes of it done.
    buf: Vec<u8>,
    pos: usize,
    /// The image sector the buffer belongs to.
    lba: u64,
}

/// The phase the controller is in (section 4).
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
enum Phase {
    /// Held in reset by DOR bit 2.
    Reset,
    #[default]
    Command,
    /// Non-DMA execution through the FIFO.
    Execution(Xfer),
    Result,
}

/// The controller.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Fdc {
    dor: u8,
    tdr: u8,
    rate: u8,
    phase: Phase,
    command: Vec<u8>,
    result: Vec<u8>,
    result_pos: usize,
    /// The INT pin, and whether it must fall and rise again for the PIC
    /// (one interrupt per byte in non-DMA execution).
    int: bool,
    pulse: bool,
    drives: [Drive; 4],
    /// Present cylinder numbers: where each drive's head is.
    pcn: [u8; 4],
    /// Drives whose reset-polling status awaits SENSE INTERRUPT STATUS.
    poll_pending: u8,
    /// ST0 of a finished seek or recalibrate, per drive.
    seek_status: [Option<u8>; 4],
    /// SPECIFY: step rate/head unload, head load time/ND.
    specify: [u8; 2],
    /// CONFIGURE: EIS, EFIFO, POLL, FIFOTHR; PRETRK; and LOCK.
    config: u8,
    pretrk: u8,
    lock: bool,
    /// PERPENDICULAR MODE: D3-D0, GAP, WGATE as DUMPREG shows them.
    perpendicular: u8,
    /// The last EOT (or SC) given, for DUMPREG.
    eot: u8,
    /// When a non-DMA transfer overruns unless the host serves the FIFO.
    overrun_at: Option<u64>,
    #[serde(skip)]
    disks: HostDisks,
}

/// CONFIGURE's power-on value: FIFO disabled (EFIFO), polling on.
const CONFIG_DEFAULT: u8 = 0x20;
const CONFIG_EIS: u8 = 0x40;
const CONFIG_EFIFO: u8 = 0x20;
/// SPECIFY byte 2 bit 0: non-DMA mode.
const SPECIFY_ND: u8 = 0x01;

impl Default for Fdc {
    fn default() -> Self {
        Self::new()
    }
}

impl Fdc {
    /// A controller after the hardware RESET pin: DOR 0 holds it in reset
    /// until the BIOS sets bit 2. No drives.
    pub fn new() -> Self {
        Self {
            dor: 0,
            tdr: 0,
            rate: RATE_250K,
            phase: Phase::Reset,
            command: Vec::new(),
            result: Vec::new(),
            result_pos: 0,
            int: false,
            pulse: false,
            drives: Default::default(),
            pcn: [0; 4],
            poll_pending: 0,
            seek_status: [None; 4],
            specify: [0; 2],
            config: CONFIG_DEFAULT,
            pretrk: 0,
            lock: false,
            perpendicular: 0,
            eot: 0,
            overrun_at: None,
            disks: HostDisks::default(),
        }
    }

    /// The hardware reset: the controller as at power-on, the drives and
    /// their media as they are.
    pub fn reset(&mut self) {
        let drives = std::mem::take(&mut self.drives);
        let pcn = self.pcn;
        let disks = std::mem::take(&mut self.disks);
        *self = Self { drives, pcn, disks, ..Self::new() };
    }

    /// Connects a drive of the type fitting `disk` and inserts it.
    pub fn attach(&mut self, drive: usize, disk: Box<dyn BlockDevice>) -> Result<DriveType, FdcError> {
        let size = disk.size();
        let format = MediaFormat::for_size(size).ok_or(FdcError::Size(size))?;
        let kind = DriveType::for_format(format);
        self.drives.get_mut(drive).ok_or(FdcError::NoDrive(drive))?.kind = Some(kind);
        self.insert(drive, disk)?;
        Ok(kind)
    }

    /// Puts a medium in a connected drive (replacing any), raising its
    /// disk-change line.
    pub fn insert(&mut self, drive: usize, disk: Box<dyn BlockDevice>) -> Result<(), FdcError> {
        let size = disk.size();
        let format = MediaFormat::for_size(size).ok_or(FdcError::Size(size))?;
        let d = self.drives.get_mut(drive).filter(|d| d.kind.is_some()).ok_or(FdcError::NoDrive(drive))?;
        d.medium = Some(format);
        d.read_only = disk.read_only();
        d.changed = true;
        d.sector = 1;
        self.disks.0[drive] = Some(disk);
        Ok(())
    }

    /// Takes the medium out, raising the disk-change line.
    pub fn eject(&mut self, drive: usize) -> Option<Box<dyn BlockDevice>> {
        let d = self.drives.get_mut(drive)?;
        d.medium = None;
        d.changed = true;
        self.disks.0[drive].take()
    }

    /// Gives back the host image of a restored controller's drive.
    pub fn reattach(&mut self, drive: usize, disk: Box<dyn BlockDevice>) {
        if let Some(slot) = self.disks.0.get_mut(drive) {
            *slot = Some(disk);
        }
    }

    /// The type of drive `drive`, if connected.
    pub fn drive_type(&self, drive: usize) -> Option<DriveType> {
        self.drives.get(drive).and_then(|d| d.kind)
    }

    /// CMOS byte 0x10: drive A's type in the high nibble, B's in the low.
    pub fn cmos_drive_types(&self) -> u8 {
        let code = |n: usize| self.drive_type(n).map_or(0, DriveType::cmos_code);
        code(0) << 4 | code(1)
    }

    /// Makes every write durable in the images.
    pub fn flush(&mut self) -> Result<(), BlockError> {
        for d in self.disks.0.iter_mut().flatten() {
            d.flush()?;
        }
        Ok(())
    }

    /// The INT pin (IRQ 6).
    pub fn irq(&self) -> bool {
        self.int
    }

    /// Whether the pin must drop before showing [`Fdc::irq`] again, so that
    /// an edge-triggered PIC sees a new interrupt.
    pub fn take_irq_pulse(&mut self) -> bool {
        std::mem::take(&mut self.pulse)
    }

    /// When [`Fdc::advance`] has something to do.
    pub fn next_deadline(&self) -> Option<u64> {
        self.overrun_at
    }

    /// Brings the controller to `now`: a non-DMA transfer the host has
    /// stopped serving overruns.
    pub fn advance(&mut self, now: u64) {
        if self.overrun_at.is_some_and(|t| now >= t) {
            self.overrun_at = None;
            if let Phase::Execution(x) = &self.phase {
                let x = x.clone();
                self.end(&x, ST1_OR, 0);
                self.pulse = true;
            }
        }
    }

    /// A port read at time `now`; `port` must satisfy [`decodes`].
    pub fn read(&mut self, port: u16, now: u64) -> u8 {
        match port.wrapping_sub(BASE) {
            // Status registers A and B exist in PS/2 mode only.
            SRA | SRB => 0xFF,
            DOR => self.dor,
            TDR => self.tdr & 3,
            MSR_DSR => self.msr(),
            FIFO => {
                let v = self.read_fifo();
                self.arm_overrun(now);
                v
            }
            DIR_CCR => {
                let d = usize::from(self.dor & 3);
                if self.drives[d].changed {
                    0x80
                } else {
                    0
                }
            }
            _ => 0xFF,
        }
    }

    /// A port write at time `now`; `port` must satisfy [`decodes`]. A
    /// command's last byte runs it, with its DMA through `dma` into `mem`.
    pub fn write(&mut self, port: u16, v: u8, now: u64, dma: &mut Dma8237, mem: &mut PhysMem) {
        match port.wrapping_sub(BASE) {
            DOR => {
                let was_reset = self.dor & DOR_NRESET == 0;
                self.dor = v;
                if v & DOR_NRESET == 0 {
                    self.enter_reset();
                } else if was_reset {
                    self.leave_reset();
                }
            }
            TDR => self.tdr = v,
            MSR_DSR => {
                self.rate = v & 3;
                if v & DSR_RESET != 0 {
                    self.enter_reset();
                    if self.dor & DOR_NRESET != 0 {
                        self.leave_reset();
                    }
                }
            }
            FIFO => {
                self.write_fifo(v, dma, mem);
                self.arm_overrun(now);
            }
            DIR_CCR => self.rate = v & 3,
            _ => {}
        }
    }

    /// After a FIFO access: a non-DMA transfer in progress waits for the
    /// next one until `now` + [`PIO_OVERRUN_NS`].
    fn arm_overrun(&mut self, now: u64) {
        self.overrun_at = matches!(self.phase, Phase::Execution(_)).then(|| now.saturating_add(PIO_OVERRUN_NS));
    }

    fn msr(&self) -> u8 {
        match &self.phase {
            Phase::Reset => 0,
            Phase::Command if self.command.is_empty() => MSR_RQM,
            Phase::Command => MSR_RQM | MSR_CB,
            Phase::Execution(x) if x.kind == XferKind::Read => MSR_RQM | MSR_DIO | MSR_NDMA | MSR_CB,
            Phase::Execution(_) => MSR_RQM | MSR_NDMA | MSR_CB,
            Phase::Result => MSR_RQM | MSR_DIO | MSR_CB,
        }
    }

    fn enter_reset(&mut self) {
        self.phase = Phase::Reset;
        self.overrun_at = None;
        self.command.clear();
        self.result.clear();
        self.int = false;
        self.poll_pending = 0;
        self.seek_status = [None; 4];
        if !self.lock {
            self.config = CONFIG_DEFAULT;
            self.pretrk = 0;
        }
    }

    /// Out of reset, the controller polls the four drives and interrupts;
    /// four SENSE INTERRUPT STATUS commands collect their statuses.
    fn leave_reset(&mut self) {
        self.phase = Phase::Command;
        self.poll_pending = 0x0F;
        self.int = true;
    }

    fn read_fifo(&mut self) -> u8 {
        match &mut self.phase {
            Phase::Result => {
                // The first result byte read clears the interrupt.
                self.int = false;
                let v = self.result.get(self.result_pos).copied().unwrap_or(0);
                self.result_pos += 1;
                if self.result_pos >= self.result.len() {
                    self.phase = Phase::Command;
                    self.result.clear();
                }
                v
            }
            Phase::Execution(x) if x.kind == XferKind::Read => {
                let v = x.buf.get(x.pos).copied().unwrap_or(0);
                x.pos += 1;
                self.pio_step(false);
                v
            }
            _ => 0,
        }
    }

    fn write_fifo(&mut self, v: u8, dma: &mut Dma8237, mem: &mut PhysMem) {
        match &mut self.phase {
            Phase::Command => {
                self.int = false;
                if self.command.is_empty() && decode(v).is_some_and(|(_, op)| op != Op::SenseInterrupt) {
                    self.poll_pending = 0;
                }
                self.command.push(v);
                match decode(self.command[0]) {
                    Some((len, op)) if self.command.len() >= len => {
                        let cmd = std::mem::take(&mut self.command);
                        self.execute(op, &cmd, dma, mem);
                    }
                    Some(_) => {}
                    None => {
                        self.command.clear();
                        self.finish(vec![ST0_INVALID], false);
                    }
                }
            }
            Phase::Execution(x) if x.kind != XferKind::Read => {
                if let Some(b) = x.buf.get_mut(x.pos) {
                    *b = v;
                }
                x.pos += 1;
                self.pio_step(false);
            }
            _ => log::debug!("fdc: FIFO write {v:#04x} outside the command phase ignored"),
        }
    }

    /// Enters the result phase with `result`, interrupting if the command
    /// had an execution phase.
    fn finish(&mut self, result: Vec<u8>, interrupt: bool) {
        self.result = result;
        self.result_pos = 0;
        self.phase = Phase::Result;
        if interrupt {
            self.int = true;
        }
    }

    fn execute(&mut self, op: Op, cmd: &[u8], dma: &mut Dma8237, mem: &mut PhysMem) {
        let arg = |i: usize| cmd.get(i).copied().unwrap_or(0);
        let drive = usize::from(arg(1) & 3);
        let head = (arg(1) >> 2) & 1;
        match op {
            Op::Specify => {
                self.specify = [arg(1), arg(2)];
                self.phase = Phase::Command;
            }
            Op::SenseDrive => {
                let d = &self.drives[drive];
                let wp = if d.medium.is_some() && d.read_only { ST3_WP } else { 0 };
                let t0 = if self.pcn[drive] == 0 && d.kind.is_some() { ST3_T0 } else { 0 };
                self.finish(vec![wp | ST3_ONES | t0 | head << 2 | drive as u8], false);
            }
            Op::Recalibrate => {
                let st0 = if self.drives[drive].kind.is_some() {
                    self.step_to(drive, 0);
                    ST0_SE | drive as u8
                } else {
                    // No track 0 signal after 79 step pulses.
                    ST0_ABNORMAL | ST0_SE | ST0_EC | drive as u8
                };
                self.seek_done(drive, st0);
            }
            Op::Seek => {
                self.step_to(drive, arg(2));
                self.seek_done(drive, ST0_SE | head << 2 | drive as u8);
            }
            Op::RelativeSeek => {
                let pcn = self.pcn[drive];
                let target = if cmd[0] & 0x40 != 0 { pcn.saturating_add(arg(2)) } else { pcn.saturating_sub(arg(2)) };
                self.step_to(drive, target);
                self.seek_done(drive, ST0_SE | head << 2 | drive as u8);
            }
            Op::SenseInterrupt => self.sense_interrupt(),
            Op::Version => self.finish(vec![VERSION], false),
            Op::PartId => self.finish(vec![PART_ID], false),
            Op::Configure => {
                self.config = arg(2) & 0x7F;
                self.pretrk = arg(3);
                self.phase = Phase::Command;
            }
            Op::Lock => {
                self.lock = cmd[0] & 0x80 != 0;
                self.finish(vec![u8::from(self.lock) << 4], false);
            }
            Op::Perpendicular => {
                let v = arg(1);
                // OW (bit 7) allows the drive bits to change; GAP and
                // WGATE always do.
                let drives = if v & 0x80 != 0 { v & 0x3C } else { self.perpendicular & 0x3C };
                self.perpendicular = drives | (v & 3);
                self.phase = Phase::Command;
            }
            Op::Dumpreg => {
                let p = self.pcn;
                let r = vec![
                    p[0],
                    p[1],
                    p[2],
                    p[3],
                    self.specify[0],
                    self.specify[1],
                    self.eot,
                    u8::from(self.lock) << 7 | self.perpendicular,
                    self.config,
                    self.pretrk,
                ];
                self.finish(r, false);
            }
            Op::ReadId => self.read_id(drive, head, cmd[0] & 0x40 != 0),
            Op::ReadData | Op::WriteData => {
                let kind = if op == Op::ReadData { XferKind::Read } else { XferKind::Write };
                self.eot = arg(6);
                let x = Xfer {
                    kind,
                    drive,
                    head,
                    id: [arg(2), arg(3), arg(4), arg(5)],
                    eot: arg(6),
                    mt: cmd[0] & 0x80 != 0,
                    buf: Vec::new(),
                    pos: 0,
                    lba: 0,
                };
                self.start(x, cmd[0] & 0x40 != 0, dma, mem);
            }
            Op::Format => {
                self.eot = arg(3);
                let x = Xfer {
                    kind: XferKind::Format { sectors: arg(3), fill: arg(5), done: 0 },
                    drive,
                    head,
                    id: [self.pcn[drive], head, 1, arg(2)],
                    eot: 0,
                    mt: false,
                    buf: Vec::new(),
                    pos: 0,
                    lba: 0,
                };
                self.start(x, cmd[0] & 0x40 != 0, dma, mem);
            }
        }
    }

    /// Moves drive `drive`'s head to `cylinder`. A step pulse with a
    /// medium in (and the motor on) resets the disk-change line.
    fn step_to(&mut self, drive: usize, cylinder: u8) {
        if self.pcn[drive] != cylinder {
            let motor = self.dor & (DOR_MOTOR0 << drive) != 0;
            let d = &mut self.drives[drive];
            if d.medium.is_some() && motor {
                d.changed = false;
            }
        }
        self.pcn[drive] = cylinder;
    }

    fn seek_done(&mut self, drive: usize, st0: u8) {
        self.seek_status[drive] = Some(st0);
        self.phase = Phase::Command;
        self.int = true;
    }

    fn sense_interrupt(&mut self) {
        self.int = false;
        if self.poll_pending != 0 {
            let d = self.poll_pending.trailing_zeros() as usize;
            self.poll_pending &= !(1 << d);
            self.finish(vec![ST0_POLLED | d as u8, self.pcn[d]], false);
        } else if let Some(d) = self.seek_status.iter().position(Option::is_some) {
            let st0 = self.seek_status[d].take().unwrap_or(0);
            self.finish(vec![st0, self.pcn[d]], false);
        } else {
            self.finish(vec![ST0_INVALID], false);
        }
    }

    /// The medium under drive `drive`'s head `head`, if the controller can
    /// read its address marks (MFM, at its data rate, on a formatted track).
    fn readable(&self, drive: usize, head: u8, mfm: bool) -> Option<MediaFormat> {
        let f = self.drives[drive].medium?;
        let ok = mfm && f.rate_ok(self.rate) && self.pcn[drive] < f.cylinders && head < f.heads && self.disks.0[drive].is_some();
        ok.then_some(f)
    }

    fn read_id(&mut self, drive: usize, head: u8, mfm: bool) {
        let st0 = head << 2 | drive as u8;
        let c = self.pcn[drive];
        let r = match self.readable(drive, head, mfm) {
            Some(f) => {
                let d = &mut self.drives[drive];
                let r = d.sector.clamp(1, f.sectors);
                d.sector = r % f.sectors + 1;
                vec![st0, 0, 0, c, head, r, N_512]
            }
            None => vec![st0 | ST0_ABNORMAL, ST1_MA, 0, c, head, 0, N_512],
        };
        self.finish(r, true);
    }

    /// Finds sector `id` on the track under the head: its image sector, or
    /// the ST1/ST2 bits of why not.
    fn locate(&self, x: &Xfer, f: MediaFormat) -> Result<u64, (u8, u8)> {
        let [c, h, r, n] = x.id;
        let track = self.pcn[x.drive];
        if c != track {
            return Err((ST1_ND, if c == 0xFF { ST2_BC } else { ST2_WC }));
        }
        if h != x.head || r == 0 || r > f.sectors || n != N_512 {
            return Err((ST1_ND, 0));
        }
        Ok((u64::from(track) * u64::from(f.heads) + u64::from(x.head)) * u64::from(f.sectors) + u64::from(r - 1))
    }

    /// Starts a transfer's execution phase: checks the medium, then runs it
    /// through DMA to the end, or leaves it to the FIFO in non-DMA mode.
    fn start(&mut self, mut x: Xfer, mfm: bool, dma: &mut Dma8237, mem: &mut PhysMem) {
        if self.config & CONFIG_EIS != 0 && !matches!(x.kind, XferKind::Format { .. }) {
            self.step_to(x.drive, x.id[0]);
        }
        let Some(f) = self.readable(x.drive, x.head, mfm) else {
            return self.end(&x, ST1_MA, 0);
        };
        if x.kind != XferKind::Read && self.drives[x.drive].read_only {
            return self.end(&x, ST1_NW, 0);
        }
        if let Err((st1, st2)) = self.load(&mut x, f) {
            return self.end(&x, st1, st2);
        }
        if self.specify[1] & SPECIFY_ND != 0 {
            self.phase = Phase::Execution(x);
            self.int = true;
            return;
        }
        self.run_dma(x, f, dma, mem);
    }

    /// Prepares the buffer for the next unit of `x`: a sector read from
    /// the image, a sector to fill, or a 4-byte ID to receive.
    fn load(&mut self, x: &mut Xfer, f: MediaFormat) -> Result<(), (u8, u8)> {
        x.pos = 0;
        match x.kind {
            XferKind::Format { .. } => {
                x.buf = vec![0; 4];
                Ok(())
            }
            XferKind::Write => {
                x.lba = self.locate(x, f)?;
                x.buf = vec![0; SECTOR_BYTES];
                Ok(())
            }
            XferKind::Read => {
                x.lba = self.locate(x, f)?;
                x.buf = vec![0; SECTOR_BYTES];
                self.read_sector(x.drive, x.lba, &mut x.buf).map_err(|_| (ST1_DE, ST2_DD))
            }
        }
    }

    fn read_sector(&mut self, drive: usize, lba: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        let Some(disk) = self.disks.0[drive].as_mut() else {
            return Err(BlockError::ReadOnly);
        };
        let at = lba * SECTOR;
        // A short image's missing tail reads as zeros.
        let have = disk.size().saturating_sub(at).min(buf.len() as u64) as usize;
        buf[have..].fill(0);
        disk.read_at(at, &mut buf[..have])
    }

    fn write_sector(&mut self, drive: usize, lba: u64, data: &[u8]) -> Result<(), BlockError> {
        match self.disks.0[drive].as_mut() {
            Some(disk) => disk.write_at(lba * SECTOR, data),
            None => Err(BlockError::ReadOnly),
        }
    }

    /// The whole DMA execution phase.
    fn run_dma(&mut self, mut x: Xfer, f: MediaFormat, dma: &mut Dma8237, mem: &mut PhysMem) {
        loop {
            let t = if x.kind == XferKind::Read {
                dma.to_memory(DMA_CHANNEL, mem, &x.buf[x.pos..])
            } else {
                let (pos, buf) = (x.pos, &mut x.buf);
                dma.from_memory(DMA_CHANNEL, mem, &mut buf[pos..])
            };
            x.pos += t.bytes;
            if x.pos < x.buf.len() && !t.tc {
                // DRQ unanswered: the FIFO overran.
                return self.end(&x, ST1_OR, 0);
            }
            match self.unit_done(&mut x, f, t.tc) {
                Some((st1, st2)) => return self.end(&x, st1, st2),
                None => continue,
            }
        }
    }

    /// A non-DMA byte went through the FIFO.
    fn pio_step(&mut self, tc: bool) {
        let Phase::Execution(x) = &self.phase else {
            return;
        };
        // With the FIFO off (the 8272A's byte mode) each byte, and the
        // result phase after the last, interrupts anew. With it on, the
        // chip interrupts per FIFO threshold as the disk delivers; here
        // the disk is always ahead, so the one interrupt of the execution
        // phase stands for all (a host draining the FIFO, as Linux's
        // pseudo-DMA does, finds the result phase in the same pass).
        if self.config & CONFIG_EFIFO != 0 {
            self.pulse = true;
        }
        if x.pos < x.buf.len() {
            return;
        }
        let mut x = x.clone();
        let Some(f) = self.drives[x.drive].medium else {
            return self.end(&x, ST1_MA, 0);
        };
        match self.unit_done(&mut x, f, tc) {
            Some((st1, st2)) => self.end(&x, st1, st2),
            None => self.phase = Phase::Execution(x),
        }
    }

    /// A sector (or format ID) is through: commits it and moves to the
    /// next one. Returns the ST1/ST2 bits when the command is over (0, 0 for
    /// a normal end at terminal count).
    fn unit_done(&mut self, x: &mut Xfer, f: MediaFormat, tc: bool) -> Option<(u8, u8)> {
        match x.kind {
            XferKind::Format { sectors, fill, done } => {
                // The ID written decides where the sector's data lands.
                let [c, h, r, n] = [x.buf[0], x.buf[1], x.buf[2], x.buf[3]];
                x.id = [c, h, r, n];
                if n == N_512 && (1..=f.sectors).contains(&r) {
                    let lba = (u64::from(self.pcn[x.drive]) * u64::from(f.heads) + u64::from(x.head)) * u64::from(f.sectors)
                        + u64::from(r - 1);
                    if self.write_sector(x.drive, lba, &[fill; SECTOR_BYTES]).is_err() {
                        return Some((ST1_NW, 0));
                    }
                }
                let done = done.saturating_add(1);
                x.kind = XferKind::Format { sectors, fill, done };
                if done >= sectors || tc {
                    return Some((0, 0));
                }
                x.buf = vec![0; 4];
                x.pos = 0;
                None
            }
            XferKind::Write => {
                // A TC inside a sector: the chip pads it with zeros.
                x.buf[x.pos.min(SECTOR_BYTES)..].fill(0);
                if self.write_sector(x.drive, x.lba, &x.buf).is_err() {
                    return Some((ST1_NW, 0));
                }
                self.next_sector(x, f, tc)
            }
            XferKind::Read => self.next_sector(x, f, tc),
        }
    }

    /// Steps `x` to the sector after the one done (table 5-2's rules for
    /// the result's C, H, R): on past EOT to side 1 with MT, else off the
    /// cylinder. Terminal count ends normally; running off the end of the
    /// cylinder without it is an abnormal end with EN.
    fn next_sector(&mut self, x: &mut Xfer, f: MediaFormat, tc: bool) -> Option<(u8, u8)> {
        self.drives[x.drive].sector = x.id[2] % f.sectors.max(1) + 1;
        let last = x.id;
        let at_eot = x.id[2] == x.eot;
        let mut more = true;
        let mut to_side_1 = false;
        if !at_eot {
            x.id[2] = x.id[2].wrapping_add(1);
        } else {
            x.id[2] = 1;
            if x.mt && x.head == 0 {
                x.id[1] ^= 1;
                to_side_1 = true;
            } else {
                x.id[0] = x.id[0].wrapping_add(1);
                if x.mt {
                    x.id[1] ^= 1;
                }
                more = false;
            }
        }
        if tc {
            return Some((0, 0));
        }
        if !more {
            // Running off the end, the chip reports the last sector it
            // transferred (Linux's pseudo-DMA counts sectors so: R + EN).
            x.id = last;
            return Some((ST1_EN, 0));
        }
        if to_side_1 {
            x.head = 1;
        }
        self.load(x, f).err()
    }

    /// Ends the execution phase with a result: ST0's IC from whether any
    /// error bit is set.
    fn end(&mut self, x: &Xfer, st1: u8, st2: u8) {
        let ic = if st1 | st2 != 0 { ST0_ABNORMAL } else { 0 };
        let st0 = ic | x.head << 2 | x.drive as u8;
        self.finish(vec![st0, st1, st2, x.id[0], x.id[1], x.id[2], x.id[3]], true);
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpc_block::MemDisk;

    /// A 1.44 MB image whose every sector starts with its LBA (two bytes,
    /// little-endian) and its C, H, R, then a pattern.
    fn image_1440() -> Vec<u8> {
        let f = MediaFormat::KIB1440;
        let mut v = vec![0u8; f.bytes() as usize];
        for (lba, s) in v.chunks_mut(SECTOR_BYTES).enumerate() {
            let spt = usize::from(f.sectors);
            let (c, h, r) = (lba / (2 * spt), (lba / spt) % 2, lba % spt + 1);
            s[..5].copy_from_slice(&[lba as u8, (lba >> 8) as u8, c as u8, h as u8, r as u8]);
            for (i, b) in s[5..].iter_mut().enumerate() {
                *b = (i as u8).wrapping_mul(7) ^ lba as u8;
            }
        }
        v
    }

    struct Rig {
        fdc: Fdc,
        dma: Dma8237,
        mem: PhysMem,
    }

    impl Rig {
        fn new(image: Vec<u8>, read_only: bool) -> Self {
            let mut fdc = Fdc::new();
            fdc.attach(0, Box::new(MemDisk { data: image, read_only })).unwrap();
            let mut dma = Dma8237::new();
            // SeaBIOS's dma_setup.
            dma.write(0x0D, 0);
            dma.write(0xDA, 0);
            dma.write(0xD6, 0xC0);
            dma.write(0xD4, 0);
            Self { fdc, dma, mem: PhysMem::new(2 << 20).unwrap() }
        }

        fn out(&mut self, reg: u16, v: u8) {
            self.fdc.write(BASE + reg, v, 0, &mut self.dma, &mut self.mem);
        }

        fn inb(&mut self, reg: u16) -> u8 {
            self.fdc.read(BASE + reg, 0)
        }

        /// Writes a command, checking RQM and DIO before each byte as a
        /// driver does.
        fn command(&mut self, bytes: &[u8]) {
            for &b in bytes {
                assert_eq!(self.inb(MSR_DSR) & (MSR_RQM | MSR_DIO), MSR_RQM, "ready for command byte {b:#x}");
                self.out(FIFO, b);
            }
        }

        /// Reads the result phase.
        fn result(&mut self) -> Vec<u8> {
            let mut r = Vec::new();
            while self.inb(MSR_DSR) & (MSR_RQM | MSR_DIO) == MSR_RQM | MSR_DIO {
                r.push(self.inb(FIFO));
                assert!(r.len() <= 16, "endless result");
            }
            r
        }

        /// Out of reset, motor 0 on, DMA mode, the four polling senses.
        fn ready(&mut self) {
            self.out(DOR, 0x1C);
            assert!(self.fdc.irq(), "reset interrupt");
            for d in 0..4 {
                self.command(&[0x08]);
                assert_eq!(self.result(), [0xC0 | d, 0], "polling status of drive {d}");
            }
            assert!(!self.fdc.irq());
            self.command(&[0x08]);
            assert_eq!(self.result(), [0x80], "nothing left: invalid");
            self.out(DIR_CCR, RATE_500K);
        }

        /// Channel 2 as SeaBIOS programs it: `count` bytes at `addr`.
        fn dma(&mut self, addr: u32, count: u16, to_memory: bool) {
            let d = &mut self.dma;
            d.write(0x0A, 0x06);
            d.write(0x0C, 0);
            d.write(0x04, addr as u8);
            d.write(0x04, (addr >> 8) as u8);
            d.write(0x0C, 0);
            d.write(0x05, (count - 1) as u8);
            d.write(0x05, ((count - 1) >> 8) as u8);
            d.write(0x0B, if to_memory { 0x46 } else { 0x4A });
            d.write(0x81, (addr >> 16) as u8);
            d.write(0x0A, 0x02);
        }

        fn seek(&mut self, drive: u8, cyl: u8) -> Vec<u8> {
            self.command(&[0x0F, drive, cyl]);
            assert!(self.fdc.irq());
            self.command(&[0x08]);
            self.result()
        }

        fn mem(&self, addr: u64, len: usize) -> Vec<u8> {
            let mut v = vec![0; len];
            self.mem.read(addr, &mut v);
            v
        }
    }

    fn sector(image: &[u8], lba: usize) -> &[u8] {
        &image[lba * SECTOR_BYTES..(lba + 1) * SECTOR_BYTES]
    }

    #[test]
    fn power_on_holds_reset_until_dor_bit_2_and_msr_follows_the_phases() {
        let mut r = Rig::new(image_1440(), false);
        assert_eq!(r.inb(MSR_DSR), 0, "in reset");
        r.out(DOR, 0x04);
        assert_eq!(r.inb(MSR_DSR), MSR_RQM);
        r.out(FIFO, 0x03);
        assert_eq!(r.inb(MSR_DSR), MSR_RQM | MSR_CB, "command in progress");
        r.out(FIFO, 0xAF);
        r.out(FIFO, 0x02);
        assert_eq!(r.inb(MSR_DSR), MSR_RQM, "SPECIFY has no result phase");
        r.command(&[0x10]);
        assert_eq!(r.inb(MSR_DSR), MSR_RQM | MSR_DIO | MSR_CB);
        assert_eq!(r.result(), [0x90], "VERSION: the enhanced controller");
        assert_eq!(r.inb(DOR), 0x04);
        assert_eq!([r.inb(SRA), r.inb(SRB)], [0xFF, 0xFF], "no status registers in AT mode");
    }

    #[test]
    fn a_dsr_software_reset_interrupts_and_polls_again() {
        let mut r = Rig::new(image_1440(), false);
        r.ready();
        r.out(MSR_DSR, DSR_RESET);
        assert!(r.fdc.irq());
        r.command(&[0x08]);
        assert_eq!(r.result(), [0xC0, 0]);
    }

    #[test]
    fn recalibrate_and_seek_end_with_sense_interrupt_status() {
        let mut r = Rig::new(image_1440(), false);
        r.ready();
        assert_eq!(r.seek(0, 33), [0x20, 33], "SE, drive 0, PCN 33");
        r.command(&[0x0F, 0x04, 5]);
        r.command(&[0x08]);
        assert_eq!(r.result(), [0x24, 5], "head 1 in ST0");
        r.command(&[0x07, 0]);
        assert!(r.fdc.irq());
        r.command(&[0x08]);
        assert_eq!(r.result(), [0x20, 0]);
        // Relative seek: out by 10, back in by 3.
        r.command(&[0xCF, 0, 10]);
        r.command(&[0x08]);
        assert_eq!(r.result(), [0x20, 10]);
        r.command(&[0x8F, 0, 3]);
        r.command(&[0x08]);
        assert_eq!(r.result(), [0x20, 7]);
        // Drive 2 is not connected: no track 0 signal.
        r.command(&[0x07, 2]);
        r.command(&[0x08]);
        assert_eq!(r.result(), [0x72, 0], "abnormal, SE, EC");
        // SENSE DRIVE STATUS: track 0, ready, two-sided bits.
        r.command(&[0x07, 0]);
        r.command(&[0x08]);
        r.result();
        r.command(&[0x04, 0x04]);
        assert_eq!(r.result(), [0x38 | 0x04]);
    }

    #[test]
    fn read_data_moves_sectors_through_dma_and_ends_at_terminal_count() {
        let img = image_1440();
        let mut r = Rig::new(img.clone(), false);
        r.ready();
        r.seek(0, 3);
        // C3 H1 sectors 4-6 into 0x1_2000.
        r.dma(0x1_2000, 3 * 512, true);
        r.command(&[0xE6, 0x04, 3, 1, 4, 2, 18, 0x1B, 0xFF]);
        assert!(r.fdc.irq());
        let res = r.result();
        assert!(!r.fdc.irq());
        assert_eq!(res, [0x04, 0, 0, 3, 1, 7, 2], "normal, next sector R=7");
        let lba = (3 * 2 + 1) * 18 + 3;
        assert_eq!(r.mem(0x1_2000, 3 * 512), &img[lba * 512..(lba + 3) * 512]);
        assert!(r.dma.terminal_count(2));
    }

    #[test]
    fn multi_track_reads_continue_on_side_1_and_the_result_follows_table_5_2() {
        let img = image_1440();
        let mut r = Rig::new(img.clone(), false);
        r.ready();
        r.seek(0, 1);
        // From C1 H0 R17 with MT: 17, 18 on side 0, then 1, 2 on side 1.
        r.dma(0x4000, 4 * 512, true);
        r.command(&[0xE6, 0x00, 1, 0, 17, 2, 18, 0x1B, 0xFF]);
        assert_eq!(r.result(), [0x04, 0, 0, 1, 1, 3, 2], "ended on head 1, next R=3");
        let lba = 2 * 18 + 16;
        assert_eq!(r.mem(0x4000, 4 * 512), &img[lba * 512..(lba + 4) * 512]);
        // TC exactly at EOT of side 0 with MT: C, H=1, R=1.
        r.dma(0x4000, 512, true);
        r.command(&[0xE6, 0x00, 1, 0, 18, 2, 18, 0x1B, 0xFF]);
        assert_eq!(r.result(), [0x00, 0, 0, 1, 1, 1, 2]);
        // TC at EOT of side 1 with MT: C+1, H=0, R=1.
        r.dma(0x4000, 512, true);
        r.command(&[0xE6, 0x04, 1, 1, 18, 2, 18, 0x1B, 0xFF]);
        assert_eq!(r.result(), [0x04, 0, 0, 2, 0, 1, 2]);
        // Without MT, TC at EOT: C+1, same H, R=1.
        r.dma(0x4000, 512, true);
        r.command(&[0x46, 0x04, 1, 1, 18, 2, 18, 0x1B, 0xFF]);
        assert_eq!(r.result(), [0x04, 0, 0, 2, 1, 1, 2]);
    }

    #[test]
    fn running_past_eot_without_terminal_count_sets_end_of_cylinder() {
        let mut r = Rig::new(image_1440(), false);
        r.ready();
        r.dma(0x4000, 4 * 512, true);
        r.command(&[0x46, 0x00, 0, 0, 17, 2, 18, 0x1B, 0xFF]);
        assert_eq!(r.result(), [0x40, 0x80, 0, 0, 0, 18, 2], "abnormal, EN, at the last sector");
    }

    #[test]
    fn wrong_cylinder_sector_size_and_rate_give_their_status_bits() {
        let mut r = Rig::new(image_1440(), false);
        r.ready();
        r.seek(0, 2);
        r.dma(0x4000, 512, true);
        r.command(&[0x46, 0x00, 5, 0, 1, 2, 1, 0x1B, 0xFF]);
        assert_eq!(r.result(), [0x40, ST1_ND, ST2_WC, 5, 0, 1, 2], "C does not match the track");
        r.command(&[0x46, 0x00, 0xFF, 0, 1, 2, 1, 0x1B, 0xFF]);
        assert_eq!(r.result()[..3], [0x40, ST1_ND, ST2_BC], "C = FF: bad cylinder");
        r.command(&[0x46, 0x00, 2, 0, 19, 2, 19, 0x1B, 0xFF]);
        assert_eq!(r.result()[..3], [0x40, ST1_ND, 0], "no sector 19");
        r.command(&[0x46, 0x00, 2, 1, 1, 2, 1, 0x1B, 0xFF]);
        assert_eq!(r.result()[..3], [0x40, ST1_ND, 0], "H differs from the head");
        r.command(&[0x46, 0x00, 2, 0, 1, 3, 1, 0x1B, 0xFF]);
        assert_eq!(r.result()[..3], [0x40, ST1_ND, 0], "N=3 is not the format");
        r.command(&[0x06, 0x00, 2, 0, 1, 2, 1, 0x1B, 0xFF]);
        assert_eq!(r.result()[..3], [0x40, ST1_MA, 0], "FM finds no MFM marks");
        r.out(DIR_CCR, RATE_250K);
        r.command(&[0x46, 0x00, 2, 0, 1, 2, 1, 0x1B, 0xFF]);
        assert_eq!(r.result()[..3], [0x40, ST1_MA, 0], "a 1.44 MB disk at 250 kb/s");
        r.out(DIR_CCR, RATE_500K);
        // A masked channel answers no DRQ: overrun.
        r.dma.write(0x0A, 0x06);
        r.command(&[0x46, 0x00, 2, 0, 1, 2, 1, 0x1B, 0xFF]);
        assert_eq!(r.result()[..3], [0x40, ST1_OR, 0]);
    }

    #[test]
    fn write_data_reaches_the_image_and_reads_back() {
        let mut r = Rig::new(image_1440(), false);
        r.ready();
        r.seek(0, 79);
        let data: Vec<u8> = (0..1024).map(|i| (i * 13 % 251) as u8).collect();
        r.mem.write(0x8000, &data);
        r.dma(0x8000, 1024, false);
        r.command(&[0xC5, 0x04, 79, 1, 17, 2, 18, 0x1B, 0xFF]);
        assert_eq!(r.result(), [0x04, 0, 0, 80, 0, 1, 2], "TC at EOT of side 1: C+1, H 0");
        r.dma(0x9000, 1024, true);
        r.command(&[0xE6, 0x04, 79, 1, 17, 2, 18, 0x1B, 0xFF]);
        r.result();
        assert_eq!(r.mem(0x9000, 1024), data);
        let disk = r.fdc.eject(0).unwrap();
        let mut back = vec![0; 1024];
        let mut disk = disk;
        disk.read_at(((79 * 2 + 1) * 18 + 16) * 512, &mut back).unwrap();
        assert_eq!(back, data);
    }

    #[test]
    fn a_read_only_image_is_write_protected() {
        let img = image_1440();
        let mut r = Rig::new(img.clone(), true);
        r.ready();
        r.command(&[0x04, 0x00]);
        assert_eq!(r.result(), [ST3_WP | ST3_ONES | ST3_T0], "ST3 WP");
        r.dma(0x8000, 512, false);
        r.command(&[0xC5, 0x00, 0, 0, 1, 2, 1, 0x1B, 0xFF]);
        assert_eq!(r.result(), [0x40, ST1_NW, 0, 0, 0, 1, 2]);
        r.command(&[0x4D, 0x00, 2, 18, 0x6C, 0xF6]);
        assert_eq!(r.result()[..2], [0x40, ST1_NW], "format too");
        let mut disk = r.fdc.eject(0).unwrap();
        let mut s = vec![0; 512];
        disk.read_at(0, &mut s).unwrap();
        assert_eq!(s, sector(&img, 0));
    }

    #[test]
    fn read_id_reports_the_sector_under_the_head_at_the_right_rate_only() {
        let mut r = Rig::new(image_1440(), false);
        r.ready();
        r.seek(0, 7);
        r.command(&[0x4A, 0x04]);
        assert!(r.fdc.irq());
        let res = r.result();
        assert_eq!(res[..5], [0x04, 0, 0, 7, 1]);
        assert!((1..=18).contains(&res[5]));
        assert_eq!(res[6], 2);
        r.out(DIR_CCR, RATE_1M);
        r.command(&[0x4A, 0x00]);
        assert_eq!(r.result()[..2], [0x40, ST1_MA]);
        // No medium.
        r.fdc.eject(0);
        r.out(DIR_CCR, RATE_500K);
        r.command(&[0x4A, 0x00]);
        assert_eq!(r.result()[..2], [0x40, ST1_MA]);
    }

    #[test]
    fn a_720k_disk_reads_at_250_kbps_in_its_drive() {
        let f = MediaFormat::KIB720;
        let mut img = vec![0u8; f.bytes() as usize];
        img[9 * 512 * 2 + 5] = 0x77; // C1 H0 R1, byte 5
        let mut r = Rig::new(img, false);
        assert_eq!(r.fdc.drive_type(0), Some(DriveType::K720));
        r.ready();
        r.command(&[0x4A, 0x00]);
        assert_eq!(r.result()[..2], [0x40, ST1_MA], "500 kb/s");
        r.out(DIR_CCR, RATE_250K);
        r.seek(0, 1);
        r.dma(0x4000, 512, true);
        r.command(&[0xE6, 0x00, 1, 0, 1, 2, 9, 0x1B, 0xFF]);
        assert_eq!(r.result()[0] & 0xC0, 0);
        assert_eq!(r.mem(0x4005, 1), [0x77]);
    }

    #[test]
    fn format_track_fills_sectors_with_the_filler_byte() {
        let mut r = Rig::new(image_1440(), false);
        r.ready();
        r.seek(0, 10);
        let ids: Vec<u8> = (1..=18).flat_map(|s| [10, 1, s, 2]).collect();
        r.mem.write(0x6000, &ids);
        r.dma(0x6000, ids.len() as u16, false);
        r.command(&[0x4D, 0x04, 2, 18, 0x6C, 0xF6]);
        assert_eq!(r.result()[..3], [0x04, 0, 0]);
        r.dma(0x7000, 18 * 512, true);
        r.command(&[0x46, 0x04, 10, 1, 1, 2, 18, 0x1B, 0xFF]);
        r.result();
        assert!(r.mem(0x7000, 18 * 512).iter().all(|&b| b == 0xF6));
    }

    #[test]
    fn configure_lock_dumpreg_perpendicular_and_part_id() {
        let mut r = Rig::new(image_1440(), false);
        r.ready();
        r.command(&[0x03, 0xAF, 0x02]);
        r.command(&[0x13, 0, 0x57, 0x09]);
        r.command(&[0x12, 0x80 | 0x04 | 0x03]);
        r.seek(0, 42);
        r.command(&[0x94]);
        assert_eq!(r.result(), [0x10], "LOCK");
        r.command(&[0x0E]);
        assert_eq!(r.result(), [42, 0, 0, 0, 0xAF, 0x02, 0, 0x80 | 0x07, 0x57, 0x09]);
        // A locked configuration survives a reset.
        r.out(DOR, 0x00);
        r.out(DOR, 0x0C);
        for _ in 0..4 {
            r.command(&[0x08]);
            r.result();
        }
        r.command(&[0x0E]);
        assert_eq!(r.result()[8..], [0x57, 0x09]);
        r.command(&[0x14]);
        assert_eq!(r.result(), [0x00], "UNLOCK");
        r.out(MSR_DSR, DSR_RESET);
        r.command(&[0x0E]);
        assert_eq!(r.result()[8..], [CONFIG_DEFAULT, 0], "unlocked: reset to defaults");
        r.command(&[0x18]);
        assert_eq!(r.result(), [PART_ID]);
        r.command(&[0x1F]);
        assert_eq!(r.result(), [ST0_INVALID], "an unknown opcode");
    }

    #[test]
    fn non_dma_mode_moves_data_through_the_fifo() {
        let img = image_1440();
        let mut r = Rig::new(img.clone(), false);
        r.ready();
        r.command(&[0x03, 0xAF, 0x03]);
        r.command(&[0x46, 0x00, 0, 0, 2, 2, 3, 0x1B, 0xFF]);
        assert!(r.fdc.irq());
        let mut got = Vec::new();
        while r.inb(MSR_DSR) == MSR_RQM | MSR_DIO | MSR_NDMA | MSR_CB {
            got.push(r.inb(FIFO));
            assert!(r.fdc.take_irq_pulse(), "an interrupt per byte");
        }
        assert_eq!(got, &img[512..1536]);
        // No TC in non-DMA mode: the command runs off EOT.
        assert_eq!(r.result(), [0x40, ST1_EN, 0, 0, 0, 3, 2]);
        // Write one sector through the FIFO.
        r.command(&[0x45, 0x00, 0, 0, 5, 2, 5, 0x1B, 0xFF]);
        for i in 0..512 {
            assert_eq!(r.inb(MSR_DSR), MSR_RQM | MSR_NDMA | MSR_CB);
            r.out(FIFO, i as u8);
        }
        assert_eq!(r.result()[..2], [0x40, ST1_EN]);
        r.command(&[0x46, 0x00, 0, 0, 5, 2, 5, 0x1B, 0xFF]);
        let back: Vec<u8> = (0..512).map(|_| r.inb(FIFO)).collect();
        assert_eq!(back, (0..512).map(|i| i as u8).collect::<Vec<_>>());
    }

    #[test]
    fn a_non_dma_transfer_the_host_stops_serving_overruns() {
        let img = image_1440();
        let mut r = Rig::new(img.clone(), false);
        r.ready();
        r.command(&[0x03, 0xAF, 0x03]);
        // MT from side 0: the host reads one sector and stops.
        r.command(&[0xE6, 0x00, 0, 0, 18, 2, 18, 0x1B, 0xFF]);
        let t = 5_000;
        let got: Vec<u8> = (0..512).map(|_| r.fdc.read(BASE + FIFO, t)).collect();
        assert_eq!(got, sector(&img, 17));
        assert_eq!(r.fdc.next_deadline(), Some(t + PIO_OVERRUN_NS));
        r.fdc.advance(t + PIO_OVERRUN_NS - 1);
        assert_eq!(r.inb(MSR_DSR), MSR_RQM | MSR_DIO | MSR_NDMA | MSR_CB, "still waiting");
        r.fdc.take_irq_pulse();
        r.fdc.advance(t + PIO_OVERRUN_NS);
        assert!(r.fdc.irq() && r.fdc.take_irq_pulse(), "a fresh interrupt");
        assert_eq!(r.fdc.next_deadline(), None);
        assert_eq!(r.result(), [0x44, ST1_OR, 0, 0, 1, 1, 2], "overrun on side 1, sector 1");
    }

    #[test]
    fn with_the_fifo_on_one_interrupt_covers_a_drained_transfer() {
        let img = image_1440();
        let mut r = Rig::new(img.clone(), false);
        r.ready();
        r.command(&[0x03, 0xAF, 0x03]);
        // CONFIGURE as Linux does: FIFO on, threshold 10, polling off.
        r.command(&[0x13, 0x00, 0x1A, 0x00]);
        r.command(&[0xE6, 0x04, 0, 1, 17, 2, 18, 0x1B, 0xFF]);
        assert!(r.fdc.irq());
        let mut got = Vec::new();
        while r.inb(MSR_DSR) & MSR_NDMA != 0 {
            got.push(r.inb(FIFO));
            assert!(!r.fdc.take_irq_pulse(), "no fresh edge per byte");
        }
        assert_eq!(got, &img[(18 + 16) * 512..36 * 512]);
        assert!(r.fdc.irq() && !r.fdc.take_irq_pulse(), "the result phase: the line is still up");
        assert_eq!(r.result(), [0x44, ST1_EN, 0, 0, 1, 18, 2]);
    }

    #[test]
    fn the_disk_change_line_rises_on_insert_and_eject_and_a_step_resets_it() {
        let mut r = Rig::new(image_1440(), false);
        r.ready();
        assert_eq!(r.inb(DIR_CCR) & 0x80, 0x80, "a new disk");
        r.seek(0, 0);
        assert_eq!(r.inb(DIR_CCR) & 0x80, 0x80, "no step pulse: still set");
        r.out(DOR, 0x0C);
        r.seek(0, 1);
        assert_eq!(r.inb(DIR_CCR) & 0x80, 0x80, "motor off: still set");
        r.out(DOR, 0x1C);
        r.seek(0, 0);
        assert_eq!(r.inb(DIR_CCR) & 0x80, 0, "stepped with the motor on");
        let disk = r.fdc.eject(0).unwrap();
        assert_eq!(r.inb(DIR_CCR) & 0x80, 0x80, "ejected");
        r.seek(0, 1);
        assert_eq!(r.inb(DIR_CCR) & 0x80, 0x80, "no medium: stepping does not clear it");
        r.fdc.insert(0, disk).unwrap();
        r.seek(0, 0);
        assert_eq!(r.inb(DIR_CCR) & 0x80, 0);
    }

    #[test]
    fn drive_types_and_cmos_byte() {
        let mut fdc = Fdc::new();
        assert_eq!(fdc.cmos_drive_types(), 0);
        fdc.attach(0, Box::new(MemDisk::new(vec![0; 1_474_560]))).unwrap();
        fdc.attach(1, Box::new(MemDisk::new(vec![0; 2_949_120]))).unwrap();
        assert_eq!(fdc.cmos_drive_types(), 0x45);
        assert_eq!(MediaFormat::for_size(737_280), Some(MediaFormat::KIB720));
        assert_eq!(MediaFormat::for_size(1_228_800).map(DriveType::for_format), Some(DriveType::M1_2));
        assert_eq!(MediaFormat::for_size(368_640).map(DriveType::for_format), Some(DriveType::K360));
        assert_eq!(MediaFormat::for_size(1_000_000), Some(MediaFormat::KIB1200), "a short image");
        assert!(matches!(fdc.attach(1, Box::new(MemDisk::new(vec![0; 3_000_000]))), Err(FdcError::Size(_))));
        assert!(matches!(fdc.attach(4, Box::new(MemDisk::new(vec![0; 1_474_560]))), Err(FdcError::NoDrive(4))));
    }

    #[test]
    fn state_round_trips_through_serde() {
        let mut r = Rig::new(image_1440(), false);
        r.ready();
        r.command(&[0x03, 0xAF, 0x03]);
        r.command(&[0x46, 0x00, 0, 0, 2, 2, 3, 0x1B, 0xFF]);
        r.inb(FIFO);
        let back: Fdc = serde_json::from_str(&serde_json::to_string(&r.fdc).unwrap()).unwrap();
        assert_eq!(back, r.fdc);
    }

    #[test]
    fn random_port_traffic_cannot_panic() {
        let mut next = crate::fuzz_rng::seeded("FDC_PORT_FUZZ_SEED", 0x2545_F491_4F6C_DD1D);
        let mut r = Rig::new(image_1440(), false);
        r.fdc.attach(1, Box::new(MemDisk { data: vec![0; 737_280], read_only: true })).unwrap();
        for i in 0..300_000u32 {
            let v = next();
            let reg = [DOR, MSR_DSR, FIFO, FIFO, FIFO, FIFO, DIR_CCR, TDR, SRA][((v >> 8) % 9) as usize];
            let byte = if v & 0x30 == 0 {
                [0x46, 0xC5, 0x4A, 0x4D, 0x08, 0x0F, 0x8F, 0x0E][((v >> 40) & 7) as usize]
            } else {
                (v >> 16) as u8
            };
            if v & 1 == 0 {
                r.out(reg, byte);
            } else {
                r.inb(reg);
            }
            if v & 0x3C0 == 0 {
                let addr = (v >> 24) as u32 & 0x1F_FFFF;
                r.dma(addr, ((v >> 48) as u16).max(1), v & 0x400 != 0);
            }
            if i % 50_000 == 0 {
                let disk = r.fdc.eject(0);
                if let Some(d) = disk {
                    let _ = r.fdc.insert(0, d);
                }
            }
            if v & 0x7000 == 0 {
                // Time passes (from 0, where the accesses above happen):
                // a non-DMA transfer overruns.
                r.fdc.advance((v >> 44) & 0x3F_FFFF);
            }
            let _ = (r.fdc.irq(), r.fdc.take_irq_pulse(), r.fdc.next_deadline());
        }
    }

    /// Whole commands with plausible parameters (sector 0 and past EOT, N
    /// up to 255, EOT 0, either head, cylinders on and off the disk), in
    /// DMA and non-DMA mode, with the 8237 channel programmed short, long,
    /// auto-initialising, decrementing or for verify, cannot panic or
    /// hang (FDC_FUZZ_SEED repeats a run; fixed default).
    #[test]
    fn random_commands_and_dma_programming_cannot_panic() {
        let mut next = crate::fuzz_rng::seeded("FDC_FUZZ_SEED", 0x0DDB_1A5E_5BAD_5EED);
        let mut r = Rig::new(image_1440(), false);
        r.fdc.attach(1, Box::new(MemDisk { data: vec![0; 737_280], read_only: true })).unwrap();
        r.ready();
        let ops = [0x06, 0x05, 0x0A, 0x0D, 0x07, 0x08, 0x03, 0x04, 0x0F, 0x8F, 0x10, 0x13, 0x0E, 0x14, 0x12, 0x18];
        let mut now = 0u64;
        for _ in 0..20_000 {
            let v = next();
            let small = |w: u64| if w & 1 == 0 { (w >> 8) as u8 % 4 } else { (w >> 8) as u8 };
            if v & 0x7 == 0 {
                let count = [1, 2, 4, 511, 512, 513, 1024, 0xFFFF][((v >> 8) % 8) as usize];
                r.dma((v >> 16) as u32 & 0x1F_FFFF, count, v & 0x8 != 0);
                // Mode: verify, auto-init, decrement now and then.
                if v & 0x30 == 0 {
                    r.dma.write(0x0B, 0x02 | (v >> 24) as u8 & 0xFC);
                }
                r.dma.write(0x0A, 0x02 | if v & 0x40 != 0 { 0 } else { 4 } & (v >> 32) as u8);
            }
            if v & 0x1F0 == 0 {
                // SPECIFY, non-DMA mode half the time.
                r.out(FIFO, 0x03);
                r.out(FIFO, 0xAF);
                r.out(FIFO, (v >> 9) as u8 & 1);
            }
            let op = ops[((v >> 12) % ops.len() as u64) as usize] | (v >> 40) as u8 & 0xE0;
            let len = decode(op).map_or(1, |(len, _)| len);
            let mut bytes = vec![op];
            for i in 1..len {
                let w = next();
                bytes.push(match i {
                    1 => (w as u8) & 0x07,
                    2 | 3 => small(w) % if w & 2 != 0 { 3 } else { 255 },
                    _ => small(w) % 24,
                });
            }
            for b in bytes {
                r.out(FIFO, b);
            }
            // Serve the FIFO (either direction), or stop serving it.
            for _ in 0..(next() % 1200) {
                let w = next();
                if w & 1 == 0 {
                    r.inb(FIFO);
                } else {
                    r.out(FIFO, (w >> 8) as u8);
                }
            }
            if v & 0xF0_0000 == 0 {
                now += 2 * PIO_OVERRUN_NS;
                r.fdc.advance(now);
            }
            if v & 0xF00_0000 == 0 {
                if let Some(d) = r.fdc.eject(0) {
                    let _ = r.fdc.insert(0, d);
                }
            }
            if v & 0xF000_0000 == 0 {
                r.out(DOR, 0x18);
                r.out(DOR, 0x1C);
            }
            let _ = (r.inb(MSR_DSR), r.inb(DIR_CCR), r.fdc.irq(), r.fdc.take_irq_pulse());
        }
    }
}
