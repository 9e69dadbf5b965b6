; 32-bit paging (SDM vol. 3A ch. 4): 4 KiB pages and 4 MiB pages (PSE,
; 4.3), accessed and dirty flags (4.8: A set in every entry a walk uses, D
; only in the entry that maps the page and only on a write), #PF error
; codes and CR2 (4.7, 6.15 vector 14), CR0.WP (4.6), reserved bits of a
; 4 MiB PDE (bit 21), INVLPG and CR3 reloads (4.10.4), global pages with
; CR4.PGE (4.10.2.4).
;
; Linear map:
;   00000000-003FFFFF  PT0, identity, 4 KiB pages, user RW
;   00400000-007FFFFF  PT1, test pages (below)
;   00800000-00BFFFFF  4 MiB page -> physical 00400000 (so physical P is
;                      visible at P + 00400000)
;   00C00000-00FFFFFF  4 MiB page with reserved bit 21 set
;   FFC00000-FFFFFFFF  4 MiB page, identity (the ROM)
; PT1: 0 -> 500000 URW, 1 -> 501000 URW, 2 not present, 3 -> 503000 user
; read-only, 4 -> 504000 supervisor RW, 5 -> 505000 URW, 6 -> 505000 URW
; global.

%include "lib.inc"

PD      equ 0x100000
PT0     equ 0x101000
PT1     equ 0x103000
PT2     equ 0x108000
PT3     equ 0x109000
CR4_PSE equ 0x10
CR4_PGE equ 0x80
CR4_PAE equ 0x20
PDPT    equ 0x104000
PAE_PD0 equ 0x105000
PAE_PD3 equ 0x106000
PAE_PT  equ 0x107000
CR0_WP  equ 0x10000
CR0_PG  equ 0x80000000

; PF_CHECK "name", err, cr2: the last exception was #PF with this error
; code and CR2.
%macro PF_CHECK 3
  %strcat %%v %1, ".vec"
  %strcat %%e %1, ".err"
  %strcat %%c %1, ".cr2"
    CHECK %%v, [VAR_EXC_VEC], 14
  %if (%2) & 8
    ; QEMU 7.2 leaves P clear on reserved-bit faults; the SDM (4.7) says
    ; RSVD can be set only together with P.
    CHECKQ %%e, [VAR_EXC_ERR], %2, (%2) & ~1
  %else
    CHECK %%e, [VAR_EXC_ERR], %2
  %endif
    CHECK %%c, [VAR_EXC_CR2], %3
%endmacro

[bits 16]
rm_main:
    GO_PM32 main

[bits 32]
main:
    PUTSLN "paging"
    ; Tables, built with paging off.
    mov edi, PD
    xor eax, eax
    mov ecx, 0xA000 / 4
    rep stosd
    mov edi, PT0
    mov eax, PG_P | PG_RW | PG_US
