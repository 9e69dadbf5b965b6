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

/// A multiboot kernel loaded by the header's address fields (flag 16) at
/// 1 MiB: it writes the first byte of each module to the debug console and
/// exits with the module count. `--initrd` is QEMU's module list.
#[test]
fn a_multiboot_kernel_gets_its_module_list() {
    let rom = rom_with_reset_code(&[0xF4]);
    let flags: u32 = 1 << 16;
    let mut k = Vec::new();
    for v in [0x1BAD_B002u32, flags, 0u32.wrapping_sub(0x1BAD_B002).wrapping_sub(flags)] {
        k.extend_from_slice(&v.to_le_bytes());
    }
    // header_addr, load_addr, load_end_addr (to the end), bss_end_addr, entry.
    for v in [0x10_0000u32, 0x10_0000, 0, 0, 0x10_0020] {
        k.extend_from_slice(&v.to_le_bytes());
    }
    k.resize(0x20, 0);
    k.extend_from_slice(&[
        0x8B, 0x4B, 0x14, // mov ecx, [ebx + 20]   mods_count
        0x8B, 0x73, 0x18, // mov esi, [ebx + 24]   mods_addr
        0x8B, 0x06, //       mov eax, [esi]        mod_start
        0x8A, 0x00, //       mov al, [eax]
        0xE6, 0xE9, //       out 0xE9, al
        0x83, 0xC6, 0x10, // add esi, 16
        0xE2, 0xF5, //       loop (back to mov eax, [esi])
        0x8B, 0x43, 0x14, // mov eax, [ebx + 20]
        0xE6, 0xF4, //       out 0xF4, al
        0xF4, //             hlt
    ]);
    let kernel = tempfile_path::write(&k);
    let m1 = tempfile_path::write(b"A-module");
    let m2 = tempfile_path::write(b"B-module");
    let list = format!("{} some args,{}", m1.arg(), m2.arg());
    let args = ["--bios", rom.arg(), "--kernel", kernel.arg(), "--initrd", &list, "--debugcon", "stdio", "--exit-port", "0xf4"];
    let o = ironpc(&args);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "AB", "{:?}", stderr_lines(&o));
    assert_eq!(o.status.code(), Some((2 << 1) | 1));
    let o = ironpc(&["--bios", rom.arg(), "--kernel", kernel.arg(), "--initrd", "/nonexistent/mod args"]);
    assert_eq!(stderr_lines(&o).len(), 1);
    assert!(stderr_lines(&o)[0].starts_with("ironpc: cannot read multiboot module /nonexistent/mod"), "{:?}", stderr_lines(&o));
}
