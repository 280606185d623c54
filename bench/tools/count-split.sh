#!/usr/bin/env bash
# The round trip's server side split at its write: main-thread instructions (callgrind) from entering
# libuv's uv__read to entering uv_try_write (the message read, handled and answered: what the peer waits
# for) and from there to the next uv__read (what follows the write), median per message. One connection,
# 1 message in flight: WARM messages uninstrumented, then the same connection counted for SECONDS (every
# read and every write is a dump: keep it to a second or two), while the rest of its messages run on.
#   bench/tools/count-split.sh SERVER OUT WARM SECONDS [SIZE]
#   e.g.  count-split.sh ws-stream /tmp/s 20000 1 1024
# SERVER as for count.sh. Counted well into one connection: the first messages of each new connection
# run while V8 re-optimises (several times the steady state under valgrind).
set -euo pipefail
server=$1 out=$2 warm=$3 seconds=$4 size=${5:-1024}
mode=echo
source "$(dirname "$0")/server-script.sh"
[ "$server" = raw ] && mode=raw
rm -rf "$out"
mkdir -p "$out"
valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes --dump-before=uv__read --dump-before=uv_try_write \
  --callgrind-out-file="$out/callgrind.out.%p" ${VG_ARGS:-} \
  node --import ./dist/bench/servers/exit-on-signal.js "${script[@]}" >"$out/server.log" 2>"$out/valgrind.log" &
pid=$!
for _ in $(seq 6000); do grep -qE '[0-9]+/?\s*$' "$out/server.log" 2>/dev/null && break; sleep 0.1; done
port=$(grep -oE '[0-9]+/?\s*$' "$out/server.log" | head -1 | tr -d '/ ')
LOADGEN_MSGS=$warm dist/bench/loadgen "$mode" 127.0.0.1 "$port" 1 1 "$size" 600 >"$out/loadgen-warm.txt"
# The counted connection: warmed up uninstrumented too, then counted in its middle.
LOADGEN_MSGS=$((warm * 8)) dist/bench/loadgen "$mode" 127.0.0.1 "$port" 1 1 "$size" 600 >"$out/loadgen.txt" &
gen=$!
sleep "${DELAY:-2}"
callgrind_control -i on $pid >/dev/null
sleep "$seconds"
callgrind_control -i off $pid >/dev/null
wait $gen
kill -TERM $pid
wait $pid || true
# Each dump holds what ran since the previous one: a dump before uv_try_write is the read-to-write part.
for f in "$out"/callgrind.out.*-01; do
  awk '/^desc: Trigger:/ { t = $0 } /^summary:/ { s = $2 } END { if (t ~ /uv_try_write/) print "read-write", s; else if (t ~ /uv__read/) print "write-read", s }' "$f"
done >"$out/parts.txt"
median() { grep "^$1 " "$out/parts.txt" | awk '{print $2}' | sort -n | awk '{a[NR] = $1} END { if (NR) print a[int((NR + 1) / 2)], "(" NR " messages)"; else print "none" }'; }
echo "$server read-to-write=$(median read-write) write-to-read=$(median write-read)"
