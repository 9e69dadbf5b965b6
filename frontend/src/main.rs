//! `ironpc`: run a PC.
//!
//! The machine runs with its serial console on the terminal and, with
//! `--display sdl`, its screen in a window (the machine then runs on a
//! worker thread: SDL keeps the main thread). Whatever ends the run, the
//! files of `--screenshot-on-exit` and `--vga-text-dump` are written.

mod console;
mod drives;
mod exit_files;
mod options;
mod window;

use anyhow::{Context, Result};
use clap::{error::ErrorKind, Parser};
use ironpc::{ClockMode, Config, Exit, InputPacing, KernelBoot, Machine, MachineError, StopRequest};
use options::{Display, KernelEntry, Options, SerialInput, Sink};
use std::path::PathBuf;
use std::process::ExitCode;

fn main() -> ExitCode {
    env_logger::Builder::from_env(env_logger::Env::default().default_filter_or("warn")).format_timestamp(None).init();
    let opts = match Options::try_parse() {
        Ok(o) => o,
        Err(e) if matches!(e.kind(), ErrorKind::DisplayHelp | ErrorKind::DisplayVersion) => {
            let _ = e.print();
            return ExitCode::SUCCESS;
        }
        Err(e) => {
            // One line naming the problem, not clap's whole usage text.
            let text = e.to_string();
            let mut lines = text.lines();
            let mut first = lines.next().unwrap_or("invalid arguments").trim_start_matches("error: ").to_owned();
            // "the following required arguments were not provided:" is
            // followed by the arguments, one per line.
            if first.ends_with(':') {
                if let Some(next) = lines.next() {
                    first = format!("{first} {}", next.trim());
                }
            }
            eprintln!("ironpc: {first} (see ironpc --help)");
            return ExitCode::from(2);
        }
    };
    match run(opts) {
        Ok(code) => code,
        Err(e) => {
            eprintln!("ironpc: {e:#}");
            ExitCode::FAILURE
        }
    }
}

/// The host end of a byte stream the guest writes.
fn open_sink(sink: &Sink) -> Result<Option<Box<dyn std::io::Write + Send>>> {
    Ok(match sink {
        Sink::None => None,
        Sink::Stdio => Some(Box::new(std::io::stdout())),
        Sink::File(path) => {
            let f = std::fs::File::create(path).with_context(|| format!("cannot create {}", path.display()))?;
            Some(Box::new(std::io::BufWriter::new(f)))
        }
    })
}

/// SeaBIOS from the image cache or the Debian package.
fn default_bios() -> Result<PathBuf> {
    let exe = std::env::current_exe().ok();
    let paths = ironpc::bios::default_bios_paths(exe.as_deref());
    if let Some(p) = paths.iter().find(|p| p.is_file()) {
        return Ok(p.clone());
    }
    let list: Vec<String> = paths.iter().map(|p| p.display().to_string()).collect();
    anyhow::bail!(
        "no --bios given and SeaBIOS not found at {} (run `cargo xtask images` or install the Debian package seabios)",
        list.join(" or ")
    )
}

/// The `--kernel`, `--initrd` and `--append` files and text.
fn read_kernel(opts: &Options) -> Result<Option<KernelBoot>> {
    let Some(path) = &opts.kernel else { return Ok(None) };
    let image = std::fs::read(path).with_context(|| format!("cannot read kernel {}", path.display()))?;
    if ironpc::bios::multiboot::is_multiboot_kernel(&image) {
        let mut k = multiboot_kernel(path, image, opts)?;
        k.via_firmware = opts.kernel_entry == KernelEntry::Firmware;
        return Ok(Some(k));
    }
    let initrd = match &opts.initrd {
        Some(p) => Some(std::fs::read(p).with_context(|| format!("cannot read initrd {}", p.display()))?),
        None => None,
    };
    let via_firmware = opts.kernel_entry == KernelEntry::Firmware;
    Ok(Some(KernelBoot { image, initrd, cmdline: opts.append.clone(), via_firmware, modules: Vec::new() }))
}

/// A multiboot kernel as QEMU's `-kernel` takes it: `--initrd` is a module
/// list ("file args,file2", ",," for a comma), and the kernel's command
/// line starts with its file name.
fn multiboot_kernel(path: &std::path::Path, image: Vec<u8>, opts: &Options) -> Result<KernelBoot> {
    let list = opts.initrd.as_ref().map(|p| p.to_string_lossy().into_owned()).unwrap_or_default();
    let mut modules = Vec::new();
    for spec in ironpc::bios::multiboot::parse_module_list(&list) {
        let data = std::fs::read(&spec.path).with_context(|| format!("cannot read multiboot module {}", spec.path))?;
        modules.push(ironpc::bios::multiboot::Module { data, cmdline: spec.cmdline });
    }
    let cmdline = format!("{} {}", path.display(), opts.append);
    Ok(KernelBoot { image, initrd: None, cmdline, via_firmware: false, modules })
}

fn run(opts: Options) -> Result<ExitCode> {
    let display = options::resolve_display(opts.display, cfg!(feature = "sdl"), options::display_available())
        .map_err(anyhow::Error::msg)?;
    match display {
        Display::None => run_machine(&opts, |_| {}),
        Display::Sdl => window::run(opts),
    }
}

/// Tells the board a window feeds the guest's keyboard and mouse, so that
/// a guest idling with nothing scheduled waits for keys rather than
/// stopping, and shows its screen, so that the display refreshes at the
/// guest's frame rate; a virtual clock then idles at the host's pace, so
/// that keys are held as long in the guest as at the keyboard.
fn attach_input(machine: &mut Machine) {
    machine.board.input_attached = true;
    machine.board.display_watched = true;
    machine.board.clock.pace_to_host(true);
}

