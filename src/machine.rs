//! The machine: CPU, memory and board, and the loop that runs them.

use crate::{board::Board, clock::ClockMode, host::StopRequest};
use ironpc_bios::acpi;
use ironpc_bios::linux::{self, BootError, BootPlan, DirectBoot, LinuxKernel};
use ironpc_block::{BlockDevice, BlockError};
use ironpc_cpu::{
    state::{attr, cr0, fl, sreg, Segment, TableReg},
    Cpu, Env, RunExit, Shutdown,
};
use ironpc_devices::{debug_exit::DebugExit, debugcon::DebugCon};
use ironpc_mmu::PhysMem;
use std::io::Write;

/// How to build a machine.
pub struct Config {
    /// Guest RAM in bytes.
    pub memory: u64,
    /// The firmware image (mapped below 4 GiB and below 1 MiB).
    pub bios: Vec<u8>,
    /// Debug console port and where its bytes go.
    pub debugcon: Option<(u16, Box<dyn Write + Send>)>,
    /// isa-debug-exit port.
    pub exit_port: Option<u16>,
    /// Host time, or virtual time derived from executed instructions.
    pub clock: ClockMode,
    /// Where COM1's output goes.
    pub serial: Option<Box<dyn Write + Send>>,
    /// A kernel to boot instead of the firmware's own boot devices.
    pub kernel: Option<KernelBoot>,
    /// The floppy images in drives A and B (each drive's type follows its
    /// image's size).
    pub floppy: [Option<Box<dyn ironpc_block::BlockDevice>>; 2],
    /// IDE drives: primary master, primary slave, secondary master,
    /// secondary slave.
    pub ide: [Option<IdeDrive>; 4],
    /// The standard VGA's option ROM (SeaVGABIOS, `vgabios-stdvga.bin`;
    /// [`ironpc_bios::default_vga_bios_paths`]); None: the VGA has no
    /// BIOS (bare test ROMs), as QEMU's with `romfile=`.
    pub vga_bios: Option<Vec<u8>>,
}

impl Config {
    /// A machine with `memory` bytes of RAM and the firmware `bios`, and
    /// nothing else: no drives, no kernel, no VGA BIOS, COM1 and the debug
    /// ports unconnected, on the virtual clock (so that a run repeats
    /// exactly; the frontend picks the host clock for interactive use).
    /// Set the other fields with struct update syntax:
    /// `Config { serial: Some(out), ..Config::new(memory, bios) }`.
    pub fn new(memory: u64, bios: Vec<u8>) -> Config {
        Config {
            memory,
            bios,
            debugcon: None,
            exit_port: None,
            clock: ClockMode::Virtual,
            serial: None,
            kernel: None,
            floppy: Default::default(),
            ide: Default::default(),
            vga_bios: None,
        }
    }
}

/// A drive on the PIIX3 IDE channels.
#[derive(Debug)]
pub enum IdeDrive {
    /// An ATA hard disk.
    Disk(Box<dyn BlockDevice>),
    /// An ATAPI CD/DVD-ROM drive, with its medium or empty.
    Cdrom(Option<Box<dyn BlockDevice>>),
}

/// A Linux kernel given on the command line, with its initrd and command
/// line.
pub struct KernelBoot {
    /// The bzImage file's bytes.
    pub image: Vec<u8>,
    pub initrd: Option<Vec<u8>>,
    pub cmdline: String,
    /// Load it through the firmware (fw_cfg and an option ROM, as QEMU
    /// does) rather than by ironpc entering it directly.
    pub via_firmware: bool,
    /// Modules of a multiboot kernel (`--initrd "file args,file2"`); the
    /// image is booted as multiboot when it is not a bzImage and carries a
    /// multiboot header, as QEMU's `-kernel` decides.
    pub modules: Vec<ironpc_bios::multiboot::Module>,
}

