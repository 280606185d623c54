/**
 * Summarises a `.heapsnapshot`: objects grouped by constructor (or type), with count and shallow
 * size, largest first. With `PER=N`, also each group's count and bytes divided by N (the number of
 * idle connections the snapshot was taken with): what one connection holds.
 * `node dist/bench/tools/heap-classes.js FILE [TOP]`
 */
import { readFileSync } from 'node:fs';

interface Snapshot {
  snapshot: { meta: { node_fields: string[]; node_types: [string[], ...unknown[]] } };
  nodes: number[];
  strings: string[];
}
const file = process.argv[2]!;
const top = Number(process.argv[3] ?? 40);
const per = Number(process.env.PER ?? 0);
const snap = JSON.parse(readFileSync(file, 'utf8')) as Snapshot;
const f = snap.snapshot.meta.node_fields;
const types = snap.snapshot.meta.node_types[0];
const width = f.length;
const iType = f.indexOf('type');
const iName = f.indexOf('name');
const iSize = f.indexOf('self_size');
const groups = new Map<string, { count: number; bytes: number }>();
for (let i = 0; i < snap.nodes.length; i += width) {
  const type = types[snap.nodes[i + iType]!]!;
  const name = snap.strings[snap.nodes[i + iName]!]!;
  const key =
    type === 'object' || type === 'closure'
      ? `${type} ${name}`
      : `(${type})${type === 'hidden' || type === 'native' ? ` ${name.slice(0, 40)}` : ''}`;
  const g = groups.get(key) ?? { count: 0, bytes: 0 };
  g.count++;
  g.bytes += snap.nodes[i + iSize]!;
  groups.set(key, g);
}
const rows = [...groups].sort((a, b) => b[1].bytes - a[1].bytes).slice(0, top);
for (const [k, g] of rows) {
  const extra = per
    ? ` | ${(g.count / per).toFixed(2).padStart(6)} per conn | ${(g.bytes / per).toFixed(0).padStart(6)} B per conn`
    : '';
  console.log(`${String(g.count).padStart(9)} | ${String(g.bytes).padStart(11)} B${extra} | ${k}`);
}
