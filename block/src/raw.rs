//! Raw images: the file is the disk, byte for byte. Reads and writes are
//! pread/pwrite at the guest's offset; flush is fdatasync.

use crate::file::QCOW2_MAGIC;
use crate::{check_range, BlockDevice, BlockError, OpenError};
use std::fs::File;
use std::io::{Seek, SeekFrom};
use std::os::unix::fs::FileExt;

/// A raw image file.
#[derive(Debug)]
pub struct RawFile {
    file: File,
    name: String,
    size: u64,
    read_only: bool,
    /// The format was detected, not given: refuse guest writes that would
    /// make the file look like qcow2 at the next start (a guest could
    /// otherwise name any host file as its backing file and read it).
    probed: bool,
}

impl RawFile {
    /// Wraps an opened (and locked) file; `name` is for messages.
    pub fn new(mut file: File, read_only: bool, probed: bool, name: String) -> Result<Self, OpenError> {
        // Seeking to the end also sizes block devices, whose metadata says 0.
        let size = file.seek(SeekFrom::End(0)).map_err(|e| OpenError::Io { path: name.clone(), source: e })?;
        Ok(Self { file, name, size, read_only, probed })
    }
}

impl BlockDevice for RawFile {
    fn size(&self) -> u64 {
        self.size
    }

    fn read_only(&self) -> bool {
        self.read_only
    }

    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), BlockError> {
        check_range(offset, buf.len(), self.size)?;
        self.file.read_exact_at(buf, offset)?;
        Ok(())
    }

    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), BlockError> {
        if self.read_only {
            return Err(BlockError::ReadOnly);
        }
        check_range(offset, data.len(), self.size)?;
        if self.probed && offset == 0 && data.starts_with(&QCOW2_MAGIC) {
            return Err(BlockError::Io(std::io::Error::new(
                std::io::ErrorKind::PermissionDenied,
                format!("{}: refusing a write that would turn the detected raw image into qcow2; give format=raw", self.name),
            )));
        }
        self.file.write_all_at(data, offset)?;
        Ok(())
    }

    fn flush(&mut self) -> Result<(), BlockError> {
        if !self.read_only {
            self.file.sync_data()?;
        }
        Ok(())
    }
}

impl Drop for RawFile {
    fn drop(&mut self) {
        if let Err(e) = self.flush() {
            log::error!("{}: flushing at close failed: {e}", self.name);
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::SECTOR;

    pub(crate) fn temp_path(tag: &str) -> std::path::PathBuf {
        use std::sync::atomic::{AtomicU32, Ordering};
        static N: AtomicU32 = AtomicU32::new(0);
        let n = N.fetch_add(1, Ordering::Relaxed);
        std::env::temp_dir().join(format!("ironpc-block-{}-{tag}-{n}", std::process::id()))
    }

    fn raw_with(data: &[u8], read_only: bool) -> (RawFile, std::path::PathBuf) {
        let p = temp_path("raw");
        std::fs::write(&p, data).unwrap();
        let f = std::fs::OpenOptions::new().read(true).write(!read_only).open(&p).unwrap();
        (RawFile::new(f, read_only, true, p.display().to_string()).unwrap(), p)
    }

    #[test]
    fn a_raw_file_reads_and_writes_at_offsets_and_keeps_writes_after_flush() {
        let mut data = vec![0u8; 8 * SECTOR as usize];
        data[1024] = 0x42;
        let (mut d, p) = raw_with(&data, false);
        assert_eq!(d.size(), 8 * SECTOR);
        let mut b = [0u8; 2];
        d.read_at(1023, &mut b).unwrap();
        assert_eq!(b, [0, 0x42]);
        d.write_at(510, &[0x55, 0xAA]).unwrap();
        d.flush().unwrap();
        drop(d);
        let back = std::fs::read(&p).unwrap();
        assert_eq!(&back[510..512], &[0x55, 0xAA]);
        assert_eq!(back.len(), data.len());
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn a_raw_file_refuses_ranges_past_its_end() {
        let (mut d, p) = raw_with(&[0u8; 1024], false);
        let mut b = [0u8; 2];
        assert!(matches!(d.read_at(1023, &mut b), Err(BlockError::OutOfRange { .. })));
        assert!(matches!(d.write_at(u64::MAX - 1, &b), Err(BlockError::OutOfRange { .. })));
        d.read_at(1022, &mut b).unwrap();
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn a_read_only_raw_file_refuses_writes() {
        let (mut d, p) = raw_with(&[7u8; 512], true);
        assert!(d.read_only());
        assert!(matches!(d.write_at(0, &[1]), Err(BlockError::ReadOnly)));
        d.flush().unwrap();
        let mut b = [0u8; 1];
        d.read_at(511, &mut b).unwrap();
        assert_eq!(b, [7]);
        std::fs::remove_file(p).unwrap();
    }

    #[test]
    fn a_probed_raw_image_refuses_to_become_qcow2() {
        let (mut d, p) = raw_with(&[0u8; 512], false);
        assert!(d.write_at(0, b"QFI\xfb\0\0\0\x03").is_err());
        d.write_at(0, b"QFI\xfa").unwrap();
        std::fs::remove_file(p).unwrap();
    }
}
