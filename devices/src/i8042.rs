//! The 8042 keyboard controller of the PC/AT with its keyboard and PS/2
//! mouse (IBM PC/AT Technical Reference, "Keyboard Controller" and
//! "Keyboard"; IBM PS/2 Hardware Interface Technical Reference for the
//! auxiliary device and mouse commands; the Microsoft IntelliMouse wheel
//! extension), at port 0x60 (data) and 0x64 (status / command).
//!
//! Modelled: the status register (OBF, SYS, A2, inhibit switch, AUX OBF;
//! IBF never stays set because commands complete at once; no timeouts or
//! parity errors), one output buffer fed by a controller queue, the
//! keyboard's queue and the mouse's queue; the command byte (IRQ 1 / 12
//! enables, SYS, interface disables, set 2 to set 1 translation); the
//! controller commands 0x20/0x60, 0xA7-0xAB, 0xAD/0xAE, 0xC0, 0xD0-0xD4,
//! 0xDD/0xDF and the 0xF0-0xFF output-line pulses; an MF2 keyboard
//! (reset, identify, scancode set, LEDs, typematic, enable/disable, echo)
//! whose keys the host names by USB HID usage ([`crate::ps2_keymap`] gives
//! its set 2 codes and modifier rules), with its 16-byte buffer and
//! overrun code and typematic repeat on the machine clock; a PS/2 mouse
//! with the IntelliMouse wheel (the 200, 100, 80 sample-rate knock turns
//! its ID into 0x03 and its packets into four bytes) and the IntelliMouse
//! Explorer's fourth and fifth buttons (then 200, 200, 80: ID 0x04, the
//! fourth byte carries a 4-bit wheel and buttons 4 and 5), stream and
//! remote modes and wrap mode.
//!
//! Typematic (IBM PS/2 Keyboard Technical Reference, "Set Typematic
//! Rate/Delay"): the last key pressed repeats its make code while it is
//! held, first after the delay of bits 6-5 ((1 + n) x 250 ms), then every
//! (8 + A) x 2^B x 4.17 ms (A = bits 2-0, B = bits 4-3; the table's 30.0
//! to 2.0 characters per second: the unit is 1/240 s); the default 0x2B
//! is 500 ms and 10.9 cps. Releasing that key or pressing another one
//! stops it; Pause does not repeat. The keyboard's deadline is the next
//! repeat ([`I8042::next_deadline`] / [`I8042::advance`]), on the machine
//! clock, so repeats are deterministic on the virtual clock.
//!
//! Missing: scancode set 3 (optional on MF2 keyboards; this one keeps
//! sending set 2 when asked for it, and reports set 3 when asked which),
//! the controller's RAM beyond the command byte (commands 0x21-0x3F /
//! 0x61-0x7F), password commands. The mouse reports a host motion at once,
//! split into as many packets as its 9-bit fields need, rather than one
//! packet per sample period.

use crate::ps2_keymap::KeyState;
use crate::PortIo;
use serde::{Deserialize, Serialize};
use std::collections::VecDeque;

/// I/O ports.
pub const DATA_PORT: u16 = 0x60;
pub const STATUS_PORT: u16 = 0x64;

/// Whether `port` is the controller's.
pub fn decodes(port: u16) -> bool {
    port == DATA_PORT || port == STATUS_PORT
}

/// Status register bits.
const STATUS_OBF: u8 = 0x01;
const STATUS_SYS: u8 = 0x04;
/// The last write went to 0x64 (a command), not 0x60 (data).
const STATUS_A2: u8 = 0x08;
/// Keyboard inhibit switch: set means "not inhibited" (keylock off).
const STATUS_UNLOCKED: u8 = 0x10;
/// The output buffer holds a byte from the auxiliary device.
const STATUS_AUX_OBF: u8 = 0x20;

/// Command byte bits.
const CB_KBD_INT: u8 = 0x01;
const CB_AUX_INT: u8 = 0x02;
const CB_SYS: u8 = 0x04;
const CB_KBD_DISABLE: u8 = 0x10;
const CB_AUX_DISABLE: u8 = 0x20;
const CB_TRANSLATE: u8 = 0x40;

/// Output port bits.
const OUT_RESET: u8 = 0x01;
const OUT_A20: u8 = 0x02;
/// PS/2 controllers report the IRQ 1 / IRQ 12 outputs in bits 4 and 5.
const OUT_IRQ1: u8 = 0x10;
const OUT_IRQ12: u8 = 0x20;
/// Keyboard clock and data lines, idle high.
const OUT_KBD_LINES: u8 = 0xC0;

/// Controller command replies.
const SELF_TEST_OK: u8 = 0x55;
const INTERFACE_TEST_OK: u8 = 0x00;
/// Input port: bit 7 set = keyboard not inhibited.
const INPUT_PORT: u8 = 0x80;

/// Keyboard and mouse replies.
const ACK: u8 = 0xFA;
const RESEND: u8 = 0xFE;
const BAT_OK: u8 = 0xAA;
const ECHO: u8 = 0xEE;
const BREAK_PREFIX: u8 = 0xF0;
/// Set LEDs parameter bit for NumLock.
const LED_NUM_LOCK: u8 = 0x02;
/// MF2 keyboard identification bytes.
const KBD_ID: [u8; 2] = [0xAB, 0x83];
const MOUSE_ID: u8 = 0x00;
const INTELLIMOUSE_ID: u8 = 0x03;
const EXPLORER_ID: u8 = 0x04;
/// The sample rates that, set in this order, switch on the wheel.
const INTELLIMOUSE_KNOCK: [u8; 3] = [200, 100, 80];
/// Then these switch on the IntelliMouse Explorer's buttons 4 and 5.
const EXPLORER_KNOCK: [u8; 3] = [200, 200, 80];

/// The keyboard's own buffer holds 16 bytes (IBM PS/2 Keyboard Technical
/// Reference, "Buffer"); when a key does not fit, it is lost and the
/// overrun code takes the next position: 0x00 in sets 2 and 3, 0xFF in
/// set 1 (the 8042 translates 0x00 to 0xFF).
const KBD_BUFFER: usize = 16;
const OVERRUN_SET2: u8 = 0x00;
const OVERRUN_SET1: u8 = 0xFF;

/// The typematic byte after reset or Set Default: 500 ms, 10.9 cps.
const TYPEMATIC_DEFAULT: u8 = 0x2B;
/// Most repeats sent at once when the clock jumped past several (a host
/// that slept); after that the repeat resumes from now.
const TYPEMATIC_CATCH_UP: usize = 8;

/// The delay before the first repeat, in ns: bits 6-5 give 250, 500, 750
/// or 1000 ms.
fn typematic_delay_ns(typematic: u8) -> u64 {
    (u64::from((typematic >> 5) & 3) + 1) * 250_000_000
}

/// The period between repeats, in ns: (8 + A) x 2^B units of 1/240 s.
fn typematic_period_ns(typematic: u8) -> u64 {
    let (a, b) = (u64::from(typematic & 7), (typematic >> 3) & 3);
    ((8 + a) << b) * 1_000_000_000 / 240
}

/// Bound on each device's queue of replies (and the mouse's packets):
/// bytes beyond what fits are dropped rather than growing without bound.
const QUEUE_LIMIT: usize = 64;

