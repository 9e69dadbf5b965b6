//! The board: the devices of the machine and the port map that routes the
//! CPU's I/O to them. It implements [`Bus`], the CPU's only view of the
//! rest of the machine.

use crate::clock::{Clock, ClockMode};
use crate::host::{HostLink, InputEvent, InputPacing, Next};
use crate::vga::VGA_PORTS;
use ironpc_cpu::Bus;
use ironpc_devices::{
    debug_exit::DebugExit,
    debugcon::DebugCon,
    dma8237::{self, Dma8237},
    fdc::{self, Fdc},
    fw_cfg::{self, FwCfg},
    i8042::{self, I8042},
    ide,
    pci::{self, piix4_pm, PciBus},
    pic::{self, PicPair},
    pit::{self, Pit},
    rtc::{self, Rtc},
    uart16550::Uart16550,
    vga::Vga,
    PortIo,
};
use ironpc_mmu::{PamAttr, PhysMem, PAM_SEGMENTS};
use std::collections::VecDeque;
use std::io::Write;

/// The devices of the machine and its clock. So far: the interrupt
/// controllers, the interval timer, and what a firmware test needs to
/// report; the rest of the chipset follows.
pub struct Board {
    pub clock: Clock,
    /// The CPU's work count at its last port/MMIO access or slice start:
    /// with the clock, the time devices see.
    icount: u64,
    pub pic: PicPair,
    pub pit: Pit,
    pub kbc: I8042,
    pub rtc: Rtc,
    /// COM1-COM4, at the ports and lines of [`COM_PORTS`].
    pub com: [Uart16550; 4],
    /// Where each COM port's output goes (host handles, not machine state).
    pub serial_out: [Option<Box<dyn Write + Send>>; 4],
    /// What the host hands the machine: serial input, stop requests.
    pub host: HostLink,
    /// The COM port (index into `com`) fed from `host`'s serial queue, and
    /// how.
    serial_input: Option<(usize, InputPacing)>,
    /// The host has a keyboard and mouse for the guest (a window): a
    /// halted guest with nothing scheduled waits for their events rather
    /// than halting for good.
    pub input_attached: bool,
    /// A window shows the screen: the display refreshes at the guest's
    /// frame rate. Unwatched (headless), nothing is rendered until
    /// [`Board::refresh_display`] is asked (exit files, tests), so an idle
    /// headless guest is not woken every frame and spends nothing on
    /// pictures nobody sees.
    pub display_watched: bool,
    /// Host key and mouse events taken from `host` and not yet handed to
    /// the PS/2 devices (host side, not machine state): see
    /// [`Board::feed_host_input`].
    key_backlog: VecDeque<(u16, bool)>,
    mouse_backlog: VecDeque<InputEvent>,
    pub debugcon: Option<DebugCon>,
    pub debug_exit: Option<DebugExit>,
    /// PCI configuration space and bus 0: i440FX (PAM), PIIX3, PIIX4 PM
    /// (ACPI timer, SCI on IRQ 9, power-off), reset control 0xCF9.
    pub pci: PciBus,
    /// Port 0x92, the PS/2 system control port A: bit 1 is the fast A20
    /// gate, bit 0 a reset pulse.
    port92: u8,
    /// A device asked for a system reset; the machine carries it out.
    reset_requested: bool,
    /// QEMU's firmware configuration device (0x510-0x51B).
    pub fw_cfg: FwCfg,
    /// The last POST code written to port 0x80.
    pub post_code: u8,
    /// Where the display adapter's picture is published for the host
    /// (a host handle, not machine state).
    pub screen: crate::display::Screen,
    /// The 8237 DMA controller pair and its page registers.
    pub dma: Dma8237,
    /// The floppy controller (0x3F0-0x3F5, 0x3F7; IRQ 6; DMA channel 2).
    pub fdc: Fdc,
    /// The media of the four IDE drives (host handles; the drives' state
    /// is in `pci.ide`).
    pub ide_media: [ide::Media; 4],
    /// The standard VGA (its PCI function is `pci.vga`), and where its
    /// windows are in the map ([`Board::attach_vga`], src/vga.rs).
    pub vga: Vga,
    pub(crate) vga_wiring: crate::vga::VgaWiring,
}

/// The wall-clock time the RTC shows at machine time 0: the host's time on
/// the host clock; on the virtual clock a fixed date (2026-01-01 00:00:00
/// UTC), so a run repeats exactly.
fn rtc_epoch(clock: ClockMode) -> i64 {
    match clock {
        ClockMode::Host => std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs() as i64),
        ClockMode::Virtual => 1_767_225_600,
    }
}

/// The PC's COM ports: base port and ISA interrupt line of COM1-COM4.
/// COM3 shares IRQ 4 with COM1 and COM4 IRQ 3 with COM2 (the IBM
/// convention; QEMU's `pc` machine wires them so); a shared line is the OR
/// of its UARTs, each of which drives it only while its OUT2 pin is set.
pub const COM_PORTS: [(u16, u8); 4] = [(0x3F8, 4), (0x2F8, 3), (0x3E8, 4), (0x2E8, 3)];

/// The COM port (index) and register offset decoding `port`, if any.
fn com_register(port: u16) -> Option<(usize, u8)> {
    COM_PORTS.iter().position(|&(base, _)| (base..base + 8).contains(&port)).map(|n| (n, (port - COM_PORTS[n].0) as u8))
}

/// Most host key events (and mouse button changes) held for a guest that
/// does not read them.
pub const INPUT_BACKLOG: usize = 1024;

/// Queues a host mouse event, adding it to the last one waiting if the
/// buttons are the same.
fn push_motion(backlog: &mut VecDeque<InputEvent>, event: InputEvent) {
    let InputEvent::Mouse { dx, dy, dz, buttons } = event else { return };
    if let Some(InputEvent::Mouse { dx: x, dy: y, dz: z, buttons: b }) = backlog.back_mut() {
        if *b == buttons {
            *x = x.saturating_add(dx);
            *y = y.saturating_add(dy);
            *z = z.saturating_add(dz);
            return;
        }
    }
    if backlog.len() < INPUT_BACKLOG {
        backlog.push_back(event);
    } else {
        log::debug!("host mouse event dropped: the guest reads no mouse data");
    }
}

/// The POST diagnostic port.
const POST_PORT: u16 = 0x80;

/// The x87 error line: FERR# raises IRQ 13 (PC/AT wiring, kept by every
/// chipset since); a write to port 0xF0 clears the latch.
const FERR_IRQ: u8 = 13;
const FERR_CLEAR_PORT: u16 = 0xF0;

/// Port 0x92 bits.
const PORT92_RESET: u8 = 1 << 0;
const PORT92_A20: u8 = 1 << 1;

impl Board {
    /// A board with the interrupt controllers and timer, on `clock`.
    pub fn new(clock: ClockMode) -> Self {
        Self {
            clock: Clock::new(clock),
            icount: 0,
            pic: PicPair::new(),
            pit: Pit::new(),
            kbc: I8042::new(),
            rtc: Rtc::new(rtc_epoch(clock)),
            com: Default::default(),
            serial_out: Default::default(),
            host: HostLink::new(),
            serial_input: None,
            input_attached: false,
            display_watched: false,
            key_backlog: VecDeque::new(),
            mouse_backlog: VecDeque::new(),
            debugcon: None,
            debug_exit: None,
            pci: PciBus::new(),
            port92: PORT92_A20,
            reset_requested: false,
            fw_cfg: FwCfg::new(),
            post_code: 0,
            screen: crate::display::Screen::new(),
            dma: Dma8237::new(),
            fdc: Fdc::new(),
            ide_media: Default::default(),
            vga: Vga::new(),
            vga_wiring: Default::default(),
        }
    }

    /// IRQ 6 from the floppy controller's INT pin; a pulse (a byte of a
    /// non-DMA transfer) drops the line first so the edge-triggered PIC
    /// sees it.
    fn sync_fdc_irq(&mut self) {
        if self.fdc.take_irq_pulse() {
            self.pic.set_irq(fdc::IRQ, false);
        }
        self.pic.set_irq(fdc::IRQ, self.fdc.irq());
    }

    /// Writes CMOS byte 0x10 (floppy drive types, drive A in the high
    /// nibble) and the equipment byte 0x14's floppy bits (bit 0: drives
    /// present; bits 7-6: their number less one) from the connected
    /// drives, as a BIOS setup would; SeaBIOS finds the drives from 0x10.
    pub fn set_cmos_floppies(&mut self) {
        let types = self.fdc.cmos_drive_types();
        let drives = u8::from(types & 0xF0 != 0) + u8::from(types & 0x0F != 0);
        let mut equipment = self.rtc.nvram(0x14) & 0x3E;
        if drives > 0 {
            equipment |= 0x01 | (drives - 1) << 6;
        }
        self.rtc.set_nvram(0x10, types);
        self.rtc.set_nvram(0x14, equipment);
        self.rtc.update_checksum();
    }

    /// Writes the CMOS bytes an AT BIOS setup keeps for the hard disks, as
    /// QEMU's PC board does: 0x12 (drive types, user-defined type 0xF in
    /// each nibble for the primary master and slave), 0x19/0x1A (the
    /// extended type 47) and the type-47 parameter blocks at 0x1B (master)
    /// and 0x24 (slave): cylinders (16 bits), heads, write precompensation
    /// 0xFFFF (none), the control byte (0xC0, with bit 3 for more than 8
    /// heads), landing zone = cylinders, sectors per track. Byte 0x39 holds
    /// the BIOS translation of each of the four IDE drives in two bits
    /// (0 none, 1 LBA), chosen from the geometry as QEMU chooses for a disk
    /// whose MBR does not say otherwise: none when it fits the BIOS's 1024
    /// cylinders, LBA beyond. DOS-era systems and their fdisk read these;
    /// SeaBIOS asks the drives themselves.
    pub fn set_cmos_hard_disks(&mut self) {
        let disk = |slot: usize| match &self.pci.ide.channels[slot / 2].drives[slot % 2].kind {
            ide::DriveKind::Disk(d) => Some((d.cylinders, d.heads, d.spt)),
            _ => None,
        };
        let disks: [Option<(u16, u8, u8)>; 4] = std::array::from_fn(disk);
        let mut types = 0;
        for (slot, (type_at, block_at, nibble)) in [(0x19, 0x1B, 0xF0u8), (0x1A, 0x24, 0x0F)].into_iter().enumerate() {
            let Some((cylinders, heads, spt)) = disks[slot] else { continue };
            types |= nibble;
            let [cyl_lo, cyl_hi] = cylinders.to_le_bytes();
            let control = 0xC0 | if heads > 8 { 0x08 } else { 0 };
            let block = [cyl_lo, cyl_hi, heads, 0xFF, 0xFF, control, cyl_lo, cyl_hi, spt];
            self.rtc.set_nvram(type_at, 47);
            for (i, byte) in block.into_iter().enumerate() {
                self.rtc.set_nvram(block_at + i as u8, byte);
            }
        }
        self.rtc.set_nvram(0x12, types);
        let mut translations = 0;
        for (slot, geometry) in disks.iter().enumerate() {
            if let Some(&(cylinders, heads, spt)) = geometry.as_ref() {
                let translation = if cylinders <= 1024 && heads <= 16 && spt <= 63 { 0 } else { 1 };
                translations |= translation << (slot * 2);
            }
        }
        self.rtc.set_nvram(0x39, translations);
        self.rtc.update_checksum();
    }

    /// Makes the floppy images' writes durable.
    pub fn flush_floppies(&mut self) -> Result<(), ironpc_block::BlockError> {
        self.fdc.flush()
    }

    /// Drives the PIC's lines from the keyboard controller and the COM
    /// ports, and forwards what the COM ports transmitted to the host.
    fn sync_devices(&mut self, mem: &mut PhysMem) {
        for action in self.kbc.take_actions() {
            match action {
                i8042::Action::SetA20(on) => mem.set_a20(on),
                i8042::Action::Reset => self.reset_requested = true,
            }
        }
        self.pic.set_irq(1, self.kbc.irq1());
        self.pic.set_irq(12, self.kbc.irq12());
        self.sync_serial_irqs();
        for (n, (uart, sink)) in self.com.iter_mut().zip(&mut self.serial_out).enumerate() {
            let out = uart.take_output();
            if out.is_empty() {
                continue;
            }
            if let Some(w) = sink.as_mut() {
                if w.write_all(&out).and_then(|_| w.flush()).is_err() {
                    log::warn!("COM{}: host output failed; further output dropped", n + 1);
                    *sink = None;
                }
            }
        }
    }

    /// The CPU asserted FERR# (an x87 error with CR0.NE clear): IRQ 13
    /// stays raised until the guest writes port 0xF0.
    pub fn ferr(&mut self) {
        self.pic.set_irq(FERR_IRQ, true);
    }

    /// IRQ 3 and 4: each the OR of the UARTs sharing it.
    fn sync_serial_irqs(&mut self) {
        for irq in [3, 4] {
            let high = COM_PORTS.iter().zip(&self.com).any(|(&(_, line), uart)| line == irq && uart.irq());
            self.pic.set_irq(irq, high);
        }
    }

    /// Feeds COM port `com` (0 for COM1) from the host link's serial queue,
    /// paced as `pacing` says.
    pub fn connect_serial_input(&mut self, com: usize, pacing: InputPacing) {
        self.serial_input = (com < self.com.len()).then_some((com, pacing));
    }

    /// Whether live serial input may still bring bytes: then a halted
    /// guest with interrupts enabled waits for them. Scripted input never
    /// keeps a guest waiting: what it can deliver, [`Board::feed_serial_input`]
    /// already did.
    pub fn serial_input_open(&self) -> bool {
        matches!(self.serial_input, Some((_, InputPacing::Live))) && self.host.serial_open()
    }

    /// Moves queued host bytes into the connected UART's receiver while it
    /// has room, which raises its interrupt as the 16550 does.
    ///
    /// Scripted input waits for each byte the receiver could take, and is
    /// offered only while the guest has the received-data interrupt
    /// enabled: bytes given up front would otherwise land before the
    /// guest's driver is up, to be lost when it clears the FIFOs (Linux's
    /// 8250 driver does, then enables the interrupt once the port is open).
    pub fn feed_serial_input(&mut self) {
        let Some((n, pacing)) = self.serial_input else {
            return;
        };
        let Some(uart) = self.com.get_mut(n) else {
            return;
        };
        let script = pacing == InputPacing::Script;
        if script && !uart.rx_interrupt_enabled() {
            return;
        }
        let mut fed = false;
        while uart.wants_input() {
            match self.host.next_serial(script) {
                Next::Byte(b) => fed |= uart.push_input(&[b]) == 1,
                Next::Empty | Next::End => break,
            }
        }
        if fed {
            self.sync_serial_irqs();
        }
    }

    /// Hands the host's keyboard and mouse events to the PS/2 devices at
    /// the machine's now, and drives IRQ 1 and 12. Each device takes the
    /// next event once the guest has read what it sent before: a person
    /// cannot type faster than the guest reads, but a host can send a
    /// burst (a paste, a test) that would overrun the keyboard's 16 bytes.
    /// Mouse motions waiting meanwhile add up while the buttons stay the
    /// same, as a mouse's counters do between two reports. A guest that
    /// never reads loses the events beyond [`INPUT_BACKLOG`].
    pub fn feed_host_input(&mut self) {
        for event in self.host.take_input() {
            match event {
                InputEvent::Key { usage, pressed } if self.key_backlog.len() < INPUT_BACKLOG => {
                    self.key_backlog.push_back((usage, pressed))
                }
                InputEvent::Mouse { .. } => push_motion(&mut self.mouse_backlog, event),
                InputEvent::Key { .. } => log::debug!("host key dropped: the guest reads no keys"),
            }
        }
        if self.key_backlog.is_empty() && self.mouse_backlog.is_empty() {
            return;
        }
        let now = self.now();
        while !self.kbc.keyboard_busy() {
            let Some((usage, pressed)) = self.key_backlog.pop_front() else { break };
            self.kbc.host_key(usage, pressed, now);
        }
        while !self.kbc.mouse_busy() {
            let Some(InputEvent::Mouse { dx, dy, dz, buttons }) = self.mouse_backlog.pop_front() else { break };
            // The host counts wheel clicks away from the user, the packet
            // toward.
            self.kbc.mouse_motion(dx, dy, dz.saturating_neg(), buttons);
        }
        self.sync_kbc_irqs();
    }

    /// Whether host keyboard or mouse events may still come: then a halted
    /// guest waits for them.
    pub fn host_input_open(&self) -> bool {
        self.input_attached
    }

    fn sync_kbc_irqs(&mut self) {
        self.pic.set_irq(1, self.kbc.irq1());
        self.pic.set_irq(12, self.kbc.irq12());
    }

