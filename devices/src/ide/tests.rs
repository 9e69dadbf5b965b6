//! The IDE function as a guest drives it through its ports: expected values
//! come from ATA/ATAPI-6, SFF-8038i, SFF-8020i and MMC-2, not from running
//! the code.

use super::*;
use crate::pci::{self, PciFunction, PiixIde};
use ironpc_block::{BlockError, MemDisk};

const CMD: u16 = 0x1F0;
const CTL: u16 = 0x3F6;
const SCMD: u16 = 0x170;
const SCTL: u16 = 0x376;
const BM: u16 = 0xC000;

/// A disk that fails every access (an I/O error on the host).
#[derive(Debug)]
struct Broken;

impl BlockDevice for Broken {
    fn size(&self) -> u64 {
        1 << 20
    }
    fn read_only(&self) -> bool {
        false
    }
    fn read_at(&mut self, _: u64, _: &mut [u8]) -> Result<(), BlockError> {
        Err(BlockError::Io(std::io::Error::other("bad sector")))
    }
    fn write_at(&mut self, _: u64, _: &[u8]) -> Result<(), BlockError> {
        Err(BlockError::Io(std::io::Error::other("bad sector")))
    }
    fn flush(&mut self) -> Result<(), BlockError> {
        Ok(())
    }
}

struct Rig {
    ide: PiixIde,
    media: [Media; 4],
    mem: PhysMem,
}

/// A disk whose sector n is filled with byte n (mod 256), of `sectors`.
fn pattern_disk(sectors: usize) -> Vec<u8> {
    (0..sectors * SECTOR).map(|i| (i / SECTOR) as u8).collect()
}

impl Rig {
    fn new() -> Self {
        let mut ide = PiixIde::new();
        ide.firmware_init();
        Self { ide, media: Default::default(), mem: PhysMem::new(1 << 20).unwrap() }
    }

    fn disk(mut self, slot: usize, data: Vec<u8>) -> Self {
        self.ide.attach(slot, DriveKind::Disk(ata::Disk::new(data.len() as u64)));
        self.media[slot] = Some(Box::new(MemDisk::new(data)));
        self
    }

    fn medium(mut self, slot: usize, disk: Box<dyn BlockDevice>) -> Self {
        self.ide.attach(slot, DriveKind::Disk(ata::Disk::new(disk.size())));
        self.media[slot] = Some(disk);
        self
    }

    fn cdrom(mut self, slot: usize, data: Option<Vec<u8>>) -> Self {
        self.ide.attach(slot, DriveKind::Cdrom(atapi::Cdrom::default()));
        self.media[slot] = data.map(|d| Box::new(MemDisk { data: d, read_only: true }) as Box<dyn BlockDevice>);
        self
    }

    fn out(&mut self, port: u16, size: u8, v: u32) {
        self.ide.io_write(port, size, v, &mut self.media, &mut self.mem);
    }

    fn inp(&mut self, port: u16, size: u8) -> u32 {
        self.ide.io_read(port, size, &mut self.media)
    }

    fn in8(&mut self, port: u16) -> u8 {
        self.inp(port, 1) as u8
    }

    fn irq(&self, ch: usize) -> bool {
        self.ide.irq(ch).1
    }

    /// Writes the task file of the primary channel and a command.
    fn ata(&mut self, select: u8, regs: [u8; 5], cmd: u8) {
        self.out(CMD + 6, 1, u32::from(select));
        for (i, v) in regs.into_iter().enumerate() {
            self.out(CMD + 1 + i as u16, 1, u32::from(v));
        }
        self.out(CMD + 7, 1, u32::from(cmd));
    }

    /// Reads `n` bytes from the data port in words.
    fn read_data(&mut self, base: u16, n: usize) -> Vec<u8> {
        let mut v: Vec<u8> = (0..n.div_ceil(2)).flat_map(|_| (self.inp(base, 2) as u16).to_le_bytes()).collect();
        v.truncate(n);
        v
    }

    fn write_data(&mut self, base: u16, data: &[u8]) {
        for w in data.chunks(2) {
            self.out(base, 2, u32::from(u16::from_le_bytes([w[0], w[1]])));
        }
    }
}

fn word(data: &[u8], n: usize) -> u16 {
    u16::from_le_bytes([data[2 * n], data[2 * n + 1]])
}

#[test]
fn identify_device_reports_geometry_capacity_strings_and_a_valid_checksum() {
    let mut r = Rig::new().disk(0, vec![0; 64 << 20]);
    r.ata(0xA0, [0; 5], ata::cmd::IDENTIFY);
    assert!(r.irq(0), "INTRQ with the data");
    assert_eq!(r.ide.channels[0].bm.status & busmaster::ST_INTERRUPT, busmaster::ST_INTERRUPT);
    assert_eq!(r.in8(CMD + 7), status::DRDY | status::DSC | status::DRQ);
    assert!(!r.irq(0), "reading status clears INTRQ");
    let id = r.read_data(CMD, 512);
    assert_eq!(r.in8(CMD + 7) & status::DRQ, 0, "all 512 bytes taken");
    // 64 MiB = 131072 sectors = 130 cylinders of 16 x 63 (rounded down).
    assert_eq!([word(&id, 0), word(&id, 1), word(&id, 3), word(&id, 6)], [0x0040, 130, 16, 63]);
    assert_eq!(u32::from(word(&id, 60)) | u32::from(word(&id, 61)) << 16, 131072);
    assert_eq!((0..4).map(|i| u64::from(word(&id, 100 + i)) << (16 * i)).sum::<u64>(), 131072);
    assert_eq!(word(&id, 49) & 0x0300, 0x0300, "LBA and DMA");
    assert_eq!(word(&id, 47), 0x8000 | 16, "multiple up to 16");
    assert_eq!(word(&id, 83) & (1 << 10), 1 << 10, "LBA48");
    assert_eq!(word(&id, 88) & 0x3F, 0x3F, "UDMA 0-5");
    assert_eq!(word(&id, 63) & 0x07, 0x07, "MWDMA 0-2");
    // Strings: the first character of each pair in the high byte.
    assert_eq!(&id[54..70], b"RINOCPH RADDSI K", "IRONPC HARDDISK byte-swapped");
    let model: Vec<u8> = id[54..94].chunks(2).flat_map(|p| [p[1], p[0]]).collect();
    assert_eq!(std::str::from_utf8(&model).unwrap().trim_end(), "IRONPC HARDDISK");
    let serial: Vec<u8> = id[20..40].chunks(2).flat_map(|p| [p[1], p[0]]).collect();
    assert_eq!(serial, b"IRONPC00000000000001", "slot 0's serial, 20 characters");
    assert_eq!(id[510], 0xA5);
    assert_eq!(id.iter().fold(0u8, |s, b| s.wrapping_add(*b)), 0, "checksum");
}

#[test]
fn big_disks_cap_cylinders_and_the_lba28_count() {
    let d = ata::Disk::new(200 << 30);
    let id = d.identify("X");
    assert_eq!(word(&id, 1), 16383);
    assert_eq!(u32::from(word(&id, 60)) | u32::from(word(&id, 61)) << 16, 0x0FFF_FFFF);
    let lba48 = (0..4).map(|i| u64::from(word(&id, 100 + i)) << (16 * i)).sum::<u64>();
    assert_eq!(lba48, (200u64 << 30) / 512);
}