.pt0:
    stosd
    add eax, 0x1000
    cmp edi, PT0 + 0x1000
    jne .pt0
    mov dword [PD + 0 * 4], PT0 | PG_P | PG_RW | PG_US
    mov dword [PD + 1 * 4], PT1 | PG_P | PG_RW | PG_US
    mov dword [PD + 2 * 4], 0x400000 | PG_PS | PG_P | PG_RW | PG_US
    mov dword [PD + 3 * 4], 0xC00000 | (1 << 21) | PG_PS | PG_P | PG_RW | PG_US
    mov dword [PD + 1023 * 4], 0xFFC00000 | PG_PS | PG_P | PG_RW | PG_US
    ; PDE 4 (01000000-013FFFFF): read-only user directory entry over a
    ; writable PTE; PDE 5: supervisor directory entry over a user PTE.
    mov dword [PD + 4 * 4], PT2 | PG_P | PG_US
    mov dword [PD + 5 * 4], PT3 | PG_P | PG_RW
    mov dword [PT2], 0x510000 | PG_P | PG_RW | PG_US
    mov dword [PT3], 0x511000 | PG_P | PG_RW | PG_US
    mov dword [PT1 + 0 * 4], 0x500000 | PG_P | PG_RW | PG_US
    mov dword [PT1 + 1 * 4], 0x501000 | PG_P | PG_RW | PG_US
    mov dword [PT1 + 3 * 4], 0x503000 | PG_P | PG_US
    mov dword [PT1 + 4 * 4], 0x504000 | PG_P | PG_RW
    mov dword [PT1 + 5 * 4], 0x505000 | PG_P | PG_RW | PG_US
    mov dword [PT1 + 6 * 4], 0x505000 | PG_P | PG_RW | PG_US | PG_G
    mov dword [0x510000], 0
    mov dword [0x505000], 0xAAAA5555
    mov dword [0x506000], 0xBBBB6666

    mov eax, PD
    mov cr3, eax
    mov eax, cr4
    or eax, CR4_PSE
    mov cr4, eax
    mov eax, cr0
    or eax, CR0_PG
    mov cr0, eax
    PUTSLN "paging on"
    mov eax, cr0
    and eax, CR0_PG | CR0_WP | 1
    CHECK "cr0.pg.wp.pe", eax, CR0_PG | 1

    ; Only the entries walked so far are accessed: PDE 0 (stack, tables,
    ; variables) and PDE 1023 (code); PDE 1 and 2 untouched.
    CHECK "pde0.walked", [PD + 0 * 4], PT0 | PG_P | PG_RW | PG_US | PG_A
    CHECK "pde1.unwalked", [PD + 1 * 4], PT1 | PG_P | PG_RW | PG_US
    CHECK "pde2.unwalked", [PD + 2 * 4], 0x400000 | PG_PS | PG_P | PG_RW | PG_US
    CHECK "pde1023.fetched", [PD + 1023 * 4], 0xFFC00000 | PG_PS | PG_P | PG_RW | PG_US | PG_A

    ; A 4 KiB page: a read sets A in the PDE and the PTE; a write sets D
    ; in the PTE only (a PDE that points to a table has no D).
    mov eax, [0x400000]
    CHECK "pte0.after.read", [PT1 + 0 * 4], 0x500000 | PG_P | PG_RW | PG_US | PG_A
    CHECK "pde1.after.read", [PD + 1 * 4], PT1 | PG_P | PG_RW | PG_US | PG_A
    CHECK "pte1.unwalked", [PT1 + 1 * 4], 0x501000 | PG_P | PG_RW | PG_US
    mov dword [0x400000], 0x12345678
    CHECK "pte0.after.write", [PT1 + 0 * 4], 0x500000 | PG_P | PG_RW | PG_US | PG_A | PG_D
    CHECK "pde1.after.write", [PD + 1 * 4], PT1 | PG_P | PG_RW | PG_US | PG_A

    ; A 4 MiB page: A and D in the PDE itself. 900000 maps physical
    ; 500000, the frame behind linear 400000.
    mov eax, [0x900000]
    CHECK "alias.900000", eax, 0x12345678
    CHECK "pde2.after.read", [PD + 2 * 4], 0x400000 | PG_PS | PG_P | PG_RW | PG_US | PG_A
    mov dword [0x900004], 1
    CHECK "pde2.after.write", [PD + 2 * 4], 0x400000 | PG_PS | PG_P | PG_RW | PG_US | PG_A | PG_D

    ; #PF, not present: P = 0; W/R from the access; U/S = 0 at CPL 0.
    EXPECT_FAULT .np_read_done
.np_read:
    mov eax, [0x402abc]
.np_read_done:
    PF_CHECK "pf.np.read", 0, 0x402abc
    CHECKA "pf.np.read.eip", [VAR_EXC_EIP], A(.np_read)
    EXPECT_FAULT .np_write_done
    mov dword [0x402ffc], 0
.np_write_done:
    PF_CHECK "pf.np.write", 2, 0x402ffc
    ; A dword across into the absent page: CR2 is the first byte there.
    EXPECT_FAULT .split_done
    mov eax, [0x401ffe]
