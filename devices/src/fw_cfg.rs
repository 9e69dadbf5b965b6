//! QEMU's firmware configuration device (fw_cfg) as the x86 `pc` machine
//! presents it (QEMU docs/specs/fw_cfg.rst; the guest side is SeaBIOS
//! src/fw/paravirt.c): a 16-bit selector port at 0x510, a byte-wide data
//! port at 0x511 that walks through the selected item, and the DMA
//! interface at 0x514-0x51B.
//!
//! Items are numbered: the fixed ones (signature, ID, RAM size, CPU
//! counts, the Linux boot items...), the file directory at 0x19 and named
//! files from 0x20 up, numbered in the order of their names as QEMU does.
//! Multi-byte numeric items are little-endian; the file directory and the
//! DMA interface are big-endian.
//!
//! DMA: the guest writes the physical address of a `FWCfgDmaAccess`
//! (`be32 control, be32 length, be64 address`) to the 64-bit big-endian
//! register at 0x514 (high half) / 0x518 (low half; this write starts the
//! transfer). Control bits select an item, then read, skip or write
//! `length` bytes; the device writes the control word back as 0, or with
//! ERROR set. Reading the register gives the signature "QEMU CFG".
//! Transfers complete synchronously, within the port write.

use ironpc_mmu::{PhysMem, Region, PAGE_SIZE};
use serde::{Deserialize, Serialize};
use std::collections::BTreeMap;

/// Selector register (16-bit writes).
pub const SELECTOR_PORT: u16 = 0x510;
/// Data register (byte reads).
pub const DATA_PORT: u16 = 0x511;
/// First byte of the 8-byte DMA address register.
pub const DMA_PORT: u16 = 0x514;
/// Ports the device decodes: 0x510..=0x51B.
pub const PORTS: std::ops::RangeInclusive<u16> = SELECTOR_PORT..=DMA_PORT + 7;

/// Item numbers (QEMU include/standard-headers/linux/qemu_fw_cfg.h).
pub mod key {
    pub const SIGNATURE: u16 = 0x00;
    pub const ID: u16 = 0x01;
    pub const RAM_SIZE: u16 = 0x03;
    pub const NOGRAPHIC: u16 = 0x04;
    pub const NB_CPUS: u16 = 0x05;
    pub const KERNEL_ADDR: u16 = 0x07;
    pub const KERNEL_SIZE: u16 = 0x08;
    pub const KERNEL_CMDLINE: u16 = 0x09;
    pub const INITRD_ADDR: u16 = 0x0A;
    pub const INITRD_SIZE: u16 = 0x0B;
    pub const NUMA: u16 = 0x0D;
    pub const BOOT_MENU: u16 = 0x0E;
    pub const MAX_CPUS: u16 = 0x0F;
    pub const KERNEL_ENTRY: u16 = 0x10;
    pub const KERNEL_DATA: u16 = 0x11;
    pub const INITRD_DATA: u16 = 0x12;
    pub const CMDLINE_ADDR: u16 = 0x13;
    pub const CMDLINE_SIZE: u16 = 0x14;
    pub const CMDLINE_DATA: u16 = 0x15;
    pub const SETUP_ADDR: u16 = 0x16;
    pub const SETUP_SIZE: u16 = 0x17;
    pub const SETUP_DATA: u16 = 0x18;
    pub const FILE_DIR: u16 = 0x19;
    /// The first file's selector.
    pub const FILE_FIRST: u16 = 0x20;
    /// Set in a selector: the write channel (ignored for reads).
    pub const WRITE_CHANNEL: u16 = 0x4000;
    /// Set in a selector: an architecture-specific item.
    pub const ARCH_LOCAL: u16 = 0x8000;
    pub const ACPI_TABLES: u16 = ARCH_LOCAL;
    pub const SMBIOS_ENTRIES: u16 = ARCH_LOCAL + 1;
    pub const IRQ0_OVERRIDE: u16 = ARCH_LOCAL + 2;
    pub const E820_TABLE: u16 = ARCH_LOCAL + 3;
    pub const HPET: u16 = ARCH_LOCAL + 4;
}

