//! What a PS/2 (MF2) keyboard sends for each of its keys, in scan code
//! set 2: the host names a key by its USB HID usage ID on the keyboard page
//! 0x07 (USB HID Usage Tables 1.12, chapter 10; also SDL's scancode
//! number), the table gives the key's set 2 code (Microsoft, "Keyboard Scan
//! Code Specification" rev. 1.3a, Annex 1: USB usage, key position, set 1
//! and set 2 make/break), and [`KeyState`] plays the keyboard's firmware:
//! it knows which modifiers are held and its private NumLock mode, which
//! decide the special sequences of Print Screen, Pause and the fake shifts
//! around the grey navigation keys (A. Brouwer, "Keyboard scancodes",
//! sections 1.1 and 1.6, which the Microsoft table's notes agree with).
//!
//! Rules, for a key whose set 2 make code is `[E0] c`:
//! - break: `[E0] F0 c` (F0 inserted before the last byte);
//! - typematic repeat sends the plain make code, without fake shifts;
//! - Pause: `E1 14 77 E1 F0 14 F0 77` at make, nothing at break, never
//!   repeats; with either Ctrl held it is Break: `E0 7E E0 F0 7E`;
//! - Print Screen: `E0 12 E0 7C` / `E0 F0 7C E0 F0 12`; with Shift or
//!   Ctrl held `E0 7C` / `E0 F0 7C`; with Alt held it is SysRq `84` /
//!   `F0 84`;
//! - the ten grey navigation keys (Insert, Delete, Home, End, Page Up/Down,
//!   arrows): while Shift is held and NumLock is off, a fake Shift release
//!   comes before the make (`E0 F0 12` for left, `E0 F0 59` for right) and
//!   a fake Shift press after the break (`E0 12` / `E0 59`); while NumLock
//!   is on and no Shift is held, a fake left Shift press comes before the
//!   make (`E0 12`) and its release after the break (`E0 F0 12`); keypad /
//!   gets the Shift rule only. Each side is decided by the state at the
//!   time it is sent, as on a real keyboard (a Shift released before the
//!   key gives a real Shift break and no fake press afterwards);
//! - Lang1 (Hangul, `F2`) and Lang2 (Hanja, `F1`) send their make only and
//!   do not repeat;
//! - a press of a key already down sends nothing (the host's own key
//!   repeat: the keyboard repeats by itself); a release is always sent.
//!
//! The keyboard's NumLock mode toggles when NumLock is pressed and follows
//! the NumLock LED whenever the host sets the LEDs (Brouwer 1.6). Linux's
//! atkbd and the PC BIOS ignore the fake shifts (`E0 12` / `E0 59`, in set 1
//! `E0 2A` / `E0 36`), so they matter only to software that reads the raw
//! codes, as they would on hardware.

use serde::{Deserialize, Serialize};

/// The set 2 prefix of extended keys, and the break prefix.
pub const EXTENDED: u8 = 0xE0;
pub const BREAK: u8 = 0xF0;

/// A key's codes: `0x00cc` for `cc`, `0xE0cc` for `E0 cc`; or one of the
/// keys whose sequences do not follow the make/break rule.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Code {
    Plain(u16),
    PrintScreen,
    Pause,
    /// A make-only key (the Korean Hangul and Hanja keys).
    MakeOnly(u8),
}

