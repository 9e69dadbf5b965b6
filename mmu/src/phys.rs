//! The physical address space: RAM, ROM overlays, MMIO windows, the A20
//! gate, the chipset's shadow-RAM decode of 0xC0000-0xFFFFF (PAM, Intel
//! 82441FX datasheet 3.2.18) and the per-page code/dirty bitmaps.
//!
//! Device memory (a display adapter's video RAM behind a PCI memory BAR)
//! is host memory of its own that the map places where the BAR points and
//! moves when the BAR is reprogrammed (PCI Local Bus Specification 2.1,
//! 6.2.5.1): the CPU reads and writes it through the TLB fast path as it
//! does RAM, and the dirty bitmap of the physical pages it is mapped at
//! tells its device what the guest wrote.

use crate::{bitmap::PageBitmap, ram::GuestRam, PAGE_MASK, PAGE_SIZE};
use std::sync::atomic::{AtomicU64, Ordering};

/// What a physical page is backed by.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Region {
    /// Guest RAM; `host` is the host address of the page's first byte.
    Ram { host: usize },
    /// Reads come from host memory at `host` (a ROM image, or RAM that the
    /// PAM makes read-only); writes never go there: they are dropped, or
    /// reach RAM beneath a shadowed ROM, as [`PhysMem::write`] resolves.
    Rom { host: usize },
    /// A device window: accesses go to the board's MMIO dispatch.
    Mmio,
    /// Nothing: reads return all ones; writes are dropped unless the PAM
    /// sends them to RAM ([`PhysMem::write`] resolves that).
    Unmapped,
}

/// First byte of the shadow-RAM window the PAM registers decode.
pub const PAM_BASE: u64 = 0xC_0000;
/// Size of one PAM segment (the finest granule: PAM1-PAM6 each control
/// two of them; PAM0 controls the four of 0xF0000-0xFFFFF together).
pub const PAM_SEGMENT: u64 = 0x4000;
/// Segments between `PAM_BASE` and 1 MiB.
pub const PAM_SEGMENTS: usize = 16;

/// Where one PAM segment's reads and writes go: to DRAM, or to the PCI
/// bus (where the firmware ROM's low window answers for 0xE0000-0xFFFFF
/// and nothing for 0xC0000-0xDFFFF).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct PamAttr {
    /// RE: reads from DRAM.
    pub read_ram: bool,
    /// WE: writes to DRAM.
    pub write_ram: bool,
}

impl PamAttr {
    /// From a PAM register nibble: bit 0 RE, bit 1 WE (82441FX 3.2.18).
    pub fn from_bits(nibble: u8) -> Self {
        Self { read_ram: nibble & 1 != 0, write_ram: nibble & 2 != 0 }
    }
}

/// What serves one direction of access to a page.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Backing {
    /// RAM at this (page-aligned) offset.
    Ram(u64),
    /// ROM image `image`, page at byte `offset`.
    Rom {
        image: usize,
        offset: u64,
    },
    /// Device memory `mem`, page at byte `offset`.
    Device {
        mem: usize,
        offset: u64,
    },
    Mmio,
    None,
}

/// Errors from changing the physical map.
#[derive(Debug, thiserror::Error, PartialEq, Eq)]
pub enum MapError {
    #[error("range {base:#x}+{len:#x} is not page aligned")]
    Unaligned { base: u64, len: u64 },
    #[error("range {base:#x}+{len:#x} overlaps an existing ROM or MMIO range")]
    Overlap { base: u64, len: u64 },
}

#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum OverlayKind {
    /// Index into `PhysMem::roms`, offset of `base` within that image.
    Rom {
        image: usize,
        offset: u64,
    },
    Mmio,
    /// Index into `PhysMem::devices`, mapped whole from its first byte.
    Device {
        mem: usize,
    },
}

#[derive(Clone, Copy, Debug)]
struct Overlay {
    base: u64,
    len: u64,
    kind: OverlayKind,
}

/// A ROM image added with [`PhysMem::add_rom_image`], mapped and unmapped
/// as its device's ROM BAR says.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct RomId(usize);

/// Device memory added with [`PhysMem::add_device_ram`].
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub struct DeviceRamId(usize);

/// Each `PhysMem` gets a distinct id so a TLB filled from one map is never
/// used with another (see [`crate::Tlb::sync`]).
static NEXT_ID: AtomicU64 = AtomicU64::new(1);

