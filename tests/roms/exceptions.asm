; Exceptions (SDM vol. 3A ch. 6, 6.15 per vector; vol. 2 for the
; instructions raising them; ch. 17 for #DB): fault EIP at the faulting
; instruction, trap EIP after it, error codes (selector format 6.13: index,
; TI, IDT, EXT bits), double fault from a contributory pair (table 6-5).

%include "lib.inc"

S               equ VAR_SCRATCH
SEL_XONLY       equ SEL_FREE            ; execute-only code
SEL_RODATA      equ SEL_FREE + 8        ; read-only data
SEL_NPDATA      equ SEL_FREE + 16       ; not-present data
SEL_SMALLTSS    equ SEL_FREE + 24       ; TSS with a limit below 0x67
SEL_NPSTACK     equ SEL_FREE + 32       ; not-present writable data
SEL_LIMDATA     equ SEL_FREE + 40       ; data, limit 0xFFF
SEL_LIMDATA3    equ SEL_FREE + 48       ; ring-3 data, limit 0xFFF
SEL_NPCODE      equ SEL_FREE + 56       ; not-present code

; FAULT "name", vector, error code: the last exception had them.
%macro FAULT 3
  %strcat %%v %1, ".vec"
  %strcat %%e %1, ".err"
    CHECK %%v, [VAR_EXC_VEC], %2
    CHECK %%e, [VAR_EXC_ERR], %3
%endmacro

; FAULT_TCG "name", vector, error code: the same, for checks that QEMU's
; TCG does not make (it checks segment limits and types only when a
; segment register is loaded): there nothing happens and the values stay
; -1, printed as QEMU lines.
%macro FAULT_TCG 3
  %strcat %%v %1, ".vec"
  %strcat %%e %1, ".err"
    mov dword [VAR_EXC_RESUME], 0
    CHECKQ %%v, [VAR_EXC_VEC], %2, -1
    CHECKQ %%e, [VAR_EXC_ERR], %3, -1
%endmacro

; AT "name", label: the frame's EIP was label.
%macro AT 2
  %strcat %%n %1, ".eip"
    CHECKA %%n, [VAR_EXC_EIP], A(%2)
%endmacro

[bits 16]
rm_main:
    GO_PM32 main

[bits 32]
main:
    PUTSLN "exceptions"
    SETDESC SEL_XONLY, 0, 0xFFFFF, 0x98, 0xC
    SETDESC SEL_RODATA, 0, 0xFFFFF, 0x90, 0xC
    SETDESC SEL_NPDATA, 0, 0xFFFFF, 0x12, 0xC
    SETDESC SEL_SMALLTSS, TSS_A, 0x40, 0x89, 0x0
    SETDESC SEL_NPSTACK, 0, 0xFFFFF, 0x12, 0xC
    SETDESC SEL_LIMDATA, 0, 0xFFF, 0x92, 0x4
    SETDESC SEL_LIMDATA3, 0, 0xFFF, 0xF2, 0x4
    SETDESC SEL_NPCODE, 0, 0xFFFFF, 0x1A, 0xC

    ; #DE: DIV by zero and IDIV overflow (faults).
    xor ecx, ecx
    mov eax, 1
    xor edx, edx
    EXPECT_FAULT .de1_done
.de1:
    div ecx
.de1_done:
    FAULT "de.div0", 0, 0
    AT "de.div0", .de1
    mov ax, 0x8000
    mov bl, -1
    EXPECT_FAULT .de2_done
.de2:
    idiv bl
.de2_done:
    FAULT "de.idiv.overflow", 0, 0
    AT "de.idiv.overflow", .de2

    ; #UD: UD2, LOCK on a non-lockable instruction, MOV CS.
    EXPECT_FAULT .ud1_done
.ud1:
    ud2
.ud1_done:
    FAULT "ud.ud2", 6, 0
    AT "ud.ud2", .ud1
    EXPECT_FAULT .ud2_done
.ud2:
    db 0xF0, 0x01, 0xD8                 ; lock add eax, ebx
.ud2_done:
    FAULT "ud.lock.add.reg", 6, 0
    AT "ud.lock.add.reg", .ud2
    EXPECT_FAULT .ud3_done
.ud3:
    db 0x8E, 0xC8                       ; mov cs, ax
.ud3_done:
    FAULT "ud.mov.cs", 6, 0

    ; #BR: BOUND with the index outside [10, 20]; inside, nothing.
    mov dword [S + 0], 10
    mov dword [S + 4], 20
    mov dword [VAR_EXC_COUNT], 0
    mov eax, 15
    bound eax, [S + 0]
    mov eax, 20
    bound eax, [S + 0]
    CHECK "br.inside.count", [VAR_EXC_COUNT], 0
    mov eax, 21
    EXPECT_FAULT .br_done
.br:
    bound eax, [S + 0]
.br_done:
    FAULT "br.above", 5, 0
    AT "br.above", .br

    ; #OF: INTO traps (EIP after it) only with OF set.
    xor eax, eax                        ; OF = 0
    into
    CHECK "of.clear.count", [VAR_EXC_COUNT], 1
    mov al, 0x7F
    add al, 1                           ; OF = 1
    EXPECT_FAULT .of_done
    into
.of_after:
.of_done:
    FAULT "of.into", 4, 0
    AT "of.into", .of_after

    ; #BP: INT3 traps, EIP after the one-byte CC.
    EXPECT_FAULT .bp_done
    int3
.bp_after:
.bp_done:
    FAULT "bp.int3", 3, 0
    AT "bp.int3", .bp_after

    ; #GP with selector error codes.
    EXPECT_FAULT .gp1_done
    mov ax, 0x0FF8                      ; beyond the GDT limit
.gp1:
    mov ds, ax
.gp1_done:
    FAULT "gp.beyond.gdt", 13, 0x0FF8
    AT "gp.beyond.gdt", .gp1
    EXPECT_FAULT .gp2_done
    mov ax, 0x000F                      ; TI = 1, no LDT
    mov ds, ax
.gp2_done:
    FAULT "gp.ldt.selector", 13, 0x000C
    EXPECT_FAULT .gp3_done
    mov ax, SEL_XONLY
    mov ds, ax
.gp3_done:
    FAULT "gp.ds.execute.only", 13, SEL_XONLY
    EXPECT_FAULT .gp4_done
    mov ax, SEL_CODE0
    mov ss, ax
.gp4_done:
    FAULT "gp.ss.code", 13, SEL_CODE0
    EXPECT_FAULT .gp5_done
    xor ax, ax
    mov ss, ax
.gp5_done:
    FAULT "gp.ss.null", 13, 0
    EXPECT_FAULT .gp6_done
    mov ax, SEL_RODATA
    mov es, ax
    mov dword [es:S + 8], 1
.gp6_done:
    FAULT_TCG "gp.write.readonly", 13, 0
    mov ax, SEL_DATA0
    mov es, ax
    ; A null DS loads fine; using it is #GP(0).
    EXPECT_FAULT .gp7_done
    xor ax, ax
    mov ds, ax
    mov eax, [S + 8]
.gp7_done:
    mov ax, SEL_DATA0
    mov ds, ax
    FAULT_TCG "gp.null.ds.use", 13, 0
    ; Beyond a data segment limit: #GP(0). QEMU's TCG does not check
    ; segment limits.
    EXPECT_FAULT .gp8_done
    mov ax, SEL_LIMDATA
    mov es, ax
    mov eax, [es:0xFFE]
.gp8_done:
    mov ax, SEL_DATA0
    mov es, ax
    FAULT_TCG "gp.limit", 13, 0
    ; INT n beyond the IDT limit: #GP(vector * 8 + 2).
    mov word [IDTR], 0x60 * 8 - 1
    lidt [IDTR]
    EXPECT_FAULT .gp9_done
    int 0x60
.gp9_done:
    mov word [IDTR], 256 * 8 - 1
    lidt [IDTR]
    FAULT "gp.int.beyond.idt", 13, 0x60 * 8 + 2

    ; Far transfers: to a data segment #GP(selector), to a not-present code
    ; segment #NP(selector), to the null selector #GP(0).
    EXPECT_FAULT .far1_done
.far1:
    jmp SEL_DATA0:0
.far1_done:
    FAULT "gp.jmp.data", 13, SEL_DATA0
    AT "gp.jmp.data", .far1
    EXPECT_FAULT .far2_done
    call SEL_NPCODE:0
.far2_done:
    FAULT "np.call.code", 11, SEL_NPCODE
    EXPECT_FAULT .far3_done
    jmp 0:0
.far3_done:
    FAULT "gp.jmp.null", 13, 0

    ; #NP: a not-present data segment; a not-present gate (IDT bit, and
    ; EXT when the event was a hardware exception).
    EXPECT_FAULT .np1_done
    mov ax, SEL_NPDATA
    mov ds, ax
