//! The PIIX3 IDE function, 00:01.1 (Intel 82371SB datasheet 2.3-2.7): PCI
//! 8086:7010, class 01/01 with programming interface 80h (both channels
//! in legacy ("compatibility") mode at 0x1F0/0x3F6 on IRQ 14 and
//! 0x170/0x376 on IRQ 15, bus-master capable), the 16-byte bus-master
//! block at BAR4 (BMIBA), and the IDE timing registers IDETIM (40h-43h)
//! and SIDETIM (44h) that firmware and Linux's `ata_piix` program.
//!
//! Legacy ports are decoded whatever IDETIM's decode-enable bit 15 says,
//! as on QEMU's `piix3-ide`: guests that never program the function (a
//! boot loader's own driver, DOS) still find their disks. Linux reads the
//! bit to decide whether a channel is enabled; SeaBIOS sets it, and so
//! does [`PiixIde::firmware_init`] for a direct kernel boot.

use super::{command, reg, Bar, ConfigSpace, PciFunction, VENDOR_INTEL};
use crate::ide::{atapi, Channel, Drive, DriveKind, Media, CHANNELS};
use ironpc_mmu::PhysMem;
use serde::{Deserialize, Serialize};

pub const DEVICE_ID: u16 = 0x7010;
/// Mass storage, IDE, programming interface: legacy mode, bus master.
const CLASS_IDE: u32 = 0x01_01_80;
/// The bus-master block's BAR.
const BMIBA_BAR: u8 = 4;
/// IDETIM for the primary and secondary channel; bit 15 enables decode.
pub const IDETIM: [u8; 2] = [0x40, 0x42];
pub const IDETIM_IDE: u16 = 1 << 15;
/// Where SeaBIOS puts the bus-master block on QEMU's `pc` (the first I/O
/// BAR it assigns, from 0xC000).
pub const FIRMWARE_BMIBA: u16 = 0xC000;
/// Status register reset value: fast back-to-back capable, DEVSEL medium.
const STATUS_RESET: u16 = 0x0280;

/// The IDE function and its two channels.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PiixIde {
    config: ConfigSpace,
    pub channels: [Channel; 2],
}

impl Default for PiixIde {
    fn default() -> Self {
        Self::new()
    }
}

/// The two media of channel `n` out of the four.
fn channel_media(media: &mut [Media; 4], n: usize) -> &mut [Media; 2] {
    let (a, b) = media.split_at_mut(2);
    let half = if n == 0 { a } else { b };
    half.try_into().expect("two media a channel")
}

impl PiixIde {
    pub fn new() -> Self {
        let mut config = ConfigSpace::new(VENDOR_INTEL, DEVICE_ID, CLASS_IDE, 0, 0);
        config.set16(reg::STATUS, STATUS_RESET);
        config.declare_bar(BMIBA_BAR, true, 16);
        Self { config, channels: [Channel::new(), Channel::new()] }
    }

    /// Puts a drive at `slot` (0 primary master, 1 primary slave, 2
    /// secondary master, 3 secondary slave).
    pub fn attach(&mut self, slot: usize, kind: DriveKind) {
        if let Some(d) = self.drive_mut(slot) {
            *d = Drive::new(kind);
            d.slot = slot as u8;
        }
    }

    pub fn drive_mut(&mut self, slot: usize) -> Option<&mut Drive> {
        self.channels.get_mut(slot / 2)?.drives.get_mut(slot % 2)
    }

    /// The host changes the CD at `slot` (a new image, or none): the guest
    /// sees the tray close on the new medium, a unit attention and a media
    /// event. Refused (false) if the drive is no CD drive.
    pub fn change_medium(&mut self, slot: usize, media: &mut [Media; 4], new: Media) -> bool {
        let Some(d) = self.drive_mut(slot) else {
            return false;
        };
        let DriveKind::Cdrom(c) = &mut d.kind else {
            return false;
        };
        c.medium_changed(new.is_some());
        media[slot] = new;
        true
    }

    /// The host's eject button: refused (false) while the guest holds the
    /// medium locked (PREVENT ALLOW MEDIUM REMOVAL).
    pub fn eject(&mut self, slot: usize, media: &mut [Media; 4]) -> bool {
        match self.drive_mut(slot).map(|d| &d.kind) {
            Some(DriveKind::Cdrom(c)) if !c.locked => self.change_medium(slot, media, None),
            _ => false,
        }
    }

    /// Whether a CD drive's tray is open (after a guest eject).
    pub fn cd_tray_open(&self, slot: usize) -> bool {
        matches!(
            self.channels.get(slot / 2).map(|c| &c.drives[slot % 2].kind),
            Some(DriveKind::Cdrom(atapi::Cdrom { tray_open: true, .. }))
        )
    }

