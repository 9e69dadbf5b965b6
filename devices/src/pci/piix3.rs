//! The PIIX3 PCI-to-ISA bridge, 00:01.0 (Intel 82371SB datasheet, 2.2):
//! the PIRQ route control registers 0x60-0x63 (2.2.10) that steer PCI
//! INTA#-INTD# onto ISA IRQs, and the other function-0 registers at their
//! reset values so that firmware reading and writing them sees a PIIX3.
//! IDs as QEMU's `pc` presents them (8086:7000 rev 00, class 06/01/00,
//! multifunction header).

use super::{ConfigSpace, PciFunction, MULTIFUNCTION, VENDOR_INTEL};
use serde::{Deserialize, Serialize};

pub const DEVICE_ID: u16 = 0x7000;
const CLASS_ISA_BRIDGE: u32 = 0x06_01_00;

/// PIRQRC[A]..PIRQRC[D].
pub const PIRQRC: u8 = 0x60;
/// PIRQRC bit 7: routing disabled.
const IRQROUTEN_DISABLED: u8 = 0x80;
/// PIRQRC bits 6:4 are reserved.
const PIRQRC_WMASK: u8 = 0x8F;
/// ISA IRQs a PIRQ may be routed to (3-7, 9-12, 14, 15); the others are
/// reserved values.
const ROUTABLE_IRQS: u16 = 0b1101_1110_1111_1000;

/// Reset values of the function-0 registers (82371SB 2.2) as QEMU's PIIX3
/// has them (its command register starts at 0, where the datasheet says
/// 7): status, ISA I/O recovery timer, X-bus chip select, PIRQ routes, top
/// of memory, motherboard IRQ/DMA routes, SMI control and system timers.
const RESET_VALUES: [(u8, u8); 14] = [
    (0x07, 0x02),
    (0x4C, 0x4D),
    (0x4E, 0x03),
    (0x60, 0x80),
    (0x61, 0x80),
    (0x62, 0x80),
    (0x63, 0x80),
    (0x69, 0x02),
    (0x70, 0x80),
    (0x76, 0x0C),
    (0x77, 0x0C),
    (0x78, 0x02),
    (0xA0, 0x08),
    (0xA8, 0x0F),
];

/// The ISA bridge.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Piix3Isa {
    config: ConfigSpace,
}

impl Default for Piix3Isa {
    fn default() -> Self {
        Self::new()
    }
}

impl Piix3Isa {
    pub fn new() -> Self {
        let mut config = ConfigSpace::new(VENDOR_INTEL, DEVICE_ID, CLASS_ISA_BRIDGE, 0, MULTIFUNCTION);
        for (offset, v) in RESET_VALUES {
            config.set8(offset, v);
        }
        for n in 0..4 {
            config.set_wmask8(PIRQRC + n, PIRQRC_WMASK);
        }
        Self { config }
    }

    /// The ISA IRQ PCI interrupt line PIRQ`n` (0 = A .. 3 = D) is routed
    /// to, or `None` when routing is disabled or names a reserved IRQ.
    pub fn pirq_route(&self, n: u8) -> Option<u8> {
        let v = self.config.read8(PIRQRC + (n & 3));
        let irq = v & 0x0F;
        (v & IRQROUTEN_DISABLED == 0 && ROUTABLE_IRQS & (1 << irq) != 0).then_some(irq)
    }
}

impl PciFunction for Piix3Isa {
    fn config(&self) -> &ConfigSpace {
        &self.config
    }

    fn config_mut(&mut self) -> &mut ConfigSpace {
        &mut self.config
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn identity_is_qemus_isa_bridge() {
        let b = Piix3Isa::new();
        assert_eq!(b.config().read32(0), 0x7000_8086);
        assert_eq!(b.config().read32(0x08), 0x0601_0000);
        assert_eq!(b.config().read8(0x0E), 0x80);
        assert_eq!(b.config().read32(0x04), 0x0200_0000, "command 0, status DEVSEL medium");
    }

    #[test]
    fn pirq_routes_follow_the_route_control_registers() {
        let mut b = Piix3Isa::new();
        assert_eq!((0..4).map(|n| b.pirq_route(n)).collect::<Vec<_>>(), [None; 4], "reset: disabled");
        // What SeaBIOS writes: LNKA/B on 10, LNKC/D on 11.
        for (n, irq) in [10u32, 10, 11, 11].into_iter().enumerate() {
            b.config_write(PIRQRC + n as u8, 1, irq);
        }
        assert_eq!((0..4).map(|n| b.pirq_route(n)).collect::<Vec<_>>(), [Some(10), Some(10), Some(11), Some(11)]);
        b.config_write(PIRQRC, 4, 0x0F02_8B7F);
        assert_eq!(b.config().read32(PIRQRC), 0x0F02_8B0F, "bits 6:4 reserved");
        assert_eq!(b.pirq_route(0), Some(15));
        assert_eq!(b.pirq_route(1), None, "disabled");
        assert_eq!(b.pirq_route(2), None, "IRQ 2 is reserved");
        assert_eq!(b.pirq_route(3), Some(15));
    }
}
