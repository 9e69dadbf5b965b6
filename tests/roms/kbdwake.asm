; A guest that waits for the keyboard in HLT (tests/ps2_input.rs): it
; points vector 09h (IRQ 1 behind a master 8259A based at 08h, the PC's
; layout) at a handler, unmasks IRQ 1 only, sets the 8042's command byte
; as SeaBIOS does (0x65: translation, SYS, IRQ 1, mouse port off), prints
; "h" and a newline on the debug console and halts with interrupts on.
; Nothing else is scheduled (the PIT and RTC stay unprogrammed): only a
; key can wake it. The handler reads port 0x60 and writes the byte to
; isa-debug-exit, so the machine stops with status (byte << 1) | 1.

[bits 16]
[org 0]
start:
    cli
    xor ax, ax
    mov ss, ax
    mov sp, 0x7000
    mov ds, ax
    mov word [9 * 4], handler
    mov word [9 * 4 + 2], 0xF000
    ; ICW1 (edge, cascade, ICW4), ICW2 vector base 08h, ICW3 slave on
    ; IR2, ICW4 8086 mode; then OCW1: only IRQ 1 unmasked.
    mov al, 0x11
    out 0x20, al
    mov al, 0x08
    out 0x21, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x01
    out 0x21, al
    mov al, 0xFD
    out 0x21, al
    ; 8042: write command byte.
    mov al, 0x60
    out 0x64, al
    mov al, 0x65
    out 0x60, al
    mov al, 'h'
    out 0xE9, al
    mov al, 10
    out 0xE9, al
    sti
idle:
    hlt
    jmp idle

handler:
    in al, 0x60
    out 0xF4, al
    mov al, 0x20
    out 0x20, al
    iret

    times 0x10000 - 16 - ($ - $$) db 0xF4
reset:
    jmp 0xF000:start
    times 0x10000 - ($ - $$) db 0
