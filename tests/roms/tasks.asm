; Hardware task switching (SDM vol. 3A ch. 7): a far JMP to a TSS
; descriptor (7.3: old task's busy bit cleared, new one set, no back link,
; NT clear), a far CALL through a task gate (back link = old TR, NT set,
; both tasks busy) and IRET back through the back link (7.4: the nested
; task's busy bit cleared, the old task's registers reloaded from its
; TSS), #GP on a CALL to a busy task, CR0.TS set by every switch (2.5),
; and double faults handled by a task gate (6.15 vector 8: #GP delivered
; through a not-present gate raises #NP, contributory + contributory ->
; #DF; a kernel stack overflow into an absent page, #PF + #PF -> #DF; the
; task gate gives the handler a fresh stack, as Linux i386 does).

%include "lib.inc"

S               equ VAR_SCRATCH
SEL_TASKGATE    equ SEL_FREE            ; task gate -> TSS_B
STACK_A         equ 0x21000
STACK_B         equ 0x22000
STACK_C         equ 0x23000
STACK_PAGE      equ 0x30000             ; absent in the stack-overflow case
PD              equ 0x100000
PT0             equ 0x101000

; INIT_TSS base, entry: a ring-0 flat task starting at entry, EAX = base.
%macro INIT_TSS 3
    mov edi, %1
    xor eax, eax
    mov ecx, 0x68 / 4
    rep stosd
    mov dword [%1 + 0x20], A(%2)        ; EIP
    mov dword [%1 + 0x24], 2            ; EFLAGS
    mov dword [%1 + 0x28], %1           ; EAX
    mov dword [%1 + 0x38], %3           ; ESP
    mov dword [%1 + 0x48], SEL_DATA0    ; ES
    mov dword [%1 + 0x4C], SEL_CODE0    ; CS
    mov dword [%1 + 0x50], SEL_DATA0    ; SS
    mov dword [%1 + 0x54], SEL_DATA0    ; DS
    mov dword [%1 + 0x58], SEL_DATA0    ; FS
    mov dword [%1 + 0x5C], SEL_DATA0    ; GS
    mov word [%1 + 0x66], 0x68          ; no I/O bitmap
%endmacro

; Access byte of a GDT descriptor (type 9 available TSS, 11 busy).
%macro TSS_TYPE 1
    movzx eax, byte [GDT_BASE + (%1) + 5]
%endmacro

[bits 16]
rm_main:
    GO_PM32 main

[bits 32]
main:
    PUTSLN "task 0"
    INIT_TSS TSS_A, task_a, STACK_A
    INIT_TSS TSS_B, task_b, STACK_B
    INIT_TSS TSS_C, task_df, STACK_C
    SETGATE GDT_BASE + SEL_TASKGATE, SEL_TSS_B, 0, GATE_TASK, 0
    IDTGATE 8, SEL_TSS_C, 0, GATE_TASK
    TSS_TYPE SEL_TSS0
    CHECK "tss0.busy", eax, 0x8B
    TSS_TYPE SEL_TSS_A
    CHECK "tssa.available", eax, 0x89

    ; JMP to TSS_A; it JMPs back to TSS0.
    mov ebx, 0x0B0B0B0B
    jmp SEL_TSS_A:0
.after_jmp:
    mov ecx, ebx
    xor eax, eax
    str ax
    CHECK "back.tr", eax, SEL_TSS0
    CHECK "back.ebx", ecx, 0x0B0B0B0B
    CHECK "a.tr", [S + 0], SEL_TSS_A
    CHECK "a.eax.from.tss", [S + 4], TSS_A
    CHECK "a.tss0.type", [S + 8], 0x89
    CHECK "a.tssa.type", [S + 12], 0x8B
    CHECK "a.eflags", [S + 16], 2
    CHECK "a.backlink", [S + 20], 0
    CHECKA "a.tss0.saved.eip", [S + 24], A(.after_jmp)
    CHECK "a.tss0.saved.ebx", [S + 28], 0x0B0B0B0B
    CHECK "a.cr0.ts", [S + 32], 8
    TSS_TYPE SEL_TSS0
    CHECK "back.tss0.type", eax, 0x8B
    TSS_TYPE SEL_TSS_A
    CHECK "back.tssa.type", eax, 0x89
    mov eax, cr0
    and eax, 8
    CHECK "back.cr0.ts", eax, 8
    clts

    ; CALL through a task gate; the task IRETs back (NT set).
    mov esi, 0x51515151
    mov edi, 0x11111111
    push dword 2
    popfd
    call SEL_TASKGATE:0
