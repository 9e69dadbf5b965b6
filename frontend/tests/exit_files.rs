//! `--display`, `--screenshot-on-exit` and `--vga-text-dump` as a user
//! meets them.
//!
//! The guest is `tests/roms/vga_text_kernel.asm`, a Linux-shaped kernel
//! that SeaBIOS boots (`--kernel-entry firmware`) after its VGA BIOS set
//! text mode 3 and SeaBIOS printed its banner: it writes a marker straight
//! into the text screen at 0xB8000 (row 20, yellow on blue), says "marker
//! written" on the debug console, then powers the machine off (or, built
//! with -DWAIT, sleeps until a signal ends ironpc). On QEMU
//! (`qemu-system-i386 -M pc -kernel vga_text_kernel.bin`) the screen shows
//! "SeaBIOS (version ...)", "Booting from ROM..." and the marker on row 20.
//!
//! The tests of what the files hold need the VGA to publish the screen
//! (branch vga-platform); until it is merged they are ignored, and the
//! others check that the files are written however ironpc ends.

use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

const MARKER: &str = "IRONPC-SCREEN-MARKER on the VGA text screen";

fn ironpc() -> Command {
    let mut c = Command::new(env!("CARGO_BIN_EXE_ironpc"));
    // No window, whatever the environment of the test run has.
    c.env_remove("DISPLAY").env_remove("WAYLAND_DISPLAY");
    c
}

fn stderr_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr).lines().map(str::to_owned).collect()
}

/// A fresh path in the target's temporary directory, removed on drop.
struct Temp(PathBuf);
impl Temp {
    fn new(name: &str) -> Self {
        // Tests run in parallel: a number of their own keeps their files apart.
        static N: std::sync::atomic::AtomicU32 = std::sync::atomic::AtomicU32::new(0);
        let n = N.fetch_add(1, std::sync::atomic::Ordering::Relaxed);
        let p = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("exit-files-{}-{n}-{name}", std::process::id()));
        let _ = std::fs::remove_file(&p);
        Self(p)
    }
}
impl Drop for Temp {
    fn drop(&mut self) {
        let _ = std::fs::remove_file(&self.0);
    }
}

fn seabios_found() -> bool {
    let exe = Path::new(env!("CARGO_BIN_EXE_ironpc"));
    let found =
        [exe.parent().unwrap().join("../images/bios.bin"), "/usr/share/seabios/bios.bin".into()].iter().any(|p| p.is_file());
    if !found {
        eprintln!("skipped: SeaBIOS not found (cargo xtask images, or apt-get install seabios)");
    }
    found
}

/// The test kernel, assembled (with -DWAIT when `wait`).
fn kernel(wait: bool) -> Temp {
    let roms = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/roms/");
    let src = roms.join("vga_text_kernel.asm");
    let out = Temp::new(if wait { "kernel-wait.bin" } else { "kernel.bin" });
    let mut nasm = Command::new("nasm");
    nasm.args(["-f", "bin", "-I"]).arg(&roms).arg("-o").arg(&out.0).arg(&src);
    if wait {
        nasm.arg("-DWAIT");
    }
    let o = nasm.output().expect("nasm is needed (apt-get install nasm)");
    assert!(o.status.success(), "nasm: {}", String::from_utf8_lossy(&o.stderr));
    out
}

/// ironpc booting `kernel` through SeaBIOS on the virtual clock, headless,
/// the debug console (0xE9) on stdout, with both exit files asked for.
fn boot(kernel: &Temp, png: &Temp, txt: &Temp) -> Command {
    let mut c = ironpc();
    c.arg("--kernel").arg(&kernel.0).args(["--kernel-entry", "firmware", "--clock", "virtual", "--display", "none"]);
    c.args(["--serial", "none", "--debugcon", "stdio", "--max-instructions", "2000000000"]);
    c.arg("--screenshot-on-exit").arg(&png.0).arg("--vga-text-dump").arg(&txt.0);
    c.stdin(Stdio::null());
    c
}

