#!/usr/bin/env bash
# Instructions (user space) a server executes for a fixed amount of work, counted by valgrind's
# callgrind: independent of the machine's load. Prints the total Ir of the server's whole life
# and the load generator's message count; run it with two counts (N1 < N2) and take
# (Ir2 - Ir1) / (msgs2 - msgs1) as instructions per message (start-up cancels out).
#   bench/tools/count.sh SERVER OUT N LOADGEN-ARGS...    e.g.  count.sh ws-stream /tmp/c 200 echo 1 4 1048576 600
set -euo pipefail
server=$1 out=$2 n=$3; shift 3
mode=$1; shift
mkdir -p "$out"
source "$(dirname "$0")/server-script.sh"
rm -f "$out"/callgrind.out.*
valgrind --tool=callgrind --callgrind-out-file="$out/callgrind.out.%p" ${VG_ARGS:-} \
  node --import ./dist/bench/servers/exit-on-signal.js "${script[@]}" >"$out/server.log" 2>"$out/valgrind.log" &
pid=$!
for _ in $(seq 6000); do grep -qE '[0-9]+/?\s*$' "$out/server.log" 2>/dev/null && break; sleep 0.1; done
port=$(grep -oE '[0-9]+/?\s*$' "$out/server.log" | head -1 | tr -d '/ ')
[ "$server" = raw ] && [ "$mode" = echo ] && mode=raw
LOADGEN_MSGS=$n dist/bench/loadgen "$mode" 127.0.0.1 "$port" "$@" >"$out/loadgen.txt"
kill -TERM $pid; wait $pid || true
msgs=$(grep -oE 'msgs=[0-9]+' "$out/loadgen.txt" | cut -d= -f2)
ir=$(grep -h '^summary:' "$out"/callgrind.out.* | awk '{s+=$2} END {printf "%.0f", s}')
echo "$server n=$n msgs=$msgs Ir=$ir"
