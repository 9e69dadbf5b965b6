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

use ironpc_devices::fw_cfg::{key, FwCfg, FwCfgError};

/// A kernel to boot, with its initrd and command line.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct KernelBoot {
    /// The bzImage file.
    pub kernel: Vec<u8>,
    /// The initrd (initramfs) file, if any.
    pub initrd: Option<Vec<u8>>,
    /// The kernel command line.
    pub cmdline: String,
    /// Load through the firmware (SeaBIOS and `linuxboot.bin`) rather than
    /// entering the kernel directly.
    pub via_firmware: bool,
}

/// Why a kernel cannot be booted.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum LinuxBootError {
    #[error("not a Linux bzImage: {0}")]
    NotBzImage(&'static str),
    #[error("the kernel's boot protocol {0:#x} is older than 2.02 (it cannot be loaded high)")]
    TooOld(u16),
    #[error("the kernel ({size} bytes, {need} bytes once unpacked) does not fit in {ram} bytes of RAM")]
    KernelTooLarge { size: u64, need: u64, ram: u64 },
    #[error("the command line is {len} bytes; this kernel accepts at most {max}")]
    CmdlineTooLong { len: usize, max: u32 },
    #[error(
        "the initrd ({size} bytes) does not fit between the kernel and {limit:#x} (RAM size and the kernel's initrd_addr_max)"
    )]
    InitrdTooLarge { size: u64, limit: u64 },
    #[error(transparent)]
    FwCfg(#[from] FwCfgError),
}

/// Where the real-mode setup code goes.
pub const SETUP_ADDR: u32 = 0x1_0000;
/// Where the command line goes: right after the setup segment's 64 KiB.
pub const CMDLINE_ADDR: u32 = 0x2_0000;
/// Where the protected-mode kernel goes.
pub const KERNEL_ADDR: u32 = 0x10_0000;
/// RAM left free at the top for the firmware's ACPI tables (QEMU's
/// `acpi_data_size`: 128 KiB of tables and 32 KiB for their loader).
pub const TOP_RESERVE: u64 = 0x2_8000;
/// The fw_cfg file name of the option ROM, and its boot device path.
pub const ROM_FILE: &str = "genroms/linuxboot.bin";
pub const ROM_BOOT_PATH: &str = "/rom@genroms/linuxboot.bin";
/// `type_of_loader`: 0xB0, "Qemu" in the boot protocol's list of loader
/// IDs (what QEMU's loader writes; the guest cannot tell us apart).
pub const LOADER_ID: u8 = 0xB0;

/// Setup header fields (boot.rst, "The real-mode kernel header").
mod hdr {
    pub const SETUP_SECTS: usize = 0x1F1;
    pub const BOOT_FLAG: usize = 0x1FE;
    pub const HEADER: usize = 0x202;
    pub const VERSION: usize = 0x206;
    pub const TYPE_OF_LOADER: usize = 0x210;
    pub const LOADFLAGS: usize = 0x211;
    pub const RAMDISK_IMAGE: usize = 0x218;
    pub const RAMDISK_SIZE: usize = 0x21C;
    pub const HEAP_END_PTR: usize = 0x224;
    pub const CMD_LINE_PTR: usize = 0x228;
    pub const INITRD_ADDR_MAX: usize = 0x22C;
    pub const CMDLINE_SIZE: usize = 0x238;
    pub const INIT_SIZE: usize = 0x260;
    /// loadflags bits.
    pub const LOADED_HIGH: u8 = 1 << 0;
    pub const CAN_USE_HEAP: u8 = 1 << 7;
}

/// The bzImage split into its parts, with the header fields the loader
/// needs.
struct BzImage<'a> {
    setup: &'a [u8],
    kernel: &'a [u8],
    version: u16,
    loadflags: u8,
    initrd_addr_max: u32,
    cmdline_size: u32,
    init_size: u32,
}

fn le16(b: &[u8], at: usize) -> u16 {
    u16::from_le_bytes([b[at], b[at + 1]])
}

fn le32(b: &[u8], at: usize) -> u32 {
    u32::from_le_bytes([b[at], b[at + 1], b[at + 2], b[at + 3]])
}

