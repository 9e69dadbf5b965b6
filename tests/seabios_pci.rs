//! SeaBIOS (Debian's `/usr/share/seabios/bios.bin`, 1.16) on the PCI side of
//! the board: it must find QEMU's i440FX by its IDs and subsystem, list and
//! initialise the PCI functions, route the PIRQs, use the PIIX4 ACPI
//! timer, shadow itself into RAM through the PAM registers and lock the
//! shadow read-only, reach its boot stage, and restart through 0xCF9.
//!
//! The expected lines are SeaBIOS's own `dprintf`s (src/fw/paravirt.c
//! `qemu_detect`, src/fw/pciinit.c, src/hw/timer.c `pmtimer_setup`,
//! src/post.c, src/boot.c, src/resume.c), as QEMU's `pc` machine produces
//! them (`qemu-system-i386 -M pc -nodefaults -debugcon file:q.log -global
//! isa-debugcon.iobase=0x402`), except where ironpc's machine differs by
//! design: no fw_cfg ACPI
//! tables, so the PM I/O block stays at SeaBIOS's default 0xB000 rather
//! than QEMU's 0x600.
//!
//! Skipped (with a message) where the image is not installed.

mod common;

use common::{assert_in_order, Capture};
use ironpc::{cpu::Bus, Config, Exit, Machine};

const MEMORY: u64 = 128 << 20;
/// Work between looks at the log.
const CHUNK: u64 = 5_000_000;
/// Generous bound: SeaBIOS reaches its boot stage in well under 100 M.
const MAX_INSTRUCTIONS: u64 = 400_000_000;

/// Runs SeaBIOS on the virtual clock until its log contains `until` (or
/// the instruction bound); returns the machine and the log.
fn run_seabios_until(until: &str) -> Option<(Machine, String)> {
    run_seabios_with(until, |_| {})
}

/// [`run_seabios_until`] with the machine adjusted before it starts.
fn run_seabios_with(until: &str, adjust: impl FnOnce(&mut Machine)) -> Option<(Machine, String)> {
    let bios = common::seabios()?;
    let log = Capture::default();
    let config = Config { debugcon: Some((0x402, Box::new(log.clone()))), ..Config::new(MEMORY, bios) };
    let mut m = Machine::new(config).expect("cannot build the machine");
    adjust(&mut m);
    let text = common::run_until(
        &mut m,
        (CHUNK, MAX_INSTRUCTIONS),
        |_, _| Some(log.text()).filter(|t| t.contains(until)),
        |_| format!("no {until:?}; log:\n{}", log.text()),
    );
    Some((m, text))
}

