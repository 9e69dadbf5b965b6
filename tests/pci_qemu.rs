//! The PCI side of the board against the reference machine: the ROM
//! `tests/roms/pci.asm` dumps the three functions' configuration spaces and
//! probes the PIIX4 PM block, GPE0 and APM ports. [`QEMU`] is what it prints
//! on `qemu-system-i386 -M pc -m 128 -nodefaults -serial null` (QEMU 7.2);
//! ironpc must print the same, except for one byte on purpose: DEVACTB's
//! APMC_EN (0x5B of 00:01.3) starts set because ironpc has no SMM, as QEMU
//! sets it when it has none (under TCG QEMU has SMM). `cargo test --test
//! pci_qemu -- --ignored` runs the ROM on QEMU and checks [`QEMU`] is still
//! its output.

mod common;

use common::Capture;
use ironpc::{Config, Exit, Machine};
use std::path::Path;
use std::process::Command;

const QEMU: &str = "\
12378086 00000000 06000002 00000000 00000000 00000000 00000000 00000000 
00000000 00000000 00000000 11001AF4 00000000 00000000 00000000 00000000 
00000000 00000000 00000000 00000000 00000000 10000000 00000000 00000000 
00000000 00000000 00000000 00000000 00020000 00000000 00000000 00000000 
00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 
00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 
00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 
00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 
70008086 02000000 06010000 00800000 00000000 00000000 00000000 00000000 
00000000 00000000 00000000 11001AF4 00000000 00000000 00000000 00000000 
00000000 00000000 00000000 0003004D 00000000 00000000 00000000 00000000 
80808080 00000000 00000200 00000000 00000080 0C0C0000 00000002 00000000 
00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 
00000008 00000000 0000000F 00000000 00000000 00000000 00000000 00000000 
00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 
00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 
71138086 02800000 06800003 00000000 00000000 00000000 00000000 00000000 
00000000 00000000 00000000 11001AF4 00000000 00000000 00000000 00000100 
00000001 00000000 00000000 00000000 00000000 00000000 00000000 10000000 
60000000 08000000 00000000 00000000 00000000 00000000 00000000 00000000 
00000000 00000000 00000000 00000000 0000B101 00000000 00000000 00000000 
00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 
00000000 00000000 00000000 00000000 00090000 00000000 00000000 00000000 
00000000 00000000 00000000 00000000 00000000 00000000 00000000 00000000 
0521 0001 F1 0000 FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF FFFFFFFF 
FFFF0000 5A 
";

/// The one line where ironpc departs from QEMU on purpose (see above).
const QEMU_LINE_19: &str = "00000001 00000000 00000000 00000000 00000000 00000000 00000000 10000000 ";
const IRONPC_LINE_19: &str = "00000001 00000000 00000000 00000000 00000000 00000000 02000000 10000000 ";

const DEBUGCON: u16 = 0xE9;
const EXIT_PORT: u16 = 0xF4;
/// Guest status 0 through isa-debug-exit.
const PASSED: Exit = Exit::DebugExit(1);

#[test]
fn pci_functions_and_pm_ports_look_as_on_qemu() {
    let bios = common::assemble("pci", &[]);
    let out = Capture::default();
    let config =
        Config { debugcon: Some((DEBUGCON, Box::new(out.clone()))), exit_port: Some(EXIT_PORT), ..Config::new(128 << 20, bios) };
    let mut m = Machine::new(config).expect("cannot build the machine");
    let exit = m.run(Some(2_000_000));
    let got = out.text();
    let want = QEMU.replace(QEMU_LINE_19, IRONPC_LINE_19);
    for (n, (g, w)) in got.lines().zip(want.lines()).enumerate() {
        assert_eq!(g, w, "line {} differs; whole output:\n{got}", n + 1);
    }
    assert_eq!(got.lines().count(), want.lines().count(), "output:\n{got}");
    assert_eq!(exit, PASSED);
}

/// The reference: [`QEMU`] is what QEMU prints.
#[test]
#[ignore = "needs qemu-system-i386"]
fn the_expected_text_is_qemus() {
    let rom = Path::new(env!("CARGO_TARGET_TMPDIR")).join(format!("pci.{}.bin", std::process::id()));
    std::fs::write(&rom, common::assemble("pci", &[])).expect("write the ROM for QEMU");
    let log = rom.with_extension("qemu.txt");
    let status = Command::new("qemu-system-i386")
        .args(["-M", "pc", "-m", "128", "-nodefaults", "-serial", "null", "-display", "none", "-bios"])
        .arg(&rom)
        .arg("-debugcon")
        .arg(format!("file:{}", log.display()))
        .args(["-device", "isa-debug-exit,iobase=0xf4"])
        .status()
        .expect("run qemu-system-i386");
    assert_eq!(status.code(), Some(1), "guest status 0 through isa-debug-exit");
    let got = std::fs::read_to_string(&log).expect("QEMU's debug console output");
    let _ = (std::fs::remove_file(&rom), std::fs::remove_file(&log));
    assert_eq!(got, QEMU);
}
