; A floppy boot sector for tests/cmos_disks.rs: prints the CMOS bytes a
; BIOS setup keeps for the hard disks (0x12 the drive types, 0x19/0x1A
; the extended types, the parameter blocks at 0x1B-0x23 and 0x24-0x2C,
; 0x39 the translations) in hex on the debug console (port 0x402), a
; space after each and a line feed at the end, then exits through
; isa-debug-exit (port 0xF4) with 0.

        bits 16
        org 0x7C00
        cpu 386

DEBUGCON        equ 0x402
EXIT_PORT       equ 0xF4

        cli
        xor ax, ax
        mov ds, ax
        cld
        mov si, registers
.next:
        lodsb
        cmp al, 0xFF
        je .done
        out 0x70, al
        in al, 0x71
        mov ah, al
        shr al, 4
        call hex_digit
        mov al, ah
        call hex_digit
        mov al, ' '
        call put
        jmp .next
.done:
        mov al, 10
        call put
        xor al, al
        out EXIT_PORT, al
.halt:
        hlt
        jmp .halt

; The low nibble of AL as a hex digit.
hex_digit:
        and al, 0x0F
        add al, '0'
        cmp al, '9'
        jbe put
        add al, 'A' - '9' - 1
put:
        mov dx, DEBUGCON
        out dx, al
        ret

registers:
        db 0x12, 0x19, 0x1A
        db 0x1B, 0x1C, 0x1D, 0x1E, 0x1F, 0x20, 0x21, 0x22, 0x23
        db 0x24, 0x25, 0x26, 0x27, 0x28, 0x29, 0x2A, 0x2B, 0x2C
        db 0x39
        db 0xFF

        times 510 - ($ - $$) db 0
        dw 0xAA55
