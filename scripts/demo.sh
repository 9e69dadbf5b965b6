#!/usr/bin/env bash
# Builds ironpc and boots the demo firmware (demo/hello.asm) on a bare
# machine, showing its debug console. Installs nasm if it is missing.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
cargo build --release --quiet --bin ironpc
mkdir -p target/demo
nasm -f bin -o target/demo/hello.rom demo/hello.asm
status=0
target/release/ironpc --bios target/demo/hello.rom --memory 16M --display none \
    --debugcon stdio --exit-port 0xf4 || status=$?
if [ "$status" -eq 1 ]; then
    echo "demo: the guest reported success (exit status 1 = isa-debug-exit value 0)"
else
    echo "demo: the guest ended with status $status" >&2
    exit 1
fi
