#!/usr/bin/env bash
# The C ABI benchmark: N sequential tools/call of `echo` against examples/echo_server over
# stdio, from C through librune (bench/bench_echo.c) and from Rust with rune-client
# (examples/bench_echo.rs), alternated for ROUNDS rounds in one run.
#
#   bash crates/rune-ffi/bench/run.sh [CALLS] [ROUNDS]     (defaults: 20000 calls, 5 rounds)
#
# Builds in release mode; the compiled C program goes to target/release/. Three measures:
# 1. wall time and client CPU per call, the C program and the Rust example alternated;
# 2. the same within one process, blocks of 500 calls alternated (noise falls on both alike);
# 3. client instructions per call under callgrind (when valgrind is installed): runs of 1000
#    and 5000 calls, the difference divided by the difference in calls, so that start-up and
#    the handshake cancel out. Deterministic up to thread scheduling, unlike wall time on a
#    shared machine.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../../.."
calls=${1:-20000}
rounds=${2:-5}

# Two invocations: selecting an example would leave out the library and the server binary.
cargo build --release -p rune-ffi -p echo_server >&2
cargo build --release -p rune-ffi --example bench_echo >&2
cc -O2 -std=c11 -Iinclude crates/rune-ffi/bench/bench_echo.c \
  -Ltarget/release -lrune -Wl,-rpath,"$PWD/target/release" -o target/release/bench_echo_c

server="$PWD/target/release/echo_server"
echo "# separate processes, alternated: the C program, then the Rust example" >&2
for i in $(seq "$rounds"); do
  target/release/bench_echo_c "$server" "$calls"
  target/release/examples/bench_echo "$server" "$calls"
done
echo "# one process, blocks of 500 calls alternated between rune-client and the exported C functions" >&2
for i in $(seq "$rounds"); do
  target/release/examples/bench_echo "$server" "$calls" --interleaved
done

if command -v valgrind >/dev/null; then
  echo "# client instructions per call (callgrind; marginal between 1000 and 5000 calls, warm-up included)" >&2
  ir() { valgrind --tool=callgrind --callgrind-out-file=/dev/null "$@" 2>&1 >/dev/null \
    | sed -n 's/.*Collected : \([0-9]*\).*/\1/p'; }
  for who in c-abi rust; do
    if [ "$who" = c-abi ]; then bin=target/release/bench_echo_c; else bin=target/release/examples/bench_echo; fi
    small=$(ir "$bin" "$server" 1000)
    large=$(ir "$bin" "$server" 5000)
    # each run also makes CALLS/10 warm-up calls: 1100 and 5500 in all
    echo "$who $(( (large - small) / 4400 )) instructions/call"
  done
fi