#[test]
fn pio_read_sectors_lba28_interrupts_per_sector() {
    let mut r = Rig::new().disk(0, pattern_disk(64));
    // LBA 5, 3 sectors.
    r.ata(0xE0, [0, 3, 5, 0, 0], ata::cmd::READ_SECTORS);
    for n in 5..8u8 {
        assert!(r.irq(0), "INTRQ for sector {n}");
        assert_eq!(r.in8(CMD + 7), status::DRDY | status::DSC | status::DRQ);
        let data = r.read_data(CMD, 512);
        assert!(data.iter().all(|&b| b == n), "sector {n}");
    }
    assert!(!r.irq(0), "no interrupt after the last block");
    assert_eq!(r.in8(CMD + 7), status::DRDY | status::DSC);
    assert_eq!(r.in8(CMD + 3), 7, "the task file names the last sector");
}

#[test]
fn pio_write_and_read_back_with_lba48() {
    let mut r = Rig::new().disk(0, vec![0; 300 * SECTOR]);
    // LBA48 = 0x000000000102 (258), count 2: high bytes first.
    let (lba, count) = (258u64, 2u16);
    r.out(CMD + 6, 1, 0x40);
    for (reg, hi, lo) in [
        (2, (count >> 8) as u8, count as u8),
        (3, (lba >> 24) as u8, lba as u8),
        (4, (lba >> 32) as u8, (lba >> 8) as u8),
        (5, (lba >> 40) as u8, (lba >> 16) as u8),
    ] {
        r.out(CMD + reg, 1, u32::from(hi));
        r.out(CMD + reg, 1, u32::from(lo));
    }
    r.out(CMD + 7, 1, u32::from(ata::cmd::WRITE_SECTORS_EXT));
    assert!(!r.irq(0), "the first block is requested without an interrupt");
    assert_eq!(r.in8(CMD + 7) & status::DRQ, status::DRQ);
    r.write_data(CMD, &[0xAB; 512]);
    assert!(r.irq(0), "interrupt after each block");
    assert_eq!(r.in8(CMD + 7) & status::DRQ, status::DRQ, "the second block");
    r.write_data(CMD, &[0xCD; 512]);
    assert!(r.irq(0));
    assert_eq!(r.in8(CMD + 7), status::DRDY | status::DSC);
    let mut back = vec![0; 1024];
    r.media[0].as_mut().unwrap().read_at(258 * 512, &mut back).unwrap();
    assert!(back[..512].iter().all(|&b| b == 0xAB) && back[512..].iter().all(|&b| b == 0xCD));
    // HOB reads the high bytes of the last sector's address (259).
    assert_eq!(r.in8(CMD + 3), 3);
    r.out(CTL, 1, u32::from(control::HOB));
    assert_eq!(r.in8(CMD + 3), 0, "LBA bits 31:24");
    r.out(CTL, 1, 0);
    // READ SECTORS EXT of the same two.
    r.out(CMD + 2, 1, 0);
    r.out(CMD + 2, 1, 2);
    r.out(CMD + 3, 1, 0);
    r.out(CMD + 3, 1, 2);
    r.out(CMD + 4, 1, 0);
    r.out(CMD + 4, 1, 1);
    r.out(CMD + 5, 1, 0);
    r.out(CMD + 5, 1, 0);
    r.out(CMD + 7, 1, u32::from(ata::cmd::READ_SECTORS_EXT));
    let first = r.read_data(CMD, 512);
    let second = r.read_data(CMD, 512);
    assert!(first.iter().all(|&b| b == 0xAB) && second.iter().all(|&b| b == 0xCD));
}

#[test]
fn chs_addressing_follows_the_current_geometry() {
    let mut r = Rig::new().disk(0, pattern_disk(2000));
    // Default 16 heads x 63: C/H/S 1/2/3 = (1*16+2)*63+2 = 1136.
    r.ata(0xA2, [0, 1, 3, 1, 0], ata::cmd::READ_SECTORS);
    assert!(r.read_data(CMD, 512).iter().all(|&b| b == (1136 % 256) as u8));
    // INITIALIZE DEVICE PARAMETERS: 4 heads (3 + 1), 17 sectors.
    r.ata(0xA3, [0, 17, 0, 0, 0], ata::cmd::INITIALIZE_PARAMETERS);
    assert_eq!(r.in8(CMD + 7), status::DRDY | status::DSC);
    // C/H/S 2/1/5 = (2*4+1)*17+4 = 157.
    r.ata(0xA1, [0, 1, 5, 2, 0], ata::cmd::READ_SECTORS);
    assert!(r.read_data(CMD, 512).iter().all(|&b| b == 157));
    // Sector 0 and a head past the geometry do not exist.
    r.ata(0xA0, [0, 1, 0, 0, 0], ata::cmd::READ_SECTORS);
    assert_eq!((r.in8(CMD + 7), r.in8(CMD + 1)), (status::DRDY | status::ERR, error::IDNF));
    r.ata(0xA5, [0, 1, 1, 0, 0], ata::cmd::READ_SECTORS);
    assert_eq!(r.in8(CMD + 1), error::IDNF);
}

#[test]
fn read_multiple_moves_blocks_of_the_multiple_count() {
    let mut r = Rig::new().disk(0, pattern_disk(64));
    r.ata(0xE0, [0, 0, 0, 0, 0], ata::cmd::IDENTIFY);
    assert_eq!(word(&r.read_data(CMD, 512), 59), 0x100 | 16, "on at power-on, 16 sectors");
    r.ata(0xE0, [0, 0, 0, 0, 0], ata::cmd::SET_MULTIPLE);
    r.ata(0xE0, [0, 6, 0, 0, 0], ata::cmd::READ_MULTIPLE);
    assert_eq!(r.in8(CMD + 1), error::ABRT, "multiple mode is off");
    r.ata(0xE0, [0, 3, 0, 0, 0], ata::cmd::SET_MULTIPLE);
    assert_eq!(r.in8(CMD + 1), error::ABRT, "not a power of two");
    r.ata(0xE0, [0, 4, 0, 0, 0], ata::cmd::SET_MULTIPLE);
    assert_eq!(r.in8(CMD + 7), status::DRDY | status::DSC);
    r.ata(0xE0, [0, 6, 10, 0, 0], ata::cmd::READ_MULTIPLE);
    assert!(r.irq(0));
    r.in8(CMD + 7);
    let block = r.read_data(CMD, 4 * 512);
    assert_eq!(block.chunks(512).map(|s| s[0]).collect::<Vec<_>>(), [10, 11, 12, 13]);
    assert!(r.irq(0), "the second block");
    r.in8(CMD + 7);
    let rest = r.read_data(CMD, 2 * 512);
    assert_eq!(rest.chunks(512).map(|s| s[0]).collect::<Vec<_>>(), [14, 15]);
    assert_eq!(r.in8(CMD + 7), status::DRDY | status::DSC);
    // WRITE MULTIPLE: 5 sectors in blocks of 4 and 1, dword data port.
    r.ata(0xE0, [0, 5, 20, 0, 0], ata::cmd::WRITE_MULTIPLE);
    for _ in 0..4 * 128 {
        r.out(CMD, 4, 0x5555_5555);
    }
    assert!(r.irq(0));
    r.in8(CMD + 7);
    for _ in 0..128 {
        r.out(CMD, 4, 0x5555_5555);
    }
    assert_eq!(r.in8(CMD + 7), status::DRDY | status::DSC);
    let mut back = vec![0; 6 * 512];
    r.media[0].as_mut().unwrap().read_at(20 * 512, &mut back).unwrap();
    assert!(back[..5 * 512].iter().all(|&b| b == 0x55) && back[5 * 512] == 25);
}

