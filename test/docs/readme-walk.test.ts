/**
 * What a reader of the README meets when following it, checked where the README and the build disagreed
 * (session 35's walk through every claim): the calls the examples fire and forget, and the numbers the
 * README states for the API.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { once } from 'node:events';
import { existsSync, readdirSync, readFileSync } from 'node:fs';
import net from 'node:net';
import { basename, dirname } from 'node:path';
import { it } from 'node:test';
import { fileURLToPath } from 'node:url';
import { StreamGroup, WebSocketStream } from '../../src/index.js';
import { PubSub } from '../../src/pubsub/index.js';
import { openServer } from '../support/open.js';

/** Runs `script` (an ES module) in a process of its own, with node's default: an unhandled rejection ends it. */
async function runAlone(script: string): Promise<{ code: number | null; out: string; err: string }> {
  const child = spawn(process.execPath, ['--input-type=module', '-e', script], { stdio: ['ignore', 'pipe', 'pipe'] });
  let out = '';
  let err = '';
  child.stdout.on('data', (d: Buffer) => (out += d));
  child.stderr.on('data', (d: Buffer) => (err += d));
  const code = await new Promise<number | null>((r) => child.once('close', r));
  return { code, out: out.trim(), err };
}

const repo = fileURLToPath(new URL('../../../', import.meta.url));

/**
 * Whether a path a document names is in the repository: as written, as the test file or module it
 * abbreviates (`test/cli/faults-volume`), as the source of a built file (`dist/bench/run.js`,
 * `dist/src/compat/index.d.ts`, `test/support/ws-alias.js`), or a glob with a match (`test/stream/hostile-*.test.ts`).
 */
