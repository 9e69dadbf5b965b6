//! Host keyboard and mouse events reach Linux through the PS/2 devices as
//! a real keyboard and mouse would: SeaBIOS sets the 8042 up (translation
//! to set 1 on) and loads Debian's kernel and the busybox initramfs (both
//! from `cargo xtask images`); /init reads a line from the first virtual
//! terminal, whose input is the keyboard (the serial console stays on
//! ttyS0), then three bytes from /dev/input/mice, after loading the
//! kernel's psmouse module (appended to the initramfs). The test sends key
//! events for "hello" and Enter and one mouse motion through the library's
//! [`HostLink`](ironpc::HostLink), the way the window does, and reads what
//! Linux made of them on the serial console: the path is USB usage -> set
//! 2 (ps2_keymap) -> the 8042's translation -> atkbd -> the VT's line
//! discipline, and host motion -> PS/2 packet -> psmouse (which probes the
//! mouse and finds the IntelliMouse Explorer) -> mousedev.
//!
//! On the virtual clock, so the run is the same every time.
//!
//! `tests/roms/kbdwake.asm` checks the idle path: a guest halted with
//! nothing scheduled is woken by a key when a window is attached (the
//! host clock's wait returns on input, which is delivered before the CPU
//! runs on), and halts for good without one.

mod common;

use common::{cpio::Cpio, guest, image, Capture, MARKER, RUN_PARAM};
use ironpc::{ClockMode, Config, Exit, HostLink, InputEvent, KernelBoot, Machine};
use std::sync::mpsc;
use std::time::{Duration, Instant};

/// Instructions between checks of the serial output.
const STEP: u64 = 20_000_000;
/// Far more than the boot and the typing take (about 7 G instructions).
const LIMIT: u64 = 40_000_000_000;

/// Keyboard-page usages of h, e, l, l, o and Enter.
const HELLO: [u16; 6] = [0x0B, 0x08, 0x0F, 0x0F, 0x12, 0x28];

/// Runs until the serial output holds a whole line starting with
/// `prefix`; returns that line.
fn run_until(m: &mut Machine, serial: &Capture, prefix: &str) -> String {
    run_until_after(m, serial, "", prefix)
}

/// A serial line without its `\r` and the kernel's `[   1.234567] `.
fn without_timestamp(line: &str) -> &str {
    let line = line.trim_end_matches('\r');
    match line.strip_prefix('[').and_then(|l| l.split_once("] ")) {
        Some((time, rest)) if time.trim().parse::<f64>().is_ok() => rest,
        _ => line,
    }
}

/// [`run_until`], looking only at the lines after the first line `after`.
fn run_until_after(m: &mut Machine, serial: &Capture, after: &str, prefix: &str) -> String {
    loop {
        let text = serial.text();
        let mut lines = text.lines().filter(|_| text.ends_with('\n')).map(without_timestamp);
        if !after.is_empty() {
            lines.find(|&l| l == after);
        }
        if let Some(line) = lines.find(|l| l.starts_with(prefix)) {
            return line.trim_end_matches('\r').to_owned();
        }
        assert!(m.cpu.icount < LIMIT, "no `{prefix}` after {} instructions; serial:\n{text}", m.cpu.icount);
        let exit = m.run(Some(m.cpu.icount + STEP));
        assert_eq!(exit, Exit::InstructionLimit, "serial:\n{}", serial.text());
    }
}