    /// The system reset line: every device back to its power-on state, as
    /// after the PC's RESET signal (host handles stay attached; RAM is
    /// kept). The RTC and its CMOS run on their battery: they keep the
    /// time and the NVRAM; its RESET pin only clears the interrupt enables
    /// and flags ([`Rtc::reset_pin`]).
    pub fn reset(&mut self, mem: &mut PhysMem) {
        self.pic = PicPair::new();
        self.pit = Pit::new();
        self.kbc = I8042::new();
        self.com = Default::default();
        self.vga = Vga::new();
        self.port92 = PORT92_A20;
        mem.set_a20(true);
        self.reset_requested = false;
        let now = self.now();
        self.rtc.reset_pin(now);
        self.dma = Dma8237::new();
        self.fdc.reset();
        self.sync_fdc_irq();
        self.pci.ide.reset();
        self.sync_ide();
        self.sync_devices(mem);
        self.pic.set_irq(8, self.rtc.irq());
    }

    /// Puts a drive (or none) at IDE `slot` (0 primary master .. 3
    /// secondary slave).
    pub fn attach_ide(&mut self, slot: usize, drive: Option<crate::machine::IdeDrive>) {
        use crate::machine::IdeDrive;
        let Some(media) = self.ide_media.get_mut(slot) else {
            return;
        };
        let (kind, medium) = match drive {
            None => (ide::DriveKind::Absent, None),
            Some(IdeDrive::Disk(d)) => (ide::DriveKind::Disk(ide::ata::Disk::new(d.size())), Some(d)),
            Some(IdeDrive::Cdrom(m)) => (ide::DriveKind::Cdrom(Default::default()), m),
        };
        *media = medium;
        self.pci.ide.attach(slot, kind);
    }

    /// The IDE channels' interrupt lines into the PIC (IRQ 14 and 15).
    fn sync_ide(&mut self) {
        for n in 0..2 {
            let (irq, level) = self.pci.ide.irq(n);
            self.pic.set_irq(irq, level);
        }
    }

    /// Whether a reset was requested since the last call.
    pub fn take_reset(&mut self) -> bool {
        std::mem::take(&mut self.reset_requested)
    }

    /// Now, in nanoseconds of the machine clock.
    pub fn now(&self) -> u64 {
        self.clock.now(self.icount)
    }

    /// Brings the devices up to `icount`: fires what is due.
    pub fn advance(&mut self, icount: u64) {
        self.icount = icount;
        let now = self.now();
        if self.pit.take_irq0(now) {
            // OUT0 rising edge; the PIC latches edges, so a pulse will do.
            self.pic.set_irq(0, true);
            self.pic.set_irq(0, false);
        }
        self.rtc.advance(now);
        self.pic.set_irq(8, self.rtc.irq());
        self.pci.pm.advance(now);
        self.pic.set_irq(piix4_pm::SCI_IRQ, self.pci.pm.sci());
        self.fdc.advance(now);
        self.sync_fdc_irq();
        if self.kbc.next_deadline().is_some_and(|d| d <= now) {
            // Typematic repeat.
            self.kbc.advance(now);
            self.sync_kbc_irqs();
        }
    }

    /// The next time a device needs attention, if any.
    pub fn next_deadline(&self) -> Option<u64> {
        [
            self.pit.next_irq0(),
            self.rtc.next_deadline(),
            self.pci.pm.next_deadline(),
            self.fdc.next_deadline(),
            self.vga_deadline(),
            self.kbc.next_deadline(),
        ]
        .into_iter()
        .flatten()
        .min()
    }

    /// Whether the guest powered the machine off (ACPI soft-off).
    pub fn power_off_requested(&self) -> bool {
        self.pci.pm.power_off_requested()
    }

    /// For a guest started without firmware (direct kernel boot): the PCI
    /// functions as SeaBIOS leaves them ([`PciBus::firmware_init`]), with
    /// the PM block at `pm_base` (where the ACPI tables say it is) and the
    /// PIRQ lines level-triggered; and the DMA cascade as SeaBIOS's
    /// `dma_setup` leaves it (Linux never programs channel 4).
    pub fn firmware_pci_init(&mut self, mem: &mut PhysMem, pm_base: u16) {
        self.dma.firmware_init();
        self.pci.firmware_init(pm_base);
        let mut elcr = [0u8; 2];
        for irq in pci::PIRQ_IRQS {
            elcr[usize::from(irq >> 3)] |= 1 << (irq & 7);
        }
        self.pic.io_write(0x4D0, 1, u32::from(elcr[0]));
        self.pic.io_write(0x4D1, 1, u32::from(elcr[1]));
        self.sync_pci(mem);
    }

    /// After a configuration write: the PAM registers decide the shadow
    /// RAM window, SMRAM may have opened; 0xCF9 may have asked for a reset;
    /// the IDE function may now master the bus for a DMA it was waiting on.
    fn sync_pci(&mut self, mem: &mut PhysMem) {
        let nibbles = self.pci.host.pam_attrs();
        let mut attrs = [PamAttr::default(); PAM_SEGMENTS];
        for (a, n) in attrs.iter_mut().zip(nibbles) {
            *a = PamAttr::from_bits(n);
        }
        if mem.pam() != Some(attrs) {
            mem.set_pam(attrs);
        }
        mem.set_smram_open(self.pci.host.smram_open());
        self.sync_vga_map(mem);
        self.pci.ide.run_waiting_dma(&mut self.ide_media, mem);
        self.sync_ide();
        if self.pci.take_reset() {
            self.reset_requested = true;
        }
    }

    /// Writes the CMOS bytes a PC BIOS reads for the memory size (IBM AT
    /// layout and the extensions SeaBIOS and QEMU use) and the checksum.
    pub fn set_cmos_memory(&mut self, ram: u64) {
        let kib_above_1m = (ram.saturating_sub(1 << 20) >> 10).min(0xFFFF) as u16;
        let above_16m = (ram.saturating_sub(16 << 20) >> 16).min(0xFFFF) as u16;
        for (index, v) in [
            // Base memory: 640 KiB.
            (0x15, 0x80),
            (0x16, 0x02),
            // Extended memory in KiB (twice: 0x17/0x18 and 0x30/0x31).
            (0x17, kib_above_1m as u8),
            (0x18, (kib_above_1m >> 8) as u8),
            (0x30, kib_above_1m as u8),
            (0x31, (kib_above_1m >> 8) as u8),
            // Memory above 16 MiB in 64 KiB units.
            (0x34, above_16m as u8),
            (0x35, (above_16m >> 8) as u8),
            // Number of CPUs minus one (SeaBIOS waits for the others).
            (0x5F, 0),
        ] {
            self.rtc.set_nvram(index, v);
        }
        self.rtc.update_checksum();
    }

    /// Writes the CMOS boot-order bytes (0x3D, 0x38) SeaBIOS reads for the
    /// devices `bootorder` does not name (QEMU's `-boot order=`).
    pub fn set_cmos_boot_order(&mut self, (flag2, flag1): (u8, u8)) {
        use ironpc_bios::fw_cfg::{CMOS_BOOT_FLAG1, CMOS_BOOT_FLAG2};
        self.rtc.set_nvram(CMOS_BOOT_FLAG2, flag2);
        self.rtc.set_nvram(CMOS_BOOT_FLAG1, flag1);
        self.rtc.update_checksum();
    }
}

impl Board {
    /// The device decoding `port`, if any.
    fn device(&mut self, port: u16) -> Option<&mut dyn PortIo> {
        if pic::decodes(port) {
            return Some(&mut self.pic);
        }
        if let Some(d) = self.debugcon.as_mut().filter(|d| d.port == port) {
            return Some(d);
        }
        if let Some(d) = self.debug_exit.as_mut().filter(|d| d.port == port) {
            return Some(d);
        }
        None
    }
}

/// Unclaimed ports float high, as on an ISA bus.
const OPEN_BUS: u32 = 0xFFFF_FFFF;

impl Board {
    /// Whether `port` is a register of one of the 8-bit devices (the ISA
    /// chips and the VGA's legacy ports). The PIIX's ISA bridge runs a
    /// wider access to one as byte cycles at consecutive ports, low byte
    /// first, each decoded on its own: so `out 0x70, ax` selects a CMOS
    /// register and writes it, `in ax, 0x20` reads the master PIC's IRR
    /// and its mask, and `out 0x3C4, ax` an index and its data. (The IDE
    /// task file, the PCI and PM registers, fw_cfg and the DISPI ports
    /// take wide accesses as they come.)
    fn byte_wide(&self, port: u16) -> bool {
        rtc::decodes(port)
            || pit::decodes(port)
            || pic::decodes(port)
            || i8042::decodes(port)
            || dma8237::decodes(port)
            || fdc::decodes(port)
            || com_register(port).is_some()
            || VGA_PORTS.contains(&port)
            || matches!(port, 0x92 | POST_PORT | FERR_CLEAR_PORT)
            || self.debugcon.as_ref().is_some_and(|d| d.port == port)
    }