.np1_done:
    FAULT "np.ds", 11, SEL_NPDATA
    and byte [IDT_BASE + 0x50 * 8 + 5], 0x7F
    EXPECT_FAULT .np2_done
    int 0x50
.np2_done:
    FAULT "np.int.gate", 11, 0x50 * 8 + 2
    and byte [IDT_BASE + 6 * 8 + 5], 0x7F
    EXPECT_FAULT .np3_done
    ud2
.np3_done:
    or byte [IDT_BASE + 6 * 8 + 5], 0x80
    ; QEMU sets EXT only for external interrupts; the SDM (6.13) sets it
    ; for any fault raised while delivering an earlier exception.
    CHECK "np.ud.gate.ext.vec", [VAR_EXC_VEC], 11
    CHECKQ "np.ud.gate.ext.err", [VAR_EXC_ERR], 6 * 8 + 3, 6 * 8 + 2

    ; #SS: a not-present stack segment.
    EXPECT_FAULT .ss_done
    mov ax, SEL_NPSTACK
    mov ss, ax
.ss_done:
    FAULT "ss.not.present", 12, SEL_NPSTACK

    ; #SS(0): a PUSH below the stack segment's limit. At CPL 3, so that the
    ; handler gets the TSS stack rather than the broken one. (Not checked
    ; by QEMU's TCG.)
    RUN_RING3 ss_limit_user
    FAULT_TCG "ss.limit", 12, 0

    ; #TS: a task switch to a TSS whose limit is below 0x67.
    EXPECT_FAULT .ts_done
    jmp SEL_SMALLTSS:0
.ts_done:
    FAULT "ts.small.tss", 10, SEL_SMALLTSS

    ; #DB single step: POPF sets TF; each following instruction traps
    ; with EIP after it. The hook counts and clears TF at the third.
    mov dword [S + 16], 0
    mov dword [VAR_EXC_HOOK], A(step_hook)
    xor ebx, ebx
    pushfd
    or dword [esp], FL_TF
    popfd
    inc ebx
.step1:
    inc ebx
.step2:
    inc ebx
.step3:
    mov dword [VAR_EXC_HOOK], 0
    CHECK "db.step.count", [S + 16], 3
    CHECK "db.step.ebx", ebx, 3
    CHECKA "db.step.first.eip", [S + 20], A(.step1)
    CHECKA "db.step.last.eip", [S + 24], A(.step3)
    CHECK "db.step.dr6.bs", [S + 28], 0x4000
    CHECK "db.step.vec", [VAR_EXC_VEC], 1

    ; #DB code breakpoint (DR0, execute, local enable): a fault before the
    ; instruction runs; the hook sets RF so it runs on return.
    mov dword [S + 16], 0
    mov dword [VAR_EXC_HOOK], A(bp_hook)
    mov eax, A(.bp_target)
    mov dr0, eax
    xor eax, eax
    mov dr6, eax
    mov eax, 0x401                      ; L0, R/W0 = 00 (execute), LEN0 = 00
    mov dr7, eax
    xor ebx, ebx
.bp_target:
    inc ebx
    inc ebx
    xor eax, eax
    mov dr7, eax
    mov dword [VAR_EXC_HOOK], 0
    CHECK "db.bp.count", [S + 16], 1
    CHECK "db.bp.ebx", ebx, 2
    CHECKA "db.bp.eip", [S + 20], A(.bp_target)
    CHECK "db.bp.dr6.b0", [S + 28], 1

    ; #DB data breakpoint (DR1, write, 4 bytes): a trap after the writing
    ; instruction, DR6.B1.
    mov dword [S + 16], 0
    mov dword [VAR_EXC_HOOK], A(bp_hook)
    mov eax, S + 200
    mov dr1, eax
    xor eax, eax
    mov dr6, eax
    mov eax, 0x400 | (1 << 2) | (1 << 20) | (3 << 22)  ; L1, R/W1 = 01, LEN1 = 11
    mov dr7, eax
    mov dword [S + 204], 7              ; not watched: no trap
    mov dword [S + 200], 9
.wp_after:
    xor eax, eax
    mov dr7, eax
    mov dword [VAR_EXC_HOOK], 0
    CHECK "db.watch.count", [S + 16], 1
    CHECKA "db.watch.eip", [S + 20], A(.wp_after)
    CHECK "db.watch.dr6.b1", [S + 28], 2
    CHECK "db.watch.written", [S + 200], 9

    ; #DF: #DE's gate is not present, the #NP raised while delivering it
    ; is contributory too, so #DF (error code 0) follows.
    and byte [IDT_BASE + 0 * 8 + 5], 0x7F
    xor ecx, ecx
    EXPECT_FAULT .df_done
    div ecx
.df_done:
    or byte [IDT_BASE + 0 * 8 + 5], 0x80
    FAULT "df.de.np", 8, 0

    ; A benign exception (#BP) followed by #NP is not a double fault.
    and byte [IDT_BASE + 3 * 8 + 5], 0x7F
    EXPECT_FAULT .nodf_done
    int3
.nodf_done:
    or byte [IDT_BASE + 3 * 8 + 5], 0x80
    FAULT "np.int3.gate", 11, 3 * 8 + 2
    EXIT_PASS

ss_limit_user:
    EXPECT_FAULT .done
    mov ax, SEL_LIMDATA3 | 3
    mov ss, ax
    mov esp, 2
    push eax
.done:
    mov ax, SEL_DATA3
    mov ss, ax
    mov esp, STACK3_TOP
    RET_RING0

; #DB hooks: EBP -> vector, err, EIP, CS, EFLAGS.
step_hook:
    inc dword [S + 16]
    mov eax, [ebp + 8]
    cmp dword [S + 16], 1
    jne .not_first
    mov [S + 20], eax
.not_first:
    mov [S + 24], eax
    mov eax, dr6
    and eax, 0x4000
    mov [S + 28], eax
    cmp dword [S + 16], 3
    jne .ret
    and dword [ebp + 16], ~FL_TF
.ret:
    ret

bp_hook:
    inc dword [S + 16]
    mov eax, [ebp + 8]
    mov [S + 20], eax
    mov eax, dr6
    and eax, 0xF
    mov [S + 28], eax
    or dword [ebp + 16], FL_RF
    cmp dword [S + 16], 1
    je .ret
    ; A second hit: RF did not suppress the breakpoint.
    mov dword [VAR_EXC_HOOK], 0
    mov eax, dr7
    and eax, ~0xFF
    mov dr7, eax
.ret:
    ret

ROM_END
