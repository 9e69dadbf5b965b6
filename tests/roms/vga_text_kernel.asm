; A Linux-shaped kernel for the screen tests (frontend/tests/exit_files.rs,
; tests/window_xvfb.rs): a bzImage setup header (Documentation/arch/x86/
; boot.rst, protocol 2.15) that SeaBIOS boots through fw_cfg and its
; linuxboot option ROM, after its VGA BIOS has set text mode 3 and
; SeaBIOS has printed its banner and "Booting from ROM..." there.
;
; The setup code writes MARKER straight into the text screen at 0xB8000
; (row 20, column 0, yellow on blue), says "marker written" on the debug
; console (port 0xE9) and then
;   * by default powers the machine off as an ACPI OS would: PIIX4 PM
;     (00:01.3) PMBA (config 0x40) holds the PM I/O base the firmware
;     chose; writing SUS_EN (bit 13) with SUS_TYP 0 (soft off, SeaBIOS's
;     \_S5) to PM1 control (base + 4) turns the PC off (82371AB datasheet,
;     7.2.3);
;   * assembled with -DWAIT, sleeps for good with interrupts on, for a
;     test that ends ironpc from outside (a signal, the window).

        bits 16
        org 0
        cpu 686

DEBUGCON        equ 0xE9

%include "bzimage_header.inc"

setup_code:
        ; DS is the setup segment: MARKER's offset is its address.
        cld
        mov ax, 0xB800
        mov es, ax
        mov di, 20 * 80 * 2
        mov si, marker
        mov ah, 0x1E                ; yellow on blue
.put:   lodsb
        test al, al
        jz .done
        stosw
        jmp .put
.done:  mov si, written
        mov dx, DEBUGCON
.say:   lodsb
        test al, al
        jz .said
        out dx, al
        jmp .say
.said:
%ifdef WAIT
        sti
.sleep: hlt
        jmp .sleep
%else
        mov dx, 0xCF8
        mov eax, 0x8000_0B40        ; bus 0, device 1, function 3, PMBA
        out dx, eax
        mov dx, 0xCFC
        in eax, dx
        and ax, 0xFFC0
        add ax, 4                   ; PM1 control
        mov dx, ax
        mov ax, 1 << 13             ; SUS_EN, SUS_TYP 0: soft off
        out dx, ax
        cli
.off:   hlt
        jmp .off
%endif

marker:         db 'IRONPC-SCREEN-MARKER on the VGA text screen', 0
written:        db 'marker written', 10, 0

        times 1536 - ($ - $$) db 0
kernel_start:
        times 512 - ($ - kernel_start) db 0xF4
kernel_end:
