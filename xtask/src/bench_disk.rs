//! `cargo xtask bench disk`: sequential reads from the IDE disk inside a
//! Linux guest, in ironpc (the interpreter, `--clock host`) and in
//! `qemu-system-i386 -accel tcg`, side by side.
//!
//! Both boot `disk.raw` (from `cargo xtask images`: SeaBIOS, syslinux,
//! Debian's 686 kernel, the busybox initramfs, which loads ata_piix) from
//! the primary master with `snapshot=on` (the image is never written),
//! 256 MiB and the console on COM1. At the shell the bench types
//! `dd if=/dev/sda of=/dev/null bs=1M count=64` between two readings of
//! /proc/uptime (the guest's seconds for the 64 MiB), and the machine's
//! host CPU time (user + system, from /proc/PID/stat) is read just before
//! the command and when the second reading arrives.

use crate::guest;
use std::io::{Read, Write};
use std::process::{Child, Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// MiB read.
const MIB: u64 = 64;
const TIMEOUT: Duration = Duration::from_secs(1800);

/// One engine's result.
struct Figures {
    /// The guest's seconds for the read, from its uptime.
    guest_seconds: f64,
    /// Host CPU seconds the machine used meanwhile.
    cpu_seconds: f64,
}

pub fn run(args: &[String]) -> Result<(), String> {
    if let Some(a) = args.first() {
        return Err(format!("bench disk: unknown option `{a}`"));
    }
    crate::images::run(&[])?;
    let disk = crate::images::images_dir().join(guest::DISK_RAW);
    let ironpc = crate::bench_boot::build_ironpc()?;
    let drive = format!("file={},format=raw,if=ide,index=0,snapshot=on", disk.display());

    let mut ours = Command::new(&ironpc);
    ours.args(["--drive", &drive, "--memory", "256M", "--display", "none", "--serial", "stdio", "--clock", "host"]);
    let mut qemu = Command::new("qemu-system-i386");
    qemu.args(["-M", "pc", "-accel", "tcg", "-m", "256", "-display", "none", "-serial", "stdio", "-monitor", "none"]);
    qemu.args(["-no-reboot", "-cpu", &guest::qemu_cpu_option(&guest::ironpc_cpu()), "-drive", &drive]);

    println!("disk: dd if=/dev/sda of=/dev/null bs=1M count={MIB} in the guest ({}, IDE primary master)", guest::DISK_RAW);
    println!("{:<34} {:>10} {:>10} {:>16}", "engine", "guest s", "MiB/s", "host CPU s/MiB");
    for (name, cmd) in [("qemu-system-i386 (TCG)", qemu), ("ironpc (interpreter, host clock)", ours)] {
        match measure(cmd) {
            Ok(f) => println!(
                "{name:<34} {:>10.2} {:>10.1} {:>16.4}",
                f.guest_seconds,
                MIB as f64 / f.guest_seconds,
                f.cpu_seconds / MIB as f64
            ),
            Err(e) => println!("{name:<34} {e}"),
        }
    }
    Ok(())
}

/// Host CPU seconds (user + system) of a process so far.
fn cpu_seconds(pid: u32) -> Result<f64, String> {
    let stat = std::fs::read_to_string(format!("/proc/{pid}/stat")).map_err(|e| format!("/proc/{pid}/stat: {e}"))?;
    // Fields after the command name (which is in parentheses): state is
    // field 3; utime and stime are fields 14 and 15, in clock ticks.
    let rest = stat.rsplit_once(')').map(|(_, r)| r).ok_or("bad /proc stat")?;
    let f: Vec<&str> = rest.split_whitespace().collect();
    let ticks = |i: usize| f.get(i - 3).and_then(|v| v.parse::<u64>().ok()).ok_or("bad /proc stat field");
    // USER_HZ is 100 on every Linux ABI the host can be.
    Ok((ticks(14)? + ticks(15)?) as f64 / 100.0)
}

/// The serial console of one running machine.
struct Session {
    child: Child,
    rx: mpsc::Receiver<Vec<u8>>,
    seen: String,
    from: usize,
}

impl Session {
    fn wait_for(&mut self, needle: &str, deadline: Instant) -> Result<String, String> {
        loop {
            if let Some(i) = self.seen[self.from..].find(needle) {
                let end = self.from + i + needle.len();
                let text = self.seen[self.from..end].to_string();
                self.from = end;
                return Ok(text);
            }
            let left = deadline.saturating_duration_since(Instant::now());
            match self.rx.recv_timeout(left) {
                Ok(b) => self.seen.push_str(&String::from_utf8_lossy(&b)),
                Err(_) => {
                    let tail: String = self.seen.chars().rev().take(600).collect::<Vec<_>>().into_iter().rev().collect();
                    return Err(format!("no `{needle}` (the console ended with: {tail:?})"));
                }
            }
        }
    }

    fn type_line(&mut self, line: &str) -> Result<(), String> {
        let stdin = self.child.stdin.as_mut().ok_or("no stdin")?;
        stdin.write_all(format!("{line}\r").as_bytes()).and_then(|()| stdin.flush()).map_err(|e| format!("typing: {e}"))
    }
}

impl Drop for Session {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn measure(mut cmd: Command) -> Result<Figures, String> {
    let deadline = Instant::now() + TIMEOUT;
    let mut child = cmd
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .map_err(|e| format!("cannot start {}: {e}", cmd.get_program().to_string_lossy()))?;
    let (tx, rx) = mpsc::channel();
    let mut out = child.stdout.take().ok_or("no stdout")?;
    std::thread::spawn(move || {
        let mut buf = [0u8; 4096];
        while let Ok(n @ 1..) = out.read(&mut buf) {
            if tx.send(buf[..n].to_vec()).is_err() {
                break;
            }
        }
    });
    let mut s = Session { child, rx, seen: String::new(), from: 0 };
    s.wait_for(guest::MARKER, deadline)?;
    s.wait_for(guest::PROMPT, deadline)?;
    s.type_line("")?;
    s.wait_for(guest::PROMPT, deadline)?;
    let pid = s.child.id();
    let cpu_before = cpu_seconds(pid)?;
    // Busybox's dd has no timing line: the guest's uptime before and after.
    let uptime = "$(cut -d' ' -f1 /proc/uptime)";
    s.type_line(&format!("echo T0 {uptime}; dd if=/dev/sda of=/dev/null bs=1M count={MIB}; echo T1 {uptime}"))?;
    s.wait_for("\nT0 ", deadline)?;
    let t0 = s.wait_for("\n", deadline)?;
    s.wait_for("\nT1 ", deadline)?;
    let t1 = s.wait_for("\n", deadline)?;
    let cpu_seconds = cpu_seconds(pid)? - cpu_before;
    let secs = |t: &str| t.trim().parse::<f64>().map_err(|_| format!("cannot read the uptime `{}`", t.trim()));
    let guest_seconds = secs(&t1)? - secs(&t0)?;
    let _ = s.type_line("poweroff -f");
    Ok(Figures { guest_seconds, cpu_seconds })
}
