//! Linux's own IDE drivers on ironpc's PIIX3 IDE: Debian's 686 kernel,
//! entered directly (the chipset left as SeaBIOS would leave it), loads
//! `ata_piix`, `sd_mod` and `sr_mod` from an initramfs, finds the hard disk
//! and the CD (IDENTIFY, SET FEATURES, READ CAPACITY...), reads both with
//! bus-master DMA, writes the disk and syncs (FLUSH CACHE), and powers
//! off. The host then finds the guest's write in the image.
//!
//! QEMU (`qemu-system-i386 -M pc -kernel ... -drive if=ide,index=0 -drive
//! if=ide,index=2,media=cdrom`) prints the same driver lines with QEMU's
//! names, plus "found unknown device (class 0)" for its absent slaves.
//!
//! Slow in the interpreter and needs images the repository does not
//! build: ignored. Run with `IRONPC_KERNEL=vmlinuz-686
//! IRONPC_IDE_INITRD=initrd.cpio.gz cargo test --test ide_linux --
//! --ignored --nocapture`, where the initramfs is `cargo xtask images`'
//! with the kernel's modules in /m (scsi_common scsi_mod libata ata_piix
//! cdrom sr_mod crc64 crc64-rocksoft crct10dif_common crct10dif_generic
//! crc-t10dif t10-pi sd_mod) and /ide.sh, which insmods them in that
//! order, prints /proc/partitions, `sda sector 1: ` and the first 24 bytes
//! of sector 1 of /dev/sda, `sr0 block 16: ` and bytes 1-5 of block 16 of
//! /dev/sr0, writes "written-by-linux" to sector 2 of /dev/sda, syncs,
//! prints "ide-test-done" and runs `poweroff -f`.

mod common;

use common::Capture;
use ironpc::{block::BlockDevice, Config, Exit, IdeDrive, KernelBoot, Machine};
use std::sync::{Arc, Mutex};

/// A disk the test can look into after the machine took it.
#[derive(Clone, Debug)]
struct SharedDisk(Arc<Mutex<Vec<u8>>>);

impl BlockDevice for SharedDisk {
    fn size(&self) -> u64 {
        self.0.lock().unwrap().len() as u64
    }
    fn read_only(&self) -> bool {
        false
    }
    fn read_at(&mut self, offset: u64, buf: &mut [u8]) -> Result<(), ironpc::block::BlockError> {
        let d = self.0.lock().unwrap();
        ironpc::block::check_range(offset, buf.len(), d.len() as u64)?;
        buf.copy_from_slice(&d[offset as usize..offset as usize + buf.len()]);
        Ok(())
    }
    fn write_at(&mut self, offset: u64, data: &[u8]) -> Result<(), ironpc::block::BlockError> {
        let mut d = self.0.lock().unwrap();
        ironpc::block::check_range(offset, data.len(), d.len() as u64)?;
        d[offset as usize..offset as usize + data.len()].copy_from_slice(data);
        Ok(())
    }
    fn flush(&mut self) -> Result<(), ironpc::block::BlockError> {
        Ok(())
    }
}

/// A minimal ISO 9660 image: 16 empty system-area blocks, then a primary
/// volume descriptor and the terminator (only the signatures matter).
fn iso_image() -> Vec<u8> {
    let mut iso = vec![0u8; 64 * 2048];
    iso[16 * 2048..16 * 2048 + 6].copy_from_slice(b"\x01CD001");
    iso[17 * 2048..17 * 2048 + 6].copy_from_slice(b"\xFFCD001");
    iso
}

#[test]
#[ignore = "needs a kernel and an initramfs with its IDE modules (IRONPC_KERNEL, IRONPC_IDE_INITRD); slow"]
fn linux_ata_piix_reads_and_writes_the_disk_and_reads_the_cd() {
    let (Ok(kernel), Ok(initrd)) = (std::env::var("IRONPC_KERNEL"), std::env::var("IRONPC_IDE_INITRD")) else {
        eprintln!("skipped: set IRONPC_KERNEL and IRONPC_IDE_INITRD");
        return;
    };
    let image = std::fs::read(&kernel).unwrap_or_else(|e| panic!("cannot read {kernel}: {e}"));
    let initrd = std::fs::read(&initrd).unwrap_or_else(|e| panic!("cannot read {initrd}: {e}"));
    let mut disk = vec![0u8; 32 << 20];
    disk[512..536].copy_from_slice(b"sector one from the host");
    let disk = SharedDisk(Arc::new(Mutex::new(disk)));
    let cd = ironpc::block::MemDisk { data: iso_image(), read_only: true };
    let serial = Capture::default();
    let config = Config {
        serial: Some(Box::new(serial.clone())),
        kernel: Some(KernelBoot {
            image,
            initrd: Some(initrd),
            cmdline: "console=ttyS0 ironpc_run=\"sh /ide.sh\"".into(),
            via_firmware: false,
            modules: Vec::new(),
        }),
        ide: [Some(IdeDrive::Disk(Box::new(disk.clone()))), None, Some(IdeDrive::Cdrom(Some(Box::new(cd)))), None],
        ..Config::new(128 << 20, common::seabios().expect("SeaBIOS"))
    };
    let mut m = Machine::new(config).expect("cannot build the machine");
    let exit = m.run(Some(20_000_000_000));
    let out = serial.text();
    println!("{out}");
    assert_eq!(exit, Exit::PowerOff, "serial:\n{out}");
    for line in [
        "ata1.00: ATA-7: IRONPC HARDDISK, 1.0, max UDMA/100",
        "ata1.00: 65536 sectors, multi 16: LBA48",
        "ata2.00: ATAPI: IRONPC DVD-ROM, 1.0, max UDMA/100",
        "sr 1:0:0:0: [sr0] scsi3-mmc drive: 4x/4x cd/rw xa/form2 tray",
        "sd 0:0:0:0: [sda] 65536 512-byte logical blocks",
        "sda sector 1: sector one from the host",
        "sr0 block 16: CD001",
        "ide-test-done",
    ] {
        assert!(out.contains(line), "missing {line:?}; serial:\n{out}");
    }
    // ata_piix moved the data by bus-master DMA: it pointed both
    // channels' engines at its PRD tables.
    for (n, ch) in m.board.pci.ide.channels.iter().enumerate() {
        assert_ne!(ch.bm.prd, 0, "channel {n} never used DMA");
    }
    let d = disk.0.lock().unwrap();
    assert_eq!(&d[1024..1041], b"written-by-linux\n", "the guest's write reached the image");
    m.flush_disks().expect("flush");
}