.split_done:
    PF_CHECK "pf.split", 0, 0x402000

    ; An instruction fetch from an absent page: the fault's EIP and CR2
    ; are the target (no I/D bit without PAE + NXE).
    EXPECT_FAULT .fetch_done
    mov eax, 0x402010
    jmp eax
.fetch_done:
    PF_CHECK "pf.np.fetch", 0, 0x402010
    CHECK "pf.np.fetch.eip", [VAR_EXC_EIP], 0x402010

    ; Supervisor write to a read-only page: allowed while CR0.WP = 0 (and
    ; it sets A and D), #PF with P|W once WP = 1.
    mov dword [VAR_EXC_COUNT], 0
    mov dword [0x403000], 0x77
    CHECK "wp0.write.faults", [VAR_EXC_COUNT], 0
    CHECK "wp0.pte3", [PT1 + 3 * 4], 0x503000 | PG_P | PG_US | PG_A | PG_D
    mov eax, cr0
    or eax, CR0_WP
    mov cr0, eax
    EXPECT_FAULT .wp1_done
    mov dword [0x403004], 0x88
.wp1_done:
    PF_CHECK "pf.wp1.write", 3, 0x403004
    CHECK "wp1.not.written", [0x903004], 0

    ; Reserved bit 21 of a 4 MiB PDE: P|RSVD, plus W/U from the access.
    EXPECT_FAULT .rsvd_done
    mov eax, [0xC00010]
.rsvd_done:
    PF_CHECK "pf.rsvd.read", 9, 0xC00010

    ; The same from CPL 3.
    RUN_RING3 user
    PUTSLN "back in ring 0"

    ; INVLPG: PTE 5 now points at 506000; after INVLPG the new frame is
    ; seen. A CR3 reload flushes non-global entries.
    CHECK "tlb.pte5.old", [0x405000], 0xAAAA5555
    mov dword [PT1 + 5 * 4], 0x506000 | PG_P | PG_RW | PG_US
    invlpg [0x405000]
    CHECK "tlb.pte5.invlpg", [0x405000], 0xBBBB6666
    mov dword [PT1 + 5 * 4], 0x505000 | PG_P | PG_RW | PG_US
    mov eax, cr3
    mov cr3, eax
    CHECK "tlb.pte5.cr3", [0x405000], 0xAAAA5555

    ; Global pages: with CR4.PGE, a G entry survives a CR3 reload; INVLPG
    ; or clearing CR4.PGE drops it.
    mov eax, cr4
    or eax, CR4_PGE
    mov cr4, eax
    CHECK "global.pte6", [0x406000], 0xAAAA5555
    mov dword [PT1 + 6 * 4], 0x506000 | PG_P | PG_RW | PG_US | PG_G
    mov eax, cr3
    mov cr3, eax
    ; QEMU's TCG flushes its whole TLB on a CR3 write (allowed: a TLB
    ; may drop any entry); ironpc's keeps global entries, as hardware does.
    CHECKQ "global.after.cr3", [0x406000], 0xAAAA5555, 0xBBBB6666
    invlpg [0x406000]
    CHECK "global.after.invlpg", [0x406000], 0xBBBB6666
    mov dword [PT1 + 6 * 4], 0x505000 | PG_P | PG_RW | PG_US | PG_G
    mov eax, cr3
    mov cr3, eax
    CHECKQ "global.stale.again", [0x406000], 0xBBBB6666, 0xAAAA5555
    mov eax, cr4
    and eax, ~CR4_PGE
    mov cr4, eax
    CHECK "global.after.pge.off", [0x406000], 0xAAAA5555

    ; Paging off again: linear = physical.
    mov eax, cr0
    and eax, ~CR0_PG
    mov cr0, eax
    CHECK "off.500000", [0x500000], 0x12345678
    CHECK "off.503000", [0x503000], 0x77

    ; PAE paging (4.4): 64-bit entries; with EFER.NXE = 0 bit 63 (XD) is
    ; reserved, bits 51:MAXPHYADDR always are, and bits 20:13 of a 2 MiB
    ; PDE.
    mov edi, PDPT
    xor eax, eax
    mov ecx, 0x4000 / 4
    rep stosd
    mov dword [PDPT + 0 * 8], PAE_PD0 | PG_P
    mov dword [PDPT + 3 * 8], PAE_PD3 | PG_P
    mov dword [PAE_PD0 + 0 * 8], 0 | PG_PS | PG_P | PG_RW
    mov dword [PAE_PD0 + 2 * 8], PAE_PT | PG_P | PG_RW
    mov dword [PAE_PD0 + 3 * 8], 0x600000 | (1 << 13) | PG_PS | PG_P | PG_RW
    mov dword [PAE_PD3 + 511 * 8], 0xFFE00000 | PG_PS | PG_P | PG_RW
    mov dword [PAE_PT + 0 * 8], 0x500000 | PG_P | PG_RW
    mov dword [PAE_PT + 1 * 8], 0x501000 | PG_P | PG_RW
    mov dword [PAE_PT + 1 * 8 + 4], 0x80000000
    mov dword [PAE_PT + 2 * 8], 0x502000 | PG_P | PG_RW
    mov dword [PAE_PT + 2 * 8 + 4], 0x00100000
    mov eax, PDPT
    mov cr3, eax
    mov eax, cr4
    or eax, CR4_PAE
    mov cr4, eax
    mov eax, cr0
    or eax, CR0_PG
    mov cr0, eax
    PUTSLN "pae on"
    CHECK "pae.read.400000", [0x400000], 0x12345678
    CHECK "pae.pte0.after.read", [PAE_PT], 0x500000 | PG_P | PG_RW | PG_A
    CHECK "pae.pde2.after.read", [PAE_PD0 + 2 * 8], PAE_PT | PG_P | PG_RW | PG_A
    mov dword [0x400004], 5
    CHECK "pae.pte0.after.write", [PAE_PT], 0x500000 | PG_P | PG_RW | PG_A | PG_D
    CHECK "pae.pte0.high", [PAE_PT + 4], 0
    EXPECT_FAULT .xd_done
    mov eax, [0x401000]
