//! SeaBIOS (Debian's `bios.bin`, unmodified) reading ironpc's fw_cfg, and
//! booting a Linux-shaped kernel through the `linuxboot.bin` option ROM,
//! on the virtual clock.
//!
//! SeaBIOS prints its log on the debug console at 0x402; the expected
//! lines are the ones it prints under `qemu-system-i386 -M pc -kernel`
//! (src/fw/paravirt.c "Found QEMU fw_cfg", "QEMU fw_cfg DMA interface
//! supported", "qemu/e820: ..."; src/boot.c "Booting from ROM...").
//!
//! The kernel is `tests/roms/fakelinux.asm`: a bzImage with a valid setup
//! header whose setup code checks the boot_params the loader left
//! (loader type, heap, command line, initrd address and size), copies
//! the first bytes of the protected-mode kernel and of the initrd below
//! 1 MiB through the BIOS (INT 15h AH=87h), prints what it found on the
//! debug console and exits through isa-debug-exit. Under
//! `qemu-system-i386 -M pc -m 64 -kernel fakelinux.bin -initrd ... -append
//! ... -device isa-debug-exit,iobase=0xf4` it prints the same lines (the
//! initrd address aside: QEMU 7.2 left 0x20000 bytes above this kernel's
//! initrd, 0x28000 above Debian's; ironpc always leaves 0x28000).

mod common;

use common::{seabios, Capture};
use ironpc::{Config, Exit, KernelBoot, Machine};

const MEMORY: u64 = 64 << 20;
const DEBUGCON: u16 = 0x402;
const EXIT_PORT: u16 = 0xF4;
/// SeaBIOS reaches its boot within a few tens of millions of instructions.
const MAX_INSTRUCTIONS: u64 = 400_000_000;

/// Runs SeaBIOS with `kernel`; returns how the run ended and the debug
/// console's text.
fn run_seabios(bios: Vec<u8>, kernel: Option<KernelBoot>, max: u64) -> (Exit, String) {
    let console = Capture::default();
    let config = Config {
        debugcon: Some((DEBUGCON, Box::new(console.clone()))),
        exit_port: Some(EXIT_PORT),
        kernel,
        ..Config::new(MEMORY, bios)
    };
    let mut m = Machine::new(config).expect("cannot build the machine");
    let exit = m.run(Some(max));
    let text = console.text();
    if std::env::var_os("IRONPC_SHOW_LOG").is_some() {
        eprintln!("{exit:?} after {} instructions; debug console:\n{text}", m.cpu.icount);
    }
    (exit, text)
}

#[test]
fn seabios_reads_fw_cfg() {
    let Some(bios) = seabios() else { return };
    let (exit, log) = run_seabios(bios, None, 150_000_000);
    for line in [
        "Found QEMU fw_cfg",
        "QEMU fw_cfg DMA interface supported",
        "qemu/e820: addr 0x0000000000000000 len 0x0000000004000000 [RAM]",
        // Nothing to boot: each device fails, then SeaBIOS gives up (no
        // reboot: etc/boot-fail-wait is -1).
        "Booting from Hard Disk...",
        "Booting from Floppy...",
        "No bootable device.",
    ] {
        assert!(log.contains(line), "missing {line:?} ({exit:?}); log:\n{log}");
    }
}

/// Where ironpc puts an initrd of `size` bytes in `MEMORY` (the rule of
/// bios/src/linuxboot.rs: page aligned, ending below the top 0x28000 bytes
/// of RAM, which SeaBIOS keeps for its tables).
fn initrd_addr(size: u64) -> u64 {
    (MEMORY - 0x28000 - size) & !0xFFF
}

#[test]
fn seabios_boots_a_kernel_through_linuxboot_rom() {
    let Some(bios) = seabios() else { return };
    let initrd = b"INITRD-CONTENTS!and the rest of the initramfs".to_vec();
    let size = initrd.len() as u64;
    let kernel = KernelBoot {
        image: common::assemble("fakelinux", &[]),
        initrd: Some(initrd),
        cmdline: "console=ttyS0 panic=-1 marker=fw_cfg".into(),
        via_firmware: true,
        modules: Vec::new(),
    };
    let (exit, log) = run_seabios(bios, Some(kernel), MAX_INSTRUCTIONS);
    assert_eq!(exit, Exit::DebugExit(1), "log:\n{log}");
    for line in [
        "Found QEMU fw_cfg".to_string(),
        // bootorder names the ROM first.
        "1: /rom@genroms/linuxboot.bin".into(),
        "Searching bootorder for: /rom@genroms/linuxboot.bin".into(),
        "Booting from ROM...".into(),
        // What the setup code found: QEMU's loader id, CAN_USE_HEAP with the
        // heap up to the command line at 0x20000, the stack below it.
        "fakelinux: loader=B0 loadflags=81 heap_end_ptr=FE00 sp=FFF0 ss=ds:yes".into(),
        "fakelinux: cmdline=console=ttyS0 panic=-1 marker=fw_cfg".into(),
        format!("fakelinux: ramdisk_image={:08X} ramdisk_size={size:08X}", initrd_addr(size)),
        // The loaded bytes, read back through the BIOS.
        "fakelinux: kernel=KERNEL-PM-CODE!! initrd=INITRD-CONTENTS!".into(),
    ] {
        assert!(log.contains(&line), "missing {line:?}; log:\n{log}");
    }
}

/// Debian's kernel through SeaBIOS, to the busybox prompt or as far as it
/// gets: run
/// with `IRONPC_KERNEL=path/to/vmlinuz [IRONPC_INITRD=...]
/// [IRONPC_MAX_INSTRUCTIONS=N] cargo test
/// --test fw_cfg_boot -- --ignored --nocapture`; prints the serial output.
#[test]
#[ignore]
fn debian_kernel_through_seabios() {
    let (Some(bios), Some(k)) = (seabios(), std::env::var_os("IRONPC_KERNEL")) else { return };
    let kernel = KernelBoot {
        image: std::fs::read(k).expect("kernel"),
        initrd: std::env::var_os("IRONPC_INITRD").map(|p| std::fs::read(p).expect("initrd")),
        cmdline: "console=ttyS0 earlyprintk=serial".into(),
        via_firmware: true,
        modules: Vec::new(),
    };
    let serial = Capture::default();
    let console = Capture::default();
    let config = Config {
        debugcon: Some((DEBUGCON, Box::new(console.clone()))),
        exit_port: Some(EXIT_PORT),
        serial: Some(Box::new(serial.clone())),
        kernel: Some(kernel),
        ..Config::new(MEMORY, bios)
    };
    let mut m = Machine::new(config).expect("cannot build the machine");
    let max = std::env::var("IRONPC_MAX_INSTRUCTIONS").ok().and_then(|v| v.parse().ok()).unwrap_or(20_000_000_000u64);
    // Run in steps until a shell prompt appears on the serial port.
    let mut exit = Exit::InstructionLimit;
    while m.cpu.icount < max && !serial.text().contains("\n/ # ") {
        exit = m.run(Some((m.cpu.icount + 200_000_000).min(max)));
        if exit != Exit::InstructionLimit {
            break;
        }
    }
    eprintln!("{exit:?} at {} instructions\n--- debugcon\n{}\n--- serial\n{}", m.cpu.icount, console.text(), serial.text());
}
