//! `cargo xtask bench interp`: interpreter speed on a bare-metal integer
//! loop, in MIPS, with QEMU's TCG on the same ROM beside it when
//! `qemu-system-i386` is installed.
//!
//! ironpc runs through the library so the instruction count is exact.
//! QEMU's time is measured twice, with the loop and with an empty loop, and
//! the difference is what the loop cost, so start-up time does not count.

use ironpc::{Config, Exit, Machine};
use std::{path::Path, process::Command, time::Instant};

/// Loop iterations in the timed run.
const ITERATIONS: u64 = 30_000_000;
/// Instructions in one turn of the loop in interp.asm.
const LOOP_INSNS: u64 = 8;

pub fn run(args: &[String]) -> Result<(), String> {
    match args.first().map(String::as_str) {
        Some("interp") | None => interp(),
        Some("boot") => crate::bench_boot::run(&args[1..]),
        Some("disk") => crate::bench_disk::run(&args[1..]),
        Some(other) => Err(format!("unknown benchmark `{other}` (available: interp, boot, disk)")),
    }
}

fn interp() -> Result<(), String> {
    let dir = crate::target_dir().join("bench");
    std::fs::create_dir_all(&dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let src = crate::workspace_root().join("xtask/bench/interp.asm");
    let (full_path, empty_path) = (dir.join("interp.rom"), dir.join("interp-empty.rom"));
    let full = assemble(&src, &full_path, ITERATIONS)?;
    let empty = assemble(&src, &empty_path, 1)?;

    let (insns, secs) = run_ironpc(&full)?;
    let (insns_empty, _) = run_ironpc(&empty)?;
    let loop_insns = insns - insns_empty;
    if loop_insns != (ITERATIONS - 1) * LOOP_INSNS {
        return Err(format!("ironpc ran {loop_insns} loop instructions, expected {}", (ITERATIONS - 1) * LOOP_INSNS));
    }
    let mips = insns as f64 / secs / 1e6;
    println!("interp: integer loop, {ITERATIONS} iterations x {LOOP_INSNS} instructions");
    println!("{:<28} {:>10} {:>14} {:>10}", "engine", "seconds", "instructions", "MIPS");
    println!("{:<28} {:>10.3} {:>14} {:>10.1}", "ironpc interpreter", secs, insns, mips);
    match qemu_loop_seconds(&full_path, &empty_path) {
        Ok(q) => {
            println!("{:<28} {:>10.3} {:>14} {:>10.1}", "qemu-system-i386 (TCG)", q, loop_insns, loop_insns as f64 / q / 1e6)
        }
        Err(e) => println!("{:<28} {e}", "qemu-system-i386 (TCG)"),
    }
    Ok(())
}

fn assemble(src: &Path, out: &Path, iterations: u64) -> Result<Vec<u8>, String> {
    let status = Command::new("nasm")
        .args(["-f", "bin", &format!("-DITERATIONS={iterations}"), "-o"])
        .arg(out)
        .arg(src)
        .status()
        .map_err(|e| format!("cannot run nasm ({e}); run scripts/setup-debian.sh"))?;
    if !status.success() {
        return Err(format!("nasm failed on {}", src.display()));
    }
    std::fs::read(out).map_err(|e| format!("cannot read {}: {e}", out.display()))
}

/// Runs the ROM to its exit; returns instructions and seconds.
fn run_ironpc(rom: &[u8]) -> Result<(u64, f64), String> {
    let config = Config { exit_port: Some(0xF4), ..Config::new(16 << 20, rom.to_vec()) };
    let mut m = Machine::new(config).map_err(|e| e.to_string())?;
    let t = Instant::now();
    let exit = m.run(Some(u64::MAX));
    let secs = t.elapsed().as_secs_f64();
    match exit {
        Exit::DebugExit(0x21) => Ok((m.cpu.icount, secs)),
        other => Err(format!("the benchmark ROM ended with {other:?} after {} instructions", m.cpu.icount)),
    }
}

fn qemu_seconds(rom: &Path) -> Result<f64, String> {
    let t = Instant::now();
    let out = Command::new("qemu-system-i386")
        .args(["-display", "none", "-m", "16", "-device", "isa-debug-exit,iobase=0xf4,iosize=4", "-bios"])
        .arg(rom)
        .output()
        .map_err(|_| "not installed (apt-get install qemu-system-x86)".to_string())?;
    let secs = t.elapsed().as_secs_f64();
    if out.status.code() != Some(0x21) {
        return Err(format!("exited with {:?}: {}", out.status.code(), String::from_utf8_lossy(&out.stderr)));
    }
    Ok(secs)
}

/// Best of three for each ROM, then the difference.
fn qemu_loop_seconds(full: &Path, empty: &Path) -> Result<f64, String> {
    let best =
        |p: &Path| -> Result<f64, String> { (0..3).map(|_| qemu_seconds(p)).try_fold(f64::MAX, |m, r| r.map(|s| m.min(s))) };
    Ok(best(full)? - best(empty)?)
}