/// Writes a PRD table at `at`: (address, count) with EOT on the last.
fn prd_table(mem: &mut PhysMem, at: u64, entries: &[(u32, u32)]) {
    for (i, &(addr, count)) in entries.iter().enumerate() {
        let eot = if i + 1 == entries.len() { 1u32 << 31 } else { 0 };
        let mut raw = addr.to_le_bytes().to_vec();
        raw.extend_from_slice(&((count & 0xFFFF) | eot).to_le_bytes());
        mem.write(at + 8 * i as u64, &raw);
    }
}

#[test]
fn dma_read_lands_in_ram_then_status_then_interrupt() {
    let mut r = Rig::new().disk(0, pattern_disk(300));
    prd_table(&mut r.mem, 0x1000, &[(0x10000, 512), (0x20000, 1024)]);
    r.out(BM + 4, 4, 0x1000);
    assert_eq!(r.inp(BM + 4, 4), 0x1000);
    // Linux's order: command first, then the engine started.
    r.ata(0xE0, [0, 3, 7, 0, 0], ata::cmd::READ_DMA);
    assert!(!r.irq(0), "nothing before the engine runs");
    assert_eq!(r.in8(CMD + 7) & status::DRQ, status::DRQ);
    assert_eq!(r.inp(CMD, 2), 0, "the data port moves nothing while DMA waits");
    r.out(BM, 1, u32::from(busmaster::CMD_START | busmaster::CMD_WRITE_MEMORY));
    let mut a = [0u8; 512];
    r.mem.read(0x10000, &mut a);
    assert!(a.iter().all(|&b| b == 7));
    let mut b = [0u8; 1024];
    r.mem.read(0x20000, &mut b);
    assert!(b[..512].iter().all(|&x| x == 8) && b[512..].iter().all(|&x| x == 9));
    // The table was exactly the size of the transfer: Active clear,
    // Interrupt set (SFF-8038i table 3).
    assert_eq!(r.inp(BM + 2, 1) as u8 & 0x07, busmaster::ST_INTERRUPT);
    assert!(r.irq(0));
    assert_eq!(r.in8(CMD + 7), status::DRDY | status::DSC);
    // Stop the engine, clear the interrupt bit by writing 1.
    r.out(BM, 1, 0);
    r.out(BM + 2, 1, u32::from(busmaster::ST_INTERRUPT | 0x20));
    assert_eq!(r.inp(BM + 2, 1), 0x20, "interrupt cleared, drive 0 DMA capable kept");
}

/// Sets the function's command register as a configuration write
/// through the board would, and lets the channels see it.
fn set_command(r: &mut Rig, value: u16) {
    r.ide.config_write(pci::reg::COMMAND, 2, u32::from(value));
    r.ide.run_waiting_dma(&mut r.media, &mut r.mem);
}

#[test]
fn a_started_engine_waits_for_bus_master_enable() {
    let mut r = Rig::new().disk(0, pattern_disk(8));
    set_command(&mut r, pci::command::IO);
    prd_table(&mut r.mem, 0x1000, &[(0x10000, 512)]);
    r.out(BM + 4, 4, 0x1000);
    r.ata(0xE0, [0, 1, 5, 0, 0], ata::cmd::READ_DMA);
    r.out(BM, 1, u32::from(busmaster::CMD_START | busmaster::CMD_WRITE_MEMORY));
    let mut got = [0u8; 512];
    r.mem.read(0x10000, &mut got);
    assert!(got.iter().all(|&b| b == 0), "no memory written without the bus");
    assert_eq!(r.inp(BM + 2, 1) as u8 & 0x07, busmaster::ST_ACTIVE, "active, waiting");
    assert!(!r.irq(0), "the command has not completed");
    assert_eq!(r.in8(CMD + 7) & status::DRQ, status::DRQ);

    // The guest enables bus mastering: the transfer runs and completes.
    set_command(&mut r, pci::command::IO | pci::command::MASTER);
    r.mem.read(0x10000, &mut got);
    assert!(got.iter().all(|&b| b == 5), "sector 5 in memory");
    assert_eq!(r.inp(BM + 2, 1) as u8 & 0x07, busmaster::ST_INTERRUPT);
    assert!(r.irq(0));
    assert_eq!(r.in8(CMD + 7), status::DRDY | status::DSC);
}

#[test]
fn dma_with_a_larger_table_leaves_active_set_and_dma_write_reaches_the_disk() {
    let mut r = Rig::new().disk(0, vec![0; 64 * SECTOR]);
    r.mem.write(0x30000, &[0x77; 1024]);
    prd_table(&mut r.mem, 0x2000, &[(0x30000, 0)]);
    r.out(BM + 4, 4, 0x2000);
    // SeaBIOS-like order does not matter: start first, then the command.
    r.out(BM, 1, u32::from(busmaster::CMD_START));
    r.ata(0xE0, [0, 2, 4, 0, 0], ata::cmd::WRITE_DMA);
    assert_eq!(r.inp(BM + 2, 1) as u8 & 0x07, busmaster::ST_INTERRUPT | busmaster::ST_ACTIVE, "64 KiB PRD > 1 KiB");
    let mut back = vec![0; 1024];
    r.media[0].as_mut().unwrap().read_at(4 * 512, &mut back).unwrap();
    assert!(back.iter().all(|&b| b == 0x77));
    assert_eq!(r.in8(CMD + 7), status::DRDY | status::DSC);
    // Descriptors that split sectors: 256 + 768 bytes written to LBA 8-9.
    r.mem.write(0x31000, &[0x11; 256]);
    r.mem.write(0x32000, &[0x22; 768]);
    prd_table(&mut r.mem, 0x2000, &[(0x31000, 256), (0x32000, 768)]);
    r.out(BM, 1, 0);
    r.out(BM + 2, 1, 0x06);
    r.ata(0xE0, [0, 2, 8, 0, 0], ata::cmd::WRITE_DMA);
    r.out(BM, 1, u32::from(busmaster::CMD_START));
    assert_eq!(r.in8(CMD + 7), status::DRDY | status::DSC);
    r.media[0].as_mut().unwrap().read_at(8 * 512, &mut back).unwrap();
    assert!(back[..256].iter().all(|&b| b == 0x11) && back[256..].iter().all(|&b| b == 0x22));
    // A table shorter than the transfer: the command fails.
    prd_table(&mut r.mem, 0x2000, &[(0x30000, 512)]);
    r.out(BM, 1, 0);
    r.out(BM + 2, 1, 0x06);
    r.ata(0xE0, [0, 2, 4, 0, 0], ata::cmd::READ_DMA);
    r.out(BM, 1, u32::from(busmaster::CMD_START | busmaster::CMD_WRITE_MEMORY));
    assert_eq!(r.inp(BM + 2, 1) as u8 & busmaster::ST_ACTIVE, 0);
    assert_eq!(r.in8(CMD + 7) & status::ERR, status::ERR);
}

