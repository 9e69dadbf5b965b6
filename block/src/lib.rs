//! The block layer: what a storage controller (IDE, ATAPI, floppy) reads
//! and writes. A [`BlockDevice`] is a host handle, not machine state
//! (DESIGN.md invariant 6): a controller keeps it outside its serialised
//! state and has it re-attached after a restore.
//!
//! Offsets and lengths are in bytes. Controllers address whole sectors;
//! the layer checks ranges so that no guest-chosen offset reaches past the
//! image.

use std::fmt;

/// The sector size of hard disks and floppies (CDs use 2048-byte blocks
/// made of four of these).
pub const SECTOR: u64 = 512;

/// Why a block access failed.
#[derive(Debug, thiserror::Error)]
pub enum BlockError {
    #[error("{0}")]
    Io(#[from] std::io::Error),
    #[error("the image is read-only")]
    ReadOnly,
    #[error("access at byte {offset} of {len} bytes is past the end of the {size}-byte image")]
    OutOfRange { offset: u64, len: u64, size: u64 },
    #[error("the image is corrupt: {0}")]
    Corrupt(String),
}

/// A disk image as the controllers see it: a fixed number of bytes, read
/// and written at any offset inside it.
pub trait BlockDevice: Send + fmt::Debug {
    /// Size of the medium in bytes.
    fn size(&self) -> u64;
    /// Whether writes are refused ([`BlockError::ReadOnly`]).
    fn read_only(&self) -> bool;
    /// Fills `buf` from `offset`; the whole range must lie inside the image.
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError>;
    /// Writes `data` at `offset`; the whole range must lie inside the image.
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BlockError>;
    /// Makes every completed write durable in the image file (the guest's
    /// cache flush, and ironpc's exit).
    fn flush(&mut self) -> Result<(), BlockError>;
}

/// Checks that `len` bytes at `offset` lie inside a `size`-byte image.
pub fn check_range(offset: u64, len: usize, size: u64) -> Result<(), BlockError> {
    let len = len as u64;
    match offset.checked_add(len) {
        Some(end) if end <= size => Ok(()),
        _ => Err(BlockError::OutOfRange { offset, len, size }),
    }
}

/// A medium held in host memory: for tests, and for media built on the fly.
#[derive(Clone, Debug, Default, PartialEq, Eq)]
pub struct MemDisk {
    pub data: Vec<u8>,
    pub read_only: bool,
}

impl MemDisk {
    pub fn new(data: Vec<u8>) -> Self {
        Self { data, read_only: false }
    }
}

impl BlockDevice for MemDisk {
    fn size(&self) -> u64 {
        self.data.len() as u64
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(offset, buf.len(), self.size())?;
        let at = offset as usize;
        buf.copy_from_slice(&self.data[at..at + buf.len()]);
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BlockError> {
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        check_range(offset, data.len(), self.size())?;
        let at = offset as usize;
        self.data[at..at + data.len()].copy_from_slice(data);
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_memory_disk_reads_back_what_was_written_and_refuses_ranges_past_its_end() {
        let mut d = MemDisk::new(vec![0; 4 * SECTOR as usize]);
        d.write_at(510, &[0x55, 0xAA]).unwrap();
        let mut b = [0u8; 2];
        d.read_at(510, &mut b).unwrap();
        assert_eq!(b, [0x55, 0xAA]);
        assert!(matches!(d.read_at(4 * SECTOR - 1, &mut b), Err(BlockError::OutOfRange { .. })));
        assert!(matches!(d.write_at(u64::MAX, &b), Err(BlockError::OutOfRange { .. })));
        d.read_only = true;
        assert!(matches!(d.write_at(0, &b), Err(BlockError::ReadOnly)));
    }
}
