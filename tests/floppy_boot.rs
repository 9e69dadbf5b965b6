//! SeaBIOS boots a 1.44 MB floppy through the 82077AA and the 8237: its
//! boot sector (assembled by nasm at test time) reports through the debug
//! console at 0x402, reads the rest of track 0 with INT 13h AH=02 (sectors
//! 2-18 of side 0 on a 1.44 MB disk) and the first two sectors of side 1
//! (across the track boundary) and checks their pattern, writes a
//! sector with AH=03 and reads it back. The test checks the text, the
//! written bytes in the image, and the bytes around them left alone; on
//! 1.44 MB, 2.88 MB and 720 KB media, each at its own data rate.
//!
//! Each INT 13h call stays on one track: SeaBIOS sends the controller
//! EOT = first sector + count - 1, and a real 82077AA finds no sector 19
//! on an 18-sector track (QEMU's controller wraps to the other side
//! anyway). The same image runs on qemu-system-i386:
//! `cargo test --test floppy_boot -- --ignored`.
//!
//! Skipped (with a message) where SeaBIOS is not installed.

mod common;

use common::{assert_in_order, Capture};
use ironpc::block::MemDisk;
use ironpc::{Config, Exit, Machine};
use std::path::Path;
use std::process::Command;

const MEMORY: u64 = 32 << 20;
const CHUNK: u64 = 5_000_000;
const MAX_INSTRUCTIONS: u64 = 400_000_000;
const DEBUGCON: u16 = 0x402;
const EXIT_PORT: u16 = 0xF4;
/// The formats tested: image size, sectors per track, CMOS drive type.
const FMT_1440: (usize, usize, u8) = (1_474_560, 18, 4);
const FMT_2880: (usize, usize, u8) = (2_949_120, 36, 5);
const FMT_720: (usize, usize, u8) = (737_280, 9, 3);

/// The sector the boot sector writes: C1 H0 S5 = LBA (1 * 2 + 0) * spt + 4.
fn written_lba(spt: usize) -> usize {
    2 * spt + 4
}

const BOOT_SECTOR: &str = r#"
bits 16
org 0x7C00
    cli
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, 0x7C00
    sti
    cld
    mov si, hello
    call print
    ; C0 H0 S2-SPT to 0x8000, then C0 H1 S1-2 after them.
    mov ax, 0x0200 + SPT - 1
    mov cx, 0x0002
    mov dx, 0x0000
    mov bx, 0x8000
    int 0x13
    jc failed
    mov ax, 0x0202
    mov cx, 0x0001
    mov dx, 0x0100
    mov bx, 0x8000 + (SPT - 1) * 512
    int 0x13
    jc failed
    ; Sector LBA n holds (n + i) & 0xFF at byte i.
    mov si, 0x8000
    mov bl, 1
.sector:
    xor cx, cx
.byte:
    mov al, bl
    add al, cl
    cmp [si], al
    jne mismatch
    inc si
    inc cx
    cmp cx, 512
    jb .byte
    inc bl
    cmp bl, SPT + 2
    jb .sector
    mov si, read_ok
    call print
    ; 512 bytes of i ^ 0xA5 written to C1 H0 S5, read back to 0xC000.
    mov di, 0xB000
    xor cx, cx
.fill:
    mov al, cl
    xor al, 0xA5
    stosb
    inc cx
    cmp cx, 512
    jb .fill
    mov ax, 0x0301
    mov cx, 0x0105
    mov dx, 0x0000
    mov bx, 0xB000
    int 0x13
    jc failed
    mov ax, 0x0201
    mov cx, 0x0105
    mov dx, 0x0000
    mov bx, 0xC000
    int 0x13
    jc failed
    mov si, 0xB000
    mov di, 0xC000
    mov cx, 512
    repe cmpsb
    jne mismatch
    mov si, write_ok
    call print
    mov al, 0
    out 0xF4, al
.halt:
    hlt
    jmp .halt

failed:
    mov al, ah
    mov [code], al
    mov si, error
    call print
    mov al, [code]
    shr al, 4
    call hexdigit
    mov al, [code]
    call hexdigit
    mov al, 10
    call putc
    mov al, 1
    out 0xF4, al
    jmp $

mismatch:
    mov si, bad
    call print
    mov al, 1
    out 0xF4, al
    jmp $

hexdigit:
    and al, 0x0F
    add al, '0'
    cmp al, '9'
    jbe putc
    add al, 'A' - '0' - 10
putc:
    mov dx, 0x402
    out dx, al
    ret

print:
    lodsb
    test al, al
    jz .done
    call putc
    jmp print
.done:
    ret

hello: db "boot sector: running from the floppy", 10, 0
read_ok: db "boot sector: the rest of track 0 and two sectors of track 1 read and checked", 10, 0
write_ok: db "boot sector: sector written and read back", 10, 0
error: db "boot sector: INT 13h error ", 0
bad: db "boot sector: data mismatch", 10, 0
code: db 0
times 510 - ($ - $$) db 0
dw 0xAA55
"#;

const EXPECTED: &[&str] = &[
    "Booting from Floppy...",
    "boot sector: running from the floppy\n",
    "boot sector: the rest of track 0 and two sectors of track 1 read and checked\n",
    "boot sector: sector written and read back\n",
];

