//! The 8259A programmable interrupt controller pair of the PC/AT (Intel
//! 8259A datasheet; PIIX3 datasheet 2.3.6 for ELCR): a master at 0x20-0x21
//! with the slave cascaded on its IR2, the slave at 0xA0-0xA1, and the edge
//! / level control registers at 0x4D0-0x4D1.
//!
//! Modelled: ICW1-ICW4 initialisation, OCW1 masks, OCW2 EOIs (specific,
//! non-specific, rotate on EOI, set priority), OCW3 (IRR/ISR read select,
//! poll, special mask mode), automatic EOI (with rotation), edge and level
//! triggering per line, special fully nested mode, and the spurious IRQ 7
//! (or 15) an acknowledge without a request produces.

use crate::PortIo;
use serde::{Deserialize, Serialize};

/// One 8259A.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Pic {
    /// Interrupt request register: lines asking for service.
    irr: u8,
    /// In-service register.
    isr: u8,
    /// Interrupt mask register (OCW1).
    imr: u8,
    /// Current input level of each line (for edge detection).
    level: u8,
    /// Edge/level control (ELCR): set bits are level triggered.
    elcr: u8,
    /// Which lines the ELCR may set to level (IRQ 0, 1, 2, 8, 13 are edge
    /// only on a PIIX).
    elcr_mask: u8,
    /// Vector base from ICW2 (low three bits ignored).
    base: u8,
    /// The line with the lowest priority; priority rotates from here.
    lowest: u8,
    /// ICW4 bits: AEOI, special fully nested.
    auto_eoi: bool,
    special_nested: bool,
    /// OCW3 state: read ISR instead of IRR; special mask mode; poll.
    read_isr: bool,
    special_mask: bool,
    poll: bool,
    /// Rotate on AEOI (OCW2 R with AEOI).
    rotate_on_aeoi: bool,
    /// Initialisation sequence: which ICW comes next (0 = none).
    init_step: u8,
    expect_icw4: bool,
    single: bool,
}

impl Pic {
    fn new(elcr_mask: u8) -> Self {
        Self { elcr_mask, lowest: 7, ..Self::default() }
    }

    /// Sets the input level of line `n` (0..7).
    fn set_line(&mut self, n: u8, high: bool) {
        let bit = 1 << n;
        if self.elcr & bit != 0 {
            // Level: the request follows the line.
            if high {
                self.irr |= bit;
            } else {
                self.irr &= !bit;
            }
        } else if high && self.level & bit == 0 {
            // Edge: a rising edge latches a request until it is
            // acknowledged. (The real part wants the line held until INTA;
            // emulated devices pulse their lines in one instant, so the
            // latch must not depend on the line staying high.)
            self.irr |= bit;
        }
        if high {
            self.level |= bit;
        } else {
            self.level &= !bit;
        }
    }

    /// Priority order starting after the lowest-priority line.
    fn priority_order(&self) -> impl Iterator<Item = u8> {
        let start = (self.lowest + 1) & 7;
        (0..8).map(move |i| (start + i) & 7)
    }

    /// The highest-priority line that may interrupt now, if any.
    fn pending(&self) -> Option<u8> {
        let requests = self.irr & !self.imr;
        if requests == 0 {
            return None;
        }
        for line in self.priority_order() {
            let bit = 1 << line;
            // In special mask mode only the lines in service are ignored,
            // lower-priority ones may interrupt.
            if self.isr & bit != 0 && !self.special_mask {
                // A line in service blocks itself and everything below it,
                // except in special fully nested mode for the cascade line.
                if !(self.special_nested && requests & bit != 0) {
                    return None;
                }
            }
            if requests & bit != 0 {
                return Some(line);
            }
        }
        None
    }

    /// The INTA cycle: returns the line acknowledged, or None (spurious).
    fn acknowledge(&mut self) -> Option<u8> {
        let line = self.pending()?;
        let bit = 1 << line;
        // Edge-triggered requests are cleared by the acknowledge; level ones
        // stay while the line is high.
        if self.elcr & bit == 0 {
            self.irr &= !bit;
        }
        if self.auto_eoi {
            if self.rotate_on_aeoi {
                self.lowest = line;
            }
        } else {
            self.isr |= bit;
        }
        Some(line)
    }

