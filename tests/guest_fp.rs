//! Floating point inside a Linux guest gives the bits the host CPU gives.
//!
//! `tests/guest/fpmath.c` (x87 and SSE2 arithmetic under all rounding
//! modes, libm, conversions; every result printed exactly with `%a`) is
//! built with `gcc -m32 -static` twice: for the x87 and for SSE2. Both run
//! natively on the host and inside Debian's 686 kernel booted in ironpc
//! (the binaries ride in a cpio archive appended to the busybox
//! initramfs), and the two outputs must be identical line for line.

mod common;

use common::{cpio::Cpio, guest, image, Console, Emulator, MARKER, RUN_PARAM};
use std::path::{Path, PathBuf};
use std::process::Command;
use std::time::Duration;

/// The two builds: name in the guest and extra compiler flags.
const BUILDS: &[(&str, &[&str])] = &[("fpmath-x87", &[]), ("fpmath-sse2", &["-msse2", "-mfpmath=sse"])];

/// What the guest prints after the programs.
const END: &str = "fpmath-all-done";

fn compile(name: &str, flags: &[&str]) -> PathBuf {
    let src = Path::new(env!("CARGO_MANIFEST_DIR")).join("tests/guest/fpmath.c");
    let out = Path::new(env!("CARGO_TARGET_TMPDIR")).join(name);
    let status = Command::new("gcc")
        .args(["-m32", "-static", "-O2"])
        .args(flags)
        .arg("-o")
        .arg(&out)
        .arg(&src)
        .arg("-lm")
        .status()
        .expect("run gcc (scripts/setup-debian.sh installs gcc-multilib)");
    assert!(status.success(), "gcc -m32 -static failed for {name}: is gcc-multilib installed?");
    out
}

/// Output lines without the terminal's carriage returns.
fn lines(text: &str) -> Vec<String> {
    text.lines().map(|l| l.trim_end_matches('\r').to_string()).filter(|l| !l.is_empty()).collect()
}

#[test]
fn fp_results_in_a_linux_guest_match_the_host_bit_for_bit() {
    let mut native = String::new();
    let mut extra = Cpio::default();
    extra.dir("bin");
    for (name, flags) in BUILDS {
        let exe = compile(name, flags);
        let out = Command::new(&exe).output().expect("run the program natively");
        assert!(out.status.success(), "{name} failed natively");
        native.push_str(&String::from_utf8_lossy(&out.stdout));
        extra.file(&format!("bin/{name}"), 0o755, &std::fs::read(&exe).unwrap());
    }
    // Linux unpacks every archive of a concatenation in turn; an
    // uncompressed one is found only at a 4-byte boundary (after zeros).
    let mut initrd = std::fs::read(image(guest::INITRAMFS)).unwrap();
    initrd.resize(initrd.len().next_multiple_of(4), 0);
    initrd.extend_from_slice(&extra.finish());
    let initrd_path = Path::new(env!("CARGO_TARGET_TMPDIR")).join("initramfs-fpmath.cpio");
    std::fs::write(&initrd_path, &initrd).unwrap();

    let run = format!("{}; {}; echo {END}", BUILDS[0].0, BUILDS[1].0);
    let append = format!("console=ttyS0 quiet cryptomgr.notests {RUN_PARAM}=\"{run}\"");
    let cmd = common::boot_command(
        Emulator::Ironpc { virtual_clock: true, via_seabios: false },
        &image(guest::KERNEL),
        &initrd_path,
        &append,
    );
    let mut console = Console::spawn(cmd);
    let timeout = common::host_timeout(Duration::from_secs(600));
    console.wait_for(MARKER, timeout).unwrap_or_else(|e| panic!("{e}"));
    let guest = console.wait_for(&format!("\n{END}"), timeout).unwrap_or_else(|e| panic!("{e}"));
    let guest = lines(&guest);
    let native = lines(&native);
    // The guest's text runs from the end of the marker line (an empty
    // rest, dropped) to the end line; before that are the programs' lines.
    let body = &guest[..guest.len() - 1];
    assert_eq!(
        body.len(),
        native.len(),
        "line count: guest {} vs host {}; the guest printed:\n{}",
        body.len(),
        native.len(),
        body.join("\n")
    );
    for (n, (g, h)) in body.iter().zip(&native).enumerate() {
        assert_eq!(g, h, "line {} differs (guest, host)", n + 1);
    }
    eprintln!("{} lines identical; guest run took {:.1?}", native.len(), console.elapsed());
}