#[test]
fn errors_past_the_end_on_read_only_media_and_on_host_io_failures() {
    let mut r = Rig::new().disk(0, vec![0; 16 * SECTOR]);
    r.ata(0xE0, [0, 2, 15, 0, 0], ata::cmd::READ_SECTORS);
    assert!(r.irq(0));
    assert_eq!((r.in8(CMD + 7), r.in8(CMD + 1)), (status::DRDY | status::ERR, error::IDNF));
    r.ata(0xE0, [0, 1, 0, 0, 0x10], ata::cmd::READ_DMA);
    assert_eq!(r.in8(CMD + 1), error::IDNF, "LBA 2^24 on a 16-sector disk");
    let mut ro = MemDisk::new(vec![0; 16 * SECTOR]);
    ro.read_only = true;
    let mut r = Rig::new().medium(0, Box::new(ro));
    r.ata(0xE0, [0, 1, 0, 0, 0], ata::cmd::WRITE_SECTORS);
    assert_eq!((r.in8(CMD + 7), r.in8(CMD + 1)), (status::DRDY | status::ERR, error::ABRT));
    let mut r = Rig::new().medium(0, Box::new(Broken));
    r.ata(0xE0, [0, 1, 0, 0, 0], ata::cmd::READ_SECTORS);
    assert_eq!((r.in8(CMD + 7), r.in8(CMD + 1)), (status::DRDY | status::ERR, error::UNC));
    r.ata(0xE0, [0, 1, 0, 0, 0], 0xFF);
    assert_eq!(r.in8(CMD + 1), error::ABRT, "unknown command");
    r.ata(0xE0, [0, 0, 0, 0, 0], ata::cmd::NOP);
    assert_eq!(r.in8(CMD + 1), error::ABRT, "NOP aborts");
}

#[test]
fn nien_masks_intrq_and_the_pending_interrupt_shows_when_unmasked() {
    let mut r = Rig::new().disk(0, pattern_disk(4));
    r.out(CTL, 1, u32::from(control::NIEN));
    r.ata(0xE0, [0, 0, 0, 0, 0], ata::cmd::CHECK_POWER_MODE);
    assert!(!r.irq(0));
    assert_eq!(r.in8(CMD + 2), 0xFF, "active");
    r.out(CTL, 1, 0);
    assert!(r.irq(0));
}

#[test]
fn soft_reset_leaves_the_signatures() {
    let mut r = Rig::new().disk(0, vec![0; 8 * SECTOR]).cdrom(1, None);
    r.ata(0xE0, [0, 9, 9, 9, 9], ata::cmd::IDENTIFY);
    r.out(CTL, 1, u32::from(control::SRST | control::NIEN));
    assert_eq!(r.in8(CTL) & status::BSY, status::BSY);
    r.out(CTL, 1, u32::from(control::NIEN));
    let sig = |r: &mut Rig| (2..6).map(|n| r.in8(CMD + n)).collect::<Vec<_>>();
    assert_eq!(sig(&mut r), [1, 1, 0, 0], "device 0: ATA");
    assert_eq!(r.in8(CMD + 7), status::DRDY | status::DSC);
    assert_eq!(r.in8(CMD + 1), 0x01, "diagnostic: passed");
    r.out(CMD + 6, 1, 0xB0);
    assert_eq!(sig(&mut r), [1, 1, 0x14, 0xEB], "device 1: ATAPI");
    assert_eq!(r.in8(CMD + 7), 0, "a PACKET device leaves DRDY clear");
    // EXECUTE DEVICE DIAGNOSTIC from device 1: both leave signatures,
    // device 0 is selected and interrupts.
    r.ata(0xB0, [0, 7, 7, 7, 7], ata::cmd::EXECUTE_DIAGNOSTIC);
    assert!(r.irq(0) || r.ide.channels[0].intrq);
    assert_eq!(sig(&mut r), [1, 1, 0, 0], "device 0 after the diagnostic");
    r.out(CMD + 6, 1, 0xB0);
    assert_eq!(sig(&mut r), [1, 1, 0x14, 0xEB]);
    // An ATA command to the CD: signature and abort.
    r.ata(0xB0, [0; 5], ata::cmd::IDENTIFY);
    assert_eq!(r.in8(CMD + 1), error::ABRT);
    assert_eq!((r.in8(CMD + 4), r.in8(CMD + 5)), (0x14, 0xEB));
}

#[test]
fn absent_devices_read_as_zero() {
    let mut r = Rig::new().disk(0, vec![0; 8 * SECTOR]);
    for n in 1..8 {
        assert_eq!(r.in8(SCMD + n), 0, "empty secondary channel, register {n}");
    }
    assert_eq!(r.in8(SCTL), 0);
    r.out(CMD + 6, 1, 0xB0);
    assert_eq!(r.in8(CMD + 7), 0, "absent device 1");
    r.out(CMD + 2, 1, 0x55);
    assert_eq!(r.in8(CMD + 2), 0x55, "the task file is the channel's");
    r.out(CMD + 7, 1, u32::from(ata::cmd::IDENTIFY));
    assert!(!r.irq(0), "nothing answers for device 1");
    assert_eq!(r.in8(CMD + 7), 0);
}

#[test]
fn the_pci_function_is_the_piix3_ide() {
    let mut f = PiixIde::new();
    assert_eq!(f.config().read32(0), 0x7010_8086);
    assert_eq!(f.config().read32(8), 0x0101_8000);
    assert_eq!(f.config().read8(0x3D), 0, "legacy mode: no PCI interrupt pin");
    f.config_write(0x20, 4, 0xFFFF_FFFF);
    assert_eq!(f.config().read32(0x20), 0xFFFF_FFF1, "BAR4: 16 bytes of I/O");
    f.config_write(0x10, 4, 0xFFFF_FFFF);
    assert_eq!(f.config().read32(0x10), 0, "legacy mode: no BAR0");
    f.config_write(0x40, 4, 0xA307_8000);
    assert_eq!(f.config().read32(0x40), 0xA307_8000, "IDETIM writable");
    assert!(!f.decodes(0xC000), "BAR4 off until I/O is enabled");
    assert!(f.decodes(0x1F7) && f.decodes(0x3F6) && f.decodes(0x177) && f.decodes(0x376));
    assert!(!f.decodes(0x3F7), "the floppy's DIR");
    f.firmware_init();
    assert!(f.decodes(0xC000) && f.decodes(0xC00F) && !f.decodes(0xC010));
}

