#!/usr/bin/env bash
# Install the third-party servers that rune-providers' peer tests drive (software we did not write):
#   - mock-llm   0.1.29 from npm (named and pinned in the manifest below), an OpenAI-compatible mock server (Chat Completions,
#                streaming, /v1/models, configurable error rules)  -> crates/rune-providers/tests/peer_mock_llm.rs
#
# Everything goes into a cache directory outside the repo:
#   ${RUNE_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rune-peers}/providers
# Pinned by crates/rune-providers/tests/peers/package.json + package-lock.json (installed with npm ci).
#
# Idempotent: a stamp keyed by this script, the manifest and lock, and the node version makes a rerun a
# no-op. --force reinstalls. Concurrent runs are serialised with flock when it is available.
#
# Output: install chatter goes to stderr; stdout carries only KEY=VALUE lines:
#   RUNE_PEERS_NODE=<node binary>  RUNE_MOCK_LLM=<its main script>
set -euo pipefail

force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h | --help) sed -n '2,14p' "$0" | sed 's/^# \{0,1\}//' >&2; exit 0 ;;
    *) echo "usage: $0 [--force]" >&2; exit 64 ;;
  esac
done

log() { echo "install-provider-peers: $*" >&2; }
die() { log "error: $*"; exit 1; }

script_path=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
repo_root=$(cd "$(dirname "$script_path")/.." && pwd)
src=$repo_root/crates/rune-providers/tests/peers
dir=${RUNE_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rune-peers}/providers

for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH"
done
[ -f "$src/package.json" ] && [ -f "$src/package-lock.json" ] || die "missing $src/package.json or package-lock.json"

mkdir -p "$dir"
exec 9>"$dir/.lock"
if command -v flock >/dev/null 2>&1; then flock 9; fi

node_bin=$(command -v node)
key=$(cat "$script_path" "$src/package.json" "$src/package-lock.json" | sha256sum | cut -d' ' -f1)-$("$node_bin" --version)
main=$dir/node_modules/@dwmkerr/mock-llm/dist/main.js

if [ "$force" = 1 ] || [ "$(cat "$dir/.stamp" 2>/dev/null)" != "$key" ] || [ ! -f "$main" ]; then
  log "installing into $dir"
  rm -rf "$dir/node_modules" "$dir/.stamp"
  cp "$src/package.json" "$src/package-lock.json" "$dir/"
  (cd "$dir" && npm ci --no-audit --no-fund --loglevel=error >&2)
  [ -f "$main" ] || die "mock-llm is missing after npm ci"
  echo "$key" >"$dir/.stamp"
fi

echo "RUNE_PEERS_NODE=$node_bin"
echo "RUNE_MOCK_LLM=$main"
