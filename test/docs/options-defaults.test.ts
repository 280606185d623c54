/**
 * The defaults the documents state, checked against the code and on the wire: README's stream
 * options table (and the permessage-deflate and accept defaults under it) against the normalised
 * options; doc/ws-compat.md's ws defaults against `server.options`; and where the two differ
 * (`maxFragments` 131072 in the core, 16384 in ws-stream/ws; `readMessageMax` 16 MiB, `maxPayload`
 * 100 MiB), what a peer meets at each limit.
 */
import assert from 'node:assert/strict';
import { once } from 'node:events';
import { readFileSync } from 'node:fs';
import type { AddressInfo } from 'node:net';
import { Duplex } from 'node:stream';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { WebSocketServer } from '../../src/compat/index.js';
import {
  normaliseAcceptOptions,
  normaliseStreamOptions,
  requestLimitDefaults,
  responseLimitDefaults,
} from '../../src/options.js';
import { streamDefaults, WebSocketStream } from '../../src/index.js';
import { closeFrame, cont, frame, requestHead, text } from '../support/frames.js';
import { attack, closeCodeOf, httpServer } from '../support/hostile.js';

const doc = (path: string): string => readFileSync(fileURLToPath(new URL(`../../../${path}`, import.meta.url)), 'utf8');
const readme = doc('README.md');
const wsCompat = doc('doc/ws-compat.md');

/** A default as the README's table writes it: `16 MiB`, `64 KiB`, `5000 ms`, `0 (off)`, `` `true` ``, `` `'auto'` ``. */
function parseDefault(cell: string): unknown {
  const c = cell.trim();
  let m = /^`(true|false)`$/.exec(c);
  if (m) return m[1] === 'true';
  m = /^`'([a-z]+)'`$/.exec(c);
  if (m) return m[1];
  m = /^(\d+) (MiB|KiB)$/.exec(c);
  if (m) return Number(m[1]) * (m[2] === 'MiB' ? 1024 * 1024 : 1024);
  m = /^(\d+)(?: ms| \(off\))?$/.exec(c);
  if (m) return Number(m[1]);
  throw new Error(`unreadable default ${JSON.stringify(c)}`);
}

it("README's stream options table states each option's default as the core has it", () => {
  const rows = new Map<string, string>();
  for (const line of readme.split('\n')) {
    const m = /^\| `(\w+)` \| ([^|]+) \|/.exec(line);
    if (m) rows.set(m[1]!, m[2]!);
  }
  const normal = normaliseStreamOptions({}) as unknown as Record<string, unknown>;
  let checked = 0;
  for (const [name, value] of Object.entries(streamDefaults)) {
    const cell = rows.get(name);
    assert.ok(cell !== undefined, `${name} has no row`);
    assert.deepEqual(parseDefault(cell), value, `README's default of ${name}`);
    // What a stream made without options holds (perMessageDeflate: false is normalised to null).
    assert.deepEqual(normal[name], value === false && name === 'perMessageDeflate' ? null : value, name);
    checked++;
  }
  assert.equal(checked, Object.keys(streamDefaults).length);
  assert.equal(rows.get('controlCallback')?.trim(), 'none');
});

it("README's permessage-deflate and accept() defaults are those `true` and `{}` normalise to", () => {
  const deflate = normaliseStreamOptions({ perMessageDeflate: true }).perMessageDeflate!;
  const paragraph = readme.slice(readme.indexOf('**permessage-deflate options**'));
  for (const [name, value] of Object.entries(deflate)) {
    const m = new RegExp(`\`${name}\` \\((\\w+)`).exec(paragraph);
    assert.ok(m, `${name} is not in the paragraph`);
    assert.equal(m[1], String(value), name);
  }
  const accept = normaliseAcceptOptions({});
  assert.match(readme, /`maxHeaderBytes` \(16 KiB\) and `maxHeaders`\s+\(100\)/);
  assert.equal(accept.maxHeaderBytes, 16 * 1024);
  assert.equal(accept.maxHeaders, 100);
  assert.deepEqual(requestLimitDefaults, { maxHeaderBytes: 16 * 1024, maxHeaders: 100 });
  assert.match(readme, /`maxHeaderBytes` \(16 KiB\) and `maxHeaders` \(2000\) on the response head/);
  assert.deepEqual(responseLimitDefaults, { maxHeaderBytes: 16 * 1024, maxHeaders: 2000 });
});