/// Assembles the boot sector for a disk of `spt` sectors per track.
fn boot_sector(spt: usize) -> Vec<u8> {
    let bin = common::assemble_source("floppy-boot", BOOT_SECTOR, &[&format!("SPT={spt}")]);
    assert_eq!(bin.len(), 512);
    bin
}

/// The byte at offset `i` of sector `lba` in the fresh image.
fn pattern(lba: usize, i: usize) -> u8 {
    (lba + i) as u8
}

/// An image of `size` bytes: the boot sector, then every sector in
/// [`pattern`].
fn image(size: usize, spt: usize) -> Vec<u8> {
    let mut img: Vec<u8> = (0..size).map(|at| pattern(at / 512, at % 512)).collect();
    img[..512].copy_from_slice(&boot_sector(spt));
    img
}

#[test]
fn seabios_boots_a_1440k_floppy_that_reads_and_writes_through_int_13h() {
    boot(FMT_1440);
}

/// SeaBIOS reads a 2.88 MB disk at 1 Mb/s, as its CMOS drive type says.
#[test]
fn seabios_boots_a_2880k_floppy() {
    boot(FMT_2880);
}

/// A 720 KB disk reads at 250 kb/s only.
#[test]
fn seabios_boots_a_720k_floppy() {
    boot(FMT_720);
}

/// A 720 KB disk in a drive the CMOS calls 1.44 MB: SeaBIOS's READ ID at
/// 500 kb/s finds no address mark, and its probe of the other 3.5" rates
/// finds the disk at 250 kb/s.
#[test]
fn seabios_finds_a_720k_disk_in_a_1440k_drive_by_its_data_rate() {
    boot_with(FMT_720, |m| {
        m.board.rtc.set_nvram(0x10, 0x40);
        m.board.rtc.update_checksum();
    });
}

fn boot(format: (usize, usize, u8)) {
    boot_with(format, |_| {});
}

fn boot_with((size, spt, drive_type): (usize, usize, u8), adjust: impl FnOnce(&mut Machine)) {
    let Some(bios) = common::seabios() else {
        return;
    };
    let img = image(size, spt);
    let log = Capture::default();
    let config = Config {
        debugcon: Some((DEBUGCON, Box::new(log.clone()))),
        exit_port: Some(EXIT_PORT),
        floppy: [Some(Box::new(MemDisk::new(img.clone()))), None],
        ..Config::new(MEMORY, bios)
    };
    let mut m = Machine::new(config).expect("cannot build the machine");
    assert_eq!(m.board.rtc.nvram(0x10), drive_type << 4, "CMOS: drive A's type");
    assert_eq!(m.board.rtc.nvram(0x14) & 0xC1, 0x01, "equipment byte: one floppy drive");
    adjust(&mut m);
    let exit = common::run_until(
        &mut m,
        (CHUNK, MAX_INSTRUCTIONS),
        |_, exit| (exit != Exit::InstructionLimit).then_some(exit),
        |_| format!("the boot sector did not exit; log:\n{}", log.text()),
    );
    let text = log.text();
    assert_eq!(exit, Exit::DebugExit(1), "the boot sector's exit; log:\n{text}");
    assert_in_order(&text, EXPECTED);
    if std::env::var_os("FLOPPY_LOG").is_some() {
        println!("{text}");
    }
    let mut disk = m.board.fdc.eject(0).expect("the disk is still in");
    let mut got = vec![0; size];
    disk.read_at(0, &mut got).unwrap();
    let at = written_lba(spt) * 512;
    let want: Vec<u8> = (0..512).map(|i| i as u8 ^ 0xA5).collect();
    assert_eq!(got[at..at + 512], want[..], "the sector written through INT 13h AH=03");
    assert_eq!(got[..at], img[..at], "the sectors before it are untouched");
    assert_eq!(got[at + 512..], img[at + 512..], "the sectors after it are untouched");
}

/// The same image on the reference machine.
#[test]
#[ignore = "runs qemu-system-i386"]
fn qemu_boots_the_same_floppy() {
    let dir = Path::new(env!("CARGO_TARGET_TMPDIR")).join("floppy");
    std::fs::create_dir_all(&dir).unwrap();
    let img_path = dir.join("qemu.img");
    let log_path = dir.join("qemu.log");
    let (size, spt, _) = FMT_1440;
    std::fs::write(&img_path, image(size, spt)).unwrap();
    let _ = std::fs::remove_file(&log_path);
    let status = Command::new("qemu-system-i386")
        .args(["-m", "32", "-display", "none", "-no-reboot"])
        .args(["-device", "isa-debug-exit,iobase=0xf4,iosize=1"])
        .args(["-global", "isa-debugcon.iobase=0x402"])
        .arg("-debugcon")
        .arg(format!("file:{}", log_path.display()))
        .arg("-drive")
        .arg(format!("if=floppy,format=raw,file={}", img_path.display()))
        .status()
        .expect("cannot run qemu-system-i386");
    let text = std::fs::read_to_string(&log_path).unwrap_or_default();
    assert_eq!(status.code(), Some(1), "isa-debug-exit status (0 << 1) | 1; log:\n{text}");
    assert_in_order(&text, EXPECTED);
    let got = std::fs::read(&img_path).unwrap();
    let at = written_lba(spt) * 512;
    assert!(got[at..at + 512].iter().enumerate().all(|(i, &b)| b == i as u8 ^ 0xA5));
}