function inRepo(named: string): boolean {
  const path = named.replace(/^dist\//, '');
  if (path.includes('*')) {
    const pattern = new RegExp(`^${basename(path).replace(/\./g, '\\.').replace(/\*/g, '.*')}$`);
    return existsSync(repo + dirname(path)) && readdirSync(repo + dirname(path)).some((f) => pattern.test(f));
  }
  const sources = [
    path,
    `${path}.test.ts`,
    `${path}.ts`,
    path.replace(/\.js$/, '.ts'),
    path.replace(/\.js$/, '.cts'),
    path.replace(/\.d\.ts$/, '.ts'),
    path.replace(/\.d\.cts$/, '.cts'),
  ];
  return sources.some((p) => existsSync(repo + p));
}

it('every file the README and doc/*.md name under test/, src/, bench/, examples/ or doc/ is there', () => {
  // (ws's own test files, which doc/ws-compat.md tells how to run, are ws's, not this repository's)
  const others = new Set(['test/websocket.test.js']);
  let named = 0;
  for (const doc of ['README.md', ...readdirSync(`${repo}doc`).map((f) => `doc/${f}`)]) {
    const text = readFileSync(repo + doc, 'utf8');
    const paths = new Set(
      [...text.matchAll(/(?<![\w./-])(?:dist\/)?(?:test|src|bench|examples|doc)\/[\w./*-]*\w/g)].map((m) => m[0]),
    );
    const missing = [...paths].filter((p) => !others.has(p) && !inRepo(p));
    assert.deepEqual(missing, [], `${doc} names files that are not in the repository`);
    named += paths.size;
  }
  assert.ok(named > 150, `${named} paths found: the pattern still reads the documents`);
});

const index = JSON.stringify(new URL('../../src/index.js', import.meta.url).href);

it('rejectUpgrade fired and forgotten (`void rejectUpgrade(socket, 404)`, as examples/http-upgrade.ts) to a client that left does not crash the process; awaited, it fails ERR_WS_NEXT_LAYER', async () => {
  // The outcome is looked at only once the process ran out of work: an unhandled rejection would have
  // ended it before.
  const script = `
    import net from 'node:net';
    import { rejectUpgrade } from ${index};
    const gone = new net.Socket();
    gone.destroy();
    const forgotten = rejectUpgrade(gone, 404);
    let reported = false;
    process.on('beforeExit', () => {
      if (reported) return;
      reported = true;
      forgotten.then(() => console.log('resolved'), (e) => console.log(e.code));
    });`;
  const { code, out, err } = await runAlone(script);
  assert.equal(err, '', 'nothing on stderr');
  assert.equal(code, 0, 'the process ended normally');
  assert.equal(out, 'ERR_WS_NEXT_LAYER', 'the forgotten refusal did fail');
});

it('a stream added to a StreamGroup before its handshake begins, whose client resets: no unhandled socket error; it ends abnormal, 1006, ERR_WS_EOF', async (t) => {
  // README, Graceful shutdown: "a stream whose handshake is still running (or not begun) is not disturbed". The
  // group watches it (whenClosed()) while nothing else of the stream listens to the socket: a reset then was an
  // 'error' event nobody heard, which ends the process.
  const group = new StreamGroup();
  const server = net.createServer();
  t.after(() => server.close());
  const added = new Promise<WebSocketStream>((resolve) =>
    server.once('connection', (socket) => {
      const ws = new WebSocketStream(socket);
      group.add(ws);
      resolve(ws);
    }),
  );
  server.listen(0, '127.0.0.1');
  await once(server, 'listening');
  const client = net.connect((server.address() as net.AddressInfo).port, '127.0.0.1');
  client.on('error', () => {});
  const ws = await added;
  client.resetAndDestroy();
  const info = await ws.whenClosed();
  assert.equal(info.initiatedBy, 'abnormal');
  assert.equal(info.code, 1006);
  assert.equal(info.wasClean, false);
  assert.equal(info.error?.code, 'ERR_WS_EOF'); // as a layer closed before a handshake is (README, whenClosed())
  // That end is final: a handshake begun after it fails (README, whenClosed()).
  await assert.rejects(ws.accept(), { code: 'ERR_WS_EOF' });
  assert.deepEqual(await group.shutdown({ deadline: 0 }), { closed: 0, destroyed: 0 });
});

it('an options argument that is not an object (true, a string, a number, null) makes read, readSome, write, writeSome, ping, pong and close throw ERR_WS_INVALID_ARGUMENT at once; nothing reaches the wire', async () => {
  // README, API: "Invalid arguments of a stream operation throw at once (… an options argument that is not an
  // object …)". `write(data, true)` sent text before, its options unread.
  const { ws, peer } = await openServer();
  const invalid = { code: 'ERR_WS_INVALID_ARGUMENT', message: /options must be an object/ };
  for (const bad of [true, 'binary', 5, null] as never[]) {
    const label = JSON.stringify(bad);
    assert.throws(() => ws.read(bad), invalid, `read(${label})`);
    assert.throws(() => ws.readSome(bad), invalid, `readSome(${label})`);
    assert.throws(() => ws.write(Buffer.from('x'), bad), invalid, `write(data, ${label})`);
    assert.throws(() => ws.writeSome('x', bad), invalid, `writeSome(data, ${label})`);
    assert.throws(() => ws.ping('p', bad), invalid, `ping(payload, ${label})`);
    assert.throws(() => ws.pong('p', bad), invalid, `pong(payload, ${label})`);
    assert.throws(() => ws.close(bad), invalid, `close(${label})`);
  }
  // The stream goes on: the next frame the peer gets is the one written now.
  await ws.write('after', { binary: false });
  const [first] = await peer.waitFrames(1);
  assert.equal(first!.opcode, 1);
  assert.equal(first!.payload.toString(), 'after');
});

it('doc/pubsub.md: subscribe and publish reject options that are not an object, and publish a `compress` that is not a boolean, with ERR_WS_INVALID_ARGUMENT; nothing is published', async (t) => {
  const { ws, peer } = await openServer();
  const pubsub = new PubSub();
  t.after(() => pubsub.close());
  const invalid = { code: 'ERR_WS_INVALID_ARGUMENT' };
  for (const bad of [true, 'binary', 5, null] as never[]) {
    await assert.rejects(pubsub.subscribe(ws, 'news', bad), invalid, `subscribe(ws, topic, ${JSON.stringify(bad)})`);
  }
  await pubsub.subscribe(ws, 'news');
  for (const bad of [true, 'binary', 5, null] as never[]) {
    await assert.rejects(pubsub.publish('news', 'x', bad), invalid, `publish(topic, data, ${JSON.stringify(bad)})`);
  }
  await assert.rejects(pubsub.publish('news', 'x', { compress: 'no' } as never), invalid, "compress: 'no'");
  // Nothing of those was published: the first message the subscriber gets is this one, at offset 1.
  assert.equal((await pubsub.publish('news', 'after', { compress: false })).offset, 1);
  const [first] = await peer.waitFrames(1);
  assert.equal(first!.payload.toString(), 'after');
});
