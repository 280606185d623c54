#!/usr/bin/env bash
# Profiles one server on one load: CPU profile (self time), the server's CPU time per message
# (process.cpuUsage) and its system calls counted by type (strace -c, optional: STRACE=1).
#   bench/tools/profile.sh SERVER OUTDIR LOADGEN-ARGS...   (run from the repository root, after tsc)
# SERVER: ws-stream | ws | raw | ws-stream-net; LOADGEN-ARGS as for dist/bench/loadgen, without host and port,
# e.g. `echo 1 4 1048576 5`.
set -euo pipefail
server=$1 out=$2; shift 2
mode=$1; shift
mkdir -p "$out"
source "$(dirname "$0")/server-script.sh"
prof=()
[ "${NOPROF:-}" = 1 ] || prof=(--cpu-prof --cpu-prof-dir="$out" --cpu-prof-interval "${INTERVAL:-100}")
node "${prof[@]}" --import ./dist/bench/servers/exit-on-signal.js "${script[@]}" >"$out/server.log" 2>&1 &
pid=$!
for _ in $(seq 100); do grep -qE '[0-9]+/?\s*$' "$out/server.log" 2>/dev/null && break; sleep 0.1; done
port=$(grep -oE '[0-9]+/?\s*$' "$out/server.log" | head -1 | tr -d '/ ')
[ "$server" = raw ] && [ "$mode" = echo ] && mode=raw
if [ "${STRACE:-}" = 1 ]; then strace -c -f -p $pid -o "$out/strace.txt" & spid=$!; sleep 0.5; fi
ticks() { awk '{print $14+$15}' /proc/$pid/stat; }
t0=$(ticks)
dist/bench/loadgen "$mode" 127.0.0.1 "$port" "$@" | tee "$out/loadgen.txt"
t1=$(ticks)
[ "${STRACE:-}" = 1 ] && { kill -INT $spid; wait $spid || true; }
kill -TERM $pid; wait $pid || true
msgs=$(grep -oE 'msgs=[0-9]+' "$out/loadgen.txt" | cut -d= -f2)
read -r user sys < <(grep -oE 'user=[0-9]+ system=[0-9]+' "$out/server.log" | sed 's/user=//; s/system=//')
hz=$(getconf CLK_TCK)
awk -v a="$t0" -v b="$t1" -v hz="$hz" -v m="$msgs" 'BEGIN { printf "server cpu during the load: %.0f ms, %.2f us per message\n", (b-a)*1000/hz, (b-a)*1e6/hz/m }'
echo "server cpu total: user ${user} us, system ${sys} us (whole process life, incl. start-up); msgs ${msgs}"
