; The board's chipset as a BIOS meets it, on the virtual clock:
; - COM1: a 16550A at 0x3F8, programmed 115200 8N1 with FIFOs, prints a
;   line polled on LSR.THRE (captured as the machine's serial output);
; - the RTC/CMOS: the time at machine time 0 (virtual clock: 2026-01-01
;   00:00:00), BCD, and the memory-size bytes the board wrote (16 MiB);
; - RTC periodic interrupts (rate 6, 1024 Hz) on IRQ 8, through the slave
;   8259A and the cascade, waking HLT;
; - the 8042: self-test, and the A20 gate through its output port,
;   checked by the wraparound at FFFF:0010.

%include "lib.inc"

TICKS   equ 0x600

%macro CMOS 1                           ; AL = CMOS[%1]
    mov al, %1
    out 0x70, al
    in al, 0x71
%endmacro

%macro KBC_CMD 1                        ; writes a controller command
    mov al, %1
    out 0x64, al
%endmacro

[bits 16]
rm_main:
    PUTSLN "chipset"
    ; COM1: DLAB, divisor 1, 8N1, FIFO on, then a line.
    mov dx, 0x3FB
    mov al, 0x80
    out dx, al
    mov dx, 0x3F8
    mov al, 1
    out dx, al
    inc dx
    xor al, al
    out dx, al
    mov dx, 0x3FB
    mov al, 0x03
    out dx, al
    mov dx, 0x3FA
    mov al, 0x07
    out dx, al
    mov si, RM(serial_text)
.tx:
    mov al, [cs:si]
    test al, al
    jz .tx_done
    mov ah, al
    mov dx, 0x3FD
.wait_thre:
    in al, dx
    test al, 0x20
    jz .wait_thre
    mov al, ah
    mov dx, 0x3F8
    out dx, al
    inc si
    jmp .tx
.tx_done:
    mov dx, 0x3FA
    in al, dx
    and al, 0xC0
    movzx eax, al
    CHECK "uart.iir.fifo", eax, 0xC0

    ; RTC: BCD date at machine time 0 and the CMOS memory size.
    CMOS 0x09
    movzx eax, al
    CHECK "rtc.year", eax, 0x26
    CMOS 0x08
    movzx eax, al
    CHECK "rtc.month", eax, 0x01
    CMOS 0x07
    movzx eax, al
    CHECK "rtc.day", eax, 0x01
    CMOS 0x32
    movzx eax, al
    CHECK "rtc.century", eax, 0x20
    CMOS 0x31
    mov ah, al
    CMOS 0x30
    movzx eax, ax
    CHECK "cmos.ext.kib", eax, 15 * 1024

    ; RTC periodic interrupt: IRQ 8 -> vector 0x70 on the slave PIC.
    cli
    mov word [0x70 * 4], RM(irq8)
    mov word [0x70 * 4 + 2], 0xF000
    mov word [TICKS], 0
    mov al, 0x11                        ; master: ICW1..4
    out 0x20, al
    mov al, 0x08
    out 0x21, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x01
    out 0x21, al
    mov al, 0x11                        ; slave: ICW1..4
    out 0xA0, al
    mov al, 0x70
    out 0xA1, al
    mov al, 0x02
    out 0xA1, al
    mov al, 0x01
    out 0xA1, al
    mov al, 0xFB                        ; master: only the cascade (IRQ 2)
    out 0x21, al
    mov al, 0xFE                        ; slave: only IRQ 8
    out 0xA1, al
    mov al, 0x0A                        ; register A: rate 6 (1024 Hz)
    out 0x70, al
    mov al, 0x26
    out 0x71, al
    mov al, 0x0B                        ; register B: PIE, 24h, BCD
    out 0x70, al
    mov al, 0x42
    out 0x71, al
    sti
.wait:
    hlt
    cmp word [TICKS], 5
    jb .wait
    cli
    CHECK "rtc.periodic.ticks", [TICKS], 5

    ; 8042: self-test, then A20 off and on through the output port.
    KBC_CMD 0xAA
    call kbc_read
    movzx eax, al
    CHECK "kbc.selftest", eax, 0x55
    mov byte [0x0], 0x11
    mov ax, 0xFFFF
    mov es, ax
    mov byte [es:0x10], 0x22            ; 0x100000
    KBC_CMD 0xDD                        ; A20 off
    mov al, [es:0x10]                   ; now aliases 0x0
    movzx eax, al
    CHECK "a20.off.wraps", eax, 0x11
    KBC_CMD 0xDF                        ; A20 on
    mov al, [es:0x10]
    movzx eax, al
    CHECK "a20.on.distinct", eax, 0x22
    EXIT_PASS

; Reads the 8042's output buffer once it is full.
kbc_read:
    in al, 0x64
    test al, 1
    jz kbc_read
    in al, 0x60
    ret

irq8:
    push ax
    inc word [TICKS]
    mov al, 0x0C                        ; read register C: acknowledges
    out 0x70, al
    in al, 0x71
    mov al, 0x20                        ; EOI to slave and master
    out 0xA0, al
    out 0x20, al
    pop ax
    iret

serial_text:
    db "hello from COM1", 10, 0

    ROM_END
