; A soft reset through port 0x92 (PS/2 system control port A, bit 0): the
; CPU starts again at the reset vector while RAM keeps its contents, so
; the second boot finds the mark the first one left.

%include "lib.inc"

MARK    equ 0x600

[bits 16]
rm_main:
    cmp word [MARK], 0x1234
    je .second
    mov word [MARK], 0x1234
    PUTSLN "first boot"
    in al, 0x92
    or al, 1
    out 0x92, al
    PUTSLN "FAIL: still running after the reset pulse"
    EXIT_FAIL
.second:
    PUTSLN "second boot"
    EXIT_PASS

    ROM_END