// ---- ATAPI ----

/// A 2 MiB ISO-like image whose block n starts with n.
fn cd_image() -> Vec<u8> {
    (0..1024u32)
        .flat_map(|n| {
            let mut b = vec![0u8; 2048];
            b[..4].copy_from_slice(&n.to_be_bytes());
            b
        })
        .collect()
}

/// Runs a packet command on the secondary master by PIO with byte count
/// limit `limit`: (reply bytes, sizes of the DRQ blocks, final status,
/// error register).
fn packet(r: &mut Rig, cdb: &[u8], limit: u16) -> (Vec<u8>, Vec<usize>, u8, u8) {
    r.out(SCMD + 6, 1, 0xA0);
    r.out(SCMD + 1, 1, 0);
    r.out(SCMD + 4, 1, u32::from(limit as u8));
    r.out(SCMD + 5, 1, u32::from(limit >> 8));
    r.out(SCMD + 7, 1, u32::from(ata::cmd::PACKET));
    assert!(!r.irq(1), "the packet is asked for without an interrupt");
    assert_eq!(r.in8(SCMD + 7) & status::DRQ, status::DRQ);
    assert_eq!(r.in8(SCMD + 2) & 3, 1, "CoD=1, IO=0: command packet");
    let mut p = [0u8; 12];
    p[..cdb.len()].copy_from_slice(cdb);
    r.write_data(SCMD, &p);
    let (mut data, mut blocks) = (Vec::new(), Vec::new());
    loop {
        assert!(r.irq(1), "every phase change interrupts");
        let st = r.in8(SCMD + 7);
        let reason = r.in8(SCMD + 2) & 3;
        if st & status::DRQ == 0 {
            assert_eq!(reason, 3, "CoD=1, IO=1: status");
            return (data, blocks, st, r.in8(SCMD + 1));
        }
        assert_eq!(reason, 2, "IO=1: data to the host");
        let n = usize::from(r.in8(SCMD + 4)) | usize::from(r.in8(SCMD + 5)) << 8;
        blocks.push(n);
        data.extend(r.read_data(SCMD, n));
    }
}

fn sense(r: &mut Rig) -> (u8, u8, u8) {
    let (s, ..) = packet(r, &[atapi::op::REQUEST_SENSE, 0, 0, 0, 18], 0xFFFE);
    assert_eq!(s[0], 0xF0);
    assert_eq!(s[7], 10);
    (s[2], s[12], s[13])
}

fn good() -> u8 {
    status::DRDY | status::DSC
}

#[test]
fn identify_packet_device_says_atapi_cdrom() {
    let mut r = Rig::new().cdrom(2, None);
    r.out(SCMD + 6, 1, 0xA0);
    r.out(SCMD + 7, 1, u32::from(ata::cmd::IDENTIFY_PACKET));
    assert!(r.irq(1));
    let id = r.read_data(SCMD, 512);
    assert_eq!(word(&id, 0), 0x85C0, "ATAPI, CD-ROM, removable, 12-byte packets");
    assert_eq!(word(&id, 49) & 0x0300, 0x0300);
    let model: Vec<u8> = id[54..94].chunks(2).flat_map(|p| [p[1], p[0]]).collect();
    assert_eq!(std::str::from_utf8(&model).unwrap().trim_end(), "IRONPC DVD-ROM");
    assert_eq!(id.iter().fold(0u8, |s, b| s.wrapping_add(*b)), 0);
}

#[test]
fn read_10_splits_into_blocks_of_the_byte_count_limit() {
    let mut r = Rig::new().cdrom(2, Some(cd_image()));
    let (_, _, st, _) = packet(&mut r, &[atapi::op::TEST_UNIT_READY], 0);
    assert_eq!(st, good(), "a disc present from power-on is ready");
    let (data, blocks, st, _) = packet(&mut r, &[atapi::op::READ_10, 0, 0, 0, 0, 5, 0, 0, 3], 3000);
    assert_eq!(st, good());
    assert_eq!(blocks, [3000, 3000, 144], "3 x 2048 bytes in blocks of 3000");
    assert_eq!(&data[..4], &5u32.to_be_bytes());
    assert_eq!(&data[2048..2052], &6u32.to_be_bytes());
    assert_eq!(&data[4096..4100], &7u32.to_be_bytes());
    // An odd limit is rounded down; READ(12) takes a 32-bit count.
    let (data, blocks, ..) = packet(&mut r, &[atapi::op::READ_12, 0, 0, 0, 3, 0xFF, 0, 0, 0, 1], 2049);
    assert_eq!(blocks, [2048]);
    assert_eq!(&data[..4], &1023u32.to_be_bytes());
    let (_, _, st, err) = packet(&mut r, &[atapi::op::READ_10, 0, 0, 0, 3, 0xFF, 0, 0, 2], 0xFFFE);
    assert_eq!((st & status::ERR, err >> 4), (status::ERR, atapi::sense::ILLEGAL_REQUEST));
    assert_eq!(sense(&mut r), (5, 0x21, 0), "LBA out of range");
}

#[test]
fn packet_dma_moves_the_reply_through_the_bus_master() {
    let mut r = Rig::new().cdrom(2, Some(cd_image()));
    prd_table(&mut r.mem, 0x1000, &[(0x40000, 4096)]);
    r.out(BM + 8 + 4, 4, 0x1000);
    r.out(SCMD + 6, 1, 0xA0);
    r.out(SCMD + 1, 1, 1); // DMA
    r.out(SCMD + 7, 1, u32::from(ata::cmd::PACKET));
    r.write_data(SCMD, &[atapi::op::READ_10, 0, 0, 0, 0, 9, 0, 0, 2, 0, 0, 0]);
    assert!(!r.irq(1), "waiting for the engine");
    r.out(BM + 8, 1, u32::from(busmaster::CMD_START | busmaster::CMD_WRITE_MEMORY));
    let mut b = [0u8; 4];
    r.mem.read(0x40000 + 2048, &mut b);
    assert_eq!(b, 10u32.to_be_bytes());
    assert!(r.irq(1));
    assert_eq!(r.inp(BM + 10, 1) as u8 & 7, busmaster::ST_INTERRUPT);
    assert_eq!((r.in8(SCMD + 7), r.in8(SCMD + 2) & 3), (good(), 3));
    // The engine started before the packet: the data moves when the
    // packet is in.
    r.out(BM + 8, 1, 0);
    r.out(BM + 10, 1, 0x06);
    r.out(BM + 8, 1, u32::from(busmaster::CMD_START | busmaster::CMD_WRITE_MEMORY));
    r.out(SCMD + 7, 1, u32::from(ata::cmd::PACKET));
    r.write_data(SCMD, &[atapi::op::READ_10, 0, 0, 0, 0, 20, 0, 0, 1, 0, 0, 0]);
    r.mem.read(0x40000, &mut b);
    assert_eq!(b, 20u32.to_be_bytes());
    assert_eq!(r.inp(BM + 10, 1) as u8 & 7, busmaster::ST_INTERRUPT | busmaster::ST_ACTIVE, "4 KiB table, 2 KiB read");
}