/// The signature item's contents.
pub const SIGNATURE: &[u8; 4] = b"QEMU";
/// What the DMA register reads as.
pub const DMA_SIGNATURE: &[u8; 8] = b"QEMU CFG";
/// ID item bits: the traditional interface, and DMA.
pub const ID_TRADITIONAL: u32 = 1 << 0;
pub const ID_DMA: u32 = 1 << 1;

/// `FWCfgDmaAccess.control` bits.
pub mod dma {
    pub const ERROR: u32 = 1 << 0;
    pub const READ: u32 = 1 << 1;
    pub const SKIP: u32 = 1 << 2;
    pub const SELECT: u32 = 1 << 3;
    pub const WRITE: u32 = 1 << 4;
}

/// Length of a file name field in the directory, NUL included.
pub const FILE_NAME_LEN: usize = 56;
/// Size of one directory entry: be32 size, be16 select, be16 reserved, name.
pub const DIR_ENTRY_LEN: usize = 64;
/// Most files: the selectors must stay below the write-channel bit.
pub const MAX_FILES: usize = (key::WRITE_CHANNEL - key::FILE_FIRST) as usize;

/// Why an item cannot be added.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum FwCfgError {
    #[error("fw_cfg file name `{0}` is empty or longer than 55 bytes")]
    BadName(String),
    #[error("fw_cfg file `{0}` exists already")]
    Duplicate(String),
    #[error("fw_cfg has no room for more files")]
    Full,
    #[error("fw_cfg item {0:#x} is out of the numbered range")]
    BadKey(u16),
    #[error("fw_cfg item of {0} bytes is larger than 4 GiB")]
    TooLarge(usize),
}

/// A named item.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct File {
    name: String,
    data: Vec<u8>,
}

/// The fw_cfg device.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct FwCfg {
    /// Numbered items other than the directory and the files.
    items: BTreeMap<u16, Vec<u8>>,
    /// Files sorted by name; file `i` has selector `FILE_FIRST + i`.
    files: Vec<File>,
    /// The encoded directory (item 0x19), rebuilt when a file is added.
    dir: Vec<u8>,
    /// The selected item (write-channel bit dropped).
    selected: u16,
    /// Next byte of the selected item to read.
    offset: u32,
    /// The DMA address register, as written so far.
    dma_addr: u64,
}

impl Default for FwCfg {
    fn default() -> Self {
        Self::new()
    }
}

impl FwCfg {
    /// A device holding the signature, the ID (with DMA) and an empty
    /// directory.
    pub fn new() -> Self {
        let mut items = BTreeMap::new();
        items.insert(key::SIGNATURE, SIGNATURE.to_vec());
        items.insert(key::ID, (ID_TRADITIONAL | ID_DMA).to_le_bytes().to_vec());
        Self { items, files: Vec::new(), dir: 0u32.to_be_bytes().to_vec(), selected: key::SIGNATURE, offset: 0, dma_addr: 0 }
    }

    /// Sets numbered item `k` (not the directory or a file selector).
    pub fn add_item(&mut self, k: u16, data: Vec<u8>) -> Result<(), FwCfgError> {
        let index = k & !key::ARCH_LOCAL;
        if k & key::WRITE_CHANNEL != 0 || index == key::FILE_DIR || index >= key::FILE_FIRST {
            return Err(FwCfgError::BadKey(k));
        }
        check_len(data.len())?;
        self.items.insert(k, data);
        Ok(())
    }

    /// Sets a 16-bit item (little-endian, as QEMU's `fw_cfg_add_i16`).
    pub fn add_u16(&mut self, k: u16, v: u16) -> Result<(), FwCfgError> {
        self.add_item(k, v.to_le_bytes().to_vec())
    }

    /// Sets a 32-bit item (little-endian).
    pub fn add_u32(&mut self, k: u16, v: u32) -> Result<(), FwCfgError> {
        self.add_item(k, v.to_le_bytes().to_vec())
    }

    /// Sets a 64-bit item (little-endian).
    pub fn add_u64(&mut self, k: u16, v: u64) -> Result<(), FwCfgError> {
        self.add_item(k, v.to_le_bytes().to_vec())
    }

