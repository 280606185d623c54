#!/usr/bin/env bash
# Server CPU per handshake with every server loaded at the same moment, for a machine shared with other
# work: the servers start, each gets WARM handshakes, then K times all of them get N handshakes at once
# (one load generator each); per repetition and server, the main thread's user + system µs per handshake,
# the other threads' (V8's compiler and GC helpers, libuv's pool) and the total, from /proc/PID/task/*/stat.
# Compare servers by the median of their same-repetition ratios, not by the absolute figures.
#   bench/tools/handshake-cpu.sh WARM N K SERVER...   (from the repository root, after tsc)
#   e.g.  handshake-cpu.sh 20000 10000 16 ws-stream ws
# SERVER as for count.sh (ws-stream | ws-stream-net | ws | raw-hs | a script path, run as `node PATH 0`).
# WARM=1 from fresh servers shows the JIT phase (use a small N then). ECHO=S first runs the echo loads of the full
# bench's cells before the handshake cells (1 KiB, 16 B, 64 KiB, 1 MiB, the round trip), S seconds each, on every
# server in turn: the state in which `npm run bench` reaches the handshake rows.
set -euo pipefail
warm=$1 n=$2 k=$3; shift 3
servers=("$@")
out=$(mktemp -d)
declare -A pids ports
for i in "${!servers[@]}"; do
  server=${servers[$i]}
  source "$(dirname "$0")/server-script.sh"
  node "${script[@]}" >"$out/server-$i.log" 2>&1 &
  pids[$i]=$!
  for _ in $(seq 100); do grep -qE '[0-9]+/?\s*$' "$out/server-$i.log" 2>/dev/null && break; sleep 0.1; done
  ports[$i]=$(grep -oE '[0-9]+/?\s*$' "$out/server-$i.log" | head -1 | tr -d '/ ')
done
if [ -n "${ECHO:-}" ]; then
  for args in "100 16 1024" "100 16 16" "1 16 65536" "1 4 1048576" "1 1 1024"; do
    # shellcheck disable=SC2086 # the load's arguments are words
    for i in "${!servers[@]}"; do dist/bench/loadgen echo 127.0.0.1 "${ports[$i]}" $args "$ECHO" >/dev/null; done
  done
fi
for i in "${!servers[@]}"; do LOADGEN_MSGS=$warm dist/bench/loadgen handshake 127.0.0.1 "${ports[$i]}" 50 600 >/dev/null; done
# main-thread user, system; other threads' user + system (clock ticks)
ticks() {
  local pid=$1 mu=0 ms=0 other=0 t u s
  for t in /proc/"$pid"/task/*; do
    read -r u s < <(awk '{print $14, $15}' "$t/stat" 2>/dev/null || echo "0 0")
    if [ "${t##*/}" = "$pid" ]; then mu=$u ms=$s; else other=$((other + u + s)); fi
  done
  echo "$mu $ms $other"
}
hz=$(getconf CLK_TCK)
for _ in $(seq "$k"); do
  declare -A before=()
  gens=()
  for i in "${!servers[@]}"; do before[$i]=$(ticks "${pids[$i]}"); done
  for i in "${!servers[@]}"; do
    LOADGEN_MSGS=$n dist/bench/loadgen handshake 127.0.0.1 "${ports[$i]}" 50 600 >/dev/null &
    gens+=($!)
  done
  wait "${gens[@]}"
  line=""
  for i in "${!servers[@]}"; do
    read -r a0 b0 c0 <<<"${before[$i]}"
    read -r a1 b1 c1 < <(ticks "${pids[$i]}")
    line+=$(awk -v s="${servers[$i]}" -v a=$((a1 - a0)) -v b=$((b1 - b0)) -v c=$((c1 - c0)) -v hz="$hz" -v n="$n" \
      'BEGIN { x = 1e6 / hz / n; printf "| %s main %.1f+%.1f other %.1f total %.1f ", s, a * x, b * x, c * x, (a + b + c) * x }')
  done
  echo "$line"
done
for i in "${!servers[@]}"; do kill "${pids[$i]}"; done
wait 2>/dev/null || true
rm -rf "$out"
