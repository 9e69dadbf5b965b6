; A Linux-shaped kernel for the screen tests (frontend/tests/exit_files.rs,
; tests/window_xvfb.rs): a bzImage setup header (Documentation/arch/x86/
; boot.rst, protocol 2.15) that SeaBIOS boots through fw_cfg and its
; linuxboot option ROM, after its VGA BIOS has set text mode 3 and
; SeaBIOS has printed its banner and "Booting from ROM..." there.
;
; The setup code writes MARKER straight into the text screen at 0xB8000
; (row 20, column 0, yellow on blue), says "marker written" on the debug
; console (port 0xE9) and then
;   * by default powers the machine off as an ACPI OS would: PIIX4 PM
;     (00:01.3) PMBA (config 0x40) holds the PM I/O base the firmware
;     chose; writing SUS_EN (bit 13) with SUS_TYP 0 (soft off, SeaBIOS's
;     \_S5) to PM1 control (base + 4) turns the PC off (82371AB datasheet,
;     7.2.3);
;   * assembled with -DWAIT, sleeps for good with interrupts on, for a
;     test that ends ironpc from outside (a signal, the window).

        bits 16
        org 0
        cpu 686

DEBUGCON        equ 0xE9

        times 0x1F1 - ($ - $$) db 0
setup_sects:    db 2
root_flags:     dw 0
syssize:        dd (kernel_end - kernel_start + 15) / 16
ram_size:       dw 0
vid_mode:       dw 0xFFFF
root_dev:       dw 0
boot_flag:      dw 0xAA55
        jmp short setup_code
header:         db 'HdrS'
version:        dw 0x020F
realmode_swtch: dd 0
start_sys_seg:  dw 0x1000
kernel_version: dw 0
type_of_loader: db 0
loadflags:      db 0x01             ; LOADED_HIGH
setup_move_size: dw 0x8000
code32_start:   dd 0x100000
ramdisk_image:  dd 0
ramdisk_size:   dd 0
bootsect_kludge: dd 0
heap_end_ptr:   dw 0
ext_loader_ver: db 0
ext_loader_type: db 0
cmd_line_ptr:   dd 0
initrd_addr_max: dd 0x7FFFFFFF
kernel_alignment: dd 0x200000
relocatable_kernel: db 0
min_alignment:  db 0
xloadflags:     dw 0
cmdline_size:   dd 2047
hardware_subarch: dd 0
hardware_subarch_data: dq 0
payload_offset: dd 0
payload_length: dd 0
setup_data:     dq 0
pref_address:   dq 0x100000
init_size:      dd 0x10000
handover_offset: dd 0
kernel_info_offset: dd 0

setup_code:
        ; DS is the setup segment: MARKER's offset is its address.
        cld
        mov ax, 0xB800
        mov es, ax
        mov di, 20 * 80 * 2
        mov si, marker
        mov ah, 0x1E                ; yellow on blue
.put:   lodsb
        test al, al
        jz .done
        stosw
        jmp .put
.done:  mov si, written
        mov dx, DEBUGCON
.say:   lodsb
        test al, al
        jz .said
        out dx, al
        jmp .say
.said:
%ifdef WAIT
        sti
.sleep: hlt
        jmp .sleep
%else
        mov dx, 0xCF8
        mov eax, 0x8000_0B40        ; bus 0, device 1, function 3, PMBA
        out dx, eax
        mov dx, 0xCFC
        in eax, dx
        and ax, 0xFFC0
        add ax, 4                   ; PM1 control
        mov dx, ax
        mov ax, 1 << 13             ; SUS_EN, SUS_TYP 0: soft off
        out dx, ax
        cli
.off:   hlt
        jmp .off
%endif

marker:         db 'IRONPC-SCREEN-MARKER on the VGA text screen', 0
written:        db 'marker written', 10, 0

        times 1536 - ($ - $$) db 0
kernel_start:
        times 512 - ($ - kernel_start) db 0xF4
kernel_end:
