//! The Linux x86 boot protocol (Documentation/arch/x86/boot.rst in the
//! kernel tree): reading a bzImage's setup header and building what a boot
//! loader hands the kernel.
//!
//! A bzImage is the real-mode setup code (`setup_sects` 512-byte sectors
//! after the boot sector) followed by the protected-mode kernel. The setup
//! header at 0x1F1 describes both; a loader fills in its own fields
//! (loader type, command line, initrd) and passes the header on, either in
//! the setup code's copy (16-bit entry) or in `boot_params`, the "zero
//! page" (32-bit entry).

use crate::e820::{E820Entry, E820_RAM, E820_RESERVED};

/// Where the setup header starts in the image and in `boot_params`.
pub const HEADER_OFFSET: usize = 0x1F1;
/// The "HdrS" magic at 0x202.
const HDRS: u32 = 0x5372_6448;

/// `loadflags` bits.
pub mod loadflags {
    /// The protected-mode kernel goes at 0x100000.
    pub const LOADED_HIGH: u8 = 1 << 0;
    /// The loader set `heap_end_ptr`.
    pub const CAN_USE_HEAP: u8 = 1 << 7;
}

/// The loader ID ironpc writes into `type_of_loader`: 0xFF, "undefined",
/// as boot.rst asks of loaders without an assigned ID.
pub const LOADER_ID: u8 = 0xFF;

/// Byte offsets into `boot_params` (arch/x86/include/uapi/asm/bootparam.h).
mod zp {
    pub const ACPI_RSDP_ADDR: usize = 0x070;
    pub const EXT_RAMDISK_IMAGE: usize = 0x0C0;
    pub const EXT_RAMDISK_SIZE: usize = 0x0C4;
    pub const EXT_CMD_LINE_PTR: usize = 0x0C8;
    pub const E820_ENTRIES: usize = 0x1E8;
    pub const E820_TABLE: usize = 0x2D0;
    pub const E820_MAX: usize = 128;
    pub const SIZE: usize = 4096;
}

/// Byte offsets into the setup header, counted from the start of the image
/// (the same offsets hold in `boot_params`).
pub mod hdr {
    pub const SETUP_SECTS: usize = 0x1F1;
    pub const BOOT_FLAG: usize = 0x1FE;
    pub const JUMP: usize = 0x200;
    pub const HEADER: usize = 0x202;
    pub const VERSION: usize = 0x206;
    pub const KERNEL_VERSION: usize = 0x20E;
    pub const TYPE_OF_LOADER: usize = 0x210;
    pub const LOADFLAGS: usize = 0x211;
    pub const CODE32_START: usize = 0x214;
    pub const RAMDISK_IMAGE: usize = 0x218;
    pub const RAMDISK_SIZE: usize = 0x21C;
    pub const HEAP_END_PTR: usize = 0x224;
    pub const CMD_LINE_PTR: usize = 0x228;
    pub const INITRD_ADDR_MAX: usize = 0x22C;
    pub const CMDLINE_SIZE: usize = 0x238;
    pub const INIT_SIZE: usize = 0x260;
}

/// Why a file cannot be booted as a Linux kernel.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum BootError {
    #[error("neither a Linux bzImage (no boot-protocol header) nor a multiboot kernel")]
    NotBzImage,
    #[error("the kernel uses boot protocol {}.{:02}; ironpc needs 2.02 or later", .0 >> 8, .0 & 0xFF)]
    TooOld(u16),
    #[error("the kernel is not a bzImage loaded high (zImage kernels are not supported)")]
    NotLoadedHigh,
    #[error("the kernel image is truncated ({0} bytes)")]
    Truncated(usize),
    #[error("the kernel needs {need} bytes from 1 MiB up, but the machine has {ram} bytes of RAM")]
    KernelTooBig { need: u64, ram: u64 },
    #[error("the kernel command line is {len} bytes; this kernel accepts at most {max}")]
    CmdlineTooLong { len: usize, max: usize },
    #[error("the initrd ({size} bytes) does not fit in RAM below {limit:#x} above the kernel")]
    InitrdTooBig { size: u64, limit: u64 },
}

