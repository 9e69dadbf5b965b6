#!/bin/sh
# Produces the QEMU dumps `qemu_screendumps_match_our_rendering` (vga/tests.rs)
# compares against: for each mode a boot sector (dump.asm) sets the mode
# through SeaVGABIOS (or DISPI through the ports), draws a pattern, reads
# back every VGA register and the DAC into 0x8000 and halts; the QEMU
# monitor then saves those registers, the start of VRAM (BAR0) and a
# screendump, and QEMU traces every port, window and MMIO access the
# firmware and the boot sector made (replayed by
# `qemu_traces_replay_to_the_same_vram`). Usage: run.sh DIR, then
#   VGA_QEMU_DUMPS=DIR cargo test -p ironpc-devices qemu_screendumps -- --ignored
set -e
here=$(cd "$(dirname "$0")" && pwd)
out=${1:?usage: run.sh DIR}
mkdir -p "$out"
dump() { # name, nasm defines...
    name=$1; shift
    nasm "$@" -f bin "$here/dump.asm" -o "$out/m$name.img"
    truncate -s 1474560 "$out/m$name.img"
    python3 - "$out" "$name" <<'PY'
import os, socket, subprocess, sys, time
out, name = sys.argv[1], sys.argv[2]
sock = os.path.join(out, "mon.sock")
if os.path.exists(sock):
    os.unlink(sock)
q = subprocess.Popen(["qemu-system-i386", "-display", "none", "-vga", "std",
                      "-drive", "file=%s/m%s.img,format=raw,if=floppy,snapshot=on" % (out, name),
                      "-monitor", "unix:%s,server,nowait" % sock,
                      "-trace", "memory_region_ops_*", "-D", "%s/trace%s.txt" % (out, name)])
time.sleep(3)
s = socket.socket(socket.AF_UNIX)
s.connect(sock)
for cmd in ['pmemsave 0x8000 1024 "%s/regs%s.bin"' % (out, name),
            'pmemsave 0xfd000000 2097152 "%s/vram%s.bin"' % (out, name),
            'screendump %s/shot%s.ppm' % (out, name)]:
    s.sendall((cmd + "\n").encode())
    time.sleep(0.5)
q.kill()
PY
}
for m in 3 0x12 0x13 0x0D 0x04 0x06; do dump "$m" -DMODE=$m; done
dump X -DMODE=0x13 -DMODEX
for b in 8 16 32; do dump V$b -DMODE=3 -DVBEBPP=$b; done
