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

FW_CFG_SELECTOR         equ 0x510
FW_CFG_DATA             equ 0x511
FW_CFG_DMA_HIGH         equ 0x514
FW_CFG_DMA_LOW          equ 0x518

KERNEL_ADDR             equ 0x07
KERNEL_SIZE             equ 0x08
INITRD_ADDR             equ 0x0A
INITRD_SIZE             equ 0x0B
KERNEL_ENTRY            equ 0x10
KERNEL_DATA             equ 0x11
INITRD_DATA             equ 0x12

DMA_CTL_ERROR           equ 0x01
DMA_CTL_READ            equ 0x02
DMA_CTL_SELECT          equ 0x08

MULTIBOOT_MAGIC         equ 0x2BADB002
CODE_SEL                equ 0x08
DATA_SEL                equ 0x10
PORT_A20                equ 0x92        ; system control port A: bit 1 = A20
SMAP                    equ 0x534D4150  ; 'SMAP', the E820 signature
MMAP_MAX                equ 16          ; = MMAP_MIN_ENTRIES in multiboot.rs
MMAP_ENTRY              equ 24          ; size field + 20-byte E820 entry
MBI_MMAP_LENGTH         equ 44
MBI_MMAP_ADDR           equ 48

; --- expansion ROM header ---------------------------------------------
        dw 0xAA55
        db 0                        ; size in 512-byte units (set by ironpc)
        jmp init                    ; init entry, offset 3
        times 0x18 - ($ - $$) db 0
        dw 0                        ; no PCI data structure
        dw pnp                      ; PnP expansion header

        align 16
pnp:    db '$PnP'
        db 1                        ; structure revision
        db 2                        ; length in 16-byte units
        dw 0                        ; next header: none
        db 0                        ; reserved
        db 0                        ; checksum (set by ironpc)
        dd 0                        ; device identifier
        dw 0                        ; manufacturer string: none
        dw product                  ; product name string
        db 0, 0, 0                  ; device type code
        db 0                        ; device indicators
        dw 0                        ; boot connection vector: none
        dw 0                        ; disconnect vector
        dw bev                      ; bootstrap entry vector
        dw 0                        ; reserved
        dw 0                        ; static resource information

product: db 'ironpc multiboot loader', 0

; Flat GDT: null, 4 GiB code (execute/read, 32-bit, 4 KiB granularity),
; 4 GiB data (read/write).
        align 8
gdt:    dq 0
        dq 0x00CF9A000000FFFF
        dq 0x00CF92000000FFFF
gdt_end:

; --- init: called far by the BIOS during POST ------------------------
init:
        cmp dword [es:di], '$PnP'
        je .done
        push ds
        push word 0
        pop ds
        mov word [0x19 * 4], bev
        mov word [0x19 * 4 + 2], cs
        pop ds
.done:
        retf

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

        mov ax, KERNEL_ADDR
        call cfg_u32
        mov edi, eax
        mov ax, KERNEL_SIZE
        call cfg_u32
        mov ecx, eax
        mov ax, KERNEL_DATA
        call dma_read

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

; Reads fw_cfg item AX as a little-endian dword into EAX (port interface).
cfg_u32:
        mov dx, FW_CFG_SELECTOR
        out dx, ax
        inc dx
        xor eax, eax
        mov cx, 4
.byte:  in al, dx
        ror eax, 8
        loop .byte
        ret

; Reads ECX bytes of fw_cfg item AX to physical address EDI by DMA, with
; the big-endian descriptor (control, length, address) at SS:BP. Gives up
; booting (INT 18h) if the device reports an error.
dma_read:
        jecxz .none
        movzx eax, ax
        shl eax, 16
        or eax, DMA_CTL_SELECT | DMA_CTL_READ
        bswap eax
        mov [bp], eax
        bswap ecx
        mov [bp + 4], ecx
        mov dword [bp + 8], 0
        bswap edi
        mov [bp + 12], edi
        xor eax, eax                ; descriptor address = SS * 16 + BP
        mov ax, ss
        shl eax, 4
        movzx ebx, bp
        add eax, ebx
        bswap eax
        mov ebx, eax
        xor eax, eax
        mov dx, FW_CFG_DMA_HIGH
        out dx, eax
        mov eax, ebx
        mov dx, FW_CFG_DMA_LOW      ; writing the low half starts the transfer
        out dx, eax
.wait:  mov eax, [bp]
        bswap eax
        test eax, ~DMA_CTL_ERROR    ; the device clears the control word when done
        jnz .wait
        test eax, DMA_CTL_ERROR
        jnz .fail
.none:  ret
.fail:  int 0x18
        jmp .fail