/// The physical address space of the machine.
pub struct PhysMem {
    ram: GuestRam,
    /// ROM images. A `Box<[u8]>` never moves, so TLB addends into it stay
    /// valid for the life of this map.
    roms: Vec<Box<[u8]>>,
    /// Device memories; each mapping never moves in host memory, so TLB
    /// addends into it stay valid while it is mapped.
    devices: Vec<GuestRam>,
    /// ROM, MMIO and device memory ranges, which take precedence over RAM. Few, so a
    /// linear scan on a TLB miss is fine.
    overlays: Vec<Overlay>,
    a20: bool,
    code: PageBitmap,
    dirty: PageBitmap,
    /// Code pages written since the CPUs last looked (by DMA or by a CPU):
    /// every CPU drops its decoded blocks on them.
    code_writes: Vec<u64>,
    id: u64,
    epochs: Epochs,
    /// The PAM decode of 0xC0000-0xFFFFF, once a chipset with shadow RAM
    /// enabled it; without it the window is RAM under the overlays.
    pam: Option<[PamAttr; PAM_SEGMENTS]>,
    /// The host bridge opened SMRAM to non-SMM accesses: 0xA0000-0xBFFFF
    /// is RAM even where a device window (VGA) lies over it.
    smram_open: bool,
}

/// The compatible SMRAM range (82441FX 3.2.22, C_BASE_SEG = 010b).
const SMRAM_BASE: u64 = 0xA_0000;
const SMRAM_END: u64 = 0xC_0000;

/// Counters that move when TLB entries filled earlier may have become
/// wrong without a guest-visible flush (see [`crate::Tlb::sync`]).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct Epochs {
    /// The map changed (ROM/MMIO ranges, A20): translations to physical
    /// pages and host addends may be stale.
    pub map: u64,
    /// A page became a code page or the dirty bitmap was scanned: only the
    /// fast write tags may be stale.
    pub fast_write: u64,
}

/// Pages covered by the bitmaps: the whole 32-bit physical space.
const TRACKED_PAGES: u64 = (1 << 32) / PAGE_SIZE;

impl PhysMem {
    /// A map with `ram_size` bytes of RAM at physical address 0.
    pub fn new(ram_size: u64) -> std::io::Result<Self> {
        Ok(Self {
            ram: GuestRam::new(ram_size)?,
            roms: Vec::new(),
            devices: Vec::new(),
            overlays: Vec::new(),
            a20: true,
            code: PageBitmap::new(TRACKED_PAGES),
            dirty: PageBitmap::new(TRACKED_PAGES),
            code_writes: Vec::new(),
            id: NEXT_ID.fetch_add(1, Ordering::Relaxed),
            epochs: Epochs::default(),
            pam: None,
            smram_open: false,
        })
    }

    /// The guest RAM.
    pub fn ram(&self) -> &GuestRam {
        &self.ram
    }

    /// Size of RAM in bytes.
    pub fn ram_size(&self) -> u64 {
        self.ram.len()
    }

    /// Maps `data` read-only at `base` (page aligned; the image is padded to
    /// whole pages with 0xFF).
    pub fn add_rom(&mut self, base: u64, data: &[u8]) -> Result<(), MapError> {
        let len = (data.len() as u64).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        self.check_free(base, len)?;
        let id = self.add_rom_image(data);
        self.map_rom_image(id, base)
    }

    /// Keeps a ROM image (padded to whole pages with 0xFF) without mapping
    /// it: an expansion ROM, mapped while its BAR enables it.
    pub fn add_rom_image(&mut self, data: &[u8]) -> RomId {
        let len = (data.len() as u64).max(1).div_ceil(PAGE_SIZE) * PAGE_SIZE;
        let mut image = vec![0xFF; len as usize].into_boxed_slice();
        image[..data.len()].copy_from_slice(data);
        self.roms.push(image);
        RomId(self.roms.len() - 1)
    }

    /// Maps the whole of ROM image `id` at `base` (page aligned).
    pub fn map_rom_image(&mut self, id: RomId, base: u64) -> Result<(), MapError> {
        let len = self.roms.get(id.0).map_or(0, |r| r.len() as u64);
        self.check_free(base, len)?;
        self.insert(Overlay { base, len, kind: OverlayKind::Rom { image: id.0, offset: 0 } });
        Ok(())
    }

    /// Allocates `size` bytes (whole pages) of zeroed device memory, not
    /// mapped anywhere yet.
    pub fn add_device_ram(&mut self, size: u64) -> std::io::Result<DeviceRamId> {
        self.devices.push(GuestRam::new(size.max(1).div_ceil(PAGE_SIZE) * PAGE_SIZE)?);
        Ok(DeviceRamId(self.devices.len() - 1))
    }

    /// Maps device memory `id` whole at `base` (page aligned), or nowhere
    /// (`None`), in place of where it was: a BAR was programmed or its
    /// decode switched. On an error it stays unmapped.
    pub fn map_device_ram(&mut self, id: DeviceRamId, base: Option<u64>) -> Result<(), MapError> {
        if let Some(old) = self.device_ram_base(id) {
            self.remove_overlay(old);
        }
        let (Some(base), Some(dev)) = (base, self.devices.get(id.0)) else {
            return Ok(());
        };
        let len = dev.len();
        self.check_free(base, len)?;
        self.insert(Overlay { base, len, kind: OverlayKind::Device { mem: id.0 } });
        Ok(())
    }

