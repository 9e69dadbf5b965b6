#!/usr/bin/env bash
# Installs the Debian/Ubuntu packages ironpc's build and tests use:
#   nasm         assembles the system test ROMs, the demo firmware and bios/roms
#   gcc-multilib builds the 32-bit host helper of the conformance sweep
#   cmake        builds Berkeley SoftFloat (the FPU's soft-float engine)
# and checks for what `cargo xtask images` fetches the guest images with
# (apt-get, apt-cache and dpkg-deb, part of every Debian/Ubuntu system; the
# fetch itself needs no root).
#   seabios      the firmware the SeaBIOS boot tests run (/usr/share/seabios)
#   qemu-utils mtools dosfstools syslinux syslinux-common isolinux xorriso
#                build the disk and CD images of `cargo xtask images`
#   qemu-system-x86  the reference machine of the disk tests and benchmarks
# Runs apt-get through sudo when not root; does nothing if all are present.
set -euo pipefail
for tool in apt-get apt-cache dpkg-deb; do
    command -v "$tool" >/dev/null || { echo "setup: $tool is missing: a Debian or Ubuntu host is needed" >&2; exit 1; }
done
packages=(nasm gcc-multilib cmake seabios)
packages+=(qemu-utils) # qemu-img, qemu-io: the block layer's tests make and check images with them
# The window: SDL2 (libsdl2-dev) and, for its tests, an X server, key injection and screenshots.
packages+=(libsdl2-dev xvfb xdotool imagemagick)
packages+=(xorriso)  # builds the El Torito CDs (tests/ide_seabios.rs, cargo xtask images)
packages+=(mtools dosfstools syslinux syslinux-common isolinux xorriso qemu-system-x86)
missing=()
for p in "${packages[@]}"; do
    dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q "install ok installed" || missing+=("$p")
done
[ ${#missing[@]} -eq 0 ] && exit 0
sudo=""
[ "$(id -u)" -eq 0 ] || sudo="sudo"
echo "setup: installing ${missing[*]}"
$sudo apt-get update -qq
DEBIAN_FRONTEND=noninteractive $sudo apt-get install -y -qq "${missing[@]}" >/dev/null
