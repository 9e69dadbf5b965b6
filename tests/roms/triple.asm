; Triple fault (SDM vol. 3A 6.15, vector 8 "Double Fault Exception": a
; fault while delivering #DF shuts the processor down). With an IDT limit
; of 0, INT3 raises #GP (vector beyond the limit), the #GP cannot be
; delivered either (#GP -> #DF), nor can the #DF: shutdown. On a PC the
; chipset turns shutdown into a reset; ironpc stops with
; Exit::TripleFault, QEMU with -no-reboot exits with status 0.

%include "lib.inc"

[bits 16]
rm_main:
    GO_PM32 main

[bits 32]
main:
    PUTSLN "triple fault next"
    mov word [IDTR], 0
    lidt [IDTR]
    int3
    PUTSLN "FAIL still running"
    EXIT_FAIL

ROM_END