    /// The bus-master block's base port, when decoded.
    fn bmiba(&self) -> Option<u16> {
        match self.config.bar(BMIBA_BAR) {
            Some(Bar::Io { base, .. }) => Some(base),
            _ => None,
        }
    }

    /// Which channel and register `port` reaches: (channel, kind, offset).
    fn decode(&self, port: u16) -> Option<(usize, Port, u16)> {
        for (n, &(cmd, ctl, _)) in CHANNELS.iter().enumerate() {
            if (cmd..cmd + 8).contains(&port) {
                return Some((n, Port::Command, port - cmd));
            }
            if port == ctl {
                return Some((n, Port::Control, 0));
            }
        }
        let base = self.bmiba()?;
        let off = port.checked_sub(base).filter(|&o| o < 16)?;
        Some((usize::from(off / 8), Port::BusMaster, off % 8))
    }

    /// Whether `port` belongs to the function.
    pub fn decodes(&self, port: u16) -> bool {
        self.decode(port).is_some()
    }

    /// The ISA line of channel `n` (0 or 1), and whether it is raised.
    pub fn irq(&self, n: usize) -> (u8, bool) {
        (CHANNELS[n & 1].2, self.channels[n & 1].irq())
    }

    pub fn io_read(&mut self, port: u16, size: u8, media: &mut [Media; 4]) -> u32 {
        let Some((n, kind, off)) = self.decode(port) else {
            return u32::MAX;
        };
        let ch = &mut self.channels[n];
        let v = match kind {
            Port::Command => ch.read(off, size, channel_media(media, n)),
            Port::Control => u32::from(ch.alt_status()),
            Port::BusMaster => ch.bm.read(off, size),
        };
        // Wider reads of byte registers see the bus float above them.
        match (kind, off, size) {
            (Port::Command, 0, _) | (Port::BusMaster, _, _) => v,
            (_, _, 1) => v,
            (_, _, 2) => v | 0xFF00,
            _ => v | 0xFFFF_FF00,
        }
    }

    pub fn io_write(&mut self, port: u16, size: u8, value: u32, media: &mut [Media; 4], mem: &mut PhysMem) {
        let Some((n, kind, off)) = self.decode(port) else {
            return;
        };
        let bus = self.may_master().then_some(mem);
        let ch = &mut self.channels[n];
        match kind {
            Port::Command => ch.write(off, size, value, channel_media(media, n), bus),
            Port::Control => ch.write_control(value as u8),
            Port::BusMaster => ch.bm_write(off, size, value, channel_media(media, n), bus),
        }
    }

    /// Whether the function may master the bus (PCICMD bus master enable).
    fn may_master(&self) -> bool {
        self.config.read16(reg::COMMAND) & command::MASTER != 0
    }

    /// After a configuration write: with bus mastering enabled, a DMA
    /// started while it was off runs now, as the function gets the bus it
    /// was asking for. (While it stays enabled no DMA waits for it.)
    pub fn run_waiting_dma(&mut self, media: &mut [Media; 4], mem: &mut PhysMem) {
        if !self.may_master() {
            return;
        }
        for (n, ch) in self.channels.iter_mut().enumerate() {
            ch.bus_granted(channel_media(media, n), mem);
        }
    }

    /// What SeaBIOS leaves (src/fw/pciinit.c piix_ide_setup and the BAR
    /// assignment): both channels' decode enabled, the bus-master block at
    /// [`FIRMWARE_BMIBA`], I/O and bus mastering on.
    pub fn firmware_init(&mut self) {
        for r in IDETIM {
            self.config_write(r, 2, u32::from(IDETIM_IDE));
        }
        self.config_write(super::reg::BAR0 + 4 * BMIBA_BAR, 4, u32::from(FIRMWARE_BMIBA) | 1);
        let cmd = self.config.read16(reg::COMMAND) | command::IO | command::MASTER;
        self.config_write(reg::COMMAND, 2, u32::from(cmd));
    }

    /// RESET#: the configuration space and the channels to power-on;
    /// drives keep their kind (the media stay with the board).
    pub fn reset(&mut self) {
        let channels = std::mem::take(&mut self.channels);
        *self = Self::new();
        self.channels = channels;
        for ch in &mut self.channels {
            ch.hard_reset();
        }
    }
}

/// The three register blocks of a channel.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
enum Port {
    Command,
    Control,
    BusMaster,
}

impl PciFunction for PiixIde {
    fn config(&self) -> &ConfigSpace {
        &self.config
    }

    fn config_mut(&mut self) -> &mut ConfigSpace {
        &mut self.config
    }
}