.xd_done:
    PF_CHECK "pf.pae.xd.rsvd", 9, 0x401000
    EXPECT_FAULT .b52_done
    mov dword [0x402000], 1
.b52_done:
    PF_CHECK "pf.pae.bit52.rsvd", 11, 0x402000
    EXPECT_FAULT .pde_done
    mov eax, [0x600000]
.pde_done:
    PF_CHECK "pf.pae.pde.bit13", 9, 0x600000
    mov eax, cr0
    and eax, ~CR0_PG
    mov cr0, eax
    EXIT_PASS

user:
    PUTSLN "ring 3"
    CHECK "user.read.ro", [0x403000], 0x77
    EXPECT_FAULT .ro_done
    mov dword [0x403008], 1
.ro_done:
    PF_CHECK "pf.user.write.ro", 7, 0x403008
    EXPECT_FAULT .sup_done
    mov eax, [0x404010]
.sup_done:
    PF_CHECK "pf.user.read.sup", 5, 0x404010
    EXPECT_FAULT .np_done
    mov dword [0x402100], 1
.np_done:
    PF_CHECK "pf.user.write.np", 6, 0x402100
    EXPECT_FAULT .rsvd_done
    mov dword [0xC00020], 1
.rsvd_done:
    PF_CHECK "pf.user.write.rsvd", 15, 0xC00020
    ; Rights combine across levels (4.6): a read-only PDE makes the page
    ; read-only, a supervisor PDE makes it supervisor-only.
    CHECK "user.read.pde.ro", [0x1000000], 0
    EXPECT_FAULT .pde_ro_done
    mov dword [0x1000000], 1
.pde_ro_done:
    PF_CHECK "pf.user.write.pde.ro", 7, 0x1000000
    EXPECT_FAULT .pde_sup_done
    mov eax, [0x1400000]
.pde_sup_done:
    PF_CHECK "pf.user.read.pde.sup", 5, 0x1400000
    xor eax, eax
    mov ax, cs
    CHECK "user.cs", eax, SEL_CODE3
    RET_RING0

ROM_END
