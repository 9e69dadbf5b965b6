//! What `cargo xtask images` produces and what the boot tests and
//! `cargo xtask bench boot` rely on: the file names in the image cache, the
//! contract of the initramfs's /init, and the CPU ironpc presents as Linux
//! and QEMU name it (so QEMU can be given the same CPUID).
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
/// The PS/2 mouse driver of the kernel above, a module there (package
/// `linux-image-<abi>-686`); tests that need a mouse append it to the
/// initramfs and load it with `insmod`.
pub const PSMOUSE: &str = "psmouse.ko";
/// The busybox initramfs, a gzipped newc cpio.
pub const INITRAMFS: &str = "initramfs.cpio.gz";
/// Storage and file-system modules of the kernel package, in load order
/// (each after what its `depends=` names), put in the initramfs under
/// [`MODULES_DIR`]; /init loads them when the machine has an IDE
/// controller (PCI class 0101).
pub const MODULES: &[&str] = &[
    "crct10dif_common",
    "crct10dif_generic",
    "crc-t10dif",
    "crc64",
    "crc64_rocksoft_generic",
    "crc64-rocksoft",
    "t10-pi",
    "scsi_common",
    "scsi_mod",
    "libata",
    "ata_piix",
    "sd_mod",
    "cdrom",
    "sr_mod",
    "isofs",
    "fat",
    "vfat",
    "nls_cp437",
    "nls_ascii",
    "nls_iso8859-1",
];
/// Where the modules sit in the image cache and in the initramfs.
pub const MODULES_DIR: &str = "modules";

/// An MBR disk (syslinux's mbr.bin) of [`DISK_SIZE`] bytes: partition 1,
/// FAT16 and active, holds syslinux, `vmlinuz`, `initrd.gz` (the
/// initramfs) and `syslinux.cfg`, which boots them with `console=ttyS0`;
/// partition 2, FAT16 labelled [`DATA_LABEL`], holds [`DATA_FILE`] and is
/// the guest's to write.
pub const DISK_RAW: &str = "disk.raw";
/// [`DISK_RAW`] converted to qcow2 version 3 (`compat=1.1`).
pub const DISK_QCOW2: &str = "disk.qcow2";
/// [`DISK_RAW`] converted to qcow2 version 2 (`compat=0.10`).
pub const DISK_QCOW2_V2: &str = "disk-v2.qcow2";
/// An El Torito CD (isolinux) booting the kernel and initramfs with
/// `console=ttyS0`; it also holds [`DATA_FILE`].
pub const BOOT_ISO: &str = "boot.iso";
/// Debian's netboot installer (kernel and initrd of package
/// `debian-installer-12-netboot-i386`) on an isolinux CD, booting with the
/// installer's own parameters (`vga=788`).
pub const INSTALLER_ISO: &str = "installer.iso";
/// The installer's kernel and initrd, as the package ships them.
pub const INSTALLER_KERNEL: &str = "installer-linux";
pub const INSTALLER_INITRD: &str = "installer-initrd.gz";
/// Size of [`DISK_RAW`]: more than the 64 MiB `cargo xtask bench disk` reads.
pub const DISK_SIZE: u64 = 72 << 20;
/// First sector and sector count of the two partitions.
pub const BOOT_PARTITION: (u64, u64) = (2048, 81920);
pub const DATA_PARTITION: (u64, u64) = (83968, (DISK_SIZE >> 9) - 83968);
/// The data partition's volume label.
pub const DATA_LABEL: &str = "IRONDATA";
/// A file on the data partition and on the CDs, and its contents.
pub const DATA_FILE: &str = "hello.txt";
pub const DATA_TEXT: &str = "ironpc disk image: hello\n";

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

/// The CPUID leaf-1 EDX bits ironpc can advertise and the name Linux
/// gives each in /proc/cpuinfo (arch/x86/include/asm/cpufeatures.h), which
/// is also QEMU's `-cpu` property name.
pub const EDX1_FLAGS: &[(u32, &str)] = &[
    (0, "fpu"),
    (1, "vme"),
    (2, "de"),
    (3, "pse"),
    (4, "tsc"),
    (5, "msr"),
    (6, "pae"),
    (8, "cx8"),
    (11, "sep"),
    (12, "mtrr"),
    (13, "pge"),
    (15, "cmov"),
    (16, "pat"),
    (17, "pse36"),
    (19, "clflush"),
    (23, "mmx"),
    (24, "fxsr"),
    (25, "sse"),
    (26, "sse2"),
];

/// What ironpc's CPUID says (cpu/src/cpuid.rs), as Linux would name it.
pub struct CpuModel {
    pub family: u32,
    pub model: u32,
    pub stepping: u32,
    pub brand: String,
    /// Linux's names for the advertised features.
    pub flags: Vec<&'static str>,
}

pub fn ironpc_cpu() -> CpuModel {
    use ironpc::cpu::cpuid::cpuid;
    let eax1 = cpuid(1, 0)[0];
    let edx1 = cpuid(1, 0)[3];
    let mut brand = Vec::new();
    for leaf in 0x8000_0002..=0x8000_0004u32 {
        for r in cpuid(leaf, 0) {
            brand.extend_from_slice(&r.to_le_bytes());
        }
    }
    let brand = String::from_utf8_lossy(&brand).trim_end_matches('\0').trim().to_string();
    let mut flags: Vec<&str> = EDX1_FLAGS.iter().filter(|(bit, _)| edx1 & (1 << bit) != 0).map(|&(_, n)| n).collect();
    if cpuid(0x8000_0001, 0)[3] & (1 << 20) != 0 {
        flags.push("nx");
    }
    CpuModel { family: (eax1 >> 8) & 0xF, model: (eax1 >> 4) & 0xF, stepping: eax1 & 0xF, brand, flags }
}

/// The `-cpu` option that makes QEMU present ironpc's CPUID: the same
/// signature, brand string and feature bits on QEMU's featureless `base`
/// model (level 2 and xlevel 0x80000004, as ironpc answers leaves 0 and
/// 0x80000000).
pub fn qemu_cpu_option(cpu: &CpuModel) -> String {
    let mut s = format!(
        "base,vendor=GenuineIntel,level=2,xlevel=0x80000004,family={},model={},stepping={},model-id={}",
        cpu.family, cpu.model, cpu.stepping, cpu.brand
    );
    for f in &cpu.flags {
        s.push_str(",+");
        s.push_str(f);
    }
    s
}