fn parse(image: &[u8]) -> Result<BzImage<'_>, LinuxBootError> {
    if image.len() < 0x400 {
        return Err(LinuxBootError::NotBzImage("too short for a setup header"));
    }
    if le16(image, hdr::BOOT_FLAG) != 0xAA55 || &image[hdr::HEADER..hdr::HEADER + 4] != b"HdrS" {
        return Err(LinuxBootError::NotBzImage("no \"HdrS\" setup header"));
    }
    let version = le16(image, hdr::VERSION);
    if version < 0x202 {
        return Err(LinuxBootError::TooOld(version));
    }
    let loadflags = image[hdr::LOADFLAGS];
    if loadflags & hdr::LOADED_HIGH == 0 {
        return Err(LinuxBootError::NotBzImage("a zImage (loaded low); only bzImages are supported"));
    }
    let sects = match image[hdr::SETUP_SECTS] {
        0 => 4,
        n => usize::from(n),
    };
    let setup_len = (sects + 1) * 512;
    // The setup code, its heap and stack share the 64 KiB below the
    // command line.
    if setup_len > (CMDLINE_ADDR - SETUP_ADDR) as usize / 2 {
        return Err(LinuxBootError::NotBzImage("setup code larger than 32 KiB"));
    }
    if image.len() <= setup_len {
        return Err(LinuxBootError::NotBzImage("no protected-mode kernel after the setup code"));
    }
    let (setup, kernel) = image.split_at(setup_len);
    let field =
        |at: usize, since: u16, default: u32| if version >= since && setup.len() >= at + 4 { le32(setup, at) } else { default };
    Ok(BzImage {
        setup,
        kernel,
        version,
        loadflags,
        initrd_addr_max: field(hdr::INITRD_ADDR_MAX, 0x203, 0x37FF_FFFF),
        cmdline_size: field(hdr::CMDLINE_SIZE, 0x206, 255),
        init_size: field(hdr::INIT_SIZE, 0x20A, 0),
    })
}

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