.after_call:
    mov ebx, esi
    mov ecx, edi
    pushfd
    pop edx
    CHECK "ret.esi", ebx, 0x51515151
    CHECK "ret.edi.from.tss", ecx, 0xD1D1D1D1
    CHECK "ret.eflags", edx, 2
    CHECK "b.tr", [S + 40], SEL_TSS_B
    CHECK "b.eflags.nt", [S + 44], FL_NT | 2
    CHECK "b.backlink", [S + 48], SEL_TSS0
    CHECK "b.tss0.type", [S + 52], 0x8B
    CHECK "b.tssb.type", [S + 56], 0x8B
    CHECK "b.lar.tss0", [S + 60], 0x8B00
    CHECK "b.eax.from.tss", [S + 64], TSS_B
    TSS_TYPE SEL_TSS_B
    CHECK "ret.tssb.type", eax, 0x89
    CHECK "ret.tssb.saved.nt", [TSS_B + 0x24], 2
    CHECKA "ret.tssb.saved.eip", [TSS_B + 0x20], A(task_b.after_iret)

    ; CALL to the busy current task: #GP(selector).
    EXPECT_FAULT .busy_done
    call SEL_TSS0:0
.busy_done:
    CHECK "gp.busy.vec", [VAR_EXC_VEC], 13
    CHECK "gp.busy.err", [VAR_EXC_ERR], SEL_TSS0

    ; Double fault: the #GP gate is not present, so delivering #GP raises
    ; #NP (error code: IDT entry 13, IDT bit, EXT bit); #GP + #NP -> #DF,
    ; delivered through the task gate at vector 8.
    and byte [IDT_BASE + 13 * 8 + 5], 0x7F
    mov esi, 0x5A5A5A5A
    mov ax, 0x0FF8                       ; beyond the GDT limit
.df_fault:
    mov ds, ax
