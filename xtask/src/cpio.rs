//! A newc ("070701") cpio writer: the format of Linux initramfs archives
//! (Documentation/driver-api/early-userspace/buffer-format.rst).
//!
//! One source for two users: xtask builds the image cache's initramfs with
//! it, and boot tests build small extra archives (Linux unpacks archives
//! concatenated after the first one over it).
#![allow(dead_code)]

/// A newc ("070701") cpio archive writer. Every entry has owner 0:0 and
/// mtime 0 so the archive is a function of its contents.
#[derive(Default)]
pub struct Cpio {
    out: Vec<u8>,
    inode: u32,
}

const S_IFDIR: u32 = 0o040000;
const S_IFREG: u32 = 0o100000;
const S_IFLNK: u32 = 0o120000;
const S_IFCHR: u32 = 0o020000;
pub const TRAILER: &str = "TRAILER!!!";

impl Cpio {
    pub fn dir(&mut self, name: &str) {
        self.entry(name, S_IFDIR | 0o755, 2, (0, 0), &[]);
    }

    pub fn file(&mut self, name: &str, perm: u32, data: &[u8]) {
        self.entry(name, S_IFREG | perm, 1, (0, 0), data);
    }

    pub fn symlink(&mut self, name: &str, target: &str) {
        self.entry(name, S_IFLNK | 0o777, 1, (0, 0), target.as_bytes());
    }

    pub fn char_device(&mut self, name: &str, perm: u32, major: u32, minor: u32) {
        self.entry(name, S_IFCHR | perm, 1, (major, minor), &[]);
    }

    pub fn finish(mut self) -> Vec<u8> {
        self.inode = 0;
        self.entry(TRAILER, 0, 1, (0, 0), &[]);
        self.out
    }

    fn entry(&mut self, name: &str, mode: u32, nlink: u32, rdev: (u32, u32), data: &[u8]) {
        self.inode += 1;
        let ino = if name == TRAILER { 0 } else { self.inode };
        let namesize = name.len() + 1;
        // ino mode uid gid nlink mtime filesize devmajor devminor
        // rdevmajor rdevminor namesize check
        let fields = [ino, mode, 0, 0, nlink, 0, data.len() as u32, 0, 0, rdev.0, rdev.1, namesize as u32, 0];
        self.out.extend_from_slice(b"070701");
        for f in fields {
            self.out.extend_from_slice(format!("{f:08X}").as_bytes());
        }
        self.out.extend_from_slice(name.as_bytes());
        self.out.push(0);
        self.pad();
        self.out.extend_from_slice(data);
        self.pad();
    }

    /// The header plus name, and the data, each end on a 4-byte boundary.
    fn pad(&mut self) {
        self.out.resize(self.out.len().next_multiple_of(4), 0);
    }
}
