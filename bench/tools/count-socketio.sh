#!/usr/bin/env bash
# Instructions per acknowledged echo of the Socket.IO cell's server (servers/socketio-echo.ts), counted by callgrind
# with the threads apart: 50 socket.io-client connections (CONNS) echo SIZE bytes, WARM twice uninstrumented, then
# N1 and N2 counted (dist/bench/tools/count-socketio.js). ENGINE: ws-stream (ws-stream/ws) or ws (the default).
#   bench/tools/count-socketio.sh ENGINE OUT WARM N1 N2 [CONNS] [SIZE]
#   e.g.  count-socketio.sh ws-stream /tmp/sio 5000 2000 8000
# The main thread's second batch (OUT/callgrind.out.PID.2-01) is left for callgrind_annotate and gc-split.sh.
set -euo pipefail
engine=$1 out=$2 warm=$3 n1=$4 n2=$5 conns=${6:-50} size=${7:-1024}
rm -rf "$out"
mkdir -p "$out"
valgrind --tool=callgrind --instr-atstart=no --separate-threads=yes --callgrind-out-file="$out/callgrind.out.%p" ${VG_ARGS:-} \
  node --import ./dist/bench/servers/exit-on-signal.js dist/bench/servers/socketio-echo.js 0 --engine "$engine" \
  >"$out/server.log" 2>"$out/valgrind.log" &
pid=$!
for _ in $(seq 6000); do grep -qE 'listening [0-9]+' "$out/server.log" 2>/dev/null && break; sleep 0.1; done
port=$(grep -oE 'listening [0-9]+' "$out/server.log" | grep -oE '[0-9]+')
node dist/bench/tools/count-socketio.js "$port" "$pid" "$out" "$conns" "$size" "$warm" "$n1" "$n2"
kill -TERM $pid
wait $pid || true
