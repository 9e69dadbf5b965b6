//! The window's keyboard and mouse, reduced to what the guest gets:
//! [`InputEvent`]s, with the window's own hotkeys taken out.
//!
//! * Keys: SDL's scancodes are the USB HID usages of the keyboard page
//!   (SDL_scancode.h: "values are from the USB HID Usage Tables", 0x04 A
//!   .. 0xE7 right GUI), passed on as they are; SDL's own codes above the
//!   HID range (media keys, 0x101 and up) have no HID usage and are
//!   dropped. SDL's auto-repeat presses are dropped too: the guest's
//!   keyboard repeats a held key itself (typematic). Every press reported
//!   is remembered, so that when the window loses focus each key still
//!   down is released for the guest (SDL sends no release for a key let
//!   go in another window).
//! * Hotkeys: Ctrl-Alt (either side) with G, S or Q, as QEMU's SDL display
//!   uses Ctrl-Alt. Ctrl and Alt reach the guest as any keys do; the
//!   letter, press and release, does not.
//! * Mouse: buttons as the PS/2 mouse numbers them (bit 0 left, 1 right,
//!   2 middle), relative motion and the wheel, while grabbed.

use ironpc::InputEvent;
use std::collections::BTreeSet;

/// HID usages of the keys the hotkeys use.
pub mod usage {
    pub const G: u16 = 0x0A;
    pub const Q: u16 = 0x14;
    pub const S: u16 = 0x16;
    /// The last usage of the keyboard page's keys (right GUI).
    pub const LAST: u16 = 0xE7;
}

/// A window hotkey.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Hotkey {
    /// Ctrl-Alt-G: release the mouse grab.
    ReleaseGrab,
    /// Ctrl-Alt-S: save a screenshot.
    Screenshot,
    /// Ctrl-Alt-Q: quit.
    Quit,
}

/// What one key event from the window means.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum KeyAction {
    Send(InputEvent),
    Hotkey(Hotkey),
    Nothing,
}

/// The keys reported to the guest as down, and the hotkey letters held.
#[derive(Clone, Debug, Default)]
pub struct Keyboard {
    down: BTreeSet<u16>,
    hotkeys_down: BTreeSet<u16>,
}

impl Keyboard {
    /// One key event: `scancode` is SDL's, `repeat` SDL's auto-repeat
    /// flag, `ctrl`/`alt` whether either Ctrl or Alt is held.
    pub fn key(&mut self, scancode: i32, pressed: bool, repeat: bool, ctrl: bool, alt: bool) -> KeyAction {
        let Some(usage) = u16::try_from(scancode).ok().filter(|u| (1..=usage::LAST).contains(u)) else {
            return KeyAction::Nothing;
        };
        if pressed {
            if repeat {
                return KeyAction::Nothing;
            }
            if ctrl && alt {
                let hotkey = match usage {
                    usage::G => Some(Hotkey::ReleaseGrab),
                    usage::S => Some(Hotkey::Screenshot),
                    usage::Q => Some(Hotkey::Quit),
                    _ => None,
                };
                if let Some(h) = hotkey {
                    self.hotkeys_down.insert(usage);
                    return KeyAction::Hotkey(h);
                }
            }
            if !self.down.insert(usage) {
                return KeyAction::Nothing;
            }
        } else if self.hotkeys_down.remove(&usage) || !self.down.remove(&usage) {
            // A hotkey letter's release, or a key the guest never saw go
            // down (pressed before the window had focus).
            return KeyAction::Nothing;
        }
        KeyAction::Send(InputEvent::Key { usage, pressed })
    }

    /// Releases every key reported down (the window lost focus).
    pub fn release_all(&mut self) -> Vec<InputEvent> {
        self.hotkeys_down.clear();
        std::mem::take(&mut self.down).into_iter().map(|usage| InputEvent::Key { usage, pressed: false }).collect()
    }
}

/// A mouse button as SDL names them.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Button {
    Left,
    Right,
    Middle,
    Other,
}

/// The mouse buttons held, as the guest has been told.
#[derive(Clone, Copy, Debug, Default)]
pub struct Mouse {
    buttons: u8,
}

impl Mouse {
    /// A button went down or up.
    pub fn button(&mut self, b: Button, down: bool) -> Option<InputEvent> {
        let bit = match b {
            Button::Left => 1,
            Button::Right => 2,
            Button::Middle => 4,
            Button::Other => return None,
        };
        let was = self.buttons;
        if down {
            self.buttons |= bit;
        } else {
            self.buttons &= !bit;
        }
        (was != self.buttons).then_some(InputEvent::Mouse { dx: 0, dy: 0, dz: 0, buttons: self.buttons })
    }

    /// Relative motion (`dx` right, `dy` down) and the wheel (`dz`, SDL's
    /// y: positive away from the user).
    pub fn moved(&self, dx: i32, dy: i32, dz: i32) -> Option<InputEvent> {
        (dx != 0 || dy != 0 || dz != 0).then_some(InputEvent::Mouse { dx, dy, dz, buttons: self.buttons })
    }

