//! Direct Linux boot through the firmware, as QEMU's `-kernel`, `-initrd`
//! and `-append` do it: ironpc lays out the bzImage per the Linux x86 boot
//! protocol (Documentation/arch/x86/boot.rst, "Loading the rest of the
//! kernel", "Sample boot configuration"), patches the setup header as a
//! boot loader must, and hands the pieces to the guest in the fw_cfg
//! kernel/initrd/setup/command-line items. SeaBIOS runs the option ROM
//! `genroms/linuxboot.bin` (`roms/linuxboot.asm`), which copies them into
//! place with fw_cfg DMA and enters the real-mode setup code.
//!
//! Layout (a protocol 2.02+ kernel loaded high, as QEMU places it): setup
//! code at 0x10000, command line at 0x20000, protected-mode kernel at
//! 1 MiB, initrd as high as the kernel's `initrd_addr_max` and the top of
//! RAM allow, below the space SeaBIOS keeps for its tables.

use crate::linux::{hdr, BootError, LinuxKernel, HEADER_OFFSET, KERNEL_ADDR};
use ironpc_devices::fw_cfg::{key, FwCfg, FwCfgError};

/// Why a kernel cannot be booted through the firmware.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinuxBootError {
    #[error(transparent)]
    Kernel(#[from] BootError),
    #[error("the kernel's setup code is {0} bytes; at most 32 KiB fit below its heap and stack")]
    SetupTooLarge(usize),
    #[error("cannot fill fw_cfg: {0}")]
    FwCfg(#[from] FwCfgError),
}

/// Where the real-mode setup code goes.
pub const SETUP_ADDR: u32 = 0x1_0000;
/// Where the command line goes: right after the setup segment's 64 KiB.
pub const CMDLINE_ADDR: u32 = 0x2_0000;
/// Most setup code: boot.rst's memory layout gives it 32 KiB of the
/// setup segment, the heap and stack the rest.
pub const MAX_SETUP: usize = 0x8000;
/// RAM left free at the top for the firmware's ACPI tables (QEMU's
/// `acpi_data_size`: 128 KiB of tables and 32 KiB for their loader).
pub const TOP_RESERVE: u64 = 0x2_8000;
/// The fw_cfg file name of the option ROM, and its boot device path.
pub const ROM_FILE: &str = "genroms/linuxboot.bin";
pub const ROM_BOOT_PATH: &str = "/rom@genroms/linuxboot.bin";
/// `type_of_loader`: 0xB0, "Qemu" in the boot protocol's list of loader
/// IDs (what QEMU's loader writes; the guest cannot tell us apart).
pub const LOADER_ID: u8 = 0xB0;

/// Where the pieces of a kernel went.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Layout {
    pub setup_addr: u32,
    pub setup_size: u32,
    pub kernel_addr: u32,
    pub kernel_size: u32,
    pub cmdline_addr: u32,
    pub initrd_addr: u32,
    pub initrd_size: u32,
}

