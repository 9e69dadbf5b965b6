//! The 16550A UART of a PC's COM port (National Semiconductor / TI PC16550D
//! datasheet, section 8 "Registers": the register summary, the Line Status,
//! FIFO Control, Interrupt Identification (with its interrupt control
//! table), Modem Control (loopback) and Modem Status register descriptions,
//! "FIFO Interrupt Mode Operation", and the UART reset configuration table).
//!
//! Modelled: RBR/THR, IER, IIR, FCR, LCR, MCR, LSR, MSR, SCR and the
//! divisor latch behind LCR.DLAB; 16-byte receive FIFO with the 1/4/8/14
//! trigger levels and the character-timeout indication; the four interrupt
//! sources in their IIR priority order; MCR loopback with the modem outputs
//! wired to the inputs (how Linux's 8250 driver probes for a UART); and the
//! PC wiring where the IRQ line is driven only while the OUT2 pin is active.
//!
//! Time is not modelled: a byte written to THR leaves at once (to the host,
//! or back into the receiver in loopback), so THR and the transmitter shift
//! register are always empty when the guest looks, and the four character
//! times of the receive timeout have always elapsed once input stops. Runs
//! on the virtual clock thus depend on the order of accesses only. Parity,
//! framing and break errors are never generated (the line is perfect).

use serde::{Deserialize, Serialize};

/// Register offsets from the base port.
const RBR_THR_DLL: u8 = 0;
const IER_DLM: u8 = 1;
const IIR_FCR: u8 = 2;
const LCR: u8 = 3;
const MCR: u8 = 4;
const LSR: u8 = 5;
const MSR: u8 = 6;
const SCR: u8 = 7;

/// IER bits: received data available (and timeout), THR empty, receiver
/// line status, modem status. Bits 4-7 are always 0 on a 16550A.
const IER_ERBFI: u8 = 0x01;
const IER_ETBEI: u8 = 0x02;
const IER_ELSI: u8 = 0x04;
const IER_EDSSI: u8 = 0x08;
const IER_MASK: u8 = 0x0F;

/// IIR interrupt identification codes (bits 0-3), highest priority first.
const IIR_NONE: u8 = 0x01;
const IIR_RLS: u8 = 0x06;
const IIR_RDA: u8 = 0x04;
const IIR_TIMEOUT: u8 = 0x0C;
const IIR_THRE: u8 = 0x02;
const IIR_MS: u8 = 0x00;
/// IIR bits 6-7: set while FCR bit 0 enables the FIFOs.
const IIR_FIFOS_ENABLED: u8 = 0xC0;

/// FCR bits: FIFO enable, receive / transmit FIFO reset (self-clearing),
/// DMA mode select, receive trigger level in bits 6-7.
const FCR_ENABLE: u8 = 0x01;
const FCR_RX_RESET: u8 = 0x02;
const FCR_DMA_MODE: u8 = 0x08;
const FCR_TRIGGER: u8 = 0xC0;
/// Receive FIFO trigger levels selected by FCR bits 6-7.
const TRIGGER_LEVELS: [u8; 4] = [1, 4, 8, 14];

const LCR_DLAB: u8 = 0x80;

/// MCR bits; bits 5-7 are always 0.
const MCR_DTR: u8 = 0x01;
const MCR_RTS: u8 = 0x02;
const MCR_OUT1: u8 = 0x04;
const MCR_OUT2: u8 = 0x08;
const MCR_LOOP: u8 = 0x10;
const MCR_MASK: u8 = 0x1F;

/// LSR bits.
const LSR_DR: u8 = 0x01;
const LSR_OE: u8 = 0x02;
/// Overrun, parity, framing, break: the receiver line status sources,
/// cleared by reading LSR.
const LSR_ERRORS: u8 = 0x1E;
const LSR_THRE: u8 = 0x20;
const LSR_TEMT: u8 = 0x40;

/// MSR bits: deltas in 0-3, line states in 4-7.
const MSR_DCTS: u8 = 0x01;
const MSR_DDSR: u8 = 0x02;
const MSR_TERI: u8 = 0x04;
const MSR_DDCD: u8 = 0x08;
const MSR_CTS: u8 = 0x10;
const MSR_DSR: u8 = 0x20;
const MSR_RI: u8 = 0x40;
const MSR_DCD: u8 = 0x80;

