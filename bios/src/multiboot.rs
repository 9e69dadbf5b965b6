//! Multiboot (version 1) kernels, as QEMU's `-kernel` loads them.
//!
//! From the Multiboot Specification 0.6.96: 3.1 "OS image format" (the
//! header in the first 8192 bytes, 32-bit aligned: magic 0x1BADB002,
//! flags, checksum; with flag 16 the a.out-kludge address fields), 3.2
//! "Machine state" (EAX = 0x2BADB002, EBX = physical address of the
//! information structure, flat 32-bit protected mode, paging off) and
//! 3.3 "Boot information format". ELF32 program headers from the System V
//! ABI (gABI "Program Header"; i386 supplement for EM_386).
//!
//! `load` computes everything in memory: the caller writes the returned
//! pieces into guest RAM and starts the CPU (direct entry), or hands the
//! two spans to the multiboot option ROM through fw_cfg.

use crate::e820::{self, E820Entry};
use crate::linux::{self, BootPlan};

/// Header magic (3.1.2).
pub const HEADER_MAGIC: u32 = 0x1BAD_B002;
/// Value in EAX at entry (3.2).
pub const BOOTLOADER_MAGIC: u32 = 0x2BAD_B002;
/// The header must lie in the first 8 KiB of the image.
pub const HEADER_SEARCH: usize = 8192;
/// ESP at a direct entry: the top of the free low memory below the boot
/// sector's address, with this much room below it.
pub const BOOT_STACK: u32 = 0x7C00;
const BOOT_STACK_SIZE: u32 = 0x1000;
/// What we put in `boot_loader_name`.
pub const BOOT_LOADER_NAME: &str = "ironpc";

/// Header flags (3.1.2): 0 page-align modules, 1 memory information
/// required, 2 video mode table (QEMU ignores the request, and so do we:
/// it is a preference), 16 load by the header's address fields.
const HF_PAGE_ALIGN: u32 = 1 << 0;
const HF_MEMORY_INFO: u32 = 1 << 1;
const HF_VIDEO_MODE: u32 = 1 << 2;
const HF_AOUT_KLUDGE: u32 = 1 << 16;
/// Bits 0-15 the loader must understand or refuse the image.
const HF_REQUIRED_MASK: u32 = 0xFFFF;

/// Information flags (3.3).
const MBI_MEMORY: u32 = 1 << 0;
const MBI_CMDLINE: u32 = 1 << 2;
const MBI_MODS: u32 = 1 << 3;
const MBI_MMAP: u32 = 1 << 6;
const MBI_BOOT_LOADER_NAME: u32 = 1 << 9;
/// The information structure up to and including the VBE fields.
const MBI_SIZE: usize = 88;
const PAGE: u64 = 4096;
/// Room for at least this many mmap entries, which the option ROM may
/// refill from INT 15h E820 (MMAP_MAX in roms/multiboot.asm).
pub const MMAP_MIN_ENTRIES: usize = 16;

/// ELF constants (gABI).
const ELFCLASS32: u8 = 1;
const ELFDATA2LSB: u8 = 1;
const ET_EXEC: u16 = 2;
const EM_386: u16 = 3;
const PT_LOAD: u32 = 1;

/// The fw_cfg items the multiboot option ROM reads (QEMU's numbering,
/// docs/specs/fw_cfg.rst and include/standard-headers/linux/qemu_fw_cfg.h).
pub mod fw_cfg_key {
    pub const KERNEL_ADDR: u16 = 0x07;
    pub const KERNEL_SIZE: u16 = 0x08;
    pub const INITRD_ADDR: u16 = 0x0A;
    pub const INITRD_SIZE: u16 = 0x0B;
    pub const KERNEL_ENTRY: u16 = 0x10;
    pub const KERNEL_DATA: u16 = 0x11;
    pub const INITRD_DATA: u16 = 0x12;
}

/// The fw_cfg file name SeaBIOS runs the ROM from, and the bootorder line
/// that makes it boot first.
pub const ROM_FILE: &str = "genroms/multiboot.bin";
pub const ROM_BOOTORDER: &str = "/rom@genroms/multiboot.bin";

/// Why a file cannot be booted as a multiboot kernel.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MultibootError {
    #[error("no multiboot header (magic 0x1BADB002) in the first 8 KiB")]
    NoHeader,
    #[error("multiboot header at offset {0:#x} has a bad checksum")]
    BadChecksum(usize),
    #[error("multiboot header asks for unsupported features (flags {0:#x})")]
    UnsupportedFlags(u32),
    #[error("multiboot kernel is not an i386 ELF: {0}")]
    NotI386Elf(&'static str),
    #[error("multiboot kernel has a malformed ELF image: {0}")]
    BadElf(&'static str),
    #[error("multiboot header address fields are inconsistent: {0}")]
    BadAddresses(&'static str),
    #[error("{what} at {addr:#x}..{end:#x} is outside RAM", end = addr.saturating_add(*len))]
    OutsideRam { what: &'static str, addr: u64, len: u64 },
}

/// A module (`--initrd "file args,file2"`): its contents and command line.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Module {
    pub data: Vec<u8>,
    pub cmdline: String,
}

/// One entry of a QEMU-style module list: the file to read and the
/// module's command line (the whole entry, file name included, as QEMU
/// passes it).
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct ModuleSpec {
    pub path: String,
    pub cmdline: String,
}

/// Splits `--initrd` for a multiboot kernel as QEMU does: entries are
/// separated by ',', a doubled ",," stands for a literal comma, and the
/// file name is the entry's first space-separated word.
pub fn parse_module_list(list: &str) -> Vec<ModuleSpec> {
    let mut out = Vec::new();
    let mut cur = String::new();
    let mut chars = list.chars().peekable();
    let mut push = |cur: &mut String| {
        let cmdline = std::mem::take(cur);
        let path = cmdline.split(' ').next().unwrap_or("").to_string();
        if !path.is_empty() {
            out.push(ModuleSpec { path, cmdline });
        }
    };
    while let Some(c) = chars.next() {
        if c == ',' {
            if chars.peek() == Some(&',') {
                chars.next();
                cur.push(',');
            } else {
                push(&mut cur);
            }
        } else {
            cur.push(c);
        }
    }
    push(&mut cur);
    out
}

/// The parsed multiboot header.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct Header {
    /// Offset of the header in the file.
    pub offset: usize,
    pub flags: u32,
    pub header_addr: u32,
    pub load_addr: u32,
    pub load_end_addr: u32,
    pub bss_end_addr: u32,
    pub entry_addr: u32,
}

fn le32(b: &[u8], off: usize) -> Option<u32> {
    let s = b.get(off..off.checked_add(4)?)?;
    Some(u32::from_le_bytes([s[0], s[1], s[2], s[3]]))
}

fn le16(b: &[u8], off: usize) -> Option<u16> {
    let s = b.get(off..off.checked_add(2)?)?;
    Some(u16::from_le_bytes([s[0], s[1]]))
}

/// True if `image` carries a multiboot header (whatever its validity):
/// what a loader checks to choose between bzImage and multiboot.
pub fn is_multiboot(image: &[u8]) -> bool {
    find_magic(image).is_some()
}

/// True if `image` should be booted as multiboot: it has a multiboot
/// header and is not a bzImage (QEMU tries the Linux boot protocol's
/// "HdrS" first, then multiboot).
pub fn is_multiboot_kernel(image: &[u8]) -> bool {
    is_multiboot(image) && linux::LinuxKernel::parse(image).is_err()
}

fn find_magic(image: &[u8]) -> Option<usize> {
    let limit = image.len().min(HEADER_SEARCH);
    (0..limit.saturating_sub(11)).step_by(4).find(|&off| le32(image, off) == Some(HEADER_MAGIC))
}

/// Finds and checks the header (3.1.1, 3.1.2).
pub fn parse_header(image: &[u8]) -> Result<Header, MultibootError> {
    let offset = find_magic(image).ok_or(MultibootError::NoHeader)?;
    let field = |i: usize| le32(image, offset + 4 * i).unwrap_or(0);
    let flags = field(1);
    if HEADER_MAGIC.wrapping_add(flags).wrapping_add(field(2)) != 0 {
        return Err(MultibootError::BadChecksum(offset));
    }
    let unsupported = flags & HF_REQUIRED_MASK & !(HF_PAGE_ALIGN | HF_MEMORY_INFO | HF_VIDEO_MODE);
    if unsupported != 0 {
        return Err(MultibootError::UnsupportedFlags(flags));
    }
    let mut h = Header { offset, flags, header_addr: 0, load_addr: 0, load_end_addr: 0, bss_end_addr: 0, entry_addr: 0 };
    if flags & HF_AOUT_KLUDGE != 0 {
        if le32(image, offset + 28).is_none() {
            return Err(MultibootError::BadAddresses("header truncated"));
        }
        h.header_addr = field(3);
        h.load_addr = field(4);
        h.load_end_addr = field(5);
        h.bss_end_addr = field(6);
        h.entry_addr = field(7);
    }
    Ok(h)
}

/// A piece of the kernel image in memory: file bytes then zeros (bss).
#[derive(Clone, Debug, PartialEq, Eq)]
struct Segment {
    addr: u64,
    data: Vec<u8>,
}

/// Loads by the a.out-kludge address fields (3.1.3).
fn load_aout(image: &[u8], h: &Header) -> Result<(Vec<Segment>, u32), MultibootError> {
    use MultibootError::BadAddresses;
    if h.load_addr > h.header_addr {
        return Err(BadAddresses("load_addr above header_addr"));
    }
    let skip = (h.header_addr - h.load_addr) as usize;
    let start = h.offset.checked_sub(skip).ok_or(BadAddresses("load_addr before the file's start"))?;
    let file_len = if h.load_end_addr == 0 {
        image.len() - start
    } else {
        let len = h.load_end_addr.checked_sub(h.load_addr).ok_or(BadAddresses("load_end_addr below load_addr"))?;
        len as usize
    };
    let data = image.get(start..start.saturating_add(file_len)).ok_or(BadAddresses("load_end_addr beyond the file"))?;
    let mut data = data.to_vec();
    let load_end = u64::from(h.load_addr) + data.len() as u64;
    if h.bss_end_addr != 0 {
        let bss_end = u64::from(h.bss_end_addr);
        if bss_end < load_end {
            return Err(BadAddresses("bss_end_addr below load_end_addr"));
        }
        data.resize(data.len() + (bss_end - load_end) as usize, 0);
    }
    Ok((vec![Segment { addr: h.load_addr.into(), data }], h.entry_addr))
}

/// Loads an ELF32 i386 executable by its PT_LOAD program headers, at
/// their physical addresses; the entry point is translated from virtual
/// to physical when it falls inside a segment (what GRUB does, for
/// kernels linked at a higher virtual address).
fn load_elf(image: &[u8]) -> Result<(Vec<Segment>, u32), MultibootError> {
    use MultibootError::{BadElf, NotI386Elf};
    if image.get(0..4) != Some(b"\x7FELF") {
        return Err(NotI386Elf("no ELF magic (and no a.out-kludge addresses in the header)"));
    }
    if image.get(4) != Some(&ELFCLASS32) {
        return Err(NotI386Elf("not a 32-bit ELF"));
    }
    if image.get(5) != Some(&ELFDATA2LSB) {
        return Err(NotI386Elf("not little-endian"));
    }
    if le16(image, 18) != Some(EM_386) {
        return Err(NotI386Elf("machine is not EM_386"));
    }
    if le16(image, 16) != Some(ET_EXEC) {
        return Err(BadElf("not an executable (ET_EXEC)"));
    }
    let entry = le32(image, 24).ok_or(BadElf("truncated ELF header"))?;
    let phoff = le32(image, 28).ok_or(BadElf("truncated ELF header"))? as usize;
    let phentsize = le16(image, 42).ok_or(BadElf("truncated ELF header"))? as usize;
    let phnum = le16(image, 44).ok_or(BadElf("truncated ELF header"))? as usize;
    if phentsize < 32 {
        return Err(BadElf("program header entries too small"));
    }
    let mut segments = Vec::new();
    let mut phys_entry = None;
    for i in 0..phnum {
        let ph = phoff.checked_add(i * phentsize).ok_or(BadElf("program headers out of the file"))?;
        let f = |k: usize| le32(image, ph + 4 * k).ok_or(BadElf("program headers out of the file"));
        if f(0)? != PT_LOAD {
            continue;
        }
        let (offset, vaddr, paddr, filesz, memsz) = (f(1)? as usize, f(2)?, f(3)?, f(4)? as usize, f(5)? as usize);
        if memsz == 0 {
            continue;
        }
        if filesz > memsz {
            return Err(BadElf("segment file size exceeds its memory size"));
        }
        let bytes = image.get(offset..offset.saturating_add(filesz)).ok_or(BadElf("segment data beyond the end of the file"))?;
        let mut data = Vec::with_capacity(memsz);
        data.extend_from_slice(bytes);
        data.resize(memsz, 0);
        if entry >= vaddr && u64::from(entry) < u64::from(vaddr) + memsz as u64 {
            phys_entry = Some(paddr.wrapping_add(entry - vaddr));
        }
        segments.push(Segment { addr: paddr.into(), data });
    }
    if segments.is_empty() {
        return Err(BadElf("no loadable segment"));
    }
    Ok((segments, phys_entry.unwrap_or(entry)))
}

/// What to put in memory and where to start.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct MultibootImage {
    /// (physical address, bytes) to write into RAM, in address order:
    /// the kernel's segments, then one piece with the modules and the
    /// information structure.
    pub writes: Vec<(u64, Vec<u8>)>,
    /// EIP at entry (flat 32-bit protected mode, paging off).
    pub entry: u32,
    /// EBX at entry: the multiboot information structure, which starts
    /// the last piece of `writes` (structure, memory map, module list,
    /// strings, then the modules on the following pages).
    pub mbi: u32,
    /// A flat GDT ([`linux::BOOT_GDT`]) after the strings, for a direct
    /// entry; the kernel must load its own (3.2), so it is only what the
    /// CPU starts with.
    pub gdt_addr: u32,
}

