/**
 * Summarises a `.cpuprofile` (from `node --cpu-prof`): self time per function, largest first, and
 * the share of idle, GC and program time. `node dist/bench/tools/prof-summary.js FILE [TOP]`.
 */
import { readFileSync } from 'node:fs';

interface Node {
  id: number;
  callFrame: { functionName: string; url: string; lineNumber: number };
  children?: number[];
}
interface Profile {
  nodes: Node[];
  samples: number[];
  timeDeltas: number[];
}

const file = process.argv[2]!;
const top = Number(process.argv[3] ?? 30);
const p = JSON.parse(readFileSync(file, 'utf8')) as Profile;
const byId = new Map(p.nodes.map((n) => [n.id, n]));
const self = new Map<string, number>();
let total = 0;
for (let i = 0; i < p.samples.length; i++) {
  const n = byId.get(p.samples[i]!)!;
  const dt = p.timeDeltas[i] ?? 0;
  total += dt;
  const f = n.callFrame;
  const where = f.url
    ? `${f.url.replace(/^.*\/(node_modules|dist)\//, '$1/').replace(/^node:/, '')}:${f.lineNumber + 1}`
    : '';
  const key = `${f.functionName || '(anonymous)'} ${where}`.trim();
  self.set(key, (self.get(key) ?? 0) + dt);
}
const rows = [...self].sort((a, b) => b[1] - a[1]);
const idle = self.get('(idle)') ?? 0;
const busy = total - idle;
console.log(
  `total ${(total / 1e3).toFixed(0)} ms, idle ${((100 * idle) / total).toFixed(1)} %, busy ${(busy / 1e3).toFixed(0)} ms`,
);
console.log('share of busy | ms | function');
for (const [k, v] of rows.slice(0, top)) {
  if (k === '(idle)') continue;
  console.log(`${((100 * v) / busy).toFixed(1).padStart(5)} % | ${(v / 1e3).toFixed(1).padStart(7)} | ${k}`);
}
