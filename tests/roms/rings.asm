; Privilege levels (SDM vol. 3A ch. 5 and 6): ring 0 -> ring 3 by IRET,
; ring 3 -> ring 0 by INT through a DPL-3 interrupt gate (stack switch to
; SS0:ESP0 of the TSS, frame SS, ESP, EFLAGS, CS, EIP: 6.12.1), a call gate
; with two parameters and a far RET with an immediate back (5.8.5, 5.8.6,
; data segments more privileged than the new CPL nulled on return), #GP
; for INT n through a DPL-0 gate (error code = IDT vector * 8 + 2), for a
; call gate with DPL < CPL, for loading a DPL-0 data segment, for CLI and
; HLT at CPL 3; SYSENTER/SYSEXIT (vol. 2B: flat segments derived from
; IA32_SYSENTER_CS); a conforming code segment; VERR/VERW/LAR at CPL 3.

%include "lib.inc"

S               equ VAR_SCRATCH
SEL_GATE3       equ SEL_FREE            ; call gate, DPL 3, 2 parameters
SEL_GATE0       equ SEL_FREE + 8        ; call gate, DPL 0
SEL_CONF        equ SEL_FREE + 16       ; conforming code, DPL 0
USER_ESP        equ STACK3_TOP - 0x100
SYSENTER_ESP    equ STACK_ESP0 - 0x400

[bits 16]
rm_main:
    GO_PM32 main

[bits 32]
main:
    PUTSLN "ring 0"
    IDTGATE 0x40, SEL_CODE0, A(int40_handler), GATE_INT32_U
    SETGATE GDT_BASE + SEL_GATE3, SEL_CODE0, A(gate_target), GATE_CALL32 | 0x60, 2
    SETGATE GDT_BASE + SEL_GATE0, SEL_CODE0, A(gate_target), GATE_CALL32, 0
    SETDESC SEL_CONF, 0, 0xFFFFF, 0x9F, 0xC
    mov ecx, 0x174                      ; IA32_SYSENTER_CS
    xor edx, edx
    mov eax, SEL_CODE0
    wrmsr
    mov ecx, 0x175                      ; IA32_SYSENTER_ESP
    mov eax, SYSENTER_ESP
    wrmsr
    mov ecx, 0x176                      ; IA32_SYSENTER_EIP
    mov eax, A(sysenter_target)
    wrmsr
    RUN_RING3 user
    PUTSLN "back in ring 0"
    xor eax, eax
    mov ax, cs
    CHECK "ring0.cs", eax, SEL_CODE0
    EXIT_PASS

user:
    PUTSLN "ring 3"
    mov ebx, esp
    CHECK "user.esp", ebx, STACK3_TOP
    xor eax, eax
    mov ax, cs
    CHECK "user.cs", eax, SEL_CODE3
    mov ax, ss
    CHECK "user.ss", eax, SEL_DATA3
    mov ax, ds
    CHECK "user.ds", eax, SEL_DATA3

    ; INT 40 through a DPL-3 interrupt gate.
    mov esp, USER_ESP
    push dword 0x8D5                    ; CF PF AF ZF SF OF
    popfd
    int 0x40
.after_int40:
    pushfd
    pop ebx
    mov ecx, esp
    CHECK "iret.eflags", ebx, 0x8D7
    CHECK "iret.esp", ecx, USER_ESP
    CHECK "int40.handler.cs", [S + 0], SEL_CODE0
    CHECK "int40.handler.ss", [S + 4], SEL_DATA0
    CHECK "int40.handler.esp", [S + 8], STACK_ESP0 - 20
    CHECKA "int40.frame.eip", [S + 12], A(.after_int40)
    CHECK "int40.frame.cs", [S + 16], SEL_CODE3
    CHECK "int40.frame.eflags", [S + 20], 0x8D7
    CHECK "int40.frame.esp", [S + 24], USER_ESP
    CHECK "int40.frame.ss", [S + 28], SEL_DATA3
    CHECK "int40.handler.eflags", [S + 32], 0x8D7

    ; Call gate with two dword parameters, far RET 8 back.
    push dword 0x11111111
    push dword 0x22222222
    call (SEL_GATE3 | 3):0
