//! What the boot tests share: where the guest images are (`cargo xtask
//! images` puts them in target/images), how to find the `ironpc` binary,
//! and a serial console driver that runs a machine (ironpc or
//! qemu-system-i386) with its COM1 on pipes, waits for lines and types
//! commands; and how to assemble the test ROMs of tests/roms.
#![allow(dead_code, unused_imports)]

use std::io::{Read, Write};
use std::path::{Path, PathBuf};
use std::process::{Child, ChildStdin, Command, ExitStatus, Stdio};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::mpsc::{self, Receiver, RecvTimeoutError};
use std::time::{Duration, Instant};

/// File names in the image cache and the initramfs's contract (MARKER,
/// RUN_PARAM, PROMPT), shared with `cargo xtask images`.
#[path = "../../xtask/src/guest.rs"]
pub mod guest;

/// The newc cpio writer `cargo xtask images` uses, for tests that add
/// files to the initramfs (an archive appended to it).
#[path = "../../xtask/src/cpio.rs"]
pub mod cpio;

pub use guest::{ironpc_cpu, qemu_cpu_option, MARKER, PROMPT, RUN_PARAM};

/// The image cache; panics with the command that fills it when a file is
/// missing.
pub fn images_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join(guest::IMAGES_DIR)
}

/// The path of one cached image, which must exist.
pub fn image(name: &str) -> PathBuf {
    let p = images_dir().join(name);
    assert!(p.is_file(), "{} is missing: run `cargo xtask images`", p.display());
    p
}

/// One line of target/images/MANIFEST: (sha256, package, version).
pub fn manifest_entry(file: &str) -> (String, String, String) {
    let path = image(guest::MANIFEST);
    let text = std::fs::read_to_string(&path).unwrap_or_default();
    text.lines()
        .filter(|l| !l.starts_with('#'))
        .map(|l| l.split_whitespace().collect::<Vec<_>>())
        .find(|f| f.len() == 4 && f[0] == file)
        .map(|f| (f[1].to_string(), f[2].to_string(), f[3].to_string()))
        .unwrap_or_else(|| panic!("{} lists no {file}: run `cargo xtask images`", path.display()))
}

/// The `ironpc` binary: `$IRONPC_BIN`, or the one cargo built beside this
/// test (target/<profile>/ironpc; the tests live in target/<profile>/deps).
pub fn ironpc_bin() -> PathBuf {
    if let Some(p) = std::env::var_os("IRONPC_BIN") {
        return PathBuf::from(p);
    }
    let exe = std::env::current_exe().expect("the test binary's path");
    let profile_dir = exe.parent().and_then(Path::parent).expect("target/<profile>/deps/<test>");
    let bin = profile_dir.join("ironpc");
    assert!(bin.is_file(), "{} is missing: build it with `cargo build -p ironpc-frontend` (same profile)", bin.display());
    bin
}

/// A host-time bound from `$IRONPC_TEST_TIMEOUT` (seconds) or `default`.
pub fn host_timeout(default: Duration) -> Duration {
    std::env::var("IRONPC_TEST_TIMEOUT").ok().and_then(|s| s.parse().ok()).map(Duration::from_secs).unwrap_or(default)
}

/// A running machine whose serial console is this process's pipes.
pub struct Console {
    child: Child,
    stdin: Option<ChildStdin>,
    chunks: Receiver<Vec<u8>>,
    eof: bool,
    /// Everything the guest printed so far (lossy UTF-8).
    pub transcript: String,
    /// How far `wait_for` has consumed the transcript.
    seen: usize,
    started: Instant,
}

impl Console {
    /// Starts `cmd` with stdin and stdout on pipes (stderr is inherited, so
    /// the machine's own messages show in the test log).
    pub fn spawn(mut cmd: Command) -> Self {
        let mut child = cmd
            .stdin(Stdio::piped())
            .stdout(Stdio::piped())
            .stderr(Stdio::inherit())
            .spawn()
            .unwrap_or_else(|e| panic!("cannot start {cmd:?}: {e}"));
        let mut stdout = child.stdout.take().expect("piped stdout");
        let (tx, chunks) = mpsc::channel();
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = stdout.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
        let stdin = child.stdin.take();
        Self { child, stdin, chunks, eof: false, transcript: String::new(), seen: 0, started: Instant::now() }
    }

