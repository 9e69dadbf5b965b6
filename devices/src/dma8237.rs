//! The PC/AT's two 8237A DMA controllers (Intel 8237A/82C37A datasheet;
//! IBM PC/AT Technical Reference, "DMA Controller") and the 74LS612 page
//! registers beside them.
//!
//! Controller 1 (ports 0x00-0x0F) serves the 8-bit channels 0-3: byte
//! addresses within a 64 KiB page. Controller 2 (ports 0xC0-0xDF, its A0
//! wired to SA1 so every register sits at an even port and the odd one
//! aliases it) serves the 16-bit channels 4-7: word addresses within a
//! 128 KiB page, the page register's bit 0 ignored. Channel 4 is the
//! cascade input of controller 1: while it is masked, channels 0-3 get no
//! bus. The page registers (0x81-0x8F; 0x80 is the board's POST port) hold
//! address bits 23-16; the 8237 carries no address overflow into them, so
//! a transfer wraps inside its page as on the real board, and no ISA DMA
//! reaches above 16 MiB.
//!
//! Devices do not see registers: a device with data on its DREQ line calls
//! [`Dma8237::to_memory`] (the 8237's "write" transfer) or
//! [`Dma8237::from_memory`] ("read"); the controller moves the bytes through
//! [`PhysMem`], steps the address and count, and at terminal count sets the
//! status bit and either reloads the channel (auto-initialise) or masks it.
//! Single, block and demand modes differ only in when the bus is released,
//! which nothing here observes: all three move what the device offers.

use ironpc_mmu::PhysMem;
use serde::{Deserialize, Serialize};

/// Mode register fields (8237A datasheet, "Mode Register").
/// Transfer type, bits 3-2: 00 verify, 01 write, 10 read, 11 illegal.
const MODE_TYPE_MASK: u8 = 0x0C;
const MODE_WRITE: u8 = 0x04;
const MODE_READ: u8 = 0x08;
const MODE_AUTOINIT: u8 = 0x10;
const MODE_DECREMENT: u8 = 0x20;

/// Command register bit 2: controller disable.
const COMMAND_DISABLE: u8 = 0x04;

/// The page register of each channel, as port offsets from 0x80 (IBM
/// PC/AT wiring: 0x87 for channel 0, 0x83, 0x81, 0x82; 0x8F for the
/// refresh/cascade channel 4, 0x8B, 0x89, 0x8A).
const PAGE_PORT: [u8; 8] = [0x7, 0x3, 0x1, 0x2, 0xF, 0xB, 0x9, 0xA];

/// The I/O ports the pair decodes.
pub fn decodes(port: u16) -> bool {
    matches!(port, 0x00..=0x0F | 0x81..=0x8F | 0xC0..=0xDF)
}

/// One channel's registers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct Channel {
    base_address: u16,
    base_count: u16,
    address: u16,
    count: u16,
    mode: u8,
}

/// One 8237A.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
struct Controller {
    channels: [Channel; 4],
    command: u8,
    /// Bits 0-3 terminal count reached, 4-7 requests pending.
    status: u8,
    /// Software DMA requests (the request register), bits 0-3.
    request: u8,
    /// Mask bits 0-3.
    mask: u8,
    temporary: u8,
    /// The byte pointer flip-flop: the next address/count access is the
    /// high byte.
    high_byte: bool,
}

impl Default for Controller {
    fn default() -> Self {
        Self { channels: Default::default(), command: 0, status: 0, request: 0, mask: 0x0F, temporary: 0, high_byte: false }
    }
}

impl Controller {
    /// Master clear: as a hardware reset, every channel masked.
    fn master_clear(&mut self) {
        let channels = std::mem::take(&mut self.channels);
        *self = Self { channels, ..Self::default() };
    }

    fn read(&mut self, reg: u8) -> u8 {
        match reg {
            0x0..=0x7 => {
                let ch = &self.channels[usize::from(reg >> 1)];
                let v = if reg & 1 == 0 { ch.address } else { ch.count };
                let byte = if self.high_byte { (v >> 8) as u8 } else { v as u8 };
                self.high_byte = !self.high_byte;
                byte
            }
            0x8 => {
                let v = self.status | (self.request << 4);
                // Reading the status clears the terminal-count bits.
                self.status &= 0xF0;
                v
            }
            0xD => self.temporary,
            // The mask register reads back here on the PIIX's 82C37 core.
            0xF => 0xF0 | self.mask,
            _ => 0xFF,
        }
    }

