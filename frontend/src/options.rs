//! The command line.

use clap::{Parser, ValueEnum};
use std::path::PathBuf;

/// Run an x86 PC.
#[derive(Parser, Debug)]
#[command(name = "ironpc", version, about)]
pub struct Options {
    /// Firmware image, mapped so that it ends at 4 GiB (its last 128 KiB
    /// also below 1 MiB); the CPU starts at its reset vector F000:FFF0.
    #[arg(long, value_name = "FILE")]
    pub bios: PathBuf,

    /// A Linux kernel (bzImage) or a multiboot (v1) kernel to boot, loaded
    /// by ironpc as a boot loader would and entered in 32-bit protected mode.
    #[arg(long, value_name = "FILE")]
    pub kernel: Option<PathBuf>,

    /// An initial RAM disk for --kernel; for a multiboot kernel, its
    /// modules as QEMU takes them: "FILE ARGS,FILE2" (",," for a comma).
    #[arg(long, value_name = "FILE", requires = "kernel")]
    pub initrd: Option<PathBuf>,

    /// The kernel command line for --kernel.
    #[arg(long, value_name = "CMDLINE", requires = "kernel", default_value = "")]
    pub append: String,

    /// Guest RAM, with an optional K, M or G suffix.
    #[arg(long, short = 'm', default_value = "128M", value_parser = parse_size)]
    pub memory: Size,

    /// Where the screen goes. Only `none` exists in this build.
    #[arg(long, value_enum, default_value = "none")]
    pub display: Display,

    /// Debug console output: stdio, file:PATH or none.
    #[arg(long, default_value = "none", value_parser = parse_sink)]
    pub debugcon: Sink,

    /// COM1 (16550A UART at 0x3F8, IRQ 4) output: stdio, file:PATH or none.
    #[arg(long, default_value = "none", value_parser = parse_sink)]
    pub serial: Sink,

    /// I/O port of the debug console.
    #[arg(long, default_value = "0xe9", value_parser = parse_port)]
    pub debugcon_port: u16,

    /// Adds an isa-debug-exit device at PORT: a guest write of V exits with
    /// status (V << 1) | 1.
    #[arg(long, value_name = "PORT", value_parser = parse_port)]
    pub exit_port: Option<u16>,

    /// Stop after this many guest instructions (exit status 3).
    #[arg(long, value_name = "N")]
    pub max_instructions: Option<u64>,

    /// Time source: the host's real time, or virtual time derived from
    /// executed instructions (a run then repeats exactly).
    #[arg(long, value_enum, default_value = "host")]
    pub clock: Clock,
}

/// `--clock` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Clock {
    Host,
    Virtual,
}

impl From<Clock> for ironpc::ClockMode {
    fn from(c: Clock) -> Self {
        match c {
            Clock::Host => Self::Host,
            Clock::Virtual => Self::Virtual,
        }
    }
}

/// `--display` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Display {
    None,
    Sdl,
}

/// A byte count.
#[derive(Clone, Copy, Debug)]
pub struct Size(pub u64);

/// Where a byte stream goes.
#[derive(Clone, Debug)]
pub enum Sink {
    None,
    Stdio,
    File(PathBuf),
}

fn parse_size(s: &str) -> Result<Size, String> {
    let (digits, shift) = match s.chars().last() {
        Some('k' | 'K') => (&s[..s.len() - 1], 10),
        Some('m' | 'M') => (&s[..s.len() - 1], 20),
        Some('g' | 'G') => (&s[..s.len() - 1], 30),
        _ => (s, 20),
    };
    let n: u64 = digits.parse().map_err(|_| format!("`{s}` is not a size like 64M or 1G"))?;
    n.checked_mul(1 << shift).map(Size).ok_or_else(|| format!("`{s}` is too large"))
}

fn parse_port(s: &str) -> Result<u16, String> {
    let v = match s.strip_prefix("0x").or_else(|| s.strip_prefix("0X")) {
        Some(hex) => u16::from_str_radix(hex, 16),
        None => s.parse(),
    };
    v.map_err(|_| format!("`{s}` is not an I/O port (0..=65535, decimal or 0x hex)"))
}

fn parse_sink(s: &str) -> Result<Sink, String> {
    match s {
        "none" => Ok(Sink::None),
        "stdio" => Ok(Sink::Stdio),
        _ => match s.strip_prefix("file:") {
            Some(p) if !p.is_empty() => Ok(Sink::File(PathBuf::from(p))),
            _ => Err(format!("`{s}` is not stdio, file:PATH or none")),
        },
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sizes_default_to_megabytes() {
        assert_eq!(parse_size("16").unwrap().0, 16 << 20);
        assert_eq!(parse_size("512K").unwrap().0, 512 << 10);
        assert_eq!(parse_size("1G").unwrap().0, 1 << 30);
        assert!(parse_size("lots").is_err());
    }

    #[test]
    fn ports_and_sinks() {
        assert_eq!(parse_port("0xf4").unwrap(), 0xF4);
        assert_eq!(parse_port("233").unwrap(), 233);
        assert!(parse_port("70000").is_err());
        assert!(matches!(parse_sink("file:/tmp/x").unwrap(), Sink::File(_)));
        assert!(parse_sink("file:").is_err());
    }
}
