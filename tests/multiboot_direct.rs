//! Direct entry of a multiboot (v1) kernel: ironpc plays the boot loader
//! of the Multiboot Specification 0.6.96 (3.2 "Machine state", 3.3 "Boot
//! information format"), no firmware runs.
//!
//! The kernel is assembled here with nasm and linked with GNU ld for
//! elf_i386; it checks the machine state (EAX magic, protected mode, no
//! paging, interrupts off, flat segments), prints what the information
//! structure says on the debug console and exits through isa-debug-exit.
//! The test is skipped, with a note, when nasm or ld is missing.

mod common;

use common::Capture;
use ironpc::bios::multiboot::Module;
use ironpc::{Config, Exit, KernelBoot, Machine};

const KERNEL: &str = r#"
bits 32
section .text
align 4
        dd 0x1BADB002, 3, -(0x1BADB002 + 3)   ; page-align modules, memory info
global _start
_start:
        mov esp, stack_top
        mov dx, 0xE9
        cmp eax, 0x2BADB002
        jne fail
        mov eax, cr0
        test eax, 1                 ; PE
        jz fail
        test eax, 0x80000000        ; PG
        jnz fail
        pushfd
        pop eax
        test eax, 0x200             ; IF
        jnz fail
        mov ax, ds
        mov cx, ss
        cmp ax, cx
        jne fail
        mov esi, [ebx + 16]         ; cmdline
        call puts
        mov al, '|'
        out dx, al
        mov ecx, [ebx + 20]         ; mods_count
        mov edi, [ebx + 24]         ; mods_addr
.mod:   push ecx
        mov esi, [edi]              ; mod_start
        test esi, 0xFFF
        jnz fail
        mov ecx, [edi + 4]
        sub ecx, esi
        rep outsb                   ; the module's bytes
        mov al, '('
        out dx, al
        mov esi, [edi + 8]          ; its command line
        call puts
        mov al, ')'
        out dx, al
        add edi, 16
        pop ecx
        loop .mod
        mov al, '|'
        out dx, al
        mov eax, [ebx + 8]          ; mem_upper in KiB, decimal
        call putd
        mov al, '|'
        out dx, al
        mov eax, [ebx + 44]         ; mmap entries
        xor edx, edx
        mov ecx, 24
        div ecx
        mov dx, 0xE9
        call putd
        mov al, '|'
        out dx, al
        mov esi, [ebx + 64]         ; boot_loader_name
        call puts
        mov al, 0                   ; status 0
        out 0xF4, al
fail:   mov al, 1
        out 0xF4, al
        hlt
puts:   lodsb
        test al, al
        jz .done
        out dx, al
        jmp puts
.done:  ret
putd:   push ebx                    ; EAX in decimal
        push edi
        mov ecx, 10
        xor edi, edi
        mov ebx, edx
.div:   xor edx, edx
        div ecx
        add dl, '0'
        push edx
        inc edi
        test eax, eax
        jnz .div
        mov edx, ebx
.out:   pop eax
        out dx, al
        dec edi
        jnz .out
        pop edi
        pop ebx
        ret
section .bss
        resb 4096
stack_top:
"#;

/// The kernel, assembled and linked; None when the tools are missing.
fn build_kernel(name: &str) -> Option<Vec<u8>> {
    common::build_multiboot_kernel(&format!("multiboot-{name}"), KERNEL)
}

#[test]
fn multiboot_kernel_runs_with_its_modules() {
    let Some(image) = build_kernel("modules") else {
        eprintln!("note: nasm or ld (elf_i386) missing; skipping the multiboot boot test");
        return;
    };
    let capture = Capture::default();
    let modules = vec![
        Module { data: b"first".to_vec(), cmdline: "m1 a=1".into() },
        Module { data: vec![b'x'; 5000], cmdline: "m2".into() },
    ];
    let config = Config {
        debugcon: Some((0xE9, Box::new(capture.clone()))),
        exit_port: Some(0xF4),
        kernel: Some(KernelBoot { image, initrd: None, cmdline: "k.elf console=x".into(), via_firmware: false, modules }),
        // The firmware never runs: the CPU starts in the kernel.
        ..Config::new(32 << 20, vec![0xF4; 64 * 1024])
    };
    let mut machine = Machine::new(config).expect("cannot build the machine");
    let exit = machine.run(Some(5_000_000));
    let text = capture.text();
    assert_eq!(exit, Exit::DebugExit(1), "kernel failed a check; console: {text}");
    // mem_upper: 32 MiB - 1 MiB in KiB; the map of a PC has 4 entries.
    let want = format!("k.elf console=x|first(m1 a=1){}(m2)|31744|4|ironpc", "x".repeat(5000));
    assert_eq!(text, want);
}

#[test]
fn a_kernel_outside_ram_is_refused() {
    let Some(image) = build_kernel("outside") else {
        eprintln!("note: nasm or ld (elf_i386) missing; skipping");
        return;
    };
    let config = Config {
        kernel: Some(KernelBoot { image, initrd: None, cmdline: String::new(), via_firmware: false, modules: Vec::new() }),
        // The kernel links at 1 MiB: with 1 MiB of RAM it cannot load.
        ..Config::new(1 << 20, vec![0xF4; 64 * 1024])
    };
    let err = Machine::new(config).err().expect("the kernel does not fit");
    assert!(err.to_string().contains("outside RAM"), "{err}");
}

/// The same kernel loaded by SeaBIOS from fw_cfg through ironpc's
/// multiboot.bin option ROM: the memory map is SeaBIOS's E820 (with its
/// own reservations), so only the fields that do not depend on it are
/// compared exactly.
#[test]
fn multiboot_kernel_runs_through_seabios() {
    let Some(image) = build_kernel("firmware") else {
        eprintln!("note: nasm or ld (elf_i386) missing; skipping");
        return;
    };
    let Some(bios) = common::seabios() else { return };
    let capture = Capture::default();
    let modules = vec![Module { data: b"first".to_vec(), cmdline: "m1 a=1".into() }];
    let config = Config {
        debugcon: Some((0xE9, Box::new(capture.clone()))),
        exit_port: Some(0xF4),
        kernel: Some(KernelBoot { image, initrd: None, cmdline: "k.elf console=x".into(), via_firmware: true, modules }),
        ..Config::new(32 << 20, bios)
    };
    let mut machine = Machine::new(config).expect("cannot build the machine");
    let exit = machine.run(Some(400_000_000));
    let text = capture.text();
    assert_eq!(exit, Exit::DebugExit(1), "kernel failed a check; console: {text}");
    assert!(text.starts_with("k.elf console=x|first(m1 a=1)|"), "{text}");
    assert!(text.ends_with("|ironpc"), "{text}");
}