/// Why a machine could not be built.
#[derive(Debug, thiserror::Error)]
pub enum MachineError {
    #[error("cannot allocate {size} bytes of guest RAM: {source}")]
    Ram { size: u64, source: std::io::Error },
    #[error("guest RAM must be between 1 MiB and 3 GiB (asked for {0} bytes)")]
    RamSize(u64),
    #[error(transparent)]
    Bios(#[from] ironpc_bios::BiosError),
    #[error("cannot boot the kernel: {0}")]
    Kernel(#[from] BootError),
    #[error("cannot boot the kernel: {0}")]
    FirmwareBoot(#[from] ironpc_bios::LinuxBootError),
    #[error("cannot fill fw_cfg: {0}")]
    FwCfg(#[from] ironpc_devices::fw_cfg::FwCfgError),
    #[error("cannot build the ACPI tables: {0}")]
    Acpi(#[from] acpi::AcpiError),
    #[error("cannot boot the multiboot kernel: {0}")]
    Multiboot(#[from] ironpc_bios::multiboot::MultibootError),
    #[error("cannot insert the floppy image: {0}")]
    Floppy(#[from] ironpc_devices::fdc::FdcError),
    #[error(transparent)]
    Vga(#[from] crate::vga::VgaAttachError),
}

/// Why [`Machine::run`] returned.
#[derive(Clone, Copy, Debug, PartialEq, Eq)]
pub enum Exit {
    /// The guest asked to exit through isa-debug-exit, with this status.
    DebugExit(i32),
    /// The CPU shut down after a triple fault.
    TripleFault { cs: u16, eip: u32 },
    /// The CPU halted and nothing can wake it.
    HaltedForever { cs: u16, eip: u32 },
    /// The instruction limit was reached.
    InstructionLimit,
    /// The guest asked for a system reset (port 0x92, the 8042's pulse,
    /// 0xCF9) and [`Machine::no_reboot`] was set.
    Reboot,
    /// The host asked the machine to stop (Ctrl-A x, a signal).
    Stopped(StopRequest),
    /// The guest powered the machine off (ACPI soft-off through the PIIX4
    /// PM function).
    PowerOff,
}

/// Fills fw_cfg and the CMOS boot order as QEMU does for SeaBIOS on
/// `-M pc`, with the kernel, initrd and command line of a `--kernel` boot
/// and the option ROM that loads them, booted first.
fn configure_firmware(board: &mut Board, ram: u64, kernel: Option<&KernelBoot>) -> Result<(), MachineError> {
    use ironpc_bios::{fw_cfg, linuxboot};
    let mut boot_order = Vec::new();
    if let Some(k) = kernel.filter(|k| k.via_firmware) {
        if ironpc_bios::multiboot::is_multiboot_kernel(&k.image) {
            use ironpc_bios::multiboot;
            let e820 = ironpc_bios::linux::pc_e820(ram.saturating_sub(linuxboot::TOP_RESERVE));
            let img = multiboot::load(&k.image, &k.cmdline, &k.modules, &e820)?;
            for (key, data) in img.fw_cfg_items() {
                board.fw_cfg.add_item(key, data)?;
            }
            board.fw_cfg.add_file(multiboot::ROM_FILE, linuxboot::multiboot_rom())?;
            boot_order.push(multiboot::ROM_BOOTORDER.to_owned());
        } else {
            linuxboot::load_via_fw_cfg(&mut board.fw_cfg, ram, &k.image, k.initrd.as_deref(), &k.cmdline)?;
            boot_order.push(linuxboot::ROM_BOOT_PATH.to_owned());
        }
    }
    let platform = fw_cfg::Platform { ram, cpus: 1, boot_menu: false, boot_order };
    fw_cfg::populate(&mut board.fw_cfg, &platform)?;
    board.set_cmos_boot_order(fw_cfg::cmos_boot_order(fw_cfg::DEFAULT_BOOT_ORDER).unwrap_or_default());
    Ok(())
}

/// A PC.
pub struct Machine {
    pub cpu: Cpu,
    pub mem: PhysMem,
    pub board: Board,
    /// A guest reboot or triple fault ends [`Machine::run`] (with
    /// [`Exit::Reboot`] or [`Exit::TripleFault`]) instead of resetting the
    /// machine, as QEMU's `-no-reboot`.
    pub no_reboot: bool,
}

/// Largest RAM below the 32-bit PCI/firmware hole.
const MAX_RAM: u64 = 3 << 30;
/// Most work run between checks of the board (exit requests, limits).
const SLICE: u64 = 100_000;
/// With the host clock, the CPU's speed relates work to time only loosely:
/// shorter slices keep device deadlines (timer interrupts) timely.
const HOST_SLICE: u64 = 20_000;

impl Machine {
    /// Builds a machine and puts the CPU at its reset vector.
    pub fn new(config: Config) -> Result<Self, MachineError> {
        if config.memory < (1 << 20) || config.memory > MAX_RAM {
            return Err(MachineError::RamSize(config.memory));
        }
        let mut mem = PhysMem::new(config.memory).map_err(|source| MachineError::Ram { size: config.memory, source })?;
        ironpc_bios::map_bios(&mut mem, &config.bios)?;
        // The i440FX decodes 0xC0000-0xFFFFF through its PAM registers;
        // at reset every segment is on PCI, where the BIOS's low window is.
        mem.enable_pam();
        let mut board = Board::new(config.clock);
        board.debugcon = config.debugcon.map(|(port, sink)| DebugCon::new(port, Some(sink)));
        board.debug_exit = config.exit_port.map(DebugExit::new);
        board.serial_out[0] = config.serial;
        board.set_cmos_memory(config.memory);
        for (n, disk) in config.floppy.into_iter().enumerate() {
            if let Some(disk) = disk {
                board.fdc.attach(n, disk)?;
            }
        }
        board.set_cmos_floppies();
        configure_firmware(&mut board, config.memory, config.kernel.as_ref())?;
        board.pci.host.set_ram_size(config.memory);
        for (slot, drive) in config.ide.into_iter().enumerate() {
            board.attach_ide(slot, drive);
        }
        board.set_cmos_hard_disks();
        board.attach_vga(&mut mem, config.vga_bios.as_deref())?;
        let mut machine = Self { cpu: Cpu::new(), mem, board, no_reboot: false };
        if let Some(k) = config.kernel.filter(|k| !k.via_firmware) {
            if ironpc_bios::multiboot::is_multiboot_kernel(&k.image) {
                machine.boot_multiboot_direct(&k)?;
            } else {
                machine.boot_linux_direct(&k)?;
            }
        }
        Ok(machine)
    }

    /// Loads a bzImage and starts the CPU at its 32-bit entry, as a boot
    /// loader that has already left real mode would: no firmware runs, so
    /// ironpc leaves the chipset as SeaBIOS would (PIIX4 PM block, PIRQ
    /// routes) and provides the ACPI tables the kernel powers off with.
    fn boot_linux_direct(&mut self, k: &KernelBoot) -> Result<(), MachineError> {
        let kernel = LinuxKernel::parse(&k.image)?;
        let ram = self.mem.ram_size();
        let mut e820 = linux::pc_e820(ram);
        let tables = acpi::install_at_top_of_ram(&mut e820, ram, acpi::AcpiRevision::V1)?;
        for (addr, bytes) in tables.direct_entry_writes() {
            self.mem.write(addr, &bytes);
        }
        self.board.firmware_pci_init(&mut self.mem, acpi::PM_BASE);
        let plan = kernel.direct_boot(&DirectBoot {
            cmdline: &k.cmdline,
            initrd: k.initrd.as_deref(),
            e820: &e820,
            ram_top: ram - acpi::ACPI_REGION,
            acpi_rsdp: Some(u64::from(tables.rsdp)),
        })?;
        self.enter(&plan);
        Ok(())
    }

    /// Loads a multiboot (v1) kernel and its modules and enters it as the
    /// Multiboot Specification's boot loader would: no firmware runs.
    fn boot_multiboot_direct(&mut self, k: &KernelBoot) -> Result<(), MachineError> {
        let e820 = linux::pc_e820(self.mem.ram_size());
        let image = ironpc_bios::multiboot::load(&k.image, &k.cmdline, &k.modules, &e820)?;
        self.enter(&image.boot_plan());
        Ok(())
    }

    /// Writes a boot plan into RAM and puts the CPU in flat 32-bit
    /// protected mode at its entry, interrupts off, paging off.
    fn enter(&mut self, plan: &BootPlan) {
        for (addr, bytes) in &plan.writes {
            self.mem.write(*addr, bytes);
        }
        let s = &mut self.cpu.state;
        s.gdtr = TableReg { base: u64::from(plan.gdt_addr), limit: (linux::BOOT_GDT.len() * 8 - 1) as u32 };
        s.cr0 |= cr0::PE;
        let flat = |selector: u16, kind: u16| Segment {
            base: 0,
            limit: u32::MAX,
            selector,
            attr: attr::P | attr::S | attr::DB | attr::G | attr::ACCESSED | attr::RW | kind,
        };
        for (n, seg) in s.seg.iter_mut().enumerate() {
            *seg = if n == sreg::CS { flat(linux::BOOT_CS, attr::CODE) } else { flat(linux::BOOT_DS, 0) };
        }
        for (n, v) in plan.regs.iter().enumerate() {
            s.gpr[n] = u64::from(*v);
        }
        s.rip = u64::from(plan.entry);
        s.set_flags(0x2);
        self.cpu.flush_code_cache();
    }

    /// Makes every write the guest completed durable in the disk images
    /// (the frontend calls it at every exit). Flushes every drive; the
    /// first failure is returned.
    pub fn flush_disks(&mut self) -> Result<(), BlockError> {
        let mut result = Ok(());
        for m in self.board.ide_media.iter_mut().flatten() {
            if let Err(e) = m.flush() {
                log::warn!("cannot flush a disk image: {e}");
                if result.is_ok() {
                    result = Err(e);
                }
            }
        }
        if let Err(e) = self.board.flush_floppies() {
            log::warn!("cannot flush a floppy image: {e}");
            if result.is_ok() {
                result = Err(e);
            }
        }
        result
    }

    /// Puts a new medium (or none) in the CD drive at IDE `slot` (0-3), as
    /// a monitor's `change` does: the guest sees a media change. False if
    /// there is no CD drive there.
    pub fn change_cdrom(&mut self, slot: usize, medium: Option<Box<dyn BlockDevice>>) -> bool {
        self.board.pci.ide.change_medium(slot, &mut self.board.ide_media, medium)
    }

    /// The eject button of the CD drive at `slot`: false if there is no CD
    /// drive there or the guest locked the medium in.
    pub fn eject_cdrom(&mut self, slot: usize) -> bool {
        self.board.pci.ide.eject(slot, &mut self.board.ide_media)
    }

    /// The system reset a PC's chipset performs on a reboot request or a
    /// CPU shutdown: the CPU at its reset vector, the devices in their
    /// power-on state, RAM as it was. The clock runs on.
    pub fn reset(&mut self) {
        let icount = self.cpu.icount;
        self.cpu.reset();
        self.cpu.icount = icount;
        self.board.reset(&mut self.mem);
    }

    /// Renders the screen now and publishes it (before a screenshot or a
    /// text dump is taken at exit).
    pub fn refresh_screen(&mut self) {
        ironpc_cpu::Bus::set_icount(&mut self.board, self.cpu.icount);
        self.board.refresh_display(&mut self.mem);
    }

    /// Runs until the guest exits, the CPU shuts down or halts for good, or
    /// `max_instructions` have retired.
    pub fn run(&mut self, max_instructions: Option<u64>) -> Exit {
        let limit = max_instructions.unwrap_or(u64::MAX);
        let exit = loop {
            if self.board.power_off_requested() {
                // Off: nothing runs any more.
                break Exit::PowerOff;
            }
            let left = limit.saturating_sub(self.cpu.icount);
            if left == 0 {
                break Exit::InstructionLimit;
            }
            if let Some(why) = self.board.host.stop_request() {
                break Exit::Stopped(why);
            }
            // Fire what is due, hand over host input, then run the CPU up
            // to the next deadline.
            self.board.advance(self.cpu.icount);
            self.board.advance_display(&mut self.mem);
            self.board.feed_serial_input();
            self.board.feed_host_input();
            let deadline = self.board.next_deadline();
            let budget = match (self.board.clock.mode(), deadline) {
                (ClockMode::Virtual, Some(d)) => self.board.clock.insns_until(d, self.cpu.icount),
                (ClockMode::Virtual, None) => SLICE,
                (ClockMode::Host, _) => HOST_SLICE,
            };
            let mut env = Env { mem: &mut self.mem, bus: &mut self.board };
            let r = self.cpu.run(&mut env, budget.min(left).min(SLICE));
            if std::mem::take(&mut self.cpu.ferr) {
                self.board.ferr();
            }
            if self.board.take_reset() {
                if self.no_reboot {
                    break Exit::Reboot;
                }
                log::info!("system reset requested by the guest");
                self.reset();
                continue;
            }
            if let Some(status) = self.board.debug_exit.as_ref().and_then(|d| d.requested) {
                break Exit::DebugExit(status);
            }
            if self.board.power_off_requested() {
                break Exit::PowerOff;
            }
            let (cs, eip) = (self.cpu.state.seg[1].selector, self.cpu.state.rip as u32);
            match r {
                RunExit::Budget => {}
                RunExit::Shutdown => match self.cpu.shutdown {
                    Some(Shutdown::TripleFault) | None if self.no_reboot => break Exit::TripleFault { cs, eip },
                    // The PC's chipset turns the CPU's shutdown cycle into
                    // a system reset.
                    Some(Shutdown::TripleFault) | None => {
                        log::info!("triple fault at {cs:04x}:{eip:08x}: system reset");
                        self.reset();
                    }
                },
                RunExit::Halted => {
                    // Idle until the next device event or host input, either
                    // of which may raise an interrupt; with IF clear, or
                    // nothing scheduled and no input to come, nothing can
                    // ever wake the CPU.
                    self.board.advance(self.cpu.icount);
                    self.board.feed_serial_input();
                    self.board.feed_host_input();
                    let can_wake = self.cpu.state.flags() & fl::IF != 0;
                    if can_wake && self.board.pic.interrupt_pending() {
                        continue;
                    }
                    match self.board.next_deadline() {
                        _ if !can_wake => break Exit::HaltedForever { cs, eip },
                        Some(d) => self.board.clock.idle_until(d, self.cpu.icount, &self.board.host),
                        None if self.board.serial_input_open() || self.board.host_input_open() => self.board.host.wait(None),
                        None => break Exit::HaltedForever { cs, eip },
                    }
                }
            }
        };
        if let Some(d) = self.board.debugcon.as_mut() {
            d.flush();
        }
        exit
    }
}