/// A parsed bzImage.
#[derive(Clone, Debug)]
pub struct LinuxKernel {
    /// The boot sector and setup code: `(setup_sects + 1) * 512` bytes.
    pub setup: Vec<u8>,
    /// The protected-mode kernel, loaded at 1 MiB.
    pub kernel: Vec<u8>,
    /// Boot protocol version (0x020F for 2.15).
    pub protocol: u16,
    /// The 32-bit entry point (normally 0x100000).
    pub code32_start: u32,
    /// Highest address the initrd may occupy (inclusive).
    pub initrd_addr_max: u32,
    /// Longest command line, without the NUL.
    pub cmdline_max: usize,
    /// Memory the kernel needs from its load address while it decompresses
    /// and starts (protocol 2.10+; the image size before that).
    pub init_size: u32,
    /// The version string the image carries (as `uname -r` will print it
    /// first, e.g. "6.1.0-50-686 (debian-kernel@...) #1 SMP ...").
    pub version: Option<String>,
}

fn u16_at(b: &[u8], off: usize) -> u16 {
    u16::from_le_bytes([b[off], b[off + 1]])
}

fn u32_at(b: &[u8], off: usize) -> u32 {
    u32::from_le_bytes([b[off], b[off + 1], b[off + 2], b[off + 3]])
}

fn put_u16(b: &mut [u8], off: usize, v: u16) {
    b[off..off + 2].copy_from_slice(&v.to_le_bytes());
}

fn put_u32(b: &mut [u8], off: usize, v: u32) {
    b[off..off + 4].copy_from_slice(&v.to_le_bytes());
}

impl LinuxKernel {
    /// Reads the setup header of `image` and splits it into setup code and
    /// protected-mode kernel.
    pub fn parse(image: &[u8]) -> Result<Self, BootError> {
        if image.len() < 0x264 || u32_at(image, hdr::HEADER) != HDRS || u16_at(image, hdr::BOOT_FLAG) != 0xAA55 {
            return Err(BootError::NotBzImage);
        }
        let protocol = u16_at(image, hdr::VERSION);
        if protocol < 0x0202 {
            return Err(BootError::TooOld(protocol));
        }
        if image[hdr::LOADFLAGS] & loadflags::LOADED_HIGH == 0 {
            return Err(BootError::NotLoadedHigh);
        }
        // A setup_sects of 0 means 4, for compatibility with old images.
        let sects = match image[hdr::SETUP_SECTS] {
            0 => 4,
            n => usize::from(n),
        };
        let setup_len = (sects + 1) * 512;
        if image.len() <= setup_len {
            return Err(BootError::Truncated(image.len()));
        }
        let initrd_addr_max = if protocol >= 0x0203 { u32_at(image, hdr::INITRD_ADDR_MAX) } else { 0x37FF_FFFF };
        let cmdline_max = if protocol >= 0x0206 { u32_at(image, hdr::CMDLINE_SIZE) as usize } else { 255 };
        let kernel = image[setup_len..].to_vec();
        let init_size = if protocol >= 0x020A { u32_at(image, hdr::INIT_SIZE) } else { kernel.len() as u32 };
        // kernel_version points at a NUL-terminated string, 0x200 bytes
        // before its offset into the image.
        let version = match u16_at(image, hdr::KERNEL_VERSION) {
            0 => None,
            ptr => image.get(usize::from(ptr) + 0x200..).and_then(|s| {
                let end = s.iter().take(256).position(|&c| c == 0)?;
                Some(String::from_utf8_lossy(&s[..end]).into_owned())
            }),
        };
        Ok(Self {
            setup: image[..setup_len].to_vec(),
            kernel,
            protocol,
            code32_start: u32_at(image, hdr::CODE32_START),
            initrd_addr_max,
            cmdline_max,
            init_size,
            version,
        })
    }

    /// The setup header as it stands in the image: from 0x1F1 to the end
    /// its jump instruction at 0x200 gives.
    pub fn header(&self) -> &[u8] {
        let end = (hdr::JUMP + 2 + usize::from(self.setup[hdr::JUMP + 1])).min(self.setup.len());
        &self.setup[HEADER_OFFSET..end]
    }

    /// Checks that the command line fits the kernel's limit.
    pub fn check_cmdline(&self, cmdline: &str) -> Result<(), BootError> {
        if cmdline.len() > self.cmdline_max {
            return Err(BootError::CmdlineTooLong { len: cmdline.len(), max: self.cmdline_max });
        }
        Ok(())
    }

    /// Where an initrd of `size` bytes goes: page aligned, as high as the
    /// kernel allows and RAM (`ram_top`, exclusive) holds, above what the
    /// kernel itself needs from 1 MiB.
    pub fn place_initrd(&self, size: u64, ram_top: u64) -> Result<u64, BootError> {
        let limit = (u64::from(self.initrd_addr_max) + 1).min(ram_top);
        let floor = KERNEL_ADDR + u64::from(self.init_size.max(self.kernel.len() as u32));
        let addr = limit.checked_sub(size).map(|a| a & !0xFFF);
        match addr {
            Some(a) if a >= floor => Ok(a),
            _ => Err(BootError::InitrdTooBig { size, limit }),
        }
    }

