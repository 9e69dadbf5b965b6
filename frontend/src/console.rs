//! The serial console in the terminal, as `qemu -nographic` presents it.
//!
//! * stdin is a terminal: raw mode (no echo, no line editing, Ctrl-C and
//!   Ctrl-Z are bytes for the guest), restored on every way out: normal
//!   return, panic (a hook), a second signal (the signal thread). Ctrl-A is
//!   the escape key: `Ctrl-A x` quits, `Ctrl-A h` lists the keys,
//!   `Ctrl-A Ctrl-A` sends one Ctrl-A.
//! * stdin is anything else (a pipe, a file, /dev/null): its bytes go to
//!   the guest as they are, and its end is no error.
//!
//! Host threads read stdin and take signals and hand both to the machine
//! through its [`HostLink`]; the machine's state never sees them.

use ironpc::{HostLink, StopRequest};
use rustix::termios::{self, OptionalActions, OutputModes, Termios};
use signal_hook::consts::{SIGHUP, SIGINT, SIGTERM};
use std::io::{Read, Write};
use std::sync::Mutex;

/// The escape key: Ctrl-A.
const ESCAPE: u8 = 0x01;

/// The list `Ctrl-A h` prints (raw mode: CR LF line ends).
pub const HELP: &str = "\r\nC-a h    print this help\r\nC-a x    exit ironpc\r\nC-a C-a  send C-a\r\n";

/// What one typed byte means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Key {
    /// A byte for the guest.
    Send(u8),
    /// Ctrl-A x.
    Quit,
    /// Ctrl-A h (or ?, as in QEMU).
    Help,
    /// Nothing yet (Ctrl-A, waiting for its second key) or an unknown
    /// escape, dropped as QEMU drops it.
    Nothing,
}

/// The escape-key state machine.
#[derive(Clone, Copy, Debug, Default)]
pub struct Escapes {
    /// The last byte was a lone Ctrl-A.
    armed: bool,
}

impl Escapes {
    pub fn key(&mut self, b: u8) -> Key {
        if !std::mem::take(&mut self.armed) {
            if b == ESCAPE {
                self.armed = true;
                return Key::Nothing;
            }
            return Key::Send(b);
        }
        match b {
            ESCAPE => Key::Send(ESCAPE),
            b'x' | b'X' => Key::Quit,
            b'h' | b'H' | b'?' => Key::Help,
            _ => Key::Nothing,
        }
    }
}

/// The terminal settings to put back, while raw mode is on.
static SAVED: Mutex<Option<Termios>> = Mutex::new(None);

/// Puts the terminal back as it was before raw mode, once; harmless when
/// raw mode is off.
pub fn restore_terminal() {
    let saved = SAVED.lock().unwrap_or_else(|e| e.into_inner()).take();
    if let Some(t) = saved {
        let _ = termios::tcsetattr(std::io::stdin(), OptionalActions::Now, &t);
    }
}

/// Raw mode while alive; the terminal comes back when it drops.
pub struct RawMode(());

impl Drop for RawMode {
    fn drop(&mut self) {
        restore_terminal();
    }
}

/// Whether stdin is a terminal.
pub fn stdin_is_terminal() -> bool {
    termios::isatty(std::io::stdin())
}

/// Switches the terminal on stdin to raw mode, as QEMU's stdio chardev
/// does: cfmakeraw, but output post-processing kept (a guest's bare LF
/// still starts a new line).
pub fn enter_raw_mode() -> std::io::Result<RawMode> {
    let stdin = std::io::stdin();
    let saved = termios::tcgetattr(&stdin)?;
    let mut raw = saved.clone();
    raw.make_raw();
    raw.output_modes |= OutputModes::OPOST | OutputModes::ONLCR;
    *SAVED.lock().unwrap_or_else(|e| e.into_inner()) = Some(saved);
    // A panic anywhere must not leave the user's shell raw.
    let previous = std::panic::take_hook();
    std::panic::set_hook(Box::new(move |info| {
        restore_terminal();
        previous(info);
    }));
    termios::tcsetattr(&stdin, OptionalActions::Now, &raw)?;
    Ok(RawMode(()))
}

/// Reads stdin on a host thread and hands its bytes to `link`. With
/// `escapes` (a raw terminal), Ctrl-A keys are interpreted.
pub fn spawn_stdin_reader(link: HostLink, escapes: bool) {
    std::thread::spawn(move || pump(std::io::stdin(), std::io::stdout(), &link, escapes));
}

