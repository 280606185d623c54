/**
 * Names V8's code in a callgrind dump: each function callgrind knows only by its address (JIT code) gets the name
 * node's `--perf-basic-prof` map gives the range holding it (the latest entry, as code space is reused), e.g.
 * `JS:*parseFields_file:///…/http.js:225:21` (`*` optimised, `^` baseline, `~` interpreted).
 *   node bench/tools/perf-map-names.mjs CALLGRIND-OUT PERF-MAP > NAMED-OUT     (bench/tools/count-named.sh runs it)
 */
import { readFileSync } from 'node:fs';

const [file, map] = process.argv.slice(2);
const entries = [];
for (const line of readFileSync(map, 'utf8').split('\n')) {
  const m = /^([0-9a-f]+) ([0-9a-f]+) (.*)$/.exec(line);
  if (m) entries.push({ start: parseInt(m[1], 16), size: parseInt(m[2], 16), name: m[3], order: entries.length });
}
entries.sort((a, b) => a.start - b.start);

/** The name of the latest map entry holding `addr`, or null. */
function lookup(addr) {
  let lo = 0;
  let hi = entries.length - 1;
  while (lo <= hi) {
    const mid = (lo + hi) >> 1;
    if (entries[mid].start <= addr) lo = mid + 1;
    else hi = mid - 1;
  }
  let best = null;
  // Entries starting below `addr` may still hold it (code objects of different sizes overlap over time).
  for (let i = hi; i >= 0 && i > hi - 200; i--) {
    const e = entries[i];
    if (addr < e.start + e.size && (best === null || e.order > best.order)) best = e;
  }
  return best === null ? null : best.name;
}

const named = readFileSync(file, 'utf8').replace(/^(c?fn=\(\d+\)) 0x([0-9a-f]+)$/gm, (whole, prefix, hex) => {
  const name = lookup(parseInt(hex, 16));
  return name === null ? whole : `${prefix} ${name.replace(/\s+/g, '_')}`;
});
process.stdout.write(named);
