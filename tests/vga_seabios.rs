//! SeaBIOS with the standard VGA's option ROM (SeaVGABIOS,
//! `vgabios-stdvga.bin`) and no boot device: SeaBIOS finds the VGA at
//! 00:02.0, maps its ROM BAR, copies and runs the VGA BIOS, which sets
//! mode 03h; SeaBIOS's banner and its boot attempts then appear on the
//! VGA's text screen, as on QEMU's `-M pc -nodefaults -vga std` (where the
//! screen reads "SeaBIOS (version 1.16.2-debian-1.16.2-1)", "Booting from
//! ...", "Boot failed: could not read the boot disk", "No bootable
//! device.").
//!
//! Runs on the virtual clock through the library; skipped (with a note)
//! where SeaBIOS or its VGA BIOS is not installed.

mod common;

use common::{assert_in_order, Capture};
use ironpc::{display, Config, Machine};

const MEMORY: u64 = 128 << 20;
/// Work between looks at the screen.
const CHUNK: u64 = 2_000_000;
/// SeaBIOS reaches "No bootable device." in about 20 M.
const MAX_INSTRUCTIONS: u64 = 200_000_000;

/// The VGA BIOS: the image cache, else Debian's package.
fn vga_bios() -> Option<Vec<u8>> {
    let paths = [
        common::images_dir().join(ironpc::bios::VGA_BIOS_FILE),
        std::path::Path::new("/usr/share/seabios").join(ironpc::bios::VGA_BIOS_FILE),
    ];
    let found = paths.iter().find(|p| p.is_file()).map(|p| std::fs::read(p).expect("cannot read the VGA BIOS"));
    if found.is_none() {
        eprintln!("vgabios-stdvga.bin not found (cargo xtask images, or apt-get install seabios): test skipped");
    }
    found
}

/// SeaBIOS + SeaVGABIOS, run until the text screen shows `until`.
fn boot_until(until: &str) -> Option<(Machine, String, String)> {
    let (bios, vga) = (common::seabios()?, vga_bios()?);
    let log = Capture::default();
    let config = Config { debugcon: Some((0x402, Box::new(log.clone()))), vga_bios: Some(vga), ..Config::new(MEMORY, bios) };
    let mut m = Machine::new(config).expect("cannot build the machine");
    let text = common::run_until(
        &mut m,
        (CHUNK, MAX_INSTRUCTIONS),
        |m, _| Some(common::screen_text(m)).filter(|t| t.contains(until)),
        |m| format!("no {until:?} on the screen:\n{}\nlog:\n{}", common::screen_text(m), log.text()),
    );
    Some((m, text, log.text()))
}

#[test]
fn seabios_banner_and_boot_attempts_show_on_the_vga_text_screen() {
    let Some((m, text, log)) = boot_until("No bootable device.") else {
        return;
    };
    // SeaBIOS found the VGA and ran its ROM from the ROM BAR's copy at
    // C000:0003 (src/optionroms.c), and SeaVGABIOS found the DISPI
    // interface through BAR0 (vgasrc/bochsvga.c).
    assert_in_order(
        &log,
        &[
            "PCI: map device bdf=00:02.0  bar 6, addr febe0000, size 00010000 [mem]",
            "PCI: map device bdf=00:02.0  bar 0, addr fd000000, size 01000000 [prefmem]",
            "PCI: Using 00:02.0 for primary VGA",
            "Scan for VGA option rom",
            "Running option rom at c000:0003",
            "Start SeaVGABIOS",
            "VBE DISPI: lfb_addr=fd000000, size 16 MB",
            "set VGA mode 3",
        ],
    );
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 25, "80x25:\n{text}");
    assert!(rows[0].starts_with("SeaBIOS (version 1.16"), "the banner on the first row:\n{text}");
    // Which devices SeaBIOS tries depends on the board's drives (CMOS and
    // controllers); each try prints "Booting from ..." and the last line
    // is the same.
    assert_in_order(&text, &["Booting from ", "No bootable device."]);

    // Mode 03h: 80x25 cells of 9x16 dots, grey (attribute 07h: DAC entry
    // 7, 2Ah/3Fh of each primary) on black.
    let frame = m.board.screen.frame();
    assert_eq!((frame.width, frame.height), (720, 400));
    let cell = |col: u32, row: u32| -> Vec<u32> {
        (0..16).flat_map(|y| (0..9).map(move |x| (x, y))).filter_map(|(x, y)| frame.pixel(col * 9 + x, row * 16 + y)).collect()
    };
    let grey = 0xAA_AAAA;
    let s = cell(0, 0);
    assert!(s.contains(&grey) && s.contains(&0), "the S of SeaBIOS has ink and paper");
    assert!(s.iter().all(|&p| p == grey || p == 0), "only grey and black");
    let blank_row = rows.iter().rposition(|r| !r.trim().is_empty()).expect("some text") as u32 + 2;
    if blank_row < 25 {
        assert!((0..80).all(|c| cell(c, blank_row).iter().all(|&p| p == 0)), "row {blank_row} is empty");
    }

    // A screenshot decodes to the same pixels.
    let path = std::env::temp_dir().join(format!("ironpc-vga-seabios-{}.png", std::process::id()));
    display::write_png(&frame, &path).expect("write the PNG");
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).expect("open the PNG")));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("decode");
    let _ = std::fs::copy(&path, "/tmp/vgaq/ironpc-seabios.png");
    let _ = std::fs::remove_file(&path);
    assert_eq!((info.width, info.height), (720, 400));
    let pixels: Vec<u32> =
        buf[..info.buffer_size()].chunks(3).map(|c| u32::from(c[0]) << 16 | u32::from(c[1]) << 8 | u32::from(c[2])).collect();
    assert!(pixels == frame.pixels, "the PNG's pixels differ from the frame's");
}
