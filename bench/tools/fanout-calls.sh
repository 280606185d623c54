#!/usr/bin/env bash
# System calls and CPU per delivery of one fan-out server and of the load generator, from counters
# (no tracer slowing either down): the server's write and read calls (/proc/PID/io syscw, syscr) and
# user and system time (/proc/PID/stat) around one load, and the load generator's own reads and epoll
# waits (it prints them).
#   bench/tools/fanout-calls.sh SERVER-SCRIPT MODE [CONNS INFLIGHT SIZE SECONDS]
#   e.g.  fanout-calls.sh dist/bench/servers/fanout-pubsub.js fanout 1000 8 1024 4
#         fanout-calls.sh dist/bench/servers/fanout-raw.js fanoutraw 1000 8 1024 4
set -euo pipefail
script=$1 mode=$2 conns=${3:-1000} inflight=${4:-8} size=${5:-1024} seconds=${6:-4}
log=$(mktemp)
node "$script" 0 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null || true; rm -f "$log"' EXIT
for _ in $(seq 100); do grep -qE 'listening [0-9]+' "$log" && break; sleep 0.1; done
port=$(grep -oE 'listening [0-9]+' "$log" | cut -d' ' -f2)
io() { awk -v k="$1" '$1 == k":" {print $2}' /proc/$pid/io; }
stat() { awk '{print $14, $15}' /proc/$pid/stat; }
# The whole machine: busy (user, nice, system, irq, softirq) and stolen ticks, and all ticks.
machine() { awk '$1 == "cpu" {print $2 + $3 + $4 + $7 + $8, $9, $2 + $3 + $4 + $5 + $6 + $7 + $8 + $9}' /proc/stat; }
# The load generator settles its connections for 0.3 s before it publishes: sample the server after that.
dist/bench/loadgen "$mode" 127.0.0.1 "$port" "$conns" "$inflight" "$size" "$seconds" >"$log.gen" &
gen=$!
sleep 1
w0=$(io syscw) r0=$(io syscr); read -r u0 s0 < <(stat); read -r b0 st0 a0 < <(machine); t0=$(date +%s.%N)
sleep $((seconds - 1))
w1=$(io syscw) r1=$(io syscr); read -r u1 s1 < <(stat); read -r b1 st1 a1 < <(machine); t1=$(date +%s.%N)
wait $gen
out=$(cat "$log.gen"); rm -f "$log.gen"
echo "$out"
hz=$(getconf CLK_TCK)
# The server's counters cover [1 s, SECONDS] of the load; the rate scales them to deliveries.
awk -v out="$out" -v w="$((w1 - w0))" -v r="$((r1 - r0))" -v u="$((u1 - u0))" -v s="$((s1 - s0))" \
  -v dt="$(echo "$t1 - $t0" | bc)" -v hz="$hz" -v busy="$((b1 - b0))" -v stolen="$((st1 - st0))" -v all="$((a1 - a0))" 'BEGIN {
  n = split(out, kv, /[ =]/); for (i = 1; i < n; i += 2) v[kv[i]] = kv[i + 1];
  d = v["rate"] * dt;
  printf "server: %.2f deliveries per write, %.4f reads per delivery, user %.3f + system %.3f us per delivery\n",
    d / w, r / d, u / hz * 1e6 / d, s / hz * 1e6 / d;
  printf "loadgen: %.4f reads and %.4f epoll waits per delivery, %s%% of a core\n",
    v["reads"] / v["msgs"], v["waits"] / v["msgs"], v["cpu_pct"];
  printf "machine: %.0f%% busy, %.0f%% stolen (of all CPUs)\n", 100 * busy / all, 100 * stolen / all;
}'
