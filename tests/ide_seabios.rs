//! SeaBIOS (unmodified) boots from ironpc's IDE drives: a hard disk whose
//! MBR reads sectors with INT 13h (CHS and extended LBA reads, both served
//! by SeaBIOS's ATA driver over our PIO/DMA protocol), and an El Torito CD
//! whose boot image reads the primary volume descriptor through INT 13h
//! (SeaBIOS's ATAPI driver: PACKET, READ(10)). The boot code reports
//! through the debug console (port 0x402) and exits through isa-debug-exit.
//!
//! Checked against QEMU: `qemu-system-i386 -M pc -nodefaults -hda disk.img
//! -debugcon file:q.log -global isa-debugcon.iobase=0x402 -device
//! isa-debug-exit` prints the same SeaBIOS lines with "QEMU HARDDISK" and
//! "QEMU DVD-ROM" where ours say IRONPC, and the same boot code output.
//!
//! Skipped (with a message) without SeaBIOS or nasm; the CD test also
//! without xorriso.

mod common;

use common::{assert_in_order, Capture};
use ironpc::{block::MemDisk, Config, Exit, IdeDrive, Machine};
use std::process::Command;

const MEMORY: u64 = 32 << 20;
const CHUNK: u64 = 5_000_000;
const MAX_INSTRUCTIONS: u64 = 600_000_000;
const EXIT_PORT: u16 = 0xF4;

/// The boot code: prints a banner, reads with INT 13h, prints what landed,
/// exits with status 0x21 through isa-debug-exit. `%define CD` selects the
/// CD flavour (2048-byte sectors; reads the ISO's PVD at LBA 16).
const BOOT_ASM: &str = r#"
bits 16
org 0x7c00
start:
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7c00
    sti
    mov [drive], dl
    mov si, banner
    call print
%ifndef CD
    ; CHS read: cylinder 0, head 0, sector 2 (LBA 1) to 0x8000.
    mov ax, 0x0201
    mov cx, 0x0002
    xor dh, dh
    mov dl, [drive]
    mov bx, 0x8000
    int 0x13
    jc fail
    mov si, 0x8000
    call print
%endif
    ; Extended read (AH=42h) of one sector to 0x9000.
    mov si, dap
    mov ah, 0x42
    mov dl, [drive]
    int 0x13
    jc fail
%ifdef CD
    ; The primary volume descriptor: type 1, "CD001".
    cmp byte [0x9000], 1
    jne fail
    cmp dword [0x9001], 'CD00'
    jne fail
    mov si, pvd_ok
%else
    mov si, 0x9000
%endif
    call print
    mov si, done
    call print
    mov al, 0x21
    out 0xf4, al
    hlt
fail:
    mov si, failed
    call print
    mov al, 0x33
    out 0xf4, al
    hlt

print:
    mov dx, 0x402
.next:
    lodsb
    test al, al
    jz .end
    out dx, al
    jmp .next
.end:
    ret

drive: db 0
banner: db "boot code running", 10, 0
pvd_ok: db "PVD CD001 read", 10, 0
done: db "boot code done", 10, 0
failed: db "INT 13h failed", 10, 0
align 4
dap:
    db 16, 0
    dw 1
    dw 0x9000, 0
%ifdef CD
    dq 16
%else
    dq 2
%endif
%ifndef CD
    times 510 - ($ - $$) db 0
    dw 0xaa55
%endif
"#;

fn present(tool: &str) -> bool {
    Command::new(tool).arg("--version").output().is_ok()
}

/// Assembles the boot code with `defines`.
fn assemble(defines: &[&str]) -> Vec<u8> {
    common::assemble_source("ide-boot", BOOT_ASM, defines)
}