#[test]
fn inquiry_capacity_and_toc_replies_follow_mmc() {
    let mut r = Rig::new().cdrom(2, Some(cd_image()));
    sense(&mut r);
    let (inq, ..) = packet(&mut r, &[atapi::op::INQUIRY, 0, 0, 0, 96], 0xFFFE);
    assert_eq!(inq.len(), 36);
    assert_eq!(&inq[..5], &[0x05, 0x80, 0x00, 0x21, 31]);
    assert_eq!(&inq[8..32], b"IRONPC  IRONPC DVD-ROM  ");
    let (inq, ..) = packet(&mut r, &[atapi::op::INQUIRY, 0, 0, 0, 5], 0xFFFE);
    assert_eq!(inq.len(), 5, "cut to the allocation length");
    let (cap, ..) = packet(&mut r, &[atapi::op::READ_CAPACITY], 0xFFFE);
    assert_eq!(cap, [0, 0, 0x03, 0xFF, 0, 0, 0x08, 0], "last block 1023, 2048 bytes");
    // TOC format 0, LBA: track 1 at 0, lead-out at 1024.
    let (toc, ..) = packet(&mut r, &[atapi::op::READ_TOC, 0, 0, 0, 0, 0, 0, 0, 100], 0xFFFE);
    assert_eq!(toc, [0, 18, 1, 1, 0, 0x14, 1, 0, 0, 0, 0, 0, 0, 0x16, 0xAA, 0, 0, 0, 0x04, 0x00]);
    // MSF: track 1 at 00:02:00; lead-out 1024+150 = 1174 frames = 00:15:49.
    let (toc, ..) = packet(&mut r, &[atapi::op::READ_TOC, 2, 0, 0, 0, 0, 0, 0, 100], 0xFFFE);
    assert_eq!(&toc[8..12], &[0, 0, 2, 0]);
    assert_eq!(&toc[16..20], &[0, 0, 15, 49]);
    // Format 1: session information.
    let (toc, ..) = packet(&mut r, &[atapi::op::READ_TOC, 0, 1, 0, 0, 0, 0, 0, 100], 0xFFFE);
    assert_eq!(toc, [0, 10, 1, 1, 0, 0x14, 1, 0, 0, 0, 0, 0]);
    // Format 2: raw TOC, 4 descriptors of 11 bytes; A2 points at the lead-out.
    let (toc, ..) = packet(&mut r, &[atapi::op::READ_TOC, 2, 2, 0, 0, 0, 0, 0, 100], 0xFFFE);
    assert_eq!(toc.len(), 4 + 44);
    assert_eq!(&toc[4 + 22..4 + 33], &[1, 0x14, 0, 0xA2, 0, 0, 0, 0, 0, 15, 49]);
    let (_, _, st, _) = packet(&mut r, &[atapi::op::READ_TOC, 0, 0, 0, 0, 0, 5, 0, 100], 0xFFFE);
    assert_eq!(st & status::ERR, status::ERR, "no track 5");
}

#[test]
fn configuration_mode_pages_disc_information_and_mechanism_status() {
    let mut r = Rig::new().cdrom(2, Some(cd_image()));
    sense(&mut r);
    let (cfg, ..) = packet(&mut r, &[atapi::op::GET_CONFIGURATION, 0, 0, 0, 0, 0, 0, 0xFF, 0xFF], 0xFFFE);
    assert_eq!(&cfg[6..8], &[0, 0x08], "current profile CD-ROM");
    assert_eq!(u32::from_be_bytes([cfg[0], cfg[1], cfg[2], cfg[3]]) as usize, cfg.len() - 4);
    assert_eq!(&cfg[8..12], &[0, 0, 0x03, 8], "profile list feature");
    let (page, ..) = packet(&mut r, &[atapi::op::MODE_SENSE_10, 0, 0x2A, 0, 0, 0, 0, 0, 0xFF], 0xFFFE);
    assert_eq!(u16::from_be_bytes([page[0], page[1]]) as usize, page.len() - 2);
    assert_eq!(&page[8..10], &[0x2A, 18]);
    assert_eq!(page[8 + 6] & 0x0B, 0x09, "lock and eject supported, not locked");
    for code in [0x01, 0x0D, 0x0E] {
        let (p, ..) = packet(&mut r, &[atapi::op::MODE_SENSE_10, 0, code, 0, 0, 0, 0, 0, 0xFF], 0xFFFE);
        assert_eq!(p[8], code);
        assert_eq!(usize::from(p[9]) + 10, p.len());
    }
    let (_, _, st, _) = packet(&mut r, &[atapi::op::MODE_SENSE_10, 0, 0xC1, 0, 0, 0, 0, 0, 0xFF], 0xFFFE);
    assert_eq!(st & status::ERR, status::ERR, "saved values");
    assert_eq!(sense(&mut r), (5, 0x39, 0));
    let (di, ..) = packet(&mut r, &[atapi::op::READ_DISC_INFO, 0, 0, 0, 0, 0, 0, 0, 34], 0xFFFE);
    assert_eq!(&di[..8], &[0, 32, 0x0E, 1, 1, 1, 1, 0x20]);
    let (ms, ..) = packet(&mut r, &[atapi::op::MECHANISM_STATUS, 0, 0, 0, 0, 0, 0, 0, 0, 8], 0xFFFE);
    assert_eq!(ms, [0; 8]);
    let (_, _, st, _) = packet(&mut r, &[atapi::op::SET_CD_SPEED, 0, 0xFF, 0xFF], 0xFFFE);
    assert_eq!(st, good());
    // MODE SELECT(10) with 8 parameter bytes: a data-out phase.
    r.out(SCMD + 4, 1, 0xFE);
    r.out(SCMD + 5, 1, 0xFF);
    r.out(SCMD + 7, 1, u32::from(ata::cmd::PACKET));
    r.write_data(SCMD, &[atapi::op::MODE_SELECT_10, 0x10, 0, 0, 0, 0, 0, 0, 8, 0, 0, 0]);
    assert_eq!((r.in8(SCMD + 2) & 3, r.in8(SCMD + 4)), (0, 8), "IO=0 CoD=0: data from the host");
    r.write_data(SCMD, &[0; 8]);
    assert_eq!((r.in8(SCMD + 7), r.in8(SCMD + 2) & 3), (good(), 3));
    let (_, _, st, err) = packet(&mut r, &[0xEE], 0xFFFE);
    assert_eq!((st & status::ERR, err >> 4), (status::ERR, 5));
    assert_eq!(sense(&mut r), (5, 0x20, 0), "invalid command operation code");
}