    /// Adds a named file. Selectors follow name order, so adding a file
    /// may renumber those after it (as in QEMU, all files are added before
    /// the guest runs).
    pub fn add_file(&mut self, name: &str, data: Vec<u8>) -> Result<(), FwCfgError> {
        if name.is_empty() || name.len() >= FILE_NAME_LEN || name.contains('\0') {
            return Err(FwCfgError::BadName(name.to_owned()));
        }
        check_len(data.len())?;
        let at = match self.files.binary_search_by(|f| f.name.as_str().cmp(name)) {
            Ok(_) => return Err(FwCfgError::Duplicate(name.to_owned())),
            Err(at) => at,
        };
        if self.files.len() >= MAX_FILES {
            return Err(FwCfgError::Full);
        }
        self.files.insert(at, File { name: name.to_owned(), data });
        self.rebuild_dir();
        Ok(())
    }

    /// Replaces the contents of file `name`, or adds it.
    pub fn set_file(&mut self, name: &str, data: Vec<u8>) -> Result<(), FwCfgError> {
        match self.files.iter_mut().find(|f| f.name == name) {
            Some(f) => {
                check_len(data.len())?;
                f.data = data;
                self.rebuild_dir();
                Ok(())
            }
            None => self.add_file(name, data),
        }
    }

    /// The contents of file `name`, if present.
    pub fn file(&self, name: &str) -> Option<&[u8]> {
        self.files.iter().find(|f| f.name == name).map(|f| f.data.as_slice())
    }

    /// The contents of numbered item `k` (or of the directory or a file
    /// by selector); empty if there is none.
    pub fn item(&self, k: u16) -> &[u8] {
        let k = k & !key::WRITE_CHANNEL;
        if k == key::FILE_DIR {
            return &self.dir;
        }
        if k >= key::FILE_FIRST && k & key::ARCH_LOCAL == 0 {
            return self.files.get(usize::from(k - key::FILE_FIRST)).map_or(&[], |f| f.data.as_slice());
        }
        self.items.get(&k).map_or(&[], Vec::as_slice)
    }

    fn rebuild_dir(&mut self) {
        let mut dir = Vec::with_capacity(4 + self.files.len() * DIR_ENTRY_LEN);
        dir.extend_from_slice(&(self.files.len() as u32).to_be_bytes());
        for (i, f) in self.files.iter().enumerate() {
            dir.extend_from_slice(&(f.data.len() as u32).to_be_bytes());
            dir.extend_from_slice(&(key::FILE_FIRST + i as u16).to_be_bytes());
            dir.extend_from_slice(&[0, 0]);
            let mut name = [0u8; FILE_NAME_LEN];
            name[..f.name.len()].copy_from_slice(f.name.as_bytes());
            dir.extend_from_slice(&name);
        }
        self.dir = dir;
    }

    fn select(&mut self, k: u16) {
        self.selected = k & !key::WRITE_CHANNEL;
        self.offset = 0;
    }

    /// The next byte of the selected item; 0 past its end.
    fn next_byte(&mut self) -> u8 {
        let v = self.item(self.selected).get(self.offset as usize).copied();
        match v {
            Some(b) => {
                self.offset += 1;
                b
            }
            None => 0,
        }
    }

    /// A port read. `size` is 1, 2 or 4.
    pub fn io_read(&mut self, port: u16, size: u8) -> u32 {
        let size = u32::from(size.clamp(1, 4));
        match port {
            // Wider reads of the data port take successive bytes, first
            // byte lowest, as a string input would store them.
            DATA_PORT => (0..size).fold(0, |v, i| v | u32::from(self.next_byte()) << (8 * i)),
            p if (DMA_PORT..DMA_PORT + 8).contains(&p) => {
                let at = usize::from(p - DMA_PORT);
                (0..size as usize).fold(0, |v, i| v | u32::from(DMA_SIGNATURE.get(at + i).copied().unwrap_or(0)) << (8 * i))
            }
            _ => 0,
        }
    }

    /// A port write; DMA transfers move data to and from `mem`.
    pub fn io_write(&mut self, mem: &mut PhysMem, port: u16, size: u8, value: u32) {
        match (port, size) {
            (SELECTOR_PORT, 2 | 4) => self.select(value as u16),
            // The register is big-endian: an `outl` of the CPU's
            // little-endian value puts its bytes in reverse significance.
            (p, 4) if p == DMA_PORT => self.dma_addr = u64::from(value.swap_bytes()) << 32,
            (p, 4) if p == DMA_PORT + 4 => {
                let addr = self.dma_addr | u64::from(value.swap_bytes());
                self.dma_addr = 0;
                self.dma(mem, addr);
            }
            // Data port writes are ignored, as on QEMU since 2.4.
            _ => log::debug!("fw_cfg: ignored write {value:#x} (size {size}) to port {port:#x}"),
        }
    }