/// Both files were dealt with: the text dump written (empty, with a
/// reason on stderr, while there is no screen to dump) and the screenshot
/// written or its absence explained.
fn assert_files_written(o: &Output, png: &Temp, txt: &Temp) {
    let lines = stderr_lines(o);
    assert!(txt.0.is_file(), "no text dump; stderr: {lines:?}");
    let dump = std::fs::read_to_string(&txt.0).unwrap();
    if dump.is_empty() {
        assert!(lines.iter().any(|l| l.starts_with("ironpc: --vga-text-dump: ")), "an empty dump says why: {lines:?}");
    }
    if !png.0.is_file() {
        assert!(lines.iter().any(|l| l.starts_with("ironpc: --screenshot-on-exit: ")), "{lines:?}");
    }
}

/// What the files hold once the VGA publishes the screen: SeaBIOS's
/// lines and the marker on row 20 in the dump; a 720x400 text-mode
/// picture with the marker's yellow (0xFFFF55) on blue (0x0000AA) in its
/// row of 16-pixel cells.
fn assert_screen_content(png: &Temp, txt: &Temp) {
    let dump = std::fs::read_to_string(&txt.0).unwrap();
    let rows: Vec<&str> = dump.lines().collect();
    assert!(rows.len() >= 25, "{dump}");
    assert!(rows[0].starts_with("SeaBIOS (version "), "{dump}");
    assert!(rows.iter().any(|r| r.starts_with("Booting from ROM...")), "{dump}");
    assert!(rows[20].starts_with(MARKER), "{dump}");
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png.0).unwrap()));
    let mut reader = decoder.read_info().unwrap();
    let mut buf = vec![0; reader.output_buffer_size().unwrap()];
    let info = reader.next_frame(&mut buf).unwrap();
    assert_eq!((info.width, info.height), (720, 400));
    let px = |x: usize, y: usize| {
        let i = (y * 720 + x) * 3;
        u32::from(buf[i]) << 16 | u32::from(buf[i + 1]) << 8 | u32::from(buf[i + 2])
    };
    let marker_row: Vec<u32> =
        (320..336).flat_map(|y| (0..9 * MARKER.len()).map(move |x| (x, y))).map(|(x, y)| px(x, y)).collect();
    assert!(marker_row.iter().all(|&p| p == 0x00_00AA || p == 0xFF_FF55), "only the marker's two colours");
    assert!(marker_row.contains(&0x00_00AA) && marker_row.contains(&0xFF_FF55));
    assert_eq!(px(719, 399), 0, "black below");
}

fn power_off_run() -> Option<(Output, Temp, Temp)> {
    if !seabios_found() {
        return None;
    }
    let k = kernel(false);
    let (png, txt) = (Temp::new("off.png"), Temp::new("off.txt"));
    let o = boot(&k, &png, &txt).output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "marker written\n");
    assert_eq!(o.status.code(), Some(0), "power-off is status 0; stderr: {:?}", stderr_lines(&o));
    Some((o, png, txt))
}

#[test]
fn the_exit_files_are_written_when_the_guest_powers_off() {
    let Some((o, png, txt)) = power_off_run() else { return };
    assert_files_written(&o, &png, &txt);
}

#[test]
fn the_exit_files_show_the_screen_at_power_off() {
    let Some((o, png, txt)) = power_off_run() else { return };
    assert!(o.stderr.is_empty(), "{:?}", stderr_lines(&o));
    assert_screen_content(&png, &txt);
}

