//! What `cargo xtask images` produces and what the boot tests rely on: the
//! file names in the image cache and the contract of the initramfs's /init.
//!
//! One source for both sides: xtask compiles it as a module, the root
//! crate's tests include it with `#[path]`.
#![allow(dead_code)]

/// The image cache, relative to the workspace root.
pub const IMAGES_DIR: &str = "target/images";

/// SeaBIOS, 128 KiB (package `seabios`).
pub const BIOS: &str = "bios.bin";
/// The PCI standard VGA's option ROM (package `seabios`).
pub const VGABIOS: &str = "vgabios-stdvga.bin";
/// Debian's i386 686 kernel, a bzImage (package `linux-image-<abi>-686`).
pub const KERNEL: &str = "vmlinuz-686";
/// Static i386 busybox (package `busybox-static`).
pub const BUSYBOX: &str = "busybox-i386";
/// memtest86+'s 32-bit image, bootable by the Linux boot protocol.
pub const MEMTEST: &str = "memtest86+.bin";
/// The busybox initramfs, a gzipped newc cpio.
pub const INITRAMFS: &str = "initramfs.cpio.gz";
/// Package versions and sha256 of every file above, one line each:
/// `FILE SHA256 PACKAGE VERSION`.
pub const MANIFEST: &str = "MANIFEST";

/// The line /init prints once /proc, /sys and /dev are mounted, before it
/// runs the commands from the kernel command line.
pub const MARKER: &str = "ironpc-initramfs: ready";

/// The kernel command-line parameter whose value /init runs with `sh -c`
/// semantics (`eval`) before offering the shell. The kernel hands an
/// unknown `name=value` parameter to init in its environment; quote the
/// value with double quotes to keep spaces (`ironpc_run="echo a; echo b"`):
/// the kernel strips the quotes. The value cannot contain a double quote.
pub const RUN_PARAM: &str = "ironpc_run";

/// The shell prompt on the console.
pub const PROMPT: &str = "ironpc# ";