/// Lays out the bzImage `image` for a machine with `ram` bytes and fills
/// the fw_cfg kernel, initrd, setup and command-line items and the option
/// ROM. The caller makes SeaBIOS boot the ROM first (`bootorder`:
/// [`ROM_BOOT_PATH`]).
pub fn load_via_fw_cfg(
    cfg: &mut FwCfg,
    ram: u64,
    image: &[u8],
    initrd: Option<&[u8]>,
    cmdline: &str,
) -> Result<Layout, LinuxBootError> {
    let k = LinuxKernel::parse(image)?;
    if k.setup.len() > MAX_SETUP {
        return Err(LinuxBootError::SetupTooLarge(k.setup.len()));
    }
    // The top of RAM holds SeaBIOS's tables, so neither the kernel nor
    // the initrd may reach it.
    let usable = ram.saturating_sub(TOP_RESERVE);
    k.check_fits(usable)?;
    k.check_cmdline(cmdline)?;
    let initrd = initrd.unwrap_or(&[]);
    let initrd_at = match initrd.len() {
        0 => None,
        n => Some((k.place_initrd(n as u64, usable)? as u32, n as u32)),
    };

    // The heap runs to the command line; its end is an offset from the
    // setup segment, minus the 0x200 the protocol reserves for the stack.
    let heap_end = (CMDLINE_ADDR - SETUP_ADDR - 0x200) as u16;
    let header = k.patched_header(CMDLINE_ADDR, initrd_at, heap_end);
    let mut setup = k.setup.clone();
    setup[HEADER_OFFSET..HEADER_OFFSET + header.len()].copy_from_slice(&header);
    setup[hdr::TYPE_OF_LOADER] = LOADER_ID;
    let mut cmdline = cmdline.as_bytes().to_vec();
    cmdline.push(0);

    let (initrd_addr, initrd_size) = initrd_at.unwrap_or((0, 0));
    let layout = Layout {
        setup_addr: SETUP_ADDR,
        setup_size: setup.len() as u32,
        kernel_addr: KERNEL_ADDR as u32,
        kernel_size: k.kernel.len() as u32,
        cmdline_addr: CMDLINE_ADDR,
        initrd_addr,
        initrd_size,
    };
    cfg.add_u32(key::SETUP_ADDR, layout.setup_addr)?;
    cfg.add_u32(key::SETUP_SIZE, layout.setup_size)?;
    cfg.add_item(key::SETUP_DATA, setup)?;
    cfg.add_u32(key::KERNEL_ADDR, layout.kernel_addr)?;
    cfg.add_u32(key::KERNEL_SIZE, layout.kernel_size)?;
    cfg.add_item(key::KERNEL_DATA, k.kernel)?;
    cfg.add_u32(key::INITRD_ADDR, layout.initrd_addr)?;
    cfg.add_u32(key::INITRD_SIZE, layout.initrd_size)?;
    cfg.add_item(key::INITRD_DATA, initrd.to_vec())?;
    cfg.add_u32(key::CMDLINE_ADDR, layout.cmdline_addr)?;
    cfg.add_u32(key::CMDLINE_SIZE, cmdline.len() as u32)?;
    cfg.add_item(key::CMDLINE_DATA, cmdline)?;
    cfg.add_file(ROM_FILE, linuxboot_rom())?;
    Ok(layout)
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

/// The assembled `roms/linuxboot.asm`.
const LINUXBOOT_RAW: &[u8] = include_bytes!(concat!(env!("OUT_DIR"), "/linuxboot.bin"));

/// The option ROM, padded to whole 512-byte blocks (one spare byte for
/// the checksum) with its size byte, PnP header checksum and ROM checksum
/// set.
pub fn linuxboot_rom() -> Vec<u8> {
    option_rom(LINUXBOOT_RAW)
}

/// Fixes up an expansion ROM image: the size in 512-byte units at offset
/// 2, the checksum of the PnP header (offset in the word at 0x1A; the
/// header's length in 16-byte units at +5, its checksum at +9) and the
/// last byte so that the whole image sums to zero.
pub fn option_rom(raw: &[u8]) -> Vec<u8> {
    let mut rom = raw.to_vec();
    rom.resize((raw.len() + 1).next_multiple_of(512), 0);
    rom[2] = (rom.len() / 512) as u8;
    let pnp = usize::from(le16(&rom, 0x1A));
    if pnp != 0 && rom.get(pnp..pnp + 4) == Some(b"$PnP") {
        let len = usize::from(rom[pnp + 5]) * 16;
        rom[pnp + 9] = 0;
        let sum = rom[pnp..pnp + len].iter().fold(0u8, |s, &b| s.wrapping_add(b));
        rom[pnp + 9] = sum.wrapping_neg();
    }
    let last = rom.len() - 1;
    rom[last] = 0;
    let sum = rom.iter().fold(0u8, |s, &b| s.wrapping_add(b));
    rom[last] = sum.wrapping_neg();
    rom
}

/// The assembled `roms/multiboot.asm`, fixed up.
pub fn multiboot_rom() -> Vec<u8> {
    option_rom(include_bytes!(concat!(env!("OUT_DIR"), "/multiboot.bin")))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::linux::loadflags;

    /// A bzImage-shaped blob: `sects` setup sectors after the boot sector,
    /// then `kernel_len` bytes of kernel.
    fn bzimage(version: u16, sects: u8, kernel_len: usize) -> Vec<u8> {
        let mut v = vec![0u8; (usize::from(sects) + 1) * 512 + kernel_len];
        v[hdr::SETUP_SECTS] = sects;
        // jmp short over the header, to 0x268: the header's extent.
        v[0x200..0x202].copy_from_slice(&[0xEB, 0x66]);
        v[hdr::BOOT_FLAG..hdr::BOOT_FLAG + 2].copy_from_slice(&0xAA55u16.to_le_bytes());
        v[hdr::HEADER..hdr::HEADER + 4].copy_from_slice(b"HdrS");
        v[hdr::VERSION..hdr::VERSION + 2].copy_from_slice(&version.to_le_bytes());
        v[hdr::LOADFLAGS] = loadflags::LOADED_HIGH;
        v[hdr::INITRD_ADDR_MAX..hdr::INITRD_ADDR_MAX + 4].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
        v[hdr::CMDLINE_SIZE..hdr::CMDLINE_SIZE + 4].copy_from_slice(&2047u32.to_le_bytes());
        v
    }

    fn le32(b: &[u8], at: usize) -> u32 {
        u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
    }

    fn load(cfg: &mut FwCfg, ram: u64, kernel: &[u8], initrd: Option<Vec<u8>>, cmdline: &str) -> Result<Layout, LinuxBootError> {
        load_via_fw_cfg(cfg, ram, kernel, initrd.as_deref(), cmdline)
    }

    const RAM: u64 = 128 << 20;

    #[test]
    fn items_and_patched_header() {
        let mut cfg = FwCfg::new();
        let l = load(&mut cfg, RAM, &bzimage(0x20F, 4, 3000), Some(vec![7; 8]), "console=ttyS0 hello").unwrap();
        // QEMU places an 8-byte initrd in 128 MiB at 0x7FD7000: the end
        // of RAM less 0x28000 for the firmware's tables, less 8, rounded
        // down to a page.
        assert_eq!(l.initrd_addr, 0x07FD_7000);
        assert_eq!(cfg.item(key::INITRD_ADDR), 0x07FD_7000u32.to_le_bytes());
        assert_eq!(cfg.item(key::INITRD_SIZE), 8u32.to_le_bytes());
        assert_eq!(cfg.item(key::INITRD_DATA), [7; 8]);
        assert_eq!(cfg.item(key::KERNEL_ADDR), 0x10_0000u32.to_le_bytes());
        assert_eq!(cfg.item(key::KERNEL_SIZE), 3000u32.to_le_bytes());
        assert_eq!(cfg.item(key::KERNEL_DATA).len(), 3000);
        assert_eq!(cfg.item(key::SETUP_ADDR), 0x1_0000u32.to_le_bytes());
        assert_eq!(cfg.item(key::SETUP_SIZE), 2560u32.to_le_bytes(), "(4 + 1) sectors");
        assert_eq!(cfg.item(key::CMDLINE_ADDR), 0x2_0000u32.to_le_bytes());
        assert_eq!(cfg.item(key::CMDLINE_SIZE), 20u32.to_le_bytes(), "with its NUL");
        assert_eq!(cfg.item(key::CMDLINE_DATA), b"console=ttyS0 hello\0");
        let s = cfg.item(key::SETUP_DATA);
        assert_eq!(s[hdr::TYPE_OF_LOADER], 0xB0);
        assert_eq!(s[hdr::LOADFLAGS], loadflags::LOADED_HIGH | loadflags::CAN_USE_HEAP);
        assert_eq!(le16(s, hdr::HEAP_END_PTR), 0xFE00);
        assert_eq!(le32(s, hdr::CMD_LINE_PTR), 0x2_0000);
        assert_eq!(le32(s, hdr::RAMDISK_IMAGE), 0x07FD_7000);
        assert_eq!(le32(s, hdr::RAMDISK_SIZE), 8);
        assert!(cfg.file(ROM_FILE).is_some());
    }

    #[test]
    fn initrd_respects_initrd_addr_max() {
        let mut k = bzimage(0x20F, 4, 3000);
        k[hdr::INITRD_ADDR_MAX..hdr::INITRD_ADDR_MAX + 4].copy_from_slice(&0x00FF_FFFFu32.to_le_bytes());
        let l = load(&mut FwCfg::new(), RAM, &k, Some(vec![0; 0x1800]), "").unwrap();
        assert_eq!(l.initrd_addr, (0x0100_0000 - 0x1800) & !0xFFF, "its last byte at most initrd_addr_max");
        assert_eq!(l.initrd_size, 0x1800);
    }

    #[test]
    fn errors() {
        let e =
            |k: &[u8], initrd: Option<Vec<u8>>, cmdline: &str, ram| load(&mut FwCfg::new(), ram, k, initrd, cmdline).unwrap_err();
        let bz = bzimage(0x20F, 4, 100);
        assert_eq!(e(&[0; 4096], None, "", RAM), LinuxBootError::Kernel(BootError::NotBzImage));
        assert_eq!(e(&bzimage(0x201, 4, 100), None, "", RAM), LinuxBootError::Kernel(BootError::TooOld(0x201)));
        assert_eq!(e(&bzimage(0x20F, 64, 100), None, "", RAM), LinuxBootError::SetupTooLarge(65 * 512));
        assert!(matches!(e(&bz, Some(vec![0; 127 << 20]), "", RAM), LinuxBootError::Kernel(BootError::InitrdTooBig { .. })));
        assert!(matches!(e(&bz, None, &"x".repeat(2048), RAM), LinuxBootError::Kernel(BootError::CmdlineTooLong { .. })));
        // 1 MiB + 100 bytes of kernel does not fit below the tables of a
        // 1 MiB + 128 KiB machine.
        assert!(matches!(e(&bz, None, "", (1 << 20) + 0x2_0000), LinuxBootError::Kernel(BootError::KernelTooBig { .. })));
    }

    #[test]
    fn rom_is_a_valid_pnp_expansion_rom() {
        let rom = linuxboot_rom();
        assert_eq!(rom[..2], [0x55, 0xAA]);
        assert_eq!(rom.len() % 512, 0);
        assert_eq!(usize::from(rom[2]) * 512, rom.len());
        assert_eq!(rom.iter().fold(0u8, |s, &b| s.wrapping_add(b)), 0, "ROM checksum");
        let pnp = usize::from(le16(&rom, 0x1A));
        assert_eq!(&rom[pnp..pnp + 4], b"$PnP");
        assert_eq!(rom[pnp..pnp + 32].iter().fold(0u8, |s, &b| s.wrapping_add(b)), 0, "PnP header checksum");
        assert_ne!(le16(&rom, pnp + 0x1A), 0, "a bootstrap entry vector");
    }
}
