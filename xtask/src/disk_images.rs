//! The disk and CD images of `cargo xtask images`, built from the files
//! the packages provided with Debian's tools, all working on image files
//! (no root, no loop mounts):
//!
//! - `disk.raw`: an MBR (syslinux's `mbr.bin` and a partition table
//!   written here: the "classical MBR" layout, 446 bytes of code, four
//!   16-byte entries at 0x1BE, the 0x55 0xAA signature) with two FAT16
//!   partitions made by `mkfs.vfat --offset`, filled with `mcopy -i
//!   FILE@@OFFSET`, the first made bootable by `syslinux --install
//!   --offset`;
//! - `disk.qcow2` and `disk-v2.qcow2`: `qemu-img convert` of it (qcow2
//!   version 3 and 2);
//! - `boot.iso` and `installer.iso`: El Torito CDs (no-emulation boot of
//!   isolinux, with the boot information table) made by `xorriso -as
//!   mkisofs`.
//!
//! An image is rebuilt when it is missing, differs from its MANIFEST
//! sha256, or when the recipe or an input changed: its MANIFEST version
//! column is a digest of the recipe and its inputs.

use crate::guest;
use crate::images::{file_matches, mkdir, read, run_tool, sha256_hex, write_atomically, Manifest};
use std::path::{Path, PathBuf};
use std::process::Command;

/// Bumped when a recipe changes.
const RECIPE: &str = "disk-images-1";
/// The manifest's package column for images built here.
const BUILT: &str = "built-by-xtask";

/// Files of the host's syslinux packages.
const MBR_BIN: &str = "/usr/lib/syslinux/mbr/mbr.bin";
const ISOLINUX_BIN: &str = "/usr/lib/ISOLINUX/isolinux.bin";
const LDLINUX_C32: &str = "/usr/lib/syslinux/modules/bios/ldlinux.c32";

/// The boot partition's syslinux.cfg: COM1 at 115200 for syslinux itself,
/// the kernel on the serial console by default, on the screen with `vga`.
const SYSLINUX_CFG: &str = "SERIAL 0 115200
DEFAULT serial
PROMPT 0
TIMEOUT 0
LABEL serial
  KERNEL /vmlinuz
  INITRD /initrd.gz
  APPEND console=ttyS0
LABEL vga
  KERNEL /vmlinuz
  INITRD /initrd.gz
  APPEND console=tty0
";

/// The installer CD's isolinux.cfg: the `install` entry of the package's
/// own boot-screens/txt.cfg (`vga=788`: VESA mode 0x314, 800x600 in
/// 16-bit colour, set through the BIOS's VBE before the kernel starts).
const INSTALLER_CFG: &str = "DEFAULT install
PROMPT 0
TIMEOUT 0
LABEL install
  KERNEL /install/vmlinuz
  APPEND vga=788 initrd=/install/initrd.gz --- quiet
";

