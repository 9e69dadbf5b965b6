; Timer interrupts on the machine's own chipset: the 8254's channel 0 in
; mode 2 at about 1 kHz (count 1193) raises IRQ 0 through the master
; 8259A, programmed here as a BIOS would (vectors 08h-0Fh); the CPU sleeps
; in HLT between ticks. After 20 ticks it checks, on the PIC and the PIT,
; that what it sees matches the datasheets: the ISR is empty after each
; EOI, and a latched count lies within the programmed period.

%include "lib.inc"

TICKS   equ 0x600                       ; tick counter (word, DS = 0)

[bits 16]
rm_main:
    PUTSLN "timer"
    ; IRQ 0 arrives as vector 8.
    mov word [8 * 4], RM(irq0)
    mov word [8 * 4 + 2], 0xF000
    mov word [TICKS], 0
    ; Master PIC: ICW1 (edge, cascade, ICW4), ICW2 vector base 08h, ICW3
    ; slave on IR2, ICW4 8086 mode; then unmask IRQ 0 only.
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
    ; PIT channel 0: lo/hi access, mode 2 (rate generator), binary.
    mov al, 0x34
    out 0x43, al
    mov ax, 1193
    out 0x40, al
    mov al, ah
    out 0x40, al
    sti
.wait:
    hlt
    cmp word [TICKS], 20
    jb .wait
    cli
    CHECK "ticks", [TICKS], 20
    ; OCW3: read the in-service register: nothing in service after EOI.
    mov al, 0x0B
    out 0x20, al
    in al, 0x20
    movzx eax, al
    CHECK "pic.isr", eax, 0
    ; Latch channel 0 and read the count: 1 <= count <= 1193.
    mov al, 0x00
    out 0x43, al
    in al, 0x40
    mov ah, al
    in al, 0x40
    xchg al, ah
    movzx eax, ax
    mov ebx, 0
    cmp eax, 1
    jb .bad
    cmp eax, 1193
    ja .bad
    mov ebx, 1
.bad:
    CHECK "pit.count.in.period", ebx, 1
    EXIT_PASS

irq0:
    push ax
    inc word [TICKS]
    mov al, 0x20                        ; non-specific EOI
    out 0x20, al
    pop ax
    iret

    ROM_END