fn temp_dir(name: &str) -> std::path::PathBuf {
    let dir = std::env::temp_dir().join(format!("ironpc-{name}-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    dir
}

/// Runs SeaBIOS with `ide` until the guest exits; returns the exit and the
/// debug console's text.
fn boot(bios: Vec<u8>, ide: [Option<IdeDrive>; 4]) -> (Exit, String) {
    let log = Capture::default();
    let config =
        Config { debugcon: Some((0x402, Box::new(log.clone()))), exit_port: Some(EXIT_PORT), ide, ..Config::new(MEMORY, bios) };
    let mut m = Machine::new(config).expect("cannot build the machine");
    let exit = common::run_until(
        &mut m,
        (CHUNK, MAX_INSTRUCTIONS),
        |_, exit| (exit != Exit::InstructionLimit).then_some(exit),
        |_| format!("the guest did not exit; log:\n{}", log.text()),
    );
    if std::env::var_os("IDE_TEST_LOG").is_some() {
        eprintln!("{}", log.text());
    }
    (exit, log.text())
}

#[test]
fn seabios_boots_a_hard_disk_and_reads_it_with_int13() {
    let Some(bios) = common::seabios() else {
        return;
    };
    if !present("nasm") {
        eprintln!("note: nasm missing; skipping");
        return;
    }
    let dir = temp_dir("ide-hd");
    let mbr = assemble(&[]);
    assert_eq!(mbr.len(), 512);
    let mut disk = vec![0u8; 16 << 20];
    disk[..512].copy_from_slice(&mbr);
    let s1 = b"sector one via CHS\n\0";
    let s2 = b"sector two via LBA\n\0";
    disk[512..512 + s1.len()].copy_from_slice(s1);
    disk[1024..1024 + s2.len()].copy_from_slice(s2);
    let (exit, log) = boot(bios, [Some(IdeDrive::Disk(Box::new(MemDisk::new(disk)))), None, None, None]);
    let _ = std::fs::remove_dir_all(&dir);
    assert_in_order(
        &log,
        &[
            "ata0-0: IRONPC HARDDISK ATA-7 Hard-Disk (16 MiBytes)",
            "Booting from Hard Disk...",
            "boot code running\n",
            "sector one via CHS\n",
            "sector two via LBA\n",
            "boot code done\n",
        ],
    );
    assert_eq!(exit, Exit::DebugExit(0x21 << 1 | 1), "log:\n{log}");
}

#[test]
fn seabios_boots_an_el_torito_cd() {
    let Some(bios) = common::seabios() else {
        return;
    };
    if !present("nasm") || !present("xorriso") {
        eprintln!("note: nasm or xorriso missing (apt-get install nasm xorriso); skipping the CD boot test");
        return;
    }
    let dir = temp_dir("ide-cd");
    let root = dir.join("root");
    std::fs::create_dir_all(&root).unwrap();
    let code = assemble(&["CD"]);
    let mut boot_img = code;
    boot_img.resize(2048, 0);
    std::fs::write(root.join("boot.bin"), &boot_img).unwrap();
    std::fs::write(root.join("readme.txt"), "ironpc CD test\n").unwrap();
    let iso = dir.join("cd.iso");
    let o = Command::new("xorriso")
        .args(["-as", "mkisofs", "-quiet", "-o"])
        .arg(&iso)
        .args(["-b", "boot.bin", "-no-emul-boot", "-boot-load-size", "4"])
        .arg(&root)
        .output()
        .expect("xorriso");
    assert!(o.status.success(), "xorriso: {}", String::from_utf8_lossy(&o.stderr));
    let image = std::fs::read(&iso).unwrap();
    let _ = std::fs::remove_dir_all(&dir);
    let cd = MemDisk { data: image, read_only: true };
    let (exit, log) = boot(bios, [None, None, Some(IdeDrive::Cdrom(Some(Box::new(cd)))), None]);
    assert_in_order(
        &log,
        &[
            "ata1-0: IRONPC DVD-ROM ATAPI-4 DVD/CD",
            "Booting from DVD/CD...",
            "boot code running\n",
            "PVD CD001 read\n",
            "boot code done\n",
        ],
    );
    assert_eq!(exit, Exit::DebugExit(0x21 << 1 | 1), "log:\n{log}");
}