impl MultibootImage {
    /// EAX at entry.
    pub const EAX: u32 = BOOTLOADER_MAGIC;

    /// The direct entry (3.2 "Machine state"): these writes, then flat
    /// 32-bit protected mode at `entry` with the selectors of
    /// [`linux::BOOT_GDT`], EAX = 0x2BADB002, EBX = the information
    /// structure, interrupts and paging off.
    pub fn boot_plan(&self) -> BootPlan {
        let mut regs = [0u32; 8];
        regs[0] = BOOTLOADER_MAGIC; // EAX
        regs[3] = self.mbi; // EBX
                            // ESP is undefined (3.2), but GRUB and QEMU's ROM leave a usable
                            // stack, and small kernels push before they load their own: give
                            // them the boot sector's stack below 0x7C00 unless the image is
                            // loaded there.
        let (lo, hi) = (u64::from(BOOT_STACK - BOOT_STACK_SIZE), u64::from(BOOT_STACK));
        if !self.writes.iter().any(|(a, d)| *a < hi && a + d.len() as u64 > lo) {
            regs[4] = BOOT_STACK; // ESP
        }
        BootPlan { writes: self.writes.clone(), entry: self.entry, regs, gdt_addr: self.gdt_addr }
    }

    /// The kernel as one contiguous span (segments with the gaps between
    /// them zeroed), for the option ROM's KERNEL_ADDR/KERNEL_DATA.
    pub fn kernel_span(&self) -> (u32, Vec<u8>) {
        let kernel = &self.writes[..self.writes.len().saturating_sub(1)];
        let start = kernel.iter().map(|w| w.0).min().unwrap_or(0);
        let end = kernel.iter().map(|w| w.0 + w.1.len() as u64).max().unwrap_or(0);
        let mut span = vec![0u8; (end - start) as usize];
        for (addr, data) in kernel {
            let off = (addr - start) as usize;
            span[off..off + data.len()].copy_from_slice(data);
        }
        (start as u32, span)
    }

    /// The fw_cfg items `roms/multiboot.asm` reads, as (key, contents):
    /// KERNEL_ADDR/SIZE/DATA (0x07, 0x08, 0x11) for the kernel span,
    /// INITRD_ADDR/SIZE/DATA (0x0A, 0x0B, 0x12) for the information and
    /// modules, KERNEL_ENTRY (0x10); numbers as little-endian dwords.
    pub fn fw_cfg_items(&self) -> Vec<(u16, Vec<u8>)> {
        let (kaddr, kdata) = self.kernel_span();
        let (iaddr, idata) = self.info_span();
        let le = |v: u32| v.to_le_bytes().to_vec();
        vec![
            (fw_cfg_key::KERNEL_ADDR, le(kaddr)),
            (fw_cfg_key::KERNEL_SIZE, le(kdata.len() as u32)),
            (fw_cfg_key::KERNEL_DATA, kdata),
            (fw_cfg_key::INITRD_ADDR, le(iaddr)),
            (fw_cfg_key::INITRD_SIZE, le(idata.len() as u32)),
            (fw_cfg_key::INITRD_DATA, idata.to_vec()),
            (fw_cfg_key::KERNEL_ENTRY, le(self.entry)),
        ]
    }

    /// The information structure and the modules, for the option ROM's
    /// INITRD_ADDR (= EBX) / INITRD_DATA.
    pub fn info_span(&self) -> (u32, &[u8]) {
        (self.mbi, self.writes.last().map(|w| w.1.as_slice()).unwrap_or(&[]))
    }
}

fn align_up(v: u64, to: u64) -> u64 {
    v.div_ceil(to) * to
}