    /// Checks that the kernel, decompressing from 1 MiB, fits in `ram`.
    pub fn check_fits(&self, ram: u64) -> Result<(), BootError> {
        let need = u64::from(self.init_size.max(self.kernel.len() as u32));
        if KERNEL_ADDR + need > ram {
            return Err(BootError::KernelTooBig { need, ram });
        }
        Ok(())
    }

    /// The setup header with the loader's fields filled in, as boot.rst's
    /// "sample boot configuration" does: loader type, heap end (for the
    /// 16-bit entry, relative to the setup segment), command line and
    /// initrd.
    pub fn patched_header(&self, cmdline_addr: u32, initrd: Option<(u32, u32)>, heap_end: u16) -> Vec<u8> {
        let mut setup = self.setup.clone();
        setup[hdr::TYPE_OF_LOADER] = LOADER_ID;
        setup[hdr::LOADFLAGS] |= loadflags::CAN_USE_HEAP;
        put_u16(&mut setup, hdr::HEAP_END_PTR, heap_end);
        put_u32(&mut setup, hdr::CMD_LINE_PTR, cmdline_addr);
        let (image, size) = initrd.unwrap_or((0, 0));
        put_u32(&mut setup, hdr::RAMDISK_IMAGE, image);
        put_u32(&mut setup, hdr::RAMDISK_SIZE, size);
        let end = (hdr::JUMP + 2 + usize::from(setup[hdr::JUMP + 1])).min(setup.len());
        setup[HEADER_OFFSET..end].to_vec()
    }
}

/// Where the protected-mode kernel is loaded.
pub const KERNEL_ADDR: u64 = 0x10_0000;

/// Physical memory written for a 32-bit direct entry, and the register
/// values the kernel starts with.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct BootPlan {
    /// Bytes to copy into guest RAM before the CPU starts.
    pub writes: Vec<(u64, Vec<u8>)>,
    /// Where the CPU starts, in flat 32-bit protected mode with paging off
    /// and interrupts disabled.
    pub entry: u32,
    /// General registers at entry (EAX, ECX, EDX, EBX, ESP, EBP, ESI, EDI).
    pub regs: [u32; 8],
    /// A flat GDT at `gdt_addr` with 32-bit code at 0x10 and data at 0x18,
    /// the selectors boot.rst names (`__BOOT_CS`, `__BOOT_DS`).
    pub gdt_addr: u32,
}

/// The GDT of a direct entry: null, null, flat code (0x10), flat data
/// (0x18), as boot.rst's 32-bit boot protocol requires.
pub const BOOT_GDT: [u64; 4] = [0, 0, 0x00CF_9B00_0000_FFFF, 0x00CF_9300_0000_FFFF];
/// Selectors in [`BOOT_GDT`].
pub const BOOT_CS: u16 = 0x10;
pub const BOOT_DS: u16 = 0x18;

/// Low-memory layout of a direct entry: the GDT, the zero page and the
/// command line, all below the EBDA and clear of the real-mode IVT/BDA.
const GDT_ADDR: u64 = 0x6000;
const ZERO_PAGE_ADDR: u64 = 0x7000;
const CMDLINE_ADDR: u64 = 0x2_0000;

/// What a 32-bit direct entry needs besides the kernel.
pub struct DirectBoot<'a> {
    pub cmdline: &'a str,
    pub initrd: Option<&'a [u8]>,
    /// The machine's memory map.
    pub e820: &'a [E820Entry],
    /// Top of the RAM the kernel may use for the initrd (exclusive).
    pub ram_top: u64,
    /// Physical address of the ACPI RSDP, if the loader placed tables.
    pub acpi_rsdp: Option<u64>,
}

impl LinuxKernel {
    /// Plans a 32-bit entry (boot.rst, "32-bit boot protocol"): the kernel
    /// at 1 MiB, a zero page holding the setup header and the E820 map, the
    /// command line and initrd, and ESI pointing at the zero page.
    pub fn direct_boot(&self, boot: &DirectBoot) -> Result<BootPlan, BootError> {
        self.check_cmdline(boot.cmdline)?;
        self.check_fits(boot.ram_top)?;
        let mut writes = Vec::new();
        let initrd = match boot.initrd {
            Some(data) => {
                let addr = self.place_initrd(data.len() as u64, boot.ram_top)?;
                writes.push((addr, data.to_vec()));
                Some((addr as u32, data.len() as u32))
            }
            None => None,
        };
        let mut zero = vec![0u8; zp::SIZE];
        let header = self.patched_header(CMDLINE_ADDR as u32, initrd, 0);
        zero[HEADER_OFFSET..HEADER_OFFSET + header.len()].copy_from_slice(&header);
        // The heap pointer is a 16-bit-entry notion; with 32-bit entry the
        // setup code does not run.
        zero[hdr::LOADFLAGS] &= !loadflags::CAN_USE_HEAP;
        put_u32(&mut zero, zp::EXT_RAMDISK_IMAGE, 0);
        put_u32(&mut zero, zp::EXT_RAMDISK_SIZE, 0);
        put_u32(&mut zero, zp::EXT_CMD_LINE_PTR, 0);
        if let Some(rsdp) = boot.acpi_rsdp {
            zero[zp::ACPI_RSDP_ADDR..zp::ACPI_RSDP_ADDR + 8].copy_from_slice(&rsdp.to_le_bytes());
        }
        let entries = boot.e820.len().min(zp::E820_MAX);
        zero[zp::E820_ENTRIES] = entries as u8;
        for (n, e) in boot.e820.iter().take(entries).enumerate() {
            let off = zp::E820_TABLE + n * 20;
            zero[off..off + 20].copy_from_slice(&e.to_bytes());
        }
        let mut cmdline = boot.cmdline.as_bytes().to_vec();
        cmdline.push(0);
        let gdt: Vec<u8> = BOOT_GDT.iter().flat_map(|d| d.to_le_bytes()).collect();
        writes.push((KERNEL_ADDR, self.kernel.clone()));
        writes.push((ZERO_PAGE_ADDR, zero));
        writes.push((CMDLINE_ADDR, cmdline));
        writes.push((GDT_ADDR, gdt));
        let mut regs = [0u32; 8];
        regs[6] = ZERO_PAGE_ADDR as u32; // ESI: boot_params
        Ok(BootPlan { writes, entry: self.code32_start, regs, gdt_addr: GDT_ADDR as u32 })
    }
}