/// USB HID usage (keyboard page) to set 2 code, as data: the Microsoft
/// table's rows for a 105-key keyboard, the Japanese 106/109-key
/// additions, the keypad extras and F13-F24.
#[rustfmt::skip]
const TABLE: &[(u16, u16)] = &[
    // Letters a-z (usages 0x04-0x1D).
    (0x04, 0x1C), (0x05, 0x32), (0x06, 0x21), (0x07, 0x23), (0x08, 0x24), (0x09, 0x2B),
    (0x0A, 0x34), (0x0B, 0x33), (0x0C, 0x43), (0x0D, 0x3B), (0x0E, 0x42), (0x0F, 0x4B),
    (0x10, 0x3A), (0x11, 0x31), (0x12, 0x44), (0x13, 0x4D), (0x14, 0x15), (0x15, 0x2D),
    (0x16, 0x1B), (0x17, 0x2C), (0x18, 0x3C), (0x19, 0x2A), (0x1A, 0x1D), (0x1B, 0x22),
    (0x1C, 0x35), (0x1D, 0x1A),
    // Digits 1-9, 0.
    (0x1E, 0x16), (0x1F, 0x1E), (0x20, 0x26), (0x21, 0x25), (0x22, 0x2E), (0x23, 0x36),
    (0x24, 0x3D), (0x25, 0x3E), (0x26, 0x46), (0x27, 0x45),
    // Enter, Escape, Backspace, Tab, Space, - = [ ] \ (and the ISO
    // "non-US # ~" key at the same position), ; ' ` , . / CapsLock.
    (0x28, 0x5A), (0x29, 0x76), (0x2A, 0x66), (0x2B, 0x0D), (0x2C, 0x29), (0x2D, 0x4E),
    (0x2E, 0x55), (0x2F, 0x54), (0x30, 0x5B), (0x31, 0x5D), (0x32, 0x5D), (0x33, 0x4C),
    (0x34, 0x52), (0x35, 0x0E), (0x36, 0x41), (0x37, 0x49), (0x38, 0x4A), (0x39, 0x58),
    // F1-F12.
    (0x3A, 0x05), (0x3B, 0x06), (0x3C, 0x04), (0x3D, 0x0C), (0x3E, 0x03), (0x3F, 0x0B),
    (0x40, 0x83), (0x41, 0x0A), (0x42, 0x01), (0x43, 0x09), (0x44, 0x78), (0x45, 0x07),
    // Scroll Lock; Insert Home PageUp Delete End PageDown Right Left Down Up.
    (0x47, 0x7E), (0x49, 0xE070), (0x4A, 0xE06C), (0x4B, 0xE07D), (0x4C, 0xE071),
    (0x4D, 0xE069), (0x4E, 0xE07A), (0x4F, 0xE074), (0x50, 0xE06B), (0x51, 0xE072),
    (0x52, 0xE075),
    // NumLock, keypad / * - + Enter 1-9 0 . .
    (0x53, 0x77), (0x54, 0xE04A), (0x55, 0x7C), (0x56, 0x7B), (0x57, 0x79), (0x58, 0xE05A),
    (0x59, 0x69), (0x5A, 0x72), (0x5B, 0x7A), (0x5C, 0x6B), (0x5D, 0x73), (0x5E, 0x74),
    (0x5F, 0x6C), (0x60, 0x75), (0x61, 0x7D), (0x62, 0x70), (0x63, 0x71),
    // The ISO 102nd key (non-US \ |), Application (Menu), Power (ACPI),
    // keypad =.
    (0x64, 0x61), (0x65, 0xE02F), (0x66, 0xE037), (0x67, 0x0F),
    // F13-F24.
    (0x68, 0x08), (0x69, 0x10), (0x6A, 0x18), (0x6B, 0x20), (0x6C, 0x28), (0x6D, 0x30),
    (0x6E, 0x38), (0x6F, 0x40), (0x70, 0x48), (0x71, 0x50), (0x72, 0x57), (0x73, 0x5F),
    // Keypad comma (Brazilian), International1-5 (Ro, Katakana/Hiragana,
    // Yen, Henkan, Muhenkan).
    (0x85, 0x6D), (0x87, 0x51), (0x88, 0x13), (0x89, 0x6A), (0x8A, 0x64), (0x8B, 0x67),
    // Left Ctrl, Shift, Alt, GUI; right Ctrl, Shift, Alt, GUI.
    (0xE0, 0x14), (0xE1, 0x12), (0xE2, 0x11), (0xE3, 0xE01F), (0xE4, 0xE014), (0xE5, 0x59),
    (0xE6, 0xE011), (0xE7, 0xE027),
];

