; A Linux-shaped kernel for tests/fw_cfg_boot.rs: a bzImage with a valid
; setup header (Documentation/arch/x86/boot.rst, protocol 2.15) and two
; setup sectors, followed by a small "protected-mode kernel".
;
; The loader enters the setup code at CS = setup segment + 0x20, IP = 0,
; with DS = ES = SS = the setup segment. This code reports on the debug
; console (0x402) what a real kernel's setup code would rely on: the
; header fields the loader patched (type_of_loader, loadflags, heap end,
; cmd_line_ptr, ramdisk_image/size), the stack, the command line text, and
; the first 16 bytes of the protected-mode kernel at 1 MiB and of the
; initrd, copied below 1 MiB with the BIOS's INT 15h AH=87h. Then it exits
; through isa-debug-exit (0xF4) with status 0.

        bits 16
        org 0
        cpu 686

DEBUGCON        equ 0x402
EXIT_PORT       equ 0xF4

%include "bzimage_header.inc"

setup_code:
        mov bp, sp                  ; the stack the loader gave
        mov dx, DEBUGCON
        mov si, msg_loader
        call print
        mov al, [type_of_loader]
        call hex8
        mov si, msg_flags
        call print
        mov al, [loadflags]
        call hex8
        mov si, msg_heap
        call print
        mov ax, [heap_end_ptr]
        call hex16
        mov si, msg_sp
        call print
        mov ax, bp
        call hex16
        mov si, msg_ss
        call print
        mov ax, ss
        mov bx, ds
        mov si, msg_yes
        cmp ax, bx
        je .ss_ok
        mov si, msg_no
.ss_ok: call print

        ; The command line, through ES.
        mov si, msg_cmdline
        call print
        mov eax, [cmd_line_ptr]
        mov bx, ax
        and bx, 15
        shr eax, 4
        mov es, ax
.cmd:   mov al, [es:bx]
        test al, al
        jz .cmd_done
        out dx, al
        inc bx
        jmp .cmd
.cmd_done:
        push ds
        pop es

        mov si, msg_initrd
        call print
        mov eax, [ramdisk_image]
        call hex32
        mov si, msg_size
        call print
        mov eax, [ramdisk_size]
        call hex32

        ; The kernel's first bytes at 1 MiB, then the initrd's.
        mov si, msg_kernel
        call print
        mov eax, 0x100000
        call show_high
        mov si, msg_initrd_bytes
        call print
        mov eax, [ramdisk_image]
        call show_high
        mov al, 10
        out dx, al

        mov al, 0
        out EXIT_PORT, al
        cli
        hlt

; Copies 16 bytes from physical EAX to `buffer` with INT 15h AH=87h and
; prints them.
show_high:
        push dx
        mov [gdt_src + 2], ax       ; base 15..0
        shr eax, 16
        mov [gdt_src + 4], al       ; base 23..16
        mov [gdt_src + 7], ah       ; base 31..24
        xor eax, eax
        mov ax, ds
        shl eax, 4
        add eax, buffer
        mov [gdt_dst + 2], ax
        shr eax, 16
        mov [gdt_dst + 4], al
        mov [gdt_dst + 7], ah
        mov si, gdt
        mov cx, 8                   ; words
        mov ah, 0x87
        int 0x15
        pop dx
        jc .fail
        mov si, buffer
        mov cx, 16
.out:   lodsb
        out dx, al
        loop .out
        ret
.fail:  mov si, msg_fail
        jmp print

; Prints the NUL-terminated string at DS:SI to port DX.
print:  lodsb
        test al, al
        jz .done
        out dx, al
        jmp print
.done:  ret

hex32:  push eax
        shr eax, 16
        call hex16
        pop eax
hex16:  push ax
        mov al, ah
        call hex8
        pop ax
hex8:   push ax
        shr al, 4
        call .nibble
        pop ax
.nibble: and al, 15
        add al, '0'
        cmp al, '9'
        jbe .put
        add al, 'A' - '9' - 1
.put:   out dx, al
        ret

msg_loader:     db 'fakelinux: loader=', 0
msg_flags:      db ' loadflags=', 0
msg_heap:       db ' heap_end_ptr=', 0
msg_sp:         db ' sp=', 0
msg_ss:         db ' ss=ds:', 0
msg_yes:        db 'yes', 10, 0
msg_no:         db 'no', 10, 0
msg_cmdline:    db 'fakelinux: cmdline=', 0
msg_initrd:     db 10, 'fakelinux: ramdisk_image=', 0
msg_size:       db ' ramdisk_size=', 0
msg_kernel:     db 10, 'fakelinux: kernel=', 0
msg_initrd_bytes: db ' initrd=', 0
msg_fail:       db '(int 15h 87h failed)', 0

        align 8
; INT 15h AH=87h descriptor table: two null entries, source, destination,
; two entries the BIOS fills in.
gdt:            times 16 db 0
gdt_src:        dw 0xFFFF, 0
                db 0, 0x93, 0, 0
gdt_dst:        dw 0xFFFF, 0
                db 0, 0x93, 0, 0
                times 16 db 0
buffer:         times 16 db 0

        times 1536 - ($ - $$) db 0
; The protected-mode kernel.
kernel_start:
        db 'KERNEL-PM-CODE!!'
        times 512 - ($ - kernel_start) db 0xF4
kernel_end:
