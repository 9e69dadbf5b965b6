//! The `ironpc` program as a user meets it: bad input gets one clear line
//! and a non-zero status; a guest's exit request becomes the status.

use std::io::{Read, Write};
use std::path::Path;
use std::process::{Child, Command, Output, Stdio};
use std::time::{Duration, Instant};

fn ironpc(args: &[&str]) -> Output {
    Command::new(env!("CARGO_BIN_EXE_ironpc"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .args(args)
        .output()
        .expect("run ironpc")
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

/// Assembles `tests/roms/NAME.asm` of the workspace (see the root crate's
/// tests/system_roms.rs) into a temporary file.
fn assemble(name: &str) -> tempfile_path::TempPath {
    let roms = Path::new(env!("CARGO_MANIFEST_DIR")).join("../tests/roms");
    let out = tempfile_path::path();
    let mut include = roms.clone().into_os_string();
    include.push("/");
    let o = Command::new("nasm")
        .arg("-f")
        .arg("bin")
        .arg("-I")
        .arg(include)
        .arg("-o")
        .arg(&out.0)
        .arg(roms.join(format!("{name}.asm")))
        .output()
        .expect("nasm is needed (apt-get install nasm)");
    assert!(o.status.success(), "nasm: {}", String::from_utf8_lossy(&o.stderr));
    out
}

/// Runs ironpc with `input` on its stdin (written, then closed).
fn ironpc_with_input(args: &[&str], input: &[u8]) -> Output {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ironpc"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .args(args)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ironpc");
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(input).unwrap();
    drop(stdin);
    child.wait_with_output().unwrap()
}

/// The echo ROM's arguments: COM1 on stdio, isa-debug-exit at 0xF4.
fn echo_args<'a>(rom: &'a tempfile_path::TempPath, clock: &'a str) -> Vec<&'a str> {
    vec!["--bios", rom.arg(), "--memory", "16M", "--exit-port", "0xf4", "--clock", clock]
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
    /// A fresh path, nothing written yet.
    pub fn path() -> TempPath {
        let dir = PathBuf::from(env!("CARGO_TARGET_TMPDIR"));
        TempPath(dir.join(format!("cli-{}-{}.bin", std::process::id(), N.fetch_add(1, Ordering::Relaxed))))
    }
    pub fn write(bytes: &[u8]) -> TempPath {
        let p = path();
        std::fs::write(&p.0, bytes).unwrap();
        p
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

/// The serial echo ROM on the host clock with every stream on a pipe,
/// once it has said "ready".
fn spawn_echo_ready(rom: &tempfile_path::TempPath) -> std::process::Child {
    let mut child = Command::new(env!("CARGO_BIN_EXE_ironpc"))
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .args(echo_args(rom, "host"))
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("run ironpc");
    assert_eq!(wait_for_output(&mut child, "ready\n"), "ready\n");
    child
}

#[test]
fn piped_input_reaches_the_guest_on_the_host_clock() {
    let rom = assemble("serial_echo");
    let mut child = spawn_echo_ready(&rom);
    let mut stdin = child.stdin.take().unwrap();
    stdin.write_all(b"hello, ").unwrap();
    stdin.flush().unwrap();
    assert_eq!(wait_for_output(&mut child, "HELLO, "), "HELLO, ");
    stdin.write_all(b"World!\x04").unwrap();
    drop(stdin);
    let o = child.wait_with_output().unwrap();
    assert_eq!(String::from_utf8_lossy(&o.stdout), "WORLD!");
    assert_eq!(o.status.code(), Some(1), "guest status 0; stderr: {}", String::from_utf8_lossy(&o.stderr));
}

#[test]
fn piped_input_on_the_virtual_clock_replays_exactly() {
    let rom = assemble("serial_echo");
    let run = || {
        let mut args = echo_args(&rom, "virtual");
        args.extend(["--debugcon", "stdio", "--serial-input", "script"]);
        ironpc_with_input(&args, b"abc\x03def\x04")
    };
    let first = run();
    // Ctrl-C is a byte like any other on a pipe; the timer never ticked
    // (the input came before 10 ms of virtual time), so the debug console
    // stayed silent.
    assert_eq!(first.stdout, b"ready\nABC\x03DEF");
    assert_eq!(first.status.code(), Some(1));
    let second = run();
    assert_eq!((second.stdout, second.status.code()), (first.stdout, first.status.code()));
}

#[test]
fn the_end_of_stdin_is_no_error() {
    let rom = assemble("serial_echo");
    let mut args = echo_args(&rom, "virtual");
    args.extend(["--max-instructions", "3000000", "--serial-input", "script"]);
    let o = ironpc_with_input(&args, b"ok");
    assert_eq!(String::from_utf8_lossy(&o.stdout), "ready\nOK");
    assert_eq!(o.status.code(), Some(3));
    let lines = stderr_lines(&o);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("ironpc: stopped after 3000000 instructions at "), "{lines:?}");
}

#[test]
fn com2_to_com4_reach_their_hosts() {
    for (n, base) in [(2u16, 0x2F8u16), (3, 0x3E8), (4, 0x2E8)] {
        // mov dx, base; mov al, '0' + n; out dx, al; mov al, 0; out 0xf4, al
        let [lo, hi] = base.to_le_bytes();
        let rom = rom_with_reset_code(&[0xBA, lo, hi, 0xB0, b'0' + n as u8, 0xEE, 0xB0, 0, 0xE6, 0xF4]);
        let mut args = vec!["--bios", rom.arg(), "--exit-port", "0xf4"];
        for _ in 1..n {
            args.extend(["--serial", "none"]);
        }
        args.extend(["--serial", "stdio"]);
        let o = ironpc(&args);
        assert_eq!(String::from_utf8_lossy(&o.stdout), format!("{n}"), "COM{n}");
        assert_eq!(o.status.code(), Some(1), "COM{n}");
    }
}

#[test]
fn serial_options_are_checked() {
    let rom = rom_with_reset_code(&[0xFA, 0xF4]);
    let o = ironpc(&["--bios", rom.arg(), "--serial", "stdio", "--serial", "stdio"]);
    assert_eq!(stderr_lines(&o), vec!["ironpc: only one --serial port can be stdio".to_string()]);
    let five: Vec<&str> = ["--serial", "none"].repeat(5);
    let o = ironpc(&[&["--bios", rom.arg()], &five[..]].concat());
    assert_eq!(o.status.code(), Some(1));
    assert!(stderr_lines(&o)[0].contains("at most 4"), "{:?}", stderr_lines(&o));
}

/// The debug-console arguments of the reboot ROMs.
fn rom_args(rom: &tempfile_path::TempPath) -> Vec<&str> {
    vec!["--bios", rom.arg(), "--memory", "16M", "--serial", "none", "--debugcon", "stdio", "--exit-port", "0xf4"]
}

#[test]
fn no_reboot_turns_a_triple_fault_into_one_line_and_status_2() {
    let rom = assemble("triple");
    let mut args = rom_args(&rom);
    args.push("--no-reboot");
    let o = ironpc(&args);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "triple fault next\n");
    assert_eq!(o.status.code(), Some(2));
    let lines = stderr_lines(&o);
    assert_eq!(lines.len(), 1, "{lines:?}");
    assert!(lines[0].starts_with("ironpc: triple fault at 0008:"), "{lines:?}");
    assert!(lines[0].ends_with("; the machine stopped (--no-reboot)"), "{lines:?}");
}

#[test]
fn no_reboot_ends_on_a_guest_reboot_with_status_0() {
    let rom = assemble("reset92");
    let mut args = rom_args(&rom);
    args.push("--no-reboot");
    let o = ironpc(&args);
    assert_eq!(String::from_utf8_lossy(&o.stdout), "first boot\n");
    assert_eq!(o.status.code(), Some(0));
    assert!(o.stderr.is_empty(), "{:?}", stderr_lines(&o));
}

#[test]
fn reboots_reset_the_machine_and_continue_by_default() {
    let rom = assemble("reboot");
    let o = ironpc(&rom_args(&rom));
    let text = String::from_utf8_lossy(&o.stdout);
    assert!(text.starts_with("boot 00000001\ntriple fault next\nboot 00000002\n"), "{text}");
    assert!(text.ends_with("keyboard controller reset next\nboot 00000003\nDONE\n"), "{text}");
    assert_eq!(o.status.code(), Some(1));
}

/// Reads the child's stdout until it has shown `want` (or a few seconds).
fn wait_for_output(child: &mut Child, want: &str) -> String {
    let out = child.stdout.as_mut().unwrap();
    let mut got = Vec::new();
    let mut buf = [0u8; 64];
    let start = Instant::now();
    while !String::from_utf8_lossy(&got).contains(want) && start.elapsed() < Duration::from_secs(20) {
        match out.read(&mut buf) {
            Ok(0) | Err(_) => break,
            Ok(n) => got.extend_from_slice(&buf[..n]),
        }
    }
    String::from_utf8_lossy(&got).into_owned()
}

#[test]
fn sigint_and_sigterm_end_an_idle_guest_cleanly() {
    let rom = assemble("serial_echo");
    for (signal, status) in [("INT", 130), ("TERM", 143), ("HUP", 129)] {
        // stdin stays open: the guest idles, waiting for input.
        let child = spawn_echo_ready(&rom);
        let killed = Command::new("kill").arg(format!("-{signal}")).arg(child.id().to_string()).status().unwrap();
        assert!(killed.success());
        let o = child.wait_with_output().unwrap();
        assert_eq!(o.status.code(), Some(status), "SIG{signal}; stderr: {}", String::from_utf8_lossy(&o.stderr));
        assert!(o.stderr.is_empty(), "SIG{signal}: {:?}", stderr_lines(&o));
    }
}

/// Polls `path` until it has `lines` lines (or a few seconds); its text.
fn wait_for_lines(path: &Path, lines: usize) -> String {
    let start = Instant::now();
    loop {
        let text = std::fs::read_to_string(path).unwrap_or_default();
        if text.lines().count() >= lines || start.elapsed() > Duration::from_secs(20) {
            return text;
        }
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// SIGTERM while the terminal is raw: ironpc ends with status 143 and the
/// terminal is canonical again.
#[test]
#[ignore = "needs tmux (apt-get install tmux); run with --ignored"]
fn sigterm_in_raw_mode_restores_the_terminal() {
    let rom = assemble("serial_echo");
    let session = format!("ironpc-term-{}", std::process::id());
    let (pid_file, status_file) = (tempfile_path::path(), tempfile_path::path());
    let command = format!(
        "sh -c 'echo $$ > {pid}; exec {ironpc} --bios {rom} --memory 16M --exit-port 0xf4'; echo \"status=$?\" > {status}; stty -a | grep -o -- '-\\?icanon' >> {status}; sleep 30",
        pid = pid_file.arg(),
        ironpc = env!("CARGO_BIN_EXE_ironpc"),
        rom = rom.arg(),
        status = status_file.arg()
    );
    let tmux = |args: &[&str]| Command::new("tmux").args(args).output().expect("tmux");
    assert!(tmux(&["new-session", "-d", "-s", &session, "-x", "80", "-y", "24", &command]).status.success());
    let pid = wait_for_lines(&pid_file.0, 1);
    // Raw mode is on once the guest is running: give it a moment.
    std::thread::sleep(Duration::from_millis(500));
    let raw = Command::new("sh").arg("-c").arg(format!("stty -a < /proc/{}/fd/0", pid.trim())).output().unwrap();
    assert!(String::from_utf8_lossy(&raw.stdout).contains("-icanon"), "raw while running");
    assert!(Command::new("kill").arg("-TERM").arg(pid.trim()).status().unwrap().success());
    let result = wait_for_lines(&status_file.0, 2);
    tmux(&["kill-session", "-t", &session]);
    assert_eq!(result, "status=143\nicanon\n");
}

/// The console in a real terminal: tmux runs ironpc, types into it and
/// reads the screen. Raw mode lets Ctrl-C through to the guest (which
/// echoes it as a byte, not dying of SIGINT); Ctrl-A h lists the escape
/// keys; Ctrl-A x quits with status 0 and the terminal comes back sane.
#[test]
#[ignore = "needs tmux (apt-get install tmux); run with --ignored"]
fn raw_terminal_console_under_tmux() {
    let rom = assemble("serial_echo");
    let session = format!("ironpc-cli-{}", std::process::id());
    let status_file = tempfile_path::path();
    let tmux = |args: &[&str]| Command::new("tmux").args(args).output().expect("tmux");
    let screen = || String::from_utf8_lossy(&tmux(&["capture-pane", "-p", "-t", &session]).stdout).into_owned();
    let wait_screen = |want: &str| {
        let start = Instant::now();
        loop {
            let s = screen();
            if s.contains(want) || start.elapsed() > Duration::from_secs(20) {
                return s;
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    };
    let command = format!(
        "{} --bios {} --memory 16M --exit-port 0xf4; echo \"status=$?\" > {}; stty -a | grep -o -- '-\\?icanon' >> {}; sleep 30",
        env!("CARGO_BIN_EXE_ironpc"),
        rom.arg(),
        status_file.arg(),
        status_file.arg()
    );
    assert!(tmux(&["new-session", "-d", "-s", &session, "-x", "80", "-y", "24", &command]).status.success());
    wait_screen("ready");
    tmux(&["send-keys", "-t", &session, "-l", "abc"]);
    tmux(&["send-keys", "-t", &session, "C-c"]);
    tmux(&["send-keys", "-t", &session, "-l", "def"]);
    let s = wait_screen("DEF");
    assert!(s.contains("ABC") && s.contains("DEF"), "Ctrl-C reached the guest, ironpc lives on:\n{s}");
    tmux(&["send-keys", "-t", &session, "C-a", "h"]);
    let s = wait_screen("C-a x");
    assert!(s.contains("C-a x    exit ironpc"), "help:\n{s}");
    tmux(&["send-keys", "-t", &session, "C-a", "x"]);
    let result = wait_for_lines(&status_file.0, 2);
    tmux(&["kill-session", "-t", &session]);
    assert_eq!(result, "status=0\nicanon\n", "Ctrl-A x exits 0 and the terminal is canonical again");
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
    let cases: [(Vec<&str>, &str); 5] = [
        (vec!["--kernel", "/nonexistent/vmlinuz"], "ironpc: cannot read kernel /nonexistent/vmlinuz"),
        (vec!["--kernel", kernel.arg(), "--initrd", "/nonexistent/initrd"], "ironpc: cannot read initrd /nonexistent/initrd"),
        (vec!["--kernel", not_a_kernel.arg()], "neither a Linux bzImage"),
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
    let kernel = assemble("fakelinux");
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

/// ACPI soft-off ends the program with status 0 and nothing on stderr:
/// the ROM puts the PIIX4 PM block at 0x600 (PMBA), enables it
/// (PMREGMISC = 1) and writes SLP_TYP 0 with SLP_EN to PM1a_CNT (0x604).
#[test]
fn acpi_power_off_exits_with_status_0() {
    let code = [
        0x66, 0xB8, 0x40, 0x0B, 0x00, 0x80, // mov eax, 0x80000B40 (00:01.3, PMBA)
        0xBA, 0xF8, 0x0C, // mov dx, 0xcf8
        0x66, 0xEF, // out dx, eax
        0xB2, 0xFC, // mov dl, 0xfc
        0x66, 0xB8, 0x01, 0x06, 0x00, 0x00, // mov eax, 0x601
        0x66, 0xEF, // out dx, eax
        0x66, 0xB8, 0x80, 0x0B, 0x00, 0x80, // mov eax, 0x80000B80 (PMREGMISC)
        0xB2, 0xF8, // mov dl, 0xf8
        0x66, 0xEF, // out dx, eax
        0xB2, 0xFC, // mov dl, 0xfc
        0xB0, 0x01, // mov al, 1
        0xEE, // out dx, al
        0xBA, 0x04, 0x06, // mov dx, 0x604
        0xB8, 0x00, 0x20, // mov ax, 0x2000
        0xEF, // out dx, ax
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
