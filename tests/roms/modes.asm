; Operating modes (SDM vol. 3A 9.9 "Mode switching", 20.1 real-address
; mode): real mode -> 32-bit protected mode -> 16-bit protected mode ->
; real mode, then "unreal" mode (a 4 GiB data limit loaded in protected
; mode survives the return to real mode, because real-mode segment loads
; change only the selector and base).

%include "lib.inc"

[bits 16]
rm_main:
    PUTSLN "real mode"
    mov eax, cr0
    and eax, 1
    CHECK "rm.cr0.pe", eax, 0
    mov ax, cs
    movzx eax, ax
    CHECK "rm.cs", eax, 0xF000
    ; Real-mode addressing: linear = selector * 16 + offset, so
    ; 1000:0010 and 1001:0000 are the same byte.
    mov ax, 0x1000
    mov es, ax
    mov dword [es:0x10], 0x11223344
    mov ax, 0x1001
    mov fs, ax
    mov eax, [fs:0]
    CHECK "rm.seg.alias", eax, 0x11223344
    ; INT n through the IVT pushes FLAGS, CS, IP (20.1.4).
    mov word [0x40 * 4], RM(rm_int40)
    mov word [0x40 * 4 + 2], 0xF000
    mov dword [VAR_SCRATCH], 0
    int 0x40
.after_int:
    CHECKA "rm.int40.ip", [VAR_SCRATCH], RM(.after_int)
    CHECK "rm.int40.cs", [VAR_SCRATCH + 4], 0xF000
    GO_PM32 pm32_main

rm_int40:
    push bp
    mov bp, sp
    push eax
    movzx eax, word [bp + 2]
    mov [VAR_SCRATCH], eax
    movzx eax, word [bp + 4]
    mov [VAR_SCRATCH + 4], eax
    pop eax
    pop bp
    iret

; #DE: record the faulting CS:IP, resume at [VAR_EXC_RESUME].
rm_de:
    push bp
    mov bp, sp
    push eax
    movzx eax, word [bp + 2]
    mov [VAR_SCRATCH], eax
    movzx eax, word [bp + 4]
    mov [VAR_SCRATCH + 4], eax
    mov ax, [VAR_EXC_RESUME]
    mov [bp + 2], ax
    pop eax
    pop bp
    iret

