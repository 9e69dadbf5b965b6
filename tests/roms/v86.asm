; Virtual-8086 mode (SDM vol. 3A ch. 20): entered by IRETD with EFLAGS.VM
; set (20.2.5); real-mode addressing at CPL 3; at IOPL < 3 INT n, CLI
; (IOPL-sensitive instructions, 20.2.7) raise #GP(0) to the ring-0 monitor,
; which emulates them; IN/OUT are checked against the TSS I/O permission
; bitmap, not IOPL (20.2.8.1); an exception from V86 pushes GS, FS, DS, ES,
; SS, ESP, EFLAGS, CS, EIP on the ring-0 stack and nulls the data segment
; registers (20.3.1.1). At IOPL 3, INT n goes straight through a DPL-3
; interrupt gate (20.3.1.1) and a DPL-0 gate gives #GP(vector * 8 + 2).

%include "lib.inc"

S               equ VAR_SCRATCH
DENIED_PORT     equ 0x80

; ENTER_V86 eflags: IRETD to v86_code at F000 with the given EFLAGS (VM
; added); the monitor comes back after the macro when V86 code executes
; INT 20.
%macro ENTER_V86 1
    mov dword [VAR_R0_CONT], A(%%back)
    mov [VAR_R0_ESP], esp
    push dword 0                ; GS
    push dword 0                ; FS
    push dword 0x1000           ; DS
    push dword 0x1000           ; ES
    push dword 0x2000           ; SS
    push dword 0x1000           ; ESP
    push dword (%1) | FL_VM | 2
    push dword 0xF000
    push dword RM(v86_code)
    iretd
%%back:
%endmacro

[bits 16]
rm_main:
    GO_PM32 main

[bits 32]
main:
    PUTSLN "protected mode"
    or byte [TSS0_IOMAP + DENIED_PORT / 8], 1 << (DENIED_PORT & 7)
    mov dword [VAR_EXC_HOOK], A(monitor)
    IDTGATE 0x22, SEL_CODE0, A(int22_handler), GATE_INT32_U
    mov dword [S + 0], 0                ; monitor: #GP count
    mov dword [S + 60], 0               ; INT 22 handler count

    mov byte [0x10020], 0
    ENTER_V86 0
    mov ax, SEL_DATA0
    mov fs, ax
    mov gs, ax
    PUTSLN "monitor: V86 done"
    CHECK "gp.count", [S + 0], 4
    CHECK "gp.int21.err", [S + 4], 0
    CHECK "gp.out80.err", [S + 8], 0
    CHECK "gp.cli.err", [S + 12], 0
    CHECK "exit.int.vector", [S + 16], 0x20
    CHECK "exit.err", [S + 20], 0
    ; A fault-class exception other than #DB pushes EFLAGS with RF set
    ; (SDM 17.3.1.1); QEMU leaves RF clear.
    CHECKQ "exit.frame.eflags", [S + 24], FL_VM | FL_RF | 0x46, FL_VM | 0x46
    CHECK "exit.frame.esp", [S + 28], 0x1000
    CHECK "exit.frame.ss", [S + 32], 0x2000
    CHECK "exit.frame.es", [S + 36], 0x3000
    CHECK "exit.frame.ds", [S + 40], 0x1000
    CHECK "exit.frame.fs", [S + 44], 0x4000
    CHECK "exit.frame.gs", [S + 48], 0x5000
    CHECK "exit.handler.ds.nulled", [S + 52], 0
    CHECK "exit.frame.base", [S + 56], STACK_ESP0 - 44
    CHECK "mem.10010", [0x10010], 0xA5A5
    CHECK "mem.30000", [0x30000], 0x3333

    ; IOPL 3: INT 22 through a DPL-3 gate reaches its handler directly;
    ; INT 20 through a DPL-0 gate is #GP(0x20 * 8 + 2).
    mov dword [S + 0], 0
    mov byte [0x10020], 1
    ENTER_V86 FL_IOPL3
    mov ax, SEL_DATA0
    mov fs, ax
    mov gs, ax
    PUTSLN "monitor: V86 at IOPL 3 done"
    CHECK "iopl3.gp.count", [S + 0], 1
    CHECK "iopl3.exit.err", [S + 20], 0x20 * 8 + 2
    CHECK "int22.count", [S + 60], 1
    CHECK "int22.frame.cs", [S + 64], 0xF000
    CHECK "int22.frame.eflags.vm", [S + 68], FL_VM
    CHECK "int22.frame.ss", [S + 72], 0x2000
    CHECK "int22.frame.ds", [S + 76], 0x1000
    CHECK "int22.handler.cs", [S + 80], SEL_CODE0
    EXIT_PASS

