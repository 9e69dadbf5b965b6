; Reboots that reset the whole machine, as a PC's chipset does: the CPU
; starts again at its reset vector and the devices come back in their
; power-on state, while RAM and the battery-backed CMOS keep their
; contents. The ROM counts its boots in a free CMOS byte; boot 1 leaves
; COM1, the master 8259A and the A20 gate changed and triple-faults (SDM
; vol. 3A 6.15: a fault while delivering #DF shuts the processor down);
; boot 2 finds them at their reset values (PC16550D "Reset" table: IER,
; LCR, SCR 0; 8259A: QEMU and ironpc clear IMR; A20 enabled) and pulses
; the reset line through the 8042 (command FEh); boot 3 passes.

%include "lib.inc"

CMOS_BOOTS      equ 0x70        ; unused by the BIOS layout
COM1            equ 0x3F8
A20_PROBE       equ VAR_SCRATCH ; 0000:0540 and FFFF:0550 = 10_0540

[bits 16]
rm_main:
    mov al, CMOS_BOOTS
    out 0x70, al
    in al, 0x71
    inc al
    mov bl, al
    mov al, CMOS_BOOTS
    out 0x70, al
    mov al, bl
    out 0x71, al
    PUTS "boot "
    movzx eax, bl
    HEX32 eax
    NEWLINE
    cmp bl, 1
    je first
    cmp bl, 2
    je second
    cmp bl, 3
    je third
    EXIT_FAIL

first:
    ; COM1: 8N1, every interrupt enabled, a scratch value.
    mov dx, COM1 + 3
    mov al, 0x03
    out dx, al
    mov dx, COM1 + 1
    mov al, 0x0F
    out dx, al
    mov dx, COM1 + 7
    mov al, 0x5A
    out dx, al
    ; Master 8259A initialised, IRQs 1-7 masked.
    mov al, 0x11
    out 0x20, al
    mov al, 0x08
    out 0x21, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x01
    out 0x21, al
    mov al, 0xFE
    out 0x21, al
    ; A20 off through port 92h.
    in al, 0x92
    and al, ~2
    out 0x92, al
    PUTSLN "triple fault next"
    GO_PM32 triple

second:
    mov dx, COM1 + 1
    in al, dx
    movzx eax, al
    CHECK "com1.ier", eax, 0
    mov dx, COM1 + 3
    in al, dx
    movzx eax, al
    CHECK "com1.lcr", eax, 0
    mov dx, COM1 + 7
    in al, dx
    movzx eax, al
    CHECK "com1.scr", eax, 0
    in al, 0x21
    movzx eax, al
    CHECK "pic.imr", eax, 0
    ; With A20 on, 0000:0540 and FFFF:0550 (10_0540) are distinct bytes.
    mov byte [A20_PROBE], 0x11
    mov ax, 0xFFFF
    mov fs, ax
    mov byte [fs:A20_PROBE + 0x10], 0x22
    movzx eax, byte [A20_PROBE]
    CHECK "a20", eax, 0x11
    PUTSLN "keyboard controller reset next"
    mov al, 0xFE
    out 0x64, al
    ; The pulse may take a moment (QEMU finishes the translation block).
    cli
    hlt
    PUTSLN "FAIL still running"
    EXIT_FAIL

third:
    EXIT_PASS

[bits 32]
triple:
    mov word [IDTR], 0
    lidt [IDTR]
    int3
    PUTSLN "FAIL still running"
    EXIT_FAIL

    ROM_END