/// Builds the memory image of a multiboot kernel: `image` is the kernel
/// file, `cmdline` its command line as the kernel should see it (QEMU
/// passes "FILENAME ARGS"), `modules` in order, `e820` the machine's
/// memory map (used for the checks, mem_lower/mem_upper and the mmap).
pub fn load(image: &[u8], cmdline: &str, modules: &[Module], e820_map: &[E820Entry]) -> Result<MultibootImage, MultibootError> {
    let header = parse_header(image)?;
    let (segments, entry) = if header.flags & HF_AOUT_KLUDGE != 0 { load_aout(image, &header)? } else { load_elf(image)? };
    let mut kernel_end = 0u64;
    for s in &segments {
        let len = s.data.len() as u64;
        if !e820::is_ram(e820_map, s.addr, len) || s.addr + len > 1 << 32 {
            return Err(MultibootError::OutsideRam { what: "kernel segment", addr: s.addr, len });
        }
        kernel_end = kernel_end.max(s.addr + len);
    }

    // The information structure and its strings on the page after the
    // kernel, then the modules, each page-aligned (flag 0 asks for it;
    // QEMU always does it). The structure comes first so that the option
    // ROM's INITRD_ADDR is also EBX.
    let mbi = align_up(kernel_end, PAGE);
    let mmap_addr = mbi + MBI_SIZE as u64;
    let mmap_len = e820_map.len() * 24;
    let mods_addr = mmap_addr + (24 * e820_map.len().max(MMAP_MIN_ENTRIES)) as u64;
    let strings_addr = mods_addr + 16 * modules.len() as u64;
    let strings_len: usize =
        modules.iter().map(|m| m.cmdline.len() + 1).sum::<usize>() + cmdline.len() + 1 + BOOT_LOADER_NAME.len() + 1;
    let mut mod_ranges = Vec::with_capacity(modules.len());
    let gdt_addr = align_up(strings_addr + strings_len as u64, 8);
    let gdt: Vec<u8> = linux::BOOT_GDT.iter().flat_map(|d| d.to_le_bytes()).collect();
    let mut next = align_up(gdt_addr + gdt.len() as u64, PAGE);
    for m in modules {
        mod_ranges.push((next, next + m.data.len() as u64));
        next = align_up(next + m.data.len() as u64, PAGE);
    }

    let mut strings = Vec::with_capacity(strings_len);
    let mut add_string = |s: &str| {
        let addr = strings_addr + strings.len() as u64;
        // A NUL inside a string would end it early; a space keeps the
        // lengths computed above.
        strings.extend(s.bytes().map(|c| if c == 0 { b' ' } else { c }));
        strings.push(0);
        addr as u32
    };
    let cmdline_addr = add_string(cmdline);
    let name_addr = add_string(BOOT_LOADER_NAME);
    let mut mods = Vec::with_capacity(16 * modules.len());
    for (m, (start, end)) in modules.iter().zip(&mod_ranges) {
        let s = add_string(&m.cmdline);
        for v in [*start as u32, *end as u32, s, 0] {
            mods.extend_from_slice(&v.to_le_bytes());
        }
    }
    let mut mmap = Vec::with_capacity((mods_addr - mmap_addr) as usize);
    for e in e820_map {
        mmap.extend_from_slice(&20u32.to_le_bytes());
        mmap.extend_from_slice(&e.to_bytes());
    }
    mmap.resize((mods_addr - mmap_addr) as usize, 0);

    let mem_lower = (e820::ram_from(e820_map, 0) / 1024).min(640) as u32;
    let mem_upper = (e820::ram_from(e820_map, 1 << 20) / 1024).min(u64::from(u32::MAX)) as u32;
    let mut mbi_bytes = [0u8; MBI_SIZE];
    let mut put = |off: usize, v: u32| mbi_bytes[off..off + 4].copy_from_slice(&v.to_le_bytes());
    put(0, MBI_MEMORY | MBI_CMDLINE | MBI_MODS | MBI_MMAP | MBI_BOOT_LOADER_NAME);
    put(4, mem_lower);
    put(8, mem_upper);
    put(16, cmdline_addr);
    put(20, modules.len() as u32);
    put(24, mods_addr as u32);
    put(44, mmap_len as u32);
    put(48, mmap_addr as u32);
    put(64, name_addr);

    let mut info = Vec::with_capacity((next - mbi) as usize);
    info.extend_from_slice(&mbi_bytes);
    info.extend_from_slice(&mmap);
    info.extend_from_slice(&mods);
    info.extend_from_slice(&strings);
    info.resize((gdt_addr - mbi) as usize, 0);
    info.extend_from_slice(&gdt);
    for (m, (start, _)) in modules.iter().zip(&mod_ranges) {
        info.resize((start - mbi) as usize, 0);
        info.extend_from_slice(&m.data);
    }
    let info_len = info.len() as u64;
    if !e820::is_ram(e820_map, mbi, info_len) || mbi + info_len > 1 << 32 {
        return Err(MultibootError::OutsideRam { what: "modules and boot information", addr: mbi, len: info_len });
    }

    let mut writes: Vec<(u64, Vec<u8>)> = segments.into_iter().map(|s| (s.addr, s.data)).collect();
    writes.sort_by_key(|w| w.0);
    writes.push((mbi, info));
    Ok(MultibootImage { writes, entry, mbi: mbi as u32, gdt_addr: gdt_addr as u32 })
}

#[cfg(test)]
mod tests {
    use super::*;

    /// 64 MiB PC: 639 KiB of base memory, then RAM from 1 MiB.
    fn map() -> Vec<E820Entry> {
        crate::linux::pc_e820(64 << 20)
    }

    fn header(flags: u32) -> Vec<u8> {
        let mut h = Vec::new();
        for v in [HEADER_MAGIC, flags, 0u32.wrapping_sub(HEADER_MAGIC).wrapping_sub(flags)] {
            h.extend_from_slice(&v.to_le_bytes());
        }
        h
    }

