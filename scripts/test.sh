#!/usr/bin/env bash
# Rune's whole test suite, as CI runs it (.ci/run calls this script).
#
# 1. Installs the official MCP peers the interop tests drive (Python SDK, TypeScript SDK, MCP
#    Inspector) into a cache outside the repository; a rerun is a no-op.
# 2. Checks formatting and lints.
# 3. Builds every binary (the interop tests start them) and runs every test, in one profile.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*" >&2; }

step "installing the test peers (cached)"
bash scripts/install-test-peers.sh >/dev/null

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo build (binaries the interop tests start)"
cargo build --workspace --bins --locked

step "cargo test"
cargo test --workspace --locked