    /// Lets go of every button (the grab ended).
    pub fn release_all(&mut self) -> Option<InputEvent> {
        (std::mem::take(&mut self.buttons) != 0).then_some(InputEvent::Mouse { dx: 0, dy: 0, dz: 0, buttons: 0 })
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    const A: i32 = 0x04;
    /// Left Ctrl and left Alt.
    const LEFT_CTRL: u16 = 0xE0;
    const LEFT_ALT: u16 = 0xE2;
    const ENTER: i32 = 0x28;

    fn key(usage: u16, pressed: bool) -> KeyAction {
        KeyAction::Send(InputEvent::Key { usage, pressed })
    }

    #[test]
    fn keys_pass_as_their_hid_usage_and_auto_repeat_is_dropped() {
        let mut k = Keyboard::default();
        assert_eq!(k.key(A, true, false, false, false), key(0x04, true));
        assert_eq!(k.key(A, true, true, false, false), KeyAction::Nothing, "SDL's repeat");
        assert_eq!(k.key(A, false, false, false, false), key(0x04, false));
        // Right GUI, the last HID key; SDL's media keys are beyond HID.
        assert_eq!(k.key(0xE7, true, false, false, false), key(0xE7, true));
        assert_eq!(k.key(0x102, true, false, false, false), KeyAction::Nothing);
        assert_eq!(k.key(0, true, false, false, false), KeyAction::Nothing);
        assert_eq!(k.key(-1, true, false, false, false), KeyAction::Nothing);
    }

    #[test]
    fn losing_focus_releases_every_key_down_once() {
        let mut k = Keyboard::default();
        k.key(i32::from(LEFT_CTRL), true, false, true, false);
        k.key(A, true, false, true, false);
        k.key(ENTER, true, false, true, false);
        k.key(ENTER, false, false, true, false);
        assert_eq!(
            k.release_all(),
            vec![InputEvent::Key { usage: 0x04, pressed: false }, InputEvent::Key { usage: LEFT_CTRL, pressed: false }]
        );
        assert!(k.release_all().is_empty());
        // SDL's late release of a key already released: nothing more.
        assert_eq!(k.key(A, false, false, false, false), KeyAction::Nothing);
    }

    #[test]
    fn ctrl_alt_letters_are_hotkeys_that_the_guest_never_sees() {
        let mut k = Keyboard::default();
        assert_eq!(k.key(i32::from(LEFT_CTRL), true, false, true, false), key(LEFT_CTRL, true));
        assert_eq!(k.key(i32::from(LEFT_ALT), true, false, true, true), key(LEFT_ALT, true));
        assert_eq!(k.key(i32::from(usage::G), true, false, true, true), KeyAction::Hotkey(Hotkey::ReleaseGrab));
        assert_eq!(k.key(i32::from(usage::S), true, false, true, true), KeyAction::Hotkey(Hotkey::Screenshot));
        assert_eq!(k.key(i32::from(usage::Q), true, false, true, true), KeyAction::Hotkey(Hotkey::Quit));
        assert_eq!(k.key(i32::from(usage::G), true, true, true, true), KeyAction::Nothing, "held: SDL repeats");
        // Released after Ctrl-Alt: still not the guest's.
        assert_eq!(k.key(i32::from(usage::G), false, false, false, false), KeyAction::Nothing);
        // Other Ctrl-Alt keys are the guest's (Ctrl-Alt-Del).
        assert_eq!(k.key(0x4C, true, false, true, true), key(0x4C, true));
        // Ctrl-G alone is the guest's.
        assert_eq!(k.key(i32::from(usage::G), true, false, true, false), key(usage::G, true));
    }

    #[test]
    fn mouse_buttons_motion_and_wheel() {
        let mut m = Mouse::default();
        assert_eq!(m.moved(0, 0, 0), None);
        assert_eq!(m.button(Button::Left, true), Some(InputEvent::Mouse { dx: 0, dy: 0, dz: 0, buttons: 1 }));
        assert_eq!(m.button(Button::Left, true), None, "no change");
        assert_eq!(m.button(Button::Middle, true), Some(InputEvent::Mouse { dx: 0, dy: 0, dz: 0, buttons: 5 }));
        assert_eq!(m.moved(3, -2, 0), Some(InputEvent::Mouse { dx: 3, dy: -2, dz: 0, buttons: 5 }));
        assert_eq!(m.button(Button::Right, true), Some(InputEvent::Mouse { dx: 0, dy: 0, dz: 0, buttons: 7 }));
        assert_eq!(m.button(Button::Other, true), None);
        assert_eq!(m.moved(0, 0, 1), Some(InputEvent::Mouse { dx: 0, dy: 0, dz: 1, buttons: 7 }));
        assert_eq!(m.button(Button::Left, false), Some(InputEvent::Mouse { dx: 0, dy: 0, dz: 0, buttons: 6 }));
        assert_eq!(m.release_all(), Some(InputEvent::Mouse { dx: 0, dy: 0, dz: 0, buttons: 0 }));
        assert_eq!(m.release_all(), None);
    }
}
