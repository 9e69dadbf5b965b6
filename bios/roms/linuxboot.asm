; linuxboot.bin: the option ROM that boots the Linux kernel ironpc puts in
; fw_cfg (ironpc's --kernel/--initrd/--append through the firmware).
;
; SeaBIOS deploys every fw_cfg file named "genroms/*" as an option ROM
; (src/optionroms.c): it runs the init entry at offset 3 with ES:DI
; pointing to its "$PnP" installation check structure and, because this
; ROM has a PnP expansion header with a bootstrap entry vector (BEV),
; adds that vector to its boot list. The "bootorder" file ironpc provides
; names this ROM first ("/rom@genroms/linuxboot.bin"), so SeaBIOS prints
; "Booting from ROM..." and far-calls the BEV. On a BIOS without PnP
; support the init entry hooks INT 19h instead.
;
; The BEV loads the real-mode setup code, the protected-mode kernel, the
; initrd and the command line with fw_cfg DMA to the addresses ironpc
; chose (items 0x16-0x18, 0x07/0x08/0x11, 0x0A/0x0B/0x12, 0x13-0x15), then
; enters the setup code as Documentation/x86/boot.rst ("Running the
; kernel") prescribes: interrupts off, DS = ES = FS = GS = SS = the setup
; segment, SP at the top of the setup heap, CS = segment + 0x20, IP = 0.
; ironpc has already patched the setup header (loader type, heap end,
; command line pointer, initrd address and size).
;
; ironpc fills in the size byte (offset 2), the PnP header checksum and
; the ROM checksum (the last byte) when it embeds this image.

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
KERNEL_DATA             equ 0x11
INITRD_DATA             equ 0x12
CMDLINE_ADDR            equ 0x13
CMDLINE_SIZE            equ 0x14
CMDLINE_DATA            equ 0x15
SETUP_ADDR              equ 0x16
SETUP_SIZE              equ 0x17
SETUP_DATA              equ 0x18

DMA_CTL_ERROR           equ 0x01
DMA_CTL_READ            equ 0x02
DMA_CTL_SELECT          equ 0x08

HDR_HEAP_END_PTR        equ 0x224   ; setup header: heap_end_ptr

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

product: db 'ironpc Linux loader', 0

; --- init: called far by the BIOS during POST ------------------------
init:
        cmp dword [es:di], '$PnP'
        je .done
        ; Not a PnP BIOS: it boots through INT 19h, so take that over.
        push ds
        push word 0
        pop ds
        mov word [0x19 * 4], bev
        mov word [0x19 * 4 + 2], cs
        pop ds
.done:
        retf

; --- bev: load everything and enter the setup code -------------------
; Frame on the caller's stack: [bp+0..15] the DMA descriptor,
; [bp+16] the setup address.
bev:
        cli
        cld
        sub sp, 20
        mov bp, sp

        mov ax, SETUP_ADDR
        call cfg_u32
        mov [bp + 16], eax
        mov edi, eax
        mov ax, SETUP_SIZE
        call cfg_u32
        mov ecx, eax
        mov ax, SETUP_DATA
        call dma_read

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
        mov edi, eax
        mov ax, INITRD_SIZE
        call cfg_u32
        mov ecx, eax
        mov ax, INITRD_DATA
        call dma_read

        mov ax, CMDLINE_ADDR
        call cfg_u32
        mov edi, eax
        mov ax, CMDLINE_SIZE
        call cfg_u32
        mov ecx, eax
        mov ax, CMDLINE_DATA
        call dma_read

        ; Enter the kernel's real-mode setup code.
        mov eax, [bp + 16]
        shr eax, 4
        mov ds, ax
        mov es, ax
        mov fs, ax
        mov gs, ax
        ; The stack starts just below the heap end (heap_end_ptr + 0x200),
        ; 16 bytes down, where QEMU's loader puts it too.
        mov bx, [HDR_HEAP_END_PTR]
        add bx, 0x200 - 0x10
        mov ss, ax
        mov sp, bx
        add ax, 0x20
        push ax
        push word 0
        retf

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
; the descriptor at SS:BP. Gives up booting (INT 18h) on an error.
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
        xor eax, eax
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
        mov dx, FW_CFG_DMA_LOW
        out dx, eax
.wait:  mov eax, [bp]
        bswap eax
        test eax, ~DMA_CTL_ERROR
        jnz .wait
        test eax, DMA_CTL_ERROR
        jnz .fail
.none:  ret
.fail:  int 0x18
        jmp .fail
