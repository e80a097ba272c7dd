#!/usr/bin/env bash
# Install the official MCP reference servers that Rune's client is tested against (software we did not
# write), pinned by tests/client-peers/npm/package.json + package-lock.json (installed with npm ci):
#   - @modelcontextprotocol/server-everything   every feature of the protocol (tools, resources, templates,
#                                                prompts, completion, sampling, elicitation, progress, logs)
#   - @modelcontextprotocol/server-filesystem   file tools confined to the directories it is given
#
# Everything goes into a cache directory outside the repo:
#   ${RUNE_REFSERVERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rune-reference-servers}
#
# Idempotent: a stamp keyed by this script, the npm manifest/lock, the node version and the machine
# architecture makes a rerun a no-op. --force reinstalls. Concurrent runs are serialised with flock when
# it is available.
#
# Output: install chatter goes to stderr; stdout carries only KEY=VALUE lines, so callers can do
#   eval "$(scripts/install-reference-servers.sh)"
# RUNE_REFSERVERS_NODE is the node binary; RUNE_REFSERVERS_EVERYTHING and RUNE_REFSERVERS_FILESYSTEM are the
# servers' entry scripts (run as: node SCRIPT [args]).
set -euo pipefail

usage() {
  sed -n '2,18p' "$0" | sed 's/^# \{0,1\}//' >&2
  echo "usage: $0 [--force]" >&2
}

force=0
for arg in "$@"; do
  case "$arg" in
    --force) force=1 ;;
    -h | --help) usage; exit 0 ;;
    *) usage; exit 64 ;;
  esac
done

log() { echo "install-reference-servers: $*" >&2; }
die() { log "error: $*"; exit 1; }

script_path=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
repo_root=$(cd "$(dirname "$script_path")/.." && pwd)
npm_src=$repo_root/tests/client-peers/npm
dir=${RUNE_REFSERVERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rune-reference-servers}

for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH"
done
[ -f "$npm_src/package.json" ] && [ -f "$npm_src/package-lock.json" ] ||
  die "missing tests/client-peers/npm/package.json or package-lock.json"

node_bin=$(command -v node)
node_version=$(node -p 'process.versions.node')
modules=$dir/npm/node_modules
everything=$modules/@modelcontextprotocol/server-everything/dist/index.js
filesystem=$modules/@modelcontextprotocol/server-filesystem/dist/index.js

print_env() {
  echo "RUNE_REFSERVERS_DIR=$dir"
  echo "RUNE_REFSERVERS_NODE=$node_bin"
  echo "RUNE_REFSERVERS_EVERYTHING=$everything"
  echo "RUNE_REFSERVERS_FILESYSTEM=$filesystem"
}

stamp_key=$(
  {
    echo "node=$node_version arch=$(uname -m)"
    cat "$script_path" "$npm_src/package.json" "$npm_src/package-lock.json"
  } | sha256sum | cut -d' ' -f1
)

mkdir -p "$dir"
if command -v flock >/dev/null 2>&1; then
  exec 9>"$dir/.lock"
  flock -w 900 9 || die "timed out waiting for another install in $dir"
fi

installed() {
  [ -f "$dir/stamp" ] && [ "$(cat "$dir/stamp")" = "$stamp_key" ] &&
    [ -f "$everything" ] && [ -f "$filesystem" ]
}

if [ "$force" = 0 ] && installed; then
  print_env
  exit 0
fi

log "installing the MCP reference servers into $dir"
rm -f "$dir/stamp"
mkdir -p "$dir/npm"
cp "$npm_src/package.json" "$npm_src/package-lock.json" "$dir/npm/"
(cd "$dir/npm" && npm ci --ignore-scripts --no-audit --no-fund --engine-strict=false --loglevel=error >&2)

[ -f "$everything" ] || die "server-everything has no dist/index.js"
[ -f "$filesystem" ] || die "server-filesystem has no dist/index.js"
# Smoke check: both entry scripts parse under this node.
node --check "$everything" >&2 || die "server-everything does not load under node $node_version"
node --check "$filesystem" >&2 || die "server-filesystem does not load under node $node_version"

echo "$stamp_key" >"$dir/stamp"
log "done"
print_env
