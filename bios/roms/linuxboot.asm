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

%include "optionrom.inc"

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

HDR_HEAP_END_PTR        equ 0x224   ; setup header: heap_end_ptr

        OPTION_ROM_HEADER 'ironpc Linux loader'

        OPTION_ROM_INIT

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

        FW_CFG_LOAD KERNEL_ADDR, KERNEL_SIZE, KERNEL_DATA

        FW_CFG_LOAD INITRD_ADDR, INITRD_SIZE, INITRD_DATA

        FW_CFG_LOAD CMDLINE_ADDR, CMDLINE_SIZE, CMDLINE_DATA

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

        FW_CFG_READERS