    /// A wide read of a byte-wide port, a byte at a time.
    fn io_read_bytes(&mut self, mem: &mut PhysMem, port: u16, size: u8) -> u32 {
        (0..size.min(4)).fold(0, |v, i| {
            let b = self.io_read(mem, port.wrapping_add(u16::from(i)), 1) & 0xFF;
            v | b << (8 * i)
        })
    }

    /// A wide write to a byte-wide port, a byte at a time.
    fn io_write_bytes(&mut self, mem: &mut PhysMem, port: u16, size: u8, value: u32) {
        for i in 0..size.min(4) {
            self.io_write(mem, port.wrapping_add(u16::from(i)), 1, (value >> (8 * i)) & 0xFF);
        }
    }
}

impl Bus for Board {
    fn io_read(&mut self, mem: &mut PhysMem, port: u16, size: u8) -> u32 {
        if size > 1 && self.byte_wide(port) {
            return self.io_read_bytes(mem, port, size);
        }
        if rtc::decodes(port) {
            let now = self.now();
            let v = self.rtc.read(port, now);
            self.pic.set_irq(8, self.rtc.irq());
            return u32::from(v);
        }
        if let Some((n, offset)) = com_register(port) {
            let v = self.com[n].read(offset);
            self.sync_devices(mem);
            return u32::from(v);
        }
        if i8042::decodes(port) {
            let v = self.kbc.io_read(port, size);
            if port == i8042::DATA_PORT {
                // The next queued byte is already in the output buffer:
                // drop the lines so the edge-triggered PIC sees it anew.
                self.pic.set_irq(1, false);
                self.pic.set_irq(12, false);
            }
            self.sync_devices(mem);
            return v;
        }
        if fw_cfg::PORTS.contains(&port) {
            return self.fw_cfg.io_read(port, size);
        }
        if dma8237::decodes(port) {
            return u32::from(self.dma.read(port));
        }
        if fdc::decodes(port) {
            let now = self.now();
            let v = self.fdc.read(port, now);
            self.sync_fdc_irq();
            return u32::from(v);
        }
        if port == 0x92 {
            return u32::from((self.port92 & !PORT92_A20) | if mem.a20() { PORT92_A20 } else { 0 });
        }
        if pit::decodes(port) {
            let now = self.now();
            return u32::from(self.pit.read(port, now));
        }
        if (pci::CONFIG_ADDRESS..=0xCFF).contains(&port) {
            return self.pci.io_read(port, size);
        }
        if self.pci.ide.decodes(port) {
            let v = self.pci.ide.io_read(port, size, &mut self.ide_media);
            self.sync_ide();
            return v;
        }
        if let Some(v) = self.vga_io_read(port, size) {
            return v;
        }
        if let Some(d) = self.device(port) {
            return d.io_read(port, size);
        }
        // The PM block moves where PMBA says; the fixed devices win over it.
        if self.pci.pm.decodes(port) {
            let now = self.now();
            let v = self.pci.pm.io_read(port, size, now);
            self.pic.set_irq(piix4_pm::SCI_IRQ, self.pci.pm.sci());
            return v;
        }
        log::trace!("read from unclaimed port {port:#x}");
        OPEN_BUS
    }

    fn io_write(&mut self, mem: &mut PhysMem, port: u16, size: u8, value: u32) {
        if size > 1 && self.byte_wide(port) {
            self.io_write_bytes(mem, port, size, value);
            return;
        }
        if rtc::decodes(port) {
            let now = self.now();
            self.rtc.write(port, value as u8, now);
            self.pic.set_irq(8, self.rtc.irq());
            return;
        }
        if let Some((n, offset)) = com_register(port) {
            self.com[n].write(offset, value as u8);
            self.sync_devices(mem);
            return;
        }
        if i8042::decodes(port) {
            self.kbc.io_write(port, size, value);
            self.sync_devices(mem);
            return;
        }
        if fw_cfg::PORTS.contains(&port) {
            self.fw_cfg.io_write(mem, port, size, value);
            return;
        }
        if dma8237::decodes(port) {
            self.dma.write(port, value as u8);
            return;
        }
        if fdc::decodes(port) {
            // A command's last byte runs it, DMA included.
            let now = self.now();
            self.fdc.write(port, value as u8, now, &mut self.dma, mem);
            self.sync_fdc_irq();
            return;
        }
        if port == POST_PORT {
            // Firmware progress codes: kept for a debugger, logged.
            self.post_code = value as u8;
            log::debug!("POST code {:#04x}", self.post_code);
            return;
        }
        if port == 0x92 {
            let v = value as u8;
            mem.set_a20(v & PORT92_A20 != 0);
            // A rising edge of bit 0 resets the CPU.
            if v & PORT92_RESET != 0 && self.port92 & PORT92_RESET == 0 {
                self.reset_requested = true;
            }
            self.port92 = v;
            return;
        }
        if pit::decodes(port) {
            let now = self.now();
            self.pit.write(port, value as u8, now);
            return;
        }
        if port == FERR_CLEAR_PORT {
            self.pic.set_irq(FERR_IRQ, false);
            return;
        }
        if (pci::CONFIG_ADDRESS..=0xCFF).contains(&port) {
            self.pci.io_write(port, size, value);
            self.sync_pci(mem);
            return;
        }
        if self.pci.ide.decodes(port) {
            self.pci.ide.io_write(port, size, value, &mut self.ide_media, mem);
            self.sync_ide();
            return;
        }
        if self.vga_io_write(mem, port, value) {
            return;
        }
        if let Some(d) = self.device(port) {
            d.io_write(port, size, value);
            return;
        }
        if self.pci.pm.decodes(port) {
            let now = self.now();
            self.pci.pm.io_write(port, size, value, now);
            self.pic.set_irq(piix4_pm::SCI_IRQ, self.pci.pm.sci());
            return;
        }
        log::trace!("write {value:#x} to unclaimed port {port:#x}");
    }

    fn mmio_read(&mut self, mem: &mut PhysMem, addr: u64, size: u8) -> u64 {
        if let Some(v) = self.vga_mmio_read(mem, addr, size) {
            return v;
        }
        log::trace!("read from unclaimed MMIO {addr:#x}");
        u64::MAX
    }

    fn mmio_write(&mut self, mem: &mut PhysMem, addr: u64, size: u8, value: u64) {
        if self.vga_mmio_write(mem, addr, size, value) {
            return;
        }
        log::trace!("write {value:#x} to unclaimed MMIO {addr:#x}");
    }

    fn interrupt_pending(&mut self) -> bool {
        self.pic.interrupt_pending()
    }

    fn interrupt_ack(&mut self) -> u8 {
        self.pic.acknowledge()
    }

    fn set_icount(&mut self, icount: u64) {
        self.icount = icount;
    }

    fn time_ns(&mut self, icount: u64) -> u64 {
        self.clock.now(icount)
    }

    fn stop_requested(&mut self) -> bool {
        self.reset_requested
            || self.debug_exit.as_ref().is_some_and(|d| d.requested.is_some())
            || self.pci.pm.power_off_requested()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn pic_ports_reach_the_pic_and_its_output_is_the_intr_line() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        for (port, v) in [(0x20, 0x11), (0x21, 0x08), (0x21, 0x04), (0x21, 0x01), (0x21, 0xFE)] {
            b.io_write(&mut mem, port, 1, v);
        }
        assert_eq!(b.io_read(&mut mem, 0x21, 1), 0xFE, "IMR reads back");
        b.pic.set_irq(0, true);
        assert!(b.interrupt_pending());
        assert_eq!(b.interrupt_ack(), 0x08);
        assert_eq!(b.io_read(&mut mem, 0x378, 1), 0xFFFF_FFFF, "unclaimed ports float");
    }

    /// Master PIC set up as a BIOS does (vectors 08h-0Fh), all unmasked.
    fn pic_ready(b: &mut Board, mem: &mut PhysMem) {
        for (port, v) in [(0x20, 0x11), (0x21, 0x08), (0x21, 0x04), (0x21, 0x01), (0x21, 0x00)] {
            b.io_write(mem, port, 1, v);
        }
    }

    /// UART register offsets and bits used below (PC16550D section 8).
    const IER: u16 = 1;
    const MCR: u16 = 4;
    const SCR: u16 = 7;
    const IER_ETBEI: u32 = 0x02;
    const IER_ERBFI: u32 = 0x01;
    const MCR_OUT2: u32 = 0x08;

