//! Debian's i386 686 kernel boots with the busybox initramfs (both from
//! `cargo xtask images`) to a shell on COM1: the test waits for the
//! initramfs's marker, checks that commands passed on the kernel command
//! line ran with their spaces and `;` intact, types
//! `uname -a; cat /proc/cpuinfo; echo $((6*7))`, checks the answers,
//! interrupts a `sleep` with Ctrl-C, and `poweroff -f` ends the machine
//! with status 0.
//!
//! The expected CPU is what ironpc's CPUID answers (cpu/src/cpuid.rs), as
//! Linux reports it. `linux_boot_matches_qemu` runs the same driver and
//! expectations on qemu-system-i386 given the same CPUID (`-cpu base,...`),
//! which proves the test itself.

mod common;

use common::{guest, image, manifest_entry, Console, Emulator, MARKER, PROMPT, RUN_PARAM};
use std::time::Duration;

/// Commands for /init: single quotes keep the double space, `;` separates.
const RUN: &str = "echo 'run: two  spaces'; echo run: $((2+3))";

fn boot_to_shell_and_power_off(emulator: Emulator, timeout: Duration) {
    let (kernel, initrd) = (image(guest::KERNEL), image(guest::INITRAMFS));
    let append = format!("console=ttyS0 {RUN_PARAM}=\"{RUN}\"");
    let mut console = Console::spawn(common::boot_command(emulator, &kernel, &initrd, &append));
    let check = |r: Result<String, String>| r.unwrap_or_else(|e| panic!("{emulator:?}: {e}"));

    check(console.wait_for(MARKER, timeout));
    let marker_at = console.elapsed();
    check(console.wait_for("\nrun: two  spaces", timeout));
    check(console.wait_for("\nrun: 5", timeout));
    check(console.wait_for(PROMPT, timeout));

    console.type_line("uname -a; cat /proc/cpuinfo; echo $((6*7))");
    let text = check(console.wait_for("\n42", timeout));
    let text = text + &check(console.wait_for(PROMPT, timeout));
    let lines: Vec<&str> = text.lines().map(|l| l.trim_end_matches('\r')).collect();
    assert!(lines.contains(&"42"), "{emulator:?}: no line `42` in:\n{text}");
    check_uname(&lines, &text);
    check_cpuinfo(emulator, &lines, &text);

    // The shell owns the console as its controlling terminal: Ctrl-C
    // interrupts the foreground job and the rest of its command list.
    console.type_line("echo sleep-starts; sleep 1000; echo not-interrupted");
    check(console.wait_for("\nsleep-starts", timeout));
    console.type_bytes(b"\x03");
    let text = check(console.wait_for(PROMPT, timeout));
    assert!(!text.contains("not-interrupted"), "{emulator:?}: Ctrl-C did not stop the job:\n{text}");

    console.type_line("poweroff -f");
    let status = console.wait_exit(timeout).unwrap_or_else(|e| panic!("{emulator:?}: {e}"));
    assert_eq!(status.code(), Some(0), "{emulator:?}: power-off status; the console printed:\n{}", console.tail());
    eprintln!("{emulator:?}: marker after {marker_at:.1?}, power-off after {:.1?}", console.elapsed());
}

/// `uname -a` names the kernel the package installs: the release is the
/// package name without `linux-image-`, and Debian's version string
/// carries the package version.
fn check_uname(lines: &[&str], text: &str) {
    let (_, package, version) = manifest_entry(guest::KERNEL);
    let release = package.strip_prefix("linux-image-").expect("a linux-image-* package");
    let uname = lines.iter().find(|l| l.starts_with("Linux ")).unwrap_or_else(|| panic!("no uname line in:\n{text}"));
    let words: Vec<&str> = uname.split_whitespace().collect();
    assert_eq!(words.get(2), Some(&release), "kernel release in `{uname}`");
    assert!(uname.contains(&format!("Debian {version} ")), "package version {version} in `{uname}`");
    assert!(uname.ends_with(" i686 GNU/Linux"), "machine in `{uname}`");
}

/// /proc/cpuinfo shows ironpc's signature, brand string and features.
fn check_cpuinfo(emulator: Emulator, lines: &[&str], text: &str) {
    let cpu = common::ironpc_cpu();
    let field = |name: &str| -> String {
        lines
            .iter()
            .filter_map(|l| l.split_once(':'))
            .find(|(k, _)| k.trim() == name)
            .map(|(_, v)| v.trim().to_string())
            .unwrap_or_else(|| panic!("no `{name}` in /proc/cpuinfo:\n{text}"))
    };
    assert_eq!(field("vendor_id"), "GenuineIntel");
    assert_eq!(field("cpu family"), cpu.family.to_string());
    assert_eq!(field("model"), cpu.model.to_string());
    assert_eq!(field("stepping"), cpu.stepping.to_string());
    assert_eq!(field("model name"), cpu.brand);
    let flags = field("flags");
    let shown: Vec<&str> = flags.split_whitespace().collect();
    for f in &cpu.flags {
        // Linux hides PAT on family 6 models below 15 (an erratum of the
        // Pentium III and Core Solo/Duo: arch/x86/kernel/cpu/intel.c,
        // early_init_intel); QEMU's TCG cannot offer VME.
        if *f == "pat" && cpu.family == 6 && cpu.model < 15 {
            assert!(!shown.contains(f), "Linux shows pat on family 6 model {}", cpu.model);
            continue;
        }
        if *f == "vme" && emulator == Emulator::Qemu {
            continue;
        }
        assert!(shown.contains(f), "flag `{f}` missing from `{flags}`");
    }
}

/// Entered directly by ironpc's own loader (no firmware runs; ironpc
/// provides the ACPI tables).
#[test]
fn linux_boots_to_a_shell_and_powers_off() {
    // The interpreter on the virtual clock: generous, and `IRONPC_TEST_TIMEOUT`
    // raises it.
    let ironpc = Emulator::Ironpc { virtual_clock: true, via_seabios: false };
    boot_to_shell_and_power_off(ironpc, common::host_timeout(Duration::from_secs(1800)));
}

/// Loaded by unmodified SeaBIOS from fw_cfg with ironpc's linuxboot.bin
/// option ROM; SeaBIOS builds the ACPI tables.
#[test]
fn linux_boots_through_seabios_to_a_shell_and_powers_off() {
    let ironpc = Emulator::Ironpc { virtual_clock: true, via_seabios: true };
    boot_to_shell_and_power_off(ironpc, common::host_timeout(Duration::from_secs(1800)));
}

#[test]
#[ignore = "the reference run: needs qemu-system-i386"]
fn linux_boot_matches_qemu() {
    boot_to_shell_and_power_off(Emulator::Qemu, common::host_timeout(Duration::from_secs(180)));
}
