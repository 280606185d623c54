#!/usr/bin/env bash
# One counted window of a server under callgrind, with V8's code named: the server runs uninstrumented for WARM units
# of work, then N more are counted (threads apart); the dumps and node's --perf-basic-prof map are kept in OUT/keep,
# and OUT/keep/named.out is the main thread's dump with each JIT address named from the map (perf-map-names.mjs), for
# `callgrind_annotate --inclusive=yes OUT/keep/named.out` (divide by N for per unit).
#   bench/tools/count-named.sh SERVER OUT WARM N LOADGEN-ARGS...   (from the repository root, after tsc)
#   e.g.  count-named.sh ws-stream-net /tmp/n 8000 3000 handshake 50 1800
# SERVER as for count.sh; SCRIPT="PATH ARGS" runs that script instead (another build's server, side by side).
set -euo pipefail
server=$1 out=$2 warm=$3 n=$4; shift 4
mode=$1; shift
mkdir -p "$out/keep"
source "$(dirname "$0")/server-script.sh"
# shellcheck disable=SC2206 # SCRIPT is a path and its arguments
[ -n "${SCRIPT:-}" ] && script=($SCRIPT)
rm -f "$out"/callgrind.out.* "$out"/keep/*
valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes --callgrind-out-file="$out/callgrind.out.%p" \
  node --perf-basic-prof --import ./dist/bench/servers/exit-on-signal.js "${script[@]}" >"$out/server.log" 2>"$out/valgrind.log" &
pid=$!
for _ in $(seq 6000); do grep -qE '[0-9]+/?\s*$' "$out/server.log" 2>/dev/null && break; sleep 0.1; done
port=$(grep -oE '[0-9]+/?\s*$' "$out/server.log" | head -1 | tr -d '/ ')
LOADGEN_MSGS=$warm dist/bench/loadgen "$mode" 127.0.0.1 "$port" "$@" >"$out/loadgen-warm.txt"
callgrind_control -i on $pid >/dev/null
callgrind_control -z $pid >/dev/null
LOADGEN_MSGS=$n dist/bench/loadgen "$mode" 127.0.0.1 "$port" "$@" >"$out/loadgen-n.txt"
callgrind_control -d $pid >/dev/null
sleep 1
cp "$out"/callgrind.out.* "$out/keep/"
cp "/tmp/perf-$pid.map" "$out/keep/perf.map"
kill -TERM $pid; wait $pid || true
m=$(grep -oE 'msgs=[0-9]+' "$out/loadgen-n.txt" | cut -d= -f2)
main=$(cat "$out"/keep/callgrind.out.*-01 | grep -h '^summary:' | awk '{s+=$2} END {printf "%.0f", s}')
all=$(cat "$out"/keep/callgrind.out.* | grep -h '^summary:' | awk '{s+=$2} END {printf "%.0f", s}')
node "$(dirname "$0")/perf-map-names.mjs" "$(ls "$out"/keep/callgrind.out.*-01)" "$out/keep/perf.map" >"$out/keep/named.out"
gc=$(callgrind_annotate --inclusive=yes --threshold=100 "$out/keep/named.out" 2>/dev/null |
  awk '/Heap::CollectGarbage\(/ && !g {gsub(",", "", $1); g = $1} END {print g + 0}')
echo "$server n=$m main/unit=$((main / m)) without-GC=$(((main - ${gc:-0}) / m)) all/unit=$((all / m))"