#[test]
fn no_medium_media_change_events_and_locked_eject() {
    let mut r = Rig::new().cdrom(2, None);
    let (_, _, st, err) = packet(&mut r, &[atapi::op::TEST_UNIT_READY], 0);
    assert_eq!((st & status::ERR, err >> 4), (status::ERR, 2));
    assert_eq!(sense(&mut r), (2, 0x3A, 0), "medium not present");
    let (cfg, ..) = packet(&mut r, &[atapi::op::GET_CONFIGURATION, 0, 0, 0, 0, 0, 0, 0, 8], 0xFFFE);
    assert_eq!(&cfg[6..8], &[0, 0], "no current profile");
    // The host inserts a disc: a media event and a unit attention.
    assert!(r.ide.change_medium(2, &mut r.media, Some(Box::new(MemDisk::new(cd_image())))));
    let gesn = [atapi::op::GET_EVENT_STATUS, 1, 0, 0, 0x10, 0, 0, 0, 8];
    let (ev, ..) = packet(&mut r, &gesn, 0xFFFE);
    assert_eq!(ev, [0, 6, 0x04, 0x10, 2, 0x02, 0, 0], "new media, present, tray closed");
    let (ev, ..) = packet(&mut r, &gesn, 0xFFFE);
    assert_eq!(ev[4], 0, "reported once");
    let (_, _, st, err) = packet(&mut r, &[atapi::op::TEST_UNIT_READY], 0);
    assert_eq!((st & status::ERR, err), (status::ERR, 0x60), "unit attention");
    let (_, _, st, _) = packet(&mut r, &[atapi::op::TEST_UNIT_READY], 0);
    assert_eq!(st, good());
    let (_, _, st, _) = packet(&mut r, &[atapi::op::GET_EVENT_STATUS, 0, 0, 0, 0x10, 0, 0, 0, 8], 0xFFFE);
    assert_eq!(st & status::ERR, status::ERR, "asynchronous operation is not supported");
    // Locked: neither the guest nor the host can eject.
    let (_, _, st, _) = packet(&mut r, &[atapi::op::PREVENT_ALLOW, 0, 0, 0, 1], 0);
    assert_eq!(st, good());
    let (_, _, st, _) = packet(&mut r, &[atapi::op::START_STOP_UNIT, 0, 0, 0, 2], 0);
    assert_eq!(st & status::ERR, status::ERR);
    assert_eq!(sense(&mut r), (2, 0x53, 2), "medium removal prevented");
    assert!(!r.ide.eject(2, &mut r.media));
    let (page, ..) = packet(&mut r, &[atapi::op::MODE_SENSE_10, 0, 0x2A, 0, 0, 0, 0, 0, 0xFF], 0xFFFE);
    assert_eq!(page[8 + 6] & 0x02, 0x02, "lock state");
    // Unlocked: the guest opens the tray.
    packet(&mut r, &[atapi::op::PREVENT_ALLOW, 0, 0, 0, 0], 0);
    let (_, _, st, _) = packet(&mut r, &[atapi::op::START_STOP_UNIT, 0, 0, 0, 2], 0);
    assert_eq!(st, good());
    assert!(r.ide.cd_tray_open(2));
    let (ev, ..) = packet(&mut r, &gesn, 0xFFFE);
    assert_eq!(&ev[4..6], &[3, 0x01], "media removal, tray open");
    let (_, _, st, _) = packet(&mut r, &[atapi::op::READ_CAPACITY], 0xFFFE);
    assert_eq!(st & status::ERR, status::ERR);
    // Loading closes it on the same disc.
    packet(&mut r, &[atapi::op::START_STOP_UNIT, 0, 0, 0, 3], 0);
    assert!(!r.ide.cd_tray_open(2));
    assert_eq!(packet(&mut r, &[atapi::op::TEST_UNIT_READY], 0).3, 0x60, "unit attention after loading");
    assert_eq!(packet(&mut r, &[atapi::op::TEST_UNIT_READY], 0).2, good());
    // The host's eject.
    assert!(r.ide.eject(2, &mut r.media));
    assert!(r.media[2].is_none());
}

#[test]
fn state_round_trips_through_serde() {
    let mut r = Rig::new().disk(0, pattern_disk(16)).cdrom(2, Some(cd_image()));
    r.ata(0xE0, [0, 2, 1, 0, 0], ata::cmd::READ_SECTORS);
    r.read_data(CMD, 100);
    let json = serde_json::to_string(&r.ide).unwrap();
    let back: PiixIde = serde_json::from_str(&json).unwrap();
    assert_eq!(back, r.ide);
    // The restored function carries on where it was.
    r.ide = back;
    let rest = r.read_data(CMD, 412);
    assert!(rest.iter().all(|&b| b == 1));
}

/// A PRD table without an end-of-table entry ends at the 64 KiB a table
/// may span (8192 descriptors): a transfer longer than that aborts, with
/// Active clear and the interrupt raised, and nothing past the descriptors'
/// regions is written. A region at the top of the 4 GiB space is accepted
/// (its bytes past RAM are dropped).
#[test]
fn a_table_without_end_of_table_stops_at_8192_descriptors() {
    let mut r = Rig::new().disk(0, pattern_disk(300));
    // 8192 descriptors of 2 bytes each at 0x40000: 16 KiB of the 128 KiB
    // that 256 sectors need. The first points at the top of 4 GiB.
    let entries: Vec<(u32, u32)> = (0..8192u32).map(|i| (if i == 0 { 0xFFFF_FFFE } else { 0x60000 + 2 * i }, 2)).collect();
    for (i, &(addr, count)) in entries.iter().enumerate() {
        r.mem.write(0x40000 + 8 * i as u64, &[addr.to_le_bytes(), count.to_le_bytes()].concat());
    }
    // The next 8 bytes would be a 64 KiB descriptor at 0x80000 (not EOT).
    r.mem.write(0x40000 + 8 * 8192, &[0x00, 0x00, 0x08, 0x00, 0x00, 0x00, 0x00, 0x00]);
    r.out(BM + 4, 4, 0x40000);
    r.out(BM, 1, u32::from(busmaster::CMD_START | busmaster::CMD_WRITE_MEMORY));
    r.ata(0xE0, [0, 0, 0, 0, 0], ata::cmd::READ_DMA);
    assert!(r.irq(0));
    assert_eq!(r.in8(CMD + 7), status::DRDY | status::ERR);
    assert_eq!(r.in8(CMD + 1), error::ABRT);
    assert_eq!(r.inp(BM + 2, 1) as u8 & 0x07, busmaster::ST_INTERRUPT, "Active clear");
    let mut last = [0u8; 2];
    r.mem.read(0x60000 + 2 * 8191, &mut last);
    assert_eq!(last, [31, 31], "bytes 16382-16383 of the transfer: sector 31");
    let mut beyond = [0u8; 4];
    r.mem.read(0x80000, &mut beyond);
    assert_eq!(beyond, [0; 4], "no descriptor read past the 64 KiB");
}

