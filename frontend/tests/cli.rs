//! The `ironpc` program as a user meets it: bad input gets one clear line
//! and a non-zero status; a guest's exit request becomes the status.

use std::process::{Command, Output};

fn ironpc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ironpc")).args(args).output().expect("run ironpc")
}

fn stderr_lines(o: &Output) -> Vec<String> {
    String::from_utf8_lossy(&o.stderr).lines().map(str::to_owned).collect()
}

/// A 4 KiB firmware whose reset vector runs `code` (placed at the start of
/// the last 16 bytes; must fit there).
fn rom_with_reset_code(code: &[u8]) -> tempfile_path::TempPath {
    let mut rom = vec![0xF4u8; 4096];
    rom[4096 - 16..4096 - 16 + code.len()].copy_from_slice(code);
    tempfile_path::write(&rom)
}

mod tempfile_path {
    use std::path::PathBuf;
    use std::sync::atomic::{AtomicU32, Ordering};

    /// A file in the target directory, removed on drop.
    pub struct TempPath(pub PathBuf);
    impl Drop for TempPath {
        fn drop(&mut self) {
            let _ = std::fs::remove_file(&self.0);
        }
    }
    impl TempPath {
        pub fn arg(&self) -> &str {
            self.0.to_str().unwrap()
        }
    }
    static N: AtomicU32 = AtomicU32::new(0);
    pub fn write(bytes: &[u8]) -> TempPath {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        let p = dir.join(format!("cli-{}-{}.bin", std::process::id(), N.fetch_add(1, Ordering::Relaxed)));
        std::fs::write(&p, bytes).unwrap();
        TempPath(p)
    }
}

#[test]
fn missing_firmware_is_one_line_naming_the_file() {
    let o = ironpc(&["--bios", "/nonexistent/bios.bin"]);
    assert!(!o.status.success());
    let lines = stderr_lines(&o);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("ironpc: cannot read firmware /nonexistent/bios.bin"), "{lines:?}");
}

#[test]
fn unknown_option_is_one_line() {
    let o = ironpc(&["--bios", "x", "--frobnicate"]);
    assert_eq!(o.status.code(), Some(2));
    let lines = stderr_lines(&o);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("--frobnicate"), "{lines:?}");
}

#[test]
fn firmware_of_a_wrong_size_is_rejected() {
    let f = tempfile_path::write(&[0u8; 1000]);
    let o = ironpc(&["--bios", f.arg()]);
    assert!(!o.status.success());
    let lines = stderr_lines(&o);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("1000 bytes"), "{lines:?}");
}

#[test]
fn debugcon_output_and_debug_exit_status() {
    // mov al,'o'; out 0xe9,al; mov al,'k'; out 0xe9,al; mov al,5; out 0xf4,al
    let rom = rom_with_reset_code(&[0xB0, b'o', 0xE6, 0xE9, 0xB0, b'k', 0xE6, 0xE9, 0xB0, 5, 0xE6, 0xF4]);
    let o = ironpc(&["--bios", rom.arg(), "--memory", "4M", "--display", "none", "--debugcon", "stdio", "--exit-port", "0xf4"]);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "ok");
    assert_eq!(o.status.code(), Some((5 << 1) | 1));
}

#[test]
fn a_halted_cpu_with_nothing_to_wake_it_stops_with_a_message() {
    // cli; hlt
    let rom = rom_with_reset_code(&[0xFA, 0xF4]);
    let o = ironpc(&["--bios", rom.arg()]);
    assert_eq!(o.status.code(), Some(2));
    let lines = stderr_lines(&o);
    assert_eq!(lines, vec!["ironpc: the CPU halted at f000:0000fff2 with nothing to wake it; the machine stopped".to_string()]);
}

#[test]
fn a_runaway_guest_stops_at_the_instruction_limit() {
    // jmp $
    let rom = rom_with_reset_code(&[0xEB, 0xFE]);
    let o = ironpc(&["--bios", rom.arg(), "--max-instructions", "100000"]);
    assert_eq!(o.status.code(), Some(3));
    assert_eq!(
        stderr_lines(&o),
        vec!["ironpc: stopped after 100000 instructions at f000:0000fff0 (--max-instructions)".to_string()]
    );
}

#[test]
fn a_kernel_that_is_not_a_bzimage_is_one_line() {
    let rom = rom_with_reset_code(&[0xF4]);
    let not_kernel = tempfile_path::write(b"\x7fELF this is not a Linux kernel");
    let o = ironpc(&["--bios", rom.arg(), "--kernel", not_kernel.arg()]);
    assert!(!o.status.success());
    let lines = stderr_lines(&o);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].contains("not a Linux bzImage"), "{lines:?}");
}

#[test]
fn a_missing_kernel_or_initrd_is_one_line_naming_the_file() {
    let rom = rom_with_reset_code(&[0xF4]);
    let o = ironpc(&["--bios", rom.arg(), "--kernel", "/nonexistent/vmlinuz"]);
    assert!(!o.status.success());
    assert_eq!(stderr_lines(&o).len(), 1);
    assert!(stderr_lines(&o)[0].starts_with("ironpc: cannot read kernel /nonexistent/vmlinuz"));
    let o = ironpc(&["--bios", rom.arg(), "--kernel", rom.arg(), "--initrd", "/nonexistent/initrd"]);
    assert!(stderr_lines(&o)[0].starts_with("ironpc: cannot read initrd /nonexistent/initrd"), "{:?}", stderr_lines(&o));
}