/// The 8042's set 2 to set 1 translation table for bytes below 0x88
/// (PC/AT Technical Reference; Bochs and QEMU agree); every byte from
/// 0x88 up passes unchanged.
const TRANSLATE_LOW: [u8; 0x88] = [
    0xFF, 0x43, 0x41, 0x3F, 0x3D, 0x3B, 0x3C, 0x58, // 0x00
    0x64, 0x44, 0x42, 0x40, 0x3E, 0x0F, 0x29, 0x59, // 0x08
    0x65, 0x38, 0x2A, 0x70, 0x1D, 0x10, 0x02, 0x5A, // 0x10
    0x66, 0x71, 0x2C, 0x1F, 0x1E, 0x11, 0x03, 0x5B, // 0x18
    0x67, 0x2E, 0x2D, 0x20, 0x12, 0x05, 0x04, 0x5C, // 0x20
    0x68, 0x39, 0x2F, 0x21, 0x14, 0x13, 0x06, 0x5D, // 0x28
    0x69, 0x31, 0x30, 0x23, 0x22, 0x15, 0x07, 0x5E, // 0x30
    0x6A, 0x72, 0x32, 0x24, 0x16, 0x08, 0x09, 0x5F, // 0x38
    0x6B, 0x33, 0x25, 0x17, 0x18, 0x0B, 0x0A, 0x60, // 0x40
    0x6C, 0x34, 0x35, 0x26, 0x27, 0x19, 0x0C, 0x61, // 0x48
    0x6D, 0x73, 0x28, 0x74, 0x1A, 0x0D, 0x62, 0x6E, // 0x50
    0x3A, 0x36, 0x1C, 0x1B, 0x75, 0x2B, 0x63, 0x76, // 0x58
    0x55, 0x56, 0x77, 0x78, 0x79, 0x7A, 0x0E, 0x7B, // 0x60
    0x7C, 0x4F, 0x7D, 0x4B, 0x47, 0x7E, 0x7F, 0x6F, // 0x68
    0x52, 0x53, 0x50, 0x4C, 0x4D, 0x48, 0x01, 0x45, // 0x70
    0x57, 0x4E, 0x51, 0x4A, 0x37, 0x49, 0x46, 0x54, // 0x78
    0x80, 0x81, 0x82, 0x41, 0x54, 0x85, 0x86, 0x87, // 0x80
];

fn translate(byte: u8) -> u8 {
    TRANSLATE_LOW.get(usize::from(byte)).copied().unwrap_or(byte)
}

/// What the board must do after an access.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub enum Action {
    /// The A20 gate is now enabled (true) or masked (false).
    SetA20(bool),
    /// The controller pulsed the CPU's reset line.
    Reset,
}

/// Where a byte in the output buffer came from: it decides the AUX status
/// bit and which interrupt line it raises.
#[derive(Clone, Copy, Debug, PartialEq, Eq, Serialize, Deserialize)]
enum Source {
    Keyboard,
    Aux,
}

fn push_bounded(q: &mut VecDeque<u8>, bytes: &[u8]) {
    if q.len() + bytes.len() <= QUEUE_LIMIT {
        q.extend(bytes);
    } else {
        log::debug!("i8042: queue full, {} bytes dropped", bytes.len());
    }
}

/// The key that repeats while it is held.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Repeat {
    usage: u16,
    /// Its make code in set 2.
    make: Vec<u8>,
    /// When the next repeat is sent, in ns of the machine clock.
    next: u64,
}

/// The MF2 keyboard.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Keyboard {
    queue: VecDeque<u8>,
    scanning: bool,
    /// Scancode set 1, 2 or 3 (F0 sub-command).
    set: u8,
    leds: u8,
    typematic: u8,
    /// A command waiting for its parameter byte (0xED, 0xF0, 0xF3).
    pending: Option<u8>,
    /// Held modifiers and the NumLock mode, which some keys' codes depend
    /// on.
    keys: KeyState,
    repeat: Option<Repeat>,
}

impl Keyboard {
    fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            scanning: true,
            set: 2,
            leds: 0,
            typematic: TYPEMATIC_DEFAULT,
            pending: None,
            keys: KeyState::default(),
            repeat: None,
        }
    }

    fn defaults(&mut self) {
        self.set = 2;
        self.typematic = TYPEMATIC_DEFAULT;
        self.repeat = None;
    }

    fn reply(&mut self, bytes: &[u8]) {
        push_bounded(&mut self.queue, bytes);
    }

    /// A byte the system sends to the keyboard.
    fn write(&mut self, byte: u8) {
        if let Some(cmd) = self.pending.take() {
            self.parameter(cmd, byte);
            return;
        }
        match byte {
            0xED | 0xF0 | 0xF3 => {
                self.pending = Some(byte);
                self.reply(&[ACK]);
            }
            0xEE => self.reply(&[ECHO]),
            0xF2 => self.reply(&[ACK, KBD_ID[0], KBD_ID[1]]),
            0xF4 => {
                self.queue.clear();
                self.scanning = true;
                self.reply(&[ACK]);
            }
            0xF5 => {
                self.queue.clear();
                self.defaults();
                self.scanning = false;
                self.reply(&[ACK]);
            }
            0xF6 => {
                self.queue.clear();
                self.defaults();
                self.scanning = true;
                self.reply(&[ACK]);
            }
            0xFF => {
                // The keys held stay held; the LEDs (and NumLock mode) go
                // off.
                let mut keys = std::mem::take(&mut self.keys);
                keys.set_num_lock(false);
                *self = Self::new();
                self.keys = keys;
                self.reply(&[ACK, BAT_OK]);
            }
            _ => {
                log::debug!("i8042: unknown keyboard command {byte:#04x}");
                self.reply(&[RESEND]);
            }
        }
    }

    fn parameter(&mut self, cmd: u8, byte: u8) {
        match cmd {
            0xED => {
                self.leds = byte & 0x07;
                self.keys.set_num_lock(byte & LED_NUM_LOCK != 0);
                self.reply(&[ACK]);
            }
            0xF3 => {
                self.typematic = byte & 0x7F;
                self.reply(&[ACK]);
            }
            // 0xF0: 0 reads the set, 1..3 select one.
            _ => match byte {
                0 => {
                    let set = self.set;
                    self.reply(&[ACK, set]);
                }
                1..=3 => {
                    self.set = byte;
                    self.reply(&[ACK]);
                }
                _ => self.reply(&[RESEND]),
            },
        }
    }

    /// Bytes for the buffer: the whole sequence, or the overrun code once
    /// if it does not fit.
    fn send(&mut self, bytes: &[u8]) {
        if self.queue.len() + bytes.len() <= KBD_BUFFER {
            self.queue.extend(bytes);
            return;
        }
        let overrun = if self.set == 1 { OVERRUN_SET1 } else { OVERRUN_SET2 };
        log::debug!("i8042: keyboard buffer full, {} bytes lost", bytes.len());
        if self.queue.back() != Some(&overrun) && self.queue.len() <= KBD_BUFFER {
            self.queue.push_back(overrun);
        }
    }

    /// A key went down or up (USB HID usage) at `now` ns.
    fn host_key(&mut self, usage: u16, pressed: bool, now: u64) {
        if pressed {
            let Some(press) = self.keys.press(usage) else { return };
            self.repeat = (self.scanning && !press.repeat.is_empty()).then(|| Repeat {
                usage,
                make: press.repeat,
                next: now.saturating_add(typematic_delay_ns(self.typematic)),
            });
            self.key(&press.bytes);
        } else {
            let Some(bytes) = self.keys.release(usage) else { return };
            if self.repeat.as_ref().is_some_and(|r| r.usage == usage) {
                self.repeat = None;
            }
            self.key(&bytes);
        }
    }

    /// Sends the repeats due by `now`.
    fn advance(&mut self, now: u64) {
        let period = typematic_period_ns(self.typematic);
        for _ in 0..TYPEMATIC_CATCH_UP {
            let Some(r) = self.repeat.as_mut() else { return };
            if r.next > now {
                return;
            }
            r.next = r.next.saturating_add(period);
            let make = r.make.clone();
            self.key(&make);
        }
        if let Some(r) = self.repeat.as_mut().filter(|r| r.next <= now) {
            r.next = now.saturating_add(period);
        }
    }

    /// Set 2 bytes from the key matrix, in the keyboard's current set.
    fn key(&mut self, set2: &[u8]) {
        if !self.scanning {
            return;
        }
        if self.set != 1 {
            self.send(set2);
            return;
        }
        // The keyboard itself speaks set 1: the same table, with the break
        // prefix folded into bit 7.
        let mut out = [0u8; 8];
        let mut n = 0;
        let mut release = false;
        for &b in set2 {
            if b == BREAK_PREFIX {
                release = true;
            } else if n < out.len() {
                out[n] = translate(b) | if release { 0x80 } else { 0 };
                n += 1;
                release = false;
            }
        }
        self.send(&out[..n]);
    }
}