#[test]
fn seabios_finds_and_initialises_the_pci_functions_and_reaches_boot() {
    let Some((m, log)) = run_seabios_until("Booting from ") else {
        return;
    };
    assert_in_order(
        &log,
        &[
            // 00:00.0 with QEMU's subsystem 1af4:1100.
            "Running on QEMU (i440fx)",
            // make_bios_writable ran (PAM) and the init code moved to RAM.
            "Relocating init from 0x000e2120 to ",
            "=== PCI bus & bridge init ===",
            "PCI: pci_bios_init_bus_rec bus = 0x0",
            "=== PCI device probing ===",
            "Found 5 PCI devices (max PCI bus is 00)",
            "PCI: init bdf=00:00.0 id=8086:1237",
            "PCI: init bdf=00:01.0 id=8086:7000",
            // PIRQ A-D to 10, 10, 11, 11 and those lines level-triggered.
            "PIIX3/PIIX4 init: elcr=00 0c",
            // The IDE function, its bus-master block where QEMU's is.
            "PCI: init bdf=00:01.1 id=8086:7010",
            "PCI: init bdf=00:01.3 id=8086:7113",
            // PMBA = 0xB000 enabled through PMREGMISC.
            "Using pmtimer, ioport 0xb008",
            // The standard VGA, SeaBIOS's primary display.
            "PCI: init bdf=00:02.0 id=1234:1111",
            // Tables written into the shadowed F segment.
            "Copying PIR from ",
            "Copying ACPI RSDP from ",
            "Booting from ",
        ],
    );
    assert!(!log.contains("Unable to unlock ram"), "the shadow was unlocked:\n{log}");
    // The PIRQ routes SeaBIOS programmed.
    let routes: Vec<_> = (0..4).map(|n| m.board.pci.isa.pirq_route(n)).collect();
    assert_eq!(routes, [Some(10), Some(10), Some(11), Some(11)]);
    // make_bios_readonly: 0xF0000-0xFFFFF reads RAM, writes go nowhere.
    let pam = m.board.pci.host.pam_attrs();
    assert_eq!(pam[12..], [1; 4], "F segment write-protected: PAM {pam:?}");
    // The RSDP SeaBIOS copied into the F segment is in the shadow RAM.
    let at = log.split("Copying ACPI RSDP from ").nth(1).and_then(|l| l.split(" to 0x").nth(1)).expect("RSDP address");
    let addr = u64::from_str_radix(at.lines().next().unwrap_or("").trim(), 16).expect("RSDP address in hex");
    let mut sig = [0u8; 8];
    m.mem.read(addr, &mut sig);
    assert_eq!(&sig, b"RSD PTR ", "RSDP at {addr:#x}");
}

/// After "No bootable device" SeaBIOS waits 60 s (virtual) and reboots
/// through qemu_reboot: it restores its image in the shadow, writes 0x02
/// then 0x06 to 0xCF9, and starts again from the reset vector.
#[test]
fn seabios_reboots_through_cf9_and_runs_again() {
    // After the last boot device fails SeaBIOS reboots at once when told so
    // (QEMU's `-boot reboot-timeout=0`; ironpc's default, like QEMU's, is
    // to stop there).
    let zero_wait = |m: &mut Machine| m.board.fw_cfg.set_file("etc/boot-fail-wait", vec![0; 4]).expect("fw_cfg file");
    let Some((_m, log)) = run_seabios_with("Attempting a hard reboot\nSeaBIOS (version", zero_wait) else {
        return;
    };
    assert_in_order(&log, &["No bootable device.", "Rebooting.", "Attempting a hard reboot", "SeaBIOS (version"]);
    let second = log.split("Attempting a hard reboot").nth(1).unwrap_or("");
    assert_in_order(second, &["Running on QEMU (i440fx)", "Found 5 PCI devices", "Using pmtimer, ioport 0xb008"]);
}

/// Reads `len` bytes of guest memory.
fn peek(m: &Machine, addr: u64, len: usize) -> Vec<u8> {
    let mut b = vec![0; len];
    m.mem.read(addr, &mut b);
    b
}

fn le32(b: &[u8], at: usize) -> u32 {
    b.get(at..at + 4).map_or(0, |v| u32::from_le_bytes([v[0], v[1], v[2], v[3]]))
}

/// The ACPI tables SeaBIOS built: (signature, address) from the RSDT the
/// RSDP in the F segment points at (ACPI 1.0b 5.2.2-5.2.7).
fn acpi_tables(m: &Machine) -> Vec<([u8; 4], u64)> {
    let f = peek(m, 0xE_0000, 0x2_0000);
    let rsdp = (0..f.len() - 20).step_by(16).find(|&i| &f[i..i + 8] == b"RSD PTR ").expect("no RSDP below 1 MiB");
    let rsdt = u64::from(le32(&f, rsdp + 16));
    let header = peek(m, rsdt, 36);
    assert_eq!(&header[..4], b"RSDT");
    let body = peek(m, rsdt, le32(&header, 4) as usize);
    (36..body.len())
        .step_by(4)
        .map(|i| {
            let addr = u64::from(le32(&body, i));
            let sig = peek(m, addr, 4);
            ([sig[0], sig[1], sig[2], sig[3]], addr)
        })
        .collect()
}