    /// Host time since the machine started.
    pub fn elapsed(&self) -> Duration {
        self.started.elapsed()
    }

    /// Waits until `needle` appears after what earlier waits consumed;
    /// returns the text from there up to and including it.
    pub fn wait_for(&mut self, needle: &str, timeout: Duration) -> Result<String, String> {
        let deadline = Instant::now() + timeout;
        loop {
            if let Some(i) = self.transcript[self.seen..].find(needle) {
                let end = self.seen + i + needle.len();
                let text = self.transcript[self.seen..end].to_string();
                self.seen = end;
                return Ok(text);
            }
            if self.eof {
                let status = self.child.wait().map(|s| s.to_string()).unwrap_or_else(|e| e.to_string());
                return Err(format!("the machine ended ({status}) before `{needle}`; its console printed:\n{}", self.tail()));
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.chunks.recv_timeout(left) {
                Ok(bytes) => self.transcript.push_str(&String::from_utf8_lossy(&bytes)),
                Err(RecvTimeoutError::Disconnected) => self.eof = true,
                Err(RecvTimeoutError::Timeout) => {
                    return Err(format!("no `{needle}` within {timeout:?}; the console printed:\n{}", self.tail()))
                }
            }
        }
    }

    /// Types a line (with the Enter key: a carriage return, which the
    /// guest's tty turns into a newline).
    pub fn type_line(&mut self, line: &str) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(line.as_bytes()).and_then(|()| stdin.write_all(b"\r")).and_then(|()| stdin.flush()).expect("typing");
    }

    /// Types raw bytes (control keys: Ctrl-C is 0x03).
    pub fn type_bytes(&mut self, bytes: &[u8]) {
        let stdin = self.stdin.as_mut().expect("stdin still open");
        stdin.write_all(bytes).and_then(|()| stdin.flush()).expect("typing");
    }

    /// Sends the machine a signal (`TERM`, `INT`, ...) with kill(1).
    pub fn signal(&self, name: &str) {
        let status = Command::new("kill").arg(format!("-{name}")).arg(self.child.id().to_string()).status();
        assert!(status.is_ok_and(|s| s.success()), "kill -{name} failed");
    }

    /// Waits for the machine to exit; kills it after `timeout`.
    pub fn wait_exit(&mut self, timeout: Duration) -> Result<ExitStatus, String> {
        let deadline = Instant::now() + timeout;
        loop {
            // Keep draining so the machine never blocks on a full pipe.
            while let Ok(bytes) = self.chunks.try_recv() {
                self.transcript.push_str(&String::from_utf8_lossy(&bytes));
            }
            match self.child.try_wait() {
                Ok(Some(status)) => return Ok(status),
                Ok(None) if Instant::now() < deadline => std::thread::sleep(Duration::from_millis(20)),
                Ok(None) => return Err(format!("still running after {timeout:?}; the console printed:\n{}", self.tail())),
                Err(e) => return Err(format!("cannot wait for the machine: {e}")),
            }
        }
    }

    /// The last lines of the transcript, for failure messages.
    pub fn tail(&self) -> String {
        let lines: Vec<&str> = self.transcript.lines().collect();
        lines[lines.len().saturating_sub(40)..].join("\n")
    }
}

impl Drop for Console {
    fn drop(&mut self) {
        if let Ok(None) = self.child.try_wait() {
            let _ = self.child.kill();
            let _ = self.child.wait();
        }
    }
}

/// The machine under test: `ironpc` or the reference, `qemu-system-i386`.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Emulator {
    /// ironpc on the given clock (`virtual` for tests, `host` for timing).
    Ironpc {
        virtual_clock: bool,
        /// Load the kernel through SeaBIOS and fw_cfg (`--kernel-entry
        /// firmware`) rather than entering it directly.
        via_seabios: bool,
    },
    Qemu,
}

