//! `cargo xtask bench boot`: Debian's 686 kernel with the busybox
//! initramfs (from `cargo xtask images`), booted in ironpc (the
//! interpreter, `--clock host`) and in `qemu-system-i386 -accel tcg` with
//! the same CPUID, 256 MiB and console on COM1. /init runs `poweroff -f`
//! (passed through `ironpc_run`) right after its marker; the table shows
//! the host time to the marker line and to the machine's exit, and the
//! ratio ironpc / QEMU.

use crate::guest;
use std::io::Read;
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// The kernel command line: the console on COM1 and power-off at once.
fn append() -> String {
    format!("console=ttyS0 {}=\"poweroff -f\"", guest::RUN_PARAM)
}

/// Host-time bound on one boot; `--timeout SECONDS` changes it.
const DEFAULT_TIMEOUT: Duration = Duration::from_secs(1800);

/// One boot's figures, or why it did not get that far.
struct Timing {
    marker: Option<Duration>,
    exit: Result<Duration, String>,
}

pub fn run(args: &[String]) -> Result<(), String> {
    let mut timeout = DEFAULT_TIMEOUT;
    let mut it = args.iter();
    while let Some(a) = it.next() {
        match a.as_str() {
            "--timeout" => {
                let s = it.next().and_then(|s| s.parse().ok()).ok_or("--timeout needs a number of seconds")?;
                timeout = Duration::from_secs(s);
            }
            other => return Err(format!("bench boot: unknown option `{other}` (available: --timeout SECONDS)")),
        }
    }
    crate::images::run(&[])?;
    let dir = crate::images::images_dir();
    let (kernel, initrd) = (dir.join(guest::KERNEL), dir.join(guest::INITRAMFS));
    let ironpc = build_ironpc()?;

    let cmdline = append();
    let mut ironpc_cmd = Command::new(&ironpc);
    ironpc_cmd.arg("--kernel").arg(&kernel).arg("--initrd").arg(&initrd).args(["--append", &cmdline]);
    ironpc_cmd.args(["--memory", "256M", "--display", "none", "--serial", "stdio", "--clock", "host"]);
    let mut qemu_cmd = Command::new("qemu-system-i386");
    qemu_cmd.args(["-M", "pc", "-accel", "tcg", "-m", "256", "-display", "none", "-serial", "stdio", "-monitor", "none"]);
    qemu_cmd.args(["-no-reboot", "-cpu", &guest::qemu_cpu_option(&guest::ironpc_cpu())]);
    qemu_cmd.arg("-kernel").arg(&kernel).arg("-initrd").arg(&initrd).args(["-append", &cmdline]);

    println!("boot: {} + {}, 256 MiB, `{cmdline}`", guest::KERNEL, guest::INITRAMFS);
    println!("{:<34} {:>12} {:>14}", "engine", "marker (s)", "power-off (s)");
    let qemu = time_boot(qemu_cmd, timeout);
    print_row("qemu-system-i386 (TCG)", &qemu);
    let ours = time_boot(ironpc_cmd, timeout);
    print_row("ironpc (interpreter, host clock)", &ours);
    let ratio = |a: Option<Duration>, b: Option<Duration>| match (a, b) {
        (Some(a), Some(b)) if !b.is_zero() => format!("{:.1}", a.as_secs_f64() / b.as_secs_f64()),
        _ => "-".to_string(),
    };
    println!(
        "{:<34} {:>12} {:>14}",
        "ratio ironpc / qemu",
        ratio(ours.marker, qemu.marker),
        ratio(ours.exit.as_ref().ok().copied(), qemu.exit.as_ref().ok().copied())
    );
    for (name, t) in [("qemu-system-i386", &qemu), ("ironpc", &ours)] {
        if let Err(e) = &t.exit {
            println!("{name}: {e}");
        }
    }
    Ok(())
}

fn print_row(name: &str, t: &Timing) {
    let secs = |d: Option<Duration>| d.map_or("-".to_string(), |d| format!("{:.2}", d.as_secs_f64()));
    println!("{name:<34} {:>12} {:>14}", secs(t.marker), secs(t.exit.as_ref().ok().copied()));
}

/// Builds the ironpc binary in xtask's own profile and returns its path.
pub fn build_ironpc() -> Result<PathBuf, String> {
    let exe = std::env::current_exe().map_err(|e| format!("bench boot: where am I? {e}"))?;
    let profile_dir = exe.parent().ok_or("bench boot: xtask has no directory")?.to_path_buf();
    let release = profile_dir.file_name().is_some_and(|n| n == "release");
    let cargo = std::env::var_os("CARGO").unwrap_or_else(|| "cargo".into());
    let mut build = Command::new(cargo);
    build.args(["build", "-p", "ironpc-frontend"]).current_dir(crate::workspace_root());
    if release {
        build.arg("--release");
    }
    let status = build.status().map_err(|e| format!("bench boot: cannot run cargo: {e}"))?;
    if !status.success() {
        return Err("bench boot: building ironpc failed".to_string());
    }
    Ok(profile_dir.join("ironpc"))
}

/// Runs one machine with its console on a pipe; notes when the marker
/// line appears and when the machine exits.
fn time_boot(mut cmd: Command, timeout: Duration) -> Timing {
    let start = Instant::now();
    let child = cmd.stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn();
    let mut child = match child {
        Ok(c) => c,
        Err(e) => return Timing { marker: None, exit: Err(format!("cannot start {}: {e}", program(&cmd))) },
    };
    let (tx, rx) = mpsc::channel();
    if let Some(mut out) = child.stdout.take() {
        std::thread::spawn(move || {
            let mut buf = [0u8; 4096];
            while let Ok(n @ 1..) = out.read(&mut buf) {
                if tx.send(buf[..n].to_vec()).is_err() {
                    break;
                }
            }
        });
    }
    let stderr = child.stderr.take().map(|mut e| {
        std::thread::spawn(move || {
            let mut s = String::new();
            let _ = e.read_to_string(&mut s);
            s
        })
    });
    let mut seen = Vec::new();
    let mut marker = None;
    let status = loop {
        while let Ok(bytes) = rx.try_recv() {
            seen.extend_from_slice(&bytes);
            if marker.is_none() && contains(&seen, guest::MARKER.as_bytes()) {
                marker = Some(start.elapsed());
            }
        }
        match child.try_wait() {
            Ok(Some(status)) => break Ok(status),
            Ok(None) if start.elapsed() > timeout => {
                let _ = child.kill();
                let _ = child.wait();
                break Err(format!("no power-off within {timeout:?}"));
            }
            Ok(None) => std::thread::sleep(Duration::from_millis(5)),
            Err(e) => break Err(format!("cannot wait: {e}")),
        }
    };
    let elapsed = start.elapsed();
    let stderr = stderr.and_then(|t| t.join().ok()).unwrap_or_default();
    let exit = status.and_then(|s| {
        if s.success() && marker.is_some() {
            Ok(elapsed)
        } else {
            let last = stderr.lines().rev().find(|l| !l.trim().is_empty()).unwrap_or("").trim();
            let what = if marker.is_some() { "after the marker" } else { "before the marker" };
            Err(format!("exited with {s} {what}: {last}"))
        }
    });
    Timing { marker, exit }
}

fn contains(haystack: &[u8], needle: &[u8]) -> bool {
    haystack.windows(needle.len()).any(|w| w == needle)
}

fn program(cmd: &Command) -> String {
    Path::new(cmd.get_program()).display().to_string()
}