/// READ(12) whose LBA + length overflows 32 bits, and READ(10) one block
/// past the medium, end in ILLEGAL REQUEST / LBA out of range.
#[test]
fn reads_past_the_medium_or_wrapping_32_bits_are_out_of_range() {
    let mut r = Rig::new().cdrom(2, Some(cd_image()));
    // The first command after power-on reports the unit attention, if any.
    let _ = packet(&mut r, &[atapi::op::TEST_UNIT_READY], 0xFFFE);
    let wrap = [atapi::op::READ_12, 0, 0xFF, 0xFF, 0xFF, 0xFF, 0x00, 0x00, 0x00, 0x02];
    let (data, _, st, err) = packet(&mut r, &wrap, 0xFFFE);
    assert!(data.is_empty());
    assert_eq!((st & status::ERR, err >> 4), (status::ERR, atapi::sense::ILLEGAL_REQUEST));
    assert_eq!(sense(&mut r), (atapi::sense::ILLEGAL_REQUEST, 0x21, 0x00));
    let past = [atapi::op::READ_10, 0, 0, 0, 0x03, 0xFF, 0, 0, 2];
    let (data, _, st, _) = packet(&mut r, &past, 0xFFFE);
    assert!(data.is_empty());
    assert_eq!(st & status::ERR, status::ERR);
    assert_eq!(sense(&mut r), (atapi::sense::ILLEGAL_REQUEST, 0x21, 0x00));
}

/// Random guest traffic on every IDE and bus-master port, with PRD tables
/// anywhere, cannot panic (a fixed seed, printed; IDE_FUZZ_SEED picks
/// another).
#[test]
fn random_port_traffic_cannot_panic() {
    let mut next = crate::fuzz_rng::seeded("IDE_FUZZ_SEED", 0x5EED_01DE);
    let mut r = Rig::new().disk(0, pattern_disk(64)).cdrom(1, Some(cd_image())).cdrom(2, None).medium(3, Box::new(Broken));
    let ports =
        [CMD, CMD + 1, CMD + 2, CMD + 3, CMD + 4, CMD + 5, CMD + 6, CMD + 7, CTL, SCMD, SCMD + 2, SCMD + 6, SCMD + 7, SCTL];
    let commands = [
        0x20, 0x24, 0x25, 0x29, 0x30, 0x35, 0x39, 0x40, 0x91, 0xA0, 0xA1, 0xC4, 0xC5, 0xC6, 0xC8, 0xCA, 0xE7, 0xEC, 0xEF, 0x08,
        0x90,
    ];
    for _ in 0..200_000 {
        let v = next();
        let size = [1, 2, 4][(v % 3) as usize];
        let port = match (v >> 4) % 8 {
            0..=4 => ports[((v >> 8) % ports.len() as u64) as usize],
            5 => BM + ((v >> 8) % 16) as u16,
            6 => CMD,
            _ => SCMD,
        };
        let mut value = (v >> 32) as u32;
        if (port == CMD + 7 || port == SCMD + 7) && v & (1 << 20) != 0 {
            value = commands[((v >> 21) % commands.len() as u64) as usize];
        }
        if port & 7 == 7 && v & (1 << 24) != 0 && port != CTL {
            // Packets: the first byte a plausible opcode.
            value = [0x00, 0x03, 0x12, 0x1B, 0x25, 0x28, 0x43, 0x46, 0x4A, 0x5A, 0xA8, 0xBD][((v >> 25) % 12) as usize];
        }
        if v & (1 << 30) != 0 {
            r.out(port, size, value);
        } else {
            r.inp(port, size);
        }
        let _ = (r.irq(0), r.irq(1));
    }
}

/// Whole commands with random task files, full random packets, random PRD
/// tables in guest memory (addresses anywhere in 4 GiB, counts 0, odd, no
/// EOT) and bulk data-port traffic cannot panic or hang (IDE_COMMAND_FUZZ_SEED
/// repeats a run; fixed default).
#[test]
fn random_commands_packets_and_prd_tables_cannot_panic() {
    let mut next = crate::fuzz_rng::seeded("IDE_COMMAND_FUZZ_SEED", 0x5DEE_CE66_D1CE_4E5B);
    let mut r = Rig::new().disk(0, pattern_disk(100)).cdrom(1, Some(cd_image())).cdrom(2, None).disk(3, pattern_disk(3));
    let commands: [u8; 28] = [
        0x20, 0x21, 0x24, 0x25, 0x29, 0x30, 0x34, 0x35, 0x39, 0x40, 0x42, 0x70, 0x91, 0xA0, 0xA1, 0xC4, 0xC5, 0xC6, 0xC8, 0xCA,
        0xE7, 0xEA, 0xEC, 0xEF, 0x08, 0x10, 0x90, 0xE5,
    ];
    let opcodes =
        [0x00, 0x03, 0x12, 0x15, 0x1B, 0x1E, 0x25, 0x28, 0x2B, 0x43, 0x46, 0x4A, 0x51, 0x55, 0x5A, 0xA8, 0xBB, 0xBD, 0xFF];
    for _ in 0..3_000 {
        let v = next();
        let (base, bm) = if v & 1 == 0 { (CMD, BM) } else { (SCMD, BM + 8) };
        // A PRD table of random entries somewhere in the first 64 KiB.
        let table = (next() & 0xFFF8) as u32;
        let n = (next() % 4) as usize;
        for i in 0..n {
            let w = next();
            let addr = if w & 1 == 0 { (w >> 8) as u32 & 0xF_FFFF } else { (w >> 8) as u32 };
            let len = [0, 1, 2, 512, 2048, 0xFFFF][((w >> 40) % 6) as usize] | if w & 2 != 0 && i + 1 == n { 1 << 31 } else { 0 };
            r.mem.write(u64::from(table) + 8 * i as u64, &[addr.to_le_bytes(), u32::to_le_bytes(len)].concat());
        }
        r.out(bm + 4, 4, table);
        if v & 2 != 0 {
            r.out(bm, 1, u32::from(busmaster::CMD_START) | if v & 4 != 0 { u32::from(busmaster::CMD_WRITE_MEMORY) } else { 0 });
        }
        let w = next();
        r.out(base + 6, 1, (w & 0xFF) as u32);
        // Small values often, so that commands find sectors and blocks.
        let small = if w & 0x800 != 0 { 0x03 } else { 0xFF };
        for i in 1..=5 {
            r.out(base + i, 1, (next() & small) as u32);
            if w & 0x100 != 0 {
                r.out(base + i, 1, (next() & 0xFF) as u32);
            }
        }
        r.out(base + 7, 1, u32::from(commands[((w >> 16) % commands.len() as u64) as usize]));
        let mut cdb: Vec<u8> = (0..12).map(|_| next() as u8 & small as u8).collect();
        cdb[0] = opcodes[((w >> 32) % opcodes.len() as u64) as usize];
        if w & 0x200 != 0 {
            r.write_data(base, &cdb);
        }
        let words = (next() % 3000) as usize;
        for _ in 0..words {
            if w & 0x400 != 0 {
                r.out(base, 2, next() as u32);
            } else {
                r.inp(base, 2);
            }
        }
        if v & 8 != 0 {
            r.out(bm, 1, u32::from(busmaster::CMD_START));
        }
        if v & 16 != 0 {
            r.out(bm, 1, 0);
            r.out(bm + 2, 1, 0x06);
        }
        if v & 0x3F0 == 0 {
            r.out(if base == CMD { CTL } else { SCTL }, 1, 4);
            r.out(if base == CMD { CTL } else { SCTL }, 1, 0);
        }
        let _ = (r.in8(base + 7), r.inp(bm + 2, 1), r.irq(0), r.irq(1));
    }
}
