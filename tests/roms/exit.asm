; The test plumbing itself: a ROM that prints one line at the reset
; vector and writes 0x2A to isa-debug-exit, so the machine stops with
; status (0x2A << 1) | 1 = 0x55. Only MOV and OUT.

[bits 16]
[org 0]
    times 0x10000 - 16 - ($ - $$) db 0xF4
reset:
    mov al, 'x'
    out 0xE9, al
    mov al, 10
    out 0xE9, al
    mov al, 0x2A
    out 0xF4, al
    jmp $
    times 0x10000 - ($ - $$) db 0