const USAGE_PRINT_SCREEN: u16 = 0x46;
const USAGE_PAUSE: u16 = 0x48;
const USAGE_NUM_LOCK: u16 = 0x53;
/// Keypad /, whose make is `E0 4A`.
const KEYPAD_SLASH: u16 = 0xE04A;
const USAGE_LANG1: u16 = 0x90;
const USAGE_LANG2: u16 = 0x91;
/// Usages 0xE0-0xE7 are the eight modifiers, in the order of the bits of
/// a USB boot-protocol report's modifier byte.
const USAGE_FIRST_MODIFIER: u16 = 0xE0;

/// Modifier bits (USB boot report order).
const MOD_LCTRL: u8 = 1 << 0;
const MOD_LSHIFT: u8 = 1 << 1;
const MOD_LALT: u8 = 1 << 2;
const MOD_RCTRL: u8 = 1 << 4;
const MOD_RSHIFT: u8 = 1 << 5;
const MOD_RALT: u8 = 1 << 6;
const MOD_CTRL: u8 = MOD_LCTRL | MOD_RCTRL;
const MOD_SHIFT: u8 = MOD_LSHIFT | MOD_RSHIFT;
const MOD_ALT: u8 = MOD_LALT | MOD_RALT;

/// Set 2 codes of the two Shift keys, for fake shifts.
const LSHIFT: u8 = 0x12;
const RSHIFT: u8 = 0x59;

/// The usages of a 105-key (ISO) keyboard's keys, plus the US key at the
/// ISO key's neighbour position: every one has a mapping.
pub fn keys_105() -> impl Iterator<Item = u16> {
    (0x04..=0x65).chain(0xE0..=0xE7)
}

/// The codes of the key with USB HID usage `usage`, if the keyboard has
/// such a key.
pub fn code(usage: u16) -> Option<Code> {
    match usage {
        USAGE_PRINT_SCREEN => Some(Code::PrintScreen),
        USAGE_PAUSE => Some(Code::Pause),
        USAGE_LANG1 => Some(Code::MakeOnly(0xF2)),
        USAGE_LANG2 => Some(Code::MakeOnly(0xF1)),
        _ => TABLE.iter().find(|&&(u, _)| u == usage).map(|&(_, c)| Code::Plain(c)),
    }
}

/// `[E0] c` for a plain code.
fn plain_make(c: u16) -> Vec<u8> {
    let last = c as u8;
    if c >> 8 == u16::from(EXTENDED) {
        vec![EXTENDED, last]
    } else {
        vec![last]
    }
}

/// The make code with F0 inserted before its last byte.
fn plain_break(c: u16) -> Vec<u8> {
    let mut v = plain_make(c);
    let last = v.len() - 1;
    v.insert(last, BREAK);
    v
}

/// Whether a plain code is one of the ten grey navigation keys that get
/// fake shifts for both Shift and NumLock.
fn is_grey_navigation(c: u16) -> bool {
    matches!(c, 0xE070 | 0xE071 | 0xE06C | 0xE069 | 0xE07D | 0xE07A | 0xE075 | 0xE072 | 0xE06B | 0xE074)
}

/// What a key press sends.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Press {
    pub bytes: Vec<u8>,
    /// What typematic repeat sends while the key stays down; empty for the
    /// keys that do not repeat.
    pub repeat: Vec<u8>,
}

/// The keyboard firmware's own state: the keys it knows are held and its
/// NumLock mode.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct KeyState {
    /// Held modifiers, USB boot report order (bit n = usage 0xE0 + n).
    modifiers: u8,
    num_lock: bool,
    /// Every key held, by usage (all usages with codes are below 256).
    down: [u64; 4],
}

impl KeyState {
    /// The NumLock LED was set (or cleared) by the host.
    pub fn set_num_lock(&mut self, on: bool) {
        self.num_lock = on;
    }

    pub fn num_lock(&self) -> bool {
        self.num_lock
    }

    fn held(&self, mask: u8) -> bool {
        self.modifiers & mask != 0
    }