    /// A minimal ELF32 executable: one PT_LOAD segment at `paddr`
    /// (virtual `vaddr`) holding the header and `code`, `bss` zero bytes
    /// more in memory, entry at the code.
    fn tiny_elf(machine: u16, vaddr: u32, paddr: u32, code: &[u8], bss: u32) -> Vec<u8> {
        let text_off = 0x80u32;
        let mut seg = header(HF_PAGE_ALIGN | HF_MEMORY_INFO);
        seg.extend_from_slice(code);
        let mut f = vec![0u8; text_off as usize];
        f[0..4].copy_from_slice(b"\x7FELF");
        f[4] = ELFCLASS32;
        f[5] = ELFDATA2LSB;
        f[6] = 1;
        f[16..18].copy_from_slice(&ET_EXEC.to_le_bytes());
        f[18..20].copy_from_slice(&machine.to_le_bytes());
        f[20..24].copy_from_slice(&1u32.to_le_bytes());
        f[24..28].copy_from_slice(&(vaddr + 12).to_le_bytes()); // e_entry
        f[28..32].copy_from_slice(&52u32.to_le_bytes()); // e_phoff
        f[40..42].copy_from_slice(&52u16.to_le_bytes()); // e_ehsize
        f[42..44].copy_from_slice(&32u16.to_le_bytes()); // e_phentsize
        f[44..46].copy_from_slice(&1u16.to_le_bytes()); // e_phnum
        let ph = [PT_LOAD, text_off, vaddr, paddr, seg.len() as u32, seg.len() as u32 + bss, 7, 4];
        for (i, v) in ph.iter().enumerate() {
            f[52 + 4 * i..56 + 4 * i].copy_from_slice(&v.to_le_bytes());
        }
        f.extend_from_slice(&seg);
        f
    }

    fn rd32(img: &MultibootImage, addr: u64) -> u32 {
        let mut b = [0u8; 4];
        for (i, byte) in b.iter_mut().enumerate() {
            *byte = read_byte(img, addr + i as u64);
        }
        u32::from_le_bytes(b)
    }

    fn read_byte(img: &MultibootImage, addr: u64) -> u8 {
        for (a, d) in &img.writes {
            if addr >= *a && addr < a + d.len() as u64 {
                return d[(addr - a) as usize];
            }
        }
        panic!("{addr:#x} not written")
    }

    fn cstr(img: &MultibootImage, addr: u64) -> String {
        let mut s = String::new();
        let mut a = addr;
        loop {
            let c = read_byte(img, a);
            if c == 0 {
                return s;
            }
            s.push(c as char);
            a += 1;
        }
    }

    /// Checks the information structure against the rules of 3.3.
    fn check_mbi(img: &MultibootImage, cmdline: &str, modules: &[Module], kernel_end: u64) {
        let mbi = u64::from(img.mbi);
        let flags = rd32(img, mbi);
        assert_eq!(flags, 1 | 1 << 2 | 1 << 3 | 1 << 6 | 1 << 9, "mem, cmdline, mods, mmap, loader name");
        assert_eq!(rd32(img, mbi + 4), 639, "mem_lower: 0x9FC00 bytes in KiB");
        assert_eq!(rd32(img, mbi + 8), 63 * 1024, "mem_upper: RAM from 1 MiB in KiB");
        assert_eq!(cstr(img, rd32(img, mbi + 16).into()), cmdline);
        assert_eq!(cstr(img, rd32(img, mbi + 64).into()), "ironpc");
        // mmap: entries of size 20 (not counting the size field).
        let (len, addr) = (rd32(img, mbi + 44), u64::from(rd32(img, mbi + 48)));
        assert_eq!(len, 4 * 24);
        for (i, e) in map().iter().enumerate() {
            let a = addr + 24 * i as u64;
            assert_eq!(rd32(img, a), 20);
            assert_eq!(u64::from(rd32(img, a + 4)) | u64::from(rd32(img, a + 8)) << 32, e.addr);
            assert_eq!(u64::from(rd32(img, a + 12)) | u64::from(rd32(img, a + 16)) << 32, e.len);
            assert_eq!(rd32(img, a + 20), e.kind);
        }
        assert_eq!(rd32(img, mbi + 20) as usize, modules.len());
        let mods = u64::from(rd32(img, mbi + 24));
        assert_eq!(mbi, kernel_end.div_ceil(4096) * 4096, "MBI on the page after the kernel");
        // The modules follow the structure and its strings, page-aligned.
        // Structure (88 bytes), mmap, module list, then the strings:
        // cmdline, loader name, module command lines, NUL-terminated.
        let strings: usize = cmdline.len() + 1 + 7 + modules.iter().map(|m| m.cmdline.len() + 1).sum::<usize>();
        let info_end = (mbi + 88 + 24 * 16 + 16 * modules.len() as u64 + strings as u64).div_ceil(8) * 8 + 32;
        let mut expect_start = info_end.div_ceil(4096) * 4096;
        for (i, m) in modules.iter().enumerate() {
            let e = mods + 16 * i as u64;
            let (start, end) = (u64::from(rd32(img, e)), u64::from(rd32(img, e + 4)));
            assert_eq!(start, expect_start, "module {i} page-aligned after the previous one");
            assert_eq!(end - start, m.data.len() as u64);
            assert_eq!(read_byte(img, start), m.data[0]);
            assert_eq!(read_byte(img, end - 1), *m.data.last().unwrap());
            assert_eq!(cstr(img, rd32(img, e + 8).into()), m.cmdline);
            expect_start = end.div_ceil(4096) * 4096;
        }
    }

    fn modules() -> Vec<Module> {
        vec![
            Module { data: vec![0xAA; 5000], cmdline: "mod1 args".into() },
            Module { data: vec![0xBB; 10], cmdline: "mod2".into() },
        ]
    }

    #[test]
    fn elf_kernel_loads_at_physical_addresses() {
        let code = [0xB8, 0x78, 0x56, 0x34, 0x12, 0xF4]; // mov eax, imm; hlt
        let elf = tiny_elf(EM_386, 0xC010_0000, 0x10_0000, &code, 0x2000);
        let mods = modules();
        let img = load(&elf, "kernel console=ttyS0", &mods, &map()).unwrap();
        // Entry: the virtual e_entry translated into its segment's paddr.
        assert_eq!(img.entry, 0x10_000C);
        assert_eq!(read_byte(&img, 0x10_000C), 0xB8);
        assert_eq!(rd32(&img, 0x10_0000), HEADER_MAGIC);
        assert_eq!(read_byte(&img, 0x10_0000 + 18 + 0x1FFF), 0, "bss is zeroed");
        check_mbi(&img, "kernel console=ttyS0", &mods, 0x10_0000 + 18 + 0x2000);
        assert_eq!(MultibootImage::EAX, 0x2BAD_B002);
        let (kaddr, kdata) = img.kernel_span();
        assert_eq!((kaddr, kdata.len()), (0x10_0000, 18 + 0x2000));
        let (iaddr, idata) = img.info_span();
        assert_eq!((iaddr, img.mbi), (0x10_3000, 0x10_3000));
        assert_eq!(idata.len(), 0x3000 + 10, "MBI page, module 1 (5000 bytes) on two pages, module 2");
    }