    fn write(&mut self, reg: u8, v: u8) {
        let sel = usize::from(v & 3);
        match reg {
            0x0..=0x7 => {
                let ch = &mut self.channels[usize::from(reg >> 1)];
                let (base, cur) =
                    if reg & 1 == 0 { (&mut ch.base_address, &mut ch.address) } else { (&mut ch.base_count, &mut ch.count) };
                *base = if self.high_byte { (*base & 0x00FF) | u16::from(v) << 8 } else { (*base & 0xFF00) | u16::from(v) };
                *cur = *base;
                self.high_byte = !self.high_byte;
            }
            0x8 => self.command = v,
            0x9 => set_bit(&mut self.request, sel, v & 4 != 0),
            0xA => set_bit(&mut self.mask, sel, v & 4 != 0),
            0xB => self.channels[sel].mode = v,
            0xC => self.high_byte = false,
            0xD => self.master_clear(),
            0xE => self.mask = 0,
            0xF => self.mask = v & 0x0F,
            _ => {}
        }
    }
}

fn set_bit(reg: &mut u8, bit: usize, on: bool) {
    if on {
        *reg |= 1 << bit;
    } else {
        *reg &= !(1 << bit);
    }
}

/// How a transfer went, in bytes moved and whether the channel reached
/// terminal count (its TC pulse, which ends a floppy command).
#[derive(Clone, Copy, Debug, Default, PartialEq, Eq)]
pub struct DmaTransfer {
    pub bytes: usize,
    pub tc: bool,
}

/// The transfer direction the channel's mode register programs.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum DmaDirection {
    /// Device to memory (the 8237's "write" transfer).
    ToMemory,
    /// Memory to device ("read").
    FromMemory,
    /// Addresses and counts step, no data moves.
    Verify,
}

/// The two controllers and the page registers.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Dma8237 {
    controllers: [Controller; 2],
    /// The 74LS612 page register file at 0x80-0x8F (index 0, the POST
    /// port, is never decoded here).
    pages: [u8; 16],
}

impl Dma8237 {
    pub fn new() -> Self {
        Self::default()
    }

    /// What a PC BIOS leaves (SeaBIOS's `dma_setup`): both controllers
    /// master-cleared, channel 4 in cascade mode and unmasked, so that
    /// channels 0-3 reach the bus. For guests started without firmware.
    pub fn firmware_init(&mut self) {
        self.write(0x0D, 0);
        self.write(0xDA, 0);
        self.write(0xD6, 0xC0);
        self.write(0xD4, 0x00);
    }

    /// A port read; `port` must satisfy [`decodes`].
    pub fn read(&mut self, port: u16) -> u8 {
        match port {
            0x00..=0x0F => self.controllers[0].read(port as u8),
            0xC0..=0xDF => self.controllers[1].read(((port - 0xC0) >> 1) as u8),
            0x81..=0x8F => self.pages[usize::from(port as u8 & 0xF)],
            _ => 0xFF,
        }
    }

    /// A port write; `port` must satisfy [`decodes`].
    pub fn write(&mut self, port: u16, v: u8) {
        match port {
            0x00..=0x0F => self.controllers[0].write(port as u8, v),
            0xC0..=0xDF => self.controllers[1].write(((port - 0xC0) >> 1) as u8, v),
            0x81..=0x8F => self.pages[usize::from(port as u8 & 0xF)] = v,
            _ => {}
        }
    }

    /// Raises or drops a device's DREQ line: it shows in the status
    /// register's request bits (a device that transfers at once needs not).
    pub fn set_dreq(&mut self, channel: usize, on: bool) {
        if channel < 8 {
            let c = &mut self.controllers[channel / 4];
            set_bit(&mut c.status, 4 + channel % 4, on);
        }
    }

    /// Whether `channel` would answer a request now: unmasked, its
    /// controller enabled and, for channels 0-3, the cascade channel 4
    /// unmasked.
    pub fn ready(&self, channel: usize) -> bool {
        if channel >= 8 {
            return false;
        }
        let c = &self.controllers[channel / 4];
        let cascade_open = channel >= 4 || self.controllers[1].mask & 1 == 0;
        c.mask & (1 << (channel % 4)) == 0 && c.command & COMMAND_DISABLE == 0 && cascade_open
    }

    /// The direction `channel`'s mode programs (the "illegal" type 3 moves
    /// nothing, as verify).
    pub fn direction(&self, channel: usize) -> DmaDirection {
        let Some(ch) = self.channel(channel) else {
            return DmaDirection::Verify;
        };
        match ch.mode & MODE_TYPE_MASK {
            MODE_WRITE => DmaDirection::ToMemory,
            MODE_READ => DmaDirection::FromMemory,
            _ => DmaDirection::Verify,
        }
    }