    /// Where device memory `id` is mapped, if anywhere.
    pub fn device_ram_base(&self, id: DeviceRamId) -> Option<u64> {
        self.overlays.iter().find(|o| matches!(o.kind, OverlayKind::Device { mem } if mem == id.0)).map(|o| o.base)
    }

    /// The bytes of device memory `id` (empty for an unknown id), for its
    /// device's own accesses (legacy windows, rendering).
    pub fn device_ram(&self, id: DeviceRamId) -> &[u8] {
        self.devices.get(id.0).map_or(&[], |d| d.as_slice())
    }

    /// The bytes of device memory `id`, writable. Writes through here are
    /// the device's own business: they mark no page dirty.
    pub fn device_ram_mut(&mut self, id: DeviceRamId) -> &mut [u8] {
        self.devices.get_mut(id.0).map_or(&mut [], |d| d.as_mut_slice())
    }

    /// Returns and clears the pages of device memory `id` written through
    /// the map (CPU stores, DMA) since the last call, as page indices
    /// within the device memory. Nothing when unmapped.
    pub fn take_device_ram_dirty(&mut self, id: DeviceRamId) -> Vec<u64> {
        let (Some(base), Some(dev)) = (self.device_ram_base(id), self.devices.get(id.0)) else {
            return Vec::new();
        };
        let (first, count) = (base / PAGE_SIZE, dev.len() / PAGE_SIZE);
        self.take_dirty(first, count).into_iter().map(|p| p - first).collect()
    }

    /// Removes the ROM, MMIO or device memory range that starts at `base`
    /// (a ROM image stays known and can be mapped again). Returns whether
    /// there was one.
    pub fn remove_overlay(&mut self, base: u64) -> bool {
        let Some(i) = self.overlays.iter().position(|o| o.base == base) else {
            return false;
        };
        let o = self.overlays.remove(i);
        self.epochs.map += 1;
        self.drop_code(o.base, o.len);
        true
    }

    /// Moves the range that starts at `base` to `new_base`. On an overlap
    /// it stays where it was.
    pub fn move_overlay(&mut self, base: u64, new_base: u64) -> Result<(), MapError> {
        let i = self.overlays.iter().position(|o| o.base == base).ok_or(MapError::Overlap { base, len: 0 })?;
        let o = self.overlays.remove(i);
        if let Err(e) = self.check_free(new_base, o.len) {
            self.overlays.insert(i, o);
            return Err(e);
        }
        self.drop_code(o.base, o.len);
        self.insert(Overlay { base: new_base, ..o });
        Ok(())
    }

    /// Pages in `[base, base + len)` changed source: blocks decoded from
    /// them are stale.
    fn drop_code(&mut self, base: u64, len: u64) {
        for page in base / PAGE_SIZE..(base + len).div_ceil(PAGE_SIZE) {
            if self.code.clear(page) {
                self.code_writes.push(page);
            }
        }
    }

    /// Maps part of an already added ROM image a second time (the BIOS is
    /// seen both below 4 GiB and below 1 MiB). `image_base` is where the
    /// image was first added.
    pub fn alias_rom(&mut self, image_base: u64, offset: u64, base: u64, len: u64) -> Result<(), MapError> {
        let image = self
            .overlays
            .iter()
            .find_map(|o| match o.kind {
                OverlayKind::Rom { image, offset: 0 } if o.base == image_base => Some(image),
                _ => None,
            })
            .ok_or(MapError::Overlap { base: image_base, len: 0 })?;
        self.check_free(base, len)?;
        if offset + len > self.roms[image].len() as u64 {
            return Err(MapError::Overlap { base, len });
        }
        self.insert(Overlay { base, len, kind: OverlayKind::Rom { image, offset } });
        Ok(())
    }

    /// Declares `[base, base + len)` a device window.
    pub fn add_mmio(&mut self, base: u64, len: u64) -> Result<(), MapError> {
        self.check_free(base, len)?;
        self.insert(Overlay { base, len, kind: OverlayKind::Mmio });
        Ok(())
    }

    fn check_free(&self, base: u64, len: u64) -> Result<(), MapError> {
        if !base.is_multiple_of(PAGE_SIZE) || !len.is_multiple_of(PAGE_SIZE) || len == 0 {
            return Err(MapError::Unaligned { base, len });
        }
        if self.overlays.iter().any(|o| base < o.base + o.len && o.base < base + len) {
            return Err(MapError::Overlap { base, len });
        }
        Ok(())
    }

    fn insert(&mut self, o: Overlay) {
        self.drop_code(o.base, o.len);
        self.overlays.push(o);
        self.overlays.sort_by_key(|o| o.base);
        self.epochs.map += 1;
    }