.after_df:
    mov ebx, esi
    mov ax, SEL_DATA0
    mov ds, ax
    PUTSLN "back from the double-fault task"
    CHECK "df.esi", ebx, 0x5A5A5A5A
    CHECK "df.tr", [S + 80], SEL_TSS_C
    CHECK "df.err", [S + 84], 0
    CHECK "df.backlink", [S + 88], SEL_TSS0
    CHECK "df.eflags.nt", [S + 92], FL_NT | 2
    ; The SDM calls the EIP saved for #DF undefined; processors (and QEMU)
    ; save the instruction whose fault started it.
    CHECKA "df.tss0.saved.eip", [S + 96], A(.df_fault)
    CHECK "df.esp.in.task", [S + 100], STACK_C - 4
    TSS_TYPE SEL_TSS_C
    CHECK "df.tssc.type", eax, 0x89

    ; The Linux i386 case: the kernel stack runs into an absent page. The
    ; PUSH faults (#PF), delivering that #PF pushes to the same absent page
    ; (#PF + #PF -> #DF), and the #DF task runs on its own stack. Paging:
    ; 0-4 MiB identity except STACK_PAGE, the ROM as a 4 MiB page; both
    ; TSSs name the page directory, as task switches load CR3.
    mov edi, PD
    xor eax, eax
    mov ecx, 0x2000 / 4
    rep stosd
    mov edi, PT0
    mov eax, PG_P | PG_RW
.pt0:
    stosd
    add eax, 0x1000
    cmp edi, PT0 + 0x1000
    jne .pt0
    mov dword [PT0 + (STACK_PAGE >> 12) * 4], 0
    mov dword [PD], PT0 | PG_P | PG_RW
    mov dword [PD + 1023 * 4], 0xFFC00000 | PG_PS | PG_P | PG_RW
    mov dword [TSS0 + 0x1C], PD
    INIT_TSS TSS_C, task_df2, STACK_C
    mov dword [TSS_C + 0x1C], PD
    mov eax, PD
    mov cr3, eax
    mov eax, cr4
    or eax, 0x10                        ; PSE
    mov cr4, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    PUTSLN "paging on"
    mov [S + 120], esp
    mov esp, STACK_PAGE + 0x1000
    mov eax, 0x600DF00D
.push:
    push eax
.after_push:
    mov esp, [S + 120]
    PUTSLN "back from the stack-overflow double fault"
    CHECK "df2.tr", [S + 104], SEL_TSS_C
    CHECK "df2.err", [S + 108], 0
    CHECK "df2.cr2", [S + 112], STACK_PAGE + 0x1000 - 4
    CHECK "df2.tss0.saved.esp", [S + 116], STACK_PAGE + 0x1000
    CHECKA "df2.tss0.saved.eip", [S + 124], A(.push)
    CHECK "df2.pushed", [STACK_PAGE + 0x1000 - 4], 0x600DF00D
    EXIT_PASS

task_a:
    pushfd
    pop dword [S + 16]
    mov ecx, eax
    xor eax, eax
    str ax
    mov [S + 0], eax
    mov [S + 4], ecx
    TSS_TYPE SEL_TSS0
    mov [S + 8], eax
    TSS_TYPE SEL_TSS_A
    mov [S + 12], eax
    movzx eax, word [TSS_A]
    mov [S + 20], eax
    mov eax, [TSS0 + 0x20]
    mov [S + 24], eax
    mov eax, [TSS0 + 0x34]
    mov [S + 28], eax
    mov eax, cr0
    and eax, 8
    mov [S + 32], eax
    PUTSLN "task A"
    jmp SEL_TSS0:0

task_b:
    mov ecx, eax
    pushfd
    pop dword [S + 44]
    mov [S + 64], ecx
    xor eax, eax
    str ax
    mov [S + 40], eax
    movzx eax, word [TSS_B]
    mov [S + 48], eax
    TSS_TYPE SEL_TSS0
    mov [S + 52], eax
    TSS_TYPE SEL_TSS_B
    mov [S + 56], eax
    mov eax, SEL_TSS0
    lar eax, eax
    mov [S + 60], eax
    mov dword [TSS0 + 0x44], 0xD1D1D1D1  ; the caller's EDI, reloaded by IRET
    PUTSLN "task B"
    push dword FL_NT | 2
    popfd
    iretd
.after_iret:
    jmp fail_exit

task_df2:
    pop dword [S + 108]
    xor eax, eax
    str ax
    mov [S + 104], eax
    mov eax, cr2
    mov [S + 112], eax
    mov eax, [TSS0 + 0x38]
    mov [S + 116], eax
    mov eax, [TSS0 + 0x20]
    mov [S + 124], eax
    PUTSLN "double-fault task (stack overflow)"
    ; Map the page and restart the PUSH.
    mov dword [PT0 + (STACK_PAGE >> 12) * 4], STACK_PAGE | PG_P | PG_RW
    invlpg [STACK_PAGE]
    iretd

task_df:
    mov [S + 100], esp
    pushfd
    pop dword [S + 92]
    pop dword [S + 84]                   ; the error code
    xor eax, eax
    str ax
    mov [S + 80], eax
    movzx eax, word [TSS_C]
    mov [S + 88], eax
    mov eax, [TSS0 + 0x20]
    mov [S + 96], eax
    PUTSLN "double-fault task"
    ; Repair and resume the faulting task after the faulting instruction.
    or byte [IDT_BASE + 13 * 8 + 5], 0x80
    mov dword [TSS0 + 0x20], A(main.after_df)
    iretd

ROM_END
