#!/usr/bin/env bash
# One callgrind dump's instructions per unit of work, split into V8's garbage collection on that thread
# (v8::internal::Heap::CollectGarbage, inclusive) and the rest (the mutator: what the code itself ran), with the number
# of collections. The rest is steadier between runs than the total: how many scavenges a batch takes swings with the
# young generation's size, which V8 tunes as it goes.
#   bench/tools/gc-split.sh FILE N     e.g.  gc-split.sh /tmp/w/callgrind.out.1234.2-01 25000
set -euo pipefail
file=$1 n=$2
annotated=$(callgrind_annotate --inclusive=yes --threshold=100 "$file")
total=$(grep 'PROGRAM TOTALS' <<<"$annotated" | awk '{gsub(",", "", $1); print $1}')
gc=$(grep -m1 'v8::internal::Heap::CollectGarbage(' <<<"$annotated" | awk '{gsub(",", "", $1); print $1}' || true)
gc=${gc:-0}
# The calls to Heap::CollectGarbage: the calls= lines under a cfn= naming it (by its compressed id after the first).
id=$(grep -m1 -oE '^c?fn=\([0-9]+\) .*Heap::CollectGarbage\(' "$file" | grep -oE '^c?fn=\([0-9]+\)' | grep -oE '\([0-9]+\)' || true)
calls=$(awk -v id="cfn=$id" '/^cfn=/ { c = id != "cfn=" && index($0, id) == 1 } /^calls=/ { if (c) { split($1, x, "="); s += x[2] } c = 0 } END { print s + 0 }' "$file")
echo "total=$((total / n)) gc=$((gc / n)) mutator=$(((total - gc) / n)) collections=$calls"
