//! Opening image files: read-only or read-write, locked with flock(2) so
//! that a second ironpc cannot write an image in use (exclusive lock for
//! writers, shared for readers), and format detection by content.
//!
//! The lock is flock(2), tied to this open file description: it ends when
//! the file is closed, also when the process dies. It does not interlock
//! with QEMU, which uses byte-range OFD locks on other offsets.

use crate::{Format, OpenError};
use rustix::fs::{flock, FlockOperation};
use std::fs::File;
use std::io::ErrorKind;
use std::os::unix::fs::FileExt;
use std::path::Path;

/// The qcow2 magic, "QFI\xfb".
pub(crate) const QCOW2_MAGIC: [u8; 4] = *b"QFI\xfb";

pub(crate) fn open_locked(path: &Path, read_only: bool) -> Result<File, OpenError> {
    let name = path.display().to_string();
    let file = std::fs::OpenOptions::new().read(true).write(!read_only).open(path).map_err(|e| {
        let read_only_fs = e.raw_os_error() == Some(rustix::io::Errno::ROFS.raw_os_error());
        if !read_only && (e.kind() == ErrorKind::PermissionDenied || read_only_fs) {
            OpenError::ReadOnlyFile { path: name.clone() }
        } else {
            OpenError::Io { path: name.clone(), source: e }
        }
    })?;
    let op = if read_only { FlockOperation::NonBlockingLockShared } else { FlockOperation::NonBlockingLockExclusive };
    match flock(&file, op) {
        Ok(()) => {}
        Err(rustix::io::Errno::WOULDBLOCK) => return Err(OpenError::Locked { path: name }),
        // Some file systems (old NFS) have no flock: go on unlocked.
        Err(e) => log::warn!("{name}: cannot lock the image ({e}); going on without a lock"),
    }
    Ok(file)
}

/// Detects the format from the first bytes: the qcow2 magic, else raw.
pub(crate) fn detect(file: &File) -> std::io::Result<Format> {
    let mut magic = [0u8; 4];
    let mut got = 0;
    while got < magic.len() {
        match file.read_at(&mut magic[got..], got as u64) {
            Ok(0) => break,
            Ok(n) => got += n,
            Err(e) if e.kind() == ErrorKind::Interrupted => {}
            Err(e) => return Err(e),
        }
    }
    Ok(if got == 4 && magic == QCOW2_MAGIC { Format::Qcow2 } else { Format::Raw })
}