/// The sleeping kernel, ended by SIGTERM once its marker is written.
fn sigterm_run() -> Option<(Output, Temp, Temp)> {
    if !seabios_found() {
        return None;
    }
    let k = kernel(true);
    let (png, txt) = (Temp::new("term.png"), Temp::new("term.txt"));
    let mut child = boot(&k, &png, &txt).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let mut out = child.stdout.take().unwrap();
    let (mut got, mut buf, t0) = (Vec::new(), [0u8; 64], Instant::now());
    while !got.ends_with(b"marker written\n") && t0.elapsed() < Duration::from_secs(60) {
        match out.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    assert_eq!(String::from_utf8_lossy(&got), "marker written\n");
    assert!(Command::new("kill").arg("-TERM").arg(child.id().to_string()).status().unwrap().success());
    let o = child.wait_with_output().unwrap();
    assert_eq!(o.status.code(), Some(143), "128 + SIGTERM; stderr: {:?}", stderr_lines(&o));
    Some((o, png, txt))
}

#[test]
fn the_exit_files_are_written_on_sigterm() {
    let Some((o, png, txt)) = sigterm_run() else { return };
    assert_files_written(&o, &png, &txt);
}

#[test]
fn the_exit_files_show_the_screen_on_sigterm() {
    let Some((o, png, txt)) = sigterm_run() else { return };
    assert!(o.stderr.is_empty(), "{:?}", stderr_lines(&o));
    assert_screen_content(&png, &txt);
}

#[test]
fn the_exit_files_are_written_at_the_instruction_limit() {
    // jmp $ at the reset vector of a 4 KiB ROM: no screen at all.
    let mut rom = vec![0xF4u8; 4096];
    rom[4096 - 16..4096 - 14].copy_from_slice(&[0xEB, 0xFE]);
    let bios = Temp::new("jmp.rom");
    std::fs::write(&bios.0, rom).unwrap();
    let (png, txt) = (Temp::new("limit.png"), Temp::new("limit.txt"));
    std::fs::write(&txt.0, "stale").unwrap();
    let o = ironpc()
        .arg("--bios")
        .arg(&bios.0)
        .args(["--memory", "4M", "--max-instructions", "1000"])
        .arg("--screenshot-on-exit")
        .arg(&png.0)
        .arg("--vga-text-dump")
        .arg(&txt.0)
        .output()
        .unwrap();
    assert_eq!(o.status.code(), Some(3));
    let lines = stderr_lines(&o);
    assert_eq!(lines[0], "ironpc: stopped after 1000 instructions at f000:0000fff0 (--max-instructions)");
    assert_files_written(&o, &png, &txt);
    assert_ne!(std::fs::read_to_string(&txt.0).unwrap(), "stale", "the stale text is gone");
    // Without the VGA (a board that never publishes a screen) both notes.
    if lines.len() > 1 {
        let png_note = format!(
            "ironpc: --screenshot-on-exit: the screen is empty (the guest never set a display mode); {} not written",
            png.0.display()
        );
        let txt_note = format!("ironpc: --vga-text-dump: the guest never set up its screen; {} written empty", txt.0.display());
        assert_eq!(lines[1..], [png_note, txt_note]);
    }
}

#[test]
fn display_sdl_without_a_display_or_sdl_is_one_line() {
    let o = ironpc().args(["--bios", "/nonexistent/bios.bin", "--display", "sdl"]).output().unwrap();
    assert_eq!(o.status.code(), Some(1));
    let lines = stderr_lines(&o);
    assert_eq!(lines.len(), 1, "{lines:?}");
    let want = if cfg!(feature = "sdl") { "no display to open a window on" } else { "built without SDL" };
    assert!(lines[0].starts_with("ironpc: --display sdl: ") && lines[0].contains(want), "{lines:?}");
}

#[test]
fn without_a_display_the_default_is_headless() {
    // cli; hlt: stops at once with its message, no window asked for.
    let mut rom = vec![0xF4u8; 4096];
    rom[4096 - 16..4096 - 14].copy_from_slice(&[0xFA, 0xF4]);
    let bios = Temp::new("hlt.rom");
    std::fs::write(&bios.0, rom).unwrap();
    let o = ironpc().arg("--bios").arg(&bios.0).output().unwrap();
    assert_eq!(o.status.code(), Some(2), "{:?}", stderr_lines(&o));
}