/// Buttons a mouse reports: left, right, middle, 4 and 5.
const MOUSE_BUTTONS: u8 = 0x1F;

/// The PS/2 mouse with the IntelliMouse wheel.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Mouse {
    queue: VecDeque<u8>,
    reporting: bool,
    remote: bool,
    wrap: bool,
    sample_rate: u8,
    resolution: u8,
    scaling_2_1: bool,
    wheel: bool,
    /// IntelliMouse Explorer mode: buttons 4 and 5 in the fourth byte.
    explorer: bool,
    /// The last three sample rates set, oldest first (the wheel knock).
    rates: [u8; 3],
    buttons: u8,
    /// A command waiting for its parameter byte (0xE8, 0xF3).
    pending: Option<u8>,
}

impl Mouse {
    fn new() -> Self {
        Self {
            queue: VecDeque::new(),
            reporting: false,
            remote: false,
            wrap: false,
            sample_rate: 100,
            resolution: 2,
            scaling_2_1: false,
            wheel: false,
            explorer: false,
            rates: [0; 3],
            buttons: 0,
            pending: None,
        }
    }

    fn defaults(&mut self) {
        self.sample_rate = 100;
        self.resolution = 2;
        self.scaling_2_1 = false;
    }

    fn reply(&mut self, bytes: &[u8]) {
        push_bounded(&mut self.queue, bytes);
    }

    fn write(&mut self, byte: u8) {
        if let Some(cmd) = self.pending.take() {
            self.parameter(cmd, byte);
            return;
        }
        // In wrap mode the mouse echoes everything but "reset wrap" and
        // "reset".
        if self.wrap && byte != 0xEC && byte != 0xFF {
            self.reply(&[byte]);
            return;
        }
        match byte {
            0xE6 => self.ack_then(|m| m.scaling_2_1 = false),
            0xE7 => self.ack_then(|m| m.scaling_2_1 = true),
            0xE8 | 0xF3 => {
                self.pending = Some(byte);
                self.reply(&[ACK]);
            }
            0xE9 => {
                let status = self.status_byte();
                let (res, rate) = (self.resolution, self.sample_rate);
                self.reply(&[ACK, status, res, rate]);
            }
            0xEA => self.ack_then(|m| m.remote = false),
            0xEB => {
                self.reply(&[ACK]);
                self.packet(0, 0, 0);
            }
            0xEC => self.ack_then(|m| m.wrap = false),
            0xEE => self.ack_then(|m| m.wrap = true),
            0xF0 => self.ack_then(|m| m.remote = true),
            0xF2 => {
                let id = match (self.explorer, self.wheel) {
                    (true, _) => EXPLORER_ID,
                    (false, true) => INTELLIMOUSE_ID,
                    (false, false) => MOUSE_ID,
                };
                self.reply(&[ACK, id]);
            }
            0xF4 => self.ack_then(|m| m.reporting = true),
            0xF5 => self.ack_then(|m| m.reporting = false),
            0xF6 => self.ack_then(|m| {
                m.defaults();
                m.reporting = false;
            }),
            0xFF => {
                *self = Self::new();
                self.reply(&[ACK, BAT_OK, MOUSE_ID]);
            }
            _ => {
                log::debug!("i8042: unknown mouse command {byte:#04x}");
                self.reply(&[RESEND]);
            }
        }
    }

    fn ack_then(&mut self, f: impl FnOnce(&mut Self)) {
        f(self);
        self.reply(&[ACK]);
    }

    fn parameter(&mut self, cmd: u8, byte: u8) {
        if cmd == 0xE8 {
            self.resolution = byte & 0x03;
        } else {
            self.sample_rate = byte;
            self.rates = [self.rates[1], self.rates[2], byte];
            if self.rates == INTELLIMOUSE_KNOCK {
                self.wheel = true;
            } else if self.wheel && self.rates == EXPLORER_KNOCK {
                self.explorer = true;
            }
        }
        self.reply(&[ACK]);
    }

    /// Status request byte 1: remote mode, enable, scaling, then the
    /// buttons as left (bit 2), middle (bit 1), right (bit 0).
    fn status_byte(&self) -> u8 {
        let left = self.buttons & 1;
        let right = (self.buttons >> 1) & 1;
        let middle = (self.buttons >> 2) & 1;
        (u8::from(self.remote) << 6)
            | (u8::from(self.reporting) << 5)
            | (u8::from(self.scaling_2_1) << 4)
            | (left << 2)
            | (middle << 1)
            | right
    }

    /// One movement packet; `dy` is already positive-up.
    fn packet(&mut self, dx: i32, dy: i32, dz: i32) {
        let dx = dx.clamp(-256, 255);
        let dy = dy.clamp(-256, 255);
        let b0 = 0x08 | (self.buttons & 0x07) | (u8::from(dx < 0) << 4) | (u8::from(dy < 0) << 5);
        if self.explorer {
            let extra = (self.buttons >> 3) & 0x03;
            let z = (dz.clamp(-8, 7) as u8) & 0x0F;
            self.reply(&[b0, dx as u8, dy as u8, z | extra << 4]);
        } else if self.wheel {
            let dz = dz.clamp(-8, 7) as u8;
            self.reply(&[b0, dx as u8, dy as u8, dz]);
        } else {
            self.reply(&[b0, dx as u8, dy as u8]);
        }
    }

