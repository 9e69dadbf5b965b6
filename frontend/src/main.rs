//! `ironpc`: run a PC.
//!
//! At this stage the machine is bare: a CPU, RAM, the firmware given with
//! `--bios`, a debug console and an isa-debug-exit port. The window and
//! the full chipset arrive with their issues.

mod options;

use anyhow::{Context, Result};
use clap::{error::ErrorKind, Parser};
use ironpc::{Config, Exit, KernelBoot, Machine};
use options::{Display, Options, Sink};
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
            let first = text.lines().next().unwrap_or("invalid arguments").trim_start_matches("error: ");
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
    if opts.display != Display::None {
        anyhow::bail!("only --display none is available in this build");
    }
    let bios = std::fs::read(&opts.bios).with_context(|| format!("cannot read firmware {}", opts.bios.display()))?;
    let debugcon = open_sink(&opts.debugcon)?.map(|w| (opts.debugcon_port, w));
    let serial = open_sink(&opts.serial)?;
    let kernel = match &opts.kernel {
        Some(path) => {
            let image = std::fs::read(path).with_context(|| format!("cannot read kernel {}", path.display()))?;
            if ironpc::bios::multiboot::is_multiboot_kernel(&image) {
                Some(multiboot_kernel(path, image, &opts)?)
            } else {
                Some(KernelBoot {
                    image,
                    initrd: match &opts.initrd {
                        Some(p) => Some(std::fs::read(p).with_context(|| format!("cannot read initrd {}", p.display()))?),
                        None => None,
                    },
                    cmdline: opts.append.clone(),
                    via_firmware: false,
                    modules: Vec::new(),
                })
            }
        }
        None => None,
    };
    let config =
        Config { memory: opts.memory.0, bios, debugcon, exit_port: opts.exit_port, clock: opts.clock.into(), serial, kernel };
    let mut machine =
        Machine::new(config).with_context(|| format!("cannot start a machine with firmware {}", opts.bios.display()))?;
    let exit = machine.run(opts.max_instructions);
    Ok(match exit {
        Exit::DebugExit(status) => ExitCode::from(status as u8),
        Exit::TripleFault { cs, eip } => {
            eprintln!("ironpc: triple fault at {cs:04x}:{eip:08x}; the machine stopped");
            ExitCode::from(2)
        }
        Exit::HaltedForever { cs, eip } => {
            eprintln!("ironpc: the CPU halted at {cs:04x}:{eip:08x} with nothing to wake it; the machine stopped");
            ExitCode::from(2)
        }
        Exit::InstructionLimit => {
            let (cs, eip) = (machine.cpu.state.seg[1].selector, machine.cpu.state.rip);
            eprintln!("ironpc: stopped after {} instructions at {cs:04x}:{eip:08x} (--max-instructions)", machine.cpu.icount);
            ExitCode::from(3)
        }
    })
}