/// Lays out `boot` for a machine with `ram` bytes and fills the fw_cfg
/// kernel, initrd, setup and command-line items and the option ROM. The
/// caller makes SeaBIOS boot the ROM first (`bootorder`: [`ROM_BOOT_PATH`]).
pub fn load_via_fw_cfg(cfg: &mut FwCfg, ram: u64, boot: &KernelBoot) -> Result<Layout, LinuxBootError> {
    let bz = parse(&boot.kernel)?;
    let kernel_size = bz.kernel.len() as u64;
    let need = kernel_size.max(u64::from(bz.init_size));
    let kernel_end = u64::from(KERNEL_ADDR) + need;
    if kernel_end > ram.saturating_sub(TOP_RESERVE) {
        return Err(LinuxBootError::KernelTooLarge { size: kernel_size, need, ram });
    }
    let mut cmdline = boot.cmdline.as_bytes().to_vec();
    if cmdline.len() as u64 > u64::from(bz.cmdline_size) {
        return Err(LinuxBootError::CmdlineTooLong { len: cmdline.len(), max: bz.cmdline_size });
    }
    cmdline.push(0);

    let initrd = boot.initrd.as_deref().unwrap_or(&[]);
    let initrd_size = initrd.len() as u64;
    let (initrd_addr, initrd_size) = if initrd.is_empty() {
        (0, 0)
    } else {
        // The highest page-aligned place below both limits, as QEMU and
        // GRUB place it; it must not reach into the unpacked kernel.
        let limit = u64::from(bz.initrd_addr_max).min(ram - TOP_RESERVE - 1);
        let addr = limit.checked_sub(initrd_size).map(|a| a & !0xFFF);
        match addr {
            Some(a) if a >= kernel_end.next_multiple_of(0x1000) => (a as u32, initrd_size as u32),
            _ => return Err(LinuxBootError::InitrdTooLarge { size: initrd_size, limit }),
        }
    };

    let mut setup = bz.setup.to_vec();
    let put32 = |s: &mut Vec<u8>, at: usize, v: u32| s[at..at + 4].copy_from_slice(&v.to_le_bytes());
    setup[hdr::TYPE_OF_LOADER] = LOADER_ID;
    setup[hdr::LOADFLAGS] = bz.loadflags | hdr::CAN_USE_HEAP;
    // The heap runs to the command line; its end is an offset from the
    // setup segment, minus the 0x200 the protocol reserves for the stack.
    let heap_end = (CMDLINE_ADDR - SETUP_ADDR - 0x200) as u16;
    setup[hdr::HEAP_END_PTR..hdr::HEAP_END_PTR + 2].copy_from_slice(&heap_end.to_le_bytes());
    put32(&mut setup, hdr::CMD_LINE_PTR, CMDLINE_ADDR);
    put32(&mut setup, hdr::RAMDISK_IMAGE, initrd_addr);
    put32(&mut setup, hdr::RAMDISK_SIZE, initrd_size);
    let _ = bz.version;

    let layout = Layout {
        setup_addr: SETUP_ADDR,
        setup_size: setup.len() as u32,
        kernel_addr: KERNEL_ADDR,
        kernel_size: kernel_size as u32,
        cmdline_addr: CMDLINE_ADDR,
        initrd_addr,
        initrd_size,
    };
    cfg.add_u32(key::SETUP_ADDR, layout.setup_addr)?;
    cfg.add_u32(key::SETUP_SIZE, layout.setup_size)?;
    cfg.add_item(key::SETUP_DATA, setup)?;
    cfg.add_u32(key::KERNEL_ADDR, layout.kernel_addr)?;
    cfg.add_u32(key::KERNEL_SIZE, layout.kernel_size)?;
    cfg.add_item(key::KERNEL_DATA, bz.kernel.to_vec())?;
    cfg.add_u32(key::INITRD_ADDR, layout.initrd_addr)?;
    cfg.add_u32(key::INITRD_SIZE, layout.initrd_size)?;
    cfg.add_item(key::INITRD_DATA, initrd.to_vec())?;
    cfg.add_u32(key::CMDLINE_ADDR, layout.cmdline_addr)?;
    cfg.add_u32(key::CMDLINE_SIZE, cmdline.len() as u32)?;
    cfg.add_item(key::CMDLINE_DATA, cmdline)?;
    cfg.add_file(ROM_FILE, linuxboot_rom())?;
    Ok(layout)
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
fn option_rom(raw: &[u8]) -> Vec<u8> {
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

#[cfg(test)]
mod tests {
    use super::*;

    /// A bzImage-shaped blob: `sects` setup sectors after the boot sector,
    /// then `kernel_len` bytes of kernel.
    fn bzimage(version: u16, sects: u8, kernel_len: usize) -> Vec<u8> {
        let mut v = vec![0u8; (usize::from(sects) + 1) * 512 + kernel_len];
        v[hdr::SETUP_SECTS] = sects;
        v[hdr::BOOT_FLAG..hdr::BOOT_FLAG + 2].copy_from_slice(&0xAA55u16.to_le_bytes());
        v[hdr::HEADER..hdr::HEADER + 4].copy_from_slice(b"HdrS");
        v[hdr::VERSION..hdr::VERSION + 2].copy_from_slice(&version.to_le_bytes());
        v[hdr::LOADFLAGS] = hdr::LOADED_HIGH;
        v[hdr::INITRD_ADDR_MAX..hdr::INITRD_ADDR_MAX + 4].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
        v[hdr::CMDLINE_SIZE..hdr::CMDLINE_SIZE + 4].copy_from_slice(&2047u32.to_le_bytes());
        v
    }

    fn boot(kernel: Vec<u8>, initrd: Option<Vec<u8>>, cmdline: &str) -> KernelBoot {
        KernelBoot { kernel, initrd, cmdline: cmdline.into(), via_firmware: true }
    }

    const RAM: u64 = 128 << 20;

    #[test]
    fn items_and_patched_header() {
        let mut cfg = FwCfg::new();
        let b = boot(bzimage(0x20F, 4, 3000), Some(vec![7; 8]), "console=ttyS0 hello");
        let l = load_via_fw_cfg(&mut cfg, RAM, &b).unwrap();
        // QEMU places an 8-byte initrd in 128 MiB at 0x7FD7000:
        // ((128 MiB - 0x28000 - 1) - 8) rounded down to a page.
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
        assert_eq!(s[hdr::LOADFLAGS], hdr::LOADED_HIGH | hdr::CAN_USE_HEAP);
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
        let l = load_via_fw_cfg(&mut FwCfg::new(), RAM, &boot(k, Some(vec![0; 0x1800]), "")).unwrap();
        assert_eq!(l.initrd_addr, (0x00FF_FFFF - 0x1800) & !0xFFF);
        assert_eq!(l.initrd_size, 0x1800);
    }

    #[test]
    fn errors() {
        let e = |b: KernelBoot, ram| load_via_fw_cfg(&mut FwCfg::new(), ram, &b).unwrap_err();
        assert!(matches!(e(boot(vec![0; 4096], None, ""), RAM), LinuxBootError::NotBzImage(_)));
        assert_eq!(e(boot(bzimage(0x201, 4, 100), None, ""), RAM), LinuxBootError::TooOld(0x201));
        assert!(matches!(e(boot(bzimage(0x20F, 64, 100), None, ""), RAM), LinuxBootError::NotBzImage(_)), "65 setup sectors");
        assert!(matches!(
            e(boot(bzimage(0x20F, 4, 100), Some(vec![0; 127 << 20]), ""), RAM),
            LinuxBootError::InitrdTooLarge { .. }
        ));
        assert!(matches!(e(boot(bzimage(0x20F, 4, 100), None, &"x".repeat(2048)), RAM), LinuxBootError::CmdlineTooLong { .. }));
        assert!(matches!(e(boot(bzimage(0x20F, 4, 2 << 20), None, ""), 2 << 20), LinuxBootError::KernelTooLarge { .. }));
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
