; The reset state and the firmware mapping (SDM vol. 3A 9.1.4 "First
; instruction executed"): the CPU starts at F000:FFF0 with CS base
; FFFF0000, so the first instruction is the ROM's last 16 bytes at
; FFFFFFF0; a far jump to F000:xxxx then runs from the copy of the ROM's
; end below 1 MiB. Only MOV, OUT and JMP are used, so this ROM also checks
; the test harness itself (debug console, exit port) on a minimal CPU.

[bits 16]
[org 0]

%macro OUTC 1
    mov al, %1
    out dx, al
%endmacro

low_entry:
    mov dx, 0xE9
    OUTC 'l'
    OUTC 'o'
    OUTC 'w'
    OUTC 10
    ; Data reads see the low copy too.
    mov bx, 0xF000
    mov ds, bx
    mov al, [ds:marker]
    out dx, al
    OUTC 10
    mov al, 0
    out 0xF4, al
    jmp $

marker:
    db 'M'

    times 0x10000 - 16 - ($ - $$) db 0xF4
reset:
    mov dx, 0xE9
    mov al, 'r'
    out dx, al
    mov al, 10
    out dx, al
    jmp 0xF000:low_entry
    times 0x10000 - ($ - $$) db 0