    /// The highest-priority line in service.
    fn highest_in_service(&self) -> Option<u8> {
        self.priority_order().find(|&l| self.isr & (1 << l) != 0)
    }

    fn write_command(&mut self, v: u8) {
        if v & 0x10 != 0 {
            // ICW1: start initialisation.
            self.init_step = 2;
            self.expect_icw4 = v & 0x01 != 0;
            self.single = v & 0x02 != 0;
            self.imr = 0;
            self.isr = 0;
            self.irr &= self.elcr & self.level;
            self.lowest = 7;
            self.special_mask = false;
            self.read_isr = false;
            self.auto_eoi = false;
            self.rotate_on_aeoi = false;
            self.special_nested = false;
            return;
        }
        if v & 0x08 != 0 {
            // OCW3.
            if v & 0x04 != 0 {
                self.poll = true;
            }
            if v & 0x02 != 0 {
                self.read_isr = v & 0x01 != 0;
            }
            if v & 0x40 != 0 {
                self.special_mask = v & 0x20 != 0;
            }
            return;
        }
        // OCW2: R SL EOI in bits 7-5, level in bits 2-0.
        let level = v & 7;
        match v >> 5 {
            0b001 => {
                // Non-specific EOI.
                if let Some(l) = self.highest_in_service() {
                    self.isr &= !(1 << l);
                }
            }
            0b011 => self.isr &= !(1 << level),
            0b101 => {
                // Rotate on non-specific EOI.
                if let Some(l) = self.highest_in_service() {
                    self.isr &= !(1 << l);
                    self.lowest = l;
                }
            }
            0b100 => self.rotate_on_aeoi = true,
            0b000 => self.rotate_on_aeoi = false,
            0b111 => {
                // Rotate on specific EOI.
                self.isr &= !(1 << level);
                self.lowest = level;
            }
            0b110 => self.lowest = level,
            _ => {}
        }
    }

    fn write_data(&mut self, v: u8) {
        match self.init_step {
            2 => {
                self.base = v & 0xF8;
                self.init_step = if self.single {
                    if self.expect_icw4 {
                        4
                    } else {
                        0
                    }
                } else {
                    3
                };
            }
            3 => {
                // ICW3: cascade wiring, fixed on a PC.
                self.init_step = if self.expect_icw4 { 4 } else { 0 };
            }
            4 => {
                self.auto_eoi = v & 0x02 != 0;
                self.special_nested = v & 0x10 != 0;
                self.init_step = 0;
            }
            _ => self.imr = v,
        }
    }

    fn read(&mut self, data_port: bool) -> u8 {
        if self.poll {
            // A poll command makes the next read return the highest
            // request, acknowledging it, as if INTA had happened.
            self.poll = false;
            return match self.acknowledge() {
                Some(l) => 0x80 | l,
                None => 0,
            };
        }
        if data_port {
            self.imr
        } else if self.read_isr {
            self.isr
        } else {
            self.irr
        }
    }
}

/// Whether `port` is the pair's: each 8259A's two ports and the ELCR's.
pub fn decodes(port: u16) -> bool {
    matches!(port, 0x20 | 0x21 | 0xA0 | 0xA1 | 0x4D0 | 0x4D1)
}

/// The master/slave pair of a PC, with the ELCR.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct PicPair {
    master: Pic,
    slave: Pic,
}

impl Default for PicPair {
    fn default() -> Self {
        Self::new()
    }
}

/// The master's line the slave is cascaded on.
const CASCADE: u8 = 2;

impl PicPair {
    pub fn new() -> Self {
        // IRQ 0, 1, 2 (master) and 8, 13 (slave) are edge only on a PIIX.
        Self { master: Pic::new(0xF8), slave: Pic::new(0xDE) }
    }

    /// Drives interrupt request line `irq` (0..15) high or low.
    pub fn set_irq(&mut self, irq: u8, high: bool) {
        match irq {
            0..=7 => self.master.set_line(irq, high),
            8..=15 => {
                self.slave.set_line(irq - 8, high);
                self.sync_cascade();
            }
            _ => {}
        }
    }

    /// The slave's INT output is the master's IR2 input. That output is a
    /// level: the cascade request follows it, so a request withdrawn on the
    /// slave (a level line dropping) leaves no stale request at the master.
    fn sync_cascade(&mut self) {
        let bit = 1 << CASCADE;
        if self.slave.pending().is_some() {
            self.master.irr |= bit;
            self.master.level |= bit;
        } else {
            self.master.irr &= !bit;
            self.master.level &= !bit;
        }
    }

    /// The INTR line to the CPU.
    pub fn interrupt_pending(&self) -> bool {
        self.master.pending().is_some()
    }

    /// The INTA cycle: the vector the CPU gets. Without a request this is
    /// the spurious IRQ 7 (or 15 from the slave), whose ISR bit is not set.
    pub fn acknowledge(&mut self) -> u8 {
        let vector = match self.master.acknowledge() {
            Some(CASCADE) => match self.slave.acknowledge() {
                Some(l) => self.slave.base | l,
                None => self.slave.base | 7,
            },
            Some(l) => self.master.base | l,
            None => self.master.base | 7,
        };
        self.sync_cascade();
        vector
    }
}

impl PortIo for PicPair {
    fn io_read(&mut self, port: u16, _size: u8) -> u32 {
        let v = match port {
            0x20 | 0x21 => self.master.read(port == 0x21),
            0xA0 | 0xA1 => {
                let v = self.slave.read(port == 0xA1);
                self.sync_cascade();
                v
            }
            0x4D0 => self.master.elcr,
            0x4D1 => self.slave.elcr,
            _ => 0xFF,
        };
        u32::from(v)
    }