    #[test]
    fn aout_kludge_uses_the_header_addresses() {
        // Header at file offset 0x10, loaded from file offset 0 at 0x200000;
        // load_end_addr 0 = to the end of the file; bss to 0x203000.
        let flags = HF_PAGE_ALIGN | HF_MEMORY_INFO | HF_AOUT_KLUDGE;
        let mut f = vec![0x90u8; 0x10];
        f.extend(header(flags));
        for v in [0x20_0010u32, 0x20_0000, 0, 0x20_3000, 0x20_0030] {
            f.extend_from_slice(&v.to_le_bytes());
        }
        f.resize(0x30, 0);
        f.extend_from_slice(&[0xF4; 0x10]);
        let img = load(&f, "k", &[], &map()).unwrap();
        assert_eq!(img.entry, 0x20_0030);
        assert_eq!(img.writes[0].0, 0x20_0000);
        assert_eq!(img.writes[0].1.len(), 0x3000);
        assert_eq!(read_byte(&img, 0x20_0030), 0xF4);
        assert_eq!(read_byte(&img, 0x20_2FFF), 0);
        check_mbi(&img, "k", &[], 0x20_3000);
        // load_end_addr inside the file limits what is loaded.
        let mut g = f.clone();
        g[0x24..0x28].copy_from_slice(&0x20_0020u32.to_le_bytes());
        let img = load(&g, "k", &[], &map()).unwrap();
        assert_eq!(read_byte(&img, 0x20_0030), 0, "past load_end: bss");
    }

    #[test]
    fn clear_errors() {
        let code = [0xF4];
        assert_eq!(load(&[0u8; 9000], "", &[], &map()), Err(MultibootError::NoHeader));
        // The header beyond the first 8 KiB is not looked for.
        let mut late = vec![0u8; 8192];
        late.extend(header(0));
        assert_eq!(parse_header(&late), Err(MultibootError::NoHeader));
        let mut bad = header(0);
        bad[8] ^= 1;
        assert_eq!(parse_header(&bad), Err(MultibootError::BadChecksum(0)));
        assert_eq!(parse_header(&header(1 << 5)), Err(MultibootError::UnsupportedFlags(1 << 5)));
        assert!(matches!(load(&header(0), "", &[], &map()), Err(MultibootError::NotI386Elf(_))));
        let x64 = tiny_elf(62, 0x10_0000, 0x10_0000, &code, 0);
        assert_eq!(load(&x64, "", &[], &map()), Err(MultibootError::NotI386Elf("machine is not EM_386")));
        let high = tiny_elf(EM_386, 0x800_0000, 0x800_0000, &code, 0);
        assert!(matches!(load(&high, "", &[], &map()), Err(MultibootError::OutsideRam { addr: 0x800_0000, .. })));
        let in_hole = tiny_elf(EM_386, 0xA0000, 0xA0000, &code, 0);
        assert!(matches!(load(&in_hole, "", &[], &map()), Err(MultibootError::OutsideRam { .. })));
        // Modules that do not fit below the end of RAM.
        let near_top = tiny_elf(EM_386, 0x3F0_0000, 0x3F0_0000, &code, 0);
        let big = [Module { data: vec![0; 2 << 20], cmdline: "big".into() }];
        assert!(matches!(
            load(&near_top, "", &big, &map()),
            Err(MultibootError::OutsideRam { what: "modules and boot information", .. })
        ));
        // A truncated ELF is an error, never a panic.
        let elf = tiny_elf(EM_386, 0x10_0000, 0x10_0000, &code, 0);
        for cut in [20, 40, 60, 0x80, 0x85] {
            assert!(load(&elf[..cut], "", &[], &map()).is_err());
        }
        let msg = MultibootError::OutsideRam { what: "kernel segment", addr: 0x1000, len: 0x10 }.to_string();
        assert_eq!(msg, "kernel segment at 0x1000..0x1010 is outside RAM");
    }

    #[test]
    fn module_lists_split_like_qemu() {
        let l = parse_module_list("mod1 args,mod2,,x,/b c d");
        assert_eq!(
            l,
            vec![
                ModuleSpec { path: "mod1".into(), cmdline: "mod1 args".into() },
                ModuleSpec { path: "mod2,x".into(), cmdline: "mod2,x".into() },
                ModuleSpec { path: "/b".into(), cmdline: "/b c d".into() },
            ]
        );
        assert!(parse_module_list("").is_empty());
    }