    /// Runs the DMA transfer described at physical address `desc`.
    fn dma(&mut self, mem: &mut PhysMem, desc: u64) {
        let Some(end) = desc.checked_add(16) else { return };
        if !is_ram(mem, desc, end - desc) {
            log::debug!("fw_cfg: DMA descriptor at {desc:#x} is not in RAM; ignored");
            return;
        }
        let mut raw = [0u8; 16];
        mem.read(desc, &mut raw);
        let be32 = |b: &[u8]| u32::from_be_bytes([b[0], b[1], b[2], b[3]]);
        let mut control = be32(&raw[0..4]);
        let mut length = be32(&raw[4..8]);
        let mut address = u64::from_be_bytes([raw[8], raw[9], raw[10], raw[11], raw[12], raw[13], raw[14], raw[15]]);
        if control & dma::SELECT != 0 {
            self.select((control >> 16) as u16);
        }
        // READ wins over WRITE, WRITE over SKIP; with none, nothing moves.
        let op = if control & dma::READ != 0 {
            dma::READ
        } else if control & dma::WRITE != 0 {
            dma::WRITE
        } else if control & dma::SKIP != 0 {
            dma::SKIP
        } else {
            length = 0;
            0
        };
        while length > 0 && control & dma::ERROR == 0 {
            let data = self.item(self.selected);
            let offset = self.offset as usize;
            let avail = data.len().saturating_sub(offset);
            let n = if avail == 0 { length } else { length.min(avail as u32) };
            let ok = match op {
                // Past the end a read fills with zeros.
                dma::READ if avail == 0 => dma_fill_zero(mem, address, n),
                dma::READ => {
                    let chunk = data[offset..offset + n as usize].to_vec();
                    dma_write(mem, address, &chunk)
                }
                // No item is writable.
                dma::WRITE => false,
                _ => true,
            };
            if !ok {
                control |= dma::ERROR;
                break;
            }
            if avail != 0 {
                self.offset += n;
            }
            address = address.wrapping_add(u64::from(n));
            length -= n;
        }
        let status = control & dma::ERROR;
        if status != 0 {
            log::debug!("fw_cfg: DMA error (descriptor {desc:#x}, item {:#x})", self.selected);
        }
        mem.write(desc, &status.to_be_bytes());
    }
}

fn check_len(len: usize) -> Result<(), FwCfgError> {
    if u32::try_from(len).is_err() {
        return Err(FwCfgError::TooLarge(len));
    }
    Ok(())
}

/// Whether `[addr, addr + len)` is all guest RAM.
fn is_ram(mem: &PhysMem, addr: u64, len: u64) -> bool {
    let Some(end) = addr.checked_add(len) else { return false };
    if end > mem.ram_size() {
        return false;
    }
    let mut page = addr & !(PAGE_SIZE - 1);
    while page < end {
        if !matches!(mem.region(mem.a20_mask(page)), Region::Ram { .. }) {
            return false;
        }
        page += PAGE_SIZE;
    }
    true
}

/// Copies `data` into guest RAM at `addr`; false (and nothing written)
/// if the range is not all RAM.
fn dma_write(mem: &mut PhysMem, addr: u64, data: &[u8]) -> bool {
    if !is_ram(mem, addr, data.len() as u64) {
        return false;
    }
    mem.write(addr, data);
    true
}

/// Zeroes `len` bytes of guest RAM at `addr`.
fn dma_fill_zero(mem: &mut PhysMem, addr: u64, len: u32) -> bool {
    if !is_ram(mem, addr, u64::from(len)) {
        return false;
    }
    let zeros = [0u8; PAGE_SIZE as usize];
    let mut done = 0u64;
    while done < u64::from(len) {
        let n = (u64::from(len) - done).min(PAGE_SIZE);
        mem.write(addr + done, &zeros[..n as usize]);
        done += n;
    }
    true
}

#[cfg(test)]
mod tests {
    use super::*;

    const RAM: u64 = 1 << 20;

