#!/usr/bin/env bash
# Install the tools the search benchmark compares Rune with (software we did not write):
#   - ripgrep (`rg`), from Debian's `ripgrep` package.
#
# Idempotent: when `rg` is already on PATH nothing is done. Needs root (or sudo) only when it
# has to install. Install chatter goes to stderr; stdout carries only `RG=<path>`, so callers
# can do
#   eval "$(scripts/install-bench-tools.sh)"
set -euo pipefail

if ! command -v rg >/dev/null 2>&1; then
  if ! command -v apt-get >/dev/null 2>&1; then
    echo "rg is missing and apt-get is not available: install ripgrep by hand" >&2
    exit 1
  fi
  SUDO=""
  if [ "$(id -u)" -ne 0 ]; then
    SUDO="sudo"
  fi
  echo "installing ripgrep with apt-get" >&2
  # Refresh the package lists only when the package is unknown to apt.
  if ! apt-cache show ripgrep >/dev/null 2>&1; then
    $SUDO apt-get update >&2
  fi
  DEBIAN_FRONTEND=noninteractive $SUDO apt-get install -y ripgrep >&2
fi

echo "RG=$(command -v rg)"
rg --version | head -n 1 >&2
