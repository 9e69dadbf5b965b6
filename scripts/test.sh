#!/usr/bin/env bash
# The test command: sets up what the tests need, then checks formatting,
# lints and runs every test (unit, conformance sample, system ROMs, fuzz
# sample) in release mode.
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
cargo fmt --all --check
cargo clippy --workspace --all-targets --release -- -D warnings
cargo test --workspace --release