    fn setup() -> (FwCfg, PhysMem) {
        (FwCfg::new(), PhysMem::new(RAM).unwrap())
    }

    fn read_item(f: &mut FwCfg, mem: &mut PhysMem, k: u16, len: usize) -> Vec<u8> {
        f.io_write(mem, SELECTOR_PORT, 2, u32::from(k));
        (0..len).map(|_| f.io_read(DATA_PORT, 1) as u8).collect()
    }

    /// Writes a DMA descriptor at `desc` and starts it as SeaBIOS does.
    fn run_dma(f: &mut FwCfg, mem: &mut PhysMem, desc: u64, control: u32, length: u32, address: u64) -> u32 {
        let mut raw = Vec::new();
        raw.extend_from_slice(&control.to_be_bytes());
        raw.extend_from_slice(&length.to_be_bytes());
        raw.extend_from_slice(&address.to_be_bytes());
        mem.write(desc, &raw);
        // outl(cpu_to_be32(high)), outl(cpu_to_be32(low))
        f.io_write(mem, DMA_PORT, 4, ((desc >> 32) as u32).swap_bytes());
        f.io_write(mem, DMA_PORT + 4, 4, (desc as u32).swap_bytes());
        let mut c = [0u8; 4];
        mem.read(desc, &mut c);
        u32::from_be_bytes(c)
    }

    #[test]
    fn signature_and_id_by_port() {
        let (mut f, mut mem) = setup();
        assert_eq!(read_item(&mut f, &mut mem, key::SIGNATURE, 5), b"QEMU\0");
        assert_eq!(read_item(&mut f, &mut mem, key::ID, 4), [3, 0, 0, 0], "traditional + DMA");
        assert_eq!(read_item(&mut f, &mut mem, 0x1234, 2), [0, 0], "a missing item reads as zeros");
    }

    #[test]
    fn dma_register_reads_its_signature() {
        let (mut f, _) = setup();
        let hi = f.io_read(DMA_PORT, 4).to_le_bytes();
        let lo = f.io_read(DMA_PORT + 4, 4).to_le_bytes();
        assert_eq!([hi, lo].concat(), b"QEMU CFG");
        assert_eq!(f.io_read(DMA_PORT + 1, 1), u32::from(b'E'));
    }

    #[test]
    fn numeric_items_are_little_endian() {
        let (mut f, mut mem) = setup();
        f.add_u64(key::RAM_SIZE, 0x0800_0000).unwrap();
        f.add_u16(key::NB_CPUS, 1).unwrap();
        assert_eq!(read_item(&mut f, &mut mem, key::RAM_SIZE, 8), [0, 0, 0, 8, 0, 0, 0, 0]);
        assert_eq!(read_item(&mut f, &mut mem, key::NB_CPUS, 2), [1, 0]);
        assert_eq!(f.add_item(key::FILE_DIR, vec![]), Err(FwCfgError::BadKey(key::FILE_DIR)));
        assert_eq!(f.add_item(0x20, vec![]), Err(FwCfgError::BadKey(0x20)));
        assert!(f.add_u32(key::IRQ0_OVERRIDE, 1).is_ok(), "arch-local items are numbered");
    }

    #[test]
    fn directory_is_big_endian_and_sorted_by_name() {
        let (mut f, mut mem) = setup();
        f.add_file("etc/e820", vec![1; 20]).unwrap();
        f.add_file("bootorder", vec![]).unwrap();
        f.add_file("etc/boot-fail-wait", vec![0xFF; 4]).unwrap();
        assert_eq!(f.add_file("bootorder", vec![]), Err(FwCfgError::Duplicate("bootorder".into())));
        assert!(matches!(f.add_file(&"x".repeat(56), vec![]), Err(FwCfgError::BadName(_))));
        let dir = read_item(&mut f, &mut mem, key::FILE_DIR, 4 + 3 * 64);
        assert_eq!(dir[..4], [0, 0, 0, 3]);
        let entry = |i: usize| &dir[4 + i * 64..4 + (i + 1) * 64];
        let name = |e: &[u8]| String::from_utf8(e[8..].iter().copied().take_while(|&b| b != 0).collect()).unwrap();
        assert_eq!(name(entry(0)), "bootorder");
        assert_eq!(name(entry(1)), "etc/boot-fail-wait");
        assert_eq!(name(entry(2)), "etc/e820");
        assert_eq!(entry(2)[..8], [0, 0, 0, 20, 0x00, 0x22, 0, 0], "size 20, selector 0x22");
        assert_eq!(read_item(&mut f, &mut mem, 0x22, 2), [1, 1]);
        assert_eq!(read_item(&mut f, &mut mem, 0x21, 5), [0xFF, 0xFF, 0xFF, 0xFF, 0], "past the end reads 0");
        assert_eq!(f.file("etc/e820"), Some(&[1u8; 20][..]));
    }

