; Interpreter benchmark: an integer loop on a bare machine.
; Boots from the reset vector, enters flat 32-bit protected mode, runs
; ITERATIONS turns of a loop of typical integer work (ALU, LEA, loads and
; stores, a shift, a conditional branch), then exits through isa-debug-exit
; (port 0xf4) with value 0x10, i.e. exit status 0x21.
; Build: nasm -f bin -DITERATIONS=N -o interp.rom interp.asm

%ifndef ITERATIONS
%define ITERATIONS 10000000
%endif

ROM_SIZE  equ 0x10000
ROM_BASE  equ 0xF0000            ; where the 64 KiB ROM appears below 1 MiB

bits 16
org 0

start16:
    cli
    cs lgdt [gdt_ptr]
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp dword 0x08:(ROM_BASE + start32)

bits 32
start32:
    mov ax, 0x10
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, 0x90000
    mov esi, 0x10000
    xor eax, eax
    xor ebx, ebx
    xor edx, edx
    xor edi, edi
    mov ecx, ITERATIONS
.loop:
    add eax, ecx
    xor edx, eax
    lea ebx, [ebx + eax*2 + 7]
    mov [esi], eax
    add edi, [esi]
    shr edx, 3
    dec ecx
    jnz .loop
    mov al, 0x10
    out 0xf4, al
    hlt

align 8
gdt:
    dq 0
    dq 0x00CF9B000000FFFF        ; 0x08 flat 32-bit code
    dq 0x00CF93000000FFFF        ; 0x10 flat 32-bit data
gdt_ptr:
    dw gdt_ptr - gdt - 1
    dd ROM_BASE + gdt

    times ROM_SIZE - 16 - ($ - $$) db 0xF4
bits 16
reset:                          ; F000:FFF0, in real mode
    jmp 0xF000:start16
    times ROM_SIZE - ($ - $$) db 0