/// Hands what `input` gives to `link` until its end (which closes the
/// serial input) or, with `escapes`, until Ctrl-A x (which asks the
/// machine to stop). The escape help goes to `out`.
pub fn pump(mut input: impl Read, mut out: impl Write, link: &HostLink, escapes: bool) {
    let mut buf = [0u8; 512];
    let mut keys = Escapes::default();
    loop {
        let n = match input.read(&mut buf) {
            Ok(0) => break,
            Ok(n) => n,
            Err(e) if e.kind() == std::io::ErrorKind::Interrupted => continue,
            Err(e) => {
                log::warn!("stdin: {e}; serial input closed");
                break;
            }
        };
        if !escapes {
            link.send_serial(&buf[..n]);
            continue;
        }
        let mut bytes = Vec::with_capacity(n);
        for &b in &buf[..n] {
            match keys.key(b) {
                Key::Send(b) => bytes.push(b),
                Key::Nothing => {}
                Key::Help => {
                    let _ = out.write_all(HELP.as_bytes()).and_then(|_| out.flush());
                }
                Key::Quit => {
                    link.send_serial(&bytes);
                    link.request_stop(StopRequest::Quit);
                    return;
                }
            }
        }
        link.send_serial(&bytes);
    }
    link.close_serial();
}

/// The status a signal's ending gives, as a shell reports it.
pub fn signal_status(signal: i32) -> u8 {
    (128 + signal).clamp(0, 255) as u8
}

/// Turns SIGINT, SIGTERM and SIGHUP into a stop request: the run loop ends
/// at its next check and everything is flushed and restored on the way
/// out. A second signal (a machine that does not stop) ends the process at
/// once, terminal restored.
pub fn spawn_signal_handler(link: HostLink) -> std::io::Result<()> {
    let mut signals = signal_hook::iterator::Signals::new([SIGINT, SIGTERM, SIGHUP])?;
    std::thread::spawn(move || {
        for signal in signals.forever() {
            if link.stop_request().is_some() {
                restore_terminal();
                let _ = std::io::stdout().flush();
                std::process::exit(i32::from(signal_status(signal)));
            }
            link.request_stop(StopRequest::Signal(signal));
        }
    });
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use ironpc::Next;

    fn keys(input: &[u8]) -> Vec<Key> {
        let mut e = Escapes::default();
        input.iter().map(|&b| e.key(b)).collect()
    }

    #[test]
    fn plain_bytes_pass_including_ctrl_c() {
        assert_eq!(keys(b"a\x03\r"), vec![Key::Send(b'a'), Key::Send(3), Key::Send(b'\r')]);
    }

    #[test]
    fn ctrl_a_x_quits_and_ctrl_a_h_helps() {
        assert_eq!(keys(b"\x01x"), vec![Key::Nothing, Key::Quit]);
        assert_eq!(keys(b"\x01h"), vec![Key::Nothing, Key::Help]);
        assert_eq!(keys(b"\x01?"), vec![Key::Nothing, Key::Help]);
    }

    #[test]
    fn ctrl_a_ctrl_a_sends_one_ctrl_a_and_disarms() {
        assert_eq!(keys(b"\x01\x01x"), vec![Key::Nothing, Key::Send(1), Key::Send(b'x')]);
    }

    #[test]
    fn an_unknown_escape_is_dropped_and_the_next_key_is_plain() {
        assert_eq!(keys(b"\x01qx"), vec![Key::Nothing, Key::Nothing, Key::Send(b'x')]);
    }

    #[test]
    fn an_escape_split_across_reads_still_counts() {
        let mut e = Escapes::default();
        assert_eq!(e.key(ESCAPE), Key::Nothing);
        assert_eq!(e.key(b'x'), Key::Quit);
    }

    #[test]
    fn help_lists_every_key_it_handles() {
        for k in ["C-a h", "C-a x", "C-a C-a"] {
            assert!(HELP.contains(k), "{k}");
        }
        assert!(!HELP.contains("C-a c"), "no monitor in this build");
    }

    /// Everything the link queued for the guest, and whether it ended.
    fn drain(link: &HostLink) -> (Vec<u8>, bool) {
        let mut got = Vec::new();
        loop {
            match link.next_serial(false) {
                Next::Byte(b) => got.push(b),
                Next::Empty => return (got, false),
                Next::End => return (got, true),
            }
        }
    }

    #[test]
    fn piped_input_passes_untouched_and_its_end_closes_the_serial_input() {
        let link = HostLink::new();
        let mut help = Vec::new();
        pump(&b"ls\x01x\x03\n"[..], &mut help, &link, false);
        assert_eq!(drain(&link), (b"ls\x01x\x03\n".to_vec(), true));
        assert_eq!(link.stop_request(), None, "no escapes on a pipe");
        assert!(help.is_empty());
    }

    #[test]
    fn on_a_terminal_escapes_act_and_the_rest_reaches_the_guest() {
        let link = HostLink::new();
        let mut help = Vec::new();
        pump(&b"ab\x01hc\x01\x01d\x01xignored"[..], &mut help, &link, true);
        assert_eq!(String::from_utf8(help).unwrap(), HELP);
        assert_eq!(link.stop_request(), Some(StopRequest::Quit));
        // The bytes typed before Ctrl-A x were queued; after it, nothing.
        assert_eq!(drain(&link), (b"abc\x01d".to_vec(), true));
    }

    #[test]
    fn signal_statuses_are_the_shells() {
        assert_eq!(signal_status(SIGINT), 130);
        assert_eq!(signal_status(SIGTERM), 143);
        assert_eq!(signal_status(SIGHUP), 129);
    }
}