/// Where the ironpc binary looks for SeaBIOS without --bios.
fn default_bios_paths() -> [std::path::PathBuf; 2] {
    let exe = std::path::Path::new(env!("CARGO_BIN_EXE_ironpc"));
    [exe.parent().unwrap().join("../images/bios.bin"), "/usr/share/seabios/bios.bin".into()]
}

#[test]
fn without_bios_seabios_is_found_or_both_places_are_named() {
    let o = ironpc(&["--max-instructions", "200000", "--debugcon", "stdio", "--debugcon-port", "0x402"]);
    let paths = default_bios_paths();
    if paths.iter().any(|p| p.is_file()) {
        // How far it gets depends on the chipset; it starts, at least.
        assert!(String::from_utf8_lossy(&o.stdout).starts_with("SeaBIOS"), "SeaBIOS's banner on its debug console");
    } else {
        let lines = stderr_lines(&o);
        assert_eq!(lines.len(), 1, "{lines:?}");
        for p in paths {
            assert!(lines[0].contains(&p.display().to_string()), "{lines:?}");
        }
    }
}

#[test]
fn kernel_errors_are_one_line() {
    let rom = rom_with_reset_code(&[0xFA, 0xF4]);
    let not_a_kernel = tempfile_path::write(&[0u8; 4096]);
    // A bzImage-shaped header: boot flag, "HdrS", protocol 2.15, loaded high.
    let mut bz = vec![0u8; 5 * 512 + 1024];
    bz[0x1F1] = 4;
    bz[0x1FE..0x200].copy_from_slice(&[0x55, 0xAA]);
    bz[0x202..0x206].copy_from_slice(b"HdrS");
    bz[0x206..0x208].copy_from_slice(&0x020Fu16.to_le_bytes());
    bz[0x211] = 1;
    bz[0x22C..0x230].copy_from_slice(&0x7FFF_FFFFu32.to_le_bytes());
    bz[0x238..0x23C].copy_from_slice(&255u32.to_le_bytes());
    let kernel = tempfile_path::write(&bz);
    let big_initrd = tempfile_path::write(&vec![0u8; 4 << 20]);
    let cases: [(Vec<&str>, &str); 4] = [
        (vec!["--kernel", "/nonexistent/vmlinuz"], "ironpc: cannot read kernel /nonexistent/vmlinuz"),
        (vec!["--kernel", not_a_kernel.arg()], "not a Linux bzImage"),
        (
            vec!["--kernel", kernel.arg(), "--initrd", big_initrd.arg(), "--memory", "4M"],
            "the initrd (4194304 bytes) does not fit",
        ),
        (vec!["--initrd", big_initrd.arg()], "--kernel"),
    ];
    for ((args, want), entry) in cases.into_iter().flat_map(|c| [(c.clone(), "direct"), (c, "firmware")]) {
        let mut all = vec!["--bios", rom.arg(), "--kernel-entry", entry];
        all.extend(args);
        let o = ironpc(&all);
        assert!(!o.status.success());
        let lines = stderr_lines(&o);
        assert_eq!(lines.len(), 1, "{lines:?}");
        assert!(lines[0].contains(want), "{lines:?} should contain {want:?}");
    }
}

/// `--kernel/--initrd/--append` end to end: SeaBIOS boots the fake kernel
/// of `tests/roms/fakelinux.asm` through fw_cfg and `linuxboot.bin`; it
/// prints what it was handed and exits through isa-debug-exit. Skipped
/// without SeaBIOS.
#[test]
fn kernel_initrd_and_append_boot_through_seabios() {
    if !default_bios_paths().iter().any(|p| p.is_file()) {
        eprintln!("SeaBIOS not found: test skipped");
        return;
    }
    let src = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/roms/fakelinux.asm");
    let out = std::path::Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("fakelinux-cli-{}.bin", std::process::id()));
    let nasm = Command::new("nasm").arg("-f").arg("bin").arg("-o").arg(&out).arg(&src).status().expect("nasm");
    assert!(nasm.success());
    let kernel = tempfile_path::TempPath(out);
    let initrd = tempfile_path::write(b"INITRD-CONTENTS!");
    let o = ironpc(&[
        "--kernel",
        kernel.arg(),
        "--initrd",
        initrd.arg(),
        "--append",
        "console=ttyS0 quiet",
        "--kernel-entry",
        "firmware",
        "--clock",
        "virtual",
        "--debugcon",
        "stdio",
        "--debugcon-port",
        "0x402",
        "--exit-port",
        "0xf4",
        "--max-instructions",
        "400000000",
    ]);
    let text = String::from_utf8_lossy(&o.stdout);
    assert_eq!(o.status.code(), Some(1), "{text}");
    assert!(text.contains("fakelinux: cmdline=console=ttyS0 quiet"), "{text}");
    assert!(text.contains("initrd=INITRD-CONTENTS!"), "{text}");
}