/// The command that boots `kernel` with `initrd` and `append` on COM1 with
/// 256 MiB, no display, and no reboot (a reboot ends the machine).
pub fn boot_command(emulator: Emulator, kernel: &Path, initrd: &Path, append: &str) -> Command {
    match emulator {
        Emulator::Ironpc { virtual_clock, via_seabios } => {
            let mut c = Command::new(ironpc_bin());
            c.arg("--bios").arg(image(guest::BIOS));
            c.arg("--kernel").arg(kernel).arg("--initrd").arg(initrd).args(["--append", append]);
            c.args(["--memory", "256M", "--display", "none", "--serial", "stdio"]);
            c.args(["--clock", if virtual_clock { "virtual" } else { "host" }]);
            c.args(["--kernel-entry", if via_seabios { "firmware" } else { "direct" }]);
            c
        }
        Emulator::Qemu => {
            let mut c = Command::new("qemu-system-i386");
            c.args(["-M", "pc", "-accel", "tcg", "-m", "256", "-display", "none", "-serial", "stdio", "-monitor", "none"]);
            c.args(["-no-reboot", "-cpu", &qemu_cpu_option(&ironpc_cpu())]);
            c.arg("-kernel").arg(kernel).arg("-initrd").arg(initrd).args(["-append", append]);
            c
        }
    }
}

/// A byte sink shared between a test and the machine it runs (a debug
/// console or serial port's host end).
#[derive(Clone, Default)]
pub struct Capture(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);

impl Write for Capture {
    fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
        self.0.lock().expect("capture poisoned").extend_from_slice(buf);
        Ok(buf.len())
    }
    fn flush(&mut self) -> std::io::Result<()> {
        Ok(())
    }
}

impl Capture {
    /// What was written so far.
    pub fn bytes(&self) -> Vec<u8> {
        self.0.lock().expect("capture poisoned").clone()
    }

    /// What was written so far, as (lossy) UTF-8.
    pub fn text(&self) -> String {
        String::from_utf8_lossy(&self.bytes()).into_owned()
    }
}

/// SeaBIOS: from the image cache if `cargo xtask images` filled it, else
/// Debian's package; `None` (with a note, so the caller skips) without
/// either.
pub fn seabios() -> Option<Vec<u8>> {
    let paths = [images_dir().join(guest::BIOS), PathBuf::from("/usr/share/seabios/bios.bin")];
    match paths.iter().find(|p| p.is_file()) {
        Some(p) => Some(std::fs::read(p).expect("cannot read SeaBIOS")),
        None => {
            eprintln!("SeaBIOS not found (cargo xtask images, or apt-get install seabios): test skipped");
            None
        }
    }
}

/// `lines` appear in `text` in this order (each after the end of the
/// one before); panics naming the first that does not, with the text.
pub fn assert_in_order(text: &str, lines: &[&str]) {
    let mut rest = text;
    for line in lines {
        match rest.find(line) {
            Some(at) => rest = &rest[at + line.len()..],
            None => panic!("missing (or out of order): {line:?} in:\n{text}"),
        }
    }
}

/// Assembles `tests/roms/NAME.asm` (its `%include`s from that directory)
/// with nasm, `-D` each of `defines`, and returns the image.
pub fn assemble(name: &str, defines: &[&str]) -> Vec<u8> {
    let src = roms_dir().join(format!("{name}.asm"));
    nasm_flat(&src, name, defines)
}

/// Assembles `source`, a test's own program (`name` tells its files
/// apart), as [`assemble`] does a file of tests/roms.
pub fn assemble_source(name: &str, source: &str, defines: &[&str]) -> Vec<u8> {
    let src = unique_out_path(name, "asm");
    std::fs::write(&src, source).expect("cannot write the program's source");
    let image = nasm_flat(&src, name, defines);
    let _ = std::fs::remove_file(&src);
    image
}

fn roms_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("tests").join("roms")
}

