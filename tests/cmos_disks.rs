//! The CMOS bytes a BIOS setup keeps for the hard disks, as a guest reads
//! them through ports 0x70/0x71: a floppy boot sector
//! (`tests/roms/cmos_disks.asm`) prints them on the debug console with
//! three disks attached (16 MiB and 1 GiB on the primary channel, 8 GiB
//! as the secondary master, all sparse files) and a CD as the secondary
//! slave.
//!
//! The expected bytes are worked out from the rule (16 heads, 63 sectors,
//! type 47 blocks, translation none within 1024 cylinders and LBA beyond);
//! with qemu-system-i386 installed the same floppy and disks run on QEMU,
//! whose board writes these bytes too, and the lines must be equal.

mod common;

use std::path::{Path, PathBuf};
use std::process::{Command, ExitStatus, Stdio};
use std::time::{Duration, Instant};

const SIZES: [u64; 3] = [16 << 20, 1 << 30, 8 << 30];

/// The line the boot sector prints for disks of `SIZES`.
fn expected() -> String {
    let cylinders = |bytes: u64| (bytes / 512 / (16 * 63)).min(16_383) as u16;
    let mut bytes = vec![0xFF, 47, 47];
    for size in &SIZES[..2] {
        let [lo, hi] = cylinders(*size).to_le_bytes();
        bytes.extend([lo, hi, 16, 0xFF, 0xFF, 0xC8, lo, hi, 63]);
    }
    let lba = |size: u64| u8::from(cylinders(size) > 1024);
    bytes.push(lba(SIZES[0]) | lba(SIZES[1]) << 2 | lba(SIZES[2]) << 4);
    bytes.iter().map(|b| format!("{b:02X} ")).collect()
}

/// The floppy, the sparse disks and an empty ISO file in `dir`.
fn media(dir: &Path) -> (PathBuf, [PathBuf; 3], PathBuf) {
    let mut floppy = common::assemble("cmos_disks", &[]);
    floppy.resize(1_474_560, 0);
    let fd = dir.join("fd.img");
    std::fs::write(&fd, floppy).expect("writing the floppy");
    let disks = SIZES.map(|size| {
        let path = dir.join(format!("disk-{size}.img"));
        let f = std::fs::File::create(&path).expect("creating a disk");
        f.set_len(size).expect("sizing a sparse disk");
        path
    });
    let cd = dir.join("cd.iso");
    std::fs::write(&cd, vec![0u8; 2048 * 32]).expect("writing the CD");
    (fd, disks, cd)
}

/// The debug console's last line.
fn last_line(log: &Path) -> String {
    let text = std::fs::read_to_string(log).unwrap_or_default();
    text.lines().last().unwrap_or_default().to_string()
}

#[test]
fn the_hard_disks_are_in_cmos_as_on_qemu() {
    let dir = std::env::temp_dir().join(format!("ironpc-cmos-disks-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let (fd, [a, b, c], cd) = media(&dir);

    let log = dir.join("ironpc.log");
    let status = Command::new(common::ironpc_bin())
        .args(["--display", "none", "--clock", "virtual", "--boot", "a", "--debugcon-port", "0x402", "--exit-port", "0xf4"])
        .arg("--debugcon")
        .arg(format!("file:{}", log.display()))
        .arg("--fda")
        .arg(&fd)
        .args(["--hda".as_ref(), a.as_os_str(), "--hdb".as_ref(), b.as_os_str(), "--hdc".as_ref(), c.as_os_str()])
        .arg("--drive")
        .arg(format!("file={},if=ide,index=3,media=cdrom", cd.display()))
        .args(["--max-instructions", "2000000000"])
        .status()
        .expect("running ironpc");
    assert_eq!(status.code(), Some(1), "isa-debug-exit with 0; the log:\n{}", std::fs::read_to_string(&log).unwrap_or_default());
    let ours = last_line(&log);
    assert_eq!(ours, expected());

    if Command::new("qemu-system-i386").arg("--version").output().is_err() {
        eprintln!("qemu-system-i386 not found: no comparison with QEMU");
    } else {
        let qlog = dir.join("qemu.log");
        let drive =
            |p: &Path, index: u8, media: &str| format!("file={},format=raw,if=ide,index={index},media={media}", p.display());
        let mut qemu = Command::new("qemu-system-i386");
        qemu.args(["-M", "pc", "-nodefaults", "-display", "none", "-boot", "a"])
            .arg("-drive")
            .arg(format!("file={},format=raw,if=floppy,index=0", fd.display()))
            .args(["-drive", &drive(&a, 0, "disk"), "-drive", &drive(&b, 1, "disk"), "-drive", &drive(&c, 2, "disk")])
            .args(["-drive", &drive(&cd, 3, "cdrom")])
            .arg("-debugcon")
            .arg(format!("file:{}", qlog.display()))
            .args(["-global", "isa-debugcon.iobase=0x402", "-device", "isa-debug-exit,iobase=0xf4,iosize=0x04"])
            .stdout(Stdio::null());
        let status = run_bounded(&mut qemu, Duration::from_secs(120));
        assert_eq!(status.code(), Some(1), "QEMU's isa-debug-exit");
        assert_eq!(ours, last_line(&qlog), "ironpc's CMOS against QEMU's");
    }
    let _ = std::fs::remove_dir_all(&dir);
}

/// Runs `cmd`, killing it when it has not exited after `limit` of host
/// time (a reference machine that hangs fails the test instead).
fn run_bounded(cmd: &mut Command, limit: Duration) -> ExitStatus {
    let mut child = cmd.spawn().expect("starting the command");
    let deadline = Instant::now() + limit;
    loop {
        if let Some(status) = child.try_wait().expect("waiting for the command") {
            return status;
        }
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("{cmd:?} did not exit within {limit:?}");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
}
