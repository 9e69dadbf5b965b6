#!/usr/bin/env bash
# The test command: sets up what the tests need, then checks formatting,
# lints and runs every test (unit, conformance sample, system ROMs, fuzz
# sample) in release mode. The guest images the boot tests use are fetched
# once into target/images (`cargo xtask images` does nothing when they are
# in place).
set -euo pipefail
cd "$(dirname "$0")/.."
scripts/setup-debian.sh
cargo xtask images
cargo fmt --all --check
cargo clippy --workspace --all-targets --release -- -D warnings
# The boot tests run the ironpc binary (frontend/), which `cargo test`
# builds only for the frontend's own tests.
cargo build --release -p ironpc-frontend
cargo test --workspace --release
