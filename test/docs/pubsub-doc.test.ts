/** doc/pubsub.md's `new PubSub(options)` table: each default as the code has it, and bad values refused with ERR_WS_INVALID_ARGUMENT. */
import assert from 'node:assert/strict';
import { readFileSync } from 'node:fs';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { PubSub, type PubSubOptions, pubSubDefaults } from '../../src/pubsub/index.js';

const doc = readFileSync(fileURLToPath(new URL('../../../doc/pubsub.md', import.meta.url)), 'utf8');

function parseDefault(cell: string): unknown {
  const c = cell.trim();
  let m = /^`'(\w+)'`$/.exec(c);
  if (m) return m[1];
  m = /^(\d+) MiB$/.exec(c);
  if (m) return Number(m[1]) * 1024 * 1024;
  m = /^\d+$/.exec(c);
  if (m) return Number(c);
  throw new Error(`unreadable default ${JSON.stringify(c)}`);
}

it("doc/pubsub.md's options table states each default as pubSubDefaults has it", () => {
  const rows = new Map<string, string>();
  for (const line of doc.split('\n')) {
    const m = /^\| `([\w.]+)` \| ([^|]+) \|/.exec(line);
    if (m) rows.set(m[1]!, m[2]!);
  }
  let checked = 0;
  for (const [group, values] of Object.entries(pubSubDefaults)) {
    for (const [name, value] of Object.entries(values)) {
      const cell = rows.get(`${group}.${name}`);
      assert.ok(cell !== undefined, `${group}.${name} has no row`);
      assert.equal(parseDefault(cell), value, `${group}.${name}`);
      checked++;
    }
  }
  assert.equal(checked, 9);
  assert.equal(rows.get('broker')?.trim(), '`new MemoryBroker()`');
  assert.equal(rows.get('format')?.trim(), 'none');
});

it('bad PubSub options throw ERR_WS_INVALID_ARGUMENT naming the option; the limits themselves are taken', async () => {
  const bad: [PubSubOptions, RegExp][] = [
    [{ history: { size: -1 } }, /history\.size/],
    [{ history: { size: 1.5 } }, /history\.size/],
    [{ history: { ttlSeconds: -1 } }, /history\.ttlSeconds/],
    [{ history: { bytes: Number.NaN } }, /history\.bytes/],
    [{ slowSubscriber: { maxBytes: 0 } }, /slowSubscriber\.maxBytes/],
    [{ slowSubscriber: { policy: 'wait' as 'close' } }, /slowSubscriber\.policy/],
    [{ compression: { threshold: -1 } }, /compression\.threshold/],
    [{ compression: { level: 10 } }, /compression\.level/],
    [{ recovery: { maxBytes: 0 } }, /recovery\.maxBytes/],
    [{ recovery: { maxBytes: 1.5 } }, /recovery\.maxBytes/],
    [{ recovery: { stallMs: -1 } }, /recovery\.stallMs/],
    [{ format: 5 as unknown as PubSubOptions['format'] }, /format/],
  ];
  for (const [options, message] of bad) {
    assert.throws(
      () => new PubSub(options),
      (e: Error & { code?: string }) => e.code === 'ERR_WS_INVALID_ARGUMENT' && message.test(e.message),
      JSON.stringify(options),
    );
  }
  // 0 means none for history and compression (the table says so); 9 is zlib's highest level.
  const ok = new PubSub({
    history: { size: 0, ttlSeconds: 0, bytes: 0 },
    compression: { threshold: 0, level: 9 },
    slowSubscriber: { maxBytes: 1, policy: 'drop' },
    recovery: { maxBytes: 1 },
  });
  await ok.close();
});

it("every public member of PubSub's published type is documented in doc/pubsub.md's API section", () => {
  const types = readFileSync(fileURLToPath(new URL('../../src/pubsub/pubsub.d.ts', import.meta.url)), 'utf8');
  const body = /^export declare class PubSub [^\n]*\n([\s\S]*?)\n\}/m.exec(types)?.[1];
  assert.ok(body, 'the PubSub class in pubsub.d.ts');
  const members = new Set<string>();
  for (const line of body.split('\n')) {
    // Members are indented 4 spaces; private ones and the constructor are no API.
    const m = /^ {4}(?:readonly |get |static )*([A-Za-z_$][\w$]*)[(:?<]/.exec(line);
    if (m && !/^ {4}private /.test(line) && m[1] !== 'constructor') members.add(m[1]!);
  }
  const api = doc.slice(doc.indexOf('## API'), doc.indexOf('\n## ', doc.indexOf('## API') + 1));
  for (const name of ['subscribe', 'publish', 'close', 'dropped', 'broker', 'brokerAvailable']) {
    assert.ok(members.has(name), `${name} read from pubsub.d.ts`);
  }
  for (const name of members) {
    assert.match(api, new RegExp(`^- .*\`${name}[\`(]`, 'm'), `${name} has a bullet in ## API`);
  }
});