    /// Whether the A20 gate is open (address bit 20 passes through).
    pub fn a20(&self) -> bool {
        self.a20
    }

    /// Opens or closes the A20 gate.
    pub fn set_a20(&mut self, enabled: bool) {
        if self.a20 != enabled {
            self.a20 = enabled;
            self.epochs.map += 1;
        }
    }

    /// Applies the A20 gate to a physical address.
    #[inline]
    pub fn a20_mask(&self, phys: u64) -> u64 {
        if self.a20 {
            phys
        } else {
            phys & !(1 << 20)
        }
    }

    /// Lets the PAM decide 0xC0000-0xFFFFF from now on (a chipset with
    /// shadow RAM), starting from the reset state: every segment on the PCI
    /// bus, so reads show the ROM's low window and writes are dropped.
    pub fn enable_pam(&mut self) {
        self.set_pam([PamAttr::default(); PAM_SEGMENTS]);
    }

    /// The PAM decode, if enabled.
    pub fn pam(&self) -> Option<[PamAttr; PAM_SEGMENTS]> {
        self.pam
    }

    /// Sets where each PAM segment's reads and writes go (enabling the PAM
    /// decode if it was not). Pages whose source changed lose their TLB
    /// entries (the map epoch moves) and their decoded code.
    pub fn set_pam(&mut self, attrs: [PamAttr; PAM_SEGMENTS]) {
        let old = self.pam;
        self.pam = Some(attrs);
        let pages_per_segment = PAM_SEGMENT / PAGE_SIZE;
        let mut changed = false;
        for (i, attr) in attrs.iter().enumerate() {
            if old.is_some_and(|o| o[i] == *attr) {
                continue;
            }
            changed = true;
            let first = (PAM_BASE + i as u64 * PAM_SEGMENT) / PAGE_SIZE;
            for page in first..first + pages_per_segment {
                // Blocks decoded from the old source are stale now.
                if self.code.clear(page) {
                    self.code_writes.push(page);
                }
            }
        }
        if changed {
            self.epochs.map += 1;
        }
    }

    /// Opens (D_OPEN with G_SMRAME) or closes SMRAM to ordinary accesses.
    pub fn set_smram_open(&mut self, open: bool) {
        if self.smram_open == open {
            return;
        }
        self.smram_open = open;
        self.epochs.map += 1;
        for page in SMRAM_BASE / PAGE_SIZE..SMRAM_END / PAGE_SIZE {
            if self.code.clear(page) {
                self.code_writes.push(page);
            }
        }
    }

    /// The ROM or MMIO overlay covering `page`, if any.
    fn overlay(&self, page: u64) -> Option<Backing> {
        self.overlays.iter().find(|o| page >= o.base && page < o.base + o.len).map(|o| match o.kind {
            OverlayKind::Rom { image, offset } => Backing::Rom { image, offset: offset + page - o.base },
            OverlayKind::Mmio => Backing::Mmio,
            OverlayKind::Device { mem } => Backing::Device { mem, offset: page - o.base },
        })
    }

    /// What serves reads (`write` false) or writes of `page`.
    fn backing(&self, page: u64, write: bool) -> Backing {
        let ram = if page < self.ram.len() { Backing::Ram(page) } else { Backing::None };
        if self.smram_open && (SMRAM_BASE..SMRAM_END).contains(&page) {
            return ram;
        }
        if let Some(pam) = &self.pam {
            if (PAM_BASE..1 << 20).contains(&page) {
                let attr = pam[((page - PAM_BASE) / PAM_SEGMENT) as usize % PAM_SEGMENTS];
                let to_ram = if write { attr.write_ram } else { attr.read_ram };
                // The PCI side: only a ROM alias placed there answers.
                return if to_ram { ram } else { self.overlay(page).unwrap_or(Backing::None) };
            }
        }
        self.overlay(page).unwrap_or(ram)
    }

    /// Host address of a page of RAM or ROM.
    fn host(&self, b: Backing) -> Option<usize> {
        match b {
            Backing::Ram(page) => Some(self.ram.host_addr(page)),
            Backing::Rom { image, offset } => Some(self.roms[image].as_ptr() as usize + offset as usize),
            Backing::Device { mem, offset } => Some(self.devices[mem].host_addr(offset)),
            Backing::Mmio | Backing::None => None,
        }
    }

    /// What backs the page containing `phys` (after A20 masking, which the
    /// caller has applied), as reads see it. For RAM and ROM, `host` is the
    /// page's host address. Only `Ram` pages take writes at `host`.
    pub fn region(&self, phys: u64) -> Region {
        let page = phys & PAGE_MASK;
        let read = self.backing(page, false);
        match read {
            Backing::Mmio => Region::Mmio,
            Backing::None => Region::Unmapped,
            Backing::Ram(_) if self.backing(page, true) == read => Region::Ram { host: self.ram.host_addr(page) },
            Backing::Device { mem, offset } if self.backing(page, true) == read => {
                Region::Ram { host: self.devices[mem].host_addr(offset) }
            }
            _ => self.host(read).map_or(Region::Unmapped, |host| Region::Rom { host }),
        }
    }

