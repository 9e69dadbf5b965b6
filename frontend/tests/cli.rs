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
    assert_eq!(stderr_lines(&o), vec!["ironpc: stopped after 100000 instructions (--max-instructions)".to_string()]);
}

/// ACPI soft-off ends the program with status 0 and nothing on stderr:
/// the ROM enables the PIIX4 PM block (PMREGMISC = 1, PMBA still 0) and
/// writes SLP_TYP 0 with SLP_EN to PM1a_CNT (port 4).
#[test]
fn acpi_power_off_exits_with_status_0() {
    let code = [
        0x66, 0xB8, 0x80, 0x0B, 0x00, 0x80, // mov eax, 0x80000B80 (00:01.3, reg 0x80)
        0xBA, 0xF8, 0x0C, // mov dx, 0xcf8
        0x66, 0xEF, // out dx, eax
        0xB2, 0xFC, // mov dl, 0xfc
        0xB0, 0x01, // mov al, 1
        0xEE, // out dx, al
        0xB8, 0x00, 0x20, // mov ax, 0x2000
        0xE7, 0x04, // out 4, ax
        0xF4, // hlt
    ];
    let mut rom = vec![0xF4u8; 4096];
    rom[..code.len()].copy_from_slice(&code);
    // Reset vector (IP 0xFFF0): jmp near to IP 0xF000, the ROM's start.
    rom[4096 - 16..4096 - 13].copy_from_slice(&[0xE9, 0x0D, 0xF0]);
    let rom = tempfile_path::write(&rom);
    let o = ironpc(&["--bios", rom.arg(), "--memory", "4M", "--clock", "virtual", "--max-instructions", "100000"]);
    assert_eq!(o.status.code(), Some(0), "stderr: {}", String::from_utf8_lossy(&o.stderr));
    assert!(o.stderr.is_empty(), "{}", String::from_utf8_lossy(&o.stderr));
}
