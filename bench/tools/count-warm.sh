#!/usr/bin/env bash
# Instructions per unit of work in the steady state, JIT warm-up excluded: the server runs under
# callgrind with instrumentation off for WARM units of work (valgrind's plain speed, V8 compiles
# what is hot), then is counted over N1 and over N2 more units; prints (Ir2 - Ir1) / (N2 - N1),
# which cancels the fixed cost of a batch. Compare with count.sh (from start-up, JIT included).
#   bench/tools/count-warm.sh SERVER OUT WARM N1 N2 LOADGEN-ARGS...
#   e.g.  count-warm.sh ws-stream /tmp/w 6000 300 1500 handshake 50 600
# SERVER as for count.sh. Instructions of every thread; with MAIN=1 also the main thread's alone
# (per-unit-main: the JavaScript and node's own work, without V8's compiler and GC helper threads,
# whose share swings by ±15 % between runs) and Ir2 / N2 for both, which needs no second batch.
# WARM_RUNS=K runs the warm-up load K times (default 1): with 2, the first batch's teardown (its
# connections closing) is compiled before counting too, as the fan-out cell needs.
set -euo pipefail
server=$1 out=$2 warm=$3 n1=$4 n2=$5; shift 5
mode=$1; shift
mkdir -p "$out"
source "$(dirname "$0")/server-script.sh"
[ "$server" = raw ] && [ "$mode" = echo ] && mode=raw
rm -f "$out"/callgrind.out.*
[ "${MAIN:-}" = 1 ] && VG_ARGS="${VG_ARGS:-} --separate-threads=yes"
valgrind --tool=callgrind --instr-atstart=no --callgrind-out-file="$out/callgrind.out.%p" ${VG_ARGS:-} \
  node --import ./dist/bench/servers/exit-on-signal.js "${script[@]}" >"$out/server.log" 2>"$out/valgrind.log" &
pid=$!
for _ in $(seq 6000); do grep -qE '[0-9]+/?\s*$' "$out/server.log" 2>/dev/null && break; sleep 0.1; done
port=$(grep -oE '[0-9]+/?\s*$' "$out/server.log" | head -1 | tr -d '/ ')
load() { LOADGEN_MSGS=$1 dist/bench/loadgen "$mode" 127.0.0.1 "$port" "${@:3}" >"$out/loadgen-$2.txt"; }
total() { grep -h '^summary:' "$out"/callgrind.out.* 2>/dev/null | awk '{s+=$2} END {printf "%.0f", s}'; }
# The main thread's file of a dump (thread 1: callgrind.out.PID.K-01) when threads are counted apart.
main() { cat "$out"/callgrind.out.*-01 2>/dev/null | grep -h '^summary:' | awk '{s+=$2} END {printf "%.0f", s}'; }
for _ in $(seq "${WARM_RUNS:-1}"); do load "$warm" warm "$@"; done
callgrind_control -i on $pid >/dev/null
callgrind_control -z $pid >/dev/null
load "$n1" n1 "$@"
callgrind_control -d $pid >/dev/null
ir1=$(total) main1=0
if [ "${MAIN:-}" = 1 ]; then main1=$(main); fi
rm -f "$out"/callgrind.out.*
load "$n2" n2 "$@"
callgrind_control -d $pid >/dev/null
ir2=$(total) main2=0
if [ "${MAIN:-}" = 1 ]; then main2=$(main); fi
kill -TERM $pid; wait $pid || true
m1=$(grep -oE 'msgs=[0-9]+' "$out/loadgen-n1.txt" | cut -d= -f2)
m2=$(grep -oE 'msgs=[0-9]+' "$out/loadgen-n2.txt" | cut -d= -f2)
echo "$server warm=$warm n1=$m1 Ir1=$ir1 n2=$m2 Ir2=$ir2 per-unit=$(( (ir2 - ir1) / (m2 - m1) ))"
if [ "${MAIN:-}" = 1 ]; then
  echo "$server per-unit-main=$(( (main2 - main1) / (m2 - m1) )) Ir2/N2=$(( ir2 / m2 )) main Ir2/N2=$(( main2 / m2 ))"
fi