.after_gate:
    mov ecx, esp
    xor eax, eax
    mov ax, ds
    mov ebx, eax
    mov ax, SEL_DATA3
    mov ds, ax
    CHECK "gate.ret.esp", ecx, USER_ESP
    CHECK "gate.ret.ds.nulled", ebx, 0
    xor eax, eax
    mov ax, es
    CHECK "gate.ret.es.kept", eax, SEL_DATA3
    xor eax, eax
    mov ax, cs
    CHECK "gate.ret.cs", eax, SEL_CODE3
    CHECK "gate.target.cs", [S + 68], SEL_CODE0
    CHECK "gate.target.esp", [S + 40], STACK_ESP0 - 24
    CHECKA "gate.frame.eip", [S + 44], A(.after_gate)
    CHECK "gate.frame.cs", [S + 48], SEL_CODE3
    CHECK "gate.frame.param0", [S + 52], 0x22222222
    CHECK "gate.frame.param1", [S + 56], 0x11111111
    CHECK "gate.frame.esp", [S + 60], USER_ESP - 8
    CHECK "gate.frame.ss", [S + 64], SEL_DATA3

    ; A conforming code segment of DPL 0 runs at the caller's CPL: CS gets
    ; RPL 3, no stack switch (5.8.1.2).
    call (SEL_CONF | 3):A(conforming_target)
    CHECK "conforming.cs", [S + 100], SEL_CONF | 3
    CHECK "conforming.ss", [S + 104], SEL_DATA3
    CHECK "conforming.esp", [S + 108], USER_ESP - 8

    ; VERR / VERW / LAR against CPL 3 (vol. 2): ZF says whether the
    ; segment is accessible.
    mov ax, SEL_DATA0
    verr ax
    setz bl
    movzx ebx, bl
    CHECK "verr.data0", ebx, 0
    mov ax, SEL_DATA3
    verw ax
    setz bl
    movzx ebx, bl
    CHECK "verw.data3", ebx, 1
    mov ax, SEL_CODE3
    verr ax
    setz bl
    movzx ebx, bl
    CHECK "verr.code3", ebx, 1
    verw ax
    setz bl
    movzx ebx, bl
    CHECK "verw.code3", ebx, 0
    mov eax, SEL_CODE0
    mov ecx, 0x1234
    lar ecx, eax
    setz bl
    movzx ebx, bl
    CHECK "lar.code0.zf", ebx, 0
    CHECK "lar.code0.unchanged", ecx, 0x1234
    mov eax, SEL_CONF
    lar ecx, eax
    setz bl
    movzx ebx, bl
    CHECK "lar.conforming.zf", ebx, 1
    ; Bits 19:16 (the limit's top nibble) are undefined (SDM "LAR").
    and ecx, 0x00F0FF00
    CHECK "lar.conforming", ecx, 0x00C09F00

    ; INT n through a DPL-0 gate: #GP, error code IDT-flagged.
    EXPECT_FAULT .gp_int_done
.gp_int:
    int 0x41
.gp_int_done:
    CHECK "gp.int41.vec", [VAR_EXC_VEC], 13
    CHECK "gp.int41.err", [VAR_EXC_ERR], 0x41 * 8 + 2
    CHECKA "gp.int41.eip", [VAR_EXC_EIP], A(.gp_int)
    CHECK "gp.int41.frame.cs", [VAR_EXC_CS], SEL_CODE3
    CHECK "gp.int41.frame.ss", [VAR_EXC_SS], SEL_DATA3
    CHECK "gp.int41.frame.esp", [VAR_EXC_ESP], USER_ESP

    ; A call gate of DPL 0: #GP(gate selector).
    EXPECT_FAULT .gp_gate_done
    call (SEL_GATE0 | 3):0
.gp_gate_done:
    CHECK "gp.gate0.vec", [VAR_EXC_VEC], 13
    CHECK "gp.gate0.err", [VAR_EXC_ERR], SEL_GATE0

    ; MOV DS, a DPL-0 data selector: #GP(selector), DS unchanged.
    EXPECT_FAULT .gp_ds_done
    mov ax, SEL_DATA0
    mov ds, ax
.gp_ds_done:
    CHECK "gp.movds.vec", [VAR_EXC_VEC], 13
    CHECK "gp.movds.err", [VAR_EXC_ERR], SEL_DATA0
    xor eax, eax
    mov ax, ds
    CHECK "gp.movds.ds.kept", eax, SEL_DATA3

    ; CLI and HLT at CPL 3, IOPL 0: #GP(0).
    EXPECT_FAULT .gp_cli_done
    cli
.gp_cli_done:
    CHECK "gp.cli.vec", [VAR_EXC_VEC], 13
    CHECK "gp.cli.err", [VAR_EXC_ERR], 0
    EXPECT_FAULT .gp_hlt_done
    hlt
.gp_hlt_done:
    CHECK "gp.hlt.vec", [VAR_EXC_VEC], 13
    CHECK "gp.hlt.err", [VAR_EXC_ERR], 0

    ; SYSENTER / SYSEXIT.
    mov ecx, esp
    mov edx, A(.after_sysexit)
    sysenter
.after_sysexit:
    mov ebx, esp
    CHECK "sysexit.esp", ebx, USER_ESP
    xor eax, eax
    mov ax, cs
    CHECK "sysexit.cs", eax, SEL_CODE3
    mov ax, ss
    CHECK "sysexit.ss", eax, SEL_DATA3
    CHECK "sysenter.cs", [S + 80], SEL_CODE0
    CHECK "sysenter.ss", [S + 84], SEL_DATA0
    CHECK "sysenter.esp", [S + 88], SYSENTER_ESP
    RET_RING0

int40_handler:
    mov [S + 8], esp
    pushfd
    pop dword [S + 32]
    xor eax, eax
    mov ax, cs
    mov [S + 0], eax
    mov ax, ss
    mov [S + 4], eax
    mov eax, [esp]
    mov [S + 12], eax
    mov eax, [esp + 4]
    mov [S + 16], eax
    mov eax, [esp + 8]
    mov [S + 20], eax
    mov eax, [esp + 12]
    mov [S + 24], eax
    mov eax, [esp + 16]
    mov [S + 28], eax
    iretd

gate_target:
    ; DS gets a DPL-0 selector: the return to CPL 3 must null it.
    mov ax, SEL_DATA0
    mov ds, ax
    mov [S + 40], esp
    xor eax, eax
    mov ax, cs
    mov [S + 68], eax
    mov eax, [esp]
    mov [S + 44], eax
    mov eax, [esp + 4]
    mov [S + 48], eax
    mov eax, [esp + 8]
    mov [S + 52], eax
    mov eax, [esp + 12]
    mov [S + 56], eax
    mov eax, [esp + 16]
    mov [S + 60], eax
    mov eax, [esp + 20]
    mov [S + 64], eax
    retf 8

conforming_target:
    xor eax, eax
    mov ax, cs
    mov [S + 100], eax
    mov ax, ss
    mov [S + 104], eax
    mov [S + 108], esp
    retf

sysenter_target:
    xor eax, eax
    mov ax, cs
    mov [S + 80], eax
    mov ax, ss
    mov [S + 84], eax
    mov [S + 88], esp
    sysexit

ROM_END