    /// Whether `channel` has reached terminal count since the status was
    /// last read.
    pub fn terminal_count(&self, channel: usize) -> bool {
        channel < 8 && self.controllers[channel / 4].status & (1 << (channel % 4)) != 0
    }

    fn channel(&self, channel: usize) -> Option<&Channel> {
        self.controllers.get(channel / 4).and_then(|c| c.channels.get(channel % 4))
    }

    /// A device on `channel` offers `data` for memory. Returns how much the
    /// channel took: all of it, or less when terminal count came first or
    /// the channel is not ready (masked: nothing). A channel programmed for
    /// a read or verify still steps through its addresses, but memory is
    /// not written, as on the bus.
    pub fn to_memory(&mut self, channel: usize, mem: &mut PhysMem, data: &[u8]) -> DmaTransfer {
        let write = self.direction(channel) == DmaDirection::ToMemory;
        self.run(channel, data.len(), |addr, range| {
            if write {
                mem.write(addr, &data[range]);
            }
        })
    }

    /// A device on `channel` wants `buf.len()` bytes from memory. Returns
    /// how many the channel delivered (into the start of `buf`). A channel
    /// programmed for a write or verify delivers what the floating data bus
    /// holds (0xFF).
    pub fn from_memory(&mut self, channel: usize, mem: &PhysMem, buf: &mut [u8]) -> DmaTransfer {
        let read = self.direction(channel) == DmaDirection::FromMemory;
        self.run(channel, buf.len(), |addr, range| {
            if read {
                mem.read(addr, &mut buf[range]);
            } else {
                buf[range].fill(0xFF);
            }
        })
    }

