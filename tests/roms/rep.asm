; String instructions that page-fault part way (SDM vol. 2 "REP": a fault
; leaves ECX, ESI, EDI as they were after the last completed iteration and
; EIP at the REP instruction, so the handler can map the page and IRET to
; restart it; vol. 3A 4.7 for the #PF error code and CR2).
;
; Paging: 0-4 MiB identity 4 KiB pages, the ROM at FFC00000 as a 4 MiB
; page. Pages 302000 (MOVSD destination), 305000 (STOSD, backwards) and
; 208000 (MOVSB source) start not present; the #PF hook maps them back
; identity and resumes.

%include "lib.inc"

S       equ VAR_SCRATCH
PD      equ 0x100000
PT0     equ 0x101000
SRC     equ 0x200000
DST     equ 0x300000
DWORDS  equ 4096                        ; 16 KiB

; Records of the first #PF of each case: count, err, cr2, eip, ecx, esi,
; edi at S + 0 .. S + 24.
%macro PF_RECORD_CHECK 7
  %strcat %%c %1, ".pf.count"
  %strcat %%e %1, ".pf.err"
  %strcat %%a %1, ".pf.cr2"
  %strcat %%i %1, ".pf.eip"
  %strcat %%x %1, ".pf.ecx"
  %strcat %%s %1, ".pf.esi"
  %strcat %%d %1, ".pf.edi"
    CHECK %%c, [S + 0], 1
    CHECK %%e, [S + 4], %2
    CHECK %%a, [S + 8], %3
    CHECKA %%i, [S + 12], A(%4)
    CHECK %%x, [S + 16], %5
    CHECK %%s, [S + 20], %6
    CHECK %%d, [S + 24], %7
%endmacro

[bits 16]
rm_main:
    GO_PM32 main

[bits 32]
main:
    PUTSLN "rep"
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
    mov dword [PD], PT0 | PG_P | PG_RW
    mov dword [PD + 1023 * 4], 0xFFC00000 | PG_PS | PG_P | PG_RW
    ; The source: dword i holds i * 0x01010101 + 0x10203040.
    mov edi, SRC
    mov eax, 0x10203040
    mov ecx, 0x10000 / 4
.fill:
    stosd
    add eax, 0x01010101
    dec ecx
    jnz .fill
    ; Destination pages clean.
    mov edi, DST
    xor eax, eax
    mov ecx, 0x20000 / 4
    rep stosd
    mov dword [PT0 + (DST / 0x1000 + 2) * 4], 0
    mov dword [PT0 + (DST / 0x1000 + 5) * 4], 0
    mov dword [PT0 + (SRC / 0x1000 + 8) * 4], 0
    mov eax, PD
    mov cr3, eax
    mov eax, cr4
    or eax, 0x10                        ; PSE
    mov cr4, eax
    mov eax, cr0
    or eax, 0x80000000
    mov cr0, eax
    mov dword [VAR_EXC_HOOK], A(pf_hook)
    PUTSLN "paging on"

    ; REP MOVSD forwards: faults writing 302000, after 2 pages.
    mov dword [S + 0], 0
    mov esi, SRC
    mov edi, DST
    mov ecx, DWORDS
    cld
.movsd:
    rep movsd
    mov [S + 40], ecx
    mov [S + 44], esi
    mov [S + 48], edi
    PF_RECORD_CHECK "movsd", 2, DST + 0x2000, .movsd, DWORDS - 0x2000 / 4, SRC + 0x2000, DST + 0x2000
    CHECK "movsd.end.ecx", [S + 40], 0
    CHECK "movsd.end.esi", [S + 44], SRC + DWORDS * 4
    CHECK "movsd.end.edi", [S + 48], DST + DWORDS * 4
    mov esi, SRC
    mov edi, DST
    mov ecx, DWORDS
    repe cmpsd
    CHECK "movsd.compare.ecx", ecx, 0
    CHECK "movsd.302000", [DST + 0x2000], (0x10203040 + 0x800 * 0x01010101) & 0xFFFFFFFF
    CHECK "movsd.last", [DST + DWORDS * 4 - 4], (0x10203040 + (DWORDS - 1) * 0x01010101) & 0xFFFFFFFF
    CHECK "movsd.after.end", [DST + DWORDS * 4], 0

    ; REP STOSD backwards (DF = 1) from 306010: five dwords land in page
    ; 306000, the sixth faults at 305FFC.
    mov dword [S + 0], 0
    mov edi, DST + 0x6010
    mov ecx, 16
    mov eax, 0xFEEDC0DE
    std
.stosd:
    rep stosd
    cld
    mov [S + 40], ecx
    mov [S + 48], edi
    PF_RECORD_CHECK "stosd.down", 2, DST + 0x5FFC, .stosd, 11, SRC + DWORDS * 4, DST + 0x5FFC
    CHECK "stosd.down.end.ecx", [S + 40], 0
    CHECK "stosd.down.end.edi", [S + 48], DST + 0x6010 - 16 * 4
    CHECK "stosd.down.first", [DST + 0x6010], 0xFEEDC0DE
    CHECK "stosd.down.last", [DST + 0x6010 - 15 * 4], 0xFEEDC0DE
    CHECK "stosd.down.below", [DST + 0x6010 - 16 * 4], 0

    ; REP MOVSB reading into the absent page 208000: a read fault.
    mov dword [S + 0], 0
    mov esi, SRC + 0x8000 - 0x80
    mov edi, DST + 0x10000
    mov ecx, 0x100
.movsb:
    rep movsb
    mov [S + 40], ecx
    PF_RECORD_CHECK "movsb.src", 0, SRC + 0x8000, .movsb, 0x80, SRC + 0x8000, DST + 0x10080
    CHECK "movsb.end.ecx", [S + 40], 0
    CHECK "movsb.dword.fc", [DST + 0x10000 + 0xFC], (0x10203040 + 0x201F * 0x01010101) & 0xFFFFFFFF
    EXIT_PASS

; #PF hook: record the first fault, map the page at CR2 back (identity,
; RW) and restart the instruction.
pf_hook:
    cmp dword [ebp], 14
    jne .bad
    inc dword [S + 0]
    cmp dword [S + 0], 1
    jne .map
    mov eax, [ebp + 4]
    mov [S + 4], eax
    mov eax, cr2
    mov [S + 8], eax
    mov eax, [ebp + 8]
    mov [S + 12], eax
    mov eax, [ebp - 8]                  ; ECX
    mov [S + 16], eax
    mov eax, [ebp - 28]                 ; ESI
    mov [S + 20], eax
    mov eax, [ebp - 32]                 ; EDI
    mov [S + 24], eax
.map:
    mov eax, cr2
    and eax, 0xFFFFF000
    mov ebx, eax
    shr ebx, 12
    or eax, PG_P | PG_RW
    mov [PT0 + ebx * 4], eax
    mov eax, cr2
    invlpg [eax]
    ret
.bad:
    PUTS "unexpected vector "
    HEX32 [ebp]
    NEWLINE
    jmp fail_exit

ROM_END