    fn io_write(&mut self, port: u16, _size: u8, value: u32) {
        let v = value as u8;
        match port {
            0x20 => self.master.write_command(v),
            0x21 => self.master.write_data(v),
            0xA0 => self.slave.write_command(v),
            0xA1 => self.slave.write_data(v),
            0x4D0 => self.master.elcr = v & self.master.elcr_mask,
            0x4D1 => self.slave.elcr = v & self.slave.elcr_mask,
            _ => {}
        }
        self.sync_cascade();
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Programs the pair as a PC BIOS does: vectors 0x08 and 0x70,
    /// cascade on IR2, 8086 mode, all unmasked.
    fn bios_pics() -> PicPair {
        let mut p = PicPair::new();
        for (port, v) in
            [(0x20, 0x11), (0x21, 0x08), (0x21, 0x04), (0x21, 0x01), (0xA0, 0x11), (0xA1, 0x70), (0xA1, 0x02), (0xA1, 0x01)]
        {
            p.io_write(port, 1, v);
        }
        p.io_write(0x21, 1, 0);
        p.io_write(0xA1, 1, 0);
        p
    }

    #[test]
    fn edge_irq_is_delivered_once_with_its_vector_and_held_in_service() {
        let mut p = bios_pics();
        assert!(!p.interrupt_pending());
        p.set_irq(1, true);
        assert!(p.interrupt_pending());
        assert_eq!(p.acknowledge(), 0x09);
        assert!(!p.interrupt_pending(), "edge request consumed");
        // ISR bit 1 set: read with OCW3.
        p.io_write(0x20, 1, 0x0B);
        assert_eq!(p.io_read(0x20, 1), 0x02);
        // A lower-priority request waits for the EOI.
        p.set_irq(3, true);
        assert!(!p.interrupt_pending());
        p.io_write(0x20, 1, 0x20);
        assert!(p.interrupt_pending());
        assert_eq!(p.acknowledge(), 0x0B);
    }

    #[test]
    fn higher_priority_preempts_and_masks_hold_requests() {
        let mut p = bios_pics();
        p.set_irq(4, true);
        assert_eq!(p.acknowledge(), 0x0C);
        p.set_irq(0, true);
        assert!(p.interrupt_pending(), "IRQ0 outranks IRQ4 in service");
        assert_eq!(p.acknowledge(), 0x08);
        p.io_write(0x21, 1, 0x20); // mask IRQ5
        p.set_irq(5, true);
        p.io_write(0x20, 1, 0x20);
        p.io_write(0x20, 1, 0x20);
        assert!(!p.interrupt_pending(), "masked");
        p.io_write(0x21, 1, 0);
        assert_eq!(p.acknowledge(), 0x0D);
    }

    #[test]
    fn slave_irqs_come_through_the_cascade() {
        let mut p = bios_pics();
        p.set_irq(8, true);
        assert!(p.interrupt_pending());
        assert_eq!(p.acknowledge(), 0x70);
        // Both ISRs hold until both EOIs.
        p.io_write(0xA0, 1, 0x0B);
        assert_eq!(p.io_read(0xA0, 1), 0x01);
        p.io_write(0x20, 1, 0x0B);
        assert_eq!(p.io_read(0x20, 1), 0x04);
        p.io_write(0xA0, 1, 0x20);
        p.io_write(0x20, 1, 0x20);
        assert_eq!(p.io_read(0x20, 1), 0);
    }

    #[test]
    fn level_triggered_lines_follow_the_line_and_elcr_masks_edge_only_irqs() {
        let mut p = bios_pics();
        p.io_write(0x4D1, 1, 0xFF);
        assert_eq!(p.io_read(0x4D1, 1), 0xDE, "IRQ 8 and 13 stay edge");
        p.set_irq(11, true);
        assert_eq!(p.acknowledge(), 0x73);
        p.io_write(0xA0, 1, 0x20);
        p.io_write(0x20, 1, 0x20);
        assert!(p.interrupt_pending(), "still high: requests again");
        p.set_irq(11, false);
        assert!(!p.interrupt_pending());
    }

    #[test]
    fn a_pulsed_edge_is_latched() {
        let mut p = bios_pics();
        p.set_irq(5, true);
        p.set_irq(5, false);
        assert_eq!(p.acknowledge(), 0x0D);
    }

    #[test]
    fn spurious_acknowledge_gives_irq7_without_isr() {
        let mut p = bios_pics();
        // INTA with nothing requested (the request was masked meanwhile).
        p.set_irq(5, true);
        p.io_write(0x21, 1, 0x20);
        assert_eq!(p.acknowledge(), 0x0F);
        p.io_write(0x20, 1, 0x0B);
        assert_eq!(p.io_read(0x20, 1), 0, "spurious IRQ 7 is not in service");
    }

    #[test]
    fn auto_eoi_poll_and_rotation() {
        let mut p = PicPair::new();
        for (port, v) in [(0x20, 0x11), (0x21, 0x20), (0x21, 0x04), (0x21, 0x03)] {
            p.io_write(port, 1, v);
        }
        p.set_irq(6, true);
        assert_eq!(p.acknowledge(), 0x26);
        p.io_write(0x20, 1, 0x0B);
        assert_eq!(p.io_read(0x20, 1), 0, "AEOI leaves nothing in service");
        // Poll: the next read acknowledges and returns 0x80 | line.
        p.set_irq(3, true);
        p.io_write(0x20, 1, 0x0C);
        assert_eq!(p.io_read(0x20, 1), 0x83);
        // Set priority: make IRQ 4 the lowest, so IRQ 5 outranks IRQ 0.
        p.io_write(0x20, 1, 0xC4);
        p.set_irq(0, true);
        p.set_irq(5, true);
        assert_eq!(p.acknowledge(), 0x25);
    }

    #[test]
    fn state_round_trips_through_serde_mid_interrupt() {
        let mut p = bios_pics();
        p.set_irq(9, true);
        p.set_irq(3, true);
        assert_eq!(p.acknowledge(), 0x09 + 0x68, "IRQ 9 through the cascade");
        let mut copy: PicPair = serde_json::from_str(&serde_json::to_string(&p).unwrap()).unwrap();
        assert_eq!(copy, p);
        // The copy goes on exactly as the original would.
        for q in [&mut p, &mut copy] {
            q.io_write(0xA0, 1, 0x20);
            q.io_write(0x20, 1, 0x20);
        }
        assert_eq!((p.acknowledge(), copy.acknowledge()), (0x0B, 0x0B));
    }
}
