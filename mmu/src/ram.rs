//! Guest RAM: one anonymous private mapping. The host kernel backs pages
//! lazily, so RAM the guest never touches costs nothing.

use memmap2::{MmapMut, MmapOptions};

/// The guest's RAM. Accessed by physical offset; every access is bounds
/// checked except the TLB fast path, which only holds pointers to pages
/// that lie inside this mapping.
pub struct GuestRam {
    map: MmapMut,
    /// Base pointer, taken once so that later accesses through raw pointers
    /// never create references to the mapping's contents.
    base: *mut u8,
}

// SAFETY: `base` points into `map`, which this struct owns; the pointer is
// only a cached address of that owned mapping, so moving the struct to
// another thread moves ownership of the memory with it.
unsafe impl Send for GuestRam {}

impl GuestRam {
    /// Maps `size` bytes of zeroed RAM.
    pub fn new(size: u64) -> std::io::Result<Self> {
        let len =
            usize::try_from(size.max(1)).map_err(|_| std::io::Error::other("RAM size does not fit the host address space"))?;
        let mut map = MmapOptions::new().len(len).map_anon()?;
        let base = map.as_mut_ptr();
        Ok(Self { map, base })
    }

    /// Size in bytes.
    pub fn len(&self) -> u64 {
        self.map.len() as u64
    }

    /// Whether the RAM is empty (never: at least one byte is mapped).
    pub fn is_empty(&self) -> bool {
        self.map.is_empty()
    }

    /// Host address of byte `offset`, for TLB addends. The caller must have
    /// checked `offset < len()`.
    pub(crate) fn host_addr(&self, offset: u64) -> usize {
        debug_assert!(offset < self.len());
        self.base as usize + offset as usize
    }

    /// Copies bytes out of RAM; bytes beyond the end read as 0xFF.
    pub fn read(&self, offset: u64, buf: &mut [u8]) {
        buf.fill(0xFF);
        let (start, n) = self.clip(offset, buf.len());
        // SAFETY: `clip` keeps `start..start + n` inside the mapping owned by
        // `self`, and `buf` is a distinct host buffer.
        unsafe { std::ptr::copy_nonoverlapping(self.base.add(start), buf.as_mut_ptr(), n) };
    }

    /// Copies bytes into RAM; bytes beyond the end are dropped.
    pub fn write(&mut self, offset: u64, data: &[u8]) {
        let (start, n) = self.clip(offset, data.len());
        // SAFETY: as in `read`; writes go through the same base pointer the
        // TLB uses, so no reference to the mapping's contents is created.
        unsafe { std::ptr::copy_nonoverlapping(data.as_ptr(), self.base.add(start), n) };
    }

    /// The whole mapping as bytes (device memory handed to its device).
    pub fn as_slice(&self) -> &[u8] {
        // SAFETY: `base` points to `len()` bytes owned by `self.map`, valid
        // while `self` lives; the shared borrow of `self` keeps writers out
        // (TLB fast writes run only while the CPU holds the `PhysMem`
        // owning this mapping mutably).
        unsafe { std::slice::from_raw_parts(self.base, self.map.len()) }
    }

    /// The whole mapping as mutable bytes.
    pub fn as_mut_slice(&mut self) -> &mut [u8] {
        // SAFETY: as in `as_slice`; the exclusive borrow of `self` makes
        // this the only access for the slice's lifetime.
        unsafe { std::slice::from_raw_parts_mut(self.base, self.map.len()) }
    }

    /// The in-bounds part of `len` bytes at `offset`: (start, count).
    fn clip(&self, offset: u64, len: usize) -> (usize, usize) {
        let size = self.map.len() as u64;
        let start = offset.min(size);
        let end = offset.saturating_add(len as u64).min(size);
        (start as usize, (end - start) as usize)
    }
}
