; ironpc demo firmware: a tour of the CPU on a bare machine.
;
; Boots at the reset vector in real mode, switches to 32-bit protected
; mode, turns on paging (a 4 MiB PSE page identity-mapping low memory),
; asks CPUID who it is, drops to ring 3 through IRET and comes back to
; ring 0 through an interrupt gate, printing each step on the debug
; console (port 0xE9). It ends by writing 0 to isa-debug-exit (port 0xF4):
; exit status 1 means every step ran.
;
; Build: nasm -f bin -o hello.rom hello.asm
; Run:   ironpc --bios hello.rom --debugcon stdio --exit-port 0xf4

ROM_SIZE    equ 0x10000
ROM_LOW     equ 0xF0000             ; the ROM's address below 1 MiB
PAGE_DIR    equ 0x10000             ; page directory in RAM
IDT         equ 0x11000
TSS         equ 0x12000
STACK0      equ 0x90000             ; ring-0 stack top
STACK3      equ 0x80000             ; ring-3 stack top

SEL_CODE0   equ 0x08
SEL_DATA0   equ 0x10
SEL_CODE3   equ 0x1B
SEL_DATA3   equ 0x23
SEL_TSS     equ 0x28

bits 16
org 0

start16:
    cli
    mov ax, cs
    mov ds, ax
    mov si, msg_real
    call print16
    lgdt [gdt_ptr]
    mov eax, cr0
    or al, 1                        ; CR0.PE
    mov cr0, eax
    jmp dword SEL_CODE0:(ROM_LOW + start32)

; Prints the NUL-terminated string at DS:SI.
print16:
    lodsb
    test al, al
    jz .done
    out 0xE9, al
    jmp print16
.done:
    ret

bits 32
start32:
    mov ax, SEL_DATA0
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov esp, STACK0
    mov esi, ROM_LOW + msg_prot
    call print32

    ; Paging: one 4 MiB page (PSE) mapping 0..4 MiB onto itself, and the
    ; top 4 MiB (where the ROM also lives) likewise.
    mov edi, PAGE_DIR
    xor eax, eax
    mov ecx, 1024
    rep stosd
    mov dword [PAGE_DIR], 0x00000087         ; present, writable, user, 4 MiB
    mov dword [PAGE_DIR + 1023*4], 0xFFC00083 ; present, writable, supervisor
    mov eax, cr4
    or eax, 0x10                    ; CR4.PSE
    mov cr4, eax
    mov eax, PAGE_DIR
    mov cr3, eax
    mov eax, cr0
    or eax, 0x80000000              ; CR0.PG
    mov cr0, eax
    mov esi, ROM_LOW + msg_paging
    call print32

    ; CPUID leaf 0: the vendor string in EBX, EDX, ECX.
    xor eax, eax
    cpuid
    mov [vendor], ebx
    mov [vendor + 4], edx
    mov [vendor + 8], ecx
    mov byte [vendor + 12], 0
    mov esi, ROM_LOW + msg_cpuid
    call print32
    mov esi, vendor
    call print32
    mov al, 10
    out 0xE9, al

    ; A TSS for the ring-0 stack, an interrupt gate (DPL 3) for INT 0x80.
    mov dword [TSS + 4], STACK0     ; ESP0
    mov dword [TSS + 8], SEL_DATA0  ; SS0
    mov word [TSS + 0x66], 0x68     ; no I/O bitmap
    mov ax, SEL_TSS
    ltr ax
    mov eax, ROM_LOW + back_in_ring0
    mov [IDT + 0x80*8], ax
    mov word [IDT + 0x80*8 + 2], SEL_CODE0
    mov word [IDT + 0x80*8 + 4], 0xEE00   ; present, DPL 3, 32-bit interrupt gate
    shr eax, 16
    mov [IDT + 0x80*8 + 6], ax
    lidt [ROM_LOW + idt_ptr]

    ; IRET to ring 3 with IOPL 3 so ring 3 may use the debug port.
    push SEL_DATA3                  ; SS
    push STACK3                     ; ESP
    push 0x3002                     ; EFLAGS: IOPL 3
    push SEL_CODE3                  ; CS
    push ROM_LOW + ring3            ; EIP
    iret

ring3:
    mov ax, SEL_DATA3
    mov ds, ax
    mov esi, ROM_LOW + msg_ring3
    call print32
    int 0x80

back_in_ring0:
    mov ax, SEL_DATA0
    mov ds, ax
    mov esi, ROM_LOW + msg_ring0
    call print32
    mov eax, [esp + 4]              ; the CS that INT pushed: its RPL is the old CPL
    and al, 3
    add al, '0'
    out 0xE9, al
    mov esi, ROM_LOW + msg_done
    call print32
    mov al, 0
    out 0xF4, al                    ; exit status (0 << 1) | 1 = 1
    hlt

; Prints the NUL-terminated string at DS:ESI.
print32:
    lodsb
    test al, al
    jz .done
    out 0xE9, al
    jmp print32
.done:
    ret

msg_real    db "real mode: running the reset vector at F000:FFF0", 10, 0
msg_prot    db "protected mode: 32-bit code, CPL 0", 10, 0
msg_paging  db "paging: on, 4 MiB pages", 10, 0
msg_cpuid   db "cpuid: vendor ", 0
msg_ring3   db "ring 3: entered through IRET", 10, 0
msg_ring0   db "ring 0: back through INT 0x80 from CPL ", 0
msg_done    db 10, "done", 10, 0
vendor      equ 0x13000

align 8
gdt:
    dq 0
    dq 0x00CF9B000000FFFF           ; 0x08 ring-0 code
    dq 0x00CF93000000FFFF           ; 0x10 ring-0 data
    dq 0x00CFFB000000FFFF           ; 0x18 ring-3 code
    dq 0x00CFF3000000FFFF           ; 0x20 ring-3 data
    dw 0x67, TSS & 0xFFFF           ; 0x28 32-bit TSS at TSS
    db (TSS >> 16) & 0xFF, 0x89, 0, (TSS >> 24) & 0xFF
gdt_ptr:
    dw gdt_ptr - gdt - 1
    dd ROM_LOW + gdt
idt_ptr:
    dw 256*8 - 1
    dd IDT

    times ROM_SIZE - 16 - ($ - $$) db 0xF4
bits 16
reset:                              ; F000:FFF0
    jmp 0xF000:start16
    times ROM_SIZE - ($ - $$) db 0