    fn motion(&mut self, dx: i32, dy: i32, dz: i32, buttons: u8) {
        let changed = self.buttons != buttons & MOUSE_BUTTONS;
        self.buttons = buttons & MOUSE_BUTTONS;
        if !self.reporting || self.remote || self.wrap {
            return;
        }
        if dx == 0 && dy == 0 && dz == 0 && !changed {
            return;
        }
        // Large movements are split into packets the 9-bit fields hold,
        // up to what the queue accepts.
        let (mut dx, mut dy, mut dz) = (dx, dy.saturating_neg(), dz);
        loop {
            let (px, py, pz) = (dx.clamp(-256, 255), dy.clamp(-256, 255), dz.clamp(-8, 7));
            let before = self.queue.len();
            self.packet(px, py, pz);
            if self.queue.len() == before {
                return;
            }
            dx -= px;
            dy -= py;
            dz = if self.wheel { dz - pz } else { 0 };
            if dx == 0 && dy == 0 && dz == 0 {
                return;
            }
        }
    }
}

/// The keyboard controller with its two devices.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct I8042 {
    status: u8,
    command_byte: u8,
    output_port: u8,
    /// The output buffer: the byte the next read of 0x60 returns.
    ob: Option<(u8, Source)>,
    /// The last byte read from the output buffer: a read of 0x60 with the
    /// buffer empty returns it again.
    last: u8,
    /// Replies of the controller itself (and 0xD2/0xD3 bytes), sent before
    /// anything from the devices.
    ctrl: VecDeque<(u8, Source)>,
    /// A controller command waiting for its data byte on 0x60.
    pending: Option<u8>,
    /// Translation saw a set 2 break prefix; the next byte gets bit 7.
    translate_break: bool,
    kbd: Keyboard,
    mouse: Mouse,
    actions: Vec<Action>,
}

impl Default for I8042 {
    fn default() -> Self {
        Self::new()
    }
}

impl I8042 {
    /// The controller as the BIOS finds it: interrupts enabled, translation
    /// off until the BIOS sets it, A20 enabled and the reset line high.
    pub fn new() -> Self {
        Self {
            status: STATUS_UNLOCKED | STATUS_A2,
            command_byte: CB_KBD_INT | CB_AUX_INT,
            output_port: OUT_RESET | OUT_A20,
            ob: None,
            last: 0,
            ctrl: VecDeque::new(),
            pending: None,
            translate_break: false,
            kbd: Keyboard::new(),
            mouse: Mouse::new(),
            actions: Vec::new(),
        }
    }

    /// The IRQ 1 line: the output buffer holds keyboard data and the
    /// command byte enables its interrupt. The board should drive the PIC
    /// from this after every access; after a read of port 0x60 it should
    /// drive it low first and then to this value, since the next byte may
    /// already be in the buffer and the edge-triggered PIC needs the edge
    /// the real controller makes between two bytes.
    pub fn irq1(&self) -> bool {
        matches!(self.ob, Some((_, Source::Keyboard))) && self.command_byte & CB_KBD_INT != 0
    }

    /// The IRQ 12 line, as [`I8042::irq1`] for mouse data.
    pub fn irq12(&self) -> bool {
        matches!(self.ob, Some((_, Source::Aux))) && self.command_byte & CB_AUX_INT != 0
    }

    /// Scancode set 2 bytes from the keyboard's matrix, as they are (no
    /// typematic, no modifier rules): for tests and raw injection.
    pub fn key(&mut self, set2: &[u8]) {
        self.kbd.key(set2);
        self.refill();
    }

    /// The host's key with USB HID usage `usage` went down or up at `now`
    /// (ns of the machine clock): the keyboard sends its codes
    /// ([`crate::ps2_keymap`]) and starts or stops typematic repeat. Keys
    /// the keyboard does not have are ignored.
    pub fn host_key(&mut self, usage: u16, pressed: bool, now: u64) {
        self.kbd.host_key(usage, pressed, now);
        self.refill();
    }

    /// Whether the keyboard still holds bytes the guest has not read (in
    /// its buffer or the controller's output buffer).
    pub fn keyboard_busy(&self) -> bool {
        !self.kbd.queue.is_empty() || matches!(self.ob, Some((_, Source::Keyboard)))
    }

    /// Whether the mouse still holds bytes the guest has not read.
    pub fn mouse_busy(&self) -> bool {
        !self.mouse.queue.is_empty() || matches!(self.ob, Some((_, Source::Aux)))
    }

    /// When the keyboard next repeats a held key, if it will.
    pub fn next_deadline(&self) -> Option<u64> {
        self.kbd.repeat.as_ref().map(|r| r.next)
    }

    /// Brings the keyboard up to `now`: sends the repeats due.
    pub fn advance(&mut self, now: u64) {
        self.kbd.advance(now);
        self.refill();
    }

    /// Host mouse motion: `dx` positive right, `dy` positive down (screen
    /// coordinates; the packet's Y is positive up), `dz` wheel clicks
    /// positive toward the user (the packet's sign: Linux reports
    /// `REL_WHEEL = -z`), `buttons` bit 0 left, 1 right, 2 middle, 3 and 4
    /// the Explorer's fourth and fifth.
    pub fn mouse_motion(&mut self, dx: i32, dy: i32, dz: i32, buttons: u8) {
        self.mouse.motion(dx, dy, dz, buttons);
        self.refill();
    }

    /// The actions the guest requested since the last call, in order.
    pub fn take_actions(&mut self) -> Vec<Action> {
        std::mem::take(&mut self.actions)
    }

    /// Loads the output buffer if it is empty: controller replies first,
    /// then the keyboard, then the mouse, each only while its interface is
    /// enabled (a disabled device holds its data, as with its clock
    /// inhibited).
    fn refill(&mut self) {
        while self.ob.is_none() {
            if let Some(entry) = self.ctrl.pop_front() {
                self.ob = Some(entry);
            } else if self.command_byte & CB_KBD_DISABLE == 0 && !self.kbd.queue.is_empty() {
                self.refill_keyboard();
            } else if self.command_byte & CB_AUX_DISABLE == 0 && !self.mouse.queue.is_empty() {
                self.ob = self.mouse.queue.pop_front().map(|b| (b, Source::Aux));
            } else {
                break;
            }
        }
        self.status &= !(STATUS_OBF | STATUS_AUX_OBF);
        match self.ob {
            Some((_, Source::Keyboard)) => self.status |= STATUS_OBF,
            Some((_, Source::Aux)) => self.status |= STATUS_OBF | STATUS_AUX_OBF,
            None => {}
        }
    }

    /// Takes one keyboard byte, through the translator if it is on. A
    /// set 2 break prefix yields nothing: it sets bit 7 of the next byte.
    fn refill_keyboard(&mut self) {
        let Some(byte) = self.kbd.queue.pop_front() else { return };
        if self.command_byte & CB_TRANSLATE == 0 {
            self.ob = Some((byte, Source::Keyboard));
        } else if byte == BREAK_PREFIX {
            self.translate_break = true;
        } else {
            let high = if self.translate_break { 0x80 } else { 0 };
            self.translate_break = false;
            self.ob = Some((translate(byte) | high, Source::Keyboard));
        }
    }

