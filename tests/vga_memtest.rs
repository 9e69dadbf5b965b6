//! memtest86+ (Debian's package `memtest86+`, v6, its Linux-boot-protocol
//! image `memtest86+.bin`) started as QEMU's `-kernel` does: SeaBIOS loads
//! it from fw_cfg with its linuxboot option ROM, after the VGA BIOS set
//! text mode 03h. memtest86+ v6 then draws its main screen in VGA text
//! memory (on QEMU, `qemu-system-i386 -kernel memtest86+.bin -m 128`, the
//! same 80x25 screen: "Memtest86+ v6.10" in a grey title bar, the
//! CLK/Cache/Memory panel, white on blue). The test checks it in the text
//! dump and in the picture, and the memory size against memtest86+'s rule
//! (app/display.c: the usable pages of the E820 map, "round to nearest
//! MB", `(pages + 128) / 256`), with the map SeaBIOS reports on its debug
//! console.
//!
//! Takes about 60 M instructions (a few seconds). Skipped, with a note,
//! without SeaBIOS; the images come from `cargo xtask images`.

mod common;

use common::Capture;
use ironpc::{Config, KernelBoot, Machine};

const MEMORY: u64 = 128 << 20;
const CHUNK: u64 = 10_000_000;
const MAX_INSTRUCTIONS: u64 = 1_000_000_000;

/// Usable 4 KiB pages of the RAM entries of SeaBIOS's "e820 map" in its
/// debug log ("  3: 0000000000100000 - 0000000007ffe000 = 1 RAM"), each
/// entry's start rounded up and end down to pages, as memtest86+ counts.
fn e820_ram_pages(log: &str) -> u64 {
    let map = log.rsplit("e820 map has").next().unwrap_or("");
    map.lines()
        .filter(|l| l.trim_end().ends_with("= 1 RAM"))
        .filter_map(|l| {
            let range = l.split(':').nth(1)?.split('=').next()?;
            let mut ends = range.split('-').map(|v| u64::from_str_radix(v.trim(), 16));
            let (start, end) = (ends.next()?.ok()?, ends.next()?.ok()?);
            Some((end >> 12).saturating_sub(start.div_ceil(4096)))
        })
        .sum()
}

#[test]
fn memtest_main_screen_with_the_memory_size_shows_on_the_vga() {
    let Some(bios) = common::seabios() else {
        return;
    };
    let image = std::fs::read(common::image("memtest86+.bin")).expect("read memtest86+.bin");
    let vga = std::fs::read(common::image(ironpc::bios::VGA_BIOS_FILE)).expect("read the VGA BIOS");
    let log = Capture::default();
    let config = Config {
        debugcon: Some((0x402, Box::new(log.clone()))),
        kernel: Some(KernelBoot { image, initrd: None, cmdline: String::new(), via_firmware: true, modules: Vec::new() }),
        vga_bios: Some(vga),
        ..Config::new(MEMORY, bios)
    };
    let mut m = Machine::new(config).expect("cannot build the machine");
    let main_screen = |t: &String| t.contains("Memory  :") && !t.contains("Memory  :   N/A");
    let text = common::run_until(
        &mut m,
        (CHUNK, MAX_INSTRUCTIONS),
        |m, _| Some(common::screen_text(m)).filter(main_screen),
        |m| format!("no memtest86+ main screen; screen:\n{}\nlog:\n{}", common::screen_text(m), log.text()),
    );
    let rows: Vec<&str> = text.lines().collect();
    assert_eq!(rows.len(), 25, "80x25:\n{text}");
    assert!(rows[0].contains("Memtest86+ v6"), "the title:\n{text}");
    assert!(rows[1].starts_with("CLK/Temp:") && rows[2].starts_with("L1 Cache:"), "the panel:\n{text}");
    assert!(rows[7].starts_with("CPU:") && rows[8].starts_with("Using:"), "the CPU panel:\n{text}");
    let pages = e820_ram_pages(&log.text());
    assert!(pages > 0, "no E820 map in the log:\n{}", log.text());
    let mb = (pages + 128) / 256;
    assert!(rows[5].starts_with(&format!("Memory  : {mb:>4}MB")), "{pages} pages of RAM: {mb} MB; screen:\n{text}");
    assert!(rows[24].contains("<ESC> Exit"), "the footer:\n{text}");

    // The picture: 720x400, the body blue (attribute background 1: DAC
    // entry 1, 0x0000AA), the title bar grey (background 7, 0xAAAAAA).
    let frame = m.board.screen.frame();
    assert_eq!((frame.width, frame.height), (720, 400));
    let cell = |col: u32, row: u32| -> Vec<u32> {
        (0..16).flat_map(|y| (0..9).map(move |x| (x, y))).filter_map(|(x, y)| frame.pixel(col * 9 + x, row * 16 + y)).collect()
    };
    let empty_body_row = (10..24).find(|&r| rows[r].trim().is_empty()).expect("an empty row in the body") as u32;
    assert!(cell(70, empty_body_row).iter().all(|&p| p == 0x00_00AA), "blue background");
    assert!(cell(1, 0).iter().all(|&p| p == 0xAA_AAAA), "grey title bar (blank cell before the title)");
}