/// The modem inputs outside loopback: a terminal that is there and ready
/// (CTS, DSR, DCD asserted, no ring), as QEMU presents a chardev, so guests
/// using hardware flow control may transmit.
const HOST_MODEM_LINES: u8 = MSR_CTS | MSR_DSR | MSR_DCD;

/// Receive FIFO depth.
const FIFO_SIZE: usize = 16;

/// The divisor after reset: the datasheet leaves it undefined; 12 is
/// 9600 baud from the PC's 1.8432 MHz crystal, what BIOSes program.
const RESET_DIVISOR: u16 = 12;

/// The receive FIFO, or (FIFOs disabled) the receiver buffer register,
/// which is the same store limited to one byte.
#[derive(Clone, Debug, Default, PartialEq, Eq, Serialize, Deserialize)]
struct RxFifo {
    buf: [u8; FIFO_SIZE],
    head: u8,
    len: u8,
}

impl RxFifo {
    fn len(&self) -> usize {
        usize::from(self.len)
    }

    fn push(&mut self, byte: u8) {
        let tail = (usize::from(self.head) + self.len()) % FIFO_SIZE;
        self.buf[tail] = byte;
        self.len += 1;
    }

    fn pop(&mut self) -> Option<u8> {
        if self.len == 0 {
            return None;
        }
        let byte = self.buf[usize::from(self.head)];
        self.head = ((usize::from(self.head) + 1) % FIFO_SIZE) as u8;
        self.len -= 1;
        Some(byte)
    }

    /// Replaces the newest byte (an overrun in the non-FIFO mode, where
    /// the incoming character destroys the one in RBR).
    fn overwrite_last(&mut self, byte: u8) {
        if self.len > 0 {
            let last = (usize::from(self.head) + self.len() - 1) % FIFO_SIZE;
            self.buf[last] = byte;
        }
    }

    fn clear(&mut self) {
        self.head = 0;
        self.len = 0;
    }
}

/// One 16550A.
#[derive(Clone, Debug, PartialEq, Eq, Serialize, Deserialize)]
pub struct Uart16550 {
    /// Divisor latch (DLM:DLL).
    divisor: u16,
    ier: u8,
    /// FIFO control as last programmed (bits 0, 3, 6, 7; FCR is write only).
    fcr: u8,
    lcr: u8,
    mcr: u8,
    /// LSR error bits (OE; PE/FE/BI are never generated).
    lsr_errors: u8,
    /// MSR delta bits 0-3, cleared by reading MSR.
    msr_delta: u8,
    scr: u8,
    rx: RxFifo,
    /// The last byte read from RBR: what RBR reads while the receiver is
    /// empty.
    rbr: u8,
    /// The THR empty interrupt is pending (cleared by an IIR read that
    /// reports it, or by a THR write).
    thre_pending: bool,
    /// Bytes transmitted and not yet taken by the host.
    output: Vec<u8>,
}

impl Default for Uart16550 {
    fn default() -> Self {
        Self::new()
    }
}

impl Uart16550 {
    /// A UART after master reset (the datasheet's reset configuration).
    pub fn new() -> Self {
        Self {
            divisor: RESET_DIVISOR,
            ier: 0,
            fcr: 0,
            lcr: 0,
            mcr: 0,
            lsr_errors: 0,
            msr_delta: 0,
            scr: 0,
            rx: RxFifo::default(),
            rbr: 0,
            thre_pending: false,
            output: Vec::new(),
        }
    }

    /// Reads the register at `offset` (0..=7) from the base port.
    pub fn read(&mut self, offset: u8) -> u8 {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset & 7 {
            RBR_THR_DLL if dlab => self.divisor as u8,
            RBR_THR_DLL => self.read_rbr(),
            IER_DLM if dlab => (self.divisor >> 8) as u8,
            IER_DLM => self.ier,
            IIR_FCR => self.read_iir(),
            LCR => self.lcr,
            MCR => self.mcr,
            LSR => {
                let v = self.lsr();
                self.lsr_errors = 0;
                v
            }
            MSR => {
                let v = self.msr_delta | self.modem_lines();
                self.msr_delta = 0;
                v
            }
            _ => self.scr,
        }
    }