    /// Steps `channel` through up to `len` bytes, calling `each` with the
    /// physical address and the byte range of each contiguous run.
    fn run(&mut self, channel: usize, len: usize, mut each: impl FnMut(u64, std::ops::Range<usize>)) -> DmaTransfer {
        let mut out = DmaTransfer::default();
        if !self.ready(channel) {
            return out;
        }
        let wide = channel >= 4;
        let unit = if wide { 2 } else { 1 };
        let page_reg = self.pages[usize::from(PAGE_PORT[channel])];
        let c = &mut self.controllers[channel / 4];
        let ch = &mut c.channels[channel % 4];
        let decrement = ch.mode & MODE_DECREMENT != 0;
        let page = if wide { u64::from(page_reg & 0xFE) << 16 } else { u64::from(page_reg) << 16 };
        while out.bytes + unit <= len {
            // Units left before terminal count, and before the address
            // wraps inside its page (increment only: a decrementing run is
            // taken a unit at a time, memory order reversed).
            let left = usize::from(ch.count) + 1;
            let to_wrap = if decrement { 1 } else { 0x1_0000 - usize::from(ch.address) };
            let units = ((len - out.bytes) / unit).min(left).min(to_wrap);
            let addr = page + (u64::from(ch.address) << (unit - 1));
            each(addr, out.bytes..out.bytes + units * unit);
            out.bytes += units * unit;
            // A whole page (0x10000 units) truncates to 0: the address is
            // back where it started.
            let n = units as u16;
            ch.address = if decrement { ch.address.wrapping_sub(n) } else { ch.address.wrapping_add(n) };
            if units == left {
                // Terminal count: the count has rolled over to 0xFFFF.
                ch.count = 0xFFFF;
                c.status |= 1 << (channel % 4);
                out.tc = true;
                if ch.mode & MODE_AUTOINIT != 0 {
                    ch.address = ch.base_address;
                    ch.count = ch.base_count;
                } else {
                    c.mask |= 1 << (channel % 4);
                }
                break;
            }
            ch.count -= n;
        }
        out
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Programs channel `n` as a BIOS does: mask, flip-flop clear, address,
    /// count, mode, page, unmask.
    fn program(d: &mut Dma8237, n: usize, addr: u16, count: u16, mode: u8, page: u8) {
        let (base, reg): (u16, fn(u16) -> u16) = if n < 4 { (0x00, |r| r) } else { (0xC0, |r| r << 1) };
        let sel = (n % 4) as u8;
        d.write(base + reg(0xA), 4 | sel);
        d.write(base + reg(0xC), 0);
        let ch = (n % 4) as u16;
        d.write(base + reg(ch * 2), addr as u8);
        d.write(base + reg(ch * 2), (addr >> 8) as u8);
        d.write(base + reg(ch * 2 + 1), count as u8);
        d.write(base + reg(ch * 2 + 1), (count >> 8) as u8);
        d.write(base + reg(0xB), mode | sel);
        d.write(0x80 + u16::from(PAGE_PORT[n]), page);
        d.write(base + reg(0xA), sel);
    }

    /// SeaBIOS's dma_setup: master clear both, channel 4 cascade, unmasked.
    fn bios_setup() -> Dma8237 {
        let mut d = Dma8237::new();
        d.firmware_init();
        d
    }

    #[test]
    fn the_flip_flop_orders_low_then_high_bytes_and_reads_back_current_values() {
        let mut d = Dma8237::new();
        d.write(0x0C, 0);
        d.write(0x04, 0x34);
        d.write(0x04, 0x12);
        d.write(0x05, 0xFF);
        d.write(0x05, 0x01);
        d.write(0x0C, 0);
        assert_eq!([d.read(0x04), d.read(0x04)], [0x34, 0x12]);
        assert_eq!([d.read(0x05), d.read(0x05)], [0xFF, 0x01]);
        // Without a flip-flop clear the next access is the low byte again
        // (four accesses toggled it back).
        d.write(0x04, 0x78);
        assert_eq!(d.read(0x04), 0x12, "this read is the high byte");
        d.write(0x0C, 0);
        assert_eq!(d.read(0x04), 0x78);
    }

    #[test]
    fn page_registers_sit_at_the_at_ports() {
        let mut d = Dma8237::new();
        for (n, port) in [0x87u16, 0x83, 0x81, 0x82, 0x8F, 0x8B, 0x89, 0x8A].iter().enumerate() {
            d.write(*port, n as u8 + 1);
        }
        for (n, &p) in PAGE_PORT.iter().enumerate() {
            assert_eq!(d.pages[usize::from(p)], n as u8 + 1);
        }
        assert!(!decodes(0x80), "the POST port is the board's");
        assert!(decodes(0xC1), "odd controller-2 ports alias");
    }

    #[test]
    fn a_single_transfer_writes_memory_sets_tc_and_masks_the_channel() {
        let mut mem = PhysMem::new(4 << 20).unwrap();
        let mut d = bios_setup();
        // Channel 2, write to memory, 0x12_3400, 4 bytes (count 3).
        program(&mut d, 2, 0x3400, 3, 0x44, 0x12);
        assert!(d.ready(2));
        let r = d.to_memory(2, &mut mem, &[1, 2, 3, 4, 5, 6]);
        assert_eq!(r, DmaTransfer { bytes: 4, tc: true });
        let mut got = [0; 5];
        mem.read(0x12_3400, &mut got);
        assert_eq!(got, [1, 2, 3, 4, 0]);
        assert!(!d.ready(2), "no auto-init: masked at TC");
        assert_eq!(d.read(0x08) & 0x0F, 0x04, "TC bit of channel 2");
        assert_eq!(d.read(0x08) & 0x0F, 0, "reading the status cleared it");
        d.write(0x0C, 0);
        assert_eq!([d.read(0x04), d.read(0x04)], [0x04, 0x34], "address past the block");
        assert_eq!([d.read(0x05), d.read(0x05)], [0xFF, 0xFF], "count rolled over");
    }

    #[test]
    fn auto_init_reloads_and_the_channel_stays_open() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut d = bios_setup();
        program(&mut d, 1, 0x1000, 1, 0x54, 0);
        assert_eq!(d.to_memory(1, &mut mem, &[9, 8, 7]), DmaTransfer { bytes: 2, tc: true });
        assert!(d.ready(1));
        assert_eq!(d.to_memory(1, &mut mem, &[6]), DmaTransfer { bytes: 1, tc: false });
        let mut got = [0; 2];
        mem.read(0x1000, &mut got);
        assert_eq!(got, [6, 8], "the second block starts at the base address again");
    }

    #[test]
    fn reads_come_from_memory_and_decrement_walks_down() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        mem.write(0x2000, &[1, 2, 3, 4]);
        let mut d = bios_setup();
        program(&mut d, 3, 0x2003, 3, 0x68, 0);
        let mut buf = [0; 4];
        assert_eq!(d.from_memory(3, &mem, &mut buf), DmaTransfer { bytes: 4, tc: true });
        assert_eq!(buf, [4, 3, 2, 1]);
    }

    #[test]
    fn the_address_wraps_inside_its_page() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut d = bios_setup();
        program(&mut d, 2, 0xFFFE, 3, 0x44, 0x05);
        d.to_memory(2, &mut mem, &[1, 2, 3, 4]);
        let (mut end, mut start, mut next) = ([0; 2], [0; 2], [0; 2]);
        mem.read(0x5_FFFE, &mut end);
        mem.read(0x5_0000, &mut start);
        mem.read(0x6_0000, &mut next);
        assert_eq!((end, start, next), ([1, 2], [3, 4], [0, 0]), "the page register does not increment");
    }

    #[test]
    fn sixteen_bit_channels_address_words_in_128k_pages() {
        let mut mem = PhysMem::new(4 << 20).unwrap();
        let mut d = bios_setup();
        // Channel 5: word address 0x8000 in page 0x21 (bit 0 ignored):
        // byte address 0x20_0000 + 0x1_0000; two words.
        program(&mut d, 5, 0x8000, 1, 0x44, 0x21);
        assert_eq!(d.to_memory(5, &mut mem, &[1, 2, 3, 4, 5]), DmaTransfer { bytes: 4, tc: true });
        let mut got = [0; 4];
        mem.read(0x21_0000, &mut got);
        assert_eq!(got, [1, 2, 3, 4]);
        assert_eq!(d.read(0xD0) & 0x0F, 0x02, "TC of channel 5 in controller 2's status");
        // The word address wraps at 128 KiB.
        program(&mut d, 6, 0xFFFF, 1, 0x44, 0x04);
        d.to_memory(6, &mut mem, &[7, 8, 9, 10]);
        let (mut hi, mut lo) = ([0; 2], [0; 2]);
        mem.read(0x5_FFFE, &mut hi);
        mem.read(0x4_0000, &mut lo);
        assert_eq!((hi, lo), ([7, 8], [9, 10]));
    }

    #[test]
    fn masks_cascade_and_master_clear() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut d = Dma8237::new();
        program(&mut d, 2, 0, 0, 0x44, 0);
        assert!(!d.ready(2), "channel 4 (cascade) masked at power-on");
        d.write(0xD4, 0);
        assert!(d.ready(2));
        d.write(0x0F, 0x04);
        assert!(!d.ready(2), "write-all-mask");
        assert_eq!(d.to_memory(2, &mut mem, &[1]), DmaTransfer::default());
        d.write(0x0E, 0);
        assert!(d.ready(2), "clear-mask");
        d.write(0x08, COMMAND_DISABLE);
        assert!(!d.ready(2), "controller disabled");
        d.write(0x09, 0x05);
        assert_eq!(d.read(0x08) & 0xF0, 0x20, "software request on channel 1");
        d.write(0x0D, 0);
        assert!(!d.ready(2), "master clear masks all");
        assert_eq!(d.read(0x0F) & 0x0F, 0x0F);
        assert_eq!(d.read(0x08), 0, "status, request, command cleared");
        assert_eq!(d.read(0x0D), 0, "temporary register");
    }

    #[test]
    fn verify_moves_no_data() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut d = bios_setup();
        program(&mut d, 2, 0x3000, 1, 0x40, 0);
        assert_eq!(d.to_memory(2, &mut mem, &[1, 2]), DmaTransfer { bytes: 2, tc: true });
        let mut got = [0xAA; 2];
        mem.read(0x3000, &mut got);
        assert_eq!(got, [0, 0]);
    }

    #[test]
    fn state_round_trips_through_serde() {
        let mut d = bios_setup();
        program(&mut d, 6, 0x1234, 0x55, 0x58, 0x42);
        d.write(0x0C, 0);
        d.write(0x00, 1);
        let back: Dma8237 = serde_json::from_str(&serde_json::to_string(&d).unwrap()).unwrap();
        assert_eq!(back, d);
    }

    #[test]
    fn random_port_traffic_and_transfers_cannot_panic() {
        let mut next = crate::fuzz_rng::seeded("DMA_FUZZ_SEED", 0x9E37_79B9_7F4A_7C15);
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut d = Dma8237::new();
        let mut buf = vec![0u8; 3000];
        for _ in 0..200_000 {
            let r = next();
            let port = match r & 3 {
                0 => (r >> 8) as u16 & 0x0F,
                1 => 0xC0 + ((r >> 8) as u16 & 0x1F),
                2 => 0x81 + ((r >> 8) as u16 % 15),
                _ => (r >> 8) as u16,
            };
            if decodes(port) {
                if r & 4 != 0 {
                    d.write(port, (r >> 32) as u8);
                } else {
                    d.read(port);
                }
            }
            if r & 0xF0 == 0 {
                let ch = ((r >> 40) % 9) as usize;
                let len = ((r >> 48) % 3000) as usize;
                d.to_memory(ch, &mut mem, &buf[..len]);
                d.from_memory(ch, &mem, &mut buf[..len]);
                d.set_dreq(ch, r & 0x100 != 0);
            }
        }
    }
}
