//! `ironpc`: run a PC.
//!
//! At this stage the machine is bare: a CPU, RAM, the firmware given with
//! `--bios`, a debug console and an isa-debug-exit port. The window and
//! the full chipset arrive with their issues.

mod options;

use anyhow::{Context, Result};
use clap::{error::ErrorKind, Parser};
use ironpc::{Config, Exit, Machine};
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

fn run(opts: Options) -> Result<ExitCode> {
    if opts.display != Display::None {
        anyhow::bail!("only --display none is available in this build");
    }
    let bios = std::fs::read(&opts.bios).with_context(|| format!("cannot read firmware {}", opts.bios.display()))?;
    let debugcon = open_sink(&opts.debugcon)?.map(|w| (opts.debugcon_port, w));
    let serial = open_sink(&opts.serial)?;
    let config = Config { memory: opts.memory.0, bios, debugcon, exit_port: opts.exit_port, clock: opts.clock.into(), serial };
    let mut machine =
        Machine::new(config).with_context(|| format!("cannot start a machine with firmware {}", opts.bios.display()))?;
    let exit = machine.run(opts.max_instructions);
    Ok(match exit {
        Exit::DebugExit(status) => ExitCode::from(status as u8),
        Exit::PowerOff => {
            log::info!("the guest powered the machine off");
            ExitCode::SUCCESS
        }
        Exit::TripleFault { cs, eip } => {
            eprintln!("ironpc: triple fault at {cs:04x}:{eip:08x}; the machine stopped");
            ExitCode::from(2)
        }
        Exit::HaltedForever { cs, eip } => {
            eprintln!("ironpc: the CPU halted at {cs:04x}:{eip:08x} with nothing to wake it; the machine stopped");
            ExitCode::from(2)
        }
        Exit::InstructionLimit => {
            eprintln!("ironpc: stopped after {} instructions (--max-instructions)", machine.cpu.icount);
            ExitCode::from(3)
        }
    })
}
