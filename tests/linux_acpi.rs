//! Debian's i386 kernel powers ironpc off through ACPI: SeaBIOS runs first
//! (it programs the PCI functions and builds its ACPI tables, as it does
//! before any boot), then the test loads the kernel and initramfs by the
//! Linux 32-bit boot protocol (Documentation/arch/x86/boot.rst: the setup
//! header copied into a zero page, an E820 map, the command line, flat
//! 32-bit segments __BOOT_CS 0x10 / __BOOT_DS 0x18, ESI = the zero page)
//! and enters it. The initramfs runs `poweroff -f` from the command line;
//! the machine must stop with [`Exit::PowerOff`].
//!
//! Slow in the interpreter (Debian's 686 kernel: 6.7 G instructions, about
//! two minutes) and needs the images: ignored; run with `IRONPC_KERNEL=...
//! IRONPC_INITRD=... cargo test --release --test linux_acpi -- --ignored
//! --nocapture`. The initramfs is the one `cargo xtask images` builds,
//! whose /init runs the `ironpc_run=` commands.

mod common;

use common::Capture;
use ironpc::cpu::state::{attr, reg, sreg, Segment, TableReg};
use ironpc::{Config, Exit, Machine};

const MEMORY: u64 = 128 << 20;
const ZERO_PAGE: u64 = 0x1_0000;
const CMDLINE: u64 = 0x2_0000;
const GDT: u64 = 0x5000;
const KERNEL: u64 = 0x10_0000;
const INITRD: u64 = 0x600_0000;

/// SeaBIOS's E820 map from its log: (start, end, type).
fn e820_from_log(log: &str) -> Vec<(u64, u64, u32)> {
    let tail = log.rsplit("e820 map has").next().unwrap_or("");
    tail.lines()
        .skip(1)
        .map_while(|l| {
            let (_, rest) = l.split_once(": ")?;
            let (start, rest) = rest.split_once(" - ")?;
            let (end, kind) = rest.split_once(" = ")?;
            Some((
                u64::from_str_radix(start.trim(), 16).ok()?,
                u64::from_str_radix(end.trim(), 16).ok()?,
                kind.split_whitespace().next()?.parse().ok()?,
            ))
        })
        .collect()
}

#[test]
#[ignore = "needs a kernel and initramfs (IRONPC_KERNEL, IRONPC_INITRD); slow"]
fn linux_poweroff_ends_the_machine() {
    let (Ok(kernel), Ok(initrd)) = (std::env::var("IRONPC_KERNEL"), std::env::var("IRONPC_INITRD")) else {
        eprintln!("skipped: set IRONPC_KERNEL and IRONPC_INITRD (a bzImage and an initramfs running `ironpc_run=`)");
        return;
    };
    let kernel = std::fs::read(&kernel).unwrap_or_else(|e| panic!("cannot read {kernel}: {e}"));
    let initrd = std::fs::read(&initrd).unwrap_or_else(|e| panic!("cannot read {initrd}: {e}"));
    let (log, serial) = (Capture::default(), Capture::default());
    let config = Config {
        debugcon: Some((0x402, Box::new(log.clone()))),
        serial: Some(Box::new(serial.clone())),
        ..Config::new(MEMORY, common::seabios().expect("SeaBIOS"))
    };
    let mut m = Machine::new(config).expect("machine");
    common::run_until(
        &mut m,
        (5_000_000, 400_000_000),
        |_, _| log.text().contains("Booting from ").then_some(()),
        |_| format!("SeaBIOS did not reach its boot stage:\n{}", log.text()),
    );
    let e820 = e820_from_log(&log.text());
    assert!(!e820.is_empty(), "no E820 map in the log");

    // The zero page: the setup header where it is in the image.
    assert_eq!(&kernel[0x202..0x206], b"HdrS", "not a bzImage");
    let setup_sects = if kernel[0x1F1] == 0 { 4 } else { usize::from(kernel[0x1F1]) };
    let header_end = 0x202 + usize::from(kernel[0x201]);
    let mut zp = vec![0u8; 4096];
    zp[0x1F1..header_end].copy_from_slice(&kernel[0x1F1..header_end]);
    zp[0x210] = 0xFF; // type_of_loader: undefined
    zp[0x211] &= !0x20; // loadflags: QUIET_FLAG off
    let cmdline = b"console=ttyS0 earlyprintk=serial,ttyS0 ironpc_run=\"poweroff -f\"\0";
    zp[0x228..0x22C].copy_from_slice(&(CMDLINE as u32).to_le_bytes());
    zp[0x218..0x21C].copy_from_slice(&(INITRD as u32).to_le_bytes());
    zp[0x21C..0x220].copy_from_slice(&(initrd.len() as u32).to_le_bytes());
    zp[0x1E8] = e820.len() as u8;
    for (i, (start, end, kind)) in e820.iter().enumerate() {
        let e = 0x2D0 + 20 * i;
        zp[e..e + 8].copy_from_slice(&start.to_le_bytes());
        zp[e + 8..e + 16].copy_from_slice(&(end - start).to_le_bytes());
        zp[e + 16..e + 20].copy_from_slice(&kind.to_le_bytes());
    }
    m.mem.write(ZERO_PAGE, &zp);
    m.mem.write(CMDLINE, cmdline);
    m.mem.write(KERNEL, &kernel[(setup_sects + 1) * 512..]);
    m.mem.write(INITRD, &initrd);
    // GDT: null, null, __BOOT_CS (flat code), __BOOT_DS (flat data).
    let gdt: [u64; 4] = [0, 0, 0x00CF_9A00_0000_FFFF, 0x00CF_9200_0000_FFFF];
    m.mem.write(GDT, &gdt.iter().flat_map(|d| d.to_le_bytes()).collect::<Vec<_>>());

    // Enter the 32-bit entry point in flat protected mode, IF clear.
    let icount = m.cpu.icount;
    m.cpu.reset();
    m.cpu.icount = icount;
    let s = &mut m.cpu.state;
    s.cr0 |= 1;
    s.gdtr = TableReg { base: GDT, limit: 0x1F };
    let flat = |selector, a| Segment { base: 0, limit: 0xFFFF_FFFF, selector, attr: a };
    let data = attr::P | attr::S | attr::RW | attr::ACCESSED | attr::DB | attr::G;
    for r in [sreg::ES, sreg::SS, sreg::DS, sreg::FS, sreg::GS] {
        s.seg[r] = flat(0x18, data);
    }
    s.seg[sreg::CS] = flat(0x10, data | attr::CODE);
    s.cpl = 0;
    s.set_flags(0x2);
    s.rip = u64::from(u32::from_le_bytes([kernel[0x214], kernel[0x215], kernel[0x216], kernel[0x217]]));
    s.gpr = [0; 16];
    s.gpr[reg::RSI] = ZERO_PAGE;

    let started = std::time::Instant::now();
    let exit = m.run(Some(m.cpu.icount + 20_000_000_000));
    let out = serial.text();
    println!("{out}");
    println!("exit {exit:?} after {} instructions, {:?}", m.cpu.icount, started.elapsed());
    assert_eq!(exit, Exit::PowerOff, "serial:\n{out}");
}
