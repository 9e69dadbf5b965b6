//! The command line.

use clap::{ArgAction, Parser, ValueEnum};
use std::path::PathBuf;

/// Run an x86 PC.
#[derive(Parser, Debug)]
#[command(name = "ironpc", version, about, after_help = CONSOLE_HELP)]
pub struct Options {
    /// Firmware image, mapped so that it ends at 4 GiB (its last 128 KiB
    /// also below 1 MiB); the CPU starts at its reset vector F000:FFF0.
    /// Default: SeaBIOS's bios.bin from the image cache (`cargo xtask
    /// images`, <dir of ironpc>/../images/) or /usr/share/seabios.
    #[arg(long, value_name = "FILE")]
    pub bios: Option<PathBuf>,

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

    /// How --kernel starts: `direct`, ironpc loads it as a boot loader
    /// would and enters it in 32-bit protected mode (no firmware runs);
    /// `firmware`, SeaBIOS loads it from fw_cfg with its linuxboot option
    /// ROM, as QEMU's -kernel does.
    #[arg(long, value_enum, default_value = "direct")]
    pub kernel_entry: KernelEntry,

    /// Guest RAM, with an optional K, M or G suffix.
    #[arg(long, short = 'm', default_value = "128M", value_parser = parse_size)]
    pub memory: Size,

    /// Where the screen goes: `sdl`, a window (keys below); `none`, no
    /// screen (the serial console, --screenshot-on-exit and
    /// --vga-text-dump still work). [default: sdl when this build has SDL
    /// and DISPLAY or WAYLAND_DISPLAY is set, else none]
    #[arg(long, value_enum)]
    pub display: Option<Display>,

    /// Saves the guest's screen as a PNG file when ironpc exits, whatever
    /// ends it (guest power-off, the window's quit key or close button,
    /// Ctrl-A x, SIGINT, SIGTERM, --max-instructions).
    #[arg(long, value_name = "PATH")]
    pub screenshot_on_exit: Option<PathBuf>,

    /// Writes the guest's text screen as plain text, a line per row, when
    /// ironpc exits (as --screenshot-on-exit). With the screen in a
    /// graphics mode the file is written empty and a line on stderr says
    /// why.
    #[arg(long, value_name = "PATH")]
    pub vga_text_dump: Option<PathBuf>,

    /// Debug console output: stdio, file:PATH or none.
    #[arg(long, default_value = "none", value_parser = parse_sink)]
    pub debugcon: Sink,

    /// A COM port's host end: stdio, file:PATH (output only) or none.
    /// Repeat it, as QEMU's -serial, for the next port: COM1 (0x3F8, IRQ
    /// 4), COM2 (0x2F8, IRQ 3), COM3 (0x3E8, IRQ 4), COM4 (0x2E8, IRQ 3).
    /// At most one may be stdio. [default: stdio for COM1]
    #[arg(long, value_name = "DEV", value_parser = parse_sink, action = ArgAction::Append)]
    pub serial: Vec<Sink>,

    /// How stdin reaches the serial port when it is not a terminal: `live`
    /// delivers bytes as they arrive; `script` (with --clock virtual)
    /// makes the guest wait for each byte it has room for, so the same
    /// input file gives the same run every time. Give a script its whole
    /// input up front and close stdin: a guest waiting for input does not
    /// run on.
    #[arg(long, value_enum, default_value = "live")]
    pub serial_input: SerialInput,

    /// A guest reboot (port 0x92, the keyboard controller's reset, 0xCF9)
    /// ends ironpc with status 0, and a triple fault with status 2 and a
    /// message, instead of resetting the machine.
    #[arg(long)]
    pub no_reboot: bool,

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

    /// Disks, CD-ROMs, floppies and the boot order.
    #[command(flatten)]
    pub drives: crate::drives::DriveOptions,
}

/// The serial console, after the options in --help.
const CONSOLE_HELP: &str = "\
Serial console (--serial stdio):
  On a terminal, stdin is raw: keys go to the guest (Ctrl-C too), its
  output comes as it is written. Ctrl-A is the escape key:
    C-a h    list the escape keys
    C-a x    exit ironpc (status 0)
    C-a C-a  send C-a to the guest
  Otherwise (a pipe, a file) stdin's bytes go to the guest as they are and
  its end is no error. With --clock virtual the guest then receives them
  at points that depend only on the bytes, so a piped input replays
  exactly: once the guest enables its UART's receive interrupt, the
  machine waits for each byte the UART has room for. Give the whole input
  up front (a file, or a pipe written and closed).

Window (--display sdl):
  A click in the window grabs the mouse (the title says so).
    Ctrl-Alt-G  release the mouse grab
    Ctrl-Alt-S  save a screenshot: ironpc-screenshot-N.png in the current
                directory
    Ctrl-Alt-Q  quit ironpc (status 0), as closing the window does
  Every other key goes to the guest's keyboard.

Signals: SIGINT (unless the terminal is raw), SIGTERM and SIGHUP end
ironpc with output flushed and the terminal restored, status 128 + the
signal number (130, 143, 129).