    /// Writes `value` to the register at `offset` (0..=7).
    pub fn write(&mut self, offset: u8, value: u8) {
        let dlab = self.lcr & LCR_DLAB != 0;
        match offset & 7 {
            RBR_THR_DLL if dlab => self.divisor = (self.divisor & 0xFF00) | u16::from(value),
            RBR_THR_DLL => self.write_thr(value),
            IER_DLM if dlab => self.divisor = (self.divisor & 0x00FF) | (u16::from(value) << 8),
            IER_DLM => self.write_ier(value),
            IIR_FCR => self.write_fcr(value),
            LCR => self.lcr = value,
            MCR => self.write_mcr(value),
            // LSR and MSR are for reading; the datasheet's factory test
            // writes are not modelled.
            LSR | MSR => {}
            SCR => self.scr = value,
            _ => {}
        }
    }

    /// The interrupt output as a PC sees it: INTR gated by the OUT2 pin,
    /// which loopback forces inactive.
    pub fn irq(&self) -> bool {
        self.mcr & (MCR_OUT2 | MCR_LOOP) == MCR_OUT2 && self.interrupt_id() != IIR_NONE
    }

    /// The bytes the guest transmitted since the last call.
    pub fn take_output(&mut self) -> Vec<u8> {
        std::mem::take(&mut self.output)
    }

    /// Receives host bytes while the receiver has room; returns how many
    /// were taken. In loopback the serial input is disconnected: none are.
    pub fn push_input(&mut self, bytes: &[u8]) -> usize {
        let mut taken = 0;
        for &b in bytes {
            if !self.wants_input() {
                break;
            }
            self.receive(b);
            taken += 1;
        }
        taken
    }

    /// Whether the receiver has room for a host byte.
    pub fn wants_input(&self) -> bool {
        self.mcr & MCR_LOOP == 0 && self.rx.len() < self.rx_capacity()
    }

    /// Whether the guest has the received-data interrupt enabled (IER bit
    /// 0): its driver is up and listening.
    pub fn rx_interrupt_enabled(&self) -> bool {
        self.ier & IER_ERBFI != 0
    }
}

impl Uart16550 {
    fn fifo_enabled(&self) -> bool {
        self.fcr & FCR_ENABLE != 0
    }

    fn rx_capacity(&self) -> usize {
        if self.fifo_enabled() {
            FIFO_SIZE
        } else {
            1
        }
    }

    fn trigger_level(&self) -> usize {
        usize::from(TRIGGER_LEVELS[usize::from(self.fcr >> 6)])
    }

    /// A character arrives from the receiver shift register.
    fn receive(&mut self, byte: u8) {
        if self.rx.len() < self.rx_capacity() {
            self.rx.push(byte);
            return;
        }
        // Overrun: with FIFOs the character in the shift register is lost;
        // without, it destroys the one waiting in RBR.
        self.lsr_errors |= LSR_OE;
        if !self.fifo_enabled() {
            self.rx.overwrite_last(byte);
        }
    }

    fn read_rbr(&mut self) -> u8 {
        if let Some(b) = self.rx.pop() {
            self.rbr = b;
        }
        self.rbr
    }

    fn write_thr(&mut self, value: u8) {
        self.thre_pending = false;
        if self.mcr & MCR_LOOP != 0 {
            self.receive(value);
        } else {
            self.output.push(value);
        }
        // The byte is gone at once: THR is empty again, which raises THRE.
        self.thre_pending = true;
    }

    /// Enabling ETBEI while THR is empty raises THRE even if an IIR read
    /// had cleared it (Linux's UART_BUG_THRE test and Windows rely on this;
    /// as QEMU and Bochs, only on the 0 -> 1 edge).
    fn write_ier(&mut self, value: u8) {
        let value = value & IER_MASK;
        if (self.ier ^ value) & IER_ETBEI != 0 {
            self.thre_pending = value & IER_ETBEI != 0;
        }
        self.ier = value;
    }

    /// FCR bit 0 must be set for the other bits to take; changing it
    /// clears both FIFOs.
    fn write_fcr(&mut self, value: u8) {
        if (self.fcr ^ value) & FCR_ENABLE != 0 {
            self.rx.clear();
        }
        if value & FCR_ENABLE == 0 {
            self.fcr = 0;
            return;
        }
        if value & FCR_RX_RESET != 0 {
            self.rx.clear();
        }
        // The transmit FIFO is always empty: its reset has nothing to do.
        self.fcr = value & (FCR_ENABLE | FCR_DMA_MODE | FCR_TRIGGER);
    }