    /// Fake Shift releases before a grey key's make (`before_make`), or
    /// fake presses after its break, from the Shift keys held now; the
    /// presses undo the releases in reverse order.
    fn fake_shifts(&self, before_make: bool) -> Vec<u8> {
        let held = [(MOD_LSHIFT, LSHIFT), (MOD_RSHIFT, RSHIFT)].into_iter().filter(|&(m, _)| self.held(m));
        if before_make {
            held.flat_map(|(_, c)| [EXTENDED, BREAK, c]).collect()
        } else {
            held.rev().flat_map(|(_, c)| [EXTENDED, c]).collect()
        }
    }

    /// The fake shifts around a grey key (`grey`: one of the ten) or
    /// keypad /: what comes before its make (or after its break).
    fn fake_prefix(&self, grey: bool, make: bool) -> Vec<u8> {
        if self.held(MOD_SHIFT) {
            if grey && self.num_lock {
                return Vec::new();
            }
            return self.fake_shifts(make);
        }
        if grey && self.num_lock {
            return if make { vec![EXTENDED, LSHIFT] } else { vec![EXTENDED, BREAK, LSHIFT] };
        }
        Vec::new()
    }

    /// Marks `usage` held (or not); returns whether it was.
    fn set_down(&mut self, usage: u16, down: bool) -> bool {
        let (word, bit) = (usize::from(usage >> 6) & 3, 1u64 << (usage & 63));
        let was = self.down[word] & bit != 0;
        if down {
            self.down[word] |= bit;
        } else {
            self.down[word] &= !bit;
        }
        was
    }

    /// The key went down: what the keyboard sends, or None for a key it
    /// does not have or that is already down (a host's own key repeat: the
    /// keyboard repeats by itself).
    pub fn press(&mut self, usage: u16) -> Option<Press> {
        let code = code(usage)?;
        if self.set_down(usage, true) {
            return None;
        }
        if let Some(bit) = modifier_bit(usage) {
            self.modifiers |= bit;
        }
        if usage == USAGE_NUM_LOCK {
            self.num_lock = !self.num_lock;
        }
        Some(match code {
            Code::Plain(c) => {
                let make = plain_make(c);
                let fake = self.fake_for(c, true);
                Press { bytes: [fake, make.clone()].concat(), repeat: make }
            }
            Code::PrintScreen => {
                let core = self.print_screen_core(true);
                let bytes = if self.held(MOD_SHIFT | MOD_CTRL | MOD_ALT) {
                    core.clone()
                } else {
                    [vec![EXTENDED, LSHIFT], core.clone()].concat()
                };
                Press { bytes, repeat: core }
            }
            Code::Pause if self.held(MOD_CTRL) => {
                Press { bytes: vec![EXTENDED, 0x7E, EXTENDED, BREAK, 0x7E], repeat: Vec::new() }
            }
            Code::Pause => Press { bytes: vec![0xE1, 0x14, 0x77, 0xE1, BREAK, 0x14, BREAK, 0x77], repeat: Vec::new() },
            Code::MakeOnly(b) => Press { bytes: vec![b], repeat: Vec::new() },
        })
    }

    /// The key went up: what the keyboard sends (possibly nothing), or
    /// None for a key it does not have.
    pub fn release(&mut self, usage: u16) -> Option<Vec<u8>> {
        let code = code(usage)?;
        self.set_down(usage, false);
        if let Some(bit) = modifier_bit(usage) {
            self.modifiers &= !bit;
        }
        Some(match code {
            Code::Plain(c) => [plain_break(c), self.fake_for(c, false)].concat(),
            Code::PrintScreen => {
                let core = self.print_screen_core(false);
                if self.held(MOD_SHIFT | MOD_CTRL | MOD_ALT) {
                    core
                } else {
                    [core, vec![EXTENDED, BREAK, LSHIFT]].concat()
                }
            }
            Code::Pause | Code::MakeOnly(_) => Vec::new(),
        })
    }

    fn fake_for(&self, c: u16, make: bool) -> Vec<u8> {
        let grey = is_grey_navigation(c);
        if grey || c == KEYPAD_SLASH {
            self.fake_prefix(grey, make)
        } else {
            Vec::new()
        }
    }