/// Builds every image whose inputs changed; returns whether any was.
pub fn build(dir: &Path, manifest: &mut Manifest) -> Result<bool, String> {
    check_tools()?;
    let work = crate::workspace_root().join("target/images-work/disk");
    let _ = std::fs::remove_dir_all(&work);
    mkdir(&work)?;
    let mut built = false;
    let host = |p: &str| PathBuf::from(p);
    let img = |f: &str| dir.join(f);

    let disk_inputs = [img(guest::KERNEL), img(guest::INITRAMFS), host(MBR_BIN), host(LDLINUX_C32)];
    built |= step(dir, manifest, guest::DISK_RAW, &disk_inputs, |out| disk(dir, out, &work))?;
    for (name, compat) in [(guest::DISK_QCOW2, "1.1"), (guest::DISK_QCOW2_V2, "0.10")] {
        built |= step(dir, manifest, name, &[img(guest::DISK_RAW)], |out| {
            let mut c = Command::new("qemu-img");
            c.args(["convert", "-f", "raw", "-O", "qcow2", "-o", &format!("compat={compat}")]);
            run_tool(c.arg(img(guest::DISK_RAW)).arg(out), "qemu-img convert").map(|_| ())
        })?;
    }
    let iso_inputs = [img(guest::KERNEL), img(guest::INITRAMFS), host(ISOLINUX_BIN), host(LDLINUX_C32)];
    built |= step(dir, manifest, guest::BOOT_ISO, &iso_inputs, |out| {
        let root = work.join("boot-iso");
        let cfg = SYSLINUX_CFG.replace("/vmlinuz", "/boot/vmlinuz").replace("/initrd.gz", "/boot/initrd.gz");
        put(&root.join("boot/vmlinuz"), &read(&img(guest::KERNEL))?)?;
        put(&root.join("boot/initrd.gz"), &read(&img(guest::INITRAMFS))?)?;
        put(&root.join(guest::DATA_FILE), guest::DATA_TEXT.as_bytes())?;
        iso(&root, &cfg, "IRONPC_BOOT", out)
    })?;
    let installer_inputs = [img(guest::INSTALLER_KERNEL), img(guest::INSTALLER_INITRD), host(ISOLINUX_BIN), host(LDLINUX_C32)];
    built |= step(dir, manifest, guest::INSTALLER_ISO, &installer_inputs, |out| {
        let root = work.join("installer-iso");
        put(&root.join("install/vmlinuz"), &read(&img(guest::INSTALLER_KERNEL))?)?;
        put(&root.join("install/initrd.gz"), &read(&img(guest::INSTALLER_INITRD))?)?;
        iso(&root, INSTALLER_CFG, "DEBIAN_NETINST", out)
    })?;
    let _ = std::fs::remove_dir_all(&work);
    Ok(built)
}

/// Builds `name` with `make` (into a temporary path, renamed when done)
/// unless MANIFEST shows it built from the same recipe and inputs.
fn step(
    dir: &Path,
    manifest: &mut Manifest,
    name: &str,
    inputs: &[PathBuf],
    make: impl FnOnce(&Path) -> Result<(), String>,
) -> Result<bool, String> {
    let mut key = format!("{RECIPE} {name}");
    for input in inputs {
        key.push_str(&format!(" {}", sha256_hex(&read(input)?)));
    }
    let key = format!("inputs-{}", &sha256_hex(key.as_bytes())[..16]);
    let path = dir.join(name);
    if manifest.version_or_empty(name) == key && manifest.sha_of(name).is_some_and(|sha| file_matches(&path, sha)) {
        return Ok(false);
    }
    let tmp = path.with_extension("partial");
    let _ = std::fs::remove_file(&tmp);
    make(&tmp)?;
    std::fs::rename(&tmp, &path).map_err(|e| format!("images: cannot write {}: {e}", path.display()))?;
    let size = std::fs::metadata(&path).map(|m| m.len()).unwrap_or(0);
    manifest.set(name, &sha256_hex(&read(&path)?), BUILT, &key);
    println!("images: {name} built ({size} bytes)");
    Ok(true)
}

/// The tools and host files the images need (scripts/setup-debian.sh).
fn check_tools() -> Result<(), String> {
    for (tool, package) in [
        ("qemu-img", "qemu-utils"),
        ("mkfs.vfat", "dosfstools"),
        ("mcopy", "mtools"),
        ("syslinux", "syslinux"),
        ("xorriso", "xorriso"),
    ] {
        if Command::new(tool).arg("--version").output().is_err() && Command::new(tool).arg("--help").output().is_err() {
            return Err(format!("images: `{tool}` not found (package {package}): run scripts/setup-debian.sh"));
        }
    }
    for (file, package) in [(MBR_BIN, "syslinux-common"), (LDLINUX_C32, "syslinux-common"), (ISOLINUX_BIN, "isolinux")] {
        if !Path::new(file).is_file() {
            return Err(format!("images: {file} not found (package {package}): run scripts/setup-debian.sh"));
        }
    }
    Ok(())
}

