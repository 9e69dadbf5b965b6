//! Booting the images of `cargo xtask images` from ironpc's IDE drives,
//! through the `ironpc` binary on the virtual clock: SeaBIOS boots the MBR
//! of `disk.raw` / `disk.qcow2`, syslinux loads Debian's 686 kernel and the
//! initramfs (which loads the ATA, SCSI disk/CD and FAT/ISO 9660 modules
//! when it finds the PIIX IDE function), and the shell on COM1 mounts the
//! data partition, writes, syncs and powers off. The tests then look at
//! the image with the host's tools (mtools, qemu-img) or boot it again.
//!
//! Every test works on a copy of the image in a temporary directory.
//!
//! In QEMU (`qemu-system-i386 -m 256 -hda target/images/disk.raw -serial
//! stdio -display none`) the same boot prints "SYSLINUX 6.04 ...",
//! "Loading /vmlinuz... ok", "Loading /initrd.gz...ok", the kernel log with
//! `sd 0:0:0:0: [sda] 147456 512-byte logical blocks`, then the initramfs
//! marker and the shell prompt; the same commands give the same answers.

mod common;

use common::{guest, image, Console, MARKER, PROMPT};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

fn timeout() -> Duration {
    common::host_timeout(Duration::from_secs(1800))
}

/// A fresh directory for one test's copies.
fn temp_dir(name: &str) -> PathBuf {
    let d = std::env::temp_dir().join(format!("ironpc-disk-boot-{name}-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&d);
    std::fs::create_dir_all(&d).expect("temp dir");
    d
}

/// A copy of a cached image in `dir`.
fn copy_of(name: &str, dir: &Path) -> PathBuf {
    let to = dir.join(name);
    std::fs::copy(image(name), &to).expect("copying the image");
    to
}

fn have(tool: &str) -> bool {
    let ok = Command::new(tool).arg("--version").output().is_ok();
    if !ok {
        eprintln!("{tool} not found (scripts/setup-debian.sh): test skipped");
    }
    ok
}

/// Runs `test` on a fresh copy of the cached image `name`, in a directory
/// of the test's own (`label`) that is removed afterwards; skipped when a
/// host tool of `tools` is missing.
fn on_a_copy_of(name: &str, label: &str, tools: &[&str], test: impl FnOnce(&Path)) {
    if !tools.iter().all(|t| have(t)) {
        return;
    }
    let dir = temp_dir(label);
    test(&copy_of(name, &dir));
    let _ = std::fs::remove_dir_all(&dir);
}

/// `ironpc` with 256 MiB, COM1 on the pipes, the virtual clock, and `args`
/// (the drives).
fn ironpc(args: &[&str]) -> Command {
    let mut c = Command::new(common::ironpc_bin());
    c.args(["--memory", "256M", "--display", "none", "--serial", "stdio", "--clock", "virtual"]);
    c.args(args);
    c
}

/// Boots to the shell prompt, ready for a command.
fn boot(args: &[&str]) -> Console {
    let mut console = Console::spawn(ironpc(args));
    let t = timeout();
    console.wait_for(MARKER, t).unwrap_or_else(|e| panic!("{e}"));
    console.wait_for(PROMPT, t).unwrap_or_else(|e| panic!("{e}"));
    // The shell's first read may swallow what comes with its cursor
    // query's answer: an empty line first.
    console.type_line("");
    console.wait_for(PROMPT, t).unwrap_or_else(|e| panic!("{e}"));
    console
}

/// Types `cmd; echo END-n` and returns what it printed up to END-n.
fn run(console: &mut Console, cmd: &str, n: u32) -> String {
    console.type_line(&format!("{cmd}; echo END-$((40+{n}))"));
    let end = format!("END-{}", 40 + n);
    // The echo of the typed line shows `END-$((40+n))`; the output, the sum.
    let out = console.wait_for(&format!("\n{end}"), timeout()).unwrap_or_else(|e| panic!("{e}"));
    console.wait_for(PROMPT, timeout()).unwrap_or_else(|e| panic!("{e}"));
    out
}

/// Mounts the data partition and prints `new.txt` from it.
fn read_back(console: &mut Console) -> String {
    run(console, "mount -t vfat /dev/sda2 /mnt && cat /mnt/new.txt && umount /mnt", 3)
}

/// Mounts the data partition, reads the file the image was built with,
/// writes `text` to `new.txt`, syncs and unmounts.
fn write_to_data_partition(console: &mut Console, text: &str) {
    let out = run(console, &format!("mount -t vfat /dev/sda2 /mnt && cat /mnt/{}", guest::DATA_FILE), 1);
    assert!(out.contains(guest::DATA_TEXT.trim_end()), "the data partition's file:\n{out}");
    let out = run(console, &format!("echo {text} > /mnt/new.txt && sync && umount /mnt && echo wrote-ok"), 2);
    assert!(out.contains("\nwrote-ok"), "writing:\n{out}");
}

fn power_off(mut console: Console) {
    console.type_line("poweroff -f");
    let status = console.wait_exit(timeout()).unwrap_or_else(|e| panic!("{e}"));
    assert_eq!(status.code(), Some(0), "power-off status; the console printed:\n{}", console.tail());
}

/// `new.txt` on the data partition of a raw image, read by mtools.
fn data_file_on_host(raw: &Path, name: &str) -> Option<String> {
    let at = format!("{}@@{}", raw.display(), guest::DATA_PARTITION.0 * 512);
    let out = Command::new("mtype").args(["-i", &at, &format!("::{name}")]).env("MTOOLS_SKIP_CHECK", "1").output().ok()?;
    out.status.success().then(|| String::from_utf8_lossy(&out.stdout).into_owned())
}

fn sha(path: &Path) -> Vec<u8> {
    use std::hash::{DefaultHasher, Hasher};
    let bytes = std::fs::read(path).expect("reading the image");
    let mut h = DefaultHasher::new();
    h.write(&bytes);
    h.finish().to_le_bytes().to_vec()
}

#[test]
fn raw_disk_boots_through_syslinux_and_a_write_survives_power_off_and_a_second_boot() {
    on_a_copy_of(guest::DISK_RAW, "raw", &["mtype"], |disk| {
        let mut console = boot(&["--hda", disk.to_str().unwrap()]);
        assert!(console.transcript.contains("SYSLINUX 6."), "syslinux's banner:\n{}", console.tail());
        assert!(console.transcript.contains("[sda] 147456 512-byte logical blocks"), "the disk in Linux:\n{}", console.tail());
        write_to_data_partition(&mut console, "written-by-ironpc");
        power_off(console);
        assert_eq!(data_file_on_host(disk, "new.txt").as_deref(), Some("written-by-ironpc\n"));

        let mut console = boot(&["--hda", disk.to_str().unwrap()]);
        let out = read_back(&mut console);
        assert!(out.contains("\nwritten-by-ironpc"), "second boot:\n{out}");
        power_off(console);
    });
}

#[test]
fn qcow2_disk_boots_and_stays_consistent_after_writes() {
    on_a_copy_of(guest::DISK_QCOW2, "qcow2", &["qemu-img", "mtype"], |disk| {
        let mut console = boot(&["--drive", &format!("file={},format=qcow2", disk.display())]);
        write_to_data_partition(&mut console, "qcow2-write");
        power_off(console);
        assert_eq!(qcow2_file_on_host(disk, "new.txt").as_deref(), Some("qcow2-write\n"));
    });
}

/// `qemu-img check` finds no errors in the qcow2 image, and QEMU's
/// conversion to raw shows `name` on the data partition.
fn qcow2_file_on_host(disk: &Path, name: &str) -> Option<String> {
    let check = Command::new("qemu-img").args(["check", "-f", "qcow2"]).arg(disk).output().expect("qemu-img check");
    let report = String::from_utf8_lossy(&check.stdout);
    assert!(check.status.success(), "qemu-img check:\n{report}{}", String::from_utf8_lossy(&check.stderr));
    assert!(report.contains("No errors were found"), "{report}");
    let raw = disk.with_extension("converted.raw");
    let conv = Command::new("qemu-img").args(["convert", "-f", "qcow2", "-O", "raw"]).arg(disk).arg(&raw).status();
    assert!(conv.expect("qemu-img convert").success());
    data_file_on_host(&raw, name)
}

#[test]
fn snapshot_leaves_the_image_byte_identical() {
    on_a_copy_of(guest::DISK_QCOW2_V2, "snapshot", &[], |disk| {
        let before = sha(disk);
        let mut console = boot(&["--snapshot", "--hda", disk.to_str().unwrap()]);
        write_to_data_partition(&mut console, "snapshot-write");
        let out = read_back(&mut console);
        assert!(out.contains("\nsnapshot-write"), "the guest reads its own write back:\n{out}");
        power_off(console);
        assert_eq!(sha(disk), before, "--snapshot changed the image");
    });
}

#[test]
fn a_sigterm_run_keeps_the_writes_it_synced() {
    on_a_copy_of(guest::DISK_RAW, "sigterm", &["mtype"], |disk| {
        write_then_signal(&["--hda", disk.to_str().unwrap()], "TERM", "before-sigterm");
        assert_eq!(data_file_on_host(disk, "new.txt").as_deref(), Some("before-sigterm\n"));
    });
}

#[test]
fn a_sigint_run_leaves_a_consistent_qcow2_with_the_writes_it_synced() {
    on_a_copy_of(guest::DISK_QCOW2, "sigint", &["qemu-img", "mtype"], |disk| {
        write_then_signal(&["--hda", disk.to_str().unwrap()], "INT", "before-sigint");
        assert_eq!(qcow2_file_on_host(disk, "new.txt").as_deref(), Some("before-sigint\n"));
    });
}

/// Boots, writes `text` to `new.txt` on the mounted data partition and
/// syncs (the guest's writes have reached the disk controller), then ends
/// ironpc with `signal`: it exits with 128 + the signal's number.
fn write_then_signal(args: &[&str], signal: &str, text: &str) {
    let mut console = boot(args);
    let out = run(&mut console, &format!("mount -t vfat /dev/sda2 /mnt && echo {text} > /mnt/new.txt && sync && echo synced"), 1);
    assert!(out.contains("\nsynced"), "{out}");
    console.signal(signal);
    let status = console.wait_exit(timeout()).unwrap_or_else(|e| panic!("{e}"));
    let expected = match signal {
        "INT" => 130,
        "TERM" => 143,
        _ => unreachable!("a signal this test knows"),
    };
    assert_eq!(status.code(), Some(expected), "SIG{signal}'s status; the console printed:\n{}", console.tail());
}

#[test]
fn iso_boots_from_the_cd_and_linux_mounts_it() {
    let iso = image(guest::BOOT_ISO);
    let mut console = boot(&["--cdrom", iso.to_str().unwrap(), "--boot", "d"]);
    assert!(console.transcript.contains("ISOLINUX 6."), "isolinux's banner:\n{}", console.tail());
    let out = run(&mut console, &format!("mount -t iso9660 /dev/sr0 /mnt && cat /mnt/{}", guest::DATA_FILE), 1);
    assert!(out.contains(guest::DATA_TEXT.trim_end()), "the CD's file:\n{out}");
    power_off(console);
}

/// Debian's netboot installer from the CD reaches its language selection
/// on the framebuffer. As in QEMU (`-m 512 -cdrom installer.iso -boot d`),
/// the bochs DRM driver takes the monitor's preferred 1280x800 from the
/// EDID and the installer's newt dialog "[!!] Select a language" comes up
/// (about 12 G instructions).
#[test]
fn debian_installer_reaches_its_language_selection() {
    use ironpc::{Config, IdeDrive, Machine};
    let Some(bios) = common::seabios() else { return };
    let cd = ironpc::block::open(
        &image(guest::INSTALLER_ISO),
        &ironpc::block::OpenOptions { read_only: true, format: None, snapshot: false },
    )
    .expect("the installer CD");
    let config = Config {
        ide: [None, None, Some(IdeDrive::Cdrom(Some(cd))), None],
        vga_bios: Some(std::fs::read(image(guest::VGABIOS)).expect("the VGA BIOS")),
        ..Config::new(512 << 20, bios)
    };
    let mut m = Machine::new(config).expect("a machine");
    m.board.set_cmos_boot_order(ironpc::bios::fw_cfg::cmos_boot_order("d").unwrap());
    let shot = std::env::temp_dir().join("ironpc-installer.png");
    for step in 1..=800u64 {
        let next = m.cpu.icount + 50_000_000;
        if m.run(Some(next)) != ironpc::Exit::InstructionLimit {
            break;
        }
        m.refresh_screen();
        let f = m.board.screen.frame();
        if step % 40 == 0 {
            // Where a slow or stuck run is: the mode, and the screen so far.
            eprintln!("{} G instructions: {}x{}", m.cpu.icount / 1_000_000_000, f.width, f.height);
            let _ = ironpc::display::write_png(&f, &shot);
        }
        if shows_the_language_selection(&f) {
            let _ = ironpc::display::write_png(&f, &shot);
            eprintln!("the installer's language selection: {}", shot.display());
            return;
        }
    }
    m.refresh_screen();
    let _ = ironpc::display::write_png(&m.board.screen.frame(), &shot);
    panic!("no language selection on the screen; the last screen is in {}", shot.display());
}

/// The newt dialog at 1280x800 in the Linux console's colours: the blue
/// (0,0,170) background, the grey (170,170,170) dialog, its title "[!!]
/// Select a language" in red (170,0,0) letters on grey, and the list's
/// highlighted row ("English", the default) a red bar with grey letters.
fn shows_the_language_selection(f: &ironpc::display::Frame) -> bool {
    const BLUE: u32 = 0x0000AA;
    const GREY: u32 = 0xAAAAAA;
    const RED: u32 = 0xAA0000;
    if (f.width, f.height) != (1280, 800) {
        return false;
    }
    let px = |x: usize, y: usize| f.pixels[y * 1280 + x];
    let count = |xs: std::ops::Range<usize>, ys: std::ops::Range<usize>, colour: u32| {
        ys.flat_map(|y| xs.clone().map(move |x| (x, y))).filter(|&(x, y)| px(x, y) == colour).count()
    };
    let title_letters = count(560..720, 16..32, RED);
    let highlight = count(448..808, 352..368, RED);
    let highlight_letters = count(448..808, 352..368, GREY);
    px(5, 5) == BLUE && px(300, 300) == GREY && title_letters > 100 && highlight > 3000 && highlight_letters > 100
}
