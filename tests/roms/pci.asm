; The PCI side of the board as a guest sees it before any firmware ran
; (tests/pci_qemu.rs): the configuration spaces of 00:00.0, 00:01.0 and
; 00:01.3, dword by dword through 0xCF8/0xCFC, then the PIIX4 PM block
; (placed at 0xB000 and enabled), its GPE0 block and the APM ports.
; Standalone (not lib.inc): real mode only, a 64 KiB image whose reset
; vector jumps to F000:0000. Prints hex to the debug console (0xE9) and
; exits through isa-debug-exit (0xF4).

[bits 16]
[org 0]

DEBUGCON        equ 0xE9
EXIT_PORT       equ 0xF4
PM_BASE         equ 0xB000

start:
    cli
    xor ax, ax
    mov ss, ax
    mov sp, 0x7000
    mov si, functions
.function:
    mov ebx, [cs:si]
    test ebx, ebx
    jz .pm
    add si, 4
    xor di, di
.dword:
    mov eax, ebx
    or ax, di
    mov dx, 0xCF8
    out dx, eax
    mov dx, 0xCFC
    in eax, dx
    call hex32
    add di, 4
    test di, 0x1F
    jnz .same_line
    call newline
.same_line:
    cmp di, 0x100
    jb .dword
    jmp .function

.pm:
    ; PMBA = PM_BASE, PMREGMISC.PMIOSE = 1.
    mov eax, 0x80000B40
    mov dx, 0xCF8
    out dx, eax
    mov eax, PM_BASE | 1
    mov dx, 0xCFC
    out dx, eax
    mov eax, 0x80000B80
    mov dx, 0xCF8
    out dx, eax
    mov al, 1
    mov dx, 0xCFC
    out dx, al
    ; PM1 enable: every defined bit; ACPI mode through APMC.
    mov dx, PM_BASE + 2
    mov ax, 0x0521
    out dx, ax
    in ax, dx
    call hex16
    mov al, 0xF1
    out 0xB2, al
    mov dx, PM_BASE + 4
    in ax, dx
    call hex16
    in al, 0xB2
    call hex8
    mov al, 0xF0
    out 0xB2, al
    mov dx, PM_BASE + 4
    in ax, dx
    call hex16
    ; The undecoded rest of the block.
    mov di, 0x0C
.rest:
    mov dx, PM_BASE
    add dx, di
    in eax, dx
    call hex32
    add di, 4
    cmp di, 0x40
    jb .rest
    call newline
    ; GPE0: enable word written, status and enable read back.
    mov dx, 0xAFE2
    mov ax, 0xFFFF
    out dx, ax
    mov dx, 0xAFE0
    in eax, dx
    call hex32
    ; APMS is a scratch byte.
    mov al, 0x5A
    out 0xB3, al
    in al, 0xB3
    call hex8
    call newline
    mov al, 0
    out EXIT_PORT, al
    hlt

; Prints the low 8, 16 or 32 bits of EAX in hex and a space.
hex8:
    mov cx, 2
    shl eax, 24
    jmp hex
hex16:
    mov cx, 4
    shl eax, 16
    jmp hex
hex32:
    mov cx, 8
hex:
    rol eax, 4
    push eax
    and al, 0x0F
    add al, '0'
    cmp al, '9'
    jbe .digit
    add al, 'A' - '0' - 10
.digit:
    out DEBUGCON, al
    pop eax
    loop hex
    mov al, ' '
    out DEBUGCON, al
    ret

newline:
    mov al, 10
    out DEBUGCON, al
    ret

functions:
    dd 0x80000000, 0x80000800, 0x80000B00, 0

    times 0xFFF0 - ($ - $$) db 0xF4
    jmp 0xF000:start
    times 0x10000 - ($ - $$) db 0