; The #GP monitor (exception hook, EBP -> vector, err, EIP, CS, EFLAGS,
; ESP, SS, ES, DS, FS, GS; EAX of the guest at EBP - 4, its DS at EBP - 36).
monitor:
    cmp dword [ebp], 13
    jne .bad
    test dword [ebp + 16], FL_VM
    jz .bad
    inc dword [S + 0]
    movzx eax, word [ebp + 12]
    shl eax, 4
    add eax, [ebp + 8]
    movzx ebx, byte [eax]
    mov ecx, [ebp + 4]
    cmp bl, 0xCD
    je .int
    cmp bl, 0xE6
    je .out
    cmp bl, 0xFA
    je .cli
.bad:
    PUTS "monitor: unexpected vector "
    HEX32 [ebp]
    PUTS " at "
    HEX32 [ebp + 8]
    NEWLINE
    jmp fail_exit
.int:
    movzx edx, byte [eax + 1]
    cmp edx, 0x20
    je .exit
    mov [S + 4], ecx
    inc word [ebp - 4]                  ; the emulated service: AX + 1
    add dword [ebp + 8], 2
    ret
.out:
    mov [S + 8], ecx
    add dword [ebp + 8], 2
    ret
.cli:
    mov [S + 12], ecx
    add dword [ebp + 8], 1
    ret
.exit:
    mov [S + 16], edx
    mov [S + 20], ecx
    mov eax, [ebp + 16]
    mov [S + 24], eax
    mov eax, [ebp + 20]
    mov [S + 28], eax
    mov eax, [ebp + 24]
    mov [S + 32], eax
    mov eax, [ebp + 28]
    mov [S + 36], eax
    mov eax, [ebp + 32]
    mov [S + 40], eax
    mov eax, [ebp + 36]
    mov [S + 44], eax
    mov eax, [ebp + 40]
    mov [S + 48], eax
    mov eax, [ebp - 36]
    mov [S + 52], eax
    mov [S + 56], ebp
    mov esp, [VAR_R0_ESP]
    jmp [VAR_R0_CONT]

int22_handler:
    push eax
    push ds
    mov ax, SEL_DATA0
    mov ds, ax
    inc dword [S + 60]
    mov eax, [esp + 12]
    mov [S + 64], eax
    mov eax, [esp + 16]
    and eax, FL_VM
    mov [S + 68], eax
    mov eax, [esp + 24]
    mov [S + 72], eax
    mov eax, [esp + 32]
    mov [S + 76], eax
    xor eax, eax
    mov ax, cs
    mov [S + 80], eax
    pop ds
    pop eax
    iretd

[bits 16]
v86_code:
    ; (PUSHF would trap at IOPL 0: ring 0 leaves the mode in memory.)
    cmp byte [0x20], 0
    jne v86_iopl3
    PUTSLN "v86"
    xor eax, eax
    mov ax, cs
    CHECK "v86.cs", eax, 0xF000
    mov ax, ss
    CHECK "v86.ss", eax, 0x2000
    mov ebx, esp
    CHECK "v86.esp", ebx, 0x1000
    smsw ax
    and eax, 1
    CHECK "v86.msw.pe", eax, 1
    ; Real-mode style addressing: DS = 1000 -> linear 10000.
    mov word [0x10], 0xA5A5
    mov ax, 0x3000
    mov es, ax
    mov word [es:0], 0x3333
    mov ax, 0x4000
    mov fs, ax
    mov ax, 0x5000
    mov gs, ax
    ; INT 21 at IOPL 0: #GP(0); the monitor adds 1 to AX and skips it.
    mov eax, 0x4C00
    int 0x21
    CHECK "v86.int21.emulated", eax, 0x4C01
    ; Port E9 is allowed by the bitmap, port 80 is not.
    in al, DEBUGCON
    movzx eax, al
    CHECK "v86.in.e9", eax, 0xE9
    out DENIED_PORT, al
    PUTSLN "v86: out 80 skipped by the monitor"
    cli
    PUTSLN "v86: cli skipped by the monitor"
    xor ax, ax
    int 0x20
    jmp $

v86_iopl3:
    PUTSLN "v86 iopl 3"
    cli
    sti
    cli
    int 0x22
    PUTSLN "v86: int 22 returned"
    int 0x20
    jmp $

ROM_END