Exit status: the guest's isa-debug-exit value; 0 on Ctrl-A x and, with
--no-reboot, on a guest reboot; 2 when the machine stops (triple fault
under --no-reboot, a CPU halted for good); 3 at --max-instructions; 1 on a
host-side error.";

/// The most COM ports a PC has.
pub const MAX_SERIAL: usize = 4;

impl Options {
    /// The host end of each COM port given, COM1 first (stdio when none
    /// is given).
    pub fn serial_ports(&self) -> Result<Vec<Sink>, String> {
        if self.serial.len() > MAX_SERIAL {
            return Err(format!("at most {MAX_SERIAL} --serial ports (COM1-COM4), {} given", self.serial.len()));
        }
        if self.serial.iter().filter(|s| matches!(s, Sink::Stdio)).count() > 1 {
            return Err("only one --serial port can be stdio".into());
        }
        Ok(if self.serial.is_empty() { vec![Sink::Stdio] } else { self.serial.clone() })
    }
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

/// `--serial-input` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum SerialInput {
    Live,
    Script,
}

/// `--kernel-entry` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum KernelEntry {
    Firmware,
    Direct,
}

/// `--display` choices.
#[derive(Clone, Copy, Debug, PartialEq, Eq, ValueEnum)]
pub enum Display {
    None,
    Sdl,
}

/// The display to use: the one asked for, if this build and host can
/// give it, or by default a window when both can. `sdl_built`: the build
/// has the `sdl` feature; `has_display`: DISPLAY or WAYLAND_DISPLAY is set.
pub fn resolve_display(asked: Option<Display>, sdl_built: bool, has_display: bool) -> Result<Display, String> {
    match asked {
        None if sdl_built && has_display => Ok(Display::Sdl),
        None | Some(Display::None) => Ok(Display::None),
        Some(Display::Sdl) if !sdl_built => {
            Err("--display sdl: this ironpc was built without SDL (cargo feature `sdl`); use --display none".into())
        }
        Some(Display::Sdl) if !has_display => {
            Err("--display sdl: no display to open a window on (neither DISPLAY nor WAYLAND_DISPLAY is set)".into())
        }
        Some(Display::Sdl) => Ok(Display::Sdl),
    }
}

/// Whether the environment names a display a window can open on.
pub fn display_available() -> bool {
    ["DISPLAY", "WAYLAND_DISPLAY"].iter().any(|v| std::env::var_os(v).is_some_and(|s| !s.is_empty()))
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
    fn serial_ports_default_to_com1_on_stdio_and_repeat_for_the_next() {
        let o = |args: &[&str]| Options::try_parse_from([&["ironpc", "--bios", "b"], args].concat()).unwrap();
        assert!(matches!(o(&[]).serial_ports().unwrap()[..], [Sink::Stdio]));
        let ports = o(&["--serial", "none", "--serial", "stdio", "--serial", "file:/tmp/c3"]).serial_ports().unwrap();
        assert!(matches!(ports[..], [Sink::None, Sink::Stdio, Sink::File(_)]));
        assert!(o(&["--serial", "stdio", "--serial", "stdio"]).serial_ports().is_err());
        let five = ["--serial", "none"].repeat(5);
        assert!(o(&five).serial_ports().unwrap_err().contains("at most 4"));
        assert!(!o(&[]).no_reboot);
        assert!(o(&["--no-reboot"]).no_reboot);
    }

    #[test]
    fn the_display_defaults_to_a_window_only_when_one_can_open() {
        use Display::{None as Headless, Sdl};
        assert_eq!(resolve_display(None, true, true), Ok(Sdl));
        assert_eq!(resolve_display(None, true, false), Ok(Headless));
        assert_eq!(resolve_display(None, false, true), Ok(Headless));
        assert_eq!(resolve_display(Some(Headless), true, true), Ok(Headless));
        assert_eq!(resolve_display(Some(Sdl), true, true), Ok(Sdl));
        assert!(resolve_display(Some(Sdl), false, true).unwrap_err().contains("built without SDL"));
        assert!(resolve_display(Some(Sdl), true, false).unwrap_err().contains("no display"));
    }

    #[test]
    fn display_and_exit_file_options() {
        let o = |args: &[&str]| Options::try_parse_from([&["ironpc", "--bios", "b"], args].concat()).unwrap();
        assert_eq!(o(&[]).display, None, "chosen at run time");
        assert_eq!(o(&["--display", "sdl"]).display, Some(Display::Sdl));
        assert_eq!(o(&["--display", "none"]).display, Some(Display::None));
        assert!(Options::try_parse_from(["ironpc", "--display", "gtk"]).is_err());
        let files = o(&["--screenshot-on-exit", "s.png", "--vga-text-dump", "t.txt"]);
        assert_eq!(files.screenshot_on_exit, Some(PathBuf::from("s.png")));
        assert_eq!(files.vga_text_dump, Some(PathBuf::from("t.txt")));
        assert_eq!((o(&[]).screenshot_on_exit, o(&[]).vga_text_dump), (None, None));
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
