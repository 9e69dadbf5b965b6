; The reset state and the firmware mapping (SDM vol. 3A 9.1.4 "First
; instruction executed"): the CPU starts at F000:FFF0 with CS base
; FFFF0000, so the first instruction is the ROM's last 16 bytes at
; FFFFFFF0 and a near jump stays in the copy at the top of the address
; space; a far jump to F000:xxxx reloads the base (F0000) and runs from
; the copy of the ROM's end below 1 MiB. Only MOV, OUT and JMP are used.

[bits 16]
[org 0]

%macro OUTC 1
    mov al, %1
    out dx, al
%endmacro

high_entry:
    mov dx, 0xE9
    OUTC 'h'
    OUTC 'i'
    OUTC 'g'
    OUTC 'h'
    OUTC 10
    mov al, [cs:marker]
    out dx, al
    OUTC 10
    jmp 0xF000:low_entry

low_entry:
    OUTC 'l'
    OUTC 'o'
    OUTC 'w'
    OUTC 10
    mov bx, 0xF000
    mov ds, bx
    mov al, [marker]
    out dx, al
    OUTC 10
    mov al, 0
    out 0xF4, al
    jmp $

marker:
    db 'M'

    times 0x10000 - 16 - ($ - $$) db 0xF4
reset:
    jmp near high_entry
    times 0x10000 - ($ - $$) db 0