    /// Print Screen's own code: SysRq `84` with Alt, else `E0 7C`.
    fn print_screen_core(&self, make: bool) -> Vec<u8> {
        match (self.held(MOD_ALT), make) {
            (true, true) => vec![0x84],
            (true, false) => vec![BREAK, 0x84],
            (false, true) => vec![EXTENDED, 0x7C],
            (false, false) => vec![EXTENDED, BREAK, 0x7C],
        }
    }
}

fn modifier_bit(usage: u16) -> Option<u8> {
    usage.checked_sub(USAGE_FIRST_MODIFIER).filter(|&n| n < 8).map(|n| 1 << n)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn press(k: &mut KeyState, usage: u16) -> Vec<u8> {
        k.press(usage).expect("a key").bytes
    }

    fn release(k: &mut KeyState, usage: u16) -> Vec<u8> {
        k.release(usage).expect("a key")
    }

    /// One tap from a keyboard with nothing else held.
    fn tap(usage: u16) -> (Vec<u8>, Vec<u8>) {
        let mut k = KeyState::default();
        (press(&mut k, usage), release(&mut k, usage))
    }

    /// Sample rows of the Microsoft table (Annex 1), checked by hand.
    #[test]
    fn sample_rows_of_the_table() {
        let rows: &[(u16, &[u8], &[u8])] = &[
            (0x04, &[0x1C], &[0xF0, 0x1C]),                                           // A
            (0x1D, &[0x1A], &[0xF0, 0x1A]),                                           // Z
            (0x27, &[0x45], &[0xF0, 0x45]),                                           // 0
            (0x28, &[0x5A], &[0xF0, 0x5A]),                                           // Enter
            (0x29, &[0x76], &[0xF0, 0x76]),                                           // Escape
            (0x35, &[0x0E], &[0xF0, 0x0E]),                                           // ` ~
            (0x3A, &[0x05], &[0xF0, 0x05]),                                           // F1
            (0x40, &[0x83], &[0xF0, 0x83]),                                           // F7
            (0x44, &[0x78], &[0xF0, 0x78]),                                           // F11
            (0x45, &[0x07], &[0xF0, 0x07]),                                           // F12
            (0x64, &[0x61], &[0xF0, 0x61]),                                           // ISO \ |
            (0xE0, &[0x14], &[0xF0, 0x14]),                                           // left Ctrl
            (0xE4, &[0xE0, 0x14], &[0xE0, 0xF0, 0x14]),                               // right Ctrl
            (0xE5, &[0x59], &[0xF0, 0x59]),                                           // right Shift
            (0xE6, &[0xE0, 0x11], &[0xE0, 0xF0, 0x11]),                               // right Alt
            (0xE3, &[0xE0, 0x1F], &[0xE0, 0xF0, 0x1F]),                               // left GUI
            (0x65, &[0xE0, 0x2F], &[0xE0, 0xF0, 0x2F]),                               // Application
            (0x58, &[0xE0, 0x5A], &[0xE0, 0xF0, 0x5A]),                               // keypad Enter
            (0x54, &[0xE0, 0x4A], &[0xE0, 0xF0, 0x4A]),                               // keypad /
            (0x55, &[0x7C], &[0xF0, 0x7C]),                                           // keypad *
            (0x5F, &[0x6C], &[0xF0, 0x6C]),                                           // keypad 7
            (0x52, &[0xE0, 0x75], &[0xE0, 0xF0, 0x75]),                               // Up
            (0x4C, &[0xE0, 0x71], &[0xE0, 0xF0, 0x71]),                               // Delete
            (0x53, &[0x77], &[0xF0, 0x77]),                                           // NumLock
            (0x47, &[0x7E], &[0xF0, 0x7E]),                                           // Scroll Lock
            (0x87, &[0x51], &[0xF0, 0x51]),                                           // International1 (Ro)
            (0x8A, &[0x64], &[0xF0, 0x64]),                                           // International4 (Henkan)
            (0x46, &[0xE0, 0x12, 0xE0, 0x7C], &[0xE0, 0xF0, 0x7C, 0xE0, 0xF0, 0x12]), // Print Screen
            (0x48, &[0xE1, 0x14, 0x77, 0xE1, 0xF0, 0x14, 0xF0, 0x77], &[]),           // Pause
            (0x90, &[0xF2], &[]),                                                     // Lang1 (Hangul)
            (0x91, &[0xF1], &[]),                                                     // Lang2 (Hanja)
        ];
        for &(usage, make, brk) in rows {
            assert_eq!(tap(usage), (make.to_vec(), brk.to_vec()), "usage {usage:#04x}");
        }
    }

    #[test]
    fn every_key_of_a_105_key_keyboard_has_codes_and_breaks_insert_f0() {
        let mut n = 0;
        for usage in keys_105() {
            let (make, brk) = tap(usage);
            n += 1;
            match usage {
                USAGE_PRINT_SCREEN | USAGE_PAUSE => continue,
                _ => {}
            }
            assert!(!make.is_empty() && make.len() <= 2, "usage {usage:#04x}: {make:02x?}");
            let mut expected = make.clone();
            expected.insert(make.len() - 1, BREAK);
            assert_eq!(brk, expected, "usage {usage:#04x}");
            if make.len() == 2 {
                assert_eq!(make[0], EXTENDED, "usage {usage:#04x}");
            }
        }
        assert_eq!(n, 106, "0x04-0x65 and the eight modifiers");
        assert_eq!(code(0x00), None);
        assert_eq!(code(0x03), None);
        assert_eq!(code(0xFFFF), None);
    }

    #[test]
    fn no_two_keys_of_the_105_share_a_code_except_the_two_backslash_positions() {
        let mut seen = std::collections::HashMap::new();
        for usage in keys_105() {
            if let Some(Code::Plain(c)) = code(usage) {
                if let Some(other) = seen.insert(c, usage) {
                    assert_eq!((other, usage), (0x31, 0x32), "code {c:#06x}");
                }
            }
        }
    }

    #[test]
    fn ctrl_pause_is_break_and_sends_nothing_at_release() {
        let mut k = KeyState::default();
        press(&mut k, 0xE4); // right Ctrl
        assert_eq!(press(&mut k, USAGE_PAUSE), vec![0xE0, 0x7E, 0xE0, 0xF0, 0x7E]);
        assert_eq!(release(&mut k, USAGE_PAUSE), Vec::<u8>::new());
        assert!(k.press(USAGE_PAUSE).unwrap().repeat.is_empty(), "Pause never repeats");
    }

    #[test]
    fn print_screen_with_modifiers() {
        let mut k = KeyState::default();
        assert_eq!(press(&mut k, 0xE2), vec![0x11]); // left Alt
        assert_eq!(press(&mut k, USAGE_PRINT_SCREEN), vec![0x84], "Alt: SysRq");
        assert_eq!(release(&mut k, USAGE_PRINT_SCREEN), vec![0xF0, 0x84]);
        release(&mut k, 0xE2);
        press(&mut k, 0xE1); // left Shift
        assert_eq!(press(&mut k, USAGE_PRINT_SCREEN), vec![0xE0, 0x7C]);
        assert_eq!(release(&mut k, USAGE_PRINT_SCREEN), vec![0xE0, 0xF0, 0x7C]);
        release(&mut k, 0xE1);
        press(&mut k, 0xE0); // left Ctrl
        assert_eq!(press(&mut k, USAGE_PRINT_SCREEN), vec![0xE0, 0x7C]);
    }

    #[test]
    fn fake_shifts_around_the_grey_keys() {
        const INSERT: u16 = 0x49;
        let mut k = KeyState::default();
        // Left Shift held: fake release before, fake press after.
        press(&mut k, 0xE1);
        let p = k.press(INSERT).unwrap();
        assert_eq!(p.bytes, vec![0xE0, 0xF0, 0x12, 0xE0, 0x70]);
        assert_eq!(p.repeat, vec![0xE0, 0x70], "repeat: the plain make");
        assert_eq!(release(&mut k, INSERT), vec![0xE0, 0xF0, 0x70, 0xE0, 0x12]);
        // Both Shifts: both faked, undone in reverse order.
        press(&mut k, 0xE5);
        assert_eq!(press(&mut k, 0x52), vec![0xE0, 0xF0, 0x12, 0xE0, 0xF0, 0x59, 0xE0, 0x75]);
        assert_eq!(release(&mut k, 0x52), vec![0xE0, 0xF0, 0x75, 0xE0, 0x59, 0xE0, 0x12]);
        // Keypad / gets the Shift rule too.
        release(&mut k, 0xE1);
        assert_eq!(press(&mut k, 0x54), vec![0xE0, 0xF0, 0x59, 0xE0, 0x4A]);
        assert_eq!(release(&mut k, 0x54), vec![0xE0, 0xF0, 0x4A, 0xE0, 0x59]);
        // Shift released before the key: no fake press after its break.
        assert_eq!(press(&mut k, INSERT), vec![0xE0, 0xF0, 0x59, 0xE0, 0x70]);
        assert_eq!(release(&mut k, 0xE5), vec![0xF0, 0x59]);
        assert_eq!(release(&mut k, INSERT), vec![0xE0, 0xF0, 0x70]);
        // NumLock on, no Shift: a fake Shift press around the key.
        assert_eq!(press(&mut k, USAGE_NUM_LOCK), vec![0x77]);
        release(&mut k, USAGE_NUM_LOCK);
        assert!(k.num_lock());
        assert_eq!(press(&mut k, 0x4A), vec![0xE0, 0x12, 0xE0, 0x6C]); // Home
        assert_eq!(release(&mut k, 0x4A), vec![0xE0, 0xF0, 0x6C, 0xE0, 0xF0, 0x12]);
        assert_eq!(tap_with(&mut k, 0x54), (vec![0xE0, 0x4A], vec![0xE0, 0xF0, 0x4A]), "keypad / ignores NumLock");
        // NumLock on and Shift held: nothing faked.
        press(&mut k, 0xE1);
        assert_eq!(tap_with(&mut k, 0x4A), (vec![0xE0, 0x6C], vec![0xE0, 0xF0, 0x6C]));
        release(&mut k, 0xE1);
        // The host's LED command sets the mode.
        k.set_num_lock(false);
        assert_eq!(tap_with(&mut k, 0x4A), (vec![0xE0, 0x6C], vec![0xE0, 0xF0, 0x6C]));
        // Keypad keys proper never get fake shifts.
        press(&mut k, 0xE1);
        assert_eq!(tap_with(&mut k, 0x5F), (vec![0x6C], vec![0xF0, 0x6C]));
    }

    fn tap_with(k: &mut KeyState, usage: u16) -> (Vec<u8>, Vec<u8>) {
        (press(k, usage), release(k, usage))
    }

    #[test]
    fn a_key_already_down_is_not_pressed_again() {
        let mut k = KeyState::default();
        assert_eq!(press(&mut k, 0x04), vec![0x1C]);
        assert_eq!(k.press(0x04), None, "the host's own repeat");
        assert_eq!(release(&mut k, 0x04), vec![0xF0, 0x1C]);
        assert_eq!(release(&mut k, 0x04), vec![0xF0, 0x1C], "a release is always sent");
        assert_eq!(press(&mut k, 0x04), vec![0x1C]);
        assert_eq!(press(&mut k, 0xE7), vec![0xE0, 0x27]);
        assert_eq!(k.press(0xE7), None);
    }

    #[test]
    fn serde_round_trip() {
        let mut k = KeyState::default();
        press(&mut k, 0xE5);
        press(&mut k, USAGE_NUM_LOCK);
        let r: KeyState = serde_json::from_str(&serde_json::to_string(&k).unwrap()).unwrap();
        assert_eq!(r, k);
    }
}
