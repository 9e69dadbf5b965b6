//! Debian's i386 kernel with `console=tty0` on the VGA text screen: SeaBIOS
//! runs the VGA BIOS (mode 03h), loads the kernel and the busybox
//! initramfs from fw_cfg (as QEMU's `-kernel` does), the kernel's VGA
//! console (vgacon, from the boot parameters' screen_info the real-mode
//! setup filled through INT 10h) prints its boot messages into text
//! memory, and the initramfs's /init prints its marker on /dev/console,
//! which is tty0. QEMU (`-append "console=tty0"`) shows the same last
//! lines: "Freeing unused kernel image ...", "Run /init as init process",
//! then the marker.
//!
//! Slow: 6.8 G instructions on the virtual clock (the kernel's
//! decompressor alone takes 2.3 G; between "Switched to clocksource tsc"
//! and "clk: Disabling unused clocks" the kernel spends 3 s, as on QEMU),
//! 220 s in a debug build on a shared host. Images from `cargo xtask
//! images`.

mod common;

use common::{guest, image, MARKER};
use ironpc::{Config, KernelBoot, Machine};

const CHUNK: u64 = 200_000_000;
const MAX_INSTRUCTIONS: u64 = 15_000_000_000;

#[test]
fn linux_boot_messages_and_the_initramfs_marker_show_on_the_vga_text_screen() {
    let Some(bios) = common::seabios() else {
        return;
    };
    let read = |name: &str| std::fs::read(image(name)).unwrap_or_else(|e| panic!("cannot read {name}: {e}"));
    let config = Config {
        kernel: Some(KernelBoot {
            image: read(guest::KERNEL),
            initrd: Some(read(guest::INITRAMFS)),
            cmdline: "console=tty0".into(),
            via_firmware: true,
            modules: Vec::new(),
        }),
        vga_bios: Some(read(guest::VGABIOS)),
        ..Config::new(256 << 20, bios)
    };
    let mut m = Machine::new(config).expect("cannot build the machine");
    let started = std::time::Instant::now();
    let text = common::run_until(
        &mut m,
        (CHUNK, MAX_INSTRUCTIONS),
        |m, _| Some(common::screen_text(m)).filter(|t| t.contains(MARKER)),
        |m| format!("no marker; screen:\n{}", common::screen_text(m)),
    );
    eprintln!("marker on the screen after {} instructions, {:.1?}", m.cpu.icount, started.elapsed());
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 25, "80x25:\n{text}");
    let mut rest = text.as_str();
    for line in ["Freeing unused kernel image", "Run /init as init process", MARKER] {
        match rest.find(line) {
            Some(at) => rest = &rest[at + line.len()..],
            None => panic!("missing (or out of order): {line:?} in:\n{text}"),
        }
    }
    let stamped = rows.iter().filter(|r| r.starts_with("[ ") && r.contains("] ")).count();
    assert!(stamped >= 10, "kernel messages with their timestamps fill the screen:\n{text}");
    let frame = m.board.screen.frame();
    assert_eq!((frame.width, frame.height), (720, 400), "mode 03h");
}