    #[test]
    fn dma_select_read_fills_ram_and_clears_control() {
        let (mut f, mut mem) = setup();
        f.add_item(key::SETUP_DATA, (0..10).collect()).unwrap();
        let control = (u32::from(key::SETUP_DATA) << 16) | dma::SELECT | dma::READ;
        assert_eq!(run_dma(&mut f, &mut mem, 0x1000, control, 4, 0x2000), 0);
        let mut got = [0u8; 4];
        mem.read(0x2000, &mut got);
        assert_eq!(got, [0, 1, 2, 3]);
        // Skip 2, then read 6: 4 bytes remain, the rest is zero-filled.
        mem.write(0x3000, &[0xAA; 8]);
        assert_eq!(run_dma(&mut f, &mut mem, 0x1000, dma::SKIP, 2, 0), 0);
        assert_eq!(run_dma(&mut f, &mut mem, 0x1000, dma::READ, 6, 0x3000), 0);
        let mut got = [0u8; 8];
        mem.read(0x3000, &mut got);
        assert_eq!(got, [6, 7, 8, 9, 0, 0, 0xAA, 0xAA]);
        // The byte interface continues where DMA stopped: at the end.
        assert_eq!(f.io_read(DATA_PORT, 1), 0);
    }

    #[test]
    fn dma_errors_outside_ram_and_on_writes() {
        let (mut f, mut mem) = setup();
        let control = (u32::from(key::SIGNATURE) << 16) | dma::SELECT | dma::READ;
        assert_eq!(run_dma(&mut f, &mut mem, 0x1000, control, 4, RAM - 2), dma::ERROR, "crosses the end of RAM");
        assert_eq!(run_dma(&mut f, &mut mem, 0x1000, control, 4, u64::MAX - 1), dma::ERROR, "wraps");
        assert_eq!(run_dma(&mut f, &mut mem, 0x1000, dma::WRITE, 4, 0x2000), dma::ERROR, "items are read-only");
        assert_eq!(run_dma(&mut f, &mut mem, 0x1000, 0, 4, 0x2000), 0, "no operation is no error");
        // A descriptor outside RAM is ignored without harm.
        f.io_write(&mut mem, DMA_PORT, 4, 0x0100_0000);
        f.io_write(&mut mem, DMA_PORT + 4, 4, 0xF0FF_FFFF);
        f.io_write(&mut mem, DMA_PORT + 4, 4, 0xFFFF_FFFF);
    }

    #[test]
    fn any_port_value_in_any_order_is_harmless() {
        let (mut f, mut mem) = setup();
        f.add_file("a", vec![1, 2, 3]).unwrap();
        let mut x: u32 = 0x1234_5678;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let port = SELECTOR_PORT + (x % 12) as u16;
            let size = [1, 2, 4][(x >> 8) as usize % 3];
            if x & 0x8000_0000 != 0 {
                f.io_read(port, size);
            } else {
                // Keep descriptor addresses mostly inside RAM.
                let v = if port >= DMA_PORT { (x & 0x000F_FFF0).swap_bytes() } else { x.rotate_left(7) };
                f.io_write(&mut mem, port, size, v);
            }
        }
    }

    #[test]
    fn state_round_trips_through_serde() {
        let (mut f, mut mem) = setup();
        f.add_file("bootorder", b"/rom@genroms/linuxboot.bin\n\0".to_vec()).unwrap();
        f.add_u64(key::RAM_SIZE, 1 << 27).unwrap();
        read_item(&mut f, &mut mem, key::FILE_DIR, 3);
        let json = serde_json::to_string(&f).unwrap();
        let back: FwCfg = serde_json::from_str(&json).unwrap();
        assert_eq!(back, f);
    }
}