/// A file of its own for this call, in the test ROMs' output directory:
/// tests run in parallel and may assemble the same program.
fn unique_out_path(name: &str, extension: &str) -> PathBuf {
    static NEXT: AtomicUsize = AtomicUsize::new(0);
    let out_dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("roms");
    std::fs::create_dir_all(&out_dir).expect("cannot create the ROM output directory");
    out_dir.join(format!("{name}.{}.{}.{extension}", std::process::id(), NEXT.fetch_add(1, Ordering::Relaxed)))
}

/// nasm's flat binary of `src`, its includes looked up in tests/roms.
fn nasm_flat(src: &Path, name: &str, defines: &[&str]) -> Vec<u8> {
    let out = unique_out_path(name, "bin");
    let mut include = roms_dir().into_os_string();
    include.push("/");
    let mut nasm = Command::new("nasm");
    nasm.args(["-f", "bin", "-I"]).arg(include).arg("-o").arg(&out).arg(src);
    nasm.args(defines.iter().map(|d| format!("-D{d}")));
    let output = match nasm.output() {
        Ok(o) => o,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            panic!("nasm is needed to assemble {}: install it (apt-get install nasm)", src.display())
        }
        Err(e) => panic!("cannot run nasm: {e}"),
    };
    assert!(output.status.success(), "nasm failed on {}:\n{}", src.display(), String::from_utf8_lossy(&output.stderr));
    let image = std::fs::read(&out).expect("cannot read the assembled ROM");
    let _ = std::fs::remove_file(&out);
    image
}

/// Assembles `source` (nasm, ELF32) and links it at 1 MiB with GNU ld
/// (entry `_start`) into a multiboot kernel; `name` tells this test's
/// build directory apart. None when nasm or ld is missing; a tool that
/// runs and fails is a test failure.
pub fn build_multiboot_kernel(name: &str, source: &str) -> Option<Vec<u8>> {
    let present = |tool: &str| Command::new(tool).arg("-v").output().is_ok();
    if !present("nasm") || !present("ld") {
        eprintln!("nasm or ld missing (apt-get install nasm binutils): test skipped");
        return None;
    }
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("kernel-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("cannot create a build directory");
    std::fs::write(dir.join("k.asm"), source).expect("cannot write k.asm");
    let run = |c: &mut Command| {
        let out = c.current_dir(&dir).output().expect("cannot run the tool");
        assert!(out.status.success(), "{c:?} failed:\n{}", String::from_utf8_lossy(&out.stderr));
    };
    run(Command::new("nasm").args(["-f", "elf32", "-o", "k.o", "k.asm"]));
    run(Command::new("ld").args(["-m", "elf_i386", "-N", "-Ttext", "0x100000", "-e", "_start", "-o", "k.elf", "k.o"]));
    let image = std::fs::read(dir.join("k.elf")).expect("cannot read k.elf");
    let _ = std::fs::remove_dir_all(&dir);
    Some(image)
}

/// Runs `m` `chunk` instructions at a time until `found` (shown the
/// machine and how the chunk ended) returns what the test waits for. The
/// guest stopping before that, or `max` instructions without it, fails the
/// test with `shown(m)`: what the guest has shown so far.
pub fn run_until<T>(
    m: &mut ironpc::Machine,
    (chunk, max): (u64, u64),
    mut found: impl FnMut(&mut ironpc::Machine, ironpc::Exit) -> Option<T>,
    shown: impl Fn(&mut ironpc::Machine) -> String,
) -> T {
    loop {
        let exit = m.run(Some(m.cpu.icount + chunk));
        if let Some(t) = found(m, exit) {
            return t;
        }
        let at = m.cpu.icount;
        if exit != ironpc::Exit::InstructionLimit {
            panic!("the guest stopped ({exit:?}) at {at} instructions; {}", shown(m));
        }
        if at >= max {
            panic!("not there after {at} instructions; {}", shown(m));
        }
    }
}

/// The text screen as it is now (rendered first); empty in a graphics mode.
pub fn screen_text(m: &mut ironpc::Machine) -> String {
    m.refresh_screen();
    m.board.screen.text().unwrap_or_default()
}
