; Serial input through COM1 (PC16550D datasheet, section 8: RBR/THR, IER,
; FCR, LCR, MCR, LSR; the PC wiring: IRQ 4 through the master 8259A, gated
; by OUT2). The ROM sets COM1 up as a driver would (115200 8N1, FIFOs with
; trigger level 1, the received-data interrupt, OUT2), says "ready" on
; COM1, and then sleeps in HLT; IRQ 0 ticks at 100 Hz meanwhile, so the
; machine always has a deadline, as a real idle guest does. Each IRQ 4
; drains the receive FIFO and echoes every byte back, letters in upper
; case; the byte EXIT_BYTE (Ctrl-D) ends the run through isa-debug-exit
; with status 0 (host status 1). The debug console gets "ticks" once the
; first tick came in.
;
; The ROM runs in flat 32-bit protected mode. On QEMU the CPU's local
; APIC passes the 8259A's INTR on only once LINT0 is programmed for
; ExtINT (virtual-wire mode, Intel MP spec 3.6.2.2, as SeaBIOS sets it up);
; the ROM does that too, and on ironpc, which has no local APIC yet, the
; writes go to unclaimed MMIO.

%include "lib.inc"

COM1            equ 0x3F8
UART_RBR        equ 0
UART_IER        equ 1
UART_FCR        equ 2
UART_LCR        equ 3
UART_MCR        equ 4
UART_LSR        equ 5
LAPIC_SVR       equ 0xFEE000F0
LAPIC_LINT0     equ 0xFEE00350
LSR_DR          equ 0x01
LSR_THRE        equ 0x20
EXIT_BYTE       equ 0x04

[bits 16]
rm_main:
    GO_PM32 main

[bits 32]
main:
    ; IRQ 0 -> vector 08h, IRQ 4 -> vector 0Ch.
    IDTGATE 0x08, SEL_CODE0, A(irq0), GATE_INT32
    IDTGATE 0x0C, SEL_CODE0, A(irq4), GATE_INT32
    mov byte [VAR_SCRATCH], 0
    ; Local APIC on (spurious vector FFh), LINT0 ExtINT, unmasked.
    mov dword [LAPIC_SVR], 0x1FF
    mov dword [LAPIC_LINT0], 0x700
    ; Master 8259A: edge, cascade, ICW4; base 08h; slave on IR2; 8086
    ; mode. Unmask IRQ 0 and IRQ 4.
    mov al, 0x11
    out 0x20, al
    mov al, 0x08
    out 0x21, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x01
    out 0x21, al
    mov al, 0xEE
    out 0x21, al
    ; PIT channel 0, mode 2, 1193182 / 11932 = 100 Hz.
    mov al, 0x34
    out 0x43, al
    mov ax, 11932
    out 0x40, al
    mov al, ah
    out 0x40, al
    ; COM1: divisor 1 (115200 baud), 8N1.
    mov dx, COM1 + UART_LCR
    mov al, 0x80
    out dx, al
    mov dx, COM1
    mov al, 1
    out dx, al
    inc dx
    xor al, al
    out dx, al
    mov dx, COM1 + UART_LCR
    mov al, 0x03
    out dx, al
    ; FIFOs on, both cleared, trigger level 1.
    mov dx, COM1 + UART_FCR
    mov al, 0x07
    out dx, al
    ; DTR, RTS, OUT2 (the IRQ gate).
    mov dx, COM1 + UART_MCR
    mov al, 0x0B
    out dx, al
    ; Received data available interrupt only.
    mov dx, COM1 + UART_IER
    mov al, 0x01
    out dx, al
    mov esi, A(ready)
.say:
    mov al, [esi]
    test al, al
    jz .idle
    call putc
    inc esi
    jmp .say
.idle:
    sti
    hlt
    jmp .idle

; Writes AL to COM1 once the transmitter holding register is empty.
putc:
    push edx
    push eax
    mov dx, COM1 + UART_LSR
.wait:
    in al, dx
    test al, LSR_THRE
    jz .wait
    pop eax
    mov dx, COM1
    out dx, al
    pop edx
    ret

irq0:
    push eax
    cmp byte [VAR_SCRATCH], 0
    jne .eoi
    mov byte [VAR_SCRATCH], 1
    PUTSLN "ticks"
.eoi:
    mov al, 0x20
    out 0x20, al
    pop eax
    iretd

irq4:
    push eax
    push edx
.next:
    mov dx, COM1 + UART_LSR
    in al, dx
    test al, LSR_DR
    jz .done
    mov dx, COM1 + UART_RBR
    in al, dx
    cmp al, EXIT_BYTE
    je .exit
    cmp al, 'a'
    jb .put
    cmp al, 'z'
    ja .put
    sub al, 'a' - 'A'
.put:
    call putc
    jmp .next
.done:
    mov al, 0x20
    out 0x20, al
    pop edx
    pop eax
    iretd
.exit:
    mov al, 0
    out EXIT_PORT, al
    jmp $

ready:
    db "ready", 10, 0

    ROM_END