    /// Reads RAM/ROM bytes at a physical address, as a device or the
    /// decoder sees them. MMIO and unmapped bytes read as 0xFF; the caller
    /// routes MMIO itself.
    pub fn read(&self, phys: u64, buf: &mut [u8]) {
        let mut done = 0;
        while done < buf.len() {
            let addr = self.a20_mask(phys + done as u64);
            let in_page = ((PAGE_SIZE - (addr % PAGE_SIZE)) as usize).min(buf.len() - done);
            let chunk = &mut buf[done..done + in_page];
            let off = addr % PAGE_SIZE;
            match self.backing(addr & PAGE_MASK, false) {
                Backing::Ram(page) => self.ram.read(page + off, chunk),
                Backing::Rom { image, offset } => {
                    let start = (offset + off) as usize;
                    match self.roms[image].get(start..start + chunk.len()) {
                        Some(src) => chunk.copy_from_slice(src),
                        None => chunk.fill(0xFF),
                    }
                }
                Backing::Device { mem, offset } => self.devices[mem].read(offset + off, chunk),
                Backing::Mmio | Backing::None => chunk.fill(0xFF),
            }
            done += in_page;
        }
    }

    /// Writes RAM at a physical address (ROM, MMIO and unmapped bytes are
    /// dropped; under the PAM, RAM beneath a ROM takes writes when WE is
    /// set), marking pages dirty and noting writes to code pages.
    pub fn write(&mut self, phys: u64, data: &[u8]) {
        let mut done = 0;
        while done < data.len() {
            let addr = self.a20_mask(phys + done as u64);
            let in_page = ((PAGE_SIZE - (addr % PAGE_SIZE)) as usize).min(data.len() - done);
            match self.backing(addr & PAGE_MASK, true) {
                Backing::Ram(page) => {
                    self.ram.write(page + addr % PAGE_SIZE, &data[done..done + in_page]);
                    self.note_write(addr / PAGE_SIZE);
                }
                Backing::Device { mem, offset } => {
                    self.devices[mem].write(offset + addr % PAGE_SIZE, &data[done..done + in_page]);
                    self.note_write(addr / PAGE_SIZE);
                }
                _ => {}
            }
            done += in_page;
        }
    }

    /// Records a write to physical page `page` made through a host pointer:
    /// marks it dirty and, if it held code, queues it for invalidation.
    #[inline]
    pub fn note_write(&mut self, page: u64) {
        self.dirty.set(page);
        if self.code.clear(page) {
            self.code_writes.push(page);
        }
    }

    /// Whether a write to `page` may bypass [`Self::note_write`]: it is
    /// already dirty and holds no code.
    #[inline]
    pub fn write_fast_ok(&self, page: u64) -> bool {
        self.dirty.get(page) && !self.code.get(page)
    }

    /// Marks `page` as holding decoded code. TLB write entries for it must
    /// go, so the fast-write epoch moves when the bit is new.
    pub fn mark_code(&mut self, page: u64) {
        if !self.code.set(page) {
            self.epochs.fast_write += 1;
        }
    }

    /// Code pages written since the last call.
    pub fn take_code_writes(&mut self) -> Vec<u64> {
        std::mem::take(&mut self.code_writes)
    }

    /// Whether any code page was written since the last `take_code_writes`.
    #[inline]
    pub fn has_code_writes(&self) -> bool {
        !self.code_writes.is_empty()
    }

    /// Returns and clears the dirty pages in `[first, first + count)`.
    pub fn take_dirty(&mut self, first: u64, count: u64) -> Vec<u64> {
        self.epochs.fast_write += 1;
        self.dirty.take_range(first, count)
    }

    /// The map's identity, for TLB ownership checks.
    pub fn id(&self) -> u64 {
        self.id
    }