/// The PM1a SLP_TYP of `\_S5` in an AML table: `Name(_S5_, Package() {
/// typ, ...})` as NameOp, "_S5_", PackageOp, a one-byte PkgLength, the
/// element count, then the first element (ZeroOp, OneOp or BytePrefix n).
fn s5_slp_typ(aml: &[u8]) -> Option<u8> {
    let at = aml.windows(4).position(|w| w == b"_S5_")?;
    let pkg = aml.get(at + 4..at + 9)?;
    (pkg[0] == 0x12).then_some(())?;
    match pkg[3] {
        0x00 => Some(0),
        0x01 => Some(1),
        0x0A => Some(pkg[4]),
        _ => None,
    }
}

/// What Linux does for `poweroff` (drivers/acpi/acpica: acpi_enable, then
/// acpi_enter_sleep_state(ACPI_STATE_S5)), following the tables SeaBIOS
/// built for this board: ACPI_ENABLE to SMI_CMD, wait for SCI_EN, then
/// SLP_TYP from `\_S5` with SLP_EN into PM1a_CNT. The machine stops with
/// [`Exit::PowerOff`].
#[test]
fn acpi_soft_off_by_seabios_tables_powers_the_machine_off() {
    let Some((mut m, _log)) = run_seabios_until("Booting from ") else {
        return;
    };
    let tables = acpi_tables(&m);
    let facp = tables.iter().find(|t| &t.0 == b"FACP").expect("no FADT").1;
    let fadt = peek(&m, facp, 116);
    // FADT (ACPI 1.0b 5.2.5): SCI_INT 46, SMI_CMD 48, ACPI_ENABLE 52,
    // PM1a_EVT_BLK 56, PM1a_CNT_BLK 64, PM_TMR_BLK 76.
    let sci = u16::from_le_bytes([fadt[46], fadt[47]]);
    let smi_cmd = le32(&fadt, 48) as u16;
    let acpi_enable = fadt[52];
    let pm1a_cnt = le32(&fadt, 64) as u16;
    assert_eq!((sci, smi_cmd, acpi_enable), (9, 0xB2, 0xF1));
    assert_eq!((le32(&fadt, 56), pm1a_cnt, le32(&fadt, 76)), (0xB000, 0xB004, 0xB008), "the PM block PMBA placed");
    // \_S5 is in SeaBIOS's SSDT (src/fw/ssdt-misc.dsl) or the DSDT.
    let dsdt = u64::from(le32(&fadt, 40));
    let s5 = tables
        .iter()
        .map(|t| t.1)
        .chain([dsdt])
        .find_map(|addr| {
            let len = le32(&peek(&m, addr, 8), 4) as usize;
            s5_slp_typ(&peek(&m, addr, len.min(1 << 20)))
        })
        .expect("no \\_S5 package");
    assert_eq!(s5, 0, "SeaBIOS's soft-off type, which the PIIX4 PM powers off on");

    let mem = &mut m.mem;
    m.board.io_write(mem, smi_cmd, 1, u32::from(acpi_enable));
    assert_eq!(m.board.io_read(mem, pm1a_cnt, 2) & 1, 1, "SCI_EN after ACPI_ENABLE");
    let cnt = m.board.io_read(mem, pm1a_cnt, 2);
    m.board.io_write(mem, pm1a_cnt, 2, (cnt & !(7 << 10)) | u32::from(s5) << 10);
    assert_ne!(m.run(Some(m.cpu.icount + CHUNK)), Exit::PowerOff, "SLP_TYP alone does nothing");
    m.board.io_write(&mut m.mem, pm1a_cnt, 2, (cnt & !(7 << 10)) | u32::from(s5) << 10 | 1 << 13);
    let icount = m.cpu.icount;
    assert_eq!(m.run(Some(icount + CHUNK)), Exit::PowerOff);
    assert_eq!(m.cpu.icount, icount, "a machine that is off runs nothing");
}