/// `disk.raw` into `out`.
fn disk(dir: &Path, out: &Path, work: &Path) -> Result<(), String> {
    let file = std::fs::File::create(out).map_err(|e| format!("images: cannot create {}: {e}", out.display()))?;
    file.set_len(guest::DISK_SIZE).map_err(|e| format!("images: cannot size {}: {e}", out.display()))?;
    drop(file);
    let mbr_code = read(Path::new(MBR_BIN))?;
    let sector0 = mbr(&mbr_code, &[(true, guest::BOOT_PARTITION), (false, guest::DATA_PARTITION)])?;
    write_at(out, 0, &sector0)?;
    for ((start, sectors), label, id) in
        [(guest::BOOT_PARTITION, "IRONPC", "1c0a0001"), (guest::DATA_PARTITION, guest::DATA_LABEL, "1c0a0002")]
    {
        let mut c = Command::new("mkfs.vfat");
        c.args(["-F", "16", "-n", label, "-i", id, &format!("--offset={start}"), "-h", &start.to_string()]);
        // The size in KiB.
        run_tool(c.arg(out).arg((sectors / 2).to_string()), "mkfs.vfat")?;
    }
    let boot = format!("{}@@{}", out.display(), guest::BOOT_PARTITION.0 * 512);
    let data = format!("{}@@{}", out.display(), guest::DATA_PARTITION.0 * 512);
    let cfg = work.join("syslinux.cfg");
    put(&cfg, SYSLINUX_CFG.as_bytes())?;
    let hello = work.join(guest::DATA_FILE);
    put(&hello, guest::DATA_TEXT.as_bytes())?;
    for (image, src, name) in [
        (&boot, dir.join(guest::KERNEL), "vmlinuz"),
        (&boot, dir.join(guest::INITRAMFS), "initrd.gz"),
        (&boot, cfg, "syslinux.cfg"),
        (&data, hello, guest::DATA_FILE),
    ] {
        let mut c = Command::new("mcopy");
        run_tool(c.args(["-i", image]).arg(&src).arg(format!("::{name}")).env("MTOOLS_SKIP_CHECK", "1"), "mcopy")?;
    }
    let offset = (guest::BOOT_PARTITION.0 * 512).to_string();
    run_tool(Command::new("syslinux").args(["--install", "--offset", &offset]).arg(out), "syslinux --install")?;
    Ok(())
}

/// An MBR: `code` (the boot code, its first 440 bytes), no disk signature,
/// and one primary partition entry per `(active, (first sector, sectors))`,
/// of type 0x06 (FAT16 of 32 MiB or more).
pub fn mbr(code: &[u8], partitions: &[(bool, (u64, u64))]) -> Result<[u8; 512], String> {
    let mut s = [0u8; 512];
    let code = code.get(..440).ok_or("images: mbr.bin is shorter than 440 bytes")?;
    s[..440].copy_from_slice(code);
    for (i, &(active, (start, sectors))) in partitions.iter().enumerate().take(4) {
        let (start32, sectors32) = (u32::try_from(start), u32::try_from(sectors));
        let (Ok(start32), Ok(sectors32)) = (start32, sectors32) else {
            return Err("images: a partition beyond 2 TiB".into());
        };
        let e = &mut s[0x1BE + 16 * i..0x1BE + 16 * (i + 1)];
        e[0] = if active { 0x80 } else { 0 };
        e[1..4].copy_from_slice(&chs(start));
        e[4] = 0x06;
        e[5..8].copy_from_slice(&chs(start + sectors - 1));
        e[8..12].copy_from_slice(&start32.to_le_bytes());
        e[12..16].copy_from_slice(&sectors32.to_le_bytes());
    }
    s[510] = 0x55;
    s[511] = 0xAA;
    Ok(s)
}

/// A partition entry's CHS address of `lba` (head, sector | cylinder bits
/// 8-9 << 6, cylinder bits 0-7) in the 16-head, 63-sector geometry SeaBIOS
/// and Linux assume for a small disk; past cylinder 1023, the 1023/254/63
/// "use LBA" marker.
fn chs(lba: u64) -> [u8; 3] {
    let (cylinder, head, sector) = (lba / (16 * 63), (lba / 63) % 16, lba % 63 + 1);
    if cylinder > 1023 {
        return [0xFE, 0xFF, 0xFF];
    }
    [head as u8, sector as u8 | ((cylinder >> 2) & 0xC0) as u8, cylinder as u8]
}