/// The same start from the command line, as a user runs it headless:
/// `--vga-text-dump` writes the main screen as text and
/// `--screenshot-on-exit` as a PNG, when the instruction limit ends the run.
#[test]
fn memtest86_main_screen_in_the_text_dump_and_the_png_screenshot() {
    if common::seabios().is_none() {
        eprintln!("skipped: no SeaBIOS");
        return;
    }
    let dir = std::env::temp_dir().join(format!("ironpc-memtest-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("a temporary directory");
    let (txt, png_path) = (dir.join("screen.txt"), dir.join("screen.png"));
    let out = std::process::Command::new(common::ironpc_bin())
        .env_remove("DISPLAY")
        .env_remove("WAYLAND_DISPLAY")
        .args(["--display", "none", "--serial", "none", "--clock", "virtual", "--memory", "128M"])
        .args(["--kernel-entry", "firmware", "--kernel"])
        .arg(common::image(common::guest::MEMTEST))
        .args(["--max-instructions", &MAX_INSTRUCTIONS.to_string(), "--vga-text-dump"])
        .arg(&txt)
        .arg("--screenshot-on-exit")
        .arg(&png_path)
        .output()
        .expect("run ironpc");
    assert_eq!(out.status.code(), Some(3), "stopped by the limit: {}", String::from_utf8_lossy(&out.stderr));
    let text = std::fs::read_to_string(&txt).expect("the text dump");
    let rows: Vec<&str> = text.lines().collect();
    assert!(rows[0].contains("Memtest86+ v6"), "the title:\n{text}");
    assert!(rows[5].starts_with("Memory  :") && rows[5].contains("MB"), "the memory size:\n{text}");
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&png_path).expect("the PNG")));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("a size")];
    let info = reader.next_frame(&mut buf).expect("the picture");
    assert_eq!((info.width, info.height), (720, 400), "mode 03h");
    let rgb = |x: usize, y: usize| -> [u8; 3] {
        let at = (y * 720 + x) * 3;
        [buf[at], buf[at + 1], buf[at + 2]]
    };
    // Row 0, column 1: the grey title bar; a blank cell of the body: blue.
    let empty_body_row = (10..24).find(|&r| rows[r].trim().is_empty()).expect("an empty row in the body");
    assert_eq!(rgb(9 + 4, 8), [0xAA, 0xAA, 0xAA], "grey title bar");
    assert_eq!(rgb(70 * 9 + 4, empty_body_row * 16 + 8), [0, 0, 0xAA], "blue body");
    let _ = std::fs::remove_dir_all(&dir);
}