[bits 32]
pm32_main:
    PUTSLN "protected mode 32"
    mov eax, cr0
    and eax, 1
    CHECK "pm32.cr0.pe", eax, 1
    xor eax, eax
    mov ax, cs
    CHECK "pm32.cs", eax, SEL_CODE0
    xor eax, eax
    str ax
    CHECK "pm32.tr", eax, SEL_TSS0
    ; Flat 4 GiB data: a byte above 1 MiB.
    mov dword [0x200000], 0xCAFEBABE
    CHECK "pm32.mem.200000", [0x200000], 0xCAFEBABE
    sgdt [VAR_SCRATCH]
    movzx eax, word [VAR_SCRATCH]
    CHECK "pm32.gdtr.limit", eax, GDT_ENTRIES * 8 - 1
    CHECK "pm32.gdtr.base", [VAR_SCRATCH + 2], GDT_BASE
    ; Loading DS set the accessed bit of its descriptor (3.4.5).
    movzx eax, byte [GDT_BASE + SEL_DATA0 + 5]
    CHECK "pm32.ds.accessed", eax, 0x93
    ; LTR marked TSS0 busy (type 9 -> 11).
    movzx eax, byte [GDT_BASE + SEL_TSS0 + 5]
    CHECK "pm32.tss.busy", eax, 0x8B
    ; LSL / LAR on the 16-bit code segment.
    mov eax, SEL_CODE16
    lsl ebx, eax
    CHECK "pm32.lsl.code16", ebx, 0xFFFF
    lar ebx, eax
    ; Not loaded yet, so not accessed; LAR keeps bits 8-15 and 20-23.
    CHECK "pm32.lar.code16", ebx, 0x9A00
    mov eax, SEL_CODE0
    lar ebx, eax
    ; Bits 19:16 (the limit's top nibble) are undefined (SDM "LAR").
    and ebx, 0x00F0FF00
    CHECK "pm32.lar.code0", ebx, 0x00C09B00
    jmp SEL_CODE16:RM(pm16)

[bits 16]
pm16:
    PUTSLN "protected mode 16"
    mov ax, SEL_DATA16
    mov ss, ax
    mov esp, STACK0_TOP
    mov ds, ax
    mov es, ax
    mov eax, cr0
    and eax, 1
    CHECK "pm16.cr0.pe", eax, 1
    xor eax, eax
    mov ax, cs
    CHECK "pm16.cs", eax, SEL_CODE16
    ; The default operand size is 16: PUSH AX moves SP by 2, a CALL
    ; pushes a 2-byte return address.
    mov ebx, esp
    push ax
    mov ecx, esp
    pop ax
    sub ebx, ecx
    CHECK "pm16.push.size", ebx, 2
    mov ebx, esp
    call .sub
    jmp .sub_done
.sub:
    mov ecx, esp
    ret
.sub_done:
    sub ebx, ecx
    CHECK "pm16.call.size", ebx, 2
    ; Back to real mode (9.9.2): data segments with a 64 KiB limit are
    ; already loaded; clear PE and far jump to a real-mode CS.
    mov eax, cr0
    and eax, ~1
    mov cr0, eax
    jmp 0xF000:RM(rm2)

rm2:
    xor ax, ax
    mov ds, ax
    mov es, ax
    mov ss, ax
    mov sp, STACK_RM_TOP
    mov word [IDTR], 0x3FF
    mov dword [IDTR + 2], 0
    lidt [IDTR]
    PUTSLN "real mode again"
    mov eax, cr0
    and eax, 1
    CHECK "rm2.cr0.pe", eax, 0
    mov ax, cs
    movzx eax, ax
    CHECK "rm2.cs", eax, 0xF000
    mov dword [VAR_SCRATCH], 0
    int 0x40
.after_int:
    CHECKA "rm2.int40.ip", [VAR_SCRATCH], RM(.after_int)
    ; An exception in real mode goes through the IVT too; #DE is a fault,
    ; so the pushed IP is the DIV's.
    mov word [0 * 4], RM(rm_de)
    mov word [0 * 4 + 2], 0xF000
    mov word [VAR_EXC_RESUME], RM(.de_done)
    xor cx, cx
.de:
    div cx
.de_done:
    CHECKA "rm2.de.ip", [VAR_SCRATCH], RM(.de)
    CHECK "rm2.de.cs", [VAR_SCRATCH + 4], 0xF000

    ; Unreal mode: load FS with the flat 4 GiB data descriptor in
    ; protected mode, go back to real mode, and reload FS with 0: only the
    ; selector and base change, the 4 GiB limit stays.
    mov eax, cr0
    or al, 1
    mov cr0, eax
    jmp SEL_CODE16:RM(pm16_unreal)
pm16_unreal:
    mov ax, SEL_DATA0
    mov fs, ax
    mov eax, cr0
    and al, 0xFE
    mov cr0, eax
    jmp 0xF000:RM(rm3)
rm3:
    xor ax, ax
    mov fs, ax
    PUTSLN "unreal mode"
    mov ax, fs
    movzx eax, ax
    CHECK "unreal.fs", eax, 0
    mov ebx, 0x300000
    mov dword [fs:ebx], 0x5A5AA5A5
    CHECK "unreal.fs.300000", [fs:ebx], 0x5A5AA5A5
    mov dword [fs:ebx + 4], 0x0BADF00D
    mov eax, [fs:0x200000 - 0x200000 + ebx + 4]
    CHECK "unreal.fs.300004", eax, 0x0BADF00D
    ; The same bytes seen flat from protected mode again.
    GO_PM32 pm32_final

[bits 32]
pm32_final:
    PUTSLN "protected mode 32 again"
    CHECK "pm32.300000", [0x300000], 0x5A5AA5A5
    CHECK "pm32.300004", [0x300004], 0x0BADF00D
    CHECK "pm32.200000", [0x200000], 0xCAFEBABE
    EXIT_PASS

ROM_END
