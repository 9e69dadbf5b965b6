//! The block layer: what a storage controller (IDE, ATAPI, floppy) reads
//! and writes. A [`BlockDevice`] is a host handle, not machine state
//! (DESIGN.md invariant 6): a controller keeps it outside its serialised
//! state and has it re-attached after a restore.
//!
//! Offsets and lengths are in bytes. Controllers address whole sectors;
//! the layer checks ranges so that no guest-chosen offset reaches past the
//! image.
//!
//! Images ([`open`]): raw files ([`raw`]) and qcow2 versions 2 and 3
//! ([`qcow2`], after QEMU's `docs/interop/qcow2.txt`), with backing chains
//! (opened read-only, relative names against the overlay's directory),
//! `snapshot` mode (writes go to a private temporary qcow2 overlay) and
//! flock(2) locks (exclusive for a writer, shared for readers) so that two
//! ironpcs never write one image. The format is detected from the content,
//! never from the file name; a detected raw image refuses guest writes
//! that would give it a qcow2 header (which could name any host file as
//! its backing file at the next start), as QEMU does.
//!
//! Every device flushes when dropped (best effort, errors logged); the
//! machine still calls [`BlockDevice::flush`] at exit to see errors.
//!
//! Why not the `imago` crate (0.2, by a QEMU block maintainer; qcow2 with
//! writes, backing files and compression): its synchronous API is a
//! compile-time mode (`maybe-async` with `is_sync`) that cannot coexist with
//! its default async feature anywhere in the dependency graph, it brings
//! tokio-shaped machinery, `nix`, `parking_lot`, `tracing` and a proc
//! macro for an interface we use synchronously, it takes no file locks, and
//! it is pre-1.0. What ironpc needs is a small, synchronous subset whose
//! crash ordering and behaviour on corrupt files we can state and test
//! against `qemu-img check`; that is this crate.

use std::fmt;
use std::path::{Path, PathBuf};

mod file;
pub mod qcow2;
pub mod raw;

pub use qcow2::create_qcow2;

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

/// An image format.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Format {
    Raw,
    Qcow2,
}

impl fmt::Display for Format {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        f.write_str(match self {
            Format::Raw => "raw",
            Format::Qcow2 => "qcow2",
        })
    }
}

impl std::str::FromStr for Format {
    type Err = String;
    fn from_str(s: &str) -> Result<Self, String> {
        match s {
            "raw" => Ok(Format::Raw),
            "qcow2" => Ok(Format::Qcow2),
            _ => Err(format!("unknown image format {s:?} (known: raw, qcow2)")),
        }
    }
}

/// How [`open`] opens an image.
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct OpenOptions {
    /// Open the file read-only (shared lock) and refuse guest writes.
    pub read_only: bool,
    /// The format the user named; `None` detects it from the content.
    /// `Some(Raw)` on a qcow2 file is allowed (as in QEMU: the guest then
    /// sees the qcow2 bytes); `Some(Qcow2)` on anything else is an error.
    pub format: Option<Format>,
    /// Send every write to a temporary overlay, discarded when the device
    /// is dropped; the image itself is opened read-only (shared lock). The
    /// overlay is a qcow2 file in the temp directory (`$TMPDIR`), unlinked
    /// as soon as it is open, so that guest writes cost disk, not memory,
    /// and nothing is left behind even if ironpc is killed.
    pub snapshot: bool,
}

/// Why an image could not be opened: one line, naming the file.
#[derive(Debug, thiserror::Error)]
pub enum OpenError {
    #[error("{path}: {source}")]
    Io { path: String, source: std::io::Error },
    #[error("{path} is in use by another process (it is locked); close the other user or open it with snapshot=on")]
    Locked { path: String },
    #[error("{path} is read-only; open it with readonly=on (or snapshot=on)")]
    ReadOnlyFile { path: String },
    #[error("{path}: the image is corrupt: {msg}")]
    Corrupt { path: String, msg: String },
    #[error("{path}: unsupported image: {msg}")]
    Unsupported { path: String, msg: String },
    #[error("{path} is a {detected} image, not {requested}")]
    FormatMismatch { path: String, requested: Format, detected: Format },
    #[error("backing file of {path}: {source}")]
    Backing { path: String, source: Box<OpenError> },
}

/// The longest backing chain followed (QEMU has no fixed limit; this one
/// stops loops and absurd chains).
const MAX_CHAIN: usize = 16;

/// Opens the image at `path`: detects its format, takes its lock, opens its
/// backing chain read-only.
pub fn open(path: &Path, opts: &OpenOptions) -> Result<Box<dyn BlockDevice>, OpenError> {
    if opts.snapshot {
        let base = open_image(path, true, opts.format, &mut Vec::new())?;
        if opts.read_only {
            return Ok(base);
        }
        let overlay = qcow2::Qcow2::temporary_overlay(base)
            .map_err(|e| OpenError::Io { path: format!("temporary overlay of {}", path.display()), source: e })?;
        return Ok(Box::new(overlay));
    }
    open_image(path, opts.read_only, opts.format, &mut Vec::new())
}

/// Opens one image of a chain; `chain` holds the canonical paths of the
/// images above it.
fn open_image(
    path: &Path,
    read_only: bool,
    format: Option<Format>,
    chain: &mut Vec<PathBuf>,
) -> Result<Box<dyn BlockDevice>, OpenError> {
    let name = path.display().to_string();
    let file = file::open_locked(path, read_only)?;
    let canonical = std::fs::canonicalize(path).unwrap_or_else(|_| path.to_path_buf());
    if chain.contains(&canonical) || chain.len() >= MAX_CHAIN {
        return Err(OpenError::Corrupt { path: name, msg: "the backing chain loops or is too long".into() });
    }
    chain.push(canonical);
    let detected = file::detect(&file).map_err(|e| OpenError::Io { path: name.clone(), source: e })?;
    match (format, detected) {
        (Some(Format::Qcow2), Format::Raw) => {
            Err(OpenError::FormatMismatch { path: name, requested: Format::Qcow2, detected: Format::Raw })
        }
        (Some(Format::Raw), Format::Qcow2) => {
            log::warn!("{name}: has a qcow2 header but format=raw was given: the guest sees the qcow2 file as a disk");
            Ok(Box::new(raw::RawFile::new(file, read_only, false, name)?))
        }
        (_, Format::Raw) => Ok(Box::new(raw::RawFile::new(file, read_only, format.is_none(), name)?)),
        (_, Format::Qcow2) => {
            let dir = path.parent().unwrap_or(Path::new("."));
            Ok(Box::new(qcow2::Qcow2::open(file, read_only, name, |backing, fmt| {
                let p = dir.join(backing);
                open_image(&p, true, fmt, chain)
            })?))
        }
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

    #[test]
    fn formats_parse_from_their_command_line_names() {
        assert_eq!("raw".parse::<Format>(), Ok(Format::Raw));
        assert_eq!("qcow2".parse::<Format>(), Ok(Format::Qcow2));
        assert_eq!(Format::Qcow2.to_string(), "qcow2");
        assert!("vmdk".parse::<Format>().unwrap_err().contains("raw, qcow2"));
    }
}
