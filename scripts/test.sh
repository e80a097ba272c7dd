#!/usr/bin/env bash
# Rune's whole test suite, as CI runs it (.ci/run calls this script).
#
# 1. Installs the official MCP peers the interop tests drive (Python SDK, TypeScript SDK, MCP
#    Inspector, the conformance suite), and Claude Code, Gemini CLI and Codex CLI for the
#    end-to-end tests, into caches outside the repository; a rerun is a no-op.
# 2. Checks formatting and lints.
# 3. Builds every binary (the interop tests start them) and runs every test, in one profile.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

step() { printf '\n== %s\n' "$*" >&2; }

step "installing the test peers (cached)"
bash scripts/install-test-peers.sh >/dev/null

step "installing the MCP clients for the end-to-end tests (cached)"
rc=0
bash scripts/install-client-peers.sh >/dev/null || rc=$?
if [ "$rc" = 75 ]; then
  echo "the npm registry cannot be reached: the end-to-end client tests will skip" >&2
elif [ "$rc" != 0 ]; then
  exit "$rc"
fi

step "cargo fmt --check"
cargo fmt --all -- --check

step "cargo clippy"
cargo clippy --workspace --all-targets --locked -- -D warnings

step "cargo build (binaries the interop tests start)"
cargo build --workspace --bins --locked

step "cargo test"
cargo test --workspace --locked