    fn write_mcr(&mut self, value: u8) {
        let before = self.modem_lines();
        self.mcr = value & MCR_MASK;
        let after = self.modem_lines();
        let changed = before ^ after;
        if changed & MSR_CTS != 0 {
            self.msr_delta |= MSR_DCTS;
        }
        if changed & MSR_DSR != 0 {
            self.msr_delta |= MSR_DDSR;
        }
        // TERI: the trailing edge of ring, RI going from on to off.
        if before & !after & MSR_RI != 0 {
            self.msr_delta |= MSR_TERI;
        }
        if changed & MSR_DCD != 0 {
            self.msr_delta |= MSR_DDCD;
        }
    }

    /// MSR bits 4-7: the modem inputs, or in loopback the MCR outputs
    /// (RTS -> CTS, DTR -> DSR, OUT1 -> RI, OUT2 -> DCD).
    fn modem_lines(&self) -> u8 {
        if self.mcr & MCR_LOOP == 0 {
            return HOST_MODEM_LINES;
        }
        const MAP: [(u8, u8); 4] = [(MCR_RTS, MSR_CTS), (MCR_DTR, MSR_DSR), (MCR_OUT1, MSR_RI), (MCR_OUT2, MSR_DCD)];
        MAP.iter().filter(|(m, _)| self.mcr & m != 0).fold(0, |acc, (_, s)| acc | s)
    }

    fn lsr(&self) -> u8 {
        let dr = if self.rx.len() > 0 { LSR_DR } else { 0 };
        // THR and the shift register are always empty; no character ever
        // carries a parity, framing or break error, so bit 7 stays 0.
        dr | self.lsr_errors | LSR_THRE | LSR_TEMT
    }

    /// The highest-priority pending interrupt's IIR code (bits 0-3).
    fn interrupt_id(&self) -> u8 {
        let rx = self.rx.len();
        if self.ier & IER_ELSI != 0 && self.lsr_errors & LSR_ERRORS != 0 {
            IIR_RLS
        } else if self.ier & IER_ERBFI != 0 && rx > 0 && (!self.fifo_enabled() || rx >= self.trigger_level()) {
            IIR_RDA
        } else if self.ier & IER_ERBFI != 0 && rx > 0 {
            // Below the trigger level with the line idle: the four
            // character times have passed, the timeout is indicated.
            IIR_TIMEOUT
        } else if self.ier & IER_ETBEI != 0 && self.thre_pending {
            IIR_THRE
        } else if self.ier & IER_EDSSI != 0 && self.msr_delta != 0 {
            IIR_MS
        } else {
            IIR_NONE
        }
    }

