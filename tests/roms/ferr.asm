; MS-DOS compatible x87 error reporting (SDM vol. 1, D.2.1): with CR0.NE
; clear, an unmasked x87 exception does not raise #MF; the next waiting
; FPU instruction asserts FERR#, which a PC routes to IRQ 13 (slave PIC
; line 5). The handler acknowledges it by writing port 0xF0 and clears the
; exception with FNCLEX, as DOS-era floating-point libraries do.

%include "lib.inc"

IRQ13   equ 0x600                       ; IRQ 13 count (word, DS = 0)
VEC13   equ 0x75                        ; slave base 70h + 5

[bits 16]
rm_main:
    PUTSLN "ferr"
    mov word [VEC13 * 4], RM(irq13)
    mov word [VEC13 * 4 + 2], 0xF000
    mov word [16 * 4], RM(mf)           ; #MF must not be taken
    mov word [16 * 4 + 2], 0xF000
    mov word [IRQ13], 0
    ; Master: vectors 08h, slave on IR2, everything masked but the cascade.
    mov al, 0x11
    out 0x20, al
    mov al, 0x08
    out 0x21, al
    mov al, 0x04
    out 0x21, al
    mov al, 0x01
    out 0x21, al
    mov al, 0xFB
    out 0x21, al
    ; Slave: vectors 70h, cascade identity 2, only IRQ 13 unmasked.
    mov al, 0x11
    out 0xA0, al
    mov al, 0x70
    out 0xA1, al
    mov al, 0x02
    out 0xA1, al
    mov al, 0x01
    out 0xA1, al
    mov al, 0xDF
    out 0xA1, al
    mov eax, cr0
    and eax, ~(1 << 5)                  ; NE clear
    and eax, ~(1 << 2)                  ; EM clear
    or eax, 1 << 1                      ; MP set
    mov cr0, eax
    fninit
    ; Unmask the zero-divide exception (ZM, bit 2 of the control word).
    fnstcw [0x610]
    and word [0x610], ~4
    fldcw [0x610]
    sti
    fld1
    fldz
    fdivp st1, st0                      ; 1/0: ZE pending, ES set
    fnstsw ax
    movzx eax, ax
    and eax, 0x84                       ; ES | ZE
    CHECK "fsw.es.ze", eax, 0x84
    CHECK "irq13.before.wait", [IRQ13], 0
    fwait                               ; FERR# -> IRQ 13
    nop
    nop
    CHECK "irq13.after.wait", [IRQ13], 1
    fnstsw ax
    movzx eax, ax
    and eax, 0x80
    CHECK "fsw.es.cleared", eax, 0
    fwait                               ; nothing pending any more
    nop
    CHECK "irq13.once", [IRQ13], 1
    EXIT_PASS

irq13:
    push ax
    inc word [IRQ13]
    xor al, al
    out 0xF0, al                        ; clear the FERR# latch
    fnclex
    mov al, 0x20
    out 0xA0, al
    out 0x20, al
    pop ax
    iret

mf:
    PUTSLN "#MF with CR0.NE clear"
    EXIT_FAIL

    ROM_END