#[test]
fn linux_reads_keys_typed_on_its_vt_and_mouse_motion() {
    let Some(bios) = common::seabios() else { return };
    let kernel = std::fs::read(image(guest::KERNEL)).expect("kernel");
    let mut initrd = std::fs::read(image(guest::INITRAMFS)).expect("initramfs");
    let mut modules = Cpio::default();
    modules.dir("lib");
    modules.dir("lib/modules");
    modules.file("lib/modules/psmouse.ko", 0o644, &std::fs::read(image(guest::PSMOUSE)).expect("psmouse.ko"));
    // An uncompressed archive after the gzip one is found only at a
    // 4-byte boundary.
    initrd.resize(initrd.len().next_multiple_of(4), 0);
    initrd.extend_from_slice(&modules.finish());
    // Each group's redirection opens the device before its first echo, so
    // input sent after the marker is not lost.
    let run = "insmod /lib/modules/psmouse.ko; \
               { echo tty1-open; read line; echo got:$line; } </dev/tty1; \
               { echo mice-open; od -An -tx1 -N3; } </dev/input/mice";
    let serial = Capture::default();
    let config = Config {
        serial: Some(Box::new(serial.clone())),
        kernel: Some(KernelBoot {
            image: kernel,
            initrd: Some(initrd),
            cmdline: format!("console=ttyS0 {RUN_PARAM}=\"{run}\""),
            via_firmware: true,
            modules: Vec::new(),
        }),
        ..Config::new(128 << 20, bios)
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

    run_until(&mut m, &serial, "mice-open");
    let mouse = run_until(&mut m, &serial, "input: ImExPS/2");
    assert_eq!(mouse.split(" as ").next(), Some("input: ImExPS/2 Generic Explorer Mouse"));
    // Right 5, down 3 (the host's y grows downward), left button held.
    m.board.host.send_input(InputEvent::Mouse { dx: 5, dy: 3, dz: 0, buttons: 1 });
    // mousedev's PS/2 packet: left button and Y's sign bit (it counts
    // upward again), X, Y.
    assert_eq!(run_until_after(&mut m, &serial, "mice-open", " "), " 29 05 fd", "serial:\n{}", serial.text());
}

/// `tests/roms/kbdwake.asm`, assembled with nasm.
fn kbdwake_rom() -> Vec<u8> {
    common::assemble("kbdwake", &[])
}

/// Runs kbdwake on its own thread; returns its debug console, the host
/// link, and the channel its exit comes on.
fn start_kbdwake(clock: ClockMode, input_attached: bool) -> (Capture, HostLink, mpsc::Receiver<Exit>) {
    let bios = kbdwake_rom();
    let log = Capture::default();
    let sink = log.clone();
    let (link_tx, link_rx) = mpsc::channel();
    let (exit_tx, exit_rx) = mpsc::channel();
    std::thread::spawn(move || {
        let config =
            Config { debugcon: Some((0xE9, Box::new(sink))), exit_port: Some(0xF4), clock, ..Config::new(1 << 20, bios) };
        let mut m = Machine::new(config).expect("machine");
        m.board.input_attached = input_attached;
        let _ = link_tx.send(m.board.host.clone());
        let _ = exit_tx.send(m.run(Some(10_000_000)));
    });
    let link = link_rx.recv().expect("the machine thread");
    (log, link, exit_rx)
}

#[test]
fn a_halted_guest_wakes_for_a_key_when_a_window_is_attached() {
    let (log, link, exit) = start_kbdwake(ClockMode::Host, true);
    let t0 = Instant::now();
    while log.text() != "h\n" {
        assert!(t0.elapsed() < Duration::from_secs(30), "kbdwake did not start: {:?}", log.text());
        std::thread::sleep(Duration::from_millis(10));
    }
    // Give it time to halt and wait; nothing else could wake it.
    std::thread::sleep(Duration::from_millis(100));
    assert!(exit.try_recv().is_err(), "the guest must still be waiting");
    link.send_input(InputEvent::Key { usage: 0x04, pressed: true });
    let got = exit.recv_timeout(Duration::from_secs(30));
    if got.is_err() {
        link.request_stop(ironpc::StopRequest::Quit);
    }
    // A's make code, set 1 after translation: 0x1E.
    assert_eq!(got, Ok(Exit::DebugExit(0x1E << 1 | 1)));
}

#[test]
fn without_a_window_a_halted_guest_with_nothing_scheduled_halts_for_good() {
    let (log, _link, exit) = start_kbdwake(ClockMode::Virtual, false);
    let got = exit.recv_timeout(Duration::from_secs(30)).expect("the machine stops");
    assert!(matches!(got, Exit::HaltedForever { cs: 0xF000, .. }), "{got:?}");
    assert_eq!(log.text(), "h\n");
}