/// The memory map of a PC with `ram` bytes below 4 GiB, as a BIOS reports
/// it: conventional memory up to the EBDA, the EBDA and the BIOS area
/// reserved, and extended memory from 1 MiB.
pub fn pc_e820(ram: u64) -> Vec<E820Entry> {
    vec![
        E820Entry { addr: 0, len: 0x9_FC00, kind: E820_RAM },
        E820Entry { addr: 0x9_FC00, len: 0x400, kind: E820_RESERVED },
        E820Entry { addr: 0xF_0000, len: 0x1_0000, kind: E820_RESERVED },
        E820Entry { addr: KERNEL_ADDR, len: ram.saturating_sub(KERNEL_ADDR), kind: E820_RAM },
    ]
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A minimal bzImage: a boot sector with the header, `sects` setup
    /// sectors, then `payload` as the protected-mode kernel.
    fn image(sects: u8, protocol: u16, payload: &[u8]) -> Vec<u8> {
        let mut img = vec![0u8; (usize::from(sects) + 1) * 512];
        img[hdr::SETUP_SECTS] = sects;
        put_u16(&mut img, hdr::BOOT_FLAG, 0xAA55);
        img[hdr::JUMP] = 0xEB;
        img[hdr::JUMP + 1] = 0x6A; // header runs to 0x26C
        put_u32(&mut img, hdr::HEADER, HDRS);
        put_u16(&mut img, hdr::VERSION, protocol);
        img[hdr::LOADFLAGS] = loadflags::LOADED_HIGH;
        put_u32(&mut img, hdr::CODE32_START, 0x10_0000);
        put_u32(&mut img, hdr::INITRD_ADDR_MAX, 0x37FF_FFFF);
        put_u32(&mut img, hdr::CMDLINE_SIZE, 2047);
        put_u32(&mut img, hdr::INIT_SIZE, 0x40_0000);
        put_u16(&mut img, hdr::KERNEL_VERSION, 0x300 - 0x200);
        img[0x300..0x305].copy_from_slice(b"6.1.0");
        img.extend_from_slice(payload);
        img
    }

    #[test]
    fn parse_splits_setup_and_kernel_and_reads_the_header() {
        let k = LinuxKernel::parse(&image(4, 0x020F, &[0x90; 1000])).unwrap();
        assert_eq!(k.setup.len(), 5 * 512);
        assert_eq!(k.kernel, vec![0x90; 1000]);
        assert_eq!(k.protocol, 0x020F);
        assert_eq!(k.code32_start, 0x10_0000);
        assert_eq!(k.cmdline_max, 2047);
        assert_eq!(k.version.as_deref(), Some("6.1.0"));
        assert_eq!(k.header().len(), 0x26C - 0x1F1);
    }

    #[test]
    fn files_that_are_not_bzimages_are_refused() {
        assert_eq!(LinuxKernel::parse(b"\x7fELF").unwrap_err(), BootError::NotBzImage);
        assert_eq!(LinuxKernel::parse(&[0; 8192]).unwrap_err(), BootError::NotBzImage);
        assert_eq!(LinuxKernel::parse(&image(4, 0x0201, &[0; 16])).unwrap_err(), BootError::TooOld(0x0201));
        let mut z = image(4, 0x020F, &[0; 16]);
        z[hdr::LOADFLAGS] = 0;
        assert_eq!(LinuxKernel::parse(&z).unwrap_err(), BootError::NotLoadedHigh);
        assert_eq!(LinuxKernel::parse(&image(4, 0x020F, &[])).unwrap_err(), BootError::Truncated(5 * 512));
    }

    #[test]
    fn initrd_goes_high_but_below_the_kernel_limit_and_above_the_kernel() {
        let k = LinuxKernel::parse(&image(4, 0x020F, &[0; 16])).unwrap();
        // RAM of 256 MiB: the initrd ends at the top, page aligned down.
        assert_eq!(k.place_initrd(0x1800, 256 << 20).unwrap(), (256 << 20) - 0x2000);
        // The kernel's limit is lower than RAM: it wins.
        assert_eq!(k.place_initrd(0x1000, 2 << 30).unwrap(), 0x3800_0000 - 0x1000);
        // No room above the kernel's 4 MiB of init_size.
        assert!(matches!(k.place_initrd(4 << 20, 6 << 20), Err(BootError::InitrdTooBig { .. })));
    }

    #[test]
    fn direct_boot_fills_the_zero_page() {
        let k = LinuxKernel::parse(&image(4, 0x020F, &[0xAB; 64])).unwrap();
        let e820 = pc_e820(64 << 20);
        let initrd = vec![7u8; 5000];
        let plan = k
            .direct_boot(&DirectBoot {
                cmdline: "console=ttyS0",
                initrd: Some(&initrd),
                e820: &e820,
                ram_top: 64 << 20,
                acpi_rsdp: Some(0xF_0000),
            })
            .unwrap();
        assert_eq!(plan.entry, 0x10_0000);
        let esi = u64::from(plan.regs[6]);
        let zero = &plan.writes.iter().find(|(a, _)| *a == esi).unwrap().1;
        assert_eq!(zero[hdr::TYPE_OF_LOADER], LOADER_ID);
        let cmd = u64::from(u32_at(zero, hdr::CMD_LINE_PTR));
        assert_eq!(plan.writes.iter().find(|(a, _)| *a == cmd).unwrap().1, b"console=ttyS0\0");
        let rd = u64::from(u32_at(zero, hdr::RAMDISK_IMAGE));
        assert_eq!(u32_at(zero, hdr::RAMDISK_SIZE), 5000);
        assert_eq!(plan.writes.iter().find(|(a, _)| *a == rd).unwrap().1, initrd);
        assert_eq!(rd % 4096, 0);
        assert!(rd + 5000 <= 64 << 20);
        assert_eq!(zero[zp::E820_ENTRIES], 4);
        assert_eq!(&zero[zp::E820_TABLE + 3 * 20..zp::E820_TABLE + 4 * 20], &e820[3].to_bytes());
        assert_eq!(u32_at(zero, zp::ACPI_RSDP_ADDR), 0xF_0000);
        assert_eq!(plan.writes.iter().find(|(a, _)| *a == KERNEL_ADDR).unwrap().1, vec![0xAB; 64]);
    }

    #[test]
    fn a_command_line_longer_than_the_kernel_takes_is_refused() {
        let k = LinuxKernel::parse(&image(4, 0x020F, &[0; 16])).unwrap();
        let long = "x".repeat(2048);
        assert_eq!(k.check_cmdline(&long).unwrap_err(), BootError::CmdlineTooLong { len: 2048, max: 2047 });
    }
}