/// Builds the machine of `opts`, hands it to `ready` (the window takes
/// its host handles there), runs it, writes the exit files and returns
/// the exit status.
fn run_machine(opts: &Options, ready: impl FnOnce(&mut Machine)) -> Result<ExitCode> {
    let bios_path = match &opts.bios {
        Some(p) => p.clone(),
        None => default_bios()?,
    };
    let bios = std::fs::read(&bios_path).with_context(|| format!("cannot read firmware {}", bios_path.display()))?;
    let kernel = read_kernel(opts)?;
    let debugcon = open_sink(&opts.debugcon)?.map(|w| (opts.debugcon_port, w));
    let serial_ports = opts.serial_ports().map_err(anyhow::Error::msg)?;
    let serial = open_sink(&serial_ports[0])?;
    let drives = opts.drives.open().map_err(anyhow::Error::msg)?;
    // The VGA's option ROM, where installed (without it the VGA has none).
    let exe = std::env::current_exe().ok();
    let vga_bios = ironpc::bios::default_vga_bios_paths(exe.as_deref()).iter().find_map(|p| std::fs::read(p).ok());
    let config = Config {
        debugcon,
        exit_port: opts.exit_port,
        clock: opts.clock.into(),
        serial,
        kernel,
        ide: drives.ide,
        floppy: drives.floppy,
        vga_bios,
        ..Config::new(opts.memory.0, bios)
    };
    let kernel_path = opts.kernel.as_deref().unwrap_or_else(|| std::path::Path::new("?")).display();
    let mut machine = Machine::new(config).map_err(|e| match e {
        MachineError::Kernel(e) => anyhow::anyhow!("cannot boot kernel {kernel_path}: {e}"),
        MachineError::FirmwareBoot(e) => anyhow::anyhow!("cannot boot kernel {kernel_path}: {e}"),
        e => anyhow::anyhow!("cannot start a machine with firmware {}: {e}", bios_path.display()),
    })?;
    for (n, sink) in serial_ports.iter().enumerate().skip(1) {
        machine.board.serial_out[n] = open_sink(sink)?;
    }
    machine.no_reboot = opts.no_reboot;
    machine.board.set_cmos_boot_order(drives.cmos_boot_order);
    let raw_mode = attach_console(&mut machine, &serial_ports, opts.clock.into(), opts.serial_input)?;
    ready(&mut machine);
    let exit = machine.run(opts.max_instructions);
    // The exit files show the last picture.
    machine.refresh_screen();
    drop(raw_mode);
    // Every way out writes the disks back; a failure is the exit status.
    let flushed = machine.flush_disks().map_err(|e| eprintln!("ironpc: cannot write the disk images back: {e}"));
    let status = match exit {
        Exit::DebugExit(status) => ExitCode::from(status as u8),
        Exit::PowerOff => {
            log::info!("the guest powered the machine off");
            ExitCode::SUCCESS
        }
        Exit::TripleFault { cs, eip } => {
            eprintln!("ironpc: triple fault at {cs:04x}:{eip:08x}; the machine stopped (--no-reboot)");
            ExitCode::from(2)
        }
        // As QEMU's -no-reboot: a guest that reboots has finished.
        Exit::Reboot => ExitCode::SUCCESS,
        Exit::Stopped(StopRequest::Quit) => ExitCode::SUCCESS,
        Exit::Stopped(StopRequest::Signal(signal)) => ExitCode::from(console::signal_status(signal)),
        Exit::HaltedForever { cs, eip } => {
            eprintln!("ironpc: the CPU halted at {cs:04x}:{eip:08x} with nothing to wake it; the machine stopped");
            ExitCode::from(2)
        }
        Exit::InstructionLimit => {
            let (cs, eip) = (machine.cpu.state.seg[1].selector, machine.cpu.state.rip);
            eprintln!("ironpc: stopped after {} instructions at {cs:04x}:{eip:08x} (--max-instructions)", machine.cpu.icount);
            ExitCode::from(3)
        }
    };
    let screen = &machine.board.screen;
    for note in exit_files::write(screen, opts.screenshot_on_exit.as_deref(), opts.vga_text_dump.as_deref()) {
        eprintln!("ironpc: {note}");
    }
    Ok(if flushed.is_ok() { status } else { ExitCode::FAILURE })
}

/// Wires the host to the machine: signals end it cleanly; stdin feeds the
/// COM port on stdio, through raw mode when stdin is a terminal (returned:
/// the terminal is restored when it drops).
fn attach_console(
    machine: &mut Machine,
    ports: &[Sink],
    clock: ClockMode,
    input: SerialInput,
) -> Result<Option<console::RawMode>> {
    let link = machine.board.host.clone();
    console::spawn_signal_handler(link.clone()).context("cannot set up signal handling")?;
    let Some(com) = ports.iter().position(|s| matches!(s, Sink::Stdio)) else {
        return Ok(None);
    };
    let terminal = console::stdin_is_terminal();
    let script = input == SerialInput::Script && clock == ClockMode::Virtual && !terminal;
    let pacing = if script { InputPacing::Script } else { InputPacing::Live };
    machine.board.connect_serial_input(com, pacing);
    let raw = if terminal { Some(console::enter_raw_mode().context("cannot put the terminal in raw mode")?) } else { None };
    console::spawn_stdin_reader(link, terminal);
    Ok(raw)
}