    /// A kernel built by the real toolchain: nasm + GNU ld for elf_i386.
    /// Skipped (with a note) when either is missing.
    #[test]
    fn nasm_and_ld_built_kernel() {
        let dir = std::env::temp_dir().join(format!("ironpc-mb-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        let asm = "bits 32\n\
            section .text\n\
            align 4\n\
            mb: dd 0x1BADB002, 3, -(0x1BADB002 + 3)\n\
            global _start\n\
            _start: mov esp, stack_top\n\
            mov [seen], ebx\n\
            hlt\n\
            section .data\n\
            msg: db 'data', 0\n\
            section .bss\n\
            seen: resd 1\n\
            resb 16384\n\
            stack_top:\n";
        std::fs::write(dir.join("k.asm"), asm).unwrap();
        let ok = |c: &mut std::process::Command| c.status().map(|s| s.success()).unwrap_or(false);
        let built =
            ok(std::process::Command::new("nasm").args(["-f", "elf32", "-o"]).arg(dir.join("k.o")).arg(dir.join("k.asm")))
                && ok(std::process::Command::new("ld")
                    .args(["-m", "elf_i386", "-N", "-Ttext", "0x100000", "-e", "_start", "-o"])
                    .arg(dir.join("k.elf"))
                    .arg(dir.join("k.o"))
                    .stderr(std::process::Stdio::null()));
        if !built {
            eprintln!("note: nasm or ld (elf_i386) not available; skipping");
            return;
        }
        let elf = std::fs::read(dir.join("k.elf")).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        let mods = modules();
        let img = load(&elf, "k.elf x=1", &mods, &map()).unwrap();
        assert_eq!(img.entry, 0x10_000C, "_start follows the 12-byte header at 0x100000");
        assert_eq!(rd32(&img, 0x10_0000), HEADER_MAGIC);
        assert_eq!(read_byte(&img, 0x10_000C), 0xBC, "mov esp, imm32");
        let stack_top = u64::from(rd32(&img, 0x10_000D));
        // The bss (and so the stack) is inside the loaded image, zeroed.
        assert_eq!(read_byte(&img, stack_top - 1), 0);
        check_mbi(&img, "k.elf x=1", &mods, stack_top);
    }

    #[test]
    fn boot_plan_sets_eax_ebx_and_a_flat_gdt() {
        let elf = tiny_elf(EM_386, 0x10_0000, 0x10_0000, &[0xF4], 0);
        let img = load(&elf, "k", &modules(), &map()).unwrap();
        let plan = img.boot_plan();
        assert_eq!((plan.regs[0], plan.regs[3], plan.entry), (0x2BAD_B002, img.mbi, 0x10_000C));
        assert_eq!(plan.regs[4], 0x7C00, "a usable stack in free low memory");
        // A kernel loaded over that stack gets none.
        let low = tiny_elf(EM_386, 0x7000, 0x7000, &[0xF4], 0);
        assert_eq!(load(&low, "", &[], &map()).unwrap().boot_plan().regs[4], 0);
        assert_eq!(plan.gdt_addr % 8, 0);
        let gdt: Vec<u64> = (0..4)
            .map(|i| {
                u64::from(rd32(&img, u64::from(plan.gdt_addr) + 8 * i))
                    | u64::from(rd32(&img, u64::from(plan.gdt_addr) + 8 * i + 4)) << 32
            })
            .collect();
        assert_eq!(gdt, linux::BOOT_GDT);
        assert_eq!(plan.writes, img.writes);
    }

    #[test]
    fn fw_cfg_items_describe_the_two_spans() {
        let elf = tiny_elf(EM_386, 0x10_0000, 0x10_0000, &[0xF4], 0x100);
        let img = load(&elf, "k", &modules(), &map()).unwrap();
        let items = img.fw_cfg_items();
        let get = |k: u16| items.iter().find(|i| i.0 == k).unwrap().1.clone();
        let u = |k: u16| u32::from_le_bytes(get(k).try_into().unwrap());
        assert_eq!(u(fw_cfg_key::KERNEL_ADDR), 0x10_0000);
        assert_eq!(u(fw_cfg_key::KERNEL_SIZE) as usize, get(fw_cfg_key::KERNEL_DATA).len());
        assert_eq!(u(fw_cfg_key::INITRD_ADDR), img.mbi);
        assert_eq!(u(fw_cfg_key::INITRD_SIZE) as usize, get(fw_cfg_key::INITRD_DATA).len());
        assert_eq!(u(fw_cfg_key::KERNEL_ENTRY), img.entry);
        assert_eq!(get(fw_cfg_key::INITRD_DATA)[0], 0x4D, "MBI flags low byte: mem, cmdline, mods, mmap");
    }

    /// `roms/multiboot.asm` assembled with nasm, then fixed up the way
    /// ironpc embeds option ROMs: size byte, PnP header checksum, ROM
    /// checksum in the last byte. None when nasm is missing; nasm failing
    /// fails the test.
    fn assembled_rom() -> Option<Vec<u8>> {
        let roms = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("roms");
        let out = std::env::temp_dir().join(format!("ironpc-mbrom-{}.bin", std::process::id()));
        // The include path as build.rs gives it: the ROMs share optionrom.inc.
        let mut include = roms.clone().into_os_string();
        include.push("/");
        let result = std::process::Command::new("nasm")
            .args(["-f", "bin", "-i"])
            .arg(include)
            .arg("-o")
            .arg(&out)
            .arg(roms.join("multiboot.asm"))
            .output();
        match result {
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => return None,
            Err(e) => panic!("cannot run nasm: {e}"),
            Ok(o) => assert!(o.status.success(), "nasm failed on multiboot.asm:\n{}", String::from_utf8_lossy(&o.stderr)),
        }
        let raw = std::fs::read(&out).unwrap();
        std::fs::remove_file(&out).ok();
        let mut rom = raw.clone();
        rom.resize((raw.len() + 1).next_multiple_of(512), 0);
        rom[2] = (rom.len() / 512) as u8;
        let pnp = usize::from(u16::from_le_bytes([rom[0x1A], rom[0x1B]]));
        let len = usize::from(rom[pnp + 5]) * 16;
        let sum = rom[pnp..pnp + len].iter().fold(0u8, |a, &b| a.wrapping_add(b));
        rom[pnp + 9] = sum.wrapping_neg();
        let last = rom.len() - 1;
        let sum = rom.iter().fold(0u8, |a, &b| a.wrapping_add(b));
        rom[last] = sum.wrapping_neg();
        Some(rom)
    }

    #[test]
    fn option_rom_has_a_pnp_bev() {
        let Some(rom) = assembled_rom() else {
            eprintln!("note: nasm not installed; skipping the option ROM check");
            return;
        };
        assert_eq!(&rom[0..2], &[0x55, 0xAA]);
        assert_eq!(rom.len(), usize::from(rom[2]) * 512);
        assert_eq!(rom.iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
        let pnp = usize::from(u16::from_le_bytes([rom[0x1A], rom[0x1B]]));
        assert_eq!(&rom[pnp..pnp + 4], b"$PnP");
        assert_eq!(rom[pnp..pnp + 32].iter().fold(0u8, |a, &b| a.wrapping_add(b)), 0);
        let bev = usize::from(u16::from_le_bytes([rom[pnp + 26], rom[pnp + 27]]));
        let bcv = u16::from_le_bytes([rom[pnp + 22], rom[pnp + 23]]);
        assert!(bev > pnp + 32 && bev < rom.len(), "BEV {bev:#x} inside the ROM");
        assert_eq!(bcv, 0, "a boot entry, not a disk");
        assert_eq!(rom[bev], 0xFA, "the BEV starts with CLI");
        let name = usize::from(u16::from_le_bytes([rom[pnp + 16], rom[pnp + 17]]));
        assert!(rom[name..].starts_with(b"ironpc multiboot loader\0"));
    }

    /// Boots `k.elf` (built in `dir`) in QEMU with `rom` standing in for
    /// QEMU's own multiboot ROM (`-L` puts our directory first in its
    /// firmware search path). Returns the exit status and the debug
    /// console, or None when qemu-system-i386 cannot run.
    fn qemu_with_rom(dir: &std::path::Path, rom: &[u8]) -> Option<(Option<i32>, String)> {
        std::fs::create_dir_all(dir.join("roms")).unwrap();
        std::fs::write(dir.join("roms/multiboot_dma.bin"), rom).unwrap();
        std::fs::write(dir.join("roms/multiboot.bin"), rom).unwrap();
        std::fs::remove_file(dir.join("con.txt")).ok();
        let out = std::process::Command::new("timeout")
            .args(["60", "qemu-system-i386", "-L", "roms", "-kernel", "k.elf", "-append", "hello mb"])
            .args(["-initrd", "mod.txt modarg", "-display", "none", "-nodefaults", "-m", "64", "-no-reboot"])
            .args(["-debugcon", "file:con.txt", "-global", "isa-debugcon.iobase=0x402"])
            .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=4"])
            .current_dir(dir)
            .output()
            .ok()?;
        if out.status.code() == Some(127) {
            return None;
        }
        let con = std::fs::read(dir.join("con.txt")).unwrap_or_default();
        Some((out.status.code(), String::from_utf8_lossy(&con).to_string()))
    }

    /// The reference machine runs the ROM: QEMU puts a multiboot kernel
    /// in fw_cfg with the same items (its hw/i386/multiboot.c) and SeaBIOS
    /// runs our ROM in place of QEMU's. The kernel checks EAX, prints its
    /// command line, its module and the number of mmap entries on the
    /// debug console and exits through isa-debug-exit. A control run with
    /// the ROM's BEV patched to exit at once shows that QEMU really took
    /// our ROM. Skipped without qemu, nasm or ld.
    #[test]
    fn option_rom_boots_a_kernel_in_qemu() {
        let Some(rom) = assembled_rom() else {
            eprintln!("note: nasm not installed; skipping");
            return;
        };
        let dir = std::env::temp_dir().join(format!("ironpc-mbqemu-{}", std::process::id()));
        std::fs::create_dir_all(&dir).unwrap();
        std::fs::write(dir.join("mod.txt"), b"payload!").unwrap();
        let asm = "bits 32\n\
            section .text\n\
            align 4\n\
            mb: dd 0x1BADB002, 3, -(0x1BADB002 + 3)\n\
            global _start\n\
            _start: mov dx, 0x402\n\
            cmp eax, 0x2BADB002\n\
            jne fail\n\
            mov esi, [ebx + 16]\n\
            cmd: lodsb\n\
            test al, al\n\
            jz cmd_done\n\
            out dx, al\n\
            jmp cmd\n\
            cmd_done: mov al, '|'\n\
            out dx, al\n\
            mov edi, [ebx + 24]\n\
            mov esi, [edi]\n\
            mov ecx, [edi + 4]\n\
            sub ecx, esi\n\
            rep outsb\n\
            mov al, '|'\n\
            out dx, al\n\
            mov eax, [ebx + 44]\n\
            mov cl, 24\n\
            div cl\n\
            add al, '0'\n\
            out dx, al\n\
            mov al, 0x21\n\
            out 0xf4, al\n\
            fail: mov al, 0x10\n\
            out 0xf4, al\n\
            hlt\n";
        std::fs::write(dir.join("k.asm"), asm).unwrap();
        let run = |c: &mut std::process::Command| c.current_dir(&dir).output().map(|o| o.status.success()).unwrap_or(false);
        let built = run(std::process::Command::new("nasm").args(["-f", "elf32", "-o", "k.o", "k.asm"]))
            && run(std::process::Command::new("ld")
                .args(["-m", "elf_i386", "-N", "-Ttext", "0x100000", "-e", "_start", "-o", "k.elf", "k.o"]));
        let result = if built { qemu_with_rom(&dir, &rom) } else { None };
        let Some((status, con)) = result else {
            eprintln!("note: qemu-system-i386, nasm or ld missing; skipping");
            std::fs::remove_dir_all(&dir).ok();
            return;
        };
        // Control: the BEV replaced by "mov al, 0x55; out 0xF4, al".
        let mut control = rom.clone();
        let pnp = usize::from(u16::from_le_bytes([rom[0x1A], rom[0x1B]]));
        let bev = usize::from(u16::from_le_bytes([rom[pnp + 26], rom[pnp + 27]]));
        control[bev..bev + 4].copy_from_slice(&[0xB0, 0x55, 0xE6, 0xF4]);
        let last = control.len() - 1;
        control[last] = 0;
        control[last] = control.iter().fold(0u8, |a, &b| a.wrapping_add(b)).wrapping_neg();
        let (control_status, _) = qemu_with_rom(&dir, &control).unwrap();
        std::fs::remove_dir_all(&dir).ok();
        assert_eq!(control_status, Some(0xAB), "QEMU did not run the ROM from -L");

        // isa-debug-exit: status (0x21 << 1) | 1.
        assert_eq!(status, Some(0x43), "kernel did not report success; console:\n{con}");
        assert!(con.contains("Booting from ROM"), "{con}");
        // SeaBIOS prints "e820 map has N items:"; the ROM hands those on.
        let n = con.split("e820 map has ").nth(1).and_then(|r| r.split(' ').next()).and_then(|n| n.parse::<u32>().ok());
        let n = n.expect("SeaBIOS logs its e820 map");
        let want = format!("k.elf hello mb|payload!|{}", char::from(b'0' + n as u8));
        assert!(con.ends_with(&want), "want {want:?}; console:\n{con}");
    }
}
