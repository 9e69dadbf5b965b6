#!/usr/bin/env bash
# Boots Debian's i386 Linux kernel with a busybox initramfs to a shell on
# the terminal: installs the build tools, builds ironpc, fetches the guest
# images from Debian's packages into target/images (cargo xtask images; no
# root needed for that), and starts the machine with COM1 on this
# terminal. Type at the shell; `poweroff -f` ends it, as does Ctrl-A x.
# Extra arguments go to ironpc (e.g. --kernel-entry firmware to have
# SeaBIOS load the kernel, --clock virtual).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
cargo build --release --quiet --bin ironpc
cargo xtask images
exec target/release/ironpc --memory 256M --display none \
    --kernel target/images/vmlinuz-686 --initrd target/images/initramfs.cpio.gz \
    --append "console=ttyS0 quiet" "$@"