    fn read_iir(&mut self) -> u8 {
        let id = self.interrupt_id();
        if id == IIR_THRE {
            self.thre_pending = false;
        }
        let fifos = if self.fifo_enabled() { IIR_FIFOS_ENABLED } else { 0 };
        id | fifos
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    /// A UART set up as a driver does: 8N1, FIFOs with the given trigger
    /// bits, OUT2 so the IRQ reaches the PIC.
    fn uart(fcr: u8) -> Uart16550 {
        let mut u = Uart16550::new();
        u.write(LCR, 0x03);
        u.write(IIR_FCR, fcr);
        u.write(MCR, MCR_DTR | MCR_RTS | MCR_OUT2);
        u
    }

    #[test]
    fn reset_values() {
        let mut u = Uart16550::new();
        assert_eq!(u.read(IER_DLM), 0);
        assert_eq!(u.read(IIR_FCR), 0x01, "no interrupt, FIFOs off");
        assert_eq!(u.read(LCR), 0);
        assert_eq!(u.read(MCR), 0);
        assert_eq!(u.read(LSR), 0x60, "THRE and TEMT");
        assert_eq!(u.read(MSR) & 0x0F, 0, "no deltas");
        assert!(!u.irq());
        assert!(u.wants_input());
    }

    #[test]
    fn rx_interrupt_enabled_follows_ier_bit_0_not_dlm() {
        let mut u = Uart16550::new();
        assert!(!u.rx_interrupt_enabled());
        u.write(IER_DLM, IER_ERBFI);
        assert!(u.rx_interrupt_enabled());
        // DLM shares the offset behind DLAB; IER keeps its value.
        u.write(LCR, LCR_DLAB);
        u.write(IER_DLM, 0);
        assert!(u.rx_interrupt_enabled());
        u.write(LCR, 0x03);
        u.write(IER_DLM, IER_ETBEI);
        assert!(!u.rx_interrupt_enabled());
    }

    #[test]
    fn divisor_latch_round_trip_behind_dlab() {
        let mut u = Uart16550::new();
        u.write(IER_DLM, IER_ERBFI);
        u.write(LCR, LCR_DLAB | 0x03);
        u.write(RBR_THR_DLL, 0x01);
        u.write(IER_DLM, 0x02);
        assert_eq!((u.read(RBR_THR_DLL), u.read(IER_DLM)), (0x01, 0x02));
        assert!(u.take_output().is_empty(), "DLL write transmits nothing");
        u.write(LCR, 0x03);
        assert_eq!(u.read(IER_DLM), IER_ERBFI, "IER kept behind the latch");
        u.write(LCR, LCR_DLAB);
        assert_eq!(u.divisor, 0x0201);
        assert_eq!((u.read(RBR_THR_DLL), u.read(IER_DLM)), (0x01, 0x02));
    }

    #[test]
    fn fifo_trigger_levels_and_timeout() {
        for (bits, level) in [(0x00, 1), (0x40, 4), (0x80, 8), (0xC0, 14)] {
            let mut u = uart(FCR_ENABLE | bits);
            u.write(IER_DLM, IER_ERBFI);
            for n in 1..=FIFO_SIZE {
                assert_eq!(u.push_input(&[n as u8]), 1);
                let expect = if n >= level { 0xC4 } else { 0xCC };
                assert_eq!(u.read(IIR_FCR), expect, "trigger {level} with {n} bytes");
                assert!(u.irq());
            }
            assert!(!u.wants_input());
            assert_eq!(u.push_input(&[0xEE, 0xEF]), 0, "full FIFO takes nothing");
            for n in 1..=FIFO_SIZE {
                assert_eq!(u.read(RBR_THR_DLL), n as u8, "bytes in order");
            }
            assert_eq!(u.read(IIR_FCR), 0xC1, "drained: no interrupt");
            assert_eq!(u.read(LSR) & LSR_DR, 0);
            assert!(!u.irq());
        }
    }

    #[test]
    fn interrupt_sources_in_priority_order() {
        let mut u = uart(FCR_ENABLE | 0x40);
        u.write(MCR, MCR_LOOP | MCR_OUT2);
        u.write(IER_DLM, IER_MASK);
        // Modem status (DCD from OUT2, DSR/CTS fell entering loopback),
        // THRE (ETBEI enabled with THR empty), then 17 bytes looped back:
        // 16 fill the FIFO, the 17th overruns.
        for b in 0..17 {
            u.write(RBR_THR_DLL, b);
        }
        assert_eq!(u.read(IIR_FCR), 0xC6, "receiver line status first");
        assert_eq!(u.read(LSR) & LSR_OE, LSR_OE);
        assert_eq!(u.read(IIR_FCR), 0xC4, "then data at the trigger level");
        for _ in 0..13 {
            u.read(RBR_THR_DLL);
        }
        assert_eq!(u.read(IIR_FCR), 0xCC, "below the trigger: timeout");
        for _ in 0..3 {
            u.read(RBR_THR_DLL);
        }
        assert_eq!(u.read(IIR_FCR), 0xC2, "then THR empty, cleared by this read");
        assert_eq!(u.read(IIR_FCR), 0xC0, "then modem status");
        assert_eq!(u.read(MSR) & 0x0F, MSR_DCTS | MSR_DDSR);
        assert_eq!(u.read(IIR_FCR), 0xC1, "nothing left");
    }

    #[test]
    fn thre_interrupt_on_ier_enable_cleared_by_iir_read_raised_by_thr_write() {
        let mut u = uart(0);
        assert!(!u.irq());
        u.write(IER_DLM, IER_ETBEI);
        assert!(u.irq(), "enabling ETBEI with THR empty");
        assert_eq!(u.read(IIR_FCR), 0x02);
        assert!(!u.irq(), "the IIR read that reported THRE cleared it");
        assert_eq!(u.read(IIR_FCR), 0x01);
        // Rewriting IER with ETBEI still set is no edge.
        u.write(IER_DLM, IER_ETBEI);
        assert!(!u.irq());
        // Toggling it is (Linux's UART_BUG_THRE test).
        u.write(IER_DLM, 0);
        u.write(IER_DLM, IER_ETBEI);
        assert_eq!(u.read(IIR_FCR), 0x02);
        // A THR write clears it, and the instant transmission empties THR
        // again, which raises it.
        u.write(RBR_THR_DLL, b'x');
        assert!(u.irq());
        assert_eq!(u.read(LSR), LSR_THRE | LSR_TEMT);
        assert_eq!(u.take_output(), b"x");
        assert!(u.take_output().is_empty());
        // A receiver interrupt outranks it without clearing it.
        u.write(IER_DLM, IER_ETBEI | IER_ERBFI);
        u.push_input(b"a");
        assert_eq!(u.read(IIR_FCR), 0x04);
        assert_eq!(u.read(RBR_THR_DLL), b'a');
        assert_eq!(u.read(IIR_FCR), 0x02);
    }

    #[test]
    fn loopback_echoes_and_maps_modem_outputs_to_inputs() {
        let mut u = uart(FCR_ENABLE);
        assert_eq!(u.read(MSR), HOST_MODEM_LINES);
        u.write(MCR, MCR_LOOP);
        assert_eq!(u.read(MSR), MSR_DCTS | MSR_DDSR | MSR_DDCD, "host lines dropped");
        assert_eq!(u.read(MSR), 0, "deltas cleared by the read");
        for (mcr, msr) in [(MCR_DTR, MSR_DSR), (MCR_RTS, MSR_CTS), (MCR_OUT1, MSR_RI), (MCR_OUT2, MSR_DCD)] {
            u.write(MCR, MCR_LOOP | mcr);
            let delta = if msr == MSR_RI { 0 } else { msr >> 4 };
            assert_eq!(u.read(MSR), msr | delta, "MCR {mcr:#x} rising");
            u.write(MCR, MCR_LOOP);
            assert_eq!(u.read(MSR), msr >> 4, "MCR {mcr:#x} falling (TERI for RI)");
        }
        // Transmitted bytes come back; nothing reaches the host.
        assert!(!u.wants_input());
        assert_eq!(u.push_input(b"host"), 0, "serial input disconnected");
        u.write(RBR_THR_DLL, 0x55);
        u.write(RBR_THR_DLL, 0xAA);
        assert!(u.take_output().is_empty());
        assert_eq!(u.read(LSR), LSR_DR | LSR_THRE | LSR_TEMT);
        assert_eq!((u.read(RBR_THR_DLL), u.read(RBR_THR_DLL)), (0x55, 0xAA));
        assert_eq!(u.read(LSR) & LSR_DR, 0);
        // Leaving loopback restores the host's lines and the output path.
        u.write(MCR, MCR_OUT2);
        assert_eq!(u.read(MSR), HOST_MODEM_LINES | MSR_DCTS | MSR_DDSR | MSR_DDCD);
        u.write(RBR_THR_DLL, b'!');
        assert_eq!(u.take_output(), b"!");
    }

    #[test]
    fn overrun_with_and_without_fifos() {
        // Without FIFOs the new character destroys the one in RBR.
        let mut u = uart(0);
        assert_eq!(u.push_input(b"ab"), 1, "one holding register");
        u.write(MCR, MCR_LOOP);
        u.write(RBR_THR_DLL, b'c');
        assert_eq!(u.read(LSR), LSR_DR | LSR_OE | LSR_THRE | LSR_TEMT);
        assert_eq!(u.read(LSR) & LSR_OE, 0, "cleared by reading LSR");
        assert_eq!(u.read(RBR_THR_DLL), b'c');
        // With FIFOs the character in the shift register is lost.
        let mut u = uart(FCR_ENABLE);
        u.write(MCR, MCR_LOOP);
        for b in 0..=FIFO_SIZE as u8 {
            u.write(RBR_THR_DLL, b);
        }
        assert_eq!(u.read(LSR) & (LSR_OE | LSR_DR), LSR_OE | LSR_DR);
        for b in 0..FIFO_SIZE as u8 {
            assert_eq!(u.read(RBR_THR_DLL), b);
        }
        assert_eq!(u.read(LSR) & (LSR_OE | LSR_DR), 0);
    }

    #[test]
    fn out2_gates_the_irq_line() {
        let mut u = Uart16550::new();
        u.write(IER_DLM, IER_ERBFI);
        u.push_input(b"z");
        assert_eq!(u.read(IIR_FCR), 0x04, "INTR is asserted inside the chip");
        assert!(!u.irq(), "but OUT2 is off");
        u.write(MCR, MCR_OUT2);
        assert!(u.irq());
        u.write(MCR, MCR_OUT2 | MCR_LOOP);
        assert!(!u.irq(), "loopback forces the OUT2 pin inactive");
        u.write(MCR, MCR_OUT2);
        u.read(RBR_THR_DLL);
        assert!(!u.irq());
    }

    #[test]
    fn fcr_programming_and_fifo_resets() {
        let mut u = uart(FCR_ENABLE | 0xC0);
        u.push_input(b"abc");
        u.write(IIR_FCR, 0xC0);
        assert_eq!(u.read(IIR_FCR) & IIR_FIFOS_ENABLED, 0, "FCR0 clear disables the FIFOs");
        assert_eq!(u.read(LSR) & LSR_DR, 0, "and empties them");
        assert_eq!(u.trigger_level(), 1, "other bits not programmed without FCR0");
        u.write(IIR_FCR, FCR_ENABLE | 0x80);
        u.push_input(b"abc");
        u.write(IIR_FCR, FCR_ENABLE | FCR_RX_RESET | 0x80);
        assert_eq!(u.read(LSR) & LSR_DR, 0, "receive FIFO reset");
        assert_eq!(u.trigger_level(), 8);
        // FCR is write only: offset 2 reads IIR whatever DLAB says.
        u.write(LCR, LCR_DLAB);
        assert_eq!(u.read(IIR_FCR), 0xC1);
    }

    /// The sequence of Linux's 8250 autoconfig() / autoconfig_16550a() and
    /// serial8250_do_startup(), which must find a 16550A.
    #[test]
    fn linux_8250_probe_finds_a_16550a() {
        let mut u = Uart16550::new();
        // Scratch register.
        for v in [0xA5, 0x5A] {
            u.write(SCR, v);
            assert_eq!(u.read(SCR), v);
        }
        // IER: low nibble writable, bits 4-7 (and the XScale UUE bit 6)
        // read 0.
        let saved_ier = u.read(IER_DLM);
        u.write(IER_DLM, 0);
        assert_eq!(u.read(IER_DLM) & 0x0F, 0);
        u.write(IER_DLM, 0x0F);
        assert_eq!(u.read(IER_DLM) & 0x0F, 0x0F);
        u.write(IER_DLM, 0x4F);
        assert_eq!(u.read(IER_DLM), 0x0F);
        u.write(IER_DLM, saved_ier);
        // Loopback test: LOOP | OUT2 | RTS must read back DCD | CTS.
        let saved_mcr = u.read(MCR);
        u.write(MCR, MCR_LOOP | 0x0A);
        assert_eq!(u.read(MSR) & 0xF0, MSR_DCD | MSR_CTS);
        u.write(MCR, saved_mcr);
        // FIFO detection: LCR 0xBF, "EFR" 0, LCR 0, FCR enable, IIR >> 6.
        u.write(LCR, 0xBF);
        u.write(IIR_FCR, 0);
        u.write(LCR, 0);
        u.write(IIR_FCR, FCR_ENABLE);
        assert_eq!(u.read(IIR_FCR) >> 6, 3, "16550A");
        // No EFR: offset 2 with LCR 0xBF or 0x80 reads IIR, not 0.
        for lcr in [0xBF, 0x80] {
            u.write(LCR, lcr);
            assert_ne!(u.read(IIR_FCR), 0);
        }
        // Not an NS SuperIO: with LCR 0xE0 offset 2 is IIR, whose bit 4
        // does not follow MCR.LOOP as EXCR1 would.
        u.write(LCR, 0);
        let mcr = u.read(MCR);
        u.write(MCR, mcr ^ MCR_LOOP);
        u.write(LCR, 0xE0);
        assert_eq!(u.read(IIR_FCR) & MCR_LOOP, 0);
        u.write(LCR, 0);
        u.write(MCR, mcr);
        // Not a 16750: FCR bit 5 never shows as IIR bit 5, with or
        // without DLAB.
        for lcr in [0, 0x80] {
            u.write(LCR, lcr);
            u.write(IIR_FCR, FCR_ENABLE | 0x20);
            assert_eq!(u.read(IIR_FCR) >> 5, 6);
            u.write(IIR_FCR, FCR_ENABLE);
        }
        u.write(LCR, 0);
        // size_fifo(): 256 bytes sent in loopback at divisor 1; what
        // arrives is counted while LSR.DR: 16, not a 64-byte U6 16550A.
        u.write(IIR_FCR, FCR_ENABLE | FCR_RX_RESET | 0x04);
        u.write(MCR, MCR_LOOP);
        u.write(LCR, LCR_DLAB);
        u.write(RBR_THR_DLL, 1);
        u.write(IER_DLM, 0);
        u.write(LCR, 0x03);
        for b in 0..=255u8 {
            u.write(RBR_THR_DLL, b);
        }
        let mut count = 0;
        while u.read(LSR) & LSR_DR != 0 && count < 256 {
            u.read(RBR_THR_DLL);
            count += 1;
        }
        assert_eq!(count, FIFO_SIZE);
        u.write(MCR, mcr);
        assert!(u.take_output().is_empty(), "loopback bytes never left");
        // MCR bits 5-7 do not exist.
        u.write(MCR, 0xE0);
        assert_eq!(u.read(MCR), 0);
        // Startup: clear FIFOs, LSR is not 0xFF, THRE is reasserted.
        u.write(IIR_FCR, FCR_ENABLE | FCR_RX_RESET | 0x04);
        u.read(LSR);
        u.read(RBR_THR_DLL);
        u.read(IIR_FCR);
        u.read(MSR);
        assert_ne!(u.read(LSR), 0xFF);
        u.write(IER_DLM, IER_ETBEI);
        let iir1 = u.read(IIR_FCR);
        u.write(IER_DLM, 0);
        u.write(IER_DLM, IER_ETBEI);
        let iir = u.read(IIR_FCR);
        u.write(IER_DLM, 0);
        assert_eq!((iir1 & 1, iir & 1), (0, 0), "no UART_BUG_THRE");
        // IRQ probe: OUT2 with all interrupts enabled and a byte sent.
        u.write(MCR, MCR_DTR | MCR_RTS | MCR_OUT2);
        u.write(IER_DLM, 0x0F);
        u.read(LSR);
        u.read(RBR_THR_DLL);
        u.read(IIR_FCR);
        u.read(MSR);
        u.write(RBR_THR_DLL, 0xFF);
        assert!(u.irq());
        assert_eq!(u.take_output(), [0xFF]);
    }

    /// SeaBIOS's detect_serial(): IER 0x02 reads back and IIR then
    /// reports THR empty; a COM port is listed in the BDA.
    #[test]
    fn seabios_detect_serial() {
        let mut u = Uart16550::new();
        u.write(IER_DLM, IER_ETBEI);
        assert_eq!(u.read(IER_DLM), 0x02);
        assert_eq!(u.read(IIR_FCR) & 0x3F, 0x02);
        u.write(IER_DLM, 0);
        assert_eq!(u.read(IIR_FCR), 0x01);
    }

    #[test]
    fn unknown_accesses_do_not_panic() {
        let mut u = Uart16550::new();
        for offset in 0..=255u8 {
            for v in [0x00, 0x5A, 0xFF] {
                u.write(offset, v);
                u.read(offset);
            }
        }
        u.push_input(&[0; 64]);
        let _ = u.irq();
    }

    #[test]
    fn state_round_trips_through_serde_mid_transfer() {
        let mut u = uart(FCR_ENABLE | 0x40);
        u.write(IER_DLM, IER_ERBFI | IER_ETBEI | IER_ELSI);
        assert_eq!(u.push_input(b"hel"), 3);
        u.write(RBR_THR_DLL, b'o');
        assert_eq!(u.read(RBR_THR_DLL), b'h');
        let mut copy: Uart16550 = serde_json::from_str(&serde_json::to_string(&u).unwrap()).unwrap();
        assert_eq!(copy, u);
        for q in [&mut u, &mut copy] {
            assert_eq!(q.read(IIR_FCR), 0xCC, "two bytes, below the trigger of 4");
            assert_eq!(q.push_input(b"lo world"), 8);
            assert_eq!(q.read(IIR_FCR), 0xC4);
            q.write(RBR_THR_DLL, b'k');
        }
        assert_eq!(copy, u);
        assert_eq!(u.take_output(), b"ok");
        assert_eq!(copy.take_output(), b"ok");
        let drain = |q: &mut Uart16550| (0..10).map(|_| q.read(RBR_THR_DLL)).collect::<Vec<_>>();
        assert_eq!(drain(&mut u), b"ello world");
        assert_eq!(drain(&mut copy), b"ello world");
    }
}