    /// The current epochs (see [`Epochs`]).
    #[inline]
    pub fn epochs(&self) -> Epochs {
        self.epochs
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rom_overlays_ram_and_ignores_writes() {
        let mut m = PhysMem::new(2 << 20).unwrap();
        m.add_rom(0xF_0000, &[1, 2, 3]).unwrap();
        m.write(0xF_0000, &[9, 9]);
        let mut b = [0; 4];
        m.read(0xF_0000, &mut b);
        assert_eq!(b, [1, 2, 3, 0xFF]);
        assert_eq!(m.add_mmio(0xF_0000, 0x1000), Err(MapError::Overlap { base: 0xF_0000, len: 0x1000 }));
    }

    #[test]
    fn a20_wraps_the_second_megabyte() {
        let mut m = PhysMem::new(4 << 20).unwrap();
        m.write(0x10_0010, &[0xAA]);
        m.set_a20(false);
        let mut b = [0];
        m.read(0x10_0010, &mut b);
        assert_eq!(b, [0], "with A20 off 1 MiB + 16 aliases 16");
        m.set_a20(true);
        m.read(0x10_0010, &mut b);
        assert_eq!(b, [0xAA]);
    }

    #[test]
    fn a_dirty_scan_clears_the_pages_and_revokes_fast_writes_until_written_again() {
        let mut m = PhysMem::new(1 << 20).unwrap();
        let mut tlb = crate::Tlb::new();
        m.write(0x3000, &[1]);
        tlb.sync(&m);
        tlb.insert(&m, 0x3000, false, &crate::paging::identity(0x3000), 0x3000);
        assert!(tlb.write::<1>(0x3001, false, 2), "dirty page: fast writes");
        assert_eq!(m.take_dirty(0, 256), vec![3]);
        assert_eq!(m.take_dirty(0, 256), Vec::<u64>::new(), "the scan cleared it");
        tlb.sync(&m);
        assert!(!tlb.write::<1>(0x3001, false, 3), "a fast write would go unseen by the next scan");
        // The slow path writes and marks the page again.
        m.write(0x3001, &[3]);
        assert_eq!(m.take_dirty(0, 256), vec![3]);
    }

    #[test]
    fn writes_to_code_pages_are_queued_and_unmapped_reads_all_ones() {
        let mut m = PhysMem::new(1 << 20).unwrap();
        m.mark_code(5);
        assert!(!m.write_fast_ok(5));
        m.write(5 * PAGE_SIZE + 3, &[1]);
        assert_eq!(m.take_code_writes(), vec![5]);
        assert!(m.write_fast_ok(5));
        let mut b = [0; 2];
        m.read(0x4000_0000, &mut b);
        assert_eq!(b, [0xFF, 0xFF]);
    }

    /// A map as on a PC: 2 MiB of RAM, a 128 KiB BIOS at the top of 4 GiB
    /// whose copy shows at 0xE0000-0xFFFFF on the PCI side, PAM enabled.
    fn pc_map() -> PhysMem {
        let mut m = PhysMem::new(2 << 20).unwrap();
        let bios: Vec<u8> = (0..0x2_0000u32).map(|i| (i >> 12) as u8 ^ 0x5A).collect();
        m.add_rom(0xFFFE_0000, &bios).unwrap();
        m.alias_rom(0xFFFE_0000, 0, 0xE_0000, 0x2_0000).unwrap();
        m.enable_pam();
        m
    }

    fn byte(m: &PhysMem, addr: u64) -> u8 {
        let mut b = [0];
        m.read(addr, &mut b);
        b[0]
    }

    /// The segment index of `addr`.
    fn seg(addr: u64) -> usize {
        ((addr - PAM_BASE) / PAM_SEGMENT) as usize
    }

    #[test]
    fn pam_reset_state_shows_the_rom_and_open_bus_and_drops_writes() {
        let mut m = pc_map();
        // 0xF0000 is page 0x10 of the image: 0x10 ^ 0x5A.
        assert_eq!(byte(&m, 0xF_0000), 0x10 ^ 0x5A);
        assert_eq!(byte(&m, 0xE_0000), 0x5A);
        assert_eq!(byte(&m, 0xC_0000), 0xFF, "nothing on the PCI side below 0xE0000");
        m.write(0xC_0000, &[1]);
        m.write(0xF_0000, &[1]);
        assert_eq!(byte(&m, 0xC_0000), 0xFF);
        assert_eq!(byte(&m, 0xF_0000), 0x10 ^ 0x5A);
        assert_eq!(m.region(0xC_0000), Region::Unmapped);
        assert!(matches!(m.region(0xF_0000), Region::Rom { .. }));
        assert!(matches!(m.region(0xB_F000), Region::Ram { .. }), "below the window: RAM");
    }

    #[test]
    fn pam_modes_route_reads_and_writes_independently() {
        let mut m = pc_map();
        let mut attrs = [PamAttr::default(); PAM_SEGMENTS];
        // 0xF0000 segment: write RAM, read ROM (mode 2): a copy of the ROM
        // can be made in place.
        attrs[seg(0xF_0000)] = PamAttr::from_bits(2);
        m.set_pam(attrs);
        m.write(0xF_0000, &[0x77]);
        assert_eq!(byte(&m, 0xF_0000), 0x10 ^ 0x5A, "reads still see the ROM");
        assert!(matches!(m.region(0xF_0000), Region::Rom { .. }));
        // Mode 1: reads RAM (the byte written above), writes dropped.
        attrs[seg(0xF_0000)] = PamAttr::from_bits(1);
        m.set_pam(attrs);
        assert_eq!(byte(&m, 0xF_0000), 0x77);
        m.write(0xF_0000, &[0x88]);
        assert_eq!(byte(&m, 0xF_0000), 0x77, "write-protected shadow");
        assert!(matches!(m.region(0xF_0000), Region::Rom { .. }), "no fast writes");
        // Mode 3: plain RAM.
        attrs[seg(0xF_0000)] = PamAttr::from_bits(3);
        m.set_pam(attrs);
        m.write(0xF_0000, &[0x99]);
        assert_eq!(byte(&m, 0xF_0000), 0x99);
        assert!(matches!(m.region(0xF_0000), Region::Ram { .. }));
        // Neighbouring segments kept their reset state.
        assert_eq!(byte(&m, 0xE_C000), 0xC ^ 0x5A);
        assert_eq!(byte(&m, 0xF_4000), 0x14 ^ 0x5A);
    }

    #[test]
    fn a_pam_change_moves_the_map_epoch_and_drops_code_on_the_segment_only() {
        let mut m = pc_map();
        m.mark_code(0xF_0000 / PAGE_SIZE);
        m.mark_code(0xF_4000 / PAGE_SIZE);
        let before = m.epochs().map;
        let mut attrs = [PamAttr::default(); PAM_SEGMENTS];
        m.set_pam(attrs);
        assert_eq!(m.epochs().map, before, "no change, no flush");
        attrs[seg(0xF_0000)] = PamAttr::from_bits(3);
        m.set_pam(attrs);
        assert!(m.epochs().map > before);
        assert_eq!(m.take_code_writes(), vec![0xF_0000 / PAGE_SIZE], "0xF4000 is in another segment");
    }

    #[test]
    fn a_tlb_gets_no_fast_write_on_a_read_only_shadow_and_sees_pam_changes() {
        let mut m = pc_map();
        let mut tlb = crate::Tlb::new();
        let mut attrs = [PamAttr::default(); PAM_SEGMENTS];
        attrs[seg(0xF_0000)] = PamAttr::from_bits(3);
        m.set_pam(attrs);
        m.write(0xF_0000, &[0x42]);
        tlb.sync(&m);
        tlb.insert(&m, 0xF_0000, false, &crate::paging::identity(0xF_0000), 0xF_0000);
        assert!(tlb.write::<1>(0xF_0001, false, 0x43), "plain RAM: fast writes");
        attrs[seg(0xF_0000)] = PamAttr::from_bits(1);
        m.set_pam(attrs);
        tlb.sync(&m);
        assert_eq!(tlb.read::<1>(0xF_0000, false), None, "the PAM change flushed the TLB");
        tlb.insert(&m, 0xF_0000, false, &crate::paging::identity(0xF_0000), 0xF_0000);
        assert_eq!(tlb.read::<2>(0xF_0000, false), Some(0x4342), "fast reads from the shadow");
        assert!(!tlb.write::<1>(0xF_0000, false, 0), "read-only shadow: no fast write");
    }

    #[test]
    fn open_smram_shows_the_ram_under_the_vga_window() {
        let mut m = PhysMem::new(2 << 20).unwrap();
        m.write(0xA_0000, &[0x5C]);
        m.add_mmio(0xA_0000, 0x2_0000).unwrap();
        assert_eq!(m.region(0xA_0000), Region::Mmio);
        let before = m.epochs().map;
        m.set_smram_open(true);
        assert!(m.epochs().map > before);
        assert!(matches!(m.region(0xB_F000), Region::Ram { .. }));
        assert_eq!(byte(&m, 0xA_0000), 0x5C);
        m.set_smram_open(false);
        assert_eq!(m.region(0xA_0000), Region::Mmio);
    }

    /// 16 MiB of video memory as a PCI display's BAR0 places it.
    const LFB: u64 = 0xFD00_0000;

    #[test]
    fn fast_path_writes_to_device_memory_reach_it_and_mark_its_pages_dirty() {
        let mut m = PhysMem::new(1 << 20).unwrap();
        let vram = m.add_device_ram(16 << 20).unwrap();
        m.map_device_ram(vram, Some(LFB)).unwrap();
        assert!(matches!(m.region(LFB + 0x5000), Region::Ram { .. }), "host memory, like RAM");
        // A slow-path write dirties page 5 and lets the TLB write fast.
        m.write(LFB + 0x5000, &[1]);
        assert_eq!(m.take_device_ram_dirty(vram), vec![5]);
        m.write(LFB + 0x5000, &[2]);
        let mut tlb = crate::Tlb::new();
        tlb.sync(&m);
        tlb.insert(&m, LFB + 0x5000, false, &crate::paging::identity(LFB + 0x5000), LFB + 0x5000);
        assert!(tlb.write::<4>(LFB + 0x5010, false, 0xDDCC_BBAA), "dirty page: fast write");
        assert_eq!(m.device_ram(vram)[0x5010..0x5014], [0xAA, 0xBB, 0xCC, 0xDD], "the device sees the bytes");
        assert_eq!(m.take_device_ram_dirty(vram), vec![5]);
        // The scan revoked the fast write: the next store goes the slow way
        // and marks the page again.
        tlb.sync(&m);
        assert!(!tlb.write::<1>(LFB + 0x5000, false, 7));
        m.write(LFB + 0x6FFF, &[1, 2]);
        assert_eq!(m.take_device_ram_dirty(vram), vec![6, 7], "a write across a page boundary");
        // The device's own writes are not reported back to it.
        m.device_ram_mut(vram)[0x9000] = 0x42;
        assert_eq!(byte(&m, LFB + 0x9000), 0x42);
        assert_eq!(m.take_device_ram_dirty(vram), Vec::<u64>::new());
    }

    #[test]
    fn moving_device_memory_moves_its_bytes_and_flushes_translations() {
        let mut m = PhysMem::new(1 << 20).unwrap();
        let vram = m.add_device_ram(1 << 20).unwrap();
        m.map_device_ram(vram, Some(LFB)).unwrap();
        m.write(LFB + 0x1234, &[0x5A]);
        let mut tlb = crate::Tlb::new();
        tlb.sync(&m);
        tlb.insert(&m, LFB + 0x1000, false, &crate::paging::identity(LFB + 0x1000), LFB + 0x1000);
        assert_eq!(tlb.read::<1>(LFB + 0x1234, false), Some(0x5A));
        let new = 0xE000_0000;
        m.map_device_ram(vram, Some(new)).unwrap();
        assert_eq!(m.device_ram_base(vram), Some(new));
        tlb.sync(&m);
        assert_eq!(tlb.read::<1>(LFB + 0x1234, false), None, "the map epoch moved");
        assert_eq!(byte(&m, new + 0x1234), 0x5A);
        assert_eq!(byte(&m, LFB + 0x1234), 0xFF, "nothing left at the old address");
        m.map_device_ram(vram, None).unwrap();
        assert_eq!(m.device_ram_base(vram), None);
        assert_eq!(m.region(new), Region::Unmapped, "unmapped: reads all ones");
        assert_eq!(byte(&m, new + 0x1234), 0xFF);
        m.write(new + 0x1234, &[1]);
        assert_eq!(m.device_ram(vram)[0x1234], 0x5A, "writes to nothing are dropped");
        assert_eq!(m.take_device_ram_dirty(vram), Vec::<u64>::new(), "unmapped: nothing to report");
        // Over a ROM it cannot go, and stays unmapped.
        m.add_rom(0xFFFF_0000, &[0; 0x1_0000]).unwrap();
        assert!(m.map_device_ram(vram, Some(0xFFF0_0000)).is_err());
        assert_eq!(m.device_ram_base(vram), None);
    }

    #[test]
    fn rom_images_and_mmio_windows_can_be_unmapped_and_moved() {
        let mut m = PhysMem::new(2 << 20).unwrap();
        let rom = m.add_rom_image(&[0x55, 0xAA, 0x80]);
        assert_eq!(byte(&m, 0xFEBE_0000), 0xFF, "not mapped yet");
        m.map_rom_image(rom, 0xFEBE_0000).unwrap();
        assert_eq!(byte(&m, 0xFEBE_0001), 0xAA);
        assert_eq!(byte(&m, 0xFEBE_0003), 0xFF, "padding");
        assert!(m.remove_overlay(0xFEBE_0000));
        assert!(!m.remove_overlay(0xFEBE_0000), "already gone");
        assert_eq!(byte(&m, 0xFEBE_0001), 0xFF);
        m.map_rom_image(rom, 0xFEBD_0000).unwrap();
        assert_eq!(byte(&m, 0xFEBD_0000), 0x55, "the same image again");
        m.add_mmio(0xFEBF_0000, 0x1000).unwrap();
        m.move_overlay(0xFEBF_0000, 0xFEBC_0000).unwrap();
        assert_eq!(m.region(0xFEBF_0000), Region::Unmapped);
        assert_eq!(m.region(0xFEBC_0000), Region::Mmio);
        assert!(m.move_overlay(0xFEBC_0000, 0xFEBD_0000).is_err(), "onto the ROM");
        assert_eq!(m.region(0xFEBC_0000), Region::Mmio, "stays where it was");
        // Code decoded from a ROM that goes away is stale.
        m.mark_code(0xFEBD_0000 / PAGE_SIZE);
        m.remove_overlay(0xFEBD_0000);
        assert_eq!(m.take_code_writes(), vec![0xFEBD_0000 / PAGE_SIZE]);
    }
}
