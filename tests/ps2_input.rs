//! Host keyboard and mouse events reach Linux through the PS/2 devices as
//! a real keyboard and mouse would: SeaBIOS sets the 8042 up (translation
//! to set 1 on) and loads Debian's kernel and the busybox initramfs (both
//! from `cargo xtask images`); /init reads a line from the first virtual
//! terminal, whose input is the keyboard (the serial console stays on
//! ttyS0). The test sends key events for "hello" and Enter through the
//! library's [`HostLink`](ironpc::HostLink), the way the window does, and
//! reads what Linux made of them on the serial console: the path is USB
//! usage -> set 2 (ps2_keymap) -> the 8042's translation -> atkbd -> the
//! VT's line discipline.
//!
//! The mouse has no such test yet: Debian's kernel has psmouse as a module
//! and the initramfs carries no modules (the board and device unit tests
//! cover the packets).
//!
//! On the virtual clock, so the run is the same every time.

mod common;

use common::{guest, image, Capture, MARKER, RUN_PARAM};
use ironpc::{ClockMode, Config, Exit, InputEvent, KernelBoot, Machine};

/// Instructions between checks of the serial output.
const STEP: u64 = 20_000_000;
/// Far more than the boot and the typing take (about 7 G instructions).
const LIMIT: u64 = 40_000_000_000;

/// Keyboard-page usages of h, e, l, l, o and Enter.
const HELLO: [u16; 6] = [0x0B, 0x08, 0x0F, 0x0F, 0x12, 0x28];

/// Runs until the serial output holds a whole line starting with
/// `prefix`; returns that line.
fn run_until(m: &mut Machine, serial: &Capture, prefix: &str) -> String {
    loop {
        let text = serial.text();
        if let Some(line) = text.lines().filter(|_| text.ends_with('\n')).find(|l| l.starts_with(prefix)) {
            return line.trim_end_matches('\r').to_owned();
        }
        assert!(m.cpu.icount < LIMIT, "no `{prefix}` after {} instructions; serial:\n{text}", m.cpu.icount);
        let exit = m.run(Some(m.cpu.icount + STEP));
        assert_eq!(exit, Exit::InstructionLimit, "serial:\n{}", serial.text());
    }
}

#[test]
fn linux_reads_keys_typed_on_its_vt() {
    let Some(bios) = common::seabios() else { return };
    let kernel = std::fs::read(image(guest::KERNEL)).expect("kernel");
    let initrd = std::fs::read(image(guest::INITRAMFS)).expect("initramfs");
    // The group's redirection opens the device before its first echo, so
    // input sent after the marker is not lost.
    let run = "{ echo tty1-open; read line; echo got:$line; } </dev/tty1";
    let serial = Capture::default();
    let config = Config {
        memory: 128 << 20,
        bios,
        debugcon: None,
        exit_port: None,
        clock: ClockMode::Virtual,
        serial: Some(Box::new(serial.clone())),
        kernel: Some(KernelBoot {
            image: kernel,
            initrd: Some(initrd),
            cmdline: format!("console=ttyS0 {RUN_PARAM}=\"{run}\""),
            via_firmware: true,
            modules: Vec::new(),
        }),
    };
    let mut m = Machine::new(config).expect("machine");

    run_until(&mut m, &serial, "tty1-open");
    let boot = serial.text();
    assert!(boot.contains(MARKER));
    assert!(boot.contains("input: AT Translated Set 2 keyboard"), "atkbd on the translated port:\n{boot}");

    // Each key down and up at once, as a fast typist: the board hands the
    // next event over when the guest has read the previous one's bytes.
    for usage in HELLO {
        for pressed in [true, false] {
            m.board.host.send_input(InputEvent::Key { usage, pressed });
        }
    }
    assert_eq!(run_until(&mut m, &serial, "got:"), "got:hello", "serial:\n{}", serial.text());
}
