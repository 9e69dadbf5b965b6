//! The memory side of the machine.
//!
//! * [`PhysMem`]: the physical address space shared by every CPU and device:
//!   guest RAM (an anonymous `memmap2` mapping, so untouched RAM costs
//!   nothing), ROM images (writes ignored), MMIO windows dispatched by the
//!   board, the A20 gate, and per-page bitmaps of "holds decoded code" and
//!   "dirtied since last scan".
//! * [`paging`]: the page walker (32-bit, PSE, PAE with NX), which sets the
//!   accessed/dirty bits exactly as hardware does and reports #PF error codes.
//! * [`Tlb`]: a per-CPU software TLB whose hit path is a tag compare plus a
//!   host-pointer addend, simple enough for generated code to inline.
//!
//! Every guest access (interpreter, JIT, DMA, devices) goes through here
//! (DESIGN.md invariant 2). This crate holds the only `unsafe` of the memory
//! path: the reads and writes through host pointers into guest RAM and ROM.

mod bitmap;
pub mod paging;
mod phys;
mod ram;
mod tlb;

pub use bitmap::PageBitmap;
pub use paging::{Access, PageFault, PagingRegs, Translation};
pub use phys::{DeviceRamId, Epochs, MapError, PamAttr, PhysMem, Region, RomId, PAM_BASE, PAM_SEGMENT, PAM_SEGMENTS};
pub use ram::GuestRam;
pub use tlb::{perm as tlb_perm, Tlb, TlbEntry, TLB_ENTRIES};

/// Size of a page, the granule of the TLB and of the bitmaps.
pub const PAGE_SIZE: u64 = 4096;
/// Mask selecting the page-aligned part of an address.
pub const PAGE_MASK: u64 = !(PAGE_SIZE - 1);
