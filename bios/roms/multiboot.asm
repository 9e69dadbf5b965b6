; multiboot.bin: the option ROM that starts a multiboot (v1) kernel that
; ironpc has laid out in fw_cfg (--kernel with a multiboot image, booted
; through SeaBIOS).
;
; SeaBIOS deploys every fw_cfg file named "genroms/*" as an option ROM
; (src/optionroms.c): it far-calls the init entry at offset 3 with ES:DI
; at its "$PnP" installation check structure and, because the PnP
; expansion header below has a bootstrap entry vector (BEV), adds the BEV
; to its boot list ("/rom@genroms/multiboot.bin" in the bootorder file
; puts it first). A BIOS without PnP support gets INT 19h hooked instead.
;
; The BEV copies the two pieces ironpc prepared (bios/src/multiboot.rs)
; to their physical addresses with fw_cfg DMA (QEMU docs/specs/fw_cfg.rst,
; "FW_CFG_DMA_ADDRESS"):
;   KERNEL_ADDR 0x07 / KERNEL_SIZE 0x08 / KERNEL_DATA 0x11: the kernel's
;       loaded image (segments and zeroed bss, one span);
;   INITRD_ADDR 0x0A / INITRD_SIZE 0x0B / INITRD_DATA 0x12: the multiboot
;       information structure, its memory map, module list and strings,
;       then the modules; INITRD_ADDR is the structure's address;
;   KERNEL_ENTRY 0x10: the entry point.
; It reads the BIOS's memory map (INT 15h E820, which SeaBIOS has
; amended with its own reservations at the top of RAM) into the
; information structure's mmap buffer, which the loader sizes for at least
; MMAP_MAX entries, as QEMU's own multiboot ROM does.
; It then enters the kernel in the state the Multiboot Specification 0.6.96
; (3.2 "Machine state") requires: 32-bit protected mode, paging off, flat
; 4 GiB code and data segments, A20 on, interrupts off, EAX = 0x2BADB002,
; EBX = the information structure. ESP keeps pointing at the BIOS stack
; (the specification leaves it undefined; a kernel sets its own).
;
; The size byte (offset 2), the PnP header checksum and the ROM checksum
; (last byte) are fixed up by ironpc when it embeds the image, as for
; linuxboot.asm.

        bits 16
        org 0
        cpu 686

%include "optionrom.inc"

KERNEL_ADDR             equ 0x07
KERNEL_SIZE             equ 0x08
INITRD_ADDR             equ 0x0A
INITRD_SIZE             equ 0x0B
KERNEL_ENTRY            equ 0x10
KERNEL_DATA             equ 0x11
INITRD_DATA             equ 0x12

MULTIBOOT_MAGIC         equ 0x2BADB002
CODE_SEL                equ 0x08
DATA_SEL                equ 0x10
PORT_A20                equ 0x92        ; system control port A: bit 1 = A20
SMAP                    equ 0x534D4150  ; 'SMAP', the E820 signature
MMAP_MAX                equ 16          ; = MMAP_MIN_ENTRIES in multiboot.rs
MMAP_ENTRY              equ 24          ; size field + 20-byte E820 entry
MBI_MMAP_LENGTH         equ 44
MBI_MMAP_ADDR           equ 48

        OPTION_ROM_HEADER 'ironpc multiboot loader'

; Flat GDT: null, 4 GiB code (execute/read, 32-bit, 4 KiB granularity),
; 4 GiB data (read/write).
        align 8
gdt:    dq 0
        dq 0x00CF9A000000FFFF
        dq 0x00CF92000000FFFF
gdt_end:

        OPTION_ROM_INIT

; --- bev: copy the image and the information, enter the kernel --------
; Frame on the caller's stack: [bp+0..15] the DMA descriptor (later the
; GDT pseudo-descriptor), [bp+16] the information address, [bp+20] the
; entry point, [bp+24] the number of E820 entries, [bp+28...] the
; entries, each preceded by its size (20) as the mmap wants them.
FRAME                   equ 28 + MMAP_MAX * MMAP_ENTRY
bev:
        cli
        cld
        sub sp, FRAME
        mov bp, sp

        FW_CFG_LOAD KERNEL_ADDR, KERNEL_SIZE, KERNEL_DATA

        mov ax, INITRD_ADDR
        call cfg_u32
        mov [bp + 16], eax
        mov edi, eax
        mov ax, INITRD_SIZE
        call cfg_u32
        mov ecx, eax
        mov ax, INITRD_DATA
        call dma_read

        mov ax, KERNEL_ENTRY
        call cfg_u32
        mov [bp + 20], eax

        call read_e820

        in al, PORT_A20
        or al, 0x02                 ; A20 on
        and al, ~0x01               ; and no reset
        out PORT_A20, al

        ; The GDT's linear address depends on where the BIOS put us.
        xor ebx, ebx
        mov bx, cs
        shl ebx, 4
        mov word [bp], gdt_end - gdt - 1
        lea eax, [ebx + gdt]
        mov [bp + 2], eax
        o32 lgdt [bp]

        mov edi, [bp + 16]          ; information structure
        xor edx, edx                ; the frame, as a flat address
        mov dx, ss
        shl edx, 4
        movzx eax, bp
        add edx, eax

        lea eax, [ebx + pm32]
        push dword CODE_SEL
        push eax
        mov eax, cr0
        or al, 1                    ; PE
        mov cr0, eax
        o32 retf                    ; CS:EIP = CODE_SEL:pm32 (flat)

        bits 32
pm32:
        mov ax, DATA_SEL
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        mov ss, ax
        lea esp, [edx + FRAME]      ; the BIOS stack as it was, flat
        mov ebp, edi
        mov ecx, [edx + 24]         ; E820 entries read (0: keep the loader's map)
        jecxz .enter
        imul ecx, ecx, MMAP_ENTRY
        mov [ebp + MBI_MMAP_LENGTH], ecx
        lea esi, [edx + 28]
        mov edi, [ebp + MBI_MMAP_ADDR]
        rep movsb
.enter:
        mov esi, [edx + 20]         ; entry
        mov eax, MULTIBOOT_MAGIC
        mov ebx, ebp
        jmp esi

        bits 16
; Reads up to MMAP_MAX entries of the BIOS memory map (INT 15h AX=E820h)
; into the frame, counting them in [bp+24].
read_e820:
        mov dword [bp + 24], 0
        push ss
        pop es
        lea di, [bp + 28]
        xor ebx, ebx
.next:  mov dword [ss:di], 20
        add di, 4
        mov eax, 0xE820
        mov edx, SMAP
        mov ecx, 20
        int 0x15
        jc .done
        cmp eax, SMAP
        jne .done
        inc dword [bp + 24]
        add di, 20
        test ebx, ebx
        jz .done
        cmp dword [bp + 24], MMAP_MAX
        jb .next
.done:  ret

        FW_CFG_READERS