    fn reply(&mut self, byte: u8) {
        if self.ctrl.len() < QUEUE_LIMIT {
            self.ctrl.push_back((byte, Source::Keyboard));
        }
    }

    fn read_data(&mut self) -> u8 {
        if let Some((byte, _)) = self.ob.take() {
            self.last = byte;
        }
        self.refill();
        self.last
    }

    fn write_output_port(&mut self, value: u8) {
        let old = self.output_port;
        self.output_port = value;
        if (old ^ value) & OUT_A20 != 0 {
            self.actions.push(Action::SetA20(value & OUT_A20 != 0));
        }
        if value & OUT_RESET == 0 {
            self.actions.push(Action::Reset);
        }
    }

    fn set_a20(&mut self, on: bool) {
        let value = if on { self.output_port | OUT_A20 } else { self.output_port & !OUT_A20 };
        self.write_output_port(value);
    }

    fn write_command_byte(&mut self, value: u8) {
        self.command_byte = value;
        self.status = (self.status & !STATUS_SYS) | (value & CB_SYS);
    }

    fn command(&mut self, cmd: u8) {
        self.pending = None;
        match cmd {
            0x20 => self.reply(self.command_byte),
            0x60 | 0xD1 | 0xD2 | 0xD3 | 0xD4 => self.pending = Some(cmd),
            0xA7 => self.command_byte |= CB_AUX_DISABLE,
            0xA8 => self.command_byte &= !CB_AUX_DISABLE,
            0xA9 | 0xAB => self.reply(INTERFACE_TEST_OK),
            0xAA => {
                self.status |= STATUS_SYS;
                self.reply(SELF_TEST_OK);
            }
            0xAD => self.command_byte |= CB_KBD_DISABLE,
            0xAE => self.command_byte &= !CB_KBD_DISABLE,
            0xC0 => self.reply(INPUT_PORT),
            0xD0 => {
                let mut v = (self.output_port & (OUT_RESET | OUT_A20)) | OUT_KBD_LINES;
                if self.irq1() {
                    v |= OUT_IRQ1;
                }
                if self.irq12() {
                    v |= OUT_IRQ12;
                }
                self.reply(v);
            }
            0xDD => self.set_a20(false),
            0xDF => self.set_a20(true),
            // Pulse the output lines whose bits are 0; line 0 is reset.
            0xF0..=0xFF => {
                if cmd & OUT_RESET == 0 {
                    self.actions.push(Action::Reset);
                }
            }
            _ => log::debug!("i8042: unknown controller command {cmd:#04x}"),
        }
    }

    fn write_data(&mut self, value: u8) {
        match self.pending.take() {
            Some(0x60) => self.write_command_byte(value),
            Some(0xD1) => self.write_output_port(value),
            Some(0xD2) => {
                if self.ctrl.len() < QUEUE_LIMIT {
                    self.ctrl.push_back((value, Source::Keyboard));
                }
            }
            Some(0xD3) => {
                if self.ctrl.len() < QUEUE_LIMIT {
                    self.ctrl.push_back((value, Source::Aux));
                }
            }
            Some(_) => {
                // Talking to the mouse enables its interface (as QEMU and
                // real controllers do).
                self.command_byte &= !CB_AUX_DISABLE;
                self.mouse.write(value);
            }
            None => {
                self.command_byte &= !CB_KBD_DISABLE;
                self.kbd.write(value);
            }
        }
    }
}

