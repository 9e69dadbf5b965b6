//! A VBE mode set by a guest program through the Bochs DISPI ports, drawn
//! through the linear framebuffer the VGA's BAR0 places: the screen shows
//! exactly the pattern the program drew.
//!
//! The program is a multiboot kernel (nasm + GNU ld for elf_i386, entered
//! directly, no firmware): it finds the VGA at 00:02.0 by its IDs, gives
//! BAR0 an address if nothing did (0xE0000000) and turns memory decode on,
//! checks the DISPI ID (0xB0C0-0xB0C5, Bochs vbe.h), sets 1024x768 at 32
//! bpp with the LFB (DISPI_ENABLE: enabled | LFB), fills the framebuffer
//! with pixel (x, y) = x & 0xFF in red, y & 0xFF in green, (x ^ y) & 0xFF
//! in blue, says 'A' on the debug console, waits some frames, inverts
//! every pixel in place and exits through isa-debug-exit with status 0.
//! Every pixel of the frame shown after the first picture and after the
//! inversion is checked against the rule: the second picture only reaches
//! the screen through the dirty pages of the framebuffer, since the first
//! was already rendered.
//! Skipped, with a note, when nasm or ld is missing.

mod common;

use ironpc::{display, Config, Exit, KernelBoot, Machine};

const WIDTH: u32 = 1024;
const HEIGHT: u32 = 768;

const KERNEL: &str = r#"
bits 32
section .text
align 4
        dd 0x1BADB002, 0, -(0x1BADB002)
WIDTH   equ 1024
HEIGHT  equ 768
LFB     equ 0xE0000000
global _start
_start:
        mov eax, 0x80001000         ; 00:02.0, register 0: IDs
        mov dx, 0xCF8
        out dx, eax
        mov dx, 0xCFC
        in eax, dx
        cmp eax, 0x11111234
        jne fail
        mov eax, 0x80001010         ; BAR0
        mov dx, 0xCF8
        out dx, eax
        mov dx, 0xCFC
        in eax, dx
        and eax, 0xFFFFFFF0
        jnz .have_bar
        mov eax, LFB
        out dx, eax
.have_bar:
        mov ebp, eax                ; the framebuffer
        mov eax, 0x80001004         ; command: memory space on
        mov dx, 0xCF8
        out dx, eax
        mov dx, 0xCFC
        in ax, dx
        or ax, 2
        out dx, ax
        xor eax, eax                ; DISPI index 0: ID
        call dispi_read
        and ax, 0xFFF0
        cmp ax, 0xB0C0
        jne fail
        mov ecx, 4                  ; ENABLE off while programming
        xor eax, eax
        call dispi_write
        mov ecx, 1
        mov eax, WIDTH
        call dispi_write
        mov ecx, 2
        mov eax, HEIGHT
        call dispi_write
        mov ecx, 3
        mov eax, 32
        call dispi_write
        mov ecx, 4
        mov eax, 0x41               ; ENABLED | LFB_ENABLED
        call dispi_write
        mov edi, ebp
        xor ebx, ebx                ; y
.row:   xor ecx, ecx                ; x
.pixel: mov eax, ecx
        and eax, 0xFF
        shl eax, 16                 ; red: x
        mov edx, ebx
        and edx, 0xFF
        shl edx, 8                  ; green: y
        or eax, edx
        mov edx, ecx
        xor edx, ebx
        and edx, 0xFF               ; blue: x ^ y
        or eax, edx
        stosd
        inc ecx
        cmp ecx, WIDTH
        jb .pixel
        inc ebx
        cmp ebx, HEIGHT
        jb .row
        mov al, 'A'                 ; first picture done
        out 0xE9, al
        mov ecx, 10000000           ; let a few frames be shown
.spin:  dec ecx
        jnz .spin
        mov edi, ebp                ; invert every pixel in place
        mov ecx, WIDTH * HEIGHT
.invert:
        not dword [edi]
        and dword [edi], 0xFFFFFF
        add edi, 4
        dec ecx
        jnz .invert
        mov al, 0
        out 0xF4, al
fail:   mov al, 1
        out 0xF4, al
        hlt
dispi_read:                         ; AX = register AX
        mov dx, 0x1CE
        out dx, ax
        mov dx, 0x1CF
        in ax, dx
        ret
dispi_write:                        ; register CX = AX
        push eax
        mov eax, ecx
        mov dx, 0x1CE
        out dx, ax
        pop eax
        mov dx, 0x1CF
        out dx, ax
        ret
"#;

/// The kernel, assembled and linked; None when the tools are missing.
fn build_kernel() -> Option<Vec<u8>> {
    common::build_multiboot_kernel("vga-vbe", KERNEL)
}

/// The pattern's rule.
fn expected(x: u32, y: u32) -> u32 {
    (x & 0xFF) << 16 | (y & 0xFF) << 8 | ((x ^ y) & 0xFF)
}

#[test]
fn a_vbe_mode_drawn_through_the_lfb_renders_the_pattern() {
    let Some(image) = build_kernel() else {
        eprintln!("note: nasm or ld (elf_i386) missing; skipping the VBE test");
        return;
    };
    let Some(bios) = common::seabios() else {
        return;
    };
    let console = common::Capture::default();
    let config = Config {
        debugcon: Some((0xE9, Box::new(console.clone()))),
        exit_port: Some(0xF4),
        kernel: Some(KernelBoot { image, initrd: None, cmdline: String::new(), via_firmware: false, modules: Vec::new() }),
        // The firmware never runs: the CPU starts in the kernel.
        ..Config::new(32 << 20, bios)
    };
    let mut m = Machine::new(config).expect("cannot build the machine");
    common::run_until(
        &mut m,
        (1_000_000, 100_000_000),
        |_, _| console.text().contains('A').then_some(()),
        |_| format!("no first picture; console: {:?}", console.text()),
    );
    let check = |m: &mut Machine, rule: &dyn Fn(u32, u32) -> u32, what: &str| {
        m.refresh_screen();
        let frame = m.board.screen.frame();
        assert_eq!((frame.width, frame.height), (WIDTH, HEIGHT));
        for y in 0..HEIGHT {
            for x in 0..WIDTH {
                assert_eq!(frame.pixel(x, y), Some(rule(x, y)), "{what}: pixel ({x}, {y})");
            }
        }
        frame
    };
    check(&mut m, &expected, "first picture");
    assert_eq!(m.board.screen.text(), None, "a graphics mode has no text");
    assert_eq!(m.run(Some(m.cpu.icount + 100_000_000)), Exit::DebugExit(1), "the program reports success (status 0)");
    let inverted = |x, y| expected(x, y) ^ 0xFF_FFFF;
    let frame = check(&mut m, &inverted, "inverted picture");

    // The screenshot holds the same pixels.
    let path = std::env::temp_dir().join(format!("ironpc-vga-vbe-{}.png", std::process::id()));
    display::write_png(&frame, &path).expect("write the PNG");
    let decoder = png::Decoder::new(std::io::BufReader::new(std::fs::File::open(&path).expect("open the PNG")));
    let mut reader = decoder.read_info().expect("a PNG");
    let mut buf = vec![0; reader.output_buffer_size().expect("size")];
    let info = reader.next_frame(&mut buf).expect("decode");
    let _ = std::fs::remove_file(&path);
    assert_eq!((info.width, info.height), (WIDTH, HEIGHT));
    let (x, y) = (700, 500);
    let at = ((y * WIDTH + x) * 3) as usize;
    assert_eq!(u32::from(buf[at]) << 16 | u32::from(buf[at + 1]) << 8 | u32::from(buf[at + 2]), inverted(x, y));
}