/// An isolinux CD of the tree at `root` with `cfg` as its isolinux.cfg.
fn iso(root: &Path, cfg: &str, volume: &str, out: &Path) -> Result<(), String> {
    put(&root.join("isolinux/isolinux.bin"), &read(Path::new(ISOLINUX_BIN))?)?;
    put(&root.join("isolinux/ldlinux.c32"), &read(Path::new(LDLINUX_C32))?)?;
    put(&root.join("isolinux/isolinux.cfg"), cfg.as_bytes())?;
    let mut c = Command::new("xorriso");
    c.args(["-as", "mkisofs", "-quiet", "-R", "-J", "-V", volume, "-o"]).arg(out);
    c.args(["-b", "isolinux/isolinux.bin", "-c", "isolinux/boot.cat"]);
    c.args(["-no-emul-boot", "-boot-load-size", "4", "-boot-info-table"]).arg(root);
    run_tool(&mut c, "xorriso").map(|_| ())
}

fn put(path: &Path, bytes: &[u8]) -> Result<(), String> {
    if let Some(parent) = path.parent() {
        mkdir(parent)?;
    }
    write_atomically(path, bytes)
}

fn write_at(path: &Path, offset: u64, bytes: &[u8]) -> Result<(), String> {
    use std::io::{Seek, SeekFrom, Write};
    let mut f = std::fs::OpenOptions::new().write(true).open(path).map_err(|e| format!("images: {}: {e}", path.display()))?;
    f.seek(SeekFrom::Start(offset))
        .and_then(|_| f.write_all(bytes))
        .map_err(|e| format!("images: cannot write {}: {e}", path.display()))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn mbr_entries_follow_the_classical_layout() {
        let code = [0xEBu8; 446];
        let s = mbr(&code, &[(true, (2048, 81920)), (false, (83968, 63488))]).unwrap();
        assert_eq!(&s[..440], &code[..440]);
        assert_eq!(&s[440..446], &[0; 6], "no disk signature");
        // Entry 1 at 0x1BE: active, type 6, LBA 2048 = C/H/S 2/0/33
        // (2048 = 2 * 1008 + 0 * 63 + 32), 81920 sectors.
        assert_eq!(s[0x1BE], 0x80);
        assert_eq!(&s[0x1BF..0x1C2], &[0, 33, 2]);
        assert_eq!(s[0x1C2], 6);
        assert_eq!(&s[0x1C6..0x1CA], &2048u32.to_le_bytes());
        assert_eq!(&s[0x1CA..0x1CE], &81920u32.to_le_bytes());
        // Entry 2 at 0x1CE, inactive; entries 3 and 4 empty.
        assert_eq!(s[0x1CE], 0);
        assert_eq!(&s[0x1D6..0x1DA], &83968u32.to_le_bytes());
        assert!(s[0x1DE..0x1FE].iter().all(|&b| b == 0));
        assert_eq!(&s[510..], &[0x55, 0xAA]);
    }

    #[test]
    fn chs_packs_cylinder_bits_8_and_9_above_the_sector() {
        // 1023 * 1008 = cylinder 1023, head 0, sector 1.
        assert_eq!(chs(1023 * 1008), [0, 1 | 0xC0, 0xFF]);
        assert_eq!(chs(1024 * 1008), [0xFE, 0xFF, 0xFF]);
        assert_eq!(chs(0), [0, 1, 0]);
    }

    #[test]
    fn the_partitions_fit_the_disk() {
        let (b, d) = (guest::BOOT_PARTITION, guest::DATA_PARTITION);
        assert_eq!(b.0 + b.1, d.0);
        assert_eq!((d.0 + d.1) * 512, guest::DISK_SIZE);
        const { assert!(guest::DISK_SIZE > 64 << 20) };
    }
}