impl PortIo for I8042 {
    fn io_read(&mut self, port: u16, _size: u8) -> u32 {
        match port {
            DATA_PORT => u32::from(self.read_data()),
            STATUS_PORT => u32::from(self.status),
            _ => 0xFF,
        }
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32) {
        let value = value as u8;
        match port {
            DATA_PORT => {
                self.status &= !STATUS_A2;
                self.write_data(value);
            }
            STATUS_PORT => {
                self.status |= STATUS_A2;
                self.command(value);
            }
            _ => return,
        }
        self.refill();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn cmd(k: &mut I8042, c: u8) {
        k.io_write(STATUS_PORT, 1, u32::from(c));
    }

    fn data(k: &mut I8042, d: u8) {
        k.io_write(DATA_PORT, 1, u32::from(d));
    }

    fn status(k: &mut I8042) -> u8 {
        k.io_read(STATUS_PORT, 1) as u8
    }

    /// Reads every byte the controller has, as a polling guest does.
    fn drain(k: &mut I8042) -> Vec<u8> {
        let mut out = Vec::new();
        while status(k) & STATUS_OBF != 0 && out.len() < 100 {
            out.push(k.io_read(DATA_PORT, 1) as u8);
        }
        out
    }

    /// Mouse bytes, checking each one has the AUX status bit.
    fn drain_aux(k: &mut I8042) -> Vec<u8> {
        let mut out = Vec::new();
        while status(k) & STATUS_OBF != 0 && out.len() < 100 {
            assert_ne!(status(k) & STATUS_AUX_OBF, 0, "mouse byte without AUX bit");
            out.push(k.io_read(DATA_PORT, 1) as u8);
        }
        out
    }

    fn mouse(k: &mut I8042, byte: u8) -> Vec<u8> {
        cmd(k, 0xD4);
        data(k, byte);
        drain_aux(k)
    }

    #[test]
    fn seabios_and_linux_probe_sequence() {
        let mut k = I8042::new();
        assert_eq!(status(&mut k) & 0x02, 0, "IBF never stuck");
        // Disable both interfaces, flush, self-test.
        cmd(&mut k, 0xAD);
        cmd(&mut k, 0xA7);
        assert_eq!(drain(&mut k), Vec::<u8>::new());
        cmd(&mut k, 0xAA);
        assert_eq!(drain(&mut k), vec![SELF_TEST_OK]);
        assert_ne!(status(&mut k) & STATUS_SYS, 0);
        cmd(&mut k, 0xAB);
        assert_eq!(drain(&mut k), vec![0x00]);
        // Command byte read / write.
        cmd(&mut k, 0x20);
        let cb = drain(&mut k)[0];
        assert_eq!(cb & (CB_KBD_DISABLE | CB_AUX_DISABLE), CB_KBD_DISABLE | CB_AUX_DISABLE);
        cmd(&mut k, 0x60);
        data(&mut k, 0x30); // interrupts off, both interfaces disabled
        cmd(&mut k, 0x20);
        assert_eq!(drain(&mut k), vec![0x30]);
        // Linux's bit assignment test: 0xA8 / 0xA7 clear and set bit 5.
        cmd(&mut k, 0xA8);
        cmd(&mut k, 0x20);
        assert_eq!(drain(&mut k), vec![0x10]);
        cmd(&mut k, 0xA7);
        cmd(&mut k, 0x20);
        assert_eq!(drain(&mut k), vec![0x30]);
        // Linux's aux loopback: the byte comes back as mouse data; 0xA4
        // echoed unchanged means no active multiplexing controller.
        for b in [0x5A, 0xF0, 0x56, 0xA4] {
            cmd(&mut k, 0xD3);
            data(&mut k, b);
            assert_eq!(drain_aux(&mut k), vec![b]);
        }
        // Keyboard reset and identify (sending data re-enables the port).
        data(&mut k, 0xFF);
        assert_eq!(drain(&mut k), vec![ACK, BAT_OK]);
        data(&mut k, 0xF5);
        assert_eq!(drain(&mut k), vec![ACK]);
        data(&mut k, 0xF2);
        assert_eq!(drain(&mut k), vec![ACK, 0xAB, 0x83]);
        data(&mut k, 0xF0);
        data(&mut k, 0x00);
        assert_eq!(drain(&mut k), vec![ACK, ACK, 2]);
        data(&mut k, 0xED);
        data(&mut k, 0x07);
        assert_eq!(drain(&mut k), vec![ACK, ACK]);
        data(&mut k, 0xEE);
        assert_eq!(drain(&mut k), vec![ECHO]);
        data(&mut k, 0x77);
        assert_eq!(drain(&mut k), vec![RESEND]);
        // SeaBIOS's final command byte: translation, SYS, IRQ 1.
        cmd(&mut k, 0x60);
        data(&mut k, 0x65);
        data(&mut k, 0xF4);
        assert_eq!(drain(&mut k), vec![ACK]);
        // A2 tells which port was written last.
        assert_eq!(status(&mut k) & STATUS_A2, 0);
        cmd(&mut k, 0x20);
        assert_ne!(status(&mut k) & STATUS_A2, 0);
        assert_eq!(drain(&mut k), vec![0x65]);
    }

    #[test]
    fn identify_is_translated_as_linux_expects() {
        let mut k = I8042::new();
        cmd(&mut k, 0x60);
        data(&mut k, CB_TRANSLATE);
        data(&mut k, 0xF2);
        assert_eq!(drain(&mut k), vec![ACK, 0xAB, 0x41]);
    }

    #[test]
    fn set2_to_set1_translation() {
        let mut k = I8042::new();
        cmd(&mut k, 0x60);
        data(&mut k, CB_TRANSLATE | CB_KBD_INT | CB_SYS);
        k.key(&[0x1C]); // A press
        k.key(&[0xF0, 0x1C]); // A release
        k.key(&[0xE0, 0x75]); // up arrow press
        k.key(&[0xE0, 0xF0, 0x75]); // up arrow release
        assert_eq!(drain(&mut k), vec![0x1E, 0x9E, 0xE0, 0x48, 0xE0, 0xC8]);
        // Without translation the set 2 bytes arrive unchanged.
        cmd(&mut k, 0x60);
        data(&mut k, CB_KBD_INT);
        k.key(&[0xF0, 0x1C]);
        assert_eq!(drain(&mut k), vec![0xF0, 0x1C]);
        // A keyboard switched to set 1 translates itself.
        data(&mut k, 0xF0);
        data(&mut k, 0x01);
        assert_eq!(drain(&mut k), vec![ACK, ACK]);
        k.key(&[0xF0, 0x1C]);
        assert_eq!(drain(&mut k), vec![0x9E]);
    }

    #[test]
    fn keys_wait_while_the_keyboard_interface_is_disabled() {
        let mut k = I8042::new();
        cmd(&mut k, 0xAD);
        k.key(&[0x1C]);
        assert_eq!(status(&mut k) & STATUS_OBF, 0);
        cmd(&mut k, 0xAE);
        assert_eq!(drain(&mut k), vec![0x1C]);
        // Scanning disabled: keys are dropped.
        data(&mut k, 0xF5);
        assert_eq!(drain(&mut k), vec![ACK]);
        k.key(&[0x1C]);
        assert_eq!(drain(&mut k), Vec::<u8>::new());
    }

    #[test]
    fn a20_and_reset_actions() {
        let mut k = I8042::new();
        cmd(&mut k, 0xD0);
        assert_eq!(drain(&mut k)[0] & 0x03, 0x03);
        cmd(&mut k, 0xD1);
        data(&mut k, 0xDD); // A20 off, reset high
        assert_eq!(k.take_actions(), vec![Action::SetA20(false)]);
        cmd(&mut k, 0xD1);
        data(&mut k, 0xDF); // A20 on
        assert_eq!(k.take_actions(), vec![Action::SetA20(true)]);
        cmd(&mut k, 0xD1);
        data(&mut k, 0xDF); // no change, no action
        assert_eq!(k.take_actions(), vec![]);
        cmd(&mut k, 0xDD);
        cmd(&mut k, 0xDF);
        assert_eq!(k.take_actions(), vec![Action::SetA20(false), Action::SetA20(true)]);
        cmd(&mut k, 0xFF); // pulses nothing
        assert_eq!(k.take_actions(), vec![]);
        cmd(&mut k, 0xFE);
        assert_eq!(k.take_actions(), vec![Action::Reset]);
        cmd(&mut k, 0xD1);
        data(&mut k, 0x02); // reset line low
        assert_eq!(k.take_actions(), vec![Action::Reset]);
        assert_eq!(k.take_actions(), vec![]);
    }

    #[test]
    fn mouse_reset_id_and_intellimouse_packets() {
        let mut k = I8042::new();
        cmd(&mut k, 0xA8);
        cmd(&mut k, 0xA9);
        assert_eq!(drain(&mut k), vec![0x00]);
        assert_eq!(mouse(&mut k, 0xFF), vec![ACK, BAT_OK, MOUSE_ID]);
        assert_eq!(mouse(&mut k, 0xF2), vec![ACK, MOUSE_ID]);
        // Reporting off: motion makes no packet.
        k.mouse_motion(5, 5, 0, 0);
        assert_eq!(drain(&mut k), Vec::<u8>::new());
        assert_eq!(mouse(&mut k, 0xF4), vec![ACK]);
        k.mouse_motion(5, 3, 0, 1); // right, down, left button
        assert_eq!(drain_aux(&mut k), vec![0x09 | 0x20, 5, 0xFD]);
        // The IntelliMouse knock.
        for rate in INTELLIMOUSE_KNOCK {
            assert_eq!(mouse(&mut k, 0xF3), vec![ACK]);
            assert_eq!(mouse(&mut k, rate), vec![ACK]);
        }
        assert_eq!(mouse(&mut k, 0xF2), vec![ACK, INTELLIMOUSE_ID]);
        k.mouse_motion(-2, 0, 1, 0);
        assert_eq!(drain_aux(&mut k), vec![0x08 | 0x10, 0xFE, 0x00, 0x01]);
        k.mouse_motion(0, 0, -1, 4);
        assert_eq!(drain_aux(&mut k), vec![0x0C, 0, 0, 0xFF]);
        // Status request: enabled, middle button, resolution, rate 80.
        assert_eq!(mouse(&mut k, 0xE9), vec![ACK, 0x22, 2, 80]);
        assert_eq!(mouse(&mut k, 0xE8), vec![ACK]);
        assert_eq!(mouse(&mut k, 0x03), vec![ACK]);
        assert_eq!(mouse(&mut k, 0xE7), vec![ACK]);
        assert_eq!(mouse(&mut k, 0xE9), vec![ACK, 0x32, 3, 80]);
        assert_eq!(mouse(&mut k, 0xF6), vec![ACK]);
        assert_eq!(mouse(&mut k, 0xE9), vec![ACK, 0x02, 2, 100]);
        // Reset forgets the wheel.
        assert_eq!(mouse(&mut k, 0xFF), vec![ACK, BAT_OK, MOUSE_ID]);
        assert_eq!(mouse(&mut k, 0xF2), vec![ACK, MOUSE_ID]);
    }

    #[test]
    fn large_motion_is_split_into_packets() {
        let mut k = I8042::new();
        assert_eq!(mouse(&mut k, 0xF4), vec![ACK]);
        k.mouse_motion(300, 0, 0, 0);
        assert_eq!(drain_aux(&mut k), vec![0x08, 255, 0, 0x08, 45, 0]);
    }

    #[test]
    fn irq_lines_follow_the_command_byte() {
        let mut k = I8042::new();
        cmd(&mut k, 0x60);
        data(&mut k, 0x00);
        k.key(&[0x1C]);
        assert!(!k.irq1(), "IRQ 1 disabled in the command byte");
        cmd(&mut k, 0x60);
        data(&mut k, CB_KBD_INT);
        assert!(k.irq1());
        assert!(!k.irq12());
        assert_eq!(k.io_read(DATA_PORT, 1), 0x1C);
        assert!(!k.irq1());
        assert_eq!(status(&mut k) & STATUS_OBF, 0);
        assert_eq!(k.io_read(DATA_PORT, 1), 0x1C, "an empty buffer reads its last byte");
        // Mouse data raises IRQ 12 only with its enable bit.
        assert_eq!(mouse(&mut k, 0xF4), vec![ACK]);
        k.mouse_motion(1, 0, 0, 0);
        assert!(!k.irq12());
        assert!(!k.irq1(), "mouse data is not keyboard data");
        cmd(&mut k, 0x60);
        data(&mut k, CB_AUX_INT);
        assert!(k.irq12());
        assert_eq!(drain_aux(&mut k), vec![0x08, 1, 0]);
        assert!(!k.irq12());
        // 0xD2 / 0xD3 write into the buffer as if from each device.
        cmd(&mut k, 0x60);
        data(&mut k, CB_KBD_INT | CB_AUX_INT);
        cmd(&mut k, 0xD3);
        data(&mut k, 0x5A);
        assert!(k.irq12() && !k.irq1());
        assert_eq!(drain_aux(&mut k), vec![0x5A]);
        cmd(&mut k, 0xD2);
        data(&mut k, 0x5B);
        assert!(k.irq1() && !k.irq12());
        assert_eq!(drain(&mut k), vec![0x5B]);
    }

    /// A controller as SeaBIOS leaves it: translation, SYS, IRQ 1.
    fn translated() -> I8042 {
        let mut k = I8042::new();
        cmd(&mut k, 0x60);
        data(&mut k, CB_TRANSLATE | CB_SYS | CB_KBD_INT);
        k
    }

    const MS: u64 = 1_000_000;

    #[test]
    fn host_keys_reach_the_guest_in_set_1_through_translation() {
        let mut k = translated();
        k.host_key(0x04, true, 0); // A
        k.host_key(0x04, false, 0);
        k.host_key(0xE4, true, 0); // right Ctrl
        k.host_key(0xE4, false, 0);
        k.host_key(0x58, true, 0); // keypad Enter
        k.host_key(0x58, false, 0);
        k.host_key(0x44, true, 0); // F11
        k.host_key(0x44, false, 0);
        assert_eq!(drain(&mut k), vec![0x1E, 0x9E, 0xE0, 0x1D, 0xE0, 0x9D, 0xE0, 0x1C, 0xE0, 0x9C, 0x57, 0xD7]);
        k.host_key(0x48, true, 0); // Pause
        k.host_key(0x48, false, 0);
        assert_eq!(drain(&mut k), vec![0xE1, 0x1D, 0x45, 0xE1, 0x9D, 0xC5]);
        k.host_key(0x46, true, 0); // Print Screen
        k.host_key(0x46, false, 0);
        assert_eq!(drain(&mut k), vec![0xE0, 0x2A, 0xE0, 0x37, 0xE0, 0xB7, 0xE0, 0xAA]);
        k.host_key(0x03, true, 0); // not a key
        assert_eq!(drain(&mut k), Vec::<u8>::new());
        // Without translation the guest reads set 2.
        cmd(&mut k, 0x60);
        data(&mut k, CB_KBD_INT);
        k.host_key(0x64, true, 0); // ISO key
        k.host_key(0x64, false, 0);
        assert_eq!(drain(&mut k), vec![0x61, 0xF0, 0x61]);
    }

    #[test]
    fn the_num_lock_led_sets_the_keyboards_num_lock_mode() {
        let mut k = translated();
        data(&mut k, 0xED);
        data(&mut k, LED_NUM_LOCK);
        assert_eq!(drain(&mut k), vec![ACK, ACK]);
        k.host_key(0x4A, true, 0); // Home: a fake left Shift press first
        k.host_key(0x4A, false, 0);
        assert_eq!(drain(&mut k), vec![0xE0, 0x2A, 0xE0, 0x47, 0xE0, 0xC7, 0xE0, 0xAA]);
    }

    /// Repeated makes of A (set 1 0x1E) read by `now`, advancing the
    /// clock in 1 ms steps from `from`.
    fn repeats_until(k: &mut I8042, from: u64, now: u64) -> Vec<u64> {
        let mut at = Vec::new();
        let mut t = from;
        while t <= now {
            if k.next_deadline().is_some_and(|d| d <= t) {
                k.advance(t);
            }
            for b in drain(k) {
                assert_eq!(b, 0x1E);
                at.push(t);
            }
            t += MS;
        }
        at
    }

    #[test]
    fn typematic_repeat_at_the_default_delay_and_rate() {
        let mut k = translated();
        k.host_key(0x04, true, 0);
        assert_eq!(drain(&mut k), vec![0x1E]);
        // Default 0x2B: 500 ms, then 22/240 s = 91.67 ms apart (10.9 cps).
        assert_eq!(k.next_deadline(), Some(500 * MS));
        let at = repeats_until(&mut k, 0, 1000 * MS);
        let period = 22 * 1_000_000_000 / 240;
        let expected: Vec<u64> = (0..6).map(|n| (500 * MS + n * period).div_ceil(MS) * MS).collect();
        assert_eq!(at, expected);
        // Release stops it.
        k.host_key(0x04, false, 1000 * MS);
        assert_eq!(drain(&mut k), vec![0x9E]);
        assert_eq!(k.next_deadline(), None);
    }

    #[test]
    fn typematic_byte_sets_delay_and_rate() {
        let mut k = translated();
        // 0x00: 250 ms, 30.0 cps (33.33 ms).
        data(&mut k, 0xF3);
        data(&mut k, 0x00);
        assert_eq!(drain(&mut k), vec![ACK, ACK]);
        k.host_key(0x04, true, 0);
        drain(&mut k);
        assert_eq!(repeats_until(&mut k, 0, 350 * MS), vec![250 * MS, 284 * MS, 317 * MS, 350 * MS]);
        k.host_key(0x04, false, 350 * MS);
        drain(&mut k);
        // 0x7F: 1000 ms, 2.0 cps (500 ms).
        data(&mut k, 0xF3);
        data(&mut k, 0x7F);
        drain(&mut k);
        k.host_key(0x04, true, 0);
        drain(&mut k);
        assert_eq!(k.next_deadline(), Some(1000 * MS));
        assert_eq!(repeats_until(&mut k, 0, 2600 * MS), vec![1000 * MS, 1500 * MS, 2000 * MS, 2500 * MS]);
    }

    #[test]
    fn another_key_takes_over_the_repeat_and_pause_stops_it() {
        let mut k = translated();
        k.host_key(0x04, true, 0); // A
        k.host_key(0x05, true, 100 * MS); // B while A is held
        assert_eq!(drain(&mut k), vec![0x1E, 0x30]);
        assert_eq!(k.next_deadline(), Some(600 * MS), "B's delay from its press");
        k.host_key(0x05, true, 300 * MS); // the host's own repeat of B
        assert_eq!(drain(&mut k), Vec::<u8>::new());
        assert_eq!(k.next_deadline(), Some(600 * MS), "ignored: B is already down");
        k.advance(600 * MS);
        assert_eq!(drain(&mut k), vec![0x30], "B repeats, not A");
        k.host_key(0x04, false, 610 * MS); // releasing A does not stop B
        assert_eq!(drain(&mut k), vec![0x9E]);
        assert!(k.next_deadline().is_some());
        k.host_key(0x48, true, 620 * MS); // Pause: no repeat, stops B's
        drain(&mut k);
        assert_eq!(k.next_deadline(), None);
        // The right Ctrl repeats with its E0 prefix.
        k.host_key(0xE4, true, 0);
        k.advance(500 * MS);
        assert_eq!(drain(&mut k), vec![0xE0, 0x1D, 0xE0, 0x1D]);
        // Scanning disabled: no repeat.
        data(&mut k, 0xF5);
        assert_eq!(drain(&mut k), vec![ACK]);
        assert_eq!(k.next_deadline(), None);
    }

    #[test]
    fn the_keyboard_buffer_holds_16_bytes_then_an_overrun_code() {
        let mut k = translated();
        cmd(&mut k, 0xAD); // interface disabled: the keyboard holds its bytes
        for _ in 0..8 {
            k.host_key(0x04, true, 0); // 1 byte
            k.host_key(0x04, false, 0); // 2 bytes
        }
        cmd(&mut k, 0xAE);
        let got = drain(&mut k);
        // Five taps fill 15 bytes; the sixth press fits (16), its release
        // does not: overrun (set 2 0x00, translated 0xFF), then nothing.
        let mut expected = [0x1E, 0x9E].repeat(5);
        expected.extend([0x1E, 0xFF]);
        assert_eq!(got, expected);
    }

    #[test]
    fn intellimouse_explorer_buttons_4_and_5() {
        let mut k = I8042::new();
        assert_eq!(mouse(&mut k, 0xF4), vec![ACK]);
        // The Explorer knock alone does nothing: the wheel comes first.
        for rate in EXPLORER_KNOCK {
            mouse(&mut k, 0xF3);
            mouse(&mut k, rate);
        }
        assert_eq!(mouse(&mut k, 0xF2), vec![ACK, MOUSE_ID]);
        for rate in INTELLIMOUSE_KNOCK.into_iter().chain(EXPLORER_KNOCK) {
            mouse(&mut k, 0xF3);
            mouse(&mut k, rate);
        }
        assert_eq!(mouse(&mut k, 0xF2), vec![ACK, EXPLORER_ID]);
        // Button 4 held, wheel one click toward the user; then button 5
        // and two away (4-bit two's complement 0xE).
        k.mouse_motion(0, 0, 1, 0x08);
        assert_eq!(drain_aux(&mut k), vec![0x08, 0, 0, 0x11]);
        k.mouse_motion(0, 0, -2, 0x10 | 0x01);
        assert_eq!(drain_aux(&mut k), vec![0x09, 0, 0, 0x2E]);
        assert_eq!(mouse(&mut k, 0xFF), vec![ACK, BAT_OK, MOUSE_ID]);
        assert_eq!(mouse(&mut k, 0xF2), vec![ACK, MOUSE_ID]);
    }

    #[test]
    fn any_port_value_in_any_order_is_harmless() {
        let mut k = I8042::new();
        let mut x: u32 = 0x1234_5678;
        for _ in 0..20_000 {
            x ^= x << 13;
            x ^= x >> 17;
            x ^= x << 5;
            let port = if x & 0x100 != 0 { DATA_PORT } else { STATUS_PORT };
            if x & 0x200 != 0 {
                k.io_read(port, 1);
            } else {
                k.io_write(port, 1, x >> 24);
            }
            if x & 0x3F000 == 0 {
                k.key(&[0xE0, 0xF0, 0x75]);
                k.mouse_motion(x as i32 >> 20, 7, 1, (x >> 8) as u8);
            }
            if x & 0x7000 == 0 {
                let now = u64::from(x >> 4);
                k.host_key((x >> 16) as u16 & 0xFF, x & 0x80 != 0, now);
                k.advance(now);
            }
            k.take_actions();
            assert!(k.ctrl.len() <= QUEUE_LIMIT);
            assert!(k.kbd.queue.len() <= QUEUE_LIMIT);
            assert!(k.mouse.queue.len() <= QUEUE_LIMIT);
        }
    }

    #[test]
    fn serde_round_trip_with_data_queued() {
        let mut k = I8042::new();
        cmd(&mut k, 0x60);
        data(&mut k, 0x47); // translation, SYS, both IRQs
        assert_eq!(mouse(&mut k, 0xF4), vec![ACK]);
        for rate in INTELLIMOUSE_KNOCK {
            mouse(&mut k, 0xF3);
            mouse(&mut k, rate);
        }
        k.key(&[0xE0, 0xF0, 0x75]);
        k.key(&[0x1C]);
        k.mouse_motion(4, -4, 1, 2);
        k.host_key(0xE1, true, 0); // left Shift held
        k.host_key(0x52, true, 100); // Up, repeating from 500 ms on
        cmd(&mut k, 0xD1); // a command waiting for its data byte
        let first = k.io_read(DATA_PORT, 1);
        assert_eq!(first, 0xE0);

        let json = serde_json::to_string(&k).unwrap();
        let mut r: I8042 = serde_json::from_str(&json).unwrap();
        assert_eq!(r, k);
        for d in [&mut k, &mut r] {
            data(d, 0x01); // A20 off through the pending 0xD1
        }
        assert_eq!(k.take_actions(), r.take_actions());
        let a = drain(&mut k);
        // Up with a fake left Shift release before it.
        assert_eq!(a, vec![0xC8, 0x1E, 0x2A, 0xE0, 0xAA, 0xE0, 0x48, 0x0A, 4, 4, 1]);
        assert_eq!(drain(&mut r), a);
        assert_eq!(r.next_deadline(), Some(500 * MS + 100));
        for d in [&mut k, &mut r] {
            d.advance(500 * MS + 100);
        }
        assert_eq!(drain(&mut r), vec![0xE0, 0x48]);
        assert_eq!(drain(&mut k), vec![0xE0, 0x48]);
        assert_eq!(r, k);
    }
}
