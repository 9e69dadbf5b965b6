//! What ironpc puts in fw_cfg for SeaBIOS, following what QEMU provides
//! for `-M pc` (QEMU hw/i386/fw_cfg.c, hw/nvram/fw_cfg.c) and what SeaBIOS
//! reads (src/fw/paravirt.c `qemu_cfg_init`/`qemu_cfg_legacy`/
//! `qemu_cfg_e820`, src/boot.c, src/fw/smp.c): the RAM size, the CPU
//! counts, an empty NUMA table, the boot menu switch, the IRQ0 override,
//! `etc/e820` with the RAM below 4 GiB, `etc/boot-fail-wait` and
//! `bootorder`.
//!
//! Also the CMOS boot-order bytes SeaBIOS reads when `bootorder` names
//! nothing it finds (src/boot.c `boot_init`; QEMU hw/i386/pc.c
//! `set_boot_dev`).

use crate::e820::{E820Entry, E820_RAM};
use ironpc_devices::fw_cfg::{key, FwCfg, FwCfgError};

/// The machine facts SeaBIOS learns through fw_cfg.
#[derive(Clone, Debug, PartialEq, Eq)]
pub struct Platform {
    /// Guest RAM in bytes, all of it at 0 and below 4 GiB.
    pub ram: u64,
    /// Number of CPUs (present at boot and possible).
    pub cpus: u16,
    /// Show SeaBIOS's boot menu (and wait for a key press).
    pub boot_menu: bool,
    /// OpenFirmware device paths in boot priority order (the `bootorder`
    /// file), e.g. `/rom@genroms/linuxboot.bin`.
    pub boot_order: Vec<String>,
}

/// Fills `cfg` with the items and files SeaBIOS reads.
pub fn populate(cfg: &mut FwCfg, p: &Platform) -> Result<(), FwCfgError> {
    cfg.add_u64(key::RAM_SIZE, p.ram)?;
    cfg.add_u16(key::NOGRAPHIC, 0)?;
    cfg.add_u16(key::NB_CPUS, p.cpus)?;
    cfg.add_u16(key::MAX_CPUS, p.cpus)?;
    cfg.add_item(key::NUMA, numa(p.cpus))?;
    cfg.add_u16(key::BOOT_MENU, u16::from(p.boot_menu))?;
    // The PIT's IRQ 0 arrives on I/O APIC pin 2 (QEMU always says so);
    // SeaBIOS puts it in its MP table.
    cfg.add_u32(key::IRQ0_OVERRIDE, 1)?;
    cfg.add_file("etc/e820", e820(p.ram))?;
    // -1: after the last boot device fails, SeaBIOS stops rather than
    // rebooting after a delay (QEMU's default, `-boot reboot-timeout`).
    cfg.add_file("etc/boot-fail-wait", u32::MAX.to_le_bytes().to_vec())?;
    cfg.add_file("bootorder", bootorder(&p.boot_order))?;
    // Disk geometry overrides: none (QEMU always has the file).
    cfg.add_file("bios-geometry", Vec::new())?;
    Ok(())
}

/// The NUMA item: a node count of 0, then one node number per possible
/// CPU (SeaBIOS reads `etc/numa-cpu-map` and `etc/numa-nodes` out of it).
fn numa(cpus: u16) -> Vec<u8> {
    vec![0; 8 * (1 + usize::from(cpus))]
}

/// `etc/e820`: packed entries of le64 address, le64 length, le32 type.
/// Only RAM: SeaBIOS adds its own reservations (the BIOS at the top of
/// 4 GiB, the EBDA, its tables).
pub fn e820(ram: u64) -> Vec<u8> {
    E820Entry { addr: 0, len: ram, kind: E820_RAM }.to_bytes().to_vec()
}

/// `bootorder`: device paths separated by newlines, NUL-terminated; empty
/// when there are none (as QEMU builds it).
fn bootorder(paths: &[String]) -> Vec<u8> {
    if paths.is_empty() {
        return Vec::new();
    }
    let mut v = paths.join("\n").into_bytes();
    v.push(0);
    v
}

/// CMOS byte 0x3D: first and second boot device (low, high nibble).
pub const CMOS_BOOT_FLAG2: u8 = 0x3D;
/// CMOS byte 0x38: third boot device (high nibble); bit 0 set skips the
/// floppy boot-sector signature check.
pub const CMOS_BOOT_FLAG1: u8 = 0x38;

/// The CMOS boot-order bytes `(0x3D, 0x38)` for a QEMU-style order string:
/// `a`/`b` floppy, `c` hard disk, `d` CD-ROM, `n` network, at most three.
/// `None` for anything else.
pub fn cmos_boot_order(order: &str) -> Option<(u8, u8)> {
    if order.len() > 3 {
        return None;
    }
    let mut dev = [0u8; 3];
    for (slot, c) in dev.iter_mut().zip(order.chars()) {
        *slot = match c {
            'a' | 'b' => 1,
            'c' => 2,
            'd' => 3,
            'n' => 4,
            _ => return None,
        };
    }
    Some((dev[1] << 4 | dev[0], dev[2] << 4))
}

/// QEMU's default boot order for `-M pc`: hard disk, floppy, CD-ROM.
pub const DEFAULT_BOOT_ORDER: &str = "cad";

#[cfg(test)]
mod tests {
    use super::*;

    fn platform() -> Platform {
        Platform { ram: 128 << 20, cpus: 1, boot_menu: false, boot_order: vec![] }
    }

    #[test]
    fn items_seabios_reads() {
        let mut cfg = FwCfg::new();
        populate(&mut cfg, &platform()).unwrap();
        assert_eq!(cfg.item(key::RAM_SIZE), (128u64 << 20).to_le_bytes());
        assert_eq!(cfg.item(key::NB_CPUS), [1, 0]);
        assert_eq!(cfg.item(key::MAX_CPUS), [1, 0]);
        assert_eq!(cfg.item(key::BOOT_MENU), [0, 0], "no menu: no wait for a key");
        assert_eq!(cfg.item(key::NUMA), [0; 16], "no nodes, one CPU entry");
        assert_eq!(cfg.file("etc/boot-fail-wait"), Some(&[0xFF; 4][..]));
        assert_eq!(cfg.file("bootorder"), Some(&[][..]));
    }

    #[test]
    fn e820_is_one_ram_entry_from_zero() {
        let e = e820(0x0800_0000);
        assert_eq!(e.len(), 20);
        assert_eq!(e[..8], [0; 8]);
        assert_eq!(e[8..16], [0, 0, 0, 8, 0, 0, 0, 0]);
        assert_eq!(e[16..], [1, 0, 0, 0]);
    }

    #[test]
    fn bootorder_is_newline_separated_and_nul_terminated() {
        assert_eq!(bootorder(&["/rom@genroms/linuxboot.bin".into()]), b"/rom@genroms/linuxboot.bin\0");
        assert_eq!(bootorder(&["/a".into(), "/b".into()]), b"/a\n/b\0");
    }

    #[test]
    fn cmos_boot_order_nibbles() {
        // QEMU's default "cad": hard disk (2), floppy (1), CD-ROM (3).
        assert_eq!(cmos_boot_order("cad"), Some((0x12, 0x30)));
        assert_eq!(cmos_boot_order("n"), Some((0x04, 0x00)));
        assert_eq!(cmos_boot_order("x"), None);
        assert_eq!(cmos_boot_order("abcd"), None);
    }
}