    #[test]
    fn every_com_port_decodes_its_eight_registers() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        for (n, &(base, _)) in COM_PORTS.iter().enumerate() {
            b.io_write(&mut mem, base + SCR, 1, 0x10 + n as u32);
        }
        for (n, &(base, _)) in COM_PORTS.iter().enumerate() {
            assert_eq!(b.io_read(&mut mem, base + SCR, 1), 0x10 + n as u32, "COM{}", n + 1);
        }
        assert_eq!(b.io_read(&mut mem, 0x2F0, 1), OPEN_BUS, "below COM4");
    }

    #[test]
    fn com_transmissions_go_to_their_own_hosts() {
        #[derive(Clone, Default)]
        struct Sink(std::sync::Arc<std::sync::Mutex<Vec<u8>>>);
        impl Write for Sink {
            fn write(&mut self, buf: &[u8]) -> std::io::Result<usize> {
                self.0.lock().unwrap().extend_from_slice(buf);
                Ok(buf.len())
            }
            fn flush(&mut self) -> std::io::Result<()> {
                Ok(())
            }
        }
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        let sinks: Vec<Sink> = (0..4).map(|_| Sink::default()).collect();
        for (out, sink) in b.serial_out.iter_mut().zip(&sinks) {
            *out = Some(Box::new(sink.clone()));
        }
        for (n, &(base, _)) in COM_PORTS.iter().enumerate() {
            b.io_write(&mut mem, base, 1, u32::from(b'1') + n as u32);
        }
        for (n, sink) in sinks.iter().enumerate() {
            assert_eq!(*sink.0.lock().unwrap(), vec![b'1' + n as u8], "COM{}", n + 1);
        }
    }

    #[test]
    fn shared_irq_lines_are_the_or_of_their_uarts() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        pic_ready(&mut b, &mut mem);
        let (com1, com3) = (COM_PORTS[0].0, COM_PORTS[2].0);
        // THR empty interrupts on both UARTs of IRQ 4, gated by OUT2.
        for base in [com1, com3] {
            b.io_write(&mut mem, base + IER, 1, IER_ETBEI);
        }
        assert!(!b.interrupt_pending(), "OUT2 low: neither drives the line");
        b.io_write(&mut mem, com3 + MCR, 1, MCR_OUT2);
        assert!(b.interrupt_pending(), "COM3 alone raises IRQ 4");
        assert_eq!(b.interrupt_ack(), 0x08 + 4);
        b.io_write(&mut mem, 0x20, 1, 0x20);
        b.io_write(&mut mem, com1 + MCR, 1, MCR_OUT2);
        // COM3's request is still up: COM1 joining is no new edge, and COM1
        // leaving does not drop the line COM3 holds.
        assert!(!b.interrupt_pending(), "the line stayed high: no new edge");
        b.io_write(&mut mem, com1 + IER, 1, 0);
        b.io_write(&mut mem, com3 + IER, 1, 0);
        b.io_write(&mut mem, com3 + IER, 1, IER_ETBEI);
        assert!(b.interrupt_pending(), "low then high again: a new edge");
        assert_eq!(b.interrupt_ack(), 0x08 + 4);
        b.io_write(&mut mem, 0x20, 1, 0x20);
        // COM2 and COM4 share IRQ 3.
        b.io_write(&mut mem, COM_PORTS[3].0 + MCR, 1, MCR_OUT2);
        b.io_write(&mut mem, COM_PORTS[3].0 + IER, 1, IER_ETBEI);
        assert_eq!(b.interrupt_ack(), 0x08 + 3);
    }

    #[test]
    fn live_input_fills_the_receiver_and_raises_its_interrupt() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        pic_ready(&mut b, &mut mem);
        b.connect_serial_input(1, InputPacing::Live);
        let com2 = COM_PORTS[1].0;
        b.io_write(&mut mem, com2 + MCR, 1, MCR_OUT2);
        b.io_write(&mut mem, com2 + IER, 1, IER_ERBFI);
        b.host.send_serial(b"hi");
        b.feed_serial_input();
        assert_eq!(b.interrupt_ack(), 0x08 + 3, "received data on COM2");
        // FIFOs off: RBR holds one byte, the other waits on the host side.
        assert_eq!(b.io_read(&mut mem, com2, 1), u32::from(b'h'));
        b.feed_serial_input();
        assert_eq!(b.io_read(&mut mem, com2, 1), u32::from(b'i'));
        assert!(b.serial_input_open(), "live input may bring more");
        b.host.close_serial();
        assert!(!b.serial_input_open());
    }

    #[test]
    fn scripted_input_waits_for_the_guest_to_listen() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        b.connect_serial_input(0, InputPacing::Script);
        b.host.send_serial(b"x");
        b.host.close_serial();
        b.feed_serial_input();
        assert_eq!(b.io_read(&mut mem, COM_PORTS[0].0 + 5, 1) & 1, 0, "no data before IER.ERBFI");
        b.io_write(&mut mem, COM_PORTS[0].0 + IER, 1, IER_ERBFI);
        b.feed_serial_input();
        assert_eq!(b.io_read(&mut mem, COM_PORTS[0].0 + 5, 1) & 1, 1, "data ready");
        assert_eq!(b.io_read(&mut mem, COM_PORTS[0].0, 1), u32::from(b'x'));
        assert!(!b.serial_input_open(), "scripted input never keeps a halted guest waiting");
    }

    /// Both PICs set up as a BIOS does (vectors 08h-0Fh and 70h-77h), all
    /// unmasked; the 8042 as SeaBIOS leaves it with both interrupts on.
    fn ps2_ready(b: &mut Board, mem: &mut PhysMem) {
        pic_ready(b, mem);
        for (port, v) in [(0xA0, 0x11), (0xA1, 0x70), (0xA1, 0x02), (0xA1, 0x01), (0xA1, 0x00)] {
            b.io_write(mem, port, 1, v);
        }
        // Command byte: translation, SYS, IRQ 12, IRQ 1.
        b.io_write(mem, 0x64, 1, 0x60);
        b.io_write(mem, 0x60, 1, 0x47);
    }

    /// What the guest's IRQ 1 / IRQ 12 handler reads: the vector, then
    /// port 0x60, then EOI.
    fn take_irq_byte(b: &mut Board, mem: &mut PhysMem) -> Option<(u8, u8)> {
        if !b.interrupt_pending() {
            return None;
        }
        let vector = b.interrupt_ack();
        let byte = b.io_read(mem, 0x60, 1) as u8;
        if vector >= 0x70 {
            b.io_write(mem, 0xA0, 1, 0x20);
        }
        b.io_write(mem, 0x20, 1, 0x20);
        Some((vector, byte))
    }

    fn read_all(b: &mut Board, mem: &mut PhysMem) -> Vec<(u8, u8)> {
        let mut v = Vec::new();
        while let Some(x) = take_irq_byte(b, mem) {
            b.feed_host_input();
            v.push(x);
            assert!(v.len() < 1000);
        }
        v
    }

    #[test]
    fn host_keys_arrive_as_set_1_bytes_on_irq_1() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        ps2_ready(&mut b, &mut mem);
        // Right Ctrl + A, sent at once as a host might.
        for (usage, pressed) in [(0xE4, true), (0x04, true), (0x04, false), (0xE4, false)] {
            b.host.send_input(InputEvent::Key { usage, pressed });
        }
        b.feed_host_input();
        let kbd = |bytes: &[u8]| bytes.iter().map(|&x| (0x09, x)).collect::<Vec<_>>();
        assert_eq!(read_all(&mut b, &mut mem), kbd(&[0xE0, 0x1D, 0x1E, 0x9E, 0xE0, 0x9D]));
    }

    #[test]
    fn a_burst_of_host_keys_waits_for_the_guest_instead_of_overrunning() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        ps2_ready(&mut b, &mut mem);
        // 20 taps of Print Screen: 8 bytes each, far beyond 16.
        for _ in 0..20 {
            b.host.send_input(InputEvent::Key { usage: 0x46, pressed: true });
            b.host.send_input(InputEvent::Key { usage: 0x46, pressed: false });
        }
        b.feed_host_input();
        let got: Vec<u8> = read_all(&mut b, &mut mem).into_iter().map(|(_, x)| x).collect();
        assert_eq!(got, [0xE0, 0x2A, 0xE0, 0x37, 0xE0, 0xB7, 0xE0, 0xAA].repeat(20));
    }

    /// Sends `byte` to the mouse through the controller's 0xD4 command;
    /// the mouse's ACK comes back on IRQ 12.
    fn mouse_command(b: &mut Board, mem: &mut PhysMem, byte: u32) {
        b.io_write(mem, 0x64, 1, 0xD4);
        b.io_write(mem, 0x60, 1, byte);
        assert_eq!(read_all(b, mem), vec![(0x74, 0xFA)], "the mouse's ACK of {byte:#04x}");
    }

    #[test]
    fn host_mouse_motion_arrives_as_packets_on_irq_12() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        ps2_ready(&mut b, &mut mem);
        mouse_command(&mut b, &mut mem, 0xF4);
        b.host.send_input(InputEvent::Mouse { dx: 3, dy: 2, dz: 1, buttons: 1 });
        b.feed_host_input();
        // Left button, X +3, Y -2 (the packet's Y is up), no wheel yet.
        assert_eq!(read_all(&mut b, &mut mem), vec![(0x74, 0x29), (0x74, 3), (0x74, 0xFE)]);
        // The IntelliMouse knock, then the wheel: one click away from the
        // user is Z = -1.
        for rate in [200, 100, 80] {
            mouse_command(&mut b, &mut mem, 0xF3);
            mouse_command(&mut b, &mut mem, rate);
        }
        b.host.send_input(InputEvent::Mouse { dx: 0, dy: 0, dz: 1, buttons: 0 });
        b.feed_host_input();
        assert_eq!(read_all(&mut b, &mut mem), vec![(0x74, 0x08), (0x74, 0), (0x74, 0), (0x74, 0xFF)]);
    }

    #[test]
    fn mouse_motion_waiting_for_the_guest_adds_up_and_keys_do_not_wait_for_it() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        ps2_ready(&mut b, &mut mem);
        mouse_command(&mut b, &mut mem, 0xF4);
        b.host.send_input(InputEvent::Mouse { dx: 1, dy: 0, dz: 0, buttons: 0 });
        b.feed_host_input();
        // While the guest has not read that packet, motions wait and add
        // up; a button change waits on its own; a key does not wait for
        // the mouse.
        for _ in 0..99 {
            b.host.send_input(InputEvent::Mouse { dx: 1, dy: 0, dz: 0, buttons: 0 });
        }
        b.host.send_input(InputEvent::Mouse { dx: 0, dy: 0, dz: 0, buttons: 2 });
        b.host.send_input(InputEvent::Key { usage: 0x04, pressed: true });
        b.feed_host_input();
        let mouse = |bytes: &[u8]| bytes.iter().map(|&x| (0x74, x)).collect::<Vec<_>>();
        // The controller serves the keyboard first: its byte comes between
        // two of the packet's (each tagged by the AUX status bit).
        let mut expected = mouse(&[0x08]);
        expected.push((0x09, 0x1E));
        expected.extend(mouse(&[1, 0, 0x08, 99, 0, 0x0A, 0, 0]));
        assert_eq!(read_all(&mut b, &mut mem), expected);
    }

    #[test]
    fn a_held_key_repeats_at_the_board_deadline() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        ps2_ready(&mut b, &mut mem);
        b.host.send_input(InputEvent::Key { usage: 0x04, pressed: true });
        b.feed_host_input();
        assert_eq!(read_all(&mut b, &mut mem), vec![(0x09, 0x1E)]);
        // 500 ms typematic delay, then 1/10.9 s; on the virtual clock.
        let first = b.next_deadline().expect("the typematic deadline");
        assert_eq!(first, 500_000_000);
        let ns = crate::clock::VIRTUAL_NS_PER_INSN;
        b.advance(first / ns - 1);
        assert_eq!(read_all(&mut b, &mut mem), vec![]);
        b.advance(first / ns);
        assert_eq!(read_all(&mut b, &mut mem), vec![(0x09, 0x1E)]);
        assert_eq!(b.next_deadline(), Some(first + 22 * 1_000_000_000 / 240));
        b.host.send_input(InputEvent::Key { usage: 0x04, pressed: false });
        b.feed_host_input();
        assert_eq!(read_all(&mut b, &mut mem), vec![(0x09, 0x9E)]);
        assert_eq!(b.kbc.next_deadline(), None, "released: no more repeats");
    }

    #[test]
    fn reset_brings_devices_to_power_on_and_keeps_cmos() {
        let mut mem = PhysMem::new(2 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        pic_ready(&mut b, &mut mem);
        b.io_write(&mut mem, 0x21, 1, 0xFE);
        b.io_write(&mut mem, COM_PORTS[2].0 + SCR, 1, 0x5A);
        b.io_write(&mut mem, 0x92, 1, 0);
        // CMOS byte 0x70 and RTC register B with PIE (0x40) set.
        b.io_write(&mut mem, 0x70, 1, 0x70);
        b.io_write(&mut mem, 0x71, 1, 0x99);
        b.io_write(&mut mem, 0x70, 1, 0x0B);
        let reg_b = b.io_read(&mut mem, 0x71, 1);
        b.io_write(&mut mem, 0x71, 1, reg_b | 0x40);
        b.reset(&mut mem);
        assert_eq!(b.io_read(&mut mem, 0x21, 1), 0, "8259A IMR cleared");
        assert_eq!(b.io_read(&mut mem, COM_PORTS[2].0 + SCR, 1), 0, "COM3 scratch cleared");
        assert!(mem.a20(), "A20 on");
        b.io_write(&mut mem, 0x70, 1, 0x70);
        assert_eq!(b.io_read(&mut mem, 0x71, 1), 0x99, "CMOS RAM kept");
        b.io_write(&mut mem, 0x70, 1, 0x0B);
        assert_eq!(b.io_read(&mut mem, 0x71, 1), reg_b & !0x40, "RESET clears PIE, keeps the rest");
    }

    /// A disk of zeros that holds nothing in memory.
    #[derive(Debug)]
    struct Blank(u64);

    impl ironpc_block::BlockDevice for Blank {
        fn size(&self) -> u64 {
            self.0
        }
        fn read_only(&self) -> bool {
            false
        }
        fn read_at(&mut self, _offset: u64, buf: &mut [u8]) -> Result<(), ironpc_block::BlockError> {
            buf.fill(0);
            Ok(())
        }
        fn write_at(&mut self, _offset: u64, _data: &[u8]) -> Result<(), ironpc_block::BlockError> {
            Ok(())
        }
        fn flush(&mut self) -> Result<(), ironpc_block::BlockError> {
            Ok(())
        }
    }

    #[test]
    fn cmos_describes_the_hard_disks_as_an_at_bios_setup_does() {
        use crate::machine::IdeDrive;
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        let (small, large, huge) = (16u64 << 20, 1u64 << 30, 8u64 << 30);
        b.attach_ide(0, Some(IdeDrive::Disk(Box::new(Blank(small)))));
        b.attach_ide(1, Some(IdeDrive::Disk(Box::new(Blank(large)))));
        b.attach_ide(2, Some(IdeDrive::Disk(Box::new(Blank(huge)))));
        b.attach_ide(3, Some(IdeDrive::Cdrom(None)));
        b.set_cmos_hard_disks();
        let mut cmos = |index: u8| {
            b.io_write(&mut mem, 0x70, 1, u32::from(index));
            b.io_read(&mut mem, 0x71, 1) as u8
        };
        // 16 heads and 63 sectors a track; cylinders as many as fit, at
        // most 16383.
        let cylinders = |bytes: u64| (bytes / 512 / (16 * 63)).min(16383) as u16;
        assert_eq!(cmos(0x12), 0xFF, "user-defined types for master and slave");
        assert_eq!((cmos(0x19), cmos(0x1A)), (47, 47));
        for (block, bytes) in [(0x1B, small), (0x24, large)] {
            let [lo, hi] = cylinders(bytes).to_le_bytes();
            let got: Vec<u8> = (block..block + 9).map(&mut cmos).collect();
            // Cylinders, heads, no write precompensation, control (more
            // than 8 heads), landing zone, sectors per track.
            assert_eq!(got, [lo, hi, 16, 0xFF, 0xFF, 0xC8, lo, hi, 63], "block at {block:#x}");
        }
        // Two bits a drive: the 16 MiB disk fits 1024 cylinders (none),
        // the others need LBA; no bits for the CD.
        assert!(cylinders(small) <= 1024 && cylinders(large) > 1024);
        assert_eq!(cmos(0x39), 0b00_01_01_00);
        // The AT checksum over 0x10-0x2D still holds.
        let sum: u16 = (0x10..=0x2D).map(|i| u16::from(cmos(i))).sum();
        assert_eq!(u16::from_be_bytes([cmos(0x2E), cmos(0x2F)]), sum);
    }

    #[test]
    fn cmos_has_no_hard_disk_without_ata_disks() {
        use crate::machine::IdeDrive;
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        b.attach_ide(0, Some(IdeDrive::Cdrom(None)));
        b.set_cmos_hard_disks();
        b.io_write(&mut mem, 0x70, 1, 0x12);
        assert_eq!(b.io_read(&mut mem, 0x71, 1), 0);
        b.io_write(&mut mem, 0x70, 1, 0x39);
        assert_eq!(b.io_read(&mut mem, 0x71, 1), 0);
    }

    #[test]
    fn the_floppy_controller_interrupts_on_irq_6_once_per_event() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        pic_ready(&mut b, &mut mem);
        let disk = ironpc_block::MemDisk::new(vec![0x5A; 1_474_560]);
        b.fdc.attach(0, Box::new(disk)).unwrap();
        // Leaving reset interrupts; the four polling senses clear it.
        b.io_write(&mut mem, 0x3F2, 1, 0x1C);
        assert_eq!(b.interrupt_ack(), 0x08 + 6);
        b.io_write(&mut mem, 0x20, 1, 0x20);
        for _ in 0..4 {
            b.io_write(&mut mem, 0x3F5, 1, 0x08);
            b.io_read(&mut mem, 0x3F5, 1);
            b.io_read(&mut mem, 0x3F5, 1);
        }
        assert!(!b.interrupt_pending());
        // Non-DMA mode: a READ DATA interrupts for each byte.
        b.io_write(&mut mem, 0x3F7, 1, 0);
        for v in [0x03, 0xAF, 0x03, 0x46, 0x00, 0, 0, 1, 2, 1, 0x1B, 0xFF] {
            b.io_write(&mut mem, 0x3F5, 1, v);
        }
        for _ in 0..3 {
            assert_eq!(b.interrupt_ack(), 0x08 + 6);
            b.io_write(&mut mem, 0x20, 1, 0x20);
            assert_eq!(b.io_read(&mut mem, 0x3F5, 1), 0x5A);
        }
        // DMA ports: channel 2's address reads back through the flip-flop.
        b.io_write(&mut mem, 0x0C, 1, 0);
        b.io_write(&mut mem, 0x04, 1, 0x34);
        b.io_write(&mut mem, 0x04, 1, 0x12);
        b.io_write(&mut mem, 0x81, 1, 0x07);
        assert_eq!([b.io_read(&mut mem, 0x04, 1), b.io_read(&mut mem, 0x04, 1)], [0x34, 0x12]);
        assert_eq!(b.io_read(&mut mem, 0x81, 1), 0x07);
        b.io_write(&mut mem, 0x80, 1, 0x99);
        assert_eq!((b.post_code, b.io_read(&mut mem, 0x81, 1)), (0x99, 0x07), "0x80 stays the POST port");
    }

    #[test]
    fn fw_cfg_and_post_ports() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        b.io_write(&mut mem, 0x510, 2, 0);
        let sig: Vec<u8> = (0..4).map(|_| b.io_read(&mut mem, 0x511, 1) as u8).collect();
        assert_eq!(sig, b"QEMU");
        assert_eq!(b.io_read(&mut mem, 0x514, 4).to_le_bytes(), *b"QEMU", "DMA signature");
        b.io_write(&mut mem, 0x80, 1, 0x42);
        assert_eq!(b.post_code, 0x42);
    }

    #[test]
    fn a_wide_access_to_an_8_bit_isa_port_is_byte_cycles_at_consecutive_ports() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        // One `out 0x70, ax`: the index, then the data.
        b.io_write(&mut mem, 0x70, 2, 0x99_34);
        b.io_write(&mut mem, 0x70, 1, 0x34);
        assert_eq!(b.io_read(&mut mem, 0x71, 1), 0x99, "CMOS 0x34 written through 0x71");
        b.io_write(&mut mem, 0x70, 1, 0x34);
        assert_eq!(b.io_read(&mut mem, 0x70, 2) >> 8, 0x99, "the high byte read from 0x71");

        // The master PIC's IRR (no request pending) and its mask.
        b.io_write(&mut mem, 0x21, 1, 0xA5);
        let word = b.io_read(&mut mem, 0x20, 2);
        assert_eq!(word, b.io_read(&mut mem, 0x20, 1) | b.io_read(&mut mem, 0x21, 1) << 8);
        assert_eq!(word >> 8, 0xA5);

        // COM1's scratch register is its last port; the bus floats above.
        b.io_write(&mut mem, 0x3FF, 1, 0x5A);
        assert_eq!(b.io_read(&mut mem, 0x3FF, 4), 0xFFFF_FF5A);
        // A dword write lands in the scratch register and nowhere else.
        b.io_write(&mut mem, 0x3FF, 4, 0x1122_3344);
        assert_eq!(b.io_read(&mut mem, 0x3FF, 1), 0x44);
    }

    #[test]
    fn port_92_drives_a20_and_requests_a_reset_on_a_rising_bit_0() {
        let mut mem = PhysMem::new(2 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        assert_eq!(b.io_read(&mut mem, 0x92, 1) & 2, 2, "A20 on");
        b.io_write(&mut mem, 0x92, 1, 0);
        assert!(!mem.a20());
        assert_eq!(b.io_read(&mut mem, 0x92, 1) & 2, 0);
        b.io_write(&mut mem, 0x92, 1, 2);
        assert!(mem.a20());
        assert!(!b.take_reset());
        b.io_write(&mut mem, 0x92, 1, 3);
        assert!(b.take_reset());
        assert!(!b.take_reset(), "taken once");
        b.io_write(&mut mem, 0x92, 1, 3);
        assert!(!b.take_reset(), "bit 0 held high is no new pulse");
    }

    /// A configuration write through 0xCF8/0xCFC.
    fn pci_write(b: &mut Board, mem: &mut PhysMem, devfn: u32, register: u32, size: u8, value: u32) {
        b.io_write(mem, 0xCF8, 4, 0x8000_0000 | devfn << 8 | (register & 0xFC));
        b.io_write(mem, 0xCFC + (register & 3) as u16, size, value);
    }

    fn byte(mem: &PhysMem, addr: u64) -> u8 {
        let mut v = [0];
        mem.read(addr, &mut v);
        v[0]
    }

    #[test]
    fn pam_writes_through_the_config_ports_switch_the_bios_window() {
        let mut mem = PhysMem::new(2 << 20).unwrap();
        ironpc_bios::map_bios(&mut mem, &vec![0xAB; 128 << 10]).unwrap();
        mem.enable_pam();
        let mut b = Board::new(ClockMode::Virtual);
        assert_eq!(byte(&mem, 0xF_0000), 0xAB, "reset: the ROM");
        // PAM0 = 0x30: 0xF0000-0xFFFFF read and write DRAM.
        pci_write(&mut b, &mut mem, 0, 0x59, 1, 0x30);
        mem.write(0xF_0000, &[0x11]);
        assert_eq!(byte(&mem, 0xF_0000), 0x11);
        // 0x10: read-only shadow.
        pci_write(&mut b, &mut mem, 0, 0x59, 1, 0x10);
        mem.write(0xF_0000, &[0x22]);
        assert_eq!(byte(&mem, 0xF_0000), 0x11);
        // Back to PCI: the ROM again.
        pci_write(&mut b, &mut mem, 0, 0x59, 1, 0x00);
        assert_eq!(byte(&mem, 0xF_0000), 0xAB);
        b.io_write(&mut mem, 0xCF8, 4, 0x8000_0000);
        assert_eq!(b.io_read(&mut mem, 0xCFC, 4), 0x1237_8086);
    }

    #[test]
    fn cf9_resets_the_machine() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        b.io_write(&mut mem, 0xCF9, 1, 0x02);
        assert!(!b.take_reset());
        b.io_write(&mut mem, 0xCF9, 1, 0x06);
        assert!(b.stop_requested());
        assert!(b.take_reset());
    }

    /// PM function 00:01.3 with its I/O at 0xB000, as SeaBIOS sets it up.
    fn board_with_pm(mem: &mut PhysMem) -> Board {
        let mut b = Board::new(ClockMode::Virtual);
        pci_write(&mut b, mem, 1 << 3 | 3, 0x40, 4, 0xB001);
        pci_write(&mut b, mem, 1 << 3 | 3, 0x80, 1, 0x01);
        b
    }

    #[test]
    fn the_acpi_timer_raises_sci_on_irq_9_and_meets_its_deadline() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = board_with_pm(&mut mem);
        // PICs as a BIOS programs them, IRQ 9 level-triggered and unmasked.
        for (port, v) in
            [(0x20, 0x11), (0x21, 0x08), (0x21, 0x04), (0x21, 0x01), (0xA0, 0x11), (0xA1, 0x70), (0xA1, 0x02), (0xA1, 0x01)]
        {
            b.io_write(&mut mem, port, 1, v);
        }
        b.io_write(&mut mem, 0x21, 1, 0xFB);
        b.io_write(&mut mem, 0xA1, 1, 0xFD);
        b.io_write(&mut mem, 0x4D1, 1, 0x02);
        // ACPI mode, then the timer overflow event enabled.
        b.io_write(&mut mem, 0xB2, 1, 0xF1);
        assert_eq!(b.io_read(&mut mem, 0xB004, 2) & 1, 1, "SCI_EN");
        b.io_write(&mut mem, 0xB002, 2, 1);
        // Timer bit 23 toggles after 2^23 / 3.579545 MHz = 2.343 s.
        let deadline = b.next_deadline().expect("the PM timer deadline");
        assert!((2_343_000_000..2_344_000_000).contains(&deadline), "{deadline}");
        b.advance(deadline - 1);
        assert!(!b.interrupt_pending());
        b.advance(deadline);
        assert!(b.interrupt_pending());
        assert_eq!(b.interrupt_ack(), 0x71, "IRQ 9");
        assert_eq!(b.io_read(&mut mem, 0xB008, 4), 1 << 23, "timer value at the toggle");
        // Acknowledge at the device: the level drops.
        b.io_write(&mut mem, 0xB000, 2, 1);
        b.io_write(&mut mem, 0xA0, 1, 0x20);
        b.io_write(&mut mem, 0x20, 1, 0x20);
        assert!(!b.interrupt_pending());
    }

    #[test]
    fn slp_en_with_the_s5_type_powers_off_and_stops_the_cpu() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = board_with_pm(&mut mem);
        b.io_write(&mut mem, 0xB2, 1, 0xF1);
        assert!(!b.power_off_requested());
        // SLP_TYP 0 (SeaBIOS's \_S5) with SLP_EN.
        b.io_write(&mut mem, 0xB004, 2, 0x2001);
        assert!(b.power_off_requested());
        assert!(b.stop_requested());
    }

    #[test]
    fn pm_io_is_not_decoded_until_enabled() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        assert_eq!(b.io_read(&mut mem, 0xB008, 4), 0xFFFF_FFFF);
        b.io_write(&mut mem, 0xB004, 2, 0x2001);
        assert!(!b.power_off_requested());
    }

    #[test]
    fn a_pm_block_placed_over_the_pic_does_not_take_its_ports() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        // PMBA left at 0, PM I/O enabled: 0x00-0x3F, over the PIC at 0x20.
        pci_write(&mut b, &mut mem, 1 << 3 | 3, 0x80, 1, 0x01);
        b.io_write(&mut mem, 0x21, 1, 0xA5);
        assert_eq!(b.io_read(&mut mem, 0x21, 1), 0xA5, "the PIC's IMR");
        b.dma.set_dreq(2, true);
        assert_eq!(b.io_read(&mut mem, 0x08, 1), 0x40, "the 8237's status, not the PM timer");

        // Over the PIT at 0x40: the timer at 0x48 is free, and the PM's.
        pci_write(&mut b, &mut mem, 1 << 3 | 3, 0x40, 4, 0x41);
        assert_eq!(b.io_read(&mut mem, 0x48, 4), 0, "the PM timer at time 0");
        for (port, v) in [(0x43, 0x34), (0x40, 0x34), (0x40, 0x12), (0x43, 0x00)] {
            b.io_write(&mut mem, port, 1, v);
        }
        let latched = [b.io_read(&mut mem, 0x40, 1), b.io_read(&mut mem, 0x40, 1)];
        assert_eq!(latched, [0x34, 0x12], "the PIT's counter 0, not the PM status");
    }

    /// Random guest traffic on the PCI and PM ports, with memory accesses
    /// in the PAM window between, cannot panic (a fixed seed, printed; set
    /// BOARD_PCI_FUZZ_SEED to try another).
    #[test]
    fn random_pci_and_pm_port_traffic_is_harmless() {
        let mut next = ironpc_devices::fuzz_rng::seeded("BOARD_PCI_FUZZ_SEED", 0x5EED_B0A2);
        let mut mem = PhysMem::new(2 << 20).unwrap();
        ironpc_bios::map_bios(&mut mem, &vec![0xC3; 128 << 10]).unwrap();
        mem.enable_pam();
        let mut b = Board::new(ClockMode::Virtual);
        let mut icount = 0u64;
        for _ in 0..100_000 {
            let r = next();
            let size = [1, 2, 4, 4][(r & 3) as usize];
            let value = (r >> 32) as u32;
            let port = match (r >> 2) & 7 {
                0 | 1 => 0xCF8,
                2 | 3 => 0xCFC + ((r >> 5) & 3) as u16,
                4 => 0xCF9,
                5 => [0xB2, 0xB3, 0xAFE0 + ((r >> 5) & 3) as u16][((r >> 8) % 3) as usize],
                _ => b.pci.pm.pm_io_base().unwrap_or(0xB000).wrapping_add(((r >> 5) & 0x3F) as u16),
            };
            // Aim CONFADD at the present functions most of the time.
            let value = if port == 0xCF8 && r & (1 << 20) != 0 {
                0x8000_0000 | [0u32, 0x800, 0xB00][((r >> 21) % 3) as usize] | (value & 0xFC)
            } else {
                value
            };
            if r & (1 << 24) != 0 {
                b.io_write(&mut mem, port, size, value);
            } else {
                b.io_read(&mut mem, port, size);
            }
            let addr = 0xC_0000 + (r >> 44) % 0x4_0000;
            mem.write(addr, &[r as u8]);
            let mut v = [0];
            mem.read(addr, &mut v);
            icount += (r >> 50) & 0xFFFF;
            b.advance(icount);
            let _ = (b.next_deadline(), b.take_reset(), b.interrupt_pending());
        }
    }

    #[test]
    fn ide_disks_answer_on_their_ports_and_interrupt_on_irq_14() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        let disk = ironpc_block::MemDisk::new(vec![0x5A; 64 << 10]);
        b.attach_ide(0, Some(crate::machine::IdeDrive::Disk(Box::new(disk))));
        b.firmware_pci_init(&mut mem, 0x600);
        // Both PICs as a BIOS leaves them, IRQ 2 and 14 unmasked.
        for (port, v) in [
            (0x20, 0x11),
            (0x21, 0x08),
            (0x21, 0x04),
            (0x21, 0x01),
            (0x21, 0xFB),
            (0xA0, 0x11),
            (0xA1, 0x70),
            (0xA1, 0x02),
            (0xA1, 0x01),
            (0xA1, 0xBF),
        ] {
            b.io_write(&mut mem, port, 1, v);
        }
        // READ SECTORS, LBA 3, one sector.
        for (port, v) in [(0x1F6, 0xE0), (0x1F2, 1), (0x1F3, 3), (0x1F4, 0), (0x1F5, 0), (0x1F7, 0x20)] {
            b.io_write(&mut mem, port, 1, v);
        }
        assert!(b.interrupt_pending());
        assert_eq!(b.interrupt_ack(), 0x76, "IRQ 14 on the slave PIC");
        assert_eq!(b.io_read(&mut mem, 0x1F7, 1), 0x58, "DRDY DSC DRQ");
        assert_eq!(b.io_read(&mut mem, 0x1F0, 2), 0x5A5A);
        assert_eq!(b.io_read(&mut mem, 0xC002, 1) & 0x04, 0x04, "the bus-master block at 0xC000 saw the interrupt");
        assert_eq!(b.io_read(&mut mem, 0x177, 1), 0, "the empty secondary channel");
    }

    #[test]
    fn firmware_pci_init_opens_the_pm_block_where_the_tables_say() {
        let mut mem = PhysMem::new(1 << 20).unwrap();
        let mut b = Board::new(ClockMode::Virtual);
        b.firmware_pci_init(&mut mem, 0x600);
        b.io_write(&mut mem, 0xB2, 1, 0xF1);
        assert_eq!(b.io_read(&mut mem, 0x604, 2) & 1, 1, "SCI_EN through the block at 0x600");
        assert_eq!(b.io_read(&mut mem, 0x4D1, 1), 0x0C, "IRQ 10 and 11 level-triggered");
        b.io_write(&mut mem, 0x604, 2, 0x2001);
        assert!(b.power_off_requested());
    }
}