it("doc/ws-compat.md's server defaults are server.options' (maxPayload, closeTimeout, maxFragments, maxPendingAutoPongs, maxBufferedChunks)", async (t) => {
  const server = new WebSocketServer({ noServer: true });
  t.after(() => server.close());
  const o = server.options as unknown as Record<string, unknown>;
  const stated: [string, RegExp][] = [
    ['maxPayload', /`maxPayload` (\d+)/],
    ['closeTimeout', /`closeTimeout` (\d+)/],
    ['maxFragments', /`maxFragments` (\d+)/],
    ['maxPendingAutoPongs', /`maxPendingAutoPongs`\*\* \(server and client, default (\d+)/],
    ['maxBufferedChunks', /`maxBufferedChunks` \(ws 8\.23, default (\d+)/],
  ];
  for (const [name, re] of stated) {
    const m = re.exec(wsCompat);
    assert.ok(m, `doc/ws-compat.md states no default for ${name}`);
    assert.equal(o[name], Number(m[1]), name);
  }
  for (const name of ['port', 'host', 'path', 'verifyClient']) assert.equal(o[name], null, name);
});

/** One text message of `n` one-byte frames (a text frame, then continuations), then close 1000. */
function fragmented(n: number): Buffer {
  const parts = [text('a', { fin: n === 1 })];
  for (let i = 1; i < n; i++) parts.push(cont('a', { fin: i === n - 1 }));
  parts.push(closeFrame(1000));
  return Buffer.concat(parts);
}

/** A binary frame header (masked) announcing `length` bytes, no payload. */
function announce(length: number): Buffer {
  const head = Buffer.alloc(14);
  head[0] = 0x82;
  head[1] = 0x80 | 127;
  head.writeBigUInt64BE(BigInt(length), 2);
  return head; // the last 4 bytes: the mask key (zeros)
}

async function compatServer(t: {
  after(f: () => unknown): void;
}): Promise<{ port: number; sizes: number[]; errors: string[] }> {
  const server = new WebSocketServer({ port: 0, host: '127.0.0.1' });
  await once(server, 'listening');
  t.after(() => {
    for (const c of server.clients!) c.terminate();
    server.close();
  });
  const sizes: number[] = [];
  const errors: string[] = [];
  server.on('connection', (ws) => {
    ws.on('message', (data: Buffer) => sizes.push(data.length));
    ws.on('error', (e: Error & { code?: string }) => errors.push(`${e.name} ${e.code}: ${e.message}`));
  });
  return { port: (server.address() as AddressInfo).port, sizes, errors };
}

it('maxFragments on the wire: the core takes 16385 fragments and refuses 131073 (1008); ws-stream/ws refuses 16385 (1008), takes 16384', async (t) => {
  const core = await httpServer(t);
  const head = (port: number): string => requestHead({ Host: `127.0.0.1:${port}` });
  const coreTakes = await attack(core.port, [head(core.port), fragmented(16385)], { untilClose: true });
  assert.equal(closeCodeOf(coreTakes.frames.at(-1)), 1000);
  assert.equal((await core.next()).messages[0]!.length, 16385);
  const coreRefuses = await attack(core.port, [head(core.port), fragmented(131073)], { untilClose: true });
  assert.equal(closeCodeOf(coreRefuses.frames.at(-1)), 1008);
  assert.equal((await core.next()).readError, 'ERR_WS_TOO_MANY_FRAGMENTS');

  const compat = await compatServer(t);
  const compatTakes = await attack(compat.port, [head(compat.port), fragmented(16384)], { untilClose: true });
  assert.equal(closeCodeOf(compatTakes.frames.at(-1)), 1000);
  assert.deepEqual(compat.sizes, [16384]);
  const compatRefuses = await attack(compat.port, [head(compat.port), fragmented(16385)], { untilClose: true });
  assert.equal(closeCodeOf(compatRefuses.frames.at(-1)), 1008);
  assert.deepEqual(compat.sizes, [16384], 'no message of 16385 fragments was emitted');
  assert.deepEqual(compat.errors, ['RangeError WS_ERR_TOO_MANY_BUFFERED_PARTS: Too many message fragments']);
});

it('readMessageMax / maxPayload on the wire: a header announcing 16 MiB + 1 is refused by the core (1009), 100 MiB + 1 by ws-stream/ws (1009), which takes a 16 MiB + 1 message', async (t) => {
  const core = await httpServer(t);
  const head = (port: number): string => requestHead({ Host: `127.0.0.1:${port}` });
  const coreRefuses = await attack(core.port, [head(core.port), announce(16 * 1024 * 1024 + 1)], { untilClose: true });
  assert.equal(closeCodeOf(coreRefuses.frames.at(-1)), 1009);
  assert.equal((await core.next()).readError, 'ERR_WS_MESSAGE_TOO_BIG');

  const compat = await compatServer(t);
  const big = frame({ opcode: 2, payload: Buffer.alloc(16 * 1024 * 1024 + 1) });
  const compatTakes = await attack(compat.port, [head(compat.port), big, closeFrame(1000)], { untilClose: true });
  assert.equal(closeCodeOf(compatTakes.frames.at(-1)), 1000);
  assert.deepEqual(compat.sizes, [16 * 1024 * 1024 + 1]);
  const compatRefuses = await attack(compat.port, [head(compat.port), announce(100 * 1024 * 1024 + 1)], {
    untilClose: true,
  });
  assert.equal(closeCodeOf(compatRefuses.frames.at(-1)), 1009);
  assert.deepEqual(compat.errors, ['RangeError WS_ERR_UNSUPPORTED_MESSAGE_LENGTH: Max payload size exceeded']);
});

it('every stream option refuses a value of the wrong kind at once, from the constructor, with ERR_WS_INVALID_ARGUMENT naming it', () => {
  const layer = (): Duplex =>
    new Duplex({
      read() {},
      write(_c, _e, cb) {
        cb();
      },
    });
  const bad: Record<string, unknown> = {
    readMessageMax: -1,
    maxFragments: 0.5,
    autoFragment: 'yes',
    fragmentSize: 0,
    binary: 'text',
    autoPong: 1,
    validateUtf8: 'yes',
    failureReason: 'no',
    closeTimeout: Number.NaN,
    handshakeTimeout: -1,
    idleTimeout: 2 ** 31,
    keepAlive: 'on',
    maxBufferedBytes: -5,
    bufferPolicy: 'drop',
    perMessageDeflate: 'on',
    readHighWaterMark: 1.5,
    controlCallback: 'log',
  };
  assert.deepEqual(Object.keys(bad).sort(), [...Object.keys(streamDefaults), 'controlCallback'].sort());
  for (const [name, value] of Object.entries(bad)) {
    assert.throws(
      () => new WebSocketStream(layer(), { [name]: value }),
      (e: Error & { code?: string }) => e.code === 'ERR_WS_INVALID_ARGUMENT' && e.message.includes(name),
      `${name}: ${String(value)}`,
    );
  }
});
